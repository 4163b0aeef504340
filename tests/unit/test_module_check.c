/*
 * test_module_check.c — the checks cor-kernel runs on a loaded module
 * before registering its classes (kernel-server/module_check.c).
 *
 * The real classes are accepted: echo, kv and social linked in, and the kv
 * and social modules as built (dlopen'ed the way cor-kernel does). Then a
 * good module — a copy of the Echo class, its service and method table that
 * each case may change — is broken one field at a time, and each break is
 * refused with COR_EINVAL and a message naming the class, method and field.
 * The fuzz target (tests/fuzz/fuzz_module.c) covers the combinations.
 */
#include <dlfcn.h>
#include <string.h>

#include <cor/module.h>
#include <protobuf-c/protobuf-c.h>

#include "echo/echo.cor.h"
#include "echo_class.h"
#include "kv_class.h"
#include "module_check.h"
#include "social_class.h"
#include "testlib.h"

static void expect_ok_module(const cor_module_t *m)
{
    cor_error_t err;
    cor_error_clear(&err);
    int rc = cor_kernel_check_module(m, &err);
    if (rc != 0)
        fprintf(stderr, "\nunexpected refusal: %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, 0);
}

static void test_real_classes(void)
{
    static const cor_class_t *const all[] = {&echo_class, &kv_class, &social_class, NULL};
    static const cor_module_t m = {
        .abi = COR_MODULE_ABI, .name = "builtin", .version = "test", .classes = all};
    expect_ok_module(&m);
    cor_error_t err;
    for (int i = 0; all[i] != NULL; i++)
        CU_ASSERT_EQUAL(cor_kernel_check_class(all[i], &err), 0);
}

static void check_built_module(const char *path)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL)
        fprintf(stderr, "\n%s\n", dlerror());
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    const cor_module_t *m = dlsym(h, COR_MODULE_SYMBOL);
    CU_ASSERT_PTR_NOT_NULL(m);
    if (m != NULL)
        expect_ok_module(m);
    dlclose(h);
}

static void test_real_modules(void)
{
    check_built_module(COR_KV_MODULE);
    check_built_module(COR_SOCIAL_MODULE);
}

/* ---- a good module to break ---- */

#define MAX_FX_METHODS 16 /* room for Echo's method table */

typedef struct fixture {
    cor_module_t mod;
    const cor_class_t *list[COR_KERNEL_MODULE_MAX_CLASSES + 2];
    cor_class_t cls, cls2;
    cor_service_desc_t svc;
    cor_method_desc_t methods[MAX_FX_METHODS];
    char unterminated[COR_KERNEL_MODULE_NAME_MAX + 1]; /* no NUL anywhere */
} fixture_t;

static fixture_t fx;

static const ProtobufCMessageDescriptor bad_magic = {.magic = 0xdeadbeef};

static void fixture_reset(void)
{
    memset(&fx, 0, sizeof(fx));
    fx.svc = echo_echo_service;
    CU_ASSERT_FATAL(fx.svc.n_methods >= 3 && fx.svc.n_methods <= MAX_FX_METHODS);
    memcpy(fx.methods, echo_echo_service.methods, fx.svc.n_methods * sizeof(fx.methods[0]));
    for (unsigned i = 0; i < fx.svc.n_methods; i++)
        fx.methods[i].service = &fx.svc;
    fx.svc.methods = fx.methods;
    fx.cls = echo_class;
    fx.cls.service = &fx.svc;
    fx.list[0] = &fx.cls;
    fx.mod = (cor_module_t){
        .abi = COR_MODULE_ABI, .name = "echo", .version = "0.1", .classes = fx.list};
    memset(fx.unterminated, 'a', sizeof(fx.unterminated));
}

