/*
 * fuzz_module.c — what cor-kernel checks in a module it has loaded
 * (kernel-server/module_check.c) before it registers the module's classes.
 *
 * Where the input comes from: `cor-kernel --module PATH.so` dlopen()s a
 * library and reads its cor_module_v1 record, the classes it lists and
 * their service and method descriptors. All of it is outside input. The
 * target builds such a record from the fuzz bytes, with no dlopen, and runs
 * cor_kernel_check_module on it — the kernel's own code.
 *
 * Input format (past the end of the input every byte reads as 0, which
 * decodes as the valid choice wherever there is one):
 *
 *   module  := abi name version count class*
 *   abi     := byte: 0 is COR_MODULE_ABI, anything else is that number
 *   count   := byte: 0xff: classes is NULL; 0xf0..0xfe: one class, then
 *              copies of it renamed "fill-N" up to 62..76 entries (the
 *              bound is 64); else: count % 8 classes
 *   class   := k; if k has bit 7 and this is not the first class: the same
 *              pointer as an earlier class (k & 0x7f) % i, nothing more;
 *              else: version name flags hooks [service]
 *   version := byte: 0 is the current version, anything else is that number
 *   flags   := byte, as is (COR_CLASS_* bits)
 *   hooks   := byte, bit 0: ops NULL, 1: create NULL, 2: destroy NULL,
 *              3: save_state set, 4: load_state set, 5: save_dirty set,
 *              6: apply_dirty set, 7: service NULL (then no service)
 *   service := version name proto_file dm_chain fp mcount method*
 *   mcount  := byte, bit 7: methods table NULL; low 7 bits 0x7f: n_methods
 *              is one over the bound; else (low 7 bits) % 16 methods
 *   method  := f hints name shard_key; f bit 0: service points elsewhere,
 *              1: wrong index, bits 2-3 input and 4-5 output (0 a real
 *              descriptor, 1 NULL, 2 bad magic, 3 another real one), bit
 *              6: invoke NULL
 *   string  := c; c < 0xf0: c bytes follow, then a NUL is added (embedded
 *              NULs are the input's); 0xf0..0xfb: entry (next byte) of a
 *              table of real names and chains; 0xfc: exactly the field's
 *              bound of 'a'; 0xfd: bound + 1 bytes of 'a', terminated;
 *              0xfe: bound + 1 bytes of 'a' in a buffer of exactly that
 *              size with no NUL (AddressSanitizer sees any read past it);
 *              0xff: NULL
 *
 * What holds for every input, beyond "no crash, no leak, no read out of
 * bounds":
 *  - a refusal is COR_EINVAL with a message;
 *  - an accepted module's classes each pass cor_kernel_check_class, and
 *    all register in a real runtime (one made once, which never listens);
 *  - one object of each accepted class can be created (its dm_chain stacked
 *    as the kernel would) and deleted, and the runtime destroys exactly the
 *    objects the class created.
 * After each input the classes it registered are unregistered again
 * (nothing of theirs is left alive), so the next input starts from an
 * empty runtime.
 */
#include "fuzz.h"

#include <pthread.h>
#include <string.h>

#include <cor/cor.h>
#include <cor/log.h>

#include "echo/echo.pb-c.h"
#include "module_check.h"
#include "host.h"

#define MAX_DECODED_CLASSES 8
#define MAX_METHODS 16
#define MAX_ALLOCS 4096

static cor_runtime_t *fuzz_rt;
static int fuzz_verbose; /* FUZZ_VERBOSE=1: one line per input */
static int created, destroyed;

/* ---------------- the classes' stand-in code ---------------- */

static const int dummy_ops = 1; /* an ops table nobody calls through */

static int dummy_create(cor_ctx_t *ctx, const uint8_t *args, size_t args_len, void **self)
{
    *self = malloc(1);
    if (*self == NULL)
        return COR_ENOMEM;
    created++;
    return 0;
}

static void dummy_destroy(void *self)
{
    free(self);
    destroyed++;
}

static int dummy_save(void *self, cor_ctx_t *ctx, uint8_t **buf, size_t *len)
{
    return COR_EUNIMPL;
}

