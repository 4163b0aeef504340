/*
 * idmap.h — hash map from object id to pointer (internal).
 *
 * Open addressing with linear probing and backward-shift deletion; ids are
 * random, so their first eight bytes are already a good hash. Grows at 70 %
 * load. 16 + 8 bytes a slot: cheap enough for a million hosted objects.
 * Not thread-safe: the owner locks.
 */
#ifndef COR_IDMAP_H
#define COR_IDMAP_H

#include <stddef.h>

#include <cor/id.h>

typedef struct cor_idmap_slot {
    cor_object_id_t key; /* nil = empty */
    void *value;
} cor_idmap_slot_t;

typedef struct cor_idmap {
    cor_idmap_slot_t *slots;
    size_t cap; /* power of two, or 0 */
    size_t len;
} cor_idmap_t;

void cor_idmap_init(cor_idmap_t *m);
void cor_idmap_close(cor_idmap_t *m);

/* The value for key, or NULL. */
void *cor_idmap_get(const cor_idmap_t *m, const cor_object_id_t *key);

/* Inserts key → value (value not NULL, key not nil). Returns 0, COR_EEXIST
 * if key is present (map unchanged), or COR_ENOMEM. */
int cor_idmap_put(cor_idmap_t *m, const cor_object_id_t *key, void *value);

/* Removes key and returns its value, or NULL if absent. */
void *cor_idmap_del(cor_idmap_t *m, const cor_object_id_t *key);

/* Calls fn for every entry; fn must not change the map. */
void cor_idmap_each(const cor_idmap_t *m, void (*fn)(void *arg, const cor_object_id_t *key, void *value),
                    void *arg);

#endif
