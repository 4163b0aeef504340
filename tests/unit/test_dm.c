/*
 * test_dm.c — DM chains: the grammar and its errors (with columns), the
 * canonical form, parameter helpers, the registry's checks (unknown DM,
 * unknown or missing parameter, conflicts, needs), and merging the
 * placement DMs into one selector.
 */
#include <cor/dm.h>

#include <string.h>

#include "testlib.h"

static void test_parse_ok(void)
{
    cor_dm_chain_t c;
    cor_error_t err;
    CU_ASSERT_EQUAL(cor_dm_chain_parse("", &c, &err), 0);
    CU_ASSERT_EQUAL(c.n, 0);
    CU_ASSERT_EQUAL(cor_dm_chain_parse(NULL, &c, &err), 0);
    CU_ASSERT_EQUAL(cor_dm_chain_parse("   ", &c, &err), 0);
    CU_ASSERT_EQUAL(c.n, 0);
    CU_ASSERT_EQUAL_FATAL(cor_dm_chain_parse(" DHT( shards = 4 ) ,ConsensusRSM(replicas=3),Immutable",
                                             &c, &err), 0);
    CU_ASSERT_EQUAL(c.n, 3);
    CU_ASSERT_STRING_EQUAL(c.dms[0].name, "DHT");
    CU_ASSERT_EQUAL(c.dms[0].column, 2);
    CU_ASSERT_STRING_EQUAL(cor_dm_param(&c.dms[0], "shards"), "4");
    CU_ASSERT_PTR_NULL(cor_dm_param(&c.dms[0], "replicas"));
    CU_ASSERT_STRING_EQUAL(c.dms[1].params[0].value, "3");
    CU_ASSERT_EQUAL(c.dms[2].n_params, 0);
    char buf[256];
    cor_dm_chain_format(&c, buf, sizeof(buf));
    CU_ASSERT_STRING_EQUAL(buf, "DHT(shards=4), ConsensusRSM(replicas=3), Immutable");
    /* Quoted values keep commas and spaces; the format quotes them back. */
    CU_ASSERT_EQUAL_FATAL(cor_dm_chain_parse("X(a=\"1, 2 (three)\", b=ok), Y()", &c, &err), 0);
    CU_ASSERT_STRING_EQUAL(cor_dm_param(&c.dms[0], "a"), "1, 2 (three)");
    cor_dm_chain_format(&c, buf, sizeof(buf));
    CU_ASSERT_STRING_EQUAL(buf, "X(a=\"1, 2 (three)\", b=ok), Y");
    cor_dm_chain_t again;
    CU_ASSERT_EQUAL(cor_dm_chain_parse(buf, &again, &err), 0);
    CU_ASSERT_STRING_EQUAL(again.dms[0].params[0].value, "1, 2 (three)");
}

/* Each bad chain fails with EINVAL, its column, and the expectation. */
static void test_parse_errors(void)
{
    struct {
        const char *text;
        const char *want;
    } bad[] = {
        {"Foo(a=1", "column 8: expected ',' or ')' after a parameter"},
        {"Foo(a)", "column 6: expected '=' after a parameter name"},
        {"Foo(=1)", "column 5: expected a parameter name"},
        {"Foo(a=)", "column 7: expected a value after '='"},
        {"Foo,", "column 5: expected a DM name after ','"},
        {", Foo", "column 1: expected a DM name"},
        {"Foo Bar", "column 5: expected ',' between DMs"},
        {"Foo(a=1, a=2)", "parameter given twice"},
        {"Foo(a=\"open)", "unterminated quoted value"},
        {"9Lives", "column 1: expected a DM name"},
        {"A,B,C,D,E,F,G,H,I", "more than 8 DMs"},
        {"Foo(a=1,b=2,c=3,d=4,e=5,f=6,g=7,h=8,i=9)", "more than 8 parameters"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cor_dm_chain_t c;
        cor_error_t err;
        CU_ASSERT_EQUAL(cor_dm_chain_parse(bad[i].text, &c, &err), COR_EINVAL);
        if (strstr(err.msg, bad[i].want) == NULL)
            fprintf(stderr, "chain '%s': got '%s', want '%s'\n", bad[i].text, err.msg,
                    bad[i].want);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, bad[i].want));
    }
}

