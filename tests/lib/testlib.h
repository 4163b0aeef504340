/*
 * testlib.h — small helpers shared by the CUnit suites: run one suite with
 * a table of tests and exit non-zero on any failure, and make unique
 * temporary paths.
 */
#ifndef COR_TESTLIB_H
#define COR_TESTLIB_H

#include <CUnit/CUnit.h>
#include <stddef.h>

typedef struct cor_test {
    const char *name;
    void (*fn)(void);
} cor_test_t;

/* Runs the suite (tests ends with {NULL, NULL}) in CUnit's basic mode.
 * Returns the process exit code: 0 when every assertion passed. */
int cor_test_main(const char *suite, const cor_test_t *tests, int (*init)(void),
                  int (*cleanup)(void));

/* Writes "<TMPDIR or /tmp>/cor-test-<pid>-<n>-<tag>" into out. */
void cor_test_tmp_path(char *out, size_t len, const char *tag);

/* The data directory (--data-dir) of the test's kernel `name`: the same
 * path for every start of that kernel in this test process, so a restart
 * finds what it persisted. Made by the kernel when it first needs it. */
void cor_test_kernel_data_dir(char *out, size_t len, const char *name);

/* Removes every kernel data directory of this test process. */
void cor_test_remove_kernel_data(void);

/* Milliseconds on the monotonic clock. */
long long cor_test_now_ms(void);

#endif
