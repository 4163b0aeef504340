/*
 * runtime_int.h — internal structures shared by the runtime's files.
 */
#ifndef COR_RUNTIME_INT_H
#define COR_RUNTIME_INT_H

#include <cor/cor.h>

#include <pthread.h>
#include <stdatomic.h>

#include "arena.h"
#include "dm_int.h"
#include "idmap.h"
#include "rpc.h"
#include "transport.h"

#include "cor/kernel.pb-c.h"

struct cor_ctx {
    cor_runtime_t *rt;
    cor_arena_t *arena;
    const cor_object_id_t *id;
    const cor_method_desc_t *method;
    cor_error_t *err;
};

/* Work waiting for an object's turn (see cor_obj_enter). */
typedef struct cor_obj_task cor_obj_task_t;
struct cor_obj_task {
    void (*run)(cor_obj_task_t *t); /* runs the call; owns and frees t */
    cor_obj_task_t *next;
};

/* A hosted object. The table holds one reference; each call in flight one.
 *
 * Calls into one object run one at a time unless its class is
 * COR_CLASS_CONCURRENT. The thread that finds the object idle takes its
 * turn, runs the call, and then runs whatever queued meanwhile before it
 * lets go (cor_obj_leave). A call that finds the object busy is queued and
 * its thread is free at once, so a slow object holds one thread, never one
 * per waiting caller, and other objects' calls keep flowing. */
typedef struct cor_obj {
    cor_object_id_t id;
    char idstr[COR_OBJECT_ID_STRLEN + 1]; /* id as hex, for DM calls and logs */
    const cor_class_t *cls;
    void *self;
    atomic_int refs;
    uint64_t epoch;
    pthread_mutex_t qlock;
    int busy;        /* the turn is held (for a concurrent class: exclusively) */
    int inflight;    /* concurrent class: calls running now */
    pthread_cond_t qcond; /* concurrent class: inflight drained, turn freed */
    cor_obj_task_t *head, *tail;
    cor_dm_stack_t *dm; /* server DM parts; NULL: none (the fast path) */
    cor_dm_replica_t *members; /* replica set from the OMS (SetMembers); in-turn */
    int n_members;
    /* Set (in the object's turn) when it migrated away: a tombstone that
     * answers every call with EMOVED, swept after a grace period. Atomic:
     * read outside the turn by callers choosing a route. */
    atomic_int moved;
    char moved_to[128];
    uint64_t moved_epoch;
    long long moved_at_ms;
    struct cor_precopy *precopy; /* a move's pre-copy session; in-turn */
} cor_obj_t;

enum cor_turn {
    COR_TURN_QUEUED = 0, /* t was queued; it runs later on another thread */
    COR_TURN_OWNED,      /* the caller holds the turn: run, then cor_obj_leave */
    COR_TURN_SHARED,     /* a re-entrant call: just run */
    COR_TURN_CONCURRENT, /* concurrent class: run, then cor_obj_leave_concurrent */
};

/* Takes the object's turn, or queues t to run when the turn comes. */
enum cor_turn cor_obj_enter(cor_obj_t *o, cor_obj_task_t *t);

/* Takes the object's turn if it is free; COR_TURN_QUEUED here means "busy,
 * nothing queued" (then build a task and call cor_obj_enter). */
enum cor_turn cor_obj_try_enter(cor_obj_t *o);

/* Gives the turn back after running queued tasks. Only after
 * COR_TURN_OWNED. */
void cor_obj_leave(cor_obj_t *o);

/* Ends a call that entered with COR_TURN_CONCURRENT. */
void cor_obj_leave_concurrent(cor_obj_t *o);

/* Runs fn(arg) with no call running in o and new ones queued behind it
 * (for a live migration's final step). For a class that is not concurrent
 * this is cor_obj_run_sync; for a concurrent one it waits for the calls in
 * flight to finish. Not from inside one of o's own calls. */
void cor_obj_run_exclusive(cor_obj_t *o, void (*fn)(void *arg), void *arg);

#define COR_MAX_CLASSES 64
#define COR_ADDR_MAX 128

struct cor_runtime {
    cor_runtime_opts_t opts;
    char host_id[128];
    unsigned char client_id[16];
    atomic_uint_fast64_t seq;

    cor_client_t *client;
    cor_server_t *server;
    char tcp_addr[COR_ADDR_MAX];
    char unix_path[COR_ADDR_MAX];
    char oms_address[COR_ADDR_MAX]; /* "" when not in a cluster */
    char node_name[64];             /* set by cor-kernel: who sends checkpoints */
    pthread_mutex_t report_lock;    /* placements to report to the OMS */
    struct cor_report *reports;
    atomic_uint_fast64_t incarnation;
    pthread_mutex_t stage_lock;     /* objects being moved here; graves */
    struct cor_stage *stages;
    struct cor_grave *graves;       /* tombstones replaced, freed on the tick */
    atomic_uint_fast64_t calls_served;

