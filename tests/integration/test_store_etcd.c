/*
 * test_store_etcd.c — the OMS's etcd store backend (oms/store_etcd.c)
 * against a real single-member etcd started by tests/lib/etcd_proc.h: puts,
 * gets, deletes and scans through the store vtable; prefix isolation; the
 * compare-and-swap that keeps two stores on one prefix (two OMSes) from
 * both applying conflicting changes; all-or-nothing batches; scans longer
 * than one page; handler threads writing at once; arguments refused at
 * open.
 *
 * What etcd really holds is checked with a raw client (etcd/etcd.h), not
 * through the store under test. Each test uses its own prefix.
 *
 * Without /usr/bin/etcd the suite prints "skipped: etcd not installed" and
 * exits 77 (ctest's SKIP_RETURN_CODE for this test).
 */
#include "store.h"

#include <etcd.h>

#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd_proc.h"
#include "testlib.h"

static cor_etcdproc_t single;

/* ---- helpers ---- */

static int open_store(const char *prefix, cor_store_t *s)
{
    cor_error_t err;
    cor_error_clear(&err);
    int rc = cor_store_open_etcd(single.endpoints, prefix, s, &err);
    if (rc != 0)
        fprintf(stderr, "open %s: %s\n", prefix, err.msg);
    return rc;
}

static int put(cor_store_t *s, const char *key, const char *value, cor_error_t *err)
{
    cor_store_op_t op = {COR_STORE_PUT, key, (const uint8_t *)value, strlen(value)};
    cor_error_clear(err);
    return s->ops->apply(s->impl, &op, 1, err);
}

static int del(cor_store_t *s, const char *key, cor_error_t *err)
{
    cor_store_op_t op = {COR_STORE_DEL, key, NULL, 0};
    cor_error_clear(err);
    return s->ops->apply(s->impl, &op, 1, err);
}

/* The value of key through the store as a NUL-terminated string (the
 * caller frees), or NULL when absent or on error. */
static char *get(cor_store_t *s, const char *key)
{
    uint8_t *v = NULL;
    size_t len = 0;
    cor_error_t err;
    if (s->ops->get(s->impl, key, &v, &len, &err) != 0)
        return NULL;
    char *str = malloc(len + 1);
    memcpy(str, v, len);
    str[len] = '\0';
    free(v);
    return str;
}

/* What etcd itself holds at full key k, read with a raw client: a string
 * the caller frees, or NULL when the key is absent. *found is -1 when the
 * read failed. */
static char *raw_get(const char *k, int *found)
{
    struct event_base *base = event_base_new();
    cor_etcd_options_t o = {.endpoints = single.endpoints};
    cor_etcd_t *c = NULL;
    cor_error_t err;
    char *v = NULL;
    *found = -1;
    if (cor_etcd_new(base, &o, &c, &err) == 0) {
        cor_etcd_op_t op = {.kind = COR_ETCD_RANGE, .key = k, .key_len = strlen(k)};
        cor_etcd_reply_t *r = NULL;
        if (cor_etcd_kv_sync(c, &op, &r, &err) == 0) {
            *found = r->n_kvs > 0;
            if (r->n_kvs > 0)
                v = strdup((char *)r->kvs[0].value);
        } else {
            fprintf(stderr, "raw get %s: %s\n", k, err.msg);
        }
        cor_etcd_reply_free(r);
        cor_etcd_free(c);
    }
    event_base_free(base);
    return v;
}

/* Whether etcd holds exactly value at full key k (value NULL: absent). */
static int raw_is(const char *k, const char *value)
{
    int found;
    char *v = raw_get(k, &found);
    int ok = found >= 0 && (value == NULL ? found == 0 : v != NULL && strcmp(v, value) == 0);
    if (!ok)
        fprintf(stderr, "etcd has %s = %s, expected %s\n", k, v ? v : "(absent)",
                value ? value : "(absent)");
    free(v);
    return ok;
}

typedef struct seen {
    int n;
    char keys[8][64];
    char values[8][64];
} seen_t;

static int collect(void *arg, const char *key, const uint8_t *value, size_t len)
{
    seen_t *s = arg;
    if (s->n < 8) {
        snprintf(s->keys[s->n], 64, "%s", key);
        snprintf(s->values[s->n], 64, "%.*s", (int)len, (const char *)value);
    }
    s->n++;
    return 0;
}

