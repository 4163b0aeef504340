/*
 * echo_class.c — implementation of the Echo class.
 *
 * Say answers with the request's own text and blob: the reply points into
 * the request, which the runtime keeps alive until the reply is packed, so
 * nothing is copied. Add is the one mutating method; calls into one object
 * run one at a time (the class is not COR_CLASS_CONCURRENT), so the counter
 * needs no lock. Sleep exists for deadline and slow-method tests.
 *
 * The ballast (Fill, Touch, Digest) gives an object a state of any size
 * for the migration tests and benchmark. The class tracks which 4 KiB
 * pages of it changed (save_dirty/apply_dirty), so a move of a large
 * echo object freezes it only for what changed during the copy. MoveSelf
 * shows an object asking for its own move (ExplicitMigration).
 */
#include "echo_class.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "echo/echo.cor.h"

#define PAGE 4096u
#define BALLAST_MAX ((uint64_t)1 << 30)

typedef struct echo_obj {
    int64_t total;
    uint8_t *ballast; /* owned */
    size_t len;
    uint8_t *dirty;   /* one flag per page of the ballast */
    int all_dirty;    /* the size changed: every page */
} echo_obj_t;

static size_t pages(size_t len)
{
    return (len + PAGE - 1) / PAGE;
}

/* Resizes the ballast (new bytes zero); 0 or COR_ENOMEM. */
static int ballast_resize(echo_obj_t *o, size_t len)
{
    uint8_t *b = realloc(o->ballast, len ? len : 1);
    uint8_t *d = realloc(o->dirty, pages(len) ? pages(len) : 1);
    if (b != NULL)
        o->ballast = b;
    if (d != NULL)
        o->dirty = d;
    if (b == NULL || d == NULL)
        return COR_ENOMEM;
    if (len > o->len)
        memset(o->ballast + o->len, 0, len - o->len);
    o->len = len;
    o->all_dirty = 1;
    return 0;
}

static int echo_say(void *self, cor_ctx_t *ctx, const Echo__SayRequest *req,
                    Echo__SayReply *reply)
{
    reply->text = req->text;
    reply->blob = req->blob;
    return 0;
}

static int echo_add(void *self, cor_ctx_t *ctx, const Echo__AddRequest *req,
                    Echo__AddReply *reply)
{
    echo_obj_t *o = self;
    o->total += req->delta;
    reply->total = o->total;
    return 0;
}

static int echo_sleep(void *self, cor_ctx_t *ctx, const Echo__SleepRequest *req,
                      Echo__SleepReply *reply)
{
    if (req->ms > 60000)
        return cor_ctx_error(ctx, COR_EINVAL, "sleep of %u ms is over the 60000 ms limit",
                             req->ms);
    struct timespec ts = {.tv_sec = req->ms / 1000, .tv_nsec = (long)(req->ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
    reply->slept_ms = req->ms;
    return 0;
}

static int echo_fill(void *self, cor_ctx_t *ctx, const Echo__FillRequest *req,
                     Echo__FillReply *reply)
{
    echo_obj_t *o = self;
    if (req->bytes > BALLAST_MAX)
        return cor_ctx_error(ctx, COR_EINVAL, "ballast of %llu bytes is over the 1 GiB limit",
                             (unsigned long long)req->bytes);
    if (ballast_resize(o, (size_t)req->bytes) != 0)
        return cor_ctx_error(ctx, COR_ENOMEM, "no memory for %llu bytes of ballast",
                             (unsigned long long)req->bytes);
    uint64_t x = req->seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < o->len; i++) {
        x ^= x << 13; /* xorshift: cheap bytes that do not compress */
        x ^= x >> 7;
        x ^= x << 17;
        o->ballast[i] = (uint8_t)x;
    }
    reply->bytes = o->len;
    return 0;
}

static int echo_touch(void *self, cor_ctx_t *ctx, const Echo__TouchRequest *req,
                      Echo__TouchReply *reply)
{
    echo_obj_t *o = self;
    (void)reply;
    if (req->offset > o->len || req->data.len > o->len - req->offset)
        return cor_ctx_error(ctx, COR_EINVAL, "touch of %zu bytes at %llu is outside the %zu-byte "
                             "ballast", req->data.len, (unsigned long long)req->offset, o->len);
    if (req->data.len == 0)
        return 0;
    memcpy(o->ballast + req->offset, req->data.data, req->data.len);
    for (size_t p = req->offset / PAGE; p <= (req->offset + req->data.len - 1) / PAGE; p++)
        o->dirty[p] = 1;
    return 0;
}

static int echo_digest(void *self, cor_ctx_t *ctx, const Echo__DigestRequest *req,
                       Echo__DigestReply *reply)
{
    const echo_obj_t *o = self;
    (void)ctx;
    (void)req;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < o->len; i++)
        h = (h ^ o->ballast[i]) * 0x100000001b3ull;
    reply->total = o->total;
    reply->bytes = o->len;
    reply->fnv1a = h;
    return 0;
}

