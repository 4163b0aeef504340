/*
 * test_oms_fixture.c — the OMS's group logic (placement, liveness, replica
 * repair, checkpoint restore) driven deterministically: the directory runs
 * in-process over a real embedded store, but its world is fake — kernel
 * servers are records that host object ids and can be killed or cut off,
 * and the clock moves only when the test says. Invariants are checked after
 * every step; a seeded random schedule of kills, partitions, heals,
 * restarts and creations runs on top (the seed is printed, so a failure
 * can be replayed with COR_FIXTURE_SEED=N).
 */
#include <cor/cor.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cor/kernel.pb-c.h"
#include "directory.h"
#include "rpc.h"
#include "store.h"
#include "testlib.h"

#define NODES 5
#define MAX_HOSTED 256

typedef struct fake_kernel {
    char name[8], addr[32];
    int up;          /* the process runs */
    int cut;         /* partitioned from the OMS */
    uint64_t incarnation;
    cor_object_id_t hosted[MAX_HOSTED];
    int n_hosted;
} fake_kernel_t;

static fake_kernel_t kernels[NODES];
static int64_t now_ms = 1000000;
static oms_dir_t *dir;
static char data[256];

static int64_t fake_mono(void *arg)
{
    return now_ms;
}

static int64_t fake_wall(void *arg)
{
    return 1700000000000LL + now_ms;
}

static fake_kernel_t *by_addr(const char *a)
{
    for (int i = 0; i < NODES; i++)
        if (strcmp(kernels[i].addr, a) == 0)
            return &kernels[i];
    return NULL;
}

static int hosts(const fake_kernel_t *k, const cor_object_id_t *id)
{
    for (int i = 0; i < k->n_hosted; i++)
        if (cor_object_id_equal(&k->hosted[i], id))
            return i;
    return -1;
}

static int fake_call(void *arg, const char *target, int method, const ProtobufCMessage *req,
                     ProtobufCMessage **reply, cor_error_t *err)
{
    if (reply != NULL)
        *reply = NULL;
    fake_kernel_t *k = by_addr(target);
    if (k == NULL || !k->up || k->cut)
        return cor_error_set(err, COR_EUNAVAIL, "%s unreachable", target);
    if (method == COR_M_SET_MEMBERS)
        return 0; /* membership news: nothing to host */
    const ProtobufCBinaryData *idb =
        method == COR_M_CREATE_REPLICA   ? &((const Cor__CreateReplicaRequest *)req)->object_id
        : method == COR_M_INSTALL_STATE  ? &((const Cor__InstallStateRequest *)req)->object_id
                                         : &((const Cor__DeleteReplicaRequest *)req)->object_id;
    cor_object_id_t id;
    if (cor_object_id_from_bytes(idb->data, idb->len, &id) != 0)
        return cor_error_set(err, COR_EINVAL, "bad id");
    int at = hosts(k, &id);
    if (method == COR_M_DELETE_REPLICA) {
        if (at < 0)
            return cor_error_set(err, COR_ENOTFOUND, "not hosted");
        k->hosted[at] = k->hosted[--k->n_hosted];
        return 0;
    }
    if (at >= 0)
        return cor_error_set(err, COR_EEXIST, "already hosted");
    if (k->n_hosted == MAX_HOSTED)
        return cor_error_set(err, COR_ENOMEM, "full");
    k->hosted[k->n_hosted++] = id;
    return 0;
}

static const oms_env_t env = {.kernel_call = fake_call, .mono_ms = fake_mono,
                              .wall_ms = fake_wall};

static void register_node(fake_kernel_t *k)
{
    Cor__ClassInfo ci = COR__CLASS_INFO__INIT, *cp = &ci;
    ci.name = (char *)"echo.Echo";
    Cor__NodeInfo n = COR__NODE_INFO__INIT;
    n.name = k->name;
    n.tcp_address = k->addr;
    n.unix_path = (char *)"";
    n.host_id = (char *)"fixture";
    n.n_classes = 1;
    n.classes = &cp;
    Cor__RegisterRequest rq = COR__REGISTER_REQUEST__INIT;
    rq.node = &n;
    Cor__RegisterReply rp = COR__REGISTER_REPLY__INIT;
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(oms_dir_register(dir, &rq, &rp, &err), 0);
    k->incarnation = rp.incarnation;
    k->n_hosted = 0; /* a new process hosts nothing */
}

