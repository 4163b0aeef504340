/*
 * server.c — the transport's server side over gRPC C core; see transport.h
 * for the design.
 *
 * Each registered method keeps `pending_per_method` cor_srv_call_t posted
 * with grpc_server_request_registered_call. A call's life:
 *
 *   POSTED --(request completes ok)--> HANDLING --(reply/fail)--> REPLYING
 *     ^                                                               |
 *     +---------------(batch completes; re-post unless stopping)------+
 *
 * The same tag (the call struct) serves both completions; `state` tells
 * them apart, since a call has one operation outstanding at a time.
 *
 * Shutdown: cor_server_free sets `stopping`, asks gRPC to shut down with a
 * notify tag and cancels every call. Posted requests then complete with
 * ok=0 and are freed; calls being handled still get their reply batch
 * (which fails fast) and are freed when it completes. When the notify tag
 * has arrived and no call is alive, the server is destroyed, the queue shut
 * down and drained, and the threads joined.
 */
#include "transport.h"

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_METHODS 16
#define MAX_THREADS 16

typedef struct srv_method {
    char *path;
    void *handle; /* from grpc_server_register_method */
    cor_srv_handler_cb fn;
    void *arg;
    int owns_arg; /* free(arg) when the server is freed */
} srv_method_t;

enum call_state { CALL_POSTED, CALL_HANDLING, CALL_REPLYING };

/* Calls for paths nobody registered are requested generically and answered
 * UNIMPLEMENTED at once; without this gRPC would hold them to their
 * deadline. Their call structs have method == NULL. */
#define UNKNOWN_PENDING 4

struct cor_srv_call {
    cor_server_t *srv;
    srv_method_t *method;
    enum call_state state;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array request_md;
    grpc_byte_buffer *payload;
    grpc_call_details details_in; /* generic (unknown-path) calls only */
    /* reply batch storage */
    grpc_byte_buffer *reply_bb;
    grpc_slice details;
    grpc_metadata trailers[3]; /* cor-code, and a redirect's two */
    size_t n_trailers;
    char epoch_text[24];       /* a redirect's epoch, printed */
    int cancelled;
};

struct cor_server {
    grpc_server *server;
    grpc_completion_queue *cq;
    cor_server_opts_t opts;
    srv_method_t methods[MAX_METHODS];
    int n_methods;
    pthread_t threads[MAX_THREADS];
    int n_threads;
    int started;

    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stopping;      /* no more re-posting */
    int shutdown_seen; /* notify tag arrived */
    long alive;        /* call structs in existence */
};

static char shutdown_tag; /* address used as the notify tag */

