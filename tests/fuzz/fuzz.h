/*
 * fuzz.h — the libFuzzer entry points every tests/fuzz/fuzz_<name>.c
 * defines, declared once so the targets build warning-free as plain
 * programs too (replay_main.c supplies main in that case).
 *
 * Contract for a target: LLVMFuzzerTestOneInput must accept any bytes,
 * must not keep state from one input to the next (anything it builds it
 * tears down before returning; process-wide fixtures made once in
 * LLVMFuzzerInitialize are reset to the same state after every input), and
 * must free everything it allocates, so libFuzzer's -detect_leaks holds.
 * A broken invariant is reported with abort(), which both libFuzzer and
 * ctest see as a failure.
 */
#ifndef COR_FUZZ_H
#define COR_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Optional: a target that needs a fixture defines it; replay_main.c calls
 * it when present (it is weak there). */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Reports a broken invariant (file, line, what) on stderr and aborts. */
#define FUZZ_CHECK(cond)                                                                    \
    do {                                                                                    \
        if (!(cond))                                                                        \
            fuzz_fail(__FILE__, __LINE__, #cond);                                           \
    } while (0)

#include <stdio.h>
#include <stdlib.h>

static inline void fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: fuzz invariant broken: %s\n", file, line, what);
    abort();
}

#endif
