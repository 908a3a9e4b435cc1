/*
 * Hive column types, as Glue tables declare them.
 *
 * Grammar (case-insensitive, blanks allowed between tokens):
 *   type      = primitive | "array" "<" type ">" | "map" "<" primitive "," type ">"
 *             | "struct" "<" [ field { "," field } ] ">" | "uniontype" "<" type {"," type} ">"
 *   field     = name ":" type            name: letters, digits, '_', or `quoted`
 *   primitive = "tinyint" | "smallint" | "int" | "integer" | "bigint" | "float" | "double"
 *             | "double precision" | "boolean" | "string" | "binary" | "timestamp" | "date"
 *             | "interval" | "void"
 *             | "decimal" [ "(" p [ "," s ] ")" ]      1 <= p <= 38, 0 <= s <= p
 *             | "char" "(" n ")"                       1 <= n <= 255
 *             | "varchar" "(" n ")"                    1 <= n <= 65535
 * Nesting is limited to 100 levels.
 */
#include "catalog/catalog_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_DEPTH 100

struct tparse {
    const char *s; /* the whole type text */
    size_t pos;    /* next byte */
    char why[160]; /* reason of the first failure */
};

static void skip_ws(struct tparse *p)
{
    while (isspace((unsigned char)p->s[p->pos])) {
        p->pos++;
    }
}

static int fail(struct tparse *p, const char *why)
{
    if (p->why[0] == '\0') {
        snprintf(p->why, sizeof(p->why), "%s at position %zu", why, p->pos);
    }
    return -1;
}

/* Reads a word of letters/digits/underscores; returns its length (0 when none). */
static size_t word(struct tparse *p, const char **start)
{
    skip_ws(p);
    *start = p->s + p->pos;
    size_t n = 0;
    while (isalnum((unsigned char)p->s[p->pos + n]) || p->s[p->pos + n] == '_') {
        n++;
    }
    p->pos += n;
    return n;
}

static int expect(struct tparse *p, char c)
{
    skip_ws(p);
    if (p->s[p->pos] != c) {
        char why[32];
        snprintf(why, sizeof(why), "expected '%c'", c);
        return fail(p, why);
    }
    p->pos++;
    return 0;
}

static int peek(struct tparse *p, char c)
{
    skip_ws(p);
    return p->s[p->pos] == c;
}

static int number(struct tparse *p, long lo, long hi, long *out)
{
    skip_ws(p);
    if (!isdigit((unsigned char)p->s[p->pos])) {
        return fail(p, "expected a number");
    }
    long v = 0;
    while (isdigit((unsigned char)p->s[p->pos])) {
        if (v < 1000000) {
            v = v * 10 + (p->s[p->pos] - '0');
        }
        p->pos++;
    }
    if (v < lo || v > hi) {
        return fail(p, "number out of range");
    }
    *out = v;
    return 0;
}

static int word_is(const char *w, size_t n, const char *kw)
{
    return strlen(kw) == n && strncasecmp(w, kw, n) == 0;
}

static int parse_type(struct tparse *p, int depth);

static int parse_primitive_rest(struct tparse *p, const char *w, size_t n)
{
    static const char *const plain[] = {"tinyint", "smallint", "int",    "integer", "bigint",
                                        "float",   "boolean",  "string", "binary",  "timestamp",
                                        "date",    "interval", "void",   "real"};
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        if (word_is(w, n, plain[i])) {
            return 0;
        }
    }
    if (word_is(w, n, "double")) {
        size_t save = p->pos;
        const char *w2;
        size_t n2 = word(p, &w2);
        if (n2 > 0 && !word_is(w2, n2, "precision")) {
            p->pos = save;
        }
        return 0;
    }
    long a, b;
    if (word_is(w, n, "decimal")) {
        if (!peek(p, '(')) {
            return 0;
        }
        p->pos++;
        if (number(p, 1, 38, &a) < 0) {
            return -1;
        }
        if (peek(p, ',')) {
            p->pos++;
            if (number(p, 0, a, &b) < 0) {
                return -1;
            }
        }
        return expect(p, ')');
    }
    if (word_is(w, n, "char") || word_is(w, n, "varchar")) {
        if (expect(p, '(') < 0 || number(p, 1, word_is(w, n, "char") ? 255 : 65535, &a) < 0) {
            return -1;
        }
        return expect(p, ')');
    }
    return fail(p, "unknown type");
}

