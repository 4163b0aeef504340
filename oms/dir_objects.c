/*
 * dir_objects.c — objects: create, look up, list, delete, and the reply
 * form an object takes (DESIGN.md "OMS").
 *
 * Design: creating checks the chain (the request's or the class's own)
 * and reserves the name under the write lock, then hands the new object to
 * its DM group parts, which make its replicas (dir_group.c; one replica
 * when the chain has none that does), each kernel server called without
 * the lock; only then is the object recorded — in the store first, then in
 * the maps — so an object is never visible before all its replicas exist. Deleting removes the record first and then asks
 * the kernels to drop their replicas. Listing pages by id with a bounded
 * heap, so a page costs O(n log limit), not a sort of everything.
 *
 * Happy path: create picks nodes (dir_place.c), the kernels create, the
 * object is stored and answered with its replicas' addresses; lookup and
 * list answer from memory; delete forgets and tells the kernels.
 * Failure modes: a bad name, chain or selector creates nothing (COR_EINVAL);
 * a taken name is COR_EEXIST; no node to take a replica is COR_ENOTFOUND
 * or COR_EUNAVAIL with the reason; a kernel that fails, or restarts during
 * the create, or a store error, undoes it: the replicas made so far are
 * deleted and the name and places released. A replica a kernel could not
 * be told to delete may linger there (logged).
 */
#include "dir_int.h"

#include <cor/dm.h>
#include <cor/log.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cor/kernel.pb-c.h"
#include "rpc.h"

#define LIST_DEFAULT 1000
#define LIST_MAX 10000

/* In d->names while a create holds the name, before the object exists. */
static char reserved_marker;
#define RESERVED ((void *)&reserved_marker)

oms_obj_t *oms_obj_find(oms_dir_t *d, const ProtobufCBinaryData *id, const char *name,
                        cor_error_t *err)
{
    if (id->len != 0) {
        cor_object_id_t oid;
        if (cor_object_id_from_bytes(id->data, id->len, &oid) != 0) {
            cor_error_set(err, COR_EINVAL, "object id must be 16 bytes, not %zu", id->len);
            return NULL;
        }
        oms_obj_t *o = cor_idmap_get(&d->objects, &oid);
        if (o == NULL) {
            char s[COR_OBJECT_ID_STRLEN + 1];
            cor_object_id_format(&oid, s);
            cor_error_set(err, COR_ENOTFOUND, "no object %s", s);
        }
        return o;
    }
    if (name[0] == '\0') {
        cor_error_set(err, COR_EINVAL, "give an object id or a name");
        return NULL;
    }
    oms_obj_t *o = cor_strmap_get(&d->names, name);
    if (o == NULL || o == RESERVED) {
        cor_error_set(err, COR_ENOTFOUND, "no object named '%.200s'", name);
        return NULL;
    }
    return o;
}

