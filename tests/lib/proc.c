/*
 * proc.c — see proc.h.
 */
#include "proc.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cor_proc_start(cor_proc_t *p, char *const argv[], int timeout_ms)
{
    memset(p, 0, sizeof(*p));
    p->pid = -1;
    p->out_fd = -1;
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        /* Die with the test, so a crashed test leaves no daemons behind. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    p->pid = pid;
    p->out_fd = fds[0];
    size_t len = 0;
    long long deadline = now_ms() + timeout_ms;
    while (len < sizeof(p->ready) - 1) {
        long long left = deadline - now_ms();
        if (left <= 0)
            break;
        struct pollfd pfd = {.fd = p->out_fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)left) <= 0)
            continue;
        ssize_t n = read(p->out_fd, p->ready + len, 1);
        if (n <= 0)
            break;
        if (p->ready[len] == '\n') {
            p->ready[len] = '\0';
            if (strncmp(p->ready, "ready", 5) == 0)
                return 0;
            len = 0; /* some other line: keep reading */
            continue;
        }
        len++;
    }
    p->ready[len] = '\0';
    fprintf(stderr, "proc %s: no ready line (got '%s')\n", argv[0], p->ready);
    cor_proc_kill(p);
    return -1;
}

int cor_proc_field(const cor_proc_t *p, const char *key, char *buf, size_t len)
{
    size_t kl = strlen(key);
    const char *s = p->ready;
    while ((s = strstr(s, key)) != NULL) {
        if ((s == p->ready || s[-1] == ' ') && s[kl] == '=') {
            const char *v = s + kl + 1;
            size_t n = strcspn(v, " ");
            if (n >= len)
                n = len - 1;
            memcpy(buf, v, n);
            buf[n] = '\0';
            return 0;
        }
        s += kl;
    }
    return -1;
}

int cor_proc_stop(cor_proc_t *p, int sig, int timeout_ms)
{
    if (p->pid <= 0)
        return -1;
    kill(p->pid, sig);
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        int status;
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid) {
            p->pid = -1;
            close(p->out_fd);
            p->out_fd = -1;
            if (WIFEXITED(status))
                return WEXITSTATUS(status);
            return 128 + WTERMSIG(status);
        }
        if (now_ms() > deadline) {
            cor_proc_kill(p);
            return -1;
        }
        usleep(10 * 1000);
    }
}

void cor_proc_kill(cor_proc_t *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        p->pid = -1;
    }
    if (p->out_fd >= 0) {
        close(p->out_fd);
        p->out_fd = -1;
    }
}
