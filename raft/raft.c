/*
 * raft/raft.c — the Raft core: events in, an update out (cor/raft.h).
 *
 * Design. The core keeps the log in memory (the entries after the last
 * snapshot, each entry's bytes its own copy), its term and vote, and, on a
 * leader, one progress record per member. Every event only changes that
 * state and queues messages; cor_raft_ready turns the changes into an
 * update (what to persist, send, apply) and cor_raft_advance marks them
 * done. Three rules keep it safe whatever the driver's timing:
 *
 *  - Nothing that promises leaves before it is durable: votes and
 *    acknowledgements go out only after the update's term, vote and
 *    entries are persisted, so they never outrun the disk. A leader's
 *    appends are the exception the thesis allows (10.2.1): they go out at
 *    once ("early"), because the leader counts itself towards a commit
 *    only up to what it persisted (`stable`).
 *  - A leader commits by counting only entries of its own term (thesis
 *    3.6.2, "Figure 8"); earlier ones commit with them.
 *  - Queued APPEND and SNAPSHOT messages name their entries and chunk by
 *    index and offset; cor_raft_ready resolves them against the log as it
 *    is then, and drops any the log no longer backs (compacted, or the
 *    leader stepped down). Dropping a message is always safe in Raft.
 *
 * Replication per follower moves through three states: PROBE (one append
 * out at a time, until one matches), REPLICATE (up to max_inflight appends
 * pipelined, next_index advanced optimistically) and SNAPSHOT (the entries
 * it needs are compacted: the snapshot goes out chunk by chunk, one chunk
 * in flight). Heartbeats are appends without entries at next_index - 1, so
 * a follower that lost an append in the pipeline refuses the next
 * heartbeat and the leader backs up to the follower's hint.
 *
 * Failure modes: a malformed or misaddressed message is dropped with
 * COR_EPROTO and a reason (cor_raft_recv); an append that would overwrite
 * a committed entry is refused the same way, since it can only come from a
 * broken peer. Stale messages (old terms, duplicates, reordered replies)
 * are normal traffic and change nothing.
 *
 * COR_RAFT_BUG (a number, for the simulator's self-test only) compiles in
 * one deliberate violation of a rule, to show the invariant checks catch
 * it: 1 grants votes without the log check, 2 commits entries of earlier
 * terms by counting, 3 lets a follower take the leader's commit index
 * without bounding it by the entries it just matched (so it may apply a
 * stale suffix), 4 sends a granted vote before the vote is persisted.
 * Never set in a product build.
 */
#include "cor/raft.h"

#include <stdlib.h>
#include <string.h>

#include "raft_int.h"

#ifndef COR_RAFT_BUG
#define COR_RAFT_BUG 0
#endif

#define RAFT_TERM_MAX (UINT64_MAX >> 1) /* terms at or above it are refused */

enum { PR_PROBE, PR_REPLICATE, PR_SNAPSHOT };

typedef struct progress {
    cor_raft_id_t id;
    uint64_t next, match;
    int state;
    int inflight;        /* REPLICATE: appends with entries not yet acked */
    bool probe_sent;     /* PROBE: an append is out; wait for its reply */
    bool active;         /* heard from since the last quorum check */
    uint64_t read_ack;   /* highest read round it answered */
    uint64_t snap_index; /* SNAPSHOT: the one being sent */
    uint64_t snap_offset;   /* the outstanding chunk's start */
    uint64_t snap_sent_end; /* and end: the reply that moves on names it */
    bool chunk_acked;       /* answered since sent (else resent on heartbeat) */
} progress_t;

typedef struct pending_read {
    uint64_t ctx;
    uint64_t index;
    uint64_t seq; /* 0: waiting for the leader's first commit */
} pending_read_t;

struct cor_raft {
    cor_raft_options_t o;
    bool started, in_update;

    uint64_t term;
    cor_raft_id_t vote, leader;
    int role;
    bool hard_dirty;

    /* Log: log[k].index == snap_index + 1 + k. */
    uint64_t snap_index, snap_term;
    cor_raft_conf_t snap_conf;
    uint8_t *snap;
    size_t snap_len;
    cor_raft_entry_t *log;
    size_t n_log, cap_log;
    uint64_t stable;        /* entries up to here are persisted */
    uint64_t unstable_from; /* first index to persist; 0: none */
    uint64_t commit, applied;

    cor_raft_conf_t conf; /* newest in the log */
    uint64_t conf_index;

    int elapsed, timeout, hb_elapsed, transfer_elapsed;
    uint64_t rng;

    /* Candidate: votes by member. */
    cor_raft_id_t granted[COR_RAFT_MAX_MEMBERS], refused[COR_RAFT_MAX_MEMBERS];
    size_t n_granted, n_refused;

    /* Leader. */
    progress_t pr[COR_RAFT_MAX_MEMBERS];
    size_t n_pr;
    cor_raft_id_t transfer_to;
    uint64_t read_seq;
    bool committed_in_term;
    pending_read_t *reads;
    size_t n_reads, cap_reads;

    /* A snapshot being received. */
    bool rx_active;
    uint64_t rx_index, rx_term;
    cor_raft_conf_t rx_conf;
    uint8_t *rx_buf;
    size_t rx_len, rx_cap;
    bool snap_received; /* installed; the next update persists it */

    /* Output. */
    cor_raft_msg_t *msgs;
    size_t n_msgs, cap_msgs;
    cor_raft_read_state_t *ready_reads;
    size_t n_ready, cap_ready;
};

/* ---------------- small helpers ---------------- */

static uint64_t rng_next(cor_raft_t *r)
{
    /* xorshift64*: deterministic from the driver's seed. */
    uint64_t x = r->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static void reset_timeout(cor_raft_t *r)
{
    r->elapsed = 0;
    r->timeout = r->o.election_ticks + (int)(rng_next(r) % (uint64_t)r->o.election_ticks);
}

static bool grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap * 2 : 16;
    while (c < need)
        c *= 2;
    void *n = realloc(*p, c * size);
    if (n == NULL)
        return false;
    *p = n;
    *cap = c;
    return true;
}

uint64_t cor_raft_last_index(const cor_raft_t *r)
{
    return r->snap_index + r->n_log;
}

uint64_t cor_raft_term_at(const cor_raft_t *r, uint64_t index)
{
    if (index == r->snap_index)
        return r->snap_term;
    if (index < r->snap_index || index > cor_raft_last_index(r))
        return 0;
    return r->log[index - r->snap_index - 1].term;
}

const cor_raft_entry_t *cor_raft_entry_at(const cor_raft_t *r, uint64_t index)
{
    if (index <= r->snap_index || index > cor_raft_last_index(r))
        return NULL;
    return &r->log[index - r->snap_index - 1];
}

static uint64_t last_term(const cor_raft_t *r)
{
    return cor_raft_term_at(r, cor_raft_last_index(r));
}

static bool is_voter(const cor_raft_t *r, cor_raft_id_t id)
{
    const cor_raft_member_t *m = cor_raft_conf_find(&r->conf, id);
    return m != NULL && m->voter;
}