/* The object asks for its own move. From inside its own call the move
 * cannot run until this returns, so cor_migrate only requests it. */
static int echo_move_self(void *self, cor_ctx_t *ctx, const Echo__MoveSelfRequest *req,
                          Echo__MoveSelfReply *reply)
{
    (void)self;
    (void)reply;
    cor_ref_t *me = cor_ref_new(cor_ctx_runtime(ctx), cor_ctx_object_id(ctx), "echo.Echo", NULL);
    if (me == NULL)
        return cor_ctx_error(ctx, COR_ENOMEM, "out of memory");
    cor_error_t err;
    int rc = cor_migrate(me, req->to_node, req->selector, &err);
    cor_ref_free(me);
    return rc == 0 ? 0 : cor_ctx_error(ctx, rc, "%s", err.msg);
}

static void echo_destroy(void *self)
{
    echo_obj_t *o = self;
    if (o == NULL)
        return;
    free(o->ballast);
    free(o->dirty);
    free(o);
}

static int echo_create(cor_ctx_t *ctx, const uint8_t *args, size_t args_len, void **self)
{
    echo_obj_t *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return cor_ctx_error(ctx, COR_ENOMEM, "out of memory");
    if (args_len > 0) {
        Echo__EchoArgs *a = echo__echo_args__unpack(NULL, args_len, args);
        if (a == NULL) {
            free(o);
            return cor_ctx_error(ctx, COR_EINVAL, "constructor arguments are not an echo.EchoArgs");
        }
        o->total = a->start;
        int rc = a->ballast.len > BALLAST_MAX ? COR_EINVAL : ballast_resize(o, a->ballast.len);
        if (rc == 0 && a->ballast.len > 0)
            memcpy(o->ballast, a->ballast.data, a->ballast.len);
        echo__echo_args__free_unpacked(a, NULL);
        if (rc != 0) {
            echo_destroy(o);
            return cor_ctx_error(ctx, rc, "no room for the ballast");
        }
    }
    *self = o;
    return 0;
}

static int echo_save(void *self, cor_ctx_t *ctx, uint8_t **buf, size_t *len)
{
    echo_obj_t *o = self;
    Echo__EchoArgs st = ECHO__ECHO_ARGS__INIT;
    st.start = o->total;
    st.ballast.data = o->ballast;
    st.ballast.len = o->len;
    size_t n = echo__echo_args__get_packed_size(&st);
    uint8_t *b = malloc(n ? n : 1);
    if (b == NULL)
        return cor_ctx_error(ctx, COR_ENOMEM, "out of memory");
    echo__echo_args__pack(&st, b);
    *buf = b;
    *len = n;
    return 0;
}

static int echo_load(cor_ctx_t *ctx, const uint8_t *buf, size_t len, void **self)
{
    return echo_create(ctx, buf, len, self);
}

/* The counter, the size and the pages changed since the last call, as an
 * echo.EchoDelta; restart only forgets them. The pages are not copied:
 * the packed delta is written straight from the ballast. */
