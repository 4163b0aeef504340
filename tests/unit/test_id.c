/*
 * test_id.c — object ids: generation, printing, parsing, bad input.
 */
#include <cor/error.h>
#include <cor/id.h>

#include <string.h>

#include "testlib.h"

static void test_generate_unique(void)
{
    cor_object_id_t a, b;
    cor_object_id_generate(&a);
    cor_object_id_generate(&b);
    CU_ASSERT_FALSE(cor_object_id_is_nil(&a));
    CU_ASSERT_FALSE(cor_object_id_equal(&a, &b));
}

static void test_format_parse(void)
{
    cor_object_id_t a, b;
    cor_object_id_generate(&a);
    char s[COR_OBJECT_ID_STRLEN + 1];
    cor_object_id_format(&a, s);
    CU_ASSERT_EQUAL(strlen(s), 32);
    for (size_t i = 0; i < 32; i++)
        CU_ASSERT(strchr("0123456789abcdef", s[i]) != NULL);
    CU_ASSERT_EQUAL(cor_object_id_parse(s, &b), 0);
    CU_ASSERT_TRUE(cor_object_id_equal(&a, &b));

    CU_ASSERT_EQUAL(cor_object_id_parse("000102030405060708090A0B0C0D0E0F", &b), 0);
    for (int i = 0; i < 16; i++)
        CU_ASSERT_EQUAL(b.b[i], i);
    cor_object_id_format(&b, s);
    CU_ASSERT_STRING_EQUAL(s, "000102030405060708090a0b0c0d0e0f");
}

static void test_parse_rejects(void)
{
    cor_object_id_t id, before;
    cor_object_id_generate(&id);
    before = id;
    const char *bad[] = {"", "abc", "000102030405060708090a0b0c0d0e0",
                         "000102030405060708090a0b0c0d0e0f0", "g00102030405060708090a0b0c0d0e0f",
                         "00010203-0405-0607-0809-0a0b0c0d", NULL};
    for (int i = 0; bad[i]; i++) {
        CU_ASSERT_EQUAL(cor_object_id_parse(bad[i], &id), COR_EINVAL);
        CU_ASSERT_TRUE(cor_object_id_equal(&id, &before)); /* untouched */
    }
    CU_ASSERT_EQUAL(cor_object_id_parse(NULL, &id), COR_EINVAL);
}

static void test_from_bytes(void)
{
    unsigned char raw[17] = {1, 2, 3};
    cor_object_id_t id;
    CU_ASSERT_EQUAL(cor_object_id_from_bytes(raw, 16, &id), 0);
    CU_ASSERT_EQUAL(id.b[2], 3);
    CU_ASSERT_EQUAL(cor_object_id_from_bytes(raw, 15, &id), COR_EINVAL);
    CU_ASSERT_EQUAL(cor_object_id_from_bytes(raw, 17, &id), COR_EINVAL);
    CU_ASSERT_EQUAL(cor_object_id_from_bytes(NULL, 16, &id), COR_EINVAL);
}

int main(void)
{
    static const cor_test_t tests[] = {
        {"generate unique", test_generate_unique},
        {"format and parse", test_format_parse},
        {"parse rejects bad input", test_parse_rejects},
        {"from bytes", test_from_bytes},
        {NULL, NULL},
    };
    return cor_test_main("id", tests, NULL, NULL);
}
