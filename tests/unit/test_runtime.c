/*
 * test_runtime.c — the runtime in one process: class registration and its
 * refusals, object creation and deletion, co-located calls through the
 * generated Echo stubs (sync and async, no transport involved), and remote
 * calls between two runtimes in this process over TCP and the unix socket,
 * including the server's answers to malformed invoke requests.
 */
#include <cor/cor.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cor/kernel.pb-c.h"
#include "echo/echo.cor.h"
#include "echo_class.h"
#include "host.h"
#include "testlib.h"
#include "transport.h"

static cor_runtime_t *new_rt(const char *host_id)
{
    cor_runtime_opts_t o = {.version = COR_RUNTIME_OPTS_VERSION, .host_id = host_id};
    cor_runtime_t *rt = NULL;
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(cor_runtime_new(&o, &rt, &err), 0);
    return rt;
}

static void test_register_refusals(void)
{
    cor_runtime_t *rt = new_rt(NULL);
    cor_error_t err;
    cor_class_t bad = echo_class;
    bad.version = 99;
    CU_ASSERT_EQUAL(cor_runtime_register_class(rt, &bad, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "version 99"));
    bad = echo_class;
    bad.name = "";
    CU_ASSERT_EQUAL(cor_runtime_register_class(rt, &bad, &err), COR_EINVAL);
    bad = echo_class;
    bad.create = NULL;
    CU_ASSERT_EQUAL(cor_runtime_register_class(rt, &bad, &err), COR_EINVAL);
    bad = echo_class;
    bad.load_state = NULL;
    CU_ASSERT_EQUAL(cor_runtime_register_class(rt, &bad, &err), COR_EINVAL);
    CU_ASSERT_EQUAL(cor_runtime_register_class(rt, &echo_class, &err), 0);
    CU_ASSERT_EQUAL(cor_runtime_register_class(rt, &echo_class, &err), COR_EEXIST);
    cor_runtime_opts_t o = {.version = 7};
    cor_runtime_t *rt2 = NULL;
    CU_ASSERT_EQUAL(cor_runtime_new(&o, &rt2, &err), COR_EINVAL);
    cor_runtime_free(rt);
}

