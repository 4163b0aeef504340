/*
 * test_oms_fixture.c — the OMS's group logic (placement, liveness, replica
 * repair, checkpoint restore, live migration) driven deterministically: the
 * directory runs in-process over a real embedded store, but its world is
 * fake — kernel servers are records that host object ids and can be killed
 * or cut off, and the clock moves only when the test says. Invariants are
 * checked after every step; a seeded random schedule of kills, partitions,
 * heals, restarts and creations runs on top (the seed is printed, so a
 * failure can be replayed with COR_FIXTURE_SEED=N).
 *
 * For moves, a fake kernel plays the source (MigrateOut: PRECOPY, FINAL,
 * ABORT) as the test scripts it in `mig`, and answers GetState probes from
 * what it hosts and the tombstones its moves left.
 */
#include <cor/cor.h>
#include <cor/dm.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cor/kernel.pb-c.h"
#include "directory.h"
#include "rpc.h"
#include "store.h"
#include "testlib.h"

/* k1..k5 host echo.Echo (k1, k2 in zone a, the rest in zone b); k6, in
 * zone a, hosts only kv.Store and is started by the migration tests. */
#define NODES 5
#define ALL (NODES + 1)
#define OTHER (&kernels[NODES])
#define MAX_HOSTED 256
#define MAX_TOMBS 64

typedef struct fake_kernel {
    char name[8], addr[32];
    const char *cls, *zone;
    int up;          /* the process runs */
    int cut;         /* partitioned from the OMS */
    uint64_t incarnation;
    cor_object_id_t hosted[MAX_HOSTED];
    uint64_t epoch[MAX_HOSTED]; /* each hosted replica's */
    int n_hosted;
    struct {                    /* objects it moved away */
        cor_object_id_t id;
        uint64_t epoch;
    } tombs[MAX_TOMBS];
    int n_tombs;
    int last_founding; /* the last replica set it was sent: founding (1) or not (0); -1 none */
} fake_kernel_t;

static fake_kernel_t kernels[ALL];

/* How the sources answer MigrateOut, set by each migration test (zero:
 * one PRECOPY round of 0 bytes, FINAL commits), and what they were asked. */
static struct {
    uint64_t sent[16]; /* PRECOPY round i sends sent[i] bytes; past n_sent, the last */
    int n_sent;
    int skip;          /* PRECOPY answers skipped */
    int precopy_fail;  /* PRECOPY round n (1-based) fails */
    uint64_t state, final_sent;
    int64_t frozen_us;
    int final_rc;      /* FINAL fails with this, having done nothing ... */
    int final_commits; /* ... or having committed (the reply is lost) ... */
    int final_strays;  /* ... or having left a copy at the target */
    void (*during)(int phase); /* at each PRECOPY or FINAL, before it acts */
    int precopies, finals, aborts;
    uint64_t new_epoch; /* the last step's */
} mig;
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
    for (int i = 0; i < ALL; i++)
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

static int host_add(fake_kernel_t *k, const cor_object_id_t *id, uint64_t epoch, cor_error_t *err)
{
    if (hosts(k, id) >= 0)
        return cor_error_set(err, COR_EEXIST, "already hosted");
    if (k->n_hosted == MAX_HOSTED)
        return cor_error_set(err, COR_ENOMEM, "full");
    k->epoch[k->n_hosted] = epoch;
    k->hosted[k->n_hosted++] = *id;
    return 0;
}

static void host_drop(fake_kernel_t *k, int at)
{
    k->n_hosted--;
    k->hosted[at] = k->hosted[k->n_hosted];
    k->epoch[at] = k->epoch[k->n_hosted];
}

/* A reply the directory frees with protobuf_c_message_free_unpacked. */
static int reply_with(const ProtobufCMessage *m, ProtobufCMessage **reply)
{
    if (reply == NULL)
        return 0;
    uint8_t buf[256];
    size_t n = protobuf_c_message_pack(m, buf);
    *reply = protobuf_c_message_unpack(m->descriptor, NULL, n, buf);
    return 0;
}

/* The source's side of a move (runtime/migrate_out.c in a real kernel), as
 * the test scripted it in `mig`. */
static int fake_migrate_out(fake_kernel_t *k, const Cor__MigrateOutRequest *rq,
                            ProtobufCMessage **reply, cor_error_t *err)
{
    cor_object_id_t id;
    if (cor_object_id_from_bytes(rq->object_id.data, rq->object_id.len, &id) != 0)
        return cor_error_set(err, COR_EINVAL, "bad id");
    if (rq->phase == COR__MOVE_PHASE__MOVE_ABORT) {
        mig.aborts++;
        return 0;
    }
    int at = hosts(k, &id);
    if (at < 0)
        return cor_error_set(err, COR_ENOTFOUND, "not hosted");
    mig.new_epoch = rq->new_epoch;
    if (mig.during != NULL)
        mig.during(rq->phase);
    Cor__MigrateOutReply r = COR__MIGRATE_OUT_REPLY__INIT;
    r.state_bytes = mig.state;
    if (rq->phase == COR__MOVE_PHASE__MOVE_PRECOPY) {
        int i = mig.precopies++;
        if (mig.precopy_fail == mig.precopies)
            return cor_error_set(err, COR_EUNAVAIL, "pre-copy round failed");
        r.skipped = mig.skip;
        if (!mig.skip && mig.n_sent > 0)
            r.sent_bytes = mig.sent[i < mig.n_sent ? i : mig.n_sent - 1];
        return reply_with(&r.base, reply);
    }
    mig.finals++;
    fake_kernel_t *t = by_addr(rq->target_tcp);
    if (t == NULL || !t->up)
        return cor_error_set(err, COR_EUNAVAIL, "target unreachable");
    if (mig.final_rc != 0 && !mig.final_commits) {
        if (mig.final_strays)
            host_add(t, &id, rq->new_epoch, err);
        return cor_error_set(err, mig.final_rc, "final step failed");
    }
    int rc = host_add(t, &id, rq->new_epoch, err);
    if (rc != 0)
        return rc;
    host_drop(k, at);
    if (k->n_tombs < MAX_TOMBS) {
        k->tombs[k->n_tombs].id = id;
        k->tombs[k->n_tombs++].epoch = rq->new_epoch;
    }
    if (mig.final_rc != 0)
        return cor_error_set(err, mig.final_rc, "the final step's reply was lost");
    r.frozen_us = mig.frozen_us;
    r.sent_bytes = mig.final_sent;
    return reply_with(&r.base, reply);
}

