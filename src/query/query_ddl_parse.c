/*
 * The Hive DDL and utility statements Athena runs outside its SQL engine: their
 * classification from the leading keywords, and a recursive-descent parser that turns
 * one statement into a struct query_ddl_stmt (names lower-cased, strings unescaped, Hive
 * types normalised as Glue stores them: "decimal(10,2)", "map<string,array<int>>").
 *
 * Tokens: words (letters, digits, _), `backquoted` identifiers (`` for a backquote),
 * "double-quoted" identifiers, 'strings' (Hive's backslash escapes and '' for a quote),
 * numbers and single punctuation characters. Errors name the line and column of the
 * token that went wrong, as Athena does: "line 1:25: mismatched input 'x'. Expecting: ...".
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"
#include "query/query_int.h"

enum tok_kind { T_END, T_WORD, T_QIDENT, T_STRING, T_NUMBER, T_PUNCT, T_BAD };

struct tok {
    enum tok_kind kind;
    size_t start, len; /* in the text */
    char *text;        /* the word / identifier / unescaped string / the character */
};

struct parser {
    const char *sql;
    size_t pos; /* the next byte to tokenise */
    struct tok cur;
    int failed;
    char *err;
    size_t err_len;
};

/* ---- classification ---- */

/* Skips blanks and SQL comments (-- to the end of line, block comments). */
static const char *skip_blank(const char *s)
{
    for (;;) {
        while (*s != '\0' && isspace((unsigned char)*s)) {
            s++;
        }
        if (s[0] == '-' && s[1] == '-') {
            while (*s != '\0' && *s != '\n') {
                s++;
            }
        } else if (s[0] == '/' && s[1] == '*') {
            const char *e = strstr(s + 2, "*/");
            s = e != NULL ? e + 2 : s + strlen(s);
        } else {
            return s;
        }
    }
}

/* Copies the next word of *s (upper case) into w and moves *s past it; "" at none. */
static void next_word(const char **s, char *w, size_t len)
{
    const char *p = skip_blank(*s);
    size_t i = 0;
    while ((isalnum((unsigned char)*p) || *p == '_') && i + 1 < len) {
        w[i++] = (char)toupper((unsigned char)*p++);
    }
    w[i] = '\0';
    *s = p;
}

/* Skips a (possibly qualified, quoted) name. */
static const char *skip_name(const char *q)
{
    q = skip_blank(q);
    for (;;) {
        if (*q == '`' || *q == '"') {
            char c = *q++;
            while (*q != '\0' && *q != c) {
                q++;
            }
            q += *q != '\0';
        } else {
            while (isalnum((unsigned char)*q) || *q == '_') {
                q++;
            }
        }
        q = skip_blank(q);
        if (*q != '.') {
            return q;
        }
        q = skip_blank(q + 1);
    }
}

/* After CREATE [EXTERNAL] TABLE [IF NOT EXISTS] name: Hive DDL when a column list or
 * nothing follows, CTAS (WITH (...) AS / AS) otherwise. */
static int create_table_is_hive(const char *p)
{
    char w[16];
    const char *q = p;
    next_word(&q, w, sizeof(w));
    if (strcmp(w, "IF") == 0) {
        next_word(&q, w, sizeof(w)); /* NOT */
        next_word(&q, w, sizeof(w)); /* EXISTS */
    } else {
        q = p;
    }
    q = skip_name(q);
    next_word(&q, w, sizeof(w));
    return strcmp(w, "AS") != 0 && strcmp(w, "WITH") != 0;
}

