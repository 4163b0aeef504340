/*
 * dir_group.c — DM group parts, run on the OMS (cor/dm.h "The group
 * part"; DESIGN.md "Deployment manager"): making them, calling their hooks,
 * and the actions they take on the directory.
 *
 * Design. An object whose chain has DMs with group hooks gets an
 * oms_group_t: the instances of those parts, their saved state, and a
 * mutex that lets one hook at a time run for the object. The directory
 * knows no DM by name: what happens to an object's replicas when it is
 * created or when kernel servers come and go is whatever its group parts
 * do with the actions below (add, lose, revive, drop a replica; move; save
 * state). An object without group parts gets one replica at create time
 * and keeps whatever happens to it.
 *
 * Hooks run with no directory lock held; each action (dir_group_act.c)
 * takes the lock for its bookkeeping and drops it to call a kernel server. A group is
 * reference-counted: d->groups holds one reference while its object
 * exists, and whoever runs a hook outside the directory lock holds
 * another, so a delete racing a hook only marks the group gone.
 *
 * When hooks run:
 *   create     oms_group_create, from oms_dir_create, on the object before
 *              it is in the maps (actions then work on it directly)
 *   node       oms_group_event queues what happened to a kernel server
 *              (registered, died, came back); oms_group_run, from the
 *              liveness check, hands each event to every group
 *   tick       every oms_group_run
 *   message    oms_dir_group_message, from Oms.GroupMessage
 *   delete     oms_group_gone, from oms_dir_delete
 * After a hook that changed the replica set, the replicas are told their
 * peers (Kernel.SetMembers).
 *
 * Failure modes: an action that finds no kernel server to take a replica
 * says why (the messages the old create gave); a kernel server that fails
 * or restarts mid-action leaves the replica unrecorded (a made one is
 * deleted again); an object deleted meanwhile likewise. A group part's
 * saved state goes to the store beside the object ("grp/<id>").
 */
#include "dir_int.h"

#include <cor/log.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cor/kernel.pb-c.h"
#include "group.h"
#include "rpc.h"


/* ---------------- the group of an object ---------------- */

static void group_put(oms_group_t *g)
{
    if (g == NULL || atomic_fetch_sub(&g->refs, 1) != 1)
        return;
    for (int i = 0; i < g->n; i++) {
        if (g->parts[i].ops->group_free != NULL)
            g->parts[i].ops->group_free(g->parts[i].state);
        free(g->parts[i].saved);
    }
    pthread_mutex_destroy(&g->lock);
    free(g);
}

void oms_group_release(oms_group_t *g)
{
    group_put(g);
}

int oms_group_make(oms_dir_t *d, oms_obj_t *o, const Cor__GroupState *saved, cor_error_t *err)
{
    o->group = NULL;
    cor_dm_chain_t chain;
    int rc = cor_dm_chain_parse(o->dm_chain, &chain, err);
    if (rc == 0)
        rc = cor_dm_chain_check(&chain, err);
    if (rc != 0)
        return rc;
    oms_group_t *g = NULL;
    for (int i = 0; i < chain.n; i++) {
        const cor_dm_ops_t *ops = cor_dm_find(chain.dms[i].name);
        if (ops->group_new == NULL && ops->group_create == NULL && ops->group_node == NULL &&
            ops->group_tick == NULL && ops->group_message == NULL && ops->group_delete == NULL)
            continue;
        if (g == NULL) {
            if ((g = calloc(1, sizeof(*g))) == NULL)
                return cor_error_set(err, COR_ENOMEM, "out of memory");
            atomic_init(&g->refs, 1);
            pthread_mutex_init(&g->lock, NULL);
            g->d = d;
            g->id = o->id;
            cor_object_id_format(&o->id, g->idstr);
            g->class_name = o->class_name;
        }
        const ProtobufCBinaryData *st = NULL;
        for (size_t k = 0; saved != NULL && k < saved->n_parts; k++)
            if (strcmp(saved->parts[k]->dm, ops->name) == 0)
                st = &saved->parts[k]->state;
        int at = g->n++;
        g->parts[at].ops = ops;
        g->parts[at].entry = chain.dms[i];
        if (st != NULL && (g->parts[at].saved = malloc(st->len ? st->len : 1)) != NULL) {
            memcpy(g->parts[at].saved, st->data, st->len);
            g->parts[at].saved_len = st->len;
        }
        if (ops->group_new != NULL &&
            (rc = ops->group_new(&g->parts[at].entry, st ? st->data : NULL, st ? st->len : 0,
                                 &g->parts[at].state, err)) != 0) {
            g->n--; /* not made: not freed */
            free(g->parts[at].saved);
            cor_error_prefix(err, "%s", ops->name);
            group_put(g);
            return rc;
        }
    }
    o->group = g;
    return 0;
}

