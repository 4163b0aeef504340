/*
 * invoke.c — running a call on a hosted object, whichever route brought
 * it, and the Kernel.Invoke handler; see invoke.h for the steps.
 *
 * Inside the turn a call needs memory for its decoded request and its
 * reply: one arena per call, closed before the turn is released, by which
 * time the reply has been handed out in the route's form (a heap message,
 * malloc'd bytes, or a packed envelope). That ordering is the point: a
 * method may answer with pointers into its object's state (kv's Get does),
 * which the next call may free.
 *
 * Queued calls. A caller that must not wait (a server completion thread,
 * an asynchronous caller) and finds the object busy leaves a queued copy:
 * one malloc holding the cor_invoke_t, the request bytes (packed here if
 * the caller gave a message), the method name and the caller's node. The
 * thread that holds the turn runs it and calls `done` before it moves on.
 *
 * Failure modes: a request that does not decode is EINVAL naming the type;
 * an unknown method EUNIMPL; another interface revision EREVISION; a
 * tombstone EMOVED with a structured redirect; a caller that knows a newer
 * placement EMOVED without one (it asks the OMS); out of memory ENOMEM. In
 * every case nothing in the object changed.
 */
#include "invoke.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsm.h"
#include "runtime_int.h"
#include "wire.h"

/* ------------------------------------------------------------------ */
/* inside the turn                                                     */

typedef struct exec {
    cor_runtime_t *rt;
    cor_obj_t *o;
    cor_invoke_t *inv;
    const cor_method_desc_t *m; /* the class's own descriptor */
    cor_arena_t *arena;
} exec_t;

/* The request as packed bytes: the caller's, or its message packed into
 * the call's arena. */
static int request_bytes(exec_t *x, const uint8_t **req, size_t *len)
{
    cor_invoke_t *inv = x->inv;
    if (inv->msg == NULL || inv->req != NULL) {
        *req = inv->req;
        *len = inv->req_len;
        return 0;
    }
    size_t n = protobuf_c_message_get_packed_size(inv->msg);
    uint8_t *b = cor_arena_alloc(x->arena, n ? n : 1);
    if (b == NULL)
        return cor_error_set(inv->err, COR_ENOMEM, "out of memory packing a %zu-byte request", n);
    protobuf_c_message_pack(inv->msg, b);
    *req = b;
    *len = n;
    return 0;
}

/* Runs the method: the caller's message as it is when it has the class's
 * type, else the request unpacked into the arena. *rep is the reply, in
 * the arena. */
static int run_method(exec_t *x, const uint8_t *req, size_t len, ProtobufCMessage **rep)
{
    cor_invoke_t *inv = x->inv;
    const cor_method_desc_t *m = x->m;
    const ProtobufCMessage *in = inv->msg;
    if (in == NULL || in->descriptor != m->input) {
        in = protobuf_c_message_unpack(m->input, &x->arena->pb, len, req);
        if (in == NULL)
            return cor_error_set(inv->err, COR_EINVAL, "malformed request: payload is not a %s",
                                 m->input->name);
    }
    ProtobufCMessage *r = cor_arena_alloc(x->arena, m->output->sizeof_message);
    if (r == NULL)
        return cor_error_set(inv->err, COR_ENOMEM, "out of memory");
    protobuf_c_message_init(m->output, r);
    atomic_fetch_add(&x->rt->calls_served, 1);
    cor_ctx_t ctx = {.rt = x->rt, .arena = x->arena, .id = &x->o->id, .method = m,
                     .err = inv->err};
    int rc = cor_obj_run_method(x->o, m, &ctx, in, r);
    if (rc == COR_EMOVED) {
        /* Only the runtime's tombstones redirect callers: an application
         * cannot send them elsewhere with a crafted error. */
        char msg[COR_ERROR_MSG_MAX];
        snprintf(msg, sizeof(msg), "%s", inv->err->msg);
        rc = cor_error_set(inv->err, COR_EAPP,
                           "the method answered EMOVED, which only the runtime may: %.160s", msg);
    }
    if (rc == 0)
        *rep = r;
    return rc;
}