static void call_free(cor_srv_call_t *c)
{
    cor_server_t *s = c->srv;
    grpc_metadata_array_destroy(&c->request_md);
    if (c->method == NULL)
        grpc_call_details_destroy(&c->details_in);
    free(c);
    pthread_mutex_lock(&s->lock);
    s->alive--;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

/* Posts c to receive the next call of its method. Returns 0, or -1 if gRPC
 * refused (server shutting down), in which case c has been freed. */
static int call_post(cor_srv_call_t *c)
{
    cor_server_t *s = c->srv;
    c->state = CALL_POSTED;
    c->call = NULL;
    c->payload = NULL;
    c->reply_bb = NULL;
    c->cancelled = 0;
    grpc_metadata_array_destroy(&c->request_md);
    grpc_metadata_array_init(&c->request_md);
    grpc_call_error e;
    if (c->method == NULL) {
        grpc_call_details_destroy(&c->details_in);
        grpc_call_details_init(&c->details_in);
        COR_TSAN_GIVE(c);
        e = grpc_server_request_call(s->server, &c->call, &c->details_in, &c->request_md,
                                     s->cq, s->cq, c);
    } else {
        void *handle = c->method->handle; /* read before c is given away */
        COR_TSAN_GIVE(c);
        e = grpc_server_request_registered_call(s->server, handle, &c->call, &c->deadline,
                                                &c->request_md, &c->payload, s->cq, s->cq, c);
    }
    if (e != GRPC_CALL_OK) {
        call_free(c);
        return -1;
    }
    return 0;
}

static cor_srv_call_t *call_new(cor_server_t *s, srv_method_t *m)
{
    cor_srv_call_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->srv = s;
    c->method = m;
    grpc_metadata_array_init(&c->request_md);
    if (m == NULL)
        grpc_call_details_init(&c->details_in);
    pthread_mutex_lock(&s->lock);
    s->alive++;
    pthread_mutex_unlock(&s->lock);
    return c;
}

/* After a call is fully answered: release gRPC resources, then re-post or
 * free depending on whether the server is stopping. */
static void call_recycle(cor_srv_call_t *c)
{
    cor_server_t *s = c->srv;
    if (c->reply_bb != NULL)
        grpc_byte_buffer_destroy(c->reply_bb);
    c->reply_bb = NULL;
    grpc_slice_unref(c->details);
    c->details = grpc_empty_slice();
    for (size_t i = 1; i < c->n_trailers; i++)
        grpc_slice_unref(c->trailers[i].value); /* the redirect's copied values */
    c->n_trailers = 0;
    if (c->call != NULL)
        grpc_call_unref(c->call);
    c->call = NULL;
    pthread_mutex_lock(&s->lock);
    int stopping = s->stopping;
    pthread_mutex_unlock(&s->lock);
    if (stopping)
        call_free(c);
    else
        call_post(c);
}

/* Sends the reply batch. With cor_code set it goes out as trailers[0],
 * followed by any the caller put in trailers[1..n_trailers). */
static void send_batch(cor_srv_call_t *c, grpc_status_code status,
                       const char *cor_code)
{
    grpc_op ops[4];
    memset(ops, 0, sizeof(ops));
    size_t n = 0;
    ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
    n++;
    if (c->reply_bb != NULL) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n].data.send_message.send_message = c->reply_bb;
        n++;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = status;
    ops[n].data.send_status_from_server.status_details =
        status == GRPC_STATUS_OK ? NULL : &c->details;
    if (cor_code != NULL) {
        c->trailers[0].key = grpc_slice_from_static_string(COR_CODE_MD_KEY);
        c->trailers[0].value = grpc_slice_from_static_string(cor_code);
        if (c->n_trailers == 0)
            c->n_trailers = 1;
        ops[n].data.send_status_from_server.trailing_metadata_count = c->n_trailers;
        ops[n].data.send_status_from_server.trailing_metadata = c->trailers;
    }
    n++;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n].data.recv_close_on_server.cancelled = &c->cancelled;
    n++;
    c->state = CALL_REPLYING;
    grpc_call *call = c->call; /* read before c is given away */
    COR_TSAN_GIVE(c);
    if (grpc_call_start_batch(call, ops, n, c, NULL) != GRPC_CALL_OK) {
        /* Only a programming error gets here; finish the call locally. */
        call_recycle(c);
    }
}

void cor_srv_call_reply(cor_srv_call_t *c, grpc_slice payload)
{
    c->reply_bb = grpc_raw_byte_buffer_create(&payload, 1);
    grpc_slice_unref(payload);
    c->details = grpc_empty_slice();
    send_batch(c, GRPC_STATUS_OK, NULL);
}

void cor_srv_call_redirect(cor_srv_call_t *c, const char *msg, const cor_redirect_t *to)
{
    snprintf(c->epoch_text, sizeof(c->epoch_text), "%llu", (unsigned long long)to->epoch);
    c->trailers[1].key = grpc_slice_from_static_string(COR_MOVED_TO_MD_KEY);
    c->trailers[1].value = grpc_slice_from_copied_string(to->to);
    c->trailers[2].key = grpc_slice_from_static_string(COR_MOVED_EPOCH_MD_KEY);
    c->trailers[2].value = grpc_slice_from_copied_string(c->epoch_text);
    c->n_trailers = 3;
    cor_srv_call_fail(c, COR_EMOVED, msg);
}

