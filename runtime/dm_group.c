/*
 * dm_group.c — the actions a DM group part may take (cor/dm.h): each is
 * passed to the implementation the OMS supplied in the handle (group.h).
 */
#include "group.h"

const char *cor_dm_group_object(const cor_dm_group_t *g)
{
    return g->object;
}

const char *cor_dm_group_class(const cor_dm_group_t *g)
{
    return g->class_name;
}

int cor_dm_group_replicas(cor_dm_group_t *g, cor_dm_replica_t *out, int max, int *n)
{
    return g->impl->replicas(g->arg, out, max, n);
}

int64_t cor_dm_group_checkpoint_ms(cor_dm_group_t *g)
{
    return g->impl->checkpoint_ms(g->arg);
}

int cor_dm_group_add_replica(cor_dm_group_t *g, enum cor_dm_source from, char *node, size_t len,
                             cor_error_t *err)
{
    return g->impl->add_replica(g->arg, from, NULL, node, len, err);
}

int cor_dm_group_add_replica_on(cor_dm_group_t *g, enum cor_dm_source from, const char *node,
                                cor_error_t *err)
{
    return g->impl->add_replica(g->arg, from, node, NULL, 0, err);
}

int cor_dm_group_replica_role(cor_dm_group_t *g, const char *node, char *role, size_t len,
                              cor_error_t *err)
{
    return g->impl->replica_role(g->arg, node, role, len, err);
}

int cor_dm_group_lose_replica(cor_dm_group_t *g, const char *node, cor_error_t *err)
{
    return g->impl->lose_replica(g->arg, node, err);
}

int cor_dm_group_revive_replica(cor_dm_group_t *g, const char *node, cor_error_t *err)
{
    return g->impl->revive_replica(g->arg, node, err);
}

int cor_dm_group_drop_replica(cor_dm_group_t *g, const char *node, cor_error_t *err)
{
    return g->impl->drop_replica(g->arg, node, err);
}

int cor_dm_group_move(cor_dm_group_t *g, const char *to_node, cor_error_t *err)
{
    return g->impl->move(g->arg, to_node, err);
}

int cor_dm_group_save(cor_dm_group_t *g, const unsigned char *state, size_t len, cor_error_t *err)
{
    return g->impl->save(g->arg, state, len, err);
}

int cor_dm_group_keep(cor_dm_group_t *g, int want, enum cor_dm_source from)
{
    return g->impl->keep(g->arg, want, from);
}
