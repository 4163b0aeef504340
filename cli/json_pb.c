/*
 * json_pb.c — JSON <-> protobuf-c, see json_pb.h for what is accepted and
 * produced.
 *
 * Design. JSON -> message goes through the wire format: json-c parses the
 * text into a tree; enc_message walks that tree beside the message
 * descriptor and appends tag/value pairs to a growable buffer (nested
 * messages are encoded into a buffer of their own and appended with their
 * length); protobuf_c_message_unpack builds the result. Every field is
 * written unpacked (one tag per element), which protobuf-c reads for packed
 * fields too. All checks happen while encoding, so a message is only
 * unpacked from bytes we wrote ourselves; unpack failing is reported as an
 * internal error, never trusted silently.
 *
 * Message -> JSON reads the C struct through the field descriptors
 * (offset, quantifier_offset), which is how protobuf-c itself walks it.
 *
 * Map fields have no marker in protobuf-c's descriptors; a field is a map
 * when it is a repeated message whose type is the nested "<Field>Entry"
 * with exactly the fields key = 1 and value = 2 — what protoc generates,
 * and a name protoc refuses to let a user define beside the map.
 *
 * Failure modes: every refusal names the field path and the reason in the
 * caller's buffer; out of memory is reported as such; nothing is global.
 */
#include "json_pb.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json.h>

/* ---------------- small helpers ---------------- */

typedef struct wbuf {
    uint8_t *p;
    size_t len, cap;
} wbuf_t;

typedef struct jctx {
    char *err;
    size_t errlen;
    char path[512];
    size_t plen;
    int depth;
    size_t total; /* bytes written across all buffers, for the size cap */
} jctx_t;

#define MAX_ENUM_LIST 8

static int fail(jctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records "field "<path>": <msg>" (or just msg at the top level). */
static int fail(jctx_t *c, const char *fmt, ...)
{
    if (c->errlen == 0)
        return -1;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->plen > 0)
        snprintf(c->err, c->errlen, "field \"%s\": %s", c->path, msg);
    else
        snprintf(c->err, c->errlen, "%s", msg);
    return -1;
}

/* Appends to the path; returns the previous length to restore. */
static size_t path_push(jctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t path_push(jctx_t *c, const char *fmt, ...)
{
    size_t old = c->plen;
    if (c->plen < sizeof(c->path) - 1) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(c->path + c->plen, sizeof(c->path) - c->plen, fmt, ap);
        va_end(ap);
        if (n > 0)
            c->plen += (size_t)n;
        if (c->plen > sizeof(c->path) - 1)
            c->plen = sizeof(c->path) - 1;
    }
    return old;
}

static void path_pop(jctx_t *c, size_t old)
{
    c->plen = old;
    c->path[old] = '\0';
}

static int is_big_literal(json_object *v);

/* A short rendering of a JSON value for messages: "abc" (quoted), 5,
 * true, an object or array abbreviated. */
static void describe(json_object *v, char *out, size_t outlen)
{
    const char *s;
    switch (json_object_get_type(v)) {
    case json_type_null:
        snprintf(out, outlen, "null");
        return;
    case json_type_object:
        snprintf(out, outlen, "an object");
        return;
    case json_type_array:
        snprintf(out, outlen, "an array");
        return;
    case json_type_string: {
        s = json_object_get_string(v);
        size_t n = strlen(s);
        if (n > 40)
            snprintf(out, outlen, "\"%.40s...\"", s);
        else
            snprintf(out, outlen, "\"%s\"", s);
        return;
    }
    default: {
        s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
        if (s == NULL)
            s = "?";
        size_t n = strlen(s);
        if (is_big_literal(v))
            n -= 2;
        snprintf(out, outlen, "%.*s", (int)(n < 48 ? n : 48), s);
        return;
    }
    }
}

/* Was v an integer literal too big for 64 bits (marked "e0" by prescan)? */
static int is_big_literal(json_object *v)
{
    const char *s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
    size_t n = s ? strlen(s) : 0;
    return n > 2 && strcmp(s + n - 2, "e0") == 0 && strspn(s, "-0123456789") == n - 2;
}

static int expected(jctx_t *c, const char *what, json_object *v)
{
    char got[80];
    describe(v, got, sizeof(got));
    return fail(c, "expected %s, got %s", what, got);
}

