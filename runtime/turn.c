/*
 * turn.c — an object's turn: the per-object queue that runs calls into one
 * object one at a time without pinning a thread per waiting caller; see
 * object_int.h for the model.
 *
 * The thread that finds the object idle takes the turn (busy = 1), runs
 * its call, and on leaving runs every task queued meanwhile before it
 * clears busy. A caller that must wait (cor_obj_run_sync) queues a task
 * that does its work and signals it; a remote call queues a copy of itself
 * and its thread goes back to serving. A thread already inside the object
 * (a method calling its own object) shares the turn instead of waiting for
 * itself.
 */
#include "object_int.h"

#include <stdio.h>

/* The object whose method this thread is running, for re-entrant calls. */
static _Thread_local cor_obj_t *tls_current;

cor_obj_t *cor_obj_current(void)
{
    return tls_current;
}

int cor_runtime_in_object(cor_runtime_t *rt, const cor_object_id_t *id)
{
    (void)rt;
    return tls_current != NULL && cor_object_id_equal(&tls_current->id, id);
}

static int concurrent(const cor_obj_t *o)
{
    return (o->cls->flags & COR_CLASS_CONCURRENT) != 0;
}

static void enqueue(cor_obj_t *o, cor_obj_task_t *t)
{
    t->next = NULL;
    if (o->tail != NULL)
        o->tail->next = t;
    else
        o->head = t;
    o->tail = t;
}

enum cor_turn cor_obj_enter(cor_obj_t *o, cor_obj_task_t *t)
{
    if (tls_current == o)
        return COR_TURN_SHARED;
    pthread_mutex_lock(&o->qlock);
    enum cor_turn turn = COR_TURN_QUEUED;
    if (!o->busy && concurrent(o)) {
        o->inflight++;
        turn = COR_TURN_CONCURRENT;
    } else if (!o->busy) {
        o->busy = 1;
        turn = COR_TURN_OWNED;
    } else if (t != NULL) {
        enqueue(o, t);
    }
    pthread_mutex_unlock(&o->qlock);
    return turn;
}

enum cor_turn cor_obj_try_enter(cor_obj_t *o)
{
    return cor_obj_enter(o, NULL);
}

/* Gives the turn back after running what queued meanwhile. */
static void leave(cor_obj_t *o)
{
    for (;;) {
        pthread_mutex_lock(&o->qlock);
        cor_obj_task_t *t = o->head;
        if (t == NULL) {
            o->busy = 0;
            if (concurrent(o))
                pthread_cond_broadcast(&o->qcond); /* a waiting exclusive step */
            pthread_mutex_unlock(&o->qlock);
            return;
        }
        o->head = t->next;
        if (o->head == NULL)
            o->tail = NULL;
        pthread_mutex_unlock(&o->qlock);
        t->run(t);
    }
}

static void leave_concurrent(cor_obj_t *o)
{
    pthread_mutex_lock(&o->qlock);
    if (--o->inflight == 0 && o->busy)
        pthread_cond_broadcast(&o->qcond);
    pthread_mutex_unlock(&o->qlock);
}

void cor_obj_exit(cor_obj_t *o, enum cor_turn turn)
{
    if (turn == COR_TURN_OWNED)
        leave(o);
    else if (turn == COR_TURN_CONCURRENT)
        leave_concurrent(o);
}

void cor_obj_run_exclusive(cor_obj_t *o, void (*fn)(void *), void *arg)
{
    if (!concurrent(o) || tls_current == o) {
        cor_obj_run_sync(o, fn, arg);
        return;
    }
    pthread_mutex_lock(&o->qlock);
    while (o->busy)
        pthread_cond_wait(&o->qcond, &o->qlock);
    o->busy = 1; /* new calls queue from here */
    while (o->inflight > 0)
        pthread_cond_wait(&o->qcond, &o->qlock);
    pthread_mutex_unlock(&o->qlock);
    fn(arg);
    leave(o); /* runs what queued meanwhile, then frees the turn */
}

typedef struct sync_task {
    cor_obj_task_t task;
    void (*fn)(void *);
    void *arg;
    int done;
    pthread_mutex_t lock;
    pthread_cond_t cond;
} sync_task_t;

static void sync_task_run(cor_obj_task_t *t)
{
    sync_task_t *s = (sync_task_t *)t;
    s->fn(s->arg);
    pthread_mutex_lock(&s->lock);
    s->done = 1;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

void cor_obj_run_sync(cor_obj_t *o, void (*fn)(void *), void *arg)
{
    /* Initialised before it can be queued: another thread may run it. */
    sync_task_t s = {.task.run = sync_task_run, .fn = fn, .arg = arg,
                     .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    enum cor_turn turn = cor_obj_enter(o, &s.task);
    if (turn != COR_TURN_QUEUED) {
        fn(arg);
        cor_obj_exit(o, turn);
        return;
    }
    /* The task may already have run; the lock orders its `done` with us. */
    pthread_mutex_lock(&s.lock);
    while (!s.done)
        pthread_cond_wait(&s.cond, &s.lock);
    pthread_mutex_unlock(&s.lock);
    pthread_mutex_destroy(&s.lock);
    pthread_cond_destroy(&s.cond);
}

int cor_obj_run_method(cor_obj_t *o, const cor_method_desc_t *m, cor_ctx_t *ctx,
                       const ProtobufCMessage *req, ProtobufCMessage *reply)
{
    cor_obj_t *outer = tls_current;
    tls_current = o;
    int rc = m->invoke(o->cls->ops, o->self, ctx, req, reply);
    tls_current = outer;
    if (rc != 0 && ctx->err != NULL) {
        ctx->err->code = rc;
        if (ctx->err->msg[0] == '\0')
            snprintf(ctx->err->msg, sizeof(ctx->err->msg), "%s", cor_strerror(rc));
    }
    return rc;
}