static void heartbeats(void)
{
    for (int i = 0; i < NODES; i++) {
        fake_kernel_t *k = &kernels[i];
        if (!k->up || k->cut)
            continue;
        Cor__HeartbeatRequest h = COR__HEARTBEAT_REQUEST__INIT;
        h.name = k->name;
        h.incarnation = k->incarnation;
        Cor__HeartbeatReply r = COR__HEARTBEAT_REPLY__INIT;
        cor_error_t err;
        oms_dir_heartbeat(dir, &h, &r, &err);
        if (!r.known)
            register_node(k); /* as cor-kernel does */
    }
}

/* Everything the OMS knows, for the invariants. */
static Cor__ListObjectsReply *all_objects(cor_arena_t *a)
{
    Cor__ListObjectsRequest rq = COR__LIST_OBJECTS_REQUEST__INIT;
    rq.limit = 10000;
    Cor__ListObjectsReply *rp = cor_arena_alloc(a, sizeof(*rp));
    cor__list_objects_reply__init(rp);
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(oms_dir_list_objects(dir, &rq, a, rp, &err), 0);
    return rp;
}

static int live_nodes(void)
{
    int n = 0;
    for (int i = 0; i < NODES; i++)
        n += kernels[i].up && !kernels[i].cut;
    return n;
}

static int checks;

/* After every step. `settled`: enough time has passed since the last fault
 * for the OMS to have noticed and repaired. */
static void check_invariants(int settled)
{
    cor_arena_t a;
    cor_arena_init(&a, 0);
    Cor__ListObjectsReply *rp = all_objects(&a);
    for (size_t i = 0; i < rp->n_objects; i++) {
        Cor__ObjectInfo *o = rp->objects[i];
        cor_object_id_t id;
        memcpy(id.b, o->id.data, 16);
        int active = 0, active_alive = 0;
        for (size_t j = 0; j < o->n_replicas; j++) {
            Cor__Replica *r = o->replicas[j];
            if (r->state != COR__REPLICA_STATE__REPLICA_ACTIVE)
                continue;
            active++;
            /* Replicas of one object sit on distinct nodes. */
            for (size_t k = j + 1; k < o->n_replicas; k++)
                if (o->replicas[k]->state == COR__REPLICA_STATE__REPLICA_ACTIVE)
                    CU_ASSERT_STRING_NOT_EQUAL(r->node, o->replicas[k]->node);
            fake_kernel_t *kk = by_addr(r->tcp_address);
            CU_ASSERT_PTR_NOT_NULL_FATAL(kk);
            /* What the OMS calls a live active replica really is hosted. */
            if (r->node_state == COR__NODE_STATE__NODE_ALIVE && r->incarnation == kk->incarnation) {
                active_alive++;
                CU_ASSERT(hosts(kk, &id) >= 0);
            }
            checks++;
        }
        int lbf = strstr(o->dm_chain, "LoadBalancedFrontend") != NULL;
        /* A single replica is never live in two places. */
        if (!lbf)
            CU_ASSERT(active <= 1);
        /* Once settled, a load-balanced object has its two replicas on
         * live nodes whenever two live nodes exist. */
        if (settled && lbf && live_nodes() >= 2) {
            if (active_alive != 2) {
                fprintf(stderr, "t=%lld lbf %02x%02x: %d active alive of %zu replicas:", (long long)now_ms,
                        o->id.data[0], o->id.data[1], active_alive, o->n_replicas);
                for (size_t j = 0; j < o->n_replicas; j++)
                    fprintf(stderr, " [%s inc %llu st %d node %d]", o->replicas[j]->node,
                            (unsigned long long)o->replicas[j]->incarnation, o->replicas[j]->state,
                            o->replicas[j]->node_state);
                fprintf(stderr, "\n");
            }
            CU_ASSERT_EQUAL(active_alive, 2);
        }
    }
    cor_arena_close(&a);
}

/* Advances the clock in 100 ms ticks: heartbeats every 200 ms, the
 * liveness check (and repair) every tick, invariants after each. */
static void step(int ms, int settle_after)
{
    for (int t = 0; t < ms; t += 100) {
        now_ms += 100;
        if (now_ms % 200 == 0)
            heartbeats();
        oms_dir_check_liveness(dir);
        check_invariants(t >= settle_after);
    }
}

