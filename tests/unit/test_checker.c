/*
 * test_checker.c — the history checker (tests/checker/): the parser's
 * errors name the right line; each model accepts hand-written histories
 * that are consistent (overlapping operations, unknown outcomes that did
 * and did not take effect, failed operations) and rejects the anomalies it
 * exists to catch (stale read, invented value, lost acknowledged update,
 * double apply, duplicate); the register search handles thousands of
 * operations per key and says "undecided" rather than pass when it gives
 * up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "history.h"
#include "testlib.h"

/* Output of the last run(), for assertions on what a user reads. */
static char *out_text;

/* Parses text as file "t.hist" and checks it under model. Parse errors
 * return BAD_INPUT with the message as the output. */
static cor_check_result_t run_opts(const char *model, const char *text,
                                   const cor_check_opts_t *opts)
{
    free(out_text);
    out_text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&out_text, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    cor_history_t h;
    cor_history_init(&h);
    char msg[512];
    cor_check_result_t r;
    if (cor_history_parse(&h, "t.hist", text, strlen(text), msg, sizeof(msg)) != 0) {
        fprintf(out, "%s\n", msg);
        r = COR_CHECK_BAD_INPUT;
    } else {
        r = cor_check_history(model, &h, opts, out);
    }
    fclose(out);
    cor_history_close(&h);
    return r;
}

static cor_check_result_t run(const char *model, const char *text)
{
    return run_opts(model, text, NULL);
}

#define ASSERT_OUTPUT_HAS(s)                                                                      \
    do {                                                                                          \
        CU_ASSERT_PTR_NOT_NULL(strstr(out_text, (s)));                                            \
        if (strstr(out_text, (s)) == NULL)                                                        \
            fprintf(stderr, "\nexpected \"%s\" in:\n%s\n", (s), out_text);                        \
    } while (0)

/* ---- parsing ---- */

static void test_parse_fields(void)
{
    cor_history_t h;
    cor_history_init(&h);
    char msg[256];
    const char *text = "# comment\n"
                       "\n"
                       "p=3 obj=k1 op=readall ret=4,-5,6 start=10 end=20 out=ok\n"
                       "  p=4 obj=k1 op=insert arg=7 start=11 out=unknown  \r\n"
                       "p=5 obj=k2 op=readall ret= start=1 end=1 out=ok";
    CU_ASSERT_EQUAL_FATAL(cor_history_parse(&h, "a.hist", text, strlen(text), msg, sizeof(msg)),
                          0);
    CU_ASSERT_EQUAL_FATAL(h.n_ops, 3);
    CU_ASSERT_EQUAL(h.ops[0].process, 3);
    CU_ASSERT_STRING_EQUAL(h.ops[0].obj, "k1");
    CU_ASSERT_EQUAL(h.ops[0].kind, COR_HOP_READALL);
    CU_ASSERT_EQUAL_FATAL(h.ops[0].n_list, 3);
    CU_ASSERT_EQUAL(h.ops[0].list[1], -5);
    CU_ASSERT_EQUAL(h.ops[0].line, 3);
    CU_ASSERT_STRING_EQUAL(h.ops[0].file, "a.hist");
    CU_ASSERT_EQUAL(h.ops[1].out, COR_HOUT_UNKNOWN);
    CU_ASSERT_EQUAL(h.ops[1].end, COR_HOP_END_NEVER);
    CU_ASSERT_EQUAL(h.ops[1].arg, 7);
    CU_ASSERT_EQUAL(h.ops[1].line, 4);
    CU_ASSERT_EQUAL(h.ops[2].n_list, 0);
    CU_ASSERT(h.ops[2].has_ret);
    cor_history_close(&h);
    CU_ASSERT_EQUAL(h.n_ops, 0);
}

