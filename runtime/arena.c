/*
 * arena.c — per-call bump allocator; see arena.h.
 */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>

struct cor_arena_block {
    cor_arena_block_t *next;
    size_t size;
    _Alignas(16) unsigned char data[];
};

static void *pb_alloc(void *data, size_t size)
{
    return cor_arena_alloc(data, size);
}

static void pb_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr; /* freed with the arena */
}

void cor_arena_init(cor_arena_t *a, size_t max_total)
{
    a->pb.alloc = pb_alloc;
    a->pb.free = pb_free;
    a->pb.allocator_data = a;
    a->cur = a->first;
    a->end = a->first + sizeof(a->first);
    a->blocks = NULL;
    a->max_total = max_total;
    a->total = 0;
}

void *cor_arena_alloc(cor_arena_t *a, size_t size)
{
    size_t need = (size + 15) & ~(size_t)15;
    if (need < size)
        return NULL; /* overflow */
    if ((size_t)(a->end - a->cur) >= need) {
        void *p = a->cur;
        a->cur += need;
        return p;
    }
    size_t bsize = need > 8192 ? need : 8192;
    if (a->max_total != 0 && a->total + bsize > a->max_total)
        return NULL;
    cor_arena_block_t *b = malloc(sizeof(*b) + bsize);
    if (b == NULL)
        return NULL;
    b->next = a->blocks;
    b->size = bsize;
    a->blocks = b;
    a->total += bsize;
    a->cur = b->data + need;
    a->end = b->data + bsize;
    return b->data;
}

void cor_arena_reset(cor_arena_t *a)
{
    cor_arena_close(a);
    a->cur = a->first;
    a->end = a->first + sizeof(a->first);
}

void cor_arena_close(cor_arena_t *a)
{
    cor_arena_block_t *b = a->blocks;
    while (b != NULL) {
        cor_arena_block_t *next = b->next;
        free(b);
        b = next;
    }
    a->blocks = NULL;
    a->total = 0;
}