/* Runs fn for each part (with a hook), the group's lock held, then tells
 * the replicas their peers if the set changed. */
typedef void (*part_fn)(oms_group_t *g, int part, oms_gctx_t *x, void *arg);

static void each_part(oms_group_t *g, part_fn fn, void *arg)
{
    oms_gctx_t x = {.d = g->d, .g = g, .id = &g->id, .idstr = g->idstr};
    pthread_mutex_lock(&g->lock);
    for (int i = 0; i < g->n && !g->gone; i++) {
        x.part = i;
        fn(g, i, &x, arg);
    }
    pthread_mutex_unlock(&g->lock);
    if (x.changed)
        oms_kernel_set_members(g->d, &g->id);
}

static cor_dm_group_t handle(oms_group_t *g, oms_gctx_t *x)
{
    return (cor_dm_group_t){.impl = &oms_group_impl, .arg = x, .object = g->idstr,
                            .class_name = g->class_name};
}

int oms_group_create(oms_dir_t *d, oms_obj_t *o, cor_error_t *err)
{
    char idstr[COR_OBJECT_ID_STRLEN + 1];
    cor_object_id_format(&o->id, idstr);
    oms_gctx_t x = {.d = d, .g = o->group, .id = &o->id, .idstr = idstr, .creating = o};
    oms_group_t *g = o->group;
    int rc = 0;
    for (int i = 0; g != NULL && i < g->n && rc == 0; i++) {
        if (g->parts[i].ops->group_create == NULL)
            continue;
        x.part = i;
        cor_dm_group_t h = handle(g, &x);
        rc = g->parts[i].ops->group_create(g->parts[i].state, &h, err);
        if (rc != 0 && err != NULL && err->code == COR_OK)
            cor_error_set(err, rc, "%s refused the create", g->parts[i].ops->name);
    }
    /* No group part made any: the object gets one replica. */
    if (rc == 0 && o->n_replicas == 0)
        rc = oms_group_add_replica(&x, COR_DM_FROM_ARGS, NULL, NULL, 0, err);
    return rc;
}

void oms_group_publish(oms_dir_t *d, oms_obj_t *o)
{
    if (o->group == NULL)
        return;
    if (cor_idmap_put(&d->groups, &o->id, o->group) != 0) {
        cor_log_error("object %s: out of memory: its group parts will not run",
                      o->group->idstr);
        return;
    }
    cor_error_t err;
    for (int i = 0; i < o->group->n; i++)
        if (o->group->parts[i].saved != NULL) {
            if (oms_group_store(d, o->group, &err) != 0)
                cor_log_error("object %s: storing its group state: %s", o->group->idstr,
                              err.msg);
            break;
        }
}

oms_group_t *oms_group_unpublish(oms_dir_t *d, oms_obj_t *o)
{
    oms_group_t *g = o->group;
    if (g != NULL)
        cor_idmap_del(&d->groups, &o->id);
    o->group = NULL;
    return g;
}

static void delete_part(oms_group_t *g, int i, oms_gctx_t *x, void *arg)
{
    if (g->parts[i].ops->group_delete == NULL)
        return;
    cor_dm_group_t h = handle(g, x);
    g->parts[i].ops->group_delete(g->parts[i].state, &h);
}

void oms_group_gone(oms_group_t *g)
{
    if (g == NULL)
        return;
    each_part(g, delete_part, NULL);
    pthread_mutex_lock(&g->lock);
    g->gone = 1;
    pthread_mutex_unlock(&g->lock);
    group_put(g);
}

/* ---------------- events and ticks ---------------- */

struct oms_event {
    char node[NODE_NAME_MAX + 1];
    enum cor_dm_node_event ev;
    struct oms_event *next;
};

