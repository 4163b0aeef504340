/*
 * corctl.c — the operator's command line for a Corundum cluster
 * (DESIGN.md "Operating it"): list kernel servers and objects, create,
 * describe, call and delete objects, ping the OMS. Reference: docs/corctl.md.
 *
 *   corctl [--oms ADDR] [--json] [--timeout MS] [--module PATH.so]... COMMAND ...
 *
 * Every command is one or a few calls of the OMS API (proto/cor/oms.proto)
 * through the runtime's typed control-plane layer (cor_rpc_call); `call`
 * then calls the object itself with cor_call, turning JSON into the
 * method's request message and the reply back into JSON (json_pb.h). To do
 * that corctl must know the object's class: the classes linked into it
 * (classes.c) and those of modules given with --module.
 *
 * This file is the driver: global options, then the command's row of
 * corctl_commands[] (commands.c, see ctl.h) run as parse -> build ->
 * fetch -> json or text, with the errors and exit codes said once here.
 * Output: aligned tables for people, --json for scripts (output.h,
 * table.h). Errors go to stderr as one line, "corctl: <what was wrong>".
 * Exit codes: 0 success, 1 the OMS or the object refused or could not be
 * reached, 2 the command line or its input was wrong (nothing was sent for
 * a bad request).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "output.h"
#include "host.h"

#define DEFAULT_OMS "127.0.0.1:7700"
#define DEFAULT_TIMEOUT_MS 5000

static const char usage_line[] =
    "usage: corctl [--oms ADDR] [--json] [--timeout MS] [--module PATH.so]... COMMAND ...";

/* ---------------- errors ---------------- */

static void say(const char *fmt, va_list ap)
{
    fputs("corctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int corctl_usage_error(const ctl_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(fmt, ap);
    va_end(ap);
    if (c != NULL && c->command != NULL)
        fprintf(stderr, "usage: corctl [OPTIONS] %s\n", c->command->usage);
    else
        fprintf(stderr, "%s\n", usage_line);
    return EXIT_USAGE;
}

int corctl_input_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(fmt, ap);
    va_end(ap);
    return EXIT_USAGE;
}

int corctl_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(fmt, ap);
    va_end(ap);
    return EXIT_FAIL;
}

int corctl_call_error(const cor_error_t *err)
{
    return corctl_fail("%s", err->msg[0] ? err->msg : cor_strerror(err->code));
}

int corctl_oom(void)
{
    return corctl_fail("out of memory");
}

/* ---------------- the OMS ---------------- */

int corctl_rpc(ctl_t *c, enum cor_method_index m, const ProtobufCMessage *req,
               const ProtobufCMessageDescriptor *rd, int deadline_ms, ProtobufCMessage **rep,
               cor_error_t *err)
{
    *rep = NULL;
    return cor_rpc_call(cor_runtime_client(c->rt), c->oms, m, req, rd,
                        deadline_ms > 0 ? deadline_ms : c->timeout_ms, rep, err);
}

int corctl_oms_call(ctl_t *c, enum cor_method_index m, const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *rd, int deadline_ms, ProtobufCMessage **rep,
                    cor_error_t *err)
{
    int rc = corctl_rpc(c, m, req, rd, deadline_ms, rep, err);
    /* Say which OMS when it could not be reached; its own refusals
     * ("no object named 'x'") are clear as they are. */
    if (rc == COR_EUNAVAIL || rc == COR_ETIMEDOUT)
        cor_error_prefix(err, "OMS at %s", c->oms);
    return rc;
}

/* The reply's "object" submessage, or NULL. */
static const ProtobufCMessage *reply_object(const ProtobufCMessage *m)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "object");
    if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return NULL;
    return *(const ProtobufCMessage *const *)((const char *)m + f->offset);
}

int corctl_fetch(ctl_t *c, corctl_args_t *a, const ProtobufCMessage *req,
                 ProtobufCMessage **reply)
{
    (void)a;
    const corctl_cmd_t *k = c->command;
    cor_error_t err;
    if (corctl_oms_call(c, k->method, req, k->reply_desc, 0, reply, &err) != 0)
        return corctl_call_error(&err);
    if (k->needs_object && reply_object(*reply) == NULL) {
        protobuf_c_message_free_unpacked(*reply, NULL);
        *reply = NULL;
        const char *method = strrchr(cor_method_paths[k->method], '/') + 1;
        return corctl_fail("the OMS answered %s without an object", method);
    }
    return 0;
}

