/*
 * echo_host.c — cor-echo-host: a process that hosts Echo objects and serves
 * them over TCP and a unix socket. It is the foundation's stand-in for a
 * kernel server (cor-kernel, issue 3), used by the integration tests, the
 * benchmarks and the demo.
 *
 *   cor-echo-host [--listen 127.0.0.1:0] [--unix PATH] [--object HEXID]...
 *                 [--threads N]
 *
 * Creates one Echo object per --object (one fresh id if none), starts
 * serving, then prints one line to stdout and flushes it:
 *
 *   ready tcp=127.0.0.1:40123 unix=/tmp/x.sock host=<host id> objects=<id>,<id>
 *
 * SIGTERM or SIGINT drains and exits 0: calls in flight are cancelled,
 * objects destroyed, nothing leaks (checked under valgrind by the tests).
 */
#include <cor/cor.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "echo_class.h"

#define MAX_OBJECTS 64

static void usage(FILE *f)
{
    fprintf(f, "usage: cor-echo-host [--listen ADDR] [--unix PATH] [--object HEXID]... "
               "[--threads N]\n");
}

static void on_signal(void *arg, int signum)
{
    cor_log_info("signal %d: draining", signum);
    cor_loop_stop(arg);
}

int main(int argc, char **argv)
{
    const char *listen = "127.0.0.1:0", *unix_path = NULL;
    const char *ids[MAX_OBJECTS];
    int n_ids = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "cor-echo-host: %s needs a value\n", a);
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--listen") == 0) {
            listen = v;
        } else if (strcmp(a, "--unix") == 0) {
            unix_path = v;
        } else if (strcmp(a, "--threads") == 0) {
            char *end;
            long t = strtol(v, &end, 10);
            if (*end != '\0' || t < 1 || t > 16) {
                fprintf(stderr, "cor-echo-host: --threads must be 1..16, not '%s'\n", v);
                return 2;
            }
            threads = (int)t;
        } else if (strcmp(a, "--object") == 0) {
            if (n_ids == MAX_OBJECTS) {
                fprintf(stderr, "cor-echo-host: at most %d --object\n", MAX_OBJECTS);
                return 2;
            }
            ids[n_ids++] = v;
        } else {
            fprintf(stderr, "cor-echo-host: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    cor_log_set_program("cor-echo-host");

    int rv = 1;
    cor_error_t err;
    cor_runtime_t *rt = NULL;
    cor_loop_t *loop = NULL;
    cor_runtime_opts_t opts = {.version = COR_RUNTIME_OPTS_VERSION, .server_threads = threads};
    if (cor_runtime_new(&opts, &rt, &err) != 0 ||
        cor_runtime_register_class(rt, &echo_class, &err) != 0)
        goto fail;
    char list[MAX_OBJECTS * (COR_OBJECT_ID_STRLEN + 1) + 1] = "";
    for (int i = 0; i < (n_ids ? n_ids : 1); i++) {
        cor_object_id_t id;
        if (n_ids > 0 && cor_object_id_parse(ids[i], &id) != 0) {
            fprintf(stderr, "cor-echo-host: '%s' is not a 32-hex-digit object id\n", ids[i]);
            rv = 2;
            goto out;
        }
        if (n_ids == 0)
            cor_object_id_generate(&id);
        if (cor_object_create(rt, "echo.Echo", NULL, 0, &(cor_create_opts_t){.here = 1, .id = &id}, NULL, &err) != 0)
            goto fail;
        char s[COR_OBJECT_ID_STRLEN + 1];
        cor_object_id_format(&id, s);
        if (i > 0)
            strcat(list, ",");
        strcat(list, s);
    }
    if (cor_runtime_listen(rt, listen, unix_path, &err) != 0)
        goto fail;
    if (cor_loop_new(&loop, &err) != 0 ||
        cor_loop_on_signal(loop, SIGTERM, on_signal, loop, &err) != 0 ||
        cor_loop_on_signal(loop, SIGINT, on_signal, loop, &err) != 0)
        goto fail;
    printf("ready tcp=%s unix=%s host=%s objects=%s\n", cor_runtime_tcp_address(rt),
           cor_runtime_unix_path(rt), cor_runtime_host_id(rt), list);
    fflush(stdout);
    cor_log_info("serving %s on %s %s", list, cor_runtime_tcp_address(rt),
                 cor_runtime_unix_path(rt));
    cor_loop_run(loop);
    rv = 0;
    goto out;
fail:
    fprintf(stderr, "cor-echo-host: %s\n", err.msg);
out:
    cor_runtime_free(rt);
    cor_loop_free(loop);
    return rv;
}
