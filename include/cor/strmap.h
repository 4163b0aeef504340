/*
 * cor/strmap.h — a hash map from NUL-terminated string keys to pointers,
 * for DM parts and applications that need a table (the runtime and the
 * OMS use it too). Keys are copied; values are the caller's. Chained
 * buckets, grows at load 1. Not thread-safe: the owner locks.
 */
#ifndef COR_STRMAP_H
#define COR_STRMAP_H

#include <stddef.h>

typedef struct cor_strmap_entry cor_strmap_entry_t;

typedef struct cor_strmap {
    cor_strmap_entry_t **buckets;
    size_t nbuckets, len;
} cor_strmap_t;

/* 0, or COR_ENOMEM. */
int cor_strmap_init(cor_strmap_t *m);
/* Frees the map and its key copies (not the values). */
void cor_strmap_close(cor_strmap_t *m);
void *cor_strmap_get(const cor_strmap_t *m, const char *key);
/* Inserts or replaces; *old (if not NULL) gets the replaced value or NULL.
 * 0 or COR_ENOMEM (map unchanged). */
int cor_strmap_put(cor_strmap_t *m, const char *key, void *value, void **old);
/* Removes key; returns its value or NULL. */
void *cor_strmap_del(cor_strmap_t *m, const char *key);
/* Calls fn for each entry (stop early by returning non-zero). */
void cor_strmap_each(const cor_strmap_t *m, int (*fn)(void *arg, const char *key, void *value),
                     void *arg);

#endif
