/*
 * store_etcd.c — the OMS's store on etcd (issue 13's first step): the
 * store vtable of store.h over the etcd client of etcd/etcd.h, so that the
 * directory lives in an etcd cluster instead of one machine's disk.
 *
 * Layout: the store's key K is etcd's key <prefix>K (prefix "/corundum/"
 * unless --etcd-prefix says otherwise; docs/operations.md lists the keys).
 * Values are the same protobuf bytes the embedded store keeps.
 *
 * Compare-and-swap. The store remembers, for every key it has seen, the
 * mod_revision etcd last reported for it (revs: from a keys-only read of
 * the whole prefix at open, from get and scan results, and from its own
 * writes: a txn's header revision is the mod_revision of every key it
 * wrote); a key that is not in revs is taken to be absent.
 * apply sends ONE txn whose compares say "each key the batch touches is
 * still at the revision I remember" (mod_revision == r) or "is still
 * absent" (create_revision == 0); its success branch is the batch, its
 * failure branch reads every key of the batch. So when another process —
 * a second OMS on the same prefix — changed a key since this store read or
 * wrote it, nothing is applied, apply fails with COR_ESTATE naming the key,
 * and revs is refreshed from the failure branch's reads (the next apply is
 * guarded by what etcd holds now, so the store does not stay stuck). The
 * OMS's handlers undo their in-memory change when apply fails.
 *
 * A write whose connection broke after it was sent fails in the client
 * with COR_EUNAVAIL ("may have been applied"). Because the txn was guarded,
 * reading the keys back settles it: if every put key holds exactly the
 * bytes written and every deleted key is absent, the batch counts as
 * applied (it is possible, and harmless, that someone else wrote the same
 * bytes); otherwise apply fails with COR_EUNAVAIL. If the read-back fails
 * too, apply fails and revs is left as it was; a later apply may then be
 * refused once (COR_ESTATE) and refreshes revs.
 *
 * Threads. The client is asynchronous and lives on a libevent loop; the
 * store vtable is synchronous and called from OMS handler threads. The
 * store owns a thread running its own event_base (made thread-aware with
 * evthread_use_pthreads, once per process). A call fills in a request,
 * queues it under qlock, activates post_ev (thread-safe in a thread-aware
 * base) and waits on qcond; post_cb, on the loop thread, starts the
 * queued requests on the client, and their completion callbacks (also on
 * the loop thread) store the answer and broadcast qcond. The client is
 * never touched from another thread while the loop runs. One store
 * operation runs at a time (op_lock, held across its round trips), so revs
 * always describes etcd at some point after the last write of this store;
 * an OMS's writes are already serialized by its directory lock, and etcd
 * answers a txn in well under a millisecond on a LAN.
 *
 * Close posts a stop to the loop thread, which breaks its loop; the
 * closing thread joins it and then frees the client and the base.
 */
#include "store.h"

#include <etcd.h>

#include <cor/log.h>
#include <cor/strmap.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_PREFIX "/corundum/"
/* etcd's default --max-txn-ops: a txn may have at most this many compares
 * and ops per branch. */
#define MAX_BATCH_KEYS 128
/* Keys per page of a scan. */
#define SCAN_PAGE 1000
/* Whole-scan attempts: a later page read at the first page's revision
 * fails when etcd compacted that revision meanwhile; the scan restarts. */
#define SCAN_TRIES 3

typedef struct es es_t;

typedef struct req {
    struct req *next;
    es_t *s;
    const cor_etcd_op_t *op;   /* a range, or ... */
    const cor_etcd_txn_t *txn; /* ... a txn */
    int done;
    int rc;
    cor_etcd_reply_t *reply; /* the waiting caller's when done and rc == 0 */
    cor_error_t err;
} req_t;

struct es {
    char *prefix;
    size_t plen;
    char *endpoints;
    struct event_base *base;
    struct event *post_ev;
    cor_etcd_t *client;
    pthread_t thread;
    int thread_started;

