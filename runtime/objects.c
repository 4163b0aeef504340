/*
 * objects.c — the classes a runtime can host and the objects it hosts:
 * registration, making an object (from constructor arguments, from saved
 * state, or adopting one a move staged), the table, and deletion.
 *
 * The table (an id map under rt->lock) holds one reference per object;
 * cor_obj_get takes another for whoever uses it outside the lock, and the
 * last cor_obj_put destroys the instance, its server DM parts and the
 * struct. Deleting an object only takes it out of the table: calls still
 * running in it finish first.
 *
 * An object is made whole before it enters the table (server DM parts
 * made, their moved state loaded, the instance created or loaded), so no
 * call can reach a half-made one; any failure on the way frees what was
 * made and leaves the table as it was.
 */
#include "runtime_int.h"
#include "ref_int.h"
#include "rsm.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- classes ---------------- */

static const cor_class_t *find_class(cor_runtime_t *rt, const char *name)
{
    for (int i = 0; i < rt->n_classes; i++)
        if (strcmp(rt->classes[i]->name, name) == 0)
            return rt->classes[i];
    return NULL;
}

const cor_class_t *cor_runtime_find_class(cor_runtime_t *rt, const char *name)
{
    pthread_rwlock_rdlock(&rt->lock);
    const cor_class_t *cls = find_class(rt, name);
    pthread_rwlock_unlock(&rt->lock);
    return cls;
}

