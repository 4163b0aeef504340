/*
 * directory.c — the OMS's directory of nodes and objects; see directory.h.
 *
 * In memory: nodes in a string map by name (a node struct lives as long as
 * the directory, across incarnations, so replicas can point at it), objects
 * in an id map, names in a string map (name -> object). Every change is
 * written through to the store before it becomes visible, except heartbeat
 * times and loads, which are soft state.
 */
#include "directory.h"

#include <cor/log.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cor/kernel.pb-c.h"
#include "idmap.h"
#include "labels.h"

#include <cor/dm.h>
#include "rpc.h"
#include "strmap.h"

#define NODE_NAME_MAX 63
#define OBJECT_NAME_MAX 255
#define CLASS_NAME_MAX 255
#define DM_CHAIN_MAX 1024
#define MAX_LABELS 32
#define MAX_CLASSES 256
#define LIST_DEFAULT 1000
#define LIST_MAX 10000

typedef struct oms_node {
    Cor__NodeInfo *info;   /* registration as received, heap (protobuf-c) */
    int64_t last_hb_mono;  /* ms, monotonic */
    uint32_t placed;       /* active replicas the OMS placed here */
    Cor__NodeLoad load;    /* last reported */
} oms_node_t;

typedef struct oms_replica {
    oms_node_t *node;
    uint64_t incarnation;
    uint64_t epoch;
    int state;   /* COR__REPLICA_STATE__* */
    int pending; /* a repair for this slot is under way (not persisted) */
} oms_replica_t;

typedef struct oms_obj {
    cor_object_id_t id;
    const char *class_name; /* interned: lives in d->classes */
    char *name;             /* NULL: none */
    char *dm_chain;         /* NULL: none */
    char *selector;         /* NULL: none */
    int64_t created_ms;
    uint64_t epoch;
    int n_replicas;
    oms_replica_t *replicas;
    uint8_t *args; /* constructor arguments, to re-create replicas */
    size_t args_len;
    int64_t checkpoint_ms; /* newest checkpoint in the store ("ckpt/<id>"), 0: none */
    int migrating;         /* a move is under way (not persisted) */
    struct {               /* its progress, for corctl (not persisted) */
        char to[NODE_NAME_MAX + 1];
        const char *phase; /* static: "precopy", "final" */
        uint32_t round;
        uint64_t copied, state;
        int64_t elapsed_us; /* at the last step */
    } move;
    Cor__Move *moves[8];   /* recent live migrations, oldest first (heap) */
    int n_moves;
} oms_obj_t;

#define MAX_MOVES 8

static void moves_free(oms_obj_t *o)
{
    for (int i = 0; i < o->n_moves; i++)
        cor__move__free_unpacked(o->moves[i], NULL);
    o->n_moves = 0;
}

/* Records a move, keeping the last MAX_MOVES (caller holds the lock). */
static void moves_add(oms_obj_t *o, const char *from, const char *to, int64_t at, int64_t frozen,
                      uint64_t epoch)
{
    Cor__Move m = COR__MOVE__INIT;
    m.from_node = (char *)from;
    m.to_node = (char *)to;
    m.at_ms = at;
    m.frozen_us = frozen;
    m.epoch = epoch;
    /* A heap copy protobuf-c can free: pack and unpack. */
    uint8_t buf[512];
    size_t n = cor__move__get_packed_size(&m);
    if (n > sizeof(buf))
        return;
    cor__move__pack(&m, buf);
    Cor__Move *copy = cor__move__unpack(NULL, n, buf);
    if (copy == NULL)
        return;
    if (o->n_moves == MAX_MOVES) {
        cor__move__free_unpacked(o->moves[0], NULL);
        memmove(o->moves, o->moves + 1, sizeof(o->moves[0]) * (MAX_MOVES - 1));
        o->n_moves--;
    }
    o->moves[o->n_moves++] = copy;
}

struct oms_dir {
    pthread_rwlock_t lock;
    cor_store_t store;
    oms_dir_opts_t opts;
    oms_env_t env; /* the world: real or a test's fakes */
    cor_strmap_t nodes;   /* name -> oms_node_t* */
    cor_idmap_t objects;  /* id -> oms_obj_t* */
    cor_strmap_t names;   /* object name -> oms_obj_t* (or RESERVED) */
    cor_strmap_t classes; /* interned class names -> the key itself */
    int repair_pending;   /* replicas lost or a repair failed: look again next tick */
    int repair_waiting;   /* a lost replica had nowhere to go: look again when a
                           * node registers, comes back or frees capacity */
};

/* A node appeared, came back or has room again: replicas that had nowhere
 * to go may have somewhere now. Called with the write lock held. */
static void room_changed(oms_dir_t *d)
{
    if (d->repair_waiting) {
        d->repair_waiting = 0;
        d->repair_pending = 1;
    }
}

/* Replicas of one object the OMS tracks at most (LoadBalancedFrontend's
 * limit; the stored form keeps this many). */
#define OMS_MAX_REPLICAS 8

static char reserved_marker;
#define RESERVED ((void *)&reserved_marker)

static int64_t sys_mono_ms(void *arg)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t sys_wall_ms(void *arg)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The real world: gRPC to kernel servers. arg is the directory. */
static int grpc_kernel_call(void *arg, const char *target, int method, const ProtobufCMessage *req,
                            ProtobufCMessage **reply, cor_error_t *err)
{
    const oms_dir_t *d = arg;
    static const ProtobufCMessageDescriptor *const replies[COR_M_COUNT] = {
        [COR_M_CREATE_REPLICA] = &cor__create_replica_reply__descriptor,
        [COR_M_DELETE_REPLICA] = &cor__delete_replica_reply__descriptor,
        [COR_M_INSTALL_STATE] = &cor__install_state_reply__descriptor,
        [COR_M_SET_MEMBERS] = &cor__set_members_reply__descriptor,
        [COR_M_MIGRATE_OUT] = &cor__migrate_out_reply__descriptor,
        [COR_M_GET_STATE] = &cor__get_state_reply__descriptor,
    };
    if (method < 0 || method >= COR_M_COUNT || replies[method] == NULL)
        return cor_error_set(err, COR_EINVAL, "not a kernel replica operation: %d", method);
    ProtobufCMessage *out = NULL;
    int rc = cor_rpc_call(d->opts.client, target, (enum cor_method_index)method, req,
                          replies[method], d->opts.kernel_deadline_ms, &out, err);
    if (reply != NULL)
        *reply = out;
    else if (out != NULL)
        protobuf_c_message_free_unpacked(out, NULL);
    return rc;
}

static const char *intern_class(oms_dir_t *d, const char *name)
{
    const char *k = cor_strmap_get(&d->classes, name);
    if (k != NULL)
        return k;
    char *copy = strdup(name);
    if (copy == NULL || cor_strmap_put(&d->classes, name, copy, NULL) != 0) {
        free(copy);
        return NULL;
    }
    return copy;
}

static char *dup_nonempty(const char *s)
{
    return (s != NULL && s[0] != '\0') ? strdup(s) : NULL;
}

static void obj_free(oms_obj_t *o)
{
    if (o == NULL)
        return;
    free(o->name);
    free(o->dm_chain);
    free(o->selector);
    free(o->replicas);
    free(o->args);
    moves_free(o);
    free(o);
}

/* ---------------- persistence ---------------- */

static void obj_key(const cor_object_id_t *id, char key[64])
{
    char s[COR_OBJECT_ID_STRLEN + 1];
    cor_object_id_format(id, s);
    snprintf(key, 64, "obj/%s", s);
}

/* The stored form of an object (replica addresses are not stored: they are
 * filled from the node table when answering). */
static int obj_encode(const oms_obj_t *o, uint8_t **buf, size_t *len)
{
    Cor__ObjectInfo m = COR__OBJECT_INFO__INIT;
    Cor__Replica reps[8], *rp[8];
    int n = o->n_replicas < 8 ? o->n_replicas : 8;
    m.id.data = (uint8_t *)o->id.b;
    m.id.len = 16;
    m.class_name = (char *)o->class_name;
    m.name = o->name ? o->name : (char *)"";
    m.dm_chain = o->dm_chain ? o->dm_chain : (char *)"";
    m.selector = o->selector ? o->selector : (char *)"";
    m.created_ms = o->created_ms;
    m.epoch = o->epoch;
    m.args.data = o->args;
    m.args.len = o->args_len;
    m.checkpoint_ms = o->checkpoint_ms;
    m.moves = (Cor__Move **)o->moves;
    m.n_moves = (size_t)o->n_moves;
    for (int i = 0; i < n; i++) {
        cor__replica__init(&reps[i]);
        reps[i].node = o->replicas[i].node->info->name;
        reps[i].incarnation = o->replicas[i].incarnation;
        reps[i].epoch = o->replicas[i].epoch;
        reps[i].state = o->replicas[i].state;
        rp[i] = &reps[i];
    }
    m.n_replicas = (size_t)n;
    m.replicas = rp;
    *len = cor__object_info__get_packed_size(&m);
    *buf = malloc(*len ? *len : 1);
    if (*buf == NULL)
        return COR_ENOMEM;
    cor__object_info__pack(&m, *buf);
    return 0;
}

