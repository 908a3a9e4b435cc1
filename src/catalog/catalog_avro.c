/*
 * Avro schemas: parsing and validation by the Avro 1.11 specification, and the
 * specification's schema-resolution rules as the compatibility test.
 *
 * Parsing builds a graph of nodes. Named types (record, enum, fixed) are registered by
 * full name (namespace.name) when defined and may be referred to by name afterwards,
 * which is how recursive types are written. Validation: names match
 * [A-Za-z_][A-Za-z0-9_]*, record fields and enum symbols are unique, a union holds no
 * union directly and no two branches of the same unnamed type or the same name, fixed
 * has a size >= 0, and a field default matches the field's type (the first branch for
 * a union). Nesting is limited to 128 levels.
 *
 * Resolution (can `reader` read data written with `writer`?):
 *   - writer union: every branch must be readable by the reader;
 *   - reader union (writer not): some branch must read the writer;
 *   - same primitive; or the promotions int -> long, float, double; long -> float,
 *     double; float -> double; string <-> bytes;
 *   - records with the same unqualified name (or a reader alias naming the writer): each
 *     reader field is read from the writer field of the same name or of one of its
 *     aliases, else it must have a default; writer fields the reader lacks are skipped;
 *   - enums with the same name: every writer symbol must be a reader symbol, unless the
 *     reader declares an enum default;
 *   - arrays by items, maps by values, fixed by name and size.
 * A pair of named types already being compared is assumed compatible (recursion).
 */
#include "catalog/catalog_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

#define MAX_DEPTH 128
#define MAX_STEPS 100000 /* type comparisons in one check; beyond: refused as too complex */

enum akind {
    A_NULL,
    A_BOOLEAN,
    A_INT,
    A_LONG,
    A_FLOAT,
    A_DOUBLE,
    A_BYTES,
    A_STRING,
    A_RECORD,
    A_ENUM,
    A_ARRAY,
    A_MAP,
    A_UNION,
    A_FIXED
};

static const char *const kind_names[] = {"null",   "boolean", "int",    "long",   "float",
                                         "double", "bytes",   "string", "record", "enum",
                                         "array",  "map",     "union",  "fixed"};

struct afield {
    const char *name;
    const json_t *aliases; /* array of names, borrowed from the document */
    struct anode *type;
    int has_default;
};

struct anode {
    enum akind kind;
    char *fullname;        /* named types */
    char *ns;              /* named types: namespace of fullname, "" when none */
    const char *shortname; /* after the last '.' of fullname */
    const json_t *aliases; /* named types: borrowed */
    struct afield *fields; /* record */
    size_t n_fields;
    const json_t *symbols; /* enum: borrowed array */
    int has_enum_default;
    struct anode *items;     /* array items, map values */
    struct anode **branches; /* union */
    size_t n_branches;
    long long size; /* fixed */
};

/* Owns every node of one parsed schema and the JSON document they borrow from. */
struct aschema {
    json_t *doc;
    struct anode **nodes;
    size_t n_nodes, cap_nodes;
    struct anode *root;
    char why[400];
};

static struct anode *node_new(struct aschema *s, enum akind kind)
{
    if (s->n_nodes == s->cap_nodes) {
        s->cap_nodes = s->cap_nodes ? s->cap_nodes * 2 : 32;
        s->nodes = xrealloc(s->nodes, s->cap_nodes * sizeof(*s->nodes));
    }
    struct anode *n = xcalloc(1, sizeof(*n));
    n->kind = kind;
    s->nodes[s->n_nodes++] = n;
    return n;
}

static void schema_free(struct aschema *s)
{
    for (size_t i = 0; i < s->n_nodes; i++) {
        free(s->nodes[i]->fullname);
        free(s->nodes[i]->ns);
        free(s->nodes[i]->fields);
        free(s->nodes[i]->branches);
        free(s->nodes[i]);
    }
    free(s->nodes);
    json_decref(s->doc);
}

