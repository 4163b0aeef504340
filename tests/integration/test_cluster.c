/*
 * test_cluster.c — the cluster core with real processes: cor-oms and
 * cor-kernel daemons on loopback, and this process as a client through the
 * runtime's cluster API and generated stubs.
 *
 * Covers: registration and heartbeats; placement by class and selector;
 * create/lookup/call/delete; every refusal at create time (unknown class,
 * bad selector, no match, duplicate name); a kernel killed -9 is marked
 * dead and calls to its objects say so; the OMS killed -9 and restarted on
 * the same data directory loses nothing while kernels and clients carry
 * on; a kernel restarted under the same name gets a new incarnation and its
 * old replicas are reported lost, not resurrected.
 */
#include <cor/cor.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cor/oms.pb-c.h"
#include "cluster.h"
#include "echo/echo.cor.h"
#include "echo_calls.h"
#include "host.h"
#include "testlib.h"

#ifndef COR_OMS_BIN
#error "COR_OMS_BIN and COR_KERNEL_BIN must name the daemons"
#endif

static const cor_cluster_kernel_t kernels[] = {
    {"k1", "echo", "region=eu"},
    {"k2", "echo", "region=us"},
};
enum { K1, K2 };
static cor_cluster_t cl;

static const char *replica_node(cor_ref_t *r)
{
    static char node[64];
    cor_cluster_node_of(&cl, r, node, sizeof(node));
    return node;
}

static void test_register_and_place(void)
{
    CU_ASSERT_EQUAL(cor_cluster_node_state(&cl, "k1", NULL), COR__NODE_STATE__NODE_ALIVE);
    CU_ASSERT_EQUAL(cor_cluster_node_state(&cl, "k2", NULL), COR__NODE_STATE__NODE_ALIVE);
    cor_error_t err;
    cor_ref_t *r = NULL;
    cor_create_opts_t o = {.name = "counter/eu", .selector = "region=eu"};
    CU_ASSERT_EQUAL_FATAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), 0);
    CU_ASSERT_STRING_EQUAL(replica_node(r), "k1");
    int rc;
    CU_ASSERT_EQUAL(cor_echo_add(r, 5, &rc, &err), 5);
    cor_ref_free(r);

    o = (cor_create_opts_t){.selector = "region!=eu"};
    CU_ASSERT_EQUAL_FATAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), 0);
    CU_ASSERT_STRING_EQUAL(replica_node(r), "k2");
    cor_ref_free(r);

    /* By name, from scratch. */
    CU_ASSERT_EQUAL_FATAL(cor_object_lookup_name(cl.rt, "counter/eu", &r, &err), 0);
    CU_ASSERT_EQUAL(cor_echo_add(r, 1, &rc, &err), 6);
    /* A ref passed as bytes to another runtime works there too. */
    uint8_t *buf;
    size_t len;
    CU_ASSERT_EQUAL(cor_ref_encode(r, &buf, &len, &err), 0);
    cor_runtime_t *other = NULL;
    CU_ASSERT_EQUAL_FATAL(cor_runtime_new(NULL, &other, &err), 0);
    cor_ref_t *r2 = NULL;
    CU_ASSERT_EQUAL(cor_ref_decode(other, buf, len, &r2, &err), 0);
    CU_ASSERT_EQUAL(cor_echo_add(r2, 1, &rc, &err), 7);
    free(buf);
    cor_ref_free(r2);
    cor_runtime_free(other);
    cor_ref_free(r);
}

static void test_create_refusals(void)
{
    cor_error_t err;
    cor_ref_t *r = NULL;
    CU_ASSERT_EQUAL(cor_object_create(cl.rt, "no.Such", NULL, 0, NULL, &r, &err), COR_ENOTFOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no kernel server hosts class no.Such"));
    cor_create_opts_t o = {.selector = "region=mars"};
    CU_ASSERT_EQUAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), COR_ENOTFOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "none matches selector"));
    o = (cor_create_opts_t){.selector = "region=eu,,zone=a"};
    CU_ASSERT_EQUAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "term 2 is empty"));
    o = (cor_create_opts_t){.selector = "reg ion=eu"};
    CU_ASSERT_EQUAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), COR_EINVAL);
    o = (cor_create_opts_t){.name = "counter/eu"};
    CU_ASSERT_EQUAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), COR_EEXIST);
    o = (cor_create_opts_t){.name = "bad name!"};
    CU_ASSERT_EQUAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), COR_EINVAL);
    const uint8_t junk[] = {0xff, 0xff};
    CU_ASSERT_EQUAL(cor_object_create(cl.rt, "echo.Echo", junk, 2, NULL, &r, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "echo.EchoArgs"));
    /* Nothing of that was recorded. */
    long n = cor_cluster_object_count(&cl);
    CU_ASSERT_NOT_EQUAL_FATAL(n, -1);
    CU_ASSERT_EQUAL(n, 2);
}

