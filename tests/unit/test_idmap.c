/*
 * test_idmap.c — the id → pointer map: put/get/del, growth, deletion that
 * keeps probe runs intact, checked against a plain array model.
 */
#include <cor/error.h>

#include <stdlib.h>
#include <string.h>

#include "idmap.h"
#include "testlib.h"

static cor_object_id_t seq_id(unsigned i)
{
    cor_object_id_t id;
    memset(&id, 0, sizeof(id));
    memcpy(id.b, &i, sizeof(i));
    id.b[15] = 1; /* never nil */
    return id;
}

static void test_basic(void)
{
    cor_idmap_t m;
    cor_idmap_init(&m);
    cor_object_id_t a = seq_id(1), b = seq_id(2);
    int x, y;
    CU_ASSERT_PTR_NULL(cor_idmap_get(&m, &a));
    CU_ASSERT_PTR_NULL(cor_idmap_del(&m, &a));
    CU_ASSERT_EQUAL(cor_idmap_put(&m, &a, &x), 0);
    CU_ASSERT_EQUAL(cor_idmap_put(&m, &a, &y), COR_EEXIST);
    CU_ASSERT_PTR_EQUAL(cor_idmap_get(&m, &a), &x); /* unchanged */
    CU_ASSERT_EQUAL(cor_idmap_put(&m, &b, &y), 0);
    CU_ASSERT_EQUAL(m.len, 2);
    CU_ASSERT_PTR_EQUAL(cor_idmap_del(&m, &a), &x);
    CU_ASSERT_PTR_NULL(cor_idmap_get(&m, &a));
    CU_ASSERT_PTR_EQUAL(cor_idmap_get(&m, &b), &y);
    cor_idmap_close(&m);
}

static void test_against_model(void)
{
    enum { N = 20000 };
    cor_idmap_t m;
    cor_idmap_init(&m);
    static char present[N];
    memset(present, 0, sizeof(present));
    srand(7);
    for (int step = 0; step < 200000; step++) {
        unsigned k = (unsigned)rand() % N;
        cor_object_id_t id = seq_id(k);
        int op = rand() % 3;
        if (op == 0) {
            int rc = cor_idmap_put(&m, &id, &present[k]);
            CU_ASSERT_EQUAL(rc, present[k] ? COR_EEXIST : 0);
            present[k] = 1;
        } else if (op == 1) {
            void *v = cor_idmap_del(&m, &id);
            CU_ASSERT_PTR_EQUAL(v, present[k] ? &present[k] : NULL);
            present[k] = 0;
        } else {
            void *v = cor_idmap_get(&m, &id);
            CU_ASSERT_PTR_EQUAL(v, present[k] ? &present[k] : NULL);
        }
    }
    size_t count = 0;
    for (unsigned k = 0; k < N; k++) {
        cor_object_id_t id = seq_id(k);
        if (present[k]) {
            count++;
            CU_ASSERT_PTR_EQUAL(cor_idmap_get(&m, &id), &present[k]);
        } else {
            CU_ASSERT_PTR_NULL(cor_idmap_get(&m, &id));
        }
    }
    CU_ASSERT_EQUAL(m.len, count);
    cor_idmap_close(&m);
}

int main(void)
{
    static const cor_test_t tests[] = {
        {"basic", test_basic},
        {"matches a model under random ops", test_against_model},
        {NULL, NULL},
    };
    return cor_test_main("idmap", tests, NULL, NULL);
}
