/*
 * echo_client.c — cor-echo-client: calls an Echo object through the
 * generated proxies. Shows the three ways a call travels: TCP to another
 * host, the unix socket to another process on this host, and co-located
 * (no transport at all).
 *
 *   cor-echo-client --object ID --tcp ADDR [--unix PATH --host HOSTID]
 *                   [--deadline MS] say TEXT | add N | sleep MS
 *   cor-echo-client --local say TEXT     # hosts its own object in-process
 *
 * Prints the reply; on failure prints the error (which names the object
 * and method) and exits 1.
 */
#include <cor/cor.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "echo/echo.cor.h"
#include "echo_class.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: cor-echo-client (--object ID --tcp ADDR [--unix PATH --host HOSTID] | --local)\n"
               "                       [--deadline MS] (say TEXT | add N | sleep MS)\n");
}

static int parse_long(const char *s, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (s[0] == '\0' || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    const char *object = NULL, *tcp = NULL, *unix_path = NULL, *host = NULL;
    long deadline = 0;
    int local = 0, i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--local") == 0) {
            local = 1;
            continue;
        }
        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "cor-echo-client: %s needs a value\n", a);
            return 2;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--object") == 0)
            object = v;
        else if (strcmp(a, "--tcp") == 0)
            tcp = v;
        else if (strcmp(a, "--unix") == 0)
            unix_path = v;
        else if (strcmp(a, "--host") == 0)
            host = v;
        else if (strcmp(a, "--deadline") == 0 && parse_long(v, &deadline) == 0 && deadline > 0)
            ;
        else {
            fprintf(stderr, "cor-echo-client: bad option %s %s\n", a, v);
            usage(stderr);
            return 2;
        }
    }
    if (i + 2 != argc || (!local && (object == NULL || (tcp == NULL && unix_path == NULL)))) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[i], *arg = argv[i + 1];

    int rv = 1;
    cor_error_t err;
    cor_runtime_t *rt = NULL;
    cor_ref_t *ref = NULL;
    if (cor_runtime_new(NULL, &rt, &err) != 0)
        goto fail;
    if (local) {
        if (cor_runtime_register_class(rt, &echo_class, &err) != 0 ||
            cor_object_create(rt, "echo.Echo", NULL, 0, &(cor_create_opts_t){.here = 1}, &ref, &err) != 0)
            goto fail;
    } else {
        cor_object_id_t id;
        if (cor_object_id_parse(object, &id) != 0) {
            fprintf(stderr, "cor-echo-client: '%s' is not a 32-hex-digit object id\n", object);
            rv = 2;
            goto out;
        }
        ref = cor_ref_new(rt, &id, "echo.Echo", NULL);
        if (ref == NULL || cor_ref_set_location(ref, tcp, unix_path, host, 0, &err) != 0)
            goto fail;
    }
    cor_ref_set_deadline(ref, (int)deadline);

    if (strcmp(cmd, "say") == 0) {
        Echo__SayRequest req = ECHO__SAY_REQUEST__INIT;
        req.text = (char *)arg;
        Echo__SayReply *rep;
        if (echo_echo_say(ref, &req, &rep, &err) != 0)
            goto fail;
        printf("%s\n", rep->text);
        echo__say_reply__free_unpacked(rep, NULL);
    } else if (strcmp(cmd, "add") == 0 || strcmp(cmd, "sleep") == 0) {
        long n;
        if (parse_long(arg, &n) != 0) {
            fprintf(stderr, "cor-echo-client: '%s' is not a number\n", arg);
            rv = 2;
            goto out;
        }
        if (cmd[0] == 'a') {
            Echo__AddRequest req = ECHO__ADD_REQUEST__INIT;
            req.delta = n;
            Echo__AddReply *rep;
            if (echo_echo_add(ref, &req, &rep, &err) != 0)
                goto fail;
            printf("%lld\n", (long long)rep->total);
            echo__add_reply__free_unpacked(rep, NULL);
        } else {
            Echo__SleepRequest req = ECHO__SLEEP_REQUEST__INIT;
            req.ms = (uint32_t)n;
            Echo__SleepReply *rep;
            if (echo_echo_sleep(ref, &req, &rep, &err) != 0)
                goto fail;
            printf("slept %u ms\n", rep->slept_ms);
            echo__sleep_reply__free_unpacked(rep, NULL);
        }
    } else {
        fprintf(stderr, "cor-echo-client: unknown command '%s'\n", cmd);
        usage(stderr);
        rv = 2;
        goto out;
    }
    rv = 0;
    goto out;
fail:
    fprintf(stderr, "cor-echo-client: %s (%s)\n", err.msg, cor_error_name(err.code));
out:
    cor_ref_free(ref);
    cor_runtime_free(rt);
    return rv;
}
