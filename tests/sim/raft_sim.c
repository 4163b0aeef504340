/*
 * tests/sim/raft_sim.c — cor-raft-sim: the Raft core proven by
 * deterministic simulation.
 *
 * One schedule is N servers in this process, driven by a virtual clock
 * and a seeded PRNG, over a network that drops, duplicates, delays,
 * reorders and partitions messages (every message travels encoded, so the
 * wire form is exercised too). Servers crash and restart: a crash in the
 * middle of persisting an update keeps only a prefix of its writes (term
 * and vote, snapshot, entries, in that order) and sends none of the
 * messages that wait for the disk, which is what a kill -9 before fsync
 * returns does (a leader's early appends have already left). Clients
 * propose, read (ReadIndex), servers take snapshots, the leader adds,
 * promotes and removes members (itself included) and hands leadership
 * over — all while the faults happen.
 *
 * After every step the checker holds the state against the invariants of
 * Raft (thesis 3.6 and figure 3.2):
 *   - election safety: at most one leader per term;
 *   - votes: a server's term never goes back, and it never votes twice in
 *     one term (checked on what it persisted);
 *   - log matching: two logs holding an entry with the same index and term
 *     hold the same entry and agree on the term of the entry before it;
 *   - leader completeness: a server that becomes leader holds every entry
 *     committed so far;
 *   - committed entries never change, and state-machine safety: no two
 *     servers apply different entries at one index (each applied state is
 *     a hash chain, so a snapshot that carries the wrong state is caught);
 *   - reads: a ReadIndex read is served at an index at or above every
 *     entry committed before it was asked (linearizable reads);
 * and at the end, with the network healed and every server restarted,
 * liveness and durability: a leader is elected, every member applies the
 * whole log, and every write a client saw acknowledged is in it.
 *
 * A failure prints its seed and what broke; --seed S --trace replays it
 * step by step. Builds of the core with COR_RAFT_BUG set (one rule broken
 * on purpose) run with --expect-failure to show the checks can fail.
 *
 * Usage: cor-raft-sim [--seeds N] [--from S] [--seed S] [--steps T]
 *                     [--trace] [--expect-failure] [--quiet]
 */
#include <cor/raft.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_NODES 9
#define TICK 10         /* time units per tick */
#define SM_PAD_MAX 700  /* snapshot padding, to make several chunks */

/* ---------------- PRNG ---------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t rnd_below(uint64_t n)
{
    return n ? rnd() % n : 0;
}

static bool chance(double p)
{
    return (double)(rnd() >> 11) / (double)(1ULL << 53) < p;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 33);
}

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

static uint64_t entry_hash(const cor_raft_entry_t *e)
{
    return mix(mix(hash_bytes(e->data, e->len), (uint64_t)e->type), e->term);
}

/* The core's error codes by name (the simulator does not link libcor). */
static const char *code_name(int rc)
{
    switch (rc) {
#define X(name, value, grpc, desc) case COR_##name: return "COR_" #name;
        COR_ERRORS(X)
#undef X
    default: return "?";
    }
}

/* ---------------- the run's state ---------------- */

static bool trace;
static bool faults_on; /* off while converging at the end */
static uint64_t now;
static uint64_t cur_seed;
static char failure[512];

static void tr(const char *fmt, ...)
{
    if (!trace)
        return;
    va_list ap;
    va_start(ap, fmt);
    printf("[%6" PRIu64 "] ", now);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

static bool fail(const char *fmt, ...)
{
    if (failure[0])
        return false;
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(failure, sizeof failure, "t=%" PRIu64 ": ", now);
    vsnprintf(failure + n, sizeof failure - (size_t)n, fmt, ap);
    va_end(ap);
    return false;
}

/* What a server has on disk: only what it persisted. */
typedef struct disk {
    uint64_t term;
    cor_raft_id_t vote;
    uint64_t snap_index, snap_term;
    cor_raft_conf_t snap_conf;
    uint8_t *snap;
    size_t snap_len;
    cor_raft_entry_t *log; /* log[k].index == snap_index + 1 + k */
    size_t n_log, cap_log;
} disk_t;

/* The replicated state machine: a hash chain over every applied entry. */
typedef struct sm {
    uint64_t applied;
    uint64_t h;
} sm_t;

typedef struct node {
    cor_raft_id_t id;
    bool exists; /* created (founding or added) */
    cor_raft_t *r; /* NULL while crashed */
    disk_t d;
    sm_t sm;
    int phase; /* tick offset */
    uint64_t commit_checked;
    uint64_t leader_term_checked;
    uint64_t max_term; /* highest term ever persisted */
    uint64_t *votes;   /* votes[t] for terms seen, 0 none */
    size_t cap_votes;
} node_t;

static node_t nodes[MAX_NODES + 1]; /* by id, 1-based */
static int n_ids;                   /* ids 1..n_ids exist in this run */
static int group_of[MAX_NODES + 1]; /* partition */

typedef struct packet {
    uint64_t at;
    cor_raft_id_t to;
    uint8_t *bytes;
    size_t len;
} packet_t;

static packet_t *net;
static size_t n_net, cap_net;
static double p_drop, p_dup, p_long, p_kill_leader;

/* Global records. */
typedef struct rec {
    uint64_t term, hash;
    uint64_t in_term; /* the lowest term any server was in when it saw it committed */
} rec_t;
static rec_t *committed; /* by index */
static uint64_t *chain;  /* chain[i]: the state's hash after applying i */
static size_t cap_idx;
static uint64_t max_committed;
static cor_raft_id_t *leader_of; /* by term */
static size_t cap_terms;

typedef struct lm {
    uint64_t index, term, hash, prev_term;
} lm_t;
static lm_t *lmap; /* log matching: (index, term) -> entry, prev term */
static size_t cap_lmap, n_lmap;

typedef struct proposal {
    uint64_t pid;
    cor_raft_id_t node;
    uint64_t index, term;
    bool acked;
} proposal_t;
static proposal_t *props;
static size_t n_props, cap_props;
static uint64_t next_pid;

typedef struct read_req {
    uint64_t ctx;
    uint64_t min_index;
    cor_raft_id_t node;
} read_req_t;
static read_req_t *reads;
static size_t n_reads_rec, cap_reads_rec;
static uint64_t next_ctx;

static struct {
    uint64_t steps, msgs, dropped, crashes, sync_crashes, proposals, acked, reads, confs,
        transfers, snapshots, elections;
} stats;

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        fprintf(stderr, "cor-raft-sim: out of memory\n");
        exit(2);
    }
    return q;
}

