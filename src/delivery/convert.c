/*
 * JSON records to typed column buffers (see convert.h for the mapping and coercions).
 *
 * A column builder (struct colb) per column, and one per nested element, key, value and
 * struct field, holds its rows in growing arrays: a null byte per row, the values in the
 * writer's layout, and n + 1 offsets for LIST and MAP. A record is converted straight
 * into the builders while it is read; when it turns out not to fit, every top-level
 * builder is cut back to the row count it had before (a builder's children are cut to
 * what its own remaining rows reach), so a failed record leaves nothing behind.
 */
#include "delivery/convert.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "core/jsonscan.h"
#include "core/mem.h"
#include "core/text.h"

/* ---- Hive type text ------------------------------------------------------------------ */

struct tparse {
    const char *p;
    char *why;
    size_t why_len;
    int depth;
};

static void skip_sp(struct tparse *tp)
{
    while (*tp->p == ' ' || *tp->p == '\t' || *tp->p == '\n') {
        tp->p++;
    }
}

static int tfail(struct tparse *tp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int tfail(struct tparse *tp, const char *fmt, ...)
{
    if (tp->why != NULL && tp->why_len > 0 && tp->why[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(tp->why, tp->why_len, fmt, ap);
        va_end(ap);
    }
    return SL_E(VALIDATION);
}

/* Reads an identifier-like word (letters, digits, _) into out; its length. */
static size_t word(struct tparse *tp, char *out, size_t cap)
{
    skip_sp(tp);
    size_t n = 0;
    while (isalnum((unsigned char)*tp->p) || *tp->p == '_') {
        if (n + 1 < cap) {
            out[n++] = (char)tolower((unsigned char)*tp->p);
        }
        tp->p++;
    }
    out[n] = '\0';
    return n;
}

static int expect_ch(struct tparse *tp, char c)
{
    skip_sp(tp);
    if (*tp->p != c) {
        return tfail(tp, "expected '%c' at \"%.20s\"", c, tp->p);
    }
    tp->p++;
    return 0;
}

static int read_uint(struct tparse *tp, unsigned long *out)
{
    skip_sp(tp);
    if (!isdigit((unsigned char)*tp->p)) {
        return tfail(tp, "expected a number at \"%.20s\"", tp->p);
    }
    unsigned long v = 0;
    while (isdigit((unsigned char)*tp->p)) {
        v = v * 10 + (unsigned long)(*tp->p - '0');
        if (v > 1000000000UL) {
            return tfail(tp, "number too large");
        }
        tp->p++;
    }
    *out = v;
    return 0;
}

static int parse_type(struct tparse *tp, struct conv_type **out);

static void set_duck(struct conv_type *t)
{
    static const enum duck_type_id ids[] = {
        [CONV_BOOLEAN] = DUCK_T_BOOLEAN,   [CONV_TINYINT] = DUCK_T_TINYINT,
        [CONV_SMALLINT] = DUCK_T_SMALLINT, [CONV_INT] = DUCK_T_INTEGER,
        [CONV_BIGINT] = DUCK_T_BIGINT,     [CONV_FLOAT] = DUCK_T_FLOAT,
        [CONV_DOUBLE] = DUCK_T_DOUBLE,     [CONV_DECIMAL] = DUCK_T_DECIMAL,
        [CONV_STRING] = DUCK_T_VARCHAR,    [CONV_VARCHAR] = DUCK_T_VARCHAR,
        [CONV_CHAR] = DUCK_T_VARCHAR,      [CONV_BINARY] = DUCK_T_BLOB,
        [CONV_DATE] = DUCK_T_DATE,         [CONV_TIMESTAMP] = DUCK_T_TIMESTAMP,
        [CONV_ARRAY] = DUCK_T_LIST,        [CONV_MAP] = DUCK_T_MAP,
        [CONV_STRUCT] = DUCK_T_STRUCT,
    };
    memset(&t->duck, 0, sizeof(t->duck));
    t->duck.id = ids[t->kind];
    t->duck.width = t->precision;
    t->duck.scale = t->scale;
    if (t->elem != NULL) {
        t->duck.element = &t->elem->duck;
    }
    if (t->key != NULL) {
        t->duck.key = &t->key->duck;
        t->duck.value = &t->value->duck;
    }
    if (t->kind == CONV_STRUCT) {
        t->duck_fields = xcalloc(t->n_fields, sizeof(*t->duck_fields));
        for (size_t i = 0; i < t->n_fields; i++) {
            t->duck_fields[i].name = t->fields[i].name;
            t->duck_fields[i].type = &t->fields[i].type->duck;
        }
        t->duck.fields = t->duck_fields;
        t->duck.n_fields = t->n_fields;
    }
}

static int parse_struct(struct tparse *tp, struct conv_type *t)
{
    int rc = expect_ch(tp, '<');
    size_t cap = 0;
    skip_sp(tp);
    if (rc == 0 && *tp->p == '>') {
        return tfail(tp, "a struct with no fields cannot be converted to Parquet");
    }
    while (rc == 0) {
        skip_sp(tp);
        const char *start = tp->p;
        while (*tp->p != '\0' && *tp->p != ':' && *tp->p != '<' && *tp->p != '>' && *tp->p != ',') {
            tp->p++;
        }
        size_t len = (size_t)(tp->p - start);
        while (len > 0 && start[len - 1] == ' ') {
            len--;
        }
        if (len == 0) {
            return tfail(tp, "a struct field needs a name");
        }
        if ((rc = expect_ch(tp, ':')) < 0) {
            return rc;
        }
        if (t->n_fields == cap) {
            cap = cap ? cap * 2 : 4;
            t->fields = xrealloc(t->fields, cap * sizeof(*t->fields));
        }
        struct conv_field *f = &t->fields[t->n_fields];
        f->name = xstrndup(start, len);
        f->type = NULL;
        t->n_fields++;
        for (size_t i = 0; i + 1 < t->n_fields; i++) {
            if (strcasecmp(t->fields[i].name, f->name) == 0) {
                return tfail(tp, "duplicate struct field \"%s\"", f->name);
            }
        }
        if ((rc = parse_type(tp, &f->type)) < 0) {
            return rc;
        }
        skip_sp(tp);
        if (*tp->p == ',') {
            tp->p++;
            continue;
        }
        return expect_ch(tp, '>');
    }
    return rc;
}

static int parse_type(struct tparse *tp, struct conv_type **out)
{
    if (++tp->depth > 32) {
        return tfail(tp, "type nested too deeply");
    }
    char w[32];
    word(tp, w, sizeof(w));
    struct conv_type *t = xcalloc(1, sizeof(*t));
    *out = t;
    int rc = 0;
    unsigned long n = 0, s = 0;
    if (strcmp(w, "boolean") == 0) {
        t->kind = CONV_BOOLEAN;
    } else if (strcmp(w, "tinyint") == 0) {
        t->kind = CONV_TINYINT;
    } else if (strcmp(w, "smallint") == 0) {
        t->kind = CONV_SMALLINT;
    } else if (strcmp(w, "int") == 0 || strcmp(w, "integer") == 0) {
        t->kind = CONV_INT;
    } else if (strcmp(w, "bigint") == 0) {
        t->kind = CONV_BIGINT;
    } else if (strcmp(w, "float") == 0 || strcmp(w, "real") == 0) {
        t->kind = CONV_FLOAT;
    } else if (strcmp(w, "double") == 0) {
        t->kind = CONV_DOUBLE;
        const char *save = tp->p; /* "double precision" */
        char w2[16];
        if (word(tp, w2, sizeof(w2)) == 0 || strcmp(w2, "precision") != 0) {
            tp->p = save;
        }
    } else if (strcmp(w, "decimal") == 0 || strcmp(w, "numeric") == 0) {
        t->kind = CONV_DECIMAL;
        t->precision = 10;
        skip_sp(tp);
        if (*tp->p == '(') {
            tp->p++;
            if ((rc = read_uint(tp, &n)) < 0) {
                return rc;
            }
            skip_sp(tp);
            if (*tp->p == ',') {
                tp->p++;
                if ((rc = read_uint(tp, &s)) < 0) {
                    return rc;
                }
            }
            if ((rc = expect_ch(tp, ')')) < 0) {
                return rc;
            }
            if (n < 1 || n > 38 || s > n) {
                return tfail(tp, "decimal(%lu,%lu) is out of range", n, s);
            }
            t->precision = (uint8_t)n;
            t->scale = (uint8_t)s;
        }
    } else if (strcmp(w, "string") == 0) {
        t->kind = CONV_STRING;
    } else if (strcmp(w, "varchar") == 0 || strcmp(w, "char") == 0) {
        t->kind = w[0] == 'v' ? CONV_VARCHAR : CONV_CHAR;
        if ((rc = expect_ch(tp, '(')) < 0 || (rc = read_uint(tp, &n)) < 0 ||
            (rc = expect_ch(tp, ')')) < 0) {
            return rc;
        }
        if (n < 1 || n > 65535) {
            return tfail(tp, "%s(%lu) is out of range", w, n);
        }
        t->max_chars = (uint32_t)n;
    } else if (strcmp(w, "binary") == 0) {
        t->kind = CONV_BINARY;
    } else if (strcmp(w, "date") == 0) {
        t->kind = CONV_DATE;
    } else if (strcmp(w, "timestamp") == 0) {
        t->kind = CONV_TIMESTAMP;
    } else if (strcmp(w, "array") == 0) {
        t->kind = CONV_ARRAY;
        if ((rc = expect_ch(tp, '<')) < 0 || (rc = parse_type(tp, &t->elem)) < 0 ||
            (rc = expect_ch(tp, '>')) < 0) {
            return rc;
        }
    } else if (strcmp(w, "map") == 0) {
        t->kind = CONV_MAP;
        if ((rc = expect_ch(tp, '<')) < 0 || (rc = parse_type(tp, &t->key)) < 0 ||
            (rc = expect_ch(tp, ',')) < 0 || (rc = parse_type(tp, &t->value)) < 0 ||
            (rc = expect_ch(tp, '>')) < 0) {
            return rc;
        }
        if (t->key->kind >= CONV_ARRAY) {
            return tfail(tp, "a map key must be a primitive type");
        }
    } else if (strcmp(w, "struct") == 0) {
        t->kind = CONV_STRUCT;
        if ((rc = parse_struct(tp, t)) < 0) {
            return rc;
        }
    } else if (strcmp(w, "uniontype") == 0 || strcmp(w, "interval") == 0 ||
               strcmp(w, "void") == 0) {
        return tfail(tp, "type %s cannot be converted to Parquet", w);
    } else {
        return tfail(tp, "unknown type \"%s\"", w);
    }
    set_duck(t);
    tp->depth--;
    return 0;
}

int delivery__hive_type_parse(const char *text, struct conv_type **out, char *why, size_t why_len)
{
    struct tparse tp = {.p = text, .why = why, .why_len = why_len};
    if (why != NULL && why_len > 0) {
        why[0] = '\0';
    }
    struct conv_type *t = NULL;
    int rc = parse_type(&tp, &t);
    if (rc == 0) {
        skip_sp(&tp);
        if (*tp.p != '\0') {
            rc = tfail(&tp, "unexpected \"%.20s\" after the type", tp.p);
        }
    }
    if (rc < 0) {
        delivery__hive_type_free(t);
        *out = NULL;
        return rc;
    }
    *out = t;
    return 0;
}

void delivery__hive_type_free(struct conv_type *t)
{
    if (t == NULL) {
        return;
    }
    delivery__hive_type_free(t->elem);
    delivery__hive_type_free(t->key);
    delivery__hive_type_free(t->value);
    for (size_t i = 0; i < t->n_fields; i++) {
        free(t->fields[i].name);
        delivery__hive_type_free(t->fields[i].type);
    }
    free(t->fields);
    free(t->duck_fields);
    free(t);
}

/* ---- column builders ----------------------------------------------------------------- */

struct colb {
    const struct conv_type *t;
    size_t n;     /* rows */
    size_t width; /* bytes of a value; 0 for LIST, MAP, STRUCT */
    struct buf nulls;
    struct buf vals;
    struct buf offs; /* LIST, MAP: uint64_t, n + 1 */
    struct colb *kids;
    size_t n_kids;
    struct duck_colbuf *kid_cbs;
    int any_null;
};

struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    char data[];
};

struct conv_batch {
    struct conv_options opt;
    size_t n_cols;
    struct conv_type **types;
    char **col_names; /* as the table gives them */
    char **json_keys; /* the key each column is read from, normalized */
    size_t *key_lens;
    struct duck_field *fields;
    struct colb *cols;
    struct duck_colbuf *cbs;
    uint8_t *seen;
    size_t rows;
    struct arena_block *arena;
    char **ts_formats;
    size_t n_ts_formats;
    struct conv_error *err;
    const char *cur_col;
};

static size_t width_of(enum conv_kind k, uint8_t precision)
{
    switch (k) {
    case CONV_BOOLEAN:
    case CONV_TINYINT: return 1;
    case CONV_SMALLINT: return 2;
    case CONV_INT:
    case CONV_FLOAT:
    case CONV_DATE: return 4;
    case CONV_BIGINT:
    case CONV_DOUBLE:
    case CONV_TIMESTAMP: return 8;
    case CONV_DECIMAL: return precision <= 18 ? 8 : sizeof(struct duck_int128);
    case CONV_STRING:
    case CONV_VARCHAR:
    case CONV_CHAR:
    case CONV_BINARY: return sizeof(struct duck_str);
    default: return 0;
    }
}

static void colb_init(struct colb *c, const struct conv_type *t)
{
    memset(c, 0, sizeof(*c));
    c->t = t;
    c->width = width_of(t->kind, t->precision);
    buf_init(&c->nulls);
    buf_init(&c->vals);
    buf_init(&c->offs);
    uint64_t zero = 0;
    if (t->kind == CONV_ARRAY || t->kind == CONV_MAP) {
        buf_append(&c->offs, &zero, sizeof(zero));
    }
    if (t->kind == CONV_ARRAY) {
        c->n_kids = 1;
        c->kids = xcalloc(1, sizeof(*c->kids));
        colb_init(&c->kids[0], t->elem);
    } else if (t->kind == CONV_MAP) {
        c->n_kids = 2;
        c->kids = xcalloc(2, sizeof(*c->kids));
        colb_init(&c->kids[0], t->key);
        colb_init(&c->kids[1], t->value);
    } else if (t->kind == CONV_STRUCT) {
        c->n_kids = t->n_fields;
        c->kids = xcalloc(t->n_fields, sizeof(*c->kids));
        for (size_t i = 0; i < t->n_fields; i++) {
            colb_init(&c->kids[i], t->fields[i].type);
        }
    }
    if (c->n_kids > 0) {
        c->kid_cbs = xcalloc(c->n_kids, sizeof(*c->kid_cbs));
    }
}

static void colb_fini(struct colb *c)
{
    buf_fini(&c->nulls);
    buf_fini(&c->vals);
    buf_fini(&c->offs);
    for (size_t i = 0; i < c->n_kids; i++) {
        colb_fini(&c->kids[i]);
    }
    free(c->kids);
    free(c->kid_cbs);
}

static uint64_t last_off(const struct colb *c)
{
    uint64_t v;
    memcpy(&v, c->offs.data + c->offs.len - sizeof(v), sizeof(v));
    return v;
}

/* Cuts c back to n rows (and its children to what those rows reach). */
static void colb_truncate(struct colb *c, size_t n)
{
    if (c->n > n) {
        c->n = n;
        c->nulls.len = n;
        c->vals.len = n * c->width;
    }
    n = c->n;
    if (c->t->kind == CONV_ARRAY || c->t->kind == CONV_MAP) {
        c->offs.len = (n + 1) * sizeof(uint64_t);
        uint64_t reach = last_off(c);
        for (size_t i = 0; i < c->n_kids; i++) {
            colb_truncate(&c->kids[i], (size_t)reach);
        }
    } else if (c->t->kind == CONV_STRUCT) {
        for (size_t i = 0; i < c->n_kids; i++) {
            colb_truncate(&c->kids[i], n);
        }
    }
}

static void colb_reset(struct colb *c)
{
    colb_truncate(c, 0);
    c->any_null = 0;
}

static void push_row(struct colb *c, uint8_t is_null, const void *value)
{
    buf_append(&c->nulls, &is_null, 1);
    if (c->width > 0) {
        buf_append(&c->vals, value, c->width);
    }
    c->any_null |= is_null;
    c->n++;
}

static void push_null(struct colb *c)
{
    static const uint8_t zeros[32];
    push_row(c, 1, zeros);
    if (c->t->kind == CONV_ARRAY || c->t->kind == CONV_MAP) {
        uint64_t o = last_off(c);
        buf_append(&c->offs, &o, sizeof(o));
    } else if (c->t->kind == CONV_STRUCT) {
        for (size_t i = 0; i < c->n_kids; i++) {
            push_null(&c->kids[i]);
        }
    }
}

static void colb_cb(struct colb *c, struct duck_colbuf *cb)
{
    cb->is_null = c->any_null ? c->nulls.data : NULL;
    cb->values = c->width > 0 ? (const void *)c->vals.data : NULL;
    cb->offsets =
        c->t->kind == CONV_ARRAY || c->t->kind == CONV_MAP ? (const uint64_t *)c->offs.data : NULL;
    for (size_t i = 0; i < c->n_kids; i++) {
        colb_cb(&c->kids[i], &c->kid_cbs[i]);
    }
    cb->children = c->kid_cbs;
}

static int colb_failed(const struct colb *c)
{
    if (c->nulls.failed || c->vals.failed || c->offs.failed) {
        return 1;
    }
    for (size_t i = 0; i < c->n_kids; i++) {
        if (colb_failed(&c->kids[i])) {
            return 1;
        }
    }
    return 0;
}

/* ---- arena for decoded strings -------------------------------------------------------- */

static char *arena_alloc(struct conv_batch *b, size_t n)
{
    struct arena_block *a = b->arena;
    if (a == NULL || a->cap - a->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        a = xmalloc(sizeof(*a) + cap);
        a->used = 0;
        a->cap = cap;
        a->next = b->arena;
        b->arena = a;
    }
    char *p = a->data + a->used;
    a->used += n;
    return p;
}

static void arena_free(struct conv_batch *b)
{
    while (b->arena != NULL) {
        struct arena_block *next = b->arena->next;
        free(b->arena);
        b->arena = next;
    }
}

/* ---- values --------------------------------------------------------------------------- */

static int malformed(struct conv_batch *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int malformed(struct conv_batch *b, const char *fmt, ...)
{
    b->err->code = CONV_MALFORMED;
    char what[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(b->err->message, sizeof(b->err->message), "Column '%s': %s", b->cur_col, what);
    return 1;
}

static int parse_error(struct conv_batch *b, const char *why)
{
    b->err->code = CONV_PARSE_ERROR;
    snprintf(b->err->message, sizeof(b->err->message), "The record is not valid JSON: %s", why);
    return 1;
}

static const char *kind_word(enum jscan_kind k)
{
    switch (k) {
    case JSCAN_STRING: return "a string";
    case JSCAN_NUMBER: return "a number";
    case JSCAN_OBJECT: return "an object";
    case JSCAN_ARRAY: return "an array";
    case JSCAN_BOOL: return "a boolean";
    default: return "null";
    }
}

static const char *type_word(const struct conv_type *t)
{
    static const char *names[] = {"boolean", "tinyint",   "smallint", "int",     "bigint", "float",
                                  "double",  "decimal",   "string",   "varchar", "char",   "binary",
                                  "date",    "timestamp", "array",    "map",     "struct"};
    return names[t->kind];
}

/* A string value's bytes (decoded when it has escapes). */
static int string_value(struct conv_batch *b, const struct jstr *js, struct duck_str *out)
{
    if (!js->has_escapes) {
        out->ptr = js->raw;
        out->len = js->raw_len;
        return 0;
    }
    char *dst = arena_alloc(b, js->raw_len + 1);
    long n = jscan_unescape(js, dst);
    if (n < 0) {
        return -1;
    }
    out->ptr = dst;
    out->len = (size_t)n;
    return 0;
}

/* Parses an optionally signed decimal integer text, whole. */
static int parse_i64(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) {
        neg = s[i] == '-';
        i++;
    }
    if (i == n) {
        return -1;
    }
    uint64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return -2;
        }
        v = v * 10 + d;
    }
    if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX) {
        return -2;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static int parse_double(const char *s, size_t n, double *out)
{
    char tmp[128];
    if (n == 0 || n >= sizeof(tmp)) {
        return -1;
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end;
    double v = strtod(tmp, &end);
    if (end != tmp + n || isspace((unsigned char)tmp[0])) {
        return -1;
    }
    *out = v;
    return 0;
}

/* A decimal text (sign, digits, point, digits, exponent) as an unscaled integer at scale,
   rounded half away from zero. 0, -1 not a number, -2 too many digits for precision. */
static int parse_decimal(const char *s, size_t n, int precision, int scale, __int128 *out)
{
    size_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) {
        neg = s[i] == '-';
        i++;
    }
    char digits[80];
    size_t nd = 0;
    int point = -1, any = 0;
    for (; i < n; i++) {
        if (s[i] >= '0' && s[i] <= '9') {
            if (nd == 0 && s[i] == '0' && point < 0) {
                any = 1;
                continue; /* leading zero */
            }
            if (nd >= sizeof(digits)) {
                return -2;
            }
            digits[nd++] = s[i];
            any = 1;
        } else if (s[i] == '.' && point < 0) {
            point = (int)nd;
        } else {
            break;
        }
    }
    if (!any) {
        return -1;
    }
    long exp10 = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        int64_t e;
        if (parse_i64(s + i + 1, n - i - 1, &e) != 0 || e > 100 || e < -100) {
            return -1;
        }
        exp10 = (long)e;
        i = n;
    }
    if (i != n) {
        return -1;
    }
    /* value = 0.digits... : integer part has (point<0 ? nd : point) + exp10 digits */
    long int_digits = (point < 0 ? (long)nd : point) + exp10;
    /* unscaled = digits shifted so that scale fractional digits remain */
    long keep = int_digits + scale; /* digits of the unscaled value */
    __int128 v = 0;
    for (long k = 0; k < keep; k++) {
        int d = k < (long)nd && k >= 0 ? digits[k] - '0' : 0;
        v = v * 10 + d;
        if (v >= (__int128)1 << 125) {
            return -2;
        }
    }
    if (keep >= 0 && keep < (long)nd && digits[keep] >= '5') {
        v += 1;
    }
    __int128 limit = 1;
    for (int k = 0; k < precision; k++) {
        limit *= 10;
    }
    if (v >= limit) {
        return -2;
    }
    *out = neg ? -v : v;
    return 0;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int days_in_month(int64_t y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}

/* Reads 1..max digits. */
static int digits_n(const char **p, const char *end, int min, int max, int64_t *out)
{
    int64_t v = 0;
    int k = 0;
    while (*p < end && k < max && **p >= '0' && **p <= '9') {
        v = v * 10 + (**p - '0');
        (*p)++;
        k++;
    }
    if (k < min) {
        return -1;
    }
    *out = v;
    return 0;
}

/* Reads ".fraction" (1..9 digits) as microseconds, when present. */
static int fraction_us(const char **p, const char *end, int64_t *us)
{
    *us = 0;
    if (*p < end && **p == '.') {
        (*p)++;
        int k = 0;
        int64_t v = 0;
        while (*p < end && **p >= '0' && **p <= '9' && k < 9) {
            v = v * 10 + (**p - '0');
            (*p)++;
            k++;
        }
        if (k == 0) {
            return -1;
        }
        for (; k < 6; k++) {
            v *= 10;
        }
        for (; k > 6; k--) {
            v /= 10;
        }
        *us = v;
    }
    return 0;
}

static int make_ts(int64_t y, int64_t mo, int64_t d, int64_t h, int64_t mi, int64_t s, int64_t us,
                   int64_t *out)
{
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, (int)mo) || h > 23 || mi > 59 ||
        s > 59) {
        return -1;
    }
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    *out = ((days * 24 + h) * 60 + mi) * 60 * 1000000 + s * 1000000 + us;
    return 0;
}

