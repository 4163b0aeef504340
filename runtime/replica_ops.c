/*
 * replica_ops.c — the Kernel service's replica operations, which the OMS
 * and peer kernels call (DESIGN.md "Kernel server"): make and drop a
 * replica, read its state, tell it its peers, pass a DM part a message from
 * its peer; plus the placement reports a kernel owes the OMS and the
 * periodic tick that drives server DM parts.
 *
 * Each operation that touches an object's state or its DM parts runs in
 * the object's turn (cor_obj_run_sync), so it never sees a call half-way
 * through. Malformed ids or classes are EINVAL / ENOTFOUND naming them,
 * before anything changes.
 */
#include "rsm.h"
#include "runtime_int.h"

#include <cor/log.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cor/oms.pb-c.h"

static int op_create_replica(void *arg, const ProtobufCMessage *in, ProtobufCMessage *out,
                             cor_arena_t *arena, cor_error_t *err)
{
    cor_runtime_t *rt = arg;
    const Cor__CreateReplicaRequest *r = (const Cor__CreateReplicaRequest *)in;
    cor_object_id_t id;
    const cor_class_t *cls = cor_replica_args(rt, &r->object_id, r->class_name, &id, err);
    if (cls == NULL)
        return err->code;
    cor_obj_init_t init = {.how = COR_OBJ_CREATE, .bytes = r->args.data, .len = r->args.len};
    return cor_obj_make(rt, cls, &id, r->epoch, r->dm_chain, &init, err);
}

static int op_delete_replica(void *arg, const ProtobufCMessage *in, ProtobufCMessage *out,
                             cor_arena_t *arena, cor_error_t *err)
{
    const Cor__DeleteReplicaRequest *r = (const Cor__DeleteReplicaRequest *)in;
    cor_object_id_t id;
    if (cor_id_arg(&r->object_id, &id, err) != 0)
        return err->code;
    /* Deleted, not merely stopped: a replica's Raft store goes too, so a
     * restart does not make it again. */
    cor_obj_t *o = cor_obj_get(arg, &id);
    if (o != NULL) {
        cor_rsm_erase(o);
        cor_obj_put(o);
    }
    return cor_runtime_unhost(arg, &id, err);
}

/* save_state in the object's turn, so no call is half-way through. */
typedef struct save_ctx {
    cor_obj_t *obj;
    uint8_t *buf;
    size_t len;
    int rc;
    cor_error_t *err;
} save_ctx_t;

static void save_fn(void *arg)
{
    save_ctx_t *s = arg;
    s->rc = cor_obj_save(s->obj, &s->buf, &s->len, s->err);
}

static int op_get_state(void *arg, const ProtobufCMessage *in, ProtobufCMessage *out,
                        cor_arena_t *arena, cor_error_t *err)
{
    cor_runtime_t *rt = arg;
    const Cor__GetStateRequest *r = (const Cor__GetStateRequest *)in;
    Cor__GetStateReply *rep = (Cor__GetStateReply *)out;
    cor_object_id_t id;
    if (cor_id_arg(&r->object_id, &id, err) != 0)
        return err->code;
    if (r->probe)
        return cor_migrate_probe(rt, &id, arena, rep, err);
    cor_obj_t *o = cor_obj_get(rt, &id);
    if (o == NULL) {
        char s[COR_OBJECT_ID_STRLEN + 1];
        cor_object_id_format(&id, s);
        return cor_error_set(err, COR_ENOTFOUND, "object %s is not hosted here", s);
    }
    save_ctx_t s = {.obj = o, .err = err};
    cor_obj_run_sync(o, save_fn, &s);
    if (s.rc == 0) {
        uint8_t *copy = cor_arena_alloc(arena, s.len ? s.len : 1);
        if (copy == NULL) {
            s.rc = cor_error_set(err, COR_ENOMEM, "out of memory");
        } else {
            if (s.len > 0)
                memcpy(copy, s.buf, s.len);
            rep->class_name = (char *)o->cls->name; /* static class data */
            rep->state.data = copy;
            rep->state.len = s.len;
            rep->epoch = o->epoch;
        }
    }
    free(s.buf);
    cor_obj_put(o);
    return s.rc;
}

/* ---------------- membership and peer messages ---------------- */

typedef struct members_ctx {
    cor_runtime_t *rt;
    cor_obj_t *obj;
    cor_dm_replica_t *members;
    int n;
    int founding;
} members_ctx_t;

static void members_fn(void *arg)
{
    members_ctx_t *m = arg;
    free(m->obj->members);
    m->obj->members = m->members;
    m->obj->n_members = m->n;
    cor_rsm_members(m->obj, m->members, m->n, m->founding);
    cor_dm_stack_t *s = m->obj->dm;
    cor_error_t err;
    cor_error_clear(&err);
    for (int i = 0; s != NULL && i < s->n; i++) {
        if (s->parts[i].ops->server_membership == NULL)
            continue;
        cor_dm_call_t c = {.object = m->obj->idstr, .err = &err, .stack = s, .pos = i + 1,
                           .rt = m->rt, .obj = m->obj};
        s->parts[i].ops->server_membership(s->parts[i].state, &c);
    }
}