static void ensure_idx(uint64_t i)
{
    if (i < cap_idx)
        return;
    size_t c = cap_idx ? cap_idx : 1024;
    while (c <= i)
        c *= 2;
    committed = xrealloc(committed, c * sizeof *committed);
    chain = xrealloc(chain, c * sizeof *chain);
    memset(committed + cap_idx, 0, (c - cap_idx) * sizeof *committed);
    memset(chain + cap_idx, 0, (c - cap_idx) * sizeof *chain);
    cap_idx = c;
}

static void ensure_term(uint64_t t)
{
    if (t < cap_terms)
        return;
    size_t c = cap_terms ? cap_terms : 256;
    while (c <= t)
        c *= 2;
    leader_of = xrealloc(leader_of, c * sizeof *leader_of);
    memset(leader_of + cap_terms, 0, (c - cap_terms) * sizeof *leader_of);
    cap_terms = c;
}

/* ---------------- log matching map ---------------- */

static size_t lm_slot(uint64_t index, uint64_t term)
{
    return (size_t)(mix(index, term) & (cap_lmap - 1));
}

static bool lm_check(uint64_t index, uint64_t term, uint64_t hash, uint64_t prev_term,
                     cor_raft_id_t who)
{
    if ((n_lmap + 1) * 2 > cap_lmap) {
        lm_t *old = lmap;
        size_t oc = cap_lmap;
        cap_lmap = oc ? oc * 2 : 4096;
        lmap = calloc(cap_lmap, sizeof *lmap);
        if (lmap == NULL)
            exit(2);
        for (size_t i = 0; i < oc; i++) {
            if (old[i].index == 0)
                continue;
            size_t s = lm_slot(old[i].index, old[i].term);
            while (lmap[s].index != 0)
                s = (s + 1) & (cap_lmap - 1);
            lmap[s] = old[i];
        }
        free(old);
    }
    size_t s = lm_slot(index, term);
    while (lmap[s].index != 0) {
        if (lmap[s].index == index && lmap[s].term == term) {
            if (lmap[s].hash != hash)
                return fail("log matching: server %" PRIu64 " holds a different entry at index %" PRIu64
                            " term %" PRIu64, who, index, term);
            if (prev_term != UINT64_MAX && lmap[s].prev_term != UINT64_MAX &&
                lmap[s].prev_term != prev_term)
                return fail("log matching: server %" PRIu64 " has entry %" PRIu64 "/%" PRIu64
                            " after term %" PRIu64 ", another after term %" PRIu64,
                            who, index, term, prev_term, lmap[s].prev_term);
            if (lmap[s].prev_term == UINT64_MAX)
                lmap[s].prev_term = prev_term;
            return true;
        }
        s = (s + 1) & (cap_lmap - 1);
    }
    lmap[s] = (lm_t){index, term, hash, prev_term};
    n_lmap++;
    return true;
}

/* ---------------- disk ---------------- */

static uint64_t disk_last(const disk_t *d)
{
    return d->snap_index + d->n_log;
}

static uint64_t disk_term_at(const disk_t *d, uint64_t i)
{
    if (i == d->snap_index)
        return d->snap_term;
    if (i < d->snap_index || i > disk_last(d))
        return UINT64_MAX; /* unknown */
    return d->log[i - d->snap_index - 1].term;
}

static void disk_drop_from(disk_t *d, uint64_t index)
{
    while (d->n_log > 0 && disk_last(d) >= index) {
        free((void *)d->log[d->n_log - 1].data);
        d->n_log--;
    }
}

static void disk_compact(disk_t *d, uint64_t index)
{
    size_t drop = 0;
    while (drop < d->n_log && d->log[drop].index <= index)
        free((void *)d->log[drop++].data);
    if (drop > 0 && drop < d->n_log)
        memmove(d->log, d->log + drop, (d->n_log - drop) * sizeof *d->log);
    d->n_log -= drop;
}

static void disk_append(disk_t *d, const cor_raft_entry_t *e)
{
    if (d->n_log == d->cap_log) {
        d->cap_log = d->cap_log ? d->cap_log * 2 : 64;
        d->log = xrealloc(d->log, d->cap_log * sizeof *d->log);
    }
    uint8_t *c = NULL;
    if (e->len) {
        c = xrealloc(NULL, e->len);
        memcpy(c, e->data, e->len);
    }
    d->log[d->n_log++] = (cor_raft_entry_t){e->term, e->index, e->type, c, e->len};
}