/* yyyy-[M]M-[d]d into days; *p advanced. */
static int parse_date_part(const char **p, const char *end, int64_t *y, int64_t *mo, int64_t *d)
{
    if (digits_n(p, end, 4, 4, y) < 0 || *p >= end || **p != '-') {
        return -1;
    }
    (*p)++;
    if (digits_n(p, end, 1, 2, mo) < 0 || *p >= end || **p != '-') {
        return -1;
    }
    (*p)++;
    return digits_n(p, end, 1, 2, d);
}

/* The default timestamp forms: date, 'T' or ' ', HH:mm:ss, optional fraction, optional
   'Z' (with 'T' only, for OpenX; Hive's valueOf form only takes ' '). */
static int parse_ts_text(const char *s, size_t n, int openx, int64_t *out)
{
    const char *p = s, *end = s + n;
    int64_t y, mo, d, h, mi, sec, us;
    if (parse_date_part(&p, end, &y, &mo, &d) < 0 || p >= end) {
        return -1;
    }
    char sep = *p++;
    if (sep != ' ' && !(openx && sep == 'T')) {
        return -1;
    }
    if (digits_n(&p, end, 1, 2, &h) < 0 || p >= end || *p++ != ':' ||
        digits_n(&p, end, 1, 2, &mi) < 0 || p >= end || *p++ != ':' ||
        digits_n(&p, end, 1, 2, &sec) < 0 || fraction_us(&p, end, &us) < 0) {
        return -1;
    }
    if (sep == 'T') {
        if (p >= end || *p++ != 'Z') {
            return -1;
        }
    }
    if (p != end) {
        return -1;
    }
    return make_ts(y, mo, d, h, mi, sec, us, out);
}

