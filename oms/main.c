/*
 * main.c — cor-oms, the Object Management Service daemon.
 *
 *   cor-oms [--listen 127.0.0.1:7700] [--data-dir ./oms-data]
 *           [--heartbeat-interval-ms 1000] [--heartbeat-timeout-ms 3000]
 *           [--sync always|never] [--threads N]
 *   cor-oms --etcd http://h1:2379[,http://h2:2379...] [--etcd-prefix /corundum/] ...
 *
 * Loads the directory from its store — the embedded one in the data
 * directory, or etcd with --etcd (store.h, docs/operations.md) — serves the
 * Oms API, and checks kernel-server liveness on a timer. Prints one line
 * when serving:
 *
 *   ready listen=127.0.0.1:7700 data=./oms-data nodes=3 objects=12
 *   ready listen=127.0.0.1:7700 etcd=http://h1:2379 prefix=/corundum/ nodes=3 objects=12
 *
 * --etcd excludes --data-dir and --sync (refused, exit 2: they would be
 * silently ignored). Bad flag values exit 2 naming the flag before
 * anything starts; an etcd that cannot be read at start exits 1 with the
 * client's message (a supervisor restarts it).
 *
 * SIGTERM/SIGINT drain and exit 0. kill -9 loses nothing: every change is
 * in the store (the log, or etcd) before it is answered.
 */
#include <cor/cor.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "directory.h"
#include "service.h"
#include "store.h"
#include "transport.h"
#include "rpc.h"

typedef struct oms_main {
    cor_loop_t *loop;
    oms_dir_t *dir;
} oms_main_t;

static void usage(FILE *f)
{
    fprintf(f, "usage: cor-oms [--listen ADDR] [--data-dir DIR] [--heartbeat-interval-ms MS]\n"
               "               [--heartbeat-timeout-ms MS] [--sync always|never] [--threads N]\n"
               "               [--etcd URL[,URL...] [--etcd-prefix PREFIX]]\n"
               "  --etcd keeps the directory in etcd under PREFIX (default /corundum/)\n"
               "  instead of in --data-dir; --data-dir and --sync do not apply then.\n");
}

