/*
 * store_embedded.c — the OMS's embedded store: a hash map in memory and an
 * append-only log on disk.
 *
 * Log format (little-endian), one record per apply() batch:
 *   u32 body_len | u32 crc32(body) | body
 *   body = u32 n_ops, then per op: u8 kind (1 put, 2 del), u32 key_len,
 *          key, [u32 value_len, value]  (value only for put)
 * A batch is one record, so replay applies it whole or not at all. At open
 * the log is replayed; the first record that is short or fails its CRC ends
 * the replay and the file is truncated there (a write torn by a crash).
 *
 * Compaction: when the log is more than 4x the live data (and over 1 MiB),
 * the live map is written as one record per key to store.log.tmp, synced,
 * and renamed over store.log (the directory is synced too).
 *
 * crc32 comes from zlib, already on every machine that has gRPC.
 */
#include "store.h"

#include <cor/strmap.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define MAX_RECORD (256u * 1024 * 1024)

typedef struct value {
    uint8_t *data;
    size_t len;
} value_t;

typedef struct emb {
    pthread_mutex_t lock;
    char *dir;
    char *path;
    int fd;
    int sync;
    cor_strmap_t map;  /* key -> value_t* */
    size_t live_bytes; /* sum of key+value sizes */
    size_t log_bytes;
} emb_t;

/* Applies one op to memory. Values are copied. */
static int mem_apply(emb_t *e, int kind, const char *key, const uint8_t *v, size_t len)
{
    if (kind == COR_STORE_DEL) {
        value_t *x = cor_strmap_del(&e->map, key);
        if (x != NULL) {
            e->live_bytes -= strlen(key) + x->len;
            free(x->data);
            free(x);
        }
        return 0;
    }
    value_t *x = malloc(sizeof(*x));
    uint8_t *copy = malloc(len ? len : 1);
    if (x == NULL || copy == NULL) {
        free(x);
        free(copy);
        return COR_ENOMEM;
    }
    memcpy(copy, v, len);
    x->data = copy;
    x->len = len;
    void *old = NULL;
    if (cor_strmap_put(&e->map, key, x, &old) != 0) {
        free(copy);
        free(x);
        return COR_ENOMEM;
    }
    if (old != NULL) {
        value_t *o = old;
        e->live_bytes -= o->len;
        free(o->data);
        free(o);
        e->live_bytes += len;
    } else {
        e->live_bytes += strlen(key) + len;
    }
    return 0;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Encodes ops as one record (header included); malloc'd. */
static uint8_t *encode(const cor_store_op_t *ops, size_t n, size_t *out_len)
{
    size_t body = 4;
    for (size_t i = 0; i < n; i++) {
        body += 1 + 4 + strlen(ops[i].key);
        if (ops[i].kind == COR_STORE_PUT)
            body += 4 + ops[i].len;
    }
    if (body > MAX_RECORD)
        return NULL;
    uint8_t *r = malloc(8 + body);
    if (r == NULL)
        return NULL;
    uint8_t *p = r + 8;
    put32(p, (uint32_t)n);
    p += 4;
    for (size_t i = 0; i < n; i++) {
        size_t kl = strlen(ops[i].key);
        *p++ = ops[i].kind == COR_STORE_PUT ? 1 : 2;
        put32(p, (uint32_t)kl);
        memcpy(p + 4, ops[i].key, kl);
        p += 4 + kl;
        if (ops[i].kind == COR_STORE_PUT) {
            put32(p, (uint32_t)ops[i].len);
            if (ops[i].len)
                memcpy(p + 4, ops[i].value, ops[i].len);
            p += 4 + ops[i].len;
        }
    }
    put32(r, (uint32_t)body);
    put32(r + 4, (uint32_t)crc32(0L, r + 8, (uInt)body));
    *out_len = 8 + body;
    return r;
}

/* Replays one record body into memory. Returns 0, or -1 if malformed. */
static int replay_body(emb_t *e, const uint8_t *b, size_t len)
{
    if (len < 4)
        return -1;
    uint32_t n = get32(b);
    size_t off = 4;
    for (uint32_t i = 0; i < n; i++) {
        if (off + 5 > len)
            return -1;
        int kind = b[off];
        uint32_t kl = get32(b + off + 1);
        off += 5;
        if ((kind != 1 && kind != 2) || kl > len - off || kl == 0)
            return -1;
        char *key = malloc(kl + 1);
        if (key == NULL)
            return -1;
        memcpy(key, b + off, kl);
        key[kl] = '\0';
        off += kl;
        const uint8_t *v = NULL;
        uint32_t vl = 0;
        if (kind == 1) {
            if (off + 4 > len) {
                free(key);
                return -1;
            }
            vl = get32(b + off);
            off += 4;
            if (vl > len - off) {
                free(key);
                return -1;
            }
            v = b + off;
            off += vl;
        }
        int rc = mem_apply(e, kind == 1 ? COR_STORE_PUT : COR_STORE_DEL, key, v, vl);
        free(key);
        if (rc != 0)
            return -1;
    }
    return off == len ? 0 : -1;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

struct compact_ctx {
    int fd;
    size_t total;
    int failed;
};

static int compact_one(void *arg, const char *key, void *value)
{
    struct compact_ctx *cc = arg;
    value_t *x = value;
    cor_store_op_t op = {COR_STORE_PUT, key, x->data, x->len};
    size_t len;
    uint8_t *r = encode(&op, 1, &len);
    if (r == NULL || write_all(cc->fd, r, len) != 0) {
        free(r);
        cc->failed = 1;
        return 1;
    }
    free(r);
    cc->total += len;
    return 0;
}

/* Rewrites the log as the live map. Called with the lock held. */
static int compact(emb_t *e, cor_error_t *err)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", e->path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return cor_error_set(err, COR_EINTERNAL, "compacting: cannot create %s: %s", tmp,
                             strerror(errno));
    struct compact_ctx cc = {.fd = fd, .total = 0, .failed = 0};
    cor_strmap_each(&e->map, compact_one, &cc);
    if (cc.failed) {
        close(fd);
        unlink(tmp);
        return cor_error_set(err, COR_EINTERNAL, "compacting: write failed");
    }
    size_t total = cc.total;
    if (fdatasync(fd) != 0 || rename(tmp, e->path) != 0) {
        close(fd);
        unlink(tmp);
        return cor_error_set(err, COR_EINTERNAL, "compacting: %s", strerror(errno));
    }
    sync_dir(e->dir);
    close(e->fd);
    e->fd = fd;
    e->log_bytes = total;
    return 0;
}

