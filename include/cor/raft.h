/*
 * cor/raft.h — Corundum's Raft core: a pure state machine, no I/O.
 *
 * The core decides; its driver (the kernel server for a ConsensusRSM
 * replica, or the simulator in tests/sim) does. It owns no thread, no
 * clock, no socket and no file. The driver feeds it events — a tick of its
 * clock, a message from a peer, a proposal, a read request, a membership
 * change, a leadership transfer, "this snapshot was taken" — and then asks
 * for an update (cor_raft_ready) that says, in the order it must be done:
 *
 *   0. send the update's early messages (a leader's appends), which need
 *      not wait for the disk;
 *   1. persist: term and vote, a received snapshot, log entries (replacing
 *      any stored entry at or after the first one's index). All of it must
 *      be durable (fsync) before anything in step 2 leaves the node: a vote
 *      or an acknowledgement sent before its record is on disk is how a
 *      crash makes Raft forget a promise;
 *   2. send: messages to peers (they may be lost, duplicated, reordered:
 *      Raft tolerates all three);
 *   3. apply: committed entries, in index order, after loading the received
 *      snapshot if there is one; then answer the reads that became ready.
 *
 * and then says it is done (cor_raft_advance). Between cor_raft_ready and
 * cor_raft_advance the driver calls nothing else on the core: the update
 * points into the core's memory.
 *
 * What it implements (the Raft thesis, Ongaro 2014, chapters 3, 4, 5, 6):
 * leader election with pre-vote and check-quorum (a server that heard from
 * a leader within the election timeout ignores campaigns, so a partitioned
 * or removed server cannot depose a healthy leader); log replication with
 * pipelining (up to max_inflight appends in flight per follower, each of up
 * to max_append entries) and batching (all entries proposed between two
 * updates are persisted together, with one fsync); snapshots, sent to a
 * follower that needs compacted entries in chunks of snapshot_chunk bytes;
 * single-server membership changes (add a learner, promote it to voter,
 * remove any member, the leader included; one change at a time, each
 * taking effect when appended); leadership transfer; linearizable reads
 * without a log write (ReadIndex, thesis 6.4).
 *
 * Randomness (the election timeout's jitter) comes from a PRNG seeded by
 * the driver, so a run is a function of its events: the simulator replays
 * any failure from its seed.
 *
 * Threads: a cor_raft_t is not thread-safe; one thread drives it.
 * Errors: functions return 0 or a negative COR_E* code (cor/error.h).
 */
#ifndef COR_RAFT_H
#define COR_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cor/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A server's id within its group: never 0 (0 means "none"). */
typedef uint64_t cor_raft_id_t;

typedef struct cor_raft cor_raft_t;

enum cor_raft_role {
    COR_RAFT_FOLLOWER = 0,
    COR_RAFT_PRE_CANDIDATE, /* asking whether it could win, term unchanged */
    COR_RAFT_CANDIDATE,
    COR_RAFT_LEADER,
};

/* Returns "follower", "pre-candidate", "candidate" or "leader". */
const char *cor_raft_role_name(int role);

enum cor_raft_entry_type {
    COR_RAFT_NORMAL = 0, /* the application's command */
    COR_RAFT_CONF = 1,   /* a new configuration (cor_raft_conf_encode) */
    COR_RAFT_NOOP = 2,   /* appended by a new leader to commit its term */
};

/* One log entry. In updates and messages, data points into memory the
 * core (or the message's owner) keeps; copy what you keep. */
typedef struct cor_raft_entry {
    uint64_t term;
    uint64_t index;
    int type; /* enum cor_raft_entry_type */
    const uint8_t *data;
    size_t len;
} cor_raft_entry_t;

/* ---------------- configuration ---------------- */

#define COR_RAFT_MAX_MEMBERS 16

typedef struct cor_raft_member {
    cor_raft_id_t id;
    bool voter; /* false: a learner, replicated to but not counted */
} cor_raft_member_t;

/* A group's membership, sorted by id, no duplicates. */
typedef struct cor_raft_conf {
    size_t n;
    cor_raft_member_t m[COR_RAFT_MAX_MEMBERS];
} cor_raft_conf_t;

