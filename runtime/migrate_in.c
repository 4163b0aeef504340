/*
 * migrate_in.c — live migration, the target's side (Kernel.InstallState),
 * and what a kernel keeps after a move: tombstones and staged copies.
 *
 * InstallState: WHOLE installs and serves at once; STAGE starts a staged
 * copy, PATCH applies a step to it, COMMIT applies the last one and makes
 * the object live under the move's epoch. Staged copies nobody commits are
 * dropped after STAGE_TTL_MS. A staged copy of a class with apply_dirty is
 * loaded (load_state) once whole, so later steps are the class's own
 * deltas. A move's server DM parts are made with the staged copy, so what
 * their state is staged with has somewhere to go.
 *
 * A source's tombstone answers every call EMOVED with where the object
 * went, for TOMBSTONE_TTL_MS; the OMS asks it (cor_migrate_probe) whether
 * a move it did not see commit happened. The source's side is
 * migrate_out.c; docs/migration.md tells the protocol.
 */
#include "rsm.h"
#include "runtime_int.h"

#include <cor/log.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STAGE_MAX_BYTES ((uint64_t)1 << 30)  /* the largest state a target stages */
#define STAGE_TTL_MS 30000
#define TOMBSTONE_TTL_MS 30000


/* A staged copy at the target. */
typedef struct cor_stage {
    struct cor_stage *next;
    cor_object_id_t id;
    uint64_t epoch;
    const cor_class_t *cls;
    uint8_t *bytes; /* the state so far (owned); NULL once loaded */
    size_t len;
    void *self;     /* loaded instance (classes with apply_dirty) */
    cor_dm_stack_t *dm; /* the server DM parts, their state staged too */
    long long touched_ms;
} cor_stage_t;

static void stage_free(cor_stage_t *s)
{
    if (s->self != NULL)
        s->cls->destroy(s->self);
    cor_dm_stack_free(s->dm);
    free(s->bytes);
    free(s);
}


/* Applies a packed StateDelta to a staged copy's bytes. */
static int delta_apply(cor_stage_t *s, const ProtobufCBinaryData *packed, cor_error_t *err)
{
    Cor__StateDelta *d = cor__state_delta__unpack(NULL, packed->len, packed->data);
    if (d == NULL)
        return cor_error_set(err, COR_EINVAL, "install: delta is not a cor.StateDelta");
    int rc = 0;
    if (d->length > STAGE_MAX_BYTES) {
        rc = cor_error_set(err, COR_ETOOBIG, "install: state of %llu bytes is over the %llu limit",
                           (unsigned long long)d->length, (unsigned long long)STAGE_MAX_BYTES);
        goto out;
    }
    if (d->length != s->len) {
        uint8_t *b = realloc(s->bytes, d->length ? d->length : 1);
        if (b == NULL) {
            rc = cor_error_set(err, COR_ENOMEM, "install: no memory for %llu bytes",
                               (unsigned long long)d->length);
            goto out;
        }
        if (d->length > s->len)
            memset(b + s->len, 0, d->length - s->len);
        s->bytes = b;
        s->len = d->length;
    }
    for (size_t i = 0; i < d->n_runs; i++) {
        const Cor__DeltaRun *r = d->runs[i];
        if (r->offset > s->len || r->data.len > s->len - r->offset) {
            rc = cor_error_set(err, COR_EINVAL,
                               "install: run %zu (%zu bytes at %llu) lies outside the %zu-byte state",
                               i, r->data.len, (unsigned long long)r->offset, s->len);
            goto out;
        }
        memcpy(s->bytes + r->offset, r->data.data, r->data.len);
    }
out:
    cor__state_delta__free_unpacked(d, NULL);
    return rc;
}


/* ------------------------------------------------------------------ */
/* target                                                              */