static int emb_apply(void *impl, const cor_store_op_t *ops, size_t n, cor_error_t *err)
{
    emb_t *e = impl;
    for (size_t i = 0; i < n; i++)
        if (ops[i].key == NULL || ops[i].key[0] == '\0')
            return cor_error_set(err, COR_EINVAL, "store op %zu has an empty key", i);
    size_t len;
    uint8_t *r = encode(ops, n, &len);
    if (r == NULL)
        return cor_error_set(err, COR_ETOOBIG, "store batch is over %u bytes or out of memory",
                             MAX_RECORD);
    pthread_mutex_lock(&e->lock);
    int rc = 0;
    if (write_all(e->fd, r, len) != 0) {
        rc = cor_error_set(err, COR_EINTERNAL, "writing %s: %s", e->path, strerror(errno));
        /* Cut off whatever part of the record made it to the file. */
        if (ftruncate(e->fd, (off_t)e->log_bytes) == 0)
            lseek(e->fd, 0, SEEK_END);
        goto out;
    }
    if (e->sync && fdatasync(e->fd) != 0) {
        rc = cor_error_set(err, COR_EINTERNAL, "syncing %s: %s", e->path, strerror(errno));
        goto out;
    }
    e->log_bytes += len;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (mem_apply(e, ops[i].kind, ops[i].key, ops[i].value, ops[i].len) != 0)
            rc = cor_error_set(err, COR_ENOMEM, "out of memory");
    if (rc == 0 && e->log_bytes > 1024 * 1024 && e->log_bytes > 4 * e->live_bytes) {
        cor_error_t cerr;
        if (compact(e, &cerr) != 0)
            fprintf(stderr, "store: %s (the log keeps growing)\n", cerr.msg);
    }
out:
    pthread_mutex_unlock(&e->lock);
    free(r);
    return rc;
}

static int emb_get(void *impl, const char *key, uint8_t **value, size_t *len, cor_error_t *err)
{
    emb_t *e = impl;
    pthread_mutex_lock(&e->lock);
    value_t *x = cor_strmap_get(&e->map, key);
    int rc = 0;
    if (x == NULL) {
        rc = cor_error_set(err, COR_ENOTFOUND, "no key %s", key);
    } else {
        *value = malloc(x->len ? x->len : 1);
        if (*value == NULL) {
            rc = cor_error_set(err, COR_ENOMEM, "out of memory");
        } else {
            memcpy(*value, x->data, x->len);
            *len = x->len;
        }
    }
    pthread_mutex_unlock(&e->lock);
    return rc;
}

