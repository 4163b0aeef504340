/*
 * object_int.h — hosted objects and their turns (internal to runtime/).
 *
 * A hosted object (cor_obj_t) is one replica living in this process: the
 * class's instance, its server DM parts, its replica set, and, once it has
 * moved away, its tombstone. The runtime's table holds one reference; every
 * call in flight and every queued task holds another (cor_obj_get/put).
 *
 * Turns. Calls into one object run one at a time unless its class is
 * COR_CLASS_CONCURRENT. The thread that finds the object idle takes its
 * turn, runs the call, and then runs whatever queued meanwhile before it
 * lets go (cor_obj_leave). A call that finds the object busy is queued as a
 * task and its thread is free at once, so a slow object holds one thread,
 * never one per waiting caller. A concurrent class's calls run side by
 * side, counted in `inflight`, until an exclusive step (a move's freeze)
 * holds the turn: then they queue like a plain class's.
 *
 * Everything a call does inside the object (server DM parts, the method,
 * handing the reply out) happens in its turn: see invoke.h.
 */
#ifndef COR_OBJECT_INT_H
#define COR_OBJECT_INT_H

#include <cor/cor.h>

#include <pthread.h>
#include <stdatomic.h>

#include "arena.h"
#include "dm_int.h"

#include "cor/kernel.pb-c.h"

#define COR_ADDR_MAX 128

/* The per-call context a method or a lifecycle hook receives. */
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

typedef struct cor_obj {
    cor_object_id_t id;
    char idstr[COR_OBJECT_ID_STRLEN + 1]; /* id as hex, for DM calls and logs */
    cor_runtime_t *rt;
    const cor_class_t *cls;
    void *self;
    atomic_int refs;
    uint64_t epoch;
    pthread_mutex_t qlock;
    int busy;             /* the turn is held (for a concurrent class: exclusively) */
    int inflight;         /* concurrent class: calls running now */
    pthread_cond_t qcond; /* concurrent class: inflight drained, turn freed */
    cor_obj_task_t *head, *tail;
    cor_dm_stack_t *dm;        /* server DM parts; NULL: none (the fast path) */
    cor_dm_replica_t *members; /* replica set from the OMS (SetMembers); in-turn */
    int n_members;
    /* Set (in the object's turn) when it migrated away: a tombstone that
     * answers every call with EMOVED and where it went, swept after a
     * grace period. Atomic: read outside the turn by callers choosing a
     * route; the fields below are written before it. */
    atomic_int moved;
    char moved_to[COR_ADDR_MAX];
    uint64_t moved_epoch;
    long long moved_at_ms;
    struct cor_precopy *precopy; /* a move's pre-copy session; in-turn */
    struct cor_rsm *rsm;         /* a ConsensusRSM replica (rsm.c), or NULL */
} cor_obj_t;

/* ---- turns (turn.c) ---- */

enum cor_turn {
    COR_TURN_QUEUED = 0, /* t was queued; it runs later on another thread */
    COR_TURN_OWNED,      /* the caller holds the turn: run, then cor_obj_leave */
    COR_TURN_SHARED,     /* a re-entrant call: just run */
    COR_TURN_CONCURRENT, /* concurrent class: run, then cor_obj_leave_concurrent */
};

/* Takes the object's turn, or queues t to run when the turn comes (with t
 * NULL: cor_obj_try_enter). */
enum cor_turn cor_obj_enter(cor_obj_t *o, cor_obj_task_t *t);

/* Takes the object's turn if it is free; COR_TURN_QUEUED here means "busy,
 * nothing queued" (then build a task and call cor_obj_enter). */
enum cor_turn cor_obj_try_enter(cor_obj_t *o);

/* Ends what cor_obj_enter or cor_obj_try_enter granted: gives an owned
 * turn back after running what queued meanwhile, ends a concurrent call,
 * does nothing for a shared one. */
void cor_obj_exit(cor_obj_t *o, enum cor_turn turn);

/* Runs fn(arg) in o's turn on this thread, waiting for the turn if the
 * object is busy (the thread that holds it runs fn and wakes us). */
void cor_obj_run_sync(cor_obj_t *o, void (*fn)(void *arg), void *arg);