static size_t quorum(const cor_raft_t *r)
{
    return cor_raft_conf_voters(&r->conf) / 2 + 1;
}

static progress_t *find_pr(cor_raft_t *r, cor_raft_id_t id)
{
    for (size_t i = 0; i < r->n_pr; i++)
        if (r->pr[i].id == id)
            return &r->pr[i];
    return NULL;
}

static cor_raft_msg_t *queue(cor_raft_t *r, int type, cor_raft_id_t to)
{
    if (!grow((void **)&r->msgs, &r->cap_msgs, r->n_msgs + 1, sizeof *r->msgs))
        return NULL; /* out of memory: the message is lost, which Raft tolerates */
    cor_raft_msg_t *m = &r->msgs[r->n_msgs++];
    memset(m, 0, sizeof *m);
    m->type = type;
    m->from = r->o.id;
    m->to = to;
    m->term = r->term;
    return m;
}

static void read_done(cor_raft_t *r, uint64_t ctx, uint64_t index, bool failed)
{
    if (!grow((void **)&r->ready_reads, &r->cap_ready, r->n_ready + 1, sizeof *r->ready_reads))
        return; /* out of memory: the read is never answered; its caller times out */
    r->ready_reads[r->n_ready++] = (cor_raft_read_state_t){ctx, index, failed};
}

/* ---------------- the log ---------------- */

static void free_entry(cor_raft_entry_t *e)
{
    free((void *)e->data);
    e->data = NULL;
}

/* Appends a copy of e (index must be last + 1). */
static int log_append(cor_raft_t *r, const cor_raft_entry_t *e)
{
    if (!grow((void **)&r->log, &r->cap_log, r->n_log + 1, sizeof *r->log))
        return COR_ENOMEM;
    uint8_t *copy = NULL;
    if (e->len > 0) {
        if ((copy = malloc(e->len)) == NULL)
            return COR_ENOMEM;
        memcpy(copy, e->data, e->len);
    }
    r->log[r->n_log++] = (cor_raft_entry_t){e->term, e->index, e->type, copy, e->len};
    if (r->unstable_from == 0)
        r->unstable_from = e->index;
    if (e->type == COR_RAFT_CONF) {
        cor_raft_conf_t c;
        /* Checked on the way in (recv, load, change). */
        if (cor_raft_conf_decode(e->data, e->len, &c) == 0) {
            r->conf = c;
            r->conf_index = e->index;
        }
    }
    return 0;
}

/* The newest configuration in the log, else the snapshot's. */
static void recompute_conf(cor_raft_t *r)
{
    for (size_t k = r->n_log; k-- > 0;) {
        cor_raft_conf_t c;
        if (r->log[k].type == COR_RAFT_CONF &&
            cor_raft_conf_decode(r->log[k].data, r->log[k].len, &c) == 0) {
            r->conf = c;
            r->conf_index = r->log[k].index;
            return;
        }
    }
    r->conf = r->snap_conf;
    r->conf_index = r->snap_index;
}

/* Drops entries from index on (a follower's conflicting suffix). */
static void log_truncate(cor_raft_t *r, uint64_t index)
{
    size_t keep = (size_t)(index - r->snap_index - 1);
    for (size_t k = keep; k < r->n_log; k++)
        free_entry(&r->log[k]);
    r->n_log = keep;
    if (r->stable >= index)
        r->stable = index - 1;
    if (r->unstable_from == 0 || r->unstable_from > index)
        r->unstable_from = index;
    recompute_conf(r);
}

/* Drops entries up to and including index (compaction). */
static void log_compact(cor_raft_t *r, uint64_t index)
{
    uint64_t last = cor_raft_last_index(r);
    size_t drop = index >= last ? r->n_log : (size_t)(index - r->snap_index);
    for (size_t k = 0; k < drop; k++)
        free_entry(&r->log[k]);
    if (drop > 0 && drop < r->n_log)
        memmove(r->log, r->log + drop, (r->n_log - drop) * sizeof *r->log);
    r->n_log -= drop;
}

/* ---------------- roles ---------------- */

static void drop_leader_messages(cor_raft_t *r)
{
    /* Queued appends with entries and snapshot chunks are resolved against
     * the log at cor_raft_ready; once this server is no longer leader its
     * log may change under them, so they are dropped (safe: the network
     * may drop anything). */
    size_t w = 0;
    for (size_t i = 0; i < r->n_msgs; i++) {
        const cor_raft_msg_t *m = &r->msgs[i];
        if ((m->type == COR_RAFT_MSG_APPEND && m->n_entries > 0) ||
            m->type == COR_RAFT_MSG_SNAPSHOT)
            continue;
        r->msgs[w++] = *m;
    }
    r->n_msgs = w;
}

static void fail_reads(cor_raft_t *r)
{
    for (size_t i = 0; i < r->n_reads; i++)
        read_done(r, r->reads[i].ctx, 0, true);
    r->n_reads = 0;
}

static void become_follower(cor_raft_t *r, uint64_t term, cor_raft_id_t leader)
{
    if (r->role == COR_RAFT_LEADER) {
        drop_leader_messages(r);
        fail_reads(r);
        r->n_pr = 0;
        r->transfer_to = 0;
    }
    if (term != r->term) {
        r->term = term;
        r->vote = 0;
        r->hard_dirty = true;
    }
    r->role = COR_RAFT_FOLLOWER;
    r->leader = leader;
    reset_timeout(r);
}

static void pr_reset(cor_raft_t *r, progress_t *p, cor_raft_id_t id)
{
    memset(p, 0, sizeof *p);
    p->id = id;
    p->next = cor_raft_last_index(r) + 1;
    p->state = PR_PROBE;
    p->active = true;
}

/* Keeps one progress record per member of the configuration (and one for
 * the leader itself, even when the configuration removes it). */
static void sync_progress(cor_raft_t *r)
{
    progress_t keep[COR_RAFT_MAX_MEMBERS + 1];
    size_t n = 0;
    for (size_t i = 0; i < r->conf.n; i++) {
        progress_t *p = find_pr(r, r->conf.m[i].id);
        if (p != NULL)
            keep[n] = *p;
        else
            pr_reset(r, &keep[n], r->conf.m[i].id);
        n++;
    }
    if (cor_raft_conf_find(&r->conf, r->o.id) == NULL) {
        progress_t *self = find_pr(r, r->o.id);
        if (self != NULL)
            keep[n] = *self;
        else
            pr_reset(r, &keep[n], r->o.id);
        n++;
    }
    if (n > COR_RAFT_MAX_MEMBERS)
        n = COR_RAFT_MAX_MEMBERS; /* cannot happen: conf.n < MAX when self is out */
    memcpy(r->pr, keep, n * sizeof *keep);
    r->n_pr = n;
}

static void send_append(cor_raft_t *r, progress_t *p, bool heartbeat);
static void bcast_heartbeat(cor_raft_t *r);

