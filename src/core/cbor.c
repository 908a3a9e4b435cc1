/*
 * CBOR to and from jansson values (cbor.h). The decoder is a recursive descent bounded
 * by the depth limit; every length is checked against the bytes left before anything
 * is allocated for it.
 */
#include "core/cbor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "core/mem.h"

enum { MAJ_UINT, MAJ_NEGINT, MAJ_BYTES, MAJ_TEXT, MAJ_ARRAY, MAJ_MAP, MAJ_TAG, MAJ_SIMPLE };

#define CBOR_BREAK 0xff

struct dec {
    const uint8_t *p, *end;
    int max_depth;
    double epoch_scale;
    struct err_info *err;
};

/* The head of a data item: its major type and argument (or float bits). */
struct head {
    int major;
    int ai;       /* additional information, the low five bits */
    uint64_t arg; /* the argument; for major 7 with ai 25..27 the float's bits */
    int indefinite;
};

static int malformed(struct dec *d, const char *why)
{
    return err_set(d->err, SL_E(SERIALIZATION), "Malformed CBOR request body: %s", why);
}

static size_t left(const struct dec *d)
{
    return (size_t)(d->end - d->p);
}

static int read_head(struct dec *d, struct head *h)
{
    if (d->p >= d->end) {
        return malformed(d, "unexpected end of input");
    }
    uint8_t ib = *d->p++;
    h->major = ib >> 5;
    h->ai = ib & 31;
    h->indefinite = 0;
    h->arg = 0;
    if (h->ai < 24) {
        h->arg = (uint64_t)h->ai;
        return 0;
    }
    if (h->ai >= 28 && h->ai <= 30) {
        return malformed(d, "reserved additional information");
    }
    if (h->ai == 31) {
        if (h->major == MAJ_UINT || h->major == MAJ_NEGINT || h->major == MAJ_TAG) {
            return malformed(d, "indefinite length on a type that has none");
        }
        if (h->major == MAJ_SIMPLE) {
            return malformed(d, "break outside an indefinite-length item");
        }
        h->indefinite = 1;
        return 0;
    }
    size_t n = (size_t)1 << (h->ai - 24);
    if (left(d) < n) {
        return malformed(d, "unexpected end of input");
    }
    for (size_t i = 0; i < n; i++) {
        h->arg = h->arg << 8 | *d->p++;
    }
    return 0;
}

static double half_to_double(uint16_t bits)
{
    int exp = (bits >> 10) & 0x1f;
    int mant = bits & 0x3ff;
    double v;
    if (exp == 0) {
        v = ldexp(mant, -24);
    } else if (exp != 31) {
        v = ldexp(mant + 1024, exp - 25);
    } else {
        v = mant == 0 ? INFINITY : NAN;
    }
    return (bits & 0x8000) ? -v : v;
}

/* The bytes of a byte or text string whose head is h: borrowed from the input when
   definite (*owned NULL), else gathered from its chunks into *owned (free it). */
static int read_string(struct dec *d, const struct head *h, const uint8_t **data, size_t *len,
                       uint8_t **owned)
{
    *owned = NULL;
    if (!h->indefinite) {
        if (h->arg > left(d)) {
            return malformed(d, "string longer than the input");
        }
        *data = d->p;
        *len = (size_t)h->arg;
        d->p += *len;
        return 0;
    }
    struct buf acc;
    buf_init(&acc);
    for (;;) {
        if (d->p >= d->end) {
            buf_fini(&acc);
            return malformed(d, "unexpected end of input");
        }
        if (*d->p == CBOR_BREAK) {
            d->p++;
            break;
        }
        struct head chunk;
        int rc = read_head(d, &chunk);
        if (rc == 0 && (chunk.major != h->major || chunk.indefinite)) {
            rc = malformed(d, "an indefinite string's chunk is not a definite string of its type");
        }
        if (rc == 0 && chunk.arg > left(d)) {
            rc = malformed(d, "string longer than the input");
        }
        if (rc == 0 && buf_append(&acc, d->p, (size_t)chunk.arg) < 0) {
            rc = SL_E(NOMEM);
        }
        if (rc < 0) {
            buf_fini(&acc);
            return rc;
        }
        d->p += chunk.arg;
    }
    *len = acc.len;
    *owned = buf_steal(&acc, NULL);
    *data = *owned != NULL ? *owned : (const uint8_t *)"";
    return 0;
}