struct scan_ctx {
    const char *prefix;
    size_t plen;
    cor_store_scan_cb fn;
    void *arg;
};

static int scan_one(void *arg, const char *key, void *value)
{
    struct scan_ctx *sc = arg;
    value_t *x = value;
    if (strncmp(key, sc->prefix, sc->plen) != 0)
        return 0;
    return sc->fn(sc->arg, key, x->data, x->len);
}

static int emb_scan(void *impl, const char *prefix, cor_store_scan_cb fn, void *arg,
                    cor_error_t *err)
{
    emb_t *e = impl;
    struct scan_ctx sc = {prefix, strlen(prefix), fn, arg};
    pthread_mutex_lock(&e->lock);
    cor_strmap_each(&e->map, scan_one, &sc);
    pthread_mutex_unlock(&e->lock);
    return 0;
}

static int free_value(void *arg, const char *key, void *value)
{
    value_t *x = value;
    free(x->data);
    free(x);
    return 0;
}

static void emb_close(void *impl)
{
    emb_t *e = impl;
    if (e->map.buckets != NULL) {
        cor_strmap_each(&e->map, free_value, NULL);
        cor_strmap_close(&e->map);
    }
    if (e->fd >= 0)
        close(e->fd);
    free(e->path);
    free(e->dir);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

static const cor_store_ops_t embedded_ops = {
    .version = COR_STORE_OPS_VERSION,
    .name = "embedded",
    .apply = emb_apply,
    .get = emb_get,
    .scan = emb_scan,
    .close = emb_close,
};

/* Replays the log; truncates a torn tail. */
static int replay(emb_t *e, cor_error_t *err)
{
    struct stat st;
    if (fstat(e->fd, &st) != 0)
        return cor_error_set(err, COR_EINTERNAL, "stat %s: %s", e->path, strerror(errno));
    size_t size = (size_t)st.st_size, off = 0;
    uint8_t hdr[8];
    while (off + 8 <= size) {
        if (pread(e->fd, hdr, 8, (off_t)off) != 8)
            break;
        uint32_t body = get32(hdr), crc = get32(hdr + 4);
        if (body > MAX_RECORD || off + 8 + body > size)
            break;
        uint8_t *b = malloc(body ? body : 1);
        if (b == NULL)
            return cor_error_set(err, COR_ENOMEM, "out of memory replaying %s", e->path);
        if (pread(e->fd, b, body, (off_t)(off + 8)) != (ssize_t)body ||
            (uint32_t)crc32(0L, b, body) != crc || replay_body(e, b, body) != 0) {
            free(b);
            break;
        }
        free(b);
        off += 8 + body;
    }
    if (off != size) {
        fprintf(stderr, "store: %s: dropping %zu bytes of torn or corrupt tail at offset %zu\n",
                e->path, size - off, off);
        if (ftruncate(e->fd, (off_t)off) != 0)
            return cor_error_set(err, COR_EINTERNAL, "truncating %s: %s", e->path, strerror(errno));
    }
    e->log_bytes = off;
    lseek(e->fd, 0, SEEK_END);
    return 0;
}

int cor_store_open_embedded(const char *dir, int sync, cor_store_t *out, cor_error_t *err)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return cor_error_set(err, COR_EINVAL, "cannot create data directory %s: %s", dir,
                             strerror(errno));
    emb_t *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    pthread_mutex_init(&e->lock, NULL);
    e->fd = -1;
    e->sync = sync;
    int mrc = cor_strmap_init(&e->map);
    e->dir = strdup(dir);
    size_t pl = strlen(dir) + sizeof("/store.log");
    e->path = malloc(pl);
    if (mrc != 0 || e->dir == NULL || e->path == NULL) {
        emb_close(e);
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    }
    snprintf(e->path, pl, "%s/store.log", dir);
    e->fd = open(e->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (e->fd < 0) {
        int rc = cor_error_set(err, COR_EINVAL, "cannot open %s: %s", e->path, strerror(errno));
        emb_close(e);
        return rc;
    }
    int rc = replay(e, err);
    if (rc != 0) {
        emb_close(e);
        return rc;
    }
    out->ops = &embedded_ops;
    out->impl = e;
    return 0;
}