static void become_leader(cor_raft_t *r)
{
    r->role = COR_RAFT_LEADER;
    r->leader = r->o.id;
    r->transfer_to = 0;
    r->committed_in_term = false;
    r->hb_elapsed = 0;
    r->elapsed = 0;
    r->n_pr = 0;
    sync_progress(r);
    for (size_t i = 0; i < r->n_pr; i++)
        if (r->pr[i].id == r->o.id)
            r->pr[i].match = r->stable;
    cor_raft_entry_t noop = {r->term, cor_raft_last_index(r) + 1, COR_RAFT_NOOP, NULL, 0};
    if (log_append(r, &noop) != 0) {
        /* Out of memory: without its no-op this leader could never commit
         * in its term. Step down; a later election tries again. */
        become_follower(r, r->term, 0);
        return;
    }
    bcast_heartbeat(r);
}

/* Whether this server may start an election: a voter of the newest
 * configuration may; so may a voter that the newest configuration removes
 * while that removal is not known to be committed (thesis 4.2.2: it may
 * still be needed to commit it; its own vote does not count). */
static bool can_campaign(const cor_raft_t *r)
{
    if (is_voter(r, r->o.id))
        return true;
    if (cor_raft_conf_find(&r->conf, r->o.id) != NULL || r->conf_index <= r->commit)
        return false;
    cor_raft_conf_t before = r->snap_conf;
    for (uint64_t i = r->conf_index - 1; i > r->snap_index; i--) {
        const cor_raft_entry_t *e = cor_raft_entry_at(r, i);
        if (e->type == COR_RAFT_CONF && cor_raft_conf_decode(e->data, e->len, &before) == 0)
            break;
    }
    const cor_raft_member_t *m = cor_raft_conf_find(&before, r->o.id);
    return m != NULL && m->voter;
}

static void campaign(cor_raft_t *r, bool pre, bool transfer)
{
    if (!can_campaign(r))
        return;
    uint64_t term;
    if (pre) {
        if (r->role == COR_RAFT_LEADER)
            return;
        r->role = COR_RAFT_PRE_CANDIDATE;
        r->leader = 0;
        term = r->term + 1;
    } else {
        if (r->role == COR_RAFT_LEADER)
            become_follower(r, r->term, 0);
        r->term++;
        r->vote = r->o.id;
        r->hard_dirty = true;
        r->role = COR_RAFT_CANDIDATE;
        r->leader = 0;
        term = r->term;
    }
    reset_timeout(r);
    r->n_granted = r->n_refused = 0;
    if (is_voter(r, r->o.id))
        r->granted[r->n_granted++] = r->o.id;
    if (r->n_granted >= quorum(r)) {
        if (pre)
            campaign(r, false, transfer);
        else
            become_leader(r);
        return;
    }
    for (size_t i = 0; i < r->conf.n; i++) {
        const cor_raft_member_t *m = &r->conf.m[i];
        if (!m->voter || m->id == r->o.id)
            continue;
        cor_raft_msg_t *q = queue(r, pre ? COR_RAFT_MSG_PREVOTE : COR_RAFT_MSG_VOTE, m->id);
        if (q == NULL)
            return;
        q->term = term;
        q->last_index = cor_raft_last_index(r);
        q->last_term = last_term(r);
        q->transfer = transfer;
    }
}

/* ---------------- leader: replication ---------------- */

static void send_snapshot_chunk(cor_raft_t *r, progress_t *p)
{
    if (p->snap_index != r->snap_index) {
        /* Compacted again since this transfer began: send the newer one. */
        p->snap_index = r->snap_index;
        p->snap_offset = 0;
    }
    cor_raft_msg_t *m = queue(r, COR_RAFT_MSG_SNAPSHOT, p->id);
    if (m == NULL)
        return;
    size_t left = r->snap_len - (size_t)p->snap_offset;
    m->snap_index = r->snap_index;
    m->snap_term = r->snap_term;
    m->conf = r->snap_conf;
    m->offset = p->snap_offset;
    m->len = left < r->o.snapshot_chunk ? left : r->o.snapshot_chunk;
    m->done = p->snap_offset + m->len == r->snap_len;
    m->commit = r->commit;
    p->snap_sent_end = p->snap_offset + m->len;
    p->chunk_acked = false;
}

static void start_snapshot(cor_raft_t *r, progress_t *p)
{
    p->state = PR_SNAPSHOT;
    p->snap_index = r->snap_index;
    p->snap_offset = 0;
    p->inflight = 0;
    send_snapshot_chunk(r, p);
}

/* One APPEND to p from p->next (entries up to the limits; none for a
 * heartbeat). */
static void send_append(cor_raft_t *r, progress_t *p, bool heartbeat)
{
    if (p->state == PR_SNAPSHOT)
        return;
    uint64_t prev = p->next - 1;
    if (prev < r->snap_index || (prev > 0 && cor_raft_term_at(r, prev) == 0)) {
        if (r->snap_index > 0 && prev < r->snap_index)
            start_snapshot(r, p);
        else
            p->next = cor_raft_last_index(r) + 1; /* cannot happen; resync */
        return;
    }
    cor_raft_msg_t *m = queue(r, COR_RAFT_MSG_APPEND, p->id);
    if (m == NULL)
        return;
    m->prev_index = prev;
    m->prev_term = cor_raft_term_at(r, prev);
    m->commit = r->commit;
    m->read_seq = r->read_seq;
    if (heartbeat)
        return;
    uint64_t last = cor_raft_last_index(r);
    size_t n = 0, bytes = 0;
    while (prev + n < last && n < r->o.max_append) {
        size_t l = r->log[prev + n - r->snap_index].len;
        if (n > 0 && bytes + l > r->o.max_append_bytes)
            break;
        bytes += l;
        n++;
    }
    m->n_entries = n; /* resolved to pointers in cor_raft_ready */
    if (p->state != PR_REPLICATE) {
        p->probe_sent = true; /* one probe out until it is answered */
    } else if (n > 0) {
        p->next = prev + n + 1;
        p->inflight++;
    }
}

static void bcast_heartbeat(cor_raft_t *r)
{
    for (size_t i = 0; i < r->n_pr; i++) {
        progress_t *p = &r->pr[i];
        if (p->id == r->o.id)
            continue;
        if (p->state == PR_SNAPSHOT) {
            if (!p->chunk_acked)
                send_snapshot_chunk(r, p); /* resend: the chunk or its reply was lost */
            continue;
        }
        if (p->state == PR_PROBE) {
            p->probe_sent = false;
            send_append(r, p, false);
        } else {
            send_append(r, p, true);
        }
    }
}

/* Sends what each follower is owed (called before an update is built, so
 * all entries proposed since the last update travel together). */
static void flush_appends(cor_raft_t *r)
{
    uint64_t last = cor_raft_last_index(r);
    for (size_t i = 0; i < r->n_pr; i++) {
        progress_t *p = &r->pr[i];
        if (p->id == r->o.id)
            continue;
        if (p->state == PR_REPLICATE) {
            while (p->next <= last && p->inflight < r->o.max_inflight && p->state == PR_REPLICATE) {
                size_t before = r->n_msgs;
                send_append(r, p, false);
                if (r->n_msgs == before)
                    break;
            }
        } else if (p->state == PR_PROBE && !p->probe_sent) {
            send_append(r, p, false);
        }
    }
}

