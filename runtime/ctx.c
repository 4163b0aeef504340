/*
 * ctx.c — what a method receives about its call (cor/object.h): memory
 * that lives until the reply is sent, the error it answers with, and which
 * object, method and runtime it runs in; and method lookup by name.
 */
#include "object_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void *cor_ctx_alloc(cor_ctx_t *ctx, size_t size)
{
    return cor_arena_alloc(ctx->arena, size);
}

char *cor_ctx_strdup(cor_ctx_t *ctx, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = cor_arena_alloc(ctx->arena, n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

int cor_ctx_error(cor_ctx_t *ctx, int code, const char *fmt, ...)
{
    if (ctx->err == NULL)
        return code;
    ctx->err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err->msg, sizeof(ctx->err->msg), fmt, ap);
    va_end(ap);
    return code;
}

const cor_object_id_t *cor_ctx_object_id(const cor_ctx_t *ctx)
{
    static const cor_object_id_t nil;
    return ctx->id != NULL ? ctx->id : &nil;
}

cor_runtime_t *cor_ctx_runtime(const cor_ctx_t *ctx)
{
    return ctx->rt;
}

const cor_method_desc_t *cor_ctx_method(const cor_ctx_t *ctx)
{
    return ctx->method;
}

const cor_method_desc_t *cor_service_method(const cor_service_desc_t *svc, const char *name,
                                            size_t len)
{
    for (unsigned i = 0; i < svc->n_methods; i++) {
        const cor_method_desc_t *m = &svc->methods[i];
        if (strncmp(m->name, name, len) == 0 && m->name[len] == '\0')
            return m;
    }
    return NULL;
}