static void test_create_refusals(void)
{
    cor_runtime_t *rt = new_rt(NULL);
    cor_error_t err;
    CU_ASSERT_EQUAL(cor_runtime_register_class(rt, &echo_class, &err), 0);
    cor_ref_t *ref = NULL;
    CU_ASSERT_EQUAL(cor_object_create(rt, "no.Such", NULL, 0, &(cor_create_opts_t){.here = 1}, &ref, &err),
                    COR_ENOTFOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no.Such"));
    const uint8_t garbage[] = {0xff, 0xff, 0xff};
    CU_ASSERT_EQUAL(cor_object_create(rt, "echo.Echo", garbage, sizeof(garbage), &(cor_create_opts_t){.here = 1}, &ref, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "echo.EchoArgs"));
    CU_ASSERT_PTR_NULL(ref);
    cor_object_id_t id;
    cor_object_id_generate(&id);
    CU_ASSERT_EQUAL(cor_object_create(rt, "echo.Echo", NULL, 0, &(cor_create_opts_t){.here = 1, .id = &id}, NULL, &err), 0);
    CU_ASSERT_EQUAL(cor_object_create(rt, "echo.Echo", NULL, 0, &(cor_create_opts_t){.here = 1, .id = &id}, NULL, &err),
                    COR_EEXIST);
    CU_ASSERT_EQUAL(cor_object_delete(rt, &id, &err), 0);
    CU_ASSERT_EQUAL(cor_object_delete(rt, &id, &err), COR_ENOTFOUND);
    cor_runtime_free(rt);
}

static int64_t add(cor_ref_t *ref, int64_t d, int *rc, cor_error_t *err)
{
    Echo__AddRequest req = ECHO__ADD_REQUEST__INIT;
    req.delta = d;
    Echo__AddReply *rep = NULL;
    *rc = echo_echo_add(ref, &req, &rep, err);
    if (*rc != 0)
        return 0;
    int64_t t = rep->total;
    echo__add_reply__free_unpacked(rep, NULL);
    return t;
}

typedef struct async_box {
    int calls, rc;
    char text[64];
    pthread_mutex_t lock;
} async_box_t;

static void say_cb(int rc, Echo__SayReply *reply, const cor_error_t *err, void *arg)
{
    async_box_t *b = arg;
    pthread_mutex_lock(&b->lock);
    b->calls++;
    b->rc = rc;
    if (rc == 0)
        snprintf(b->text, sizeof(b->text), "%s", reply->text);
    pthread_mutex_unlock(&b->lock);
}

static void test_colocated(void)
{
    cor_runtime_t *rt = new_rt(NULL); /* never listens: no transport at all */
    cor_error_t err;
    CU_ASSERT_EQUAL(cor_runtime_register_class(rt, &echo_class, &err), 0);
    Echo__EchoArgs args = ECHO__ECHO_ARGS__INIT;
    args.start = 40;
    uint8_t abuf[16];
    size_t alen = echo__echo_args__pack(&args, abuf);
    cor_ref_t *ref = NULL;
    CU_ASSERT_EQUAL_FATAL(cor_object_create(rt, "echo.Echo", abuf, alen, &(cor_create_opts_t){.here = 1}, &ref, &err), 0);

    Echo__SayRequest req = ECHO__SAY_REQUEST__INIT;
    req.text = (char *)"hello";
    Echo__SayReply *rep = NULL;
    CU_ASSERT_EQUAL(echo_echo_say(ref, &req, &rep, &err), 0);
    CU_ASSERT_STRING_EQUAL(rep->text, "hello");
    CU_ASSERT_PTR_NOT_EQUAL(rep->text, req.text); /* the caller owns a copy */
    echo__say_reply__free_unpacked(rep, NULL);

    int rc;
    CU_ASSERT_EQUAL(add(ref, 2, &rc, &err), 42);
    CU_ASSERT_EQUAL(rc, 0);

    async_box_t b = {.lock = PTHREAD_MUTEX_INITIALIZER};
    CU_ASSERT_EQUAL(echo_echo_say_async(ref, &req, say_cb, &b), 0);
    CU_ASSERT_EQUAL(b.calls, 1); /* co-located: done before return */
    CU_ASSERT_STRING_EQUAL(b.text, "hello");

    /* A method's own error reaches the caller with object and method. */
    Echo__SleepRequest sreq = ECHO__SLEEP_REQUEST__INIT;
    sreq.ms = 999999;
    Echo__SleepReply *srep = NULL;
    CU_ASSERT_EQUAL(echo_echo_sleep(ref, &sreq, &srep, &err), COR_EINVAL);
    CU_ASSERT_PTR_NULL(srep);
    char idstr[COR_OBJECT_ID_STRLEN + 1];
    cor_object_id_format(cor_ref_id(ref), idstr);
    char want[200];
    snprintf(want, sizeof(want), "echo.Echo.Sleep on object %s: sleep of 999999 ms", idstr);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, want));

    /* Deleted: the ref no longer reaches anything. */
    CU_ASSERT_EQUAL(cor_object_delete(rt, cor_ref_id(ref), &err), 0);
    CU_ASSERT_EQUAL(echo_echo_say(ref, &req, &rep, &err), COR_ENOTFOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, idstr));
    cor_ref_free(ref);
    cor_runtime_free(rt);
}

typedef struct adder {
    cor_ref_t *ref;
    int n;
} adder_t;

static void *adder_thread(void *arg)
{
    adder_t *a = arg;
    cor_error_t err;
    int rc;
    for (int i = 0; i < a->n; i++)
        add(a->ref, 1, &rc, &err);
    return NULL;
}