Cor__ObjectInfo *oms_obj_info(cor_arena_t *a, const oms_obj_t *o)
{
    Cor__ObjectInfo *m = cor_arena_alloc(a, sizeof(*m));
    if (m == NULL)
        return NULL;
    cor__object_info__init(m);
    uint8_t *id = cor_arena_alloc(a, 16);
    Cor__Replica **rp = cor_arena_alloc(a, (size_t)(o->n_replicas ? o->n_replicas : 1) * sizeof(*rp));
    if (id == NULL || rp == NULL)
        return NULL;
    memcpy(id, o->id.b, 16);
    m->id.data = id;
    m->id.len = 16;
    m->class_name = oms_arena_str(a, o->class_name);
    m->name = oms_arena_str(a, o->name);
    m->dm_chain = oms_arena_str(a, o->dm_chain);
    m->selector = oms_arena_str(a, o->selector);
    m->created_ms = o->created_ms;
    m->epoch = o->epoch;
    m->checkpoint_ms = o->checkpoint_ms;
    m->founders = (uint32_t)o->founders;
    if (o->migrating && o->move.phase != NULL) {
        Cor__MoveProgress *p = cor_arena_alloc(a, sizeof(*p));
        if (p == NULL)
            return NULL;
        cor__move_progress__init(p);
        p->to_node = oms_arena_str(a, o->move.to);
        p->phase = oms_arena_str(a, o->move.phase);
        p->round = o->move.round;
        p->bytes_copied = o->move.copied;
        p->state_bytes = o->move.state;
        p->elapsed_us = o->move.elapsed_us;
        m->moving = p;
    }
    if (o->n_moves > 0) {
        m->moves = cor_arena_alloc(a, sizeof(*m->moves) * (size_t)o->n_moves);
        if (m->moves == NULL)
            return NULL;
        for (int i = 0; i < o->n_moves; i++)
            if ((m->moves[i] = (Cor__Move *)oms_arena_clone(a, &o->moves[i]->base)) == NULL)
                return NULL;
        m->n_moves = (size_t)o->n_moves;
    }
    for (int i = 0; i < o->n_replicas; i++) {
        const oms_replica_t *r = &o->replicas[i];
        Cor__Replica *x = cor_arena_alloc(a, sizeof(*x));
        if (x == NULL)
            return NULL;
        cor__replica__init(x);
        x->node = oms_arena_str(a, r->node->info->name);
        x->incarnation = r->incarnation;
        x->member_incarnation = r->member_inc;
        x->founder = r->founder != 0;
        x->epoch = r->epoch;
        x->state = r->state;
        x->tcp_address = oms_arena_str(a, r->node->info->tcp_address);
        x->unix_path = oms_arena_str(a, r->node->info->unix_path);
        x->host_id = oms_arena_str(a, r->node->info->host_id);
        x->node_state = r->node->info->state;
        if (x->node == NULL || x->tcp_address == NULL || x->unix_path == NULL || x->host_id == NULL)
            return NULL;
        rp[i] = x;
    }
    m->replicas = rp;
    m->n_replicas = (size_t)o->n_replicas;
    if (m->class_name == NULL || m->name == NULL || m->dm_chain == NULL || m->selector == NULL)
        return NULL;
    return m;
}

/* Takes back what a failed create made: the replicas, their places, the
 * name it held, the group parts. No lock. */
static void create_undo(oms_dir_t *d, oms_obj_t *o, const char *name)
{
    for (int i = 0; i < o->n_replicas; i++)
        if (o->replicas[i].state == COR__REPLICA_STATE__REPLICA_ACTIVE)
            oms_kernel_delete(d, o->replicas[i].node->info->tcp_address, &o->id);
    pthread_rwlock_wrlock(&d->lock);
    for (int i = 0; i < o->n_replicas; i++)
        if (o->replicas[i].state == COR__REPLICA_STATE__REPLICA_ACTIVE)
            o->replicas[i].node->placed--;
    if (name[0] != '\0' && cor_strmap_get(&d->names, name) == RESERVED)
        cor_strmap_del(&d->names, name);
    pthread_rwlock_unlock(&d->lock);
    oms_group_release(o->group);
    oms_obj_free(o);
}

/* The new object, not in the maps yet: its chain (the request's, else the
 * class's own), checked, and the selector its placement DMs narrow. The
 * name is reserved. Write lock. */
static int create_prepare(oms_dir_t *d, const Cor__CreateObjectRequest *req, oms_obj_t **out,
                          cor_error_t *err)
{
    char chain_text[DM_CHAIN_MAX + 1], effective[1024];
    snprintf(chain_text, sizeof(chain_text), "%s",
             req->dm_chain[0] ? req->dm_chain : oms_class_chain(d, req->class_name));
    cor_dm_chain_t chain;
    cor_selector_t sel;
    int rc;
    if ((rc = cor_dm_chain_parse(chain_text, &chain, err)) != 0 ||
        (rc = cor_dm_chain_check(&chain, err)) != 0 ||
        (rc = cor_dm_chain_placement(&chain, req->selector, effective, sizeof(effective), err)) != 0 ||
        (rc = cor_selector_parse(effective, &sel, err)) != 0)
        return rc;
    cor_dm_chain_format(&chain, chain_text, sizeof(chain_text));
    if (req->name[0] != '\0' && cor_strmap_get(&d->names, req->name) != NULL)
        return cor_error_set(err, COR_EEXIST, "an object named '%s' already exists", req->name);
    oms_obj_t *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    cor_object_id_generate(&o->id);
    o->class_name = oms_intern_class(d, req->class_name);
    o->name = oms_dup_nonempty(req->name);
    o->dm_chain = oms_dup_nonempty(chain_text);
    o->selector = oms_dup_nonempty(effective);
    o->created_ms = d->env.wall_ms(d->env.arg);
    o->epoch = 1;
    if (req->args.len > 0 && (o->args = malloc(req->args.len)) != NULL) {
        memcpy(o->args, req->args.data, req->args.len);
        o->args_len = req->args.len;
    }
    if (o->class_name == NULL || (req->args.len > 0 && o->args == NULL) ||
        (req->name[0] != '\0' && (o->name == NULL ||
                                   cor_strmap_put(&d->names, req->name, RESERVED, NULL) != 0))) {
        oms_obj_free(o);
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    }
    *out = o;
    return 0;
}

