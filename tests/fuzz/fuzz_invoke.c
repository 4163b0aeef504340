/*
 * fuzz_invoke.c — what a kernel server does with the bytes of a
 * Kernel.Invoke request (runtime/invoke.c): decode the cor.InvokeRequest
 * envelope into the call's arena, find the object, find the method, check
 * the interface fingerprint, unpack the payload as the method's input
 * type, run the method in the object's turn, pack the InvokeReply.
 *
 * Fixture: one runtime (made once; it never listens) with the Echo class
 * registered. For every input one echo object is created under a fixed id
 * (FUZZ_OBJECT_ID, which the seed corpus uses), the input goes through
 * cor_runtime_dispatch_bytes — the same decode-and-run as the gRPC handler,
 * minus gRPC — and the object is deleted again, so no counter or object
 * survives into the next input.
 *
 * The class is echo_class with one change: Sleep answers at once instead of
 * sleeping (its argument check is kept), because a fuzzer that finds
 * `ms: 60000` would otherwise stall for a minute per input. Say and Add are
 * the real methods.
 *
 * What holds for every input:
 *  - an accepted call answers with bytes that unpack as cor.InvokeReply,
 *    whose payload unpacks as the method's output type; Say echoes its
 *    request's text and blob exactly;
 *  - a refused call returns a known COR_E* code with a message;
 *  - the object can be deleted afterwards (nothing holds a reference).
 */
#include "fuzz.h"

#include <string.h>

#include <cor/cor.h>
#include <cor/log.h>

#include "cor/kernel.pb-c.h"
#include "echo/echo.cor.h"
#include "echo_class.h"
#include "host.h"

/* 16 bytes: "fuzz-object-0001". The seed corpus addresses this id. */
static const cor_object_id_t fuzz_object_id = {{'f', 'u', 'z', 'z', '-', 'o', 'b', 'j', 'e', 'c',
                                                't', '-', '0', '0', '0', '1'}};

static cor_runtime_t *fuzz_rt;
static echo_echo_ops_t fuzz_ops;
static cor_class_t fuzz_class;
static int fuzz_verbose; /* FUZZ_VERBOSE=1: one line per input */

static int fuzz_sleep(void *self, cor_ctx_t *ctx, const Echo__SleepRequest *req,
                      Echo__SleepReply *reply)
{
    if (req->ms > 60000)
        return cor_ctx_error(ctx, COR_EINVAL, "sleep of %u ms is over the 60000 ms limit",
                             req->ms);
    reply->slept_ms = req->ms; /* without sleeping: see the file comment */
    return 0;
}

static void fuzz_teardown(void)
{
    cor_runtime_free(fuzz_rt);
    fuzz_rt = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    cor_log_set_level(COR_LOG_ERROR);
    fuzz_verbose = getenv("FUZZ_VERBOSE") != NULL;
    fuzz_ops = *(const echo_echo_ops_t *)echo_class.ops;
    fuzz_ops.sleep = fuzz_sleep;
    fuzz_class = echo_class;
    fuzz_class.ops = &fuzz_ops;

    cor_runtime_opts_t opts = {.version = COR_RUNTIME_OPTS_VERSION, .host_id = "fuzz"};
    cor_error_t err;
    if (cor_runtime_new(&opts, &fuzz_rt, &err) != 0 ||
        cor_runtime_register_class(fuzz_rt, &fuzz_class, &err) != 0) {
        fprintf(stderr, "fuzz_invoke: fixture: %s\n", err.msg);
        abort();
    }
    atexit(fuzz_teardown);
    return 0;
}


/* Checks an accepted call's reply against the request it answers. */
static void check_reply(const uint8_t *data, size_t size, const uint8_t *reply, size_t reply_len)
{
    Cor__InvokeRequest *req = cor__invoke_request__unpack(NULL, size, data);
    FUZZ_CHECK(req != NULL); /* it was accepted, so it decodes */
    const cor_method_desc_t *m =
        cor_service_method(&echo_echo_service, req->method, strlen(req->method));
    FUZZ_CHECK(m != NULL);
    Cor__InvokeReply *rep = cor__invoke_reply__unpack(NULL, reply_len, reply);
    FUZZ_CHECK(rep != NULL);
    ProtobufCMessage *out =
        protobuf_c_message_unpack(m->output, NULL, rep->payload.len, rep->payload.data);
    FUZZ_CHECK(out != NULL);
    if (strcmp(m->name, "Say") == 0) {
        Echo__SayRequest *in = echo__say_request__unpack(NULL, req->payload.len, req->payload.data);
        FUZZ_CHECK(in != NULL);
        const Echo__SayReply *say = (const Echo__SayReply *)out;
        FUZZ_CHECK(strcmp(in->text, say->text) == 0);
        FUZZ_CHECK(in->blob.len == say->blob.len);
        FUZZ_CHECK(in->blob.len == 0 || memcmp(in->blob.data, say->blob.data, in->blob.len) == 0);
        echo__say_request__free_unpacked(in, NULL);
    }
    protobuf_c_message_free_unpacked(out, NULL);
    cor__invoke_reply__free_unpacked(rep, NULL);
    cor__invoke_request__free_unpacked(req, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cor_error_t err;
    cor_error_clear(&err);
    if (cor_object_create(fuzz_rt, fuzz_class.name, NULL, 0, &(cor_create_opts_t){.here = 1, .id = &fuzz_object_id}, NULL, &err) != 0) {
        fprintf(stderr, "fuzz_invoke: creating the object: %s\n", err.msg);
        abort();
    }
    uint8_t *reply = NULL;
    size_t reply_len = 0;
    int rc = cor_runtime_dispatch_bytes(fuzz_rt, data, size, &reply, &reply_len, &err);
    if (fuzz_verbose)
        fprintf(stderr, "fuzz_invoke: %zu bytes -> %s %s\n", size,
                rc == 0 ? "OK" : cor_error_name(rc), err.msg);
    if (rc == 0) {
        FUZZ_CHECK(reply != NULL);
        check_reply(data, size, reply, reply_len);
        free(reply);
    } else {
        FUZZ_CHECK(rc < 0 && cor_error_name(rc) != NULL);
        FUZZ_CHECK(err.code == rc);
        FUZZ_CHECK(err.msg[0] != '\0');
    }
    FUZZ_CHECK(cor_object_delete(fuzz_rt, &fuzz_object_id, &err) == 0);
    FUZZ_CHECK(cor_runtime_object_count(fuzz_rt) == 0);
    return 0;
}
