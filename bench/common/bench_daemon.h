/*
 * bench_daemon.h — start and stop the real cor-oms / cor-kernel binaries
 * for a benchmark, each with its stderr in a log file of the run (printed
 * on failure). Built on tests/lib/proc.h.
 */
#ifndef COR_BENCH_DAEMON_H
#define COR_BENCH_DAEMON_H

#include "proc.h"

typedef struct bench_daemon {
    char what[96]; /* "cor-oms (oms-never)", for messages */
    cor_proc_t p;
    int up;
    char addr[64]; /* cor-oms: its listen address (bench_daemon_oms) */
    char log[256]; /* its stderr: set before starting */
} bench_daemon_t;

/* Starts argv with stderr appended to d->log (which the caller set) and
 * waits up to timeout_ms for its ready line. `what` names it in messages
 * (copied). Returns 0, or -1 with a message on stderr. */
int bench_daemon_start(bench_daemon_t *d, const char *what, char *const argv[], int timeout_ms);

/* Starts cor-oms (bin) on 127.0.0.1:0 with its store in data_dir and the
 * extra arguments (NULL-terminated, may be NULL); fills d->addr. */
int bench_daemon_oms(bench_daemon_t *d, const char *bin, const char *data_dir,
                     char *const extra[], int timeout_ms);

/* Stops with SIGTERM (20 s grace). Returns 0 when it exited 0 or was not
 * running, else -1 with a message naming its log. */
int bench_daemon_stop(bench_daemon_t *d);

#endif
