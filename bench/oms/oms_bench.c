/*
 * oms_bench.c — cor-bench-oms: the cluster core's control plane measured
 * against its targets, with the raw gRPC baseline in the same invocation.
 *
 * Design. Five sections, each selectable (--only):
 *
 *   lookup     Lookup calls/s against a real cor-oms (one cor-kernel, ~1000
 *              echo objects created through the OMS first) at 32 in flight,
 *              against bench/raw's echo server (a child forked before this
 *              process initialises gRPC) at 32 in flight. Rounds alternate
 *              raw, lookup, Ping (same server and client, no directory
 *              work: the transport's share) and the raw server driven by
 *              Corundum's client (the client's share), order reversed every
 *              other round; figures are medians of rounds and ratios the
 *              median of per-round ratios. Target: lookups >= 0.8 x raw.
 *   create     CreateObject (OMS -> kernel CreateReplica -> store write) at
 *              1 and 32 in flight, against two daemons: --sync never and
 *              --sync always, interleaved. Figures only, plus the cost of
 *              one write+fdatasync on this disk, which explains the gap.
 *   memory     In-process: a cor_runtime hosting 100k Echo objects; heap
 *              (mallinfo2: in-use + mmapped) and RSS (/proc/self/statm)
 *              growth per object, minus what the same number of Echo states
 *              (8-byte calloc each, as echo_create does) cost on their own.
 *              Target: <= 256 bytes beyond the object's own state.
 *   scaling    Lookup p50 at 1 in flight against two real cor-oms daemons,
 *              one whose directory holds 1k objects and one with 1M. The
 *              data directories are written through the embedded store's
 *              own API (store.h) with the records dir_store.c writes ("node/
 *              <name>" NodeInfo, "obj/<hex>" ObjectInfo naming that node), so
 *              the daemon loads them as it would after a restart; creating
 *              1M objects through kernels would take too long. Also an
 *              in-process oms_dir_lookup figure for both sizes (ns), which
 *              the gRPC path otherwise hides. Target: p50(1M)/p50(1k) <= 1.2.
 *   heartbeat  A cor-oms with 1000 nodes registered by this process, then
 *              1000 heartbeats/s (each node once a second, paced evenly,
 *              asynchronous) for 10 s; the daemon's CPU (utime+stime from
 *              /proc/PID/stat) over that window, and idle for comparison;
 *              then the same paced rate of raw echo calls with the raw
 *              server's CPU: what gRPC alone costs per call at this rate.
 *              Target: < 10 % of one core.
 *
 * All OMS calls use the runtime's own client (transport.h) with packed
 * requests on cor_method_paths[]: asynchronous calls whose callbacks (on the
 * client's one completion thread) issue the next call — the same shape as
 * raw_bench_throughput's single thread driving its queue.
 *
 * Daemons: the real cor-oms and cor-kernel binaries, started with
 * tests/lib/proc.c (which waits for their ready line); their stderr goes to
 * a log file in the run's temporary directory (printed on failure, kept
 * with --keep). Every reply is checked (the id asked for, known=true, ...).
 *
 * Failure modes: a daemon that does not start or a section that cannot run
 * ends that section with an error; failed or wrong calls are counted. The
 * exit code is 1 if any error happened, else 0; PASS/MISS never changes it.
 *
 * Usage: cor-bench-oms [--quick] [--only LIST] [--rounds N] [--seconds S]
 *                      [--in-flight N] [--objects N] [--scale-objects N]
 *                      [--hb-nodes N] [--hb-seconds S] [--mem-objects N]
 *                      [--oms-threads N] [--keep]
 *   LIST: comma-separated of lookup,create,memory,scaling,heartbeat
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <grpc/grpc.h>

#include <cor/cor.h>

#include "bench_daemon.h"
#include "bench_util.h"
#include "cor/oms.pb-c.h"
#include "directory.h"
#include "echo_class.h"
#include "proc.h"
#include "raw_echo.h"
#include "rpc.h"
#include "host.h"
#include "store.h"
#include "transport.h"

#define CALL_DEADLINE_MS 10000
#define DAEMON_START_MS 30000
#define SCALE_START_MS 600000 /* a 1M-object directory takes a while to load */
#define ECHO_CLASS "echo.Echo"
#define ECHO_STATE_BYTES 8 /* sizeof(echo_obj_t) in apps/echo/echo_class.c */
#define RAW_PAYLOAD 64
#define SCALE_NODE "scale-k1"

enum {
    SEC_LOOKUP = 1 << 0,
    SEC_CREATE = 1 << 1,
    SEC_MEMORY = 1 << 2,
    SEC_SCALING = 1 << 3,
    SEC_HEARTBEAT = 1 << 4,
    SEC_ALL = (1 << 5) - 1,
};

static const char *const section_names[] = {"lookup", "create", "memory", "scaling",
                                            "heartbeat"};

typedef struct cfg {
    int quick;
    unsigned sections;
    int rounds;
    double seconds;        /* per throughput run (lookup section) */
    int in_flight;
    int objects;           /* created through the OMS for the lookup section */
    int lat_calls;         /* per round, at 1 in flight */
    double create_seconds; /* per create run */
    long mem_objects;
    long scale_small, scale_large;
    int hb_nodes;
    double hb_seconds;
    int oms_threads; /* 0: the daemon's default */
    int keep;
} cfg_t;

/* Run-wide state. */
static char tmp_dir[128];
static cor_client_t *client;
static long total_errors;

static void error_count(long n)
{
    total_errors += n;
}

static const char *verdict(int pass)
{
    return pass ? "PASS" : "MISS";
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
    if (n <= 0)
        return 0;
    double *c = malloc((size_t)n * sizeof(*c));
    if (c == NULL)
        return 0;
    memcpy(c, v, (size_t)n * sizeof(*c));
    qsort(c, (size_t)n, sizeof(*c), cmp_double);
    double m = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
    free(c);
    return m;
}

/* ------------------------------------------------------------ raw child */

/* The raw echo server lives in a child forked before gRPC starts here
 * (gRPC's threads and locks do not survive fork). It reports its port on a
 * pipe and serves until its control pipe reaches EOF. */
typedef struct raw_child {
    pid_t pid;
    int ctl_fd;
    int port;
} raw_child_t;

static void raw_child_main(int report_fd, int ctl_fd)
{
    raw_server_t *srv = NULL;
    int port = -1;
    char c;
    signal(SIGINT, SIG_IGN);
    grpc_init();
    if (raw_server_start("127.0.0.1:0", 1, &srv) == 0)
        port = raw_server_port(srv);
    if (write(report_fd, &port, sizeof(port)) != (ssize_t)sizeof(port))
        port = -1;
    close(report_fd);
    if (srv != NULL) {
        for (;;) {
            ssize_t r = read(ctl_fd, &c, 1);
            if (r == 0 || (r < 0 && errno != EINTR))
                break;
        }
        raw_server_stop(srv);
    }
    grpc_shutdown_blocking();
    _exit(port < 0 ? 1 : 0);
}

static int raw_child_spawn(raw_child_t *ch)
{
    int report[2], ctl[2];
    pid_t parent = getpid();
    ch->pid = -1;
    ch->ctl_fd = -1;
    if (pipe(report) != 0)
        return -1;
    if (pipe(ctl) != 0) {
        close(report[0]);
        close(report[1]);
        return -1;
    }
    fflush(NULL);
    ch->pid = fork();
    if (ch->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        close(report[0]);
        close(ctl[1]);
        raw_child_main(report[1], ctl[0]);
    }
    close(report[1]);
    close(ctl[0]);
    ch->ctl_fd = ctl[1];
    int port = -1;
    struct pollfd pfd = {.fd = report[0], .events = POLLIN};
    if (ch->pid < 0 || poll(&pfd, 1, 30000) != 1 ||
        read(report[0], &port, sizeof(port)) != (ssize_t)sizeof(port) || port < 0) {
        close(report[0]);
        fprintf(stderr, "cor-bench-oms: the raw echo server did not start\n");
        return -1;
    }
    close(report[0]);
    ch->port = port;
    return 0;
}

