/*
 * client.c — the transport's client side over gRPC C core; see transport.h.
 *
 * Peers: a small array of channels, one per target string, made on first
 * use under the client lock and kept until the client is freed, each with
 * every method path registered once. Callers cache the cor_peer_t pointer.
 *
 * Asynchronous calls are heap records linked into an in-flight list, so
 * cor_client_free can cancel them all and wait for their callbacks. They
 * complete on the client's single completion thread.
 *
 * Synchronous calls keep their record on the caller's stack and borrow a
 * completion queue from a free list; the caller itself waits in
 * grpc_completion_queue_next on it. That is the fastest unary call gRPC C
 * core offers (no thread hop on completion).
 */
#include "transport.h"

#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct cor_peer {
    char *target;
    grpc_channel *channel;
    void **handles; /* registered call handle per method */
};

typedef struct cq_slot {
    grpc_completion_queue *cq;
    struct cq_slot *next_free; /* free list */
    struct cq_slot *next_all;  /* every slot, for cor_client_free */
} cq_slot_t;

typedef struct cli_call cli_call_t;
struct cli_call {
    grpc_call *call;
    grpc_byte_buffer *send_bb;
    grpc_metadata_array initial_md;
    grpc_metadata_array trailing_md;
    grpc_byte_buffer *recv_bb;
    grpc_status_code status;
    grpc_slice details;
    /* async only */
    cor_cli_done_cb done;
    void *arg;
    cli_call_t *prev, *next;
};

struct cor_client {
    cor_client_opts_t opts;
    char **paths;
    size_t n_paths;
    grpc_channel_credentials *creds;
    grpc_channel_args chan_args;
    grpc_arg arg_storage[6];

    pthread_mutex_t lock;
    pthread_cond_t cond;
    cor_peer_t **peers;
    size_t n_peers, cap_peers;
    cq_slot_t *free_cqs; /* sync completion queues not in use */
    cq_slot_t *all_cqs;  /* every sync completion queue, for free */
    cli_call_t *inflight; /* async calls not yet completed */
    long n_inflight;

    grpc_completion_queue *cq; /* async completions */
    pthread_t thread;
    int thread_started; /* made on the first async call (under lock) */
};

static void *cq_thread(void *arg);

int cor_client_new(const char *const *paths, size_t n_paths, const cor_client_opts_t *opts,
                   cor_client_t **out, cor_error_t *err)
{
    cor_client_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    if (opts != NULL)
        c->opts = *opts;
    if (c->opts.max_message_bytes == 0)
        c->opts.max_message_bytes = COR_DEFAULT_MAX_MESSAGE;
    c->paths = calloc(n_paths, sizeof(char *));
    if (c->paths == NULL) {
        free(c);
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n_paths; i++) {
        c->paths[i] = strdup(paths[i]);
        if (c->paths[i] == NULL) {
            for (size_t j = 0; j < i; j++)
                free(c->paths[j]);
            free(c->paths);
            free(c);
            return cor_error_set(err, COR_ENOMEM, "out of memory");
        }
    }
    c->n_paths = n_paths;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);

    cor_grpc_acquire();
    c->creds = grpc_insecure_credentials_create();
    c->arg_storage[0].type = GRPC_ARG_INTEGER;
    c->arg_storage[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    c->arg_storage[0].value.integer = (int)c->opts.max_message_bytes;
    c->arg_storage[1].type = GRPC_ARG_INTEGER;
    c->arg_storage[1].key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
    c->arg_storage[1].value.integer = (int)c->opts.max_message_bytes;
    /* Corundum decides about retries itself (DMs, redirects); gRPC's own
     * retry machinery cost ~10 % throughput in bench/raw measurements. */
    c->arg_storage[2].type = GRPC_ARG_INTEGER;
    c->arg_storage[2].key = (char *)GRPC_ARG_ENABLE_RETRIES;
    c->arg_storage[2].value.integer = 0;
    /* A peer that went away (an OMS or kernel server restarting) is tried
     * again within a second, not after gRPC's default backoff (1 s growing
     * by 1.6x up to 2 min) nor after its resolver's minimum time between
     * re-resolutions (30 s here: what kept a client that had called a dead
     * OMS from reaching the restarted one for 14 s in test_rsm, and up to
     * 24 s in the cluster tests). */
    static const struct {
        const char *key;
        int ms;
    } backoff[] = {
        {GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100},
        {GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000},
        {GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, 100},
    };
    /* (Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: gRPC also takes it as the
     * shortest time a connection attempt may last, and at 100 ms a slow
     * peer's handshake timed out — a server under valgrind in
     * valgrind_host, and links with 80 ms of latency would too.) */
    for (int i = 0; i < 3; i++) {
        c->arg_storage[3 + i].type = GRPC_ARG_INTEGER;
        c->arg_storage[3 + i].key = (char *)backoff[i].key;
        c->arg_storage[3 + i].value.integer = backoff[i].ms;
    }
    c->chan_args.num_args = 6;
    c->chan_args.args = c->arg_storage;
    /* The async completion thread starts with the first async call: a
     * process that only serves or calls synchronously never pays for an
     * idle thread that still takes part in gRPC's polling (measured: ~3
     * context switches per served call instead of ~1). */
    c->cq = grpc_completion_queue_create_for_next(NULL);
    *out = c;
    return 0;
}