    pthread_rwlock_t lock; /* classes and objects */
    const cor_class_t *classes[COR_MAX_CLASSES];
    int n_classes;
    cor_idmap_t objects;
};

struct cor_ref {
    cor_runtime_t *rt;
    atomic_int holds; /* the user's, plus one per async call in flight */
    cor_object_id_t id;
    char idstr[COR_OBJECT_ID_STRLEN + 1];
    char *class_name;
    int deadline_ms;
    pthread_mutex_t lock; /* location and peer */
    char *tcp_addr;
    char *unix_path;
    char *host_id;
    uint64_t epoch;
    cor_peer_t *peer; /* chosen transport target, cached */
    char *dm_chain;   /* NULL: none */
    int dm_ready;     /* client stack made (or found empty) */
    cor_dm_stack_t *dm; /* client DM parts; NULL: none */
};

/* Sets the chain whose client parts calls through ref run (copied; NULL
 * or "" for none). Resets the parts already made. */
int cor_ref_set_chain(cor_ref_t *ref, const char *chain, cor_error_t *err);

/* Finds a hosted object and takes a reference; NULL if not hosted. */
cor_obj_t *cor_runtime_obj_get(cor_runtime_t *rt, const cor_object_id_t *id);
void cor_runtime_obj_put(cor_obj_t *o);

/* Runs fn(arg) in o's turn on this thread, waiting for the turn if the
 * object is busy (the thread that holds it runs fn and wakes us). */
void cor_obj_run_sync(cor_obj_t *o, void (*fn)(void *arg), void *arg);

/* Decodes an InvokeRequest from data exactly as Kernel.Invoke does, runs it
 * in the object's turn, and returns the packed InvokeReply in *reply
 * (malloc'd, caller frees) or the error. For tests and fuzzing: the server
 * path without gRPC. */
int cor_runtime_dispatch_bytes(cor_runtime_t *rt, const uint8_t *data, size_t len, uint8_t **reply,
                               size_t *reply_len, cor_error_t *err);

/* Runs method m on a hosted object (the caller holds the object's turn).
 * Returns 0 or a COR_E* code with err set (unprefixed). */
int cor_runtime_obj_invoke(cor_runtime_t *rt, cor_obj_t *o, const cor_method_desc_t *m,
                           cor_arena_t *arena, const ProtobufCMessage *req,
                           ProtobufCMessage *reply, cor_error_t *err);

/* Serializes a hosted object's state in its turn (so no call is half-way
 * through). *class_name is the class's static name; *buf is malloc'd, the
 * caller frees it. */
int cor_runtime_save_object(cor_runtime_t *rt, const cor_object_id_t *id, const char **class_name,
                            uint8_t **buf, size_t *len, uint64_t *epoch, cor_error_t *err);

/* Asks the OMS where ref's object lives now. Returns 1 if the ref's
 * location changed (retry there), 0 if it did not or there is no OMS (keep
 * the original error), or an error that explains the failure better
 * (ENOTFOUND: deleted; EUNAVAIL: its kernel server is dead or restarted). */
int cor_cluster_refresh(cor_ref_t *ref, cor_error_t *err);

/* A registered class by name, or NULL. */
const cor_class_t *cor_runtime_find_class(cor_runtime_t *rt, const char *name);

/* Hosts object id of cls from saved state (load_state), with the server
 * parts of dm_chain. EEXIST if it is hosted already. */
int cor_runtime_install(cor_runtime_t *rt, const cor_class_t *cls, const cor_object_id_t *id,
                        uint64_t epoch, const char *dm_chain, const uint8_t *state, size_t len,
                        cor_error_t *err);

/* Asks the OMS, from a detached thread, to move object id to to_node as
 * the object's own request (needs ExplicitMigration-like permission in
 * its chain). The outcome is logged. */
int cor_runtime_request_move(cor_runtime_t *rt, const cor_object_id_t *id, const char *to_node,
                             cor_error_t *err);

/* True when this thread is running a method of object id (inside its
 * turn). */
int cor_runtime_in_object(cor_runtime_t *rt, const cor_object_id_t *id);

/* Deletes every hosted object (calls running in them finish first).
 * Returns how many there were. */
size_t cor_runtime_drop_all(cor_runtime_t *rt);

