/*
 * history.h — a recorded history of client operations, as cor-workload
 * writes it and cor-check reads it (format in docs/checker.md).
 *
 * A history is a flat array of operations from one or more files. Parsing
 * is strict: any unknown field, missing required field, malformed number,
 * end before start or unknown op is an input error naming FILE:LINE, so a
 * broken recorder can never be mistaken for a correct system. After all
 * files are loaded, cor_history_validate() checks what spans lines: that a
 * process has at most one operation outstanding and issues nothing after
 * an operation with an unknown outcome.
 *
 * Times are integers (microseconds on one monotonic clock). An operation
 * with out=unknown has end = COR_HOP_END_NEVER: it may take effect at any
 * time after its start, or never.
 */
#ifndef COR_CHECK_HISTORY_H
#define COR_CHECK_HISTORY_H

#include <stddef.h>
#include <stdint.h>

/* The end time of an operation whose outcome is unknown. */
#define COR_HOP_END_NEVER INT64_MAX

typedef enum cor_hop_kind {
    COR_HOP_READ,
    COR_HOP_WRITE,
    COR_HOP_ADD,
    COR_HOP_INSERT,
    COR_HOP_READALL,
} cor_hop_kind_t;

typedef enum cor_hop_out {
    COR_HOUT_OK,
    COR_HOUT_FAIL,
    COR_HOUT_UNKNOWN,
} cor_hop_out_t;

typedef struct cor_hop {
    int64_t process;
    char *obj; /* owned by the history */
    cor_hop_kind_t kind;
    cor_hop_out_t out;
    int has_arg, has_ret;
    int64_t arg, ret;
    int64_t *list; /* readall's ret= values, owned by the history; NULL when empty */
    size_t n_list;
    int64_t start, end; /* end is COR_HOP_END_NEVER for out=unknown */
    const char *file;   /* the history's copy of the path */
    int line;
} cor_hop_t;

typedef struct cor_history {
    cor_hop_t *ops;
    size_t n_ops, cap_ops;
    char **files; /* every path loaded, owned */
    size_t n_files;
} cor_history_t;

/* An empty history. Nothing to free until something is loaded. */
void cor_history_init(cor_history_t *h);

/* Frees every operation and path; h is empty (and reusable) afterwards. */
void cor_history_close(cor_history_t *h);

/* Appends the operations in text (len bytes, need not be NUL-terminated)
 * to h, naming them `name` in messages. Returns 0, or -1 with
 * "NAME:LINE: what was wrong" in msg (then h holds the operations before
 * that line; close it as usual). The text stays the caller's. */
int cor_history_parse(cor_history_t *h, const char *name, const char *text, size_t len,
                      char *msg, size_t msg_len);

/* Reads the file at path and parses it as above. -1 with "PATH: reason"
 * when it cannot be read. */
int cor_history_load(cor_history_t *h, const char *path, char *msg, size_t msg_len);

/* Checks the per-process rules across every loaded operation. A process is
 * named by its file and p= together, so per-client files may reuse ids.
 * Returns 0, or -1 with "FILE:LINE: ..." naming the offending operation. */
int cor_history_validate(const cor_history_t *h, char *msg, size_t msg_len);

/* "read", "write", ... and "ok", "fail", "unknown". */
const char *cor_hop_kind_name(cor_hop_kind_t k);
const char *cor_hop_out_name(cor_hop_out_t o);

#endif
