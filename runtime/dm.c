/*
 * dm.c — DM chains: the grammar, parameters, the registry of DMs by name,
 * and the checks that refuse an impossible chain at create time; see
 * cor/dm.h.
 *
 * Grammar (whitespace allowed between tokens):
 *   chain  := "" | dm ("," dm)*
 *   dm     := NAME [ "(" [ param ("," param)* ] ")" ]
 *   param  := NAME "=" value
 *   value  := "\"" any-but-quote* "\"" | [^,()"\s]+
 *   NAME   := [A-Za-z_][A-Za-z0-9_.-]*
 * Errors give the 1-based column of the offending token.
 */
#include <cor/dm.h>

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "labels.h"

typedef struct parser {
    const char *text;
    const char *p;
    cor_error_t *err;
} parser_t;

static int col(const parser_t *ps)
{
    return (int)(ps->p - ps->text) + 1;
}

static void skip_ws(parser_t *ps)
{
    while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n')
        ps->p++;
}

static int fail(parser_t *ps, const char *what)
{
    const char *shown = *ps->p ? ps->p : "end of text";
    return cor_error_set(ps->err, COR_EINVAL, "dm chain \"%.120s\" column %d: %s (at '%.12s')",
                         ps->text, col(ps), what, shown);
}

static int name_start(char c)
{
    return isalpha((unsigned char)c) || c == '_';
}

static int name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-';
}

static int parse_name(parser_t *ps, char *out, const char *what)
{
    skip_ws(ps);
    if (!name_start(*ps->p)) {
        char msg[80];
        snprintf(msg, sizeof(msg), "expected %s", what);
        return fail(ps, msg);
    }
    size_t n = 0;
    while (name_char(ps->p[n]))
        n++;
    if (n > COR_DM_NAME_MAX) {
        char msg[80];
        snprintf(msg, sizeof(msg), "%s is longer than %d characters", what, COR_DM_NAME_MAX);
        return fail(ps, msg);
    }
    memcpy(out, ps->p, n);
    out[n] = '\0';
    ps->p += n;
    return 0;
}

static int parse_value(parser_t *ps, char *out)
{
    skip_ws(ps);
    size_t n = 0;
    if (*ps->p == '"') {
        const char *start = ps->p;
        ps->p++;
        while (ps->p[n] != '\0' && ps->p[n] != '"')
            n++;
        if (ps->p[n] != '"') {
            ps->p = start;
            return fail(ps, "unterminated quoted value");
        }
        if (n > COR_DM_VALUE_MAX)
            return fail(ps, "value is longer than 255 characters");
        memcpy(out, ps->p, n);
        out[n] = '\0';
        ps->p += n + 1;
        return 0;
    }
    while (ps->p[n] != '\0' && strchr(",()\" \t\n", ps->p[n]) == NULL)
        n++;
    if (n == 0)
        return fail(ps, "expected a value after '='");
    if (n > COR_DM_VALUE_MAX)
        return fail(ps, "value is longer than 255 characters");
    memcpy(out, ps->p, n);
    out[n] = '\0';
    ps->p += n;
    return 0;
}

int cor_dm_chain_parse(const char *text, cor_dm_chain_t *out, cor_error_t *err)
{
    cor_dm_chain_t c;
    memset(&c, 0, sizeof(c));
    parser_t ps = {.text = text ? text : "", .p = text ? text : "", .err = err};
    skip_ws(&ps);
    if (*ps.p == '\0') {
        *out = c;
        return 0;
    }
    for (;;) {
        if (c.n == COR_DM_MAX_CHAIN)
            return fail(&ps, "more than 8 DMs in one chain");
        cor_dm_entry_t *e = &c.dms[c.n];
        skip_ws(&ps);
        e->column = col(&ps);
        int rc = parse_name(&ps, e->name, "a DM name");
        if (rc != 0)
            return rc;
        skip_ws(&ps);
        if (*ps.p == '(') {
            ps.p++;
            skip_ws(&ps);
            if (*ps.p == ')') {
                ps.p++;
            } else {
                for (;;) {
                    if (e->n_params == COR_DM_MAX_PARAMS)
                        return fail(&ps, "more than 8 parameters for one DM");
                    char *pname = e->params[e->n_params].name;
                    if ((rc = parse_name(&ps, pname, "a parameter name")) != 0)
                        return rc;
                    for (int i = 0; i < e->n_params; i++)
                        if (strcmp(e->params[i].name, pname) == 0)
                            return fail(&ps, "parameter given twice");
                    skip_ws(&ps);
                    if (*ps.p != '=')
                        return fail(&ps, "expected '=' after a parameter name");
                    ps.p++;
                    if ((rc = parse_value(&ps, e->params[e->n_params].value)) != 0)
                        return rc;
                    e->n_params++;
                    skip_ws(&ps);
                    if (*ps.p == ',') {
                        ps.p++;
                        continue;
                    }
                    if (*ps.p == ')') {
                        ps.p++;
                        break;
                    }
                    return fail(&ps, "expected ',' or ')' after a parameter");
                }
            }
        }
        c.n++;
        skip_ws(&ps);
        if (*ps.p == '\0')
            break;
        if (*ps.p != ',')
            return fail(&ps, "expected ',' between DMs or the end of the chain");
        ps.p++;
        skip_ws(&ps);
        if (*ps.p == '\0')
            return fail(&ps, "expected a DM name after ','");
    }
    *out = c;
    return 0;
}

