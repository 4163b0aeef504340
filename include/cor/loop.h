/*
 * cor/loop.h — the daemon event loop: signals, timers, and work posted
 * from other threads, on one libevent loop thread.
 *
 * How it meets the transport (docs/transport.md): gRPC completions are
 * handled on the completion-queue threads, never handed to this loop; the
 * loop carries what is naturally event-driven and not on a call's path —
 * SIGTERM/SIGINT for a clean drain, heartbeats and other timers, and (in
 * later work) libcurl's sockets for etcd. Code on a completion thread that
 * needs loop-thread state uses cor_loop_post.
 *
 * Threads: cor_loop_run on one thread; cor_loop_stop and cor_loop_post from
 * any thread; timers and signal handlers are made and changed on the loop
 * thread (or before cor_loop_run starts).
 */
#ifndef COR_LOOP_H
#define COR_LOOP_H

#include <cor/error.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cor_loop cor_loop_t;
typedef struct cor_timer cor_timer_t;

int cor_loop_new(cor_loop_t **out, cor_error_t *err);

/* Frees the loop and every timer and signal handler still attached. Not
 * while cor_loop_run is running. */
void cor_loop_free(cor_loop_t *loop);

/* Runs callbacks until cor_loop_stop. Returns 0, or COR_EINTERNAL. */
int cor_loop_run(cor_loop_t *loop);

/* Makes cor_loop_run return after the current callback. Thread-safe. */
void cor_loop_stop(cor_loop_t *loop);

/* Calls cb(arg, signum) on the loop thread whenever signum arrives. */
int cor_loop_on_signal(cor_loop_t *loop, int signum, void (*cb)(void *arg, int signum),
                       void *arg, cor_error_t *err);

/* Runs fn(arg) once on the loop thread, soon. Thread-safe. Returns
 * COR_ENOMEM if it could not be queued. Work still queued when the loop is
 * freed is dropped without running. */
int cor_loop_post(cor_loop_t *loop, void (*fn)(void *arg), void *arg);

/* A timer owned by the loop (freed with it, or by cor_timer_free). */
cor_timer_t *cor_timer_new(cor_loop_t *loop, void (*cb)(void *arg), void *arg);
/* (Re)arms the timer: fires after ms, then every ms if repeat. */
void cor_timer_start(cor_timer_t *t, int ms, int repeat);
void cor_timer_stop(cor_timer_t *t);
void cor_timer_free(cor_timer_t *t);

#ifdef __cplusplus
}
#endif
#endif
