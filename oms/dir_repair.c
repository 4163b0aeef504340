/*
 * dir_repair.c — replicas lost with their node, made again elsewhere
 * (DESIGN.md "OMS", recovery).
 *
 * Design: the object's DM chain decides what a lost replica becomes:
 * re-created fresh (independent replicas, e.g. LoadBalancedFrontend),
 * restored from the object's last checkpoint under a new epoch
 * (PeriodicCheckpoint), or left lost (its state died with its node). A
 * pass plans under the write lock — marking replicas on dead nodes LOST,
 * taking back ones whose node returned under the same incarnation (a
 * healed partition), and reserving a node for each replica still missing
 * — then makes each repair without the lock and records it in the lost
 * replica's slot if nothing changed meanwhile. The rest of the directory
 * talks to repair only through the three oms_repair_* calls in dir_int.h,
 * so this file can be replaced by another recovery scheme as a whole.
 *
 * Happy path: a node is marked dead, oms_dir_check_liveness calls
 * oms_repair_run, a replacement is created or restored on another live
 * node, recorded, and the replicas told their peers. Failure modes: no
 * node can take it — the plan waits (repair_waiting) until a node
 * registers, comes back or frees room; the kernel call fails, or the node
 * restarts meanwhile — the slot is released and the next tick tries again
 * (repair_pending); the object was deleted meanwhile — the new replica is
 * deleted again. A restore loses what changed after the checkpoint, and
 * says so in the log.
 */
#include "dir_int.h"

#include <cor/dm.h>
#include <cor/log.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cor/kernel.pb-c.h"
#include "rpc.h"

void oms_repair_lost(oms_dir_t *d)
{
    d->repair_pending = 1;
}

void oms_repair_room_changed(oms_dir_t *d)
{
    if (d->repair_waiting) {
        d->repair_waiting = 0;
        d->repair_pending = 1;
    }
}

/* One replica to re-create: where, and what it is. */
typedef struct repair {
    cor_object_id_t id;
    int slot;
    int restore;            /* from the checkpoint (else a fresh replica) */
    uint64_t epoch;         /* the restored replica's */
    int64_t checkpoint_ms;  /* when the checkpoint was taken */
    int64_t last_heard_ms;  /* the dead node's last heartbeat */
    char dead[NODE_NAME_MAX + 1];
    oms_node_t *node;
    uint64_t incarnation;
    char target[160];
    char cls[CLASS_NAME_MAX + 1];
    char chain[DM_CHAIN_MAX + 1];
    uint8_t *args;
    size_t args_len;
    struct repair *next;
} repair_t;

typedef struct repair_ctx {
    oms_dir_t *d;
    repair_t *todo;
} repair_ctx_t;