static void test_delete(void)
{
    cor_error_t err;
    cor_ref_t *r = NULL;
    cor_create_opts_t o = {.name = "doomed"};
    CU_ASSERT_EQUAL_FATAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), 0);
    CU_ASSERT_EQUAL(cor_object_delete(cl.rt, cor_ref_id(r), &err), 0);
    int rc;
    cor_echo_add(r, 1, &rc, &err);
    CU_ASSERT_EQUAL(rc, COR_ENOTFOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "knows no such object"));
    CU_ASSERT_EQUAL(cor_object_delete(cl.rt, cor_ref_id(r), &err), COR_ENOTFOUND);
    cor_ref_t *gone = NULL;
    CU_ASSERT_EQUAL(cor_object_lookup_name(cl.rt, "doomed", &gone, &err), COR_ENOTFOUND);
    /* The name is free again. */
    CU_ASSERT_EQUAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &gone, &err), 0);
    cor_ref_free(gone);
    cor_ref_free(r);
}

static void test_dm_chains(void)
{
    cor_error_t err;
    cor_ref_t *r = NULL;
    cor_create_opts_t o = {.dm_chain = "KeepInRegion( region = us )"};
    CU_ASSERT_EQUAL_FATAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), 0);
    CU_ASSERT_STRING_EQUAL(replica_node(r), "k2");
    /* The OMS stores the canonical chain and the effective selector. */
    Cor__LookupReply *l = cor_cluster_lookup(&cl, r);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_STRING_EQUAL(l->object->dm_chain, "KeepInRegion(region=us)");
    CU_ASSERT_STRING_EQUAL(l->object->selector, "region=us");
    protobuf_c_message_free_unpacked(&l->base, NULL);
    cor_ref_free(r);

    o = (cor_create_opts_t){.dm_chain = "KeepOnDevice(node=k1)"};
    CU_ASSERT_EQUAL_FATAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), 0);
    CU_ASSERT_STRING_EQUAL(replica_node(r), "k1");
    cor_ref_free(r);

    /* Refused at create time, nothing created. */
    long before = cor_cluster_object_count(&cl);
    CU_ASSERT_NOT_EQUAL_FATAL(before, -1);
    o = (cor_create_opts_t){.dm_chain = "Nope(x=1)", .name = "never"};
    CU_ASSERT_EQUAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "unknown deployment manager 'Nope'"));
    o = (cor_create_opts_t){.dm_chain = "KeepInRegion(region=eu", .name = "never"};
    CU_ASSERT_EQUAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "column 23"));
    o = (cor_create_opts_t){.dm_chain = "KeepInRegion(region=eu)", .selector = "region=us",
                            .name = "never"};
    CU_ASSERT_EQUAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "contradicts"));
    o = (cor_create_opts_t){.dm_chain = "KeepInRegion(region=mars)", .name = "never"};
    CU_ASSERT_EQUAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), COR_ENOTFOUND);
    long after = cor_cluster_object_count(&cl);
    CU_ASSERT_NOT_EQUAL_FATAL(after, -1);
    CU_ASSERT_EQUAL(after, before);
    cor_ref_t *none = NULL;
    CU_ASSERT_EQUAL(cor_object_lookup_name(cl.rt, "never", &none, &err), COR_ENOTFOUND);
}

static void test_oms_restart(void)
{
    cor_error_t err;
    cor_ref_t *r = NULL;
    CU_ASSERT_EQUAL_FATAL(cor_object_lookup_name(cl.rt, "counter/eu", &r, &err), 0);
    int rc;
    int64_t before = cor_echo_add(r, 0, &rc, &err);
    cor_cluster_kill_oms(&cl); /* kill -9 */
    /* Calls do not need the OMS: the kernel still serves. */
    CU_ASSERT_EQUAL(cor_echo_add(r, 1, &rc, &err), before + 1);
    CU_ASSERT_EQUAL_FATAL(cor_cluster_restart_oms(&cl), 0);
    /* Everything is back: the object by name, both nodes once they beat. */
    cor_ref_t *again = NULL;
    CU_ASSERT_EQUAL(cor_object_lookup_name(cl.rt, "counter/eu", &again, &err), 0);
    CU_ASSERT_EQUAL(cor_echo_add(again, 1, &rc, &err), before + 2);
    CU_ASSERT_TRUE(cor_cluster_wait_node_state(&cl, "k1", COR__NODE_STATE__NODE_ALIVE, 5000));
    CU_ASSERT_TRUE(cor_cluster_wait_node_state(&cl, "k2", COR__NODE_STATE__NODE_ALIVE, 5000));
    uint64_t inc = 0;
    cor_cluster_node_state(&cl, "k1", &inc);
    CU_ASSERT_EQUAL(inc, 1); /* the same process, not re-registered */
    cor_ref_free(again);
    cor_ref_free(r);
}