static int wb_reserve(jctx_t *c, wbuf_t *b, size_t n)
{
    if (n > COR_JSON_MAX_INPUT - b->len || c->total > COR_JSON_MAX_INPUT - n)
        return fail(c, "message too large (over %u bytes)", COR_JSON_MAX_INPUT);
    if (b->len + n <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (p == NULL)
        return fail(c, "out of memory");
    b->p = p;
    b->cap = cap;
    return 0;
}

static int wb_put(jctx_t *c, wbuf_t *b, const void *data, size_t n)
{
    if (n == 0)
        return 0;
    if (wb_reserve(c, b, n) != 0)
        return -1;
    memcpy(b->p + b->len, data, n);
    b->len += n;
    c->total += n;
    return 0;
}

static int wb_varint(jctx_t *c, wbuf_t *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    return wb_put(c, b, tmp, n);
}

static int wb_tag(jctx_t *c, wbuf_t *b, uint32_t field, unsigned wt)
{
    return wb_varint(c, b, ((uint64_t)field << 3) | wt);
}

static int wb_fixed32(jctx_t *c, wbuf_t *b, uint32_t v)
{
    uint8_t t[4];
    for (int i = 0; i < 4; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    return wb_put(c, b, t, 4);
}

static int wb_fixed64(jctx_t *c, wbuf_t *b, uint64_t v)
{
    uint8_t t[8];
    for (int i = 0; i < 8; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    return wb_put(c, b, t, 8);
}

void cor_json_field_name(const char *proto_name, char *out, size_t outlen)
{
    if (outlen == 0)
        return;
    size_t o = 0;
    int up = 0;
    for (const char *p = proto_name; *p && o + 1 < outlen; p++) {
        if (*p == '_') {
            up = 1;
            continue;
        }
        out[o++] = up ? (char)toupper((unsigned char)*p) : *p;
        up = 0;
    }
    out[o] = '\0';
}

/* Is f a map<K,V> field? (See the header comment.) */
static int is_map_field(const ProtobufCFieldDescriptor *f)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return 0;
    const ProtobufCMessageDescriptor *e = f->descriptor;
    if (e == NULL || e->n_fields != 2 || e->fields[0].id != 1 || e->fields[1].id != 2 ||
        strcmp(e->fields[0].name, "key") != 0 || strcmp(e->fields[1].name, "value") != 0)
        return 0;
    char want[256];
    cor_json_field_name(f->name, want, sizeof(want) - 5);
    want[0] = (char)toupper((unsigned char)want[0]);
    strcat(want, "Entry");
    return strcmp(e->short_name, want) == 0;
}

/* ---------------- JSON -> wire ---------------- */

static int enc_message(jctx_t *c, json_object *obj, const ProtobufCMessageDescriptor *d,
                       wbuf_t *out);

/* Integer from a JSON number or decimal string. Signed results in *s,
 * unsigned in *u; lo/hi bound signed values, umax unsigned ones. */
static int get_integer(jctx_t *c, json_object *v, int is_signed, int64_t lo, int64_t hi,
                       uint64_t umax, const char *tname, int64_t *s, uint64_t *u)
{
    int neg = 0;
    uint64_t mag = 0; /* |value| */
    enum json_type t = json_object_get_type(v);
    if (t == json_type_int) {
        int64_t i = json_object_get_int64(v);
        if (i < 0) {
            neg = 1;
            mag = (uint64_t)(-(i + 1)) + 1;
        } else {
            mag = json_object_get_uint64(v);
        }
    } else if (t == json_type_double || t == json_type_string) {
        double d;
        if (t == json_type_string) {
            const char *str = json_object_get_string(v);
            const char *p = str[0] == '-' ? str + 1 : str;
            size_t nd = strspn(p, "0123456789");
            if (nd > 0 && p[nd] == '\0') { /* plain decimal: exact */
                errno = 0;
                unsigned long long x = nd > 20 ? 0 : strtoull(p, NULL, 10);
                if (nd > 20 || errno == ERANGE)
                    return fail(c, "%s is out of range for %s", str, tname);
                neg = str[0] == '-' && x != 0;
                mag = x;
                goto range;
            }
            /* "1e3", "5.0": through a double, then checked as below. */
            char *end;
            d = strtod(str, &end);
            if (str[0] == '\0' || *end != '\0' || isspace((unsigned char)str[0]) ||
                strpbrk(str, "xXnNiI") != NULL)
                return expected(c, "an integer", v);
        } else {
            d = json_object_get_double(v);
            if (is_big_literal(v)) {
                char got[80];
                describe(v, got, sizeof(got));
                return fail(c, "%s is out of range for %s", got, tname);
            }
        }
        if (!isfinite(d) || d != floor(d))
            return expected(c, "an integer", v);
        if (d < -9223372036854775808.0 || d >= 18446744073709551616.0) {
            char got[80];
            describe(v, got, sizeof(got));
            return fail(c, "%s is out of range for %s", got, tname);
        }
        if (d < 0) {
            neg = 1;
            mag = (uint64_t)(-d);
        } else {
            mag = (uint64_t)d;
        }
    } else {
        return expected(c, "an integer", v);
    }
range:
    if (is_signed) {
        int ok;
        int64_t val;
        if (neg) {
            ok = mag <= (uint64_t)INT64_MAX + 1 && (mag == (uint64_t)INT64_MAX + 1 ? lo == INT64_MIN
                                                                                    : -(int64_t)mag >= lo);
            val = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
        } else {
            ok = mag <= (uint64_t)hi;
            val = (int64_t)mag;
        }
        if (!ok) {
            char got[80];
            describe(v, got, sizeof(got));
            return fail(c, "%s is out of range for %s", got, tname);
        }
        *s = val;
    } else {
        if (neg || mag > umax) {
            char got[80];
            describe(v, got, sizeof(got));
            return fail(c, "%s is out of range for %s", got, tname);
        }
        *u = mag;
    }
    return 0;
}

static int get_double(jctx_t *c, json_object *v, int is_float, double *out)
{
    enum json_type t = json_object_get_type(v);
    double d;
    if (t == json_type_int || t == json_type_double) {
        if (t == json_type_int && json_object_get_int64(v) == INT64_MAX)
            d = (double)json_object_get_uint64(v);
        else
            d = json_object_get_double(v);
    } else if (t == json_type_string) {
        const char *s = json_object_get_string(v);
        if (strcmp(s, "NaN") == 0) {
            d = NAN;
        } else if (strcmp(s, "Infinity") == 0) {
            d = INFINITY;
        } else if (strcmp(s, "-Infinity") == 0) {
            d = -INFINITY;
        } else {
            char *end;
            errno = 0;
            d = strtod(s, &end);
            if (s[0] == '\0' || *end != '\0' || isspace((unsigned char)s[0]) ||
                strpbrk(s, "xXnNiI") != NULL)
                return expected(c, is_float ? "a float" : "a double", v);
            if (!isfinite(d))
                return fail(c, "%s is out of range for double", s);
        }
    } else {
        return expected(c, is_float ? "a float" : "a double", v);
    }
    if (is_float && isfinite(d) && (d > FLT_MAX || d < -FLT_MAX)) {
        char got[80];
        describe(v, got, sizeof(got));
        return fail(c, "%s is out of range for float", got);
    }
    *out = d;
    return 0;
}

static int b64val(int ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+' || ch == '-')
        return 62;
    if (ch == '/' || ch == '_')
        return 63;
    return -1;
}

/* Decodes standard or URL-safe base64 (padding optional) into b. */
static int b64_decode(jctx_t *c, const char *s, size_t n, wbuf_t *b)
{
    size_t end = n;
    while (end > 0 && s[end - 1] == '=')
        end--;
    if (n - end > 2 || (n != end && n % 4 != 0))
        return fail(c, "invalid base64: bad padding");
    if (end % 4 == 1)
        return fail(c, "invalid base64: truncated (length %zu)", end);
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < end; i++) {
        int x = b64val((unsigned char)s[i]);
        if (x < 0)
            return fail(c, "invalid base64: character %zu is not a base64 digit", i + 1);
        acc = (acc << 6) | (uint32_t)x;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            uint8_t byte = (uint8_t)(acc >> bits);
            if (wb_put(c, b, &byte, 1) != 0)
                return -1;
        }
    }
    return 0;
}