static void arm_reads(cor_raft_t *r);
static void check_reads(cor_raft_t *r);

static void maybe_commit(cor_raft_t *r)
{
    uint64_t m[COR_RAFT_MAX_MEMBERS];
    size_t n = 0;
    for (size_t i = 0; i < r->conf.n; i++) {
        if (!r->conf.m[i].voter)
            continue;
        if (r->conf.m[i].id == r->o.id) {
            m[n++] = r->stable;
        } else {
            progress_t *p = find_pr(r, r->conf.m[i].id);
            m[n++] = p != NULL ? p->match : 0;
        }
    }
    if (n == 0)
        return;
    /* The quorum-th highest match. */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && m[j] > m[j - 1]; j--) {
            uint64_t t = m[j];
            m[j] = m[j - 1];
            m[j - 1] = t;
        }
    uint64_t c = m[quorum(r) - 1];
#if COR_RAFT_BUG == 2
    bool ok = c > r->commit && cor_raft_term_at(r, c) != 0;
#else
    bool ok = c > r->commit && cor_raft_term_at(r, c) == r->term;
#endif
    if (!ok)
        return;
    r->commit = c;
    if (!r->committed_in_term && cor_raft_term_at(r, c) == r->term) {
        r->committed_in_term = true;
        arm_reads(r);
    }
    /* A leader that removed itself leaves once the removal commits, after
     * telling the others the new commit index and handing over to the most
     * caught-up voter. */
    if (r->conf_index <= r->commit && !is_voter(r, r->o.id)) {
        progress_t *best = NULL;
        for (size_t i = 0; i < r->n_pr; i++) {
            progress_t *p = &r->pr[i];
            if (p->id == r->o.id || !is_voter(r, p->id))
                continue;
            cor_raft_msg_t *h = queue(r, COR_RAFT_MSG_APPEND, p->id);
            if (h != NULL) {
                h->prev_index = p->match;
                h->prev_term = cor_raft_term_at(r, p->match);
                h->commit = r->commit;
                if (h->prev_term == 0 && p->match != 0)
                    r->n_msgs--; /* compacted: skip this courtesy */
            }
            if (best == NULL || p->match > best->match)
                best = p;
        }
        if (best != NULL && best->match == cor_raft_last_index(r))
            queue(r, COR_RAFT_MSG_TIMEOUT_NOW, best->id);
        become_follower(r, r->term, 0);
    }
}

/* ---------------- leader: reads ---------------- */

static void arm_reads(cor_raft_t *r)
{
    bool any = false;
    for (size_t i = 0; i < r->n_reads; i++) {
        if (r->reads[i].seq != 0)
            continue;
        r->reads[i].index = r->commit;
        r->reads[i].seq = ++r->read_seq;
        any = true;
    }
    if (any) {
        check_reads(r); /* a group of one confirms at once */
        if (r->n_reads > 0)
            bcast_heartbeat(r);
    }
}

static void check_reads(cor_raft_t *r)
{
    size_t done = 0;
    while (done < r->n_reads && r->reads[done].seq != 0) {
        uint64_t seq = r->reads[done].seq;
        size_t acks = is_voter(r, r->o.id) ? 1 : 0;
        for (size_t i = 0; i < r->n_pr; i++)
            if (r->pr[i].id != r->o.id && is_voter(r, r->pr[i].id) && r->pr[i].read_ack >= seq)
                acks++;
        if (acks < quorum(r))
            break;
        read_done(r, r->reads[done].ctx, r->reads[done].index, false);
        done++;
    }
    if (done > 0) {
        memmove(r->reads, r->reads + done, (r->n_reads - done) * sizeof *r->reads);
        r->n_reads -= done;
    }
}

/* ---------------- message handlers ---------------- */

static bool log_up_to_date(const cor_raft_t *r, uint64_t li, uint64_t lt)
{
    uint64_t my = last_term(r);
    return lt > my || (lt == my && li >= cor_raft_last_index(r));
}

static void on_vote(cor_raft_t *r, const cor_raft_msg_t *m)
{
    bool pre = m->type == COR_RAFT_MSG_PREVOTE;
    bool can = r->vote == m->from || (r->vote == 0 && r->leader == 0) || (pre && m->term > r->term);
#if COR_RAFT_BUG == 1
    bool grant = can;
#else
    bool grant = can && log_up_to_date(r, m->last_index, m->last_term);
#endif
    cor_raft_msg_t *q = queue(r, pre ? COR_RAFT_MSG_PREVOTE_RESP : COR_RAFT_MSG_VOTE_RESP, m->from);
    if (q == NULL)
        return;
    q->reject = !grant;
    q->term = grant && pre ? m->term : r->term;
    if (grant && !pre) {
        r->vote = m->from;
        r->hard_dirty = true;
        reset_timeout(r);
    }
}

static void on_vote_resp(cor_raft_t *r, const cor_raft_msg_t *m)
{
    bool pre = m->type == COR_RAFT_MSG_PREVOTE_RESP;
    if ((pre && r->role != COR_RAFT_PRE_CANDIDATE) || (!pre && r->role != COR_RAFT_CANDIDATE))
        return;
    if (!is_voter(r, m->from))
        return;
    if (pre && !m->reject && m->term != r->term + 1)
        return; /* a grant from an earlier round */
    for (size_t i = 0; i < r->n_granted; i++)
        if (r->granted[i] == m->from)
            return;
    for (size_t i = 0; i < r->n_refused; i++)
        if (r->refused[i] == m->from)
            return;
    if (m->reject)
        r->refused[r->n_refused++] = m->from;
    else
        r->granted[r->n_granted++] = m->from;
    if (r->n_granted >= quorum(r)) {
        if (pre)
            campaign(r, false, false);
        else
            become_leader(r);
    } else if (r->n_refused >= quorum(r)) {
        become_follower(r, r->term, 0);
    }
}

static void reply_append(cor_raft_t *r, const cor_raft_msg_t *m, bool reject, uint64_t index,
                         uint64_t hint)
{
    cor_raft_msg_t *q = queue(r, COR_RAFT_MSG_APPEND_RESP, m->from);
    if (q == NULL)
        return;
    q->reject = reject;
    q->index = index;
    q->hint = hint;
    q->read_seq = m->read_seq;
}