/* The descriptor the reply is unpacked with: the caller's own when it gave
 * one (the same message, maybe another build of its descriptor). */
static const ProtobufCMessageDescriptor *reply_type(const exec_t *x)
{
    return x->inv->m != NULL ? x->inv->m->output : x->m->output;
}

/* Hands a reply message (in the arena) out in the route's form. */
static int hand_out_message(exec_t *x, const ProtobufCMessage *rep)
{
    cor_invoke_t *inv = x->inv;
    if (inv->form == COR_REPLY_ENVELOPE) {
        Cor__InvokeReply env = COR__INVOKE_REPLY__INIT;
        inv->out = cor_wire_pack(&env.base, 1, rep);
        return 0;
    }
    size_t n = protobuf_c_message_get_packed_size(rep);
    if (inv->form == COR_REPLY_BYTES) {
        inv->reply = malloc(n ? n : 1);
        if (inv->reply == NULL)
            return cor_error_set(inv->err, COR_ENOMEM, "out of memory");
        protobuf_c_message_pack(rep, inv->reply);
        inv->reply_len = n;
        return 0;
    }
    /* A deep copy the caller owns, exactly as after a remote call. */
    uint8_t small[512];
    uint8_t *buf = n <= sizeof(small) ? small : cor_arena_alloc(x->arena, n);
    if (buf == NULL)
        return cor_error_set(inv->err, COR_ENOMEM, "out of memory copying the reply");
    protobuf_c_message_pack(rep, buf);
    inv->reply_msg = protobuf_c_message_unpack(reply_type(x), NULL, n, buf);
    if (inv->reply_msg == NULL)
        return cor_error_set(inv->err, COR_ENOMEM, "out of memory copying the reply");
    return 0;
}

/* Hands packed reply bytes (malloc'd, taken) out in the route's form. */
static int hand_out_bytes(exec_t *x, uint8_t *bytes, size_t len)
{
    cor_invoke_t *inv = x->inv;
    int rc = 0;
    if (inv->form == COR_REPLY_BYTES) {
        inv->reply = bytes;
        inv->reply_len = len;
        return 0;
    }
    if (inv->form == COR_REPLY_ENVELOPE) {
        Cor__InvokeReply env = COR__INVOKE_REPLY__INIT;
        env.payload.data = bytes;
        env.payload.len = len;
        inv->out = grpc_slice_malloc(cor__invoke_reply__get_packed_size(&env));
        cor__invoke_reply__pack(&env, GRPC_SLICE_START_PTR(inv->out));
    } else {
        inv->reply_msg = protobuf_c_message_unpack(reply_type(x), NULL, len, bytes);
        if (inv->reply_msg == NULL)
            rc = cor_error_set(inv->err, COR_EPROTO, "reply is not a %s", reply_type(x)->name);
    }
    free(bytes);
    return rc;
}

/* The end of the server DM chain: the method, from request bytes to reply
 * bytes. */
static int method_terminal(cor_dm_call_t *c, void *arg)
{
    exec_t *x = arg;
    ProtobufCMessage *rep = NULL;
    int rc = run_method(x, c->req, c->req_len, &rep);
    if (rc != 0)
        return rc;
    size_t n = protobuf_c_message_get_packed_size(rep);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf == NULL)
        return cor_error_set(c->err, COR_ENOMEM, "out of memory");
    protobuf_c_message_pack(rep, buf);
    cor_dm_call_give_reply(c, buf, n);
    return 0;
}

static int through_dm(exec_t *x)
{
    static const unsigned char no_client[16];
    cor_invoke_t *inv = x->inv;
    const uint8_t *req;
    size_t len;
    int rc = request_bytes(x, &req, &len);
    if (rc != 0)
        return rc;
    cor_dm_call_t c = {.m = x->m, .object = x->o->idstr, .req = req, .req_len = len,
                       .rt = x->rt, .obj = x->o,
                       .caller_node = inv->caller_node != NULL ? inv->caller_node : "",
                       .client_id = inv->client_id != NULL ? inv->client_id : no_client,
                       .seq = inv->seq, .err = inv->err, .stack = x->o->dm,
                       .terminal = method_terminal, .terminal_arg = x};
    rc = cor_dm_run(&c);
    if (rc == 0) {
        rc = hand_out_bytes(x, c.reply, c.reply_len);
        c.reply = NULL;
    }
    free(c.reply);
    return rc;
}