/* A Joda pattern of y M d H m s S and literals ('...' or punctuation). */
static int parse_ts_joda(const char *pat, const char *s, size_t n, int64_t *out)
{
    const char *p = s, *end = s + n;
    int64_t y = 1970, mo = 1, d = 1, h = 0, mi = 0, sec = 0, us = 0;
    for (const char *q = pat; *q != '\0';) {
        char c = *q;
        if (c == '\'') {
            q++;
            while (*q != '\0' && *q != '\'') {
                if (p >= end || *p != *q) {
                    return -1;
                }
                p++;
                q++;
            }
            if (*q == '\'') {
                q++;
            }
            continue;
        }
        int count = 0;
        while (q[count] == c) {
            count++;
        }
        q += count;
        int64_t v = 0;
        switch (c) {
        case 'y':
        case 'Y':
            if (digits_n(&p, end, count == 2 ? 2 : 1, count == 2 ? 2 : 4, &v) < 0) {
                return -1;
            }
            y = count == 2 ? 2000 + v : v;
            break;
        case 'M':
        case 'd':
        case 'H':
        case 'm':
        case 's': {
            /* The two-digit fields: as many digits as letters, at most two. */
            int64_t *field = c == 'M' ? &mo : c == 'd' ? &d : c == 'H' ? &h : c == 'm' ? &mi : &sec;
            if (digits_n(&p, end, count, 2, field) < 0) {
                return -1;
            }
            break;
        }
        case 'S': {
            int k = 0;
            v = 0;
            while (p < end && *p >= '0' && *p <= '9' && k < 9) {
                v = v * 10 + (*p++ - '0');
                k++;
            }
            if (k == 0) {
                return -1;
            }
            for (; k < 6; k++) {
                v *= 10;
            }
            for (; k > 6; k--) {
                v /= 10;
            }
            us = v;
            break;
        }
        default:
            if (isalpha((unsigned char)c)) {
                return -1; /* a letter this subset does not read */
            }
            for (int k = 0; k < count; k++) {
                if (p >= end || *p != c) {
                    return -1;
                }
                p++;
            }
        }
    }
    if (p != end) {
        return -1;
    }
    return make_ts(y, mo, d, h, mi, sec, us, out);
}

