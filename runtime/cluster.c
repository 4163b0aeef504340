/*
 * cluster.c — object creation, lookup and deletion through the OMS.
 * (Being written: these answer EUNIMPL until the OMS client lands.)
 */
#include "runtime_int.h"

int cor_object_create(cor_runtime_t *rt, const char *class_name, const uint8_t *args,
                      size_t args_len, const cor_create_opts_t *opts, cor_ref_t **ref,
                      cor_error_t *err)
{
    return cor_error_set(err, COR_EUNIMPL, "cluster API not built yet");
}

int cor_object_lookup(cor_runtime_t *rt, const cor_object_id_t *id, cor_ref_t **ref,
                      cor_error_t *err)
{
    return cor_error_set(err, COR_EUNIMPL, "cluster API not built yet");
}

int cor_object_lookup_name(cor_runtime_t *rt, const char *name, cor_ref_t **ref,
                           cor_error_t *err)
{
    return cor_error_set(err, COR_EUNIMPL, "cluster API not built yet");
}

int cor_object_delete(cor_runtime_t *rt, const cor_object_id_t *id, cor_error_t *err)
{
    return cor_error_set(err, COR_EUNIMPL, "cluster API not built yet");
}
