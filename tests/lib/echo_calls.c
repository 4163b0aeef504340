/*
 * echo_calls.c — see echo_calls.h.
 */
#include "echo_calls.h"

#include <stddef.h>

#include "cor/kernel.pb-c.h"
#include "echo/echo.cor.h"
#include "rpc.h"
#include "host.h"

int64_t cor_echo_add(cor_ref_t *r, int64_t delta, int *rc, cor_error_t *err)
{
    cor_error_t local;
    Echo__AddRequest req = ECHO__ADD_REQUEST__INIT;
    req.delta = delta;
    Echo__AddReply *rep = NULL;
    *rc = echo_echo_add(r, &req, &rep, err != NULL ? err : &local);
    if (*rc != 0)
        return -1;
    int64_t t = rep->total;
    echo__add_reply__free_unpacked(rep, NULL);
    return t;
}

int cor_echo_say(cor_ref_t *r, const char *text, cor_error_t *err)
{
    cor_error_t local;
    Echo__SayRequest req = ECHO__SAY_REQUEST__INIT;
    req.text = (char *)text;
    Echo__SayReply *rep = NULL;
    int rc = echo_echo_say(r, &req, &rep, err != NULL ? err : &local);
    if (rep != NULL)
        echo__say_reply__free_unpacked(rep, NULL);
    return rc;
}

int64_t cor_echo_raw_add(cor_runtime_t *rt, const cor_ref_t *r, const char *tcp,
                         const uint8_t client_id[16], uint64_t seq, int64_t delta)
{
    Echo__AddRequest a = ECHO__ADD_REQUEST__INIT;
    a.delta = delta;
    uint8_t payload[32];
    size_t plen = echo__add_request__pack(&a, payload);
    Cor__InvokeRequest env = COR__INVOKE_REQUEST__INIT;
    env.object_id.data = (uint8_t *)cor_ref_id(r)->b;
    env.object_id.len = 16;
    env.method = (char *)"Add";
    env.payload.data = payload;
    env.payload.len = plen;
    env.client_id.data = (uint8_t *)client_id;
    env.client_id.len = 16;
    env.seq = seq;
    grpc_slice s = grpc_slice_malloc(cor__invoke_request__get_packed_size(&env));
    cor__invoke_request__pack(&env, GRPC_SLICE_START_PTR(s));
    grpc_slice out;
    cor_error_t err;
    cor_client_t *cl = cor_runtime_client(rt);
    if (cor_client_call(cl, cor_client_peer(cl, tcp), COR_M_INVOKE, s, 5000, &out, &err, NULL) != 0)
        return -1;
    Cor__InvokeReply *rep = cor__invoke_reply__unpack(NULL, GRPC_SLICE_LENGTH(out),
                                                      GRPC_SLICE_START_PTR(out));
    Echo__AddReply *ar =
        rep ? echo__add_reply__unpack(NULL, rep->payload.len, rep->payload.data) : NULL;
    int64_t t = ar ? ar->total : -1;
    if (ar)
        echo__add_reply__free_unpacked(ar, NULL);
    if (rep)
        cor__invoke_reply__free_unpacked(rep, NULL);
    grpc_slice_unref(out);
    return t;
}
