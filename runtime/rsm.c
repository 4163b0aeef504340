/*
 * rsm.c — ConsensusRSM replicas: the Raft core driven for hosted objects
 * (see rsm.h for where it sits).
 *
 * Design. Each replica is a cor_rsm_t beside its object: the core, the
 * store (<data dir>/raft/<object id>/), the peers as the OMS last sent
 * them, the calls waiting for their entry to apply, and a table of answers
 * by call id. Other threads only put things in its inbox (Raft messages,
 * calls, a new replica set) and wake the runtime's one Raft thread, which
 * owns everything else: every RSM_TICK_MS it ticks each replica, feeds it
 * its inbox, and runs its updates — a leader's appends sent at once, then
 * persist (fsync) before everything else is sent (one-way
 * Kernel.RaftMessage calls), then apply.
 *
 * A log entry is a packed cor.InvokeRequest: method, payload, call id
 * (client id and sequence number), caller. Applying it runs the call the
 * ordinary way (cor_obj_invoke, so the object's server DM parts and its
 * method, in its turn) on every replica, in log order; the answer is kept
 * under the call id, so a call retried after a failover is answered from
 * the table and never runs twice (deterministically on every replica: the
 * table is part of the replicated state). read_only methods are not
 * logged: the leader confirms its leadership (ReadIndex) and runs them once
 * it has applied that far.
 *
 * Every 1,024 applied entries a replica snapshots itself (the class's
 * save_state and the answer table, in the object's turn) and the log up
 * to there is dropped, in memory and on disk; a follower that needs what
 * was dropped gets the leader's snapshot and loads it (load_state) before
 * applying what follows. A restart loads the stored snapshot first.
 *
 * A group forms when its replicas get their first replica set from the
 * OMS: a replica with a store loads it; one with an empty store bootstraps
 * with every member as a voter if the set is the founding one (sent right
 * after the create), and otherwise waits, empty, for the leader to add it.
 * A member's Raft id is a hash of its node name and the kernel server's
 * incarnation when the replica was made, so a replica made again on the
 * same node (after a restart that lost it) is a new member, never the old
 * one with its memory gone; a replica made here always starts from an
 * empty store (an older replica's files are wiped).
 *
 * Membership follows the OMS: the leader compares the replica set the OMS
 * last sent with its Raft configuration and makes one change at a time
 * toward it — a new replica joins as a learner, is promoted to voter once
 * it has caught up, and only then is a member the OMS no longer lists
 * removed. So a replacement counts before the replica it replaces stops
 * counting, and `corctl migrate --replica` is the same three steps.
 *
 * Failure modes: a call reaching a follower, or a leader that loses its
 * leadership before the call's entry applies, fails with ENOTLEADER (the
 * client part retries elsewhere, with the same call id); a group not yet
 * formed, EUNAVAIL; a store write that fails stops the replica (it answers
 * EUNAVAIL from then on: what is on disk stays a consistent prefix). A
 * Raft message from a node outside the replica set, or one that does not
 * decode, is dropped with a log line.
 */
#include "rsm.h"

#include <cor/log.h>
#include <cor/raft.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cor/kernel.pb-c.h"
#include "dm_int.h"
#include "host.h"
#include "rpc.h"
#include "runtime_int.h"
#include "store.h"

#define RSM_TICK_MS 20
#define RSM_ELECTION_TICKS 10 /* 200-400 ms */
#define RSM_HEARTBEAT_TICKS 2
#define RSM_MAX_PEERS COR_RAFT_MAX_MEMBERS
#define DEDUP_MAX 4096
#define DEDUP_BUCKETS 8192
#define RSM_SNAP_EVERY 1024 /* applied entries between two snapshots */
#define RSM_CATCHUP 64       /* a learner this close to the commit index is promoted */
#define RSM_DROP_LOG_MS 10000 /* how often a stranger's dropped messages are logged */
#define SNAP_VERSION 1

/* ---------------- calls waiting for the log ---------------- */

typedef struct waiter {
    struct waiter *next;
    cor_invoke_t inv;    /* a copy; its pointers into data[] */
    cor_invoke_t *orig;  /* a caller that waits (its outcome goes here), or NULL */
    cor_error_t err;
    cor_redirect_t moved;
    const ProtobufCMessageDescriptor *reply_desc;
    const char *method; /* the class's method name */
    int read_only;
    uint64_t index, term; /* the entry, once proposed */
    uint64_t ctx;         /* the read, once asked */
    uint64_t read_index;
    int read_ready;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    uint8_t data[];
} waiter_t;

typedef struct rmsg {
    struct rmsg *next;
    char from[64];
    size_t len;
    uint8_t bytes[];
} rmsg_t;

/* An answer kept under its call id. */
typedef struct answer {
    struct answer *chain;
    unsigned char client[16];
    uint64_t seq;
    int rc;
    char *msg;
    uint8_t *bytes;
    size_t len;
} answer_t;

typedef struct peer {
    cor_raft_id_t id;
    char node[64];
    char target[COR_ADDR_MAX];
} peer_t;

struct cor_rsm {
    cor_runtime_t *rt;
    cor_obj_t *o;
    struct cor_rsm *next; /* the runtime's list */

    pthread_mutex_t lock; /* the inbox */
    rmsg_t *msgs, **msgs_tail;
    waiter_t *calls, **calls_tail;
    cor_dm_replica_t *members;
    int n_members, members_new;
    int members_founding; /* a founding set came (before the group formed) */
    int got_members;      /* any set came (cor_rsm_members) */
    long long made_ms;    /* when the replica was made (monotonic) */
    long long asked_ms;   /* when it last asked the OMS for its set itself */
    int detached;  /* no new calls: the replica is going (deleted, or shutdown) */
    int erase;     /* deleted: its store's files go when it is freed */
    int gone_code; /* what a call then gets: ENOTFOUND or ESHUTDOWN */

    /* The Raft thread's. */
    cor_raft_t *raft;
    cor_raft_store_t *store;
    char dir[1024 + 64];
    int broken;
    cor_raft_id_t self;
    uint64_t member_inc; /* the incarnation the replica was made under (its Raft id's) */
    peer_t peers[RSM_MAX_PEERS];
    int n_peers;
    long long last_tick;
    waiter_t *waiting; /* proposed or reading */
    uint64_t next_ctx;
    long long drop_logged; /* when a stranger's message was last logged (ms) */
    unsigned long dropped; /* strangers' messages dropped since */
    struct {            /* for Kernel.GetState probes; under lock */
        char role[16], leader[64];
        uint64_t term, commit, applied, last, snap;
        uint32_t voters, learners;
    } status;
    answer_t *buckets[DEDUP_BUCKETS];
    answer_t *ring[DEDUP_MAX];
    size_t ring_next, n_answers;
    uint64_t early; /* test-only break: the highest index run before it committed */
};

/* The object this thread is applying entries to. */
static _Thread_local const cor_obj_t *tls_applying;

int cor_rsm_applying(const cor_obj_t *o)
{
    return tls_applying == o;
}

/* A member's Raft id: its node name and the server's incarnation when the
 * replica was made there. */
static cor_raft_id_t member_id(const char *node, uint64_t incarnation)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)node; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    for (int i = 0; i < 8; i++)
        h = (h ^ ((incarnation >> (8 * i)) & 0xff)) * 1099511628211ULL;
    return h ? h : 1;
}

/* ---------------- answers by call id ---------------- */

static size_t answer_slot(const unsigned char *client, uint64_t seq)
{
    uint64_t h = seq * 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < 16; i++)
        h = (h ^ client[i]) * 1099511628211ULL;
    return (size_t)(h % DEDUP_BUCKETS);
}

static answer_t *answer_find(cor_rsm_t *s, const unsigned char *client, uint64_t seq)
{
    for (answer_t *a = s->buckets[answer_slot(client, seq)]; a != NULL; a = a->chain)
        if (a->seq == seq && memcmp(a->client, client, 16) == 0)
            return a;
    return NULL;
}

static void answer_unlink(cor_rsm_t *s, answer_t *a)
{
    answer_t **pp = &s->buckets[answer_slot(a->client, a->seq)];
    while (*pp != a)
        pp = &(*pp)->chain;
    *pp = a->chain;
    free(a->msg);
    free(a->bytes);
    free(a);
}

