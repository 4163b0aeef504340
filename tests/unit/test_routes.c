/*
 * test_routes.c — the call routes held against each other in one process:
 * what a co-located call sees must be what a remote call sees.
 *
 * These are the regression tests for the two bugs a probe outside the test
 * suite found in the co-located path, both of which came from that path
 * having its own rules:
 *  - the reply was copied out after the object's turn was released, so a
 *    co-located kv Get racing remote kv Puts of 64 KiB values on the same
 *    object returned torn values (and ASan saw a heap-use-after-free);
 *  - a ref without a DM chain called a co-located object without the
 *    object's own server DM parts, so Add on an Immutable object succeeded
 *    in-process and was refused remotely.
 * The full route conformance suite, with real daemons, is
 * tests/integration/test_conformance.c.
 */
#include <cor/cor.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "echo/echo.cor.h"
#include "echo_class.h"
#include "kv/kv.cor.h"
#include "kv_class.h"
#include "host.h"
#include <cor/dm.h>
#include <time.h>
#include "testlib.h"

#define VALUE_BYTES (64 * 1024)
#define MAX_VERSIONS (1 << 20)
#define MAX_GETS (1 << 20)

static cor_runtime_t *new_rt(const char *host_id)
{
    cor_runtime_opts_t o = {.version = COR_RUNTIME_OPTS_VERSION, .host_id = host_id};
    cor_runtime_t *rt = NULL;
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(cor_runtime_new(&o, &rt, &err), 0);
    return rt;
}

/* Every value written is 64 KiB: an 8-byte serial, then one byte repeated
 * (serial % 251). The putters record which serial each store version
 * holds; a Get's reply must carry the value of the version it names. */
typedef struct race {
    cor_ref_t *ref;
    atomic_int stop;
    atomic_uint_fast64_t next_serial;
    atomic_uint_fast64_t *serial_of; /* by version; 0: unknown */
    atomic_long puts, failed;
} race_t;

static void *put_loop(void *arg)
{
    race_t *r = arg;
    uint8_t *v = malloc(VALUE_BYTES);
    while (v != NULL && !atomic_load(&r->stop)) {
        uint64_t serial = atomic_fetch_add(&r->next_serial, 1) + 1;
        memcpy(v, &serial, 8);
        memset(v + 8, (int)(serial % 251), VALUE_BYTES - 8);
        Kv__PutRequest req = KV__PUT_REQUEST__INIT;
        req.key = (char *)"k";
        req.value.data = v;
        req.value.len = VALUE_BYTES;
        Kv__PutReply *rep = NULL;
        cor_error_t err;
        if (kv_key_value_store_put(r->ref, &req, &rep, &err) == 0) {
            atomic_fetch_add(&r->puts, 1);
            if (rep->version < MAX_VERSIONS)
                atomic_store(&r->serial_of[rep->version], serial);
            kv__put_reply__free_unpacked(rep, NULL);
        } else {
            atomic_fetch_add(&r->failed, 1);
        }
    }
    free(v);
    return NULL;
}

/* A co-located Get racing remote Puts on the same object: every reply is
 * the value its version names, whole (never a mix of two values, a later
 * value, or memory already freed). */
