/*
 * test_dm_procs.c — the call DMs' semantics against real daemons (cor-oms
 * and cor-kernel processes), complementing the in-process tests of
 * tests/unit/test_dm_calls.c:
 *  - AtLeastOnceRPC: the same call (same client id and sequence) sent to
 *    the kernel twice, as a resend after a lost reply would be, runs once
 *    and the second answer is the first's;
 *  - CircuitBreaker: with its kernel killed -9, calls fail in transport N
 *    times and then fail fast with the DM's name;
 *  - LeaseCaching: repeated reads reach the kernel once (its own call
 *    counter, reported to the OMS in heartbeats, says so);
 *  - Immutable: a caller with the class keeps reading after the object's
 *    kernel is killed -9 (its local replica answers).
 */
#include <cor/cor.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"
#include "cor/oms.pb-c.h"
#include "echo/echo.cor.h"
#include "echo_calls.h"
#include "echo_class.h"
#include "host.h"
#include "testlib.h"

static const cor_cluster_kernel_t kernels[] = {
    {"p1", "echo", NULL},
    {"p2", "echo", NULL},
};
enum { P1, P2 };
static cor_cluster_t cl;

static int setup(void)
{
    /* The caller hosts the Echo class too (for Immutable's local replica),
     * but never listens: it is a client process. */
    static const cor_cluster_spec_t spec = {
        .tag = "procs-oms", .kernels = kernels, .n_kernels = 2, .host_id = "test-client"};
    cor_error_t err;
    return cor_cluster_start(&cl, &spec) || cor_runtime_register_class(cl.rt, &echo_class, &err);
}

static int teardown(void)
{
    cor_cluster_stop(&cl);
    return 0;
}

static cor_ref_t *create(const char *chain, const char *selector)
{
    cor_error_t err;
    return cor_cluster_create(&cl, "echo.Echo", selector, chain, &err);
}

static int64_t add(cor_ref_t *r, int *rc, cor_error_t *err)
{
    return cor_echo_add(r, 1, rc, err);
}

/* Calls served by a kernel, as its last heartbeat reported. */
static long long served_by(int idx)
{
    Cor__ListNodesReply *r = cor_cluster_list_nodes(&cl);
    long long n = -1;
    if (r != NULL) {
        const Cor__NodeInfo *node = cor_cluster_find_node(r, kernels[idx].name);
        if (node != NULL && node->load)
            n = (long long)node->load->calls;
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }
    return n;
}

static void test_at_least_once_dedup(void)
{
    cor_ref_t *r = create("AtLeastOnceRPC", "");
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    /* One Add as the client would send it, then the same call again. */
    const uint8_t client[16] = {0xc0, 0xff, 0xee};
    int64_t totals[2] = {0, 0};
    char target[160];
    cor_ref_location(r, target, sizeof(target), NULL);
    for (int i = 0; i < 2; i++) {
        totals[i] = cor_echo_raw_add(cl.rt, r, target, client, 77, 10);
        CU_ASSERT_NOT_EQUAL_FATAL(totals[i], -1);
    }
    CU_ASSERT_EQUAL(totals[0], 10);
    CU_ASSERT_EQUAL(totals[1], 10); /* the stored answer, not a second run */
    int rc;
    cor_error_t err;
    CU_ASSERT_EQUAL(add(r, &rc, &err), 11); /* a new call runs */
    cor_ref_free(r);
}

static void test_lease_caching(void)
{
    cor_ref_t *r = create("LeaseCaching(lease=10s)", "");
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    int idx = cor_cluster_kernel_of(&cl, r);
    CU_ASSERT_FATAL(idx >= 0);
    cor_error_t err;
    usleep(500 * 1000); /* a heartbeat after any earlier test's calls */
    long long before = served_by(idx);
    for (int i = 0; i < 20; i++)
        CU_ASSERT_EQUAL(cor_echo_say(r, "hello", &err), 0);
    usleep(500 * 1000); /* the next heartbeats carry the count */
    CU_ASSERT_EQUAL(served_by(idx) - before, 1);
    cor_ref_free(r);
}

static void test_immutable_outlives_its_kernel(void)
{
    cor_ref_t *r = create("Immutable", "node=p2");
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    cor_error_t err;
    CU_ASSERT_EQUAL(cor_echo_say(r, "hello", &err), 0); /* first read: the state is copied here */
    cor_cluster_kill_kernel(&cl, P2); /* kill -9 the original's kernel */
    for (int i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(cor_echo_say(r, "hello", &err), 0);
    int rc;
    add(r, &rc, &err);
    CU_ASSERT_EQUAL(rc, COR_EPERM); /* still frozen */
    cor_ref_free(r);
}

static void test_circuit_breaker(void)
{
    cor_ref_t *r = create("CircuitBreaker(failures=2, cooldown=10s)", "node=p1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    cor_error_t err;
    int rc;
    CU_ASSERT_EQUAL(add(r, &rc, &err), 1);
    cor_cluster_kill_kernel(&cl, P1);
    for (int i = 0; i < 2; i++) {
        add(r, &rc, &err);
        CU_ASSERT_EQUAL(rc, COR_EUNAVAIL);
        CU_ASSERT_PTR_NULL(strstr(err.msg, "circuit open"));
    }
    add(r, &rc, &err);
    CU_ASSERT_EQUAL(rc, COR_EUNAVAIL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "CircuitBreaker: circuit open after 2 consecutive failures"));
    cor_ref_free(r);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    static const cor_test_t tests[] = {
        {"AtLeastOnceRPC: a resent call runs once", test_at_least_once_dedup},
        {"LeaseCaching: reads reach the kernel once", test_lease_caching},
        {"Immutable: reads outlive the kernel", test_immutable_outlives_its_kernel},
        {"CircuitBreaker: opens when the kernel dies", test_circuit_breaker},
        {NULL, NULL},
    };
    return cor_test_main("dm_procs", tests, setup, teardown);
}
