/*
 * client.c — see client.h.
 */
#include "client.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int cor_app_parse_u32(const char *s, uint32_t *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (s[0] == '\0' || s[0] == '-' || *end != '\0' || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int cor_app_client_refuse(const cor_app_client_t *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", c->prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 2;
}

int cor_app_client_parse(cor_app_client_t *c, int argc, char **argv)
{
    c->oms = getenv("COR_OMS");
    c->deadline = 0;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            c->usage(stdout);
            return 0;
        }
        if (i + 1 >= argc)
            return cor_app_client_refuse(c, "%s needs a value", argv[i]);
        if (strcmp(argv[i], "--oms") == 0) {
            c->oms = argv[++i];
        } else if (strcmp(argv[i], "--deadline") == 0 &&
                   cor_app_parse_u32(argv[i + 1], &c->deadline) == 0 && c->deadline > 0 &&
                   c->deadline <= 3600000) {
            i++;
        } else {
            cor_app_client_refuse(c, "bad option %s %s", argv[i], argv[i + 1]);
            c->usage(stderr);
            return 2;
        }
    }
    if (i >= argc) {
        c->usage(stderr);
        return 2;
    }
    c->cmd = argv[i];
    c->args = &argv[i + 1];
    c->nargs = argc - i - 1;
    const cor_app_cmd_t *k = c->cmds;
    while (k->name != NULL && strcmp(k->name, c->cmd) != 0)
        k++;
    if (k->name == NULL) {
        cor_app_client_refuse(c, "unknown command '%s'", c->cmd);
        c->usage(stderr);
        return 2;
    }
    if (c->nargs < k->min_args || c->nargs > k->max_args) {
        cor_app_client_refuse(c, "wrong number of arguments for %s", c->cmd);
        c->usage(stderr);
        return 2;
    }
    if (c->oms == NULL || c->oms[0] == '\0')
        return cor_app_client_refuse(c, "no OMS address: give --oms ADDR or set COR_OMS");
    return -1;
}

int cor_app_client_connect(cor_app_client_t *c)
{
    cor_error_clear(&c->err);
    c->rt = NULL;
    cor_runtime_opts_t opts = {.version = COR_RUNTIME_OPTS_VERSION, .oms_address = c->oms};
    return cor_runtime_new(&opts, &c->rt, &c->err);
}

static void apply_deadline(const cor_app_client_t *c, cor_ref_t *ref)
{
    if (c->deadline > 0)
        cor_ref_set_deadline(ref, (int)c->deadline);
}

int cor_app_client_create(cor_app_client_t *c, const char *cls, const uint8_t *args, size_t alen,
                          const char *name, cor_ref_t **ref)
{
    cor_create_opts_t co = {.name = name};
    int rc = cor_object_create(c->rt, cls, args, alen, &co, ref, &c->err);
    if (rc == 0)
        apply_deadline(c, *ref);
    return rc;
}

int cor_app_client_lookup(cor_app_client_t *c, const char *name, cor_ref_t **ref)
{
    int rc = cor_object_lookup_name(c->rt, name, ref, &c->err);
    if (rc == 0)
        apply_deadline(c, *ref);
    return rc;
}

void cor_app_client_print_id(const cor_ref_t *ref)
{
    char id[COR_OBJECT_ID_STRLEN + 1];
    cor_object_id_format(cor_ref_id(ref), id);
    printf("%s\n", id);
}

int cor_app_client_fail(const cor_app_client_t *c)
{
    const char *code = cor_error_name(c->err.code);
    fprintf(stderr, "%s: %s: %s (%s)\n", c->prog, c->cmd, c->err.msg, code ? code : "?");
    return 1;
}

void cor_app_client_close(cor_app_client_t *c)
{
    cor_runtime_free(c->rt);
    c->rt = NULL;
}