static int enc_enum(jctx_t *c, json_object *v, const ProtobufCEnumDescriptor *ed, int32_t *out)
{
    enum json_type t = json_object_get_type(v);
    if (t == json_type_string) {
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value_by_name(ed, json_object_get_string(v));
        if (ev == NULL) {
            char names[256] = "";
            size_t o = 0;
            for (unsigned i = 0; i < ed->n_values && i < MAX_ENUM_LIST; i++)
                o += (size_t)snprintf(names + o, o < sizeof(names) ? sizeof(names) - o : 0, "%s%s",
                                      i ? ", " : "", ed->values[i].name);
            if (ed->n_values > MAX_ENUM_LIST && o < sizeof(names))
                snprintf(names + o, sizeof(names) - o, ", ...");
            char got[80];
            describe(v, got, sizeof(got));
            return fail(c, "%s is not a value of enum %s (one of: %s)", got, ed->name, names);
        }
        *out = ev->value;
        return 0;
    }
    if (t == json_type_int || t == json_type_double) {
        int64_t s;
        if (get_integer(c, v, 1, INT32_MIN, INT32_MAX, 0, "an enum", &s, NULL) != 0)
            return -1;
        *out = (int32_t)s;
        return 0;
    }
    return expected(c, "an enum name or number", v);
}

/* Encodes one value (tag and payload) of field f from v, which is not null.
 * For map keys (as_key), v is the JSON object key as a string. */
