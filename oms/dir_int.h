/*
 * dir_int.h — the inside of the OMS directory, shared by its files
 * (internal: only oms/dir*.c include it; everyone else uses directory.h).
 *
 * The files, one concern each:
 *   dir.c            open and close; small helpers every part uses
 *   dir_store.c      the stored form of nodes and objects; loading it back
 *   dir_kernel.c     calls to kernel servers (the real oms_env_t, and the
 *                    create / delete / set-members requests)
 *   dir_nodes.c      registration, heartbeats, liveness, listing nodes
 *   dir_place.c      where a replica may go: hosting, labels, picking a node
 *   dir_objects.c    create, look up, list and delete objects; reply form
 *   dir_group.c      DM group parts: their hooks, and the actions they take
 *                    on replicas (the OMS knows no DM by name)
 *   dir_migrate.c    live migration, and placement reports after a move
 *   dir_checkpoint.c the newest checkpoint of each object
 *
 * Ownership: the directory owns everything here. An oms_node_t lives as
 * long as the directory (across incarnations), so replicas may point at
 * it; its info is replaced on each registration. An oms_obj_t is owned by
 * d->objects from insertion until oms_dir_delete or oms_dir_close frees it
 * (oms_obj_free); d->names only points at objects (or RESERVED, while a
 * create holds the name). Class names are interned in d->classes. An
 * object's group parts (oms_group_t, dir_group.c) are reference-counted:
 * d->groups holds one reference while the object exists, o->group points
 * at the same group.
 *
 * Locking: one rwlock, d->lock. Each function below says what it expects:
 * "write lock" or "read lock" (held by the caller, which may be either for
 * "any lock"), or "no lock" (it takes the lock itself, or calls a kernel
 * server, which is never done while holding it). A pointer to an object
 * is valid only while the lock is held: code that drops it to call a
 * kernel copies out what it needs and finds the object again by id.
 */
#ifndef COR_OMS_DIR_INT_H
#define COR_OMS_DIR_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include <cor/dm.h>

#include "directory.h"
#include "group.h"
#include "idmap.h"
#include "labels.h"
#include <cor/strmap.h>

#define NODE_NAME_MAX 63
#define OBJECT_NAME_MAX 255
#define CLASS_NAME_MAX 255
#define DM_CHAIN_MAX 1024

/* Replicas of one object the OMS tracks at most (the stored form keeps
 * this many). */
#define OMS_MAX_REPLICAS 8

/* Recent live migrations kept per object. */
#define MAX_MOVES 8

typedef struct oms_node {
    Cor__NodeInfo *info;   /* registration as received, heap (protobuf-c) */
    int64_t last_hb_mono;  /* ms, monotonic */
    uint32_t placed;       /* active replicas the OMS placed here */
    Cor__NodeLoad load;    /* last reported */
} oms_node_t;

typedef struct oms_replica {
    oms_node_t *node;
    uint64_t incarnation;
    uint64_t member_inc; /* a replicated object's member: the incarnation it was made under
                            (kept across a rejoin); 0: the same as incarnation */
    uint64_t epoch;
    int state;   /* COR__REPLICA_STATE__* */
    int founder; /* made with the object */
    int pending; /* a new replica for this slot is being made (not persisted) */
} oms_replica_t;

typedef struct oms_group oms_group_t;

typedef struct oms_obj {
    cor_object_id_t id;
    const char *class_name; /* interned: lives in d->classes */
    char *name;             /* NULL: none */
    char *dm_chain;         /* NULL: none */
    char *selector;         /* NULL: none */
    int64_t created_ms;
    uint64_t epoch;
    int n_replicas;
    oms_replica_t *replicas;
    int founders;  /* replicas made with it (founder set): its founding replica set */
    uint8_t *args; /* constructor arguments, to re-create replicas */
    size_t args_len;
    int64_t checkpoint_ms; /* newest checkpoint in the store ("ckpt/<id>"), 0: none */
    int migrating;         /* a move is under way (not persisted) */
    struct {               /* its progress, for corctl (not persisted) */
        char to[NODE_NAME_MAX + 1];
        const char *phase; /* static: "precopy", "final" */
        uint32_t round;
        uint64_t copied, state;
        int64_t elapsed_us; /* at the last step */
    } move;
    Cor__Move *moves[MAX_MOVES]; /* recent live migrations, oldest first (heap) */
    int n_moves;
    oms_group_t *group;    /* its DM group parts; NULL: none */
} oms_obj_t;

struct oms_dir {
    pthread_rwlock_t lock;
    cor_store_t store;
    oms_dir_opts_t opts;
    oms_env_t env; /* the world: real or a test's fakes */
    cor_strmap_t nodes;   /* name -> oms_node_t* */
    cor_idmap_t objects;  /* id -> oms_obj_t* */
    cor_strmap_t names;   /* object name -> oms_obj_t* (or RESERVED) */
    cor_strmap_t classes; /* interned class names -> the key itself */
    cor_idmap_t groups;   /* id -> oms_group_t* of objects with group parts */
    struct oms_event *events; /* node events not yet handed to group parts */
};