enum query_ddl_kind query__ddl_classify(const char *sql)
{
    const char *p = sql;
    char w1[16], w2[16], w3[16];
    next_word(&p, w1, sizeof(w1));
    next_word(&p, w2, sizeof(w2));
    const char *after2 = p;
    next_word(&p, w3, sizeof(w3));
    if (strcmp(w1, "CREATE") == 0) {
        if (strcmp(w2, "DATABASE") == 0 || strcmp(w2, "SCHEMA") == 0) {
            return QUERY_DDL_CREATE_DATABASE;
        }
        if (strcmp(w2, "VIEW") == 0 || (strcmp(w2, "OR") == 0 && strcmp(w3, "REPLACE") == 0)) {
            return QUERY_DDL_CREATE_VIEW;
        }
        if (strcmp(w2, "EXTERNAL") == 0 && strcmp(w3, "TABLE") == 0) {
            return QUERY_DDL_CREATE_TABLE;
        }
        if (strcmp(w2, "TABLE") == 0 && create_table_is_hive(after2)) {
            return QUERY_DDL_CREATE_TABLE;
        }
        return QUERY_DDL_NONE;
    }
    if (strcmp(w1, "DROP") == 0) {
        if (strcmp(w2, "DATABASE") == 0 || strcmp(w2, "SCHEMA") == 0) {
            return QUERY_DDL_DROP_DATABASE;
        }
        if (strcmp(w2, "TABLE") == 0) {
            return QUERY_DDL_DROP_TABLE;
        }
        return strcmp(w2, "VIEW") == 0 ? QUERY_DDL_DROP_VIEW : QUERY_DDL_NONE;
    }
    if (strcmp(w1, "ALTER") == 0 && strcmp(w2, "TABLE") == 0) {
        /* ALTER TABLE name ADD|DROP ...; anything else is refused by the parser */
        const char *q = skip_name(after2);
        char w[16];
        next_word(&q, w, sizeof(w));
        return strcmp(w, "DROP") == 0 ? QUERY_DDL_DROP_PARTITION : QUERY_DDL_ADD_PARTITION;
    }
    if (strcmp(w1, "MSCK") == 0) {
        return QUERY_DDL_MSCK;
    }
    if (strcmp(w1, "SHOW") == 0) {
        static const struct {
            const char *word;
            enum query_ddl_kind kind;
        } shows[] = {{"DATABASES", QUERY_DDL_SHOW_DATABASES},
                     {"SCHEMAS", QUERY_DDL_SHOW_DATABASES},
                     {"TABLES", QUERY_DDL_SHOW_TABLES},
                     {"PARTITIONS", QUERY_DDL_SHOW_PARTITIONS},
                     {"COLUMNS", QUERY_DDL_SHOW_COLUMNS},
                     {"CREATE", QUERY_DDL_SHOW_CREATE_TABLE},
                     {"TBLPROPERTIES", QUERY_DDL_SHOW_TBLPROPERTIES},
                     {"VIEWS", QUERY_DDL_SHOW_VIEWS}};
        for (size_t i = 0; i < sizeof(shows) / sizeof(shows[0]); i++) {
            if (strcmp(w2, shows[i].word) == 0) {
                return shows[i].kind;
            }
        }
        return QUERY_DDL_SHOW_TABLES; /* the parser names what is wrong */
    }
    if (strcmp(w1, "DESCRIBE") == 0 || strcmp(w1, "DESC") == 0) {
        return QUERY_DDL_DESCRIBE;
    }
    if (strcmp(w1, "EXPLAIN") == 0) {
        return QUERY_DDL_EXPLAIN;
    }
    return QUERY_DDL_NONE;
}

const char *query__ddl_statement_type(enum query_ddl_kind kind)
{
    switch (kind) {
#define QUERY_DDL_TYPE(s, t, sub)                                                                  \
    case QUERY_DDL_##s: return t;
        QUERY_DDL_MAP(QUERY_DDL_TYPE)
#undef QUERY_DDL_TYPE
    default: return "DML";
    }
}

const char *query__ddl_substatement_type(enum query_ddl_kind kind)
{
    switch (kind) {
#define QUERY_DDL_SUB(s, t, sub)                                                                   \
    case QUERY_DDL_##s: return sub;
        QUERY_DDL_MAP(QUERY_DDL_SUB)
#undef QUERY_DDL_SUB
    default: return "SELECT";
    }
}

const char *query__ddl_result_ext(const char *sql)
{
    enum query_ddl_kind k = query__ddl_classify(sql);
    return k == QUERY_DDL_NONE || k == QUERY_DDL_EXPLAIN ? ".csv" : ".txt";
}

/* ---- tokens ---- */

