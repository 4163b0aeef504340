/*
 * test_remote.c — a client process calling an Echo object hosted by a
 * second process (cor-echo-host) through the generated stubs: over TCP and
 * over the unix socket, many calls at once, deadline expiry, an unknown
 * object, a host killed (-9) in the middle of a call, and a host drained
 * with SIGTERM while a call is in flight.
 */
#include <cor/cor.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "echo/echo.cor.h"
#include "proc.h"
#include "testlib.h"

#ifndef COR_ECHO_HOST
#error "COR_ECHO_HOST must name the cor-echo-host binary"
#endif

typedef struct host {
    cor_proc_t proc;
    char sock[200];
    char tcp[128], host_id[128], object[64];
} host_t;

static void host_start(host_t *h)
{
    cor_test_tmp_path(h->sock, sizeof(h->sock), "host.sock");
    char *argv[] = {(char *)COR_ECHO_HOST, (char *)"--listen", (char *)"127.0.0.1:0",
                    (char *)"--unix", h->sock, NULL};
    CU_ASSERT_EQUAL_FATAL(cor_proc_start(&h->proc, argv, 10000), 0);
    CU_ASSERT_EQUAL_FATAL(cor_proc_field(&h->proc, "tcp", h->tcp, sizeof(h->tcp)), 0);
    CU_ASSERT_EQUAL_FATAL(cor_proc_field(&h->proc, "host", h->host_id, sizeof(h->host_id)), 0);
    CU_ASSERT_EQUAL_FATAL(cor_proc_field(&h->proc, "objects", h->object, sizeof(h->object)), 0);
}

static cor_runtime_t *rt;

static cor_ref_t *ref_to(host_t *h, const char *tcp, const char *host_id)
{
    cor_object_id_t id;
    CU_ASSERT_EQUAL_FATAL(cor_object_id_parse(h->object, &id), 0);
    cor_ref_t *r = cor_ref_new(rt, &id, "echo.Echo", NULL);
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(cor_ref_set_location(r, tcp, h->sock, host_id, 0, &err), 0);
    return r;
}

static int say(cor_ref_t *r, const char *text, cor_error_t *err)
{
    Echo__SayRequest req = ECHO__SAY_REQUEST__INIT;
    req.text = (char *)text;
    Echo__SayReply *rep = NULL;
    int rc = echo_echo_say(r, &req, &rep, err);
    if (rc == 0) {
        if (strcmp(rep->text, text) != 0)
            rc = -1000;
        echo__say_reply__free_unpacked(rep, NULL);
    }
    return rc;
}

static void test_tcp_and_unix(void)
{
    host_t h;
    host_start(&h);
    cor_error_t err;
    /* Another host id: TCP. */
    cor_ref_t *r = ref_to(&h, h.tcp, "some-other-host");
    CU_ASSERT_EQUAL(say(r, "over tcp", &err), 0);
    cor_ref_free(r);
    /* Same host id and a dead TCP address: success proves the socket. */
    r = ref_to(&h, "127.0.0.1:1", h.host_id);
    CU_ASSERT_EQUAL(say(r, "over the unix socket", &err), 0);
    /* 4 KiB blob round trip. */
    Echo__SayRequest req = ECHO__SAY_REQUEST__INIT;
    static uint8_t blob[4096];
    for (size_t i = 0; i < sizeof(blob); i++)
        blob[i] = (uint8_t)(i * 7);
    req.blob.data = blob;
    req.blob.len = sizeof(blob);
    Echo__SayReply *rep = NULL;
    CU_ASSERT_EQUAL(echo_echo_say(r, &req, &rep, &err), 0);
    CU_ASSERT_EQUAL(rep->blob.len, sizeof(blob));
    CU_ASSERT_EQUAL(memcmp(rep->blob.data, blob, sizeof(blob)), 0);
    echo__say_reply__free_unpacked(rep, NULL);
    cor_ref_free(r);
    CU_ASSERT_EQUAL(cor_proc_stop(&h.proc, SIGTERM, 10000), 0);
    CU_ASSERT_NOT_EQUAL(access(h.sock, F_OK), 0); /* socket file removed */
}

typedef struct box {
    pthread_mutex_t lock;
    int done, ok;
    int64_t max_total;
} box_t;

static void add_cb(int rc, Echo__AddReply *reply, const cor_error_t *err, void *arg)
{
    box_t *b = arg;
    pthread_mutex_lock(&b->lock);
    b->done++;
    if (rc == 0) {
        b->ok++;
        if (reply->total > b->max_total)
            b->max_total = reply->total;
    }
    pthread_mutex_unlock(&b->lock);
}

