/*
 * GetPartitions' Expression language: a tokenizer and a recursive-descent parser that
 * compile the text into a tree, and an evaluator run against each partition's values.
 *
 * Grammar (keywords case-insensitive):
 *   expr      = or
 *   or        = and { "OR" and }
 *   and       = unary { "AND" unary }
 *   unary     = "NOT" unary | primary
 *   primary   = "(" expr ")" | predicate
 *   predicate = operand ( cmp operand
 *                       | [ "NOT" ] "BETWEEN" operand "AND" operand
 *                       | [ "NOT" ] "IN" "(" operand { "," operand } ")"
 *                       | [ "NOT" ] "LIKE" operand
 *                       | "IS" [ "NOT" ] "NULL" )
 *   cmp       = "=" | "<>" | "!=" | "<" | ">" | "<=" | ">="
 *   operand   = key | string | number | "TRUE" | "FALSE"
 *   key       = identifier | `quoted identifier`     (a partition key, case-insensitive)
 *   string    = '...' or "..." ('' or \' inside for a quote)
 *   number    = [ "-" ] digits [ "." digits ] [ ("e"|"E") [sign] digits ]
 *
 * Typing: a comparison that involves a partition key compares in that key's type
 * (catalog_key_kind): integers and decimals numerically, dates by day, timestamps in time
 * order (a date alone is its midnight), strings by byte.
 * A literal compared with a key must convert to the key's type, else the expression is
 * refused (InvalidInputException). A stored value that does not convert makes the
 * comparison false. LIKE matches the value's text against % (any run) and _ (one byte).
 * Partition values are never null: IS NULL is false, IS NOT NULL true.
 *
 * Limits: 2,048 bytes of text (Glue's own limit on Expression), nesting 100.
 */
#include "catalog/catalog_int.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"

#define MAX_TEXT 2048
#define MAX_DEPTH 100

enum tok_kind { T_END, T_IDENT, T_STRING, T_NUMBER, T_OP, T_LPAREN, T_RPAREN, T_COMMA };

struct token {
    enum tok_kind kind;
    char *text; /* owned: identifier (lower-case), string contents, number, operator */
    size_t pos; /* byte offset in the expression, for messages */
    int quoted; /* identifier was `quoted` (never a keyword) */
};

enum node_kind { N_AND, N_OR, N_NOT, N_CMP, N_BETWEEN, N_IN, N_LIKE, N_ISNULL, N_CONST };
enum cmp_op { OP_EQ, OP_NE, OP_LT, OP_GT, OP_LE, OP_GE };

/* A typed value, converted once for literals and per row for keys. */
struct tval {
    int ok;        /* converted successfully */
    long long i;   /* CATALOG_KEY_INT, _DATE (days), _BOOL, _TIMESTAMP (seconds) */
    double d;      /* CATALOG_KEY_NUMBER */
    const char *s; /* CATALOG_KEY_STRING: bytes (not NUL-terminated) */
    size_t len;
};

struct operand {
    int key_idx;     /* partition key index, or -1 for a literal */
    char *text;      /* literal text (owned) */
    int is_number;   /* literal was written as a number */
    struct tval lit; /* literal converted to the comparison's kind */
};

struct node {
    enum node_kind kind;
    enum cmp_op op;                 /* N_CMP */
    int negate;                     /* N_BETWEEN, N_IN, N_LIKE, N_ISNULL */
    int value;                      /* N_CONST */
    enum catalog_key_kind cmp_kind; /* kind the comparison is made in */
    struct node *a, *b;             /* N_AND, N_OR (a, b), N_NOT (a) */
    struct operand *ops;            /* N_CMP: 2, N_BETWEEN: 3, N_IN: 1 + list, N_LIKE: 2 */
    size_t n_ops;
    struct catalog_like *like; /* N_LIKE with a literal pattern: compiled once (owned) */
};

struct catalog_expr {
    struct node *root; /* never NULL once compiled */
};