static void plan_repair(void *arg, const cor_object_id_t *key, void *value)
{
    repair_ctx_t *rc = arg;
    oms_obj_t *o = value;
    if (o->dm_chain == NULL)
        return;
    cor_dm_chain_t chain;
    if (cor_dm_chain_parse(o->dm_chain, &chain, NULL) != 0)
        return;
    /* The chain's group parts decide: re-create fresh (independent
     * replicas), restore from the last checkpoint, or leave it lost (its
     * state died with its node). */
    int want = cor_dm_chain_replicas(&chain);
    enum cor_dm_recovery how = cor_dm_chain_recovery(&chain);
    if (how == COR_DM_RECOVER_NONE || (how == COR_DM_RECOVER_RESTORE && o->checkpoint_ms == 0))
        return;
    int restore = how == COR_DM_RECOVER_RESTORE;
    /* Replicas on dead nodes are lost (their node may come back, but the
     * object has moved on). */
    int live = 0;
    for (int i = 0; i < o->n_replicas; i++) {
        oms_replica_t *r = &o->replicas[i];
        if (r->state != COR__REPLICA_STATE__REPLICA_ACTIVE)
            continue;
        if (r->node->info->state == COR__NODE_STATE__NODE_DEAD) {
            r->state = COR__REPLICA_STATE__REPLICA_LOST;
            r->node->placed--;
            cor_error_t perr;
            oms_obj_persist(rc->d, o, &perr);
        } else {
            live++;
        }
    }
    /* A lost replica whose node is back under the same incarnation (a
     * healed partition) never went away: take it back rather than make
     * another, which that node would refuse as already hosted. */
    for (int i = 0; i < o->n_replicas && live < want; i++) {
        oms_replica_t *r = &o->replicas[i];
        if (r->state == COR__REPLICA_STATE__REPLICA_LOST && !r->pending &&
            r->node->info->state == COR__NODE_STATE__NODE_ALIVE &&
            r->incarnation == r->node->info->incarnation) {
            r->state = COR__REPLICA_STATE__REPLICA_ACTIVE;
            r->node->placed++;
            cor_error_t perr;
            oms_obj_persist(rc->d, o, &perr);
            live++;
        }
    }
    if (live >= want)
        return;
    /* New replicas go to nodes holding none of this object's, counting
     * the ones chosen in this pass. */
    oms_node_t *avoid[2 * OMS_MAX_REPLICAS];
    int n_avoid = 0;
    for (int j = 0; j < o->n_replicas && n_avoid < OMS_MAX_REPLICAS; j++)
        if (o->replicas[j].state == COR__REPLICA_STATE__REPLICA_ACTIVE || o->replicas[j].pending)
            avoid[n_avoid++] = o->replicas[j].node;
    cor_selector_t sel;
    if (cor_selector_parse(o->selector, &sel, NULL) != 0)
        sel.n = 0;
    for (int i = 0; i < o->n_replicas && live < want; i++) {
        oms_replica_t *r = &o->replicas[i];
        if (r->state == COR__REPLICA_STATE__REPLICA_ACTIVE || r->pending)
            continue;
        oms_pick_t pc = {.cls = o->class_name, .sel = &sel, .avoid = avoid, .n_avoid = n_avoid};
        oms_pick(rc->d, &pc);
        repair_t *w = pc.best ? calloc(1, sizeof(*w)) : NULL;
        if (w == NULL) {
            rc->d->repair_waiting = 1; /* no node can take it: wait for one */
            return;
        }
        w->id = o->id;
        w->slot = i;
        w->restore = restore;
        w->epoch = o->epoch + 1;
        w->checkpoint_ms = o->checkpoint_ms;
        w->last_heard_ms = r->node->info->last_heartbeat_ms;
        snprintf(w->dead, sizeof(w->dead), "%s", r->node->info->name);
        w->node = pc.best;
        if (n_avoid < 2 * OMS_MAX_REPLICAS)
            avoid[n_avoid++] = pc.best;
        w->incarnation = pc.best->info->incarnation;
        pc.best->placed++;
        r->pending = 1;
        snprintf(w->target, sizeof(w->target), "%s", pc.best->info->tcp_address);
        snprintf(w->cls, sizeof(w->cls), "%s", o->class_name);
        snprintf(w->chain, sizeof(w->chain), "%s", o->dm_chain);
        if (o->args_len > 0 && (w->args = malloc(o->args_len)) != NULL) {
            memcpy(w->args, o->args, o->args_len);
            w->args_len = o->args_len;
        }
        w->next = rc->todo;
        rc->todo = w;
        live++;
    }
}

/* Installs a replica from the object's stored checkpoint (no lock held). */
static int kernel_restore(oms_dir_t *d, const repair_t *w, cor_error_t *err)
{
    Cor__CheckpointRequest *ck;
    int rc = oms_checkpoint_get(d, &w->id, &ck, err);
    if (rc != 0)
        return rc;
    Cor__InstallStateRequest is = COR__INSTALL_STATE_REQUEST__INIT;
    is.object_id.data = (uint8_t *)w->id.b;
    is.object_id.len = 16;
    is.class_name = (char *)w->cls;
    is.state = ck->state;
    is.epoch = w->epoch;
    is.dm_chain = (char *)w->chain;
    rc = d->env.kernel_call(d->env.arg, w->target, COR_M_INSTALL_STATE, &is.base, NULL, err);
    cor__checkpoint_request__free_unpacked(ck, NULL);
    return rc;
}

