/*
 * keep_in_region.c — KeepInRegion(region=R): every replica stays on kernel
 * servers labelled region=R (docs/dms/KeepInRegion.md).
 *
 * A group part with nothing but a placement: the OMS merges its selector
 * term with the object's own at create time (refusing a contradiction
 * before anything exists) and holds every later placement and move to it.
 */
#include "builtins.h"

#include <stdio.h>

static const cor_dm_param_spec_t region_params[] = {
    {"region", "the value of the kernel servers' region label", 1},
    {NULL, NULL, 0},
};

static int region_validate(const cor_dm_entry_t *e, cor_error_t *err)
{
    return cor_dm_param_label(e, "region", err);
}

static int region_place(const cor_dm_entry_t *e, char *buf, size_t len, cor_error_t *err)
{
    snprintf(buf, len, "region=%s", cor_dm_param(e, "region"));
    return 0;
}

const cor_dm_ops_t cor_dm_keep_in_region = {
    .version = COR_DM_OPS_VERSION,
    .name = "KeepInRegion",
    .summary = "replicas stay on kernel servers labelled region=R",
    .params = region_params,
    .caps = COR_DM_CAP_PLACEMENT,
    .validate = region_validate,
    .placement = region_place,
};