static const char *seen_value(const seen_t *s, const char *key)
{
    for (int i = 0; i < s->n && i < 8; i++)
        if (strcmp(s->keys[i], key) == 0)
            return s->values[i];
    return NULL;
}

/* ---- tests ---- */

static void test_round_trip(void)
{
    cor_store_t s;
    CU_ASSERT_EQUAL_FATAL(open_store("/t-rt/", &s), 0);
    CU_ASSERT_STRING_EQUAL(s.ops->name, "etcd");
    cor_error_t err;
    const uint8_t bin[] = {0x08, 0x00, 0xff, 0x12, 0x00};
    cor_store_op_t ops[] = {
        {COR_STORE_PUT, "node/k1", (const uint8_t *)"one", 3},
        {COR_STORE_PUT, "obj/00ff", bin, sizeof(bin)},
        {COR_STORE_PUT, "obj/empty", NULL, 0},
        {COR_STORE_PUT, "objx", (const uint8_t *)"not under obj/", 14},
    };
    CU_ASSERT_EQUAL_FATAL(s.ops->apply(s.impl, ops, 4, &err), 0);
    CU_ASSERT_TRUE(raw_is("/t-rt/node/k1", "one"));

    uint8_t *v = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL(s.ops->get(s.impl, "obj/00ff", &v, &len, &err), 0);
    CU_ASSERT_EQUAL(len, sizeof(bin));
    CU_ASSERT(memcmp(v, bin, sizeof(bin)) == 0);
    free(v);
    CU_ASSERT_EQUAL_FATAL(s.ops->get(s.impl, "obj/empty", &v, &len, &err), 0);
    CU_ASSERT_EQUAL(len, 0);
    free(v);
    CU_ASSERT_EQUAL(s.ops->get(s.impl, "obj/none", &v, &len, &err), COR_ENOTFOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "obj/none"));

    seen_t seen = {0};
    CU_ASSERT_EQUAL(s.ops->scan(s.impl, "obj/", collect, &seen, &err), 0);
    CU_ASSERT_EQUAL(seen.n, 2); /* not objx, not node/k1 */
    CU_ASSERT_PTR_NOT_NULL(seen_value(&seen, "obj/00ff"));
    CU_ASSERT_STRING_EQUAL(seen_value(&seen, "obj/empty") ? seen_value(&seen, "obj/empty") : "?",
                           "");
    seen = (seen_t){0};
    CU_ASSERT_EQUAL(s.ops->scan(s.impl, "", collect, &seen, &err), 0);
    CU_ASSERT_EQUAL(seen.n, 4);

    /* Overwrite, delete, delete of a missing key. */
    CU_ASSERT_EQUAL(put(&s, "node/k1", "uno", &err), 0);
    char *x = get(&s, "node/k1");
    CU_ASSERT_STRING_EQUAL(x ? x : "(null)", "uno");
    free(x);
    CU_ASSERT_EQUAL(del(&s, "node/k1", &err), 0);
    CU_ASSERT_TRUE(raw_is("/t-rt/node/k1", NULL));
    CU_ASSERT_EQUAL(s.ops->get(s.impl, "node/k1", &v, &len, &err), COR_ENOTFOUND);
    CU_ASSERT_EQUAL(del(&s, "node/never", &err), 0);
    /* A key written twice in one batch ends as the last op says. */
    cor_store_op_t twice[] = {
        {COR_STORE_PUT, "obj/twice", (const uint8_t *)"first", 5},
        {COR_STORE_PUT, "obj/twice", (const uint8_t *)"second", 6},
        {COR_STORE_PUT, "obj/gone", (const uint8_t *)"x", 1},
        {COR_STORE_DEL, "obj/gone", NULL, 0},
    };
    CU_ASSERT_EQUAL(s.ops->apply(s.impl, twice, 4, &err), 0);
    CU_ASSERT_TRUE(raw_is("/t-rt/obj/twice", "second"));
    CU_ASSERT_TRUE(raw_is("/t-rt/obj/gone", NULL));
    /* A bad op is refused and nothing of its batch is written. */
    cor_store_op_t bad[] = {
        {COR_STORE_PUT, "obj/fine", (const uint8_t *)"x", 1},
        {COR_STORE_PUT, "", (const uint8_t *)"x", 1},
    };
    CU_ASSERT_EQUAL(s.ops->apply(s.impl, bad, 2, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "op 1 has an empty key"));
    CU_ASSERT_TRUE(raw_is("/t-rt/obj/fine", NULL));
    cor_store_close(&s);

    /* A new store on the prefix (an OMS restarted) may write keys it has
     * not read (the OMS reads ckpt/ keys only on demand): open learnt
     * their revisions. */
    CU_ASSERT_EQUAL_FATAL(open_store("/t-rt/", &s), 0);
    CU_ASSERT_EQUAL(put(&s, "obj/00ff", "new", &err), 0);
    CU_ASSERT_EQUAL(del(&s, "objx", &err), 0);
    CU_ASSERT_TRUE(raw_is("/t-rt/objx", NULL));
    x = get(&s, "obj/twice");
    CU_ASSERT_STRING_EQUAL(x ? x : "(null)", "second");
    free(x);
    cor_store_close(&s);
}

