/*
 * test_migrate.c — live migration with real processes: cor-oms and three
 * kernels. A counter moves back and forth between two kernels 40 times
 * while two client threads add to it without pause; afterwards the counter
 * equals the number of acknowledged adds (none lost, none applied twice)
 * and no call failed. Then every refusal: the node it is on, an unknown or
 * dead node, a node that breaks its placement, a chain whose state cannot
 * move yet; a refused move leaves the object where it was.
 */
#include <cor/cor.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cor/kernel.pb-c.h"
#include "cor/oms.pb-c.h"
#include "echo/echo.cor.h"
#include "kv/kv.cor.h"
#include "social/social.cor.h"
#include "cluster.h"
#include "echo_calls.h"
#include "rpc.h"
#include "host.h"
#include "testlib.h"

static const cor_cluster_kernel_t kernels[] = {
    {"m1", "all", "region=a"},
    {"m2", "all", "region=a"},
    {"m3", "all", "region=b"},
};
enum { M3 = 2 };
static cor_cluster_t cl;

static int setup(void)
{
    static const cor_cluster_spec_t spec = {.tag = "migrate-oms", .kernels = kernels,
                                            .n_kernels = 3};
    return cor_cluster_start(&cl, &spec);
}

static int teardown(void)
{
    cor_cluster_stop(&cl);
    return 0;
}

static int migrate(cor_ref_t *r, const char *to, const char *selector, Cor__MigrateReply **out,
                   cor_error_t *err)
{
    Cor__MigrateRequest rq = COR__MIGRATE_REQUEST__INIT;
    rq.id.data = (uint8_t *)cor_ref_id(r)->b;
    rq.id.len = 16;
    rq.to_node = (char *)(to ? to : "");
    rq.selector = (char *)(selector ? selector : "");
    ProtobufCMessage *m = NULL;
    int rc = cor_cluster_oms_call(&cl, COR_M_OMS_MIGRATE, &rq.base,
                                  &cor__migrate_reply__descriptor, 20000, &m, err);
    if (out != NULL)
        *out = (Cor__MigrateReply *)m;
    else if (m != NULL)
        protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

/* Where the OMS says the object lives: its epoch (0 if the OMS did not
 * answer), and optionally the node's name and TCP address. */
static uint64_t epoch_of(cor_ref_t *r, char *node, size_t len)
{
    Cor__LookupReply *l = cor_cluster_lookup(&cl, r);
    uint64_t e = l != NULL ? l->object->epoch : 0;
    if (node != NULL)
        snprintf(node, len, "%s", l != NULL ? l->object->replicas[0]->node : "");
    if (l != NULL)
        protobuf_c_message_free_unpacked(&l->base, NULL);
    return e;
}

static void where(cor_ref_t *r, char *tcp, size_t len)
{
    Cor__LookupReply *l = cor_cluster_lookup(&cl, r);
    snprintf(tcp, len, "%s", l != NULL ? l->object->replicas[0]->tcp_address : "");
    if (l != NULL)
        protobuf_c_message_free_unpacked(&l->base, NULL);
}

/* The region=a kernel (m1 or m2) that is not `at`: its name and address.
 * 0, or -1 when the OMS does not list it. */
static int other_kernel(const char *at, char *name, size_t name_len, char *tcp, size_t tcp_len)
{
    Cor__ListNodesReply *nodes = cor_cluster_list_nodes(&cl);
    if (nodes == NULL)
        return -1;
    int found = -1;
    for (size_t i = 0; i < nodes->n_nodes; i++)
        if ((strcmp(nodes->nodes[i]->name, "m1") == 0 || strcmp(nodes->nodes[i]->name, "m2") == 0) &&
            strcmp(nodes->nodes[i]->name, at) != 0) {
            snprintf(name, name_len, "%s", nodes->nodes[i]->name);
            snprintf(tcp, tcp_len, "%s", nodes->nodes[i]->tcp_address);
            found = 0;
        }
    protobuf_c_message_free_unpacked(&nodes->base, NULL);
    return found;
}

static int fill(cor_ref_t *r, uint64_t bytes, uint32_t seed);

/* A new echo object in region a, or NULL with err set. */
static cor_ref_t *new_echo(cor_error_t *err)
{
    return cor_cluster_create(&cl, "echo.Echo", "region=a", NULL, err);
}

/* A client thread: adds 1 in a loop and, given a mirror, also overwrites
 * 64 bytes of its own part [lo, hi) of the ballast each time, keeping the
 * mirror equal to what the object must now hold. */
typedef struct loader {
    cor_ref_t *ref;
    atomic_int *stop;
    int social;      /* the object is a social.User: Post instead of Add */
    uint8_t *mirror; /* NULL: adds only */
    size_t lo, hi;
    unsigned seed;
    long ok, failed;
    char last_error[COR_ERROR_MSG_MAX];
} loader_t;

static int touch(loader_t *l, cor_error_t *err)
{
    uint8_t data[64];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)rand_r(&l->seed);
    Echo__TouchRequest t = ECHO__TOUCH_REQUEST__INIT;
    t.offset = l->lo + (size_t)rand_r(&l->seed) % (l->hi - l->lo - sizeof(data));
    t.data.data = data;
    t.data.len = sizeof(data);
    Echo__TouchReply *tr = NULL;
    int rc = echo_echo_touch(l->ref, &t, &tr, err);
    if (rc == 0) {
        echo__touch_reply__free_unpacked(tr, NULL);
        memcpy(l->mirror + t.offset, data, sizeof(data));
    }
    return rc;
}

static int post(cor_ref_t *r, cor_error_t *err)
{
    Social__PostRequest req = SOCIAL__POST_REQUEST__INIT;
    req.text = (char *)"moving";
    Social__PostReply *rep = NULL;
    int rc = social_user_post(r, &req, &rep, err);
    if (rc == 0)
        social__post_reply__free_unpacked(rep, NULL);
    return rc;
}

static void *load(void *arg)
{
    loader_t *l = arg;
    while (!atomic_load(l->stop)) {
        int rc;
        cor_error_t err;
        if (l->social)
            rc = post(l->ref, &err);
        else
            cor_echo_add(l->ref, 1, &rc, &err);
        if (rc == 0)
            l->ok++;
        if (rc == 0 && l->mirror != NULL)
            rc = touch(l, &err);
        if (rc != 0) {
            l->failed++;
            snprintf(l->last_error, sizeof(l->last_error), "%s", err.msg);
        }
    }
    return NULL;
}

