/*
 * transport.h — Corundum's transport over gRPC C core (internal).
 *
 * Design (see docs/transport.md):
 *  - Server: every method is registered before start with
 *    GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, so a request arrives with its
 *    payload in one completion; a pool of requested calls per method stays
 *    posted so many calls can be in flight. Completions are handled directly
 *    on the server's completion-queue threads: the handler runs there and
 *    answers with one batch of four ops. No hand-off to another thread, which
 *    measured ~20 % of throughput on 2 cores.
 *  - Client: one channel per peer target, cached for the client's life, with
 *    every method path registered once (grpc_channel_register_call).
 *    Asynchronous calls complete on the client's completion thread;
 *    synchronous calls borrow a private completion queue from a pool and the
 *    calling thread waits on it itself, so a blocking call costs no thread
 *    hop.
 *  - Errors: a failed call carries a gRPC status, a message, and a
 *    "cor-code" trailing metadata entry with the exact COR_E* name. A
 *    moved object's tombstone adds its redirect as two more trailers
 *    (cor_redirect_t): data, never text to be parsed out of the message.
 *
 * Thread rules are given per function. Payload buffers are grpc_slices; a
 * function that "takes" a slice owns that reference afterwards.
 */
#ifndef COR_TRANSPORT_H
#define COR_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc.h>
#include <grpc/slice.h>

#include <cor/error.h>

/* ---------------- server ---------------- */

typedef struct cor_server cor_server_t;
typedef struct cor_srv_call cor_srv_call_t;

/* Where a moved object went: a tombstone's answer to a call, sent as the
 * trailers "cor-moved-to" (TCP address) and "cor-moved-epoch" beside
 * cor-code EMOVED. epoch 0: no redirect came. */
#define COR_MOVED_TO_MD_KEY "cor-moved-to"
#define COR_MOVED_EPOCH_MD_KEY "cor-moved-epoch"
#define COR_REDIRECT_ADDR_MAX 128

typedef struct cor_redirect {
    char to[COR_REDIRECT_ADDR_MAX];
    uint64_t epoch;
} cor_redirect_t;

/* Handles one request. req/len are valid only during the handler. The
 * handler (or anyone it hands the call to, from any thread) must finish the
 * call exactly once with cor_srv_call_reply or cor_srv_call_fail. */
typedef void (*cor_srv_handler_cb)(void *arg, cor_srv_call_t *call,
                                   const uint8_t *req, size_t len);

typedef struct cor_server_opts {
    int threads;              /* completion threads; 0: 2 */
    size_t max_message_bytes; /* requests and replies; 0: 16 MiB */
    int pending_per_method;   /* requested calls kept posted; 0: 64 */
} cor_server_opts_t;

int cor_server_new(const cor_server_opts_t *opts, cor_server_t **out,
                   cor_error_t *err);

/* Registers a method path ("/cor.Kernel/Invoke"). Before start only. */
int cor_server_add_method(cor_server_t *s, const char *path,
                          cor_srv_handler_cb fn, void *arg, cor_error_t *err);

/* As cor_server_add_method, and the server free()s arg when it is freed
 * (when this call fails, arg stays the caller's). */
int cor_server_add_method_owned(cor_server_t *s, const char *path,
                                cor_srv_handler_cb fn, void *arg,
                                cor_error_t *err);

/* Adds a listening address: "ip:port" (port 0 picks one; *port_out gets the
 * bound port) or "unix:/path". Before start only. */
int cor_server_listen(cor_server_t *s, const char *addr, int *port_out,
                      cor_error_t *err);

/* Starts serving on the completion threads. */
int cor_server_start(cor_server_t *s, cor_error_t *err);

/* Stops: refuses new calls, cancels calls in flight, waits until every call
 * is finished and the threads have exited, then frees everything. Must not
 * be called from a handler. s may be NULL. */
void cor_server_free(cor_server_t *s);

/* Answers the call with OK and the payload (the slice is taken). */
void cor_srv_call_reply(cor_srv_call_t *call, grpc_slice payload);

/* Answers the call with an error: code is a COR_E* code, msg a message (may
 * be NULL: the code's description is used). */
void cor_srv_call_fail(cor_srv_call_t *call, int code, const char *msg);