void cor_srv_call_fail(cor_srv_call_t *c, int code, const char *msg)
{
    if (code == COR_OK)
        code = COR_EINTERNAL;
    const char *name = cor_error_name(code);
    c->details = grpc_slice_from_copied_string(msg != NULL ? msg : cor_strerror(code));
    send_batch(c, (grpc_status_code)cor_error_to_grpc(code), name);
}

char *cor_srv_call_peer(cor_srv_call_t *c)
{
    return grpc_call_get_peer(c->call);
}

static void handle_request(cor_srv_call_t *c)
{
    c->state = CALL_HANDLING;
    c->details = grpc_empty_slice();
    if (c->method == NULL) {
        char msg[256];
        size_t n = GRPC_SLICE_LENGTH(c->details_in.method);
        snprintf(msg, sizeof(msg), "unknown method %.*s", (int)(n > 200 ? 200 : n),
                 (const char *)GRPC_SLICE_START_PTR(c->details_in.method));
        cor_srv_call_fail(c, COR_EUNIMPL, msg);
        return;
    }
    if (c->payload == NULL) {
        cor_srv_call_fail(c, COR_EINVAL, "request carried no message");
        return;
    }
    grpc_slice req = cor_byte_buffer_slice(c->payload);
    grpc_byte_buffer_destroy(c->payload);
    c->payload = NULL;
    c->method->fn(c->method->arg, c, GRPC_SLICE_START_PTR(req), GRPC_SLICE_LENGTH(req));
    grpc_slice_unref(req);
}

static void *cq_thread(void *arg)
{
    cor_server_t *s = arg;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        if (ev.tag == &shutdown_tag) {
            pthread_mutex_lock(&s->lock);
            s->shutdown_seen = 1;
            pthread_cond_broadcast(&s->cond);
            pthread_mutex_unlock(&s->lock);
            continue;
        }
        cor_srv_call_t *c = ev.tag;
        COR_TSAN_TAKE(c);
        switch (c->state) {
        case CALL_POSTED:
            if (!ev.success) {
                /* Server shutting down: the request was never matched. */
                if (c->call != NULL)
                    grpc_call_unref(c->call);
                if (c->payload != NULL)
                    grpc_byte_buffer_destroy(c->payload);
                call_free(c);
                break;
            }
            handle_request(c);
            break;
        case CALL_REPLYING:
            call_recycle(c);
            break;
        case CALL_HANDLING:
            break; /* cannot happen: no op is outstanding while handling */
        }
    }
    return NULL;
}

int cor_server_new(const cor_server_opts_t *opts, cor_server_t **out, cor_error_t *err)
{
    cor_server_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    if (opts != NULL)
        s->opts = *opts;
    if (s->opts.threads <= 0)
        s->opts.threads = 2;
    if (s->opts.threads > MAX_THREADS)
        s->opts.threads = MAX_THREADS;
    if (s->opts.max_message_bytes == 0)
        s->opts.max_message_bytes = COR_DEFAULT_MAX_MESSAGE;
    if (s->opts.pending_per_method <= 0)
        s->opts.pending_per_method = 64;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);

    cor_grpc_acquire();
    /* SO_REUSEPORT (gRPC's default) would let a second daemon bind a port
     * already in use and silently take half its connections. */
    grpc_arg args[3];
    args[2].type = GRPC_ARG_INTEGER;
    args[2].key = (char *)GRPC_ARG_ALLOW_REUSEPORT;
    args[2].value.integer = 0;
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = (int)s->opts.max_message_bytes;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
    args[1].value.integer = (int)s->opts.max_message_bytes;
    grpc_channel_args cargs = {.num_args = 3, .args = args};
    s->server = grpc_server_create(&cargs, NULL);
    s->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(s->server, s->cq, NULL);
    *out = s;
    return 0;
}

