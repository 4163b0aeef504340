/*
 * dir_group_act.c — what a DM group part may do to its object's replicas
 * (cor/dm.h, "The group part"): the implementation behind cor_dm_group_t
 * (runtime/group.h) that dir_group.c hands every hook.
 *
 * Each action takes the directory's write lock for its bookkeeping and
 * drops it to call a kernel server. Adding a replica plans under the lock
 * (the node, reserved by counting it placed; the written-off slot it
 * takes, marked pending), makes it without the lock, and records it only
 * if the object and the node's process are still there — else a replica
 * made is deleted again. During a create the object is not in the maps
 * yet: the actions work on it directly and do not store it.
 *
 * Failure modes, each with the message create has always given: no kernel
 * server hosts the class (ENOTFOUND), none matches the placement
 * (ENOTFOUND), all are dead (EUNAVAIL), all are full or already hold a
 * replica (EUNAVAIL); no checkpoint to restore from (ESTATE); the object
 * is being moved (EABORTED); the kernel server's own error.
 */
#include "dir_int.h"

#include <cor/log.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cor/kernel.pb-c.h"
#include "group.h"
#include "rpc.h"

#define GROUP_STATE_MAX (64u * 1024)

static oms_obj_t *ctx_obj(const oms_gctx_t *x)
{
    return x->creating != NULL ? x->creating : cor_idmap_get(&x->d->objects, x->id);
}

/* Writes o through to the store unless it is not in the maps yet. */
static void ctx_persist(const oms_gctx_t *x, oms_obj_t *o)
{
    cor_error_t err;
    if (x->creating == NULL && oms_obj_persist(x->d, o, &err) != 0)
        cor_log_error("object %s: recording its replicas: %s", x->idstr, err.msg);
}

oms_replica_t *oms_replica_on(oms_obj_t *o, const char *node, int state)
{
    for (int i = 0; o != NULL && i < o->n_replicas; i++)
        if (strcmp(o->replicas[i].node->info->name, node) == 0 &&
            (state < 0 || o->replicas[i].state == state))
            return &o->replicas[i];
    return NULL;
}

/* ---------------- actions: reading ---------------- */

static int act_replicas(void *arg, cor_dm_replica_t *out, int max, int *n)
{
    oms_gctx_t *x = arg;
    *n = 0;
    pthread_rwlock_rdlock(&x->d->lock);
    oms_obj_t *o = ctx_obj(x);
    for (int i = 0; o != NULL && i < o->n_replicas && *n < max; i++) {
        const oms_replica_t *r = &o->replicas[i];
        const Cor__NodeInfo *info = r->node->info;
        cor_dm_replica_t *y = &out[(*n)++];
        memset(y, 0, sizeof(*y));
        snprintf(y->node, sizeof(y->node), "%s", info->name);
        snprintf(y->tcp_address, sizeof(y->tcp_address), "%s", info->tcp_address);
        snprintf(y->unix_path, sizeof(y->unix_path), "%s", info->unix_path);
        snprintf(y->host_id, sizeof(y->host_id), "%s", info->host_id);
        y->epoch = r->epoch;
        y->lost = r->state == COR__REPLICA_STATE__REPLICA_LOST;
        y->dead = info->state == COR__NODE_STATE__NODE_DEAD;
        y->alive = r->state == COR__REPLICA_STATE__REPLICA_ACTIVE &&
                   info->state == COR__NODE_STATE__NODE_ALIVE && r->incarnation == info->incarnation;
    }
    pthread_rwlock_unlock(&x->d->lock);
    return o != NULL ? 0 : COR_ENOTFOUND;
}

static int64_t act_checkpoint_ms(void *arg)
{
    oms_gctx_t *x = arg;
    pthread_rwlock_rdlock(&x->d->lock);
    oms_obj_t *o = ctx_obj(x);
    int64_t ms = o != NULL ? o->checkpoint_ms : 0;
    pthread_rwlock_unlock(&x->d->lock);
    return ms;
}

/* ---------------- actions: a new replica ---------------- */

/* A new replica, planned under the lock and made without it. */
typedef struct add_plan {
    enum cor_dm_source from;
    int slot;           /* the written-off slot it takes, or -1: a new one */
    oms_node_t *node;
    uint64_t incarnation;
    uint64_t epoch;
    char target[160];
    char cls[CLASS_NAME_MAX + 1];
    char chain[DM_CHAIN_MAX + 1];
    uint8_t *args;
    size_t args_len;
    char dead[NODE_NAME_MAX + 1]; /* the slot's node, for the log */
    int64_t last_heard_ms, checkpoint_ms;
} add_plan_t;