/* Returns the child's exit status, -1 if it had to be killed. */
static int raw_child_reap(raw_child_t *ch)
{
    int status = 0;
    if (ch->ctl_fd >= 0)
        close(ch->ctl_fd);
    ch->ctl_fd = -1;
    if (ch->pid <= 0)
        return 0;
    for (int waited = 0;; waited += 10) {
        pid_t r = waitpid(ch->pid, &status, WNOHANG);
        if (r == ch->pid)
            break;
        if (waited >= 10000 || (r < 0 && errno != EINTR)) {
            kill(ch->pid, SIGKILL);
            waitpid(ch->pid, &status, 0);
            ch->pid = -1;
            return -1;
        }
        usleep(10000);
    }
    ch->pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ------------------------------------------------------------ daemons */

typedef bench_daemon_t daemon_t;

static int daemon_start(daemon_t *d, const char *what, char *const argv[], int timeout_ms)
{
    return bench_daemon_start(d, what, argv, timeout_ms);
}

/* A daemon that does not exit 0 is an error. */
static void daemon_stop(daemon_t *d)
{
    if (bench_daemon_stop(d) != 0)
        error_count(1);
}

static int oms_start(daemon_t *d, const cfg_t *cfg, const char *tag, const char *sync,
                     int timeout_ms)
{
    char data[256], threads[16];
    snprintf(data, sizeof(data), "%s/%s-data", tmp_dir, tag);
    snprintf(d->log, sizeof(d->log), "%s/%s.log", tmp_dir, tag);
    snprintf(threads, sizeof(threads), "%d", cfg->oms_threads);
    snprintf(d->what, sizeof(d->what), "cor-oms (%s)", tag);
    char *extra[5] = {(char *)"--sync", (char *)sync};
    if (cfg->oms_threads > 0) {
        extra[2] = (char *)"--threads";
        extra[3] = threads;
    }
    return bench_daemon_oms(d, COR_OMS_BIN, data, extra, timeout_ms);
}

static int kernel_start(daemon_t *d, const char *tag, const char *oms_addr)
{
    char name[64], sock[200];
    snprintf(name, sizeof(name), "bench-%s", tag);
    snprintf(sock, sizeof(sock), "%s/%s.sock", tmp_dir, tag);
    snprintf(d->log, sizeof(d->log), "%s/%s.log", tmp_dir, tag);
    char *argv[] = {(char *)COR_KERNEL_BIN, (char *)"--oms", (char *)oms_addr, (char *)"--name",
                    name, (char *)"--builtin", (char *)"echo", (char *)"--unix", sock, NULL};
    char what[96];
    snprintf(what, sizeof(what), "cor-kernel (%s)", tag);
    return daemon_start(d, what, argv, DAEMON_START_MS);
}

/* utime+stime of a process in seconds, or -1. */
static double proc_cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (p == NULL)
        return -1;
    unsigned long long ut = 0, st = 0;
    /* After ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime(14) stime(15). */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long proc_rss_kib(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
    FILE *f = fopen(path, "r");
    long pages = 0, rss = 0;
    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
        rss = 0;
    fclose(f);
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ------------------------------------------------------------ call driver */

/* Drives asynchronous calls of one method at one peer. Closed loop: each
 * completion issues the next call until stop_at (ns) or max_issue calls.
 * Paced: the caller issues (drv_issue_paced) and completions do not. The
 * request of call `which` is reqs[which % n_reqs] (a slice reference per
 * call); check() validates the reply. Latencies between count_from and
 * stop_at are recorded. Callbacks run on the client's completion thread. */
typedef struct drv drv_t;

typedef int (*drv_check_fn)(void *arg, size_t which, const uint8_t *reply, size_t len,
                            char *why, size_t wlen);

typedef struct drv_slot {
    drv_t *d;
    uint64_t t0;
    size_t which;
    int owned; /* paced calls: freed by the callback */
} drv_slot_t;

struct drv {
    cor_client_t *cli;
    cor_peer_t *peer;
    unsigned method;
    const grpc_slice *reqs;
    size_t n_reqs;
    drv_check_fn check;
    void *arg;
    int paced;
    uint64_t count_from, stop_at;
    long max_issue; /* 0: no cap */
    atomic_long issued;
    atomic_long errors;
    long done;       /* completion thread only, read after the run */
    bench_rec_t rec; /* completion thread only, read after the run */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int outstanding;
    char why[256]; /* the first error, under lock */
};

static void drv_error(drv_t *d, const char *why)
{
    atomic_fetch_add(&d->errors, 1);
    pthread_mutex_lock(&d->lock);
    if (d->why[0] == '\0')
        snprintf(d->why, sizeof(d->why), "%s", why);
    pthread_mutex_unlock(&d->lock);
}

static void drv_done(void *arg, int code, const char *msg, const cor_redirect_t *moved,
                     const uint8_t *reply, size_t len);

/* Sends call s->which. Returns 0, or -1 (counted as an error). */
static int drv_send(drv_slot_t *s)
{
    drv_t *d = s->d;
    s->t0 = bench_now_ns();
    int rc = cor_client_call_async(d->cli, d->peer, d->method,
                                   grpc_slice_ref(d->reqs[s->which % d->n_reqs]),
                                   CALL_DEADLINE_MS, drv_done, s);
    if (rc != 0) {
        char why[128];
        snprintf(why, sizeof(why), "could not start a call: %s", cor_strerror(rc));
        drv_error(d, why);
        return -1;
    }
    return 0;
}

/* Closed loop: the next call on slot s, if the run goes on. 0: sent. */
static int drv_next(drv_slot_t *s)
{
    drv_t *d = s->d;
    if (d->stop_at != 0 && bench_now_ns() >= d->stop_at)
        return -1;
    long seq = atomic_fetch_add(&d->issued, 1);
    if (d->max_issue > 0 && seq >= d->max_issue)
        return -1;
    s->which = (size_t)seq;
    return drv_send(s);
}

static void drv_done(void *arg, int code, const char *msg, const cor_redirect_t *moved,
                     const uint8_t *reply, size_t len)
{
    drv_slot_t *s = arg;
    drv_t *d = s->d;
    uint64_t t1 = bench_now_ns();
    char why[256];
    if (code != 0) {
        snprintf(why, sizeof(why), "%s: %s", cor_error_name(code), msg);
        drv_error(d, why);
    } else if (d->check != NULL && d->check(d->arg, s->which, reply, len, why, sizeof(why)) != 0) {
        drv_error(d, why);
    } else if (t1 >= d->count_from && (d->stop_at == 0 || t1 <= d->stop_at)) {
        d->done++;
        if (bench_rec_add(&d->rec, t1 - s->t0) != 0)
            drv_error(d, "out of memory recording a latency");
    }
    if (!d->paced && drv_next(s) == 0)
        return;
    if (s->owned)
        free(s);
    pthread_mutex_lock(&d->lock);
    if (--d->outstanding == 0)
        pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

static int drv_init_on(drv_t *d, cor_client_t *cli, const char *target, unsigned method,
                       const grpc_slice *reqs, size_t n_reqs, drv_check_fn check, void *arg)
{
    memset(d, 0, sizeof(*d));
    d->cli = cli;
    d->peer = cor_client_peer(cli, target);
    d->method = method;
    d->reqs = reqs;
    d->n_reqs = n_reqs;
    d->check = check;
    d->arg = arg;
    atomic_init(&d->issued, 0);
    atomic_init(&d->errors, 0);
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->cond, NULL);
    if (d->peer == NULL || n_reqs == 0 || bench_rec_init(&d->rec, 1u << 16) != 0)
        return -1;
    return 0;
}

/* Waits for every call; returns -1 if they do not finish in time (then the
 * driver must not be freed: callbacks may still come). */
static int drv_wait(drv_t *d, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    int rc = 0;
    pthread_mutex_lock(&d->lock);
    while (d->outstanding > 0 && rc == 0)
        rc = pthread_cond_timedwait(&d->cond, &d->lock, &ts);
    int left = d->outstanding;
    pthread_mutex_unlock(&d->lock);
    if (left > 0) {
        fprintf(stderr, "cor-bench-oms: %d calls still outstanding after %d ms\n", left,
                timeout_ms);
        return -1;
    }
    return 0;
}

/* A driver on the run's client (cor_method_paths). */
static int drv_init(drv_t *d, const char *target, unsigned method, const grpc_slice *reqs,
                    size_t n_reqs, drv_check_fn check, void *arg)
{
    return drv_init_on(d, client, target, method, reqs, n_reqs, check, arg);
}

static void drv_close(drv_t *d)
{
    bench_rec_close(&d->rec);
    pthread_mutex_destroy(&d->lock);
    pthread_cond_destroy(&d->cond);
}

/* Closed loop with in_flight calls for `seconds` (first tenth warm-up), or,
 * with seconds == 0, exactly max_issue calls. Fills res (calls/s over the
 * counted window, or over the whole run for a counted run). */
static int drv_run(drv_t *d, int in_flight, double seconds, long max_issue, bench_result_t *res)
{
    memset(res, 0, sizeof(*res));
    drv_slot_t *slots = calloc((size_t)in_flight, sizeof(*slots));
    if (slots == NULL)
        return -1;
    uint64_t begin = bench_now_ns();
    d->paced = 0;
    d->max_issue = max_issue;
    d->count_from = seconds > 0 ? begin + (uint64_t)(seconds * 0.1e9) : begin;
    d->stop_at = seconds > 0 ? begin + (uint64_t)(seconds * 1e9) : 0;
    d->outstanding = in_flight;
    int started = 0;
    for (int i = 0; i < in_flight; i++) {
        slots[i].d = d;
        if (drv_next(&slots[i]) == 0) {
            started++;
            continue;
        }
        pthread_mutex_lock(&d->lock);
        d->outstanding--;
        pthread_mutex_unlock(&d->lock);
    }
    int timeout = (int)(seconds * 1000) + CALL_DEADLINE_MS + 30000;
    if (seconds == 0)
        timeout = 600000;
    if (drv_wait(d, timeout) != 0)
        return -1; /* slots leak: callbacks may still use them */
    uint64_t end = bench_now_ns();
    free(slots);
    bench_rec_summarise(&d->rec, res);
    res->calls = d->done;
    res->errors = atomic_load(&d->errors);
    uint64_t window = seconds > 0 ? d->stop_at - d->count_from : end - begin;
    res->calls_per_sec = window ? (double)d->done * 1e9 / (double)window : 0;
    (void)started;
    return 0;
}

/* Paced: one call for `which`, counted in outstanding. */
static int drv_issue_paced(drv_t *d, size_t which)
{
    drv_slot_t *s = malloc(sizeof(*s));
    if (s == NULL) {
        drv_error(d, "out of memory");
        return -1;
    }
    s->d = d;
    s->which = which;
    s->owned = 1;
    pthread_mutex_lock(&d->lock);
    d->outstanding++;
    pthread_mutex_unlock(&d->lock);
    if (drv_send(s) != 0) {
        free(s);
        pthread_mutex_lock(&d->lock);
        d->outstanding--;
        pthread_mutex_unlock(&d->lock);
        return -1;
    }
    return 0;
}

static void drv_report_errors(drv_t *d, const char *what)
{
    long e = atomic_load(&d->errors);
    if (e > 0) {
        fprintf(stderr, "cor-bench-oms: %s: %ld errors; first: %s\n", what, e, d->why);
        error_count(e);
    }
}

/* ------------------------------------------------------------ messages */

static grpc_slice pack_slice(const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    grpc_slice s = grpc_slice_malloc(n);
    protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
    return s;
}

static grpc_slice lookup_req(const cor_object_id_t *id)
{
    Cor__LookupRequest req = COR__LOOKUP_REQUEST__INIT;
    req.id.data = (uint8_t *)id->b;
    req.id.len = COR_OBJECT_ID_BYTES;
    return pack_slice(&req.base);
}

/* Lookups: reqs[i] asks for ids[i]; the reply must name that object and
 * have an active replica. */
typedef struct lookup_set {
    cor_object_id_t *ids;
    grpc_slice *reqs;
    size_t n;
} lookup_set_t;

static int lookup_check(void *arg, size_t which, const uint8_t *reply, size_t len, char *why,
                        size_t wlen)
{
    lookup_set_t *ls = arg;
    cor_arena_t a;
    cor_arena_init(&a, 1u << 20);
    int rc = -1;
    Cor__LookupReply *r =
        (Cor__LookupReply *)protobuf_c_message_unpack(&cor__lookup_reply__descriptor, &a.pb, len,
                                                      reply);
    if (r == NULL || r->object == NULL)
        snprintf(why, wlen, "lookup reply without an object");
    else if (r->object->id.len != COR_OBJECT_ID_BYTES ||
             memcmp(r->object->id.data, ls->ids[which % ls->n].b, COR_OBJECT_ID_BYTES) != 0)
        snprintf(why, wlen, "lookup answered for another object");
    else if (r->object->n_replicas < 1 || r->object->replicas[0]->tcp_address[0] == '\0')
        snprintf(why, wlen, "lookup reply has no replica address");
    else
        rc = 0;
    cor_arena_close(&a);
    return rc;
}

static int lookup_set_init(lookup_set_t *ls, const cor_object_id_t *ids, size_t n)
{
    ls->n = n;
    ls->ids = malloc(n * sizeof(*ls->ids));
    ls->reqs = malloc(n * sizeof(*ls->reqs));
    if (ls->ids == NULL || ls->reqs == NULL) {
        free(ls->ids);
        free(ls->reqs);
        ls->ids = NULL;
        ls->reqs = NULL;
        return -1;
    }
    memcpy(ls->ids, ids, n * sizeof(*ids));
    for (size_t i = 0; i < n; i++)
        ls->reqs[i] = lookup_req(&ls->ids[i]);
    return 0;
}

static void lookup_set_close(lookup_set_t *ls)
{
    for (size_t i = 0; ls->reqs != NULL && i < ls->n; i++)
        grpc_slice_unref(ls->reqs[i]);
    free(ls->reqs);
    free(ls->ids);
    ls->reqs = NULL;
    ls->ids = NULL;
}

/* One lookup at 1 in flight on the calling thread; returns its latency in
 * ns, or 0 on error (counted). */
static uint64_t lookup_sync(cor_peer_t *peer, lookup_set_t *ls, size_t which)
{
    grpc_slice out;
    cor_error_t err;
    char why[256];
    uint64_t t0 = bench_now_ns();
    int rc = cor_client_call(client, peer, COR_M_OMS_LOOKUP, grpc_slice_ref(ls->reqs[which]),
                             CALL_DEADLINE_MS, &out, &err, NULL);
    uint64_t t1 = bench_now_ns();
    if (rc != 0) {
        fprintf(stderr, "cor-bench-oms: lookup: %s\n", err.msg);
        error_count(1);
        return 0;
    }
    rc = lookup_check(ls, which, GRPC_SLICE_START_PTR(out), GRPC_SLICE_LENGTH(out), why,
                      sizeof(why));
    grpc_slice_unref(out);
    if (rc != 0) {
        fprintf(stderr, "cor-bench-oms: lookup: %s\n", why);
        error_count(1);
        return 0;
    }
    return t1 - t0;
}

/* Latency at 1 in flight over n lookups of random objects of ls. */
static int lookup_latency(const char *target, lookup_set_t *ls, int n, int warmup,
                          bench_result_t *res, unsigned *seed)
{
    cor_peer_t *peer = cor_client_peer(client, target);
    bench_rec_t rec;
    memset(res, 0, sizeof(*res));
    if (peer == NULL || bench_rec_init(&rec, (size_t)n) != 0)
        return -1;
    uint64_t begin = 0;
    for (int i = 0; i < warmup + n; i++) {
        if (i == warmup)
            begin = bench_now_ns();
        size_t which = (size_t)rand_r(seed) % ls->n;
        uint64_t ns = lookup_sync(peer, ls, which);
        if (ns == 0)
            res->errors++;
        else if (i >= warmup) {
            res->calls++;
            bench_rec_add(&rec, ns);
        }
    }
    uint64_t end = bench_now_ns();
    bench_rec_summarise(&rec, res);
    res->calls_per_sec = (double)res->calls * 1e9 / (double)(end - begin);
    bench_rec_close(&rec);
    return 0;
}

/* Creates: the reply must carry a 16-byte id, which is kept. */
typedef struct create_ctx {
    cor_object_id_t *ids; /* room for cap */
    size_t cap;
    atomic_size_t n;
} create_ctx_t;

static int create_check(void *arg, size_t which, const uint8_t *reply, size_t len, char *why,
                        size_t wlen)
{
    create_ctx_t *cc = arg;
    Cor__CreateObjectReply *r = cor__create_object_reply__unpack(NULL, len, reply);
    int rc = -1;
    if (r == NULL || r->object == NULL || r->object->id.len != COR_OBJECT_ID_BYTES) {
        snprintf(why, wlen, "create reply without an object id");
    } else {
        rc = 0;
        if (cc != NULL && cc->ids != NULL) {
            size_t i = atomic_fetch_add(&cc->n, 1);
            if (i < cc->cap)
                memcpy(cc->ids[i].b, r->object->id.data, COR_OBJECT_ID_BYTES);
        }
    }
    if (r != NULL)
        cor__create_object_reply__free_unpacked(r, NULL);
    return rc;
}

static grpc_slice create_req(void)
{
    Cor__CreateObjectRequest req = COR__CREATE_OBJECT_REQUEST__INIT;
    req.class_name = (char *)ECHO_CLASS;
    return pack_slice(&req.base);
}

/* n objects through the OMS at in_flight; their ids into ids[]. */
static int create_objects(const char *oms, int n, int in_flight, cor_object_id_t *ids)
{
    grpc_slice req = create_req();
    create_ctx_t cc = {.ids = ids, .cap = (size_t)n};
    atomic_init(&cc.n, 0);
    drv_t d;
    bench_result_t res;
    int rc = -1;
    if (drv_init(&d, oms, COR_M_OMS_CREATE_OBJECT, &req, 1, create_check, &cc) == 0 &&
        drv_run(&d, in_flight, 0, n, &res) == 0) {
        drv_report_errors(&d, "creating objects");
        rc = atomic_load(&cc.n) == (size_t)n ? 0 : -1;
        drv_close(&d);
    }
    grpc_slice_unref(req);
    return rc;
}

/* ------------------------------------------------------------ 1. lookup */

static int raw_check(void *arg, size_t which, const uint8_t *reply, size_t len, char *why,
                     size_t wlen)
{
    for (size_t i = 0; i < len; i++)
        if (reply[i] != 'r') {
            snprintf(why, wlen, "raw echo answered other bytes");
            return -1;
        }
    if (len != RAW_PAYLOAD) {
        snprintf(why, wlen, "raw echo answered %zu bytes, not %d", len, RAW_PAYLOAD);
        return -1;
    }
    return 0;
}

static int ping_check(void *arg, size_t which, const uint8_t *reply, size_t len, char *why,
                      size_t wlen)
{
    Cor__PingReply *r = cor__ping_reply__unpack(NULL, len, reply);
    int rc = r != NULL && r->version[0] != '\0' ? 0 : -1;
    if (rc != 0)
        snprintf(why, wlen, "ping reply without a version");
    if (r != NULL)
        cor__ping_reply__free_unpacked(r, NULL);
    return rc;
}

static int sec_lookup(const cfg_t *cfg, const char *oms, const cor_object_id_t *ids, size_t n,
                      int raw_port)
{
    printf("\n== 1. OMS lookups vs raw gRPC echo: %zu objects on one kernel; %d in flight; "
           "%d rounds of %.1f s each ==\n",
           n, cfg->in_flight, cfg->rounds, cfg->seconds);
    char raw_target[64];
    snprintf(raw_target, sizeof(raw_target), "127.0.0.1:%d", raw_port);
    raw_client_t *raw = NULL;
    lookup_set_t ls = {0};
    int rv = -1;
    double *raw_r = calloc((size_t)cfg->rounds, sizeof(double));
    double *lk_r = calloc((size_t)cfg->rounds, sizeof(double));
    double *ratio = calloc((size_t)cfg->rounds, sizeof(double));
    double *raw_p50 = calloc((size_t)cfg->rounds, sizeof(double));
    double *lk_p50 = calloc((size_t)cfg->rounds, sizeof(double));
    double *raw_l50 = calloc((size_t)cfg->rounds, sizeof(double));
    double *lk_l50 = calloc((size_t)cfg->rounds, sizeof(double));
    double *ping_r = calloc((size_t)cfg->rounds, sizeof(double));
    double *ping_ratio = calloc((size_t)cfg->rounds, sizeof(double));
    double *rawc_r = calloc((size_t)cfg->rounds, sizeof(double));
    double *rawc_ratio = calloc((size_t)cfg->rounds, sizeof(double));
    Cor__PingRequest preq = COR__PING_REQUEST__INIT;
    grpc_slice ping = pack_slice(&preq.base);
    grpc_slice rawp = grpc_slice_malloc(RAW_PAYLOAD);
    memset(GRPC_SLICE_START_PTR(rawp), 'r', RAW_PAYLOAD);
    const char *raw_paths[] = {RAW_ECHO_METHOD};
    cor_client_t *raw_cli = NULL;
    cor_error_t err;
    if (cor_client_new(raw_paths, 1, NULL, &raw_cli, &err) != 0) {
        fprintf(stderr, "cor-bench-oms: %s\n", err.msg);
        goto out;
    }
    if (!rawc_r || !rawc_ratio || !ping_r || !ping_ratio || !raw_r || !lk_r || !ratio || !raw_p50 || !lk_p50 || !raw_l50 || !lk_l50 ||
        raw_client_new(raw_target, &raw) != 0 || lookup_set_init(&ls, ids, n) != 0) {
        fprintf(stderr, "cor-bench-oms: lookup section: setup failed\n");
        error_count(1);
        goto out;
    }
    printf("%-6s | %10s %7s | %10s %7s | %5s | %9s %5s | %9s %5s || %7s %7s\n", "", "raw",
           "", "lookup", "", "", "ping", "", "raw+corcli", "", "1 in fl", "ight");
    printf("%-6s | %10s %7s | %10s %7s | %5s | %9s %5s | %9s %5s || %7s %7s\n", "round",
           "calls/s", "p50 us", "calls/s", "p50 us", "ratio", "calls/s", "ratio", "calls/s",
           "ratio", "raw p50", "lkp p50");
    unsigned seed = 12345;
    for (int r = 0; r < cfg->rounds; r++) {
        bench_result_t rt = {0}, lt = {0}, rl = {0}, ll = {0};
        drv_t d;
        for (int k = 0; k < 4; k++) {
            /* raw, lookup, ping, raw server with Corundum's client;
             * reversed every other round */
            int which = r % 2 == 0 ? k : 3 - k;
            if (which == 3) {
                bench_result_t ct;
                if (drv_init_on(&d, raw_cli, raw_target, 0, &rawp, 1, raw_check, NULL) != 0 ||
                    drv_run(&d, cfg->in_flight, cfg->seconds, 0, &ct) != 0)
                    goto out;
                drv_report_errors(&d, "raw echo with Corundum's client");
                drv_close(&d);
                rawc_r[r] = ct.calls_per_sec;
            } else if (which == 2) {
                bench_result_t pt;
                if (drv_init(&d, oms, COR_M_OMS_PING, &ping, 1, ping_check, NULL) != 0 ||
                    drv_run(&d, cfg->in_flight, cfg->seconds, 0, &pt) != 0)
                    goto out;
                drv_report_errors(&d, "pings");
                drv_close(&d);
                ping_r[r] = pt.calls_per_sec;
            } else if (which == 0) {
                if (raw_bench_throughput(raw, RAW_PAYLOAD, cfg->in_flight, cfg->seconds, &rt) != 0 ||
                    raw_bench_latency(raw, RAW_PAYLOAD, cfg->lat_calls, cfg->lat_calls / 10 + 20,
                                      &rl) != 0)
                    goto out;
                error_count(rt.errors + rl.errors);
            } else {
                if (drv_init(&d, oms, COR_M_OMS_LOOKUP, ls.reqs, ls.n, lookup_check, &ls) != 0 ||
                    drv_run(&d, cfg->in_flight, cfg->seconds, 0, &lt) != 0)
                    goto out;
                drv_report_errors(&d, "lookups");
                drv_close(&d);
                if (lookup_latency(oms, &ls, cfg->lat_calls, cfg->lat_calls / 10 + 20, &ll,
                                   &seed) != 0)
                    goto out;
            }
        }
        raw_r[r] = rt.calls_per_sec;
        lk_r[r] = lt.calls_per_sec;
        ratio[r] = rt.calls_per_sec > 0 ? lt.calls_per_sec / rt.calls_per_sec : 0;
        raw_p50[r] = rt.p50_us;
        lk_p50[r] = lt.p50_us;
        raw_l50[r] = rl.p50_us;
        lk_l50[r] = ll.p50_us;
        ping_ratio[r] = rt.calls_per_sec > 0 ? ping_r[r] / rt.calls_per_sec : 0;
        rawc_ratio[r] = rt.calls_per_sec > 0 ? rawc_r[r] / rt.calls_per_sec : 0;
        printf("%-6d | %10.0f %7.1f | %10.0f %7.1f | %5.2f | %9.0f %5.2f | %9.0f %5.2f || %7.1f "
               "%7.1f\n",
               r + 1, raw_r[r], raw_p50[r], lk_r[r], lk_p50[r], ratio[r], ping_r[r],
               ping_ratio[r], rawc_r[r], rawc_ratio[r], raw_l50[r], lk_l50[r]);
        fflush(stdout);
    }
    double m_ratio = median(ratio, cfg->rounds);
    printf("%-6s | %10.0f %7.1f | %10.0f %7.1f | %5.2f | %9.0f %5.2f | %9.0f %5.2f || %7.1f "
           "%7.1f\n",
           "median", median(raw_r, cfg->rounds), median(raw_p50, cfg->rounds),
           median(lk_r, cfg->rounds), median(lk_p50, cfg->rounds), m_ratio,
           median(ping_r, cfg->rounds), median(ping_ratio, cfg->rounds),
           median(rawc_r, cfg->rounds), median(rawc_ratio, cfg->rounds),
           median(raw_l50, cfg->rounds), median(lk_l50, cfg->rounds));
    printf("(ratios are to raw in the same round. ping: the OMS's Ping, same server and client, "
           "no directory work. raw+corcli: the raw server driven by Corundum's client — the "
           "client's share.)\n");
    printf("target: lookups/s >= 0.80 x raw echo/s at %d in flight: %s (%.2f x; median of "
           "per-round ratios)\n",
           cfg->in_flight, verdict(m_ratio >= 0.8), m_ratio);
    printf("RESULT lookup_ratio=%.3f lookups_per_sec=%.0f raw_per_sec=%.0f ping_ratio=%.3f "
           "raw_corcli_ratio=%.3f\n",
           m_ratio, median(lk_r, cfg->rounds), median(raw_r, cfg->rounds),
           median(ping_ratio, cfg->rounds), median(rawc_ratio, cfg->rounds));
    rv = 0;
out:
    if (rv != 0)
        error_count(1);
    lookup_set_close(&ls);
    raw_client_free(raw);
    free(raw_r);
    free(lk_r);
    free(ratio);
    free(raw_p50);
    free(lk_p50);
    free(raw_l50);
    free(lk_l50);
    free(ping_r);
    free(ping_ratio);
    free(rawc_r);
    free(rawc_ratio);
    grpc_slice_unref(ping);
    grpc_slice_unref(rawp);
    cor_client_free(raw_cli);
    return rv;
}

/* ------------------------------------------------------------ 2. create */

/* write(200 B) + fdatasync on the disk holding tmp_dir: what one
 * --sync always store write costs at least. */
static double fsync_p50_us(int n)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/fsync-probe", tmp_dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    bench_rec_t rec;
    bench_result_t res;
    char buf[200];
    memset(buf, 'x', sizeof(buf));
    if (bench_rec_init(&rec, (size_t)n) != 0) {
        close(fd);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        uint64_t t0 = bench_now_ns();
        if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf) || fdatasync(fd) != 0)
            break;
        bench_rec_add(&rec, bench_now_ns() - t0);
    }
    bench_rec_summarise(&rec, &res);
    bench_rec_close(&rec);
    close(fd);
    unlink(path);
    return res.p50_us;
}

