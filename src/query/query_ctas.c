/*
 * The statements that write: CREATE TABLE ... WITH (...) AS SELECT (CTAS), INSERT INTO
 * ... SELECT and UNLOAD (SELECT ...) TO 's3://...' WITH (...).
 *
 * Each wraps a query. The statement's own part (target, WITH properties) is parsed here;
 * the query is handed to the SELECT path of query_exec.c as the statement's text with
 * everything else blanked, so it is checked, pruned, counted and run exactly as a SELECT
 * (DataScannedInBytes is the source scan) into the temporary table __sl_res. Then the
 * rows are written as Athena writes them: one file per partition, Hive layout
 * `key=value/` with Hive's escaping, through DuckDB's COPY into the query staging
 * directory and from there into the lake with a lake writer (durable on commit). CTAS
 * creates the table in the catalog with Athena's SerDe and formats, INSERT INTO only
 * adds files, both register every partition written; UNLOAD creates nothing.
 */
#include <ctype.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "core/mem.h"
#include "lake/lake.h"
#include "query/query_int.h"

#define ATHENA_USER 2
#define ATHENA_SYSTEM 1
#define HIVE_DEFAULT_PARTITION "__HIVE_DEFAULT_PARTITION__"

#define PARQUET_SERDE "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
#define PARQUET_IN "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
#define PARQUET_OUT "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
#define JSON_SERDE "org.apache.hive.hcatalog.data.JsonSerDe"
#define TEXT_SERDE "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
#define TEXT_IN "org.apache.hadoop.mapred.TextInputFormat"
#define TEXT_OUT "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"