static int enc_value(jctx_t *c, const ProtobufCFieldDescriptor *f, json_object *v, wbuf_t *out,
                     int as_key)
{
    uint32_t id = f->id;
    int64_t s = 0;
    uint64_t u = 0;
    double d;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
        if (get_integer(c, v, 1, INT32_MIN, INT32_MAX, 0, "int32", &s, &u) != 0)
            return -1;
        return wb_tag(c, out, id, 0) || wb_varint(c, out, (uint64_t)s);
    case PROTOBUF_C_TYPE_SINT32:
        if (get_integer(c, v, 1, INT32_MIN, INT32_MAX, 0, "sint32", &s, &u) != 0)
            return -1;
        return wb_tag(c, out, id, 0) ||
               wb_varint(c, out, (uint32_t)(((uint32_t)s << 1) ^ (uint32_t)((int32_t)s >> 31)));
    case PROTOBUF_C_TYPE_SFIXED32:
        if (get_integer(c, v, 1, INT32_MIN, INT32_MAX, 0, "sfixed32", &s, &u) != 0)
            return -1;
        return wb_tag(c, out, id, 5) || wb_fixed32(c, out, (uint32_t)(int32_t)s);
    case PROTOBUF_C_TYPE_INT64:
        if (get_integer(c, v, 1, INT64_MIN, INT64_MAX, 0, "int64", &s, &u) != 0)
            return -1;
        return wb_tag(c, out, id, 0) || wb_varint(c, out, (uint64_t)s);
    case PROTOBUF_C_TYPE_SINT64:
        if (get_integer(c, v, 1, INT64_MIN, INT64_MAX, 0, "sint64", &s, &u) != 0)
            return -1;
        return wb_tag(c, out, id, 0) ||
               wb_varint(c, out, ((uint64_t)s << 1) ^ (uint64_t)(s >> 63));
    case PROTOBUF_C_TYPE_SFIXED64:
        if (get_integer(c, v, 1, INT64_MIN, INT64_MAX, 0, "sfixed64", &s, &u) != 0)
            return -1;
        return wb_tag(c, out, id, 1) || wb_fixed64(c, out, (uint64_t)s);
    case PROTOBUF_C_TYPE_UINT32:
        if (get_integer(c, v, 0, 0, 0, UINT32_MAX, "uint32", &s, &u) != 0)
            return -1;
        return wb_tag(c, out, id, 0) || wb_varint(c, out, u);
    case PROTOBUF_C_TYPE_FIXED32:
        if (get_integer(c, v, 0, 0, 0, UINT32_MAX, "fixed32", &s, &u) != 0)
            return -1;
        return wb_tag(c, out, id, 5) || wb_fixed32(c, out, (uint32_t)u);
    case PROTOBUF_C_TYPE_UINT64:
        if (get_integer(c, v, 0, 0, 0, UINT64_MAX, "uint64", &s, &u) != 0)
            return -1;
        return wb_tag(c, out, id, 0) || wb_varint(c, out, u);
    case PROTOBUF_C_TYPE_FIXED64:
        if (get_integer(c, v, 0, 0, 0, UINT64_MAX, "fixed64", &s, &u) != 0)
            return -1;
        return wb_tag(c, out, id, 1) || wb_fixed64(c, out, u);
    case PROTOBUF_C_TYPE_FLOAT: {
        if (get_double(c, v, 1, &d) != 0)
            return -1;
        float fl = (float)d;
        uint32_t bits;
        memcpy(&bits, &fl, 4);
        return wb_tag(c, out, id, 5) || wb_fixed32(c, out, bits);
    }
    case PROTOBUF_C_TYPE_DOUBLE: {
        if (get_double(c, v, 0, &d) != 0)
            return -1;
        uint64_t bits;
        memcpy(&bits, &d, 8);
        return wb_tag(c, out, id, 1) || wb_fixed64(c, out, bits);
    }
    case PROTOBUF_C_TYPE_BOOL: {
        int b;
        if (as_key) {
            const char *ks = json_object_get_string(v);
            if (strcmp(ks, "true") == 0)
                b = 1;
            else if (strcmp(ks, "false") == 0)
                b = 0;
            else
                return expected(c, "\"true\" or \"false\"", v);
        } else {
            if (!json_object_is_type(v, json_type_boolean))
                return expected(c, "true or false", v);
            b = json_object_get_boolean(v) ? 1 : 0;
        }
        return wb_tag(c, out, id, 0) || wb_varint(c, out, (uint64_t)b);
    }
    case PROTOBUF_C_TYPE_ENUM: {
        int32_t e = 0;
        if (enc_enum(c, v, f->descriptor, &e) != 0)
            return -1;
        return wb_tag(c, out, id, 0) || wb_varint(c, out, (uint64_t)(int64_t)e);
    }
    case PROTOBUF_C_TYPE_STRING: {
        if (!json_object_is_type(v, json_type_string))
            return expected(c, "a string", v);
        const char *str = json_object_get_string(v);
        size_t n = (size_t)json_object_get_string_len(v);
        if (strlen(str) != n)
            return fail(c, "strings may not contain NUL characters");
        return wb_tag(c, out, id, 2) || wb_varint(c, out, n) || wb_put(c, out, str, n);
    }
    case PROTOBUF_C_TYPE_BYTES: {
        if (!json_object_is_type(v, json_type_string))
            return expected(c, "a base64 string", v);
        wbuf_t tmp = {0};
        size_t before = c->total;
        int rc = b64_decode(c, json_object_get_string(v), (size_t)json_object_get_string_len(v),
                            &tmp);
        c->total = before;
        if (rc == 0)
            rc = wb_tag(c, out, id, 2) || wb_varint(c, out, tmp.len) || wb_put(c, out, tmp.p, tmp.len);
        free(tmp.p);
        return rc ? -1 : 0;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        if (!json_object_is_type(v, json_type_object))
            return expected(c, "an object", v);
        wbuf_t tmp = {0};
        size_t before = c->total;
        int rc = enc_message(c, v, f->descriptor, &tmp);
        c->total = before;
        if (rc == 0)
            rc = wb_tag(c, out, id, 2) || wb_varint(c, out, tmp.len) || wb_put(c, out, tmp.p, tmp.len);
        free(tmp.p);
        return rc ? -1 : 0;
    }
    }
    return fail(c, "unsupported field type %d", (int)f->type);
}