static int dummy_load(cor_ctx_t *ctx, const uint8_t *buf, size_t len, void **self)
{
    return COR_EUNIMPL;
}

static int dummy_save_dirty(void *self, cor_ctx_t *ctx, int restart, uint8_t **buf, size_t *len)
{
    return COR_EUNIMPL;
}

static int dummy_apply_dirty(void *self, cor_ctx_t *ctx, const uint8_t *buf, size_t len)
{
    return COR_EUNIMPL;
}

static int dummy_invoke(const void *ops, void *self, cor_ctx_t *ctx,
                        const struct ProtobufCMessage *req, struct ProtobufCMessage *reply)
{
    return COR_EUNIMPL;
}

/* A descriptor with the wrong magic number (the rest zero). */
static const ProtobufCMessageDescriptor bad_descriptor = {.magic = 0x12345678};

static const cor_service_desc_t elsewhere_service = {.version = COR_SERVICE_DESC_VERSION,
                                                     .name = "elsewhere.Service"};

/* Real names and chains, so the fuzzer reaches the deeper checks fast. */
static const char *const known_strings[] = {
    "echo",
    "0.1",
    "echo.Echo",
    "kv.KeyValueStore",
    "social.User",
    "Say",
    "Add",
    "key",
    "echo/echo.proto",
    "",
    "SerializableRPC",
    "AtLeastOnceRPC(retries=2), SerializableRPC",
    "PeriodicCheckpoint(interval=5s)",
    "LoadBalancedFrontend(replicas=2)",
    "KeepInRegion(region=eu), CircuitBreaker(failures=3)",
    "LeaseCaching(lease=1s), Immutable",
    "DynamicMigration(window=10s)",
    "NoSuchDM",
    "Foo(a=1",
};

/* ---------------- decoding ---------------- */

typedef struct reader {
    const uint8_t *p, *end;
    void *allocs[MAX_ALLOCS];
    int n_allocs;
    int full; /* an allocation was refused: the input is cut short */
} reader_t;

static uint8_t byte(reader_t *r)
{
    return r->p < r->end ? *r->p++ : 0;
}

/* calloc'd memory freed with the reader; NULL when the pool is full. */
static void *take(reader_t *r, size_t n)
{
    if (r->n_allocs == MAX_ALLOCS) {
        r->full = 1;
        return NULL;
    }
    void *p = calloc(1, n ? n : 1);
    if (p == NULL) {
        r->full = 1;
        return NULL;
    }
    r->allocs[r->n_allocs++] = p;
    return p;
}

static void reader_free(reader_t *r)
{
    for (int i = 0; i < r->n_allocs; i++)
        free(r->allocs[i]);
}

/* A string for a field whose bound (without the NUL) is max. */
static const char *str(reader_t *r, size_t max)
{
    uint8_t c = byte(r);
    if (c == 0xff)
        return NULL;
    if (c >= 0xf0 && c <= 0xfb)
        return known_strings[byte(r) % (sizeof(known_strings) / sizeof(known_strings[0]))];
    size_t n = c < 0xf0 ? c : c == 0xfc ? max : max + 1;
    int terminated = c != 0xfe;
    char *s = take(r, n + (terminated ? 1 : 0));
    if (s == NULL)
        return NULL;
    if (c < 0xf0)
        for (size_t i = 0; i < n; i++)
            s[i] = (char)byte(r);
    else
        memset(s, 'a', n);
    return s; /* calloc'd: terminated ones end in a NUL */
}

static const ProtobufCMessageDescriptor *descriptor(unsigned choice, int output)
{
    switch (choice & 3) {
    case 0:
        return output ? &echo__say_reply__descriptor : &echo__say_request__descriptor;
    case 1:
        return NULL;
    case 2:
        return &bad_descriptor;
    default:
        return output ? &echo__add_reply__descriptor : &echo__add_request__descriptor;
    }
}

static unsigned version(reader_t *r, unsigned current)
{
    uint8_t v = byte(r);
    return v == 0 ? current : v;
}