static int persist_obj(oms_dir_t *d, const oms_obj_t *o, cor_error_t *err)
{
    char key[64];
    obj_key(&o->id, key);
    uint8_t *buf;
    size_t len;
    if (obj_encode(o, &buf, &len) != 0)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    cor_store_op_t op = {COR_STORE_PUT, key, buf, len};
    int rc = d->store.ops->apply(d->store.impl, &op, 1, err);
    free(buf);
    return rc;
}

static int persist_node(oms_dir_t *d, const Cor__NodeInfo *n, cor_error_t *err)
{
    char key[NODE_NAME_MAX + 8];
    snprintf(key, sizeof(key), "node/%s", n->name);
    size_t len = cor__node_info__get_packed_size(n);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    cor__node_info__pack(n, buf);
    cor_store_op_t op = {COR_STORE_PUT, key, buf, len};
    int rc = d->store.ops->apply(d->store.impl, &op, 1, err);
    free(buf);
    return rc;
}

static int load_node(void *arg, const char *key, const uint8_t *v, size_t len)
{
    oms_dir_t *d = arg;
    Cor__NodeInfo *info = cor__node_info__unpack(NULL, len, v);
    if (info == NULL) {
        cor_log_error("store: %s is not a NodeInfo; skipped", key);
        return 0;
    }
    oms_node_t *n = calloc(1, sizeof(*n));
    if (n == NULL || cor_strmap_put(&d->nodes, info->name, n, NULL) != 0) {
        free(n);
        cor__node_info__free_unpacked(info, NULL);
        return 1;
    }
    info->state = COR__NODE_STATE__NODE_UNKNOWN; /* until it heartbeats */
    n->info = info;
    n->last_hb_mono = d->env.mono_ms(d->env.arg); /* the timeout runs from the restart */
    cor__node_load__init(&n->load);
    return 0;
}

static int load_obj(void *arg, const char *key, const uint8_t *v, size_t len)
{
    oms_dir_t *d = arg;
    Cor__ObjectInfo *m = cor__object_info__unpack(NULL, len, v);
    oms_obj_t *o = NULL;
    if (m == NULL || m->id.len != 16)
        goto bad;
    o = calloc(1, sizeof(*o));
    if (o == NULL)
        goto bad;
    memcpy(o->id.b, m->id.data, 16);
    o->class_name = intern_class(d, m->class_name);
    o->name = dup_nonempty(m->name);
    o->dm_chain = dup_nonempty(m->dm_chain);
    o->selector = dup_nonempty(m->selector);
    o->created_ms = m->created_ms;
    o->epoch = m->epoch;
    o->checkpoint_ms = m->checkpoint_ms;
    for (size_t i = 0; i < m->n_moves && i < MAX_MOVES; i++)
        moves_add(o, m->moves[i]->from_node, m->moves[i]->to_node, m->moves[i]->at_ms,
                  m->moves[i]->frozen_us, m->moves[i]->epoch);
    if (m->args.len > 0 && (o->args = malloc(m->args.len)) != NULL) {
        memcpy(o->args, m->args.data, m->args.len);
        o->args_len = m->args.len;
    }
    o->replicas = calloc(m->n_replicas ? m->n_replicas : 1, sizeof(*o->replicas));
    if (o->class_name == NULL || o->replicas == NULL)
        goto bad;
    for (size_t i = 0; i < m->n_replicas; i++) {
        oms_node_t *n = cor_strmap_get(&d->nodes, m->replicas[i]->node);
        if (n == NULL) {
            cor_log_warn("store: %s names unknown node %s; replica dropped", key,
                         m->replicas[i]->node);
            continue;
        }
        oms_replica_t *r = &o->replicas[o->n_replicas++];
        r->node = n;
        r->incarnation = m->replicas[i]->incarnation;
        r->epoch = m->replicas[i]->epoch;
        r->state = m->replicas[i]->state;
        if (r->state == COR__REPLICA_STATE__REPLICA_ACTIVE && r->incarnation != n->info->incarnation)
            r->state = COR__REPLICA_STATE__REPLICA_LOST;
        if (r->state == COR__REPLICA_STATE__REPLICA_ACTIVE)
            n->placed++;
    }
    if (cor_idmap_put(&d->objects, &o->id, o) != 0)
        goto bad;
    if (o->name != NULL)
        cor_strmap_put(&d->names, o->name, o, NULL);
    cor__object_info__free_unpacked(m, NULL);
    return 0;
bad:
    cor_log_error("store: %s is not a valid object record; skipped", key);
    obj_free(o);
    if (m != NULL)
        cor__object_info__free_unpacked(m, NULL);
    return 0;
}

/* ---------------- open / close ---------------- */

int oms_dir_open(cor_store_t store, const oms_dir_opts_t *opts, oms_dir_t **out, cor_error_t *err)
{
    oms_dir_t *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        cor_store_close(&store);
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    }
    d->store = store;
    d->opts = *opts;
    if (d->opts.heartbeat_interval_ms <= 0)
        d->opts.heartbeat_interval_ms = 1000;
    if (d->opts.heartbeat_timeout_ms <= 0)
        d->opts.heartbeat_timeout_ms = 3000;
    if (d->opts.kernel_deadline_ms <= 0)
        d->opts.kernel_deadline_ms = 5000;
    if (opts->env != NULL)
        d->env = *opts->env;
    else
        d->env = (oms_env_t){.kernel_call = grpc_kernel_call, .mono_ms = sys_mono_ms,
                             .wall_ms = sys_wall_ms, .arg = d};
    pthread_rwlock_init(&d->lock, NULL);
    cor_idmap_init(&d->objects);
    if (cor_strmap_init(&d->nodes) != 0 || cor_strmap_init(&d->names) != 0 ||
        cor_strmap_init(&d->classes) != 0) {
        oms_dir_close(d);
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    }
    /* Nodes first: objects point at them. */
    int rc = store.ops->scan(store.impl, "node/", load_node, d, err);
    if (rc == 0)
        rc = store.ops->scan(store.impl, "obj/", load_obj, d, err);
    if (rc != 0) {
        oms_dir_close(d);
        return rc;
    }
    *out = d;
    return 0;
}

static int free_node(void *arg, const char *key, void *value)
{
    oms_node_t *n = value;
    cor__node_info__free_unpacked(n->info, NULL);
    free(n);
    return 0;
}

static void free_obj_cb(void *arg, const cor_object_id_t *key, void *value)
{
    obj_free(value);
}

static int free_class(void *arg, const char *key, void *value)
{
    free(value);
    return 0;
}

void oms_dir_close(oms_dir_t *d)
{
    if (d == NULL)
        return;
    cor_idmap_each(&d->objects, free_obj_cb, NULL);
    cor_idmap_close(&d->objects);
    if (d->nodes.buckets) {
        cor_strmap_each(&d->nodes, free_node, NULL);
        cor_strmap_close(&d->nodes);
    }
    if (d->names.buckets)
        cor_strmap_close(&d->names);
    if (d->classes.buckets) {
        cor_strmap_each(&d->classes, free_class, NULL);
        cor_strmap_close(&d->classes);
    }
    cor_store_close(&d->store);
    pthread_rwlock_destroy(&d->lock);
    free(d);
}

/* ---------------- validation ---------------- */

static int name_char(char c, int object)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-' || (object && (c == '/' || c == ':'));
}

static int check_name(const char *what, const char *s, size_t max, int object, cor_error_t *err)
{
    size_t n = strlen(s);
    if (n == 0)
        return cor_error_set(err, COR_EINVAL, "%s is empty", what);
    if (n > max)
        return cor_error_set(err, COR_EINVAL, "%s '%.40s...' is longer than %zu bytes", what, s,
                             max);
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i], object))
            return cor_error_set(err, COR_EINVAL,
                                 "%s '%s': character '%c' is not allowed (letters, digits, . _ -%s)",
                                 what, s, s[i], object ? " / :" : "");
    return 0;
}

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

/* ---------------- nodes ---------------- */

/* Marks this node's replicas from older incarnations LOST. Called from the
 * register handler after the node is updated. */
typedef struct lost_ctx {
    oms_dir_t *d;
    oms_node_t *n;
    int count;
} lost_ctx_t;

