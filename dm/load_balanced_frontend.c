/*
 * load_balanced_frontend.c — LoadBalancedFrontend(replicas=N): N
 * independent replicas on distinct kernel servers; callers round-robin
 * over the live ones (docs/dms/LoadBalancedFrontend.md).
 *
 * Group part (on the OMS): makes the N replicas when the object is
 * created — all of them, or the create fails — and keeps N live after
 * that: a replica on a dead kernel server is written off and a fresh one
 * made elsewhere from the constructor arguments (replicas are independent,
 * so a fresh one will do); one whose server comes back as the same process
 * counts again. Every node event and every tick does the same
 * (cor_dm_group_keep), so a replacement that found no room tries again.
 *
 * Client part (in the caller): the live replicas, fetched from the OMS at
 * most every 2 s, called in turn; a replica that fails in transport is
 * skipped, and a call safe to run twice is resent to the next one.
 */
#include "builtins.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cor/object.h>

#define LBF_MAX 8

static const cor_dm_param_spec_t lbf_params[] = {
    {"replicas", "how many replicas, each on its own kernel server (2..8)", 1},
    {NULL, NULL, 0},
};

static int lbf_validate(const cor_dm_entry_t *e, cor_error_t *err)
{
    long v;
    return cor_dm_param_int(e, "replicas", 2, 1, LBF_MAX, &v, err);
}

static int lbf_replicas(const cor_dm_entry_t *e)
{
    long v = 2;
    cor_dm_param_int(e, "replicas", 2, 1, LBF_MAX, &v, NULL);
    return (int)v;
}

typedef struct lbf {
    pthread_mutex_t lock;
    cor_dm_replica_t reps[LBF_MAX];
    int n;
    long long fetched; /* ms; 0: never */
    unsigned next;
} lbf_t;

static int lbf_new(const cor_dm_entry_t *e, void **state, cor_error_t *err)
{
    lbf_t *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    pthread_mutex_init(&l->lock, NULL);
    *state = l;
    return 0;
}

/* Refreshes the replica list from the OMS when asked or older than 2 s. */
static int lbf_refresh(lbf_t *l, cor_dm_call_t *c, int force)
{
    pthread_mutex_lock(&l->lock);
    int fresh = !force && l->fetched != 0 && cor_dm_now_ms() - l->fetched < 2000;
    pthread_mutex_unlock(&l->lock);
    if (fresh)
        return 0;
    cor_dm_replica_t reps[LBF_MAX];
    int n = 0;
    int rc = cor_dm_call_replicas(c, reps, LBF_MAX, &n);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&l->lock);
    memcpy(l->reps, reps, sizeof(reps[0]) * (size_t)n);
    l->n = n;
    l->fetched = cor_dm_now_ms();
    pthread_mutex_unlock(&l->lock);
    return 0;
}

/* The next live replica after the last one used, skipping `avoid`. */
static int lbf_pick(lbf_t *l, const char *avoid, cor_dm_replica_t *out)
{
    pthread_mutex_lock(&l->lock);
    for (int k = 0; k < l->n; k++) {
        cor_dm_replica_t *r = &l->reps[(l->next + (unsigned)k) % (unsigned)l->n];
        if (r->alive && (avoid == NULL || strcmp(r->node, avoid) != 0)) {
            *out = *r;
            l->next = (l->next + (unsigned)k + 1) % (unsigned)l->n;
            pthread_mutex_unlock(&l->lock);
            return 1;
        }
    }
    pthread_mutex_unlock(&l->lock);
    return 0;
}

static void lbf_mark_dead(lbf_t *l, const char *node)
{
    pthread_mutex_lock(&l->lock);
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->reps[i].node, node) == 0)
            l->reps[i].alive = 0;
    pthread_mutex_unlock(&l->lock);
}

static int lbf_call(void *state, cor_dm_call_t *c)
{
    lbf_t *l = state;
    int rc = lbf_refresh(l, c, 0);
    if (rc != 0)
        return rc;
    cor_dm_replica_t r;
    if (!lbf_pick(l, NULL, &r)) {
        if ((rc = lbf_refresh(l, c, 1)) != 0)
            return rc;
        if (!lbf_pick(l, NULL, &r))
            return cor_dm_fail(c, COR_EUNAVAIL, "no live replica (of %d)", l->n);
    }
    cor_dm_call_route(c, &r);
    rc = cor_dm_next(c);
    if (!cor_dm_transport_failure(rc))
        return rc;
    /* That replica is gone. Another may answer, but resend only what is
     * safe to run twice: replicas are independent. */
    lbf_mark_dead(l, r.node);
    const cor_method_desc_t *m = cor_dm_call_method(c);
    if (!(m->hints & (COR_METHOD_READ_ONLY | COR_METHOD_IDEMPOTENT)))
        return rc;
    char failed[64];
    snprintf(failed, sizeof(failed), "%s", r.node);
    if (lbf_refresh(l, c, 1) != 0 || !lbf_pick(l, failed, &r))
        return rc;
    cor_dm_call_route(c, &r);
    return cor_dm_next(c);
}

static void lbf_free(void *state)
{
    lbf_t *l = state;
    pthread_mutex_destroy(&l->lock);
    free(l);
}

/* ---- group part ---- */

static int lbf_group_new(const cor_dm_entry_t *e, const unsigned char *saved, size_t len,
                         void **state, cor_error_t *err)
{
    int *want = malloc(sizeof(*want));
    if (want == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    *want = lbf_replicas(e);
    *state = want;
    return 0;
}

static int lbf_group_create(void *state, cor_dm_group_t *g, cor_error_t *err)
{
    int want = *(int *)state;
    for (int i = 0; i < want; i++) {
        cor_error_t why;
        int rc = cor_dm_group_add_replica(g, COR_DM_FROM_ARGS, NULL, 0, &why);
        if (rc != 0 && i == 0)
            return cor_error_set(err, rc, "%s", why.msg);
        if (rc != 0)
            return cor_error_set(err, COR_EUNAVAIL,
                                 "the chain asks for %d replicas on distinct kernel servers, but "
                                 "only %d could be placed: %s",
                                 want, i, why.msg);
    }
    return 0;
}

static void lbf_group_node(void *state, cor_dm_group_t *g, const char *node,
                           enum cor_dm_node_event ev)
{
    cor_dm_group_keep(g, *(int *)state, COR_DM_FROM_ARGS);
}

static void lbf_group_tick(void *state, cor_dm_group_t *g)
{
    cor_dm_group_keep(g, *(int *)state, COR_DM_FROM_ARGS);
}

const cor_dm_ops_t cor_dm_load_balanced_frontend = {
    .version = COR_DM_OPS_VERSION,
    .name = "LoadBalancedFrontend",
    .summary = "N replicas on distinct kernel servers; callers round-robin over live ones",
    .params = lbf_params,
    .caps = COR_DM_CAP_REPLICAS,
    .exclusive = COR_DM_CAP_REPLICAS,
    .validate = lbf_validate,
    .group_new = lbf_group_new,
    .group_free = free,
    .group_create = lbf_group_create,
    .group_node = lbf_group_node,
    .group_tick = lbf_group_tick,
    .client_new = lbf_new,
    .client_call = lbf_call,
    .client_free = lbf_free,
};
