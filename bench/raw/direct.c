/*
 * direct.c — the direct-call baseline: what calling a handler in the same
 * process costs when request and reply still go through protobuf-c.
 *
 * Design. The "client" packs a bench.Msg (a short text plus a blob, 64 B
 * packed by default) into a buffer and calls the "server" through a
 * function pointer, so the compiler cannot fold the two sides together. The
 * server unpacks, builds a reply that echoes both fields, and packs it into
 * a caller-provided buffer; the client unpacks the reply and compares it
 * with what it sent. Buffers are reused; unpacking allocates with malloc,
 * as a real handler would. Any failure makes the call return 1.
 */
#include "direct.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "direct.pb-c.h"

#define DIRECT_TEXT "echo"

typedef size_t (*direct_handler_fn)(const uint8_t *req, size_t req_len,
                                    uint8_t *reply, size_t reply_cap);

struct direct {
    direct_handler_fn handler;
    uint8_t *blob;
    size_t blob_len;
    uint8_t *req_buf, *reply_buf;
    size_t buf_cap;
};

/* The server side: returns the packed reply's length, 0 on failure. */
static size_t echo_handler(const uint8_t *req, size_t req_len,
                           uint8_t *reply, size_t reply_cap)
{
    Bench__Msg *in = bench__msg__unpack(NULL, req_len, req);
    Bench__Msg out = BENCH__MSG__INIT;
    size_t n = 0;

    if (in == NULL)
        return 0;
    out.text = in->text;
    out.blob = in->blob;
    if (bench__msg__get_packed_size(&out) <= reply_cap)
        n = bench__msg__pack(&out, reply);
    bench__msg__free_unpacked(in, NULL);
    return n;
}

int direct_new(size_t blob_bytes, direct_t **out)
{
    direct_t *d;
    Bench__Msg m = BENCH__MSG__INIT;

    *out = NULL;
    d = calloc(1, sizeof(*d));
    if (d == NULL)
        return -1;
    d->handler = echo_handler;
    d->blob_len = blob_bytes;
    d->blob = malloc(blob_bytes ? blob_bytes : 1);
    if (d->blob == NULL)
        goto err;
    for (size_t i = 0; i < blob_bytes; i++)
        d->blob[i] = (uint8_t)(i * 13u + 1u);
    m.text = (char *)DIRECT_TEXT;
    m.blob.data = d->blob;
    m.blob.len = blob_bytes;
    d->buf_cap = bench__msg__get_packed_size(&m);
    d->req_buf = malloc(d->buf_cap);
    d->reply_buf = malloc(d->buf_cap);
    if (d->req_buf == NULL || d->reply_buf == NULL)
        goto err;
    *out = d;
    return 0;
err:
    direct_free(d);
    return -1;
}

void direct_free(direct_t *d)
{
    if (d == NULL)
        return;
    free(d->req_buf);
    free(d->reply_buf);
    free(d->blob);
    free(d);
}

size_t direct_packed_size(const direct_t *d)
{
    return d->buf_cap;
}

int direct_call(void *arg)
{
    direct_t *d = arg;
    Bench__Msg req = BENCH__MSG__INIT;
    Bench__Msg *reply;
    size_t req_len, reply_len;
    int bad;

    req.text = (char *)DIRECT_TEXT;
    req.blob.data = d->blob;
    req.blob.len = d->blob_len;
    req_len = bench__msg__pack(&req, d->req_buf);
    reply_len = d->handler(d->req_buf, req_len, d->reply_buf, d->buf_cap);
    if (reply_len == 0)
        return 1;
    reply = bench__msg__unpack(NULL, reply_len, d->reply_buf);
    if (reply == NULL)
        return 1;
    bad = strcmp(reply->text, DIRECT_TEXT) != 0 ||
          reply->blob.len != d->blob_len ||
          memcmp(reply->blob.data, d->blob, d->blob_len) != 0;
    bench__msg__free_unpacked(reply, NULL);
    return bad;
}
