/*
 * client.h — the skeleton the example apps' command-line clients share
 * (cor-kv, cor-social): "PROG [--oms ADDR] [--deadline MS] COMMAND ARG...",
 * the command looked up in a table with its argument counts, a runtime
 * that reaches the cluster through the OMS, objects created or found by
 * name with the deadline applied, and one way of reporting errors.
 *
 * Design: a client fills a cor_app_client_t with its name, usage text and
 * command table, and calls cor_app_client_parse; what is left (its own
 * argument checks, the calls on its class, the printing) is the app's.
 * Exit codes are the apps' contract: 0 success, 1 a failed call
 * (cor_app_client_fail prints "PROG: COMMAND: message (ECODE)"), 2 a usage
 * error, found before anything is contacted. --oms defaults to $COR_OMS.
 *
 * Single-threaded: a client's main thread only.
 */
#ifndef COR_APP_CLIENT_H
#define COR_APP_CLIENT_H

#include <cor/cor.h>
#include <stdint.h>
#include <stdio.h>

/* One command: its word and how many arguments may follow it. */
typedef struct cor_app_cmd {
    const char *name;
    int min_args, max_args;
} cor_app_cmd_t;

typedef struct cor_app_client {
    /* Set by the app before cor_app_client_parse (not copied: they must
     * outlive the client). */
    const char *prog;          /* "cor-kv": begins every message */
    void (*usage)(FILE *f);    /* prints the usage text */
    const cor_app_cmd_t *cmds; /* ends with {NULL, 0, 0} */

    /* Set by cor_app_client_parse; the strings point into argv. */
    const char *oms;
    uint32_t deadline; /* ms per call; 0: the runtime's default */
    const char *cmd;   /* the command word */
    char **args;       /* the arguments after it */
    int nargs;

    /* Set by cor_app_client_connect; freed by cor_app_client_close. */
    cor_runtime_t *rt;
    cor_error_t err; /* what the last failed call said */
} cor_app_client_t;

/* Parses argv as "[--oms ADDR] [--deadline MS] COMMAND ARG..." against
 * c->cmds and checks an OMS address is known. Returns -1 when the client
 * should go on, or the exit code to return now: 0 after --help (usage on
 * stdout), 2 after a usage error (said on stderr). */
int cor_app_client_parse(cor_app_client_t *c, int argc, char **argv);

/* Prints "PROG: " and the formatted message on stderr. Returns 2, the exit
 * code of a usage error. */
int cor_app_client_refuse(const cor_app_client_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Makes c->rt, a runtime pointed at c->oms. Returns 0 or a COR_E* code
 * with c->err set. */
int cor_app_client_connect(cor_app_client_t *c);

/* Creates an object of class cls named name, with args (alen bytes, may
 * be NULL; copied), and applies c->deadline to it. On success *ref is the
 * caller's (cor_ref_free). Returns 0 or a COR_E* code with c->err set. */
int cor_app_client_create(cor_app_client_t *c, const char *cls, const uint8_t *args, size_t alen,
                          const char *name, cor_ref_t **ref);

/* Finds the object named name through the OMS and applies c->deadline to
 * it. On success *ref is the caller's (cor_ref_free). Returns 0 or a
 * COR_E* code with c->err set. */
int cor_app_client_lookup(cor_app_client_t *c, const char *name, cor_ref_t **ref);

/* Prints ref's object id (32 hex digits) and a newline on stdout. */
void cor_app_client_print_id(const cor_ref_t *ref);

/* Prints "PROG: COMMAND: message (ECODE)" for c->err on stderr. Returns 1,
 * the exit code of a failed call. */
int cor_app_client_fail(const cor_app_client_t *c);

/* Frees c->rt (NULL is fine). */
void cor_app_client_close(cor_app_client_t *c);

/* Parses a decimal number 0..UINT32_MAX (no sign, nothing after it).
 * Returns 0 or -1. */
int cor_app_parse_u32(const char *s, uint32_t *out);

#endif