/* ---- dir.c: shared helpers ---- */

/* The interned copy of a class name, made on first use; NULL when out of
 * memory. Write lock. */
const char *oms_intern_class(oms_dir_t *d, const char *name);

/* A heap copy of s, or NULL when s is NULL or empty (the caller frees). */
char *oms_dup_nonempty(const char *s);

/* Frees an object no map holds any more (NULL is fine). */
void oms_obj_free(oms_obj_t *o);

/* Checks a node, object or class name: not empty, at most max bytes,
 * letters, digits and . _ - (and / : when object is set). */
int oms_check_name(const char *what, const char *s, size_t max, int object, cor_error_t *err);

/* Copies into the arena (the reply's), so a reply can outlive the lock that
 * protected the original. NULL when out of memory; oms_arena_str gives ""
 * for NULL. */
ProtobufCMessage *oms_arena_clone(cor_arena_t *a, const ProtobufCMessage *m);
char *oms_arena_str(cor_arena_t *a, const char *s);

/* ---- dir_store.c: the stored form ---- */

/* "obj/<hex id>", "ckpt/<hex id>" and "grp/<hex id>": an object's keys in
 * the store (its record, its newest checkpoint, its group parts' state). */
void oms_obj_key(const cor_object_id_t *id, char key[64]);
void oms_ckpt_key(const cor_object_id_t *id, char key[64]);
void oms_group_key(const cor_object_id_t *id, char key[64]);

/* The stored form of o, in *buf (the caller frees). Any lock. */
int oms_obj_encode(const oms_obj_t *o, uint8_t **buf, size_t *len);

/* Writes o, or a node's registration, through to the store, before the
 * caller makes the change visible. Write lock. */
int oms_obj_persist(oms_dir_t *d, const oms_obj_t *o, cor_error_t *err);
int oms_node_persist(oms_dir_t *d, const Cor__NodeInfo *n, cor_error_t *err);

/* Fills the empty maps from the store at open (no other thread yet):
 * nodes first, UNKNOWN until they heartbeat, then objects; a record that
 * does not decode is logged and skipped. */
int oms_store_load(oms_dir_t *d, cor_error_t *err);

/* ---- dir_kernel.c: calls to kernel servers (no lock, ever) ---- */

/* The real world: gRPC through d->opts.client and the system clocks. */
oms_env_t oms_env_real(oms_dir_t *d);

/* Asks the kernel server at target to create a replica at epoch 1. */
int oms_kernel_create(oms_dir_t *d, const char *target, const cor_object_id_t *id,
                      const char *cls, const uint8_t *args, size_t args_len, const char *chain,
                      cor_error_t *err);

/* Best effort: the replica may linger if the kernel cannot be reached. */
void oms_kernel_delete(oms_dir_t *d, const char *target, const cor_object_id_t *id);

/* Tells every active replica of a multi-replica object who its peers are
 * (Kernel.SetMembers). Best effort; takes the read lock to read them. */
void oms_kernel_set_members(oms_dir_t *d, const cor_object_id_t *id);

/* ---- dir_place.c: where replicas may go (any lock) ---- */

/* A node's labels, plus the implicit `node` label: its name (for
 * cor_selector_match; arg is the node's Cor__NodeInfo). */
const char *oms_node_label(void *arg, const char *key);

int oms_hosts_class(const Cor__NodeInfo *info, const char *cls);

/* The (cor.dm_chain) of a class, as its kernel servers reported it ("" if
 * none or no node hosts it). */
const char *oms_class_chain(oms_dir_t *d, const char *cls);

/* A search for the best node for a new replica: it hosts cls, matches sel,
 * is alive, has room, is none of avoid, and has the fewest replicas for
 * its capacity (ties: the smallest name). */
typedef struct oms_pick {
    const char *cls;
    const cor_selector_t *sel;
    const char *only;         /* consider this node alone; NULL: every one */
    oms_node_t *const *avoid; /* nodes that already hold a replica */
    int n_avoid;
    oms_node_t *best;
    double best_score;
    int hosting, matching, alive; /* for the error message */
} oms_pick_t;

/* Runs the search over every node; returns pc->best (NULL: none). */
oms_node_t *oms_pick(oms_dir_t *d, oms_pick_t *pc);

/* ---- dir_objects.c ---- */

/* Finds an object by id or name; NULL with err set if there is none. Any
 * lock. */
oms_obj_t *oms_obj_find(oms_dir_t *d, const ProtobufCBinaryData *id, const char *name,
                        cor_error_t *err);

/* The reply form of o, in the arena; NULL when out of memory. Any lock. */
Cor__ObjectInfo *oms_obj_info(cor_arena_t *a, const oms_obj_t *o);

/* ---- dir_group.c, dir_group_act.c: DM group parts ---- */

