/*
 * kv_class.c — implementation of the KeyValueStore class.
 *
 * Design: the map is a sorted array of entries (key, value, version) with
 * binary search. Lookups are O(log n); Put of a new key and Delete move the
 * tail of the array (O(n) memmove), which is cheap for the sizes an example
 * object holds and keeps Scan trivial: find the first key >= the start
 * point, then walk forward while keys carry the prefix.
 *
 * Calls into one object run one at a time (the class is not
 * COR_CLASS_CONCURRENT), so the map needs no lock, and replies point
 * straight into it: nothing can change it before the runtime has packed
 * the reply. Keys are compared as unsigned bytes (strcmp), so Scan order is
 * byte order, which for UTF-8 is code point order.
 *
 * Failure modes: a request beyond a limit (kv_class.h) is refused with
 * COR_EINVAL before anything changes; out of memory is COR_ENOMEM and
 * also leaves the map as it was (new memory is allocated before old is
 * released); a Put that would take a store with max_keys past its limit is
 * COR_ETOOBIG.
 */
#include "kv_class.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv.cor.h"

typedef struct kv_entry {
    char *key; /* NUL-terminated, 1..KV_MAX_KEY_BYTES bytes */
    size_t klen;
    uint8_t *value; /* malloc'd, never NULL (1 byte for an empty value) */
    size_t vlen;
    uint64_t version;
} kv_entry_t;

struct kv_store {
    kv_entry_t *e; /* sorted by key, ascending */
    size_t n, cap;
    uint64_t revision; /* last version handed out */
    uint32_t max_keys; /* 0: unlimited */
};

/* ------------------------------------------------------------------ */
/* the map                                                             */

static kv_store_t *store_new(uint32_t max_keys)
{
    kv_store_t *s = calloc(1, sizeof(*s));
    if (s != NULL)
        s->max_keys = max_keys;
    return s;
}

void kv_store_free(kv_store_t *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->e[i].key);
        free(s->e[i].value);
    }
    free(s->e);
    free(s);
}

