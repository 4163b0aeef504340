/*
 * error.c — error codes, their names and descriptions, and the mapping to
 * and from gRPC status codes, all generated from the COR_ERRORS X-macro in
 * cor/error.h so they cannot drift apart.
 *
 * gRPC → Corundum is many-to-one in the other direction (several codes share
 * RESOURCE_EXHAUSTED or FAILED_PRECONDITION), so a Corundum peer also sends
 * the exact name in "cor-code" trailing metadata; cor_error_from_grpc is only
 * for failures that happen inside gRPC itself.
 */
#include <cor/error.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *cor_strerror(int code)
{
    switch (code) {
    case COR_OK:
        return "success";
#define COR_X_STR(name, value, grpc, desc)                                     \
    case COR_##name:                                                           \
        return desc;
        COR_ERRORS(COR_X_STR)
#undef COR_X_STR
    default:
        return "unknown error";
    }
}

const char *cor_error_name(int code)
{
    switch (code) {
    case COR_OK:
        return "OK";
#define COR_X_NAME(name, value, grpc, desc)                                    \
    case COR_##name:                                                           \
        return #name;
        COR_ERRORS(COR_X_NAME)
#undef COR_X_NAME
    default:
        return NULL;
    }
}

int cor_error_from_name(const char *name, size_t len)
{
#define COR_X_FROM(n, value, grpc, desc)                                       \
    if (len == sizeof(#n) - 1 && memcmp(name, #n, len) == 0)                   \
        return COR_##n;
    COR_ERRORS(COR_X_FROM)
#undef COR_X_FROM
    if (len == 2 && memcmp(name, "OK", 2) == 0)
        return COR_OK;
    return COR_EINTERNAL;
}

int cor_error_to_grpc(int code)
{
    switch (code) {
    case COR_OK:
        return 0;
#define COR_X_GRPC(name, value, grpc, desc)                                    \
    case COR_##name:                                                           \
        return grpc;
        COR_ERRORS(COR_X_GRPC)
#undef COR_X_GRPC
    default:
        return 2; /* UNKNOWN */
    }
}

int cor_error_from_grpc(int grpc_status)
{
    switch (grpc_status) {
    case 0: return COR_OK;
    case 1: return COR_ECANCELLED;
    case 2: return COR_EAPP;
    case 3: return COR_EINVAL;
    case 4: return COR_ETIMEDOUT;
    case 5: return COR_ENOTFOUND;
    case 6: return COR_EEXIST;
    case 7: return COR_EPERM;
    case 8: return COR_ETOOBIG;
    case 9: return COR_ESTATE;
    case 10: return COR_EABORTED;
    case 11: return COR_EINVAL; /* OUT_OF_RANGE */
    case 12: return COR_EUNIMPL;
    case 13: return COR_EINTERNAL;
    case 14: return COR_EUNAVAIL;
    case 15: return COR_EINTERNAL; /* DATA_LOSS */
    case 16: return COR_EAUTH;
    default: return COR_EINTERNAL;
    }
}

/* Marks a truncated message with "..." so a reader knows text is missing. */
static void mark_truncated(char *msg, int wanted)
{
    if (wanted >= COR_ERROR_MSG_MAX)
        memcpy(msg + COR_ERROR_MSG_MAX - 4, "...", 4);
}

int cor_error_set(cor_error_t *err, int code, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        err->msg[0] = '\0';
    else
        mark_truncated(err->msg, n);
    return code;
}

void cor_error_prefix(cor_error_t *err, const char *fmt, ...)
{
    if (err == NULL || err->code == COR_OK)
        return;
    char prefix[COR_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    char old[COR_ERROR_MSG_MAX];
    memcpy(old, err->msg, sizeof(old));
    int m = snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
    if (m > 0)
        mark_truncated(err->msg, m);
}

void cor_error_clear(cor_error_t *err)
{
    if (err == NULL)
        return;
    err->code = COR_OK;
    err->msg[0] = '\0';
}
