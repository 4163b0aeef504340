/*
 * testlib.c — see testlib.h.
 */
#include "testlib.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int cor_test_main(const char *suite, const cor_test_t *tests, int (*init)(void),
                  int (*cleanup)(void))
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite s = CU_add_suite(suite, init, cleanup);
    if (s == NULL)
        return 2;
    for (const cor_test_t *t = tests; t->name != NULL; t++)
        if (CU_add_test(s, t->name, t->fn) == NULL)
            return 2;
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    unsigned ran = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    if (ran == 0) {
        fprintf(stderr, "%s: no test ran\n", suite);
        return 1;
    }
    return failed == 0 ? 0 : 1;
}

void cor_test_tmp_path(char *out, size_t len, const char *tag)
{
    static int n;
    const char *dir = getenv("TMPDIR");
    snprintf(out, len, "%s/cor-test-%d-%d-%s", dir && dir[0] ? dir : "/tmp", (int)getpid(), n++,
             tag);
}

void cor_test_kernel_data_dir(char *out, size_t len, const char *name)
{
    const char *dir = getenv("TMPDIR");
    snprintf(out, len, "%s/cor-test-%d-kdata-%s", dir && dir[0] ? dir : "/tmp", (int)getpid(),
             name);
}

void cor_test_remove_kernel_data(void)
{
    const char *dir = getenv("TMPDIR");
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf %s/cor-test-%d-kdata-*", dir && dir[0] ? dir : "/tmp",
             (int)getpid());
    if (system(cmd) != 0)
        fprintf(stderr, "testlib: could not remove the kernels' data directories\n");
}

long long cor_test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