struct parser {
    const char *text;
    size_t pos;
    struct token tok; /* current token */
    int depth;
    const char *const *key_names;
    const enum catalog_key_kind *key_kinds;
    size_t n_keys;
    struct err_info *err;
    int failed;
};

static int perr(struct parser *p, const char *fmt, const char *arg)
{
    if (!p->failed) {
        char what[256];
        snprintf(what, sizeof(what), fmt, arg != NULL ? arg : "");
        err_set(p->err, SL_E(INVALID_INPUT), "Unsupported expression '%.200s': %s (at %zu).",
                p->text, what, p->tok.pos);
        p->failed = 1;
    }
    return -1;
}

/* ---- tokenizer ---- */

static int next(struct parser *p)
{
    free(p->tok.text);
    memset(&p->tok, 0, sizeof(p->tok));
    const char *s = p->text;
    while (isspace((unsigned char)s[p->pos])) {
        p->pos++;
    }
    p->tok.pos = p->pos;
    char c = s[p->pos];
    if (c == '\0') {
        p->tok.kind = T_END;
        return 0;
    }
    if (c == '(' || c == ')' || c == ',') {
        p->tok.kind = c == '(' ? T_LPAREN : c == ')' ? T_RPAREN : T_COMMA;
        p->pos++;
        return 0;
    }
    if (c == '=' || c == '<' || c == '>' || c == '!') {
        size_t n = 1;
        char d = s[p->pos + 1];
        if ((c == '<' && (d == '>' || d == '=')) || (c == '>' && d == '=') ||
            (c == '!' && d == '=')) {
            n = 2;
        } else if (c == '!') {
            return perr(p, "unexpected '!'", NULL);
        }
        p->tok.kind = T_OP;
        p->tok.text = xstrndup(s + p->pos, n);
        p->pos += n;
        return 0;
    }
    if (c == '\'' || c == '"') {
        struct buf b;
        buf_init(&b);
        size_t i = p->pos + 1;
        for (;;) {
            char ch = s[i];
            if (ch == '\0') {
                buf_fini(&b);
                return perr(p, "unterminated string", NULL);
            }
            if (ch == '\\' && s[i + 1] != '\0') {
                buf_putc(&b, s[i + 1]);
                i += 2;
                continue;
            }
            if (ch == c) {
                if (s[i + 1] == c) {
                    buf_putc(&b, c);
                    i += 2;
                    continue;
                }
                break;
            }
            buf_putc(&b, ch);
            i++;
        }
        buf_putc(&b, '\0');
        p->tok.kind = T_STRING;
        p->tok.text = (char *)buf_steal(&b, NULL);
        p->pos = i + 1;
        return 0;
    }
    if (c == '`') {
        const char *end = strchr(s + p->pos + 1, '`');
        if (end == NULL) {
            return perr(p, "unterminated quoted name", NULL);
        }
        p->tok.kind = T_IDENT;
        p->tok.quoted = 1;
        char *raw = xstrndup(s + p->pos + 1, (size_t)(end - (s + p->pos + 1)));
        p->tok.text = catalog__lower(raw);
        free(raw);
        p->pos = (size_t)(end - s) + 1;
        return 0;
    }
    if (isdigit((unsigned char)c) || (c == '-' && isdigit((unsigned char)s[p->pos + 1])) ||
        (c == '.' && isdigit((unsigned char)s[p->pos + 1]))) {
        size_t i = p->pos + (c == '-' ? 1 : 0);
        while (isdigit((unsigned char)s[i])) {
            i++;
        }
        if (s[i] == '.') {
            i++;
            while (isdigit((unsigned char)s[i])) {
                i++;
            }
        }
        if ((s[i] == 'e' || s[i] == 'E') &&
            (isdigit((unsigned char)s[i + 1]) ||
             ((s[i + 1] == '+' || s[i + 1] == '-') && isdigit((unsigned char)s[i + 2])))) {
            i += 2;
            while (isdigit((unsigned char)s[i])) {
                i++;
            }
        }
        p->tok.kind = T_NUMBER;
        p->tok.text = xstrndup(s + p->pos, i - p->pos);
        p->pos = i;
        return 0;
    }
    if (isalpha((unsigned char)c) || c == '_') {
        size_t i = p->pos;
        while (isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '$') {
            i++;
        }
        char *raw = xstrndup(s + p->pos, i - p->pos);
        p->tok.kind = T_IDENT;
        p->tok.text = catalog__lower(raw);
        free(raw);
        p->pos = i;
        return 0;
    }
    char what[8] = {c, '\0'};
    return perr(p, "unexpected character '%s'", what);
}

