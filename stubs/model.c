/*
 * model.c — from a FileDescriptorProto to the checked model gen.c prints.
 *
 * protoc hands the plugin every file the generated ones depend on, so
 * type_table_build() indexes each message and enum of the whole request by
 * full name; method input and output types ("." + full name) are resolved
 * there, wherever they are declared.
 *
 * The Corundum annotations are extensions, and protobuf-c has no extension
 * support: they arrive as unknown fields of ServiceOptions (51730, a string)
 * and MethodOptions (51731, an embedded cor.MethodHints). A length-delimited
 * unknown field's data still starts with its varint length prefix, which we
 * check and strip, then decode the payload with a small wire reader.
 *
 * model_build() then checks everything Corundum cannot or will not serve and
 * reports each problem as "file.proto:LINE:COL: what is wrong", with the
 * position taken from source_code_info: the most specific location whose
 * path is a prefix of the construct's path (e.g. [6,i,2,j,4,51731,4] for
 * the shard_key of method j of service i, falling back to [6,i,2,j]). Spans
 * are 0-based there; we print them 1-based like protoc does.
 *
 * Rejected: client or server streaming; read_only together with mutating;
 * a shard_key naming no field of the input message; service or method
 * names whose generated identifiers collide after snake_case mangling (or
 * have no letters left); method names protoc-c itself would turn into a C
 * keyword; options that cannot be decoded.
 */
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

/* FileOptions extension (pb_c_file) of protobuf-c.proto, and its c_package
 * field: they change protoc-c's names, so we honour them. */
#define PBC_FILE_OPTIONS 1019
#define PBC_C_PACKAGE 6

/* ---------------------------------------------------------------- types */

static void add_type(type_table_t *t, const pb_file_t *f, char *full, const pb_message_t *msg,
                     const pb_enum_t *en, bool nested)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 64;
        t->v = xrealloc(t->v, t->cap * sizeof(t->v[0]));
    }
    t->v[t->n++] = (type_entry_t){.full = full, .file = f, .msg = msg, .en = en, .nested = nested};
}

static char *join_name(const char *scope, const char *name)
{
    if (scope == NULL || scope[0] == '\0')
        return xstrdup(name ? name : "");
    return xasprintf("%s.%s", scope, name ? name : "");
}

static void add_message(type_table_t *t, const pb_file_t *f, const char *scope,
                        const pb_message_t *msg, bool nested)
{
    char *full = join_name(scope, msg->name);
    for (size_t i = 0; i < msg->n_nested_type; i++)
        add_message(t, f, full, msg->nested_type[i], true);
    for (size_t i = 0; i < msg->n_enum_type; i++)
        add_type(t, f, join_name(full, msg->enum_type[i]->name), NULL, msg->enum_type[i], true);
    add_type(t, f, full, msg, NULL, nested);
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const type_entry_t *)a)->full, ((const type_entry_t *)b)->full);
}

void type_table_build(type_table_t *t, Google__Protobuf__Compiler__CodeGeneratorRequest *req)
{
    for (size_t i = 0; i < req->n_proto_file; i++) {
        const pb_file_t *f = req->proto_file[i];
        /* A file without a name (the wire allows it; protoc never sends
         * one) is skipped here as find_file skips it: a type resolved to
         * it would have no header to include. Found by fuzz_stubs. */
        if (f->name == NULL)
            continue;
        for (size_t j = 0; j < f->n_message_type; j++)
            add_message(t, f, f->package, f->message_type[j], false);
        for (size_t j = 0; j < f->n_enum_type; j++)
            add_type(t, f, join_name(f->package, f->enum_type[j]->name), NULL, f->enum_type[j],
                     false);
    }
    if (t->n > 0)
        qsort(t->v, t->n, sizeof(t->v[0]), cmp_entry);
}

const type_entry_t *type_table_find(const type_table_t *t, const char *name)
{
    if (name == NULL || t->n == 0)
        return NULL;
    if (name[0] == '.')
        name++;
    type_entry_t key = {.full = (char *)name};
    return bsearch(&key, t->v, t->n, sizeof(t->v[0]), cmp_entry);
}

