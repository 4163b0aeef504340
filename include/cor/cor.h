/*
 * cor/cor.h — everything an application or a generated stub includes.
 * See docs/architecture.md for the model and docs/writing-a-proto.md for how
 * a service becomes a Corundum class.
 */
#ifndef COR_COR_H
#define COR_COR_H

#include <cor/error.h>
#include <cor/id.h>
#include <cor/log.h>
#include <cor/loop.h>
#include <cor/module.h>
#include <cor/object.h>
#include <cor/runtime.h>

#define COR_VERSION_MAJOR 0
#define COR_VERSION_MINOR 1
#define COR_VERSION_PATCH 0

#endif /* COR_COR_H */