static int is_kw(const struct parser *p, const char *kw)
{
    return p->tok.kind == T_IDENT && !p->tok.quoted && strcmp(p->tok.text, kw) == 0;
}

static int is_reserved(const char *w)
{
    static const char *const kws[] = {"and", "or", "not", "between", "in", "like", "is", "null"};
    for (size_t i = 0; i < sizeof(kws) / sizeof(kws[0]); i++) {
        if (strcmp(w, kws[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* ---- typed values ---- */

static int parse_int(const char *s, size_t len, long long *out)
{
    size_t i = 0;
    int neg = 0;
    if (i < len && (s[i] == '-' || s[i] == '+')) {
        neg = s[i] == '-';
        i++;
    }
    if (i == len) {
        return -1;
    }
    unsigned long long v = 0;
    for (; i < len; i++) {
        if (!isdigit((unsigned char)s[i])) {
            return -1;
        }
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (9223372036854775807ULL + (unsigned)neg - d) / 10) {
            return -1;
        }
        v = v * 10 + d;
    }
    *out = neg ? (long long)(0 - v) : (long long)v;
    return 0;
}

static int parse_double(const char *s, size_t len, double *out)
{
    char tmp[64];
    if (len == 0 || len >= sizeof(tmp)) {
        return -1;
    }
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *end = NULL;
    errno = 0;
    double d = strtod(tmp, &end);
    if (end != tmp + len || errno != 0 || isnan(d) || isspace((unsigned char)tmp[0])) {
        return -1;
    }
    *out = d;
    return 0;
}

/* Days since 1970-01-01 of a yyyy-mm-dd date (proleptic Gregorian). */
static int parse_date(const char *s, size_t len, long long *out)
{
    if (len != 10 || s[4] != '-' || s[7] != '-') {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i])) {
            return -1; /* one text per day: no signs or blanks */
        }
    }
    long long y, m, d;
    if (parse_int(s, 4, &y) < 0 || parse_int(s + 5, 2, &m) < 0 || parse_int(s + 8, 2, &d) < 0 ||
        y < 0 || m < 1 || m > 12 || d < 1 || d > 31) {
        return -1;
    }
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[m - 1] || (m == 2 && d == 29 && !leap)) {
        return -1;
    }
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    *out = era * 146097 + doe - 719468;
    return 0;
}

/* Seconds since the epoch and nanoseconds of "yyyy-mm-dd[( |T)hh:mm:ss[.f...]]". */
static int parse_timestamp(const char *s, size_t len, long long *secs, double *nanos)
{
    long long days, h, m, sec;
    if (len < 10 || parse_date(s, 10, &days) < 0) {
        return -1;
    }
    *secs = days * 86400;
    *nanos = 0;
    if (len == 10) {
        return 0;
    }
    if (len < 19 || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':') {
        return -1;
    }
    for (size_t i = 11; i < 19; i++) {
        if (i != 13 && i != 16 && !isdigit((unsigned char)s[i])) {
            return -1;
        }
    }
    if (parse_int(s + 11, 2, &h) < 0 || parse_int(s + 14, 2, &m) < 0 ||
        parse_int(s + 17, 2, &sec) < 0 || h > 23 || m > 59 || sec > 60) {
        return -1;
    }
    *secs += h * 3600 + m * 60 + sec;
    if (len == 19) {
        return 0;
    }
    if (s[19] != '.' || len == 20 || len > 29) {
        return -1;
    }
    double scale = 1e8;
    for (size_t i = 20; i < len; i++, scale /= 10) {
        if (!isdigit((unsigned char)s[i])) {
            return -1;
        }
        *nanos += (s[i] - '0') * scale;
    }
    return 0;
}