const char *cor_peer_target(const cor_peer_t *p)
{
    return p->target;
}

cor_peer_t *cor_client_peer(cor_client_t *c, const char *target)
{
    if (target == NULL || target[0] == '\0')
        return NULL;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n_peers; i++) {
        if (strcmp(c->peers[i]->target, target) == 0) {
            cor_peer_t *p = c->peers[i];
            pthread_mutex_unlock(&c->lock);
            return p;
        }
    }
    cor_peer_t *p = NULL;
    if (c->n_peers == c->cap_peers) {
        size_t cap = c->cap_peers ? c->cap_peers * 2 : 8;
        cor_peer_t **np = realloc(c->peers, cap * sizeof(*np));
        if (np == NULL)
            goto out;
        c->peers = np;
        c->cap_peers = cap;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        goto out;
    p->target = strdup(target);
    p->handles = calloc(c->n_paths ? c->n_paths : 1, sizeof(void *));
    if (p->target == NULL || p->handles == NULL) {
        free(p->target);
        free(p->handles);
        free(p);
        p = NULL;
        goto out;
    }
    p->channel = grpc_channel_create(target, c->creds, &c->chan_args);
    for (size_t i = 0; i < c->n_paths; i++)
        p->handles[i] = grpc_channel_register_call(p->channel, c->paths[i], NULL, NULL);
    c->peers[c->n_peers++] = p;
out:
    pthread_mutex_unlock(&c->lock);
    return p;
}

/* Fills ops for one unary call; returns the op count. */
static size_t unary_ops(cli_call_t *k, grpc_op ops[6])
{
    memset(ops, 0, sizeof(grpc_op) * 6);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = k->send_bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &k->initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &k->recv_bb;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &k->trailing_md;
    ops[5].data.recv_status_on_client.status = &k->status;
    ops[5].data.recv_status_on_client.status_details = &k->details;
    return 6;
}

static void call_init(cli_call_t *k, grpc_slice req)
{
    memset(k, 0, sizeof(*k));
    k->send_bb = grpc_raw_byte_buffer_create(&req, 1);
    grpc_slice_unref(req);
    grpc_metadata_array_init(&k->initial_md);
    grpc_metadata_array_init(&k->trailing_md);
    k->details = grpc_empty_slice();
}

static void call_destroy(cli_call_t *k)
{
    if (k->call != NULL)
        grpc_call_unref(k->call);
    if (k->send_bb != NULL)
        grpc_byte_buffer_destroy(k->send_bb);
    if (k->recv_bb != NULL)
        grpc_byte_buffer_destroy(k->recv_bb);
    grpc_metadata_array_destroy(&k->initial_md);
    grpc_metadata_array_destroy(&k->trailing_md);
    grpc_slice_unref(k->details);
}

/* The redirect in a failed call's trailers, if a well-formed one came:
 * an address that fits and an epoch above zero. */
static void read_redirect(const grpc_metadata_array *md, cor_redirect_t *moved)
{
    cor_redirect_t r = {.epoch = 0};
    int have_to = 0;
    for (size_t i = 0; i < md->count; i++) {
        const grpc_metadata *m = &md->metadata[i];
        size_t n = GRPC_SLICE_LENGTH(m->value);
        const char *v = (const char *)GRPC_SLICE_START_PTR(m->value);
        if (grpc_slice_str_cmp(m->key, COR_MOVED_TO_MD_KEY) == 0 && n > 0 && n < sizeof(r.to)) {
            memcpy(r.to, v, n);
            r.to[n] = '\0';
            have_to = 1;
        } else if (grpc_slice_str_cmp(m->key, COR_MOVED_EPOCH_MD_KEY) == 0 && n > 0 && n < 21) {
            uint64_t e = 0;
            size_t j = 0;
            while (j < n && v[j] >= '0' && v[j] <= '9' && e <= (UINT64_MAX - 9) / 10)
                e = e * 10 + (uint64_t)(v[j++] - '0');
            if (j == n)
                r.epoch = e;
        }
    }
    if (have_to && r.epoch > 0)
        *moved = r;
}

