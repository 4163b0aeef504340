/*
 * test_transport.c — the gRPC transport on its own: a cor_server_t with a
 * few byte-level handlers and a cor_client_t calling it, over TCP loopback
 * and a unix socket. Covers replies, exact error codes through "cor-code",
 * unknown methods, deadlines, message size limits, many calls in flight,
 * a missing server, and shutdown with calls in flight on both sides.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"
#include "transport.h"

enum { M_ECHO, M_FAIL, M_SLOW, M_MOVED, M_MISSING, M_COUNT };
static const char *const paths[M_COUNT] = {"/t.T/Echo", "/t.T/Fail", "/t.T/Slow", "/t.T/Moved",
                                           "/t.T/Missing"};

static void h_echo(void *arg, cor_srv_call_t *call, const uint8_t *req, size_t len)
{
    cor_srv_call_reply(call, grpc_slice_from_copied_buffer((const char *)req, len));
}

static void h_fail(void *arg, cor_srv_call_t *call, const uint8_t *req, size_t len)
{
    cor_srv_call_fail(call, COR_EREVISION, "thing x is from another build");
}

static void h_moved(void *arg, cor_srv_call_t *call, const uint8_t *req, size_t len)
{
    cor_redirect_t to = {.to = "10.0.0.7:4000", .epoch = 42};
    cor_srv_call_redirect(call, "object moved to 10.0.0.7:4000 (epoch 42)", &to);
}

static void h_slow(void *arg, cor_srv_call_t *call, const uint8_t *req, size_t len)
{
    usleep(300 * 1000);
    cor_srv_call_reply(call, grpc_slice_from_static_string("late"));
}

static cor_server_t *start_server(const char *addr, char *target, size_t tlen, size_t max_msg)
{
    cor_server_opts_t o = {.threads = 2, .max_message_bytes = max_msg};
    cor_server_t *s = NULL;
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(cor_server_new(&o, &s, &err), 0);
    CU_ASSERT_EQUAL(cor_server_add_method(s, paths[M_ECHO], h_echo, NULL, &err), 0);
    CU_ASSERT_EQUAL(cor_server_add_method(s, paths[M_FAIL], h_fail, NULL, &err), 0);
    CU_ASSERT_EQUAL(cor_server_add_method(s, paths[M_SLOW], h_slow, NULL, &err), 0);
    CU_ASSERT_EQUAL(cor_server_add_method(s, paths[M_MOVED], h_moved, NULL, &err), 0);
    CU_ASSERT_EQUAL(cor_server_add_method(s, paths[M_SLOW], h_slow, NULL, &err), COR_EEXIST);
    int port = 0;
    CU_ASSERT_EQUAL_FATAL(cor_server_listen(s, addr, &port, &err), 0);
    if (strncmp(addr, "unix:", 5) == 0)
        snprintf(target, tlen, "%s", addr);
    else
        snprintf(target, tlen, "127.0.0.1:%d", port);
    CU_ASSERT_EQUAL_FATAL(cor_server_start(s, &err), 0);
    CU_ASSERT_EQUAL(cor_server_add_method(s, "/t.T/Late", h_echo, NULL, &err), COR_ESTATE);
    return s;
}

static cor_client_t *new_client(void)
{
    cor_client_t *c = NULL;
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(cor_client_new(paths, M_COUNT, NULL, &c, &err), 0);
    return c;
}

static void check_calls(const char *listen)
{
    char target[256];
    cor_server_t *s = start_server(listen, target, sizeof(target), 0);
    cor_client_t *c = new_client();
    cor_peer_t *p = cor_client_peer(c, target);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_PTR_EQUAL(cor_client_peer(c, target), p); /* cached */
    cor_error_t err;
    grpc_slice reply;

    CU_ASSERT_EQUAL(cor_client_call(c, p, M_ECHO, grpc_slice_from_static_string("hello"), 5000,
                                    &reply, &err, NULL), 0);
    CU_ASSERT_EQUAL(GRPC_SLICE_LENGTH(reply), 5);
    CU_ASSERT_EQUAL(memcmp(GRPC_SLICE_START_PTR(reply), "hello", 5), 0);
    grpc_slice_unref(reply);

    /* Exact Corundum code survives the trip (gRPC alone would say
     * FAILED_PRECONDITION, shared by several codes). */
    cor_redirect_t moved = {.epoch = 7};
    CU_ASSERT_EQUAL(cor_client_call(c, p, M_FAIL, grpc_slice_from_static_string("x"), 5000,
                                    &reply, &err, &moved), COR_EREVISION);
    CU_ASSERT_EQUAL(err.code, COR_EREVISION);
    CU_ASSERT_STRING_EQUAL(err.msg, "thing x is from another build");
    CU_ASSERT_EQUAL(moved.epoch, 0); /* no redirect came */

    /* A redirect travels as data beside the code, not inside the text. */
    CU_ASSERT_EQUAL(cor_client_call(c, p, M_MOVED, grpc_slice_from_static_string("x"), 5000,
                                    &reply, &err, &moved), COR_EMOVED);
    CU_ASSERT_EQUAL(moved.epoch, 42);
    CU_ASSERT_STRING_EQUAL(moved.to, "10.0.0.7:4000");

    CU_ASSERT_EQUAL(cor_client_call(c, p, M_MISSING, grpc_slice_from_static_string("x"), 5000,
                                    &reply, &err, NULL), COR_EUNIMPL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "/t.T/Missing"));

    long long t0 = cor_test_now_ms();
    CU_ASSERT_EQUAL(cor_client_call(c, p, M_SLOW, grpc_slice_from_static_string("x"), 50,
                                    &reply, &err, NULL), COR_ETIMEDOUT);
    CU_ASSERT(cor_test_now_ms() - t0 < 5000);

    cor_client_free(c);
    cor_server_free(s);
}

