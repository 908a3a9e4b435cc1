#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/text.h"

void buf_init(struct buf *b)
{
    memset(b, 0, sizeof(*b));
}

void buf_fini(struct buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    b->failed = 0;
    if (b->data != NULL) {
        b->data[0] = '\0';
    }
}

uint8_t *buf_reserve(struct buf *b, size_t n)
{
    if (b->failed) {
        return NULL;
    }
    if (n + 1 > b->cap - b->len || b->data == NULL) {
        size_t want = b->len + n + 1;
        if (want < b->len) {
            b->failed = 1;
            return NULL;
        }
        size_t cap = b->cap ? b->cap : 256;
        while (cap < want) {
            cap = cap * 2 > cap ? cap * 2 : want;
        }
        uint8_t *p = try_realloc(b->data, cap);
        if (p == NULL) {
            b->failed = 1;
            return NULL;
        }
        b->data = p;
        b->cap = cap;
    }
    return b->data + b->len;
}

int buf_append(struct buf *b, const void *data, size_t len)
{
    uint8_t *p = buf_reserve(b, len);
    if (p == NULL) {
        return SL_E(NOMEM);
    }
    if (len > 0) {
        memcpy(p, data, len);
    }
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_putc(struct buf *b, char c)
{
    return buf_append(b, &c, 1);
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return SL_E(INTERNAL);
    }
    uint8_t *p = buf_reserve(b, (size_t)n);
    if (p == NULL) {
        return SL_E(NOMEM);
    }
    va_start(ap, fmt);
    vsnprintf((char *)p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int buf_json_string(struct buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    /* Worst case every byte becomes \u00XX. */
    uint8_t *p = buf_reserve(b, len * 6 + 2);
    if (p == NULL) {
        return SL_E(NOMEM);
    }
    uint8_t *start = p;
    *p++ = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = c;
        } else if (c < 0x20) {
            *p++ = '\\';
            switch (c) {
            case '\n': *p++ = 'n'; break;
            case '\r': *p++ = 'r'; break;
            case '\t': *p++ = 't'; break;
            default:
                *p++ = 'u';
                *p++ = '0';
                *p++ = '0';
                *p++ = hex[c >> 4];
                *p++ = hex[c & 15];
            }
        } else {
            *p++ = c;
        }
    }
    *p++ = '"';
    b->len += (size_t)(p - start);
    b->data[b->len] = '\0';
    return 0;
}

/* The length of the valid UTF-8 sequence at s (of n bytes left) that starts with a byte
   of 0x80 or above, or 0 when it is not one. */
static size_t utf8_seq(const char *s, size_t n)
{
    unsigned char c = (unsigned char)s[0];
    size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    return len <= n && text_utf8_valid(s, len) ? len : 0;
}

int buf_xml_escape(struct buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep = NULL;
        char ref[8];
        if (c >= 0x80) {
            /* A document must be UTF-8: a byte that is not part of a valid sequence (an
               echoed parameter can hold anything) becomes U+FFFD. */
            size_t k = utf8_seq(&s[i], len - i);
            int rc = k > 0 ? buf_append(b, &s[i], k) : buf_puts(b, "\xEF\xBF\xBD");
            if (rc < 0) {
                return rc;
            }
            i += k > 0 ? k - 1 : 0;
            continue;
        }
        switch (c) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&apos;"; break;
        default:
            if (c < 0x20 && c != '\t' && c != '\n') {
                /* \r and the other controls as references, so a parser keeps them. */
                ref[0] = '&';
                ref[1] = '#';
                ref[2] = 'x';
                size_t n = 3;
                if (c >= 16) {
                    ref[n++] = hex[c >> 4];
                }
                ref[n++] = hex[c & 15];
                ref[n++] = ';';
                ref[n] = '\0';
                rep = ref;
            }
            break;
        }
        int rc = rep ? buf_puts(b, rep) : buf_append(b, &s[i], 1);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

uint8_t *buf_steal(struct buf *b, size_t *len_out)
{
    uint8_t *p = b->data;
    if (len_out != NULL) {
        *len_out = b->len;
    }
    memset(b, 0, sizeof(*b));
    return p;
}

int buf_status(const struct buf *b)
{
    return b->failed ? SL_E(NOMEM) : 0;
}