/* Takes the staged copy of id out of the list (NULL: none). */
static cor_stage_t *stage_take(cor_runtime_t *rt, const cor_object_id_t *id)
{
    pthread_mutex_lock(&rt->stage_lock);
    cor_stage_t **pp = &rt->stages, *s = NULL;
    while (*pp != NULL && !cor_object_id_equal(&(*pp)->id, id))
        pp = &(*pp)->next;
    if (*pp != NULL) {
        s = *pp;
        *pp = s->next;
        s->next = NULL;
    }
    pthread_mutex_unlock(&rt->stage_lock);
    return s;
}

static void stage_put(cor_runtime_t *rt, cor_stage_t *s)
{
    s->touched_ms = cor_mono_ms();
    pthread_mutex_lock(&rt->stage_lock);
    s->next = rt->stages;
    rt->stages = s;
    pthread_mutex_unlock(&rt->stage_lock);
}

/* A tombstone taken out of the table, to free on the next tick: freeing
 * it (its DM parts may hold a 10 000-entry table) inside a move's freeze
 * would lengthen the freeze. */
struct cor_grave {
    cor_obj_t *obj;
    struct cor_grave *next;
};

/* Takes id's tombstone, if it has one here, out of the table. */
static void bury_tombstone(cor_runtime_t *rt, const cor_object_id_t *id)
{
    pthread_rwlock_wrlock(&rt->lock);
    cor_obj_t *o = cor_idmap_get(&rt->objects, id);
    if (o != NULL && atomic_load(&o->moved))
        cor_idmap_del(&rt->objects, id);
    else
        o = NULL;
    pthread_rwlock_unlock(&rt->lock);
    if (o == NULL)
        return;
    struct cor_grave *g = malloc(sizeof(*g));
    if (g == NULL) {
        cor_obj_put(o); /* no room to defer: free it now */
        return;
    }
    g->obj = o;
    pthread_mutex_lock(&rt->stage_lock);
    g->next = rt->graves;
    rt->graves = g;
    pthread_mutex_unlock(&rt->stage_lock);
}

static void free_graves(struct cor_grave *g)
{
    while (g != NULL) {
        struct cor_grave *next = g->next;
        cor_obj_put(g->obj);
        free(g);
        g = next;
    }
}

/* Installs an object that moved here; its tombstone from an earlier stay
 * gives way (calls that reach it meanwhile were answered EMOVED and
 * follow). Consumes made and made_dm. */
static int install_live(cor_runtime_t *rt, const cor_class_t *cls, const cor_object_id_t *id,
                        const Cor__InstallStateRequest *r, const uint8_t *bytes, size_t len,
                        void *made, cor_dm_stack_t *made_dm, cor_error_t *err)
{
    bury_tombstone(rt, id);
    cor_obj_init_t in = {.how = made != NULL ? COR_OBJ_ADOPT : COR_OBJ_LOAD, .bytes = bytes,
                         .len = len, .made = made, .made_dm = made_dm, .dm_state = r->dm_state,
                         .n_dm_state = r->n_dm_state};
    int rc = cor_obj_make(rt, cls, id, r->epoch, r->dm_chain, &in, err);
    if (rc == 0 && r->epoch > 1)
        cor_report_later(rt, id, r->epoch);
    return rc;
}

static int stage_load(cor_runtime_t *rt, cor_stage_t *s, cor_error_t *err)
{
    if (s->cls->apply_dirty == NULL)
        return cor_error_set(err, COR_EINVAL, "install: class %s takes no deltas of its own",
                             s->cls->name);
    cor_arena_t arena;
    cor_arena_init(&arena, 0);
    cor_error_t cerr;
    cor_error_clear(&cerr);
    cor_ctx_t ctx = {.rt = rt, .arena = &arena, .id = &s->id, .err = &cerr};
    int rc = s->cls->load_state(&ctx, s->bytes, s->len, &s->self);
    cor_arena_close(&arena);
    if (rc != 0) {
        s->self = NULL;
        return cor_error_set(err, rc, "install: class %s refused the staged state: %s",
                             s->cls->name, cerr.msg[0] ? cerr.msg : cor_strerror(rc));
    }
    free(s->bytes);
    s->bytes = NULL;
    s->len = 0;
    return 0;
}

