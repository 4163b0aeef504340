/*
 * classes.c — corctl's class registry; see classes.h.
 *
 * The built-in table pairs each statically linked class with its
 * constructor-args message. kv and social are linked when their targets
 * exist (COR_HAVE_KV / COR_HAVE_SOCIAL, set by cli/CMakeLists.txt), the
 * same way cor-kernel picks its built-ins.
 */
#include "classes.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include <cor/module.h>

#include "echo/echo.pb-c.h"
#include "echo_class.h"
#ifdef COR_HAVE_KV
#include "kv/kv.pb-c.h"
#include "kv_class.h"
#endif
#ifdef COR_HAVE_SOCIAL
#include "social/social.pb-c.h"
#include "social_class.h"
#endif

static const struct {
    const cor_class_t *cls;
    const ProtobufCMessageDescriptor *args;
} builtins[] = {
    {&echo_class, &echo__echo_args__descriptor},
#ifdef COR_HAVE_KV
    {&kv_class, &kv__kv_args__descriptor},
#endif
#ifdef COR_HAVE_SOCIAL
    {&social_class, &social__user_args__descriptor},
#endif
};

void corctl_classes_init(corctl_classes_t *r)
{
    memset(r, 0, sizeof(*r));
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
        r->v[r->n].cls = builtins[i].cls;
        r->v[r->n].args = builtins[i].args;
        r->v[r->n].origin = "built-in";
        r->n++;
    }
}

const corctl_class_t *corctl_classes_find(const corctl_classes_t *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->v[i].cls->name, name) == 0)
            return &r->v[i];
    return NULL;
}

int corctl_classes_load_module(corctl_classes_t *r, const char *path, char *errbuf,
                               size_t errlen)
{
    if (r->n_handles == CORCTL_MAX_MODULES) {
        snprintf(errbuf, errlen, "module %s: at most %d modules", path, CORCTL_MAX_MODULES);
        return -1;
    }
    /* A bare name would be searched on the library path; a module is a
     * file the operator names. */
    char full[4096];
    snprintf(full, sizeof(full), "%s%s", strchr(path, '/') ? "" : "./", path);
    void *h = dlopen(full, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        snprintf(errbuf, errlen, "module %s: %s", path, dlerror());
        return -1;
    }
    const cor_module_t *m = dlsym(h, COR_MODULE_SYMBOL);
    if (m == NULL) {
        snprintf(errbuf, errlen, "module %s: no symbol %s (not a Corundum module)", path,
                 COR_MODULE_SYMBOL);
        dlclose(h);
        return -1;
    }
    if (m->abi != COR_MODULE_ABI) {
        snprintf(errbuf, errlen, "module %s: ABI %u, corctl speaks %d", path, m->abi,
                 COR_MODULE_ABI);
        dlclose(h);
        return -1;
    }
    if (m->classes == NULL) {
        snprintf(errbuf, errlen, "module %s: no class list", path);
        dlclose(h);
        return -1;
    }
    /* Check every class before adding any, so a refused module leaves the
     * registry as it was. */
    size_t fresh = 0;
    for (const cor_class_t *const *c = m->classes; *c != NULL; c++) {
        if ((*c)->name == NULL || (*c)->service == NULL) {
            snprintf(errbuf, errlen, "module %s: a class without a name or service", path);
            dlclose(h);
            return -1;
        }
        if (corctl_classes_find(r, (*c)->name) == NULL)
            fresh++;
    }
    if (fresh > CORCTL_MAX_CLASSES - r->n) {
        snprintf(errbuf, errlen, "module %s: more than %d classes in all", path,
                 CORCTL_MAX_CLASSES);
        dlclose(h);
        return -1;
    }
    for (const cor_class_t *const *c = m->classes; *c != NULL; c++) {
        if (corctl_classes_find(r, (*c)->name) != NULL)
            continue;
        r->v[r->n].cls = *c;
        r->v[r->n].args = NULL;
        r->v[r->n].origin = path;
        r->n++;
    }
    r->handles[r->n_handles++] = h;
    return 0;
}

void corctl_classes_names(const corctl_classes_t *r, char *out, size_t outlen)
{
    size_t o = 0;
    if (outlen == 0)
        return;
    out[0] = '\0';
    for (size_t i = 0; i < r->n && o < outlen; i++)
        o += (size_t)snprintf(out + o, outlen - o, "%s%s", i ? ", " : "", r->v[i].cls->name);
}

void corctl_classes_close(corctl_classes_t *r)
{
    for (size_t i = r->n_handles; i > 0; i--)
        dlclose(r->handles[i - 1]);
    r->n_handles = 0;
    r->n = 0;
}
