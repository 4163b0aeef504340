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
 * printed with bytes outside printable ASCII escaped as \xNN. The options,
 * runtime, lookups and error reporting are apps/common/client.h's.
 */
#include <cor/cor.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
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

static void print_bytes(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
            putchar(p[i]);
        else
            printf("\\x%02x", p[i]);
    }
}

static const cor_app_cmd_t cmds[] = {
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
    cor_app_client_t c = {.prog = "cor-kv", .usage = usage, .cmds = cmds};
    int rv = cor_app_client_parse(&c, argc, argv);
    if (rv >= 0)
        return rv;
    const char *cmd = c.cmd;
    char **a = c.args;
    int na = c.nargs;
    /* Numbers are checked before anything is contacted. */
    uint32_t num = 0;
    const char *numarg = (strcmp(cmd, "create") == 0 && na == 2) ? a[1]
                         : (strcmp(cmd, "scan") == 0 && na == 3) ? a[2]
                                                                 : NULL;
    if (numarg != NULL && cor_app_parse_u32(numarg, &num) != 0)
        return cor_app_client_refuse(&c, "'%s' is not a number", numarg);
    if (strcmp(cmd, "put") == 0 || strcmp(cmd, "get") == 0 || strcmp(cmd, "delete") == 0) {
        size_t kl = strlen(a[1]);
        if (kl == 0 || kl > KV_MAX_KEY_BYTES)
            return cor_app_client_refuse(&c, "keys are 1..%u bytes", KV_MAX_KEY_BYTES);
    }

    rv = 1;
    cor_error_t *err = &c.err;
    cor_ref_t *ref = NULL;
    if (cor_app_client_connect(&c) != 0)
        goto fail;

    if (strcmp(cmd, "create") == 0) {
        Kv__KvArgs args = KV__KV_ARGS__INIT;
        args.max_keys = num;
        uint8_t abuf[16];
        size_t alen = kv__kv_args__pack(&args, abuf);
        if (cor_app_client_create(&c, kv_class.name, abuf, alen, a[0], &ref) != 0)
            goto fail;
        cor_app_client_print_id(ref);
        rv = 0;
        goto out;
    }
    if (cor_app_client_lookup(&c, a[0], &ref) != 0)
        goto fail;

    if (strcmp(cmd, "put") == 0) {
        Kv__PutRequest req = KV__PUT_REQUEST__INIT;
        req.key = a[1];
        req.value.data = (uint8_t *)a[2];
        req.value.len = strlen(a[2]);
        Kv__PutReply *rep = NULL;
        if (kv_key_value_store_put(ref, &req, &rep, err) != 0)
            goto fail;
        printf("%s version %llu\n", rep->replaced ? "replaced" : "new",
               (unsigned long long)rep->version);
        kv__put_reply__free_unpacked(rep, NULL);
        rv = 0;
    } else if (strcmp(cmd, "get") == 0) {
        Kv__GetRequest req = KV__GET_REQUEST__INIT;
        req.key = a[1];
        Kv__GetReply *rep = NULL;
        if (kv_key_value_store_get(ref, &req, &rep, err) != 0)
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
        if (kv_key_value_store_delete(ref, &req, &rep, err) != 0)
            goto fail;
        printf("%s\n", rep->deleted ? "deleted" : "absent");
        kv__delete_reply__free_unpacked(rep, NULL);
        rv = 0;
    } else if (strcmp(cmd, "scan") == 0) {
        if (do_scan(ref, na >= 2 ? a[1] : "", num, err) != 0)
            goto fail;
        rv = 0;
    } else if (strcmp(cmd, "size") == 0) {
        Kv__SizeRequest req = KV__SIZE_REQUEST__INIT;
        Kv__SizeReply *rep = NULL;
        if (kv_key_value_store_size(ref, &req, &rep, err) != 0)
            goto fail;
        printf("%llu\n", (unsigned long long)rep->count);
        kv__size_reply__free_unpacked(rep, NULL);
        rv = 0;
    } else { /* drop */
        if (cor_object_delete(c.rt, cor_ref_id(ref), err) != 0)
            goto fail;
        rv = 0;
    }
    goto out;
fail:
    rv = cor_app_client_fail(&c);
out:
    cor_ref_free(ref);
    cor_app_client_close(&c);
    return rv;
}