/* A probe: where the object stands here — hosted (at its epoch), moved
 * away (a tombstone), or unknown (COR_ENOTFOUND). */
static int fake_get_state(fake_kernel_t *k, const Cor__GetStateRequest *rq,
                          ProtobufCMessage **reply, cor_error_t *err)
{
    cor_object_id_t id;
    if (!rq->probe || cor_object_id_from_bytes(rq->object_id.data, rq->object_id.len, &id) != 0)
        return cor_error_set(err, COR_EINVAL, "fixture kernels answer probes only");
    Cor__GetStateReply r = COR__GET_STATE_REPLY__INIT;
    int at = hosts(k, &id);
    if (at >= 0) {
        r.epoch = k->epoch[at];
        return reply_with(&r.base, reply);
    }
    for (int i = k->n_tombs - 1; i >= 0; i--)
        if (cor_object_id_equal(&k->tombs[i].id, &id)) {
            r.moved = 1;
            r.moved_epoch = k->tombs[i].epoch;
            return reply_with(&r.base, reply);
        }
    return cor_error_set(err, COR_ENOTFOUND, "no object here");
}

static int fake_call(void *arg, const char *target, int method, const ProtobufCMessage *req,
                     ProtobufCMessage **reply, cor_error_t *err)
{
    if (reply != NULL)
        *reply = NULL;
    fake_kernel_t *k = by_addr(target);
    if (k == NULL || !k->up || k->cut)
        return cor_error_set(err, COR_EUNAVAIL, "%s unreachable", target);
    if (method == COR_M_SET_MEMBERS) { /* membership news: nothing to host */
        k->last_founding = ((const Cor__SetMembersRequest *)req)->founding;
        return 0;
    }
    if (method == COR_M_MIGRATE_OUT)
        return fake_migrate_out(k, (const Cor__MigrateOutRequest *)req, reply, err);
    if (method == COR_M_GET_STATE)
        return fake_get_state(k, (const Cor__GetStateRequest *)req, reply, err);
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
        host_drop(k, at);
        return 0;
    }
    return host_add(k, &id,
                    method == COR_M_CREATE_REPLICA
                        ? ((const Cor__CreateReplicaRequest *)req)->epoch
                        : ((const Cor__InstallStateRequest *)req)->epoch,
                    err);
}

static const oms_env_t env = {.kernel_call = fake_call, .mono_ms = fake_mono,
                              .wall_ms = fake_wall};

/* Registers k naming held replicas (RegisterRequest.held); the reply in
 * a. k's incarnation and what it hosts follow only on success. */
static int register_held(fake_kernel_t *k, Cor__HeldReplica **held, size_t n_held,
                         cor_arena_t *a, Cor__RegisterReply *rp, cor_error_t *err)
{
    Cor__ClassInfo ci = COR__CLASS_INFO__INIT, *cp = &ci;
    ci.name = (char *)k->cls;
    Cor__NodeInfo__LabelsEntry zone = COR__NODE_INFO__LABELS_ENTRY__INIT, *zp = &zone;
    zone.key = (char *)"zone";
    zone.value = (char *)k->zone;
    Cor__NodeInfo n = COR__NODE_INFO__INIT;
    n.name = k->name;
    n.tcp_address = k->addr;
    n.unix_path = (char *)"";
    n.host_id = (char *)"fixture";
    n.n_classes = 1;
    n.classes = &cp;
    n.n_labels = 1;
    n.labels = &zp;
    Cor__RegisterRequest rq = COR__REGISTER_REQUEST__INIT;
    rq.node = &n;
    rq.held = held;
    rq.n_held = n_held;
    int rc = oms_dir_register(dir, &rq, a, rp, err);
    if (rc == 0) {
        k->incarnation = rp->incarnation;
        k->n_tombs = 0;
    }
    return rc;
}

static void register_node(fake_kernel_t *k)
{
    Cor__RegisterReply rp = COR__REGISTER_REPLY__INIT;
    cor_error_t err;
    cor_arena_t arena;
    cor_arena_init(&arena, 0);
    CU_ASSERT_EQUAL_FATAL(register_held(k, NULL, 0, &arena, &rp, &err), 0);
    cor_arena_close(&arena);
    k->n_hosted = 0; /* a new process hosts nothing */
}