static void test_colocated_reply_is_whole(void)
{
    cor_runtime_t *host = new_rt("host-a"), *far = new_rt("host-b");
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(cor_runtime_register_class(host, &kv_class, &err), 0);
    CU_ASSERT_EQUAL_FATAL(cor_runtime_listen(host, "127.0.0.1:0", NULL, &err), 0);
    cor_object_id_t id;
    cor_object_id_generate(&id);
    CU_ASSERT_EQUAL_FATAL(cor_object_create(host, "kv.KeyValueStore", NULL, 0, &(cor_create_opts_t){.here = 1, .id = &id}, NULL, &err), 0);
    /* As the probe (and corctl) made it: id and class, no DM chain. */
    cor_ref_t *local = cor_ref_new(host, &id, "kv.KeyValueStore", NULL);
    race_t r = {.ref = cor_ref_new(far, &id, "kv.KeyValueStore", NULL)};
    r.serial_of = calloc(MAX_VERSIONS, sizeof(*r.serial_of));
    struct seen {
        uint64_t version, serial;
        int whole;
    } *seen = calloc(MAX_GETS, sizeof(*seen));
    CU_ASSERT_FATAL(r.serial_of != NULL && seen != NULL);
    CU_ASSERT_EQUAL_FATAL(cor_ref_set_location(r.ref, cor_runtime_tcp_address(host), NULL,
                                               "host-a", 0, &err), 0);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, put_loop, &r);
    long gets = 0, failed = 0;
    long long until = cor_test_now_ms() + 3000;
    while ((cor_test_now_ms() < until || gets < 200) && gets < MAX_GETS) {
        Kv__GetRequest req = KV__GET_REQUEST__INIT;
        req.key = (char *)"k";
        Kv__GetReply *rep = NULL;
        if (kv_key_value_store_get(local, &req, &rep, &err) != 0) {
            failed++;
            continue;
        }
        if (rep->found) {
            struct seen *s = &seen[gets++];
            s->version = rep->version;
            s->whole = rep->value.len == VALUE_BYTES;
            if (s->whole) {
                memcpy(&s->serial, rep->value.data, 8);
                for (size_t i = 9; s->whole && i < VALUE_BYTES; i++)
                    s->whole = rep->value.data[i] == rep->value.data[8];
                s->whole = s->whole && rep->value.data[8] == s->serial % 251;
            }
        }
        kv__get_reply__free_unpacked(rep, NULL);
    }
    atomic_store(&r.stop, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    long torn = 0, wrong = 0;
    for (long i = 0; i < gets; i++) {
        torn += !seen[i].whole;
        uint64_t want = seen[i].version < MAX_VERSIONS ? r.serial_of[seen[i].version] : 0;
        wrong += seen[i].whole && want != 0 && want != seen[i].serial;
    }
    if (torn + wrong != 0)
        fprintf(stderr, "of %ld co-located Gets (%ld remote Puts), %ld torn, %ld another "
                "version's value\n", gets, (long)r.puts, torn, wrong);
    CU_ASSERT(r.puts > 0);
    CU_ASSERT(gets > 0);
    CU_ASSERT_EQUAL(torn, 0);
    CU_ASSERT_EQUAL(wrong, 0);
    CU_ASSERT_EQUAL(failed, 0);
    CU_ASSERT_EQUAL(r.failed, 0);
    free(seen);
    free(r.serial_of);
    cor_ref_free(r.ref);
    cor_ref_free(local);
    cor_runtime_free(far);
    cor_runtime_free(host);
}

static int add(cor_ref_t *ref, int *total, cor_error_t *err)
{
    Echo__AddRequest req = ECHO__ADD_REQUEST__INIT;
    req.delta = 1;
    Echo__AddReply *rep = NULL;
    int rc = echo_echo_add(ref, &req, &rep, err);
    if (rc == 0) {
        *total = (int)rep->total;
        echo__add_reply__free_unpacked(rep, NULL);
    }
    return rc;
}

/* The object's server DM parts run on every route, whatever chain the
 * caller's ref knows: an Immutable object refuses Add co-located exactly as
 * it does remotely, and still answers Say. */