/* Stops and joins n loaders; sums their acknowledged adds and failures. */
static void stop_loaders(atomic_int *stop, pthread_t *t, loader_t *l, int n, long *ok,
                         long *failed)
{
    atomic_store(stop, 1);
    for (int i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
        *ok += l[i].ok;
        *failed += l[i].failed;
        if (l[i].failed)
            fprintf(stderr, "loader %d: %ld failed, last: %s\n", i, l[i].failed, l[i].last_error);
        cor_ref_free(l[i].ref);
    }
}

static void test_moves_under_load(void)
{
    cor_error_t err;
    cor_ref_t *r = NULL;
    cor_create_opts_t o = {.selector = "region=a", .name = "counter"};
    CU_ASSERT_EQUAL_FATAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), 0);
    atomic_int stop = 0;
    loader_t l[2];
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        l[i] = (loader_t){.ref = cor_ref_dup(r), .stop = &stop};
        pthread_create(&t[i], NULL, load, &l[i]);
    }
    int moves = 0;
    int64_t max_frozen = 0;
    for (int i = 0; i < 100; i++) {
        Cor__MigrateReply *rep = NULL;
        int rc = migrate(r, NULL, "region=a", &rep, &err);
        if (rc != 0)
            fprintf(stderr, "move %d: %s\n", i, err.msg);
        CU_ASSERT_EQUAL(rc, 0);
        if (rep != NULL) {
            moves++;
            CU_ASSERT_STRING_NOT_EQUAL(rep->from_node, rep->to_node);
            if (rep->frozen_us > max_frozen)
                max_frozen = rep->frozen_us;
            protobuf_c_message_free_unpacked(&rep->base, NULL);
        }
        usleep(5 * 1000);
    }
    long acked = 0, failed = 0;
    stop_loaders(&stop, t, l, 2, &acked, &failed);
    int rc;
    int64_t total = cor_echo_add(r, 0, &rc, &err);
    printf("\n    %d moves under load, %ld acknowledged adds, counter %lld, longest freeze %lld us\n",
           moves, acked, (long long)total, (long long)max_frozen);
    CU_ASSERT_EQUAL(moves, 100);
    CU_ASSERT_EQUAL(failed, 0);
    /* The OMS keeps the last 8 moves, oldest first, ending at this epoch. */
    Cor__LookupReply *lm = cor_cluster_lookup(&cl, r);
    CU_ASSERT_PTR_NOT_NULL_FATAL(lm);
    Cor__ObjectInfo *info = lm->object;
    CU_ASSERT_EQUAL(info->n_moves, 8);
    if (info->n_moves == 8) {
        CU_ASSERT_EQUAL(info->moves[7]->epoch, info->epoch);
        CU_ASSERT_EQUAL(info->moves[0]->epoch + 7, info->epoch);
        CU_ASSERT_STRING_EQUAL(info->moves[7]->to_node, info->replicas[0]->node);
    }
    protobuf_c_message_free_unpacked(&lm->base, NULL);
    CU_ASSERT_EQUAL(total, acked); /* nothing lost, nothing twice */
    CU_ASSERT(acked > 100);
    cor_ref_free(r);
}

/* One Add with a fixed call id, sent straight to a kernel (as a resend
 * would be). Returns the total, or -1. */
static int64_t raw_add(cor_ref_t *r, const char *tcp, uint64_t seq, int64_t delta)
{
    static const uint8_t client[16] = {0xab, 0xcd};
    return cor_echo_raw_add(cl.rt, r, tcp, client, seq, delta);
}

static void test_dedup_table_moves(void)
{
    cor_error_t err;
    cor_ref_t *r = NULL;
    cor_create_opts_t o = {.selector = "region=a", .dm_chain = "AtLeastOnceRPC"};
    CU_ASSERT_EQUAL_FATAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), 0);
    char before[160], after[160];
    where(r, before, sizeof(before));
    CU_ASSERT_EQUAL(raw_add(r, before, 5, 10), 10);
    CU_ASSERT_EQUAL(migrate(r, NULL, "region=a", NULL, &err), 0);
    where(r, after, sizeof(after));
    CU_ASSERT_STRING_NOT_EQUAL(before, after);
    /* The resend reaches the new place and is answered from the moved
     * table: 10 again, not 20. */
    CU_ASSERT_EQUAL(raw_add(r, after, 5, 10), 10);
    CU_ASSERT_EQUAL(raw_add(r, after, 6, 1), 11); /* a new call runs */
    cor_ref_free(r);
}

/* The same with pre-copy (a 1 MiB ballast), while adds with fixed call ids
 * keep coming: the table is staged whole, then only its new entries, and
 * the last ones go in the freeze. Afterwards every add is resent to the
 * final place and must be answered from the moved table with the total it
 * first got, not run again. */
typedef struct id_adder {
    cor_ref_t *ref;
    atomic_int *stop;
    int64_t totals[3000]; /* by seq - 1 */
    int n;
} id_adder_t;

static void *id_add_load(void *arg)
{
    id_adder_t *a = arg;
    char tcp[160];
    where(a->ref, tcp, sizeof(tcp));
    while (!atomic_load(a->stop) && a->n < 3000) {
        int64_t t = raw_add(a->ref, tcp, (uint64_t)a->n + 1, 1);
        for (int tries = 0; t < 0 && tries < 100; tries++) {
            usleep(5 * 1000); /* moved (EMOVED: not run): resend where it is now */
            where(a->ref, tcp, sizeof(tcp));
            t = raw_add(a->ref, tcp, (uint64_t)a->n + 1, 1);
        }
        if (t < 0)
            break;
        a->totals[a->n++] = t;
    }
    return NULL;
}