static void test_parse_errors_name_the_line(void)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"p=0 obj=x op=read ret=0 start=0 end=1 out=ok\nq=1\n", "t.hist:2: unknown field 'q'"},
        {"\n\np=0 obj=x op=write arg=1 start=0 out=ok\n", "t.hist:3: missing field 'end'"},
        {"p=0 op=write arg=1 start=0 end=1 out=ok\n", "t.hist:1: missing field 'obj'"},
        {"p=0 obj=x op=write arg=1 start=9 end=2 out=ok\n", "t.hist:1: end=2 is before start=9"},
        {"p=0 obj=x op=write arg=0x1 start=0 end=1 out=ok\n", "t.hist:1: arg='0x1' is not"},
        {"p=0 obj=x op=write arg=99999999999999999999 start=0 end=1 out=ok\n", "t.hist:1: arg="},
        {"p=0 obj=x op=swap arg=1 start=0 end=1 out=ok\n", "t.hist:1: unknown op 'swap'"},
        {"p=0 obj=x op=read ret=1 start=0 end=1 out=maybe\n", "t.hist:1: unknown out 'maybe'"},
        {"p=0 obj=x op=read start=0 end=1 out=ok\n", "t.hist:1: missing field 'ret'"},
        {"p=0 obj=x op=write start=0 end=1 out=ok\n", "t.hist:1: missing field 'arg'"},
        {"p=0 obj=x op=read ret=1 ret=2 start=0 end=1 out=ok\n",
         "t.hist:1: field 'ret' given twice"},
        {"p=0 obj=x op=readall ret=1,,2 start=0 end=1 out=ok\n", "t.hist:1: ret='1,,2'"},
        {"p=0 obj=x op=read ret=1 start=0 end=1 out=ok garbage\n", "t.hist:1: field 'garbage'"},
        {"p=0 obj=x op=read ret=1 start=0 end=1 out=fail\n", "t.hist:1: ret= on an operation"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CU_ASSERT_EQUAL(run("register", cases[i].text), COR_CHECK_BAD_INPUT);
        ASSERT_OUTPUT_HAS(cases[i].want);
    }
}

static void test_process_rules(void)
{
    /* Overlapping operations of one process, and reuse after unknown. */
    CU_ASSERT_EQUAL(run("register", "p=0 obj=x op=write arg=1 start=0 end=10 out=ok\n"
                                    "p=0 obj=y op=read ret=0 start=5 end=6 out=ok\n"),
                    COR_CHECK_BAD_INPUT);
    ASSERT_OUTPUT_HAS("t.hist:2: process 0 starts this before its operation at line 1 ended");
    CU_ASSERT_EQUAL(run("register", "p=0 obj=x op=write arg=1 start=0 out=unknown\n"
                                    "p=0 obj=y op=read ret=0 start=5 end=6 out=ok\n"),
                    COR_CHECK_BAD_INPUT);
    ASSERT_OUTPUT_HAS("t.hist:2: process 0 issues an operation after its unknown one");
    /* Back to back (end == next start) is one operation at a time. */
    CU_ASSERT_EQUAL(run("register", "p=0 obj=x op=write arg=1 start=0 end=10 out=ok\n"
                                    "p=0 obj=x op=read ret=1 start=10 end=12 out=ok\n"),
                    COR_CHECK_OK);
}

/* ---- register ---- */

static void test_register_concurrent_ok(void)
{
    /* The long read of 1 is placed between the two writes; the read of 2
     * after both. */
    CU_ASSERT_EQUAL(run("register", "p=0 obj=x op=write arg=1 start=0 end=10 out=ok\n"
                                    "p=1 obj=x op=write arg=2 start=5 end=15 out=ok\n"
                                    "p=2 obj=x op=read ret=2 start=6 end=12 out=ok\n"
                                    "p=3 obj=x op=read ret=1 start=4 end=20 out=ok\n"
                                    "p=4 obj=x op=read ret=0 start=0 end=3 out=ok\n"),
                    COR_CHECK_OK);
    ASSERT_OUTPUT_HAS("ok: 5 operations, 1 objects");
    /* Two concurrent writes may land in either order. */
    CU_ASSERT_EQUAL(run("register", "p=0 obj=x op=write arg=1 start=0 end=10 out=ok\n"
                                    "p=1 obj=x op=write arg=2 start=0 end=10 out=ok\n"
                                    "p=2 obj=x op=read ret=1 start=20 end=30 out=ok\n"),
                    COR_CHECK_OK);
}

