/*
 * cor_check_main.c — cor-check: verifies recorded histories against a
 * consistency model (docs/checker.md).
 *
 *   cor-check --model register|counter|set [--max-steps N] FILE...
 *
 * The files are merged into one history (one per client process is fine).
 * Exit codes: 0 the history satisfies the model, 1 it does not (the
 * explanation names the object and the operation as FILE:LINE), 2 usage
 * or malformed input ("FILE:LINE: what was wrong"), 3 undecided (the
 * register search hit its limit: neither proven nor refuted).
 * Results go to stdout, input errors to stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: cor-check --model register|counter|set [--max-steps N] FILE...\n"
               "exit: 0 ok, 1 violation, 2 bad usage or input, 3 undecided\n");
}

int main(int argc, char **argv)
{
    const char *model = NULL;
    cor_check_opts_t opts = {0};
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "cor-check: %s needs a value\n", argv[i]);
            usage(stderr);
            return 2;
        }
        if (strcmp(argv[i], "--model") == 0) {
            model = argv[++i];
        } else if (strcmp(argv[i], "--max-steps") == 0) {
            char *end;
            unsigned long long v = strtoull(argv[++i], &end, 10);
            if (argv[i][0] < '1' || argv[i][0] > '9' || *end != '\0') {
                fprintf(stderr, "cor-check: --max-steps needs a positive number\n");
                return 2;
            }
            opts.max_steps = v;
        } else {
            fprintf(stderr, "cor-check: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (model == NULL || i >= argc) {
        fprintf(stderr, "cor-check: %s\n", model == NULL ? "--model is required" : "no FILE given");
        usage(stderr);
        return 2;
    }
    if (strcmp(model, "register") != 0 && strcmp(model, "counter") != 0 &&
        strcmp(model, "set") != 0) {
        fprintf(stderr, "cor-check: unknown model '%s' (register, counter or set)\n", model);
        return 2;
    }

    cor_history_t h;
    cor_history_init(&h);
    char msg[512];
    for (; i < argc; i++) {
        if (cor_history_load(&h, argv[i], msg, sizeof(msg)) != 0) {
            fprintf(stderr, "%s\n", msg);
            cor_history_close(&h);
            return COR_CHECK_BAD_INPUT;
        }
    }
    /* Bad input found while checking (a process overlapping itself, an op
     * outside the model) is reported on stderr like a parse error. */
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (out == NULL) {
        fprintf(stderr, "cor-check: out of memory\n");
        cor_history_close(&h);
        return 2;
    }
    cor_check_result_t r = cor_check_history(model, &h, &opts, out);
    fclose(out);
    fputs(text, r == COR_CHECK_BAD_INPUT ? stderr : stdout);
    free(text);
    cor_history_close(&h);
    return (int)r;
}
