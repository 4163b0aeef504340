/*
 * labels.h — kernel-server labels and placement selectors (internal).
 *
 * A label is key=value; keys and values use [A-Za-z0-9._/-] (values may
 * also be empty), keys at most 63 bytes, values at most 127. A selector is
 * a comma-separated list of terms, each `key=value` (the node must have the
 * label with that value), `key!=value` (it must not), or `key` (it must
 * have the key). Spaces around terms are ignored. Every parse error names
 * the offending term and its position.
 */
#ifndef COR_LABELS_H
#define COR_LABELS_H

#include <stddef.h>

#include <cor/error.h>

#define COR_LABEL_KEY_MAX 63
#define COR_LABEL_VALUE_MAX 127
#define COR_SELECTOR_MAX_TERMS 16

typedef struct cor_label {
    char key[COR_LABEL_KEY_MAX + 1];
    char value[COR_LABEL_VALUE_MAX + 1];
} cor_label_t;

enum cor_sel_op { COR_SEL_EQ, COR_SEL_NE, COR_SEL_EXISTS };

typedef struct cor_selector {
    int n;
    struct {
        enum cor_sel_op op;
        cor_label_t l;
    } terms[COR_SELECTOR_MAX_TERMS];
} cor_selector_t;

/* Parses "key=value" into *out. EINVAL with a message naming the problem. */
int cor_label_parse(const char *s, cor_label_t *out, cor_error_t *err);

/* Parses a selector (NULL or "" = match everything). */
int cor_selector_parse(const char *s, cor_selector_t *out, cor_error_t *err);

/* Does a node with these labels match? get(arg, key) returns the node's
 * value for key or NULL. */
int cor_selector_match(const cor_selector_t *sel, const char *(*get)(void *arg, const char *key),
                       void *arg);

#endif
