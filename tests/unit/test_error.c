/*
 * test_error.c — error codes: names, descriptions, gRPC mapping both ways,
 * and message building (set, prefix, truncation).
 */
#include <cor/error.h>

#include <string.h>

#include "testlib.h"

static void test_names_round_trip(void)
{
    int codes[] = {
#define X(name, value, grpc, desc) COR_##name,
        COR_ERRORS(X)
#undef X
    };
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        const char *n = cor_error_name(codes[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(n);
        CU_ASSERT_EQUAL(cor_error_from_name(n, strlen(n)), codes[i]);
        CU_ASSERT_STRING_NOT_EQUAL(cor_strerror(codes[i]), "unknown error");
    }
    CU_ASSERT_PTR_NULL(cor_error_name(-999));
    CU_ASSERT_STRING_EQUAL(cor_strerror(-999), "unknown error");
    CU_ASSERT_EQUAL(cor_error_from_name("NOPE", 4), COR_EINTERNAL);
    CU_ASSERT_EQUAL(cor_error_from_name("OK", 2), COR_OK);
}

static void test_grpc_mapping(void)
{
    CU_ASSERT_EQUAL(cor_error_to_grpc(COR_OK), 0);
    CU_ASSERT_EQUAL(cor_error_to_grpc(COR_EINVAL), 3);       /* INVALID_ARGUMENT */
    CU_ASSERT_EQUAL(cor_error_to_grpc(COR_ENOTFOUND), 5);    /* NOT_FOUND */
    CU_ASSERT_EQUAL(cor_error_to_grpc(COR_EUNAVAIL), 14);    /* UNAVAILABLE */
    CU_ASSERT_EQUAL(cor_error_to_grpc(COR_ETIMEDOUT), 4);    /* DEADLINE_EXCEEDED */
    CU_ASSERT_EQUAL(cor_error_to_grpc(COR_EUNIMPL), 12);     /* UNIMPLEMENTED */
    CU_ASSERT_EQUAL(cor_error_to_grpc(COR_ETOOBIG), 8);      /* RESOURCE_EXHAUSTED */
    CU_ASSERT_EQUAL(cor_error_to_grpc(-999), 2);             /* UNKNOWN */
    /* Every gRPC code maps to some Corundum code, and back to itself when
     * the code is the canonical one for it. */
    for (int g = 1; g <= 16; g++) {
        int c = cor_error_from_grpc(g);
        CU_ASSERT(c < 0);
    }
    int canonical[] = {COR_ECANCELLED, COR_EINVAL, COR_ETIMEDOUT, COR_ENOTFOUND, COR_EEXIST,
                       COR_EPERM, COR_ESTATE, COR_EABORTED, COR_EUNIMPL, COR_EINTERNAL,
                       COR_EUNAVAIL, COR_EAUTH};
    for (size_t i = 0; i < sizeof(canonical) / sizeof(canonical[0]); i++)
        CU_ASSERT_EQUAL(cor_error_from_grpc(cor_error_to_grpc(canonical[i])), canonical[i]);
    CU_ASSERT_EQUAL(cor_error_from_grpc(0), COR_OK);
    CU_ASSERT_EQUAL(cor_error_from_grpc(99), COR_EINTERNAL);
}

static void test_set_and_prefix(void)
{
    cor_error_t e;
    cor_error_clear(&e);
    CU_ASSERT_EQUAL(e.code, COR_OK);
    CU_ASSERT_STRING_EQUAL(e.msg, "");
    cor_error_prefix(&e, "ignored"); /* no-op on OK */
    CU_ASSERT_STRING_EQUAL(e.msg, "");
    CU_ASSERT_EQUAL(cor_error_set(&e, COR_ENOTFOUND, "no key %s", "k1"), COR_ENOTFOUND);
    CU_ASSERT_EQUAL(e.code, COR_ENOTFOUND);
    CU_ASSERT_STRING_EQUAL(e.msg, "no key k1");
    cor_error_prefix(&e, "kv.Get on object %s", "abc");
    CU_ASSERT_STRING_EQUAL(e.msg, "kv.Get on object abc: no key k1");
    CU_ASSERT_EQUAL(cor_error_set(NULL, COR_EINVAL, "x"), COR_EINVAL);
}

static void test_truncation(void)
{
    cor_error_t e;
    char big[1000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cor_error_set(&e, COR_EINVAL, "%s", big);
    CU_ASSERT_EQUAL(strlen(e.msg), COR_ERROR_MSG_MAX - 1);
    CU_ASSERT_STRING_EQUAL(e.msg + COR_ERROR_MSG_MAX - 4, "...");
    cor_error_set(&e, COR_EINVAL, "short");
    cor_error_prefix(&e, "%s", big);
    CU_ASSERT_EQUAL(strlen(e.msg), COR_ERROR_MSG_MAX - 1);
    CU_ASSERT_STRING_EQUAL(e.msg + COR_ERROR_MSG_MAX - 4, "...");
}

int main(void)
{
    static const cor_test_t tests[] = {
        {"names round trip", test_names_round_trip},
        {"gRPC mapping", test_grpc_mapping},
        {"set and prefix", test_set_and_prefix},
        {"truncation", test_truncation},
        {NULL, NULL},
    };
    return cor_test_main("error", tests, NULL, NULL);
}