/* Why no kernel server can take a replica (what create has always said). */
static int no_room(const oms_obj_t *o, const oms_pick_t *pc, cor_error_t *err)
{
    const char *cls = o->class_name, *sel = o->selector ? o->selector : "";
    if (pc->hosting == 0 && pc->n_avoid > 0)
        return cor_error_set(err, COR_EUNAVAIL,
                             "every kernel server that can host %s already holds one of its "
                             "%d replicas", cls, pc->n_avoid);
    if (pc->hosting == 0)
        return cor_error_set(err, COR_ENOTFOUND, "no kernel server hosts class %s", cls);
    if (pc->matching == 0)
        return cor_error_set(err, COR_ENOTFOUND,
                             "%d kernel server(s) host %s but none matches selector '%s'",
                             pc->hosting, cls, sel);
    if (pc->alive == 0)
        return cor_error_set(err, COR_EUNAVAIL,
                             "every kernel server that hosts %s%s%s is dead or unknown", cls,
                             sel[0] ? " and matches " : "", sel);
    return cor_error_set(err, COR_EUNAVAIL, "every kernel server that can host %s is full", cls);
}

/* Chooses the node and the slot (write lock). */
static int add_plan(oms_gctx_t *x, enum cor_dm_source from, const char *only, add_plan_t *p,
                    cor_error_t *err)
{
    oms_obj_t *o = ctx_obj(x);
    if (o == NULL)
        return cor_error_set(err, COR_ENOTFOUND, "object %s was deleted", x->idstr);
    if (o->migrating)
        return cor_error_set(err, COR_EABORTED, "object %s is being moved", x->idstr);
    if (from == COR_DM_FROM_CHECKPOINT && o->checkpoint_ms == 0)
        return cor_error_set(err, COR_ESTATE, "object %s has no checkpoint to restore from",
                             x->idstr);
    /* New replicas go to nodes holding none of this object's live ones. */
    oms_node_t *avoid[OMS_MAX_REPLICAS];
    int n_avoid = 0;
    p->slot = -1;
    for (int i = 0; i < o->n_replicas; i++) {
        const oms_replica_t *r = &o->replicas[i];
        if ((r->state == COR__REPLICA_STATE__REPLICA_ACTIVE || r->pending) &&
            n_avoid < OMS_MAX_REPLICAS)
            avoid[n_avoid++] = r->node;
        else if (p->slot < 0 && r->state == COR__REPLICA_STATE__REPLICA_LOST)
            p->slot = i;
    }
    if (p->slot < 0 && o->n_replicas >= OMS_MAX_REPLICAS)
        return cor_error_set(err, COR_EINVAL, "object %s has %d replicas, the most the OMS keeps",
                             x->idstr, OMS_MAX_REPLICAS);
    if (only != NULL) {
        oms_node_t *n = cor_strmap_get(&x->d->nodes, only);
        if (n == NULL)
            return cor_error_set(err, COR_ENOTFOUND, "no kernel server named '%.63s'", only);
        for (int i = 0; i < n_avoid; i++)
            if (avoid[i] == n)
                return cor_error_set(err, COR_EINVAL, "kernel server %.63s already holds a "
                                     "replica of object %s", only, x->idstr);
    }
    cor_selector_t sel;
    if (cor_selector_parse(o->selector, &sel, NULL) != 0)
        sel.n = 0;
    oms_pick_t pc = {.cls = o->class_name, .sel = &sel, .only = only, .avoid = avoid,
                     .n_avoid = n_avoid};
    if (oms_pick(x->d, &pc) == NULL)
        return no_room(o, &pc, err);
    p->from = from;
    p->node = pc.best;
    p->incarnation = pc.best->info->incarnation;
    p->epoch = from == COR_DM_FROM_CHECKPOINT ? o->epoch + 1 : 1;
    p->checkpoint_ms = o->checkpoint_ms;
    snprintf(p->target, sizeof(p->target), "%s", pc.best->info->tcp_address);
    snprintf(p->cls, sizeof(p->cls), "%s", o->class_name);
    snprintf(p->chain, sizeof(p->chain), "%s", o->dm_chain ? o->dm_chain : "");
    if (from == COR_DM_FROM_ARGS && o->args_len > 0) {
        if ((p->args = malloc(o->args_len)) == NULL)
            return cor_error_set(err, COR_ENOMEM, "out of memory");
        memcpy(p->args, o->args, o->args_len);
        p->args_len = o->args_len;
    }
    if (p->slot >= 0) {
        oms_replica_t *r = &o->replicas[p->slot];
        r->pending = 1;
        snprintf(p->dead, sizeof(p->dead), "%s", r->node->info->name);
        p->last_heard_ms = r->node->info->last_heartbeat_ms;
    }
    pc.best->placed++;
    return 0;
}

