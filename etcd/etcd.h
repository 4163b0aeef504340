/*
 * etcd/etcd.h — an etcd v3 client over etcd's JSON gateway, on libcurl's
 * multi interface driven by a libevent loop the caller owns.
 *
 * Design. One cor_etcd_t holds a curl multi handle whose sockets and timer
 * are libevent events on the caller's event_base: no thread per request and
 * nothing blocks inside the loop. Every operation is one HTTP POST to
 * /v3/<service>/<method> with a JSON body (json-c); its reply is parsed into
 * a cor_etcd_reply_t and handed to a completion callback on the loop thread.
 * The gateway's JSON is turned into plain C: keys and values arrive as bytes
 * (they are base64 on the wire), int64 fields as int64_t (strings on the
 * wire), absent fields as zero/false (the gateway omits zero values: a
 * failed txn has no "succeeded", a PUT event no "type", an empty range no
 * "kvs").
 *
 * Endpoints. The client takes a list of base URLs ("http://127.0.0.1:2379").
 * It talks to one at a time; when a connection to it fails the client moves
 * to the next and retries there. A request that never reached the server
 * (connection refused) or that only reads is retried on each endpoint once;
 * a write whose connection broke after it was sent may have been applied, so
 * it fails with COR_EUNAVAIL ("may have been applied") instead of being sent
 * twice — the caller decides (a txn guarded by a revision can simply be
 * retried).
 *
 * Errors. Callbacks get an int code (0 or a negative COR_E* code,
 * cor/error.h) and a cor_error_t with a message naming the endpoint and the
 * method. etcd's own errors (HTTP status + {"error","code","message"}) map
 * from their gRPC code with cor_error_from_grpc ("etcdserver: requested
 * lease not found", code 5, is COR_ENOTFOUND; "no leader", 14, is
 * COR_EUNAVAIL) and keep etcd's text in the message. A reply that is not
 * what the gateway sends is COR_EPROTO naming the field that was wrong.
 *
 * Watches stream: one POST whose chunked reply is one JSON object per line.
 * The client restarts a watch whose connection ends on the next endpoint,
 * from the revision after the last event it delivered, so the caller sees
 * every event once, in order. A watch whose start revision was compacted
 * away ends with a COR_ETCD_WATCH_COMPACTED event: the caller reads afresh
 * and starts a new watch.
 *
 * Threads: every function runs on the loop thread (the one running the
 * event_base), or before the loop runs. Callbacks run on the loop thread.
 * The _sync helpers run the loop themselves and are for tools and tests,
 * never for code already inside the loop. docs/etcd.md has the whole story.
 */
#ifndef COR_ETCD_H
#define COR_ETCD_H

#include <stddef.h>
#include <stdint.h>

#include <cor/error.h>

