/*
 * test_rsm.c — ConsensusRSM with real processes: cor-oms and four
 * cor-kernel daemons (three replicas and a spare), each with a data
 * directory.
 *
 *  - an object with ConsensusRSM(replicas=3) gets three replicas on
 *    distinct kernel servers and counts every Add once, whichever replica
 *    the caller reaches first;
 *  - only the leader takes a call: sent straight to each kernel, one
 *    answers and the others refuse with ENOTLEADER; the same call id sent
 *    to the leader twice is applied once and answered twice alike;
 *  - kill -9 of the leader's kernel under continuous writes: they carry
 *    on after an election, none acknowledged is lost and none counted
 *    twice (the totals run on one by one), and the longest wait for a
 *    write is printed against the election timeout;
 *  - a follower paused past a snapshot catches up by installing it, and
 *    then carries the quorum on its own with the leader;
 *  - a follower's kernel killed for good: its replica is replaced on the
 *    spare kernel (learner, then voter), and the group then survives the
 *    loss of its leader's kernel too, every total exact;
 *  - a follower's kernel killed -9 and started again with its data
 *    directory: its replica rejoins with its log (no replacement is made),
 *    catches up, and then all three kernels are killed -9 at once and
 *    started again: the object has every acknowledged Add; deleted, its
 *    Raft files are gone from every kernel's data directory;
 *  - one replica moved (Oms.Migrate with `replica`, what corctl migrate
 *    --replica sends) — the leader's, then a follower's — while calls flow:
 *    the new one votes before the old one goes, and moves that cannot work
 *    (a target already holding a replica, a node without one, a selector)
 *    are refused and change nothing;
 *  - the OMS killed: writes go on through the replica list the client part
 *    has, across a leader's kernel killed meanwhile;
 *  - an OMS that never sends a new object's replica set (a deliberately
 *    broken one, as if it died right after the create): the replicas ask
 *    for it themselves and the group forms;
 *  - chains that cannot work are refused at create time with a reason;
 *  - a leader left without followers, holding a call it cannot commit,
 *    still drains and exits 0 at SIGTERM.
 */
#include <cor/cor.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"
#include "cor/kernel.pb-c.h"
#include "cor/oms.pb-c.h"
#include "echo/echo.cor.h"
#include "echo_calls.h"
#include "host.h"
#include "testlib.h"

static const cor_cluster_kernel_t kernels[] = {
    {"k1", "echo", NULL},
    {"k2", "echo", NULL},
    {"k3", "echo", NULL},
    {"k4", "echo", NULL},
};
static cor_cluster_t cl;
static cor_ref_t *obj;
static int64_t total; /* what the counter must hold */

static int setup(void)
{
    static const cor_cluster_spec_t spec = {.tag = "rsm-oms", .kernels = kernels, .n_kernels = 4};
    return cor_cluster_start(&cl, &spec);
}

static int teardown(void)
{
    cor_ref_free(obj);
    cor_cluster_stop(&cl);
    return 0;
}

/* The nodes and TCP addresses of r's active replicas (at most 8). */
static int replicas(cor_ref_t *r, char nodes[8][16], char tcp[8][64])
{
    Cor__LookupReply *l = cor_cluster_lookup(&cl, r);
    if (l == NULL)
        return -1;
    Cor__ObjectInfo *o = l->object;
    int n = 0;
    for (size_t i = 0; i < o->n_replicas && n < 8; i++) {
        if (o->replicas[i]->state != COR__REPLICA_STATE__REPLICA_ACTIVE)
            continue;
        snprintf(nodes[n], 16, "%s", o->replicas[i]->node);
        snprintf(tcp[n], 64, "%s", o->replicas[i]->tcp_address);
        n++;
    }
    protobuf_c_message_free_unpacked(&l->base, NULL);
    return n;
}

static void test_three_replicas_count_once(void)
{
    cor_error_t err;
    cor_create_opts_t o = {.dm_chain = "ConsensusRSM(replicas=3)"};
    CU_ASSERT_EQUAL_FATAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &obj, &err), 0);
    char nodes[8][16], tcp[8][64];
    CU_ASSERT_EQUAL_FATAL(replicas(obj, nodes, tcp), 3);
    CU_ASSERT_STRING_NOT_EQUAL(nodes[0], nodes[1]);
    CU_ASSERT_STRING_NOT_EQUAL(nodes[1], nodes[2]);
    CU_ASSERT_STRING_NOT_EQUAL(nodes[0], nodes[2]);
    for (int i = 1; i <= 50; i++) {
        int rc;
        int64_t t = cor_echo_add(obj, 1, &rc, &err);
        if (t != i)
            fprintf(stderr, "add %d: total %lld rc %d: %s\n", i, (long long)t, rc, err.msg);
        CU_ASSERT_EQUAL_FATAL(t, i);
    }
    total = 50;
    /* A read_only method, served by the leader after ReadIndex. */
    CU_ASSERT_EQUAL(cor_echo_say(obj, "hello", &err), 0);
}

