/*
 * test_gen_tables.c — the generated tables and proxies do what the runtime
 * and applications rely on, checked on the golden output (tests/stubs/golden)
 * against a fake runtime, so it needs no libcor.
 *
 * This file defines cor_call(), cor_call_async() and cor_ctx_error() itself:
 * the fakes record what the generated code passed and answer with canned
 * replies. Checked: service and method tables (names, indexes, descriptors,
 * hints, shard keys, the escaped dm_chain decoding back to the exact .proto
 * text), skeleton dispatch through cor_method_desc_t.invoke (and COR_EUNIMPL
 * for a NULL ops member), the sync proxy's reply hand-off and the async
 * trampoline's cast back to the typed callback.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "a/b/kv.cor.h"
#include "echo/echo.cor.h"
#include "nopkg.cor.h"

/* ---- fake runtime ---- */

struct cor_ctx {
    int code;
    char msg[COR_ERROR_MSG_MAX];
};

int cor_ctx_error(cor_ctx_t *ctx, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->msg, sizeof(ctx->msg), fmt, ap);
    va_end(ap);
    ctx->code = code;
    return code;
}

static const cor_method_desc_t *last_method;
static const ProtobufCMessage *last_req;
static ProtobufCMessage *canned_reply;
static int canned_rc;

int cor_call(cor_ref_t *ref, const cor_method_desc_t *m, const ProtobufCMessage *req,
             ProtobufCMessage **reply, cor_error_t *err)
{
    last_method = m;
    last_req = req;
    *reply = canned_rc == 0 ? canned_reply : NULL;
    if (canned_rc != 0 && err != NULL) {
        err->code = canned_rc;
        snprintf(err->msg, sizeof(err->msg), "fake failure");
    }
    return canned_rc;
}

int cor_call_async(cor_ref_t *ref, const cor_method_desc_t *m, const ProtobufCMessage *req,
                   cor_call_done_cb done, cor_fn_t user_cb, void *user_arg)
{
    cor_error_t err = {.code = canned_rc};
    last_method = m;
    last_req = req;
    done(canned_rc, canned_rc == 0 ? canned_reply : NULL, &err, user_cb, user_arg);
    return 0;
}

/* ---- tables ---- */

static void test_kv_tables(void)
{
    const cor_service_desc_t *s = &a_b_key_value_store_service;
    CU_ASSERT_EQUAL(s->version, COR_SERVICE_DESC_VERSION);
    CU_ASSERT_STRING_EQUAL(s->name, "a.b.KeyValueStore");
    CU_ASSERT_STRING_EQUAL(s->proto_file, "a/b/kv.proto");
    /* the .proto text, after protoc's own unescaping */
    CU_ASSERT_STRING_EQUAL(s->dm_chain,
                           "DHT(shards=4, note=\"quoted\\path\"), ConsensusRSM(replicas=3) ?"
                           "?= \t");
    CU_ASSERT_EQUAL(s->n_methods, 4);
    CU_ASSERT_NOT_EQUAL(s->fingerprint, 0);

    const cor_method_desc_t *m = s->methods;
    CU_ASSERT_STRING_EQUAL(m[0].name, "Get");
    CU_ASSERT_EQUAL(m[0].index, A_B_KEY_VALUE_STORE_GET);
    CU_ASSERT_PTR_EQUAL(m[0].input, &a__b__get_request__descriptor);
    CU_ASSERT_PTR_EQUAL(m[0].output, &a__b__get_reply__descriptor);
    CU_ASSERT_EQUAL(m[0].hints, COR_METHOD_READ_ONLY | COR_METHOD_IDEMPOTENT);
    CU_ASSERT_STRING_EQUAL(m[0].shard_key, "key");

    CU_ASSERT_STRING_EQUAL(m[1].name, "PutValue");
    CU_ASSERT_EQUAL(m[1].index, A_B_KEY_VALUE_STORE_PUT_VALUE);
    CU_ASSERT_PTR_EQUAL(m[1].output, &blob__descriptor); /* imported, no package */
    CU_ASSERT_EQUAL(m[1].hints, COR_METHOD_MUTATING);

    CU_ASSERT_STRING_EQUAL(m[2].name, "GetHTTPStatus");
    CU_ASSERT_EQUAL(m[2].index, A_B_KEY_VALUE_STORE_GET_HTTP_STATUS);
    CU_ASSERT_PTR_EQUAL(m[2].input, &key__descriptor);
    CU_ASSERT_PTR_EQUAL(m[2].output, &a__b__httpstatus__descriptor);
    CU_ASSERT_EQUAL(m[2].hints, 0);
    CU_ASSERT_PTR_NULL(m[2].shard_key);

    CU_ASSERT_PTR_EQUAL(m[3].output, &blob__chunk__descriptor); /* nested type */
    CU_ASSERT_EQUAL(m[3].hints, COR_METHOD_READ_ONLY);
    CU_ASSERT_STRING_EQUAL(m[3].shard_key, "name");

    for (unsigned i = 0; i < s->n_methods; i++) {
        CU_ASSERT_EQUAL(m[i].index, i);
        CU_ASSERT_PTR_NOT_NULL(m[i].invoke);
    }
}

static void test_empty_service(void)
{
    CU_ASSERT_STRING_EQUAL(a_b_admin_service.name, "a.b.Admin");
    CU_ASSERT_STRING_EQUAL(a_b_admin_service.dm_chain, "");
    CU_ASSERT_EQUAL(a_b_admin_service.n_methods, 0);
    CU_ASSERT_PTR_NULL(a_b_admin_service.methods);
    CU_ASSERT_NOT_EQUAL(a_b_admin_service.fingerprint, a_b_key_value_store_service.fingerprint);
}

