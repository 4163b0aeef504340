/*
 * lease_caching.c — LeaseCaching(lease, entries): a client part that
 * reuses the replies of read_only methods for the length of a lease, and
 * clears them on any mutating call through the same reference
 * (docs/dms/LeaseCaching.md).
 */
#include "builtins.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cor/object.h>
#include <cor/strmap.h>

static const cor_dm_param_spec_t lease_params[] = {
    {"lease", "how long a cached reply may be reused (default 1s)", 0},
    {"entries", "most replies kept per reference (default 1000)", 0},
    {NULL, NULL, 0},
};

static int lease_validate(const cor_dm_entry_t *e, cor_error_t *err)
{
    long v;
    int rc = cor_dm_param_duration(e, "lease", 1000, 1, 3600000, &v, err);
    return rc ? rc : cor_dm_param_int(e, "entries", 1000, 1, 1000000, &v, err);
}

/* A cached reply, keyed by method and a hash of the request; the request
 * itself is kept to rule out hash collisions. */
typedef struct lease_entry {
    unsigned char *req;
    size_t req_len;
    unsigned char *reply;
    size_t reply_len;
    long long expires;
} lease_entry_t;

typedef struct lease_cache {
    pthread_mutex_t lock;
    long lease_ms, max_entries;
    cor_strmap_t map;
    long hits, misses;
} lease_cache_t;

static int lease_new(const cor_dm_entry_t *e, void **state, cor_error_t *err)
{
    lease_cache_t *l = calloc(1, sizeof(*l));
    if (l == NULL || cor_strmap_init(&l->map) != 0) {
        free(l);
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    }
    cor_dm_param_duration(e, "lease", 1000, 1, 3600000, &l->lease_ms, NULL);
    cor_dm_param_int(e, "entries", 1000, 1, 1000000, &l->max_entries, NULL);
    pthread_mutex_init(&l->lock, NULL);
    *state = l;
    return 0;
}

static int lease_entry_free(void *arg, const char *key, void *value)
{
    lease_entry_t *x = value;
    free(x->req);
    free(x->reply);
    free(x);
    return 0;
}

/* Drops every entry (a mutating call, or the cache is full). */
static void lease_clear(lease_cache_t *l)
{
    cor_strmap_each(&l->map, lease_entry_free, NULL);
    cor_strmap_close(&l->map);
    cor_strmap_init(&l->map);
}

static int lease_call(void *state, cor_dm_call_t *c)
{
    lease_cache_t *l = state;
    const cor_method_desc_t *m = cor_dm_call_method(c);
    if (!(m->hints & COR_METHOD_READ_ONLY)) {
        /* It may change what cached reads would return. */
        pthread_mutex_lock(&l->lock);
        lease_clear(l);
        pthread_mutex_unlock(&l->lock);
        return cor_dm_next(c);
    }
    size_t len;
    const unsigned char *req = cor_dm_call_request(c, &len);
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ req[i]) * 1099511628211ULL;
    char key[160];
    snprintf(key, sizeof(key), "%.100s:%016llx", m->name, (unsigned long long)h);
    pthread_mutex_lock(&l->lock);
    lease_entry_t *x = cor_strmap_get(&l->map, key);
    if (x != NULL && x->expires > cor_dm_now_ms() && x->req_len == len && memcmp(x->req, req, len) == 0) {
        int rc = cor_dm_call_set_reply(c, x->reply, x->reply_len);
        l->hits++;
        pthread_mutex_unlock(&l->lock);
        return rc;
    }
    l->misses++;
    pthread_mutex_unlock(&l->lock);
    long long started = cor_dm_now_ms();
    int rc = cor_dm_next(c);
    if (rc != 0)
        return rc;
    size_t rlen;
    const unsigned char *rep = cor_dm_call_reply(c, &rlen);
    lease_entry_t *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return 0;
    n->req = malloc(len ? len : 1);
    n->reply = malloc(rlen ? rlen : 1);
    if (n->req == NULL || n->reply == NULL) {
        lease_entry_free(NULL, NULL, n);
        return 0;
    }
    memcpy(n->req, req, len);
    n->req_len = len;
    memcpy(n->reply, rep, rlen);
    n->reply_len = rlen;
    /* The lease runs from when the call was sent: the reply is at least
     * that fresh. */
    n->expires = started + l->lease_ms;
    pthread_mutex_lock(&l->lock);
    if ((long)l->map.len >= l->max_entries)
        lease_clear(l);
    void *old = NULL;
    if (cor_strmap_put(&l->map, key, n, &old) != 0)
        lease_entry_free(NULL, NULL, n);
    else if (old != NULL)
        lease_entry_free(NULL, NULL, old);
    pthread_mutex_unlock(&l->lock);
    return 0;
}

static void lease_free(void *state)
{
    lease_cache_t *l = state;
    cor_strmap_each(&l->map, lease_entry_free, NULL);
    cor_strmap_close(&l->map);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

const cor_dm_ops_t cor_dm_lease_caching = {
    .version = COR_DM_OPS_VERSION,
    .name = "LeaseCaching",
    .summary = "read-only replies are reused under a lease; a mutating call clears them",
    .params = lease_params,
    .caps = COR_DM_CAP_CACHE,
    .exclusive = COR_DM_CAP_CACHE,
    .validate = lease_validate,
    .client_new = lease_new,
    .client_call = lease_call,
    .client_free = lease_free,
};