static int ts_from_number(const char *text, size_t len, int64_t *out)
{
    int64_t iv;
    int rc = parse_i64(text, len, &iv);
    if (rc == 0) {
        int64_t mag = iv < 0 ? -iv : iv;
        if (mag >= 100000000000LL) { /* 12 digits or more: milliseconds */
            if (mag > INT64_MAX / 1000) {
                return -1;
            }
            *out = iv * 1000;
        } else {
            *out = iv * 1000000;
        }
        return 0;
    }
    double dv;
    if (rc == -1 && parse_double(text, len, &dv) == 0 && isfinite(dv) && fabs(dv) < 9.2e12) {
        *out = (int64_t)llround(dv * 1e6);
        return 0;
    }
    return -1;
}

static int put_value(struct conv_batch *b, struct colb *c, struct jscan *s);

static int put_int(struct conv_batch *b, struct colb *c, const char *text, size_t len)
{
    int64_t v;
    int rc = parse_i64(text, len, &v);
    if (rc == -1) {
        return malformed(b, "\"%.*s\" is not an integer for type %s", (int)(len > 40 ? 40 : len),
                         text, type_word(c->t));
    }
    static const int64_t lo[] = {[CONV_TINYINT] = INT8_MIN,
                                 [CONV_SMALLINT] = INT16_MIN,
                                 [CONV_INT] = INT32_MIN,
                                 [CONV_BIGINT] = INT64_MIN};
    static const int64_t hi[] = {[CONV_TINYINT] = INT8_MAX,
                                 [CONV_SMALLINT] = INT16_MAX,
                                 [CONV_INT] = INT32_MAX,
                                 [CONV_BIGINT] = INT64_MAX};
    if (rc == -2 || v < lo[c->t->kind] || v > hi[c->t->kind]) {
        return malformed(b, "%.*s is out of range for type %s", (int)(len > 40 ? 40 : len), text,
                         type_word(c->t));
    }
    int8_t i8 = (int8_t)v;
    int16_t i16 = (int16_t)v;
    int32_t i32 = (int32_t)v;
    const void *pv = c->t->kind == CONV_TINYINT    ? (const void *)&i8
                     : c->t->kind == CONV_SMALLINT ? (const void *)&i16
                     : c->t->kind == CONV_INT      ? (const void *)&i32
                                                   : (const void *)&v;
    push_row(c, 0, pv);
    return 0;
}

