/*
 * wire.h — the Kernel.Invoke envelope on the wire (internal to runtime/).
 *
 * A call travels as a cor.InvokeRequest whose `payload` is the packed
 * request; its answer as a cor.InvokeReply whose `payload` is the packed
 * reply. These functions build and read them, so every route (a plain
 * remote call, one a client DM part routed to a replica, an asynchronous
 * one, a resend after a redirect) packs the same envelope in one place.
 */
#ifndef COR_WIRE_H
#define COR_WIRE_H

#include <cor/cor.h>

#include <grpc/slice.h>
#include <protobuf-c/protobuf-c.h>

#include "arena.h"

/* Packs env (a message whose `field` is an empty bytes field) followed by
 * payload packed as that field, into one new slice: the envelope and the
 * payload are written once, with no intermediate copy. */
grpc_slice cor_wire_pack(const ProtobufCMessage *env, unsigned field,
                         const ProtobufCMessage *payload);

/* What an InvokeRequest carries besides its payload. */
typedef struct cor_wire_call {
    const cor_object_id_t *id;
    const cor_method_desc_t *m; /* name and interface fingerprint */
    const unsigned char *client_id; /* 16 bytes */
    uint64_t seq;
    uint64_t epoch;          /* the placement the caller knows */
    const char *caller_node; /* "" when the caller is not a kernel server */
} cor_wire_call_t;

/* Packs the InvokeRequest for w with the payload msg, packed in place, or
 * (msg NULL) the already packed bytes. The caller owns the slice. */
grpc_slice cor_wire_invoke(const cor_wire_call_t *w, const ProtobufCMessage *msg,
                           const uint8_t *bytes, size_t len);

/* The payload of a packed InvokeReply: *payload points into scratch.
 * EPROTO when data is not one. */
int cor_wire_reply_payload(const uint8_t *data, size_t len, cor_arena_t *scratch,
                           const uint8_t **payload, size_t *plen, cor_error_t *err);

/* Unpacks a packed InvokeReply's payload as m's reply, with allocator a
 * (NULL: the heap, the caller frees). EPROTO when malformed. */
int cor_wire_unpack_reply(const cor_method_desc_t *m, const uint8_t *data, size_t len,
                          ProtobufCAllocator *a, cor_arena_t *scratch, ProtobufCMessage **out,
                          cor_error_t *err);

#endif