static void bad_abi(void) { fx.mod.abi = 2; }
static void bad_name_null(void) { fx.mod.name = NULL; }
static void bad_name_unterminated(void) { fx.mod.name = fx.unterminated; }
static void bad_name_space(void) { fx.mod.name = "my echo"; }
static void bad_version_empty(void) { fx.mod.version = ""; }
static void bad_classes_null(void) { fx.mod.classes = NULL; }
static void bad_classes_empty(void) { fx.list[0] = NULL; }
static void bad_too_many(void)
{
    for (int i = 0; i <= COR_KERNEL_MODULE_MAX_CLASSES; i++)
        fx.list[i] = &fx.cls;
}
static void bad_dup_class(void)
{
    fx.cls2 = fx.cls;
    fx.list[1] = &fx.cls2;
}
static void bad_class_version(void) { fx.cls.version = 1; }
static void bad_class_name(void) { fx.cls.name = "echo Echo"; }
static void bad_class_name_long(void)
{
    static char name[COR_KERNEL_CLASS_NAME_MAX + 2];
    memset(name, 'x', sizeof(name) - 1);
    fx.cls.name = name;
}
static void bad_flags(void) { fx.cls.flags = 4; }
static void bad_ops(void) { fx.cls.ops = NULL; }
static void bad_destroy(void) { fx.cls.destroy = NULL; }
static void bad_load_alone(void)
{
    fx.cls.save_state = NULL;
    fx.cls.load_state = kv_class.load_state;
}
static int some_save_dirty(void *self, cor_ctx_t *ctx, int restart, uint8_t **buf, size_t *len)
{
    return COR_EUNIMPL;
}
static int some_apply_dirty(void *self, cor_ctx_t *ctx, const uint8_t *buf, size_t len)
{
    return COR_EUNIMPL;
}
static void bad_dirty_alone(void)
{
    fx.cls.save_state = NULL;
    fx.cls.load_state = NULL;
    fx.cls.save_dirty = some_save_dirty;
    fx.cls.apply_dirty = some_apply_dirty;
}
static void bad_service_null(void) { fx.cls.service = NULL; }
static void bad_service_version(void) { fx.svc.version = 9; }
static void bad_service_name(void) { fx.svc.name = "echo/Echo"; }
static void bad_chain_syntax(void) { fx.svc.dm_chain = "Foo(a=1"; }
static void bad_chain_unknown(void) { fx.svc.dm_chain = "NoSuchDM"; }
static void bad_n_methods(void) { fx.svc.n_methods = 5000; }
static void bad_methods_null(void)
{
    fx.svc.n_methods = 3;
    fx.svc.methods = NULL;
}
static void bad_method_name_null(void) { fx.methods[1].name = NULL; }
static void bad_method_dup(void) { fx.methods[2].name = "Say"; }
static void bad_method_service(void) { fx.methods[0].service = &echo_echo_service; }
static void bad_method_index(void) { fx.methods[1].index = 0; }
static void bad_input_null(void) { fx.methods[1].input = NULL; }
static void bad_output_magic(void) { fx.methods[0].output = &bad_magic; }
static void bad_invoke_null(void) { fx.methods[2].invoke = NULL; }
static void bad_hints_unknown(void) { fx.methods[0].hints = 0x10; }
static void bad_hints_both(void)
{
    fx.methods[0].hints = COR_METHOD_READ_ONLY | COR_METHOD_MUTATING;
}
static void bad_shard_key(void) { fx.methods[0].shard_key = ""; }

