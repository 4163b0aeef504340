/*
 * dm_builtin.c — the deployment managers built into libcor, registered on
 * first use of the registry. Each has its page in docs/dms/.
 *
 * Built so far: the placement DMs, whose whole effect is in the group part
 * (the OMS places replicas only on kernel servers whose labels match):
 *   KeepInRegion(region=R)              region=R
 *   KeepOnDevice(class=C | node=N)      device-class=C and/or node=N
 */
#include <cor/dm.h>

#include <stdio.h>
#include <string.h>

#include "labels.h"

/* A label value must be a valid selector value. */
static int check_value(const cor_dm_entry_t *e, const char *name, cor_error_t *err)
{
    const char *v = cor_dm_param(e, name);
    if (v == NULL)
        return 0;
    char term[COR_DM_NAME_MAX + COR_DM_VALUE_MAX + 2];
    snprintf(term, sizeof(term), "k=%s", v);
    cor_label_t l;
    cor_error_t lerr;
    if (v[0] == '\0' || cor_label_parse(term, &l, &lerr) != 0)
        return cor_error_set(err, COR_EINVAL,
                             "%s: %s '%s' is not a label value (letters, digits, . _ / -)",
                             e->name, name, v);
    return 0;
}

static const cor_dm_param_spec_t region_params[] = {
    {"region", "the value of the kernel servers' region label", 1},
    {NULL, NULL, 0},
};

static int region_validate(const cor_dm_entry_t *e, cor_error_t *err)
{
    return check_value(e, "region", err);
}

static int region_place(const cor_dm_entry_t *e, char *buf, size_t len, cor_error_t *err)
{
    snprintf(buf, len, "region=%s", cor_dm_param(e, "region"));
    return 0;
}

static const cor_dm_ops_t keep_in_region = {
    .version = COR_DM_OPS_VERSION,
    .name = "KeepInRegion",
    .summary = "replicas stay on kernel servers labelled region=R",
    .params = region_params,
    .caps = COR_DM_CAP_PLACEMENT,
    .validate = region_validate,
    .placement = region_place,
};

static const cor_dm_param_spec_t device_params[] = {
    {"class", "device class: the kernel servers' device-class label (cloud, edge, mobile)", 0},
    {"node", "one kernel server, by name", 0},
    {NULL, NULL, 0},
};

static int device_validate(const cor_dm_entry_t *e, cor_error_t *err)
{
    if (cor_dm_param(e, "class") == NULL && cor_dm_param(e, "node") == NULL)
        return cor_error_set(err, COR_EINVAL, "%s needs class=... or node=...", e->name);
    int rc = check_value(e, "class", err);
    return rc ? rc : check_value(e, "node", err);
}

static int device_place(const cor_dm_entry_t *e, char *buf, size_t len, cor_error_t *err)
{
    const char *cls = cor_dm_param(e, "class"), *node = cor_dm_param(e, "node");
    snprintf(buf, len, "%s%s%s%s%s", cls ? "device-class=" : "", cls ? cls : "",
             cls && node ? "," : "", node ? "node=" : "", node ? node : "");
    return 0;
}

static const cor_dm_ops_t keep_on_device = {
    .version = COR_DM_OPS_VERSION,
    .name = "KeepOnDevice",
    .summary = "replicas stay on one device class, or one kernel server",
    .params = device_params,
    .caps = COR_DM_CAP_PLACEMENT,
    .validate = device_validate,
    .placement = device_place,
};

void cor_dm_register_builtins(void);
void cor_dm_register_builtins(void)
{
    static const cor_dm_ops_t *const all[] = {&keep_in_region, &keep_on_device};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        cor_dm_register(all[i], NULL);
}