static int failf(struct query_failure *f, int category, int type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int failf(struct query_failure *f, int category, int type, const char *fmt, ...)
{
    f->category = category;
    f->type = type;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof(f->message), fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- tokens of the statement's own part ---- */

enum tok_kind { T_END, T_WORD, T_QUOTED, T_STRING, T_NUMBER, T_PUNCT };

struct tok {
    enum tok_kind kind;
    const char *s; /* where it starts in the text */
    size_t len;
};

/* Skips white space and comments (-- to the end of the line, and C-style blocks). */
static const char *skip_space(const char *p)
{
    for (;;) {
        while (isspace((unsigned char)*p)) {
            p++;
        }
        if (p[0] == '-' && p[1] == '-') {
            while (*p != '\0' && *p != '\n') {
                p++;
            }
        } else if (p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");
            p = e != NULL ? e + 2 : p + strlen(p);
        } else {
            return p;
        }
    }
}

/* The token at *pp; *pp moves past it. A quoted string or identifier runs to its closing
 * quote (a doubled quote stays inside). */
static struct tok next_tok(const char **pp)
{
    const char *p = skip_space(*pp);
    struct tok t = {T_END, p, 0};
    if (*p == '\0') {
        *pp = p;
        return t;
    }
    if (*p == '\'' || *p == '"' || *p == '`') {
        char q = *p;
        const char *e = p + 1;
        while (*e != '\0' && !(*e == q && e[1] != q)) {
            e += *e == q ? 2 : 1;
        }
        t.kind = q == '\'' ? T_STRING : T_QUOTED;
        t.len = (size_t)(e - p) + (*e != '\0');
    } else if (isalpha((unsigned char)*p) || *p == '_') {
        const char *e = p;
        while (isalnum((unsigned char)*e) || *e == '_') {
            e++;
        }
        t.kind = T_WORD;
        t.len = (size_t)(e - p);
    } else if (isdigit((unsigned char)*p)) {
        const char *e = p;
        while (isdigit((unsigned char)*e)) {
            e++;
        }
        t.kind = T_NUMBER;
        t.len = (size_t)(e - p);
    } else {
        t.kind = T_PUNCT;
        t.len = 1;
    }
    *pp = p + t.len;
    return t;
}

static int is_word(const struct tok *t, const char *w)
{
    return t->kind == T_WORD && t->len == strlen(w) && strncasecmp(t->s, w, t->len) == 0;
}

static int is_punct(const struct tok *t, char c)
{
    return t->kind == T_PUNCT && t->s[0] == c;
}

/* The value of a string or identifier token (quotes removed, doubled quotes undone, bare
 * words lower-cased as Athena folds names) into out. */
static void tok_text(const struct tok *t, char *out, size_t out_len)
{
    size_t o = 0;
    if (t->kind == T_STRING || t->kind == T_QUOTED) {
        char q = t->s[0];
        for (size_t i = 1; i + 1 < t->len && o + 1 < out_len; i++) {
            out[o++] = t->s[i];
            if (t->s[i] == q) {
                i++;
            }
        }
    } else {
        for (size_t i = 0; i < t->len && o + 1 < out_len; i++) {
            out[o++] = (char)tolower((unsigned char)t->s[i]);
        }
    }
    out[o] = '\0';
}

/* [database.]table into q. */
static int parse_name(const char **pp, struct query_write *q, struct query_failure *f)
{
    struct tok a = next_tok(pp);
    if (a.kind != T_WORD && a.kind != T_QUOTED) {
        return failf(f, ATHENA_USER, 1006, "SYNTAX_ERROR: line 1:%d: a table name was expected",
                     (int)(a.s - q->select) + 1);
    }
    const char *save = *pp;
    struct tok dot = next_tok(pp);
    if (is_punct(&dot, '.')) {
        struct tok b = next_tok(pp);
        if (b.kind != T_WORD && b.kind != T_QUOTED) {
            return failf(f, ATHENA_USER, 1006, "SYNTAX_ERROR: a table name was expected");
        }
        tok_text(&a, q->database, sizeof(q->database));
        tok_text(&b, q->table, sizeof(q->table));
    } else {
        *pp = save;
        tok_text(&a, q->table, sizeof(q->table));
    }
    for (char *c = q->table; *c != '\0'; c++) {
        *c = (char)tolower((unsigned char)*c);
    }
    for (char *c = q->database; *c != '\0'; c++) {
        *c = (char)tolower((unsigned char)*c);
    }
    return 0;
}

/* ARRAY['a', 'b'] into names. */
static int parse_array(const char **pp, char (*names)[128], size_t *n, const char *key,
                       struct query_failure *f)
{
    struct tok t = next_tok(pp);
    if (!is_word(&t, "array") || (t = next_tok(pp), !is_punct(&t, '['))) {
        return failf(f, ATHENA_USER, 1006,
                     "INVALID_TABLE_PROPERTY: %s must be an ARRAY of column names", key);
    }
    *n = 0;
    for (;;) {
        t = next_tok(pp);
        if (is_punct(&t, ']') && *n == 0) {
            return 0;
        }
        if (t.kind != T_STRING || *n >= QUERY_WRITE_MAX_KEYS) {
            return failf(f, ATHENA_USER, 1006,
                         "INVALID_TABLE_PROPERTY: %s must be an ARRAY of at most %d column names",
                         key, QUERY_WRITE_MAX_KEYS);
        }
        tok_text(&t, names[*n], sizeof(names[0]));
        for (char *c = names[*n]; *c != '\0'; c++) {
            *c = (char)tolower((unsigned char)*c);
        }
        (*n)++;
        t = next_tok(pp);
        if (is_punct(&t, ']')) {
            return 0;
        }
        if (!is_punct(&t, ',')) {
            return failf(f, ATHENA_USER, 1006, "SYNTAX_ERROR: ',' or ']' expected in %s", key);
        }
    }
}

/* The value of format = '...'. */
static int parse_format(const char *v, struct query_write *q, struct query_failure *f)
{
    if (strcasecmp(v, "PARQUET") == 0) {
        q->format = QUERY_WF_PARQUET;
    } else if (strcasecmp(v, "JSON") == 0) {
        q->format = QUERY_WF_JSON;
    } else if (strcasecmp(v, "TEXTFILE") == 0) {
        q->format = QUERY_WF_TEXT;
    } else if (strcasecmp(v, "ORC") == 0 || strcasecmp(v, "AVRO") == 0 ||
               strcasecmp(v, "ION") == 0) {
        return failf(f, ATHENA_USER, 1001,
                     "NOT_SUPPORTED: format '%s' is not written by this server; use PARQUET, "
                     "JSON or TEXTFILE",
                     v);
    } else {
        return failf(f, ATHENA_USER, 1006,
                     "INVALID_TABLE_PROPERTY: Unable to set catalog 'awsdatacatalog' table "
                     "property 'format' to ['%s']: Unknown format",
                     v);
    }
    return 0;
}

/* A compression the format takes, upper-cased into q->compression. */
static int parse_compression(const char *v, struct query_write *q, struct query_failure *f)
{
    static const char *const names[] = {"NONE", "UNCOMPRESSED", "SNAPPY", "GZIP", "ZSTD"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(v, names[i]) == 0) {
            snprintf(q->compression, sizeof(q->compression), "%s", i == 1 ? "NONE" : names[i]);
            return 0;
        }
    }
    return failf(f, ATHENA_USER, 1001, "NOT_SUPPORTED: Unsupported compression '%s'", v);
}

/* One key = value of the WITH clause. */
static int parse_property(const char **pp, struct query_write *q, struct query_failure *f)
{
    struct tok k = next_tok(pp);
    struct tok eq = next_tok(pp);
    char key[64];
    tok_text(&k, key, sizeof(key));
    if ((k.kind != T_WORD && k.kind != T_QUOTED) || !is_punct(&eq, '=')) {
        return failf(f, ATHENA_USER, 1006,
                     "SYNTAX_ERROR: a property of the form name = value was expected");
    }
    if (strcmp(key, "partitioned_by") == 0) {
        return parse_array(pp, q->partitioned_by, &q->n_partitioned_by, key, f);
    }
    if (strcmp(key, "bucketed_by") == 0) {
        return parse_array(pp, q->bucketed_by, &q->n_bucketed_by, key, f);
    }
    struct tok v = next_tok(pp);
    char val[1024];
    tok_text(&v, val, sizeof(val));
    if (strcmp(key, "bucket_count") == 0) {
        q->bucket_count = v.kind == T_NUMBER ? strtol(val, NULL, 10) : 0;
        return q->bucket_count > 0 ? 0
                                   : failf(f, ATHENA_USER, 1006,
                                           "INVALID_TABLE_PROPERTY: bucket_count must be a "
                                           "positive integer");
    }
    if (strcmp(key, "is_external") == 0) {
        return 0; /* Hive tables written here are external either way */
    }
    if (v.kind != T_STRING) {
        return failf(f, ATHENA_USER, 1006,
                     "INVALID_TABLE_PROPERTY: the value of %s must be a string literal", key);
    }
    if (strcmp(key, "format") == 0) {
        return parse_format(val, q, f);
    }
    if (strcmp(key, "write_compression") == 0 || strcmp(key, "parquet_compression") == 0 ||
        strcmp(key, "compression") == 0) {
        return parse_compression(val, q, f);
    }
    if (strcmp(key, "orc_compression") == 0) {
        return 0; /* ORC is refused by format */
    }
    if (strcmp(key, "external_location") == 0) {
        if (strlen(val) >= sizeof(q->location)) {
            return failf(f, ATHENA_USER, 1006,
                         "INVALID_TABLE_PROPERTY: external_location is too long");
        }
        memcpy(q->location, val, strlen(val) + 1);
        return 0;
    }
    if (strcmp(key, "field_delimiter") == 0) {
        if (strlen(val) != 1) {
            return failf(f, ATHENA_USER, 1006,
                         "INVALID_TABLE_PROPERTY: field_delimiter must be one character");
        }
        q->delimiter[0] = val[0];
        q->delimiter[1] = '\0';
        return 0;
    }
    if (strcmp(key, "table_type") == 0) {
        return strcasecmp(val, "HIVE") == 0
                   ? 0
                   : failf(f, ATHENA_USER, 1001,
                           "NOT_SUPPORTED: table_type '%s' is not supported; only HIVE", val);
    }
    return failf(f, ATHENA_USER, 1006,
                 "INVALID_TABLE_PROPERTY: Catalog 'awsdatacatalog' table property '%s' does not "
                 "exist",
                 key);
}

/* WITH ( property [, property]* ) after the WITH keyword. */
static int parse_with(const char **pp, struct query_write *q, struct query_failure *f)
{
    struct tok t = next_tok(pp);
    if (!is_punct(&t, '(')) {
        return failf(f, ATHENA_USER, 1006, "SYNTAX_ERROR: '(' expected after WITH");
    }
    for (;;) {
        if (parse_property(pp, q, f) < 0) {
            return -1;
        }
        t = next_tok(pp);
        if (is_punct(&t, ')')) {
            return 0;
        }
        if (!is_punct(&t, ',')) {
            return failf(f, ATHENA_USER, 1006, "SYNTAX_ERROR: ',' or ')' expected in WITH");
        }
    }
}

/* Keeps text[from, to) as the query and blanks the rest (newlines stay). */
static void keep_query(struct query_write *q, const char *text, size_t from, size_t to)
{
    size_t n = strlen(text);
    for (size_t i = 0; i < n; i++) {
        if ((i < from || i >= to) && q->select[i] != '\n') {
            q->select[i] = ' ';
        }
    }
}

/* The end of the query that starts at p: before a top-level WITH [NO] DATA and a final ';'. */
static const char *query_end(const char *p, struct query_write *q)
{
    const char *end = p + strlen(p);
    int depth = 0;
    for (const char *c = p;;) {
        const char *at = skip_space(c);
        struct tok t = next_tok(&c);
        if (t.kind == T_END) {
            break;
        }
        depth += is_punct(&t, '(') - is_punct(&t, ')');
        if (depth == 0 && is_word(&t, "with")) {
            const char *d = c;
            struct tok a = next_tok(&d);
            int no = is_word(&a, "no");
            if (no) {
                a = next_tok(&d);
            }
            struct tok e = next_tok(&d);
            if (is_punct(&e, ';')) {
                e = next_tok(&d);
            }
            if (is_word(&a, "data") && e.kind == T_END) {
                q->no_data = no;
                return at;
            }
        }
        if (is_punct(&t, ';') && next_tok(&(const char *){c}).kind == T_END) {
            return at;
        }
    }
    return end;
}

enum query_write_kind query__write_kind(const char *text)
{
    const char *p = text;
    struct tok a = next_tok(&p);
    if (is_word(&a, "insert")) {
        struct tok b = next_tok(&p);
        return is_word(&b, "into") ? QUERY_WRITE_INSERT : QUERY_WRITE_NONE;
    }
    if (is_word(&a, "unload")) {
        return QUERY_WRITE_UNLOAD;
    }
    if (!is_word(&a, "create")) {
        return QUERY_WRITE_NONE;
    }
    struct tok b = next_tok(&p);
    if (!is_word(&b, "table")) {
        return QUERY_WRITE_NONE;
    }
    /* CREATE TABLE ... AS: an AS outside parentheses before any query */
    int depth = 0;
    for (struct tok t = next_tok(&p); t.kind != T_END; t = next_tok(&p)) {
        depth += is_punct(&t, '(') - is_punct(&t, ')');
        if (depth == 0 && is_word(&t, "as")) {
            return QUERY_WRITE_CTAS;
        }
    }
    return QUERY_WRITE_NONE;
}

const char *query__write_substatement(enum query_write_kind kind)
{
    switch (kind) {
    case QUERY_WRITE_CTAS: return "CREATE_TABLE_AS_SELECT";
    case QUERY_WRITE_INSERT: return "INSERT";
    case QUERY_WRITE_UNLOAD: return "UNLOAD";
    default: return "SELECT";
    }
}

static int parse_ctas(const char *text, const char **pp, struct query_write *q,
                      struct query_failure *f)
{
    next_tok(pp); /* CREATE */
    next_tok(pp); /* TABLE */
    const char *save = *pp;
    struct tok t = next_tok(pp);
    if (is_word(&t, "if")) {
        struct tok n = next_tok(pp), e = next_tok(pp);
        if (!is_word(&n, "not") || !is_word(&e, "exists")) {
            return failf(f, ATHENA_USER, 1006, "SYNTAX_ERROR: IF NOT EXISTS expected");
        }
        q->if_not_exists = 1;
    } else {
        *pp = save;
    }
    if (parse_name(pp, q, f) < 0) {
        return -1;
    }
    t = next_tok(pp);
    if (is_word(&t, "with")) {
        if (parse_with(pp, q, f) < 0) {
            return -1;
        }
        t = next_tok(pp);
    }
    if (!is_word(&t, "as")) {
        return failf(f, ATHENA_USER, 1006, "SYNTAX_ERROR: AS expected before the query");
    }
    const char *start = skip_space(*pp);
    keep_query(q, text, (size_t)(start - text), (size_t)(query_end(start, q) - text));
    return 0;
}

static int parse_insert(const char *text, const char **pp, struct query_write *q,
                        struct query_failure *f)
{
    next_tok(pp); /* INSERT */
    next_tok(pp); /* INTO */
    if (parse_name(pp, q, f) < 0) {
        return -1;
    }
    const char *start = skip_space(*pp);
    const char *peek = start;
    struct tok t = next_tok(&peek);
    struct tok u = next_tok(&peek);
    if (is_punct(&t, '(') && (u.kind == T_WORD || u.kind == T_QUOTED) && !is_word(&u, "select") &&
        !is_word(&u, "with") && !is_word(&u, "values")) {
        return failf(f, ATHENA_USER, 1001,
                     "NOT_SUPPORTED: INSERT INTO with a column list is not supported; select "
                     "the table's columns in order");
    }
    keep_query(q, text, (size_t)(start - text), (size_t)(query_end(start, q) - text));
    return 0;
}

static int parse_unload(const char *text, const char **pp, struct query_write *q,
                        struct query_failure *f)
{
    next_tok(pp); /* UNLOAD */
    struct tok t = next_tok(pp);
    if (!is_punct(&t, '(')) {
        return failf(f, ATHENA_USER, 1006, "SYNTAX_ERROR: '(' expected after UNLOAD");
    }
    const char *start = *pp;
    const char *end = NULL;
    for (int depth = 1; depth > 0;) {
        const char *at = skip_space(*pp);
        t = next_tok(pp);
        if (t.kind == T_END) {
            return failf(f, ATHENA_USER, 1006, "SYNTAX_ERROR: unbalanced parentheses in UNLOAD");
        }
        depth += is_punct(&t, '(') - is_punct(&t, ')');
        end = at;
    }
    t = next_tok(pp);
    struct tok loc = next_tok(pp);
    if (!is_word(&t, "to") || loc.kind != T_STRING) {
        return failf(f, ATHENA_USER, 1006, "SYNTAX_ERROR: TO 's3://...' expected after the query");
    }
    tok_text(&loc, q->location, sizeof(q->location));
    t = next_tok(pp);
    if (is_word(&t, "with")) {
        if (parse_with(pp, q, f) < 0) {
            return -1;
        }
        t = next_tok(pp);
    }
    if (is_punct(&t, ';')) {
        t = next_tok(pp);
    }
    if (t.kind != T_END) {
        return failf(f, ATHENA_USER, 1006, "SYNTAX_ERROR: unexpected text after UNLOAD's WITH");
    }
    keep_query(q, text, (size_t)(start - text), (size_t)(end - text));
    return 0;
}

int query__write_parse(const char *text, struct query_write **out, struct query_failure *f)
{
    struct query_write *q = xcalloc(1, sizeof(*q));
    q->kind = query__write_kind(text);
    q->select = xstrdup(text);
    const char *p = text;
    int rc = -1;
    switch (q->kind) {
    case QUERY_WRITE_CTAS: rc = parse_ctas(text, &p, q, f); break;
    case QUERY_WRITE_INSERT: rc = parse_insert(text, &p, q, f); break;
    case QUERY_WRITE_UNLOAD: rc = parse_unload(text, &p, q, f); break;
    default: failf(f, ATHENA_USER, 1006, "SYNTAX_ERROR: not a CTAS, INSERT INTO or UNLOAD"); break;
    }
    if (rc == 0 && q->kind != QUERY_WRITE_INSERT && q->n_bucketed_by > 0 && q->bucket_count <= 0) {
        rc = failf(f, ATHENA_USER, 1006,
                   "INVALID_TABLE_PROPERTY: bucket_count must be given with bucketed_by");
    }
    if (rc < 0) {
        query__write_free(q);
        return -1;
    }
    *out = q;
    return 0;
}

void query__write_free(struct query_write *q)
{
    if (q == NULL) {
        return;
    }
    free(q->select);
    free(q->target_types);
    free(q->target_names);
    free(q);
}

/* ---- before the query runs ---- */

/* 1 when some object lies under the s3:// location, 0 when none, -1 when the location is
 * not an S3 URI or its bucket does not exist. */
static int location_has_objects(struct query_service *svc, const char *location)
{
    char bucket[LAKE_BUCKET_NAME_MAX + 1];
    const char *prefix;
    if (query__split_s3(location, bucket, sizeof(bucket), &prefix) < 0) {
        return -1;
    }
    struct lake_list_opts lo = {.prefix = prefix, .max_keys = 1};
    struct lake_list_result res = {0};
    struct err_info e = {0};
    if (lake_object_list(svc->lake, bucket, &lo, &res, &e) < 0) {
        return -1;
    }
    int any = res.n_objects > 0;
    lake_list_result_fini(&res);
    return any;
}

/* The format, compression and delimiter of an existing table INSERT INTO writes. */
static int target_format(struct query_write *q, const struct catalog_table_desc *d,
                         struct query_failure *f)
{
    const char *serde = d->serde_library != NULL ? d->serde_library : "";
    const char *in = d->input_format != NULL ? d->input_format : "";
    if (strcasestr(serde, "parquet") != NULL || strcasestr(in, "parquet") != NULL) {
        q->format = QUERY_WF_PARQUET;
    } else if (strcasestr(serde, "json") != NULL) {
        q->format = QUERY_WF_JSON;
    } else if (strcasestr(serde, "LazySimpleSerDe") != NULL) {
        q->format = QUERY_WF_TEXT;
    } else {
        return failf(f, ATHENA_USER, 1001,
                     "NOT_SUPPORTED: INSERT INTO table 'awsdatacatalog.%s.%s' stored with SerDe "
                     "'%s' is not supported; this server writes Parquet, Hive JSON and "
                     "LazySimpleSerDe text tables",
                     d->database, d->name, serde);
    }
    for (size_t i = 0; i < d->n_parameters; i++) {
        const char *k = d->parameters[i].key;
        if (strcmp(k, "parquet.compression") == 0 || strcmp(k, "write.compression") == 0) {
            struct query_failure ignore;
            parse_compression(d->parameters[i].value, q, &ignore);
        }
    }
    for (size_t i = 0; i < d->n_serde_parameters; i++) {
        if (strcmp(d->serde_parameters[i].key, "field.delim") == 0) {
            snprintf(q->delimiter, sizeof(q->delimiter), "%s", d->serde_parameters[i].value);
        }
    }
    return 0;
}

/* INSERT INTO: the table exists, is written here; its columns and location are noted. */
static int prepare_insert(struct query_write *q, struct query_service *svc, struct query_failure *f)
{
    struct catalog_scope sc = {svc->cfg->region, svc->cfg->account_id};
    struct catalog_table_desc *d = NULL;
    struct err_info e = {0};
    if (catalog_table_describe(svc->cat, &sc, q->database, q->table, &d, &e) < 0) {
        return failf(f, ATHENA_USER, 1110,
                     "TABLE_NOT_FOUND: line 1:13: Table 'awsdatacatalog.%s.%s' does not exist",
                     q->database, q->table);
    }
    int rc = target_format(q, d, f);
    if (rc == 0 && d->n_buckets > 0) {
        /* Athena writes bucketed tables only through CTAS */
        rc = failf(f, ATHENA_USER, 1001,
                   "NOT_SUPPORTED: Inserting into bucketed tables is not supported. Table "
                   "'awsdatacatalog.%s.%s' is bucketed",
                   q->database, q->table);
    }
    if (rc == 0 && (d->location == NULL || strncasecmp(d->location, "s3://", 5) != 0)) {
        rc = failf(f, ATHENA_USER, 1001,
                   "HIVE_METASTORE_ERROR: Table 'awsdatacatalog.%s.%s' has no S3 location",
                   q->database, q->table);
    }
    if (rc == 0 && d->n_partition_keys > 0 && q->n_partitioned_by == 0) {
        /* the table's partitions are only known now */
        char denied[1024];
        if (query__may_glue(svc, q->who, "glue:BatchCreatePartition", q->database, q->table, denied,
                            sizeof(denied)) < 0) {
            rc = failf(f, ATHENA_USER, 1000, "Insufficient permissions to execute the query. %s",
                       denied);
        }
    }
    if (rc == 0) {
        snprintf(q->target, sizeof(q->target), "%s%s", d->location,
                 d->location[strlen(d->location) - 1] == '/' ? "" : "/");
        q->n_target = d->n_columns + d->n_partition_keys;
        q->target_types = xcalloc(q->n_target + 1, sizeof(*q->target_types));
        q->target_names = xcalloc(q->n_target + 1, sizeof(*q->target_names));
        for (size_t i = 0; i < q->n_target; i++) {
            const struct catalog_column *c =
                i < d->n_columns ? &d->columns[i] : &d->partition_keys[i - d->n_columns];
            snprintf(q->target_types[i], sizeof(q->target_types[0]), "%s", c->type);
            snprintf(q->target_names[i], sizeof(q->target_names[0]), "%s", c->name);
        }
        q->n_partitioned_by = 0;
        for (size_t i = 0; i < d->n_partition_keys && i < QUERY_WRITE_MAX_KEYS; i++) {
            snprintf(q->partitioned_by[i], sizeof(q->partitioned_by[0]), "%s",
                     d->partition_keys[i].name);
            q->n_partitioned_by++;
        }
    }
    catalog_table_desc_destroy(d);
    return rc;
}

/* The catalog calls the statement makes as its caller: INSERT reads the table, CTAS
 * creates it, both add partitions. 0, or -1 with f. */
static int may_catalog(struct query_write *q, struct query_service *svc, struct query_failure *f)
{
    char denied[1024];
    const char *action = q->kind == QUERY_WRITE_INSERT ? "glue:GetTable" : "glue:CreateTable";
    if (q->kind == QUERY_WRITE_UNLOAD) {
        return 0;
    }
    if (query__may_glue(svc, q->who, action, q->database, q->table, denied, sizeof(denied)) < 0 ||
        (q->n_partitioned_by > 0 &&
         query__may_glue(svc, q->who, "glue:BatchCreatePartition", q->database, q->table, denied,
                         sizeof(denied)) < 0)) {
        return failf(f, ATHENA_USER, 1000, "Insufficient permissions to execute the query. %s",
                     denied);
    }
    return 0;
}

int query__write_prepare(struct query_write *q, struct query_service *svc, const char *id,
                         const char *default_db, const char *output_location, int enforce,
                         struct query_failure *f)
{
    if (q->database[0] == '\0') {
        snprintf(q->database, sizeof(q->database), "%s", default_db);
    }
    if (may_catalog(q, svc, f) < 0) {
        return -1;
    }
    if (q->n_bucketed_by > 0 && q->kind != QUERY_WRITE_CTAS) {
        return failf(f, ATHENA_USER, 1006,
                     "INVALID_TABLE_PROPERTY: bucketed_by is a property of CREATE TABLE AS "
                     "only");
    }
    if (q->kind == QUERY_WRITE_INSERT) {
        return prepare_insert(q, svc, f);
    }
    if (q->kind == QUERY_WRITE_CTAS) {
        struct catalog_scope sc = {svc->cfg->region, svc->cfg->account_id};
        struct catalog_table_desc *d = NULL;
        struct err_info e = {0};
        if (catalog_table_describe(svc->cat, &sc, q->database, q->table, &d, &e) == 0) {
            catalog_table_desc_destroy(d);
            if (q->if_not_exists) {
                q->skip = 1;
                return 0;
            }
            return failf(f, ATHENA_USER, 1006,
                         "TABLE_ALREADY_EXISTS: line 1:1: Destination table "
                         "'awsdatacatalog.%s.%s' already exists",
                         q->database, q->table);
        }
        if (q->location[0] != '\0' && enforce) {
            return failf(f, ATHENA_USER, 1001,
                         "The Create Table As Select query failed because it was submitted "
                         "with an 'external_location' property to an Athena Workgroup that "
                         "enforces a centralized output location for all queries. Please "
                         "remove the 'external_location' property and resubmit the query.");
        }
    }
    if (q->location[0] != '\0') {
        snprintf(q->target, sizeof(q->target), "%s%s", q->location,
                 q->location[strlen(q->location) - 1] == '/' ? "" : "/");
    } else if (q->kind == QUERY_WRITE_CTAS) {
        /* <result location>tables/<query id>/ */
        const char *slash = strrchr(output_location, '/');
        int dir = slash != NULL ? (int)(slash - output_location) + 1 : 0;
        snprintf(q->target, sizeof(q->target), "%.*stables/%s/", dir, output_location, id);
    } else {
        return failf(f, ATHENA_USER, 1006, "SYNTAX_ERROR: UNLOAD needs TO 's3://...'");
    }
    int any = location_has_objects(svc, q->target);
    if (any < 0) {
        return failf(f, ATHENA_USER, 1001,
                     "HIVE_INVALID_METADATA: the location %s is not an S3 URI of an existing "
                     "bucket",
                     q->target);
    }
    if (any > 0) {
        if (q->kind == QUERY_WRITE_UNLOAD) {
            return failf(f, ATHENA_USER, 1001,
                         "HIVE_PATH_ALREADY_EXISTS: Target directory for UNLOAD already "
                         "exists: %s. Athena writes only to an empty location.",
                         q->target);
        }
        return failf(f, ATHENA_USER, 1001,
                     "HIVE_PATH_ALREADY_EXISTS: Target directory for table '%s.%s' already "
                     "exists: %s. You may need to manually clean the data at location '%s' "
                     "before retrying. Athena will not delete data in your account.",
                     q->database, q->table, q->target, q->target);
    }
    return 0;
}

/* ---- writing ---- */

/* One column of the query's result. */
struct out_col {
    char name[128]; /* lower case */
    char hive[64];  /* the Hive type the catalog gets */
    char trino[64]; /* Trino's name, for messages */
    enum duck_type_id id;
};

/* The Hive and Trino names of a DuckDB type; 0, or -1 for a type not written here (time,
 * interval, uuid, time zones, and nested types for now). */
static int type_names(const struct duck_type *t, struct out_col *c)
{
    static const struct {
        const char *athena, *hive;
    } map[] = {{"boolean", "boolean"}, {"tinyint", "tinyint"},    {"smallint", "smallint"},
               {"integer", "int"},     {"bigint", "bigint"},      {"float", "float"},
               {"double", "double"},   {"varchar", "string"},     {"varbinary", "binary"},
               {"date", "date"},       {"timestamp", "timestamp"}};
    struct query_athena_type at;
    query__athena_type(t, &at);
    c->id = t->id;
    snprintf(c->trino, sizeof(c->trino), "%s", at.name);
    if (strcmp(at.name, "decimal") == 0) {
        snprintf(c->hive, sizeof(c->hive), "decimal(%d,%d)", at.precision, at.scale);
        snprintf(c->trino, sizeof(c->trino), "decimal(%d,%d)", at.precision, at.scale);
        return 0;
    }
    if (strcmp(at.name, "timestamp") == 0) {
        snprintf(c->trino, sizeof(c->trino), "timestamp(3)");
    }
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(at.name, map[i].athena) == 0) {
            snprintf(c->hive, sizeof(c->hive), "%s", map[i].hive);
            return 0;
        }
    }
    return -1;
}

