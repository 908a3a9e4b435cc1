/*
 * Protocol Buffers schemas (.proto text, proto2 and proto3): a parser that validates a
 * definition, and compatibility by field numbers and wire types.
 *
 * Parsed: syntax, package, import, option, message (nested messages and enums, fields
 * with optional/required/repeated labels, map<K,V>, oneof, reserved, extensions,
 * option), enum, and service/extend blocks (skipped). Validation: field numbers in
 * 1..536870911 outside 19000..19999, unique field names and numbers in a message, map
 * keys of integral or string type, no `required` in proto3, syntax only as the first
 * statement, no type defined twice, and every field type a
 * scalar or a message/enum defined in the file (unless the file imports others, whose
 * types cannot be seen). Nesting is limited to 64 levels.
 *
 * Compatibility (can `reader` read data written with `writer`?), for each message that
 * both define (by full name), for each field number both use:
 *   - the encodings must agree: varint {int32, int64, uint32, uint64, bool, enums},
 *     zigzag {sint32, sint64}, 32-bit {fixed32, sfixed32}, 64-bit {fixed64, sfixed64},
 *     float, double, length-delimited text {string, bytes}, a message (same name), or a
 *     map with the same key and value types;
 *   - a repeated field stays repeated and a singular one singular.
 * A field the reader marks `required` must be written by the writer. Fields only one side
 * knows are skipped (protobuf ignores unknown fields), as are renames.
 */
#include "catalog/catalog_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

#define MAX_DEPTH 64
#define MAX_FIELD 536870911L

struct pfield {
    char *name;
    long number;
    char *type; /* scalar name, type reference, or "map<K,V>" */
    int repeated;
    int required;
};

struct pmsg {
    char *fullname; /* package.Outer.Inner */
    int is_enum;
    struct pfield *fields;
    size_t n_fields, cap_fields;
};

struct pfile {
    const char *src;
    size_t pos;
    char tok[256]; /* current token */
    int tok_kind;  /* 0 end, 'i' ident/number, 's' string, or the symbol */
    int proto3;
    int has_imports;
    char *package;
    struct pmsg *msgs;
    size_t n_msgs, cap_msgs;
    char why[300];
};

static void pfile_free(struct pfile *f)
{
    for (size_t i = 0; i < f->n_msgs; i++) {
        for (size_t k = 0; k < f->msgs[i].n_fields; k++) {
            free(f->msgs[i].fields[k].name);
            free(f->msgs[i].fields[k].type);
        }
        free(f->msgs[i].fields);
        free(f->msgs[i].fullname);
    }
    free(f->msgs);
    free(f->package);
}

static int pfail(struct pfile *f, const char *what)
{
    if (f->why[0] == '\0') {
        size_t line = 1;
        for (size_t i = 0; i < f->pos && f->src[i] != '\0'; i++) {
            line += f->src[i] == '\n';
        }
        snprintf(f->why, sizeof(f->why), "%s near '%.60s' (line %zu)", what, f->tok, line);
    }
    return -1;
}

