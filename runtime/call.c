/*
 * call.c — the call path generated proxies use: cor_call and
 * cor_call_async (DESIGN.md "Calls").
 *
 * A call first passes the client parts of the ref's DM chain, if it has
 * any; their end (or the call itself, without them) is send_call, which
 * picks the route on every attempt:
 *   - the object is hosted in this process (and is not a tombstone): it
 *     runs through cor_obj_invoke, the one function every route ends in,
 *     so the object's server DM parts and its turn rules hold here exactly
 *     as they do for a remote caller;
 *   - otherwise: one InvokeRequest to the object's kernel server, over its
 *     unix socket when the host id is ours, else TCP.
 * When the answer says the object is elsewhere, send_call recovers the
 * same way on both routes: a tombstone's redirect is followed straight to
 * the new place; a plain EMOVED, ENOTFOUND or EUNAVAIL asks the OMS where
 * the object lives now (a few times, briefly, for EMOVED: a move may be
 * committing). A call a client part routed to one replica is not
 * recovered: choosing another replica is that part's job.
 *
 * Asynchronous calls behave as synchronous ones; only where they wait
 * differs. The common cases never block the caller: a remote call is one
 * asynchronous gRPC call (a redirect is followed from its completion); a
 * co-located one runs at once if the object's turn is free, else queues
 * behind it. What may block — client DM parts, asking the OMS — runs on a
 * runtime worker, never on the caller's thread or a completion thread.
 * The callback runs on the caller's thread before cor_call_async returns
 * (co-located, turn free), on the client's completion thread (remote), or
 * on a worker; never inside an object's turn, so it may call the object.
 *
 * Every error the caller sees is prefixed "<Service>.<Method> on object
 * <id>[ at <peer>]".
 */
#include "runtime_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cor/kernel.pb-c.h"
#include "invoke.h"
#include "ref_int.h"
#include "wire.h"

#define MAX_HOPS 8 /* redirects and OMS lookups one call follows */

/* A call on its way out, whichever route it takes. */
typedef struct outcall {
    cor_ref_t *ref;
    const cor_method_desc_t *m;
    const ProtobufCMessage *msg;   /* the request as a message, or NULL: */
    const uint8_t *req;            /* ... packed */
    size_t req_len;
    uint64_t seq;                  /* with the runtime's client id, the call id */
    const cor_dm_replica_t *route; /* a client part chose this replica; NULL: the ref's place */
    cor_reply_form_t form;         /* COR_REPLY_MESSAGE or COR_REPLY_BYTES */
    ProtobufCMessage *reply_msg;   /* out: a heap message the caller frees */
    uint8_t *reply;                /* out: malloc'd payload */
    size_t reply_len;
    char *answered_by;             /* out (ANSWERED_MAX bytes): the peer last called; "" here */
    cor_error_t *err;
} outcall_t;

#define ANSWERED_MAX (COR_ADDR_MAX + 8)

static uint64_t next_seq(cor_runtime_t *rt)
{
    return atomic_fetch_add(&rt->seq, 1) + 1;
}

static void prefix_error(cor_error_t *err, const cor_ref_t *ref, const cor_method_desc_t *m,
                         const char *answered_by)
{
    const char *svc = m->service != NULL ? m->service->name : "?";
    if (answered_by != NULL && answered_by[0] != '\0')
        cor_error_prefix(err, "%s.%s on object %s at %s", svc, m->name, ref->idstr, answered_by);
    else
        cor_error_prefix(err, "%s.%s on object %s", svc, m->name, ref->idstr);
}

/* The object if it lives in this process (a tombstone of one that moved
 * away does not count: calls follow it). Caller puts it. */
static cor_obj_t *local_obj(cor_runtime_t *rt, const cor_object_id_t *id)
{
    cor_obj_t *o = cor_obj_get(rt, id);
    if (o != NULL && atomic_load(&o->moved)) {
        cor_obj_put(o);
        return NULL;
    }
    return o;
}

/* ------------------------------------------------------------------ */
/* one attempt                                                         */