static int put_real(struct conv_batch *b, struct colb *c, const char *text, size_t len)
{
    double v;
    if (parse_double(text, len, &v) < 0) {
        return malformed(b, "\"%.*s\" is not a number for type %s", (int)(len > 40 ? 40 : len),
                         text, type_word(c->t));
    }
    if (c->t->kind == CONV_FLOAT) {
        if (isfinite(v) && fabs(v) > FLT_MAX) {
            return malformed(b, "%.*s is out of range for type float", (int)(len > 40 ? 40 : len),
                             text);
        }
        float f = (float)v;
        push_row(c, 0, &f);
    } else {
        if (isinf(v) && len > 0 && isdigit((unsigned char)text[len - 1])) {
            return malformed(b, "%.*s is out of range for type double", (int)(len > 40 ? 40 : len),
                             text);
        }
        push_row(c, 0, &v);
    }
    return 0;
}

static int put_decimal(struct conv_batch *b, struct colb *c, const char *text, size_t len)
{
    __int128 v;
    int rc = parse_decimal(text, len, c->t->precision, c->t->scale, &v);
    if (rc < 0) {
        return malformed(b,
                         rc == -1 ? "\"%.*s\" is not a number for type decimal(%d,%d)"
                                  : "%.*s is out of range for type decimal(%d,%d)",
                         (int)(len > 40 ? 40 : len), text, c->t->precision, c->t->scale);
    }
    if (c->t->precision <= 18) {
        int64_t i = (int64_t)v;
        push_row(c, 0, &i);
    } else {
        struct duck_int128 w = {.lo = (uint64_t)v, .hi = (int64_t)(v >> 64)};
        push_row(c, 0, &w);
    }
    return 0;
}

/* Cuts a string to max_chars UTF-8 characters. */
static size_t cut_chars(const char *p, size_t len, uint32_t max_chars)
{
    size_t i = 0;
    for (uint32_t k = 0; i < len && k < max_chars; k++) {
        i++;
        while (i < len && ((unsigned char)p[i] & 0xC0) == 0x80) {
            i++;
        }
    }
    return i;
}

static int put_text(struct conv_batch *b, struct colb *c, struct duck_str str)
{
    (void)b;
    if (c->t->kind == CONV_VARCHAR || c->t->kind == CONV_CHAR) {
        str.len = cut_chars(str.ptr, str.len, c->t->max_chars);
    }
    push_row(c, 0, &str);
    return 0;
}