/* Sends Add(1) with call id (cid, seq) to each replica's kernel directly:
 * returns the index of the one that took it (the leader), -1 if none. */
static int find_leader(cor_ref_t *o, char tcp[8][64], int n, const uint8_t cid[16], uint64_t seq,
                       int64_t *t)
{
    int leader = -1;
    for (int i = 0; i < n; i++) {
        int64_t r = cor_echo_raw_add(cl.rt, o, tcp[i], cid, seq, 1);
        if (r >= 0) {
            CU_ASSERT_EQUAL(leader, -1); /* one leader */
            leader = i;
            *t = r;
        }
    }
    return leader;
}

/* A new echo object with chain and one Add done; its three replicas'
 * nodes and addresses, which is the leader (the one that takes an Add sent
 * straight to it, call id tag), and the total after that Add. */
static cor_ref_t *new_group(const char *chain, uint8_t tag, char nodes[8][16], char tcp[8][64],
                            int *leader, int64_t *after)
{
    cor_error_t err;
    cor_ref_t *r = NULL;
    cor_create_opts_t o = {.dm_chain = chain};
    CU_ASSERT_EQUAL_FATAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), 0);
    int rc;
    CU_ASSERT_EQUAL_FATAL(cor_echo_add(r, 1, &rc, &err), 1); /* a leader exists */
    CU_ASSERT_EQUAL_FATAL(replicas(r, nodes, tcp), 3);
    uint8_t cid[16] = {tag, tag, tag};
    *leader = find_leader(r, tcp, 3, cid, 1, after);
    CU_ASSERT_FATAL(*leader >= 0);
    return r;
}

/* Each replica's own Raft view (Kernel.GetState, probe), as corctl
 * describe shows it: role, term, applied. */
static uint32_t last_voters; /* what the last raft_view's replica counts in its configuration */

static int raft_view(cor_ref_t *o, const char *tcp, char *role, size_t len, uint64_t *term,
                     uint64_t *applied)
{
    Cor__GetStateRequest req = COR__GET_STATE_REQUEST__INIT;
    const cor_object_id_t *id = cor_ref_id(o);
    req.object_id.data = (uint8_t *)id->b;
    req.object_id.len = sizeof(id->b);
    req.probe = 1;
    ProtobufCMessage *rep = NULL;
    cor_error_t err;
    if (cor_rpc_call(cor_runtime_client(cl.rt), tcp, COR_M_GET_STATE, &req.base,
                     &cor__get_state_reply__descriptor, 2000, &rep, &err) != 0)
        return -1;
    Cor__GetStateReply *g = (Cor__GetStateReply *)rep;
    int rc = g->raft != NULL ? 0 : -1;
    if (rc == 0) {
        snprintf(role, len, "%s", g->raft->role);
        *term = g->raft->term;
        *applied = g->raft->applied;
        last_voters = g->raft->voters;
    }
    protobuf_c_message_free_unpacked(rep, NULL);
    return rc;
}

static void test_only_the_leader_answers_and_once(void)
{
    char nodes[8][16], tcp[8][64];
    int n = replicas(obj, nodes, tcp);
    CU_ASSERT_EQUAL_FATAL(n, 3);
    uint8_t cid[16];
    for (int i = 0; i < 16; i++)
        cid[i] = (uint8_t)(0xA0 + i);
    int64_t t = -1;
    int leader = find_leader(obj, tcp, n, cid, 1, &t);
    CU_ASSERT_FATAL(leader >= 0);
    CU_ASSERT_EQUAL(t, total + 1);
    total++;
    /* The same call again: answered from the replicated table, not run. */
    CU_ASSERT_EQUAL(cor_echo_raw_add(cl.rt, obj, tcp[leader], cid, 1, 1), total);
    CU_ASSERT_EQUAL(cor_echo_raw_add(cl.rt, obj, tcp[leader], cid, 2, 1), total + 1);
    total++;
    int rc;
    CU_ASSERT_EQUAL(cor_echo_add(obj, 0, &rc, NULL), total);
    /* The replicas' own views agree: one leader, the one that answered. */
    uint64_t term0 = 0;
    for (int i = 0; i < n; i++) {
        char role[32];
        uint64_t term, applied;
        CU_ASSERT_EQUAL_FATAL(raft_view(obj, tcp[i], role, sizeof(role), &term, &applied), 0);
        CU_ASSERT_STRING_EQUAL(role, i == leader ? "leader" : "follower");
        CU_ASSERT(term > 0);
        if (i > 0)
            CU_ASSERT_EQUAL(term, term0);
        term0 = term;
        CU_ASSERT(applied > 0);
    }
}

