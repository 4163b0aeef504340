/*
 * check_register.c — linearizability of read/write registers (initial
 * value 0), one object at a time.
 *
 * The search is Wing & Gong's, with Lowe's memoization, in the shape
 * Porcupine uses: the operations' invocation and completion events sit in
 * one time-ordered doubly linked list. Walking it, at a call event we try
 * to linearize that operation now (a write always can; a read only if it
 * returned the current value); if the resulting (set of linearized
 * operations, value) was never reached before, we take it, unlink the
 * operation's two events and start again from the front. Reaching a
 * completion event means its operation should already have taken effect,
 * so we undo the most recent choice and try the next candidate. An empty
 * list is a linearization; undoing with nothing to undo proves there is
 * none.
 *
 * Outcomes: failed operations are dropped (they did not happen); unknown
 * reads are dropped (they constrain nothing); an unknown write completes
 * at +infinity, so it may be placed anywhere after its start, and "never"
 * is the same as "last". An unknown write whose value no read returned is
 * dropped up front: placing it never changes what a read can see, and
 * without this a few dozen timeouts would multiply the search space.
 *
 * Time: A precedes B only when A.end < B.start; equal timestamps count as
 * concurrent, so coarse clocks can hide a violation but never invent one.
 *
 * Memo: the set of linearized operations is a bitset with a Zobrist hash
 * kept incrementally (one XOR per step), so a step costs O(1) except on a
 * hash match. The search gives up as "undecided" after opts->max_steps
 * steps or max_cache_bytes of memo, never passing silently.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"

typedef struct entry {
    int op;        /* index into the object's operations */
    int is_return; /* completion event (else invocation) */
    struct entry *match, *prev, *next;
} entry_t;

typedef struct memo_slot {
    uint64_t hash; /* 0: empty */
    int64_t state;
    size_t bits;   /* offset of the bitset in memo_t.pool */
} memo_slot_t;

typedef struct memo {
    memo_slot_t *slots;
    size_t n_slots, used;
    uint64_t *pool;
    size_t pool_len, pool_cap;
    size_t words; /* per bitset */
} memo_t;

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static size_t memo_bytes(const memo_t *m)
{
    return m->n_slots * sizeof(memo_slot_t) + m->pool_cap * sizeof(uint64_t);
}

/* Inserts (bits, state) unless present. Returns 1 if inserted, 0 if it
 * was there, -1 when out of memory. */
static int memo_insert(memo_t *m, const uint64_t *bits, uint64_t zobrist, int64_t state)
{
    uint64_t hash = mix64(zobrist ^ mix64((uint64_t)state)) | 1;
    if (2 * (m->used + 1) > m->n_slots) {
        size_t n = m->n_slots ? 2 * m->n_slots : 1024;
        memo_slot_t *s = calloc(n, sizeof(*s));
        if (s == NULL)
            return -1;
        for (size_t i = 0; i < m->n_slots; i++) {
            if (m->slots[i].hash == 0)
                continue;
            size_t j = m->slots[i].hash & (n - 1);
            while (s[j].hash != 0)
                j = (j + 1) & (n - 1);
            s[j] = m->slots[i];
        }
        free(m->slots);
        m->slots = s;
        m->n_slots = n;
    }
    size_t j = hash & (m->n_slots - 1);
    for (; m->slots[j].hash != 0; j = (j + 1) & (m->n_slots - 1)) {
        const memo_slot_t *s = &m->slots[j];
        if (s->hash == hash && s->state == state &&
            memcmp(m->pool + s->bits, bits, m->words * sizeof(uint64_t)) == 0)
            return 0;
    }
    if (m->pool_len + m->words > m->pool_cap) {
        size_t cap = m->pool_cap ? 2 * m->pool_cap : 4096;
        while (cap < m->pool_len + m->words)
            cap *= 2;
        uint64_t *p = realloc(m->pool, cap * sizeof(*p));
        if (p == NULL)
            return -1;
        m->pool = p;
        m->pool_cap = cap;
    }
    memcpy(m->pool + m->pool_len, bits, m->words * sizeof(uint64_t));
    m->slots[j] = (memo_slot_t){.hash = hash, .state = state, .bits = m->pool_len};
    m->pool_len += m->words;
    m->used++;
    return 1;
}

static void lift(entry_t *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev; /* a call is always followed by its return */
    entry_t *r = e->match;
    r->prev->next = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
}

static void unlift(entry_t *e)
{
    entry_t *r = e->match;
    r->prev->next = r;
    if (r->next != NULL)
        r->next->prev = r;
    e->prev->next = e;
    e->next->prev = e;
}

