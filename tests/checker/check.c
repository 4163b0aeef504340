/*
 * check.c — what the models share: grouping operations by object, naming
 * an operation in a message, and cor_check_history(), which validates a
 * history and dispatches to the model cor-check was asked for.
 */
#include "check.h"

#include <stdlib.h>
#include <string.h>

static int by_obj_then_start(const void *a, const void *b)
{
    const cor_hop_t *x = *(const cor_hop_t *const *)a, *y = *(const cor_hop_t *const *)b;
    int c = strcmp(x->obj, y->obj);
    if (c != 0)
        return c;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    /* Stable across files: the order they were loaded, then the line. */
    if (x != y)
        return x < y ? -1 : 1;
    return 0;
}

const cor_hop_t **cor_check_sorted_ops(const cor_history_t *h)
{
    if (h->n_ops == 0)
        return NULL;
    const cor_hop_t **v = malloc(h->n_ops * sizeof(*v));
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < h->n_ops; i++)
        v[i] = &h->ops[i];
    qsort(v, h->n_ops, sizeof(*v), by_obj_then_start);
    return v;
}

size_t cor_check_obj_run(const cor_hop_t **ops, size_t n, size_t i)
{
    size_t j = i;
    while (j < n && strcmp(ops[j]->obj, ops[i]->obj) == 0)
        j++;
    return j - i;
}

cor_check_result_t cor_check_each_obj(const cor_history_t *h, cor_check_obj_cb fn,
                                      const cor_check_opts_t *opts, FILE *out)
{
    const cor_hop_t **v = cor_check_sorted_ops(h);
    if (v == NULL && h->n_ops > 0) {
        fprintf(out, "out of memory\n");
        return COR_CHECK_UNDECIDED;
    }
    cor_check_result_t worst = COR_CHECK_OK;
    for (size_t i = 0; i < h->n_ops;) {
        size_t run = cor_check_obj_run(v, h->n_ops, i);
        cor_check_result_t r = fn(v + i, run, opts, out);
        if (r == COR_CHECK_BAD_INPUT) {
            worst = r;
            break;
        }
        /* A violation outranks an undecided search, which outranks ok. */
        if (r == COR_CHECK_VIOLATION || (r == COR_CHECK_UNDECIDED && worst == COR_CHECK_OK))
            worst = r;
        i += run;
    }
    free(v);
    return worst;
}

const char *cor_check_where(const cor_hop_t *op, char *buf, size_t len)
{
    snprintf(buf, len, "%s:%d", op->file, op->line);
    return buf;
}

const char *cor_check_describe(const cor_hop_t *op, char *buf, size_t len)
{
    int n = snprintf(buf, len, "p=%lld %s", (long long)op->process, cor_hop_kind_name(op->kind));
    if (op->has_arg && n >= 0 && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, " arg=%lld", (long long)op->arg);
    if (op->has_ret && op->kind != COR_HOP_READALL && n >= 0 && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, " ret=%lld", (long long)op->ret);
    if (op->kind == COR_HOP_READALL && op->has_ret && n >= 0 && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, " ret=(%zu values)", op->n_list);
    if (n >= 0 && (size_t)n < len) {
        if (op->end == COR_HOP_END_NEVER)
            snprintf(buf + n, len - (size_t)n, " %s [%lld, never]", cor_hop_out_name(op->out),
                     (long long)op->start);
        else
            snprintf(buf + n, len - (size_t)n, " %s [%lld, %lld]", cor_hop_out_name(op->out),
                     (long long)op->start, (long long)op->end);
    }
    return buf;
}

cor_check_result_t cor_check_history(const char *model, const cor_history_t *h,
                                     const cor_check_opts_t *opts, FILE *out)
{
    cor_check_opts_t defaults = {0};
    if (opts == NULL)
        opts = &defaults;
    char msg[512];
    if (cor_history_validate(h, msg, sizeof(msg)) != 0) {
        fprintf(out, "%s\n", msg);
        return COR_CHECK_BAD_INPUT;
    }
    cor_check_result_t r;
    if (strcmp(model, "register") == 0)
        r = cor_check_register(h, opts, out);
    else if (strcmp(model, "counter") == 0)
        r = cor_check_counter(h, opts, out);
    else if (strcmp(model, "set") == 0)
        r = cor_check_set(h, opts, out);
    else {
        fprintf(out, "unknown model '%s' (register, counter or set)\n", model);
        return COR_CHECK_BAD_INPUT;
    }
    if (r == COR_CHECK_OK) {
        size_t objs = 0;
        const cor_hop_t **v = cor_check_sorted_ops(h);
        for (size_t i = 0; v != NULL && i < h->n_ops; i += cor_check_obj_run(v, h->n_ops, i))
            objs++;
        free(v);
        fprintf(out, "ok: %zu operations, %zu objects\n", h->n_ops, objs);
    }
    return r;
}
