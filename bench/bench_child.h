/*
 * bench_child.h — server processes for the benchmarks: forked children that
 * start a server, report one integer (its TCP port) on a pipe, serve until
 * the parent closes their control pipe, then stop cleanly and exit.
 *
 * Why children: client and server must be separate processes with their own
 * gRPC threads, as they are in a deployment, and fork must happen before the
 * parent initialises gRPC (gRPC's threads and locks do not survive fork).
 * So a benchmark forks every server it needs first, then initialises gRPC
 * (directly or through cor_runtime_new) and measures.
 *
 * Failure modes: a child whose start fails reports -1 and exits 1; on every
 * parent exit path bench_child_reap tells it to stop, waits up to 10 s, then
 * kills it, and always reaps it. After bench_child_signals(), SIGINT,
 * SIGTERM and SIGHUP kill and reap every child and unlink the registered
 * socket paths at once. A child whose parent dies gets SIGKILL
 * (PR_SET_PDEATHSIG).
 *
 * Threads: the parent calls all of this from its main thread, before any
 * other thread exists for bench_child_spawn.
 */
#ifndef COR_BENCH_CHILD_H
#define COR_BENCH_CHILD_H

#include <sys/types.h>

#define BENCH_CHILD_MAX 16

/* What a child runs. start makes and starts the server and returns the
 * integer to report (>= 0; a TCP port, or 0 when there is none), or -1 on
 * failure; *state is handed to stop once the parent says so. Both run in
 * the child only. */
typedef struct bench_server_ops {
    int (*start)(void *arg, void **state);
    void (*stop)(void *state);
} bench_server_ops_t;

typedef struct bench_child {
    const char *name; /* for messages, static */
    pid_t pid;        /* -1: none */
    int ctl_fd;       /* write end; closing it tells the child to stop */
    int slot;         /* in the signal handler's table */
    int report;       /* what start reported */
} bench_child_t;

/* Set ch to "no child" so bench_child_reap on it is a no-op. */
void bench_child_init(bench_child_t *ch, const char *name);

/* Install the SIGINT/SIGTERM/SIGHUP handler that kills every spawned child
 * and unlinks registered paths; SIGPIPE is ignored. */
void bench_child_signals(void);

/* Remember a socket path to unlink if a signal ends the run (copied). */
void bench_child_add_path(const char *path);

/* Fork a child that runs ops->start(arg), waits up to 30 s for its report,
 * and fills ch. Returns 0, or -1 (the child, if any, is reaped). */
int bench_child_spawn(bench_child_t *ch, const bench_server_ops_t *ops,
                      void *arg);

/* Tell the child to stop, wait up to 10 s, then kill; always reap. Returns
 * the child's exit status (0 clean), -1 if it was killed or died of a
 * signal; 0 when there was no child. */
int bench_child_reap(bench_child_t *ch);

#endif /* COR_BENCH_CHILD_H */
