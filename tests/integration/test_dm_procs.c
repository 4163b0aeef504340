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

#include "cor/kernel.pb-c.h"
#include "cor/oms.pb-c.h"
#include "echo/echo.cor.h"
#include "echo_class.h"
#include "daemons.h"
#include "rpc.h"
#include "host.h"
#include "testlib.h"

static char data_dir[256], oms_addr[64];
static cor_proc_t oms, k[2];
static cor_runtime_t *rt;

static int start_kernel(int i)
{
    char name[16];
    snprintf(name, sizeof(name), "p%d", i + 1);
    return cor_proc_start_kernel(&k[i], COR_KERNEL_BIN, oms_addr, name, "echo", NULL);
}

static int setup(void)
{
    cor_test_tmp_path(data_dir, sizeof(data_dir), "procs-oms");
    if (cor_proc_start_oms(&oms, COR_OMS_BIN, "127.0.0.1:0", data_dir, oms_addr,
                           sizeof(oms_addr)) != 0 || start_kernel(0) != 0 ||
        start_kernel(1) != 0)
        return 1;
    /* The caller hosts the Echo class too (for Immutable's local replica),
     * but never listens: it is a client process. */
    cor_runtime_opts_t o = {.version = COR_RUNTIME_OPTS_VERSION, .oms_address = oms_addr,
                            .host_id = "test-client"};
    cor_error_t err;
    return cor_runtime_new(&o, &rt, &err) || cor_runtime_register_class(rt, &echo_class, &err);
}

static int teardown(void)
{
    cor_runtime_free(rt);
    for (int i = 0; i < 2; i++)
        cor_proc_stop(&k[i], SIGTERM, 10000);
    cor_proc_stop(&oms, SIGTERM, 10000);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", data_dir);
    return system(cmd) == 0 ? 0 : 0;
}

static cor_ref_t *create(const char *chain, const char *selector)
{
    cor_create_opts_t o = {.dm_chain = chain, .selector = selector};
    cor_ref_t *r = NULL;
    cor_error_t err;
    if (cor_object_create(rt, "echo.Echo", NULL, 0, &o, &r, &err) != 0)
        fprintf(stderr, "create %s: %s\n", chain, err.msg);
    return r;
}

static int64_t add(cor_ref_t *r, int *rc, cor_error_t *err)
{
    Echo__AddRequest req = ECHO__ADD_REQUEST__INIT;
    req.delta = 1;
    Echo__AddReply *rep = NULL;
    *rc = echo_echo_add(r, &req, &rep, err);
    if (*rc != 0)
        return -1;
    int64_t t = rep->total;
    echo__add_reply__free_unpacked(rep, NULL);
    return t;
}

static int say(cor_ref_t *r, cor_error_t *err)
{
    Echo__SayRequest req = ECHO__SAY_REQUEST__INIT;
    req.text = (char *)"hello";
    Echo__SayReply *rep = NULL;
    int rc = echo_echo_say(r, &req, &rep, err);
    if (rep != NULL)
        echo__say_reply__free_unpacked(rep, NULL);
    return rc;
}

/* The kernel hosting r, by index into k[] (its name is p1 or p2). */
static int kernel_of(cor_ref_t *r)
{
    Cor__LookupRequest lq = COR__LOOKUP_REQUEST__INIT;
    lq.id.data = (uint8_t *)cor_ref_id(r)->b;
    lq.id.len = 16;
    ProtobufCMessage *m = NULL;
    cor_error_t err;
    int idx = -1;
    if (cor_rpc_call(cor_runtime_client(rt), oms_addr, COR_M_OMS_LOOKUP, &lq.base,
                     &cor__lookup_reply__descriptor, 5000, &m, &err) == 0) {
        idx = ((Cor__LookupReply *)m)->object->replicas[0]->node[1] - '1';
        protobuf_c_message_free_unpacked(m, NULL);
    }
    return idx;
}

