/*
 * test_etcd_live.c — the etcd client (etcd/etcd.h) against real etcd members
 * started by tests/lib/etcd_proc.h: every operation, txn compare-and-swap
 * with two racing writers, leases kept alive, revoked and expiring, watches
 * in order, across a compaction, across the kill of the member they
 * stream from and, with watch_idle_ms, past a paused one, endpoint lists whose first member is dead, paused or not
 * etcd at all.
 *
 * One single-member cluster serves most tests (a fresh key prefix each);
 * the failover tests start a 3-member cluster of their own. No test checks
 * a duration: waits are bounded only so that a broken client fails instead
 * of hanging.
 *
 * Without /usr/bin/etcd the suite prints "skipped: etcd not installed" and
 * exits 77 (ctest's SKIP_RETURN_CODE for this test).
 */
#include <etcd.h>

#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "etcd_proc.h"
#include "testlib.h"

static cor_etcdproc_t single;

/* ---- helpers ---- */

typedef struct env {
    struct event_base *base;
    cor_etcd_t *c;
} env_t;

static int env_open(env_t *e, const char *endpoints, int request_timeout_ms)
{
    cor_error_t err;
    cor_error_clear(&err);
    e->base = event_base_new();
    cor_etcd_options_t o = {.endpoints = endpoints, .request_timeout_ms = request_timeout_ms};
    int rc = cor_etcd_new(e->base, &o, &e->c, &err);
    if (rc != 0)
        fprintf(stderr, "cor_etcd_new: %s\n", err.msg);
    return rc;
}

static void env_close(env_t *e)
{
    cor_etcd_free(e->c);
    event_base_free(e->base);
}