static int put_scalar_text(struct conv_batch *b, struct colb *c, const char *text, size_t len,
                           int from_string)
{
    const struct conv_type *t = c->t;
    switch (t->kind) {
    case CONV_BOOLEAN: {
        uint8_t v;
        if (len == 4 && strncasecmp(text, "true", 4) == 0) {
            v = 1;
        } else if (len == 5 && strncasecmp(text, "false", 5) == 0) {
            v = 0;
        } else {
            return malformed(b, "\"%.*s\" is not a boolean", (int)(len > 40 ? 40 : len), text);
        }
        push_row(c, 0, &v);
        return 0;
    }
    case CONV_TINYINT:
    case CONV_SMALLINT:
    case CONV_INT:
    case CONV_BIGINT: return put_int(b, c, text, len);
    case CONV_FLOAT:
    case CONV_DOUBLE: return put_real(b, c, text, len);
    case CONV_DECIMAL: return put_decimal(b, c, text, len);
    case CONV_STRING:
    case CONV_VARCHAR:
    case CONV_CHAR:
    case CONV_BINARY: return put_text(b, c, (struct duck_str){text, len});
    case CONV_DATE: {
        const char *p = text, *end = text + len;
        int64_t y, mo, d;
        if (from_string && parse_date_part(&p, end, &y, &mo, &d) == 0 && p == end && mo >= 1 &&
            mo <= 12 && d >= 1 && d <= days_in_month(y, (int)mo)) {
            int32_t days = (int32_t)days_from_civil(y, (unsigned)mo, (unsigned)d);
            push_row(c, 0, &days);
            return 0;
        }
        int64_t v;
        if (!from_string && parse_i64(text, len, &v) == 0 && v >= INT32_MIN && v <= INT32_MAX) {
            int32_t days = (int32_t)v;
            push_row(c, 0, &days);
            return 0;
        }
        return malformed(b, "\"%.*s\" is not a date (yyyy-MM-dd)", (int)(len > 40 ? 40 : len),
                         text);
    }
    case CONV_TIMESTAMP: {
        int64_t us;
        if (b->opt.hive) {
            for (size_t i = 0; i < b->n_ts_formats; i++) {
                int64_t ms;
                if (strcmp(b->ts_formats[i], "millis") == 0) {
                    if (parse_i64(text, len, &ms) == 0 && ms < INT64_MAX / 1000 &&
                        ms > INT64_MIN / 1000) {
                        us = ms * 1000;
                        push_row(c, 0, &us);
                        return 0;
                    }
                } else if (from_string && parse_ts_joda(b->ts_formats[i], text, len, &us) == 0) {
                    push_row(c, 0, &us);
                    return 0;
                }
            }
            if (from_string && parse_ts_text(text, len, 0, &us) == 0) {
                push_row(c, 0, &us);
                return 0;
            }
        } else if (parse_ts_text(text, len, 1, &us) == 0 || ts_from_number(text, len, &us) == 0) {
            push_row(c, 0, &us);
            return 0;
        }
        return malformed(b, "\"%.*s\" is not a timestamp", (int)(len > 40 ? 40 : len), text);
    }
    default: return malformed(b, "a scalar cannot be read as type %s", type_word(t));
    }
}

static int put_object(struct conv_batch *b, struct colb *c, struct jscan *s);

static int put_value(struct conv_batch *b, struct colb *c, struct jscan *s)
{
    enum jscan_kind k = jscan_peek(s);
    const struct conv_type *t = c->t;
    switch (k) {
    case JSCAN_END: return parse_error(b, s->error != NULL ? s->error : "unexpected end");
    case JSCAN_NULL:
        if (jscan_skip(s) < 0) {
            return parse_error(b, s->error);
        }
        push_null(c);
        return 0;
    case JSCAN_STRING: {
        struct jstr js;
        if (jscan_string(s, &js) < 0) {
            return parse_error(b, s->error);
        }
        struct duck_str str;
        if (string_value(b, &js, &str) < 0) {
            return parse_error(b, "bad escape in a string");
        }
        if (t->kind >= CONV_ARRAY) {
            return malformed(b, "expected type %s, found a string", type_word(t));
        }
        if (b->opt.hive && t->kind >= CONV_TINYINT && t->kind <= CONV_DECIMAL) {
            return malformed(b, "expected type %s, found a string", type_word(t));
        }
        return put_scalar_text(b, c, str.ptr, str.len, 1);
    }
    case JSCAN_NUMBER: {
        const char *text;
        size_t len;
        if (jscan_number(s, &text, &len) < 0) {
            return parse_error(b, s->error);
        }
        if (t->kind >= CONV_ARRAY || t->kind == CONV_BOOLEAN || t->kind == CONV_BINARY) {
            return malformed(b, "expected type %s, found a number", type_word(t));
        }
        if (t->kind == CONV_TIMESTAMP && b->opt.hive) {
            int ok = 0;
            for (size_t i = 0; i < b->n_ts_formats; i++) {
                ok |= strcmp(b->ts_formats[i], "millis") == 0;
            }
            if (!ok) {
                return malformed(b, "expected type timestamp, found a number");
            }
        }
        return put_scalar_text(b, c, text, len, 0);
    }
    case JSCAN_BOOL: {
        const char *start = s->p;
        if (jscan_skip(s) < 0) {
            return parse_error(b, s->error);
        }
        if (t->kind == CONV_BOOLEAN) {
            uint8_t v = start[0] == 't';
            push_row(c, 0, &v);
            return 0;
        }
        if (!b->opt.hive &&
            (t->kind == CONV_STRING || t->kind == CONV_VARCHAR || t->kind == CONV_CHAR)) {
            return put_text(b, c, (struct duck_str){start, (size_t)(s->p - start)});
        }
        return malformed(b, "expected type %s, found a boolean", type_word(t));
    }
    case JSCAN_ARRAY:
        if (t->kind == CONV_ARRAY) {
            if (jscan_array_begin(s) < 0) {
                return parse_error(b, s->error);
            }
            uint64_t n = last_off(c);
            int more;
            while ((more = jscan_array_next(s)) == 1) {
                int rc = put_value(b, &c->kids[0], s);
                if (rc != 0) {
                    return rc;
                }
                n++;
            }
            if (more < 0) {
                return parse_error(b, s->error);
            }
            buf_append(&c->offs, &n, sizeof(n));
            push_row(c, 0, NULL);
            return 0;
        }
        break;
    case JSCAN_OBJECT:
        if (t->kind == CONV_MAP || t->kind == CONV_STRUCT) {
            return put_object(b, c, s);
        }
        break;
    }
    if (!b->opt.hive && (t->kind == CONV_STRING || t->kind == CONV_VARCHAR)) {
        /* OpenX keeps a nested value's JSON text in a string column. */
        const char *start = s->p;
        if (jscan_skip(s) < 0) {
            return parse_error(b, s->error);
        }
        return put_text(b, c, (struct duck_str){start, (size_t)(s->p - start)});
    }
    return malformed(b, "expected type %s, found %s", type_word(t), kind_word(k));
}