/* Calls served by a kernel, as its last heartbeat reported. */
static long long served_by(int idx)
{
    Cor__ListNodesRequest rq = COR__LIST_NODES_REQUEST__INIT;
    ProtobufCMessage *m = NULL;
    cor_error_t err;
    long long n = -1;
    if (cor_rpc_call(cor_runtime_client(rt), oms_addr, COR_M_OMS_LIST_NODES, &rq.base,
                     &cor__list_nodes_reply__descriptor, 5000, &m, &err) == 0) {
        Cor__ListNodesReply *r = (Cor__ListNodesReply *)m;
        char want[16];
        snprintf(want, sizeof(want), "p%d", idx + 1);
        for (size_t i = 0; i < r->n_nodes; i++)
            if (strcmp(r->nodes[i]->name, want) == 0 && r->nodes[i]->load)
                n = (long long)r->nodes[i]->load->calls;
        protobuf_c_message_free_unpacked(m, NULL);
    }
    return n;
}

static void test_at_least_once_dedup(void)
{
    cor_ref_t *r = create("AtLeastOnceRPC", "");
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    /* One Add as the client would send it, then the same bytes again. */
    Echo__AddRequest a = ECHO__ADD_REQUEST__INIT;
    a.delta = 10;
    uint8_t payload[32];
    size_t plen = echo__add_request__pack(&a, payload);
    Cor__InvokeRequest env = COR__INVOKE_REQUEST__INIT;
    env.object_id.data = (uint8_t *)cor_ref_id(r)->b;
    env.object_id.len = 16;
    env.method = (char *)"Add";
    env.payload.data = payload;
    env.payload.len = plen;
    uint8_t client[16] = {0xc0, 0xff, 0xee};
    env.client_id.data = client;
    env.client_id.len = 16;
    env.seq = 77;
    int64_t totals[2] = {0, 0};
    char target[160];
    cor_ref_location(r, target, sizeof(target), NULL);
    for (int i = 0; i < 2; i++) {
        grpc_slice s = grpc_slice_malloc(cor__invoke_request__get_packed_size(&env));
        cor__invoke_request__pack(&env, GRPC_SLICE_START_PTR(s));
        grpc_slice out;
        cor_error_t err;
        cor_peer_t *p = cor_client_peer(cor_runtime_client(rt), target);
        CU_ASSERT_EQUAL_FATAL(cor_client_call(cor_runtime_client(rt), p, COR_M_INVOKE, s, 5000, &out, &err,
                                              NULL), 0);
        Cor__InvokeReply *rep = cor__invoke_reply__unpack(NULL, GRPC_SLICE_LENGTH(out),
                                                          GRPC_SLICE_START_PTR(out));
        Echo__AddReply *ar = echo__add_reply__unpack(NULL, rep->payload.len, rep->payload.data);
        totals[i] = ar->total;
        echo__add_reply__free_unpacked(ar, NULL);
        cor__invoke_reply__free_unpacked(rep, NULL);
        grpc_slice_unref(out);
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
    int idx = kernel_of(r);
    CU_ASSERT_FATAL(idx >= 0);
    cor_error_t err;
    usleep(500 * 1000); /* a heartbeat after any earlier test's calls */
    long long before = served_by(idx);
    for (int i = 0; i < 20; i++)
        CU_ASSERT_EQUAL(say(r, &err), 0);
    usleep(500 * 1000); /* the next heartbeats carry the count */
    CU_ASSERT_EQUAL(served_by(idx) - before, 1);
    cor_ref_free(r);
}

static void test_immutable_outlives_its_kernel(void)
{
    cor_ref_t *r = create("Immutable", "node=p2");
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    cor_error_t err;
    CU_ASSERT_EQUAL(say(r, &err), 0); /* first read: the state is copied here */
    cor_proc_kill(&k[1]);             /* kill -9 the original's kernel */
    for (int i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(say(r, &err), 0);
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
    cor_proc_kill(&k[0]);
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