static int create_run(const char *oms, int in_flight, double seconds, bench_result_t *res)
{
    grpc_slice req = create_req();
    drv_t d;
    int rc = -1;
    if (drv_init(&d, oms, COR_M_OMS_CREATE_OBJECT, &req, 1, create_check, NULL) == 0 &&
        drv_run(&d, in_flight, seconds, 0, res) == 0) {
        drv_report_errors(&d, "creates");
        drv_close(&d);
        rc = 0;
    }
    grpc_slice_unref(req);
    return rc;
}

static int sec_create(const cfg_t *cfg, const char *oms_never, const char *oms_always)
{
    printf("\n== 2. Object creations through the OMS (CreateObject -> kernel CreateReplica -> "
           "store write); %d rounds of %.1f s per run ==\n",
           cfg->rounds, cfg->create_seconds);
    const char *targets[2] = {oms_never, oms_always};
    const char *names[2] = {"never", "always"};
    const int inflight[2] = {1, cfg->in_flight};
    /* [sync][inflight][round] */
    double *rate[2][2] = {{NULL}}, *p50[2][2] = {{NULL}}, *p99[2][2] = {{NULL}};
    int rv = -1;
    for (int s = 0; s < 2; s++)
        for (int f = 0; f < 2; f++) {
            rate[s][f] = calloc((size_t)cfg->rounds, sizeof(double));
            p50[s][f] = calloc((size_t)cfg->rounds, sizeof(double));
            p99[s][f] = calloc((size_t)cfg->rounds, sizeof(double));
            if (!rate[s][f] || !p50[s][f] || !p99[s][f])
                goto out;
        }
    for (int r = 0; r < cfg->rounds; r++) {
        for (int k = 0; k < 4; k++) {
            int idx = r % 2 ? 3 - k : k;
            int s = idx % 2, f = idx / 2;
            bench_result_t res;
            if (create_run(targets[s], inflight[f], cfg->create_seconds, &res) != 0)
                goto out;
            rate[s][f][r] = res.calls_per_sec;
            p50[s][f][r] = res.p50_us;
            p99[s][f][r] = res.p99_us;
        }
    }
    printf("%-8s %-10s | %12s %10s %10s\n", "--sync", "in flight", "creates/s", "p50 us",
           "p99 us");
    for (int s = 0; s < 2; s++)
        for (int f = 0; f < 2; f++)
            printf("%-8s %-10d | %12.0f %10.1f %10.1f\n", names[s], inflight[f],
                   median(rate[s][f], cfg->rounds), median(p50[s][f], cfg->rounds),
                   median(p99[s][f], cfg->rounds));
    printf("(medians of %d rounds; no target)\n", cfg->rounds);
    printf("this disk: write(200 B) + fdatasync p50 %.1f us\n", fsync_p50_us(cfg->quick ? 20 : 200));
    printf("RESULT create_never_1=%.0f create_never_n=%.0f create_always_1=%.0f "
           "create_always_n=%.0f create_never_p50_us=%.1f create_always_p50_us=%.1f\n",
           median(rate[0][0], cfg->rounds), median(rate[0][1], cfg->rounds),
           median(rate[1][0], cfg->rounds), median(rate[1][1], cfg->rounds),
           median(p50[0][0], cfg->rounds), median(p50[1][0], cfg->rounds));
    rv = 0;
out:
    if (rv != 0)
        error_count(1);
    for (int s = 0; s < 2; s++)
        for (int f = 0; f < 2; f++) {
            free(rate[s][f]);
            free(p50[s][f]);
            free(p99[s][f]);
        }
    return rv;
}

