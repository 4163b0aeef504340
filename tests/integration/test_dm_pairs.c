/*
 * test_dm_pairs.c — every ordered pair of the shipped DMs, as a chain, on
 * real daemons (cor-oms and two cor-kernel servers, with data directories
 * for ConsensusRSM's logs): a pair that is allowed
 * is created and called (a read-only method succeeds, and a mutating one
 * too unless the chain has Immutable, which must refuse it);
 * a pair that is refused is refused at create time as a conflict, and
 * nothing is created. The expected refusals are listed here by hand, not
 * derived from the DMs' capability bits, so the table checks them.
 */
#include <cor/cor.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cor/oms.pb-c.h"
#include "cluster.h"
#include "echo/echo.cor.h"
#include "host.h"
#include "testlib.h"

static const struct {
    const char *name;
    const char *text; /* as written in a chain */
} dms[] = {
    {"KeepInRegion", "KeepInRegion(region=eu)"},
    {"KeepOnDevice", "KeepOnDevice(class=cloud)"},
    {"CircuitBreaker", "CircuitBreaker(failures=3, cooldown=100ms)"},
    {"SerializableRPC", "SerializableRPC"},
    {"AtLeastOnceRPC", "AtLeastOnceRPC(retries=2, backoff=5ms)"},
    {"LeaseCaching", "LeaseCaching(lease=50ms)"},
    {"LoadBalancedFrontend", "LoadBalancedFrontend(replicas=2)"},
    {"PeriodicCheckpoint", "PeriodicCheckpoint(interval=1s)"},
    {"Immutable", "Immutable"},
    {"ConsensusRSM", "ConsensusRSM(replicas=2)"},
};
#define N_DMS (int)(sizeof(dms) / sizeof(dms[0]))

/* Unordered pairs that must be refused (both orders are tested). */
static const char *const refused[][2] = {
    {"SerializableRPC", "SerializableRPC"},       /* both order calls */
    {"AtLeastOnceRPC", "AtLeastOnceRPC"},         /* both retry and dedupe */
    {"LeaseCaching", "LeaseCaching"},             /* both cache */
    {"LoadBalancedFrontend", "LoadBalancedFrontend"}, /* both set the replica count */
    {"PeriodicCheckpoint", "PeriodicCheckpoint"}, /* both checkpoint */
    {"PeriodicCheckpoint", "LoadBalancedFrontend"}, /* a restored single replica vs N */
    {"Immutable", "Immutable"},                   /* both freeze */
    {"ConsensusRSM", "ConsensusRSM"},             /* both set the replica count */
    {"ConsensusRSM", "LoadBalancedFrontend"},     /* replicated state vs independent copies */
    {"ConsensusRSM", "PeriodicCheckpoint"},       /* a restored single replica vs a group */
    {"ConsensusRSM", "Immutable"},                /* a log of writes vs no writes */
};

static int must_refuse(const char *a, const char *b)
{
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        if ((strcmp(refused[i][0], a) == 0 && strcmp(refused[i][1], b) == 0) ||
            (strcmp(refused[i][0], b) == 0 && strcmp(refused[i][1], a) == 0))
            return 1;
    return 0;
}

static const cor_cluster_kernel_t kernels[] = {
    {"k1", "echo", "region=eu,device-class=cloud"},
    {"k2", "echo", "region=eu,device-class=cloud"},
};
static cor_cluster_t cl;

static int setup(void)
{
    static const cor_cluster_spec_t spec = {.tag = "pairs-oms", .kernels = kernels, .n_kernels = 2};
    return cor_cluster_start(&cl, &spec);
}

static int teardown(void)
{
    cor_cluster_stop(&cl);
    return 0;
}

static void test_every_pair(void)
{
    int allowed = 0, refusals = 0;
    for (int i = 0; i < N_DMS; i++) {
        for (int j = 0; j < N_DMS; j++) {
            char chain[256];
            snprintf(chain, sizeof(chain), "%s, %s", dms[i].text, dms[j].text);
            cor_create_opts_t o = {.dm_chain = chain};
            cor_ref_t *r = NULL;
            cor_error_t err;
            long before = cor_cluster_object_count(&cl);
            int rc = cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err);
            if (must_refuse(dms[i].name, dms[j].name)) {
                if (rc != COR_EINVAL || strstr(err.msg, "conflict") == NULL)
                    fprintf(stderr, "pair %s: expected a conflict, got %d '%s'\n", chain, rc,
                            err.msg);
                CU_ASSERT_EQUAL(rc, COR_EINVAL);
                CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "conflict"));
                CU_ASSERT_EQUAL(cor_cluster_object_count(&cl), before);
                refusals++;
                continue;
            }
            if (rc != 0)
                fprintf(stderr, "pair %s: create failed: %s\n", chain, err.msg);
            CU_ASSERT_EQUAL(rc, 0);
            if (rc != 0)
                continue;
            Echo__AddRequest add = ECHO__ADD_REQUEST__INIT;
            add.delta = 1;
            Echo__AddReply *ar = NULL;
            rc = echo_echo_add(r, &add, &ar, &err);
            int frozen = strcmp(dms[i].name, "Immutable") == 0 || strcmp(dms[j].name, "Immutable") == 0;
            if (rc != (frozen ? COR_EPERM : 0))
                fprintf(stderr, "pair %s: Add: %s\n", chain, err.msg);
            CU_ASSERT_EQUAL(rc, frozen ? COR_EPERM : 0);
            if (ar != NULL) {
                CU_ASSERT_EQUAL(ar->total, 1);
                echo__add_reply__free_unpacked(ar, NULL);
            }
            Echo__SayRequest say = ECHO__SAY_REQUEST__INIT;
            say.text = chain;
            Echo__SayReply *sr = NULL;
            for (int k = 0; k < 2; k++) { /* twice: caches and balancers see a repeat */
                rc = echo_echo_say(r, &say, &sr, &err);
                CU_ASSERT_EQUAL(rc, 0);
                if (sr != NULL) {
                    CU_ASSERT_STRING_EQUAL(sr->text, chain);
                    echo__say_reply__free_unpacked(sr, NULL);
                    sr = NULL;
                }
            }
            CU_ASSERT_EQUAL(cor_object_delete(cl.rt, cor_ref_id(r), &err), 0);
            cor_ref_free(r);
            allowed++;
        }
    }
    CU_ASSERT_EQUAL(allowed + refusals, N_DMS * N_DMS);
    CU_ASSERT_EQUAL(refusals, 15); /* 7 self-pairs + four mixed pairs both ways */
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    static const cor_test_t tests[] = {
        {"every ordered pair of shipped DMs", test_every_pair},
        {NULL, NULL},
    };
    return cor_test_main("dm_pairs", tests, setup, teardown);
}
