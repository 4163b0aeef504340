/*
 * raft/store.h — a Raft replica's durable state in one directory: term and
 * vote, the newest snapshot, and the log after it. What the driver of a
 * cor_raft_t persists in step 1 of each update (cor/raft.h), and reads back
 * with cor_raft_load after a restart.
 *
 * Files in the directory:
 *   meta   term and vote, CRC-framed; replaced whole (write meta.tmp,
 *          fsync, rename, fsync the directory), so it is old or new, never
 *          torn;
 *   snap   the snapshot (index, term, configuration, bytes), CRC-framed,
 *          replaced the same way;
 *   log    the entries after the snapshot, one CRC-framed record each,
 *          appended and made durable by cor_raft_store_sync (fdatasync).
 *
 * A crash can tear the last record being written: open truncates the log
 * at the last valid record and says so. A bad record with valid data after
 * it is not a torn write but corruption: open refuses the directory
 * (COR_ESTATE, naming the file and offset), because a replica that served
 * from a silently shortened log could forget what it acknowledged. Such a
 * replica is to be replaced, not trusted.
 *
 * Threads: a store is used by one thread at a time.
 */
#ifndef COR_RAFT_STORE_H
#define COR_RAFT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "cor/error.h"
#include "cor/raft.h"

typedef struct cor_raft_store cor_raft_store_t;

/* What a directory holds, for cor_raft_load. Owned by the store; valid
 * until the next write to it. */
typedef struct cor_raft_store_state {
    uint64_t term;
    cor_raft_id_t vote;
    uint64_t snap_index, snap_term; /* 0, 0: no snapshot */
    cor_raft_conf_t snap_conf;
    const uint8_t *snap;
    size_t snap_len;
    const cor_raft_entry_t *entries; /* snap_index + 1 onwards, in order */
    size_t n_entries;
    size_t torn_bytes; /* dropped from the log's tail at open */
} cor_raft_store_state_t;

/* Opens (creating if absent, with mode 0700) the store in dir and reads
 * it. On success *out is the store (cor_raft_store_close frees it). Fails
 * with COR_ESTATE and err naming the file and offset when a file is
 * corrupt (not merely torn at the log's end), COR_EUNAVAIL on an I/O error;
 * *out is then NULL. */
int cor_raft_store_open(const char *dir, cor_raft_store_t **out, cor_error_t *err);
void cor_raft_store_close(cor_raft_store_t *s);

/* The driver's own small file `name` beside the store (what it needs to
 * make its state machine again at a restart): replaced whole, durably,
 * like meta. name: letters only, not one of the store's. COR_EUNAVAIL on
 * an I/O error. */
int cor_raft_store_put_aside(cor_raft_store_t *s, const char *name, const uint8_t *data,
                             size_t len, cor_error_t *err);

/* Reads such a file from the store in dir into *data (malloc'd, the
 * caller frees): 0, or COR_ENOTFOUND when there is none, COR_EUNAVAIL on
 * an I/O error. */
int cor_raft_store_get_aside(const char *dir, const char *name, uint8_t **data, size_t *len,
                             cor_error_t *err);

/* Empties the store in dir (which no open store may be using): its files
 * go and the removal is made durable. For a replica made afresh where an
 * older one of the same object left its files. A missing directory is
 * empty already: 0. COR_EUNAVAIL with err on an I/O error. */
int cor_raft_store_wipe(const char *dir, cor_error_t *err);

/* What the store holds now. */
void cor_raft_store_state(const cor_raft_store_t *s, cor_raft_store_state_t *st);

/* Step 1 of an update, in its order: term and vote, a received snapshot,
 * entries (replacing stored ones from entries[0].index); then fsync.
 * Returns when all of it is durable. On an error (COR_EUNAVAIL, with err)
 * the replica must stop: what is on disk is still a consistent prefix. */
int cor_raft_store_persist(cor_raft_store_t *s, const cor_raft_update_t *u, cor_error_t *err);

/* The state machine saved itself at index (term, its configuration):
 * writes the snapshot and drops the log up to index. Copies data. */
int cor_raft_store_snapshot(cor_raft_store_t *s, uint64_t index, uint64_t term,
                            const cor_raft_conf_t *conf, const uint8_t *data, size_t len,
                            cor_error_t *err);

/* Parts of persist, for tests and tools: no fsync until _sync. */
int cor_raft_store_set_hard(cor_raft_store_t *s, uint64_t term, cor_raft_id_t vote,
                            cor_error_t *err);
int cor_raft_store_append(cor_raft_store_t *s, const cor_raft_entry_t *e, size_t n,
                          cor_error_t *err);
int cor_raft_store_sync(cor_raft_store_t *s, cor_error_t *err);

#endif
