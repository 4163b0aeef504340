/*
 * bench_child.c — forked server children for the benchmarks; see
 * bench_child.h.
 *
 * Two pipes per child: the report pipe carries one int from the child once
 * its server is up; the control pipe is never written, the child blocks
 * reading it and stops when it reaches EOF — which also happens when the
 * parent dies, so a child never outlives a crashed run by long (and
 * PR_SET_PDEATHSIG kills it outright). The child closes every other
 * inherited descriptor, so earlier children's control pipes are held only
 * by the parent.
 */
#include "bench_child.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define STOP_TIMEOUT_MS 10000
#define START_TIMEOUT_MS 30000
#define MAX_PATHS 16

static volatile sig_atomic_t child_pids[BENCH_CHILD_MAX];
static char paths[MAX_PATHS][108];
static volatile sig_atomic_t n_paths;

static void on_fatal_signal(int sig)
{
    for (int i = 0; i < BENCH_CHILD_MAX; i++) {
        if (child_pids[i] > 0) {
            kill((pid_t)child_pids[i], SIGKILL);
            waitpid((pid_t)child_pids[i], NULL, 0);
        }
    }
    for (int i = 0; i < n_paths; i++)
        unlink(paths[i]);
    _exit(128 + sig);
}

void bench_child_init(bench_child_t *ch, const char *name)
{
    ch->name = name;
    ch->pid = -1;
    ch->ctl_fd = -1;
    ch->slot = -1;
    ch->report = -1;
}

void bench_child_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

void bench_child_add_path(const char *path)
{
    if (n_paths < MAX_PATHS && strlen(path) < sizeof(paths[0])) {
        snprintf(paths[n_paths], sizeof(paths[0]), "%s", path);
        n_paths++;
    }
}

/* The child's whole life: start, report, serve until ctl_fd reaches EOF. */
static void child_main(const bench_server_ops_t *ops, void *arg,
                       int report_fd, int ctl_fd)
{
    void *state = NULL;
    int report;
    char c;

    signal(SIGINT, SIG_IGN); /* the parent decides */
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    report = ops->start(arg, &state);
    if (write(report_fd, &report, sizeof(report)) != (ssize_t)sizeof(report))
        report = -1;
    close(report_fd);
    if (report >= 0) {
        for (;;) {
            ssize_t r = read(ctl_fd, &c, 1);

            if (r == 0 || (r < 0 && errno != EINTR))
                break;
        }
        ops->stop(state);
    }
    close(ctl_fd);
    _exit(report < 0 ? 1 : 0);
}

int bench_child_spawn(bench_child_t *ch, const bench_server_ops_t *ops,
                      void *arg)
{
    int report_p[2] = {-1, -1}, ctl_p[2] = {-1, -1};
    pid_t parent = getpid();
    struct pollfd pfd;
    int slot = -1, report, rv = -1;

    for (int i = 0; i < BENCH_CHILD_MAX && slot < 0; i++)
        if (child_pids[i] == 0)
            slot = i;
    if (slot < 0 || pipe(report_p) != 0)
        return -1;
    if (pipe(ctl_p) != 0)
        goto out;
    fflush(NULL);
    ch->pid = fork();
    if (ch->pid < 0)
        goto out;
    if (ch->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        close(report_p[0]);
        close(ctl_p[1]);
        for (int fd = 3; fd < 1024; fd++)
            if (fd != report_p[1] && fd != ctl_p[0])
                close(fd);
        child_main(ops, arg, report_p[1], ctl_p[0]);
    }
    ch->slot = slot;
    child_pids[slot] = ch->pid;
    close(report_p[1]);
    report_p[1] = -1;
    close(ctl_p[0]);
    ctl_p[0] = -1;
    ch->ctl_fd = ctl_p[1];
    ctl_p[1] = -1;

    pfd.fd = report_p[0];
    pfd.events = POLLIN;
    if (poll(&pfd, 1, START_TIMEOUT_MS) != 1 ||
        read(report_p[0], &report, sizeof(report)) != (ssize_t)sizeof(report) ||
        report < 0) {
        fprintf(stderr, "bench: server %s did not start\n", ch->name);
        bench_child_reap(ch);
        goto out;
    }
    ch->report = report;
    rv = 0;
out:
    for (int i = 0; i < 2; i++) {
        if (report_p[i] >= 0)
            close(report_p[i]);
        if (ctl_p[i] >= 0)
            close(ctl_p[i]);
    }
    return rv;
}

int bench_child_reap(bench_child_t *ch)
{
    int status = 0, rv = -1;

    if (ch->ctl_fd >= 0)
        close(ch->ctl_fd);
    ch->ctl_fd = -1;
    if (ch->pid <= 0)
        return 0;
    for (int waited = 0;; waited += 10) {
        pid_t r = waitpid(ch->pid, &status, WNOHANG);

        if (r == ch->pid)
            break;
        if (r < 0 && errno != EINTR) {
            status = -1;
            break;
        }
        if (waited >= STOP_TIMEOUT_MS) {
            fprintf(stderr, "bench: server %s (%d) did not stop; killing it\n",
                    ch->name, (int)ch->pid);
            kill(ch->pid, SIGKILL);
            waitpid(ch->pid, &status, 0);
            status = -1;
            break;
        }
        usleep(10000);
    }
    if (status >= 0 && WIFEXITED(status))
        rv = WEXITSTATUS(status);
    if (ch->slot >= 0)
        child_pids[ch->slot] = 0;
    ch->slot = -1;
    ch->pid = -1;
    return rv;
}
