/*
 * social_module.c — libcor-social.so: hands the social User class to a
 * kernel server that loads it (`cor-kernel --module libcor-social.so`). The
 * class code itself lives in the cor_app_social static library, linked in.
 */
#include <cor/module.h>

#include "social_class.h"

static const cor_class_t *const social_classes[] = {&social_class, NULL};

COR_MODULE("social", "0.1", social_classes);