/* ------------------------------------------------------------ 3. memory */

static size_t heap_in_use(void)
{
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd; /* chunks in use + mmapped chunks */
}

static long self_rss_bytes(void)
{
    return proc_rss_kib(getpid()) * 1024;
}

static int sec_memory(const cfg_t *cfg)
{
    long n = cfg->mem_objects;
    printf("\n== 3. Runtime memory per hosted object: %ld Echo objects in one cor_runtime "
           "(in-process) ==\n",
           n);
    cor_runtime_t *rt = NULL;
    cor_error_t err;
    cor_error_clear(&err);
    cor_runtime_opts_t opts = {.version = COR_RUNTIME_OPTS_VERSION, .host_id = "bench"};
    void **blocks = NULL;
    int rv = -1;
    if (cor_runtime_new(&opts, &rt, &err) != 0 ||
        cor_runtime_register_class(rt, &echo_class, &err) != 0) {
        fprintf(stderr, "cor-bench-oms: memory: %s\n", err.msg);
        goto out;
    }
    blocks = malloc((size_t)n * sizeof(*blocks));
    if (blocks == NULL)
        goto out;
    malloc_trim(0);
    size_t h0 = heap_in_use();
    long r0 = self_rss_bytes();
    cor_object_id_t last;
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        cor_object_id_generate(&last);
        if (cor_object_create(rt, ECHO_CLASS, NULL, 0, &(cor_create_opts_t){.here = 1, .id = &last}, NULL, &err) != 0) {
            fprintf(stderr, "cor-bench-oms: memory: %s\n", err.msg);
            goto out;
        }
    }
    uint64_t t1 = bench_now_ns();
    size_t h1 = heap_in_use();
    long r1 = self_rss_bytes();
    /* The class's own state on its own: n blocks as echo_create makes them. */
    for (long i = 0; i < n; i++)
        if ((blocks[i] = calloc(1, ECHO_STATE_BYTES)) == NULL)
            goto out;
    size_t h2 = heap_in_use();
    long r2 = self_rss_bytes();
    size_t state_usable = malloc_usable_size(blocks[0]);
    for (long i = 0; i < n; i++)
        free(blocks[i]);

    double heap_per = (double)(h1 - h0) / (double)n;
    double rss_per = (double)(r1 - r0) / (double)n;
    double state_heap = (double)(h2 - h1) / (double)n;
    double state_rss = (double)(r2 - r1) / (double)n;
    cor_runtime_footprint_t fp;
    cor_runtime_footprint(rt, &fp);
    size_t cap = fp.map_slots, len = fp.objects;
    double map_per = (double)(cap * fp.slot_bytes) / (double)len;
    double over_heap = heap_per - state_heap, over_rss = rss_per - state_rss;

    printf("%-34s | %10s | %10s\n", "per object (bytes)", "heap", "RSS");
    printf("%-34s | %10.1f | %10.1f\n", "hosted Echo object, total", heap_per, rss_per);
    printf("%-34s | %10.1f | %10.1f\n", "its state alone (calloc 8 B)", state_heap, state_rss);
    printf("%-34s | %10.1f | %10.1f\n", "runtime's share (total - state)", over_heap, over_rss);
    printf("breakdown: cor_obj_t %zu B (malloc chunk %zu usable + 8 header), id map %zu slots of "
           "%zu B for %zu objects = %.1f B/object (load %.0f %%); state chunk %zu usable\n",
           fp.obj_bytes, fp.obj_usable, cap, fp.slot_bytes, len, map_per,
           100.0 * (double)len / (double)cap, state_usable);
    printf("creation in-process: %.2f us/object\n", (double)(t1 - t0) / 1e3 / (double)n);
    double worst = over_heap > over_rss ? over_heap : over_rss;
    printf("target: <= 256 B per object beyond its own state: %s (heap %.0f B, RSS %.0f B)\n",
           verdict(worst <= 256), over_heap, over_rss);
    printf("RESULT mem_overhead_heap=%.1f mem_overhead_rss=%.1f\n", over_heap, over_rss);
    rv = 0;
