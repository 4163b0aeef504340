/*
 * runtime_int.h — the runtime itself (struct cor_runtime) and what its
 * files share beyond objects and calls (internal to runtime/).
 *
 * Headers by concern:
 *   object_int.h   hosted objects, their turns, the class registry
 *   invoke.h       running a call on a hosted object (every route)
 *   ref_int.h      references and the client side of a call
 *   dm_int.h       DM stacks and the call DM parts see
 *   wire.h         the Kernel.Invoke envelope
 *   workers.h      the pool that runs blocking work off callers' threads
 *   host.h         what in-tree daemons, tests and benchmarks may use
 */
#ifndef COR_RUNTIME_INT_H
#define COR_RUNTIME_INT_H

#include <cor/cor.h>

#include <pthread.h>
#include <stdatomic.h>

#include "host.h"
#include "idmap.h"
#include "object_int.h"
#include "rpc.h"
#include "transport.h"
#include "workers.h"

#include "cor/kernel.pb-c.h"
#include "cor/oms.pb-c.h"

#define COR_MAX_CLASSES 64

struct cor_runtime {
    cor_runtime_opts_t opts;
    char host_id[128];
    unsigned char client_id[16];
    atomic_uint_fast64_t seq;

    cor_client_t *client;
    cor_server_t *server;
    char tcp_addr[COR_ADDR_MAX];    /* as registered and handed out (maybe advertised) */
    char unix_path[COR_ADDR_MAX];
    char oms_address[COR_ADDR_MAX]; /* "" when not in a cluster */
    char node_name[64];             /* the kernel server this runtime is, or "" */
    atomic_uint_fast64_t incarnation;
    pthread_mutex_t report_lock;    /* placements to report to the OMS */
    struct cor_report *reports;
    pthread_mutex_t stage_lock;     /* objects being moved here; graves */
    struct cor_stage *stages;
    struct cor_grave *graves;       /* tombstones replaced, freed on the tick */
    atomic_uint_fast64_t calls_served;
    cor_workers_t workers;

    char data_dir[1024];            /* --data-dir: ConsensusRSM stores; "" none */
    pthread_mutex_t rsm_lock;       /* the replicas the Raft thread drives (rsm.c) */
    pthread_cond_t rsm_cond;
    struct cor_rsm *rsms;
    pthread_t rsm_thread;
    int rsm_running, rsm_stop, rsm_wake;

    pthread_rwlock_t lock; /* classes and objects */
    const cor_class_t *classes[COR_MAX_CLASSES];
    int n_classes;
    cor_idmap_t objects;
};

/* Asks the OMS where ref's object lives now. Returns 1 if the ref's
 * location changed (retry there), 0 if it did not or there is no OMS (keep
 * the original error), or an error that explains the failure better
 * (ENOTFOUND: deleted; EUNAVAIL: its kernel server is dead or restarted). */
int cor_cluster_refresh(cor_ref_t *ref, cor_error_t *err);

/* Looks an object up in the OMS by id (or, id NULL, by name). On success
 * *out is the reply (it has an object), freed with
 * protobuf_c_message_free_unpacked. ESTATE without an OMS. */
int cor_oms_lookup(cor_runtime_t *rt, const cor_object_id_t *id, const char *name,
                       Cor__LookupReply **out, cor_error_t *err);

/* Asks the OMS, from a worker, to move object id to to_node as the
 * object's own request (the OMS checks the chain allows it). The outcome
 * is logged. */
int cor_runtime_request_move(cor_runtime_t *rt, const cor_object_id_t *id, const char *to_node,
                             cor_error_t *err);

/* Queues a placement report (object now here at epoch) for the OMS, sent
 * from the next tick until acknowledged. */
void cor_report_later(cor_runtime_t *rt, const cor_object_id_t *id, uint64_t epoch);

/* Sends the queued placement reports (from the tick). */
void cor_reports_send(cor_runtime_t *rt);

/* Frees the queued reports (runtime shutdown). */
void cor_reports_free(cor_runtime_t *rt);

/* Registers the replica operations of the Kernel service (CreateReplica,
 * DeleteReplica, GetState, SetMembers, PeerMessage, InstallState,
 * MigrateOut) on s. */
int cor_replica_ops_serve(cor_runtime_t *rt, cor_server_t *s, cor_error_t *err);

/* The monotonic clock in milliseconds and in microseconds. */
long long cor_mono_ms(void);
long long cor_mono_us(void);

/* ---- live migration (migrate_out.c, migrate_in.c) ---- */

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