void type_table_free(type_table_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i].full);
    free(t->v);
    t->v = NULL;
    t->n = t->cap = 0;
}

/* ---------------------------------------------------------- wire reader */

typedef struct wire {
    const uint8_t *p, *end;
} wire_t;

static bool wire_varint(wire_t *w, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 64 && w->p < w->end; shift += 7) {
        uint8_t byte = *w->p++;
        x |= (uint64_t)(byte & 0x7f) << shift;
        if ((byte & 0x80) == 0) {
            *v = x;
            return true;
        }
    }
    return false;
}

/* Reads a length-delimited body. */
static bool wire_bytes(wire_t *w, const uint8_t **data, size_t *len)
{
    uint64_t n;
    if (!wire_varint(w, &n) || n > (uint64_t)(w->end - w->p))
        return false;
    *data = w->p;
    *len = (size_t)n;
    w->p += n;
    return true;
}

/* Skips a field of wire type wt (groups are not supported). */
static bool wire_skip(wire_t *w, unsigned wt)
{
    uint64_t v;
    const uint8_t *d;
    size_t n;
    switch (wt) {
    case 0:
        return wire_varint(w, &v);
    case 1:
    case 5: {
        size_t k = wt == 1 ? 8 : 4;
        if ((size_t)(w->end - w->p) < k)
            return false;
        w->p += k;
        return true;
    }
    case 2:
        return wire_bytes(w, &d, &n);
    default:
        return false;
    }
}

/* The payload of a length-delimited unknown field: protobuf-c keeps the
 * varint length prefix at the start of data, so check and strip it. */