static void disk_set_snap(disk_t *d, uint64_t index, uint64_t term, const cor_raft_conf_t *conf,
                          const uint8_t *data, size_t len)
{
    free(d->snap);
    d->snap = xrealloc(NULL, len);
    if (len)
        memcpy(d->snap, data, len);
    d->snap_len = len;
    d->snap_conf = *conf;
    if (disk_term_at(d, index) == term && index <= disk_last(d)) {
        disk_compact(d, index);
    } else {
        disk_compact(d, disk_last(d));
    }
    d->snap_index = index;
    d->snap_term = term;
}

static void disk_free(disk_t *d)
{
    disk_compact(d, disk_last(d));
    free(d->log);
    free(d->snap);
    memset(d, 0, sizeof *d);
}

/* ---------------- state machine ---------------- */

static size_t sm_pad(uint64_t h)
{
    return (size_t)(h % SM_PAD_MAX);
}

static uint8_t *sm_save(const sm_t *s, size_t *len)
{
    size_t pad = sm_pad(s->h);
    uint8_t *b = xrealloc(NULL, 16 + pad);
    memcpy(b, &s->applied, 8);
    memcpy(b + 8, &s->h, 8);
    for (size_t i = 0; i < pad; i++)
        b[16 + i] = (uint8_t)(s->h >> (8 * (i % 8))) ^ (uint8_t)i;
    *len = 16 + pad;
    return b;
}

static bool sm_load(sm_t *s, const uint8_t *b, size_t len, uint64_t index, cor_raft_id_t who)
{
    if (len < 16)
        return fail("server %" PRIu64 ": snapshot of %zu bytes is too short", who, len);
    memcpy(&s->applied, b, 8);
    memcpy(&s->h, b + 8, 8);
    size_t pad = sm_pad(s->h);
    if (len != 16 + pad)
        return fail("server %" PRIu64 ": snapshot has %zu bytes, its state says %zu", who, len,
                    16 + pad);
    for (size_t i = 0; i < pad; i++)
        if (b[16 + i] != ((uint8_t)(s->h >> (8 * (i % 8))) ^ (uint8_t)i))
            return fail("server %" PRIu64 ": snapshot bytes corrupted at %zu", who, 16 + i);
    if (s->applied != index)
        return fail("server %" PRIu64 ": snapshot at %" PRIu64 " holds state of %" PRIu64, who,
                    index, s->applied);
    if (index > 0 && index < cap_idx && chain[index] != 0 && chain[index] != s->h)
        return fail("server %" PRIu64 ": snapshot at %" PRIu64 " differs from the applied state there",
                    who, index);
    return true;
}

static bool sm_apply(node_t *n, const cor_raft_entry_t *e)
{
    if (e->index != n->sm.applied + 1)
        return fail("server %" PRIu64 ": applied %" PRIu64 " after %" PRIu64, n->id, e->index,
                    n->sm.applied);
    n->sm.h = mix(n->sm.h, mix(entry_hash(e), e->index));
    n->sm.applied = e->index;
    ensure_idx(e->index);
    if (chain[e->index] == 0)
        chain[e->index] = n->sm.h;
    else if (chain[e->index] != n->sm.h)
        return fail("state-machine safety: server %" PRIu64 " applied a different entry at %" PRIu64,
                    n->id, e->index);
    if (e->type == COR_RAFT_NORMAL && e->len >= 8) {
        uint64_t pid;
        memcpy(&pid, e->data, 8);
        for (size_t i = 0; i < n_props; i++)
            if (props[i].pid == pid && props[i].node == n->id && props[i].index == e->index &&
                props[i].term == e->term && !props[i].acked) {
                props[i].acked = true;
                stats.acked++;
            }
    }
    return true;
}

/* ---------------- network ---------------- */

static void net_push(uint64_t at, cor_raft_id_t to, const uint8_t *b, size_t len)
{
    if (n_net == cap_net) {
        cap_net = cap_net ? cap_net * 2 : 256;
        net = xrealloc(net, cap_net * sizeof *net);
    }
    uint8_t *c = xrealloc(NULL, len);
    memcpy(c, b, len);
    net[n_net++] = (packet_t){at, to, c, len};
}

static void send_msg(const cor_raft_msg_t *m)
{
    stats.msgs++;
    if (m->to == 0 || m->to > (cor_raft_id_t)n_ids) {
        fail("server %" PRIu64 " sent to unknown server %" PRIu64, m->from, m->to);
        return;
    }
    size_t len = cor_raft_msg_size(m);
    uint8_t *b = xrealloc(NULL, len);
    cor_raft_msg_encode(m, b);
    int copies = chance(p_dup) ? 2 : 1;
    for (int i = 0; i < copies; i++) {
        if (chance(p_drop)) {
            stats.dropped++;
            continue;
        }
        uint64_t delay = 1 + rnd_below(chance(p_long) ? 200 : 15);
        net_push(now + delay, m->to, b, len);
    }
    free(b);
}

/* ---------------- a server's driver ---------------- */

static bool check_node(node_t *n);

static void crash(node_t *n, const char *why)
{
    if (n->r == NULL)
        return;
    tr("crash %" PRIu64 " (%s)", n->id, why);
    cor_raft_free(n->r);
    n->r = NULL;
    stats.crashes++;
}