static void test_one_call_at_a_time(void)
{
    cor_runtime_t *rt = new_rt(NULL);
    cor_error_t err;
    CU_ASSERT_EQUAL(cor_runtime_register_class(rt, &echo_class, &err), 0);
    cor_ref_t *ref = NULL;
    CU_ASSERT_EQUAL_FATAL(cor_object_create(rt, "echo.Echo", NULL, 0, &(cor_create_opts_t){.here = 1}, &ref, &err), 0);
    adder_t a = {ref, 20000};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, adder_thread, &a);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    int rc;
    CU_ASSERT_EQUAL(add(ref, 0, &rc, &err), 80000); /* no lost update */
    cor_ref_free(ref);
    cor_runtime_free(rt);
}

/* Two runtimes in one process: `host` serves, `caller` calls remotely. */
typedef struct pair {
    cor_runtime_t *host, *caller;
    cor_ref_t *href; /* host's own ref: location filled in */
    char sock[200];
} pair_t;

static void pair_open(pair_t *p, const char *caller_host_id)
{
    cor_error_t err;
    p->host = new_rt("host-a");
    p->caller = new_rt(caller_host_id);
    cor_test_tmp_path(p->sock, sizeof(p->sock), "rt.sock");
    CU_ASSERT_EQUAL_FATAL(cor_runtime_register_class(p->host, &echo_class, &err), 0);
    CU_ASSERT_EQUAL_FATAL(cor_runtime_listen(p->host, "127.0.0.1:0", p->sock, &err), 0);
    CU_ASSERT_EQUAL(cor_runtime_listen(p->host, "127.0.0.1:0", NULL, &err), COR_ESTATE);
    /* A second process on the same port is refused, not given half the
     * connections (gRPC's SO_REUSEPORT default is off). */
    cor_runtime_t *squatter = new_rt("host-x");
    CU_ASSERT_EQUAL(cor_runtime_listen(squatter, cor_runtime_tcp_address(p->host), NULL, &err),
                    COR_EUNAVAIL);
    cor_runtime_free(squatter);
    CU_ASSERT_EQUAL_FATAL(cor_object_create(p->host, "echo.Echo", NULL, 0, &(cor_create_opts_t){.here = 1}, &p->href, &err), 0);
}

static cor_ref_t *pair_ref(pair_t *p)
{
    uint8_t *buf;
    size_t len;
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(cor_ref_encode(p->href, &buf, &len, &err), 0);
    cor_ref_t *r = NULL;
    CU_ASSERT_EQUAL_FATAL(cor_ref_decode(p->caller, buf, len, &r, &err), 0);
    free(buf);
    return r;
}

static void pair_close(pair_t *p)
{
    cor_ref_free(p->href);
    cor_runtime_free(p->caller);
    cor_runtime_free(p->host);
}

static void test_remote_tcp_and_unix(void)
{
    /* Other host id: the call must go over TCP. */
    pair_t p;
    pair_open(&p, "host-b");
    cor_ref_t *r = pair_ref(&p);
    cor_error_t err;
    int rc;
    CU_ASSERT_EQUAL(add(r, 5, &rc, &err), 5);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_EQUAL(cor_ref_runtime(r), p.caller);
    CU_ASSERT_STRING_EQUAL(cor_ref_class(r), "echo.Echo");
    cor_ref_free(r);
    pair_close(&p);

    /* Same host id with a dead TCP address: only the unix socket works, so
     * success proves the socket was chosen. */
    pair_open(&p, "host-a");
    r = pair_ref(&p);
    CU_ASSERT_EQUAL(cor_ref_set_location(r, "127.0.0.1:1", p.sock, "host-a", 0, &err), 0);
    CU_ASSERT_EQUAL(add(r, 7, &rc, &err), 7);
    CU_ASSERT_EQUAL(rc, 0);
    /* And with another host id the dead TCP address is used and fails. */
    CU_ASSERT_EQUAL(cor_ref_set_location(r, "127.0.0.1:1", p.sock, "host-z", 0, &err), 0);
    add(r, 1, &rc, &err);
    CU_ASSERT_EQUAL(rc, COR_EUNAVAIL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "at 127.0.0.1:1"));
    cor_ref_free(r);
    pair_close(&p);
}

