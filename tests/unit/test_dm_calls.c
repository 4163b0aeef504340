/*
 * test_dm_calls.c — DM parts on real calls: two runtimes in this process
 * (a host and a caller) over gRPC, objects created with a chain through
 * Kernel.CreateReplica, refs given the same chain.
 *
 *  - AtLeastOnceRPC: when a reply is lost after the object ran (a test DM
 *    outside it drops the first reply of each call), the client resends
 *    with the same call id and the server answers from its table: every
 *    Add applies exactly once. Without it the same loss surfaces as an
 *    error while the effect happened.
 *  - CircuitBreaker: after N transport failures calls fail fast with the
 *    DM's name in the message; after the cool-down one trial call goes
 *    through and closes it.
 *  - SerializableRPC: a concurrent class overlaps calls without it and
 *    never with it.
 *  - A chain the kernel cannot run is refused at CreateReplica.
 */
#include <cor/cor.h>
#include <cor/dm.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cor/kernel.pb-c.h"
#include "echo/echo.cor.h"
#include "echo_class.h"
#include "host.h"
#include <cor/strmap.h>
#include "testlib.h"

/* ---- test DMs ---- */

/* Server part: runs the call, then "loses" the reply of each call id's
 * first attempt (the effect happened; the caller sees UNAVAILABLE). */
typedef struct dropper {
    pthread_mutex_t lock;
    cor_strmap_t seen;
} dropper_t;

static int drop_new(const cor_dm_entry_t *e, void **state, cor_error_t *err)
{
    dropper_t *d = calloc(1, sizeof(*d));
    pthread_mutex_init(&d->lock, NULL);
    cor_strmap_init(&d->seen);
    *state = d;
    return 0;
}

static int drop_call(void *state, cor_dm_call_t *c)
{
    dropper_t *d = state;
    const unsigned char *client;
    uint64_t seq;
    cor_dm_call_id(c, &client, &seq);
    char key[32];
    snprintf(key, sizeof(key), "%llu", (unsigned long long)seq);
    int rc = cor_dm_next(c);
    pthread_mutex_lock(&d->lock);
    int first = cor_strmap_get(&d->seen, key) == NULL;
    if (first)
        cor_strmap_put(&d->seen, key, d, NULL);
    pthread_mutex_unlock(&d->lock);
    if (first && rc == 0)
        return cor_dm_fail(c, COR_EUNAVAIL, "reply lost (test)");
    return rc;
}

