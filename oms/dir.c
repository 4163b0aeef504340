/*
 * dir.c — the OMS directory's life (open, close) and the small helpers its
 * other files share; see directory.h for what the directory is and
 * dir_int.h for how it is cut into files.
 *
 * Design: in memory, nodes in a string map by name (a node struct lives as
 * long as the directory, across incarnations, so replicas can point at
 * it), objects in an id map, names in a string map (name -> object). Every
 * change is written through to the store before it becomes visible, except
 * heartbeat times and loads, which are soft state. Opening loads the store
 * back (dir_store.c); the world outside — kernel servers and clocks — is an
 * oms_env_t, real (dir_kernel.c) or a test's fakes.
 *
 * Happy path: oms_dir_open fills the maps and returns; handlers call the
 * other files' functions; oms_dir_close frees everything and closes the
 * store. Failure modes: out of memory or a store that cannot be read fails
 * the open (the store is closed either way); a record that does not decode
 * is skipped with a log line, not fatal.
 */
#include "dir_int.h"

#include <stdlib.h>
#include <string.h>

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
    d->env = opts->env != NULL ? *opts->env : oms_env_real(d);
    pthread_rwlock_init(&d->lock, NULL);
    cor_idmap_init(&d->objects);
    cor_idmap_init(&d->groups);
    if (cor_strmap_init(&d->nodes) != 0 || cor_strmap_init(&d->names) != 0 ||
        cor_strmap_init(&d->classes) != 0) {
        oms_dir_close(d);
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    }
    int rc = oms_store_load(d, err);
    if (rc == 0)
        oms_group_load(d);
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
    oms_obj_free(value);
}

static void free_group_cb(void *arg, const cor_object_id_t *key, void *value)
{
    oms_group_release(value);
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
    cor_idmap_each(&d->groups, free_group_cb, NULL);
    cor_idmap_close(&d->groups);
    oms_group_free_all(d);
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

/* ---------------- objects in memory ---------------- */

const char *oms_intern_class(oms_dir_t *d, const char *name)
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

char *oms_dup_nonempty(const char *s)
{
    return (s != NULL && s[0] != '\0') ? strdup(s) : NULL;
}

void oms_obj_free(oms_obj_t *o)
{
    if (o == NULL)
        return;
    free(o->name);
    free(o->dm_chain);
    free(o->selector);
    free(o->replicas);
    free(o->args);
    for (int i = 0; i < o->n_moves; i++)
        cor__move__free_unpacked(o->moves[i], NULL);
    free(o);
}

/* ---------------- validation ---------------- */

static int name_char(char c, int object)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-' || (object && (c == '/' || c == ':'));
}

int oms_check_name(const char *what, const char *s, size_t max, int object, cor_error_t *err)
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

/* ---------------- replies ---------------- */

ProtobufCMessage *oms_arena_clone(cor_arena_t *a, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = cor_arena_alloc(a, n ? n : 1);
    if (buf == NULL)
        return NULL;
    protobuf_c_message_pack(m, buf);
    return protobuf_c_message_unpack(m->descriptor, &a->pb, n, buf);
}

char *oms_arena_str(cor_arena_t *a, const char *s)
{
    if (s == NULL)
        return (char *)"";
    size_t n = strlen(s) + 1;
    char *p = cor_arena_alloc(a, n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}