static void test_remote_async_many(void)
{
    pair_t p;
    pair_open(&p, "host-b");
    cor_ref_t *r = pair_ref(&p);
    async_box_t b = {.lock = PTHREAD_MUTEX_INITIALIZER};
    Echo__SayRequest req = ECHO__SAY_REQUEST__INIT;
    req.text = (char *)"many";
    for (int i = 0; i < 300; i++)
        CU_ASSERT_EQUAL(echo_echo_say_async(r, &req, say_cb, &b), 0);
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&b.lock);
        int c = b.calls;
        pthread_mutex_unlock(&b.lock);
        if (c == 300)
            break;
        usleep(10000);
    }
    CU_ASSERT_EQUAL(b.calls, 300);
    CU_ASSERT_EQUAL(b.rc, 0);
    CU_ASSERT_STRING_EQUAL(b.text, "many");
    cor_ref_free(r);
    pair_close(&p);
}

static void test_remote_errors(void)
{
    pair_t p;
    pair_open(&p, "host-b");
    cor_ref_t *r = pair_ref(&p);
    cor_error_t err;

    /* Deadline. */
    cor_ref_set_deadline(r, 100);
    Echo__SleepRequest sreq = ECHO__SLEEP_REQUEST__INIT;
    sreq.ms = 1000;
    Echo__SleepReply *srep = NULL;
    CU_ASSERT_EQUAL(echo_echo_sleep(r, &sreq, &srep, &err), COR_ETIMEDOUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "echo.Echo.Sleep on object"));
    cor_ref_set_deadline(r, 0);

    /* Unknown object: NOT_FOUND naming the id. */
    cor_object_id_t other;
    cor_object_id_generate(&other);
    cor_ref_t *ghost = cor_ref_new(p.caller, &other, "echo.Echo", NULL);
    CU_ASSERT_EQUAL(cor_ref_set_location(ghost, cor_runtime_tcp_address(p.host), NULL, NULL, 0, &err), 0);
    int rc;
    add(ghost, 1, &rc, &err);
    CU_ASSERT_EQUAL(rc, COR_ENOTFOUND);
    char idstr[COR_OBJECT_ID_STRLEN + 1];
    cor_object_id_format(&other, idstr);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, idstr));
    cor_ref_free(ghost);

    /* A caller built against another interface revision. */
    cor_service_desc_t svc = echo_echo_service;
    svc.fingerprint ^= 1;
    cor_method_desc_t m = echo_echo_service.methods[ECHO_ECHO_ADD];
    m.service = &svc;
    Echo__AddRequest areq = ECHO__ADD_REQUEST__INIT;
    ProtobufCMessage *out = NULL;
    CU_ASSERT_EQUAL(cor_call(r, &m, &areq.base, &out, &err), COR_EREVISION);
    CU_ASSERT_PTR_NULL(out);

    /* Location refusals. */
    CU_ASSERT_EQUAL(cor_ref_set_location(r, "nonsense", NULL, NULL, 0, &err), COR_EINVAL);
    CU_ASSERT_EQUAL(cor_ref_set_location(r, "127.0.0.1:99999", NULL, NULL, 0, &err), COR_EINVAL);
    /* A ref with nowhere to go. */
    cor_ref_t *lost = cor_ref_new(p.caller, &other, "echo.Echo", NULL);
    add(lost, 1, &rc, &err);
    CU_ASSERT_EQUAL(rc, COR_ENOTFOUND);
    cor_ref_free(lost);
    /* Malformed ref bytes. */
    const uint8_t junk[] = {0x0a, 0x03, 1, 2, 3};
    CU_ASSERT_EQUAL(cor_ref_decode(p.caller, junk, sizeof(junk), &lost, &err), COR_EINVAL);
    CU_ASSERT_EQUAL(cor_ref_decode(p.caller, (const uint8_t *)"\xff\xff", 2, &lost, &err), COR_EINVAL);
    cor_ref_free(r);
    pair_close(&p);
}