static int on_append(cor_raft_t *r, const cor_raft_msg_t *m, const char **why)
{
    uint64_t prev = m->prev_index, prev_term = m->prev_term;
    const cor_raft_entry_t *es = m->entries;
    size_t n = m->n_entries;
    uint64_t last = cor_raft_last_index(r);

    /* Entries up to the commit index are known to match (committed
     * entries never change): skip them. */
    if (prev < r->commit) {
        uint64_t skip = r->commit - prev;
        if (skip >= n) {
            reply_append(r, m, false, r->commit, 0);
            return 0;
        }
        es += skip;
        n -= (size_t)skip;
        prev = r->commit;
        prev_term = cor_raft_term_at(r, prev);
    }
    if (prev > last || cor_raft_term_at(r, prev) != prev_term) {
        uint64_t hint = prev > last ? last : prev - 1;
        reply_append(r, m, true, m->prev_index, hint);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (es[i].index <= cor_raft_last_index(r)) {
            if (cor_raft_term_at(r, es[i].index) == es[i].term)
                continue;
            if (es[i].index <= r->commit) {
                *why = "append would overwrite a committed entry";
                return COR_EPROTO;
            }
            log_truncate(r, es[i].index);
        }
        if (log_append(r, &es[i]) != 0)
            return COR_ENOMEM;
    }
    uint64_t last_new = prev + n;
    if (m->commit > r->commit) {
#if COR_RAFT_BUG == 3
        uint64_t lim = cor_raft_last_index(r);
#else
        uint64_t lim = last_new;
#endif
        uint64_t c = m->commit < lim ? m->commit : lim;
        if (c > r->commit)
            r->commit = c;
    }
    reply_append(r, m, false, last_new, 0);
    return 0;
}

static void on_append_resp(cor_raft_t *r, const cor_raft_msg_t *m)
{
    progress_t *p = find_pr(r, m->from);
    if (p == NULL || p->id == r->o.id)
        return; /* not (or no longer) a member */
    p->active = true;
    if (m->read_seq > p->read_ack) {
        p->read_ack = m->read_seq;
        check_reads(r);
    }
    if (m->reject) {
        if (m->index <= p->match || p->state == PR_SNAPSHOT)
            return; /* stale */
        uint64_t next = m->hint + 1 < m->index ? m->hint + 1 : m->index;
        if (next < p->match + 1)
            next = p->match + 1;
        if (next < 1)
            next = 1;
        p->next = next;
        p->state = PR_PROBE;
        p->inflight = 0;
        p->probe_sent = false;
        send_append(r, p, false);
        return;
    }
    if (m->index > p->match) {
        p->match = m->index;
        if (p->inflight > 0)
            p->inflight--;
    }
    if (p->next < p->match + 1)
        p->next = p->match + 1;
    if (p->state == PR_PROBE) {
        p->state = PR_REPLICATE;
        p->probe_sent = false;
        p->inflight = 0;
    } else if (p->state == PR_SNAPSHOT && p->match >= p->snap_index) {
        p->state = PR_REPLICATE;
        p->inflight = 0;
    }
    if (p->match >= cor_raft_last_index(r))
        p->inflight = 0;
    maybe_commit(r);
    if (r->role == COR_RAFT_LEADER && r->transfer_to == m->from &&
        p->match == cor_raft_last_index(r))
        queue(r, COR_RAFT_MSG_TIMEOUT_NOW, m->from);
}

static void reply_snapshot(cor_raft_t *r, const cor_raft_msg_t *m, bool reject, uint64_t offset,
                           bool done)
{
    cor_raft_msg_t *q = queue(r, COR_RAFT_MSG_SNAPSHOT_RESP, m->from);
    if (q == NULL)
        return;
    q->reject = reject;
    q->snap_index = m->snap_index;
    q->offset = offset;
    q->done = done;
}

static int on_snapshot(cor_raft_t *r, const cor_raft_msg_t *m)
{
    if (m->snap_index <= r->commit) {
        reply_snapshot(r, m, false, m->offset + m->len, true);
        return 0;
    }
    bool same = r->rx_active && r->rx_index == m->snap_index && r->rx_term == m->snap_term;
    if (m->offset == 0 && !(same && r->rx_len > 0 && m->len <= r->rx_len)) {
        r->rx_active = true;
        r->rx_index = m->snap_index;
        r->rx_term = m->snap_term;
        r->rx_conf = m->conf;
        r->rx_len = 0;
    } else if (!same) {
        reply_snapshot(r, m, true, 0, false);
        return 0;
    } else if (m->offset != r->rx_len) {
        /* A duplicate (behind) or a gap (ahead): say what is wanted. */
        reply_snapshot(r, m, true, r->rx_len, false);
        return 0;
    }
    if (m->len > 0) {
        if (!grow((void **)&r->rx_buf, &r->rx_cap, r->rx_len + m->len, 1))
            return COR_ENOMEM;
        memcpy(r->rx_buf + r->rx_len, m->data, m->len);
        r->rx_len += m->len;
    }
    if (!m->done) {
        reply_snapshot(r, m, false, r->rx_len, false);
        return 0;
    }
    /* Install: keep the log after the snapshot if it holds the snapshot's
     * last entry, else drop it all. */
    if (cor_raft_term_at(r, m->snap_index) == m->snap_term &&
        m->snap_index <= cor_raft_last_index(r)) {
        log_compact(r, m->snap_index);
    } else {
        log_compact(r, cor_raft_last_index(r));
        r->unstable_from = 0;
    }
    free(r->snap);
    r->snap = r->rx_buf;
    r->snap_len = r->rx_len;
    r->rx_buf = NULL;
    r->rx_len = r->rx_cap = 0;
    r->rx_active = false;
    r->snap_index = m->snap_index;
    r->snap_term = m->snap_term;
    r->snap_conf = r->rx_conf;
    if (r->unstable_from != 0 && r->unstable_from <= r->snap_index)
        r->unstable_from = r->n_log ? r->snap_index + 1 : 0;
    if (r->stable < r->snap_index)
        r->stable = r->snap_index;
    if (r->commit < r->snap_index)
        r->commit = r->snap_index;
    r->applied = r->snap_index;
    r->snap_received = true;
    recompute_conf(r);
    reply_snapshot(r, m, false, m->offset + m->len, true);
    return 0;
}

static void on_snapshot_resp(cor_raft_t *r, const cor_raft_msg_t *m)
{
    progress_t *p = find_pr(r, m->from);
    if (p == NULL || p->id == r->o.id)
        return;
    p->active = true;
    if (p->state != PR_SNAPSHOT || m->snap_index != p->snap_index)
        return; /* stale */
    if (p->snap_index != r->snap_index) {
        start_snapshot(r, p); /* compacted again meanwhile: send the new one */
        return;
    }
    if (m->done && !m->reject) {
        if (p->match < p->snap_index)
            p->match = p->snap_index;
        p->next = p->match + 1;
        p->state = PR_PROBE;
        p->probe_sent = false;
        maybe_commit(r);
        return;
    }
    /* One chunk in flight: only the answer to the outstanding chunk moves
     * the transfer on, so duplicated and late answers cannot multiply the
     * traffic. A refusal names the offset the follower wants. */
    if (m->reject) {
        if (m->offset > r->snap_len)
            return;
        p->snap_offset = m->offset;
    } else if (m->offset == p->snap_sent_end && !p->chunk_acked) {
        p->snap_offset = m->offset;
    } else {
        return; /* stale */
    }
    p->chunk_acked = true;
    send_snapshot_chunk(r, p);
}

/* ---------------- validation ---------------- */

