/*
 * test_raft.c — the Raft core's API contract (include/cor/raft.h): its
 * byte forms refuse what is not well formed, its events refuse what makes
 * no sense and leave the state as it was, and a group of one elects
 * itself, commits, serves a linearizable read and restarts from what it
 * persisted. The protocol itself, with many servers and faults, is proven
 * by tests/sim/raft_sim.c.
 */
#include <cor/raft.h>

#include <stdlib.h>
#include <string.h>

#include "testlib.h"

static cor_raft_conf_t conf_of(size_t n, const cor_raft_id_t *ids, const bool *voter)
{
    cor_raft_conf_t c = {0};
    for (size_t i = 0; i < n; i++)
        c.m[c.n++] = (cor_raft_member_t){ids[i], voter ? voter[i] : true};
    return c;
}

static void test_conf_bytes(void)
{
    cor_raft_id_t ids[] = {3, 7, 9};
    bool voter[] = {true, false, true};
    cor_raft_conf_t c = conf_of(3, ids, voter), back;
    uint8_t buf[64];
    size_t n = cor_raft_conf_size(&c);
    CU_ASSERT_EQUAL(n, 4 + 3 * 9);
    cor_raft_conf_encode(&c, buf);
    CU_ASSERT_EQUAL(cor_raft_conf_decode(buf, n, &back), 0);
    CU_ASSERT_EQUAL(back.n, 3);
    CU_ASSERT_EQUAL(back.m[1].id, 7);
    CU_ASSERT_FALSE(back.m[1].voter);
    CU_ASSERT_EQUAL(cor_raft_conf_voters(&back), 2);
    CU_ASSERT_PTR_NOT_NULL(cor_raft_conf_find(&back, 9));
    CU_ASSERT_PTR_NULL(cor_raft_conf_find(&back, 4));

    /* Every refusal the decoder knows. */
    CU_ASSERT_EQUAL(cor_raft_conf_decode(buf, 3, &back), COR_EPROTO);     /* short */
    CU_ASSERT_EQUAL(cor_raft_conf_decode(buf, n - 1, &back), COR_EPROTO); /* length */
    uint8_t bad[64];
    memcpy(bad, buf, n);
    bad[4 + 9 + 8] = 2; /* voter byte neither 0 nor 1 */
    CU_ASSERT_EQUAL(cor_raft_conf_decode(bad, n, &back), COR_EPROTO);
    memcpy(bad, buf, n);
    memset(bad + 4, 0, 8); /* id 0 */
    CU_ASSERT_EQUAL(cor_raft_conf_decode(bad, n, &back), COR_EPROTO);
    memcpy(bad, buf, n);
    bad[4 + 9] = 1; /* second id (7 -> 1) below the first (3): unsorted */
    CU_ASSERT_EQUAL(cor_raft_conf_decode(bad, n, &back), COR_EPROTO);
    memcpy(bad, buf, n);
    bad[0] = 200; /* more members than allowed */
    CU_ASSERT_EQUAL(cor_raft_conf_decode(bad, n, &back), COR_EPROTO);
}