typedef struct adder {
    cor_ref_t *r;
    int64_t want; /* the total the counter must show next, less one */
    int stop, bad;
    long long last_ok, max_gap; /* ms: the last success, the longest wait between two */
} adder_t;

/* Adds 1 until told to stop, checking each total runs on by one. */
static void *adder_main(void *arg)
{
    adder_t *a = arg;
    while (!__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE)) {
        int rc;
        cor_error_t err;
        int64_t got = cor_echo_add(a->r, 1, &rc, &err);
        if (got != a->want + 1) {
            fprintf(stderr, "under load: %lld, not %lld: %s\n", (long long)got,
                    (long long)a->want + 1, err.msg);
            a->bad++;
            return NULL;
        }
        a->want++;
        long long now = cor_test_now_ms();
        if (a->last_ok != 0 && now - a->last_ok > a->max_gap)
            a->max_gap = now - a->last_ok;
        a->last_ok = now;
    }
    return NULL;
}

/* Under continuous writes (one caller adding 1 in a loop, checking each
 * total), the leader's kernel is killed -9: the writes stall for the
 * election and carry on, none lost and none doubled; the longest stall is
 * printed against the election timeout. */
static void test_leader_killed(void)
{
    char nodes[8][16], tcp[8][64];
    int n = replicas(obj, nodes, tcp);
    CU_ASSERT_EQUAL_FATAL(n, 3);
    uint8_t cid[16] = {1, 2, 3};
    int64_t t = -1;
    int leader = find_leader(obj, tcp, n, cid, 100, &t);
    CU_ASSERT_FATAL(leader >= 0);
    int k = cor_cluster_kernel_index(&cl, nodes[leader]);
    CU_ASSERT_FATAL(k >= 0);
    adder_t a = {.r = obj, .want = t};
    pthread_t th;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, adder_main, &a), 0);
    usleep(300 * 1000);
    cor_cluster_kill_kernel(&cl, k);
    usleep(1500 * 1000);
    __atomic_store_n(&a.stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    CU_ASSERT_EQUAL(a.bad, 0);
    int rc;
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(cor_echo_add(obj, 0, &rc, &err), a.want); /* nothing lost */
    total = a.want;
    printf("\n  leader %s killed under continuous writes: %lld writes, the longest wait for "
           "one %lld ms (election timeout 200-400 ms)\n",
           nodes[leader], (long long)(a.want - t), a.max_gap);
    /* Back for the next tests (its replica rejoins). */
    CU_ASSERT_EQUAL(cor_cluster_restart_kernel(&cl, k), 0);
}

/* A follower paused (SIGSTOP) while the others apply more than a
 * snapshot's worth of calls finds, when it resumes, that the log it lacks
 * is compacted: it must install the leader's snapshot. Then the other
 * follower is killed, so every further write needs the resumed one. */
static void test_follower_catches_up_by_snapshot(void)
{
    cor_error_t err;
    int rc, n = 3, leader;
    char nodes[8][16], tcp[8][64];
    int64_t t;
    cor_ref_t *r = new_group("ConsensusRSM(replicas=3)", 9, nodes, tcp, &leader, &t);
    int paused = (leader + 1) % n, other = (leader + 2) % n;
    int kp = cor_cluster_kernel_index(&cl, nodes[paused]);
    int ko = cor_cluster_kernel_index(&cl, nodes[other]);
    CU_ASSERT_FATAL(kp >= 0 && ko >= 0);
    CU_ASSERT_EQUAL(kill(cl.k[kp].pid, SIGSTOP), 0);
    int64_t want = t;
    for (int i = 0; i < 1100; i++) {
        int64_t got = cor_echo_add(r, 1, &rc, &err);
        if (got != want + 1)
            fprintf(stderr, "add %d: %lld: %s\n", i, (long long)got, err.msg);
        CU_ASSERT_EQUAL_FATAL(got, want + 1);
        want++;
    }
    CU_ASSERT_EQUAL(kill(cl.k[kp].pid, SIGCONT), 0);
    cor_cluster_kill_kernel(&cl, ko);
    for (int i = 0; i < 20; i++) {
        int64_t got = cor_echo_add(r, 1, &rc, &err);
        if (got != want + 1)
            fprintf(stderr, "after resume, add %d: %lld: %s\n", i, (long long)got, err.msg);
        CU_ASSERT_EQUAL_FATAL(got, want + 1);
        want++;
    }
    CU_ASSERT_EQUAL(cor_cluster_restart_kernel(&cl, ko), 0);
    cor_ref_free(r);
}