static bool persist_hard(node_t *n, uint64_t term, cor_raft_id_t vote)
{
    if (term < n->max_term)
        return fail("server %" PRIu64 ": term went back from %" PRIu64 " to %" PRIu64, n->id,
                    n->max_term, term);
    n->max_term = term;
    if (term >= n->cap_votes) {
        size_t c = n->cap_votes ? n->cap_votes : 64;
        while (c <= term)
            c *= 2;
        n->votes = xrealloc(n->votes, c * sizeof *n->votes);
        memset(n->votes + n->cap_votes, 0, (c - n->cap_votes) * sizeof *n->votes);
        n->cap_votes = c;
    }
    if (vote != 0) {
        if (n->votes[term] != 0 && n->votes[term] != vote)
            return fail("server %" PRIu64 " voted for %" PRIu64 " and %" PRIu64 " in term %" PRIu64,
                        n->id, n->votes[term], vote, term);
        n->votes[term] = vote;
    }
    n->d.term = term;
    n->d.vote = vote;
    return true;
}

static bool persist_entries(node_t *n, const cor_raft_entry_t *es, size_t count)
{
    if (count == 0)
        return true;
    disk_drop_from(&n->d, es[0].index);
    if (es[0].index != disk_last(&n->d) + 1)
        return fail("server %" PRIu64 ": entries start at %" PRIu64 ", disk ends at %" PRIu64, n->id,
                    es[0].index, disk_last(&n->d));
    for (size_t i = 0; i < count; i++) {
        uint64_t pt = disk_term_at(&n->d, es[i].index - 1);
        if (!lm_check(es[i].index, es[i].term, entry_hash(&es[i]), pt, n->id))
            return false;
        disk_append(&n->d, &es[i]);
    }
    return true;
}

/* Runs the update loop until the core has nothing left to do. */
static bool process(node_t *n)
{
    cor_raft_update_t u;
    int rounds = 0;
    while (n->r != NULL && cor_raft_ready(n->r, &u)) {
        if (++rounds > 1000)
            return fail("server %" PRIu64 ": updates never run out", n->id);
        /* A leader's appends leave before its own disk write: a crash below
         * then loses entries its followers already have. */
        for (size_t i = 0; i < u.n_early; i++)
            send_msg(&u.early[i]);
        /* A crash in the middle of persisting keeps a prefix of the writes. */
        if (faults_on && chance(0.004)) {
            int ops = (u.hard_changed ? 1 : 0) + (u.snapshot_received ? 1 : 0) + (int)u.n_entries;
            int keep = (int)rnd_below((uint64_t)ops + 1);
            if (u.hard_changed && keep > 0) {
                if (!persist_hard(n, u.term, u.vote))
                    return false;
                keep--;
            }
            if (u.snapshot_received && keep > 0) {
                disk_set_snap(&n->d, u.snap_index, u.snap_term, u.snap_conf, u.snap, u.snap_len);
                keep--;
            }
            if (keep > 0 && !persist_entries(n, u.entries, (size_t)keep))
                return false;
            stats.sync_crashes++;
            crash(n, "while persisting");
            return true;
        }
        if (u.hard_changed && !persist_hard(n, u.term, u.vote))
            return false;
        if (u.snapshot_received)
            disk_set_snap(&n->d, u.snap_index, u.snap_term, u.snap_conf, u.snap, u.snap_len);
        if (!persist_entries(n, u.entries, u.n_entries))
            return false;
        for (size_t i = 0; i < u.n_msgs; i++)
            send_msg(&u.msgs[i]);
        if (u.snapshot_received) {
            tr("server %" PRIu64 " installs snapshot at %" PRIu64, n->id, u.snap_index);
            if (!sm_load(&n->sm, u.snap, u.snap_len, u.snap_index, n->id))
                return false;
        }
        for (size_t i = 0; i < u.n_committed; i++)
            if (!sm_apply(n, &u.committed[i]))
                return false;
        for (size_t i = 0; i < u.n_reads; i++) {
            const cor_raft_read_state_t *rs = &u.reads[i];
            for (size_t k = 0; k < n_reads_rec; k++) {
                if (reads[k].ctx != rs->ctx)
                    continue;
                if (!rs->failed && rs->index < reads[k].min_index)
                    return fail("linearizable read: server %" PRIu64 " served read %" PRIu64
                                " at index %" PRIu64 ", but %" PRIu64 " was committed before it",
                                n->id, rs->ctx, rs->index, reads[k].min_index);
                reads[k] = reads[--n_reads_rec];
                break;
            }
        }
        cor_raft_advance(n->r, &u);
        if (!check_node(n))
            return false;
    }
    return n->r == NULL || check_node(n);
}

static cor_raft_options_t options(cor_raft_id_t id)
{
    return (cor_raft_options_t){.id = id,
                                .election_ticks = 10,
                                .heartbeat_ticks = 2,
                                .max_append = 1 + rnd_below(8),
                                .max_inflight = 1 + (int)rnd_below(4),
                                .snapshot_chunk = 64 + rnd_below(256),
                                .seed = rnd()};
}

static bool start(node_t *n)
{
    cor_raft_options_t o = options(n->id);
    n->r = cor_raft_new(&o);
    if (n->r == NULL)
        return fail("cor_raft_new failed for %" PRIu64, n->id);
    int rc = cor_raft_load(n->r, n->d.term, n->d.vote, n->d.snap_index, n->d.snap_term,
                           &n->d.snap_conf, n->d.snap, n->d.snap_len, n->d.log, n->d.n_log);
    if (rc != 0)
        return fail("server %" PRIu64 ": cor_raft_load refused its own disk: %s", n->id,
                    code_name(rc));
    memset(&n->sm, 0, sizeof n->sm);
    if (n->d.snap_index > 0 &&
        !sm_load(&n->sm, n->d.snap, n->d.snap_len, n->d.snap_index, n->id))
        return false;
    n->commit_checked = cor_raft_commit(n->r);
    n->leader_term_checked = 0;
    return true;
}