/* Keeps an answer; the oldest goes when the table is full (the same one
 * on every replica: entries apply in the same order everywhere). */
static void answer_keep(cor_rsm_t *s, const unsigned char *client, uint64_t seq, int rc,
                        const char *msg, const uint8_t *b, size_t n)
{
    answer_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return;
    memcpy(a->client, client, 16);
    a->seq = seq;
    a->rc = rc;
    a->msg = strdup(msg != NULL ? msg : "");
    a->len = n;
    if (n > 0 && (a->bytes = malloc(n)) != NULL)
        memcpy(a->bytes, b, n);
    if ((n > 0 && a->bytes == NULL) || a->msg == NULL) {
        free(a->bytes);
        free(a->msg);
        free(a);
        return;
    }
    if (s->ring[s->ring_next] != NULL)
        answer_unlink(s, s->ring[s->ring_next]);
    s->ring[s->ring_next] = a;
    s->ring_next = (s->ring_next + 1) % DEDUP_MAX;
    size_t k = answer_slot(client, seq);
    a->chain = s->buckets[k];
    s->buckets[k] = a;
}

static void answers_clear(cor_rsm_t *s)
{
    for (size_t i = 0; i < DEDUP_MAX; i++)
        if (s->ring[i] != NULL) {
            answer_unlink(s, s->ring[i]);
            s->ring[i] = NULL;
        }
    s->ring_next = 0;
}

/* ---------------- snapshots ----------------
 *
 * A snapshot is the object's state (the class's save_state) and the table
 * of answers, oldest first:
 *   u32 version | u32 state_len | state | u32 n |
 *   n x (16 client | u64 seq | i32 rc | u32 msg_len | msg | u32 len | bytes)
 * Server DM parts inside the chain keep no state through a snapshot: the
 * answer table is what makes calls apply once. */

static void put32(uint8_t **p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        *(*p)++ = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t **p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        *(*p)++ = (uint8_t)(v >> (8 * i));
}

static int get32(const uint8_t **p, const uint8_t *end, uint32_t *v)
{
    if (end - *p < 4)
        return -1;
    *v = 0;
    for (int i = 0; i < 4; i++)
        *v |= (uint32_t)(*p)[i] << (8 * i);
    *p += 4;
    return 0;
}

static int get64(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    if (end - *p < 8)
        return -1;
    *v = 0;
    for (int i = 0; i < 8; i++)
        *v |= (uint64_t)(*p)[i] << (8 * i);
    *p += 8;
    return 0;
}

typedef struct state_io {
    cor_rsm_t *s;
    const uint8_t *in;
    size_t in_len;
    uint8_t *out;
    size_t out_len;
    int rc;
    cor_error_t err;
} state_io_t;

static void save_fn(void *arg)
{
    state_io_t *io = arg;
    cor_obj_t *o = io->s->o;
    cor_arena_t arena;
    cor_arena_init(&arena, 0);
    cor_ctx_t ctx = {.rt = io->s->rt, .arena = &arena, .id = &o->id, .err = &io->err};
    io->rc = o->cls->save_state(o->self, &ctx, &io->out, &io->out_len);
    cor_arena_close(&arena);
}

static void load_fn(void *arg)
{
    state_io_t *io = arg;
    cor_obj_t *o = io->s->o;
    cor_arena_t arena;
    cor_arena_init(&arena, 0);
    cor_ctx_t ctx = {.rt = io->s->rt, .arena = &arena, .id = &o->id, .err = &io->err};
    void *fresh = NULL;
    io->rc = o->cls->load_state(&ctx, io->in, io->in_len, &fresh);
    cor_arena_close(&arena);
    if (io->rc == 0) {
        o->cls->destroy(o->self);
        o->self = fresh;
    }
}

/* Takes a snapshot at the applied index when enough entries went by. */
static void maybe_snapshot(cor_rsm_t *s)
{
    uint64_t applied = cor_raft_applied(s->raft);
    if (applied < cor_raft_snap_index(s->raft) + RSM_SNAP_EVERY || s->o->cls->save_state == NULL)
        return;
    state_io_t io = {.s = s};
    cor_error_clear(&io.err);
    cor_obj_run_sync(s->o, save_fn, &io);
    if (io.rc != 0) {
        cor_log_warn("object %s: save_state failed (%s): no snapshot, the log keeps growing",
                     s->o->idstr, io.err.msg);
        free(io.out);
        return;
    }
    size_t n = 4 + 4 + io.out_len + 4, count = 0;
    for (size_t k = 0; k < DEDUP_MAX; k++) {
        const answer_t *a = s->ring[(s->ring_next + k) % DEDUP_MAX];
        if (a != NULL) {
            n += 16 + 8 + 4 + 4 + strlen(a->msg) + 4 + a->len;
            count++;
        }
    }
    uint8_t *b = malloc(n), *p = b;
    if (b == NULL) {
        free(io.out);
        return;
    }
    put32(&p, SNAP_VERSION);
    put32(&p, (uint32_t)io.out_len);
    if (io.out_len)
        memcpy(p, io.out, io.out_len);
    p += io.out_len;
    free(io.out);
    put32(&p, (uint32_t)count);
    for (size_t k = 0; k < DEDUP_MAX; k++) {
        const answer_t *a = s->ring[(s->ring_next + k) % DEDUP_MAX];
        if (a == NULL)
            continue;
        memcpy(p, a->client, 16);
        p += 16;
        put64(&p, a->seq);
        put32(&p, (uint32_t)a->rc);
        size_t ml = strlen(a->msg);
        put32(&p, (uint32_t)ml);
        memcpy(p, a->msg, ml);
        p += ml;
        put32(&p, (uint32_t)a->len);
        if (a->len)
            memcpy(p, a->bytes, a->len);
        p += a->len;
    }
    cor_error_t err;
    int rc = cor_raft_snapshot(s->raft, applied, b, n);
    if (rc == 0)
        rc = cor_raft_store_snapshot(s->store, applied, cor_raft_term_at(s->raft, applied),
                                     cor_raft_snap_conf(s->raft), b, n, &err);
    else
        cor_error_set(&err, rc, "the Raft core refused it");
    free(b);
    if (rc != 0) {
        cor_log_error("object %s: snapshot at %llu: %s; this replica stops", s->o->idstr,
                      (unsigned long long)applied, err.msg);
        s->broken = 1;
    }
}

/* Loads a snapshot into the object and the answer table (in its turn).
 * 0, or -1 with the reason logged. */
static int install(cor_rsm_t *s, const uint8_t *b, size_t n, uint64_t index)
{
    const uint8_t *p = b, *end = b + n;
    uint32_t version, state_len, count;
    if (get32(&p, end, &version) != 0 || version != SNAP_VERSION ||
        get32(&p, end, &state_len) != 0 || state_len > (size_t)(end - p)) {
        cor_log_error("object %s: snapshot at %llu is malformed", s->o->idstr,
                      (unsigned long long)index);
        return -1;
    }
    if (s->o->cls->load_state == NULL) {
        cor_log_error("object %s: class %s cannot load a snapshot (no load_state)", s->o->idstr,
                      s->o->cls->name);
        return -1;
    }
    state_io_t io = {.s = s, .in = p, .in_len = state_len};
    cor_error_clear(&io.err);
    cor_obj_run_sync(s->o, load_fn, &io);
    if (io.rc != 0) {
        cor_log_error("object %s: load_state of the snapshot at %llu failed: %s", s->o->idstr,
                      (unsigned long long)index, io.err.msg);
        return -1;
    }
    p += state_len;
    answers_clear(s);
    if (get32(&p, end, &count) != 0)
        return -1;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t seq;
        uint32_t rc, ml, len;
        const uint8_t *client = p;
        if (end - p < 16)
            return -1;
        p += 16;
        if (get64(&p, end, &seq) != 0 || get32(&p, end, &rc) != 0 || get32(&p, end, &ml) != 0 ||
            ml > (size_t)(end - p))
            return -1;
        char msg[COR_ERROR_MSG_MAX];
        snprintf(msg, sizeof(msg), "%.*s", (int)(ml < sizeof(msg) ? ml : sizeof(msg) - 1), p);
        p += ml;
        if (get32(&p, end, &len) != 0 || len > (size_t)(end - p))
            return -1;
        answer_keep(s, client, seq, (int)rc, msg, p, len);
        p += len;
    }
    cor_log_info("object %s: loaded the snapshot at %llu (%u bytes of state, %u answers)",
                 s->o->idstr, (unsigned long long)index, state_len, count);
    return 0;
}