static int decode_item(struct dec *d, int depth, json_t **out);

static int decode_string(struct dec *d, const struct head *h, json_t **out)
{
    const uint8_t *data = NULL;
    size_t len = 0;
    uint8_t *owned;
    int rc = read_string(d, h, &data, &len, &owned);
    if (rc < 0) {
        return rc;
    }
    if (h->major == MAJ_TEXT) {
        *out = json_stringn((const char *)data, len);
        if (*out == NULL) {
            rc = malformed(d, "text string is not valid UTF-8");
        }
    } else {
        char *text = try_malloc(BASE64_ENCODED_LEN(len) + 1);
        if (text == NULL) {
            rc = SL_E(NOMEM);
        } else {
            size_t n = base64_encode(data, len, text);
            *out = json_stringn_nocheck(text, n); /* base64 is ASCII */
            rc = *out != NULL ? 0 : SL_E(NOMEM);
            free(text);
        }
    }
    free(owned);
    return rc;
}

/* 1 when the next byte ends an indefinite-length container (and consumes it). */
static int at_break(struct dec *d)
{
    if (d->p < d->end && *d->p == CBOR_BREAK) {
        d->p++;
        return 1;
    }
    return 0;
}

static int decode_array(struct dec *d, const struct head *h, int depth, json_t **out)
{
    if (!h->indefinite && h->arg > left(d)) {
        return malformed(d, "array longer than the input");
    }
    json_t *arr = json_array();
    if (arr == NULL) {
        return SL_E(NOMEM);
    }
    for (uint64_t i = 0; h->indefinite || i < h->arg; i++) {
        if (h->indefinite && at_break(d)) {
            break;
        }
        json_t *item;
        int rc = decode_item(d, depth + 1, &item);
        if (rc == 0 && json_array_append_new(arr, item) < 0) {
            rc = SL_E(NOMEM);
        }
        if (rc < 0) {
            json_decref(arr);
            return rc;
        }
    }
    *out = arr;
    return 0;
}

static int decode_map(struct dec *d, const struct head *h, int depth, json_t **out)
{
    if (!h->indefinite && h->arg > left(d) / 2) {
        return malformed(d, "map longer than the input");
    }
    json_t *obj = json_object();
    if (obj == NULL) {
        return SL_E(NOMEM);
    }
    for (uint64_t i = 0; h->indefinite || i < h->arg; i++) {
        if (h->indefinite && at_break(d)) {
            break;
        }
        int rc = 0;
        if (d->p >= d->end || (*d->p >> 5) != MAJ_TEXT) {
            rc = malformed(d, d->p >= d->end ? "unexpected end of input"
                                             : "a map key is not a text string");
        }
        struct head kh;
        json_t *key = NULL, *value = NULL;
        if (rc == 0) {
            rc = read_head(d, &kh);
        }
        if (rc == 0) {
            rc = decode_string(d, &kh, &key);
        }
        if (rc == 0 && json_object_getn(obj, json_string_value(key), json_string_length(key))) {
            rc = malformed(d, "a map key appears twice");
        }
        if (rc == 0) {
            rc = decode_item(d, depth + 1, &value);
        }
        if (rc == 0 &&
            json_object_setn_new(obj, json_string_value(key), json_string_length(key), value) < 0) {
            rc = SL_E(NOMEM);
        }
        json_decref(key);
        if (rc < 0) {
            json_decref(obj);
            return rc;
        }
    }
    *out = obj;
    return 0;
}

static int decode_tag(struct dec *d, const struct head *h, int depth, json_t **out)
{
    if (h->arg == 2 || h->arg == 3) {
        return malformed(d, "bignums are not supported");
    }
    json_t *v;
    int rc = decode_item(d, depth + 1, &v);
    if (rc < 0 || h->arg != 1) {
        *out = v;
        return rc;
    }
    if (!json_is_number(v)) {
        json_decref(v);
        return malformed(d, "an epoch time (tag 1) is not a number");
    }
    double secs = json_number_value(v) * d->epoch_scale;
    json_decref(v);
    *out = json_real(secs);
    return *out != NULL ? 0 : malformed(d, "an epoch time (tag 1) is out of range");
}