static void test_tcp(void)
{
    check_calls("127.0.0.1:0");
}

static void test_unix(void)
{
    char path[200], addr[220];
    cor_test_tmp_path(path, sizeof(path), "sock");
    snprintf(addr, sizeof(addr), "unix:%s", path);
    check_calls(addr);
    unlink(path);
}

static void test_message_too_big(void)
{
    char target[256];
    cor_server_t *s = start_server("127.0.0.1:0", target, sizeof(target), 1024);
    cor_client_t *c = new_client();
    cor_peer_t *p = cor_client_peer(c, target);
    grpc_slice big = grpc_slice_malloc(4096);
    memset(GRPC_SLICE_START_PTR(big), 'z', 4096);
    grpc_slice reply;
    cor_error_t err;
    CU_ASSERT_EQUAL(cor_client_call(c, p, M_ECHO, big, 5000, &reply, &err, NULL), COR_ETOOBIG);
    /* The server still serves normal calls afterwards. */
    CU_ASSERT_EQUAL(cor_client_call(c, p, M_ECHO, grpc_slice_from_static_string("ok"), 5000,
                                    &reply, &err, NULL), 0);
    grpc_slice_unref(reply);
    cor_client_free(c);
    cor_server_free(s);
}

static void test_no_server(void)
{
    cor_client_t *c = new_client();
    /* Port 1 on loopback: nothing listens there. */
    cor_peer_t *p = cor_client_peer(c, "127.0.0.1:1");
    grpc_slice reply;
    cor_error_t err;
    CU_ASSERT_EQUAL(cor_client_call(c, p, M_ECHO, grpc_slice_from_static_string("x"), 2000,
                                    &reply, &err, NULL), COR_EUNAVAIL);
    CU_ASSERT_PTR_NULL(cor_client_peer(c, ""));
    cor_client_free(c);
}

typedef struct counter {
    pthread_mutex_t lock;
    int ok, failed, done;
} counter_t;

static void count_done(void *arg, int code, const char *msg, const cor_redirect_t *moved,
                       const uint8_t *reply, size_t len)
{
    counter_t *k = arg;
    pthread_mutex_lock(&k->lock);
    if (code == 0 && len == 4 && memcmp(reply, "ping", 4) == 0)
        k->ok++;
    else
        k->failed++;
    k->done++;
    pthread_mutex_unlock(&k->lock);
}

