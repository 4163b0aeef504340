/*
 * raw_echo.c — unary echo on bare gRPC C core: the baseline Corundum's
 * transport is compared with.
 *
 * Design. Both sides use the fast paths STACK-NOTES lists. The server
 * registers `/bench.Echo/Echo` with GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER,
 * so a new call arrives with its request already read, and answers it with
 * one batch (SEND_INITIAL_METADATA, SEND_MESSAGE, SEND_STATUS_FROM_SERVER,
 * RECV_CLOSE_ON_SERVER) straight from the completion-queue thread, sending
 * the received byte buffer back untouched. Each server thread owns a queue
 * and a pool of call slots; every slot always has exactly one operation
 * outstanding — a requested call or a reply batch — so with 64 slots per
 * queue, 32 concurrent clients never find the server without a requested
 * call. The client registers the method on its channel and makes each call
 * with one six-op batch on a completion queue that the benchmarking thread
 * drives with grpc_completion_queue_next.
 *
 * Happy path (server): slot requested -> call arrives with payload -> reply
 * batch -> batch done: release the call, request again.
 * Failure modes: a failed request (ok == 0) only happens at shutdown and
 * retires the slot; a failed reply batch (client gone, deadline, cancel) is
 * released like a successful one. Client: a call that fails, ends with a
 * non-OK status, or whose reply differs from the request counts as an error
 * and the run goes on.
 *
 * Shutdown (the order valgrind accepts): shutdown-and-notify on a private
 * queue, cancel all calls, wait for the notify tag and for every slot to
 * retire, destroy the server, shut the queues down so their threads see
 * GRPC_QUEUE_SHUTDOWN and exit, join, destroy the queues.
 */
#include "raw_echo.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#define SLOTS_PER_QUEUE 64
#define CALL_DEADLINE_S 10

/* ---------------------------------------------------------------- server */

enum slot_state { SLOT_REQUESTED, SLOT_REPLYING };

struct srv_queue;

/* One call in progress, or the request for the next one. Touched only by
 * its queue's thread once the server runs. */
struct slot {
    struct srv_queue *q;
    enum slot_state state;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload; /* the request; sent back as the reply */
    int cancelled;
};

struct srv_queue {
    raw_server_t *srv;
    grpc_completion_queue *cq;
    pthread_t thread;
    int thread_started;
    struct slot slots[SLOTS_PER_QUEUE];
};

struct raw_server {
    grpc_server *server;
    void *method;
    int port;
    int n_queues;
    struct srv_queue *queues;
    atomic_int stopping;
    atomic_long live; /* slots with an operation outstanding */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled when live drops to 0 */
};

static void slot_retire(struct slot *s)
{
    raw_server_t *srv = s->q->srv;

    if (atomic_fetch_sub(&srv->live, 1) == 1) {
        pthread_mutex_lock(&srv->mu);
        pthread_cond_signal(&srv->cv);
        pthread_mutex_unlock(&srv->mu);
    }
}

/* Ask for the next call into slot s. Caller has counted s as live. */
static void slot_request(struct slot *s)
{
    raw_server_t *srv = s->q->srv;
    grpc_call_error err;

    s->state = SLOT_REQUESTED;
    s->call = NULL;
    s->payload = NULL;
    grpc_metadata_array_init(&s->md);
    err = grpc_server_request_registered_call(
        srv->server, srv->method, &s->call, &s->deadline, &s->md, &s->payload,
        s->q->cq, s->q->cq, s);
    if (err != GRPC_CALL_OK) {
        grpc_metadata_array_destroy(&s->md);
        slot_retire(s);
    }
}

static void slot_release_call(struct slot *s)
{
    if (s->payload != NULL)
        grpc_byte_buffer_destroy(s->payload);
    s->payload = NULL;
    grpc_metadata_array_destroy(&s->md);
    if (s->call != NULL)
        grpc_call_unref(s->call);
    s->call = NULL;
}

static void slot_next(struct slot *s)
{
    if (atomic_load_explicit(&s->q->srv->stopping, memory_order_relaxed))
        slot_retire(s);
    else
        slot_request(s);
}

