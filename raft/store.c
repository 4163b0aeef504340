/*
 * raft/store.c — a Raft replica's durable state in one directory (see
 * store.h for the files and the promises).
 *
 * Record layout, all little-endian:
 *   meta  u32 magic "CRM1" | u64 term | u64 vote | u32 crc32(previous 20)
 *   snap  u32 magic "CRS1" | u64 index | u64 term | u32 conf_len | conf |
 *         u64 len | bytes | u32 crc32(everything before)
 *   log   per entry: u32 len | u32 crc32(payload) | payload, where
 *         payload = u64 term | u64 index | u8 type | bytes
 *
 * Torn or corrupt: reading the log stops at the first record that is short
 * or fails its CRC. If that record claims to run past the end of the file,
 * or nothing but zeros follows it, or it is the last record, a crash tore
 * it: the file is truncated there (and synced) and torn_bytes says how much
 * went. Anything else — a bad record followed by more data, an index out of
 * sequence, terms going down — is corruption, and open refuses it.
 *
 * The log's entries are read whole at open (for cor_raft_load); after the
 * first write the store keeps only each entry's term and file offset,
 * which is what truncation and compaction need. crc32 comes from zlib, as
 * in the OMS's store.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "raft_int.h"

#define META_MAGIC 0x314d5243u /* "CRM1" */
#define SNAP_MAGIC 0x31535243u /* "CRS1" */
#define META_LEN 24
#define REC_HEAD 8
#define PAYLOAD_HEAD 17
#define MAX_RECORD (512u << 20)

struct cor_raft_store {
    char *dir;
    int dirfd, logfd;
    uint64_t term;
    cor_raft_id_t vote;
    uint64_t snap_index, snap_term;
    cor_raft_conf_t snap_conf;
    uint8_t *snap;
    size_t snap_len;
    /* One slot per entry after the snapshot. */
    uint64_t *terms;
    uint64_t *offsets; /* where its record starts in the log file */
    size_t n, cap;
    uint64_t log_end;
    /* Until the first write: the log file as read, and its entries. */
    uint8_t *loaded;
    cor_raft_entry_t *entries;
    size_t torn_bytes;
};

static uint32_t crc(const uint8_t *p, size_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);
    while (n > 0) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, p, k);
        p += k;
        n -= k;
    }
    return (uint32_t)c;
}

static int io_error(cor_error_t *err, const cor_raft_store_t *s, const char *file, const char *what)
{
    return cor_error_set(err, COR_EUNAVAIL, "raft store %s/%s: %s: %s", s->dir, file, what,
                         strerror(errno));
}