static int echo_save_dirty(void *self, cor_ctx_t *ctx, int restart, uint8_t **buf, size_t *len)
{
    echo_obj_t *o = self;
    size_t np = pages(o->len), n = 0;
    if (!restart)
        for (size_t p = 0; p < np; p++)
            n += o->all_dirty || o->dirty[p];
    Echo__EchoDelta d = ECHO__ECHO_DELTA__INIT;
    uint64_t *offs = calloc(n ? n : 1, sizeof(*offs));
    ProtobufCBinaryData *pg = calloc(n ? n : 1, sizeof(*pg));
    if (offs == NULL || pg == NULL) {
        free(offs);
        free(pg);
        return cor_ctx_error(ctx, COR_ENOMEM, "out of memory");
    }
    for (size_t p = 0, k = 0; p < np && k < n; p++)
        if (o->all_dirty || o->dirty[p]) {
            offs[k] = (uint64_t)p * PAGE;
            pg[k].data = o->ballast + offs[k];
            pg[k].len = o->len - offs[k] < PAGE ? o->len - offs[k] : PAGE;
            k++;
        }
    d.total = o->total;
    d.bytes = o->len;
    d.offsets = offs;
    d.n_offsets = n;
    d.pages = pg;
    d.n_pages = n;
    size_t plen = echo__echo_delta__get_packed_size(&d);
    uint8_t *b = malloc(plen ? plen : 1);
    if (b != NULL)
        echo__echo_delta__pack(&d, b);
    free(offs);
    free(pg);
    if (b == NULL)
        return cor_ctx_error(ctx, COR_ENOMEM, "out of memory");
    if (np > 0)
        memset(o->dirty, 0, np);
    o->all_dirty = 0;
    *buf = b;
    *len = plen;
    return 0;
}

static int echo_apply_dirty(void *self, cor_ctx_t *ctx, const uint8_t *buf, size_t len)
{
    echo_obj_t *o = self;
    Echo__EchoDelta *d = echo__echo_delta__unpack(NULL, len, buf);
    if (d == NULL)
        return cor_ctx_error(ctx, COR_EINVAL, "delta is not an echo.EchoDelta");
    int rc = 0;
    if (d->bytes > BALLAST_MAX || d->n_offsets != d->n_pages)
        rc = cor_ctx_error(ctx, COR_EINVAL, "delta: %llu bytes, %zu offsets for %zu pages",
                           (unsigned long long)d->bytes, d->n_offsets, d->n_pages);
    for (size_t k = 0; rc == 0 && k < d->n_pages; k++)
        if (d->offsets[k] > d->bytes || d->pages[k].len > d->bytes - d->offsets[k])
            rc = cor_ctx_error(ctx, COR_EINVAL, "delta: page %zu lies outside %llu bytes", k,
                               (unsigned long long)d->bytes);
    if (rc == 0 && d->bytes != o->len && ballast_resize(o, (size_t)d->bytes) != 0)
        rc = cor_ctx_error(ctx, COR_ENOMEM, "no memory for %llu bytes of ballast",
                           (unsigned long long)d->bytes);
    for (size_t k = 0; rc == 0 && k < d->n_pages; k++)
        memcpy(o->ballast + d->offsets[k], d->pages[k].data, d->pages[k].len);
    if (rc == 0)
        o->total = d->total;
    echo__echo_delta__free_unpacked(d, NULL);
    return rc;
}

static const echo_echo_ops_t echo_ops = {
    .say = echo_say,
    .add = echo_add,
    .sleep = echo_sleep,
    .fill = echo_fill,
    .touch = echo_touch,
    .digest = echo_digest,
    .move_self = echo_move_self,
};

const cor_class_t echo_class = {
    .version = COR_CLASS_VERSION,
    .name = "echo.Echo",
    .service = &echo_echo_service,
    .ops = &echo_ops,
    .flags = 0,
    .create = echo_create,
    .destroy = echo_destroy,
    .save_state = echo_save,
    .load_state = echo_load,
    .save_dirty = echo_save_dirty,
    .apply_dirty = echo_apply_dirty,
};
