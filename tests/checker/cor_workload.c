/*
 * cor_workload.c — cor-workload: drives real Corundum objects from N
 * client threads and records every operation as a history for cor-check
 * (format and models in docs/checker.md).
 *
 *   cor-workload --oms HOST:PORT --model register|counter|set --clients N
 *                --duration-ms MS --out FILE [--seed S] [--keys K]
 *                [--name PREFIX] [--deadline-ms D] [--dm CHAIN]
 *                [--backoff-ms B] [--final-wait-ms F]
 *
 * Objects (created through the OMS by name, or looked up if the name is
 * taken, so several workloads can share them):
 *   register  kv store PREFIX-kv; keys k0..k(K-1) are registers: write =
 *             Put of a value unique to this run, read = Get (absent = 0).
 *   counter   echo object PREFIX-echo: add = Add(1..5) returning the new
 *             total, read = Add(0) (echo has no read method; adding 0
 *             changes nothing and returns the total).
 *   set       kv store PREFIX-set; sets s0..s(K-1): insert v = Put of key
 *             "s<k>/<v>", readall = Scan of prefix "s<k>/", paged.
 * --dm CHAIN creates the object with that DM chain instead of its class's
 * (e.g. "ConsensusRSM(replicas=3)"); an object found by name keeps its own.
 *
 * Each thread is a process in the history's sense: one operation at a
 * time, timed with CLOCK_MONOTONIC (µs) just before the call and just
 * after it returns. An outcome is ok on success, fail only for codes that
 * prove the request was refused before the method could run (EINVAL,
 * EUNIMPL, EREVISION), and unknown for everything else — a timeout or a
 * lost connection may hide an operation that took effect. After an
 * unknown outcome the thread continues under a fresh process id, as the
 * format requires; after any outcome but ok it first waits B ms (default
 * 0), so that an object that refuses at once does not turn the history
 * into millions of failures. When the duration is over, the main thread
 * reads every object once more (the final reads; each is tried again
 * every 100 ms, as a fresh process, until it succeeds or F ms have passed:
 * default 0, one try), then writes the history and prints
 * "workload: ops=N ok=N fail=N unknown=N", then for each error code that
 * came back "failed: N x CODE, the first: MESSAGE" (what made the fails
 * and unknowns: timeouts, no leader, ...).
 *
 * Exit: 0 when the workload ran (whatever the outcomes), 1 when it could
 * not start (no runtime, objects not created) or the file could not be
 * written, 2 on usage errors.
 */
#include <cor/cor.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "echo/echo.cor.h"
#include "echo_class.h"
#include "history.h"
#include "kv/kv.cor.h"
#include "kv_class.h"

typedef enum model { M_REGISTER, M_COUNTER, M_SET } model_t;

#define TALLY_CODES 32 /* codes -1 .. -31; anything else counts under 0 */

typedef struct rec {
    int64_t process;
    int key; /* index into the model's objects; -1 for the counter */
    cor_hop_kind_t kind;
    cor_hop_out_t out;
    int has_ret;
    int64_t arg, ret;
    int64_t *list; /* readall's values, malloc'd */
    size_t n_list;
    int64_t start, end;
} rec_t;

typedef struct workload {
    model_t model;
    int clients, keys, deadline_ms, backoff_ms;
    int64_t stop_at_us;
    int64_t salt; /* high bits of every written value: unique per run */
    atomic_llong next_process;
    atomic_llong next_value;
    cor_ref_t *ref; /* the object every client calls (each dups it) */
    /* Failed calls by code (index -code), and the first message of each. */
    pthread_mutex_t tally_lock;
    long long n_code[TALLY_CODES];
    char first_msg[TALLY_CODES][COR_ERROR_MSG_MAX];
} workload_t;