static int fail(struct aschema *s, const char *what, const char *arg)
{
    if (s->why[0] == '\0') {
        snprintf(s->why, sizeof(s->why), "%s%s%.200s%s", what, arg ? " '" : "", arg ? arg : "",
                 arg ? "'" : "");
    }
    return -1;
}

static int valid_name(const char *n)
{
    if (n == NULL || !(isalpha((unsigned char)n[0]) || n[0] == '_')) {
        return 0;
    }
    for (const char *p = n; *p != '\0'; p++) {
        if (!isalnum((unsigned char)*p) && *p != '_') {
            return 0;
        }
    }
    return 1;
}

static int valid_fullname(const char *n)
{
    char *copy = xstrdup(n);
    int ok = 1;
    char *save = NULL;
    int parts = 0;
    for (char *t = strtok_r(copy, ".", &save); t != NULL; t = strtok_r(NULL, ".", &save)) {
        ok = ok && valid_name(t);
        parts++;
    }
    ok = ok && parts > 0 && n[0] != '.' && n[strlen(n) - 1] != '.' && strstr(n, "..") == NULL;
    free(copy);
    return ok;
}

static int primitive_kind(const char *t, enum akind *k)
{
    for (int i = A_NULL; i <= A_STRING; i++) {
        if (strcmp(t, kind_names[i]) == 0) {
            *k = (enum akind)i;
            return 1;
        }
    }
    return 0;
}

static struct anode *find_named(struct aschema *s, const char *fullname)
{
    for (size_t i = 0; i < s->n_nodes; i++) {
        if (s->nodes[i]->fullname != NULL && strcmp(s->nodes[i]->fullname, fullname) == 0) {
            return s->nodes[i];
        }
    }
    return NULL;
}

static char *make_fullname(const char *name, const char *ns)
{
    if (strchr(name, '.') != NULL || ns == NULL || ns[0] == '\0') {
        return xstrdup(name);
    }
    return xasprintf("%s.%s", ns, name);
}

static struct anode *parse(struct aschema *s, const json_t *j, const char *ns, int depth);

/* Registers a named type; fails on a redefinition. */
static int name_node(struct aschema *s, struct anode *n, const json_t *j, const char **ns)
{
    const char *name = catalog__str(j, "name");
    if (name == NULL || !valid_fullname(name)) {
        return fail(s, "invalid or missing name", name);
    }
    const char *own_ns = catalog__str(j, "namespace");
    if (own_ns != NULL && own_ns[0] != '\0' && !valid_fullname(own_ns)) {
        return fail(s, "invalid namespace", own_ns);
    }
    if (own_ns != NULL) {
        *ns = own_ns;
    }
    char *full = make_fullname(name, *ns);
    if (find_named(s, full) != NULL) {
        fail(s, "type redefined:", full);
        free(full);
        return -1;
    }
    n->fullname = full;
    const char *dot = strrchr(full, '.');
    n->shortname = dot != NULL ? dot + 1 : full;
    /* What a named type encloses takes the namespace of its full name. */
    n->ns = dot != NULL ? xstrndup(full, (size_t)(dot - full)) : xstrdup("");
    *ns = n->ns;
    n->aliases = json_object_get(j, "aliases");
    if (n->aliases != NULL && !json_is_array(n->aliases)) {
        return fail(s, "aliases must be an array of names", NULL);
    }
    return 0;
}

