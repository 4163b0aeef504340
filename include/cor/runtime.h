/*
 * cor/runtime.h — the per-process Corundum runtime: object references,
 * calls, and hosting objects.
 *
 * One cor_runtime_t per process. It is a client (a channel cache per peer,
 * completion-queue threads for asynchronous calls) and, once it listens, a
 * host that serves the objects registered with it. A call goes:
 *
 *   generated proxy -> cor_call() -> client DM parts of the ref's chain
 *   (if it has any) -> co-located object?  its turn, its server DM parts,
 *                                          the method; no gRPC
 *                   -> same host?          gRPC over the host's unix socket
 *                   -> otherwise           gRPC over TCP (the host runs it
 *                                          exactly as a co-located call)
 *
 * Threads: every function here may be called from any thread unless it says
 * otherwise. Asynchronous callbacks run on the caller's thread before
 * cor_call_async returns (a co-located object whose turn was free), on a
 * runtime completion thread (remote), or on a runtime worker (through
 * client DM parts, after an OMS lookup, or behind a busy co-located
 * object); never inside an object's turn. They must not block.
 */
#ifndef COR_RUNTIME_H
#define COR_RUNTIME_H

#include <stdint.h>

#include <cor/error.h>
#include <cor/id.h>
#include <cor/object.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cor_ref cor_ref_t;

#define COR_RUNTIME_OPTS_VERSION 1

typedef struct cor_runtime_opts {
    unsigned version;          /* COR_RUNTIME_OPTS_VERSION */
    const char *host_id;       /* same-host detection; NULL: from machine-id */
    int default_deadline_ms;   /* per call; 0: 10000 */
    size_t max_message_bytes;  /* larger messages refused; 0: 16 MiB */
    int server_threads;        /* completion threads serving calls; 0: 2 */
    const char *oms_address;   /* "ip:port" of cor-oms; NULL: no cluster */
} cor_runtime_opts_t;

/* Makes a runtime (initialises gRPC on first use). opts may be NULL for
 * defaults. On success *out is the caller's, freed with cor_runtime_free. */
int cor_runtime_new(const cor_runtime_opts_t *opts, cor_runtime_t **out,
                    cor_error_t *err);

/* Stops serving (in-flight calls are cancelled), waits for outstanding
 * asynchronous calls to complete with ECANCELLED, frees every hosted object
 * and the runtime. Refs made by this runtime must be freed first. Not from a
 * callback or a method running on this runtime. */
void cor_runtime_free(cor_runtime_t *rt);

/* This process's host id (for same-host detection). Owned by rt. */
const char *cor_runtime_host_id(const cor_runtime_t *rt);

/* ---- Hosting ---- */

/* Makes cls hostable here. cls must stay valid for the runtime's life.
 * EEXIST if a class of that name is registered, EINVAL if cls is malformed
 * (wrong version, no name, no service or ops, no create). */
int cor_runtime_register_class(cor_runtime_t *rt, const cor_class_t *cls,
                               cor_error_t *err);

/* Starts serving calls. tcp_addr is "ip:port" (port 0 picks one) or NULL;
 * unix_path is a filesystem path for the same-host socket or NULL; at least
 * one must be given. May be called once. */
int cor_runtime_listen(cor_runtime_t *rt, const char *tcp_addr,
                       const char *unix_path, cor_error_t *err);

/* The address the runtime listens on ("127.0.0.1:40123"), "" if none. */
const char *cor_runtime_tcp_address(const cor_runtime_t *rt);
/* The unix socket path it listens on, "" if none. */
const char *cor_runtime_unix_path(const cor_runtime_t *rt);

/* ---- References ---- */

/* A new reference to object id of class_name, not yet located, whose
 * calls run the client parts of dm_chain (NULL or "": none; a chain that
 * does not parse or check fails the first call with EINVAL). The object's
 * server parts run whatever the ref's chain says. The class name is
 * informational (calls are checked by interface fingerprint). The caller
 * frees it with cor_ref_free; asynchronous calls still in flight keep it
 * alive until they complete. NULL only when out of memory. */
cor_ref_t *cor_ref_new(cor_runtime_t *rt, const cor_object_id_t *id,
                       const char *class_name, const char *dm_chain);

/* Where the object lives: the host's TCP address and (optionally) its unix
 * socket path and host id; calls prefer the socket when host_id equals this
 * runtime's. Strings are copied. EINVAL for a malformed address. */
int cor_ref_set_location(cor_ref_t *ref, const char *tcp_addr,
                         const char *unix_path, const char *host_id,
                         uint64_t epoch, cor_error_t *err);

/* Where ref points now: its TCP address ("" when not located), copied
 * into tcp_addr (len bytes), and its epoch (epoch may be NULL). */
void cor_ref_location(const cor_ref_t *ref, char *tcp_addr, size_t len, uint64_t *epoch);

/* Deadline for calls through this ref, in ms (0: the runtime default). */
void cor_ref_set_deadline(cor_ref_t *ref, int deadline_ms);

const cor_object_id_t *cor_ref_id(const cor_ref_t *ref);
const char *cor_ref_class(const cor_ref_t *ref);
cor_runtime_t *cor_ref_runtime(const cor_ref_t *ref);

/* Serializes a ref (id, class, location, epoch) so it can travel in a
 * message. *buf is malloc'd, the caller frees it. */
