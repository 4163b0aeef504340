/*
 * dir_nodes.c — kernel servers: registration, heartbeats and liveness
 * (DESIGN.md "OMS"), and listing them.
 *
 * Design: a node is known by name; each registration under that name is a
 * new incarnation (a new process), so the replicas placed on an older one
 * are marked LOST — they died with their process and are never silently
 * resurrected — unless the new process names them as held: a replicated
 * object's replica it made again from its data directory, which keeps its
 * member incarnation (its Raft identity) and moves to the new one; held
 * replicas the OMS no longer counts there are refused in the reply. A
 * heartbeat from the current incarnation keeps the node
 * ALIVE and carries its load; one that misses heartbeats for the timeout
 * is DEAD (placement skips it) until that same incarnation heartbeats
 * again. Heartbeats are soft state; registrations are stored.
 *
 * Happy path: register (validated, stored, ALIVE), heartbeat every
 * interval, oms_dir_check_liveness called periodically finds nobody late
 * and runs the group parts (dir_group.c), which hear of every node that
 * joins, dies or comes back.
 * Failure modes: a bad registration is refused with COR_EINVAL and
 * changes nothing; a store error fails it likewise; a heartbeat from an
 * unknown node or incarnation gets known = 0, telling the kernel to
 * register again; a late node is marked DEAD, and the objects' group parts
 * decide what becomes of its replicas.
 */
#include "dir_int.h"

#include <cor/log.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LABELS 32
#define MAX_CLASSES 256
#define MAX_HELD 4096 /* held replicas named in one registration */

static int check_address(const char *a, cor_error_t *err)
{
    const char *colon = strrchr(a, ':');
    if (colon == NULL || colon == a || colon[1] == '\0')
        return cor_error_set(err, COR_EINVAL, "tcp address '%s' is not host:port", a);
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port <= 0 || port > 65535)
        return cor_error_set(err, COR_EINVAL, "tcp address '%s' has no valid port", a);
    return 0;
}

/* Marks this node's replicas from older incarnations LOST, except those
 * the new process says it holds again (RegisterRequest.held: a replicated
 * object's replica restored from its data directory), which move to the
 * new incarnation keeping their member incarnation. Called from the
 * register handler after the node is updated. */
typedef struct lost_ctx {
    oms_dir_t *d;
    oms_node_t *n;
    const Cor__RegisterRequest *req;
    int *kept;             /* per held entry: 1 when it was kept */
    cor_object_id_t *back; /* objects whose replica set must be sent again */
    int n_back;
    int count;
} lost_ctx_t;

/* Whether held names r of object o (and which entry). */
static int held_entry(const lost_ctx_t *lc, const oms_obj_t *o, const oms_replica_t *r)
{
    uint64_t member = r->member_inc ? r->member_inc : r->incarnation;
    for (size_t i = 0; i < lc->req->n_held; i++) {
        const Cor__HeldReplica *h = lc->req->held[i];
        if (memcmp(h->object_id.data, o->id.b, 16) == 0 && h->member_incarnation == member)
            return (int)i;
    }
    return -1;
}

static void mark_lost_cb(void *arg, const cor_object_id_t *key, void *value)
{
    lost_ctx_t *lc = arg;
    oms_obj_t *o = value;
    int changed = 0, lost = 0;
    char s[COR_OBJECT_ID_STRLEN + 1];
    cor_object_id_format(&o->id, s);
    for (int i = 0; i < o->n_replicas; i++) {
        oms_replica_t *r = &o->replicas[i];
        if (r->node != lc->n || r->state != COR__REPLICA_STATE__REPLICA_ACTIVE ||
            r->incarnation == lc->n->info->incarnation)
            continue;
        int h = held_entry(lc, o, r);
        changed = 1;
        if (h >= 0) {
            r->member_inc = r->member_inc ? r->member_inc : r->incarnation;
            r->incarnation = lc->n->info->incarnation;
            lc->kept[h] = 1;
            if (lc->n_back < (int)lc->req->n_held)
                lc->back[lc->n_back++] = o->id;
            cor_log_info("object %s: its replica on %s rejoins (the restarted server kept it)",
                         s, lc->n->info->name);
            continue;
        }
        r->state = COR__REPLICA_STATE__REPLICA_LOST;
        lc->n->placed--;
        lost = 1;
    }
    if (changed) {
        cor_error_t err;
        if (oms_obj_persist(lc->d, o, &err) != 0)
            cor_log_error("persisting a lost replica: %s", err.msg);
    }
    if (lost) {
        cor_log_warn("object %s: replica on %s lost (node restarted)", s, lc->n->info->name);
        lc->count++;
    }
}