static cor_object_id_t create(const char *chain)
{
    Cor__CreateObjectRequest rq = COR__CREATE_OBJECT_REQUEST__INIT;
    rq.class_name = (char *)"echo.Echo";
    rq.dm_chain = (char *)chain;
    Cor__CreateObjectReply rp = COR__CREATE_OBJECT_REPLY__INIT;
    cor_arena_t a;
    cor_arena_init(&a, 0);
    cor_error_t err;
    cor_object_id_t id;
    memset(&id, 0, sizeof(id));
    if (oms_dir_create(dir, &rq, &a, &rp, &err) == 0)
        memcpy(id.b, rp.object->id.data, 16);
    cor_arena_close(&a);
    return id;
}

static const char *node_of(const cor_object_id_t *id)
{
    static char node[16];
    Cor__LookupRequest rq = COR__LOOKUP_REQUEST__INIT;
    rq.id.data = (uint8_t *)id->b;
    rq.id.len = 16;
    Cor__LookupReply rp = COR__LOOKUP_REPLY__INIT;
    cor_arena_t a;
    cor_arena_init(&a, 0);
    cor_error_t err;
    node[0] = '\0';
    if (oms_dir_lookup(dir, &rq, &a, &rp, &err) == 0)
        for (size_t i = 0; i < rp.object->n_replicas; i++)
            if (rp.object->replicas[i]->state == COR__REPLICA_STATE__REPLICA_ACTIVE)
                snprintf(node, sizeof(node), "%s", rp.object->replicas[i]->node);
    cor_arena_close(&a);
    return node;
}

static void checkpoint(const cor_object_id_t *id)
{
    const char *n = node_of(id);
    fake_kernel_t *k = NULL;
    for (int i = 0; i < NODES; i++)
        if (strcmp(kernels[i].name, n) == 0)
            k = &kernels[i];
    CU_ASSERT_PTR_NOT_NULL_FATAL(k);
    Cor__CheckpointRequest rq = COR__CHECKPOINT_REQUEST__INIT;
    rq.object_id.data = (uint8_t *)id->b;
    rq.object_id.len = 16;
    rq.class_name = (char *)"echo.Echo";
    rq.taken_ms = fake_wall(NULL);
    rq.node = k->name;
    rq.incarnation = k->incarnation;
    cor_error_t err;
    CU_ASSERT_EQUAL(oms_dir_put_checkpoint(dir, &rq, &err), 0);
    /* From anyone else it is refused. */
    rq.node = (char *)"k9";
    CU_ASSERT_EQUAL(oms_dir_put_checkpoint(dir, &rq, &err), COR_ESTATE);
}

static fake_kernel_t *kernel_named(const char *n)
{
    for (int i = 0; i < NODES; i++)
        if (strcmp(kernels[i].name, n) == 0)
            return &kernels[i];
    return NULL;
}

static int setup(void)
{
    cor_test_tmp_path(data, sizeof(data), "fixture-oms");
    cor_store_t st;
    cor_error_t err;
    if (cor_store_open_embedded(data, 0, &st, &err) != 0)
        return 1;
    oms_dir_opts_t o = {.heartbeat_interval_ms = 200, .heartbeat_timeout_ms = 1000, .env = &env};
    if (oms_dir_open(st, &o, &dir, &err) != 0)
        return 1;
    for (int i = 0; i < NODES; i++) {
        snprintf(kernels[i].name, sizeof(kernels[i].name), "k%d", i + 1);
        snprintf(kernels[i].addr, sizeof(kernels[i].addr), "10.0.0.%d:7000", i + 1);
        kernels[i].up = 1;
    }
    return 0;
}

static int teardown(void)
{
    oms_dir_close(dir);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", data);
    return system(cmd) == 0 ? 0 : 0;
}

