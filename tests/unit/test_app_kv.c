/*
 * test_app_kv.c — the KeyValueStore class (apps/kv) hosted in one runtime
 * and called through its generated proxies on the co-located path (no
 * transport, no OMS): put/get/overwrite/remove, prefix scans with paging,
 * size, every limit refused with EINVAL (and the store unchanged after),
 * max_keys, and the saved-state codec (pack/unpack round trip, malformed
 * state refused).
 */
#include <cor/cor.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv.cor.h"
#include "kv_class.h"
#include "testlib.h"

static cor_runtime_t *rt;

static int suite_init(void)
{
    cor_error_t err;
    if (cor_runtime_new(NULL, &rt, &err) != 0)
        return 1;
    return cor_runtime_register_class(rt, &kv_class, &err) != 0;
}

static int suite_cleanup(void)
{
    cor_runtime_free(rt);
    return 0;
}

static cor_ref_t *new_store(uint32_t max_keys)
{
    Kv__KvArgs a = KV__KV_ARGS__INIT;
    a.max_keys = max_keys;
    uint8_t buf[16];
    size_t len = kv__kv_args__pack(&a, buf);
    cor_ref_t *ref = NULL;
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(
        cor_object_create(rt, "kv.KeyValueStore", buf, len, &(cor_create_opts_t){.here = 1}, &ref, &err), 0);
    return ref;
}

static void drop_store(cor_ref_t *ref)
{
    cor_error_t err;
    CU_ASSERT_EQUAL(cor_object_delete(rt, cor_ref_id(ref), &err), 0);
    cor_ref_free(ref);
}

/* Put; returns the rc, fills *rep_out (may be NULL) from the reply. */
static int put(cor_ref_t *ref, const char *key, const void *val, size_t vlen, Kv__PutReply *rep_out,
               cor_error_t *err)
{
    Kv__PutRequest req = KV__PUT_REQUEST__INIT;
    req.key = (char *)key;
    req.value.data = (uint8_t *)val;
    req.value.len = vlen;
    Kv__PutReply *rep = NULL;
    int rc = kv_key_value_store_put(ref, &req, &rep, err);
    if (rc == 0) {
        if (rep_out != NULL) {
            *rep_out = *rep;
        }
        kv__put_reply__free_unpacked(rep, NULL);
    } else {
        CU_ASSERT_PTR_NULL(rep);
    }
    return rc;
}

static int put_s(cor_ref_t *ref, const char *key, const char *val)
{
    cor_error_t err;
    return put(ref, key, val, strlen(val), NULL, &err);
}

/* Get: rc; on success *found and a malloc'd copy of the value in *val. */
static int get(cor_ref_t *ref, const char *key, int *found, char **val, uint64_t *version,
               cor_error_t *err)
{
    Kv__GetRequest req = KV__GET_REQUEST__INIT;
    req.key = (char *)key;
    Kv__GetReply *rep = NULL;
    int rc = kv_key_value_store_get(ref, &req, &rep, err);
    if (rc != 0)
        return rc;
    *found = rep->found;
    if (val != NULL) {
        *val = malloc(rep->value.len + 1);
        memcpy(*val, rep->value.data ? (const void *)rep->value.data : "", rep->value.len);
        (*val)[rep->value.len] = '\0';
    }
    if (version != NULL)
        *version = rep->version;
    kv__get_reply__free_unpacked(rep, NULL);
    return 0;
}

static int remove_key(cor_ref_t *ref, const char *key, int *removed, cor_error_t *err)
{
    Kv__DeleteRequest req = KV__DELETE_REQUEST__INIT;
    req.key = (char *)key;
    Kv__DeleteReply *rep = NULL;
    int rc = kv_key_value_store_delete(ref, &req, &rep, err);
    if (rc == 0) {
        *removed = rep->deleted;
        kv__delete_reply__free_unpacked(rep, NULL);
    }
    return rc;
}