static void test_dedup_table_precopy(void)
{
    cor_error_t err;
    cor_ref_t *r = NULL;
    cor_create_opts_t o = {.selector = "region=a", .dm_chain = "AtLeastOnceRPC"};
    CU_ASSERT_EQUAL_FATAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), 0);
    CU_ASSERT_EQUAL_FATAL(fill(r, 1u << 20, 9), 0);
    atomic_int stop = 0;
    static id_adder_t a;
    a = (id_adder_t){.ref = r, .stop = &stop};
    pthread_t t;
    pthread_create(&t, NULL, id_add_load, &a);
    int moves = 0, rounds = 0;
    for (int i = 0; i < 4; i++) {
        usleep(30 * 1000);
        Cor__MigrateReply *rep = NULL;
        moves += migrate(r, NULL, "region=a", &rep, &err) == 0;
        if (rep != NULL) {
            rounds += (int)rep->precopy_rounds;
            protobuf_c_message_free_unpacked(&rep->base, NULL);
        }
    }
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    CU_ASSERT_EQUAL(moves, 4);
    CU_ASSERT(rounds >= 4); /* every move pre-copied */
    CU_ASSERT(a.n > 10);
    char tcp[160];
    where(r, tcp, sizeof(tcp));
    int same = 0;
    for (int i = 0; i < a.n; i++)
        same += raw_add(r, tcp, (uint64_t)i + 1, 1) == a.totals[i];
    CU_ASSERT_EQUAL(same, a.n); /* every resend answered from the table */
    int rc;
    CU_ASSERT_EQUAL(cor_echo_add(r, 0, &rc, &err), a.n); /* each add ran once */
    cor_ref_free(r);
}

static void test_explicit_migration(void)
{
    cor_error_t err;
    cor_ref_t *plain = NULL, *r = NULL;
    cor_create_opts_t o = {.selector = "region=a"};
    CU_ASSERT_EQUAL_FATAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &plain, &err), 0);
    /* The application may move only objects that said so. */
    CU_ASSERT_EQUAL(cor_migrate(plain, NULL, "region=a", &err), COR_EPERM);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no ExplicitMigration"));
    CU_ASSERT_EQUAL(cor_migrate(plain, NULL, NULL, &err), COR_EINVAL);
    o.dm_chain = "ExplicitMigration";
    CU_ASSERT_EQUAL_FATAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), 0);
    int rc;
    CU_ASSERT_EQUAL(cor_echo_add(r, 7, &rc, &err), 7);
    char before[160], after[160];
    where(r, before, sizeof(before));
    CU_ASSERT_EQUAL(cor_migrate(r, NULL, "region=a", &err), 0);
    where(r, after, sizeof(after));
    CU_ASSERT_STRING_NOT_EQUAL(before, after);
    CU_ASSERT_EQUAL(cor_echo_add(r, 1, &rc, &err), 8); /* state came along */

    /* From inside its own method: the move is requested, runs once the
     * method has returned, and the object's state comes along. */
    char here[16], there[16];
    uint64_t e0 = epoch_of(r, here, sizeof(here));
    Echo__MoveSelfRequest ms = ECHO__MOVE_SELF_REQUEST__INIT;
    ms.to_node = strcmp(here, "m1") == 0 ? (char *)"m2" : (char *)"m1";
    ms.selector = (char *)"";
    Echo__MoveSelfReply *mr = NULL;
    CU_ASSERT_EQUAL_FATAL(echo_echo_move_self(r, &ms, &mr, &err), 0);
    echo__move_self_reply__free_unpacked(mr, NULL);
    uint64_t e1 = e0;
    for (int i = 0; i < 100 && e1 == e0; i++) {
        usleep(20 * 1000);
        e1 = epoch_of(r, there, sizeof(there));
    }
    CU_ASSERT_EQUAL(e1, e0 + 1);
    CU_ASSERT_STRING_EQUAL(there, ms.to_node);
    CU_ASSERT_EQUAL(cor_echo_add(r, 1, &rc, &err), 9);
    /* A plain object's own request is only a request (0): the OMS refuses
     * it (no ExplicitMigration; logged by the kernel) and it stays put. */
    uint64_t p0 = epoch_of(plain, here, sizeof(here));
    ms.to_node = strcmp(here, "m1") == 0 ? (char *)"m2" : (char *)"m1";
    CU_ASSERT_EQUAL(echo_echo_move_self(plain, &ms, &mr, &err), 0);
    if (mr != NULL)
        echo__move_self_reply__free_unpacked(mr, NULL);
    usleep(300 * 1000);
    CU_ASSERT_EQUAL(epoch_of(plain, there, sizeof(there)), p0);
    CU_ASSERT_STRING_EQUAL(there, here);
    cor_ref_free(r);
    cor_ref_free(plain);
}

static void test_dynamic_migration(void)
{
    cor_error_t err;
    cor_ref_t *r = NULL;
    cor_create_opts_t o = {.selector = "region=a",
                           .dm_chain = "DynamicMigration(window=500ms, min_calls=20, residence=500ms)"};
    CU_ASSERT_EQUAL_FATAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), 0);
    char at[16], other[16];
    uint64_t e0 = epoch_of(r, at, sizeof(at));
    snprintf(other, sizeof(other), "%s", strcmp(at, "m1") == 0 ? "m2" : "m1");
    /* A caller on the other kernel server: its runtime carries that node's
     * name in every call, as an object hosted there would. */
    cor_runtime_t *near = NULL;
    cor_runtime_opts_t ro = {.version = COR_RUNTIME_OPTS_VERSION, .oms_address = cl.oms_addr};
    CU_ASSERT_EQUAL_FATAL(cor_runtime_new(&ro, &near, &err), 0);
    CU_ASSERT_EQUAL_FATAL(cor_runtime_set_node_name(near, other, &err), 0);
    cor_ref_t *nr = NULL;
    CU_ASSERT_EQUAL_FATAL(cor_object_lookup(near, cor_ref_id(r), &nr, &err), 0);
    long acked = 0;
    int rc, moved = 0;
    char now_at[16];
    for (int i = 0; i < 4000 && !moved; i++) {
        if (cor_echo_add(nr, 1, &rc, &err) >= 0)
            acked++;
        if (i % 50 == 0) {
            epoch_of(r, now_at, sizeof(now_at));
            moved = strcmp(now_at, other) == 0;
        }
        usleep(1000);
    }
    CU_ASSERT_TRUE(moved);
    uint64_t e1 = epoch_of(r, now_at, sizeof(now_at));
    CU_ASSERT_EQUAL(e1, e0 + 1);
    /* Once there, it stays: calls from where it lives attract nothing. */
    for (int i = 0; i < 1500; i++) {
        if (cor_echo_add(nr, 1, &rc, &err) >= 0)
            acked++;
        usleep(1000);
    }
    CU_ASSERT_EQUAL(epoch_of(r, now_at, sizeof(now_at)), e1);
    CU_ASSERT_STRING_EQUAL(now_at, other);
    CU_ASSERT_EQUAL(cor_echo_add(nr, 0, &rc, &err), acked); /* nothing lost on the way */
    cor_ref_free(nr);
    cor_runtime_free(near);
    cor_ref_free(r);
}