/* Makes the replica at the chosen kernel server (no lock). A node cut off
 * while the object's replica there was replaced may still hold that old
 * replica, drifted from the object's life since: it is made anew. */
static int add_make(oms_gctx_t *x, const add_plan_t *p, cor_error_t *err)
{
    oms_dir_t *d = x->d;
    int rc;
    if (p->from == COR_DM_FROM_CHECKPOINT) {
        Cor__CheckpointRequest *ck;
        if ((rc = oms_checkpoint_get(d, x->id, &ck, err)) != 0)
            return rc;
        Cor__InstallStateRequest is = COR__INSTALL_STATE_REQUEST__INIT;
        is.object_id.data = (uint8_t *)x->id->b;
        is.object_id.len = 16;
        is.class_name = (char *)p->cls;
        is.state = ck->state;
        is.epoch = p->epoch;
        is.dm_chain = (char *)p->chain;
        rc = d->env.kernel_call(d->env.arg, p->target, COR_M_INSTALL_STATE, &is.base, NULL, err);
        cor__checkpoint_request__free_unpacked(ck, NULL);
        return rc;
    }
    rc = oms_kernel_create(d, p->target, x->id, p->cls, p->args, p->args_len, p->chain, err);
    if (rc == COR_EEXIST) {
        cor_log_warn("object %s: %s still held a replica the OMS had replaced; replacing it",
                     x->idstr, p->node->info->name);
        oms_kernel_delete(d, p->target, x->id);
        rc = oms_kernel_create(d, p->target, x->id, p->cls, p->args, p->args_len, p->chain, err);
    }
    if (rc != 0)
        cor_error_prefix(err, "kernel server %s", p->node->info->name);
    return rc;
}

/* Records the made replica (write lock). Returns rc, or the reason it
 * cannot be recorded; *stray when the kernel made one nobody will count. */
static int add_record(oms_gctx_t *x, add_plan_t *p, int rc, int *stray, cor_error_t *err)
{
    oms_obj_t *o = ctx_obj(x);
    if (o != NULL && p->slot >= 0 && p->slot < o->n_replicas)
        o->replicas[p->slot].pending = 0;
    if (rc == 0 && o == NULL)
        rc = cor_error_set(err, COR_ENOTFOUND, "object %s was deleted meanwhile", x->idstr);
    else if (rc == 0 && p->node->info->incarnation != p->incarnation)
        rc = cor_error_set(err, COR_EUNAVAIL, "kernel server %s restarted meanwhile",
                           p->node->info->name);
    if (rc == 0 && p->slot < 0) {
        oms_replica_t *r = o->n_replicas < OMS_MAX_REPLICAS
                               ? realloc(o->replicas, sizeof(*r) * (size_t)(o->n_replicas + 1))
                               : NULL;
        if (r == NULL)
            rc = cor_error_set(err, COR_ENOMEM, "out of memory");
        else
            o->replicas = r;
    }
    if (rc != 0) {
        p->node->placed--;
        *stray = rc != COR_EUNAVAIL || p->node->info->incarnation == p->incarnation;
        return rc;
    }
    int slot = p->slot >= 0 ? p->slot : o->n_replicas++;
    o->replicas[slot] = (oms_replica_t){.node = p->node, .incarnation = p->incarnation,
                                        .epoch = p->epoch,
                                        .state = COR__REPLICA_STATE__REPLICA_ACTIVE};
    if (p->from == COR_DM_FROM_CHECKPOINT)
        o->epoch = p->epoch;
    ctx_persist(x, o);
    x->changed = 1;
    if (p->from == COR_DM_FROM_CHECKPOINT)
        cor_log_warn("object %s restored on %s from its checkpoint of %lld ms before %s was last "
                     "heard from: changes in that window are lost",
                     x->idstr, p->node->info->name, (long long)(p->last_heard_ms - p->checkpoint_ms),
                     p->dead[0] ? p->dead : "its kernel server");
    else if (x->creating == NULL)
        cor_log_info("object %s: replica %s on %s", x->idstr, p->slot >= 0 ? "re-created" : "added",
                     p->node->info->name);
    return 0;
}