/* Trino's name of a Hive column type, for INSERT's mismatch message. */
static void trino_of_hive(const char *hive, char *out, size_t len)
{
    if (strcasecmp(hive, "string") == 0) {
        snprintf(out, len, "varchar");
    } else if (strcasecmp(hive, "int") == 0) {
        snprintf(out, len, "integer");
    } else if (strcasecmp(hive, "timestamp") == 0) {
        snprintf(out, len, "timestamp(3)");
    } else {
        snprintf(out, len, "%s", hive);
        for (char *c = out; *c != '\0'; c++) {
            *c = (char)tolower((unsigned char)*c);
        }
    }
}

/* Whether a query column of Trino type from can be inserted into one of type to: the same
 * type, or one Trino coerces to it (integers widened, numbers to double, real and
 * decimal, a date to a timestamp). */
static int insert_coerces(const char *from, const char *to)
{
    static const char *const ladder[] = {"tinyint", "smallint", "integer", "bigint"};
    if (strcmp(from, to) == 0 ||
        (strncmp(to, "varchar", 7) == 0 && strncmp(from, "varchar", 7) == 0)) {
        return 1;
    }
    int fi = -1, ti = -1;
    for (int i = 0; i < 4; i++) {
        fi = strcmp(from, ladder[i]) == 0 ? i : fi;
        ti = strcmp(to, ladder[i]) == 0 ? i : ti;
    }
    if (fi >= 0 && ti >= 0) {
        return fi <= ti;
    }
    int from_number = fi >= 0 || strncmp(from, "decimal", 7) == 0;
    if (strcmp(to, "double") == 0 || strcmp(to, "float") == 0) {
        return from_number || strcmp(from, "float") == 0;
    }
    if (strncmp(to, "decimal", 7) == 0) {
        return from_number;
    }
    return strcmp(from, "date") == 0 && strncmp(to, "timestamp", 9) == 0;
}

