/*
 * test_lbf.c — LoadBalancedFrontend with real processes: cor-oms and three
 * cor-kernel daemons. An object with replicas=2 gets two replicas on
 * distinct kernel servers; calls alternate between them (each replica has
 * its own state, so the counters show it); a chain asking for more
 * replicas than there are servers, or two replica-deciding DMs, is
 * refused; when one replica's kernel is killed -9, read-only calls keep
 * succeeding on the other and the OMS re-creates the lost replica on the
 * third kernel. Then PeriodicCheckpoint: a counter whose kernel server is
 * killed -9 is restored on another from its last checkpoint, under a new
 * epoch, and callers carry on with the checkpointed total.
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

static const cor_cluster_kernel_t kernels[] = {
    {"k1", "echo", NULL},
    {"k2", "echo", NULL},
    {"k3", "echo", NULL},
};
static cor_cluster_t cl;

static int setup(void)
{
    static const cor_cluster_spec_t spec = {.tag = "lbf-oms", .kernels = kernels, .n_kernels = 3};
    return cor_cluster_start(&cl, &spec);
}

static int teardown(void)
{
    cor_cluster_stop(&cl);
    return 0;
}

/* Active replicas' node names (at most 8), and how many. */
static int active_nodes(cor_ref_t *r, char nodes[8][16])
{
    Cor__LookupReply *l = cor_cluster_lookup(&cl, r);
    if (l == NULL)
        return -1;
    Cor__ObjectInfo *o = l->object;
    int n = 0;
    for (size_t i = 0; i < o->n_replicas && n < 8; i++)
        if (o->replicas[i]->state == COR__REPLICA_STATE__REPLICA_ACTIVE &&
            o->replicas[i]->node_state == COR__NODE_STATE__NODE_ALIVE)
            snprintf(nodes[n++], 16, "%s", o->replicas[i]->node);
    protobuf_c_message_free_unpacked(&l->base, NULL);
    return n;
}

/* Adds 1 to r's counter: the total, or -1 with *rc set. */
static int64_t add(cor_ref_t *r, int *rc)
{
    return cor_echo_add(r, 1, rc, NULL);
}

static cor_ref_t *lbf;

static void test_replicas_and_round_robin(void)
{
    cor_error_t err;
    cor_create_opts_t o = {.dm_chain = "LoadBalancedFrontend(replicas=2)"};
    CU_ASSERT_EQUAL_FATAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &lbf, &err), 0);
    char nodes[8][16];
    CU_ASSERT_EQUAL_FATAL(active_nodes(lbf, nodes), 2);
    CU_ASSERT_STRING_NOT_EQUAL(nodes[0], nodes[1]);
    /* Each replica counts its own adds: alternation shows as 1,1,2,2. */
    int rc, ones = 0, twos = 0;
    for (int i = 0; i < 4; i++) {
        int64_t t = add(lbf, &rc);
        CU_ASSERT_EQUAL(rc, 0);
        ones += t == 1;
        twos += t == 2;
    }
    CU_ASSERT_EQUAL(ones, 2);
    CU_ASSERT_EQUAL(twos, 2);
}

static void test_refusals(void)
{
    cor_error_t err;
    cor_ref_t *r = NULL;
    cor_create_opts_t o = {.dm_chain = "LoadBalancedFrontend(replicas=4)"};
    CU_ASSERT_EQUAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), COR_EUNAVAIL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "asks for 4 replicas"));
    o.dm_chain = "LoadBalancedFrontend(replicas=2), LoadBalancedFrontend(replicas=3)";
    CU_ASSERT_EQUAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "conflict"));
    o.dm_chain = "LoadBalancedFrontend(replicas=9)";
    CU_ASSERT_EQUAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), COR_EINVAL);
    o.dm_chain = "LoadBalancedFrontend";
    CU_ASSERT_EQUAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "needs parameter 'replicas'"));
}