static int stage_class_delta(cor_runtime_t *rt, cor_stage_t *s, const ProtobufCBinaryData *b,
                             cor_error_t *err)
{
    if (s->self == NULL)
        return cor_error_set(err, COR_EINVAL, "install: a class delta came before the state");
    cor_arena_t arena;
    cor_arena_init(&arena, 0);
    cor_error_t cerr;
    cor_error_clear(&cerr);
    cor_ctx_t ctx = {.rt = rt, .arena = &arena, .id = &s->id, .err = &cerr};
    int rc = s->cls->apply_dirty(s->self, &ctx, b->data, b->len);
    cor_arena_close(&arena);
    if (rc != 0)
        return cor_error_set(err, rc, "install: class %s refused a delta: %s", s->cls->name,
                             cerr.msg[0] ? cerr.msg : cor_strerror(rc));
    return 0;
}

int cor_op_install_state(void *arg, const ProtobufCMessage *in, ProtobufCMessage *out,
                         cor_arena_t *arena, cor_error_t *err)
{
    cor_runtime_t *rt = arg;
    const Cor__InstallStateRequest *r = (const Cor__InstallStateRequest *)in;
    (void)out;
    (void)arena;
    cor_object_id_t id;
    const cor_class_t *cls = cor_replica_args(rt, &r->object_id, r->class_name, &id, err);
    if (cls == NULL)
        return err->code;
    if (r->mode == COR__INSTALL_MODE__INSTALL_WHOLE)
        return install_live(rt, cls, &id, r, r->state.data, r->state.len, NULL, NULL, err);
    if (r->mode != COR__INSTALL_MODE__INSTALL_STAGE && r->mode != COR__INSTALL_MODE__INSTALL_PATCH &&
        r->mode != COR__INSTALL_MODE__INSTALL_COMMIT)
        return cor_error_set(err, COR_EINVAL, "install: unknown mode %d", (int)r->mode);
    if (cls->load_state == NULL)
        return cor_error_set(err, COR_EUNIMPL, "class %s cannot load state", cls->name);
    if (r->class_delta && r->mode == COR__INSTALL_MODE__INSTALL_STAGE)
        return cor_error_set(err, COR_EINVAL, "install: a STAGE carries bytes, not a class delta");
    cor_stage_t *s = stage_take(rt, &id);
    if (r->mode == COR__INSTALL_MODE__INSTALL_STAGE) {
        if (s != NULL)
            stage_free(s); /* an earlier attempt's leftovers */
        s = calloc(1, sizeof(*s));
        if (s == NULL)
            return cor_error_set(err, COR_ENOMEM, "out of memory");
        s->id = id;
        s->epoch = r->epoch;
        s->cls = cls;
        /* The server DM parts are made now, so what their state is staged
         * with (whole here, changes in later steps) has somewhere to go. */
        int drc = cor_dm_stack_new(r->dm_chain, 1, &s->dm, err);
        if (drc == 0)
            drc = cor_dm_stack_load(s->dm, r->dm_state, r->n_dm_state, 0, "staged", err);
        if (drc != 0) {
            stage_free(s);
            return drc;
        }
    } else if (s == NULL || s->epoch != r->epoch || s->cls != cls) {
        int rc = cor_error_set(err, COR_ESTATE,
                               "install: no staged copy of this object at epoch %llu (a step "
                               "was lost or the copy expired): start the move again",
                               (unsigned long long)r->epoch);
        if (s != NULL)
            stage_put(rt, s);
        return rc;
    }
    int rc;
    if (r->class_delta)
        rc = stage_class_delta(rt, s, &r->delta, err);
    else if (s->self != NULL)
        rc = cor_error_set(err, COR_EINVAL, "install: byte runs for a copy already loaded");
    else
        rc = delta_apply(s, &r->delta, err);
    if (rc == 0 && r->load && s->self == NULL)
        rc = stage_load(rt, s, err);
    if (rc == 0)
        rc = cor_dm_stack_load(s->dm, r->dm_delta, r->n_dm_delta, 1, "staged", err);
    if (rc == 0 && r->mode == COR__INSTALL_MODE__INSTALL_PATCH)
        rc = cor_dm_stack_load(s->dm, r->dm_state, r->n_dm_state, 0, "staged", err);
    if (rc != 0) {
        stage_free(s); /* the move fails; its source serves on */
        return rc;
    }
    if (r->mode != COR__INSTALL_MODE__INSTALL_COMMIT) {
        stage_put(rt, s);
        return 0;
    }
    void *made = s->self;
    cor_dm_stack_t *made_dm = s->dm;
    s->self = NULL;
    s->dm = NULL;
    /* The COMMIT's whole DM states (parts without changes of their own)
     * are loaded into the staged parts by cor_obj_make. */
    rc = install_live(rt, cls, &id, r, s->bytes, s->len, made, made_dm, err);
    stage_free(s);
    return rc;
}