typedef struct client {
    workload_t *w;
    cor_ref_t *ref;
    unsigned seed;
    int64_t process;
    rec_t *recs;
    size_t n, cap;
    int oom;
} client_t;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Counts a failed call under its code, keeping the first message. */
static void tally(workload_t *w, int rc, const char *msg)
{
    int i = rc < 0 && rc > -TALLY_CODES ? -rc : 0;
    pthread_mutex_lock(&w->tally_lock);
    if (w->n_code[i]++ == 0)
        snprintf(w->first_msg[i], sizeof(w->first_msg[i]), "%s", msg);
    pthread_mutex_unlock(&w->tally_lock);
}

/* Refused before the method ran: the only outcomes that are "fail". */
static cor_hop_out_t outcome(int rc)
{
    if (rc == 0)
        return COR_HOUT_OK;
    if (rc == COR_EINVAL || rc == COR_EUNIMPL || rc == COR_EREVISION)
        return COR_HOUT_FAIL;
    return COR_HOUT_UNKNOWN;
}

static int64_t parse_value(const uint8_t *p, size_t n)
{
    char buf[32];
    if (n == 0 || n >= sizeof(buf))
        return -1; /* never written: the checker will flag it */
    memcpy(buf, p, n);
    buf[n] = '\0';
    char *end;
    long long v = strtoll(buf, &end, 10);
    return *end == '\0' ? (int64_t)v : -1;
}

static int kv_write(cor_ref_t *ref, const char *key, int64_t v, cor_error_t *err)
{
    char val[32];
    int n = snprintf(val, sizeof(val), "%lld", (long long)v);
    Kv__PutRequest req = KV__PUT_REQUEST__INIT;
    req.key = (char *)key;
    req.value.data = (uint8_t *)val;
    req.value.len = (size_t)n;
    Kv__PutReply *rep = NULL;
    int rc = kv_key_value_store_put(ref, &req, &rep, err);
    if (rep != NULL)
        kv__put_reply__free_unpacked(rep, NULL);
    return rc;
}

static int kv_read(cor_ref_t *ref, const char *key, int64_t *v, cor_error_t *err)
{
    Kv__GetRequest req = KV__GET_REQUEST__INIT;
    req.key = (char *)key;
    Kv__GetReply *rep = NULL;
    int rc = kv_key_value_store_get(ref, &req, &rep, err);
    if (rc == 0)
        *v = rep->found ? parse_value(rep->value.data, rep->value.len) : 0;
    if (rep != NULL)
        kv__get_reply__free_unpacked(rep, NULL);
    return rc;
}

/* Every value under prefix, page by page. On success *list is malloc'd
 * (NULL when empty) and the caller's. */
static int kv_readall(cor_ref_t *ref, const char *prefix, int64_t **list, size_t *n,
                      cor_error_t *err)
{
    char *after = NULL;
    int64_t *v = NULL;
    size_t len = 0, cap = 0;
    int rc;
    for (;;) {
        Kv__ScanRequest req = KV__SCAN_REQUEST__INIT;
        req.prefix = (char *)prefix;
        req.start_after = after != NULL ? after : (char *)"";
        req.limit = KV_MAX_SCAN_LIMIT;
        Kv__ScanReply *rep = NULL;
        if ((rc = kv_key_value_store_scan(ref, &req, &rep, err)) != 0)
            break;
        for (size_t i = 0; i < rep->n_entries && rc == 0; i++) {
            if (len == cap) {
                size_t nc = cap ? 2 * cap : 64;
                int64_t *nv = realloc(v, nc * sizeof(*nv));
                if (nv == NULL) {
                    rc = COR_ENOMEM;
                    break;
                }
                v = nv;
                cap = nc;
            }
            const char *k = rep->entries[i]->key + strlen(prefix);
            v[len++] = parse_value((const uint8_t *)k, strlen(k));
        }
        int more = rc == 0 && rep->more && rep->n_entries > 0;
        if (more) {
            free(after);
            after = strdup(rep->entries[rep->n_entries - 1]->key);
            if (after == NULL)
                rc = COR_ENOMEM;
        }
        kv__scan_reply__free_unpacked(rep, NULL);
        if (rc != 0 || !more)
            break;
    }
    free(after);
    if (rc != 0) {
        free(v);
        return rc;
    }
    *list = v;
    *n = len;
    return 0;
}