/* Lower-cases (when asked) and maps dots to underscores (when asked) into out. */
static size_t norm_key(const struct conv_batch *b, const char *k, size_t n, char *out, size_t cap)
{
    if (n > cap) {
        return (size_t)-1;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = k[i];
        if (b->opt.case_insensitive && ch >= 'A' && ch <= 'Z') {
            ch = (char)(ch + 32);
        }
        if (b->opt.dots_to_underscores && ch == '.') {
            ch = '_';
        }
        out[i] = ch;
    }
    return n;
}

/* A key's text, decoded when it has escapes (into scratch of cap bytes). */
static int key_text(const struct jstr *key, char *scratch, size_t cap, const char **p, size_t *n)
{
    if (!key->has_escapes) {
        *p = key->raw;
        *n = key->raw_len;
        return 0;
    }
    if (key->raw_len > cap) {
        *p = NULL;
        *n = (size_t)-1;
        return 0;
    }
    long len = jscan_unescape(key, scratch);
    if (len < 0) {
        return -1;
    }
    *p = scratch;
    *n = (size_t)len;
    return 0;
}

static int put_object(struct conv_batch *b, struct colb *c, struct jscan *s)
{
    const struct conv_type *t = c->t;
    if (jscan_object_begin(s) < 0) {
        return parse_error(b, s->error);
    }
    struct jstr key;
    int more;
    if (t->kind == CONV_MAP) {
        uint64_t n = last_off(c);
        while ((more = jscan_object_next(s, &key)) == 1) {
            struct duck_str ks;
            if (string_value(b, &key, &ks) < 0) {
                return parse_error(b, "bad escape in a key");
            }
            int rc = put_scalar_text(b, &c->kids[0], ks.ptr, ks.len, 1);
            if (rc == 0) {
                rc = put_value(b, &c->kids[1], s);
            }
            if (rc != 0) {
                return rc;
            }
            n++;
        }
        if (more < 0) {
            return parse_error(b, s->error);
        }
        buf_append(&c->offs, &n, sizeof(n));
        push_row(c, 0, NULL);
        return 0;
    }
    /* STRUCT */
    uint8_t seen_small[64];
    uint8_t *seen = t->n_fields <= sizeof(seen_small) ? seen_small : xcalloc(t->n_fields, 1);
    memset(seen, 0, t->n_fields);
    int rc = 0;
    char scratch[256], normed[256];
    while (rc == 0 && (more = jscan_object_next(s, &key)) == 1) {
        const char *kp;
        size_t kn;
        if (key_text(&key, scratch, sizeof(scratch), &kp, &kn) < 0) {
            rc = parse_error(b, "bad escape in a key");
            break;
        }
        size_t nn = kp != NULL ? norm_key(b, kp, kn, normed, sizeof(normed)) : (size_t)-1;
        size_t f = t->n_fields;
        for (size_t i = 0; nn != (size_t)-1 && i < t->n_fields; i++) {
            const char *fname = t->fields[i].name;
            if (strlen(fname) == nn &&
                (b->opt.case_insensitive ? strncasecmp(fname, normed, nn)
                                         : strncmp(fname, normed, nn)) == 0) {
                f = i;
                break;
            }
        }
        if (f == t->n_fields || seen[f]) {
            if (jscan_skip(s) < 0) {
                rc = parse_error(b, s->error);
            }
            continue;
        }
        seen[f] = 1;
        rc = put_value(b, &c->kids[f], s);
    }
    if (rc == 0 && more < 0) {
        rc = parse_error(b, s->error);
    }
    if (rc == 0) {
        for (size_t i = 0; i < t->n_fields; i++) {
            if (!seen[i]) {
                push_null(&c->kids[i]);
            }
        }
        push_row(c, 0, NULL);
    }
    if (seen != seen_small) {
        free(seen);
    }
    return rc;
}

/* ---- the batch ------------------------------------------------------------------------ */

int delivery__conv_create(const struct catalog_column *cols, size_t n_cols,
                          const struct conv_options *opt, struct conv_batch **out, char *why,
                          size_t why_len)
{
    *out = NULL;
    if (n_cols == 0) {
        snprintf(why, why_len, "the table has no columns");
        return SL_E(VALIDATION);
    }
    struct conv_batch *b = xcalloc(1, sizeof(*b));
    b->opt = *opt;
    b->opt.map_columns = NULL;
    b->opt.map_keys = NULL;
    b->opt.ts_formats = NULL;
    b->n_cols = n_cols;
    b->types = xcalloc(n_cols, sizeof(*b->types));
    b->col_names = xcalloc(n_cols, sizeof(*b->col_names));
    b->json_keys = xcalloc(n_cols, sizeof(*b->json_keys));
    b->key_lens = xcalloc(n_cols, sizeof(*b->key_lens));
    b->fields = xcalloc(n_cols, sizeof(*b->fields));
    b->cols = xcalloc(n_cols, sizeof(*b->cols));
    b->cbs = xcalloc(n_cols, sizeof(*b->cbs));
    b->seen = xcalloc(n_cols, 1);
    b->n_ts_formats = opt->n_ts_formats;
    b->ts_formats = xcalloc(opt->n_ts_formats + 1, sizeof(char *));
    for (size_t i = 0; i < opt->n_ts_formats; i++) {
        b->ts_formats[i] = xstrdup(opt->ts_formats[i]);
    }
    for (size_t i = 0; i < n_cols; i++) {
        char tw[200];
        if (delivery__hive_type_parse(cols[i].type, &b->types[i], tw, sizeof(tw)) < 0) {
            snprintf(why, why_len, "column '%s': %s", cols[i].name, tw);
            b->n_cols = i;
            delivery__conv_destroy(b);
            return SL_E(VALIDATION);
        }
        b->col_names[i] = xstrdup(cols[i].name);
        for (size_t k = 0; k < i; k++) {
            if (strcasecmp(b->col_names[k], b->col_names[i]) == 0) {
                snprintf(why, why_len, "duplicate column '%s'", cols[i].name);
                b->n_cols = i + 1;
                delivery__conv_destroy(b);
                return SL_E(VALIDATION);
            }
        }
        const char *key = cols[i].name;
        for (size_t m = 0; m < opt->n_map; m++) {
            if (strcasecmp(opt->map_columns[m], cols[i].name) == 0) {
                key = opt->map_keys[m];
            }
        }
        size_t kl = strlen(key);
        b->json_keys[i] = xmalloc(kl + 1);
        for (size_t k = 0; k < kl; k++) {
            char ch = key[k];
            if (opt->case_insensitive && ch >= 'A' && ch <= 'Z') {
                ch = (char)(ch + 32);
            }
            if (opt->dots_to_underscores && ch == '.') {
                ch = '_'; /* a mapped key is compared as the record's keys are */
            }
            b->json_keys[i][k] = ch;
        }
        b->json_keys[i][kl] = '\0';
        b->key_lens[i] = kl;
        b->fields[i].name = b->col_names[i];
        b->fields[i].type = &b->types[i]->duck;
        colb_init(&b->cols[i], b->types[i]);
    }
    *out = b;
    return 0;
}