static void drop_free(void *state)
{
    dropper_t *d = state;
    cor_strmap_close(&d->seen);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

static const cor_dm_ops_t t_drop = {.version = COR_DM_OPS_VERSION, .name = "TDropFirstReply",
                                    .server_new = drop_new, .server_call = drop_call,
                                    .server_free = drop_free};

/* A DM whose server part tells its peers about every change it sees. */
static atomic_int gossip_received, gossip_acks, gossip_memberships;

static int gossip_call(void *state, cor_dm_call_t *c)
{
    int rc = cor_dm_next(c);
    if (rc != 0 || (cor_dm_call_method(c)->hints & COR_METHOD_READ_ONLY))
        return rc;
    cor_dm_replica_t peers[8];
    int n = 0;
    cor_dm_call_peers(c, peers, 8, &n);
    for (int i = 0; i < n; i++) {
        if (peers[i].self)
            continue;
        unsigned char *reply = NULL;
        size_t len = 0;
        if (cor_dm_call_peer_send(c, &peers[i], (const unsigned char *)"changed", 7, &reply, &len) == 0 &&
            len == 3 && memcmp(reply, "ack", 3) == 0)
            atomic_fetch_add(&gossip_acks, 1);
        free(reply);
    }
    return 0;
}

static int gossip_peer(void *state, cor_dm_call_t *c, const unsigned char *msg, size_t len)
{
    if (len == 7 && memcmp(msg, "changed", 7) == 0)
        atomic_fetch_add(&gossip_received, 1);
    return cor_dm_call_set_reply(c, (const unsigned char *)"ack", 3);
}

static void gossip_membership(void *state, cor_dm_call_t *c)
{
    atomic_fetch_add(&gossip_memberships, 1);
}

static const cor_dm_ops_t t_gossip = {.version = COR_DM_OPS_VERSION, .name = "TGossip",
                                      .server_call = gossip_call, .server_peer = gossip_peer,
                                      .server_membership = gossip_membership};

/* ---- a concurrent class that records how many calls overlap ---- */

static atomic_int active, max_active;

static int conc_sleep(void *self, cor_ctx_t *ctx, const Echo__SleepRequest *req,
                      Echo__SleepReply *reply)
{
    int now = atomic_fetch_add(&active, 1) + 1;
    int prev = atomic_load(&max_active);
    while (now > prev && !atomic_compare_exchange_weak(&max_active, &prev, now)) {
    }
    struct timespec ts = {0, 30 * 1000000L};
    nanosleep(&ts, NULL);
    atomic_fetch_sub(&active, 1);
    reply->slept_ms = 30;
    return 0;
}

static const echo_echo_ops_t conc_ops = {.sleep = conc_sleep};

static int conc_create(cor_ctx_t *ctx, const uint8_t *a, size_t n, void **self)
{
    *self = malloc(1);
    return *self ? 0 : COR_ENOMEM;
}

static const cor_class_t conc_class = {
    .version = COR_CLASS_VERSION, .name = "test.ConcurrentEcho", .service = &echo_echo_service,
    .ops = &conc_ops, .flags = COR_CLASS_CONCURRENT, .create = conc_create, .destroy = free,
};

/* ---- fixture ---- */

static cor_runtime_t *host, *caller;

static int setup(void)
{
    cor_error_t err;
    cor_runtime_opts_t ho = {.version = COR_RUNTIME_OPTS_VERSION, .host_id = "host"};
    cor_runtime_opts_t co = {.version = COR_RUNTIME_OPTS_VERSION, .host_id = "caller"};
    if (cor_dm_register(&t_drop, &err) != 0 || cor_dm_register(&t_gossip, &err) != 0 ||
        cor_runtime_new(&ho, &host, &err) != 0 ||
        cor_runtime_new(&co, &caller, &err) != 0 ||
        cor_runtime_register_class(host, &echo_class, &err) != 0 ||
        cor_runtime_register_class(host, &conc_class, &err) != 0 ||
        cor_runtime_listen(host, "127.0.0.1:0", NULL, &err) != 0)
        return 1;
    return 0;
}

static int teardown(void)
{
    cor_runtime_free(caller);
    cor_runtime_free(host);
    return 0;
}

/* Creates an object on the host through Kernel.CreateReplica with chain,
 * and a caller ref with the same chain. */
static int make(const char *cls, const char *chain, cor_ref_t **out, cor_error_t *err)
{
    cor_object_id_t id;
    cor_object_id_generate(&id);
    Cor__CreateReplicaRequest r = COR__CREATE_REPLICA_REQUEST__INIT;
    r.object_id.data = id.b;
    r.object_id.len = 16;
    r.class_name = (char *)cls;
    r.dm_chain = (char *)chain;
    ProtobufCMessage *m = NULL;
    int rc = cor_rpc_call(cor_runtime_client(caller), cor_runtime_tcp_address(host), COR_M_CREATE_REPLICA,
                          &r.base, &cor__create_replica_reply__descriptor, 5000, &m, err);
    if (rc != 0)
        return rc;
    protobuf_c_message_free_unpacked(m, NULL);
    cor_ref_t *ref = cor_ref_new(caller, &id, cls, chain);
    rc = cor_ref_set_location(ref, cor_runtime_tcp_address(host), NULL, NULL, 0, err);
    *out = ref;
    return rc;
}

static int64_t add(cor_ref_t *r, int64_t d, int *rc, cor_error_t *err)
{
    Echo__AddRequest req = ECHO__ADD_REQUEST__INIT;
    req.delta = d;
    Echo__AddReply *rep = NULL;
    *rc = echo_echo_add(r, &req, &rep, err);
    if (*rc != 0)
        return -1;
    int64_t t = rep->total;
    echo__add_reply__free_unpacked(rep, NULL);
    return t;
}

static void test_at_least_once(void)
{
    cor_error_t err;
    cor_ref_t *r = NULL;
    /* Server parts run in chain order: the dropper outside, dedup inside. */
    CU_ASSERT_EQUAL_FATAL(make("echo.Echo", "TDropFirstReply, AtLeastOnceRPC(backoff=5ms)", &r, &err), 0);
    int rc;
    for (int i = 1; i <= 10; i++) {
        CU_ASSERT_EQUAL(add(r, 1, &rc, &err), i); /* each applied exactly once */
        CU_ASSERT_EQUAL(rc, 0);
    }
    cor_ref_free(r);

    /* The same loss without AtLeastOnceRPC: an error, though it ran. */
    CU_ASSERT_EQUAL_FATAL(make("echo.Echo", "TDropFirstReply", &r, &err), 0);
    add(r, 1, &rc, &err);
    CU_ASSERT_EQUAL(rc, COR_EUNAVAIL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "TDropFirstReply: reply lost"));
    CU_ASSERT_EQUAL(add(r, 0, &rc, &err), -1); /* the new call's reply is lost too */
    cor_ref_free(r);
}

