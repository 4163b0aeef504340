/*
 * circuit_breaker.c — CircuitBreaker(failures, cooldown): a client part
 * that fails calls fast after N consecutive transport failures, and lets
 * one trial call through after the cool-down (docs/dms/CircuitBreaker.md).
 *
 * One breaker per reference, locked: calls through one ref may come from
 * any thread. Only failures that say the call may not have reached the
 * object count; an answer from it (even an error) closes the circuit.
 */
#include "builtins.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cor_dm_param_spec_t cb_params[] = {
    {"failures", "consecutive transport failures that open the circuit (default 5)", 0},
    {"cooldown", "how long it stays open before one trial call (default 1s)", 0},
    {NULL, NULL, 0},
};

typedef struct breaker {
    pthread_mutex_t lock;
    long threshold, cooldown_ms;
    long failures;
    long long open_until; /* 0: closed */
    int trial;            /* a half-open trial call is in flight */
} breaker_t;

static int cb_validate(const cor_dm_entry_t *e, cor_error_t *err)
{
    long v;
    int rc = cor_dm_param_int(e, "failures", 5, 1, 1000000, &v, err);
    return rc ? rc : cor_dm_param_duration(e, "cooldown", 1000, 1, 3600000, &v, err);
}

static int cb_new(const cor_dm_entry_t *e, void **state, cor_error_t *err)
{
    breaker_t *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    cor_dm_param_int(e, "failures", 5, 1, 1000000, &b->threshold, NULL);
    cor_dm_param_duration(e, "cooldown", 1000, 1, 3600000, &b->cooldown_ms, NULL);
    pthread_mutex_init(&b->lock, NULL);
    *state = b;
    return 0;
}

static int cb_call(void *state, cor_dm_call_t *c)
{
    breaker_t *b = state;
    pthread_mutex_lock(&b->lock);
    long long now = cor_dm_now_ms();
    int is_trial = 0;
    if (b->open_until != 0) {
        if (now < b->open_until || b->trial) {
            long left = b->trial ? 0 : (long)(b->open_until - now);
            long f = b->failures;
            pthread_mutex_unlock(&b->lock);
            return cor_dm_fail(c, COR_EUNAVAIL,
                               "circuit open after %ld consecutive failures; next try in %ld ms", f,
                               left);
        }
        b->trial = is_trial = 1; /* half-open: let one call through */
    }
    pthread_mutex_unlock(&b->lock);
    int rc = cor_dm_next(c);
    pthread_mutex_lock(&b->lock);
    if (is_trial)
        b->trial = 0;
    if (cor_dm_transport_failure(rc)) {
        b->failures++;
        if (is_trial || b->failures >= b->threshold)
            b->open_until = cor_dm_now_ms() + b->cooldown_ms;
    } else {
        b->failures = 0;
        b->open_until = 0;
    }
    pthread_mutex_unlock(&b->lock);
    return rc;
}

static void cb_free(void *state)
{
    breaker_t *b = state;
    pthread_mutex_destroy(&b->lock);
    free(b);
}

const cor_dm_ops_t cor_dm_circuit_breaker = {
    .version = COR_DM_OPS_VERSION,
    .name = "CircuitBreaker",
    .summary = "fail fast after N consecutive failures; one trial call after a cool-down",
    .params = cb_params,
    .validate = cb_validate,
    .client_new = cb_new,
    .client_call = cb_call,
    .client_free = cb_free,
};
