/*
 * call.c — object references and the call path generated proxies use.
 *
 * A ref knows the object's id, class and last known location, and caches
 * the transport peer it chose for that location (unix socket when the host
 * id is ours, TCP otherwise). cor_call and cor_call_async first give the
 * client side of the DM chain its turn (an empty hook until the DM
 * framework lands), then take the co-located fast path when this runtime
 * hosts the object, else the remote path. Every error the caller sees is
 * prefixed "<Service>.<Method> on object <id>[ at <peer>]".
 */
#include "runtime_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cor/kernel.pb-c.h"

/* ------------------------------------------------------------------ */
/* refs                                                                */

static char *dup_or_null(const char *s)
{
    return (s != NULL && s[0] != '\0') ? strdup(s) : NULL;
}

cor_ref_t *cor_ref_new(cor_runtime_t *rt, const cor_object_id_t *id, const char *class_name)
{
    cor_ref_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->rt = rt;
    r->id = *id;
    cor_object_id_format(id, r->idstr);
    r->class_name = strdup(class_name != NULL ? class_name : "");
    if (r->class_name == NULL) {
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->lock, NULL);
    atomic_init(&r->holds, 1);
    return r;
}

static int valid_tcp_addr(const char *a)
{
    const char *colon = strrchr(a, ':');
    if (colon == NULL || colon == a || colon[1] == '\0')
        return 0;
    for (const char *p = colon + 1; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    long port = strtol(colon + 1, NULL, 10);
    return port > 0 && port < 65536 && strlen(a) < COR_ADDR_MAX;
}

int cor_ref_set_location(cor_ref_t *ref, const char *tcp_addr, const char *unix_path,
                         const char *host_id, uint64_t epoch, cor_error_t *err)
{
    if (tcp_addr != NULL && tcp_addr[0] != '\0' && !valid_tcp_addr(tcp_addr))
        return cor_error_set(err, COR_EINVAL, "'%s' is not a host:port address", tcp_addr);
    if (unix_path != NULL && strlen(unix_path) >= 100)
        return cor_error_set(err, COR_EINVAL, "unix socket path is longer than 99 bytes");
    char *t = dup_or_null(tcp_addr), *u = dup_or_null(unix_path), *h = dup_or_null(host_id);
    if ((tcp_addr && tcp_addr[0] && !t) || (unix_path && unix_path[0] && !u) ||
        (host_id && host_id[0] && !h)) {
        free(t);
        free(u);
        free(h);
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    }
    pthread_mutex_lock(&ref->lock);
    free(ref->tcp_addr);
    free(ref->unix_path);
    free(ref->host_id);
    ref->tcp_addr = t;
    ref->unix_path = u;
    ref->host_id = h;
    ref->epoch = epoch;
    ref->peer = NULL;
    pthread_mutex_unlock(&ref->lock);
    return 0;
}

void cor_ref_set_deadline(cor_ref_t *ref, int deadline_ms)
{
    ref->deadline_ms = deadline_ms > 0 ? deadline_ms : 0;
}

const cor_object_id_t *cor_ref_id(const cor_ref_t *ref)
{
    return &ref->id;
}

const char *cor_ref_class(const cor_ref_t *ref)
{
    return ref->class_name;
}

cor_runtime_t *cor_ref_runtime(const cor_ref_t *ref)
{
    return ref->rt;
}

cor_ref_t *cor_ref_dup(const cor_ref_t *ref)
{
    cor_ref_t *r = cor_ref_new(ref->rt, &ref->id, ref->class_name);
    if (r == NULL)
        return NULL;
    cor_ref_t *src = (cor_ref_t *)ref; /* lock is not part of the value */
    pthread_mutex_lock(&src->lock);
    int rc = cor_ref_set_location(r, src->tcp_addr, src->unix_path, src->host_id, src->epoch, NULL);
    char *chain = dup_or_null(src->dm_chain);
    pthread_mutex_unlock(&src->lock);
    if (rc == 0)
        rc = cor_ref_set_chain(r, chain, NULL);
    free(chain);
    if (rc != 0) {
        cor_ref_free(r);
        return NULL;
    }
    r->deadline_ms = ref->deadline_ms;
    return r;
}

int cor_ref_set_chain(cor_ref_t *ref, const char *chain, cor_error_t *err)
{
    char *copy = dup_or_null(chain);
    if (chain != NULL && chain[0] != '\0' && copy == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    pthread_mutex_lock(&ref->lock);
    free(ref->dm_chain);
    ref->dm_chain = copy;
    cor_dm_stack_free(ref->dm);
    ref->dm = NULL;
    ref->dm_ready = 0;
    pthread_mutex_unlock(&ref->lock);
    return 0;
}

void cor_ref_free(cor_ref_t *ref)
{
    /* An async call in flight keeps the ref (to follow a move) until it
     * completes; the last of the holders frees it. */
    if (ref == NULL || atomic_fetch_sub(&ref->holds, 1) != 1)
        return;
    free(ref->dm_chain);
    cor_dm_stack_free(ref->dm);
    free(ref->class_name);
    free(ref->tcp_addr);
    free(ref->unix_path);
    free(ref->host_id);
    pthread_mutex_destroy(&ref->lock);
    free(ref);
}

int cor_ref_encode(const cor_ref_t *ref, uint8_t **buf, size_t *len, cor_error_t *err)
{
    cor_ref_t *r = (cor_ref_t *)ref;
    Cor__ObjectRef m = COR__OBJECT_REF__INIT;
    m.id.data = r->id.b;
    m.id.len = sizeof(r->id.b);
    m.class_name = r->class_name;
    pthread_mutex_lock(&r->lock);
    m.tcp_address = r->tcp_addr ? r->tcp_addr : (char *)"";
    m.unix_path = r->unix_path ? r->unix_path : (char *)"";
    m.host_id = r->host_id ? r->host_id : (char *)"";
    m.epoch = r->epoch;
    m.dm_chain = r->dm_chain ? r->dm_chain : (char *)"";
    size_t n = cor__object_ref__get_packed_size(&m);
    uint8_t *b = malloc(n ? n : 1);
    if (b != NULL)
        cor__object_ref__pack(&m, b);
    pthread_mutex_unlock(&r->lock);
    if (b == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    *buf = b;
    *len = n;
    return 0;
}

int cor_ref_decode(cor_runtime_t *rt, const uint8_t *buf, size_t len, cor_ref_t **out,
                   cor_error_t *err)
{
    Cor__ObjectRef *m = cor__object_ref__unpack(NULL, len, buf);
    if (m == NULL)
        return cor_error_set(err, COR_EINVAL, "malformed object reference: not a cor.ObjectRef");
    int rc = 0;
    cor_object_id_t id;
    if (cor_object_id_from_bytes(m->id.data, m->id.len, &id) != 0 || cor_object_id_is_nil(&id)) {
        rc = cor_error_set(err, COR_EINVAL, "malformed object reference: bad object id");
        goto out;
    }
    cor_ref_t *r = cor_ref_new(rt, &id, m->class_name);
    if (r == NULL) {
        rc = cor_error_set(err, COR_ENOMEM, "out of memory");
        goto out;
    }
    rc = cor_ref_set_location(r, m->tcp_address, m->unix_path, m->host_id, m->epoch, err);
    if (rc == 0)
        rc = cor_ref_set_chain(r, m->dm_chain, err);
    if (rc != 0) {
        cor_error_prefix(err, "malformed object reference");
        cor_ref_free(r);
        goto out;
    }
    *out = r;
out:
    cor__object_ref__free_unpacked(m, NULL);
    return rc;
}

/* The peer to call the object at (cached in the ref); NULL if the ref has
 * no location. */
static cor_peer_t *ref_peer(cor_ref_t *ref)
{
    pthread_mutex_lock(&ref->lock);
    cor_peer_t *p = ref->peer;
    if (p == NULL) {
        if (ref->unix_path != NULL && ref->host_id != NULL &&
            strcmp(ref->host_id, ref->rt->host_id) == 0) {
            char target[COR_ADDR_MAX + 8];
            snprintf(target, sizeof(target), "unix:%s", ref->unix_path);
            p = cor_client_peer(ref->rt->client, target);
        } else if (ref->tcp_addr != NULL) {
            p = cor_client_peer(ref->rt->client, ref->tcp_addr);
        }
        ref->peer = p;
    }
    pthread_mutex_unlock(&ref->lock);
    return p;
}

static void prefix_error(cor_error_t *err, const cor_ref_t *ref, const cor_method_desc_t *m,
                         const cor_peer_t *p)
{
    const char *svc = m->service != NULL ? m->service->name : "?";
    if (p != NULL)
        cor_error_prefix(err, "%s.%s on object %s at %s", svc, m->name, ref->idstr,
                         cor_peer_target(p));
    else
        cor_error_prefix(err, "%s.%s on object %s", svc, m->name, ref->idstr);
}

/* ------------------------------------------------------------------ */
/* co-located                                                          */

/* The object if it lives in this process (a tombstone of one that moved
 * away does not count: calls follow it). Caller puts it. */
static cor_obj_t *local_obj(cor_runtime_t *rt, const cor_object_id_t *id)
{
    cor_obj_t *o = cor_runtime_obj_get(rt, id);
    if (o != NULL && o->moved) {
        cor_runtime_obj_put(o);
        return NULL;
    }
    return o;
}

/* A co-located call, run in its object's turn on the caller's thread. */
typedef struct local_call {
    cor_runtime_t *rt;
    cor_obj_t *obj;
    const cor_method_desc_t *m;
    cor_arena_t *arena;
    const ProtobufCMessage *req;
    ProtobufCMessage *rep;
    cor_error_t *err;
    int rc;
} local_call_t;

static void local_fn(void *arg)
{
    local_call_t *l = arg;
    l->rc = cor_runtime_obj_invoke(l->rt, l->obj, l->m, l->arena, l->req, l->rep, l->err);
}

/* Runs m on a local object, in its turn. On success, if out_heap is not
 * NULL, *out_heap is a heap copy of the reply (caller frees); else
 * *out_arena is the reply in the arena (valid until it closes). */
static int call_local(cor_ref_t *ref, cor_obj_t *o, const cor_method_desc_t *m,
                      const ProtobufCMessage *req, cor_arena_t *arena,
                      ProtobufCMessage **out_heap, ProtobufCMessage **out_arena, cor_error_t *err)
{
    cor_runtime_t *rt = ref->rt;
    if (m->invoke == NULL)
        return cor_error_set(err, COR_EUNIMPL, "method has no server implementation here");
    if (req->descriptor != m->input)
        return cor_error_set(err, COR_EINVAL, "request is a %s, method takes %s",
                             req->descriptor->name, m->input->name);
    ProtobufCMessage *rep = cor_arena_alloc(arena, m->output->sizeof_message);
    if (rep == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    protobuf_c_message_init(m->output, rep);
    local_call_t l = {.rt = rt, .obj = o, .m = m, .arena = arena, .req = req, .rep = rep,
                      .err = err};
    cor_obj_run_sync(o, local_fn, &l);
    if (l.rc != 0)
        return l.rc;
    if (out_heap == NULL) {
        *out_arena = rep;
        return 0;
    }
    /* Deep copy out of the arena: the caller owns the reply, as remotely. */
    size_t n = protobuf_c_message_get_packed_size(rep);
    uint8_t small[512];
    uint8_t *buf = n <= sizeof(small) ? small : cor_arena_alloc(arena, n);
    if (buf == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    protobuf_c_message_pack(rep, buf);
    *out_heap = protobuf_c_message_unpack(m->output, NULL, n, buf);
    if (*out_heap == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory copying the reply");
    return 0;
}

/* ------------------------------------------------------------------ */
/* remote                                                              */

/* Packs an InvokeRequest: the payload is req packed in place, or (req
 * NULL) the already packed bytes. */
static grpc_slice pack_request(cor_ref_t *ref, const cor_method_desc_t *m,
                               const ProtobufCMessage *req, const uint8_t *bytes, size_t blen,
                               uint64_t fingerprint, uint64_t seq)
{
    cor_runtime_t *rt = ref->rt;
    Cor__InvokeRequest env = COR__INVOKE_REQUEST__INIT;
    env.object_id.data = ref->id.b;
    env.object_id.len = sizeof(ref->id.b);
    env.method = (char *)m->name;
    env.client_id.data = rt->client_id;
    env.client_id.len = sizeof(rt->client_id);
    env.seq = seq;
    env.caller_node = rt->node_name;
    pthread_mutex_lock(&ref->lock);
    env.epoch = ref->epoch;
    pthread_mutex_unlock(&ref->lock);
    env.fingerprint = fingerprint;
    if (req != NULL)
        return cor_wire_pack(&env.base, 4, req);
    env.payload.data = (uint8_t *)bytes;
    env.payload.len = blen;
    grpc_slice s = grpc_slice_malloc(cor__invoke_request__get_packed_size(&env));
    cor__invoke_request__pack(&env, GRPC_SLICE_START_PTR(s));
    return s;
}

/* Unpacks an InvokeReply's payload with allocator a (NULL: heap). */
static int unpack_reply(const cor_method_desc_t *m, const uint8_t *data, size_t len,
                        ProtobufCAllocator *a, cor_arena_t *scratch, ProtobufCMessage **out,
                        cor_error_t *err)
{
    Cor__InvokeReply *env = cor__invoke_reply__unpack(&scratch->pb, len, data);
    if (env == NULL)
        return cor_error_set(err, COR_EPROTO, "malformed reply: not a cor.InvokeReply");
    *out = protobuf_c_message_unpack(m->output, a, env->payload.len, env->payload.data);
    if (*out == NULL)
        return cor_error_set(err, COR_EPROTO, "malformed reply: payload is not a %s",
                             m->output->name);
    return 0;
}

/* The fingerprint the call carries: the interface the caller was built
 * against. Descriptors without one (0) skip the check. */
static uint64_t call_fingerprint(const cor_method_desc_t *m)
{
    return m->service != NULL ? m->service->fingerprint : 0;
}

/* Points ref where an EMOVED redirect in err says the object went, if that
 * is newer than what ref knows. Returns 1 when the call should be resent
 * to ref's place: ref now points there, or another call already moved it
 * on from `answered_by` (the target that said EMOVED). Else 0. */
static int follow_redirect(cor_ref_t *ref, const cor_error_t *err, const char *answered_by)
{
    char addr[COR_ADDR_MAX];
    uint64_t epoch;
    if (err == NULL || cor_moved_parse(err->msg, addr, sizeof(addr), &epoch) != 0)
        return 0;
    pthread_mutex_lock(&ref->lock);
    int news = epoch > ref->epoch;
    int moved_on = !news && ref->tcp_addr != NULL && strcmp(ref->tcp_addr, answered_by) != 0;
    pthread_mutex_unlock(&ref->lock);
    cor_error_t serr;
    if (news)
        return cor_ref_set_location(ref, addr, NULL, NULL, epoch, &serr) == 0;
    return moved_on;
}

/* Sends one invoke to the object's place: locates the ref through the OMS
 * if it never was, and when the kernel server says the object is not there
 * or cannot be reached, asks the OMS and retries once if the object moved
 * (the old place cannot have run it). The payload is req, or (req NULL)
 * bytes. On success *out is the InvokeReply; *used is the peer called. */
static int send_invoke(cor_ref_t *ref, const cor_method_desc_t *m, const ProtobufCMessage *req,
                       const uint8_t *bytes, size_t blen, uint64_t seq, grpc_slice *out,
                       cor_peer_t **used, cor_error_t *err)
{
    cor_runtime_t *rt = ref->rt;
    int rc;
    cor_peer_t *p = ref_peer(ref);
    *used = NULL;
    if (p == NULL) {
        /* Never located (a ref made from an id): ask the OMS. */
        if ((rc = cor_cluster_refresh(ref, err)) < 0)
            return rc;
        if ((p = ref_peer(ref)) == NULL)
            return cor_error_set(err, COR_ENOTFOUND, "object has no known location");
    }
    int deadline = ref->deadline_ms > 0 ? ref->deadline_ms : rt->opts.default_deadline_ms;
    for (int attempt = 0;; attempt++) {
        *used = p;
        rc = cor_client_call(rt->client, p, COR_M_INVOKE,
                             pack_request(ref, m, req, bytes, blen, call_fingerprint(m), seq),
                             deadline, out, err);
        if (rc == 0)
            return 0;
        /* EMOVED: the old place did not run it (a tombstone answered), so
         * any call may follow the object: straight to the place the
         * tombstone names when it is news, else as the OMS says (it may
         * take a moment to commit the new place, hence a few short
         * waits). */
        int moved = rc == COR_EMOVED;
        if (moved && attempt < 8 && follow_redirect(ref, err, cor_peer_target(p)) == 1 &&
            (p = ref_peer(ref)) != NULL)
            continue;
        if ((attempt == 0 && (rc == COR_ENOTFOUND || rc == COR_EUNAVAIL)) ||
            (moved && attempt < 8)) {
            cor_error_t rerr;
            cor_error_clear(&rerr);
            int r = cor_cluster_refresh(ref, &rerr);
            if (r == 1 && (p = ref_peer(ref)) != NULL)
                continue;
            if (moved && r == 0) {
                struct timespec ts = {0, 5000000L * (attempt + 1)};
                nanosleep(&ts, NULL);
                continue;
            }
            if (r < 0 && err != NULL)
                *err = rerr;
            if (r < 0)
                rc = r;
        }
        return rc;
    }
}

/* The client stack of ref, made on first use (NULL: no client parts). */
static int ref_client_stack(cor_ref_t *ref, cor_dm_stack_t **out, cor_error_t *err)
{
    pthread_mutex_lock(&ref->lock);
    int rc = 0;
    if (!ref->dm_ready) {
        rc = cor_dm_stack_new(ref->dm_chain, 0, &ref->dm, err);
        if (rc == 0)
            ref->dm_ready = 1;
        else
            cor_error_prefix(err, "dm chain");
    }
    *out = ref->dm;
    pthread_mutex_unlock(&ref->lock);
    return rc;
}

/* The end of the client DM chain: the call leaves for the object. */
typedef struct client_term {
    cor_ref_t *ref;
    cor_peer_t *peer;
} client_term_t;

static int take_envelope_reply(cor_dm_call_t *c, const uint8_t *data, size_t len)
{
    Cor__InvokeReply *env = cor__invoke_reply__unpack(NULL, len, data);
    if (env == NULL)
        return cor_error_set(c->err, COR_EPROTO, "malformed reply: not a cor.InvokeReply");
    int rc = cor_dm_call_take_reply(c, env->payload.data, env->payload.len);
    cor__invoke_reply__free_unpacked(env, NULL);
    return rc;
}

/* A call a client part routed to one replica: straight there, no OMS
 * refresh (choosing another replica on failure is that part's job). */
static int send_routed(cor_dm_call_t *c, client_term_t *t)
{
    cor_ref_t *ref = t->ref;
    cor_runtime_t *rt = ref->rt;
    const cor_dm_replica_t *r = &c->route;
    char target[COR_ADDR_MAX + 8];
    if (r->unix_path[0] != '\0' && strcmp(r->host_id, rt->host_id) == 0)
        snprintf(target, sizeof(target), "unix:%s", r->unix_path);
    else
        snprintf(target, sizeof(target), "%s", r->tcp_address);
    cor_peer_t *p = cor_client_peer(rt->client, target);
    if (p == NULL)
        return cor_error_set(c->err, COR_EINVAL, "replica on %s has no address", r->node);
    t->peer = p;
    Cor__InvokeRequest env = COR__INVOKE_REQUEST__INIT;
    env.object_id.data = ref->id.b;
    env.object_id.len = sizeof(ref->id.b);
    env.method = (char *)c->m->name;
    env.client_id.data = rt->client_id;
    env.client_id.len = sizeof(rt->client_id);
    env.seq = c->seq;
    env.caller_node = rt->node_name;
    env.epoch = r->epoch;
    env.fingerprint = call_fingerprint(c->m);
    env.payload.data = (uint8_t *)c->req;
    env.payload.len = c->req_len;
    grpc_slice s = grpc_slice_malloc(cor__invoke_request__get_packed_size(&env));
    cor__invoke_request__pack(&env, GRPC_SLICE_START_PTR(s));
    int deadline = ref->deadline_ms > 0 ? ref->deadline_ms : rt->opts.default_deadline_ms;
    grpc_slice out;
    int rc = cor_client_call(rt->client, p, COR_M_INVOKE, s, deadline, &out, c->err);
    if (rc != 0)
        return rc;
    rc = take_envelope_reply(c, GRPC_SLICE_START_PTR(out), GRPC_SLICE_LENGTH(out));
    grpc_slice_unref(out);
    return rc;
}

static int client_terminal(cor_dm_call_t *c, void *arg)
{
    client_term_t *t = arg;
    cor_ref_t *ref = t->ref;
    cor_runtime_t *rt = ref->rt;
    cor_obj_t *o = local_obj(rt, &ref->id);
    if (o == NULL && c->routed)
        return send_routed(c, t);
    if (o != NULL) {
        /* A replica here (co-located, or a local copy of an Immutable
         * object) answers before any routing choice. */
        /* Co-located: through the object's own server parts, no transport. */
        cor_runtime_obj_put(o);
        grpc_slice env = pack_request(ref, c->m, NULL, c->req, c->req_len, call_fingerprint(c->m),
                                      c->seq);
        uint8_t *rep = NULL;
        size_t rlen = 0;
        int rc = cor_runtime_dispatch_bytes(rt, GRPC_SLICE_START_PTR(env), GRPC_SLICE_LENGTH(env),
                                            &rep, &rlen, c->err);
        grpc_slice_unref(env);
        if (rc == 0)
            rc = take_envelope_reply(c, rep, rlen);
        free(rep);
        return rc;
    }
    grpc_slice out;
    int rc = send_invoke(ref, c->m, NULL, c->req, c->req_len, c->seq, &out, &t->peer, c->err);
    if (rc != 0)
        return rc;
    rc = take_envelope_reply(c, GRPC_SLICE_START_PTR(out), GRPC_SLICE_LENGTH(out));
    grpc_slice_unref(out);
    return rc;
}

static int call_through_dm(cor_ref_t *ref, cor_dm_stack_t *dm, const cor_method_desc_t *m,
                           const ProtobufCMessage *req, ProtobufCMessage **reply, cor_error_t *err)
{
    cor_runtime_t *rt = ref->rt;
    cor_error_t local;
    if (err == NULL)
        err = &local;
    if (req->descriptor != m->input)
        return cor_error_set(err, COR_EINVAL, "request is a %s, method takes %s",
                             req->descriptor->name, m->input->name);
    size_t n = protobuf_c_message_get_packed_size(req);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    protobuf_c_message_pack(req, buf);
    client_term_t t = {ref, NULL};
    cor_dm_call_t c = {.m = m, .object = ref->idstr, .req = buf, .req_len = n,
                       .client_id = rt->client_id, .seq = atomic_fetch_add(&rt->seq, 1) + 1,
                       .err = err, .stack = dm, .terminal = client_terminal, .terminal_arg = &t,
                       .ref = ref};
    int rc = cor_dm_run(&c);
    if (rc == 0) {
        *reply = protobuf_c_message_unpack(m->output, NULL, c.reply_len, c.reply);
        if (*reply == NULL)
            rc = cor_error_set(err, COR_EPROTO, "malformed reply: payload is not a %s",
                               m->output->name);
    }
    free(c.reply);
    free(buf);
    if (rc != 0)
        prefix_error(err, ref, m, t.peer);
    return rc;
}

int cor_call(cor_ref_t *ref, const cor_method_desc_t *m, const ProtobufCMessage *req,
             ProtobufCMessage **reply, cor_error_t *err)
{
    *reply = NULL;
    if (err != NULL)
        cor_error_clear(err);
    cor_dm_stack_t *dm = NULL;
    int rc = ref_client_stack(ref, &dm, err);
    if (rc != 0)
        goto fail;
    if (dm != NULL)
        return call_through_dm(ref, dm, m, req, reply, err);

    cor_runtime_t *rt = ref->rt;
    cor_obj_t *o = local_obj(rt, &ref->id);
    if (o != NULL) {
        cor_arena_t arena;
        cor_arena_init(&arena, 0);
        rc = call_local(ref, o, m, req, &arena, reply, NULL, err);
        cor_arena_close(&arena);
        cor_runtime_obj_put(o);
        if (rc != 0)
            goto fail;
        return 0;
    }

    /* One call id for the call and its retry, so a server can deduplicate. */
    uint64_t seq = atomic_fetch_add(&rt->seq, 1) + 1;
    grpc_slice out;
    cor_peer_t *p = NULL;
    rc = send_invoke(ref, m, req, NULL, 0, seq, &out, &p, err);
    if (rc != 0) {
        prefix_error(err, ref, m, p);
        return rc;
    }
    cor_arena_t scratch;
    cor_arena_init(&scratch, 0);
    rc = unpack_reply(m, GRPC_SLICE_START_PTR(out), GRPC_SLICE_LENGTH(out), NULL, &scratch,
                      reply, err);
    cor_arena_close(&scratch);
    grpc_slice_unref(out);
    if (rc != 0) {
        prefix_error(err, ref, m, p);
        return rc;
    }
    return 0;
fail:
    prefix_error(err, ref, m, NULL);
    return rc;
}

typedef struct async_call {
    cor_ref_t *ref; /* held (holds + 1) until done */
    const cor_method_desc_t *m;
    cor_call_done_fn done;
    cor_fn_t user_cb;
    void *user_arg;
    grpc_slice req;   /* the packed request, kept to resend after a move */
    int hops;
    char target[COR_ADDR_MAX + 8];
} async_call_t;

static void async_done(void *arg, int code, const char *msg, const uint8_t *data, size_t len);

/* Sends (or resends) a's request to the ref's place. 0, or the code of
 * an immediate failure (then async_done will not run). */
static int async_send(async_call_t *a, cor_peer_t *p)
{
    cor_ref_t *ref = a->ref;
    snprintf(a->target, sizeof(a->target), "%s", cor_peer_target(p));
    int deadline = ref->deadline_ms > 0 ? ref->deadline_ms : ref->rt->opts.default_deadline_ms;
    return cor_client_call_async(ref->rt->client, p, COR_M_INVOKE, grpc_slice_ref(a->req),
                                 deadline, async_done, a);
}

static void async_free(async_call_t *a)
{
    grpc_slice_unref(a->req);
    cor_ref_free(a->ref);
    free(a);
}

static void async_done(void *arg, int code, const char *msg, const uint8_t *data, size_t len)
{
    async_call_t *a = arg;
    cor_error_t err;
    cor_error_clear(&err);
    if (code == COR_EMOVED && a->hops < 8) {
        /* A tombstone's redirect: resend to the new place (it did not run
         * here). Without a location there is no OMS lookup on this thread:
         * the error goes to the caller. */
        cor_error_set(&err, code, "%s", msg);
        cor_peer_t *p = NULL;
        if (follow_redirect(a->ref, &err, a->target) == 1 && (p = ref_peer(a->ref)) != NULL) {
            a->hops++;
            if (async_send(a, p) == 0)
                return;
        }
        cor_error_clear(&err);
    }
    cor_arena_t arena;
    cor_arena_init(&arena, 0);
    ProtobufCMessage *reply = NULL;
    int rc = code;
    if (rc == 0)
        rc = unpack_reply(a->m, data, len, &arena.pb, &arena, &reply, &err);
    else
        cor_error_set(&err, code, "%s", msg);
    if (rc != 0) {
        reply = NULL;
        cor_error_prefix(&err, "%s.%s on object %s at %s",
                         a->m->service != NULL ? a->m->service->name : "?", a->m->name,
                         a->ref->idstr, a->target);
    }
    a->done(rc, reply, &err, a->user_cb, a->user_arg);
    cor_arena_close(&arena);
    async_free(a);
}

int cor_call_async(cor_ref_t *ref, const cor_method_desc_t *m, const ProtobufCMessage *req,
                   cor_call_done_fn done, cor_fn_t user_cb, void *user_arg)
{
    cor_error_t err;
    cor_error_clear(&err);
    cor_dm_stack_t *dm = NULL;
    int rc = ref_client_stack(ref, &dm, &err);
    if (rc != 0)
        return rc;
    if (dm != NULL) {
        /* Client DM parts run synchronously (they may wait, retry, back
         * off); the call completes on this thread before returning. */
        ProtobufCMessage *reply = NULL;
        rc = call_through_dm(ref, dm, m, req, &reply, &err);
        done(rc, reply, &err, user_cb, user_arg);
        if (reply != NULL)
            protobuf_c_message_free_unpacked(reply, NULL);
        return 0;
    }

    cor_runtime_t *rt = ref->rt;
    cor_obj_t *o = local_obj(rt, &ref->id);
    if (o != NULL) {
        /* Co-located: runs now, on this thread; done runs before return. */
        cor_arena_t arena;
        cor_arena_init(&arena, 0);
        ProtobufCMessage *reply = NULL;
        rc = call_local(ref, o, m, req, &arena, NULL, &reply, &err);
        cor_runtime_obj_put(o);
        if (rc != 0) {
            reply = NULL;
            prefix_error(&err, ref, m, NULL);
        }
        done(rc, reply, &err, user_cb, user_arg);
        cor_arena_close(&arena);
        return 0;
    }

    cor_peer_t *p = ref_peer(ref);
    if (p == NULL)
        return COR_ENOTFOUND;
    async_call_t *a = malloc(sizeof(*a));
    if (a == NULL)
        return COR_ENOMEM;
    atomic_fetch_add(&ref->holds, 1);
    *a = (async_call_t){.ref = ref, .m = m, .done = done, .user_cb = user_cb,
                        .user_arg = user_arg,
                        .req = pack_request(ref, m, req, NULL, 0, call_fingerprint(m),
                                            atomic_fetch_add(&rt->seq, 1) + 1)};
    rc = async_send(a, p);
    if (rc != 0)
        async_free(a);
    return rc;
}

/* ------------------------------------------------------------------ */
/* DM support: a local replica                                         */

int cor_dm_call_make_local(cor_dm_call_t *c)
{
    cor_ref_t *ref = c->ref;
    if (ref == NULL)
        return cor_error_set(c->err, COR_ESTATE, "only client parts make local replicas");
    cor_runtime_t *rt = ref->rt;
    cor_obj_t *here = cor_runtime_obj_get(rt, &ref->id);
    if (here != NULL) {
        cor_runtime_obj_put(here);
        return 0;
    }
    const cor_class_t *cls = cor_runtime_find_class(rt, ref->class_name);
    if (cls == NULL || cls->load_state == NULL)
        return cor_error_set(c->err, COR_ENOTFOUND,
                             "class %s is not registered here with load_state: calls stay remote",
                             ref->class_name);
    cor_peer_t *p = ref_peer(ref);
    if (p == NULL && cor_cluster_refresh(ref, c->err) >= 0)
        p = ref_peer(ref);
    if (p == NULL)
        return cor_error_set(c->err, COR_ENOTFOUND, "object has no known location");
    Cor__GetStateRequest gs = COR__GET_STATE_REQUEST__INIT;
    gs.object_id.data = ref->id.b;
    gs.object_id.len = sizeof(ref->id.b);
    ProtobufCMessage *m = NULL;
    int rc = cor_rpc_call(rt->client, cor_peer_target(p), COR_M_GET_STATE, &gs.base,
                          &cor__get_state_reply__descriptor, rt->opts.default_deadline_ms, &m,
                          c->err);
    if (rc != 0)
        return rc;
    Cor__GetStateReply *st = (Cor__GetStateReply *)m;
    pthread_mutex_lock(&ref->lock);
    char *chain = dup_or_null(ref->dm_chain);
    pthread_mutex_unlock(&ref->lock);
    rc = cor_runtime_install(rt, cls, &ref->id, st->epoch, chain, st->state.data, st->state.len,
                             c->err);
    free(chain);
    protobuf_c_message_free_unpacked(m, NULL);
    if (rc == COR_EEXIST) /* another ref got there first */
        rc = 0;
    if (rc == 0)
        cor_error_clear(c->err);
    return rc;
}