static int op_set_members(void *arg, const ProtobufCMessage *in, ProtobufCMessage *out,
                          cor_arena_t *arena, cor_error_t *err)
{
    cor_runtime_t *rt = arg;
    const Cor__SetMembersRequest *r = (const Cor__SetMembersRequest *)in;
    cor_object_id_t id;
    if (cor_id_arg(&r->object_id, &id, err) != 0)
        return err->code;
    if (r->n_members > 64)
        return cor_error_set(err, COR_EINVAL, "%zu members, at most 64", r->n_members);
    cor_obj_t *o = cor_obj_get(rt, &id);
    if (o == NULL)
        return cor_error_set(err, COR_ENOTFOUND, "object not hosted here");
    members_ctx_t m = {.rt = rt, .obj = o, .n = (int)r->n_members, .founding = r->founding};
    m.members = calloc(r->n_members ? r->n_members : 1, sizeof(*m.members));
    if (m.members == NULL) {
        cor_obj_put(o);
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < r->n_members; i++) {
        const Cor__Member *x = r->members[i];
        cor_dm_replica_t *y = &m.members[i];
        snprintf(y->node, sizeof(y->node), "%s", x->node);
        snprintf(y->tcp_address, sizeof(y->tcp_address), "%s", x->tcp_address);
        snprintf(y->unix_path, sizeof(y->unix_path), "%s", x->unix_path);
        snprintf(y->host_id, sizeof(y->host_id), "%s", x->host_id);
        y->epoch = x->epoch;
        y->incarnation = x->incarnation;
        y->alive = 1;
    }
    cor_obj_run_sync(o, members_fn, &m);
    cor_obj_put(o);
    return 0;
}

typedef struct peer_ctx {
    cor_runtime_t *rt;
    cor_obj_t *obj;
    int part;
    const Cor__PeerMessageRequest *req;
    cor_error_t *err;
    unsigned char *reply;
    size_t reply_len;
    int rc;
} peer_ctx_t;

static void peer_fn(void *arg)
{
    peer_ctx_t *p = arg;
    const cor_dm_inst_t *part = &p->obj->dm->parts[p->part];
    cor_dm_call_t c = {.object = p->obj->idstr, .err = p->err, .stack = p->obj->dm,
                       .pos = p->part + 1, .rt = p->rt, .obj = p->obj,
                       .caller_node = p->req->from_node};
    p->rc = part->ops->server_peer(part->state, &c, p->req->payload.data, p->req->payload.len);
    p->reply = c.reply;
    p->reply_len = c.reply_len;
}

static int op_peer_message(void *arg, const ProtobufCMessage *in, ProtobufCMessage *out,
                           cor_arena_t *arena, cor_error_t *err)
{
    cor_runtime_t *rt = arg;
    const Cor__PeerMessageRequest *r = (const Cor__PeerMessageRequest *)in;
    cor_object_id_t id;
    if (cor_id_arg(&r->object_id, &id, err) != 0)
        return err->code;
    cor_obj_t *o = cor_obj_get(rt, &id);
    if (o == NULL)
        return cor_error_set(err, COR_ENOTFOUND, "object not hosted here");
    int part = -1;
    for (int i = 0; o->dm != NULL && i < o->dm->n; i++)
        if (strcmp(o->dm->parts[i].ops->name, r->dm) == 0 && o->dm->parts[i].ops->server_peer)
            part = i;
    if (part < 0) {
        cor_obj_put(o);
        return cor_error_set(err, COR_ENOTFOUND,
                             "no DM named '%.64s' takes peer messages at this replica", r->dm);
    }
    peer_ctx_t p = {.rt = rt, .obj = o, .part = part, .req = r, .err = err};
    cor_obj_run_sync(o, peer_fn, &p);
    cor_obj_put(o);
    if (p.rc == 0 && p.reply_len > 0) {
        uint8_t *copy = cor_arena_alloc(arena, p.reply_len);
        if (copy == NULL) {
            p.rc = cor_error_set(err, COR_ENOMEM, "out of memory");
        } else {
            memcpy(copy, p.reply, p.reply_len);
            ((Cor__PeerMessageReply *)out)->payload.data = copy;
            ((Cor__PeerMessageReply *)out)->payload.len = p.reply_len;
        }
    }
    free(p.reply);
    return p.rc;
}

