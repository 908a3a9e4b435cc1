#include "core/jsonscan.h"

#include <string.h>

#define JSCAN_MAX_DEPTH 64

void jscan_init(struct jscan *s, const char *text, size_t len)
{
    s->p = text;
    s->end = text + len;
    s->depth = 0;
    s->error = NULL;
}

static int fail(struct jscan *s, const char *why)
{
    if (s->error == NULL) {
        s->error = why;
    }
    s->p = s->end;
    return -1;
}

static void skip_ws(struct jscan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t')) {
        s->p++;
    }
}

enum jscan_kind jscan_peek(struct jscan *s)
{
    skip_ws(s);
    if (s->error != NULL || s->p >= s->end) {
        return JSCAN_END;
    }
    switch (*s->p) {
    case '"': return JSCAN_STRING;
    case '{': return JSCAN_OBJECT;
    case '[': return JSCAN_ARRAY;
    case 't':
    case 'f': return JSCAN_BOOL;
    case 'n': return JSCAN_NULL;
    default: return JSCAN_NUMBER;
    }
}

static int expect(struct jscan *s, char c, const char *why)
{
    skip_ws(s);
    if (s->error != NULL || s->p >= s->end || *s->p != c) {
        return fail(s, why);
    }
    s->p++;
    return 0;
}

int jscan_object_begin(struct jscan *s)
{
    if (expect(s, '{', "expected an object") < 0) {
        return -1;
    }
    if (++s->depth > JSCAN_MAX_DEPTH) {
        return fail(s, "nesting too deep");
    }
    skip_ws(s);
    return 0;
}

/* After '{' or '[' the first element has no comma; after one, a comma is required. */
static int after_open(const struct jscan *s, char open)
{
    const char *q = s->p - 1;
    while (*q == ' ' || *q == '\n' || *q == '\r' || *q == '\t') {
        q--;
    }
    return *q == open;
}

int jscan_object_next(struct jscan *s, struct jstr *key)
{
    skip_ws(s);
    if (s->error != NULL || s->p >= s->end) {
        return fail(s, "unterminated object");
    }
    if (*s->p == '}') {
        s->p++;
        s->depth--;
        return 0;
    }
    if (!after_open(s, '{') && expect(s, ',', "expected ',' between members") < 0) {
        return -1;
    }
    if (jscan_string(s, key) < 0) {
        return -1;
    }
    return expect(s, ':', "expected ':' after a key") < 0 ? -1 : 1;
}

int jscan_array_begin(struct jscan *s)
{
    if (expect(s, '[', "expected an array") < 0) {
        return -1;
    }
    if (++s->depth > JSCAN_MAX_DEPTH) {
        return fail(s, "nesting too deep");
    }
    skip_ws(s);
    return 0;
}

int jscan_array_next(struct jscan *s)
{
    skip_ws(s);
    if (s->error != NULL || s->p >= s->end) {
        return fail(s, "unterminated array");
    }
    if (*s->p == ']') {
        s->p++;
        s->depth--;
        return 0;
    }
    if (!after_open(s, '[') && expect(s, ',', "expected ',' between elements") < 0) {
        return -1;
    }
    skip_ws(s);
    if (s->p >= s->end || *s->p == ']') {
        return fail(s, "expected a value");
    }
    return 1;
}

int jscan_string_or_null(struct jscan *s, struct jstr *out, int *has)
{
    enum jscan_kind kind = jscan_peek(s);
    if (kind == JSCAN_NULL) {
        return jscan_skip(s);
    }
    if (kind != JSCAN_STRING) {
        s->error = "unexpected value type";
        return -1;
    }
    *has = 1;
    return jscan_string(s, out);
}

int jscan_string(struct jscan *s, struct jstr *out)
{
    if (expect(s, '"', "expected a string") < 0) {
        return -1;
    }
    const char *start = s->p;
    int escapes = 0;
    for (;;) {
        /* memchr finds the closing quote candidate fast; one pass then checks what lies
           before it for escapes and control characters. */
        const char *q = memchr(s->p, '"', (size_t)(s->end - s->p));
        if (q == NULL) {
            return fail(s, "unterminated string");
        }
        const char *c = s->p;
        while (c < q && (unsigned char)*c >= 0x20 && *c != '\\') {
            c++;
        }
        if (c == q) {
            s->p = q;
            break;
        }
        if ((unsigned char)*c < 0x20) {
            return fail(s, "control character in string");
        }
        escapes = 1; /* a backslash: skip it and the character it escapes */
        if (c + 1 >= s->end) {
            return fail(s, "unterminated string");
        }
        s->p = c + 2;
    }
    out->raw = start;
    out->raw_len = (size_t)(s->p - start);
    out->has_escapes = escapes;
    s->p++;
    return 0;
}