static int next(struct pfile *f)
{
    const char *s = f->src;
    for (;;) {
        while (isspace((unsigned char)s[f->pos])) {
            f->pos++;
        }
        if (s[f->pos] == '/' && s[f->pos + 1] == '/') {
            while (s[f->pos] != '\0' && s[f->pos] != '\n') {
                f->pos++;
            }
            continue;
        }
        if (s[f->pos] == '/' && s[f->pos + 1] == '*') {
            const char *end = strstr(s + f->pos + 2, "*/");
            if (end == NULL) {
                return pfail(f, "unterminated comment");
            }
            f->pos = (size_t)(end - s) + 2;
            continue;
        }
        break;
    }
    char c = s[f->pos];
    f->tok[0] = '\0';
    if (c == '\0') {
        f->tok_kind = 0;
        return 0;
    }
    if (c == '"' || c == '\'') {
        size_t i = f->pos + 1, n = 0;
        while (s[i] != '\0' && s[i] != c) {
            if (s[i] == '\\' && s[i + 1] != '\0') {
                i++;
            }
            if (n + 1 < sizeof(f->tok)) {
                f->tok[n++] = s[i];
            }
            i++;
        }
        if (s[i] != c) {
            return pfail(f, "unterminated string");
        }
        f->tok[n] = '\0';
        f->tok_kind = 's';
        f->pos = i + 1;
        return 0;
    }
    if (isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-' || c == '+') {
        size_t n = 0;
        while (isalnum((unsigned char)s[f->pos]) || s[f->pos] == '_' || s[f->pos] == '.' ||
               ((s[f->pos] == '-' || s[f->pos] == '+') && n == 0)) {
            if (n + 1 >= sizeof(f->tok)) {
                return pfail(f, "name too long");
            }
            f->tok[n++] = s[f->pos++];
        }
        f->tok[n] = '\0';
        f->tok_kind = 'i';
        if (n == 0) {
            return pfail(f, "unexpected character");
        }
        return 0;
    }
    f->tok[0] = c;
    f->tok[1] = '\0';
    f->tok_kind = c;
    f->pos++;
    return 0;
}

static int is(const struct pfile *f, const char *word)
{
    return f->tok_kind == 'i' && strcmp(f->tok, word) == 0;
}

static int expect(struct pfile *f, int sym)
{
    if (f->tok_kind != sym) {
        char what[32];
        snprintf(what, sizeof(what), "expected '%c'", sym);
        return pfail(f, what);
    }
    return next(f);
}

/* Skips a statement up to ';' or a balanced {...} block. */
static int skip_statement(struct pfile *f)
{
    int depth = 0;
    while (f->tok_kind != 0) {
        if (f->tok_kind == '{') {
            depth++;
        } else if (f->tok_kind == '}') {
            if (--depth == 0) {
                return next(f);
            }
            if (depth < 0) {
                return pfail(f, "unbalanced '}'");
            }
        } else if (f->tok_kind == ';' && depth == 0) {
            return next(f);
        }
        if (next(f) < 0) {
            return -1;
        }
    }
    return pfail(f, "unexpected end of definition");
}

/* Skips an optional [ ... ] option list. */
static int skip_options(struct pfile *f)
{
    if (f->tok_kind != '[') {
        return 0;
    }
    while (f->tok_kind != ']') {
        if (f->tok_kind == 0) {
            return pfail(f, "unterminated option list");
        }
        if (next(f) < 0) {
            return -1;
        }
    }
    return next(f);
}

/* Adds a message or enum; NULL (and a failure) when the name is already defined. */
static struct pmsg *msg_new(struct pfile *f, const char *fullname, int is_enum)
{
    for (size_t i = 0; i < f->n_msgs; i++) {
        if (strcmp(f->msgs[i].fullname, fullname) == 0) {
            pfail(f, "type defined twice");
            return NULL;
        }
    }
    if (f->n_msgs == f->cap_msgs) {
        f->cap_msgs = f->cap_msgs ? f->cap_msgs * 2 : 8;
        f->msgs = xrealloc(f->msgs, f->cap_msgs * sizeof(*f->msgs));
    }
    struct pmsg *m = &f->msgs[f->n_msgs++];
    memset(m, 0, sizeof(*m));
    m->fullname = xstrdup(fullname);
    m->is_enum = is_enum;
    return m;
}

static const char *const scalars[] = {"double",   "float",    "int32",  "int64",   "uint32",
                                      "uint64",   "sint32",   "sint64", "fixed32", "fixed64",
                                      "sfixed32", "sfixed64", "bool",   "string",  "bytes"};

