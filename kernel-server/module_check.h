/*
 * module_check.h — what cor-kernel checks in a module it has loaded before
 * it registers a single class (docs/operations.md "Modules").
 *
 * A module's cor_module_t and the cor_class_t, service and method
 * descriptors it points at are outside input: the kernel did not build
 * them, and a module compiled against other headers, by another generator
 * version, or by hand can hold anything. These functions are the one place
 * that decides whether such a record is safe to hand to the runtime and to
 * report to the OMS. They take plain pointers, with no dlopen, so
 * cor-kernel (main.c), the unit test (tests/unit/test_module_check.c) and
 * the fuzz target (tests/fuzz/fuzz_module.c) run the same code.
 *
 * Every string is read through strnlen with its bound, so a string without
 * a NUL terminator is refused as too long after reading at most bound + 1
 * bytes; the class array is read up to COR_KERNEL_MODULE_MAX_CLASSES + 1
 * entries and each method table up to its n_methods. Pointers other than
 * NULL are trusted to point at readable memory of the right type: the
 * checks find a wrong record, not a forged address.
 */
#ifndef COR_KERNEL_MODULE_CHECK_H
#define COR_KERNEL_MODULE_CHECK_H

#include <cor/error.h>
#include <cor/module.h>

/* Bounds, in bytes without the NUL, and counts. The class name limit and
 * its characters are the OMS's (oms/dir_int.h CLASS_NAME_MAX), the chain
 * limit its DM_CHAIN_MAX: a kernel must not register what the OMS refuses,
 * or it would retry its registration forever. */
#define COR_KERNEL_MODULE_NAME_MAX 63
#define COR_KERNEL_MODULE_VERSION_MAX 63
#define COR_KERNEL_MODULE_MAX_CLASSES 64 /* the runtime's COR_MAX_CLASSES */
#define COR_KERNEL_CLASS_NAME_MAX 255
#define COR_KERNEL_SERVICE_NAME_MAX 255
#define COR_KERNEL_PROTO_FILE_MAX 1023
#define COR_KERNEL_DM_CHAIN_MAX 1024
#define COR_KERNEL_MAX_METHODS 1024
#define COR_KERNEL_METHOD_NAME_MAX 255

/* Checks a loaded module record and every class it lists:
 *  - abi is COR_MODULE_ABI;
 *  - name: 1..63 bytes of [A-Za-z0-9._-]; version: 1..63 printable ASCII;
 *  - classes non-NULL, 1..COR_KERNEL_MODULE_MAX_CLASSES entries before the
 *    NULL, no class name twice;
 *  - each class as cor_kernel_check_class.
 * Returns 0, or COR_EINVAL with err naming the field (and the class and
 * method by index and name): "class 1 (kv.Store): method 0 (Get): input
 * descriptor is NULL". Reads m and what it points at; owns nothing, keeps
 * nothing. Any thread; pure (the DM registry is read, not written). */
int cor_kernel_check_module(const cor_module_t *m, cor_error_t *err);

/* Checks one class as the kernel needs it before
 * cor_runtime_register_class:
 *  - version COR_CLASS_VERSION; name 1..255 bytes of [A-Za-z0-9._-/:];
 *  - flags only COR_CLASS_* bits; ops, create, destroy set; save_state
 *    with load_state; save_dirty with apply_dirty, and only with
 *    save_state;
 *  - service: version COR_SERVICE_DESC_VERSION; name 1..255 bytes of
 *    [A-Za-z0-9._]; proto_file NULL or at most 1023 printable bytes;
 *    dm_chain NULL or at most 1024 bytes that cor_dm_chain_parse and
 *    cor_dm_chain_check accept (what creating an object runs);
 *    n_methods <= 1024 with a methods table when non-zero;
 *  - each method: service pointing back, index its position, name 1..255
 *    bytes of [A-Za-z0-9_] and unique, input and output protobuf-c message
 *    descriptors (right magic), invoke set, hints only COR_METHOD_* bits and
 *    not both READ_ONLY and MUTATING, shard_key NULL or 1..255 bytes of
 *    [A-Za-z0-9_].
 * Returns 0 or COR_EINVAL, err naming the field; the message does not
 * name the class's index (cor_kernel_check_module prefixes it). Ownership,
 * threads: as cor_kernel_check_module. */
int cor_kernel_check_class(const cor_class_t *cls, cor_error_t *err);

#endif