static cor_service_desc_t *decode_service(reader_t *r)
{
    cor_service_desc_t *svc = take(r, sizeof(*svc));
    if (svc == NULL)
        return NULL;
    svc->version = version(r, COR_SERVICE_DESC_VERSION);
    svc->name = str(r, COR_KERNEL_SERVICE_NAME_MAX);
    svc->proto_file = str(r, COR_KERNEL_PROTO_FILE_MAX);
    svc->dm_chain = str(r, COR_KERNEL_DM_CHAIN_MAX);
    svc->fingerprint = byte(r) * UINT64_C(0x9e3779b97f4a7c15);
    uint8_t mc = byte(r);
    if ((mc & 0x7f) == 0x7f) {
        /* Over the bound: the check must refuse before reading a table. */
        svc->n_methods = COR_KERNEL_MAX_METHODS + 1;
        return svc;
    }
    unsigned n = (mc & 0x7fu) % MAX_METHODS;
    svc->n_methods = n;
    if ((mc & 0x80) != 0 || n == 0)
        return svc; /* methods stays NULL */
    cor_method_desc_t *ms = take(r, n * sizeof(*ms));
    if (ms == NULL)
        return svc;
    for (unsigned i = 0; i < n; i++) {
        uint8_t f = byte(r);
        ms[i].service = (f & 1) ? &elsewhere_service : svc;
        ms[i].index = (f & 2) ? i + 1 : i;
        ms[i].input = descriptor(f >> 2, 0);
        ms[i].output = descriptor(f >> 4, 1);
        ms[i].invoke = (f & 0x40) ? NULL : dummy_invoke;
        ms[i].hints = byte(r);
        ms[i].name = str(r, COR_KERNEL_METHOD_NAME_MAX);
        ms[i].shard_key = str(r, COR_KERNEL_METHOD_NAME_MAX);
    }
    svc->methods = ms;
    return svc;
}

static cor_class_t *decode_class(reader_t *r)
{
    cor_class_t *cls = take(r, sizeof(*cls));
    if (cls == NULL)
        return NULL;
    cls->version = version(r, COR_CLASS_VERSION);
    cls->name = str(r, COR_KERNEL_CLASS_NAME_MAX);
    cls->flags = byte(r);
    uint8_t h = byte(r);
    cls->ops = (h & 0x01) ? NULL : &dummy_ops;
    cls->create = (h & 0x02) ? NULL : dummy_create;
    cls->destroy = (h & 0x04) ? NULL : dummy_destroy;
    cls->save_state = (h & 0x08) ? dummy_save : NULL;
    cls->load_state = (h & 0x10) ? dummy_load : NULL;
    cls->save_dirty = (h & 0x20) ? dummy_save_dirty : NULL;
    cls->apply_dirty = (h & 0x40) ? dummy_apply_dirty : NULL;
    cls->service = (h & 0x80) ? NULL : decode_service(r);
    return cls;
}

/* The module record, or NULL when the input needs more memory than the
 * reader's pool (such an input is skipped, not checked). */