    pthread_mutex_t qlock; /* the queue, stopping, and every req's answer */
    pthread_cond_t qcond;
    req_t *head, *tail;
    int stopping;

    pthread_mutex_t op_lock; /* one store operation at a time; guards revs */
    cor_strmap_t revs;       /* key without prefix -> int64_t* mod_revision */
};

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
static void evthread_setup(void)
{
    evthread_use_pthreads();
}

/* ---- The bridge to the loop thread ---- */

static void req_done_cb(void *arg, int rc, cor_etcd_reply_t *reply, const cor_error_t *err)
{
    req_t *r = arg;
    es_t *s = r->s;
    pthread_mutex_lock(&s->qlock);
    r->rc = rc;
    r->reply = reply;
    if (rc != 0)
        r->err = *err;
    r->done = 1;
    pthread_cond_broadcast(&s->qcond);
    pthread_mutex_unlock(&s->qlock);
}

/* On the loop thread: starts every queued request, or breaks the loop. */
static void post_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    es_t *s = arg;
    pthread_mutex_lock(&s->qlock);
    req_t *list = s->head;
    s->head = s->tail = NULL;
    int stopping = s->stopping;
    pthread_mutex_unlock(&s->qlock);
    while (list != NULL) {
        req_t *r = list;
        list = r->next;
        cor_error_t err;
        cor_error_clear(&err);
        int rc = r->txn != NULL ? cor_etcd_txn(s->client, r->txn, req_done_cb, r, &err)
                                : cor_etcd_kv(s->client, r->op, req_done_cb, r, &err);
        if (rc != 0)
            req_done_cb(r, rc, NULL, &err);
    }
    if (stopping)
        event_base_loopbreak(s->base);
}