/* Turns a finished call into (code, message). On success *reply holds the
 * reply slice (caller unrefs); on an EMOVED with a redirect, *moved (if
 * not NULL) gets it. */
static int call_result(cli_call_t *k, int batch_ok, grpc_slice *reply, char *msg, size_t msg_len,
                       cor_redirect_t *moved)
{
    msg[0] = '\0';
    if (moved != NULL)
        moved->epoch = 0;
    if (!batch_ok) {
        snprintf(msg, msg_len, "call failed inside gRPC");
        return COR_EINTERNAL;
    }
    if (k->status == GRPC_STATUS_OK) {
        if (k->recv_bb == NULL) {
            snprintf(msg, msg_len, "peer answered OK without a message");
            return COR_EPROTO;
        }
        *reply = cor_byte_buffer_slice(k->recv_bb);
        return 0;
    }
    int code = cor_error_from_grpc((int)k->status);
    for (size_t i = 0; i < k->trailing_md.count; i++) {
        grpc_metadata *md = &k->trailing_md.metadata[i];
        if (grpc_slice_str_cmp(md->key, COR_CODE_MD_KEY) == 0) {
            code = cor_error_from_name((const char *)GRPC_SLICE_START_PTR(md->value),
                                       GRPC_SLICE_LENGTH(md->value));
            break;
        }
    }
    if (code == COR_OK)
        code = COR_EINTERNAL;
    if (code == COR_EMOVED && moved != NULL)
        read_redirect(&k->trailing_md, moved);
    size_t n = GRPC_SLICE_LENGTH(k->details);
    if (n >= msg_len)
        n = msg_len - 1;
    memcpy(msg, GRPC_SLICE_START_PTR(k->details), n);
    msg[n] = '\0';
    if (n == 0)
        snprintf(msg, msg_len, "%s", cor_strerror(code));
    return code;
}

static cq_slot_t *cq_borrow(cor_client_t *c)
{
    pthread_mutex_lock(&c->lock);
    cq_slot_t *s = c->free_cqs;
    if (s != NULL) {
        c->free_cqs = s->next_free;
        pthread_mutex_unlock(&c->lock);
        return s;
    }
    pthread_mutex_unlock(&c->lock);
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->cq = grpc_completion_queue_create_for_pluck(NULL);
    pthread_mutex_lock(&c->lock);
    s->next_all = c->all_cqs;
    c->all_cqs = s;
    pthread_mutex_unlock(&c->lock);
    return s;
}

static void cq_return(cor_client_t *c, cq_slot_t *s)
{
    pthread_mutex_lock(&c->lock);
    s->next_free = c->free_cqs;
    c->free_cqs = s;
    pthread_mutex_unlock(&c->lock);
}