static cor_module_t *decode_module(reader_t *r)
{
    cor_module_t *m = take(r, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->abi = version(r, COR_MODULE_ABI);
    m->name = str(r, COR_KERNEL_MODULE_NAME_MAX);
    m->version = str(r, COR_KERNEL_MODULE_VERSION_MAX);
    uint8_t c = byte(r);
    if (c == 0xff)
        return m; /* classes stays NULL */
    int n_decoded = c >= 0xf0 ? 1 : c % MAX_DECODED_CLASSES;
    int n = c >= 0xf0 ? COR_KERNEL_MODULE_MAX_CLASSES - 2 + (c - 0xf0) : n_decoded;
    const cor_class_t **list = take(r, ((size_t)n + 1) * sizeof(*list));
    if (list == NULL)
        return NULL;
    for (int i = 0; i < n_decoded; i++) {
        uint8_t k = r->p < r->end ? *r->p : 0; /* peeked: a class reads it as its version */
        if ((k & 0x80) != 0 && i > 0) {
            r->p++;
            list[i] = list[(k & 0x7f) % i];
            continue;
        }
        list[i] = decode_class(r);
    }
    for (int i = n_decoded; i < n; i++) {
        /* Fillers: copies of the first class, each with its own name. */
        cor_class_t *fill = take(r, sizeof(*fill));
        char *name = take(r, 16);
        if (fill == NULL || name == NULL)
            return NULL;
        if (list[0] != NULL)
            *fill = *list[0];
        snprintf(name, 16, "fill-%d", i);
        fill->name = name;
        list[i] = fill;
    }
    for (int i = 0; i < n; i++)
        if (list[i] == NULL)
            return NULL; /* out of pool: skip */
    m->classes = list;
    return r->full ? NULL : m;
}

/* ---------------- the fixture ---------------- */

static void fuzz_teardown(void)
{
    cor_runtime_free(fuzz_rt);
    fuzz_rt = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    cor_log_set_level(COR_LOG_ERROR);
    fuzz_verbose = getenv("FUZZ_VERBOSE") != NULL;
    cor_runtime_opts_t opts = {.version = COR_RUNTIME_OPTS_VERSION, .host_id = "fuzz"};
    cor_error_t err;
    if (cor_runtime_new(&opts, &fuzz_rt, &err) != 0) {
        fprintf(stderr, "fuzz_module: fixture: %s\n", err.msg);
        abort();
    }
    atexit(fuzz_teardown);
    return 0;
}

/* What the kernel does next with an accepted module: register every class,
 * and (what a placement would then ask) make and delete an object of each. */
static void host_module(const cor_module_t *m)
{
    cor_error_t err;
    int n = 0;
    for (; m->classes[n] != NULL; n++) {
        cor_error_clear(&err);
        FUZZ_CHECK(cor_kernel_check_class(m->classes[n], &err) == 0);
        if (cor_runtime_register_class(fuzz_rt, m->classes[n], &err) != 0) {
            fprintf(stderr, "fuzz_module: accepted class %s refused by the runtime: %s\n",
                    m->classes[n]->name, err.msg);
            FUZZ_CHECK(!"an accepted class registers");
        }
    }
    FUZZ_CHECK(n >= 1 && n <= COR_KERNEL_MODULE_MAX_CLASSES);
    created = destroyed = 0;
    for (int i = 0; i < n; i++) {
        cor_object_id_t id;
        memset(&id, 0, sizeof(id));
        id.b[0] = 0xf0; /* any id but nil, one per class */
        id.b[15] = (uint8_t)(i + 1);
        cor_error_clear(&err);
        int crc = cor_object_create(fuzz_rt, m->classes[i]->name, NULL, 0,
                                    &(cor_create_opts_t){.here = 1, .id = &id}, NULL, &err);
        const char *chain = m->classes[i]->service->dm_chain;
        if (crc == COR_ESTATE && chain != NULL && strstr(chain, "ConsensusRSM") != NULL &&
            strstr(err.msg, "data directory") != NULL)
            continue; /* a replicated class needs a --data-dir, which this runtime lacks */
        if (crc != 0) {
            fprintf(stderr, "fuzz_module: accepted class %s: create refused: %s\n",
                    m->classes[i]->name, err.msg);
            FUZZ_CHECK(!"an object of an accepted class can be created");
        }
        FUZZ_CHECK(cor_object_delete(fuzz_rt, &id, &err) == 0);
    }
    FUZZ_CHECK(created == n && destroyed == n);
    FUZZ_CHECK(cor_runtime_object_count(fuzz_rt) == 0);
    for (int i = 0; i < n; i++)
        FUZZ_CHECK(cor_runtime_unregister_class(fuzz_rt, m->classes[i]->name, &err) == 0);
    FUZZ_CHECK(cor_runtime_class_count(fuzz_rt) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return 0;
    r->p = data;
    r->end = data + size;
    const cor_module_t *m = decode_module(r);
    if (m != NULL) {
        cor_error_t err;
        cor_error_clear(&err);
        int rc = cor_kernel_check_module(m, &err);
        if (fuzz_verbose)
            fprintf(stderr, "fuzz_module: %s%s\n", rc == 0 ? "accepted" : "refused: ",
                    rc == 0 ? "" : err.msg);
        if (rc != 0) {
            FUZZ_CHECK(rc == COR_EINVAL);
            FUZZ_CHECK(err.code == rc);
            FUZZ_CHECK(err.msg[0] != '\0');
        } else {
            host_module(m);
        }
    }
    reader_free(r);
    free(r);
    return 0;
}
