/*
 * immutable.c — Immutable: the server part refuses every method that is
 * not read_only; the client part makes a replica in the caller's own
 * process when the class is registered there, so reads are served
 * locally (docs/dms/Immutable.md).
 */
#include "builtins.h"

#include <pthread.h>
#include <stdlib.h>

#include <cor/object.h>

typedef struct immutable {
    pthread_mutex_t lock;
    int tried; /* a local replica was attempted (once per reference) */
} immutable_t;

static int imm_new(const cor_dm_entry_t *e, void **state, cor_error_t *err)
{
    immutable_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    pthread_mutex_init(&m->lock, NULL);
    *state = m;
    return 0;
}

static int imm_client_call(void *state, cor_dm_call_t *c)
{
    immutable_t *m = state;
    if (cor_dm_call_method(c)->hints & COR_METHOD_READ_ONLY) {
        pthread_mutex_lock(&m->lock);
        int first = !m->tried;
        m->tried = 1;
        pthread_mutex_unlock(&m->lock);
        /* The state never changes, so a copy here serves reads as well as
         * the original; if the class is not here, reads stay remote. */
        if (first)
            cor_dm_call_make_local(c);
    }
    return cor_dm_next(c); /* the call runs here when the replica is local */
}

static void imm_free(void *state)
{
    immutable_t *m = state;
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static int imm_server_call(void *state, cor_dm_call_t *c)
{
    const cor_method_desc_t *m = cor_dm_call_method(c);
    if (!(m->hints & COR_METHOD_READ_ONLY))
        return cor_dm_fail(c, COR_EPERM,
                           "the object is immutable and %s is not a read_only method", m->name);
    return cor_dm_next(c);
}

const cor_dm_ops_t cor_dm_immutable = {
    .version = COR_DM_OPS_VERSION,
    .name = "Immutable",
    .summary = "frozen after creation; reads served from a replica in the caller's process",
    .caps = COR_DM_CAP_FROZEN,
    .exclusive = COR_DM_CAP_FROZEN,
    .client_new = imm_new,
    .client_call = imm_client_call,
    .client_free = imm_free,
    .server_call = imm_server_call,
};