/* Whether a JSON default value fits type t. */
static int default_ok(const struct anode *t, const json_t *v, int depth)
{
    if (depth > MAX_DEPTH) {
        return 0;
    }
    switch (t->kind) {
    case A_NULL: return json_is_null(v);
    case A_BOOLEAN: return json_is_boolean(v);
    case A_INT:
    case A_LONG: return json_is_integer(v);
    case A_FLOAT:
    case A_DOUBLE: return json_is_number(v);
    case A_BYTES:
    case A_STRING:
    case A_FIXED: return json_is_string(v);
    case A_ENUM: {
        size_t i;
        json_t *sym;
        json_array_foreach(t->symbols, i, sym)
        {
            if (json_is_string(v) && json_equal(sym, v)) {
                return 1;
            }
        }
        return 0;
    }
    case A_ARRAY: {
        if (!json_is_array(v)) {
            return 0;
        }
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if (!default_ok(t->items, e, depth + 1)) {
                return 0;
            }
        }
        return 1;
    }
    case A_MAP: {
        if (!json_is_object(v)) {
            return 0;
        }
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k, e)
        {
            if (!default_ok(t->items, e, depth + 1)) {
                return 0;
            }
        }
        return 1;
    }
    case A_RECORD: {
        if (!json_is_object(v)) {
            return 0;
        }
        for (size_t i = 0; i < t->n_fields; i++) {
            const json_t *fv = json_object_get(v, t->fields[i].name);
            if (fv != NULL && !default_ok(t->fields[i].type, fv, depth + 1)) {
                return 0;
            }
            if (fv == NULL && !t->fields[i].has_default) {
                return 0;
            }
        }
        return 1;
    }
    case A_UNION: return t->n_branches > 0 && default_ok(t->branches[0], v, depth + 1);
    }
    return 0;
}

static struct anode *parse_record(struct aschema *s, const json_t *j, const char *ns, int depth)
{
    struct anode *n = node_new(s, A_RECORD);
    if (name_node(s, n, j, &ns) < 0) {
        return NULL;
    }
    const json_t *fields = json_object_get(j, "fields");
    if (!json_is_array(fields)) {
        fail(s, "record without a fields array:", n->fullname);
        return NULL;
    }
    n->n_fields = json_array_size(fields);
    n->fields = xcalloc(n->n_fields + 1, sizeof(*n->fields));
    for (size_t i = 0; i < n->n_fields; i++) {
        const json_t *f = json_array_get(fields, i);
        struct afield *af = &n->fields[i];
        af->name = catalog__str(f, "name");
        if (!valid_name(af->name)) {
            fail(s, "invalid field name", af->name);
            return NULL;
        }
        for (size_t k = 0; k < i; k++) {
            if (strcmp(n->fields[k].name, af->name) == 0) {
                fail(s, "duplicate field", af->name);
                return NULL;
            }
        }
        const json_t *ft = json_object_get(f, "type");
        if (ft == NULL) {
            fail(s, "field without a type:", af->name);
            return NULL;
        }
        af->type = parse(s, ft, ns, depth + 1);
        if (af->type == NULL) {
            return NULL;
        }
        af->aliases = json_object_get(f, "aliases");
        const json_t *dflt = json_object_get(f, "default");
        if (dflt != NULL) {
            if (!default_ok(af->type, dflt, 0)) {
                fail(s, "default value does not match the type of field", af->name);
                return NULL;
            }
            af->has_default = 1;
        }
    }
    return n;
}