/* Co-located: through the object's own turn, server parts and method. */
static int call_here(outcall_t *c, cor_obj_t *o, cor_redirect_t *moved)
{
    cor_runtime_t *rt = c->ref->rt;
    c->answered_by[0] = '\0';
    cor_invoke_t inv = {.m = c->m, .msg = c->msg, .req = c->req, .req_len = c->req_len,
                        .epoch = c->route != NULL ? c->route->epoch : cor_ref_epoch(c->ref),
                        .client_id = rt->client_id, .seq = c->seq, .caller_node = rt->node_name,
                        .form = c->form, .err = c->err, .moved = moved};
    int rc = cor_obj_invoke(rt, o, &inv);
    if (rc != 0)
        return rc;
    c->reply_msg = inv.reply_msg;
    c->reply = inv.reply;
    c->reply_len = inv.reply_len;
    return 0;
}

/* Remote: one InvokeRequest to the ref's place (or the routed replica). */
static int call_remote(outcall_t *c, cor_redirect_t *moved)
{
    cor_ref_t *ref = c->ref;
    cor_runtime_t *rt = ref->rt;
    const cor_dm_replica_t *r = c->route;
    c->answered_by[0] = '\0';
    cor_peer_t *p = r != NULL ? cor_runtime_peer(rt, r->tcp_address, r->unix_path, r->host_id)
                              : cor_ref_peer(ref);
    if (p == NULL && r != NULL)
        return cor_error_set(c->err, COR_EINVAL, "replica on %s has no address", r->node);
    if (p == NULL) {
        /* Never located (a ref made from an id): ask the OMS. */
        int rc = cor_cluster_refresh(ref, c->err);
        if (rc < 0)
            return rc;
        if ((p = cor_ref_peer(ref)) == NULL)
            return cor_error_set(c->err, COR_ENOTFOUND, "object has no known location");
    }
    snprintf(c->answered_by, ANSWERED_MAX, "%s", cor_peer_target(p));
    cor_wire_call_t w = {.id = &ref->id, .m = c->m, .client_id = rt->client_id, .seq = c->seq,
                         .epoch = r != NULL ? r->epoch : cor_ref_epoch(ref),
                         .caller_node = rt->node_name};
    grpc_slice out;
    int rc = cor_client_call(rt->client, p, COR_M_INVOKE, cor_wire_invoke(&w, c->msg, c->req,
                                                                           c->req_len),
                             cor_ref_deadline(ref), &out, c->err, moved);
    if (rc != 0)
        return rc;
    cor_arena_t scratch;
    cor_arena_init(&scratch, 0);
    const uint8_t *data = GRPC_SLICE_START_PTR(out);
    size_t len = GRPC_SLICE_LENGTH(out);
    if (c->form == COR_REPLY_MESSAGE) {
        rc = cor_wire_unpack_reply(c->m, data, len, NULL, &scratch, &c->reply_msg, c->err);
    } else {
        const uint8_t *pl;
        size_t pn;
        rc = cor_wire_reply_payload(data, len, &scratch, &pl, &pn, c->err);
        if (rc == 0 && (c->reply = malloc(pn ? pn : 1)) == NULL)
            rc = cor_error_set(c->err, COR_ENOMEM, "out of memory");
        if (rc == 0) {
            if (pn > 0)
                memcpy(c->reply, pl, pn);
            c->reply_len = pn;
        }
    }
    cor_arena_close(&scratch);
    grpc_slice_unref(out);
    return rc;
}

/* After a failed attempt: 1 to try again (the ref may point elsewhere
 * now), 0 to give up with rc, or a better error to give up with (err is
 * then replaced). */
static int recover(outcall_t *c, int rc, const cor_redirect_t *moved, int attempt)
{
    /* EMOVED: the old place did not run it (a tombstone answered, or a
     * replica older than the caller's knowledge), so any call may follow
     * the object: straight to the place the tombstone names when it is
     * news, else as the OMS says (it may take a moment to commit the new
     * place, hence a few short waits). */
    int is_moved = rc == COR_EMOVED;
    if (is_moved && attempt < MAX_HOPS && cor_ref_follow(c->ref, moved, c->answered_by) == 1)
        return 1;
    if (!((attempt == 0 && (rc == COR_ENOTFOUND || rc == COR_EUNAVAIL)) ||
          (is_moved && attempt < MAX_HOPS)))
        return 0;
    cor_error_t rerr;
    cor_error_clear(&rerr);
    int r = cor_cluster_refresh(c->ref, &rerr);
    if (r == 1 && cor_ref_peer(c->ref) != NULL)
        return 1;
    if (is_moved && r == 0) {
        struct timespec ts = {0, 5000000L * (attempt + 1)};
        nanosleep(&ts, NULL);
        return 1;
    }
    if (r < 0) {
        *c->err = rerr;
        return r;
    }
    return 0;
}

