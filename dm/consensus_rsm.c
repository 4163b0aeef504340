/*
 * consensus_rsm.c — ConsensusRSM(replicas=N): the object is a replicated
 * state machine over Raft; it survives the loss of a minority of its
 * replicas with no acknowledged call lost (docs/dms/ConsensusRSM.md).
 *
 * Group part (on the OMS): makes the N replicas, on distinct kernel
 * servers, when the object is created — all of them or the create fails.
 * The OMS then sends each its replica set, from which the Raft group forms
 * (runtime/rsm.c). Afterwards it keeps N: a replica whose kernel server
 * stays dead for `replace_after` (or restarted and lost it) is written off
 * (a server not yet heard from since the OMS restarted is not dead)
 * and a new one made elsewhere; the OMS sends the new set, and the group's
 * leader brings the Raft configuration to it (new replica as a learner,
 * promoted once caught up, then the old one removed). A written-off
 * replica whose server comes back is deleted there.
 *
 * Server part: none of its own. The runtime sees the DM in the object's
 * chain and sends every call through the log (runtime/rsm.c): the leader
 * proposes it, and every replica runs it — the object's server DM parts
 * and its method — when its entry commits, in log order; read_only
 * methods are served by the leader after a ReadIndex confirmation.
 *
 * Client part (in the caller): sends to the replica it last saw lead,
 * follows "not the leader; X is" answers, moves on from replicas that fail
 * in transport or are gone (asking the OMS for the list again), and waits
 * out elections (until the call's deadline), resending with the same call
 * id each time — the replicated table of answers by call id makes a resent call
 * take effect once. While the OMS cannot be reached it keeps using the
 * replica list it has: a replicated object serves without the OMS.
 */
#include "builtins.h"

#include <cor/log.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RSM_MAX 7
#define RSM_ATTEMPTS 1000 /* a safety cap: the call's deadline is what ends the retries */
#define RSM_PAUSE_MS 50
#define RSM_REPLACE_MS 5000
#define RSM_SLOTS 8 /* the OMS keeps at most this many replica records per object */
#define RSM_MOVE_MS 10000 /* how long a moved replica's successor may take to catch up */

static const cor_dm_param_spec_t rsm_params[] = {
    {"replicas", "how many replicas, each on its own kernel server (1..7, odd is best; "
                 "default 3)", 0},
    {"replace_after", "how long a replica's kernel server may stay dead before the replica is "
                      "replaced elsewhere (100ms..1h; default 5s)", 0},
    {NULL, NULL, 0},
};

