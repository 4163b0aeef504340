/*
 * explicit_migration.c — ExplicitMigration: no parts that run; its
 * capability lets the application move the object itself (cor_migrate),
 * which the OMS checks (docs/dms/ExplicitMigration.md).
 */
#include "builtins.h"


/* No call parts: it grants the application (cor_migrate) the right to move
 * the object, which the OMS checks. */
const cor_dm_ops_t cor_dm_explicit_migration = {
    .version = COR_DM_OPS_VERSION,
    .name = "ExplicitMigration",
    .summary = "the application may move the object itself (cor_migrate)",
    .caps = COR_DM_CAP_APP_MIGRATE,
};