int cor_client_call(cor_client_t *c, cor_peer_t *p, unsigned method, grpc_slice req,
                    int deadline_ms, grpc_slice *reply, cor_error_t *err, cor_redirect_t *moved)
{
    if (moved != NULL)
        moved->epoch = 0;
    if (method >= c->n_paths) {
        grpc_slice_unref(req);
        return cor_error_set(err, COR_EINVAL, "unknown method index %u", method);
    }
    cq_slot_t *slot = cq_borrow(c);
    if (slot == NULL) {
        grpc_slice_unref(req);
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    }
    cli_call_t k;
    call_init(&k, req);
    k.call = grpc_channel_create_registered_call(p->channel, NULL, GRPC_PROPAGATE_DEFAULTS,
                                                 slot->cq, p->handles[method],
                                                 cor_deadline_ms(deadline_ms), NULL);
    grpc_op ops[6];
    size_t n = unary_ops(&k, ops);
    int rc;
    if (grpc_call_start_batch(k.call, ops, n, &k, NULL) != GRPC_CALL_OK) {
        rc = cor_error_set(err, COR_EINTERNAL, "cannot start call to %s", p->target);
    } else {
        grpc_event ev = grpc_completion_queue_pluck(slot->cq, &k,
                                                    gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        char msg[COR_ERROR_MSG_MAX];
        rc = call_result(&k, ev.success, reply, msg, sizeof(msg), moved);
        if (rc != 0)
            cor_error_set(err, rc, "%s", msg);
    }
    call_destroy(&k);
    cq_return(c, slot);
    return rc;
}

/* Takes a finished or failed async call off the in-flight list (waking
 * cor_client_free if it waits) and frees it. */
static void inflight_remove(cor_client_t *c, cli_call_t *k)
{
    pthread_mutex_lock(&c->lock);
    if (k->prev != NULL)
        k->prev->next = k->next;
    else
        c->inflight = k->next;
    if (k->next != NULL)
        k->next->prev = k->prev;
    c->n_inflight--;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    call_destroy(k);
    free(k);
}

int cor_client_call_async(cor_client_t *c, cor_peer_t *p, unsigned method, grpc_slice req,
                          int deadline_ms, cor_cli_done_cb done, void *arg)
{
    if (method >= c->n_paths) {
        grpc_slice_unref(req);
        return COR_EINVAL;
    }
    pthread_mutex_lock(&c->lock);
    if (!c->thread_started) {
        if (pthread_create(&c->thread, NULL, cq_thread, c) != 0) {
            pthread_mutex_unlock(&c->lock);
            grpc_slice_unref(req);
            return COR_EINTERNAL;
        }
        c->thread_started = 1;
    }
    pthread_mutex_unlock(&c->lock);
    cli_call_t *k = malloc(sizeof(*k));
    if (k == NULL) {
        grpc_slice_unref(req);
        return COR_ENOMEM;
    }
    call_init(k, req);
    k->done = done;
    k->arg = arg;
    k->call = grpc_channel_create_registered_call(p->channel, NULL, GRPC_PROPAGATE_DEFAULTS,
                                                  c->cq, p->handles[method],
                                                  cor_deadline_ms(deadline_ms), NULL);
    pthread_mutex_lock(&c->lock);
    k->prev = NULL;
    k->next = c->inflight;
    if (c->inflight != NULL)
        c->inflight->prev = k;
    c->inflight = k;
    c->n_inflight++;
    pthread_mutex_unlock(&c->lock);

    grpc_op ops[6];
    size_t n = unary_ops(k, ops);
    grpc_call *call = k->call; /* read before k is given away */
    COR_TSAN_GIVE(k);
    if (grpc_call_start_batch(call, ops, n, k, NULL) != GRPC_CALL_OK) {
        inflight_remove(c, k);
        return COR_EINTERNAL;
    }
    return 0;
}

static void *cq_thread(void *arg)
{
    cor_client_t *c = arg;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        cli_call_t *k = ev.tag;
        COR_TSAN_TAKE(k);
        grpc_slice reply = grpc_empty_slice();
        char msg[COR_ERROR_MSG_MAX];
        cor_redirect_t moved;
        int rc = call_result(k, ev.success, &reply, msg, sizeof(msg), &moved);
        k->done(k->arg, rc, msg, moved.epoch != 0 ? &moved : NULL, GRPC_SLICE_START_PTR(reply),
                GRPC_SLICE_LENGTH(reply));
        grpc_slice_unref(reply);

        inflight_remove(c, k);
    }
    return NULL;
}

void cor_client_free(cor_client_t *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    for (cli_call_t *k = c->inflight; k != NULL; k = k->next)
        grpc_call_cancel(k->call, NULL);
    while (c->n_inflight > 0)
        pthread_cond_wait(&c->cond, &c->lock);
    pthread_mutex_unlock(&c->lock);

    grpc_completion_queue_shutdown(c->cq);
    if (c->thread_started)
        pthread_join(c->thread, NULL);
    else
        while (grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
               GRPC_QUEUE_SHUTDOWN) {
        }
    grpc_completion_queue_destroy(c->cq);

    for (size_t i = 0; i < c->n_peers; i++) {
        grpc_channel_destroy(c->peers[i]->channel);
        free(c->peers[i]->target);
        free(c->peers[i]->handles);
        free(c->peers[i]);
    }
    free(c->peers);
    /* Sync queues: no sync call can be running once the caller frees. */
    for (cq_slot_t *s = c->all_cqs; s != NULL;) {
        cq_slot_t *next = s->next_all;
        grpc_completion_queue_shutdown(s->cq);
        while (grpc_completion_queue_pluck(s->cq, NULL, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL)
                   .type != GRPC_QUEUE_SHUTDOWN) {
        }
        grpc_completion_queue_destroy(s->cq);
        free(s);
        s = next;
    }
    grpc_channel_credentials_release(c->creds);
    for (size_t i = 0; i < c->n_paths; i++)
        free(c->paths[i]);
    free(c->paths);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    free(c);
    cor_grpc_release();
}