static int direct(exec_t *x)
{
    const uint8_t *req = NULL;
    size_t len = 0;
    int rc = 0;
    if (x->inv->msg == NULL || x->inv->msg->descriptor != x->m->input)
        rc = request_bytes(x, &req, &len);
    ProtobufCMessage *rep = NULL;
    if (rc == 0)
        rc = run_method(x, req, len, &rep);
    if (rc == 0)
        rc = hand_out_message(x, rep);
    return rc;
}

static int exec_call(cor_runtime_t *rt, cor_obj_t *o, cor_invoke_t *inv)
{
    if (atomic_load(&o->moved)) {
        /* Not run here: the caller follows the object. */
        snprintf(inv->moved->to, sizeof(inv->moved->to), "%s", o->moved_to);
        inv->moved->epoch = o->moved_epoch;
        return cor_error_set(inv->err, COR_EMOVED, "object moved to %s (epoch %llu)",
                             o->moved_to, (unsigned long long)o->moved_epoch);
    }
    /* A caller that knows a newer placement than this replica's is talking
     * to a stale copy (say, a node back from the dead whose object was
     * restored elsewhere): never run it here. */
    if (inv->epoch != 0 && o->epoch != 0 && inv->epoch > o->epoch)
        return cor_error_set(inv->err, COR_EMOVED,
                             "this replica is at epoch %llu, the caller knows epoch %llu: stale",
                             (unsigned long long)o->epoch, (unsigned long long)inv->epoch);
    const cor_service_desc_t *svc = o->cls->service;
    const cor_method_desc_t *m = inv->m;
    uint64_t fingerprint = inv->fingerprint;
    if (m != NULL) {
        fingerprint = m->service != NULL ? m->service->fingerprint : 0;
        if (m->service != svc)
            m = cor_service_method(svc, m->name, strlen(m->name));
    } else {
        m = cor_service_method(svc, inv->method, strlen(inv->method));
    }
    if (m == NULL || m->invoke == NULL)
        return cor_error_set(inv->err, COR_EUNIMPL, "class %s has no method named '%.64s'",
                             o->cls->name, inv->m != NULL ? inv->m->name : inv->method);
    if (fingerprint != 0 && fingerprint != svc->fingerprint)
        return cor_error_set(inv->err, COR_EREVISION,
                             "caller's interface %016llx differs from %s's %016llx here",
                             (unsigned long long)fingerprint, svc->name,
                             (unsigned long long)svc->fingerprint);
    cor_arena_t arena;
    cor_arena_init(&arena, rt->opts.max_message_bytes * 4);
    exec_t x = {.rt = rt, .o = o, .inv = inv, .m = m, .arena = &arena};
    int rc = o->dm != NULL ? through_dm(&x) : direct(&x);
    cor_arena_close(&arena);
    return rc;
}

/* Runs inv in o's turn (the caller holds or shares it). */
static void exec(cor_runtime_t *rt, cor_obj_t *o, cor_invoke_t *inv)
{
    cor_error_clear(inv->err);
    inv->moved->epoch = 0;
    inv->reply_msg = NULL;
    inv->reply = NULL;
    inv->reply_len = 0;
    inv->rc = exec_call(rt, o, inv);
    if (inv->rc != 0 && inv->err->code == COR_OK)
        cor_error_set(inv->err, inv->rc, "%s", cor_strerror(inv->rc));
}

/* ------------------------------------------------------------------ */
/* entering the turn                                                   */

typedef struct sync_exec {
    cor_runtime_t *rt;
    cor_obj_t *o;
    cor_invoke_t *inv;
} sync_exec_t;

