/*
 * wire.c — the Kernel.Invoke envelope; see wire.h.
 *
 * cor_wire_pack writes an envelope and its payload into one slice: the
 * envelope is packed with its payload field empty (protobuf-c omits it),
 * then the field's tag, the payload's length and the payload itself are
 * appended. Protobuf allows a field anywhere in a message, so the result
 * decodes as the envelope with the payload set, and the request is packed
 * once, straight into the buffer gRPC sends.
 */
#include "wire.h"

#include <string.h>

#include "cor/kernel.pb-c.h"

static size_t varint_size(size_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *varint_put(uint8_t *p, size_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

grpc_slice cor_wire_pack(const ProtobufCMessage *env, unsigned field,
                         const ProtobufCMessage *payload)
{
    size_t esz = protobuf_c_message_get_packed_size(env);
    size_t psz = payload != NULL ? protobuf_c_message_get_packed_size(payload) : 0;
    size_t tag = (size_t)field << 3 | 2;
    size_t total = esz + varint_size(tag) + varint_size(psz) + psz;
    grpc_slice s = grpc_slice_malloc(total);
    uint8_t *p = GRPC_SLICE_START_PTR(s);
    p += protobuf_c_message_pack(env, p);
    p = varint_put(p, tag);
    p = varint_put(p, psz);
    if (payload != NULL)
        protobuf_c_message_pack(payload, p);
    return s;
}

grpc_slice cor_wire_invoke(const cor_wire_call_t *w, const ProtobufCMessage *msg,
                           const uint8_t *bytes, size_t len)
{
    static const unsigned char no_client[16];
    Cor__InvokeRequest env = COR__INVOKE_REQUEST__INIT;
    env.object_id.data = (uint8_t *)w->id->b;
    env.object_id.len = sizeof(w->id->b);
    env.method = (char *)w->m->name;
    env.client_id.data = (uint8_t *)(w->client_id != NULL ? w->client_id : no_client);
    env.client_id.len = 16;
    env.seq = w->seq;
    env.caller_node = (char *)(w->caller_node != NULL ? w->caller_node : "");
    env.epoch = w->epoch;
    env.fingerprint = w->m->service != NULL ? w->m->service->fingerprint : 0;
    if (msg != NULL)
        return cor_wire_pack(&env.base, 4, msg);
    env.payload.data = (uint8_t *)bytes;
    env.payload.len = len;
    grpc_slice s = grpc_slice_malloc(cor__invoke_request__get_packed_size(&env));
    cor__invoke_request__pack(&env, GRPC_SLICE_START_PTR(s));
    return s;
}

int cor_wire_reply_payload(const uint8_t *data, size_t len, cor_arena_t *scratch,
                           const uint8_t **payload, size_t *plen, cor_error_t *err)
{
    Cor__InvokeReply *env = cor__invoke_reply__unpack(&scratch->pb, len, data);
    if (env == NULL)
        return cor_error_set(err, COR_EPROTO, "malformed reply: not a cor.InvokeReply");
    *payload = env->payload.data;
    *plen = env->payload.len;
    return 0;
}

int cor_wire_unpack_reply(const cor_method_desc_t *m, const uint8_t *data, size_t len,
                          ProtobufCAllocator *a, cor_arena_t *scratch, ProtobufCMessage **out,
                          cor_error_t *err)
{
    const uint8_t *p;
    size_t n;
    int rc = cor_wire_reply_payload(data, len, scratch, &p, &n, err);
    if (rc != 0)
        return rc;
    *out = protobuf_c_message_unpack(m->output, a, n, p);
    if (*out == NULL)
        return cor_error_set(err, COR_EPROTO, "malformed reply: payload is not a %s",
                             m->output->name);
    return 0;
}