int corctl_set_obj(const ctl_t *c, corctl_args_t *a, const char *obj, ProtobufCBinaryData *id,
                   char **name)
{
    if (obj[0] == '\0')
        return corctl_usage_error(c, "OBJ is empty (give an object id or name)");
    if (strlen(obj) == COR_OBJECT_ID_STRLEN && cor_object_id_parse(obj, &a->id) == 0) {
        id->data = a->id.b;
        id->len = COR_OBJECT_ID_BYTES;
    } else {
        *name = (char *)obj;
    }
    return 0;
}

/* ---------------- running a command ---------------- */

/* Matches "--opt VALUE" or "--opt=VALUE" at argv[*i]. Returns 1 (value in
 * *val, *i advanced past it), 0 (not this option) or -1 (no value). */
static int take_opt(const char *const *argv, int argc, int *i, const char *opt, const char **val)
{
    size_t n = strlen(opt);
    const char *a = argv[*i];
    if (strncmp(a, opt, n) != 0)
        return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *val = argv[++*i];
    return 1;
}

/* Splits the command's arguments by its row: options (matched by name,
 * values in a->opt) and at most max_pos positionals, at least min_pos.
 * Returns 0 or a usage exit code. */
static int parse_args(const ctl_t *c, corctl_args_t *a)
{
    const corctl_cmd_t *k = c->command;
    for (int i = 0; i < c->argc; i++) {
        const char *s = c->argv[i];
        if (s[0] == '-' && s[1] == '-' && s[2] != '\0') {
            size_t o = 0;
            for (; k->opts != NULL && k->opts[o] != NULL; o++) {
                int r = take_opt(c->argv, c->argc, &i, k->opts[o], &a->opt[o]);
                if (r < 0)
                    return corctl_usage_error(c, "%s needs a value", k->opts[o]);
                if (r > 0)
                    break;
            }
            if (k->opts == NULL || k->opts[o] == NULL)
                return corctl_usage_error(c, "%s: unknown option '%s'", c->cmd, s);
            continue;
        }
        if (a->npos == k->max_pos)
            return corctl_usage_error(c, "%s: unexpected argument '%s'", c->cmd, s);
        a->pos[a->npos++] = s;
    }
    if (a->npos < k->min_pos)
        return corctl_usage_error(c, "%s", k->missing);
    return 0;
}

/* parse -> build -> fetch -> json or text. Returns the exit code. */
static int run(ctl_t *c)
{
    const corctl_cmd_t *k = c->command;
    corctl_args_t a;
    memset(&a, 0, sizeof(a));
    ProtobufCMessage *req = NULL, *reply = NULL;
    int rc = parse_args(c, &a);
    if (rc == 0)
        rc = k->build(c, &a, &req);
    if (rc == 0)
        rc = (k->fetch != NULL ? k->fetch : corctl_fetch)(c, &a, req, &reply);
    free(a.owned);
    if (rc != 0)
        return rc;
    if (c->json) {
        json_object *j = k->json(c, &a, reply);
        if (j == NULL) {
            rc = corctl_oom();
        } else {
            corctl_print_json(j, k->json_one_line);
            json_object_put(j);
        }
    } else {
        rc = k->text(c, &a, reply);
    }
    protobuf_c_message_free_unpacked(reply, NULL);
    return rc;
}

/* ---------------- main ---------------- */

/* "nodes, objects, ..." for messages; a static buffer. */
static const char *command_names(void)
{
    static char buf[256];
    size_t n = 0;
    for (size_t i = 0; i < corctl_n_commands && n < sizeof(buf); i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? ", " : "",
                              corctl_commands[i].name);
    return buf;
}

static void print_help(FILE *f)
{
    fprintf(f, "%s\n\ncommands:\n", usage_line);
    for (size_t i = 0; i < corctl_n_commands; i++)
        fprintf(f, "  corctl %s\n", corctl_commands[i].usage);
    fprintf(f, "\nOBJ is a 32-hex-digit object id or an object name.\n"
               "ADDR defaults to $COR_OMS, else %s. MS defaults to %d.\n"
               "Exit codes: 0 ok, 1 the call failed, 2 bad usage or input.\n",
            DEFAULT_OMS, DEFAULT_TIMEOUT_MS);
}

