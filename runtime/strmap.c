/*
 * strmap.c — string → pointer hash map; see strmap.h.
 */
#include <cor/strmap.h>

#include <cor/error.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct cor_strmap_entry {
    char *key;
    void *value;
    cor_strmap_entry_t *next;
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    return h;
}

int cor_strmap_init(cor_strmap_t *m)
{
    m->nbuckets = 64;
    m->len = 0;
    m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
    return m->buckets ? 0 : COR_ENOMEM;
}

void cor_strmap_close(cor_strmap_t *m)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        for (cor_strmap_entry_t *e = m->buckets[i]; e != NULL;) {
            cor_strmap_entry_t *next = e->next;
            free(e->key);
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = NULL;
    m->nbuckets = m->len = 0;
}

static cor_strmap_entry_t **slot(const cor_strmap_t *m, const char *key)
{
    cor_strmap_entry_t **p = &m->buckets[fnv1a(key) & (m->nbuckets - 1)];
    while (*p != NULL && strcmp((*p)->key, key) != 0)
        p = &(*p)->next;
    return p;
}

void *cor_strmap_get(const cor_strmap_t *m, const char *key)
{
    cor_strmap_entry_t *e = *slot(m, key);
    return e ? e->value : NULL;
}

static void grow(cor_strmap_t *m)
{
    size_t n = m->nbuckets * 2;
    cor_strmap_entry_t **b = calloc(n, sizeof(*b));
    if (b == NULL)
        return; /* chains just get longer */
    for (size_t i = 0; i < m->nbuckets; i++) {
        for (cor_strmap_entry_t *e = m->buckets[i]; e != NULL;) {
            cor_strmap_entry_t *next = e->next;
            size_t j = fnv1a(e->key) & (n - 1);
            e->next = b[j];
            b[j] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

int cor_strmap_put(cor_strmap_t *m, const char *key, void *value, void **old)
{
    cor_strmap_entry_t **p = slot(m, key);
    if (*p != NULL) {
        if (old != NULL)
            *old = (*p)->value;
        (*p)->value = value;
        return 0;
    }
    cor_strmap_entry_t *e = malloc(sizeof(*e));
    if (e == NULL || (e->key = strdup(key)) == NULL) {
        free(e);
        return COR_ENOMEM;
    }
    e->value = value;
    e->next = NULL;
    *p = e;
    if (old != NULL)
        *old = NULL;
    if (++m->len > m->nbuckets)
        grow(m);
    return 0;
}

void *cor_strmap_del(cor_strmap_t *m, const char *key)
{
    cor_strmap_entry_t **p = slot(m, key);
    cor_strmap_entry_t *e = *p;
    if (e == NULL)
        return NULL;
    *p = e->next;
    void *v = e->value;
    free(e->key);
    free(e);
    m->len--;
    return v;
}

void cor_strmap_each(const cor_strmap_t *m, int (*fn)(void *arg, const char *key, void *value),
                     void *arg)
{
    for (size_t i = 0; i < m->nbuckets; i++)
        for (cor_strmap_entry_t *e = m->buckets[i]; e != NULL; e = e->next)
            if (fn(arg, e->key, e->value) != 0)
                return;
}
