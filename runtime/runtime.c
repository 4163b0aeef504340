/*
 * runtime.c — the per-process runtime: class registry, hosted objects, the
 * Kernel.Invoke server handler, and the call path that generated proxies
 * use (cor_call / cor_call_async).
 *
 * Call path (DESIGN.md "Calls"):
 *   1. the client parts of the object's DM chain, if it has any
 *      (call_through_dm in call.c; they end in the same send path);
 *   2. co-located? If this runtime hosts the object, run the method
 *      directly: the caller's request message is passed as is, the reply is
 *      built in a per-call arena and deep-copied out (pack + unpack), so the
 *      caller owns it exactly as after a remote call;
 *   3. otherwise pack an InvokeRequest envelope with the request appended,
 *      and send it to the object's host: over its unix socket when the
 *      host id matches ours, else over TCP.
 *
 * Serving: Kernel.Invoke decodes the envelope into an arena, finds the
 * object and method, checks the interface fingerprint, unpacks the payload
 * into the same arena, runs the method (one at a time per object through the
 * object's turn queue, unless the class is concurrent) and packs the reply
 * the same way.
 */
#include "runtime_int.h"

#include <cor/log.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cor/kernel.pb-c.h"
#include "cor/oms.pb-c.h"

#define DEFAULT_DEADLINE_MS 10000

/* ------------------------------------------------------------------ */
/* context                                                             */

void *cor_ctx_alloc(cor_ctx_t *ctx, size_t size)
{
    return cor_arena_alloc(ctx->arena, size);
}