static void test_many_async(void)
{
    host_t h;
    host_start(&h);
    cor_ref_t *r = ref_to(&h, h.tcp, "other");
    box_t b = {.lock = PTHREAD_MUTEX_INITIALIZER};
    Echo__AddRequest req = ECHO__ADD_REQUEST__INIT;
    req.delta = 1;
    enum { N = 1000 };
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(echo_echo_add_async(r, &req, add_cb, &b), 0);
    for (int i = 0; i < 1000; i++) {
        pthread_mutex_lock(&b.lock);
        int d = b.done;
        pthread_mutex_unlock(&b.lock);
        if (d == N)
            break;
        usleep(10000);
    }
    CU_ASSERT_EQUAL(b.ok, N);
    CU_ASSERT_EQUAL(b.max_total, N); /* every add applied exactly once */
    cor_ref_free(r);
    CU_ASSERT_EQUAL(cor_proc_stop(&h.proc, SIGTERM, 10000), 0);
}

static void test_deadline_and_unknown(void)
{
    host_t h;
    host_start(&h);
    cor_ref_t *r = ref_to(&h, h.tcp, "other");
    cor_error_t err;
    cor_ref_set_deadline(r, 200);
    Echo__SleepRequest req = ECHO__SLEEP_REQUEST__INIT;
    req.ms = 3000;
    Echo__SleepReply *rep = NULL;
    long long t0 = cor_test_now_ms();
    CU_ASSERT_EQUAL(echo_echo_sleep(r, &req, &rep, &err), COR_ETIMEDOUT);
    CU_ASSERT(cor_test_now_ms() - t0 < 2500);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, h.object));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "echo.Echo.Sleep"));
    cor_ref_free(r);

    cor_object_id_t ghost;
    cor_object_id_generate(&ghost);
    char gs[COR_OBJECT_ID_STRLEN + 1];
    cor_object_id_format(&ghost, gs);
    cor_ref_t *g = cor_ref_new(rt, &ghost, "echo.Echo", NULL);
    CU_ASSERT_EQUAL(cor_ref_set_location(g, h.tcp, NULL, NULL, 0, &err), 0);
    CU_ASSERT_EQUAL(say(g, "anyone?", &err), COR_ENOTFOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, gs));
    cor_ref_free(g);
    /* The slow call is still sleeping in the host; SIGTERM drains it. */
    CU_ASSERT_EQUAL(cor_proc_stop(&h.proc, SIGTERM, 10000), 0);
}

typedef struct slow_arg {
    cor_ref_t *r;
    int rc;
    long long ms;
} slow_arg_t;

static void *slow_call(void *arg)
{
    slow_arg_t *a = arg;
    Echo__SleepRequest req = ECHO__SLEEP_REQUEST__INIT;
    req.ms = 5000;
    Echo__SleepReply *rep = NULL;
    cor_error_t err;
    long long t0 = cor_test_now_ms();
    a->rc = echo_echo_sleep(a->r, &req, &rep, &err);
    a->ms = cor_test_now_ms() - t0;
    if (rep != NULL)
        echo__sleep_reply__free_unpacked(rep, NULL);
    return NULL;
}

static void test_host_dies_mid_call(void)
{
    host_t h;
    host_start(&h);
    slow_arg_t a = {.r = ref_to(&h, h.tcp, "other")};
    pthread_t t;
    pthread_create(&t, NULL, slow_call, &a);
    usleep(300 * 1000);
    cor_proc_kill(&h.proc); /* kill -9 with the call in flight */
    pthread_join(t, NULL);
    CU_ASSERT_EQUAL(a.rc, COR_EUNAVAIL);
    CU_ASSERT(a.ms < 4000); /* failed when the host died, not at the deadline */
    /* Later calls fail fast too, and name the object. */
    cor_error_t err;
    CU_ASSERT_EQUAL(say(a.r, "hello?", &err), COR_EUNAVAIL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, h.object));
    cor_ref_free(a.r);
    unlink(h.sock);
}

static void test_bad_host_arguments(void)
{
    cor_proc_t p;
    char *argv[] = {(char *)COR_ECHO_HOST, (char *)"--object", (char *)"not-an-id", NULL};
    /* No ready line: it must refuse and exit 2. */
    CU_ASSERT_EQUAL(cor_proc_start(&p, argv, 5000), -1);
    char *argv2[] = {(char *)COR_ECHO_HOST, (char *)"--threads", (char *)"0", NULL};
    CU_ASSERT_EQUAL(cor_proc_start(&p, argv2, 5000), -1);
}

static int suite_init(void)
{
    cor_error_t err;
    return cor_runtime_new(NULL, &rt, &err);
}

static int suite_cleanup(void)
{
    cor_runtime_free(rt);
    return 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    static const cor_test_t tests[] = {
        {"TCP and unix socket", test_tcp_and_unix},
        {"many async calls, each applied once", test_many_async},
        {"deadline and unknown object", test_deadline_and_unknown},
        {"host killed mid-call", test_host_dies_mid_call},
        {"host refuses bad arguments", test_bad_host_arguments},
        {NULL, NULL},
    };
    return cor_test_main("remote", tests, suite_init, suite_cleanup);
}