static int rsm_validate(const cor_dm_entry_t *e, cor_error_t *err)
{
    long v;
    if (cor_dm_param_int(e, "replicas", 3, 1, RSM_MAX, &v, err) != 0)
        return err->code;
    return cor_dm_param_duration(e, "replace_after", RSM_REPLACE_MS, 100, 3600000, &v, err);
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
    if (rc_ != 0) {
        /* The OMS is down or cut off: the replicas serve without it, so
         * carry on with the list we have, and ask again later. (Its
         * answers — the object is deleted — are final.) */
        pthread_mutex_lock(&rc->lock);
        int have = rc->n > 0 && cor_dm_transport_failure(rc_);
        if (have)
            rc->fetched = cor_dm_now_ms();
        pthread_mutex_unlock(&rc->lock);
        return have ? 0 : rc_;
    }
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
    long long t0 = cor_dm_now_ms(), deadline = cor_dm_call_deadline_ms(c);
    for (int attempt = 0; attempt < RSM_ATTEMPTS; attempt++) {
        /* The retries stay within the call's deadline (each attempt could
         * otherwise take all of it again). */
        if (attempt > 0 && deadline > 0 && cor_dm_now_ms() - t0 >= deadline) {
            char last[COR_ERROR_MSG_MAX];
            snprintf(last, sizeof(last), "%s", cor_dm_call_error(c)->msg);
            return cor_dm_fail(c, COR_ETIMEDOUT,
                               "no replica took the call within its deadline of %lld ms "
                               "(%d attempts; the last: %.160s)",
                               deadline, attempt, last);
        }
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
        /* A replica gone (moved, written off) or unreachable: the list is
         * stale. */
        if (cor_dm_transport_failure(rc_) || rc_ == COR_ENOTFOUND) {
            int gone = refresh(rc, c, 1);
            if (gone != 0)
                return gone; /* the OMS says the object is gone */
        }
        /* As many failures as replicas: an election is under way (or the
         * hints name a leader that is gone), so wait a little. */
        if (++tried >= rc->n) {
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

typedef struct rsm_group {
    int want;
    long replace_after_ms;
    struct {
        char node[64];
        long long since; /* when its replica was first seen on a dead server */
    } dead[RSM_SLOTS];
    int n_dead;
    char last_why[COR_ERROR_MSG_MAX]; /* the last reason no replica could be added */
} rsm_group_t;

static int rsm_group_new(const cor_dm_entry_t *e, const unsigned char *saved, size_t len,
                         void **state, cor_error_t *err)
{
    rsm_group_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    s->want = rsm_replicas(e);
    s->replace_after_ms = RSM_REPLACE_MS;
    cor_dm_param_duration(e, "replace_after", RSM_REPLACE_MS, 100, 3600000, &s->replace_after_ms,
                          NULL);
    *state = s;
    return 0;
}

/* Since when node's replica has been on a dead server (now if not seen so
 * before); marks the entry seen in this pass. */
static long long dead_since(rsm_group_t *s, const char *node, long long now, int *seen)
{
    for (int i = 0; i < s->n_dead; i++)
        if (strcmp(s->dead[i].node, node) == 0) {
            seen[i] = 1;
            return s->dead[i].since;
        }
    if (s->n_dead == RSM_SLOTS)
        return now;
    snprintf(s->dead[s->n_dead].node, sizeof(s->dead[0].node), "%.63s", node);
    s->dead[s->n_dead].since = now;
    seen[s->n_dead++] = 1;
    return now;
}

/* Keeps `want` replicas: writes off those dead for longer than the grace,
 * and adds new ones while fewer are live or within the grace. */
static void rsm_group_tick(void *state, cor_dm_group_t *g)
{
    rsm_group_t *s = state;
    cor_dm_replica_t reps[RSM_SLOTS];
    int n = 0;
    if (cor_dm_group_replicas(g, reps, RSM_SLOTS, &n) != 0)
        return;
    long long now = cor_dm_now_ms();
    int seen[RSM_SLOTS] = {0}, counted = 0;
    for (int i = 0; i < n; i++) {
        if (reps[i].lost)
            continue;
        if (reps[i].alive || !reps[i].dead) { /* (not yet heard from: the OMS restarted) */
            counted++;
            continue;
        }
        if (now - dead_since(s, reps[i].node, now, seen) < s->replace_after_ms) {
            counted++;
            continue;
        }
        cor_error_t err;
        if (cor_dm_group_lose_replica(g, reps[i].node, &err) == 0)
            cor_log_warn("object %s: its ConsensusRSM replica on %s has been unreachable for "
                         "%ld ms: written off, to be replaced",
                         cor_dm_group_object(g), reps[i].node, s->replace_after_ms);
    }
    int k = 0; /* forget servers whose replicas are no longer dead */
    for (int i = 0; i < s->n_dead; i++)
        if (seen[i])
            s->dead[k++] = s->dead[i];
    s->n_dead = k;
    while (counted < s->want) {
        char node[64] = "";
        cor_error_t err;
        if (cor_dm_group_add_replica(g, COR_DM_FROM_ARGS, node, sizeof(node), &err) != 0) {
            if (strcmp(err.msg, s->last_why) != 0)
                cor_log_warn("object %s: %d of %d ConsensusRSM replicas, and no new one can be "
                             "made: %s",
                             cor_dm_group_object(g), counted, s->want, err.msg);
            snprintf(s->last_why, sizeof(s->last_why), "%s", err.msg);
            return;
        }
        s->last_why[0] = '\0';
        cor_log_info("object %s: a new ConsensusRSM replica on %s joins the group",
                     cor_dm_group_object(g), node);
        counted++;
    }
}

static void rsm_group_node(void *state, cor_dm_group_t *g, const char *node,
                           enum cor_dm_node_event ev)
{
    /* A server back as the same process still runs the replica we wrote
     * off; it is no longer a member: take it back. */
    if (ev == COR_DM_NODE_ALIVE) {
        cor_dm_replica_t reps[RSM_SLOTS];
        int n = 0;
        cor_error_t err;
        if (cor_dm_group_replicas(g, reps, RSM_SLOTS, &n) != 0)
            return;
        for (int i = 0; i < n; i++)
            if (reps[i].lost && strcmp(reps[i].node, node) == 0)
                cor_dm_group_drop_replica(g, node, &err);
    }
    rsm_group_tick(state, g);
}

/* corctl migrate --replica: a replica on `to` joins (the leader adds it as
 * a learner and promotes it once caught up), and only when it votes is
 * the one on `from` dropped (the leader then removes it). If the new one
 * does not catch up in time it is taken back and nothing moved. */
static int rsm_group_move_replica(void *state, cor_dm_group_t *g, const char *from,
                                  const char *to, cor_error_t *err)
{
    int rc = cor_dm_group_add_replica_on(g, COR_DM_FROM_ARGS, to, err);
    if (rc != 0)
        return rc;
    char role[32] = "";
    cor_error_t why;
    long long t0 = cor_dm_now_ms();
    while (strcmp(role, "follower") != 0 && strcmp(role, "leader") != 0) {
        if (cor_dm_now_ms() - t0 > RSM_MOVE_MS) {
            cor_dm_group_drop_replica(g, to, &why);
            return cor_error_set(err, COR_ETIMEDOUT,
                                 "the new replica on %s was not voting after %d ms (it was '%s'); "
                                 "it was taken back and the replica stays on %s",
                                 to, RSM_MOVE_MS, role, from);
        }
        pause_ms(20);
        if (cor_dm_group_replica_role(g, to, role, sizeof(role), &why) != 0)
            role[0] = '\0';
    }
    cor_log_info("object %s: its replica on %s votes after %lld ms; dropping the one on %s",
                 cor_dm_group_object(g), to, cor_dm_now_ms() - t0, from);
    return cor_dm_group_drop_replica(g, from, err);
}

static int rsm_group_create(void *state, cor_dm_group_t *g, cor_error_t *err)
{
    int want = ((rsm_group_t *)state)->want;
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
    .group_node = rsm_group_node,
    .group_tick = rsm_group_tick,
    .group_move_replica = rsm_group_move_replica,
    .client_new = rsm_client_new,
    .client_call = rsm_call,
    .client_free = rsm_client_free,
    .server_call = rsm_server_call,
};
