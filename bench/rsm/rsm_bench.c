/*
 * rsm_bench.c — cor-bench-rsm: what replication costs. ConsensusRSM writes
 * (echo Add on a 3-replica object: a Raft round, fsync on a majority)
 * against the same call on an unreplicated object in the same cluster and
 * the same run, at 1 and at 32 calls in flight; then the failover time
 * (leader's kernel killed -9 to the first successful write), reported, not
 * asserted. The same sizes and concurrency against etcd (Debian's 3.4, three
 * members on loopback, each with its own data directory, started here)
 * doing puts through Corundum's own etcd client, when /usr/bin/etcd is
 * installed. docs/benchmarks.md has the command and the figures.
 *
 * Setup: a real cor-oms and three cor-kernels (built-in classes, each with
 * a data directory under the run's temporary directory), the benchmark
 * process as the client. Rounds alternate between the two objects so that
 * both see the same machine weather; medians over the rounds.
 *
 * Usage: cor-bench-rsm [--rounds N] [--calls N] [--seconds S] [--quick]
 */
#include <cor/cor.h>

#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "bench_daemon.h"
#include "cor/kernel.pb-c.h"
#include "etcd.h"
#include "etcd_proc.h"
#include "echo/echo.cor.h"
#include "host.h"
#include "rpc.h"

#define MAX_ROUNDS 16
#define IN_FLIGHT 32

