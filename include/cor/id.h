/*
 * cor/id.h — object identifiers.
 *
 * An ObjectId is 128 bits, printed as 32 lowercase hex digits. Ids are made
 * from the kernel's random source, so two processes never need to agree on a
 * counter. The all-zero id is "nil" and never names an object.
 */
#ifndef COR_ID_H
#define COR_ID_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define COR_OBJECT_ID_BYTES 16
#define COR_OBJECT_ID_STRLEN 32 /* characters, without the NUL */

typedef struct cor_object_id {
    unsigned char b[COR_OBJECT_ID_BYTES];
} cor_object_id_t;

/* Fills id with fresh random bits (getrandom). Never returns nil. */
void cor_object_id_generate(cor_object_id_t *id);

/* Writes the 32-digit hex form and a NUL into out. */
void cor_object_id_format(const cor_object_id_t *id,
                          char out[COR_OBJECT_ID_STRLEN + 1]);

/* Parses exactly 32 hex digits (either case). Returns 0, or COR_EINVAL for
 * any other length or a non-hex character; id is untouched on error. */
int cor_object_id_parse(const char *s, cor_object_id_t *id);

/* Reads an id from 16 raw bytes (as carried on the wire). COR_EINVAL unless
 * len is exactly 16. */
int cor_object_id_from_bytes(const void *bytes, size_t len, cor_object_id_t *id);

bool cor_object_id_is_nil(const cor_object_id_t *id);
bool cor_object_id_equal(const cor_object_id_t *a, const cor_object_id_t *b);

#ifdef __cplusplus
}
#endif
#endif /* COR_ID_H */