/* DuckDB's type for a Hive column type (INSERT casts to the table's types). */
static const char *duck_of_hive(const char *hive, char *out, size_t len)
{
    static const struct {
        const char *hive, *duck;
    } map[] = {{"string", "VARCHAR"},    {"varchar", "VARCHAR"},      {"char", "VARCHAR"},
               {"int", "INTEGER"},       {"integer", "INTEGER"},      {"bigint", "BIGINT"},
               {"smallint", "SMALLINT"}, {"tinyint", "TINYINT"},      {"double", "DOUBLE"},
               {"float", "FLOAT"},       {"boolean", "BOOLEAN"},      {"timestamp", "TIMESTAMP"},
               {"date", "DATE"},         {"decimal", "DECIMAL(10,0)"}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        size_t l = strlen(map[i].hive);
        if (strncasecmp(hive, map[i].hive, l) == 0 && (hive[l] == '\0' || hive[l] == '(')) {
            if (strcmp(map[i].hive, "decimal") == 0 && hive[l] == '(') {
                snprintf(out, len, "DECIMAL%s", hive + l);
                return out;
            }
            snprintf(out, len, "%s", map[i].duck);
            return out;
        }
    }
    snprintf(out, len, "VARCHAR");
    return out;
}

/* Appends Hive's escaping of a path component: the characters Hive's FileUtils escapes
 * become %XX (upper-case hex). */
