/*
 * periodic_checkpoint.c — PeriodicCheckpoint(interval): the server part
 * sends the object's state to the OMS at most every interval once it
 * changed; the group part restores the object from its newest checkpoint
 * on another kernel server when its own dies
 * (docs/dms/PeriodicCheckpoint.md).
 *
 * Server part: a mutating call that succeeded makes the object dirty; a
 * dirty object is checkpointed at once if the last checkpoint is older
 * than the interval, else on a later tick. The OMS keeps only checkpoints
 * from the kernel server holding the active replica.
 *
 * Group part: on every node event and tick, keep one live replica from
 * the checkpoint (cor_dm_group_keep): a replica on a dead kernel server is
 * written off and the object restored elsewhere under a new epoch, losing
 * what changed after the checkpoint; until a first checkpoint exists it
 * does nothing (there is nothing to restore from).
 */
#include "builtins.h"

#include <pthread.h>
#include <stdlib.h>

#include <cor/object.h>

static const cor_dm_param_spec_t ckpt_params[] = {
    {"interval", "most time between a change and its checkpoint (default 5s)", 0},
    {NULL, NULL, 0},
};

static int ckpt_validate(const cor_dm_entry_t *e, cor_error_t *err)
{
    long v;
    return cor_dm_param_duration(e, "interval", 5000, 100, 86400000, &v, err);
}

typedef struct ckpt {
    pthread_mutex_t lock;
    long interval_ms;
    long long last; /* when the last checkpoint was sent; 0: never */
    int dirty;      /* changed since then (a new replica counts as changed) */
} ckpt_t;

static int ckpt_new(const cor_dm_entry_t *e, void **state, cor_error_t *err)
{
    ckpt_t *k = calloc(1, sizeof(*k));
    if (k == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    cor_dm_param_duration(e, "interval", 5000, 100, 86400000, &k->interval_ms, NULL);
    k->dirty = 1;
    pthread_mutex_init(&k->lock, NULL);
    *state = k;
    return 0;
}

/* Takes a checkpoint if one is due. Caller holds k->lock. */
static void ckpt_maybe(ckpt_t *k, cor_dm_call_t *c)
{
    long long now = cor_dm_now_ms();
    if (!k->dirty || (k->last != 0 && now - k->last < k->interval_ms))
        return;
    if (cor_dm_call_checkpoint(c) == 0) {
        k->last = now;
        k->dirty = 0;
    }
}

static int ckpt_call(void *state, cor_dm_call_t *c)
{
    ckpt_t *k = state;
    int rc = cor_dm_next(c);
    if (rc == 0 && !(cor_dm_call_method(c)->hints & COR_METHOD_READ_ONLY)) {
        pthread_mutex_lock(&k->lock);
        k->dirty = 1;
        ckpt_maybe(k, c);
        pthread_mutex_unlock(&k->lock);
    }
    return rc;
}

static void ckpt_tick(void *state, cor_dm_call_t *c)
{
    ckpt_t *k = state;
    pthread_mutex_lock(&k->lock);
    ckpt_maybe(k, c);
    pthread_mutex_unlock(&k->lock);
}

/* One live replica, restored from the checkpoint when its server dies. */
static void ckpt_group_node(void *state, cor_dm_group_t *g, const char *node,
                            enum cor_dm_node_event ev)
{
    cor_dm_group_keep(g, 1, COR_DM_FROM_CHECKPOINT);
}

static void ckpt_group_tick(void *state, cor_dm_group_t *g)
{
    cor_dm_group_keep(g, 1, COR_DM_FROM_CHECKPOINT);
}

static void ckpt_free(void *state)
{
    ckpt_t *k = state;
    pthread_mutex_destroy(&k->lock);
    free(k);
}

const cor_dm_ops_t cor_dm_periodic_checkpoint = {
    .version = COR_DM_OPS_VERSION,
    .name = "PeriodicCheckpoint",
    .summary = "state checkpointed to the OMS; restored elsewhere when its kernel server dies",
    .params = ckpt_params,
    .caps = COR_DM_CAP_CHECKPOINT,
    .exclusive = COR_DM_CAP_CHECKPOINT | COR_DM_CAP_REPLICAS,
    .validate = ckpt_validate,
    .server_new = ckpt_new,
    .server_call = ckpt_call,
    .server_free = ckpt_free,
    .server_tick = ckpt_tick,
    .group_node = ckpt_group_node,
    .group_tick = ckpt_group_tick,
};
