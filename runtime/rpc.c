/*
 * rpc.c — typed control-plane calls; see rpc.h.
 */
#include "rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const cor_method_paths[COR_M_COUNT] = {
    [COR_M_INVOKE] = "/cor.Kernel/Invoke",
    [COR_M_CREATE_REPLICA] = "/cor.Kernel/CreateReplica",
    [COR_M_DELETE_REPLICA] = "/cor.Kernel/DeleteReplica",
    [COR_M_GET_STATE] = "/cor.Kernel/GetState",
    [COR_M_INSTALL_STATE] = "/cor.Kernel/InstallState",
    [COR_M_SET_MEMBERS] = "/cor.Kernel/SetMembers",
    [COR_M_PEER_MESSAGE] = "/cor.Kernel/PeerMessage",
    [COR_M_MIGRATE_OUT] = "/cor.Kernel/MigrateOut",
    [COR_M_OMS_REGISTER] = "/cor.Oms/RegisterNode",
    [COR_M_OMS_HEARTBEAT] = "/cor.Oms/Heartbeat",
    [COR_M_OMS_LIST_NODES] = "/cor.Oms/ListNodes",
    [COR_M_OMS_CREATE_OBJECT] = "/cor.Oms/CreateObject",
    [COR_M_OMS_LOOKUP] = "/cor.Oms/Lookup",
    [COR_M_OMS_LIST_OBJECTS] = "/cor.Oms/ListObjects",
    [COR_M_OMS_DELETE_OBJECT] = "/cor.Oms/DeleteObject",
    [COR_M_OMS_PING] = "/cor.Oms/Ping",
    [COR_M_OMS_PUT_CHECKPOINT] = "/cor.Oms/PutCheckpoint",
    [COR_M_OMS_MIGRATE] = "/cor.Oms/Migrate",
    [COR_M_OMS_REPORT_PLACEMENT] = "/cor.Oms/ReportPlacement",
    [COR_M_OMS_GROUP_MESSAGE] = "/cor.Oms/GroupMessage",
    [COR_M_RAFT_MESSAGE] = "/cor.Kernel/RaftMessage",
};

int cor_rpc_call(cor_client_t *c, const char *target, enum cor_method_index m,
                 const ProtobufCMessage *req, const ProtobufCMessageDescriptor *reply_desc,
                 int deadline_ms, ProtobufCMessage **reply, cor_error_t *err)
{
    *reply = NULL;
    cor_peer_t *p = cor_client_peer(c, target);
    if (p == NULL)
        return cor_error_set(err, COR_EINVAL, "no address to call %s at", cor_method_paths[m]);
    size_t n = protobuf_c_message_get_packed_size(req);
    grpc_slice s = grpc_slice_malloc(n);
    protobuf_c_message_pack(req, GRPC_SLICE_START_PTR(s));
    grpc_slice out;
    int rc = cor_client_call(c, p, (unsigned)m, s, deadline_ms, &out, err, NULL);
    if (rc != 0)
        return rc;
    *reply = protobuf_c_message_unpack(reply_desc, NULL, GRPC_SLICE_LENGTH(out),
                                       GRPC_SLICE_START_PTR(out));
    grpc_slice_unref(out);
    if (*reply == NULL)
        return cor_error_set(err, COR_EPROTO, "%s at %s: reply is not a %s",
                             cor_method_paths[m], target, reply_desc->name);
    return 0;
}

static void rpc_adapter(void *arg, cor_srv_call_t *call, const uint8_t *data, size_t len)
{
    const cor_rpc_handler_t *h = arg;
    cor_arena_t arena;
    cor_arena_init(&arena, h->max_arena);
    cor_error_t err;
    cor_error_clear(&err);
    ProtobufCMessage *in = protobuf_c_message_unpack(h->input, &arena.pb, len, data);
    if (in == NULL) {
        char msg[160];
        snprintf(msg, sizeof(msg), "malformed request: not a %s", h->input->name);
        cor_srv_call_fail(call, COR_EINVAL, msg);
        goto out;
    }
    ProtobufCMessage *rep = cor_arena_alloc(&arena, h->output->sizeof_message);
    if (rep == NULL) {
        cor_srv_call_fail(call, COR_ENOMEM, "out of memory");
        goto out;
    }
    protobuf_c_message_init(h->output, rep);
    int rc = h->fn(h->arg, in, rep, &arena, &err);
    if (rc != 0) {
        cor_srv_call_fail(call, rc, err.msg[0] ? err.msg : cor_strerror(rc));
        goto out;
    }
    size_t n = protobuf_c_message_get_packed_size(rep);
    grpc_slice s = grpc_slice_malloc(n);
    protobuf_c_message_pack(rep, GRPC_SLICE_START_PTR(s));
    cor_srv_call_reply(call, s);
out:
    cor_arena_close(&arena);
}

int cor_rpc_serve(cor_server_t *s, const cor_rpc_handler_t *h, cor_error_t *err)
{
    /* The server keeps the pointer for its life; it owns this copy. */
    cor_rpc_handler_t *copy = malloc(sizeof(*copy));
    if (copy == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    *copy = *h;
    if (copy->max_arena == 0)
        copy->max_arena = 64u * 1024 * 1024;
    int rc = cor_server_add_method_owned(s, cor_method_paths[h->method], rpc_adapter, copy, err);
    if (rc != 0)
        free(copy);
    return rc;
}