/* How many of r's n replicas answer as voters in a configuration of n
 * voters and no learners (settled: a replacement promoted and the member
 * it replaced removed), and the highest index any of them applied. */
static int voters_applied(cor_ref_t *r, char tcp[8][64], int n, uint64_t *max_applied)
{
    int voters = 0;
    *max_applied = 0;
    for (int i = 0; i < n; i++) {
        char role[32];
        uint64_t term, applied;
        if (raft_view(r, tcp[i], role, sizeof(role), &term, &applied) == 0 &&
            (strcmp(role, "leader") == 0 || strcmp(role, "follower") == 0) &&
            last_voters == (uint32_t)n) {
            voters++;
            if (applied > *max_applied)
                *max_applied = applied;
        }
    }
    return voters;
}

/* Waits (up to 15 s, adding 1 every 50 ms meanwhile and checking each
 * total) until r has 3 active replicas, each answering probes as a
 * voter in a configuration of three (a dead one's does not answer; a new
 * one is a learner first; the one it replaces is removed last). 0 when it
 * got there. */
static int wait_replaced(cor_ref_t *r, int64_t *want)
{
    int ok = -1;
    for (int tries = 0; tries < 300 && ok != 0; tries++) {
        int rc;
        cor_error_t err;
        int64_t got = cor_echo_add(r, 1, &rc, &err);
        if (got != *want + 1)
            fprintf(stderr, "while replacing: %lld, not %lld: %s\n", (long long)got,
                    (long long)*want + 1, err.msg);
        CU_ASSERT_EQUAL_FATAL(got, *want + 1);
        (*want)++;
        char nodes[8][16], tcp[8][64];
        uint64_t applied;
        int n = replicas(r, nodes, tcp);
        if (n == 3 && voters_applied(r, tcp, n, &applied) == 3)
            ok = 0;
        else
            usleep(50 * 1000);
    }
    return ok;
}

/* A follower's kernel dies for good: after replace_after the group part
 * writes its replica off and makes one on the spare kernel, which the
 * leader adds as a learner and promotes once caught up, removing the dead
 * one. The group is three again, so it survives losing its leader next. */
static void test_lost_replica_replaced(void)
{
    cor_error_t err;
    int rc, leader;
    char nodes[8][16], tcp[8][64];
    int64_t want;
    cor_ref_t *r = new_group("ConsensusRSM(replicas=3, replace_after=300ms)", 5, nodes, tcp,
                             &leader, &want);
    int f = (leader + 1) % 3;
    int kf = cor_cluster_kernel_index(&cl, nodes[f]);
    int kl = cor_cluster_kernel_index(&cl, nodes[leader]);
    CU_ASSERT_FATAL(kf >= 0 && kl >= 0);
    char gone[16];
    snprintf(gone, sizeof(gone), "%s", nodes[f]);
    cor_cluster_kill_kernel(&cl, kf);
    long long t0 = cor_test_now_ms();
    CU_ASSERT_EQUAL_FATAL(wait_replaced(r, &want), 0);
    printf("\n  %s killed: its replica was replaced, caught up and voting after %lld ms "
           "(heartbeat timeout 1,000 ms + replace_after 300 ms)\n",
           gone, cor_test_now_ms() - t0);
    /* The second loss: the original leader's kernel. */
    cor_cluster_kill_kernel(&cl, kl);
    for (int i = 0; i < 20; i++) {
        int64_t got = cor_echo_add(r, 1, &rc, &err);
        if (got != want + 1)
            fprintf(stderr, "after the second loss, add %d: %lld: %s\n", i, (long long)got,
                    err.msg);
        CU_ASSERT_EQUAL_FATAL(got, want + 1);
        want++;
    }
    CU_ASSERT_EQUAL(cor_cluster_restart_kernel(&cl, kf), 0);
    CU_ASSERT_EQUAL(cor_cluster_restart_kernel(&cl, kl), 0);
    /* And it becomes three again, on the kernels that came back. */
    CU_ASSERT_EQUAL(wait_replaced(r, &want), 0);
    cor_ref_free(r);
}

/* After an OMS restart: every kernel server ALIVE to the new OMS (which
 * also gets the client past its first call on the old connection). */
static int oms_again(void)
{
    for (size_t i = 0; i < sizeof(kernels) / sizeof(kernels[0]); i++)
        if (!cor_cluster_wait_node_state(&cl, kernels[i].name, COR__NODE_STATE__NODE_ALIVE, 5000))
            return -1;
    return 0;
}