typedef struct event_key {
    int64_t t;
    int is_return;
    int op;
} event_key_t;

static int by_time_calls_first(const void *a, const void *b)
{
    const event_key_t *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    if (x->is_return != y->is_return)
        return x->is_return - y->is_return;
    return x->op - y->op;
}

typedef struct search {
    const cor_hop_t **ops;
    int n;
    uint64_t steps;
    /* the longest prefix found, and what could not follow it */
    int *best;
    int best_len;
    int stuck_op; /* -1: none */
    int64_t stuck_state;
} search_t;

/* Runs the search over s->ops. Returns OK, VIOLATION or UNDECIDED (with
 * *why set for UNDECIDED). */
static cor_check_result_t search_run(search_t *s, const cor_check_opts_t *opts, const char **why)
{
    int n = s->n;
    cor_check_result_t rv = COR_CHECK_UNDECIDED;
    *why = "out of memory";
    entry_t *ev = calloc((size_t)2 * n + 1, sizeof(*ev));
    event_key_t *keys = calloc((size_t)2 * n, sizeof(*keys));
    size_t words = ((size_t)n + 63) / 64;
    uint64_t *bits = calloc(words ? words : 1, sizeof(*bits));
    uint64_t *zob = calloc((size_t)n, sizeof(*zob));
    struct frame {
        entry_t *e;
        int64_t state;
    } *stack = calloc((size_t)n, sizeof(*stack));
    memo_t memo = {.words = words};
    entry_t **call_of = calloc((size_t)n, sizeof(*call_of));
    if (ev == NULL || keys == NULL || bits == NULL || zob == NULL || stack == NULL ||
        call_of == NULL)
        goto out;

    for (int i = 0; i < n; i++) {
        keys[2 * i] = (event_key_t){.t = s->ops[i]->start, .is_return = 0, .op = i};
        keys[2 * i + 1] = (event_key_t){.t = s->ops[i]->end, .is_return = 1, .op = i};
        zob[i] = mix64((uint64_t)i * 0x2545f4914f6cdd1dULL + 1);
    }
    qsort(keys, (size_t)2 * n, sizeof(*keys), by_time_calls_first);
    entry_t *head = &ev[2 * n];
    entry_t *prev = head;
    for (int i = 0; i < 2 * n; i++) {
        entry_t *e = &ev[i];
        e->op = keys[i].op;
        e->is_return = keys[i].is_return;
        e->prev = prev;
        prev->next = e;
        prev = e;
        if (!e->is_return)
            call_of[e->op] = e;
        else
            call_of[e->op]->match = e;
    }
    prev->next = NULL;

    uint64_t max_steps = opts->max_steps ? opts->max_steps : COR_CHECK_DEFAULT_MAX_STEPS;
    size_t max_cache = opts->max_cache_bytes ? opts->max_cache_bytes : (size_t)1 << 30;
    int64_t state = 0;
    uint64_t zobrist = 0;
    int depth = 0, best_same = 0;
    entry_t *e = head->next;
    while (head->next != NULL) {
        if (++s->steps > max_steps) {
            *why = "step limit reached";
            goto out;
        }
        if (!e->is_return) {
            const cor_hop_t *op = s->ops[e->op];
            int64_t next = op->kind == COR_HOP_WRITE ? op->arg : state;
            if (op->kind == COR_HOP_READ && op->ret != state) {
                e = e->next;
                continue;
            }
            bits[e->op / 64] |= 1ULL << (e->op % 64);
            zobrist ^= zob[e->op];
            int fresh = memo_insert(&memo, bits, zobrist, next);
            if (fresh < 0)
                goto out;
            if (memo_bytes(&memo) > max_cache) {
                *why = "memo limit reached";
                goto out;
            }
            if (fresh) {
                stack[depth++] = (struct frame){e, state};
                state = next;
                lift(e);
                if (depth > s->best_len) {
                    for (int i = best_same; i < depth; i++)
                        s->best[i] = stack[i].e->op;
                    s->best_len = best_same = depth;
                    s->stuck_op = -1;
                }
                e = head->next;
            } else {
                bits[e->op / 64] &= ~(1ULL << (e->op % 64));
                zobrist ^= zob[e->op];
                e = e->next;
            }
        } else {
            if (depth == s->best_len && s->stuck_op < 0) {
                s->stuck_op = e->op;
                s->stuck_state = state;
            }
            if (depth == 0) {
                rv = COR_CHECK_VIOLATION;
                goto out;
            }
            struct frame f = stack[--depth];
            if (depth < best_same)
                best_same = depth;
            state = f.state;
            bits[f.e->op / 64] &= ~(1ULL << (f.e->op % 64));
            zobrist ^= zob[f.e->op];
            unlift(f.e);
            e = f.e->next;
        }
    }
    rv = COR_CHECK_OK;
out:
    free(ev);
    free(keys);
    free(bits);
    free(zob);
    free(stack);
    free(call_of);
    free(memo.slots);
    free(memo.pool);
    return rv;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void explain(const search_t *s, const char *obj, FILE *out)
{
    char w[300], d[200];
    fprintf(out, "register %s: NOT linearizable\n", obj);
    fprintf(out, "  longest linearizable prefix: %d of %d operations", s->best_len, s->n);
    if (s->best_len > 0) {
        int from = s->best_len > 8 ? s->best_len - 8 : 0;
        fprintf(out, "%s\n", from > 0 ? ", ending:" : ":");
        for (int i = from; i < s->best_len; i++) {
            const cor_hop_t *op = s->ops[s->best[i]];
            fprintf(out, "    %s  %s\n", cor_check_where(op, w, sizeof(w)),
                    cor_check_describe(op, d, sizeof(d)));
        }
    } else {
        fprintf(out, "\n");
    }
    if (s->stuck_op >= 0) {
        const cor_hop_t *op = s->ops[s->stuck_op];
        fprintf(out,
                "  then %s could not be placed: %s completed while the register held %lld, "
                "and no order of the operations concurrent with it explains it\n",
                cor_check_where(op, w, sizeof(w)), cor_check_describe(op, d, sizeof(d)),
                (long long)s->stuck_state);
    }
}

/* Checks one object's operations ops[0..n). */
static cor_check_result_t check_obj(const cor_hop_t **all, size_t n,
                                    const cor_check_opts_t *opts, FILE *out)
{
    const char *obj = all[0]->obj;
    char w[300];
    size_t n_fail = 0, n_unknown_reads = 0, n_unseen = 0, n_reads = 0;
    for (size_t i = 0; i < n; i++) {
        if (all[i]->kind != COR_HOP_READ && all[i]->kind != COR_HOP_WRITE) {
            fprintf(out, "%s: op %s is not part of the register model (read, write)\n",
                    cor_check_where(all[i], w, sizeof(w)), cor_hop_kind_name(all[i]->kind));
            return COR_CHECK_BAD_INPUT;
        }
        n_reads += all[i]->kind == COR_HOP_READ && all[i]->out == COR_HOUT_OK;
    }
    /* Values some ok read returned: an unknown write of any other value
     * may as well never have happened. */
    int64_t *seen = malloc((n_reads ? n_reads : 1) * sizeof(*seen));
    const cor_hop_t **ops = malloc(n * sizeof(*ops));
    search_t s = {.stuck_op = -1};
    s.best = malloc((n ? n : 1) * sizeof(int));
    cor_check_result_t rv = COR_CHECK_UNDECIDED;
    const char *why = "out of memory";
    if (seen == NULL || ops == NULL || s.best == NULL)
        goto out;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (all[i]->kind == COR_HOP_READ && all[i]->out == COR_HOUT_OK)
            seen[k++] = all[i]->ret;
    qsort(seen, n_reads, sizeof(*seen), cmp_i64);
    for (size_t i = 0; i < n; i++) {
        const cor_hop_t *op = all[i];
        if (op->out == COR_HOUT_FAIL) {
            n_fail++;
            continue;
        }
        if (op->out == COR_HOUT_UNKNOWN && op->kind == COR_HOP_READ) {
            n_unknown_reads++;
            continue;
        }
        if (op->out == COR_HOUT_UNKNOWN &&
            bsearch(&op->arg, seen, n_reads, sizeof(*seen), cmp_i64) == NULL) {
            n_unseen++;
            continue;
        }
        ops[s.n++] = op;
    }
    s.ops = ops;
    rv = search_run(&s, opts, &why);
out:
    if (rv == COR_CHECK_OK)
        fprintf(out,
                "register %s: %zu operations linearizable (%llu steps; dropped %zu failed, %zu "
                "unknown reads, %zu unknown writes never read)\n",
                obj, n, (unsigned long long)s.steps, n_fail, n_unknown_reads, n_unseen);
    else if (rv == COR_CHECK_VIOLATION)
        explain(&s, obj, out);
    else
        fprintf(out, "register %s: UNDECIDED after %llu steps (%s): neither proven nor refuted\n",
                obj, (unsigned long long)s.steps, why);
    free(seen);
    free(ops);
    free(s.best);
    return rv;
}

cor_check_result_t cor_check_register(const cor_history_t *h, const cor_check_opts_t *opts,
                                      FILE *out)
{
    return cor_check_each_obj(h, check_obj, opts, out);
}
