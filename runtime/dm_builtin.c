/*
 * dm_builtin.c — the deployment managers built into libcor, registered on
 * first use of the registry. Each has its page in docs/dms/.
 *
 * Placement DMs act only in the group part (the OMS places replicas only on
 * kernel servers whose labels match):
 *   KeepInRegion(region=R)              region=R
 *   KeepOnDevice(class=C | node=N)      device-class=C and/or node=N
 * Call DMs act on every call:
 *   CircuitBreaker(failures, cooldown)  client: fail fast while open
 *   AtLeastOnceRPC(retries, backoff,    client: resend with the same call id;
 *                  window)              server: answer repeats from a table
 *   SerializableRPC                     server: one call at a time, always
 *   LeaseCaching(lease, entries)        client: read-only replies reused under
 *                                       a lease; a mutating call clears them
 *   LoadBalancedFrontend(replicas)      group: N replicas on distinct kernel
 *                                       servers, re-created when one dies;
 *                                       client: round-robin over live ones
 *   Immutable                           server: refuses changing methods;
 *                                       client: a local replica for reads
 *   PeriodicCheckpoint(interval)        server: state to the OMS at most every
 *                                       interval once changed; group: restore
 *                                       on another node when its node dies
 */
#include <cor/dm.h>
#include <cor/log.h>
#include <cor/object.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "labels.h"
#include "strmap.h"

/* A label value must be a valid selector value. */
static int check_value(const cor_dm_entry_t *e, const char *name, cor_error_t *err)
{
    const char *v = cor_dm_param(e, name);
    if (v == NULL)
        return 0;
    char term[COR_DM_NAME_MAX + COR_DM_VALUE_MAX + 2];
    snprintf(term, sizeof(term), "k=%s", v);
    cor_label_t l;
    cor_error_t lerr;
    if (v[0] == '\0' || cor_label_parse(term, &l, &lerr) != 0)
        return cor_error_set(err, COR_EINVAL,
                             "%s: %s '%s' is not a label value (letters, digits, . _ / -)",
                             e->name, name, v);
    return 0;
}

static const cor_dm_param_spec_t region_params[] = {
    {"region", "the value of the kernel servers' region label", 1},
    {NULL, NULL, 0},
};

static int region_validate(const cor_dm_entry_t *e, cor_error_t *err)
{
    return check_value(e, "region", err);
}

static int region_place(const cor_dm_entry_t *e, char *buf, size_t len, cor_error_t *err)
{
    snprintf(buf, len, "region=%s", cor_dm_param(e, "region"));
    return 0;
}

static const cor_dm_ops_t keep_in_region = {
    .version = COR_DM_OPS_VERSION,
    .name = "KeepInRegion",
    .summary = "replicas stay on kernel servers labelled region=R",
    .params = region_params,
    .caps = COR_DM_CAP_PLACEMENT,
    .validate = region_validate,
    .placement = region_place,
};

static const cor_dm_param_spec_t device_params[] = {
    {"class", "device class: the kernel servers' device-class label (cloud, edge, mobile)", 0},
    {"node", "one kernel server, by name", 0},
    {NULL, NULL, 0},
};

static int device_validate(const cor_dm_entry_t *e, cor_error_t *err)
{
    if (cor_dm_param(e, "class") == NULL && cor_dm_param(e, "node") == NULL)
        return cor_error_set(err, COR_EINVAL, "%s needs class=... or node=...", e->name);
    int rc = check_value(e, "class", err);
    return rc ? rc : check_value(e, "node", err);
}

static int device_place(const cor_dm_entry_t *e, char *buf, size_t len, cor_error_t *err)
{
    const char *cls = cor_dm_param(e, "class"), *node = cor_dm_param(e, "node");
    snprintf(buf, len, "%s%s%s%s%s", cls ? "device-class=" : "", cls ? cls : "",
             cls && node ? "," : "", node ? "node=" : "", node ? node : "");
    return 0;
}

