/*
 * cor/object.h — what an application class implements and what a generated
 * stub points at: service and method descriptors, the class definition, and
 * the per-call context a method receives.
 *
 * protoc-gen-cor emits, for each `service` in a .proto, a cor_service_desc_t
 * (the method table, with hints from the (cor.method) options, the
 * (cor.dm_chain) option, and an interface fingerprint) and a typed ops
 * struct with one function pointer per method. The application fills a
 * cor_class_t that names the service, points at its ops, and supplies the
 * lifecycle and state hooks; cor_runtime_register_class() makes it hostable.
 *
 * Messages are protobuf-c messages. This header only forward-declares
 * protobuf-c's types, so including it pulls in no third-party header.
 */
#ifndef COR_OBJECT_H
#define COR_OBJECT_H

#include <stddef.h>
#include <stdint.h>

#include <cor/error.h>
#include <cor/id.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ProtobufCMessage;
struct ProtobufCMessageDescriptor;

typedef struct cor_ctx cor_ctx_t;         /* per-call context, see below */
typedef struct cor_runtime cor_runtime_t; /* see cor/runtime.h */

/* Method hints, from `option (cor.method) = { ... }` in the .proto. */
enum cor_method_hint {
    COR_METHOD_READ_ONLY = 1u << 0,  /* never changes object state */
    COR_METHOD_MUTATING = 1u << 1,   /* changes object state */
    COR_METHOD_IDEMPOTENT = 1u << 2, /* safe to run twice with one effect */
};

/* Calls one typed method of the ops table. Generated per method: it casts
 * ops, req and reply to their real types. Returns 0 or a COR_E* code (with
 * the message set through cor_ctx_error()). */
typedef int (*cor_invoke_cb)(const void *ops, void *self, cor_ctx_t *ctx,
                             const struct ProtobufCMessage *req,
                             struct ProtobufCMessage *reply);

struct cor_service_desc;

typedef struct cor_method_desc {
    const struct cor_service_desc *service; /* the service it belongs to */
    const char *name;  /* as in the .proto: "Put" */
    unsigned index;    /* position in cor_service_desc_t.methods */
    const struct ProtobufCMessageDescriptor *input;
    const struct ProtobufCMessageDescriptor *output;
    unsigned hints;        /* COR_METHOD_* bits */
    const char *shard_key; /* request field named by shard_key, or NULL */
    cor_invoke_cb invoke;  /* NULL in client-only builds */
} cor_method_desc_t;

#define COR_SERVICE_DESC_VERSION 1

typedef struct cor_service_desc {
    unsigned version;        /* COR_SERVICE_DESC_VERSION */
    const char *name;        /* full name: "kv.KeyValueStore" */
    const char *proto_file;  /* "kv/kv.proto", as protoc saw it */
    const char *dm_chain;    /* (cor.dm_chain) text, "" when none */
    uint64_t fingerprint;    /* hash of the interface: methods and messages */
    unsigned n_methods;
    const cor_method_desc_t *methods;
} cor_service_desc_t;

/* Looks a method up by name; NULL if the service has none of that name. */
const cor_method_desc_t *cor_service_method(const cor_service_desc_t *svc,
                                            const char *name, size_t len);

/* Class flags. */
enum cor_class_flag {
    /* Methods may run concurrently on one object: the class locks its own
     * state. Without it, calls into one object run one at a time. */
    COR_CLASS_CONCURRENT = 1u << 0,
};

/* 2: save_dirty and apply_dirty added. */
#define COR_CLASS_VERSION 2

/* An application class: a service plus its implementation. Static data;
 * the runtime keeps a pointer, so it must outlive registration. */
typedef struct cor_class {
    unsigned version;                  /* COR_CLASS_VERSION */
    const char *name;                  /* unique per process: "kv.KeyValueStore" */
    const cor_service_desc_t *service; /* generated: <pkg>_<service>_service */
    const void *ops;                   /* generated typed ops struct, filled in */
    unsigned flags;                    /* COR_CLASS_* */

    /* Makes a new object from constructor arguments (bytes of the class's
     * choosing, often a packed proto message; may be empty). Stores the
     * object in *self. Returns 0 or a COR_E* code set with cor_ctx_error. */
    int (*create)(cor_ctx_t *ctx, const uint8_t *args, size_t args_len,
                  void **self);
    /* Frees an object made by create or load_state. */
    void (*destroy)(void *self);
    /* Serializes the object's state into a malloc'd buffer the runtime
     * frees. Optional: without it the object cannot move or checkpoint. */
    int (*save_state)(void *self, cor_ctx_t *ctx, uint8_t **buf, size_t *len);
    /* Makes an object from bytes written by save_state (buf stays the
     * caller's). Optional, paired with save_state. */
    int (*load_state)(cor_ctx_t *ctx, const uint8_t *buf, size_t len,
                      void **self);
    /* Optional pair, for objects with large state: live migration copies
     * the state while the object keeps serving, then only what changed
     * meanwhile inside the frozen window (docs/migration.md).
     * save_dirty writes the changes since its previous call, in a form of
     * the class's choosing, into a malloc'd *buf the runtime frees; with
     * restart set it forgets what changed so far and writes nothing (the
     * runtime has just taken save_state). It runs in the object's turn.
     * apply_dirty applies such bytes to an object made by load_state (buf
     * stays the caller's). Without the pair the runtime diffs successive
     * save_state outputs itself: correct for any class, but the frozen
     * window then holds one whole save_state and load_state. */
    int (*save_dirty)(void *self, cor_ctx_t *ctx, int restart, uint8_t **buf, size_t *len);
    int (*apply_dirty)(void *self, cor_ctx_t *ctx, const uint8_t *buf, size_t len);
} cor_class_t;

/* ---- The per-call context a method implementation receives. ----
 * Valid only during the call, on the thread that runs it. */

/* Memory that lives until the reply has been sent: strings and bytes a
 * method puts into its reply can come from here and need no freeing.
 * Returns NULL only when out of memory. */
void *cor_ctx_alloc(cor_ctx_t *ctx, size_t size);

/* Copies s (NUL-terminated) into call memory, as cor_ctx_alloc. */
char *cor_ctx_strdup(cor_ctx_t *ctx, const char *s);

/* Records the call's error message and returns code, for
 * `return cor_ctx_error(ctx, COR_ENOTFOUND, "no key %s", k);`. The caller
 * sees the message prefixed with the object id and method. */
int cor_ctx_error(cor_ctx_t *ctx, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The object being called (nil in create/load_state before an id exists). */
const cor_object_id_t *cor_ctx_object_id(const cor_ctx_t *ctx);

/* The runtime running the call: use it to call other objects. */
cor_runtime_t *cor_ctx_runtime(const cor_ctx_t *ctx);

/* The method being called, or NULL in lifecycle hooks. */
const cor_method_desc_t *cor_ctx_method(const cor_ctx_t *ctx);

#ifdef __cplusplus
}
#endif
#endif /* COR_OBJECT_H */
