/*
 * test_etcd.c — the etcd client's pure parts (etcd/etcd_int.h), no etcd
 * needed: base64 both ways and its refusals, the JSON bodies it sends
 * (int64s as strings, prefix range ends), replies as the 3.4 gateway
 * writes them (captured from etcd 3.4.23, absent fields included) and
 * malformed ones, error bodies of both gateway generations and of things
 * that are not etcd, watch messages, and the watch stream splitter fed
 * every chunking of a stream.
 */
#include <etcd_int.h>

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

/* ---- base64 ---- */

static void test_base64_vectors(void)
{
    /* RFC 4648 §10. */
    const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char out[16];
        CU_ASSERT_EQUAL(cor_etcd_b64_len(strlen(plain[i])), strlen(enc[i]));
        cor_etcd_b64_encode(plain[i], strlen(plain[i]), out);
        CU_ASSERT_STRING_EQUAL(out, enc[i]);
        uint8_t *dec;
        size_t n;
        cor_error_t err;
        CU_ASSERT_EQUAL_FATAL(cor_etcd_b64_decode(enc[i], strlen(enc[i]), &dec, &n, &err), 0);
        CU_ASSERT_EQUAL(n, strlen(plain[i]));
        CU_ASSERT_STRING_EQUAL((char *)dec, plain[i]); /* NUL-terminated */
        free(dec);
    }
}

static void test_base64_binary_roundtrip(void)
{
    uint8_t all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    for (size_t len = 0; len <= sizeof(all); len++) {
        const uint8_t *src = all + (sizeof(all) - len); /* ends with 0xff */
        char *enc = malloc(cor_etcd_b64_len(len) + 1);
        cor_etcd_b64_encode(src, len, enc);
        uint8_t *dec;
        size_t n;
        cor_error_t err;
        CU_ASSERT_EQUAL(cor_etcd_b64_decode(enc, strlen(enc), &dec, &n, &err), 0);
        CU_ASSERT_EQUAL(n, len);
        CU_ASSERT(memcmp(dec, src, len) == 0);
        free(dec);
        free(enc);
    }
    /* '+' and '/' both appear. */
    const uint8_t hi[] = {0xfb, 0xff, 0xbf};
    char out[8];
    cor_etcd_b64_encode(hi, 3, out);
    CU_ASSERT_STRING_EQUAL(out, "+/+/");
}