/* Whether r's three active replicas are on the nodes named in was. */
static int same_nodes(cor_ref_t *r, char was[8][16])
{
    char now[8][16], tcp[8][64];
    if (replicas(r, now, tcp) != 3)
        return 0;
    for (int i = 0; i < 3; i++)
        if (strcmp(now[i], was[0]) != 0 && strcmp(now[i], was[1]) != 0 &&
            strcmp(now[i], was[2]) != 0)
            return 0;
    return 1;
}

/* A kernel server killed -9 and started again with its data directory
 * makes its replicas again from their stores before it registers; the OMS
 * keeps them (no replacement), and they rejoin with their logs. */
static void test_restart_rejoins(void)
{
    cor_error_t err;
    int rc, leader;
    char nodes[8][16], tcp[8][64];
    int64_t want;
    cor_ref_t *r = new_group("ConsensusRSM(replicas=3)", 4, nodes, tcp, &leader, &want);
    for (int i = 0; i < 30; i++, want++)
        CU_ASSERT_EQUAL_FATAL(cor_echo_add(r, 1, &rc, &err), want + 1);
    int f = (leader + 1) % 3;
    int kf = cor_cluster_kernel_index(&cl, nodes[f]);
    CU_ASSERT_FATAL(kf >= 0);
    cor_cluster_kill_kernel(&cl, kf);
    for (int i = 0; i < 10; i++, want++) /* it misses these */
        CU_ASSERT_EQUAL_FATAL(cor_echo_add(r, 1, &rc, &err), want + 1);
    CU_ASSERT_EQUAL_FATAL(cor_cluster_restart_kernel(&cl, kf), 0);
    /* The same three nodes, the restarted one a voter again and caught up. */
    int back = 0;
    for (int tries = 0; tries < 100 && !back; tries++) {
        char now[8][16], ntcp[8][64];
        int n = replicas(r, now, ntcp);
        uint64_t applied = 0;
        char role[32] = "";
        uint64_t term, mine = 0;
        int fi = -1;
        for (int i = 0; i < n; i++)
            if (strcmp(now[i], nodes[f]) == 0)
                fi = i;
        if (n == 3 && fi >= 0 && voters_applied(r, ntcp, n, &applied) == 3 &&
            raft_view(r, ntcp[fi], role, sizeof(role), &term, &mine) == 0 && mine == applied)
            back = 1;
        else
            usleep(50 * 1000);
    }
    CU_ASSERT(back);
    CU_ASSERT(same_nodes(r, nodes)); /* nothing was replaced */

    /* All three at once, as in a power cut: every acknowledged Add is on
     * disk at a majority, so the object comes back with all of them. */
    int ks[3];
    for (int i = 0; i < 3; i++) {
        ks[i] = cor_cluster_kernel_index(&cl, nodes[i]);
        cor_cluster_kill_kernel(&cl, ks[i]);
    }
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(cor_cluster_restart_kernel(&cl, ks[i]), 0);
    int64_t got = cor_echo_add(r, 1, &rc, &err);
    if (got != want + 1)
        fprintf(stderr, "after restarting all three: %lld, not %lld: %s\n", (long long)got,
                (long long)want + 1, err.msg);
    CU_ASSERT_EQUAL(got, want + 1);

    /* Deleted, its Raft files go too (a restart must not make it again). */
    char idstr[COR_OBJECT_ID_STRLEN + 1];
    cor_object_id_format(cor_ref_id(r), idstr);
    CU_ASSERT_EQUAL(cor_object_delete(cl.rt, cor_ref_id(r), &err), 0);
    int left = 3;
    for (int tries = 0; tries < 100 && left > 0; tries++) {
        left = 0;
        for (int i = 0; i < 3; i++) {
            char data[256], dir[400];
            cor_test_kernel_data_dir(data, sizeof(data), nodes[i]);
            snprintf(dir, sizeof(dir), "%s/raft/%s", data, idstr);
            left += access(dir, F_OK) == 0;
        }
        if (left > 0)
            usleep(20 * 1000);
    }
    CU_ASSERT_EQUAL(left, 0);
    cor_ref_free(r);
}

/* The OMS killed: a replicated object keeps serving through the refs that
 * already reached it (the client part keeps its replica list while the OMS
 * cannot be asked), longer than the list's 2 s freshness, and through a
 * leader change meanwhile. */