static int decode_simple(struct dec *d, const struct head *h, json_t **out)
{
    double f;
    switch (h->ai) {
    case 20: *out = json_false(); return 0;
    case 21: *out = json_true(); return 0;
    case 22:
    case 23: *out = json_null(); return 0; /* undefined reads as null */
    case 25: f = half_to_double((uint16_t)h->arg); break;
    case 26: {
        uint32_t bits = (uint32_t)h->arg;
        float x;
        memcpy(&x, &bits, sizeof(x));
        f = x;
        break;
    }
    case 27: {
        uint64_t bits = h->arg;
        memcpy(&f, &bits, sizeof(f));
        break;
    }
    default: return malformed(d, "unsupported simple value");
    }
    if (!isfinite(f)) {
        return malformed(d, "NaN and infinite numbers are not supported");
    }
    *out = json_real(f);
    return *out != NULL ? 0 : SL_E(NOMEM);
}

static int decode_item(struct dec *d, int depth, json_t **out)
{
    *out = NULL;
    if (depth > d->max_depth) {
        return malformed(d, "nested too deeply");
    }
    struct head h;
    int rc = read_head(d, &h);
    if (rc < 0) {
        return rc;
    }
    switch (h.major) {
    case MAJ_UINT:
        *out = h.arg <= INT64_MAX ? json_integer((json_int_t)h.arg) : json_real((double)h.arg);
        break;
    case MAJ_NEGINT:
        *out = h.arg <= INT64_MAX ? json_integer(-1 - (json_int_t)h.arg)
                                  : json_real(-1.0 - (double)h.arg);
        break;
    case MAJ_BYTES:
    case MAJ_TEXT: return decode_string(d, &h, out);
    case MAJ_ARRAY: return decode_array(d, &h, depth, out);
    case MAJ_MAP: return decode_map(d, &h, depth, out);
    case MAJ_TAG: return decode_tag(d, &h, depth, out);
    default: return decode_simple(d, &h, out);
    }
    return *out != NULL ? 0 : SL_E(NOMEM);
}

int cbor_decode(const uint8_t *data, size_t len, const struct cbor_decode_opts *opts, json_t **out,
                struct err_info *err)
{
    struct dec d = {
        .p = data,
        .end = data + len,
        .max_depth = opts != NULL && opts->max_depth > 0 ? opts->max_depth : CBOR_MAX_DEPTH,
        .epoch_scale = opts != NULL && opts->epoch_scale != 0 ? opts->epoch_scale : 1.0,
        .err = err,
    };
    *out = NULL;
    json_t *v;
    int rc = decode_item(&d, 0, &v);
    if (rc == 0 && d.p != d.end) {
        json_decref(v);
        return malformed(&d, "bytes after the data item");
    }
    if (rc == SL_E(NOMEM)) {
        err_set(err, rc, "Out of memory decoding the request body.");
    }
    if (rc == 0) {
        *out = v;
    }
    return rc;
}

/* ---- encoding ---- */

static void put_head(struct buf *b, int major, uint64_t arg)
{
    uint8_t bytes[9];
    size_t n;
    uint8_t mt = (uint8_t)(major << 5);
    if (arg < 24) {
        bytes[0] = (uint8_t)(mt | arg);
        n = 1;
    } else if (arg <= 0xff) {
        bytes[0] = mt | 24;
        n = 2;
    } else if (arg <= 0xffff) {
        bytes[0] = mt | 25;
        n = 3;
    } else if (arg <= 0xffffffffu) {
        bytes[0] = mt | 26;
        n = 5;
    } else {
        bytes[0] = mt | 27;
        n = 9;
    }
    for (size_t i = 1; i < n; i++) {
        bytes[i] = (uint8_t)(arg >> (8 * (n - 1 - i)));
    }
    buf_append(b, bytes, n);
}

static void put_int(struct buf *b, int64_t v)
{
    if (v >= 0) {
        put_head(b, MAJ_UINT, (uint64_t)v);
    } else {
        put_head(b, MAJ_NEGINT, (uint64_t)(-(v + 1)));
    }
}

static void put_double(struct buf *b, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    uint8_t bytes[9] = {MAJ_SIMPLE << 5 | 27};
    for (int i = 0; i < 8; i++) {
        bytes[1 + i] = (uint8_t)(bits >> (8 * (7 - i)));
    }
    buf_append(b, bytes, sizeof(bytes));
}

static int listed(const char *const *names, const char *key)
{
    for (size_t i = 0; names != NULL && key != NULL && names[i] != NULL; i++) {
        if (strcmp(names[i], key) == 0) {
            return 1;
        }
    }
    return 0;
}

