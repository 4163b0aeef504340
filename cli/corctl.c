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
 * Output: aligned tables for people, --json for scripts. Errors go to
 * stderr as one line, "corctl: <what was wrong>". Exit codes: 0 success,
 * 1 the OMS or the object refused or could not be reached, 2 the command
 * line or its input was wrong (nothing was sent for a bad request).
 */
#include <cor/cor.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json.h>

#include "classes.h"
#include "cor/oms.pb-c.h"
#include "json_pb.h"
#include "labels.h"
#include "rpc.h"
#include "host.h"
#include "table.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

#define DEFAULT_OMS "127.0.0.1:7700"
#define DEFAULT_TIMEOUT_MS 5000
#define MAX_ARGS 64

static const char usage_line[] =
    "usage: corctl [--oms ADDR] [--json] [--timeout MS] [--module PATH.so]... COMMAND ...";


typedef struct ctl {
    const char *oms;
    int json;
    int timeout_ms;
    const char *cmd;
    const char *cmd_usage;
    int argc; /* the command's own arguments */
    const char *argv[MAX_ARGS];
    cor_runtime_t *rt;
    corctl_classes_t classes;
} ctl_t;

static int cmd_nodes(ctl_t *c);
static int cmd_objects(ctl_t *c);
static int cmd_create(ctl_t *c);
static int cmd_describe(ctl_t *c);
static int cmd_call(ctl_t *c);
static int cmd_delete(ctl_t *c);
static int cmd_migrate(ctl_t *c);
static int cmd_ping(ctl_t *c);

/* Every command: its name, its usage line and what runs it. */
static const struct {
    const char *name;
    const char *usage;
    int (*fn)(ctl_t *);
} commands[] = {
    {"nodes", "nodes", cmd_nodes},
    {"objects", "objects [--class CLASS] [--node NODE]", cmd_objects},
    {"create",
     "create CLASS [--name NAME] [--dm CHAIN] [--selector k=v,...] "
     "[--args JSON | --args-hex HEX]",
     cmd_create},
    {"describe", "describe OBJ", cmd_describe},
    {"call", "call OBJ METHOD [JSON]", cmd_call},
    {"delete", "delete OBJ", cmd_delete},
    {"migrate", "migrate OBJ (--to NODE | --selector k=v,...)", cmd_migrate},
    {"ping", "ping", cmd_ping},
};

/* "nodes, objects, ..." for messages; a static buffer. */
static const char *command_names(void)
{
    static char buf[256];
    size_t n = 0;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]) && n < sizeof(buf); i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? ", " : "", commands[i].name);
    return buf;
}

static void print_help(FILE *f)
{
    fprintf(f, "%s\n\ncommands:\n", usage_line);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  corctl %s\n", commands[i].usage);
    fprintf(f, "\nOBJ is a 32-hex-digit object id or an object name.\n"
               "ADDR defaults to $COR_OMS, else %s. MS defaults to %d.\n"
               "Exit codes: 0 ok, 1 the call failed, 2 bad usage or input.\n",
            DEFAULT_OMS, DEFAULT_TIMEOUT_MS);
}