/* Answers the call with COR_EMOVED, msg, and the redirect `to` as
 * trailers. Only the runtime's tombstone path sends one. */
void cor_srv_call_redirect(cor_srv_call_t *call, const char *msg, const cor_redirect_t *to);

/* Peer address as gRPC reports it ("ipv4:127.0.0.1:5555"), malloc'd by gRPC;
 * free with gpr_free. */
char *cor_srv_call_peer(cor_srv_call_t *call);

/* ---------------- client ---------------- */

typedef struct cor_client cor_client_t;
typedef struct cor_peer cor_peer_t;

typedef struct cor_client_opts {
    size_t max_message_bytes; /* 0: 16 MiB */
} cor_client_opts_t;

/* Completion of an asynchronous call, on the client's completion thread.
 * code is 0 or a COR_E* code; msg is "" on success; moved is the
 * redirect the peer sent with an EMOVED, or NULL. reply/len and moved are
 * valid only during the callback. */
typedef void (*cor_cli_done_cb)(void *arg, int code, const char *msg,
                                const cor_redirect_t *moved, const uint8_t *reply,
                                size_t len);

/* Makes a client that can call the given method paths (copied) on any
 * peer; a method is named by its index in paths. Starts one completion
 * thread. */
int cor_client_new(const char *const *paths, size_t n_paths,
                   const cor_client_opts_t *opts, cor_client_t **out,
                   cor_error_t *err);

/* Cancels every call in flight, waits for their callbacks, and frees the
 * client and its channels. Not from a callback. c may be NULL. */
void cor_client_free(cor_client_t *c);

/* The cached peer for target ("ip:port" or "unix:/path"), made on first
 * use. Owned by the client; valid until cor_client_free. NULL only when out
 * of memory or the target is empty. */
cor_peer_t *cor_client_peer(cor_client_t *c, const char *target);

/* The target string a peer was made for. */
const char *cor_peer_target(const cor_peer_t *p);

/* Synchronous call: sends req (taken) and waits. On success *reply is a
 * slice the caller unrefs. On failure err holds code and message, and
 * *moved (when not NULL) the redirect that came with an EMOVED (epoch 0
 * when none did). */
int cor_client_call(cor_client_t *c, cor_peer_t *p, unsigned method,
                    grpc_slice req, int deadline_ms, grpc_slice *reply,
                    cor_error_t *err, cor_redirect_t *moved);

/* Asynchronous call: sends req (taken); done runs exactly once on the
 * completion thread. Returns 0 when done will run; on an immediate failure
 * returns the code, done does not run, and req has been released. */
int cor_client_call_async(cor_client_t *c, cor_peer_t *p, unsigned method,
                          grpc_slice req, int deadline_ms, cor_cli_done_cb done,
                          void *arg);

/* ---------------- shared ---------------- */

/* ThreadSanitizer cannot see the synchronization inside gRPC (Debian's
 * build is not instrumented), so a tag handed to gRPC on one thread and
 * taken back from a completion queue on another looks like a race. These
 * tell it what gRPC guarantees: everything written before a tag goes to
 * gRPC (COR_TSAN_GIVE) happens before the thread that gets it back from the
 * queue (COR_TSAN_TAKE) reads it. No-ops in other builds. */
#if defined(__SANITIZE_THREAD__)
#define COR_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define COR_TSAN 1
#endif
#endif
#ifdef COR_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define COR_TSAN_GIVE(tag) __tsan_release(tag)
#define COR_TSAN_TAKE(tag) __tsan_acquire(tag)
#else
#define COR_TSAN_GIVE(tag) ((void)(tag))
#define COR_TSAN_TAKE(tag) ((void)(tag))
#endif


/* Takes one reference on gRPC for the process (grpc_init) and gives it
 * back; the last release calls grpc_shutdown_blocking. Thread-safe. */
void cor_grpc_acquire(void);
void cor_grpc_release(void);

/* A deadline ms from now on the monotonic clock. */
gpr_timespec cor_deadline_ms(int ms);

/* Reads a received byte buffer into one contiguous slice (caller unrefs). */
grpc_slice cor_byte_buffer_slice(grpc_byte_buffer *bb);

#define COR_DEFAULT_MAX_MESSAGE (16u * 1024u * 1024u)
#define COR_CODE_MD_KEY "cor-code"

#endif
