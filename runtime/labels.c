/*
 * labels.c — labels and selectors; see labels.h.
 */
#include "labels.h"

#include <ctype.h>
#include <string.h>

static int label_char(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '/' || c == '-';
}

/* Checks s[0..n) as a key (nonempty) or value; writes into out (size cap). */
static int check_part(const char *what, const char *s, size_t n, size_t max, int allow_empty,
                      char *out, const char *whole, cor_error_t *err)
{
    if (n == 0 && !allow_empty)
        return cor_error_set(err, COR_EINVAL, "'%s': the %s is empty", whole, what);
    if (n > max)
        return cor_error_set(err, COR_EINVAL, "'%s': the %s is longer than %zu bytes", whole, what,
                             max);
    for (size_t i = 0; i < n; i++)
        if (!label_char(s[i]))
            return cor_error_set(err, COR_EINVAL,
                                 "'%s': character '%c' in the %s is not allowed "
                                 "(letters, digits, . _ / - only)",
                                 whole, s[i], what);
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

int cor_label_parse(const char *s, cor_label_t *out, cor_error_t *err)
{
    const char *eq = strchr(s, '=');
    if (eq == NULL)
        return cor_error_set(err, COR_EINVAL, "label '%s' is not key=value", s);
    cor_label_t l;
    int rc = check_part("key", s, (size_t)(eq - s), COR_LABEL_KEY_MAX, 0, l.key, s, err);
    if (rc == 0)
        rc = check_part("value", eq + 1, strlen(eq + 1), COR_LABEL_VALUE_MAX, 1, l.value, s, err);
    if (rc == 0)
        *out = l;
    return rc;
}

int cor_selector_parse(const char *s, cor_selector_t *out, cor_error_t *err)
{
    cor_selector_t sel = {.n = 0};
    if (s == NULL || s[0] == '\0') {
        *out = sel;
        return 0;
    }
    const char *p = s;
    for (int index = 1;; index++) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len > 0 && p[len - 1] == ' ')
            len--;
        char term[COR_LABEL_KEY_MAX + COR_LABEL_VALUE_MAX + 8];
        if (len == 0)
            return cor_error_set(err, COR_EINVAL, "selector '%s': term %d is empty", s, index);
        if (len >= sizeof(term))
            return cor_error_set(err, COR_EINVAL, "selector '%s': term %d is too long", s, index);
        if (sel.n == COR_SELECTOR_MAX_TERMS)
            return cor_error_set(err, COR_EINVAL, "selector '%s': more than %d terms", s,
                                 COR_SELECTOR_MAX_TERMS);
        memcpy(term, p, len);
        term[len] = '\0';
        cor_error_t perr;
        int rc;
        char *ne = strstr(term, "!="), *eq = strchr(term, '=');
        if (ne != NULL) {
            *ne = '\0';
            sel.terms[sel.n].op = COR_SEL_NE;
            rc = check_part("key", term, strlen(term), COR_LABEL_KEY_MAX, 0,
                            sel.terms[sel.n].l.key, term, &perr);
            if (rc == 0)
                rc = check_part("value", ne + 2, strlen(ne + 2), COR_LABEL_VALUE_MAX, 1,
                                sel.terms[sel.n].l.value, ne + 2, &perr);
        } else if (eq != NULL) {
            *eq = '\0';
            sel.terms[sel.n].op = COR_SEL_EQ;
            rc = check_part("key", term, strlen(term), COR_LABEL_KEY_MAX, 0,
                            sel.terms[sel.n].l.key, term, &perr);
            if (rc == 0)
                rc = check_part("value", eq + 1, strlen(eq + 1), COR_LABEL_VALUE_MAX, 1,
                                sel.terms[sel.n].l.value, eq + 1, &perr);
        } else {
            sel.terms[sel.n].op = COR_SEL_EXISTS;
            sel.terms[sel.n].l.value[0] = '\0';
            rc = check_part("key", term, strlen(term), COR_LABEL_KEY_MAX, 0,
                            sel.terms[sel.n].l.key, term, &perr);
        }
        if (rc != 0)
            return cor_error_set(err, COR_EINVAL, "selector '%s', term %d: %s", s, index, perr.msg);
        sel.n++;
        if (end == NULL)
            break;
        p = end + 1;
    }
    *out = sel;
    return 0;
}

int cor_selector_match(const cor_selector_t *sel, const char *(*get)(void *arg, const char *key),
                       void *arg)
{
    for (int i = 0; i < sel->n; i++) {
        const char *v = get(arg, sel->terms[i].l.key);
        switch (sel->terms[i].op) {
        case COR_SEL_EQ:
            if (v == NULL || strcmp(v, sel->terms[i].l.value) != 0)
                return 0;
            break;
        case COR_SEL_NE:
            if (v != NULL && strcmp(v, sel->terms[i].l.value) == 0)
                return 0;
            break;
        case COR_SEL_EXISTS:
            if (v == NULL)
                return 0;
            break;
        }
    }
    return 1;
}
