/*
 * json.c — the gateway's JSON, both ways: request bodies built from the
 * client's structs, and replies and watch messages parsed into them; see
 * etcd_int.h.
 *
 * What the gateway does (etcd 3.4, grpc-gateway's jsonpb, checked by
 * running it; docs/etcd.md): bytes fields are base64 strings; int64 and
 * uint64 fields are decimal strings (lease ids pass 2^53); fields with
 * their zero value are left out, so an absent field is 0, false, empty —
 * never an error; enums are names. Parsing is strict about what is
 * present: a field of the wrong JSON type, base64 that is not, a number
 * string that is not an int64 each fail with COR_EPROTO and the field's
 * path ("kvs[2].mod_revision: ..."), so a broken gateway or a proxy's HTML
 * page says what went wrong instead of turning into zeros.
 */
#include "etcd_int.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Building ---- */

const char *cor_etcd_path(cor_etcd_kind_t kind)
{
    switch (kind) {
    case COR_ETCD_RANGE: return "/v3/kv/range";
    case COR_ETCD_PUT: return "/v3/kv/put";
    case COR_ETCD_DELETE: return "/v3/kv/deleterange";
    case COR_ETCD_TXN: return "/v3/kv/txn";
    case COR_ETCD_COMPACT: return "/v3/kv/compaction";
    case COR_ETCD_LEASE_GRANT: return "/v3/lease/grant";
    case COR_ETCD_LEASE_KEEPALIVE: return "/v3/lease/keepalive";
    case COR_ETCD_LEASE_REVOKE: return "/v3/lease/revoke";
    }
    return "/v3/unknown";
}

static int add_bytes(json_object *o, const char *field, const void *p, size_t n)
{
    char *b = malloc(cor_etcd_b64_len(n) + 1);
    if (b == NULL)
        return -1;
    cor_etcd_b64_encode(p, n, b);
    json_object *s = json_object_new_string_len(b, (int)cor_etcd_b64_len(n));
    free(b);
    if (s == NULL)
        return -1;
    json_object_object_add(o, field, s);
    return 0;
}

static void add_i64(json_object *o, const char *field, int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%" PRId64, v);
    json_object_object_add(o, field, json_object_new_string(buf));
}

static void add_bool(json_object *o, const char *field, int v)
{
    if (v)
        json_object_object_add(o, field, json_object_new_boolean(1));
}

/* The smallest key above every key that starts with key: the last byte
 * that is not 0xff, plus one, with what follows it dropped. All 0xff (no
 * such key): "\0", which etcd reads as "to the end". */
static int add_prefix_end(json_object *o, const uint8_t *key, size_t n)
{
    uint8_t *end = malloc(n ? n : 1);
    if (end == NULL)
        return -1;
    memcpy(end, key, n);
    size_t len = n;
    while (len > 0 && end[len - 1] == 0xff)
        len--;
    int rc;
    if (len == 0) {
        end[0] = 0;
        rc = add_bytes(o, "range_end", end, 1);
    } else {
        end[len - 1]++;
        rc = add_bytes(o, "range_end", end, len);
    }
    free(end);
    return rc;
}

static int check_key(const void *key, size_t len, const char *what, cor_error_t *err)
{
    if (key == NULL || len == 0)
        return cor_error_set(err, COR_EINVAL, "%s: the key is empty", what);
    return 0;
}

static int check_range(const void *key, size_t key_len, const void *end, size_t end_len,
                       int prefix, const char *what, cor_error_t *err)
{
    int rc = check_key(key, key_len, what, err);
    if (rc != 0)
        return rc;
    if (prefix && end != NULL)
        return cor_error_set(err, COR_EINVAL, "%s: both prefix and range_end are set", what);
    if (end != NULL && end_len == 0)
        return cor_error_set(err, COR_EINVAL, "%s: range_end is empty (use prefix, or "
                             "\"\\0\" for every key from key on)", what);
    return 0;
}