static void test_prefix_isolation(void)
{
    cor_store_t a, b;
    CU_ASSERT_EQUAL_FATAL(open_store("/t-iso/a/", &a), 0);
    CU_ASSERT_EQUAL_FATAL(open_store("/t-iso/ab/", &b), 0);
    cor_error_t err;
    CU_ASSERT_EQUAL(put(&a, "obj/1", "from a", &err), 0);
    CU_ASSERT_EQUAL(put(&b, "obj/1", "from b", &err), 0); /* not a conflict: another key */
    CU_ASSERT_EQUAL(put(&b, "obj/2", "only b", &err), 0);
    seen_t sa = {0}, sb = {0};
    CU_ASSERT_EQUAL(a.ops->scan(a.impl, "", collect, &sa, &err), 0);
    CU_ASSERT_EQUAL(b.ops->scan(b.impl, "", collect, &sb, &err), 0);
    CU_ASSERT_EQUAL(sa.n, 1);
    CU_ASSERT_STRING_EQUAL(seen_value(&sa, "obj/1") ? seen_value(&sa, "obj/1") : "?", "from a");
    CU_ASSERT_EQUAL(sb.n, 2);
    CU_ASSERT_STRING_EQUAL(seen_value(&sb, "obj/1") ? seen_value(&sb, "obj/1") : "?", "from b");
    char *x = get(&a, "obj/2");
    CU_ASSERT_PTR_NULL(x);
    free(x);
    CU_ASSERT_TRUE(raw_is("/t-iso/a/obj/1", "from a"));
    CU_ASSERT_TRUE(raw_is("/t-iso/ab/obj/1", "from b"));
    cor_store_close(&a);
    cor_store_close(&b);
}

/* Two OMSes on one prefix: whoever writes second from a stale view is
 * refused, and etcd keeps the first one's write. */