static void test_circuit_breaker(void)
{
    cor_error_t err;
    cor_ref_t *r = NULL;
    CU_ASSERT_EQUAL_FATAL(make("echo.Echo", "CircuitBreaker(failures=3, cooldown=300ms)", &r, &err), 0);
    int rc;
    CU_ASSERT_EQUAL(add(r, 1, &rc, &err), 1);
    /* Point the ref at nothing: real transport failures. */
    CU_ASSERT_EQUAL(cor_ref_set_location(r, "127.0.0.1:1", NULL, NULL, 0, &err), 0);
    for (int i = 0; i < 3; i++) {
        add(r, 1, &rc, &err);
        CU_ASSERT_EQUAL(rc, COR_EUNAVAIL);
        CU_ASSERT_PTR_NULL(strstr(err.msg, "circuit open"));
    }
    add(r, 1, &rc, &err);
    CU_ASSERT_EQUAL(rc, COR_EUNAVAIL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "CircuitBreaker: circuit open after 3 consecutive failures"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "echo.Echo.Add on object")); /* still names the call */
    /* Healed, but still open until the cool-down passes. */
    CU_ASSERT_EQUAL(cor_ref_set_location(r, cor_runtime_tcp_address(host), NULL, NULL, 0, &err), 0);
    add(r, 1, &rc, &err);
    CU_ASSERT_EQUAL(rc, COR_EUNAVAIL);
    struct timespec ts = {0, 350 * 1000000L};
    nanosleep(&ts, NULL);
    CU_ASSERT_EQUAL(add(r, 1, &rc, &err), 2); /* the trial call */
    CU_ASSERT_EQUAL(add(r, 1, &rc, &err), 3); /* closed again */
    cor_ref_free(r);
}

typedef struct sleeper {
    cor_ref_t *r;
} sleeper_t;

static void *sleep_thread(void *arg)
{
    cor_ref_t *r = arg;
    for (int i = 0; i < 3; i++) {
        Echo__SleepRequest req = ECHO__SLEEP_REQUEST__INIT;
        Echo__SleepReply *rep = NULL;
        cor_error_t err;
        if (echo_echo_sleep(r, &req, &rep, &err) == 0)
            echo__sleep_reply__free_unpacked(rep, NULL);
    }
    return NULL;
}