static struct anode *parse_object(struct aschema *s, const json_t *j, const char *ns, int depth)
{
    const json_t *tj = json_object_get(j, "type");
    if (tj == NULL) {
        fail(s, "schema object without a type", NULL);
        return NULL;
    }
    if (!json_is_string(tj)) {
        return parse(s, tj, ns, depth + 1);
    }
    const char *t = json_string_value(tj);
    enum akind k;
    if (primitive_kind(t, &k)) {
        return node_new(s, k); /* logicalType and other attributes are annotations */
    }
    if (strcmp(t, "record") == 0 || strcmp(t, "error") == 0) {
        return parse_record(s, j, ns, depth);
    }
    if (strcmp(t, "enum") == 0) {
        struct anode *n = node_new(s, A_ENUM);
        if (name_node(s, n, j, &ns) < 0) {
            return NULL;
        }
        n->symbols = json_object_get(j, "symbols");
        if (!json_is_array(n->symbols)) {
            fail(s, "enum without a symbols array:", n->fullname);
            return NULL;
        }
        size_t i;
        json_t *sym;
        json_array_foreach(n->symbols, i, sym)
        {
            if (!valid_name(json_string_value(sym))) {
                fail(s, "invalid enum symbol", json_string_value(sym));
                return NULL;
            }
            for (size_t k2 = 0; k2 < i; k2++) {
                if (json_equal(json_array_get(n->symbols, k2), sym)) {
                    fail(s, "duplicate enum symbol", json_string_value(sym));
                    return NULL;
                }
            }
        }
        const json_t *d = json_object_get(j, "default");
        if (d != NULL) {
            if (!default_ok(n, d, 0)) {
                fail(s, "enum default is not a symbol of", n->fullname);
                return NULL;
            }
            n->has_enum_default = 1;
        }
        return n;
    }
    if (strcmp(t, "array") == 0 || strcmp(t, "map") == 0) {
        int is_array = t[0] == 'a';
        struct anode *n = node_new(s, is_array ? A_ARRAY : A_MAP);
        const json_t *sub = json_object_get(j, is_array ? "items" : "values");
        if (sub == NULL) {
            fail(s, is_array ? "array without items" : "map without values", NULL);
            return NULL;
        }
        n->items = parse(s, sub, ns, depth + 1);
        return n->items != NULL ? n : NULL;
    }
    if (strcmp(t, "fixed") == 0) {
        struct anode *n = node_new(s, A_FIXED);
        if (name_node(s, n, j, &ns) < 0) {
            return NULL;
        }
        const json_t *size = json_object_get(j, "size");
        if (!json_is_integer(size) || json_integer_value(size) < 0) {
            fail(s, "fixed without a valid size:", n->fullname);
            return NULL;
        }
        n->size = json_integer_value(size);
        return n;
    }
    return parse(s, tj, ns, depth + 1); /* a reference to a named type */
}

static struct anode *parse(struct aschema *s, const json_t *j, const char *ns, int depth)
{
    if (depth > MAX_DEPTH) {
        fail(s, "schema nested too deeply", NULL);
        return NULL;
    }
    if (json_is_string(j)) {
        const char *t = json_string_value(j);
        enum akind k;
        if (primitive_kind(t, &k)) {
            return node_new(s, k);
        }
        char *full = make_fullname(t, ns);
        struct anode *n = find_named(s, full);
        free(full);
        if (n == NULL) {
            n = find_named(s, t);
        }
        if (n == NULL) {
            fail(s, "undefined type", t);
        }
        return n;
    }
    if (json_is_array(j)) {
        struct anode *u = node_new(s, A_UNION);
        u->n_branches = json_array_size(j);
        u->branches = xcalloc(u->n_branches + 1, sizeof(*u->branches));
        for (size_t i = 0; i < u->n_branches; i++) {
            struct anode *b = parse(s, json_array_get(j, i), ns, depth + 1);
            if (b == NULL) {
                return NULL;
            }
            if (b->kind == A_UNION) {
                fail(s, "a union may not directly contain a union", NULL);
                return NULL;
            }
            for (size_t k = 0; k < i; k++) {
                const struct anode *o = u->branches[k];
                if (o->kind == b->kind &&
                    (o->fullname == NULL || strcmp(o->fullname, b->fullname) == 0)) {
                    fail(s, "duplicate type in union:",
                         b->fullname != NULL ? b->fullname : kind_names[b->kind]);
                    return NULL;
                }
            }
            u->branches[i] = b;
        }
        return u;
    }
    if (json_is_object(j)) {
        return parse_object(s, j, ns, depth);
    }
    fail(s, "a schema must be a name, an object or a union array", NULL);
    return NULL;
}

static int schema_parse(const char *def, struct aschema *s, struct err_info *err)
{
    memset(s, 0, sizeof(*s));
    json_error_t jerr;
    s->doc = json_loads(def, JSON_DECODE_ANY, &jerr);
    if (s->doc == NULL) {
        return err_set(err, SL_E(INVALID_INPUT), "not valid JSON: %s (line %d)", jerr.text,
                       jerr.line);
    }
    s->root = parse(s, s->doc, NULL, 0);
    if (s->root == NULL) {
        err_set(err, SL_E(INVALID_INPUT), "%s", s->why);
        schema_free(s);
        return SL_E(INVALID_INPUT);
    }
    return 0;
}