/* Sends c until it is answered or cannot go anywhere else. first_rc, when
 * not 0, is the failure of an attempt already made (first_moved its
 * redirect): recovery starts from there. */
static int send_call(outcall_t *c, int first_rc, const cor_redirect_t *first_moved)
{
    cor_runtime_t *rt = c->ref->rt;
    cor_redirect_t moved = {.epoch = 0};
    if (first_moved != NULL)
        moved = *first_moved;
    int rc = first_rc;
    int attempt = rc != 0 ? 0 : -1; /* the attempt that rc is the outcome of */
    for (;;) {
        if (rc != 0) {
            if (c->route != NULL)
                return rc;
            int r = recover(c, rc, &moved, attempt);
            if (r <= 0)
                return r < 0 ? r : rc;
        }
        attempt++;
        /* A replica here (co-located, or a local copy of an Immutable
         * object) answers, unless a client part routed the call to a
         * replica on another node (another replica of a replicated
         * object: a follower here must not answer for the leader). */
        cor_obj_t *o = c->route == NULL || strcmp(c->route->node, rt->node_name) == 0
                           ? local_obj(rt, &c->ref->id)
                           : NULL;
        moved.epoch = 0;
        if (o != NULL) {
            rc = call_here(c, o, &moved);
            cor_obj_put(o);
        } else {
            rc = call_remote(c, &moved);
        }
        if (rc == 0)
            return 0;
    }
}

/* ------------------------------------------------------------------ */
/* through client DM parts                                             */

typedef struct client_term {
    cor_ref_t *ref;
    char *answered_by; /* ANSWERED_MAX bytes */
} client_term_t;

/* The end of the client chain: the call leaves for the object. */
static int client_terminal(cor_dm_call_t *c, void *arg)
{
    client_term_t *t = arg;
    outcall_t oc = {.ref = t->ref, .m = c->m, .req = c->req, .req_len = c->req_len,
                    .seq = c->seq, .route = c->routed ? &c->route : NULL,
                    .form = COR_REPLY_BYTES, .answered_by = t->answered_by, .err = c->err};
    int rc = send_call(&oc, 0, NULL);
    if (rc == 0)
        cor_dm_call_give_reply(c, oc.reply, oc.reply_len);
    return rc;
}

static int call_through_dm(cor_ref_t *ref, cor_dm_stack_t *dm, const cor_method_desc_t *m,
                           const uint8_t *req, size_t req_len, uint64_t seq,
                           ProtobufCMessage **reply, char *answered_by, cor_error_t *err)
{
    cor_runtime_t *rt = ref->rt;
    client_term_t t = {.ref = ref, .answered_by = answered_by};
    cor_dm_call_t c = {.m = m, .object = ref->idstr, .req = req, .req_len = req_len,
                       .client_id = rt->client_id, .seq = seq, .err = err, .stack = dm,
                       .terminal = client_terminal, .terminal_arg = &t, .ref = ref};
    int rc = cor_dm_run(&c);
    if (rc == 0) {
        *reply = protobuf_c_message_unpack(m->output, NULL, c.reply_len, c.reply);
        if (*reply == NULL)
            rc = cor_error_set(err, COR_EPROTO, "malformed reply: payload is not a %s",
                               m->output->name);
    }
    free(c.reply);
    return rc;
}

/* Packs req into a malloc'd buffer. */
static uint8_t *pack_request(const ProtobufCMessage *req, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(req);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (buf != NULL)
        protobuf_c_message_pack(req, buf);
    return buf;
}

/* ------------------------------------------------------------------ */
/* cor_call                                                            */