out:
    if (rv != 0)
        error_count(1);
    free(blocks);
    cor_runtime_free(rt);
    return rv;
}

/* ------------------------------------------------------------ 4. scaling */

/* Writes a data directory as cor-oms would have left it: one node
 * (SCALE_NODE, incarnation 1, hosting echo.Echo) and n objects with one
 * active replica on it, through the embedded store's own API. */
static int scale_write(const char *dir, cor_object_id_t *ids, long n)
{
    cor_store_t st;
    cor_error_t err;
    if (cor_store_open_embedded(dir, 0, &st, &err) != 0) {
        fprintf(stderr, "cor-bench-oms: %s\n", err.msg);
        return -1;
    }
    int rc = -1;
    Cor__ClassInfo ci = COR__CLASS_INFO__INIT, *cp = &ci;
    ci.name = (char *)ECHO_CLASS;
    Cor__NodeInfo node = COR__NODE_INFO__INIT;
    node.name = (char *)SCALE_NODE;
    node.incarnation = 1;
    node.tcp_address = (char *)"127.0.0.1:9"; /* never called: lookups only */
    node.unix_path = (char *)"";
    node.host_id = (char *)"bench";
    node.n_classes = 1;
    node.classes = &cp;
    node.state = COR__NODE_STATE__NODE_ALIVE;
    node.registered_ms = 1;
    size_t nl = cor__node_info__get_packed_size(&node);
    uint8_t *nb = malloc(nl);
    enum { BATCH = 4096 };
    cor_store_op_t *ops = calloc(BATCH, sizeof(*ops));
    char(*keys)[64] = calloc(BATCH, 64);
    uint8_t(*vals)[128] = calloc(BATCH, 128);
    if (nb == NULL || ops == NULL || keys == NULL || vals == NULL)
        goto out;
    cor__node_info__pack(&node, nb);
    cor_store_op_t nop = {COR_STORE_PUT, "node/" SCALE_NODE, nb, nl};
    if (st.ops->apply(st.impl, &nop, 1, &err) != 0)
        goto fail;
    Cor__Replica rep = COR__REPLICA__INIT, *rp = &rep;
    rep.node = (char *)SCALE_NODE;
    rep.incarnation = 1;
    rep.epoch = 1;
    rep.state = COR__REPLICA_STATE__REPLICA_ACTIVE;
    Cor__ObjectInfo oi = COR__OBJECT_INFO__INIT;
    oi.class_name = (char *)ECHO_CLASS;
    oi.epoch = 1;
    oi.created_ms = 1;
    oi.n_replicas = 1;
    oi.replicas = &rp;
    for (long i = 0; i < n;) {
        size_t k = 0;
        for (; k < BATCH && i < n; k++, i++) {
            cor_object_id_generate(&ids[i]);
            char hex[COR_OBJECT_ID_STRLEN + 1];
            cor_object_id_format(&ids[i], hex);
            snprintf(keys[k], 64, "obj/%s", hex);
            oi.id.data = ids[i].b;
            oi.id.len = COR_OBJECT_ID_BYTES;
            size_t len = cor__object_info__get_packed_size(&oi);
            if (len > 128)
                goto out;
            cor__object_info__pack(&oi, vals[k]);
            ops[k] = (cor_store_op_t){COR_STORE_PUT, keys[k], vals[k], len};
        }
        if (st.ops->apply(st.impl, ops, k, &err) != 0)
            goto fail;
    }
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "cor-bench-oms: writing %s: %s\n", dir, err.msg);
out:
    cor_store_close(&st);
    free(nb);
    free(ops);
    free(keys);
    free(vals);
    return rc;
}

/* In-process: ns per oms_dir_lookup of random objects (keys precomputed in
 * a sequential array, so only the directory's own memory is random). */
typedef struct inproc_ctx {
    oms_dir_t *dir;
    Cor__LookupRequest *reqs;
    size_t n, i;
    cor_arena_t arena;
} inproc_ctx_t;

static int inproc_one(void *arg)
{
    inproc_ctx_t *c = arg;
    Cor__LookupReply rep = COR__LOOKUP_REPLY__INIT;
    cor_error_t err;
    cor_error_clear(&err);
    int rc = oms_dir_lookup(c->dir, &c->reqs[c->i++ % c->n], &c->arena, &rep, &err);
    cor_arena_reset(&c->arena);
    return rc;
}

static int inproc_lookup_ns(const char *dir, const cor_object_id_t *ids, long n, int iters,
                            double *p50_ns, double *mean_ns, double *load_s)
{
    cor_store_t st;
    cor_error_t err;
    oms_dir_t *d = NULL;
    inproc_ctx_t c = {0};
    int rc = -1;
    uint64_t t0 = bench_now_ns();
    if (cor_store_open_embedded(dir, 0, &st, &err) != 0) {
        fprintf(stderr, "cor-bench-oms: %s\n", err.msg);
        return -1;
    }
    oms_dir_opts_t opts = {0}; /* no client: lookups never call kernels */
    if (oms_dir_open(st, &opts, &d, &err) != 0) {
        fprintf(stderr, "cor-bench-oms: %s\n", err.msg);
        return -1;
    }
    *load_s = (double)(bench_now_ns() - t0) / 1e9;
    size_t nodes, alive, objects;
    oms_dir_counts(d, &nodes, &alive, &objects);
    if ((long)objects != n) {
        fprintf(stderr, "cor-bench-oms: %s loaded %zu objects, not %ld\n", dir, objects, n);
        goto out;
    }
    c.dir = d;
    c.n = (size_t)iters;
    c.reqs = calloc(c.n, sizeof(*c.reqs));
    if (c.reqs == NULL)
        goto out;
    unsigned seed = 777;
    for (size_t i = 0; i < c.n; i++) {
        cor__lookup_request__init(&c.reqs[i]);
        c.reqs[i].id.data = (uint8_t *)ids[(size_t)rand_r(&seed) % (size_t)n].b;
        c.reqs[i].id.len = COR_OBJECT_ID_BYTES;
    }
    cor_arena_init(&c.arena, 0);
    bench_result_t res;
    if (bench_time_loop(inproc_one, &c, iters, &res) == 0 && res.errors == 0) {
        *p50_ns = res.p50_ns;
        *mean_ns = res.mean_ns;
        rc = 0;
    } else {
        fprintf(stderr, "cor-bench-oms: in-process lookups failed\n");
    }
    cor_arena_close(&c.arena);
out:
    free(c.reqs);
    oms_dir_close(d);
    return rc;
}