static const struct bad_case {
    const char *what;
    void (*mutate)(void);
    const char *expect; /* the whole message, or its start when it ends in '*' */
} bad_cases[] = {
    {"abi", bad_abi, "ABI 2, this kernel speaks 1"},
    {"name NULL", bad_name_null, "module name is NULL"},
    {"name without NUL", bad_name_unterminated,
     "module name 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' is longer than 63 bytes (or not "
     "NUL-terminated)"},
    {"name with a space", bad_name_space,
     "module name 'my echo': byte 2 (0x20) is not allowed (letters, digits, . _ -)"},
    {"version empty", bad_version_empty, "module version is empty"},
    {"classes NULL", bad_classes_null, "no classes"},
    {"classes empty", bad_classes_empty, "no classes"},
    {"65 classes", bad_too_many, "more than 64 classes (or the class list lacks its NULL end)"},
    {"duplicate class", bad_dup_class, "class 1 (echo.Echo): name already used by class 0"},
    {"class version", bad_class_version,
     "class 0: class definition has version 1, this kernel needs 2"},
    {"class name", bad_class_name,
     "class 0: name 'echo Echo': byte 4 (0x20) is not allowed (letters, digits, . _ - / :)"},
    {"class name 256 bytes", bad_class_name_long, "class 0: name 'xxxx*"},
    {"flags", bad_flags, "class 0 (echo.Echo): flags 0x4 has unknown bits 0x4"},
    {"ops", bad_ops, "class 0 (echo.Echo): ops is NULL"},
    {"destroy", bad_destroy,
     "class 0 (echo.Echo): destroy is NULL (create and destroy are required)"},
    {"load_state alone", bad_load_alone,
     "class 0 (echo.Echo): load_state is set without save_state (they come as a pair)"},
    {"dirty pair alone", bad_dirty_alone,
     "class 0 (echo.Echo): save_dirty and apply_dirty are set without save_state and "
     "load_state"},
    {"service NULL", bad_service_null, "class 0 (echo.Echo): service descriptor is NULL"},
    {"service version", bad_service_version,
     "class 0 (echo.Echo): service descriptor has version 9, this kernel needs 1"},
    {"service name", bad_service_name,
     "class 0 (echo.Echo): service name 'echo/Echo': byte 4 (0x2f) is not allowed (letters, "
     "digits, . _)"},
    {"chain syntax", bad_chain_syntax,
     "class 0 (echo.Echo): service dm_chain: dm chain \"Foo(a=1\" column 8: expected*"},
    {"chain unknown DM", bad_chain_unknown,
     "class 0 (echo.Echo): service dm_chain: unknown deployment manager 'NoSuchDM'*"},
    {"5000 methods", bad_n_methods, "class 0 (echo.Echo): service has 5000 methods, at most 1024"},
    {"no method table", bad_methods_null,
     "class 0 (echo.Echo): service has 3 methods but no method table"},
    {"method name NULL", bad_method_name_null, "class 0 (echo.Echo): method 1: name is NULL"},
    {"method name twice", bad_method_dup,
     "class 0 (echo.Echo): method 2 (Say): name already used by method 0"},
    {"method service", bad_method_service,
     "class 0 (echo.Echo): method 0 (Say): service points at another service descriptor than "
     "the one holding it"},
    {"method index", bad_method_index,
     "class 0 (echo.Echo): method 1 (Add): index is 0, not its position 1"},
    {"input NULL", bad_input_null, "class 0 (echo.Echo): method 1 (Add): input descriptor is NULL"},
    {"output magic", bad_output_magic,
     "class 0 (echo.Echo): method 0 (Say): output descriptor has magic 0xdeadbeef, not a "
     "protobuf-c message descriptor (0x28aaeef9)"},
    {"invoke NULL", bad_invoke_null,
     "class 0 (echo.Echo): method 2 (Sleep): invoke is NULL (stubs generated for clients only?)"},
    {"hints unknown", bad_hints_unknown,
     "class 0 (echo.Echo): method 0 (Say): hints 0x10 has unknown bits 0x10"},
    {"hints both", bad_hints_both,
     "class 0 (echo.Echo): method 0 (Say): hints say both READ_ONLY and MUTATING"},
    {"shard_key empty", bad_shard_key, "class 0 (echo.Echo): method 0 (Say): shard_key is empty"},
};

static int message_matches(const char *msg, const char *expect)
{
    size_t n = strlen(expect);
    if (n > 0 && expect[n - 1] == '*')
        return strncmp(msg, expect, n - 1) == 0;
    return strcmp(msg, expect) == 0;
}

static void test_good_fixture(void)
{
    fixture_reset();
    expect_ok_module(&fx.mod);
}

static void test_bad_modules(void)
{
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        fixture_reset();
        bad_cases[i].mutate();
        cor_error_t err;
        cor_error_clear(&err);
        int rc = cor_kernel_check_module(&fx.mod, &err);
        int ok = rc == COR_EINVAL && err.code == COR_EINVAL &&
                 message_matches(err.msg, bad_cases[i].expect);
        if (!ok)
            fprintf(stderr, "\n%s: rc %d, message\n  got:    %s\n  wanted: %s\n",
                    bad_cases[i].what, rc, err.msg, bad_cases[i].expect);
        CU_ASSERT(ok);
    }
}

static void test_class_alone(void)
{
    cor_error_t err;
    CU_ASSERT_EQUAL(cor_kernel_check_class(NULL, &err), COR_EINVAL);
    CU_ASSERT_STRING_EQUAL(err.msg, "class definition is NULL");
    CU_ASSERT_EQUAL(cor_kernel_check_module(NULL, &err), COR_EINVAL);
    CU_ASSERT_STRING_EQUAL(err.msg, "module record is NULL");
    fixture_reset();
    fx.methods[1].input = NULL;
    CU_ASSERT_EQUAL(cor_kernel_check_class(&fx.cls, &err), COR_EINVAL);
    CU_ASSERT_STRING_EQUAL(err.msg, "class echo.Echo: method 1 (Add): input descriptor is NULL");
}

int main(void)
{
    static const cor_test_t tests[] = {
        {"real_classes", test_real_classes},
        {"real_modules", test_real_modules},
        {"good_fixture", test_good_fixture},
        {"bad_modules", test_bad_modules},
        {"class_alone", test_class_alone},
        {NULL, NULL},
    };
    return cor_test_main("module_check", tests, NULL, NULL);
}