static void heartbeats(void)
{
    for (int i = 0; i < ALL; i++) {
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
        /* A single replica is never live in two places (TestGroup, the
         * group-part tests' DM, keeps as many as a test asks for). */
        if (!lbf && strstr(o->dm_chain, "TestGroup") == NULL)
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

/* An echo.Echo object with this chain, placed by selector (all zero if
 * the create failed). */
static cor_object_id_t create_placed(const char *chain, const char *selector)
{
    Cor__CreateObjectRequest rq = COR__CREATE_OBJECT_REQUEST__INIT;
    rq.class_name = (char *)"echo.Echo";
    rq.dm_chain = (char *)chain;
    rq.selector = (char *)selector;
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

static cor_object_id_t create(const char *chain)
{
    return create_placed(chain, "");
}

/* The OMS's record of an object, in a; NULL if it has none. */
static Cor__ObjectInfo *lookup(const cor_object_id_t *id, cor_arena_t *a)
{
    Cor__LookupRequest rq = COR__LOOKUP_REQUEST__INIT;
    rq.id.data = (uint8_t *)id->b;
    rq.id.len = 16;
    Cor__LookupReply rp = COR__LOOKUP_REPLY__INIT;
    cor_error_t err;
    return oms_dir_lookup(dir, &rq, a, &rp, &err) == 0 ? rp.object : NULL;
}

static const char *node_of(const cor_object_id_t *id)
{
    static char node[16];
    cor_arena_t a;
    cor_arena_init(&a, 0);
    node[0] = '\0';
    Cor__ObjectInfo *o = lookup(id, &a);
    for (size_t i = 0; o != NULL && i < o->n_replicas; i++)
        if (o->replicas[i]->state == COR__REPLICA_STATE__REPLICA_ACTIVE)
            snprintf(node, sizeof(node), "%s", o->replicas[i]->node);
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
    for (int i = 0; i < ALL; i++)
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
    for (int i = 0; i < ALL; i++) {
        snprintf(kernels[i].name, sizeof(kernels[i].name), "k%d", i + 1);
        snprintf(kernels[i].addr, sizeof(kernels[i].addr), "10.0.0.%d:7000", i + 1);
        kernels[i].cls = i < NODES ? "echo.Echo" : "kv.Store";
        kernels[i].zone = i < 2 || i == NODES ? "a" : "b";
        kernels[i].up = i < NODES; /* k6: when a test starts it */
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
    for (int i = 0; i < NODES; i++)
        kernels[i].last_founding = -1;
    cor_object_id_t x = create("LoadBalancedFrontend(replicas=2)");
    fake_kernel_t *holders[2];
    int n = 0;
    for (int i = 0; i < NODES; i++)
        if (hosts(&kernels[i], &x) >= 0 && n < 2)
            holders[n++] = &kernels[i];
    CU_ASSERT_EQUAL_FATAL(n, 2);
    /* The set sent at the create is the founding one: exactly the replicas
     * made with the object. */
    CU_ASSERT_EQUAL(holders[0]->last_founding, 1);
    CU_ASSERT_EQUAL(holders[1]->last_founding, 1);
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
    /* A set with a replica made later is not founding. */
    CU_ASSERT_EQUAL(back->last_founding, 0);
    CU_ASSERT_EQUAL(holders[0]->last_founding, 0);
}

/* ---------------- live migration ---------------- */

static uint64_t epoch_of(const cor_object_id_t *id)
{
    cor_arena_t a;
    cor_arena_init(&a, 0);
    Cor__ObjectInfo *o = lookup(id, &a);
    uint64_t e = o ? o->epoch : 0;
    cor_arena_close(&a);
    return e;
}

/* Asks the OMS to move id to the node named to (or, with to NULL, to any
 * matching selector); the reply is built in a. */
static int migrate(const cor_object_id_t *id, const char *to, const char *selector, cor_arena_t *a,
                   Cor__MigrateReply *rep, cor_error_t *err)
{
    Cor__MigrateRequest rq = COR__MIGRATE_REQUEST__INIT;
    rq.id.data = (uint8_t *)id->b;
    rq.id.len = 16;
    rq.to_node = (char *)(to ? to : "");
    rq.selector = (char *)(selector ? selector : "");
    cor__migrate_reply__init(rep);
    return oms_dir_migrate(dir, &rq, a, rep, err);
}

/* A kernel of k1..k5 other than the one named, up and not cut off. */
static fake_kernel_t *other_kernel(const char *name)
{
    for (int i = 0; i < NODES; i++)
        if (strcmp(kernels[i].name, name) != 0 && kernels[i].up && !kernels[i].cut)
            return &kernels[i];
    return NULL;
}

/* A new scripted source: PRECOPY rounds send these byte counts in turn. */
static void script_move(const uint64_t *sent, int n)
{
    memset(&mig, 0, sizeof(mig));
    for (int i = 0; i < n && i < 16; i++)
        mig.sent[i] = sent[i];
    mig.n_sent = n;
    mig.state = 4u << 20;
}

/* A move to make: with everything healed and settled, a fresh
 * single-replica object, the kernel holding it, another to move it to,
 * and its epoch now. */
typedef struct move_case {
    cor_object_id_t x;
    fake_kernel_t *src, *dst;
    uint64_t epoch;
} move_case_t;

static move_case_t fresh_move(void)
{
    heal_all();
    step(1000, 500);
    memset(&mig, 0, sizeof(mig));
    move_case_t c = {.x = create("")};
    c.src = kernel_named(node_of(&c.x));
    CU_ASSERT_PTR_NOT_NULL_FATAL(c.src);
    c.dst = other_kernel(c.src->name);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c.dst);
    c.epoch = epoch_of(&c.x);
    return c;
}

/* What the OMS shows while the move runs, seen from inside each step. */
static cor_object_id_t watched;
static int watch_bad, watch_steps;
static uint64_t watch_copied;

static void watch_progress(int phase)
{
    cor_arena_t a;
    cor_arena_init(&a, 0);
    Cor__ObjectInfo *o = lookup(&watched, &a);
    const Cor__MoveProgress *p = o ? o->moving : NULL;
    watch_steps++;
    if (p == NULL) {
        watch_bad++;
    } else if (phase == COR__MOVE_PHASE__MOVE_PRECOPY) {
        /* Rounds done so far: the ones before this one. */
        watch_bad += strcmp(p->phase, "precopy") != 0 || p->round != (uint32_t)mig.precopies ||
                     p->bytes_copied != watch_copied;
        watch_copied += mig.sent[mig.precopies];
    } else {
        watch_bad += strcmp(p->phase, "final") != 0 || p->round != (uint32_t)mig.precopies ||
                     p->bytes_copied != watch_copied || p->state_bytes != mig.state;
    }
    cor_arena_close(&a);
}

/* A move commits: the target holds the object under the next epoch, the
 * source no longer does, the reply adds up the steps, the progress seen
 * during the move was right, and the move is in the object's history. */
static void test_move_commits(void)
{
    move_case_t c = fresh_move();
    const uint64_t sent[] = {1u << 20, 256u << 10, 32u << 10};
    script_move(sent, 3);
    mig.final_sent = 4096;
    mig.frozen_us = 1500;
    mig.during = watch_progress;
    watched = c.x;
    watch_bad = watch_steps = 0;
    watch_copied = 0;

    cor_arena_t a;
    cor_arena_init(&a, 0);
    Cor__MigrateReply rep;
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(migrate(&c.x, c.dst->name, NULL, &a, &rep, &err), 0);
    CU_ASSERT_STRING_EQUAL(rep.from_node, c.src->name);
    CU_ASSERT_STRING_EQUAL(rep.to_node, c.dst->name);
    CU_ASSERT_EQUAL(rep.precopy_rounds, 3);
    CU_ASSERT_EQUAL(rep.bytes_copied, (1u << 20) + (256u << 10) + (32u << 10) + 4096);
    CU_ASSERT_EQUAL(rep.state_bytes, 4u << 20);
    CU_ASSERT_EQUAL(rep.frozen_us, 1500);
    CU_ASSERT_EQUAL(mig.finals, 1);
    CU_ASSERT_EQUAL(mig.aborts, 0);
    CU_ASSERT_EQUAL(mig.new_epoch, c.epoch + 1);
    CU_ASSERT_EQUAL(watch_steps, 4);
    CU_ASSERT_EQUAL(watch_bad, 0);

    /* The record: on the target at the new epoch, no move under way, and
     * the move last in the history. */
    Cor__ObjectInfo *o = lookup(&c.x, &a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    CU_ASSERT_EQUAL(o->epoch, c.epoch + 1);
    CU_ASSERT_STRING_EQUAL(node_of(&c.x), c.dst->name);
    for (size_t i = 0; i < o->n_replicas; i++)
        if (o->replicas[i]->state == COR__REPLICA_STATE__REPLICA_ACTIVE) {
            CU_ASSERT_EQUAL(o->replicas[i]->epoch, c.epoch + 1);
            CU_ASSERT_EQUAL(o->replicas[i]->incarnation, c.dst->incarnation);
        }
    CU_ASSERT_PTR_NULL(o->moving);
    CU_ASSERT_EQUAL_FATAL(o->n_moves, 1);
    CU_ASSERT_STRING_EQUAL(o->moves[0]->from_node, c.src->name);
    CU_ASSERT_STRING_EQUAL(o->moves[0]->to_node, c.dst->name);
    CU_ASSERT_EQUAL(o->moves[0]->epoch, c.epoch + 1);
    CU_ASSERT_EQUAL(o->moves[0]->frozen_us, 1500);
    CU_ASSERT_EQUAL(o->moves[0]->at_ms, fake_wall(NULL));
    CU_ASSERT(hosts(c.dst, &c.x) >= 0);
    CU_ASSERT(hosts(c.src, &c.x) < 0);
    cor_arena_close(&a);
    step(1000, 500);
}

/* Moves x to another kernel with the scripted rounds (none: the source
 * skips pre-copy); returns the rounds the reply counts, after checking
 * that they are the PRECOPY calls made. */
static uint32_t rounds_for(const cor_object_id_t *x, const uint64_t *sent, int n)
{
    script_move(sent, n);
    mig.skip = n == 0;
    cor_arena_t a;
    cor_arena_init(&a, 0);
    Cor__MigrateReply rep;
    cor_error_t err;
    fake_kernel_t *dst = other_kernel(node_of(x));
    CU_ASSERT_EQUAL_FATAL(migrate(x, dst->name, NULL, &a, &rep, &err), 0);
    CU_ASSERT_STRING_EQUAL(node_of(x), dst->name);
    CU_ASSERT_EQUAL(rep.precopy_rounds + mig.skip, (uint32_t)mig.precopies);
    CU_ASSERT_EQUAL(mig.finals, 1);
    uint32_t rounds = rep.precopy_rounds;
    cor_arena_close(&a);
    return rounds;
}

/* Pre-copy stops when a round sends 64 KiB or less, after 8 rounds, or
 * when a round sends no less than the one before; a source that skips
 * makes none, and the move still completes. */
static void test_precopy_stops(void)
{
    cor_object_id_t x = fresh_move().x;
    const uint64_t small[] = {1u << 20, (64u << 10) + 1, 64u << 10, 1024};
    CU_ASSERT_EQUAL(rounds_for(&x, small, 4), 3);
    const uint64_t shrinking[] = {9u << 20, 8u << 20, 7u << 20, 6u << 20, 5u << 20,
                                  4u << 20, 3u << 20, 2u << 20, 1u << 20, 1024};
    CU_ASSERT_EQUAL(rounds_for(&x, shrinking, 10), 8);
    const uint64_t same[] = {1u << 20, 512u << 10, 512u << 10, 1024};
    CU_ASSERT_EQUAL(rounds_for(&x, same, 4), 3);
    const uint64_t grows[] = {1u << 20, 512u << 10, 600u << 10, 1024};
    CU_ASSERT_EQUAL(rounds_for(&x, grows, 4), 3);
    CU_ASSERT_EQUAL(rounds_for(&x, NULL, 0), 0);
    step(1000, 500);
}

/* x is where a failed move left it: on src under the same epoch, with no
 * move recorded or under way, and no copy at dst. */
static void check_stayed(const cor_object_id_t *x, const fake_kernel_t *src,
                         const fake_kernel_t *dst, uint64_t epoch)
{
    cor_arena_t a;
    cor_arena_init(&a, 0);
    Cor__ObjectInfo *o = lookup(x, &a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    CU_ASSERT_STRING_EQUAL(node_of(x), src->name);
    CU_ASSERT_EQUAL(o->epoch, epoch);
    CU_ASSERT_PTR_NULL(o->moving);
    CU_ASSERT_EQUAL(o->n_moves, 0);
    CU_ASSERT(hosts(src, x) >= 0);
    CU_ASSERT(hosts(dst, x) < 0);
    cor_arena_close(&a);
}

/* A failed step leaves the object on its source; after pre-copy rounds the
 * source is told to ABORT, after none it is not. Nothing stays reserved or
 * marked moving: the next move goes through. */
static void test_failed_move_stays(void)
{
    move_case_t c = fresh_move();
    const uint64_t sent[] = {1u << 20, 32u << 10};
    char ids[COR_OBJECT_ID_STRLEN + 1], prefix[200];
    cor_object_id_format(&c.x, ids);
    snprintf(prefix, sizeof(prefix), "moving object %s from %s to %s: ", ids, c.src->name, c.dst->name);
    cor_arena_t a;
    cor_arena_init(&a, 0);
    Cor__MigrateReply rep;
    cor_error_t err;

    /* The final step fails after two rounds. */
    script_move(sent, 2);
    mig.final_rc = COR_EUNAVAIL;
    CU_ASSERT_EQUAL(migrate(&c.x, c.dst->name, NULL, &a, &rep, &err), COR_EUNAVAIL);
    CU_ASSERT(strncmp(err.msg, prefix, strlen(prefix)) == 0);
    CU_ASSERT_EQUAL(mig.precopies, 2);
    CU_ASSERT_EQUAL(mig.finals, 1);
    CU_ASSERT_EQUAL(mig.aborts, 1);
    check_stayed(&c.x, c.src, c.dst, c.epoch);

    /* The second pre-copy round fails: no final step, and ABORT. */
    script_move(sent, 2);
    mig.precopy_fail = 2;
    CU_ASSERT_EQUAL(migrate(&c.x, c.dst->name, NULL, &a, &rep, &err), COR_EUNAVAIL);
    CU_ASSERT_EQUAL(mig.finals, 0);
    CU_ASSERT_EQUAL(mig.aborts, 1);
    check_stayed(&c.x, c.src, c.dst, c.epoch);

    /* The source skipped pre-copy and the final step fails: no session to
     * abort. */
    script_move(NULL, 0);
    mig.skip = 1;
    mig.final_rc = COR_EUNAVAIL;
    CU_ASSERT_EQUAL(migrate(&c.x, c.dst->name, NULL, &a, &rep, &err), COR_EUNAVAIL);
    CU_ASSERT_EQUAL(mig.finals, 1);
    CU_ASSERT_EQUAL(mig.aborts, 0);
    check_stayed(&c.x, c.src, c.dst, c.epoch);
    step(1000, 500);

    script_move(sent, 2);
    CU_ASSERT_EQUAL(migrate(&c.x, c.dst->name, NULL, &a, &rep, &err), 0);
    CU_ASSERT_STRING_EQUAL(node_of(&c.x), c.dst->name);
    CU_ASSERT_EQUAL(epoch_of(&c.x), c.epoch + 1);
    cor_arena_close(&a);
    step(1000, 500);
}

/* Asks for a move the OMS must refuse, with code and a message saying
 * why; the source is asked nothing. */
static void expect_refusal(const cor_object_id_t *x, const char *to, const char *selector,
                           int code, const char *why)
{
    memset(&mig, 0, sizeof(mig));
    cor_arena_t a;
    cor_arena_init(&a, 0);
    Cor__MigrateReply rep;
    cor_error_t err;
    CU_ASSERT_EQUAL(migrate(x, to, selector, &a, &rep, &err), code);
    if (strstr(err.msg, why) == NULL)
        fprintf(stderr, "refused as '%s', not for '%s'\n", err.msg, why);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, why));
    CU_ASSERT_EQUAL(mig.precopies + mig.finals + mig.aborts, 0);
    cor_arena_close(&a);
}

/* Moves the OMS refuses: to a node that would break the object's
 * placement, that does not host its class, to an unknown node or where it
 * already is (COR_EINVAL, COR_ENOTFOUND), to a dead node (COR_EUNAVAIL),
 * and by selector where no other live node fits. None changes anything;
 * with the node back, the move by selector goes through. */
static void test_move_refusals(void)
{
    heal_all();
    OTHER->up = 1;
    register_node(OTHER);
    step(1000, 500);
    cor_object_id_t x = create_placed("", "zone=a");
    fake_kernel_t *src = kernel_named(node_of(&x));
    CU_ASSERT_PTR_NOT_NULL_FATAL(src);
    CU_ASSERT_STRING_EQUAL_FATAL(src->zone, "a");
    fake_kernel_t *peer = &kernels[src == &kernels[0] ? 1 : 0]; /* the other zone-a echo host */
    uint64_t epoch = epoch_of(&x);

    expect_refusal(&x, "k3", NULL, COR_EINVAL, "would break its placement 'zone=a'");
    expect_refusal(&x, OTHER->name, NULL, COR_EINVAL, "does not host class echo.Echo");
    expect_refusal(&x, "k9", NULL, COR_ENOTFOUND, "no kernel server named 'k9'");
    expect_refusal(&x, src->name, NULL, COR_EINVAL, "is already on");
    expect_refusal(&x, NULL, "zone=b", COR_ENOTFOUND, "matches 'zone=b' and placement zone=a");
    peer->up = 0;
    step(2000, 1500);
    expect_refusal(&x, peer->name, NULL, COR_EUNAVAIL, "is not alive");
    expect_refusal(&x, NULL, "zone=a", COR_ENOTFOUND, "no other live kernel server");
    check_stayed(&x, src, peer, epoch);

    peer->up = 1;
    register_node(peer);
    step(1000, 500);
    script_move(NULL, 0);
    cor_arena_t a;
    cor_arena_init(&a, 0);
    Cor__MigrateReply rep;
    cor_error_t err;
    CU_ASSERT_EQUAL(migrate(&x, NULL, "zone=a", &a, &rep, &err), 0);
    CU_ASSERT_STRING_EQUAL(node_of(&x), peer->name);
    cor_arena_close(&a);
    step(1000, 500);
}

/* A kernel server's report that it holds id at epoch. */
static int report(const fake_kernel_t *k, const cor_object_id_t *id, uint64_t epoch,
                  cor_error_t *err)
{
    Cor__PlacementReport rq = COR__PLACEMENT_REPORT__INIT;
    rq.object_id.data = (uint8_t *)id->b;
    rq.object_id.len = 16;
    rq.node = (char *)k->name;
    rq.incarnation = k->incarnation;
    rq.epoch = epoch;
    return oms_dir_report_placement(dir, &rq, err);
}

/* From inside the final step of `reporting`'s move: the target's report
 * at the new epoch, and a second move of the same object. */
static move_case_t reporting;
static int during_report_rc, during_report_again, during_move_rc;

static void report_during(int phase)
{
    if (phase != COR__MOVE_PHASE__MOVE_FINAL)
        return;
    cor_error_t err;
    during_report_rc = report(reporting.dst, &reporting.x, mig.new_epoch, &err);
    during_report_again = strstr(err.msg, "is being moved: report again") != NULL;
    cor_arena_t a;
    cor_arena_init(&a, 0);
    Cor__MigrateReply rep;
    during_move_rc = migrate(&reporting.x, reporting.src->name, NULL, &a, &rep, &err);
    cor_arena_close(&a);
}

/* Placement reports around a move. During it, the target is told to
 * report again (and a second move is refused); after the commit its report
 * is old news. After a move whose final step failed as the OMS saw it, the
 * source's probe decides: it moved the object (its reply was lost) — the
 * report is adopted; it cannot be asked — report again; it still serves
 * the object — the report is refused and the target's stray copy deleted. */
static void test_placement_reports(void)
{
    const uint64_t sent[] = {1u << 20, 32u << 10};
    cor_arena_t a;
    cor_arena_init(&a, 0);
    Cor__MigrateReply rep;
    cor_error_t err;

    reporting = fresh_move();
    script_move(sent, 2);
    mig.during = report_during;
    CU_ASSERT_EQUAL(migrate(&reporting.x, reporting.dst->name, NULL, &a, &rep, &err), 0);
    CU_ASSERT_EQUAL(during_report_rc, COR_EUNAVAIL);
    CU_ASSERT(during_report_again);
    CU_ASSERT_EQUAL(during_move_rc, COR_EABORTED);
    CU_ASSERT_STRING_EQUAL(node_of(&reporting.x), reporting.dst->name);
    CU_ASSERT_EQUAL(report(reporting.dst, &reporting.x, reporting.epoch + 1, &err), 0);
    CU_ASSERT_EQUAL(epoch_of(&reporting.x), reporting.epoch + 1);
    step(1000, 500);

    /* The source committed, but its reply was lost. */
    move_case_t c = fresh_move();
    script_move(sent, 2);
    mig.final_rc = COR_EUNAVAIL;
    mig.final_commits = 1;
    CU_ASSERT_EQUAL(migrate(&c.x, c.dst->name, NULL, &a, &rep, &err), COR_EUNAVAIL);
    CU_ASSERT_STRING_EQUAL(node_of(&c.x), c.src->name);
    CU_ASSERT_EQUAL(report(c.dst, &c.x, c.epoch + 1, &err), 0);
    CU_ASSERT_STRING_EQUAL(node_of(&c.x), c.dst->name);
    CU_ASSERT_EQUAL(epoch_of(&c.x), c.epoch + 1);
    CU_ASSERT(hosts(c.dst, &c.x) >= 0);
    step(1000, 500);

    /* The final step failed before the source committed, leaving a copy at
     * the target. */
    c = fresh_move();
    script_move(sent, 2);
    mig.final_rc = COR_EUNAVAIL;
    mig.final_strays = 1;
    CU_ASSERT_EQUAL(migrate(&c.x, c.dst->name, NULL, &a, &rep, &err), COR_EUNAVAIL);
    CU_ASSERT_FATAL(hosts(c.dst, &c.x) >= 0);
    c.src->cut = 1;
    CU_ASSERT_EQUAL(report(c.dst, &c.x, c.epoch + 1, &err), COR_EUNAVAIL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "its source could not be asked"));
    CU_ASSERT(hosts(c.dst, &c.x) >= 0);
    c.src->cut = 0;
    CU_ASSERT_EQUAL(report(c.dst, &c.x, c.epoch + 1, &err), COR_ESTATE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "its source still serves it"));
    check_stayed(&c.x, c.src, c.dst, c.epoch);
    cor_arena_close(&a);
    step(1000, 500);
}

/* ---------------- DM group parts ---------------- */

/* TestGroup(replicas=N, refuse=0|1): a group part that makes N replicas
 * at create (then, with refuse=1, refuses the create), records every hook
 * it sees, and acts on messages: "save:TEXT", "drop:NODE", "lose:NODE",
 * "revive:NODE", "add", "move:NODE", "count". */
static struct {
    int news, creates, ticks, deletes, frees;
    int joined, dead, alive;
    char last_node[16];
    char saved_seen[64]; /* the last saved state group_new was given */
} tg;

static int tg_new(const cor_dm_entry_t *e, const unsigned char *saved, size_t len, void **state,
                  cor_error_t *err)
{
    tg.news++;
    if (len > 0)
        snprintf(tg.saved_seen, sizeof(tg.saved_seen), "%.*s", (int)len, (const char *)saved);
    long *want = malloc(sizeof(*want));
    cor_dm_param_int(e, "replicas", 1, 1, 8, want, NULL);
    *state = want;
    return 0;
}

static void tg_free(void *state)
{
    tg.frees++;
    free(state);
}

static int tg_create(void *state, cor_dm_group_t *g, cor_error_t *err)
{
    tg.creates++;
    for (long i = 0; i < *(long *)state; i++) {
        int rc = cor_dm_group_add_replica(g, COR_DM_FROM_ARGS, NULL, 0, err);
        if (rc != 0)
            return rc;
    }
    cor_dm_replica_t r[8];
    int n = 0;
    cor_dm_group_replicas(g, r, 8, &n);
    if (n == 2 && strcmp(cor_dm_group_class(g), "echo.Echo") == 0 && *(long *)state == 2 &&
        strcmp(r[0].node, r[1].node) != 0 && getenv("TG_REFUSE") != NULL)
        return cor_error_set(err, COR_EPERM, "TestGroup refuses on purpose");
    return 0;
}

static void tg_node(void *state, cor_dm_group_t *g, const char *node, enum cor_dm_node_event ev)
{
    tg.joined += ev == COR_DM_NODE_JOINED;
    tg.dead += ev == COR_DM_NODE_DEAD;
    tg.alive += ev == COR_DM_NODE_ALIVE;
    snprintf(tg.last_node, sizeof(tg.last_node), "%s", node);
}

static void tg_tick(void *state, cor_dm_group_t *g)
{
    tg.ticks++;
}

static void tg_delete(void *state, cor_dm_group_t *g)
{
    tg.deletes++;
}

static int tg_message(void *state, cor_dm_group_t *g, const char *from, const unsigned char *msg,
                      size_t len, unsigned char **reply, size_t *reply_len, cor_error_t *err)
{
    char m[128], out[64] = "ok";
    snprintf(m, sizeof(m), "%.*s", (int)len, (const char *)msg);
    int rc = 0;
    if (strncmp(m, "save:", 5) == 0)
        rc = cor_dm_group_save(g, (const unsigned char *)m + 5, strlen(m + 5), err);
    else if (strncmp(m, "drop:", 5) == 0)
        rc = cor_dm_group_drop_replica(g, m + 5, err);
    else if (strncmp(m, "lose:", 5) == 0)
        rc = cor_dm_group_lose_replica(g, m + 5, err);
    else if (strncmp(m, "revive:", 7) == 0)
        rc = cor_dm_group_revive_replica(g, m + 7, err);
    else if (strcmp(m, "add") == 0)
        rc = cor_dm_group_add_replica(g, COR_DM_FROM_ARGS, out, sizeof(out), err);
    else if (strncmp(m, "move:", 5) == 0)
        rc = cor_dm_group_move(g, m + 5, err);
    else if (strcmp(m, "count") == 0) {
        cor_dm_replica_t r[8];
        int n = 0, alive = 0, lost = 0;
        rc = cor_dm_group_replicas(g, r, 8, &n);
        for (int i = 0; i < n; i++) {
            alive += r[i].alive;
            lost += r[i].lost;
        }
        snprintf(out, sizeof(out), "%d alive %d lost from %s", alive, lost, from);
    } else
        rc = cor_error_set(err, COR_EINVAL, "TestGroup: what is '%s'?", m);
    if (rc == 0) {
        *reply = (unsigned char *)strdup(out);
        *reply_len = strlen(out);
    }
    return rc;
}

static const cor_dm_param_spec_t tg_params[] = {{"replicas", "how many", 0}, {NULL, NULL, 0}};

static const cor_dm_ops_t test_group = {
    .version = COR_DM_OPS_VERSION,
    .name = "TestGroup",
    .summary = "records its group hooks",
    .params = tg_params,
    .group_new = tg_new,
    .group_free = tg_free,
    .group_create = tg_create,
    .group_node = tg_node,
    .group_tick = tg_tick,
    .group_delete = tg_delete,
    .group_message = tg_message,
};

/* Sends msg to x's TestGroup part as the kernel k would; the reply's text
 * in out. */
static int group_msg(const cor_object_id_t *x, const fake_kernel_t *k, const char *dm,
                     const char *msg, char *out, size_t len, cor_error_t *err)
{
    Cor__GroupMessageRequest rq = COR__GROUP_MESSAGE_REQUEST__INIT;
    rq.object_id.data = (uint8_t *)x->b;
    rq.object_id.len = 16;
    rq.dm = (char *)dm;
    rq.node = (char *)k->name;
    rq.incarnation = k->incarnation;
    rq.payload.data = (uint8_t *)msg;
    rq.payload.len = strlen(msg);
    Cor__GroupMessageReply rp = COR__GROUP_MESSAGE_REPLY__INIT;
    cor_arena_t a;
    cor_arena_init(&a, 0);
    int rc = oms_dir_group_message(dir, &rq, &a, &rp, err);
    if (out != NULL)
        snprintf(out, len, "%.*s", (int)rp.payload.len, (const char *)rp.payload.data);
    cor_arena_close(&a);
    return rc;
}

/* How many of k1..k5 host x. */
static int holders(const cor_object_id_t *x)
{
    int n = 0;
    for (int i = 0; i < NODES; i++)
        n += hosts(&kernels[i], x) >= 0;
    return n;
}

/* A group part makes the replicas at create; refusing the create takes
 * them all back; it hears of nodes dying, joining and coming back, and is
 * ticked. */
/* A restarted kernel names the replicas it made again from its data
 * directory: the OMS keeps those it still counts there (moved to the new
 * incarnation, their member incarnation kept) and refuses the others in
 * its reply; a malformed list is refused whole, changing nothing. */
static void test_register_held(void)
{
    heal_all();
    step(1000, 500);
    cor_object_id_t x = create_placed("", "zone=a");
    fake_kernel_t *k = kernel_named(node_of(&x));
    CU_ASSERT_PTR_NOT_NULL_FATAL(k);
    uint64_t before = k->incarnation;
    Cor__HeldReplica h[2] = {COR__HELD_REPLICA__INIT, COR__HELD_REPLICA__INIT}, *hp[2] = {&h[0],
                                                                                         &h[1]};
    cor_object_id_t stranger = {{0x5a}};
    h[0].object_id.data = x.b;
    h[0].object_id.len = 3;
    Cor__RegisterReply rp = COR__REGISTER_REPLY__INIT;
    cor_arena_t a;
    cor_arena_init(&a, 0);
    cor_error_t err;
    CU_ASSERT_EQUAL(register_held(k, hp, 1, &a, &rp, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "16 bytes"));
    CU_ASSERT_EQUAL(k->incarnation, before);
    CU_ASSERT_STRING_EQUAL(node_of(&x), k->name); /* still there, not written off */

    h[0].object_id.len = 16;
    h[0].member_incarnation = before;
    h[1].object_id.data = stranger.b;
    h[1].object_id.len = 16;
    h[1].member_incarnation = before;
    Cor__RegisterReply rp2 = COR__REGISTER_REPLY__INIT;
    CU_ASSERT_EQUAL_FATAL(register_held(k, hp, 2, &a, &rp2, &err), 0);
    CU_ASSERT(k->incarnation > before);
    CU_ASSERT_STRING_EQUAL(node_of(&x), k->name); /* kept */
    CU_ASSERT_EQUAL_FATAL(rp2.n_refused, 1);
    CU_ASSERT_EQUAL(memcmp(rp2.refused[0].data, stranger.b, 16), 0);
    Cor__ObjectInfo *o = lookup(&x, &a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    CU_ASSERT_EQUAL(o->replicas[0]->incarnation, k->incarnation);
    CU_ASSERT_EQUAL(o->replicas[0]->member_incarnation, before);

    /* Without naming it, the next process loses it, as before. */
    Cor__RegisterReply rp3 = COR__REGISTER_REPLY__INIT;
    CU_ASSERT_EQUAL_FATAL(register_held(k, NULL, 0, &a, &rp3, &err), 0);
    k->n_hosted = 0;
    CU_ASSERT_STRING_EQUAL(node_of(&x), "");
    cor_arena_close(&a);
}

static void test_group_hooks(void)
{
    cor_error_t err;
    CU_ASSERT_EQUAL(cor_dm_register(&test_group, &err), 0);
    heal_all();
    step(1000, 500);
    memset(&tg, 0, sizeof(tg));
    cor_object_id_t x = create("TestGroup(replicas=3)");
    CU_ASSERT_FALSE(cor_object_id_is_nil(&x));
    CU_ASSERT_EQUAL(tg.news, 1);
    CU_ASSERT_EQUAL(tg.creates, 1);
    CU_ASSERT_EQUAL(holders(&x), 3);
    cor_arena_t a;
    cor_arena_init(&a, 0);
    Cor__ObjectInfo *o = lookup(&x, &a);
    CU_ASSERT_EQUAL_FATAL(o != NULL ? (int)o->n_replicas : -1, 3);
    cor_arena_close(&a);

    /* Refused after making two: both are taken back, nothing recorded. */
    int hosted = 0;
    for (int i = 0; i < NODES; i++)
        hosted += kernels[i].n_hosted;
    setenv("TG_REFUSE", "1", 1);
    Cor__CreateObjectRequest rq = COR__CREATE_OBJECT_REQUEST__INIT;
    rq.class_name = (char *)"echo.Echo";
    rq.dm_chain = (char *)"TestGroup(replicas=2)";
    rq.name = (char *)"refused";
    Cor__CreateObjectReply rp = COR__CREATE_OBJECT_REPLY__INIT;
    cor_arena_init(&a, 0);
    CU_ASSERT_EQUAL(oms_dir_create(dir, &rq, &a, &rp, &err), COR_EPERM);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "refuses on purpose"));
    unsetenv("TG_REFUSE");
    int after = 0;
    for (int i = 0; i < NODES; i++)
        after += kernels[i].n_hosted;
    CU_ASSERT_EQUAL(after, hosted);
    CU_ASSERT_EQUAL(tg.frees, 1); /* the refused object's part is gone */
    rq.dm_chain = (char *)"";     /* the name was given back */
    CU_ASSERT_EQUAL(oms_dir_create(dir, &rq, &a, &rp, &err), 0);
    cor_arena_close(&a);

    /* Nodes come and go: the part hears each, and is ticked meanwhile. */
    int ticks = tg.ticks;
    fake_kernel_t *k = kernel_named(node_of(&x));
    k->up = 0;
    step(2000, 100000);
    CU_ASSERT(tg.dead >= 1);
    CU_ASSERT(tg.ticks > ticks);
    k->up = 1;
    register_node(k);
    step(500, 100000);
    CU_ASSERT(tg.joined >= 1);
    fake_kernel_t *c = other_kernel(k->name);
    c->cut = 1;
    step(2000, 100000);
    c->cut = 0;
    step(500, 100000);
    CU_ASSERT(tg.alive >= 1);
    CU_ASSERT_STRING_EQUAL(tg.last_node, c->name);
}