/* Bytes cor_raft_conf_encode writes for conf. */
size_t cor_raft_conf_size(const cor_raft_conf_t *conf);
/* Writes conf into out (cor_raft_conf_size(conf) bytes, caller's). The
 * encoding is canonical: equal configurations encode to equal bytes. */
void cor_raft_conf_encode(const cor_raft_conf_t *conf, uint8_t *out);
/* Reads a configuration; COR_EPROTO when the bytes are not one (wrong
 * length, zero or unsorted or repeated ids, too many members). */
int cor_raft_conf_decode(const uint8_t *data, size_t len, cor_raft_conf_t *conf);
/* The member with this id, or NULL. */
const cor_raft_member_t *cor_raft_conf_find(const cor_raft_conf_t *conf, cor_raft_id_t id);
/* Number of voters. */
size_t cor_raft_conf_voters(const cor_raft_conf_t *conf);

/* ---------------- messages ---------------- */

enum cor_raft_msg_type {
    COR_RAFT_MSG_PREVOTE = 1,
    COR_RAFT_MSG_PREVOTE_RESP,
    COR_RAFT_MSG_VOTE,
    COR_RAFT_MSG_VOTE_RESP,
    COR_RAFT_MSG_APPEND, /* also the heartbeat (no entries) */
    COR_RAFT_MSG_APPEND_RESP,
    COR_RAFT_MSG_SNAPSHOT, /* one chunk of a snapshot */
    COR_RAFT_MSG_SNAPSHOT_RESP,
    COR_RAFT_MSG_TIMEOUT_NOW, /* leadership transfer: campaign now */
    COR_RAFT_MSG_TYPE_MAX = COR_RAFT_MSG_TIMEOUT_NOW,
};

/* Returns the type's name ("append", ...) or "unknown". */
const char *cor_raft_msg_name(int type);

/* One message. Fields a type does not use are zero. */
typedef struct cor_raft_msg {
    int type; /* enum cor_raft_msg_type */
    cor_raft_id_t from, to;
    uint64_t term;

    /* PREVOTE, VOTE: the candidate's last log entry; transfer: sent on a
     * leader's TIMEOUT_NOW, so voters skip their leader-stickiness check. */
    uint64_t last_index, last_term;
    bool transfer;

    /* *_RESP: refused (vote not granted, append did not match, chunk
     * out of order). */
    bool reject;

    /* APPEND: entries follow the entry (prev_index, prev_term); commit is
     * the leader's. APPEND_RESP: index is the last index now known to
     * match (success), or the prev_index refused (reject) with hint the
     * follower's last index. SNAPSHOT_RESP: index is the snapshot's. */
    uint64_t prev_index, prev_term;
    uint64_t commit;
    uint64_t index, hint;
    const cor_raft_entry_t *entries;
    size_t n_entries;

    /* APPEND and its RESP: the leader's read round (ReadIndex), echoed. */
    uint64_t read_seq;

    /* SNAPSHOT: the snapshot at (snap_index, snap_term) with configuration
     * conf; this chunk is data[0..len) at offset; done on the last chunk.
     * SNAPSHOT_RESP: offset is the next byte wanted. */
    uint64_t snap_index, snap_term;
    cor_raft_conf_t conf;
    uint64_t offset;
    const uint8_t *data;
    size_t len;
    bool done;
} cor_raft_msg_t;

/* Bytes needed to encode m (header, entries, chunk). */
size_t cor_raft_msg_size(const cor_raft_msg_t *m);
/* Encodes m into out (cor_raft_msg_size(m) bytes, the caller's). */
void cor_raft_msg_encode(const cor_raft_msg_t *m, uint8_t *out);
/* Decodes data into *m. On success *entries is a malloc'd array the caller
 * frees (may be NULL when there are none) and m's entries and chunk point
 * into data, which must outlive m. COR_EPROTO, with *why saying what was
 * wrong, when the bytes are not a well-formed message; nothing to free. */
int cor_raft_msg_decode(const uint8_t *data, size_t len, cor_raft_msg_t *m,
                        cor_raft_entry_t **entries, const char **why);

