/*
 * kv_client.c — cor-kv: creates KeyValueStore objects in a cluster and calls
 * them by name, through the OMS (cor_object_create / cor_object_lookup_name)
 * and the generated proxies.
 *
 *   cor-kv [--oms ADDR] [--deadline MS] COMMAND ...
 *     create NAME [MAX_KEYS]     a new store named NAME; prints its id
 *     put NAME KEY VALUE         prints "new" or "replaced", and the version
 *     get NAME KEY               prints the value; exit 1 if absent
 *     delete NAME KEY            prints "deleted" or "absent" (method Delete)
 *     scan NAME [PREFIX] [LIMIT] prints "key<TAB>value" lines, paging
 *     size NAME                  prints the number of keys
 *     drop NAME                  deletes the store object
 *
 * --oms defaults to $COR_OMS. Usage errors exit 2; a failed call prints the
 * error (which names the object and the method) and exits 1. Values are
 * printed with bytes outside printable ASCII escaped as \xNN.
 */
#include <cor/cor.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv.cor.h"
#include "kv_class.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cor-kv [--oms ADDR] [--deadline MS] COMMAND ...\n"
            "  create NAME [MAX_KEYS]\n"
            "  put NAME KEY VALUE\n"
            "  get NAME KEY\n"
            "  delete NAME KEY\n"
            "  scan NAME [PREFIX] [LIMIT]\n"
            "  size NAME\n"
            "  drop NAME\n"
            "--oms defaults to $COR_OMS.\n");
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (s[0] == '\0' || s[0] == '-' || *end != '\0' || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static void print_bytes(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
            putchar(p[i]);
        else
            printf("\\x%02x", p[i]);
    }
}

typedef struct cmd {
    const char *name;
    int min_args, max_args; /* after the command word */
} cmd_t;

static const cmd_t cmds[] = {
    {"create", 1, 2}, {"put", 3, 3},  {"get", 2, 2},  {"delete", 2, 2},
    {"scan", 1, 3},   {"size", 1, 1}, {"drop", 1, 1}, {NULL, 0, 0},
};

/* Prints up to limit entries (0: all) under prefix, a page at a time. */
static int do_scan(cor_ref_t *ref, const char *prefix, uint32_t limit, cor_error_t *err)
{
    char *after = NULL;
    uint32_t printed = 0;
    int rc = 0;
    for (;;) {
        Kv__ScanRequest req = KV__SCAN_REQUEST__INIT;
        req.prefix = (char *)prefix;
        req.start_after = after != NULL ? after : (char *)"";
        uint32_t want = 1000;
        if (limit != 0 && limit - printed < want)
            want = limit - printed;
        req.limit = want;
        Kv__ScanReply *rep = NULL;
        if ((rc = kv_key_value_store_scan(ref, &req, &rep, err)) != 0)
            break;
        for (size_t i = 0; i < rep->n_entries; i++) {
            print_bytes((const uint8_t *)rep->entries[i]->key, strlen(rep->entries[i]->key));
            putchar('\t');
            print_bytes(rep->entries[i]->value.data, rep->entries[i]->value.len);
            putchar('\n');
        }
        printed += (uint32_t)rep->n_entries;
        int more = rep->more && rep->n_entries > 0;
        if (more) {
            free(after);
            after = strdup(rep->entries[rep->n_entries - 1]->key);
            if (after == NULL)
                rc = cor_error_set(err, COR_ENOMEM, "out of memory");
        }
        kv__scan_reply__free_unpacked(rep, NULL);
        if (rc != 0 || !more)
            break;
        if (limit != 0 && printed >= limit) {
            fprintf(stderr, "(more keys follow; raise LIMIT to see them)\n");
            break;
        }
    }
    free(after);
    return rc;
}