/* Raw invoke requests that a stub would never send. */
static int raw_invoke(cor_runtime_t *caller, const char *target, grpc_slice req, cor_error_t *err)
{
    grpc_slice reply;
    cor_peer_t *peer = cor_client_peer(cor_runtime_client(caller), target);
    int rc = cor_client_call(cor_runtime_client(caller), peer, COR_M_INVOKE, req, 5000, &reply, err,
                             NULL);
    if (rc == 0)
        grpc_slice_unref(reply);
    return rc;
}

static grpc_slice pack_env(Cor__InvokeRequest *env)
{
    grpc_slice s = grpc_slice_malloc(cor__invoke_request__get_packed_size(env));
    cor__invoke_request__pack(env, GRPC_SLICE_START_PTR(s));
    return s;
}

static void test_malformed_invoke(void)
{
    pair_t p;
    pair_open(&p, "host-b");
    const char *t = cor_runtime_tcp_address(p.host);
    cor_error_t err;

    CU_ASSERT_EQUAL(raw_invoke(p.caller, t, grpc_slice_from_static_string("\xff\xff\xff"), &err),
                    COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "malformed invoke request"));

    Cor__InvokeRequest env = COR__INVOKE_REQUEST__INIT;
    uint8_t short_id[3] = {1, 2, 3};
    env.object_id.data = short_id;
    env.object_id.len = 3;
    env.method = (char *)"Say";
    CU_ASSERT_EQUAL(raw_invoke(p.caller, t, pack_env(&env), &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "3 bytes"));

    env.object_id.data = (uint8_t *)cor_ref_id(p.href)->b;
    env.object_id.len = 16;
    env.method = (char *)"Explode";
    CU_ASSERT_EQUAL(raw_invoke(p.caller, t, pack_env(&env), &err), COR_EUNIMPL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "Explode"));

    env.method = (char *)"Say";
    uint8_t bad_payload[] = {0x0a, 0x7f}; /* field 1, length 127, no bytes */
    env.payload.data = bad_payload;
    env.payload.len = sizeof(bad_payload);
    CU_ASSERT_EQUAL(raw_invoke(p.caller, t, pack_env(&env), &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "echo.SayRequest"));

    /* The object still works after all that. */
    cor_ref_t *r = pair_ref(&p);
    int rc;
    CU_ASSERT_EQUAL(add(r, 3, &rc, &err), 3);
    cor_ref_free(r);
    pair_close(&p);
}

/* ---- a slow object does not hold up other objects ---- */

typedef struct slow_box {
    pthread_mutex_t lock;
    int a_done;
    int a_done_when_b_finished;
    int b_done;
} slow_box_t;

static void slow_cb(int rc, Echo__SleepReply *reply, const cor_error_t *err, void *arg)
{
    slow_box_t *b = arg;
    pthread_mutex_lock(&b->lock);
    b->a_done++;
    pthread_mutex_unlock(&b->lock);
}

static void fast_cb(int rc, Echo__SayReply *reply, const cor_error_t *err, void *arg)
{
    slow_box_t *b = arg;
    pthread_mutex_lock(&b->lock);
    b->b_done = rc == 0 ? 1 : -1;
    b->a_done_when_b_finished = b->a_done;
    pthread_mutex_unlock(&b->lock);
}