static void *loop_main(void *arg)
{
    es_t *s = arg;
    event_base_loop(s->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

/* Any thread but the loop's: runs one request on the loop thread and waits
 * for its answer. On 0, *reply is the caller's (cor_etcd_reply_free). */
static int roundtrip(es_t *s, const cor_etcd_op_t *op, const cor_etcd_txn_t *txn,
                     cor_etcd_reply_t **reply, cor_error_t *err)
{
    req_t r = {.s = s, .op = op, .txn = txn};
    pthread_mutex_lock(&s->qlock);
    if (s->tail != NULL)
        s->tail->next = &r;
    else
        s->head = &r;
    s->tail = &r;
    event_active(s->post_ev, EV_READ, 0);
    while (!r.done)
        pthread_cond_wait(&s->qcond, &s->qlock);
    pthread_mutex_unlock(&s->qlock);
    *reply = r.reply;
    if (r.rc != 0)
        *err = r.err;
    return r.rc;
}

/* ---- Keys and remembered revisions ---- */

/* <prefix><key>, malloc'd; NULL when out of memory. */
static char *full_key(const es_t *s, const char *key)
{
    size_t kl = strlen(key);
    char *k = malloc(s->plen + kl + 1);
    if (k != NULL) {
        memcpy(k, s->prefix, s->plen);
        memcpy(k + s->plen, key, kl + 1);
    }
    return k;
}

/* The remembered mod_revision of key, 0 when it is taken to be absent. */
static int64_t rev_of(const es_t *s, const char *key)
{
    const int64_t *r = cor_strmap_get(&s->revs, key);
    return r != NULL ? *r : 0;
}

/* Remembers that key is at mod_revision rev (0: absent). Out of memory
 * forgets the key, which at worst makes the next write of it refused once
 * (create_revision 0 does not hold) and then re-read. */
static void remember(es_t *s, const char *key, int64_t rev)
{
    if (rev == 0) {
        free(cor_strmap_del(&s->revs, key));
        return;
    }
    int64_t *r = cor_strmap_get(&s->revs, key);
    if (r != NULL) {
        *r = rev;
        return;
    }
    r = malloc(sizeof(*r));
    if (r == NULL)
        return;
    *r = rev;
    if (cor_strmap_put(&s->revs, key, r, NULL) != 0)
        free(r);
}

/* Remembers what a single-key range found for key. */
static void remember_range(es_t *s, const char *key, const cor_etcd_reply_t *range)
{
    remember(s, key, range != NULL && range->n_kvs > 0 ? range->kvs[0].mod_revision : 0);
}

/* ---- apply ---- */

/* Reads every key of the batch in one txn of ranges (a read: the client
 * retries it on other endpoints). On 0, *reply is the caller's and has one
 * range response per key. */
static int read_keys(es_t *s, cor_etcd_op_t *reads, size_t m, cor_etcd_reply_t **reply,
                     cor_error_t *err)
{
    cor_etcd_txn_t t = {.success = reads, .n_success = m};
    int rc = roundtrip(s, NULL, &t, reply, err);
    if (rc == 0 && (*reply)->n_responses != m) {
        size_t got = (*reply)->n_responses;
        cor_etcd_reply_free(*reply);
        *reply = NULL;
        return cor_error_set(err, COR_EPROTO, "etcd answered %zu reads for %zu keys", got, m);
    }
    return rc;
}

static int es_apply(void *impl, const cor_store_op_t *ops, size_t n, cor_error_t *err)
{
    es_t *s = impl;
    for (size_t i = 0; i < n; i++) {
        if (ops[i].key == NULL || ops[i].key[0] == '\0')
            return cor_error_set(err, COR_EINVAL, "store op %zu has an empty key", i);
        if (ops[i].kind != COR_STORE_PUT && ops[i].kind != COR_STORE_DEL)
            return cor_error_set(err, COR_EINVAL, "store op %zu has kind %d, neither put nor "
                                 "delete", i, (int)ops[i].kind);
    }
    if (n == 0)
        return 0;
    /* etcd refuses a txn that writes one key twice; the last op on a key is
     * what the batch leaves there, so only that one is sent. */
    size_t *keep = malloc(n * sizeof(*keep));
    char **keys = calloc(n, sizeof(*keys));
    cor_etcd_cmp_t *cmp = calloc(n, sizeof(*cmp));
    cor_etcd_op_t *writes = calloc(n, sizeof(*writes));
    cor_etcd_op_t *reads = calloc(n, sizeof(*reads));
    int64_t *expect = calloc(n, sizeof(*expect));
    cor_etcd_reply_t *reply = NULL, *back = NULL;
    size_t m = 0;
    int rc = 0;
    if (keep == NULL || keys == NULL || cmp == NULL || writes == NULL || reads == NULL ||
        expect == NULL) {
        rc = cor_error_set(err, COR_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        size_t j;
        for (j = i + 1; j < n; j++)
            if (strcmp(ops[i].key, ops[j].key) == 0)
                break;
        if (j == n)
            keep[m++] = i;
    }
    if (m > MAX_BATCH_KEYS) {
        rc = cor_error_set(err, COR_ETOOBIG, "a store batch of %zu keys is over etcd's %d "
                           "operations per txn", m, MAX_BATCH_KEYS);
        goto out;
    }
    for (size_t j = 0; j < m; j++) {
        const cor_store_op_t *o = &ops[keep[j]];
        if ((keys[j] = full_key(s, o->key)) == NULL) {
            rc = cor_error_set(err, COR_ENOMEM, "out of memory");
            goto out;
        }
        size_t kl = strlen(keys[j]);
        writes[j] = (cor_etcd_op_t){.kind = o->kind == COR_STORE_PUT ? COR_ETCD_PUT
                                                                     : COR_ETCD_DELETE,
                                    .key = keys[j], .key_len = kl, .value = o->value,
                                    .value_len = o->kind == COR_STORE_PUT ? o->len : 0};
        reads[j] = (cor_etcd_op_t){.kind = COR_ETCD_RANGE, .key = keys[j], .key_len = kl};
    }

    pthread_mutex_lock(&s->op_lock);
    for (size_t j = 0; j < m; j++) {
        expect[j] = rev_of(s, ops[keep[j]].key);
        cmp[j] = (cor_etcd_cmp_t){.target = expect[j] ? COR_ETCD_CMP_MOD : COR_ETCD_CMP_CREATE,
                                  .result = COR_ETCD_EQUAL, .key = keys[j],
                                  .key_len = strlen(keys[j]), .number = expect[j]};
    }
    cor_etcd_txn_t t = {.cmp = cmp, .n_cmp = m, .success = writes, .n_success = m,
                        .failure = reads, .n_failure = m};
    rc = roundtrip(s, NULL, &t, &reply, err);
    if (rc == 0 && reply->succeeded) {
        for (size_t j = 0; j < m; j++)
            remember(s, ops[keep[j]].key, writes[j].kind == COR_ETCD_PUT ? reply->revision : 0);
    } else if (rc == 0) {
        /* Refused: someone else changed a key. The failure branch read them
         * all at the txn's revision; remember that and name the first key
         * that is not what this store expected. */
        size_t bad = 0;
        int64_t now = 0;
        for (size_t j = 0; j < m; j++) {
            const cor_etcd_reply_t *r = j < reply->n_responses ? &reply->responses[j] : NULL;
            int64_t got = r != NULL && r->n_kvs > 0 ? r->kvs[0].mod_revision : 0;
            if (got != expect[j] && bad == 0) {
                bad = j + 1;
                now = got;
            }
            remember_range(s, ops[keep[j]].key, r);
        }
        const char *k = ops[keep[bad ? bad - 1 : 0]].key;
        int64_t was = expect[bad ? bad - 1 : 0];
        char wbuf[40], nbuf[40];
        snprintf(wbuf, sizeof(wbuf), was ? "at revision %" PRId64 : "absent", was);
        snprintf(nbuf, sizeof(nbuf), now ? "at revision %" PRId64 : "absent", now);
        rc = cor_error_set(err, COR_ESTATE,
                           "the directory in etcd was changed by someone else (another OMS on "
                           "prefix %s?): key %s was %s when this OMS last saw it and is %s now; "
                           "nothing of this change was written",
                           s->prefix, k, wbuf, nbuf);
    } else if (rc == COR_EUNAVAIL || rc == COR_ETIMEDOUT) {
        /* The txn may have been applied. Read the keys back and see. */
        cor_error_t rerr;
        cor_error_clear(&rerr);
        if (read_keys(s, reads, m, &back, &rerr) == 0) {
            size_t differs = 0;
            for (size_t j = 0; j < m; j++) {
                const cor_etcd_reply_t *r = &back->responses[j];
                const cor_store_op_t *o = &ops[keep[j]];
                int same = o->kind == COR_STORE_DEL
                               ? r->n_kvs == 0
                               : r->n_kvs > 0 && r->kvs[0].value_len == o->len &&
                                     (o->len == 0 || memcmp(r->kvs[0].value, o->value, o->len) == 0);
                if (!same && differs == 0)
                    differs = j + 1;
                remember_range(s, o->key, r);
            }
            if (differs == 0) {
                cor_log_info("etcd store: a write whose connection broke was applied (the keys "
                             "hold what it wrote): %s", err->msg);
                rc = 0;
            } else {
                cor_error_prefix(err, "etcd store: the write was not applied (key %s does not "
                                 "hold what it wrote)", ops[keep[differs - 1]].key);
            }
        } else {
            cor_error_prefix(err, "etcd store: the write may or may not have been applied "
                             "(reading it back failed too: %s)", rerr.msg);
        }
    } else {
        cor_error_prefix(err, "etcd store: writing %zu keys", m);
    }
    pthread_mutex_unlock(&s->op_lock);
out:
    cor_etcd_reply_free(reply);
    cor_etcd_reply_free(back);
    if (keys != NULL)
        for (size_t j = 0; j < m; j++)
            free(keys[j]);
    free(keys);
    free(keep);
    free(cmp);
    free(writes);
    free(reads);
    free(expect);
    return rc;
}

/* ---- get and scan ---- */

static int es_get(void *impl, const char *key, uint8_t **value, size_t *len, cor_error_t *err)
{
    es_t *s = impl;
    if (key == NULL || key[0] == '\0')
        return cor_error_set(err, COR_EINVAL, "store get of an empty key");
    char *k = full_key(s, key);
    if (k == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    cor_etcd_op_t op = {.kind = COR_ETCD_RANGE, .key = k, .key_len = strlen(k)};
    cor_etcd_reply_t *r = NULL;
    pthread_mutex_lock(&s->op_lock);
    int rc = roundtrip(s, &op, NULL, &r, err);
    if (rc == 0)
        remember_range(s, key, r);
    pthread_mutex_unlock(&s->op_lock);
    if (rc != 0) {
        cor_error_prefix(err, "etcd store: reading %s", key);
    } else if (r->n_kvs == 0) {
        rc = cor_error_set(err, COR_ENOTFOUND, "no key %s (etcd key %s)", key, k);
    } else {
        size_t vl = r->kvs[0].value_len;
        *value = malloc(vl ? vl : 1);
        if (*value == NULL) {
            rc = cor_error_set(err, COR_ENOMEM, "out of memory");
        } else {
            memcpy(*value, r->kvs[0].value, vl);
            *len = vl;
        }
    }
    cor_etcd_reply_free(r);
    free(k);
    return rc;
}

/* The end of the prefix range starting at p: p with its last byte that is
 * not 0xff raised by one and what follows dropped (etcd's rule). *len 0:
 * no end (every key). */
static void prefix_end(char *p, size_t *len)
{
    while (*len > 0 && (unsigned char)p[*len - 1] == 0xff)
        (*len)--;
    if (*len > 0)
        p[*len - 1] = (char)((unsigned char)p[*len - 1] + 1);
}

typedef struct pages {
    cor_etcd_reply_t **v;
    size_t n, cap;
} pages_t;

static void pages_free(pages_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        cor_etcd_reply_free(p->v[i]);
    free(p->v);
    *p = (pages_t){0};
}

/* Reads every key under start (a full etcd key prefix) into pages, all at
 * the revision of the first page (keys_only: without values). Called with
 * op_lock held. */
static int scan_pages(es_t *s, const char *start, int keys_only, pages_t *pg, cor_error_t *err)
{
    size_t sl = strlen(start), el = sl;
    char *end = malloc(sl + 1), *from = malloc(sl + 1);
    size_t fl = sl;
    int rc = 0;
    int64_t at = 0;
    if (end == NULL || from == NULL) {
        rc = cor_error_set(err, COR_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(end, start, sl + 1);
    memcpy(from, start, sl + 1);
    prefix_end(end, &el); /* el > 0: the store prefix ends in '/' */
    for (;;) {
        cor_etcd_op_t op = {.kind = COR_ETCD_RANGE, .key = from, .key_len = fl,
                            .range_end = end, .range_end_len = el, .limit = SCAN_PAGE,
                            .revision = at, .keys_only = keys_only};
        cor_etcd_reply_t *r = NULL;
        if ((rc = roundtrip(s, &op, NULL, &r, err)) != 0)
            goto out;
        if (pg->n == pg->cap) {
            size_t cap = pg->cap ? 2 * pg->cap : 4;
            cor_etcd_reply_t **v = realloc(pg->v, cap * sizeof(*v));
            if (v == NULL) {
                cor_etcd_reply_free(r);
                rc = cor_error_set(err, COR_ENOMEM, "out of memory");
                goto out;
            }
            pg->v = v;
            pg->cap = cap;
        }
        pg->v[pg->n++] = r;
        if (at == 0)
            at = r->revision;
        if (!r->more || r->n_kvs == 0)
            break;
        /* The next page starts just after the last key: that key + "\0". */
        const cor_etcd_kv_t *last = &r->kvs[r->n_kvs - 1];
        char *f = realloc(from, last->key_len + 1);
        if (f == NULL) {
            rc = cor_error_set(err, COR_ENOMEM, "out of memory");
            goto out;
        }
        from = f;
        memcpy(from, last->key, last->key_len);
        from[last->key_len] = '\0';
        fl = last->key_len + 1;
    }
out:
    free(end);
    free(from);
    return rc;
}

/* scan_pages, retried when a later page fails (its revision compacted),
 * then every key's revision remembered. Called with op_lock held; on 0 the
 * pages are the caller's (pages_free). */
static int scan_remember(es_t *s, const char *start, int keys_only, pages_t *pg,
                         cor_error_t *err)
{
    int rc = 0;
    for (int tries = 0; tries < SCAN_TRIES; tries++) {
        pages_free(pg);
        rc = scan_pages(s, start, keys_only, pg, err);
        if (rc == 0 || pg->n == 0)
            break; /* done, or the first page failed: nothing to retry */
    }
    if (rc != 0) {
        pages_free(pg);
        return rc;
    }
    for (size_t i = 0; i < pg->n; i++)
        for (size_t j = 0; j < pg->v[i]->n_kvs; j++) {
            const cor_etcd_kv_t *kv = &pg->v[i]->kvs[j];
            if (kv->key_len > s->plen)
                remember(s, (const char *)kv->key + s->plen, kv->mod_revision);
        }
    return 0;
}

static int es_scan(void *impl, const char *prefix, cor_store_scan_cb fn, void *arg,
                   cor_error_t *err)
{
    es_t *s = impl;
    char *start = full_key(s, prefix != NULL ? prefix : "");
    if (start == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    pages_t pg = {0};
    pthread_mutex_lock(&s->op_lock);
    int rc = scan_remember(s, start, 0, &pg, err);
    pthread_mutex_unlock(&s->op_lock);
    if (rc != 0) {
        cor_error_prefix(err, "etcd store: scanning %s", start);
    } else {
        int stop = 0;
        for (size_t i = 0; i < pg.n && !stop; i++)
            for (size_t j = 0; j < pg.v[i]->n_kvs && !stop; j++) {
                const cor_etcd_kv_t *kv = &pg.v[i]->kvs[j];
                if (kv->key_len <= s->plen || memchr(kv->key, '\0', kv->key_len) != NULL) {
                    cor_log_warn("etcd store: skipping a key under %s with a NUL byte in it",
                                 start);
                    continue;
                }
                stop = fn(arg, (const char *)kv->key + s->plen, kv->value, kv->value_len);
            }
    }
    pages_free(&pg);
    free(start);
    return rc;
}

/* ---- open and close ---- */

static int free_rev(void *arg, const char *key, void *value)
{
    (void)arg;
    (void)key;
    free(value);
    return 0;
}

static void es_close(void *impl)
{
    es_t *s = impl;
    if (s->thread_started) {
        pthread_mutex_lock(&s->qlock);
        s->stopping = 1;
        event_active(s->post_ev, EV_READ, 0);
        pthread_mutex_unlock(&s->qlock);
        pthread_join(s->thread, NULL);
    }
    cor_etcd_free(s->client); /* the loop thread is gone: this thread owns the base now */
    if (s->post_ev != NULL)
        event_free(s->post_ev);
    if (s->base != NULL)
        event_base_free(s->base);
    if (s->revs.buckets != NULL) {
        cor_strmap_each(&s->revs, free_rev, NULL);
        cor_strmap_close(&s->revs);
    }
    pthread_cond_destroy(&s->qcond);
    pthread_mutex_destroy(&s->qlock);
    pthread_mutex_destroy(&s->op_lock);
    free(s->prefix);
    free(s->endpoints);
    free(s);
}

static const cor_store_ops_t etcd_ops = {
    .version = COR_STORE_OPS_VERSION,
    .name = "etcd",
    .apply = es_apply,
    .get = es_get,
    .scan = es_scan,
    .close = es_close,
};

int cor_store_etcd_check_prefix(const char *prefix, cor_error_t *err)
{
    if (prefix == NULL)
        return 0;
    size_t n = strlen(prefix);
    if (n == 0)
        return cor_error_set(err, COR_EINVAL, "the etcd key prefix is empty (it must end in "
                             "'/', e.g. %s)", DEFAULT_PREFIX);
    if (prefix[n - 1] != '/')
        return cor_error_set(err, COR_EINVAL, "the etcd key prefix '%s' does not end in '/'",
                             prefix);
    return 0;
}

int cor_store_etcd_check_endpoints(const char *endpoints, cor_error_t *err)
{
    if (endpoints == NULL || endpoints[0] == '\0')
        return cor_error_set(err, COR_EINVAL, "no etcd endpoints given");
    /* The client's own parser decides; making a client opens no connection. */
    struct event_base *b = event_base_new();
    if (b == NULL)
        return cor_error_set(err, COR_EINTERNAL, "libevent could not make an event base");
    cor_etcd_options_t o = {.endpoints = endpoints};
    cor_etcd_t *c = NULL;
    int rc = cor_etcd_new(b, &o, &c, err);
    cor_etcd_free(c);
    event_base_free(b);
    return rc;
}

int cor_store_open_etcd(const char *endpoints, const char *prefix, cor_store_t *out,
                        cor_error_t *err)
{
    if (prefix == NULL)
        prefix = DEFAULT_PREFIX;
    int rc = cor_store_etcd_check_prefix(prefix, err);
    if (rc == 0)
        rc = cor_store_etcd_check_endpoints(endpoints, err);
    if (rc != 0)
        return rc;
    pthread_once(&evthread_once, evthread_setup);
    es_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    pthread_mutex_init(&s->qlock, NULL);
    pthread_cond_init(&s->qcond, NULL);
    pthread_mutex_init(&s->op_lock, NULL);
    s->prefix = strdup(prefix);
    s->plen = strlen(prefix);
    s->endpoints = strdup(endpoints);
    if (s->prefix == NULL || s->endpoints == NULL || cor_strmap_init(&s->revs) != 0) {
        rc = cor_error_set(err, COR_ENOMEM, "out of memory");
        goto fail;
    }
    s->base = event_base_new();
    if (s->base == NULL) {
        rc = cor_error_set(err, COR_EINTERNAL, "libevent could not make an event base");
        goto fail;
    }
    s->post_ev = event_new(s->base, -1, 0, post_cb, s);
    if (s->post_ev == NULL) {
        rc = cor_error_set(err, COR_ENOMEM, "out of memory");
        goto fail;
    }
    cor_etcd_options_t o = {.endpoints = endpoints};
    if ((rc = cor_etcd_new(s->base, &o, &s->client, err)) != 0)
        goto fail;
    /* The loop thread takes no signals: the daemon's own loop handles them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int prc = pthread_create(&s->thread, NULL, loop_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (prc != 0) {
        rc = cor_error_set(err, COR_EINTERNAL, "cannot start the etcd store's thread: %s",
                           strerror(prc));
        goto fail;
    }
    s->thread_started = 1;
    /* Learn the revision of every key under the prefix (keys only, no
     * values): the OMS reads node/ and obj/ at start, but writes ckpt/ and
     * grp/ keys it reads only on demand, and a key this store never saw is
     * taken to be absent. This read is also what makes an etcd nobody can
     * reach fail here, not at the first write. */
    pages_t pg = {0};
    pthread_mutex_lock(&s->op_lock);
    rc = scan_remember(s, s->prefix, 1, &pg, err);
    pthread_mutex_unlock(&s->op_lock);
    pages_free(&pg);
    if (rc != 0) {
        cor_error_prefix(err, "cannot read from etcd at %s", endpoints);
        goto fail;
    }
    out->ops = &etcd_ops;
    out->impl = s;
    return 0;
fail:
    es_close(s);
    return rc;
}
