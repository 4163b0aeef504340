/*
 * keep_on_device.c — KeepOnDevice(class=C | node=N): replicas stay on one
 * device class (the kernel servers' device-class label) or on one kernel
 * server (docs/dms/KeepOnDevice.md). A placement only, like KeepInRegion.
 */
#include "builtins.h"

#include <stdio.h>

static const cor_dm_param_spec_t device_params[] = {
    {"class", "device class: the kernel servers' device-class label (cloud, edge, mobile)", 0},
    {"node", "one kernel server, by name", 0},
    {NULL, NULL, 0},
};

static int device_validate(const cor_dm_entry_t *e, cor_error_t *err)
{
    if (cor_dm_param(e, "class") == NULL && cor_dm_param(e, "node") == NULL)
        return cor_error_set(err, COR_EINVAL, "%s needs class=... or node=...", e->name);
    int rc = cor_dm_param_label(e, "class", err);
    return rc ? rc : cor_dm_param_label(e, "node", err);
}

static int device_place(const cor_dm_entry_t *e, char *buf, size_t len, cor_error_t *err)
{
    const char *cls = cor_dm_param(e, "class"), *node = cor_dm_param(e, "node");
    snprintf(buf, len, "%s%s%s%s%s", cls ? "device-class=" : "", cls ? cls : "",
             cls && node ? "," : "", node ? "node=" : "", node ? node : "");
    return 0;
}

const cor_dm_ops_t cor_dm_keep_on_device = {
    .version = COR_DM_OPS_VERSION,
    .name = "KeepOnDevice",
    .summary = "replicas stay on one device class, or one kernel server",
    .params = device_params,
    .caps = COR_DM_CAP_PLACEMENT,
    .validate = device_validate,
    .placement = device_place,
};