static bool unknown_payload(const ProtobufCMessageUnknownField *u, const uint8_t **data,
                            size_t *len)
{
    if (u->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
        return false;
    wire_t w = {u->data, u->data + u->len};
    if (!wire_bytes(&w, data, len) || w.p != w.end)
        return false;
    return true;
}

static const char *wire_type_name(unsigned wt)
{
    static const char *const names[] = {"varint", "64-bit", "length-delimited", "group start",
                                        "group end", "32-bit"};
    return wt < 6 ? names[wt] : "invalid";
}

/* The (pb_c_file).c_package of f, NULL when not set or not decodable
 * (protoc-c itself would have failed on the latter). Not owned. */
static const char *c_package_of(const pb_file_t *f, size_t *len)
{
    if (f->options == NULL)
        return NULL;
    const char *found = NULL;
    const ProtobufCMessage *opt = &f->options->base;
    for (size_t i = 0; i < opt->n_unknown_fields; i++) {
        const ProtobufCMessageUnknownField *u = &opt->unknown_fields[i];
        const uint8_t *d;
        size_t n;
        if (u->tag != PBC_FILE_OPTIONS || !unknown_payload(u, &d, &n))
            continue;
        wire_t w = {d, d + n};
        while (w.p < w.end) {
            uint64_t key;
            if (!wire_varint(&w, &key))
                break;
            if ((key >> 3) == PBC_C_PACKAGE && (key & 7) == 2) {
                if (!wire_bytes(&w, &d, len))
                    break;
                found = (const char *)d;
            } else if (!wire_skip(&w, (unsigned)(key & 7))) {
                break;
            }
        }
    }
    return found;
}

static char *type_name(const type_entry_t *t, char *(*fn)(const char *, const char *, const char *))
{
    size_t len = 0;
    const char *cp = c_package_of(t->file, &len);
    char *c_package = cp ? xasprintf("%.*s", (int)len, cp) : NULL;
    char *name = fn(t->full, t->file->package, c_package);
    free(c_package);
    return name;
}

char *type_c_name(const type_entry_t *t)
{
    return type_name(t, pbc_type_name);
}

char *type_lower_name(const type_entry_t *t)
{
    return type_name(t, pbc_lower_name);
}

/* ------------------------------------------------------------- errors */

typedef struct checker {
    const pb_file_t *file;
    buf_t *errors;
    int failed;
} checker_t;

/* Reports a problem at the best source location for path[0..n). */
static void report(checker_t *c, const int32_t *path, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void report(checker_t *c, const int32_t *path, size_t n, const char *fmt, ...)
{
    const Google__Protobuf__SourceCodeInfo *sci = c->file->source_code_info;
    const Google__Protobuf__SourceCodeInfo__Location *best = NULL;
    for (size_t k = n; sci != NULL && k > 0 && best == NULL; k--) {
        for (size_t i = 0; i < sci->n_location; i++) {
            const Google__Protobuf__SourceCodeInfo__Location *l = sci->location[i];
            if (l->n_path == k && l->n_span >= 3 &&
                memcmp(l->path, path, k * sizeof(path[0])) == 0) {
                best = l;
                break;
            }
        }
    }
    if (best != NULL)
        buf_printf(c->errors, "%s:%d:%d: ", c->file->name, best->span[0] + 1, best->span[1] + 1);
    else
        buf_printf(c->errors, "%s: ", c->file->name);
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(c->errors, fmt, ap);
    va_end(ap);
    buf_put(c->errors, "\n");
    c->failed = 1;
}

/* ------------------------------------------------------------ options */

/* Decodes (cor.dm_chain) of service i into s. */
static void decode_dm_chain(checker_t *c, size_t i, service_model_t *s)
{
    const int32_t path[] = {6, (int32_t)i, 3, COR_OPT_DM_CHAIN};
    const Google__Protobuf__ServiceOptions *o = s->pb->options;
    s->dm_chain = xstrdup("");
    s->dm_chain_len = 0;
    if (o == NULL)
        return;
    for (size_t k = 0; k < o->base.n_unknown_fields; k++) {
        const ProtobufCMessageUnknownField *u = &o->base.unknown_fields[k];
        if (u->tag != COR_OPT_DM_CHAIN)
            continue;
        const uint8_t *d;
        size_t n;
        if (!unknown_payload(u, &d, &n)) {
            report(c, path, 4,
                   "cannot decode option (cor.dm_chain) of service %s: found a %s field %d, "
                   "expected a string (is extension %d defined by something other than "
                   "cor/options.proto?)",
                   s->full, wire_type_name(u->wire_type), COR_OPT_DM_CHAIN, COR_OPT_DM_CHAIN);
            return;
        }
        free(s->dm_chain); /* the last occurrence wins, as in protobuf */
        s->dm_chain = xmalloc(n + 1);
        memcpy(s->dm_chain, d, n);
        s->dm_chain[n] = '\0';
        s->dm_chain_len = n;
    }
}

/* Decodes (cor.method) of method j of service i into m. Occurrences merge,
 * later fields overriding earlier ones, as protobuf merges messages. */
static void decode_hints(checker_t *c, size_t i, size_t j, const char *full,
                         method_model_t *m)
{
    const int32_t path[] = {6, (int32_t)i, 2, (int32_t)j, 4, COR_OPT_METHOD};
    const Google__Protobuf__MethodOptions *o = m->pb->options;
    static const char *const field_names[] = {"", "read_only", "mutating", "idempotent",
                                              "shard_key"};
    if (o == NULL)
        return;
    for (size_t k = 0; k < o->base.n_unknown_fields; k++) {
        const ProtobufCMessageUnknownField *u = &o->base.unknown_fields[k];
        if (u->tag != COR_OPT_METHOD)
            continue;
        const uint8_t *d;
        size_t n;
        if (!unknown_payload(u, &d, &n)) {
            report(c, path, 6,
                   "cannot decode option (cor.method) of method %s: found a %s field %d, "
                   "expected a cor.MethodHints message (is extension %d defined by something "
                   "other than cor/options.proto?)",
                   full, wire_type_name(u->wire_type), COR_OPT_METHOD, COR_OPT_METHOD);
            return;
        }
        wire_t w = {d, d + n};
        while (w.p < w.end) {
            uint64_t key, v;
            if (!wire_varint(&w, &key))
                goto malformed;
            unsigned field = (unsigned)(key >> 3), wt = (unsigned)(key & 7);
            if (field >= 1 && field <= 4) {
                unsigned want = field == 4 ? 2 : 0;
                if (wt != want) {
                    report(c, path, 6,
                           "cannot decode option (cor.method) of method %s: field %u (%s) is "
                           "%s, expected %s",
                           full, field, field_names[field], wire_type_name(wt),
                           wire_type_name(want));
                    return;
                }
            }
            switch (field) {
            case 1:
            case 2:
            case 3: {
                unsigned bit = field == 1 ? HINT_READ_ONLY
                               : field == 2 ? HINT_MUTATING
                                            : HINT_IDEMPOTENT;
                if (!wire_varint(&w, &v))
                    goto malformed;
                m->hints = v ? (m->hints | bit) : (m->hints & ~bit);
                break;
            }
            case 4: {
                const uint8_t *s;
                size_t len;
                if (!wire_bytes(&w, &s, &len) || memchr(s, '\0', len) != NULL)
                    goto malformed;
                free(m->shard_key);
                m->shard_key = xasprintf("%.*s", (int)len, (const char *)s);
                break;
            }
            default: /* a newer cor.MethodHints: skip what we do not know */
                if (!wire_skip(&w, wt))
                    goto malformed;
            }
        }
    }
    return;
malformed:
    report(c, path, 6, "cannot decode option (cor.method) of method %s: malformed cor.MethodHints",
           full);
}

/* ----------------------------------------------------------- the model */

/* One generated identifier, for collision checks. */
typedef struct ident {
    char *id;
    const char *what; /* "the synchronous proxy" */
    char *owner;      /* "method a.b.Kv.Get" */
    int32_t path[4];
    size_t path_len;
} ident_t;

typedef struct idents {
    size_t n, cap;
    ident_t *v;
} idents_t;

static void add_ident(idents_t *ids, char *id, const char *what, const char *owner,
                      const int32_t *path, size_t path_len)
{
    if (ids->n == ids->cap) {
        ids->cap = ids->cap ? 2 * ids->cap : 32;
        ids->v = xrealloc(ids->v, ids->cap * sizeof(ids->v[0]));
    }
    ident_t *x = &ids->v[ids->n++];
    x->id = id;
    x->what = what;
    x->owner = xstrdup(owner);
    memcpy(x->path, path, path_len * sizeof(path[0]));
    x->path_len = path_len;
}

static void check_collisions(checker_t *c, idents_t *ids)
{
    for (size_t k = 1; k < ids->n; k++) {
        ident_t *b = &ids->v[k];
        bool done = false;
        for (size_t i = 0; i < k && !done; i++) {
            ident_t *a = &ids->v[i];
            if (strcmp(a->id, b->id) != 0 || strcmp(a->owner, b->owner) == 0)
                continue;
            report(c, b->path, b->path_len,
                   "%s collides with %s after snake_case mangling: both would generate %s "
                   "(%s of %s)",
                   b->owner, a->owner, b->id, a->what, a->owner);
            done = true;
        }
        if (done) /* one report per owner is enough */
            for (size_t i = k + 1; i < ids->n; i++)
                if (strcmp(ids->v[i].owner, b->owner) == 0)
                    ids->v[i].id[0] = '\0';
    }
    for (size_t k = 0; k < ids->n; k++) {
        free(ids->v[k].id);
        free(ids->v[k].owner);
    }
    free(ids->v);
}

static bool has_field(const pb_message_t *msg, const char *name)
{
    for (size_t i = 0; i < msg->n_field; i++)
        if (msg->field[i]->name != NULL && strcmp(msg->field[i]->name, name) == 0)
            return true;
    return false;
}

static void add_include(model_t *m, const pb_file_t *f)
{
    char *base = strip_proto(f->name);
    char *h = xasprintf("%s.pb-c.h", base);
    free(base);
    for (size_t i = 0; i < m->n_includes; i++) {
        if (strcmp(m->includes[i], h) == 0) {
            free(h);
            return;
        }
    }
    m->includes = xrealloc(m->includes, (m->n_includes + 1) * sizeof(m->includes[0]));
    m->includes[m->n_includes++] = h;
}

static void build_method(checker_t *c, const type_table_t *types, size_t i, size_t j,
                         service_model_t *s, method_model_t *m, model_t *model)
{
    const int32_t path[] = {6, (int32_t)i, 2, (int32_t)j};
    const char *name = m->pb->name ? m->pb->name : "";
    char *full = xasprintf("%s.%s", s->full, name);
    if (m->pb->name == NULL || s->pb->name == NULL)
        report(c, path, 4, "malformed descriptor: a service or method without a name");

    m->snake = snake_case(name);
    m->field = is_c_or_cxx_keyword(m->snake) ? xasprintf("%s_", m->snake) : xstrdup(m->snake);
    m->fn = xasprintf("%s_%s", s->prefix, m->snake);
    m->index = upper_case(m->fn);

    /* protoc-c names the method in its own service struct by CamelToLower
     * and does not escape keywords: its header would not compile if that
     * name is a C keyword. (C++-only ones such as `delete` are fine: the
     * generated code is C.) */
    char *pbc_method = pbc_lower_name(name, "", NULL);
    if (is_c_keyword(pbc_method))
        report(c, path, 4,
               "method %s: protoc-c names it \"%s\" in the service struct it generates, a C "
               "keyword, so the generated messages would not compile; rename the method",
               full, pbc_method);
    free(pbc_method);

    if (m->pb->client_streaming || m->pb->server_streaming)
        report(c, path, 4,
               "method %s is %s streaming: Corundum methods are unary (one request, one reply)",
               full,
               m->pb->client_streaming && m->pb->server_streaming ? "client and server"
               : m->pb->client_streaming                           ? "client"
                                                                   : "server");

    m->in = type_table_find(types, m->pb->input_type);
    m->out = type_table_find(types, m->pb->output_type);
    if (m->in == NULL || m->in->msg == NULL || m->out == NULL || m->out->msg == NULL) {
        report(c, path, 4, "method %s: cannot resolve its %s type %s", full,
               m->in == NULL || m->in->msg == NULL ? "input" : "output",
               m->in == NULL || m->in->msg == NULL ? m->pb->input_type : m->pb->output_type);
        free(full);
        return;
    }
    m->in_c = type_c_name(m->in);
    m->in_lower = type_lower_name(m->in);
    m->out_c = type_c_name(m->out);
    m->out_lower = type_lower_name(m->out);
    add_include(model, m->in->file);
    add_include(model, m->out->file);

    int before = c->failed;
    c->failed = 0;
    decode_hints(c, i, j, full, m);
    if (!c->failed) {
        const int32_t opt_path[] = {6, (int32_t)i, 2, (int32_t)j, 4, COR_OPT_METHOD, 1};
        if ((m->hints & HINT_READ_ONLY) && (m->hints & HINT_MUTATING))
            report(c, opt_path, 6,
                   "method %s is marked both read_only and mutating in (cor.method): pick one",
                   full);
        if (m->shard_key != NULL && !has_field(m->in->msg, m->shard_key)) {
            const int32_t key_path[] = {6, (int32_t)i, 2, (int32_t)j, 4, COR_OPT_METHOD, 4};
            buf_t known = {0};
            for (size_t f = 0; f < m->in->msg->n_field; f++)
                buf_printf(&known, "%s%s", f ? ", " : "",
                           m->in->msg->field[f]->name ? m->in->msg->field[f]->name : "?");
            report(c, key_path, 7,
                   "method %s: shard_key \"%s\" names no field of its input message %s "
                   "(fields: %s)",
                   full, m->shard_key, m->in->full, known.len ? known.data : "none");
            buf_free(&known);
        }
    }
    c->failed |= before;
    free(full);
}

int model_build(model_t *m, const pb_file_t *f, const type_table_t *types, buf_t *errors)
{
    checker_t c = {.file = f, .errors = errors};
    idents_t ids = {0};
    char *pkg = package_prefix(f->package);

    memset(m, 0, sizeof(*m));
    m->file = f;
    m->base = strip_proto(f->name);
    /* The .cor.h always includes its own file's protoc-c header first. */
    add_include(m, f);
    m->n_services = f->n_service;
    m->services = xcalloc(f->n_service, sizeof(m->services[0]));

    for (size_t i = 0; i < f->n_service; i++) {
        service_model_t *s = &m->services[i];
        const int32_t path[] = {6, (int32_t)i};
        s->pb = f->service[i];
        const char *name = s->pb->name ? s->pb->name : "";
        s->full = join_name(f->package, name);
        char *snake = snake_case(name);
        s->prefix = pkg[0] ? xasprintf("%s_%s", pkg, snake) : xstrdup(snake);
        char *owner = xasprintf("service %s", s->full);
        if (snake[0] == '\0')
            report(&c, path, 2, "%s has no letters left after snake_case mangling", owner);
        free(snake);
        add_ident(&ids, xasprintf("%s_service", s->prefix), "the service descriptor", owner,
                  path, 2);
        add_ident(&ids, xasprintf("%s_methods", s->prefix), "the method table", owner, path, 2);
        add_ident(&ids, xasprintf("%s_ops", s->prefix), "the ops struct", owner, path, 2);
        decode_dm_chain(&c, i, s);

        s->n_methods = s->pb->n_method;
        s->methods = xcalloc(s->n_methods, sizeof(s->methods[0]));
        for (size_t j = 0; j < s->n_methods; j++) {
            method_model_t *mm = &s->methods[j];
            const int32_t mpath[] = {6, (int32_t)i, 2, (int32_t)j};
            mm->pb = s->pb->method[j];
            build_method(&c, types, i, j, s, mm, m);
            char *mowner = xasprintf("method %s.%s", s->full, mm->pb->name ? mm->pb->name : "");
            if (mm->snake[0] == '\0')
                report(&c, mpath, 4, "%s has no letters left after snake_case mangling", mowner);
            add_ident(&ids, xstrdup(mm->fn), "the synchronous proxy", mowner, mpath, 4);
            add_ident(&ids, xasprintf("%s_async", mm->fn), "the asynchronous proxy", mowner,
                      mpath, 4);
            add_ident(&ids, xasprintf("%s_cb", mm->fn), "the callback type", mowner, mpath, 4);
            add_ident(&ids, xasprintf("%s__invoke", mm->fn), "the skeleton", mowner, mpath, 4);
            add_ident(&ids, xasprintf("%s__done", mm->fn), "the completion", mowner, mpath, 4);
            free(mowner);
        }
        free(owner);
    }
    check_collisions(&c, &ids);
    free(pkg);

    if (!c.failed)
        for (size_t i = 0; i < m->n_services; i++)
            m->services[i].fingerprint = fingerprint_service(&m->services[i], types);
    return c.failed ? -1 : 0;
}

void model_free(model_t *m)
{
    for (size_t i = 0; i < m->n_services; i++) {
        service_model_t *s = &m->services[i];
        for (size_t j = 0; j < s->n_methods; j++) {
            method_model_t *mm = &s->methods[j];
            free(mm->snake);
            free(mm->field);
            free(mm->fn);
            free(mm->index);
            free(mm->in_c);
            free(mm->in_lower);
            free(mm->out_c);
            free(mm->out_lower);
            free(mm->shard_key);
        }
        free(s->methods);
        free(s->full);
        free(s->prefix);
        free(s->dm_chain);
    }
    free(m->services);
    for (size_t i = 0; i < m->n_includes; i++)
        free(m->includes[i]);
    free(m->includes);
    free(m->base);
    memset(m, 0, sizeof(*m));
}