static void put_blob_or_text(struct buf *b, const char *s, size_t len, int blob)
{
    if (blob) {
        uint8_t *bytes = try_malloc(BASE64_DECODED_MAX(len) + 1);
        long n = bytes != NULL ? base64_decode(s, len, bytes) : -1;
        if (n >= 0) {
            put_head(b, MAJ_BYTES, (uint64_t)n);
            buf_append(b, bytes, (size_t)n);
            free(bytes);
            return;
        }
        free(bytes);
    }
    put_head(b, MAJ_TEXT, len);
    buf_append(b, s, len);
}

static void put_epoch(struct buf *b, double secs, double scale)
{
    put_head(b, MAJ_TAG, 1);
    double scaled = scale != 0 ? secs * scale : secs;
    if (scale != 0 && fabs(scaled) < 9.2e18) {
        put_int(b, (int64_t)llround(scaled));
    } else {
        put_double(b, scaled);
    }
}

/* key: the member name v is the value of (or an element of), NULL at the top. */
static void encode_value(const json_t *v, const char *key, const struct cbor_encode_opts *o,
                         struct buf *b)
{
    int epoch = o != NULL && listed(o->epoch_members, key);
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        put_head(b, MAJ_MAP, json_object_size(v));
        const char *k;
        size_t klen;
        json_t *member;
        json_object_keylen_foreach((json_t *)v, k, klen, member)
        {
            put_head(b, MAJ_TEXT, klen);
            buf_append(b, k, klen);
            encode_value(member, k, o, b);
        }
        break;
    }
    case JSON_ARRAY:
        put_head(b, MAJ_ARRAY, json_array_size(v));
        for (size_t i = 0; i < json_array_size(v); i++) {
            encode_value(json_array_get(v, i), key, o, b);
        }
        break;
    case JSON_STRING:
        put_blob_or_text(b, json_string_value(v), json_string_length(v),
                         o != NULL && listed(o->blob_members, key));
        break;
    case JSON_INTEGER:
        if (epoch) {
            put_epoch(b, (double)json_integer_value(v), o->epoch_scale);
        } else {
            put_int(b, json_integer_value(v));
        }
        break;
    case JSON_REAL:
        if (epoch) {
            put_epoch(b, json_real_value(v), o->epoch_scale);
        } else {
            put_double(b, json_real_value(v));
        }
        break;
    case JSON_TRUE: buf_putc(b, (char)(MAJ_SIMPLE << 5 | 21)); break;
    case JSON_FALSE: buf_putc(b, (char)(MAJ_SIMPLE << 5 | 20)); break;
    case JSON_NULL: buf_putc(b, (char)(MAJ_SIMPLE << 5 | 22)); break;
    }
}

int cbor_encode(const json_t *v, const struct cbor_encode_opts *opts, struct buf *out)
{
    encode_value(v, NULL, opts, out);
    return buf_status(out);
}

/* ---- JSON text ---- */

static void json_text(const json_t *v, struct buf *b)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        buf_putc(b, '{');
        const char *k;
        size_t klen;
        json_t *member;
        int first = 1;
        json_object_keylen_foreach((json_t *)v, k, klen, member)
        {
            if (!first) {
                buf_putc(b, ',');
            }
            first = 0;
            buf_json_string(b, k, klen);
            buf_putc(b, ':');
            json_text(member, b);
        }
        buf_putc(b, '}');
        break;
    }
    case JSON_ARRAY:
        buf_putc(b, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i > 0) {
                buf_putc(b, ',');
            }
            json_text(json_array_get(v, i), b);
        }
        buf_putc(b, ']');
        break;
    case JSON_STRING: buf_json_string(b, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
    case JSON_REAL: {
        char num[32];
        int n = snprintf(num, sizeof(num), "%.17g", json_real_value(v));
        /* a real stays a real: 2.0, not 2 */
        int integral = strspn(num, "-0123456789") == (size_t)n;
        buf_printf(b, "%s%s", num, integral ? ".0" : "");
        break;
    }
    case JSON_TRUE: buf_puts(b, "true"); break;
    case JSON_FALSE: buf_puts(b, "false"); break;
    case JSON_NULL: buf_puts(b, "null"); break;
    }
}

int cbor_json_text(const json_t *v, struct buf *out)
{
    json_text(v, out);
    return buf_status(out);
}