static cor_runtime_t *rt;
static bench_daemon_t oms, kern[3];

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int add(cor_ref_t *r)
{
    Echo__AddRequest q = ECHO__ADD_REQUEST__INIT;
    q.delta = 1;
    Echo__AddReply *a = NULL;
    cor_error_t err;
    int rc = echo_echo_add(r, &q, &a, &err);
    if (a != NULL)
        echo__add_reply__free_unpacked(a, NULL);
    return rc;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

/* p50 of n latencies (µs), and the number of failed calls. */
static int latency(cor_ref_t *r, int calls, double *p50, double *p99)
{
    long long *v = malloc(sizeof(*v) * (size_t)calls);
    int failed = 0;
    if (v == NULL)
        return calls;
    for (int i = 0; i < calls; i++) {
        long long t0 = now_us();
        if (add(r) != 0)
            failed++;
        v[i] = now_us() - t0;
    }
    qsort(v, (size_t)calls, sizeof(*v), cmp_ll);
    *p50 = (double)v[calls / 2];
    *p99 = (double)v[calls * 99 / 100];
    free(v);
    return failed;
}

typedef struct tp {
    cor_ref_t *r;
    long long until;
    atomic_long *calls, *failed;
} tp_t;

static void *tp_main(void *arg)
{
    tp_t *t = arg;
    while (now_us() < t->until) {
        if (add(t->r) == 0)
            atomic_fetch_add(t->calls, 1);
        else
            atomic_fetch_add(t->failed, 1);
    }
    return NULL;
}

/* Calls per second with IN_FLIGHT threads calling without pause. */
static double throughput(cor_ref_t *r, double seconds, long *failed)
{
    atomic_long calls = 0, bad = 0;
    pthread_t th[IN_FLIGHT];
    tp_t t = {.r = r, .until = now_us() + (long long)(seconds * 1e6), .calls = &calls,
              .failed = &bad};
    long long t0 = now_us();
    for (int i = 0; i < IN_FLIGHT; i++)
        pthread_create(&th[i], NULL, tp_main, &t);
    for (int i = 0; i < IN_FLIGHT; i++)
        pthread_join(th[i], NULL);
    *failed += atomic_load(&bad);
    return (double)atomic_load(&calls) / ((double)(now_us() - t0) / 1e6);
}

/* ---- etcd: puts of a value the size of an Add request ---- */

static cor_etcdproc_t etcd;

static int etcd_put_sync(cor_etcd_t *c, int i)
{
    char key[32];
    snprintf(key, sizeof(key), "bench/%d", i % 1000);
    cor_etcd_op_t op = {.kind = COR_ETCD_PUT, .key = key, .key_len = strlen(key),
                        .value = "\x08\x01", .value_len = 2};
    cor_etcd_reply_t *rep = NULL;
    cor_error_t err;
    int rc = cor_etcd_kv_sync(c, &op, &rep, &err);
    cor_etcd_reply_free(rep);
    return rc;
}

static int etcd_latency(cor_etcd_t *c, int calls, double *p50, double *p99)
{
    long long *v = malloc(sizeof(*v) * (size_t)calls);
    int failed = 0;
    if (v == NULL)
        return calls;
    for (int i = 0; i < calls; i++) {
        long long t0 = now_us();
        if (etcd_put_sync(c, i) != 0)
            failed++;
        v[i] = now_us() - t0;
    }
    qsort(v, (size_t)calls, sizeof(*v), cmp_ll);
    *p50 = (double)v[calls / 2];
    *p99 = (double)v[calls * 99 / 100];
    free(v);
    return failed;
}

typedef struct etp {
    cor_etcd_t *c;
    struct event_base *base;
    long long until;
    long calls, failed;
    int outstanding, next;
} etp_t;

static void etp_start(etp_t *t);

static void etp_done(void *arg, int rc, cor_etcd_reply_t *reply, const cor_error_t *err)
{
    etp_t *t = arg;
    (void)err;
    cor_etcd_reply_free(reply);
    t->outstanding--;
    if (rc == 0)
        t->calls++;
    else
        t->failed++;
    if (now_us() < t->until)
        etp_start(t);
    else if (t->outstanding == 0)
        event_base_loopbreak(t->base);
}

static void etp_start(etp_t *t)
{
    char key[32];
    snprintf(key, sizeof(key), "bench/%d", t->next++ % 1000);
    cor_etcd_op_t op = {.kind = COR_ETCD_PUT, .key = key, .key_len = strlen(key),
                        .value = "\x08\x01", .value_len = 2};
    cor_error_t err;
    if (cor_etcd_kv(t->c, &op, etp_done, t, &err) == 0)
        t->outstanding++;
    else
        t->failed++;
}

/* Puts per second with IN_FLIGHT outstanding on one client (its loop). */
static double etcd_throughput(cor_etcd_t *c, struct event_base *base, double seconds,
                              long *failed)
{
    etp_t t = {.c = c, .base = base, .until = now_us() + (long long)(seconds * 1e6)};
    long long t0 = now_us();
    for (int i = 0; i < IN_FLIGHT; i++)
        etp_start(&t);
    if (t.outstanding > 0)
        event_base_dispatch(base);
    *failed += t.failed;
    return (double)t.calls / ((double)(now_us() - t0) / 1e6);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The kernel (index into kern) whose replica of r leads, or -1. */
static int find_leader(cor_ref_t *r)
{
    for (int i = 0; i < 3; i++) {
        if (!kern[i].up)
            continue;
        char tcp[64];
        if (cor_proc_field(&kern[i].p, "tcp", tcp, sizeof(tcp)) != 0)
            continue;
        Cor__GetStateRequest req = COR__GET_STATE_REQUEST__INIT;
        const cor_object_id_t *id = cor_ref_id(r);
        req.object_id.data = (uint8_t *)id->b;
        req.object_id.len = sizeof(id->b);
        req.probe = 1;
        ProtobufCMessage *rep = NULL;
        cor_error_t err;
        if (cor_rpc_call(cor_runtime_client(rt), tcp, COR_M_GET_STATE, &req.base,
                         &cor__get_state_reply__descriptor, 2000, &rep, &err) != 0)
            continue;
        Cor__GetStateReply *g = (Cor__GetStateReply *)rep;
        int leads = g->raft != NULL && strcmp(g->raft->role, "leader") == 0;
        protobuf_c_message_free_unpacked(rep, NULL);
        if (leads)
            return i;
    }
    return -1;
}

static void usage(void)
{
    fprintf(stderr, "usage: cor-bench-rsm [--rounds N (1..%d)] [--calls N] [--seconds S] "
                    "[--quick]\n",
            MAX_ROUNDS);
    exit(2);
}

int main(int argc, char **argv)
{
    int rounds = 5, calls = 2000;
    double seconds = 2;
    static const struct option lo[] = {{"quick", no_argument, NULL, 'q'},
                                       {"rounds", required_argument, NULL, 'r'},
                                       {"calls", required_argument, NULL, 'c'},
                                       {"seconds", required_argument, NULL, 's'},
                                       {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'q': rounds = 2, calls = 200, seconds = 0.3; break;
        case 'r': rounds = atoi(optarg); break;
        case 'c': calls = atoi(optarg); break;
        case 's': seconds = atof(optarg); break;
        default: usage();
        }
    }
    if (rounds < 1 || rounds > MAX_ROUNDS || calls < 10 || seconds <= 0 || optind != argc)
        usage();
    signal(SIGPIPE, SIG_IGN);
    char tmp[] = "/tmp/cor-bench-rsm-XXXXXX";
    if (mkdtemp(tmp) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    char data[128];
    snprintf(data, sizeof(data), "%s/oms-data", tmp);
    snprintf(oms.log, sizeof(oms.log), "%s/oms.log", tmp);
    int rc = 1;
    cor_ref_t *plain = NULL, *rsm = NULL;
    struct event_base *base = NULL;
    cor_etcd_t *ec = NULL;
    int have_etcd = cor_etcdproc_available() && cor_etcdproc_start(&etcd, 3) == 0;
    if (!have_etcd)
        fprintf(stderr, "cor-bench-rsm: etcd not available: its column is skipped\n");
    else {
        cor_error_t eerr;
        cor_etcd_options_t eo = {.endpoints = etcd.endpoints};
        if ((base = event_base_new()) == NULL || cor_etcd_new(base, &eo, &ec, &eerr) != 0) {
            fprintf(stderr, "cor-bench-rsm: etcd client: %s\n", eerr.msg);
            goto out;
        }
    }
    char *oms_extra[] = {(char *)"--heartbeat-interval-ms", (char *)"200",
                         (char *)"--heartbeat-timeout-ms", (char *)"1000", NULL};
    if (bench_daemon_oms(&oms, COR_OMS_BIN, data, oms_extra, 10000) != 0)
        goto out;
    for (int i = 0; i < 3; i++) {
        char name[8], what[32], kdata[160];
        snprintf(name, sizeof(name), "r%d", i + 1);
        snprintf(what, sizeof(what), "cor-kernel %s", name);
        snprintf(kdata, sizeof(kdata), "%s/%s-data", tmp, name);
        snprintf(kern[i].log, sizeof(kern[i].log), "%s/kernel-%s.log", tmp, name);
        char *kargv[] = {(char *)COR_KERNEL_BIN, (char *)"--oms", oms.addr, (char *)"--name", name,
                         (char *)"--builtin", (char *)"echo", (char *)"--data-dir", kdata,
                         (char *)"--no-unix", NULL};
        if (bench_daemon_start(&kern[i], what, kargv, 10000) != 0)
            goto out;
    }
    cor_runtime_opts_t ro = {.version = COR_RUNTIME_OPTS_VERSION, .oms_address = oms.addr};
    cor_error_t err;
    if (cor_runtime_new(&ro, &rt, &err) != 0) {
        fprintf(stderr, "cor-bench-rsm: %s\n", err.msg);
        goto out;
    }
    cor_create_opts_t po = {0}, ro3 = {.dm_chain = "ConsensusRSM(replicas=3)"};
    if (cor_object_create(rt, "echo.Echo", NULL, 0, &po, &plain, &err) != 0 ||
        cor_object_create(rt, "echo.Echo", NULL, 0, &ro3, &rsm, &err) != 0) {
        fprintf(stderr, "cor-bench-rsm: create: %s\n", err.msg);
        goto out;
    }
    /* Warm up: connections, the client parts' replica lists, the leader. */
    for (int i = 0; i < 50; i++)
        if (add(plain) != 0 || add(rsm) != 0) {
            fprintf(stderr, "cor-bench-rsm: warm-up call failed\n");
            goto out;
        }
    if (ec != NULL && etcd_put_sync(ec, 0) != 0) {
        fprintf(stderr, "cor-bench-rsm: etcd warm-up put failed\n");
        goto out;
    }
    double lp[MAX_ROUNDS], lr[MAX_ROUNDS], le[MAX_ROUNDS], l99p[MAX_ROUNDS], l99r[MAX_ROUNDS],
        l99e[MAX_ROUNDS];
    double tpp[MAX_ROUNDS], tpr[MAX_ROUNDS], tpe[MAX_ROUNDS];
    long failed = 0;
    for (int k = 0; k < rounds; k++) {
        failed += latency(plain, calls, &lp[k], &l99p[k]);
        failed += latency(rsm, calls, &lr[k], &l99r[k]);
        le[k] = l99e[k] = tpe[k] = 0;
        if (ec != NULL)
            failed += etcd_latency(ec, calls, &le[k], &l99e[k]);
        tpp[k] = throughput(plain, seconds, &failed);
        tpr[k] = throughput(rsm, seconds, &failed);
        if (ec != NULL)
            tpe[k] = etcd_throughput(ec, base, seconds, &failed);
        fprintf(stderr, "round %d: p50 %.0f / %.0f / %.0f us, %.0f / %.0f / %.0f calls/s\n",
                k + 1, lp[k], lr[k], le[k], tpp[k], tpr[k], tpe[k]);
    }
    double mlp = median(lp, rounds), mlr = median(lr, rounds), mle = median(le, rounds);
    double m99p = median(l99p, rounds), m99r = median(l99r, rounds), m99e = median(l99e, rounds);
    double mtp = median(tpp, rounds), mtr = median(tpr, rounds), mte = median(tpe, rounds);
    printf("echo Add, 3 kernel servers on this machine, fsync on (%s); etcd: 3 members, puts of "
           "the same 2 bytes; medians of %d rounds\n\n",
           tmp, rounds);
    printf("%-32s %12s %12s %10s %10s %12s\n", "", "unreplicated", "ConsensusRSM", "etcd",
           "RSM/unrep", "RSM/etcd");
    printf("%-32s %12.0f %12.0f %10.0f %10.2f %12.2f\n", "p50 latency, 1 in flight (us)", mlp,
           mlr, mle, mlr / mlp, mle > 0 ? mlr / mle : 0);
    printf("%-32s %12.0f %12.0f %10.0f %10.2f %12.2f\n", "p99 latency, 1 in flight (us)", m99p,
           m99r, m99e, m99r / m99p, m99e > 0 ? m99r / m99e : 0);
    printf("%-32s %12.0f %12.0f %10.0f %10.2f %12.2f\n", "calls/s, 32 in flight", mtp, mtr, mte,
           mtr / mtp, mte > 0 ? mtr / mte : 0);
    printf("targets (issue 11): RSM/etcd throughput >= 1.0, p50 <= 1.2 (informational)\n");
    printf("failed calls: %ld\n", failed);

    /* Failover: the leader's kernel killed -9, to the next write. */
    int leader = find_leader(rsm);
    if (leader < 0) {
        fprintf(stderr, "cor-bench-rsm: no replica says it leads\n");
        goto out;
    }
    long long t0 = now_us();
    kill(kern[leader].p.pid, SIGKILL);
    int frc = add(rsm);
    long long gap = now_us() - t0;
    waitpid(kern[leader].p.pid, NULL, 0);
    kern[leader].up = 0;
    printf("failover: leader's kernel killed -9, next write %s after %.0f ms (election timeout "
           "200-400 ms)\n",
           frc == 0 ? "succeeded" : "FAILED", (double)gap / 1000.0);
    rc = failed == 0 && frc == 0 ? 0 : 1;
out:
    cor_etcd_free(ec);
    if (base != NULL)
        event_base_free(base);
    if (have_etcd)
        cor_etcdproc_stop(&etcd);
    cor_ref_free(plain);
    cor_ref_free(rsm);
    cor_runtime_free(rt);
    for (int i = 0; i < 3; i++)
        if (kern[i].up && bench_daemon_stop(&kern[i]) != 0)
            rc = 1;
    if (bench_daemon_stop(&oms) != 0)
        rc = 1;
    if (rc == 0) {
        char cmd[200];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
        if (system(cmd) != 0)
            fprintf(stderr, "cor-bench-rsm: could not remove %s\n", tmp);
    } else {
        fprintf(stderr, "cor-bench-rsm: logs kept in %s\n", tmp);
    }
    return rc;
}