void oms_group_event(oms_dir_t *d, const char *node, enum cor_dm_node_event ev)
{
    if (d->groups.len == 0)
        return; /* nobody to tell */
    struct oms_event *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        cor_log_error("out of memory: group parts miss that %s changed", node);
        return;
    }
    snprintf(e->node, sizeof(e->node), "%s", node);
    e->ev = ev;
    struct oms_event **tail = &d->events;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = e;
}

static void node_part(oms_group_t *g, int i, oms_gctx_t *x, void *arg)
{
    const struct oms_event *e = arg;
    if (g->parts[i].ops->group_node == NULL)
        return;
    cor_dm_group_t h = handle(g, x);
    g->parts[i].ops->group_node(g->parts[i].state, &h, e->node, e->ev);
}

static void tick_part(oms_group_t *g, int i, oms_gctx_t *x, void *arg)
{
    if (g->parts[i].ops->group_tick == NULL)
        return;
    cor_dm_group_t h = handle(g, x);
    g->parts[i].ops->group_tick(g->parts[i].state, &h);
}

typedef struct collect {
    oms_group_t **all;
    size_t n;
} collect_t;

static void collect_group(void *arg, const cor_object_id_t *key, void *value)
{
    collect_t *c = arg;
    oms_group_t *g = value;
    atomic_fetch_add(&g->refs, 1);
    c->all[c->n++] = g;
}

int oms_group_move_replica(oms_dir_t *d, const cor_object_id_t *id, const char *from,
                           const char *to, cor_error_t *err)
{
    pthread_rwlock_rdlock(&d->lock);
    oms_group_t *g = cor_idmap_get(&d->groups, id);
    if (g != NULL)
        atomic_fetch_add(&g->refs, 1);
    pthread_rwlock_unlock(&d->lock);
    char idstr[COR_OBJECT_ID_STRLEN + 1];
    cor_object_id_format(id, idstr);
    int rc = 0, found = 0;
    oms_gctx_t x = {.d = d, .g = g, .id = id, .idstr = idstr, .eager = 1};
    if (g != NULL) {
        pthread_mutex_lock(&g->lock);
        for (int i = 0; i < g->n && !g->gone && !found; i++) {
            if (g->parts[i].ops->group_move_replica == NULL)
                continue;
            found = 1;
            x.part = i;
            cor_dm_group_t h = handle(g, &x);
            rc = g->parts[i].ops->group_move_replica(g->parts[i].state, &h, from, to, err);
            if (rc != 0 && err->code == COR_OK)
                cor_error_set(err, rc, "%s could not move the replica", g->parts[i].ops->name);
        }
        pthread_mutex_unlock(&g->lock);
        if (x.changed)
            oms_kernel_set_members(d, id);
        group_put(g);
    }
    if (!found)
        rc = cor_error_set(err, COR_EUNIMPL, "object %s: no DM of its chain moves one replica "
                           "(a single replica moves without --replica)",
                           idstr);
    return rc;
}

void oms_group_run(oms_dir_t *d)
{
    pthread_rwlock_wrlock(&d->lock);
    struct oms_event *events = d->events;
    d->events = NULL;
    collect_t c = {.all = malloc((d->groups.len ? d->groups.len : 1) * sizeof(*c.all))};
    if (c.all != NULL)
        cor_idmap_each(&d->groups, collect_group, &c);
    pthread_rwlock_unlock(&d->lock);
    for (size_t i = 0; i < c.n; i++) {
        for (const struct oms_event *e = events; e != NULL; e = e->next)
            each_part(c.all[i], node_part, (void *)e);
        each_part(c.all[i], tick_part, NULL);
        group_put(c.all[i]);
    }
    free(c.all);
    while (events != NULL) {
        struct oms_event *e = events;
        events = e->next;
        free(e);
    }
}

void oms_group_free_all(oms_dir_t *d)
{
    while (d->events != NULL) {
        struct oms_event *e = d->events;
        d->events = e->next;
        free(e);
    }
}

/* ---------------- messages from server parts ---------------- */

typedef struct message {
    const Cor__GroupMessageRequest *req;
    cor_arena_t *arena;
    Cor__GroupMessageReply *rep;
    cor_error_t *err;
    int rc;
    int found;
} message_t;

