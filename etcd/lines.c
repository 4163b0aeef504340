/*
 * lines.c — cuts a chunked watch stream into the gateway's lines (one JSON
 * object each); see etcd_int.h.
 *
 * Lines that lie wholly inside one chunk are handed out in place; only the
 * unfinished tail of a chunk is copied, and joined with the next chunks
 * until its newline comes. A line longer than max is refused (a stream
 * that never sends a newline must not eat memory); the caller then drops
 * the stream.
 */
#include "etcd_int.h"

#include <stdlib.h>
#include <string.h>

void cor_etcd_lines_init(cor_etcd_lines_t *l, size_t max)
{
    memset(l, 0, sizeof(*l));
    l->max = max;
}

void cor_etcd_lines_close(cor_etcd_lines_t *l)
{
    free(l->buf);
    memset(l, 0, sizeof(*l));
}

static int emit(const char *line, size_t len, cor_etcd_line_cb fn, void *arg)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len == 0)
        return 0;
    return fn(arg, line, len);
}

static int append(cor_etcd_lines_t *l, const char *data, size_t n, cor_error_t *err)
{
    if (l->len + n > l->max) {
        size_t had = l->len;
        l->len = 0;
        return cor_error_set(err, COR_ETOOBIG, "watch stream line longer than %zu bytes "
                             "(%zu without a newline)", l->max, had + n);
    }
    if (l->len + n > l->cap) {
        size_t cap = l->cap ? l->cap : 256;
        while (cap < l->len + n)
            cap *= 2;
        char *nb = realloc(l->buf, cap);
        if (nb == NULL)
            return cor_error_set(err, COR_ENOMEM, "out of memory buffering a watch line");
        l->buf = nb;
        l->cap = cap;
    }
    memcpy(l->buf + l->len, data, n);
    l->len += n;
    return 0;
}

int cor_etcd_lines_feed(cor_etcd_lines_t *l, const char *data, size_t n, cor_etcd_line_cb fn,
                        void *arg, cor_error_t *err)
{
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        if (nl == NULL)
            return append(l, data, n, err);
        size_t part = (size_t)(nl - data);
        int rc;
        if (l->len == 0) {
            if (part > l->max)
                return cor_error_set(err, COR_ETOOBIG, "watch stream line of %zu bytes, longer "
                                     "than %zu", part, l->max);
            rc = emit(data, part, fn, arg);
        } else {
            if ((rc = append(l, data, part, err)) != 0)
                return rc;
            size_t len = l->len;
            l->len = 0; /* before fn: it may stop us, the line is done anyway */
            rc = emit(l->buf, len, fn, arg);
        }
        if (rc != 0)
            return rc;
        data = nl + 1;
        n -= part + 1;
    }
    return 0;
}