char *cor_ctx_strdup(cor_ctx_t *ctx, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = cor_arena_alloc(ctx->arena, n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

int cor_ctx_error(cor_ctx_t *ctx, int code, const char *fmt, ...)
{
    if (ctx->err == NULL)
        return code;
    ctx->err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err->msg, sizeof(ctx->err->msg), fmt, ap);
    va_end(ap);
    return code;
}

const cor_object_id_t *cor_ctx_object_id(const cor_ctx_t *ctx)
{
    static const cor_object_id_t nil;
    return ctx->id != NULL ? ctx->id : &nil;
}

cor_runtime_t *cor_ctx_runtime(const cor_ctx_t *ctx)
{
    return ctx->rt;
}

const cor_method_desc_t *cor_ctx_method(const cor_ctx_t *ctx)
{
    return ctx->method;
}

const cor_method_desc_t *cor_service_method(const cor_service_desc_t *svc, const char *name,
                                            size_t len)
{
    for (unsigned i = 0; i < svc->n_methods; i++) {
        const cor_method_desc_t *m = &svc->methods[i];
        if (strncmp(m->name, name, len) == 0 && m->name[len] == '\0')
            return m;
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* wire                                                                */

static size_t varint_size(size_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *varint_put(uint8_t *p, size_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

grpc_slice cor_wire_pack(const ProtobufCMessage *env, unsigned field,
                         const ProtobufCMessage *payload)
{
    size_t esz = protobuf_c_message_get_packed_size(env);
    size_t psz = payload != NULL ? protobuf_c_message_get_packed_size(payload) : 0;
    size_t tag = (size_t)field << 3 | 2;
    size_t total = esz + varint_size(tag) + varint_size(psz) + psz;
    grpc_slice s = grpc_slice_malloc(total);
    uint8_t *p = GRPC_SLICE_START_PTR(s);
    p += protobuf_c_message_pack(env, p);
    p = varint_put(p, tag);
    p = varint_put(p, psz);
    if (payload != NULL)
        protobuf_c_message_pack(payload, p);
    return s;
}

/* ------------------------------------------------------------------ */
/* objects and their turns                                             */

/* The object whose method this thread is running, for re-entrant calls
 * (a method calling its own object must not wait for its own turn). */
static _Thread_local cor_obj_t *tls_current;

int cor_runtime_in_object(cor_runtime_t *rt, const cor_object_id_t *id)
{
    return tls_current != NULL && cor_object_id_equal(&tls_current->id, id);
}

cor_obj_t *cor_runtime_obj_get(cor_runtime_t *rt, const cor_object_id_t *id)
{
    pthread_rwlock_rdlock(&rt->lock);
    cor_obj_t *o = cor_idmap_get(&rt->objects, id);
    if (o != NULL)
        atomic_fetch_add(&o->refs, 1);
    pthread_rwlock_unlock(&rt->lock);
    return o;
}

void cor_runtime_obj_put(cor_obj_t *o)
{
    if (atomic_fetch_sub(&o->refs, 1) != 1)
        return;
    o->cls->destroy(o->self);
    cor_dm_stack_free(o->dm);
    free(o->members);
    cor_precopy_free(o->precopy);
    pthread_mutex_destroy(&o->qlock);
    pthread_cond_destroy(&o->qcond);
    free(o);
}

static cor_obj_t *obj_new(const cor_class_t *cls, const cor_object_id_t *id, uint64_t epoch)
{
    cor_obj_t *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return NULL;
    o->id = *id;
    cor_object_id_format(id, o->idstr);
    o->cls = cls;
    o->epoch = epoch;
    atomic_init(&o->refs, 1);
    pthread_mutex_init(&o->qlock, NULL);
    pthread_cond_init(&o->qcond, NULL);
    return o;
}

/* Frees an object that never made it into the table. */
static void obj_discard(cor_obj_t *o)
{
    if (o->self != NULL)
        o->cls->destroy(o->self);
    cor_dm_stack_free(o->dm);
    pthread_mutex_destroy(&o->qlock);
    pthread_cond_destroy(&o->qcond);
    free(o);
}

/* A concurrent class's calls run side by side, counted in o->inflight,
 * unless an exclusive step (cor_obj_run_exclusive) holds the turn: then
 * they queue like a plain class's. */
static int concurrent(const cor_obj_t *o)
{
    return (o->cls->flags & COR_CLASS_CONCURRENT) != 0;
}

static void enqueue(cor_obj_t *o, cor_obj_task_t *t)
{
    t->next = NULL;
    if (o->tail != NULL)
        o->tail->next = t;
    else
        o->head = t;
    o->tail = t;
}

enum cor_turn cor_obj_enter(cor_obj_t *o, cor_obj_task_t *t)
{
    if (tls_current == o)
        return COR_TURN_SHARED;
    pthread_mutex_lock(&o->qlock);
    enum cor_turn turn;
    if (!o->busy && concurrent(o)) {
        o->inflight++;
        turn = COR_TURN_CONCURRENT;
    } else if (!o->busy) {
        o->busy = 1;
        turn = COR_TURN_OWNED;
    } else {
        enqueue(o, t);
        turn = COR_TURN_QUEUED;
    }
    pthread_mutex_unlock(&o->qlock);
    return turn;
}

enum cor_turn cor_obj_try_enter(cor_obj_t *o)
{
    if (tls_current == o)
        return COR_TURN_SHARED;
    pthread_mutex_lock(&o->qlock);
    enum cor_turn turn = COR_TURN_QUEUED;
    if (!o->busy && concurrent(o)) {
        o->inflight++;
        turn = COR_TURN_CONCURRENT;
    } else if (!o->busy) {
        turn = COR_TURN_OWNED;
    }
    if (!concurrent(o))
        o->busy = 1; /* plain class: QUEUED means busy, nothing queued */
    pthread_mutex_unlock(&o->qlock);
    return turn;
}

void cor_obj_leave(cor_obj_t *o)
{
    for (;;) {
        pthread_mutex_lock(&o->qlock);
        cor_obj_task_t *t = o->head;
        if (t == NULL) {
            o->busy = 0;
            if (concurrent(o))
                pthread_cond_broadcast(&o->qcond); /* a waiting exclusive step */
            pthread_mutex_unlock(&o->qlock);
            return;
        }
        o->head = t->next;
        if (o->head == NULL)
            o->tail = NULL;
        pthread_mutex_unlock(&o->qlock);
        t->run(t);
    }
}

void cor_obj_leave_concurrent(cor_obj_t *o)
{
    pthread_mutex_lock(&o->qlock);
    if (--o->inflight == 0 && o->busy)
        pthread_cond_broadcast(&o->qcond);
    pthread_mutex_unlock(&o->qlock);
}

void cor_obj_run_exclusive(cor_obj_t *o, void (*fn)(void *), void *arg)
{
    if (!concurrent(o) || tls_current == o) {
        cor_obj_run_sync(o, fn, arg);
        return;
    }
    pthread_mutex_lock(&o->qlock);
    while (o->busy)
        pthread_cond_wait(&o->qcond, &o->qlock);
    o->busy = 1; /* new calls queue from here */
    while (o->inflight > 0)
        pthread_cond_wait(&o->qcond, &o->qlock);
    pthread_mutex_unlock(&o->qlock);
    fn(arg);
    cor_obj_leave(o); /* runs what queued meanwhile, then frees the turn */
}

typedef struct sync_task {
    cor_obj_task_t task;
    void (*fn)(void *);
    void *arg;
    int done;
    pthread_mutex_t lock;
    pthread_cond_t cond;
} sync_task_t;

static void sync_task_run(cor_obj_task_t *t)
{
    sync_task_t *s = (sync_task_t *)t;
    s->fn(s->arg);
    pthread_mutex_lock(&s->lock);
    s->done = 1;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

void cor_obj_run_sync(cor_obj_t *o, void (*fn)(void *), void *arg)
{
    /* Initialised before it can be queued: another thread may run it. */
    sync_task_t s = {.task.run = sync_task_run, .fn = fn, .arg = arg,
                     .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    switch (cor_obj_enter(o, &s.task)) {
    case COR_TURN_OWNED:
        fn(arg);
        cor_obj_leave(o);
        return;
    case COR_TURN_SHARED:
        fn(arg);
        return;
    case COR_TURN_CONCURRENT:
        fn(arg);
        cor_obj_leave_concurrent(o);
        return;
    case COR_TURN_QUEUED:
        break;
    }
    /* The task may already have run; the lock orders its `done` with us. */
    pthread_mutex_lock(&s.lock);
    while (!s.done)
        pthread_cond_wait(&s.cond, &s.lock);
    pthread_mutex_unlock(&s.lock);
    pthread_mutex_destroy(&s.lock);
    pthread_cond_destroy(&s.cond);
}

int cor_runtime_obj_invoke(cor_runtime_t *rt, cor_obj_t *o, const cor_method_desc_t *m,
                           cor_arena_t *arena, const ProtobufCMessage *req,
                           ProtobufCMessage *reply, cor_error_t *err)
{
    cor_ctx_t ctx = {.rt = rt, .arena = arena, .id = &o->id, .method = m, .err = err};
    cor_obj_t *outer = tls_current;
    tls_current = o;
    int rc = m->invoke(o->cls->ops, o->self, &ctx, req, reply);
    tls_current = outer;
    if (rc != 0 && err != NULL) {
        err->code = rc;
        if (err->msg[0] == '\0')
            snprintf(err->msg, sizeof(err->msg), "%s", cor_strerror(rc));
    }
    return rc;
}

static const cor_class_t *find_class(cor_runtime_t *rt, const char *name)
{
    for (int i = 0; i < rt->n_classes; i++)
        if (strcmp(rt->classes[i]->name, name) == 0)
            return rt->classes[i];
    return NULL;
}

int cor_runtime_register_class(cor_runtime_t *rt, const cor_class_t *cls, cor_error_t *err)
{
    if (cls == NULL || cls->version != COR_CLASS_VERSION)
        return cor_error_set(err, COR_EINVAL, "class definition has version %u, this runtime needs %u",
                             cls ? cls->version : 0, COR_CLASS_VERSION);
    if (cls->name == NULL || cls->name[0] == '\0')
        return cor_error_set(err, COR_EINVAL, "class definition has no name");
    if (cls->service == NULL || cls->service->version != COR_SERVICE_DESC_VERSION)
        return cor_error_set(err, COR_EINVAL, "class %s: missing or incompatible service descriptor",
                             cls->name);
    if (cls->ops == NULL || cls->create == NULL || cls->destroy == NULL)
        return cor_error_set(err, COR_EINVAL, "class %s: ops, create and destroy are required",
                             cls->name);
    if ((cls->save_state == NULL) != (cls->load_state == NULL))
        return cor_error_set(err, COR_EINVAL, "class %s: save_state and load_state come as a pair",
                             cls->name);
    if ((cls->save_dirty == NULL) != (cls->apply_dirty == NULL) ||
        (cls->save_dirty != NULL && cls->save_state == NULL))
        return cor_error_set(err, COR_EINVAL,
                             "class %s: save_dirty and apply_dirty come as a pair, with save_state",
                             cls->name);
    int rc = 0;
    pthread_rwlock_wrlock(&rt->lock);
    if (find_class(rt, cls->name) != NULL)
        rc = cor_error_set(err, COR_EEXIST, "class %s is already registered", cls->name);
    else if (rt->n_classes == COR_MAX_CLASSES)
        rc = cor_error_set(err, COR_ENOMEM, "too many classes (max %d)", COR_MAX_CLASSES);
    else
        rt->classes[rt->n_classes++] = cls;
    pthread_rwlock_unlock(&rt->lock);
    return rc;
}

/* Makes an object of cls from constructor args (from_state == 0), from
 * saved state (from_state == 1) or from `made`, an instance already made
 * by the class (from_state == 2; taken over even on failure), and puts it
 * in the table under id. */
int cor_dm_stack_load(cor_dm_stack_t *dm, Cor__DmHeader *const *entries, size_t n, int dirty,
                      const char *object, cor_error_t *err)
{
    for (size_t k = 0; k < n; k++) {
        const cor_dm_inst_t *part = NULL;
        for (int i = 0; dm != NULL && i < dm->n; i++)
            if (strcmp(dm->parts[i].ops->name, entries[k]->key) == 0)
                part = &dm->parts[i];
        int (*load)(void *, const unsigned char *, size_t) =
            part == NULL ? NULL : dirty ? part->ops->server_apply_dirty : part->ops->server_load;
        if (load == NULL)
            return cor_error_set(err, COR_EINVAL,
                                 "object %s: moved %sstate for DM '%.64s', which this chain does "
                                 "not run or cannot load",
                                 object, dirty ? "changes to the " : "", entries[k]->key);
        int rc = load(part->state, entries[k]->value.data, entries[k]->value.len);
        if (rc != 0)
            return cor_error_set(err, rc, "object %s: %s refused its moved state", object,
                                 part->ops->name);
    }
    return 0;
}

int cor_obj_make(cor_runtime_t *rt, const cor_class_t *cls, const cor_object_id_t *id,
                 uint64_t epoch, const char *dm_chain, int from_state, const uint8_t *bytes,
                 size_t len, void *made, cor_dm_stack_t *made_dm, Cor__DmHeader *const *dm_state,
                 size_t n_dm_state, cor_error_t *err)
{
    char s[COR_OBJECT_ID_STRLEN + 1];
    cor_object_id_format(id, s);
    if (from_state == 1 && cls->load_state == NULL)
        return cor_error_set(err, COR_EUNIMPL, "class %s cannot load state (no load_state)",
                             cls->name);
    cor_obj_t *o = obj_new(cls, id, epoch);
    if (o == NULL) {
        if (made != NULL)
            cls->destroy(made);
        cor_dm_stack_free(made_dm);
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    }
    o->self = made;
    o->dm = made_dm;
    int drc = made_dm != NULL ? 0 : cor_dm_stack_new(dm_chain, 1, &o->dm, err);
    if (drc != 0) {
        obj_discard(o);
        cor_error_prefix(err, "object %s: dm chain", s);
        return drc;
    }
    /* Moved DM state is loaded before the object can be reached. */
    drc = cor_dm_stack_load(o->dm, dm_state, n_dm_state, 0, s, err);
    if (drc != 0) {
        obj_discard(o);
        return drc;
    }
    cor_arena_t arena;
    cor_arena_init(&arena, 0);
    cor_error_t cerr;
    cor_error_clear(&cerr);
    cor_ctx_t ctx = {.rt = rt, .arena = &arena, .id = &o->id, .err = &cerr};
    int rc = from_state == 2   ? 0
             : from_state == 1 ? cls->load_state(&ctx, bytes, len, &o->self)
                               : cls->create(&ctx, bytes, len, &o->self);
    cor_arena_close(&arena);
    if (rc != 0) {
        o->self = NULL;
        obj_discard(o);
        return cor_error_set(err, rc, "class %s refused to %s object %s: %s", cls->name,
                             from_state ? "load the state of" : "create", s,
                             cerr.msg[0] ? cerr.msg : cor_strerror(rc));
    }
    pthread_rwlock_wrlock(&rt->lock);
    rc = cor_idmap_put(&rt->objects, &o->id, o);
    pthread_rwlock_unlock(&rt->lock);
    if (rc != 0) {
        obj_discard(o);
        return cor_error_set(err, rc, "object %s: %s", s,
                             rc == COR_EEXIST ? "already hosted here" : cor_strerror(rc));
    }
    return 0;
}

static const cor_class_t *class_by_name(cor_runtime_t *rt, const char *name)
{
    pthread_rwlock_rdlock(&rt->lock);
    const cor_class_t *cls = find_class(rt, name);
    pthread_rwlock_unlock(&rt->lock);
    return cls;
}

const cor_class_t *cor_runtime_find_class(cor_runtime_t *rt, const char *name)
{
    return class_by_name(rt, name);
}

int cor_runtime_install(cor_runtime_t *rt, const cor_class_t *cls, const cor_object_id_t *id,
                        uint64_t epoch, const char *dm_chain, const uint8_t *state, size_t len,
                        cor_error_t *err)
{
    return cor_obj_make(rt, cls, id, epoch, dm_chain, 1, state, len, NULL, NULL, NULL, 0, err);
}

int cor_runtime_create_object(cor_runtime_t *rt, const char *class_name, const uint8_t *args,
                              size_t args_len, const cor_object_id_t *id, cor_ref_t **ref,
                              cor_error_t *err)
{
    const cor_class_t *cls = class_by_name(rt, class_name);
    if (cls == NULL)
        return cor_error_set(err, COR_ENOTFOUND, "no class named %s is registered here", class_name);
    cor_object_id_t fresh;
    if (id == NULL) {
        cor_object_id_generate(&fresh);
        id = &fresh;
    } else if (cor_object_id_is_nil(id)) {
        return cor_error_set(err, COR_EINVAL, "the nil object id names no object");
    }
    int rc = cor_obj_make(rt, cls, id, 0, cls->service->dm_chain, 0, args, args_len, NULL, NULL, NULL, 0,
                          err);
    if (rc != 0)
        return rc;
    if (ref != NULL) {
        cor_ref_t *r = cor_ref_new(rt, id, class_name);
        if (r == NULL ||
            cor_ref_set_location(r, rt->tcp_addr, rt->unix_path, rt->host_id, 0, err) != 0 ||
            cor_ref_set_chain(r, cls->service->dm_chain, err) != 0) {
            cor_ref_free(r);
            cor_runtime_delete_object(rt, id, NULL);
            return cor_error_set(err, COR_ENOMEM, "out of memory");
        }
        *ref = r;
    }
    return 0;
}

int cor_runtime_delete_object(cor_runtime_t *rt, const cor_object_id_t *id, cor_error_t *err)
{
    pthread_rwlock_wrlock(&rt->lock);
    cor_obj_t *o = cor_idmap_del(&rt->objects, id);
    pthread_rwlock_unlock(&rt->lock);
    if (o == NULL) {
        char s[COR_OBJECT_ID_STRLEN + 1];
        cor_object_id_format(id, s);
        return cor_error_set(err, COR_ENOTFOUND, "object %s is not hosted here", s);
    }
    cor_runtime_obj_put(o);
    return 0;
}

static void collect_obj(void *arg, const cor_object_id_t *key, void *value)
{
    cor_obj_t ***cursor = arg;
    *(*cursor)++ = value;
}

size_t cor_runtime_drop_all(cor_runtime_t *rt)
{
    pthread_rwlock_wrlock(&rt->lock);
    size_t n = rt->objects.len;
    cor_obj_t **all = malloc((n ? n : 1) * sizeof(*all));
    if (all == NULL) {
        pthread_rwlock_unlock(&rt->lock);
        return 0;
    }
    cor_obj_t **cursor = all;
    cor_idmap_each(&rt->objects, collect_obj, &cursor);
    cor_idmap_close(&rt->objects);
    cor_idmap_init(&rt->objects);
    pthread_rwlock_unlock(&rt->lock);
    for (size_t i = 0; i < n; i++)
        cor_runtime_obj_put(all[i]);
    free(all);
    return n;
}

/* ---------------- DM support: checkpoints and ticks ---------------- */

static void checkpoint_done(void *arg, int code, const char *msg, const uint8_t *reply, size_t len)
{
    char *id = arg;
    if (code != 0)
        cor_log_warn("object %s: checkpoint not taken by the OMS: %s", id, msg);
    free(id);
}

int cor_dm_call_checkpoint(cor_dm_call_t *c)
{
    cor_runtime_t *rt = c->rt;
    cor_obj_t *o = c->obj;
    if (rt == NULL || o == NULL)
        return cor_error_set(c->err, COR_ESTATE, "checkpoints are taken by server parts only");
    if (rt->oms_address[0] == '\0' || rt->node_name[0] == '\0')
        return cor_error_set(c->err, COR_ESTATE, "not in a cluster: no OMS to keep checkpoints");
    if (o->cls->save_state == NULL)
        return cor_error_set(c->err, COR_EUNIMPL, "class %s cannot save state", o->cls->name);
    cor_arena_t arena;
    cor_arena_init(&arena, 0);
    cor_ctx_t ctx = {.rt = rt, .arena = &arena, .id = &o->id, .err = c->err};
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = o->cls->save_state(o->self, &ctx, &buf, &len);
    cor_arena_close(&arena);
    if (rc != 0)
        return rc;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    Cor__CheckpointRequest req = COR__CHECKPOINT_REQUEST__INIT;
    req.object_id.data = o->id.b;
    req.object_id.len = 16;
    req.class_name = (char *)o->cls->name;
    req.state.data = buf;
    req.state.len = len;
    req.taken_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    req.node = rt->node_name;
    req.incarnation = atomic_load(&rt->incarnation);
    grpc_slice s = grpc_slice_malloc(cor__checkpoint_request__get_packed_size(&req));
    cor__checkpoint_request__pack(&req, GRPC_SLICE_START_PTR(s));
    free(buf);
    char *id = malloc(COR_OBJECT_ID_STRLEN + 1);
    cor_peer_t *p = cor_client_peer(rt->client, rt->oms_address);
    if (id == NULL || p == NULL) {
        free(id);
        grpc_slice_unref(s);
        return cor_error_set(c->err, COR_ENOMEM, "out of memory");
    }
    cor_object_id_format(&o->id, id);
    rc = cor_client_call_async(rt->client, p, COR_M_OMS_PUT_CHECKPOINT, s, 10000, checkpoint_done,
                               id);
    if (rc != 0)
        free(id);
    return rc;
}

/* ---------------- DM support: where calls come from, moving ---------------- */

const char *cor_dm_call_caller_node(const cor_dm_call_t *c)
{
    return c->caller_node ? c->caller_node : "";
}

const char *cor_dm_call_node(const cor_dm_call_t *c)
{
    return c->rt ? c->rt->node_name : "";
}

int cor_dm_request_move(cor_dm_call_t *c, const char *to_node)
{
    if (c->rt == NULL || c->obj == NULL)
        return cor_error_set(c->err, COR_ESTATE, "moves are requested by server parts");
    return cor_runtime_request_move(c->rt, &c->obj->id, to_node, c->err);
}

/* ---------------- DM support: membership and peer messages ---------------- */


int cor_dm_call_peers(cor_dm_call_t *c, cor_dm_replica_t *out, int max, int *n)
{
    *n = 0;
    if (c->obj == NULL)
        return cor_error_set(c->err, COR_ESTATE, "peers are known only to server parts");
    for (int i = 0; i < c->obj->n_members && *n < max; i++) {
        out[*n] = c->obj->members[i];
        out[*n].self = strcmp(out[*n].tcp_address, c->rt->tcp_addr) == 0;
        (*n)++;
    }
    return 0;
}

int cor_dm_peer_send(cor_dm_call_t *c, const cor_dm_replica_t *to, const unsigned char *msg,
                     size_t len, unsigned char **reply, size_t *reply_len)
{
    *reply = NULL;
    *reply_len = 0;
    if (c->obj == NULL || c->stack == NULL || c->pos < 1)
        return cor_error_set(c->err, COR_ESTATE, "peer messages are sent by server parts");
    cor_runtime_t *rt = c->rt;
    char target[COR_ADDR_MAX + 8];
    if (to->unix_path[0] != '\0' && strcmp(to->host_id, rt->host_id) == 0)
        snprintf(target, sizeof(target), "unix:%s", to->unix_path);
    else
        snprintf(target, sizeof(target), "%s", to->tcp_address);
    Cor__PeerMessageRequest req = COR__PEER_MESSAGE_REQUEST__INIT;
    req.object_id.data = c->obj->id.b;
    req.object_id.len = 16;
    req.dm = (char *)c->stack->parts[c->pos - 1].ops->name;
    req.payload.data = (uint8_t *)msg;
    req.payload.len = len;
    req.from_node = rt->node_name;
    ProtobufCMessage *m = NULL;
    int rc = cor_rpc_call(rt->client, target, COR_M_PEER_MESSAGE, &req.base,
                          &cor__peer_message_reply__descriptor, 2000, &m, c->err);
    if (rc != 0)
        return rc;
    Cor__PeerMessageReply *r = (Cor__PeerMessageReply *)m;
    if (r->payload.len > 0) {
        *reply = malloc(r->payload.len);
        if (*reply == NULL)
            rc = cor_error_set(c->err, COR_ENOMEM, "out of memory");
        else {
            memcpy(*reply, r->payload.data, r->payload.len);
            *reply_len = r->payload.len;
        }
    }
    protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

typedef struct members_ctx {
    cor_runtime_t *rt;
    cor_obj_t *obj;
    cor_dm_replica_t *members;
    int n;
} members_ctx_t;

static void members_fn(void *arg)
{
    members_ctx_t *m = arg;
    free(m->obj->members);
    m->obj->members = m->members;
    m->obj->n_members = m->n;
    cor_dm_stack_t *s = m->obj->dm;
    cor_error_t err;
    cor_error_clear(&err);
    for (int i = 0; s != NULL && i < s->n; i++) {
        if (s->parts[i].ops->server_membership == NULL)
            continue;
        cor_dm_call_t c = {.object = m->obj->idstr, .err = &err, .stack = s, .pos = i + 1,
                           .rt = m->rt, .obj = m->obj};
        s->parts[i].ops->server_membership(s->parts[i].state, &c);
    }
}

static int op_set_members(void *arg, const ProtobufCMessage *in, ProtobufCMessage *out,
                          cor_arena_t *arena, cor_error_t *err)
{
    cor_runtime_t *rt = arg;
    const Cor__SetMembersRequest *r = (const Cor__SetMembersRequest *)in;
    cor_object_id_t id;
    if (cor_id_arg(&r->object_id, &id, err) != 0)
        return err->code;
    if (r->n_members > 64)
        return cor_error_set(err, COR_EINVAL, "%zu members, at most 64", r->n_members);
    cor_obj_t *o = cor_runtime_obj_get(rt, &id);
    if (o == NULL)
        return cor_error_set(err, COR_ENOTFOUND, "object not hosted here");
    members_ctx_t m = {.rt = rt, .obj = o, .n = (int)r->n_members};
    m.members = calloc(r->n_members ? r->n_members : 1, sizeof(*m.members));
    if (m.members == NULL) {
        cor_runtime_obj_put(o);
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < r->n_members; i++) {
        const Cor__Member *x = r->members[i];
        cor_dm_replica_t *y = &m.members[i];
        snprintf(y->node, sizeof(y->node), "%s", x->node);
        snprintf(y->tcp_address, sizeof(y->tcp_address), "%s", x->tcp_address);
        snprintf(y->unix_path, sizeof(y->unix_path), "%s", x->unix_path);
        snprintf(y->host_id, sizeof(y->host_id), "%s", x->host_id);
        y->epoch = x->epoch;
        y->alive = 1;
    }
    cor_obj_run_sync(o, members_fn, &m);
    cor_runtime_obj_put(o);
    return 0;
}

typedef struct peer_ctx {
    cor_runtime_t *rt;
    cor_obj_t *obj;
    int part;
    const Cor__PeerMessageRequest *req;
    cor_error_t *err;
    unsigned char *reply;
    size_t reply_len;
    int rc;
} peer_ctx_t;

static void peer_fn(void *arg)
{
    peer_ctx_t *p = arg;
    const cor_dm_inst_t *part = &p->obj->dm->parts[p->part];
    cor_dm_call_t c = {.object = p->obj->idstr, .err = p->err, .stack = p->obj->dm,
                       .pos = p->part + 1, .rt = p->rt, .obj = p->obj};
    p->rc = part->ops->server_peer(part->state, &c, p->req->payload.data, p->req->payload.len);
    p->reply = c.reply;
    p->reply_len = c.reply_len;
}

static int op_peer_message(void *arg, const ProtobufCMessage *in, ProtobufCMessage *out,
                           cor_arena_t *arena, cor_error_t *err)
{
    cor_runtime_t *rt = arg;
    const Cor__PeerMessageRequest *r = (const Cor__PeerMessageRequest *)in;
    cor_object_id_t id;
    if (cor_id_arg(&r->object_id, &id, err) != 0)
        return err->code;
    cor_obj_t *o = cor_runtime_obj_get(rt, &id);
    if (o == NULL)
        return cor_error_set(err, COR_ENOTFOUND, "object not hosted here");
    int part = -1;
    for (int i = 0; o->dm != NULL && i < o->dm->n; i++)
        if (strcmp(o->dm->parts[i].ops->name, r->dm) == 0 && o->dm->parts[i].ops->server_peer)
            part = i;
    if (part < 0) {
        cor_runtime_obj_put(o);
        return cor_error_set(err, COR_ENOTFOUND,
                             "no DM named '%.64s' takes peer messages at this replica", r->dm);
    }
    peer_ctx_t p = {.rt = rt, .obj = o, .part = part, .req = r, .err = err};
    cor_obj_run_sync(o, peer_fn, &p);
    cor_runtime_obj_put(o);
    if (p.rc == 0 && p.reply_len > 0) {
        uint8_t *copy = cor_arena_alloc(arena, p.reply_len);
        if (copy == NULL)
            p.rc = cor_error_set(err, COR_ENOMEM, "out of memory");
        else {
            memcpy(copy, p.reply, p.reply_len);
            ((Cor__PeerMessageReply *)out)->payload.data = copy;
            ((Cor__PeerMessageReply *)out)->payload.len = p.reply_len;
        }
    }
    free(p.reply);
    return p.rc;
}

static int has_tick(const cor_dm_stack_t *s)
{
    for (int i = 0; s != NULL && i < s->n; i++)
        if (s->parts[i].ops->server_tick != NULL)
            return 1;
    return 0;
}

typedef struct tick_list {
    cor_obj_t **objs;
    size_t n, cap;
} tick_list_t;

static void collect_ticking(void *arg, const cor_object_id_t *key, void *value)
{
    tick_list_t *l = arg;
    cor_obj_t *o = value;
    if (!has_tick(o->dm) || atomic_load(&o->moved) || l->n == l->cap)
        return; /* a tombstone's parts have nothing left to do */
    atomic_fetch_add(&o->refs, 1);
    l->objs[l->n++] = o;
}

static void send_reports(cor_runtime_t *rt);

void cor_runtime_dm_tick(cor_runtime_t *rt)
{
    cor_migrate_sweep(rt);
    send_reports(rt);
    pthread_rwlock_rdlock(&rt->lock);
    tick_list_t l = {.cap = rt->objects.len};
    l.objs = malloc((l.cap ? l.cap : 1) * sizeof(*l.objs));
    if (l.objs != NULL)
        cor_idmap_each(&rt->objects, collect_ticking, &l);
    pthread_rwlock_unlock(&rt->lock);
    for (size_t i = 0; i < l.n; i++) {
        cor_obj_t *o = l.objs[i];
        enum cor_turn turn = cor_obj_try_enter(o);
        if (turn != COR_TURN_QUEUED) {
            cor_error_t err;
            cor_error_clear(&err);
            cor_dm_call_t c = {.object = o->idstr, .err = &err, .stack = o->dm, .rt = rt, .obj = o};
            for (int j = 0; j < o->dm->n; j++)
                if (o->dm->parts[j].ops->server_tick != NULL) {
                    c.pos = j + 1;
                    o->dm->parts[j].ops->server_tick(o->dm->parts[j].state, &c);
                }
            if (turn == COR_TURN_OWNED)
                cor_obj_leave(o);
            else if (turn == COR_TURN_CONCURRENT)
                cor_obj_leave_concurrent(o);
        }
        cor_runtime_obj_put(o);
    }
    free(l.objs);
}

size_t cor_runtime_object_count(cor_runtime_t *rt)
{
    pthread_rwlock_rdlock(&rt->lock);
    size_t n = rt->objects.len;
    pthread_rwlock_unlock(&rt->lock);
    return n;
}

/* ------------------------------------------------------------------ */
/* serving Kernel.Invoke                                               */

/* The end of the server DM chain: the method itself, from request bytes to
 * reply bytes. */
typedef struct method_term {
    cor_runtime_t *rt;
    cor_obj_t *obj;
    cor_arena_t *arena;
} method_term_t;

static int method_terminal(cor_dm_call_t *c, void *arg)
{
    method_term_t *t = arg;
    const cor_method_desc_t *m = c->m;
    ProtobufCMessage *in = protobuf_c_message_unpack(m->input, &t->arena->pb, c->req_len, c->req);
    if (in == NULL)
        return cor_error_set(c->err, COR_EINVAL, "malformed request: payload is not a %s",
                             m->input->name);
    ProtobufCMessage *rep = cor_arena_alloc(t->arena, m->output->sizeof_message);
    if (rep == NULL)
        return cor_error_set(c->err, COR_ENOMEM, "out of memory");
    protobuf_c_message_init(m->output, rep);
    atomic_fetch_add(&t->rt->calls_served, 1);
    int rc = cor_runtime_obj_invoke(t->rt, t->obj, m, t->arena, in, rep, c->err);
    if (rc != 0)
        return rc;
    size_t n = protobuf_c_message_get_packed_size(rep);
    unsigned char *buf = cor_arena_alloc(t->arena, n ? n : 1);
    if (buf == NULL)
        return cor_error_set(c->err, COR_ENOMEM, "out of memory");
    protobuf_c_message_pack(rep, buf);
    return cor_dm_call_take_reply(c, buf, n);
}

/* A call to an object with server DM parts: through them to the method. */
static int invoke_through_dm(cor_runtime_t *rt, cor_obj_t *o, const cor_method_desc_t *m,
                             const Cor__InvokeRequest *req, cor_arena_t *arena, grpc_slice *out,
                             cor_error_t *err)
{
    static const unsigned char no_client[16];
    method_term_t term = {rt, o, arena};
    cor_dm_call_t c = {.m = m, .object = o->idstr, .req = req->payload.data,
                       .req_len = req->payload.len, .rt = rt, .obj = o,
                       .caller_node = req->caller_node,
                       .client_id = req->client_id.len == 16 ? req->client_id.data : no_client,
                       .seq = req->seq, .err = err, .stack = o->dm,
                       .terminal = method_terminal, .terminal_arg = &term};
    int rc = cor_dm_run(&c);
    if (rc == 0) {
        Cor__InvokeReply env = COR__INVOKE_REPLY__INIT;
        env.payload.data = c.reply;
        env.payload.len = c.reply_len;
        *out = grpc_slice_malloc(cor__invoke_reply__get_packed_size(&env));
        cor__invoke_reply__pack(&env, GRPC_SLICE_START_PTR(*out));
    }
    free(c.reply);
    return rc;
}

/* Runs a decoded invoke request against o (whose turn the caller holds or
 * shares). On success *out is the packed InvokeReply. */
static int invoke_exec(cor_runtime_t *rt, cor_obj_t *o, const Cor__InvokeRequest *req,
                       cor_arena_t *arena, grpc_slice *out, cor_error_t *err)
{
    if (o->moved) /* not run here: the caller follows the object */
        return cor_error_set(err, COR_EMOVED, COR_MOVED_FMT, o->moved_to,
                             (unsigned long long)o->moved_epoch);
    /* A caller that knows a newer placement than this replica's is talking
     * to a stale copy (say, a node back from the dead whose object was
     * restored elsewhere): never run it here. */
    if (req->epoch != 0 && o->epoch != 0 && req->epoch > o->epoch)
        return cor_error_set(err, COR_EMOVED,
                             "this replica is at epoch %llu, the caller knows epoch %llu: stale",
                             (unsigned long long)o->epoch, (unsigned long long)req->epoch);
    const cor_service_desc_t *svc = o->cls->service;
    const cor_method_desc_t *m = cor_service_method(svc, req->method, strlen(req->method));
    if (m == NULL || m->invoke == NULL)
        return cor_error_set(err, COR_EUNIMPL, "class %s has no method named '%.64s'",
                             o->cls->name, req->method);
    if (req->fingerprint != 0 && req->fingerprint != svc->fingerprint)
        return cor_error_set(err, COR_EREVISION,
                             "caller's interface %016llx differs from %s's %016llx here",
                             (unsigned long long)req->fingerprint, svc->name,
                             (unsigned long long)svc->fingerprint);
    if (o->dm != NULL)
        return invoke_through_dm(rt, o, m, req, arena, out, err);
    ProtobufCMessage *in = protobuf_c_message_unpack(m->input, &arena->pb, req->payload.len,
                                                     req->payload.data);
    if (in == NULL)
        return cor_error_set(err, COR_EINVAL, "malformed request: payload is not a %s",
                             m->input->name);
    ProtobufCMessage *rep = cor_arena_alloc(arena, m->output->sizeof_message);
    if (rep == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    protobuf_c_message_init(m->output, rep);
    atomic_fetch_add(&rt->calls_served, 1);
    int rc = cor_runtime_obj_invoke(rt, o, m, arena, in, rep, err);
    if (rc != 0)
        return rc;
    Cor__InvokeReply env = COR__INVOKE_REPLY__INIT;
    *out = cor_wire_pack(&env.base, 1, rep);
    return 0;
}

/* Decodes the envelope into arena and finds the object it names (with a
 * reference the caller puts). */
static int invoke_route(cor_runtime_t *rt, const uint8_t *data, size_t len, cor_arena_t *arena,
                        Cor__InvokeRequest **req, cor_obj_t **obj, cor_error_t *err)
{
    *req = cor__invoke_request__unpack(&arena->pb, len, data);
    if (*req == NULL)
        return cor_error_set(err, COR_EINVAL, "malformed invoke request: not a cor.InvokeRequest");
    cor_object_id_t id;
    if (cor_object_id_from_bytes((*req)->object_id.data, (*req)->object_id.len, &id) != 0)
        return cor_error_set(err, COR_EINVAL,
                             "malformed invoke request: object id has %zu bytes, not 16",
                             (*req)->object_id.len);
    *obj = cor_runtime_obj_get(rt, &id);
    if (*obj == NULL)
        return cor_error_set(err, COR_ENOTFOUND, "object not hosted here");
    return 0;
}

static void answer(cor_srv_call_t *call, int rc, const cor_error_t *err, grpc_slice out)
{
    if (rc == 0)
        cor_srv_call_reply(call, out);
    else
        cor_srv_call_fail(call, rc, err->msg);
}

/* A remote call parked behind a busy object: owns a copy of the request
 * bytes and a reference on the object. */
typedef struct parked_call {
    cor_obj_task_t task;
    cor_runtime_t *rt;
    cor_obj_t *obj;
    cor_srv_call_t *call;
    size_t len;
    uint8_t data[];
} parked_call_t;

static void parked_run(cor_obj_task_t *t)
{
    parked_call_t *p = (parked_call_t *)t;
    cor_arena_t arena;
    cor_arena_init(&arena, p->rt->opts.max_message_bytes * 4);
    cor_error_t err;
    cor_error_clear(&err);
    grpc_slice out = grpc_empty_slice();
    Cor__InvokeRequest *req = cor__invoke_request__unpack(&arena.pb, p->len, p->data);
    int rc = req == NULL ? cor_error_set(&err, COR_ENOMEM, "out of memory decoding a request")
                         : invoke_exec(p->rt, p->obj, req, &arena, &out, &err);
    answer(p->call, rc, &err, out);
    cor_arena_close(&arena);
    cor_runtime_obj_put(p->obj);
    free(p);
}

static void invoke_handler(void *arg, cor_srv_call_t *call, const uint8_t *data, size_t len)
{
    cor_runtime_t *rt = arg;
    cor_arena_t arena;
    cor_arena_init(&arena, rt->opts.max_message_bytes * 4);
    cor_error_t err;
    cor_error_clear(&err);
    Cor__InvokeRequest *req = NULL;
    cor_obj_t *o = NULL;
    grpc_slice out = grpc_empty_slice();
    int rc = invoke_route(rt, data, len, &arena, &req, &o, &err);
    if (rc != 0) {
        answer(call, rc, &err, out);
        goto done;
    }
    enum cor_turn turn = cor_obj_try_enter(o);
    if (turn != COR_TURN_QUEUED) {
        /* The common case: run it now, from the bytes already decoded. */
        rc = invoke_exec(rt, o, req, &arena, &out, &err);
        answer(call, rc, &err, out); /* before draining others' calls */
        if (turn == COR_TURN_OWNED)
            cor_obj_leave(o);
        else if (turn == COR_TURN_CONCURRENT)
            cor_obj_leave_concurrent(o);
        cor_runtime_obj_put(o);
        goto done;
    }
    /* Busy: park a copy of the bytes; this thread is free at once. */
    parked_call_t *p = malloc(sizeof(*p) + len);
    if (p == NULL) {
        cor_error_set(&err, COR_ENOMEM, "out of memory");
        answer(call, COR_ENOMEM, &err, out);
        cor_runtime_obj_put(o);
        goto done;
    }
    p->task.run = parked_run;
    p->rt = rt;
    p->obj = o;
    p->call = call;
    p->len = len;
    memcpy(p->data, data, len);
    switch (cor_obj_enter(o, &p->task)) {
    case COR_TURN_QUEUED:
        break; /* runs when the object's current call finishes */
    case COR_TURN_OWNED: /* it went idle meanwhile */
        parked_run(&p->task);
        cor_obj_leave(o);
        break;
    case COR_TURN_SHARED:
        parked_run(&p->task);
        break;
    case COR_TURN_CONCURRENT: /* the exclusive step ended meanwhile */
        atomic_fetch_add(&o->refs, 1); /* parked_run puts one */
        parked_run(&p->task);
        cor_obj_leave_concurrent(o);
        cor_runtime_obj_put(o);
        break;
    }
done:
    cor_arena_close(&arena);
}

typedef struct dispatch_ctx {
    cor_runtime_t *rt;
    cor_obj_t *obj;
    const Cor__InvokeRequest *req;
    cor_arena_t *arena;
    grpc_slice out;
    cor_error_t *err;
    int rc;
} dispatch_ctx_t;

static void dispatch_fn(void *arg)
{
    dispatch_ctx_t *d = arg;
    d->rc = invoke_exec(d->rt, d->obj, d->req, d->arena, &d->out, d->err);
}

int cor_runtime_dispatch_bytes(cor_runtime_t *rt, const uint8_t *data, size_t len, uint8_t **reply,
                               size_t *reply_len, cor_error_t *err)
{
    cor_arena_t arena;
    cor_arena_init(&arena, rt->opts.max_message_bytes * 4);
    Cor__InvokeRequest *req = NULL;
    cor_obj_t *o = NULL;
    int rc = invoke_route(rt, data, len, &arena, &req, &o, err);
    if (rc == 0) {
        dispatch_ctx_t d = {.rt = rt, .obj = o, .req = req, .arena = &arena, .err = err};
        cor_obj_run_sync(o, dispatch_fn, &d);
        cor_runtime_obj_put(o);
        rc = d.rc;
        if (rc == 0) {
            size_t n = GRPC_SLICE_LENGTH(d.out);
            *reply = malloc(n ? n : 1);
            if (*reply == NULL) {
                rc = cor_error_set(err, COR_ENOMEM, "out of memory");
            } else {
                memcpy(*reply, GRPC_SLICE_START_PTR(d.out), n);
                *reply_len = n;
            }
            grpc_slice_unref(d.out);
        }
    }
    cor_arena_close(&arena);
    return rc;
}

/* ------------------------------------------------------------------ */
/* replica operations (Kernel.CreateReplica etc.)                      */

int cor_id_arg(const ProtobufCBinaryData *b, cor_object_id_t *id, cor_error_t *err)
{
    if (cor_object_id_from_bytes(b->data, b->len, id) != 0 || cor_object_id_is_nil(id))
        return cor_error_set(err, COR_EINVAL, "object id must be 16 bytes, not nil (got %zu)",
                             b->len);
    return 0;
}

/* The object id and class a replica operation names; NULL with err set
 * when either is malformed or the class is not hosted here. */
const cor_class_t *cor_replica_args(cor_runtime_t *rt, const ProtobufCBinaryData *idb,
                                       const char *class_name, cor_object_id_t *id,
                                       cor_error_t *err)
{
    if (cor_id_arg(idb, id, err) != 0)
        return NULL;
    const cor_class_t *cls = class_by_name(rt, class_name);
    if (cls == NULL)
        cor_error_set(err, COR_ENOTFOUND, "this kernel server hosts no class named '%.80s'",
                      class_name);
    return cls;
}

static int op_create_replica(void *arg, const ProtobufCMessage *in, ProtobufCMessage *out,
                             cor_arena_t *arena, cor_error_t *err)
{
    cor_runtime_t *rt = arg;
    const Cor__CreateReplicaRequest *r = (const Cor__CreateReplicaRequest *)in;
    cor_object_id_t id;
    const cor_class_t *cls = cor_replica_args(rt, &r->object_id, r->class_name, &id, err);
    if (cls == NULL)
        return err->code;
    return cor_obj_make(rt, cls, &id, r->epoch, r->dm_chain, 0, r->args.data, r->args.len, NULL, NULL,
                        NULL, 0,
                    err);
}

static int op_delete_replica(void *arg, const ProtobufCMessage *in, ProtobufCMessage *out,
                             cor_arena_t *arena, cor_error_t *err)
{
    const Cor__DeleteReplicaRequest *r = (const Cor__DeleteReplicaRequest *)in;
    cor_object_id_t id;
    if (cor_id_arg(&r->object_id, &id, err) != 0)
        return err->code;
    return cor_runtime_delete_object(arg, &id, err);
}

/* Runs save_state in the object's turn, so no call is half-way through. */
typedef struct save_ctx {
    cor_runtime_t *rt;
    cor_obj_t *obj;
    uint8_t *buf;
    size_t len;
    int rc;
    cor_error_t *err;
} save_ctx_t;

static void save_fn(void *arg)
{
    save_ctx_t *s = arg;
    cor_arena_t arena;
    cor_arena_init(&arena, 0);
    cor_ctx_t ctx = {.rt = s->rt, .arena = &arena, .id = &s->obj->id, .err = s->err};
    s->rc = s->obj->cls->save_state(s->obj->self, &ctx, &s->buf, &s->len);
    cor_arena_close(&arena);
}

int cor_runtime_save_object(cor_runtime_t *rt, const cor_object_id_t *id, const char **class_name,
                            uint8_t **buf, size_t *len, uint64_t *epoch, cor_error_t *err)
{
    cor_obj_t *o = cor_runtime_obj_get(rt, id);
    if (o == NULL) {
        char s[COR_OBJECT_ID_STRLEN + 1];
        cor_object_id_format(id, s);
        return cor_error_set(err, COR_ENOTFOUND, "object %s is not hosted here", s);
    }
    if (o->cls->save_state == NULL) {
        cor_runtime_obj_put(o);
        return cor_error_set(err, COR_EUNIMPL, "class %s cannot save state (no save_state)",
                             o->cls->name);
    }
    save_ctx_t s = {.rt = rt, .obj = o, .err = err};
    cor_obj_run_sync(o, save_fn, &s);
    if (s.rc == 0) {
        *class_name = o->cls->name;
        *buf = s.buf;
        *len = s.len;
        if (epoch != NULL)
            *epoch = o->epoch;
    } else if (err != NULL && err->code == COR_OK) {
        cor_error_set(err, s.rc, "%s", cor_strerror(s.rc));
    }
    cor_runtime_obj_put(o); /* class_name is static class data: still valid */
    return s.rc;
}

static int op_get_state(void *arg, const ProtobufCMessage *in, ProtobufCMessage *out,
                        cor_arena_t *arena, cor_error_t *err)
{
    const Cor__GetStateRequest *r = (const Cor__GetStateRequest *)in;
    Cor__GetStateReply *rep = (Cor__GetStateReply *)out;
    cor_object_id_t id;
    if (cor_id_arg(&r->object_id, &id, err) != 0)
        return err->code;
    if (r->probe)
        return cor_migrate_probe(arg, &id, arena, rep, err);
    const char *cname;
    uint8_t *buf;
    size_t len;
    int rc = cor_runtime_save_object(arg, &id, &cname, &buf, &len, &rep->epoch, err);
    if (rc != 0)
        return rc;
    uint8_t *copy = cor_arena_alloc(arena, len ? len : 1);
    if (copy == NULL) {
        free(buf);
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    }
    memcpy(copy, buf, len);
    free(buf);
    rep->class_name = (char *)cname;
    rep->state.data = copy;
    rep->state.len = len;
    return 0;
}

/* A placement this kernel received under a new epoch, to tell the OMS
 * (which may have died before committing it): sent on the tick until
 * acknowledged. */
struct cor_report {
    cor_object_id_t id;
    uint64_t epoch;
    struct cor_report *next;
};

void cor_report_later(cor_runtime_t *rt, const cor_object_id_t *id, uint64_t epoch)
{
    if (rt->oms_address[0] == '\0')
        return;
    struct cor_report *r = malloc(sizeof(*r));
    if (r == NULL)
        return;
    r->id = *id;
    r->epoch = epoch;
    pthread_mutex_lock(&rt->report_lock);
    r->next = rt->reports;
    rt->reports = r;
    pthread_mutex_unlock(&rt->report_lock);
}

static void send_reports(cor_runtime_t *rt)
{
    pthread_mutex_lock(&rt->report_lock);
    struct cor_report *list = rt->reports;
    rt->reports = NULL;
    pthread_mutex_unlock(&rt->report_lock);
    while (list != NULL) {
        struct cor_report *r = list;
        list = r->next;
        Cor__PlacementReport rq = COR__PLACEMENT_REPORT__INIT;
        rq.object_id.data = r->id.b;
        rq.object_id.len = 16;
        rq.node = rt->node_name;
        rq.incarnation = atomic_load(&rt->incarnation);
        rq.epoch = r->epoch;
        ProtobufCMessage *m = NULL;
        cor_error_t err;
        int rc = cor_rpc_call(rt->client, rt->oms_address, COR_M_OMS_REPORT_PLACEMENT, &rq.base,
                              &cor__placement_ack__descriptor, 1000, &m, &err);
        if (m != NULL)
            protobuf_c_message_free_unpacked(m, NULL);
        if (rc == COR_EUNAVAIL || rc == COR_ETIMEDOUT) {
            pthread_mutex_lock(&rt->report_lock); /* the OMS is away: next tick */
            r->next = rt->reports;
            rt->reports = r;
            pthread_mutex_unlock(&rt->report_lock);
        } else {
            free(r);
        }
    }
}

/* ------------------------------------------------------------------ */
/* runtime lifecycle                                                   */

static void read_host_id(char *out, size_t len)
{
    const char *env = getenv("COR_HOST_ID");
    if (env != NULL && env[0] != '\0') {
        snprintf(out, len, "%s", env);
        return;
    }
    FILE *f = fopen("/etc/machine-id", "r");
    if (f != NULL) {
        char buf[128];
        if (fgets(buf, sizeof(buf), f) != NULL) {
            buf[strcspn(buf, "\r\n")] = '\0';
            if (buf[0] != '\0') {
                snprintf(out, len, "%s", buf);
                fclose(f);
                return;
            }
        }
        fclose(f);
    }
    if (gethostname(out, len) != 0 || out[0] == '\0')
        snprintf(out, len, "localhost");
    out[len - 1] = '\0';
}

int cor_runtime_new(const cor_runtime_opts_t *opts, cor_runtime_t **out, cor_error_t *err)
{
    if (opts != NULL && opts->version != COR_RUNTIME_OPTS_VERSION)
        return cor_error_set(err, COR_EINVAL, "runtime options have version %u, expected %u",
                             opts->version, COR_RUNTIME_OPTS_VERSION);
    cor_runtime_t *rt = calloc(1, sizeof(*rt));
    if (rt == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    if (opts != NULL)
        rt->opts = *opts;
    rt->opts.version = COR_RUNTIME_OPTS_VERSION;
    if (rt->opts.default_deadline_ms <= 0)
        rt->opts.default_deadline_ms = DEFAULT_DEADLINE_MS;
    if (rt->opts.max_message_bytes == 0)
        rt->opts.max_message_bytes = COR_DEFAULT_MAX_MESSAGE;
    /* Two, not one, though one measured faster on 2 CPUs: with one, a
     * single slow method would stall every object on the host. */
    if (rt->opts.server_threads <= 0)
        rt->opts.server_threads = 2;
    if (rt->opts.host_id != NULL && rt->opts.host_id[0] != '\0')
        snprintf(rt->host_id, sizeof(rt->host_id), "%s", rt->opts.host_id);
    else
        read_host_id(rt->host_id, sizeof(rt->host_id));
    rt->opts.host_id = NULL; /* not kept: the caller's string */
    cor_object_id_t cid;
    cor_object_id_generate(&cid);
    memcpy(rt->client_id, cid.b, sizeof(rt->client_id));
    atomic_init(&rt->seq, 0);
    pthread_rwlock_init(&rt->lock, NULL);
    cor_idmap_init(&rt->objects);

    if (rt->opts.oms_address != NULL)
        snprintf(rt->oms_address, sizeof(rt->oms_address), "%s", rt->opts.oms_address);
    rt->opts.oms_address = NULL; /* kept in rt->oms_address */
    atomic_init(&rt->calls_served, 0);
    atomic_init(&rt->incarnation, 0);
    pthread_mutex_init(&rt->report_lock, NULL);
    pthread_mutex_init(&rt->stage_lock, NULL);
    cor_client_opts_t copts = {.max_message_bytes = rt->opts.max_message_bytes};
    int rc = cor_client_new(cor_method_paths, COR_M_COUNT, &copts, &rt->client, err);
    if (rc != 0) {
        pthread_rwlock_destroy(&rt->lock);
        free(rt);
        return rc;
    }
    *out = rt;
    return 0;
}

const char *cor_runtime_host_id(const cor_runtime_t *rt)
{
    return rt->host_id;
}

const char *cor_runtime_tcp_address(const cor_runtime_t *rt)
{
    return rt->tcp_addr;
}

const char *cor_runtime_unix_path(const cor_runtime_t *rt)
{
    return rt->unix_path;
}

int cor_runtime_listen(cor_runtime_t *rt, const char *tcp_addr, const char *unix_path,
                       cor_error_t *err)
{
    if (rt->server != NULL)
        return cor_error_set(err, COR_ESTATE, "runtime is already listening");
    if ((tcp_addr == NULL || tcp_addr[0] == '\0') && (unix_path == NULL || unix_path[0] == '\0'))
        return cor_error_set(err, COR_EINVAL, "listen needs a TCP address or a unix socket path");
    if (unix_path != NULL && strlen(unix_path) >= 100)
        return cor_error_set(err, COR_EINVAL, "unix socket path '%s' is longer than 99 bytes",
                             unix_path);
    cor_server_opts_t sopts = {.threads = rt->opts.server_threads,
                               .max_message_bytes = rt->opts.max_message_bytes};
    cor_server_t *s = NULL;
    int rc = cor_server_new(&sopts, &s, err);
    if (rc != 0)
        return rc;
    rc = cor_server_add_method(s, cor_method_paths[COR_M_INVOKE], invoke_handler, rt, err);
    if (rc != 0)
        goto fail;
    const cor_rpc_handler_t ops[] = {
        {COR_M_CREATE_REPLICA, &cor__create_replica_request__descriptor,
         &cor__create_replica_reply__descriptor, op_create_replica, rt, 0},
        {COR_M_DELETE_REPLICA, &cor__delete_replica_request__descriptor,
         &cor__delete_replica_reply__descriptor, op_delete_replica, rt, 0},
        {COR_M_GET_STATE, &cor__get_state_request__descriptor, &cor__get_state_reply__descriptor,
         op_get_state, rt, 0},
        {COR_M_INSTALL_STATE, &cor__install_state_request__descriptor,
         &cor__install_state_reply__descriptor, cor_op_install_state, rt, 0},
        {COR_M_SET_MEMBERS, &cor__set_members_request__descriptor,
         &cor__set_members_reply__descriptor, op_set_members, rt, 1u << 20},
        {COR_M_PEER_MESSAGE, &cor__peer_message_request__descriptor,
         &cor__peer_message_reply__descriptor, op_peer_message, rt, 0},
        {COR_M_MIGRATE_OUT, &cor__migrate_out_request__descriptor,
         &cor__migrate_out_reply__descriptor, cor_op_migrate_out, rt, 1u << 16},
    };
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        rc = cor_rpc_serve(s, &ops[i], err);
        if (rc != 0)
            goto fail;
    }
    if (tcp_addr != NULL && tcp_addr[0] != '\0') {
        int port = 0;
        rc = cor_server_listen(s, tcp_addr, &port, err);
        if (rc != 0)
            goto fail;
        /* Record the bound port (tcp_addr may have said :0). */
        const char *colon = strrchr(tcp_addr, ':');
        int hostlen = colon ? (int)(colon - tcp_addr) : (int)strlen(tcp_addr);
        snprintf(rt->tcp_addr, sizeof(rt->tcp_addr), "%.*s:%d", hostlen, tcp_addr, port);
    }
    if (unix_path != NULL && unix_path[0] != '\0') {
        struct stat st;
        /* A socket file left by a process that died is in the way. */
        if (lstat(unix_path, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(unix_path);
        char target[COR_ADDR_MAX + 8];
        snprintf(target, sizeof(target), "unix:%s", unix_path);
        rc = cor_server_listen(s, target, NULL, err);
        if (rc != 0)
            goto fail;
        snprintf(rt->unix_path, sizeof(rt->unix_path), "%s", unix_path);
    }
    rc = cor_server_start(s, err);
    if (rc != 0)
        goto fail;
    rt->server = s;
    return 0;
fail:
    cor_server_free(s);
    rt->tcp_addr[0] = '\0';
    rt->unix_path[0] = '\0';
    return rc;
}

static void free_obj_cb(void *arg, const cor_object_id_t *key, void *value)
{
    cor_runtime_obj_put(value);
}

void cor_runtime_free(cor_runtime_t *rt)
{
    if (rt == NULL)
        return;
    cor_server_free(rt->server);
    if (rt->unix_path[0] != '\0')
        unlink(rt->unix_path);
    cor_client_free(rt->client);
    cor_idmap_each(&rt->objects, free_obj_cb, NULL);
    cor_idmap_close(&rt->objects);
    while (rt->reports != NULL) {
        struct cor_report *r = rt->reports;
        rt->reports = r->next;
        free(r);
    }
    pthread_mutex_destroy(&rt->report_lock);
    cor_migrate_free_stages(rt);
    pthread_mutex_destroy(&rt->stage_lock);
    pthread_rwlock_destroy(&rt->lock);
    free(rt);
}

long long cor_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long cor_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
