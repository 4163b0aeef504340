/*
 * replay_main.c — main() for fuzz targets in ordinary (non-libFuzzer)
 * builds: runs every file named on the command line, and every regular file
 * inside every directory named, through LLVMFuzzerTestOneInput once, in
 * name order. This is how ctest replays the checked-in seed corpora
 * (tests/fuzz/corpus/<name>/) and how a crash file from a fuzzing run is
 * reproduced under gdb or valgrind without clang.
 *
 * Each input is copied into a heap buffer of exactly its size, so an
 * AddressSanitizer build catches a read one byte past the end. Exit status:
 * 0 when every input ran, 1 when a path could not be read or no input was
 * found (an empty or misspelt corpus path must not pass silently); a broken
 * invariant aborts inside the target.
 */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Weak: only targets with a fixture define it. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static int run_file(const char *path, size_t *count)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    size_t n;
    while (buf != NULL && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap *= 2);
            if (nb == NULL)
                free(buf);
            buf = nb;
        }
    }
    int bad = buf == NULL || ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "replay: %s: read failed\n", path);
        free(buf);
        return -1;
    }
    /* Exactly len bytes, so an overread is out of bounds. */
    uint8_t *exact = malloc(len ? len : 1);
    if (exact == NULL) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, len);
    free(buf);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    (*count)++;
    return 0;
}

static int only_files(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

static int run_path(const char *path, size_t *count)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return run_file(path, count);
    struct dirent **names;
    int n = scandir(path, &names, only_files, alphasort);
    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rv = 0;
    for (int i = 0; i < n; i++) {
        size_t plen = strlen(path) + strlen(names[i]->d_name) + 2;
        char *p = malloc(plen);
        if (p != NULL) {
            snprintf(p, plen, "%s/%s", path, names[i]->d_name);
            if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && run_file(p, count) != 0)
                rv = -1;
        } else {
            rv = -1;
        }
        free(p);
        free(names[i]);
    }
    free(names);
    return rv;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n"
                        "Runs each input (each file of each directory) through the fuzz target once.\n",
                argv[0]);
        return 1;
    }
    if (LLVMFuzzerInitialize != NULL)
        LLVMFuzzerInitialize(&argc, &argv);
    size_t count = 0;
    int rv = 0;
    for (int i = 1; i < argc; i++)
        if (run_path(argv[i], &count) != 0)
            rv = 1;
    if (count == 0) {
        fprintf(stderr, "replay: no inputs found\n");
        rv = 1;
    }
    printf("replayed %zu input(s)\n", count);
    return rv;
}