int cor_ref_encode(const cor_ref_t *ref, uint8_t **buf, size_t *len,
                   cor_error_t *err);

/* Rebuilds a ref from cor_ref_encode's bytes, bound to rt. EINVAL for
 * malformed bytes. The caller frees *out. */
int cor_ref_decode(cor_runtime_t *rt, const uint8_t *buf, size_t len,
                   cor_ref_t **out, cor_error_t *err);

cor_ref_t *cor_ref_dup(const cor_ref_t *ref);
void cor_ref_free(cor_ref_t *ref);

/* ---- Objects: created, found and deleted ---- */

typedef struct cor_create_opts {
    const char *name;     /* optional unique name ("user/alice"); NULL: none */
    const char *dm_chain; /* overrides the class's (cor.dm_chain); NULL: keep */
    const char *selector; /* kernel-server labels the placement must match,
                           * "region=eu,device-class=edge"; NULL: any */
    int here;             /* host it in this runtime, not through the OMS (a
                           * runtime without an OMS always does) */
    const cor_object_id_t *id; /* with here: its id; NULL: a fresh one */
} cor_create_opts_t;

/* Creates an object of class_name. Through the OMS (the runtime has an
 * OMS address and opts->here is not set): on a kernel server that hosts
 * the class and matches the chain's placement and opts->selector, its
 * replicas made by the chain's group parts; ENOTFOUND when no live kernel
 * server hosts the class, EEXIST when the name is taken, EINVAL for a
 * malformed selector or chain. Here: hosted by this runtime with the
 * class's own chain (name, dm_chain and selector must be NULL: EINVAL);
 * ENOTFOUND when the class is not registered here, EEXIST for an id
 * hosted already. args are the constructor arguments (copied). Either
 * way the class's create error comes back with its message, and on
 * success *ref (when ref is not NULL) is a new located reference the
 * caller frees. opts may be NULL. */
int cor_object_create(cor_runtime_t *rt, const char *class_name, const uint8_t *args,
                      size_t args_len, const cor_create_opts_t *opts, cor_ref_t **ref,
                      cor_error_t *err);

/* A located reference to an existing object, by id or by name. ENOTFOUND
 * when the OMS knows no such object. The caller frees *ref. */
int cor_object_lookup(cor_runtime_t *rt, const cor_object_id_t *id, cor_ref_t **ref,
                      cor_error_t *err);
int cor_object_lookup_name(cor_runtime_t *rt, const char *name, cor_ref_t **ref,
                           cor_error_t *err);

/* Deletes the object: through the OMS, which tells its kernel servers,
 * or (without an OMS, or for an object the OMS does not know that was
 * created here) here, once calls running in it finish. ENOTFOUND when
 * neither knows it. Refs to it then fail with ENOTFOUND. */
int cor_object_delete(cor_runtime_t *rt, const cor_object_id_t *id, cor_error_t *err);

/* Moves the object behind ref to the kernel server named to_node, or to
 * any live one matching selector (exactly one of the two), live: callers
 * keep calling (docs/migration.md). Allowed only for objects whose chain
 * includes ExplicitMigration (operators use corctl migrate for any
 * object): EPERM otherwise. Called from inside one of the object's own
 * methods, the move cannot run until that method returns, so it is sent
 * from another thread and 0 means "requested"; from anywhere else it
 * returns when the move is done or refused. */
int cor_migrate(cor_ref_t *ref, const char *to_node, const char *selector, cor_error_t *err);

/* ---- Calls (what generated proxies use) ---- */

/* Calls method m of the object behind ref and waits. req stays the
 * caller's. On success *reply is a new message the caller frees with
 * protobuf_c_message_free_unpacked(reply, NULL). On failure *reply is NULL
 * and err (if not NULL) names the object, the method and the cause. */
int cor_call(cor_ref_t *ref, const cor_method_desc_t *m,
             const struct ProtobufCMessage *req,
             struct ProtobufCMessage **reply, cor_error_t *err);

/* A generic function pointer, cast back to its real type before a call. */
typedef void (*cor_fn_t)(void);

/* Completion of an asynchronous call. reply is valid only until it returns
 * (NULL on failure); err holds the error when rc != 0. user_cb and user_arg
 * are those given to cor_call_async: generated code passes the typed
 * callback there and casts it back. */
typedef void (*cor_call_done_cb)(int rc, struct ProtobufCMessage *reply,
                                 const cor_error_t *err, cor_fn_t user_cb,
                                 void *user_arg);

/* Starts a call and returns without waiting for the object (a co-located
 * one whose turn is free runs now); done runs exactly once, also on
 * failure, with what the same cor_call would have answered (redirects
 * followed, the OMS asked). req is packed or copied before this returns
 * and stays the caller's. Returns 0 when done will run; an error code (and
 * done does not run) only when the call could not start at all: EINVAL
 * for a request of the wrong type, the chain's error, ENOMEM, ESHUTDOWN. */
int cor_call_async(cor_ref_t *ref, const cor_method_desc_t *m,
                   const struct ProtobufCMessage *req, cor_call_done_cb done,
                   cor_fn_t user_cb, void *user_arg);

#ifdef __cplusplus
}
#endif
#endif /* COR_RUNTIME_H */