int cor_runtime_class_count(cor_runtime_t *rt)
{
    pthread_rwlock_rdlock(&rt->lock);
    int n = rt->n_classes;
    pthread_rwlock_unlock(&rt->lock);
    return n;
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

typedef struct class_use {
    const cor_class_t *cls;
    int n;
} class_use_t;

static void count_use(void *arg, const cor_object_id_t *key, void *value)
{
    class_use_t *u = arg;
    u->n += ((cor_obj_t *)value)->cls == u->cls;
}

int cor_runtime_unregister_class(cor_runtime_t *rt, const char *name, cor_error_t *err)
{
    int rc = 0;
    pthread_rwlock_wrlock(&rt->lock);
    int i = 0;
    while (i < rt->n_classes && strcmp(rt->classes[i]->name, name) != 0)
        i++;
    class_use_t u = {.cls = i < rt->n_classes ? rt->classes[i] : NULL};
    if (u.cls != NULL)
        cor_idmap_each(&rt->objects, count_use, &u);
    if (u.cls == NULL)
        rc = cor_error_set(err, COR_ENOTFOUND, "no class named %s is registered here", name);
    else if (u.n > 0)
        rc = cor_error_set(err, COR_ESTATE, "class %s still has %d objects here", name, u.n);
    else
        rt->classes[i] = rt->classes[--rt->n_classes];
    pthread_rwlock_unlock(&rt->lock);
    return rc;
}

/* ---------------- arguments of replica operations ---------------- */

int cor_id_arg(const ProtobufCBinaryData *b, cor_object_id_t *id, cor_error_t *err)
{
    if (cor_object_id_from_bytes(b->data, b->len, id) != 0 || cor_object_id_is_nil(id))
        return cor_error_set(err, COR_EINVAL, "object id must be 16 bytes, not nil (got %zu)",
                             b->len);
    return 0;
}

const cor_class_t *cor_replica_args(cor_runtime_t *rt, const ProtobufCBinaryData *idb,
                                    const char *class_name, cor_object_id_t *id, cor_error_t *err)
{
    if (cor_id_arg(idb, id, err) != 0)
        return NULL;
    const cor_class_t *cls = cor_runtime_find_class(rt, class_name);
    if (cls == NULL)
        cor_error_set(err, COR_ENOTFOUND, "this kernel server hosts no class named '%.80s'",
                      class_name);
    return cls;
}

/* ---------------- the table ---------------- */

cor_obj_t *cor_obj_get(cor_runtime_t *rt, const cor_object_id_t *id)
{
    pthread_rwlock_rdlock(&rt->lock);
    cor_obj_t *o = cor_idmap_get(&rt->objects, id);
    if (o != NULL)
        atomic_fetch_add(&o->refs, 1);
    pthread_rwlock_unlock(&rt->lock);
    return o;
}

/* Frees o's parts; the instance only if it was made. */
static void obj_free(cor_obj_t *o)
{
    if (o->self != NULL)
        o->cls->destroy(o->self);
    cor_rsm_free(o->rsm);
    cor_dm_stack_free(o->dm);
    free(o->members);
    cor_precopy_free(o->precopy);
    pthread_mutex_destroy(&o->qlock);
    pthread_cond_destroy(&o->qcond);
    free(o);
}

void cor_obj_put(cor_obj_t *o)
{
    if (atomic_fetch_sub(&o->refs, 1) == 1)
        obj_free(o);
}

int cor_runtime_hosts(cor_runtime_t *rt, const cor_object_id_t *id)
{
    cor_obj_t *o = cor_obj_get(rt, id);
    int here = o != NULL && !atomic_load(&o->moved);
    if (o != NULL)
        cor_obj_put(o);
    return here;
}

void cor_runtime_footprint(cor_runtime_t *rt, cor_runtime_footprint_t *out)
{
    pthread_rwlock_rdlock(&rt->lock);
    out->objects = rt->objects.len;
    out->obj_bytes = sizeof(cor_obj_t);
    out->obj_usable = 0;
    for (size_t i = 0; i < rt->objects.cap && out->obj_usable == 0; i++)
        if (rt->objects.slots[i].value != NULL)
            out->obj_usable = malloc_usable_size(rt->objects.slots[i].value);
    out->map_slots = rt->objects.cap;
    out->slot_bytes = sizeof(cor_idmap_slot_t);
    pthread_rwlock_unlock(&rt->lock);
}

size_t cor_runtime_object_count(cor_runtime_t *rt)
{
    pthread_rwlock_rdlock(&rt->lock);
    size_t n = rt->objects.len;
    pthread_rwlock_unlock(&rt->lock);
    return n;
}

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
                 uint64_t epoch, const char *dm_chain, const cor_obj_init_t *in, cor_error_t *err)
{
    char s[COR_OBJECT_ID_STRLEN + 1];
    cor_object_id_format(id, s);
    if (in->how == COR_OBJ_LOAD && cls->load_state == NULL)
        return cor_error_set(err, COR_EUNIMPL, "class %s cannot load state (no load_state)",
                             cls->name);
    cor_obj_t *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        if (in->made != NULL)
            cls->destroy(in->made);
        cor_dm_stack_free(in->made_dm);
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    }
    o->id = *id;
    memcpy(o->idstr, s, sizeof(s));
    o->rt = rt;
    o->cls = cls;
    o->epoch = epoch;
    atomic_init(&o->refs, 1);
    pthread_mutex_init(&o->qlock, NULL);
    pthread_cond_init(&o->qcond, NULL);
    o->self = in->made;
    o->dm = in->made_dm;
    int rc = in->made_dm != NULL ? 0 : cor_dm_stack_new(dm_chain, 1, &o->dm, err);
    if (rc != 0) {
        obj_free(o);
        cor_error_prefix(err, "object %s: dm chain", s);
        return rc;
    }
    /* Moved DM state is loaded before the object can be reached. */
    rc = cor_dm_stack_load(o->dm, in->dm_state, in->n_dm_state, 0, s, err);
    if (rc != 0) {
        obj_free(o);
        return rc;
    }
    if (in->how != COR_OBJ_ADOPT) {
        cor_arena_t arena;
        cor_arena_init(&arena, 0);
        cor_error_t cerr;
        cor_error_clear(&cerr);
        cor_ctx_t ctx = {.rt = rt, .arena = &arena, .id = &o->id, .err = &cerr};
        rc = in->how == COR_OBJ_LOAD ? cls->load_state(&ctx, in->bytes, in->len, &o->self)
                                     : cls->create(&ctx, in->bytes, in->len, &o->self);
        cor_arena_close(&arena);
        if (rc != 0) {
            o->self = NULL;
            obj_free(o);
            return cor_error_set(err, rc, "class %s refused to %s object %s: %s", cls->name,
                                 in->how == COR_OBJ_LOAD ? "load the state of" : "create", s,
                                 cerr.msg[0] ? cerr.msg : cor_strerror(rc));
        }
    }
    pthread_rwlock_wrlock(&rt->lock);
    if (cor_idmap_get(&rt->objects, &o->id) != NULL) {
        pthread_rwlock_unlock(&rt->lock);
        obj_free(o);
        return cor_error_set(err, COR_EEXIST, "object %s: already hosted here", s);
    }
    /* A replicated object's replica exists before anyone can call it (and
     * its store is opened once: under the lock, with no other copy here). */
    rc = cor_rsm_attach(rt, o, dm_chain, in, err);
    if (rc == 0)
        rc = cor_idmap_put(&rt->objects, &o->id, o);
    pthread_rwlock_unlock(&rt->lock);
    if (rc != 0) {
        if (o->rsm != NULL) {
            cor_rsm_detach(rt, o); /* the Raft thread lets go of it */
            cor_obj_put(o);
        } else {
            obj_free(o);
        }
        return err->code == rc ? rc : cor_error_set(err, rc, "object %s: %s", s, cor_strerror(rc));
    }
    return 0;
}