static void test_target_dies(void)
{
    cor_error_t err;
    cor_ref_t *r = new_echo(&err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    int rc;
    CU_ASSERT_EQUAL(cor_echo_add(r, 5, &rc, &err), 5);
    char at[16];
    uint64_t e0 = epoch_of(r, at, sizeof(at));
    int target = strcmp(at, "m1") == 0 ? 1 : 0;
    char tname[8];
    snprintf(tname, sizeof(tname), "m%d", target + 1);
    /* kill -9 the target just before the move: the OMS still thinks it is
     * alive, the install fails, and the source lets go of the freeze. */
    cor_cluster_kill_kernel(&cl, target);
    CU_ASSERT_NOT_EQUAL(migrate(r, tname, NULL, NULL, &err), 0);
    char now_at[16];
    CU_ASSERT_EQUAL(epoch_of(r, now_at, sizeof(now_at)), e0);
    CU_ASSERT_STRING_EQUAL(now_at, at);
    CU_ASSERT_EQUAL(cor_echo_add(r, 1, &rc, &err), 6); /* it never stopped existing */
    CU_ASSERT_EQUAL(cor_cluster_restart_kernel(&cl, target), 0); /* for the tests after */
    cor_ref_free(r);
}

static void test_source_dies(void)
{
    /* A checkpointed object whose source is killed just before a move:
     * the move fails, the OMS notices the death and restores the object
     * elsewhere from its checkpoint: one live copy, its state intact. */
    cor_error_t err;
    cor_ref_t *r = NULL;
    cor_create_opts_t o = {.selector = "region=a", .dm_chain = "PeriodicCheckpoint(interval=100ms)"};
    CU_ASSERT_EQUAL_FATAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &o, &r, &err), 0);
    int rc;
    CU_ASSERT_EQUAL(cor_echo_add(r, 9, &rc, &err), 9);
    usleep(700 * 1000); /* the next ticks send the checkpoint */
    char at[16];
    uint64_t e0 = epoch_of(r, at, sizeof(at));
    int src = cor_cluster_kernel_index(&cl, at);
    char other[8];
    snprintf(other, sizeof(other), "m%d", src == 0 ? 2 : 1);
    cor_cluster_kill_kernel(&cl, src);
    CU_ASSERT_NOT_EQUAL(migrate(r, other, NULL, NULL, &err), 0);
    char now_at[16] = "";
    uint64_t e1 = 0;
    for (int i = 0; i < 80; i++) {
        e1 = epoch_of(r, now_at, sizeof(now_at));
        if (strcmp(now_at, other) == 0)
            break;
        usleep(100 * 1000);
    }
    CU_ASSERT_STRING_EQUAL(now_at, other);
    CU_ASSERT_EQUAL(e1, e0 + 1);
    CU_ASSERT_EQUAL(cor_echo_add(r, 1, &rc, &err), 10);
    CU_ASSERT_EQUAL(cor_cluster_restart_kernel(&cl, src), 0); /* for the tests after */
    cor_ref_free(r);
}