size_t cor_dm_chain_format(const cor_dm_chain_t *c, char *buf, size_t len)
{
    size_t n = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int w = snprintf(buf + (n < len ? n : len), n < len ? len - n : 0, __VA_ARGS__);           \
        if (w > 0)                                                                                 \
            n += (size_t)w;                                                                        \
    } while (0)
    if (len > 0)
        buf[0] = '\0';
    for (int i = 0; i < c->n; i++) {
        const cor_dm_entry_t *e = &c->dms[i];
        PUT("%s%s", i ? ", " : "", e->name);
        if (e->n_params > 0) {
            PUT("(");
            for (int j = 0; j < e->n_params; j++) {
                const char *v = e->params[j].value;
                int plain = v[0] != '\0' && strpbrk(v, ",()\" \t\n") == NULL;
                PUT(plain ? "%s%s=%s" : "%s%s=\"%s\"", j ? ", " : "", e->params[j].name, v);
            }
            PUT(")");
        }
    }
#undef PUT
    return n;
}

const char *cor_dm_param(const cor_dm_entry_t *e, const char *name)
{
    for (int i = 0; i < e->n_params; i++)
        if (strcmp(e->params[i].name, name) == 0)
            return e->params[i].value;
    return NULL;
}

int cor_dm_param_int(const cor_dm_entry_t *e, const char *name, long def, long lo, long hi,
                     long *out, cor_error_t *err)
{
    const char *v = cor_dm_param(e, name);
    if (v == NULL) {
        *out = def;
        return 0;
    }
    char *end;
    long x = strtol(v, &end, 10);
    if (v[0] == '\0' || *end != '\0' || x < lo || x > hi)
        return cor_error_set(err, COR_EINVAL, "%s: %s must be an integer in %ld..%ld, not '%s'",
                             e->name, name, lo, hi, v);
    *out = x;
    return 0;
}

int cor_dm_param_duration(const cor_dm_entry_t *e, const char *name, long def_ms, long lo_ms,
                          long hi_ms, long *out_ms, cor_error_t *err)
{
    const char *v = cor_dm_param(e, name);
    if (v == NULL) {
        *out_ms = def_ms;
        return 0;
    }
    char *end;
    long x = strtol(v, &end, 10);
    long mult = -1;
    if (end != v && x >= 0) {
        if (*end == '\0' || strcmp(end, "ms") == 0)
            mult = 1;
        else if (strcmp(end, "s") == 0)
            mult = 1000;
        else if (strcmp(end, "m") == 0)
            mult = 60000;
    }
    if (mult < 0 || x > hi_ms / mult || x * mult < lo_ms || x * mult > hi_ms)
        return cor_error_set(err, COR_EINVAL,
                             "%s: %s must be a duration (250ms, 5s, 2m) between %ld and %ld ms, "
                             "not '%s'",
                             e->name, name, lo_ms, hi_ms, v);
    *out_ms = x * mult;
    return 0;
}

/* ---------------- registry ---------------- */

#define MAX_DMS 64
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static const cor_dm_ops_t *registry[MAX_DMS];
static int n_registered;
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;

void cor_dm_register_builtins(void); /* dm/builtins.c */

static void builtins(void)
{
    cor_dm_register_builtins();
}

