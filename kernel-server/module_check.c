/*
 * module_check.c — the checks cor-kernel runs on a loaded module before it
 * registers its classes; the contract is in module_check.h.
 *
 * Design: one pass over the record, in the order the fields are declared,
 * stopping at the first problem with a message that names it: which class
 * (index, and name once the name itself has passed), which method, which
 * field, and what was expected. Strings are measured with strnlen against
 * their bound before anything else reads them, so an unterminated or
 * runaway string costs at most bound + 1 bytes and is reported as too long;
 * names are printed into messages with a precision, never whole.
 *
 * What is not checked, because the kernel cannot: that a non-NULL pointer
 * points at mapped memory of the right type (beyond the protobuf-c
 * descriptors' magic numbers), that the ops table has as many entries as
 * the service has methods, and that the fingerprint matches the interface
 * (callers built against another interface are refused per call).
 */
#include "module_check.h"

#include <stdio.h>
#include <string.h>

#include <cor/dm.h>
#include <protobuf-c/protobuf-c.h>

/* Which bytes a kind of string may hold. */
enum charset {
    CS_MODULE,  /* module name: [A-Za-z0-9._-] */
    CS_CLASS,   /* class name, as the OMS allows: [A-Za-z0-9._-/:] */
    CS_SERVICE, /* protobuf full name: [A-Za-z0-9._] */
    CS_IDENT,   /* protobuf identifier: [A-Za-z0-9_] */
    CS_PRINT,   /* printable ASCII, space included */
};

static int allowed(enum charset cs, unsigned char c)
{
    int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    switch (cs) {
    case CS_MODULE:
        return alnum || c == '.' || c == '_' || c == '-';
    case CS_CLASS:
        return alnum || c == '.' || c == '_' || c == '-' || c == '/' || c == ':';
    case CS_SERVICE:
        return alnum || c == '.' || c == '_';
    case CS_IDENT:
        return alnum || c == '_';
    case CS_PRINT:
        return c >= 0x20 && c <= 0x7e;
    }
    return 0;
}

static const char *charset_text(enum charset cs)
{
    switch (cs) {
    case CS_MODULE:
        return "letters, digits, . _ -";
    case CS_CLASS:
        return "letters, digits, . _ - / :";
    case CS_SERVICE:
        return "letters, digits, . _";
    case CS_IDENT:
        return "letters, digits, _";
    case CS_PRINT:
        return "printable ASCII";
    }
    return "?";
}

/* Checks string s (what: "name", "version", ...) of `who` ("class 0
 * (kv.Store)", or NULL for the module itself) for being set, min..max bytes
 * and of charset cs. Reads at most max + 1 bytes of s. */
static int check_str(const char *who, const char *what, const char *s, size_t min, size_t max,
                     enum charset cs, cor_error_t *err)
{
    const char *sep = who != NULL ? ": " : "";
    if (who == NULL)
        who = "";
    if (s == NULL)
        return cor_error_set(err, COR_EINVAL, "%s%s%s is NULL", who, sep, what);
    size_t n = strnlen(s, max + 1);
    if (n > max)
        return cor_error_set(err, COR_EINVAL,
                             "%s%s%s '%.40s...' is longer than %zu bytes (or not NUL-terminated)",
                             who, sep, what, s, max);
    if (n < min)
        return cor_error_set(err, COR_EINVAL, "%s%s%s is empty", who, sep, what);
    size_t printable = 0; /* shown in a message: up to the first unprintable byte */
    while (printable < n && allowed(CS_PRINT, (unsigned char)s[printable]))
        printable++;
    for (size_t i = 0; i < n; i++)
        if (!allowed(cs, (unsigned char)s[i]))
            return cor_error_set(err, COR_EINVAL,
                                 "%s%s%s '%.*s%s': byte %zu (0x%02x) is not allowed (%s)", who,
                                 sep, what, (int)(printable < 60 ? printable : 60), s,
                                 printable < n ? "..." : "", i, (unsigned char)s[i],
                                 charset_text(cs));
    return 0;
}

static int check_descriptor(const char *who, const char *what,
                            const ProtobufCMessageDescriptor *d, cor_error_t *err)
{
    if (d == NULL)
        return cor_error_set(err, COR_EINVAL, "%s: %s descriptor is NULL", who, what);
    if (d->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC)
        return cor_error_set(err, COR_EINVAL,
                             "%s: %s descriptor has magic 0x%08x, not a protobuf-c message "
                             "descriptor (0x%08x)",
                             who, what, d->magic, PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC);
    return 0;
}

