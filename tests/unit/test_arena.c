/*
 * test_arena.c — the per-call arena: alignment, growth past the inline
 * block, the size cap that bounds hostile messages, and use as protobuf-c's
 * allocator.
 */
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "cor/kernel.pb-c.h"
#include "testlib.h"

static void test_alignment_and_growth(void)
{
    cor_arena_t a;
    cor_arena_init(&a, 0);
    for (int i = 1; i < 2000; i += 37) {
        unsigned char *p = cor_arena_alloc(&a, (size_t)i);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        CU_ASSERT_EQUAL((uintptr_t)p % 16, 0);
        memset(p, 0xab, (size_t)i); /* valgrind/ASan catch overlap or overrun */
    }
    CU_ASSERT_PTR_NOT_NULL(a.blocks); /* grew past the inline block */
    void *big = cor_arena_alloc(&a, 100000);
    CU_ASSERT_PTR_NOT_NULL(big);
    cor_arena_reset(&a);
    CU_ASSERT_PTR_NULL(a.blocks);
    CU_ASSERT_PTR_NOT_NULL(cor_arena_alloc(&a, 10));
    cor_arena_close(&a);
}

static void test_cap(void)
{
    cor_arena_t a;
    cor_arena_init(&a, 16384);
    CU_ASSERT_PTR_NOT_NULL(cor_arena_alloc(&a, 10000));
    CU_ASSERT_PTR_NULL(cor_arena_alloc(&a, 10000)); /* over the cap */
    CU_ASSERT_PTR_NULL(cor_arena_alloc(&a, SIZE_MAX)); /* overflow */
    cor_arena_close(&a);
}

static void test_protobuf_allocator(void)
{
    Cor__InvokeRequest m = COR__INVOKE_REQUEST__INIT;
    unsigned char id[16] = {9};
    m.object_id.data = id;
    m.object_id.len = 16;
    m.method = (char *)"Say";
    m.seq = 42;
    uint8_t buf[256];
    size_t n = cor__invoke_request__pack(&m, buf);
    cor_arena_t a;
    cor_arena_init(&a, 0);
    Cor__InvokeRequest *u = cor__invoke_request__unpack(&a.pb, n, buf);
    CU_ASSERT_PTR_NOT_NULL_FATAL(u);
    CU_ASSERT_STRING_EQUAL(u->method, "Say");
    CU_ASSERT_EQUAL(u->seq, 42);
    CU_ASSERT_EQUAL(u->object_id.len, 16);
    /* No free_unpacked: the arena owns everything (valgrind checks). */
    cor_arena_close(&a);
}

int main(void)
{
    static const cor_test_t tests[] = {
        {"alignment and growth", test_alignment_and_growth},
        {"size cap", test_cap},
        {"protobuf-c allocator", test_protobuf_allocator},
        {NULL, NULL},
    };
    return cor_test_main("arena", tests, NULL, NULL);
}
