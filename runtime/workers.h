/*
 * workers.h — a small pool of threads for work that may block and must
 * not run on its caller's thread (internal to runtime/).
 *
 * Used for what an asynchronous call cannot do on the thread that made it
 * or on a completion thread: running client DM parts (they retry, back
 * off, wait for a trial call), asking the OMS where an object went, and
 * sending a move an object asked for from inside its own method.
 *
 * Threads start on demand, up to COR_WORKERS_MAX; idle ones wait for the
 * next job. Jobs run in the order posted, one per thread at a time.
 */
#ifndef COR_WORKERS_H
#define COR_WORKERS_H

#include <pthread.h>

#define COR_WORKERS_MAX 4

typedef struct cor_job cor_job_t;
struct cor_job {
    void (*run)(cor_job_t *j);    /* on a worker thread; owns j from then on */
    void (*cancel)(cor_job_t *j); /* instead of run when the pool stops first; owns j */
    cor_job_t *next;
};

typedef struct cor_workers {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    cor_job_t *head, *tail;
    pthread_t threads[COR_WORKERS_MAX];
    int n_threads, idle, stopping;
} cor_workers_t;

void cor_workers_init(cor_workers_t *w);

/* Queues j. 0, or COR_ESHUTDOWN once the pool is stopping (j stays the
 * caller's), or COR_EINTERNAL when no thread could be started for it and
 * none exists. Any thread. */
int cor_workers_post(cor_workers_t *w, cor_job_t *j);

/* Cancels the jobs still queued, waits for the running ones, joins the
 * threads. Not from a worker. */
void cor_workers_stop(cor_workers_t *w);

#endif
