/*
 * etcd_int.h — the etcd client's pure parts (internal): base64, the JSON
 * request bodies, the reply and watch-message parsers, and the splitter
 * that cuts a chunked watch stream into lines. None of them does I/O, so
 * unit tests and the fuzz target drive them directly (tests/unit/
 * test_etcd.c, tests/fuzz/fuzz_etcd.c); client.c and watch.c put them on
 * the wire.
 *
 * Ownership: every function that returns heap memory says who frees it;
 * on failure nothing is returned and nothing needs freeing.
 */
#ifndef COR_ETCD_INT_H
#define COR_ETCD_INT_H

#include <stddef.h>
#include <stdint.h>

#include "etcd.h"

/* ---- base64 (RFC 4648 §4: standard alphabet, '=' padding) ----
 * The gateway encodes bytes fields with Go's encoding/base64 StdEncoding.
 * Decoding is strict: length a multiple of 4, padding only at the end, no
 * whitespace, and the unused bits of the last group zero, so every accepted
 * text is the one encoding of its bytes. */

/* Characters cor_etcd_b64_encode writes for n bytes (without the NUL). */
size_t cor_etcd_b64_len(size_t n);

/* Writes the encoding of in[0..n) and a NUL into out, which holds at least
 * cor_etcd_b64_len(n) + 1 bytes. */
void cor_etcd_b64_encode(const void *in, size_t n, char *out);

/* Decodes in[0..n). On success *out is malloc'd (the caller frees it),
 * *out_len bytes followed by a NUL. Returns 0, COR_EINVAL with err naming
 * the offending offset, or COR_ENOMEM. */
int cor_etcd_b64_decode(const char *in, size_t n, uint8_t **out, size_t *out_len,
                        cor_error_t *err);

/* ---- Request bodies ----
 * Each returns a malloc'd NUL-terminated JSON text (the caller frees it),
 * or NULL with err set (COR_EINVAL naming the bad field, or COR_ENOMEM).
 * int64 fields are written as JSON strings, as the gateway expects. */
char *cor_etcd_json_op(const cor_etcd_op_t *op, cor_error_t *err);
char *cor_etcd_json_txn(const cor_etcd_txn_t *txn, cor_error_t *err);
/* COMPACT: {"revision":n,"physical":true}; LEASE_GRANT: {"TTL":n};
 * LEASE_KEEPALIVE, LEASE_REVOKE: {"ID":n}. */
char *cor_etcd_json_number(cor_etcd_kind_t kind, int64_t n, cor_error_t *err);
/* {"create_request":{...}} for a watch starting at start_revision (0: now). */
char *cor_etcd_json_watch(const cor_etcd_watch_options_t *w, int64_t start_revision,
                          cor_error_t *err);

/* The gateway path of a kind ("/v3/kv/range"). */
const char *cor_etcd_path(cor_etcd_kind_t kind);

/* ---- Replies ---- */

/* Parses a 200 reply body of the given kind. On success *out is the
 * caller's (cor_etcd_reply_free). Returns 0, COR_EPROTO with err naming
 * what was wrong (not JSON, a field of the wrong type, bad base64, an int64
 * that is not one), COR_ENOTFOUND for a keepalive of a lease that is gone,
 * or COR_ENOMEM. */
int cor_etcd_json_reply(cor_etcd_kind_t kind, const char *body, size_t len,
                        cor_etcd_reply_t **out, cor_error_t *err);

/* Maps a non-200 reply to a COR_E* code with err saying what etcd said:
 * the gateway's {"error","code","message"} (3.4) or {"code","message"}
 * (3.5+) body, and otherwise the HTTP status with the start of the body.
 * Returns the code (never 0). */
int cor_etcd_json_error(long http_status, const char *body, size_t len, cor_error_t *err);

/* One message of a watch stream ({"result":{...}} or {"error":{...}}). */
typedef struct cor_etcd_watch_msg {
    int created;
    int canceled;
    int64_t revision; /* header.revision */
    int64_t compact_revision;
    int64_t watch_id;
    char cancel_reason[128];
    cor_etcd_event_t *events; /* owned: cor_etcd_watch_msg_close */
    size_t n_events;
} cor_etcd_watch_msg_t;

/* Parses one line of a watch stream into *msg (which the caller closes with
 * cor_etcd_watch_msg_close, on success and failure alike). Returns 0;
 * COR_EPROTO naming what was wrong; or, for an {"error":{...}} message the
 * gateway puts in the stream, the COR_E* code of its grpc_code with its
 * message. */
int cor_etcd_json_watch_msg(const char *line, size_t len, cor_etcd_watch_msg_t *msg,
                            cor_error_t *err);
void cor_etcd_watch_msg_close(cor_etcd_watch_msg_t *msg);

/* ---- The watch stream splitter ----
 * The gateway writes one JSON object per line; HTTP chunks cut those lines
 * anywhere (one object over several chunks, several objects in one). The
 * splitter keeps the unfinished tail and hands out whole lines. */
typedef struct cor_etcd_lines {
    char *buf; /* the unfinished line so far */
    size_t len, cap;
    size_t max; /* longest line accepted */
} cor_etcd_lines_t;

/* A line, without its '\n' (and without a '\r' before it); never empty.
 * Borrowed for the call. Return non-zero to stop feeding. */
typedef int (*cor_etcd_line_cb)(void *arg, const char *line, size_t len);

void cor_etcd_lines_init(cor_etcd_lines_t *l, size_t max);
void cor_etcd_lines_close(cor_etcd_lines_t *l);

/* Feeds data[0..n): calls fn for each line it completes, in order. Returns
 * 0; fn's non-zero return value (the rest of data is dropped); COR_ETOOBIG
 * when a line grows past max (err says how long; the splitter is then
 * reset); or COR_ENOMEM. */
int cor_etcd_lines_feed(cor_etcd_lines_t *l, const char *data, size_t n, cor_etcd_line_cb fn,
                        void *arg, cor_error_t *err);

/* Bytes of an unfinished line held (a stream that ends with this > 0
 * stopped mid-line). */
static inline size_t cor_etcd_lines_pending(const cor_etcd_lines_t *l)
{
    return l->len;
}

/* Drops the unfinished line. */
static inline void cor_etcd_lines_reset(cor_etcd_lines_t *l)
{
    l->len = 0;
}

#endif
