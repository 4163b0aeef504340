/*
 * consensus_rsm.c — ConsensusRSM(replicas=N): the object is a replicated
 * state machine over Raft; it survives the loss of a minority of its
 * replicas with no acknowledged call lost (docs/dms/ConsensusRSM.md).
 *
 * Group part (on the OMS): makes the N replicas, on distinct kernel
 * servers, when the object is created — all of them or the create fails.
 * The OMS then sends each its replica set, from which the Raft group forms
 * (runtime/rsm.c). Replacing a lost replica through a membership change is
 * not done yet: a group of 3 keeps serving with 2.
 *
 * Server part: none of its own. The runtime sees the DM in the object's
 * chain and sends every call through the log (runtime/rsm.c): the leader
 * proposes it, and every replica runs it — the object's server DM parts
 * and its method — when its entry commits, in log order; read_only
 * methods are served by the leader after a ReadIndex confirmation.
 *
 * Client part (in the caller): sends to the replica it last saw lead,
 * follows "not the leader; X is" answers, moves on from replicas that fail
 * in transport, and waits out elections (up to about 3 s), resending with
 * the same call id each time — the replicated table of answers by call id
 * makes a resent call take effect once.
 */
#include "builtins.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RSM_MAX 7
#define RSM_ATTEMPTS 60
#define RSM_PAUSE_MS 50

static const cor_dm_param_spec_t rsm_params[] = {
    {"replicas", "how many replicas, each on its own kernel server (1..7, odd is best; "
                 "default 3)", 0},
    {NULL, NULL, 0},
};

static int rsm_validate(const cor_dm_entry_t *e, cor_error_t *err)
{
    long v;
    return cor_dm_param_int(e, "replicas", 3, 1, RSM_MAX, &v, err);
}

static int rsm_replicas(const cor_dm_entry_t *e)
{
    long v = 3;
    cor_dm_param_int(e, "replicas", 3, 1, RSM_MAX, &v, NULL);
    return (int)v;
}

/* ---- client part ---- */

typedef struct rsm_client {
    pthread_mutex_t lock;
    cor_dm_replica_t reps[RSM_MAX];
    int n;
    long long fetched; /* ms; 0: never */
    char leader[64];   /* the replica that answered last, "" unknown */
} rsm_client_t;

static int rsm_client_new(const cor_dm_entry_t *e, void **state, cor_error_t *err)
{
    rsm_client_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    pthread_mutex_init(&c->lock, NULL);
    *state = c;
    return 0;
}

