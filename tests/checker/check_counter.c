/*
 * check_counter.c — a grow-only counter (initial 0, positive adds), one
 * object at a time.
 *
 * No search: every value a read (or an add, which returns the new total)
 * reports must lie between two sums.
 *   lower = args of ok adds that completed before the op began (plus its
 *           own arg for an add): those must be visible, or an acknowledged
 *           add was lost;
 *   upper = args of ok and unknown adds that began before the op ended
 *           (including itself for an add): more than that means an add was
 *           applied twice or a value was made up.
 * The read that ends last is the final state; it is named as such when it
 * is too low, since that is the lost-update case a reader looks for.
 * Both sums come from prefix sums over adds sorted by end and by start,
 * so an object costs O(n log n). A completion at the same microsecond as
 * another op's start is not "before" it (lower uses <, upper uses <=).
 */
#include <stdlib.h>

#include "check.h"

typedef struct timed {
    int64_t t, arg;
} timed_t;

static int by_t(const void *a, const void *b)
{
    const timed_t *x = a, *y = b;
    return x->t < y->t ? -1 : x->t > y->t;
}

/* Sum of args of the first entries of v (sorted by t, prefix sums in sum)
 * with t < bound (strict) or t <= bound. */
static int64_t sum_before(const timed_t *v, const int64_t *sum, size_t n, int64_t bound,
                          int inclusive)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].t < bound || (inclusive && v[mid].t == bound))
            lo = mid + 1;
        else
            hi = mid;
    }
    return sum[lo];
}

static cor_check_result_t check_obj(const cor_hop_t **ops, size_t n,
                                    const cor_check_opts_t *opts, FILE *out)
{
    const char *obj = ops[0]->obj;
    char w[300], d[200];
    for (size_t i = 0; i < n; i++) {
        const cor_hop_t *op = ops[i];
        if (op->kind != COR_HOP_READ && op->kind != COR_HOP_ADD) {
            fprintf(out, "%s: op %s is not part of the counter model (read, add)\n",
                    cor_check_where(op, w, sizeof(w)), cor_hop_kind_name(op->kind));
            return COR_CHECK_BAD_INPUT;
        }
        if (op->kind == COR_HOP_ADD && op->arg <= 0) {
            fprintf(out, "%s: the counter model needs positive adds, not arg=%lld\n",
                    cor_check_where(op, w, sizeof(w)), (long long)op->arg);
            return COR_CHECK_BAD_INPUT;
        }
    }
    timed_t *done = malloc((n + 1) * sizeof(*done));    /* ok adds by end */
    timed_t *begun = malloc((n + 1) * sizeof(*begun));  /* ok + unknown adds by start */
    int64_t *done_sum = malloc((n + 1) * sizeof(int64_t));
    int64_t *begun_sum = malloc((n + 1) * sizeof(int64_t));
    cor_check_result_t rv = COR_CHECK_UNDECIDED;
    if (done == NULL || begun == NULL || done_sum == NULL || begun_sum == NULL) {
        fprintf(out, "counter %s: out of memory\n", obj);
        goto out;
    }
    size_t nd = 0, nb = 0, checked = 0;
    const cor_hop_t *last_read = NULL;
    for (size_t i = 0; i < n; i++) {
        const cor_hop_t *op = ops[i];
        if (op->kind == COR_HOP_ADD && op->out == COR_HOUT_OK)
            done[nd++] = (timed_t){op->end, op->arg};
        if (op->kind == COR_HOP_ADD && op->out != COR_HOUT_FAIL)
            begun[nb++] = (timed_t){op->start, op->arg};
        if (op->kind == COR_HOP_READ && op->out == COR_HOUT_OK &&
            (last_read == NULL || op->end >= last_read->end))
            last_read = op;
    }
    qsort(done, nd, sizeof(*done), by_t);
    qsort(begun, nb, sizeof(*begun), by_t);
    done_sum[0] = begun_sum[0] = 0;
    for (size_t i = 0; i < nd; i++)
        done_sum[i + 1] = done_sum[i] + done[i].arg;
    for (size_t i = 0; i < nb; i++)
        begun_sum[i + 1] = begun_sum[i] + begun[i].arg;

    rv = COR_CHECK_OK;
    for (size_t i = 0; i < n; i++) {
        const cor_hop_t *op = ops[i];
        if (op->out != COR_HOUT_OK || !op->has_ret)
            continue;
        checked++;
        int64_t lower = sum_before(done, done_sum, nd, op->start, 0);
        if (op->kind == COR_HOP_ADD)
            lower += op->arg;
        int64_t upper = sum_before(begun, begun_sum, nb, op->end, 1);
        if (op->ret >= lower && op->ret <= upper)
            continue;
        fprintf(out, "counter %s: VIOLATION at %s (%s)\n", obj, cor_check_where(op, w, sizeof(w)),
                cor_check_describe(op, d, sizeof(d)));
        fprintf(out, "  returned %lld, outside [%lld, %lld]\n", (long long)op->ret,
                (long long)lower, (long long)upper);
        if (op->ret < lower)
            fprintf(out,
                    "  %s is below %lld, the sum of acknowledged adds that completed before it "
                    "began%s: an acknowledged add was lost\n",
                    op == last_read ? "the final read" : "it", (long long)lower,
                    op->kind == COR_HOP_ADD ? " plus its own" : "");
        else
            fprintf(out,
                    "  it is above %lld, the sum of every add (ok or unknown) that began before "
                    "it ended: an add was applied twice, or the value was made up\n",
                    (long long)upper);
        rv = COR_CHECK_VIOLATION;
        break;
    }
    if (rv == COR_CHECK_OK) {
        char fin[32] = "none";
        if (last_read != NULL)
            snprintf(fin, sizeof(fin), "%lld", (long long)last_read->ret);
        fprintf(out,
                "counter %s: %zu operations consistent (%zu values checked; final read %s, "
                "acknowledged total %lld)\n",
                obj, n, checked, fin, (long long)done_sum[nd]);
    }
out:
    free(done);
    free(begun);
    free(done_sum);
    free(begun_sum);
    return rv;
}

cor_check_result_t cor_check_counter(const cor_history_t *h, const cor_check_opts_t *opts,
                                     FILE *out)
{
    return cor_check_each_obj(h, check_obj, opts, out);
}