static int check_msg(const cor_raft_t *r, const cor_raft_msg_t *m, const char **why)
{
    if (m->type < COR_RAFT_MSG_PREVOTE || m->type > COR_RAFT_MSG_TYPE_MAX)
        return *why = "unknown message type", COR_EPROTO;
    if (m->to != r->o.id)
        return *why = "addressed to another server", COR_EPROTO;
    if (m->from == 0 || m->from == r->o.id)
        return *why = "bad sender", COR_EPROTO;
    /* No honest server gets anywhere near 2^63 terms; a term up there
     * could only overflow when this server campaigns after adopting it. */
    if (m->term >= RAFT_TERM_MAX)
        return *why = "term out of range", COR_EPROTO;
    if (m->type == COR_RAFT_MSG_APPEND) {
        if (m->n_entries > 0 && m->entries == NULL)
            return *why = "entries missing", COR_EPROTO;
        if (m->prev_index > UINT64_MAX - m->n_entries)
            return *why = "entry index overflows", COR_EPROTO;
        if (m->prev_term > m->term)
            return *why = "previous entry's term above the message's", COR_EPROTO;
        uint64_t t = m->prev_term;
        for (size_t i = 0; i < m->n_entries; i++) {
            const cor_raft_entry_t *e = &m->entries[i];
            if (e->index != m->prev_index + 1 + i)
                return *why = "entries out of order", COR_EPROTO;
            if (e->term < t || e->term > m->term || e->term == 0)
                return *why = "entry term out of order or above the message's", COR_EPROTO;
            t = e->term;
            if (e->type != COR_RAFT_NORMAL && e->type != COR_RAFT_CONF && e->type != COR_RAFT_NOOP)
                return *why = "unknown entry type", COR_EPROTO;
            if (e->len > 0 && e->data == NULL)
                return *why = "entry data missing", COR_EPROTO;
            cor_raft_conf_t c;
            if (e->type == COR_RAFT_CONF && cor_raft_conf_decode(e->data, e->len, &c) != 0)
                return *why = "malformed configuration entry", COR_EPROTO;
        }
    }
    if (m->type == COR_RAFT_MSG_SNAPSHOT) {
        if (m->snap_index == 0 || m->snap_term == 0 || m->snap_term > m->term)
            return *why = "snapshot index or term out of range", COR_EPROTO;
        if (raft_conf_check(&m->conf) != 0 || cor_raft_conf_voters(&m->conf) == 0)
            return *why = "malformed snapshot configuration", COR_EPROTO;
        if (m->len > 0 && m->data == NULL)
            return *why = "snapshot chunk missing", COR_EPROTO;
        if (m->offset > UINT64_MAX - m->len)
            return *why = "snapshot offset overflows", COR_EPROTO;
    }
    return 0;
}

/* ---------------- events ---------------- */

int cor_raft_recv(cor_raft_t *r, const cor_raft_msg_t *m, const char **why)
{
    const char *dummy;
    if (why == NULL)
        why = &dummy;
    *why = NULL;
    if (r->in_update)
        return *why = "called between ready and advance", COR_ESTATE;
    int rc = check_msg(r, m, why);
    if (rc != 0)
        return rc;
    r->started = true;

    bool vote_req = m->type == COR_RAFT_MSG_PREVOTE || m->type == COR_RAFT_MSG_VOTE;
    if (m->term > r->term) {
        if (vote_req && !m->transfer && r->leader != 0 && r->elapsed < r->o.election_ticks)
            return 0; /* in a leader's lease: ignore the campaign (check-quorum) */
        if (m->type == COR_RAFT_MSG_PREVOTE ||
            (m->type == COR_RAFT_MSG_PREVOTE_RESP && !m->reject)) {
            /* A pre-vote does not change terms. */
        } else {
            bool from_leader = m->type == COR_RAFT_MSG_APPEND || m->type == COR_RAFT_MSG_SNAPSHOT;
            become_follower(r, m->term, from_leader ? m->from : 0);
        }
    } else if (m->term < r->term) {
        if (m->type == COR_RAFT_MSG_APPEND || m->type == COR_RAFT_MSG_SNAPSHOT) {
            /* Tell a stale leader about the newer term. */
            cor_raft_msg_t *q = queue(r, COR_RAFT_MSG_APPEND_RESP, m->from);
            if (q != NULL)
                q->reject = true;
        } else if (vote_req) {
            cor_raft_msg_t *q = queue(r, m->type == COR_RAFT_MSG_PREVOTE ? COR_RAFT_MSG_PREVOTE_RESP
                                                                        : COR_RAFT_MSG_VOTE_RESP,
                                      m->from);
            if (q != NULL)
                q->reject = true;
        }
        return 0;
    }

    switch (m->type) {
    case COR_RAFT_MSG_PREVOTE:
    case COR_RAFT_MSG_VOTE:
        on_vote(r, m);
        return 0;
    case COR_RAFT_MSG_PREVOTE_RESP:
    case COR_RAFT_MSG_VOTE_RESP:
        on_vote_resp(r, m);
        return 0;
    case COR_RAFT_MSG_APPEND:
    case COR_RAFT_MSG_SNAPSHOT:
        if (r->role == COR_RAFT_LEADER)
            return *why = "a second leader in this term", COR_EPROTO;
        if (r->role != COR_RAFT_FOLLOWER || r->leader != m->from)
            become_follower(r, r->term, m->from);
        r->elapsed = 0;
        return m->type == COR_RAFT_MSG_APPEND ? on_append(r, m, why) : on_snapshot(r, m);
    case COR_RAFT_MSG_APPEND_RESP:
        if (r->role == COR_RAFT_LEADER)
            on_append_resp(r, m);
        return 0;
    case COR_RAFT_MSG_SNAPSHOT_RESP:
        if (r->role == COR_RAFT_LEADER)
            on_snapshot_resp(r, m);
        return 0;
    case COR_RAFT_MSG_TIMEOUT_NOW:
        if (r->role != COR_RAFT_LEADER)
            campaign(r, false, true);
        return 0;
    }
    return 0;
}

void cor_raft_tick(cor_raft_t *r)
{
    if (r->in_update)
        return;
    r->started = true;
    r->elapsed++;
    if (r->role != COR_RAFT_LEADER) {
        if (r->elapsed >= r->timeout) {
            if (can_campaign(r))
                campaign(r, true, false);
            else
                r->elapsed = r->timeout; /* still counts as "no leader heard" */
        }
        return;
    }
    if (r->transfer_to != 0 && ++r->transfer_elapsed >= r->o.election_ticks)
        r->transfer_to = 0; /* the target did not take over: carry on */
    if (r->elapsed >= r->o.election_ticks) {
        r->elapsed = 0;
        /* Check-quorum: a leader that has not heard from a quorum in an
         * election timeout steps down rather than serve stale reads. */
        size_t active = is_voter(r, r->o.id) ? 1 : 0;
        for (size_t i = 0; i < r->n_pr; i++) {
            progress_t *p = &r->pr[i];
            if (p->id == r->o.id)
                continue;
            if (p->active && is_voter(r, p->id))
                active++;
            p->active = false;
        }
        if (active < quorum(r)) {
            become_follower(r, r->term, 0);
            return;
        }
    }
    if (++r->hb_elapsed >= r->o.heartbeat_ticks) {
        r->hb_elapsed = 0;
        bcast_heartbeat(r);
    }
}

