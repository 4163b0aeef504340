/*
 * echo_bench.c — cor-bench-echo: Corundum's transport measured against raw
 * gRPC C core and against a direct C call, in one invocation.
 *
 * Design. Every server is a forked child (bench_child.h), forked before this
 * process initialises gRPC: a raw gRPC echo server on loopback TCP, one on a
 * unix socket (bench/raw), and one Corundum host per --server-threads value
 * (a cor_runtime hosting one Echo object with a fixed id, listening on
 * 127.0.0.1:0 and a unix socket). This process then makes its own runtime,
 * which also hosts an Echo object for the co-located mode, and measures a
 * table of modes (see `modes` below; a mode is a name plus the measurements
 * it supports — latency at 1 in flight, throughput at N in flight, or
 * in-process ns per call):
 *
 *   raw-tcp, raw-unix   bench/raw's client on a registered method
 *   cor-tcp/tN          echo_echo_say through a ref whose host id is not
 *                       ours: TCP to the host with N server threads
 *   cor-unix/tN         the same ref with our host id: the unix socket
 *   direct              bench/raw/direct.h: C call + protobuf-c pack/unpack
 *   cor-local           echo_echo_say on an object this runtime hosts
 *
 * Deployment-manager overhead (docs/benchmarks.md "Deployment manager
 * overhead"): five no-op DMs, Nop1..Nop5 (client and server parts that only
 * call cor_dm_next), are registered here and in every Corundum host child.
 * The host's DM objects are made through Kernel.CreateReplica with their
 * chain, and the refs to them carry the same chain (cor_ref_new's):
 *
 *   cor-tcp-nop5/tN     chain "Nop1, ..., Nop5" on ref and replica, TCP
 *   cor-tcp-nop1/tN     chain "Nop1": the DM path's fixed cost
 *   cor-tcp-sync/tN     the cor-tcp ref (empty chain), throughput driven by
 *                       --in-flight threads issuing sync calls
 *   dm-<DM>/tN          each shipped DM alone on a remote call (latency)
 *   cor-local-nop5      cor-local through a Nop1..Nop5 chain (in-process)
 *   cor-local-nop1      the same through "Nop1"
 *
 * Asynchronous calls through a ref with client DM parts run on the calling
 * thread (docs/dms/README.md "How parts run"), so throughput through a DM
 * chain is driven by threads issuing sync calls, and the empty chain is
 * measured the same way (cor-tcp-sync) for a like-for-like ratio.
 *
 * Latency at 1 in flight on a small VM is dominated by waking idle vCPUs and
 * drifts with the machine's load, so raw and Corundum are never measured in
 * separate invocations: for each measurement and payload the modes run in
 * rounds, the order reversed every other round, and the table reports the
 * median of the per-round figures; ratios are taken between those medians
 * (and, as a check, the median of per-round ratios, whose numerator and
 * denominator ran moments apart).
 *
 * Throughput at N in flight uses echo_echo_say_async; each callback (on the
 * runtime's client completion thread) issues the next call — Corundum's
 * equivalent of bench/raw's single thread driving its completion queue.
 *
 * Failure modes: a server that does not start, or a measurement that cannot
 * run at all, ends the run (exit 1). Calls that fail or return a wrong echo
 * are counted; any such error makes the exit code 1 after the table is
 * printed. Targets are informational: PASS/MISS never changes the exit code.
 *
 * Usage: cor-bench-echo [--quick] [--rounds N] [--seconds S] [--calls N]
 *                       [--server-threads N[,N...]] [--in-flight N]
 *                       [--json FILE]
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <grpc/grpc.h>

#include <cor/cor.h>
#include <cor/dm.h>

#include "bench_child.h"
#include "bench_util.h"
#include "cor/kernel.pb-c.h"
#include "direct.h"
#include "echo/echo.cor.h"
#include "echo_class.h"
#include "raw_echo.h"
#include "host.h" /* cor_runtime_install, cor_runtime_client */

#define MAX_VARIANTS 4   /* --server-threads values */
#define MAX_MODES 64
#define MAX_REFS 64
#define ECHO_TEXT "echo" /* SayRequest.text, as direct.c's Msg.text */
#define REMOTE_OBJECT "c0ffee00c0ffee00c0ffee00c0ffee01"
#define LOCAL_OBJECT "c0ffee00c0ffee00c0ffee00c0ffee02"
#define FOREIGN_HOST "cor-bench-echo-elsewhere"

/* ------------------------------------------------------------ settings */

enum metric { MET_LAT, MET_THR, MET_INPROC, MET_COUNT };

static const char *const metric_names[MET_COUNT] = {"latency", "throughput",
                                                    "inproc"};

/* Payload sizes: raw sends this many opaque bytes; Corundum and direct
 * send a message (text "echo" + blob) that packs to this size. */
static const size_t payloads[] = {64, 4096};
#define N_PAYLOADS (sizeof(payloads) / sizeof(payloads[0]))

typedef struct cfg {
    int rounds;
    int calls;        /* latency samples per round */
    double seconds;   /* throughput round length */
    int in_flight;    /* throughput concurrency */
    int inproc_iters; /* in-process calls per round (64 B; fewer for 4 KiB) */
} cfg_t;

static void payload_label(size_t bytes, char *buf, size_t len)
{
    if (bytes >= 1024 && bytes % 1024 == 0)
        snprintf(buf, len, "%zu KiB", bytes / 1024);
    else
        snprintf(buf, len, "%zu B", bytes);
}

/* ------------------------------------------------------------- modes */

typedef struct bench_mode bench_mode_t;

/* Measurement functions: fill res from one round. Return 0 when the round
 * ran (failed calls are counted in res->errors), -1 when it could not. */
typedef int (*lat_fn)(bench_mode_t *m, size_t bytes, const cfg_t *cfg,
                      bench_result_t *res);
typedef int (*thr_fn)(bench_mode_t *m, size_t bytes, const cfg_t *cfg,
                      bench_result_t *res);
typedef int (*inproc_fn)(bench_mode_t *m, size_t bytes, const cfg_t *cfg,
                         bench_result_t *res);

struct bench_mode {
    char name[32];    /* "cor-tcp/t2" */
    const char *base; /* "cor-tcp": what the ratio table names */
    const char *what; /* legend */
    lat_fn lat;       /* NULL: not measured */
    thr_fn thr;
    inproc_fn inproc;
    void *ctx; /* raw_client_t * or cor_ref_t * */
    int variant; /* index of its --server-threads host; -1: none */
    int vary;    /* each call's request differs (defeats LeaseCaching) */
    int printed_error; /* first failure message already shown */
    bench_result_t *res[MET_COUNT][N_PAYLOADS]; /* one per round */
};

static bench_mode_t modes[MAX_MODES];
static int n_modes;

static void mode_error(bench_mode_t *m, const char *msg)
{
    if (!m->printed_error)
        fprintf(stderr, "cor-bench-echo: %s: call failed: %s\n", m->name, msg);
    m->printed_error = 1;
}

/* ---------------------------------------------------- raw gRPC modes */

static int raw_lat(bench_mode_t *m, size_t bytes, const cfg_t *cfg,
                   bench_result_t *res)
{
    int rc = raw_bench_latency(m->ctx, bytes, cfg->calls, cfg->calls / 10 + 50,
                               res);

    if (rc == 0 && res->errors > 0)
        mode_error(m, "raw echo failed or differed");
    return rc;
}

static int raw_thr(bench_mode_t *m, size_t bytes, const cfg_t *cfg,
                   bench_result_t *res)
{
    int rc = raw_bench_throughput(m->ctx, bytes, cfg->in_flight, cfg->seconds,
                                  res);

    if (rc == 0 && res->errors > 0)
        mode_error(m, "raw echo failed or differed");
    return rc;
}

/* ----------------------------------------------- Corundum Say request */

/* The blob length that makes a text-"echo" message (fields 1 and 2) pack
 * to at most `packed` bytes. */