static struct tval convert(enum catalog_key_kind kind, const char *s, size_t len)
{
    struct tval v = {.ok = 0, .s = s, .len = len};
    switch (kind) {
    case CATALOG_KEY_INT: v.ok = parse_int(s, len, &v.i) == 0; break;
    case CATALOG_KEY_NUMBER: v.ok = parse_double(s, len, &v.d) == 0; break;
    case CATALOG_KEY_DATE: v.ok = parse_date(s, len, &v.i) == 0; break;
    case CATALOG_KEY_BOOL:
        if (len == 4 && strncasecmp(s, "true", 4) == 0) {
            v.i = 1;
            v.ok = 1;
        } else if (len == 5 && strncasecmp(s, "false", 5) == 0) {
            v.i = 0;
            v.ok = 1;
        }
        break;
    case CATALOG_KEY_TIMESTAMP: v.ok = parse_timestamp(s, len, &v.i, &v.d) == 0; break;
    case CATALOG_KEY_STRING: v.ok = 1; break;
    }
    return v;
}

static int compare(enum catalog_key_kind kind, const struct tval *a, const struct tval *b)
{
    switch (kind) {
    case CATALOG_KEY_INT:
    case CATALOG_KEY_DATE:
    case CATALOG_KEY_BOOL: return a->i < b->i ? -1 : a->i > b->i;
    case CATALOG_KEY_NUMBER: return a->d < b->d ? -1 : a->d > b->d;
    case CATALOG_KEY_TIMESTAMP:
        if (a->i != b->i) {
            return a->i < b->i ? -1 : 1;
        }
        return a->d < b->d ? -1 : a->d > b->d;
    case CATALOG_KEY_STRING: break;
    }
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->s, b->s, n);
    if (c != 0) {
        return c < 0 ? -1 : 1;
    }
    return a->len < b->len ? -1 : a->len > b->len;
}

/* ---- parser ---- */

static void node_free(struct node *n)
{
    if (n == NULL) {
        return;
    }
    node_free(n->a);
    node_free(n->b);
    for (size_t i = 0; i < n->n_ops; i++) {
        free(n->ops[i].text);
    }
    free(n->ops);
    catalog__like_free(n->like);
    free(n);
}

static struct node *node_new(enum node_kind kind)
{
    struct node *n = xcalloc(1, sizeof(*n));
    n->kind = kind;
    return n;
}

static int parse_operand(struct parser *p, struct operand *o)
{
    o->key_idx = -1;
    if (p->tok.kind == T_STRING || p->tok.kind == T_NUMBER) {
        o->is_number = p->tok.kind == T_NUMBER;
        o->text = p->tok.text;
        p->tok.text = NULL;
        return next(p);
    }
    if (p->tok.kind == T_IDENT && (p->tok.quoted || !is_reserved(p->tok.text))) {
        if (!p->tok.quoted &&
            (strcmp(p->tok.text, "true") == 0 || strcmp(p->tok.text, "false") == 0)) {
            o->text = p->tok.text;
            p->tok.text = NULL;
            return next(p);
        }
        for (size_t i = 0; i < p->n_keys; i++) {
            if (strcmp(p->key_names[i], p->tok.text) == 0) {
                o->key_idx = (int)i;
                return next(p);
            }
        }
        return perr(p, "'%s' is not a partition key", p->tok.text);
    }
    return perr(p, "expected a partition key or a value", NULL);
}

