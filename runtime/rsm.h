/*
 * rsm.h — a ConsensusRSM replica: the Raft core (cor/raft.h) driven for
 * one hosted object, with its store (raft/store.h) in the kernel server's
 * data directory (internal to runtime/).
 *
 * Why the runtime and not only a DM part: a replicated call must be
 * proposed before the object's turn is taken — the turn belongs to the
 * apply loop, which runs the call's server DM parts and method on every
 * replica in log order — so cor_obj_invoke hands calls on such an object
 * to cor_rsm_invoke instead of running them. The ConsensusRSM DM
 * (dm/consensus_rsm.c) supplies the group part that makes the replicas and
 * the client part that finds the leader; its server part only passes the
 * call on, at apply time.
 *
 * Threads: one Raft thread per runtime (started with the first replica)
 * ticks every replica, takes the messages and calls queued for it, and
 * runs the updates: persist, send (Kernel.RaftMessage, one-way), apply (in
 * the object's turn, waiting for it). Server threads only queue.
 */
#ifndef COR_RSM_H
#define COR_RSM_H

#include "invoke.h"
#include "object_int.h"
#include "transport.h"

typedef struct cor_rsm cor_rsm_t;

/* When o's server chain (dm_chain) has ConsensusRSM, makes its replica
 * (o->rsm), opening the store under the runtime's data directory: a new
 * replica's afresh (what an older one left there is wiped), with the file
 * that lets a restart make the object again (class, chain, the
 * constructor arguments in `in`, its member incarnation); a restored one's
 * (in->rsm_restore) as it is. 0 and nothing done for other objects;
 * ESTATE when the runtime has no data directory; an error from the store
 * (a corrupt one is refused). Before o is reachable. */
int cor_rsm_attach(cor_runtime_t *rt, cor_obj_t *o, const char *dm_chain,
                   const cor_obj_init_t *in, cor_error_t *err);

/* o stops being served here (deleted, runtime closing): its waiting calls
 * fail and the Raft thread forgets it. Safe to call twice. */
void cor_rsm_detach(cor_runtime_t *rt, cor_obj_t *o);

/* o is being deleted (Kernel.DeleteReplica): when its replica is freed,
 * its store's files go too. Nothing for other objects. */
void cor_rsm_erase(cor_obj_t *o);

/* Frees a replica (from the object's free, after detach). */
void cor_rsm_free(cor_rsm_t *s);

/* The OMS sent the replica set (in o's turn; copied). A founding set (the
 * one sent right after the create) bootstraps a replica with an empty
 * store; a later one makes an empty replica wait to be added by the
 * leader. On the leader, a set that differs from the Raft configuration
 * starts the membership changes that make them agree. */
void cor_rsm_members(cor_obj_t *o, const cor_dm_replica_t *m, int n, int founding);

/* This thread is applying o's log: calls into o run directly. */
int cor_rsm_applying(const cor_obj_t *o);

/* Runs inv through the log (mutating methods) or a ReadIndex read
 * (read_only ones) on the leader; elsewhere fails it with ENOTLEADER,
 * naming the leader when known. Same contract as cor_obj_invoke. */
int cor_rsm_invoke(cor_runtime_t *rt, cor_obj_t *o, cor_invoke_t *inv);

/* Where o's replica stands, for a Kernel.GetState probe: *out in arena,
 * NULL for an object that is not replicated. ENOMEM. Any thread. */
int cor_rsm_status(cor_obj_t *o, cor_arena_t *arena, Cor__RaftStatus **out);

/* Registers Kernel.RaftMessage on s. */
int cor_rsm_serve(cor_runtime_t *rt, cor_server_t *s, cor_error_t *err);

/* From the kernel server's tick: a replica that has waited a few seconds
 * for its replica set without one (the OMS died before sending it) asks
 * the OMS for its object's replicas itself. Calls the OMS; no lock held. */
void cor_rsm_tick(cor_runtime_t *rt);

/* Stops the Raft thread (runtime shutdown, before objects are freed). */
void cor_rsm_stop(cor_runtime_t *rt);

#endif