/* Index of the first entry whose key is >= key (s->n if none). */
static size_t lower_bound(const kv_store_t *s, const char *key)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(s->e[mid].key, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The entry for key, or NULL; *pos is where it is or would go. */
static kv_entry_t *find(const kv_store_t *s, const char *key, size_t *pos)
{
    size_t i = lower_bound(s, key);
    if (pos != NULL)
        *pos = i;
    return (i < s->n && strcmp(s->e[i].key, key) == 0) ? &s->e[i] : NULL;
}

static uint8_t *copy_bytes(const uint8_t *p, size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    if (b != NULL && n > 0)
        memcpy(b, p, n);
    return b;
}

/* Makes room for one more entry. 0 or COR_ENOMEM. */
static int reserve_one(kv_store_t *s)
{
    if (s->n < s->cap)
        return 0;
    size_t cap = s->cap ? s->cap * 2 : 16;
    kv_entry_t *e = realloc(s->e, cap * sizeof(*e));
    if (e == NULL)
        return COR_ENOMEM;
    s->e = e;
    s->cap = cap;
    return 0;
}

/* Checks a key against the limits. 0 or COR_EINVAL with err set. */
static int check_key(const char *what, const char *key, cor_error_t *err)
{
    size_t n = key != NULL ? strlen(key) : 0;
    if (n == 0)
        return cor_error_set(err, COR_EINVAL, "%s is empty", what);
    if (n > KV_MAX_KEY_BYTES)
        return cor_error_set(err, COR_EINVAL, "%s is %zu bytes, over the %u-byte key limit",
                             what, n, KV_MAX_KEY_BYTES);
    return 0;
}

static int check_value(size_t len, cor_error_t *err)
{
    if (len > KV_MAX_VALUE_BYTES)
        return cor_error_set(err, COR_EINVAL, "value is %zu bytes, over the %u-byte (1 MiB) limit",
                             len, KV_MAX_VALUE_BYTES);
    return 0;
}

/* ------------------------------------------------------------------ */
/* methods                                                             */

/* Reports a limit failure recorded in e through the call context. */
static int ctx_fail(cor_ctx_t *ctx, const cor_error_t *e)
{
    return cor_ctx_error(ctx, e->code, "%s", e->msg);
}

static int kv_put(void *self, cor_ctx_t *ctx, const Kv__PutRequest *req, Kv__PutReply *reply)
{
    kv_store_t *s = self;
    cor_error_t e;
    if (check_key("key", req->key, &e) != 0 || check_value(req->value.len, &e) != 0)
        return ctx_fail(ctx, &e);
    size_t pos;
    kv_entry_t *old = find(s, req->key, &pos);
    if (old == NULL && s->max_keys != 0 && s->n >= s->max_keys)
        return cor_ctx_error(ctx, COR_ETOOBIG, "store is full: it holds max_keys=%u keys",
                             s->max_keys);
    uint8_t *v = copy_bytes(req->value.data, req->value.len);
    if (v == NULL)
        return cor_ctx_error(ctx, COR_ENOMEM, "out of memory storing a %zu-byte value",
                             req->value.len);
    if (old != NULL) {
        reply->replaced = 1;
        reply->previous_version = old->version;
        free(old->value);
        old->value = v;
        old->vlen = req->value.len;
        old->version = ++s->revision;
        reply->version = old->version;
        return 0;
    }
    char *k = strdup(req->key);
    if (k == NULL || reserve_one(s) != 0) {
        free(k);
        free(v);
        return cor_ctx_error(ctx, COR_ENOMEM, "out of memory adding a key");
    }
    memmove(&s->e[pos + 1], &s->e[pos], (s->n - pos) * sizeof(s->e[0]));
    s->e[pos] = (kv_entry_t){.key = k, .klen = strlen(k), .value = v, .vlen = req->value.len,
                             .version = ++s->revision};
    s->n++;
    reply->version = s->e[pos].version;
    return 0;
}

static int kv_get(void *self, cor_ctx_t *ctx, const Kv__GetRequest *req, Kv__GetReply *reply)
{
    kv_store_t *s = self;
    cor_error_t e;
    if (check_key("key", req->key, &e) != 0)
        return ctx_fail(ctx, &e);
    const kv_entry_t *x = find(s, req->key, NULL);
    if (x != NULL) {
        /* Points into the map: unchanged until the reply is packed. */
        reply->found = 1;
        reply->value.data = x->value;
        reply->value.len = x->vlen;
        reply->version = x->version;
    }
    return 0;
}

static int kv_delete(void *self, cor_ctx_t *ctx, const Kv__DeleteRequest *req,
                     Kv__DeleteReply *reply)
{
    kv_store_t *s = self;
    cor_error_t e;
    if (check_key("key", req->key, &e) != 0)
        return ctx_fail(ctx, &e);
    size_t pos;
    kv_entry_t *x = find(s, req->key, &pos);
    if (x == NULL)
        return 0;
    free(x->key);
    free(x->value);
    memmove(&s->e[pos], &s->e[pos + 1], (s->n - pos - 1) * sizeof(s->e[0]));
    s->n--;
    s->revision++;
    reply->deleted = 1;
    return 0;
}

static int kv_scan(void *self, cor_ctx_t *ctx, const Kv__ScanRequest *req, Kv__ScanReply *reply)
{
    kv_store_t *s = self;
    const char *prefix = req->prefix != NULL ? req->prefix : "";
    const char *after = req->start_after != NULL ? req->start_after : "";
    size_t plen = strlen(prefix);
    if (plen > KV_MAX_KEY_BYTES)
        return cor_ctx_error(ctx, COR_EINVAL, "prefix is %zu bytes, over the %u-byte key limit",
                             plen, KV_MAX_KEY_BYTES);
    if (strlen(after) > KV_MAX_KEY_BYTES)
        return cor_ctx_error(ctx, COR_EINVAL,
                             "start_after is %zu bytes, over the %u-byte key limit",
                             strlen(after), KV_MAX_KEY_BYTES);
    if (req->limit > KV_MAX_SCAN_LIMIT)
        return cor_ctx_error(ctx, COR_EINVAL, "scan limit %u is over the maximum of %u",
                             req->limit, KV_MAX_SCAN_LIMIT);
    size_t limit = req->limit ? req->limit : KV_DEFAULT_SCAN_LIMIT;

    /* Start at the first key >= prefix, or just past start_after when that
     * comes later. */
    size_t i = lower_bound(s, prefix);
    if (after[0] != '\0' && strcmp(after, prefix) >= 0) {
        size_t j = lower_bound(s, after);
        if (j < s->n && strcmp(s->e[j].key, after) == 0)
            j++;
        if (j > i)
            i = j;
    }
    /* Count the page first, so the reply arrays are allocated once. */
    size_t end = i, bytes = 0;
    while (end < s->n && end - i < limit && strncmp(s->e[end].key, prefix, plen) == 0) {
        size_t b = s->e[end].klen + s->e[end].vlen;
        if (end > i && bytes + b > KV_SCAN_MAX_REPLY_BYTES)
            break;
        bytes += b;
        end++;
    }
    size_t n = end - i;
    reply->more = end < s->n && strncmp(s->e[end].key, prefix, plen) == 0;
    if (n == 0)
        return 0;
    Kv__Entry **ptrs = cor_ctx_alloc(ctx, n * sizeof(*ptrs));
    Kv__Entry *ents = cor_ctx_alloc(ctx, n * sizeof(*ents));
    if (ptrs == NULL || ents == NULL)
        return cor_ctx_error(ctx, COR_ENOMEM, "out of memory building a %zu-entry scan reply", n);
    for (size_t k = 0; k < n; k++) {
        const kv_entry_t *x = &s->e[i + k];
        kv__entry__init(&ents[k]);
        ents[k].key = x->key; /* into the map, as in Get */
        ents[k].value.data = x->value;
        ents[k].value.len = x->vlen;
        ents[k].version = x->version;
        ptrs[k] = &ents[k];
    }
    reply->entries = ptrs;
    reply->n_entries = n;
    return 0;
}

static int kv_size(void *self, cor_ctx_t *ctx, const Kv__SizeRequest *req, Kv__SizeReply *reply)
{
    kv_store_t *s = self;
    reply->count = s->n;
    reply->revision = s->revision;
    return 0;
}

/* ------------------------------------------------------------------ */
/* state                                                               */

int kv_state_pack(const kv_store_t *s, uint8_t **buf, size_t *len, cor_error_t *err)
{
    int rv = 0;
    Kv__KvState st = KV__KV_STATE__INIT;
    Kv__Entry *ents = NULL;
    Kv__Entry **ptrs = NULL;
    if (s->n > 0) {
        ents = calloc(s->n, sizeof(*ents));
        ptrs = calloc(s->n, sizeof(*ptrs));
        if (ents == NULL || ptrs == NULL) {
            rv = cor_error_set(err, COR_ENOMEM, "out of memory saving %zu keys", s->n);
            goto out;
        }
    }
    for (size_t i = 0; i < s->n; i++) {
        kv__entry__init(&ents[i]);
        ents[i].key = s->e[i].key;
        ents[i].value.data = s->e[i].value;
        ents[i].value.len = s->e[i].vlen;
        ents[i].version = s->e[i].version;
        ptrs[i] = &ents[i];
    }
    st.entries = ptrs;
    st.n_entries = s->n;
    st.revision = s->revision;
    st.max_keys = s->max_keys;
    size_t n = kv__kv_state__get_packed_size(&st);
    uint8_t *b = malloc(n ? n : 1);
    if (b == NULL) {
        rv = cor_error_set(err, COR_ENOMEM, "out of memory saving %zu bytes of state", n);
        goto out;
    }
    kv__kv_state__pack(&st, b);
    *buf = b;
    *len = n;
out:
    free(ptrs);
    free(ents);
    return rv;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const kv_entry_t *)a)->key, ((const kv_entry_t *)b)->key);
}