/* Creates a fresh replica for a repair. A node cut off while the object's
 * replica there was replaced may still hold that old replica, which has
 * drifted from the object's life since; it is dropped and made anew. */
static int repair_create(oms_dir_t *d, const repair_t *w, cor_error_t *err)
{
    int rc = oms_kernel_create(d, w->target, &w->id, w->cls, w->args, w->args_len, w->chain, err);
    if (rc != COR_EEXIST)
        return rc;
    char s[COR_OBJECT_ID_STRLEN + 1];
    cor_object_id_format(&w->id, s);
    cor_log_warn("object %s: %s still held a replica the OMS had replaced; replacing it", s,
                 w->node->info->name);
    oms_kernel_delete(d, w->target, &w->id);
    return oms_kernel_create(d, w->target, &w->id, w->cls, w->args, w->args_len, w->chain, err);
}

/* For each object whose chain keeps several replicas and that had one on
 * a node just marked dead: create a replacement on another live node
 * (without the lock), then record it in the dead replica's slot. */
void oms_repair_run(oms_dir_t *d)
{
    repair_ctx_t rc = {.d = d};
    pthread_rwlock_wrlock(&d->lock);
    d->repair_pending = 0; /* set again by any repair that fails, */
    d->repair_waiting = 0; /* and this by any plan with no node to take it */
    cor_idmap_each(&d->objects, plan_repair, &rc);
    pthread_rwlock_unlock(&d->lock);
    while (rc.todo != NULL) {
        repair_t *w = rc.todo;
        rc.todo = w->next;
        char s[COR_OBJECT_ID_STRLEN + 1];
        cor_object_id_format(&w->id, s);
        cor_error_t err;
        int ok = (w->restore ? kernel_restore(d, w, &err) : repair_create(d, w, &err)) == 0;
        pthread_rwlock_wrlock(&d->lock);
        oms_obj_t *o = cor_idmap_get(&d->objects, &w->id);
        if (o != NULL && w->slot < o->n_replicas)
            o->replicas[w->slot].pending = 0;
        if (ok && o != NULL && w->slot < o->n_replicas && w->node->info->incarnation == w->incarnation) {
            o->replicas[w->slot] = (oms_replica_t){.node = w->node, .incarnation = w->incarnation,
                                                   .epoch = w->restore ? w->epoch : 1,
                                                   .state = COR__REPLICA_STATE__REPLICA_ACTIVE};
            if (w->restore)
                o->epoch = w->epoch;
            if (oms_obj_persist(d, o, &err) != 0)
                cor_log_error("object %s: recording the new replica: %s", s, err.msg);
            if (w->restore)
                cor_log_warn("object %s restored on %s from its checkpoint of %lld ms before %s "
                             "was last heard from: changes in that window are lost",
                             s, w->node->info->name,
                             (long long)(w->last_heard_ms - w->checkpoint_ms), w->dead);
            else
                cor_log_info("object %s: replica re-created on %s", s, w->node->info->name);
            ok = 2;
        }
        if (ok != 2) {
            w->node->placed--;
            d->repair_pending = 1;
        }
        pthread_rwlock_unlock(&d->lock);
        if (ok == 2)
            oms_kernel_set_members(d, &w->id);
        if (ok == 0)
            cor_log_warn("object %s: re-creating a replica on %s failed: %s", s, w->target, err.msg);
        else if (ok == 1)
            oms_kernel_delete(d, w->target, &w->id); /* deleted meanwhile */
        free(w->args);
        free(w);
    }
}

