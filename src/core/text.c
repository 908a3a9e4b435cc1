/* Percent-decoding and query strings (the rule is written in text.h). */
#include "core/text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"

int hex_digit(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

size_t pct_decode_into(char *out, const char *s, size_t len, enum pct_mode mode)
{
    uint8_t *dst = (uint8_t *)out;
    uint8_t *start = dst;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < len && (hi = hex_digit((unsigned char)s[i + 1])) >= 0 &&
            (lo = hex_digit((unsigned char)s[i + 2])) >= 0) {
            *dst++ = (uint8_t)(hi * 16 + lo);
            i += 2;
        } else if (s[i] == '+' && mode == PCT_QUERY) {
            *dst++ = ' ';
        } else {
            *dst++ = (uint8_t)s[i];
        }
    }
    return (size_t)(dst - start);
}

int pct_decode(struct buf *out, const char *s, size_t len, enum pct_mode mode)
{
    /* Decoding never lengthens: reserve once, then write in place. */
    uint8_t *dst = buf_reserve(out, len);
    if (dst == NULL) {
        return SL_E(NOMEM);
    }
    out->len += pct_decode_into((char *)dst, s, len, mode);
    out->data[out->len] = '\0';
    return 0;
}

char *pct_decode_dup(const char *s, size_t len, enum pct_mode mode, size_t *len_out)
{
    if (len == SIZE_MAX) {
        return NULL;
    }
    char *out = try_malloc(len + 1);
    if (out == NULL) {
        return NULL;
    }
    size_t n = pct_decode_into(out, s, len, mode);
    out[n] = '\0';
    if (len_out != NULL) {
        *len_out = n;
    }
    return out;
}

int pct_encode(struct buf *out, const char *s, size_t len, int keep)
{
    static const char digits[] = "0123456789ABCDEF";
    /* At most three bytes out for each in: reserve once, then write in place. */
    if (len > (SIZE_MAX - 1) / 3) {
        return SL_E(NOMEM);
    }
    uint8_t *dst = buf_reserve(out, len * 3);
    if (dst == NULL) {
        return SL_E(NOMEM);
    }
    uint8_t *start = dst;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~' || (c == '/' && (keep & PCT_KEEP_SLASH)) ||
            (c == '%' && (keep & PCT_KEEP_PCT))) {
            *dst++ = c;
        } else {
            *dst++ = '%';
            *dst++ = (uint8_t)digits[c >> 4];
            *dst++ = (uint8_t)digits[c & 15];
        }
    }
    out->len += (size_t)(dst - start);
    out->data[out->len] = '\0';
    return 0;
}

int query_next(const char *s, size_t len, size_t *pos, struct query_field *out)
{
    size_t i = *pos;
    while (i < len && s[i] == '&') {
        i++;
    }
    if (i >= len) {
        *pos = len;
        return 0;
    }
    const char *field = s + i;
    const char *amp = memchr(field, '&', len - i);
    size_t field_len = amp != NULL ? (size_t)(amp - field) : len - i;
    const char *eq = memchr(field, '=', field_len);
    out->name = field;
    out->name_len = eq != NULL ? (size_t)(eq - field) : field_len;
    out->has_value = eq != NULL;
    out->value = eq != NULL ? eq + 1 : field + field_len;
    out->value_len = eq != NULL ? field_len - out->name_len - 1 : 0;
    *pos = i + field_len;
    return 1;
}

void query_params_init(struct query_params *p)
{
    memset(p, 0, sizeof(*p));
}

void query_params_fini(struct query_params *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->names[i]);
        free(p->values[i]);
    }
    free(p->names);
    free(p->values);
    memset(p, 0, sizeof(*p));
}

/* Makes room for one more field, doubling the arrays. 0 or SL_E(NOMEM). */
static int params_grow(struct query_params *p)
{
    if (p->n < p->cap) {
        return 0;
    }
    size_t cap = p->cap ? p->cap * 2 : 8;
    if (cap > SIZE_MAX / sizeof(char *)) {
        return SL_E(NOMEM);
    }
    char **names = try_realloc(p->names, cap * sizeof(char *));
    if (names == NULL) {
        return SL_E(NOMEM);
    }
    p->names = names;
    char **values = try_realloc(p->values, cap * sizeof(char *));
    if (values == NULL) {
        return SL_E(NOMEM);
    }
    p->values = values;
    p->cap = cap;
    return 0;
}

int query_params_parse(struct query_params *p, const char *s, size_t len)
{
    size_t pos = 0;
    struct query_field f;
    while (query_next(s, len, &pos, &f)) {
        int rc = params_grow(p);
        if (rc < 0) {
            return rc;
        }
        size_t name_len = 0, value_len = 0;
        char *name = pct_decode_dup(f.name, f.name_len, PCT_QUERY, &name_len);
        char *value = pct_decode_dup(f.value, f.value_len, PCT_QUERY, &value_len);
        if (name == NULL || value == NULL) {
            free(name);
            free(value);
            return SL_E(NOMEM);
        }
        if (strlen(name) != name_len || strlen(value) != value_len) {
            free(name);
            free(value);
            return SL_E(VALIDATION);
        }
        p->names[p->n] = name;
        p->values[p->n] = value;
        p->n++;
    }
    return 0;
}

const char *query_params_get(const struct query_params *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->names[i], name) == 0) {
            return p->values[i];
        }
    }
    return NULL;
}

/* 1 when the bytes are valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int text_utf8_valid(const void *bytes, size_t n)
{
    const uint8_t *p = bytes;
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if ((w & 0x8080808080808080ULL) == 0) {
                i += 8;
                continue;
            }
        }
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + len > n) {
            return 0;
        }
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) {
            return 0;
        }
        i += len;
    }
    return 1;
}
