/*
 * fuzz_dmchain.c — the DM-chain grammar (runtime/dm.c) and what a chain
 * that passes it makes.
 *
 * Where the input comes from: the `dm_chain` of an OMS CreateObjectRequest
 * (corctl create --dm, any client), the `(cor.dm_chain)` annotation of a
 * module's service, and the chain a kernel receives in CreateReplica and
 * InstallState — all text from outside the process.
 *
 * The input, cut at its first NUL, is parsed as a chain. What holds:
 *  - a rejected chain is EINVAL with a message naming a column;
 *  - an accepted one has 0..COR_DM_MAX_CHAIN entries with non-empty names,
 *    and its canonical text (cor_dm_chain_format) parses again to exactly
 *    the same entries and parameters;
 *  - cor_dm_chain_check either refuses it (EINVAL, a message) or accepts
 *    it, and then the registry's answers are sane (a placement or a named
 *    conflict), and the chain's server, client and group DM parts are
 *    made (their constructors read the parameters) and freed.
 */
#include "fuzz.h"

#include <string.h>

#include <cor/dm.h>

#include "host.h"

static void check_rejected(int rc, const cor_error_t *err)
{
    FUZZ_CHECK(rc == COR_EINVAL);
    FUZZ_CHECK(err->code == COR_EINVAL);
    FUZZ_CHECK(err->msg[0] != '\0');
}

static void same_chain(const cor_dm_chain_t *a, const cor_dm_chain_t *b)
{
    FUZZ_CHECK(a->n == b->n);
    for (int i = 0; i < a->n; i++) {
        FUZZ_CHECK(strcmp(a->dms[i].name, b->dms[i].name) == 0);
        FUZZ_CHECK(a->dms[i].n_params == b->dms[i].n_params);
        for (int k = 0; k < a->dms[i].n_params; k++) {
            FUZZ_CHECK(strcmp(a->dms[i].params[k].name, b->dms[i].params[k].name) == 0);
            FUZZ_CHECK(strcmp(a->dms[i].params[k].value, b->dms[i].params[k].value) == 0);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    static cor_dm_chain_t c, again;
    cor_error_t err;
    cor_error_clear(&err);
    int rc = cor_dm_chain_parse(text, &c, &err);
    if (rc != 0) {
        check_rejected(rc, &err);
        FUZZ_CHECK(strstr(err.msg, "column") != NULL);
        free(text);
        return 0;
    }
    FUZZ_CHECK(c.n >= 0 && c.n <= COR_DM_MAX_CHAIN);
    for (int i = 0; i < c.n; i++)
        FUZZ_CHECK(c.dms[i].name[0] != '\0' && c.dms[i].n_params >= 0 &&
                   c.dms[i].n_params <= COR_DM_MAX_PARAMS);
    char probe[1];
    size_t need = cor_dm_chain_format(&c, probe, sizeof(probe));
    char *canon = malloc(need + 1);
    FUZZ_CHECK(canon != NULL);
    FUZZ_CHECK(cor_dm_chain_format(&c, canon, need + 1) == need);
    FUZZ_CHECK(strlen(canon) == need);
    FUZZ_CHECK(cor_dm_chain_parse(canon, &again, &err) == 0);
    same_chain(&c, &again);

    cor_error_clear(&err);
    rc = cor_dm_chain_check(&c, &err);
    if (rc != 0) {
        check_rejected(rc, &err);
    } else {
        (void)cor_dm_chain_caps(&c);
        char sel[512];
        cor_error_clear(&err);
        rc = cor_dm_chain_placement(&c, "", sel, sizeof(sel), &err);
        if (rc != 0)
            check_rejected(rc, &err);
        for (int server = 0; server <= 1; server++) {
            cor_dm_stack_t *s = NULL;
            cor_error_clear(&err);
            rc = cor_dm_stack_new(canon, server, &s, &err);
            FUZZ_CHECK(rc == 0); /* checked chains are made */
            cor_dm_stack_free(s);
        }
        for (int i = 0; i < c.n; i++) {
            const cor_dm_ops_t *ops = cor_dm_find(c.dms[i].name);
            void *state = NULL;
            FUZZ_CHECK(ops != NULL);
            if (ops->group_new == NULL)
                continue;
            FUZZ_CHECK(ops->group_new(&c.dms[i], NULL, 0, &state, &err) == 0);
            if (ops->group_free != NULL)
                ops->group_free(state);
        }
    }
    free(canon);
    free(text);
    return 0;
}