int cor_raft_propose(cor_raft_t *r, const uint8_t *data, size_t len, uint64_t *index,
                     uint64_t *term)
{
    if (r->in_update)
        return COR_ESTATE;
    if (r->role != COR_RAFT_LEADER)
        return COR_ENOTLEADER;
    if (r->transfer_to != 0)
        return COR_ESTATE;
    if (len > 0 && data == NULL)
        return COR_EINVAL;
    cor_raft_entry_t e = {r->term, cor_raft_last_index(r) + 1, COR_RAFT_NORMAL, data, len};
    int rc = log_append(r, &e);
    if (rc != 0)
        return rc;
    if (index != NULL)
        *index = e.index;
    if (term != NULL)
        *term = e.term;
    return 0;
}

int cor_raft_change(cor_raft_t *r, int change, cor_raft_id_t id, uint64_t *index)
{
    if (r->in_update)
        return COR_ESTATE;
    if (r->role != COR_RAFT_LEADER)
        return COR_ENOTLEADER;
    if (r->transfer_to != 0 || r->conf_index > r->commit || !r->committed_in_term)
        return COR_ESTATE;
    cor_raft_conf_t c = r->conf;
    int rc = raft_conf_apply(&c, change, id);
    if (rc != 0)
        return rc;
    uint8_t buf[4 + COR_RAFT_MAX_MEMBERS * 9];
    cor_raft_conf_encode(&c, buf);
    cor_raft_entry_t e = {r->term, cor_raft_last_index(r) + 1, COR_RAFT_CONF, buf,
                          cor_raft_conf_size(&c)};
    if ((rc = log_append(r, &e)) != 0)
        return rc;
    sync_progress(r);
    if (index != NULL)
        *index = e.index;
    return 0;
}

int cor_raft_transfer(cor_raft_t *r, cor_raft_id_t to)
{
    if (r->in_update)
        return COR_ESTATE;
    if (r->role != COR_RAFT_LEADER)
        return COR_ENOTLEADER;
    if (to == r->o.id || !is_voter(r, to))
        return COR_EINVAL;
    r->transfer_to = to;
    r->transfer_elapsed = 0;
    progress_t *p = find_pr(r, to);
    if (p != NULL && p->match == cor_raft_last_index(r))
        queue(r, COR_RAFT_MSG_TIMEOUT_NOW, to);
    return 0;
}

int cor_raft_read(cor_raft_t *r, uint64_t ctx)
{
    if (r->in_update)
        return COR_ESTATE;
    if (r->role != COR_RAFT_LEADER)
        return COR_ENOTLEADER;
    if (!grow((void **)&r->reads, &r->cap_reads, r->n_reads + 1, sizeof *r->reads))
        return COR_ENOMEM;
    r->reads[r->n_reads++] = (pending_read_t){ctx, 0, 0};
    if (r->committed_in_term)
        arm_reads(r);
    return 0;
}

int cor_raft_snapshot(cor_raft_t *r, uint64_t index, const uint8_t *data, size_t len)
{
    if (r->in_update)
        return COR_ESTATE;
    if (index > r->applied || (len > 0 && data == NULL))
        return COR_EINVAL;
    if (index <= r->snap_index)
        return 0;
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL)
        return COR_ENOMEM;
    if (len)
        memcpy(copy, data, len);
    /* The configuration as of index: the newest conf entry at or before it. */
    cor_raft_conf_t c = r->snap_conf;
    for (uint64_t i = index; i > r->snap_index; i--) {
        const cor_raft_entry_t *e = cor_raft_entry_at(r, i);
        if (e->type == COR_RAFT_CONF && cor_raft_conf_decode(e->data, e->len, &c) == 0)
            break;
    }
    uint64_t t = cor_raft_term_at(r, index);
    log_compact(r, index);
    free(r->snap);
    r->snap = copy;
    r->snap_len = len;
    r->snap_index = index;
    r->snap_term = t;
    r->snap_conf = c;
    return 0;
}

/* ---------------- lifecycle ---------------- */

cor_raft_t *cor_raft_new(const cor_raft_options_t *o)
{
    if (o == NULL || o->id == 0 || o->election_ticks < 0 || o->heartbeat_ticks < 0 ||
        o->max_inflight < 0)
        return NULL;
    cor_raft_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->o = *o;
    if (r->o.election_ticks == 0)
        r->o.election_ticks = 10;
    if (r->o.heartbeat_ticks == 0)
        r->o.heartbeat_ticks = 1;
    if (r->o.heartbeat_ticks >= r->o.election_ticks) {
        free(r);
        return NULL;
    }
    if (r->o.max_append == 0)
        r->o.max_append = 64;
    if (r->o.max_append_bytes == 0)
        r->o.max_append_bytes = 1 << 20;
    if (r->o.max_inflight == 0)
        r->o.max_inflight = 8;
    if (r->o.snapshot_chunk == 0)
        r->o.snapshot_chunk = 256 << 10;
    r->rng = o->seed ^ (o->id * 0x9E3779B97F4A7C15ULL);
    if (r->rng == 0)
        r->rng = 0x853c49e6748fea9bULL;
    r->role = COR_RAFT_FOLLOWER;
    reset_timeout(r);
    return r;
}

void cor_raft_free(cor_raft_t *r)
{
    if (r == NULL)
        return;
    for (size_t k = 0; k < r->n_log; k++)
        free_entry(&r->log[k]);
    free(r->log);
    free(r->snap);
    free(r->rx_buf);
    free(r->msgs);
    free(r->reads);
    free(r->ready_reads);
    free(r);
}

int cor_raft_load(cor_raft_t *r, uint64_t term, cor_raft_id_t vote, uint64_t snap_index,
                  uint64_t snap_term, const cor_raft_conf_t *snap_conf, const uint8_t *snap,
                  size_t snap_len, const cor_raft_entry_t *entries, size_t n)
{
    if (r->started || r->n_log > 0 || r->snap_index > 0)
        return COR_ESTATE;
    if ((snap_index == 0) != (snap_term == 0) || (snap_len > 0 && snap == NULL) ||
        (n > 0 && entries == NULL))
        return COR_EINVAL;
    if (snap_index > 0 && (snap_conf == NULL || raft_conf_check(snap_conf) != 0))
        return COR_EINVAL;
    uint64_t t = snap_term;
    for (size_t i = 0; i < n; i++) {
        cor_raft_conf_t c;
        if (entries[i].index != snap_index + 1 + i || entries[i].term < t || entries[i].term == 0)
            return COR_EINVAL;
        if (entries[i].type == COR_RAFT_CONF &&
            cor_raft_conf_decode(entries[i].data, entries[i].len, &c) != 0)
            return COR_EINVAL;
        t = entries[i].term;
    }
    if (t > term || term >= RAFT_TERM_MAX)
        return COR_EINVAL; /* an entry from a term the server never reached; or no term at all */
    if (snap_index > 0) {
        if ((r->snap = malloc(snap_len ? snap_len : 1)) == NULL)
            return COR_ENOMEM;
        if (snap_len)
            memcpy(r->snap, snap, snap_len);
        r->snap_len = snap_len;
        r->snap_index = snap_index;
        r->snap_term = snap_term;
        r->snap_conf = *snap_conf;
    }
    for (size_t i = 0; i < n; i++)
        if (log_append(r, &entries[i]) != 0)
            return COR_ENOMEM;
    r->unstable_from = 0;
    r->stable = cor_raft_last_index(r);
    r->term = term;
    r->vote = vote;
    r->commit = r->applied = snap_index;
    recompute_conf(r);
    return 0;
}