/* A call arrived (ok) with its request: echo it in one batch. */
static void on_request_done(struct slot *s, int ok)
{
    grpc_op ops[4];
    grpc_op *op = ops;
    grpc_call_error err;

    if (!ok) { /* server shutting down: no call was created */
        grpc_metadata_array_destroy(&s->md);
        slot_retire(s);
        return;
    }
    memset(ops, 0, sizeof(ops));
    op->op = GRPC_OP_SEND_INITIAL_METADATA;
    op++;
    if (s->payload != NULL) {
        op->op = GRPC_OP_SEND_MESSAGE;
        op->data.send_message.send_message = s->payload;
        op++;
    }
    op->op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    op->data.send_status_from_server.status =
        s->payload != NULL ? GRPC_STATUS_OK : GRPC_STATUS_INVALID_ARGUMENT;
    op->data.send_status_from_server.status_details = NULL;
    op++;
    op->op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op->data.recv_close_on_server.cancelled = &s->cancelled;
    op++;
    s->state = SLOT_REPLYING;
    err = grpc_call_start_batch(s->call, ops, (size_t)(op - ops), s, NULL);
    if (err != GRPC_CALL_OK) {
        slot_release_call(s);
        slot_next(s);
    }
}

static void *srv_thread(void *arg)
{
    struct srv_queue *q = arg;

    for (;;) {
        grpc_event ev = grpc_completion_queue_next(
            q->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        struct slot *s;

        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        s = ev.tag;
        if (s->state == SLOT_REQUESTED) {
            on_request_done(s, ev.success);
        } else { /* reply batch finished, whatever its outcome */
            slot_release_call(s);
            slot_next(s);
        }
    }
    return NULL;
}

/* Drain a queue that was shut down and has no thread. */
static void drain_queue(grpc_completion_queue *cq)
{
    grpc_event ev;

    do {
        ev = grpc_completion_queue_next(
            cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    } while (ev.type != GRPC_QUEUE_SHUTDOWN);
}

static int is_unix_addr(const char *addr)
{
    return strncmp(addr, "unix:", 5) == 0;
}

int raw_server_start(const char *addr, int n_threads, raw_server_t **out)
{
    raw_server_t *srv;
    grpc_server_credentials *creds;
    grpc_channel_args args;
    grpc_arg arg;
    int rv = -1;

    *out = NULL;
    if (n_threads < 1)
        n_threads = 1;
    srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        return -1;
    srv->n_queues = n_threads;
    atomic_init(&srv->stopping, 0);
    atomic_init(&srv->live, 0);
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->cv, NULL);
    srv->queues = calloc((size_t)n_threads, sizeof(*srv->queues));
    if (srv->queues == NULL)
        goto err_free;

    /* gRPC turns SO_REUSEPORT on by default, which lets a second server
     * "bind" a busy port and steal half the connections: refuse instead. */
    arg.type = GRPC_ARG_INTEGER;
    arg.key = (char *)GRPC_ARG_ALLOW_REUSEPORT;
    arg.value.integer = 0;
    args.num_args = 1;
    args.args = &arg;
    srv->server = grpc_server_create(&args, NULL);
    srv->method = grpc_server_register_method(
        srv->server, RAW_ECHO_METHOD, NULL,
        GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    if (srv->method == NULL)
        goto err_server;
    for (int i = 0; i < n_threads; i++) {
        srv->queues[i].srv = srv;
        srv->queues[i].cq = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(srv->server, srv->queues[i].cq,
                                              NULL);
    }
    creds = grpc_insecure_server_credentials_create();
    srv->port = grpc_server_add_http2_port(srv->server, addr, creds);
    grpc_server_credentials_release(creds);
    if (srv->port <= 0) {
        fprintf(stderr, "raw_server_start: cannot bind %s\n", addr);
        goto err_server;
    }
    if (is_unix_addr(addr))
        srv->port = 0;

    /* From here on the server is started; failures go through the full
     * stop path, which copes with queues that have no thread. */
    grpc_server_start(srv->server);
    for (int i = 0; i < n_threads; i++) {
        struct srv_queue *q = &srv->queues[i];

        if (pthread_create(&q->thread, NULL, srv_thread, q) != 0) {
            raw_server_stop(srv);
            return -1;
        }
        q->thread_started = 1;
    }
    for (int i = 0; i < n_threads; i++) {
        for (int j = 0; j < SLOTS_PER_QUEUE; j++) {
            struct slot *s = &srv->queues[i].slots[j];

            s->q = &srv->queues[i];
            atomic_fetch_add(&srv->live, 1);
            slot_request(s);
        }
    }
    *out = srv;
    return 0;

err_server:
    /* Not started and no listener bound: destroy needs no shutdown. */
    grpc_server_destroy(srv->server);
    for (int i = 0; i < n_threads; i++) {
        if (srv->queues[i].cq == NULL)
            continue;
        grpc_completion_queue_shutdown(srv->queues[i].cq);
        drain_queue(srv->queues[i].cq);
        grpc_completion_queue_destroy(srv->queues[i].cq);
    }
    free(srv->queues);
err_free:
    pthread_cond_destroy(&srv->cv);
    pthread_mutex_destroy(&srv->mu);
    free(srv);
    return rv;
}

int raw_server_port(const raw_server_t *srv)
{
    return srv->port;
}

void raw_server_stop(raw_server_t *srv)
{
    grpc_completion_queue *shutdown_cq;
    grpc_event ev;
    static int shutdown_tag;

    if (srv == NULL)
        return;
    atomic_store(&srv->stopping, 1);

    shutdown_cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_shutdown_and_notify(srv->server, shutdown_cq, &shutdown_tag);
    grpc_server_cancel_all_calls(srv->server);
    do {
        ev = grpc_completion_queue_next(
            shutdown_cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    } while (!(ev.type == GRPC_OP_COMPLETE && ev.tag == &shutdown_tag));
    grpc_completion_queue_shutdown(shutdown_cq);
    drain_queue(shutdown_cq);
    grpc_completion_queue_destroy(shutdown_cq);

    /* Every slot's last operation has completed on its queue's thread. */
    pthread_mutex_lock(&srv->mu);
    while (atomic_load(&srv->live) > 0)
        pthread_cond_wait(&srv->cv, &srv->mu);
    pthread_mutex_unlock(&srv->mu);

    grpc_server_destroy(srv->server);
    for (int i = 0; i < srv->n_queues; i++)
        grpc_completion_queue_shutdown(srv->queues[i].cq);
    for (int i = 0; i < srv->n_queues; i++) {
        struct srv_queue *q = &srv->queues[i];

        if (q->thread_started)
            pthread_join(q->thread, NULL);
        else
            drain_queue(q->cq);
        grpc_completion_queue_destroy(q->cq);
    }
    free(srv->queues);
    pthread_cond_destroy(&srv->cv);
    pthread_mutex_destroy(&srv->mu);
    free(srv);
}

/* ---------------------------------------------------------------- client */

struct raw_client {
    grpc_channel *channel;
    void *method; /* registered call handle, owned by the channel */
    grpc_completion_queue *cq;
};

/* One outstanding client call: everything its six-op batch writes into. */
struct cli_call {
    grpc_call *call;
    grpc_byte_buffer *req, *resp;
    grpc_metadata_array init_md, trail_md;
    grpc_status_code status;
    grpc_slice details;
    uint64_t t0;
};

int raw_client_new(const char *target, raw_client_t **out)
{
    raw_client_t *cli;
    grpc_channel_credentials *creds;
    grpc_channel_args args;
    grpc_arg arg;

    *out = NULL;
    cli = calloc(1, sizeof(*cli));
    if (cli == NULL)
        return -1;
    /* No retry policy is configured, so the retry machinery only costs:
     * turning it off gave ~10 % more calls/s at 32 in flight here. */
    arg.type = GRPC_ARG_INTEGER;
    arg.key = (char *)GRPC_ARG_ENABLE_RETRIES;
    arg.value.integer = 0;
    args.num_args = 1;
    args.args = &arg;
    creds = grpc_insecure_credentials_create();
    cli->channel = grpc_channel_create(target, creds, &args);
    grpc_channel_credentials_release(creds);
    if (cli->channel == NULL) {
        free(cli);
        return -1;
    }
    cli->method = grpc_channel_register_call(cli->channel, RAW_ECHO_METHOD,
                                             NULL, NULL);
    cli->cq = grpc_completion_queue_create_for_next(NULL);
    *out = cli;
    return 0;
}

void raw_client_free(raw_client_t *cli)
{
    if (cli == NULL)
        return;
    /* Channel first; no call is outstanding between benchmarks. */
    grpc_channel_destroy(cli->channel);
    grpc_completion_queue_shutdown(cli->cq);
    drain_queue(cli->cq);
    grpc_completion_queue_destroy(cli->cq);
    free(cli);
}

/* Issue one echo of `payload` as call c, tagged with c. Returns 0, or -1
 * if the batch could not start (c holds nothing then). */
static int call_start(raw_client_t *cli, struct cli_call *c,
                      grpc_slice payload)
{
    grpc_op ops[6];
    gpr_timespec deadline = gpr_time_add(
        gpr_now(GPR_CLOCK_MONOTONIC),
        gpr_time_from_seconds(CALL_DEADLINE_S, GPR_TIMESPAN));

    c->call = grpc_channel_create_registered_call(
        cli->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cli->cq, cli->method,
        deadline, NULL);
    if (c->call == NULL)
        return -1;
    /* The buffer takes its own reference to the shared payload slice. */
    c->req = grpc_raw_byte_buffer_create(&payload, 1);
    c->resp = NULL;
    grpc_metadata_array_init(&c->init_md);
    grpc_metadata_array_init(&c->trail_md);
    c->details = grpc_empty_slice();

    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = c->req;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &c->init_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &c->resp;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &c->trail_md;
    ops[5].data.recv_status_on_client.status = &c->status;
    ops[5].data.recv_status_on_client.status_details = &c->details;

    c->t0 = bench_now_ns();
    if (grpc_call_start_batch(c->call, ops, 6, c, NULL) != GRPC_CALL_OK) {
        grpc_byte_buffer_destroy(c->req);
        grpc_metadata_array_destroy(&c->init_md);
        grpc_metadata_array_destroy(&c->trail_md);
        grpc_call_unref(c->call);
        c->call = NULL;
        return -1;
    }
    return 0;
}

/* The batch of call c completed: check the reply against payload and
 * release everything c holds. Returns 0 for a correct echo, 1 otherwise. */
static int call_finish(struct cli_call *c, int ok, grpc_slice payload)
{
    int bad = 1;

    if (ok && c->status == GRPC_STATUS_OK && c->resp != NULL) {
        grpc_byte_buffer_reader reader;

        if (grpc_byte_buffer_reader_init(&reader, c->resp)) {
            grpc_slice got = grpc_byte_buffer_reader_readall(&reader);

            bad = GRPC_SLICE_LENGTH(got) != GRPC_SLICE_LENGTH(payload) ||
                  memcmp(GRPC_SLICE_START_PTR(got),
                         GRPC_SLICE_START_PTR(payload),
                         GRPC_SLICE_LENGTH(payload)) != 0;
            grpc_slice_unref(got);
            grpc_byte_buffer_reader_destroy(&reader);
        }
    }
    grpc_byte_buffer_destroy(c->req);
    if (c->resp != NULL)
        grpc_byte_buffer_destroy(c->resp);
    grpc_metadata_array_destroy(&c->init_md);
    grpc_metadata_array_destroy(&c->trail_md);
    grpc_slice_unref(c->details);
    grpc_call_unref(c->call);
    c->call = NULL;
    return bad;
}

/* A refcounted slice of n patterned bytes (so a reply that is merely the
 * right length does not pass the check). */
static grpc_slice make_payload(size_t n)
{
    grpc_slice s = grpc_slice_malloc(n);
    uint8_t *p = GRPC_SLICE_START_PTR(s);

    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 31u + 7u);
    return s;
}

static grpc_event next_event(raw_client_t *cli)
{
    return grpc_completion_queue_next(
        cli->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
}

int raw_bench_latency(raw_client_t *cli, size_t payload_bytes, int n_calls,
                      int warmup, bench_result_t *res)
{
    bench_rec_t rec;
    grpc_slice payload;
    struct cli_call c;
    uint64_t start = 0;
    long errors = 0;
    int rv = -1;

    memset(res, 0, sizeof(*res));
    if (bench_rec_init(&rec, n_calls > 0 ? (size_t)n_calls : 1) != 0)
        return -1;
    payload = make_payload(payload_bytes);
    for (int i = 0; i < warmup + n_calls; i++) {
        grpc_event ev;
        uint64_t t1;
        int bad;

        if (i == warmup)
            start = bench_now_ns();
        if (call_start(cli, &c, payload) != 0) {
            if (i >= warmup)
                errors++;
            continue;
        }
        ev = next_event(cli);
        if (ev.type != GRPC_OP_COMPLETE || ev.tag != &c) {
            fprintf(stderr, "raw_bench_latency: unexpected event %d\n",
                    (int)ev.type);
            goto out; /* cannot happen while c is the only call */
        }
        t1 = bench_now_ns();
        bad = call_finish(&c, ev.success, payload);
        if (i < warmup)
            continue;
        if (bad)
            errors++;
        else if (bench_rec_add(&rec, t1 - c.t0) != 0)
            goto out;
    }
    if (n_calls > 0) {
        uint64_t elapsed = bench_now_ns() - start;

        res->calls_per_sec =
            elapsed ? (double)rec.n * 1e9 / (double)elapsed : 0;
    }
    bench_rec_summarise(&rec, res);
    res->calls = (long)rec.n;
    res->errors = errors;
    rv = 0;
out:
    grpc_slice_unref(payload);
    bench_rec_close(&rec);
    return rv;
}

int raw_bench_throughput(raw_client_t *cli, size_t payload_bytes,
                         int in_flight, double seconds, bench_result_t *res)
{
    bench_rec_t rec;
    grpc_slice payload;
    struct cli_call *calls;
    uint64_t begin, count_from, stop_at;
    long errors = 0, done = 0;
    int outstanding = 0, rv = -1;

    memset(res, 0, sizeof(*res));
    if (in_flight < 1 || seconds <= 0)
        return -1;
    calls = calloc((size_t)in_flight, sizeof(*calls));
    if (calls == NULL)
        return -1;
    if (bench_rec_init(&rec, 1u << 16) != 0)
        goto out_calls;
    payload = make_payload(payload_bytes);

    begin = bench_now_ns();
    count_from = begin + (uint64_t)(seconds * 0.1e9);
    stop_at = begin + (uint64_t)(seconds * 1e9);
    for (int i = 0; i < in_flight; i++) {
        if (call_start(cli, &calls[i], payload) == 0)
            outstanding++;
        else
            errors++;
    }
    while (outstanding > 0) {
        grpc_event ev = next_event(cli);
        struct cli_call *c;
        uint64_t t1;
        int bad;

        if (ev.type != GRPC_OP_COMPLETE) {
            fprintf(stderr, "raw_bench_throughput: unexpected event %d\n",
                    (int)ev.type);
            goto out; /* cannot happen: the queue is never shut down here */
        }
        t1 = bench_now_ns();
        c = ev.tag;
        bad = call_finish(c, ev.success, payload);
        outstanding--;
        if (bad) {
            errors++; /* counted even outside the measured window */
        } else if (t1 >= count_from && t1 <= stop_at) {
            done++;
            if (bench_rec_add(&rec, t1 - c->t0) != 0)
                goto out;
        }
        if (t1 < stop_at) {
            if (call_start(cli, c, payload) == 0)
                outstanding++;
            else
                errors++;
        }
    }
    bench_rec_summarise(&rec, res);
    res->calls = done;
    res->errors = errors;
    res->calls_per_sec = (double)done * 1e9 / (double)(stop_at - count_from);
    rv = 0;
out:
    /* Only reached with calls outstanding on an impossible event; their
     * memory would be written later, so leak rather than free it. */
    if (outstanding > 0)
        calls = NULL;
    grpc_slice_unref(payload);
    bench_rec_close(&rec);
out_calls:
    free(calls);
    return rv;
}
