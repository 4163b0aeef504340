/*
 * idmap.c — id → pointer hash map; see idmap.h.
 */
#include "idmap.h"

#include <cor/error.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t hash_id(const cor_object_id_t *id)
{
    uint64_t h;
    memcpy(&h, id->b, sizeof(h));
    /* Ids are random, but tests and tools make sequential ones: mix. */
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    return (size_t)h;
}

void cor_idmap_init(cor_idmap_t *m)
{
    m->slots = NULL;
    m->cap = 0;
    m->len = 0;
}

void cor_idmap_close(cor_idmap_t *m)
{
    free(m->slots);
    cor_idmap_init(m);
}

void *cor_idmap_get(const cor_idmap_t *m, const cor_object_id_t *key)
{
    if (m->cap == 0)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = hash_id(key) & mask;; i = (i + 1) & mask) {
        const cor_idmap_slot_t *s = &m->slots[i];
        if (s->value == NULL)
            return NULL;
        if (cor_object_id_equal(&s->key, key))
            return s->value;
    }
}

static int grow(cor_idmap_t *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 16;
    cor_idmap_slot_t *ns = calloc(ncap, sizeof(*ns));
    if (ns == NULL)
        return COR_ENOMEM;
    for (size_t j = 0; j < m->cap; j++) {
        cor_idmap_slot_t *s = &m->slots[j];
        if (s->value == NULL)
            continue;
        size_t i = hash_id(&s->key) & (ncap - 1);
        while (ns[i].value != NULL)
            i = (i + 1) & (ncap - 1);
        ns[i] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

int cor_idmap_put(cor_idmap_t *m, const cor_object_id_t *key, void *value)
{
    if (cor_idmap_get(m, key) != NULL)
        return COR_EEXIST;
    if ((m->len + 1) * 10 > m->cap * 7) {
        int rc = grow(m);
        if (rc != 0)
            return rc;
    }
    size_t mask = m->cap - 1;
    size_t i = hash_id(key) & mask;
    while (m->slots[i].value != NULL)
        i = (i + 1) & mask;
    m->slots[i].key = *key;
    m->slots[i].value = value;
    m->len++;
    return 0;
}

void *cor_idmap_del(cor_idmap_t *m, const cor_object_id_t *key)
{
    if (m->cap == 0)
        return NULL;
    size_t mask = m->cap - 1;
    size_t i = hash_id(key) & mask;
    for (;; i = (i + 1) & mask) {
        if (m->slots[i].value == NULL)
            return NULL;
        if (cor_object_id_equal(&m->slots[i].key, key))
            break;
    }
    void *value = m->slots[i].value;
    /* Backward-shift: pull later members of the probe run into the hole. */
    size_t hole = i;
    for (size_t j = (i + 1) & mask; m->slots[j].value != NULL; j = (j + 1) & mask) {
        size_t home = hash_id(&m->slots[j].key) & mask;
        /* j may move to hole if home is not cyclically in (hole, j]. */
        int between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!between) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    memset(&m->slots[hole], 0, sizeof(m->slots[hole]));
    m->len--;
    return value;
}

void cor_idmap_each(const cor_idmap_t *m, void (*fn)(void *arg, const cor_object_id_t *key, void *value),
                    void *arg)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].value != NULL)
            fn(arg, &m->slots[i].key, m->slots[i].value);
}