static void size_of(cor_ref_t *ref, uint64_t *count, uint64_t *revision)
{
    Kv__SizeRequest req = KV__SIZE_REQUEST__INIT;
    Kv__SizeReply *rep = NULL;
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(kv_key_value_store_size(ref, &req, &rep, &err), 0);
    *count = rep->count;
    if (revision != NULL)
        *revision = rep->revision;
    kv__size_reply__free_unpacked(rep, NULL);
}

static Kv__ScanReply *scan(cor_ref_t *ref, const char *prefix, const char *after, uint32_t limit,
                           int *rc, cor_error_t *err)
{
    Kv__ScanRequest req = KV__SCAN_REQUEST__INIT;
    req.prefix = (char *)prefix;
    req.start_after = (char *)after;
    req.limit = limit;
    Kv__ScanReply *rep = NULL;
    *rc = kv_key_value_store_scan(ref, &req, &rep, err);
    return rep;
}

static void test_put_get_remove(void)
{
    cor_ref_t *ref = new_store(0);
    cor_error_t err;
    Kv__PutReply pr;
    CU_ASSERT_EQUAL(put(ref, "colour", "red", 3, &pr, &err), 0);
    CU_ASSERT_FALSE(pr.replaced);
    CU_ASSERT_EQUAL(pr.version, 1);

    int found = -1;
    char *v = NULL;
    uint64_t ver = 0;
    CU_ASSERT_EQUAL(get(ref, "colour", &found, &v, &ver, &err), 0);
    CU_ASSERT_TRUE(found);
    CU_ASSERT_STRING_EQUAL(v, "red");
    CU_ASSERT_EQUAL(ver, 1);
    free(v);

    /* Overwrite: reports the old version, writes a new one. */
    CU_ASSERT_EQUAL(put(ref, "colour", "blue", 4, &pr, &err), 0);
    CU_ASSERT_TRUE(pr.replaced);
    CU_ASSERT_EQUAL(pr.previous_version, 1);
    CU_ASSERT_EQUAL(pr.version, 2);
    CU_ASSERT_EQUAL(get(ref, "colour", &found, &v, &ver, &err), 0);
    CU_ASSERT_STRING_EQUAL(v, "blue");
    CU_ASSERT_EQUAL(ver, 2);
    free(v);

    /* Binary and empty values survive. */
    const uint8_t bin[] = {0, 1, 2, 0xff, 0};
    CU_ASSERT_EQUAL(put(ref, "bin", bin, sizeof(bin), NULL, &err), 0);
    CU_ASSERT_EQUAL(put(ref, "empty", "", 0, NULL, &err), 0);
    Kv__GetRequest greq = KV__GET_REQUEST__INIT;
    greq.key = (char *)"bin";
    Kv__GetReply *grep = NULL;
    CU_ASSERT_EQUAL_FATAL(kv_key_value_store_get(ref, &greq, &grep, &err), 0);
    CU_ASSERT_EQUAL(grep->value.len, sizeof(bin));
    CU_ASSERT_EQUAL(memcmp(grep->value.data, bin, sizeof(bin)), 0);
    kv__get_reply__free_unpacked(grep, NULL);
    CU_ASSERT_EQUAL(get(ref, "empty", &found, &v, NULL, &err), 0);
    CU_ASSERT_TRUE(found);
    CU_ASSERT_STRING_EQUAL(v, "");
    free(v);

    CU_ASSERT_EQUAL(get(ref, "nope", &found, NULL, &ver, &err), 0);
    CU_ASSERT_FALSE(found);
    CU_ASSERT_EQUAL(ver, 0);

    uint64_t n, rev;
    size_of(ref, &n, &rev);
    CU_ASSERT_EQUAL(n, 3);
    CU_ASSERT_EQUAL(rev, 4);

    int removed = -1;
    CU_ASSERT_EQUAL(remove_key(ref, "colour", &removed, &err), 0);
    CU_ASSERT_TRUE(removed);
    CU_ASSERT_EQUAL(remove_key(ref, "colour", &removed, &err), 0);
    CU_ASSERT_FALSE(removed); /* absent: not an error */
    CU_ASSERT_EQUAL(get(ref, "colour", &found, NULL, NULL, &err), 0);
    CU_ASSERT_FALSE(found);
    size_of(ref, &n, &rev);
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_EQUAL(rev, 5); /* the removal counted, the no-op did not */
    drop_store(ref);
}