int oms_group_add_replica(void *arg, enum cor_dm_source from, const char *only, char *node,
                          size_t len, cor_error_t *err)
{
    oms_gctx_t *x = arg;
    oms_dir_t *d = x->d;
    add_plan_t p = {.from = from};
    pthread_rwlock_wrlock(&d->lock);
    int rc = add_plan(x, from, only, &p, err);
    pthread_rwlock_unlock(&d->lock);
    if (rc != 0)
        return rc;
    rc = add_make(x, &p, err);
    int stray = 0;
    pthread_rwlock_wrlock(&d->lock);
    rc = add_record(x, &p, rc, &stray, err);
    if (rc == 0 && node != NULL)
        snprintf(node, len, "%s", p.node->info->name);
    pthread_rwlock_unlock(&d->lock);
    if (rc == 0 && x->eager) {
        oms_kernel_set_members(d, x->id);
        x->changed = 0;
    }
    if (rc != 0 && stray)
        oms_kernel_delete(d, p.target, x->id); /* made, but counted nowhere */
    free(p.args);
    return rc;
}

/* ---------------- actions: the replicas there are ---------------- */

static int act_lose_replica(void *arg, const char *node, cor_error_t *err)
{
    oms_gctx_t *x = arg;
    pthread_rwlock_wrlock(&x->d->lock);
    oms_obj_t *o = ctx_obj(x);
    oms_replica_t *r = oms_replica_on(o, node, COR__REPLICA_STATE__REPLICA_ACTIVE);
    int rc = 0;
    if (r == NULL) {
        rc = cor_error_set(err, COR_ENOTFOUND, "object %s has no live replica on %.63s", x->idstr,
                           node);
    } else {
        r->state = COR__REPLICA_STATE__REPLICA_LOST;
        r->node->placed--;
        ctx_persist(x, o);
        x->changed = 1;
        cor_log_warn("object %s: replica on %s written off (%s)", x->idstr, node,
                     r->node->info->state == COR__NODE_STATE__NODE_DEAD ? "its node is dead"
                                                                        : "by its group part");
    }
    pthread_rwlock_unlock(&x->d->lock);
    return rc;
}

static int act_revive_replica(void *arg, const char *node, cor_error_t *err)
{
    oms_gctx_t *x = arg;
    pthread_rwlock_wrlock(&x->d->lock);
    oms_obj_t *o = ctx_obj(x);
    oms_replica_t *r = oms_replica_on(o, node, COR__REPLICA_STATE__REPLICA_LOST);
    int rc = 0;
    if (r == NULL || r->pending)
        rc = cor_error_set(err, COR_ENOTFOUND, "object %s has no written-off replica on %.63s",
                           x->idstr, node);
    else if (r->node->info->state != COR__NODE_STATE__NODE_ALIVE ||
             r->incarnation != r->node->info->incarnation)
        rc = cor_error_set(err, COR_ESTATE, "kernel server %.63s is not the live process that "
                           "held the replica", node);
    if (rc == 0) {
        r->state = COR__REPLICA_STATE__REPLICA_ACTIVE;
        r->node->placed++;
        ctx_persist(x, o);
        x->changed = 1;
    }
    pthread_rwlock_unlock(&x->d->lock);
    return rc;
}