static void mark_lost_cb(void *arg, const cor_object_id_t *key, void *value)
{
    lost_ctx_t *lc = arg;
    oms_obj_t *o = value;
    int changed = 0;
    for (int i = 0; i < o->n_replicas; i++) {
        oms_replica_t *r = &o->replicas[i];
        if (r->node == lc->n && r->state == COR__REPLICA_STATE__REPLICA_ACTIVE &&
            r->incarnation != lc->n->info->incarnation) {
            r->state = COR__REPLICA_STATE__REPLICA_LOST;
            lc->n->placed--;
            changed = 1;
        }
    }
    if (changed) {
        cor_error_t err;
        if (persist_obj(lc->d, o, &err) != 0)
            cor_log_error("persisting a lost replica: %s", err.msg);
        char s[COR_OBJECT_ID_STRLEN + 1];
        cor_object_id_format(&o->id, s);
        cor_log_warn("object %s: replica on %s lost (node restarted)", s, lc->n->info->name);
        lc->count++;
        lc->d->repair_pending = 1;
    }
}

static int mark_lost(oms_dir_t *d, const char *node_name)
{
    pthread_rwlock_wrlock(&d->lock);
    lost_ctx_t lc = {.d = d, .n = cor_strmap_get(&d->nodes, node_name)};
    if (lc.n != NULL)
        cor_idmap_each(&d->objects, mark_lost_cb, &lc);
    pthread_rwlock_unlock(&d->lock);
    return lc.count;
}


int oms_dir_register(oms_dir_t *d, const Cor__RegisterRequest *req, Cor__RegisterReply *rep,
                     cor_error_t *err)
{
    const Cor__NodeInfo *in = req->node;
    if (in == NULL)
        return cor_error_set(err, COR_EINVAL, "register: no node given");
    int rc = check_name("node name", in->name, NODE_NAME_MAX, 0, err);
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
        if ((rc = check_name("class name", in->classes[i]->name, CLASS_NAME_MAX, 1, err)) != 0)
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
    rc = persist_node(d, info, err);
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
    room_changed(d);
    pthread_rwlock_unlock(&d->lock);

    /* Replicas of older incarnations are gone with their process. */
    if (info->incarnation > 1)
        mark_lost(d, info->name);
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
        room_changed(d);
    }
    pthread_rwlock_unlock(&d->lock);
    return 0;
}

typedef struct live_ctx {
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
        lc->changed++;
    }
    return 0;
}

static void repair_replicas(oms_dir_t *d);

int oms_dir_check_liveness(oms_dir_t *d)
{
    live_ctx_t lc = {.now = d->env.mono_ms(d->env.arg), .timeout = d->opts.heartbeat_timeout_ms};
    pthread_rwlock_wrlock(&d->lock);
    cor_strmap_each(&d->nodes, check_node, &lc);
    int pending = d->repair_pending;
    pthread_rwlock_unlock(&d->lock);
    if (lc.changed > 0 || pending)
        repair_replicas(d);
    return lc.changed;
}

/* Copies a message into the arena (pack + unpack), so a reply can outlive
 * the lock that protected the original. */
