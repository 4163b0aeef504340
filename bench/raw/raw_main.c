/*
 * raw_main.c — cor-bench-raw: the raw gRPC C core baseline on its own.
 *
 * Design. Before gRPC is initialised in this process, one echo server per
 * transport (TCP loopback, unix socket) is forked, so client and server are
 * separate processes with their own gRPC threads, as they will be for the
 * Corundum runs. A child reports its bound port on a pipe and serves until
 * its control pipe reaches EOF, then stops cleanly and exits (so it can be
 * run under valgrind). The parent then measures, per transport and payload
 * (64 B, 4 KiB): p50/p99 at one call in flight and calls/s at 32 in flight;
 * and finally the in-process direct call with protobuf-c, in ns.
 *
 * Failure modes: a child that fails to start reports -1 and the run stops;
 * on every exit path the children are told to stop, given 10 s, then
 * killed, and always reaped. SIGINT/SIGTERM kill and reap them at once.
 * A child whose parent dies gets SIGKILL (PR_SET_PDEATHSIG).
 *
 * Usage: cor-bench-raw [--seconds S] [--calls N] [--server-threads N]
 *                      [--transport tcp|unix|both] [--quick]
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <grpc/grpc.h>

#include "bench_util.h"
#include "direct.h"
#include "raw_echo.h"

#define MAX_CHILDREN 2
#define CHILD_STOP_TIMEOUT_MS 10000

struct child {
    pid_t pid;
    int ctl_fd; /* write end; closing it tells the child to stop */
    int port;
};

static volatile sig_atomic_t child_pids[MAX_CHILDREN];
static char sock_path[108];

static void on_fatal_signal(int sig)
{
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (child_pids[i] > 0) {
            kill((pid_t)child_pids[i], SIGKILL);
            waitpid((pid_t)child_pids[i], NULL, 0);
        }
    }
    if (sock_path[0] != '\0')
        unlink(sock_path);
    _exit(128 + sig);
}

/* The child's whole life: serve addr until ctl_fd reaches EOF. */
static void child_main(const char *addr, int n_threads, int report_fd,
                       int ctl_fd)
{
    raw_server_t *srv = NULL;
    int port = -1;
    char c;

    signal(SIGINT, SIG_IGN); /* the parent decides */
    signal(SIGTERM, SIG_DFL);
    grpc_init();
    if (raw_server_start(addr, n_threads, &srv) == 0)
        port = raw_server_port(srv);
    else
        port = -1;
    if (write(report_fd, &port, sizeof(port)) != (ssize_t)sizeof(port))
        port = -1;
    close(report_fd);
    if (srv != NULL) {
        /* Nothing is ever written: wait for EOF (or an error). */
        for (;;) {
            ssize_t r = read(ctl_fd, &c, 1);

            if (r == 0 || (r < 0 && errno != EINTR))
                break;
        }
        raw_server_stop(srv);
    }
    close(ctl_fd);
    grpc_shutdown_blocking();
    _exit(port < 0 ? 1 : 0);
}

static int child_spawn(struct child *ch, int slot, const char *addr,
                       int n_threads)
{
    int report[2], ctl[2];
    pid_t parent = getpid();
    struct pollfd pfd;
    int port, rv = -1;

    ch->pid = -1;
    ch->ctl_fd = -1;
    if (pipe(report) != 0)
        return -1;
    if (pipe(ctl) != 0)
        goto out_report;
    fflush(NULL);
    ch->pid = fork();
    if (ch->pid < 0)
        goto out_ctl;
    if (ch->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        close(report[0]);
        close(ctl[1]);
        /* Drop write ends of control pipes of earlier children, so they
         * see EOF when the parent goes away. */
        for (int i = 3; i < 64; i++)
            if (i != report[1] && i != ctl[0])
                close(i);
        child_main(addr, n_threads, report[1], ctl[0]);
    }
    child_pids[slot] = ch->pid;
    close(report[1]);
    report[1] = -1;
    close(ctl[0]);
    ctl[0] = -1;
    ch->ctl_fd = ctl[1];
    ctl[1] = -1;

    pfd.fd = report[0];
    pfd.events = POLLIN;
    if (poll(&pfd, 1, 30000) != 1 ||
        read(report[0], &port, sizeof(port)) != (ssize_t)sizeof(port) ||
        port < 0) {
        fprintf(stderr, "cor-bench-raw: server on %s did not start\n", addr);
        goto out_ctl;
    }
    ch->port = port;
    rv = 0;
out_ctl:
    if (ctl[0] >= 0)
        close(ctl[0]);
    if (ctl[1] >= 0)
        close(ctl[1]);
out_report:
    close(report[0]);
    if (report[1] >= 0)
        close(report[1]);
    return rv;
}

/* Tell the child to stop, wait up to the timeout, then kill; always reap.
 * Returns the child's exit status, or -1 if it had to be killed or
 * died of a signal. */
static int child_reap(struct child *ch, int slot)
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
        if (waited >= CHILD_STOP_TIMEOUT_MS) {
            fprintf(stderr, "cor-bench-raw: server %d did not stop; "
                    "killing it\n", (int)ch->pid);
            kill(ch->pid, SIGKILL);
            waitpid(ch->pid, &status, 0);
            status = -1;
            break;
        }
        usleep(10000);
    }
    if (status >= 0 && WIFEXITED(status))
        rv = WEXITSTATUS(status);
    child_pids[slot] = 0;
    ch->pid = -1;
    return rv;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cor-bench-raw [--seconds S] [--calls N] "
            "[--server-threads N]\n"
            "                     [--transport tcp|unix|both] [--quick]\n"
            "  --seconds S         throughput run per row (default 3)\n"
            "  --calls N           latency samples per row (default 20000)\n"
            "  --server-threads N  server completion-queue threads "
            "(default 1)\n"
            "  --quick             short smoke run\n");
}