static void test_serves_without_the_oms(void)
{
    int leader;
    char nodes[8][16], tcp[8][64];
    int64_t want;
    cor_ref_t *r = new_group("ConsensusRSM(replicas=3, replace_after=300ms)", 6, nodes, tcp,
                             &leader, &want);
    cor_cluster_kill_oms(&cl);
    adder_t a = {.r = r, .want = want};
    pthread_t th;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, adder_main, &a), 0);
    usleep(2500 * 1000); /* past the list's freshness */
    int kl = cor_cluster_kernel_index(&cl, nodes[leader]);
    cor_cluster_kill_kernel(&cl, kl);
    usleep(1500 * 1000);
    __atomic_store_n(&a.stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    CU_ASSERT_EQUAL(a.bad, 0);
    CU_ASSERT(a.want > want + 100);
    printf("\n  OMS down: %lld writes in 4 s, the leader's kernel killed meanwhile (longest wait "
           "%lld ms)\n",
           (long long)(a.want - want), a.max_gap);
    CU_ASSERT_EQUAL(cor_cluster_restart_oms(&cl), 0);
    CU_ASSERT_EQUAL(cor_cluster_restart_kernel(&cl, kl), 0);
    CU_ASSERT_EQUAL(oms_again(), 0);
    /* The new OMS heard from no kernel at first: that is not death, so
     * nothing was replaced (replace_after is 300 ms here), and the killed
     * leader's replica rejoined. */
    usleep(500 * 1000);
    CU_ASSERT(same_nodes(r, nodes));
    cor_ref_free(r);
}

/* An OMS that dies between making a replicated object's replicas and
 * sending them their set (COR_TEST_BREAK=no-founding-set: it never sends
 * it): after a few seconds each replica asks the OMS for its set itself,
 * finds it is the founding one, and the group forms. */
static void test_set_never_sent(void)
{
    cor_cluster_kill_oms(&cl);
    CU_ASSERT_EQUAL_FATAL(setenv("COR_TEST_BREAK", "no-founding-set", 1), 0);
    int restarted = cor_cluster_restart_oms(&cl);
    unsetenv("COR_TEST_BREAK");
    CU_ASSERT_EQUAL_FATAL(restarted, 0);
    CU_ASSERT_EQUAL_FATAL(oms_again(), 0);
    cor_error_t err;
    cor_ref_t *r = NULL;
    cor_create_opts_t o = {.dm_chain = "ConsensusRSM(replicas=3)"};
    int rc;
    CU_ASSERT_EQUAL_FATAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), 0);
    long long t0 = cor_test_now_ms();
    int64_t got = -1;
    for (int tries = 0; tries < 5 && got != 1; tries++) /* each try waits ~3 s in the client part */
        got = cor_echo_add(r, 1, &rc, &err);
    CU_ASSERT_EQUAL(got, 1);
    printf("\n  no replica set sent: the group formed and took a write after %lld ms\n",
           cor_test_now_ms() - t0);
    CU_ASSERT_EQUAL(cor_echo_add(r, 1, &rc, &err), 2);
    cor_ref_free(r);
    cor_cluster_kill_oms(&cl); /* an OMS without the break for what follows */
    CU_ASSERT_EQUAL(cor_cluster_restart_oms(&cl), 0);
    CU_ASSERT_EQUAL(oms_again(), 0);
}

/* Oms.Migrate of the replica on `from` to `to`: the status. */
static int move_replica(cor_ref_t *r, const char *from, const char *to, const char *selector,
                        cor_error_t *err)
{
    Cor__MigrateRequest q = COR__MIGRATE_REQUEST__INIT;
    const cor_object_id_t *id = cor_ref_id(r);
    q.id.data = (uint8_t *)id->b;
    q.id.len = sizeof(id->b);
    q.replica = (char *)from;
    q.to_node = (char *)to;
    q.selector = (char *)selector;
    ProtobufCMessage *out = NULL;
    int rc = cor_cluster_oms_call(&cl, COR_M_OMS_MIGRATE, &q.base, &cor__migrate_reply__descriptor,
                                  20000, &out, err);
    if (out != NULL)
        protobuf_c_message_free_unpacked(out, NULL);
    return rc;
}

/* The node of r's replicas (3 expected) that is not in nodes. */
static int spare_of(char nodes[8][16], int n, char *out, size_t len)
{
    for (size_t k = 0; k < sizeof(kernels) / sizeof(kernels[0]); k++) {
        int used = 0;
        for (int i = 0; i < n; i++)
            used |= strcmp(nodes[i], kernels[k].name) == 0;
        if (!used) {
            snprintf(out, len, "%s", kernels[k].name);
            return 0;
        }
    }
    return -1;
}