static int echo_add(cor_ref_t *ref, int64_t delta, int64_t *total, cor_error_t *err)
{
    Echo__AddRequest req = ECHO__ADD_REQUEST__INIT;
    req.delta = delta;
    Echo__AddReply *rep = NULL;
    int rc = echo_echo_add(ref, &req, &rep, err);
    if (rc == 0)
        *total = rep->total;
    if (rep != NULL)
        echo__add_reply__free_unpacked(rep, NULL);
    return rc;
}

/* Runs one operation of `kind` on key (a read-type op when kind is READ
 * or READALL) and records it under the client's process. */
static void run_op(client_t *c, cor_hop_kind_t kind, int key)
{
    workload_t *w = c->w;
    rec_t r = {.process = c->process, .key = key, .kind = kind};
    char name[64];
    if (w->model == M_REGISTER)
        snprintf(name, sizeof(name), "k%d", key);
    else if (w->model == M_SET)
        snprintf(name, sizeof(name), "s%d/", key);
    if (kind == COR_HOP_WRITE || kind == COR_HOP_INSERT)
        r.arg = w->salt + atomic_fetch_add(&w->next_value, 1);
    else if (kind == COR_HOP_ADD)
        r.arg = 1 + (int64_t)(rand_r(&c->seed) % 5);
    char setkey[96];
    if (kind == COR_HOP_INSERT)
        snprintf(setkey, sizeof(setkey), "%s%lld", name, (long long)r.arg);

    int rc;
    cor_error_t err;
    cor_error_clear(&err);
    r.start = now_us();
    switch (kind) {
    case COR_HOP_WRITE:
        rc = kv_write(c->ref, name, r.arg, &err);
        break;
    case COR_HOP_INSERT:
        rc = kv_write(c->ref, setkey, 1, &err);
        break;
    case COR_HOP_READALL:
        rc = kv_readall(c->ref, name, &r.list, &r.n_list, &err);
        break;
    case COR_HOP_ADD:
        rc = echo_add(c->ref, r.arg, &r.ret, &err);
        break;
    default: /* READ */
        rc = w->model == M_COUNTER ? echo_add(c->ref, 0, &r.ret, &err)
                                   : kv_read(c->ref, name, &r.ret, &err);
        break;
    }
    r.end = now_us();
    r.out = outcome(rc);
    if (rc != 0)
        tally(w, rc, err.msg);
    r.has_ret = r.out == COR_HOUT_OK && kind != COR_HOP_WRITE && kind != COR_HOP_INSERT;
    if (r.out == COR_HOUT_UNKNOWN)
        c->process = atomic_fetch_add(&w->next_process, 1);

    if (c->n == c->cap) {
        size_t nc = c->cap ? 2 * c->cap : 1024;
        rec_t *nr = realloc(c->recs, nc * sizeof(*nr));
        if (nr == NULL) {
            free(r.list);
            c->oom = 1;
            return;
        }
        c->recs = nr;
        c->cap = nc;
    }
    c->recs[c->n++] = r;
}

static void *client_main(void *arg)
{
    client_t *c = arg;
    workload_t *w = c->w;
    while (!c->oom && now_us() < w->stop_at_us) {
        if (c->n > 0 && c->recs[c->n - 1].out != COR_HOUT_OK && w->backoff_ms > 0)
            usleep((useconds_t)w->backoff_ms * 1000);
        int key = w->model == M_COUNTER ? -1 : (int)(rand_r(&c->seed) % (unsigned)w->keys);
        unsigned dice = rand_r(&c->seed) % 100;
        cor_hop_kind_t kind;
        if (w->model == M_REGISTER)
            kind = dice < 50 ? COR_HOP_WRITE : COR_HOP_READ;
        else if (w->model == M_COUNTER)
            kind = dice < 80 ? COR_HOP_ADD : COR_HOP_READ;
        else
            /* A readall returns the whole set: rare, or histories grow
             * quadratically. */
            kind = dice < 95 ? COR_HOP_INSERT : COR_HOP_READALL;
        run_op(c, kind, key);
    }
    return NULL;
}