static int is_scalar(const char *t)
{
    for (size_t i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++) {
        if (strcmp(t, scalars[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static int valid_ident(const char *s)
{
    if (!isalpha((unsigned char)s[0]) && s[0] != '_') {
        return 0;
    }
    for (const char *p = s; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '_') {
            return 0;
        }
    }
    return 1;
}

static int valid_type_ref(const char *s)
{
    const char *p = s[0] == '.' ? s + 1 : s;
    if (*p == '\0' || strstr(p, "..") != NULL || p[strlen(p) - 1] == '.') {
        return 0;
    }
    for (; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.') {
            return 0;
        }
    }
    return 1;
}

static int parse_number(struct pfile *f, long *out)
{
    char *end = NULL;
    long v = strtol(f->tok, &end, 0);
    if (f->tok_kind != 'i' || end == f->tok || *end != '\0') {
        return pfail(f, "expected a number");
    }
    *out = v;
    return next(f);
}

/* Adds a field to message idx (by index: the array may move). */
static int add_field(struct pfile *f, size_t idx, const char *name, long number, const char *type,
                     int repeated, int required)
{
    if (number < 1 || number > MAX_FIELD || (number >= 19000 && number <= 19999)) {
        return pfail(f, "field number out of range");
    }
    struct pmsg *m = &f->msgs[idx];
    for (size_t i = 0; i < m->n_fields; i++) {
        if (m->fields[i].number == number) {
            return pfail(f, "field number used twice");
        }
        if (strcmp(m->fields[i].name, name) == 0) {
            return pfail(f, "field name used twice");
        }
    }
    if (m->n_fields == m->cap_fields) {
        m->cap_fields = m->cap_fields ? m->cap_fields * 2 : 8;
        m->fields = xrealloc(m->fields, m->cap_fields * sizeof(*m->fields));
    }
    struct pfield *fl = &m->fields[m->n_fields++];
    fl->name = xstrdup(name);
    fl->number = number;
    fl->type = xstrdup(type);
    fl->repeated = repeated;
    fl->required = required;
    return 0;
}

/* One field statement: [label] type name = number [options] ; */
static int parse_field(struct pfile *f, size_t idx, int in_oneof)
{
    int repeated = 0, required = 0;
    if (!in_oneof && (is(f, "optional") || is(f, "required") || is(f, "repeated"))) {
        repeated = is(f, "repeated");
        required = is(f, "required");
        if (required && f->proto3) {
            return pfail(f, "required fields are not allowed in proto3");
        }
        if (next(f) < 0) {
            return -1;
        }
    }
    char type[256];
    if (is(f, "map")) {
        if (next(f) < 0 || expect(f, '<') < 0) {
            return -1;
        }
        char key[64];
        snprintf(key, sizeof(key), "%.40s", f->tok);
        static const char *const keys[] = {"int32",    "int64",    "uint32",  "uint64",
                                           "sint32",   "sint64",   "fixed32", "fixed64",
                                           "sfixed32", "sfixed64", "bool",    "string"};
        int ok = 0;
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            ok = ok || strcmp(key, keys[i]) == 0;
        }
        if (!ok) {
            return pfail(f, "invalid map key type");
        }
        if (next(f) < 0 || expect(f, ',') < 0) {
            return -1;
        }
        if (f->tok_kind != 'i' || !valid_type_ref(f->tok)) {
            return pfail(f, "invalid map value type");
        }
        snprintf(type, sizeof(type), "map<%.40s,%.200s>", key, f->tok);
        if (next(f) < 0 || expect(f, '>') < 0) {
            return -1;
        }
        if (repeated) {
            return pfail(f, "map fields cannot be repeated");
        }
    } else {
        if (f->tok_kind != 'i' || !valid_type_ref(f->tok)) {
            return pfail(f, "expected a field type");
        }
        snprintf(type, sizeof(type), "%s", f->tok);
        if (next(f) < 0) {
            return -1;
        }
    }
    if (f->tok_kind != 'i' || !valid_ident(f->tok)) {
        return pfail(f, "expected a field name");
    }
    char name[256];
    snprintf(name, sizeof(name), "%s", f->tok);
    long number;
    if (next(f) < 0 || expect(f, '=') < 0 || parse_number(f, &number) < 0 || skip_options(f) < 0) {
        return -1;
    }
    if (add_field(f, idx, name, number, type, repeated, required) < 0) {
        return -1;
    }
    return expect(f, ';');
}

static int parse_enum(struct pfile *f, const char *scope)
{
    if (next(f) < 0) { /* past "enum" */
        return -1;
    }
    if (f->tok_kind != 'i' || !valid_ident(f->tok)) {
        return pfail(f, "expected an enum name");
    }
    char *full = scope[0] ? xasprintf("%s.%s", scope, f->tok) : xstrdup(f->tok);
    struct pmsg *m = msg_new(f, full, 1);
    free(full);
    if (m == NULL || next(f) < 0 || expect(f, '{') < 0) {
        return -1;
    }
    int n_values = 0;
    while (f->tok_kind != '}') {
        if (f->tok_kind == 0) {
            return pfail(f, "unterminated enum");
        }
        if (is(f, "option") || is(f, "reserved")) {
            if (skip_statement(f) < 0) {
                return -1;
            }
            continue;
        }
        if (f->tok_kind == ';') {
            if (next(f) < 0) {
                return -1;
            }
            continue;
        }
        if (f->tok_kind != 'i' || !valid_ident(f->tok)) {
            return pfail(f, "expected an enum value name");
        }
        long v;
        if (next(f) < 0 || expect(f, '=') < 0 || parse_number(f, &v) < 0 || skip_options(f) < 0 ||
            expect(f, ';') < 0) {
            return -1;
        }
        n_values++;
    }
    if (f->proto3 && n_values == 0) {
        return pfail(f, "an enum needs at least one value");
    }
    return next(f);
}

static int parse_message(struct pfile *f, const char *scope, int depth)
{
    if (depth > MAX_DEPTH) {
        return pfail(f, "messages nested too deeply");
    }
    if (next(f) < 0) { /* past "message" */
        return -1;
    }
    if (f->tok_kind != 'i' || !valid_ident(f->tok)) {
        return pfail(f, "expected a message name");
    }
    char *full = scope[0] ? xasprintf("%s.%s", scope, f->tok) : xstrdup(f->tok);
    if (msg_new(f, full, 0) == NULL) {
        free(full);
        return -1;
    }
    size_t idx = f->n_msgs - 1;
    int rc = next(f) < 0 || expect(f, '{') < 0 ? -1 : 0;
    while (rc == 0 && f->tok_kind != '}') {
        if (f->tok_kind == 0) {
            rc = pfail(f, "unterminated message");
        } else if (f->tok_kind == ';') {
            rc = next(f);
        } else if (is(f, "message")) {
            rc = parse_message(f, full, depth + 1);
        } else if (is(f, "enum")) {
            rc = parse_enum(f, full);
        } else if (is(f, "option") || is(f, "reserved") || is(f, "extensions") || is(f, "extend")) {
            rc = skip_statement(f);
        } else if (is(f, "group")) {
            rc = pfail(f, "groups are not supported");
        } else if (is(f, "oneof")) {
            if (next(f) < 0 || next(f) < 0 || expect(f, '{') < 0) {
                rc = -1;
                break;
            }
            while (rc == 0 && f->tok_kind != '}') {
                if (f->tok_kind == 0) {
                    rc = pfail(f, "unterminated oneof");
                } else if (is(f, "option")) {
                    rc = skip_statement(f);
                } else {
                    rc = parse_field(f, idx, 1);
                }
            }
            if (rc == 0) {
                rc = next(f);
            }
        } else {
            rc = parse_field(f, idx, 0);
        }
    }
    free(full);
    return rc < 0 ? -1 : next(f);
}

/* Finds the message or enum a reference names, searched from scope outwards. */
static const struct pmsg *lookup(const struct pfile *f, const char *scope, const char *ref)
{
    if (ref[0] == '.') {
        for (size_t i = 0; i < f->n_msgs; i++) {
            if (strcmp(f->msgs[i].fullname, ref + 1) == 0) {
                return &f->msgs[i];
            }
        }
        return NULL;
    }
    char *sc = xstrdup(scope);
    for (;;) {
        char *cand = sc[0] ? xasprintf("%s.%s", sc, ref) : xstrdup(ref);
        for (size_t i = 0; i < f->n_msgs; i++) {
            if (strcmp(f->msgs[i].fullname, cand) == 0) {
                free(cand);
                free(sc);
                return &f->msgs[i];
            }
        }
        free(cand);
        if (sc[0] == '\0') {
            break;
        }
        char *dot = strrchr(sc, '.');
        if (dot != NULL) {
            *dot = '\0';
        } else {
            sc[0] = '\0';
        }
    }
    free(sc);
    return NULL;
}

static int parse_file(const char *def, struct pfile *f, struct err_info *err)
{
    memset(f, 0, sizeof(*f));
    f->src = def;
    int rc = next(f);
    char *pkg_scope = xstrdup("");
    int first = 1; /* syntax may only be the first statement */
    while (rc == 0 && f->tok_kind != 0) {
        int was_first = first;
        first = 0;
        if (is(f, "syntax") || is(f, "edition")) {
            int syntax = is(f, "syntax");
            if (!was_first) {
                rc = pfail(f, "syntax must be the first statement");
                break;
            }
            if (next(f) < 0 || expect(f, '=') < 0) {
                rc = -1;
                break;
            }
            if (syntax && strcmp(f->tok, "proto3") != 0 && strcmp(f->tok, "proto2") != 0) {
                rc = pfail(f, "syntax must be proto2 or proto3");
                break;
            }
            f->proto3 = syntax && strcmp(f->tok, "proto3") == 0;
            rc = next(f) < 0 ? -1 : expect(f, ';');
        } else if (is(f, "package")) {
            if (next(f) < 0 || f->tok_kind != 'i' || !valid_type_ref(f->tok)) {
                rc = pfail(f, "expected a package name");
                break;
            }
            free(f->package);
            f->package = xstrdup(f->tok);
            free(pkg_scope);
            pkg_scope = xstrdup(f->tok);
            rc = next(f) < 0 ? -1 : expect(f, ';');
        } else if (is(f, "import")) {
            f->has_imports = 1;
            rc = skip_statement(f);
        } else if (is(f, "option") || is(f, "service") || is(f, "extend")) {
            rc = skip_statement(f);
        } else if (is(f, "message")) {
            rc = parse_message(f, pkg_scope, 0);
        } else if (is(f, "enum")) {
            rc = parse_enum(f, pkg_scope);
        } else if (f->tok_kind == ';') {
            rc = next(f);
        } else {
            rc = pfail(f, "unexpected statement");
        }
    }
    if (rc == 0 && f->n_msgs == 0) {
        rc = pfail(f, "no message or enum is defined");
    }
    /* Every field type must be known unless other files are imported. */
    for (size_t i = 0; rc == 0 && i < f->n_msgs; i++) {
        const struct pmsg *m = &f->msgs[i];
        for (size_t k = 0; rc == 0 && k < m->n_fields; k++) {
            const char *t = m->fields[k].type;
            char val[256];
            if (strncmp(t, "map<", 4) == 0) {
                const char *comma = strchr(t, ',');
                snprintf(val, sizeof(val), "%.*s", (int)strlen(comma + 1) - 1, comma + 1);
                t = val;
            }
            if (!is_scalar(t) && !f->has_imports && lookup(f, m->fullname, t) == NULL) {
                snprintf(f->why, sizeof(f->why), "unknown type '%.100s' of field '%.100s'", t,
                         m->fields[k].name);
                rc = -1;
            }
        }
    }
    free(pkg_scope);
    if (rc < 0) {
        err_set(err, SL_E(INVALID_INPUT), "%s", f->why);
        pfile_free(f);
        return SL_E(INVALID_INPUT);
    }
    return 0;
}

int catalog__proto_validate(const char *def, struct err_info *err)
{
    struct pfile f;
    int rc = parse_file(def, &f, err);
    if (rc == 0) {
        pfile_free(&f);
    }
    return rc;
}

/* ---- compatibility ---- */

/* The encoding family of a field type, resolved in file f from message m. Writes a
 * comparable text into out. */
static void family(const struct pfile *f, const struct pmsg *m, const char *type, char *out,
                   size_t out_len)
{
    static const char *const fams[][2] = {
        {"int32", "varint"},    {"int64", "varint"},     {"uint32", "varint"},
        {"uint64", "varint"},   {"bool", "varint"},      {"sint32", "zigzag"},
        {"sint64", "zigzag"},   {"fixed32", "fixed32"},  {"sfixed32", "fixed32"},
        {"fixed64", "fixed64"}, {"sfixed64", "fixed64"}, {"float", "float"},
        {"double", "double"},   {"string", "text"},      {"bytes", "text"}};
    for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
        if (strcmp(type, fams[i][0]) == 0) {
            snprintf(out, out_len, "%s", fams[i][1]);
            return;
        }
    }
    if (strncmp(type, "map<", 4) == 0) {
        snprintf(out, out_len, "%s", type);
        return;
    }
    const struct pmsg *t = lookup(f, m->fullname, type);
    if (t != NULL && t->is_enum) {
        snprintf(out, out_len, "varint");
    } else {
        /* A message by its simple name, so moves between packages stay compatible. */
        const char *name = t != NULL ? t->fullname : type;
        const char *dot = strrchr(name, '.');
        snprintf(out, out_len, "message %s", dot != NULL ? dot + 1 : name);
    }
}

int catalog__proto_compatible(const char *reader, const char *writer, struct err_info *err)
{
    struct pfile r, w;
    if (parse_file(reader, &r, err) < 0) {
        return SL_E(INVALID_INPUT);
    }
    if (parse_file(writer, &w, err) < 0) {
        pfile_free(&r);
        return SL_E(INVALID_INPUT);
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < r.n_msgs; i++) {
        const struct pmsg *rm = &r.msgs[i];
        const struct pmsg *wm = NULL;
        for (size_t k = 0; k < w.n_msgs && wm == NULL; k++) {
            if (strcmp(w.msgs[k].fullname, rm->fullname) == 0 && !w.msgs[k].is_enum) {
                wm = &w.msgs[k];
            }
        }
        if (wm == NULL || rm->is_enum) {
            continue;
        }
        for (size_t a = 0; rc == 0 && a < rm->n_fields; a++) {
            const struct pfield *rf = &rm->fields[a];
            const struct pfield *wf = NULL;
            for (size_t b = 0; b < wm->n_fields && wf == NULL; b++) {
                if (wm->fields[b].number == rf->number) {
                    wf = &wm->fields[b];
                }
            }
            if (wf == NULL) {
                if (rf->required) {
                    rc = err_set(err, SL_E(INVALID_INPUT),
                                 "field %ld ('%s') of %s is required by the reader but not "
                                 "written",
                                 rf->number, rf->name, rm->fullname);
                }
                continue;
            }
            char rfam[300], wfam[300];
            family(&r, rm, rf->type, rfam, sizeof(rfam));
            family(&w, wm, wf->type, wfam, sizeof(wfam));
            if (strcmp(rfam, wfam) != 0) {
                rc = err_set(err, SL_E(INVALID_INPUT),
                             "field %ld of %s changed from %s to %s (wire types differ)",
                             rf->number, rm->fullname, wf->type, rf->type);
            } else if (rf->repeated != wf->repeated) {
                rc = err_set(err, SL_E(INVALID_INPUT),
                             "field %ld of %s changed between repeated and singular", rf->number,
                             rm->fullname);
            }
        }
    }
    pfile_free(&r);
    pfile_free(&w);
    return rc;
}
