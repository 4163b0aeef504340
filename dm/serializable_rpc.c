/*
 * serializable_rpc.c — SerializableRPC: a server part that runs every call
 * to the object strictly one at a time, even for a COR_CLASS_CONCURRENT
 * class (docs/dms/SerializableRPC.md).
 */
#include "builtins.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct serial {
    pthread_mutex_t lock;
} serial_t;

static int serial_new(const cor_dm_entry_t *e, void **state, cor_error_t *err)
{
    serial_t *s = malloc(sizeof(*s));
    if (s == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    pthread_mutex_init(&s->lock, NULL);
    *state = s;
    return 0;
}

static int serial_call(void *state, cor_dm_call_t *c)
{
    serial_t *s = state;
    pthread_mutex_lock(&s->lock);
    int rc = cor_dm_next(c);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static void serial_free(void *state)
{
    serial_t *s = state;
    pthread_mutex_destroy(&s->lock);
    free(s);
}

const cor_dm_ops_t cor_dm_serializable_rpc = {
    .version = COR_DM_OPS_VERSION,
    .name = "SerializableRPC",
    .summary = "every call to the object runs strictly one at a time",
    .caps = COR_DM_CAP_SERIAL,
    .exclusive = COR_DM_CAP_SERIAL,
    .server_new = serial_new,
    .server_call = serial_call,
    .server_free = serial_free,
};