/* One map entry: key (a JSON object key) and value. */
static int enc_map_entry(jctx_t *c, const ProtobufCFieldDescriptor *f, const char *key,
                         json_object *val, wbuf_t *out)
{
    const ProtobufCMessageDescriptor *e = f->descriptor;
    if (json_object_is_type(val, json_type_null))
        return fail(c, "null is not allowed as a map value");
    wbuf_t tmp = {0};
    size_t before = c->total;
    json_object *kobj = json_object_new_string(key);
    int rc = kobj == NULL ? fail(c, "out of memory") : 0;
    /* Keys arrive as strings whatever K is; integer keys parse from
     * decimal strings, bool keys from "true"/"false" (as_key). */
    if (rc == 0)
        rc = enc_value(c, &e->fields[0], kobj, &tmp, 1);
    if (rc == 0)
        rc = enc_value(c, &e->fields[1], val, &tmp, 0);
    json_object_put(kobj);
    c->total = before;
    if (rc == 0)
        rc = wb_tag(c, out, f->id, 2) || wb_varint(c, out, tmp.len) || wb_put(c, out, tmp.p, tmp.len);
    free(tmp.p);
    return rc ? -1 : 0;
}

static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *d,
                                                  const char *key)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, key);
    if (f != NULL)
        return f;
    char jn[256];
    for (unsigned i = 0; i < d->n_fields; i++) {
        cor_json_field_name(d->fields[i].name, jn, sizeof(jn));
        if (strcmp(jn, key) == 0)
            return &d->fields[i];
    }
    return NULL;
}

static int enc_field(jctx_t *c, const ProtobufCFieldDescriptor *f, json_object *v, wbuf_t *out)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED)
        return enc_value(c, f, v, out, 0);
    if (is_map_field(f)) {
        if (!json_object_is_type(v, json_type_object))
            return expected(c, "an object (a map)", v);
        json_object_object_foreach(v, key, val)
        {
            size_t old = path_push(c, "[\"%s\"]", key);
            int rc = enc_map_entry(c, f, key, val, out);
            if (rc != 0)
                return -1;
            path_pop(c, old);
        }
        return 0;
    }
    if (!json_object_is_type(v, json_type_array))
        return expected(c, "an array", v);
    size_t n = json_object_array_length(v);
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(v, i);
        size_t old = path_push(c, "[%zu]", i);
        if (e == NULL || json_object_is_type(e, json_type_null))
            return fail(c, "null is not allowed in a repeated field");
        if (enc_value(c, f, e, out, 0) != 0)
            return -1;
        path_pop(c, old);
    }
    return 0;
}

static int enc_message(jctx_t *c, json_object *obj, const ProtobufCMessageDescriptor *d,
                       wbuf_t *out)
{
    if (++c->depth > COR_JSON_MAX_DEPTH) {
        c->depth--;
        return fail(c, "nested more than %d levels deep", COR_JSON_MAX_DEPTH);
    }
    int rc = 0;
    /* Which fields were given (by index), and under which JSON key. */
    const char **seen = calloc(d->n_fields ? d->n_fields : 1, sizeof(*seen));
    if (seen == NULL) {
        c->depth--;
        return fail(c, "out of memory");
    }
    json_object_object_foreach(obj, key, val)
    {
        const ProtobufCFieldDescriptor *f = find_field(d, key);
        size_t old = path_push(c, "%s%s", c->plen ? "." : "", key);
        if (f == NULL) {
            rc = fail(c, "no such field in %s", d->name);
            goto out;
        }
        size_t idx = (size_t)(f - d->fields);
        if (seen[idx] != NULL) {
            rc = fail(c, "given twice (also as \"%s\")", seen[idx]);
            goto out;
        }
        seen[idx] = key;
        if (json_object_is_type(val, json_type_null)) {
            path_pop(c, old);
            continue; /* the default */
        }
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            for (unsigned j = 0; j < d->n_fields; j++) {
                const ProtobufCFieldDescriptor *g = &d->fields[j];
                if (j != idx && seen[j] != NULL && (g->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                    g->quantifier_offset == f->quantifier_offset) {
                    json_object *gv = json_object_object_get(obj, seen[j]);
                    if (gv != NULL && !json_object_is_type(gv, json_type_null)) {
                        rc = fail(c, "oneof already set by \"%s\"", seen[j]);
                        goto out;
                    }
                }
            }
        }
        if (enc_field(c, f, val, out) != 0) {
            rc = -1;
            goto out;
        }
        path_pop(c, old);
    }
    for (unsigned i = 0; i < d->n_fields; i++) {
        if (d->fields[i].label == PROTOBUF_C_LABEL_REQUIRED &&
            (seen[i] == NULL ||
             json_object_is_type(json_object_object_get(obj, seen[i]), json_type_null))) {
            size_t old = path_push(c, "%s%s", c->plen ? "." : "", d->fields[i].name);
            rc = fail(c, "required field missing");
            path_pop(c, old);
            goto out;
        }
    }
out:
    free(seen);
    c->depth--;
    return rc;
}