/* ---- skeleton dispatch ---- */

static void *seen_self;
static const Echo__AddRequest *seen_add_req;

static int fake_add(void *self, cor_ctx_t *ctx, const Echo__AddRequest *req,
                    Echo__AddReply *reply)
{
    seen_self = self;
    seen_add_req = req;
    reply->total = req->delta * 2;
    return 0;
}

static int fake_do(void *self, cor_ctx_t *ctx, const Key *req, Key *reply)
{
    reply->name = req->name;
    return 0;
}

static void test_invoke(void)
{
    const echo_echo_ops_t ops = {.add = fake_add}; /* say and sleep left NULL */
    cor_ctx_t ctx = {0};
    int self = 0;
    Echo__AddRequest req = ECHO__ADD_REQUEST__INIT;
    Echo__AddReply reply = ECHO__ADD_REPLY__INIT;
    req.delta = 21;

    const cor_method_desc_t *add = &echo_echo_service.methods[ECHO_ECHO_ADD];
    CU_ASSERT_EQUAL(add->invoke(&ops, &self, &ctx, &req.base, &reply.base), 0);
    CU_ASSERT_PTR_EQUAL(seen_self, &self);
    CU_ASSERT_PTR_EQUAL(seen_add_req, &req);
    CU_ASSERT_EQUAL(reply.total, 42);

    Echo__SayRequest sreq = ECHO__SAY_REQUEST__INIT;
    Echo__SayReply sreply = ECHO__SAY_REPLY__INIT;
    const cor_method_desc_t *say = &echo_echo_service.methods[ECHO_ECHO_SAY];
    CU_ASSERT_EQUAL(say->invoke(&ops, &self, &ctx, &sreq.base, &sreply.base), COR_EUNIMPL);
    CU_ASSERT_EQUAL(ctx.code, COR_EUNIMPL);
    CU_ASSERT_PTR_NOT_NULL(strstr(ctx.msg, "echo.Echo.Say"));

    /* a keyword method: the ops member is do_ */
    const http_gateway_ops_t gw = {.do_ = fake_do};
    Key kreq = KEY__INIT, kreply = KEY__INIT;
    kreq.name = "k";
    const cor_method_desc_t *d = &http_gateway_service.methods[HTTP_GATEWAY_DO];
    CU_ASSERT_STRING_EQUAL(d->name, "Do_");
    CU_ASSERT_EQUAL(d->invoke(&gw, NULL, &ctx, &kreq.base, &kreply.base), 0);
    CU_ASSERT_STRING_EQUAL(kreply.name, "k");
}

/* ---- client proxies ---- */

static int cb_calls, cb_rc;
static Echo__SayReply *cb_reply;
static void *cb_arg;

static void on_say(int rc, Echo__SayReply *reply, const cor_error_t *err, void *arg)
{
    cb_calls++;
    cb_rc = rc;
    cb_reply = reply;
    cb_arg = arg;
}

static void test_proxies(void)
{
    Echo__SayRequest req = ECHO__SAY_REQUEST__INIT;
    Echo__SayReply canned = ECHO__SAY_REPLY__INIT;
    Echo__SayReply *reply = (Echo__SayReply *)&req; /* must be overwritten */
    cor_error_t err = {0};
    cor_ref_t *ref = (cor_ref_t *)&err; /* opaque; the fake never looks */

    canned_rc = 0;
    canned_reply = &canned.base;
    CU_ASSERT_EQUAL(echo_echo_say(ref, &req, &reply, &err), 0);
    CU_ASSERT_PTR_EQUAL(reply, &canned);
    CU_ASSERT_PTR_EQUAL(last_method, &echo_echo_service.methods[ECHO_ECHO_SAY]);
    CU_ASSERT_PTR_EQUAL(last_req, &req.base);

    canned_rc = COR_ETIMEDOUT;
    CU_ASSERT_EQUAL(echo_echo_say(ref, &req, &reply, &err), COR_ETIMEDOUT);
    CU_ASSERT_PTR_NULL(reply);

    canned_rc = 0;
    int tag;
    CU_ASSERT_EQUAL(echo_echo_say_async(ref, &req, on_say, &tag), 0);
    CU_ASSERT_EQUAL(cb_calls, 1);
    CU_ASSERT_EQUAL(cb_rc, 0);
    CU_ASSERT_PTR_EQUAL(cb_reply, &canned);
    CU_ASSERT_PTR_EQUAL(cb_arg, &tag);
    CU_ASSERT_PTR_EQUAL(last_method, &echo_echo_service.methods[ECHO_ECHO_SAY]);

    A__B__PutRequest put = A__B__PUT_REQUEST__INIT;
    Blob *blob = NULL;
    Blob canned_blob = BLOB__INIT;
    canned_reply = &canned_blob.base;
    CU_ASSERT_EQUAL(a_b_key_value_store_put_value(ref, &put, &blob, &err), 0);
    CU_ASSERT_PTR_EQUAL(blob, &canned_blob);
    CU_ASSERT_STRING_EQUAL(last_method->name, "PutValue");
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("gen_tables", NULL, NULL);
    if (s == NULL || !CU_add_test(s, "kv tables", test_kv_tables) ||
        !CU_add_test(s, "empty service", test_empty_service) ||
        !CU_add_test(s, "skeleton dispatch", test_invoke) ||
        !CU_add_test(s, "client proxies", test_proxies)) {
        CU_cleanup_registry();
        return 1;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed == 0 ? 0 : 1;
}