static void test_move_one_replica(void)
{
    cor_error_t err;
    int rc, first_leader;
    char nodes[8][16], tcp[8][64];
    int64_t total0;
    cor_ref_t *r = new_group("ConsensusRSM(replicas=3)", 3, nodes, tcp, &first_leader, &total0);
    char spare[16];
    CU_ASSERT_EQUAL_FATAL(spare_of(nodes, 3, spare, sizeof(spare)), 0);

    /* Refused, nothing changed: onto a node that holds one, from a node
     * that holds none, with a selector, to no such node. */
    static const struct {
        int from, to; /* -1: the spare; -2: a node that does not exist */
        const char *selector;
        int code;
        const char *says;
    } bad[] = {
        {0, 1, "", COR_EINVAL, "already holds"},
        {-1, 1, "", COR_ENOTFOUND, "no live replica"},
        {0, -3, "zone=a", COR_EINVAL, "not a selector"},
        {0, -2, "", COR_ENOTFOUND, "no kernel server named"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *from = bad[i].from == -1 ? spare : nodes[bad[i].from];
        const char *to = bad[i].to == -2 ? "k9" : bad[i].to == -3 ? "" : nodes[bad[i].to];
        rc = move_replica(r, from, to, bad[i].selector, &err);
        if (rc != bad[i].code || strstr(err.msg, bad[i].says) == NULL)
            fprintf(stderr, "move %s -> %s: %d %s\n", from, to, rc, err.msg);
        CU_ASSERT_EQUAL(rc, bad[i].code);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, bad[i].says));
    }
    char now[8][16];
    CU_ASSERT_EQUAL_FATAL(replicas(r, now, tcp), 3);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_STRING_EQUAL(now[i], nodes[i]);

    adder_t a = {.r = r, .want = total0};
    pthread_t th;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, adder_main, &a), 0);
    /* The leader's replica first (its successor votes, then it goes and
     * the others elect), then a follower's onto the node it left. */
    /* (No FATAL asserts until the adder is joined: it uses r.) */
    for (int round = 0; round < 2; round++) {
        int n = 0, leader = -1;
        for (int tries = 0; tries < 100 && leader < 0; tries++) { /* after an election */
            n = replicas(r, nodes, tcp);
            for (int i = 0; i < n; i++) {
                char role[32];
                uint64_t term, applied;
                if (raft_view(r, tcp[i], role, sizeof(role), &term, &applied) == 0 &&
                    strcmp(role, "leader") == 0)
                    leader = i;
            }
            if (leader < 0)
                usleep(50 * 1000);
        }
        CU_ASSERT_EQUAL(n, 3);
        CU_ASSERT(leader >= 0);
        if (n != 3 || leader < 0)
            break;
        int from = round == 0 ? leader : (leader + 1) % n;
        char to[16], gone[16];
        CU_ASSERT_EQUAL(spare_of(nodes, n, to, sizeof(to)), 0);
        snprintf(gone, sizeof(gone), "%s", nodes[from]);
        usleep(200 * 1000); /* calls flowing before */
        rc = move_replica(r, gone, to, "", &err);
        if (rc != 0)
            fprintf(stderr, "moving the replica on %s to %s: %s\n", gone, to, err.msg);
        CU_ASSERT_EQUAL(rc, 0);
        /* Settled (after an election, when the leader's replica moved):
         * three voters in a configuration of three, the new one among
         * them and the old one gone. */
        int voters = 0;
        uint64_t applied;
        for (int tries = 0; tries < 60 && voters != 3; tries++) {
            usleep(50 * 1000);
            voters = replicas(r, now, tcp) == 3 ? voters_applied(r, tcp, 3, &applied) : 0;
        }
        CU_ASSERT_EQUAL(voters, 3);
        int has_to = 0, has_gone = 0;
        for (int i = 0; i < 3; i++) {
            has_to |= strcmp(now[i], to) == 0;
            has_gone |= strcmp(now[i], gone) == 0;
        }
        CU_ASSERT(has_to);
        CU_ASSERT(!has_gone);
    }
    __atomic_store_n(&a.stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    CU_ASSERT_EQUAL(a.bad, 0);
    CU_ASSERT(a.want > 1);
    CU_ASSERT_EQUAL(cor_echo_add(r, 0, &rc, &err), a.want);
    cor_ref_free(r);
}

typedef struct bg_add {
    cor_ref_t *r;
    int rc;
    int64_t total;
} bg_add_t;

static void *bg_add_main(void *arg)
{
    bg_add_t *b = arg;
    cor_error_t err;
    b->total = cor_echo_add(b->r, 1, &b->rc, &err);
    return NULL;
}

/* With two of three replicas' kernels gone no write can commit: a call
 * with a 600 ms deadline fails as timed out within about that (one
 * attempt may run its whole deadline after the last check), not after the
 * client part's 60 attempts of 600 ms each. */
