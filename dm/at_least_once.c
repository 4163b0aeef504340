/*
 * at_least_once.c — AtLeastOnceRPC(retries, backoff, window): the client
 * part resends a call after a transport failure, with the same call id;
 * the server part answers a repeat from a table of outcomes instead of
 * running it again, so a retried call has one effect
 * (docs/dms/AtLeastOnceRPC.md).
 *
 * The table moves with the object: server_save writes it whole (oldest
 * first, so eviction order survives), and for a live migration's pre-copy
 * server_save_dirty writes only the entries added since its last call.
 */
#include "builtins.h"

#include <cor/object.h>

#include <pthread.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cor/strmap.h>

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
        if (!cor_dm_transport_failure(rc) || attempt >= a->retries)
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
    if (!cor_dm_transport_failure(rc)) {
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

const cor_dm_ops_t cor_dm_at_least_once = {
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
