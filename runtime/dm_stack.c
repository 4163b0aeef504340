/*
 * dm_stack.c — instantiating DM parts and walking a call through them; see
 * dm_int.h and cor/dm.h.
 */
#include "dm_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cor_dm_stack_new(const char *chain, int server, cor_dm_stack_t **out, cor_error_t *err)
{
    *out = NULL;
    cor_dm_chain_t c;
    int rc = cor_dm_chain_parse(chain, &c, err);
    if (rc == 0)
        rc = cor_dm_chain_check(&c, err);
    if (rc != 0)
        return rc;
    cor_dm_stack_t *s = NULL;
    for (int i = 0; i < c.n; i++) {
        const cor_dm_ops_t *ops = cor_dm_find(c.dms[i].name);
        int has = server ? (ops->server_call != NULL || ops->server_tick != NULL ||
                            ops->server_peer != NULL || ops->server_membership != NULL)
                         : ops->client_call != NULL;
        if (!has)
            continue;
        if (s == NULL && (s = calloc(1, sizeof(*s))) == NULL)
            return cor_error_set(err, COR_ENOMEM, "out of memory");
        s->server = server;
        cor_dm_inst_t *p = &s->parts[s->n];
        p->ops = ops;
        p->entry = c.dms[i];
        int (*make)(const cor_dm_entry_t *, void **, cor_error_t *) =
            server ? ops->server_new : ops->client_new;
        if (make != NULL && (rc = make(&p->entry, &p->state, err)) != 0) {
            cor_error_prefix(err, "%s", ops->name);
            cor_dm_stack_free(s);
            return rc;
        }
        s->n++;
    }
    *out = s;
    return 0;
}

void cor_dm_stack_free(cor_dm_stack_t *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < s->n; i++) {
        void (*fr)(void *) = s->server ? s->parts[i].ops->server_free : s->parts[i].ops->client_free;
        if (fr != NULL)
            fr(s->parts[i].state);
    }
    free(s);
}

int cor_dm_next(cor_dm_call_t *c)
{
    int orig = c->pos, pos = orig;
    int rc;
    /* Parts with only a tick hook do not see calls. */
    while (c->stack != NULL && pos < c->stack->n && c->stack->server &&
           c->stack->parts[pos].ops->server_call == NULL)
        pos++;
    if (c->stack == NULL || pos >= c->stack->n) {
        rc = c->terminal(c, c->terminal_arg);
    } else {
        const cor_dm_inst_t *p = &c->stack->parts[pos];
        c->pos = pos + 1;
        rc = c->stack->server ? p->ops->server_call(p->state, c) : p->ops->client_call(p->state, c);
    }
    c->pos = orig; /* the running part is again the caller's, and may call next again */
    if (rc != 0 && c->err != NULL && c->err->code == COR_OK)
        cor_error_set(c->err, rc, "%s", cor_strerror(rc));
    if (rc == 0 && c->err != NULL)
        cor_error_clear(c->err);
    return rc;
}

int cor_dm_run(cor_dm_call_t *c)
{
    c->pos = 0;
    return cor_dm_next(c);
}

int cor_dm_fail(cor_dm_call_t *c, int code, const char *fmt, ...)
{
    if (c->err == NULL)
        return code;
    char msg[COR_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* The running part is the one just above c->pos. */
    const char *name = (c->stack && c->pos > 0) ? c->stack->parts[c->pos - 1].ops->name : "dm";
    return cor_error_set(c->err, code, "%s: %s", name, msg);
}

