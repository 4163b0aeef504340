/*
 * cor/module.h — how a shared library hands its classes to a kernel server.
 *
 * A module is a .so that defines one data symbol, cor_module_v1, of type
 * cor_module_t. cor-kernel dlopen()s it (--module PATH, or a `module = PATH`
 * line in its config file), checks the ABI number and registers every class
 * in the NULL-terminated list. The same classes can instead be linked
 * statically into a binary and registered with cor_runtime_register_class
 * (one binary, many roles).
 *
 *   static const cor_class_t *const classes[] = {&kv_store_class, NULL};
 *   COR_MODULE("kv", "1.0", classes);
 */
#ifndef COR_MODULE_H
#define COR_MODULE_H

#include <cor/object.h>

#ifdef __cplusplus
extern "C" {
#endif

#define COR_MODULE_ABI 1
#define COR_MODULE_SYMBOL "cor_module_v1"

typedef struct cor_module {
    unsigned abi;                      /* COR_MODULE_ABI */
    const char *name;                  /* short name, for logs: "kv" */
    const char *version;               /* the module's own version string */
    const cor_class_t *const *classes; /* NULL-terminated */
} cor_module_t;

#define COR_MODULE(name_, version_, classes_)                                  \
    __attribute__((visibility("default"))) const cor_module_t cor_module_v1 = { \
        .abi = COR_MODULE_ABI, .name = (name_), .version = (version_),         \
        .classes = (classes_)}

#ifdef __cplusplus
}
#endif
#endif