static int corrupt(cor_error_t *err, const cor_raft_store_t *s, const char *file, uint64_t off,
                   const char *what)
{
    return cor_error_set(err, COR_ESTATE,
                         "raft store %s/%s: corrupt at offset %llu: %s; this replica must be "
                         "replaced",
                         s->dir, file, (unsigned long long)off, what);
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

/* Reads a whole file; ENOENT leaves *buf NULL and returns 0. */
static int read_file(int dirfd, const char *name, uint8_t **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return -1;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *b = malloc(n ? n : 1);
    if (b == NULL) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, b + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    *buf = b;
    *len = got;
    return 0;
}

/* Replaces file `name` with buf: tmp, fsync, rename, fsync the directory. */
static int replace_file(cor_raft_store_t *s, const char *name, const uint8_t *buf, size_t len,
                        cor_error_t *err)
{
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%s.tmp", name);
    int fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return io_error(err, s, tmp, "open");
    if (write_all(fd, buf, len) != 0 || fdatasync(fd) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return io_error(err, s, tmp, "write");
    }
    close(fd);
    if (renameat(s->dirfd, tmp, s->dirfd, name) != 0)
        return io_error(err, s, name, "rename");
    if (fsync(s->dirfd) != 0)
        return io_error(err, s, ".", "fsync");
    return 0;
}

static bool grow_slots(cor_raft_store_t *s, size_t need)
{
    if (need <= s->cap)
        return true;
    size_t c = s->cap ? s->cap * 2 : 64;
    while (c < need)
        c *= 2;
    uint64_t *t = realloc(s->terms, c * sizeof *t);
    if (t == NULL)
        return false;
    s->terms = t;
    uint64_t *o = realloc(s->offsets, c * sizeof *o);
    if (o == NULL)
        return false;
    s->offsets = o;
    s->cap = c;
    return true;
}

/* Forgets what open read: after the first write the state is the core's. */
static void drop_loaded(cor_raft_store_t *s)
{
    free(s->loaded);
    free(s->entries);
    s->loaded = NULL;
    s->entries = NULL;
}

/* ---------------- reading ---------------- */

static int load_meta(cor_raft_store_t *s, cor_error_t *err)
{
    uint8_t *b;
    size_t n;
    if (read_file(s->dirfd, "meta", &b, &n) != 0)
        return io_error(err, s, "meta", "read");
    if (b == NULL)
        return 0;
    int rc = 0;
    if (n != META_LEN || raft_get32(b) != META_MAGIC)
        rc = corrupt(err, s, "meta", 0, "not a meta record");
    else if (raft_get32(b + 20) != crc(b, 20))
        rc = corrupt(err, s, "meta", 20, "checksum mismatch");
    else {
        s->term = raft_get64(b + 4);
        s->vote = raft_get64(b + 12);
    }
    free(b);
    return rc;
}

static int load_snap(cor_raft_store_t *s, cor_error_t *err)
{
    uint8_t *b;
    size_t n;
    if (read_file(s->dirfd, "snap", &b, &n) != 0)
        return io_error(err, s, "snap", "read");
    if (b == NULL)
        return 0;
    int rc = 0;
    if (n < 4 + 16 + 4 + 8 + 4 || raft_get32(b) != SNAP_MAGIC) {
        rc = corrupt(err, s, "snap", 0, "not a snapshot record");
        goto out;
    }
    if (raft_get32(b + n - 4) != crc(b, n - 4)) {
        rc = corrupt(err, s, "snap", n - 4, "checksum mismatch");
        goto out;
    }
    uint64_t index = raft_get64(b + 4), term = raft_get64(b + 12);
    uint32_t cl = raft_get32(b + 20);
    if (cl > n - 36 || cor_raft_conf_decode(b + 24, cl, &s->snap_conf) != 0) {
        rc = corrupt(err, s, "snap", 24, "malformed configuration");
        goto out;
    }
    uint64_t dl = raft_get64(b + 24 + cl);
    if (dl != n - 36 - cl || index == 0 || term == 0) {
        rc = corrupt(err, s, "snap", 24 + cl, "length or index out of range");
        goto out;
    }
    if ((s->snap = malloc(dl ? dl : 1)) == NULL) {
        rc = cor_error_set(err, COR_ENOMEM, "raft store %s: out of memory", s->dir);
        goto out;
    }
    memcpy(s->snap, b + 32 + cl, dl);
    s->snap_len = dl;
    s->snap_index = index;
    s->snap_term = term;
out:
    free(b);
    return rc;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

static int load_log(cor_raft_store_t *s, cor_error_t *err)
{
    uint8_t *b;
    size_t n;
    if (read_file(s->dirfd, "log", &b, &n) != 0)
        return io_error(err, s, "log", "read");
    s->loaded = b;
    size_t off = 0;
    uint64_t last_term = s->snap_term;
    while (off < n) {
        size_t left = n - off;
        uint32_t len = left >= REC_HEAD ? raft_get32(b + off) : 0;
        bool torn;
        if (left < REC_HEAD || len > MAX_RECORD || len > left - REC_HEAD) {
            torn = true; /* runs past the end: being written when it stopped */
        } else if (len < PAYLOAD_HEAD || raft_get32(b + off + 4) != crc(b + off + 8, len)) {
            size_t end = off + REC_HEAD + len;
            torn = end == n || all_zero(b + off, n - off);
            if (!torn) {
                drop_loaded(s);
                return corrupt(err, s, "log", off, "bad record with valid data after it");
            }
        } else {
            const uint8_t *p = b + off + REC_HEAD;
            uint64_t term = raft_get64(p), index = raft_get64(p + 8);
            int type = p[16];
            if (index <= s->snap_index) {
                off += REC_HEAD + len; /* compacted by a snapshot; not yet dropped */
                continue;
            }
            if (index != s->snap_index + s->n + 1 || term < last_term || term == 0 ||
                (type != COR_RAFT_NORMAL && type != COR_RAFT_CONF && type != COR_RAFT_NOOP)) {
                drop_loaded(s);
                return corrupt(err, s, "log", off, "entry out of sequence");
            }
            if (!grow_slots(s, s->n + 1)) {
                drop_loaded(s);
                return cor_error_set(err, COR_ENOMEM, "raft store %s: out of memory", s->dir);
            }
            cor_raft_entry_t *es = realloc(s->entries, s->cap * sizeof *es);
            if (es == NULL) {
                drop_loaded(s);
                return cor_error_set(err, COR_ENOMEM, "raft store %s: out of memory", s->dir);
            }
            s->entries = es;
            es[s->n] = (cor_raft_entry_t){term, index, type, len > PAYLOAD_HEAD ? p + PAYLOAD_HEAD : NULL,
                                          len - PAYLOAD_HEAD};
            s->terms[s->n] = term;
            s->offsets[s->n] = off;
            s->n++;
            last_term = term;
            off += REC_HEAD + len;
            continue;
        }
        if (torn) {
            s->torn_bytes = n - off;
            if (ftruncate(s->logfd, (off_t)off) != 0 || fdatasync(s->logfd) != 0) {
                drop_loaded(s);
                return io_error(err, s, "log", "truncate a torn tail");
            }
            fprintf(stderr, "raft store %s/log: dropped %zu bytes of torn tail at offset %zu\n",
                    s->dir, s->torn_bytes, off);
            n = off;
            break;
        }
    }
    s->log_end = n;
    return 0;
}

static int mkdirs(const char *dir)
{
    char path[4096];
    size_t l = strlen(dir);
    if (l == 0 || l >= sizeof path)
        return -1;
    memcpy(path, dir, l + 1);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(path, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

int cor_raft_store_open(const char *dir, cor_raft_store_t **out, cor_error_t *err)
{
    *out = NULL;
    cor_raft_store_t *s = calloc(1, sizeof *s);
    if (s == NULL || (s->dir = strdup(dir)) == NULL) {
        free(s);
        return cor_error_set(err, COR_ENOMEM, "raft store %s: out of memory", dir);
    }
    s->dirfd = s->logfd = -1;
    int rc;
    if (mkdirs(dir) != 0 ||
        (s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        rc = io_error(err, s, ".", "open the directory");
        goto fail;
    }
    if ((s->logfd = openat(s->dirfd, "log", O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
        rc = io_error(err, s, "log", "open");
        goto fail;
    }
    if ((rc = load_meta(s, err)) != 0 || (rc = load_snap(s, err)) != 0 ||
        (rc = load_log(s, err)) != 0)
        goto fail;
    *out = s;
    return 0;
fail:
    cor_raft_store_close(s);
    return rc;
}

int cor_raft_store_put_aside(cor_raft_store_t *s, const char *name, const uint8_t *data,
                             size_t len, cor_error_t *err)
{
    return replace_file(s, name, data, len, err);
}

int cor_raft_store_get_aside(const char *dir, const char *name, uint8_t **data, size_t *len,
                             cor_error_t *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? cor_error_set(err, COR_ENOTFOUND, "no raft store in %s", dir)
                               : cor_error_set(err, COR_EUNAVAIL, "raft store %s: %s", dir,
                                               strerror(errno));
    int rc = read_file(fd, name, data, len);
    int e = errno;
    close(fd);
    if (rc != 0)
        return cor_error_set(err, COR_EUNAVAIL, "raft store %s: reading %s: %s", dir, name,
                             strerror(e));
    if (*data == NULL)
        return cor_error_set(err, COR_ENOTFOUND, "raft store %s has no %s", dir, name);
    return 0;
}

int cor_raft_store_wipe(const char *dir, cor_error_t *err)
{
    static const char *const files[] = {"meta",   "meta.tmp",   "snap", "snap.tmp",
                                        "object", "object.tmp", "log"};
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return cor_error_set(err, COR_EUNAVAIL, "raft store %s: cannot open it: %s", dir,
                             strerror(errno));
    }
    int rc = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0] && rc == 0; i++)
        if (unlinkat(fd, files[i], 0) != 0 && errno != ENOENT)
            rc = cor_error_set(err, COR_EUNAVAIL, "raft store %s: cannot remove %s: %s", dir,
                               files[i], strerror(errno));
    if (rc == 0 && fsync(fd) != 0)
        rc = cor_error_set(err, COR_EUNAVAIL, "raft store %s: fsync: %s", dir, strerror(errno));
    close(fd);
    return rc;
}

void cor_raft_store_close(cor_raft_store_t *s)
{
    if (s == NULL)
        return;
    if (s->logfd >= 0)
        close(s->logfd);
    if (s->dirfd >= 0)
        close(s->dirfd);
    drop_loaded(s);
    free(s->terms);
    free(s->offsets);
    free(s->snap);
    free(s->dir);
    free(s);
}

void cor_raft_store_state(const cor_raft_store_t *s, cor_raft_store_state_t *st)
{
    memset(st, 0, sizeof *st);
    st->term = s->term;
    st->vote = s->vote;
    st->snap_index = s->snap_index;
    st->snap_term = s->snap_term;
    st->snap_conf = s->snap_conf;
    st->snap = s->snap;
    st->snap_len = s->snap_len;
    st->entries = s->entries;
    st->n_entries = s->entries != NULL ? s->n : 0;
    st->torn_bytes = s->torn_bytes;
}

/* ---------------- writing ---------------- */

int cor_raft_store_set_hard(cor_raft_store_t *s, uint64_t term, cor_raft_id_t vote,
                            cor_error_t *err)
{
    uint8_t b[META_LEN];
    raft_put32(b, META_MAGIC);
    raft_put64(b + 4, term);
    raft_put64(b + 12, vote);
    raft_put32(b + 20, crc(b, 20));
    int rc = replace_file(s, "meta", b, sizeof b, err);
    if (rc == 0) {
        s->term = term;
        s->vote = vote;
    }
    return rc;
}

/* Cuts the log file and the slots back to the entries before index. */
static int cut_from(cor_raft_store_t *s, uint64_t index, cor_error_t *err)
{
    size_t keep = (size_t)(index - s->snap_index - 1);
    if (keep >= s->n)
        return 0;
    if (ftruncate(s->logfd, (off_t)s->offsets[keep]) != 0)
        return io_error(err, s, "log", "truncate");
    s->log_end = s->offsets[keep];
    s->n = keep;
    return 0;
}

int cor_raft_store_append(cor_raft_store_t *s, const cor_raft_entry_t *e, size_t n,
                          cor_error_t *err)
{
    drop_loaded(s);
    /* Entries already covered by the snapshot are not written again. */
    while (n > 0 && e->index <= s->snap_index) {
        e++;
        n--;
    }
    if (n == 0)
        return 0;
    uint64_t last = s->snap_index + s->n;
    if (e[0].index > last + 1)
        return cor_error_set(err, COR_EINVAL, "raft store %s: entry %llu after %llu leaves a gap",
                             s->dir, (unsigned long long)e[0].index, (unsigned long long)last);
    int rc = cut_from(s, e[0].index, err);
    if (rc != 0)
        return rc;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i].len > MAX_RECORD - PAYLOAD_HEAD)
            return cor_error_set(err, COR_ETOOBIG, "raft store %s: entry %llu of %zu bytes",
                                 s->dir, (unsigned long long)e[i].index, e[i].len);
        total += REC_HEAD + PAYLOAD_HEAD + e[i].len;
    }
    if (!grow_slots(s, s->n + n))
        return cor_error_set(err, COR_ENOMEM, "raft store %s: out of memory", s->dir);
    uint8_t *buf = malloc(total);
    if (buf == NULL)
        return cor_error_set(err, COR_ENOMEM, "raft store %s: out of memory", s->dir);
    uint8_t *p = buf;
    for (size_t i = 0; i < n; i++) {
        uint32_t len = (uint32_t)(PAYLOAD_HEAD + e[i].len);
        raft_put32(p, len);
        raft_put64(p + 8, e[i].term);
        raft_put64(p + 16, e[i].index);
        p[24] = (uint8_t)e[i].type;
        if (e[i].len)
            memcpy(p + 25, e[i].data, e[i].len);
        raft_put32(p + 4, crc(p + 8, len));
        s->terms[s->n + i] = e[i].term;
        s->offsets[s->n + i] = s->log_end + (uint64_t)(p - buf);
        p += REC_HEAD + len;
    }
    if (lseek(s->logfd, (off_t)s->log_end, SEEK_SET) < 0 || write_all(s->logfd, buf, total) != 0) {
        free(buf);
        /* Whatever reached the file past log_end is cut at the next write or
         * dropped as a torn tail at the next open. */
        return io_error(err, s, "log", "append");
    }
    free(buf);
    s->n += n;
    s->log_end += total;
    return 0;
}

int cor_raft_store_sync(cor_raft_store_t *s, cor_error_t *err)
{
    if (fdatasync(s->logfd) != 0)
        return io_error(err, s, "log", "fdatasync");
    return 0;
}

/* Rewrites the log without the entries up to index (after a snapshot). */
static int compact(cor_raft_store_t *s, uint64_t index, uint64_t term, cor_error_t *err)
{
    size_t drop;
    if (index > s->snap_index + s->n || s->terms[index - s->snap_index - 1] != term)
        drop = s->n; /* the log does not hold the snapshot's entry: all of it goes */
    else
        drop = (size_t)(index - s->snap_index);
    uint64_t from = drop < s->n ? s->offsets[drop] : s->log_end;
    size_t len = (size_t)(s->log_end - from);
    uint8_t *rest = NULL;
    if (len > 0) {
        if ((rest = malloc(len)) == NULL)
            return cor_error_set(err, COR_ENOMEM, "raft store %s: out of memory", s->dir);
        if (pread(s->logfd, rest, len, (off_t)from) != (ssize_t)len) {
            free(rest);
            return io_error(err, s, "log", "read for compaction");
        }
    }
    int rc = replace_file(s, "log", rest, len, err);
    free(rest);
    if (rc != 0)
        return rc;
    close(s->logfd);
    if ((s->logfd = openat(s->dirfd, "log", O_RDWR | O_CLOEXEC)) < 0)
        return io_error(err, s, "log", "reopen after compaction");
    for (size_t i = drop; i < s->n; i++) {
        s->terms[i - drop] = s->terms[i];
        s->offsets[i - drop] = s->offsets[i] - from;
    }
    s->n -= drop;
    s->log_end = len;
    return 0;
}

int cor_raft_store_snapshot(cor_raft_store_t *s, uint64_t index, uint64_t term,
                            const cor_raft_conf_t *conf, const uint8_t *data, size_t len,
                            cor_error_t *err)
{
    drop_loaded(s);
    if (index == 0 || term == 0 || conf == NULL || (len > 0 && data == NULL))
        return cor_error_set(err, COR_EINVAL, "raft store %s: snapshot without index, term or "
                             "configuration", s->dir);
    if (index <= s->snap_index)
        return 0;
    size_t cl = cor_raft_conf_size(conf), n = 4 + 16 + 4 + cl + 8 + len + 4;
    uint8_t *b = malloc(n);
    uint8_t *copy = malloc(len ? len : 1);
    if (b == NULL || copy == NULL) {
        free(b);
        free(copy);
        return cor_error_set(err, COR_ENOMEM, "raft store %s: out of memory", s->dir);
    }
    raft_put32(b, SNAP_MAGIC);
    raft_put64(b + 4, index);
    raft_put64(b + 12, term);
    raft_put32(b + 20, (uint32_t)cl);
    cor_raft_conf_encode(conf, b + 24);
    raft_put64(b + 24 + cl, len);
    if (len)
        memcpy(b + 32 + cl, data, len);
    raft_put32(b + n - 4, crc(b, n - 4));
    int rc = replace_file(s, "snap", b, n, err);
    free(b);
    if (rc != 0) {
        free(copy);
        return rc;
    }
    if (len)
        memcpy(copy, data, len);
    /* The snapshot is durable: the log's prefix can go. A crash before the
     * rewrite leaves entries the next open skips. */
    rc = compact(s, index, term, err);
    free(s->snap);
    s->snap = copy;
    s->snap_len = len;
    s->snap_conf = *conf;
    s->snap_index = index;
    s->snap_term = term;
    return rc;
}

int cor_raft_store_persist(cor_raft_store_t *s, const cor_raft_update_t *u, cor_error_t *err)
{
    int rc;
    if (u->hard_changed && (rc = cor_raft_store_set_hard(s, u->term, u->vote, err)) != 0)
        return rc;
    if (u->snapshot_received &&
        (rc = cor_raft_store_snapshot(s, u->snap_index, u->snap_term, u->snap_conf, u->snap,
                                      u->snap_len, err)) != 0)
        return rc;
    if (u->n_entries > 0) {
        if ((rc = cor_raft_store_append(s, u->entries, u->n_entries, err)) != 0)
            return rc;
        return cor_raft_store_sync(s, err);
    }
    return 0;
}