/* Decides the comparison kind of a predicate and converts its literals to it. */
static int type_operands(struct parser *p, struct node *n)
{
    int key = -1;
    int all_numbers = 1;
    for (size_t i = 0; i < n->n_ops; i++) {
        if (n->ops[i].key_idx >= 0 && key < 0) {
            key = n->ops[i].key_idx;
        }
        if (n->ops[i].key_idx < 0 && !n->ops[i].is_number) {
            all_numbers = 0;
        }
    }
    if (n->kind == N_LIKE) {
        n->cmp_kind = CATALOG_KEY_STRING;
    } else if (key >= 0) {
        n->cmp_kind = p->key_kinds[key];
    } else {
        n->cmp_kind = all_numbers ? CATALOG_KEY_NUMBER : CATALOG_KEY_STRING;
    }
    /* An integer key compared with a fractional number compares as numbers. */
    for (size_t i = 0; n->cmp_kind == CATALOG_KEY_INT && i < n->n_ops; i++) {
        const struct operand *o = &n->ops[i];
        if (o->key_idx < 0 && o->is_number &&
            !convert(CATALOG_KEY_INT, o->text, strlen(o->text)).ok) {
            n->cmp_kind = CATALOG_KEY_NUMBER;
        }
    }
    for (size_t i = 0; i < n->n_ops; i++) {
        struct operand *o = &n->ops[i];
        if (o->key_idx >= 0) {
            continue;
        }
        o->lit = convert(n->cmp_kind, o->text, strlen(o->text));
        if (!o->lit.ok) {
            static const char *const kind_names[] = {"string", "integer", "number",
                                                     "date",   "boolean", "timestamp"};
            char what[200];
            snprintf(what, sizeof(what), "value '%.120s' is not a valid %s", o->text,
                     kind_names[n->cmp_kind]);
            return perr(p, "%s", what);
        }
    }
    if (n->kind == N_LIKE && n->ops[1].key_idx < 0) {
        n->like = catalog__like_compile(n->ops[1].lit.s, n->ops[1].lit.len);
    }
    return 0;
}

static struct node *parse_expr(struct parser *p);

static struct node *parse_predicate(struct parser *p)
{
    struct node *n = node_new(N_CMP);
    n->ops = xcalloc(3, sizeof(*n->ops));
    n->n_ops = 1;
    if (parse_operand(p, &n->ops[0]) < 0) {
        goto out_fail;
    }
    if (p->tok.kind == T_OP) {
        static const char *const ops[] = {"=", "<>", "<", ">", "<=", ">="};
        n->op = OP_NE;
        for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
            if (strcmp(p->tok.text, ops[i]) == 0) {
                n->op = (enum cmp_op)i;
            }
        }
        n->n_ops = 2;
        if (next(p) < 0 || parse_operand(p, &n->ops[1]) < 0) {
            goto out_fail;
        }
    } else if (is_kw(p, "is")) {
        n->kind = N_ISNULL;
        if (next(p) < 0) {
            goto out_fail;
        }
        if (is_kw(p, "not")) {
            n->negate = 1;
            if (next(p) < 0) {
                goto out_fail;
            }
        }
        if (!is_kw(p, "null")) {
            perr(p, "expected NULL", NULL);
            goto out_fail;
        }
        if (next(p) < 0) {
            goto out_fail;
        }
        return n;
    } else {
        if (is_kw(p, "not")) {
            n->negate = 1;
            if (next(p) < 0) {
                goto out_fail;
            }
        }
        if (is_kw(p, "between")) {
            n->kind = N_BETWEEN;
            n->n_ops = 3;
            if (next(p) < 0 || parse_operand(p, &n->ops[1]) < 0) {
                goto out_fail;
            }
            if (!is_kw(p, "and")) {
                perr(p, "expected AND in BETWEEN", NULL);
                goto out_fail;
            }
            if (next(p) < 0 || parse_operand(p, &n->ops[2]) < 0) {
                goto out_fail;
            }
        } else if (is_kw(p, "like")) {
            n->kind = N_LIKE;
            n->n_ops = 2;
            if (next(p) < 0 || parse_operand(p, &n->ops[1]) < 0) {
                goto out_fail;
            }
        } else if (is_kw(p, "in")) {
            n->kind = N_IN;
            if (next(p) < 0) {
                goto out_fail;
            }
            if (p->tok.kind != T_LPAREN) {
                perr(p, "expected '(' after IN", NULL);
                goto out_fail;
            }
            size_t cap = 3;
            do {
                if (next(p) < 0) {
                    goto out_fail;
                }
                if (n->n_ops == cap) {
                    cap *= 2;
                    n->ops = xrealloc(n->ops, cap * sizeof(*n->ops));
                }
                memset(&n->ops[n->n_ops], 0, sizeof(n->ops[0]));
                n->n_ops++;
                if (parse_operand(p, &n->ops[n->n_ops - 1]) < 0) {
                    goto out_fail;
                }
            } while (p->tok.kind == T_COMMA);
            if (p->tok.kind != T_RPAREN) {
                perr(p, "expected ')' to close IN", NULL);
                goto out_fail;
            }
            if (next(p) < 0) {
                goto out_fail;
            }
        } else {
            perr(p, "expected a comparison", NULL);
            goto out_fail;
        }
    }
    if (type_operands(p, n) < 0) {
        goto out_fail;
    }
    return n;