/* Makes o visible: stored, then in the maps, its group parts running.
 * Write lock. */
static int create_publish(oms_dir_t *d, oms_obj_t *o, cor_arena_t *arena,
                          Cor__CreateObjectReply *rep, cor_error_t *err)
{
    for (int i = 0; i < o->n_replicas; i++)
        if (o->replicas[i].node->info->incarnation != o->replicas[i].incarnation)
            /* The node restarted while we created: that replica died with it. */
            return cor_error_set(err, COR_EUNAVAIL, "kernel server %s restarted during the create",
                                 o->replicas[i].node->info->name);
    /* The replicas made now are its founders (a replicated object's group
     * forms from exactly them). */
    for (int i = 0; i < o->n_replicas; i++)
        o->replicas[i].founder = 1;
    o->founders = o->n_replicas;
    /* The reply first: nothing can fail once o is in the maps. */
    if ((rep->object = oms_obj_info(arena, o)) == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    int rc = oms_obj_persist(d, o, err);
    if (rc == 0 && (rc = cor_idmap_put(&d->objects, &o->id, o)) == COR_EEXIST)
        rc = cor_error_set(err, COR_EINTERNAL, "object id collision");
    if (rc != 0)
        return rc;
    if (o->name != NULL)
        cor_strmap_put(&d->names, o->name, o, NULL);
    oms_group_publish(d, o);
    return 0;
}

/* A deliberately broken OMS for the tests (COR_TEST_BREAK=no-founding-set):
 * it never sends the replica set after a create, as if it had died right
 * after making the replicas. A replicated object's replicas must then ask
 * for it themselves (runtime/rsm.c, cor_rsm_tick). Never set otherwise. */
static int broken_no_founding_set(void)
{
    const char *b = getenv("COR_TEST_BREAK");
    return b != NULL && strcmp(b, "no-founding-set") == 0;
}

int oms_dir_create(oms_dir_t *d, const Cor__CreateObjectRequest *req, cor_arena_t *arena,
                   Cor__CreateObjectReply *rep, cor_error_t *err)
{
    int rc = oms_check_name("class name", req->class_name, CLASS_NAME_MAX, 1, err);
    if (rc != 0)
        return rc;
    if (req->name[0] != '\0' && (rc = oms_check_name("object name", req->name, OBJECT_NAME_MAX, 1, err)) != 0)
        return rc;
    if (strlen(req->dm_chain) > DM_CHAIN_MAX)
        return cor_error_set(err, COR_EINVAL, "dm chain is longer than %d bytes", DM_CHAIN_MAX);
    cor_selector_t sel;
    if ((rc = cor_selector_parse(req->selector, &sel, err)) != 0)
        return rc;
    oms_obj_t *o = NULL;
    pthread_rwlock_wrlock(&d->lock);
    rc = create_prepare(d, req, &o, err);
    pthread_rwlock_unlock(&d->lock);
    if (rc != 0)
        return rc;
    /* Its group parts make its replicas (one, without any), each kernel
     * server called without the lock held. */
    rc = oms_group_make(d, o, NULL, err);
    if (rc == 0)
        rc = oms_group_create(d, o, err);
    /* Once published, o belongs to the maps (a delete may free it): what
     * the log and the members need is copied while the lock is held. */
    cor_object_id_t id = o->id;
    char first[NODE_NAME_MAX + 1] = "";
    int n = 0;
    if (rc == 0) {
        pthread_rwlock_wrlock(&d->lock);
        rc = create_publish(d, o, arena, rep, err);
        if (rc == 0) {
            snprintf(first, sizeof(first), "%s", o->replicas[0].node->info->name);
            n = o->n_replicas;
        }
        pthread_rwlock_unlock(&d->lock);
    }
    if (rc != 0) {
        create_undo(d, o, req->name);
        return rc;
    }
    char s[COR_OBJECT_ID_STRLEN + 1];
    cor_object_id_format(&id, s);
    cor_log_info("object %s (%s%s%s) created on %s%s", s, req->class_name,
                 req->name[0] ? ", " : "", req->name, first, n > 1 ? " and others" : "");
    if (n > 0 && !broken_no_founding_set())
        oms_kernel_set_members(d, &id); /* (nothing to say to a lone plain replica) */
    return 0;
}

int oms_dir_lookup(oms_dir_t *d, const Cor__LookupRequest *req, cor_arena_t *arena,
                   Cor__LookupReply *rep, cor_error_t *err)
{
    pthread_rwlock_rdlock(&d->lock);
    oms_obj_t *o = oms_obj_find(d, &req->id, req->name, err);
    int rc = err->code;
    if (o != NULL) {
        rep->object = oms_obj_info(arena, o);
        rc = rep->object ? 0 : cor_error_set(err, COR_ENOMEM, "out of memory");
    }
    pthread_rwlock_unlock(&d->lock);
    return o != NULL ? rc : (rc ? rc : COR_ENOTFOUND);
}

/* Paging: the objects with the smallest ids above start_after, found with a
 * bounded max-heap (O(n log limit)) rather than sorting everything. */
typedef struct page_ctx {
    cor_object_id_t after;
    int has_after;
    const char *cls;
    const char *node;
    oms_obj_t **heap;
    size_t n, limit;
    size_t matched; /* beyond the page too, to set `more` */
} page_ctx_t;

static int id_cmp(const cor_object_id_t *a, const cor_object_id_t *b)
{
    return memcmp(a->b, b->b, COR_OBJECT_ID_BYTES);
}

static void heap_sift_down(oms_obj_t **h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && id_cmp(&h[l]->id, &h[m]->id) > 0)
            m = l;
        if (r < n && id_cmp(&h[r]->id, &h[m]->id) > 0)
            m = r;
        if (m == i)
            return;
        oms_obj_t *t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void page_one(void *arg, const cor_object_id_t *key, void *value)
{
    page_ctx_t *pc = arg;
    oms_obj_t *o = value;
    if (pc->has_after && id_cmp(&o->id, &pc->after) <= 0)
        return;
    if (pc->cls[0] != '\0' && strcmp(o->class_name, pc->cls) != 0)
        return;
    if (pc->node[0] != '\0') {
        int on = 0;
        for (int i = 0; i < o->n_replicas; i++)
            on |= strcmp(o->replicas[i].node->info->name, pc->node) == 0;
        if (!on)
            return;
    }
    pc->matched++;
    if (pc->n < pc->limit) {
        /* sift up */
        size_t i = pc->n++;
        pc->heap[i] = o;
        while (i > 0 && id_cmp(&pc->heap[(i - 1) / 2]->id, &pc->heap[i]->id) < 0) {
            oms_obj_t *t = pc->heap[i];
            pc->heap[i] = pc->heap[(i - 1) / 2];
            pc->heap[(i - 1) / 2] = t;
            i = (i - 1) / 2;
        }
    } else if (id_cmp(&o->id, &pc->heap[0]->id) < 0) {
        pc->heap[0] = o;
        heap_sift_down(pc->heap, pc->n, 0);
    }
}

static int cmp_obj(const void *a, const void *b)
{
    return id_cmp(&(*(oms_obj_t *const *)a)->id, &(*(oms_obj_t *const *)b)->id);
}

int oms_dir_list_objects(oms_dir_t *d, const Cor__ListObjectsRequest *req, cor_arena_t *arena,
                         Cor__ListObjectsReply *rep, cor_error_t *err)
{
    page_ctx_t pc = {.cls = req->class_name, .node = req->node};
    pc.limit = req->limit == 0 ? LIST_DEFAULT : req->limit;
    if (pc.limit > LIST_MAX)
        return cor_error_set(err, COR_EINVAL, "limit %u is over the maximum %d", req->limit,
                             LIST_MAX);
    if (req->start_after.len != 0) {
        if (cor_object_id_from_bytes(req->start_after.data, req->start_after.len, &pc.after) != 0)
            return cor_error_set(err, COR_EINVAL, "start_after must be a 16-byte object id");
        pc.has_after = 1;
    }
    pc.heap = cor_arena_alloc(arena, pc.limit * sizeof(*pc.heap));
    if (pc.heap == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    pthread_rwlock_rdlock(&d->lock);
    cor_idmap_each(&d->objects, page_one, &pc);
    qsort(pc.heap, pc.n, sizeof(*pc.heap), cmp_obj);
    Cor__ObjectInfo **out = cor_arena_alloc(arena, (pc.n ? pc.n : 1) * sizeof(*out));
    int rc = out ? 0 : cor_error_set(err, COR_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < pc.n; i++)
        if ((out[i] = oms_obj_info(arena, pc.heap[i])) == NULL)
            rc = cor_error_set(err, COR_ENOMEM, "out of memory");
    pthread_rwlock_unlock(&d->lock);
    if (rc != 0)
        return rc;
    rep->objects = out;
    rep->n_objects = pc.n;
    rep->more = pc.matched > pc.n;
    return 0;
}

int oms_dir_delete(oms_dir_t *d, const Cor__DeleteObjectRequest *req, cor_error_t *err)
{
    pthread_rwlock_wrlock(&d->lock);
    oms_obj_t *o = oms_obj_find(d, &req->id, req->name, err);
    if (o == NULL) {
        pthread_rwlock_unlock(&d->lock);
        return err->code;
    }
    char key[64], ckey[64], gkey[64];
    oms_obj_key(&o->id, key);
    oms_ckpt_key(&o->id, ckey);
    oms_group_key(&o->id, gkey);
    cor_store_op_t ops[3] = {{COR_STORE_DEL, key, NULL, 0}, {COR_STORE_DEL, ckey, NULL, 0},
                             {COR_STORE_DEL, gkey, NULL, 0}};
    int rc = d->store.ops->apply(d->store.impl, ops, 3, err);
    if (rc != 0) {
        pthread_rwlock_unlock(&d->lock);
        return rc;
    }
    cor_idmap_del(&d->objects, &o->id);
    if (o->name != NULL)
        cor_strmap_del(&d->names, o->name);
    /* Who to tell, copied out before the lock is dropped. */
    int n = o->n_replicas;
    char targets[OMS_MAX_REPLICAS][160];
    int live[OMS_MAX_REPLICAS];
    for (int i = 0; i < n && i < OMS_MAX_REPLICAS; i++) {
        oms_replica_t *r = &o->replicas[i];
        live[i] = r->state == COR__REPLICA_STATE__REPLICA_ACTIVE &&
                  r->node->info->state != COR__NODE_STATE__NODE_DEAD &&
                  r->incarnation == r->node->info->incarnation;
        if (r->state == COR__REPLICA_STATE__REPLICA_ACTIVE)
            r->node->placed--;
        snprintf(targets[i], sizeof(targets[i]), "%s", r->node->info->tcp_address);
    }
    oms_group_t *g = oms_group_unpublish(d, o);
    pthread_rwlock_unlock(&d->lock);

    /* Its group parts hear of it before its replicas go. */
    oms_group_gone(g);
    char s[COR_OBJECT_ID_STRLEN + 1];
    cor_object_id_format(&o->id, s);
    Cor__DeleteReplicaRequest dr = COR__DELETE_REPLICA_REQUEST__INIT;
    dr.object_id.data = o->id.b;
    dr.object_id.len = 16;
    for (int i = 0; i < n && i < OMS_MAX_REPLICAS; i++) {
        if (!live[i])
            continue;
        cor_error_t kerr;
        if (d->env.kernel_call(d->env.arg, targets[i], COR_M_DELETE_REPLICA, &dr.base, NULL, &kerr) != 0 &&
            kerr.code != COR_ENOTFOUND)
            cor_log_warn("object %s deleted, but its replica at %s may linger: %s", s, targets[i],
                         kerr.msg);
    }
    cor_log_info("object %s deleted", s);
    oms_obj_free(o);
    return 0;
}