int cor_runtime_install(cor_runtime_t *rt, const cor_class_t *cls, const cor_object_id_t *id,
                        uint64_t epoch, const char *dm_chain, const uint8_t *state, size_t len,
                        cor_error_t *err)
{
    cor_obj_init_t in = {.how = COR_OBJ_LOAD, .bytes = state, .len = len};
    return cor_obj_make(rt, cls, id, epoch, dm_chain, &in, err);
}

int cor_obj_create_here(cor_runtime_t *rt, const char *class_name, const uint8_t *args,
                        size_t args_len, const cor_create_opts_t *opts, cor_ref_t **ref,
                        cor_error_t *err)
{
    if (opts != NULL && (opts->name != NULL || opts->dm_chain != NULL || opts->selector != NULL))
        return cor_error_set(err, COR_EINVAL,
                             "an object created here has no name, chain of its own or selector: "
                             "those are the OMS's");
    const cor_object_id_t *id = opts != NULL ? opts->id : NULL;
    const cor_class_t *cls = cor_runtime_find_class(rt, class_name);
    if (cls == NULL)
        return cor_error_set(err, COR_ENOTFOUND, "no class named %s is registered here", class_name);
    cor_object_id_t fresh;
    if (id == NULL) {
        cor_object_id_generate(&fresh);
        id = &fresh;
    } else if (cor_object_id_is_nil(id)) {
        return cor_error_set(err, COR_EINVAL, "the nil object id names no object");
    }
    cor_obj_init_t in = {.how = COR_OBJ_CREATE, .bytes = args, .len = args_len};
    int rc = cor_obj_make(rt, cls, id, 0, cls->service->dm_chain, &in, err);
    if (rc != 0)
        return rc;
    if (ref != NULL) {
        cor_ref_t *r = cor_ref_new(rt, id, class_name, cls->service->dm_chain);
        if (r == NULL ||
            cor_ref_set_location(r, rt->tcp_addr, rt->unix_path, rt->host_id, 0, err) != 0) {
            cor_ref_free(r);
            cor_runtime_unhost(rt, id, NULL);
            return cor_error_set(err, COR_ENOMEM, "out of memory");
        }
        *ref = r;
    }
    return 0;
}

int cor_runtime_unhost(cor_runtime_t *rt, const cor_object_id_t *id, cor_error_t *err)
{
    pthread_rwlock_wrlock(&rt->lock);
    cor_obj_t *o = cor_idmap_del(&rt->objects, id);
    pthread_rwlock_unlock(&rt->lock);
    if (o == NULL) {
        char s[COR_OBJECT_ID_STRLEN + 1];
        cor_object_id_format(id, s);
        return cor_error_set(err, COR_ENOTFOUND, "object %s is not hosted here", s);
    }
    cor_rsm_detach(rt, o);
    cor_obj_put(o);
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
    for (size_t i = 0; i < n; i++) {
        cor_rsm_detach(rt, all[i]); /* a replica's Raft thread lets go too */
        cor_obj_put(all[i]);
    }
    free(all);
    return n;
}

/* ---------------- state ---------------- */

int cor_obj_save(cor_obj_t *o, uint8_t **buf, size_t *len, cor_error_t *err)
{
    if (o->cls->save_state == NULL)
        return cor_error_set(err, COR_EUNIMPL, "class %s cannot save state (no save_state)",
                             o->cls->name);
    cor_arena_t arena;
    cor_arena_init(&arena, 0);
    cor_ctx_t ctx = {.rt = o->rt, .arena = &arena, .id = &o->id, .err = err};
    *buf = NULL;
    *len = 0;
    int rc = o->cls->save_state(o->self, &ctx, buf, len);
    cor_arena_close(&arena);
    if (rc != 0 && err != NULL && err->code == COR_OK)
        cor_error_set(err, rc, "%s", cor_strerror(rc));
    return rc;
}