/* ---------------- the core ---------------- */

typedef struct cor_raft_options {
    cor_raft_id_t id;        /* this server; not 0 */
    int election_ticks;      /* election timeout, in ticks; default 10 */
    int heartbeat_ticks;     /* leader's heartbeat period; default 1 */
    size_t max_append;       /* entries per APPEND; default 64 */
    size_t max_append_bytes; /* and bytes; default 1 MiB */
    int max_inflight;        /* pipelined APPENDs per follower; default 8 */
    size_t snapshot_chunk;   /* bytes per SNAPSHOT message; default 256 KiB */
    uint64_t seed;           /* the jitter's PRNG; any value */
} cor_raft_options_t;

/* A new core for server o->id with an empty log and term 0. Before the
 * first event, either cor_raft_load (a restart) or cor_raft_bootstrap (a
 * founding member) or neither (a server waiting to be added: it learns
 * everything from its leader). NULL on bad options or out of memory. The
 * caller frees it with cor_raft_free. */
cor_raft_t *cor_raft_new(const cor_raft_options_t *o);
void cor_raft_free(cor_raft_t *r);

/* Restores what the driver had persisted: term and vote, the last snapshot
 * (index, term, its configuration, and its bytes; index 0 for none) and
 * the entries after it, in order. Copies everything. The state machine
 * must be loaded from that snapshot; entries are applied again as they
 * commit. COR_EINVAL on a gap or on entries inconsistent with the
 * snapshot; COR_ESTATE after the first event. */
int cor_raft_load(cor_raft_t *r, uint64_t term, cor_raft_id_t vote, uint64_t snap_index,
                  uint64_t snap_term, const cor_raft_conf_t *snap_conf, const uint8_t *snap,
                  size_t snap_len, const cor_raft_entry_t *entries, size_t n);

/* A founding member's first act: conf as entry 1 in term 1. Every founding
 * member must bootstrap with the same conf. COR_ESTATE unless the log is
 * empty; COR_EINVAL if conf has no voter. The next update persists it. */
int cor_raft_bootstrap(cor_raft_t *r, const cor_raft_conf_t *conf);

/* One tick of the driver's clock. */
void cor_raft_tick(cor_raft_t *r);

/* A message from a peer (m->to must be this server). Copies what it keeps.
 * A message that is malformed or makes no sense here (wrong recipient,
 * entries out of order, a term in an entry above the message's, a term
 * of 2^63 or more) is
 * dropped: COR_EPROTO with *why for the driver's log, and no change of
 * state. Stale messages (old terms, duplicates) are not errors. */
int cor_raft_recv(cor_raft_t *r, const cor_raft_msg_t *m, const char **why);

/* Appends an application command on the leader; *index (if not NULL) is
 * its log index: the command took effect when that index is applied, if
 * the entry there is still this one (same term, see *term). COR_ENOTLEADER
 * elsewhere (cor_raft_leader names the leader, 0 if unknown);
 * COR_ESTATE during a leadership transfer. Copies data. */
int cor_raft_propose(cor_raft_t *r, const uint8_t *data, size_t len, uint64_t *index,
                     uint64_t *term);

enum cor_raft_change {
    COR_RAFT_ADD_LEARNER = 1,
    COR_RAFT_PROMOTE,
    COR_RAFT_REMOVE,
};

/* A single-server membership change on the leader. COR_ENOTLEADER;
 * COR_ESTATE while an earlier change is not committed, during a transfer,
 * or before the leader committed an entry of its term; COR_EINVAL when the
 * change makes no sense (adding a member, promoting a voter or an
 * unknown id, removing an unknown id or the last voter). *index is the
 * conf entry's. Promote a learner once cor_raft_match shows it caught up. */
int cor_raft_change(cor_raft_t *r, int change, cor_raft_id_t id, uint64_t *index);

/* Leadership transfer to voter `to`: the leader stops taking proposals,
 * brings `to` up to date and tells it to campaign. Abandoned after an
 * election timeout. COR_ENOTLEADER; COR_EINVAL for self or a non-voter. */
int cor_raft_transfer(cor_raft_t *r, cor_raft_id_t to);

