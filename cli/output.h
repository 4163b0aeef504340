/*
 * output.h — how corctl shows what the OMS says: ages and times, object
 * ids as 32 hex digits, enum values by their short names, an object's
 * state as the objects table shows it, and JSON the way every command
 * prints it. Tables themselves are table.h.
 *
 * Pure formatting, no calls: each function fills a caller's buffer or
 * prints to stdout. Single-threaded, like the rest of corctl.
 */
#ifndef COR_CLI_OUTPUT_H
#define COR_CLI_OUTPUT_H

#include <cor/cor.h>
#include <stddef.h>
#include <stdint.h>

#include <json.h>

#include "cor/oms.pb-c.h"

/* "1.2s ago", "5m03s ago", "2h10m ago", "3d04h ago" on this machine's
 * clock; "never" for 0. */
void corctl_fmt_age(int64_t then_ms, char *out, size_t n);

/* "2026-01-02 03:04:05 UTC (1.2s ago)"; "-" for 0. */
void corctl_fmt_time(int64_t ms, char *out, size_t n);

/* An id field as 32 hex digits, or "?" when it is not 16 bytes. */
void corctl_id_hex(const ProtobufCBinaryData *b, char out[COR_OBJECT_ID_STRLEN + 1]);

/* A NodeState / ReplicaState value without its prefix: "ALIVE", "ACTIVE";
 * "?" for an unknown value. Static strings. */
const char *corctl_node_state(int v);
const char *corctl_replica_state(int v);

/* What the objects table shows as an object's state: its first replica's,
 * or NODE-DEAD / NODE-REPLACED when that replica's kernel server is gone.
 * A static string. */
const char *corctl_object_state(const Cor__ObjectInfo *o);

/* Prints j and a newline on stdout: indented, or on one line when
 * one_line ("null" for NULL). j stays the caller's. */
void corctl_print_json(json_object *j, int one_line);

/* ObjectInfo as JSON (proto3 mapping) with the id as 32 hex digits rather
 * than base64. A new object the caller drops with json_object_put, or
 * NULL when out of memory. */
json_object *corctl_object_json(const Cor__ObjectInfo *o);

#endif