/* Method i of svc; `cls_who` names the class for messages. */
static int check_method(const char *cls_who, const cor_service_desc_t *svc, unsigned i,
                        cor_error_t *err)
{
    const cor_method_desc_t *m = &svc->methods[i];
    char who[200];
    snprintf(who, sizeof(who), "%s: method %u", cls_who, i);
    int rc = check_str(who, "name", m->name, 1, COR_KERNEL_METHOD_NAME_MAX, CS_IDENT, err);
    if (rc != 0)
        return rc;
    snprintf(who, sizeof(who), "%s: method %u (%.40s)", cls_who, i, m->name);
    for (unsigned j = 0; j < i; j++)
        if (strcmp(svc->methods[j].name, m->name) == 0)
            return cor_error_set(err, COR_EINVAL, "%s: name already used by method %u", who, j);
    if (m->service != svc)
        return cor_error_set(err, COR_EINVAL,
                             "%s: service points at another service descriptor than the one "
                             "holding it",
                             who);
    if (m->index != i)
        return cor_error_set(err, COR_EINVAL, "%s: index is %u, not its position %u", who,
                             m->index, i);
    if ((rc = check_descriptor(who, "input", m->input, err)) != 0 ||
        (rc = check_descriptor(who, "output", m->output, err)) != 0)
        return rc;
    if (m->invoke == NULL)
        return cor_error_set(err, COR_EINVAL,
                             "%s: invoke is NULL (stubs generated for clients only?)", who);
    unsigned known = COR_METHOD_READ_ONLY | COR_METHOD_MUTATING | COR_METHOD_IDEMPOTENT;
    if ((m->hints & ~known) != 0)
        return cor_error_set(err, COR_EINVAL, "%s: hints 0x%x has unknown bits 0x%x", who,
                             m->hints, m->hints & ~known);
    if ((m->hints & COR_METHOD_READ_ONLY) && (m->hints & COR_METHOD_MUTATING))
        return cor_error_set(err, COR_EINVAL, "%s: hints say both READ_ONLY and MUTATING", who);
    if (m->shard_key != NULL &&
        (rc = check_str(who, "shard_key", m->shard_key, 1, COR_KERNEL_METHOD_NAME_MAX, CS_IDENT,
                        err)) != 0)
        return rc;
    return 0;
}

static int check_service(const char *who, const cor_service_desc_t *svc, cor_error_t *err)
{
    if (svc == NULL)
        return cor_error_set(err, COR_EINVAL, "%s: service descriptor is NULL", who);
    if (svc->version != COR_SERVICE_DESC_VERSION)
        return cor_error_set(err, COR_EINVAL,
                             "%s: service descriptor has version %u, this kernel needs %u", who,
                             svc->version, COR_SERVICE_DESC_VERSION);
    int rc = check_str(who, "service name", svc->name, 1, COR_KERNEL_SERVICE_NAME_MAX, CS_SERVICE,
                       err);
    if (rc != 0)
        return rc;
    if (svc->proto_file != NULL &&
        (rc = check_str(who, "service proto_file", svc->proto_file, 0, COR_KERNEL_PROTO_FILE_MAX,
                        CS_PRINT, err)) != 0)
        return rc;
    if (svc->dm_chain != NULL) {
        if ((rc = check_str(who, "service dm_chain", svc->dm_chain, 0, COR_KERNEL_DM_CHAIN_MAX,
                            CS_PRINT, err)) != 0)
            return rc;
        /* What cor_dm_stack_new runs when an object of the class is made:
         * a chain that fails here would fail every create. */
        cor_dm_chain_t chain;
        if ((rc = cor_dm_chain_parse(svc->dm_chain, &chain, err)) != 0 ||
            (rc = cor_dm_chain_check(&chain, err)) != 0) {
            cor_error_prefix(err, "%s: service dm_chain", who);
            return rc;
        }
    }
    if (svc->n_methods > COR_KERNEL_MAX_METHODS)
        return cor_error_set(err, COR_EINVAL, "%s: service has %u methods, at most %d", who,
                             svc->n_methods, COR_KERNEL_MAX_METHODS);
    if (svc->n_methods > 0 && svc->methods == NULL)
        return cor_error_set(err, COR_EINVAL, "%s: service has %u methods but no method table",
                             who, svc->n_methods);
    for (unsigned i = 0; i < svc->n_methods; i++)
        if ((rc = check_method(who, svc, i, err)) != 0)
            return rc;
    return 0;
}

