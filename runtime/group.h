/*
 * group.h — the seam between DM group parts and the OMS that runs them
 * (cor/dm.h, "The group part"). libcor defines the cor_dm_group_* actions
 * a group part calls; the OMS (oms/dir_group.c) implements them, handing
 * each hook a cor_dm_group_t that names the object and points at its
 * implementation. So a DM's group code compiles into libcor with the rest
 * of the DM, and runs wherever an OMS supplies this vtable — cor-oms, or
 * the deterministic OMS fixture in the tests.
 */
#ifndef COR_GROUP_H
#define COR_GROUP_H

#include <cor/dm.h>

typedef struct cor_dm_group_impl {
    int (*replicas)(void *arg, cor_dm_replica_t *out, int max, int *n);
    int64_t (*checkpoint_ms)(void *arg);
    /* only: a node name, or NULL to let the OMS choose */
    int (*add_replica)(void *arg, enum cor_dm_source from, const char *only, char *node,
                       size_t len, cor_error_t *err);
    int (*replica_role)(void *arg, const char *node, char *role, size_t len, cor_error_t *err);
    int (*lose_replica)(void *arg, const char *node, cor_error_t *err);
    int (*revive_replica)(void *arg, const char *node, cor_error_t *err);
    int (*drop_replica)(void *arg, const char *node, cor_error_t *err);
    int (*move)(void *arg, const char *to_node, cor_error_t *err);
    int (*save)(void *arg, const unsigned char *state, size_t len, cor_error_t *err);
    int (*keep)(void *arg, int want, enum cor_dm_source from);
} cor_dm_group_impl_t;

/* What a group part's hook gets: valid during the hook only. */
struct cor_dm_group {
    const cor_dm_group_impl_t *impl;
    void *arg;              /* the OMS's: which object, which part */
    const char *object;     /* the object's id, printed */
    const char *class_name;
};

#endif
