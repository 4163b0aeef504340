/*
 * history.c — parsing and validating history files; see history.h and
 * docs/checker.md for the format.
 *
 * Each line is split on spaces into key=value fields, each field checked
 * as it is read (known key, not repeated, well-formed value), then the
 * operation as a whole (required fields present, fields that make no sense
 * for the op or outcome absent). Any error stops the parse at that line:
 * a checker that guessed at malformed input could pass a broken run.
 */
#include "history.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cor_history_init(cor_history_t *h)
{
    memset(h, 0, sizeof(*h));
}

void cor_history_close(cor_history_t *h)
{
    for (size_t i = 0; i < h->n_ops; i++) {
        free(h->ops[i].obj);
        free(h->ops[i].list);
    }
    free(h->ops);
    for (size_t i = 0; i < h->n_files; i++)
        free(h->files[i]);
    free(h->files);
    cor_history_init(h);
}

const char *cor_hop_kind_name(cor_hop_kind_t k)
{
    static const char *const names[] = {"read", "write", "add", "insert", "readall"};
    return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

const char *cor_hop_out_name(cor_hop_out_t o)
{
    static const char *const names[] = {"ok", "fail", "unknown"};
    return (unsigned)o < sizeof(names) / sizeof(names[0]) ? names[o] : "?";
}

static int fail_at(char *msg, size_t msg_len, const char *name, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail_at(char *msg, size_t msg_len, const char *name, int line, const char *fmt, ...)
{
    int n = snprintf(msg, msg_len, "%s:%d: ", name, line);
    if (n >= 0 && (size_t)n < msg_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg + n, msg_len - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* A whole-string decimal int64 (optional leading '-'). */
static int parse_i64(const char *s, size_t len, int64_t *out)
{
    char buf[32];
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (buf[0] != '-' && (buf[0] < '0' || buf[0] > '9'))
        return -1;
    errno = 0;
    char *end;
    long long v = strtoll(buf, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = (int64_t)v;
    return 0;
}

/* A comma-separated int64 list; "" is the empty list. *list is malloc'd
 * (NULL when empty) and the caller's on success; nothing on failure. */
static int parse_list(const char *s, size_t len, int64_t **list, size_t *n)
{
    *list = NULL;
    *n = 0;
    if (len == 0)
        return 0;
    size_t cap = 1;
    for (size_t i = 0; i < len; i++)
        cap += s[i] == ',';
    int64_t *v = malloc(cap * sizeof(*v));
    if (v == NULL)
        return -1;
    size_t k = 0, from = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != ',')
            continue;
        if (parse_i64(s + from, i - from, &v[k]) != 0) {
            free(v);
            return -1;
        }
        k++;
        from = i + 1;
    }
    *list = v;
    *n = k;
    return 0;
}

enum { F_P, F_OBJ, F_OP, F_ARG, F_RET, F_START, F_END, F_OUT, F_COUNT };
static const char *const field_names[F_COUNT] = {"p",   "obj",   "op",  "arg",
                                                 "ret", "start", "end", "out"};

/* Parses one non-blank, non-comment line into op (obj and list malloc'd,
 * freed here on failure). */
static int parse_line(const char *s, size_t len, const char *name, int line, cor_hop_t *op,
                      char *msg, size_t msg_len)
{
    const char *val[F_COUNT] = {0};
    size_t vlen[F_COUNT] = {0};
    size_t i = 0;
    while (i < len) {
        while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
            i++;
        if (i >= len)
            break;
        size_t b = i;
        while (i < len && s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            i++;
        const char *eq = memchr(s + b, '=', i - b);
        if (eq == NULL)
            return fail_at(msg, msg_len, name, line, "field '%.*s' is not key=value", (int)(i - b),
                           s + b);
        size_t klen = (size_t)(eq - (s + b));
        int f = 0;
        while (f < F_COUNT &&
               (strlen(field_names[f]) != klen || memcmp(field_names[f], s + b, klen) != 0))
            f++;
        if (f == F_COUNT)
            return fail_at(msg, msg_len, name, line, "unknown field '%.*s'", (int)klen, s + b);
        if (val[f] != NULL)
            return fail_at(msg, msg_len, name, line, "field '%s' given twice", field_names[f]);
        val[f] = eq + 1;
        vlen[f] = i - b - klen - 1;
    }
    static const int required[] = {F_P, F_OBJ, F_OP, F_START, F_OUT};
    for (size_t r = 0; r < sizeof(required) / sizeof(required[0]); r++)
        if (val[required[r]] == NULL)
            return fail_at(msg, msg_len, name, line, "missing field '%s'",
                           field_names[required[r]]);

    memset(op, 0, sizeof(*op));
    if (parse_i64(val[F_P], vlen[F_P], &op->process) != 0)
        return fail_at(msg, msg_len, name, line, "p='%.*s' is not an integer", (int)vlen[F_P],
                       val[F_P]);
    if (vlen[F_OBJ] == 0)
        return fail_at(msg, msg_len, name, line, "obj= is empty");

    static const char *const ops[] = {"read", "write", "add", "insert", "readall"};
    int k = 0;
    while (k < 5 && (strlen(ops[k]) != vlen[F_OP] || memcmp(ops[k], val[F_OP], vlen[F_OP]) != 0))
        k++;
    if (k == 5)
        return fail_at(msg, msg_len, name, line,
                       "unknown op '%.*s' (read, write, add, insert or readall)", (int)vlen[F_OP],
                       val[F_OP]);
    op->kind = (cor_hop_kind_t)k;

    static const char *const outs[] = {"ok", "fail", "unknown"};
    int o = 0;
    while (o < 3 &&
           (strlen(outs[o]) != vlen[F_OUT] || memcmp(outs[o], val[F_OUT], vlen[F_OUT]) != 0))
        o++;
    if (o == 3)
        return fail_at(msg, msg_len, name, line, "unknown out '%.*s' (ok, fail or unknown)",
                       (int)vlen[F_OUT], val[F_OUT]);
    op->out = (cor_hop_out_t)o;

    if (parse_i64(val[F_START], vlen[F_START], &op->start) != 0)
        return fail_at(msg, msg_len, name, line, "start='%.*s' is not an integer",
                       (int)vlen[F_START], val[F_START]);
    if (val[F_END] == NULL && op->out != COR_HOUT_UNKNOWN)
        return fail_at(msg, msg_len, name, line,
                       "missing field 'end' (required unless out=unknown)");
    if (val[F_END] != NULL) {
        if (parse_i64(val[F_END], vlen[F_END], &op->end) != 0)
            return fail_at(msg, msg_len, name, line, "end='%.*s' is not an integer",
                           (int)vlen[F_END], val[F_END]);
        if (op->end < op->start)
            return fail_at(msg, msg_len, name, line, "end=%lld is before start=%lld",
                           (long long)op->end, (long long)op->start);
    }
    /* An unknown operation may take effect at any time after it began. */
    if (op->out == COR_HOUT_UNKNOWN)
        op->end = COR_HOP_END_NEVER;

    int takes_arg = op->kind == COR_HOP_WRITE || op->kind == COR_HOP_ADD ||
                    op->kind == COR_HOP_INSERT;
    if (takes_arg && val[F_ARG] == NULL)
        return fail_at(msg, msg_len, name, line, "missing field 'arg' (required for %s)", ops[k]);
    if (!takes_arg && val[F_ARG] != NULL)
        return fail_at(msg, msg_len, name, line, "%s takes no arg=", ops[k]);
    if (takes_arg) {
        if (parse_i64(val[F_ARG], vlen[F_ARG], &op->arg) != 0)
            return fail_at(msg, msg_len, name, line, "arg='%.*s' is not an integer",
                           (int)vlen[F_ARG], val[F_ARG]);
        op->has_arg = 1;
    }

    int returns = op->kind == COR_HOP_READ || op->kind == COR_HOP_ADD ||
                  op->kind == COR_HOP_READALL;
    if (val[F_RET] != NULL && !returns)
        return fail_at(msg, msg_len, name, line, "%s returns nothing: drop ret=", ops[k]);
    if (val[F_RET] != NULL && op->out != COR_HOUT_OK)
        return fail_at(msg, msg_len, name, line, "ret= on an operation with out=%s",
                       outs[o]);
    if (val[F_RET] == NULL && op->out == COR_HOUT_OK &&
        (op->kind == COR_HOP_READ || op->kind == COR_HOP_READALL))
        return fail_at(msg, msg_len, name, line, "missing field 'ret' (required for an ok %s)",
                       ops[k]);
    if (val[F_RET] != NULL) {
        if (op->kind == COR_HOP_READALL) {
            if (parse_list(val[F_RET], vlen[F_RET], &op->list, &op->n_list) != 0)
                return fail_at(msg, msg_len, name, line,
                               "ret='%.*s' is not a comma-separated list of integers",
                               (int)vlen[F_RET], val[F_RET]);
        } else if (parse_i64(val[F_RET], vlen[F_RET], &op->ret) != 0) {
            return fail_at(msg, msg_len, name, line, "ret='%.*s' is not an integer",
                           (int)vlen[F_RET], val[F_RET]);
        }
        op->has_ret = 1;
    }
    op->obj = strndup(val[F_OBJ], vlen[F_OBJ]);
    if (op->obj == NULL) {
        free(op->list);
        return fail_at(msg, msg_len, name, line, "out of memory");
    }
    op->line = line;
    return 0;
}

int cor_history_parse(cor_history_t *h, const char *name, const char *text, size_t len,
                      char *msg, size_t msg_len)
{
    char **files = realloc(h->files, (h->n_files + 1) * sizeof(*files));
    if (files == NULL)
        return fail_at(msg, msg_len, name, 0, "out of memory");
    h->files = files;
    if ((files[h->n_files] = strdup(name)) == NULL)
        return fail_at(msg, msg_len, name, 0, "out of memory");
    const char *fname = files[h->n_files++];

    int line = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl != NULL ? (size_t)(nl - text) : len;
        const char *s = text + pos;
        size_t n = end - pos;
        pos = end + 1;
        line++;
        size_t lead = 0;
        while (lead < n && (s[lead] == ' ' || s[lead] == '\t' || s[lead] == '\r'))
            lead++;
        if (lead == n || s[lead] == '#')
            continue;
        if (memchr(s, '\0', n) != NULL)
            return fail_at(msg, msg_len, fname, line, "NUL byte in line");
        if (h->n_ops == h->cap_ops) {
            size_t cap = h->cap_ops ? 2 * h->cap_ops : 256;
            cor_hop_t *ops = realloc(h->ops, cap * sizeof(*ops));
            if (ops == NULL)
                return fail_at(msg, msg_len, fname, line, "out of memory");
            h->ops = ops;
            h->cap_ops = cap;
        }
        cor_hop_t *op = &h->ops[h->n_ops];
        if (parse_line(s, n, fname, line, op, msg, msg_len) != 0)
            return -1;
        op->file = fname;
        h->n_ops++;
    }
    return 0;
}

int cor_history_load(cor_history_t *h, const char *path, char *msg, size_t msg_len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(msg, msg_len, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rv = -1;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? 2 * cap : 65536;
            char *nb = realloc(buf, ncap);
            if (nb == NULL) {
                snprintf(msg, msg_len, "%s: out of memory", path);
                goto out;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        snprintf(msg, msg_len, "%s: read error", path);
        goto out;
    }
    rv = cor_history_parse(h, path, buf, len, msg, msg_len);
out:
    free(buf);
    fclose(f);
    return rv;
}

static int by_process_then_start(const void *a, const void *b)
{
    const cor_hop_t *x = *(const cor_hop_t *const *)a, *y = *(const cor_hop_t *const *)b;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    if (x->process != y->process)
        return x->process < y->process ? -1 : 1;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

int cor_history_validate(const cor_history_t *h, char *msg, size_t msg_len)
{
    if (h->n_ops == 0)
        return 0;
    const cor_hop_t **v = malloc(h->n_ops * sizeof(*v));
    if (v == NULL) {
        snprintf(msg, msg_len, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < h->n_ops; i++)
        v[i] = &h->ops[i];
    qsort(v, h->n_ops, sizeof(*v), by_process_then_start);
    int rv = 0;
    for (size_t i = 1; i < h->n_ops && rv == 0; i++) {
        const cor_hop_t *prev = v[i - 1], *op = v[i];
        if (prev->file != op->file || prev->process != op->process)
            continue;
        if (prev->out == COR_HOUT_UNKNOWN)
            rv = fail_at(msg, msg_len, op->file, op->line,
                         "process %lld issues an operation after its unknown one at line %d "
                         "(use a fresh p= after an unknown outcome)",
                         (long long)op->process, prev->line);
        else if (op->start < prev->end)
            rv = fail_at(msg, msg_len, op->file, op->line,
                         "process %lld starts this before its operation at line %d ended",
                         (long long)op->process, prev->line);
    }
    free(v);
    return rv;
}
