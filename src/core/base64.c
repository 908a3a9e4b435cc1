#include "core/base64.h"

#include <string.h>

static const char std_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* 0..63 for alphabet characters, 64 for anything else. Built at load time. */
static unsigned char std_values[256];
static unsigned char url_values[256];
/* Two output characters for every 12-bit group: the encoder's hot loop does two table
   loads per three input bytes instead of four. */
static char std_pairs[4096][2];

static void build(unsigned char *values, const char *alphabet)
{
    for (int i = 0; i < 256; i++) {
        values[i] = 64;
    }
    for (int i = 0; i < 64; i++) {
        values[(unsigned char)alphabet[i]] = (unsigned char)i;
    }
}

__attribute__((constructor)) static void base64_tables_init(void)
{
    build(std_values, std_alphabet);
    build(url_values, url_alphabet);
    for (int i = 0; i < 4096; i++) {
        std_pairs[i][0] = std_alphabet[i >> 6];
        std_pairs[i][1] = std_alphabet[i & 63];
    }
}

static size_t encode(const uint8_t *in, size_t len, char *out, const char *alphabet, int pad)
{
    size_t i = 0;
    char *o = out;
    if (alphabet == std_alphabet) {
        for (; i + 3 <= len; i += 3) {
            uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
            memcpy(o, std_pairs[v >> 12], 2);
            memcpy(o + 2, std_pairs[v & 4095], 2);
            o += 4;
        }
    }
    for (; i + 3 <= len; i += 3) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
        o[0] = alphabet[v >> 18];
        o[1] = alphabet[(v >> 12) & 63];
        o[2] = alphabet[(v >> 6) & 63];
        o[3] = alphabet[v & 63];
        o += 4;
    }
    size_t rest = len - i;
    if (rest > 0) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (rest == 2) {
            v |= (uint32_t)in[i + 1] << 8;
        }
        *o++ = alphabet[v >> 18];
        *o++ = alphabet[(v >> 12) & 63];
        if (rest == 2) {
            *o++ = alphabet[(v >> 6) & 63];
        } else if (pad) {
            *o++ = '=';
        }
        if (pad) {
            *o++ = '=';
        }
    }
    return (size_t)(o - out);
}

size_t base64_encode(const uint8_t *in, size_t len, char *out)
{
    return encode(in, len, out, std_alphabet, 1);
}

size_t base64url_encode(const uint8_t *in, size_t len, char *out)
{
    return encode(in, len, out, url_alphabet, 0);
}

/* Decodes full quads, then a tail of 2 or 3 symbols (with its padding when padded). */
static long decode(const char *in, size_t len, uint8_t *out, const unsigned char *values,
                   int padded)
{
    size_t tail_len = 0;
    if (padded) {
        if (len % 4 != 0) {
            return -1;
        }
        if (len >= 1 && in[len - 1] == '=') {
            tail_len = (len >= 2 && in[len - 2] == '=') ? 2 : 3;
            len -= 4;
        }
    } else {
        if (len % 4 == 1) {
            return -1;
        }
        tail_len = len % 4;
        len -= tail_len;
    }
    const unsigned char *p = (const unsigned char *)in;
    uint8_t *o = out;
    for (size_t i = 0; i < len; i += 4) {
        unsigned a = values[p[i]], b = values[p[i + 1]], c = values[p[i + 2]],
                 d = values[p[i + 3]];
        if ((a | b | c | d) & 64) {
            return -1;
        }
        uint32_t v = (a << 18) | (b << 12) | (c << 6) | d;
        o[0] = (uint8_t)(v >> 16);
        o[1] = (uint8_t)(v >> 8);
        o[2] = (uint8_t)v;
        o += 3;
    }
    if (tail_len > 0) {
        p += len;
        unsigned a = values[p[0]], b = values[p[1]];
        unsigned c = tail_len == 3 ? values[p[2]] : 0;
        if ((a | b | c) & 64) {
            return -1;
        }
        /* Non-canonical trailing bits are rejected, as strict decoders do. */
        if (tail_len == 2 && (b & 15) != 0) {
            return -1;
        }
        if (tail_len == 3 && (c & 3) != 0) {
            return -1;
        }
        *o++ = (uint8_t)((a << 2) | (b >> 4));
        if (tail_len == 3) {
            *o++ = (uint8_t)((b << 4) | (c >> 2));
        }
    }
    return (long)(o - out);
}

long base64_decode(const char *in, size_t len, uint8_t *out)
{
    return decode(in, len, out, std_values, 1);
}

long base64url_decode(const char *in, size_t len, uint8_t *out)
{
    return decode(in, len, out, url_values, 0);
}
