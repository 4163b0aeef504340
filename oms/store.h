/*
 * store.h — where the OMS keeps its directory: a key-value store behind a
 * versioned vtable, so the embedded backend (memory + a log in the data
 * directory) and etcd (v3 JSON gateway over libcurl, store_etcd.c) are
 * interchangeable.
 *
 * The shape follows etcd's: byte values under string keys, atomic batches
 * of puts and deletes (etcd: one txn), point reads, and prefix scans. The
 * OMS keeps its working set in memory and uses the store as the durable
 * record: it scans everything at start and writes through on every change.
 *
 * Threads: a store is called from OMS handler threads; implementations
 * lock internally.
 */
#ifndef COR_OMS_STORE_H
#define COR_OMS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <cor/error.h>

typedef struct cor_store_op {
    enum { COR_STORE_PUT, COR_STORE_DEL } kind;
    const char *key;
    const uint8_t *value; /* PUT only */
    size_t len;
} cor_store_op_t;

/* Called for each key under a prefix; return non-zero to stop. */
typedef int (*cor_store_scan_cb)(void *arg, const char *key, const uint8_t *value, size_t len);

#define COR_STORE_OPS_VERSION 1

typedef struct cor_store_ops {
    unsigned version; /* COR_STORE_OPS_VERSION */
    const char *name; /* "embedded", "etcd" */
    /* Applies every op or none (atomic, durable per the backend's sync
     * setting). Deleting a missing key is not an error. */
    int (*apply)(void *impl, const cor_store_op_t *ops, size_t n, cor_error_t *err);
    /* *value is malloc'd (caller frees); ENOTFOUND if absent. */
    int (*get)(void *impl, const char *key, uint8_t **value, size_t *len, cor_error_t *err);
    /* Every key starting with prefix, in no particular order. */
    int (*scan)(void *impl, const char *prefix, cor_store_scan_cb fn, void *arg, cor_error_t *err);
    void (*close)(void *impl);
} cor_store_ops_t;

typedef struct cor_store {
    const cor_store_ops_t *ops;
    void *impl;
} cor_store_t;

/* The embedded backend: state in memory, every batch appended to
 * DIR/store.log (CRC-checked records; a torn tail from a crash is cut off
 * at open), compacted into a fresh log when it grows to several times the
 * live data. sync=1 fdatasyncs each batch (power-loss safe); sync=0 only
 * write()s (safe against kill -9, since the page cache survives the
 * process). Creates DIR if needed. */
int cor_store_open_embedded(const char *dir, int sync, cor_store_t *out, cor_error_t *err);

/* The etcd backend (store_etcd.c, docs/operations.md "The OMS on etcd"):
 * every key is stored as <prefix><key> in the etcd cluster at endpoints (a
 * comma-separated list of base URLs, e.g. "http://10.0.0.1:2379"); prefix
 * NULL means "/corundum/". apply is one etcd txn guarded by the
 * mod_revision this store last saw of every key it touches (or by "absent"
 * for a key it never saw), so when another process (a second OMS on the
 * same prefix) changed one of those keys, apply writes nothing and fails
 * with COR_ESTATE naming the key; the store re-reads the batch's keys, so
 * the next apply is guarded by what etcd holds now. A write whose
 * connection broke after it was sent (the client's COR_EUNAVAIL "may have
 * been applied") is settled by reading the keys back: if they hold exactly
 * what was written it counts as applied, else apply fails with
 * COR_EUNAVAIL.
 *
 * Open checks the arguments (COR_EINVAL naming what is wrong, nothing
 * started), starts the store's own thread, which runs a libevent loop
 * carrying the etcd client, and reads the keys (not the values) under the
 * prefix once, to learn their revisions: COR_EUNAVAIL when no endpoint
 * answers. Strings are copied. On success *out is the caller's,
 * closed with cor_store_close (no call may be in flight then): that stops
 * the loop, joins the thread and frees the client.
 *
 * Threads: apply, get and scan may be called from any threads at once; they
 * hand their request to the loop thread and wait for its answer, one store
 * operation at a time (which is what lets the revisions the store remembers
 * be exact). A scan callback runs on the caller's thread with no lock held,
 * after the whole range was read at one revision. */
int cor_store_open_etcd(const char *endpoints, const char *prefix, cor_store_t *out,
                        cor_error_t *err);

/* The argument checks cor_store_open_etcd makes, for a daemon to refuse bad
 * flags before it starts anything. 0, or COR_EINVAL with a message saying
 * what is wrong (an empty list, an endpoint that is not an http(s) URL; a
 * prefix that is empty or does not end in '/'). prefix NULL is the
 * default. */
int cor_store_etcd_check_endpoints(const char *endpoints, cor_error_t *err);
int cor_store_etcd_check_prefix(const char *prefix, cor_error_t *err);

static inline void cor_store_close(cor_store_t *s)
{
    if (s->ops != NULL)
        s->ops->close(s->impl);
    s->ops = NULL;
}

#endif
