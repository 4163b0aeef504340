/*
 * classes.h — the application classes corctl knows: those linked into it
 * (echo.Echo, kv.KeyValueStore, social.User) and those of modules named with
 * --module PATH.so. corctl needs a class's service descriptor to turn
 * `call OBJ METHOD JSON` into a typed request, and its constructor-args
 * message (when it has one that corctl knows) to turn `create --args JSON`
 * into bytes.
 *
 * A registry is owned by one thread (corctl's main); modules stay loaded
 * until corctl_classes_close.
 */
#ifndef COR_CLI_CLASSES_H
#define COR_CLI_CLASSES_H

#include <stddef.h>

#include <cor/object.h>
#include <protobuf-c/protobuf-c.h>

typedef struct corctl_class {
    const cor_class_t *cls;
    /* Constructor arguments' message type; NULL when corctl does not know
     * it (then `create --args-hex` is the way to pass them). */
    const ProtobufCMessageDescriptor *args;
    const char *origin; /* "built-in" or the module's path */
} corctl_class_t;

#define CORCTL_MAX_CLASSES 64
#define CORCTL_MAX_MODULES 16

typedef struct corctl_classes {
    corctl_class_t v[CORCTL_MAX_CLASSES];
    size_t n;
    void *handles[CORCTL_MAX_MODULES];
    size_t n_handles;
} corctl_classes_t;

/* Fills r with the built-in classes. */
void corctl_classes_init(corctl_classes_t *r);

/* dlopens path, checks its cor_module_v1 (COR_MODULE_ABI) and adds its
 * classes (a class already known keeps its first definition). Returns 0,
 * or -1 with errbuf saying why (cannot open, no symbol, wrong ABI, too
 * many classes). */
int corctl_classes_load_module(corctl_classes_t *r, const char *path, char *errbuf,
                               size_t errlen);

/* The class named name, or NULL. */
const corctl_class_t *corctl_classes_find(const corctl_classes_t *r, const char *name);

/* "echo.Echo, kv.KeyValueStore, ..." into out (for messages). */
void corctl_classes_names(const corctl_classes_t *r, char *out, size_t outlen);

/* Unloads modules. */
void corctl_classes_close(corctl_classes_t *r);

#endif