static size_t blob_for(size_t packed)
{
    size_t fixed = 2 + strlen(ECHO_TEXT); /* text: tag, length, bytes */

    for (size_t len = packed > fixed + 2 ? packed - fixed - 2 : 0; len > 0;
         len--) {
        size_t lenlen = len < 128 ? 1 : len < 16384 ? 2 : 3;

        if (fixed + 1 + lenlen + len <= packed)
            return len;
    }
    return 0;
}

typedef struct say_msg {
    Echo__SayRequest req;
    uint8_t *blob;
    uint64_t serial; /* say_msg_vary's counter */
} say_msg_t;

static int say_msg_init(say_msg_t *s, size_t packed)
{
    size_t n = blob_for(packed);

    echo__say_request__init(&s->req);
    s->serial = 0;
    s->blob = malloc(n ? n : 1);
    if (s->blob == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        s->blob[i] = (uint8_t)(i * 29u + 3u);
    s->req.text = (char *)ECHO_TEXT;
    s->req.blob.data = s->blob;
    s->req.blob.len = n;
    return 0;
}

/* Makes the next request differ from every earlier one: a counter in the
 * blob's first bytes. */
static void say_msg_vary(say_msg_t *s)
{
    size_t n = s->req.blob.len < sizeof(s->serial) ? s->req.blob.len
                                                  : sizeof(s->serial);

    s->serial++;
    memcpy(s->blob, &s->serial, n);
}

static void say_msg_close(say_msg_t *s)
{
    free(s->blob);
    s->blob = NULL;
}

/* 1 when reply echoes s's request exactly. */
static int say_ok(const say_msg_t *s, const Echo__SayReply *reply)
{
    return reply != NULL && reply->text != NULL &&
           strcmp(reply->text, ECHO_TEXT) == 0 &&
           reply->blob.len == s->req.blob.len &&
           (s->req.blob.len == 0 ||
            memcmp(reply->blob.data, s->req.blob.data, s->req.blob.len) == 0);
}

/* --------------------------------------------- Corundum remote modes */

static int cor_lat(bench_mode_t *m, size_t bytes, const cfg_t *cfg,
                   bench_result_t *res)
{
    cor_ref_t *ref = m->ctx;
    int warmup = cfg->calls / 10 + 50;
    uint64_t start = 0, elapsed;
    long errors = 0;
    bench_rec_t rec;
    say_msg_t s;
    int rv = -1;

    memset(res, 0, sizeof(*res));
    if (say_msg_init(&s, bytes) != 0)
        return -1;
    if (bench_rec_init(&rec, (size_t)cfg->calls) != 0)
        goto out_msg;
    for (int i = 0; i < warmup + cfg->calls; i++) {
        Echo__SayReply *reply = NULL;
        cor_error_t err;
        uint64_t t0, t1;
        int rc, ok;

        if (i == warmup)
            start = bench_now_ns();
        if (m->vary)
            say_msg_vary(&s);
        t0 = bench_now_ns();
        rc = echo_echo_say(ref, &s.req, &reply, &err);
        t1 = bench_now_ns();
        ok = rc == 0 && say_ok(&s, reply);
        if (rc != 0)
            mode_error(m, err.msg);
        else if (!ok)
            mode_error(m, "reply differs from the request");
        if (reply != NULL)
            echo__say_reply__free_unpacked(reply, NULL);
        if (!ok)
            errors++; /* warm-up failures count too: the smoke test wants
                       * every call to succeed */
        else if (i >= warmup && bench_rec_add(&rec, t1 - t0) != 0)
            goto out_rec;
    }
    elapsed = bench_now_ns() - start;
    bench_rec_summarise(&rec, res);
    res->calls = (long)rec.n;
    res->errors = errors;
    res->calls_per_sec = elapsed ? (double)rec.n * 1e9 / (double)elapsed : 0;
    rv = 0;
out_rec:
    bench_rec_close(&rec);
out_msg:
    say_msg_close(&s);
    return rv;
}

/* One throughput run: shared by every slot's callback. The lock is
 * uncontended in practice (callbacks run on the one client completion
 * thread) but keeps the run correct without relying on that. */
typedef struct thr_run {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bench_mode_t *mode;
    cor_ref_t *ref;
    say_msg_t msg;
    uint64_t count_from, stop_at;
    bench_rec_t rec;
    long done, errors;
    int outstanding; /* slots whose chain of calls has not ended */
    int oom;
} thr_run_t;

typedef struct thr_slot {
    thr_run_t *run;
    uint64_t t0;
} thr_slot_t;

static void thr_cb(int rc, Echo__SayReply *reply, const cor_error_t *err,
                   void *arg);

/* Issue slot s's next call; if it cannot start, its chain ends. */
static void thr_issue(thr_slot_t *s)
{
    thr_run_t *r = s->run;
    int rc;

    s->t0 = bench_now_ns();
    rc = echo_echo_say_async(r->ref, &r->msg.req, thr_cb, s);
    if (rc != 0) {
        pthread_mutex_lock(&r->lock);
        mode_error(r->mode, cor_strerror(rc));
        r->errors++;
        r->outstanding--;
        pthread_cond_signal(&r->cond);
        pthread_mutex_unlock(&r->lock);
    }
}

static void thr_cb(int rc, Echo__SayReply *reply, const cor_error_t *err,
                   void *arg)
{
    thr_slot_t *s = arg;
    thr_run_t *r = s->run;
    uint64_t t1 = bench_now_ns();
    int ok = rc == 0 && say_ok(&r->msg, reply), again;

    pthread_mutex_lock(&r->lock);
    if (!ok) {
        mode_error(r->mode, rc != 0 ? err->msg : "reply differs");
        r->errors++;
    } else if (t1 >= r->count_from && t1 <= r->stop_at) {
        r->done++;
        if (bench_rec_add(&r->rec, t1 - s->t0) != 0)
            r->oom = 1;
    }
    again = t1 < r->stop_at && !r->oom;
    if (!again) {
        r->outstanding--;
        pthread_cond_signal(&r->cond);
    }
    pthread_mutex_unlock(&r->lock);
    if (again)
        thr_issue(s);
}

static int cor_thr(bench_mode_t *m, size_t bytes, const cfg_t *cfg,
                   bench_result_t *res)
{
    thr_run_t r;
    thr_slot_t *slots;
    uint64_t begin;
    int rv = -1;

    memset(res, 0, sizeof(*res));
    memset(&r, 0, sizeof(r));
    slots = calloc((size_t)cfg->in_flight, sizeof(*slots));
    if (slots == NULL)
        return -1;
    if (say_msg_init(&r.msg, bytes) != 0)
        goto out_slots;
    if (bench_rec_init(&r.rec, 1u << 16) != 0)
        goto out_msg;
    pthread_mutex_init(&r.lock, NULL);
    pthread_cond_init(&r.cond, NULL);
    r.mode = m;
    r.ref = m->ctx;
    begin = bench_now_ns();
    r.count_from = begin + (uint64_t)(cfg->seconds * 0.1e9);
    r.stop_at = begin + (uint64_t)(cfg->seconds * 1e9);
    r.outstanding = cfg->in_flight;
    for (int i = 0; i < cfg->in_flight; i++) {
        slots[i].run = &r;
        thr_issue(&slots[i]);
    }
    pthread_mutex_lock(&r.lock);
    while (r.outstanding > 0)
        pthread_cond_wait(&r.cond, &r.lock);
    pthread_mutex_unlock(&r.lock);

    if (!r.oom) {
        bench_rec_summarise(&r.rec, res);
        res->calls = r.done;
        res->errors = r.errors;
        res->calls_per_sec =
            (double)r.done * 1e9 / (double)(r.stop_at - r.count_from);
        rv = 0;
    }
    pthread_cond_destroy(&r.cond);
    pthread_mutex_destroy(&r.lock);
    bench_rec_close(&r.rec);
out_msg:
    say_msg_close(&r.msg);
out_slots:
    free(slots);
    return rv;
}

/* Throughput driven by threads, each issuing sync calls back to back: the
 * only way to have N calls in flight through a ref with client DM parts
 * (their async calls run on the calling thread). */
typedef struct sync_run {
    pthread_mutex_t lock;
    bench_mode_t *mode;
    uint64_t count_from, stop_at;
    bench_rec_t rec;
    size_t bytes;
    long done, errors;
    int oom, failed_start;
} sync_run_t;

static void *sync_thread(void *arg)
{
    sync_run_t *r = arg;
    say_msg_t s;

    if (say_msg_init(&s, r->bytes) != 0) {
        pthread_mutex_lock(&r->lock);
        r->oom = 1;
        pthread_mutex_unlock(&r->lock);
        return NULL;
    }
    for (;;) {
        Echo__SayReply *reply = NULL;
        cor_error_t err;
        uint64_t t0 = bench_now_ns(), t1;
        int rc, ok;

        if (t0 >= r->stop_at)
            break;
        if (r->mode->vary)
            say_msg_vary(&s);
        rc = echo_echo_say(r->mode->ctx, &s.req, &reply, &err);
        t1 = bench_now_ns();
        ok = rc == 0 && say_ok(&s, reply);
        if (reply != NULL)
            echo__say_reply__free_unpacked(reply, NULL);
        pthread_mutex_lock(&r->lock);
        if (!ok) {
            mode_error(r->mode, rc != 0 ? err.msg : "reply differs");
            r->errors++;
        } else if (t1 >= r->count_from && t1 <= r->stop_at) {
            r->done++;
            if (bench_rec_add(&r->rec, t1 - t0) != 0)
                r->oom = 1;
        }
        pthread_mutex_unlock(&r->lock);
    }
    say_msg_close(&s);
    return NULL;
}

static int cor_thr_sync(bench_mode_t *m, size_t bytes, const cfg_t *cfg,
                        bench_result_t *res)
{
    sync_run_t r;
    pthread_t *th;
    uint64_t begin;
    int started = 0, rv = -1;

    memset(res, 0, sizeof(*res));
    memset(&r, 0, sizeof(r));
    th = calloc((size_t)cfg->in_flight, sizeof(*th));
    if (th == NULL)
        return -1;
    if (bench_rec_init(&r.rec, 1u << 16) != 0)
        goto out_th;
    pthread_mutex_init(&r.lock, NULL);
    r.mode = m;
    r.bytes = bytes;
    begin = bench_now_ns();
    r.count_from = begin + (uint64_t)(cfg->seconds * 0.1e9);
    r.stop_at = begin + (uint64_t)(cfg->seconds * 1e9);
    for (int i = 0; i < cfg->in_flight; i++) {
        if (pthread_create(&th[i], NULL, sync_thread, &r) != 0)
            break;
        started++;
    }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    if (started == cfg->in_flight && !r.oom) {
        bench_rec_summarise(&r.rec, res);
        res->calls = r.done;
        res->errors = r.errors;
        res->calls_per_sec =
            (double)r.done * 1e9 / (double)(r.stop_at - r.count_from);
        rv = 0;
    } else {
        fprintf(stderr, "cor-bench-echo: %s: %d of %d threads started%s\n",
                m->name, started, cfg->in_flight, r.oom ? ", out of memory" : "");
    }
    pthread_mutex_destroy(&r.lock);
    bench_rec_close(&r.rec);
out_th:
    free(th);
    return rv;
}

/* ----------------------------------------------------- in-process modes */

static int inproc_iters_for(const cfg_t *cfg, size_t bytes)
{
    /* Larger payloads cost more per call; keep rounds near equal in time. */
    int n = bytes > 1024 ? cfg->inproc_iters / 4 : cfg->inproc_iters;

    return n > 100 ? n : 100;
}

static int direct_inproc(bench_mode_t *m, size_t bytes, const cfg_t *cfg,
                         bench_result_t *res)
{
    direct_t *d;
    int rc;

    if (direct_new(blob_for(bytes), &d) != 0)
        return -1;
    rc = bench_time_loop(direct_call, d, inproc_iters_for(cfg, bytes), res);
    if (rc == 0 && res->errors > 0)
        mode_error(m, "direct call returned a wrong reply");
    direct_free(d);
    return rc;
}

typedef struct local_ctx {
    bench_mode_t *mode;
    say_msg_t msg;
} local_ctx_t;

/* One co-located call through the generated stub; bench_time_loop's
 * closure. Returns 0, or 1 on failure or a wrong reply. */
static int local_call(void *arg)
{
    local_ctx_t *l = arg;
    Echo__SayReply *reply = NULL;
    cor_error_t err;
    int rc = echo_echo_say(l->mode->ctx, &l->msg.req, &reply, &err), ok;

    ok = rc == 0 && say_ok(&l->msg, reply);
    if (rc != 0)
        mode_error(l->mode, err.msg);
    if (reply != NULL)
        echo__say_reply__free_unpacked(reply, NULL);
    return ok ? 0 : 1;
}

static int local_inproc(bench_mode_t *m, size_t bytes, const cfg_t *cfg,
                        bench_result_t *res)
{
    local_ctx_t l = {.mode = m};
    int rc;

    if (say_msg_init(&l.msg, bytes) != 0)
        return -1;
    rc = bench_time_loop(local_call, &l, inproc_iters_for(cfg, bytes), res);
    say_msg_close(&l.msg);
    return rc;
}

/* ------------------------------------------------------------ no-op DMs */

/* Nop1..Nop5: a client and a server part that only pass the call on, so a
 * chain of them measures the DM machinery itself. */
static int nop_call(void *state, cor_dm_call_t *c)
{
    (void)state;
    return cor_dm_next(c);
}

#define NOP_DM(n)                                                             \
    {.version = COR_DM_OPS_VERSION, .name = "Nop" #n,                         \
     .summary = "benchmark: passes every call on", .client_call = nop_call,   \
     .server_call = nop_call}

static const cor_dm_ops_t nop_dms[] = {NOP_DM(1), NOP_DM(2), NOP_DM(3),
                                       NOP_DM(4), NOP_DM(5)};

#define NOP5_CHAIN "Nop1, Nop2, Nop3, Nop4, Nop5"

/* Registers Nop1..Nop5 in this process (already there: fine). Returns 0 or
 * -1 with a message. */
static int nop_register(void)
{
    for (size_t i = 0; i < sizeof(nop_dms) / sizeof(nop_dms[0]); i++) {
        cor_error_t err;

        if (cor_dm_find(nop_dms[i].name) == &nop_dms[i])
            continue;
        if (cor_dm_register(&nop_dms[i], &err) != 0) {
            fprintf(stderr, "cor-bench-echo: registering %s: %s\n",
                    nop_dms[i].name, err.msg);
            return -1;
        }
    }
    return 0;
}

/* The DM modes against each Corundum host: a base name, the chain on the
 * replica and the ref, and what to measure. Chains are created on the host
 * through Kernel.CreateReplica; "" is the host's plain REMOTE_OBJECT. */
typedef struct dm_def {
    const char *base;
    const char *chain;
    const char *what;
    int lat, thr; /* latency at 1 in flight; throughput, sync threads */
    int vary;     /* distinct requests */
} dm_def_t;

static const dm_def_t dm_defs[] = {
    {"cor-tcp-sync", "", "empty chain, throughput from sync threads", 0, 1, 0},
    {"cor-tcp-nop5", NOP5_CHAIN, "five no-op DMs, client and server parts",
     1, 1, 0},
    {"cor-tcp-nop1", "Nop1", "one no-op DM: the DM path's fixed cost", 1, 0,
     0},
    {"dm-CircuitBreaker", "CircuitBreaker", "client part", 1, 0, 0},
    {"dm-SerializableRPC", "SerializableRPC", "server part", 1, 0, 0},
    {"dm-AtLeastOnceRPC", "AtLeastOnceRPC", "client + server parts", 1, 0, 0},
    {"dm-Lease1ms-miss", "LeaseCaching(lease=1ms)",
     "client part, every request distinct: all misses", 1, 0, 1},
    {"dm-Lease10s-hit", "LeaseCaching(lease=10s)",
     "client part, one request repeated: hits", 1, 0, 0},
    {"dm-KeepInRegion", "KeepInRegion(region=x)", "group part only", 1, 0, 0},
    {"dm-KeepOnDevice", "KeepOnDevice(class=x)", "group part only", 1, 0, 0},
    {"dm-Checkpoint1s", "PeriodicCheckpoint(interval=1s)",
     "server part (no OMS)", 1, 0, 0},
};
#define N_DM_DEFS (sizeof(dm_defs) / sizeof(dm_defs[0]))

/* Creates an Echo replica with chain on the host at addr, through
 * Kernel.CreateReplica as the OMS would. */
static int create_replica(cor_runtime_t *rt, const char *addr,
                          const cor_object_id_t *id, const char *chain,
                          cor_error_t *err)
{
    Cor__CreateReplicaRequest r = COR__CREATE_REPLICA_REQUEST__INIT;
    ProtobufCMessage *reply = NULL;
    int rc;

    r.object_id.data = (uint8_t *)id->b;
    r.object_id.len = sizeof(id->b);
    r.class_name = (char *)"echo.Echo";
    r.dm_chain = (char *)chain;
    rc = cor_rpc_call(cor_runtime_client(rt), addr, COR_M_CREATE_REPLICA, &r.base,
                      &cor__create_replica_reply__descriptor, 5000, &reply,
                      err);
    if (reply != NULL)
        protobuf_c_message_free_unpacked(reply, NULL);
    return rc;
}

/* ------------------------------------------------------ server children */

typedef struct raw_child_arg {
    const char *addr;
    int threads;
} raw_child_arg_t;

static int raw_child_start(void *arg, void **state)
{
    raw_child_arg_t *a = arg;
    raw_server_t *srv;

    grpc_init();
    if (raw_server_start(a->addr, a->threads, &srv) != 0) {
        grpc_shutdown_blocking();
        return -1;
    }
    *state = srv;
    return raw_server_port(srv);
}

static void raw_child_stop(void *state)
{
    raw_server_stop(state);
    grpc_shutdown_blocking();
}

static const bench_server_ops_t raw_child_ops = {raw_child_start,
                                                 raw_child_stop};

typedef struct cor_child_arg {
    int threads;
    char unix_path[108];
} cor_child_arg_t;

/* A Corundum host: one Echo object, id REMOTE_OBJECT. Reports its port. */
static int cor_child_start(void *arg, void **state)
{
    cor_child_arg_t *a = arg;
    cor_runtime_opts_t opts = {.version = COR_RUNTIME_OPTS_VERSION,
                               .server_threads = a->threads};
    cor_runtime_t *rt = NULL;
    cor_object_id_t id;
    cor_error_t err;
    const char *colon;

    if (cor_object_id_parse(REMOTE_OBJECT, &id) != 0 || nop_register() != 0)
        return -1;
    if (cor_runtime_new(&opts, &rt, &err) != 0 ||
        cor_runtime_register_class(rt, &echo_class, &err) != 0 ||
        cor_object_create(rt, "echo.Echo", NULL, 0, &(cor_create_opts_t){.here = 1, .id = &id}, NULL, &err) != 0 ||
        cor_runtime_listen(rt, "127.0.0.1:0", a->unix_path, &err) != 0) {
        fprintf(stderr, "cor-bench-echo: Corundum host: %s\n", err.msg);
        cor_runtime_free(rt);
        return -1;
    }
    colon = strrchr(cor_runtime_tcp_address(rt), ':');
    *state = rt;
    return colon != NULL ? atoi(colon + 1) : -1;
}

static void cor_child_stop(void *state)
{
    cor_runtime_free(state);
}

static const bench_server_ops_t cor_child_ops = {cor_child_start,
                                                 cor_child_stop};

/* --------------------------------------------------------------- ratios */

enum field { F_P50_US, F_P99_US, F_CPS, F_P50_NS, F_P99_NS };

static double field_of(const bench_result_t *r, enum field f)
{
    switch (f) {
    case F_P50_US: return r->p50_us;
    case F_P99_US: return r->p99_us;
    case F_CPS: return r->calls_per_sec;
    case F_P50_NS: return r->p50_ns;
    case F_P99_NS: return r->p99_ns;
    }
    return 0;
}

static const char *const field_names[] = {"p50_us", "p99_us", "calls_per_sec",
                                          "p50_ns", "p99_ns"};

/* A comparison printed in the ratio table. Every mode whose base is `num`
 * (or starts with it, when num ends in '*') is compared with the mode whose
 * base is `den` on the same Corundum host (or the single one, for modes
 * that have no host). target 0: for information only. */
typedef struct ratio_def {
    const char *label;
    const char *num, *den;
    enum metric metric;
    enum field field;
    double target;
    int at_most; /* 1: value <= target passes; 0: value >= target */
} ratio_def_t;

static const ratio_def_t ratio_defs[] = {
    {"remote stub p50 / raw TCP p50", "cor-tcp", "raw-tcp", MET_LAT, F_P50_US,
     1.10, 1},
    {"remote stub calls/s / raw TCP calls/s", "cor-tcp", "raw-tcp", MET_THR,
     F_CPS, 0.90, 0},
    {"unix stub p50 / raw TCP p50", "cor-unix", "raw-tcp", MET_LAT, F_P50_US,
     0.60, 1},
    {"co-located ns / direct ns (p50)", "cor-local", "direct", MET_INPROC,
     F_P50_NS, 2.0, 1},
    /* information: */
    {"remote stub p99 / raw TCP p99", "cor-tcp", "raw-tcp", MET_LAT, F_P99_US,
     0, 1},
    {"unix stub p50 / raw unix p50", "cor-unix", "raw-unix", MET_LAT,
     F_P50_US, 0, 1},
    {"unix stub calls/s / raw unix calls/s", "cor-unix", "raw-unix", MET_THR,
     F_CPS, 0, 0},
    {"raw unix p50 / raw TCP p50", "raw-unix", "raw-tcp", MET_LAT, F_P50_US, 0,
     1},
    /* deployment managers (docs/benchmarks.md) */
    {"5 no-op DMs p50 / empty chain p50", "cor-tcp-nop5", "cor-tcp", MET_LAT,
     F_P50_US, 1.05, 1},
    {"5 no-op DMs calls/s / empty, sync thr", "cor-tcp-nop5", "cor-tcp-sync",
     MET_THR, F_CPS, 0, 0},
    {"5 no-op DMs p50 / empty, sync threads", "cor-tcp-nop5", "cor-tcp-sync",
     MET_THR, F_P50_US, 0, 1},
    {"1 no-op DM p50 / empty chain p50", "cor-tcp-nop1", "cor-tcp", MET_LAT,
     F_P50_US, 0, 1},
    {"5 no-op DMs p50 / 1 no-op DM p50", "cor-tcp-nop5", "cor-tcp-nop1",
     MET_LAT, F_P50_US, 0, 1},
    {"DM alone p50 / empty chain p50", "dm-*", "cor-tcp", MET_LAT, F_P50_US, 0,
     1},
    {"co-located, 5 no-op DMs / empty (ns)", "cor-local-nop5", "cor-local",
     MET_INPROC, F_P50_NS, 0, 1},
    {"co-located, 1 no-op DM / empty (ns)", "cor-local-nop1", "cor-local",
     MET_INPROC, F_P50_NS, 0, 1},
};
#define N_RATIOS (sizeof(ratio_defs) / sizeof(ratio_defs[0]))

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    if (n <= 0)
        return 0;
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Median, min and max of field f over m's rounds. */
static double mode_median(const bench_mode_t *m, enum metric met, size_t p,
                          enum field f, int rounds, double *lo, double *hi)
{
    double v[256], min = 0, max = 0;
    int n = rounds < 256 ? rounds : 256;

    for (int i = 0; i < n; i++) {
        v[i] = field_of(&m->res[met][p][i], f);
        if (i == 0 || v[i] < min)
            min = v[i];
        if (i == 0 || v[i] > max)
            max = v[i];
    }
    if (lo != NULL)
        *lo = min;
    if (hi != NULL)
        *hi = max;
    return median(v, n);
}

/* Median of per-round ratios num/den (the two ran in the same round). */
static double paired_median(const bench_mode_t *num, const bench_mode_t *den,
                            enum metric met, size_t p, enum field f,
                            int rounds)
{
    double v[256];
    int n = 0;

    for (int i = 0; i < rounds && i < 256; i++) {
        double d = field_of(&den->res[met][p][i], f);

        if (d > 0)
            v[n++] = field_of(&num->res[met][p][i], f) / d;
    }
    return median(v, n);
}

static long mode_errors(const bench_mode_t *m, enum metric met, size_t p,
                        int rounds)
{
    long e = 0;

    for (int i = 0; i < rounds; i++)
        e += m->res[met][p][i].errors;
    return e;
}

/* The mode whose base is base, on host variant (or on no host). */
static bench_mode_t *mode_by_base(const char *base, int variant)
{
    for (int i = 0; i < n_modes; i++)
        if (strcmp(modes[i].base, base) == 0 &&
            (modes[i].variant < 0 || modes[i].variant == variant))
            return &modes[i];
    return NULL;
}

/* 1 when mode base b is one ratio pattern num names. */
static int base_matches(const char *num, const char *b)
{
    size_t n = strlen(num);

    if (n > 0 && num[n - 1] == '*')
        return strncmp(num, b, n - 1) == 0;
    return strcmp(num, b) == 0;
}

/* ------------------------------------------------------------- reports */

static void machine_model(char *buf, size_t len)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];

    snprintf(buf, len, "unknown");
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "model name", 10) == 0) {
            char *v = strchr(line, ':');

            if (v != NULL) {
                v += strspn(v + 1, " \t") + 1;
                v[strcspn(v, "\n")] = '\0';
                snprintf(buf, len, "%s", v);
            }
            break;
        }
    }
    fclose(f);
}