int cor_server_add_method(cor_server_t *s, const char *path, cor_srv_handler_cb fn,
                          void *arg, cor_error_t *err)
{
    if (s->started)
        return cor_error_set(err, COR_ESTATE, "server already started");
    if (s->n_methods == MAX_METHODS)
        return cor_error_set(err, COR_ENOMEM, "too many methods (max %d)", MAX_METHODS);
    srv_method_t *m = &s->methods[s->n_methods];
    m->path = strdup(path);
    if (m->path == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    m->handle = grpc_server_register_method(s->server, m->path, NULL,
                                            GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    if (m->handle == NULL) {
        free(m->path);
        return cor_error_set(err, COR_EEXIST, "method %s already registered", path);
    }
    m->fn = fn;
    m->arg = arg;
    s->n_methods++;
    return 0;
}

int cor_server_add_method_owned(cor_server_t *s, const char *path, cor_srv_handler_cb fn,
                                void *arg, cor_error_t *err)
{
    int rc = cor_server_add_method(s, path, fn, arg, err);
    if (rc == 0)
        s->methods[s->n_methods - 1].owns_arg = 1;
    return rc;
}

int cor_server_listen(cor_server_t *s, const char *addr, int *port_out, cor_error_t *err)
{
    if (s->started)
        return cor_error_set(err, COR_ESTATE, "server already started");
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    int port = grpc_server_add_http2_port(s->server, addr, creds);
    grpc_server_credentials_release(creds);
    if (port == 0)
        return cor_error_set(err, COR_EUNAVAIL, "cannot listen on %s", addr);
    if (port_out != NULL)
        *port_out = port;
    return 0;
}

int cor_server_start(cor_server_t *s, cor_error_t *err)
{
    if (s->started)
        return cor_error_set(err, COR_ESTATE, "server already started");
    grpc_server_start(s->server);
    s->started = 1;
    for (int i = 0; i <= s->n_methods; i++) {
        srv_method_t *m = i < s->n_methods ? &s->methods[i] : NULL;
        int n = m != NULL ? s->opts.pending_per_method : UNKNOWN_PENDING;
        for (int j = 0; j < n; j++) {
            cor_srv_call_t *c = call_new(s, m);
            if (c == NULL)
                return cor_error_set(err, COR_ENOMEM, "out of memory");
            call_post(c);
        }
    }
    for (int i = 0; i < s->opts.threads; i++) {
        if (pthread_create(&s->threads[i], NULL, cq_thread, s) != 0)
            return cor_error_set(err, COR_EINTERNAL, "cannot start completion thread");
        s->n_threads++;
    }
    return 0;
}

void cor_server_free(cor_server_t *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    pthread_mutex_unlock(&s->lock);

    if (s->started) {
        grpc_server_shutdown_and_notify(s->server, s->cq, &shutdown_tag);
        grpc_server_cancel_all_calls(s->server);
        if (s->n_threads == 0) {
            /* Threads never started: drain here. */
            pthread_mutex_lock(&s->lock);
            s->shutdown_seen = 1;
            pthread_mutex_unlock(&s->lock);
        }
        pthread_mutex_lock(&s->lock);
        while (!s->shutdown_seen || s->alive > 0)
            pthread_cond_wait(&s->cond, &s->lock);
        pthread_mutex_unlock(&s->lock);
    }
    grpc_server_destroy(s->server);
    grpc_completion_queue_shutdown(s->cq);
    if (s->n_threads == 0) {
        while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
               GRPC_QUEUE_SHUTDOWN) {
        }
    }
    for (int i = 0; i < s->n_threads; i++)
        pthread_join(s->threads[i], NULL);
    grpc_completion_queue_destroy(s->cq);
    for (int i = 0; i < s->n_methods; i++) {
        free(s->methods[i].path);
        if (s->methods[i].owns_arg)
            free(s->methods[i].arg);
    }
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
    cor_grpc_release();
}