/* Runs fn(arg) with no call running in o and new ones queued behind it
 * (a move's steps). For a class that is not concurrent this is
 * cor_obj_run_sync; for a concurrent one it waits for the calls in flight
 * to finish. Not from inside one of o's own calls. */
void cor_obj_run_exclusive(cor_obj_t *o, void (*fn)(void *arg), void *arg);

/* The object whose method this thread is running, or NULL. */
cor_obj_t *cor_obj_current(void);

/* True when this thread is running a method of object id (inside its
 * turn). */
int cor_runtime_in_object(cor_runtime_t *rt, const cor_object_id_t *id);

/* Runs method m's implementation on o with ctx, marking this thread as
 * inside o (re-entrant calls share the turn). The caller holds the turn.
 * Returns the method's code; err gets its message or the code's text. */
int cor_obj_run_method(cor_obj_t *o, const cor_method_desc_t *m, cor_ctx_t *ctx,
                       const ProtobufCMessage *req, ProtobufCMessage *reply);

/* ---- the table of hosted objects (objects.c) ---- */

/* Finds a hosted object and takes a reference; NULL if not hosted. */
cor_obj_t *cor_obj_get(cor_runtime_t *rt, const cor_object_id_t *id);

/* Drops a reference; the last one destroys the instance and frees o. */
void cor_obj_put(cor_obj_t *o);

/* How cor_obj_make makes the instance. */
typedef struct cor_obj_init {
    enum { COR_OBJ_CREATE, COR_OBJ_LOAD, COR_OBJ_ADOPT } how;
    const uint8_t *bytes; /* CREATE: constructor args; LOAD: saved state */
    size_t len;
    void *made;              /* ADOPT: an instance the class made (taken over, even on failure) */
    cor_dm_stack_t *made_dm; /* server parts already made for the chain (taken over), or NULL */
    Cor__DmHeader *const *dm_state; /* moved DM state to load into the parts */
    size_t n_dm_state;
    int rsm_restore;         /* a ConsensusRSM replica made again from its store at a restart */
    uint64_t rsm_member_inc; /* ... with the incarnation it was made under */
} cor_obj_init_t;

/* Makes an object of cls under id with the server parts of dm_chain, as
 * `in` says, and puts it in the table. EEXIST if id is hosted already;
 * the class's own error (with its message) if it refuses. */
int cor_obj_make(cor_runtime_t *rt, const cor_class_t *cls, const cor_object_id_t *id,
                 uint64_t epoch, const char *dm_chain, const cor_obj_init_t *in, cor_error_t *err);

/* cor_object_create's "here": makes an object of class_name hosted by
 * this runtime, with the class's own chain. */
int cor_obj_create_here(cor_runtime_t *rt, const char *class_name, const uint8_t *args,
                        size_t args_len, const cor_create_opts_t *opts, cor_ref_t **ref,
                        cor_error_t *err);

/* Saves o's state with the class's save_state, in the caller's turn (or
 * from a step that holds it). *buf is malloc'd, the caller frees it. */
int cor_obj_save(cor_obj_t *o, uint8_t **buf, size_t *len, cor_error_t *err);

/* A registered class by name, or NULL. */
const cor_class_t *cor_runtime_find_class(cor_runtime_t *rt, const char *name);

/* An object id from a request's bytes: 0, or EINVAL naming what was wrong. */
int cor_id_arg(const ProtobufCBinaryData *b, cor_object_id_t *id, cor_error_t *err);

/* The object id and class a replica operation names; NULL with err set
 * when either is malformed or the class is not registered here. */
const cor_class_t *cor_replica_args(cor_runtime_t *rt, const ProtobufCBinaryData *idb,
                                    const char *class_name, cor_object_id_t *id,
                                    cor_error_t *err);

/* Loads moved DM state into the parts of dm it names: whole states
 * (server_load), or with dirty set what changed (server_apply_dirty).
 * EINVAL naming the DM when the chain has no such part or it cannot load;
 * object (its id, for messages) and entries stay the caller's. */
int cor_dm_stack_load(cor_dm_stack_t *dm, Cor__DmHeader *const *entries, size_t n, int dirty,
                      const char *object, cor_error_t *err);

#endif