/* Is the integer literal digits[0..n) (no sign, no leading zeros) beyond
 * what json-c can hold (INT64_MIN..UINT64_MAX)? json-c would silently
 * clamp it. */
static int int_literal_too_big(const char *digits, size_t n, int neg)
{
    const char *lim = neg ? "9223372036854775808" : "18446744073709551615";
    size_t ln = strlen(lim);
    if (n != ln)
        return n > ln;
    return memcmp(digits, lim, n) > 0;
}

/* Copies the input, NUL-terminated, for json-c, fixing what json-c (0.16)
 * lets through: single-quoted strings are refused, and integer literals
 * beyond 64 bits get "e0" appended so they parse as the doubles they are
 * (and are then refused, or read, with their field named) instead of being
 * clamped to the nearest 64-bit value. *out is malloc'd. */
static int prescan(jctx_t *c, const char *in, size_t len, char **out, size_t *outlen)
{
    size_t extra = 0;
    int in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = in[i];
        if (in_str) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                in_str = 0;
            continue;
        }
        if (ch == '"') {
            in_str = 1;
        } else if (ch == '\'') {
            return fail(c, "malformed JSON at offset %zu: strings take double quotes", i);
        } else if (ch == '-' || (ch >= '0' && ch <= '9')) {
            size_t j = i + (ch == '-');
            size_t k = j;
            while (k < len && in[k] >= '0' && in[k] <= '9')
                k++;
            int frac = k < len && (in[k] == '.' || in[k] == 'e' || in[k] == 'E');
            if (!frac && int_literal_too_big(in + j, k - j, ch == '-'))
                extra += 2;
            i = k - 1;
        }
    }
    char *buf = malloc(len + extra + 1);
    if (buf == NULL)
        return fail(c, "out of memory");
    size_t o = 0;
    in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = in[i];
        buf[o++] = ch;
        if (in_str) {
            if (ch == '\\' && i + 1 < len)
                buf[o++] = in[++i];
            else if (ch == '"')
                in_str = 0;
            continue;
        }
        if (ch == '"') {
            in_str = 1;
        } else if (extra > 0 && (ch == '-' || (ch >= '0' && ch <= '9'))) {
            size_t j = i + (ch == '-');
            size_t k = j;
            while (k < len && in[k] >= '0' && in[k] <= '9')
                k++;
            memcpy(buf + o, in + i + 1, k - i - 1);
            o += k - i - 1;
            int frac = k < len && (in[k] == '.' || in[k] == 'e' || in[k] == 'E');
            if (!frac && int_literal_too_big(in + j, k - j, ch == '-')) {
                buf[o++] = 'e';
                buf[o++] = '0';
            }
            i = k - 1;
        }
    }
    buf[o] = '\0';
    *out = buf;
    *outlen = o;
    return 0;
}