int cor_call(cor_ref_t *ref, const cor_method_desc_t *m, const ProtobufCMessage *req,
             ProtobufCMessage **reply, cor_error_t *err)
{
    *reply = NULL;
    cor_error_t local;
    if (err == NULL)
        err = &local;
    cor_error_clear(err);
    cor_dm_stack_t *dm = NULL;
    int rc;
    if (req->descriptor != m->input)
        rc = cor_error_set(err, COR_EINVAL, "request is a %s, method takes %s",
                           req->descriptor->name, m->input->name);
    else
        rc = cor_ref_client_stack(ref, &dm, err);
    if (rc != 0) {
        prefix_error(err, ref, m, NULL);
        return rc;
    }
    char answered_by[ANSWERED_MAX];
    answered_by[0] = '\0';
    if (dm != NULL) {
        size_t n;
        uint8_t *buf = pack_request(req, &n);
        rc = buf == NULL ? cor_error_set(err, COR_ENOMEM, "out of memory")
                         : call_through_dm(ref, dm, m, buf, n, next_seq(ref->rt), reply,
                                           answered_by, err);
        free(buf);
        if (rc != 0)
            prefix_error(err, ref, m, answered_by);
        return rc;
    }
    /* One call id for every attempt, so a server part can deduplicate. */
    outcall_t c = {.ref = ref, .m = m, .msg = req, .seq = next_seq(ref->rt),
                   .form = COR_REPLY_MESSAGE, .answered_by = answered_by, .err = err};
    rc = send_call(&c, 0, NULL);
    *reply = c.reply_msg;
    if (rc != 0)
        prefix_error(err, ref, m, c.answered_by);
    return rc;
}

/* ------------------------------------------------------------------ */
/* cor_call_async                                                      */

typedef struct async_call {
    cor_job_t job;   /* the part that may block, on a worker */
    cor_ref_t *ref;  /* held (holds + 1) until done */
    const cor_method_desc_t *m;
    cor_call_done_cb done;
    cor_fn_t user_cb;
    void *user_arg;
    uint64_t seq;
    cor_dm_stack_t *dm;    /* client parts to run on the worker, or NULL */
    uint8_t *req;          /* the packed request (malloc'd), once needed */
    size_t req_len;
    grpc_slice env;        /* the envelope sent (kept to resend after a redirect) */
    int has_env;
    int hops;
    cor_invoke_t *here;    /* co-located: the caller's invocation, while it runs */
    /* an outcome to deliver */
    int rc;
    cor_error_t err;
    ProtobufCMessage *reply; /* heap */
    cor_redirect_t moved;
    char target[ANSWERED_MAX];
} async_call_t;

static void async_free(async_call_t *a)
{
    if (a->has_env)
        grpc_slice_unref(a->env);
    free(a->req);
    cor_ref_free(a->ref);
    free(a);
}

/* Hands the outcome to the caller's callback and frees a. */
static void async_deliver(async_call_t *a, int rc, ProtobufCMessage *reply, cor_error_t *err)
{
    if (rc != 0) {
        reply = NULL;
        prefix_error(err, a->ref, a->m, a->target);
    }
    a->done(rc, reply, err, a->user_cb, a->user_arg);
    async_free(a);
}

static void async_cancel(cor_job_t *j)
{
    async_call_t *a = (async_call_t *)j;
    cor_error_t err;
    cor_error_set(&err, COR_ECANCELLED, "the runtime is shutting down");
    async_deliver(a, COR_ECANCELLED, NULL, &err);
}

/* The request's packed bytes (from the envelope when only that exists). */
static int async_request(async_call_t *a, cor_error_t *err)
{
    if (a->req != NULL || !a->has_env)
        return 0;
    cor_arena_t arena;
    cor_arena_init(&arena, 0);
    Cor__InvokeRequest *env = cor__invoke_request__unpack(&arena.pb, GRPC_SLICE_LENGTH(a->env),
                                                          GRPC_SLICE_START_PTR(a->env));
    int rc = 0;
    if (env == NULL || (a->req = malloc(env->payload.len ? env->payload.len : 1)) == NULL) {
        rc = cor_error_set(err, COR_ENOMEM, "out of memory");
    } else {
        if (env->payload.len > 0)
            memcpy(a->req, env->payload.data, env->payload.len);
        a->req_len = env->payload.len;
    }
    cor_arena_close(&arena);
    return rc;
}

/* On a worker: what may block. Client DM parts and all (a->dm), or the
 * synchronous call path picking up from the failure in a->rc. */