/* Server parts reach their group part, only from a holder's current
 * process; the group part's actions change the replicas. */
static void test_group_messages(void)
{
    heal_all();
    step(1000, 500);
    cor_object_id_t x = create("TestGroup(replicas=2)");
    cor_object_id_t plain = create("");
    fake_kernel_t *h = kernel_named(node_of(&x)), *stranger = NULL;
    for (int i = 0; i < NODES && stranger == NULL; i++)
        if (hosts(&kernels[i], &x) < 0)
            stranger = &kernels[i];
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    CU_ASSERT_PTR_NOT_NULL_FATAL(stranger);
    char out[64];
    cor_error_t err;
    CU_ASSERT_EQUAL(group_msg(&x, h, "TestGroup", "count", out, sizeof(out), &err), 0);
    char want[64];
    snprintf(want, sizeof(want), "2 alive 0 lost from %s", h->name);
    CU_ASSERT_STRING_EQUAL(out, want);
    CU_ASSERT_EQUAL(group_msg(&x, stranger, "TestGroup", "count", out, sizeof(out), &err),
                    COR_ESTATE);
    fake_kernel_t old = *h;
    old.incarnation = h->incarnation + 7;
    CU_ASSERT_EQUAL(group_msg(&x, &old, "TestGroup", "count", out, sizeof(out), &err), COR_ESTATE);
    CU_ASSERT_EQUAL(group_msg(&x, h, "Nope", "count", out, sizeof(out), &err), COR_ENOTFOUND);
    fake_kernel_t *ph = kernel_named(node_of(&plain));
    CU_ASSERT_EQUAL(group_msg(&plain, ph, "TestGroup", "count", out, sizeof(out), &err),
                    COR_ENOTFOUND);
    CU_ASSERT_EQUAL(group_msg(&x, h, "TestGroup", "what", out, sizeof(out), &err), COR_EINVAL);

    /* Actions: one more replica, one written off and taken back, one
     * dropped (its kernel no longer hosts it). */
    CU_ASSERT_EQUAL(group_msg(&x, h, "TestGroup", "add", out, sizeof(out), &err), 0);
    CU_ASSERT_EQUAL(holders(&x), 3);
    fake_kernel_t *added = kernel_named(out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(added);
    CU_ASSERT(hosts(added, &x) >= 0);
    char cmd[32];
    snprintf(cmd, sizeof(cmd), "lose:%s", added->name);
    CU_ASSERT_EQUAL(group_msg(&x, h, "TestGroup", cmd, out, sizeof(out), &err), 0);
    CU_ASSERT_EQUAL(group_msg(&x, h, "TestGroup", "count", out, sizeof(out), &err), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "2 alive 1 lost"));
    snprintf(cmd, sizeof(cmd), "revive:%s", added->name);
    CU_ASSERT_EQUAL(group_msg(&x, h, "TestGroup", cmd, out, sizeof(out), &err), 0);
    snprintf(cmd, sizeof(cmd), "drop:%s", added->name);
    CU_ASSERT_EQUAL(group_msg(&x, h, "TestGroup", cmd, out, sizeof(out), &err), 0);
    CU_ASSERT(hosts(added, &x) < 0);
    CU_ASSERT_EQUAL(group_msg(&x, h, "TestGroup", "count", out, sizeof(out), &err), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "2 alive 0 lost"));
    CU_ASSERT_EQUAL(group_msg(&x, h, "TestGroup", cmd, out, sizeof(out), &err), COR_ENOTFOUND);
}

