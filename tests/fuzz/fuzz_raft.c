/*
 * fuzz_raft.c — arbitrary event sequences and message bytes into the Raft
 * core (include/cor/raft.h).
 *
 * The input is a program for one server (id 2 of a group {1, 2, 3}): each
 * op byte picks an event — a tick, a message (its bytes taken from the
 * input and decoded with cor_raft_msg_decode; half the time addressed to
 * this server from a member so the core's handlers are reached), a
 * proposal, a read, a membership change, a transfer, a snapshot, or a
 * restart from what this driver persisted. After every event the driver
 * runs the updates and checks what any driver relies on:
 *   - the term never goes back, commit never passes the log's end, and
 *     applied never passes commit;
 *   - persisted entries continue the persisted log (no gap), committed
 *     entries come in index order from applied + 1, and every message is
 *     from this server;
 *   - the core's own state reloads: a restart from the persisted term,
 *     vote and log is accepted.
 * A malformed message must be refused with a reason and nothing else.
 */
#include <cor/raft.h>

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define MAXLOG 512

typedef struct disk {
    uint64_t term;
    cor_raft_id_t vote;
    uint64_t snap_index, snap_term; /* a snapshot received from a "leader" */
    cor_raft_conf_t snap_conf;
    uint8_t *snap;
    size_t snap_len;
    cor_raft_entry_t log[MAXLOG]; /* log[k].index == snap_index + 1 + k */
    uint8_t *bytes[MAXLOG];
    size_t n;
    uint64_t applied;
} disk_t;

static void disk_free(disk_t *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->bytes[i]);
    d->n = 0;
}

static int disk_push(disk_t *d, const cor_raft_entry_t *e)
{
    FUZZ_CHECK(e->index == d->snap_index + d->n + 1);
    if (d->n == MAXLOG)
        return -1;
    uint8_t *b = NULL;
    if (e->len) {
        b = malloc(e->len);
        FUZZ_CHECK(b != NULL);
        memcpy(b, e->data, e->len);
    }
    d->bytes[d->n] = b;
    d->log[d->n] = *e;
    d->log[d->n].data = b;
    d->n++;
    return 0;
}

/* Runs the updates; returns 0, or -1 when the log outgrew this driver. */
static int drive(cor_raft_t *r, disk_t *d)
{
    cor_raft_update_t u;
    int rounds = 0;
    while (cor_raft_ready(r, &u)) {
        FUZZ_CHECK(++rounds < 10000);
        if (u.hard_changed) {
            FUZZ_CHECK(u.term >= d->term);
            d->term = u.term;
            d->vote = u.vote;
        }
        if (u.snapshot_received) {
            /* Keep the snapshot, and of the log what the core kept. */
            FUZZ_CHECK(u.snap_index > d->applied && u.snap_conf != NULL);
            free(d->snap);
            d->snap = malloc(u.snap_len ? u.snap_len : 1);
            FUZZ_CHECK(d->snap != NULL);
            if (u.snap_len)
                memcpy(d->snap, u.snap, u.snap_len);
            d->snap_len = u.snap_len;
            d->snap_conf = *u.snap_conf;
            disk_free(d);
            d->snap_index = u.snap_index;
            d->snap_term = u.snap_term;
            d->applied = u.snap_index;
            uint64_t upto = u.n_entries ? u.entries[0].index - 1 : cor_raft_last_index(r);
            for (uint64_t i = u.snap_index + 1; i <= upto; i++)
                if (disk_push(d, cor_raft_entry_at(r, i)) != 0)
                    goto full;
        }
        if (u.n_entries > 0) {
            uint64_t first = u.entries[0].index;
            FUZZ_CHECK(first > d->snap_index && first <= d->snap_index + d->n + 1);
            while (d->snap_index + d->n >= first)
                free(d->bytes[--d->n]);
            for (size_t i = 0; i < u.n_entries; i++)
                if (disk_push(d, &u.entries[i]) != 0)
                    goto full;
        }
        for (size_t i = 0; i < u.n_msgs; i++)
            FUZZ_CHECK(u.msgs[i].from == 2 && u.msgs[i].to != 2);
        for (size_t i = 0; i < u.n_early; i++)
            FUZZ_CHECK(u.early[i].from == 2 && u.early[i].to != 2 &&
                       (u.early[i].type == COR_RAFT_MSG_APPEND ||
                        u.early[i].type == COR_RAFT_MSG_SNAPSHOT));
        for (size_t i = 0; i < u.n_committed; i++) {
            FUZZ_CHECK(u.committed[i].index == d->applied + 1);
            d->applied++;
        }
        cor_raft_advance(r, &u);
        FUZZ_CHECK(cor_raft_commit(r) <= cor_raft_last_index(r));
        FUZZ_CHECK(cor_raft_applied(r) <= cor_raft_commit(r));
    }
    return 0;
full:
    cor_raft_advance(r, &u);
    return -1;
}

