/*
 * host.h — what in-tree daemons (cor-kernel, corctl), tests and benchmarks
 * may use of the runtime beyond the public API: accessors and a few
 * operations, never the runtime's structs. Built into libcor; reached
 * through the cor_internal target.
 */
#ifndef COR_HOST_H
#define COR_HOST_H

#include <cor/cor.h>

#include "rpc.h"
#include "transport.h"

/* The runtime's transport client, for control-plane calls (cor_rpc_call).
 * Owned by rt. */
cor_client_t *cor_runtime_client(cor_runtime_t *rt);

/* Calls the objects hosted here have served (methods run). */
uint64_t cor_runtime_calls_served(const cor_runtime_t *rt);

/* Hosts object id of cls from saved state (load_state), with the server
 * parts of dm_chain. EEXIST if it is hosted already. */
int cor_runtime_install(cor_runtime_t *rt, const cor_class_t *cls, const cor_object_id_t *id,
                        uint64_t epoch, const char *dm_chain, const uint8_t *state, size_t len,
                        cor_error_t *err);

/* Stops hosting object id here, once calls running in it finish; the OMS
 * is not told (cor_object_delete is the one that deletes an object).
 * ENOTFOUND when it is not hosted here. */
int cor_runtime_unhost(cor_runtime_t *rt, const cor_object_id_t *id, cor_error_t *err);

/* 1 when this runtime hosts object id (a live replica, not a tombstone). */
int cor_runtime_hosts(cor_runtime_t *rt, const cor_object_id_t *id);

/* Objects hosted here now (tombstones of moved ones included). */
size_t cor_runtime_object_count(cor_runtime_t *rt);

/* What hosting objects costs the runtime itself, for the memory
 * benchmark: one hosted object's record (its size, and the usable size of
 * its allocation) and the id map (slots, bytes each) holding them. */
typedef struct cor_runtime_footprint {
    size_t objects;
    size_t obj_bytes, obj_usable;
    size_t map_slots, slot_bytes;
} cor_runtime_footprint_t;

void cor_runtime_footprint(cor_runtime_t *rt, cor_runtime_footprint_t *out);

/* Classes registered here. */
int cor_runtime_class_count(cor_runtime_t *rt);

/* Forgets class `name` (a module being unloaded). ENOTFOUND when no such
 * class is registered, ESTATE while an object of it is hosted here. */
int cor_runtime_unregister_class(cor_runtime_t *rt, const char *name, cor_error_t *err);

/* Decodes an InvokeRequest from data exactly as Kernel.Invoke does and
 * runs it through the one call path (the object's turn, its server DM
 * parts, the method); *reply is the packed InvokeReply (malloc'd, the
 * caller frees) or the error. The server path without gRPC, for fuzzing. */
int cor_runtime_dispatch_bytes(cor_runtime_t *rt, const uint8_t *data, size_t len, uint8_t **reply,
                               size_t *reply_len, cor_error_t *err);

/* Deletes every hosted object (calls running in them finish first).
 * Returns how many there were. */
size_t cor_runtime_drop_all(cor_runtime_t *rt);

/* Runs the server_tick of every hosted object's DM parts, each in the
 * object's turn if it is free (a busy object is skipped this time),
 * sweeps expired tombstones and staged copies, and sends placement
 * reports. From a kernel server's timer. */
void cor_runtime_tick(cor_runtime_t *rt);

/* One side of a chain's DM parts, as a ref (client) or a hosted object
 * (server) holds them; made and freed here for the chain fuzzer. *out is
 * NULL when that side has no parts. */
typedef struct cor_dm_stack cor_dm_stack_t;
int cor_dm_stack_new(const char *chain, int server, cor_dm_stack_t **out, cor_error_t *err);
void cor_dm_stack_free(cor_dm_stack_t *s);

/* ---- being a kernel server ---- */

/* The node name this runtime registers as (who sends checkpoints and
 * placement reports, and whom DM parts see as the caller's node). Copied.
 * Before cor_runtime_listen. */
int cor_runtime_set_node_name(cor_runtime_t *rt, const char *name, cor_error_t *err);

/* Where this kernel server keeps durable state (ConsensusRSM replicas'
 * Raft logs, under DIR/raft/<object id>/). Without one it cannot hold a
 * ConsensusRSM replica. Before any object is made. Copies dir. */
int cor_runtime_set_data_dir(cor_runtime_t *rt, const char *dir, cor_error_t *err);

/* The TCP address to register and hand out in refs instead of the bound
 * one (a NAT or container address). After cor_runtime_listen, before the
 * first registration. EINVAL for a malformed address. */
int cor_runtime_set_advertise(cor_runtime_t *rt, const char *tcp_addr, cor_error_t *err);

/* ---- ConsensusRSM replicas across a restart (rsm.c) ---- */

/* Makes again every ConsensusRSM replica whose store is in the data
 * directory (DIR/raft/<id>/ with its `object` file), before the first
 * registration: the objects exist again, and each replica's Raft state
 * loads when the OMS sends its replica set. Returns how many; one that
 * cannot be made (its class is not registered here, its files do not
 * read) is logged and skipped, its files kept. */
int cor_runtime_restore_replicas(cor_runtime_t *rt);

/* The ConsensusRSM replicas hosted here, for a registration
 * (RegisterRequest.held): at most max ids and member incarnations; the
 * count. */
int cor_runtime_held_replicas(cor_runtime_t *rt, cor_object_id_t *ids, uint64_t *incs, int max);

/* The OMS no longer counts held replica id here: it goes, and its files
 * are set aside (DIR/raft/<id>.refused-<time>), never restored again. */
void cor_runtime_refuse_replica(cor_runtime_t *rt, const cor_object_id_t *id);

/* The incarnation the OMS gave this node at registration. */
void cor_runtime_set_incarnation(cor_runtime_t *rt, uint64_t incarnation);

#endif