static void test_base64_refusals(void)
{
    static const struct {
        const char *in, *msg;
    } bad[] = {
        {"Zg=", "not a multiple of 4"},
        {"Zm9vY", "not a multiple of 4"},
        {"Zm 9", "outside its alphabet"},
        {"Zm9v\n", "not a multiple of 4"},
        {"Zm-_", "outside its alphabet"},  /* the URL-safe alphabet is not ours */
        {"Zg==Zg==", "before the end"},
        {"A===", "before the end"},
        {"====", "before the end"},
        {"Zh==", "non-zero padding bits"}, /* 'h' leaves bits set */
        {"Zm9=", "non-zero padding bits"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t *dec = (uint8_t *)"x";
        size_t n = 7;
        cor_error_t err;
        cor_error_clear(&err);
        CU_ASSERT_EQUAL(cor_etcd_b64_decode(bad[i].in, strlen(bad[i].in), &dec, &n, &err),
                        COR_EINVAL);
        CU_ASSERT(dec == NULL && n == 0);
        if (strstr(err.msg, bad[i].msg) == NULL)
            fprintf(stderr, "%s: got '%s'\n", bad[i].in, err.msg);
        CU_ASSERT(strstr(err.msg, bad[i].msg) != NULL);
    }
}

/* ---- request bodies ---- */

static json_object *parsed(char *body)
{
    CU_ASSERT_FATAL(body != NULL);
    json_object *o = json_tokener_parse(body);
    free(body);
    CU_ASSERT_FATAL(o != NULL);
    return o;
}

static const char *field(json_object *o, const char *path)
{
    /* "a.b" walks objects; returns the string value or NULL */
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    json_object *cur = o;
    for (char *tok = strtok(buf, "."); tok != NULL; tok = strtok(NULL, ".")) {
        if (!json_object_object_get_ex(cur, tok, &cur))
            return NULL;
    }
    return json_object_get_string(cur);
}

static void test_bodies(void)
{
    cor_error_t err;
    cor_etcd_op_t put = {.kind = COR_ETCD_PUT, .key = "foo", .key_len = 3, .value = "bar",
                         .value_len = 3, .lease = 7587854466451439632LL, .prev_kv = 1};
    json_object *o = parsed(cor_etcd_json_op(&put, &err));
    CU_ASSERT_STRING_EQUAL(field(o, "key"), "Zm9v");
    CU_ASSERT_STRING_EQUAL(field(o, "value"), "YmFy");
    /* above 2^53: must travel as a string to survive */
    CU_ASSERT_STRING_EQUAL(field(o, "lease"), "7587854466451439632");
    CU_ASSERT(json_object_is_type(json_object_object_get(o, "lease"), json_type_string));
    CU_ASSERT_STRING_EQUAL(field(o, "prev_kv"), "true");
    json_object_put(o);

    /* An empty value is sent (etcd stores ""), zero fields are not. */
    cor_etcd_op_t empty = {.kind = COR_ETCD_PUT, .key = "k", .key_len = 1};
    o = parsed(cor_etcd_json_op(&empty, &err));
    CU_ASSERT_STRING_EQUAL(field(o, "value"), "");
    CU_ASSERT(field(o, "lease") == NULL && field(o, "prev_kv") == NULL);
    json_object_put(o);

    /* Prefix ranges: last byte + 1; trailing 0xff dropped; all 0xff: "\0". */
    static const struct {
        const char *key;
        size_t len;
        const char *end_b64;
    } pre[] = {{"a/", 2, "YTA="}, {"a\xff", 2, "Yg=="}, {"a\xff\xff", 3, "Yg=="},
               {"\xff", 1, "AA=="}, {"/", 1, "MA=="}};
    for (size_t i = 0; i < sizeof(pre) / sizeof(pre[0]); i++) {
        cor_etcd_op_t r = {.kind = COR_ETCD_RANGE, .key = pre[i].key, .key_len = pre[i].len,
                           .prefix = 1, .limit = 10, .revision = 42, .serializable = 1};
        o = parsed(cor_etcd_json_op(&r, &err));
        CU_ASSERT_STRING_EQUAL(field(o, "range_end"), pre[i].end_b64);
        CU_ASSERT_STRING_EQUAL(field(o, "limit"), "10");
        CU_ASSERT_STRING_EQUAL(field(o, "revision"), "42");
        CU_ASSERT_STRING_EQUAL(field(o, "serializable"), "true");
        CU_ASSERT(field(o, "keys_only") == NULL);
        json_object_put(o);
    }

    cor_etcd_cmp_t cmp[2] = {
        {.target = COR_ETCD_CMP_CREATE, .result = COR_ETCD_EQUAL, .key = "e", .key_len = 1},
        {.target = COR_ETCD_CMP_VALUE, .result = COR_ETCD_NOT_EQUAL, .key = "e", .key_len = 1,
         .value = "v", .value_len = 1},
    };
    cor_etcd_op_t del = {.kind = COR_ETCD_DELETE, .key = "d", .key_len = 1};
    cor_etcd_txn_t t = {.cmp = cmp, .n_cmp = 2, .success = &put, .n_success = 1,
                        .failure = &del, .n_failure = 1};
    o = parsed(cor_etcd_json_txn(&t, &err));
    json_object *c0 = json_object_array_get_idx(json_object_object_get(o, "compare"), 0);
    json_object *c1 = json_object_array_get_idx(json_object_object_get(o, "compare"), 1);
    CU_ASSERT_STRING_EQUAL(field(c0, "target"), "CREATE");
    CU_ASSERT_STRING_EQUAL(field(c0, "result"), "EQUAL");
    CU_ASSERT_STRING_EQUAL(field(c0, "create_revision"), "0"); /* 0 is the point: sent */
    CU_ASSERT_STRING_EQUAL(field(c1, "target"), "VALUE");
    CU_ASSERT_STRING_EQUAL(field(c1, "result"), "NOT_EQUAL");
    CU_ASSERT_STRING_EQUAL(field(c1, "value"), "dg==");
    json_object *s0 = json_object_array_get_idx(json_object_object_get(o, "success"), 0);
    json_object *f0 = json_object_array_get_idx(json_object_object_get(o, "failure"), 0);
    CU_ASSERT_STRING_EQUAL(field(s0, "request_put.key"), "Zm9v");
    CU_ASSERT_STRING_EQUAL(field(f0, "request_delete_range.key"), "ZA==");
    json_object_put(o);

    o = parsed(cor_etcd_json_number(COR_ETCD_LEASE_GRANT, 10, &err));
    CU_ASSERT_STRING_EQUAL(field(o, "TTL"), "10");
    json_object_put(o);
    o = parsed(cor_etcd_json_number(COR_ETCD_LEASE_KEEPALIVE, 694, &err));
    CU_ASSERT_STRING_EQUAL(field(o, "ID"), "694");
    json_object_put(o);
    o = parsed(cor_etcd_json_number(COR_ETCD_COMPACT, 99, &err));
    CU_ASSERT_STRING_EQUAL(field(o, "revision"), "99");
    CU_ASSERT_STRING_EQUAL(field(o, "physical"), "true");
    json_object_put(o);

    cor_etcd_watch_options_t w = {.key = "p/", .key_len = 2, .prefix = 1, .prev_kv = 1,
                                  .progress_notify = 1};
    o = parsed(cor_etcd_json_watch(&w, 17, &err));
    CU_ASSERT_STRING_EQUAL(field(o, "create_request.progress_notify"), "true");
    CU_ASSERT_STRING_EQUAL(field(o, "create_request.key"), "cC8=");
    CU_ASSERT_STRING_EQUAL(field(o, "create_request.range_end"), "cDA=");
    CU_ASSERT_STRING_EQUAL(field(o, "create_request.start_revision"), "17");
    json_object_put(o);
}

static void test_body_refusals(void)
{
    cor_error_t err;
    cor_etcd_op_t nokey = {.kind = COR_ETCD_PUT, .key = "", .key_len = 0};
    CU_ASSERT(cor_etcd_json_op(&nokey, &err) == NULL);
    CU_ASSERT_EQUAL(err.code, COR_EINVAL);
    CU_ASSERT(strstr(err.msg, "key is empty") != NULL);
    cor_etcd_op_t both = {.kind = COR_ETCD_RANGE, .key = "a", .key_len = 1, .prefix = 1,
                          .range_end = "b", .range_end_len = 1};
    CU_ASSERT(cor_etcd_json_op(&both, &err) == NULL);
    CU_ASSERT(strstr(err.msg, "both prefix and range_end") != NULL);
    cor_etcd_op_t kind = {.kind = COR_ETCD_LEASE_GRANT, .key = "a", .key_len = 1};
    CU_ASSERT(cor_etcd_json_op(&kind, &err) == NULL);
    CU_ASSERT(strstr(err.msg, "not range, put or delete") != NULL);
    cor_etcd_op_t neg = {.kind = COR_ETCD_RANGE, .key = "a", .key_len = 1, .limit = -1};
    CU_ASSERT(cor_etcd_json_op(&neg, &err) == NULL);
    CU_ASSERT(cor_etcd_json_number(COR_ETCD_LEASE_GRANT, 0, &err) == NULL);
    CU_ASSERT(strstr(err.msg, "TTL must be positive") != NULL);
    cor_etcd_op_t bad_in_txn[2] = {{.kind = COR_ETCD_PUT, .key = "a", .key_len = 1},
                                   {.kind = COR_ETCD_PUT, .key = NULL, .key_len = 0}};
    cor_etcd_txn_t t = {.success = bad_in_txn, .n_success = 2};
    CU_ASSERT(cor_etcd_json_txn(&t, &err) == NULL);
    CU_ASSERT(strstr(err.msg, "success[1]") != NULL);
    cor_etcd_cmp_t c = {.target = (cor_etcd_target_t)9, .key = "a", .key_len = 1};
    cor_etcd_txn_t t2 = {.cmp = &c, .n_cmp = 1};
    CU_ASSERT(cor_etcd_json_txn(&t2, &err) == NULL);
    CU_ASSERT(strstr(err.msg, "compare[0]: unknown target") != NULL);
}

/* ---- replies ---- */

static cor_etcd_reply_t *reply_ok(cor_etcd_kind_t kind, const char *body)
{
    cor_etcd_reply_t *r = NULL;
    cor_error_t err;
    cor_error_clear(&err);
    int rc = cor_etcd_json_reply(kind, body, strlen(body), &r, &err);
    if (rc != 0)
        fprintf(stderr, "reply: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    return r;
}

#define HDR "\"header\":{\"cluster_id\":\"15118495548433857066\",\"member_id\":\"13668033151171901709\",\"revision\":\"7\",\"raft_term\":\"2\"}"

static void test_replies(void)
{
    cor_etcd_reply_t *r = reply_ok(COR_ETCD_RANGE,
        "{" HDR ",\"kvs\":[{\"key\":\"YS8x\",\"create_revision\":\"6\",\"mod_revision\":\"6\","
        "\"version\":\"1\",\"value\":\"MQ==\"},{\"key\":\"YS8y\",\"create_revision\":\"7\","
        "\"mod_revision\":\"7\",\"version\":\"1\"}],\"more\":true,\"count\":\"2\"}");
    CU_ASSERT_EQUAL(r->kind, COR_ETCD_RANGE);
    CU_ASSERT_EQUAL(r->revision, 7);
    CU_ASSERT_EQUAL(r->raft_term, 2);
    CU_ASSERT_EQUAL(r->member_id, 13668033151171901709ULL);
    CU_ASSERT_EQUAL_FATAL(r->n_kvs, 2);
    CU_ASSERT_STRING_EQUAL((char *)r->kvs[0].key, "a/1");
    CU_ASSERT_STRING_EQUAL((char *)r->kvs[0].value, "1");
    CU_ASSERT_EQUAL(r->kvs[1].value_len, 0); /* "" is left out */
    CU_ASSERT(r->kvs[1].value != NULL);
    CU_ASSERT_EQUAL(r->kvs[1].lease, 0);
    CU_ASSERT_EQUAL(r->count, 2);
    CU_ASSERT_EQUAL(r->more, 1);
    cor_etcd_reply_free(r);

    /* An empty range: no kvs, no count, no more. */
    r = reply_ok(COR_ETCD_RANGE, "{" HDR "}");
    CU_ASSERT_EQUAL(r->n_kvs, 0);
    CU_ASSERT(r->kvs == NULL);
    CU_ASSERT_EQUAL(r->count, 0);
    cor_etcd_reply_free(r);
    /* Not even a header (nothing requires one). */
    r = reply_ok(COR_ETCD_RANGE, "{}");
    CU_ASSERT_EQUAL(r->revision, 0);
    cor_etcd_reply_free(r);
    /* JSON numbers where strings are usual are taken too. */
    r = reply_ok(COR_ETCD_RANGE, "{\"header\":{\"revision\":12},\"count\":3}");
    CU_ASSERT_EQUAL(r->revision, 12);
    CU_ASSERT_EQUAL(r->count, 3);
    cor_etcd_reply_free(r);

    r = reply_ok(COR_ETCD_PUT, "{" HDR ",\"prev_kv\":{\"key\":\"YS8x\",\"create_revision\":\"6\","
                               "\"mod_revision\":\"8\",\"version\":\"2\",\"value\":\"eA==\"}}");
    CU_ASSERT_EQUAL_FATAL(r->n_kvs, 1);
    CU_ASSERT_STRING_EQUAL((char *)r->kvs[0].value, "x");
    CU_ASSERT_EQUAL(r->kvs[0].version, 2);
    cor_etcd_reply_free(r);

    r = reply_ok(COR_ETCD_DELETE, "{" HDR ",\"deleted\":\"1\",\"prev_kvs\":[{\"key\":\"Zm9v\","
                                  "\"value\":\"YmFy\",\"lease\":\"7587854466451439632\"}]}");
    CU_ASSERT_EQUAL(r->count, 1);
    CU_ASSERT_EQUAL_FATAL(r->n_kvs, 1);
    CU_ASSERT_EQUAL(r->kvs[0].lease, 7587854466451439632LL);
    cor_etcd_reply_free(r);

    /* A txn whose compare failed: no "succeeded"; responses of the failure
     * branch. */
    r = reply_ok(COR_ETCD_TXN,
        "{" HDR ",\"responses\":[{\"response_range\":{\"header\":{\"revision\":\"2\"},\"kvs\":[{"
        "\"key\":\"Zm9v\",\"create_revision\":\"2\",\"mod_revision\":\"2\",\"version\":\"1\","
        "\"value\":\"YmFy\"}],\"count\":\"1\"}},{\"response_put\":{\"header\":{\"revision\":\"2\"}}},"
        "{\"response_delete_range\":{\"header\":{\"revision\":\"2\"},\"deleted\":\"1\"}}]}");
    CU_ASSERT_EQUAL(r->succeeded, 0);
    CU_ASSERT_EQUAL_FATAL(r->n_responses, 3);
    CU_ASSERT_EQUAL(r->responses[0].kind, COR_ETCD_RANGE);
    CU_ASSERT_EQUAL(r->responses[0].n_kvs, 1);
    CU_ASSERT_EQUAL(r->responses[0].revision, 2);
    CU_ASSERT_EQUAL(r->responses[1].kind, COR_ETCD_PUT);
    CU_ASSERT_EQUAL(r->responses[2].kind, COR_ETCD_DELETE);
    CU_ASSERT_EQUAL(r->responses[2].count, 1);
    cor_etcd_reply_free(r);
    r = reply_ok(COR_ETCD_TXN, "{" HDR ",\"succeeded\":true}");
    CU_ASSERT_EQUAL(r->succeeded, 1);
    CU_ASSERT_EQUAL(r->n_responses, 0);
    cor_etcd_reply_free(r);

    r = reply_ok(COR_ETCD_LEASE_GRANT, "{" HDR ",\"ID\":\"4111120435228700937\",\"TTL\":\"5\"}");
    CU_ASSERT_EQUAL(r->lease_id, 4111120435228700937LL);
    CU_ASSERT_EQUAL(r->ttl, 5);
    cor_etcd_reply_free(r);
    /* keepalive answers inside {"result":{}} */
    r = reply_ok(COR_ETCD_LEASE_KEEPALIVE,
                 "{\"result\":{" HDR ",\"ID\":\"4111120435228700937\",\"TTL\":\"5\"}}");
    CU_ASSERT_EQUAL(r->ttl, 5);
    cor_etcd_reply_free(r);
    r = reply_ok(COR_ETCD_LEASE_REVOKE, "{" HDR "}");
    CU_ASSERT_EQUAL(r->revision, 7);
    cor_etcd_reply_free(r);
}

static void reply_bad(cor_etcd_kind_t kind, const char *body, int code, const char *msg)
{
    cor_etcd_reply_t *r = (cor_etcd_reply_t *)1;
    cor_error_t err;
    cor_error_clear(&err);
    CU_ASSERT_EQUAL(cor_etcd_json_reply(kind, body, strlen(body), &r, &err), code);
    CU_ASSERT(r == NULL);
    CU_ASSERT_EQUAL(err.code, code);
    if (strstr(err.msg, msg) == NULL)
        fprintf(stderr, "body %s: wanted '%s', got '%s'\n", body, msg, err.msg);
    CU_ASSERT(strstr(err.msg, msg) != NULL);
}

static void test_malformed_replies(void)
{
    reply_bad(COR_ETCD_RANGE, "", COR_EPROTO, "/v3/kv/range reply: empty body");
    reply_bad(COR_ETCD_RANGE, "<html>bad gateway</html>", COR_EPROTO, "not JSON");
    reply_bad(COR_ETCD_RANGE, "{\"header\":{\"revision\":\"7\"", COR_EPROTO, "truncated JSON");
    reply_bad(COR_ETCD_RANGE, "[1,2]", COR_EPROTO, "a JSON array, not an object");
    reply_bad(COR_ETCD_RANGE, "{} {}", COR_EPROTO, "data after the JSON value");
    reply_bad(COR_ETCD_RANGE, "{\"header\":{\"revision\":\"12x\"}}", COR_EPROTO,
              "header.revision: '12x' is not an int64");
    reply_bad(COR_ETCD_RANGE, "{\"header\":{\"revision\":\"\"}}", COR_EPROTO,
              "header.revision: '' is not an int64");
    reply_bad(COR_ETCD_RANGE, "{\"header\":{\"revision\":\"99999999999999999999\"}}", COR_EPROTO,
              "is not an int64");
    reply_bad(COR_ETCD_RANGE, "{\"header\":{\"revision\":1.5}}", COR_EPROTO,
              "header.revision: not a string holding an int64");
    reply_bad(COR_ETCD_RANGE, "{\"header\":[]}", COR_EPROTO, "header: a JSON array, not object");
    reply_bad(COR_ETCD_RANGE, "{\"kvs\":{}}", COR_EPROTO, "kvs: a JSON object, not array");
    reply_bad(COR_ETCD_RANGE, "{\"kvs\":[{\"key\":\"YQ==\"},{\"key\":\"!!\"}]}", COR_EPROTO,
              "kvs[1].key: base64 of length 2");
    reply_bad(COR_ETCD_RANGE, "{\"kvs\":[{\"key\":\"YQ==\"},7]}", COR_EPROTO, "kvs[1]: not an object");
    reply_bad(COR_ETCD_RANGE, "{\"kvs\":[{\"key\":\"YQ==\",\"value\":5}]}", COR_EPROTO,
              "kvs[0].value: a JSON int, not string");
    reply_bad(COR_ETCD_RANGE, "{\"more\":\"yes\"}", COR_EPROTO, "more: a JSON string, not boolean");
    reply_bad(COR_ETCD_TXN, "{\"responses\":[{\"response_txn\":{}}]}", COR_EPROTO,
              "responses[0]: no response_range");
    reply_bad(COR_ETCD_TXN, "{\"responses\":[{\"response_put\":{\"prev_kv\":{\"key\":\"%%%%\"}}}]}",
              COR_EPROTO, "responses[0].prev_kv.key: base64 has a byte 0x25");
    reply_bad(COR_ETCD_LEASE_KEEPALIVE, "{\"ID\":\"1\",\"TTL\":\"5\"}", COR_EPROTO,
              "no \"result\"");
    /* A keepalive of a lease that is gone: etcd answers with no TTL. */
    reply_bad(COR_ETCD_LEASE_KEEPALIVE, "{\"result\":{" HDR ",\"ID\":\"123\"}}", COR_ENOTFOUND,
              "lease 123 has expired or was revoked");
    reply_bad(COR_ETCD_LEASE_KEEPALIVE,
              "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"etcdserver: no leader\"}}",
              COR_EUNAVAIL, "no leader");
    reply_bad(COR_ETCD_LEASE_GRANT, "{\"ID\":\"1\",\"error\":\"lease too big\"}", COR_EUNAVAIL,
              "lease too big");
}

static void error_case(long status, const char *body, int code, const char *msg)
{
    cor_error_t err;
    cor_error_clear(&err);
    CU_ASSERT_EQUAL(cor_etcd_json_error(status, body, strlen(body), &err), code);
    CU_ASSERT_EQUAL(err.code, code);
    if (strstr(err.msg, msg) == NULL)
        fprintf(stderr, "error %ld %s: wanted '%s', got '%s'\n", status, body, msg, err.msg);
    CU_ASSERT(strstr(err.msg, msg) != NULL);
}

static void test_error_bodies(void)
{
    /* 3.4 */
    error_case(404, "{\"error\":\"etcdserver: requested lease not found\",\"message\":"
                    "\"etcdserver: requested lease not found\",\"code\":5}",
               COR_ENOTFOUND, "etcd: etcdserver: requested lease not found (HTTP 404, gRPC code 5)");
    error_case(400, "{\"error\":\"etcdserver: mvcc: required revision has been compacted\","
                    "\"message\":\"etcdserver: mvcc: required revision has been compacted\","
                    "\"code\":11}",
               COR_EINVAL, "compacted");
    error_case(400, "{\"error\":\"illegal base64 data at input byte 0\",\"code\":3}", COR_EINVAL,
               "illegal base64 data");
    /* 3.5+: no "error" */
    error_case(503, "{\"code\":14,\"message\":\"etcdserver: no leader\",\"details\":[]}",
               COR_EUNAVAIL, "no leader (HTTP 503, gRPC code 14)");
    /* A message without a usable code: the status decides. */
    error_case(403, "{\"message\":\"nope\",\"code\":\"x\"}", COR_EPERM, "etcd: nope (HTTP 403)");
    /* Not etcd at all. */
    error_case(404, "Not Found\n", COR_ENOTFOUND, "HTTP 404 and a body that is not etcd's error "
                                                  "JSON: 'Not Found.'");
    error_case(502, "<html><body>Bad Gateway</body></html>", COR_EUNAVAIL, "HTTP 502");
    error_case(500, "", COR_EUNAVAIL, "HTTP 500");
    error_case(302, "", COR_EPROTO, "HTTP 302");
}

/* ---- watch messages ---- */

static void test_watch_messages(void)
{
    cor_etcd_watch_msg_t m;
    cor_error_t err;
    const char *created = "{\"result\":{" HDR ",\"created\":true}}";
    CU_ASSERT_EQUAL(cor_etcd_json_watch_msg(created, strlen(created), &m, &err), 0);
    CU_ASSERT_EQUAL(m.created, 1);
    CU_ASSERT_EQUAL(m.revision, 7);
    CU_ASSERT_EQUAL(m.n_events, 0);
    cor_etcd_watch_msg_close(&m);

    /* A PUT has no "type"; a DELETE's kv has only key and mod_revision. */
    const char *events =
        "{\"result\":{" HDR ",\"events\":[{\"kv\":{\"key\":\"Zm9v\",\"create_revision\":\"2\","
        "\"mod_revision\":\"2\",\"version\":\"1\",\"value\":\"YmFy\"}},{\"type\":\"DELETE\",\"kv\":"
        "{\"key\":\"Zm9v\",\"mod_revision\":\"3\"},\"prev_kv\":{\"key\":\"Zm9v\",\"value\":\"YmFy\"}}]}}";
    CU_ASSERT_EQUAL(cor_etcd_json_watch_msg(events, strlen(events), &m, &err), 0);
    CU_ASSERT_EQUAL_FATAL(m.n_events, 2);
    CU_ASSERT_EQUAL(m.events[0].type, COR_ETCD_EVENT_PUT);
    CU_ASSERT_STRING_EQUAL((char *)m.events[0].kv.value, "bar");
    CU_ASSERT_EQUAL(m.events[0].has_prev_kv, 0);
    CU_ASSERT_EQUAL(m.events[1].type, COR_ETCD_EVENT_DELETE);
    CU_ASSERT_EQUAL(m.events[1].kv.mod_revision, 3);
    CU_ASSERT_EQUAL(m.events[1].kv.version, 0);
    CU_ASSERT_EQUAL(m.events[1].has_prev_kv, 1);
    CU_ASSERT_STRING_EQUAL((char *)m.events[1].prev_kv.value, "bar");
    cor_etcd_watch_msg_close(&m);

    /* Compacted: the header has no revision, compact_revision says what is
     * kept. */
    const char *comp = "{\"result\":{\"header\":{\"cluster_id\":\"1\",\"member_id\":\"2\","
                       "\"raft_term\":\"2\"},\"canceled\":true,\"compact_revision\":\"4\"}}";
    CU_ASSERT_EQUAL(cor_etcd_json_watch_msg(comp, strlen(comp), &m, &err), 0);
    CU_ASSERT_EQUAL(m.canceled, 1);
    CU_ASSERT_EQUAL(m.compact_revision, 4);
    CU_ASSERT_EQUAL(m.revision, 0);
    cor_etcd_watch_msg_close(&m);

    const char *serr = "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"etcdserver: "
                       "no leader\",\"http_status\":\"Service Unavailable\"}}";
    CU_ASSERT_EQUAL(cor_etcd_json_watch_msg(serr, strlen(serr), &m, &err), COR_EUNAVAIL);
    CU_ASSERT(strstr(err.msg, "no leader") != NULL);
    cor_etcd_watch_msg_close(&m);

    static const struct {
        const char *line, *msg;
    } bad[] = {
        {"{\"result\":{\"events\":[{\"type\":\"EXPIRE\",\"kv\":{}}]}}", "unknown event type EXPIRE"},
        {"{\"result\":{\"events\":[{\"type\":\"PUT\"}]}}", "events[0].kv: missing"},
        {"{\"result\":{\"events\":[{\"kv\":{\"key\":\"Zm9v\"}},{\"kv\":{\"mod_revision\":\"x\"}}]}}",
         "events[1].kv.mod_revision: 'x' is not an int64"},
        {"{\"result\":{\"events\":{}}}", "events: a JSON object, not array"},
        {"{\"header\":{}}", "neither \"result\" nor \"error\""},
        {"{\"result\":{\"created\":tru", "truncated JSON"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cor_error_clear(&err);
        CU_ASSERT_EQUAL(cor_etcd_json_watch_msg(bad[i].line, strlen(bad[i].line), &m, &err),
                        COR_EPROTO);
        if (strstr(err.msg, bad[i].msg) == NULL)
            fprintf(stderr, "%s: wanted '%s', got '%s'\n", bad[i].line, bad[i].msg, err.msg);
        CU_ASSERT(strstr(err.msg, bad[i].msg) != NULL);
        cor_etcd_watch_msg_close(&m);
    }
}

/* ---- the stream splitter ---- */

typedef struct collect {
    char out[4096];
    size_t len;
    int lines;
    int stop_after;
} collect_t;

static int collect_line(void *arg, const char *line, size_t len)
{
    collect_t *c = arg;
    CU_ASSERT(memchr(line, '\n', len) == NULL);
    CU_ASSERT(len > 0);
    if (c->len + len + 1 < sizeof(c->out)) {
        memcpy(c->out + c->len, line, len);
        c->len += len;
        c->out[c->len++] = '|';
        c->out[c->len] = '\0';
    }
    c->lines++;
    return c->stop_after && c->lines >= c->stop_after;
}

static void test_lines_every_chunking(void)
{
    /* Three messages, a CRLF, a blank line; cut in every way into up to
     * three chunks, and into chunks of every fixed size. */
    const char *stream = "{\"result\":{\"created\":true}}\n{\"a\":1}\r\n\n{\"b\":\"x\\ny\"}\n";
    const char *want = "{\"result\":{\"created\":true}}|{\"a\":1}|{\"b\":\"x\\ny\"}|";
    size_t n = strlen(stream);
    for (size_t i = 0; i <= n; i++) {
        for (size_t j = i; j <= n; j++) {
            cor_etcd_lines_t l;
            cor_etcd_lines_init(&l, 1024);
            collect_t c = {.len = 0};
            cor_error_t err;
            CU_ASSERT_EQUAL(cor_etcd_lines_feed(&l, stream, i, collect_line, &c, &err), 0);
            CU_ASSERT_EQUAL(cor_etcd_lines_feed(&l, stream + i, j - i, collect_line, &c, &err), 0);
            CU_ASSERT_EQUAL(cor_etcd_lines_feed(&l, stream + j, n - j, collect_line, &c, &err), 0);
            CU_ASSERT_STRING_EQUAL(c.out, want);
            CU_ASSERT_EQUAL(cor_etcd_lines_pending(&l), 0);
            cor_etcd_lines_close(&l);
        }
    }
    for (size_t size = 1; size <= n; size++) {
        cor_etcd_lines_t l;
        cor_etcd_lines_init(&l, 1024);
        collect_t c = {.len = 0};
        cor_error_t err;
        for (size_t off = 0; off < n; off += size)
            CU_ASSERT_EQUAL(cor_etcd_lines_feed(&l, stream + off, off + size > n ? n - off : size,
                                                collect_line, &c, &err), 0);
        CU_ASSERT_STRING_EQUAL(c.out, want);
        cor_etcd_lines_close(&l);
    }
    /* Random chunkings of a longer stream (seeded: replayable). */
    char big[2048];
    size_t bl = 0;
    char bigwant[2048];
    size_t wl = 0;
    for (int i = 0; i < 60; i++) {
        int k = snprintf(big + bl, sizeof(big) - bl, "{\"n\":%d,\"pad\":\"%.*s\"}\n", i, i % 17,
                         "xxxxxxxxxxxxxxxxxxxx");
        memcpy(bigwant + wl, big + bl, (size_t)k - 1);
        wl += (size_t)k - 1;
        bigwant[wl++] = '|';
        bl += (size_t)k;
    }
    bigwant[wl] = '\0';
    unsigned seed = 12345;
    for (int round = 0; round < 200; round++) {
        cor_etcd_lines_t l;
        cor_etcd_lines_init(&l, 1024);
        collect_t c = {.len = 0};
        cor_error_t err;
        size_t off = 0;
        while (off < bl) {
            seed = seed * 1103515245u + 12345u;
            size_t take = 1 + (seed >> 16) % 97;
            if (take > bl - off)
                take = bl - off;
            CU_ASSERT_EQUAL(cor_etcd_lines_feed(&l, big + off, take, collect_line, &c, &err), 0);
            off += take;
        }
        CU_ASSERT_STRING_EQUAL(c.out, bigwant);
        cor_etcd_lines_close(&l);
    }
}

static void test_lines_limits(void)
{
    cor_etcd_lines_t l;
    cor_error_t err;
    collect_t c = {.len = 0};
    cor_etcd_lines_init(&l, 8);
    /* A whole line of 9 in one chunk, and one that grows over chunks. */
    CU_ASSERT_EQUAL(cor_etcd_lines_feed(&l, "123456789\n", 10, collect_line, &c, &err), COR_ETOOBIG);
    CU_ASSERT(strstr(err.msg, "longer than 8") != NULL);
    CU_ASSERT_EQUAL(cor_etcd_lines_feed(&l, "12345", 5, collect_line, &c, &err), 0);
    CU_ASSERT_EQUAL(cor_etcd_lines_pending(&l), 5);
    CU_ASSERT_EQUAL(cor_etcd_lines_feed(&l, "6789", 4, collect_line, &c, &err), COR_ETOOBIG);
    CU_ASSERT_EQUAL(cor_etcd_lines_pending(&l), 0);
    /* Exactly max is fine. */
    CU_ASSERT_EQUAL(cor_etcd_lines_feed(&l, "1234", 4, collect_line, &c, &err), 0);
    CU_ASSERT_EQUAL(cor_etcd_lines_feed(&l, "5678\nab", 7, collect_line, &c, &err), 0);
    CU_ASSERT_STRING_EQUAL(c.out, "12345678|");
    CU_ASSERT_EQUAL(cor_etcd_lines_pending(&l), 2); /* a stream stopped mid-line */
    cor_etcd_lines_close(&l);

    /* The callback stops the feed: the rest of the chunk is not read. */
    cor_etcd_lines_init(&l, 64);
    collect_t s = {.stop_after = 1};
    CU_ASSERT_EQUAL(cor_etcd_lines_feed(&l, "a\nb\nc\n", 6, collect_line, &s, &err), 1);
    CU_ASSERT_STRING_EQUAL(s.out, "a|");
    cor_etcd_lines_close(&l);
}

int main(void)
{
    static const cor_test_t tests[] = {
        {"base64: RFC 4648 vectors", test_base64_vectors},
        {"base64: every length of binary, round trip", test_base64_binary_roundtrip},
        {"base64: refusals name what is wrong", test_base64_refusals},
        {"request bodies: int64 strings, prefixes, txn, watch", test_bodies},
        {"request bodies: bad ops refused", test_body_refusals},
        {"replies as the 3.4 gateway writes them", test_replies},
        {"malformed replies name what was wrong", test_malformed_replies},
        {"error bodies: 3.4, 3.5+ and not etcd", test_error_bodies},
        {"watch messages", test_watch_messages},
        {"watch lines: every chunking", test_lines_every_chunking},
        {"watch lines: limits and stopping", test_lines_limits},
        {NULL, NULL},
    };
    return cor_test_main("etcd", tests, NULL, NULL);
}