int cor_dm_register(const cor_dm_ops_t *ops, cor_error_t *err)
{
    if (ops == NULL || ops->version != COR_DM_OPS_VERSION || ops->name == NULL ||
        !name_start(ops->name[0]))
        return cor_error_set(err, COR_EINVAL, "malformed DM vtable (version %u, name %s)",
                             ops ? ops->version : 0, ops && ops->name ? ops->name : "(none)");
    if ((ops->server_save == NULL) != (ops->server_load == NULL) ||
        (ops->server_save_dirty == NULL) != (ops->server_apply_dirty == NULL) ||
        (ops->server_save_dirty != NULL && ops->server_save == NULL))
        return cor_error_set(err, COR_EINVAL,
                             "DM %s: server_save/server_load, and server_save_dirty/"
                             "server_apply_dirty (which need the first), come as pairs",
                             ops->name);
    if (ops->group_free != NULL && ops->group_new == NULL)
        return cor_error_set(err, COR_EINVAL, "DM %s: group_free without group_new", ops->name);
    pthread_mutex_lock(&reg_lock);
    int rc = 0;
    for (int i = 0; i < n_registered; i++)
        if (strcmp(registry[i]->name, ops->name) == 0)
            rc = cor_error_set(err, COR_EEXIST, "a DM named %s is already registered", ops->name);
    if (rc == 0 && n_registered == MAX_DMS)
        rc = cor_error_set(err, COR_ENOMEM, "more than %d DMs", MAX_DMS);
    if (rc == 0)
        registry[n_registered++] = ops;
    pthread_mutex_unlock(&reg_lock);
    return rc;
}

const cor_dm_ops_t *cor_dm_find(const char *name)
{
    pthread_once(&builtin_once, builtins);
    const cor_dm_ops_t *found = NULL;
    pthread_mutex_lock(&reg_lock);
    for (int i = 0; i < n_registered && found == NULL; i++)
        if (strcmp(registry[i]->name, name) == 0)
            found = registry[i];
    pthread_mutex_unlock(&reg_lock);
    return found;
}

void cor_dm_names_with(unsigned caps, char *buf, size_t len)
{
    pthread_once(&builtin_once, builtins);
    size_t n = 0;
    buf[0] = '\0';
    pthread_mutex_lock(&reg_lock);
    for (int i = 0; i < n_registered; i++) {
        if ((registry[i]->caps & caps) != caps)
            continue;
        int w = snprintf(buf + n, len - n, "%s%s", n ? " or " : "", registry[i]->name);
        if (w < 0 || (size_t)w >= len - n)
            break;
        n += (size_t)w;
    }
    pthread_mutex_unlock(&reg_lock);
    if (n == 0)
        snprintf(buf, len, "no DM");
}

static void known_names(char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    pthread_mutex_lock(&reg_lock);
    for (int i = 0; i < n_registered; i++) {
        int w = snprintf(buf + n, len - n, "%s%s", i ? ", " : "", registry[i]->name);
        if (w < 0 || (size_t)w >= len - n)
            break;
        n += (size_t)w;
    }
    pthread_mutex_unlock(&reg_lock);
    if (n == 0)
        snprintf(buf, len, "none");
}

int cor_dm_chain_check(const cor_dm_chain_t *c, cor_error_t *err)
{
    const cor_dm_ops_t *ops[COR_DM_MAX_CHAIN];
    for (int i = 0; i < c->n; i++) {
        const cor_dm_entry_t *e = &c->dms[i];
        ops[i] = cor_dm_find(e->name);
        if (ops[i] == NULL) {
            char names[512];
            known_names(names, sizeof(names));
            return cor_error_set(err, COR_EINVAL,
                                 "unknown deployment manager '%s' (column %d); known: %s", e->name,
                                 e->column, names);
        }
        for (int j = 0; j < e->n_params; j++) {
            int declared = 0;
            for (const cor_dm_param_spec_t *p = ops[i]->params; p && p->name; p++)
                declared |= strcmp(p->name, e->params[j].name) == 0;
            if (!declared)
                return cor_error_set(err, COR_EINVAL, "%s has no parameter '%s'", e->name,
                                     e->params[j].name);
        }
        for (const cor_dm_param_spec_t *p = ops[i]->params; p && p->name; p++)
            if (p->required && cor_dm_param(e, p->name) == NULL)
                return cor_error_set(err, COR_EINVAL, "%s needs parameter '%s' (%s)", e->name,
                                     p->name, p->help ? p->help : "");
        if (ops[i]->validate != NULL) {
            int rc = ops[i]->validate(e, err);
            if (rc != 0)
                return rc;
        }
    }
    for (int i = 0; i < c->n; i++) {
        for (int j = i + 1; j < c->n; j++) {
            unsigned clash = (ops[i]->exclusive & ops[j]->caps) | (ops[j]->exclusive & ops[i]->caps);
            if (clash)
                return cor_error_set(err, COR_EINVAL,
                                     "%s and %s conflict: both decide %s", c->dms[i].name,
                                     c->dms[j].name,
                                     clash & COR_DM_CAP_REPLICAS     ? "how many replicas exist"
                                     : clash & COR_DM_CAP_CACHE      ? "caching"
                                     : clash & COR_DM_CAP_RETRY      ? "retries"
                                     : clash & COR_DM_CAP_DEDUP      ? "deduplication"
                                     : clash & COR_DM_CAP_SERIAL     ? "call ordering"
                                     : clash & COR_DM_CAP_FROZEN     ? "mutability"
                                     : clash & COR_DM_CAP_PLACEMENT  ? "placement"
                                                                     : "checkpoints");
        }
        unsigned needs = ops[i]->needs;
        for (int j = i + 1; j < c->n; j++)
            needs &= ~ops[j]->caps;
        if (needs)
            return cor_error_set(err, COR_EINVAL,
                                 "%s needs a DM inside it (after it in the chain) that %s",
                                 c->dms[i].name,
                                 needs & COR_DM_CAP_DEDUP ? "deduplicates calls"
                                 : needs & COR_DM_CAP_REPLICAS ? "makes replicas"
                                                               : "provides what it needs");
    }
    return 0;
}