static void test_cas_two_stores(void)
{
    cor_store_t a, b;
    CU_ASSERT_EQUAL_FATAL(open_store("/t-cas/", &a), 0);
    CU_ASSERT_EQUAL_FATAL(open_store("/t-cas/", &b), 0);
    cor_error_t err;
    seen_t sa = {0}, sb = {0};
    CU_ASSERT_EQUAL(a.ops->scan(a.impl, "", collect, &sa, &err), 0);
    CU_ASSERT_EQUAL(b.ops->scan(b.impl, "", collect, &sb, &err), 0);
    CU_ASSERT_EQUAL(sa.n + sb.n, 0);

    /* A creates k; B, which saw k absent, cannot create it too. */
    CU_ASSERT_EQUAL(put(&a, "obj/k", "A1", &err), 0);
    CU_ASSERT_EQUAL(put(&b, "obj/k", "B1", &err), COR_ESTATE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "changed by someone else"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "obj/k"));
    CU_ASSERT_TRUE(raw_is("/t-cas/obj/k", "A1"));
    /* The refusal made B re-read k: its next write is guarded by A1's
     * revision, and goes through. */
    CU_ASSERT_EQUAL(put(&b, "obj/k", "B2", &err), 0);
    CU_ASSERT_TRUE(raw_is("/t-cas/obj/k", "B2"));
    /* Now A is the stale one: an update and a delete are both refused. */
    CU_ASSERT_EQUAL(put(&a, "obj/k", "A2", &err), COR_ESTATE);
    CU_ASSERT_TRUE(raw_is("/t-cas/obj/k", "B2"));
    CU_ASSERT_EQUAL(put(&b, "obj/k", "B3", &err), 0);
    CU_ASSERT_EQUAL(del(&a, "obj/k", &err), COR_ESTATE);
    CU_ASSERT_TRUE(raw_is("/t-cas/obj/k", "B3"));
    /* After a get, A is current again. */
    char *x = get(&a, "obj/k");
    CU_ASSERT_STRING_EQUAL(x ? x : "(null)", "B3");
    free(x);
    CU_ASSERT_EQUAL(del(&a, "obj/k", &err), 0);
    CU_ASSERT_TRUE(raw_is("/t-cas/obj/k", NULL));
    /* B thinks k exists at B3's revision; it was deleted: refused. */
    CU_ASSERT_EQUAL(put(&b, "obj/k", "B4", &err), COR_ESTATE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "absent now"));
    CU_ASSERT_TRUE(raw_is("/t-cas/obj/k", NULL));
    CU_ASSERT_EQUAL(put(&b, "obj/k", "B5", &err), 0);
    cor_store_close(&a);
    cor_store_close(&b);
}

/* A batch with one stale key applies none of its keys. */
static void test_batch_all_or_nothing(void)
{
    cor_store_t a, b;
    CU_ASSERT_EQUAL_FATAL(open_store("/t-batch/", &a), 0);
    CU_ASSERT_EQUAL_FATAL(open_store("/t-batch/", &b), 0);
    cor_error_t err;
    CU_ASSERT_EQUAL(put(&a, "obj/1", "a1", &err), 0);
    CU_ASSERT_EQUAL(put(&a, "ckpt/1", "c1", &err), 0);
    CU_ASSERT_EQUAL(put(&b, "grp/9", "b9", &err), 0); /* A has never seen grp/9 */
    cor_store_op_t ops[] = {
        {COR_STORE_PUT, "obj/1", (const uint8_t *)"a2", 2},
        {COR_STORE_DEL, "ckpt/1", NULL, 0},
        {COR_STORE_PUT, "grp/9", (const uint8_t *)"a9", 2},
    };
    CU_ASSERT_EQUAL(a.ops->apply(a.impl, ops, 3, &err), COR_ESTATE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "grp/9"));
    CU_ASSERT_TRUE(raw_is("/t-batch/obj/1", "a1"));
    CU_ASSERT_TRUE(raw_is("/t-batch/ckpt/1", "c1"));
    CU_ASSERT_TRUE(raw_is("/t-batch/grp/9", "b9"));
    /* Re-read by the refusal, the same batch now goes through whole. */
    CU_ASSERT_EQUAL(a.ops->apply(a.impl, ops, 3, &err), 0);
    CU_ASSERT_TRUE(raw_is("/t-batch/obj/1", "a2"));
    CU_ASSERT_TRUE(raw_is("/t-batch/ckpt/1", NULL));
    CU_ASSERT_TRUE(raw_is("/t-batch/grp/9", "a9"));
    cor_store_close(&a);
    cor_store_close(&b);
}

static int count_cb(void *arg, const char *key, const uint8_t *value, size_t len)
{
    (void)value;
    (void)len;
    int *n = arg;
    int i;
    if (sscanf(key, "obj/%d", &i) == 1)
        (*n)++;
    return 0;
}