static void hive_escape(struct buf *out, const char *s)
{
    static const char special[] = "\"#%'*/:=?\\\x7f{[]^";
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p < 0x20 || strchr(special, *p) != NULL) {
            buf_printf(out, "%%%02X", *p);
        } else {
            buf_putc(out, (char)*p);
        }
    }
}

/* The SQL text of a partition value as Hive/Trino writes it in paths and the catalog:
 * timestamps 'yyyy-MM-dd HH:mm:ss' with the fraction only when there is one, dates
 * 'yyyy-MM-dd', other types their text. */
static void partition_text_sql(const struct out_col *c, const char *ident, struct buf *out)
{
    switch (c->id) {
    case DUCK_T_TIMESTAMP:
    case DUCK_T_TIMESTAMP_S:
    case DUCK_T_TIMESTAMP_MS:
    case DUCK_T_TIMESTAMP_NS:
        buf_printf(out,
                   "CASE WHEN microsecond(%s) %% 1000000 = 0 THEN strftime(%s, '%%Y-%%m-%%d "
                   "%%H:%%M:%%S') ELSE rtrim(strftime(%s, '%%Y-%%m-%%d %%H:%%M:%%S.%%f'), '0') END",
                   ident, ident, ident);
        break;
    case DUCK_T_DATE: buf_printf(out, "strftime(%s, '%%Y-%%m-%%d')", ident); break;
    default: buf_printf(out, "CAST(%s AS VARCHAR)", ident); break;
    }
}

/* Appends Hive's (bucketing version 1) hash of one column as a BIGINT in [0, 2^32): the
 * value of an integer, a bigint's halves xored, a string's bytes as Java's hashBytes
 * (31 * h + signed byte, from 1), a date's days since the epoch, a boolean's 1 or 0;
 * NULL hashes to 0. -1 for a type not bucketed here. */
static int bucket_hash_sql(enum duck_type_id id, const char *x, struct buf *out)
{
    switch (id) {
    case DUCK_T_TINYINT:
    case DUCK_T_SMALLINT:
    case DUCK_T_INTEGER: buf_printf(out, "(CAST(%s AS BIGINT) & 4294967295)", x); break;
    case DUCK_T_BIGINT: buf_printf(out, "(xor(%s, %s >> 32) & 4294967295)", x, x); break;
    case DUCK_T_BOOLEAN: buf_printf(out, "CASE WHEN %s THEN 1 ELSE 0 END", x); break;
    case DUCK_T_DATE:
        buf_printf(out, "(date_diff('day', DATE '1970-01-01', %s) & 4294967295)", x);
        break;
    case DUCK_T_VARCHAR:
        buf_printf(out,
                   "list_reduce(list_transform(range(octet_length(encode(%s))), i -> ('0x' || "
                   "substr(hex(encode(%s)), 2 * i + 1, 2))::BIGINT), (h, b) -> (h * 31 + CASE "
                   "WHEN b > 127 THEN b - 256 ELSE b END) & 4294967295, 1)",
                   x, x);
        break;
    default: return -1;
    }
    return 0;
}

/* What one finish call builds. */
struct writing {
    struct query_write *q;
    struct query_service *svc;
    struct duck_conn *conn;
    const char *id;
    struct out_col *cols;
    size_t n_cols;
    size_t n_data; /* the columns before the partition keys */
    char bucket[LAKE_BUCKET_NAME_MAX + 1];
    const char *prefix;                      /* in q->target */
    size_t bucket_idx[QUERY_WRITE_MAX_KEYS]; /* the bucketed_by columns in cols */
    struct buf manifest;
    size_t n_files;
    struct duck_error derr;
};

/* Reads the result's columns; checks the partition keys are the last ones, in order
 * (CTAS, UNLOAD) or the types match the table's (INSERT). */
static int read_columns(struct writing *wr, struct query_failure *f)
{
    struct duck_result *res = NULL;
    if (duck_query(wr->conn, "SELECT * FROM __sl_res LIMIT 0", &res, &wr->derr) < 0) {
        return failf(f, ATHENA_SYSTEM, 401, "INTERNAL_ERROR: the result cannot be read");
    }
    wr->n_cols = duck_result_column_count(res);
    wr->cols = xcalloc(wr->n_cols + 1, sizeof(*wr->cols));
    int rc = 0;
    for (size_t i = 0; i < wr->n_cols && rc == 0; i++) {
        struct out_col *c = &wr->cols[i];
        snprintf(c->name, sizeof(c->name), "%s", duck_result_column_name(res, i));
        for (char *p = c->name; *p != '\0'; p++) {
            *p = (char)tolower((unsigned char)*p);
        }
        if (type_names(duck_result_column_type(res, i), c) < 0) {
            rc = failf(f, ATHENA_USER, 1001,
                       "NOT_SUPPORTED: Unsupported Hive type: %s (column %s); this server "
                       "writes scalar types only",
                       c->trino, c->name);
        }
        char unnamed[32];
        snprintf(unnamed, sizeof(unnamed), "_col%zu", i);
        if (rc == 0 && wr->q->kind == QUERY_WRITE_CTAS && strcmp(c->name, unnamed) == 0) {
            rc = failf(f, ATHENA_USER, 1006,
                       "COLUMN_NAME_NOT_SPECIFIED: line 1:1: Column name not specified at "
                       "position %zu",
                       i + 1);
        }
    }
    duck_result_destroy(res);
    if (rc < 0) {
        return rc;
    }
    struct query_write *q = wr->q;
    if (q->kind == QUERY_WRITE_INSERT) {
        int ok = q->n_target == wr->n_cols;
        struct buf want, got;
        buf_init(&want);
        buf_init(&got);
        for (size_t i = 0; i < q->n_target; i++) {
            char t[64];
            trino_of_hive(q->target_types[i], t, sizeof(t));
            buf_printf(&want, "%s%s", i > 0 ? ", " : "", t);
            if (i < wr->n_cols && !insert_coerces(wr->cols[i].trino, t)) {
                ok = 0;
            }
        }
        for (size_t i = 0; i < wr->n_cols; i++) {
            buf_printf(&got, "%s%s", i > 0 ? ", " : "", wr->cols[i].trino);
        }
        buf_putc(&want, '\0');
        buf_putc(&got, '\0');
        if (!ok) {
            rc = failf(f, ATHENA_USER, 1006,
                       "TYPE_MISMATCH: line 1:1: Insert query has mismatched column types: "
                       "Table: [%s], Query: [%s]",
                       (const char *)want.data, (const char *)got.data);
        }
        buf_fini(&want);
        buf_fini(&got);
        wr->n_data = wr->n_cols - q->n_partitioned_by;
        return rc;
    }
    size_t np = q->n_partitioned_by;
    int ok = np < wr->n_cols;
    for (size_t i = 0; ok && i < np; i++) {
        ok = strcmp(wr->cols[wr->n_cols - np + i].name, q->partitioned_by[i]) == 0;
    }
    if (!ok) {
        struct buf keys;
        buf_init(&keys);
        for (size_t i = 0; i < np; i++) {
            buf_printf(&keys, "%s%s", i > 0 ? ", " : "", q->partitioned_by[i]);
        }
        buf_putc(&keys, '\0');
        rc = failf(f, ATHENA_USER, 1006,
                   "HIVE_COLUMN_ORDER_MISMATCH: Partition keys must be the last columns in the "
                   "table and in the same order as the table properties: [%s]",
                   (const char *)keys.data);
        buf_fini(&keys);
    }
    wr->n_data = wr->n_cols - np;
    for (size_t b = 0; rc == 0 && b < q->n_bucketed_by; b++) {
        size_t i = 0;
        while (i < wr->n_data && strcmp(wr->cols[i].name, q->bucketed_by[b]) != 0) {
            i++;
        }
        struct buf probe;
        buf_init(&probe);
        if (i == wr->n_data) {
            rc = failf(f, ATHENA_USER, 1006,
                       "INVALID_TABLE_PROPERTY: Bucketing columns [%s] not present in schema",
                       q->bucketed_by[b]);
        } else if (bucket_hash_sql(wr->cols[i].id, "x", &probe) < 0) {
            rc = failf(f, ATHENA_USER, 1001,
                       "NOT_SUPPORTED: bucketing on a column of type %s is not supported",
                       wr->cols[i].trino);
        }
        buf_fini(&probe);
        wr->bucket_idx[b] = i;
    }
    return rc;
}