static void message_part(oms_group_t *g, int i, oms_gctx_t *x, void *arg)
{
    message_t *m = arg;
    const cor_dm_ops_t *ops = g->parts[i].ops;
    if (m->found || ops->group_message == NULL || strcmp(ops->name, m->req->dm) != 0)
        return;
    m->found = 1;
    cor_dm_group_t h = handle(g, x);
    unsigned char *reply = NULL;
    size_t len = 0;
    m->rc = ops->group_message(g->parts[i].state, &h, m->req->node, m->req->payload.data,
                               m->req->payload.len, &reply, &len, m->err);
    if (m->rc != 0 && m->err->code == COR_OK)
        cor_error_set(m->err, m->rc, "%s refused the message", ops->name);
    if (m->rc == 0 && len > 0) {
        uint8_t *copy = cor_arena_alloc(m->arena, len);
        if (copy == NULL) {
            m->rc = cor_error_set(m->err, COR_ENOMEM, "out of memory");
        } else {
            memcpy(copy, reply, len);
            m->rep->payload.data = copy;
            m->rep->payload.len = len;
        }
    }
    free(reply);
}

int oms_dir_group_message(oms_dir_t *d, const Cor__GroupMessageRequest *req, cor_arena_t *arena,
                          Cor__GroupMessageReply *rep, cor_error_t *err)
{
    cor_object_id_t id;
    if (cor_object_id_from_bytes(req->object_id.data, req->object_id.len, &id) != 0)
        return cor_error_set(err, COR_EINVAL, "group message: object id must be 16 bytes");
    char s[COR_OBJECT_ID_STRLEN + 1];
    cor_object_id_format(&id, s);
    pthread_rwlock_rdlock(&d->lock);
    oms_obj_t *o = cor_idmap_get(&d->objects, &id);
    const oms_replica_t *sender = NULL;
    int rc = 0;
    if (o == NULL) {
        rc = cor_error_set(err, COR_ENOTFOUND, "group message: no object %s", s);
    } else if ((sender = oms_replica_on(o, req->node, COR__REPLICA_STATE__REPLICA_ACTIVE)) == NULL ||
               sender->incarnation != req->incarnation) {
        rc = cor_error_set(err, COR_ESTATE,
                           "group message for %s from %.63s (incarnation %llu), which does not "
                           "hold one of its active replicas",
                           s, req->node, (unsigned long long)req->incarnation);
    } else if (o->group == NULL) {
        rc = cor_error_set(err, COR_ENOTFOUND, "object %s has no group part", s);
    }
    oms_group_t *g = rc == 0 ? o->group : NULL;
    if (g != NULL)
        atomic_fetch_add(&g->refs, 1);
    pthread_rwlock_unlock(&d->lock);
    if (g == NULL)
        return rc;
    message_t m = {.req = req, .arena = arena, .rep = rep, .err = err};
    each_part(g, message_part, &m);
    group_put(g);
    if (!m.found)
        return cor_error_set(err, COR_ENOTFOUND,
                             "object %s: no DM named '%.64s' in its chain takes group messages",
                             s, req->dm);
    return m.rc;
}

/* ---------------- after an OMS restart ---------------- */

typedef struct load_ctx {
    oms_dir_t *d;
} load_ctx_t;

static void load_group(void *arg, const cor_object_id_t *key, void *value)
{
    load_ctx_t *l = arg;
    oms_obj_t *o = value;
    if (o->dm_chain == NULL)
        return;
    char k[64];
    oms_group_key(&o->id, k);
    uint8_t *buf = NULL;
    size_t len = 0;
    cor_error_t err;
    Cor__GroupState *saved = NULL;
    if (l->d->store.ops->get(l->d->store.impl, k, &buf, &len, &err) == 0) {
        saved = cor__group_state__unpack(NULL, len, buf);
        if (saved == NULL)
            cor_log_error("store: %s is not a cor.GroupState; its parts start afresh", k);
        free(buf);
    }
    if (oms_group_make(l->d, o, saved, &err) != 0)
        cor_log_error("object %s: its group parts cannot run here: %s", k + 4, err.msg);
    else
        oms_group_publish_loaded(l->d, o);
    if (saved != NULL)
        cor__group_state__free_unpacked(saved, NULL);
}

void oms_group_publish_loaded(oms_dir_t *d, oms_obj_t *o)
{
    if (o->group != NULL && cor_idmap_put(&d->groups, &o->id, o->group) != 0) {
        oms_group_release(o->group);
        o->group = NULL;
    }
}

void oms_group_load(oms_dir_t *d)
{
    load_ctx_t l = {d};
    cor_idmap_each(&d->objects, load_group, &l);
}

