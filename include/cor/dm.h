/*
 * cor/dm.h — deployment managers: the policies stacked around an object
 * (DESIGN.md "Deployment manager", "DM chain").
 *
 * A DM is a versioned vtable, cor_dm_ops_t, registered by name. It has
 * three parts, each optional:
 *  - the client part runs in the caller's process and sees every outgoing
 *    call (route, retry, cache, fail fast);
 *  - the server part runs beside each replica and sees every incoming call
 *    (order, deduplicate, lock, refuse), on every route: the object's
 *    server parts run for a co-located caller exactly as for a remote one;
 *  - the group part runs on the OMS, one instance per object, and
 *    coordinates its replicas: it makes them when the object is created,
 *    replaces them when kernel servers die, hears from its server parts,
 *    and keeps its own state in the OMS's store.
 * A call passes the client parts outermost first, then the server parts in
 * the same order, then reaches the object. docs/dms/README.md is the DM
 * author's guide; dm/ holds the built-in DMs, one file each.
 *
 * A chain is written `Name(param=value, ...), Name, ...`, outermost first,
 * in a service's (cor.dm_chain) option or at create time. Parsing and
 * validation (unknown DM, unknown or malformed parameter, conflicting DMs)
 * happen when the object is created, so an impossible chain is refused
 * before anything exists.
 *
 * This header is the framework's contract; the DM parts that act on calls
 * are added DM by DM (see docs/dms/).
 */
#ifndef COR_DM_H
#define COR_DM_H

#include <stddef.h>
#include <stdint.h>

#include <cor/error.h>