/* Writes off the replicas of the node's older processes but those it
 * still holds, then tells the group parts it joined (what to make of it
 * is theirs to decide) and the kept replicas' groups their set again
 * (the address changed). Held replicas it did not keep go into
 * rep->refused. */
static int mark_lost(oms_dir_t *d, const char *node_name, const Cor__RegisterRequest *req,
                     cor_arena_t *arena, Cor__RegisterReply *rep)
{
    size_t n = req->n_held ? req->n_held : 1;
    int *kept = calloc(n, sizeof(*kept));
    cor_object_id_t *back = calloc(n, sizeof(*back));
    if (kept == NULL || back == NULL) {
        free(kept);
        free(back);
        kept = NULL;
        back = NULL;
    }
    lost_ctx_t lc = {.d = d, .req = req, .kept = kept, .back = back};
    static const Cor__RegisterRequest none = COR__REGISTER_REQUEST__INIT;
    if (kept == NULL) /* out of memory: write everything off, as before */
        lc.req = &none;
    pthread_rwlock_wrlock(&d->lock);
    lc.n = cor_strmap_get(&d->nodes, node_name);
    if (lc.n != NULL)
        cor_idmap_each(&d->objects, mark_lost_cb, &lc);
    oms_group_event(d, node_name, COR_DM_NODE_JOINED);
    pthread_rwlock_unlock(&d->lock);
    for (int i = 0; i < lc.n_back; i++)
        oms_kernel_set_members(d, &back[i]);
    size_t refused = 0;
    for (size_t i = 0; i < req->n_held; i++)
        refused += kept == NULL || !kept[i];
    rep->refused = refused ? cor_arena_alloc(arena, refused * sizeof(*rep->refused)) : NULL;
    for (size_t i = 0; rep->refused != NULL && i < req->n_held; i++)
        if (kept == NULL || !kept[i])
            rep->refused[rep->n_refused++] = req->held[i]->object_id;
    free(kept);
    free(back);
    return lc.count;
}