/* Runs the loop for about ms, or until *stop becomes non-zero. */
static void run_until(struct event_base *base, const int *stop, int ms)
{
    long long deadline = cor_test_now_ms() + ms;
    while ((stop == NULL || !*stop) && cor_test_now_ms() < deadline) {
        struct timeval tv = {.tv_sec = 0, .tv_usec = 20 * 1000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
}

static int put(cor_etcd_t *c, const char *k, const char *v, int64_t lease, int64_t *rev)
{
    cor_etcd_op_t op = {.kind = COR_ETCD_PUT, .key = k, .key_len = strlen(k), .value = v,
                        .value_len = strlen(v), .lease = lease};
    cor_etcd_reply_t *r;
    cor_error_t err;
    int rc = cor_etcd_kv_sync(c, &op, &r, &err);
    if (rc != 0)
        fprintf(stderr, "put %s: %s\n", k, err.msg);
    else if (rev != NULL)
        *rev = r->revision;
    cor_etcd_reply_free(r);
    return rc;
}

/* Range over key (or prefix); the reply is the caller's. */
static cor_etcd_reply_t *get(cor_etcd_t *c, const char *k, int prefix)
{
    cor_etcd_op_t op = {.kind = COR_ETCD_RANGE, .key = k, .key_len = strlen(k), .prefix = prefix};
    cor_etcd_reply_t *r = NULL;
    cor_error_t err;
    if (cor_etcd_kv_sync(c, &op, &r, &err) != 0)
        fprintf(stderr, "get %s: %s\n", k, err.msg);
    return r;
}

static int exists(cor_etcd_t *c, const char *k)
{
    cor_etcd_reply_t *r = get(c, k, 0);
    int n = r != NULL ? (int)r->n_kvs : -1;
    cor_etcd_reply_free(r);
    return n;
}

static int64_t grant(cor_etcd_t *c, int64_t ttl)
{
    int64_t id = 0;
    cor_error_t err;
    if (cor_etcd_lease_grant_sync(c, ttl, &id, &err) != 0)
        fprintf(stderr, "grant: %s\n", err.msg);
    return id;
}

/* ---- kv ---- */

static void test_put_get_delete_range(void)
{
    env_t e;
    CU_ASSERT_EQUAL_FATAL(env_open(&e, single.endpoints, 0), 0);
    int64_t r1, r2, r3;
    CU_ASSERT_EQUAL(put(e.c, "kv/a/1", "one", 0, &r1), 0);
    CU_ASSERT_EQUAL(put(e.c, "kv/a/2", "", 0, &r2), 0); /* an empty value: absent on the wire */
    CU_ASSERT_EQUAL(put(e.c, "kv/b/1", "bee", 0, &r3), 0);
    CU_ASSERT(r1 < r2 && r2 < r3);

    cor_etcd_reply_t *r = get(e.c, "kv/a/1", 0);
    CU_ASSERT_FATAL(r != NULL);
    CU_ASSERT_EQUAL(r->n_kvs, 1);
    CU_ASSERT_EQUAL(r->count, 1);
    CU_ASSERT_EQUAL(r->kvs[0].key_len, 6);
    CU_ASSERT(memcmp(r->kvs[0].key, "kv/a/1", 6) == 0);
    CU_ASSERT_STRING_EQUAL((char *)r->kvs[0].value, "one");
    CU_ASSERT_EQUAL(r->kvs[0].create_revision, r1);
    CU_ASSERT_EQUAL(r->kvs[0].mod_revision, r1);
    CU_ASSERT_EQUAL(r->kvs[0].version, 1);
    CU_ASSERT_EQUAL(r->kvs[0].lease, 0);
    CU_ASSERT(r->revision >= r3);
    cor_etcd_reply_free(r);

    r = get(e.c, "kv/a/", 1);
    CU_ASSERT_FATAL(r != NULL);
    CU_ASSERT_EQUAL_FATAL(r->n_kvs, 2);
    CU_ASSERT_STRING_EQUAL((char *)r->kvs[0].key, "kv/a/1");
    CU_ASSERT_STRING_EQUAL((char *)r->kvs[1].key, "kv/a/2");
    CU_ASSERT_EQUAL(r->kvs[1].value_len, 0);
    CU_ASSERT_STRING_EQUAL((char *)r->kvs[1].value, "");
    CU_ASSERT_EQUAL(r->more, 0);
    cor_etcd_reply_free(r);

    /* limit and count_only */
    cor_etcd_op_t op = {.kind = COR_ETCD_RANGE, .key = "kv/", .key_len = 3, .prefix = 1, .limit = 1};
    cor_error_t err;
    CU_ASSERT_EQUAL(cor_etcd_kv_sync(e.c, &op, &r, &err), 0);
    CU_ASSERT_EQUAL(r->n_kvs, 1);
    CU_ASSERT_EQUAL(r->count, 3);
    CU_ASSERT_EQUAL(r->more, 1);
    cor_etcd_reply_free(r);
    op.limit = 0;
    op.count_only = 1;
    CU_ASSERT_EQUAL(cor_etcd_kv_sync(e.c, &op, &r, &err), 0);
    CU_ASSERT_EQUAL(r->n_kvs, 0);
    CU_ASSERT_EQUAL(r->count, 3);
    cor_etcd_reply_free(r);

    /* An absent key: no kvs, count 0 (both absent on the wire). */
    r = get(e.c, "kv/none", 0);
    CU_ASSERT_FATAL(r != NULL);
    CU_ASSERT_EQUAL(r->n_kvs, 0);
    CU_ASSERT_EQUAL(r->count, 0);
    cor_etcd_reply_free(r);

    /* put with prev_kv */
    cor_etcd_op_t p = {.kind = COR_ETCD_PUT, .key = "kv/a/1", .key_len = 6, .value = "uno",
                       .value_len = 3, .prev_kv = 1};
    CU_ASSERT_EQUAL(cor_etcd_kv_sync(e.c, &p, &r, &err), 0);
    CU_ASSERT_EQUAL_FATAL(r->n_kvs, 1);
    CU_ASSERT_STRING_EQUAL((char *)r->kvs[0].value, "one");
    cor_etcd_reply_free(r);

    /* delete one key with prev_kv, then a prefix */
    cor_etcd_op_t d = {.kind = COR_ETCD_DELETE, .key = "kv/a/1", .key_len = 6, .prev_kv = 1};
    CU_ASSERT_EQUAL(cor_etcd_kv_sync(e.c, &d, &r, &err), 0);
    CU_ASSERT_EQUAL(r->count, 1);
    CU_ASSERT_EQUAL_FATAL(r->n_kvs, 1);
    CU_ASSERT_STRING_EQUAL((char *)r->kvs[0].value, "uno");
    CU_ASSERT_EQUAL(r->kvs[0].version, 2);
    cor_etcd_reply_free(r);
    CU_ASSERT_EQUAL(exists(e.c, "kv/a/1"), 0);
    /* Deleting what is not there: deleted absent, so 0. */
    CU_ASSERT_EQUAL(cor_etcd_kv_sync(e.c, &d, &r, &err), 0);
    CU_ASSERT_EQUAL(r->count, 0);
    cor_etcd_reply_free(r);
    cor_etcd_op_t dp = {.kind = COR_ETCD_DELETE, .key = "kv/", .key_len = 3, .prefix = 1};
    CU_ASSERT_EQUAL(cor_etcd_kv_sync(e.c, &dp, &r, &err), 0);
    CU_ASSERT_EQUAL(r->count, 2);
    cor_etcd_reply_free(r);
    CU_ASSERT_EQUAL(exists(e.c, "kv/b/1"), 0);
    env_close(&e);
}

static void test_binary_keys(void)
{
    env_t e;
    CU_ASSERT_EQUAL_FATAL(env_open(&e, single.endpoints, 0), 0);
    /* Keys with NUL and 0xff bytes; a prefix ending in 0xff. */
    const uint8_t k1[] = {'b', 0xff, 0x00, 0x01}, k2[] = {'b', 0xff, 0xff}, k3[] = {'c'};
    const uint8_t val[] = {0, 1, 2, 0xfe, 0xff};
    const uint8_t *keys[] = {k1, k2, k3};
    size_t lens[] = {sizeof(k1), sizeof(k2), sizeof(k3)};
    cor_error_t err;
    cor_etcd_reply_t *r;
    for (int i = 0; i < 3; i++) {
        cor_etcd_op_t p = {.kind = COR_ETCD_PUT, .key = keys[i], .key_len = lens[i], .value = val,
                           .value_len = sizeof(val)};
        CU_ASSERT_EQUAL(cor_etcd_kv_sync(e.c, &p, &r, &err), 0);
        cor_etcd_reply_free(r);
    }
    cor_etcd_op_t op = {.kind = COR_ETCD_RANGE, .key = "b\xff", .key_len = 2, .prefix = 1};
    CU_ASSERT_EQUAL_FATAL(cor_etcd_kv_sync(e.c, &op, &r, &err), 0);
    CU_ASSERT_EQUAL_FATAL(r->n_kvs, 2); /* not "c" */
    CU_ASSERT_EQUAL(r->kvs[0].key_len, sizeof(k1));
    CU_ASSERT(memcmp(r->kvs[0].key, k1, sizeof(k1)) == 0);
    CU_ASSERT_EQUAL(r->kvs[0].value_len, sizeof(val));
    CU_ASSERT(memcmp(r->kvs[0].value, val, sizeof(val)) == 0);
    CU_ASSERT(memcmp(r->kvs[1].key, k2, sizeof(k2)) == 0);
    cor_etcd_reply_free(r);
    cor_etcd_op_t d = {.kind = COR_ETCD_DELETE, .key = "b", .key_len = 1, .range_end = "d",
                       .range_end_len = 1};
    CU_ASSERT_EQUAL(cor_etcd_kv_sync(e.c, &d, &r, &err), 0);
    CU_ASSERT_EQUAL(r->count, 3);
    cor_etcd_reply_free(r);
    env_close(&e);
}

/* ---- txn ---- */

typedef struct race {
    int done, won, lost, failed;
} race_t;

static void race_cb(void *arg, int rc, cor_etcd_reply_t *reply, const cor_error_t *err)
{
    race_t *r = arg;
    r->done++;
    if (rc != 0) {
        fprintf(stderr, "txn: %s\n", err->msg);
        r->failed++;
    } else if (reply->succeeded) {
        r->won++;
    } else {
        r->lost++;
    }
    cor_etcd_reply_free(reply);
}

static void test_txn_cas(void)
{
    env_t e, e2;
    CU_ASSERT_EQUAL_FATAL(env_open(&e, single.endpoints, 0), 0);
    CU_ASSERT_EQUAL_FATAL(env_open(&e2, single.endpoints, 0), 0);
    cor_error_t err;
    cor_etcd_reply_t *r;

    /* Create-if-absent: the election primitive. */
    cor_etcd_cmp_t absent = {.target = COR_ETCD_CMP_CREATE, .result = COR_ETCD_EQUAL,
                             .key = "txn/k", .key_len = 5, .number = 0};
    cor_etcd_op_t create = {.kind = COR_ETCD_PUT, .key = "txn/k", .key_len = 5, .value = "v0",
                            .value_len = 2};
    cor_etcd_op_t read = {.kind = COR_ETCD_RANGE, .key = "txn/k", .key_len = 5};
    cor_etcd_txn_t t = {.cmp = &absent, .n_cmp = 1, .success = &create, .n_success = 1,
                        .failure = &read, .n_failure = 1};
    CU_ASSERT_EQUAL_FATAL(cor_etcd_txn_sync(e.c, &t, &r, &err), 0);
    CU_ASSERT_EQUAL(r->succeeded, 1);
    CU_ASSERT_EQUAL_FATAL(r->n_responses, 1);
    CU_ASSERT_EQUAL(r->responses[0].kind, COR_ETCD_PUT);
    int64_t created = r->revision;
    cor_etcd_reply_free(r);
    CU_ASSERT_EQUAL_FATAL(cor_etcd_txn_sync(e.c, &t, &r, &err), 0);
    CU_ASSERT_EQUAL(r->succeeded, 0); /* absent on the wire */
    CU_ASSERT_EQUAL_FATAL(r->n_responses, 1);
    CU_ASSERT_EQUAL(r->responses[0].kind, COR_ETCD_RANGE);
    CU_ASSERT_EQUAL_FATAL(r->responses[0].n_kvs, 1);
    CU_ASSERT_EQUAL(r->responses[0].kvs[0].mod_revision, created);
    cor_etcd_reply_free(r);

    /* Two writers read the same mod_revision and race to replace it: one
     * wins, the other's compare fails. */
    cor_etcd_cmp_t guard = {.target = COR_ETCD_CMP_MOD, .result = COR_ETCD_EQUAL, .key = "txn/k",
                            .key_len = 5, .number = created};
    cor_etcd_op_t w1 = {.kind = COR_ETCD_PUT, .key = "txn/k", .key_len = 5, .value = "A",
                        .value_len = 1};
    cor_etcd_op_t w2 = w1;
    w2.value = "B";
    cor_etcd_txn_t t1 = {.cmp = &guard, .n_cmp = 1, .success = &w1, .n_success = 1};
    cor_etcd_txn_t t2 = {.cmp = &guard, .n_cmp = 1, .success = &w2, .n_success = 1};
    race_t race = {0};
    CU_ASSERT_EQUAL(cor_etcd_txn(e.c, &t1, race_cb, &race, &err), 0);
    CU_ASSERT_EQUAL(cor_etcd_txn(e2.c, &t2, race_cb, &race, &err), 0);
    /* Two clients on two loops: run both until both answered. */
    long long deadline = cor_test_now_ms() + 10000;
    while (race.done < 2 && cor_test_now_ms() < deadline) {
        event_base_loop(e.base, EVLOOP_NONBLOCK);
        event_base_loop(e2.base, EVLOOP_NONBLOCK);
        usleep(1000);
    }
    CU_ASSERT_EQUAL(race.done, 2);
    CU_ASSERT_EQUAL(race.won, 1);
    CU_ASSERT_EQUAL(race.lost, 1);
    CU_ASSERT_EQUAL(race.failed, 0);
    r = get(e.c, "txn/k", 0);
    CU_ASSERT_FATAL(r != NULL && r->n_kvs == 1);
    CU_ASSERT_EQUAL(r->kvs[0].version, 2);
    char winner = (char)r->kvs[0].value[0];
    CU_ASSERT(winner == 'A' || winner == 'B');
    cor_etcd_reply_free(r);

    /* VALUE and VERSION compares, and a multi-op branch. */
    char wv[2] = {winner, 0};
    cor_etcd_cmp_t both[2] = {
        {.target = COR_ETCD_CMP_VALUE, .result = COR_ETCD_EQUAL, .key = "txn/k", .key_len = 5,
         .value = wv, .value_len = 1},
        {.target = COR_ETCD_CMP_VERSION, .result = COR_ETCD_GREATER, .key = "txn/k",
         .key_len = 5, .number = 1},
    };
    cor_etcd_op_t ops[2] = {
        {.kind = COR_ETCD_PUT, .key = "txn/k2", .key_len = 6, .value = "x", .value_len = 1},
        {.kind = COR_ETCD_DELETE, .key = "txn/k", .key_len = 5},
    };
    cor_etcd_txn_t t3 = {.cmp = both, .n_cmp = 2, .success = ops, .n_success = 2};
    CU_ASSERT_EQUAL_FATAL(cor_etcd_txn_sync(e.c, &t3, &r, &err), 0);
    CU_ASSERT_EQUAL(r->succeeded, 1);
    CU_ASSERT_EQUAL_FATAL(r->n_responses, 2);
    CU_ASSERT_EQUAL(r->responses[1].kind, COR_ETCD_DELETE);
    CU_ASSERT_EQUAL(r->responses[1].count, 1);
    cor_etcd_reply_free(r);
    /* A failing compare with no failure ops: no succeeded, no responses. */
    CU_ASSERT_EQUAL_FATAL(cor_etcd_txn_sync(e.c, &t3, &r, &err), 0);
    CU_ASSERT_EQUAL(r->succeeded, 0);
    CU_ASSERT_EQUAL(r->n_responses, 0);
    cor_etcd_reply_free(r);
    env_close(&e2);
    env_close(&e);
}

/* ---- leases ---- */

typedef struct keeper {
    cor_etcd_t *c;
    int64_t id;
    int sent, ok, failed;
} keeper_t;

static void keep_cb(void *arg, int rc, cor_etcd_reply_t *reply, const cor_error_t *err)
{
    keeper_t *k = arg;
    if (rc == 0)
        k->ok++;
    else {
        fprintf(stderr, "keepalive: %s\n", err->msg);
        k->failed++;
    }
    cor_etcd_reply_free(reply);
}

static void keep_tick(evutil_socket_t fd, short what, void *arg)
{
    keeper_t *k = arg;
    cor_error_t err;
    if (cor_etcd_lease_keepalive(k->c, k->id, keep_cb, k, &err) == 0)
        k->sent++;
}

static void test_lease_keepalive_and_revoke(void)
{
    env_t e;
    CU_ASSERT_EQUAL_FATAL(env_open(&e, single.endpoints, 0), 0);
    cor_error_t err;
    cor_etcd_reply_t *r;
    int64_t id = grant(e.c, 2);
    CU_ASSERT_FATAL(id > 0);
    int64_t ttl = 0;
    CU_ASSERT_EQUAL(cor_etcd_lease_keepalive_sync(e.c, id, &ttl, &err), 0);
    CU_ASSERT(ttl >= 2);
    CU_ASSERT_EQUAL(put(e.c, "lease/kept", "x", id, NULL), 0);

    /* Keep it alive for two TTLs and more: the key stays. */
    keeper_t k = {.c = e.c, .id = id};
    struct event *tick = event_new(e.base, -1, EV_PERSIST, keep_tick, &k);
    struct timeval every = {.tv_sec = 0, .tv_usec = 400 * 1000};
    event_add(tick, &every);
    run_until(e.base, NULL, (int)(2 * ttl * 1000 + 1000));
    event_free(tick);
    run_until(e.base, NULL, 100);
    CU_ASSERT(k.ok >= 4);
    CU_ASSERT_EQUAL(k.failed, 0);
    r = get(e.c, "lease/kept", 0);
    CU_ASSERT_FATAL(r != NULL);
    CU_ASSERT_EQUAL_FATAL(r->n_kvs, 1);
    CU_ASSERT_EQUAL(r->kvs[0].lease, id);
    cor_etcd_reply_free(r);

    /* Revoke: the attached key goes at once. */
    CU_ASSERT_EQUAL(cor_etcd_lease_revoke_sync(e.c, id, &err), 0);
    CU_ASSERT_EQUAL(exists(e.c, "lease/kept"), 0);
    /* A keepalive of the revoked lease answers no TTL: ENOTFOUND. */
    CU_ASSERT_EQUAL(cor_etcd_lease_keepalive_sync(e.c, id, &ttl, &err), COR_ENOTFOUND);
    CU_ASSERT(strstr(err.msg, "expired or was revoked") != NULL);
    /* Revoking it again is etcd's "lease not found". */
    CU_ASSERT_EQUAL(cor_etcd_lease_revoke_sync(e.c, id, &err), COR_ENOTFOUND);
    CU_ASSERT(strstr(err.msg, "requested lease not found") != NULL);
    /* A put attached to a lease that does not exist is refused. */
    cor_etcd_op_t p = {.kind = COR_ETCD_PUT, .key = "lease/x", .key_len = 7, .value = "v",
                       .value_len = 1, .lease = id};
    CU_ASSERT_EQUAL(cor_etcd_kv_sync(e.c, &p, &r, &err), COR_ENOTFOUND);
    CU_ASSERT(r == NULL);
    env_close(&e);
}

static void test_lease_expiry(void)
{
    env_t e;
    CU_ASSERT_EQUAL_FATAL(env_open(&e, single.endpoints, 0), 0);
    int64_t id = grant(e.c, 1);
    CU_ASSERT_FATAL(id > 0);
    CU_ASSERT_EQUAL(put(e.c, "lease/expiring", "x", id, NULL), 0);
    CU_ASSERT_EQUAL(exists(e.c, "lease/expiring"), 1);
    /* Nobody keeps it alive: etcd deletes the key once the lease expires.
     * The bound only stops a broken run from hanging. */
    long long deadline = cor_test_now_ms() + 20000;
    while (exists(e.c, "lease/expiring") == 1 && cor_test_now_ms() < deadline)
        usleep(100 * 1000);
    CU_ASSERT_EQUAL(exists(e.c, "lease/expiring"), 0);
    cor_error_t err;
    CU_ASSERT_EQUAL(cor_etcd_lease_keepalive_sync(e.c, id, NULL, &err), COR_ENOTFOUND);
    env_close(&e);
}

/* ---- watches ---- */

#define MAX_SEEN 256

typedef struct seen {
    int created, retrying, compacted, ended;
    int64_t created_rev, compact_rev;
    int n;
    int64_t rev[MAX_SEEN];
    int type[MAX_SEEN];
    char key[MAX_SEEN][32];
    char prev[MAX_SEEN][16];
    int cancel_in_cb; /* cancel the watch from its callback after this many events */
    int stop;
} seen_t;

static void watch_cb(void *arg, cor_etcd_watch_t *w, const cor_etcd_watch_update_t *u)
{
    seen_t *s = arg;
    switch (u->kind) {
    case COR_ETCD_WATCH_CREATED:
        s->created++;
        s->created_rev = u->revision;
        break;
    case COR_ETCD_WATCH_EVENTS:
        for (size_t i = 0; i < u->n_events && s->n < MAX_SEEN; i++) {
            s->rev[s->n] = u->events[i].kv.mod_revision;
            s->type[s->n] = u->events[i].type;
            snprintf(s->key[s->n], sizeof(s->key[0]), "%.*s", (int)u->events[i].kv.key_len,
                     (const char *)u->events[i].kv.key);
            snprintf(s->prev[s->n], sizeof(s->prev[0]), "%s",
                     u->events[i].has_prev_kv ? (const char *)u->events[i].prev_kv.value : "-");
            s->n++;
        }
        if (s->cancel_in_cb && s->n >= s->cancel_in_cb) {
            cor_etcd_watch_cancel(w);
            s->stop = 1;
        }
        break;
    case COR_ETCD_WATCH_RETRYING:
        s->retrying++;
        break;
    case COR_ETCD_WATCH_COMPACTED:
        s->compacted++;
        s->compact_rev = u->compact_revision;
        s->stop = 1;
        break;
    case COR_ETCD_WATCH_ENDED:
        fprintf(stderr, "watch ended: %s\n", u->err ? u->err->msg : "?");
        s->ended++;
        s->stop = 1;
        break;
    }
}

static void run_until_events(struct event_base *base, seen_t *s, int n, int ms)
{
    long long deadline = cor_test_now_ms() + ms;
    while (s->n < n && !s->stop && cor_test_now_ms() < deadline)
        run_until(base, NULL, 20);
}

static void test_watch_order(void)
{
    env_t e;
    CU_ASSERT_EQUAL_FATAL(env_open(&e, single.endpoints, 0), 0);
    seen_t s = {0};
    cor_etcd_watch_options_t wo = {.key = "w/", .key_len = 2, .prefix = 1, .prev_kv = 1};
    cor_etcd_watch_t *w;
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(cor_etcd_watch(e.c, &wo, watch_cb, &s, &w, &err), 0);
    run_until(e.base, &s.created, 5000);
    CU_ASSERT_EQUAL_FATAL(s.created, 1);
    int64_t revs[6];
    CU_ASSERT_EQUAL(put(e.c, "w/a", "1", 0, &revs[0]), 0);
    CU_ASSERT_EQUAL(put(e.c, "w/b", "2", 0, &revs[1]), 0);
    CU_ASSERT_EQUAL(put(e.c, "other", "x", 0, NULL), 0); /* outside the prefix */
    CU_ASSERT_EQUAL(put(e.c, "w/a", "3", 0, &revs[2]), 0);
    cor_etcd_op_t d = {.kind = COR_ETCD_DELETE, .key = "w/a", .key_len = 3};
    cor_etcd_reply_t *r;
    CU_ASSERT_EQUAL(cor_etcd_kv_sync(e.c, &d, &r, &err), 0);
    revs[3] = r->revision;
    cor_etcd_reply_free(r);
    /* Three puts in one txn: one revision, three events. */
    cor_etcd_op_t three[3] = {
        {.kind = COR_ETCD_PUT, .key = "w/x", .key_len = 3, .value = "x", .value_len = 1},
        {.kind = COR_ETCD_PUT, .key = "w/y", .key_len = 3, .value = "y", .value_len = 1},
        {.kind = COR_ETCD_PUT, .key = "w/z", .key_len = 3, .value = "z", .value_len = 1},
    };
    cor_etcd_txn_t t = {.success = three, .n_success = 3};
    CU_ASSERT_EQUAL(cor_etcd_txn_sync(e.c, &t, &r, &err), 0);
    revs[4] = r->revision;
    cor_etcd_reply_free(r);
    run_until_events(e.base, &s, 7, 10000);
    CU_ASSERT_EQUAL_FATAL(s.n, 7);
    CU_ASSERT(s.created_rev < revs[0]);
    const char *keys[] = {"w/a", "w/b", "w/a", "w/a", "w/x", "w/y", "w/z"};
    int64_t want[] = {revs[0], revs[1], revs[2], revs[3], revs[4], revs[4], revs[4]};
    int types[] = {0, 0, 0, 1, 0, 0, 0};
    const char *prev[] = {"-", "-", "1", "3", "-", "-", "-"};
    for (int i = 0; i < 7; i++) {
        CU_ASSERT_STRING_EQUAL(s.key[i], keys[i]);
        CU_ASSERT_EQUAL(s.rev[i], want[i]);
        CU_ASSERT_EQUAL(s.type[i], types[i]);
        CU_ASSERT_STRING_EQUAL(s.prev[i], prev[i]);
    }
    CU_ASSERT_EQUAL(cor_etcd_watch_next_revision(w), revs[4] + 1);
    CU_ASSERT_EQUAL(s.retrying, 0);

    /* A second watch from a past revision replays history; it cancels
     * itself from its callback after two events. */
    seen_t s2 = {.cancel_in_cb = 2};
    cor_etcd_watch_options_t wo2 = {.key = "w/", .key_len = 2, .prefix = 1,
                                    .start_revision = revs[1]};
    cor_etcd_watch_t *w2;
    CU_ASSERT_EQUAL_FATAL(cor_etcd_watch(e.c, &wo2, watch_cb, &s2, &w2, &err), 0);
    run_until(e.base, &s2.stop, 10000);
    CU_ASSERT(s2.n >= 2); /* one message may carry them all */
    CU_ASSERT_EQUAL(s2.rev[0], revs[1]);
    CU_ASSERT_EQUAL(s2.rev[1], revs[2]);
    cor_etcd_watch_cancel(w);
    cor_etcd_op_t dp = {.kind = COR_ETCD_DELETE, .key = "w/", .key_len = 2, .prefix = 1};
    CU_ASSERT_EQUAL(cor_etcd_kv_sync(e.c, &dp, &r, &err), 0);
    cor_etcd_reply_free(r);
    env_close(&e);
}

static void test_watch_compacted(void)
{
    env_t e;
    CU_ASSERT_EQUAL_FATAL(env_open(&e, single.endpoints, 0), 0);
    int64_t first, last = 0;
    CU_ASSERT_EQUAL(put(e.c, "cmp/k", "0", 0, &first), 0);
    for (int i = 1; i < 5; i++)
        CU_ASSERT_EQUAL(put(e.c, "cmp/k", "i", 0, &last), 0);
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(cor_etcd_compact_sync(e.c, last, &err), 0);
    /* A read below the compaction is refused, with etcd's reason. */
    cor_etcd_op_t old = {.kind = COR_ETCD_RANGE, .key = "cmp/k", .key_len = 5, .revision = first};
    cor_etcd_reply_t *r;
    CU_ASSERT_NOT_EQUAL(cor_etcd_kv_sync(e.c, &old, &r, &err), 0);
    CU_ASSERT(strstr(err.msg, "compacted") != NULL);

    seen_t s = {0};
    cor_etcd_watch_options_t wo = {.key = "cmp/k", .key_len = 5, .start_revision = first};
    cor_etcd_watch_t *w;
    CU_ASSERT_EQUAL_FATAL(cor_etcd_watch(e.c, &wo, watch_cb, &s, &w, &err), 0);
    run_until(e.base, &s.stop, 10000);
    CU_ASSERT_EQUAL(s.compacted, 1);
    CU_ASSERT_EQUAL(s.compact_rev, last);
    CU_ASSERT_EQUAL(s.n, 0);
    cor_etcd_watch_cancel(w);

    /* What the caller does next: read afresh, watch from after the read. */
    r = get(e.c, "cmp/k", 0);
    CU_ASSERT_FATAL(r != NULL);
    seen_t s2 = {0};
    wo.start_revision = r->revision + 1;
    cor_etcd_reply_free(r);
    CU_ASSERT_EQUAL_FATAL(cor_etcd_watch(e.c, &wo, watch_cb, &s2, &w, &err), 0);
    int64_t rev;
    CU_ASSERT_EQUAL(put(e.c, "cmp/k", "after", 0, &rev), 0);
    run_until_events(e.base, &s2, 1, 10000);
    CU_ASSERT_EQUAL(s2.n, 1);
    CU_ASSERT_EQUAL(s2.rev[0], rev);
    CU_ASSERT_EQUAL(s2.compacted, 0);
    cor_etcd_watch_cancel(w);
    env_close(&e);
}

/* ---- endpoints ---- */

static void test_first_endpoint_dead(void)
{
    char eps[320];
    char dead[64];
    snprintf(dead, sizeof(dead), "http://127.0.0.1:%d", cor_etcdproc_free_port());
    snprintf(eps, sizeof(eps), "%s,%s", dead, single.endpoints);
    env_t e;
    CU_ASSERT_EQUAL_FATAL(env_open(&e, eps, 0), 0);
    CU_ASSERT_STRING_EQUAL(cor_etcd_endpoint(e.c), dead);
    /* A write that could not connect is safe to send elsewhere. */
    int64_t rev;
    CU_ASSERT_EQUAL(put(e.c, "ep/k", "v", 0, &rev), 0);
    CU_ASSERT_STRING_EQUAL(cor_etcd_endpoint(e.c), single.endpoints);
    CU_ASSERT_EQUAL(exists(e.c, "ep/k"), 1);
    env_close(&e);

    /* A watch that starts on the dead endpoint moves on by itself. */
    CU_ASSERT_EQUAL_FATAL(env_open(&e, eps, 0), 0);
    seen_t s = {0};
    cor_etcd_watch_options_t wo = {.key = "ep/k", .key_len = 4, .start_revision = rev};
    cor_etcd_watch_t *w;
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(cor_etcd_watch(e.c, &wo, watch_cb, &s, &w, &err), 0);
    run_until_events(e.base, &s, 1, 10000);
    CU_ASSERT_EQUAL(s.n, 1);
    CU_ASSERT_EQUAL(s.rev[0], rev);
    CU_ASSERT(s.retrying >= 1);
    CU_ASSERT_EQUAL(s.created, 1);
    cor_etcd_watch_cancel(w);
    env_close(&e);

    /* Every endpoint dead: one clear error. */
    char eps2[320];
    snprintf(eps2, sizeof(eps2), "%s,http://127.0.0.1:%d", dead, cor_etcdproc_free_port());
    CU_ASSERT_EQUAL_FATAL(env_open(&e, eps2, 0), 0);
    cor_etcd_reply_t *r;
    cor_etcd_op_t g = {.kind = COR_ETCD_RANGE, .key = "ep/k", .key_len = 4};
    CU_ASSERT_EQUAL(cor_etcd_kv_sync(e.c, &g, &r, &err), COR_EUNAVAIL);
    CU_ASSERT(strstr(err.msg, "all 2 etcd endpoints failed") != NULL);
    env_close(&e);
}

static void test_not_etcd(void)
{
    /* The right server, the wrong path: a 404 in plain text. */
    char eps[320];
    snprintf(eps, sizeof(eps), "%s/not-etcd", single.endpoints);
    env_t e;
    CU_ASSERT_EQUAL_FATAL(env_open(&e, eps, 0), 0);
    cor_etcd_reply_t *r;
    cor_error_t err;
    cor_etcd_op_t g = {.kind = COR_ETCD_RANGE, .key = "k", .key_len = 1};
    CU_ASSERT_EQUAL(cor_etcd_kv_sync(e.c, &g, &r, &err), COR_ENOTFOUND);
    CU_ASSERT(strstr(err.msg, "HTTP 404") != NULL);
    CU_ASSERT(strstr(err.msg, "not etcd's error JSON") != NULL);
    env_close(&e);

    /* Bad endpoint lists are refused up front. */
    cor_etcd_t *c;
    struct event_base *b = event_base_new();
    cor_etcd_options_t o = {.endpoints = "127.0.0.1:2379"};
    CU_ASSERT_EQUAL(cor_etcd_new(b, &o, &c, &err), COR_EINVAL);
    CU_ASSERT(strstr(err.msg, "not an http://") != NULL);
    o.endpoints = "";
    CU_ASSERT_EQUAL(cor_etcd_new(b, &o, &c, &err), COR_EINVAL);
    event_base_free(b);
}

/* ---- three members ---- */

static void test_cluster_watch_survives_kill(void)
{
    cor_etcdproc_t cl;
    CU_ASSERT_EQUAL_FATAL(cor_etcdproc_start(&cl, 3), 0);
    env_t watcher, writer;
    /* The watcher streams from m0; the writer talks to m1 and m2. */
    CU_ASSERT_EQUAL_FATAL(env_open(&watcher, cl.endpoints, 0), 0);
    char weps[320];
    snprintf(weps, sizeof(weps), "%s,%s", cl.m[1].url, cl.m[2].url);
    CU_ASSERT_EQUAL_FATAL(env_open(&writer, weps, 5000), 0);

    /* A paused member (m0 and m2 still make a quorum): a read sent to it
     * times out and goes to the next endpoint. The read is serializable
     * (answered from m2's own copy): a linearizable one would also wait
     * for etcd to elect a new leader if m1 was leading, and under load that
     * election can outlast the request timeout, which is not what this
     * checks. */
    env_t paused;
    CU_ASSERT_EQUAL_FATAL(env_open(&paused, weps, 3000), 0);
    cor_etcdproc_pause(&cl, 1);
    cor_etcd_op_t sr = {.kind = COR_ETCD_RANGE, .key = "fo/none", .key_len = 7, .serializable = 1};
    cor_etcd_reply_t *srep = NULL;
    cor_error_t serr;
    CU_ASSERT_EQUAL(cor_etcd_kv_sync(paused.c, &sr, &srep, &serr), 0);
    if (srep != NULL)
        CU_ASSERT_EQUAL(srep->n_kvs, 0);
    cor_etcd_reply_free(srep);
    CU_ASSERT_STRING_EQUAL(cor_etcd_endpoint(paused.c), cl.m[2].url);
    cor_etcdproc_resume(&cl, 1);
    env_close(&paused);

    /* A paused member under a watch: its connection stays up and says
     * nothing. With watch_idle_ms the silence breaks the stream and the
     * watch goes on at the next member, missing nothing. */
    cor_error_t err;
    {
        env_t pw, pwr;
        char peps[320], preps[320];
        snprintf(peps, sizeof(peps), "%s,%s", cl.m[1].url, cl.m[2].url);
        snprintf(preps, sizeof(preps), "%s,%s", cl.m[0].url, cl.m[2].url);
        CU_ASSERT_EQUAL_FATAL(env_open(&pw, peps, 0), 0);
        CU_ASSERT_EQUAL_FATAL(env_open(&pwr, preps, 5000), 0);
        cor_etcd_free(pw.c);
        cor_etcd_options_t o = {.endpoints = peps, .watch_idle_ms = 3000};
        CU_ASSERT_EQUAL_FATAL(cor_etcd_new(pw.base, &o, &pw.c, &err), 0);
        seen_t ps = {0};
        cor_etcd_watch_options_t pwo = {.key = "ps/", .key_len = 3, .prefix = 1};
        cor_etcd_watch_t *pwatch;
        CU_ASSERT_EQUAL_FATAL(cor_etcd_watch(pw.c, &pwo, watch_cb, &ps, &pwatch, &err), 0);
        run_until(pw.base, &ps.created, 5000);
        CU_ASSERT_EQUAL_FATAL(ps.created, 1);
        /* Progress messages keep a quiet, healthy stream alive. */
        run_until(pw.base, NULL, 2000);
        CU_ASSERT_EQUAL(ps.retrying, 0);
        cor_etcdproc_pause(&cl, 1);
        int64_t prevs[5];
        for (int i = 0; i < 5; i++) {
            char key[16];
            snprintf(key, sizeof(key), "ps/%d", i);
            CU_ASSERT_EQUAL(put(pwr.c, key, "v", 0, &prevs[i]), 0);
        }
        run_until_events(pw.base, &ps, 5, 20000);
        cor_etcdproc_resume(&cl, 1);
        CU_ASSERT_EQUAL(ps.n, 5);
        for (int i = 0; i < 5 && i < ps.n; i++)
            CU_ASSERT_EQUAL(ps.rev[i], prevs[i]);
        CU_ASSERT(ps.retrying >= 1);
        CU_ASSERT_STRING_EQUAL(cor_etcd_endpoint(pw.c), cl.m[2].url);
        cor_etcd_watch_cancel(pwatch);
        env_close(&pwr);
        env_close(&pw);
    }

    seen_t s = {0};
    cor_etcd_watch_options_t wo = {.key = "fo/", .key_len = 3, .prefix = 1};
    cor_etcd_watch_t *w;
    CU_ASSERT_EQUAL_FATAL(cor_etcd_watch(watcher.c, &wo, watch_cb, &s, &w, &err), 0);
    run_until(watcher.base, &s.created, 5000);
    CU_ASSERT_EQUAL_FATAL(s.created, 1);

    /* Each key is created once (create-if-absent), so a retried write
     * that had been applied cannot add a second event. */
    const int total = 40;
    for (int i = 0; i < total; i++) {
        if (i == total / 2) {
            run_until_events(watcher.base, &s, i, 5000);
            cor_etcdproc_kill(&cl, 0);
        }
        char key[16];
        snprintf(key, sizeof(key), "fo/%03d", i);
        cor_etcd_cmp_t absent = {.target = COR_ETCD_CMP_CREATE, .key = key,
                                 .key_len = strlen(key)};
        cor_etcd_op_t p = {.kind = COR_ETCD_PUT, .key = key, .key_len = strlen(key),
                           .value = "v", .value_len = 1};
        cor_etcd_txn_t t = {.cmp = &absent, .n_cmp = 1, .success = &p, .n_success = 1};
        int rc = -1;
        for (int attempt = 0; attempt < 50 && rc != 0; attempt++) {
            cor_etcd_reply_t *r;
            rc = cor_etcd_txn_sync(writer.c, &t, &r, &err);
            cor_etcd_reply_free(r);
            if (rc != 0)
                run_until(watcher.base, NULL, 100); /* the watch keeps running meanwhile */
        }
        CU_ASSERT_EQUAL(rc, 0);
        run_until(watcher.base, NULL, 1);
    }
    /* What the cluster holds is exactly what the watch must have seen. */
    cor_etcd_reply_t *all = get(writer.c, "fo/", 1);
    CU_ASSERT_FATAL(all != NULL);
    CU_ASSERT_EQUAL_FATAL(all->n_kvs, (size_t)total);
    int64_t want[64];
    for (int i = 0; i < total; i++) {
        CU_ASSERT_EQUAL(all->kvs[i].version, 1);
        want[i] = all->kvs[i].mod_revision;
    }
    cor_etcd_reply_free(all);
    run_until_events(watcher.base, &s, total, 20000);
    CU_ASSERT_EQUAL(s.n, total);
    for (int i = 0; i < total && i < s.n; i++) {
        CU_ASSERT_EQUAL(s.rev[i], want[i]);
        if (i > 0)
            CU_ASSERT(s.rev[i] > s.rev[i - 1]);
    }
    CU_ASSERT(s.retrying >= 1);
    CU_ASSERT_EQUAL(s.ended + s.compacted, 0);
    CU_ASSERT_STRING_NOT_EQUAL(cor_etcd_endpoint(watcher.c), cl.m[0].url);
    /* The watcher's own requests moved on too. */
    CU_ASSERT_EQUAL(exists(watcher.c, "fo/000"), 1);
    cor_etcd_watch_cancel(w);

    env_close(&writer);
    env_close(&watcher);
    cor_etcdproc_stop(&cl);
}

static int suite_init(void)
{
    return cor_etcdproc_start(&single, 1) == 0 ? 0 : -1;
}

static int suite_cleanup(void)
{
    cor_etcdproc_stop(&single);
    return 0;
}

int main(void)
{
    if (!cor_etcdproc_available()) {
        printf("skipped: etcd not installed\n");
        return COR_ETCDPROC_SKIP;
    }
    static const cor_test_t tests[] = {
        {"put, get, delete, range with prefix", test_put_get_delete_range},
        {"binary keys and values, 0xff prefixes", test_binary_keys},
        {"txn compare-and-swap, one winner of two", test_txn_cas},
        {"lease keepalive keeps a key; revoke deletes it", test_lease_keepalive_and_revoke},
        {"lease expiry deletes its key", test_lease_expiry},
        {"watch sees puts and deletes in order", test_watch_order},
        {"watch on a compacted revision says so", test_watch_compacted},
        {"first endpoint dead; all endpoints dead", test_first_endpoint_dead},
        {"an endpoint that is not etcd", test_not_etcd},
        {"3 members: watch survives its member paused, then killed",
         test_cluster_watch_survives_kill},
        {NULL, NULL},
    };
    return cor_test_main("etcd", tests, suite_init, suite_cleanup);
}