static void print_tables(const cfg_t *cfg)
{
    char pl[24];

    printf("\nlatency, 1 call in flight: median over %d rounds "
           "(range of the per-round p50)\n", cfg->rounds);
    printf("%-21s %7s %9s %9s %19s %8s\n", "mode", "payload", "p50 us",
           "p99 us", "p50 range us", "errors");
    for (size_t p = 0; p < N_PAYLOADS; p++) {
        payload_label(payloads[p], pl, sizeof(pl));
        for (int i = 0; i < n_modes; i++) {
            bench_mode_t *m = &modes[i];
            double lo, hi, p50, p99;

            if (m->lat == NULL)
                continue;
            p50 = mode_median(m, MET_LAT, p, F_P50_US, cfg->rounds, &lo, &hi);
            p99 = mode_median(m, MET_LAT, p, F_P99_US, cfg->rounds, NULL, NULL);
            printf("%-21s %7s %9.1f %9.1f %9.1f-%-9.1f %8ld\n", m->name, pl,
                   p50, p99, lo, hi, mode_errors(m, MET_LAT, p, cfg->rounds));
        }
    }

    printf("\nthroughput, %d calls in flight, %.2g s rounds: median over %d "
           "rounds\n", cfg->in_flight, cfg->seconds, cfg->rounds);
    printf("%-21s %7s %10s %21s %9s %8s\n", "mode", "payload", "calls/s",
           "range", "p50 us", "errors");
    for (size_t p = 0; p < N_PAYLOADS; p++) {
        payload_label(payloads[p], pl, sizeof(pl));
        for (int i = 0; i < n_modes; i++) {
            bench_mode_t *m = &modes[i];
            double lo, hi, cps, p50;

            if (m->thr == NULL)
                continue;
            cps = mode_median(m, MET_THR, p, F_CPS, cfg->rounds, &lo, &hi);
            p50 = mode_median(m, MET_THR, p, F_P50_US, cfg->rounds, NULL, NULL);
            printf("%-21s %7s %10.0f %10.0f-%-10.0f %9.1f %8ld\n", m->name, pl,
                   cps, lo, hi, p50, mode_errors(m, MET_THR, p, cfg->rounds));
        }
    }

    printf("\nin-process, ns per call (clock cost subtracted): median over %d "
           "rounds\n", cfg->rounds);
    printf("%-21s %7s %9s %9s %19s %8s\n", "mode", "payload", "p50 ns",
           "p99 ns", "p50 range ns", "errors");
    for (size_t p = 0; p < N_PAYLOADS; p++) {
        payload_label(payloads[p], pl, sizeof(pl));
        for (int i = 0; i < n_modes; i++) {
            bench_mode_t *m = &modes[i];
            double lo, hi, p50, p99;

            if (m->inproc == NULL)
                continue;
            p50 = mode_median(m, MET_INPROC, p, F_P50_NS, cfg->rounds, &lo,
                              &hi);
            p99 = mode_median(m, MET_INPROC, p, F_P99_NS, cfg->rounds, NULL,
                              NULL);
            printf("%-21s %7s %9.0f %9.0f %9.0f-%-9.0f %8ld\n", m->name, pl,
                   p50, p99, lo, hi,
                   mode_errors(m, MET_INPROC, p, cfg->rounds));
        }
    }
}

