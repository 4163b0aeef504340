/*
 * make_corpus.c — writes the seed corpora of the fuzz targets into
 * DIR/<target>/ (DIR is normally tests/fuzz/corpus): well-formed requests
 * built with the real protobuf-c types, malformed ones, and the protobuf-c
 * parser regression inputs (CVE-2022-48468, CVE-2022-33070; see
 * docs/fuzzing.md), and for `module` records in fuzz_module.c's own byte
 * format. Files are small and named for what they hold. The stubs corpus
 * is captured from protoc instead (capture_stubs_corpus.sh).
 *
 *   fuzz_make_corpus tests/fuzz/corpus
 *
 * Deterministic: running it again rewrites the same bytes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cor/kernel.pb-c.h"
#include "cor/oms.pb-c.h"
#include "echo/echo.cor.h"
#include "echo/echo.pb-c.h"

static const char *out_root;

/* A growing byte string. */
typedef struct bytes {
    uint8_t d[8192];
    size_t n;
} bytes_t;

static void b_raw(bytes_t *b, const void *p, size_t n)
{
    if (b->n + n > sizeof(b->d)) {
        fprintf(stderr, "make_corpus: seed too large\n");
        exit(1);
    }
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void b_varint(bytes_t *b, uint64_t v)
{
    uint8_t t[10];
    size_t n = 0;
    while (v >= 0x80) {
        t[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    t[n++] = (uint8_t)v;
    b_raw(b, t, n);
}

static void b_msg(bytes_t *b, const ProtobufCMessage *m)
{
    uint8_t tmp[8192];
    size_t n = protobuf_c_message_get_packed_size(m);
    if (n > sizeof(tmp))
        exit(1);
    protobuf_c_message_pack(m, tmp);
    b_raw(b, tmp, n);
}

/* A length-delimited field holding p[0..n). */
static void b_field(bytes_t *b, unsigned field, const void *p, size_t n)
{
    b_varint(b, (uint64_t)field << 3 | 2);
    b_varint(b, n);
    b_raw(b, p, n);
}

static void write_file(const char *target, const char *name, const void *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", out_root, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/%s/%s", out_root, target, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void write_b(const char *target, const char *name, const bytes_t *b)
{
    write_file(target, name, b->d, b->n);
}

/* ---------------- invoke ---------------- */

static uint8_t fuzz_id[16] = {'f', 'u', 'z', 'z', '-', 'o', 'b', 'j',
                              'e', 'c', 't', '-', '0', '0', '0', '1'};

/* An envelope for method with payload (already packed), fingerprint fp. */
static void envelope(bytes_t *b, const uint8_t *id, size_t id_len, const char *method,
                     const bytes_t *payload, uint64_t fp)
{
    Cor__InvokeRequest r = COR__INVOKE_REQUEST__INIT;
    r.object_id.data = (uint8_t *)id;
    r.object_id.len = id_len;
    r.method = (char *)method;
    r.fingerprint = fp;
    if (payload != NULL) {
        r.payload.data = (uint8_t *)payload->d;
        r.payload.len = payload->n;
    }
    b->n = 0;
    b_msg(b, &r.base);
}

static void invoke_seeds(void)
{
    const char *T = "invoke";
    uint64_t fp = echo_echo_service.fingerprint;
    bytes_t p, e;

    Echo__SayRequest say = ECHO__SAY_REQUEST__INIT;
    say.text = "hello";
    say.blob.data = (uint8_t *)"\x00\x01\x02";
    say.blob.len = 3;
    p.n = 0;
    b_msg(&p, &say.base);
    envelope(&e, fuzz_id, 16, "Say", &p, fp);
    write_b(T, "ok-say-fingerprint", &e);
    envelope(&e, fuzz_id, 16, "Say", &p, 0);
    write_b(T, "ok-say-no-fingerprint", &e);
    envelope(&e, fuzz_id, 16, "Say", &p, fp ^ 1);
    write_b(T, "bad-fingerprint", &e);
    envelope(&e, fuzz_id, 16, "Say", NULL, 0);
    write_b(T, "ok-say-empty-payload", &e);

    /* Every envelope field, dm headers included. */
    {
        Cor__InvokeRequest r = COR__INVOKE_REQUEST__INIT;
        Cor__DmHeader h1 = COR__DM_HEADER__INIT, h2 = COR__DM_HEADER__INIT, *hs[2] = {&h1, &h2};
        h1.key = "trace";
        h1.value.data = (uint8_t *)"abc";
        h1.value.len = 3;
        h2.key = "";
        r.object_id.data = fuzz_id;
        r.object_id.len = 16;
        r.replica = 2;
        r.method = "Say";
        r.payload.data = p.d;
        r.payload.len = p.n;
        r.client_id.data = fuzz_id;
        r.client_id.len = 16;
        r.seq = 42;
        r.epoch = 7;
        r.fingerprint = fp;
        r.n_dm_headers = 2;
        r.dm_headers = hs;
        e.n = 0;
        b_msg(&e, &r.base);
        write_b(T, "ok-say-all-fields", &e);
    }

    Echo__AddRequest add = ECHO__ADD_REQUEST__INIT;
    int64_t deltas[] = {5, -1, INT64_MIN, INT64_MAX};
    const char *dn[] = {"ok-add-5", "ok-add-minus-1", "ok-add-int64-min", "ok-add-int64-max"};
    for (int i = 0; i < 4; i++) {
        add.delta = deltas[i];
        p.n = 0;
        b_msg(&p, &add.base);
        envelope(&e, fuzz_id, 16, "Add", &p, fp);
        write_b(T, dn[i], &e);
    }
    /* An 11-byte varint: over-long, protobuf-c must refuse it. */
    p.n = 0;
    b_raw(&p, "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12);
    envelope(&e, fuzz_id, 16, "Add", &p, 0);
    write_b(T, "bad-add-overlong-varint", &e);

    Echo__SleepRequest sl = ECHO__SLEEP_REQUEST__INIT;
    sl.ms = 10;
    p.n = 0;
    b_msg(&p, &sl.base);
    envelope(&e, fuzz_id, 16, "Sleep", &p, fp);
    write_b(T, "ok-sleep-10", &e);
    sl.ms = 60001;
    p.n = 0;
    b_msg(&p, &sl.base);
    envelope(&e, fuzz_id, 16, "Sleep", &p, fp);
    write_b(T, "bad-sleep-too-long", &e);

    envelope(&e, fuzz_id, 16, "Nope", NULL, 0);
    write_b(T, "bad-unknown-method", &e);
    envelope(&e, fuzz_id, 16, "", NULL, 0);
    write_b(T, "bad-empty-method", &e);
    envelope(&e, fuzz_id, 16, "Sa", NULL, 0);
    write_b(T, "bad-method-prefix", &e);
    envelope(&e, (const uint8_t *)"another-object-1", 16, "Say", NULL, 0);
    write_b(T, "bad-unknown-object", &e);
    envelope(&e, fuzz_id, 15, "Say", NULL, 0);
    write_b(T, "bad-id-15-bytes", &e);
    envelope(&e, NULL, 0, "Say", NULL, 0);
    write_b(T, "bad-no-id", &e);
    p.n = 0;
    b_raw(&p, "\xff\xff\xff", 3);
    envelope(&e, fuzz_id, 16, "Say", &p, 0);
    write_b(T, "bad-payload-garbage", &e);
    /* Say's text must be UTF-8? protobuf-c does not check; a NUL inside. */
    p.n = 0;
    b_field(&p, 1, "a\0b", 3);
    envelope(&e, fuzz_id, 16, "Say", &p, 0);
    write_b(T, "ok-say-text-with-nul", &e);

    write_file(T, "bad-empty", "", 0);
    envelope(&e, fuzz_id, 16, "Say", NULL, 0);
    e.n -= 2;
    write_b(T, "bad-truncated", &e);
    write_file(T, "bad-garbage", "\x07\xff\x00\x13\x37", 5);

    /* ---- protobuf-c parser regressions ----
     * CVE-2022-48468 (protobuf-c < 1.4.1, #499/#513): parse_required_member
     * computed `len - pref_len` for a sub-message with unsigned arithmetic;
     * the fix and the length-prefix bound (> INT_MAX refused) arrived with
     * it, and a follow-up (sudo's patch) restored zero-length sub-messages.
     * Inputs: dm_headers (field 9, a message) and payload (field 4, bytes)
     * with length prefixes at and around the limits, zero-length and
     * inconsistent nested lengths. */
    {
        static const struct {
            const char *name;
            const uint8_t *len;
            size_t n;
        } lens[] = {
            {"int-max", (const uint8_t *)"\xff\xff\xff\xff\x07", 5},
            {"int-max-plus-1", (const uint8_t *)"\x80\x80\x80\x80\x08", 5},
            {"u32-max", (const uint8_t *)"\xff\xff\xff\xff\x0f", 5},
            {"5-byte-max", (const uint8_t *)"\xff\xff\xff\xff\x7f", 5},
            {"6-byte", (const uint8_t *)"\xff\xff\xff\xff\xff\x01", 6},
            {"one-past-end", (const uint8_t *)"\x05", 1},
        };
        for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
            char name[96];
            for (int f = 0; f < 2; f++) {
                envelope(&e, fuzz_id, 16, "Say", NULL, 0);
                b_varint(&e, f == 0 ? (9 << 3 | 2) : (4 << 3 | 2));
                b_raw(&e, lens[i].len, lens[i].n);
                b_raw(&e, "\x0a\x01x\x12", 4);
                snprintf(name, sizeof(name), "cve-2022-48468-%s-len-%s",
                         f == 0 ? "dm-header" : "payload", lens[i].name);
                write_b(T, name, &e);
            }
        }
        envelope(&e, fuzz_id, 16, "Say", NULL, 0);
        b_raw(&e, "\x4a\x00", 2); /* zero-length DmHeader: valid */
        write_b(T, "cve-2022-48468-dm-header-zero-length", &e);
        envelope(&e, fuzz_id, 16, "Say", NULL, 0);
        b_raw(&e, "\x4a\x03\x0a\x7fx", 5); /* inner string longer than the header */
        write_b(T, "cve-2022-48468-dm-header-inner-overrun", &e);
        envelope(&e, fuzz_id, 16, "Say", NULL, 0);
        b_raw(&e, "\x4a\x02\x0a\x00\x4a\x00\x4a\x02\x12\x00", 10);
        write_b(T, "cve-2022-48468-dm-headers-minimal", &e);
    }
    /* CVE-2022-33070 (protobuf-c 1.4.0, #506/#508): parse_tag_and_wiretype
     * shifted signed values (UB, caught by UBSan); fixed in 1.4.1 by
     * shifting unsigned. Inputs: field tags of 5 bytes whose last byte has
     * high bits (field numbers near and past 2^29), an unterminated 6-byte
     * tag, in the envelope and in the payload; and zigzag/negative-int
     * extremes (the same fix changed int32_pack / unzigzag). */
    {
        static const struct {
            const char *name;
            const uint8_t *tag;
            size_t n;
        } tags[] = {
            {"tag-5-byte-0x7f", (const uint8_t *)"\xfa\xff\xff\xff\x7f", 5},
            {"tag-5-byte-0x41", (const uint8_t *)"\xfa\xff\xff\xff\x41", 5},
            {"tag-5-byte-max-field", (const uint8_t *)"\xfa\xff\xff\xff\x0f", 5},
            {"tag-6-byte", (const uint8_t *)"\xfa\xff\xff\xff\xff\x01", 6},
            {"tag-field-0", (const uint8_t *)"\x02", 1},
        };
        for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
            char name[96];
            envelope(&e, fuzz_id, 16, "Say", NULL, 0);
            b_raw(&e, tags[i].tag, tags[i].n);
            b_raw(&e, "\x01z", 2);
            snprintf(name, sizeof(name), "cve-2022-33070-envelope-%s", tags[i].name);
            write_b(T, name, &e);
            p.n = 0;
            b_field(&p, 1, "hi", 2);
            b_raw(&p, tags[i].tag, tags[i].n);
            b_raw(&p, "\x01z", 2);
            envelope(&e, fuzz_id, 16, "Say", &p, 0);
            snprintf(name, sizeof(name), "cve-2022-33070-payload-%s", tags[i].name);
            write_b(T, name, &e);
        }
        /* replica (uint32) given as a 10-byte negative varint. */
        envelope(&e, fuzz_id, 16, "Say", NULL, 0);
        b_raw(&e, "\x10\x80\x80\x80\x80\xf8\xff\xff\xff\xff\x01", 11);
        write_b(T, "cve-2022-33070-uint32-negative-varint", &e);
    }
}

/* ---------------- oms ---------------- */

/* One record of the oms target: 2-byte little-endian length, bytes. */
static void rec(bytes_t *b, const bytes_t *m)
{
    uint8_t h[2] = {(uint8_t)(m->n & 0xff), (uint8_t)(m->n >> 8)};
    b_raw(b, h, 2);
    b_raw(b, m->d, m->n);
}

static void rec_msg(bytes_t *b, const ProtobufCMessage *m)
{
    bytes_t t = {.n = 0};
    b_msg(&t, m);
    rec(b, &t);
}

static void node(Cor__RegisterRequest *r, Cor__NodeInfo *n, const char *name, const char *addr)
{
    static Cor__ClassInfo c = COR__CLASS_INFO__INIT, c2 = COR__CLASS_INFO__INIT;
    static Cor__ClassInfo *cs[2] = {&c, &c2};
    static Cor__NodeInfo__LabelsEntry l = COR__NODE_INFO__LABELS_ENTRY__INIT;
    static Cor__NodeInfo__LabelsEntry *ls[1] = {&l};
    c.name = "echo.Echo";
    c.fingerprint = 0xaf3c9a5137ab373d;
    c2.name = "kv.KeyValueStore";
    l.key = "zone";
    l.value = "a";
    cor__register_request__init(r);
    cor__node_info__init(n);
    n->name = (char *)name;
    n->tcp_address = (char *)addr;
    n->unix_path = "/tmp/cor-k1.sock";
    n->host_id = "host-1";
    n->n_classes = 2;
    n->classes = cs;
    n->n_labels = 1;
    n->labels = ls;
    n->capacity = 4;
    r->node = n;
}

static void oms_seeds(void)
{
    const char *T = "oms";
    bytes_t b;
    Cor__RegisterRequest rr;
    Cor__NodeInfo ni;
    Cor__HeartbeatRequest hb = COR__HEARTBEAT_REQUEST__INIT;
    Cor__NodeLoad load = COR__NODE_LOAD__INIT;
    Cor__CreateObjectRequest cr = COR__CREATE_OBJECT_REQUEST__INIT;
    Cor__LookupRequest lk = COR__LOOKUP_REQUEST__INIT;
    Cor__ListObjectsRequest ls = COR__LIST_OBJECTS_REQUEST__INIT;
    Cor__DeleteObjectRequest del = COR__DELETE_OBJECT_REQUEST__INIT;
    uint8_t id11[16], id22[16], id33[16], idff[16];
    memset(id11, 0x11, 16);
    memset(id22, 0x22, 16);
    memset(id33, 0x33, 16);
    memset(idff, 0xff, 16);

    /* A node's life: register, heartbeat, place, look up, list. */
    b.n = 0;
    node(&rr, &ni, "k1", "127.0.0.1:7000");
    rec_msg(&b, &rr.base);
    hb.name = "k1";
    hb.incarnation = 1;
    load.objects = 3;
    load.cpu = 0.5;
    hb.load = &load;
    rec_msg(&b, &hb.base);
    cr.class_name = "echo.Echo";
    cr.name = "made-by-fuzz";
    cr.selector = "zone=a";
    rec_msg(&b, &cr.base);
    lk.name = "greeter";
    rec_msg(&b, &lk.base);
    ls.limit = 2;
    rec_msg(&b, &ls.base);
    write_b(T, "ok-node-life", &b);

    /* Re-registering a seeded node: its replicas become LOST. */
    b.n = 0;
    node(&rr, &ni, "seed-a", "10.0.0.1:7000");
    rec_msg(&b, &rr.base);
    rec_msg(&b, &rr.base);
    lk.name = "";
    lk.id.data = id11;
    lk.id.len = 16;
    rec_msg(&b, &lk.base);
    write_b(T, "ok-reregister-seed", &b);

    /* Heartbeats: the right incarnation of a seeded node, a wrong one. */
    b.n = 0;
    cor__heartbeat_request__init(&hb);
    hb.name = "seed-a";
    hb.incarnation = 1;
    rec_msg(&b, &hb.base);
    hb.incarnation = 9;
    rec_msg(&b, &hb.base);
    hb.name = "nobody";
    rec_msg(&b, &hb.base);
    cr.class_name = "echo.Echo";
    cr.name = "";
    cr.selector = "";
    hb.name = "seed-a";
    hb.incarnation = 1;
    rec_msg(&b, &hb.base);
    rec_msg(&b, &cr.base); /* placed on seed-a: its kernel refuses */
    write_b(T, "ok-heartbeat-then-create", &b);

    /* Bad registrations. */
    static const struct {
        const char *file, *name, *addr;
    } bad[] = {
        {"bad-register-empty-name", "", "127.0.0.1:1"},
        {"bad-register-name-chars", "k 1/x", "127.0.0.1:1"},
        {"bad-register-no-port", "k2", "127.0.0.1"},
        {"bad-register-port-0", "k2", "127.0.0.1:0"},
        {"bad-register-port-big", "k2", "127.0.0.1:65536"},
        {"bad-register-colon-first", "k2", ":80"},
        {"bad-register-long-name", "k0123456789012345678901234567890123456789012345678901234567890123",
         "127.0.0.1:1"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        b.n = 0;
        node(&rr, &ni, bad[i].name, bad[i].addr);
        rec_msg(&b, &rr.base);
        write_b(T, bad[i].file, &b);
    }
    {
        b.n = 0;
        node(&rr, &ni, "k3", "127.0.0.1:1");
        Cor__NodeInfo__LabelsEntry bl = COR__NODE_INFO__LABELS_ENTRY__INIT, *blp = &bl;
        bl.key = "zone";
        bl.value = "a b";
        ni.n_labels = 1;
        ni.labels = &blp;
        rec_msg(&b, &rr.base);
        write_b(T, "bad-register-label-space", &b);
        b.n = 0;
        Cor__NodeInfo__LabelsEntry many[33], *mp[33];
        char keys[33][8];
        for (int i = 0; i < 33; i++) {
            cor__node_info__labels_entry__init(&many[i]);
            snprintf(keys[i], sizeof(keys[i]), "k%d", i);
            many[i].key = keys[i];
            many[i].value = "v";
            mp[i] = &many[i];
        }
        ni.n_labels = 33;
        ni.labels = mp;
        rec_msg(&b, &rr.base);
        write_b(T, "bad-register-33-labels", &b);
        b.n = 0;
        node(&rr, &ni, "k4", "127.0.0.1:1");
        char longpath[120];
        memset(longpath, 'p', sizeof(longpath) - 1);
        longpath[sizeof(longpath) - 1] = '\0';
        ni.unix_path = longpath;
        rec_msg(&b, &rr.base);
        write_b(T, "bad-register-long-unix-path", &b);
    }

    /* Lookups and deletes of the seeded objects. */
    b.n = 0;
    cor__lookup_request__init(&lk);
    lk.id.data = id22;
    lk.id.len = 16;
    rec_msg(&b, &lk.base);
    lk.id.len = 15;
    rec_msg(&b, &lk.base);
    lk.id.data = idff;
    lk.id.len = 16;
    rec_msg(&b, &lk.base);
    lk.id.len = 0;
    lk.name = "orphan";
    rec_msg(&b, &lk.base);
    lk.name = "";
    rec_msg(&b, &lk.base);
    write_b(T, "ok-lookups", &b);

    b.n = 0;
    del.id.data = id22;
    del.id.len = 16;
    rec_msg(&b, &del.base);
    rec_msg(&b, &del.base);
    del.id.len = 0;
    del.name = "orphan";
    rec_msg(&b, &del.base);
    del.name = "greeter"; /* active on seed-a: the kernel call fails, fine */
    rec_msg(&b, &del.base);
    write_b(T, "ok-deletes", &b);

    /* Listing: paging, filters, limits. */
    b.n = 0;
    ls.limit = 1;
    rec_msg(&b, &ls.base);
    ls.start_after.data = id11;
    ls.start_after.len = 16;
    rec_msg(&b, &ls.base);
    ls.start_after.len = 3;
    rec_msg(&b, &ls.base);
    ls.start_after.len = 0;
    ls.limit = 0;
    ls.class_name = "echo.Echo";
    rec_msg(&b, &ls.base);
    ls.class_name = "";
    ls.node = "seed-a";
    rec_msg(&b, &ls.base);
    ls.node = "";
    ls.limit = 10001;
    rec_msg(&b, &ls.base);
    write_b(T, "ok-lists", &b);

    /* Creates that fail validation or placement. */
    static const struct {
        const char *file, *cls, *name, *sel;
    } bc[] = {
        {"bad-create-no-class", "", "", ""},
        {"bad-create-class-chars", "echo Echo", "", ""},
        {"bad-create-name-taken", "echo.Echo", "greeter", ""},
        {"bad-create-selector", "echo.Echo", "", "zone==a"},
        {"bad-create-selector-17-terms", "echo.Echo", "", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q"},
        {"bad-create-unhosted-class", "social.User", "", ""},
        {"bad-create-no-match", "echo.Echo", "n1", "zone=b"},
        {"bad-create-seed-unknown", "echo.Echo", "n2", "zone=a,gpu!=yes"},
    };
    for (size_t i = 0; i < sizeof(bc) / sizeof(bc[0]); i++) {
        b.n = 0;
        cor__create_object_request__init(&cr);
        cr.class_name = (char *)bc[i].cls;
        cr.name = (char *)bc[i].name;
        cr.selector = (char *)bc[i].sel;
        cr.args.data = (uint8_t *)"\x08\x05";
        cr.args.len = 2;
        rec_msg(&b, &cr.base);
        write_b(T, bc[i].file, &b);
    }
    {
        b.n = 0;
        cor__create_object_request__init(&cr);
        cr.class_name = "echo.Echo";
        static char chain[1100];
        memset(chain, 'd', sizeof(chain) - 1);
        cr.dm_chain = chain;
        rec_msg(&b, &cr.base);
        write_b(T, "bad-create-long-dm-chain", &b);
    }

    /* Malformed records and the protobuf-c regressions (see invoke). */
    write_file(T, "bad-empty", "", 0);
    write_file(T, "bad-one-byte", "\x05", 1);
    write_file(T, "bad-record-longer-than-input", "\xff\xff\x0a\x02k1", 6);
    b.n = 0;
    bytes_t m = {.n = 0};
    b_raw(&m, "\x0a\xff\xff\xff\xff\x07\x0a\x02k1", 10);
    rec(&b, &m);
    write_b(T, "cve-2022-48468-node-len-int-max", &b);
    b.n = 0;
    m.n = 0;
    b_raw(&m, "\x0a\x00", 2);
    rec(&b, &m);
    write_b(T, "cve-2022-48468-node-zero-length", &b);
    b.n = 0;
    m.n = 0;
    b_raw(&m, "\x0a\x04\x42\x02\x0a\x7f", 6);
    rec(&b, &m);
    write_b(T, "cve-2022-48468-class-inner-overrun", &b);
    b.n = 0;
    m.n = 0;
    b_raw(&m, "\x0a\x02k1\xfa\xff\xff\xff\x7f\x01z", 11);
    rec(&b, &m);
    write_b(T, "cve-2022-33070-tag-5-byte", &b);
}

/* ---------------- labels ---------------- */

static void labels_seeds(void)
{
    static const struct {
        const char *file, *text;
    } s[] = {
        {"label-ok", "zone=eu-west-1a"},
        {"label-empty-value", "gpu="},
        {"label-empty-key", "=v"},
        {"label-no-eq", "zone"},
        {"label-two-eq", "a=b=c"},
        {"label-slash", "example.com/tier=gold_1"},
        {"label-space", "zone = a"},
        {"label-utf8", "zone=\xc3\xa9t\xc3\xa9"},
        {"sel-one", "zone=a"},
        {"sel-three", "zone=a, region!=eu ,gpu"},
        {"sel-ne-empty", "gpu!="},
        {"sel-empty-term", "a,,b"},
        {"sel-trailing-comma", "a=1,"},
        {"sel-only-comma", ","},
        {"sel-spaces", "   "},
        {"sel-ne-eq", "a!=b=c"},
        {"sel-eq-ne", "a=b!=c"},
        {"sel-16-terms", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p"},
        {"sel-17-terms", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q"},
        {"sel-bang", "!a"},
        {"empty", ""},
    };
    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
        write_file("labels", s[i].file, s[i].text, strlen(s[i].text));
    char t[400];
    memset(t, 'k', 63);
    strcpy(t + 63, "=v");
    write_file("labels", "key-63", t, strlen(t));
    memset(t, 'k', 64);
    strcpy(t + 64, "=v");
    write_file("labels", "key-64", t, strlen(t));
    strcpy(t, "k=");
    memset(t + 2, 'v', 128);
    t[130] = '\0';
    write_file("labels", "value-128", t, strlen(t));
    memset(t, 'x', 200);
    t[200] = '\0';
    write_file("labels", "term-200", t, strlen(t));
    write_file("labels", "nul-inside", "a=b\0c", 5);
}

/* ---------------- json_pb ---------------- */

static void json_seeds(void)
{
    /* First byte: 0 SayRequest, 1 AddRequest, 2 NodeInfo, 3 InvokeRequest,
     * 4 cortest.AllTypes, 5 cortest2.P2 (see fuzz_json_pb.c). */
    static const struct {
        const char *file;
        char type;
        const char *json;
    } s[] = {
        {"say-ok", 0, "{\"text\": \"hello\", \"blob\": \"aGVsbG8=\"}"},
        {"say-urlsafe-b64", 0, "{\"blob\": \"-_-_\"}"},
        {"say-bad-b64", 0, "{\"blob\": \"a$==\"}"},
        {"say-unicode", 0, "{\"text\": \"\\u00e9\\ud83d\\ude00\"}"},
        {"say-nul-escape", 0, "{\"text\": \"a\\u0000b\"}"},
        {"say-null", 0, "{\"text\": null}"},
        {"say-unknown-field", 0, "{\"txt\": \"x\"}"},
        {"say-not-object", 0, "[1,2]"},
        {"say-trailing", 0, "{} {}"},
        {"say-truncated", 0, "{\"text\": \"abc"},
        {"add-ok", 1, "{\"delta\": 5}"},
        {"add-string", 1, "{\"delta\": \"-9223372036854775808\"}"},
        {"add-overflow", 1, "{\"delta\": \"9223372036854775808\"}"},
        {"add-float", 1, "{\"delta\": 1.5}"},
        {"add-exp", 1, "{\"delta\": 5e0}"},
        {"add-huge-exp", 1, "{\"delta\": 1e400}"},
        {"add-bool", 1, "{\"delta\": true}"},
        {"node-ok", 2,
         "{\"name\":\"k1\",\"incarnation\":\"3\",\"tcpAddress\":\"127.0.0.1:7000\","
         "\"labels\":{\"zone\":\"a\",\"gpu\":\"\"},\"capacity\":4,"
         "\"classes\":[{\"name\":\"echo.Echo\",\"fingerprint\":\"12622812212460779325\"}],"
         "\"state\":\"NODE_ALIVE\",\"load\":{\"cpu\":1.25,\"rssBytes\":\"1048576\"}}"},
        {"node-enum-number", 2, "{\"state\": 2}"},
        {"node-enum-unknown", 2, "{\"state\": \"NODE_GONE\"}"},
        {"node-cpu-nan", 2, "{\"load\": {\"cpu\": \"NaN\"}}"},
        {"node-cpu-inf", 2, "{\"load\": {\"cpu\": \"-Infinity\"}}"},
        {"node-map-null", 2, "{\"labels\": {\"a\": null}}"},
        {"invoke-ok", 3,
         "{\"objectId\":\"ZnV6ei1vYmplY3QtMDAwMQ==\",\"method\":\"Say\",\"fingerprint\":"
         "\"12622812212460779325\",\"dmHeaders\":[{\"key\":\"t\",\"value\":\"AA==\"}]}"},
        {"invoke-array-null", 3, "{\"dmHeaders\": [null]}"},
        {"alltypes-ok", 4,
         "{\"fInt32\":-5,\"fInt64\":\"-5\",\"fUint32\":4294967295,\"fUint64\":"
         "\"18446744073709551615\",\"fSint32\":-2147483648,\"fSint64\":\"-9223372036854775808\","
         "\"fFixed32\":1,\"fFixed64\":\"2\",\"fSfixed32\":-3,\"fSfixed64\":\"-4\",\"fFloat\":1.5,"
         "\"fDouble\":-0.0,\"fBool\":true,\"fString\":\"s\",\"fBytes\":\"AQI=\",\"fEnum\":"
         "\"NEGATIVE\",\"fNested\":{\"key\":\"k\",\"n\":1,\"child\":{\"n\":2}},"
         "\"rInt32\":[1,-1],\"rSint32\":[-2147483648,2147483647],\"rDouble\":[\"Infinity\",0.1],"
         "\"rBool\":[true,false],\"rString\":[\"a\",\"\"],\"rEnum\":[\"RED\",2],"
         "\"entries\":[{\"key\":\"e\"}],\"rFloat\":[3.4e38],"
         "\"mStrInt\":{\"a\":1},\"mIntStr\":{\"-1\":\"x\"},\"mBoolMsg\":{\"true\":{\"n\":1}},"
         "\"mU32Enum\":{\"7\":\"GREEN\"},\"oText\":\"one\",\"pInt32\":0}"},
        {"alltypes-proto-names", 4, "{\"f_int32\": 1, \"start_after\": 2}"},
        {"alltypes-sint-extremes", 4,
         "{\"fSint32\":2147483647,\"fSint64\":\"9223372036854775807\",\"rSint32\":[-1,1,0]}"},
        {"alltypes-int32-range", 4, "{\"fInt32\": 2147483648}"},
        {"alltypes-float-range", 4, "{\"fFloat\": 3.5e38}"},
        {"alltypes-oneof-two", 4, "{\"oText\": \"a\", \"oNumber\": 1}"},
        {"alltypes-map-bool-bad", 4, "{\"mBoolMsg\": {\"yes\": {}}}"},
        {"alltypes-map-int-dup", 4, "{\"mIntStr\": {\"1\": \"a\", \"01\": \"b\"}}"},
        {"alltypes-enum-unnamed", 4, "{\"fEnum\": 77}"},
        {"p2-ok", 5, "{\"req\": 1, \"opt\": 0, \"odef\": \"7\"}"},
        {"p2-missing-required", 5, "{\"opt\": 1}"},
    };
    char buf[2048];
    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
        size_t n = strlen(s[i].json);
        buf[0] = s[i].type;
        memcpy(buf + 1, s[i].json, n);
        write_file("json_pb", s[i].file, buf, n + 1);
    }
    /* 70 levels of nesting: over COR_JSON_MAX_DEPTH. */
    size_t n = 0;
    buf[n++] = 4;
    for (int i = 0; i < 70; i++)
        n += (size_t)sprintf(buf + n, "{\"fNested\":");
    n += (size_t)sprintf(buf + n, "{}");
    for (int i = 0; i < 70; i++)
        buf[n++] = '}';
    write_file("json_pb", "alltypes-deep", buf, n);
    /* 60 levels of Nested.child: within the limit. */
    n = 0;
    buf[n++] = 4;
    n += (size_t)sprintf(buf + n, "{\"fNested\":");
    for (int i = 0; i < 60; i++)
        n += (size_t)sprintf(buf + n, "{\"child\":");
    n += (size_t)sprintf(buf + n, "{}");
    for (int i = 0; i < 61; i++)
        buf[n++] = '}';
    write_file("json_pb", "alltypes-nested-60", buf, n);
    write_file("json_pb", "invalid-utf8", "\x00{\"text\":\"\xff\xfe\"}", 14);
}

/* ---------------- stubs: shrinking a captured request ---------------- */

/* Reads one varint at *p (< end); returns 0 on success. */
static int rd_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; *p < end && shift < 64; shift += 7) {
        uint8_t c = *(*p)++;
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return 0;
    }
    return -1;
}

/* Copies a FileDescriptorProto without source_code_info (field 9); sets
 * *is_descriptor when it is google/protobuf/descriptor.proto. */
static int strip_file(const uint8_t *p, const uint8_t *end, bytes_t *out, int *is_descriptor)
{
    static const char dname[] = "google/protobuf/descriptor.proto";
    *is_descriptor = 0;
    while (p < end) {
        const uint8_t *start = p;
        uint64_t key, len;
        if (rd_varint(&p, end, &key) != 0 || (key & 7) != 2 || rd_varint(&p, end, &len) != 0 ||
            len > (uint64_t)(end - p)) {
            /* Not a length-delimited field: copy the rest as is. */
            b_raw(out, start, (size_t)(end - start));
            return 0;
        }
        if (key >> 3 == 1 && len == sizeof(dname) - 1 && memcmp(p, dname, len) == 0)
            *is_descriptor = 1;
        if (key >> 3 != 9)
            b_raw(out, start, (size_t)(p + len - start));
        p += len;
    }
    return 0;
}

/* CodeGeneratorRequest IN -> OUT without descriptor.proto among the
 * proto_file entries (field 15) and without source code info: the plugin
 * needs neither, and the seed shrinks from ~50 KB to ~1 KB. */
static int strip_request(const char *in, const char *out)
{
    static uint8_t buf[1 << 20];
    FILE *f = fopen(in, "rb");
    if (f == NULL) {
        perror(in);
        return 1;
    }
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    static bytes_t o;
    o.n = 0;
    const uint8_t *p = buf, *end = buf + n;
    while (p < end) {
        const uint8_t *start = p;
        uint64_t key, len;
        if (rd_varint(&p, end, &key) != 0)
            return 1;
        if ((key & 7) != 2) {
            /* compiler_version and friends are messages; anything else is
             * copied through to the end. */
            b_raw(&o, start, (size_t)(end - start));
            break;
        }
        if (rd_varint(&p, end, &len) != 0 || len > (uint64_t)(end - p))
            return 1;
        if (key >> 3 == 15) {
            bytes_t fd = {.n = 0};
            int is_descriptor;
            strip_file(p, p + len, &fd, &is_descriptor);
            if (!is_descriptor)
                b_field(&o, 15, fd.d, fd.n);
        } else {
            b_raw(&o, start, (size_t)(p + len - start));
        }
        p += len;
    }
    f = fopen(out, "wb");
    if (f == NULL || fwrite(o.d, 1, o.n, f) != o.n || fclose(f) != 0) {
        perror(out);
        return 1;
    }
    return 0;
}

/* ---------------- module ---------------- */

/* The byte format is fuzz_module.c's (its file comment). */
enum {
    M_NULL = 0xff,         /* string: NULL */
    M_UNTERMINATED = 0xfe, /* string: bound + 1 bytes, no NUL */
    M_OVER = 0xfd,         /* string: bound + 1 bytes, terminated */
    M_AT_BOUND = 0xfc,     /* string: exactly the bound */
};

static void m_byte(bytes_t *b, uint8_t x)
{
    b_raw(b, &x, 1);
}

static void m_str(bytes_t *b, const char *s)
{
    if (s == NULL) {
        m_byte(b, M_NULL);
        return;
    }
    size_t n = strlen(s);
    if (n >= 0xf0)
        exit(1);
    m_byte(b, (uint8_t)n);
    b_raw(b, s, n);
}

/* abi 0: the current one. */
static void m_module(bytes_t *b, uint8_t abi, const char *name, const char *version,
                     uint8_t count)
{
    m_byte(b, abi);
    m_str(b, name);
    m_str(b, version);
    m_byte(b, count);
}

/* version 0: the current one; hooks as in fuzz_module.c (0: ops, create,
 * destroy, no state hooks, a service follows). */
static void m_class(bytes_t *b, uint8_t version, const char *name, uint8_t flags, uint8_t hooks)
{
    m_byte(b, version);
    m_str(b, name);
    m_byte(b, flags);
    m_byte(b, hooks);
}

static void m_service(bytes_t *b, uint8_t version, const char *name, const char *chain,
                      uint8_t mcount)
{
    m_byte(b, version);
    m_str(b, name);
    m_str(b, "app/app.proto");
    m_str(b, chain);
    m_byte(b, 7); /* fingerprint seed */
    m_byte(b, mcount);
}

static void m_method(bytes_t *b, uint8_t f, uint8_t hints, const char *name, const char *shard)
{
    m_byte(b, f);
    m_byte(b, hints);
    m_str(b, name);
    m_str(b, shard);
}

/* A valid class named name, its service svc with chain and Say/Add
 * (hooks: see m_class). */
static void m_good_class(bytes_t *b, const char *name, const char *svc, uint8_t flags,
                         uint8_t hooks, const char *chain)
{
    m_class(b, 0, name, flags, hooks);
    m_service(b, 0, svc, chain, 2);
    m_method(b, 0x00, 1 /* READ_ONLY */, "Say", NULL);
    m_method(b, 0x3c /* Add's descriptors */, 2 | 4 /* MUTATING|IDEMPOTENT */, "Add", "a");
}

/* One module whose single class has a service with one method described by
 * f, hints, name, shard. */
static void m_one_method(const char *file, uint8_t f, uint8_t hints, const char *name,
                         const char *shard)
{
    bytes_t b = {.n = 0};
    m_module(&b, 0, "app", "1.0", 1);
    m_class(&b, 0, "app.Svc", 0, 0);
    m_service(&b, 0, "app.Svc", "", 1);
    m_method(&b, f, hints, name, shard);
    write_b("module", file, &b);
}

/* One module with one class: version, name, flags, hooks; then (unless
 * hooks has bit 7) a service with version, name and chain and Say. */
static void m_one_class(const char *file, uint8_t version, const char *name, uint8_t flags,
                        uint8_t hooks, uint8_t svc_version, const char *svc_name,
                        const char *chain)
{
    bytes_t b = {.n = 0};
    m_module(&b, 0, "app", "1.0", 1);
    m_class(&b, version, name, flags, hooks);
    if ((hooks & 0x80) == 0) {
        m_service(&b, svc_version, svc_name, chain, 1);
        m_method(&b, 0, 0, "Say", NULL);
    }
    write_b("module", file, &b);
}

static void module_seeds(void)
{
    bytes_t b = {.n = 0};

    /* ---- accepted ---- */
    m_module(&b, 0, "echo", "0.1", 1);
    m_good_class(&b, "echo.Echo", "echo.Echo", 0, 0, "");
    write_b("module", "ok-one-class", &b);

    b.n = 0;
    m_module(&b, 0, "kv", "0.1 (built 2026-11-23)", 3);
    m_good_class(&b, "kv.KeyValueStore", "kv.KeyValueStore", 1 /* CONCURRENT */,
                 0x18 /* save/load */, "SerializableRPC");
    m_good_class(&b, "kv.Replicated", "kv.Replicated", 0, 0x78 /* save/load, dirty pair */,
                 "AtLeastOnceRPC(retries=2), SerializableRPC");
    m_good_class(&b, "kv/Checkpointed:v2", "kv.Checkpointed_v2", 0, 0x18,
                 "PeriodicCheckpoint(interval=5s)");
    write_b("module", "ok-three-classes-chains", &b);

    b.n = 0;
    m_module(&b, 0, "empty", "1", 1);
    m_class(&b, 0, "app.NoMethods", 0, 0);
    m_service(&b, 0, "app.NoMethods", NULL, 0);
    write_b("module", "ok-no-methods-null-chain", &b);

    b.n = 0;
    m_module(&b, 0, "many", "1", 0xf2); /* 1 + 63 fillers: 64 classes */
    m_good_class(&b, "app.First", "app.First", 0, 0, "");
    write_b("module", "ok-64-classes", &b);

    b.n = 0;
    m_byte(&b, 0);
    m_byte(&b, M_AT_BOUND); /* module name of 63 bytes */
    m_byte(&b, M_AT_BOUND); /* version of 63 bytes */
    m_byte(&b, 1);
    m_byte(&b, 0);
    m_byte(&b, M_AT_BOUND); /* class name of 255 bytes */
    m_byte(&b, 0);
    m_byte(&b, 0);
    m_byte(&b, 0);
    m_byte(&b, M_AT_BOUND); /* service name */
    m_byte(&b, M_AT_BOUND); /* proto_file */
    m_str(&b, "");
    m_byte(&b, 0);
    m_byte(&b, 1);
    m_byte(&b, 0);
    m_byte(&b, 0);
    m_byte(&b, M_AT_BOUND); /* method name */
    m_byte(&b, M_AT_BOUND); /* shard_key */
    write_b("module", "ok-strings-at-bound", &b);

    /* ---- the module record ---- */
    b.n = 0;
    m_module(&b, 2, "app", "1.0", 1);
    m_good_class(&b, "app.Svc", "app.Svc", 0, 0, "");
    write_b("module", "bad-abi-2", &b);

    b.n = 0;
    m_module(&b, 0, NULL, "1.0", 1);
    write_b("module", "bad-name-null", &b);

    b.n = 0;
    m_byte(&b, 0);
    m_byte(&b, M_UNTERMINATED);
    write_b("module", "bad-name-unterminated", &b);

    b.n = 0;
    m_module(&b, 0, "my app", "1.0", 1);
    write_b("module", "bad-name-space", &b);

    b.n = 0;
    m_byte(&b, 0);
    m_str(&b, "app");
    m_byte(&b, M_OVER);
    write_b("module", "bad-version-64-bytes", &b);

    b.n = 0;
    m_module(&b, 0, "app", "1.0\n", 1);
    write_b("module", "bad-version-newline", &b);

    b.n = 0;
    m_module(&b, 0, "app", "1.0", 0);
    write_b("module", "bad-no-classes", &b);

    b.n = 0;
    m_module(&b, 0, "app", "1.0", 0xff);
    write_b("module", "bad-classes-null", &b);

    b.n = 0;
    m_module(&b, 0, "app", "1.0", 0xf3); /* 65 */
    m_good_class(&b, "app.First", "app.First", 0, 0, "");
    write_b("module", "bad-65-classes", &b);

    b.n = 0;
    m_module(&b, 0, "app", "1.0", 2);
    m_good_class(&b, "app.Svc", "app.Svc", 0, 0, "");
    m_good_class(&b, "app.Svc", "app.Svc", 0, 0, "");
    write_b("module", "bad-duplicate-class-name", &b);

    b.n = 0;
    m_module(&b, 0, "app", "1.0", 2);
    m_good_class(&b, "app.Svc", "app.Svc", 0, 0, "");
    m_byte(&b, 0x80); /* the same class again */
    write_b("module", "bad-duplicate-class-pointer", &b);

    /* ---- a class ---- */
    m_one_class("bad-class-version-1", 1, "app.Svc", 0, 0, 0, "app.Svc", "");
    m_one_class("bad-class-name-empty", 0, "", 0, 0, 0, "app.Svc", "");
    m_one_class("bad-class-name-space", 0, "app Svc", 0, 0, 0, "app.Svc", "");
    m_one_class("bad-class-flags", 0, "app.Svc", 2, 0, 0, "app.Svc", "");
    m_one_class("bad-ops-null", 0, "app.Svc", 0, 0x01, 0, "app.Svc", "");
    m_one_class("bad-create-null", 0, "app.Svc", 0, 0x02, 0, "app.Svc", "");
    m_one_class("bad-save-without-load", 0, "app.Svc", 0, 0x08, 0, "app.Svc", "");
    m_one_class("bad-dirty-without-apply", 0, "app.Svc", 0, 0x38, 0, "app.Svc", "");
    m_one_class("bad-dirty-without-state", 0, "app.Svc", 0, 0x60, 0, "app.Svc", "");
    m_one_class("bad-service-null", 0, "app.Svc", 0, 0x80, 0, NULL, NULL);
    m_one_class("bad-service-version-2", 0, "app.Svc", 0, 0, 2, "app.Svc", "");
    m_one_class("bad-service-name-null", 0, "app.Svc", 0, 0, 0, NULL, "");
    m_one_class("bad-service-name-slash", 0, "app.Svc", 0, 0, 0, "app/Svc", "");
    m_one_class("bad-chain-syntax", 0, "app.Svc", 0, 0, 0, "app.Svc", "Foo(a=1");
    m_one_class("bad-chain-unknown-dm", 0, "app.Svc", 0, 0, 0, "app.Svc", "NoSuchDM");
    m_one_class("bad-chain-missing-param", 0, "app.Svc", 0, 0, 0, "app.Svc",
                "LoadBalancedFrontend");

    b.n = 0;
    m_module(&b, 0, "app", "1.0", 1);
    m_class(&b, 0, "app.Svc", 0, 0);
    m_byte(&b, 0);
    m_str(&b, "app.Svc");
    m_str(&b, "app/app.proto");
    m_byte(&b, M_UNTERMINATED); /* dm_chain: 1025 bytes, no NUL */
    write_b("module", "bad-chain-unterminated", &b);

    /* ---- the method table ---- */
    b.n = 0;
    m_module(&b, 0, "app", "1.0", 1);
    m_class(&b, 0, "app.Svc", 0, 0);
    m_service(&b, 0, "app.Svc", "", 0x7f);
    write_b("module", "bad-methods-over-bound", &b);

    b.n = 0;
    m_module(&b, 0, "app", "1.0", 1);
    m_class(&b, 0, "app.Svc", 0, 0);
    m_service(&b, 0, "app.Svc", "", 0x82);
    write_b("module", "bad-methods-table-null", &b);

    b.n = 0;
    m_module(&b, 0, "app", "1.0", 1);
    m_class(&b, 0, "app.Svc", 0, 0);
    m_service(&b, 0, "app.Svc", "", 2);
    m_method(&b, 0, 0, "Say", NULL);
    m_method(&b, 0, 0, "Say", NULL);
    write_b("module", "bad-method-duplicate-name", &b);

    m_one_method("bad-method-name-null", 0, 0, NULL, NULL);
    m_one_method("bad-method-name-dot", 0, 0, "app.Say", NULL);
    m_one_method("bad-method-service-elsewhere", 0x01, 0, "Say", NULL);
    m_one_method("bad-method-index", 0x02, 0, "Say", NULL);
    m_one_method("bad-method-input-null", 0x04, 0, "Say", NULL);
    m_one_method("bad-method-output-magic", 0x20, 0, "Say", NULL);
    m_one_method("bad-method-invoke-null", 0x40, 0, "Say", NULL);
    m_one_method("bad-method-hints-unknown", 0, 8, "Say", NULL);
    m_one_method("bad-method-hints-ro-and-mutating", 0, 3, "Say", NULL);
    m_one_method("bad-method-shard-key-empty", 0, 0, "Say", "");
    m_one_method("bad-method-shard-key-space", 0, 0, "Say", "a b");
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--strip-request") == 0)
        return strip_request(argv[2], argv[3]);
    if (argc != 2) {
        fprintf(stderr,
                "usage: %s CORPUS_DIR   (normally tests/fuzz/corpus)\n"
                "       %s --strip-request IN OUT   (see capture_stubs_corpus.sh)\n",
                argv[0], argv[0]);
        return 1;
    }
    out_root = argv[1];
    invoke_seeds();
    oms_seeds();
    labels_seeds();
    json_seeds();
    module_seeds();
    return 0;
}