out_fail:
    node_free(n);
    return NULL;
}

static struct node *parse_unary(struct parser *p)
{
    if (++p->depth > MAX_DEPTH) {
        perr(p, "expression nested too deeply", NULL);
        return NULL;
    }
    struct node *n = NULL;
    if (is_kw(p, "not")) {
        if (next(p) < 0) {
            return NULL;
        }
        struct node *inner = parse_unary(p);
        if (inner == NULL) {
            return NULL;
        }
        n = node_new(N_NOT);
        n->a = inner;
    } else if (p->tok.kind == T_LPAREN) {
        if (next(p) < 0) {
            return NULL;
        }
        n = parse_expr(p);
        if (n == NULL) {
            return NULL;
        }
        if (p->tok.kind != T_RPAREN) {
            perr(p, "expected ')'", NULL);
            node_free(n);
            return NULL;
        }
        if (next(p) < 0) {
            node_free(n);
            return NULL;
        }
    } else {
        n = parse_predicate(p);
    }
    p->depth--;
    return n;
}

static struct node *parse_and(struct parser *p)
{
    struct node *left = parse_unary(p);
    while (left != NULL && is_kw(p, "and")) {
        struct node *right = next(p) < 0 ? NULL : parse_unary(p);
        if (right == NULL) {
            node_free(left);
            return NULL;
        }
        struct node *n = node_new(N_AND);
        n->a = left;
        n->b = right;
        left = n;
    }
    return left;
}

static struct node *parse_expr(struct parser *p)
{
    struct node *left = parse_and(p);
    while (left != NULL && is_kw(p, "or")) {
        struct node *right = next(p) < 0 ? NULL : parse_and(p);
        if (right == NULL) {
            node_free(left);
            return NULL;
        }
        struct node *n = node_new(N_OR);
        n->a = left;
        n->b = right;
        left = n;
    }
    return left;
}