static int act_drop_replica(void *arg, const char *node, cor_error_t *err)
{
    oms_gctx_t *x = arg;
    char target[160] = "";
    pthread_rwlock_wrlock(&x->d->lock);
    oms_obj_t *o = ctx_obj(x);
    oms_replica_t *r = oms_replica_on(o, node, -1);
    int rc = 0;
    if (r == NULL) {
        rc = cor_error_set(err, COR_ENOTFOUND, "object %s has no replica on %.63s", x->idstr,
                           node);
    } else {
        /* Deleted at the process that holds it: an active one's, or a
         * written-off one's whose server came back as the same process. */
        int held = r->state == COR__REPLICA_STATE__REPLICA_ACTIVE ||
                   r->incarnation == r->node->info->incarnation;
        if (r->state == COR__REPLICA_STATE__REPLICA_ACTIVE)
            r->node->placed--;
        if (held && r->node->info->state != COR__NODE_STATE__NODE_DEAD)
            snprintf(target, sizeof(target), "%s", r->node->info->tcp_address);
        size_t i = (size_t)(r - o->replicas);
        memmove(r, r + 1, sizeof(*r) * ((size_t)o->n_replicas - i - 1));
        o->n_replicas--;
        ctx_persist(x, o);
        x->changed = 1;
    }
    pthread_rwlock_unlock(&x->d->lock);
    if (target[0] != '\0')
        oms_kernel_delete(x->d, target, x->id);
    if (rc == 0 && x->eager) {
        oms_kernel_set_members(x->d, x->id);
        x->changed = 0;
    }
    return rc;
}

static int act_replica_role(void *arg, const char *node, char *role, size_t len,
                            cor_error_t *err)
{
    oms_gctx_t *x = arg;
    char target[160] = "";
    pthread_rwlock_rdlock(&x->d->lock);
    oms_replica_t *r = oms_replica_on(ctx_obj(x), node, COR__REPLICA_STATE__REPLICA_ACTIVE);
    if (r != NULL)
        snprintf(target, sizeof(target), "%s", r->node->info->tcp_address);
    pthread_rwlock_unlock(&x->d->lock);
    if (r == NULL)
        return cor_error_set(err, COR_ENOTFOUND, "object %s has no live replica on %.63s",
                             x->idstr, node);
    Cor__GetStateRequest q = COR__GET_STATE_REQUEST__INIT;
    q.object_id.data = (uint8_t *)x->id->b;
    q.object_id.len = 16;
    q.probe = 1;
    ProtobufCMessage *out = NULL;
    int rc = x->d->env.kernel_call(x->d->env.arg, target, COR_M_GET_STATE, &q.base, &out, err);
    const Cor__GetStateReply *g = (const Cor__GetStateReply *)out;
    if (rc == 0)
        snprintf(role, len, "%s", g != NULL && g->raft != NULL ? g->raft->role : "");
    if (out != NULL)
        protobuf_c_message_free_unpacked(out, NULL);
    return rc;
}

static int act_move(void *arg, const char *to_node, cor_error_t *err)
{
    oms_gctx_t *x = arg;
    if (x->creating != NULL)
        return cor_error_set(err, COR_ESTATE, "object %s is being created", x->idstr);
    Cor__MigrateRequest rq = COR__MIGRATE_REQUEST__INIT;
    rq.id.data = (uint8_t *)x->id->b;
    rq.id.len = 16;
    rq.to_node = (char *)to_node;
    Cor__MigrateReply rp = COR__MIGRATE_REPLY__INIT;
    cor_arena_t a;
    cor_arena_init(&a, 0);
    int rc = oms_dir_migrate(x->d, &rq, &a, &rp, err);
    cor_arena_close(&a);
    return rc;
}

/* ---------------- actions: the part's own state ---------------- */

/* Writes every part's saved state as the object's "grp/<id>" record (or
 * deletes it when none has any). The group's lock is held. */
int oms_group_store(oms_dir_t *d, oms_group_t *g, cor_error_t *err)
{
    Cor__GroupPartState ps[COR_DM_MAX_CHAIN], *pp[COR_DM_MAX_CHAIN];
    Cor__GroupState gs = COR__GROUP_STATE__INIT;
    for (int i = 0; i < g->n; i++) {
        if (g->parts[i].saved == NULL)
            continue;
        cor__group_part_state__init(&ps[gs.n_parts]);
        ps[gs.n_parts].dm = (char *)g->parts[i].ops->name;
        ps[gs.n_parts].state.data = g->parts[i].saved;
        ps[gs.n_parts].state.len = g->parts[i].saved_len;
        pp[gs.n_parts] = &ps[gs.n_parts];
        gs.n_parts++;
    }
    gs.parts = pp;
    char key[64];
    oms_group_key(&g->id, key);
    size_t len = cor__group_state__get_packed_size(&gs);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    cor__group_state__pack(&gs, buf);
    cor_store_op_t op = {gs.n_parts ? COR_STORE_PUT : COR_STORE_DEL, key, buf, len};
    int rc = d->store.ops->apply(d->store.impl, &op, 1, err);
    free(buf);
    return rc;
}

