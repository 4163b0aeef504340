/*
 * loop.c — the daemon event loop over libevent; see cor/loop.h.
 *
 * libevent is made thread-aware once (evthread_use_pthreads) so that
 * event_base_loopbreak and event_active work from other threads. Posted
 * work goes into a mutex-protected list and one persistent user event
 * drains it on the loop thread.
 */
#include <cor/loop.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdlib.h>

typedef struct post_item {
    void (*fn)(void *);
    void *arg;
    struct post_item *next;
} post_item_t;

typedef struct sig_handler {
    struct event *ev;
    void (*cb)(void *, int);
    void *arg;
    struct sig_handler *next;
} sig_handler_t;

struct cor_timer {
    cor_loop_t *loop;
    struct event *ev;
    void (*cb)(void *);
    void *arg;
    int ms;
    int repeat;
    cor_timer_t *prev, *next;
};

struct cor_loop {
    struct event_base *base;
    struct event *post_ev;
    pthread_mutex_t lock;
    post_item_t *posts, *posts_tail;
    sig_handler_t *sigs;
    cor_timer_t *timers;
};

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
static void evthread_setup(void)
{
    evthread_use_pthreads();
}

static void post_cb(evutil_socket_t fd, short what, void *arg)
{
    cor_loop_t *loop = arg;
    pthread_mutex_lock(&loop->lock);
    post_item_t *list = loop->posts;
    loop->posts = loop->posts_tail = NULL;
    pthread_mutex_unlock(&loop->lock);
    while (list != NULL) {
        post_item_t *next = list->next;
        list->fn(list->arg);
        free(list);
        list = next;
    }
}

int cor_loop_new(cor_loop_t **out, cor_error_t *err)
{
    pthread_once(&evthread_once, evthread_setup);
    cor_loop_t *loop = calloc(1, sizeof(*loop));
    if (loop == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    loop->base = event_base_new();
    if (loop->base == NULL) {
        free(loop);
        return cor_error_set(err, COR_EINTERNAL, "libevent could not make an event base");
    }
    loop->post_ev = event_new(loop->base, -1, EV_PERSIST, post_cb, loop);
    event_add(loop->post_ev, NULL);
    pthread_mutex_init(&loop->lock, NULL);
    *out = loop;
    return 0;
}

void cor_loop_free(cor_loop_t *loop)
{
    if (loop == NULL)
        return;
    while (loop->timers != NULL)
        cor_timer_free(loop->timers);
    for (sig_handler_t *s = loop->sigs; s != NULL;) {
        sig_handler_t *next = s->next;
        event_free(s->ev);
        free(s);
        s = next;
    }
    for (post_item_t *p = loop->posts; p != NULL;) {
        post_item_t *next = p->next;
        free(p);
        p = next;
    }
    event_free(loop->post_ev);
    event_base_free(loop->base);
    pthread_mutex_destroy(&loop->lock);
    free(loop);
}

int cor_loop_run(cor_loop_t *loop)
{
    return event_base_loop(loop->base, EVLOOP_NO_EXIT_ON_EMPTY) < 0 ? COR_EINTERNAL : 0;
}

void cor_loop_stop(cor_loop_t *loop)
{
    event_base_loopbreak(loop->base);
}

static void sig_cb(evutil_socket_t fd, short what, void *arg)
{
    sig_handler_t *s = arg;
    s->cb(s->arg, (int)fd);
}

int cor_loop_on_signal(cor_loop_t *loop, int signum, void (*cb)(void *, int), void *arg,
                       cor_error_t *err)
{
    sig_handler_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    s->cb = cb;
    s->arg = arg;
    s->ev = evsignal_new(loop->base, signum, sig_cb, s);
    if (s->ev == NULL || event_add(s->ev, NULL) != 0) {
        if (s->ev != NULL)
            event_free(s->ev);
        free(s);
        return cor_error_set(err, COR_EINTERNAL, "cannot watch signal %d", signum);
    }
    s->next = loop->sigs;
    loop->sigs = s;
    return 0;
}

int cor_loop_post(cor_loop_t *loop, void (*fn)(void *), void *arg)
{
    post_item_t *p = malloc(sizeof(*p));
    if (p == NULL)
        return COR_ENOMEM;
    p->fn = fn;
    p->arg = arg;
    p->next = NULL;
    pthread_mutex_lock(&loop->lock);
    if (loop->posts_tail != NULL)
        loop->posts_tail->next = p;
    else
        loop->posts = p;
    loop->posts_tail = p;
    pthread_mutex_unlock(&loop->lock);
    event_active(loop->post_ev, 0, 0);
    return 0;
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    cor_timer_t *t = arg;
    t->cb(t->arg);
}

cor_timer_t *cor_timer_new(cor_loop_t *loop, void (*cb)(void *), void *arg)
{
    cor_timer_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->loop = loop;
    t->cb = cb;
    t->arg = arg;
    t->next = loop->timers;
    if (loop->timers != NULL)
        loop->timers->prev = t;
    loop->timers = t;
    return t;
}

void cor_timer_start(cor_timer_t *t, int ms, int repeat)
{
    if (t->ev != NULL)
        event_free(t->ev);
    t->ms = ms;
    t->repeat = repeat;
    t->ev = event_new(t->loop->base, -1, repeat ? EV_PERSIST : 0, timer_cb, t);
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    event_add(t->ev, &tv);
}

void cor_timer_stop(cor_timer_t *t)
{
    if (t->ev != NULL)
        event_del(t->ev);
}

void cor_timer_free(cor_timer_t *t)
{
    if (t == NULL)
        return;
    if (t->ev != NULL)
        event_free(t->ev);
    if (t->prev != NULL)
        t->prev->next = t->next;
    else
        t->loop->timers = t->next;
    if (t->next != NULL)
        t->next->prev = t->prev;
    free(t);
}