int catalog__avro_validate(const char *def, struct err_info *err)
{
    struct aschema s;
    int rc = schema_parse(def, &s, err);
    if (rc == 0) {
        schema_free(&s);
    }
    return rc;
}

/* ---- resolution ---- */

struct pair {
    const struct anode *r, *w;
};

struct resolve {
    struct pair stack[MAX_DEPTH * 2];
    size_t depth;
    long steps;     /* can_read() calls so far, bounded by MAX_STEPS */
    char path[256]; /* where the first failure was */
    char why[256];
};

static int rfail(struct resolve *rs, const char *fmt, const char *a, const char *b)
{
    if (rs->why[0] == '\0') {
        snprintf(rs->why, sizeof(rs->why), fmt, a, b);
    }
    return 0;
}

static const char *type_name(const struct anode *n)
{
    return n->fullname != NULL ? n->fullname : kind_names[n->kind];
}

static int names_match(const struct anode *r, const struct anode *w)
{
    if (strcmp(r->shortname, w->shortname) == 0 || strcmp(r->fullname, w->fullname) == 0) {
        return 1;
    }
    size_t i;
    json_t *a;
    json_array_foreach(r->aliases, i, a)
    {
        const char *s = json_string_value(a);
        if (s != NULL && (strcmp(s, w->fullname) == 0 || strcmp(s, w->shortname) == 0)) {
            return 1;
        }
    }
    return 0;
}

static int can_read(struct resolve *rs, const struct anode *r, const struct anode *w);

static int record_read(struct resolve *rs, const struct anode *r, const struct anode *w)
{
    for (size_t i = 0; i < r->n_fields; i++) {
        const struct afield *rf = &r->fields[i];
        const struct afield *wf = NULL;
        for (size_t k = 0; k < w->n_fields && wf == NULL; k++) {
            if (strcmp(w->fields[k].name, rf->name) == 0) {
                wf = &w->fields[k];
            }
        }
        size_t ai;
        json_t *alias;
        json_array_foreach(rf->aliases, ai, alias)
        {
            for (size_t k = 0; k < w->n_fields && wf == NULL; k++) {
                if (json_is_string(alias) &&
                    strcmp(w->fields[k].name, json_string_value(alias)) == 0) {
                    wf = &w->fields[k];
                }
            }
        }
        if (wf == NULL) {
            if (!rf->has_default) {
                return rfail(rs,
                             "field '%s' of %s is missing in the writer's schema and has no"
                             " default",
                             rf->name, r->fullname);
            }
            continue;
        }
        if (!can_read(rs, rf->type, wf->type)) {
            if (rs->path[0] == '\0') {
                snprintf(rs->path, sizeof(rs->path), "%s", rf->name);
            } else {
                char tmp[256];
                snprintf(tmp, sizeof(tmp), "%.120s.%.120s", rf->name, rs->path);
                snprintf(rs->path, sizeof(rs->path), "%s", tmp);
            }
            return 0;
        }
    }
    return 1;
}

