/*
 * fuzz_oms.c — the OMS's request handlers (oms/service.c, oms/dir*.c)
 * fed hostile requests, against a real directory on the embedded store.
 *
 * Input: a sequence of records, each a 2-byte little-endian length and that
 * many bytes (a short last record takes what is left). Every record is
 * unpacked, as the gRPC adapter does (protobuf-c into a per-call arena with
 * the same cap as service.c gives that method), as each request type in
 * turn — RegisterRequest, HeartbeatRequest, CreateObjectRequest,
 * LookupRequest, ListObjectsRequest, DeleteObjectRequest — and whenever it
 * parses, the matching oms_dir_* function runs. Records build on each
 * other: a register then a heartbeat then a lookup see one directory.
 *
 * Fixture per input: a fresh store.log in a scratch directory, seeded with
 * two nodes and three objects (so lookups, lists and deletes find
 * something, and the store's load path runs), opened with oms_dir_open;
 * closed, reopened and compared at the end; then removed. Nothing but the
 * process-wide gRPC client survives an input.
 *
 * No kernel call leaves the machine: a RegisterRequest whose tcp_address the
 * directory would accept has it replaced by 127.0.0.1:1, where nothing
 * listens (the call fails at once), and the seeded nodes live there too.
 * Addresses the directory would reject are passed through untouched, so its
 * validation is still exercised. Consequently no CreateObject can succeed.
 *
 * What holds for every input:
 *  - every refusal is a known COR_E* code with a message;
 *  - a registered node is listed, ALIVE, with the incarnation returned;
 *  - a lookup answers with the object asked for (same id or name);
 *  - a list page is sorted by id, above start_after, within its limit;
 *  - a deleted object is gone from lookups;
 *  - the directory reloaded from its store has the same nodes and objects
 *    (write-through persistence loses nothing).
 */
#include "fuzz.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include <cor/cor.h>
#include <cor/log.h>

#include "directory.h"
#include "rpc.h"

#define FUZZ_KERNEL_ADDR "127.0.0.1:1"

static char fuzz_dir[PATH_MAX];
static cor_client_t *fuzz_client;