static void test_scan_paging(void)
{
    cor_ref_t *ref = new_store(0);
    cor_error_t err;
    /* Inserted out of order; "user/" has 25 keys, with neighbours on both
     * sides that share part of the prefix. */
    char key[32], val[32];
    for (int i = 25; i >= 1; i--) {
        snprintf(key, sizeof(key), "user/%02d", i);
        snprintf(val, sizeof(val), "v%d", i);
        CU_ASSERT_EQUAL(put_s(ref, key, val), 0);
    }
    CU_ASSERT_EQUAL(put_s(ref, "user", "x"), 0);
    CU_ASSERT_EQUAL(put_s(ref, "user0", "x"), 0);
    CU_ASSERT_EQUAL(put_s(ref, "usea", "x"), 0);
    CU_ASSERT_EQUAL(put_s(ref, "zzz", "x"), 0);

    /* Page through "user/" ten at a time with start_after = last key. */
    char after[32] = "";
    int seen = 0, pages = 0, rc;
    for (;;) {
        Kv__ScanReply *rep = scan(ref, "user/", after, 10, &rc, &err);
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        pages++;
        for (size_t i = 0; i < rep->n_entries; i++) {
            seen++;
            snprintf(key, sizeof(key), "user/%02d", seen);
            snprintf(val, sizeof(val), "v%d", seen);
            CU_ASSERT_STRING_EQUAL(rep->entries[i]->key, key);
            CU_ASSERT_EQUAL(rep->entries[i]->value.len, strlen(val));
            CU_ASSERT_EQUAL(memcmp(rep->entries[i]->value.data, val, strlen(val)), 0);
        }
        int more = rep->more;
        CU_ASSERT_EQUAL(rep->n_entries, pages < 3 ? 10u : 5u);
        if (rep->n_entries > 0)
            snprintf(after, sizeof(after), "%s", rep->entries[rep->n_entries - 1]->key);
        kv__scan_reply__free_unpacked(rep, NULL);
        if (!more)
            break;
        CU_ASSERT_FATAL(pages < 10);
    }
    CU_ASSERT_EQUAL(seen, 25);
    CU_ASSERT_EQUAL(pages, 3);

    /* Exactly a full page: more is false when nothing follows. */
    Kv__ScanReply *rep = scan(ref, "user/", "user/15", 10, &rc, &err);
    CU_ASSERT_EQUAL(rep->n_entries, 10);
    CU_ASSERT_FALSE(rep->more);
    kv__scan_reply__free_unpacked(rep, NULL);

    /* start_after need not be a key, and may sort before the prefix. */
    rep = scan(ref, "user/", "user/07x", 2, &rc, &err);
    CU_ASSERT_EQUAL_FATAL(rep->n_entries, 2);
    CU_ASSERT_STRING_EQUAL(rep->entries[0]->key, "user/08");
    CU_ASSERT_TRUE(rep->more);
    kv__scan_reply__free_unpacked(rep, NULL);
    rep = scan(ref, "user/", "a", 1, &rc, &err);
    CU_ASSERT_STRING_EQUAL(rep->entries[0]->key, "user/01");
    kv__scan_reply__free_unpacked(rep, NULL);
    rep = scan(ref, "user/", "user/99", 10, &rc, &err);
    CU_ASSERT_EQUAL(rep->n_entries, 0);
    CU_ASSERT_FALSE(rep->more);
    kv__scan_reply__free_unpacked(rep, NULL);

    /* No prefix, default limit: every key in byte order. */
    rep = scan(ref, "", "", 0, &rc, &err);
    CU_ASSERT_EQUAL_FATAL(rep->n_entries, 29);
    CU_ASSERT_FALSE(rep->more);
    CU_ASSERT_STRING_EQUAL(rep->entries[0]->key, "usea");
    CU_ASSERT_STRING_EQUAL(rep->entries[1]->key, "user");
    CU_ASSERT_STRING_EQUAL(rep->entries[2]->key, "user/01");
    CU_ASSERT_STRING_EQUAL(rep->entries[27]->key, "user0");
    CU_ASSERT_STRING_EQUAL(rep->entries[28]->key, "zzz");
    for (size_t i = 1; i < rep->n_entries; i++)
        CU_ASSERT(strcmp(rep->entries[i - 1]->key, rep->entries[i]->key) < 0);
    kv__scan_reply__free_unpacked(rep, NULL);

    rep = scan(ref, "nothing", "", 5, &rc, &err);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(rep->n_entries, 0);
    CU_ASSERT_FALSE(rep->more);
    kv__scan_reply__free_unpacked(rep, NULL);
    drop_store(ref);
}