/* ---------------- invariants ---------------- */

static bool check_node(node_t *n)
{
    cor_raft_t *r = n->r;
    uint64_t term = cor_raft_term(r);
    if (cor_raft_role(r) == COR_RAFT_LEADER) {
        ensure_term(term);
        if (leader_of[term] != 0 && leader_of[term] != n->id)
            return fail("election safety: servers %" PRIu64 " and %" PRIu64 " both lead term %" PRIu64,
                        leader_of[term], n->id, term);
        if (leader_of[term] == 0) {
            stats.elections++;
            tr("server %" PRIu64 " leads term %" PRIu64, n->id, term);
        }
        leader_of[term] = n->id;
        if (n->leader_term_checked != term) {
            /* Leader completeness: every committed entry is in its log. */
            n->leader_term_checked = term;
            /* (Entries committed in this term or later are not owed to
             * it: a server can still win an old term late, with votes
             * granted before the others moved on.) */
            uint64_t si = cor_raft_snap_index(r), last = cor_raft_last_index(r);
            for (uint64_t i = si + 1; i <= max_committed; i++) {
                if (committed[i].term == 0 || committed[i].in_term >= term)
                    continue;
                const cor_raft_entry_t *e = i <= last ? cor_raft_entry_at(r, i) : NULL;
                if (e == NULL)
                    return fail("leader completeness: leader %" PRIu64 " of term %" PRIu64
                                " ends at %" PRIu64 ", %" PRIu64 " was committed in term %" PRIu64,
                                n->id, term, last, i, committed[i].in_term);
                if (e->term != committed[i].term || entry_hash(e) != committed[i].hash)
                    return fail("leader completeness: leader %" PRIu64 " of term %" PRIu64
                                " lacks entry %" PRIu64 ", committed in term %" PRIu64,
                                n->id, term, i, committed[i].in_term);
            }
            if (si > 0 && si < cap_idx && chain[si] != 0 && si <= max_committed &&
                n->sm.applied == si && n->sm.h != chain[si])
                return fail("leader %" PRIu64 ": snapshot state differs at %" PRIu64, n->id, si);
        }
    }
    uint64_t c = cor_raft_commit(r);
    if (c > cor_raft_last_index(r))
        return fail("server %" PRIu64 ": commit %" PRIu64 " beyond its log end %" PRIu64, n->id, c,
                    cor_raft_last_index(r));
    if (c > n->commit_checked) {
        ensure_idx(c);
        for (uint64_t i = n->commit_checked + 1; i <= c; i++) {
            const cor_raft_entry_t *e = cor_raft_entry_at(r, i);
            if (e == NULL)
                continue; /* compacted: its state is checked through the chain */
            uint64_t h = entry_hash(e);
            if (committed[i].term == 0) {
                committed[i] = (rec_t){e->term, h, term};
            } else if (committed[i].in_term > term) {
                committed[i].in_term = term;
            }
            if (committed[i].term != e->term || committed[i].hash != h) {
                return fail("committed entry %" PRIu64 " changed: term %" PRIu64 " on server %" PRIu64
                            ", term %" PRIu64 " committed before",
                            i, e->term, n->id, committed[i].term);
            }
        }
        if (c > max_committed)
            max_committed = c;
        n->commit_checked = c;
    }
    return true;
}

/* ---------------- events ---------------- */

static node_t *live_leader(void)
{
    node_t *best = NULL;
    for (int i = 1; i <= n_ids; i++) {
        node_t *n = &nodes[i];
        if (n->r != NULL && cor_raft_role(n->r) == COR_RAFT_LEADER &&
            (best == NULL || cor_raft_term(n->r) > cor_raft_term(best->r)))
            best = n;
    }
    return best;
}

static node_t *random_live(void)
{
    int live[MAX_NODES], k = 0;
    for (int i = 1; i <= n_ids; i++)
        if (nodes[i].r != NULL)
            live[k++] = i;
    return k ? &nodes[live[rnd_below((uint64_t)k)]] : NULL;
}

static bool deliver(packet_t *p)
{
    node_t *n = &nodes[p->to];
    if (n->r == NULL)
        return true;
    cor_raft_msg_t m;
    cor_raft_entry_t *es = NULL;
    const char *why = NULL;
    if (cor_raft_msg_decode(p->bytes, p->len, &m, &es, &why) != 0)
        return fail("server %" PRIu64 ": a message the core encoded does not decode: %s", n->id, why);
    if (m.from == 0 || m.from > MAX_NODES || group_of[m.from] != group_of[m.to]) {
        free(es);
        stats.dropped++;
        return true;
    }
    if (m.type == COR_RAFT_MSG_SNAPSHOT || m.type == COR_RAFT_MSG_SNAPSHOT_RESP)
        tr("%s %" PRIu64 "->%" PRIu64 " term %" PRIu64 " snap %" PRIu64 "/%" PRIu64 " offset %" PRIu64
           " len %zu%s%s", cor_raft_msg_name(m.type), m.from, m.to, m.term, m.snap_index,
           m.snap_term, m.offset, m.len, m.done ? " done" : "", m.reject ? " reject" : "");
    else
        tr("%s %" PRIu64 "->%" PRIu64 " term %" PRIu64 " prev %" PRIu64 " index %" PRIu64
           " n %zu commit %" PRIu64 "%s", cor_raft_msg_name(m.type), m.from, m.to, m.term,
           m.prev_index, m.index, m.n_entries, m.commit, m.reject ? " reject" : "");
    int rc = cor_raft_recv(n->r, &m, &why);
    free(es);
    if (rc != 0 && rc != COR_ENOMEM)
        return fail("server %" PRIu64 " refused a message from %" PRIu64 " (%s): %s", m.to, m.from,
                    cor_raft_msg_name(m.type), why ? why : code_name(rc));
    return process(n);
}

