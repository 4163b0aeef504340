/*
 * builtins.h — classes linked into cor-kernel itself (one binary, many
 * roles), selected at start with --builtin NAME.
 */
#ifndef COR_KERNEL_BUILTINS_H
#define COR_KERNEL_BUILTINS_H

#include <cor/object.h>

/* NULL-terminated class list of a set ("echo", "kv", "social", "all"). */
const cor_class_t *const *cor_kernel_builtin_classes(const char *name);
int cor_kernel_builtin_known(const char *name);
/* "echo, kv, social, all" — for messages. */
const char *cor_kernel_builtin_names(void);

#endif
