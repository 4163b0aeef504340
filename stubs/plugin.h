/*
 * plugin.h — protoc-gen-cor's internal interfaces, shared by its files.
 *
 *   main.c         reads the CodeGeneratorRequest, drives the rest, writes
 *                  the CodeGeneratorResponse.
 *   buf.c          a growing string buffer (all output text is built in one).
 *   names.c        C names: protoc-c 1.4.1's type and descriptor mangling,
 *                  and Corundum's snake_case names; C string escaping.
 *   model.c        the checked model of one .proto: type lookup across all
 *                  files of the request, (cor.*) option decoding, validation
 *                  with file:line:col errors.
 *   fingerprint.c  the 64-bit interface fingerprint of a service.
 *   gen.c          emission of <base>.cor.h and <base>.cor.c.
 *
 * Memory: the plugin runs once per protoc invocation. Everything the model
 * allocates comes from xmalloc()/xstrdup() (which exit on out-of-memory, as
 * there is nothing sensible to recover) and is released by model_free().
 */
#ifndef COR_STUBS_PLUGIN_H
#define COR_STUBS_PLUGIN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "google/protobuf/compiler/plugin.pb-c.h"
#include "google/protobuf/descriptor.pb-c.h"

typedef Google__Protobuf__FileDescriptorProto pb_file_t;
typedef Google__Protobuf__DescriptorProto pb_message_t;
typedef Google__Protobuf__EnumDescriptorProto pb_enum_t;
typedef Google__Protobuf__FieldDescriptorProto pb_field_t;
typedef Google__Protobuf__ServiceDescriptorProto pb_service_t;
typedef Google__Protobuf__MethodDescriptorProto pb_method_t;

/* Extension numbers from proto/cor/options.proto. */
#define COR_OPT_DM_CHAIN 51730 /* ServiceOptions: string */
#define COR_OPT_METHOD 51731   /* MethodOptions: cor.MethodHints */

/* Hint bits, the same values as enum cor_method_hint in cor/object.h. */
#define HINT_READ_ONLY (1u << 0)
#define HINT_MUTATING (1u << 1)
#define HINT_IDEMPOTENT (1u << 2)

/* ---- buf.c ---- */

typedef struct buf {
    char *data; /* NUL-terminated; NULL until the first append */
    size_t len;
    size_t cap;
} buf_t;

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void buf_put(buf_t *b, const char *s);
void buf_putn(buf_t *b, const char *s, size_t n);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(buf_t *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Hands the text to the caller (who frees it) and empties b. Never NULL. */
char *buf_take(buf_t *b);
void buf_free(buf_t *b);

/* ---- names.c ---- */

/* protoc-c's names for a type with full name `full` ("a.b.Outer.Inner", no
 * leading dot) declared in a file of package `package` with an optional
 * (pb_c_file).c_package override (NULL when none). Both return malloc'd
 * strings: "A__B__Outer__Inner" and "a__b__outer__inner". */
char *pbc_type_name(const char *full, const char *package, const char *c_package);
char *pbc_lower_name(const char *full, const char *package, const char *c_package);

/* "KeyValueStore" -> "key_value_store", "GetHTTPStatus" -> "get_http_status",
 * "Put_value" -> "put_value". malloc'd. */
char *snake_case(const char *name);
/* "a.B.c" -> "a_b_c" (dots to '_', lowercased). malloc'd. */
char *package_prefix(const char *package);
/* ASCII upper-casing copy. malloc'd. */
char *upper_case(const char *s);
/* True for C keywords (C11 and the usual C++ ones, as protoc-c avoids). */
/* C11 keywords and the macros of <stdbool.h>: names protoc-c cannot use. */
bool is_c_keyword(const char *s);
/* Those plus C++ keywords: names we escape in our own generated fields. */
bool is_c_or_cxx_keyword(const char *s);
/* The file name without ".proto" (or ".protodevel"), as protoc-c does. */
char *strip_proto(const char *file_name);
/* Appends s as the body of a C string literal (no quotes): quotes,
 * backslashes, control and non-ASCII bytes and trigraph '?'s escaped. */
void buf_c_string(buf_t *b, const char *s, size_t len);
/* Appends s made safe inside a C block comment. */
void buf_comment_text(buf_t *b, const char *s);

/* ---- model.c ---- */

/* A message or enum type known to the request. */
typedef struct type_entry {
    char *full;              /* "a.b.GetReply.Meta", no leading dot */
    const pb_file_t *file;   /* file that declares it */
    const pb_message_t *msg; /* exactly one of msg, en is set */
    const pb_enum_t *en;
    bool nested;             /* declared inside another message */
} type_entry_t;

typedef struct method_model {
    const pb_method_t *pb;
    char *snake;  /* "put_value" */
    char *field;  /* ops struct member: snake, '_' appended for C keywords */
    char *fn;     /* "a_b_key_value_store_put_value" */
    char *index;  /* "A_B_KEY_VALUE_STORE_PUT_VALUE" */
    const type_entry_t *in, *out;
    char *in_c, *in_lower, *out_c, *out_lower; /* protoc-c names */
    unsigned hints;  /* HINT_* */
    char *shard_key; /* NULL when none */
} method_model_t;

typedef struct service_model {
    const pb_service_t *pb;
    char *full;   /* "a.b.KeyValueStore" */
    char *prefix; /* "a_b_key_value_store" */
    char *dm_chain;
    size_t dm_chain_len; /* may hold NUL bytes in theory; escaped anyway */
    uint64_t fingerprint;
    size_t n_methods;
    method_model_t *methods;
} service_model_t;

typedef struct model {
    const pb_file_t *file;
    char *base; /* "a/b/kv" */
    size_t n_services;
    service_model_t *services;
    size_t n_includes; /* .pb-c.h headers the .cor.h needs, in order */
    char **includes;
} model_t;

typedef struct type_table {
    size_t n, cap;
    type_entry_t *v; /* sorted by full name after type_table_build */
} type_table_t;

/* Indexes every message and enum of every file in the request. */
void type_table_build(type_table_t *t, Google__Protobuf__Compiler__CodeGeneratorRequest *req);
/* Finds ".a.b.Msg" or "a.b.Msg"; NULL when unknown. */
const type_entry_t *type_table_find(const type_table_t *t, const char *name);
void type_table_free(type_table_t *t);

/* Builds and checks the model of file f. Returns 0, or -1 with one line per
 * problem ("a/b/kv.proto:12:3: what is wrong\n") appended to errors. The
 * model must be freed with model_free() either way. */
int model_build(model_t *m, const pb_file_t *f, const type_table_t *types, buf_t *errors);
void model_free(model_t *m);

/* The protoc-c names of a known type (malloc'd). */
char *type_c_name(const type_entry_t *t);
char *type_lower_name(const type_entry_t *t);

/* ---- fingerprint.c ---- */

/* Appends the canonical text of service s (see fingerprint.c) to out. */
void fingerprint_text(buf_t *out, const service_model_t *s, const type_table_t *types);
/* FNV-1a 64 of the canonical text. */
uint64_t fingerprint_service(const service_model_t *s, const type_table_t *types);

/* ---- gen.c ---- */

/* The text of <base>.cor.h and <base>.cor.c for a checked model. */
char *gen_header(const model_t *m);
char *gen_source(const model_t *m);

#endif /* COR_STUBS_PLUGIN_H */
