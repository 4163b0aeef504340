/*
 * check_set.c — a grow-only set of integers (initially empty), one object
 * at a time.
 *
 * Each ok readall is checked on its own against the inserts:
 *   - every value it returns was attempted: an ok or unknown insert of it
 *     began before the readall ended (else the value was made up);
 *   - no value appears twice;
 *   - every ok insert that completed before the readall began is in it
 *     (else an acknowledged insert was lost).
 * These hold even when a readall is several non-atomic pages, as long as
 * nothing is ever removed. They do not prove the readalls agree with each
 * other (that a value once seen stays seen) — see docs/checker.md.
 */
#include <stdlib.h>

#include "check.h"

typedef struct attempt {
    int64_t value, start; /* earliest start among inserts of value */
} attempt_t;

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int by_value_only(const void *a, const void *b)
{
    const attempt_t *x = a, *y = b;
    return x->value < y->value ? -1 : x->value > y->value;
}

static int by_value(const void *a, const void *b)
{
    const attempt_t *x = a, *y = b;
    if (x->value != y->value)
        return x->value < y->value ? -1 : 1;
    return x->start < y->start ? -1 : x->start > y->start;
}

static cor_check_result_t check_obj(const cor_hop_t **ops, size_t n,
                                    const cor_check_opts_t *opts, FILE *out)
{
    const char *obj = ops[0]->obj;
    char w[300], d[200], w2[300], d2[200];
    for (size_t i = 0; i < n; i++) {
        if (ops[i]->kind != COR_HOP_INSERT && ops[i]->kind != COR_HOP_READALL) {
            fprintf(out, "%s: op %s is not part of the set model (insert, readall)\n",
                    cor_check_where(ops[i], w, sizeof(w)), cor_hop_kind_name(ops[i]->kind));
            return COR_CHECK_BAD_INPUT;
        }
    }
    attempt_t *att = malloc((n + 1) * sizeof(*att));
    const cor_hop_t **acked = malloc((n + 1) * sizeof(*acked));
    int64_t *sorted = NULL;
    cor_check_result_t rv = COR_CHECK_UNDECIDED;
    if (att == NULL || acked == NULL) {
        fprintf(out, "set %s: out of memory\n", obj);
        goto out;
    }
    size_t na = 0, nk = 0, reads = 0;
    for (size_t i = 0; i < n; i++) {
        const cor_hop_t *op = ops[i];
        if (op->kind != COR_HOP_INSERT || op->out == COR_HOUT_FAIL)
            continue;
        att[na++] = (attempt_t){op->arg, op->start};
        if (op->out == COR_HOUT_OK)
            acked[nk++] = op;
    }
    /* Sorted by value then start, the first entry of a value is its
     * earliest attempt: keep only that one. */
    qsort(att, na, sizeof(*att), by_value);
    size_t u = 0;
    for (size_t i = 0; i < na; i++)
        if (u == 0 || att[u - 1].value != att[i].value)
            att[u++] = att[i];
    na = u;

    rv = COR_CHECK_OK;
    for (size_t i = 0; i < n && rv == COR_CHECK_OK; i++) {
        const cor_hop_t *r = ops[i];
        if (r->kind != COR_HOP_READALL || r->out != COR_HOUT_OK)
            continue;
        reads++;
        free(sorted);
        sorted = malloc((r->n_list + 1) * sizeof(*sorted));
        if (sorted == NULL) {
            fprintf(out, "set %s: out of memory\n", obj);
            rv = COR_CHECK_UNDECIDED;
            break;
        }
        for (size_t j = 0; j < r->n_list; j++)
            sorted[j] = r->list[j];
        qsort(sorted, r->n_list, sizeof(*sorted), cmp_i64);
        for (size_t j = 0; j < r->n_list; j++) {
            if (j > 0 && sorted[j] == sorted[j - 1]) {
                fprintf(out, "set %s: VIOLATION at %s (%s)\n  value %lld appears twice\n", obj,
                        cor_check_where(r, w, sizeof(w)), cor_check_describe(r, d, sizeof(d)),
                        (long long)sorted[j]);
                rv = COR_CHECK_VIOLATION;
                break;
            }
            attempt_t key = {.value = sorted[j]};
            const attempt_t *a = bsearch(&key, att, na, sizeof(*att), by_value_only);
            if (a == NULL || a->start > r->end) {
                fprintf(out,
                        "set %s: VIOLATION at %s (%s)\n  value %lld was %s: no insert of it "
                        "began before this readall ended\n",
                        obj, cor_check_where(r, w, sizeof(w)), cor_check_describe(r, d, sizeof(d)),
                        (long long)sorted[j], a == NULL ? "never inserted" : "not yet inserted");
                rv = COR_CHECK_VIOLATION;
                break;
            }
        }
        for (size_t k = 0; k < nk && rv == COR_CHECK_OK; k++) {
            const cor_hop_t *ins = acked[k];
            if (ins->end >= r->start)
                continue;
            if (bsearch(&ins->arg, sorted, r->n_list, sizeof(*sorted), cmp_i64) == NULL) {
                fprintf(out,
                        "set %s: VIOLATION at %s (%s)\n  value %lld is missing, though its "
                        "insert at %s (%s) was acknowledged before this readall began: an "
                        "acknowledged insert was lost\n",
                        obj, cor_check_where(r, w, sizeof(w)), cor_check_describe(r, d, sizeof(d)),
                        (long long)ins->arg, cor_check_where(ins, w2, sizeof(w2)),
                        cor_check_describe(ins, d2, sizeof(d2)));
                rv = COR_CHECK_VIOLATION;
            }
        }
    }
    if (rv == COR_CHECK_OK)
        fprintf(out,
                "set %s: %zu operations consistent (%zu readalls checked against %zu acknowledged "
                "inserts)\n",
                obj, n, reads, nk);
out:
    free(att);
    free(acked);
    free(sorted);
    return rv;
}

cor_check_result_t cor_check_set(const cor_history_t *h, const cor_check_opts_t *opts, FILE *out)
{
    return cor_check_each_obj(h, check_obj, opts, out);
}