int cor_json_to_pb_len(const char *json, size_t len, const ProtobufCMessageDescriptor *d,
                       ProtobufCMessage **out, char *errbuf, size_t errlen)
{
    jctx_t c = {.err = errbuf, .errlen = errlen};
    *out = NULL;
    if (errlen > 0)
        errbuf[0] = '\0';
    if (len > COR_JSON_MAX_INPUT)
        return fail(&c, "JSON input too large (%zu bytes, at most %u)", len, COR_JSON_MAX_INPUT);
    size_t start = 0;
    while (start < len && isspace((unsigned char)json[start]))
        start++;
    if (start == len)
        return fail(&c, "empty JSON input (expected an object for %s)", d->name);
    if (memchr(json, '\0', len) != NULL)
        return fail(&c, "malformed JSON: NUL byte in input");

    char *text = NULL;
    size_t tlen = 0;
    if (prescan(&c, json, len, &text, &tlen) != 0)
        return -1;
    json_tokener *tok = json_tokener_new_ex(COR_JSON_MAX_DEPTH);
    if (tok == NULL) {
        free(text);
        return fail(&c, "out of memory");
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    /* The terminating NUL goes in too, so a document that is a bare
     * number or literal is known to be complete. */
    json_object *root = json_tokener_parse_ex(tok, text, (int)tlen + 1);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    len = tlen;
    json = text;
    if (end > len)
        end = len;
    int bad_tail = 0;
    if (root != NULL) {
        while (end < len && isspace((unsigned char)json[end]))
            end++;
        bad_tail = end < len;
    }
    free(text);
    if (root == NULL) {
        if (jerr == json_tokener_success) /* the document is `null` */
            return fail(&c, "expected a JSON object for %s, got null", d->name);
        if (jerr == json_tokener_continue)
            return fail(&c, "malformed JSON: unexpected end of input");
        if (jerr == json_tokener_error_depth)
            return fail(&c, "malformed JSON: nested more than %d levels deep", COR_JSON_MAX_DEPTH);
        return fail(&c, "malformed JSON at offset %zu: %s", end, json_tokener_error_desc(jerr));
    }
    if (bad_tail) {
        json_object_put(root);
        return fail(&c, "malformed JSON at offset %zu: unexpected text after the value", end);
    }
    if (!json_object_is_type(root, json_type_object)) {
        char got[80];
        describe(root, got, sizeof(got));
        json_object_put(root);
        return fail(&c, "expected a JSON object for %s, got %s", d->name, got);
    }

    wbuf_t w = {0};
    int rc = enc_message(&c, root, d, &w);
    json_object_put(root);
    if (rc == 0) {
        *out = protobuf_c_message_unpack(d, NULL, w.len, w.p ? w.p : (const uint8_t *)"");
        if (*out == NULL)
            rc = fail(&c, "internal error: %s rejected the encoded message", d->name);
    }
    free(w.p);
    return rc;
}

int cor_json_to_pb(const char *json, const ProtobufCMessageDescriptor *d, ProtobufCMessage **out,
                   char *errbuf, size_t errlen)
{
    return cor_json_to_pb_len(json, strlen(json), d, out, errbuf, errlen);
}

/* ---------------- message -> JSON ---------------- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static json_object *b64_encode(const uint8_t *p, size_t n)
{
    if (n > (SIZE_MAX - 4) / 4 * 3)
        return NULL;
    size_t olen = (n + 2) / 3 * 4;
    char *s = malloc(olen + 1);
    if (s == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        s[o++] = b64chars[(v >> 18) & 63];
        s[o++] = b64chars[(v >> 12) & 63];
        s[o++] = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
        s[o++] = i + 2 < n ? b64chars[v & 63] : '=';
    }
    s[o] = '\0';
    json_object *j = json_object_new_string_len(s, (int)o);
    free(s);
    return j;
}

/* A float or double as the shortest text that reads back to the same
 * value; non-finite values as the proto3 strings. */
static json_object *real_json(double d, int is_float)
{
    if (isnan(d))
        return json_object_new_string("NaN");
    if (isinf(d))
        return json_object_new_string(d > 0 ? "Infinity" : "-Infinity");
    char buf[64];
    if (d == 0 && signbit(d))
        /* "-0" would read back as the integer 0 and lose its sign (json-c
         * parses it as an int): write it as a real. Found by fuzz_json_pb. */
        return json_object_new_double_s(d, "-0.0");
    for (int prec = is_float ? 6 : 15; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, d);
        if (is_float ? (float)strtod(buf, NULL) == (float)d : strtod(buf, NULL) == d)
            break;
    }
    return json_object_new_double_s(d, buf);
}

static json_object *u64_string(uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%" PRIu64, v);
    return json_object_new_string(buf);
}

static json_object *i64_string(int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%" PRId64, v);
    return json_object_new_string(buf);
}

static json_object *msg_json(const ProtobufCMessage *m, int depth);

/* One value of field f stored at p (pointing at the C member or array
 * element). */