static void test_server_parts_run_colocated(void)
{
    cor_runtime_t *host = new_rt("host-a"), *far = new_rt("host-b");
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(cor_runtime_register_class(host, &echo_class, &err), 0);
    CU_ASSERT_EQUAL_FATAL(cor_runtime_listen(host, "127.0.0.1:0", NULL, &err), 0);
    cor_object_id_t id;
    cor_object_id_generate(&id);
    CU_ASSERT_EQUAL_FATAL(cor_runtime_install(host, &echo_class, &id, 1, "Immutable",
                                              (const uint8_t *)"", 0, &err), 0);
    /* Refs as corctl builds them: id and class, no chain. */
    cor_ref_t *local = cor_ref_new(host, &id, "echo.Echo", NULL);
    cor_ref_t *remote = cor_ref_new(far, &id, "echo.Echo", NULL);
    CU_ASSERT_EQUAL_FATAL(cor_ref_set_location(local, cor_runtime_tcp_address(host), NULL,
                                               "host-a", 1, &err), 0);
    CU_ASSERT_EQUAL_FATAL(cor_ref_set_location(remote, cor_runtime_tcp_address(host), NULL,
                                               "host-a", 1, &err), 0);
    int total = -1;
    cor_error_t lerr, rerr;
    int lrc = add(local, &total, &lerr);
    int rrc = add(remote, &total, &rerr);
    CU_ASSERT_EQUAL(rrc, COR_EPERM);
    CU_ASSERT_EQUAL(lrc, COR_EPERM);
    CU_ASSERT_PTR_NOT_NULL(strstr(lerr.msg, "Immutable: the object is immutable"));
    CU_ASSERT_PTR_NOT_NULL(strstr(rerr.msg, "Immutable: the object is immutable"));
    Echo__SayRequest sreq = ECHO__SAY_REQUEST__INIT;
    sreq.text = (char *)"still here";
    Echo__SayReply *srep = NULL;
    CU_ASSERT_EQUAL(echo_echo_say(local, &sreq, &srep, &err), 0);
    if (srep != NULL)
        CU_ASSERT_STRING_EQUAL(srep->text, "still here");
    echo__say_reply__free_unpacked(srep, NULL);
    cor_ref_free(local);
    cor_ref_free(remote);
    cor_runtime_free(far);
    cor_runtime_free(host);
}

/* A class that lies: its Say answers EMOVED with text that reads like a
 * tombstone's redirect to a decoy holding an object of the same id. */
static char decoy_addr[64];

static int liar_say(void *self, cor_ctx_t *ctx, const Echo__SayRequest *req, Echo__SayReply *reply)
{
    return cor_ctx_error(ctx, COR_EMOVED, "object moved to %s (epoch 99)", decoy_addr);
}

static int liar_create(cor_ctx_t *ctx, const uint8_t *args, size_t len, void **self)
{
    *self = malloc(1);
    return *self != NULL ? 0 : COR_ENOMEM;
}

static const echo_echo_ops_t liar_ops = {.say = liar_say};
static const cor_class_t liar_class = {
    .version = COR_CLASS_VERSION,
    .name = "test.Liar",
    .service = &echo_echo_service,
    .ops = &liar_ops,
    .create = liar_create,
    .destroy = free,
};

static int say(cor_ref_t *ref, cor_error_t *err)
{
    Echo__SayRequest req = ECHO__SAY_REQUEST__INIT;
    req.text = (char *)"hi";
    Echo__SayReply *rep = NULL;
    int rc = echo_echo_say(ref, &req, &rep, err);
    echo__say_reply__free_unpacked(rep, NULL);
    return rc;
}

/* Only the runtime's tombstones redirect callers: an application method
 * that answers EMOVED with crafted text is an application error, on every
 * route, and nobody is sent to the decoy. */
static void test_app_emoved_is_not_a_redirect(void)
{
    cor_runtime_t *host = new_rt("host-a"), *decoy = new_rt("host-d"), *far = new_rt("host-b");
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(cor_runtime_register_class(host, &liar_class, &err), 0);
    CU_ASSERT_EQUAL_FATAL(cor_runtime_register_class(decoy, &echo_class, &err), 0);
    CU_ASSERT_EQUAL_FATAL(cor_runtime_listen(host, "127.0.0.1:0", NULL, &err), 0);
    CU_ASSERT_EQUAL_FATAL(cor_runtime_listen(decoy, "127.0.0.1:0", NULL, &err), 0);
    snprintf(decoy_addr, sizeof(decoy_addr), "%s", cor_runtime_tcp_address(decoy));
    cor_object_id_t id;
    cor_object_id_generate(&id);
    CU_ASSERT_EQUAL_FATAL(cor_object_create(host, "test.Liar", NULL, 0, &(cor_create_opts_t){.here = 1, .id = &id}, NULL, &err),
                          0);
    CU_ASSERT_EQUAL_FATAL(cor_object_create(decoy, "echo.Echo", NULL, 0, &(cor_create_opts_t){.here = 1, .id = &id}, NULL, &err),
                          0);
    cor_ref_t *local = cor_ref_new(host, &id, "test.Liar", NULL);
    cor_ref_t *remote = cor_ref_new(far, &id, "test.Liar", NULL);
    CU_ASSERT_EQUAL(cor_ref_set_location(remote, cor_runtime_tcp_address(host), NULL, "host-a", 1,
                                         &err), 0);
    CU_ASSERT_EQUAL(say(remote, &err), COR_EAPP);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "answered EMOVED"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, cor_runtime_tcp_address(host)));
    CU_ASSERT_EQUAL(say(local, &err), COR_EAPP);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "answered EMOVED"));
    CU_ASSERT_EQUAL(cor_runtime_calls_served(decoy), 0);
    cor_ref_free(local);
    cor_ref_free(remote);
    cor_runtime_free(far);
    cor_runtime_free(decoy);
    cor_runtime_free(host);
}