static int sec_scaling(const cfg_t *cfg)
{
    long sizes[2] = {cfg->scale_small, cfg->scale_large};
    printf("\n== 4. Lookup scaling: %ld vs %ld objects in the directory; real cor-oms daemons "
           "loaded from written data dirs; %d rounds ==\n",
           sizes[0], sizes[1], cfg->rounds);
    cor_object_id_t *ids[2] = {NULL, NULL};
    daemon_t oms[2];
    memset(oms, 0, sizeof(oms));
    lookup_set_t ls[2];
    memset(ls, 0, sizeof(ls));
    char dirs[2][256];
    const char *tags[2] = {"scale-small", "scale-large"};
    double *p50[2] = {NULL, NULL}, *thr[2] = {NULL, NULL};
    double load_s[2] = {0, 0}, rss_mib[2] = {0, 0};
    int rv = -1;
    for (int s = 0; s < 2; s++) {
        ids[s] = malloc((size_t)sizes[s] * sizeof(cor_object_id_t));
        p50[s] = calloc((size_t)cfg->rounds, sizeof(double));
        thr[s] = calloc((size_t)cfg->rounds, sizeof(double));
        if (ids[s] == NULL || p50[s] == NULL || thr[s] == NULL)
            goto out;
        snprintf(dirs[s], sizeof(dirs[s]), "%s/%s-data", tmp_dir, tags[s]);
        uint64_t t0 = bench_now_ns();
        if (scale_write(dirs[s], ids[s], sizes[s]) != 0)
            goto out;
        printf("wrote %s: %ld objects in %.1f s\n", dirs[s], sizes[s],
               (double)(bench_now_ns() - t0) / 1e9);
        fflush(stdout);
    }
    for (int s = 0; s < 2; s++) {
        uint64_t t0 = bench_now_ns();
        if (oms_start(&oms[s], cfg, tags[s], "never", SCALE_START_MS) != 0)
            goto out;
        load_s[s] = (double)(bench_now_ns() - t0) / 1e9;
        rss_mib[s] = (double)proc_rss_kib(oms[s].p.pid) / 1024.0;
        char got[32];
        if (cor_proc_field(&oms[s].p, "objects", got, sizeof(got)) != 0 ||
            atol(got) != sizes[s]) {
            fprintf(stderr, "cor-bench-oms: %s loaded objects=%s, not %ld\n", oms[s].what, got,
                    sizes[s]);
            goto out;
        }
        /* Lookups of a random sample (at most 100k distinct requests). */
        size_t sample = sizes[s] < 100000 ? (size_t)sizes[s] : 100000;
        cor_object_id_t *pick = malloc(sample * sizeof(*pick));
        if (pick == NULL)
            goto out;
        unsigned seed = 99;
        for (size_t i = 0; i < sample; i++)
            pick[i] = sample == (size_t)sizes[s] ? ids[s][i]
                                                 : ids[s][(size_t)rand_r(&seed) % (size_t)sizes[s]];
        int lrc = lookup_set_init(&ls[s], pick, sample);
        free(pick);
        if (lrc != 0)
            goto out;
    }
    printf("cor-oms start (load) time: %.1f s vs %.1f s; RSS after load %.0f MiB vs %.0f MiB\n",
           load_s[0], load_s[1], rss_mib[0], rss_mib[1]);
    unsigned seed = 4242;
    char h[4][32];
    snprintf(h[0], sizeof(h[0]), "p50 us %ld", sizes[0]);
    snprintf(h[1], sizeof(h[1]), "p50 us %ld", sizes[1]);
    snprintf(h[2], sizeof(h[2]), "lookups/s %ld", sizes[0]);
    snprintf(h[3], sizeof(h[3]), "lookups/s %ld", sizes[1]);
    printf("%-6s | %14s %14s | %17s %17s  (1 in flight | %d in flight)\n", "round", h[0], h[1],
           h[2], h[3], cfg->in_flight);
    for (int r = 0; r < cfg->rounds; r++) {
        for (int k = 0; k < 2; k++) {
            int s = (k + r) % 2;
            bench_result_t lat, tp;
            drv_t d;
            if (lookup_latency(oms[s].addr, &ls[s], cfg->lat_calls, cfg->lat_calls / 10 + 20, &lat,
                               &seed) != 0)
                goto out;
            p50[s][r] = lat.p50_us;
            if (drv_init(&d, oms[s].addr, COR_M_OMS_LOOKUP, ls[s].reqs, ls[s].n, lookup_check,
                         &ls[s]) != 0 ||
                drv_run(&d, cfg->in_flight, cfg->seconds, 0, &tp) != 0)
                goto out;
            drv_report_errors(&d, "lookups (scaling)");
            drv_close(&d);
            thr[s][r] = tp.calls_per_sec;
        }
        printf("%-6d | %14.1f %14.1f | %17.0f %17.0f\n", r + 1, p50[0][r], p50[1][r], thr[0][r],
               thr[1][r]);
        fflush(stdout);
    }
    double m0 = median(p50[0], cfg->rounds), m1 = median(p50[1], cfg->rounds);
    double ratio = m0 > 0 ? m1 / m0 : 0;
    printf("%-6s | %14.1f %14.1f | %17.0f %17.0f\n", "median", m0, m1,
           median(thr[0], cfg->rounds), median(thr[1], cfg->rounds));
    printf("target: lookup p50 at 1 in flight, %ld objects / %ld objects <= 1.20: %s (%.2f x)\n",
           sizes[1], sizes[0], verdict(ratio <= 1.2), ratio);
    for (int s = 0; s < 2; s++)
        daemon_stop(&oms[s]);

    /* The directory alone, in-process, same data dirs (daemons stopped). */
    double ns50[2], nsmean[2], inload[2];
    int iters = cfg->quick ? 20000 : 500000;
    for (int s = 0; s < 2; s++)
        if (inproc_lookup_ns(dirs[s], ids[s], sizes[s], iters, &ns50[s], &nsmean[s], &inload[s]) !=
            0)
            goto out;
    printf("in-process oms_dir_lookup (no gRPC): p50 %.0f ns vs %.0f ns, mean %.0f vs %.0f ns "
           "(%.2f x); open+load %.2f s vs %.2f s\n",
           ns50[0], ns50[1], nsmean[0], nsmean[1], ns50[0] > 0 ? ns50[1] / ns50[0] : 0, inload[0],
           inload[1]);
    printf("RESULT scale_ratio=%.3f scale_p50_small_us=%.1f scale_p50_large_us=%.1f "
           "inproc_ns_small=%.0f inproc_ns_large=%.0f\n",
           ratio, m0, m1, ns50[0], ns50[1]);
    rv = 0;
out:
    if (rv != 0)
        error_count(1);
    for (int s = 0; s < 2; s++) {
        daemon_stop(&oms[s]);
        lookup_set_close(&ls[s]);
        free(ids[s]);
        free(p50[s]);
        free(thr[s]);
    }
    return rv;
}

/* ------------------------------------------------------------ 5. heartbeat */

static int hb_check(void *arg, size_t which, const uint8_t *reply, size_t len, char *why,
                    size_t wlen)
{
    Cor__HeartbeatReply *r = cor__heartbeat_reply__unpack(NULL, len, reply);
    int rc = r != NULL && r->known ? 0 : -1;
    if (rc != 0)
        snprintf(why, wlen, "heartbeat answered known=false (node %zu)", which);
    if (r != NULL)
        cor__heartbeat_reply__free_unpacked(r, NULL);
    return rc;
}

static int reg_check(void *arg, size_t which, const uint8_t *reply, size_t len, char *why,
                     size_t wlen)
{
    uint64_t *inc = arg;
    Cor__RegisterReply *r = cor__register_reply__unpack(NULL, len, reply);
    int rc = r != NULL && r->incarnation > 0 ? 0 : -1;
    if (rc != 0)
        snprintf(why, wlen, "register reply without an incarnation");
    else
        inc[which] = r->incarnation;
    if (r != NULL)
        cor__register_reply__free_unpacked(r, NULL);
    return rc;
}