static void print_header(void)
{
    printf("%-9s %8s | %9s %9s %9s | %9s %9s %10s | %6s\n", "transport",
           "payload", "p50 us", "p99 us", "calls/s", "p50 us", "p99 us",
           "calls/s", "errors");
    printf("%-9s %8s | %29s | %30s |\n", "", "", "1 in flight",
           "32 in flight");
}

static int bench_transport(const char *name, const char *target,
                           int n_calls, int warmup, double seconds)
{
    static const size_t payloads[] = {64, 4096};
    raw_client_t *cli = NULL;
    int rv = -1;

    if (raw_client_new(target, &cli) != 0) {
        fprintf(stderr, "cor-bench-raw: no client for %s\n", target);
        return -1;
    }
    for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
        bench_result_t lat, thr;
        char pl[32];

        if (raw_bench_latency(cli, payloads[i], n_calls, warmup, &lat) != 0 ||
            raw_bench_throughput(cli, payloads[i], 32, seconds, &thr) != 0)
            goto out;
        if (payloads[i] >= 1024)
            snprintf(pl, sizeof(pl), "%zu KiB", payloads[i] / 1024);
        else
            snprintf(pl, sizeof(pl), "%zu B", payloads[i]);
        printf("%-9s %8s | %9.1f %9.1f %9.0f | %9.1f %9.1f %10.0f | %6ld\n",
               name, pl, lat.p50_us, lat.p99_us, lat.calls_per_sec,
               thr.p50_us, thr.p99_us, thr.calls_per_sec,
               lat.errors + thr.errors);
        fflush(stdout);
        if (lat.calls == 0 || thr.calls == 0)
            goto out; /* nothing got through: the server is not there */
    }
    rv = 0;
out:
    raw_client_free(cli);
    return rv;
}

static int bench_direct(int iters)
{
    direct_t *d;
    bench_result_t res;
    int rv = -1;

    if (direct_new(56, &d) != 0)
        return -1;
    if (bench_time_loop(direct_call, d, iters, &res) == 0) {
        printf("direct C call + protobuf-c pack/unpack of request and reply, "
               "%zu B: p50 %.0f ns, p99 %.0f ns, mean %.0f ns, "
               "%.0f calls/s, %ld errors\n",
               direct_packed_size(d), res.p50_ns, res.p99_ns, res.mean_ns,
               res.calls_per_sec, res.errors);
        rv = res.errors == 0 ? 0 : -1;
    }
    direct_free(d);
    return rv;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"seconds", required_argument, NULL, 's'},
        {"calls", required_argument, NULL, 'c'},
        {"server-threads", required_argument, NULL, 't'},
        {"transport", required_argument, NULL, 'T'},
        {"quick", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct child children[MAX_CHILDREN];
    struct sigaction sa;
    double seconds = 3;
    int n_calls = 20000, server_threads = 1, quick = 0;
    int use_tcp = 1, use_unix = 1, grpc_up = 0, rv = 1, o;
    char target[160];

    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 's': seconds = atof(optarg); break;
        case 'c': n_calls = atoi(optarg); break;
        case 't': server_threads = atoi(optarg); break;
        case 'T':
            use_tcp = strcmp(optarg, "unix") != 0;
            use_unix = strcmp(optarg, "tcp") != 0;
            break;
        case 'q': quick = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (quick) {
        seconds = 0.3;
        n_calls = 300;
    }
    if (seconds <= 0 || n_calls <= 0 || server_threads < 1 ||
        optind != argc) {
        usage(stderr);
        return 2;
    }
    for (int i = 0; i < MAX_CHILDREN; i++) {
        children[i].pid = -1;
        children[i].ctl_fd = -1;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* Fork the servers while this process has no gRPC state. */
    snprintf(sock_path, sizeof(sock_path), "/tmp/cor-bench-raw-%d.sock",
             (int)getpid());
    unlink(sock_path);
    if (use_tcp && child_spawn(&children[0], 0, "127.0.0.1:0",
                               server_threads) != 0)
        goto out;
    snprintf(target, sizeof(target), "unix:%s", sock_path);
    if (use_unix && child_spawn(&children[1], 1, target,
                                server_threads) != 0)
        goto out;

    grpc_init();
    grpc_up = 1;
    printf("cor-bench-raw: raw gRPC C core unary echo, server in a separate "
           "process with %d cq thread(s); %ld cpus; %d latency samples, "
           "%.1f s throughput runs\n\n",
           server_threads, sysconf(_SC_NPROCESSORS_ONLN), n_calls, seconds);
    print_header();
    if (use_tcp) {
        snprintf(target, sizeof(target), "127.0.0.1:%d", children[0].port);
        if (bench_transport("tcp", target, n_calls, n_calls / 10 + 50,
                            seconds) != 0)
            goto out;
    }
    if (use_unix) {
        snprintf(target, sizeof(target), "unix:%s", sock_path);
        if (bench_transport("unix", target, n_calls, n_calls / 10 + 50,
                            seconds) != 0)
            goto out;
    }
    printf("\n");
    if (bench_direct(quick ? 10000 : 1000000) != 0)
        goto out;
    rv = 0;
out:
    if (grpc_up)
        grpc_shutdown_blocking();
    for (int i = 0; i < MAX_CHILDREN; i++) {
        int st = child_reap(&children[i], i);

        if (st != 0) {
            fprintf(stderr, "cor-bench-raw: server child %d ended badly "
                    "(%d)\n", i, st);
            rv = 1;
        }
    }
    unlink(sock_path);
    return rv;
}