/* A client DM part that notes the thread it runs on and waits (at most
 * 5 s) for the caller to open a latch, which the caller does only after
 * cor_call_async has returned: run on the caller's thread, or blocking
 * it, the part would time out instead. */
typedef struct latch {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int open, waited_out, done, rc;
    pthread_t part_thread, done_thread;
} latch_t;

static latch_t latch = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static int latch_call(void *state, cor_dm_call_t *c)
{
    pthread_mutex_lock(&latch.lock);
    latch.part_thread = pthread_self();
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    while (!latch.open && !latch.waited_out)
        latch.waited_out = pthread_cond_timedwait(&latch.cond, &latch.lock, &until) != 0;
    pthread_mutex_unlock(&latch.lock);
    return cor_dm_next(c);
}

static const cor_dm_ops_t latch_dm = {
    .version = COR_DM_OPS_VERSION,
    .name = "TestLatch",
    .summary = "waits for the caller's latch",
    .client_call = latch_call,
};

static void latch_done(int rc, Echo__SayReply *reply, const cor_error_t *err, void *arg)
{
    pthread_mutex_lock(&latch.lock);
    latch.done = 1;
    latch.rc = rc;
    latch.done_thread = pthread_self();
    pthread_cond_broadcast(&latch.cond);
    pthread_mutex_unlock(&latch.lock);
}

static void test_async_client_parts_off_caller(void)
{
    cor_runtime_t *rt = new_rt("host-a");
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(cor_dm_register(&latch_dm, &err), 0);
    CU_ASSERT_EQUAL_FATAL(cor_runtime_register_class(rt, &echo_class, &err), 0);
    cor_object_id_t id;
    cor_object_id_generate(&id);
    CU_ASSERT_EQUAL_FATAL(cor_object_create(rt, "echo.Echo", NULL, 0, &(cor_create_opts_t){.here = 1, .id = &id}, NULL, &err), 0);
    cor_ref_t *ref = cor_ref_new(rt, &id, "echo.Echo", "TestLatch");
    Echo__SayRequest req = ECHO__SAY_REQUEST__INIT;
    req.text = (char *)"async";
    CU_ASSERT_EQUAL(echo_echo_say_async(ref, &req, latch_done, NULL), 0);
    pthread_mutex_lock(&latch.lock);
    latch.open = 1; /* only now: cor_call_async has returned */
    pthread_cond_broadcast(&latch.cond);
    while (!latch.done)
        pthread_cond_wait(&latch.cond, &latch.lock);
    pthread_mutex_unlock(&latch.lock);
    CU_ASSERT_FALSE(latch.waited_out);
    CU_ASSERT_FALSE(pthread_equal(latch.part_thread, pthread_self()));
    CU_ASSERT_FALSE(pthread_equal(latch.done_thread, pthread_self()));
    CU_ASSERT_EQUAL(latch.rc, 0);
    cor_ref_free(ref);
    cor_runtime_free(rt);
}

int main(void)
{
    static const cor_test_t tests[] = {
        {"co-located reply is whole while remote Puts race it", test_colocated_reply_is_whole},
        {"server DM parts run on the co-located route", test_server_parts_run_colocated},
        {"an application's EMOVED redirects nobody", test_app_emoved_is_not_a_redirect},
        {"async: client DM parts run off the caller's thread", test_async_client_parts_off_caller},
        {NULL, NULL},
    };
    return cor_test_main("routes", tests, NULL, NULL);
}
