/*
 * service.c — the OMS's gRPC API (proto/cor/oms.proto): typed handlers that
 * hand each request to the directory. Every handler runs on a server
 * completion thread; the directory does its own locking.
 */
#include "service.h"

#include "rpc.h"

#define COR_OMS_VERSION "corundum-oms 0.1.0"

static int h_register(void *arg, const ProtobufCMessage *in, ProtobufCMessage *out,
                      cor_arena_t *a, cor_error_t *err)
{
    return oms_dir_register(arg, (const Cor__RegisterRequest *)in, a, (Cor__RegisterReply *)out,
                            err);
}

static int h_heartbeat(void *arg, const ProtobufCMessage *in, ProtobufCMessage *out,
                       cor_arena_t *a, cor_error_t *err)
{
    return oms_dir_heartbeat(arg, (const Cor__HeartbeatRequest *)in, (Cor__HeartbeatReply *)out,
                             err);
}

static int h_list_nodes(void *arg, const ProtobufCMessage *in, ProtobufCMessage *out,
                        cor_arena_t *a, cor_error_t *err)
{
    return oms_dir_list_nodes(arg, a, (Cor__ListNodesReply *)out, err);
}

static int h_create(void *arg, const ProtobufCMessage *in, ProtobufCMessage *out, cor_arena_t *a,
                    cor_error_t *err)
{
    return oms_dir_create(arg, (const Cor__CreateObjectRequest *)in, a,
                          (Cor__CreateObjectReply *)out, err);
}

static int h_lookup(void *arg, const ProtobufCMessage *in, ProtobufCMessage *out, cor_arena_t *a,
                    cor_error_t *err)
{
    return oms_dir_lookup(arg, (const Cor__LookupRequest *)in, a, (Cor__LookupReply *)out, err);
}

static int h_list_objects(void *arg, const ProtobufCMessage *in, ProtobufCMessage *out,
                          cor_arena_t *a, cor_error_t *err)
{
    return oms_dir_list_objects(arg, (const Cor__ListObjectsRequest *)in, a,
                                (Cor__ListObjectsReply *)out, err);
}

static int h_delete(void *arg, const ProtobufCMessage *in, ProtobufCMessage *out, cor_arena_t *a,
                    cor_error_t *err)
{
    return oms_dir_delete(arg, (const Cor__DeleteObjectRequest *)in, err);
}

static int h_checkpoint(void *arg, const ProtobufCMessage *in, ProtobufCMessage *out,
                        cor_arena_t *a, cor_error_t *err)
{
    return oms_dir_put_checkpoint(arg, (const Cor__CheckpointRequest *)in, err);
}

static int h_migrate(void *arg, const ProtobufCMessage *in, ProtobufCMessage *out, cor_arena_t *a,
                     cor_error_t *err)
{
    return oms_dir_migrate(arg, (const Cor__MigrateRequest *)in, a, (Cor__MigrateReply *)out, err);
}

static int h_report(void *arg, const ProtobufCMessage *in, ProtobufCMessage *out, cor_arena_t *a,
                    cor_error_t *err)
{
    return oms_dir_report_placement(arg, (const Cor__PlacementReport *)in, err);
}

static int h_group(void *arg, const ProtobufCMessage *in, ProtobufCMessage *out, cor_arena_t *a,
                   cor_error_t *err)
{
    return oms_dir_group_message(arg, (const Cor__GroupMessageRequest *)in, a,
                                 (Cor__GroupMessageReply *)out, err);
}

static int h_ping(void *arg, const ProtobufCMessage *in, ProtobufCMessage *out, cor_arena_t *a,
                  cor_error_t *err)
{
    ((Cor__PingReply *)out)->version = (char *)COR_OMS_VERSION;
    return 0;
}

int oms_service_register(cor_server_t *s, oms_dir_t *d, cor_error_t *err)
{
    /* Create carries constructor arguments: allow large ones; the rest
     * are small and get a small arena cap. */
    const cor_rpc_handler_t hs[] = {
        {COR_M_OMS_REGISTER, &cor__register_request__descriptor,
         &cor__register_reply__descriptor, h_register, d, 1u << 20},
        {COR_M_OMS_HEARTBEAT, &cor__heartbeat_request__descriptor,
         &cor__heartbeat_reply__descriptor, h_heartbeat, d, 1u << 16},
        {COR_M_OMS_LIST_NODES, &cor__list_nodes_request__descriptor,
         &cor__list_nodes_reply__descriptor, h_list_nodes, d, 0},
        {COR_M_OMS_CREATE_OBJECT, &cor__create_object_request__descriptor,
         &cor__create_object_reply__descriptor, h_create, d, 0},
        {COR_M_OMS_LOOKUP, &cor__lookup_request__descriptor, &cor__lookup_reply__descriptor,
         h_lookup, d, 1u << 20},
        {COR_M_OMS_LIST_OBJECTS, &cor__list_objects_request__descriptor,
         &cor__list_objects_reply__descriptor, h_list_objects, d, 0},
        {COR_M_OMS_DELETE_OBJECT, &cor__delete_object_request__descriptor,
         &cor__delete_object_reply__descriptor, h_delete, d, 1u << 16},
        {COR_M_OMS_PING, &cor__ping_request__descriptor, &cor__ping_reply__descriptor, h_ping, d,
         1u << 12},
        {COR_M_OMS_PUT_CHECKPOINT, &cor__checkpoint_request__descriptor,
         &cor__checkpoint_reply__descriptor, h_checkpoint, d, 0},
        {COR_M_OMS_MIGRATE, &cor__migrate_request__descriptor, &cor__migrate_reply__descriptor,
         h_migrate, d, 1u << 16},
        {COR_M_OMS_REPORT_PLACEMENT, &cor__placement_report__descriptor,
         &cor__placement_ack__descriptor, h_report, d, 1u << 12},
        {COR_M_OMS_GROUP_MESSAGE, &cor__group_message_request__descriptor,
         &cor__group_message_reply__descriptor, h_group, d, 1u << 20},
    };
    for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
        int rc = cor_rpc_serve(s, &hs[i], err);
        if (rc != 0)
            return rc;
    }
    return 0;
}
