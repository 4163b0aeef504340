/*
 * arena.h — per-call bump allocator (internal).
 *
 * Every call served or made locally unpacks its request, builds its reply
 * and packs it; all of that memory dies together when the call ends. An
 * arena hands out aligned pieces from an inline first block and chained heap
 * blocks after it, and frees them all at once in cor_arena_close. It also
 * poses as a ProtobufCAllocator whose free is a no-op, so protobuf-c unpacks
 * straight into it and nothing is freed message by message.
 *
 * Not thread-safe: one arena belongs to one call on one thread at a time.
 */
#ifndef COR_ARENA_H
#define COR_ARENA_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#define COR_ARENA_INLINE 2048

typedef struct cor_arena_block cor_arena_block_t;

typedef struct cor_arena {
    ProtobufCAllocator pb; /* allocator_data points back at the arena */
    unsigned char *cur;    /* next free byte in the current block */
    unsigned char *end;    /* end of the current block */
    cor_arena_block_t *blocks; /* heap blocks, newest first */
    size_t max_total;      /* refuse to grow past this (0: no limit) */
    size_t total;          /* bytes of heap blocks */
    _Alignas(16) unsigned char first[COR_ARENA_INLINE];
} cor_arena_t;

/* Prepares an embedded arena. max_total bounds heap growth (0: unbounded),
 * so a hostile message cannot make one call take unbounded memory. */
void cor_arena_init(cor_arena_t *a, size_t max_total);

/* Returns 16-byte aligned memory valid until cor_arena_close/reset, or NULL
 * when out of memory or over max_total. */
void *cor_arena_alloc(cor_arena_t *a, size_t size);

/* Frees every heap block and makes the arena empty again (reusable). */
void cor_arena_reset(cor_arena_t *a);

/* Frees every heap block. The arena may be re-initialised afterwards. */
void cor_arena_close(cor_arena_t *a);

#endif