static int usage_error(const ctl_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Bad command line or input: says what, then the usage line. Returns 2. */
static int usage_error(const ctl_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("corctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (c != NULL && c->cmd_usage != NULL)
        fprintf(stderr, "usage: corctl [OPTIONS] %s\n", c->cmd_usage);
    else
        fprintf(stderr, "%s\n", usage_line);
    return EXIT_USAGE;
}

/* Bad input that is not about the command line's shape (JSON, classes):
 * one line, no usage. Returns 2. */
static int input_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int input_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("corctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return EXIT_USAGE;
}

static int call_error(const cor_error_t *err)
{
    fprintf(stderr, "corctl: %s\n", err->msg[0] ? err->msg : cor_strerror(err->code));
    return EXIT_FAIL;
}

/* ---------------- helpers ---------------- */

static int oms_call(ctl_t *c, enum cor_method_index m, const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *rd, ProtobufCMessage **rep, cor_error_t *err)
{
    *rep = NULL;
    int rc = cor_rpc_call(cor_runtime_client(c->rt), c->oms, m, req, rd, c->timeout_ms, rep, err);
    /* Say which OMS when it could not be reached; its own refusals
     * ("no object named 'x'") are clear as they are. */
    if (rc == COR_EUNAVAIL || rc == COR_ETIMEDOUT)
        cor_error_prefix(err, "OMS at %s", c->oms);
    return rc;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "1.2s ago", "5m03s ago", "2h10m ago", "3d04h ago"; "never" for 0. */
static void fmt_age(int64_t then_ms, char *out, size_t n)
{
    if (then_ms <= 0) {
        snprintf(out, n, "never");
        return;
    }
    int64_t a = now_ms() - then_ms;
    if (a < 0)
        a = 0;
    if (a < 60000)
        snprintf(out, n, "%.1fs ago", (double)a / 1000.0);
    else if (a < 3600000)
        snprintf(out, n, "%dm%02ds ago", (int)(a / 60000), (int)(a / 1000 % 60));
    else if (a < 86400000)
        snprintf(out, n, "%dh%02dm ago", (int)(a / 3600000), (int)(a / 60000 % 60));
    else
        snprintf(out, n, "%dd%02dh ago", (int)(a / 86400000), (int)(a / 3600000 % 24));
}

static void fmt_time(int64_t ms, char *out, size_t n)
{
    if (ms <= 0) {
        snprintf(out, n, "-");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char when[64], age[48];
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
    fmt_age(ms, age, sizeof(age));
    snprintf(out, n, "%s (%s)", when, age);
}

static void id_hex(const ProtobufCBinaryData *b, char out[COR_OBJECT_ID_STRLEN + 1])
{
    cor_object_id_t id;
    if (cor_object_id_from_bytes(b->data, b->len, &id) == 0)
        cor_object_id_format(&id, out);
    else
        snprintf(out, COR_OBJECT_ID_STRLEN + 1, "?");
}

/* An enum value's name without its prefix: NODE_ALIVE -> ALIVE. */
static const char *enum_short(const ProtobufCEnumDescriptor *d, int v, const char *prefix)
{
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);
    if (ev == NULL)
        return "?";
    size_t n = strlen(prefix);
    return strncmp(ev->name, prefix, n) == 0 ? ev->name + n : ev->name;
}

static const char *node_state(int v)
{
    return enum_short(&cor__node_state__descriptor, v, "NODE_");
}

static const char *replica_state(int v)
{
    return enum_short(&cor__replica_state__descriptor, v, "REPLICA_");
}

/* What the objects table shows as an object's state: its first replica's,
 * or NODE-DEAD when that replica's kernel server is dead. */
static const char *object_state(const Cor__ObjectInfo *o)
{
    if (o->n_replicas == 0)
        return "NO-REPLICA";
    const Cor__Replica *r = o->replicas[0];
    if (r->state == COR__REPLICA_STATE__REPLICA_ACTIVE &&
        r->node_state != COR__NODE_STATE__NODE_ALIVE)
        return r->node_state == COR__NODE_STATE__NODE_DEAD ? "NODE-DEAD" : "NODE-REPLACED";
    return replica_state(r->state);
}

static void print_json(json_object *j)
{
    const char *s = json_object_to_json_string_ext(
        j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
    printf("%s\n", s ? s : "null");
}

/* ObjectInfo as JSON, with the id as 32 hex digits rather than base64. */
static json_object *object_json(const Cor__ObjectInfo *o)
{
    json_object *j = cor_pb_to_json_object(&o->base);
    if (j != NULL) {
        char hex[COR_OBJECT_ID_STRLEN + 1];
        id_hex(&o->id, hex);
        json_object_object_add(j, "id", json_object_new_string(hex));
    }
    return j;
}

static int oom(void)
{
    fprintf(stderr, "corctl: out of memory\n");
    return EXIT_FAIL;
}

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

/* Splits the command's arguments into options (each in opts[], matched by
 * name, value in vals[]) and positionals. Returns 0 or a usage exit code. */
static int parse_cmd_args(const ctl_t *c, const char *const *opts, const char **vals, size_t nopts,
                          const char **pos, int *npos, int maxpos)
{
    *npos = 0;
    for (int i = 0; i < c->argc; i++) {
        const char *a = c->argv[i];
        if (a[0] == '-' && a[1] == '-' && a[2] != '\0') {
            size_t k;
            for (k = 0; k < nopts; k++) {
                int r = take_opt(c->argv, c->argc, &i, opts[k], &vals[k]);
                if (r < 0)
                    return usage_error(c, "%s needs a value", opts[k]);
                if (r > 0)
                    break;
            }
            if (k == nopts)
                return usage_error(c, "%s: unknown option '%s'", c->cmd, a);
            continue;
        }
        if (*npos == maxpos)
            return usage_error(c, "%s: unexpected argument '%s'", c->cmd, a);
        pos[(*npos)++] = a;
    }
    return 0;
}

/* Fills a Lookup/Delete-style (id, name) pair from OBJ. */
static int parse_obj(const ctl_t *c, const char *obj, cor_object_id_t *id, int *is_id)
{
    if (obj[0] == '\0')
        return usage_error(c, "OBJ is empty (give an object id or name)");
    *is_id = strlen(obj) == COR_OBJECT_ID_STRLEN && cor_object_id_parse(obj, id) == 0;
    return 0;
}

/* Asks the OMS for the object named by obj (id or name). */
static int lookup(ctl_t *c, const char *obj, Cor__LookupReply **out, cor_error_t *err)
{
    cor_object_id_t id;
    int is_id = 0;
    Cor__LookupRequest req = COR__LOOKUP_REQUEST__INIT;
    int rc = parse_obj(c, obj, &id, &is_id);
    if (rc != 0)
        return rc;
    if (is_id) {
        req.id.data = id.b;
        req.id.len = COR_OBJECT_ID_BYTES;
    } else {
        req.name = (char *)obj;
    }
    ProtobufCMessage *m;
    if (oms_call(c, COR_M_OMS_LOOKUP, &req.base, &cor__lookup_reply__descriptor, &m, err) != 0)
        return call_error(err);
    *out = (Cor__LookupReply *)m;
    if ((*out)->object == NULL) {
        protobuf_c_message_free_unpacked(m, NULL);
        fprintf(stderr, "corctl: the OMS answered Lookup without an object\n");
        return EXIT_FAIL;
    }
    return 0;
}

static int parse_hex(const char *s, uint8_t **out, size_t *len)
{
    size_t n = strlen(s);
    if (n % 2 != 0)
        return -1;
    uint8_t *b = malloc(n / 2 + 1);
    if (b == NULL)
        return -1;
    for (size_t i = 0; i < n; i += 2) {
        unsigned v;
        char two[3] = {s[i], s[i + 1], 0};
        char *end;
        if (!strchr("0123456789abcdefABCDEF", s[i]) || !strchr("0123456789abcdefABCDEF", s[i + 1])) {
            free(b);
            return -1;
        }
        v = (unsigned)strtoul(two, &end, 16);
        b[i / 2] = (uint8_t)v;
    }
    *out = b;
    *len = n / 2;
    return 0;
}

/* ---------------- commands ---------------- */

static int cmd_ping(ctl_t *c)
{
    const char *pos[1];
    int npos;
    int rc = parse_cmd_args(c, NULL, NULL, 0, pos, &npos, 0);
    if (rc != 0)
        return rc;
    Cor__PingRequest req = COR__PING_REQUEST__INIT;
    ProtobufCMessage *m;
    cor_error_t err;
    if (oms_call(c, COR_M_OMS_PING, &req.base, &cor__ping_reply__descriptor, &m, &err) != 0)
        return call_error(&err);
    Cor__PingReply *rep = (Cor__PingReply *)m;
    if (c->json) {
        json_object *j = json_object_new_object();
        json_object_object_add(j, "oms", json_object_new_string(c->oms));
        json_object_object_add(j, "version", json_object_new_string(rep->version));
        print_json(j);
        json_object_put(j);
    } else {
        printf("OMS %s: version %s\n", c->oms, rep->version);
    }
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}

static int cmd_nodes(ctl_t *c)
{
    const char *pos[1];
    int npos;
    int rc = parse_cmd_args(c, NULL, NULL, 0, pos, &npos, 0);
    if (rc != 0)
        return rc;
    Cor__ListNodesRequest req = COR__LIST_NODES_REQUEST__INIT;
    ProtobufCMessage *m;
    cor_error_t err;
    if (oms_call(c, COR_M_OMS_LIST_NODES, &req.base, &cor__list_nodes_reply__descriptor, &m,
                 &err) != 0)
        return call_error(&err);
    Cor__ListNodesReply *rep = (Cor__ListNodesReply *)m;
    if (c->json) {
        json_object *j = cor_pb_to_json_object(m);
        if (j == NULL) {
            protobuf_c_message_free_unpacked(m, NULL);
            return oom();
        }
        if (json_object_object_get(j, "nodes") == NULL)
            json_object_object_add(j, "nodes", json_object_new_array());
        print_json(j);
        json_object_put(j);
        protobuf_c_message_free_unpacked(m, NULL);
        return 0;
    }
    static const char *const hdr[] = {"NAME",     "STATE",    "INCARNATION",    "ADDRESS", "LABELS",
                                      "OBJECTS",  "CAPACITY", "LAST-HEARTBEAT", "CLASSES"};
    corctl_table_t *t = corctl_table_new(9, hdr);
    rc = t == NULL ? oom() : 0;
    for (size_t i = 0; rc == 0 && i < rep->n_nodes; i++) {
        const Cor__NodeInfo *n = rep->nodes[i];
        char inc[24], labels[1024] = "", objs[16], cap[16], hb[32], classes[16];
        snprintf(inc, sizeof(inc), "%" PRIu64, n->incarnation);
        size_t o = 0;
        for (size_t k = 0; k < n->n_labels && o < sizeof(labels); k++)
            o += (size_t)snprintf(labels + o, sizeof(labels) - o, "%s%s=%s", k ? "," : "",
                                  n->labels[k]->key, n->labels[k]->value);
        snprintf(objs, sizeof(objs), "%u", n->load ? n->load->objects : 0u);
        if (n->capacity)
            snprintf(cap, sizeof(cap), "%u", n->capacity);
        else
            snprintf(cap, sizeof(cap), "-");
        fmt_age(n->last_heartbeat_ms, hb, sizeof(hb));
        snprintf(classes, sizeof(classes), "%zu", n->n_classes);
        const char *row[] = {n->name, node_state(n->state), inc, n->tcp_address, labels,
                             objs, cap, hb, classes};
        if (corctl_table_add(t, row) != 0)
            rc = oom();
    }
    if (rc == 0)
        corctl_table_print(t, stdout);
    corctl_table_free(t);
    protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

static int cmd_objects(ctl_t *c)
{
    static const char *const opts[] = {"--class", "--node"};
    const char *vals[2] = {NULL, NULL};
    const char *pos[1];
    int npos;
    int rc = parse_cmd_args(c, opts, vals, 2, pos, &npos, 0);
    if (rc != 0)
        return rc;

    static const char *const hdr[] = {"ID", "NAME", "CLASS", "NODE", "STATE", "EPOCH"};
    corctl_table_t *t = NULL;
    json_object *arr = NULL;
    if (c->json)
        arr = json_object_new_array();
    else
        t = corctl_table_new(6, hdr);
    if (arr == NULL && t == NULL)
        return oom();

    uint8_t last[COR_OBJECT_ID_BYTES];
    size_t last_len = 0;
    for (;;) {
        Cor__ListObjectsRequest req = COR__LIST_OBJECTS_REQUEST__INIT;
        req.start_after.data = last;
        req.start_after.len = last_len;
        req.class_name = (char *)(vals[0] ? vals[0] : "");
        req.node = (char *)(vals[1] ? vals[1] : "");
        ProtobufCMessage *m;
        cor_error_t err;
        if (oms_call(c, COR_M_OMS_LIST_OBJECTS, &req.base, &cor__list_objects_reply__descriptor,
                     &m, &err) != 0) {
            rc = call_error(&err);
            break;
        }
        Cor__ListObjectsReply *rep = (Cor__ListObjectsReply *)m;
        for (size_t i = 0; rc == 0 && i < rep->n_objects; i++) {
            const Cor__ObjectInfo *o = rep->objects[i];
            if (arr != NULL) {
                json_object *j = object_json(o);
                if (j == NULL || json_object_array_add(arr, j) != 0)
                    rc = oom();
                continue;
            }
            char id[COR_OBJECT_ID_STRLEN + 1], epoch[24];
            id_hex(&o->id, id);
            snprintf(epoch, sizeof(epoch), "%" PRIu64, o->epoch);
            const char *row[] = {id, o->name, o->class_name,
                                 o->n_replicas ? o->replicas[0]->node : "-", object_state(o),
                                 epoch};
            if (corctl_table_add(t, row) != 0)
                rc = oom();
        }
        int more = rep->more;
        if (rep->n_objects > 0) {
            const ProtobufCBinaryData *b = &rep->objects[rep->n_objects - 1]->id;
            last_len = b->len <= sizeof(last) ? b->len : sizeof(last);
            memcpy(last, b->data, last_len);
        } else if (more) {
            fprintf(stderr, "corctl: the OMS sent an empty page with more=true\n");
            rc = EXIT_FAIL;
        }
        protobuf_c_message_free_unpacked(m, NULL);
        if (rc != 0 || !more)
            break;
    }
    if (rc == 0) {
        if (arr != NULL) {
            json_object *j = json_object_new_object();
            json_object_object_add(j, "objects", json_object_get(arr));
            print_json(j);
            json_object_put(j);
        } else {
            corctl_table_print(t, stdout);
        }
    }
    json_object_put(arr);
    corctl_table_free(t);
    return rc;
}

static int cmd_create(ctl_t *c)
{
    static const char *const opts[] = {"--name", "--dm", "--selector", "--args", "--args-hex"};
    const char *vals[5] = {NULL, NULL, NULL, NULL, NULL};
    const char *pos[1];
    int npos;
    int rc = parse_cmd_args(c, opts, vals, 5, pos, &npos, 1);
    if (rc != 0)
        return rc;
    if (npos != 1)
        return usage_error(c, "create: which class? (e.g. echo.Echo)");
    const char *cls = pos[0];
    if (vals[3] != NULL && vals[4] != NULL)
        return usage_error(c, "create: give --args or --args-hex, not both");
    if (vals[2] != NULL) {
        cor_selector_t sel;
        cor_error_t err;
        if (cor_selector_parse(vals[2], &sel, &err) != 0)
            return usage_error(c, "bad --selector '%s': %s", vals[2], err.msg);
    }
    uint8_t *args = NULL;
    size_t args_len = 0;
    if (vals[3] != NULL) {
        const corctl_class_t *k = corctl_classes_find(&c->classes, cls);
        char names[512];
        corctl_classes_names(&c->classes, names, sizeof(names));
        if (k == NULL)
            return input_error("--args: corctl does not know class %s, so it cannot convert "
                               "JSON to its constructor arguments; pass them packed with "
                               "--args-hex HEX, or load its module with --module (known: %s)",
                               cls, names);
        if (k->args == NULL)
            return input_error("--args: corctl does not know the constructor-args message of "
                               "%s (from %s); pass them packed with --args-hex HEX",
                               cls, k->origin);
        ProtobufCMessage *a;
        char emsg[512];
        if (cor_json_to_pb(vals[3], k->args, &a, emsg, sizeof(emsg)) != 0)
            return input_error("--args (%s): %s", k->args->name, emsg);
        args_len = protobuf_c_message_get_packed_size(a);
        args = malloc(args_len + 1);
        if (args == NULL) {
            protobuf_c_message_free_unpacked(a, NULL);
            return oom();
        }
        protobuf_c_message_pack(a, args);
        protobuf_c_message_free_unpacked(a, NULL);
    } else if (vals[4] != NULL) {
        if (parse_hex(vals[4], &args, &args_len) != 0)
            return usage_error(c, "--args-hex: '%.40s' is not an even number of hex digits",
                               vals[4]);
    }

    Cor__CreateObjectRequest req = COR__CREATE_OBJECT_REQUEST__INIT;
    req.class_name = (char *)cls;
    req.args.data = args;
    req.args.len = args_len;
    req.name = (char *)(vals[0] ? vals[0] : "");
    req.dm_chain = (char *)(vals[1] ? vals[1] : "");
    req.selector = (char *)(vals[2] ? vals[2] : "");
    ProtobufCMessage *m;
    cor_error_t err;
    rc = oms_call(c, COR_M_OMS_CREATE_OBJECT, &req.base, &cor__create_object_reply__descriptor, &m,
                  &err);
    free(args);
    if (rc != 0)
        return call_error(&err);
    Cor__CreateObjectReply *rep = (Cor__CreateObjectReply *)m;
    if (rep->object == NULL) {
        protobuf_c_message_free_unpacked(m, NULL);
        fprintf(stderr, "corctl: the OMS answered CreateObject without an object\n");
        return EXIT_FAIL;
    }
    if (c->json) {
        json_object *j = object_json(rep->object);
        rc = j == NULL ? oom() : 0;
        if (j != NULL)
            print_json(j);
        json_object_put(j);
    } else {
        char id[COR_OBJECT_ID_STRLEN + 1];
        id_hex(&rep->object->id, id);
        printf("%s\n", id);
    }
    protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

static int cmd_describe(ctl_t *c)
{
    const char *pos[1];
    int npos;
    int rc = parse_cmd_args(c, NULL, NULL, 0, pos, &npos, 1);
    if (rc != 0)
        return rc;
    if (npos != 1)
        return usage_error(c, "describe: which object? (an id or a name)");
    Cor__LookupReply *rep;
    cor_error_t err;
    rc = lookup(c, pos[0], &rep, &err);
    if (rc != 0)
        return rc;
    const Cor__ObjectInfo *o = rep->object;
    if (c->json) {
        json_object *j = object_json(o);
        rc = j == NULL ? oom() : 0;
        if (j != NULL)
            print_json(j);
        json_object_put(j);
        protobuf_c_message_free_unpacked(&rep->base, NULL);
        return rc;
    }
    char id[COR_OBJECT_ID_STRLEN + 1], created[160];
    id_hex(&o->id, id);
    fmt_time(o->created_ms, created, sizeof(created));
    printf("id:        %s\n", id);
    printf("name:      %s\n", o->name[0] ? o->name : "-");
    printf("class:     %s\n", o->class_name);
    printf("dm chain:  %s\n", o->dm_chain[0] ? o->dm_chain : "-");
    printf("selector:  %s\n", o->selector[0] ? o->selector : "-");
    printf("created:   %s\n", created);
    printf("epoch:     %" PRIu64 "\n", o->epoch);
    if (o->checkpoint_ms != 0) {
        char ck[160];
        fmt_time(o->checkpoint_ms, ck, sizeof(ck));
        printf("checkpoint: %s\n", ck);
    }
    printf("replicas:  %zu\n\n", o->n_replicas);
    static const char *const hdr[] = {"NODE",  "ADDRESS", "NODE-STATE",
                                      "STATE", "EPOCH",   "INCARNATION"};
    corctl_table_t *t = corctl_table_new(6, hdr);
    rc = t == NULL ? oom() : 0;
    for (size_t i = 0; rc == 0 && i < o->n_replicas; i++) {
        const Cor__Replica *r = o->replicas[i];
        char epoch[24], inc[24];
        snprintf(epoch, sizeof(epoch), "%" PRIu64, r->epoch);
        snprintf(inc, sizeof(inc), "%" PRIu64, r->incarnation);
        const char *row[] = {r->node,  r->tcp_address, node_state(r->node_state),
                             replica_state(r->state), epoch, inc};
        if (corctl_table_add(t, row) != 0)
            rc = oom();
    }
    if (rc == 0)
        corctl_table_print(t, stdout);
    corctl_table_free(t);
    if (rc == 0 && o->moving != NULL)
        printf("\nmoving to %s: %s, round %u, %.1f MiB copied\n", o->moving->to_node,
               o->moving->phase, o->moving->round, o->moving->bytes_copied / 1048576.0);
    if (rc == 0 && o->n_moves > 0) {
        printf("\nmoves (most recent last):\n");
        for (size_t i = 0; i < o->n_moves; i++) {
            char when[160];
            fmt_time(o->moves[i]->at_ms, when, sizeof(when));
            printf("  %s  %s -> %s  frozen %.2f ms  epoch %llu\n", when, o->moves[i]->from_node,
                   o->moves[i]->to_node, o->moves[i]->frozen_us / 1000.0,
                   (unsigned long long)o->moves[i]->epoch);
        }
    }
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    return rc;
}

static void method_names(const cor_service_desc_t *s, char *out, size_t n)
{
    size_t o = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < s->n_methods && o < n; i++)
        o += (size_t)snprintf(out + o, n - o, "%s%s", i ? ", " : "", s->methods[i].name);
}

static int cmd_call(ctl_t *c)
{
    const char *pos[3];
    int npos;
    int rc = parse_cmd_args(c, NULL, NULL, 0, pos, &npos, 3);
    if (rc != 0)
        return rc;
    if (npos < 2)
        return usage_error(c, "call: needs an object and a method");
    const char *json = npos == 3 ? pos[2] : "{}";

    Cor__LookupReply *rep;
    cor_error_t err;
    rc = lookup(c, pos[0], &rep, &err);
    if (rc != 0)
        return rc;
    const Cor__ObjectInfo *o = rep->object;
    char id[COR_OBJECT_ID_STRLEN + 1];
    id_hex(&o->id, id);
    ProtobufCMessage *req = NULL, *reply = NULL;
    cor_ref_t *ref = NULL;

    const corctl_class_t *k = corctl_classes_find(&c->classes, o->class_name);
    if (k == NULL) {
        char names[512];
        corctl_classes_names(&c->classes, names, sizeof(names));
        rc = input_error("object %s is of class %s, which corctl does not know (known: %s); "
                         "load its module with --module PATH.so",
                         id, o->class_name, names);
        goto out;
    }
    const cor_method_desc_t *md = cor_service_method(k->cls->service, pos[1], strlen(pos[1]));
    if (md == NULL) {
        char names[512];
        method_names(k->cls->service, names, sizeof(names));
        rc = input_error("%s has no method \"%s\"; its methods: %s", o->class_name, pos[1], names);
        goto out;
    }
    char emsg[512];
    if (cor_json_to_pb(json, md->input, &req, emsg, sizeof(emsg)) != 0) {
        rc = input_error("%s.%s request (%s): %s; nothing was sent", o->class_name, md->name,
                         md->input->name, emsg);
        goto out;
    }

    /* Point a ref at the first active replica the Lookup named. */
    const Cor__Replica *r = NULL;
    for (size_t i = 0; i < o->n_replicas && r == NULL; i++)
        if (o->replicas[i]->state == COR__REPLICA_STATE__REPLICA_ACTIVE)
            r = o->replicas[i];
    if (r == NULL) {
        fprintf(stderr, "corctl: object %s has no active replica%s%s%s\n", id,
                o->n_replicas ? " (lost with kernel server " : "",
                o->n_replicas ? o->replicas[0]->node : "", o->n_replicas ? ")" : "");
        rc = EXIT_FAIL;
        goto out;
    }
    cor_object_id_t oid;
    if (cor_object_id_from_bytes(o->id.data, o->id.len, &oid) != 0) {
        fprintf(stderr, "corctl: the OMS sent an object id of %zu bytes\n", o->id.len);
        rc = EXIT_FAIL;
        goto out;
    }
    ref = cor_ref_new(c->rt, &oid, o->class_name, o->dm_chain);
    if (ref == NULL) {
        rc = oom();
        goto out;
    }
    if (cor_ref_set_location(ref, r->tcp_address, r->unix_path, r->host_id, r->epoch, &err) != 0) {
        rc = call_error(&err);
        goto out;
    }
    cor_ref_set_deadline(ref, c->timeout_ms);
    if (cor_call(ref, md, req, &reply, &err) != 0) {
        rc = call_error(&err);
        goto out;
    }
    char *text = cor_pb_to_json(reply, !c->json);
    if (text == NULL) {
        rc = oom();
        goto out;
    }
    printf("%s\n", text);
    free(text);
out:
    if (reply != NULL)
        protobuf_c_message_free_unpacked(reply, NULL);
    if (req != NULL)
        protobuf_c_message_free_unpacked(req, NULL);
    cor_ref_free(ref);
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    return rc;
}

static int cmd_delete(ctl_t *c)
{
    const char *pos[1];
    int npos;
    int rc = parse_cmd_args(c, NULL, NULL, 0, pos, &npos, 1);
    if (rc != 0)
        return rc;
    if (npos != 1)
        return usage_error(c, "delete: which object? (an id or a name)");
    cor_object_id_t id;
    int is_id = 0;
    rc = parse_obj(c, pos[0], &id, &is_id);
    if (rc != 0)
        return rc;
    Cor__DeleteObjectRequest req = COR__DELETE_OBJECT_REQUEST__INIT;
    if (is_id) {
        req.id.data = id.b;
        req.id.len = COR_OBJECT_ID_BYTES;
    } else {
        req.name = (char *)pos[0];
    }
    ProtobufCMessage *m;
    cor_error_t err;
    if (oms_call(c, COR_M_OMS_DELETE_OBJECT, &req.base, &cor__delete_object_reply__descriptor, &m,
                 &err) != 0)
        return call_error(&err);
    protobuf_c_message_free_unpacked(m, NULL);
    if (c->json) {
        json_object *j = json_object_new_object();
        json_object_object_add(j, "deleted", json_object_new_string(pos[0]));
        print_json(j);
        json_object_put(j);
    } else {
        printf("deleted %s\n", pos[0]);
    }
    return 0;
}

typedef struct mig_call {
    ctl_t *c;
    const Cor__MigrateRequest *req;
    int rc;
    cor_error_t err;
    ProtobufCMessage *reply;
    atomic_int done;
} mig_call_t;

/* A large state takes a while to copy: a minute at least, or --timeout. */
static void *mig_call(void *arg)
{
    mig_call_t *mc = arg;
    int deadline = mc->c->timeout_ms > 60000 ? mc->c->timeout_ms : 60000;
    mc->reply = NULL;
    mc->rc = cor_rpc_call(cor_runtime_client(mc->c->rt), mc->c->oms, COR_M_OMS_MIGRATE, &mc->req->base,
                          &cor__migrate_reply__descriptor, deadline, &mc->reply, &mc->err);
    atomic_store(&mc->done, 1);
    return NULL;
}

/* Prints the move's progress as the OMS reports it, every 50 ms, until
 * done; one line per new step. */
static void mig_watch(ctl_t *c, const Cor__MigrateRequest *req, atomic_int *done)
{
    Cor__LookupRequest lq = COR__LOOKUP_REQUEST__INIT;
    lq.id = req->id;
    lq.name = req->name;
    char last[160] = "";
    while (!atomic_load(done)) {
        usleep(50 * 1000);
        ProtobufCMessage *m = NULL;
        cor_error_t err;
        if (cor_rpc_call(cor_runtime_client(c->rt), c->oms, COR_M_OMS_LOOKUP, &lq.base,
                         &cor__lookup_reply__descriptor, 1000, &m, &err) != 0)
            continue;
        const Cor__MoveProgress *p = ((Cor__LookupReply *)m)->object->moving;
        char line[160] = "";
        if (p != NULL && strcmp(p->phase, "precopy") == 0 && p->round == 0)
            snprintf(line, sizeof(line), "  pre-copy to %s: copying the whole state, calls flowing",
                     p->to_node);
        else if (p != NULL && strcmp(p->phase, "precopy") == 0)
            snprintf(line, sizeof(line),
                     "  pre-copy round %u to %s: %.1f of %.1f MiB copied, calls flowing (%.0f ms)",
                     p->round, p->to_node, p->bytes_copied / 1048576.0,
                     p->state_bytes / 1048576.0, p->elapsed_us / 1000.0);
        else if (p != NULL && strcmp(p->phase, "final") == 0)
            snprintf(line, sizeof(line),
                     "  final step to %s: calls frozen, sending what changed (%.0f ms)",
                     p->to_node, p->elapsed_us / 1000.0);
        protobuf_c_message_free_unpacked(m, NULL);
        if (line[0] != '\0' && strcmp(line, last) != 0) {
            printf("%s\n", line);
            fflush(stdout);
            snprintf(last, sizeof(last), "%s", line);
        }
    }
}

static int cmd_migrate(ctl_t *c)
{
    static const char *const opts[] = {"--to", "--selector"};
    const char *vals[2] = {NULL, NULL};
    const char *pos[1];
    int npos;
    int rc = parse_cmd_args(c, opts, vals, 2, pos, &npos, 1);
    if (rc != 0)
        return rc;
    if (npos != 1)
        return usage_error(c, "migrate: which object? (an id or a name)");
    if ((vals[0] == NULL) == (vals[1] == NULL))
        return usage_error(c, "migrate: give --to NODE or --selector LABELS (one of them)");
    cor_error_t err;
    if (vals[1] != NULL) {
        cor_selector_t sel;
        if (cor_selector_parse(vals[1], &sel, &err) != 0)
            return usage_error(c, "bad --selector '%s': %s", vals[1], err.msg);
    }
    cor_object_id_t id;
    int is_id = 0;
    rc = parse_obj(c, pos[0], &id, &is_id);
    if (rc != 0)
        return rc;
    Cor__MigrateRequest req = COR__MIGRATE_REQUEST__INIT;
    if (is_id) {
        req.id.data = id.b;
        req.id.len = COR_OBJECT_ID_BYTES;
    } else {
        req.name = (char *)pos[0];
    }
    req.to_node = (char *)(vals[0] ? vals[0] : "");
    req.selector = (char *)(vals[1] ? vals[1] : "");
    if (!c->json) {
        printf("moving %s ...\n", pos[0]);
        fflush(stdout);
    }
    /* The move runs on a thread; this one polls the OMS for its progress
     * and prints each new step (people only: --json prints the result). */
    mig_call_t mc = {.c = c, .req = &req};
    atomic_init(&mc.done, 0);
    pthread_t t;
    if (pthread_create(&t, NULL, mig_call, &mc) != 0)
        return call_error(&(cor_error_t){COR_ENOMEM, "cannot start a thread"});
    if (!c->json)
        mig_watch(c, &req, &mc.done);
    pthread_join(t, NULL);
    if (mc.rc != 0)
        return call_error(&mc.err);
    ProtobufCMessage *m = mc.reply;
    Cor__MigrateReply *r = (Cor__MigrateReply *)m;
    if (c->json) {
        json_object *j = json_object_new_object();
        json_object_object_add(j, "from", json_object_new_string(r->from_node));
        json_object_object_add(j, "to", json_object_new_string(r->to_node));
        json_object_object_add(j, "stateBytes", json_object_new_int64((int64_t)r->state_bytes));
        json_object_object_add(j, "frozenUs", json_object_new_int64(r->frozen_us));
        json_object_object_add(j, "totalUs", json_object_new_int64(r->total_us));
        json_object_object_add(j, "precopyRounds", json_object_new_int64(r->precopy_rounds));
        json_object_object_add(j, "bytesCopied", json_object_new_int64((int64_t)r->bytes_copied));
        if (r->object != NULL)
            json_object_object_add(j, "object", object_json(r->object));
        print_json(j);
        json_object_put(j);
    } else {
        printf("moved %s from %s to %s: %llu bytes of state, %u pre-copy rounds, %llu bytes "
               "sent, calls frozen %.2f ms, %.2f ms in all, epoch %llu\n",
               pos[0], r->from_node, r->to_node, (unsigned long long)r->state_bytes,
               r->precopy_rounds, (unsigned long long)r->bytes_copied, r->frozen_us / 1000.0,
               r->total_us / 1000.0, (unsigned long long)(r->object ? r->object->epoch : 0));
    }
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}

/* ---------------- main ---------------- */

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
                return usage_error(NULL, "--oms needs an address (HOST:PORT)");
            if (strncmp(v, "unix:", 5) != 0 && strrchr(v, ':') == NULL)
                return usage_error(NULL, "--oms '%s': expected HOST:PORT", v);
            c.oms = v;
            continue;
        }
        if (!dashdash && (r = take_opt((const char *const *)argv, argc, &i, "--timeout", &v)) != 0) {
            if (r < 0 || parse_timeout(v, &c.timeout_ms) != 0)
                return usage_error(NULL, "--timeout needs a number of milliseconds in 1..3600000%s%s%s",
                                   r > 0 ? ", not '" : "", r > 0 ? v : "", r > 0 ? "'" : "");
            continue;
        }
        if (!dashdash && (r = take_opt((const char *const *)argv, argc, &i, "--module", &v)) != 0) {
            if (r < 0)
                return usage_error(NULL, "--module needs a path to a .so");
            if (n_modules == CORCTL_MAX_MODULES)
                return usage_error(NULL, "at most %d --module options", CORCTL_MAX_MODULES);
            modules[n_modules++] = v;
            continue;
        }
        if (c.cmd == NULL) {
            if (a[0] == '-' && !dashdash)
                return usage_error(NULL, "unknown option '%s'", a);
            c.cmd = a;
            continue;
        }
        if (c.argc == MAX_ARGS)
            return usage_error(NULL, "too many arguments");
        c.argv[c.argc++] = a;
    }
    if (c.cmd == NULL)
        return usage_error(NULL, "no command given (%s)", command_names());

    int (*fn)(ctl_t *) = NULL;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, c.cmd) == 0) {
            fn = commands[i].fn;
            c.cmd_usage = commands[i].usage;
        }
    if (fn == NULL)
        return usage_error(NULL, "unknown command '%s' (%s)", c.cmd, command_names());

    corctl_classes_init(&c.classes);
    char emsg[512];
    for (size_t i = 0; i < n_modules; i++)
        if (corctl_classes_load_module(&c.classes, modules[i], emsg, sizeof(emsg)) != 0) {
            corctl_classes_close(&c.classes);
            return usage_error(NULL, "--module: %s", emsg);
        }

    cor_runtime_opts_t ro = {.version = COR_RUNTIME_OPTS_VERSION,
                             .default_deadline_ms = c.timeout_ms,
                             .server_threads = 1,
                             .oms_address = c.oms};
    cor_error_t err;
    if (cor_runtime_new(&ro, &c.rt, &err) != 0) {
        corctl_classes_close(&c.classes);
        return call_error(&err);
    }
    int rc = fn(&c);
    fflush(stdout);
    cor_runtime_free(c.rt);
    corctl_classes_close(&c.classes);
    return rc;
}