static void test_params(void)
{
    cor_dm_chain_t c;
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(cor_dm_chain_parse("D(n=5, bad=x1, t=250ms, s=3s, m=2m, plain=40, neg=-1s)",
                                             &c, &err), 0);
    long v;
    CU_ASSERT_EQUAL(cor_dm_param_int(&c.dms[0], "n", 1, 1, 10, &v, &err), 0);
    CU_ASSERT_EQUAL(v, 5);
    CU_ASSERT_EQUAL(cor_dm_param_int(&c.dms[0], "absent", 7, 1, 10, &v, &err), 0);
    CU_ASSERT_EQUAL(v, 7);
    CU_ASSERT_EQUAL(cor_dm_param_int(&c.dms[0], "n", 1, 6, 10, &v, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "D: n must be an integer in 6..10, not '5'"));
    CU_ASSERT_EQUAL(cor_dm_param_int(&c.dms[0], "bad", 1, 1, 10, &v, &err), COR_EINVAL);
    CU_ASSERT_EQUAL(cor_dm_param_duration(&c.dms[0], "t", 0, 0, 600000, &v, &err), 0);
    CU_ASSERT_EQUAL(v, 250);
    CU_ASSERT_EQUAL(cor_dm_param_duration(&c.dms[0], "s", 0, 0, 600000, &v, &err), 0);
    CU_ASSERT_EQUAL(v, 3000);
    CU_ASSERT_EQUAL(cor_dm_param_duration(&c.dms[0], "m", 0, 0, 600000, &v, &err), 0);
    CU_ASSERT_EQUAL(v, 120000);
    CU_ASSERT_EQUAL(cor_dm_param_duration(&c.dms[0], "plain", 0, 0, 600000, &v, &err), 0);
    CU_ASSERT_EQUAL(v, 40);
    CU_ASSERT_EQUAL(cor_dm_param_duration(&c.dms[0], "neg", 0, 0, 600000, &v, &err), COR_EINVAL);
    CU_ASSERT_EQUAL(cor_dm_param_duration(&c.dms[0], "bad", 0, 0, 600000, &v, &err), COR_EINVAL);
    CU_ASSERT_EQUAL(cor_dm_param_duration(&c.dms[0], "m", 0, 0, 60000, &v, &err), COR_EINVAL);
}

/* Test DMs with capabilities, to exercise the conflict and needs rules. */
static const cor_dm_param_spec_t reps_params[] = {{"replicas", "how many", 1}, {NULL, NULL, 0}};
static int reps_validate(const cor_dm_entry_t *e, cor_error_t *err)
{
    long n;
    return cor_dm_param_int(e, "replicas", 1, 1, 9, &n, err);
}
static const cor_dm_ops_t t_reps = {.version = COR_DM_OPS_VERSION, .name = "TReplicas",
                                    .params = reps_params, .caps = COR_DM_CAP_REPLICAS,
                                    .exclusive = COR_DM_CAP_REPLICAS, .validate = reps_validate};
static const cor_dm_ops_t t_shard = {.version = COR_DM_OPS_VERSION, .name = "TShard",
                                     .caps = COR_DM_CAP_REPLICAS};
static const cor_dm_ops_t t_retry = {.version = COR_DM_OPS_VERSION, .name = "TRetry",
                                     .caps = COR_DM_CAP_RETRY, .needs = COR_DM_CAP_DEDUP};
static const cor_dm_ops_t t_dedup = {.version = COR_DM_OPS_VERSION, .name = "TDedup",
                                     .caps = COR_DM_CAP_DEDUP};

static int register_test_dms(void)
{
    cor_error_t err;
    const cor_dm_ops_t *all[] = {&t_reps, &t_shard, &t_retry, &t_dedup};
    for (size_t i = 0; i < 4; i++)
        if (cor_dm_register(all[i], &err) != 0)
            return 1;
    return 0;
}