/* One object's group parts: the instances of its chain's DMs that have
 * group hooks, their saved state, and a mutex so that one hook at a time
 * runs for the object. d->groups holds a reference while the object
 * exists; a hook run outside the directory lock holds another. */
struct oms_group {
    atomic_int refs;
    pthread_mutex_t lock; /* one hook at a time */
    oms_dir_t *d;
    cor_object_id_t id;
    char idstr[COR_OBJECT_ID_STRLEN + 1];
    const char *class_name; /* interned */
    int gone;               /* the object was deleted */
    int n;
    struct {
        const cor_dm_ops_t *ops;
        cor_dm_entry_t entry;
        void *state;
        uint8_t *saved; /* the last cor_dm_group_save (NULL: none) */
        size_t saved_len;
    } parts[COR_DM_MAX_CHAIN];
};

/* What a hook's actions work on (the handle's arg). */
typedef struct oms_gctx {
    oms_dir_t *d;
    oms_group_t *g;        /* NULL: the default replica of an object without one */
    const cor_object_id_t *id;
    const char *idstr;
    int part;
    oms_obj_t *creating;   /* during create: the object, not in the maps yet */
    int changed;           /* the replica set changed: tell the replicas */
    int eager;             /* tell them at once, not after the hook (a replica move) */
} oms_gctx_t;

/* The implementation behind cor_dm_group_t (dir_group_act.c). */
extern const cor_dm_group_impl_t oms_group_impl;

/* Adds a replica to x's object, from its constructor arguments or its
 * checkpoint (cor_dm_group_add_replica). No lock. */
int oms_group_add_replica(void *x, enum cor_dm_source from, const char *only, char *node,
                          size_t len, cor_error_t *err);

/* The replica of o on node in state (any state: -1); NULL if none. Any
 * lock. */
oms_replica_t *oms_replica_on(oms_obj_t *o, const char *node, int state);

/* Writes every part's saved state as the object's "grp/<id>" record (or
 * deletes it when none has any). The group's mutex held. */
int oms_group_store(oms_dir_t *d, oms_group_t *g, cor_error_t *err);


/* Makes the group parts of o's chain (o->group; NULL when no DM of it has
 * a group hook), with the states saved (NULL: a new object). Any lock or
 * none (o is the caller's). */
int oms_group_make(oms_dir_t *d, oms_obj_t *o, const Cor__GroupState *saved, cor_error_t *err);

/* Runs the group_create hooks on o, which is not in the maps yet, and
 * places one replica when none made any. On failure the replicas made so
 * far are in o->replicas for the caller to take back. No lock. */
int oms_group_create(oms_dir_t *d, oms_obj_t *o, cor_error_t *err);

/* Puts o's group in d->groups (and its saved state in the store) once o is
 * in the maps. Write lock. */
void oms_group_publish(oms_dir_t *d, oms_obj_t *o);

/* Takes o's group out of d->groups; the caller passes it (and the
 * reference) to oms_group_gone once the lock is dropped. Write lock. */
oms_group_t *oms_group_unpublish(oms_dir_t *d, oms_obj_t *o);

/* Runs the group_delete hooks and lets the group go (NULL is fine). No
 * lock. */
void oms_group_gone(oms_group_t *g);

/* Drops a reference to a group (NULL is fine). */
void oms_group_release(oms_group_t *g);

/* Queues what happened to kernel server node for every group part's
 * group_node hook. Write lock. */
void oms_group_event(oms_dir_t *d, const char *node, enum cor_dm_node_event ev);

/* Hands the queued events to the group parts and ticks them (from
 * oms_dir_check_liveness). No lock. */
/* Moves the replica of object id on node from to node to through the
 * group part that can (group_move_replica), waiting for it. EUNIMPL when
 * no part of its chain moves single replicas. No lock held. */
int oms_group_move_replica(oms_dir_t *d, const cor_object_id_t *id, const char *from,
                           const char *to, cor_error_t *err);

void oms_group_run(oms_dir_t *d);

/* At open, after the objects are loaded: makes every object's group parts
 * with their stored state. No other thread yet. */
void oms_group_load(oms_dir_t *d);
void oms_group_publish_loaded(oms_dir_t *d, oms_obj_t *o);

/* Frees the events not handed out (at close). */
void oms_group_free_all(oms_dir_t *d);

/* ---- dir_migrate.c ---- */

/* Records a move in o's history, keeping the last MAX_MOVES (heap copies
 * the object frees). Write lock, or the object is not yet in the maps. */
void oms_obj_add_move(oms_obj_t *o, const char *from, const char *to, int64_t at,
                      int64_t frozen, uint64_t epoch);

/* ---- dir_checkpoint.c ---- */

/* Reads the object's stored checkpoint; *out is the caller's to free with
 * cor__checkpoint_request__free_unpacked. No lock (the store has its own). */
int oms_checkpoint_get(oms_dir_t *d, const cor_object_id_t *id, Cor__CheckpointRequest **out,
                       cor_error_t *err);

#endif