static void test_register_outcomes(void)
{
    /* An unknown write that took effect late, long after its caller gave
     * up, and one that never did. */
    CU_ASSERT_EQUAL(run("register", "p=0 obj=x op=write arg=1 start=0 end=10 out=ok\n"
                                    "p=1 obj=x op=write arg=7 start=11 end=12 out=unknown\n"
                                    "p=2 obj=x op=read ret=1 start=20 end=30 out=ok\n"
                                    "p=2 obj=x op=read ret=7 start=40 end=50 out=ok\n"
                                    "p=3 obj=x op=write arg=8 start=11 out=unknown\n"),
                    COR_CHECK_OK);
    ASSERT_OUTPUT_HAS("1 unknown writes never read");
    /* But an unknown write cannot take effect before it was issued. */
    CU_ASSERT_EQUAL(run("register", "p=2 obj=x op=read ret=7 start=0 end=5 out=ok\n"
                                    "p=1 obj=x op=write arg=7 start=11 out=unknown\n"),
                    COR_CHECK_VIOLATION);
    /* A failed write did not happen: reading its value is a violation. */
    CU_ASSERT_EQUAL(run("register", "p=0 obj=x op=write arg=5 start=0 end=10 out=fail\n"
                                    "p=1 obj=x op=read ret=5 start=20 end=30 out=ok\n"),
                    COR_CHECK_VIOLATION);
    /* An unknown read constrains nothing. */
    CU_ASSERT_EQUAL(run("register", "p=0 obj=x op=read start=0 out=unknown\n"), COR_CHECK_OK);
}

static void test_register_stale_read(void)
{
    CU_ASSERT_EQUAL(run("register", "p=0 obj=x op=write arg=1 start=0 end=10 out=ok\n"
                                    "p=0 obj=x op=write arg=2 start=20 end=30 out=ok\n"
                                    "p=1 obj=x op=read ret=1 start=40 end=50 out=ok\n"),
                    COR_CHECK_VIOLATION);
    ASSERT_OUTPUT_HAS("register x: NOT linearizable");
    ASSERT_OUTPUT_HAS("longest linearizable prefix: 2 of 3 operations");
    ASSERT_OUTPUT_HAS("then t.hist:3 could not be placed");
    ASSERT_OUTPUT_HAS("held 2");
}

static void test_register_invented_value(void)
{
    /* One key is fine, the other read 42 which nobody wrote. */
    CU_ASSERT_EQUAL(run("register", "p=0 obj=a op=write arg=1 start=0 end=10 out=ok\n"
                                    "p=1 obj=b op=write arg=2 start=0 end=10 out=ok\n"
                                    "p=2 obj=b op=read ret=42 start=0 end=20 out=ok\n"
                                    "p=3 obj=a op=read ret=1 start=30 end=40 out=ok\n"),
                    COR_CHECK_VIOLATION);
    ASSERT_OUTPUT_HAS("register a: 2 operations linearizable");
    ASSERT_OUTPUT_HAS("register b: NOT linearizable");
    ASSERT_OUTPUT_HAS("t.hist:3 could not be placed");
}

/* A linearizable history of n operations over `procs` processes: each
 * operation takes effect at a random instant inside its interval, and
 * reads return what the register held at theirs. With corrupt_last_read,
 * the last read returns -1, which nobody wrote. */
static char *make_register_history(int n, int procs, unsigned seed, int corrupt_last_read)
{
    size_t cap = (size_t)n * 96 + 1;
    char *text = malloc(cap);
    int64_t *effect = calloc((size_t)n, sizeof(*effect));
    int64_t *start = calloc((size_t)n, sizeof(*start)), *end = calloc((size_t)n, sizeof(*end));
    int *write = calloc((size_t)n, sizeof(*write)), *proc = calloc((size_t)n, sizeof(*proc));
    int64_t *value = calloc((size_t)n, sizeof(*value));
    int64_t *clock = calloc((size_t)procs, sizeof(*clock));
    CU_ASSERT_FATAL(text && effect && start && end && write && proc && value && clock);
    for (int i = 0; i < n; i++) {
        int p = (int)(rand_r(&seed) % (unsigned)procs);
        proc[i] = p;
        start[i] = clock[p] + (int64_t)(rand_r(&seed) % 20);
        end[i] = start[i] + 1 + (int64_t)(rand_r(&seed) % 60);
        unsigned span = (unsigned)((end[i] - start[i]) * 1000);
        effect[i] = start[i] * 1000 + (int64_t)(rand_r(&seed) % span);
        clock[p] = end[i] + 1;
        write[i] = rand_r(&seed) % 2;
        value[i] = i + 1;
    }
    /* Replay in effect order: a read returns the latest write before it. */
    for (int i = 0; i < n; i++) {
        if (write[i])
            continue;
        int64_t best = -1, v = 0;
        for (int j = 0; j < n; j++)
            if (write[j] && effect[j] < effect[i] && effect[j] > best) {
                best = effect[j];
                v = value[j];
            }
        value[i] = v;
    }
    int corrupt = -1;
    for (int i = 0; i < n && corrupt_last_read; i++)
        if (!write[i])
            corrupt = i;
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        int64_t v = i == corrupt ? -1 : value[i];
        len += (size_t)snprintf(text + len, cap - len,
                                "p=%d obj=k op=%s %s=%lld start=%lld end=%lld out=ok\n", proc[i],
                                write[i] ? "write" : "read", write[i] ? "arg" : "ret",
                                (long long)v, (long long)start[i], (long long)end[i]);
    }
    free(effect);
    free(start);
    free(end);
    free(write);
    free(proc);
    free(value);
    free(clock);
    return text;
}