void delivery__conv_destroy(struct conv_batch *b)
{
    if (b == NULL) {
        return;
    }
    for (size_t i = 0; i < b->n_cols; i++) {
        if (b->cols[i].t != NULL) {
            colb_fini(&b->cols[i]);
        }
        delivery__hive_type_free(b->types[i]);
        free(b->col_names[i]);
        free(b->json_keys[i]);
    }
    for (size_t i = 0; i < b->n_ts_formats; i++) {
        free(b->ts_formats[i]);
    }
    free(b->ts_formats);
    free(b->types);
    free(b->col_names);
    free(b->json_keys);
    free(b->key_lens);
    free(b->fields);
    free(b->cols);
    free(b->cbs);
    free(b->seen);
    arena_free(b);
    free(b);
}

void delivery__conv_reset(struct conv_batch *b)
{
    for (size_t i = 0; i < b->n_cols; i++) {
        colb_reset(&b->cols[i]);
    }
    b->rows = 0;
    arena_free(b);
}

int delivery__conv_record(struct conv_batch *b, const uint8_t *data, size_t len,
                          struct conv_error *e)
{
    e->code = NULL;
    e->message[0] = '\0';
    b->err = e;
    b->cur_col = "";
    if (!text_utf8_valid(data, len)) {
        e->code = CONV_PARSE_ERROR;
        snprintf(e->message, sizeof(e->message), "The record is not valid UTF-8");
        return 1;
    }
    struct jscan s;
    jscan_init(&s, (const char *)data, len);
    enum jscan_kind k = jscan_peek(&s);
    if (k != JSCAN_OBJECT) {
        e->code = CONV_PARSE_ERROR;
        snprintf(e->message, sizeof(e->message),
                 k == JSCAN_ARRAY ? "The record is a JSON array; a JSON object is expected"
                 : k == JSCAN_END ? "The record is empty; a JSON object is expected"
                                  : "The record is not a JSON object");
        return 1;
    }
    jscan_object_begin(&s);
    memset(b->seen, 0, b->n_cols);
    int rc = 0, more;
    struct jstr key;
    char scratch[256], normed[256];
    while (rc == 0 && (more = jscan_object_next(&s, &key)) == 1) {
        const char *kp;
        size_t kn;
        if (key_text(&key, scratch, sizeof(scratch), &kp, &kn) < 0) {
            rc = parse_error(b, "bad escape in a key");
            break;
        }
        size_t nn = kp != NULL ? norm_key(b, kp, kn, normed, sizeof(normed)) : (size_t)-1;
        size_t col = b->n_cols;
        for (size_t i = 0; nn != (size_t)-1 && i < b->n_cols; i++) {
            if (b->key_lens[i] == nn && memcmp(b->json_keys[i], normed, nn) == 0) {
                col = i;
                break;
            }
        }
        if (col == b->n_cols || b->seen[col]) {
            if (jscan_skip(&s) < 0) {
                rc = parse_error(b, s.error);
            }
            continue;
        }
        b->seen[col] = 1;
        b->cur_col = b->col_names[col];
        rc = put_value(b, &b->cols[col], &s);
    }
    if (rc == 0 && more < 0) {
        rc = parse_error(b, s.error);
    }
    if (rc == 0 && jscan_finish(&s) < 0) {
        rc = parse_error(b, s.error != NULL ? s.error : "text after the object");
    }
    if (rc != 0) {
        for (size_t i = 0; i < b->n_cols; i++) {
            colb_truncate(&b->cols[i], b->rows);
        }
        return 1;
    }
    for (size_t i = 0; i < b->n_cols; i++) {
        if (!b->seen[i]) {
            push_null(&b->cols[i]);
        }
    }
    b->rows++;
    for (size_t i = 0; i < b->n_cols; i++) {
        if (colb_failed(&b->cols[i])) {
            return SL_E(NOMEM);
        }
    }
    return 0;
}

size_t delivery__conv_rows(const struct conv_batch *b)
{
    return b->rows;
}

const struct duck_field *delivery__conv_columns(const struct conv_batch *b, size_t *n)
{
    *n = b->n_cols;
    return b->fields;
}

const struct duck_colbuf *delivery__conv_colbufs(struct conv_batch *b)
{
    for (size_t i = 0; i < b->n_cols; i++) {
        colb_cb(&b->cols[i], &b->cbs[i]);
    }
    return b->cbs;
}

/* ---- the error record ------------------------------------------------------------------ */

static void json_str_or_null(struct buf *out, const char *s)
{
    if (s == NULL) {
        buf_puts(out, "null");
    } else {
        buf_json_string(out, s, strlen(s));
    }
}

int delivery__conv_error_json(struct buf *out, const struct conv_error *e, int64_t arrival_ms,
                              int64_t attempt_end_ms, const uint8_t *data, size_t len,
                              const char *seqno, const struct conv_error_ctx *ctx)
{
    buf_printf(out, "{\"attemptsMade\":1,\"arrivalTimestamp\":%lld,\"lastErrorCode\":",
               (long long)arrival_ms);
    json_str_or_null(out, e->code);
    buf_puts(out, ",\"lastErrorMessage\":");
    json_str_or_null(out, e->message);
    buf_printf(out, ",\"attemptEndingTimestamp\":%lld,\"rawData\":\"", (long long)attempt_end_ms);
    char *b64 =
        buf_reserve(out, BASE64_ENCODED_LEN(len) + 1) != NULL ? (char *)out->data + out->len : NULL;
    if (b64 != NULL) {
        out->len += base64_encode(data, len, b64);
        out->data[out->len] = '\0';
    }
    buf_putc(out, '"');
    if (seqno != NULL) {
        buf_puts(out, ",\"sequenceNumber\":");
        json_str_or_null(out, seqno);
        if (e->sub > 0) {
            buf_printf(out, ",\"subSequenceNumber\":%u", e->sub - 1);
        } else {
            buf_puts(out, ",\"subSequenceNumber\":null");
        }
    }
    buf_puts(out, ",\"dataCatalogTable\":{\"catalogId\":");
    json_str_or_null(out, ctx->catalog_id);
    buf_puts(out, ",\"databaseName\":");
    json_str_or_null(out, ctx->database);
    buf_puts(out, ",\"tableName\":");
    json_str_or_null(out, ctx->table);
    buf_puts(out, ",\"region\":");
    json_str_or_null(out, ctx->region);
    buf_puts(out, ",\"versionId\":");
    json_str_or_null(out, ctx->version_id);
    buf_puts(out, ",\"catalogArn\":");
    json_str_or_null(out, ctx->catalog_arn);
    buf_puts(out, "}}\n");
    return buf_status(out);
}