static void sleep_until_ns(uint64_t t)
{
    struct timespec ts = {.tv_sec = (time_t)(t / 1000000000u), .tv_nsec = (long)(t % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

static double self_cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static int count_alive(const char *oms, int *alive, int *total)
{
    Cor__ListNodesRequest req = COR__LIST_NODES_REQUEST__INIT;
    ProtobufCMessage *m = NULL;
    cor_error_t err;
    if (cor_rpc_call(client, oms, COR_M_OMS_LIST_NODES, &req.base,
                     &cor__list_nodes_reply__descriptor, CALL_DEADLINE_MS, &m, &err) != 0) {
        fprintf(stderr, "cor-bench-oms: ListNodes: %s\n", err.msg);
        return -1;
    }
    Cor__ListNodesReply *rep = (Cor__ListNodesReply *)m;
    *alive = 0;
    *total = (int)rep->n_nodes;
    for (size_t i = 0; i < rep->n_nodes; i++)
        *alive += rep->nodes[i]->state == COR__NODE_STATE__NODE_ALIVE;
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}

/* Paced calls: rate per second, one warm-up second then `seconds`
 * measured; call i carries request i % n_keys. CPU of pid over the window. */
typedef struct paced_result {
    double cpu_pct, self_pct, win;
    long sent, late;
    bench_result_t lat;
} paced_result_t;

static int paced_run(drv_t *d, size_t n_keys, int rate, double seconds, pid_t pid,
                     paced_result_t *pr)
{
    memset(pr, 0, sizeof(*pr));
    d->paced = 1;
    uint64_t period = 1000000000u / (uint64_t)rate;
    uint64_t start = bench_now_ns();
    uint64_t warm_end = start + 1000000000u;
    uint64_t end = warm_end + (uint64_t)(seconds * 1e9);
    d->count_from = warm_end;
    d->stop_at = end;
    double c0 = 0, s0 = 0;
    uint64_t w0 = 0;
    int measuring = 0;
    for (uint64_t i = 0;; i++) {
        uint64_t t = start + i * period;
        if (t >= end)
            break;
        if (!measuring && t >= warm_end) {
            c0 = proc_cpu_seconds(pid);
            s0 = self_cpu_seconds();
            w0 = bench_now_ns();
            measuring = 1;
        }
        uint64_t now = bench_now_ns();
        if (now < t)
            sleep_until_ns(t);
        else if (now > t + 10000000u)
            pr->late++; /* more than 10 ms behind schedule */
        if (drv_issue_paced(d, (size_t)(i % n_keys)) == 0)
            pr->sent++;
    }
    sleep_until_ns(end);
    double c1 = proc_cpu_seconds(pid), s1 = self_cpu_seconds();
    uint64_t w1 = bench_now_ns();
    if (drv_wait(d, 30000) != 0)
        return -1;
    bench_rec_summarise(&d->rec, &pr->lat);
    pr->lat.calls = d->done;
    pr->lat.errors = atomic_load(&d->errors);
    pr->win = (double)(w1 - w0) / 1e9;
    pr->cpu_pct = 100.0 * (c1 - c0) / pr->win;
    pr->self_pct = 100.0 * (s1 - s0) / pr->win;
    return 0;
}

static int sec_heartbeat(const cfg_t *cfg, const raw_child_t *raw)
{
    int n = cfg->hb_nodes;
    printf("\n== 5. OMS CPU with %d simulated kernel servers heartbeating every 1 s "
           "(%d heartbeats/s, paced, asynchronous) for %.0f s ==\n",
           n, n, cfg->hb_seconds);
    daemon_t oms = {0};
    cor_client_t *raw_cli = NULL;
    cor_error_t err;
    grpc_slice *reg = calloc((size_t)n, sizeof(*reg));
    grpc_slice *hb = calloc((size_t)n, sizeof(*hb));
    uint64_t *inc = calloc((size_t)n, sizeof(*inc));
    int rv = -1, n_reg = 0, n_hb = 0;
    drv_t d;
    int d_open = 0;
    if (reg == NULL || hb == NULL || inc == NULL)
        goto out;
    if (oms_start(&oms, cfg, "hb", "never", DAEMON_START_MS) != 0)
        goto out;

    /* Idle first: what the daemon costs doing nothing. */
    double idle_s = cfg->quick ? 0.5 : 3;
    double c0 = proc_cpu_seconds(oms.p.pid);
    uint64_t w0 = bench_now_ns();
    usleep((useconds_t)(idle_s * 1e6));
    double idle_pct = 100.0 * (proc_cpu_seconds(oms.p.pid) - c0) /
                      ((double)(bench_now_ns() - w0) / 1e9);

    /* Register n nodes, each like a kernel: addresses, a class, labels. */
    Cor__ClassInfo ci = COR__CLASS_INFO__INIT, *cp = &ci;
    ci.name = (char *)"bench.Nothing"; /* so nothing is ever placed on them */
    ci.fingerprint = 0x1234;
    Cor__NodeInfo__LabelsEntry le = COR__NODE_INFO__LABELS_ENTRY__INIT, *lp = &le;
    le.key = (char *)"zone";
    le.value = (char *)"bench";
    for (int i = 0; i < n; i++) {
        char name[32], tcp[32], ux[64];
        snprintf(name, sizeof(name), "hb-%05d", i);
        snprintf(tcp, sizeof(tcp), "127.0.0.%d:%d", 2 + i / 50000, 10000 + i % 50000);
        snprintf(ux, sizeof(ux), "/tmp/cor-hb-%05d.sock", i);
        Cor__NodeInfo ni = COR__NODE_INFO__INIT;
        ni.name = name;
        ni.tcp_address = tcp;
        ni.unix_path = ux;
        ni.host_id = (char *)"bench-host";
        ni.n_labels = 1;
        ni.labels = &lp;
        ni.n_classes = 1;
        ni.classes = &cp;
        Cor__RegisterRequest rr = COR__REGISTER_REQUEST__INIT;
        rr.node = &ni;
        reg[i] = pack_slice(&rr.base);
        n_reg++;
    }
    bench_result_t res;
    uint64_t r0 = bench_now_ns();
    if (drv_init(&d, oms.addr, COR_M_OMS_REGISTER, reg, (size_t)n, reg_check, inc) != 0)
        goto out;
    d_open = 1;
    if (drv_run(&d, cfg->in_flight, 0, n, &res) != 0) {
        d_open = 0; /* callbacks may still come: leave it */
        goto out;
    }
    drv_report_errors(&d, "RegisterNode");
    drv_close(&d);
    d_open = 0;
    double reg_s = (double)(bench_now_ns() - r0) / 1e9;
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "hb-%05d", i);
        Cor__NodeLoad load = COR__NODE_LOAD__INIT;
        load.objects = 100;
        load.calls = 123456;
        load.cpu = 12.5;
        load.rss_bytes = 64u << 20;
        Cor__HeartbeatRequest hr = COR__HEARTBEAT_REQUEST__INIT;
        hr.name = name;
        hr.incarnation = inc[i];
        hr.load = &load;
        hb[i] = pack_slice(&hr.base);
        n_hb++;
    }

    /* Heartbeats: node i % n every 1/n s; one warm-up second, then the
     * measured window. */
    paced_result_t hbr, rawr;
    if (drv_init(&d, oms.addr, COR_M_OMS_HEARTBEAT, hb, (size_t)n, hb_check, NULL) != 0)
        goto out;
    d_open = 1;
    if (paced_run(&d, (size_t)n, n, cfg->hb_seconds, oms.p.pid, &hbr) != 0) {
        d_open = 0;
        goto out;
    }
    drv_report_errors(&d, "Heartbeat");
    drv_close(&d);
    d_open = 0;
    int alive = 0, total = 0;
    if (count_alive(oms.addr, &alive, &total) != 0)
        goto out;

    /* The same paced load of raw gRPC echo calls (64 B) on bench/raw's
     * server: what gRPC C core alone costs per call at this rate. */
    int have_raw = 0;
    if (raw != NULL && raw->pid > 0) {
        const char *paths[] = {RAW_ECHO_METHOD};
        char target[64];
        snprintf(target, sizeof(target), "127.0.0.1:%d", raw->port);
        grpc_slice payload = grpc_slice_malloc(RAW_PAYLOAD);
        memset(GRPC_SLICE_START_PTR(payload), 'r', RAW_PAYLOAD);
        if (cor_client_new(paths, 1, NULL, &raw_cli, &err) != 0 ||
            drv_init_on(&d, raw_cli, target, 0, &payload, 1, raw_check, NULL) != 0) {
            grpc_slice_unref(payload);
            goto out;
        }
        d_open = 1;
        int prc = paced_run(&d, 1, n, cfg->hb_seconds, raw->pid, &rawr);
        grpc_slice_unref(payload);
        if (prc != 0) {
            d_open = 0;
            goto out;
        }
        drv_report_errors(&d, "raw echo (paced)");
        drv_close(&d);
        d_open = 0;
        have_raw = 1;
    }
    printf("registered %d nodes in %.2f s; %ld heartbeats sent (%ld over 10 ms late), "
           "%ld answered in the window at %.0f/s\n",
           n, reg_s, hbr.sent, hbr.late, hbr.lat.calls, (double)hbr.lat.calls / hbr.win);
    printf("heartbeat latency p50 %.1f us, p99 %.1f us; nodes ALIVE at the end: %d of %d\n",
           hbr.lat.p50_us, hbr.lat.p99_us, alive, total);
    printf("%-36s | %9s | %12s | %9s %9s\n", "server, paced load", "CPU %", "us CPU/call",
           "p50 us", "client %");
    printf("%-36s | %9.1f | %12s | %9s %9s\n", "cor-oms idle", idle_pct, "-", "-", "-");
    printf("%-36s | %9.1f | %12.1f | %9.1f %9.1f\n", "cor-oms, heartbeats", hbr.cpu_pct,
           hbr.cpu_pct * 1e4 / (double)n, hbr.lat.p50_us, hbr.self_pct);
    if (have_raw)
        printf("%-36s | %9.1f | %12.1f | %9.1f %9.1f\n", "raw gRPC echo server, same rate",
               rawr.cpu_pct, rawr.cpu_pct * 1e4 / (double)n, rawr.lat.p50_us, rawr.self_pct);
    printf("target: cor-oms CPU < 10 %% of one core with %d nodes heartbeating: %s (%.1f %%",
           n, verdict(hbr.cpu_pct < 10.0), hbr.cpu_pct);
    if (have_raw && rawr.cpu_pct > 0)
        printf("; %.2f x the raw echo server at the same rate", hbr.cpu_pct / rawr.cpu_pct);
    printf(")\nRESULT hb_cpu_pct=%.2f hb_idle_pct=%.2f hb_p50_us=%.1f raw_paced_cpu_pct=%.2f "
           "oms_rss_kib=%ld\n",
           hbr.cpu_pct, idle_pct, hbr.lat.p50_us, have_raw ? rawr.cpu_pct : -1.0,
           proc_rss_kib(oms.p.pid));
    if (alive != n || total != n) {
        fprintf(stderr, "cor-bench-oms: %d of %d nodes alive after the run (%d listed)\n", alive,
                n, total);
        error_count(1);
    }
    rv = 0;
out:
    if (rv != 0)
        error_count(1);
    if (d_open)
        drv_close(&d);
    cor_client_free(raw_cli);
    daemon_stop(&oms);
    for (int i = 0; i < n_reg; i++)
        grpc_slice_unref(reg[i]);
    for (int i = 0; i < n_hb; i++)
        grpc_slice_unref(hb[i]);
    free(reg);
    free(hb);
    free(inc);
    return rv;
}

/* ------------------------------------------------------------ main */

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    remove(path);
    return 0;
}