/* A final read: tried until it succeeds or until_us has passed (each try
 * is recorded; a try that is not ok leaves the process for a fresh one). */
static void final_read(client_t *fin, cor_hop_kind_t kind, int key, int64_t until_us)
{
    for (;;) {
        run_op(fin, kind, key);
        if (fin->oom || fin->recs[fin->n - 1].out == COR_HOUT_OK || now_us() >= until_us)
            return;
        usleep(100 * 1000);
    }
}

static void write_rec(FILE *f, const rec_t *r, const char *prefix)
{
    char obj[64];
    if (r->key < 0)
        snprintf(obj, sizeof(obj), "%s-echo", prefix);
    else
        snprintf(obj, sizeof(obj), "%c%d", r->kind == COR_HOP_INSERT || r->kind == COR_HOP_READALL
                                               ? 's'
                                               : 'k',
                 r->key);
    fprintf(f, "p=%lld obj=%s op=%s", (long long)r->process, obj, cor_hop_kind_name(r->kind));
    if (r->kind == COR_HOP_WRITE || r->kind == COR_HOP_ADD || r->kind == COR_HOP_INSERT)
        fprintf(f, " arg=%lld", (long long)r->arg);
    if (r->has_ret && r->kind == COR_HOP_READALL) {
        fputs(" ret=", f);
        for (size_t i = 0; i < r->n_list; i++)
            fprintf(f, "%s%lld", i ? "," : "", (long long)r->list[i]);
    } else if (r->has_ret) {
        fprintf(f, " ret=%lld", (long long)r->ret);
    }
    fprintf(f, " start=%lld", (long long)r->start);
    if (r->out != COR_HOUT_UNKNOWN)
        fprintf(f, " end=%lld", (long long)r->end);
    fprintf(f, " out=%s\n", cor_hop_out_name(r->out));
}

static void usage(FILE *f)
{
    fprintf(f, "usage: cor-workload --oms HOST:PORT --model register|counter|set --clients N\n"
               "                    --duration-ms MS --out FILE [--seed S] [--keys K]\n"
               "                    [--name PREFIX] [--deadline-ms D] [--dm CHAIN]\n"
               "                    [--backoff-ms B] [--final-wait-ms F]\n");
}

