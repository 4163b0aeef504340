/*
 * dynamic_migration.c — DynamicMigration(window, min_calls, residence,
 * budget): the server part counts calls by the kernel server they come
 * from and, at the end of each window, asks the OMS to move the object
 * toward the one that called most (docs/dms/DynamicMigration.md).
 */
#include "builtins.h"

#include <pthread.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cor/log.h>

#define DYN_NODES 16

static const cor_dm_param_spec_t dyn_params[] = {
    {"window", "how long calls are counted before deciding (default 10s)", 0},
    {"min_calls", "calls from one node in a window before it can attract the object (default 50)", 0},
    {"residence", "least time an object stays after arriving (default 30s)", 0},
    {"budget", "most moves per minute (default 2)", 0},
    {NULL, NULL, 0},
};

static int dyn_validate(const cor_dm_entry_t *e, cor_error_t *err)
{
    long v;
    int rc = cor_dm_param_duration(e, "window", 10000, 100, 3600000, &v, err);
    if (rc == 0)
        rc = cor_dm_param_int(e, "min_calls", 50, 1, 100000000, &v, err);
    if (rc == 0)
        rc = cor_dm_param_duration(e, "residence", 30000, 0, 86400000, &v, err);
    if (rc == 0)
        rc = cor_dm_param_int(e, "budget", 2, 1, 600, &v, err);
    return rc;
}

typedef struct dyn {
    pthread_mutex_t lock;
    long window_ms, min_calls, residence_ms, budget;
    long long window_start, arrived;
    struct {
        char node[64];
        long calls;
    } from[DYN_NODES];
    int n_from;
    long here, unknown; /* calls from this node, and from plain clients */
    long long moves[8]; /* wall clock ms of recent moves (ring); saved and loaded */
    int n_moves;
} dyn_t;

static long long wall_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int dyn_new(const cor_dm_entry_t *e, void **state, cor_error_t *err)
{
    dyn_t *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    cor_dm_param_duration(e, "window", 10000, 100, 3600000, &d->window_ms, NULL);
    cor_dm_param_int(e, "min_calls", 50, 1, 100000000, &d->min_calls, NULL);
    cor_dm_param_duration(e, "residence", 30000, 0, 86400000, &d->residence_ms, NULL);
    cor_dm_param_int(e, "budget", 2, 1, 600, &d->budget, NULL);
    d->window_start = d->arrived = cor_dm_now_ms();
    pthread_mutex_init(&d->lock, NULL);
    *state = d;
    return 0;
}

static int dyn_call(void *state, cor_dm_call_t *c)
{
    dyn_t *d = state;
    int rc = cor_dm_next(c);
    const char *from = cor_dm_call_caller_node(c), *self = cor_dm_call_node(c);
    pthread_mutex_lock(&d->lock);
    if (from[0] == '\0') {
        d->unknown++;
    } else if (strcmp(from, self) == 0) {
        d->here++;
    } else {
        int i = 0;
        while (i < d->n_from && strcmp(d->from[i].node, from) != 0)
            i++;
        if (i == d->n_from && d->n_from < DYN_NODES)
            snprintf(d->from[d->n_from++].node, sizeof(d->from[0].node), "%s", from);
        if (i < d->n_from)
            d->from[i].calls++;
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

/* At the end of each window: move toward the node that called most, if it
 * called at least min_calls times and more than twice everyone else
 * together (hysteresis), the object has stayed its residence time, and the
 * budget of moves in the last minute allows. */
static void dyn_tick(void *state, cor_dm_call_t *c)
{
    dyn_t *d = state;
    pthread_mutex_lock(&d->lock);
    long long now = cor_dm_now_ms();
    if (now - d->window_start < d->window_ms) {
        pthread_mutex_unlock(&d->lock);
        return;
    }
    int best = -1;
    long total = d->here + d->unknown;
    for (int i = 0; i < d->n_from; i++) {
        total += d->from[i].calls;
        if (best < 0 || d->from[i].calls > d->from[best].calls)
            best = i;
    }
    char target[64] = "";
    if (best >= 0) {
        long top = d->from[best].calls, rest = total - top;
        long long wall = wall_now_ms();
        int recent = 0;
        for (int i = 0; i < d->n_moves && i < 8; i++)
            recent += wall - d->moves[i] < 60000;
        if (top >= d->min_calls && top > 2 * rest && now - d->arrived >= d->residence_ms &&
            recent < d->budget) {
            snprintf(target, sizeof(target), "%s", d->from[best].node);
            d->moves[d->n_moves++ % 8] = wall;
        }
    }
    d->n_from = 0;
    d->here = d->unknown = 0;
    d->window_start = now;
    pthread_mutex_unlock(&d->lock);
    if (target[0] != '\0' && cor_dm_call_request_move(c, target) == 0)
        cor_log_info("object %s: most calls come from %s: moving there", cor_dm_call_object(c),
                     target);
}

/* The move history travels with the object, so the budget holds across
 * moves; the residence time starts anew where it arrives. */
static int dyn_save(void *state, unsigned char **buf, size_t *len)
{
    dyn_t *d = state;
    pthread_mutex_lock(&d->lock);
    size_t n = sizeof(d->moves) + sizeof(int);
    unsigned char *b = malloc(n);
    if (b != NULL) {
        memcpy(b, &d->n_moves, sizeof(int));
        memcpy(b + sizeof(int), d->moves, sizeof(d->moves));
    }
    pthread_mutex_unlock(&d->lock);
    if (b == NULL)
        return COR_ENOMEM;
    *buf = b;
    *len = n;
    return 0;
}

static int dyn_load(void *state, const unsigned char *buf, size_t len)
{
    dyn_t *d = state;
    if (len != sizeof(d->moves) + sizeof(int))
        return COR_EINVAL;
    pthread_mutex_lock(&d->lock);
    memcpy(&d->n_moves, buf, sizeof(int));
    memcpy(d->moves, buf + sizeof(int), sizeof(d->moves));
    if (d->n_moves < 0)
        d->n_moves = 0;
    pthread_mutex_unlock(&d->lock);
    return 0;
}

static void dyn_free(void *state)
{
    dyn_t *d = state;
    pthread_mutex_destroy(&d->lock);
    free(d);
}

const cor_dm_ops_t cor_dm_dynamic_migration = {
    .version = COR_DM_OPS_VERSION,
    .name = "DynamicMigration",
    .summary = "moves the object toward the kernel server that calls it most",
    .params = dyn_params,
    .caps = COR_DM_CAP_APP_MIGRATE,
    .validate = dyn_validate,
    .server_new = dyn_new,
    .server_call = dyn_call,
    .server_free = dyn_free,
    .server_tick = dyn_tick,
    .server_save = dyn_save,
    .server_load = dyn_load,
};