static int act_save(void *arg, const unsigned char *state, size_t len, cor_error_t *err)
{
    oms_gctx_t *x = arg;
    if (x->g == NULL)
        return cor_error_set(err, COR_ESTATE, "no group part runs here");
    if (len > GROUP_STATE_MAX)
        return cor_error_set(err, COR_ETOOBIG, "%s: %zu bytes of group state, at most %u",
                             x->g->parts[x->part].ops->name, len, GROUP_STATE_MAX);
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    if (len > 0)
        memcpy(copy, state, len);
    uint8_t *old = x->g->parts[x->part].saved;
    size_t old_len = x->g->parts[x->part].saved_len;
    x->g->parts[x->part].saved = copy;
    x->g->parts[x->part].saved_len = len;
    int rc = x->creating != NULL ? 0 : oms_group_store(x->d, x->g, err);
    if (rc != 0) { /* nothing changed */
        x->g->parts[x->part].saved = old;
        x->g->parts[x->part].saved_len = old_len;
        free(copy);
        return rc;
    }
    free(old);
    return 0;
}

/* ---------------- actions: keeping N live ---------------- */

/* What keep sees in one look (read lock). */
typedef struct keep_look {
    int live;
    char dead[OMS_MAX_REPLICAS][NODE_NAME_MAX + 1]; /* live on a dead node */
    int n_dead;
    char back[OMS_MAX_REPLICAS][NODE_NAME_MAX + 1]; /* written off, its process back */
    int n_back;
    int64_t checkpoint_ms;
    int found;
} keep_look_t;

static void keep_look(oms_gctx_t *x, keep_look_t *k)
{
    memset(k, 0, sizeof(*k));
    pthread_rwlock_rdlock(&x->d->lock);
    oms_obj_t *o = ctx_obj(x);
    for (int i = 0; o != NULL && i < o->n_replicas; i++) {
        const oms_replica_t *r = &o->replicas[i];
        const Cor__NodeInfo *info = r->node->info;
        if (r->state == COR__REPLICA_STATE__REPLICA_ACTIVE &&
            info->state == COR__NODE_STATE__NODE_DEAD)
            snprintf(k->dead[k->n_dead++], NODE_NAME_MAX + 1, "%s", info->name);
        else if (r->state == COR__REPLICA_STATE__REPLICA_ACTIVE)
            k->live++;
        else if (r->state == COR__REPLICA_STATE__REPLICA_LOST && !r->pending &&
                 info->state == COR__NODE_STATE__NODE_ALIVE && r->incarnation == info->incarnation)
            snprintf(k->back[k->n_back++], NODE_NAME_MAX + 1, "%s", info->name);
    }
    k->found = o != NULL;
    k->checkpoint_ms = o != NULL ? o->checkpoint_ms : 0;
    pthread_rwlock_unlock(&x->d->lock);
}

static int act_keep(void *arg, int want, enum cor_dm_source from)
{
    oms_gctx_t *x = arg;
    keep_look_t k;
    keep_look(x, &k);
    if (!k.found || (from == COR_DM_FROM_CHECKPOINT && k.checkpoint_ms == 0))
        return k.live; /* nothing to restore from yet: leave things as they are */
    cor_error_t err;
    /* Replicas on dead nodes are lost (the node may come back, but the
     * object moves on). */
    for (int i = 0; i < k.n_dead; i++)
        act_lose_replica(x, k.dead[i], &err);
    /* A lost replica whose node is back as the same process (a healed
     * partition) never went away: take it back rather than make another,
     * which that node would refuse as already hosted. */
    for (int i = 0; i < k.n_back && k.live < want; i++)
        if (act_revive_replica(x, k.back[i], &err) == 0)
            k.live++;
    while (k.live < want && oms_group_add_replica(x, from, NULL, NULL, 0, &err) == 0)
        k.live++;
    return k.live;
}

const cor_dm_group_impl_t oms_group_impl = {
    .replicas = act_replicas,
    .checkpoint_ms = act_checkpoint_ms,
    .add_replica = oms_group_add_replica,
    .replica_role = act_replica_role,
    .lose_replica = act_lose_replica,
    .revive_replica = act_revive_replica,
    .drop_replica = act_drop_replica,
    .move = act_move,
    .save = act_save,
    .keep = act_keep,
};