/* A page also stops at KV_SCAN_MAX_REPLY_BYTES, and says more. */
static void test_scan_byte_cap(void)
{
    cor_ref_t *ref = new_store(0);
    cor_error_t err;
    uint8_t *big = calloc(1, KV_MAX_VALUE_BYTES);
    char key[16];
    for (int i = 0; i < 6; i++) {
        snprintf(key, sizeof(key), "big%d", i);
        CU_ASSERT_EQUAL(put(ref, key, big, KV_MAX_VALUE_BYTES, NULL, &err), 0);
    }
    free(big);
    int rc, total = 0, pages = 0;
    char after[16] = "";
    for (;;) {
        Kv__ScanReply *rep = scan(ref, "big", after, 100, &rc, &err);
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        CU_ASSERT(rep->n_entries >= 1 && rep->n_entries < 6);
        total += (int)rep->n_entries;
        pages++;
        snprintf(after, sizeof(after), "%s", rep->entries[rep->n_entries - 1]->key);
        int more = rep->more;
        kv__scan_reply__free_unpacked(rep, NULL);
        if (!more)
            break;
        CU_ASSERT_FATAL(pages < 10);
    }
    CU_ASSERT_EQUAL(total, 6);
    CU_ASSERT(pages >= 2);
    drop_store(ref);
}

static void test_limits(void)
{
    cor_ref_t *ref = new_store(0);
    cor_error_t err;
    CU_ASSERT_EQUAL(put_s(ref, "keep", "original"), 0);
    uint64_t n0, rev0, n, rev;
    size_of(ref, &n0, &rev0);

    char *longkey = malloc(KV_MAX_KEY_BYTES + 2);
    memset(longkey, 'k', KV_MAX_KEY_BYTES + 1);
    longkey[KV_MAX_KEY_BYTES + 1] = '\0';
    int found, removed, rc;

    CU_ASSERT_EQUAL(put(ref, "", "v", 1, NULL, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "key is empty"));
    CU_ASSERT_EQUAL(put(ref, longkey, "v", 1, NULL, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "1024-byte key limit"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "kv.KeyValueStore.Put on object"));
    CU_ASSERT_EQUAL(get(ref, longkey, &found, NULL, NULL, &err), COR_EINVAL);
    CU_ASSERT_EQUAL(get(ref, "", &found, NULL, NULL, &err), COR_EINVAL);
    CU_ASSERT_EQUAL(remove_key(ref, longkey, &removed, &err), COR_EINVAL);
    CU_ASSERT_EQUAL(remove_key(ref, "", &removed, &err), COR_EINVAL);

    uint8_t *big = calloc(1, KV_MAX_VALUE_BYTES + 1);
    CU_ASSERT_EQUAL(put(ref, "keep", big, KV_MAX_VALUE_BYTES + 1, NULL, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "1 MiB"));
    CU_ASSERT_EQUAL(put(ref, "new", big, KV_MAX_VALUE_BYTES + 1, NULL, &err), COR_EINVAL);

    Kv__ScanReply *rep = scan(ref, "", "", KV_MAX_SCAN_LIMIT + 1, &rc, &err);
    CU_ASSERT_EQUAL(rc, COR_EINVAL);
    CU_ASSERT_PTR_NULL(rep);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "maximum of 10000"));
    rep = scan(ref, longkey, "", 1, &rc, &err);
    CU_ASSERT_EQUAL(rc, COR_EINVAL);
    rep = scan(ref, "", longkey, 1, &rc, &err);
    CU_ASSERT_EQUAL(rc, COR_EINVAL);

    /* Nothing changed. */
    size_of(ref, &n, &rev);
    CU_ASSERT_EQUAL(n, n0);
    CU_ASSERT_EQUAL(rev, rev0);
    char *v = NULL;
    CU_ASSERT_EQUAL(get(ref, "keep", &found, &v, NULL, &err), 0);
    CU_ASSERT_STRING_EQUAL(v, "original");
    free(v);

    /* The limits themselves are allowed. */
    longkey[KV_MAX_KEY_BYTES] = '\0';
    CU_ASSERT_EQUAL(put(ref, longkey, big, KV_MAX_VALUE_BYTES, NULL, &err), 0);
    CU_ASSERT_EQUAL(get(ref, longkey, &found, NULL, NULL, &err), 0);
    CU_ASSERT_TRUE(found);
    rep = scan(ref, "", "", KV_MAX_SCAN_LIMIT, &rc, &err);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(rep->n_entries, 2);
    kv__scan_reply__free_unpacked(rep, NULL);
    free(big);
    free(longkey);
    drop_store(ref);
}

