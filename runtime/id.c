/*
 * id.c — object ids: generation from the kernel's random source, and the
 * 32-hex-digit printable form.
 */
#include <cor/id.h>

#include <cor/error.h>

#include <errno.h>
#include <string.h>
#include <sys/random.h>

void cor_object_id_generate(cor_object_id_t *id)
{
    do {
        size_t got = 0;
        while (got < sizeof(id->b)) {
            ssize_t n = getrandom(id->b + got, sizeof(id->b) - got, 0);
            if (n > 0)
                got += (size_t)n;
            /* EINTR: retry. getrandom cannot otherwise fail for 16 bytes once
             * the pool is initialised, which it is on any booted system. */
        }
    } while (cor_object_id_is_nil(id));
}

void cor_object_id_format(const cor_object_id_t *id, char out[COR_OBJECT_ID_STRLEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < COR_OBJECT_ID_BYTES; i++) {
        out[2 * i] = hex[id->b[i] >> 4];
        out[2 * i + 1] = hex[id->b[i] & 0xf];
    }
    out[COR_OBJECT_ID_STRLEN] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int cor_object_id_parse(const char *s, cor_object_id_t *id)
{
    if (s == NULL || strlen(s) != COR_OBJECT_ID_STRLEN)
        return COR_EINVAL;
    cor_object_id_t tmp;
    for (size_t i = 0; i < COR_OBJECT_ID_BYTES; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return COR_EINVAL;
        tmp.b[i] = (unsigned char)(hi << 4 | lo);
    }
    *id = tmp;
    return 0;
}

int cor_object_id_from_bytes(const void *bytes, size_t len, cor_object_id_t *id)
{
    if (bytes == NULL || len != COR_OBJECT_ID_BYTES)
        return COR_EINVAL;
    memcpy(id->b, bytes, COR_OBJECT_ID_BYTES);
    return 0;
}

bool cor_object_id_is_nil(const cor_object_id_t *id)
{
    for (size_t i = 0; i < COR_OBJECT_ID_BYTES; i++)
        if (id->b[i] != 0)
            return false;
    return true;
}

bool cor_object_id_equal(const cor_object_id_t *a, const cor_object_id_t *b)
{
    return memcmp(a->b, b->b, COR_OBJECT_ID_BYTES) == 0;
}
