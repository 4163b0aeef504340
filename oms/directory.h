/*
 * directory.h — the OMS's directory: every kernel server (node) and every
 * object, where its replicas live, and the rules that keep that true
 * (DESIGN.md "OMS").
 *
 * State is in memory and written through to a cor_store_t ("node/<name>",
 * "obj/<hex id>"); at open it is loaded back, so kill -9 and a restart lose
 * nothing. Heartbeats are not persisted: after a restart every node is
 * UNKNOWN until it heartbeats (then ALIVE) or the timeout passes (DEAD).
 *
 * Rules:
 *  - A node name registering again starts a new incarnation; replicas
 *    placed on an older incarnation are marked LOST (the process that held
 *    them is gone), so they are never silently resurrected — except those
 *    the new process names as held (a ConsensusRSM replica made again from
 *    its data directory), which it has by its own account.
 *  - A node that misses heartbeats for the timeout is DEAD; placement skips
 *    it; it becomes ALIVE again if the same incarnation heartbeats.
 *  - Creating an object picks a live node that hosts the class and matches
 *    the selector, with the fewest replicas relative to its capacity, asks
 *    it to create the replica, and only then records the object.
 *
 * Threads: all functions are thread-safe (one rwlock); calls to kernel
 * servers are made without holding it.
 *
 * The implementation is oms/dir*.c, one concern a file; oms/dir_int.h
 * says which file holds what.
 */
#ifndef COR_OMS_DIRECTORY_H
#define COR_OMS_DIRECTORY_H

#include <cor/error.h>

#include "arena.h"
#include "cor/oms.pb-c.h"
#include "store.h"
#include "transport.h"

typedef struct oms_dir oms_dir_t;

/* What the directory needs from the world: calls to kernel servers and
 * clocks. NULL in the options means the real thing (gRPC through
 * opts.client, the system clocks); tests/unit/test_oms_fixture.c passes
 * fakes to drive the group logic deterministically. Each call returns 0 or
 * a COR_E* code with err set; req is the protobuf-c request. */
typedef struct oms_env {
    int (*kernel_call)(void *arg, const char *target, int method, const ProtobufCMessage *req,
                       ProtobufCMessage **reply, /* NULL: not wanted; else the caller frees */
                       cor_error_t *err);         /* method: COR_M_CREATE_REPLICA etc. */
    int64_t (*mono_ms)(void *arg);
    int64_t (*wall_ms)(void *arg);
    void *arg;
} oms_env_t;

typedef struct oms_dir_opts {
    int heartbeat_interval_ms; /* told to kernels; 0: 1000 */
    int heartbeat_timeout_ms;  /* missed for this long = dead; 0: 3000 */
    int kernel_deadline_ms;    /* calls to kernels; 0: 5000 */
    cor_client_t *client;      /* for calls to kernels; the caller's */
    const oms_env_t *env;      /* NULL: real kernels and clocks */
} oms_dir_opts_t;

/* Loads the directory from store (which it then owns and closes). */
int oms_dir_open(cor_store_t store, const oms_dir_opts_t *opts, oms_dir_t **out, cor_error_t *err);
void oms_dir_close(oms_dir_t *d);

/* What the rpc handlers call. Replies are built in arena. */
int oms_dir_register(oms_dir_t *d, const Cor__RegisterRequest *req, cor_arena_t *arena,
                     Cor__RegisterReply *rep, cor_error_t *err);
int oms_dir_heartbeat(oms_dir_t *d, const Cor__HeartbeatRequest *req, Cor__HeartbeatReply *rep,
                      cor_error_t *err);
int oms_dir_list_nodes(oms_dir_t *d, cor_arena_t *arena, Cor__ListNodesReply *rep,
                       cor_error_t *err);
int oms_dir_create(oms_dir_t *d, const Cor__CreateObjectRequest *req, cor_arena_t *arena,
                   Cor__CreateObjectReply *rep, cor_error_t *err);
int oms_dir_lookup(oms_dir_t *d, const Cor__LookupRequest *req, cor_arena_t *arena,
                   Cor__LookupReply *rep, cor_error_t *err);
int oms_dir_list_objects(oms_dir_t *d, const Cor__ListObjectsRequest *req, cor_arena_t *arena,
                         Cor__ListObjectsReply *rep, cor_error_t *err);
int oms_dir_delete(oms_dir_t *d, const Cor__DeleteObjectRequest *req, cor_error_t *err);

/* Moves an object's single replica to another kernel server (by name, or
 * any live one matching a selector) that hosts its class and keeps its
 * placement: the source freezes it, installs its state at the target under
 * a new epoch and leaves a tombstone; then the new place is committed.
 * Refusals name the reason; a failed move leaves the object where it was. */
int oms_dir_migrate(oms_dir_t *d, const Cor__MigrateRequest *req, cor_arena_t *arena,
                    Cor__MigrateReply *rep, cor_error_t *err);

/* A kernel server reports holding an object's replica at an epoch (after a
 * move or a restore). Newer than the OMS's record: adopted (the OMS missed
 * the commit); otherwise acknowledged and ignored. */
int oms_dir_report_placement(oms_dir_t *d, const Cor__PlacementReport *req, cor_error_t *err);

/* A DM server part's message to its group part (Oms.GroupMessage): only
 * the kernel server holding one of the object's active replicas, as that
 * incarnation, may send (ESTATE otherwise); ENOTFOUND when the object or
 * the DM's group part is not there. The reply is built in arena. */
int oms_dir_group_message(oms_dir_t *d, const Cor__GroupMessageRequest *req, cor_arena_t *arena,
                          Cor__GroupMessageReply *rep, cor_error_t *err);

/* Keeps the newest checkpoint of an object, from the node that holds its
 * active replica (others are refused: a stale replica must not overwrite
 * the live one's state). */
int oms_dir_put_checkpoint(oms_dir_t *d, const Cor__CheckpointRequest *req, cor_error_t *err);

/* Marks nodes dead whose heartbeats stopped; call periodically. Returns how
 * many changed state. */
int oms_dir_check_liveness(oms_dir_t *d);

/* Counts, for logs and metrics. */
void oms_dir_counts(oms_dir_t *d, size_t *nodes, size_t *alive, size_t *objects);

#endif