static void test_kernel_death_and_repair(void)
{
    char nodes[8][16];
    CU_ASSERT_EQUAL_FATAL(active_nodes(lbf, nodes), 2);
    char dead[16];
    snprintf(dead, sizeof(dead), "%s", nodes[0]);
    cor_cluster_kill_kernel(&cl, cor_cluster_kernel_index(&cl, dead));
    /* Read-only calls keep succeeding: a failed replica is skipped and the
     * call resent to the other. */
    int failures = 0;
    for (int i = 0; i < 40; i++) {
        failures += cor_echo_say(lbf, "hi", NULL) != 0;
        usleep(50 * 1000);
    }
    CU_ASSERT_EQUAL(failures, 0);
    /* The OMS noticed and re-created the replica on the third kernel. */
    int n = 0, on_dead = 1;
    for (int waited = 0; waited < 8000; waited += 100) {
        n = active_nodes(lbf, nodes);
        on_dead = 0;
        for (int i = 0; i < n; i++)
            on_dead |= strcmp(nodes[i], dead) == 0;
        if (n == 2 && !on_dead)
            break;
        usleep(100 * 1000);
    }
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_FALSE(on_dead);
    int rc;
    add(lbf, &rc);
    CU_ASSERT_EQUAL(rc, 0);
    cor_ref_free(lbf);
}

static int64_t checkpoint_ms(cor_ref_t *r, char *node, uint64_t *epoch)
{
    Cor__LookupReply *l = cor_cluster_lookup(&cl, r);
    if (l == NULL)
        return -1;
    Cor__ObjectInfo *o = l->object;
    int64_t t = o->checkpoint_ms;
    node[0] = '\0';
    for (size_t i = 0; i < o->n_replicas; i++)
        if (o->replicas[i]->state == COR__REPLICA_STATE__REPLICA_ACTIVE &&
            o->replicas[i]->node_state == COR__NODE_STATE__NODE_ALIVE)
            snprintf(node, 16, "%s", o->replicas[i]->node);
    *epoch = o->epoch;
    protobuf_c_message_free_unpacked(&l->base, NULL);
    return t;
}

static void test_checkpoint_restore(void)
{
    cor_error_t err;
    cor_ref_t *r = NULL;
    cor_create_opts_t o = {.dm_chain = "PeriodicCheckpoint(interval=100ms)"};
    CU_ASSERT_EQUAL_FATAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), 0);
    int rc;
    add(r, &rc);
    add(r, &rc);
    CU_ASSERT_EQUAL(add(r, &rc), 3);
    /* The next tick (the kernel's heartbeat, 200 ms) sends the change. */
    char node[16], now_on[16];
    uint64_t epoch = 0, epoch2 = 0;
    int64_t t = 0;
    for (int waited = 0; waited < 3000 && t <= 0; waited += 100) {
        usleep(100 * 1000);
        t = checkpoint_ms(r, node, &epoch);
    }
    usleep(500 * 1000); /* and again after the last add */
    t = checkpoint_ms(r, node, &epoch);
    CU_ASSERT(t > 0);
    CU_ASSERT_FATAL(node[0] == 'k');
    cor_cluster_kill_kernel(&cl, cor_cluster_kernel_index(&cl, node));
    /* The OMS marks the node dead and installs the checkpoint elsewhere. */
    for (int waited = 0; waited < 8000; waited += 100) {
        checkpoint_ms(r, now_on, &epoch2);
        if (now_on[0] != '\0' && strcmp(now_on, node) != 0)
            break;
        usleep(100 * 1000);
    }
    CU_ASSERT_STRING_NOT_EQUAL(now_on, node);
    CU_ASSERT_EQUAL(epoch2, epoch + 1);
    /* The same ref finds it (refresh through the OMS) with its state. */
    CU_ASSERT_EQUAL(add(r, &rc), 4);
    CU_ASSERT_EQUAL(rc, 0);
    cor_ref_free(r);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    static const cor_test_t tests[] = {
        {"two replicas, round-robin", test_replicas_and_round_robin},
        {"refusals", test_refusals},
        {"kernel death: calls go on, replica re-created", test_kernel_death_and_repair},
        {"PeriodicCheckpoint: restored after kernel death", test_checkpoint_restore},
        {NULL, NULL},
    };
    return cor_test_main("lbf", tests, setup, teardown);
}