static void test_call_keeps_its_deadline(void)
{
    int leader;
    char nodes[8][16], tcp[8][64];
    int64_t want;
    cor_ref_t *r = new_group("ConsensusRSM(replicas=3)", 8, nodes, tcp, &leader, &want);
    int ka = cor_cluster_kernel_index(&cl, nodes[(leader + 1) % 3]);
    int kb = cor_cluster_kernel_index(&cl, nodes[(leader + 2) % 3]);
    cor_cluster_kill_kernel(&cl, ka);
    cor_cluster_kill_kernel(&cl, kb);
    cor_ref_set_deadline(r, 600);
    int rc;
    cor_error_t err;
    long long t0 = cor_test_now_ms();
    int64_t got = cor_echo_add(r, 1, &rc, &err);
    long long took = cor_test_now_ms() - t0;
    CU_ASSERT_EQUAL(got, -1);
    CU_ASSERT_EQUAL(rc, COR_ETIMEDOUT);
    CU_ASSERT(took < 2 * 600 + 500);
    printf("\n  no quorum, deadline 600 ms: the call failed after %lld ms: %s\n", took, err.msg);
    CU_ASSERT_EQUAL(cor_cluster_restart_kernel(&cl, ka), 0);
    CU_ASSERT_EQUAL(cor_cluster_restart_kernel(&cl, kb), 0);
    cor_ref_set_deadline(r, 10000);
    /* Back, nothing lost. The timed-out Add has an unknown outcome: the
     * old leader had it in its log, and it commits if that log wins. */
    int64_t after = cor_echo_add(r, 0, &rc, &err);
    CU_ASSERT(after == want || after == want + 1);
    cor_ref_free(r);
}

/* A leader whose followers are gone holds calls it cannot commit; SIGTERM
 * must still drain it: the waiting calls are answered (ESHUTDOWN) while
 * its server still exists, and it exits 0. Run last: it takes the three
 * kernels down and brings them back. */
static void test_leader_drains_waiting_calls_at_sigterm(void)
{
    int n = 3, leader;
    char nodes[8][16], tcp[8][64];
    int64_t t;
    cor_ref_t *r = new_group("ConsensusRSM(replicas=3)", 7, nodes, tcp, &leader, &t);
    int kl = cor_cluster_kernel_index(&cl, nodes[leader]);
    int down[8], n_down = 0;
    for (int i = 0; i < n; i++)
        if (i != leader) {
            down[n_down] = cor_cluster_kernel_index(&cl, nodes[i]);
            cor_cluster_kill_kernel(&cl, down[n_down++]);
        }
    bg_add_t b = {.r = r};
    pthread_t th;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, bg_add_main, &b), 0);
    usleep(300 * 1000); /* the call is in the leader's log, waiting */
    CU_ASSERT_EQUAL(cor_proc_stop(&cl.k[kl], SIGTERM, 10000), 0);
    pthread_join(th, NULL);
    CU_ASSERT_NOT_EQUAL(b.rc, 0); /* no majority: it could not succeed */
    for (int i = 0; i < n_down; i++)
        CU_ASSERT_EQUAL(cor_cluster_restart_kernel(&cl, down[i]), 0);
    CU_ASSERT_EQUAL(cor_cluster_restart_kernel(&cl, kl), 0);
    cor_ref_free(r);
}

static void test_refused_chains(void)
{
    cor_error_t err;
    cor_ref_t *r = NULL;
    cor_create_opts_t o = {.dm_chain = "Immutable, ConsensusRSM"};
    CU_ASSERT_EQUAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "ConsensusRSM"));
    o.dm_chain = "LoadBalancedFrontend(replicas=2), ConsensusRSM";
    CU_ASSERT_EQUAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), COR_EINVAL);
    o.dm_chain = "ConsensusRSM(replicas=9)";
    CU_ASSERT_EQUAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "replicas"));
    CU_ASSERT_PTR_NULL(r);
}

int main(void)
{
    static const cor_test_t tests[] = {
        {"three replicas count each Add once", test_three_replicas_count_once},
        {"only the leader answers, and a resent call applies once",
         test_only_the_leader_answers_and_once},
        {"the leader's kernel killed -9: nothing acknowledged is lost", test_leader_killed},
        {"a paused follower catches up by installing a snapshot",
         test_follower_catches_up_by_snapshot},
        {"a lost replica is replaced, and the group survives a second loss",
         test_lost_replica_replaced},
        {"a restarted kernel's replica rejoins, even when all three restart",
         test_restart_rejoins},
        {"one replica moves, the leader's too, while calls flow", test_move_one_replica},
        {"replicas whose set never came ask the OMS and form", test_set_never_sent},
        {"a replicated object serves while the OMS is down", test_serves_without_the_oms},
        {"chains that cannot work are refused", test_refused_chains},
        {"a call through elections and failures keeps its deadline", test_call_keeps_its_deadline},
        {"a leader holding uncommittable calls still drains at SIGTERM",
         test_leader_drains_waiting_calls_at_sigterm},
        {NULL, NULL},
    };
    return cor_test_main("rsm", tests, setup, teardown);
}