static int check(const char *text, cor_error_t *err)
{
    cor_dm_chain_t c;
    int rc = cor_dm_chain_parse(text, &c, err);
    return rc ? rc : cor_dm_chain_check(&c, err);
}

static void test_registry_and_check(void)
{
    cor_error_t err;
    CU_ASSERT_EQUAL(cor_dm_register(&t_reps, &err), COR_EEXIST);
    cor_dm_ops_t bad = t_dedup;
    bad.version = 99;
    CU_ASSERT_EQUAL(cor_dm_register(&bad, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(cor_dm_find("KeepInRegion")); /* built in */
    CU_ASSERT_PTR_NULL(cor_dm_find("Nope"));

    CU_ASSERT_EQUAL(check("", &err), 0);
    CU_ASSERT_EQUAL(check("TReplicas(replicas=3), TDedup", &err), 0);
    CU_ASSERT_EQUAL(check("Nope(x=1)", &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "unknown deployment manager 'Nope' (column 1); known:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "KeepInRegion"));
    CU_ASSERT_EQUAL(check("TDedup, TReplicas(replicas=3, colour=red)", &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "TReplicas has no parameter 'colour'"));
    CU_ASSERT_EQUAL(check("TReplicas", &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "TReplicas needs parameter 'replicas'"));
    CU_ASSERT_EQUAL(check("TReplicas(replicas=30)", &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "replicas must be an integer in 1..9"));
    CU_ASSERT_EQUAL(check("TReplicas(replicas=3), TShard", &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "TReplicas and TShard conflict: both decide how many replicas"));
    CU_ASSERT_EQUAL(check("TRetry", &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "TRetry needs a DM inside it"));
    CU_ASSERT_EQUAL(check("TDedup, TRetry", &err), COR_EINVAL); /* dedup must be inside */
    CU_ASSERT_EQUAL(check("TRetry, TDedup", &err), 0);
    CU_ASSERT_EQUAL(check("KeepInRegion", &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "needs parameter 'region'"));
    CU_ASSERT_EQUAL(check("KeepInRegion(region=\"eu west\")", &err), COR_EINVAL);
    CU_ASSERT_EQUAL(check("KeepOnDevice", &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "class=... or node=..."));
    CU_ASSERT_EQUAL(check("KeepOnDevice(class=edge), KeepInRegion(region=eu)", &err), 0);
}

static void test_placement(void)
{
    cor_dm_chain_t c;
    cor_error_t err;
    char sel[256];
    CU_ASSERT_EQUAL_FATAL(cor_dm_chain_parse("KeepInRegion(region=eu), KeepOnDevice(class=edge, node=k2)",
                                             &c, &err), 0);
    CU_ASSERT_EQUAL(cor_dm_chain_placement(&c, "zone=b", sel, sizeof(sel), &err), 0);
    CU_ASSERT_STRING_EQUAL(sel, "zone=b,region=eu,device-class=edge,node=k2");
    CU_ASSERT_EQUAL(cor_dm_chain_placement(&c, "region=us", sel, sizeof(sel), &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "the selector wants region=us, KeepInRegion wants region=eu"));
    CU_ASSERT_EQUAL(cor_dm_chain_placement(&c, "bad term!", sel, sizeof(sel), &err), COR_EINVAL);
    CU_ASSERT_EQUAL_FATAL(cor_dm_chain_parse("", &c, &err), 0);
    CU_ASSERT_EQUAL(cor_dm_chain_placement(&c, "", sel, sizeof(sel), &err), 0);
    CU_ASSERT_STRING_EQUAL(sel, "");
}

int main(void)
{
    static const cor_test_t tests[] = {
        {"parse valid chains", test_parse_ok},
        {"parse errors name the column", test_parse_errors},
        {"parameters", test_params},
        {"registry and chain checks", test_registry_and_check},
        {"placement merge", test_placement},
        {NULL, NULL},
    };
    return cor_test_main("dm", tests, register_test_dms, NULL);
}
