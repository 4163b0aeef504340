/*
 * builtins.c — the class sets linked into cor-kernel; see builtins.h.
 */
#include "builtins.h"

#include <string.h>

#include "echo_class.h"
#ifdef COR_HAVE_KV
#include "kv_class.h"
#endif
#ifdef COR_HAVE_SOCIAL
#include "social_class.h"
#endif

static const cor_class_t *const echo_set[] = {&echo_class, NULL};
#ifdef COR_HAVE_KV
static const cor_class_t *const kv_set[] = {&kv_class, NULL};
#endif
#ifdef COR_HAVE_SOCIAL
static const cor_class_t *const social_set[] = {&social_class, NULL};
#endif
static const cor_class_t *const all_set[] = {
    &echo_class,
#ifdef COR_HAVE_KV
    &kv_class,
#endif
#ifdef COR_HAVE_SOCIAL
    &social_class,
#endif
    NULL};

static const struct {
    const char *name;
    const cor_class_t *const *classes;
} sets[] = {
    {"echo", echo_set},
#ifdef COR_HAVE_KV
    {"kv", kv_set},
#endif
#ifdef COR_HAVE_SOCIAL
    {"social", social_set},
#endif
    {"all", all_set},
};

const cor_class_t *const *cor_kernel_builtin_classes(const char *name)
{
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
        if (strcmp(sets[i].name, name) == 0)
            return sets[i].classes;
    return NULL;
}

int cor_kernel_builtin_known(const char *name)
{
    return cor_kernel_builtin_classes(name) != NULL;
}

const char *cor_kernel_builtin_names(void)
{
    return "echo"
#ifdef COR_HAVE_KV
           ", kv"
#endif
#ifdef COR_HAVE_SOCIAL
           ", social"
#endif
           ", all";
}