static void async_slow(cor_job_t *j)
{
    async_call_t *a = (async_call_t *)j;
    cor_error_t err = a->err;
    ProtobufCMessage *reply = NULL;
    int rc = async_request(a, &err);
    if (rc == 0 && a->dm != NULL) {
        rc = call_through_dm(a->ref, a->dm, a->m, a->req, a->req_len, a->seq, &reply, a->target,
                             &err);
    } else if (rc == 0) {
        outcall_t c = {.ref = a->ref, .m = a->m, .req = a->req, .req_len = a->req_len,
                       .seq = a->seq, .form = COR_REPLY_MESSAGE, .answered_by = a->target,
                       .err = &err};
        rc = send_call(&c, a->rc, &a->moved);
        reply = c.reply_msg;
    }
    async_deliver(a, rc, reply, &err);
    if (reply != NULL)
        protobuf_c_message_free_unpacked(reply, NULL);
}

/* Hands a to a worker; when that cannot be (the runtime is stopping) the
 * outcome so far is delivered as it is. */
static void async_to_worker(async_call_t *a)
{
    a->job.run = async_slow;
    a->job.cancel = async_cancel;
    if (cor_workers_post(&a->ref->rt->workers, &a->job) != 0) {
        if (a->rc == 0)
            cor_error_set(&a->err, a->rc = COR_ESHUTDOWN, "the runtime is shutting down");
        async_deliver(a, a->rc, NULL, &a->err);
    }
}

static void async_done(void *arg, int code, const char *msg, const cor_redirect_t *moved,
                       const uint8_t *data, size_t len);

/* Sends (or resends) a's envelope to the ref's place. 0, or the code of
 * an immediate failure (then async_done will not run). */
static int async_send(async_call_t *a)
{
    cor_ref_t *ref = a->ref;
    cor_peer_t *p = cor_ref_peer(ref);
    if (p == NULL)
        return COR_ENOTFOUND;
    snprintf(a->target, sizeof(a->target), "%s", cor_peer_target(p));
    return cor_client_call_async(ref->rt->client, p, COR_M_INVOKE, grpc_slice_ref(a->env),
                                 cor_ref_deadline(ref), async_done, a);
}

/* Sends a remotely; with no place to send it to (or a refusal at once),
 * the worker takes over as the synchronous path would. */
static void async_start(async_call_t *a)
{
    int rc = async_send(a);
    if (rc == 0)
        return;
    a->rc = rc;
    cor_error_set(&a->err, rc, "%s", rc == COR_ENOTFOUND ? "object has no known location"
                                                         : cor_strerror(rc));
    async_to_worker(a);
}

/* Completion of a remote attempt, on the client's completion thread. */
static void async_done(void *arg, int code, const char *msg, const cor_redirect_t *moved,
                       const uint8_t *data, size_t len)
{
    async_call_t *a = arg;
    cor_error_t err;
    cor_error_clear(&err);
    if (code == COR_EMOVED && a->hops < MAX_HOPS &&
        cor_ref_follow(a->ref, moved, a->target) == 1) {
        /* A tombstone's redirect: resend to the new place (it did not run
         * there). */
        a->hops++;
        if (async_send(a) == 0)
            return;
    }
    if (code == COR_EMOVED || code == COR_ENOTFOUND || code == COR_EUNAVAIL) {
        /* Ask the OMS, as a synchronous call would: not on this thread. */
        a->rc = code;
        cor_error_set(&a->err, code, "%s", msg);
        a->moved.epoch = 0;
        async_to_worker(a);
        return;
    }
    cor_arena_t arena;
    cor_arena_init(&arena, 0);
    ProtobufCMessage *reply = NULL;
    int rc = code;
    if (rc == 0)
        rc = cor_wire_unpack_reply(a->m, data, len, &arena.pb, &arena, &reply, &err);
    else
        cor_error_set(&err, code, "%s", msg);
    async_deliver(a, rc, reply, &err);
    cor_arena_close(&arena);
}

/* After a co-located attempt, outside the object's turn: deliver, or
 * follow a tombstone's redirect remotely. */