/* More keys than one scan page (1000): every one is seen once. */
static void test_scan_pages(void)
{
    cor_store_t s;
    CU_ASSERT_EQUAL_FATAL(open_store("/t-pages/", &s), 0);
    enum { N = 1234, BATCH = 100 };
    char keys[BATCH][32];
    cor_store_op_t ops[BATCH];
    cor_error_t err;
    for (int i = 0; i < N; i += BATCH) {
        int n = N - i < BATCH ? N - i : BATCH;
        for (int j = 0; j < n; j++) {
            snprintf(keys[j], sizeof(keys[j]), "obj/%05d", i + j);
            ops[j] = (cor_store_op_t){COR_STORE_PUT, keys[j], (const uint8_t *)"v", 1};
        }
        CU_ASSERT_EQUAL_FATAL(s.ops->apply(s.impl, ops, (size_t)n, &err), 0);
    }
    int n = 0;
    CU_ASSERT_EQUAL(s.ops->scan(s.impl, "obj/", count_cb, &n, &err), 0);
    CU_ASSERT_EQUAL(n, N);
    cor_store_close(&s);
    /* A fresh store learns every key's revision from the scan: it can
     * update the last key without being refused. */
    CU_ASSERT_EQUAL_FATAL(open_store("/t-pages/", &s), 0);
    n = 0;
    CU_ASSERT_EQUAL(s.ops->scan(s.impl, "", count_cb, &n, &err), 0);
    CU_ASSERT_EQUAL(n, N);
    CU_ASSERT_EQUAL(put(&s, "obj/01233", "w", &err), 0);
    CU_ASSERT_EQUAL(put(&s, "obj/00000", "w", &err), 0);
    cor_store_close(&s);
}

typedef struct writer {
    cor_store_t *s;
    int id;
    int failures;
} writer_t;

static void *writer_main(void *arg)
{
    writer_t *w = arg;
    for (int i = 0; i < 40; i++) {
        char key[32], val[32];
        snprintf(key, sizeof(key), "obj/w%d-%d", w->id, i % 5);
        snprintf(val, sizeof(val), "%d", i);
        cor_error_t err;
        if (put(w->s, key, val, &err) != 0) {
            fprintf(stderr, "writer %d: %s\n", w->id, err.msg);
            w->failures++;
        }
    }
    return NULL;
}

/* Handler threads write at once through one store: none is refused. */
static void test_threads(void)
{
    cor_store_t s;
    CU_ASSERT_EQUAL_FATAL(open_store("/t-threads/", &s), 0);
    enum { T = 4 };
    pthread_t th[T];
    writer_t w[T];
    for (int i = 0; i < T; i++) {
        w[i] = (writer_t){&s, i, 0};
        pthread_create(&th[i], NULL, writer_main, &w[i]);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        CU_ASSERT_EQUAL(w[i].failures, 0);
    }
    CU_ASSERT_TRUE(raw_is("/t-threads/obj/w3-4", "39"));
    cor_store_close(&s);
}

static void test_bad_arguments(void)
{
    cor_store_t s = {0};
    cor_error_t err;
    CU_ASSERT_EQUAL(cor_store_open_etcd(single.endpoints, "", &s, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "prefix is empty"));
    CU_ASSERT_EQUAL(cor_store_open_etcd(single.endpoints, "/corundum", &s, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "'/corundum' does not end in '/'"));
    CU_ASSERT_EQUAL(cor_store_open_etcd("", NULL, &s, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no etcd endpoints"));
    CU_ASSERT_EQUAL(cor_store_open_etcd("ftp://127.0.0.1:1", NULL, &s, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "ftp://127.0.0.1:1"));
    CU_ASSERT_PTR_NULL(s.ops);
    /* Nobody listening: refused at open, not at the first write. */
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", cor_etcdproc_free_port());
    CU_ASSERT_EQUAL(cor_store_open_etcd(url, NULL, &s, &err), COR_EUNAVAIL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cannot read from etcd"));
    CU_ASSERT_PTR_NULL(s.ops);
}

static int suite_init(void)
{
    return cor_etcdproc_start(&single, 1);
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
        {"put, get, delete, scan round trips", test_round_trip},
        {"two prefixes on one etcd do not see each other", test_prefix_isolation},
        {"compare-and-swap: a stale store is refused, then re-reads", test_cas_two_stores},
        {"a batch with one stale key applies nothing", test_batch_all_or_nothing},
        {"scans longer than a page", test_scan_pages},
        {"threads writing at once", test_threads},
        {"bad prefix, bad endpoints, no etcd", test_bad_arguments},
        {NULL, NULL},
    };
    return cor_test_main("store_etcd", tests, suite_init, suite_cleanup);
}