int cor_raft_bootstrap(cor_raft_t *r, const cor_raft_conf_t *conf)
{
    if (r->started || cor_raft_last_index(r) > 0)
        return COR_ESTATE;
    if (conf == NULL || raft_conf_check(conf) != 0 || cor_raft_conf_voters(conf) == 0)
        return COR_EINVAL;
    uint8_t buf[4 + COR_RAFT_MAX_MEMBERS * 9];
    cor_raft_conf_encode(conf, buf);
    cor_raft_entry_t e = {1, 1, COR_RAFT_CONF, buf, cor_raft_conf_size(conf)};
    int rc = log_append(r, &e);
    if (rc != 0)
        return rc;
    r->term = 1;
    r->hard_dirty = true;
    return 0;
}

/* ---------------- updates ---------------- */

bool cor_raft_ready(cor_raft_t *r, cor_raft_update_t *u)
{
    memset(u, 0, sizeof *u);
    if (r->in_update)
        return false;
    if (r->role == COR_RAFT_LEADER)
        flush_appends(r);

    /* Resolve queued messages against the log as it is now. */
    size_t w = 0;
    uint64_t last = cor_raft_last_index(r);
    for (size_t i = 0; i < r->n_msgs; i++) {
        cor_raft_msg_t m = r->msgs[i];
        if (m.type == COR_RAFT_MSG_APPEND && m.n_entries > 0) {
            uint64_t first = m.prev_index + 1;
            if (first <= r->snap_index || m.prev_index + m.n_entries > last)
                continue;
            m.entries = &r->log[first - r->snap_index - 1];
        } else if (m.type == COR_RAFT_MSG_SNAPSHOT) {
            if (m.snap_index != r->snap_index || m.offset + m.len > r->snap_len)
                continue;
            m.data = m.len ? r->snap + m.offset : NULL;
        }
        r->msgs[w++] = m;
    }
    r->n_msgs = w;

    u->hard_changed = r->hard_dirty;
    u->term = r->term;
    u->vote = r->vote;
    if (r->snap_received) {
        u->snapshot_received = true;
        u->snap_index = r->snap_index;
        u->snap_term = r->snap_term;
        u->snap_conf = &r->snap_conf;
        u->snap = r->snap;
        u->snap_len = r->snap_len;
    }
    if (r->unstable_from != 0 && r->unstable_from <= last) {
        uint64_t from = r->unstable_from > r->snap_index ? r->unstable_from : r->snap_index + 1;
        u->entries = &r->log[from - r->snap_index - 1];
        u->n_entries = (size_t)(last - from + 1);
    }
    /* A leader's appends and chunks first: they may leave before the disk
     * write (the order of messages means nothing to the network). */
    size_t early = 0;
    for (size_t i = 0; i < r->n_msgs; i++) {
        int t = r->msgs[i].type;
#if COR_RAFT_BUG == 4
        if (t == COR_RAFT_MSG_APPEND || t == COR_RAFT_MSG_SNAPSHOT ||
            t == COR_RAFT_MSG_VOTE_RESP) {
#else
        if (t == COR_RAFT_MSG_APPEND || t == COR_RAFT_MSG_SNAPSHOT) {
#endif
            cor_raft_msg_t tmp = r->msgs[early];
            r->msgs[early++] = r->msgs[i];
            r->msgs[i] = tmp;
        }
    }
    u->early = r->msgs;
    u->n_early = early;
    u->msgs = r->msgs != NULL ? r->msgs + early : NULL; /* none queued yet: no array */
    u->n_msgs = r->n_msgs - early;
    uint64_t to = r->commit < last ? r->commit : last;
    if (to > r->applied) {
        u->committed = &r->log[r->applied - r->snap_index];
        u->n_committed = (size_t)(to - r->applied);
    }
    u->reads = r->ready_reads;
    u->n_reads = r->n_ready;
    bool any = u->hard_changed || u->snapshot_received || u->n_entries || u->n_early || u->n_msgs ||
               u->n_committed || u->n_reads;
    if (any)
        r->in_update = true;
    return any;
}

void cor_raft_advance(cor_raft_t *r, const cor_raft_update_t *u)
{
    if (!r->in_update)
        return;
    r->in_update = false;
    r->hard_dirty = false;
    r->snap_received = false;
    if (u->n_entries > 0) {
        r->stable = u->entries[u->n_entries - 1].index;
        r->unstable_from = 0;
    }
    if (u->n_committed > 0)
        r->applied = u->committed[u->n_committed - 1].index;
    r->n_msgs = 0;
    r->n_ready = 0;
    if (r->role == COR_RAFT_LEADER) {
        progress_t *self = find_pr(r, r->o.id);
        if (self != NULL)
            self->match = r->stable;
        maybe_commit(r);
    }
}

/* ---------------- inspection ---------------- */

const char *cor_raft_role_name(int role)
{
    switch (role) {
    case COR_RAFT_FOLLOWER: return "follower";
    case COR_RAFT_PRE_CANDIDATE: return "pre-candidate";
    case COR_RAFT_CANDIDATE: return "candidate";
    case COR_RAFT_LEADER: return "leader";
    default: return "unknown";
    }
}

cor_raft_id_t cor_raft_self(const cor_raft_t *r) { return r->o.id; }
int cor_raft_role(const cor_raft_t *r) { return r->role; }
uint64_t cor_raft_term(const cor_raft_t *r) { return r->term; }
cor_raft_id_t cor_raft_vote(const cor_raft_t *r) { return r->vote; }
cor_raft_id_t cor_raft_leader(const cor_raft_t *r) { return r->leader; }
uint64_t cor_raft_commit(const cor_raft_t *r) { return r->commit; }
uint64_t cor_raft_applied(const cor_raft_t *r) { return r->applied; }
uint64_t cor_raft_snap_index(const cor_raft_t *r) { return r->snap_index; }
const cor_raft_conf_t *cor_raft_conf(const cor_raft_t *r) { return &r->conf; }
const cor_raft_conf_t *cor_raft_snap_conf(const cor_raft_t *r) { return &r->snap_conf; }

uint64_t cor_raft_match(const cor_raft_t *r, cor_raft_id_t id)
{
    if (r->role != COR_RAFT_LEADER)
        return 0;
    for (size_t i = 0; i < r->n_pr; i++)
        if (r->pr[i].id == id)
            return id == r->o.id ? r->stable : r->pr[i].match;
    return 0;
}