static const cor_dm_ops_t keep_on_device = {
    .version = COR_DM_OPS_VERSION,
    .name = "KeepOnDevice",
    .summary = "replicas stay on one device class, or one kernel server",
    .params = device_params,
    .caps = COR_DM_CAP_PLACEMENT,
    .validate = device_validate,
    .placement = device_place,
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Failures that say the call may not have reached the object (as opposed
 * to an answer from it). */
static int transport_failure(int rc)
{
    return rc == COR_EUNAVAIL || rc == COR_ETIMEDOUT || rc == COR_ECANCELLED;
}

/* ---------------- CircuitBreaker ---------------- */

static const cor_dm_param_spec_t cb_params[] = {
    {"failures", "consecutive transport failures that open the circuit (default 5)", 0},
    {"cooldown", "how long it stays open before one trial call (default 1s)", 0},
    {NULL, NULL, 0},
};

typedef struct breaker {
    pthread_mutex_t lock;
    long threshold, cooldown_ms;
    long failures;
    long long open_until; /* 0: closed */
    int trial;            /* a half-open trial call is in flight */
} breaker_t;

static int cb_validate(const cor_dm_entry_t *e, cor_error_t *err)
{
    long v;
    int rc = cor_dm_param_int(e, "failures", 5, 1, 1000000, &v, err);
    return rc ? rc : cor_dm_param_duration(e, "cooldown", 1000, 1, 3600000, &v, err);
}

static int cb_new(const cor_dm_entry_t *e, void **state, cor_error_t *err)
{
    breaker_t *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    cor_dm_param_int(e, "failures", 5, 1, 1000000, &b->threshold, NULL);
    cor_dm_param_duration(e, "cooldown", 1000, 1, 3600000, &b->cooldown_ms, NULL);
    pthread_mutex_init(&b->lock, NULL);
    *state = b;
    return 0;
}

static int cb_call(void *state, cor_dm_call_t *c)
{
    breaker_t *b = state;
    pthread_mutex_lock(&b->lock);
    long long now = now_ms();
    int is_trial = 0;
    if (b->open_until != 0) {
        if (now < b->open_until || b->trial) {
            long left = b->trial ? 0 : (long)(b->open_until - now);
            long f = b->failures;
            pthread_mutex_unlock(&b->lock);
            return cor_dm_fail(c, COR_EUNAVAIL,
                               "circuit open after %ld consecutive failures; next try in %ld ms", f,
                               left);
        }
        b->trial = is_trial = 1; /* half-open: let one call through */
    }
    pthread_mutex_unlock(&b->lock);
    int rc = cor_dm_next(c);
    pthread_mutex_lock(&b->lock);
    if (is_trial)
        b->trial = 0;
    if (transport_failure(rc)) {
        b->failures++;
        if (is_trial || b->failures >= b->threshold)
            b->open_until = now_ms() + b->cooldown_ms;
    } else {
        b->failures = 0;
        b->open_until = 0;
    }
    pthread_mutex_unlock(&b->lock);
    return rc;
}

static void cb_free(void *state)
{
    breaker_t *b = state;
    pthread_mutex_destroy(&b->lock);
    free(b);
}

static const cor_dm_ops_t circuit_breaker = {
    .version = COR_DM_OPS_VERSION,
    .name = "CircuitBreaker",
    .summary = "fail fast after N consecutive failures; one trial call after a cool-down",
    .params = cb_params,
    .validate = cb_validate,
    .client_new = cb_new,
    .client_call = cb_call,
    .client_free = cb_free,
};

/* ---------------- SerializableRPC ---------------- */

typedef struct serial {
    pthread_mutex_t lock;
} serial_t;

static int serial_new(const cor_dm_entry_t *e, void **state, cor_error_t *err)
{
    serial_t *s = malloc(sizeof(*s));
    if (s == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    pthread_mutex_init(&s->lock, NULL);
    *state = s;
    return 0;
}

static int serial_call(void *state, cor_dm_call_t *c)
{
    serial_t *s = state;
    pthread_mutex_lock(&s->lock);
    int rc = cor_dm_next(c);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static void serial_free(void *state)
{
    serial_t *s = state;
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static const cor_dm_ops_t serializable_rpc = {
    .version = COR_DM_OPS_VERSION,
    .name = "SerializableRPC",
    .summary = "every call to the object runs strictly one at a time",
    .caps = COR_DM_CAP_SERIAL,
    .exclusive = COR_DM_CAP_SERIAL,
    .server_new = serial_new,
    .server_call = serial_call,
    .server_free = serial_free,
};

/* ---------------- AtLeastOnceRPC ---------------- */

static const cor_dm_param_spec_t alo_params[] = {
    {"retries", "resends after a transport failure (default 3)", 0},
    {"backoff", "first wait before a resend, doubled each time, at most 2s (default 50ms)", 0},
    {"window", "replies remembered per replica for deduplication (default 10000)", 0},
    {NULL, NULL, 0},
};

static int alo_validate(const cor_dm_entry_t *e, cor_error_t *err)
{
    long v;
    int rc = cor_dm_param_int(e, "retries", 3, 0, 100, &v, err);
    if (rc == 0)
        rc = cor_dm_param_duration(e, "backoff", 50, 0, 60000, &v, err);
    if (rc == 0)
        rc = cor_dm_param_int(e, "window", 10000, 1, 10000000, &v, err);
    return rc;
}

typedef struct alo_client {
    long retries, backoff_ms;
} alo_client_t;

static int alo_client_new(const cor_dm_entry_t *e, void **state, cor_error_t *err)
{
    alo_client_t *a = malloc(sizeof(*a));
    if (a == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    cor_dm_param_int(e, "retries", 3, 0, 100, &a->retries, NULL);
    cor_dm_param_duration(e, "backoff", 50, 0, 60000, &a->backoff_ms, NULL);
    *state = a;
    return 0;
}

static int alo_client_call(void *state, cor_dm_call_t *c)
{
    alo_client_t *a = state;
    long wait = a->backoff_ms;
    for (long attempt = 0;; attempt++) {
        int rc = cor_dm_next(c); /* same call id every time */
        if (!transport_failure(rc) || attempt >= a->retries)
            return rc;
        struct timespec ts = {.tv_sec = wait / 1000, .tv_nsec = (wait % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        wait = wait * 2 > 2000 ? 2000 : wait * 2;
    }
}

/* A remembered outcome. Keys are "<client hex>:<seq>"; `order` is a ring
 * of keys in arrival order, so the oldest is forgotten first. */
typedef struct alo_entry {
    int rc;
    char msg[COR_ERROR_MSG_MAX];
    unsigned char *reply;
    size_t len;
} alo_entry_t;

typedef struct alo_server {
    pthread_mutex_t lock;
    cor_strmap_t seen;
    char **order;
    long window, next;
    uint64_t inserted, mark; /* entries added ever, and as of the last save_dirty */
} alo_server_t;

static void alo_key(const cor_dm_call_t *c, char *key, size_t len)
{
    const unsigned char *client;
    uint64_t seq;
    cor_dm_call_id(c, &client, &seq);
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    for (int i = 0; i < 16 && n + 2 < len; i++) {
        key[n++] = hex[client[i] >> 4];
        key[n++] = hex[client[i] & 15];
    }
    snprintf(key + n, len - n, ":%llu", (unsigned long long)seq);
}

static int alo_server_new(const cor_dm_entry_t *e, void **state, cor_error_t *err)
{
    alo_server_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    cor_dm_param_int(e, "window", 10000, 1, 10000000, &a->window, NULL);
    a->order = calloc((size_t)a->window, sizeof(*a->order));
    if (a->order == NULL || cor_strmap_init(&a->seen) != 0) {
        free(a->order);
        free(a);
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&a->lock, NULL);
    *state = a;
    return 0;
}

static void alo_entry_free(alo_entry_t *x)
{
    if (x != NULL) {
        free(x->reply);
        free(x);
    }
}

static int alo_server_call(void *state, cor_dm_call_t *c)
{
    alo_server_t *a = state;
    const cor_method_desc_t *m = cor_dm_call_method(c);
    if (m->hints & COR_METHOD_READ_ONLY)
        return cor_dm_next(c); /* running it twice has no effect to dedupe */
    char key[64];
    alo_key(c, key, sizeof(key));
    /* Held across the call, so a resend that arrives while the first
     * attempt still runs (concurrent classes) waits for its outcome. */
    pthread_mutex_lock(&a->lock);
    alo_entry_t *x = cor_strmap_get(&a->seen, key);
    if (x != NULL) {
        int rc = x->rc;
        if (rc == 0)
            rc = cor_dm_call_set_reply(c, x->reply, x->len);
        else
            cor_error_set((cor_error_t *)cor_dm_call_error(c), rc, "%s", x->msg);
        pthread_mutex_unlock(&a->lock);
        return rc;
    }
    int rc = cor_dm_next(c);
    if (!transport_failure(rc)) {
        x = calloc(1, sizeof(*x));
        size_t len = 0;
        const unsigned char *rep = rc == 0 ? cor_dm_call_reply(c, &len) : NULL;
        if (x != NULL && (len == 0 || (x->reply = malloc(len)) != NULL)) {
            x->rc = rc;
            if (len)
                memcpy(x->reply, rep, len);
            x->len = len;
            if (rc != 0)
                snprintf(x->msg, sizeof(x->msg), "%s", cor_dm_call_error(c)->msg);
            /* Forget the oldest when the window is full. */
            char **slot = &a->order[a->next];
            if (*slot != NULL) {
                alo_entry_free(cor_strmap_del(&a->seen, *slot));
                free(*slot);
            }
            *slot = strdup(key);
            if (*slot == NULL || cor_strmap_put(&a->seen, key, x, NULL) != 0) {
                free(*slot);
                *slot = NULL;
                alo_entry_free(x);
            }
            a->next = (a->next + 1) % a->window;
            a->inserted++;
        } else {
            alo_entry_free(x);
        }
    }
    pthread_mutex_unlock(&a->lock);
    return rc;
}

/* The table in arrival order (oldest first), so eviction order survives a
 * move: u32 n, then per entry u32 key_len, key, i32 rc, u32 msg_len, msg,
 * u32 reply_len, reply (little-endian). */
static void put_u32(unsigned char **p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        *(*p)++ = (unsigned char)(v >> (8 * i));
}

static int get_u32(const unsigned char **p, const unsigned char *end, uint32_t *v)
{
    if (end - *p < 4)
        return -1;
    *v = 0;
    for (int i = 0; i < 4; i++)
        *v |= (uint32_t)(*p)[i] << (8 * i);
    *p += 4;
    return 0;
}

/* Writes the newest `count` entries, oldest of them first (the lock held). */
static int alo_write(alo_server_t *a, long count, unsigned char **buf, size_t *len)
{
    long first = a->next - count; /* ring position of the oldest written */
    size_t total = 4;
    for (long i = 0; i < count; i++) {
        const char *key = a->order[((first + i) % a->window + a->window) % a->window];
        alo_entry_t *x = key ? cor_strmap_get(&a->seen, key) : NULL;
        if (x != NULL)
            total += 16 + strlen(key) + strlen(x->msg) + x->len;
    }
    unsigned char *b = malloc(total), *p = b;
    if (b == NULL)
        return COR_ENOMEM;
    uint32_t n = 0;
    p += 4;
    for (long i = 0; i < count; i++) {
        const char *key = a->order[((first + i) % a->window + a->window) % a->window];
        alo_entry_t *x = key ? cor_strmap_get(&a->seen, key) : NULL;
        if (x == NULL)
            continue;
        size_t kl = strlen(key), ml = strlen(x->msg);
        put_u32(&p, (uint32_t)kl);
        memcpy(p, key, kl);
        p += kl;
        put_u32(&p, (uint32_t)x->rc);
        put_u32(&p, (uint32_t)ml);
        memcpy(p, x->msg, ml);
        p += ml;
        put_u32(&p, (uint32_t)x->len);
        if (x->len)
            memcpy(p, x->reply, x->len);
        p += x->len;
        n++;
    }
    unsigned char *q = b;
    put_u32(&q, n);
    *buf = b;
    *len = (size_t)(p - b);
    return 0;
}

static int alo_save(void *state, unsigned char **buf, size_t *len)
{
    alo_server_t *a = state;
    pthread_mutex_lock(&a->lock);
    int rc = alo_write(a, a->window, buf, len);
    pthread_mutex_unlock(&a->lock);
    return rc;
}

/* The entries added since the last call, in the same form alo_load reads
 * (loading them adds them in order, forgetting the oldest as they come). */
static int alo_save_dirty(void *state, int restart, unsigned char **buf, size_t *len)
{
    alo_server_t *a = state;
    pthread_mutex_lock(&a->lock);
    uint64_t fresh = a->inserted - a->mark;
    long count = restart ? 0 : fresh > (uint64_t)a->window ? a->window : (long)fresh;
    int rc = alo_write(a, count, buf, len);
    if (rc == 0)
        a->mark = a->inserted;
    pthread_mutex_unlock(&a->lock);
    return rc;
}

static int alo_load(void *state, const unsigned char *buf, size_t len)
{
    alo_server_t *a = state;
    const unsigned char *p = buf, *end = buf + len;
    uint32_t n;
    if (get_u32(&p, end, &n) != 0)
        return COR_EINVAL;
    pthread_mutex_lock(&a->lock);
    int rc = 0;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        uint32_t kl, r, ml, rl;
        char key[64];
        alo_entry_t *x = NULL;
        if (get_u32(&p, end, &kl) != 0 || kl >= sizeof(key) || (size_t)(end - p) < kl) {
            rc = COR_EINVAL;
            break;
        }
        memcpy(key, p, kl);
        key[kl] = '\0';
        p += kl;
        if (get_u32(&p, end, &r) != 0 || get_u32(&p, end, &ml) != 0 ||
            ml >= COR_ERROR_MSG_MAX || (size_t)(end - p) < ml || (x = calloc(1, sizeof(*x))) == NULL) {
            rc = COR_EINVAL;
            break;
        }
        x->rc = (int)r;
        memcpy(x->msg, p, ml);
        p += ml;
        if (get_u32(&p, end, &rl) != 0 || (size_t)(end - p) < rl ||
            (rl > 0 && (x->reply = malloc(rl)) == NULL)) {
            alo_entry_free(x);
            rc = COR_EINVAL;
            break;
        }
        memcpy(x->reply, p, rl);
        x->len = rl;
        p += rl;
        char **slot = &a->order[a->next];
        if (*slot != NULL) {
            alo_entry_free(cor_strmap_del(&a->seen, *slot));
            free(*slot);
        }
        *slot = strdup(key);
        void *old = NULL;
        if (*slot == NULL || cor_strmap_put(&a->seen, key, x, &old) != 0) {
            free(*slot);
            *slot = NULL;
            alo_entry_free(x);
            rc = COR_ENOMEM;
            break;
        }
        alo_entry_free(old);
        a->next = (a->next + 1) % a->window;
    }
    pthread_mutex_unlock(&a->lock);
    return rc;
}

static int alo_free_entry(void *arg, const char *key, void *value)
{
    alo_entry_free(value);
    return 0;
}

static void alo_server_free(void *state)
{
    alo_server_t *a = state;
    cor_strmap_each(&a->seen, alo_free_entry, NULL);
    cor_strmap_close(&a->seen);
    for (long i = 0; i < a->window; i++)
        free(a->order[i]);
    free(a->order);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

static const cor_dm_ops_t at_least_once = {
    .version = COR_DM_OPS_VERSION,
    .name = "AtLeastOnceRPC",
    .summary = "retries on transport failure; the server answers repeats from a table",
    .params = alo_params,
    .caps = COR_DM_CAP_RETRY | COR_DM_CAP_DEDUP,
    .exclusive = COR_DM_CAP_RETRY | COR_DM_CAP_DEDUP,
    .validate = alo_validate,
    .client_new = alo_client_new,
    .client_call = alo_client_call,
    .client_free = free,
    .server_new = alo_server_new,
    .server_call = alo_server_call,
    .server_free = alo_server_free,
    .server_save = alo_save,
    .server_load = alo_load,
    .server_save_dirty = alo_save_dirty,
    .server_apply_dirty = alo_load,
};

/* ---------------- LeaseCaching ---------------- */

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
    if (x != NULL && x->expires > now_ms() && x->req_len == len && memcmp(x->req, req, len) == 0) {
        int rc = cor_dm_call_set_reply(c, x->reply, x->reply_len);
        l->hits++;
        pthread_mutex_unlock(&l->lock);
        return rc;
    }
    l->misses++;
    pthread_mutex_unlock(&l->lock);
    long long started = now_ms();
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

static const cor_dm_ops_t lease_caching = {
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

/* ---------------- LoadBalancedFrontend ---------------- */

#define LBF_MAX 8

static const cor_dm_param_spec_t lbf_params[] = {
    {"replicas", "how many replicas, each on its own kernel server (2..8)", 1},
    {NULL, NULL, 0},
};

static int lbf_validate(const cor_dm_entry_t *e, cor_error_t *err)
{
    long v;
    return cor_dm_param_int(e, "replicas", 2, 1, LBF_MAX, &v, err);
}

static int lbf_replicas(const cor_dm_entry_t *e)
{
    long v = 2;
    cor_dm_param_int(e, "replicas", 2, 1, LBF_MAX, &v, NULL);
    return (int)v;
}

typedef struct lbf {
    pthread_mutex_t lock;
    cor_dm_replica_t reps[LBF_MAX];
    int n;
    long long fetched; /* ms; 0: never */
    unsigned next;
} lbf_t;

static int lbf_new(const cor_dm_entry_t *e, void **state, cor_error_t *err)
{
    lbf_t *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    pthread_mutex_init(&l->lock, NULL);
    *state = l;
    return 0;
}

/* Refreshes the replica list from the OMS when asked or older than 2 s. */
static int lbf_refresh(lbf_t *l, cor_dm_call_t *c, int force)
{
    pthread_mutex_lock(&l->lock);
    int fresh = !force && l->fetched != 0 && now_ms() - l->fetched < 2000;
    pthread_mutex_unlock(&l->lock);
    if (fresh)
        return 0;
    cor_dm_replica_t reps[LBF_MAX];
    int n = 0;
    int rc = cor_dm_call_replicas(c, reps, LBF_MAX, &n);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&l->lock);
    memcpy(l->reps, reps, sizeof(reps[0]) * (size_t)n);
    l->n = n;
    l->fetched = now_ms();
    pthread_mutex_unlock(&l->lock);
    return 0;
}

/* The next live replica after the last one used, skipping `avoid`. */
static int lbf_pick(lbf_t *l, const char *avoid, cor_dm_replica_t *out)
{
    pthread_mutex_lock(&l->lock);
    for (int k = 0; k < l->n; k++) {
        cor_dm_replica_t *r = &l->reps[(l->next + (unsigned)k) % (unsigned)l->n];
        if (r->alive && (avoid == NULL || strcmp(r->node, avoid) != 0)) {
            *out = *r;
            l->next = (l->next + (unsigned)k + 1) % (unsigned)l->n;
            pthread_mutex_unlock(&l->lock);
            return 1;
        }
    }
    pthread_mutex_unlock(&l->lock);
    return 0;
}

static void lbf_mark_dead(lbf_t *l, const char *node)
{
    pthread_mutex_lock(&l->lock);
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->reps[i].node, node) == 0)
            l->reps[i].alive = 0;
    pthread_mutex_unlock(&l->lock);
}

static int lbf_call(void *state, cor_dm_call_t *c)
{
    lbf_t *l = state;
    int rc = lbf_refresh(l, c, 0);
    if (rc != 0)
        return rc;
    cor_dm_replica_t r;
    if (!lbf_pick(l, NULL, &r)) {
        if ((rc = lbf_refresh(l, c, 1)) != 0)
            return rc;
        if (!lbf_pick(l, NULL, &r))
            return cor_dm_fail(c, COR_EUNAVAIL, "no live replica (of %d)", l->n);
    }
    cor_dm_call_route(c, &r);
    rc = cor_dm_next(c);
    if (!transport_failure(rc))
        return rc;
    /* That replica is gone. Another may answer, but resend only what is
     * safe to run twice: replicas are independent. */
    lbf_mark_dead(l, r.node);
    const cor_method_desc_t *m = cor_dm_call_method(c);
    if (!(m->hints & (COR_METHOD_READ_ONLY | COR_METHOD_IDEMPOTENT)))
        return rc;
    char failed[64];
    snprintf(failed, sizeof(failed), "%s", r.node);
    if (lbf_refresh(l, c, 1) != 0 || !lbf_pick(l, failed, &r))
        return rc;
    cor_dm_call_route(c, &r);
    return cor_dm_next(c);
}

static enum cor_dm_recovery lbf_on_failure(const cor_dm_entry_t *e)
{
    return COR_DM_RECOVER_FRESH; /* replicas are independent: a fresh one will do */
}

static void lbf_free(void *state)
{
    lbf_t *l = state;
    pthread_mutex_destroy(&l->lock);
    free(l);
}

static const cor_dm_ops_t load_balanced_frontend = {
    .version = COR_DM_OPS_VERSION,
    .name = "LoadBalancedFrontend",
    .summary = "N replicas on distinct kernel servers; callers round-robin over live ones",
    .params = lbf_params,
    .caps = COR_DM_CAP_REPLICAS,
    .exclusive = COR_DM_CAP_REPLICAS,
    .validate = lbf_validate,
    .replicas = lbf_replicas,
    .on_failure = lbf_on_failure,
    .client_new = lbf_new,
    .client_call = lbf_call,
    .client_free = lbf_free,
};

/* ---------------- PeriodicCheckpoint ---------------- */

static const cor_dm_param_spec_t ckpt_params[] = {
    {"interval", "most time between a change and its checkpoint (default 5s)", 0},
    {NULL, NULL, 0},
};

static int ckpt_validate(const cor_dm_entry_t *e, cor_error_t *err)
{
    long v;
    return cor_dm_param_duration(e, "interval", 5000, 100, 86400000, &v, err);
}

typedef struct ckpt {
    pthread_mutex_t lock;
    long interval_ms;
    long long last; /* when the last checkpoint was sent; 0: never */
    int dirty;      /* changed since then (a new replica counts as changed) */
} ckpt_t;

static int ckpt_new(const cor_dm_entry_t *e, void **state, cor_error_t *err)
{
    ckpt_t *k = calloc(1, sizeof(*k));
    if (k == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    cor_dm_param_duration(e, "interval", 5000, 100, 86400000, &k->interval_ms, NULL);
    k->dirty = 1;
    pthread_mutex_init(&k->lock, NULL);
    *state = k;
    return 0;
}

/* Takes a checkpoint if one is due. Caller holds k->lock. */
static void ckpt_maybe(ckpt_t *k, cor_dm_call_t *c)
{
    long long now = now_ms();
    if (!k->dirty || (k->last != 0 && now - k->last < k->interval_ms))
        return;
    if (cor_dm_call_checkpoint(c) == 0) {
        k->last = now;
        k->dirty = 0;
    }
}

static int ckpt_call(void *state, cor_dm_call_t *c)
{
    ckpt_t *k = state;
    int rc = cor_dm_next(c);
    if (rc == 0 && !(cor_dm_call_method(c)->hints & COR_METHOD_READ_ONLY)) {
        pthread_mutex_lock(&k->lock);
        k->dirty = 1;
        ckpt_maybe(k, c);
        pthread_mutex_unlock(&k->lock);
    }
    return rc;
}

static void ckpt_tick(void *state, cor_dm_call_t *c)
{
    ckpt_t *k = state;
    pthread_mutex_lock(&k->lock);
    ckpt_maybe(k, c);
    pthread_mutex_unlock(&k->lock);
}

static enum cor_dm_recovery ckpt_on_failure(const cor_dm_entry_t *e)
{
    return COR_DM_RECOVER_RESTORE;
}

static void ckpt_free(void *state)
{
    ckpt_t *k = state;
    pthread_mutex_destroy(&k->lock);
    free(k);
}

static const cor_dm_ops_t periodic_checkpoint = {
    .version = COR_DM_OPS_VERSION,
    .name = "PeriodicCheckpoint",
    .summary = "state checkpointed to the OMS; restored elsewhere when its kernel server dies",
    .params = ckpt_params,
    .caps = COR_DM_CAP_CHECKPOINT,
    .exclusive = COR_DM_CAP_CHECKPOINT | COR_DM_CAP_REPLICAS,
    .validate = ckpt_validate,
    .server_new = ckpt_new,
    .server_call = ckpt_call,
    .server_free = ckpt_free,
    .server_tick = ckpt_tick,
    .on_failure = ckpt_on_failure,
};

/* ---------------- Immutable ---------------- */

typedef struct immutable {
    pthread_mutex_t lock;
    int tried; /* a local replica was attempted (once per reference) */
} immutable_t;

static int imm_new(const cor_dm_entry_t *e, void **state, cor_error_t *err)
{
    immutable_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    pthread_mutex_init(&m->lock, NULL);
    *state = m;
    return 0;
}

static int imm_client_call(void *state, cor_dm_call_t *c)
{
    immutable_t *m = state;
    if (cor_dm_call_method(c)->hints & COR_METHOD_READ_ONLY) {
        pthread_mutex_lock(&m->lock);
        int first = !m->tried;
        m->tried = 1;
        pthread_mutex_unlock(&m->lock);
        /* The state never changes, so a copy here serves reads as well as
         * the original; if the class is not here, reads stay remote. */
        if (first)
            cor_dm_call_make_local(c);
    }
    return cor_dm_next(c); /* the call runs here when the replica is local */
}

static void imm_free(void *state)
{
    immutable_t *m = state;
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static int imm_server_call(void *state, cor_dm_call_t *c)
{
    const cor_method_desc_t *m = cor_dm_call_method(c);
    if (!(m->hints & COR_METHOD_READ_ONLY))
        return cor_dm_fail(c, COR_EPERM,
                           "the object is immutable and %s is not a read_only method", m->name);
    return cor_dm_next(c);
}

static const cor_dm_ops_t immutable = {
    .version = COR_DM_OPS_VERSION,
    .name = "Immutable",
    .summary = "frozen after creation; reads served from a replica in the caller's process",
    .caps = COR_DM_CAP_FROZEN,
    .exclusive = COR_DM_CAP_FROZEN,
    .client_new = imm_new,
    .client_call = imm_client_call,
    .client_free = imm_free,
    .server_call = imm_server_call,
};

/* ---------------- DynamicMigration ---------------- */

#define DYN_NODES 16

static const cor_dm_param_spec_t dyn_params[] = {
    {"window", "how long calls are counted before deciding (default 10s)", 0},
    {"min_calls", "calls from one node in a window before it can attract the object (default 50)", 0},
    {"residence", "least time an object stays after arriving (default 30s)", 0},
    {"budget", "most moves per minute (default 2)", 0},
    {NULL, NULL, 0},
};

static int dyn_validate(const cor_dm_entry_t *e, cor_error_t *err)
{
    long v;
    int rc = cor_dm_param_duration(e, "window", 10000, 100, 3600000, &v, err);
    if (rc == 0)
        rc = cor_dm_param_int(e, "min_calls", 50, 1, 100000000, &v, err);
    if (rc == 0)
        rc = cor_dm_param_duration(e, "residence", 30000, 0, 86400000, &v, err);
    if (rc == 0)
        rc = cor_dm_param_int(e, "budget", 2, 1, 600, &v, err);
    return rc;
}

typedef struct dyn {
    pthread_mutex_t lock;
    long window_ms, min_calls, residence_ms, budget;
    long long window_start, arrived;
    struct {
        char node[64];
        long calls;
    } from[DYN_NODES];
    int n_from;
    long here, unknown; /* calls from this node, and from plain clients */
    long long moves[8]; /* wall clock ms of recent moves (ring); saved and loaded */
    int n_moves;
} dyn_t;

static long long wall_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int dyn_new(const cor_dm_entry_t *e, void **state, cor_error_t *err)
{
    dyn_t *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    cor_dm_param_duration(e, "window", 10000, 100, 3600000, &d->window_ms, NULL);
    cor_dm_param_int(e, "min_calls", 50, 1, 100000000, &d->min_calls, NULL);
    cor_dm_param_duration(e, "residence", 30000, 0, 86400000, &d->residence_ms, NULL);
    cor_dm_param_int(e, "budget", 2, 1, 600, &d->budget, NULL);
    d->window_start = d->arrived = now_ms();
    pthread_mutex_init(&d->lock, NULL);
    *state = d;
    return 0;
}

static int dyn_call(void *state, cor_dm_call_t *c)
{
    dyn_t *d = state;
    int rc = cor_dm_next(c);
    const char *from = cor_dm_call_caller_node(c), *self = cor_dm_call_node(c);
    pthread_mutex_lock(&d->lock);
    if (from[0] == '\0') {
        d->unknown++;
    } else if (strcmp(from, self) == 0) {
        d->here++;
    } else {
        int i = 0;
        while (i < d->n_from && strcmp(d->from[i].node, from) != 0)
            i++;
        if (i == d->n_from && d->n_from < DYN_NODES)
            snprintf(d->from[d->n_from++].node, sizeof(d->from[0].node), "%s", from);
        if (i < d->n_from)
            d->from[i].calls++;
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

/* At the end of each window: move toward the node that called most, if it
 * called at least min_calls times and more than twice everyone else
 * together (hysteresis), the object has stayed its residence time, and the
 * budget of moves in the last minute allows. */
static void dyn_tick(void *state, cor_dm_call_t *c)
{
    dyn_t *d = state;
    pthread_mutex_lock(&d->lock);
    long long now = now_ms();
    if (now - d->window_start < d->window_ms) {
        pthread_mutex_unlock(&d->lock);
        return;
    }
    int best = -1;
    long total = d->here + d->unknown;
    for (int i = 0; i < d->n_from; i++) {
        total += d->from[i].calls;
        if (best < 0 || d->from[i].calls > d->from[best].calls)
            best = i;
    }
    char target[64] = "";
    if (best >= 0) {
        long top = d->from[best].calls, rest = total - top;
        long long wall = wall_now_ms();
        int recent = 0;
        for (int i = 0; i < d->n_moves && i < 8; i++)
            recent += wall - d->moves[i] < 60000;
        if (top >= d->min_calls && top > 2 * rest && now - d->arrived >= d->residence_ms &&
            recent < d->budget) {
            snprintf(target, sizeof(target), "%s", d->from[best].node);
            d->moves[d->n_moves++ % 8] = wall;
        }
    }
    d->n_from = 0;
    d->here = d->unknown = 0;
    d->window_start = now;
    pthread_mutex_unlock(&d->lock);
    if (target[0] != '\0' && cor_dm_call_request_move(c, target) == 0)
        cor_log_info("object %s: most calls come from %s: moving there", cor_dm_call_object(c),
                     target);
}

/* The move history travels with the object, so the budget holds across
 * moves; the residence time starts anew where it arrives. */
static int dyn_save(void *state, unsigned char **buf, size_t *len)
{
    dyn_t *d = state;
    pthread_mutex_lock(&d->lock);
    size_t n = sizeof(d->moves) + sizeof(int);
    unsigned char *b = malloc(n);
    if (b != NULL) {
        memcpy(b, &d->n_moves, sizeof(int));
        memcpy(b + sizeof(int), d->moves, sizeof(d->moves));
    }
    pthread_mutex_unlock(&d->lock);
    if (b == NULL)
        return COR_ENOMEM;
    *buf = b;
    *len = n;
    return 0;
}

static int dyn_load(void *state, const unsigned char *buf, size_t len)
{
    dyn_t *d = state;
    if (len != sizeof(d->moves) + sizeof(int))
        return COR_EINVAL;
    pthread_mutex_lock(&d->lock);
    memcpy(&d->n_moves, buf, sizeof(int));
    memcpy(d->moves, buf + sizeof(int), sizeof(d->moves));
    if (d->n_moves < 0)
        d->n_moves = 0;
    pthread_mutex_unlock(&d->lock);
    return 0;
}

static void dyn_free(void *state)
{
    dyn_t *d = state;
    pthread_mutex_destroy(&d->lock);
    free(d);
}

static const cor_dm_ops_t dynamic_migration = {
    .version = COR_DM_OPS_VERSION,
    .name = "DynamicMigration",
    .summary = "moves the object toward the kernel server that calls it most",
    .params = dyn_params,
    .caps = COR_DM_CAP_APP_MIGRATE,
    .validate = dyn_validate,
    .server_new = dyn_new,
    .server_call = dyn_call,
    .server_free = dyn_free,
    .server_tick = dyn_tick,
    .server_save = dyn_save,
    .server_load = dyn_load,
};

/* ---------------- ExplicitMigration ---------------- */

/* No call parts: it grants the application (cor_migrate) the right to move
 * the object, which the OMS checks. */
static const cor_dm_ops_t explicit_migration = {
    .version = COR_DM_OPS_VERSION,
    .name = "ExplicitMigration",
    .summary = "the application may move the object itself (cor_migrate)",
    .caps = COR_DM_CAP_APP_MIGRATE,
};

void cor_dm_register_builtins(void);
void cor_dm_register_builtins(void)
{
    static const cor_dm_ops_t *const all[] = {&keep_in_region, &keep_on_device, &circuit_breaker,
                                              &serializable_rpc, &at_least_once, &lease_caching,
                                              &load_balanced_frontend, &periodic_checkpoint,
                                              &immutable, &explicit_migration,
                                              &dynamic_migration};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        cor_dm_register(all[i], NULL);
}
