/*
 * dm_call.c — what a DM part may do with the call it sees (cor/dm.h): read
 * it, answer it, learn where it came from and where the object's replicas
 * are, talk to its peer parts, keep a local replica, checkpoint the
 * object, ask for a move.
 *
 * A cor_dm_call_t is a client part's (c->ref set: the reference called) or
 * a server part's (c->rt and c->obj set: the hosting runtime and the
 * object, whose turn the part holds). Functions for one side refuse the
 * other with ESTATE. Calls out of the process (the OMS, a peer kernel)
 * are synchronous and short; those a part makes in the object's turn say
 * so.
 */
#include "runtime_int.h"
#include "ref_int.h"

#include <cor/log.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cor/oms.pb-c.h"

/* ---------------- the call itself ---------------- */

const cor_method_desc_t *cor_dm_call_method(const cor_dm_call_t *c)
{
    return c->m;
}

const char *cor_dm_call_object(const cor_dm_call_t *c)
{
    return c->object;
}

const unsigned char *cor_dm_call_request(const cor_dm_call_t *c, size_t *len)
{
    *len = c->req_len;
    return c->req;
}

const unsigned char *cor_dm_call_reply(const cor_dm_call_t *c, size_t *len)
{
    *len = c->reply_len;
    return c->reply;
}

void cor_dm_call_give_reply(cor_dm_call_t *c, unsigned char *data, size_t len)
{
    free(c->reply);
    c->reply = data;
    c->reply_len = len;
}

int cor_dm_call_set_reply(cor_dm_call_t *c, const unsigned char *data, size_t len)
{
    unsigned char *copy = malloc(len ? len : 1);
    if (copy == NULL)
        return cor_error_set(c->err, COR_ENOMEM, "out of memory");
    if (len)
        memcpy(copy, data, len);
    cor_dm_call_give_reply(c, copy, len);
    return 0;
}

void cor_dm_call_id(const cor_dm_call_t *c, const unsigned char **client, uint64_t *seq)
{
    *client = c->client_id;
    *seq = c->seq;
}

const cor_error_t *cor_dm_call_error(const cor_dm_call_t *c)
{
    return c->err;
}

int cor_dm_call_deadline_ms(const cor_dm_call_t *c)
{
    return c->ref != NULL ? cor_ref_deadline(c->ref) : 0;
}

void cor_dm_call_route(cor_dm_call_t *c, const cor_dm_replica_t *r)
{
    c->route = *r;
    c->routed = 1;
}

/* ---------------- replicas ---------------- */

void cor_dm_replica_from_pb(const Cor__Replica *r, cor_dm_replica_t *x)
{
    memset(x, 0, sizeof(*x));
    snprintf(x->node, sizeof(x->node), "%s", r->node);
    snprintf(x->tcp_address, sizeof(x->tcp_address), "%s", r->tcp_address);
    snprintf(x->unix_path, sizeof(x->unix_path), "%s", r->unix_path);
    snprintf(x->host_id, sizeof(x->host_id), "%s", r->host_id);
    x->epoch = r->epoch;
    x->incarnation = r->member_incarnation ? r->member_incarnation : r->incarnation;
    x->alive = r->state == COR__REPLICA_STATE__REPLICA_ACTIVE &&
               r->node_state == COR__NODE_STATE__NODE_ALIVE;
    x->dead = r->node_state == COR__NODE_STATE__NODE_DEAD;
    x->lost = r->state == COR__REPLICA_STATE__REPLICA_LOST;
}

int cor_dm_call_replicas(cor_dm_call_t *c, cor_dm_replica_t *out, int max, int *n)
{
    *n = 0;
    if (c->ref == NULL)
        return cor_error_set(c->err, COR_ESTATE, "replicas are known only to client parts");
    Cor__LookupReply *rep = NULL;
    int rc = cor_oms_lookup(c->ref->rt, &c->ref->id, NULL, &rep, c->err);
    if (rc != 0)
        return rc;
    const Cor__ObjectInfo *o = rep->object;
    for (size_t i = 0; i < o->n_replicas && *n < max; i++)
        cor_dm_replica_from_pb(o->replicas[i], &out[(*n)++]);
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    return 0;
}