int jscan_number(struct jscan *s, const char **text, size_t *len)
{
    skip_ws(s);
    const char *start = s->p;
    if (s->p < s->end && *s->p == '-') {
        s->p++;
    }
    const char *digits = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
        s->p++;
    }
    if (s->p == digits) {
        return fail(s, "expected a number");
    }
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        const char *frac = s->p;
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
            s->p++;
        }
        if (s->p == frac) {
            return fail(s, "bad number");
        }
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-')) {
            s->p++;
        }
        const char *exp = s->p;
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
            s->p++;
        }
        if (s->p == exp) {
            return fail(s, "bad number");
        }
    }
    *text = start;
    *len = (size_t)(s->p - start);
    return 0;
}

static int literal(struct jscan *s, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0) {
        return fail(s, "bad literal");
    }
    s->p += n;
    return 0;
}

int jscan_skip(struct jscan *s)
{
    struct jstr str;
    const char *text;
    size_t len;
    int more;
    switch (jscan_peek(s)) {
    case JSCAN_STRING: return jscan_string(s, &str);
    case JSCAN_NUMBER: return jscan_number(s, &text, &len);
    case JSCAN_BOOL: return literal(s, *s->p == 't' ? "true" : "false");
    case JSCAN_NULL: return literal(s, "null");
    case JSCAN_OBJECT:
        if (jscan_object_begin(s) < 0) {
            return -1;
        }
        while ((more = jscan_object_next(s, &str)) == 1) {
            if (jscan_skip(s) < 0) {
                return -1;
            }
        }
        return more;
    case JSCAN_ARRAY:
        if (jscan_array_begin(s) < 0) {
            return -1;
        }
        while ((more = jscan_array_next(s)) == 1) {
            if (jscan_skip(s) < 0) {
                return -1;
            }
        }
        return more;
    case JSCAN_END: break;
    }
    return fail(s, "expected a value");
}

int jscan_finish(struct jscan *s)
{
    skip_ws(s);
    if (s->error != NULL) {
        return -1;
    }
    return s->p == s->end ? 0 : fail(s, "trailing characters");
}

int jstr_eq(const struct jstr *key, const char *name)
{
    size_t n = strlen(name);
    return !key->has_escapes && key->raw_len == n && memcmp(key->raw, name, n) == 0;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= (unsigned)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            v |= (unsigned)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            v |= (unsigned)(c - 'A' + 10);
        } else {
            return -1;
        }
    }
    *out = v;
    return 0;
}

long jscan_unescape(const struct jstr *str, char *out)
{
    const char *p = str->raw;
    const char *end = str->raw + str->raw_len;
    char *o = out;
    while (p < end) {
        if (*p != '\\') {
            *o++ = *p++;
            continue;
        }
        if (p + 1 >= end) {
            return -1;
        }
        char c = p[1];
        p += 2;
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp;
            if (end - p < 4 || hex4(p, &cp) < 0) {
                return -1;
            }
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) < 0 ||
                    lo < 0xDC00 || lo > 0xDFFF) {
                    return -1;
                }
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return -1;
            }
            /* A \u escape takes 6 input bytes and at most 4 output bytes (a pair: 12/4). */
            if (cp < 0x80) {
                *o++ = (char)cp;
            } else if (cp < 0x800) {
                *o++ = (char)(0xC0 | (cp >> 6));
                *o++ = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                *o++ = (char)(0xE0 | (cp >> 12));
                *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                *o++ = (char)(0x80 | (cp & 0x3F));
            } else {
                *o++ = (char)(0xF0 | (cp >> 18));
                *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
                *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                *o++ = (char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default: return -1;
        }
    }
    return (long)(o - out);
}