static void test_scripted(void)
{
    for (int i = 0; i < NODES; i++)
        register_node(&kernels[i]);
    step(400, 0);
    cor_object_id_t lbf[4], ck[3], plain[2];
    for (int i = 0; i < 4; i++)
        lbf[i] = create("LoadBalancedFrontend(replicas=2)");
    for (int i = 0; i < 3; i++)
        ck[i] = create("PeriodicCheckpoint(interval=1s)");
    for (int i = 0; i < 2; i++)
        plain[i] = create("");
    step(400, 0);

    /* Kill the node holding the first checkpointed object, before and
     * after it has a checkpoint. */
    checkpoint(&ck[0]);
    fake_kernel_t *victim = kernel_named(node_of(&ck[0]));
    victim->up = 0;
    step(2000, 1500); /* timeout 1 s: noticed and repaired by then */
    CU_ASSERT_STRING_NOT_EQUAL(node_of(&ck[0]), victim->name);
    CU_ASSERT_STRING_NOT_EQUAL(node_of(&ck[0]), "");

    /* A partition looks like death to the OMS; healing brings the same
     * incarnation back, and nothing is live twice. */
    fake_kernel_t *p = kernel_named(node_of(&lbf[0]));
    p->cut = 1;
    step(2000, 1500);
    p->cut = 0;
    step(1000, 0);
    /* The killed node restarts: a new incarnation, hosting nothing. */
    victim->up = 1;
    register_node(victim);
    step(1000, 500);
    (void)plain;
}

/* Restarts every dead kernel and ends every partition. */
static void heal_all(void)
{
    for (int i = 0; i < NODES; i++) {
        if (!kernels[i].up) {
            kernels[i].up = 1;
            register_node(&kernels[i]);
        }
        kernels[i].cut = 0;
    }
}

static void test_random_schedule(void)
{
    const char *env_seed = getenv("COR_FIXTURE_SEED");
    unsigned seed = env_seed ? (unsigned)strtoul(env_seed, NULL, 10) : 20261123u;
    printf("\n    fixture seed %u (replay: COR_FIXTURE_SEED=%u)\n", seed, seed);
    srand(seed);
    for (int round = 0; round < 60; round++) {
        int r = rand() % 10;
        fake_kernel_t *k = &kernels[rand() % NODES];
        if (r < 3) {
            create(rand() % 2 ? "LoadBalancedFrontend(replicas=2)" : "PeriodicCheckpoint(interval=1s)");
        } else if (r < 5 && live_nodes() > 2) {
            k->up = 0; /* kill */
        } else if (r < 6 && live_nodes() > 2) {
            k->cut = 1; /* partition */
        } else if (r < 8) {
            if (!k->up) { /* restart: new incarnation */
                k->up = 1;
                register_node(k);
            }
            k->cut = 0;
        }
        step(300, 10000); /* no settling claims mid-schedule */
    }
    /* Heal everything, let it settle, and check the strong invariants. */
    heal_all();
    step(3000, 2000);
    printf("    %d replica checks\n", checks);
    CU_ASSERT(checks > 1000);
}

/* A lost replica with no node to go to waits, without re-planning every
 * tick, and is placed as soon as a node comes back. */
static void test_waits_for_a_node(void)
{
    heal_all();
    step(1000, 500);
    cor_object_id_t x = create("LoadBalancedFrontend(replicas=2)");
    fake_kernel_t *holders[2];
    int n = 0;
    for (int i = 0; i < NODES; i++)
        if (hosts(&kernels[i], &x) >= 0 && n < 2)
            holders[n++] = &kernels[i];
    CU_ASSERT_EQUAL_FATAL(n, 2);
    /* One holder dies and every other node is cut off: nowhere to go. */
    holders[1]->up = 0;
    for (int i = 0; i < NODES; i++)
        if (&kernels[i] != holders[0] && &kernels[i] != holders[1])
            kernels[i].cut = 1;
    step(3000, 100000);
    CU_ASSERT_EQUAL(live_nodes(), 1);
    /* A node that held none of x's replicas comes back (same incarnation,
     * through its heartbeat): x and every other waiting object get their
     * second replica on it, checked by the settled invariants. */
    fake_kernel_t *back = NULL;
    for (int i = 0; i < NODES && back == NULL; i++)
        if (kernels[i].cut)
            back = &kernels[i];
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    back->cut = 0;
    step(1500, 1000);
    CU_ASSERT(hosts(back, &x) >= 0);
}

int main(void)
{
    static const cor_test_t tests[] = {
        {"scripted: kill, restore, partition, restart", test_scripted},
        {"seeded random schedule", test_random_schedule},
        {"a lost replica waits for a node", test_waits_for_a_node},
        {NULL, NULL},
    };
    return cor_test_main("oms_fixture", tests, setup, teardown);
}