static bool propose(void)
{
    node_t *n = random_live();
    if (n == NULL)
        return true;
    if (cor_raft_role(n->r) != COR_RAFT_LEADER) {
        cor_raft_id_t l = cor_raft_leader(n->r);
        if (l == 0 || l > (cor_raft_id_t)n_ids || nodes[l].r == NULL)
            return true;
        n = &nodes[l];
    }
    uint8_t data[24];
    uint64_t pid = ++next_pid, x = rnd();
    memcpy(data, &pid, 8);
    memcpy(data + 8, &x, 8);
    memcpy(data + 16, &now, 8);
    uint64_t index, term;
    int rc = cor_raft_propose(n->r, data, 8 + rnd_below(17), &index, &term);
    if (rc != 0)
        return true;
    stats.proposals++;
    if (n_props == cap_props) {
        cap_props = cap_props ? cap_props * 2 : 256;
        props = xrealloc(props, cap_props * sizeof *props);
    }
    props[n_props++] = (proposal_t){pid, n->id, index, term, false};
    tr("propose %" PRIu64 " at %" PRIu64 " index %" PRIu64, pid, n->id, index);
    return process(n);
}

static bool read_req(void)
{
    node_t *n = live_leader();
    if (n == NULL)
        return true;
    uint64_t ctx = ++next_ctx;
    if (cor_raft_read(n->r, ctx) != 0)
        return true;
    stats.reads++;
    if (n_reads_rec == cap_reads_rec) {
        cap_reads_rec = cap_reads_rec ? cap_reads_rec * 2 : 64;
        reads = xrealloc(reads, cap_reads_rec * sizeof *reads);
    }
    reads[n_reads_rec++] = (read_req_t){ctx, max_committed, n->id};
    return process(n);
}

static bool conf_change(void)
{
    node_t *l = live_leader();
    if (l == NULL)
        return true;
    const cor_raft_conf_t *c = cor_raft_conf(l->r);
    int what = (int)rnd_below(3);
    cor_raft_id_t id = 0;
    int change = 0;
    if (what == 0) {
        if (n_ids >= MAX_NODES || c->n >= 7)
            return true;
        id = (cor_raft_id_t)(n_ids + 1);
        change = COR_RAFT_ADD_LEARNER;
    } else if (what == 1) {
        for (size_t i = 0; i < c->n; i++)
            if (!c->m[i].voter && cor_raft_match(l->r, c->m[i].id) >= cor_raft_commit(l->r))
                id = c->m[i].id;
        change = COR_RAFT_PROMOTE;
    } else {
        if (c->n == 0)
            return true;
        id = c->m[rnd_below(c->n)].id;
        change = COR_RAFT_REMOVE;
    }
    if (id == 0)
        return true;
    uint64_t index;
    if (cor_raft_change(l->r, change, id, &index) != 0)
        return true;
    stats.confs++;
    tr("conf change %d of %" PRIu64 " at leader %" PRIu64 " index %" PRIu64, change, id, l->id, index);
    if (change == COR_RAFT_ADD_LEARNER) {
        n_ids++;
        node_t *n = &nodes[id];
        n->exists = true;
        n->phase = (int)rnd_below(TICK);
        if (!start(n))
            return false;
    }
    return process(l);
}

static bool transfer(void)
{
    node_t *l = live_leader();
    if (l == NULL)
        return true;
    const cor_raft_conf_t *c = cor_raft_conf(l->r);
    if (c->n == 0)
        return true;
    cor_raft_id_t to = c->m[rnd_below(c->n)].id;
    if (cor_raft_transfer(l->r, to) != 0)
        return true;
    stats.transfers++;
    tr("transfer from %" PRIu64 " to %" PRIu64, l->id, to);
    return process(l);
}

static bool snapshot(void)
{
    node_t *n = random_live();
    if (n == NULL || n->sm.applied <= cor_raft_snap_index(n->r))
        return true;
    size_t len;
    uint8_t *b = sm_save(&n->sm, &len);
    uint64_t at = n->sm.applied;
    uint64_t term = cor_raft_term_at(n->r, at);
    int rc = cor_raft_snapshot(n->r, at, b, len);
    if (rc != 0) {
        free(b);
        return fail("server %" PRIu64 ": snapshot at applied %" PRIu64 " refused: %s", n->id, at,
                    code_name(rc));
    }
    stats.snapshots++;
    tr("snapshot at %" PRIu64 " on %" PRIu64, at, n->id);
    /* The disk keeps the same snapshot: take the configuration as of `at`
     * by replaying the disk's conf entries up to it. */
    cor_raft_conf_t dc = n->d.snap_conf;
    for (size_t k = 0; k < n->d.n_log && n->d.log[k].index <= at; k++)
        if (n->d.log[k].type == COR_RAFT_CONF)
            cor_raft_conf_decode(n->d.log[k].data, n->d.log[k].len, &dc);
    disk_set_snap(&n->d, at, term, &dc, b, len);
    free(b);
    return process(n);
}