static void test_register_thousands_of_ops(void)
{
    char *text = make_register_history(4000, 6, 7, 0);
    CU_ASSERT_EQUAL(run("register", text), COR_CHECK_OK);
    ASSERT_OUTPUT_HAS("ok: 4000 operations, 1 objects");
    free(text);
    /* The same history with its last read returning a value never written:
     * the search has to exhaust every order of the whole history. */
    text = make_register_history(4000, 6, 7, 1);
    CU_ASSERT_EQUAL(run("register", text), COR_CHECK_VIOLATION);
    ASSERT_OUTPUT_HAS("register k: NOT linearizable");
    free(text);
}

static void test_register_undecided_not_ok(void)
{
    char *text = make_register_history(500, 6, 11, 0);
    cor_check_opts_t o = {.max_steps = 10};
    CU_ASSERT_EQUAL(run_opts("register", text, &o), COR_CHECK_UNDECIDED);
    ASSERT_OUTPUT_HAS("UNDECIDED");
    CU_ASSERT_PTR_NULL(strstr(out_text, "ok:"));
    free(text);
}

/* ---- counter ---- */

static void test_counter_ok(void)
{
    CU_ASSERT_EQUAL(run("counter", "p=0 obj=c op=add arg=2 ret=2 start=0 end=10 out=ok\n"
                                   "p=1 obj=c op=add arg=3 ret=5 start=5 end=15 out=ok\n"
                                   "p=2 obj=c op=read ret=2 start=8 end=9 out=ok\n"
                                   "p=3 obj=c op=add arg=4 start=20 out=unknown\n"
                                   "p=4 obj=c op=add arg=5 start=21 end=22 out=fail\n"
                                   "p=0 obj=c op=add arg=1 start=30 end=40 out=ok\n"
                                   "p=2 obj=c op=read ret=10 start=50 end=60 out=ok\n"
                                   "p=5 obj=c op=read ret=6 start=50 end=60 out=ok\n"),
                    COR_CHECK_OK);
    ASSERT_OUTPUT_HAS("ok: 8 operations, 1 objects");
}

static void test_counter_lost_add(void)
{
    CU_ASSERT_EQUAL(run("counter", "p=0 obj=c op=add arg=2 ret=2 start=0 end=10 out=ok\n"
                                   "p=1 obj=c op=add arg=3 start=5 end=15 out=ok\n"
                                   "p=2 obj=c op=read ret=2 start=20 end=30 out=ok\n"),
                    COR_CHECK_VIOLATION);
    ASSERT_OUTPUT_HAS("counter c: VIOLATION at t.hist:3");
    ASSERT_OUTPUT_HAS("outside [5, 5]");
    ASSERT_OUTPUT_HAS("an acknowledged add was lost");
}

static void test_counter_double_apply(void)
{
    /* The total exceeds every add attempted, the unknown one included. */
    CU_ASSERT_EQUAL(run("counter", "p=0 obj=c op=add arg=3 ret=3 start=0 end=10 out=ok\n"
                                   "p=1 obj=c op=add arg=1 start=11 out=unknown\n"
                                   "p=0 obj=c op=add arg=3 ret=10 start=20 end=30 out=ok\n"),
                    COR_CHECK_VIOLATION);
    ASSERT_OUTPUT_HAS("outside [6, 7]");
    ASSERT_OUTPUT_HAS("applied twice");
    /* Adds must be positive for the bounds to mean anything. */
    CU_ASSERT_EQUAL(run("counter", "p=0 obj=c op=add arg=0 start=0 end=10 out=ok\n"),
                    COR_CHECK_BAD_INPUT);
}

/* ---- set ---- */