int cor_migrate_probe(cor_runtime_t *rt, const cor_object_id_t *id, cor_arena_t *arena,
                      Cor__GetStateReply *rep, cor_error_t *err)
{
    cor_obj_t *o = cor_obj_get(rt, id);
    if (o == NULL)
        return cor_error_set(err, COR_ENOTFOUND, "object not hosted here");
    rep->class_name = (char *)o->cls->name;
    rep->epoch = o->epoch;
    if (atomic_load(&o->moved)) { /* its fields were written before the flag */
        rep->moved = 1;
        size_t n = strlen(o->moved_to) + 1;
        char *to = cor_arena_alloc(arena, n);
        if (to != NULL)
            memcpy(to, o->moved_to, n);
        rep->moved_to = to != NULL ? to : (char *)"";
        rep->moved_epoch = o->moved_epoch;
    }
    int rc = cor_rsm_status(o, arena, &rep->raft);
    cor_obj_put(o);
    return rc != 0 ? cor_error_set(err, rc, "out of memory") : 0;
}

/* ------------------------------------------------------------------ */
/* sweeping                                                            */

void cor_migrate_sweep(cor_runtime_t *rt)
{
    long long now = cor_mono_ms();
    cor_object_id_t old[64];
    int n = 0;
    pthread_rwlock_rdlock(&rt->lock);
    for (size_t i = 0; i < rt->objects.cap && n < 64; i++) {
        cor_obj_t *o = rt->objects.slots[i].value;
        if (o != NULL && atomic_load(&o->moved) && now - o->moved_at_ms > TOMBSTONE_TTL_MS)
            old[n++] = o->id;
    }
    pthread_rwlock_unlock(&rt->lock);
    for (int i = 0; i < n; i++)
        cor_runtime_unhost(rt, &old[i], NULL);

    cor_stage_t *expired = NULL;
    pthread_mutex_lock(&rt->stage_lock);
    struct cor_grave *graves = rt->graves;
    rt->graves = NULL;
    for (cor_stage_t **pp = &rt->stages; *pp != NULL;) {
        cor_stage_t *s = *pp;
        if (now - s->touched_ms > STAGE_TTL_MS) {
            *pp = s->next;
            s->next = expired;
            expired = s;
        } else {
            pp = &s->next;
        }
    }
    pthread_mutex_unlock(&rt->stage_lock);
    free_graves(graves);
    while (expired != NULL) {
        cor_stage_t *s = expired;
        expired = s->next;
        char sid[COR_OBJECT_ID_STRLEN + 1];
        cor_object_id_format(&s->id, sid);
        cor_log_warn("object %s: a staged copy for a move nobody finished was dropped", sid);
        stage_free(s);
    }
}

void cor_migrate_free_stages(cor_runtime_t *rt)
{
    free_graves(rt->graves);
    rt->graves = NULL;
    while (rt->stages != NULL) {
        cor_stage_t *s = rt->stages;
        rt->stages = s->next;
        stage_free(s);
    }
}