/* The body of one op into o. */
static int op_fields(json_object *o, const cor_etcd_op_t *op, const char *what, cor_error_t *err)
{
    int rc;
    switch (op->kind) {
    case COR_ETCD_RANGE:
    case COR_ETCD_DELETE:
        if ((rc = check_range(op->key, op->key_len, op->range_end, op->range_end_len,
                              op->prefix, what, err)) != 0)
            return rc;
        break;
    case COR_ETCD_PUT:
        if ((rc = check_key(op->key, op->key_len, what, err)) != 0)
            return rc;
        if (op->value == NULL && op->value_len > 0)
            return cor_error_set(err, COR_EINVAL, "%s: value is NULL with length %zu", what,
                                 op->value_len);
        if (op->lease < 0)
            return cor_error_set(err, COR_EINVAL, "%s: negative lease %" PRId64, what, op->lease);
        break;
    default:
        return cor_error_set(err, COR_EINVAL, "%s: kind %d is not range, put or delete", what,
                             (int)op->kind);
    }
    if (op->limit < 0 || op->revision < 0)
        return cor_error_set(err, COR_EINVAL, "%s: negative limit or revision", what);
    if (add_bytes(o, "key", op->key, op->key_len) != 0)
        goto nomem;
    if (op->kind != COR_ETCD_PUT) {
        if (op->prefix && add_prefix_end(o, op->key, op->key_len) != 0)
            goto nomem;
        if (op->range_end != NULL && add_bytes(o, "range_end", op->range_end, op->range_end_len) != 0)
            goto nomem;
    }
    switch (op->kind) {
    case COR_ETCD_RANGE:
        if (op->limit)
            add_i64(o, "limit", op->limit);
        if (op->revision)
            add_i64(o, "revision", op->revision);
        add_bool(o, "keys_only", op->keys_only);
        add_bool(o, "count_only", op->count_only);
        add_bool(o, "serializable", op->serializable);
        break;
    case COR_ETCD_PUT:
        if (add_bytes(o, "value", op->value != NULL ? op->value : "", op->value_len) != 0)
            goto nomem;
        if (op->lease)
            add_i64(o, "lease", op->lease);
        add_bool(o, "prev_kv", op->prev_kv);
        break;
    default:
        add_bool(o, "prev_kv", op->prev_kv);
        break;
    }
    return 0;
nomem:
    return cor_error_set(err, COR_ENOMEM, "%s: out of memory", what);
}

/* o's text, copied to the heap; puts o. */
static char *finish(json_object *o, cor_error_t *err)
{
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                      JSON_C_TO_STRING_NOSLASHESCAPE);
    char *copy = s != NULL ? strdup(s) : NULL;
    json_object_put(o);
    if (copy == NULL)
        cor_error_set(err, COR_ENOMEM, "out of memory writing a request body");
    return copy;
}

char *cor_etcd_json_op(const cor_etcd_op_t *op, cor_error_t *err)
{
    json_object *o = json_object_new_object();
    if (o == NULL) {
        cor_error_set(err, COR_ENOMEM, "out of memory");
        return NULL;
    }
    if (op_fields(o, op, "op", err) != 0) {
        json_object_put(o);
        return NULL;
    }
    return finish(o, err);
}

static const char *target_name(cor_etcd_target_t t)
{
    switch (t) {
    case COR_ETCD_CMP_VERSION: return "VERSION";
    case COR_ETCD_CMP_CREATE: return "CREATE";
    case COR_ETCD_CMP_MOD: return "MOD";
    case COR_ETCD_CMP_VALUE: return "VALUE";
    case COR_ETCD_CMP_LEASE: return "LEASE";
    }
    return NULL;
}

static const char *result_name(cor_etcd_cmp_result_t r)
{
    switch (r) {
    case COR_ETCD_EQUAL: return "EQUAL";
    case COR_ETCD_GREATER: return "GREATER";
    case COR_ETCD_LESS: return "LESS";
    case COR_ETCD_NOT_EQUAL: return "NOT_EQUAL";
    }
    return NULL;
}

