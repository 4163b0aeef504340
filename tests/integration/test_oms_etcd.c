/*
 * test_oms_etcd.c — cor-oms with its directory in etcd (--etcd), as real
 * processes: one etcd member (tests/lib/etcd_proc.h), a cor-oms on it, two
 * cor-kernels, and this process as a client through the cluster fixture.
 *
 * Covers: objects and nodes are in etcd under the prefix; the OMS killed
 * -9 and started again on the same etcd loses nothing (lookup by name and
 * calls work, nodes come back under their incarnation); a second cor-oms on
 * the same prefix loads the same directory, and a write made from a view
 * the other one changed is refused (compare-and-swap) and changes nothing;
 * bad --etcd flags exit 2 and an unreachable etcd exits 1; SIGTERM on an
 * OMS on etcd exits 0.
 *
 * Without /usr/bin/etcd the suite prints "skipped: etcd not installed" and
 * exits 77 (ctest's SKIP_RETURN_CODE for this test).
 */
#include <cor/cor.h>

#include <etcd.h>

#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster.h"
#include "daemons.h"
#include "echo/echo.cor.h"
#include "echo_calls.h"
#include "etcd_proc.h"
#include "testlib.h"

#define PREFIX "/oms-test/"

static const cor_cluster_kernel_t kernels[] = {
    {"k1", "echo", "region=eu"},
    {"k2", "echo", "region=us"},
};
static cor_etcdproc_t etcd;
static cor_cluster_t cl;

/* How many keys etcd holds under PREFIX<sub>, read with a raw client; -1
 * when the read failed. */
static long raw_count(const char *sub)
{
    char k[128];
    snprintf(k, sizeof(k), "%s%s", PREFIX, sub);
    struct event_base *base = event_base_new();
    cor_etcd_options_t o = {.endpoints = etcd.endpoints};
    cor_etcd_t *c = NULL;
    cor_error_t err;
    long n = -1;
    if (cor_etcd_new(base, &o, &c, &err) == 0) {
        cor_etcd_op_t op = {.kind = COR_ETCD_RANGE, .key = k, .key_len = strlen(k), .prefix = 1,
                            .count_only = 1};
        cor_etcd_reply_t *r = NULL;
        if (cor_etcd_kv_sync(c, &op, &r, &err) == 0)
            n = (long)r->count;
        else
            fprintf(stderr, "raw count %s: %s\n", k, err.msg);
        cor_etcd_reply_free(r);
        cor_etcd_free(c);
    }
    event_base_free(base);
    return n;
}

static void test_objects_in_etcd(void)
{
    CU_ASSERT_TRUE(cor_cluster_wait_node_state(&cl, "k1", COR__NODE_STATE__NODE_ALIVE, 5000));
    CU_ASSERT_TRUE(cor_cluster_wait_node_state(&cl, "k2", COR__NODE_STATE__NODE_ALIVE, 5000));
    cor_error_t err;
    cor_ref_t *r = NULL;
    cor_create_opts_t o = {.name = "counter/etcd", .selector = "region=eu"};
    CU_ASSERT_EQUAL_FATAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), 0);
    int rc;
    CU_ASSERT_EQUAL(cor_echo_add(r, 5, &rc, &err), 5);
    cor_ref_free(r);
    o = (cor_create_opts_t){.name = "other", .selector = "region=us"};
    CU_ASSERT_EQUAL_FATAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), 0);
    cor_ref_free(r);
    CU_ASSERT_EQUAL(raw_count("node/"), 2);
    CU_ASSERT_EQUAL(raw_count("obj/"), 2);
    CU_ASSERT_EQUAL(cor_cluster_object_count(&cl), 2);
}

static void test_oms_kill_and_restart(void)
{
    cor_error_t err;
    cor_ref_t *r = NULL;
    CU_ASSERT_EQUAL_FATAL(cor_object_lookup_name(cl.rt, "counter/etcd", &r, &err), 0);
    int rc;
    int64_t before = cor_echo_add(r, 0, &rc, &err);
    CU_ASSERT_EQUAL(rc, 0);
    cor_cluster_kill_oms(&cl); /* kill -9 */
    /* Calls do not need the OMS: the kernel still serves. */
    CU_ASSERT_EQUAL(cor_echo_add(r, 1, &rc, &err), before + 1);
    CU_ASSERT_EQUAL_FATAL(cor_cluster_restart_oms(&cl), 0);
    char field[64];
    CU_ASSERT_EQUAL(cor_proc_field(&cl.oms, "objects", field, sizeof(field)), 0);
    CU_ASSERT_STRING_EQUAL(field, "2");
    CU_ASSERT_EQUAL(cor_proc_field(&cl.oms, "prefix", field, sizeof(field)), 0);
    CU_ASSERT_STRING_EQUAL(field, PREFIX);
    /* The new OMS has it all from etcd: by name, and a call works. */
    cor_ref_t *again = NULL;
    rc = cor_object_lookup_name(cl.rt, "counter/etcd", &again, &err);
    if (rc != 0)
        fprintf(stderr, "lookup after restart: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(cor_echo_add(again, 1, &rc, &err), before + 2);
    CU_ASSERT_TRUE(cor_cluster_wait_node_state(&cl, "k1", COR__NODE_STATE__NODE_ALIVE, 5000));
    CU_ASSERT_TRUE(cor_cluster_wait_node_state(&cl, "k2", COR__NODE_STATE__NODE_ALIVE, 5000));
    uint64_t inc = 0;
    cor_cluster_node_state(&cl, "k1", &inc);
    CU_ASSERT_EQUAL(inc, 1); /* the same kernel process, not re-registered */
    /* And it writes: a new object, then a delete. */
    cor_create_opts_t o = {.name = "after-restart"};
    cor_ref_t *r3 = NULL;
    CU_ASSERT_EQUAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r3, &err), 0);
    CU_ASSERT_EQUAL(raw_count("obj/"), 3);
    if (r3 != NULL)
        CU_ASSERT_EQUAL(cor_object_delete(cl.rt, cor_ref_id(r3), &err), 0);
    CU_ASSERT_EQUAL(raw_count("obj/"), 2);
    cor_ref_free(r3);
    cor_ref_free(again);
    cor_ref_free(r);
}