int oms_dir_register(oms_dir_t *d, const Cor__RegisterRequest *req, cor_arena_t *arena,
                     Cor__RegisterReply *rep, cor_error_t *err)
{
    const Cor__NodeInfo *in = req->node;
    if (in == NULL)
        return cor_error_set(err, COR_EINVAL, "register: no node given");
    if (req->n_held > MAX_HELD)
        return cor_error_set(err, COR_EINVAL, "register: %zu held replicas, at most %d",
                             req->n_held, MAX_HELD);
    for (size_t i = 0; i < req->n_held; i++)
        if (req->held[i]->object_id.len != 16)
            return cor_error_set(err, COR_EINVAL, "register: held replica %zu: an object id is "
                                 "16 bytes, not %zu", i, req->held[i]->object_id.len);
    int rc = oms_check_name("node name", in->name, NODE_NAME_MAX, 0, err);
    if (rc != 0)
        return rc;
    if ((rc = check_address(in->tcp_address, err)) != 0)
        return rc;
    if (strlen(in->unix_path) >= 108)
        return cor_error_set(err, COR_EINVAL, "unix path is longer than 107 bytes");
    if (in->n_labels > MAX_LABELS)
        return cor_error_set(err, COR_EINVAL, "%zu labels, at most %d", in->n_labels, MAX_LABELS);
    for (size_t i = 0; i < in->n_labels; i++) {
        char buf[COR_LABEL_KEY_MAX + COR_LABEL_VALUE_MAX + 4];
        snprintf(buf, sizeof(buf), "%s=%s", in->labels[i]->key, in->labels[i]->value);
        cor_label_t l;
        if (strlen(in->labels[i]->key) > COR_LABEL_KEY_MAX ||
            strlen(in->labels[i]->value) > COR_LABEL_VALUE_MAX)
            return cor_error_set(err, COR_EINVAL, "label %.40s...: too long", buf);
        if ((rc = cor_label_parse(buf, &l, err)) != 0)
            return rc;
    }
    if (in->n_classes > MAX_CLASSES)
        return cor_error_set(err, COR_EINVAL, "%zu classes, at most %d", in->n_classes, MAX_CLASSES);
    for (size_t i = 0; i < in->n_classes; i++)
        if ((rc = oms_check_name("class name", in->classes[i]->name, CLASS_NAME_MAX, 1, err)) != 0)
            return rc;

    /* Our own copy, with the fields the OMS owns. */
    size_t len = cor__node_info__get_packed_size(in);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    cor__node_info__pack(in, buf);
    Cor__NodeInfo *info = cor__node_info__unpack(NULL, len, buf);
    free(buf);
    if (info == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");

    pthread_rwlock_wrlock(&d->lock);
    oms_node_t *n = cor_strmap_get(&d->nodes, info->name);
    info->incarnation = n != NULL ? n->info->incarnation + 1 : 1;
    info->state = COR__NODE_STATE__NODE_ALIVE;
    info->registered_ms = d->env.wall_ms(d->env.arg);
    info->last_heartbeat_ms = info->registered_ms;
    if (info->load != NULL) {
        cor__node_load__free_unpacked(info->load, NULL);
        info->load = NULL;
    }
    rc = oms_node_persist(d, info, err);
    if (rc != 0) {
        pthread_rwlock_unlock(&d->lock);
        cor__node_info__free_unpacked(info, NULL);
        return rc;
    }
    if (n == NULL) {
        n = calloc(1, sizeof(*n));
        if (n == NULL || cor_strmap_put(&d->nodes, info->name, n, NULL) != 0) {
            free(n);
            pthread_rwlock_unlock(&d->lock);
            cor__node_info__free_unpacked(info, NULL);
            return cor_error_set(err, COR_ENOMEM, "out of memory");
        }
        cor_log_info("node %s registered at %s (incarnation 1)", info->name, info->tcp_address);
    } else {
        /* A new process under an old name: whatever it held is gone. */
        uint64_t old = n->info->incarnation;
        cor__node_info__free_unpacked(n->info, NULL);
        cor_log_info("node %s registered again at %s: incarnation %llu -> %llu", info->name,
                     info->tcp_address, (unsigned long long)old,
                     (unsigned long long)info->incarnation);
    }
    n->info = info;
    n->last_hb_mono = d->env.mono_ms(d->env.arg);
    cor__node_load__init(&n->load);
    if (info->incarnation == 1)
        oms_group_event(d, info->name, COR_DM_NODE_JOINED);
    pthread_rwlock_unlock(&d->lock);

    /* Replicas of older incarnations are gone with their process, but
     * those the new one holds again. */
    if (info->incarnation > 1)
        mark_lost(d, info->name, req, arena, rep);
    else
        for (size_t i = 0; i < req->n_held; i++) { /* nothing of this name was known */
            if (i == 0)
                rep->refused = cor_arena_alloc(arena, req->n_held * sizeof(*rep->refused));
            if (rep->refused != NULL)
                rep->refused[rep->n_refused++] = req->held[i]->object_id;
        }
    rep->incarnation = info->incarnation;
    rep->heartbeat_interval_ms = (uint32_t)d->opts.heartbeat_interval_ms;
    rep->heartbeat_timeout_ms = (uint32_t)d->opts.heartbeat_timeout_ms;
    return 0;
}

int oms_dir_heartbeat(oms_dir_t *d, const Cor__HeartbeatRequest *req, Cor__HeartbeatReply *rep,
                      cor_error_t *err)
{
    pthread_rwlock_wrlock(&d->lock);
    oms_node_t *n = cor_strmap_get(&d->nodes, req->name);
    if (n == NULL || n->info->incarnation != req->incarnation) {
        rep->known = 0;
        pthread_rwlock_unlock(&d->lock);
        return 0;
    }
    rep->known = 1;
    n->last_hb_mono = d->env.mono_ms(d->env.arg);
    n->info->last_heartbeat_ms = d->env.wall_ms(d->env.arg);
    if (req->load != NULL) {
        n->load.objects = req->load->objects;
        n->load.calls = req->load->calls;
        n->load.cpu = req->load->cpu;
        n->load.rss_bytes = req->load->rss_bytes;
    }
    if (n->info->state != COR__NODE_STATE__NODE_ALIVE) {
        cor_log_info("node %s is alive%s", n->info->name,
                     n->info->state == COR__NODE_STATE__NODE_DEAD ? " again" : "");
        n->info->state = COR__NODE_STATE__NODE_ALIVE;
        oms_group_event(d, n->info->name, COR_DM_NODE_ALIVE);
    }
    pthread_rwlock_unlock(&d->lock);
    return 0;
}

typedef struct live_ctx {
    oms_dir_t *d;
    int64_t now;
    int timeout;
    int changed;
} live_ctx_t;

static int check_node(void *arg, const char *key, void *value)
{
    live_ctx_t *lc = arg;
    oms_node_t *n = value;
    if (n->info->state != COR__NODE_STATE__NODE_DEAD &&
        lc->now - n->last_hb_mono > lc->timeout) {
        cor_log_warn("node %s missed heartbeats for %lld ms: marked dead", n->info->name,
                     (long long)(lc->now - n->last_hb_mono));
        n->info->state = COR__NODE_STATE__NODE_DEAD;
        oms_group_event(lc->d, n->info->name, COR_DM_NODE_DEAD);
        lc->changed++;
    }
    return 0;
}

int oms_dir_check_liveness(oms_dir_t *d)
{
    live_ctx_t lc = {.d = d, .now = d->env.mono_ms(d->env.arg),
                     .timeout = d->opts.heartbeat_timeout_ms};
    pthread_rwlock_wrlock(&d->lock);
    cor_strmap_each(&d->nodes, check_node, &lc);
    pthread_rwlock_unlock(&d->lock);
    oms_group_run(d);
    return lc.changed;
}

typedef struct list_ctx {
    cor_arena_t *a;
    Cor__NodeInfo **out;
    size_t n;
    int failed;
} list_ctx_t;

static int list_node(void *arg, const char *key, void *value)
{
    list_ctx_t *lc = arg;
    oms_node_t *n = value;
    Cor__NodeInfo view = *n->info; /* shallow: only read while cloning */
    view.load = &n->load;
    Cor__NodeInfo *c = (Cor__NodeInfo *)oms_arena_clone(lc->a, &view.base);
    if (c == NULL) {
        lc->failed = 1;
        return 1;
    }
    lc->out[lc->n++] = c;
    return 0;
}

static int cmp_node(const void *a, const void *b)
{
    return strcmp((*(Cor__NodeInfo *const *)a)->name, (*(Cor__NodeInfo *const *)b)->name);
}

int oms_dir_list_nodes(oms_dir_t *d, cor_arena_t *arena, Cor__ListNodesReply *rep,
                       cor_error_t *err)
{
    pthread_rwlock_rdlock(&d->lock);
    list_ctx_t lc = {.a = arena};
    lc.out = cor_arena_alloc(arena, (d->nodes.len ? d->nodes.len : 1) * sizeof(*lc.out));
    if (lc.out != NULL)
        cor_strmap_each(&d->nodes, list_node, &lc);
    pthread_rwlock_unlock(&d->lock);
    if (lc.out == NULL || lc.failed)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    qsort(lc.out, lc.n, sizeof(*lc.out), cmp_node);
    rep->nodes = lc.out;
    rep->n_nodes = lc.n;
    return 0;
}

static int count_alive(void *arg, const char *key, void *value)
{
    oms_node_t *n = value;
    if (n->info->state == COR__NODE_STATE__NODE_ALIVE)
        (*(size_t *)arg)++;
    return 0;
}

void oms_dir_counts(oms_dir_t *d, size_t *nodes, size_t *alive, size_t *objects)
{
    pthread_rwlock_rdlock(&d->lock);
    *nodes = d->nodes.len;
    *alive = 0;
    cor_strmap_each(&d->nodes, count_alive, alive);
    *objects = d->objects.len;
    pthread_rwlock_unlock(&d->lock);
}
