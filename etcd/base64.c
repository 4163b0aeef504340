/*
 * base64.c — base64 for the gateway's bytes fields (keys, values, range
 * ends); see etcd_int.h.
 *
 * Why our own: Debian's packages offer base64 only inside big libraries
 * (OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock, which skip whitespace and
 * report the decoded length without subtracting padding; GLib), or not as
 * public API at all (libcurl's is internal). Forty lines with a strict
 * decoder and table-driven tests (tests/unit/test_etcd.c) are cheaper than
 * a dependency, and the fuzz target holds encode/decode to each other.
 */
#include "etcd_int.h"

#include <stdlib.h>
#include <string.h>

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t cor_etcd_b64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

void cor_etcd_b64_encode(const void *in, size_t n, char *out)
{
    const uint8_t *p = in;
    size_t i = 0, o = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        out[o++] = alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
}

/* The 6-bit value of c, or -1. */
static int sextet(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int cor_etcd_b64_decode(const char *in, size_t n, uint8_t **out, size_t *out_len,
                        cor_error_t *err)
{
    *out = NULL;
    *out_len = 0;
    if (n % 4 != 0)
        return cor_error_set(err, COR_EINVAL, "base64 of length %zu (not a multiple of 4)", n);
    size_t pad = 0;
    if (n > 0 && in[n - 1] == '=')
        pad = (n > 1 && in[n - 2] == '=') ? 2 : 1;
    uint8_t *buf = malloc(n / 4 * 3 + 1);
    if (buf == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory decoding base64");
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int last = i + 4 == n;
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++) {
            char ch = in[i + j];
            int s;
            if (last && ch == '=' && j >= 4 - pad) {
                s = 0;
            } else if ((s = sextet(ch)) < 0) {
                free(buf);
                if (ch == '=')
                    return cor_error_set(err, COR_EINVAL, "base64 padding '=' at offset %zu, "
                                         "before the end", i + j);
                return cor_error_set(err, COR_EINVAL, "base64 has a byte 0x%02x at offset %zu "
                                     "outside its alphabet", (unsigned char)ch, i + j);
            }
            v = v << 6 | (uint32_t)s;
        }
        buf[o++] = (uint8_t)(v >> 16);
        if (!last || pad < 2)
            buf[o++] = (uint8_t)(v >> 8);
        if (!last || pad < 1)
            buf[o++] = (uint8_t)v;
        /* The bits the padding stands for must be zero, or two texts
         * would decode to the same bytes. */
        if (last && ((pad == 1 && (v & 0xff) != 0) || (pad == 2 && (v & 0xffff) != 0))) {
            free(buf);
            return cor_error_set(err, COR_EINVAL, "base64 ends with non-zero padding bits at "
                                 "offset %zu", n - pad - 1);
        }
    }
    buf[o] = '\0';
    *out = buf;
    *out_len = o;
    return 0;
}
