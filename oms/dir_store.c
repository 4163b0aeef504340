/*
 * dir_store.c — what the directory writes to its store, and reading it
 * back at open (DESIGN.md "OMS": the directory survives kill -9).
 *
 * Design: two kinds of record, "node/<name>" (the NodeInfo as registered,
 * with the incarnation the OMS gave it) and "obj/<hex id>" (an ObjectInfo:
 * class, name, chain, selector, epoch, constructor arguments, newest
 * checkpoint time, move history and each replica's node, incarnation,
 * epoch and state; not the addresses, which come from the node table).
 * Every change is written through with one store apply before the caller
 * makes it visible. Heartbeat times and loads are not stored.
 *
 * Happy path: a handler changes an object under the write lock and calls
 * oms_obj_persist; at the next open, oms_store_load reads nodes (UNKNOWN
 * until they heartbeat, their timeout counted from the restart), then
 * objects, whose active replicas on an older incarnation become LOST.
 * Failure modes: a store error is returned to the handler, which undoes
 * its change; a record that does not decode, or names a node that is not
 * there, is logged and skipped (the rest still loads).
 */
#include "dir_int.h"

#include <cor/log.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void key_of(const char *prefix, const cor_object_id_t *id, char key[64])
{
    char s[COR_OBJECT_ID_STRLEN + 1];
    cor_object_id_format(id, s);
    snprintf(key, 64, "%s/%s", prefix, s);
}

void oms_obj_key(const cor_object_id_t *id, char key[64])
{
    key_of("obj", id, key);
}

void oms_ckpt_key(const cor_object_id_t *id, char key[64])
{
    key_of("ckpt", id, key);
}

void oms_group_key(const cor_object_id_t *id, char key[64])
{
    key_of("grp", id, key);
}

/* The stored form of an object (replica addresses are not stored: they are
 * filled from the node table when answering). */
int oms_obj_encode(const oms_obj_t *o, uint8_t **buf, size_t *len)
{
    Cor__ObjectInfo m = COR__OBJECT_INFO__INIT;
    Cor__Replica reps[OMS_MAX_REPLICAS], *rp[OMS_MAX_REPLICAS];
    int n = o->n_replicas < OMS_MAX_REPLICAS ? o->n_replicas : OMS_MAX_REPLICAS;
    m.id.data = (uint8_t *)o->id.b;
    m.id.len = 16;
    m.class_name = (char *)o->class_name;
    m.name = o->name ? o->name : (char *)"";
    m.dm_chain = o->dm_chain ? o->dm_chain : (char *)"";
    m.selector = o->selector ? o->selector : (char *)"";
    m.created_ms = o->created_ms;
    m.epoch = o->epoch;
    m.args.data = o->args;
    m.args.len = o->args_len;
    m.checkpoint_ms = o->checkpoint_ms;
    m.founders = (uint32_t)o->founders;
    m.moves = (Cor__Move **)o->moves;
    m.n_moves = (size_t)o->n_moves;
    for (int i = 0; i < n; i++) {
        cor__replica__init(&reps[i]);
        reps[i].node = o->replicas[i].node->info->name;
        reps[i].incarnation = o->replicas[i].incarnation;
        reps[i].member_incarnation = o->replicas[i].member_inc;
        reps[i].founder = o->replicas[i].founder != 0;
        reps[i].epoch = o->replicas[i].epoch;
        reps[i].state = o->replicas[i].state;
        rp[i] = &reps[i];
    }
    m.n_replicas = (size_t)n;
    m.replicas = rp;
    *len = cor__object_info__get_packed_size(&m);
    *buf = malloc(*len ? *len : 1);
    if (*buf == NULL)
        return COR_ENOMEM;
    cor__object_info__pack(&m, *buf);
    return 0;
}

int oms_obj_persist(oms_dir_t *d, const oms_obj_t *o, cor_error_t *err)
{
    char key[64];
    oms_obj_key(&o->id, key);
    uint8_t *buf;
    size_t len;
    if (oms_obj_encode(o, &buf, &len) != 0)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    cor_store_op_t op = {COR_STORE_PUT, key, buf, len};
    int rc = d->store.ops->apply(d->store.impl, &op, 1, err);
    free(buf);
    return rc;
}

int oms_node_persist(oms_dir_t *d, const Cor__NodeInfo *n, cor_error_t *err)
{
    char key[NODE_NAME_MAX + 8];
    snprintf(key, sizeof(key), "node/%s", n->name);
    size_t len = cor__node_info__get_packed_size(n);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    cor__node_info__pack(n, buf);
    cor_store_op_t op = {COR_STORE_PUT, key, buf, len};
    int rc = d->store.ops->apply(d->store.impl, &op, 1, err);
    free(buf);
    return rc;
}