static void test_slow_object_does_not_block_others(void)
{
    pair_t p;
    pair_open(&p, "host-b"); /* the host serves with 2 completion threads */
    cor_error_t err;
    cor_ref_t *a = pair_ref(&p);
    cor_ref_t *hb = NULL;
    CU_ASSERT_EQUAL_FATAL(cor_object_create(p.host, "echo.Echo", NULL, 0, &(cor_create_opts_t){.here = 1}, &hb, &err), 0);
    uint8_t *buf;
    size_t len;
    CU_ASSERT_EQUAL_FATAL(cor_ref_encode(hb, &buf, &len, &err), 0);
    cor_ref_t *b = NULL;
    CU_ASSERT_EQUAL_FATAL(cor_ref_decode(p.caller, buf, len, &b, &err), 0);
    free(buf);

    slow_box_t box = {.lock = PTHREAD_MUTEX_INITIALIZER};
    Echo__SleepRequest sreq = ECHO__SLEEP_REQUEST__INIT;
    sreq.ms = 700;
    /* Four slow calls queue on A: more than the host has threads. */
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(echo_echo_sleep_async(a, &sreq, slow_cb, &box), 0);
    usleep(100 * 1000);
    Echo__SayRequest req = ECHO__SAY_REQUEST__INIT;
    req.text = (char *)"quick";
    CU_ASSERT_EQUAL(echo_echo_say_async(b, &req, fast_cb, &box), 0);
    for (int i = 0; i < 1000; i++) {
        pthread_mutex_lock(&box.lock);
        int done = box.a_done == 4 && box.b_done != 0;
        pthread_mutex_unlock(&box.lock);
        if (done)
            break;
        usleep(10000);
    }
    CU_ASSERT_EQUAL(box.b_done, 1);
    /* B answered while A's first slow call was still running. */
    CU_ASSERT_EQUAL(box.a_done_when_b_finished, 0);
    CU_ASSERT_EQUAL(box.a_done, 4);
    cor_ref_free(a);
    cor_ref_free(b);
    cor_ref_free(hb);
    pair_close(&p);
}

/* ---- replica operations over the wire ---- */

static int rpc(cor_runtime_t *caller, const char *target, enum cor_method_index m,
               const ProtobufCMessage *req, const ProtobufCMessageDescriptor *rd,
               ProtobufCMessage **out, cor_error_t *err)
{
    return cor_rpc_call(cor_runtime_client(caller), target, m, req, rd, 5000, out, err);
}