static int max_overlap(const char *chain)
{
    cor_error_t err;
    cor_ref_t *r = NULL;
    if (make("test.ConcurrentEcho", chain, &r, &err) != 0)
        return -1;
    atomic_store(&max_active, 0);
    pthread_t t[3];
    cor_ref_t *refs[3];
    for (int i = 0; i < 3; i++) {
        refs[i] = cor_ref_dup(r);
        pthread_create(&t[i], NULL, sleep_thread, refs[i]);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        cor_ref_free(refs[i]);
    }
    cor_ref_free(r);
    return atomic_load(&max_active);
}

static void test_serializable(void)
{
    /* The host serves with 2 threads: a concurrent class overlaps... */
    CU_ASSERT(max_overlap("") > 1);
    /* ...unless SerializableRPC orders its calls. */
    CU_ASSERT_EQUAL(max_overlap("SerializableRPC"), 1);
}

static int say(cor_ref_t *r, const char *text)
{
    Echo__SayRequest req = ECHO__SAY_REQUEST__INIT;
    req.text = (char *)text;
    Echo__SayReply *rep = NULL;
    cor_error_t err;
    int rc = echo_echo_say(r, &req, &rep, &err);
    if (rc == 0) {
        rc = strcmp(rep->text, text) == 0 ? 0 : -1000;
        echo__say_reply__free_unpacked(rep, NULL);
    }
    return rc;
}

static uint64_t served(void)
{
    return cor_runtime_calls_served(host);
}

static void test_lease_caching(void)
{
    cor_error_t err;
    cor_ref_t *r = NULL;
    CU_ASSERT_EQUAL_FATAL(make("echo.Echo", "LeaseCaching(lease=300ms)", &r, &err), 0);
    uint64_t s0 = served();
    CU_ASSERT_EQUAL(say(r, "a"), 0);
    CU_ASSERT_EQUAL(say(r, "a"), 0); /* read_only: from the cache */
    CU_ASSERT_EQUAL(say(r, "a"), 0);
    CU_ASSERT_EQUAL(served() - s0, 1);
    CU_ASSERT_EQUAL(say(r, "b"), 0); /* another request: a miss */
    CU_ASSERT_EQUAL(served() - s0, 2);
    int rc;
    add(r, 1, &rc, &err); /* mutating: goes through and clears the cache */
    CU_ASSERT_EQUAL(served() - s0, 3);
    CU_ASSERT_EQUAL(say(r, "a"), 0);
    CU_ASSERT_EQUAL(served() - s0, 4);
    CU_ASSERT_EQUAL(say(r, "a"), 0);
    CU_ASSERT_EQUAL(served() - s0, 4);
    struct timespec ts = {0, 350 * 1000000L};
    nanosleep(&ts, NULL);
    CU_ASSERT_EQUAL(say(r, "a"), 0); /* the lease ran out */
    CU_ASSERT_EQUAL(served() - s0, 5);
    /* A reference without the DM is never served from a cache. */
    cor_ref_t *plain = cor_ref_new(cor_ref_runtime(r), cor_ref_id(r), "echo.Echo", NULL);
    CU_ASSERT_EQUAL(cor_ref_set_location(plain, cor_runtime_tcp_address(host), NULL, NULL, 0,
                                         &err), 0);
    CU_ASSERT_EQUAL(say(plain, "a"), 0);
    CU_ASSERT_EQUAL(say(plain, "a"), 0);
    CU_ASSERT_EQUAL(served() - s0, 7);
    cor_ref_free(plain);
    cor_ref_free(r);
    /* Two caches in one chain conflict. */
    cor_dm_chain_t c;
    CU_ASSERT_EQUAL(cor_dm_chain_parse("LeaseCaching, LeaseCaching(lease=2s)", &c, &err), 0);
    CU_ASSERT_EQUAL(cor_dm_chain_check(&c, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "conflict"));
}

