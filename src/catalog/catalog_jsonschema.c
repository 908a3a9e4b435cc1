/*
 * JSON Schema (drafts 4 to 2020-12, the keywords below): validation of definitions and
 * compatibility as containment.
 *
 * Compatibility: data written with `writer` can be read with `reader` when every
 * document valid under the writer's schema W is valid under the reader's schema R,
 * written W <= R. The test is structural and three-valued: proven, refuted (with the
 * reason), or undecided.
 *
 * The rule for what cannot be decided: containment is decided for these keywords —
 * type, enum, const, properties, required, additionalProperties, items (one schema),
 * minItems, maxItems, uniqueItems, minimum, maximum, exclusiveMinimum, exclusiveMaximum
 * (number and draft-4 boolean forms), multipleOf, minLength, maxLength, minProperties,
 * maxProperties, local $ref ("#/..."), allOf, anyOf and oneOf (by branches) — and
 * annotations (title, description, default, examples, format, $comment, $id, $schema,
 * readOnly, writeOnly, deprecated, definitions, $defs) are ignored. Extra constraints
 * in W only make W smaller, so W's other keywords are ignored (that is sound). When R
 * uses any other keyword (pattern, not, if/then/else, patternProperties, dependencies,
 * propertyNames, contains, tuple items, ...) at a place where W's subschema is not
 * identical to R's, containment is undecided, and an undecided change is refused as
 * "cannot be shown compatible". Identical subschemas are always compatible.
 *
 * Checks are bounded: nesting 64, $ref chains 32.
 */
#include "catalog/catalog_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

#define MAX_DEPTH 64
#define MAX_REFS 32
#define MAX_STEPS 100000 /* comparisons of subschemas in one check; beyond: undecided */

enum { NO = 0, YES = 1, UNKNOWN = -1 };

struct ctx {
    const json_t *wroot; /* writer's document, for $ref */
    const json_t *rroot; /* reader's document */
    int same_roots;      /* the two documents are equal, so $refs resolve alike */
    long steps;          /* sub() calls so far, bounded by MAX_STEPS */
    char why[400];
    int depth;
};

static int say(struct ctx *c, int verdict, const char *fmt, const char *a, const char *b)
{
    if (c->why[0] == '\0' && verdict != YES) {
        snprintf(c->why, sizeof(c->why), fmt, a != NULL ? a : "", b != NULL ? b : "");
    }
    return verdict;
}

static const json_t *resolve_ref(const json_t *root, const json_t *s)
{
    for (int hop = 0; hop < MAX_REFS && json_is_object(s); hop++) {
        const char *ref = catalog__str(s, "$ref");
        if (ref == NULL) {
            return s;
        }
        if (ref[0] != '#') {
            return NULL;
        }
        const json_t *cur = root;
        const char *p = ref + 1;
        while (*p == '/' && cur != NULL) {
            p++;
            const char *end = strchr(p, '/');
            size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
            char *tok = xstrndup(p, n);
            /* JSON Pointer escapes: ~1 is '/', ~0 is '~'. */
            char *w = tok;
            for (char *r = tok; *r != '\0'; r++) {
                if (r[0] == '~' && (r[1] == '0' || r[1] == '1')) {
                    *w++ = r[1] == '0' ? '~' : '/';
                    r++;
                } else {
                    *w++ = *r;
                }
            }
            *w = '\0';
            if (json_is_array(cur)) {
                cur = json_array_get(cur, (size_t)strtoul(tok, NULL, 10));
            } else {
                cur = json_object_get(cur, tok);
            }
            free(tok);
            p += n;
        }
        if (*p != '\0' || cur == NULL) {
            return NULL;
        }
        s = cur;
    }
    return json_is_object(s) || json_is_boolean(s) ? s : NULL;
}

static int has_ref(const json_t *j, int depth)
{
    if (depth > MAX_DEPTH) {
        return 1;
    }
    if (json_is_object(j)) {
        if (json_object_get(j, "$ref") != NULL) {
            return 1;
        }
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v)
        {
            if (has_ref(v, depth + 1)) {
                return 1;
            }
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            if (has_ref(v, depth + 1)) {
                return 1;
            }
        }
    }
    return 0;
}