static void async_local_next(cor_job_t *j)
{
    async_call_t *a = (async_call_t *)j;
    if (a->rc == COR_EMOVED && a->hops < MAX_HOPS && cor_ref_follow(a->ref, &a->moved, "") == 1) {
        a->hops++;
        a->rc = 0;
        a->reply = NULL;
        async_start(a);
        return;
    }
    ProtobufCMessage *reply = a->reply;
    async_deliver(a, a->rc, reply, &a->err);
    if (reply != NULL)
        protobuf_c_message_free_unpacked(reply, NULL);
}

/* cor_obj_invoke's done, in the object's turn: takes the outcome only.
 * Run at once (inv is the caller's own), it marks inv and cor_call_async
 * goes on once the turn is released; queued, a worker goes on. Either
 * way the callback runs outside the turn, so it may call the object. */
static void async_local_done(cor_invoke_t *inv)
{
    async_call_t *a = inv->user;
    a->rc = inv->rc;
    a->reply = inv->reply_msg;
    if (inv->err != &a->err) /* a queued copy's own */
        a->err = *inv->err;
    if (inv->moved != &a->moved)
        a->moved = *inv->moved;
    if (a->rc == COR_EMOVED && a->moved.epoch != 0 && !a->has_env) {
        /* It goes remote next: keep the request as an envelope. */
        cor_wire_call_t w = {.id = &a->ref->id, .m = a->m, .client_id = a->ref->rt->client_id,
                             .seq = a->seq, .epoch = a->moved.epoch,
                             .caller_node = a->ref->rt->node_name};
        a->env = cor_wire_invoke(&w, inv->msg, inv->req, inv->req_len);
        a->has_env = 1;
    }
    if (inv == a->here) {
        inv->user = NULL;
        return;
    }
    a->job.run = async_local_next;
    a->job.cancel = async_local_next; /* it ran: its outcome is still news */
    if (cor_workers_post(&a->ref->rt->workers, &a->job) != 0)
        async_local_next(&a->job);
}

int cor_call_async(cor_ref_t *ref, const cor_method_desc_t *m, const ProtobufCMessage *req,
                   cor_call_done_cb done, cor_fn_t user_cb, void *user_arg)
{
    if (req->descriptor != m->input)
        return COR_EINVAL;
    cor_error_t err;
    cor_error_clear(&err);
    cor_dm_stack_t *dm = NULL;
    int rc = cor_ref_client_stack(ref, &dm, &err);
    if (rc != 0)
        return rc;
    cor_runtime_t *rt = ref->rt;
    async_call_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return COR_ENOMEM;
    atomic_fetch_add(&ref->holds, 1);
    a->ref = ref;
    a->m = m;
    a->done = done;
    a->user_cb = user_cb;
    a->user_arg = user_arg;
    a->seq = next_seq(rt);
    cor_error_clear(&a->err);
    if (dm != NULL) {
        /* Client parts may wait, retry, back off: on a worker. */
        a->dm = dm;
        if ((a->req = pack_request(req, &a->req_len)) == NULL) {
            async_free(a);
            return COR_ENOMEM;
        }
        a->job.run = async_slow;
        a->job.cancel = async_cancel;
        rc = cor_workers_post(&rt->workers, &a->job);
        if (rc != 0)
            async_free(a);
        return rc;
    }
    cor_obj_t *o = local_obj(rt, &ref->id);
    if (o != NULL) {
        cor_invoke_t inv = {.m = m, .msg = req, .epoch = cor_ref_epoch(ref),
                            .client_id = rt->client_id, .seq = a->seq,
                            .caller_node = rt->node_name, .form = COR_REPLY_MESSAGE,
                            .done = async_local_done, .user = a, .err = &a->err,
                            .moved = &a->moved};
        a->here = &inv;
        rc = cor_obj_invoke(rt, o, &inv);
        cor_obj_put(o);
        if (rc != 0) { /* it could not even be queued */
            async_free(a);
            return rc;
        }
        if (inv.user == NULL) /* it ran at once: go on here, outside the turn */
            async_local_next(&a->job);
        return 0;
    }
    cor_wire_call_t w = {.id = &ref->id, .m = m, .client_id = rt->client_id, .seq = a->seq,
                         .epoch = cor_ref_epoch(ref), .caller_node = rt->node_name};
    a->env = cor_wire_invoke(&w, req, NULL, 0);
    a->has_env = 1;
    async_start(a);
    return 0;
}
