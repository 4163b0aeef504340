/*
 * kv_class.h — the KeyValueStore class (apps/kv/kv.proto): an ordered map
 * from string keys to byte values with Put, Get, Delete, prefix Scan with
 * paging, and Size. Its state (the whole map) can be saved and loaded.
 *
 * Besides the class, this header exposes the state codec as plain
 * functions, so the saved form can be tested without a running call
 * context: kv_state_pack / kv_state_unpack are exactly what the class's
 * save_state / load_state hooks run.
 */
#ifndef COR_APP_KV_CLASS_H
#define COR_APP_KV_CLASS_H

#include <cor/cor.h>

/* Limits; a request beyond one is refused with COR_EINVAL naming it. */
#define KV_MAX_KEY_BYTES 1024u           /* keys are 1..1024 bytes */
#define KV_MAX_VALUE_BYTES (1024u * 1024u) /* values are 0..1 MiB */
#define KV_MAX_SCAN_LIMIT 10000u          /* entries per Scan */
#define KV_DEFAULT_SCAN_LIMIT 100u        /* when ScanRequest.limit is 0 */
/* A Scan stops early (more = true) once its reply holds this many bytes of
 * keys and values, so a page stays well under the 16 MiB message limit. */
#define KV_SCAN_MAX_REPLY_BYTES (4u * 1024u * 1024u)

/* Class name "kv.KeyValueStore". Static; register it with
 * cor_runtime_register_class, or load libcor-kv.so as a module. The
 * optional constructor argument is a packed kv.KvArgs (max_keys; 0 =
 * unlimited, a Put of a new key past it answers COR_ETOOBIG). */
extern const cor_class_t kv_class;

/* The map itself: what an object of the class holds. */
typedef struct kv_store kv_store_t;

/* Frees a store from kv_state_unpack (NULL is fine). */
void kv_store_free(kv_store_t *s);

/* Serializes s as a packed kv.KvState (entries in ascending key order, so
 * equal maps give equal bytes). On success *buf is malloc'd and the
 * caller's; on failure (COR_ENOMEM) nothing is allocated. */
int kv_state_pack(const kv_store_t *s, uint8_t **buf, size_t *len, cor_error_t *err);

/* Rebuilds a store from kv_state_pack's bytes (buf stays the caller's).
 * COR_EINVAL, with err saying why, for bytes that are not a kv.KvState or
 * break a limit or hold a key twice; COR_ENOMEM. On success *out is the
 * caller's, freed with kv_store_free; on failure *out is untouched. */
int kv_state_unpack(const uint8_t *buf, size_t len, kv_store_t **out, cor_error_t *err);

#endif