static int load_node(void *arg, const char *key, const uint8_t *v, size_t len)
{
    oms_dir_t *d = arg;
    Cor__NodeInfo *info = cor__node_info__unpack(NULL, len, v);
    if (info == NULL) {
        cor_log_error("store: %s is not a NodeInfo; skipped", key);
        return 0;
    }
    oms_node_t *n = calloc(1, sizeof(*n));
    if (n == NULL || cor_strmap_put(&d->nodes, info->name, n, NULL) != 0) {
        free(n);
        cor__node_info__free_unpacked(info, NULL);
        return 1;
    }
    info->state = COR__NODE_STATE__NODE_UNKNOWN; /* until it heartbeats */
    n->info = info;
    n->last_hb_mono = d->env.mono_ms(d->env.arg); /* the timeout runs from the restart */
    cor__node_load__init(&n->load);
    return 0;
}

static int load_obj(void *arg, const char *key, const uint8_t *v, size_t len)
{
    oms_dir_t *d = arg;
    Cor__ObjectInfo *m = cor__object_info__unpack(NULL, len, v);
    oms_obj_t *o = NULL;
    if (m == NULL || m->id.len != 16)
        goto bad;
    o = calloc(1, sizeof(*o));
    if (o == NULL)
        goto bad;
    memcpy(o->id.b, m->id.data, 16);
    o->class_name = oms_intern_class(d, m->class_name);
    o->name = oms_dup_nonempty(m->name);
    o->dm_chain = oms_dup_nonempty(m->dm_chain);
    o->selector = oms_dup_nonempty(m->selector);
    o->created_ms = m->created_ms;
    o->epoch = m->epoch;
    o->checkpoint_ms = m->checkpoint_ms;
    o->founders = m->founders <= OMS_MAX_REPLICAS ? (int)m->founders : 0;
    for (size_t i = 0; i < m->n_moves && i < MAX_MOVES; i++)
        oms_obj_add_move(o, m->moves[i]->from_node, m->moves[i]->to_node, m->moves[i]->at_ms,
                  m->moves[i]->frozen_us, m->moves[i]->epoch);
    if (m->args.len > 0 && (o->args = malloc(m->args.len)) != NULL) {
        memcpy(o->args, m->args.data, m->args.len);
        o->args_len = m->args.len;
    }
    o->replicas = calloc(m->n_replicas ? m->n_replicas : 1, sizeof(*o->replicas));
    if (o->class_name == NULL || o->replicas == NULL)
        goto bad;
    for (size_t i = 0; i < m->n_replicas; i++) {
        oms_node_t *n = cor_strmap_get(&d->nodes, m->replicas[i]->node);
        if (n == NULL) {
            cor_log_warn("store: %s names unknown node %s; replica dropped", key,
                         m->replicas[i]->node);
            continue;
        }
        oms_replica_t *r = &o->replicas[o->n_replicas++];
        r->node = n;
        r->incarnation = m->replicas[i]->incarnation;
        r->member_inc = m->replicas[i]->member_incarnation;
        r->founder = m->replicas[i]->founder;
        r->epoch = m->replicas[i]->epoch;
        r->state = m->replicas[i]->state;
        if (r->state == COR__REPLICA_STATE__REPLICA_ACTIVE && r->incarnation != n->info->incarnation)
            r->state = COR__REPLICA_STATE__REPLICA_LOST;
        if (r->state == COR__REPLICA_STATE__REPLICA_ACTIVE)
            n->placed++;
    }
    if (cor_idmap_put(&d->objects, &o->id, o) != 0)
        goto bad;
    if (o->name != NULL)
        cor_strmap_put(&d->names, o->name, o, NULL);
    cor__object_info__free_unpacked(m, NULL);
    return 0;
bad:
    cor_log_error("store: %s is not a valid object record; skipped", key);
    oms_obj_free(o);
    if (m != NULL)
        cor__object_info__free_unpacked(m, NULL);
    return 0;
}

int oms_store_load(oms_dir_t *d, cor_error_t *err)
{
    /* Nodes first: objects point at them. */
    int rc = d->store.ops->scan(d->store.impl, "node/", load_node, d, err);
    if (rc == 0)
        rc = d->store.ops->scan(d->store.impl, "obj/", load_obj, d, err);
    return rc;
}
