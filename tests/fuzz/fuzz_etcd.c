/*
 * fuzz_etcd.c — the etcd client's decoders of gateway bytes
 * (etcd/etcd_int.h): reply bodies, error bodies, the watch stream splitter
 * with its messages, and base64.
 *
 * Where the input comes from: every byte etcd's JSON gateway (or whatever
 * answers at an endpoint's address) sends the client.
 *
 * The first byte picks the decoder, the second a parameter, the rest is
 * the input:
 *  0: cor_etcd_json_reply for reply kind (param % 8) — an accepted reply
 *     has that kind and an empty range has no kvs array; a refusal is a
 *     known code with a message and no reply;
 *  1: cor_etcd_json_error with HTTP status 200 + param * 2 — always a
 *     negative code with a message;
 *  2: the watch stream, fed to the splitter in chunks of (param % 31) + 1
 *     bytes: the lines are exactly those of the input cut at '\n' (blank
 *     ones and a trailing '\r' dropped, the unfinished tail kept), the
 *     same as feeding it whole; each line is parsed as a watch message;
 *  3: base64 — decoding accepts only the one encoding of its bytes
 *     (re-encoding gives the input back), and any bytes encode to text
 *     that decodes to them.
 */
#include "fuzz.h"

#include <string.h>

#include "etcd_int.h"

static void check_refusal(int rc, const cor_error_t *err)
{
    FUZZ_CHECK(rc < 0);
    FUZZ_CHECK(cor_error_name(rc) != NULL);
    FUZZ_CHECK(err->code == rc);
    FUZZ_CHECK(err->msg[0] != '\0');
}

static void fuzz_reply(unsigned param, const char *data, size_t n)
{
    cor_etcd_kind_t kind = (cor_etcd_kind_t)(param % 8);
    cor_etcd_reply_t *r = NULL;
    cor_error_t err;
    cor_error_clear(&err);
    int rc = cor_etcd_json_reply(kind, data, n, &r, &err);
    if (rc != 0) {
        check_refusal(rc, &err);
        FUZZ_CHECK(r == NULL);
        return;
    }
    FUZZ_CHECK(r != NULL && r->kind == kind);
    FUZZ_CHECK((r->n_kvs == 0) == (r->kvs == NULL));
    for (size_t i = 0; i < r->n_kvs; i++)
        FUZZ_CHECK(r->kvs[i].key != NULL && r->kvs[i].value != NULL &&
                   r->kvs[i].key[r->kvs[i].key_len] == '\0');
    if (kind == COR_ETCD_LEASE_KEEPALIVE)
        FUZZ_CHECK(r->ttl > 0);
    for (size_t i = 0; i < r->n_responses; i++) {
        cor_etcd_kind_t k = r->responses[i].kind;
        FUZZ_CHECK(k == COR_ETCD_RANGE || k == COR_ETCD_PUT || k == COR_ETCD_DELETE);
    }
    cor_etcd_reply_free(r);
}

static void fuzz_error(unsigned param, const char *data, size_t n)
{
    cor_error_t err;
    cor_error_clear(&err);
    int rc = cor_etcd_json_error(200 + (long)param * 2, data, n, &err);
    check_refusal(rc, &err);
}

typedef struct lines {
    char *buf; /* lines joined with '\n' */
    size_t len;
    int parse;
} lines_t;

static int on_line(void *arg, const char *line, size_t len)
{
    lines_t *l = arg;
    FUZZ_CHECK(len > 0 && memchr(line, '\n', len) == NULL); /* one '\r' is dropped, not all */
    memcpy(l->buf + l->len, line, len);
    l->len += len;
    l->buf[l->len++] = '\n';
    if (l->parse) {
        cor_etcd_watch_msg_t m;
        cor_error_t err;
        cor_error_clear(&err);
        int rc = cor_etcd_json_watch_msg(line, len, &m, &err);
        if (rc != 0)
            check_refusal(rc, &err);
        else
            for (size_t i = 0; i < m.n_events; i++)
                FUZZ_CHECK(m.events[i].kv.key != NULL);
        cor_etcd_watch_msg_close(&m);
    }
    return 0;
}

static void fuzz_stream(unsigned param, const char *data, size_t n)
{
    size_t chunk = param % 31 + 1;
    lines_t a = {.buf = malloc(n + 1), .parse = 1}, b = {.buf = malloc(n + 1)};
    if (a.buf == NULL || b.buf == NULL)
        goto out;
    cor_etcd_lines_t la, lb;
    cor_etcd_lines_init(&la, 1u << 20);
    cor_etcd_lines_init(&lb, 1u << 20);
    cor_error_t err;
    for (size_t off = 0; off < n; off += chunk)
        FUZZ_CHECK(cor_etcd_lines_feed(&la, data + off, off + chunk > n ? n - off : chunk, on_line,
                                       &a, &err) == 0);
    FUZZ_CHECK(cor_etcd_lines_feed(&lb, data, n, on_line, &b, &err) == 0);
    FUZZ_CHECK(a.len == b.len && memcmp(a.buf, b.buf, a.len) == 0);
    FUZZ_CHECK(cor_etcd_lines_pending(&la) == cor_etcd_lines_pending(&lb));
    /* The reference: cut at '\n', drop one trailing '\r', skip empties. */
    size_t ref = 0, start = 0;
    for (size_t i = 0; i < n; i++) {
        if (data[i] != '\n')
            continue;
        size_t len = i - start;
        if (len > 0 && data[i - 1] == '\r')
            len--;
        if (len > 0) {
            FUZZ_CHECK(ref + len + 1 <= a.len && memcmp(a.buf + ref, data + start, len) == 0);
            ref += len;
            FUZZ_CHECK(a.buf[ref] == '\n');
            ref++;
        }
        start = i + 1;
    }
    FUZZ_CHECK(ref == a.len);
    FUZZ_CHECK(cor_etcd_lines_pending(&la) == n - start);
    cor_etcd_lines_close(&la);
    cor_etcd_lines_close(&lb);
out:
    free(a.buf);
    free(b.buf);
}

static void fuzz_base64(const char *data, size_t n)
{
    uint8_t *dec;
    size_t len;
    cor_error_t err;
    cor_error_clear(&err);
    int rc = cor_etcd_b64_decode(data, n, &dec, &len, &err);
    if (rc == 0) {
        char *again = malloc(cor_etcd_b64_len(len) + 1);
        FUZZ_CHECK(again != NULL);
        cor_etcd_b64_encode(dec, len, again);
        FUZZ_CHECK(strlen(again) == n && memcmp(again, data, n) == 0);
        free(again);
        free(dec);
    } else {
        check_refusal(rc, &err);
        FUZZ_CHECK(dec == NULL);
    }
    char *enc = malloc(cor_etcd_b64_len(n) + 1);
    FUZZ_CHECK(enc != NULL);
    cor_etcd_b64_encode(data, n, enc);
    FUZZ_CHECK(cor_etcd_b64_decode(enc, strlen(enc), &dec, &len, &err) == 0);
    FUZZ_CHECK(len == n && memcmp(dec, data, n) == 0);
    free(dec);
    free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned mode = data[0] % 4, param = data[1];
    /* Exactly the input's bytes, so reading one past is caught. */
    size_t n = size - 2;
    char *in = malloc(n ? n : 1);
    if (in == NULL)
        return 0;
    memcpy(in, data + 2, n);
    switch (mode) {
    case 0: fuzz_reply(param, in, n); break;
    case 1: fuzz_error(param, in, n); break;
    case 2: fuzz_stream(param, in, n); break;
    default: fuzz_base64(in, n); break;
    }
    free(in);
    return 0;
}
