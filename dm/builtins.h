/*
 * builtins.h — the deployment managers built into libcor, one file each in
 * dm/, and the call that registers them all (on the registry's first use,
 * runtime/dm.c). Every DM here is written against the public headers
 * alone (<cor/dm.h>, and <cor/object.h>, <cor/log.h>, <cor/strmap.h> where
 * it needs them): a DM in a module of its own is written the same way and
 * registered with cor_dm_register. docs/dms/README.md is the guide.
 */
#ifndef COR_DM_BUILTINS_H
#define COR_DM_BUILTINS_H

#include <cor/dm.h>

/* Placement. */
extern const cor_dm_ops_t cor_dm_keep_in_region;
extern const cor_dm_ops_t cor_dm_keep_on_device;
/* Calls. */
extern const cor_dm_ops_t cor_dm_circuit_breaker;
extern const cor_dm_ops_t cor_dm_at_least_once;
extern const cor_dm_ops_t cor_dm_serializable_rpc;
/* Caching and state. */
extern const cor_dm_ops_t cor_dm_lease_caching;
extern const cor_dm_ops_t cor_dm_immutable;
extern const cor_dm_ops_t cor_dm_periodic_checkpoint;
/* Replicas. */
extern const cor_dm_ops_t cor_dm_load_balanced_frontend;
extern const cor_dm_ops_t cor_dm_consensus_rsm;
/* Migration. */
extern const cor_dm_ops_t cor_dm_explicit_migration;
extern const cor_dm_ops_t cor_dm_dynamic_migration;

/* Registers every DM above (a name already taken is left as it is). */
void cor_dm_register_builtins(void);

#endif