/* A linearizable read (ReadIndex): on the leader, once a quorum confirmed
 * its leadership, an update's reads carry ctx with an index; the read may
 * be served once the state machine has applied that index. If leadership
 * is lost first, the read comes back failed. COR_ENOTLEADER elsewhere. */
int cor_raft_read(cor_raft_t *r, uint64_t ctx);

/* The driver took a snapshot of its state machine at applied index
 * `index` (data, len: its bytes, copied). The core compacts its log up to
 * it and sends it to followers that need it. COR_EINVAL if index is above
 * the applied index; 0 and nothing done if not above the last snapshot. */
int cor_raft_snapshot(cor_raft_t *r, uint64_t index, const uint8_t *data, size_t len);

/* ---------------- updates ---------------- */

typedef struct cor_raft_read_state {
    uint64_t ctx;
    uint64_t index; /* serve once applied >= index */
    bool failed;    /* leadership lost: answer "not leader", retry */
} cor_raft_read_state_t;

/* What the driver must do, in this order (see the top of this file). All
 * pointers are into the core, valid until cor_raft_advance. */
typedef struct cor_raft_update {
    /* 0. send, at once: a leader's appends and snapshot chunks may travel
     * while its own copy of the entries is being persisted (thesis
     * 10.2.1: the leader counts itself towards a commit only once its
     * write is durable), so its fsync and its followers' overlap. */
    const cor_raft_msg_t *early;
    size_t n_early;
    /* 1. persist */
    bool hard_changed; /* term and vote to write */
    uint64_t term;
    cor_raft_id_t vote;
    bool snapshot_received; /* write this snapshot, drop the log up to it */
    uint64_t snap_index, snap_term;
    const cor_raft_conf_t *snap_conf;
    const uint8_t *snap;
    size_t snap_len;
    const cor_raft_entry_t *entries; /* write, replacing stored ones from */
    size_t n_entries;                /* entries[0].index onwards */
    /* 2. send */
    const cor_raft_msg_t *msgs;
    size_t n_msgs;
    /* 3. apply (after loading the received snapshot, if any) */
    const cor_raft_entry_t *committed;
    size_t n_committed;
    const cor_raft_read_state_t *reads;
    size_t n_reads;
} cor_raft_update_t;

/* Fills *u and returns true when there is something to do, else false. */
bool cor_raft_ready(cor_raft_t *r, cor_raft_update_t *u);
/* The driver did all of u: persisted, sent, applied. */
void cor_raft_advance(cor_raft_t *r, const cor_raft_update_t *u);

/* ---------------- inspection (for the driver, corctl and tests) ---------------- */

cor_raft_id_t cor_raft_self(const cor_raft_t *r);
int cor_raft_role(const cor_raft_t *r);
uint64_t cor_raft_term(const cor_raft_t *r);
cor_raft_id_t cor_raft_vote(const cor_raft_t *r);
cor_raft_id_t cor_raft_leader(const cor_raft_t *r); /* 0: unknown */
uint64_t cor_raft_commit(const cor_raft_t *r);
uint64_t cor_raft_applied(const cor_raft_t *r);
uint64_t cor_raft_last_index(const cor_raft_t *r);
uint64_t cor_raft_snap_index(const cor_raft_t *r);
/* The term of the entry at index, the snapshot's at its index, 0 if the
 * log does not hold it (compacted or beyond its end). */
uint64_t cor_raft_term_at(const cor_raft_t *r, uint64_t index);
/* The entry at index (snap_index < index <= last_index), or NULL. */
const cor_raft_entry_t *cor_raft_entry_at(const cor_raft_t *r, uint64_t index);
/* The configuration as of the last snapshot (what to persist with it). */
const cor_raft_conf_t *cor_raft_snap_conf(const cor_raft_t *r);
/* The configuration in effect (the newest in the log, committed or not). */
const cor_raft_conf_t *cor_raft_conf(const cor_raft_t *r);
/* On the leader: the highest index known to match on member id; 0
 * elsewhere or for an unknown id. */
uint64_t cor_raft_match(const cor_raft_t *r, cor_raft_id_t id);

#ifdef __cplusplus
}
#endif

#endif