int catalog__expr_compile(const char *text, const char *const *key_names,
                          const enum catalog_key_kind *key_kinds, size_t n_keys,
                          struct catalog_expr **out, struct err_info *err)
{
    *out = NULL;
    if (text == NULL) {
        text = "";
    }
    if (strlen(text) > MAX_TEXT) {
        return err_set(err, SL_E(INVALID_INPUT),
                       "1 validation error detected: Value at 'expression' failed to satisfy "
                       "constraint: Member must have length less than or equal to %d",
                       MAX_TEXT);
    }
    struct catalog_expr *e = xcalloc(1, sizeof(*e));
    const char *t = text;
    while (isspace((unsigned char)*t)) {
        t++;
    }
    if (*t == '\0') {
        e->root = node_new(N_CONST);
        e->root->value = 1;
        *out = e;
        return 0;
    }
    struct parser p = {
        .text = text, .key_names = key_names, .key_kinds = key_kinds, .n_keys = n_keys, .err = err};
    if (next(&p) == 0) {
        e->root = parse_expr(&p);
        if (e->root != NULL && p.tok.kind != T_END) {
            perr(&p, "unexpected text after the expression", NULL);
            node_free(e->root);
            e->root = NULL;
        }
    }
    free(p.tok.text);
    if (e->root == NULL) {
        free(e);
        if (!p.failed) {
            return err_set(err, SL_E(INVALID_INPUT), "Unsupported expression.");
        }
        return SL_E(INVALID_INPUT);
    }
    *out = e;
    return 0;
}

void catalog__expr_free(struct catalog_expr *e)
{
    if (e == NULL) {
        return;
    }
    node_free(e->root);
    free(e);
}

/* ---- evaluation ---- */

/* SQL LIKE over bytes (catalog_like.c). A pattern from a literal was compiled with the
 * expression; one taken from a partition key is compiled for the row. */
static int like_eval(const struct node *n, const struct tval *value, const struct tval *pat)
{
    if (n->like != NULL) {
        return catalog__like_match(n->like, value->s, value->len);
    }
    struct catalog_like *lk = catalog__like_compile(pat->s, pat->len);
    int match = catalog__like_match(lk, value->s, value->len);
    catalog__like_free(lk);
    return match;
}

struct row {
    const char *const *values;
    const size_t *lens;
    size_t n;
};

static int operand_value(const struct node *n, const struct operand *o, const struct row *r,
                         struct tval *out)
{
    if (o->key_idx < 0) {
        *out = o->lit;
        return 1;
    }
    if ((size_t)o->key_idx >= r->n) {
        return 0;
    }
    *out = convert(n->cmp_kind, r->values[o->key_idx], r->lens[o->key_idx]);
    return out->ok;
}

static int eval(const struct node *n, const struct row *r)
{
    struct tval a, b, c;
    switch (n->kind) {
    case N_CONST: return n->value;
    case N_AND: return eval(n->a, r) && eval(n->b, r);
    case N_OR: return eval(n->a, r) || eval(n->b, r);
    case N_NOT: return !eval(n->a, r);
    case N_ISNULL: return n->negate;
    case N_CMP: {
        if (!operand_value(n, &n->ops[0], r, &a) || !operand_value(n, &n->ops[1], r, &b)) {
            return 0;
        }
        int cmp = compare(n->cmp_kind, &a, &b);
        switch (n->op) {
        case OP_EQ: return cmp == 0;
        case OP_NE: return cmp != 0;
        case OP_LT: return cmp < 0;
        case OP_GT: return cmp > 0;
        case OP_LE: return cmp <= 0;
        case OP_GE: return cmp >= 0;
        }
        return 0;
    }
    case N_BETWEEN: {
        if (!operand_value(n, &n->ops[0], r, &a) || !operand_value(n, &n->ops[1], r, &b) ||
            !operand_value(n, &n->ops[2], r, &c)) {
            return 0;
        }
        int in = compare(n->cmp_kind, &a, &b) >= 0 && compare(n->cmp_kind, &a, &c) <= 0;
        return in != n->negate;
    }
    case N_IN: {
        if (!operand_value(n, &n->ops[0], r, &a)) {
            return 0;
        }
        int found = 0;
        for (size_t i = 1; i < n->n_ops && !found; i++) {
            if (operand_value(n, &n->ops[i], r, &b) && compare(n->cmp_kind, &a, &b) == 0) {
                found = 1;
            }
        }
        return found != n->negate;
    }
    case N_LIKE: {
        if (!operand_value(n, &n->ops[0], r, &a) || !operand_value(n, &n->ops[1], r, &b)) {
            return 0;
        }
        return like_eval(n, &a, &b) != n->negate;
    }
    }
    return 0;
}