static void test_oms_misses_commit(void)
{
    /* What the OMS dying between the install and its commit leaves: the
     * source has moved the object (tombstone), the target holds it at
     * epoch+1, and the directory still says "source". Done here by asking
     * the source kernel directly, without the OMS. */
    cor_error_t err;
    cor_ref_t *r = new_echo(&err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    int rc;
    CU_ASSERT_EQUAL(cor_echo_add(r, 3, &rc, &err), 3);
    char at[16], src_tcp[160], dst_tcp[160];
    uint64_t e0 = epoch_of(r, at, sizeof(at));
    where(r, src_tcp, sizeof(src_tcp));
    char other[16];
    CU_ASSERT_EQUAL_FATAL(other_kernel(at, other, sizeof(other), dst_tcp, sizeof(dst_tcp)), 0);
    ProtobufCMessage *m = NULL;
    Cor__MigrateOutRequest mo = COR__MIGRATE_OUT_REQUEST__INIT;
    mo.object_id.data = (uint8_t *)cor_ref_id(r)->b;
    mo.object_id.len = 16;
    mo.target_tcp = dst_tcp;
    mo.new_epoch = e0 + 1;
    mo.dm_chain = (char *)"";
    CU_ASSERT_EQUAL_FATAL(cor_rpc_call(cor_runtime_client(cl.rt), src_tcp, COR_M_MIGRATE_OUT, &mo.base,
                                       &cor__migrate_out_reply__descriptor, 5000, &m, &err), 0);
    protobuf_c_message_free_unpacked(m, NULL);
    /* The target reports on its next tick; the OMS adopts the placement. */
    char now_at[16] = "";
    uint64_t e1 = 0;
    for (int i = 0; i < 50; i++) {
        e1 = epoch_of(r, now_at, sizeof(now_at));
        if (strcmp(now_at, other) == 0)
            break;
        usleep(100 * 1000);
    }
    CU_ASSERT_STRING_EQUAL(now_at, other);
    CU_ASSERT_EQUAL(e1, e0 + 1);
    /* Callers (with the old location cached) follow: the tombstone says
     * EMOVED, the OMS now knows. Nothing lost. */
    CU_ASSERT_EQUAL(cor_echo_add(r, 1, &rc, &err), 4);
    cor_ref_free(r);
}

/* A target that went live while its source, whose commit step failed
 * (timed out) from where it stood, serves on: driven here by installing a
 * copy at the next epoch straight into the other kernel. The target
 * reports it; the OMS asks the source, which still serves the object, so
 * the report is refused and the stray copy dropped: one copy, never two. */
static void test_stray_copy_refused(void)
{
    cor_error_t err;
    cor_ref_t *r = new_echo(&err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    int rc;
    CU_ASSERT_EQUAL(cor_echo_add(r, 3, &rc, &err), 3);
    char at[16], other[16], other_tcp[160];
    uint64_t e0 = epoch_of(r, at, sizeof(at));
    CU_ASSERT_EQUAL_FATAL(other_kernel(at, other, sizeof(other), other_tcp, sizeof(other_tcp)), 0);
    ProtobufCMessage *m = NULL;
    Echo__EchoArgs st = ECHO__ECHO_ARGS__INIT;
    st.start = 3;
    uint8_t buf[32];
    Cor__InstallStateRequest is = COR__INSTALL_STATE_REQUEST__INIT;
    is.object_id.data = (uint8_t *)cor_ref_id(r)->b;
    is.object_id.len = 16;
    is.class_name = (char *)"echo.Echo";
    is.state.data = buf;
    is.state.len = echo__echo_args__pack(&st, buf);
    is.epoch = e0 + 1;
    is.dm_chain = (char *)"";
    CU_ASSERT_EQUAL_FATAL(cor_rpc_call(cor_runtime_client(cl.rt), other_tcp, COR_M_INSTALL_STATE, &is.base,
                                       &cor__install_state_reply__descriptor, 5000, &m, &err), 0);
    protobuf_c_message_free_unpacked(m, NULL);
    CU_ASSERT_EQUAL(raw_add(r, other_tcp, 1, 0), 3); /* the stray is live, for now */
    /* Its report comes on the target's next tick; the OMS refuses it and
     * drops the copy. */
    int64_t got = 3;
    for (int i = 0; i < 50 && got != -1; i++) {
        usleep(100 * 1000);
        got = raw_add(r, other_tcp, 2 + (uint64_t)i, 0);
    }
    CU_ASSERT_EQUAL(got, -1);
    char now_at[16];
    CU_ASSERT_EQUAL(epoch_of(r, now_at, sizeof(now_at)), e0);
    CU_ASSERT_STRING_EQUAL(now_at, at);
    CU_ASSERT_EQUAL(cor_echo_add(r, 1, &rc, &err), 4);
    cor_ref_free(r);
}

typedef struct mover {
    cor_ref_t *r;
    char to[16]; /* move_to_thread: the target node */
    int rc;
    char msg[COR_ERROR_MSG_MAX];
} mover_t;

static void *move_thread(void *arg)
{
    mover_t *m = arg;
    cor_error_t err;
    m->rc = migrate(m->r, NULL, "region=a", NULL, &err);
    snprintf(m->msg, sizeof(m->msg), "%s", err.msg);
    return NULL;
}

/* Moves m->r to the node m->to. */
static void *move_to_thread(void *arg)
{
    mover_t *m = arg;
    cor_error_t err;
    m->rc = migrate(m->r, m->to, NULL, NULL, &err);
    snprintf(m->msg, sizeof(m->msg), "%s", err.msg);
    return NULL;
}

static void *sleep_call(void *arg)
{
    Echo__SleepRequest req = ECHO__SLEEP_REQUEST__INIT;
    req.ms = 600;
    Echo__SleepReply *rep = NULL;
    cor_error_t err;
    if (echo_echo_sleep(arg, &req, &rep, &err) == 0)
        echo__sleep_reply__free_unpacked(rep, NULL);
    return NULL;
}

static void test_concurrent_moves(void)
{
    cor_error_t err;
    cor_ref_t *r = new_echo(&err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    char at[16];
    uint64_t e0 = epoch_of(r, at, sizeof(at));
    /* A slow call holds the object's turn, so the first move waits in its
     * freeze long enough for the second request to arrive meanwhile. */
    pthread_t slow, t1, t2;
    pthread_create(&slow, NULL, sleep_call, r);
    usleep(100 * 1000);
    mover_t m1 = {.r = r}, m2 = {.r = r};
    pthread_create(&t1, NULL, move_thread, &m1);
    usleep(100 * 1000);
    pthread_create(&t2, NULL, move_thread, &m2);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    pthread_join(slow, NULL);
    CU_ASSERT_EQUAL(m1.rc, 0);
    CU_ASSERT_EQUAL(m2.rc, COR_EABORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(m2.msg, "already being moved"));
    char now_at[16];
    CU_ASSERT_EQUAL(epoch_of(r, now_at, sizeof(now_at)), e0 + 1); /* moved once */
    CU_ASSERT_STRING_NOT_EQUAL(now_at, at);
    cor_ref_free(r);
}


/* ---- large state: pre-copy ---- */

#define BIG (8u << 20)

/* The ballast Fill makes from seed, as echo_class.c makes it. */
static void fill_like_echo(uint8_t *b, size_t len, uint32_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b[i] = (uint8_t)x;
    }
}

static uint64_t fnv1a(const uint8_t *b, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static int fill(cor_ref_t *r, uint64_t bytes, uint32_t seed)
{
    Echo__FillRequest req = ECHO__FILL_REQUEST__INIT;
    req.bytes = bytes;
    req.seed = seed;
    Echo__FillReply *rep = NULL;
    cor_error_t err;
    int rc = echo_echo_fill(r, &req, &rep, &err);
    if (rc == 0)
        echo__fill_reply__free_unpacked(rep, NULL);
    return rc;
}

/* Asserts the object's counter is total and its ballast equals mirror. */
static void check_digest(cor_ref_t *r, int64_t total, const uint8_t *mirror, size_t len)
{
    Echo__DigestRequest req = ECHO__DIGEST_REQUEST__INIT;
    Echo__DigestReply *d = NULL;
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(echo_echo_digest(r, &req, &d, &err), 0);
    CU_ASSERT_EQUAL(d->total, total);
    CU_ASSERT_EQUAL(d->bytes, len);
    CU_ASSERT_EQUAL(d->fnv1a, fnv1a(mirror, len));
    echo__digest_reply__free_unpacked(d, NULL);
}

static void test_large_state_precopy(void)
{
    cor_error_t err;
    cor_ref_t *r = new_echo(&err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_EQUAL_FATAL(fill(r, BIG, 7), 0);
    uint8_t *mirror = malloc(BIG);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mirror);
    fill_like_echo(mirror, BIG, 7);
    atomic_int stop = 0;
    loader_t w[2];
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        w[i] = (loader_t){.ref = cor_ref_dup(r), .stop = &stop, .mirror = mirror,
                          .lo = i * (BIG / 2), .hi = (i + 1) * (BIG / 2), .seed = 11u + i};
        pthread_create(&t[i], NULL, load, &w[i]);
    }
    int moves = 0;
    for (int i = 0; i < 6; i++) {
        Cor__MigrateReply *rep = NULL;
        int rc = migrate(r, NULL, "region=a", &rep, &err);
        if (rc != 0)
            fprintf(stderr, "big move %d: %s\n", i, err.msg);
        CU_ASSERT_EQUAL(rc, 0);
        if (rep == NULL)
            continue;
        moves++;
        printf("\n    8 MiB move %d: %u pre-copy rounds, %llu bytes sent, frozen %lld us, "
               "total %lld us", i, rep->precopy_rounds, (unsigned long long)rep->bytes_copied,
               (long long)rep->frozen_us, (long long)rep->total_us);
        CU_ASSERT(rep->precopy_rounds >= 1);
        CU_ASSERT(rep->bytes_copied >= BIG);
        CU_ASSERT(rep->state_bytes >= BIG);
        protobuf_c_message_free_unpacked(&rep->base, NULL);
    }
    long adds = 0, failed = 0;
    stop_loaders(&stop, t, w, 2, &adds, &failed);
    printf("\n");
    CU_ASSERT_EQUAL(moves, 6);
    CU_ASSERT_EQUAL(failed, 0);
    check_digest(r, adds, mirror, BIG); /* no add lost or doubled, every write kept */
    free(mirror);
    cor_ref_free(r);
}

/* kv has no save_dirty: the runtime diffs its save_state bytes. */
static void test_large_state_runtime_diff(void)
{
    cor_error_t err;
    cor_ref_t *r = NULL;
    cor_create_opts_t o = {.selector = "region=a"};
    CU_ASSERT_EQUAL_FATAL(cor_object_create(cl.rt, "kv.KeyValueStore", NULL, 0, &o, &r, &err), 0);
    enum { KEYS = 256, VLEN = 2048 };
    static unsigned last[KEYS];
    char key[16];
    uint8_t val[VLEN];
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof(key), "k%03d", i);
        memset(val, i, sizeof(val));
        Kv__PutRequest p = KV__PUT_REQUEST__INIT;
        p.key = key;
        p.value.data = val;
        p.value.len = sizeof(val);
        Kv__PutReply *pr = NULL;
        CU_ASSERT_EQUAL_FATAL(kv_key_value_store_put(r, &p, &pr, &err), 0);
        kv__put_reply__free_unpacked(pr, NULL);
        last[i] = (unsigned)i;
    }
    unsigned seed = 5, gen = KEYS;
    for (int m = 0; m < 4; m++) {
        /* Writes between the moves, then one move; each pre-copy round
         * sends only the 4 KiB blocks that changed. */
        for (int w = 0; w < 20; w++) {
            int i = rand_r(&seed) % KEYS;
            snprintf(key, sizeof(key), "k%03d", i);
            memset(val, (int)(gen & 0xff), sizeof(val));
            Kv__PutRequest p = KV__PUT_REQUEST__INIT;
            p.key = key;
            p.value.data = val;
            p.value.len = sizeof(val);
            Kv__PutReply *pr = NULL;
            CU_ASSERT_EQUAL(kv_key_value_store_put(r, &p, &pr, &err), 0);
            if (pr != NULL)
                kv__put_reply__free_unpacked(pr, NULL);
            last[i] = gen++;
        }
        Cor__MigrateReply *rep = NULL;
        CU_ASSERT_EQUAL(migrate(r, NULL, "region=a", &rep, &err), 0);
        if (rep != NULL) {
            CU_ASSERT(rep->precopy_rounds >= 1);
            CU_ASSERT(rep->state_bytes >= KEYS * VLEN);
            protobuf_c_message_free_unpacked(&rep->base, NULL);
        }
    }
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof(key), "k%03d", i);
        Kv__GetRequest g = KV__GET_REQUEST__INIT;
        g.key = key;
        Kv__GetReply *gr = NULL;
        CU_ASSERT_EQUAL_FATAL(kv_key_value_store_get(r, &g, &gr, &err), 0);
        CU_ASSERT(gr->found && gr->value.len == VLEN && gr->value.data[0] == (last[i] & 0xff) &&
                  gr->value.data[VLEN - 1] == (last[i] & 0xff));
        kv__get_reply__free_unpacked(gr, NULL);
    }
    cor_ref_free(r);
}