static void test_msg_bytes(void)
{
    uint8_t d1[] = {1, 2, 3}, chunk[] = {9, 8, 7, 6};
    cor_raft_entry_t es[2] = {{5, 11, COR_RAFT_NORMAL, d1, sizeof d1},
                              {6, 12, COR_RAFT_NOOP, NULL, 0}};
    cor_raft_id_t ids[] = {1, 2};
    cor_raft_msg_t m = {.type = COR_RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 6,
                        .prev_index = 10, .prev_term = 5, .commit = 9, .read_seq = 4,
                        .entries = es, .n_entries = 2, .reject = true, .data = chunk,
                        .len = sizeof chunk, .conf = conf_of(2, ids, NULL)};
    size_t n = cor_raft_msg_size(&m);
    uint8_t *b = malloc(n + 1);
    cor_raft_msg_encode(&m, b);

    cor_raft_msg_t back;
    cor_raft_entry_t *owned = NULL;
    const char *why = NULL;
    CU_ASSERT_EQUAL_FATAL(cor_raft_msg_decode(b, n, &back, &owned, &why), 0);
    CU_ASSERT_EQUAL(back.type, COR_RAFT_MSG_APPEND);
    CU_ASSERT_EQUAL(back.from, 1);
    CU_ASSERT_EQUAL(back.term, 6);
    CU_ASSERT_EQUAL(back.read_seq, 4);
    CU_ASSERT_TRUE(back.reject);
    CU_ASSERT_FALSE(back.done);
    CU_ASSERT_EQUAL_FATAL(back.n_entries, 2);
    CU_ASSERT_EQUAL(back.entries[0].len, 3);
    CU_ASSERT_EQUAL(memcmp(back.entries[0].data, d1, 3), 0);
    CU_ASSERT_EQUAL(back.entries[1].type, COR_RAFT_NOOP);
    CU_ASSERT_EQUAL(back.len, 4);
    CU_ASSERT_EQUAL(back.conf.n, 2);
    free(owned);

    /* Every truncation is refused with a reason, and so is one more byte. */
    for (size_t k = 0; k < n; k++) {
        why = NULL;
        owned = NULL;
        CU_ASSERT_EQUAL(cor_raft_msg_decode(b, k, &back, &owned, &why), COR_EPROTO);
        CU_ASSERT_PTR_NOT_NULL(why);
        CU_ASSERT_PTR_NULL(owned);
    }
    b[n] = 0;
    CU_ASSERT_EQUAL(cor_raft_msg_decode(b, n + 1, &back, &owned, &why), COR_EPROTO);
    b[0] = 2;
    CU_ASSERT_EQUAL(cor_raft_msg_decode(b, n, &back, &owned, &why), COR_EPROTO);
    CU_ASSERT_STRING_EQUAL(why, "unknown message version");
    b[0] = 1;
    b[1] = 99;
    CU_ASSERT_EQUAL(cor_raft_msg_decode(b, n, &back, &owned, &why), COR_EPROTO);
    CU_ASSERT_STRING_EQUAL(why, "unknown message type");
    free(b);
}

/* Runs every update of r as a perfect driver would, counting applied
 * entries and served reads. */
typedef struct drv {
    uint64_t term;
    cor_raft_id_t vote;
    cor_raft_entry_t log[64];
    uint8_t data[64][64];
    size_t n_log;
    size_t applied, reads_ok, reads_failed, msgs;
    uint64_t read_index;
} drv_t;

static void drive(cor_raft_t *r, drv_t *d)
{
    cor_raft_update_t u;
    while (cor_raft_ready(r, &u)) {
        if (u.hard_changed) {
            d->term = u.term;
            d->vote = u.vote;
        }
        for (size_t i = 0; i < u.n_entries; i++) {
            size_t k = (size_t)u.entries[i].index - 1;
            CU_ASSERT_FATAL(k < 64 && u.entries[i].len <= 64);
            d->log[k] = u.entries[i];
            if (u.entries[i].len)
                memcpy(d->data[k], u.entries[i].data, u.entries[i].len);
            d->log[k].data = d->data[k];
            d->n_log = k + 1;
        }
        d->msgs += u.n_msgs + u.n_early;
        d->applied += u.n_committed;
        for (size_t i = 0; i < u.n_reads; i++) {
            if (u.reads[i].failed) {
                d->reads_failed++;
            } else {
                d->reads_ok++;
                d->read_index = u.reads[i].index;
            }
        }
        cor_raft_advance(r, &u);
    }
}

static cor_raft_t *one(cor_raft_id_t id)
{
    cor_raft_options_t o = {.id = id, .seed = 42};
    return cor_raft_new(&o);
}