static unsigned parse_sections(const char *list)
{
    unsigned m = 0;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        unsigned bit = 0;
        for (int i = 0; i < 5; i++)
            if (strcmp(t, section_names[i]) == 0)
                bit = 1u << i;
        if (strcmp(t, "all") == 0)
            bit = SEC_ALL;
        if (bit == 0) {
            fprintf(stderr, "cor-bench-oms: unknown section '%s' (lookup, create, memory, "
                            "scaling, heartbeat, all)\n",
                    t);
            return 0;
        }
        m |= bit;
    }
    return m;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cor-bench-oms [--quick] [--only LIST] [--rounds N] [--seconds S]\n"
            "                     [--in-flight N] [--objects N] [--scale-objects N]\n"
            "                     [--hb-nodes N] [--hb-seconds S] [--mem-objects N]\n"
            "                     [--oms-threads N] [--keep]\n"
            "  --only LIST        comma-separated: lookup,create,memory,scaling,heartbeat\n"
            "  --rounds N         interleaved rounds (default 5; --quick 1)\n"
            "  --seconds S        each throughput run (default 2)\n"
            "  --in-flight N      calls in flight for throughput (default 32)\n"
            "  --objects N        objects created for the lookup section (default 1000)\n"
            "  --scale-objects N  the large directory (default 1000000; small is 1000)\n"
            "  --hb-nodes N       simulated kernels (default 1000)\n"
            "  --hb-seconds S     measured heartbeat window (default 10)\n"
            "  --mem-objects N    objects for the memory section (default 100000)\n"
            "  --oms-threads N    pass --threads N to cor-oms (default: its own default)\n"
            "  --keep             keep the temporary directory (data dirs, daemon logs)\n");
}

static void machine_line(void)
{
    struct utsname u;
    char model[128] = "?";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f != NULL) {
        char line[256];
        while (fgets(line, sizeof(line), f) != NULL)
            if (strncmp(line, "model name", 10) == 0) {
                char *c = strchr(line, ':');
                if (c != NULL) {
                    snprintf(model, sizeof(model), "%s", c + 2);
                    model[strcspn(model, "\n")] = '\0';
                }
                break;
            }
        fclose(f);
    }
    uname(&u);
    double load[3] = {0, 0, 0};
    getloadavg(load, 3);
    printf("machine: %ld cpus (%s), %s %s; load average %.2f %.2f %.2f\n",
           sysconf(_SC_NPROCESSORS_ONLN), model, u.sysname, u.release, load[0], load[1], load[2]);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"quick", no_argument, NULL, 'q'},          {"only", required_argument, NULL, 'o'},
        {"rounds", required_argument, NULL, 'r'},   {"seconds", required_argument, NULL, 's'},
        {"in-flight", required_argument, NULL, 'f'}, {"objects", required_argument, NULL, 'n'},
        {"scale-objects", required_argument, NULL, 'S'},
        {"hb-nodes", required_argument, NULL, 'H'}, {"hb-seconds", required_argument, NULL, 'W'},
        {"mem-objects", required_argument, NULL, 'm'},
        {"oms-threads", required_argument, NULL, 't'}, {"keep", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    cfg_t cfg = {.sections = SEC_ALL, .rounds = 5, .seconds = 2, .in_flight = 32,
                 .objects = 1000, .lat_calls = 3000, .create_seconds = 2, .mem_objects = 100000,
                 .scale_small = 1000, .scale_large = 1000000, .hb_nodes = 1000,
                 .hb_seconds = 10};
    int set_rounds = 0, set_seconds = 0, set_objects = 0, set_scale = 0, set_hbn = 0,
        set_hbs = 0, set_mem = 0, o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'q': cfg.quick = 1; break;
        case 'o':
            if ((cfg.sections = parse_sections(optarg)) == 0)
                return 2;
            break;
        case 'r': cfg.rounds = atoi(optarg); set_rounds = 1; break;
        case 's': cfg.seconds = atof(optarg); set_seconds = 1; break;
        case 'f': cfg.in_flight = atoi(optarg); break;
        case 'n': cfg.objects = atoi(optarg); set_objects = 1; break;
        case 'S': cfg.scale_large = atol(optarg); set_scale = 1; break;
        case 'H': cfg.hb_nodes = atoi(optarg); set_hbn = 1; break;
        case 'W': cfg.hb_seconds = atof(optarg); set_hbs = 1; break;
        case 'm': cfg.mem_objects = atol(optarg); set_mem = 1; break;
        case 't': cfg.oms_threads = atoi(optarg); break;
        case 'k': cfg.keep = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (cfg.quick) {
        if (!set_rounds)
            cfg.rounds = 1;
        if (!set_seconds)
            cfg.seconds = 0.5;
        if (!set_objects)
            cfg.objects = 100;
        if (!set_scale)
            cfg.scale_large = 10000;
        if (!set_hbn)
            cfg.hb_nodes = 200;
        if (!set_hbs)
            cfg.hb_seconds = 2;
        if (!set_mem)
            cfg.mem_objects = 10000;
        cfg.lat_calls = 200;
        cfg.create_seconds = 0.3;
    }
    if (optind != argc || cfg.rounds < 1 || cfg.seconds <= 0 || cfg.in_flight < 1 ||
        cfg.objects < 1 || cfg.scale_large < 1 || cfg.hb_nodes < 1 || cfg.hb_nodes > 1000000 ||
        cfg.hb_seconds <= 0 || cfg.mem_objects < 1 || cfg.oms_threads < 0) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    raw_child_t raw = {.pid = -1, .ctl_fd = -1};
    /* Fork the raw server while this process has no gRPC state. */
    if ((cfg.sections & (SEC_LOOKUP | SEC_HEARTBEAT)) && raw_child_spawn(&raw) != 0) {
        raw_child_reap(&raw);
        return 1;
    }
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/cor-bench-oms-XXXXXX");
    if (mkdtemp(tmp_dir) == NULL) {
        perror("cor-bench-oms: mkdtemp");
        raw_child_reap(&raw);
        return 1;
    }
    grpc_init();
    cor_error_t err;
    int rv = 1;
    daemon_t oms_never = {0}, oms_always = {0}, k_never = {0}, k_always = {0};
    if (cor_client_new(cor_method_paths, COR_M_COUNT, NULL, &client, &err) != 0) {
        fprintf(stderr, "cor-bench-oms: %s\n", err.msg);
        goto out;
    }
    printf("cor-bench-oms: cluster-core benchmarks%s; temporary directory %s\n",
           cfg.quick ? " (--quick: small sizes, a smoke test; figures are not meaningful)" : "",
           tmp_dir);
    machine_line();
    printf("daemons: %s, %s (cor-oms --threads %s); client: cor_client_t, one completion "
           "thread; raw baseline: bench/raw echo server, 1 cq thread, %d B payload\n",
           COR_OMS_BIN, COR_KERNEL_BIN, cfg.oms_threads ? "as given" : "default", RAW_PAYLOAD);
    fflush(stdout);

    if (cfg.sections & SEC_MEMORY)
        sec_memory(&cfg);

    if (cfg.sections & (SEC_LOOKUP | SEC_CREATE)) {
        if (oms_start(&oms_never, &cfg, "oms-never", "never", DAEMON_START_MS) != 0 ||
            kernel_start(&k_never, "k-never", oms_never.addr) != 0) {
            error_count(1);
            goto sections2;
        }
        if (cfg.sections & SEC_LOOKUP) {
            cor_object_id_t *ids = malloc((size_t)cfg.objects * sizeof(*ids));
            uint64_t t0 = bench_now_ns();
            if (ids == NULL || create_objects(oms_never.addr, cfg.objects, cfg.in_flight, ids) != 0) {
                fprintf(stderr, "cor-bench-oms: could not create %d objects\n", cfg.objects);
                error_count(1);
            } else {
                printf("\n(created %d objects for the lookup section in %.2f s)\n", cfg.objects,
                       (double)(bench_now_ns() - t0) / 1e9);
                sec_lookup(&cfg, oms_never.addr, ids, (size_t)cfg.objects, raw.port);
            }
            free(ids);
        }
        if (cfg.sections & SEC_CREATE) {
            if (oms_start(&oms_always, &cfg, "oms-always", "always", DAEMON_START_MS) != 0 ||
                kernel_start(&k_always, "k-always", oms_always.addr) != 0)
                error_count(1);
            else
                sec_create(&cfg, oms_never.addr, oms_always.addr);
        }
    sections2:
        daemon_stop(&k_never);
        daemon_stop(&k_always);
        daemon_stop(&oms_never);
        daemon_stop(&oms_always);
    }
    if (cfg.sections & SEC_SCALING)
        sec_scaling(&cfg);
    if (cfg.sections & SEC_HEARTBEAT)
        sec_heartbeat(&cfg, &raw);
    rv = 0;
out:
    daemon_stop(&k_never);
    daemon_stop(&k_always);
    daemon_stop(&oms_never);
    daemon_stop(&oms_always);
    cor_client_free(client);
    grpc_shutdown_blocking();
    if (raw_child_reap(&raw) != 0) {
        fprintf(stderr, "cor-bench-oms: the raw echo server ended badly\n");
        error_count(1);
    }
    if (cfg.keep || total_errors > 0)
        printf("\nkept %s (data directories, daemon logs)\n", tmp_dir);
    else
        nftw(tmp_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    printf("\n%s: %ld errors\n", total_errors ? "FAILED" : "done", total_errors);
    return rv != 0 || total_errors > 0 ? 1 : 0;
}