/* Prints the ratio table to out and/or its rows as JSON objects to json
 * (either may be NULL). */
static void print_ratios(const cfg_t *cfg, FILE *out, FILE *json)
{
    char pl[24];
    int first = 1;

    if (out != NULL) {
        fprintf(out, "\nratios (of the medians above; \"paired\" is the "
                "median of per-round ratios)\n");
        fprintf(out, "%-40s %-21s %7s %7s %7s %8s  %s\n", "comparison",
                "mode", "payload", "ratio", "paired", "target", "verdict");
    }
    for (size_t d = 0; d < N_RATIOS; d++) {
        const ratio_def_t *r = &ratio_defs[d];

        for (int i = 0; i < n_modes; i++) {
            bench_mode_t *num = &modes[i];
            bench_mode_t *den;

            if (!base_matches(r->num, num->base) ||
                (den = mode_by_base(r->den, num->variant)) == NULL)
                continue;
            for (size_t p = 0; p < N_PAYLOADS; p++) {
                double a = mode_median(num, r->metric, p, r->field,
                                       cfg->rounds, NULL, NULL);
                double b = mode_median(den, r->metric, p, r->field,
                                       cfg->rounds, NULL, NULL);
                double v = b > 0 ? a / b : 0;
                double pv = paired_median(num, den, r->metric, p, r->field,
                                          cfg->rounds);
                const char *verdict = "";
                char tgt[16] = "-";
                int pass = 0;

                if (r->target > 0) {
                    pass = r->at_most ? v <= r->target : v >= r->target;
                    verdict = pass ? "PASS" : "MISS";
                    snprintf(tgt, sizeof(tgt), "%s %.2f",
                             r->at_most ? "<=" : ">=", r->target);
                }
                payload_label(payloads[p], pl, sizeof(pl));
                if (out != NULL)
                    fprintf(out, "%-40s %-21s %7s %7.3f %7.3f %8s  %s\n",
                            r->label, num->name, pl, v, pv, tgt, verdict);
                if (json != NULL) {
                    fprintf(json,
                            "%s    {\"comparison\": \"%s\", \"num\": \"%s\", "
                            "\"den\": \"%s\", \"metric\": \"%s\", "
                            "\"field\": \"%s\", \"payload\": %zu, "
                            "\"ratio\": %.4f, \"paired\": %.4f",
                            first ? "" : ",\n", r->label, num->name,
                            den->name, metric_names[r->metric],
                            field_names[r->field], payloads[p], v, pv);
                    if (r->target > 0)
                        fprintf(json, ", \"target\": %.2f, \"op\": \"%s\", "
                                "\"pass\": %s", r->target,
                                r->at_most ? "<=" : ">=",
                                pass ? "true" : "false");
                    fprintf(json, "}");
                    first = 0;
                }
            }
        }
    }
}

