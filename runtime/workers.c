/*
 * workers.c — the runtime's pool of blocking-work threads; see workers.h.
 *
 * A post that finds no idle thread starts one (up to the limit); with the
 * limit reached the job waits its turn. Stopping sets `stopping` under the
 * lock, so no job is queued after the queue is emptied: the queued ones
 * are cancelled on the stopping thread, the running ones finish, and every
 * thread exits when it finds the queue empty.
 */
#include "workers.h"

#include <cor/error.h>

#include <stddef.h>

void cor_workers_init(cor_workers_t *w)
{
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    w->head = w->tail = NULL;
    w->n_threads = w->idle = w->stopping = 0;
}

static void *worker(void *arg)
{
    cor_workers_t *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (w->head == NULL && !w->stopping) {
            w->idle++;
            pthread_cond_wait(&w->cond, &w->lock);
            w->idle--;
        }
        cor_job_t *j = w->head;
        if (j == NULL)
            break; /* stopping, nothing left */
        w->head = j->next;
        if (w->head == NULL)
            w->tail = NULL;
        pthread_mutex_unlock(&w->lock);
        j->run(j);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int cor_workers_post(cor_workers_t *w, cor_job_t *j)
{
    pthread_mutex_lock(&w->lock);
    if (w->stopping) {
        pthread_mutex_unlock(&w->lock);
        return COR_ESHUTDOWN;
    }
    if (w->idle == 0 && w->n_threads < COR_WORKERS_MAX &&
        pthread_create(&w->threads[w->n_threads], NULL, worker, w) == 0)
        w->n_threads++;
    if (w->n_threads == 0) {
        pthread_mutex_unlock(&w->lock);
        return COR_EINTERNAL;
    }
    j->next = NULL;
    if (w->tail != NULL)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

void cor_workers_stop(cor_workers_t *w)
{
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    cor_job_t *queued = w->head;
    w->head = w->tail = NULL;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    while (queued != NULL) {
        cor_job_t *j = queued;
        queued = j->next;
        j->cancel(j);
    }
    for (int i = 0; i < w->n_threads; i++)
        pthread_join(w->threads[i], NULL);
    w->n_threads = 0;
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
}