static void test_max_keys_and_args(void)
{
    cor_ref_t *ref = new_store(2);
    cor_error_t err;
    CU_ASSERT_EQUAL(put_s(ref, "a", "1"), 0);
    CU_ASSERT_EQUAL(put_s(ref, "b", "2"), 0);
    CU_ASSERT_EQUAL(put(ref, "c", "3", 1, NULL, &err), COR_ETOOBIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "max_keys=2"));
    CU_ASSERT_EQUAL(put_s(ref, "a", "overwrite is fine"), 0);
    int removed;
    CU_ASSERT_EQUAL(remove_key(ref, "b", &removed, &err), 0);
    CU_ASSERT_EQUAL(put_s(ref, "c", "room again"), 0);
    uint64_t n;
    size_of(ref, &n, NULL);
    CU_ASSERT_EQUAL(n, 2);
    drop_store(ref);

    const uint8_t garbage[] = {0xff, 0xff, 0xff};
    cor_ref_t *r2 = NULL;
    CU_ASSERT_EQUAL(cor_object_create(rt, "kv.KeyValueStore", garbage, sizeof(garbage), &(cor_create_opts_t){.here = 1}, &r2, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "kv.KvArgs"));
    CU_ASSERT_PTR_NULL(r2);
}

/* ---- the saved state ---- */

static uint8_t *pack_state(Kv__KvState *st, size_t *len)
{
    *len = kv__kv_state__get_packed_size(st);
    uint8_t *b = malloc(*len ? *len : 1);
    kv__kv_state__pack(st, b);
    return b;
}