int cor_dm_call_peers(cor_dm_call_t *c, cor_dm_replica_t *out, int max, int *n)
{
    *n = 0;
    if (c->obj == NULL)
        return cor_error_set(c->err, COR_ESTATE, "peers are known only to server parts");
    for (int i = 0; i < c->obj->n_members && *n < max; i++) {
        out[*n] = c->obj->members[i];
        out[*n].self = strcmp(out[*n].tcp_address, c->rt->tcp_addr) == 0;
        (*n)++;
    }
    return 0;
}

/* A reply's payload as the caller's malloc'd copy (NULL when empty). */
static int take_payload(const ProtobufCBinaryData *b, unsigned char **out, size_t *len,
                        cor_error_t *err)
{
    if (b->len == 0)
        return 0;
    if ((*out = malloc(b->len)) == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    memcpy(*out, b->data, b->len);
    *len = b->len;
    return 0;
}

int cor_dm_call_peer_send(cor_dm_call_t *c, const cor_dm_replica_t *to, const unsigned char *msg,
                     size_t len, unsigned char **reply, size_t *reply_len)
{
    *reply = NULL;
    *reply_len = 0;
    if (c->obj == NULL || c->stack == NULL || c->pos < 1)
        return cor_error_set(c->err, COR_ESTATE, "peer messages are sent by server parts");
    cor_runtime_t *rt = c->rt;
    cor_peer_t *p = cor_runtime_peer(rt, to->tcp_address, to->unix_path, to->host_id);
    if (p == NULL)
        return cor_error_set(c->err, COR_EINVAL, "replica on %s has no address", to->node);
    Cor__PeerMessageRequest req = COR__PEER_MESSAGE_REQUEST__INIT;
    req.object_id.data = c->obj->id.b;
    req.object_id.len = 16;
    req.dm = (char *)c->stack->parts[c->pos - 1].ops->name;
    req.payload.data = (uint8_t *)msg;
    req.payload.len = len;
    req.from_node = rt->node_name;
    ProtobufCMessage *m = NULL;
    int rc = cor_rpc_call(rt->client, cor_peer_target(p), COR_M_PEER_MESSAGE, &req.base,
                          &cor__peer_message_reply__descriptor, 2000, &m, c->err);
    if (rc != 0)
        return rc;
    rc = take_payload(&((Cor__PeerMessageReply *)m)->payload, reply, reply_len, c->err);
    protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

int cor_dm_call_group_send(cor_dm_call_t *c, const unsigned char *msg, size_t len,
                           unsigned char **reply, size_t *reply_len)
{
    *reply = NULL;
    *reply_len = 0;
    if (c->obj == NULL || c->stack == NULL || c->pos < 1)
        return cor_error_set(c->err, COR_ESTATE, "group messages are sent by server parts");
    cor_runtime_t *rt = c->rt;
    if (rt->oms_address[0] == '\0' || rt->node_name[0] == '\0')
        return cor_error_set(c->err, COR_ESTATE, "not in a cluster: no OMS to send to");
    Cor__GroupMessageRequest req = COR__GROUP_MESSAGE_REQUEST__INIT;
    req.object_id.data = c->obj->id.b;
    req.object_id.len = 16;
    req.dm = (char *)c->stack->parts[c->pos - 1].ops->name;
    req.node = rt->node_name;
    req.incarnation = atomic_load(&rt->incarnation);
    req.payload.data = (uint8_t *)msg;
    req.payload.len = len;
    ProtobufCMessage *m = NULL;
    int rc = cor_rpc_call(rt->client, rt->oms_address, COR_M_OMS_GROUP_MESSAGE, &req.base,
                          &cor__group_message_reply__descriptor, 2000, &m, c->err);
    if (rc != 0)
        return rc;
    rc = take_payload(&((Cor__GroupMessageReply *)m)->payload, reply, reply_len, c->err);
    protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

/* ---------------- a local replica ---------------- */

int cor_dm_call_make_local(cor_dm_call_t *c)
{
    cor_ref_t *ref = c->ref;
    if (ref == NULL)
        return cor_error_set(c->err, COR_ESTATE, "only client parts make local replicas");
    cor_runtime_t *rt = ref->rt;
    cor_obj_t *here = cor_obj_get(rt, &ref->id);
    if (here != NULL) {
        cor_obj_put(here);
        return 0;
    }
    const cor_class_t *cls = cor_runtime_find_class(rt, ref->class_name);
    if (cls == NULL || cls->load_state == NULL)
        return cor_error_set(c->err, COR_ENOTFOUND,
                             "class %s is not registered here with load_state: calls stay remote",
                             ref->class_name);
    cor_peer_t *p = cor_ref_peer(ref);
    if (p == NULL && cor_cluster_refresh(ref, c->err) >= 0)
        p = cor_ref_peer(ref);
    if (p == NULL)
        return cor_error_set(c->err, COR_ENOTFOUND, "object has no known location");
    Cor__GetStateRequest gs = COR__GET_STATE_REQUEST__INIT;
    gs.object_id.data = ref->id.b;
    gs.object_id.len = sizeof(ref->id.b);
    ProtobufCMessage *m = NULL;
    int rc = cor_rpc_call(rt->client, cor_peer_target(p), COR_M_GET_STATE, &gs.base,
                          &cor__get_state_reply__descriptor, rt->opts.default_deadline_ms, &m,
                          c->err);
    if (rc != 0)
        return rc;
    Cor__GetStateReply *st = (Cor__GetStateReply *)m;
    pthread_mutex_lock(&ref->lock);
    char *chain = ref->dm_chain != NULL ? strdup(ref->dm_chain) : NULL;
    pthread_mutex_unlock(&ref->lock);
    rc = cor_runtime_install(rt, cls, &ref->id, st->epoch, chain, st->state.data, st->state.len,
                             c->err);
    free(chain);
    protobuf_c_message_free_unpacked(m, NULL);
    if (rc == COR_EEXIST) /* another ref got there first */
        rc = 0;
    if (rc == 0)
        cor_error_clear(c->err);
    return rc;
}

/* ---------------- the object's life ---------------- */

static void checkpoint_done(void *arg, int code, const char *msg, const cor_redirect_t *moved,
                            const uint8_t *reply, size_t len)
{
    char *id = arg;
    if (code != 0)
        cor_log_warn("object %s: checkpoint not taken by the OMS: %s", id, msg);
    free(id);
}

int cor_dm_call_checkpoint(cor_dm_call_t *c)
{
    cor_runtime_t *rt = c->rt;
    cor_obj_t *o = c->obj;
    if (rt == NULL || o == NULL)
        return cor_error_set(c->err, COR_ESTATE, "checkpoints are taken by server parts only");
    if (rt->oms_address[0] == '\0' || rt->node_name[0] == '\0')
        return cor_error_set(c->err, COR_ESTATE, "not in a cluster: no OMS to keep checkpoints");
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = cor_obj_save(o, &buf, &len, c->err);
    if (rc != 0)
        return rc;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    Cor__CheckpointRequest req = COR__CHECKPOINT_REQUEST__INIT;
    req.object_id.data = o->id.b;
    req.object_id.len = 16;
    req.class_name = (char *)o->cls->name;
    req.state.data = buf;
    req.state.len = len;
    req.taken_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    req.node = rt->node_name;
    req.incarnation = atomic_load(&rt->incarnation);
    grpc_slice s = grpc_slice_malloc(cor__checkpoint_request__get_packed_size(&req));
    cor__checkpoint_request__pack(&req, GRPC_SLICE_START_PTR(s));
    free(buf);
    char *id = malloc(COR_OBJECT_ID_STRLEN + 1);
    cor_peer_t *p = cor_client_peer(rt->client, rt->oms_address);
    if (id == NULL || p == NULL) {
        free(id);
        grpc_slice_unref(s);
        return cor_error_set(c->err, COR_ENOMEM, "out of memory");
    }
    cor_object_id_format(&o->id, id);
    rc = cor_client_call_async(rt->client, p, COR_M_OMS_PUT_CHECKPOINT, s, 10000, checkpoint_done,
                               id);
    if (rc != 0)
        free(id);
    return rc;
}

const char *cor_dm_call_caller_node(const cor_dm_call_t *c)
{
    return c->caller_node ? c->caller_node : "";
}

const char *cor_dm_call_node(const cor_dm_call_t *c)
{
    return c->rt ? c->rt->node_name : "";
}

int cor_dm_call_request_move(cor_dm_call_t *c, const char *to_node)
{
    if (c->rt == NULL || c->obj == NULL)
        return cor_error_set(c->err, COR_ESTATE, "moves are requested by server parts");
    return cor_runtime_request_move(c->rt, &c->obj->id, to_node, c->err);
}