static void line_col_of(const char *text, size_t off, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && text[i] != '\0'; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static void fail_at(struct parser *p, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_at(struct parser *p, size_t off, const char *fmt, ...)
{
    if (p->failed) {
        return;
    }
    p->failed = 1;
    int line, col;
    line_col_of(p->sql, off, &line, &col);
    int n = snprintf(p->err, p->err_len, "line %d:%d: ", line, col);
    if (n < 0 || (size_t)n >= p->err_len) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + n, p->err_len - (size_t)n, fmt, ap);
    va_end(ap);
}

/* "mismatched input 'x'. Expecting: what" at the current token. */
static void expected(struct parser *p, const char *what)
{
    if (p->cur.kind == T_END) {
        fail_at(p, p->cur.start, "mismatched input '<EOF>'. Expecting: %s", what);
    } else {
        fail_at(p, p->cur.start, "mismatched input '%.*s'. Expecting: %s", (int)p->cur.len,
                p->sql + p->cur.start, what);
    }
}

/* Appends the character of a Hive escape at s (after the backslash) to b; returns the
 * bytes consumed. \t \n \r \0 \\ \' \" and \NNN (octal, as '\001'). */
static size_t unescape_one(const char *s, struct buf *b)
{
    if (s[0] >= '0' && s[0] <= '7' && s[1] >= '0' && s[1] <= '7' && s[2] >= '0' && s[2] <= '7') {
        buf_putc(b, (char)(((s[0] - '0') << 6) | ((s[1] - '0') << 3) | (s[2] - '0')));
        return 3;
    }
    switch (s[0]) {
    case 't': buf_putc(b, '\t'); break;
    case 'n': buf_putc(b, '\n'); break;
    case 'r': buf_putc(b, '\r'); break;
    case '0': buf_putc(b, '\0'); break;
    default: buf_putc(b, s[0]); break;
    }
    return 1;
}

static void next(struct parser *p)
{
    free(p->cur.text);
    p->cur = (struct tok){.kind = T_END};
    const char *s = skip_blank(p->sql + p->pos);
    size_t start = (size_t)(s - p->sql);
    p->cur.start = start;
    if (*s == '\0') {
        p->pos = start;
        return;
    }
    struct buf b;
    buf_init(&b);
    const char *e = s;
    if (isalpha((unsigned char)*s) || *s == '_') {
        while (isalnum((unsigned char)*e) || *e == '_') {
            buf_putc(&b, *e++);
        }
        p->cur.kind = T_WORD;
    } else if (isdigit((unsigned char)*s)) {
        while (isalnum((unsigned char)*e) || *e == '.' || *e == '_') {
            buf_putc(&b, *e++);
        }
        p->cur.kind = T_NUMBER;
    } else if (*s == '`' || *s == '"') {
        char q = *s;
        e++;
        for (;;) {
            if (*e == '\0') {
                p->cur.kind = T_BAD;
                break;
            }
            if (*e == q && e[1] == q) {
                buf_putc(&b, q);
                e += 2;
                continue;
            }
            if (*e == q) {
                e++;
                p->cur.kind = T_QIDENT;
                break;
            }
            buf_putc(&b, *e++);
        }
    } else if (*s == '\'') {
        e++;
        for (;;) {
            if (*e == '\0') {
                p->cur.kind = T_BAD;
                break;
            }
            if (*e == '\\' && e[1] != '\0') {
                e += 1 + unescape_one(e + 1, &b);
                continue;
            }
            if (*e == '\'' && e[1] == '\'') {
                buf_putc(&b, '\'');
                e += 2;
                continue;
            }
            if (*e == '\'') {
                e++;
                p->cur.kind = T_STRING;
                break;
            }
            buf_putc(&b, *e++);
        }
    } else {
        buf_putc(&b, *e++);
        p->cur.kind = T_PUNCT;
    }
    buf_putc(&b, '\0');
    size_t n = 0;
    p->cur.text = (char *)buf_steal(&b, &n);
    if (p->cur.text == NULL) {
        p->cur.text = xstrdup("");
    }
    p->cur.len = (size_t)(e - s);
    p->pos = (size_t)(e - p->sql);
    if (p->cur.kind == T_BAD) {
        fail_at(p, start, "unterminated %s", *s == '\'' ? "string literal" : "quoted identifier");
    }
}

static int is_word(const struct parser *p, const char *w)
{
    return p->cur.kind == T_WORD && strcasecmp(p->cur.text, w) == 0;
}

static int is_punct(const struct parser *p, char c)
{
    return p->cur.kind == T_PUNCT && p->cur.text[0] == c;
}

/* Consumes keyword w when it is next; 1 when it was. */
static int accept(struct parser *p, const char *w)
{
    if (!p->failed && is_word(p, w)) {
        next(p);
        return 1;
    }
    return 0;
}

static int accept_punct(struct parser *p, char c)
{
    if (!p->failed && is_punct(p, c)) {
        next(p);
        return 1;
    }
    return 0;
}

static void expect(struct parser *p, const char *w)
{
    if (p->failed) {
        return;
    }
    if (!accept(p, w)) {
        char what[64];
        snprintf(what, sizeof(what), "'%s'", w);
        expected(p, what);
    }
}

static void expect_punct(struct parser *p, char c)
{
    if (p->failed) {
        return;
    }
    if (!accept_punct(p, c)) {
        char what[8];
        snprintf(what, sizeof(what), "'%c'", c);
        expected(p, what);
    }
}

static char *lower(const char *s)
{
    char *d = xstrdup(s);
    for (char *c = d; *c != '\0'; c++) {
        *c = (char)tolower((unsigned char)*c);
    }
    return d;
}

/* An identifier (word or quoted), lower case; NULL after a failure. */
static char *ident(struct parser *p)
{
    if (p->failed) {
        return NULL;
    }
    if ((p->cur.kind != T_WORD && p->cur.kind != T_QIDENT) ||
        (p->cur.kind == T_QIDENT && p->cur.text[0] == '\0')) {
        expected(p, "<identifier>");
        return NULL;
    }
    char *s = lower(p->cur.text);
    next(p);
    return s;
}

/* A string literal; NULL after a failure. */
static char *string_lit(struct parser *p)
{
    if (p->failed) {
        return NULL;
    }
    if (p->cur.kind != T_STRING) {
        expected(p, "<string>");
        return NULL;
    }
    char *s = xstrdup(p->cur.text);
    next(p);
    return s;
}

/* [db.]name into s->database (only when qualified) and s->name. */
static void qualified_name(struct parser *p, struct query_ddl_stmt *s)
{
    char *a = ident(p);
    if (a == NULL) {
        return;
    }
    if (accept_punct(p, '.')) {
        char *b = ident(p);
        if (b == NULL) {
            free(a);
            return;
        }
        free(s->database);
        s->database = a;
        s->name = b;
        return;
    }
    s->name = a;
}

/* ---- types ---- */

static void type_into(struct parser *p, struct buf *out);

/* "(n[,m])" after decimal / varchar / char; want is how many numbers may come. */
static void type_params(struct parser *p, struct buf *out, int max_n)
{
    if (!accept_punct(p, '(')) {
        return;
    }
    buf_putc(out, '(');
    for (int i = 0; i < max_n && !p->failed; i++) {
        if (p->cur.kind != T_NUMBER) {
            expected(p, "<integer>");
            return;
        }
        buf_puts(out, p->cur.text);
        next(p);
        if (i + 1 < max_n && accept_punct(p, ',')) {
            buf_putc(out, ',');
            continue;
        }
        break;
    }
    buf_putc(out, ')');
    expect_punct(p, ')');
}

static void type_into(struct parser *p, struct buf *out)
{
    if (p->failed) {
        return;
    }
    static const char *const simple[] = {"boolean", "tinyint", "smallint", "int",
                                         "bigint",  "float",   "double",   "string",
                                         "binary",  "date",    "timestamp"};
    if (p->cur.kind != T_WORD) {
        expected(p, "<type>");
        return;
    }
    char *w = lower(p->cur.text);
    size_t at = p->cur.start;
    next(p);
    if (strcmp(w, "integer") == 0) {
        buf_puts(out, "int");
    } else if (strcmp(w, "decimal") == 0) {
        buf_puts(out, w);
        type_params(p, out, 2);
    } else if (strcmp(w, "varchar") == 0 || strcmp(w, "char") == 0) {
        buf_puts(out, w);
        if (!is_punct(p, '(')) {
            expected(p, "'('");
        }
        type_params(p, out, 1);
    } else if (strcmp(w, "array") == 0) {
        buf_puts(out, "array<");
        expect_punct(p, '<');
        type_into(p, out);
        expect_punct(p, '>');
        buf_putc(out, '>');
    } else if (strcmp(w, "map") == 0) {
        buf_puts(out, "map<");
        expect_punct(p, '<');
        type_into(p, out);
        expect_punct(p, ',');
        buf_putc(out, ',');
        type_into(p, out);
        expect_punct(p, '>');
        buf_putc(out, '>');
    } else if (strcmp(w, "struct") == 0) {
        buf_puts(out, "struct<");
        expect_punct(p, '<');
        for (int first = 1; !p->failed; first = 0) {
            if (!first) {
                buf_putc(out, ',');
            }
            char *f = ident(p);
            expect_punct(p, ':');
            if (f != NULL) {
                buf_printf(out, "%s:", f);
            }
            free(f);
            type_into(p, out);
            if (accept(p, "COMMENT")) {
                free(string_lit(p)); /* a field's comment is not kept in the type */
            }
            if (!accept_punct(p, ',')) {
                break;
            }
        }
        expect_punct(p, '>');
        buf_putc(out, '>');
    } else {
        size_t i = 0;
        while (i < sizeof(simple) / sizeof(simple[0]) && strcmp(simple[i], w) != 0) {
            i++;
        }
        if (i == sizeof(simple) / sizeof(simple[0])) {
            fail_at(p, at, "Unknown type '%s'", w);
        } else {
            buf_puts(out, w);
        }
    }
    free(w);
}

/* "( name type [COMMENT '...'], ... )" */
static void column_list(struct parser *p, struct query_ddl_col **cols, size_t *n)
{
    expect_punct(p, '(');
    while (!p->failed) {
        struct query_ddl_col c = {0};
        c.name = ident(p);
        struct buf t;
        buf_init(&t);
        type_into(p, &t);
        buf_putc(&t, '\0');
        size_t len = 0;
        c.type = (char *)buf_steal(&t, &len);
        if (accept(p, "COMMENT")) {
            c.comment = string_lit(p);
        }
        *cols = xrealloc(*cols, (*n + 1) * sizeof(**cols));
        (*cols)[(*n)++] = c;
        if (!accept_punct(p, ',')) {
            break;
        }
    }
    expect_punct(p, ')');
}

/* "( 'k' = 'v', ... )" */
static void props_list(struct parser *p, struct query_ddl_kv **kv, size_t *n)
{
    expect_punct(p, '(');
    while (!p->failed) {
        char *k = string_lit(p);
        expect_punct(p, '=');
        char *v = string_lit(p);
        if (p->failed) {
            free(k);
            free(v);
            break;
        }
        *kv = xrealloc(*kv, (*n + 1) * sizeof(**kv));
        (*kv)[(*n)++] = (struct query_ddl_kv){k, v};
        if (!accept_punct(p, ',')) {
            break;
        }
    }
    expect_punct(p, ')');
}

/* "PARTITION ( k = 'v' | k = 1, ... )" */
static void partition_spec(struct parser *p, struct query_ddl_part *part)
{
    expect(p, "PARTITION");
    expect_punct(p, '(');
    while (!p->failed) {
        char *k = ident(p);
        expect_punct(p, '=');
        char *v = NULL;
        if (!p->failed && (p->cur.kind == T_STRING || p->cur.kind == T_NUMBER)) {
            v = xstrdup(p->cur.text);
            next(p);
        } else if (!p->failed) {
            expected(p, "<string>");
        }
        if (p->failed) {
            free(k);
            free(v);
            break;
        }
        part->spec = xrealloc(part->spec, (part->n_spec + 1) * sizeof(*part->spec));
        part->spec[part->n_spec++] = (struct query_ddl_kv){k, v};
        if (!accept_punct(p, ',')) {
            break;
        }
    }
    expect_punct(p, ')');
}

/* ---- statements ---- */

static void if_not_exists(struct parser *p, struct query_ddl_stmt *s)
{
    if (accept(p, "IF")) {
        expect(p, "NOT");
        expect(p, "EXISTS");
        s->if_exists = 1;
    }
}

static void if_exists(struct parser *p, struct query_ddl_stmt *s)
{
    if (accept(p, "IF")) {
        expect(p, "EXISTS");
        s->if_exists = 1;
    }
}

static void parse_create_database(struct parser *p, struct query_ddl_stmt *s)
{
    next(p); /* DATABASE | SCHEMA */
    if_not_exists(p, s);
    s->database = ident(p);
    if (accept(p, "COMMENT")) {
        s->comment = string_lit(p);
    }
    if (accept(p, "LOCATION")) {
        s->location = string_lit(p);
    }
    if (accept(p, "WITH")) {
        expect(p, "DBPROPERTIES");
        props_list(p, &s->props, &s->n_props);
    }
}

/* ROW FORMAT DELIMITED's clauses, stored as LazySimpleSerDe's parameters. */
static void row_format_delimited(struct parser *p, struct query_ddl_stmt *s)
{
    s->delimited = 1;
    static const struct {
        const char *w1, *w2, *w3, *key;
    } clauses[] = {{"FIELDS", "TERMINATED", "BY", "field.delim"},
                   {"COLLECTION", "ITEMS", "TERMINATED", "collection.delim"},
                   {"MAP", "KEYS", "TERMINATED", "mapkey.delim"},
                   {"LINES", "TERMINATED", "BY", "line.delim"},
                   {"NULL", "DEFINED", "AS", "serialization.null.format"}};
    for (size_t i = 0; i < sizeof(clauses) / sizeof(clauses[0]) && !p->failed; i++) {
        if (!accept(p, clauses[i].w1)) {
            continue;
        }
        expect(p, clauses[i].w2);
        expect(p, clauses[i].w3);
        if (strcmp(clauses[i].w3, "TERMINATED") == 0) {
            expect(p, "BY");
        }
        char *v = string_lit(p);
        if (v == NULL) {
            return;
        }
        s->serde_props = xrealloc(s->serde_props, (s->n_serde_props + 2) * sizeof(*s->serde_props));
        s->serde_props[s->n_serde_props++] = (struct query_ddl_kv){xstrdup(clauses[i].key), v};
        if (i == 0 && accept(p, "ESCAPED")) {
            expect(p, "BY");
            char *esc = string_lit(p);
            if (esc != NULL) {
                s->serde_props[s->n_serde_props++] =
                    (struct query_ddl_kv){xstrdup("escape.delim"), esc};
            }
        }
    }
}

static void parse_create_table(struct parser *p, struct query_ddl_stmt *s)
{
    if (accept(p, "EXTERNAL")) {
        s->external = 1;
    }
    expect(p, "TABLE");
    if_not_exists(p, s);
    qualified_name(p, s);
    column_list(p, &s->cols, &s->n_cols);
    if (accept(p, "COMMENT")) {
        s->comment = string_lit(p);
    }
    if (accept(p, "PARTITIONED")) {
        expect(p, "BY");
        column_list(p, &s->part_cols, &s->n_part_cols);
    }
    if (accept(p, "CLUSTERED")) {
        /* Bucketing is accepted and not kept: reads do not depend on it. */
        expect(p, "BY");
        expect_punct(p, '(');
        while (!p->failed && !is_punct(p, ')') && p->cur.kind != T_END) {
            next(p);
        }
        expect_punct(p, ')');
        expect(p, "INTO");
        if (!p->failed && p->cur.kind != T_NUMBER) {
            expected(p, "<integer>");
        }
        next(p);
        expect(p, "BUCKETS");
    }
    if (accept(p, "ROW")) {
        expect(p, "FORMAT");
        if (accept(p, "SERDE")) {
            s->serde = string_lit(p);
        } else if (accept(p, "DELIMITED")) {
            row_format_delimited(p, s);
        } else if (!p->failed) {
            expected(p, "'DELIMITED', 'SERDE'");
        }
    }
    if (accept(p, "WITH")) {
        expect(p, "SERDEPROPERTIES");
        props_list(p, &s->serde_props, &s->n_serde_props);
    }
    if (accept(p, "STORED")) {
        expect(p, "AS");
        if (accept(p, "INPUTFORMAT")) {
            s->input_format = string_lit(p);
            expect(p, "OUTPUTFORMAT");
            s->output_format = string_lit(p);
        } else if (!p->failed && p->cur.kind == T_WORD) {
            static const char *const formats[] = {"PARQUET",      "TEXTFILE", "ORC",  "AVRO",
                                                  "SEQUENCEFILE", "RCFILE",   "JSON", "ION"};
            size_t i = 0;
            while (i < sizeof(formats) / sizeof(formats[0]) &&
                   strcasecmp(formats[i], p->cur.text) != 0) {
                i++;
            }
            if (i == sizeof(formats) / sizeof(formats[0])) {
                expected(p, "'AVRO', 'INPUTFORMAT', 'ION', 'JSON', 'ORC', 'PARQUET', 'RCFILE', "
                            "'SEQUENCEFILE', 'TEXTFILE'");
            } else {
                s->stored_as = xstrdup(formats[i]);
                next(p);
            }
        } else if (!p->failed) {
            expected(p, "<file format>");
        }
    }
    /* Athena's synopsis also takes SERDEPROPERTIES after STORED AS. */
    if (s->n_serde_props == 0 && !s->delimited && accept(p, "WITH")) {
        expect(p, "SERDEPROPERTIES");
        props_list(p, &s->serde_props, &s->n_serde_props);
    }
    if (accept(p, "LOCATION")) {
        s->location = string_lit(p);
    }
    if (accept(p, "TBLPROPERTIES")) {
        props_list(p, &s->props, &s->n_props);
    }
}

/* Keeps the rest of the statement (after the current token's start) as s->body. */
static void rest_as_body(struct parser *p, struct query_ddl_stmt *s)
{
    if (p->failed) {
        return;
    }
    if (p->cur.kind == T_END) {
        expected(p, "<query>");
        return;
    }
    const char *b = p->sql + p->cur.start;
    size_t n = strlen(b);
    while (n > 0 && (isspace((unsigned char)b[n - 1]) || b[n - 1] == ';')) {
        n--;
    }
    s->body = xstrndup(b, n);
    s->body_offset = p->cur.start;
    p->pos = strlen(p->sql);
    next(p);
}

static void parse_create(struct parser *p, struct query_ddl_stmt *s)
{
    next(p); /* CREATE */
    switch (s->kind) {
    case QUERY_DDL_CREATE_DATABASE: parse_create_database(p, s); break;
    case QUERY_DDL_CREATE_TABLE: parse_create_table(p, s); break;
    default: /* VIEW */
        if (accept(p, "OR")) {
            expect(p, "REPLACE");
            s->or_replace = 1;
        }
        expect(p, "VIEW");
        qualified_name(p, s);
        expect(p, "AS");
        rest_as_body(p, s);
        break;
    }
}

static void parse_drop(struct parser *p, struct query_ddl_stmt *s)
{
    next(p); /* DROP */
    next(p); /* DATABASE | SCHEMA | TABLE | VIEW */
    if_exists(p, s);
    if (s->kind == QUERY_DDL_DROP_DATABASE) {
        s->database = ident(p);
        if (accept(p, "CASCADE")) {
            s->cascade = 1;
        } else {
            accept(p, "RESTRICT");
        }
        return;
    }
    qualified_name(p, s);
}

static void parse_alter(struct parser *p, struct query_ddl_stmt *s)
{
    next(p); /* ALTER */
    expect(p, "TABLE");
    qualified_name(p, s);
    int add = 0;
    if (accept(p, "ADD")) {
        add = 1;
        s->kind = QUERY_DDL_ADD_PARTITION;
        if_not_exists(p, s);
    } else if (accept(p, "DROP")) {
        s->kind = QUERY_DDL_DROP_PARTITION;
        if_exists(p, s);
    } else if (!p->failed) {
        expected(p, "'ADD', 'DROP'");
    }
    while (!p->failed) {
        s->parts = xrealloc(s->parts, (s->n_parts + 1) * sizeof(*s->parts));
        struct query_ddl_part *part = &s->parts[s->n_parts++];
        *part = (struct query_ddl_part){0};
        partition_spec(p, part);
        if (add && accept(p, "LOCATION")) {
            part->location = string_lit(p);
        }
        /* ADD lists partitions one after another; DROP separates them with commas. */
        if (add ? !is_word(p, "PARTITION") : !accept_punct(p, ',')) {
            break;
        }
    }
}

static void parse_show(struct parser *p, struct query_ddl_stmt *s)
{
    next(p); /* SHOW */
    switch (s->kind) {
    case QUERY_DDL_SHOW_DATABASES:
        next(p);
        accept(p, "LIKE");
        if (!p->failed && p->cur.kind == T_STRING) {
            s->pattern = string_lit(p);
        }
        break;
    case QUERY_DDL_SHOW_TABLES:
    case QUERY_DDL_SHOW_VIEWS:
        if (!accept(p, s->kind == QUERY_DDL_SHOW_TABLES ? "TABLES" : "VIEWS")) {
            expected(p, "'COLUMNS', 'CREATE', 'DATABASES', 'PARTITIONS', 'SCHEMAS', 'TABLES', "
                        "'TBLPROPERTIES', 'VIEWS'");
            break;
        }
        if (accept(p, "IN") || accept(p, "FROM")) {
            s->database = ident(p);
        }
        accept(p, "LIKE");
        if (!p->failed && p->cur.kind == T_STRING) {
            s->pattern = string_lit(p);
        }
        break;
    case QUERY_DDL_SHOW_COLUMNS:
        next(p);
        if (!accept(p, "IN") && !accept(p, "FROM")) {
            expected(p, "'FROM', 'IN'");
        }
        qualified_name(p, s);
        if (accept(p, "IN") || accept(p, "FROM")) {
            free(s->database);
            s->database = ident(p);
        }
        break;
    case QUERY_DDL_SHOW_CREATE_TABLE:
        next(p);
        if (accept(p, "VIEW")) {
            s->kind = QUERY_DDL_SHOW_CREATE_TABLE;
        } else {
            expect(p, "TABLE");
        }
        qualified_name(p, s);
        break;
    case QUERY_DDL_SHOW_TBLPROPERTIES:
        next(p);
        qualified_name(p, s);
        if (accept_punct(p, '(')) {
            s->pattern = string_lit(p);
            expect_punct(p, ')');
        }
        break;
    default: /* PARTITIONS */
        next(p);
        qualified_name(p, s);
        break;
    }
}

static void parse_explain(struct parser *p, struct query_ddl_stmt *s)
{
    next(p); /* EXPLAIN */
    if (accept(p, "ANALYZE")) {
        fail_at(p, p->cur.start, "EXPLAIN ANALYZE is not supported");
        return;
    }
    if (accept_punct(p, '(')) {
        while (!p->failed) {
            if (accept(p, "TYPE")) {
                if (accept(p, "IO")) {
                    s->explain_io = 1;
                } else if (!accept(p, "LOGICAL") && !accept(p, "DISTRIBUTED") &&
                           !accept(p, "VALIDATE")) {
                    expected(p, "'DISTRIBUTED', 'IO', 'LOGICAL', 'VALIDATE'");
                }
            } else if (accept(p, "FORMAT")) {
                if (!accept(p, "TEXT") && !accept(p, "JSON") && !accept(p, "GRAPHVIZ")) {
                    expected(p, "'GRAPHVIZ', 'JSON', 'TEXT'");
                }
            } else {
                expected(p, "'FORMAT', 'TYPE'");
            }
            if (!accept_punct(p, ',')) {
                break;
            }
        }
        expect_punct(p, ')');
    }
    rest_as_body(p, s);
}

int query__ddl_parse(const char *sql, struct query_ddl_stmt *out, char *err, size_t err_len)
{
    *out = (struct query_ddl_stmt){.kind = query__ddl_classify(sql)};
    struct parser p = {.sql = sql, .err = err, .err_len = err_len};
    err[0] = '\0';
    next(&p);
    struct query_ddl_stmt *s = out;
    switch (s->kind) {
    case QUERY_DDL_CREATE_DATABASE:
    case QUERY_DDL_CREATE_TABLE:
    case QUERY_DDL_CREATE_VIEW: parse_create(&p, s); break;
    case QUERY_DDL_DROP_DATABASE:
    case QUERY_DDL_DROP_TABLE:
    case QUERY_DDL_DROP_VIEW: parse_drop(&p, s); break;
    case QUERY_DDL_ADD_PARTITION:
    case QUERY_DDL_DROP_PARTITION: parse_alter(&p, s); break;
    case QUERY_DDL_MSCK:
        next(&p);
        expect(&p, "REPAIR");
        expect(&p, "TABLE");
        qualified_name(&p, s);
        break;
    case QUERY_DDL_DESCRIBE:
        next(&p);
        if (accept(&p, "FORMATTED") || accept(&p, "EXTENDED")) {
            s->formatted = 1;
        }
        qualified_name(&p, s);
        break;
    case QUERY_DDL_EXPLAIN: parse_explain(&p, s); break;
    case QUERY_DDL_NONE: fail_at(&p, 0, "not a DDL statement"); break;
    default: parse_show(&p, s); break;
    }
    accept_punct(&p, ';');
    if (!p.failed && p.cur.kind != T_END) {
        fail_at(&p, p.cur.start, "extraneous input '%.*s' expecting <EOF>", (int)p.cur.len,
                sql + p.cur.start);
    }
    free(p.cur.text);
    if (p.failed) {
        query__ddl_stmt_fini(s);
        return -1;
    }
    return 0;
}

static void free_kv(struct query_ddl_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

static void free_cols(struct query_ddl_col *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(c[i].name);
        free(c[i].type);
        free(c[i].comment);
    }
    free(c);
}

void query__ddl_stmt_fini(struct query_ddl_stmt *s)
{
    free(s->database);
    free(s->name);
    free(s->comment);
    free(s->location);
    free(s->pattern);
    free(s->serde);
    free(s->input_format);
    free(s->output_format);
    free(s->stored_as);
    free(s->body);
    free_cols(s->cols, s->n_cols);
    free_cols(s->part_cols, s->n_part_cols);
    free_kv(s->serde_props, s->n_serde_props);
    free_kv(s->props, s->n_props);
    for (size_t i = 0; i < s->n_parts; i++) {
        free_kv(s->parts[i].spec, s->parts[i].n_spec);
        free(s->parts[i].location);
    }
    free(s->parts);
    enum query_ddl_kind k = s->kind;
    *s = (struct query_ddl_stmt){.kind = k};
}