int kv_state_unpack(const uint8_t *buf, size_t len, kv_store_t **out, cor_error_t *err)
{
    int rv = 0;
    kv_store_t *s = NULL;
    Kv__KvState *st = kv__kv_state__unpack(NULL, len, buf);
    if (st == NULL)
        return cor_error_set(err, COR_EINVAL, "saved state is not a kv.KvState");
    if (st->max_keys != 0 && st->n_entries > st->max_keys) {
        rv = cor_error_set(err, COR_EINVAL, "saved state holds %zu keys, over its max_keys=%u",
                           st->n_entries, st->max_keys);
        goto fail;
    }
    s = store_new(st->max_keys);
    if (s == NULL || (st->n_entries > 0 && (s->e = calloc(st->n_entries, sizeof(*s->e))) == NULL)) {
        rv = cor_error_set(err, COR_ENOMEM, "out of memory loading %zu keys", st->n_entries);
        goto fail;
    }
    s->cap = st->n_entries;
    s->revision = st->revision;
    for (size_t i = 0; i < st->n_entries; i++) {
        const Kv__Entry *x = st->entries[i];
        char what[48];
        snprintf(what, sizeof(what), "saved entry %zu's key", i);
        if ((rv = check_key(what, x->key, err)) != 0 || (rv = check_value(x->value.len, err)) != 0)
            goto fail;
        if (x->version == 0 || x->version > st->revision) {
            rv = cor_error_set(err, COR_EINVAL,
                               "saved entry %zu has version %llu, outside 1..revision %llu", i,
                               (unsigned long long)x->version, (unsigned long long)st->revision);
            goto fail;
        }
        kv_entry_t *e = &s->e[i];
        e->key = strdup(x->key);
        e->value = copy_bytes(x->value.data, x->value.len);
        s->n++; /* owns what it got, freed on failure */
        if (e->key == NULL || e->value == NULL) {
            rv = cor_error_set(err, COR_ENOMEM, "out of memory loading key %zu", i);
            goto fail;
        }
        e->klen = strlen(e->key);
        e->vlen = x->value.len;
        e->version = x->version;
    }
    /* save_state writes keys in order; sort anyway, then refuse repeats. */
    if (s->n > 1)
        qsort(s->e, s->n, sizeof(s->e[0]), cmp_entry);
    for (size_t i = 1; i < s->n; i++)
        if (strcmp(s->e[i - 1].key, s->e[i].key) == 0) {
            rv = cor_error_set(err, COR_EINVAL, "saved state holds key '%.64s' twice",
                               s->e[i].key);
            goto fail;
        }
    kv__kv_state__free_unpacked(st, NULL);
    *out = s;
    return 0;
fail:
    kv_store_free(s);
    kv__kv_state__free_unpacked(st, NULL);
    return rv;
}

