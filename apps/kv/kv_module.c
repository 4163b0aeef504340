/*
 * kv_module.c — libcor-kv.so: hands the KeyValueStore class to a kernel
 * server that loads it (`cor-kernel --module libcor-kv.so`). The class code
 * itself lives in the cor_app_kv static library, linked in.
 */
#include <cor/module.h>

#include "kv_class.h"

static const cor_class_t *const kv_classes[] = {&kv_class, NULL};

COR_MODULE("kv", "0.1", kv_classes);