static int can_read(struct resolve *rs, const struct anode *r, const struct anode *w)
{
    if (++rs->steps > MAX_STEPS) {
        return rfail(rs, "schemas too complex to compare%s%s", "", "");
    }
    if (w->kind == A_UNION) {
        for (size_t i = 0; i < w->n_branches; i++) {
            if (!can_read(rs, r, w->branches[i])) {
                return 0;
            }
        }
        return 1;
    }
    if (r->kind == A_UNION) {
        for (size_t i = 0; i < r->n_branches; i++) {
            struct resolve *probe = xmalloc(sizeof(*probe));
            *probe = *rs;
            probe->why[0] = '\0';
            int ok = can_read(probe, r->branches[i], w);
            rs->steps = probe->steps;
            free(probe);
            if (ok) {
                return 1;
            }
        }
        if (rs->steps > MAX_STEPS) {
            return rfail(rs, "schemas too complex to compare%s%s", "", "");
        }
        return rfail(rs, "the writer's %s matches no branch of the reader's union%s", type_name(w),
                     "");
    }
    if (r->fullname != NULL && w->fullname != NULL) {
        for (size_t i = 0; i < rs->depth; i++) {
            if (rs->stack[i].r == r && rs->stack[i].w == w) {
                return 1; /* already being compared: recursion */
            }
        }
    }
    if (rs->depth == sizeof(rs->stack) / sizeof(rs->stack[0])) {
        return rfail(rs, "schemas nested too deeply%s%s", "", "");
    }
    int ok = 0;
    switch (w->kind) {
    case A_INT:
        ok = r->kind == A_INT || r->kind == A_LONG || r->kind == A_FLOAT || r->kind == A_DOUBLE;
        break;
    case A_LONG: ok = r->kind == A_LONG || r->kind == A_FLOAT || r->kind == A_DOUBLE; break;
    case A_FLOAT: ok = r->kind == A_FLOAT || r->kind == A_DOUBLE; break;
    case A_STRING:
    case A_BYTES: ok = r->kind == A_STRING || r->kind == A_BYTES; break;
    case A_NULL:
    case A_BOOLEAN:
    case A_DOUBLE: ok = r->kind == w->kind; break;
    default: break;
    }
    if (w->kind <= A_STRING) {
        return ok ? 1
                  : rfail(rs, "the writer's %s cannot be read as %s", type_name(w), type_name(r));
    }
    if (r->kind != w->kind) {
        return rfail(rs, "the writer's %s cannot be read as %s", type_name(w), type_name(r));
    }
    rs->stack[rs->depth].r = r;
    rs->stack[rs->depth].w = w;
    rs->depth++;
    switch (w->kind) {
    case A_ARRAY:
    case A_MAP: ok = can_read(rs, r->items, w->items); break;
    case A_FIXED:
        ok = names_match(r, w) && r->size == w->size;
        if (!ok) {
            rfail(rs, "fixed %s cannot be read as %s (name or size differs)", type_name(w),
                  type_name(r));
        }
        break;
    case A_ENUM:
        ok = names_match(r, w);
        if (!ok) {
            rfail(rs, "enum %s cannot be read as %s", type_name(w), type_name(r));
            break;
        }
        if (!r->has_enum_default) {
            size_t i;
            json_t *sym;
            json_array_foreach(w->symbols, i, sym)
            {
                if (ok && !default_ok(r, sym, 0)) {
                    ok = rfail(rs,
                               "symbol '%s' of enum %s is unknown to the reader and it has "
                               "no default",
                               json_string_value(sym), type_name(w));
                }
            }
        }
        break;
    case A_RECORD:
        ok = names_match(r, w);
        if (!ok) {
            rfail(rs, "record %s cannot be read as %s (names differ)", type_name(w), type_name(r));
            break;
        }
        ok = record_read(rs, r, w);
        break;
    default: break;
    }
    rs->depth--;
    return ok;
}

int catalog__avro_compatible(const char *reader, const char *writer, struct err_info *err)
{
    struct aschema r, w;
    if (schema_parse(reader, &r, err) < 0) {
        return SL_E(INVALID_INPUT);
    }
    if (schema_parse(writer, &w, err) < 0) {
        schema_free(&r);
        return SL_E(INVALID_INPUT);
    }
    struct resolve *rs = xcalloc(1, sizeof(*rs));
    int ok = can_read(rs, r.root, w.root);
    int rc = 0;
    if (!ok) {
        if (rs->path[0]) {
            rc = err_set(err, SL_E(INVALID_INPUT), "at field '%s': %s", rs->path, rs->why);
        } else {
            rc = err_set(err, SL_E(INVALID_INPUT), "%s", rs->why);
        }
    }
    free(rs);
    schema_free(&r);
    schema_free(&w);
    return rc;
}