static int parse_struct_fields(struct tparse *p, int depth)
{
    if (peek(p, '>')) {
        p->pos++;
        return 0;
    }
    for (;;) {
        skip_ws(p);
        if (p->s[p->pos] == '`') {
            const char *end = strchr(p->s + p->pos + 1, '`');
            if (end == NULL || end == p->s + p->pos + 1) {
                return fail(p, "bad quoted field name");
            }
            p->pos = (size_t)(end - p->s) + 1;
        } else {
            const char *w;
            if (word(p, &w) == 0) {
                return fail(p, "expected a field name");
            }
        }
        if (expect(p, ':') < 0 || parse_type(p, depth + 1) < 0) {
            return -1;
        }
        if (peek(p, ',')) {
            p->pos++;
            continue;
        }
        return expect(p, '>');
    }
}

static int parse_type(struct tparse *p, int depth)
{
    if (depth > MAX_DEPTH) {
        return fail(p, "type nested too deeply");
    }
    const char *w;
    size_t n = word(p, &w);
    if (n == 0) {
        return fail(p, "expected a type");
    }
    if (word_is(w, n, "array")) {
        return expect(p, '<') < 0 || parse_type(p, depth + 1) < 0 ? -1 : expect(p, '>');
    }
    if (word_is(w, n, "map")) {
        if (expect(p, '<') < 0 || parse_type(p, depth + 1) < 0 || expect(p, ',') < 0 ||
            parse_type(p, depth + 1) < 0) {
            return -1;
        }
        return expect(p, '>');
    }
    if (word_is(w, n, "struct")) {
        return expect(p, '<') < 0 ? -1 : parse_struct_fields(p, depth);
    }
    if (word_is(w, n, "uniontype")) {
        if (expect(p, '<') < 0) {
            return -1;
        }
        do {
            if (parse_type(p, depth + 1) < 0) {
                return -1;
            }
        } while (peek(p, ',') && ++p->pos);
        return expect(p, '>');
    }
    return parse_primitive_rest(p, w, n);
}

int catalog_hive_type_check(const char *type, struct err_info *err)
{
    struct tparse p = {.s = type != NULL ? type : "", .pos = 0, .why = ""};
    if (parse_type(&p, 0) == 0) {
        skip_ws(&p);
        if (p.s[p.pos] == '\0') {
            return 0;
        }
        fail(&p, "unexpected text after the type");
    }
    return err_set(err, SL_E(INVALID_INPUT), "Invalid column type '%.200s': %s.", p.s, p.why);
}

int catalog__columns_check(const json_t *columns, const char *what, struct err_info *err)
{
    if (columns == NULL || json_is_null(columns)) {
        return 0;
    }
    if (!json_is_array(columns)) {
        return err_set(err, SL_E(INVALID_INPUT), "%s must be a list of columns.", what);
    }
    size_t i;
    const json_t *col;
    json_array_foreach(columns, i, col)
    {
        const char *name = catalog__str(col, "Name");
        int rc = catalog__check_name(name, "column name", err);
        if (rc < 0) {
            return rc;
        }
        const char *type = catalog__str(col, "Type");
        if (type != NULL && catalog_hive_type_check(type, err) < 0) {
            char msg[sizeof(err->message)];
            snprintf(msg, sizeof(msg), "%s", err->message);
            return err_set(err, SL_E(INVALID_INPUT), "%s column %.100s: %s", what, name, msg);
        }
    }
    return 0;
}

enum catalog_key_kind catalog__key_kind(const char *hive_type)
{
    if (hive_type == NULL) {
        return CATALOG_KEY_STRING;
    }
    static const char *const ints[] = {"tinyint", "smallint", "int", "integer", "bigint"};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        if (strcasecmp(hive_type, ints[i]) == 0) {
            return CATALOG_KEY_INT;
        }
    }
    if (strncasecmp(hive_type, "decimal", 7) == 0 || strcasecmp(hive_type, "float") == 0 ||
        strncasecmp(hive_type, "double", 6) == 0 || strcasecmp(hive_type, "real") == 0) {
        return CATALOG_KEY_NUMBER;
    }
    if (strcasecmp(hive_type, "date") == 0) {
        return CATALOG_KEY_DATE;
    }
    if (strcasecmp(hive_type, "boolean") == 0) {
        return CATALOG_KEY_BOOL;
    }
    if (strcasecmp(hive_type, "timestamp") == 0) {
        return CATALOG_KEY_TIMESTAMP;
    }
    return CATALOG_KEY_STRING;
}