int cor_replica_ops_serve(cor_runtime_t *rt, cor_server_t *s, cor_error_t *err)
{
    const cor_rpc_handler_t ops[] = {
        {COR_M_CREATE_REPLICA, &cor__create_replica_request__descriptor,
         &cor__create_replica_reply__descriptor, op_create_replica, rt, 0},
        {COR_M_DELETE_REPLICA, &cor__delete_replica_request__descriptor,
         &cor__delete_replica_reply__descriptor, op_delete_replica, rt, 0},
        {COR_M_GET_STATE, &cor__get_state_request__descriptor, &cor__get_state_reply__descriptor,
         op_get_state, rt, 0},
        {COR_M_INSTALL_STATE, &cor__install_state_request__descriptor,
         &cor__install_state_reply__descriptor, cor_op_install_state, rt, 0},
        {COR_M_SET_MEMBERS, &cor__set_members_request__descriptor,
         &cor__set_members_reply__descriptor, op_set_members, rt, 1u << 20},
        {COR_M_PEER_MESSAGE, &cor__peer_message_request__descriptor,
         &cor__peer_message_reply__descriptor, op_peer_message, rt, 0},
        {COR_M_MIGRATE_OUT, &cor__migrate_out_request__descriptor,
         &cor__migrate_out_reply__descriptor, cor_op_migrate_out, rt, 1u << 16},
    };
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        int rc = cor_rpc_serve(s, &ops[i], err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---------------- placement reports ---------------- */

/* A placement this kernel received under a new epoch, to tell the OMS
 * (which may have died before committing it): sent on the tick until
 * acknowledged. */
struct cor_report {
    cor_object_id_t id;
    uint64_t epoch;
    struct cor_report *next;
};

void cor_report_later(cor_runtime_t *rt, const cor_object_id_t *id, uint64_t epoch)
{
    if (rt->oms_address[0] == '\0')
        return;
    struct cor_report *r = malloc(sizeof(*r));
    if (r == NULL)
        return;
    r->id = *id;
    r->epoch = epoch;
    pthread_mutex_lock(&rt->report_lock);
    r->next = rt->reports;
    rt->reports = r;
    pthread_mutex_unlock(&rt->report_lock);
}

void cor_reports_send(cor_runtime_t *rt)
{
    pthread_mutex_lock(&rt->report_lock);
    struct cor_report *list = rt->reports;
    rt->reports = NULL;
    pthread_mutex_unlock(&rt->report_lock);
    while (list != NULL) {
        struct cor_report *r = list;
        list = r->next;
        Cor__PlacementReport rq = COR__PLACEMENT_REPORT__INIT;
        rq.object_id.data = r->id.b;
        rq.object_id.len = 16;
        rq.node = rt->node_name;
        rq.incarnation = atomic_load(&rt->incarnation);
        rq.epoch = r->epoch;
        ProtobufCMessage *m = NULL;
        cor_error_t err;
        int rc = cor_rpc_call(rt->client, rt->oms_address, COR_M_OMS_REPORT_PLACEMENT, &rq.base,
                              &cor__placement_ack__descriptor, 1000, &m, &err);
        if (m != NULL)
            protobuf_c_message_free_unpacked(m, NULL);
        if (rc == COR_EUNAVAIL || rc == COR_ETIMEDOUT) {
            pthread_mutex_lock(&rt->report_lock); /* the OMS is away: next tick */
            r->next = rt->reports;
            rt->reports = r;
            pthread_mutex_unlock(&rt->report_lock);
        } else {
            free(r);
        }
    }
}

void cor_reports_free(cor_runtime_t *rt)
{
    while (rt->reports != NULL) {
        struct cor_report *r = rt->reports;
        rt->reports = r->next;
        free(r);
    }
}

/* ---------------- the tick ---------------- */

static int has_tick(const cor_dm_stack_t *s)
{
    for (int i = 0; s != NULL && i < s->n; i++)
        if (s->parts[i].ops->server_tick != NULL)
            return 1;
    return 0;
}

typedef struct tick_list {
    cor_obj_t **objs;
    size_t n, cap;
} tick_list_t;

static void collect_ticking(void *arg, const cor_object_id_t *key, void *value)
{
    tick_list_t *l = arg;
    cor_obj_t *o = value;
    if (!has_tick(o->dm) || atomic_load(&o->moved) || l->n == l->cap)
        return; /* a tombstone's parts have nothing left to do */
    atomic_fetch_add(&o->refs, 1);
    l->objs[l->n++] = o;
}

void cor_runtime_tick(cor_runtime_t *rt)
{
    cor_migrate_sweep(rt);
    cor_reports_send(rt);
    cor_rsm_tick(rt);
    pthread_rwlock_rdlock(&rt->lock);
    tick_list_t l = {.cap = rt->objects.len};
    l.objs = malloc((l.cap ? l.cap : 1) * sizeof(*l.objs));
    if (l.objs != NULL)
        cor_idmap_each(&rt->objects, collect_ticking, &l);
    pthread_rwlock_unlock(&rt->lock);
    for (size_t i = 0; i < l.n; i++) {
        cor_obj_t *o = l.objs[i];
        enum cor_turn turn = cor_obj_try_enter(o);
        if (turn != COR_TURN_QUEUED) {
            cor_error_t err;
            cor_error_clear(&err);
            cor_dm_call_t c = {.object = o->idstr, .err = &err, .stack = o->dm, .rt = rt, .obj = o};
            for (int j = 0; j < o->dm->n; j++)
                if (o->dm->parts[j].ops->server_tick != NULL) {
                    c.pos = j + 1;
                    o->dm->parts[j].ops->server_tick(o->dm->parts[j].state, &c);
                }
            cor_obj_exit(o, turn);
        }
        cor_obj_put(o);
    }
    free(l.objs);
}