static void partition(void)
{
    for (int i = 1; i <= MAX_NODES; i++)
        group_of[i] = (int)rnd_below(2);
    tr("partition");
}

static void heal(void)
{
    memset(group_of, 0, sizeof group_of);
    tr("heal");
}

/* One time unit: deliveries due now, ticks due now, and maybe a fault or
 * a client action. */
static bool step(bool faults)
{
    stats.steps++;
    faults_on = faults;
    /* Deliver what is due, in random order among them. */
    for (;;) {
        size_t due[64], k = 0;
        for (size_t i = 0; i < n_net && k < 64; i++)
            if (net[i].at <= now)
                due[k++] = i;
        if (k == 0)
            break;
        size_t pick = due[rnd_below(k)];
        packet_t p = net[pick];
        net[pick] = net[--n_net];
        bool ok = deliver(&p);
        free(p.bytes);
        if (!ok)
            return false;
    }
    for (int i = 1; i <= n_ids; i++) {
        node_t *n = &nodes[i];
        if (n->r != NULL && (now + (uint64_t)n->phase) % TICK == 0) {
            cor_raft_tick(n->r);
            if (!process(n))
                return false;
        }
    }
    if (chance(0.004) && !snapshot())
        return false;
    if (!faults)
        return true; /* converging: no new writes, so the followers can catch up */
    if (chance(0.06) && !propose())
        return false;
    if (chance(0.01) && !read_req())
        return false;
    if (chance(0.0015)) {
        node_t *n = random_live();
        if (n != NULL)
            crash(n, "killed");
    }
    if (chance(p_kill_leader)) {
        node_t *n = live_leader();
        if (n != NULL)
            crash(n, "leader killed");
    }
    for (int i = 1; i <= n_ids; i++)
        if (nodes[i].exists && nodes[i].r == NULL && chance(0.01)) {
            tr("restart %d", i);
            if (!start(&nodes[i]) || !process(&nodes[i]))
                return false;
        }
    if (chance(0.0015))
        partition();
    if (chance(0.004))
        heal();
    if (chance(0.003) && !conf_change())
        return false;
    if (chance(0.002) && !transfer())
        return false;
    return true;
}

/* ---------------- one schedule ---------------- */

static void reset_run(void)
{
    for (int i = 1; i <= MAX_NODES; i++) {
        if (nodes[i].r)
            cor_raft_free(nodes[i].r);
        disk_free(&nodes[i].d);
        free(nodes[i].votes);
    }
    memset(nodes, 0, sizeof nodes);
    for (size_t i = 0; i < n_net; i++)
        free(net[i].bytes);
    n_net = 0;
    free(committed);
    free(chain);
    committed = NULL;
    chain = NULL;
    cap_idx = 0;
    max_committed = 0;
    free(leader_of);
    leader_of = NULL;
    cap_terms = 0;
    free(lmap);
    lmap = NULL;
    cap_lmap = n_lmap = 0;
    n_props = 0;
    n_reads_rec = 0;
    next_pid = next_ctx = 0;
    memset(group_of, 0, sizeof group_of);
    failure[0] = 0;
    now = 0;
}

/* Heals everything and waits for every member to apply the whole log. */
static bool converge(void)
{
    heal();
    p_drop = p_dup = p_long = p_kill_leader = 0;
    for (int i = 1; i <= n_ids; i++)
        if (nodes[i].exists && nodes[i].r == NULL && (!start(&nodes[i]) || !process(&nodes[i])))
            return false;
    for (int i = 1; i <= n_ids; i++) {
        node_t *n = &nodes[i];
        if (n->r == NULL)
            continue;
        const cor_raft_conf_t *c = cor_raft_conf(n->r);
        char buf[128];
        size_t o = 0;
        for (size_t k = 0; k < c->n && o < sizeof buf - 24; k++)
            o += (size_t)snprintf(buf + o, sizeof buf - o, " %" PRIu64 "%s", c->m[k].id,
                                  c->m[k].voter ? "" : "L");
        tr("server %d: %s term %" PRIu64 " last %" PRIu64 " commit %" PRIu64 " applied %" PRIu64
           " conf [%s ]", i, cor_raft_role_name(cor_raft_role(n->r)), cor_raft_term(n->r),
           cor_raft_last_index(n->r), cor_raft_commit(n->r), n->sm.applied, buf);
    }
    uint64_t deadline = now + 4000;
    bool marker = false;
    while (now < deadline) {
        now++;
        if (!step(false))
            return false;
        node_t *l = live_leader();
        if (l == NULL)
            continue;
        if (!marker) {
            /* One more write, so the leader's term has a committed entry. */
            uint8_t d[8] = {0};
            int prc = cor_raft_propose(l->r, d, sizeof d, NULL, NULL);
            if (prc == 0)
                marker = true;
            tr("final write at leader %" PRIu64 ": %s", l->id, prc ? code_name(prc) : "ok");
            if (!process(l))
                return false;
            continue;
        }
        uint64_t last = cor_raft_last_index(l->r);
        if (cor_raft_commit(l->r) < last)
            continue;
        bool all = true;
        const cor_raft_conf_t *c = cor_raft_conf(l->r);
        for (size_t i = 0; i < c->n && all; i++) {
            node_t *n = &nodes[c->m[i].id];
            all = n->r != NULL && n->sm.applied == last;
        }
        if (!all)
            continue;
        /* Durability: every acknowledged write is in the final log. */
        for (size_t i = 0; i < n_props; i++) {
            if (!props[i].acked)
                continue;
            const cor_raft_entry_t *e = cor_raft_entry_at(l->r, props[i].index);
            if (props[i].index > last)
                return fail("acknowledged write %" PRIu64 " at %" PRIu64 " is beyond the final log",
                            props[i].pid, props[i].index);
            if (e != NULL) {
                uint64_t pid;
                memcpy(&pid, e->data, 8);
                if (e->term != props[i].term || pid != props[i].pid)
                    return fail("acknowledged write %" PRIu64 " at %" PRIu64 " was lost",
                                props[i].pid, props[i].index);
            }
        }
        return true;
    }
    return fail("liveness: no leader applied the whole log within 400 ticks of healing");
}