static void test_kernel_death(void)
{
    cor_error_t err;
    cor_ref_t *r = NULL;
    cor_create_opts_t o = {.name = "on-k2", .selector = "region=us"};
    CU_ASSERT_EQUAL_FATAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), 0);
    CU_ASSERT_STRING_EQUAL(replica_node(r), "k2");
    cor_cluster_kill_kernel(&cl, K2);
    CU_ASSERT_TRUE(cor_cluster_wait_node_state(&cl, "k2", COR__NODE_STATE__NODE_DEAD, 5000));
    int rc;
    cor_echo_add(r, 1, &rc, &err);
    CU_ASSERT_EQUAL(rc, COR_EUNAVAIL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "kernel server k2, which hosts it, is dead"));
    /* New objects avoid the dead node. */
    cor_ref_t *r2 = NULL;
    CU_ASSERT_EQUAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, NULL, &r2, &err), 0);
    CU_ASSERT_STRING_EQUAL(replica_node(r2), "k1");
    o = (cor_create_opts_t){.selector = "region=us"};
    CU_ASSERT_EQUAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r2, &err) == 0 ? 0 : err.code,
                    COR_EUNAVAIL);
    cor_ref_free(r2);
    cor_ref_free(r);
}

static void test_kernel_restart_new_incarnation(void)
{
    cor_error_t err;
    cor_ref_t *r = NULL;
    CU_ASSERT_EQUAL_FATAL(cor_object_lookup_name(cl.rt, "counter/eu", &r, &err), 0);
    cor_cluster_kill_kernel(&cl, K1);
    CU_ASSERT_EQUAL_FATAL(cor_cluster_restart_kernel(&cl, K1), 0);
    uint64_t inc = 0;
    CU_ASSERT_EQUAL(cor_cluster_node_state(&cl, "k1", &inc), COR__NODE_STATE__NODE_ALIVE);
    CU_ASSERT_EQUAL(inc, 2);
    int rc;
    cor_echo_add(r, 1, &rc, &err);
    CU_ASSERT_EQUAL(rc, COR_EUNAVAIL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "lost when kernel server k1 restarted"));
    /* The restarted node takes new objects. */
    cor_ref_t *r2 = NULL;
    cor_create_opts_t o = {.selector = "region=eu"};
    CU_ASSERT_EQUAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r2, &err), 0);
    CU_ASSERT_EQUAL(cor_echo_add(r2, 3, &rc, &err), 3);
    cor_ref_free(r2);
    cor_ref_free(r);
}

static void test_daemon_bad_arguments(void)
{
    cor_proc_t p;
    char *a1[] = {(char *)COR_KERNEL_BIN, (char *)"--builtin", (char *)"echo", NULL}; /* no --oms */
    CU_ASSERT_EQUAL(cor_proc_start(&p, a1, 5000), -1);
    char *a2[] = {(char *)COR_KERNEL_BIN, (char *)"--oms", cl.oms_addr, (char *)"--builtin",
                  (char *)"nope", NULL};
    CU_ASSERT_EQUAL(cor_proc_start(&p, a2, 5000), -1);
    char *a3[] = {(char *)COR_KERNEL_BIN, (char *)"--oms", cl.oms_addr, (char *)"--module",
                  (char *)"/nonexistent.so", NULL};
    CU_ASSERT_EQUAL(cor_proc_start(&p, a3, 5000), -1);
    char *a4[] = {(char *)COR_KERNEL_BIN, (char *)"--oms", cl.oms_addr, (char *)"--builtin",
                  (char *)"echo", (char *)"--label", (char *)"bad label", NULL};
    CU_ASSERT_EQUAL(cor_proc_start(&p, a4, 5000), -1);
    char *a5[] = {(char *)COR_OMS_BIN, (char *)"--sync", (char *)"sometimes", NULL};
    CU_ASSERT_EQUAL(cor_proc_start(&p, a5, 5000), -1);
}

static int suite_init(void)
{
    static const cor_cluster_spec_t spec = {.tag = "oms-data", .kernels = kernels, .n_kernels = 2};
    return cor_cluster_start(&cl, &spec);
}

static int suite_cleanup(void)
{
    cor_cluster_stop(&cl);
    return 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    static const cor_test_t tests[] = {
        {"register and place by selector", test_register_and_place},
        {"create refusals leave nothing behind", test_create_refusals},
        {"delete", test_delete},
        {"DM chains: placement and refusals", test_dm_chains},
        {"OMS kill -9 and restart loses nothing", test_oms_restart},
        {"kernel death is detected and reported", test_kernel_death},
        {"kernel restart: new incarnation, replicas lost", test_kernel_restart_new_incarnation},
        {"daemons refuse bad arguments", test_daemon_bad_arguments},
        {NULL, NULL},
    };
    return cor_test_main("cluster", tests, suite_init, suite_cleanup);
}