static int parse_int(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (s[0] == '\0' || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Creates the object named name of class cls, or looks it up when the
 * name is taken. A fault schedule may have just killed the kernel the OMS
 * picks, so a creation that fails for want of a live kernel is tried again
 * for up to 20 s (an ambiguous one that did create the object then finds
 * the name taken, and looks it up). *ref is the caller's on success. */
static int open_object(cor_runtime_t *rt, const char *cls, const char *name, const char *chain,
                       cor_ref_t **ref, cor_error_t *err)
{
    cor_create_opts_t co = {.name = name, .dm_chain = chain};
    int rc = COR_EUNAVAIL;
    for (int attempt = 0; attempt < 40; attempt++) {
        if (attempt > 0)
            usleep(500 * 1000);
        rc = cor_object_create(rt, cls, NULL, 0, &co, ref, err);
        if (rc == COR_EEXIST)
            rc = cor_object_lookup_name(rt, name, ref, err);
        if (rc != COR_EUNAVAIL && rc != COR_ETIMEDOUT)
            break;
    }
    return rc;
}

int main(int argc, char **argv)
{
    const char *oms = NULL, *model_name = NULL, *out_path = NULL, *prefix = "cor-workload";
    const char *chain = NULL;
    long long clients = 0, duration = -1, seed = -1, keys = 4, deadline = 2000;
    long long backoff = 0, final_wait = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "cor-workload: %s needs a value\n", argv[i]);
            usage(stderr);
            return 2;
        }
        const char *o = argv[i], *v = argv[++i];
        int bad = 0;
        if (strcmp(o, "--oms") == 0)
            oms = v;
        else if (strcmp(o, "--model") == 0)
            model_name = v;
        else if (strcmp(o, "--out") == 0)
            out_path = v;
        else if (strcmp(o, "--name") == 0)
            prefix = v;
        else if (strcmp(o, "--dm") == 0)
            chain = v;
        else if (strcmp(o, "--clients") == 0)
            bad = parse_int(v, 1, 1024, &clients);
        else if (strcmp(o, "--duration-ms") == 0)
            bad = parse_int(v, 0, 24LL * 3600 * 1000, &duration);
        else if (strcmp(o, "--seed") == 0)
            bad = parse_int(v, 0, 0xffffffffLL, &seed);
        else if (strcmp(o, "--keys") == 0)
            bad = parse_int(v, 1, 100000, &keys);
        else if (strcmp(o, "--deadline-ms") == 0)
            bad = parse_int(v, 1, 3600000, &deadline);
        else if (strcmp(o, "--backoff-ms") == 0)
            bad = parse_int(v, 0, 60000, &backoff);
        else if (strcmp(o, "--final-wait-ms") == 0)
            bad = parse_int(v, 0, 3600000, &final_wait);
        else {
            fprintf(stderr, "cor-workload: unknown option %s\n", o);
            usage(stderr);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "cor-workload: bad value '%s' for %s\n", v, o);
            return 2;
        }
    }
    model_t model;
    if (model_name != NULL && strcmp(model_name, "register") == 0)
        model = M_REGISTER;
    else if (model_name != NULL && strcmp(model_name, "counter") == 0)
        model = M_COUNTER;
    else if (model_name != NULL && strcmp(model_name, "set") == 0)
        model = M_SET;
    else {
        fprintf(stderr, "cor-workload: --model must be register, counter or set\n");
        usage(stderr);
        return 2;
    }
    if (oms == NULL || out_path == NULL || clients == 0 || duration < 0) {
        fprintf(stderr, "cor-workload: --oms, --clients, --duration-ms and --out are required\n");
        usage(stderr);
        return 2;
    }
    if (strlen(prefix) == 0 || strlen(prefix) > 40 || strpbrk(prefix, " \t\n=") != NULL) {
        fprintf(stderr, "cor-workload: --name must be 1..40 characters without spaces or '='\n");
        return 2;
    }
    if (seed < 0)
        seed = (long long)(((unsigned)time(NULL) * 2654435761u) ^ (unsigned)getpid());

    int rv = 1;
    cor_error_t err;
    cor_error_clear(&err);
    cor_runtime_t *rt = NULL;
    client_t *cs = calloc((size_t)clients + 1, sizeof(*cs));
    pthread_t *th = calloc((size_t)clients, sizeof(*th));
    workload_t w = {.model = model, .clients = (int)clients, .keys = (int)keys,
                    .deadline_ms = (int)deadline, .backoff_ms = (int)backoff};
    /* Values written are salt + a counter: distinct from other runs with
     * other seeds sharing the objects, and never 0 (the initial value). */
    w.salt = ((int64_t)((unsigned long long)seed % 1000000) + 1) * 1000000000LL;
    pthread_mutex_init(&w.tally_lock, NULL);
    atomic_init(&w.next_process, clients + 1);
    atomic_init(&w.next_value, 1);
    if (cs == NULL || th == NULL) {
        fprintf(stderr, "cor-workload: out of memory\n");
        goto out;
    }
    cor_runtime_opts_t ro = {.version = COR_RUNTIME_OPTS_VERSION, .oms_address = oms};
    if (cor_runtime_new(&ro, &rt, &err) != 0) {
        fprintf(stderr, "cor-workload: runtime: %s\n", err.msg);
        goto out;
    }
    char objname[64];
    const char *cls = model == M_COUNTER ? echo_class.name : kv_class.name;
    snprintf(objname, sizeof(objname), "%s-%s", prefix,
             model == M_REGISTER ? "kv" : model == M_COUNTER ? "echo" : "set");
    if (open_object(rt, cls, objname, chain, &w.ref, &err) != 0) {
        fprintf(stderr, "cor-workload: cannot create or find %s: %s\n", objname, err.msg);
        goto out;
    }

    w.stop_at_us = now_us() + duration * 1000;
    int started = 0;
    for (int i = 0; i <= clients; i++) {
        cs[i] = (client_t){.w = &w, .seed = (unsigned)seed + 7919u * (unsigned)i, .process = i};
        cs[i].ref = cor_ref_dup(w.ref);
        if (cs[i].ref == NULL) {
            fprintf(stderr, "cor-workload: out of memory\n");
            break;
        }
        cor_ref_set_deadline(cs[i].ref, (int)deadline);
    }
    for (int i = 0; i < clients && cs[clients].ref != NULL; i++) {
        if (pthread_create(&th[i], NULL, client_main, &cs[i]) != 0) {
            fprintf(stderr, "cor-workload: cannot start client thread %d\n", i);
            w.stop_at_us = 0;
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    if (started < clients)
        goto out;

    /* The final reads, as one more process that starts after every client
     * has finished, with a reference fresh from the OMS (where the
     * directory says the object is now, not where a client last found it). */
    client_t *fin = &cs[clients];
    fin->process = atomic_fetch_add(&w.next_process, 1);
    int64_t final_until = now_us() + final_wait * 1000;
    cor_ref_t *fresh = NULL;
    cor_error_t ferr;
    int lrc;
    while ((lrc = cor_object_lookup_name(rt, objname, &fresh, &ferr)) != 0 &&
           now_us() < final_until)
        usleep(100 * 1000);
    if (lrc == 0) {
        cor_ref_set_deadline(fresh, (int)deadline);
        cor_ref_free(fin->ref);
        fin->ref = fresh;
    } else {
        fprintf(stderr, "cor-workload: final lookup of %s: %s (reading through the old reference)\n",
                objname, ferr.msg);
    }
    if (model == M_COUNTER)
        final_read(fin, COR_HOP_READ, -1, final_until);
    for (int k = 0; model != M_COUNTER && k < keys; k++)
        final_read(fin, model == M_REGISTER ? COR_HOP_READ : COR_HOP_READALL, k, final_until);

    FILE *f = fopen(out_path, "w");
    if (f == NULL) {
        fprintf(stderr, "cor-workload: cannot write %s\n", out_path);
        goto out;
    }
    fprintf(f,
            "# cor-workload model=%s object=%s clients=%lld duration-ms=%lld seed=%lld "
            "keys=%lld deadline-ms=%lld dm=%s\n",
            model_name, objname, clients, duration, seed, keys, deadline,
            chain != NULL ? chain : "class");
    long long n = 0, by_out[3] = {0};
    int oom = 0;
    for (int i = 0; i <= clients; i++) {
        if (i == clients)
            fprintf(f, "# final reads\n");
        oom |= cs[i].oom;
        for (size_t j = 0; j < cs[i].n; j++) {
            write_rec(f, &cs[i].recs[j], prefix);
            n++;
            by_out[cs[i].recs[j].out]++;
        }
    }
    if (fclose(f) != 0 || oom) {
        fprintf(stderr, "cor-workload: %s\n", oom ? "out of memory recording the history"
                                                  : "error writing the history");
        goto out;
    }
    printf("workload: ops=%lld ok=%lld fail=%lld unknown=%lld\n", n, by_out[COR_HOUT_OK],
           by_out[COR_HOUT_FAIL], by_out[COR_HOUT_UNKNOWN]);
    for (int i = 0; i < TALLY_CODES; i++)
        if (w.n_code[i] > 0)
            printf("failed: %lld x %s, the first: %s\n", w.n_code[i],
                   i > 0 ? cor_error_name(-i) : "another code", w.first_msg[i]);
    rv = 0;
out:
    for (int i = 0; cs != NULL && i <= clients; i++) {
        for (size_t j = 0; j < cs[i].n; j++)
            free(cs[i].recs[j].list);
        free(cs[i].recs);
        cor_ref_free(cs[i].ref);
    }
    free(cs);
    free(th);
    cor_ref_free(w.ref);
    cor_runtime_free(rt);
    pthread_mutex_destroy(&w.tally_lock);
    return rv;
}