static int add_ops(json_object *o, const char *field, const cor_etcd_op_t *ops, size_t n,
                   cor_error_t *err)
{
    if (n > 0 && ops == NULL)
        return cor_error_set(err, COR_EINVAL, "txn: %s has %zu ops but no array", field, n);
    json_object *arr = json_object_new_array();
    if (arr == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    json_object_object_add(o, field, arr);
    for (size_t i = 0; i < n; i++) {
        char what[48];
        snprintf(what, sizeof(what), "txn: %s[%zu]", field, i);
        json_object *req = json_object_new_object(), *wrap = json_object_new_object();
        if (req == NULL || wrap == NULL) {
            json_object_put(req);
            json_object_put(wrap);
            return cor_error_set(err, COR_ENOMEM, "out of memory");
        }
        json_object_array_add(arr, wrap);
        const char *name = ops[i].kind == COR_ETCD_RANGE ? "request_range"
                         : ops[i].kind == COR_ETCD_PUT   ? "request_put"
                                                         : "request_delete_range";
        json_object_object_add(wrap, name, req);
        int rc = op_fields(req, &ops[i], what, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

char *cor_etcd_json_txn(const cor_etcd_txn_t *txn, cor_error_t *err)
{
    if (txn->n_cmp > 0 && txn->cmp == NULL) {
        cor_error_set(err, COR_EINVAL, "txn: %zu compares but no array", txn->n_cmp);
        return NULL;
    }
    json_object *o = json_object_new_object();
    json_object *cmps = json_object_new_array();
    if (o == NULL || cmps == NULL) {
        json_object_put(o);
        json_object_put(cmps);
        cor_error_set(err, COR_ENOMEM, "out of memory");
        return NULL;
    }
    json_object_object_add(o, "compare", cmps);
    for (size_t i = 0; i < txn->n_cmp; i++) {
        const cor_etcd_cmp_t *c = &txn->cmp[i];
        char what[48];
        snprintf(what, sizeof(what), "txn: compare[%zu]", i);
        const char *t = target_name(c->target), *r = result_name(c->result);
        if (t == NULL || r == NULL) {
            cor_error_set(err, COR_EINVAL, "%s: unknown %s %d", what, t == NULL ? "target" : "result",
                          t == NULL ? (int)c->target : (int)c->result);
            goto fail;
        }
        if (check_key(c->key, c->key_len, what, err) != 0)
            goto fail;
        if (c->target == COR_ETCD_CMP_VALUE && c->value == NULL && c->value_len > 0) {
            cor_error_set(err, COR_EINVAL, "%s: value is NULL with length %zu", what, c->value_len);
            goto fail;
        }
        json_object *jc = json_object_new_object();
        if (jc == NULL)
            goto nomem;
        json_object_array_add(cmps, jc);
        json_object_object_add(jc, "target", json_object_new_string(t));
        json_object_object_add(jc, "result", json_object_new_string(r));
        if (add_bytes(jc, "key", c->key, c->key_len) != 0)
            goto nomem;
        switch (c->target) {
        case COR_ETCD_CMP_VERSION: add_i64(jc, "version", c->number); break;
        case COR_ETCD_CMP_CREATE: add_i64(jc, "create_revision", c->number); break;
        case COR_ETCD_CMP_MOD: add_i64(jc, "mod_revision", c->number); break;
        case COR_ETCD_CMP_LEASE: add_i64(jc, "lease", c->number); break;
        case COR_ETCD_CMP_VALUE:
            if (add_bytes(jc, "value", c->value != NULL ? c->value : "", c->value_len) != 0)
                goto nomem;
            break;
        }
    }
    if (add_ops(o, "success", txn->success, txn->n_success, err) != 0 ||
        add_ops(o, "failure", txn->failure, txn->n_failure, err) != 0)
        goto fail;
    return finish(o, err);
nomem:
    cor_error_set(err, COR_ENOMEM, "out of memory");
fail:
    json_object_put(o);
    return NULL;
}

char *cor_etcd_json_number(cor_etcd_kind_t kind, int64_t n, cor_error_t *err)
{
    const char *field;
    switch (kind) {
    case COR_ETCD_COMPACT: field = "revision"; break;
    case COR_ETCD_LEASE_GRANT: field = "TTL"; break;
    case COR_ETCD_LEASE_KEEPALIVE:
    case COR_ETCD_LEASE_REVOKE: field = "ID"; break;
    default:
        cor_error_set(err, COR_EINVAL, "no single-number request of kind %d", (int)kind);
        return NULL;
    }
    if (n <= 0) {
        cor_error_set(err, COR_EINVAL, "%s: %s must be positive, not %" PRId64,
                      cor_etcd_path(kind), field, n);
        return NULL;
    }
    json_object *o = json_object_new_object();
    if (o == NULL) {
        cor_error_set(err, COR_ENOMEM, "out of memory");
        return NULL;
    }
    add_i64(o, field, n);
    if (kind == COR_ETCD_COMPACT)
        add_bool(o, "physical", 1);
    return finish(o, err);
}

char *cor_etcd_json_watch(const cor_etcd_watch_options_t *w, int64_t start_revision,
                          cor_error_t *err)
{
    if (check_range(w->key, w->key_len, w->range_end, w->range_end_len, w->prefix, "watch",
                    err) != 0)
        return NULL;
    if (start_revision < 0) {
        cor_error_set(err, COR_EINVAL, "watch: negative start revision %" PRId64, start_revision);
        return NULL;
    }
    json_object *o = json_object_new_object(), *cr = json_object_new_object();
    if (o == NULL || cr == NULL) {
        json_object_put(o);
        json_object_put(cr);
        cor_error_set(err, COR_ENOMEM, "out of memory");
        return NULL;
    }
    json_object_object_add(o, "create_request", cr);
    if (add_bytes(cr, "key", w->key, w->key_len) != 0 ||
        (w->prefix && add_prefix_end(cr, w->key, w->key_len) != 0) ||
        (w->range_end != NULL && add_bytes(cr, "range_end", w->range_end, w->range_end_len) != 0)) {
        json_object_put(o);
        cor_error_set(err, COR_ENOMEM, "out of memory");
        return NULL;
    }
    if (start_revision)
        add_i64(cr, "start_revision", start_revision);
    add_bool(cr, "prev_kv", w->prev_kv);
    add_bool(cr, "progress_notify", w->progress_notify);
    return finish(o, err);
}

/* ---- Parsing ---- */

/* Parses the whole of body[0..len) as one JSON object. */
static json_object *parse_object(const char *body, size_t len, const char *what, cor_error_t *err)
{
    if (len == 0) {
        cor_error_set(err, COR_EPROTO, "%s: empty body", what);
        return NULL;
    }
    if (len > (size_t)INT32_MAX) {
        cor_error_set(err, COR_EPROTO, "%s: body of %zu bytes is too long", what, len);
        return NULL;
    }
    json_tokener *tok = json_tokener_new();
    if (tok == NULL) {
        cor_error_set(err, COR_ENOMEM, "out of memory");
        return NULL;
    }
    json_object *o = json_tokener_parse_ex(tok, body, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (o == NULL) {
        if (jerr == json_tokener_continue)
            cor_error_set(err, COR_EPROTO, "%s: truncated JSON (%zu bytes)", what, len);
        else
            cor_error_set(err, COR_EPROTO, "%s: not JSON (%s at byte %zu)", what,
                          json_tokener_error_desc(jerr), end);
        return NULL;
    }
    while (end < len && (body[end] == ' ' || body[end] == '\n' || body[end] == '\r' ||
                         body[end] == '\t'))
        end++;
    if (end < len) {
        json_object_put(o);
        cor_error_set(err, COR_EPROTO, "%s: data after the JSON value at byte %zu", what, end);
        return NULL;
    }
    if (!json_object_is_type(o, json_type_object)) {
        cor_error_set(err, COR_EPROTO, "%s: a JSON %s, not an object", what,
                      json_type_to_name(json_object_get_type(o)));
        json_object_put(o);
        return NULL;
    }
    return o;
}

/* Parsing context: the path of the object being read, for messages. */
typedef struct pctx {
    const char *what; /* "/v3/kv/range reply" */
    char path[96];    /* "kvs[2]" or "" */
    cor_error_t *err;
} pctx_t;

static int bad(pctx_t *p, const char *field, const char *fmt, const char *detail)
{
    return cor_error_set(p->err, COR_EPROTO, "%s: %s%s%s: %s%s", p->what, p->path,
                         p->path[0] ? "." : "", field, fmt, detail);
}

/* An optional member of the given type; absent or null: *out = NULL. */
static int get_typed(pctx_t *p, json_object *o, const char *field, json_type type,
                     json_object **out)
{
    *out = NULL;
    json_object *v;
    if (!json_object_object_get_ex(o, field, &v) || v == NULL)
        return 0;
    if (!json_object_is_type(v, type)) {
        char d[64];
        snprintf(d, sizeof(d), "a JSON %s, not %s", json_type_to_name(json_object_get_type(v)),
                 json_type_to_name(type));
        return bad(p, field, "", d);
    }
    *out = v;
    return 0;
}

static int parse_i64_text(const char *s, int64_t *out)
{
    if (*s == '\0')
        return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0' || errno != 0 || (s[0] != '-' && (s[0] < '0' || s[0] > '9')))
        return -1;
    *out = v;
    return 0;
}

/* An int64 sent as a string (or, leniently, a JSON integer); absent: 0. */
static int get_i64(pctx_t *p, json_object *o, const char *field, int64_t *out)
{
    *out = 0;
    json_object *v;
    if (!json_object_object_get_ex(o, field, &v) || v == NULL)
        return 0;
    if (json_object_is_type(v, json_type_int)) {
        *out = json_object_get_int64(v);
        return 0;
    }
    if (!json_object_is_type(v, json_type_string))
        return bad(p, field, "", "not a string holding an int64");
    const char *s = json_object_get_string(v);
    if (strlen(s) != (size_t)json_object_get_string_len(v) || parse_i64_text(s, out) != 0) {
        char d[64];
        snprintf(d, sizeof(d), "'%.40s' is not an int64", s);
        return bad(p, field, "", d);
    }
    return 0;
}

/* A uint64 sent as a string (member and cluster ids); absent: 0. */
static int get_u64(pctx_t *p, json_object *o, const char *field, uint64_t *out)
{
    *out = 0;
    json_object *v;
    if (!json_object_object_get_ex(o, field, &v) || v == NULL)
        return 0;
    if (json_object_is_type(v, json_type_int)) {
        *out = (uint64_t)json_object_get_int64(v);
        return 0;
    }
    const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
    char *end;
    errno = 0;
    unsigned long long u = strtoull(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0)
        return bad(p, field, "", "not a string holding a uint64");
    *out = u;
    return 0;
}

static int get_bool(pctx_t *p, json_object *o, const char *field, int *out)
{
    *out = 0;
    json_object *v;
    int rc = get_typed(p, o, field, json_type_boolean, &v);
    if (rc == 0 && v != NULL)
        *out = json_object_get_boolean(v);
    return rc;
}

/* Base64 bytes; absent: an empty, NUL-terminated buffer (never NULL). */
static int get_bytes(pctx_t *p, json_object *o, const char *field, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    json_object *v;
    int rc = get_typed(p, o, field, json_type_string, &v);
    if (rc != 0)
        return rc;
    if (v == NULL) {
        *out = calloc(1, 1);
        return *out != NULL ? 0 : cor_error_set(p->err, COR_ENOMEM, "out of memory");
    }
    cor_error_t e;
    cor_error_clear(&e);
    rc = cor_etcd_b64_decode(json_object_get_string(v), (size_t)json_object_get_string_len(v), out,
                             len, &e);
    if (rc == COR_EINVAL)
        return bad(p, field, "", e.msg);
    if (rc != 0)
        return cor_error_set(p->err, rc, "%s", e.msg);
    return 0;
}

static void kv_close(cor_etcd_kv_t *kv)
{
    free(kv->key);
    free(kv->value);
    memset(kv, 0, sizeof(*kv));
}

static int parse_kv(pctx_t *p, json_object *o, cor_etcd_kv_t *kv)
{
    int rc;
    memset(kv, 0, sizeof(*kv));
    if ((rc = get_bytes(p, o, "key", &kv->key, &kv->key_len)) != 0 ||
        (rc = get_bytes(p, o, "value", &kv->value, &kv->value_len)) != 0 ||
        (rc = get_i64(p, o, "create_revision", &kv->create_revision)) != 0 ||
        (rc = get_i64(p, o, "mod_revision", &kv->mod_revision)) != 0 ||
        (rc = get_i64(p, o, "version", &kv->version)) != 0 ||
        (rc = get_i64(p, o, "lease", &kv->lease)) != 0) {
        kv_close(kv);
        return rc;
    }
    return 0;
}

/* Appends path element to p->path for the duration of a nested parse. */
static size_t path_push(pctx_t *p, const char *field, long i)
{
    size_t old = strlen(p->path);
    if (i < 0)
        snprintf(p->path + old, sizeof(p->path) - old, "%s%s", old ? "." : "", field);
    else
        snprintf(p->path + old, sizeof(p->path) - old, "%s%s[%ld]", old ? "." : "", field, i);
    return old;
}

static int parse_kv_array(pctx_t *p, json_object *arr, cor_etcd_kv_t **out, size_t *n,
                          const char *field)
{
    *out = NULL;
    *n = 0;
    size_t len = json_object_array_length(arr);
    if (len == 0)
        return 0;
    cor_etcd_kv_t *kvs = calloc(len, sizeof(*kvs));
    if (kvs == NULL)
        return cor_error_set(p->err, COR_ENOMEM, "out of memory");
    for (size_t i = 0; i < len; i++) {
        json_object *e = json_object_array_get_idx(arr, i);
        size_t old = path_push(p, field, (long)i);
        int rc = 0;
        if (!json_object_is_type(e, json_type_object))
            rc = cor_error_set(p->err, COR_EPROTO, "%s: %s: not an object", p->what, p->path);
        else
            rc = parse_kv(p, e, &kvs[i]);
        p->path[old] = '\0';
        if (rc != 0) {
            for (size_t j = 0; j < i; j++)
                kv_close(&kvs[j]);
            free(kvs);
            return rc;
        }
    }
    *out = kvs;
    *n = len;
    return 0;
}

static void reply_close(cor_etcd_reply_t *r)
{
    for (size_t i = 0; i < r->n_kvs; i++)
        kv_close(&r->kvs[i]);
    free(r->kvs);
    for (size_t i = 0; i < r->n_responses; i++)
        reply_close(&r->responses[i]);
    free(r->responses);
}

void cor_etcd_reply_free(cor_etcd_reply_t *reply)
{
    if (reply == NULL)
        return;
    reply_close(reply);
    free(reply);
}

static int parse_header(pctx_t *p, json_object *o, cor_etcd_reply_t *r)
{
    json_object *h;
    int rc = get_typed(p, o, "header", json_type_object, &h);
    if (rc != 0 || h == NULL)
        return rc;
    size_t old = path_push(p, "header", -1);
    if ((rc = get_i64(p, h, "revision", &r->revision)) == 0 &&
        (rc = get_i64(p, h, "raft_term", &r->raft_term)) == 0)
        rc = get_u64(p, h, "member_id", &r->member_id);
    p->path[old] = '\0';
    return rc;
}

static int parse_body(pctx_t *p, json_object *o, cor_etcd_kind_t kind, cor_etcd_reply_t *r);

static int parse_txn_responses(pctx_t *p, json_object *arr, cor_etcd_reply_t *r)
{
    size_t len = json_object_array_length(arr);
    if (len == 0)
        return 0;
    r->responses = calloc(len, sizeof(*r->responses));
    if (r->responses == NULL)
        return cor_error_set(p->err, COR_ENOMEM, "out of memory");
    for (size_t i = 0; i < len; i++) {
        json_object *e = json_object_array_get_idx(arr, i), *inner = NULL;
        size_t old = path_push(p, "responses", (long)i);
        int rc = 0;
        cor_etcd_kind_t kind = COR_ETCD_RANGE;
        if (!json_object_is_type(e, json_type_object)) {
            rc = cor_error_set(p->err, COR_EPROTO, "%s: %s: not an object", p->what, p->path);
        } else {
            static const struct {
                const char *name;
                cor_etcd_kind_t kind;
            } names[] = {{"response_range", COR_ETCD_RANGE},
                         {"response_put", COR_ETCD_PUT},
                         {"response_delete_range", COR_ETCD_DELETE}};
            for (size_t k = 0; k < 3 && inner == NULL && rc == 0; k++) {
                rc = get_typed(p, e, names[k].name, json_type_object, &inner);
                kind = names[k].kind;
            }
            if (rc == 0 && inner == NULL)
                rc = cor_error_set(p->err, COR_EPROTO, "%s: %s: no response_range, response_put "
                                   "or response_delete_range", p->what, p->path);
        }
        if (rc == 0) {
            r->responses[i].kind = kind;
            rc = parse_body(p, inner, kind, &r->responses[i]);
        }
        r->n_responses = i + 1;
        p->path[old] = '\0';
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int parse_body(pctx_t *p, json_object *o, cor_etcd_kind_t kind, cor_etcd_reply_t *r)
{
    int rc = parse_header(p, o, r);
    if (rc != 0)
        return rc;
    json_object *v;
    switch (kind) {
    case COR_ETCD_RANGE:
        if ((rc = get_typed(p, o, "kvs", json_type_array, &v)) != 0 ||
            (v != NULL && (rc = parse_kv_array(p, v, &r->kvs, &r->n_kvs, "kvs")) != 0))
            return rc;
        if ((rc = get_i64(p, o, "count", &r->count)) != 0)
            return rc;
        return get_bool(p, o, "more", &r->more);
    case COR_ETCD_PUT:
        if ((rc = get_typed(p, o, "prev_kv", json_type_object, &v)) != 0 || v == NULL)
            return rc;
        if ((r->kvs = calloc(1, sizeof(*r->kvs))) == NULL)
            return cor_error_set(p->err, COR_ENOMEM, "out of memory");
        {
            size_t old = path_push(p, "prev_kv", -1);
            rc = parse_kv(p, v, &r->kvs[0]);
            p->path[old] = '\0';
        }
        r->n_kvs = rc == 0;
        return rc;
    case COR_ETCD_DELETE:
        if ((rc = get_i64(p, o, "deleted", &r->count)) != 0 ||
            (rc = get_typed(p, o, "prev_kvs", json_type_array, &v)) != 0 || v == NULL)
            return rc;
        return parse_kv_array(p, v, &r->kvs, &r->n_kvs, "prev_kvs");
    case COR_ETCD_TXN:
        if ((rc = get_bool(p, o, "succeeded", &r->succeeded)) != 0 ||
            (rc = get_typed(p, o, "responses", json_type_array, &v)) != 0 || v == NULL)
            return rc;
        return parse_txn_responses(p, v, r);
    case COR_ETCD_LEASE_GRANT:
    case COR_ETCD_LEASE_KEEPALIVE:
        if ((rc = get_i64(p, o, "ID", &r->lease_id)) != 0 ||
            (rc = get_i64(p, o, "TTL", &r->ttl)) != 0 ||
            (rc = get_typed(p, o, "error", json_type_string, &v)) != 0)
            return rc;
        if (v != NULL && json_object_get_string_len(v) > 0)
            return cor_error_set(p->err, COR_EUNAVAIL, "%s: etcd: %s", p->what,
                                 json_object_get_string(v));
        return 0;
    case COR_ETCD_COMPACT:
    case COR_ETCD_LEASE_REVOKE:
        return 0;
    }
    return cor_error_set(p->err, COR_EINVAL, "%s: unknown reply kind %d", p->what, (int)kind);
}

/* A stream's {"error":{"grpc_code":..,"message":..}} (grpc-gateway v1). */
static int stream_error(pctx_t *p, json_object *o)
{
    json_object *e;
    int rc = get_typed(p, o, "error", json_type_object, &e);
    if (rc != 0 || e == NULL)
        return rc;
    int64_t code = 0;
    json_object *m = NULL;
    get_i64(p, e, "grpc_code", &code);
    get_typed(p, e, "message", json_type_string, &m);
    int cor = code > 0 && code <= 16 ? cor_error_from_grpc((int)code) : COR_EUNAVAIL;
    return cor_error_set(p->err, cor, "%s: etcd: %s (gRPC code %d)", p->what,
                         m != NULL ? json_object_get_string(m) : "(no message)", (int)code);
}

int cor_etcd_json_reply(cor_etcd_kind_t kind, const char *body, size_t len,
                        cor_etcd_reply_t **out, cor_error_t *err)
{
    *out = NULL;
    char what[48];
    snprintf(what, sizeof(what), "%s reply", cor_etcd_path(kind));
    json_object *root = parse_object(body, len, what, err);
    if (root == NULL)
        return err != NULL ? err->code : COR_EPROTO;
    pctx_t p = {.what = what, .err = err};
    cor_etcd_reply_t *r = calloc(1, sizeof(*r));
    int rc;
    if (r == NULL) {
        rc = cor_error_set(err, COR_ENOMEM, "out of memory");
        goto done;
    }
    r->kind = kind;
    json_object *o = root;
    if (kind == COR_ETCD_LEASE_KEEPALIVE) {
        /* A streaming method: each answer is wrapped in {"result":{}}. */
        if ((rc = stream_error(&p, root)) != 0)
            goto done;
        if ((rc = get_typed(&p, root, "result", json_type_object, &o)) != 0)
            goto done;
        if (o == NULL) {
            rc = cor_error_set(err, COR_EPROTO, "%s: no \"result\"", what);
            goto done;
        }
    }
    rc = parse_body(&p, o, kind, r);
    if (rc == 0 && kind == COR_ETCD_LEASE_KEEPALIVE && r->ttl <= 0)
        rc = cor_error_set(err, COR_ENOTFOUND, "lease %" PRId64 " has expired or was revoked "
                           "(keepalive answered TTL %" PRId64 ")", r->lease_id, r->ttl);
done:
    json_object_put(root);
    if (rc != 0) {
        cor_etcd_reply_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

static int from_http(long status)
{
    switch (status) {
    case 400: return COR_EINVAL;
    case 401: return COR_EAUTH;
    case 403: return COR_EPERM;
    case 404: return COR_ENOTFOUND;
    case 408: return COR_ETIMEDOUT;
    case 409: return COR_EABORTED;
    case 412: return COR_ESTATE;
    case 413: return COR_ETOOBIG;
    case 429: return COR_EUNAVAIL;
    case 499: return COR_ECANCELLED;
    case 501: return COR_EUNIMPL;
    case 502:
    case 503: return COR_EUNAVAIL;
    case 504: return COR_ETIMEDOUT;
    default: return status >= 500 ? COR_EUNAVAIL : COR_EPROTO;
    }
}

int cor_etcd_json_error(long http_status, const char *body, size_t len, cor_error_t *err)
{
    cor_error_t e;
    cor_error_clear(&e);
    json_object *o = len > 0 ? parse_object(body, len, "error body", &e) : NULL;
    json_object *code = NULL, *msg = NULL;
    if (o != NULL) {
        json_object_object_get_ex(o, "code", &code);
        if (!json_object_object_get_ex(o, "message", &msg) ||
            !json_object_is_type(msg, json_type_string))
            json_object_object_get_ex(o, "error", &msg);
        if (msg != NULL && !json_object_is_type(msg, json_type_string))
            msg = NULL;
        if (code != NULL && !json_object_is_type(code, json_type_int))
            code = NULL;
    }
    int rc;
    if (code != NULL && json_object_get_int(code) > 0 && json_object_get_int(code) <= 16) {
        /* The gRPC code names the error more precisely than the status
         * (which the gateway derives from it). */
        int g = json_object_get_int(code);
        rc = cor_error_set(err, cor_error_from_grpc(g), "etcd: %s (HTTP %ld, gRPC code %d)",
                           msg != NULL ? json_object_get_string(msg) : "(no message)",
                           http_status, g);
    } else if (msg != NULL) {
        rc = cor_error_set(err, from_http(http_status), "etcd: %s (HTTP %ld)",
                           json_object_get_string(msg), http_status);
    } else {
        /* Not the gateway's JSON: a proxy, a wrong URL, another server. */
        char snippet[64];
        size_t n = 0;
        for (size_t i = 0; i < len && n < sizeof(snippet) - 1; i++)
            snippet[n++] = (body[i] >= 0x20 && body[i] < 0x7f) ? body[i] : '.';
        snippet[n] = '\0';
        rc = cor_error_set(err, from_http(http_status), "HTTP %ld and a body that is not etcd's "
                           "error JSON: '%s'%s", http_status, snippet, len > n ? "..." : "");
    }
    json_object_put(o);
    if (rc == 0)
        rc = cor_error_set(err, COR_EPROTO, "HTTP %ld", http_status);
    return rc;
}

static void event_close(cor_etcd_event_t *e)
{
    kv_close(&e->kv);
    kv_close(&e->prev_kv);
}

void cor_etcd_watch_msg_close(cor_etcd_watch_msg_t *msg)
{
    for (size_t i = 0; i < msg->n_events; i++)
        event_close(&msg->events[i]);
    free(msg->events);
    memset(msg, 0, sizeof(*msg));
}

static int parse_event(pctx_t *p, json_object *o, cor_etcd_event_t *ev)
{
    json_object *v;
    int rc = get_typed(p, o, "type", json_type_string, &v);
    if (rc != 0)
        return rc;
    if (v == NULL || strcmp(json_object_get_string(v), "PUT") == 0)
        ev->type = COR_ETCD_EVENT_PUT;
    else if (strcmp(json_object_get_string(v), "DELETE") == 0)
        ev->type = COR_ETCD_EVENT_DELETE;
    else
        return bad(p, "type", "unknown event type ", json_object_get_string(v));
    if ((rc = get_typed(p, o, "kv", json_type_object, &v)) != 0)
        return rc;
    if (v == NULL)
        return bad(p, "kv", "", "missing");
    size_t old = path_push(p, "kv", -1);
    rc = parse_kv(p, v, &ev->kv);
    p->path[old] = '\0';
    if (rc != 0)
        return rc;
    if ((rc = get_typed(p, o, "prev_kv", json_type_object, &v)) != 0 || v == NULL)
        return rc;
    old = path_push(p, "prev_kv", -1);
    rc = parse_kv(p, v, &ev->prev_kv);
    p->path[old] = '\0';
    ev->has_prev_kv = rc == 0;
    return rc;
}

int cor_etcd_json_watch_msg(const char *line, size_t len, cor_etcd_watch_msg_t *msg,
                            cor_error_t *err)
{
    memset(msg, 0, sizeof(*msg));
    json_object *root = parse_object(line, len, "watch message", err);
    if (root == NULL)
        return err != NULL ? err->code : COR_EPROTO;
    pctx_t p = {.what = "watch message", .err = err};
    json_object *o, *v;
    cor_etcd_reply_t hdr = {0};
    int rc;
    if ((rc = stream_error(&p, root)) != 0 ||
        (rc = get_typed(&p, root, "result", json_type_object, &o)) != 0)
        goto done;
    if (o == NULL) {
        rc = cor_error_set(err, COR_EPROTO, "watch message: neither \"result\" nor \"error\"");
        goto done;
    }
    if ((rc = parse_header(&p, o, &hdr)) != 0 ||
        (rc = get_bool(&p, o, "created", &msg->created)) != 0 ||
        (rc = get_bool(&p, o, "canceled", &msg->canceled)) != 0 ||
        (rc = get_i64(&p, o, "compact_revision", &msg->compact_revision)) != 0 ||
        (rc = get_i64(&p, o, "watch_id", &msg->watch_id)) != 0 ||
        (rc = get_typed(&p, o, "cancel_reason", json_type_string, &v)) != 0)
        goto done;
    msg->revision = hdr.revision;
    if (v != NULL)
        snprintf(msg->cancel_reason, sizeof(msg->cancel_reason), "%s", json_object_get_string(v));
    if ((rc = get_typed(&p, o, "events", json_type_array, &v)) != 0 || v == NULL)
        goto done;
    size_t n = json_object_array_length(v);
    if (n == 0)
        goto done;
    if ((msg->events = calloc(n, sizeof(*msg->events))) == NULL) {
        rc = cor_error_set(err, COR_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_object *e = json_object_array_get_idx(v, i);
        size_t old = path_push(&p, "events", (long)i);
        if (!json_object_is_type(e, json_type_object))
            rc = cor_error_set(err, COR_EPROTO, "watch message: %s: not an object", p.path);
        else
            rc = parse_event(&p, e, &msg->events[i]);
        msg->n_events = i + 1;
        p.path[old] = '\0';
    }
done:
    json_object_put(root);
    return rc;
}
