/*
 * test_loop.c — the daemon loop: one-shot and repeating timers, work posted
 * from another thread, signals delivered as callbacks, stop.
 */
#include <cor/loop.h>

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "testlib.h"

typedef struct state {
    cor_loop_t *loop;
    int once, repeats, posted, signals;
    cor_timer_t *rep;
} state_t;

static void on_once(void *arg)
{
    ((state_t *)arg)->once++;
}

static void on_repeat(void *arg)
{
    state_t *s = arg;
    if (++s->repeats == 3)
        cor_timer_stop(s->rep);
}

static void on_post(void *arg)
{
    state_t *s = arg;
    s->posted++;
    if (s->posted == 100)
        raise(SIGUSR1);
}

static void on_signal(void *arg, int signum)
{
    state_t *s = arg;
    if (signum == SIGUSR1)
        s->signals++;
}

static void on_stop(void *arg)
{
    cor_loop_stop(((state_t *)arg)->loop);
}

static void *poster(void *arg)
{
    state_t *s = arg;
    for (int i = 0; i < 100; i++)
        cor_loop_post(s->loop, on_post, s);
    return NULL;
}

static void test_loop(void)
{
    state_t s = {0};
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(cor_loop_new(&s.loop, &err), 0);
    CU_ASSERT_EQUAL(cor_loop_on_signal(s.loop, SIGUSR1, on_signal, &s, &err), 0);
    cor_timer_start(cor_timer_new(s.loop, on_once, &s), 10, 0);
    s.rep = cor_timer_new(s.loop, on_repeat, &s);
    cor_timer_start(s.rep, 5, 1);
    cor_timer_t *unused = cor_timer_new(s.loop, on_once, &s); /* freed with the loop */
    (void)unused;
    cor_timer_start(cor_timer_new(s.loop, on_stop, &s), 400, 0);
    pthread_t t;
    pthread_create(&t, NULL, poster, &s);
    CU_ASSERT_EQUAL(cor_loop_run(s.loop), 0);
    pthread_join(t, NULL);
    CU_ASSERT_EQUAL(s.once, 1);
    CU_ASSERT_EQUAL(s.repeats, 3);
    CU_ASSERT_EQUAL(s.posted, 100);
    CU_ASSERT_EQUAL(s.signals, 1);
    cor_loop_free(s.loop);
}

int main(void)
{
    static const cor_test_t tests[] = {
        {"timers, posts, signals, stop", test_loop},
        {NULL, NULL},
    };
    return cor_test_main("loop", tests, NULL, NULL);
}