int main(int argc, char **argv)
{
    const char *oms = getenv("COR_OMS");
    uint32_t deadline = 0;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "cor-kv: %s needs a value\n", argv[i]);
            return 2;
        }
        if (strcmp(argv[i], "--oms") == 0) {
            oms = argv[++i];
        } else if (strcmp(argv[i], "--deadline") == 0 && parse_u32(argv[i + 1], &deadline) == 0 &&
                   deadline > 0 && deadline <= 3600000) {
            i++;
        } else {
            fprintf(stderr, "cor-kv: bad option %s %s\n", argv[i], argv[i + 1]);
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[i];
    char **a = &argv[i + 1];
    int na = argc - i - 1;
    const cmd_t *c = cmds;
    while (c->name != NULL && strcmp(c->name, cmd) != 0)
        c++;
    if (c->name == NULL) {
        fprintf(stderr, "cor-kv: unknown command '%s'\n", cmd);
        usage(stderr);
        return 2;
    }
    if (na < c->min_args || na > c->max_args) {
        fprintf(stderr, "cor-kv: wrong number of arguments for %s\n", cmd);
        usage(stderr);
        return 2;
    }
    if (oms == NULL || oms[0] == '\0') {
        fprintf(stderr, "cor-kv: no OMS address: give --oms ADDR or set COR_OMS\n");
        return 2;
    }
    /* Numbers are checked before anything is contacted. */
    uint32_t num = 0;
    const char *numarg = (strcmp(cmd, "create") == 0 && na == 2) ? a[1]
                         : (strcmp(cmd, "scan") == 0 && na == 3) ? a[2]
                                                                 : NULL;
    if (numarg != NULL && parse_u32(numarg, &num) != 0) {
        fprintf(stderr, "cor-kv: '%s' is not a number\n", numarg);
        return 2;
    }
    if (strcmp(cmd, "put") == 0 || strcmp(cmd, "get") == 0 || strcmp(cmd, "delete") == 0) {
        size_t kl = strlen(a[1]);
        if (kl == 0 || kl > KV_MAX_KEY_BYTES) {
            fprintf(stderr, "cor-kv: keys are 1..%u bytes\n", KV_MAX_KEY_BYTES);
            return 2;
        }
    }

    int rv = 1;
    cor_error_t err;
    cor_error_clear(&err);
    cor_runtime_t *rt = NULL;
    cor_ref_t *ref = NULL;
    cor_runtime_opts_t opts = {.version = COR_RUNTIME_OPTS_VERSION, .oms_address = oms};
    if (cor_runtime_new(&opts, &rt, &err) != 0)
        goto fail;

    if (strcmp(cmd, "create") == 0) {
        Kv__KvArgs args = KV__KV_ARGS__INIT;
        args.max_keys = num;
        uint8_t abuf[16];
        size_t alen = kv__kv_args__pack(&args, abuf);
        cor_create_opts_t co = {.name = a[0]};
        if (cor_object_create(rt, kv_class.name, abuf, alen, &co, &ref, &err) != 0)
            goto fail;
        char id[COR_OBJECT_ID_STRLEN + 1];
        cor_object_id_format(cor_ref_id(ref), id);
        printf("%s\n", id);
        rv = 0;
        goto out;
    }
    if (cor_object_lookup_name(rt, a[0], &ref, &err) != 0)
        goto fail;
    if (deadline > 0)
        cor_ref_set_deadline(ref, (int)deadline);

    if (strcmp(cmd, "put") == 0) {
        Kv__PutRequest req = KV__PUT_REQUEST__INIT;
        req.key = a[1];
        req.value.data = (uint8_t *)a[2];
        req.value.len = strlen(a[2]);
        Kv__PutReply *rep = NULL;
        if (kv_key_value_store_put(ref, &req, &rep, &err) != 0)
            goto fail;
        printf("%s version %llu\n", rep->replaced ? "replaced" : "new",
               (unsigned long long)rep->version);
        kv__put_reply__free_unpacked(rep, NULL);
        rv = 0;
    } else if (strcmp(cmd, "get") == 0) {
        Kv__GetRequest req = KV__GET_REQUEST__INIT;
        req.key = a[1];
        Kv__GetReply *rep = NULL;
        if (kv_key_value_store_get(ref, &req, &rep, &err) != 0)
            goto fail;
        if (rep->found) {
            print_bytes(rep->value.data, rep->value.len);
            putchar('\n');
            rv = 0;
        } else {
            fprintf(stderr, "cor-kv: %s has no key '%s'\n", a[0], a[1]);
        }
        kv__get_reply__free_unpacked(rep, NULL);
    } else if (strcmp(cmd, "delete") == 0) {
        Kv__DeleteRequest req = KV__DELETE_REQUEST__INIT;
        req.key = a[1];
        Kv__DeleteReply *rep = NULL;
        if (kv_key_value_store_delete(ref, &req, &rep, &err) != 0)
            goto fail;
        printf("%s\n", rep->deleted ? "deleted" : "absent");
        kv__delete_reply__free_unpacked(rep, NULL);
        rv = 0;
    } else if (strcmp(cmd, "scan") == 0) {
        if (do_scan(ref, na >= 2 ? a[1] : "", num, &err) != 0)
            goto fail;
        rv = 0;
    } else if (strcmp(cmd, "size") == 0) {
        Kv__SizeRequest req = KV__SIZE_REQUEST__INIT;
        Kv__SizeReply *rep = NULL;
        if (kv_key_value_store_size(ref, &req, &rep, &err) != 0)
            goto fail;
        printf("%llu\n", (unsigned long long)rep->count);
        kv__size_reply__free_unpacked(rep, NULL);
        rv = 0;
    } else { /* drop */
        if (cor_object_delete(rt, cor_ref_id(ref), &err) != 0)
            goto fail;
        rv = 0;
    }
    goto out;
fail:
    fprintf(stderr, "cor-kv: %s: %s (%s)\n", cmd, err.msg,
            cor_error_name(err.code) ? cor_error_name(err.code) : "?");
out:
    cor_ref_free(ref);
    cor_runtime_free(rt);
    return rv;
}