#ifdef __cplusplus
extern "C" {
#endif

#define COR_DM_MAX_CHAIN 8  /* DMs in one chain */
#define COR_DM_MAX_PARAMS 8 /* parameters of one DM */
#define COR_DM_NAME_MAX 63
#define COR_DM_VALUE_MAX 255

/* One parsed chain entry. Strings are NUL-terminated and owned by the
 * chain. */
typedef struct cor_dm_entry {
    char name[COR_DM_NAME_MAX + 1];
    int n_params;
    struct {
        char name[COR_DM_NAME_MAX + 1];
        char value[COR_DM_VALUE_MAX + 1];
    } params[COR_DM_MAX_PARAMS];
    int column; /* 1-based column of the name in the chain text */
} cor_dm_entry_t;

typedef struct cor_dm_chain {
    int n;
    cor_dm_entry_t dms[COR_DM_MAX_CHAIN];
} cor_dm_chain_t;

/* Parses chain text ("" or NULL: the empty chain). Syntax errors are
 * EINVAL with the column and what was expected, e.g.
 *   dm chain "Foo(a=1" column 8: expected ',' or ')' after a parameter
 * Does not look DMs up: see cor_dm_chain_check. */
int cor_dm_chain_parse(const char *text, cor_dm_chain_t *out, cor_error_t *err);

/* Writes the canonical text of a chain ("A(x=1), B") into buf. Returns the
 * length it needed (like snprintf). */
size_t cor_dm_chain_format(const cor_dm_chain_t *c, char *buf, size_t len);

/* The value of parameter name in e, or NULL. */
const char *cor_dm_param(const cor_dm_entry_t *e, const char *name);

/* Integer parameter in [lo, hi] (def when absent). EINVAL naming the DM and
 * parameter otherwise. */
int cor_dm_param_int(const cor_dm_entry_t *e, const char *name, long def, long lo, long hi,
                     long *out, cor_error_t *err);

/* Duration parameter: "250ms", "5s", "2m" or a plain number of ms, in
 * [lo_ms, hi_ms] (def_ms when absent). */
int cor_dm_param_duration(const cor_dm_entry_t *e, const char *name, long def_ms, long lo_ms,
                          long hi_ms, long *out_ms, cor_error_t *err);

/* What a DM does, for the conflict rules: two DMs in one chain that both
 * claim an exclusive capability conflict. */
enum cor_dm_cap {
    COR_DM_CAP_REPLICAS = 1u << 0,  /* decides how many replicas exist */
    COR_DM_CAP_PLACEMENT = 1u << 1, /* constrains where replicas go (combinable) */
    COR_DM_CAP_CACHE = 1u << 2,     /* answers calls from a client-side cache */
    COR_DM_CAP_RETRY = 1u << 3,     /* resends calls */
    COR_DM_CAP_DEDUP = 1u << 4,     /* deduplicates by call id on the server */
    COR_DM_CAP_SERIAL = 1u << 5,    /* orders calls across callers */
    COR_DM_CAP_FROZEN = 1u << 6,    /* refuses mutating calls after creation */
    COR_DM_CAP_CHECKPOINT = 1u << 7,
    COR_DM_CAP_APP_MIGRATE = 1u << 8, /* the application may move the object */
    /* Calls are sequenced by a replicated log before they run: the runtime
     * proposes each call and runs it, on every replica, when it commits
     * (runtime/rsm.c; ConsensusRSM). */
    COR_DM_CAP_LOG = 1u << 9,
};

/* ---- A call as DM parts see it ----
 *
 * Client parts run in the caller, outermost first, each deciding whether
 * and how to pass the call on with cor_dm_next (zero, one or several
 * times: a cache answers without it, a retrying DM calls it again). The
 * last cor_dm_next sends the call (or runs it, co-located). Server parts
 * run the same way beside the replica, inside the object's turn; the last
 * cor_dm_next runs the method. Requests and replies are the packed
 * protobuf payloads. A call is valid only during the part's hook. */
typedef struct cor_dm_call cor_dm_call_t;

/* Passes the call to the next part (or the transport / the method).
 * Returns 0 (the reply is then available) or a COR_E* code (the error is
 * in cor_dm_call_error). */
int cor_dm_next(cor_dm_call_t *c);

const struct cor_method_desc *cor_dm_call_method(const cor_dm_call_t *c);
/* The object's id, printed. */
const char *cor_dm_call_object(const cor_dm_call_t *c);
const unsigned char *cor_dm_call_request(const cor_dm_call_t *c, size_t *len);
/* The reply after a successful cor_dm_next (or a set_reply), else NULL. */
const unsigned char *cor_dm_call_reply(const cor_dm_call_t *c, size_t *len);
/* Answers the call with these bytes (copied) without going further. */
int cor_dm_call_set_reply(cor_dm_call_t *c, const unsigned char *data, size_t len);
/* The call id: the calling runtime's 16-byte id and a sequence number; the
 * same for every attempt of one call, so a server part can deduplicate. */
void cor_dm_call_id(const cor_dm_call_t *c, const unsigned char **client, uint64_t *seq);
/* The error of the last failed cor_dm_next. */
const cor_error_t *cor_dm_call_error(const cor_dm_call_t *c);
/* A replica of the call's object, as the OMS knows it. */
typedef struct cor_dm_replica {
    char node[64];
    char tcp_address[128];
    char unix_path[108];
    char host_id[128];
    uint64_t epoch;
    uint64_t incarnation; /* (SetMembers) the server's incarnation when the replica was made */
    int alive; /* ACTIVE replica on an ALIVE kernel server */
    int dead;  /* its kernel server missed its heartbeats (DEAD); a server the OMS has
                  not heard from since the OMS restarted is neither alive nor dead */
    int lost;  /* written off: its kernel server died or restarted */
    int self;  /* (cor_dm_call_peers) the replica this part runs beside */
} cor_dm_replica_t;

/* The deadline the caller gave the call (its reference's), in ms; each
 * attempt sent with cor_dm_next gets all of it, so a client part that
 * retries keeps the whole call within it itself. 0 outside client parts. */
int cor_dm_call_deadline_ms(const cor_dm_call_t *c);

/* Asks the OMS for the object's replicas (at most max into out; *n gets
 * the count). ESTATE when the caller's runtime has no OMS. Client parts
 * only; it is a network call, so cache the answer. */
int cor_dm_call_replicas(cor_dm_call_t *c, cor_dm_replica_t *out, int max, int *n);

/* Sends this call to replica r instead of the reference's own location
 * (client parts only; r is copied). */
void cor_dm_call_route(cor_dm_call_t *c, const cor_dm_replica_t *r);

/* Server parts: the object's replica set as the OMS last sent it (self
 * included and marked). *n is 0 until the OMS has sent one (objects with a
 * single replica never get one). */
int cor_dm_call_peers(cor_dm_call_t *c, cor_dm_replica_t *out, int max, int *n);

/* Server parts: sends msg to this DM's part beside replica `to` of the same
 * object (through Kernel.PeerMessage) and waits for its answer, which is
 * put in *reply (malloc'd, caller frees; may be NULL when empty). It holds
 * this replica's turn while waiting: two parts that message each other at
 * once each wait for the other's turn, so use it for one-way chatter or
 * keep a short deadline in mind (2 s). */
int cor_dm_call_peer_send(cor_dm_call_t *c, const cor_dm_replica_t *to, const unsigned char *msg,
                     size_t len, unsigned char **reply, size_t *reply_len);

/* Client parts: makes a replica of the object in the caller's own process
 * from its current state (Kernel.GetState), so calls are served locally
 * from then on. ENOTFOUND when the caller's runtime does not have the
 * object's class registered (calls then stay remote). A replica already
 * here is success. Only sound for objects that never change. */
int cor_dm_call_make_local(cor_dm_call_t *c);

/* Server parts: the kernel server the call came from ("" when the caller
 * is not a kernel server), and the one this part runs on. */
const char *cor_dm_call_caller_node(const cor_dm_call_t *c);
const char *cor_dm_call_node(const cor_dm_call_t *c);

/* Server parts: asks the OMS to move this object to kernel server to_node,
 * live; the request is sent from another thread (the move needs the turn
 * this part holds) and the outcome is logged. Allowed only with a DM whose
 * capabilities include COR_DM_CAP_APP_MIGRATE in the chain. */
int cor_dm_call_request_move(cor_dm_call_t *c, const char *to_node);

/* Server parts: sends msg to this DM's group part on the OMS (its
 * group_message hook) and waits for the answer, put in *reply (malloc'd,
 * caller frees; NULL when empty). Only a replica the OMS counts as active
 * may send. ESTATE outside a cluster, ENOTFOUND when the group part takes
 * no messages. It holds the object's turn while waiting (2 s at most). */
int cor_dm_call_group_send(cor_dm_call_t *c, const unsigned char *msg, size_t len,
                           unsigned char **reply, size_t *reply_len);

/* Server parts (in the object's turn): saves the object's state now and
 * sends it to the OMS as its checkpoint, without waiting for the answer.
 * ESTATE outside a cluster, EUNIMPL for a class without save_state. */
int cor_dm_call_checkpoint(cor_dm_call_t *c);

/* Fails the call from the running part: the message is prefixed with the
 * DM's name. Returns code. */
int cor_dm_fail(cor_dm_call_t *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- The group part ----
 *
 * One instance per object, on the OMS: made (group_new) when the object is
 * created, and again after an OMS restart with the state it last saved.
 * Its hooks run on OMS threads, one at a time per object, with no OMS lock
 * held, so they may call the actions below, which talk to kernel servers
 * and wait for them:
 *   group_create   the object is being created: make its replicas
 *                  (cor_dm_group_add_replica). When no group part of the
 *                  chain makes any, the OMS places one. An error refuses
 *                  the create; every replica made is taken back.
 *   group_node     a kernel server joined (registered, maybe anew after a
 *                  restart: the replicas of its old process are already
 *                  written off), died (missed its heartbeats) or came back
 *                  (the same process heartbeats again)
 *   group_tick     about every heartbeat interval
 *   group_message  a message from one of the object's server parts
 *                  (cor_dm_call_group_send)
 *   group_delete   the object is being deleted (its replicas are taken
 *                  back by the OMS after this returns)
 *   group_move_replica  an operator asked to move one replica (corctl
 *                  migrate --replica): do it and return the outcome
 * A group part that keeps more than one replica is what makes an object
 * survive its kernel server; without one, a replica lost is lost.
 */
typedef struct cor_dm_group cor_dm_group_t;

/* What happened to a kernel server (group_node). */
enum cor_dm_node_event {
    COR_DM_NODE_JOINED = 1, /* registered: new, or a new process under an old name */
    COR_DM_NODE_DEAD,       /* missed its heartbeats: placement skips it */
    COR_DM_NODE_ALIVE,      /* a dead one heartbeats again: its replicas are intact */
};

/* Where a new replica's state comes from. */
enum cor_dm_source {
    COR_DM_FROM_ARGS = 0,   /* the constructor arguments the object was created with */
    COR_DM_FROM_CHECKPOINT, /* the object's newest checkpoint (under a new epoch) */
};

/* The object's id (printed) and class. Owned by the OMS, valid during the
 * hook. */
const char *cor_dm_group_object(const cor_dm_group_t *g);
const char *cor_dm_group_class(const cor_dm_group_t *g);

/* The object's replicas as the OMS records them (at most max into out; *n
 * gets the count). */
int cor_dm_group_replicas(cor_dm_group_t *g, cor_dm_replica_t *out, int max, int *n);

/* When the object's newest checkpoint was taken (wall clock ms), 0: none. */
int64_t cor_dm_group_checkpoint_ms(cor_dm_group_t *g);

/* Makes a new replica on a live kernel server that hosts the class, keeps
 * the object's placement, has room and holds none of the object's live
 * replicas, and records it. node (len bytes, may be NULL) gets the chosen
 * server's name. ENOTFOUND or EUNAVAIL saying why no server can take it;
 * ESTATE from a checkpoint when there is none; EABORTED while the object
 * is being moved; the kernel server's own error. */
int cor_dm_group_add_replica(cor_dm_group_t *g, enum cor_dm_source from, char *node, size_t len,
                             cor_error_t *err);

/* As cor_dm_group_add_replica, on kernel server node (by name) only:
 * ENOTFOUND when there is none, EINVAL when it already holds a live
 * replica of the object, ENOTFOUND/EUNAVAIL when it does not host the
 * class, breaks the placement, is dead or full. */
int cor_dm_group_add_replica_on(cor_dm_group_t *g, enum cor_dm_source from, const char *node,
                                cor_error_t *err);

/* The role the replica on node gives for itself when its kernel server is
 * asked (Kernel.GetState, probe): a replicated object's ("leader",
 * "follower", "learner", "joining", "forming", "down"), written into role
 * (len bytes); "" for a replica that reports none. ENOTFOUND when node
 * holds no live replica of the object; the kernel server's error when it
 * cannot be asked. Waits for the answer (at most a few seconds). */
int cor_dm_group_replica_role(cor_dm_group_t *g, const char *node, char *role, size_t len,
                              cor_error_t *err);

/* Writes off the live replica on kernel server node: its state is gone (a
 * dead server). It stops counting as a place to call; its slot is reused
 * by the next cor_dm_group_add_replica. ENOTFOUND when node holds none. */
int cor_dm_group_lose_replica(cor_dm_group_t *g, const char *node, cor_error_t *err);

/* Counts the written-off replica on node as live again: its server came
 * back as the same process (a healed partition), so it never went away.
 * ESTATE when the server is not alive or is another process now. */
int cor_dm_group_revive_replica(cor_dm_group_t *g, const char *node, cor_error_t *err);

/* Deletes the replica on node (at its server, best effort) and forgets
 * it. ENOTFOUND when node holds none. */
int cor_dm_group_drop_replica(cor_dm_group_t *g, const char *node, cor_error_t *err);

/* Moves the object's single replica live to kernel server to_node
 * (docs/migration.md) and waits for the outcome. */
int cor_dm_group_move(cor_dm_group_t *g, const char *to_node, cor_error_t *err);

/* Keeps the part's own state (copied, at most 64 KiB) in the OMS's store
 * with the object: group_new gets it back after an OMS restart. */
int cor_dm_group_save(cor_dm_group_t *g, const unsigned char *state, size_t len, cor_error_t *err);

/* Keeps `want` replicas live: writes off those on dead servers, revives
 * written-off ones whose server came back as the same process, and adds
 * new ones from `from` while a server can take one (from a checkpoint:
 * only once there is one; until then it changes nothing). Returns how many
 * are live after. What LoadBalancedFrontend and PeriodicCheckpoint do on
 * every event, and a starting point for other group parts. */
int cor_dm_group_keep(cor_dm_group_t *g, int want, enum cor_dm_source from);

/* ---- Helpers for DM authors ---- */

/* The monotonic clock, in ms. */
long long cor_dm_now_ms(void);

/* 1 when rc says a call may not have reached the object (EUNAVAIL,
 * ETIMEDOUT, ECANCELLED), as opposed to an answer from it. */
int cor_dm_transport_failure(int rc);

/* Checks that parameter name of e, if given, is a valid label value
 * (letters, digits, . _ / -): EINVAL naming the DM and parameter. */
int cor_dm_param_label(const cor_dm_entry_t *e, const char *name, cor_error_t *err);

/* A parameter a DM accepts. */
typedef struct cor_dm_param_spec {
    const char *name;
    const char *help;
    int required;
} cor_dm_param_spec_t;

/* 2: server_save_dirty and server_apply_dirty added.
 * 3: group parts run code (group_new ... group_message); the replicas and
 *    on_failure hooks are gone (a group part makes and replaces replicas).
 * 4: group_move_replica. */
#define COR_DM_OPS_VERSION 4

typedef struct cor_dm_ops {
    unsigned version; /* COR_DM_OPS_VERSION */
    const char *name; /* as written in chains: "AtLeastOnceRPC" */
    const char *summary;
    const cor_dm_param_spec_t *params; /* NULL-name terminated; NULL: none */
    unsigned caps;      /* COR_DM_CAP_* it has */
    unsigned exclusive; /* caps no other DM in the chain may also have */
    unsigned needs;     /* caps some DM after it (inner) must have */
    /* Checks parameter values beyond their names (ranges, formats). */
    int (*validate)(const cor_dm_entry_t *e, cor_error_t *err);
    /* Group part, placement: selector terms every replica's kernel server
     * must match, written into buf as "key=value[,...]". NULL: none. A pure
     * function of the parameters: the OMS checks it at create time, before
     * anything is made, and holds every placement and move to it. */
    int (*placement)(const cor_dm_entry_t *e, char *buf, size_t len, cor_error_t *err);

    /* Group part, on the OMS (see "The group part" above). group_new makes
     * the instance, with the state it last saved (NULL, 0 for a new
     * object); group_free frees it. All optional. */
    int (*group_new)(const cor_dm_entry_t *e, const unsigned char *saved, size_t len,
                     void **state, cor_error_t *err);
    void (*group_free)(void *state);
    int (*group_create)(void *state, cor_dm_group_t *g, cor_error_t *err);
    void (*group_delete)(void *state, cor_dm_group_t *g);
    void (*group_node)(void *state, cor_dm_group_t *g, const char *node,
                       enum cor_dm_node_event ev);
    void (*group_tick)(void *state, cor_dm_group_t *g);
    /* Answers with *reply (malloc'd; the OMS frees it), or an error with
     * err set. */
    int (*group_message)(void *state, cor_dm_group_t *g, const char *from_node,
                         const unsigned char *msg, size_t len, unsigned char **reply,
                         size_t *reply_len, cor_error_t *err);
    /* Moves the object's replica on from_node to to_node and waits for the
     * outcome; an error leaves the replica where it was. Optional: without
     * it, moving one replica of the object is refused. */
    int (*group_move_replica)(void *state, cor_dm_group_t *g, const char *from_node,
                              const char *to_node, cor_error_t *err);

    /* Client part, one per (reference, chain position) in the caller's
     * process: state from client_new (its parameters already checked),
     * client_call for every call through that reference (any thread, so
     * state is locked by the DM), client_free with the reference. */
    int (*client_new)(const cor_dm_entry_t *e, void **state, cor_error_t *err);
    int (*client_call)(void *state, cor_dm_call_t *c);
    void (*client_free)(void *state);

    /* Server part, one per replica. server_call runs in the object's turn
     * (one at a time, unless the class is concurrent). */
    int (*server_new)(const cor_dm_entry_t *e, void **state, cor_error_t *err);
    int (*server_call)(void *state, cor_dm_call_t *c);
    void (*server_free)(void *state);
    /* Server part, periodic: about once a second (the kernel server's
     * heartbeat), in the object's turn when it is free; c has no method or
     * request. Optional. */
    void (*server_tick)(void *state, cor_dm_call_t *c);
    /* Server part: the replica set changed (cor_dm_call_peers has the new
     * one). In the object's turn. Optional. */
    void (*server_membership)(void *state, cor_dm_call_t *c);
    /* Server part: a message from this DM's part at another replica (see
     * cor_dm_call_peer_send); answer with cor_dm_call_set_reply. In the object's
     * turn. Optional: without it, peer messages to this DM are refused. */
    int (*server_peer)(void *state, cor_dm_call_t *c, const unsigned char *msg, size_t len);
    /* Server part, migration: the part's own state (a dedup table, a
     * lease) moves with the replica. server_save writes it into a
     * malloc'd buffer the runtime frees (in the object's turn, frozen);
     * server_load reads it at the new replica before any call reaches it.
     * Optional, as a pair. */
    int (*server_save)(void *state, unsigned char **buf, size_t *len);
    int (*server_load)(void *state, const unsigned char *buf, size_t len);
    /* Server part, migration with pre-copy (docs/migration.md): what
     * changed since the previous call, so the freeze carries only that.
     * server_save_dirty writes it into a malloc'd buffer the runtime frees;
     * with restart set it forgets what changed so far and writes nothing
     * (the runtime has just taken server_save). server_apply_dirty applies
     * such bytes on top of a state given to server_load. Both in the
     * object's turn. Optional, as a pair, and only with server_save/load;
     * without them the part's whole state goes inside the freeze. */
    int (*server_save_dirty)(void *state, int restart, unsigned char **buf, size_t *len);
    int (*server_apply_dirty)(void *state, const unsigned char *buf, size_t len);
} cor_dm_ops_t;

/* Registers a DM for this process (copied pointer: ops must be static).
 * EEXIST for a taken name, EINVAL for a malformed vtable. Thread-safe. */
int cor_dm_register(const cor_dm_ops_t *ops, cor_error_t *err);

/* The registered DM of that name, or NULL. The built-in DMs are always
 * registered. */
const cor_dm_ops_t *cor_dm_find(const char *name);

/* Checks a parsed chain against the registry: every DM exists, every
 * parameter is declared and valid, required ones are there, no two DMs
 * claim the same exclusive capability, and each DM's needs are met by a DM
 * inside it. EINVAL with the DM's name (and column) and the reason. */
int cor_dm_chain_check(const cor_dm_chain_t *c, cor_error_t *err);

/* The capabilities of every DM in a chain, OR-ed. */
unsigned cor_dm_chain_caps(const cor_dm_chain_t *c);

/* The names of the registered DMs that have every capability in caps, in
 * registration order, as "A or B" in buf ("no DM" when none has). */
void cor_dm_names_with(unsigned caps, char *buf, size_t len);

/* The placement constraint of a whole chain plus an explicit selector
 * (either may be empty), as one selector in buf. EINVAL when two terms
 * contradict (same key, different values), naming both sources. */
int cor_dm_chain_placement(const cor_dm_chain_t *c, const char *selector, char *buf, size_t len,
                           cor_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
