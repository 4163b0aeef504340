/*
 * builtins.c — the list of DMs built into libcor, registered on the
 * registry's first use (runtime/dm.c). A new built-in DM is one file in
 * dm/ plus one line here and one in builtins.h.
 */
#include "builtins.h"

#include <stddef.h>

void cor_dm_register_builtins(void)
{
    static const cor_dm_ops_t *const all[] = {
        &cor_dm_keep_in_region,      &cor_dm_keep_on_device,    &cor_dm_circuit_breaker,
        &cor_dm_serializable_rpc,    &cor_dm_at_least_once,     &cor_dm_lease_caching,
        &cor_dm_load_balanced_frontend, &cor_dm_periodic_checkpoint, &cor_dm_immutable,
        &cor_dm_explicit_migration,  &cor_dm_dynamic_migration,  &cor_dm_consensus_rsm,
    };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        cor_dm_register(all[i], NULL);
}