static void test_immutable(void)
{
    cor_error_t err;
    cor_ref_t *r = NULL;
    CU_ASSERT_EQUAL_FATAL(make("echo.Echo", "Immutable", &r, &err), 0);
    int rc;
    add(r, 1, &rc, &err);
    CU_ASSERT_EQUAL(rc, COR_EPERM);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "Immutable: the object is immutable and Add is not a read_only method"));
    /* The caller does not host the class: reads stay remote. */
    uint64_t s0 = served();
    CU_ASSERT_EQUAL(say(r, "x"), 0);
    CU_ASSERT_EQUAL(say(r, "x"), 0);
    CU_ASSERT_EQUAL(served() - s0, 2);
    CU_ASSERT_FALSE(cor_runtime_hosts(caller, cor_ref_id(r)));
    cor_ref_free(r);

    /* A caller with the class gets its own replica: reads are local. */
    cor_runtime_t *reader = NULL;
    cor_runtime_opts_t o = {.version = COR_RUNTIME_OPTS_VERSION, .host_id = "reader"};
    CU_ASSERT_EQUAL_FATAL(cor_runtime_new(&o, &reader, &err), 0);
    CU_ASSERT_EQUAL_FATAL(cor_runtime_register_class(reader, &echo_class, &err), 0);
    CU_ASSERT_EQUAL_FATAL(make("echo.Echo", "Immutable", &r, &err), 0);
    cor_ref_t *rr = cor_ref_new(reader, cor_ref_id(r), "echo.Echo", "Immutable");
    CU_ASSERT_EQUAL(cor_ref_set_location(rr, cor_runtime_tcp_address(host), NULL, NULL, 0, &err), 0);
    s0 = served();
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(say(rr, "local"), 0);
    CU_ASSERT_EQUAL(served() - s0, 0); /* the state came by GetState, no call */
    CU_ASSERT_TRUE(cor_runtime_hosts(reader, cor_ref_id(r)));
    add(rr, 1, &rc, &err); /* the local copy is frozen too */
    CU_ASSERT_EQUAL(rc, COR_EPERM);
    cor_ref_free(rr);
    cor_ref_free(r);
    cor_runtime_free(reader);
}