/* ---------------- finishing calls ---------------- */

static void waiter_free(waiter_t *w)
{
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    free(w);
}

/* Hands the outcome to the caller: a waiting one wakes (and frees w), an
 * asynchronous one's done runs here and w is freed. */
static void finish(waiter_t *w)
{
    if (w->orig != NULL) {
        pthread_mutex_lock(&w->lock);
        w->done = 1;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
        return;
    }
    w->inv.done(&w->inv);
    waiter_free(w);
}

static void fail(waiter_t *w, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(waiter_t *w, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char msg[COR_ERROR_MSG_MAX];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    w->inv.rc = cor_error_set(w->inv.err, code, "ConsensusRSM: %s", msg);
    finish(w);
}

/* Delivers an outcome (reply payload bytes when rc is 0) in w's form. */
static void deliver(waiter_t *w, int rc, const char *msg, const uint8_t *b, size_t n)
{
    cor_invoke_t *inv = &w->inv;
    inv->rc = rc;
    if (rc != 0) {
        cor_error_set(inv->err, rc, "%s", msg != NULL && msg[0] ? msg : cor_strerror(rc));
    } else if (inv->form == COR_REPLY_BYTES) {
        inv->reply = malloc(n ? n : 1);
        if (inv->reply == NULL)
            inv->rc = cor_error_set(inv->err, COR_ENOMEM, "out of memory");
        else if (n)
            memcpy(inv->reply, b, n);
        inv->reply_len = n;
    } else if (inv->form == COR_REPLY_ENVELOPE) {
        Cor__InvokeReply env = COR__INVOKE_REPLY__INIT;
        env.payload.data = (uint8_t *)b;
        env.payload.len = n;
        inv->out = grpc_slice_malloc(cor__invoke_reply__get_packed_size(&env));
        cor__invoke_reply__pack(&env, GRPC_SLICE_START_PTR(inv->out));
    } else {
        inv->reply_msg = protobuf_c_message_unpack(w->reply_desc, NULL, n, b);
        if (inv->reply_msg == NULL)
            inv->rc = cor_error_set(inv->err, COR_EPROTO, "reply is not a %s", w->reply_desc->name);
    }
    finish(w);
}

/* ---------------- applying ---------------- */

/* Runs one call on the object the ordinary way (its turn, its server DM
 * parts, its method), as the apply loop. Outcome: rc, err, reply bytes
 * (malloc'd, caller frees). */
static int run_call(cor_rsm_t *s, const char *method, uint64_t fingerprint, const uint8_t *req,
                    size_t len, const unsigned char *client, uint64_t seq, const char *caller,
                    cor_error_t *err, uint8_t **reply, size_t *reply_len)
{
    cor_redirect_t moved;
    cor_invoke_t inv = {.method = method, .fingerprint = fingerprint, .req = req, .req_len = len,
                        .client_id = client, .seq = seq, .caller_node = caller,
                        .form = COR_REPLY_BYTES, .err = err, .moved = &moved};
    cor_error_clear(err);
    const cor_obj_t *outer = tls_applying;
    tls_applying = s->o;
    int rc = cor_obj_invoke(s->rt, s->o, &inv);
    tls_applying = outer;
    *reply = rc == 0 ? inv.reply : NULL;
    *reply_len = rc == 0 ? inv.reply_len : 0;
    if (rc != 0)
        free(inv.reply);
    return rc;
}

static waiter_t *take_waiter(cor_rsm_t *s, int (*match)(waiter_t *, uint64_t), uint64_t key)
{
    for (waiter_t **pp = &s->waiting; *pp != NULL; pp = &(*pp)->next) {
        if (match(*pp, key)) {
            waiter_t *w = *pp;
            *pp = w->next;
            w->next = NULL;
            return w;
        }
    }
    return NULL;
}

static int by_index(waiter_t *w, uint64_t index)
{
    return !w->read_only && w->index == index;
}

static int by_ctx(waiter_t *w, uint64_t ctx)
{
    return w->read_only && w->ctx == ctx;
}

static void apply_entry(cor_rsm_t *s, const cor_raft_entry_t *e)
{
    waiter_t *w = take_waiter(s, by_index, e->index);
    if (w != NULL && w->term != e->term) {
        fail(w, COR_ENOTLEADER, "the call's log entry was replaced by a newer leader's; retry");
        w = NULL;
    }
    if (e->type != COR_RAFT_NORMAL)
        return;
    Cor__InvokeRequest *req = cor__invoke_request__unpack(NULL, e->len, e->data);
    if (req == NULL) {
        cor_log_error("object %s: log entry %llu is not a call; skipped", s->o->idstr,
                      (unsigned long long)e->index);
        if (w != NULL)
            fail(w, COR_EINTERNAL, "log entry %llu is not a call", (unsigned long long)e->index);
        return;
    }
    const unsigned char *client = req->client_id.len == 16 ? req->client_id.data : NULL;
    answer_t *a = client != NULL ? answer_find(s, client, req->seq) : NULL;
    if (a != NULL) {
        /* Applied before under this call id: answer as then, run nothing. */
        if (w != NULL)
            deliver(w, a->rc, a->msg, a->bytes, a->len);
    } else {
        cor_error_t err;
        uint8_t *reply = NULL;
        size_t n = 0;
        int rc = run_call(s, req->method, req->fingerprint, req->payload.data, req->payload.len,
                          client, req->seq, req->caller_node, &err, &reply, &n);
        if (client != NULL)
            answer_keep(s, client, req->seq, rc, err.msg, reply, n);
        if (w != NULL)
            deliver(w, rc, err.msg, reply, n);
        free(reply);
    }
    cor__invoke_request__free_unpacked(req, NULL);
}

/* A deliberately broken build for the cluster tests, chosen at run time
 * (COR_TEST_BREAK=ack-before-commit, docs/cluster-tests.md): a leader runs
 * its own new entries, and answers their callers, as soon as its own store
 * has them, before a majority does, so a leader that dies or is cut off
 * right after answering loses acknowledged calls. cor-check must catch it.
 * Never set it outside those tests. */
static pthread_once_t break_once = PTHREAD_ONCE_INIT;
static int break_ack;

static void read_break(void)
{
    const char *b = getenv("COR_TEST_BREAK");
    break_ack = b != NULL && strcmp(b, "ack-before-commit") == 0;
}

static int broken_ack_before_commit(void)
{
    pthread_once(&break_once, read_break);
    return break_ack;
}

/* The break: after u's entries are persisted, a leader applies those of
 * its term that follow what it has applied, as if committed; apply_entry's
 * caller then skips them when they commit. */
static void apply_early(cor_rsm_t *s, const cor_raft_update_t *u)
{
    uint64_t done = cor_raft_applied(s->raft);
    if (u->n_committed > 0 && u->committed[u->n_committed - 1].index > done)
        done = u->committed[u->n_committed - 1].index;
    if (s->early > done)
        done = s->early;
    for (size_t i = 0; i < u->n_entries; i++) {
        const cor_raft_entry_t *e = &u->entries[i];
        if (e->index == done + 1 && e->term == cor_raft_term(s->raft)) {
            apply_entry(s, e);
            s->early = done = e->index;
        }
    }
}

static void serve_read(cor_rsm_t *s, waiter_t *w)
{
    cor_error_t err;
    uint8_t *reply = NULL;
    size_t n = 0;
    int rc = run_call(s, w->method, w->inv.fingerprint, w->inv.req, w->inv.req_len,
                      w->inv.client_id, w->inv.seq, w->inv.caller_node, &err, &reply, &n);
    deliver(w, rc, err.msg, reply, n);
    free(reply);
}

/* Reads whose index has been applied run now. */
static void serve_ready_reads(cor_rsm_t *s)
{
    uint64_t applied = cor_raft_applied(s->raft);
    for (waiter_t **pp = &s->waiting; *pp != NULL;) {
        waiter_t *w = *pp;
        if (w->read_only && w->read_ready && w->read_index <= applied) {
            *pp = w->next;
            serve_read(s, w);
        } else {
            pp = &w->next;
        }
    }
}

static void fail_all_waiting(cor_rsm_t *s, int code, const char *why)
{
    while (s->waiting != NULL) {
        waiter_t *w = s->waiting;
        s->waiting = w->next;
        fail(w, code, "%s", why);
    }
}

/* ---------------- sending ---------------- */

static void sent_cb(void *arg, int code, const char *msg, const cor_redirect_t *moved,
                    const uint8_t *reply, size_t len)
{
    /* One-way: a lost message is Raft's ordinary weather. */
}

static const peer_t *peer_by_id(const cor_rsm_t *s, cor_raft_id_t id)
{
    for (int i = 0; i < s->n_peers; i++)
        if (s->peers[i].id == id)
            return &s->peers[i];
    return NULL;
}

static void send_msg(cor_rsm_t *s, const cor_raft_msg_t *m)
{
    const peer_t *p = peer_by_id(s, m->to);
    if (p == NULL || p->target[0] == '\0')
        return;
    size_t n = cor_raft_msg_size(m);
    uint8_t *b = malloc(n);
    if (b == NULL)
        return;
    cor_raft_msg_encode(m, b);
    Cor__RaftMessageRequest req = COR__RAFT_MESSAGE_REQUEST__INIT;
    req.object_id.data = s->o->id.b;
    req.object_id.len = sizeof(s->o->id.b);
    req.from_node = s->rt->node_name;
    req.msg.data = b;
    req.msg.len = n;
    grpc_slice slice = grpc_slice_malloc(cor__raft_message_request__get_packed_size(&req));
    cor__raft_message_request__pack(&req, GRPC_SLICE_START_PTR(slice));
    free(b);
    cor_peer_t *peer = cor_client_peer(s->rt->client, p->target);
    if (peer == NULL) {
        grpc_slice_unref(slice);
        return;
    }
    cor_client_call_async(s->rt->client, peer, COR_M_RAFT_MESSAGE, slice, 1000, sent_cb, NULL);
}

/* ---------------- the replica's life on the Raft thread ---------------- */

static void set_peers(cor_rsm_t *s, const cor_dm_replica_t *m, int n)
{
    s->n_peers = 0;
    for (int i = 0; i < n && s->n_peers < RSM_MAX_PEERS; i++) {
        peer_t *p = &s->peers[s->n_peers++];
        p->id = member_id(m[i].node, m[i].incarnation);
        snprintf(p->node, sizeof(p->node), "%s", m[i].node);
        snprintf(p->target, sizeof(p->target), "%s", m[i].tcp_address);
    }
}

static int cmp_member(const void *a, const void *b)
{
    const cor_raft_member_t *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Forms the group: loads the store; or, with an empty one, bootstraps it
 * with every replica the OMS named as a voter (a founding set) or waits
 * for the leader to add this replica (a later one). */
static void start(cor_rsm_t *s, int founding)
{
    cor_raft_store_state_t st;
    cor_raft_store_state(s->store, &st);
    cor_raft_options_t o = {.id = s->self, .election_ticks = RSM_ELECTION_TICKS,
                            .heartbeat_ticks = RSM_HEARTBEAT_TICKS,
                            .seed = s->self ^ (uint64_t)cor_mono_us()};
    cor_raft_t *r = cor_raft_new(&o);
    if (r == NULL) {
        cor_log_error("object %s: out of memory starting its replica", s->o->idstr);
        return;
    }
    int rc = 0;
    if (st.term == 0 && st.n_entries == 0 && st.snap_index == 0 && !founding) {
        cor_log_info("object %s: a new replica; waiting for the group's leader to add it",
                     s->o->idstr);
    } else if (st.term == 0 && st.n_entries == 0 && st.snap_index == 0) {
        cor_raft_conf_t conf = {0};
        for (int i = 0; i < s->n_peers && conf.n < COR_RAFT_MAX_MEMBERS; i++)
            conf.m[conf.n++] = (cor_raft_member_t){s->peers[i].id, true};
        qsort(conf.m, conf.n, sizeof(conf.m[0]), cmp_member);
        rc = cor_raft_bootstrap(r, &conf);
    } else {
        rc = cor_raft_load(r, st.term, st.vote, st.snap_index, st.snap_term, &st.snap_conf,
                           st.snap, st.snap_len, st.entries, st.n_entries);
    }
    if (rc != 0) {
        cor_log_error("object %s: its Raft state in %s does not load (%s); this replica stays "
                      "down",
                      s->o->idstr, s->dir, cor_strerror(rc));
        cor_raft_free(r);
        s->broken = 1;
        return;
    }
    if (st.snap_index > 0 && install(s, st.snap, st.snap_len, st.snap_index) != 0) {
        cor_raft_free(r);
        s->broken = 1;
        return;
    }
    s->raft = r;
    s->last_tick = cor_mono_ms();
}

static void run_updates(cor_rsm_t *s)
{
    cor_raft_update_t u;
    while (s->raft != NULL && !s->broken && cor_raft_ready(s->raft, &u)) {
        cor_error_t err;
        for (size_t i = 0; i < u.n_early; i++) /* a leader's appends: before its fsync */
            send_msg(s, &u.early[i]);
        if (cor_raft_store_persist(s->store, &u, &err) != 0) {
            cor_log_error("object %s: %s; this replica stops", s->o->idstr, err.msg);
            s->broken = 1;
            cor_raft_advance(s->raft, &u);
            fail_all_waiting(s, COR_EUNAVAIL, "this replica's store failed");
            return;
        }
        for (size_t i = 0; i < u.n_msgs; i++)
            send_msg(s, &u.msgs[i]);
        if (u.snapshot_received && install(s, u.snap, u.snap_len, u.snap_index) != 0) {
            cor_log_error("object %s: the snapshot from the leader does not load; this replica "
                          "stops",
                          s->o->idstr);
            s->broken = 1;
            cor_raft_advance(s->raft, &u);
            fail_all_waiting(s, COR_EUNAVAIL, "this replica could not load a snapshot");
            return;
        }
        for (size_t i = 0; i < u.n_committed; i++)
            if (u.committed[i].index > s->early) /* else run early (the test-only break) */
                apply_entry(s, &u.committed[i]);
        if (broken_ack_before_commit() && cor_raft_role(s->raft) == COR_RAFT_LEADER)
            apply_early(s, &u);
        for (size_t i = 0; i < u.n_reads; i++) {
            waiter_t *w = take_waiter(s, by_ctx, u.reads[i].ctx);
            if (w == NULL)
                continue;
            if (u.reads[i].failed) {
                fail(w, COR_ENOTLEADER, "leadership lost before the read was confirmed; retry");
                continue;
            }
            w->read_ready = 1;
            w->read_index = u.reads[i].index;
            w->next = s->waiting;
            s->waiting = w;
        }
        cor_raft_advance(s->raft, &u);
    }
    if (s->raft != NULL && !s->broken) {
        serve_ready_reads(s);
        maybe_snapshot(s);
    }
}

static const char *leader_node(const cor_rsm_t *s)
{
    const peer_t *p = s->raft != NULL ? peer_by_id(s, cor_raft_leader(s->raft)) : NULL;
    return p != NULL ? p->node : NULL;
}

static void not_leader(cor_rsm_t *s, waiter_t *w)
{
    const char *l = leader_node(s);
    if (l != NULL)
        fail(w, COR_ENOTLEADER, "%s is not the leader; %s is", s->rt->node_name, l);
    else
        fail(w, COR_ENOTLEADER, "%s is not the leader, and no leader is known (an election is "
                                "under way)",
             s->rt->node_name);
}

static void submit(cor_rsm_t *s, waiter_t *w)
{
    if (s->raft == NULL || s->broken) {
        fail(w, COR_EUNAVAIL, s->broken ? "this replica is down (see the kernel server's log)"
                                        : "the replica group has not formed yet");
        return;
    }
    if (cor_raft_role(s->raft) != COR_RAFT_LEADER) {
        not_leader(s, w);
        return;
    }
    if (w->read_only) {
        w->ctx = ++s->next_ctx;
        if (cor_raft_read(s->raft, w->ctx) != 0) {
            not_leader(s, w);
            return;
        }
    } else {
        /* A retried call already applied here: answer it again. */
        const unsigned char *client = w->inv.client_id;
        answer_t *a = client != NULL ? answer_find(s, client, w->inv.seq) : NULL;
        if (a != NULL) {
            deliver(w, a->rc, a->msg, a->bytes, a->len);
            return;
        }
        Cor__InvokeRequest req = COR__INVOKE_REQUEST__INIT;
        req.object_id.data = s->o->id.b;
        req.object_id.len = sizeof(s->o->id.b);
        req.method = (char *)w->method;
        req.fingerprint = w->inv.fingerprint;
        req.payload.data = (uint8_t *)w->inv.req;
        req.payload.len = w->inv.req_len;
        if (client != NULL) {
            req.client_id.data = (uint8_t *)client;
            req.client_id.len = 16;
        }
        req.seq = w->inv.seq;
        req.caller_node = (char *)(w->inv.caller_node != NULL ? w->inv.caller_node : "");
        size_t n = cor__invoke_request__get_packed_size(&req);
        uint8_t *b = malloc(n ? n : 1);
        if (b == NULL) {
            fail(w, COR_ENOMEM, "out of memory");
            return;
        }
        cor__invoke_request__pack(&req, b);
        int rc = cor_raft_propose(s->raft, b, n, &w->index, &w->term);
        free(b);
        if (rc == COR_ESTATE) {
            fail(w, COR_ENOTLEADER, "leadership is being handed over; retry");
            return;
        }
        if (rc != 0) {
            not_leader(s, w);
            return;
        }
    }
    w->next = s->waiting;
    s->waiting = w;
}

static int is_peer(const cor_rsm_t *s, const char *node)
{
    for (int i = 0; i < s->n_peers; i++)
        if (strcmp(s->peers[i].node, node) == 0)
            return 1;
    return 0;
}

/* On the leader: the next membership change toward the replica set the
 * OMS last sent (see the top of the file). 1 when one was made. */
static int reconcile(cor_rsm_t *s)
{
    const cor_raft_conf_t *c = cor_raft_conf(s->raft);
    if (s->n_peers == 0 || c->n == 0)
        return 0;
    int change = 0, pending = 0;
    cor_raft_id_t id = 0;
    const char *node = "";
    char unlisted[64];
    for (int i = 0; i < s->n_peers && change == 0; i++)
        if (cor_raft_conf_find(c, s->peers[i].id) == NULL) {
            change = COR_RAFT_ADD_LEARNER;
            id = s->peers[i].id;
            node = s->peers[i].node;
        }
    uint64_t commit = cor_raft_commit(s->raft);
    for (size_t i = 0; i < c->n && change == 0; i++) {
        const peer_t *p = peer_by_id(s, c->m[i].id);
        if (c->m[i].voter || p == NULL)
            continue;
        pending = 1;
        uint64_t match = cor_raft_match(s->raft, c->m[i].id);
        if (match > 0 && match + RSM_CATCHUP >= commit) {
            change = COR_RAFT_PROMOTE;
            id = c->m[i].id;
            node = p->node;
        }
    }
    for (size_t i = 0; i < c->n && change == 0 && !pending; i++)
        if (c->m[i].id != s->self && peer_by_id(s, c->m[i].id) == NULL) {
            change = COR_RAFT_REMOVE;
            id = c->m[i].id;
            snprintf(unlisted, sizeof(unlisted), "member %016llx, which the OMS no longer lists",
                     (unsigned long long)id);
            node = unlisted;
        }
    if (change == 0)
        return 0;
    uint64_t index;
    if (cor_raft_change(s->raft, change, id, &index) != 0)
        return 0; /* an earlier change is not committed yet, or a transfer: next pass */
    cor_log_info("object %s: %s %s (configuration entry %llu)", s->o->idstr,
                 change == COR_RAFT_ADD_LEARNER ? "adding as a learner"
                 : change == COR_RAFT_PROMOTE   ? "promoting to voter"
                                                : "removing",
                 node, (unsigned long long)index);
    return 1;
}

/* The replica's role as corctl describe shows it: the core's, or
 * "learner" (catching up, not yet voting), or "joining" (not yet added). */
static const char *member_role(const cor_rsm_t *s)
{
    const cor_raft_member_t *me = cor_raft_conf_find(cor_raft_conf(s->raft), s->self);
    if (me == NULL && cor_raft_role(s->raft) != COR_RAFT_LEADER)
        return "joining";
    if (me != NULL && !me->voter)
        return "learner";
    return cor_raft_role_name(cor_raft_role(s->raft));
}

/* A Raft message from a node the OMS does not list as a replica (one
 * written off, or a stranger) is dropped — which is also what makes the
 * others stop following a leader the OMS wrote off. Logged at most every
 * RSM_DROP_LOG_MS. */
static void stranger(cor_rsm_t *s, const char *from, long long now)
{
    s->dropped++;
    if (s->drop_logged != 0 && now - s->drop_logged < RSM_DROP_LOG_MS)
        return;
    cor_log_warn("object %s: Raft message from %s, not a replica: dropped (%lu such since the "
                 "last report)",
                 s->o->idstr, from, s->dropped);
    s->drop_logged = now;
    s->dropped = 0;
}

/* One pass over a replica: inbox, ticks, updates. */
static void process(cor_rsm_t *s, long long now)
{
    pthread_mutex_lock(&s->lock);
    rmsg_t *msgs = s->msgs;
    waiter_t *calls = s->calls;
    s->msgs = NULL;
    s->msgs_tail = &s->msgs;
    s->calls = NULL;
    s->calls_tail = &s->calls;
    cor_dm_replica_t *members = NULL;
    int n_members = 0;
    if (s->members_new) {
        members = s->members;
        n_members = s->n_members;
        s->members = NULL;
        s->members_new = 0;
    }
    int founding = s->members_founding;
    int detached = s->detached;
    pthread_mutex_unlock(&s->lock);

    if (members != NULL) {
        set_peers(s, members, n_members);
        free(members);
        if (s->raft == NULL && !s->broken && !detached)
            start(s, founding);
    }
    for (rmsg_t *m = msgs; m != NULL;) {
        rmsg_t *next = m->next;
        if (s->raft != NULL && !s->broken && !detached) {
            cor_raft_msg_t rm;
            cor_raft_entry_t *es = NULL;
            const char *why = NULL;
            if (!is_peer(s, m->from))
                stranger(s, m->from, now);
            else if (cor_raft_msg_decode(m->bytes, m->len, &rm, &es, &why) != 0 ||
                     cor_raft_recv(s->raft, &rm, &why) != 0)
                cor_log_warn("object %s: Raft message from %s dropped: %s", s->o->idstr, m->from,
                             why != NULL ? why : "refused");
            free(es);
        }
        free(m);
        m = next;
    }
    if (s->raft != NULL && !detached) {
        while (now - s->last_tick >= RSM_TICK_MS) {
            cor_raft_tick(s->raft);
            s->last_tick += RSM_TICK_MS;
        }
        run_updates(s); /* what the messages and ticks did, before new calls */
    }
    for (waiter_t *w = calls; w != NULL;) {
        waiter_t *next = w->next;
        w->next = NULL;
        if (detached)
            fail(w, COR_ENOTFOUND, "the replica was removed from this kernel server");
        else
            submit(s, w);
        w = next;
    }
    if (s->raft != NULL && !detached) {
        run_updates(s);
        if (cor_raft_role(s->raft) != COR_RAFT_LEADER)
            fail_all_waiting(s, COR_ENOTLEADER, "leadership lost before the call applied; retry");
        else if (!s->broken && reconcile(s))
            run_updates(s);
    }
    if (detached)
        fail_all_waiting(s, COR_ENOTFOUND, "the replica was removed from this kernel server");

    pthread_mutex_lock(&s->lock);
    const char *role = s->broken ? "down" : s->raft == NULL ? "forming" : member_role(s);
    snprintf(s->status.role, sizeof(s->status.role), "%s", role);
    const char *l = leader_node(s);
    snprintf(s->status.leader, sizeof(s->status.leader), "%s", l != NULL ? l : "");
    if (s->raft != NULL) {
        s->status.term = cor_raft_term(s->raft);
        s->status.commit = cor_raft_commit(s->raft);
        s->status.applied = cor_raft_applied(s->raft);
        s->status.last = cor_raft_last_index(s->raft);
        s->status.snap = cor_raft_snap_index(s->raft);
        const cor_raft_conf_t *c = cor_raft_conf(s->raft);
        s->status.voters = s->status.learners = 0;
        for (size_t i = 0; i < c->n; i++)
            *(c->m[i].voter ? &s->status.voters : &s->status.learners) += 1;
    }
    pthread_mutex_unlock(&s->lock);
}

int cor_rsm_status(cor_obj_t *o, cor_arena_t *arena, Cor__RaftStatus **out)
{
    cor_rsm_t *s = o->rsm;
    *out = NULL;
    if (s == NULL)
        return 0;
    Cor__RaftStatus *st = cor_arena_alloc(arena, sizeof(*st));
    char *role = cor_arena_alloc(arena, sizeof(s->status.role));
    char *leader = cor_arena_alloc(arena, sizeof(s->status.leader));
    if (st == NULL || role == NULL || leader == NULL)
        return COR_ENOMEM;
    cor__raft_status__init(st);
    pthread_mutex_lock(&s->lock);
    snprintf(role, sizeof(s->status.role), "%s", s->status.role[0] ? s->status.role : "forming");
    snprintf(leader, sizeof(s->status.leader), "%s", s->status.leader);
    st->term = s->status.term;
    st->commit = s->status.commit;
    st->applied = s->status.applied;
    st->last_index = s->status.last;
    st->snap_index = s->status.snap;
    st->voters = s->status.voters;
    st->learners = s->status.learners;
    pthread_mutex_unlock(&s->lock);
    st->role = role;
    st->leader = leader;
    *out = st;
    return 0;
}

static void *raft_thread(void *arg)
{
    cor_runtime_t *rt = arg;
    pthread_mutex_lock(&rt->rsm_lock);
    while (!rt->rsm_stop) {
        if (!rt->rsm_wake) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += RSM_TICK_MS * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&rt->rsm_cond, &rt->rsm_lock, &ts);
        }
        rt->rsm_wake = 0;
        if (rt->rsm_stop)
            break;
        /* Take a reference on each replica's object for this pass. */
        cor_rsm_t *batch[256];
        int n = 0;
        for (cor_rsm_t **pp = &rt->rsms; *pp != NULL;) {
            cor_rsm_t *s = *pp;
            pthread_mutex_lock(&s->lock);
            int gone = s->detached;
            pthread_mutex_unlock(&s->lock);
            if (n < 256) {
                atomic_fetch_add(&s->o->refs, 1);
                batch[n++] = s;
            }
            if (gone) {
                *pp = s->next; /* this pass is its last */
                atomic_fetch_sub(&s->o->refs, 1); /* the list's; the batch's is still held */
            } else {
                pp = &s->next;
            }
        }
        pthread_mutex_unlock(&rt->rsm_lock);
        long long now = cor_mono_ms();
        for (int i = 0; i < n; i++) {
            process(batch[i], now);
            cor_obj_put(batch[i]->o);
        }
        pthread_mutex_lock(&rt->rsm_lock);
    }
    /* Shutting down: every waiting call gets an answer. */
    for (cor_rsm_t *s = rt->rsms; s != NULL; s = s->next) {
        pthread_mutex_lock(&s->lock);
        s->detached = 1;
        s->gone_code = COR_ESHUTDOWN;
        pthread_mutex_unlock(&s->lock);
        fail_all_waiting(s, COR_ESHUTDOWN, "the kernel server is shutting down");
    }
    pthread_mutex_unlock(&rt->rsm_lock);
    return NULL;
}