static void test_group_of_one(void)
{
    cor_raft_t *r = one(1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    cor_raft_id_t ids[] = {1};
    cor_raft_conf_t c = conf_of(1, ids, NULL);
    CU_ASSERT_EQUAL(cor_raft_bootstrap(r, &c), 0);
    CU_ASSERT_EQUAL(cor_raft_bootstrap(r, &c), COR_ESTATE); /* log no longer empty */
    drv_t d = {0};
    drive(r, &d);
    CU_ASSERT_EQUAL(d.n_log, 1);
    CU_ASSERT_EQUAL(d.term, 1);

    uint8_t x[] = "hi";
    CU_ASSERT_EQUAL(cor_raft_propose(r, x, 2, NULL, NULL), COR_ENOTLEADER);
    CU_ASSERT_EQUAL(cor_raft_read(r, 1), COR_ENOTLEADER);
    for (int i = 0; i < 40 && cor_raft_role(r) != COR_RAFT_LEADER; i++) {
        cor_raft_tick(r);
        drive(r, &d);
    }
    CU_ASSERT_EQUAL_FATAL(cor_raft_role(r), COR_RAFT_LEADER);
    CU_ASSERT_EQUAL(cor_raft_leader(r), 1);
    CU_ASSERT_EQUAL(d.vote, 1);

    uint64_t index = 0, term = 0;
    CU_ASSERT_EQUAL(cor_raft_propose(r, x, 2, &index, &term), 0);
    CU_ASSERT_EQUAL(term, cor_raft_term(r));
    CU_ASSERT_EQUAL(cor_raft_read(r, 77), 0);
    drive(r, &d);
    CU_ASSERT_EQUAL(cor_raft_commit(r), index);
    CU_ASSERT_EQUAL(cor_raft_applied(r), index);
    CU_ASSERT_EQUAL(d.applied, index); /* conf, noop, the command */
    CU_ASSERT_EQUAL(d.reads_ok, 1);
    CU_ASSERT_TRUE(d.read_index >= index - 1);
    CU_ASSERT_EQUAL(d.msgs, 0); /* a group of one talks to no one */

    /* Snapshots only of what was applied. */
    CU_ASSERT_EQUAL(cor_raft_snapshot(r, index + 1, x, 2), COR_EINVAL);
    CU_ASSERT_EQUAL(cor_raft_snapshot(r, index - 1, x, 2), 0);
    CU_ASSERT_EQUAL(cor_raft_snap_index(r), index - 1);
    CU_ASSERT_EQUAL(cor_raft_term_at(r, index - 1), cor_raft_term(r));
    CU_ASSERT_PTR_NULL(cor_raft_entry_at(r, index - 1));
    CU_ASSERT_PTR_NOT_NULL(cor_raft_entry_at(r, index));

    /* Membership: nonsense refused, a learner added. */
    CU_ASSERT_EQUAL(cor_raft_change(r, COR_RAFT_PROMOTE, 5, NULL), COR_EINVAL);
    CU_ASSERT_EQUAL(cor_raft_change(r, COR_RAFT_REMOVE, 1, NULL), COR_EINVAL); /* last voter */
    CU_ASSERT_EQUAL(cor_raft_change(r, COR_RAFT_ADD_LEARNER, 1, NULL), COR_EINVAL);
    CU_ASSERT_EQUAL(cor_raft_change(r, COR_RAFT_ADD_LEARNER, 2, NULL), 0);
    CU_ASSERT_EQUAL(cor_raft_change(r, COR_RAFT_ADD_LEARNER, 3, NULL), COR_ESTATE); /* pending */
    CU_ASSERT_EQUAL(cor_raft_conf(r)->n, 2);
    CU_ASSERT_EQUAL(cor_raft_transfer(r, 2), COR_EINVAL); /* a learner */
    CU_ASSERT_EQUAL(cor_raft_transfer(r, 1), COR_EINVAL); /* itself */
    drive(r, &d);
    CU_ASSERT_TRUE(d.msgs > 0); /* the learner is sent the log */
    cor_raft_free(r);

    /* A restart from what was persisted: same term and vote, same log. */
    r = one(1);
    /* (The snapshot above was the core's alone; this driver kept the log.) */
    CU_ASSERT_EQUAL(cor_raft_load(r, d.term, d.vote, 0, 0, NULL, NULL, 0, d.log, d.n_log), 0);
    CU_ASSERT_EQUAL(cor_raft_term(r), d.term);
    CU_ASSERT_EQUAL(cor_raft_last_index(r), d.n_log);
    CU_ASSERT_EQUAL(cor_raft_commit(r), 0); /* learned again, not trusted */
    CU_ASSERT_EQUAL(cor_raft_conf(r)->n, 2);
    cor_raft_free(r);
}

static void test_load_refusals(void)
{
    uint8_t conf_bytes[4 + 9];
    cor_raft_id_t ids[] = {1};
    cor_raft_conf_t c = conf_of(1, ids, NULL);
    cor_raft_conf_encode(&c, conf_bytes);
    cor_raft_entry_t es[3] = {{1, 1, COR_RAFT_CONF, conf_bytes, sizeof conf_bytes},
                              {2, 2, COR_RAFT_NOOP, NULL, 0},
                              {2, 4, COR_RAFT_NOOP, NULL, 0}};
    cor_raft_t *r = one(1);
    CU_ASSERT_EQUAL(cor_raft_load(r, 2, 0, 0, 0, NULL, NULL, 0, es, 3), COR_EINVAL); /* gap */
    CU_ASSERT_EQUAL(cor_raft_load(r, 1, 0, 0, 0, NULL, NULL, 0, es, 2), COR_EINVAL); /* term */
    cor_raft_entry_t bad = {1, 1, COR_RAFT_CONF, conf_bytes, 3};
    CU_ASSERT_EQUAL(cor_raft_load(r, 1, 0, 0, 0, NULL, NULL, 0, &bad, 1), COR_EINVAL);
    CU_ASSERT_EQUAL(cor_raft_last_index(r), 0); /* nothing half-loaded */
    CU_ASSERT_EQUAL(cor_raft_load(r, 2, 0, 0, 0, NULL, NULL, 0, es, 2), 0);
    CU_ASSERT_EQUAL(cor_raft_load(r, 2, 0, 0, 0, NULL, NULL, 0, es, 2), COR_ESTATE);
    cor_raft_free(r);

    cor_raft_options_t o = {.id = 0};
    CU_ASSERT_PTR_NULL(cor_raft_new(&o));
    o = (cor_raft_options_t){.id = 1, .election_ticks = 2, .heartbeat_ticks = 2};
    CU_ASSERT_PTR_NULL(cor_raft_new(&o));
}

/* A follower with a known state; every malformed message leaves it so. */
static void test_recv_refusals(void)
{
    cor_raft_t *r = one(2);
    cor_raft_id_t ids[] = {1, 2, 3};
    cor_raft_conf_t c = conf_of(3, ids, NULL);
    CU_ASSERT_EQUAL(cor_raft_bootstrap(r, &c), 0);
    cor_raft_update_t u;
    while (cor_raft_ready(r, &u))
        cor_raft_advance(r, &u);
    uint64_t term = cor_raft_term(r), last = cor_raft_last_index(r);

    uint8_t junk[3] = {1, 2, 3};
    cor_raft_entry_t es[2] = {{1, 2, COR_RAFT_NORMAL, junk, 3}, {1, 3, COR_RAFT_NORMAL, junk, 3}};
    cor_raft_msg_t good = {.type = COR_RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 1,
                           .prev_index = 1, .prev_term = 1, .entries = es, .n_entries = 2};
    struct {
        const char *what;
        cor_raft_msg_t m;
    } cases[16];
    size_t n = 0;
    cases[n].what = "wrong recipient";
    cases[n].m = good;
    cases[n++].m.to = 3;
    cases[n].what = "no sender";
    cases[n].m = good;
    cases[n++].m.from = 0;
    cases[n].what = "from itself";
    cases[n].m = good;
    cases[n++].m.from = 2;
    cases[n].what = "unknown type";
    cases[n].m = good;
    cases[n++].m.type = 42;
    cases[n].what = "entries out of order";
    cases[n].m = good;
    cases[n++].m.prev_index = 2;
    cases[n].what = "entry term above the message's";
    cases[n].m = good;
    cases[n].m.term = 1;
    cases[n].m.entries = (cor_raft_entry_t[]){{2, 2, COR_RAFT_NORMAL, junk, 3}};
    cases[n++].m.n_entries = 1;
    cases[n].what = "malformed configuration entry";
    cases[n].m = good;
    cases[n].m.entries = (cor_raft_entry_t[]){{1, 2, COR_RAFT_CONF, junk, 3}};
    cases[n++].m.n_entries = 1;
    cases[n].what = "unknown entry type";
    cases[n].m = good;
    cases[n].m.entries = (cor_raft_entry_t[]){{1, 2, 9, junk, 3}};
    cases[n++].m.n_entries = 1;
    cases[n].what = "missing entries";
    cases[n].m = good;
    cases[n++].m.entries = NULL;
    cases[n].what = "a term that could overflow (found by fuzz_raft)";
    cases[n].m = (cor_raft_msg_t){.type = COR_RAFT_MSG_TIMEOUT_NOW, .from = 1, .to = 2,
                                  .term = UINT64_MAX};
    n++;
    cases[n].what = "snapshot at index 0";
    cases[n].m = (cor_raft_msg_t){.type = COR_RAFT_MSG_SNAPSHOT, .from = 1, .to = 2, .term = 1,
                                  .conf = c};
    n++;
    cases[n].what = "snapshot without voters";
    cases[n].m = (cor_raft_msg_t){.type = COR_RAFT_MSG_SNAPSHOT, .from = 1, .to = 2, .term = 1,
                                  .snap_index = 5, .snap_term = 1};
    n++;
    for (size_t i = 0; i < n; i++) {
        const char *why = NULL;
        int rc = cor_raft_recv(r, &cases[i].m, &why);
        if (rc != COR_EPROTO || why == NULL)
            fprintf(stderr, "case '%s': rc %d\n", cases[i].what, rc);
        CU_ASSERT_EQUAL(rc, COR_EPROTO);
        CU_ASSERT_PTR_NOT_NULL(why);
        CU_ASSERT_EQUAL(cor_raft_term(r), term);
        CU_ASSERT_EQUAL(cor_raft_last_index(r), last);
        CU_ASSERT_EQUAL(cor_raft_leader(r), 0);
        CU_ASSERT_FALSE(cor_raft_ready(r, &u));
    }

    /* A stale message is normal traffic: no error; it is told the term. */
    cor_raft_msg_t stale = good;
    stale.term = 0;
    stale.n_entries = 0;
    stale.prev_term = 0;
    CU_ASSERT_EQUAL(cor_raft_recv(r, &stale, NULL), 0);
    CU_ASSERT_TRUE_FATAL(cor_raft_ready(r, &u));
    CU_ASSERT_EQUAL(u.n_msgs, 1);
    CU_ASSERT_EQUAL(u.msgs[0].type, COR_RAFT_MSG_APPEND_RESP);
    CU_ASSERT_EQUAL(u.msgs[0].term, term);
    cor_raft_advance(r, &u);

    /* The good one is taken, and acknowledged only in an update that
     * persists the entries first. */
    CU_ASSERT_EQUAL(cor_raft_recv(r, &good, NULL), 0);
    CU_ASSERT_TRUE_FATAL(cor_raft_ready(r, &u));
    CU_ASSERT_EQUAL(u.n_entries, 2);
    CU_ASSERT_EQUAL(u.n_msgs, 1);
    CU_ASSERT_EQUAL(u.msgs[0].index, 3);
    CU_ASSERT_FALSE(u.msgs[0].reject);
    /* Nothing else may be called between ready and advance. */
    CU_ASSERT_EQUAL(cor_raft_recv(r, &good, NULL), COR_ESTATE);
    cor_raft_advance(r, &u);
    CU_ASSERT_EQUAL(cor_raft_leader(r), 1);
    CU_ASSERT_EQUAL(cor_raft_last_index(r), 3);
    cor_raft_free(r);
}

int main(void)
{
    static const cor_test_t tests[] = {
        {"configuration bytes", test_conf_bytes},
        {"message bytes", test_msg_bytes},
        {"a group of one", test_group_of_one},
        {"load refusals", test_load_refusals},
        {"recv refusals leave state alone", test_recv_refusals},
        {NULL, NULL},
    };
    return cor_test_main("raft", tests, NULL, NULL);
}