/* ---------------- placement ---------------- */

int cor_dm_chain_placement(const cor_dm_chain_t *c, const char *selector, char *buf, size_t len,
                           cor_error_t *err)
{
    /* Terms with where each came from, for the contradiction message. */
    cor_selector_t all = {.n = 0};
    const char *from[COR_SELECTOR_MAX_TERMS];
    cor_selector_t s;
    if (cor_selector_parse(selector, &s, err) != 0)
        return err->code;
    for (int i = 0; i < s.n; i++) {
        all.terms[all.n] = s.terms[i];
        from[all.n++] = "the selector";
    }
    for (int i = 0; i < c->n; i++) {
        const cor_dm_ops_t *ops = cor_dm_find(c->dms[i].name);
        if (ops == NULL || ops->placement == NULL)
            continue;
        char terms[512];
        int rc = ops->placement(&c->dms[i], terms, sizeof(terms), err);
        if (rc == 0)
            rc = cor_selector_parse(terms, &s, err);
        if (rc != 0)
            return rc;
        for (int j = 0; j < s.n; j++) {
            if (all.n == COR_SELECTOR_MAX_TERMS)
                return cor_error_set(err, COR_EINVAL, "placement has more than %d terms",
                                     COR_SELECTOR_MAX_TERMS);
            all.terms[all.n] = s.terms[j];
            from[all.n++] = c->dms[i].name;
        }
    }
    for (int i = 0; i < all.n; i++)
        for (int j = i + 1; j < all.n; j++)
            if (all.terms[i].op == COR_SEL_EQ && all.terms[j].op == COR_SEL_EQ &&
                strcmp(all.terms[i].l.key, all.terms[j].l.key) == 0 &&
                strcmp(all.terms[i].l.value, all.terms[j].l.value) != 0)
                return cor_error_set(err, COR_EINVAL,
                                     "placement contradicts itself: %s wants %s=%s, %s wants %s=%s",
                                     from[i], all.terms[i].l.key, all.terms[i].l.value, from[j],
                                     all.terms[j].l.key, all.terms[j].l.value);
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < all.n; i++) {
        const char *op = all.terms[i].op == COR_SEL_EQ ? "=" : all.terms[i].op == COR_SEL_NE ? "!=" : "";
        int w = snprintf(buf + n, len - n, "%s%s%s%s", i ? "," : "", all.terms[i].l.key, op,
                         all.terms[i].op == COR_SEL_EXISTS ? "" : all.terms[i].l.value);
        if (w < 0 || (size_t)w >= len - n)
            return cor_error_set(err, COR_EINVAL, "placement selector is too long");
        n += (size_t)w;
    }
    return 0;
}

unsigned cor_dm_chain_caps(const cor_dm_chain_t *c)
{
    unsigned caps = 0;
    for (int i = 0; i < c->n; i++) {
        const cor_dm_ops_t *ops = cor_dm_find(c->dms[i].name);
        if (ops != NULL)
            caps |= ops->caps;
    }
    return caps;
}

/* ---------------- helpers for DM authors ---------------- */

long long cor_dm_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cor_dm_transport_failure(int rc)
{
    return rc == COR_EUNAVAIL || rc == COR_ETIMEDOUT || rc == COR_ECANCELLED;
}

int cor_dm_param_label(const cor_dm_entry_t *e, const char *name, cor_error_t *err)
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