static void test_set_ok(void)
{
    CU_ASSERT_EQUAL(run("set", "p=0 obj=s op=insert arg=1 start=0 end=10 out=ok\n"
                               "p=1 obj=s op=insert arg=2 start=5 end=25 out=ok\n"
                               "p=2 obj=s op=readall ret=1 start=12 end=20 out=ok\n"
                               "p=3 obj=s op=insert arg=3 start=26 out=unknown\n"
                               "p=4 obj=s op=insert arg=4 start=27 end=28 out=fail\n"
                               "p=2 obj=s op=readall ret=2,1,3 start=30 end=40 out=ok\n"
                               "p=5 obj=s op=readall ret=2,1 start=30 end=40 out=ok\n"),
                    COR_CHECK_OK);
    ASSERT_OUTPUT_HAS("ok: 7 operations, 1 objects");
}

static void test_set_violations(void)
{
    CU_ASSERT_EQUAL(run("set", "p=0 obj=s op=insert arg=1 start=0 end=10 out=ok\n"
                               "p=1 obj=s op=insert arg=2 start=0 end=10 out=ok\n"
                               "p=2 obj=s op=readall ret=1 start=20 end=30 out=ok\n"),
                    COR_CHECK_VIOLATION);
    ASSERT_OUTPUT_HAS("value 2 is missing");
    ASSERT_OUTPUT_HAS("insert at t.hist:2");
    CU_ASSERT_EQUAL(run("set", "p=0 obj=s op=insert arg=1 start=0 end=10 out=ok\n"
                               "p=2 obj=s op=readall ret=1,9 start=20 end=30 out=ok\n"),
                    COR_CHECK_VIOLATION);
    ASSERT_OUTPUT_HAS("value 9 was never inserted");
    /* Inserted, but only after the readall ended. */
    CU_ASSERT_EQUAL(run("set", "p=2 obj=s op=readall ret=1 start=0 end=5 out=ok\n"
                               "p=0 obj=s op=insert arg=1 start=6 end=10 out=ok\n"),
                    COR_CHECK_VIOLATION);
    ASSERT_OUTPUT_HAS("not yet inserted");
    CU_ASSERT_EQUAL(run("set", "p=0 obj=s op=insert arg=1 start=0 end=10 out=ok\n"
                               "p=2 obj=s op=readall ret=1,1 start=20 end=30 out=ok\n"),
                    COR_CHECK_VIOLATION);
    ASSERT_OUTPUT_HAS("value 1 appears twice");
    /* A failed insert is not an attempt. */
    CU_ASSERT_EQUAL(run("set", "p=0 obj=s op=insert arg=1 start=0 end=10 out=fail\n"
                               "p=2 obj=s op=readall ret=1 start=20 end=30 out=ok\n"),
                    COR_CHECK_VIOLATION);
}

static void test_wrong_model(void)
{
    CU_ASSERT_EQUAL(run("set", "p=0 obj=s op=read ret=0 start=0 end=10 out=ok\n"),
                    COR_CHECK_BAD_INPUT);
    ASSERT_OUTPUT_HAS("t.hist:1: op read is not part of the set model");
    CU_ASSERT_EQUAL(run("queue", "p=0 obj=s op=read ret=0 start=0 end=10 out=ok\n"),
                    COR_CHECK_BAD_INPUT);
    ASSERT_OUTPUT_HAS("unknown model 'queue'");
}

static int cleanup(void)
{
    free(out_text);
    out_text = NULL;
    return 0;
}

int main(void)
{
    static const cor_test_t tests[] = {
        {"parse fields", test_parse_fields},
        {"parse errors name the line", test_parse_errors_name_the_line},
        {"process rules", test_process_rules},
        {"register concurrent ok", test_register_concurrent_ok},
        {"register outcomes", test_register_outcomes},
        {"register stale read", test_register_stale_read},
        {"register invented value", test_register_invented_value},
        {"register thousands of ops", test_register_thousands_of_ops},
        {"register undecided is not ok", test_register_undecided_not_ok},
        {"counter ok", test_counter_ok},
        {"counter lost add", test_counter_lost_add},
        {"counter double apply", test_counter_double_apply},
        {"set ok", test_set_ok},
        {"set violations", test_set_violations},
        {"wrong model", test_wrong_model},
        {NULL, NULL},
    };
    return cor_test_main("checker", tests, NULL, cleanup);
}