static int replica_on(cor_runtime_t *rt, const cor_object_id_t *id, const char *chain,
                      cor_error_t *err)
{
    Cor__CreateReplicaRequest r = COR__CREATE_REPLICA_REQUEST__INIT;
    r.object_id.data = (uint8_t *)id->b;
    r.object_id.len = 16;
    r.class_name = (char *)"echo.Echo";
    r.dm_chain = (char *)chain;
    ProtobufCMessage *m = NULL;
    int rc = cor_rpc_call(cor_runtime_client(caller), cor_runtime_tcp_address(rt), COR_M_CREATE_REPLICA,
                          &r.base, &cor__create_replica_reply__descriptor, 5000, &m, err);
    if (m != NULL)
        protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

static void test_peer_messages(void)
{
    cor_error_t err;
    cor_runtime_t *host2 = NULL;
    cor_runtime_opts_t o = {.version = COR_RUNTIME_OPTS_VERSION, .host_id = "host2"};
    CU_ASSERT_EQUAL_FATAL(cor_runtime_new(&o, &host2, &err), 0);
    CU_ASSERT_EQUAL_FATAL(cor_runtime_register_class(host2, &echo_class, &err), 0);
    CU_ASSERT_EQUAL_FATAL(cor_runtime_listen(host2, "127.0.0.1:0", NULL, &err), 0);
    cor_object_id_t id;
    cor_object_id_generate(&id);
    CU_ASSERT_EQUAL_FATAL(replica_on(host, &id, "TGossip", &err), 0);
    CU_ASSERT_EQUAL_FATAL(replica_on(host2, &id, "TGossip", &err), 0);

    /* What the OMS sends when the replica set changes. */
    Cor__Member m1 = COR__MEMBER__INIT, m2 = COR__MEMBER__INIT, *mp[2] = {&m1, &m2};
    m1.node = (char *)"h1";
    m1.tcp_address = (char *)cor_runtime_tcp_address(host);
    m2.node = (char *)"h2";
    m2.tcp_address = (char *)cor_runtime_tcp_address(host2);
    Cor__SetMembersRequest sm = COR__SET_MEMBERS_REQUEST__INIT;
    sm.object_id.data = id.b;
    sm.object_id.len = 16;
    sm.members = mp;
    sm.n_members = 2;
    ProtobufCMessage *out = NULL;
    for (int i = 0; i < 2; i++) {
        const char *t = cor_runtime_tcp_address(i ? host2 : host);
        CU_ASSERT_EQUAL(cor_rpc_call(cor_runtime_client(caller), t, COR_M_SET_MEMBERS, &sm.base,
                                     &cor__set_members_reply__descriptor, 5000, &out, &err), 0);
        if (out != NULL)
            protobuf_c_message_free_unpacked(out, NULL);
    }
    CU_ASSERT_EQUAL(atomic_load(&gossip_memberships), 2);

    /* Three changes at host's replica reach host2's, and are answered. */
    cor_ref_t *r = cor_ref_new(caller, &id, "echo.Echo", NULL);
    CU_ASSERT_EQUAL(cor_ref_set_location(r, cor_runtime_tcp_address(host), NULL, NULL, 0, &err), 0);
    int rc;
    for (int i = 1; i <= 3; i++)
        CU_ASSERT_EQUAL(add(r, 1, &rc, &err), i);
    CU_ASSERT_EQUAL(say(r, "reads are not gossiped"), 0);
    CU_ASSERT_EQUAL(atomic_load(&gossip_received), 3);
    CU_ASSERT_EQUAL(atomic_load(&gossip_acks), 3);

    /* A peer message for a DM the replica does not run is refused. */
    Cor__PeerMessageRequest pm = COR__PEER_MESSAGE_REQUEST__INIT;
    pm.object_id.data = id.b;
    pm.object_id.len = 16;
    pm.dm = (char *)"Nope";
    CU_ASSERT_EQUAL(cor_rpc_call(cor_runtime_client(caller), cor_runtime_tcp_address(host2), COR_M_PEER_MESSAGE,
                                 &pm.base, &cor__peer_message_reply__descriptor, 5000, &out, &err),
                    COR_ENOTFOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no DM named 'Nope' takes peer messages"));
    cor_ref_free(r);
    cor_runtime_free(host2);
}

static void test_kernel_refuses_chain(void)
{
    cor_error_t err;
    cor_ref_t *r = NULL;
    CU_ASSERT_EQUAL(make("echo.Echo", "Nope", &r, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "dm chain"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "unknown deployment manager 'Nope'"));
    CU_ASSERT_EQUAL(make("echo.Echo", "AtLeastOnceRPC(retries=x)", &r, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "AtLeastOnceRPC: retries must be an integer"));
    /* A ref whose chain is malformed fails its calls with the reason. */
    cor_object_id_t id;
    cor_object_id_generate(&id);
    cor_ref_t *bad = cor_ref_new(caller, &id, "echo.Echo", "CircuitBreaker(");
    int rc;
    add(bad, 1, &rc, &err);
    CU_ASSERT_EQUAL(rc, COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "dm chain"));
    cor_ref_free(bad);
}

int main(void)
{
    static const cor_test_t tests[] = {
        {"AtLeastOnceRPC: lost replies, exactly-once effect", test_at_least_once},
        {"CircuitBreaker: opens, fails fast, half-opens", test_circuit_breaker},
        {"SerializableRPC: no overlap", test_serializable},
        {"LeaseCaching: hits, invalidation, expiry", test_lease_caching},
        {"Immutable: frozen, local reads", test_immutable},
        {"peer messages and membership", test_peer_messages},
        {"kernel refuses a chain it cannot run", test_kernel_refuses_chain},
        {NULL, NULL},
    };
    return cor_test_main("dm_calls", tests, setup, teardown);
}