/* The select list writing the data columns (INSERT: cast to the table's types, named as
 * its columns). */
static void data_select(struct writing *wr, struct buf *out)
{
    for (size_t i = 0; i < wr->n_data; i++) {
        char *src = duck_sql_ident(wr->cols[i].name);
        buf_puts(out, i > 0 ? ", " : "");
        if (wr->q->kind == QUERY_WRITE_INSERT) {
            char dt[64];
            char *dst = duck_sql_ident(wr->q->target_names[i]);
            buf_printf(out, "CAST(__c%zu AS %s) AS %s", i,
                       duck_of_hive(wr->q->target_types[i], dt, sizeof(dt)), dst);
            free(dst);
        } else {
            buf_printf(out, "__c%zu AS %s", i, src);
        }
        free(src);
    }
}

/* COPY's options and the file name's extension for the statement's format. */
static void copy_options(const struct query_write *q, struct buf *out, const char **ext)
{
    const char *comp = q->compression[0] != '\0' ? q->compression : "GZIP";
    int none = strcmp(comp, "NONE") == 0;
    *ext = "";
    if (q->format == QUERY_WF_PARQUET) {
        buf_printf(out, "FORMAT parquet, COMPRESSION %s", none ? "uncompressed" : comp);
        return;
    }
    if (!none && strcmp(comp, "GZIP") != 0 && strcmp(comp, "ZSTD") != 0) {
        comp = "GZIP"; /* SNAPPY text is not written: gzip as Athena's default */
    }
    *ext = none ? "" : strcmp(comp, "GZIP") == 0 ? ".gz" : ".zst";
    if (q->format == QUERY_WF_JSON) {
        buf_printf(out, "FORMAT json, TIMESTAMPFORMAT '%%Y-%%m-%%d %%H:%%M:%%S.%%g'");
    } else {
        char *d = duck_sql_literal(q->delimiter[0] != '\0' ? q->delimiter : "\x01");
        buf_printf(out,
                   "FORMAT csv, HEADER false, DELIMITER %s, QUOTE '', ESCAPE '', "
                   "NULLSTR '\\N', TIMESTAMPFORMAT '%%Y-%%m-%%d %%H:%%M:%%S.%%g'",
                   d);
        free(d);
    }
    buf_printf(out, ", COMPRESSION %s",
               none                        ? "none"
               : strcmp(comp, "GZIP") == 0 ? "gzip"
                                           : "zstd");
}

/* Puts the staged file at path as bucket/key through a lake writer. */
static int put_file(struct writing *wr, const char *path, const char *key, struct query_failure *f)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return failf(f, ATHENA_SYSTEM, 401, "INTERNAL_ERROR: a written file cannot be read");
    }
    char denied[1024], arn[LAKE_BUCKET_NAME_MAX + 1100];
    snprintf(arn, sizeof(arn), "arn:aws:s3:::%s/%s", wr->bucket, key);
    if (query__may(wr->svc, wr->q->who, "s3:PutObject", arn, wr->bucket, NULL, denied,
                   sizeof(denied)) < 0) {
        close(fd);
        return failf(f, ATHENA_USER, 1000, "Permission denied on S3 path: s3://%s/%s", wr->bucket,
                     key);
    }
    /* a bucket whose default is SSE-KMS: the caller's data key */
    char *sse = NULL;
    if (query__may_encrypt(wr->svc, wr->q->who, wr->bucket, key, &sse, denied, sizeof(denied)) <
        0) {
        close(fd);
        return failf(f, ATHENA_USER, 1000, "Permission denied on S3 path: s3://%s/%s", wr->bucket,
                     key);
    }
    struct lake_writer *w = NULL;
    struct err_info e = {0};
    struct lake_put_opts po = {.content_type = "application/octet-stream"};
    int rc = lake_writer_open(wr->svc->lake, LAKE_CHECKSUM_NONE, &w);
    if (rc == 0 && sse != NULL) {
        rc = lake_writer_encrypt(w, sse, NULL, &e);
    }
    free(sse);
    if (rc == 0) {
        rc = lake_writer_write_fd(w, fd, 0, st.st_size);
    }
    if (rc == 0) {
        rc = lake_writer_commit(w, wr->bucket, key, &po, NULL, &e);
    }
    lake_writer_destroy(w);
    close(fd);
    if (rc < 0) {
        return failf(f, ATHENA_USER, 1302,
                     "HIVE_WRITER_CLOSE_ERROR: Error committing write to s3://%s/%s", wr->bucket,
                     key);
    }
    buf_printf(&wr->manifest, "s3://%s/%s\n", wr->bucket, key);
    wr->n_files++;
    return 0;
}

/* The view __sl_cols over __sl_res: its columns renamed __c0, __c1, ... and the partition
 * columns' texts added as __p0, __p1, ... */
static int make_view(struct writing *wr, struct query_failure *f)
{
    struct buf s;
    buf_init(&s);
    buf_puts(&s, "CREATE OR REPLACE TEMP VIEW __sl_cols AS SELECT *");
    for (size_t k = wr->n_data; k < wr->n_cols; k++) {
        char ident[32];
        snprintf(ident, sizeof(ident), "__c%zu", k);
        buf_puts(&s, ", ");
        partition_text_sql(&wr->cols[k], ident, &s);
        buf_printf(&s, " AS __p%zu", k - wr->n_data);
    }
    if (wr->q->n_bucketed_by > 0) {
        /* bucket = (h & 0x7fffffff) % count, h = 31 * h + hash(column), from 0 */
        buf_puts(&s, ", (list_reduce([");
        for (size_t b = 0; b < wr->q->n_bucketed_by; b++) {
            char ident[32];
            snprintf(ident, sizeof(ident), "__c%zu", wr->bucket_idx[b]);
            buf_printf(&s, "%scoalesce(", b > 0 ? ", " : "");
            bucket_hash_sql(wr->cols[wr->bucket_idx[b]].id, ident, &s);
            buf_puts(&s, ", 0)");
        }
        buf_printf(&s, "], (h, v) -> (h * 31 + v) & 4294967295, 0) & 2147483647) %% %ld AS __b",
                   wr->q->bucket_count);
    }
    buf_puts(&s, " FROM __sl_res AS __t(");
    for (size_t i = 0; i < wr->n_cols; i++) {
        buf_printf(&s, "%s__c%zu", i > 0 ? ", " : "", i);
    }
    buf_puts(&s, ")");
    buf_putc(&s, '\0');
    int rc = buf_status(&s) == 0 ? duck_exec(wr->conn, (const char *)s.data, &wr->derr) : -1;
    buf_fini(&s);
    if (rc < 0) {
        query__scrub_paths(wr->derr.message);
        return failf(f, ATHENA_SYSTEM, 401, "INTERNAL_ERROR: %s", wr->derr.message);
    }
    return 0;
}

/* The distinct partitions of the result: n_parts rows of n_keys texts (NULL for NULL). */
struct part_list {
    char **values;
    size_t n_parts;
    size_t n_keys;
};