/* index < 0: a class on its own, named by its name only. */
static int check_class_at(const cor_class_t *cls, int index, cor_error_t *err)
{
    char who[160];
    if (index >= 0)
        snprintf(who, sizeof(who), "class %d", index);
    else
        snprintf(who, sizeof(who), "class");
    if (cls->version != COR_CLASS_VERSION)
        return cor_error_set(err, COR_EINVAL,
                             "%s: class definition has version %u, this kernel needs %u", who,
                             cls->version, COR_CLASS_VERSION);
    int rc = check_str(who, "name", cls->name, 1, COR_KERNEL_CLASS_NAME_MAX, CS_CLASS, err);
    if (rc != 0)
        return rc;
    if (index >= 0)
        snprintf(who, sizeof(who), "class %d (%.80s)", index, cls->name);
    else
        snprintf(who, sizeof(who), "class %.80s", cls->name);
    if ((cls->flags & ~(unsigned)COR_CLASS_CONCURRENT) != 0)
        return cor_error_set(err, COR_EINVAL, "%s: flags 0x%x has unknown bits 0x%x", who,
                             cls->flags, cls->flags & ~(unsigned)COR_CLASS_CONCURRENT);
    if (cls->ops == NULL)
        return cor_error_set(err, COR_EINVAL, "%s: ops is NULL", who);
    if (cls->create == NULL || cls->destroy == NULL)
        return cor_error_set(err, COR_EINVAL, "%s: %s is NULL (create and destroy are required)",
                             who, cls->create == NULL ? "create" : "destroy");
    if ((cls->save_state == NULL) != (cls->load_state == NULL))
        return cor_error_set(err, COR_EINVAL, "%s: %s is set without %s (they come as a pair)",
                             who, cls->save_state ? "save_state" : "load_state",
                             cls->save_state ? "load_state" : "save_state");
    if ((cls->save_dirty == NULL) != (cls->apply_dirty == NULL))
        return cor_error_set(err, COR_EINVAL, "%s: %s is set without %s (they come as a pair)",
                             who, cls->save_dirty ? "save_dirty" : "apply_dirty",
                             cls->save_dirty ? "apply_dirty" : "save_dirty");
    if (cls->save_dirty != NULL && cls->save_state == NULL)
        return cor_error_set(err, COR_EINVAL,
                             "%s: save_dirty and apply_dirty are set without save_state and "
                             "load_state",
                             who);
    return check_service(who, cls->service, err);
}

int cor_kernel_check_class(const cor_class_t *cls, cor_error_t *err)
{
    if (cls == NULL)
        return cor_error_set(err, COR_EINVAL, "class definition is NULL");
    return check_class_at(cls, -1, err);
}

int cor_kernel_check_module(const cor_module_t *m, cor_error_t *err)
{
    if (m == NULL)
        return cor_error_set(err, COR_EINVAL, "module record is NULL");
    if (m->abi != COR_MODULE_ABI)
        return cor_error_set(err, COR_EINVAL, "ABI %u, this kernel speaks %u", m->abi,
                             COR_MODULE_ABI);
    int rc = check_str(NULL, "module name", m->name, 1, COR_KERNEL_MODULE_NAME_MAX, CS_MODULE, err);
    if (rc == 0)
        rc = check_str(NULL, "module version", m->version, 1, COR_KERNEL_MODULE_VERSION_MAX,
                       CS_PRINT, err);
    if (rc != 0)
        return rc;
    if (m->classes == NULL || m->classes[0] == NULL)
        return cor_error_set(err, COR_EINVAL, "no classes");
    int n = 0;
    while (m->classes[n] != NULL) {
        if (n == COR_KERNEL_MODULE_MAX_CLASSES)
            return cor_error_set(err, COR_EINVAL,
                                 "more than %d classes (or the class list lacks its NULL end)",
                                 COR_KERNEL_MODULE_MAX_CLASSES);
        n++;
    }
    for (int i = 0; i < n; i++) {
        if ((rc = check_class_at(m->classes[i], i, err)) != 0)
            return rc;
        for (int j = 0; j < i; j++)
            if (strcmp(m->classes[j]->name, m->classes[i]->name) == 0)
                return cor_error_set(err, COR_EINVAL,
                                     "class %d (%.80s): name already used by class %d", i,
                                     m->classes[i]->name, j);
    }
    return 0;
}
