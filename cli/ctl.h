/*
 * ctl.h — corctl's commands and the driver that runs them (internal).
 *
 * Design: every command is one row of corctl_commands[] (commands.c): its
 * name and usage line, the options and positional arguments it takes,
 * and three steps. build turns the parsed arguments into an OMS request
 * (refusing bad input before anything is sent); fetch sends it (by
 * default one call of the row's OMS method; commands that page, poll or
 * call the object itself bring their own); json and text show the reply,
 * for --json and for people. The driver (corctl.c) does the rest once:
 * global options, splitting the command's arguments by the row's spec,
 * the OMS call with its error line, the choice between json and text, and
 * the exit codes (0 ok, 1 a call failed, 2 bad command line or input).
 *
 * Errors: each helper below prints the one "corctl: ..." line and returns
 * the exit code, so a step returns it as it is. Single-threaded, except
 * corctl_oms_call, which a command may make from a second thread.
 */
#ifndef COR_CLI_CTL_H
#define COR_CLI_CTL_H

#include <cor/cor.h>

#include <json.h>

#include "classes.h"
#include "cor/oms.pb-c.h"
#include "rpc.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

#define CORCTL_MAX_ARGS 64 /* a command's own arguments */
#define CORCTL_MAX_OPTS 8  /* options one command takes */
#define CORCTL_MAX_POS 3   /* positional arguments one command takes */

typedef struct corctl_cmd corctl_cmd_t;

/* The run: global options, then the command being run. */
typedef struct ctl {
    const char *oms;
    int json;
    int timeout_ms;
    const char *cmd;
    const corctl_cmd_t *command; /* NULL until the command is known */
    int argc;                    /* the command's own arguments */
    const char *argv[CORCTL_MAX_ARGS];
    cor_runtime_t *rt;
    corctl_classes_t classes;
} ctl_t;

/* One command's arguments, split by its spec, and the request built from
 * them. The strings point into argv. */
typedef struct corctl_args {
    const char *opt[CORCTL_MAX_OPTS]; /* by index into the row's opts; NULL: not given */
    const char *pos[CORCTL_MAX_POS];
    int npos;
    union { /* build fills the one its method takes */
        Cor__PingRequest ping;
        Cor__ListNodesRequest list_nodes;
        Cor__ListObjectsRequest list_objects;
        Cor__CreateObjectRequest create;
        Cor__LookupRequest lookup;
        Cor__DeleteObjectRequest delete_object;
        Cor__MigrateRequest migrate;
    } req;
    cor_object_id_t id; /* OBJ, when it was given as an id (req points at it) */
    void *owned;        /* build's heap memory the request points into; freed after fetch */
} corctl_args_t;

struct corctl_cmd {
    const char *name;
    const char *usage;        /* after "corctl " */
    const char *const *opts;  /* "--name" ...; NULL-terminated, or NULL for none */
    int min_pos, max_pos;     /* positional arguments */
    const char *missing;      /* said when fewer than min_pos are given */
    enum cor_method_index method;                 /* the OMS method fetch calls */
    const ProtobufCMessageDescriptor *reply_desc; /* its reply */
    int needs_object; /* the reply's "object" field must be set */
    int json_one_line; /* --json prints on one line rather than indented */

    /* Fills a->req (and a->owned) and returns 0 and the request in *req, or
     * an exit code after saying what was wrong. */
    int (*build)(ctl_t *c, corctl_args_t *a, ProtobufCMessage **req);
    /* NULL: corctl_fetch. Otherwise sends req its own way: returns 0 and a
     * heap reply (freed with protobuf_c_message_free_unpacked), or an exit
     * code after saying what went wrong. */
    int (*fetch)(ctl_t *c, corctl_args_t *a, const ProtobufCMessage *req,
                 ProtobufCMessage **reply);
    /* The reply for --json: a new object (NULL: out of memory). */
    json_object *(*json)(ctl_t *c, const corctl_args_t *a, const ProtobufCMessage *reply);
    /* The reply for people, on stdout. Returns 0 or an exit code. */
    int (*text)(ctl_t *c, const corctl_args_t *a, const ProtobufCMessage *reply);
};

extern const corctl_cmd_t corctl_commands[];
extern const size_t corctl_n_commands;

/* Bad command line: says what, then the command's usage line (or
 * corctl's when no command is known yet). Returns EXIT_USAGE. */
int corctl_usage_error(const ctl_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Bad input that is not about the command line's shape (JSON, classes):
 * one line, no usage. Returns EXIT_USAGE. */
int corctl_input_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A call failed: its message (or its code's). Returns EXIT_FAIL. */
int corctl_call_error(const cor_error_t *err);

/* Something other than a call went wrong ("out of memory", "the OMS sent
 * ..."). Returns EXIT_FAIL. */
int corctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Out of memory. Returns EXIT_FAIL. */
int corctl_oom(void);

/* Calls OMS method m with a deadline of deadline_ms (0: --timeout); on
 * success *rep is a heap reply the caller frees. Returns 0 or a COR_E*
 * code, and prints nothing: any thread. */
int corctl_rpc(ctl_t *c, enum cor_method_index m, const ProtobufCMessage *req,
               const ProtobufCMessageDescriptor *rd, int deadline_ms, ProtobufCMessage **rep,
               cor_error_t *err);

/* corctl_rpc, and an OMS that cannot be reached is named in err. */
int corctl_oms_call(ctl_t *c, enum cor_method_index m, const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *rd, int deadline_ms, ProtobufCMessage **rep,
                    cor_error_t *err);

/* The default fetch: one call of the command's method; a failure is
 * reported (exit 1), and so is a reply without an object when the command
 * needs one. On 0, *reply is the caller's. */
int corctl_fetch(ctl_t *c, corctl_args_t *a, const ProtobufCMessage *req,
                 ProtobufCMessage **reply);

/* Points an (id, name) pair of a request at OBJ: the id when OBJ is 32
 * hex digits (parsed into a->id), else the name. Returns 0 or
 * EXIT_USAGE for an empty OBJ. */
int corctl_set_obj(const ctl_t *c, corctl_args_t *a, const char *obj, ProtobufCBinaryData *id,
                   char **name);

#endif