static void part_list_fini(struct part_list *pl)
{
    for (size_t i = 0; i < pl->n_parts * pl->n_keys; i++) {
        free(pl->values[i]);
    }
    free(pl->values);
}

static int list_partitions(struct writing *wr, struct part_list *pl, struct query_failure *f)
{
    pl->n_keys = wr->n_cols - wr->n_data;
    if (pl->n_keys == 0) {
        return 0;
    }
    struct buf s;
    buf_init(&s);
    buf_puts(&s, "SELECT DISTINCT ");
    for (size_t k = 0; k < pl->n_keys; k++) {
        buf_printf(&s, "%s__p%zu", k > 0 ? ", " : "", k);
    }
    buf_puts(&s, " FROM __sl_cols ORDER BY ALL");
    buf_putc(&s, '\0');
    struct duck_result *res = NULL;
    int rc = duck_query(wr->conn, (const char *)s.data, &res, &wr->derr);
    buf_fini(&s);
    size_t n = 0;
    while (rc == 0 && (rc = duck_result_fetch(res, &n, &wr->derr)) == 0 && n > 0) {
        for (size_t r = 0; r < n; r++) {
            if (pl->n_parts >= QUERY_WRITE_MAX_WRITERS) {
                duck_result_destroy(res);
                return failf(f, ATHENA_USER, 1001,
                             "HIVE_TOO_MANY_OPEN_PARTITIONS: Exceeded limit of 100 open "
                             "writers for partitions/buckets");
            }
            pl->values = xrealloc(pl->values, (pl->n_parts + 1) * pl->n_keys * sizeof(char *));
            for (size_t k = 0; k < pl->n_keys; k++) {
                const struct duck_vec *v = duck_result_column(res, k);
                char *val = NULL;
                if (!duck_vec_is_null(v, r)) {
                    struct duck_str str = duck_vec_str(v, r);
                    val = xstrndup(str.ptr, str.len);
                }
                pl->values[pl->n_parts * pl->n_keys + k] = val;
            }
            pl->n_parts++;
        }
    }
    duck_result_destroy(res);
    if (rc < 0) {
        query__scrub_paths(wr->derr.message);
        return failf(f, ATHENA_SYSTEM, 401, "INTERNAL_ERROR: %s", wr->derr.message);
    }
    return 0;
}

/* The name of a partition key as the directory and the catalog give it. */
static const char *key_name(const struct writing *wr, size_t k)
{
    return wr->q->kind == QUERY_WRITE_INSERT ? wr->q->target_names[wr->n_data + k]
                                             : wr->cols[wr->n_data + k].name;
}

/* Writes the rows of partition `part` (or every row when there are no partition keys) as
 * one file under the partition's directory; dir receives that directory (relative to the
 * target, "" or "k=v/.../"). */
static int write_file(struct writing *wr, const struct part_list *pl, size_t part, long bucket,
                      struct buf *dir, struct query_failure *f)
{
    struct buf sql;
    buf_init(&sql);
    buf_puts(&sql, "COPY (SELECT ");
    data_select(wr, &sql);
    buf_puts(&sql, " FROM __sl_cols");
    for (size_t k = 0; k < pl->n_keys; k++) {
        const char *v = pl->values[part * pl->n_keys + k];
        char *lit = v != NULL ? duck_sql_literal(v) : xstrdup("NULL");
        buf_printf(&sql, "%s__p%zu IS NOT DISTINCT FROM %s", k == 0 ? " WHERE " : " AND ", k, lit);
        free(lit);
        buf_puts(dir, key_name(wr, k));
        buf_putc(dir, '=');
        hive_escape(dir, v != NULL ? v : HIVE_DEFAULT_PARTITION);
        buf_putc(dir, '/');
    }
    if (bucket >= 0) {
        buf_printf(&sql, "%s__b = %ld", pl->n_keys == 0 ? " WHERE " : " AND ", bucket);
    }
    const char *ext;
    char *path = xasprintf("%s/%s-%zu", wr->svc->staging_dir, wr->id, wr->n_files);
    char *lit = duck_sql_literal(path);
    buf_printf(&sql, ") TO %s (", lit);
    free(lit);
    copy_options(wr->q, &sql, &ext);
    buf_puts(&sql, ")");
    buf_putc(&sql, '\0');
    buf_putc(dir, '\0');
    dir->len--;
    int rc = buf_status(&sql) == 0 ? duck_exec(wr->conn, (const char *)sql.data, &wr->derr) : -1;
    buf_fini(&sql);
    if (rc < 0) {
        unlink(path);
        free(path);
        query__scrub_paths(wr->derr.message);
        return failf(f, ATHENA_USER, 1001, "HIVE_WRITER_DATA_ERROR: %s", wr->derr.message);
    }
    /* a bucket's file starts with its number, as Hive readers find it */
    char *key =
        bucket >= 0
            ? xasprintf("%s%s%06ld_0_%s%s", wr->prefix, dir->data != NULL ? (char *)dir->data : "",
                        bucket, wr->id, ext)
            : xasprintf("%s%s%s_%zu%s", wr->prefix, dir->data != NULL ? (char *)dir->data : "",
                        wr->id, wr->n_files, ext);
    rc = put_file(wr, path, key, f);
    unlink(path);
    free(path);
    free(key);
    return rc;
}

/* The catalog's description of the table CTAS creates. */
static int create_table(struct writing *wr, struct query_failure *f)
{
    struct query_write *q = wr->q;
    struct catalog_column *cols = xcalloc(wr->n_cols + 1, sizeof(*cols));
    for (size_t i = 0; i < wr->n_cols; i++) {
        cols[i].name = wr->cols[i].name;
        cols[i].type = wr->cols[i].hive;
    }
    const char *comp = q->compression[0] != '\0' ? q->compression : "GZIP";
    struct catalog_param params[] = {
        {"has_encrypted_data", "false"},
        {q->format == QUERY_WF_PARQUET ? "parquet.compression" : "write.compression",
         (char *)comp}};
    char delim[8];
    snprintf(delim, sizeof(delim), "%s", q->delimiter[0] != '\0' ? q->delimiter : "\x01");
    struct catalog_param serde_params[] = {{"field.delim", delim}, {"serialization.format", delim}};
    int text = q->format == QUERY_WF_TEXT;
    char *bucket_columns[QUERY_WRITE_MAX_KEYS];
    for (size_t b = 0; b < q->n_bucketed_by; b++) {
        bucket_columns[b] = q->bucketed_by[b];
    }
    struct catalog_table_desc d = {
        .database = q->database,
        .name = q->table,
        .table_type = "EXTERNAL_TABLE",
        .location = q->target,
        .input_format = q->format == QUERY_WF_PARQUET ? PARQUET_IN : TEXT_IN,
        .output_format = q->format == QUERY_WF_PARQUET ? PARQUET_OUT : TEXT_OUT,
        .serde_library = q->format == QUERY_WF_PARQUET ? PARQUET_SERDE
                         : text                        ? TEXT_SERDE
                                                       : JSON_SERDE,
        .columns = cols,
        .n_columns = wr->n_data,
        .partition_keys = cols + wr->n_data,
        .n_partition_keys = wr->n_cols - wr->n_data,
        .parameters = params,
        .n_parameters = 2,
        .serde_parameters = text ? serde_params : NULL,
        .n_serde_parameters = text ? 2 : 0,
        .n_buckets = q->n_bucketed_by > 0 ? (int)q->bucket_count : 0,
        .bucket_columns = bucket_columns,
        .n_bucket_columns = q->n_bucketed_by,
    };
    struct catalog_scope sc = {wr->svc->cfg->region, wr->svc->cfg->account_id};
    struct err_info e = {0};
    int rc = catalog_table_create(wr->svc->cat, &sc, &d, &e);
    free(cols);
    if (rc == SL_E(ALREADY_EXISTS)) {
        return failf(f, ATHENA_USER, 1006,
                     "TABLE_ALREADY_EXISTS: line 1:1: Destination table 'awsdatacatalog.%s.%s' "
                     "already exists",
                     q->database, q->table);
    }
    if (rc == SL_E(ENTITY_NOT_FOUND)) {
        return failf(f, ATHENA_USER, 1006, "SCHEMA_NOT_FOUND: line 1:1: Schema '%s' does not exist",
                     q->database);
    }
    if (rc < 0) {
        return failf(f, ATHENA_USER, 1001, "HIVE_METASTORE_ERROR: %s", e.message);
    }
    return 0;
}

