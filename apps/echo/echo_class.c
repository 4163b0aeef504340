/*
 * echo_class.c — implementation of the Echo class.
 *
 * Say answers with the request's own text and blob: the reply points into
 * the request, which the runtime keeps alive until the reply is packed, so
 * nothing is copied. Add is the one mutating method; calls into one object
 * run one at a time (the class is not COR_CLASS_CONCURRENT), so the counter
 * needs no lock. Sleep exists for deadline and slow-method tests.
 */
#include "echo_class.h"

#include <stdlib.h>
#include <time.h>

#include "echo/echo.cor.h"

typedef struct echo_obj {
    int64_t total;
} echo_obj_t;

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

static int echo_create(cor_ctx_t *ctx, const uint8_t *args, size_t args_len, void **self)
{
    int64_t start = 0;
    if (args_len > 0) {
        Echo__EchoArgs *a = echo__echo_args__unpack(NULL, args_len, args);
        if (a == NULL)
            return cor_ctx_error(ctx, COR_EINVAL, "constructor arguments are not an echo.EchoArgs");
        start = a->start;
        echo__echo_args__free_unpacked(a, NULL);
    }
    echo_obj_t *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return cor_ctx_error(ctx, COR_ENOMEM, "out of memory");
    o->total = start;
    *self = o;
    return 0;
}

static void echo_destroy(void *self)
{
    free(self);
}

static int echo_save(void *self, cor_ctx_t *ctx, uint8_t **buf, size_t *len)
{
    echo_obj_t *o = self;
    Echo__EchoArgs st = ECHO__ECHO_ARGS__INIT;
    st.start = o->total;
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

static const echo_echo_ops_t echo_ops = {
    .say = echo_say,
    .add = echo_add,
    .sleep = echo_sleep,
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
};
