/*
 * cor/error.h — Corundum's error codes and the error record that carries a
 * message with them.
 *
 * Every function that can fail returns int: 0 on success, a negative COR_E*
 * code on failure. The codes come from one X-macro list, COR_ERRORS, which
 * also generates cor_strerror(), cor_error_name() and the mapping to and from
 * gRPC status codes (runtime/error.c), so the three can never drift apart.
 *
 * Where context matters (a call, an object), a cor_error_t travels with the
 * operation: each layer that adds knowledge prefixes it, so a caller sees
 * e.g. "object 6f1c…: Echo.Say: deadline exceeded after 100 ms".
 */
#ifndef COR_ERROR_H
#define COR_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, grpc_status, description)
 * grpc_status is the numeric gRPC status code sent on the wire. */
#define COR_ERRORS(X)                                                          \
    X(EINVAL, -1, 3, "invalid argument")                                       \
    X(ENOTFOUND, -2, 5, "not found")                                           \
    X(EUNAVAIL, -3, 14, "unavailable")                                         \
    X(ETIMEDOUT, -4, 4, "deadline exceeded")                                   \
    X(EUNIMPL, -5, 12, "not implemented")                                      \
    X(ENOMEM, -6, 8, "out of memory")                                          \
    X(ETOOBIG, -7, 8, "message too large")                                     \
    X(EEXIST, -8, 6, "already exists")                                         \
    X(EINTERNAL, -9, 13, "internal error")                                     \
    X(ECANCELLED, -10, 1, "cancelled")                                         \
    X(EPERM, -11, 7, "permission denied")                                      \
    X(EAUTH, -12, 16, "unauthenticated")                                       \
    X(ESTATE, -13, 9, "wrong state")                                           \
    X(EABORTED, -14, 10, "aborted")                                            \
    X(EREVISION, -15, 9, "interface revision mismatch")                        \
    X(EMOVED, -16, 9, "object moved")                                          \
    X(EAPP, -17, 2, "application error")                                       \
    X(EPROTO, -18, 13, "protocol error")                                       \
    X(ESHUTDOWN, -19, 14, "shutting down")                                     \
    X(ENOTLEADER, -20, 14, "not the leader")

enum cor_error_code {
    COR_OK = 0,
#define COR_X_ENUM(name, value, grpc, desc) COR_##name = (value),
    COR_ERRORS(COR_X_ENUM)
#undef COR_X_ENUM
};

/* Longest message a cor_error_t holds; longer ones are truncated with "…". */
#define COR_ERROR_MSG_MAX 256

/* An error code with a human-readable message. Embedded by value: no heap. */
typedef struct cor_error {
    int code;                    /* COR_OK or a COR_E* code */
    char msg[COR_ERROR_MSG_MAX]; /* NUL-terminated; "" when code is COR_OK */
} cor_error_t;

/* Static description of a code ("not found"); "unknown error" for others. */
const char *cor_strerror(int code);

/* The code's name without prefix ("ENOTFOUND"); NULL for unknown codes. */
const char *cor_error_name(int code);

/* Code from a name as returned by cor_error_name(); COR_EINTERNAL if unknown. */
int cor_error_from_name(const char *name, size_t len);

/* gRPC status code (numeric, as on the wire) for a Corundum code. */
int cor_error_to_grpc(int code);

/* The Corundum code for a gRPC status code, used when the peer sent no
 * explicit Corundum code (e.g. the failure happened inside gRPC). */
int cor_error_from_grpc(int grpc_status);

/* Sets err (if not NULL) to code and a printf-style message. Returns code so
 * callers can write `return cor_error_set(err, COR_EINVAL, "...")`. */
int cor_error_set(cor_error_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes err->msg with a printf-style context and ": " (e.g. the object id
 * and method). Does nothing if err is NULL or holds COR_OK. */
void cor_error_prefix(cor_error_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Resets err to COR_OK with an empty message. */
void cor_error_clear(cor_error_t *err);

#ifdef __cplusplus
}
#endif
#endif /* COR_ERROR_H */