/* Re-opens the directory on the same store: an OMS restart. */
static void restart_oms(void)
{
    oms_dir_close(dir);
    cor_store_t st;
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(cor_store_open_embedded(data, 0, &st, &err), 0);
    oms_dir_opts_t o = {.heartbeat_interval_ms = 200, .heartbeat_timeout_ms = 1000, .env = &env};
    CU_ASSERT_EQUAL_FATAL(oms_dir_open(st, &o, &dir, &err), 0);
}

/* A group part's saved state outlives an OMS restart; a deleted object's
 * part hears of it and its state goes with it. */
static void test_group_state_survives(void)
{
    heal_all();
    step(1000, 500);
    cor_object_id_t x = create("TestGroup(replicas=1)");
    fake_kernel_t *h = kernel_named(node_of(&x));
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    cor_error_t err;
    CU_ASSERT_EQUAL(group_msg(&x, h, "TestGroup", "save:remember me", NULL, 0, &err), 0);
    memset(&tg, 0, sizeof(tg));
    restart_oms();
    CU_ASSERT(tg.news >= 1);
    CU_ASSERT_STRING_EQUAL(tg.saved_seen, "remember me");
    step(1000, 500);
    Cor__DeleteObjectRequest dq = COR__DELETE_OBJECT_REQUEST__INIT;
    dq.id.data = x.b;
    dq.id.len = 16;
    int deletes = tg.deletes;
    CU_ASSERT_EQUAL(oms_dir_delete(dir, &dq, &err), 0);
    CU_ASSERT_EQUAL(tg.deletes, deletes + 1);
    CU_ASSERT_EQUAL(holders(&x), 0);
    memset(&tg, 0, sizeof(tg));
    restart_oms();
    CU_ASSERT_STRING_NOT_EQUAL(tg.saved_seen, "remember me");
    step(1000, 500);
}

int main(void)
{
    static const cor_test_t tests[] = {
        {"scripted: kill, restore, partition, restart", test_scripted},
        {"seeded random schedule", test_random_schedule},
        {"a lost replica waits for a node", test_waits_for_a_node},
        {"a move commits under a new epoch, with history", test_move_commits},
        {"pre-copy stops at 64 KiB, 8 rounds, or no shrinking", test_precopy_stops},
        {"a failed move stays on its source, with ABORT", test_failed_move_stays},
        {"moves the OMS refuses", test_move_refusals},
        {"placement reports during and after a move", test_placement_reports},
        {"a restarted kernel's held replicas are kept or refused", test_register_held},
        {"group parts: replicas at create, refusal, node events, ticks", test_group_hooks},
        {"group parts: messages from holders only, actions on replicas", test_group_messages},
        {"group parts: saved state outlives an OMS restart", test_group_state_survives},
        {NULL, NULL},
    };
    return cor_test_main("oms_fixture", tests, setup, teardown);
}
