/*
 * check.h — the consistency models cor-check verifies a history against
 * (docs/checker.md says what each proves and what it does not).
 *
 * Each model checks every object (obj=) on its own and writes to `out`
 * one summary line per object, plus, for an object that breaks the model,
 * an explanation naming the object and the operation by FILE:LINE. The
 * result is the worst over all objects: a violation beats an undecided
 * search, which beats success. Operations of a kind the model does not know
 * are bad input, never silently skipped.
 *
 * Threads: none; every function here runs on the caller's thread and
 * keeps no state between calls.
 */
#ifndef COR_CHECK_CHECK_H
#define COR_CHECK_CHECK_H

#include <stdint.h>
#include <stdio.h>

#include "history.h"

/* Results double as cor-check's exit codes. */
typedef enum cor_check_result {
    COR_CHECK_OK = 0,
    COR_CHECK_VIOLATION = 1,
    COR_CHECK_BAD_INPUT = 2,
    COR_CHECK_UNDECIDED = 3,
} cor_check_result_t;

typedef struct cor_check_opts {
    /* Register model: search steps allowed per object before the answer
     * is "undecided"; 0 means COR_CHECK_DEFAULT_MAX_STEPS. */
    uint64_t max_steps;
    /* Register model: bytes of memoized search states allowed per object
     * before the answer is "undecided"; 0 means 1 GiB. */
    size_t max_cache_bytes;
} cor_check_opts_t;

#define COR_CHECK_DEFAULT_MAX_STEPS 10000000ULL

/* Linearizability of read/write registers, initial value 0. */
cor_check_result_t cor_check_register(const cor_history_t *h, const cor_check_opts_t *opts,
                                      FILE *out);

/* Bounds on the values a grow-only counter (initial 0) returns. */
cor_check_result_t cor_check_counter(const cor_history_t *h, const cor_check_opts_t *opts,
                                     FILE *out);

/* What a grow-only set's read-all may and must contain. */
cor_check_result_t cor_check_set(const cor_history_t *h, const cor_check_opts_t *opts,
                                 FILE *out);

/* Validates h (cor_history_validate), runs the model named `model`
 * ("register", "counter" or "set") and, on success, writes the closing
 * "ok: N operations, M objects" line. BAD_INPUT with a message for an
 * unknown model or an invalid history. opts may be NULL. */
cor_check_result_t cor_check_history(const char *model, const cor_history_t *h,
                                     const cor_check_opts_t *opts, FILE *out);

/* ---- Shared by the models (check.c) ---- */

/* Pointers to h's operations sorted by obj, then start, then file order.
 * Returns a malloc'd array of h->n_ops pointers (the caller frees it; the
 * operations stay h's), or NULL when out of memory or h is empty. */
const cor_hop_t **cor_check_sorted_ops(const cor_history_t *h);

/* Number of operations from i on that share ops[i]->obj. */
size_t cor_check_obj_run(const cor_hop_t **ops, size_t n, size_t i);

/* One object's operations ops[0..n), sorted by start, all with one obj. */
typedef cor_check_result_t (*cor_check_obj_cb)(const cor_hop_t **ops, size_t n,
                                               const cor_check_opts_t *opts, FILE *out);

/* Runs fn on each object of h in obj order and returns the worst result;
 * stops at the first BAD_INPUT. */
cor_check_result_t cor_check_each_obj(const cor_history_t *h, cor_check_obj_cb fn,
                                      const cor_check_opts_t *opts, FILE *out);

/* Writes "FILE:LINE" of op into buf. */
const char *cor_check_where(const cor_hop_t *op, char *buf, size_t len);

/* Writes a one-line description of op ("p=3 write 17 ok [120, 180]") into buf. */
const char *cor_check_describe(const cor_hop_t *op, char *buf, size_t len);

#endif