static json_object *value_json(const ProtobufCFieldDescriptor *f, const void *p, int depth)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_object_new_int64(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_object_new_int64(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return i64_string(*(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return u64_string(*(const uint64_t *)p);
    case PROTOBUF_C_TYPE_FLOAT:
        return real_json(*(const float *)p, 1);
    case PROTOBUF_C_TYPE_DOUBLE:
        return real_json(*(const double *)p, 0);
    case PROTOBUF_C_TYPE_BOOL:
        return json_object_new_boolean(*(const protobuf_c_boolean *)p ? 1 : 0);
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        return ev ? json_object_new_string(ev->name) : json_object_new_int64(v);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return json_object_new_string(s ? s : "");
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        return b64_encode(b->data, b->len);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
        return sub ? msg_json(sub, depth + 1) : json_object_new_object();
    }
    }
    return NULL;
}

/* Does the singular field f of m (at p) hold a value worth printing? */
static int present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, const void *p)
{
    const char *base = (const char *)m;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        return *(ProtobufCMessage *const *)p != NULL;
    if (f->label == PROTOBUF_C_LABEL_REQUIRED)
        return 1;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL) {
        if (f->type == PROTOBUF_C_TYPE_STRING) {
            const char *s = *(char *const *)p;
            return s != NULL && s != (const char *)f->default_value;
        }
        return *(const protobuf_c_boolean *)(base + f->quantifier_offset) != 0;
    }
    /* proto3 implicit presence: omit the default. */
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return *(const uint32_t *)p != 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return *(const uint64_t *)p != 0;
    case PROTOBUF_C_TYPE_FLOAT: {
        uint32_t bits;
        memcpy(&bits, p, 4);
        return bits != 0; /* -0.0 is not the default */
    }
    case PROTOBUF_C_TYPE_DOUBLE: {
        uint64_t bits;
        memcpy(&bits, p, 8);
        return bits != 0;
    }
    case PROTOBUF_C_TYPE_BOOL:
        return *(const protobuf_c_boolean *)p != 0;
    case PROTOBUF_C_TYPE_ENUM:
        return *(const int *)p != 0;
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return s != NULL && s[0] != '\0';
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)p)->len != 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return 1;
    }
    return 0;
}

static size_t elem_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return 4;
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    }
    return 0;
}

/* A map key as JSON object key text. */
static void map_key_text(const ProtobufCFieldDescriptor *kf, const void *p, char *out, size_t n)
{
    switch (kf->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        snprintf(out, n, "%s", s ? s : "");
        return;
    }
    case PROTOBUF_C_TYPE_BOOL:
        snprintf(out, n, "%s", *(const protobuf_c_boolean *)p ? "true" : "false");
        return;
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        snprintf(out, n, "%" PRId32, *(const int32_t *)p);
        return;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        snprintf(out, n, "%" PRIu32, *(const uint32_t *)p);
        return;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        snprintf(out, n, "%" PRId64, *(const int64_t *)p);
        return;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        snprintf(out, n, "%" PRIu64, *(const uint64_t *)p);
        return;
    default:
        snprintf(out, n, "?");
        return;
    }
}

static json_object *msg_json(const ProtobufCMessage *m, int depth)
{
    if (depth > COR_JSON_MAX_DEPTH)
        return NULL;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    json_object *o = json_object_new_object();
    if (o == NULL)
        return NULL;
    const char *base = (const char *)m;
    char jn[256];
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const void *p = base + f->offset;
        json_object *v = NULL;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            if (n == 0)
                continue;
            const char *arr = *(const char *const *)p;
            size_t es = elem_size(f);
            if (is_map_field(f)) {
                const ProtobufCMessageDescriptor *e = f->descriptor;
                v = json_object_new_object();
                for (size_t k = 0; v != NULL && k < n; k++) {
                    const ProtobufCMessage *ent = *(ProtobufCMessage *const *)(arr + k * es);
                    const char *eb = (const char *)ent;
                    char key[256];
                    map_key_text(&e->fields[0], eb + e->fields[0].offset, key, sizeof(key));
                    json_object *val = value_json(&e->fields[1], eb + e->fields[1].offset, depth + 1);
                    if (val == NULL || json_object_object_add(v, key, val) != 0) {
                        json_object_put(val);
                        json_object_put(v);
                        v = NULL;
                    }
                }
            } else {
                v = json_object_new_array_ext((int)n);
                for (size_t k = 0; v != NULL && k < n; k++) {
                    json_object *e = value_json(f, arr + k * es, depth);
                    if (e == NULL || json_object_array_add(v, e) != 0) {
                        json_object_put(e);
                        json_object_put(v);
                        v = NULL;
                    }
                }
            }
        } else {
            if (!present(m, f, p))
                continue;
            v = value_json(f, p, depth);
        }
        cor_json_field_name(f->name, jn, sizeof(jn));
        if (v == NULL || json_object_object_add(o, jn, v) != 0) {
            json_object_put(v);
            json_object_put(o);
            return NULL;
        }
    }
    return o;
}

struct json_object *cor_pb_to_json_object(const ProtobufCMessage *m)
{
    return msg_json(m, 1);
}

char *cor_pb_to_json(const ProtobufCMessage *m, int pretty)
{
    json_object *o = msg_json(m, 1);
    if (o == NULL)
        return NULL;
    int flags = JSON_C_TO_STRING_NOSLASHESCAPE |
                (pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED : JSON_C_TO_STRING_PLAIN);
    const char *s = json_object_to_json_string_ext(o, flags);
    char *r = s ? strdup(s) : NULL;
    json_object_put(o);
    return r;
}