/* Two OMSes on one prefix (what leader election will prevent): the second
 * loads the same directory; once it deletes an object, the first one's
 * delete of that object, made from its older view, is refused by etcd. */
static void test_second_oms_refused(void)
{
    cor_proc_t oms2 = {.pid = -1, .out_fd = -1};
    char addr2[64];
    CU_ASSERT_EQUAL_FATAL(cor_proc_start_oms_etcd(&oms2, COR_OMS_BIN, "127.0.0.1:0",
                                                  etcd.endpoints, PREFIX, addr2, sizeof(addr2)),
                          0);
    char field[64];
    CU_ASSERT_EQUAL(cor_proc_field(&oms2, "objects", field, sizeof(field)), 0);
    CU_ASSERT_STRING_EQUAL(field, "2");
    cor_runtime_opts_t o = {.version = COR_RUNTIME_OPTS_VERSION, .oms_address = addr2};
    cor_runtime_t *rt2 = NULL;
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(cor_runtime_new(&o, &rt2, &err), 0);
    cor_ref_t *r2 = NULL;
    CU_ASSERT_EQUAL_FATAL(cor_object_lookup_name(rt2, "other", &r2, &err), 0);
    CU_ASSERT_EQUAL(cor_object_delete(rt2, cor_ref_id(r2), &err), 0);
    CU_ASSERT_EQUAL(raw_count("obj/"), 1);
    /* The first OMS still has "other" in memory; its delete is refused. */
    CU_ASSERT_EQUAL(cor_object_delete(cl.rt, cor_ref_id(r2), &err), COR_ESTATE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "changed by someone else"));
    /* And a refused write undoes itself in the first OMS: it still lists
     * the object (the directories now disagree until one restarts). */
    CU_ASSERT_EQUAL(cor_cluster_object_count(&cl), 2);
    CU_ASSERT_EQUAL(raw_count("obj/"), 1);
    cor_ref_free(r2);
    cor_runtime_free(rt2);
    CU_ASSERT_EQUAL(cor_proc_stop(&oms2, SIGTERM, 10000), 0);
}

static void test_bad_flags(void)
{
    cor_proc_t p;
    char *a1[] = {(char *)COR_OMS_BIN, (char *)"--etcd", (char *)"", NULL};
    char *a2[] = {(char *)COR_OMS_BIN, (char *)"--etcd", (char *)"tcp://x:1", NULL};
    char *a3[] = {(char *)COR_OMS_BIN, (char *)"--etcd", etcd.endpoints, (char *)"--etcd-prefix",
                  (char *)"no-slash", NULL};
    char *a4[] = {(char *)COR_OMS_BIN, (char *)"--etcd", etcd.endpoints, (char *)"--data-dir",
                  (char *)"/tmp/x", NULL};
    char *const *bad[] = {a1, a2, a3, a4};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CU_ASSERT_EQUAL(cor_proc_start(&p, bad[i], 5000), -1);
        /* cor_proc_start reaped it; run it again to see the exit code. */
        pid_t pid = fork();
        if (pid == 0) {
            int devnull = open("/dev/null", 1);
            dup2(devnull, 1);
            dup2(devnull, 2);
            execv(bad[i][0], bad[i]);
            _exit(127);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        CU_ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    }
    /* Nobody listening: exit 1 at start, never "ready". */
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", cor_etcdproc_free_port());
    char *a5[] = {(char *)COR_OMS_BIN, (char *)"--listen", (char *)"127.0.0.1:0", (char *)"--etcd",
                  url, NULL};
    CU_ASSERT_EQUAL(cor_proc_start(&p, a5, 10000), -1);
}

static int suite_init(void)
{
    if (cor_etcdproc_start(&etcd, 1) != 0)
        return -1;
    static cor_cluster_spec_t spec = {.tag = "oms-etcd", .kernels = kernels, .n_kernels = 2,
                                      .oms_etcd_prefix = PREFIX};
    spec.oms_etcd = etcd.endpoints;
    if (cor_cluster_start(&cl, &spec) != 0) {
        cor_etcdproc_stop(&etcd);
        return -1;
    }
    return 0;
}

static int suite_cleanup(void)
{
    cor_cluster_stop(&cl);
    cor_etcdproc_stop(&etcd);
    return 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (!cor_etcdproc_available()) {
        printf("skipped: etcd not installed\n");
        return COR_ETCDPROC_SKIP;
    }
    static const cor_test_t tests[] = {
        {"objects and nodes are stored in etcd", test_objects_in_etcd},
        {"OMS kill -9 and restart on etcd loses nothing", test_oms_kill_and_restart},
        {"a second OMS on the prefix: stale writes refused", test_second_oms_refused},
        {"bad --etcd flags exit 2, no etcd exits 1", test_bad_flags},
        {NULL, NULL},
    };
    return cor_test_main("oms_etcd", tests, suite_init, suite_cleanup);
}