static int parse_timeout(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (s[0] == '\0' || *end != '\0' || errno != 0 || v < 1 || v > 3600000)
        return -1;
    *out = (int)v;
    return 0;
}

int main(int argc, char **argv)
{
    ctl_t c;
    memset(&c, 0, sizeof(c));
    c.timeout_ms = DEFAULT_TIMEOUT_MS;
    const char *modules[CORCTL_MAX_MODULES];
    size_t n_modules = 0;
    const char *env = getenv("COR_OMS");
    c.oms = env != NULL && env[0] != '\0' ? env : DEFAULT_OMS;

    /* Global options may appear anywhere; the rest is the command and its
     * arguments. "--" ends option parsing. */
    int dashdash = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v;
        int r;
        if (!dashdash && strcmp(a, "--") == 0) {
            dashdash = 1;
            continue;
        }
        if (!dashdash && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            print_help(stdout);
            return 0;
        }
        if (!dashdash && strcmp(a, "--json") == 0) {
            c.json = 1;
            continue;
        }
        if (!dashdash && (r = take_opt((const char *const *)argv, argc, &i, "--oms", &v)) != 0) {
            if (r < 0 || v[0] == '\0')
                return corctl_usage_error(NULL, "--oms needs an address (HOST:PORT)");
            if (strncmp(v, "unix:", 5) != 0 && strrchr(v, ':') == NULL)
                return corctl_usage_error(NULL, "--oms '%s': expected HOST:PORT", v);
            c.oms = v;
            continue;
        }
        if (!dashdash && (r = take_opt((const char *const *)argv, argc, &i, "--timeout", &v)) != 0) {
            if (r < 0 || parse_timeout(v, &c.timeout_ms) != 0)
                return corctl_usage_error(
                    NULL, "--timeout needs a number of milliseconds in 1..3600000%s%s%s",
                    r > 0 ? ", not '" : "", r > 0 ? v : "", r > 0 ? "'" : "");
            continue;
        }
        if (!dashdash && (r = take_opt((const char *const *)argv, argc, &i, "--module", &v)) != 0) {
            if (r < 0)
                return corctl_usage_error(NULL, "--module needs a path to a .so");
            if (n_modules == CORCTL_MAX_MODULES)
                return corctl_usage_error(NULL, "at most %d --module options",
                                          CORCTL_MAX_MODULES);
            modules[n_modules++] = v;
            continue;
        }
        if (c.cmd == NULL) {
            if (a[0] == '-' && !dashdash)
                return corctl_usage_error(NULL, "unknown option '%s'", a);
            c.cmd = a;
            continue;
        }
        if (c.argc == CORCTL_MAX_ARGS)
            return corctl_usage_error(NULL, "too many arguments");
        c.argv[c.argc++] = a;
    }
    if (c.cmd == NULL)
        return corctl_usage_error(NULL, "no command given (%s)", command_names());

    for (size_t i = 0; i < corctl_n_commands; i++)
        if (strcmp(corctl_commands[i].name, c.cmd) == 0)
            c.command = &corctl_commands[i];
    if (c.command == NULL)
        return corctl_usage_error(NULL, "unknown command '%s' (%s)", c.cmd, command_names());

    corctl_classes_init(&c.classes);
    char emsg[512];
    for (size_t i = 0; i < n_modules; i++)
        if (corctl_classes_load_module(&c.classes, modules[i], emsg, sizeof(emsg)) != 0) {
            corctl_classes_close(&c.classes);
            return corctl_usage_error(NULL, "--module: %s", emsg);
        }

    cor_runtime_opts_t ro = {.version = COR_RUNTIME_OPTS_VERSION,
                             .default_deadline_ms = c.timeout_ms,
                             .server_threads = 1,
                             .oms_address = c.oms};
    cor_error_t err;
    if (cor_runtime_new(&ro, &c.rt, &err) != 0) {
        corctl_classes_close(&c.classes);
        return corctl_call_error(&err);
    }
    int rc = run(&c);
    fflush(stdout);
    cor_runtime_free(c.rt);
    corctl_classes_close(&c.classes);
    return rc;
}