#ifdef __cplusplus
extern "C" {
#endif

struct event_base; /* libevent's; the caller's loop */

typedef struct cor_etcd cor_etcd_t;
typedef struct cor_etcd_watch cor_etcd_watch_t;

/* ---- Values ---- */

/* One key-value as etcd stores it. key and value point into the reply that
 * holds the kv (NUL-terminated after their length, for convenience; they may
 * contain NULs). A DELETE event's kv has only key and mod_revision. */
typedef struct cor_etcd_kv {
    uint8_t *key;
    size_t key_len;
    uint8_t *value;
    size_t value_len;
    int64_t create_revision;
    int64_t mod_revision;
    int64_t version;
    int64_t lease;
} cor_etcd_kv_t;

typedef enum cor_etcd_kind {
    COR_ETCD_RANGE,  /* /v3/kv/range */
    COR_ETCD_PUT,    /* /v3/kv/put */
    COR_ETCD_DELETE, /* /v3/kv/deleterange */
    COR_ETCD_TXN,    /* /v3/kv/txn */
    COR_ETCD_COMPACT,
    COR_ETCD_LEASE_GRANT,
    COR_ETCD_LEASE_KEEPALIVE,
    COR_ETCD_LEASE_REVOKE,
} cor_etcd_kind_t;

/* The parsed answer to one request. Fields a kind does not use are zero.
 * Allocated as one object: cor_etcd_reply_free frees it and everything it
 * points to. */
typedef struct cor_etcd_reply {
    cor_etcd_kind_t kind;
    int64_t revision;  /* header.revision: the store's revision when answered */
    int64_t raft_term; /* header.raft_term */
    uint64_t member_id;
    /* RANGE: the kvs found. PUT with prev_kv: the previous kv (0 or 1).
     * DELETE with prev_kv: the deleted kvs. */
    cor_etcd_kv_t *kvs;
    size_t n_kvs;
    int64_t count; /* RANGE: keys in the range; DELETE: keys deleted */
    int more;      /* RANGE: more keys than the limit returned */
    /* TXN: whether the compares held, and one reply per op of the branch
     * that ran (each of kind RANGE, PUT or DELETE). */
    int succeeded;
    struct cor_etcd_reply *responses;
    size_t n_responses;
    /* LEASE_GRANT and LEASE_KEEPALIVE: the lease and its TTL in seconds. A
     * keepalive of a lease that no longer exists answers with ttl 0 (the
     * client turns that into COR_ENOTFOUND). */
    int64_t lease_id;
    int64_t ttl;
} cor_etcd_reply_t;

/* Frees a reply given to a completion callback (NULL is fine). */
void cor_etcd_reply_free(cor_etcd_reply_t *reply);

/* ---- Requests ---- */

/* One key operation: a request by itself (cor_etcd_kv) or one op of a txn.
 * Keys and values are bytes; only the pointers are borrowed for the call
 * (the body is built before cor_etcd_kv returns). */
typedef struct cor_etcd_op {
    cor_etcd_kind_t kind; /* COR_ETCD_RANGE, COR_ETCD_PUT or COR_ETCD_DELETE */
    const void *key;
    size_t key_len; /* must be > 0 */
    /* RANGE and DELETE: the end of the range [key, range_end). NULL with
     * prefix = 0 means the key alone. */
    const void *range_end;
    size_t range_end_len;
    int prefix; /* RANGE, DELETE: every key starting with key (sets range_end) */
    const void *value; /* PUT */
    size_t value_len;
    int64_t lease;    /* PUT: attach the key to this lease (0: none) */
    int prev_kv;      /* PUT, DELETE: return what was there before */
    int64_t limit;    /* RANGE: at most this many kvs (0: all) */
    int64_t revision; /* RANGE: read at this revision (0: latest) */
    int keys_only;    /* RANGE */
    int count_only;   /* RANGE */
    int serializable; /* RANGE: answer from the member's copy (not linearizable) */
} cor_etcd_op_t;

typedef enum cor_etcd_target {
    COR_ETCD_CMP_VERSION,
    COR_ETCD_CMP_CREATE, /* create_revision; 0 means "the key does not exist" */
    COR_ETCD_CMP_MOD,    /* mod_revision */
    COR_ETCD_CMP_VALUE,
    COR_ETCD_CMP_LEASE,
} cor_etcd_target_t;

typedef enum cor_etcd_cmp_result {
    COR_ETCD_EQUAL,
    COR_ETCD_GREATER,
    COR_ETCD_LESS,
    COR_ETCD_NOT_EQUAL,
} cor_etcd_cmp_result_t;

/* One compare of a txn: <target of key> <result> <number or value>. */
typedef struct cor_etcd_cmp {
    cor_etcd_target_t target;
    cor_etcd_cmp_result_t result;
    const void *key;
    size_t key_len;
    int64_t number;    /* VERSION, CREATE, MOD, LEASE */
    const void *value; /* VALUE */
    size_t value_len;
} cor_etcd_cmp_t;

/* If every compare holds, run success, else failure: atomically. */
typedef struct cor_etcd_txn {
    const cor_etcd_cmp_t *cmp;
    size_t n_cmp;
    const cor_etcd_op_t *success;
    size_t n_success;
    const cor_etcd_op_t *failure;
    size_t n_failure;
} cor_etcd_txn_t;

/* Completion of a request, on the loop thread. rc is 0 or a COR_E* code;
 * err holds the message when rc != 0 (borrowed for the call). reply is the
 * callback's to keep: it frees it with cor_etcd_reply_free (NULL when rc !=
 * 0). */
typedef void (*cor_etcd_done_cb)(void *arg, int rc, cor_etcd_reply_t *reply,
                                 const cor_error_t *err);

/* ---- The client ---- */

typedef struct cor_etcd_options {
    /* Comma-separated base URLs, e.g. "http://127.0.0.1:2379,http://h2:2379"
     * (copied). Required. */
    const char *endpoints;
    int request_timeout_ms; /* per unary request and endpoint; 0: 5000 */
    int connect_timeout_ms; /* 0: 1000 */
    /* Wait before restarting a watch whose stream ended; doubles up to
     * 2000 ms while restarts fail. 0: 100. */
    int watch_retry_ms;
    /* A watch stream silent this long is taken as broken and restarted on
     * the next endpoint: what catches a member that is paused or cut off
     * (its TCP connection stays up). Every watch then asks for progress
     * notifications, so etcd must be started with
     * --experimental-watch-progress-notify-interval well below this.
     * 0: off (a quiet stream is never suspected). */
    int watch_idle_ms;
} cor_etcd_options_t;

/* Makes a client on base (borrowed: it must outlive the client). On
 * success *out is the caller's, freed with cor_etcd_free. Returns 0,
 * COR_EINVAL (a bad endpoint list, named in err) or COR_ENOMEM. Calls
 * curl_global_init once per process. */
int cor_etcd_new(struct event_base *base, const cor_etcd_options_t *opts, cor_etcd_t **out,
                 cor_error_t *err);

/* Frees the client. Requests still in flight complete first, with
 * COR_ECANCELLED; watches still open are freed without a callback (their
 * handles become invalid). Not from inside one of the client's callbacks. */
void cor_etcd_free(cor_etcd_t *c);

/* The endpoint requests go to now (borrowed; changes on failover). */
const char *cor_etcd_endpoint(const cor_etcd_t *c);

/* Starts a range, put or deleterange (op->kind). Returns 0 when started (cb
 * runs exactly once, later, never from inside this call) or a COR_E* code
 * (COR_EINVAL for a bad op, named in err) without calling cb. */
int cor_etcd_kv(cor_etcd_t *c, const cor_etcd_op_t *op, cor_etcd_done_cb cb, void *arg,
                cor_error_t *err);

/* Starts a txn; as cor_etcd_kv. */
int cor_etcd_txn(cor_etcd_t *c, const cor_etcd_txn_t *txn, cor_etcd_done_cb cb, void *arg,
                 cor_error_t *err);

/* Compacts the key-value history up to revision (physical: wait until the
 * space is reclaimed). Watches and reads below it then fail. */
int cor_etcd_compact(cor_etcd_t *c, int64_t revision, cor_etcd_done_cb cb, void *arg,
                     cor_error_t *err);

/* Grants a lease of ttl seconds (reply->lease_id, reply->ttl). etcd may
 * raise a TTL below its minimum (about 1.5 election timeouts). */
int cor_etcd_lease_grant(cor_etcd_t *c, int64_t ttl, cor_etcd_done_cb cb, void *arg,
                         cor_error_t *err);

/* Renews a lease once (the gateway takes one POST per keepalive); the reply
 * has the new ttl. A lease that expired or was revoked completes with
 * COR_ENOTFOUND. */
int cor_etcd_lease_keepalive(cor_etcd_t *c, int64_t id, cor_etcd_done_cb cb, void *arg,
                             cor_error_t *err);

/* Revokes a lease: every key attached to it is deleted. */
int cor_etcd_lease_revoke(cor_etcd_t *c, int64_t id, cor_etcd_done_cb cb, void *arg,
                          cor_error_t *err);

/* ---- Synchronous helpers (tools and tests) ----
 * Each starts the request and runs the event_base until it completes. Not
 * from the loop thread while the loop is running. On success *reply is the
 * caller's (cor_etcd_reply_free); on failure it is NULL. */
int cor_etcd_kv_sync(cor_etcd_t *c, const cor_etcd_op_t *op, cor_etcd_reply_t **reply,
                     cor_error_t *err);
int cor_etcd_txn_sync(cor_etcd_t *c, const cor_etcd_txn_t *txn, cor_etcd_reply_t **reply,
                      cor_error_t *err);
int cor_etcd_compact_sync(cor_etcd_t *c, int64_t revision, cor_error_t *err);
int cor_etcd_lease_grant_sync(cor_etcd_t *c, int64_t ttl, int64_t *id, cor_error_t *err);
int cor_etcd_lease_keepalive_sync(cor_etcd_t *c, int64_t id, int64_t *ttl, cor_error_t *err);
int cor_etcd_lease_revoke_sync(cor_etcd_t *c, int64_t id, cor_error_t *err);

/* ---- Watches ---- */

typedef enum cor_etcd_event_type {
    COR_ETCD_EVENT_PUT,
    COR_ETCD_EVENT_DELETE,
} cor_etcd_event_type_t;

typedef struct cor_etcd_event {
    cor_etcd_event_type_t type;
    cor_etcd_kv_t kv;
    cor_etcd_kv_t prev_kv; /* only with prev_kv; zero when etcd sent none */
    int has_prev_kv;
} cor_etcd_event_t;

typedef enum cor_etcd_watch_kind {
    /* The watch is in place (once, for the first stream); revision is the
     * store's revision then. */
    COR_ETCD_WATCH_CREATED,
    /* events[0..n_events) happened, in revision order. */
    COR_ETCD_WATCH_EVENTS,
    /* The stream broke (err says why); the watch goes on by itself from
     * the next revision on another endpoint. For logs and staleness. */
    COR_ETCD_WATCH_RETRYING,
    /* The revision the watch had to start from is compacted: events were
     * lost to the caller. compact_revision is the oldest revision kept.
     * The watch has ended: read afresh and start a new one. */
    COR_ETCD_WATCH_COMPACTED,
    /* etcd cancelled the watch or refused it for good (err says why). The
     * watch has ended. */
    COR_ETCD_WATCH_ENDED,
} cor_etcd_watch_kind_t;

/* What a watch callback is told. Everything in it is borrowed for the
 * duration of the callback. */
typedef struct cor_etcd_watch_update {
    cor_etcd_watch_kind_t kind;
    int64_t revision; /* header.revision of the message (0 if absent) */
    const cor_etcd_event_t *events;
    size_t n_events;
    int64_t compact_revision;  /* COMPACTED */
    const cor_error_t *err;    /* RETRYING, ENDED */
} cor_etcd_watch_update_t;

/* A watch callback, on the loop thread. After COMPACTED or ENDED it is not
 * called again, and the handle still has to be freed with
 * cor_etcd_watch_cancel. It may call cor_etcd_watch_cancel on its own
 * watch. */
typedef void (*cor_etcd_watch_cb)(void *arg, cor_etcd_watch_t *w,
                                  const cor_etcd_watch_update_t *u);

typedef struct cor_etcd_watch_options {
    const void *key; /* required */
    size_t key_len;
    const void *range_end; /* as in cor_etcd_op_t */
    size_t range_end_len;
    int prefix;
    int64_t start_revision; /* 0: from now on */
    int prev_kv;            /* events carry the kv before the change */
    /* Ask etcd for empty progress messages while nothing happens (on by
     * itself when the client has watch_idle_ms). */
    int progress_notify;
} cor_etcd_watch_options_t;

/* Starts a watch. On success *out is the caller's, freed with
 * cor_etcd_watch_cancel (which also stops it); cb is called as the stream
 * delivers. Returns 0 or a COR_E* code (nothing started). */
int cor_etcd_watch(cor_etcd_t *c, const cor_etcd_watch_options_t *opts, cor_etcd_watch_cb cb,
                   void *arg, cor_etcd_watch_t **out, cor_error_t *err);

/* Stops the watch (closing its connection: the gateway ignores cancel
 * requests) and frees it. No callback runs after this returns. May be
 * called from the watch's own callback. NULL is fine. */
void cor_etcd_watch_cancel(cor_etcd_watch_t *w);

/* The revision the watch will resume from if its stream breaks now: one
 * past the last event delivered (or the start revision). */
int64_t cor_etcd_watch_next_revision(const cor_etcd_watch_t *w);

#ifdef __cplusplus
}
#endif
#endif /* COR_ETCD_H */