static ProtobufCMessage *arena_clone(cor_arena_t *a, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = cor_arena_alloc(a, n ? n : 1);
    if (buf == NULL)
        return NULL;
    protobuf_c_message_pack(m, buf);
    return protobuf_c_message_unpack(m->descriptor, &a->pb, n, buf);
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
    Cor__NodeInfo *c = (Cor__NodeInfo *)arena_clone(lc->a, &view.base);
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

/* ---------------- objects ---------------- */

/* A node's labels, plus the implicit `node` label: its name. */
static const char *node_label(void *arg, const char *key)
{
    const Cor__NodeInfo *info = arg;
    if (strcmp(key, "node") == 0)
        return info->name;
    for (size_t i = 0; i < info->n_labels; i++)
        if (strcmp(info->labels[i]->key, key) == 0)
            return info->labels[i]->value;
    return NULL;
}

typedef struct chain_ctx {
    const char *cls;
    const char *chain;
} chain_ctx_t;

static int find_chain(void *arg, const char *key, void *value)
{
    chain_ctx_t *cc = arg;
    const Cor__NodeInfo *info = ((oms_node_t *)value)->info;
    for (size_t i = 0; i < info->n_classes; i++)
        if (strcmp(info->classes[i]->name, cc->cls) == 0) {
            cc->chain = info->classes[i]->dm_chain;
            return 1;
        }
    return 0;
}

/* The (cor.dm_chain) of a class, as its kernel servers reported it ("" if
 * none or no node hosts it). Caller holds the lock. */
static const char *class_chain(oms_dir_t *d, const char *cls)
{
    chain_ctx_t cc = {cls, ""};
    cor_strmap_each(&d->nodes, find_chain, &cc);
    return cc.chain;
}

static int hosts_class(const Cor__NodeInfo *info, const char *cls)
{
    for (size_t i = 0; i < info->n_classes; i++)
        if (strcmp(info->classes[i]->name, cls) == 0)
            return 1;
    return 0;
}

typedef struct pick_ctx {
    const char *cls;
    const cor_selector_t *sel;
    oms_node_t *const *avoid; /* nodes that already hold a replica */
    int n_avoid;
    oms_node_t *best;
    double best_score;
    int hosting, matching, alive; /* for the error message */
} pick_ctx_t;

static int pick_node(void *arg, const char *key, void *value)
{
    pick_ctx_t *pc = arg;
    oms_node_t *n = value;
    for (int i = 0; i < pc->n_avoid; i++)
        if (pc->avoid[i] == n)
            return 0;
    if (!hosts_class(n->info, pc->cls))
        return 0;
    pc->hosting++;
    if (!cor_selector_match(pc->sel, node_label, n->info))
        return 0;
    pc->matching++;
    if (n->info->state != COR__NODE_STATE__NODE_ALIVE)
        return 0;
    pc->alive++;
    if (n->info->capacity != 0 && n->placed >= n->info->capacity)
        return 0;
    double score = n->info->capacity ? (double)n->placed / n->info->capacity : (double)n->placed;
    if (pc->best == NULL || score < pc->best_score ||
        (score == pc->best_score && strcmp(n->info->name, pc->best->info->name) < 0)) {
        pc->best = n;
        pc->best_score = score;
    }
    return 0;
}

static char *arena_str(cor_arena_t *a, const char *s)
{
    if (s == NULL)
        return (char *)"";
    size_t n = strlen(s) + 1;
    char *p = cor_arena_alloc(a, n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

/* Builds the reply form of o in the arena (caller holds the lock). */
static Cor__ObjectInfo *obj_info(cor_arena_t *a, const oms_obj_t *o)
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
    m->class_name = arena_str(a, o->class_name);
    m->name = arena_str(a, o->name);
    m->dm_chain = arena_str(a, o->dm_chain);
    m->selector = arena_str(a, o->selector);
    m->created_ms = o->created_ms;
    m->epoch = o->epoch;
    m->checkpoint_ms = o->checkpoint_ms;
    if (o->migrating && o->move.phase != NULL) {
        Cor__MoveProgress *p = cor_arena_alloc(a, sizeof(*p));
        if (p == NULL)
            return NULL;
        cor__move_progress__init(p);
        p->to_node = arena_str(a, o->move.to);
        p->phase = arena_str(a, o->move.phase);
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
            if ((m->moves[i] = (Cor__Move *)arena_clone(a, &o->moves[i]->base)) == NULL)
                return NULL;
        m->n_moves = (size_t)o->n_moves;
    }
    for (int i = 0; i < o->n_replicas; i++) {
        const oms_replica_t *r = &o->replicas[i];
        Cor__Replica *x = cor_arena_alloc(a, sizeof(*x));
        if (x == NULL)
            return NULL;
        cor__replica__init(x);
        x->node = arena_str(a, r->node->info->name);
        x->incarnation = r->incarnation;
        x->epoch = r->epoch;
        x->state = r->state;
        x->tcp_address = arena_str(a, r->node->info->tcp_address);
        x->unix_path = arena_str(a, r->node->info->unix_path);
        x->host_id = arena_str(a, r->node->info->host_id);
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

/* Asks the kernel server at target to create a replica (no lock held). */
static int kernel_create(oms_dir_t *d, const char *target, const cor_object_id_t *id,
                         const char *cls, const uint8_t *args, size_t args_len, const char *chain,
                         cor_error_t *err)
{
    Cor__CreateReplicaRequest cr = COR__CREATE_REPLICA_REQUEST__INIT;
    cr.object_id.data = (uint8_t *)id->b;
    cr.object_id.len = 16;
    cr.class_name = (char *)cls;
    cr.args.data = (uint8_t *)args;
    cr.args.len = args_len;
    cr.epoch = 1;
    cr.dm_chain = (char *)(chain ? chain : ""); /* the replica's server DM parts */
    return d->env.kernel_call(d->env.arg, target, COR_M_CREATE_REPLICA, &cr.base, NULL, err);
}

/* Best effort: the replica may linger if the kernel cannot be reached. */
static void kernel_delete(oms_dir_t *d, const char *target, const cor_object_id_t *id)
{
    Cor__DeleteReplicaRequest dr = COR__DELETE_REPLICA_REQUEST__INIT;
    dr.object_id.data = (uint8_t *)id->b;
    dr.object_id.len = 16;
    cor_error_t err;
    d->env.kernel_call(d->env.arg, target, COR_M_DELETE_REPLICA, &dr.base, NULL, &err);
}

/* Tells every active replica of a multi-replica object who its peers are
 * (Kernel.SetMembers), so server DM parts can message each other. Best
 * effort, no lock held during the calls. */
static void notify_members(oms_dir_t *d, const cor_object_id_t *id)
{
    Cor__Member m[8], *mp[8];
    char node[8][NODE_NAME_MAX + 1], tcp[8][160], unx[8][128], host[8][128];
    int n = 0;
    pthread_rwlock_rdlock(&d->lock);
    oms_obj_t *o = cor_idmap_get(&d->objects, id);
    for (int i = 0; o != NULL && i < o->n_replicas && n < 8; i++) {
        const oms_replica_t *r = &o->replicas[i];
        if (r->state != COR__REPLICA_STATE__REPLICA_ACTIVE)
            continue;
        cor__member__init(&m[n]);
        snprintf(node[n], sizeof(node[n]), "%s", r->node->info->name);
        snprintf(tcp[n], sizeof(tcp[n]), "%s", r->node->info->tcp_address);
        snprintf(unx[n], sizeof(unx[n]), "%s", r->node->info->unix_path);
        snprintf(host[n], sizeof(host[n]), "%s", r->node->info->host_id);
        m[n].node = node[n];
        m[n].tcp_address = tcp[n];
        m[n].unix_path = unx[n];
        m[n].host_id = host[n];
        m[n].epoch = r->epoch;
        mp[n] = &m[n];
        n++;
    }
    pthread_rwlock_unlock(&d->lock);
    if (n < 2)
        return;
    Cor__SetMembersRequest req = COR__SET_MEMBERS_REQUEST__INIT;
    req.object_id.data = (uint8_t *)id->b;
    req.object_id.len = 16;
    req.members = mp;
    req.n_members = (size_t)n;
    for (int i = 0; i < n; i++) {
        cor_error_t err;
        if (d->env.kernel_call(d->env.arg, tcp[i], COR_M_SET_MEMBERS, &req.base, NULL, &err) != 0)
            cor_log_warn("telling %s its peers failed: %s", node[i], err.msg);
    }
}

int oms_dir_create(oms_dir_t *d, const Cor__CreateObjectRequest *req, cor_arena_t *arena,
                   Cor__CreateObjectReply *rep, cor_error_t *err)
{
    int rc = check_name("class name", req->class_name, CLASS_NAME_MAX, 1, err);
    if (rc != 0)
        return rc;
    if (req->name[0] != '\0' && (rc = check_name("object name", req->name, OBJECT_NAME_MAX, 1, err)) != 0)
        return rc;
    if (strlen(req->dm_chain) > DM_CHAIN_MAX)
        return cor_error_set(err, COR_EINVAL, "dm chain is longer than %d bytes", DM_CHAIN_MAX);
    cor_selector_t sel;
    if ((rc = cor_selector_parse(req->selector, &sel, err)) != 0)
        return rc;

    /* Reserve the name and a place, without holding the lock across the
     * call to the kernel. */
    pthread_rwlock_wrlock(&d->lock);
    /* The chain: the request's, else the class's own (cor.dm_chain). It is
     * checked before anything is reserved, so a bad chain creates nothing;
     * its placement DMs narrow the selector. */
    char chain_text[DM_CHAIN_MAX + 1], effective[1024];
    snprintf(chain_text, sizeof(chain_text), "%s",
             req->dm_chain[0] ? req->dm_chain : class_chain(d, req->class_name));
    cor_dm_chain_t chain;
    if ((rc = cor_dm_chain_parse(chain_text, &chain, err)) != 0 ||
        (rc = cor_dm_chain_check(&chain, err)) != 0 ||
        (rc = cor_dm_chain_placement(&chain, req->selector, effective, sizeof(effective), err)) != 0 ||
        (rc = cor_selector_parse(effective, &sel, err)) != 0) {
        pthread_rwlock_unlock(&d->lock);
        return rc;
    }
    cor_dm_chain_format(&chain, chain_text, sizeof(chain_text));
    if (req->name[0] != '\0') {
        if (cor_strmap_get(&d->names, req->name) != NULL) {
            pthread_rwlock_unlock(&d->lock);
            return cor_error_set(err, COR_EEXIST, "an object named '%s' already exists", req->name);
        }
        if (cor_strmap_put(&d->names, req->name, RESERVED, NULL) != 0) {
            pthread_rwlock_unlock(&d->lock);
            return cor_error_set(err, COR_ENOMEM, "out of memory");
        }
    }
    int want = cor_dm_chain_replicas(&chain);
    oms_node_t *nodes[8];
    char targets[8][160];
    uint64_t incs[8];
    int got = 0;
    pick_ctx_t pc;
    for (; got < want && got < 8; got++) {
        pc = (pick_ctx_t){.cls = req->class_name, .sel = &sel, .avoid = nodes, .n_avoid = got};
        cor_strmap_each(&d->nodes, pick_node, &pc);
        if (pc.best == NULL)
            break;
        nodes[got] = pc.best;
        pc.best->placed++;
        snprintf(targets[got], sizeof(targets[got]), "%s", pc.best->info->tcp_address);
        incs[got] = pc.best->info->incarnation;
    }
    if (got < want) {
        for (int i = 0; i < got; i++)
            nodes[i]->placed--;
        if (req->name[0] != '\0')
            cor_strmap_del(&d->names, req->name);
        pthread_rwlock_unlock(&d->lock);
        if (got > 0)
            return cor_error_set(err, COR_EUNAVAIL,
                                 "the chain asks for %d replicas on distinct kernel servers, but "
                                 "only %d live ones can host %s%s%s",
                                 want, got, req->class_name, effective[0] ? " and match " : "",
                                 effective);
        if (pc.hosting == 0)
            return cor_error_set(err, COR_ENOTFOUND, "no kernel server hosts class %s",
                                 req->class_name);
        if (pc.matching == 0)
            return cor_error_set(err, COR_ENOTFOUND,
                                 "%d kernel server(s) host %s but none matches selector '%s'",
                                 pc.hosting, req->class_name, effective);
        if (pc.alive == 0)
            return cor_error_set(err, COR_EUNAVAIL,
                                 "every kernel server that hosts %s%s%s is dead or unknown",
                                 req->class_name, effective[0] ? " and matches " : "",
                                 effective);
        return cor_error_set(err, COR_EUNAVAIL, "every kernel server that can host %s is full",
                             req->class_name);
    }
    pthread_rwlock_unlock(&d->lock);

    int created = 0;
    oms_obj_t *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        rc = cor_error_set(err, COR_ENOMEM, "out of memory");
        goto undo;
    }
    cor_object_id_generate(&o->id);
    o->name = dup_nonempty(req->name);
    o->dm_chain = dup_nonempty(chain_text);
    o->selector = dup_nonempty(effective);
    o->created_ms = d->env.wall_ms(d->env.arg);
    o->epoch = 1;
    o->replicas = calloc((size_t)want, sizeof(*o->replicas));
    if (req->args.len > 0) {
        o->args = malloc(req->args.len);
        if (o->args != NULL) {
            memcpy(o->args, req->args.data, req->args.len);
            o->args_len = req->args.len;
        }
    }
    if (o->replicas == NULL || (req->args.len > 0 && o->args == NULL)) {
        rc = cor_error_set(err, COR_ENOMEM, "out of memory");
        goto undo;
    }
    for (; created < want; created++) {
        rc = kernel_create(d, targets[created], &o->id, req->class_name, o->args, o->args_len,
                           chain_text, err);
        if (rc != 0) {
            cor_error_prefix(err, "kernel server %s", nodes[created]->info->name);
            goto undo;
        }
        o->replicas[created] = (oms_replica_t){.node = nodes[created], .incarnation = incs[created],
                                               .epoch = 1,
                                               .state = COR__REPLICA_STATE__REPLICA_ACTIVE};
    }
    o->n_replicas = want;

    pthread_rwlock_wrlock(&d->lock);
    o->class_name = intern_class(d, req->class_name);
    for (int i = 0; i < want && rc == 0; i++)
        if (nodes[i]->info->incarnation != incs[i])
            /* The node restarted while we created: that replica died with it. */
            rc = cor_error_set(err, COR_EUNAVAIL, "kernel server %s restarted during the create",
                               nodes[i]->info->name);
    if (rc == 0 && o->class_name == NULL) {
        rc = cor_error_set(err, COR_ENOMEM, "out of memory");
    } else if (rc == 0 && (rc = persist_obj(d, o, err)) == 0 &&
               (rc = cor_idmap_put(&d->objects, &o->id, o)) == 0) {
        if (o->name != NULL)
            cor_strmap_put(&d->names, o->name, o, NULL);
        rep->object = obj_info(arena, o);
        if (rep->object == NULL)
            rc = cor_error_set(err, COR_ENOMEM, "out of memory");
    } else if (rc == COR_EEXIST) {
        rc = cor_error_set(err, COR_EINTERNAL, "object id collision");
    }
    pthread_rwlock_unlock(&d->lock);
    if (rc == 0) {
        char s[COR_OBJECT_ID_STRLEN + 1];
        cor_object_id_format(&o->id, s);
        cor_log_info("object %s (%s%s%s) created on %s%s", s, req->class_name,
                     req->name[0] ? ", " : "", req->name, nodes[0]->info->name,
                     want > 1 ? " and others" : "");
        if (want > 1)
            notify_members(d, &o->id);
        return 0;
    }
undo:
    /* Recorded nowhere: take back the replicas made so far. */
    for (int i = 0; i < created; i++)
        kernel_delete(d, targets[i], &o->id);
    pthread_rwlock_wrlock(&d->lock);
    for (int i = 0; i < want; i++)
        nodes[i]->placed--;
    if (req->name[0] != '\0' && cor_strmap_get(&d->names, req->name) == RESERVED)
        cor_strmap_del(&d->names, req->name);
    pthread_rwlock_unlock(&d->lock);
    obj_free(o);
    return rc;
}

/* Finds an object by id or name (caller holds the lock). */
static oms_obj_t *find(oms_dir_t *d, const ProtobufCBinaryData *id, const char *name,
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

int oms_dir_lookup(oms_dir_t *d, const Cor__LookupRequest *req, cor_arena_t *arena,
                   Cor__LookupReply *rep, cor_error_t *err)
{
    pthread_rwlock_rdlock(&d->lock);
    oms_obj_t *o = find(d, &req->id, req->name, err);
    int rc = err->code;
    if (o != NULL) {
        rep->object = obj_info(arena, o);
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
        if ((out[i] = obj_info(arena, pc.heap[i])) == NULL)
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
    oms_obj_t *o = find(d, &req->id, req->name, err);
    if (o == NULL) {
        pthread_rwlock_unlock(&d->lock);
        return err->code;
    }
    char key[64], ckey[72];
    obj_key(&o->id, key);
    snprintf(ckey, sizeof(ckey), "ckpt/%s", key + 4);
    cor_store_op_t ops[2] = {{COR_STORE_DEL, key, NULL, 0}, {COR_STORE_DEL, ckey, NULL, 0}};
    int rc = d->store.ops->apply(d->store.impl, ops, 2, err);
    if (rc != 0) {
        pthread_rwlock_unlock(&d->lock);
        return rc;
    }
    cor_idmap_del(&d->objects, &o->id);
    if (o->name != NULL)
        cor_strmap_del(&d->names, o->name);
    /* Who to tell, copied out before the lock is dropped. */
    int n = o->n_replicas;
    char targets[8][160];
    int live[8];
    for (int i = 0; i < n && i < 8; i++) {
        oms_replica_t *r = &o->replicas[i];
        live[i] = r->state == COR__REPLICA_STATE__REPLICA_ACTIVE &&
                  r->node->info->state != COR__NODE_STATE__NODE_DEAD &&
                  r->incarnation == r->node->info->incarnation;
        if (r->state == COR__REPLICA_STATE__REPLICA_ACTIVE)
            r->node->placed--;
        snprintf(targets[i], sizeof(targets[i]), "%s", r->node->info->tcp_address);
    }
    room_changed(d);
    pthread_rwlock_unlock(&d->lock);

    char s[COR_OBJECT_ID_STRLEN + 1];
    cor_object_id_format(&o->id, s);
    Cor__DeleteReplicaRequest dr = COR__DELETE_REPLICA_REQUEST__INIT;
    dr.object_id.data = o->id.b;
    dr.object_id.len = 16;
    for (int i = 0; i < n && i < 8; i++) {
        if (!live[i])
            continue;
        cor_error_t kerr;
        if (d->env.kernel_call(d->env.arg, targets[i], COR_M_DELETE_REPLICA, &dr.base, NULL, &kerr) != 0 &&
            kerr.code != COR_ENOTFOUND)
            cor_log_warn("object %s deleted, but its replica at %s may linger: %s", s, targets[i],
                         kerr.msg);
    }
    cor_log_info("object %s deleted", s);
    obj_free(o);
    return 0;
}

/* ---------------- repair: replicas lost with a dead node ---------------- */

/* One replica to re-create: where, and what it is. */
typedef struct repair {
    cor_object_id_t id;
    int slot;
    int restore;            /* from the checkpoint (else a fresh replica) */
    uint64_t epoch;         /* the restored replica's */
    int64_t checkpoint_ms;  /* when the checkpoint was taken */
    int64_t last_heard_ms;  /* the dead node's last heartbeat */
    char dead[NODE_NAME_MAX + 1];
    oms_node_t *node;
    uint64_t incarnation;
    char target[160];
    char cls[CLASS_NAME_MAX + 1];
    char chain[DM_CHAIN_MAX + 1];
    uint8_t *args;
    size_t args_len;
    struct repair *next;
} repair_t;

typedef struct repair_ctx {
    oms_dir_t *d;
    repair_t *todo;
} repair_ctx_t;

static void plan_repair(void *arg, const cor_object_id_t *key, void *value)
{
    repair_ctx_t *rc = arg;
    oms_obj_t *o = value;
    if (o->dm_chain == NULL)
        return;
    cor_dm_chain_t chain;
    if (cor_dm_chain_parse(o->dm_chain, &chain, NULL) != 0)
        return;
    /* The chain's group parts decide: re-create fresh (independent
     * replicas), restore from the last checkpoint, or leave it lost (its
     * state died with its node). */
    int want = cor_dm_chain_replicas(&chain);
    enum cor_dm_recovery how = cor_dm_chain_recovery(&chain);
    if (how == COR_DM_RECOVER_NONE || (how == COR_DM_RECOVER_RESTORE && o->checkpoint_ms == 0))
        return;
    int restore = how == COR_DM_RECOVER_RESTORE;
    /* Replicas on dead nodes are lost (their node may come back, but the
     * object has moved on). */
    int live = 0;
    for (int i = 0; i < o->n_replicas; i++) {
        oms_replica_t *r = &o->replicas[i];
        if (r->state != COR__REPLICA_STATE__REPLICA_ACTIVE)
            continue;
        if (r->node->info->state == COR__NODE_STATE__NODE_DEAD) {
            r->state = COR__REPLICA_STATE__REPLICA_LOST;
            r->node->placed--;
            cor_error_t perr;
            persist_obj(rc->d, o, &perr);
        } else {
            live++;
        }
    }
    /* A lost replica whose node is back under the same incarnation (a
     * healed partition) never went away: take it back rather than make
     * another, which that node would refuse as already hosted. */
    for (int i = 0; i < o->n_replicas && live < want; i++) {
        oms_replica_t *r = &o->replicas[i];
        if (r->state == COR__REPLICA_STATE__REPLICA_LOST && !r->pending &&
            r->node->info->state == COR__NODE_STATE__NODE_ALIVE &&
            r->incarnation == r->node->info->incarnation) {
            r->state = COR__REPLICA_STATE__REPLICA_ACTIVE;
            r->node->placed++;
            cor_error_t perr;
            persist_obj(rc->d, o, &perr);
            live++;
        }
    }
    if (live >= want)
        return;
    /* New replicas go to nodes holding none of this object's, counting
     * the ones chosen in this pass. */
    oms_node_t *avoid[2 * OMS_MAX_REPLICAS];
    int n_avoid = 0;
    for (int j = 0; j < o->n_replicas && n_avoid < OMS_MAX_REPLICAS; j++)
        if (o->replicas[j].state == COR__REPLICA_STATE__REPLICA_ACTIVE || o->replicas[j].pending)
            avoid[n_avoid++] = o->replicas[j].node;
    cor_selector_t sel;
    if (cor_selector_parse(o->selector, &sel, NULL) != 0)
        sel.n = 0;
    for (int i = 0; i < o->n_replicas && live < want; i++) {
        oms_replica_t *r = &o->replicas[i];
        if (r->state == COR__REPLICA_STATE__REPLICA_ACTIVE || r->pending)
            continue;
        pick_ctx_t pc = {.cls = o->class_name, .sel = &sel, .avoid = avoid, .n_avoid = n_avoid};
        cor_strmap_each(&rc->d->nodes, pick_node, &pc);
        repair_t *w = pc.best ? calloc(1, sizeof(*w)) : NULL;
        if (w == NULL) {
            rc->d->repair_waiting = 1; /* no node can take it: wait for one */
            return;
        }
        w->id = o->id;
        w->slot = i;
        w->restore = restore;
        w->epoch = o->epoch + 1;
        w->checkpoint_ms = o->checkpoint_ms;
        w->last_heard_ms = r->node->info->last_heartbeat_ms;
        snprintf(w->dead, sizeof(w->dead), "%s", r->node->info->name);
        w->node = pc.best;
        if (n_avoid < 2 * OMS_MAX_REPLICAS)
            avoid[n_avoid++] = pc.best;
        w->incarnation = pc.best->info->incarnation;
        pc.best->placed++;
        r->pending = 1;
        snprintf(w->target, sizeof(w->target), "%s", pc.best->info->tcp_address);
        snprintf(w->cls, sizeof(w->cls), "%s", o->class_name);
        snprintf(w->chain, sizeof(w->chain), "%s", o->dm_chain);
        if (o->args_len > 0 && (w->args = malloc(o->args_len)) != NULL) {
            memcpy(w->args, o->args, o->args_len);
            w->args_len = o->args_len;
        }
        w->next = rc->todo;
        rc->todo = w;
        live++;
    }
}

/* Installs a replica from the object's stored checkpoint (no lock held). */
static int kernel_restore(oms_dir_t *d, const repair_t *w, cor_error_t *err)
{
    char key[80], s[COR_OBJECT_ID_STRLEN + 1];
    cor_object_id_format(&w->id, s);
    snprintf(key, sizeof(key), "ckpt/%s", s);
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = d->store.ops->get(d->store.impl, key, &buf, &len, err);
    if (rc != 0)
        return rc;
    Cor__CheckpointRequest *ck = cor__checkpoint_request__unpack(NULL, len, buf);
    free(buf);
    if (ck == NULL)
        return cor_error_set(err, COR_EPROTO, "stored checkpoint of %s is malformed", s);
    Cor__InstallStateRequest is = COR__INSTALL_STATE_REQUEST__INIT;
    is.object_id.data = (uint8_t *)w->id.b;
    is.object_id.len = 16;
    is.class_name = (char *)w->cls;
    is.state = ck->state;
    is.epoch = w->epoch;
    is.dm_chain = (char *)w->chain;
    rc = d->env.kernel_call(d->env.arg, w->target, COR_M_INSTALL_STATE, &is.base, NULL, err);
    cor__checkpoint_request__free_unpacked(ck, NULL);
    return rc;
}

/* Creates a fresh replica for a repair. A node cut off while the object's
 * replica there was replaced may still hold that old replica, which has
 * drifted from the object's life since; it is dropped and made anew. */
static int repair_create(oms_dir_t *d, const repair_t *w, cor_error_t *err)
{
    int rc = kernel_create(d, w->target, &w->id, w->cls, w->args, w->args_len, w->chain, err);
    if (rc != COR_EEXIST)
        return rc;
    char s[COR_OBJECT_ID_STRLEN + 1];
    cor_object_id_format(&w->id, s);
    cor_log_warn("object %s: %s still held a replica the OMS had replaced; replacing it", s,
                 w->node->info->name);
    kernel_delete(d, w->target, &w->id);
    return kernel_create(d, w->target, &w->id, w->cls, w->args, w->args_len, w->chain, err);
}

/* For each object whose chain keeps several replicas and that had one on
 * a node just marked dead: create a replacement on another live node
 * (without the lock), then record it in the dead replica's slot. */
static void repair_replicas(oms_dir_t *d)
{
    repair_ctx_t rc = {.d = d};
    pthread_rwlock_wrlock(&d->lock);
    d->repair_pending = 0; /* set again by any repair that fails, */
    d->repair_waiting = 0; /* and this by any plan with no node to take it */
    cor_idmap_each(&d->objects, plan_repair, &rc);
    pthread_rwlock_unlock(&d->lock);
    while (rc.todo != NULL) {
        repair_t *w = rc.todo;
        rc.todo = w->next;
        char s[COR_OBJECT_ID_STRLEN + 1];
        cor_object_id_format(&w->id, s);
        cor_error_t err;
        int ok = (w->restore ? kernel_restore(d, w, &err) : repair_create(d, w, &err)) == 0;
        pthread_rwlock_wrlock(&d->lock);
        oms_obj_t *o = cor_idmap_get(&d->objects, &w->id);
        if (o != NULL && w->slot < o->n_replicas)
            o->replicas[w->slot].pending = 0;
        if (ok && o != NULL && w->slot < o->n_replicas && w->node->info->incarnation == w->incarnation) {
            o->replicas[w->slot] = (oms_replica_t){.node = w->node, .incarnation = w->incarnation,
                                                   .epoch = w->restore ? w->epoch : 1,
                                                   .state = COR__REPLICA_STATE__REPLICA_ACTIVE};
            if (w->restore)
                o->epoch = w->epoch;
            if (persist_obj(d, o, &err) != 0)
                cor_log_error("object %s: recording the new replica: %s", s, err.msg);
            if (w->restore)
                cor_log_warn("object %s restored on %s from its checkpoint of %lld ms before %s "
                             "was last heard from: changes in that window are lost",
                             s, w->node->info->name,
                             (long long)(w->last_heard_ms - w->checkpoint_ms), w->dead);
            else
                cor_log_info("object %s: replica re-created on %s", s, w->node->info->name);
            ok = 2;
        }
        if (ok != 2) {
            w->node->placed--;
            d->repair_pending = 1;
        }
        pthread_rwlock_unlock(&d->lock);
        if (ok == 2)
            notify_members(d, &w->id);
        if (ok == 0)
            cor_log_warn("object %s: re-creating a replica on %s failed: %s", s, w->target, err.msg);
        else if (ok == 1)
            kernel_delete(d, w->target, &w->id); /* deleted meanwhile */
        free(w->args);
        free(w);
    }
}

/* ---------------- live migration ---------------- */

#define PRECOPY_DONE_BYTES (64u * 1024) /* a step this small: freeze next */
#define PRECOPY_MAX_ROUNDS 8

/* Records a move's progress for GetObject / corctl (takes the lock). */
static void move_progress(oms_dir_t *d, const cor_object_id_t *id, const char *to,
                          const char *phase, uint32_t round, uint64_t copied, uint64_t state,
                          int64_t t0)
{
    int64_t now = d->env.mono_ms(d->env.arg);
    pthread_rwlock_wrlock(&d->lock);
    oms_obj_t *o = cor_idmap_get(&d->objects, id);
    if (o != NULL && o->migrating) {
        snprintf(o->move.to, sizeof(o->move.to), "%s", to);
        o->move.phase = phase;
        o->move.round = round;
        o->move.copied = copied;
        if (state > 0)
            o->move.state = state;
        o->move.elapsed_us = (now - t0) * 1000;
    }
    pthread_rwlock_unlock(&d->lock);
}

int oms_dir_migrate(oms_dir_t *d, const Cor__MigrateRequest *req, cor_arena_t *arena,
                    Cor__MigrateReply *rep, cor_error_t *err)
{
    if ((req->to_node[0] == '\0') == (req->selector[0] == '\0'))
        return cor_error_set(err, COR_EINVAL, "migrate: give a target node or a selector, not %s",
                             req->to_node[0] ? "both" : "neither");
    cor_selector_t want;
    int rc = cor_selector_parse(req->selector, &want, err);
    if (rc != 0)
        return rc;
    int64_t t0 = d->env.mono_ms(d->env.arg);
    pthread_rwlock_wrlock(&d->lock);
    oms_obj_t *o = find(d, &req->id, req->name, err);
    if (o == NULL) {
        pthread_rwlock_unlock(&d->lock);
        return err->code;
    }
    char s[COR_OBJECT_ID_STRLEN + 1];
    cor_object_id_format(&o->id, s);
    int slot = -1, active = 0;
    for (int i = 0; i < o->n_replicas; i++)
        if (o->replicas[i].state == COR__REPLICA_STATE__REPLICA_ACTIVE) {
            slot = i;
            active++;
        }
    oms_node_t *src = slot >= 0 ? o->replicas[slot].node : NULL, *dst = NULL;
    cor_dm_chain_t chain;
    if (req->by_app && (cor_dm_chain_parse(o->dm_chain, &chain, NULL) != 0 ||
                        !(cor_dm_chain_caps(&chain) & COR_DM_CAP_APP_MIGRATE)))
        rc = cor_error_set(err, COR_EPERM,
                           "object %s may not be moved by the application: its chain has no "
                           "ExplicitMigration", s);
    else if (o->migrating)
        rc = cor_error_set(err, COR_EABORTED, "object %s is already being moved", s);
    else if (active != 1)
        rc = cor_error_set(err, COR_EUNIMPL,
                           "object %s has %d active replicas; only single replicas move for now", s,
                           active);
    else if (src->info->state != COR__NODE_STATE__NODE_ALIVE)
        rc = cor_error_set(err, COR_EUNAVAIL, "object %s: its kernel server %s is not alive", s,
                           src->info->name);
    cor_selector_t place;
    if (rc == 0 && cor_selector_parse(o->selector, &place, err) != 0)
        rc = err->code;
    if (rc == 0 && req->to_node[0] != '\0') {
        dst = cor_strmap_get(&d->nodes, req->to_node);
        if (dst == NULL)
            rc = cor_error_set(err, COR_ENOTFOUND, "no kernel server named '%.63s'", req->to_node);
        else if (dst == src)
            rc = cor_error_set(err, COR_EINVAL, "object %s is already on %s", s, src->info->name);
        else if (dst->info->state != COR__NODE_STATE__NODE_ALIVE)
            rc = cor_error_set(err, COR_EUNAVAIL, "kernel server %s is not alive", dst->info->name);
        else if (!hosts_class(dst->info, o->class_name))
            rc = cor_error_set(err, COR_EINVAL, "kernel server %s does not host class %s",
                               dst->info->name, o->class_name);
        else if (!cor_selector_match(&place, node_label, dst->info))
            rc = cor_error_set(err, COR_EINVAL,
                               "moving object %s to %s would break its placement '%s'", s,
                               dst->info->name, o->selector);
    } else if (rc == 0) {
        oms_node_t *avoid[1] = {src};
        pick_ctx_t pc = {.cls = o->class_name, .sel = &place, .avoid = avoid, .n_avoid = 1};
        /* Both the object's placement and the requested labels must hold:
         * pick among nodes matching the first, then check the second. */
        cor_strmap_each(&d->nodes, pick_node, &pc);
        if (pc.best != NULL && !cor_selector_match(&want, node_label, pc.best->info)) {
            pick_ctx_t pc2 = {.cls = o->class_name, .sel = &want, .avoid = avoid, .n_avoid = 1};
            cor_strmap_each(&d->nodes, pick_node, &pc2);
            pc.best = pc2.best && cor_selector_match(&place, node_label, pc2.best->info) ? pc2.best
                                                                                          : NULL;
        }
        dst = pc.best;
        if (dst == NULL)
            rc = cor_error_set(err, COR_ENOTFOUND,
                               "no other live kernel server hosting %s matches '%s'%s%s",
                               o->class_name, req->selector, o->selector ? " and placement " : "",
                               o->selector ? o->selector : "");
    }
    if (rc != 0) {
        pthread_rwlock_unlock(&d->lock);
        return rc;
    }
    o->migrating = 1;
    memset(&o->move, 0, sizeof(o->move));
    dst->placed++;
    char src_tcp[160], dst_tcp[160], from[NODE_NAME_MAX + 1], to[NODE_NAME_MAX + 1],
        chain_text[DM_CHAIN_MAX + 1];
    snprintf(src_tcp, sizeof(src_tcp), "%s", src->info->tcp_address);
    snprintf(dst_tcp, sizeof(dst_tcp), "%s", dst->info->tcp_address);
    snprintf(from, sizeof(from), "%s", src->info->name);
    snprintf(to, sizeof(to), "%s", dst->info->name);
    snprintf(chain_text, sizeof(chain_text), "%s", o->dm_chain ? o->dm_chain : "");
    uint64_t new_epoch = o->epoch + 1, dst_inc = dst->info->incarnation;
    cor_object_id_t id = o->id;
    pthread_rwlock_unlock(&d->lock);

    Cor__MigrateOutRequest mo = COR__MIGRATE_OUT_REQUEST__INIT;
    mo.object_id.data = id.b;
    mo.object_id.len = 16;
    mo.target_tcp = dst_tcp;
    mo.new_epoch = new_epoch;
    mo.dm_chain = chain_text;
    move_progress(d, &id, to, "precopy", 0, 0, 0, t0);
    /* Pre-copy: copy while the object serves, again and again while what
     * changed meanwhile shrinks; then the frozen final step. */
    uint32_t rounds = 0;
    uint64_t copied = 0, last_sent = UINT64_MAX;
    ProtobufCMessage *out = NULL;
    for (;;) {
        mo.phase = COR__MOVE_PHASE__MOVE_PRECOPY;
        rc = d->env.kernel_call(d->env.arg, src_tcp, COR_M_MIGRATE_OUT, &mo.base, &out, err);
        if (rc != 0)
            break;
        const Cor__MigrateOutReply *mr = (const Cor__MigrateOutReply *)out;
        int skipped = mr == NULL || mr->skipped;
        uint64_t sent = mr ? mr->sent_bytes : 0, state = mr ? mr->state_bytes : 0;
        if (out != NULL)
            protobuf_c_message_free_unpacked(out, NULL);
        out = NULL;
        if (skipped)
            break;
        rounds++;
        copied += sent;
        move_progress(d, &id, to, "precopy", rounds, copied, state, t0);
        if (sent <= PRECOPY_DONE_BYTES || rounds >= PRECOPY_MAX_ROUNDS || sent >= last_sent)
            break;
        last_sent = sent;
    }
    if (rc == 0) {
        move_progress(d, &id, to, "final", rounds, copied, 0, t0);
        mo.phase = COR__MOVE_PHASE__MOVE_FINAL;
        rc = d->env.kernel_call(d->env.arg, src_tcp, COR_M_MIGRATE_OUT, &mo.base, &out, err);
    }
    if (rc != 0 && rounds > 0) {
        cor_error_t aerr; /* best effort: the source forgets the session */
        Cor__MigrateOutRequest ab = mo;
        ab.phase = COR__MOVE_PHASE__MOVE_ABORT;
        d->env.kernel_call(d->env.arg, src_tcp, COR_M_MIGRATE_OUT, &ab.base, NULL, &aerr);
    }
    if (rc != 0)
        cor_error_prefix(err, "moving object %s from %s to %s", s, from, to);

    pthread_rwlock_wrlock(&d->lock);
    o = cor_idmap_get(&d->objects, &id);
    if (o != NULL)
        o->migrating = 0;
    if (rc == 0 && o != NULL && slot < o->n_replicas && o->replicas[slot].node == dst &&
        o->epoch == new_epoch) {
        /* The target's report got here first: already committed. */
        dst->placed--;
        rep->object = obj_info(arena, o);
    } else if (rc == 0 && o != NULL && slot < o->n_replicas && o->replicas[slot].node == src) {
        o->replicas[slot] = (oms_replica_t){.node = dst, .incarnation = dst_inc,
                                            .epoch = new_epoch,
                                            .state = COR__REPLICA_STATE__REPLICA_ACTIVE};
        o->epoch = new_epoch;
        src->placed--;
        const Cor__MigrateOutReply *mr = (const Cor__MigrateOutReply *)out;
        moves_add(o, from, to, d->env.wall_ms(d->env.arg), mr ? mr->frozen_us : 0, new_epoch);
        cor_error_t perr;
        if (persist_obj(d, o, &perr) != 0)
            cor_log_error("object %s moved to %s but recording it failed: %s", s, to, perr.msg);
        rep->object = obj_info(arena, o);
    } else {
        dst->placed--;
        if (rc == 0)
            rc = cor_error_set(err, COR_EABORTED, "object %s changed during the move", s);
    }
    pthread_rwlock_unlock(&d->lock);
    if (rc == 0) {
        const Cor__MigrateOutReply *m = (const Cor__MigrateOutReply *)out;
        rep->from_node = arena_str(arena, from);
        rep->to_node = arena_str(arena, to);
        rep->state_bytes = m ? m->state_bytes : 0;
        rep->frozen_us = m ? m->frozen_us : 0;
        rep->total_us = (d->env.mono_ms(d->env.arg) - t0) * 1000;
        rep->precopy_rounds = rounds;
        rep->bytes_copied = copied + (m ? m->sent_bytes : 0);
        cor_log_info("object %s moved %s -> %s (epoch %llu, %llu bytes, frozen %lld us)", s, from,
                     to, (unsigned long long)new_epoch, (unsigned long long)rep->state_bytes,
                     (long long)rep->frozen_us);
    }
    if (out != NULL)
        protobuf_c_message_free_unpacked(out, NULL);
    return rc;
}

enum report_verdict { ADOPT, REFUSE, LATER };

/* Asks the recorded replica's kernel (a move's source) whether it still
 * serves the object: the source is the authority on whether a move it
 * made happened. ADOPT when it moved the object away at the reported epoch
 * or later, or no longer has it; REFUSE when it serves it; LATER when it
 * cannot be asked now. */
static enum report_verdict probe_source(oms_dir_t *d, const char *src_tcp,
                                        const cor_object_id_t *id, uint64_t epoch, char *why,
                                        size_t why_len)
{
    Cor__GetStateRequest q = COR__GET_STATE_REQUEST__INIT;
    q.object_id.data = (uint8_t *)id->b;
    q.object_id.len = 16;
    q.probe = 1;
    ProtobufCMessage *out = NULL;
    cor_error_t err;
    int rc = d->env.kernel_call(d->env.arg, src_tcp, COR_M_GET_STATE, &q.base, &out, &err);
    enum report_verdict v;
    const Cor__GetStateReply *r = (const Cor__GetStateReply *)out;
    if (rc == COR_ENOTFOUND) {
        v = ADOPT;
    } else if (rc != 0 || r == NULL) {
        snprintf(why, why_len, "its source could not be asked: %.120s", err.msg);
        v = LATER;
    } else if (r->moved && r->moved_epoch >= epoch) {
        v = ADOPT;
    } else {
        snprintf(why, why_len, "its source still serves it at epoch %llu",
                 (unsigned long long)r->epoch);
        v = REFUSE;
    }
    if (out != NULL)
        protobuf_c_message_free_unpacked(out, NULL);
    return v;
}

int oms_dir_report_placement(oms_dir_t *d, const Cor__PlacementReport *req, cor_error_t *err)
{
    cor_object_id_t id;
    if (cor_object_id_from_bytes(req->object_id.data, req->object_id.len, &id) != 0)
        return cor_error_set(err, COR_EINVAL, "placement report: object id must be 16 bytes");
    char s[COR_OBJECT_ID_STRLEN + 1];
    cor_object_id_format(&id, s);
    pthread_rwlock_wrlock(&d->lock);
    oms_obj_t *o = cor_idmap_get(&d->objects, &id);
    oms_node_t *n = cor_strmap_get(&d->nodes, req->node);
    int rc = 0;
    if (o == NULL) {
        rc = cor_error_set(err, COR_ENOTFOUND, "placement report: no such object");
    } else if (n == NULL || n->info->incarnation != req->incarnation) {
        rc = cor_error_set(err, COR_ESTATE, "placement report from an unknown node or incarnation");
    } else if (req->epoch > o->epoch && o->n_replicas == 1 && o->migrating) {
        /* Its commit may be on the way; if the move fails instead, the
         * source decides (below), so the kernel asks again. */
        rc = cor_error_set(err, COR_EUNAVAIL, "object %s is being moved: report again", s);
    }
    if (rc != 0 || !(req->epoch > o->epoch && o->n_replicas == 1)) {
        pthread_rwlock_unlock(&d->lock);
        return rc;
    }
    /* A placement newer than the record: a move the OMS did not see commit
     * (it died, or its call to the source failed after the source had
     * committed, or before). Believe it only if the source agrees the
     * object left: else the target's copy is a stray and two copies would
     * serve. */
    oms_replica_t *r = &o->replicas[0];
    int src_alive = r->state == COR__REPLICA_STATE__REPLICA_ACTIVE &&
                    r->node->info->state == COR__NODE_STATE__NODE_ALIVE && r->node != n;
    char src_tcp[160], tgt_tcp[160], why[200] = "";
    snprintf(src_tcp, sizeof(src_tcp), "%s", r->node->info->tcp_address);
    snprintf(tgt_tcp, sizeof(tgt_tcp), "%s", n->info->tcp_address);
    uint64_t recorded = o->epoch;
    pthread_rwlock_unlock(&d->lock);

    enum report_verdict v = src_alive ? probe_source(d, src_tcp, &id, req->epoch, why, sizeof(why))
                                      : ADOPT;
    pthread_rwlock_wrlock(&d->lock);
    o = cor_idmap_get(&d->objects, &id);
    n = cor_strmap_get(&d->nodes, req->node);
    if (o == NULL || n == NULL || o->epoch != recorded || o->migrating || o->n_replicas != 1) {
        pthread_rwlock_unlock(&d->lock);
        return cor_error_set(err, COR_EUNAVAIL, "object %s changed meanwhile: report again", s);
    }
    if (v == ADOPT) {
        r = &o->replicas[0];
        cor_log_warn("object %s: %s holds it at epoch %llu, newer than recorded %llu: adopted", s,
                     n->info->name, (unsigned long long)req->epoch, (unsigned long long)o->epoch);
        if (r->state == COR__REPLICA_STATE__REPLICA_ACTIVE)
            r->node->placed--;
        *r = (oms_replica_t){.node = n, .incarnation = req->incarnation, .epoch = req->epoch,
                             .state = COR__REPLICA_STATE__REPLICA_ACTIVE};
        n->placed++;
        o->epoch = req->epoch;
        rc = persist_obj(d, o, err);
    }
    pthread_rwlock_unlock(&d->lock);
    if (v == LATER)
        return cor_error_set(err, COR_EUNAVAIL, "object %s: %s; report again", s, why);
    if (v == REFUSE) {
        cor_log_warn("object %s: %s reports it at epoch %llu, but %s: its copy is dropped", s,
                     req->node, (unsigned long long)req->epoch, why);
        kernel_delete(d, tgt_tcp, &id);
        return cor_error_set(err, COR_ESTATE, "object %s: %s; your copy was dropped", s, why);
    }
    return rc;
}

/* ---------------- checkpoints ---------------- */

int oms_dir_put_checkpoint(oms_dir_t *d, const Cor__CheckpointRequest *req, cor_error_t *err)
{
    cor_object_id_t id;
    if (cor_object_id_from_bytes(req->object_id.data, req->object_id.len, &id) != 0)
        return cor_error_set(err, COR_EINVAL, "checkpoint: object id must be 16 bytes");
    char s[COR_OBJECT_ID_STRLEN + 1], key[64];
    cor_object_id_format(&id, s);
    snprintf(key, sizeof(key), "ckpt/%s", s);
    pthread_rwlock_wrlock(&d->lock);
    oms_obj_t *o = cor_idmap_get(&d->objects, &id);
    int rc = 0;
    if (o == NULL) {
        rc = cor_error_set(err, COR_ENOTFOUND, "checkpoint: no object %s", s);
        goto out;
    }
    int holder = 0;
    for (int i = 0; i < o->n_replicas; i++)
        holder |= o->replicas[i].state == COR__REPLICA_STATE__REPLICA_ACTIVE &&
                  strcmp(o->replicas[i].node->info->name, req->node) == 0 &&
                  o->replicas[i].incarnation == req->incarnation;
    if (!holder) {
        rc = cor_error_set(err, COR_ESTATE,
                           "checkpoint of %s from %.63s (incarnation %llu), which does not hold "
                           "its active replica",
                           s, req->node, (unsigned long long)req->incarnation);
        goto out;
    }
    if (req->taken_ms <= o->checkpoint_ms)
        goto out; /* an older one that arrived late */
    size_t len = cor__checkpoint_request__get_packed_size(req);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL) {
        rc = cor_error_set(err, COR_ENOMEM, "out of memory");
        goto out;
    }
    cor__checkpoint_request__pack(req, buf);
    int64_t before = o->checkpoint_ms;
    o->checkpoint_ms = req->taken_ms;
    uint8_t *obuf = NULL;
    size_t olen = 0;
    if (obj_encode(o, &obuf, &olen) != 0) {
        o->checkpoint_ms = before;
        free(buf);
        rc = cor_error_set(err, COR_ENOMEM, "out of memory");
        goto out;
    }
    char okey[64];
    obj_key(&o->id, okey);
    cor_store_op_t ops[2] = {{COR_STORE_PUT, key, buf, len}, {COR_STORE_PUT, okey, obuf, olen}};
    rc = d->store.ops->apply(d->store.impl, ops, 2, err);
    if (rc != 0)
        o->checkpoint_ms = before;
    free(buf);
    free(obuf);
out:
    pthread_rwlock_unlock(&d->lock);
    return rc;
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