static bool run(uint64_t seed, uint64_t steps)
{
    reset_run();
    rng_state = seed * 0x2545F4914F6CDD1DULL + 1;
    cur_seed = seed;
    uint64_t pick = rnd_below(10);
    int voters = pick < 1 ? 1 : pick < 5 ? 3 : 5;
    n_ids = voters;
    double drops[] = {0, 0.02, 0.1, 0.25};
    p_drop = drops[rnd_below(4)];
    p_dup = chance(0.5) ? 0.05 : 0;
    p_long = chance(0.5) ? 0.05 : 0;
    double kills[] = {0, 0.002, 0.008};
    p_kill_leader = kills[rnd_below(3)];
    cor_raft_conf_t conf = {0};
    for (int i = 1; i <= voters; i++)
        conf.m[conf.n++] = (cor_raft_member_t){(cor_raft_id_t)i, true};
    for (int i = 1; i <= voters; i++) {
        node_t *n = &nodes[i];
        n->id = (cor_raft_id_t)i;
        n->exists = true;
        n->phase = (int)rnd_below(TICK);
        if (!start(n))
            return false;
        if (cor_raft_bootstrap(n->r, &conf) != 0)
            return fail("bootstrap failed");
        if (!process(n))
            return false;
    }
    for (int i = voters + 1; i <= MAX_NODES; i++)
        nodes[i].id = (cor_raft_id_t)i;
    tr("seed %" PRIu64 ": %d voters, drop %.2f dup %.2f", seed, voters, p_drop, p_dup);
    for (now = 1; now <= steps; now++)
        if (!step(true))
            return false;
    return converge();
}

int main(int argc, char **argv)
{
    uint64_t from = 1, count = 100, steps = 3000;
    bool one = false, expect_failure = false, quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--seeds") && v) {
            count = strtoull(v, NULL, 10);
            i++;
        } else if (!strcmp(a, "--from") && v) {
            from = strtoull(v, NULL, 10);
            i++;
        } else if (!strcmp(a, "--seed") && v) {
            from = strtoull(v, NULL, 10);
            count = 1;
            one = true;
            i++;
        } else if (!strcmp(a, "--steps") && v) {
            steps = strtoull(v, NULL, 10);
            i++;
        } else if (!strcmp(a, "--trace")) {
            trace = true;
        } else if (!strcmp(a, "--expect-failure")) {
            expect_failure = true;
        } else if (!strcmp(a, "--quiet")) {
            quiet = true;
        } else {
            fprintf(stderr,
                    "usage: cor-raft-sim [--seeds N] [--from S] [--seed S] [--steps T] [--trace]\n"
                    "                    [--expect-failure] [--quiet]\n"
                    "unknown or incomplete argument: %s\n",
                    a);
            return 2;
        }
    }
    if (count == 0 || steps == 0) {
        fprintf(stderr, "cor-raft-sim: --seeds and --steps must be positive\n");
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t failed = 0, first_bad = 0, ran = 0;
    for (uint64_t s = from; s < from + count; s++) {
        ran++;
        if (!run(s, steps)) {
            if (failed++ == 0)
                first_bad = s;
            printf("cor-raft-sim: seed %" PRIu64 " FAILED: %s\n  replay: cor-raft-sim --seed %" PRIu64
                   " --steps %" PRIu64 " --trace\n",
                   s, failure, s, steps);
            if (expect_failure || one)
                break;
        }
    }
    reset_run();
    free(net);
    free(props);
    free(reads);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (!quiet || failed)
        printf("cor-raft-sim: %" PRIu64 " schedules from seed %" PRIu64 ", %" PRIu64 " steps each, %.1f s"
               " (%.0f schedules/s): %" PRIu64 " failed\n"
               "  %" PRIu64 " elections, %" PRIu64 " proposals (%" PRIu64 " acknowledged), %" PRIu64
               " reads, %" PRIu64 " membership changes, %" PRIu64 " transfers, %" PRIu64
               " snapshots, %" PRIu64 " crashes (%" PRIu64 " mid-persist), %" PRIu64 " messages (%" PRIu64
               " dropped)\n",
               ran, from, steps, secs, (double)ran / secs, failed, stats.elections,
               stats.proposals, stats.acked, stats.reads, stats.confs, stats.transfers,
               stats.snapshots, stats.crashes, stats.sync_crashes, stats.msgs, stats.dropped);
    if (expect_failure) {
        if (failed) {
            printf("cor-raft-sim: the broken build was caught at seed %" PRIu64 " (as expected)\n",
                   first_bad);
            return 0;
        }
        printf("cor-raft-sim: the broken build passed every schedule: the checks missed it\n");
        return 1;
    }
    return failed ? 1 : 0;
}