static int write_json(const char *path, const cfg_t *cfg,
                      const char *threads_arg, const char *model)
{
    FILE *f = fopen(path, "w");
    int first = 1;

    if (f == NULL) {
        fprintf(stderr, "cor-bench-echo: cannot write %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    fprintf(f, "{\n  \"machine\": {\"cpus\": %ld, \"model\": \"%s\"},\n",
            sysconf(_SC_NPROCESSORS_ONLN), model);
    fprintf(f, "  \"config\": {\"rounds\": %d, \"calls\": %d, "
            "\"seconds\": %.3f, \"in_flight\": %d, \"inproc_iters\": %d, "
            "\"server_threads\": \"%s\"},\n", cfg->rounds, cfg->calls,
            cfg->seconds, cfg->in_flight, cfg->inproc_iters, threads_arg);
    fprintf(f, "  \"results\": [\n");
    for (int i = 0; i < n_modes; i++) {
        bench_mode_t *m = &modes[i];

        for (int met = 0; met < MET_COUNT; met++) {
            if ((met == MET_LAT && m->lat == NULL) ||
                (met == MET_THR && m->thr == NULL) ||
                (met == MET_INPROC && m->inproc == NULL))
                continue;
            for (size_t p = 0; p < N_PAYLOADS; p++) {
                fprintf(f, "%s    {\"mode\": \"%s\", \"metric\": \"%s\", "
                        "\"payload\": %zu, \"rounds\": [", first ? "" : ",\n",
                        m->name, metric_names[met], payloads[p]);
                for (int r = 0; r < cfg->rounds; r++) {
                    bench_result_t *x = &m->res[met][p][r];

                    fprintf(f, "%s{\"p50_us\": %.3f, \"p99_us\": %.3f, "
                            "\"p50_ns\": %.1f, \"p99_ns\": %.1f, "
                            "\"calls_per_sec\": %.1f, \"calls\": %ld, "
                            "\"errors\": %ld}", r ? ", " : "", x->p50_us,
                            x->p99_us, x->p50_ns, x->p99_ns,
                            x->calls_per_sec, x->calls, x->errors);
                }
                fprintf(f, "]}");
                first = 0;
            }
        }
    }
    fprintf(f, "\n  ],\n  \"ratios\": [\n");
    print_ratios(cfg, NULL, f);
    fprintf(f, "\n  ]\n}\n");
    if (fclose(f) != 0)
        return -1;
    return 0;
}

/* ------------------------------------------------------------- driving */

/* Runs every measurement: for each metric and payload, cfg->rounds rounds
 * over every mode that supports it, order reversed on odd rounds. Returns
 * 0, or -1 when a round could not run or got no call through. */
static int run_all(const cfg_t *cfg)
{
    char pl[24];

    for (int met = 0; met < MET_COUNT; met++) {
        for (size_t p = 0; p < N_PAYLOADS; p++) {
            payload_label(payloads[p], pl, sizeof(pl));
            for (int r = 0; r < cfg->rounds; r++) {
                fprintf(stderr, "%-10s %6s round %d/%d:", metric_names[met],
                        pl, r + 1, cfg->rounds);
                for (int k = 0; k < n_modes; k++) {
                    bench_mode_t *m = &modes[r % 2 ? n_modes - 1 - k : k];
                    bench_result_t *res = &m->res[met][p][r];
                    int rc;

                    if (met == MET_LAT && m->lat != NULL)
                        rc = m->lat(m, payloads[p], cfg, res);
                    else if (met == MET_THR && m->thr != NULL)
                        rc = m->thr(m, payloads[p], cfg, res);
                    else if (met == MET_INPROC && m->inproc != NULL)
                        rc = m->inproc(m, payloads[p], cfg, res);
                    else
                        continue;
                    if (rc != 0 || res->calls == 0) {
                        fprintf(stderr, "\ncor-bench-echo: %s %s %s: no "
                                "result\n", m->name, metric_names[met], pl);
                        return -1;
                    }
                    if (met == MET_THR)
                        fprintf(stderr, " %s %.0f/s", m->name,
                                res->calls_per_sec);
                    else if (met == MET_LAT)
                        fprintf(stderr, " %s %.1fus", m->name, res->p50_us);
                    else
                        fprintf(stderr, " %s %.0fns", m->name, res->p50_ns);
                }
                fprintf(stderr, "\n");
            }
        }
    }
    return 0;
}

static bench_mode_t *mode_add(const char *name, const char *base,
                              const char *what, void *ctx)
{
    bench_mode_t *m;

    if (n_modes == MAX_MODES)
        return NULL;
    m = &modes[n_modes++];
    memset(m, 0, sizeof(*m));
    snprintf(m->name, sizeof(m->name), "%s", name);
    m->base = base;
    m->what = what;
    m->ctx = ctx;
    m->variant = -1;
    return m;
}

/* Keeps only the modes whose base name is in the comma-separated list. */
static void modes_filter(const char *list)
{
    int kept = 0;

    for (int i = 0; i < n_modes; i++) {
        size_t n = strlen(modes[i].base);
        const char *p = list;
        int found = 0;

        while (!found && *p != '\0') {
            size_t len = strcspn(p, ",");

            found = len == n && strncmp(p, modes[i].base, n) == 0;
            p += len;
            p += *p == ',';
        }
        if (found)
            modes[kept++] = modes[i];
    }
    n_modes = kept;
}

static int modes_alloc_results(int rounds)
{
    for (int i = 0; i < n_modes; i++)
        for (int met = 0; met < MET_COUNT; met++)
            for (size_t p = 0; p < N_PAYLOADS; p++) {
                modes[i].res[met][p] = calloc((size_t)rounds,
                                              sizeof(bench_result_t));
                if (modes[i].res[met][p] == NULL)
                    return -1;
            }
    return 0;
}

static void modes_free_results(void)
{
    for (int i = 0; i < n_modes; i++)
        for (int met = 0; met < MET_COUNT; met++)
            for (size_t p = 0; p < N_PAYLOADS; p++)
                free(modes[i].res[met][p]);
}

/* Checks the route choice the modes rely on: a ref with only a unix path
 * reaches the host when the host id is ours, and has no location when it
 * is not (so a foreign host id never takes the socket). */
static int route_check(cor_runtime_t *rt, const char *unix_path)
{
    cor_object_id_t id;
    say_msg_t s;
    int rv = -1;

    if (cor_object_id_parse(REMOTE_OBJECT, &id) != 0 ||
        say_msg_init(&s, 64) != 0)
        return -1;
    for (int foreign = 0; foreign < 2; foreign++) {
        cor_ref_t *ref = cor_ref_new(rt, &id, "echo.Echo", NULL);
        Echo__SayReply *reply = NULL;
        cor_error_t err;
        int rc;

        if (ref == NULL ||
            cor_ref_set_location(ref, NULL, unix_path,
                                 foreign ? FOREIGN_HOST
                                         : cor_runtime_host_id(rt),
                                 0, &err) != 0) {
            cor_ref_free(ref);
            goto out;
        }
        rc = echo_echo_say(ref, &s.req, &reply, &err);
        if (reply != NULL)
            echo__say_reply__free_unpacked(reply, NULL);
        cor_ref_free(ref);
        if (!foreign && rc != 0) {
            fprintf(stderr, "cor-bench-echo: route check: unix socket call "
                    "failed: %s\n", err.msg);
            goto out;
        }
        if (foreign && rc != COR_ENOTFOUND) {
            fprintf(stderr, "cor-bench-echo: route check: a foreign host id "
                    "reached the unix socket (rc %d)\n", rc);
            goto out;
        }
    }
    rv = 0;
out:
    say_msg_close(&s);
    return rv;
}

/* Adds the DM modes (dm_defs) against Corundum host variant v: one Echo
 * replica per chain, made through Kernel.CreateReplica, and a ref with the
 * same chain and cor-tcp's location. Returns 0, or -1 with a message. */
static int dm_modes_add(cor_runtime_t *rt, int v, int threads,
                        const char *tcp_addr, const char *unix_path,
                        const cor_object_id_t *plain_id, cor_ref_t **refs,
                        int *n_refs)
{
    for (size_t d = 0; d < N_DM_DEFS; d++) {
        const dm_def_t *def = &dm_defs[d];
        cor_object_id_t id = *plain_id;
        char name[32];
        cor_error_t err;
        cor_ref_t *ref;

        if (*n_refs == MAX_REFS || n_modes == MAX_MODES) {
            fprintf(stderr, "cor-bench-echo: too many modes\n");
            return -1;
        }
        if (def->chain[0] != '\0') {
            cor_object_id_generate(&id);
            if (create_replica(rt, tcp_addr, &id, def->chain, &err) != 0) {
                fprintf(stderr, "cor-bench-echo: CreateReplica with \"%s\": "
                        "%s\n", def->chain, err.msg);
                return -1;
            }
        }
        ref = cor_ref_new(rt, &id, "echo.Echo", def->chain);
        if (ref == NULL)
            return -1;
        refs[(*n_refs)++] = ref;
        if (cor_ref_set_location(ref, tcp_addr, unix_path, FOREIGN_HOST, 0,
                                 &err) != 0) {
            fprintf(stderr, "cor-bench-echo: ref: %s\n", err.msg);
            return -1;
        }
        snprintf(name, sizeof(name), "%s/t%d", def->base, threads);
        mode_add(name, def->base, def->what, ref);
        modes[n_modes - 1].variant = v;
        modes[n_modes - 1].vary = def->vary;
        if (def->lat)
            modes[n_modes - 1].lat = cor_lat;
        if (def->thr)
            modes[n_modes - 1].thr = cor_thr_sync;
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cor-bench-echo [--quick] [--rounds N] [--seconds S] "
            "[--calls N]\n"
            "                      [--server-threads N[,N...]] "
            "[--raw-server-threads N]\n"
            "                      [--in-flight N] [--json FILE]\n"
            "                      [--modes LIST]\n"
            "  --rounds N              rounds per measurement (default 5)\n"
            "  --seconds S             throughput round length (default 1)\n"
            "  --calls N               latency samples per round "
            "(default 5000)\n"
            "  --server-threads LIST   Corundum host server threads; one "
            "host per value\n"
            "                          (default 2, the runtime default)\n"
            "  --raw-server-threads N  raw gRPC server cq threads "
            "(default 1)\n"
            "  --in-flight N           throughput concurrency (default 32)\n"
            "  --json FILE             also write results as JSON\n"
            "  --modes LIST            only these modes (base names, e.g. "
            "raw-tcp,cor-tcp,\n"
            "                          cor-tcp-nop5,dm-CircuitBreaker)\n"
            "  --quick                 short smoke run (2 rounds)\n"
            "Exit code: 0, or 1 if any call failed or a server did not "
            "start; targets do not affect it.\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"quick", no_argument, NULL, 'q'},
        {"rounds", required_argument, NULL, 'r'},
        {"seconds", required_argument, NULL, 's'},
        {"calls", required_argument, NULL, 'c'},
        {"server-threads", required_argument, NULL, 't'},
        {"raw-server-threads", required_argument, NULL, 'R'},
        {"in-flight", required_argument, NULL, 'i'},
        {"json", required_argument, NULL, 'j'},
        {"modes", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cfg_t cfg = {.rounds = 5, .calls = 5000, .seconds = 1, .in_flight = 32,
                 .inproc_iters = 200000};
    const char *json_path = NULL, *threads_arg = "2", *modes_arg = NULL;
    int threads[MAX_VARIANTS], n_threads = 0, raw_threads = 1, quick = 0;
    int rounds_set = 0, seconds_set = 0, calls_set = 0, o, rv = 1;
    bench_child_t raw_tcp_ch, raw_unix_ch, cor_ch[MAX_VARIANTS];
    raw_child_arg_t raw_tcp_arg, raw_unix_arg;
    cor_child_arg_t cor_arg[MAX_VARIANTS];
    char raw_sock[108], raw_unix_addr[120], target[160], model[128];
    char cor_tcp_addr[MAX_VARIANTS][64];
    raw_client_t *raw_tcp = NULL, *raw_unix = NULL;
    cor_runtime_t *rt = NULL;
    cor_ref_t *refs[MAX_REFS];
    int n_refs = 0, grpc_up = 0, errors_seen = 0;
    cor_error_t err;
    cor_object_id_t remote_id, local_id;
    struct utsname uts;

    memset(cor_arg, 0, sizeof(cor_arg));
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'q': quick = 1; break;
        case 'r': cfg.rounds = atoi(optarg); rounds_set = 1; break;
        case 's': cfg.seconds = atof(optarg); seconds_set = 1; break;
        case 'c': cfg.calls = atoi(optarg); calls_set = 1; break;
        case 't': threads_arg = optarg; break;
        case 'R': raw_threads = atoi(optarg); break;
        case 'i': cfg.in_flight = atoi(optarg); break;
        case 'j': json_path = optarg; break;
        case 'm': modes_arg = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (quick) {
        if (!rounds_set)
            cfg.rounds = 2;
        if (!seconds_set)
            cfg.seconds = 0.25;
        if (!calls_set)
            cfg.calls = 200;
        cfg.inproc_iters = 20000;
    }
    for (const char *p = threads_arg; *p != '\0';) {
        char *end;
        long t = strtol(p, &end, 10);

        if (end == p || t < 1 || t > 16 || n_threads == MAX_VARIANTS ||
            (*end != '\0' && *end != ',')) {
            n_threads = 0;
            break;
        }
        threads[n_threads++] = (int)t;
        p = *end == ',' ? end + 1 : end;
    }
    if (cfg.rounds < 1 || cfg.rounds > 256 || cfg.seconds <= 0 ||
        cfg.calls < 1 || cfg.in_flight < 1 || raw_threads < 1 ||
        n_threads == 0 || optind != argc) {
        usage(stderr);
        return 2;
    }

    bench_child_init(&raw_tcp_ch, "raw-tcp");
    bench_child_init(&raw_unix_ch, "raw-unix");
    for (int i = 0; i < MAX_VARIANTS; i++)
        bench_child_init(&cor_ch[i], "corundum");
    bench_child_signals();

    /* Fork every server while this process has no gRPC state. */
    snprintf(raw_sock, sizeof(raw_sock), "/tmp/cor-bench-echo-%d-raw.sock",
             (int)getpid());
    unlink(raw_sock);
    bench_child_add_path(raw_sock);
    snprintf(raw_unix_addr, sizeof(raw_unix_addr), "unix:%s", raw_sock);
    raw_tcp_arg = (raw_child_arg_t){"127.0.0.1:0", raw_threads};
    raw_unix_arg = (raw_child_arg_t){raw_unix_addr, raw_threads};
    if (bench_child_spawn(&raw_tcp_ch, &raw_child_ops, &raw_tcp_arg) != 0 ||
        bench_child_spawn(&raw_unix_ch, &raw_child_ops, &raw_unix_arg) != 0)
        goto out;
    for (int i = 0; i < n_threads; i++) {
        cor_arg[i].threads = threads[i];
        snprintf(cor_arg[i].unix_path, sizeof(cor_arg[i].unix_path),
                 "/tmp/cor-bench-echo-%d-t%d.sock", (int)getpid(), threads[i]);
        bench_child_add_path(cor_arg[i].unix_path);
        if (bench_child_spawn(&cor_ch[i], &cor_child_ops, &cor_arg[i]) != 0)
            goto out;
        snprintf(cor_tcp_addr[i], sizeof(cor_tcp_addr[i]), "127.0.0.1:%d",
                 cor_ch[i].report);
    }

    if (nop_register() != 0)
        goto out;
    grpc_init();
    grpc_up = 1;
    snprintf(target, sizeof(target), "127.0.0.1:%d", raw_tcp_ch.report);
    if (raw_client_new(target, &raw_tcp) != 0 ||
        raw_client_new(raw_unix_addr, &raw_unix) != 0) {
        fprintf(stderr, "cor-bench-echo: no raw gRPC client\n");
        goto out;
    }
    if (cor_runtime_new(NULL, &rt, &err) != 0 ||
        cor_runtime_register_class(rt, &echo_class, &err) != 0 ||
        cor_object_id_parse(REMOTE_OBJECT, &remote_id) != 0 ||
        cor_object_id_parse(LOCAL_OBJECT, &local_id) != 0 ||
        cor_object_create(rt, "echo.Echo", NULL, 0, &(cor_create_opts_t){.here = 1, .id = &local_id}, &refs[n_refs], &err) != 0) {
        fprintf(stderr, "cor-bench-echo: runtime: %s\n", err.msg);
        goto out;
    }
    n_refs++;
    if (route_check(rt, cor_arg[0].unix_path) != 0)
        goto out;

    /* The table of modes. Order matters only for display and for the
     * round's running order (reversed every other round). */
    mode_add("raw-tcp", "raw-tcp", "raw gRPC C core, loopback TCP", raw_tcp);
    modes[n_modes - 1].lat = raw_lat;
    modes[n_modes - 1].thr = raw_thr;
    for (int i = 0; i < n_threads; i++) {
        char name[32];
        cor_ref_t *ref;

        for (int u = 0; u < 2; u++) {
            ref = cor_ref_new(rt, &remote_id, "echo.Echo", NULL);
            if (ref == NULL)
                goto out;
            refs[n_refs++] = ref;
            /* Both refs carry the full location; only the host id differs,
             * which is what decides unix socket or TCP. */
            if (cor_ref_set_location(ref, cor_tcp_addr[i],
                                     cor_arg[i].unix_path,
                                     u ? cor_runtime_host_id(rt)
                                       : FOREIGN_HOST,
                                     0, &err) != 0) {
                fprintf(stderr, "cor-bench-echo: ref: %s\n", err.msg);
                goto out;
            }
            snprintf(name, sizeof(name), "%s/t%d", u ? "cor-unix" : "cor-tcp",
                     threads[i]);
            mode_add(name, u ? "cor-unix" : "cor-tcp",
                     u ? "Corundum stub, same host id: unix socket"
                       : "Corundum stub, foreign host id: TCP",
                     ref);
            modes[n_modes - 1].lat = cor_lat;
            modes[n_modes - 1].thr = cor_thr;
            modes[n_modes - 1].variant = i;
            /* The DM modes right after cor-tcp, so that the pair being
             * compared runs moments apart in every round. */
            if (!u && dm_modes_add(rt, i, threads[i], cor_tcp_addr[i],
                                   cor_arg[i].unix_path, &remote_id, refs,
                                   &n_refs) != 0)
                goto out;
        }
    }
    mode_add("raw-unix", "raw-unix", "raw gRPC C core, unix socket", raw_unix);
    modes[n_modes - 1].lat = raw_lat;
    modes[n_modes - 1].thr = raw_thr;
    mode_add("direct", "direct", "C call + protobuf-c pack/unpack", NULL);
    modes[n_modes - 1].inproc = direct_inproc;
    mode_add("cor-local", "cor-local", "Corundum stub, co-located object",
             refs[0]);
    modes[n_modes - 1].inproc = local_inproc;
    for (int k = 0; k < 2; k++) {
        /* The co-located object again, with no-op DMs on both sides: the
         * DM path's CPU cost without the network's noise. */
        const char *chain = k ? "Nop1" : NOP5_CHAIN;
        cor_object_id_t nid;
        cor_ref_t *ref;

        cor_object_id_generate(&nid);
        if (cor_runtime_install(rt, &echo_class, &nid, 0, chain, NULL, 0,
                                &err) != 0 ||
            (ref = cor_ref_new(rt, &nid, "echo.Echo", chain)) == NULL) {
            fprintf(stderr, "cor-bench-echo: local DM object: %s\n", err.msg);
            goto out;
        }
        refs[n_refs++] = ref;
        mode_add(k ? "cor-local-nop1" : "cor-local-nop5",
                 k ? "cor-local-nop1" : "cor-local-nop5",
                 k ? "co-located, one no-op DM" : "co-located, five no-op DMs",
                 ref);
        modes[n_modes - 1].inproc = local_inproc;
    }
    if (modes_arg != NULL)
        modes_filter(modes_arg);
    if (n_modes == 0 || modes_alloc_results(cfg.rounds) != 0)
        goto out;

    machine_model(model, sizeof(model));
    if (uname(&uts) != 0)
        snprintf(uts.release, sizeof(uts.release), "?");
    printf("cor-bench-echo: %ld cpus (%s), Linux %s\n",
           sysconf(_SC_NPROCESSORS_ONLN), model, uts.release);
    printf("servers: raw gRPC with %d cq thread(s); Corundum host(s) with "
           "%s server thread(s); each its own process\n", raw_threads,
           threads_arg);
    printf("rounds: %d per measurement, order reversed every other round; "
           "latency %d calls/round; throughput %.2g s/round at %d in "
           "flight; in-process %d calls/round\n", cfg.rounds, cfg.calls,
           cfg.seconds, cfg.in_flight, cfg.inproc_iters);
    printf("payload: raw sends N opaque bytes; Corundum and direct send a "
           "message (text + blob) packed to N bytes\n");
    fflush(stdout);

    if (run_all(&cfg) != 0)
        goto out;

    print_tables(&cfg);
    print_ratios(&cfg, stdout, NULL);
    printf("\ntargets are informational; the exit code reflects only "
           "failed calls\n");
    for (int i = 0; i < n_modes; i++)
        for (int met = 0; met < MET_COUNT; met++)
            for (size_t p = 0; p < N_PAYLOADS; p++)
                if (mode_errors(&modes[i], met, p, cfg.rounds) > 0)
                    errors_seen = 1;
    if (json_path != NULL &&
        write_json(json_path, &cfg, threads_arg, model) != 0)
        goto out;
    if (errors_seen)
        fprintf(stderr, "cor-bench-echo: some calls failed\n");
    else
        rv = 0;
out:
    fflush(stdout);
    for (int i = 0; i < n_refs; i++)
        cor_ref_free(refs[i]);
    cor_runtime_free(rt);
    raw_client_free(raw_tcp);
    raw_client_free(raw_unix);
    if (grpc_up)
        grpc_shutdown_blocking();
    modes_free_results();
    if (bench_child_reap(&raw_tcp_ch) != 0) {
        fprintf(stderr, "cor-bench-echo: raw TCP server ended badly\n");
        rv = 1;
    }
    if (bench_child_reap(&raw_unix_ch) != 0) {
        fprintf(stderr, "cor-bench-echo: raw unix server ended badly\n");
        rv = 1;
    }
    for (int i = 0; i < MAX_VARIANTS; i++) {
        if (bench_child_reap(&cor_ch[i]) != 0) {
            fprintf(stderr, "cor-bench-echo: Corundum host %d ended badly\n",
                    i);
            rv = 1;
        }
    }
    unlink(raw_sock);
    for (int i = 0; i < n_threads; i++)
        unlink(cor_arg[i].unix_path);
    return rv;
}