static int is_annotation(const char *k)
{
    static const char *const ann[] = {
        "title",           "description", "default",     "examples", "format",
        "$comment",        "$id",         "id",          "$schema",  "readOnly",
        "writeOnly",       "deprecated",  "definitions", "$defs",    "contentMediaType",
        "contentEncoding", "$anchor"};
    for (size_t i = 0; i < sizeof(ann) / sizeof(ann[0]); i++) {
        if (strcmp(k, ann[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static int is_decided(const char *k)
{
    static const char *const kws[] = {"type",
                                      "enum",
                                      "const",
                                      "properties",
                                      "required",
                                      "additionalProperties",
                                      "items",
                                      "minItems",
                                      "maxItems",
                                      "uniqueItems",
                                      "minimum",
                                      "maximum",
                                      "exclusiveMinimum",
                                      "exclusiveMaximum",
                                      "multipleOf",
                                      "minLength",
                                      "maxLength",
                                      "minProperties",
                                      "maxProperties",
                                      "$ref",
                                      "allOf",
                                      "anyOf",
                                      "oneOf"};
    for (size_t i = 0; i < sizeof(kws) / sizeof(kws[0]); i++) {
        if (strcmp(k, kws[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* ---- types ---- */

enum { T_NULL = 1, T_BOOL = 2, T_INT = 4, T_NUM = 8, T_STR = 16, T_ARR = 32, T_OBJ = 64 };
#define T_ALL (T_NULL | T_BOOL | T_INT | T_NUM | T_STR | T_ARR | T_OBJ)

static int type_bit(const char *t)
{
    static const char *const names[] = {"null",   "boolean", "integer", "number",
                                        "string", "array",   "object"};
    for (int i = 0; i < 7; i++) {
        if (t != NULL && strcmp(t, names[i]) == 0) {
            return 1 << i;
        }
    }
    return 0;
}

static const char *bit_name(int bit)
{
    static const char *const names[] = {"null",   "boolean", "integer", "number",
                                        "string", "array",   "object"};
    for (int i = 0; i < 7; i++) {
        if (bit == 1 << i) {
            return names[i];
        }
    }
    return "?";
}

/* The types a schema allows by its "type" keyword; T_ALL when absent. A "number"
 * includes integers. */
static int types_of(const json_t *s)
{
    const json_t *t = json_object_get(s, "type");
    int bits = 0;
    if (json_is_string(t)) {
        bits = type_bit(json_string_value(t));
    } else if (json_is_array(t)) {
        size_t i;
        json_t *v;
        json_array_foreach(t, i, v)
        {
            bits |= type_bit(json_string_value(v));
        }
    } else {
        return T_ALL;
    }
    if (bits & T_NUM) {
        bits |= T_INT;
    }
    return bits;
}

static int value_type(const json_t *v)
{
    if (json_is_null(v)) {
        return T_NULL;
    }
    if (json_is_boolean(v)) {
        return T_BOOL;
    }
    if (json_is_integer(v)) {
        return T_INT;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        return d == floor(d) && fabs(d) < 9e15 ? T_INT : T_NUM;
    }
    if (json_is_string(v)) {
        return T_STR;
    }
    return json_is_array(v) ? T_ARR : T_OBJ;
}

static double num(const json_t *v)
{
    return json_number_value(v);
}

/* ---- validation of one value (for enum/const) ---- */

static int valid(struct ctx *c, const json_t *root, const json_t *s, const json_t *v, int depth);

static int combine(int a, int b)
{
    if (a == NO || b == NO) {
        return NO;
    }
    if (a == UNKNOWN || b == UNKNOWN) {
        return UNKNOWN;
    }
    return YES;
}

/* The phases of valid. Each answers YES, NO or UNKNOWN for its keywords alone; those
 * that recurse (arrays, objects) set *stop when their answer is final. */

/* Sets *stop and answers v. */
static int stop_with(int *stop, int v)
{
    *stop = 1;
    return v;
}

/* enum and const. */
static int valid_values(const json_t *s, const json_t *v)
{
    const json_t *e = json_object_get(s, "enum");
    if (json_is_array(e)) {
        int found = 0;
        size_t i;
        json_t *x;
        json_array_foreach(e, i, x)
        {
            found = found || json_equal(x, v);
        }
        if (!found) {
            return NO;
        }
    }
    const json_t *cst = json_object_get(s, "const");
    if (cst != NULL && !json_equal(cst, v)) {
        return NO;
    }
    return YES;
}

/* minimum, maximum, exclusive bounds and multipleOf of a number. */
static int valid_number(const json_t *s, const json_t *v)
{
    double d = num(v);
    const json_t *m;
    if ((m = json_object_get(s, "minimum")) && json_is_number(m) && d < num(m)) {
        return NO;
    }
    if ((m = json_object_get(s, "maximum")) && json_is_number(m) && d > num(m)) {
        return NO;
    }
    if ((m = json_object_get(s, "exclusiveMinimum")) && json_is_number(m) && d <= num(m)) {
        return NO;
    }
    if ((m = json_object_get(s, "exclusiveMaximum")) && json_is_number(m) && d >= num(m)) {
        return NO;
    }
    if ((m = json_object_get(s, "multipleOf")) && json_is_number(m) && num(m) > 0) {
        double q = d / num(m);
        if (fabs(q - round(q)) > 1e-9) {
            return NO;
        }
    }
    return YES;
}

/* minLength and maxLength of a string, in code points. */
static int valid_string(const json_t *s, const json_t *v)
{
    /* Length in code points. */
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)json_string_value(v); *p; p++) {
        n += (*p & 0xc0) != 0x80;
    }
    const json_t *m;
    if ((m = json_object_get(s, "minLength")) && json_is_integer(m) &&
        (json_int_t)n < json_integer_value(m)) {
        return NO;
    }
    if ((m = json_object_get(s, "maxLength")) && json_is_integer(m) &&
        (json_int_t)n > json_integer_value(m)) {
        return NO;
    }
    return YES;
}

/* items, minItems, maxItems and uniqueItems of an array. */
static int valid_array(struct ctx *c, const json_t *root, const json_t *s, const json_t *v,
                       int depth, int *stop)
{
    int r = YES;
    const json_t *items = json_object_get(s, "items");
    const json_t *m;
    if ((m = json_object_get(s, "minItems")) && json_is_integer(m) &&
        (json_int_t)json_array_size(v) < json_integer_value(m)) {
        return stop_with(stop, NO);
    }
    if ((m = json_object_get(s, "maxItems")) && json_is_integer(m) &&
        (json_int_t)json_array_size(v) > json_integer_value(m)) {
        return stop_with(stop, NO);
    }
    if (json_is_array(items)) {
        return stop_with(stop, UNKNOWN);
    }
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x)
    {
        if (items != NULL) {
            r = combine(r, valid(c, root, items, x, depth + 1));
        }
    }
    if (json_is_true(json_object_get(s, "uniqueItems"))) {
        for (size_t a = 0; a < json_array_size(v); a++) {
            for (size_t b = a + 1; b < json_array_size(v); b++) {
                if (json_equal(json_array_get(v, a), json_array_get(v, b))) {
                    return stop_with(stop, NO);
                }
            }
        }
    }
    return r;
}

/* required, properties, additionalProperties, minProperties and maxProperties. */
static int valid_object(struct ctx *c, const json_t *root, const json_t *s, const json_t *v,
                        int depth, int *stop)
{
    int r = YES;
    const json_t *props = json_object_get(s, "properties");
    const json_t *addl = json_object_get(s, "additionalProperties");
    size_t i;
    json_t *req;
    json_array_foreach(json_object_get(s, "required"), i, req)
    {
        if (json_is_string(req) && json_object_get(v, json_string_value(req)) == NULL) {
            return stop_with(stop, NO);
        }
    }
    const char *pk;
    json_t *pv;
    json_object_foreach((json_t *)v, pk, pv)
    {
        const json_t *ps = json_object_get(props, pk);
        if (ps == NULL) {
            ps = addl;
        }
        if (ps != NULL) {
            r = combine(r, valid(c, root, ps, pv, depth + 1));
        }
    }
    const json_t *m;
    if ((m = json_object_get(s, "minProperties")) && json_is_integer(m) &&
        (json_int_t)json_object_size(v) < json_integer_value(m)) {
        return stop_with(stop, NO);
    }
    if ((m = json_object_get(s, "maxProperties")) && json_is_integer(m) &&
        (json_int_t)json_object_size(v) > json_integer_value(m)) {
        return stop_with(stop, NO);
    }
    return r;
}

/* allOf, anyOf and oneOf. */
static int valid_combinators(struct ctx *c, const json_t *root, const json_t *s, const json_t *v,
                             int depth)
{
    int r = YES;
    size_t i;
    json_t *br;
    json_array_foreach(json_object_get(s, "allOf"), i, br)
    {
        r = combine(r, valid(c, root, br, v, depth + 1));
    }
    const json_t *any = json_object_get(s, "anyOf");
    if (json_is_array(any)) {
        int best = NO;
        json_array_foreach(any, i, br)
        {
            int x = valid(c, root, br, v, depth + 1);
            best = x == YES ? YES : (best == YES ? YES : (x == UNKNOWN ? UNKNOWN : best));
        }
        r = combine(r, best);
    }
    const json_t *one = json_object_get(s, "oneOf");
    if (json_is_array(one)) {
        int yes = 0, unknown = 0;
        json_array_foreach(one, i, br)
        {
            int x = valid(c, root, br, v, depth + 1);
            yes += x == YES;
            unknown += x == UNKNOWN;
        }
        r = combine(r, unknown ? UNKNOWN : (yes == 1 ? YES : NO));
    }
    return r;
}

static int valid(struct ctx *c, const json_t *root, const json_t *s, const json_t *v, int depth)
{
    if (depth > MAX_DEPTH) {
        return UNKNOWN;
    }
    s = resolve_ref(root, s);
    if (s == NULL) {
        return UNKNOWN;
    }
    if (json_is_boolean(s)) {
        return json_is_true(s) ? YES : NO;
    }
    const char *k;
    json_t *kv;
    json_object_foreach((json_t *)s, k, kv)
    {
        if (!is_annotation(k) && !is_decided(k)) {
            return UNKNOWN;
        }
    }
    int vt = value_type(v);
    int ts = types_of(s);
    if (!(ts & vt) && !(vt == T_INT && (ts & T_NUM))) {
        return NO;
    }
    if (valid_values(s, v) == NO || (json_is_number(v) && valid_number(s, v) == NO) ||
        (json_is_string(v) && valid_string(s, v) == NO)) {
        return NO;
    }
    int r = YES;
    int stop = 0;
    if (json_is_array(v)) {
        r = valid_array(c, root, s, v, depth, &stop);
    } else if (json_is_object(v)) {
        r = valid_object(c, root, s, v, depth, &stop);
    }
    if (stop) {
        return r;
    }
    return combine(r, valid_combinators(c, root, s, v, depth));
}

/* ---- containment ---- */

static int sub(struct ctx *c, const json_t *w, const json_t *r, const char *path);

/* Lower bound of numbers allowed: value and whether it is exclusive; 0 when none. */
static int lower_bound(const json_t *s, double *v, int *excl)
{
    int have = 0;
    const json_t *m = json_object_get(s, "minimum");
    const json_t *x = json_object_get(s, "exclusiveMinimum");
    if (json_is_number(m)) {
        *v = num(m);
        *excl = json_is_true(x); /* draft 4 boolean form */
        have = 1;
    }
    if (json_is_number(x) && (!have || num(x) >= *v)) {
        *v = num(x);
        *excl = 1;
        have = 1;
    }
    return have;
}

static int upper_bound(const json_t *s, double *v, int *excl)
{
    int have = 0;
    const json_t *m = json_object_get(s, "maximum");
    const json_t *x = json_object_get(s, "exclusiveMaximum");
    if (json_is_number(m)) {
        *v = num(m);
        *excl = json_is_true(x);
        have = 1;
    }
    if (json_is_number(x) && (!have || num(x) <= *v)) {
        *v = num(x);
        *excl = 1;
        have = 1;
    }
    return have;
}

/* W's integer keyword at least (dir>0) / at most (dir<0) R's; R's absent: YES. */
static int int_bound(struct ctx *c, const json_t *w, const json_t *r, const char *kw, int dir,
                     const char *path)
{
    const json_t *rv = json_object_get(r, kw);
    if (!json_is_integer(rv)) {
        return YES;
    }
    const json_t *wv = json_object_get(w, kw);
    if (json_is_integer(wv) && (dir > 0 ? json_integer_value(wv) >= json_integer_value(rv)
                                        : json_integer_value(wv) <= json_integer_value(rv))) {
        return YES;
    }
    return say(c, NO, "at '%s': %s is tighter in the reader's schema", path, kw);
}

static int sub_number(struct ctx *c, const json_t *w, const json_t *r, const char *path)
{
    double rv, wv;
    int rex, wex;
    if (lower_bound(r, &rv, &rex)) {
        int ok = lower_bound(w, &wv, &wex) && (wv > rv || (wv == rv && (wex || !rex)));
        if (!ok) {
            return say(c, NO, "at '%s': %s", path,
                       "the lower bound is tighter in the reader's schema");
        }
    }
    if (upper_bound(r, &rv, &rex)) {
        int ok = upper_bound(w, &wv, &wex) && (wv < rv || (wv == rv && (wex || !rex)));
        if (!ok) {
            return say(c, NO, "at '%s': %s", path,
                       "the upper bound is tighter in the reader's schema");
        }
    }
    const json_t *rm = json_object_get(r, "multipleOf");
    if (json_is_number(rm) && num(rm) > 0) {
        const json_t *wm = json_object_get(w, "multipleOf");
        double q = json_is_number(wm) ? num(wm) / num(rm) : 0.5;
        int only_ints = (types_of(w) & T_NUM) == 0;
        int ok = (q >= 1 && fabs(q - round(q)) <= 1e-9) || (only_ints && num(rm) == 1.0);
        if (!ok) {
            return say(c, NO, "at '%s': %s", path, "multipleOf is stricter in the reader's schema");
        }
    }
    return YES;
}

static int sub_string(struct ctx *c, const json_t *w, const json_t *r, const char *path)
{
    int v = combine(int_bound(c, w, r, "minLength", 1, path),
                    int_bound(c, w, r, "maxLength", -1, path));
    const json_t *rp = json_object_get(r, "pattern");
    if (v == YES && rp != NULL && !json_equal(rp, json_object_get(w, "pattern"))) {
        return say(c, UNKNOWN, "at '%s': %s", path,
                   "the reader's pattern differs (patterns are not compared)");
    }
    return v;
}

static char *child_path(const char *path, const char *name)
{
    return xasprintf("%s%s%s", path, path[0] ? "." : "", name);
}

static int sub_array(struct ctx *c, const json_t *w, const json_t *r, const char *path)
{
    int v =
        combine(int_bound(c, w, r, "minItems", 1, path), int_bound(c, w, r, "maxItems", -1, path));
    if (v != YES) {
        return v;
    }
    if (json_is_true(json_object_get(r, "uniqueItems")) &&
        !json_is_true(json_object_get(w, "uniqueItems"))) {
        return say(c, NO, "at '%s': %s", path, "the reader's schema requires unique items");
    }
    const json_t *ri = json_object_get(r, "items");
    if (ri == NULL) {
        return YES;
    }
    const json_t *wi = json_object_get(w, "items");
    if (json_is_array(ri)) {
        return json_equal(ri, wi) ? YES
                                  : say(c, UNKNOWN, "at '%s': %s", path,
                                        "tuple items in the reader's schema are not compared");
    }
    if (wi == NULL || json_is_array(wi)) {
        wi = json_true();
    }
    char *p = child_path(path, "[]");
    v = sub(c, wi, ri, p);
    free(p);
    return v;
}

static int in_required(const json_t *s, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(s, "required"), i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), name) == 0) {
            return 1;
        }
    }
    return 0;
}

static int sub_object(struct ctx *c, const json_t *w, const json_t *r, const char *path)
{
    int v = combine(int_bound(c, w, r, "minProperties", 1, path),
                    int_bound(c, w, r, "maxProperties", -1, path));
    if (v != YES) {
        return v;
    }
    size_t i;
    json_t *req;
    json_array_foreach(json_object_get(r, "required"), i, req)
    {
        if (json_is_string(req) && !in_required(w, json_string_value(req))) {
            char *p = child_path(path, json_string_value(req));
            v = say(c, NO,
                    "property '%s' is required by the reader's schema but optional in the"
                    " writer's%s",
                    p, "");
            free(p);
            return v;
        }
    }
    if (json_object_get(w, "patternProperties") != NULL &&
        !json_equal(json_object_get(w, "patternProperties"),
                    json_object_get(r, "patternProperties"))) {
        return say(c, UNKNOWN, "at '%s': %s", path,
                   "patternProperties in the writer's schema are not compared");
    }
    const json_t *wprops = json_object_get(w, "properties");
    const json_t *rprops = json_object_get(r, "properties");
    const json_t *waddl = json_object_get(w, "additionalProperties");
    const json_t *raddl = json_object_get(r, "additionalProperties");
    const char *k;
    json_t *rs;
    json_object_foreach((json_t *)rprops, k, rs)
    {
        const json_t *ws = json_object_get(wprops, k);
        if (ws == NULL) {
            if (json_is_false(waddl)) {
                continue; /* the writer never writes it */
            }
            ws = waddl != NULL ? waddl : json_true();
        }
        char *p = child_path(path, k);
        v = sub(c, ws, rs, p);
        free(p);
        if (v != YES) {
            return v;
        }
    }
    json_t *ws;
    json_object_foreach((json_t *)wprops, k, ws)
    {
        if (json_object_get(rprops, k) != NULL || raddl == NULL || json_is_true(raddl)) {
            continue;
        }
        char *p = child_path(path, k);
        if (json_is_false(raddl)) {
            v = json_is_false(ws) ? YES
                                  : say(c, NO,
                                        "property '%s' is not allowed by the reader's "
                                        "schema%s",
                                        p, "");
        } else {
            v = sub(c, ws, raddl, p);
        }
        free(p);
        if (v != YES) {
            return v;
        }
    }
    if (raddl != NULL && !json_is_true(raddl) && !json_is_false(waddl)) {
        if (json_is_false(raddl)) {
            return say(c, NO, "at '%s': %s", path,
                       "the reader's schema forbids additional properties the writer's allows");
        }
        char *p = child_path(path, "*");
        v = sub(c, waddl != NULL ? waddl : json_true(), raddl, p);
        free(p);
        if (v != YES) {
            return v;
        }
    }
    return YES;
}

/* Copy of s without key (a new reference). */
static json_t *without(const json_t *s, const char *key)
{
    json_t *copy = json_copy((json_t *)s);
    json_object_del(copy, key);
    return copy;
}

/* The phases of sub_inner. Each either decides the comparison, setting *v_out and
 * returning 1, or returns 0 to leave it to the next phase. */
static int decide(int *v_out, int v)
{
    *v_out = v;
    return 1;
}

/* Identical schemas; keywords of the reader that are not compared. */
static int sub_shortcuts(struct ctx *c, const json_t *w, const json_t *r, const char *path,
                         int *v_out)
{
    if (!has_ref(w, 0) && !has_ref(r, 0) && json_equal(w, r)) {
        return decide(v_out, YES);
    }
    /* Unknown keywords of the reader cannot be decided. */
    const char *k;
    json_t *kv;
    json_object_foreach((json_t *)r, k, kv)
    {
        if (!is_annotation(k) && !is_decided(k) && strcmp(k, "pattern") != 0 &&
            strcmp(k, "patternProperties") != 0) {
            return decide(
                v_out,
                say(c, UNKNOWN, "at '%s': the reader's keyword '%s' is not compared", path, k));
        }
    }
    if (json_object_get(r, "patternProperties") != NULL &&
        !json_equal(json_object_get(r, "patternProperties"),
                    json_object_get(w, "patternProperties"))) {
        return decide(v_out, say(c, UNKNOWN, "at '%s': the reader's keyword '%s' is not compared",
                                 path, "patternProperties"));
    }
    return 0;
}

/* The writer's anyOf/oneOf and allOf branches: decides only when they show containment. */
static int sub_writer_branches(struct ctx *c, const json_t *w, const json_t *r, const char *path,
                               int *v_out)
{
    /* Writer's branches: W = rest & (b1 | b2 ...) is within R when every branch is;
     * W = rest & b1 & b2 is within R when rest or any branch is. */
    const json_t *wany = json_object_get(w, "anyOf");
    if (wany == NULL) {
        wany = json_object_get(w, "oneOf");
    }
    if (json_is_array(wany)) {
        int v = YES;
        size_t i;
        json_t *b;
        json_array_foreach(wany, i, b)
        {
            v = combine(v, sub(c, b, r, path));
        }
        if (v == YES) {
            return decide(v_out, YES);
        }
        c->why[0] = '\0';
    }
    const json_t *wall = json_object_get(w, "allOf");
    if (json_is_array(wall)) {
        json_t *rest = without(w, "allOf");
        struct ctx probe = *c;
        int v = sub(&probe, rest, r, path);
        json_decref(rest);
        size_t i;
        json_t *b;
        json_array_foreach(wall, i, b)
        {
            if (v != YES) {
                long steps = probe.steps;
                probe = *c;
                probe.steps = steps;
                v = sub(&probe, b, r, path);
            }
        }
        c->steps = probe.steps;
        if (v == YES) {
            return decide(v_out, YES);
        }
    }
    return 0;
}

/* The reader's anyOf or oneOf, with the rest of the reader's schema. */
static int sub_reader_alternatives(struct ctx *c, const json_t *w, const json_t *r,
                                   const char *path, const json_t *rany, const json_t *rone)
{
    const char *key = json_is_array(rany) ? "anyOf" : "oneOf";
    const json_t *branches = json_is_array(rany) ? rany : rone;
    json_t *rest = without(r, key);
    int v = sub(c, w, rest, path);
    json_decref(rest);
    if (v != YES) {
        return v;
    }
    /* Split the writer by type so ["string","null"] can meet two branches. */
    int wt = types_of(w);
    if (wt != T_ALL && (wt & (wt - 1)) != 0 && !(wt == (T_INT | T_NUM))) {
        for (int bit = 1; bit <= T_OBJ; bit <<= 1) {
            if (!(wt & bit) || (bit == T_INT && (wt & T_NUM))) {
                continue;
            }
            json_t *part = json_copy((json_t *)w);
            json_object_set_new(part, "type", json_string(bit_name(bit)));
            v = sub(c, part, r, path);
            json_decref(part);
            if (v != YES) {
                return v;
            }
        }
        return YES;
    }
    int matched = 0;
    size_t i;
    json_t *b;
    json_array_foreach(branches, i, b)
    {
        struct ctx probe = *c;
        probe.why[0] = '\0';
        int got = sub(&probe, w, b, path);
        c->steps = probe.steps;
        if (got == YES) {
            matched++;
            if (key[0] == 'a') {
                return YES;
            }
        } else if (key[0] == 'o') {
            /* oneOf: another branch must exclude the writer's types. */
            int bt = json_is_object(b) ? types_of(b) : T_ALL;
            if ((bt & types_of(w)) != 0) {
                return say(c, UNKNOWN, "at '%s': %s", path,
                           "overlapping oneOf branches in the reader's schema are not "
                           "compared");
            }
        }
    }
    return matched == 1 ? YES
                        : say(c, matched ? UNKNOWN : NO, "at '%s': %s", path,
                              "the writer's schema matches no branch of the reader's");
}

/* The reader's combinators: allOf, anyOf, oneOf. */
static int sub_reader_combinators(struct ctx *c, const json_t *w, const json_t *r, const char *path,
                                  int *v_out)
{
    const json_t *rall = json_object_get(r, "allOf");
    if (json_is_array(rall)) {
        json_t *rest = without(r, "allOf");
        int v = sub(c, w, rest, path);
        json_decref(rest);
        size_t i;
        json_t *b;
        json_array_foreach(rall, i, b)
        {
            v = combine(v, v == YES ? sub(c, w, b, path) : v);
        }
        return decide(v_out, v);
    }
    const json_t *rany = json_object_get(r, "anyOf");
    const json_t *rone = json_object_get(r, "oneOf");
    if (json_is_array(rany) || json_is_array(rone)) {
        return decide(v_out, sub_reader_alternatives(c, w, r, path, rany, rone));
    }
    return 0;
}

/* Enumerated values: the writer's must each be valid for the reader; a reader that
 * enumerates cannot contain a writer that does not. */
static int sub_values(struct ctx *c, const json_t *w, const json_t *r, const char *path, int *v_out)
{
    /* enum / const in the writer: check each value. */
    const json_t *wenum = json_object_get(w, "enum");
    const json_t *wconst = json_object_get(w, "const");
    if (json_is_array(wenum) || wconst != NULL) {
        json_t *vals =
            json_is_array(wenum) ? json_incref((json_t *)wenum) : json_pack("[O]", wconst);
        int v = YES;
        size_t i;
        json_t *x;
        json_array_foreach(vals, i, x)
        {
            if (!(types_of(w) & value_type(x)) &&
                !(value_type(x) == T_INT && (types_of(w) & T_NUM))) {
                continue; /* the writer never writes it */
            }
            int one = valid(c, c->rroot, r, x, c->depth);
            if (one != YES) {
                char *text = json_dumps(x, JSON_ENCODE_ANY | JSON_COMPACT);
                v = say(c, one, "at '%s': value %s is not valid under the reader's schema", path,
                        text);
                free(text);
                break;
            }
        }
        json_decref(vals);
        return decide(v_out, v);
    }
    if (json_object_get(r, "enum") != NULL || json_object_get(r, "const") != NULL) {
        return decide(
            v_out, say(c, NO, "at '%s': %s", path,
                       "the reader's schema restricts values to an enumeration the writer's does "
                       "not"));
    }
    return 0;
}

/* Every type the writer writes must be read, then each type's own keywords compared. */
static int sub_by_type(struct ctx *c, const json_t *w, const json_t *r, const char *path)
{
    int wt = types_of(w);
    int rt = types_of(r);
    for (int bit = 1; bit <= T_OBJ; bit <<= 1) {
        if (!(wt & bit)) {
            continue;
        }
        if (!(rt & bit)) {
            char what[64];
            snprintf(what, sizeof(what), "%s", bit_name(bit));
            if (bit == T_INT && (wt & T_NUM) && !(rt & T_INT)) {
                snprintf(what, sizeof(what), "number");
            }
            if (bit == T_NUM && (rt & T_INT)) {
                snprintf(what, sizeof(what), "number (the reader takes only integers)");
            }
            return say(c, NO, "at '%s': the writer's %s values are not accepted by the reader",
                       path, what);
        }
    }
    int v = YES;
    if (v == YES && (wt & (T_INT | T_NUM))) {
        v = sub_number(c, w, r, path);
    }
    if (v == YES && (wt & T_STR)) {
        v = sub_string(c, w, r, path);
    }
    if (v == YES && (wt & T_ARR)) {
        v = sub_array(c, w, r, path);
    }
    if (v == YES && (wt & T_OBJ)) {
        v = sub_object(c, w, r, path);
    }
    return v;
}

static int sub_inner(struct ctx *c, const json_t *w, const json_t *r, const char *path)
{
    if (json_is_true(r) || json_is_false(w)) {
        return YES;
    }
    if (json_is_false(r)) {
        return say(c, NO, "at '%s': %s", path, "the reader's schema accepts nothing");
    }
    if (json_is_true(w)) {
        w = json_object(); /* borrowed below; an empty object has no members to leak */
        int v = sub_inner(c, w, r, path);
        json_decref((json_t *)w);
        return v;
    }
    int v;
    if (sub_shortcuts(c, w, r, path, &v) || sub_writer_branches(c, w, r, path, &v) ||
        sub_reader_combinators(c, w, r, path, &v) || sub_values(c, w, r, path, &v)) {
        return v;
    }
    return sub_by_type(c, w, r, path);
}

static int sub(struct ctx *c, const json_t *w, const json_t *r, const char *path)
{
    if (++c->steps > MAX_STEPS) {
        return say(c, UNKNOWN, "at '%s': %s", path, "schemas too complex to compare");
    }
    if (++c->depth > MAX_DEPTH) {
        c->depth--;
        return say(c, UNKNOWN, "at '%s': %s", path, "schemas nested too deeply to compare");
    }
    if (c->same_roots && json_equal(w, r)) {
        c->depth--;
        return YES; /* identical subschemas of identical documents */
    }
    const json_t *wr = resolve_ref(c->wroot, w);
    const json_t *rr = resolve_ref(c->rroot, r);
    int v;
    if (wr == NULL || rr == NULL) {
        v = say(c, UNKNOWN, "at '%s': %s", path, "a $ref that does not resolve locally");
    } else {
        v = sub_inner(c, wr, rr, path);
    }
    c->depth--;
    return v;
}

int catalog__jsonschema_compatible(const char *reader, const char *writer, struct err_info *err)
{
    json_t *r = json_loads(reader, JSON_DECODE_ANY, NULL);
    json_t *w = json_loads(writer, JSON_DECODE_ANY, NULL);
    int rc = 0;
    if (r == NULL || w == NULL) {
        rc = err_set(err, SL_E(INVALID_INPUT), "a schema is not valid JSON");
    } else {
        struct ctx *c = xcalloc(1, sizeof(*c));
        c->wroot = w;
        c->rroot = r;
        c->same_roots = json_equal(w, r);
        int v = sub(c, w, r, "");
        if (v == NO) {
            rc = err_set(err, SL_E(INVALID_INPUT), "%s", c->why);
        } else if (v == UNKNOWN) {
            rc = err_set(err, SL_E(INVALID_INPUT), "cannot be shown compatible: %s", c->why);
        }
        free(c);
    }
    json_decref(r);
    json_decref(w);
    return rc;
}

/* ---- definition validation ---- */

static int check(const json_t *root, const json_t *s, int depth, char *why, size_t why_len);

static int check_map(const json_t *root, const json_t *m, int depth, char *why, size_t why_len,
                     const char *kw)
{
    if (!json_is_object(m)) {
        snprintf(why, why_len, "'%s' must be an object of schemas", kw);
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)m, k, v)
    {
        if (check(root, v, depth + 1, why, why_len) < 0) {
            return -1;
        }
    }
    return 0;
}

static int check(const json_t *root, const json_t *s, int depth, char *why, size_t why_len)
{
    if (depth > MAX_DEPTH) {
        snprintf(why, why_len, "schema nested deeper than %d levels", MAX_DEPTH);
        return -1;
    }
    if (json_is_boolean(s)) {
        return 0;
    }
    if (!json_is_object(s)) {
        snprintf(why, why_len, "a schema must be an object or a boolean");
        return -1;
    }
    const json_t *t = json_object_get(s, "type");
    if (t != NULL) {
        int ok = json_is_string(t) ? type_bit(json_string_value(t)) != 0 : json_is_array(t);
        size_t i;
        json_t *x;
        json_array_foreach(t, i, x)
        {
            ok = ok && type_bit(json_string_value(x)) != 0;
        }
        if (!ok) {
            snprintf(why, why_len, "'type' must name JSON Schema types");
            return -1;
        }
    }
    const char *ref = catalog__str(s, "$ref");
    if (ref != NULL && ref[0] == '#' && resolve_ref(root, s) == NULL) {
        snprintf(why, why_len, "$ref '%.200s' does not resolve", ref);
        return -1;
    }
    static const char *const nums[] = {"minimum",   "maximum",       "multipleOf",
                                       "minLength", "maxLength",     "minItems",
                                       "maxItems",  "minProperties", "maxProperties"};
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        const json_t *v = json_object_get(s, nums[i]);
        if (v == NULL) {
            continue;
        }
        int bounded = strcmp(nums[i], "minimum") != 0 && strcmp(nums[i], "maximum") != 0;
        int positive = strcmp(nums[i], "multipleOf") == 0;
        if (!json_is_number(v) || (bounded && num(v) < 0) || (positive && num(v) <= 0)) {
            snprintf(why, why_len, "'%s' must be a %snumber", nums[i],
                     positive  ? "positive "
                     : bounded ? "non-negative "
                               : "");
            return -1;
        }
    }
    const json_t *req = json_object_get(s, "required");
    if (req != NULL && !json_is_array(req) && !json_is_boolean(req)) {
        snprintf(why, why_len, "'required' must be an array of property names");
        return -1;
    }
    const json_t *e = json_object_get(s, "enum");
    if (e != NULL && !json_is_array(e)) {
        snprintf(why, why_len, "'enum' must be an array");
        return -1;
    }
    static const char *const maps[] = {"properties", "patternProperties", "definitions", "$defs"};
    for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
        const json_t *m = json_object_get(s, maps[i]);
        if (m != NULL && check_map(root, m, depth, why, why_len, maps[i]) < 0) {
            return -1;
        }
    }
    static const char *const subs[] = {
        "additionalProperties", "items",          "not", "if", "then", "else", "contains",
        "propertyNames",        "additionalItems"};
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        const json_t *v = json_object_get(s, subs[i]);
        if (v == NULL) {
            continue;
        }
        if (json_is_array(v) && strcmp(subs[i], "items") == 0) {
            size_t k;
            json_t *x;
            json_array_foreach(v, k, x)
            {
                if (check(root, x, depth + 1, why, why_len) < 0) {
                    return -1;
                }
            }
        } else if (check(root, v, depth + 1, why, why_len) < 0) {
            return -1;
        }
    }
    static const char *const lists[] = {"allOf", "anyOf", "oneOf"};
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        const json_t *v = json_object_get(s, lists[i]);
        if (v == NULL) {
            continue;
        }
        if (!json_is_array(v) || json_array_size(v) == 0) {
            snprintf(why, why_len, "'%s' must be a non-empty array of schemas", lists[i]);
            return -1;
        }
        size_t k;
        json_t *x;
        json_array_foreach(v, k, x)
        {
            if (check(root, x, depth + 1, why, why_len) < 0) {
                return -1;
            }
        }
    }
    return 0;
}

int catalog__jsonschema_validate(const char *def, struct err_info *err)
{
    json_error_t jerr;
    json_t *doc = json_loads(def, JSON_DECODE_ANY, &jerr);
    if (doc == NULL) {
        return err_set(err, SL_E(INVALID_INPUT), "not valid JSON: %s (line %d)", jerr.text,
                       jerr.line);
    }
    char why[300] = "";
    int rc = check(doc, doc, 0, why, sizeof(why));
    json_decref(doc);
    if (rc < 0) {
        return err_set(err, SL_E(INVALID_INPUT), "%s", why);
    }
    return 0;
}