static cor_raft_t *fresh(uint64_t seed)
{
    cor_raft_options_t o = {.id = 2, .election_ticks = 4, .heartbeat_ticks = 1,
                            .max_append = 4, .snapshot_chunk = 16, .seed = seed};
    return cor_raft_new(&o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static disk_t d;
    memset(&d, 0, sizeof d);
    cor_raft_t *r = fresh(size);
    FUZZ_CHECK(r != NULL);
    cor_raft_conf_t c = {.n = 3, .m = {{1, true}, {2, true}, {3, true}}};
    FUZZ_CHECK(cor_raft_bootstrap(r, &c) == 0);
    drive(r, &d);

    size_t p = 0;
    while (p < size) {
        uint8_t op = data[p++];
        uint64_t term_before = cor_raft_term(r);
        switch (op % 9) {
        case 0:
            cor_raft_tick(r);
            break;
        case 1: {
            if (p + 2 > size)
                goto out;
            size_t len = (size_t)data[p] | (size_t)data[p + 1] << 8;
            p += 2;
            if (len > size - p)
                len = size - p;
            cor_raft_msg_t m;
            cor_raft_entry_t *es = NULL;
            const char *why = NULL;
            if (cor_raft_msg_decode(data + p, len, &m, &es, &why) != 0) {
                FUZZ_CHECK(why != NULL && es == NULL);
            } else {
                if (op & 0x80) {
                    m.to = 2;
                    m.from = 1 + (op >> 4 & 1) * 2;
                }
                uint64_t last = cor_raft_last_index(r);
                int rc = cor_raft_recv(r, &m, &why);
                if (rc == COR_EPROTO) {
                    FUZZ_CHECK(why != NULL);
                    FUZZ_CHECK(cor_raft_last_index(r) == last);
                    FUZZ_CHECK(cor_raft_term(r) == term_before);
                }
                free(es);
            }
            p += len;
            break;
        }
        case 2:
            cor_raft_propose(r, data + p, size - p < 8 ? size - p : 8, NULL, NULL);
            break;
        case 3:
            cor_raft_read(r, op);
            break;
        case 4:
            cor_raft_change(r, 1 + op / 9 % 3, 1 + op / 27 % 5, NULL);
            break;
        case 5:
            cor_raft_transfer(r, 1 + op / 9 % 4);
            break;
        case 6:
            /* This driver keeps the whole log, so its restart below does
             * not need the snapshot's bytes. */
            cor_raft_snapshot(r, cor_raft_applied(r), &op, 1);
            break;
        case 7: {
            /* Restart from the persisted state. */
            cor_raft_free(r);
            r = fresh(op);
            FUZZ_CHECK(r != NULL);
            FUZZ_CHECK(cor_raft_load(r, d.term, d.vote, d.snap_index, d.snap_term, &d.snap_conf,
                                     d.snap, d.snap_len, d.log, d.n) == 0);
            d.applied = d.snap_index;
            break;
        }
        default:
            break;
        }
        FUZZ_CHECK(cor_raft_term(r) >= term_before || op % 9 == 7);
        if (drive(r, &d) != 0)
            goto out;
    }
out:
    cor_raft_free(r);
    disk_free(&d);
    free(d.snap);
    return 0;
}