static void sync_exec_fn(void *arg)
{
    sync_exec_t *s = arg;
    exec(s->rt, s->o, s->inv);
}

/* A call queued behind a busy object, with copies of what it needs. */
typedef struct queued {
    cor_obj_task_t task;
    cor_runtime_t *rt;
    cor_obj_t *o; /* a reference of its own */
    cor_invoke_t inv;
    cor_error_t err;      /* inv.err and inv.moved point here */
    cor_redirect_t moved;
    uint8_t data[]; /* request, client id, method name, caller node */
} queued_t;

static void queued_run(cor_obj_task_t *t)
{
    queued_t *q = (queued_t *)t;
    exec(q->rt, q->o, &q->inv);
    q->inv.done(&q->inv);
    cor_obj_put(q->o);
    free(q);
}

static queued_t *queue_copy(cor_runtime_t *rt, cor_obj_t *o, const cor_invoke_t *inv)
{
    size_t req_len = inv->req != NULL || inv->msg == NULL
                         ? inv->req_len
                         : protobuf_c_message_get_packed_size(inv->msg);
    const char *method = inv->m == NULL && inv->method != NULL ? inv->method : "";
    const char *node = inv->caller_node != NULL ? inv->caller_node : "";
    size_t ml = strlen(method) + 1, nl = strlen(node) + 1;
    queued_t *q = malloc(sizeof(*q) + req_len + 16 + ml + nl);
    if (q == NULL)
        return NULL;
    q->task.run = queued_run;
    q->rt = rt;
    q->o = o;
    q->inv = *inv;
    q->inv.err = &q->err;
    q->inv.moved = &q->moved;
    uint8_t *p = q->data;
    if (inv->msg != NULL && inv->req == NULL)
        protobuf_c_message_pack(inv->msg, p);
    else if (req_len > 0)
        memcpy(p, inv->req, req_len);
    q->inv.msg = NULL;
    q->inv.req = p;
    q->inv.req_len = req_len;
    p += req_len;
    if (inv->client_id != NULL) {
        memcpy(p, inv->client_id, 16);
        q->inv.client_id = p;
    }
    p += 16;
    memcpy(p, method, ml);
    q->inv.method = (const char *)p;
    p += ml;
    memcpy(p, node, nl);
    q->inv.caller_node = (const char *)p;
    return q;
}