int catalog__expr_eval(const struct catalog_expr *e, const char *const *values,
                       const size_t *value_lens, size_t n_values)
{
    struct row r = {values, value_lens, n_values};
    return eval(e->root, &r);
}

/* ---- pruning ---- */

/* Finds, among the top-level AND terms, an equality of key idx with a literal or an IN
 * of key idx over literals; sets *first and *n to its literal operands. */
static int key_alternatives(const struct node *n, size_t idx, const struct operand **first,
                            size_t *count)
{
    if (n->kind == N_AND) {
        return key_alternatives(n->a, idx, first, count) ||
               key_alternatives(n->b, idx, first, count);
    }
    if (n->cmp_kind != CATALOG_KEY_STRING && n->cmp_kind != CATALOG_KEY_INT &&
        n->cmp_kind != CATALOG_KEY_DATE) {
        return 0;
    }
    if (n->kind == N_CMP && n->op == OP_EQ) {
        const struct operand *a = &n->ops[0], *b = &n->ops[1];
        if (a->key_idx == (int)idx && b->key_idx < 0) {
            *first = b;
        } else if (b->key_idx == (int)idx && a->key_idx < 0) {
            *first = a;
        } else {
            return 0;
        }
        *count = 1;
        return 1;
    }
    if (n->kind == N_IN && !n->negate && n->ops[0].key_idx == (int)idx) {
        for (size_t i = 1; i < n->n_ops; i++) {
            if (n->ops[i].key_idx >= 0) {
                return 0;
            }
        }
        *first = &n->ops[1];
        *count = n->n_ops - 1;
        return 1;
    }
    return 0;
}

size_t catalog__expr_prefixes(const struct catalog_expr *e, size_t n_keys, size_t max, char ***out,
                              size_t *n_out)
{
    /* Start from one empty prefix and extend every prefix by each alternative of the
     * next key while the product stays within max. Integer comparisons match any text
     * of the same value, whose canonical form is the decimal integer; string and date
     * comparisons match the text itself, canonicalised as stored values are. */
    char **cur = xcalloc(1, sizeof(*cur));
    cur[0] = xstrdup("");
    size_t n_cur = 1, k = 0;
    while (k < n_keys) {
        const struct operand *alts = NULL;
        size_t n_alts = 0;
        if (!key_alternatives(e->root, k, &alts, &n_alts) || n_alts == 0 || n_cur * n_alts > max) {
            break;
        }
        char **next = xcalloc(n_cur * n_alts, sizeof(*next));
        size_t n_next = 0;
        for (size_t i = 0; i < n_cur; i++) {
            for (size_t j = 0; j < n_alts; j++) {
                struct buf b;
                buf_init(&b);
                buf_puts(&b, cur[i]);
                catalog__canon(alts[j].text, strlen(alts[j].text), &b);
                buf_putc(&b, '\0');
                char *p = (char *)buf_steal(&b, NULL);
                int dup = p == NULL;
                for (size_t d = 0; !dup && d < n_next; d++) {
                    dup = strcmp(next[d], p) == 0; /* 7 and 007 are one integer */
                }
                if (dup) {
                    free(p);
                } else {
                    next[n_next++] = p;
                }
            }
        }
        for (size_t i = 0; i < n_cur; i++) {
            free(cur[i]);
        }
        free(cur);
        cur = next;
        n_cur = n_next;
        k++;
    }
    if (k == 0) {
        free(cur[0]);
        free(cur);
        cur = NULL;
        n_cur = 0;
    }
    *out = cur;
    *n_out = n_cur;
    return k;
}