static void test_many_in_flight(void)
{
    char target[256];
    cor_server_t *s = start_server("127.0.0.1:0", target, sizeof(target), 0);
    cor_client_t *c = new_client();
    cor_peer_t *p = cor_client_peer(c, target);
    counter_t k = {.lock = PTHREAD_MUTEX_INITIALIZER};
    enum { N = 500 };
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(cor_client_call_async(c, p, M_ECHO, grpc_slice_from_static_string("ping"),
                                              10000, count_done, &k), 0);
    for (int i = 0; i < 1000; i++) {
        pthread_mutex_lock(&k.lock);
        int d = k.done;
        pthread_mutex_unlock(&k.lock);
        if (d == N)
            break;
        usleep(10000);
    }
    CU_ASSERT_EQUAL(k.ok, N);
    CU_ASSERT_EQUAL(k.failed, 0);
    cor_client_free(c);
    cor_server_free(s);
}

static void *slow_caller(void *arg)
{
    void **a = arg;
    cor_client_t *c = a[0];
    cor_peer_t *p = a[1];
    grpc_slice reply;
    cor_error_t err;
    int rc = cor_client_call(c, p, M_SLOW, grpc_slice_from_static_string("x"), 10000, &reply, &err, NULL);
    if (rc == 0)
        grpc_slice_unref(reply);
    a[2] = (void *)(intptr_t)rc;
    return NULL;
}

static void test_shutdown_with_calls_in_flight(void)
{
    char target[256];
    cor_server_t *s = start_server("127.0.0.1:0", target, sizeof(target), 0);
    cor_client_t *c = new_client();
    cor_peer_t *p = cor_client_peer(c, target);
    /* Async calls the client will have to cancel on free. */
    counter_t k = {.lock = PTHREAD_MUTEX_INITIALIZER};
    for (int i = 0; i < 8; i++)
        CU_ASSERT_EQUAL(cor_client_call_async(c, p, M_SLOW, grpc_slice_from_static_string("x"),
                                              10000, count_done, &k), 0);
    /* A sync call in another thread that the server's shutdown cuts off. */
    void *args[3] = {c, p, NULL};
    pthread_t t;
    pthread_create(&t, NULL, slow_caller, args);
    usleep(100 * 1000);
    cor_server_free(s); /* waits for the slow handlers, cancels the calls */
    pthread_join(t, NULL);
    /* Either the reply raced out or the call was cut off: never a hang. */
    int rc = (int)(intptr_t)args[2];
    CU_ASSERT(rc == 0 || rc == COR_EUNAVAIL || rc == COR_ECANCELLED);
    cor_client_free(c);
    CU_ASSERT_EQUAL(k.done, 8); /* every callback ran exactly once */
}

static void test_client_free_cancels(void)
{
    char target[256];
    cor_server_t *s = start_server("127.0.0.1:0", target, sizeof(target), 0);
    cor_client_t *c = new_client();
    cor_peer_t *p = cor_client_peer(c, target);
    counter_t k = {.lock = PTHREAD_MUTEX_INITIALIZER};
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(cor_client_call_async(c, p, M_SLOW, grpc_slice_from_static_string("x"),
                                              10000, count_done, &k), 0);
    long long t0 = cor_test_now_ms();
    cor_client_free(c);
    CU_ASSERT(cor_test_now_ms() - t0 < 5000);
    CU_ASSERT_EQUAL(k.done, 4);
    CU_ASSERT_EQUAL(k.failed, 4);
    cor_server_free(s);
}

int main(void)
{
    static const cor_test_t tests[] = {
        {"calls over TCP", test_tcp},
        {"calls over a unix socket", test_unix},
        {"message over the size limit", test_message_too_big},
        {"no server", test_no_server},
        {"many calls in flight", test_many_in_flight},
        {"server shutdown with calls in flight", test_shutdown_with_calls_in_flight},
        {"client free cancels its calls", test_client_free_cancels},
        {NULL, NULL},
    };
    return cor_test_main("transport", tests, NULL, NULL);
}