static int parse_int(const char *flag, const char *v, long lo, long hi, long *out)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (v[0] == '\0' || *end != '\0' || x < lo || x > hi) {
        fprintf(stderr, "cor-oms: %s must be an integer in %ld..%ld, not '%s'\n", flag, lo, hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

static void on_signal(void *arg, int signum)
{
    cor_log_info("signal %d: shutting down", signum);
    cor_loop_stop(((oms_main_t *)arg)->loop);
}

static void on_liveness(void *arg)
{
    oms_dir_check_liveness(((oms_main_t *)arg)->dir);
}

int main(int argc, char **argv)
{
    const char *listen = "127.0.0.1:7700", *data = "./oms-data";
    const char *etcd = NULL, *etcd_prefix = NULL;
    int data_given = 0, sync_given = 0;
    long hb_interval = 1000, hb_timeout = 3000, threads = 2, sync = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "cor-oms: %s needs a value\n", a);
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--listen") == 0) {
            listen = v;
        } else if (strcmp(a, "--data-dir") == 0) {
            data = v;
            data_given = 1;
        } else if (strcmp(a, "--etcd") == 0) {
            etcd = v;
        } else if (strcmp(a, "--etcd-prefix") == 0) {
            etcd_prefix = v;
        } else if (strcmp(a, "--heartbeat-interval-ms") == 0) {
            if (parse_int(a, v, 10, 600000, &hb_interval) != 0)
                return 2;
        } else if (strcmp(a, "--heartbeat-timeout-ms") == 0) {
            if (parse_int(a, v, 20, 3600000, &hb_timeout) != 0)
                return 2;
        } else if (strcmp(a, "--threads") == 0) {
            if (parse_int(a, v, 1, 16, &threads) != 0)
                return 2;
        } else if (strcmp(a, "--sync") == 0) {
            sync_given = 1;
            if (strcmp(v, "always") == 0)
                sync = 1;
            else if (strcmp(v, "never") == 0)
                sync = 0;
            else {
                fprintf(stderr, "cor-oms: --sync is 'always' or 'never', not '%s'\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "cor-oms: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (hb_timeout <= hb_interval) {
        fprintf(stderr, "cor-oms: --heartbeat-timeout-ms (%ld) must exceed the interval (%ld)\n",
                hb_timeout, hb_interval);
        return 2;
    }
    cor_error_t err;
    cor_error_clear(&err);
    if (etcd != NULL) {
        if (cor_store_etcd_check_endpoints(etcd, &err) != 0) {
            fprintf(stderr, "cor-oms: --etcd: %s\n", err.msg);
            return 2;
        }
        if (cor_store_etcd_check_prefix(etcd_prefix, &err) != 0) {
            fprintf(stderr, "cor-oms: --etcd-prefix: %s\n", err.msg);
            return 2;
        }
        if (data_given || sync_given) {
            fprintf(stderr, "cor-oms: %s does not apply with --etcd (the directory is in etcd, "
                    "which makes every write durable itself)\n",
                    data_given ? "--data-dir" : "--sync");
            return 2;
        }
    } else if (etcd_prefix != NULL) {
        fprintf(stderr, "cor-oms: --etcd-prefix needs --etcd\n");
        return 2;
    }
    cor_log_set_program("cor-oms");

    int rv = 1;
    oms_main_t m = {0};
    cor_client_t *client = NULL;
    cor_server_t *server = NULL;
    cor_store_t store = {0};

    if (cor_client_new(cor_method_paths, COR_M_COUNT, NULL, &client, &err) != 0)
        goto fail;
    if (etcd != NULL ? cor_store_open_etcd(etcd, etcd_prefix, &store, &err)
                     : cor_store_open_embedded(data, (int)sync, &store, &err))
        goto fail;
    oms_dir_opts_t dopts = {.heartbeat_interval_ms = (int)hb_interval,
                            .heartbeat_timeout_ms = (int)hb_timeout,
                            .client = client};
    cor_store_t taken = store;
    store.ops = NULL; /* oms_dir_open owns it now, also when it fails */
    if (oms_dir_open(taken, &dopts, &m.dir, &err) != 0)
        goto fail;
    cor_server_opts_t sopts = {.threads = (int)threads};
    if (cor_server_new(&sopts, &server, &err) != 0 ||
        oms_service_register(server, m.dir, &err) != 0)
        goto fail;
    int port = 0;
    if (cor_server_listen(server, listen, &port, &err) != 0 ||
        cor_server_start(server, &err) != 0)
        goto fail;
    if (cor_loop_new(&m.loop, &err) != 0 ||
        cor_loop_on_signal(m.loop, SIGTERM, on_signal, &m, &err) != 0 ||
        cor_loop_on_signal(m.loop, SIGINT, on_signal, &m, &err) != 0)
        goto fail;
    cor_timer_t *t = cor_timer_new(m.loop, on_liveness, &m);
    if (t == NULL) {
        cor_error_set(&err, COR_ENOMEM, "out of memory");
        goto fail;
    }
    cor_timer_start(t, (int)(hb_interval / 2 > 10 ? hb_interval / 2 : 10), 1);

    size_t nodes, alive, objects;
    oms_dir_counts(m.dir, &nodes, &alive, &objects);
    const char *colon = strrchr(listen, ':');
    char where[1024];
    if (etcd != NULL)
        snprintf(where, sizeof(where), "etcd=%s prefix=%s", etcd,
                 etcd_prefix != NULL ? etcd_prefix : "/corundum/");
    else
        snprintf(where, sizeof(where), "data=%s", data);
    printf("ready listen=%.*s:%d %s nodes=%zu objects=%zu\n", colon ? (int)(colon - listen) : 0,
           listen, port, where, nodes, objects);
    fflush(stdout);
    cor_log_info("serving on port %d, %s (%zu nodes, %zu objects)", port, where, nodes, objects);
    cor_loop_run(m.loop);
    rv = 0;
    goto out;
fail:
    fprintf(stderr, "cor-oms: %s\n", err.msg);
out:
    cor_server_free(server); /* handlers stop before the directory goes */
    oms_dir_close(m.dir);
    cor_store_close(&store); /* only if never handed over */
    cor_client_free(client);
    cor_loop_free(m.loop);
    return rv;
}