static void rsm_client_free(void *state)
{
    rsm_client_t *c = state;
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static int refresh(rsm_client_t *rc, cor_dm_call_t *c, int force)
{
    pthread_mutex_lock(&rc->lock);
    int fresh = !force && rc->fetched != 0 && cor_dm_now_ms() - rc->fetched < 2000;
    pthread_mutex_unlock(&rc->lock);
    if (fresh)
        return 0;
    cor_dm_replica_t reps[RSM_MAX];
    int n = 0;
    int rc_ = cor_dm_call_replicas(c, reps, RSM_MAX, &n);
    if (rc_ != 0)
        return rc_;
    pthread_mutex_lock(&rc->lock);
    memcpy(rc->reps, reps, sizeof(reps[0]) * (size_t)n);
    rc->n = n;
    rc->fetched = cor_dm_now_ms();
    pthread_mutex_unlock(&rc->lock);
    return 0;
}

/* The replica to try: the one named `prefer` if known, else the next one
 * after index *cursor. */
static int pick(rsm_client_t *rc, const char *prefer, unsigned *cursor, cor_dm_replica_t *out)
{
    pthread_mutex_lock(&rc->lock);
    int found = 0;
    if (rc->n > 0 && prefer != NULL && prefer[0]) {
        for (int i = 0; i < rc->n && !found; i++)
            if (strcmp(rc->reps[i].node, prefer) == 0) {
                *out = rc->reps[i];
                found = 1;
            }
    }
    if (!found && rc->n > 0) {
        *out = rc->reps[*cursor % (unsigned)rc->n];
        (*cursor)++;
        found = 1;
    }
    pthread_mutex_unlock(&rc->lock);
    return found;
}

/* The replica a "not the leader" answer names, if it is one we know. */
static void leader_hint(rsm_client_t *rc, const char *msg, const char *from, char *out, size_t len)
{
    out[0] = '\0';
    const char *is = strstr(msg, "; ");
    pthread_mutex_lock(&rc->lock);
    for (int i = 0; is != NULL && i < rc->n; i++) {
        size_t l = strlen(rc->reps[i].node);
        if (strcmp(rc->reps[i].node, from) != 0 && strncmp(is + 2, rc->reps[i].node, l) == 0 &&
            strcmp(is + 2 + l, " is") == 0)
            snprintf(out, len, "%s", rc->reps[i].node);
    }
    pthread_mutex_unlock(&rc->lock);
}

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int rsm_call(void *state, cor_dm_call_t *c)
{
    rsm_client_t *rc = state;
    int rc_ = refresh(rc, c, 0);
    if (rc_ != 0)
        return rc_;
    char prefer[64];
    pthread_mutex_lock(&rc->lock);
    snprintf(prefer, sizeof(prefer), "%s", rc->leader);
    pthread_mutex_unlock(&rc->lock);
    unsigned cursor = 0;
    int tried = 0;
    for (int attempt = 0; attempt < RSM_ATTEMPTS; attempt++) {
        cor_dm_replica_t r;
        if (!pick(rc, prefer, &cursor, &r))
            return cor_dm_fail(c, COR_EUNAVAIL, "the object has no replicas");
        cor_dm_call_route(c, &r);
        rc_ = cor_dm_next(c);
        if (rc_ == 0) {
            pthread_mutex_lock(&rc->lock);
            snprintf(rc->leader, sizeof(rc->leader), "%s", r.node);
            pthread_mutex_unlock(&rc->lock);
            return 0;
        }
        int moving_on = rc_ == COR_ENOTLEADER || rc_ == COR_EUNAVAIL || rc_ == COR_ENOTFOUND ||
                        cor_dm_transport_failure(rc_);
        if (!moving_on)
            return rc_;
        prefer[0] = '\0';
        if (rc_ == COR_ENOTLEADER)
            leader_hint(rc, cor_dm_call_error(c)->msg, r.node, prefer, sizeof(prefer));
        if (cor_dm_transport_failure(rc_))
            refresh(rc, c, 1);
        /* Every replica tried without a leader: an election is under way. */
        if (prefer[0] == '\0' && ++tried >= rc->n) {
            tried = 0;
            pause_ms(RSM_PAUSE_MS);
        }
    }
    return rc_;
}

/* ---- server part ---- */

/* At apply time, on every replica: the call goes on inward. (What makes a
 * call wait for the log is the runtime, which finds this part in the
 * object's server stack: runtime/rsm.c.) */
static int rsm_server_call(void *state, cor_dm_call_t *c)
{
    return cor_dm_next(c);
}

/* ---- group part ---- */

static int rsm_group_new(const cor_dm_entry_t *e, const unsigned char *saved, size_t len,
                         void **state, cor_error_t *err)
{
    int *want = malloc(sizeof(*want));
    if (want == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    *want = rsm_replicas(e);
    *state = want;
    return 0;
}

static int rsm_group_create(void *state, cor_dm_group_t *g, cor_error_t *err)
{
    int want = *(int *)state;
    for (int i = 0; i < want; i++) {
        cor_error_t why;
        int rc = cor_dm_group_add_replica(g, COR_DM_FROM_ARGS, NULL, 0, &why);
        if (rc != 0)
            return cor_error_set(err, i == 0 ? rc : COR_EUNAVAIL,
                                 "the chain asks for %d replicas on distinct kernel servers "
                                 "(each with a data directory), but only %d could be made: %s",
                                 want, i, why.msg);
    }
    return 0;
}

const cor_dm_ops_t cor_dm_consensus_rsm = {
    .version = COR_DM_OPS_VERSION,
    .name = "ConsensusRSM",
    .summary = "a replicated state machine over Raft: survives losing a minority of replicas",
    .params = rsm_params,
    .caps = COR_DM_CAP_REPLICAS | COR_DM_CAP_LOG,
    .exclusive = COR_DM_CAP_REPLICAS | COR_DM_CAP_FROZEN | COR_DM_CAP_APP_MIGRATE |
                 COR_DM_CAP_LOG,
    .validate = rsm_validate,
    .group_new = rsm_group_new,
    .group_free = free,
    .group_create = rsm_group_create,
    .client_new = rsm_client_new,
    .client_call = rsm_call,
    .client_free = rsm_client_free,
    .server_call = rsm_server_call,
};