static void fuzz_teardown(void)
{
    cor_client_free(fuzz_client);
    fuzz_client = NULL;
    rmdir(fuzz_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    cor_log_set_level(COR_LOG_ERROR);
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/cor-fuzz-oms-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    cor_error_t err;
    if (mkdtemp(fuzz_dir) == NULL) {
        perror("fuzz_oms: mkdtemp");
        abort();
    }
    if (cor_client_new(cor_method_paths, COR_M_COUNT, NULL, &fuzz_client, &err) != 0) {
        fprintf(stderr, "fuzz_oms: client: %s\n", err.msg);
        abort();
    }
    atexit(fuzz_teardown);
    return 0;
}

/* ---------------- fixture ---------------- */

static void remove_store(void)
{
    char p[PATH_MAX + 32];
    snprintf(p, sizeof(p), "%s/store.log", fuzz_dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/store.log.tmp", fuzz_dir);
    unlink(p);
}

static void put(cor_store_t *st, const char *key, const ProtobufCMessage *m)
{
    uint8_t buf[1024];
    size_t n = protobuf_c_message_get_packed_size(m);
    FUZZ_CHECK(n <= sizeof(buf));
    protobuf_c_message_pack(m, buf);
    cor_store_op_t op = {COR_STORE_PUT, key, buf, n};
    cor_error_t err;
    FUZZ_CHECK(st->ops->apply(st->impl, &op, 1, &err) == 0);
}

static void seed_node(cor_store_t *st, const char *name, uint64_t incarnation, const char *cls,
                      const char *zone, uint32_t capacity)
{
    Cor__NodeInfo n = COR__NODE_INFO__INIT;
    Cor__ClassInfo c = COR__CLASS_INFO__INIT, *cp = &c;
    Cor__NodeInfo__LabelsEntry l = COR__NODE_INFO__LABELS_ENTRY__INIT, *lp = &l;
    c.name = (char *)cls;
    c.fingerprint = 0x1234;
    l.key = (char *)"zone";
    l.value = (char *)zone;
    n.name = (char *)name;
    n.incarnation = incarnation;
    n.tcp_address = (char *)FUZZ_KERNEL_ADDR;
    n.host_id = (char *)"fuzz";
    n.capacity = capacity;
    n.n_classes = 1;
    n.classes = &cp;
    n.n_labels = 1;
    n.labels = &lp;
    n.state = COR__NODE_STATE__NODE_ALIVE;
    char key[80];
    snprintf(key, sizeof(key), "node/%s", name);
    put(st, key, &n.base);
}

static void seed_object(cor_store_t *st, uint8_t id0, const char *cls, const char *name,
                        const char *node, uint64_t incarnation, int state)
{
    uint8_t id[16];
    memset(id, id0, sizeof(id));
    Cor__ObjectInfo o = COR__OBJECT_INFO__INIT;
    Cor__Replica r = COR__REPLICA__INIT, *rp = &r;
    o.id.data = id;
    o.id.len = 16;
    o.class_name = (char *)cls;
    o.name = (char *)name;
    o.selector = (char *)"zone=a";
    o.epoch = 1;
    r.node = (char *)node;
    r.incarnation = incarnation;
    r.epoch = 1;
    r.state = state;
    o.n_replicas = 1;
    o.replicas = &rp;
    cor_object_id_t oid;
    memcpy(oid.b, id, 16);
    char s[COR_OBJECT_ID_STRLEN + 1], key[64];
    cor_object_id_format(&oid, s);
    snprintf(key, sizeof(key), "obj/%s", s);
    put(st, key, &o.base);
}

/* A directory over a fresh store holding two nodes and three objects. */
static oms_dir_t *open_dir(int seed)
{
    cor_store_t st;
    cor_error_t err;
    if (cor_store_open_embedded(fuzz_dir, 0, &st, &err) != 0) {
        fprintf(stderr, "fuzz_oms: store: %s\n", err.msg);
        abort();
    }
    if (seed) {
        seed_node(&st, "seed-a", 1, "echo.Echo", "a", 0);
        seed_node(&st, "seed-b", 3, "kv.KeyValueStore", "b", 1);
        /* Active on seed-a: deleting it asks 127.0.0.1:1, which refuses. */
        seed_object(&st, 0x11, "echo.Echo", "greeter", "seed-a", 1, COR__REPLICA_STATE__REPLICA_ACTIVE);
        /* Placed on an older incarnation of seed-b: loads as LOST. */
        seed_object(&st, 0x22, "kv.KeyValueStore", "", "seed-b", 2, COR__REPLICA_STATE__REPLICA_ACTIVE);
        /* On a node the store does not know: the replica is dropped. */
        seed_object(&st, 0x33, "echo.Echo", "orphan", "gone", 1, COR__REPLICA_STATE__REPLICA_ACTIVE);
    }
    oms_dir_opts_t opts = {.client = fuzz_client, .kernel_deadline_ms = 1000};
    oms_dir_t *d = NULL;
    if (oms_dir_open(st, &opts, &d, &err) != 0) {
        fprintf(stderr, "fuzz_oms: open: %s\n", err.msg);
        abort();
    }
    return d;
}

/* ---------------- checks ---------------- */

static void check_refused(int rc, const cor_error_t *err)
{
    FUZZ_CHECK(rc < 0 && cor_error_name(rc) != NULL);
    FUZZ_CHECK(err->code == rc);
    FUZZ_CHECK(err->msg[0] != '\0');
}

/* The directory's own check_address, so that addresses it accepts can be
 * pointed at FUZZ_KERNEL_ADDR and those it rejects still reach it. */
static int address_accepted(const char *a)
{
    const char *colon = strrchr(a, ':');
    if (colon == NULL || colon == a || colon[1] == '\0')
        return 0;
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    return *end == '\0' && port > 0 && port <= 65535;
}

static const Cor__NodeInfo *find_node(const Cor__ListNodesReply *l, const char *name)
{
    for (size_t i = 0; i < l->n_nodes; i++)
        if (strcmp(l->nodes[i]->name, name) == 0)
            return l->nodes[i];
    return NULL;
}

/* ---------------- one record as each request type ---------------- */

static void do_register(oms_dir_t *d, const uint8_t *p, size_t n)
{
    cor_arena_t a;
    cor_arena_init(&a, 1u << 20);
    Cor__RegisterRequest *req = cor__register_request__unpack(&a.pb, n, p);
    if (req != NULL) {
        if (req->node != NULL && address_accepted(req->node->tcp_address))
            req->node->tcp_address = (char *)FUZZ_KERNEL_ADDR;
        Cor__RegisterReply rep = COR__REGISTER_REPLY__INIT;
        cor_error_t err;
        cor_error_clear(&err);
        int rc = oms_dir_register(d, req, &a, &rep, &err);
        if (rc != 0) {
            check_refused(rc, &err);
        } else {
            FUZZ_CHECK(rep.incarnation >= 1);
            Cor__ListNodesReply l = COR__LIST_NODES_REPLY__INIT;
            FUZZ_CHECK(oms_dir_list_nodes(d, &a, &l, &err) == 0);
            const Cor__NodeInfo *ni = find_node(&l, req->node->name);
            FUZZ_CHECK(ni != NULL);
            FUZZ_CHECK(ni->incarnation == rep.incarnation);
            FUZZ_CHECK(ni->state == COR__NODE_STATE__NODE_ALIVE);
        }
    }
    cor_arena_close(&a);
}

static void do_heartbeat(oms_dir_t *d, const uint8_t *p, size_t n)
{
    cor_arena_t a;
    cor_arena_init(&a, 1u << 16);
    Cor__HeartbeatRequest *req = cor__heartbeat_request__unpack(&a.pb, n, p);
    if (req != NULL) {
        Cor__HeartbeatReply rep = COR__HEARTBEAT_REPLY__INIT;
        cor_error_t err;
        cor_error_clear(&err);
        int rc = oms_dir_heartbeat(d, req, &rep, &err);
        if (rc != 0)
            check_refused(rc, &err);
    }
    cor_arena_close(&a);
}

static void do_create(oms_dir_t *d, const uint8_t *p, size_t n)
{
    cor_arena_t a;
    cor_arena_init(&a, 64u << 20);
    Cor__CreateObjectRequest *req = cor__create_object_request__unpack(&a.pb, n, p);
    if (req != NULL) {
        Cor__CreateObjectReply rep = COR__CREATE_OBJECT_REPLY__INIT;
        cor_error_t err;
        cor_error_clear(&err);
        size_t nodes, alive, before, after;
        oms_dir_counts(d, &nodes, &alive, &before);
        int rc = oms_dir_create(d, req, &a, &rep, &err);
        /* Every kernel is at 127.0.0.1:1, where nothing listens. */
        FUZZ_CHECK(rc != 0);
        check_refused(rc, &err);
        oms_dir_counts(d, &nodes, &alive, &after);
        FUZZ_CHECK(after == before);
    }
    cor_arena_close(&a);
}

static void do_lookup(oms_dir_t *d, const uint8_t *p, size_t n)
{
    cor_arena_t a;
    cor_arena_init(&a, 1u << 20);
    Cor__LookupRequest *req = cor__lookup_request__unpack(&a.pb, n, p);
    if (req != NULL) {
        Cor__LookupReply rep = COR__LOOKUP_REPLY__INIT;
        cor_error_t err;
        cor_error_clear(&err);
        int rc = oms_dir_lookup(d, req, &a, &rep, &err);
        if (rc != 0) {
            check_refused(rc, &err);
        } else {
            FUZZ_CHECK(rep.object != NULL && rep.object->id.len == 16);
            if (req->id.len != 0)
                FUZZ_CHECK(memcmp(rep.object->id.data, req->id.data, 16) == 0);
            else
                FUZZ_CHECK(strcmp(rep.object->name, req->name) == 0);
        }
    }
    cor_arena_close(&a);
}

static void do_list(oms_dir_t *d, const uint8_t *p, size_t n)
{
    cor_arena_t a;
    cor_arena_init(&a, 64u << 20);
    Cor__ListObjectsRequest *req = cor__list_objects_request__unpack(&a.pb, n, p);
    if (req != NULL) {
        Cor__ListObjectsReply rep = COR__LIST_OBJECTS_REPLY__INIT;
        cor_error_t err;
        cor_error_clear(&err);
        int rc = oms_dir_list_objects(d, req, &a, &rep, &err);
        if (rc != 0) {
            check_refused(rc, &err);
        } else {
            size_t limit = req->limit ? req->limit : 1000;
            FUZZ_CHECK(rep.n_objects <= limit);
            for (size_t i = 0; i < rep.n_objects; i++) {
                FUZZ_CHECK(rep.objects[i]->id.len == 16);
                if (i > 0)
                    FUZZ_CHECK(memcmp(rep.objects[i - 1]->id.data, rep.objects[i]->id.data, 16) < 0);
                if (req->start_after.len == 16)
                    FUZZ_CHECK(memcmp(req->start_after.data, rep.objects[i]->id.data, 16) < 0);
                if (req->class_name[0] != '\0')
                    FUZZ_CHECK(strcmp(rep.objects[i]->class_name, req->class_name) == 0);
            }
        }
    }
    cor_arena_close(&a);
}

static void do_delete(oms_dir_t *d, const uint8_t *p, size_t n)
{
    cor_arena_t a;
    cor_arena_init(&a, 1u << 16);
    Cor__DeleteObjectRequest *req = cor__delete_object_request__unpack(&a.pb, n, p);
    if (req != NULL) {
        cor_error_t err;
        cor_error_clear(&err);
        int rc = oms_dir_delete(d, req, &err);
        if (rc != 0) {
            check_refused(rc, &err);
        } else {
            Cor__LookupRequest lr = COR__LOOKUP_REQUEST__INIT;
            Cor__LookupReply rep = COR__LOOKUP_REPLY__INIT;
            lr.id = req->id;
            lr.name = req->name;
            cor_error_clear(&err);
            FUZZ_CHECK(oms_dir_lookup(d, &lr, &a, &rep, &err) == COR_ENOTFOUND);
        }
    }
    cor_arena_close(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    oms_dir_t *d = open_dir(1);
    while (size > 0) {
        size_t n = data[0];
        if (size > 1)
            n |= (size_t)data[1] << 8;
        size_t hdr = size > 1 ? 2 : 1;
        data += hdr;
        size -= hdr;
        if (n > size)
            n = size;
        do_register(d, data, n);
        do_heartbeat(d, data, n);
        do_create(d, data, n);
        do_lookup(d, data, n);
        do_list(d, data, n);
        do_delete(d, data, n);
        oms_dir_check_liveness(d);
        data += n;
        size -= n;
    }
    size_t nodes, alive, objects;
    oms_dir_counts(d, &nodes, &alive, &objects);
    oms_dir_close(d);

    /* What was written through must all come back. */
    d = open_dir(0);
    size_t nodes2, alive2, objects2;
    oms_dir_counts(d, &nodes2, &alive2, &objects2);
    FUZZ_CHECK(nodes2 == nodes);
    FUZZ_CHECK(objects2 == objects);
    oms_dir_close(d);
    remove_store();
    return 0;
}