static void test_state_round_trip(void)
{
    enum { N = 300 };
    Kv__Entry ents[N];
    Kv__Entry *ptrs[N];
    char keys[N][16];
    uint8_t vals[N][8];
    for (int i = 0; i < N; i++) {
        kv__entry__init(&ents[i]);
        snprintf(keys[i], sizeof(keys[i]), "k%05d", i); /* ascending */
        for (int j = 0; j < 8; j++)
            vals[i][j] = (uint8_t)(i * 7 + j);
        ents[i].key = keys[i];
        ents[i].value.data = vals[i];
        ents[i].value.len = (size_t)(i % 9); /* includes empty values */
        ents[i].version = (uint64_t)i + 1;
        ptrs[i] = &ents[i];
    }
    Kv__KvState st = KV__KV_STATE__INIT;
    st.entries = ptrs;
    st.n_entries = N;
    st.revision = 1000;
    st.max_keys = 5000;
    size_t len;
    uint8_t *bytes = pack_state(&st, &len);

    kv_store_t *s = NULL;
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(kv_state_unpack(bytes, len, &s, &err), 0);
    uint8_t *again = NULL;
    size_t len2 = 0;
    CU_ASSERT_EQUAL_FATAL(kv_state_pack(s, &again, &len2, &err), 0);
    CU_ASSERT_EQUAL(len2, len);
    CU_ASSERT_EQUAL(memcmp(again, bytes, len), 0);
    free(again);
    kv_store_free(s);

    /* Out of order on input: loaded sorted, saved in order. */
    Kv__Entry *shuffled[N];
    for (int i = 0; i < N; i++)
        shuffled[i] = ptrs[(i * 7) % N]; /* 7 is prime to 300: a permutation */
    st.entries = shuffled;
    size_t slen;
    uint8_t *sbytes = pack_state(&st, &slen);
    CU_ASSERT_EQUAL_FATAL(kv_state_unpack(sbytes, slen, &s, &err), 0);
    CU_ASSERT_EQUAL_FATAL(kv_state_pack(s, &again, &len2, &err), 0);
    CU_ASSERT_EQUAL(len2, len);
    CU_ASSERT_EQUAL(memcmp(again, bytes, len), 0);
    free(again);
    kv_store_free(s);
    free(sbytes);
    free(bytes);

    /* Empty state: an empty store. */
    CU_ASSERT_EQUAL_FATAL(kv_state_unpack((const uint8_t *)"", 0, &s, &err), 0);
    CU_ASSERT_EQUAL(kv_state_pack(s, &again, &len2, &err), 0);
    CU_ASSERT_EQUAL(len2, 0);
    free(again);
    kv_store_free(s);
}

static void expect_bad_state(Kv__KvState *st, const char *msg)
{
    size_t len;
    uint8_t *b = pack_state(st, &len);
    kv_store_t *s = NULL;
    cor_error_t err;
    CU_ASSERT_EQUAL(kv_state_unpack(b, len, &s, &err), COR_EINVAL);
    CU_ASSERT_PTR_NULL(s);
    if (strstr(err.msg, msg) == NULL) {
        fprintf(stderr, "expected '%s' in '%s'\n", msg, err.msg);
        CU_FAIL("error message");
    }
    free(b);
}

static void test_state_malformed(void)
{
    kv_store_t *s = NULL;
    cor_error_t err;
    const uint8_t garbage[] = {0x0a, 0xff, 0xff, 0xff, 0x0f};
    CU_ASSERT_EQUAL(kv_state_unpack(garbage, sizeof(garbage), &s, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "kv.KvState"));
    CU_ASSERT_PTR_NULL(s);

    Kv__Entry a = KV__ENTRY__INIT, b = KV__ENTRY__INIT;
    Kv__Entry *ptrs[2] = {&a, &b};
    Kv__KvState st = KV__KV_STATE__INIT;
    st.entries = ptrs;
    st.n_entries = 2;
    st.revision = 10;
    a.key = (char *)"same";
    a.version = 1;
    b.key = (char *)"same";
    b.version = 2;
    expect_bad_state(&st, "twice");
    b.key = (char *)"";
    expect_bad_state(&st, "empty");
    b.key = (char *)"other";
    b.version = 11;
    expect_bad_state(&st, "version 11");
    b.version = 2;
    st.max_keys = 1;
    expect_bad_state(&st, "max_keys=1");
    st.max_keys = 0;
    uint8_t *big = calloc(1, KV_MAX_VALUE_BYTES + 1);
    b.value.data = big;
    b.value.len = KV_MAX_VALUE_BYTES + 1;
    expect_bad_state(&st, "1 MiB");
    free(big);
    b.value.len = 0;
    CU_ASSERT_EQUAL(kv_state_unpack(garbage, 0, &s, &err), 0); /* control: fine */
    kv_store_free(s);
}

int main(void)
{
    static const cor_test_t tests[] = {
        {"put_get_remove", test_put_get_remove},
        {"scan_paging", test_scan_paging},
        {"scan_byte_cap", test_scan_byte_cap},
        {"limits", test_limits},
        {"max_keys_and_args", test_max_keys_and_args},
        {"state_round_trip", test_state_round_trip},
        {"state_malformed", test_state_malformed},
        {NULL, NULL},
    };
    return cor_test_main("app_kv", tests, suite_init, suite_cleanup);
}