int cor_obj_invoke(cor_runtime_t *rt, cor_obj_t *o, cor_invoke_t *inv)
{
    /* A replicated object's calls go through its log (or a confirmed read)
     * first; the apply loop brings them back here. */
    if (o->rsm != NULL && !cor_rsm_applying(o))
        return cor_rsm_invoke(rt, o, inv);
    enum cor_turn turn = cor_obj_try_enter(o);
    if (inv->done == NULL && turn == COR_TURN_QUEUED) {
        /* Busy: wait for the turn (the thread holding it runs this call
         * and wakes us). */
        sync_exec_t s = {rt, o, inv};
        cor_obj_run_sync(o, sync_exec_fn, &s);
        return inv->rc;
    }
    if (inv->done == NULL) {
        exec(rt, o, inv);
        cor_obj_exit(o, turn);
        return inv->rc;
    }
    if (turn != COR_TURN_QUEUED) {
        /* The common case: run it now, and answer before draining what
         * queued behind it. */
        exec(rt, o, inv);
        inv->done(inv);
        cor_obj_exit(o, turn);
        return 0;
    }
    queued_t *q = queue_copy(rt, o, inv);
    if (q == NULL) {
        inv->rc = cor_error_set(inv->err, COR_ENOMEM, "out of memory queueing a call");
        return inv->rc;
    }
    atomic_fetch_add(&o->refs, 1);
    turn = cor_obj_enter(o, &q->task);
    if (turn != COR_TURN_QUEUED) { /* it went idle meanwhile */
        queued_run(&q->task);
        cor_obj_exit(o, turn);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Kernel.Invoke                                                       */

/* Decodes an InvokeRequest into arena as an invocation of the object it
 * names (*o: a reference the caller puts). */
static int decode(cor_runtime_t *rt, const uint8_t *data, size_t len, cor_arena_t *arena,
                  cor_invoke_t *inv, cor_obj_t **o)
{
    *o = NULL;
    Cor__InvokeRequest *req = cor__invoke_request__unpack(&arena->pb, len, data);
    if (req == NULL)
        return cor_error_set(inv->err, COR_EINVAL,
                             "malformed invoke request: not a cor.InvokeRequest");
    cor_object_id_t id;
    if (cor_object_id_from_bytes(req->object_id.data, req->object_id.len, &id) != 0)
        return cor_error_set(inv->err, COR_EINVAL,
                             "malformed invoke request: object id has %zu bytes, not 16",
                             req->object_id.len);
    inv->method = req->method;
    inv->fingerprint = req->fingerprint;
    inv->epoch = req->epoch;
    inv->req = req->payload.data;
    inv->req_len = req->payload.len;
    inv->client_id = req->client_id.len == 16 ? req->client_id.data : NULL;
    inv->seq = req->seq;
    inv->caller_node = req->caller_node;
    *o = cor_obj_get(rt, &id);
    if (*o == NULL)
        return cor_error_set(inv->err, COR_ENOTFOUND, "object not hosted here");
    return 0;
}

static void answer(cor_invoke_t *inv)
{
    cor_srv_call_t *call = inv->user;
    if (inv->rc == 0)
        cor_srv_call_reply(call, inv->out);
    else if (inv->moved->epoch != 0)
        cor_srv_call_redirect(call, inv->err->msg, inv->moved);
    else
        cor_srv_call_fail(call, inv->rc, inv->err->msg);
}

static void invoke_handler(void *arg, cor_srv_call_t *call, const uint8_t *data, size_t len)
{
    cor_runtime_t *rt = arg;
    cor_arena_t arena;
    cor_arena_init(&arena, rt->opts.max_message_bytes * 4);
    cor_error_t err;
    cor_redirect_t moved;
    cor_error_clear(&err);
    cor_invoke_t inv = {.form = COR_REPLY_ENVELOPE, .done = answer, .user = call, .err = &err,
                        .moved = &moved};
    cor_obj_t *o = NULL;
    int rc = decode(rt, data, len, &arena, &inv, &o);
    if (rc == 0)
        rc = cor_obj_invoke(rt, o, &inv);
    if (rc != 0)
        cor_srv_call_fail(call, rc, err.msg);
    if (o != NULL)
        cor_obj_put(o);
    cor_arena_close(&arena);
}

int cor_invoke_serve(cor_runtime_t *rt, cor_server_t *s, cor_error_t *err)
{
    return cor_server_add_method(s, cor_method_paths[COR_M_INVOKE], invoke_handler, rt, err);
}

int cor_runtime_dispatch_bytes(cor_runtime_t *rt, const uint8_t *data, size_t len, uint8_t **reply,
                               size_t *reply_len, cor_error_t *err)
{
    cor_arena_t arena;
    cor_arena_init(&arena, rt->opts.max_message_bytes * 4);
    cor_error_t local;
    cor_redirect_t moved;
    if (err == NULL)
        err = &local;
    cor_error_clear(err);
    cor_invoke_t inv = {.form = COR_REPLY_ENVELOPE, .err = err, .moved = &moved};
    cor_obj_t *o = NULL;
    int rc = decode(rt, data, len, &arena, &inv, &o);
    if (rc == 0)
        rc = cor_obj_invoke(rt, o, &inv);
    if (rc == 0) {
        size_t n = GRPC_SLICE_LENGTH(inv.out);
        *reply = malloc(n ? n : 1);
        if (*reply == NULL) {
            rc = cor_error_set(err, COR_ENOMEM, "out of memory");
        } else {
            memcpy(*reply, GRPC_SLICE_START_PTR(inv.out), n);
            *reply_len = n;
        }
        grpc_slice_unref(inv.out);
    }
    if (o != NULL)
        cor_obj_put(o);
    cor_arena_close(&arena);
    return rc;
}