/* Runs the server_tick of every hosted object's DM parts, each in the
 * object's turn if it is free (a busy object is skipped this time). From
 * the kernel server's timer. */
void cor_runtime_dm_tick(cor_runtime_t *rt);

/* Objects hosted here now. */
size_t cor_runtime_object_count(cor_runtime_t *rt);

/* Packs env (a message whose `field` is an empty bytes field) followed by
 * payload packed as that field, into one new slice: the envelope and the
 * payload are written once, with no intermediate copy. */
grpc_slice cor_wire_pack(const ProtobufCMessage *env, unsigned field,
                         const ProtobufCMessage *payload);

/* ---- shared by runtime.c and migrate.c ---- */

/* Makes an object and puts it in the table (runtime.c has the details):
 * from_state 0 = create from bytes as constructor arguments, 1 = load_state
 * from bytes, 2 = adopt `made` (taken over even on failure). made_dm, when
 * not NULL, is the object's server DM stack already made for dm_chain
 * (taken over even on failure). dm_state is moved server DM state to load
 * into the chain's parts. */
int cor_obj_make(cor_runtime_t *rt, const cor_class_t *cls, const cor_object_id_t *id,
                 uint64_t epoch, const char *dm_chain, int from_state, const uint8_t *bytes,
                 size_t len, void *made, cor_dm_stack_t *made_dm, Cor__DmHeader *const *dm_state,
                 size_t n_dm_state, cor_error_t *err);

/* Loads moved DM state into the parts of dm it names: whole states
 * (server_load), or with dirty set what changed (server_apply_dirty).
 * EINVAL naming the DM when the chain has no such part or it cannot load;
 * object (its id, for messages) and entries stay the caller's. */
int cor_dm_stack_load(cor_dm_stack_t *dm, Cor__DmHeader *const *entries, size_t n, int dirty,
                      const char *object, cor_error_t *err);

/* An object id from a request's bytes: 0, or EINVAL naming what was wrong. */
int cor_id_arg(const ProtobufCBinaryData *b, cor_object_id_t *id, cor_error_t *err);

/* The object id and class a replica operation names; NULL with err set
 * when either is malformed or the class is not hosted here. */
const cor_class_t *cor_replica_args(cor_runtime_t *rt, const ProtobufCBinaryData *idb,
                                    const char *class_name, cor_object_id_t *id,
                                    cor_error_t *err);

/* Queues a placement report (object now here at epoch) for the OMS, sent
 * from the next tick. */
void cor_report_later(cor_runtime_t *rt, const cor_object_id_t *id, uint64_t epoch);

/* The monotonic clock in milliseconds and in microseconds. */
long long cor_mono_ms(void);
long long cor_mono_us(void);

/* ---- live migration (migrate.c) ---- */

/* The EMOVED answer of a tombstone is a redirect: its message reads
 * "object moved to ADDR (epoch N)", which callers parse back (anywhere in
 * a prefixed message) to follow the object without asking the OMS.
 * cor_moved_parse returns 0 and fills addr (len bytes) and *epoch, or -1
 * when msg holds no such redirect (then ask the OMS). */
#define COR_MOVED_FMT "object moved to %s (epoch %llu)"
int cor_moved_parse(const char *msg, char *addr, size_t len, uint64_t *epoch);

/* Kernel.MigrateOut and Kernel.InstallState (handlers for cor_rpc_serve;
 * arg is the runtime). */
int cor_op_migrate_out(void *arg, const ProtobufCMessage *in, ProtobufCMessage *out,
                       cor_arena_t *arena, cor_error_t *err);
int cor_op_install_state(void *arg, const ProtobufCMessage *in, ProtobufCMessage *out,
                         cor_arena_t *arena, cor_error_t *err);

/* Drops tombstones and staged copies that outlived their grace period.
 * From the tick. */
void cor_migrate_sweep(cor_runtime_t *rt);

/* Where object id stands here, for Kernel.GetState with probe: its class
 * and epoch, and if it is a tombstone where it went (strings from arena).
 * ENOTFOUND when not hosted. The OMS asks this of a move's source before
 * believing the target's report of a move it did not see commit. */
int cor_migrate_probe(cor_runtime_t *rt, const cor_object_id_t *id, cor_arena_t *arena,
                      Cor__GetStateReply *rep, cor_error_t *err);

/* Frees a source-side pre-copy session (NULL is fine). */
void cor_precopy_free(struct cor_precopy *pc);

/* Frees every staged copy and replaced tombstone (runtime shutdown). */
void cor_migrate_free_stages(cor_runtime_t *rt);

#endif