static void wake(cor_runtime_t *rt)
{
    pthread_mutex_lock(&rt->rsm_lock);
    rt->rsm_wake = 1;
    pthread_cond_signal(&rt->rsm_cond);
    pthread_mutex_unlock(&rt->rsm_lock);
}

/* ---------------- the runtime's side ---------------- */

/* Whether a DM of o's server chain asks for its calls to be sequenced
 * by a replicated log (COR_DM_CAP_LOG: ConsensusRSM). */
static int has_log(const cor_obj_t *o)
{
    for (int i = 0; o->dm != NULL && i < o->dm->n; i++)
        if (o->dm->parts[i].ops->caps & COR_DM_CAP_LOG)
            return 1;
    return 0;
}

/* Writes the file a restart makes the object again from. */
static int write_meta(cor_rsm_t *s, const char *dm_chain, const cor_obj_init_t *in,
                      cor_error_t *err)
{
    Cor__RaftReplicaMeta m = COR__RAFT_REPLICA_META__INIT;
    m.object_id.data = s->o->id.b;
    m.object_id.len = sizeof(s->o->id.b);
    m.class_name = (char *)s->o->cls->name;
    m.dm_chain = (char *)(dm_chain != NULL ? dm_chain : "");
    if (in->how == COR_OBJ_CREATE) {
        m.args.data = (uint8_t *)in->bytes;
        m.args.len = in->len;
    }
    m.epoch = s->o->epoch;
    m.member_incarnation = s->member_inc;
    size_t n = cor__raft_replica_meta__get_packed_size(&m);
    uint8_t *b = malloc(n ? n : 1);
    if (b == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    cor__raft_replica_meta__pack(&m, b);
    int rc = cor_raft_store_put_aside(s->store, "object", b, n, err);
    free(b);
    return rc;
}

int cor_rsm_attach(cor_runtime_t *rt, cor_obj_t *o, const char *dm_chain,
                   const cor_obj_init_t *in, cor_error_t *err)
{
    if (!has_log(o))
        return 0;
    if (rt->data_dir[0] == '\0')
        return cor_error_set(err, COR_ESTATE,
                             "object %s: this kernel server has no data directory (--data-dir), "
                             "so it cannot hold a ConsensusRSM replica",
                             o->idstr);
    if (rt->node_name[0] == '\0')
        return cor_error_set(err, COR_ESTATE,
                             "object %s: a ConsensusRSM replica needs a named kernel server",
                             o->idstr);
    cor_rsm_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    s->rt = rt;
    s->o = o;
    s->made_ms = cor_mono_ms();
    s->member_inc = in->rsm_restore ? in->rsm_member_inc : atomic_load(&rt->incarnation);
    s->self = member_id(rt->node_name, s->member_inc);
    pthread_mutex_init(&s->lock, NULL);
    s->msgs_tail = &s->msgs;
    s->calls_tail = &s->calls;
    snprintf(s->dir, sizeof(s->dir), "%.1000s/raft/%s", rt->data_dir, o->idstr);
    /* A replica made here is new: what an older one of this object left
     * here (it was written off) is not its state. A restored one is that
     * older one. */
    int rc = in->rsm_restore ? 0 : cor_raft_store_wipe(s->dir, err);
    if (rc == 0)
        rc = cor_raft_store_open(s->dir, &s->store, err);
    if (rc == 0 && !in->rsm_restore && (rc = write_meta(s, dm_chain, in, err)) != 0) {
        cor_raft_store_close(s->store);
        s->store = NULL;
    }
    if (rc != 0) {
        pthread_mutex_destroy(&s->lock);
        free(s);
        return rc;
    }
    o->rsm = s;
    pthread_mutex_lock(&rt->rsm_lock);
    if (!rt->rsm_running) {
        if (pthread_create(&rt->rsm_thread, NULL, raft_thread, rt) != 0) {
            pthread_mutex_unlock(&rt->rsm_lock);
            o->rsm = NULL;
            cor_rsm_free(s);
            return cor_error_set(err, COR_ENOMEM, "cannot start the Raft thread");
        }
        rt->rsm_running = 1;
    }
    atomic_fetch_add(&o->refs, 1); /* the list's */
    s->next = rt->rsms;
    rt->rsms = s;
    pthread_mutex_unlock(&rt->rsm_lock);
    return 0;
}

void cor_rsm_detach(cor_runtime_t *rt, cor_obj_t *o)
{
    cor_rsm_t *s = o->rsm;
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    s->detached = 1;
    if (s->gone_code == 0)
        s->gone_code = COR_ENOTFOUND;
    pthread_mutex_unlock(&s->lock);
    wake(rt);
}

void cor_rsm_erase(cor_obj_t *o)
{
    cor_rsm_t *s = o->rsm;
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    s->erase = 1;
    pthread_mutex_unlock(&s->lock);
}

void cor_rsm_free(cor_rsm_t *s)
{
    if (s == NULL)
        return;
    /* Nothing is queued any more but what never reached the Raft thread. */
    while (s->calls != NULL) {
        waiter_t *w = s->calls;
        s->calls = w->next;
        fail(w, COR_ESHUTDOWN, "the replica is gone");
    }
    fail_all_waiting(s, COR_ESHUTDOWN, "the replica is gone");
    while (s->msgs != NULL) {
        rmsg_t *m = s->msgs;
        s->msgs = m->next;
        free(m);
    }
    answers_clear(s);
    free(s->members);
    cor_raft_free(s->raft);
    cor_raft_store_close(s->store);
    if (s->erase) {
        cor_error_t err;
        cor_error_clear(&err);
        if (cor_raft_store_wipe(s->dir, &err) != 0 || rmdir(s->dir) != 0)
            cor_log_warn("object %s: deleted, but its Raft files in %s stay: %s", s->o->idstr,
                         s->dir, err.msg[0] ? err.msg : strerror(errno));
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void cor_rsm_stop(cor_runtime_t *rt)
{
    pthread_mutex_lock(&rt->rsm_lock);
    int running = rt->rsm_running;
    rt->rsm_stop = 1;
    pthread_cond_signal(&rt->rsm_cond);
    pthread_mutex_unlock(&rt->rsm_lock);
    if (running)
        pthread_join(rt->rsm_thread, NULL);
    /* No replica takes calls from here on (cor_rsm_invoke refuses them at
     * once), and the calls that reached an inbox but not the Raft thread
     * are answered now, while the server they came through still exists.
     * The list's references go with the objects' own. */
    pthread_mutex_lock(&rt->rsm_lock);
    while (rt->rsms != NULL) {
        cor_rsm_t *s = rt->rsms;
        rt->rsms = s->next;
        pthread_mutex_lock(&s->lock);
        s->detached = 1;
        s->gone_code = COR_ESHUTDOWN;
        waiter_t *calls = s->calls;
        s->calls = NULL;
        s->calls_tail = &s->calls;
        pthread_mutex_unlock(&s->lock);
        while (calls != NULL) {
            waiter_t *w = calls;
            calls = w->next;
            fail(w, COR_ESHUTDOWN, "the kernel server is shutting down");
        }
        cor_obj_put(s->o);
    }
    rt->rsm_running = 0;
    pthread_mutex_unlock(&rt->rsm_lock);
}

void cor_rsm_members(cor_obj_t *o, const cor_dm_replica_t *m, int n, int founding)
{
    cor_rsm_t *s = o->rsm;
    if (s == NULL)
        return;
    cor_dm_replica_t *copy = calloc(n > 0 ? (size_t)n : 1, sizeof(*copy));
    if (copy == NULL)
        return;
    memcpy(copy, m, sizeof(*copy) * (size_t)n);
    pthread_mutex_lock(&s->lock);
    free(s->members);
    s->members = copy;
    s->n_members = n;
    s->members_new = 1;
    s->members_founding |= founding != 0; /* once sent, a later set does not undo it */
    s->got_members = 1;
    pthread_mutex_unlock(&s->lock);
    wake(s->rt);
}

/* An owned copy of inv for the log (request bytes, call id, names). */
static waiter_t *waiter_new(cor_obj_t *o, const cor_invoke_t *inv, const cor_method_desc_t *m)
{
    size_t req_len = inv->req != NULL || inv->msg == NULL
                         ? inv->req_len
                         : protobuf_c_message_get_packed_size(inv->msg);
    const char *node = inv->caller_node != NULL ? inv->caller_node : "";
    size_t nl = strlen(node) + 1, ml = strlen(m->name) + 1;
    waiter_t *w = calloc(1, sizeof(*w) + req_len + 16 + nl + ml);
    if (w == NULL)
        return NULL;
    w->inv = *inv;
    w->inv.err = &w->err;
    w->inv.moved = &w->moved;
    w->inv.msg = NULL;
    w->inv.m = NULL;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    uint8_t *p = w->data;
    if (inv->msg != NULL && inv->req == NULL)
        protobuf_c_message_pack(inv->msg, p);
    else if (req_len > 0)
        memcpy(p, inv->req, req_len);
    w->inv.req = p;
    w->inv.req_len = req_len;
    p += req_len;
    if (inv->client_id != NULL) {
        memcpy(p, inv->client_id, 16);
        w->inv.client_id = p;
    }
    p += 16;
    memcpy(p, node, nl);
    w->inv.caller_node = (const char *)p;
    p += nl;
    memcpy(p, m->name, ml);
    w->method = (const char *)p;
    w->inv.method = w->method;
    w->reply_desc = inv->m != NULL ? inv->m->output : m->output;
    w->read_only = (m->hints & COR_METHOD_READ_ONLY) != 0;
    return w;
}

int cor_rsm_invoke(cor_runtime_t *rt, cor_obj_t *o, cor_invoke_t *inv)
{
    cor_rsm_t *s = o->rsm;
    const cor_service_desc_t *svc = o->cls->service;
    const cor_method_desc_t *m = inv->m;
    if (m != NULL && m->service != svc)
        m = cor_service_method(svc, m->name, strlen(m->name));
    else if (m == NULL && inv->method != NULL)
        m = cor_service_method(svc, inv->method, strlen(inv->method));
    if (m == NULL) {
        /* Let the ordinary path say what is wrong with it. */
        const cor_obj_t *outer = tls_applying;
        tls_applying = o;
        int rc = cor_obj_invoke(rt, o, inv);
        tls_applying = outer;
        return rc;
    }
    if (inv->fingerprint == 0 && inv->m != NULL && inv->m->service != NULL)
        inv->fingerprint = inv->m->service->fingerprint;
    waiter_t *w = waiter_new(o, inv, m);
    if (w == NULL)
        return inv->rc = cor_error_set(inv->err, COR_ENOMEM, "out of memory queueing a call");
    if (inv->done == NULL)
        w->orig = inv;
    pthread_mutex_lock(&s->lock);
    int gone = s->detached ? (s->gone_code ? s->gone_code : COR_ENOTFOUND) : 0;
    if (!gone) {
        *s->calls_tail = w;
        s->calls_tail = &w->next;
    }
    pthread_mutex_unlock(&s->lock);
    if (gone) {
        /* Nobody would take it from the inbox: refuse it here. */
        waiter_free(w);
        return inv->rc = cor_error_set(inv->err, gone,
                                       gone == COR_ESHUTDOWN
                                           ? "ConsensusRSM: the kernel server is shutting down"
                                           : "ConsensusRSM: the replica was removed from this "
                                             "kernel server");
    }
    wake(rt);
    if (inv->done != NULL)
        return 0;
    pthread_mutex_lock(&w->lock);
    while (!w->done)
        pthread_cond_wait(&w->cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
    inv->rc = w->inv.rc;
    *inv->err = w->err;
    inv->moved->epoch = 0;
    inv->reply_msg = w->inv.reply_msg;
    inv->reply = w->inv.reply;
    inv->reply_len = w->inv.reply_len;
    inv->out = w->inv.out;
    waiter_free(w);
    return inv->rc;
}

/* ---------------- Kernel.RaftMessage ---------------- */

static int op_raft_message(void *arg, const ProtobufCMessage *in, ProtobufCMessage *out,
                           cor_arena_t *arena, cor_error_t *err)
{
    cor_runtime_t *rt = arg;
    const Cor__RaftMessageRequest *r = (const Cor__RaftMessageRequest *)in;
    cor_object_id_t id;
    if (cor_id_arg(&r->object_id, &id, err) != 0)
        return err->code;
    cor_obj_t *o = cor_obj_get(rt, &id);
    if (o == NULL)
        return cor_error_set(err, COR_ENOTFOUND, "object not hosted here");
    cor_rsm_t *s = o->rsm;
    if (s == NULL) {
        cor_obj_put(o);
        return cor_error_set(err, COR_ENOTFOUND, "object %s is not replicated by ConsensusRSM here",
                             o->idstr);
    }
    rmsg_t *m = malloc(sizeof(*m) + r->msg.len);
    if (m == NULL) {
        cor_obj_put(o);
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    }
    m->next = NULL;
    snprintf(m->from, sizeof(m->from), "%s", r->from_node);
    m->len = r->msg.len;
    if (r->msg.len)
        memcpy(m->bytes, r->msg.data, r->msg.len);
    pthread_mutex_lock(&s->lock);
    *s->msgs_tail = m;
    s->msgs_tail = &m->next;
    pthread_mutex_unlock(&s->lock);
    wake(rt);
    cor_obj_put(o);
    return 0;
}

int cor_rsm_serve(cor_runtime_t *rt, cor_server_t *s, cor_error_t *err)
{
    const cor_rpc_handler_t h = {COR_M_RAFT_MESSAGE, &cor__raft_message_request__descriptor,
                                 &cor__raft_message_reply__descriptor, op_raft_message, rt,
                                 64u << 20};
    return cor_rpc_serve(s, &h, err);
}

/* ---------------- across a restart ---------------- */

/* Makes one replica again from the store in dir; 0, or -1 (logged). */
static int restore_one(cor_runtime_t *rt, const char *dir, const cor_object_id_t *id)
{
    uint8_t *b = NULL;
    size_t n = 0;
    cor_error_t err;
    if (cor_raft_store_get_aside(dir, "object", &b, &n, &err) != 0) {
        cor_log_error("%s: not restored: %s", dir, err.msg);
        return -1;
    }
    Cor__RaftReplicaMeta *m = cor__raft_replica_meta__unpack(NULL, n, b);
    free(b);
    int rc = -1;
    const cor_class_t *cls = NULL;
    if (m == NULL || m->object_id.len != sizeof(id->b) ||
        memcmp(m->object_id.data, id->b, sizeof(id->b)) != 0)
        cor_log_error("%s: not restored: its object file does not decode or names another object",
                      dir);
    else if ((cls = cor_runtime_find_class(rt, m->class_name)) == NULL)
        cor_log_error("%s: not restored: class %s is not hosted here", dir, m->class_name);
    else {
        cor_obj_init_t in = {.how = COR_OBJ_CREATE, .bytes = m->args.data, .len = m->args.len,
                             .rsm_restore = 1, .rsm_member_inc = m->member_incarnation};
        rc = cor_obj_make(rt, cls, id, m->epoch, m->dm_chain, &in, &err);
        if (rc != 0)
            cor_log_error("%s: not restored: %s", dir, err.msg);
    }
    if (m != NULL)
        cor__raft_replica_meta__free_unpacked(m, NULL);
    return rc == 0 ? 0 : -1;
}

int cor_runtime_restore_replicas(cor_runtime_t *rt)
{
    if (rt->data_dir[0] == '\0')
        return 0;
    char top[1024 + 16];
    snprintf(top, sizeof(top), "%.1000s/raft", rt->data_dir);
    DIR *d = opendir(top);
    if (d == NULL)
        return 0;
    int made = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        cor_object_id_t id;
        if (strlen(e->d_name) != COR_OBJECT_ID_STRLEN || cor_object_id_parse(e->d_name, &id) != 0)
            continue; /* ".", "..", set-aside stores */
        char dir[1024 + 64];
        snprintf(dir, sizeof(dir), "%s/%.32s", top, e->d_name);
        if (restore_one(rt, dir, &id) == 0)
            made++;
    }
    closedir(d);
    if (made > 0)
        cor_log_info("%d ConsensusRSM replica(s) restored from %s", made, top);
    return made;
}

int cor_runtime_held_replicas(cor_runtime_t *rt, cor_object_id_t *ids, uint64_t *incs, int max)
{
    int n = 0;
    pthread_mutex_lock(&rt->rsm_lock);
    for (cor_rsm_t *s = rt->rsms; s != NULL && n < max; s = s->next) {
        pthread_mutex_lock(&s->lock);
        int gone = s->detached;
        pthread_mutex_unlock(&s->lock);
        if (gone)
            continue;
        ids[n] = s->o->id;
        incs[n++] = s->member_inc;
    }
    pthread_mutex_unlock(&rt->rsm_lock);
    return n;
}

void cor_runtime_refuse_replica(cor_runtime_t *rt, const cor_object_id_t *id)
{
    char s[COR_OBJECT_ID_STRLEN + 1];
    cor_object_id_format(id, s);
    cor_runtime_unhost(rt, id, NULL);
    char from[1024 + 64], to[1024 + 96];
    snprintf(from, sizeof(from), "%.1000s/raft/%s", rt->data_dir, s);
    snprintf(to, sizeof(to), "%.1000s/raft/%s.refused-%lld", rt->data_dir, s,
             (long long)time(NULL));
    if (rename(from, to) != 0)
        cor_log_warn("object %s: the OMS no longer counts its replica here, and its files could "
                     "not be set aside: %s",
                     s, strerror(errno));
    else
        cor_log_warn("object %s: the OMS no longer counts its replica here (it was replaced "
                     "while this server was down); its files are kept in %s",
                     s, to);
}

/* ---------------- a replica that never got its set ---------------- */

#define RSM_ASK_AFTER_MS 3000 /* a new replica waits this long for its set before asking */

/* Asks the OMS for o's replicas and hands them over as SetMembers would
 * (founding when they are exactly the object's founders). */
static void ask_members(cor_runtime_t *rt, cor_obj_t *o)
{
    Cor__LookupReply *rep = NULL;
    cor_error_t err;
    if (cor_oms_lookup(rt, &o->id, NULL, &rep, &err) != 0) {
        cor_log_warn("object %s: its replica set has not come, and the OMS could not be asked: "
                     "%s",
                     o->idstr, err.msg);
        return;
    }
    const Cor__ObjectInfo *info = rep->object;
    cor_dm_replica_t m[RSM_MAX_PEERS];
    int n = 0, founders = 0;
    for (size_t i = 0; info != NULL && i < info->n_replicas && n < RSM_MAX_PEERS; i++) {
        const Cor__Replica *r = info->replicas[i];
        if (r->state != COR__REPLICA_STATE__REPLICA_ACTIVE)
            continue;
        cor_dm_replica_from_pb(r, &m[n++]);
        founders += r->founder;
    }
    int founding = info != NULL && info->founders > 0 && founders == (int)info->founders &&
                   n == (int)info->founders;
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    if (n == 0)
        return;
    cor_log_warn("object %s: its replica set never came; asked the OMS (%d replicas%s)",
                 o->idstr, n, founding ? ", founding" : "");
    cor_rsm_members(o, m, n, founding);
}

void cor_rsm_tick(cor_runtime_t *rt)
{
    cor_obj_t *ask[16];
    int n = 0;
    long long now = cor_mono_ms();
    pthread_mutex_lock(&rt->rsm_lock);
    for (cor_rsm_t *s = rt->rsms; s != NULL && n < 16; s = s->next) {
        pthread_mutex_lock(&s->lock);
        int due = !s->got_members && !s->detached && now - s->made_ms >= RSM_ASK_AFTER_MS &&
                  now - s->asked_ms >= RSM_ASK_AFTER_MS;
        if (due)
            s->asked_ms = now;
        pthread_mutex_unlock(&s->lock);
        if (due) {
            atomic_fetch_add(&s->o->refs, 1);
            ask[n++] = s->o;
        }
    }
    pthread_mutex_unlock(&rt->rsm_lock);
    for (int i = 0; i < n; i++) { /* the OMS is called with no lock held */
        ask_members(rt, ask[i]);
        cor_obj_put(ask[i]);
    }
}