/* Registers partition `part` (directory dir under the target) in the catalog. */
static int register_partition(struct writing *wr, const struct part_list *pl, size_t part,
                              const char *dir, struct query_failure *f)
{
    const char **values = xcalloc(pl->n_keys + 1, sizeof(*values));
    for (size_t k = 0; k < pl->n_keys; k++) {
        const char *v = pl->values[part * pl->n_keys + k];
        values[k] = v != NULL ? v : HIVE_DEFAULT_PARTITION;
    }
    char *loc = xasprintf("%s%s", wr->q->target, dir);
    struct catalog_scope sc = {wr->svc->cfg->region, wr->svc->cfg->account_id};
    struct err_info e = {0};
    int rc = catalog_partition_ensure(wr->svc->cat, &sc, wr->q->database, wr->q->table, values,
                                      pl->n_keys, loc, &e);
    free(loc);
    free(values);
    if (rc < 0) {
        return failf(f, ATHENA_USER, 1001, "HIVE_METASTORE_ERROR: %s", e.message);
    }
    return 0;
}

/* The number of rows of __sl_res. */
static int64_t count_rows(struct writing *wr)
{
    struct duck_result *res = NULL;
    size_t n = 0;
    int64_t rows = -1;
    if (duck_query(wr->conn, "SELECT count(*) FROM __sl_res", &res, &wr->derr) == 0 &&
        duck_result_fetch(res, &n, &wr->derr) == 0 && n == 1) {
        rows = ((const int64_t *)duck_vec_data(duck_result_column(res, 0)))[0];
    }
    duck_result_destroy(res);
    return rows;
}

/* Writes the manifest next to the output location and records the update count and the
 * manifest before the execution becomes SUCCEEDED. */
static int finish_record(struct writing *wr, const char *output_location, int64_t rows,
                         int64_t scanned, int64_t engine_ms, struct query_failure *f)
{
    size_t ol = strlen(output_location);
    size_t stem = ol > 4 && strcmp(output_location + ol - 4, ".csv") == 0 ? ol - 4 : ol;
    char *manifest = xasprintf("%.*s-manifest.csv", (int)stem, output_location);
    char bucket[LAKE_BUCKET_NAME_MAX + 1];
    const char *key;
    struct err_info e = {0};
    struct lake_put_opts po = {.content_type = "text/csv"};
    /* the manifest and the result's metadata are written as the caller */
    char denied[1024], arn[LAKE_BUCKET_NAME_MAX + 1100];
    for (int meta = 0; meta < 2; meta++) {
        char *url =
            meta ? xasprintf("%.*s.metadata", (int)stem, output_location) : xstrdup(manifest);
        int ok = query__split_s3(url, bucket, sizeof(bucket), &key) == 0;
        if (ok) {
            snprintf(arn, sizeof(arn), "arn:aws:s3:::%s/%s", bucket, key);
        }
        free(url);
        if (ok && query__may(wr->svc, wr->q->who, "s3:PutObject", arn, bucket, NULL, denied,
                             sizeof(denied)) < 0) {
            free(manifest);
            return failf(f, ATHENA_USER, 1302,
                         "Access denied when writing output to url: %s . Please ensure you are "
                         "allowed to access the S3 bucket. If you are encrypting query results "
                         "with KMS key, please ensure you are allowed to access your KMS key",
                         output_location);
        }
    }
    if (query__split_s3(manifest, bucket, sizeof(bucket), &key) < 0 ||
        lake_object_put(wr->svc->lake, bucket, key,
                        wr->manifest.data != NULL ? (const char *)wr->manifest.data : "",
                        wr->manifest.len, &po, NULL, &e) < 0) {
        free(manifest);
        return failf(f, ATHENA_USER, 1302, "Unable to verify/create output bucket %s", bucket);
    }
    static const char rows_column[] =
        "[{\"Name\":\"rows\",\"Type\":\"bigint\",\"Precision\":19,\"Scale\":0}]";
    char *meta = xasprintf("%.*s.metadata", (int)stem, output_location);
    int meta_rc = query__result_metadata_put(wr->svc, meta, wr->id, rows_column);
    free(meta);
    if (meta_rc < 0) {
        free(manifest);
        return failf(f, ATHENA_USER, 1302, "Unable to verify/create output bucket %s", bucket);
    }
    struct store_stmt *stmt = NULL;
    store_lock(wr->svc->st);
    int rc = store_prepare(wr->svc->st,
                           "UPDATE query_executions SET update_count = ?, manifest = ?"
                           " WHERE id = ? AND state = 'RUNNING'",
                           &stmt);
    if (rc == 0) {
        store_bind_int64(stmt, 1, rows);
        store_bind_text(stmt, 2, manifest);
        store_bind_text(stmt, 3, wr->id);
        rc = store_step(stmt);
    }
    store_finalize(stmt);
    store_unlock(wr->svc->st);
    free(manifest);
    query__exec_set_state(wr->svc, wr->id, QUERY_RUNNING, QUERY_SUCCEEDED, NULL, 0, 0, scanned,
                          engine_ms, rows_column);
    return rc < 0 ? failf(f, ATHENA_SYSTEM, 401, "INTERNAL_ERROR: the result cannot be recorded")
                  : 0;
}

/* Writes every partition's file, then (CTAS) creates the table and (CTAS, INSERT)
 * registers the partitions. */
static int write_all(struct writing *wr, struct query_failure *f)
{
    struct part_list pl = {0};
    int rc = list_partitions(wr, &pl, f);
    size_t n = pl.n_keys > 0 ? pl.n_parts : (count_rows(wr) > 0 ? 1 : 0);
    long buckets = wr->q->n_bucketed_by > 0 ? wr->q->bucket_count : 0;
    if (rc == 0 && buckets > 0 && (long)n * buckets > QUERY_WRITE_MAX_WRITERS) {
        rc = failf(f, ATHENA_USER, 1001,
                   "HIVE_TOO_MANY_OPEN_PARTITIONS: Exceeded limit of 100 open writers for "
                   "partitions/buckets");
    }
    struct buf *dirs = xcalloc(n + 1, sizeof(*dirs));
    for (size_t i = 0; i < n; i++) {
        buf_init(&dirs[i]);
    }
    /* every bucket gets its file, empty or not, as Hive's layout has it */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        for (long b = buckets > 0 ? 0 : -1; rc == 0 && b < buckets; b++) {
            dirs[i].len = 0;
            rc = write_file(wr, &pl, i, b, &dirs[i], f);
        }
    }
    if (rc == 0 && wr->q->kind == QUERY_WRITE_CTAS) {
        rc = create_table(wr, f);
    }
    for (size_t i = 0; rc == 0 && pl.n_keys > 0 && i < n && wr->q->kind != QUERY_WRITE_UNLOAD;
         i++) {
        rc = register_partition(wr, &pl, i, (const char *)dirs[i].data, f);
    }
    for (size_t i = 0; i < n; i++) {
        buf_fini(&dirs[i]);
    }
    free(dirs);
    part_list_fini(&pl);
    return rc;
}

int query__write_finish(struct query_write *q, struct query_service *svc, struct duck_conn *conn,
                        const char *id, const char *default_db, const char *output_location,
                        int64_t scanned, int64_t engine_ms, struct query_failure *f)
{
    (void)default_db;
    struct writing wr = {.q = q, .svc = svc, .conn = conn, .id = id};
    buf_init(&wr.manifest);
    int rc = 0;
    int64_t rows = 0;
    if (!q->skip) {
        if (query__split_s3(q->target, wr.bucket, sizeof(wr.bucket), &wr.prefix) < 0) {
            rc = failf(f, ATHENA_USER, 1001, "HIVE_INVALID_METADATA: bad location %s", q->target);
        }
        if (rc == 0) {
            rc = read_columns(&wr, f);
        }
        if (rc == 0) {
            rc = make_view(&wr, f);
        }
        if (rc == 0 && !q->no_data) {
            rows = count_rows(&wr);
            rc = write_all(&wr, f);
        } else if (rc == 0) {
            rc = create_table(&wr, f);
        }
        duck_exec(conn, "DROP VIEW IF EXISTS __sl_cols", NULL);
    }
    if (rc == 0) {
        rc = finish_record(&wr, output_location, rows, scanned, engine_ms, f);
    }
    free(wr.cols);
    buf_fini(&wr.manifest);
    return rc;
}