static void test_replica_ops(void)
{
    pair_t p;
    pair_open(&p, "host-b");
    cor_runtime_t *other = new_rt("host-c");
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(cor_runtime_register_class(other, &echo_class, &err), 0);
    CU_ASSERT_EQUAL_FATAL(cor_runtime_listen(other, "127.0.0.1:0", NULL, &err), 0);
    const char *t1 = cor_runtime_tcp_address(p.host), *t2 = cor_runtime_tcp_address(other);
    ProtobufCMessage *out = NULL;

    /* Create a replica remotely, add to it. */
    cor_object_id_t id;
    cor_object_id_generate(&id);
    Cor__CreateReplicaRequest cr = COR__CREATE_REPLICA_REQUEST__INIT;
    cr.object_id.data = id.b;
    cr.object_id.len = 16;
    cr.class_name = (char *)"echo.Echo";
    cr.epoch = 3;
    CU_ASSERT_EQUAL(rpc(p.caller, t1, COR_M_CREATE_REPLICA, &cr.base,
                        &cor__create_replica_reply__descriptor, &out, &err), 0);
    protobuf_c_message_free_unpacked(out, NULL);
    CU_ASSERT_EQUAL(rpc(p.caller, t1, COR_M_CREATE_REPLICA, &cr.base,
                        &cor__create_replica_reply__descriptor, &out, &err), COR_EEXIST);
    cor_ref_t *r = cor_ref_new(p.caller, &id, "echo.Echo", NULL);
    /* A caller that knows a newer epoch than the replica's is refused: the
     * replica is stale, and nothing runs. */
    CU_ASSERT_EQUAL(cor_ref_set_location(r, t1, NULL, NULL, 5, &err), 0);
    int rc;
    add(r, 41, &rc, &err);
    CU_ASSERT_EQUAL(rc, COR_EMOVED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "epoch 3, the caller knows epoch 5: stale"));
    CU_ASSERT_EQUAL(cor_ref_set_location(r, t1, NULL, NULL, 3, &err), 0);
    CU_ASSERT_EQUAL(add(r, 41, &rc, &err), 41);

    /* Its state, installed on another host under the same id, carries on. */
    Cor__GetStateRequest gs = COR__GET_STATE_REQUEST__INIT;
    gs.object_id = cr.object_id;
    CU_ASSERT_EQUAL_FATAL(rpc(p.caller, t1, COR_M_GET_STATE, &gs.base,
                              &cor__get_state_reply__descriptor, &out, &err), 0);
    Cor__GetStateReply *st = (Cor__GetStateReply *)out;
    CU_ASSERT_STRING_EQUAL(st->class_name, "echo.Echo");
    CU_ASSERT_EQUAL(st->epoch, 3);
    Cor__InstallStateRequest is = COR__INSTALL_STATE_REQUEST__INIT;
    is.object_id = cr.object_id;
    is.class_name = st->class_name;
    is.state = st->state;
    is.epoch = 4;
    CU_ASSERT_EQUAL(rpc(p.caller, t2, COR_M_INSTALL_STATE, &is.base,
                        &cor__install_state_reply__descriptor, &out, &err), 0);
    protobuf_c_message_free_unpacked(out, NULL);
    protobuf_c_message_free_unpacked(&st->base, NULL);
    CU_ASSERT_EQUAL(cor_ref_set_location(r, t2, NULL, NULL, 4, &err), 0);
    CU_ASSERT_EQUAL(add(r, 1, &rc, &err), 42);

    /* Bad input: each refused, nothing changed. */
    uint8_t junk[] = {1, 2, 3};
    is.class_name = (char *)"echo.Echo"; /* st, which it pointed into, is freed */
    is.state.data = junk;
    is.state.len = sizeof(junk);
    cor_object_id_t id2;
    cor_object_id_generate(&id2);
    is.object_id.data = id2.b;
    CU_ASSERT_EQUAL(rpc(p.caller, t2, COR_M_INSTALL_STATE, &is.base,
                        &cor__install_state_reply__descriptor, &out, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "echo.EchoArgs"));
    cr.class_name = (char *)"no.Such";
    cr.object_id.data = id2.b;
    CU_ASSERT_EQUAL(rpc(p.caller, t1, COR_M_CREATE_REPLICA, &cr.base,
                        &cor__create_replica_reply__descriptor, &out, &err), COR_ENOTFOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no.Such"));
    cr.object_id.len = 5;
    CU_ASSERT_EQUAL(rpc(p.caller, t1, COR_M_CREATE_REPLICA, &cr.base,
                        &cor__create_replica_reply__descriptor, &out, &err), COR_EINVAL);
    Cor__DeleteReplicaRequest dr = COR__DELETE_REPLICA_REQUEST__INIT;
    dr.object_id.data = id2.b;
    dr.object_id.len = 16;
    CU_ASSERT_EQUAL(rpc(p.caller, t1, COR_M_DELETE_REPLICA, &dr.base,
                        &cor__delete_replica_reply__descriptor, &out, &err), COR_ENOTFOUND);
    dr.object_id.data = id.b;
    CU_ASSERT_EQUAL(rpc(p.caller, t2, COR_M_DELETE_REPLICA, &dr.base,
                        &cor__delete_replica_reply__descriptor, &out, &err), 0);
    protobuf_c_message_free_unpacked(out, NULL);
    add(r, 1, &rc, &err);
    CU_ASSERT_EQUAL(rc, COR_ENOTFOUND);
    cor_ref_free(r);
    cor_runtime_free(other);
    pair_close(&p);
}

int main(void)
{
    static const cor_test_t tests[] = {
        {"class registration refusals", test_register_refusals},
        {"create refusals, delete", test_create_refusals},
        {"co-located calls", test_colocated},
        {"one call at a time per object", test_one_call_at_a_time},
        {"remote over TCP and unix socket", test_remote_tcp_and_unix},
        {"remote async, many in flight", test_remote_async_many},
        {"remote errors", test_remote_errors},
        {"malformed invoke requests", test_malformed_invoke},
        {"a slow object does not hold up others", test_slow_object_does_not_block_others},
        {"replica operations", test_replica_ops},
        {NULL, NULL},
    };
    return cor_test_main("runtime", tests, NULL, NULL);
}
