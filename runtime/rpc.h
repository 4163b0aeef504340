/*
 * rpc.h — typed control-plane calls over the transport (internal).
 *
 * Object calls go through Kernel.Invoke; everything else — the OMS API, the
 * kernel's replica operations — is a plain unary method whose request and
 * reply are protobuf-c messages. This layer names those methods once (the
 * client's path table), packs and unpacks them, and gives servers a typed
 * handler adapter that decodes into a per-call arena.
 */
#ifndef COR_RPC_H
#define COR_RPC_H

#include <protobuf-c/protobuf-c.h>

#include "arena.h"
#include "transport.h"

/* Every method a runtime's client can call, by index. */
enum cor_method_index {
    COR_M_INVOKE = 0,
    COR_M_CREATE_REPLICA,
    COR_M_DELETE_REPLICA,
    COR_M_GET_STATE,
    COR_M_INSTALL_STATE,
    COR_M_SET_MEMBERS,
    COR_M_PEER_MESSAGE,
    COR_M_MIGRATE_OUT,
    COR_M_OMS_REGISTER,
    COR_M_OMS_HEARTBEAT,
    COR_M_OMS_LIST_NODES,
    COR_M_OMS_CREATE_OBJECT,
    COR_M_OMS_LOOKUP,
    COR_M_OMS_LIST_OBJECTS,
    COR_M_OMS_DELETE_OBJECT,
    COR_M_OMS_PING,
    COR_M_OMS_PUT_CHECKPOINT,
    COR_M_OMS_MIGRATE,
    COR_M_OMS_REPORT_PLACEMENT,
    COR_M_OMS_GROUP_MESSAGE,
    COR_M_RAFT_MESSAGE,
    COR_M_COUNT
};

/* gRPC path of each method ("/cor.Kernel/Invoke"). */
extern const char *const cor_method_paths[COR_M_COUNT];

/* Calls method m at target ("ip:port" or "unix:/path") with req and waits.
 * On success *reply is a heap message of reply_desc the caller frees with
 * protobuf_c_message_free_unpacked(*reply, NULL). */
int cor_rpc_call(cor_client_t *c, const char *target, enum cor_method_index m,
                 const ProtobufCMessage *req, const ProtobufCMessageDescriptor *reply_desc,
                 int deadline_ms, ProtobufCMessage **reply, cor_error_t *err);

/* A typed server handler: req is decoded into arena, reply is initialised
 * (in the arena) and filled by the handler; strings in it may point into
 * the arena or req. Return 0 or a COR_E* code with err set. Runs on a
 * server completion thread. */
typedef int (*cor_rpc_cb)(void *arg, const ProtobufCMessage *req, ProtobufCMessage *reply,
                          cor_arena_t *arena, cor_error_t *err);

typedef struct cor_rpc_handler {
    enum cor_method_index method;
    const ProtobufCMessageDescriptor *input;
    const ProtobufCMessageDescriptor *output;
    cor_rpc_cb fn;
    void *arg;
    size_t max_arena; /* arena cap for this method's calls */
} cor_rpc_handler_t;

/* Registers h (copied into server-owned memory) on s under its path. */
int cor_rpc_serve(cor_server_t *s, const cor_rpc_handler_t *h, cor_error_t *err);

#endif