/* Waits until the OMS shows the object's move in its pre-copy phase. */
static int wait_precopy(cor_ref_t *r)
{
    for (int i = 0; i < 5000; i++) {
        Cor__LookupReply *l = cor_cluster_lookup(&cl, r);
        int in = 0;
        if (l != NULL) {
            const Cor__MoveProgress *p = l->object->moving;
            in = p != NULL && strcmp(p->phase, "precopy") == 0;
            protobuf_c_message_free_unpacked(&l->base, NULL);
        }
        if (in)
            return 0;
        usleep(1000);
    }
    return -1;
}

/* kill -9 during pre-copy: of the target, then of the OMS. Either way
 * the move does not happen, the object serves on at its source with every
 * acknowledged write, and a later move works. */
static void test_kill_during_precopy(void)
{
    cor_error_t err;
    cor_ref_t *r = new_echo(&err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_EQUAL_FATAL(fill(r, 64u << 20, 3), 0);
    int rc;
    CU_ASSERT_EQUAL(cor_echo_add(r, 5, &rc, &err), 5);
    char at[16];
    uint64_t e0 = epoch_of(r, at, sizeof(at));
    int target = strcmp(at, "m1") == 0 ? 1 : 0;
    char tname[8];
    snprintf(tname, sizeof(tname), "m%d", target + 1);

    /* The target. */
    mover_t mv = {.r = r};
    pthread_t t;
    snprintf(mv.to, sizeof(mv.to), "%s", tname);
    pthread_create(&t, NULL, move_to_thread, &mv);
    CU_ASSERT_EQUAL(wait_precopy(r), 0);
    cor_cluster_kill_kernel(&cl, target);
    pthread_join(t, NULL);
    CU_ASSERT_NOT_EQUAL(mv.rc, 0);
    char now_at[16];
    CU_ASSERT_EQUAL(epoch_of(r, now_at, sizeof(now_at)), e0);
    CU_ASSERT_STRING_EQUAL(now_at, at);
    CU_ASSERT_EQUAL(cor_echo_add(r, 1, &rc, &err), 6);
    CU_ASSERT_EQUAL(cor_cluster_restart_kernel(&cl, target), 0);

    /* The OMS: restarted on its address from its store, it knows of no
     * move; the source kept serving throughout. */
    mover_t mv2 = {.r = r};
    snprintf(mv2.to, sizeof(mv2.to), "%s", tname);
    pthread_create(&t, NULL, move_to_thread, &mv2);
    int caught = wait_precopy(r) == 0;
    cor_cluster_kill_oms(&cl);
    pthread_join(t, NULL);
    CU_ASSERT_EQUAL(cor_echo_add(r, 1, &rc, &err), 7); /* served by the source, OMS down */
    CU_ASSERT_EQUAL_FATAL(cor_cluster_restart_oms(&cl), 0);
    if (caught) {
        CU_ASSERT_NOT_EQUAL(mv2.rc, 0);
        CU_ASSERT_EQUAL(epoch_of(r, now_at, sizeof(now_at)), e0);
        CU_ASSERT_STRING_EQUAL(now_at, at);
    }
    /* A move after all that: it completes, state whole. Kernels need a
     * heartbeat or two to find the new OMS, and the dead OMS's pre-copy
     * step may still be sending its 64 MiB (slow under sanitizers): until
     * then the source answers EABORTED. */
    Cor__MigrateReply *rep = NULL;
    for (int i = 0; i < 600 && (rc = migrate(r, tname, NULL, &rep, &err)) != 0; i++)
        usleep(100 * 1000);
    if (rc != 0)
        fprintf(stderr, "move after the OMS restart: %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, 0);
    if (rep != NULL)
        protobuf_c_message_free_unpacked(&rep->base, NULL);
    CU_ASSERT_EQUAL(cor_echo_add(r, 1, &rc, &err), 8);
    uint8_t *mirror = malloc(64u << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mirror);
    fill_like_echo(mirror, 64u << 20, 3);
    check_digest(r, 8, mirror, 64u << 20);
    free(mirror);
    cor_ref_free(r);
}

/* kill -9 of the source during pre-copy: the move fails, and the target
 * never serves its staged copy. The object (no checkpoint in its chain)
 * is lost with its kernel, as any such object is: no copy at all, never
 * two. */
static void test_source_dies_during_precopy(void)
{
    cor_error_t err;
    cor_ref_t *r = new_echo(&err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_EQUAL_FATAL(fill(r, 64u << 20, 5), 0);
    char at[16];
    uint64_t e0 = epoch_of(r, at, sizeof(at));
    int source = cor_cluster_kernel_index(&cl, at), target = 1 - source;
    mover_t mv = {.r = r};
    snprintf(mv.to, sizeof(mv.to), "m%d", target + 1);
    pthread_t t;
    pthread_create(&t, NULL, move_to_thread, &mv);
    int caught = wait_precopy(r) == 0;
    cor_cluster_kill_kernel(&cl, source);
    pthread_join(t, NULL);
    CU_ASSERT_NOT_EQUAL(mv.rc, 0);
    if (caught) {
        usleep(1500 * 1000); /* past the OMS's death timeout */
        char now_at[16];
        CU_ASSERT_EQUAL(epoch_of(r, now_at, sizeof(now_at)), e0);
        CU_ASSERT_STRING_EQUAL(now_at, at);
        int rc;
        cor_echo_add(r, 1, &rc, &err);
        CU_ASSERT_NOT_EQUAL(rc, 0); /* nobody serves it: not the staged copy */
    }
    CU_ASSERT_EQUAL(cor_cluster_restart_kernel(&cl, source), 0);
    cor_ref_free(r);
}

/* kill -9 of the source right after the commit: the target serves. */
static void test_source_dies_after_commit(void)
{
    cor_error_t err;
    cor_ref_t *r = new_echo(&err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    int rc;
    CU_ASSERT_EQUAL(cor_echo_add(r, 9, &rc, &err), 9);
    char at[16];
    epoch_of(r, at, sizeof(at));
    int source = cor_cluster_kernel_index(&cl, at);
    CU_ASSERT_EQUAL_FATAL(migrate(r, NULL, "region=a", NULL, &err), 0);
    cor_cluster_kill_kernel(&cl, source);
    CU_ASSERT_EQUAL(cor_echo_add(r, 1, &rc, &err), 10);
    usleep(1500 * 1000); /* past the OMS's death timeout */
    char now_at[16];
    epoch_of(r, now_at, sizeof(now_at));
    CU_ASSERT_STRING_NOT_EQUAL(now_at, at);
    CU_ASSERT_EQUAL(cor_echo_add(r, 1, &rc, &err), 11);
    CU_ASSERT_EQUAL(cor_cluster_restart_kernel(&cl, source), 0);
    cor_ref_free(r);
}

/* Async adds, up to 16 in flight, while the object moves: every one
 * completes without error (a tombstone's redirect is followed on the
 * completion thread) and the counter equals them. */
typedef struct async_load {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int in_flight;
    long ok, failed;
    char last_error[COR_ERROR_MSG_MAX];
} async_load_t;

static void async_add_done(int rc, Echo__AddReply *reply, const cor_error_t *err, void *arg)
{
    async_load_t *l = arg;
    (void)reply;
    pthread_mutex_lock(&l->mu);
    if (rc == 0)
        l->ok++;
    else {
        l->failed++;
        snprintf(l->last_error, sizeof(l->last_error), "%s", err->msg);
    }
    l->in_flight--;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

typedef struct async_driver {
    cor_ref_t *ref;
    atomic_int *stop;
    async_load_t *l;
} async_driver_t;

static void *async_drive(void *arg)
{
    async_driver_t *d = arg;
    Echo__AddRequest req = ECHO__ADD_REQUEST__INIT;
    req.delta = 1;
    while (!atomic_load(d->stop)) {
        pthread_mutex_lock(&d->l->mu);
        while (d->l->in_flight >= 16)
            pthread_cond_wait(&d->l->cv, &d->l->mu);
        d->l->in_flight++;
        pthread_mutex_unlock(&d->l->mu);
        if (echo_echo_add_async(d->ref, &req, async_add_done, d->l) != 0) {
            pthread_mutex_lock(&d->l->mu);
            d->l->in_flight--;
            d->l->failed++;
            pthread_mutex_unlock(&d->l->mu);
        }
    }
    pthread_mutex_lock(&d->l->mu);
    while (d->l->in_flight > 0)
        pthread_cond_wait(&d->l->cv, &d->l->mu);
    pthread_mutex_unlock(&d->l->mu);
    return NULL;
}

static void test_async_calls_follow(void)
{
    cor_error_t err;
    cor_ref_t *r = new_echo(&err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    async_load_t l = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    atomic_int stop = 0;
    async_driver_t d = {.ref = cor_ref_dup(r), .stop = &stop, .l = &l};
    pthread_t t;
    pthread_create(&t, NULL, async_drive, &d);
    int moves = 0;
    for (int i = 0; i < 20; i++) {
        usleep(20 * 1000);
        moves += migrate(r, NULL, "region=a", NULL, &err) == 0;
    }
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    cor_ref_free(d.ref);
    if (l.failed)
        fprintf(stderr, "async: %ld failed, last: %s\n", l.failed, l.last_error);
    CU_ASSERT_EQUAL(moves, 20);
    CU_ASSERT_EQUAL(l.failed, 0);
    CU_ASSERT(l.ok > 100);
    int rc;
    CU_ASSERT_EQUAL(cor_echo_add(r, 0, &rc, &err), l.ok);
    cor_ref_free(r);
}

/* A concurrent class (social.User: its calls run side by side) moves too:
 * the final step waits for the calls in flight and queues new ones. Three
 * threads post without pause through 10 moves; post ids are given out one
 * by one, so the newest id equals the acknowledged posts exactly when none
 * was lost or applied twice. */
static void test_concurrent_class_moves(void)
{
    cor_error_t err;
    cor_ref_t *r = NULL;
    cor_create_opts_t o = {.selector = "region=a"};
    CU_ASSERT_EQUAL_FATAL(cor_object_create(cl.rt, "social.User", NULL, 0, &o, &r, &err), 0);
    atomic_int stop = 0;
    loader_t p[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        p[i] = (loader_t){.ref = cor_ref_dup(r), .stop = &stop, .social = 1};
        pthread_create(&t[i], NULL, load, &p[i]);
    }
    int moves = 0;
    for (int i = 0; i < 10; i++) {
        usleep(20 * 1000);
        Cor__MigrateReply *rep = NULL;
        int rc = migrate(r, NULL, "region=a", &rep, &err);
        if (rc != 0)
            fprintf(stderr, "social move %d: %s\n", i, err.msg);
        moves += rc == 0;
        if (rep != NULL)
            protobuf_c_message_free_unpacked(&rep->base, NULL);
    }
    long ok = 0, failed = 0;
    stop_loaders(&stop, t, p, 3, &ok, &failed);
    CU_ASSERT_EQUAL(moves, 10);
    CU_ASSERT_EQUAL(failed, 0);
    CU_ASSERT(ok > 30);
    Social__PostsRequest q = SOCIAL__POSTS_REQUEST__INIT;
    q.limit = 1;
    Social__PostsReply *pr = NULL;
    CU_ASSERT_EQUAL_FATAL(social_user_posts(r, &q, &pr, &err), 0);
    CU_ASSERT_EQUAL_FATAL(pr->n_posts, 1);
    CU_ASSERT_EQUAL(pr->posts[0]->post_id, (uint64_t)ok);
    social__posts_reply__free_unpacked(pr, NULL);
    cor_ref_free(r);
}

static void test_refusals(void)
{
    cor_error_t err;
    cor_ref_t *r = NULL;
    CU_ASSERT_EQUAL_FATAL(cor_object_lookup_name(cl.rt, "counter", &r, &err), 0);
    int rc;
    int64_t before = cor_echo_add(r, 0, &rc, &err);
    char here[16];
    CU_ASSERT_FATAL(epoch_of(r, here, sizeof(here)) != 0);

    CU_ASSERT_EQUAL(migrate(r, here, NULL, NULL, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "already on"));
    CU_ASSERT_EQUAL(migrate(r, "nowhere", NULL, NULL, &err), COR_ENOTFOUND);
    CU_ASSERT_EQUAL(migrate(r, "m3", NULL, NULL, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "would break its placement 'region=a'"));
    CU_ASSERT_EQUAL(migrate(r, NULL, "region=b", NULL, &err), COR_ENOTFOUND);
    CU_ASSERT_EQUAL(migrate(r, "m1", "region=a", NULL, &err), COR_EINVAL);
    CU_ASSERT_EQUAL(cor_echo_add(r, 0, &rc, &err), before); /* untouched */

    /* A dead target. */
    cor_ref_t *free_obj = NULL;
    cor_create_opts_t fo = {.selector = "region=a"};
    CU_ASSERT_EQUAL_FATAL(cor_object_create(cl.rt, "echo.Echo", NULL, 0, &fo, &free_obj, &err), 0);
    cor_cluster_kill_kernel(&cl, M3);
    for (int i = 0; i < 50; i++) {
        if (migrate(free_obj, "m3", NULL, NULL, &err) == COR_EUNAVAIL)
            break;
        usleep(100 * 1000);
    }
    CU_ASSERT_EQUAL(err.code, COR_EUNAVAIL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "m3 is not alive"));
    cor_ref_free(free_obj);
    cor_ref_free(r);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    static const cor_test_t tests[] = {
        {"100 moves under continuous load", test_moves_under_load},
        {"async calls follow the object as it moves", test_async_calls_follow},
        {"a concurrent class moves under load", test_concurrent_class_moves},
        {"AtLeastOnceRPC's table moves with the object", test_dedup_table_moves},
        {"the table is pre-copied too, and every resend still answered", test_dedup_table_precopy},
        {"ExplicitMigration: the application moves its object", test_explicit_migration},
        {"DynamicMigration: toward the heaviest caller, then stays", test_dynamic_migration},
        {"the OMS misses a commit: the target's report fixes it", test_oms_misses_commit},
        {"a stray copy's report is refused while its source serves", test_stray_copy_refused},
        {"two moves at once: one wins, one is refused", test_concurrent_moves},
        {"refusals leave the object untouched", test_refusals},
        {"target killed before the move: the object stays", test_target_dies},
        {"source killed before the move: restored from its checkpoint", test_source_dies},
        {"8 MiB under writes: pre-copy, every write kept", test_large_state_precopy},
        {"kv without save_dirty: the runtime diffs its state", test_large_state_runtime_diff},
        {"kill -9 of the target, then the OMS, during pre-copy", test_kill_during_precopy},
        {"kill -9 of the source after the commit: the target serves", test_source_dies_after_commit},
        {"kill -9 of the source during pre-copy: never two copies", test_source_dies_during_precopy},
        {NULL, NULL},
    };
    return cor_test_main("migrate", tests, setup, teardown);
}