/* ------------------------------------------------------------------ */
/* lifecycle                                                           */

static int kv_create(cor_ctx_t *ctx, const uint8_t *args, size_t args_len, void **self)
{
    uint32_t max_keys = 0;
    if (args_len > 0) {
        Kv__KvArgs *a = kv__kv_args__unpack(NULL, args_len, args);
        if (a == NULL)
            return cor_ctx_error(ctx, COR_EINVAL, "constructor arguments are not a kv.KvArgs");
        max_keys = a->max_keys;
        kv__kv_args__free_unpacked(a, NULL);
    }
    kv_store_t *s = store_new(max_keys);
    if (s == NULL)
        return cor_ctx_error(ctx, COR_ENOMEM, "out of memory");
    *self = s;
    return 0;
}

static void kv_destroy(void *self)
{
    kv_store_free(self);
}

static int kv_save(void *self, cor_ctx_t *ctx, uint8_t **buf, size_t *len)
{
    cor_error_t e;
    return kv_state_pack(self, buf, len, &e) != 0 ? ctx_fail(ctx, &e) : 0;
}

static int kv_load(cor_ctx_t *ctx, const uint8_t *buf, size_t len, void **self)
{
    cor_error_t e;
    kv_store_t *s = NULL;
    if (kv_state_unpack(buf, len, &s, &e) != 0)
        return ctx_fail(ctx, &e);
    *self = s;
    return 0;
}

static const kv_key_value_store_ops_t kv_ops = {
    .put = kv_put,
    .get = kv_get,
    .delete_ = kv_delete,
    .scan = kv_scan,
    .size = kv_size,
};

const cor_class_t kv_class = {
    .version = COR_CLASS_VERSION,
    .name = "kv.KeyValueStore",
    .service = &kv_key_value_store_service,
    .ops = &kv_ops,
    .flags = 0,
    .create = kv_create,
    .destroy = kv_destroy,
    .save_state = kv_save,
    .load_state = kv_load,
};
