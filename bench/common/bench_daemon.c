/*
 * bench_daemon.c — the benchmarks' daemons; see bench_daemon.h.
 */
#include "bench_daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int bench_daemon_start(bench_daemon_t *d, const char *what, char *const argv[], int timeout_ms)
{
    snprintf(d->what, sizeof(d->what), "%s", what);
    d->up = 0;
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (saved < 0 || fd < 0) {
        fprintf(stderr, "bench: cannot open %s: %s\n", d->log, strerror(errno));
        if (saved >= 0)
            close(saved);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    dup2(fd, STDERR_FILENO);
    close(fd);
    int rc = cor_proc_start(&d->p, argv, timeout_ms);
    dup2(saved, STDERR_FILENO);
    close(saved);
    if (rc != 0) {
        fprintf(stderr, "bench: %s did not start; its log: %s\n", what, d->log);
        return -1;
    }
    d->up = 1;
    return 0;
}

int bench_daemon_oms(bench_daemon_t *d, const char *bin, const char *data_dir,
                     char *const extra[], int timeout_ms)
{
    char *argv[24] = {(char *)bin, (char *)"--listen", (char *)"127.0.0.1:0", (char *)"--data-dir",
                      (char *)data_dir};
    int n = 5;
    for (int i = 0; extra != NULL && extra[i] != NULL && n < 23; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    if (bench_daemon_start(d, d->what[0] ? d->what : "cor-oms", argv, timeout_ms) != 0)
        return -1;
    if (cor_proc_field(&d->p, "listen", d->addr, sizeof(d->addr)) != 0) {
        fprintf(stderr, "bench: %s: no listen= in '%s'\n", d->what, d->p.ready);
        return -1;
    }
    return 0;
}

int bench_daemon_stop(bench_daemon_t *d)
{
    if (!d->up)
        return 0;
    d->up = 0;
    int st = cor_proc_stop(&d->p, SIGTERM, 20000);
    if (st != 0) {
        fprintf(stderr, "bench: %s ended with status %d; its log: %s\n", d->what, st, d->log);
        return -1;
    }
    return 0;
}
