/*
 * Athena's DDL and utility statements: they never reach DuckDB. Each one is parsed
 * (query_ddl_parse.c), acts on the Glue catalog through Glue's own operations (so a
 * table made here is stored, validated and returned exactly as one made through the Glue
 * API), and writes Hive's text result as <QueryExecutionId>.txt at the output location:
 * one line per row, fields separated by tabs. GetQueryResults returns each line as a row
 * holding one datum, as Athena does. A DDL statement scans 0 bytes.
 *
 * Tables are stored as Athena stores them: TableType EXTERNAL_TABLE, Parameters
 * EXTERNAL=TRUE and transient_lastDdlTime beside the TBLPROPERTIES, the SerDe and the
 * input/output formats STORED AS names, SerdeInfo.Parameters serialization.format.
 * Failures read as Athena's Hive DDL failures ("FAILED: SemanticException ...").
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "catalog/glue_api.h"
#include "core/base64.h"
#include "core/clock.h"
#include "core/mem.h"
#include "query/query_int.h"

#define ATHENA_USER 2
#define ATHENA_SYSTEM 1
#define TYPE_SYNTAX 1006
#define TYPE_NOT_FOUND 1110
#define TYPE_USER 1001
#define DESCRIBE_WIDTH 20 /* Hive pads DESCRIBE's fields to this width */

#define FAILED_DDL                                                                                 \
    "FAILED: Execution Error, return code 1 from org.apache.hadoop.hive.ql.exec.DDLTask. "

struct ddl_run {
    struct query_service *svc;
    struct query_worker *w;
    const char *id;
    const char *query;
    const char *default_db;
    const struct query_caller *who; /* whose permissions the statement needs; borrowed */
    struct query_ddl_stmt st;
    struct buf out;  /* the result's lines */
    json_t *columns; /* ColumnInfo of the result */
    int failed;
    int category, type;
    char message[1024];
    struct err_info gerr; /* the last Glue failure */
};

static void fail(struct ddl_run *d, int type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct ddl_run *d, int type, const char *fmt, ...)
{
    if (d->failed) {
        return;
    }
    d->failed = 1;
    d->category = ATHENA_USER;
    d->type = type;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->message, sizeof(d->message), fmt, ap);
    va_end(ap);
}

static void line(struct ddl_run *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(struct ddl_run *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) >= 0) {
        buf_puts(&d->out, s);
        buf_putc(&d->out, '\n');
        free(s);
    }
    va_end(ap);
}

/* The result's columns, NULL-terminated: Hive reports every one as string. */
static void result_columns(struct ddl_run *d, ...)
{
    va_list ap;
    va_start(ap, d);
    const char *name;
    while ((name = va_arg(ap, const char *)) != NULL) {
        json_array_append_new(d->columns, json_pack("{s:s, s:s, s:i, s:i}", "Name", name, "Type",
                                                    "string", "Precision", 0, "Scale", 0));
    }
    va_end(ap);
}

/* Runs Glue operation op on the catalog with in (consumed); *out (may be NULL) gets the
 * output. Returns 0 or the code, with Glue's message in d->gerr. */
static int glue(struct ddl_run *d, const char *op, json_t *in, json_t **out)
{
    struct api_json_service *g = glue_api_create(d->svc->cat);
    struct api_request req = {.region = d->svc->cfg->region, .account_id = d->svc->cfg->account_id};
    struct api_call call = {.req = &req, .service_ctx = d->svc->cat, .operation = op};
    json_t *res = NULL;
    int rc = SL_E(INTERNAL);
    for (size_t i = 0; i < g->n_ops; i++) {
        if (strcmp(g->ops[i].name, op) == 0 && g->ops[i].fn != NULL) {
            rc = g->ops[i].fn(&call, in, &res);
        }
    }
    glue_api_destroy(g);
    json_decref(in);
    d->gerr = call.err;
    if (rc < 0 || out == NULL) {
        json_decref(res);
        res = NULL;
    }
    if (out != NULL) {
        *out = res;
    }
    return rc;
}

static const char *db_of(const struct ddl_run *d)
{
    return d->st.database != NULL ? d->st.database : d->default_db;
}

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

static int database_exists(struct ddl_run *d, const char *db)
{
    return glue(d, "GetDatabase", json_pack("{s:s}", "Name", db), NULL) == 0;
}

/* The Glue document of db.name (a new reference), or NULL with Athena's failure. */
static json_t *get_table(struct ddl_run *d, const char *db, const char *name, int quiet)
{
    json_t *out = NULL;
    if (glue(d, "GetTable", json_pack("{s:s, s:s}", "DatabaseName", db, "Name", name), &out) == 0) {
        json_t *t = json_incref(json_object_get(out, "Table"));
        json_decref(out);
        return t;
    }
    if (quiet) {
        return NULL;
    }
    if (!database_exists(d, db)) {
        fail(d, TYPE_NOT_FOUND,
             "FAILED: SemanticException [Error 10072]: Database does not exist: %s", db);
    } else {
        fail(d, TYPE_NOT_FOUND, "FAILED: SemanticException [Error 10001]: Table not found %s.%s",
             db, name);
    }
    return NULL;
}

static json_t *sd_of(const json_t *t)
{
    return json_object_get(t, "StorageDescriptor");
}

static int is_view(const json_t *t)
{
    return strcmp(jstr(t, "TableType"), "VIRTUAL_VIEW") == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Hive's SHOW pattern: '*' any run, '|' between alternatives, case-insensitive. */
static int glob_one(const char *p, const char *pe, const char *s)
{
    if (p == pe) {
        return *s == '\0';
    }
    if (*p == '*') {
        for (;; s++) {
            if (glob_one(p + 1, pe, s)) {
                return 1;
            }
            if (*s == '\0') {
                return 0;
            }
        }
    }
    return *s != '\0' && tolower((unsigned char)*p) == tolower((unsigned char)*s) &&
           glob_one(p + 1, pe, s + 1);
}

static int hive_pattern_match(const char *pat, const char *name)
{
    if (pat == NULL) {
        return 1;
    }
    for (const char *alt = pat;;) {
        const char *bar = strchr(alt, '|');
        const char *end = bar != NULL ? bar : alt + strlen(alt);
        const char *a = alt, *e = end;
        while (a < e && isspace((unsigned char)*a)) {
            a++;
        }
        while (e > a && isspace((unsigned char)e[-1])) {
            e--;
        }
        if (glob_one(a, e, name)) {
            return 1;
        }
        if (bar == NULL) {
            return 0;
        }
        alt = bar + 1;
    }
}

/* A name list the listing callbacks fill. */
struct names {
    char **v;
    size_t n;
};

static int collect(void *arg, const char *name)
{
    struct names *ns = arg;
    ns->v = xrealloc(ns->v, (ns->n + 1) * sizeof(*ns->v));
    ns->v[ns->n++] = xstrdup(name);
    return 0;
}

static void names_fini(struct names *ns)
{
    for (size_t i = 0; i < ns->n; i++) {
        free(ns->v[i]);
    }
    free(ns->v);
}

/* Appends a partition value as Hive writes it in a path: %XX for the characters a path
 * cannot hold. */
static void path_escape(struct buf *b, const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f || strchr("\"#%'*/:=?\\{[]^", *p) != NULL) {
            buf_printf(b, "%%%02X", *p);
        } else {
            buf_putc(b, (char)*p);
        }
    }
}

static void path_unescape(char *s)
{
    char *w = s;
    for (const char *r = s; *r != '\0'; r++) {
        if (r[0] == '%' && isxdigit((unsigned char)r[1]) && isxdigit((unsigned char)r[2])) {
            char hex[3] = {r[1], r[2], 0};
            *w++ = (char)strtol(hex, NULL, 16);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

/* "k1=v1/k2=v2" of a partition's values. */
static void partition_name(struct buf *b, const json_t *keys, const char *const *values, size_t n)
{
    for (size_t i = 0; i < n && i < json_array_size(keys); i++) {
        buf_printf(b, "%s%s=", i > 0 ? "/" : "", jstr(json_array_get(keys, i), "Name"));
        path_escape(b, values[i]);
    }
}

/* ---- databases ---- */

static void create_database(struct ddl_run *d)
{
    struct query_ddl_stmt *s = &d->st;
    json_t *di = json_pack("{s:s}", "Name", s->database);
    if (s->comment != NULL) {
        json_object_set_new(di, "Description", json_string(s->comment));
    }
    if (s->location != NULL) {
        json_object_set_new(di, "LocationUri", json_string(s->location));
    }
    json_t *params = json_object();
    for (size_t i = 0; i < s->n_props; i++) {
        json_object_set_new(params, s->props[i].key, json_string(s->props[i].value));
    }
    json_object_set_new(di, "Parameters", params);
    int rc = glue(d, "CreateDatabase", json_pack("{s:o}", "DatabaseInput", di), NULL);
    if (rc == SL_E(ALREADY_EXISTS) && !s->if_exists) {
        fail(d, TYPE_USER, FAILED_DDL "Database %s already exists", s->database);
    } else if (rc < 0 && rc != SL_E(ALREADY_EXISTS)) {
        fail(d, TYPE_USER, FAILED_DDL "InvalidObjectException(message:%s)", d->gerr.message);
    }
}

static void drop_database(struct ddl_run *d)
{
    struct query_ddl_stmt *s = &d->st;
    if (!database_exists(d, s->database)) {
        if (!s->if_exists) {
            fail(d, TYPE_NOT_FOUND,
                 "FAILED: SemanticException [Error 10072]: Database does not exist: %s",
                 s->database);
        }
        return;
    }
    if (!s->cascade) {
        json_t *out = NULL;
        glue(d, "GetTables", json_pack("{s:s, s:i}", "DatabaseName", s->database, "MaxResults", 1),
             &out);
        size_t n = json_array_size(json_object_get(out, "TableList"));
        json_decref(out);
        if (n > 0) {
            fail(d, TYPE_USER,
                 FAILED_DDL "InvalidOperationException(message:Database %s is not empty. One or "
                            "more tables exist.)",
                 s->database);
            return;
        }
    }
    if (glue(d, "DeleteDatabase", json_pack("{s:s}", "Name", s->database), NULL) < 0) {
        fail(d, TYPE_USER, FAILED_DDL "%s", d->gerr.message);
    }
}

/* ---- CREATE EXTERNAL TABLE ---- */

struct format {
    const char *name, *serde, *input, *output;
};
static const struct format formats[] = {
    {"PARQUET", "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
     "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
     "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"},
    {"TEXTFILE", "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
     "org.apache.hadoop.mapred.TextInputFormat",
     "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"},
    {"ORC", "org.apache.hadoop.hive.ql.io.orc.OrcSerde",
     "org.apache.hadoop.hive.ql.io.orc.OrcInputFormat",
     "org.apache.hadoop.hive.ql.io.orc.OrcOutputFormat"},
    {"AVRO", "org.apache.hadoop.hive.serde2.avro.AvroSerDe",
     "org.apache.hadoop.hive.ql.io.avro.AvroContainerInputFormat",
     "org.apache.hadoop.hive.ql.io.avro.AvroContainerOutputFormat"},
    {"SEQUENCEFILE", "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
     "org.apache.hadoop.mapred.SequenceFileInputFormat",
     "org.apache.hadoop.hive.ql.io.HiveSequenceFileOutputFormat"},
    {"RCFILE", "org.apache.hadoop.hive.serde2.columnar.LazyBinaryColumnarSerDe",
     "org.apache.hadoop.hive.ql.io.RCFileInputFormat",
     "org.apache.hadoop.hive.ql.io.RCFileOutputFormat"},
    {"JSON", "org.openx.data.jsonserde.JsonSerDe", "org.apache.hadoop.mapred.TextInputFormat",
     "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"},
    {"ION", "com.amazon.ionhiveserde.IonHiveSerDe",
     "com.amazon.ionhiveserde.formats.IonInputFormat",
     "com.amazon.ionhiveserde.formats.IonOutputFormat"},
};

static json_t *columns_doc(const struct query_ddl_col *c, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *col = json_pack("{s:s, s:s}", "Name", c[i].name, "Type", c[i].type);
        if (c[i].comment != NULL) {
            json_object_set_new(col, "Comment", json_string(c[i].comment));
        }
        json_array_append_new(arr, col);
    }
    return arr;
}

/* Hive's refusals of a column list: a name twice, or a partition column among the data. */
static int columns_ok(struct ddl_run *d)
{
    const struct query_ddl_stmt *s = &d->st;
    size_t n = s->n_cols + s->n_part_cols;
    for (size_t i = 0; i < n; i++) {
        const char *a = i < s->n_cols ? s->cols[i].name : s->part_cols[i - s->n_cols].name;
        for (size_t j = i + 1; j < n; j++) {
            const char *b = j < s->n_cols ? s->cols[j].name : s->part_cols[j - s->n_cols].name;
            if (strcmp(a, b) != 0) {
                continue;
            }
            if (i < s->n_cols && j >= s->n_cols) {
                fail(d, TYPE_SYNTAX,
                     "FAILED: SemanticException [Error 10035]: Column repeated in partitioning "
                     "columns");
            } else {
                fail(d, TYPE_SYNTAX,
                     "FAILED: SemanticException [Error 10036]: Duplicate column "
                     "name: %s",
                     a);
            }
            return 0;
        }
    }
    return 1;
}

static void create_table(struct ddl_run *d)
{
    struct query_ddl_stmt *s = &d->st;
    const char *db = db_of(d);
    if (!s->external) {
        const char *tt = NULL;
        for (size_t i = 0; i < s->n_props; i++) {
            if (strcasecmp(s->props[i].key, "table_type") == 0) {
                tt = s->props[i].value;
            }
        }
        fail(d, TYPE_USER,
             tt != NULL && strcasecmp(tt, "ICEBERG") == 0
                 ? "NOT_SUPPORTED: Iceberg tables are not supported"
                 : "Only external table creation is supported. Use CREATE EXTERNAL TABLE");
        return;
    }
    if (!columns_ok(d)) {
        return;
    }
    if (s->location != NULL && strncasecmp(s->location, "s3://", 5) != 0) {
        fail(d, TYPE_USER, FAILED_DDL "MetaException(message:Location %s is not an S3 URI)",
             s->location);
        return;
    }
    if (!database_exists(d, db)) {
        fail(d, TYPE_NOT_FOUND,
             "FAILED: SemanticException [Error 10072]: Database does not exist: %s", db);
        return;
    }
    json_t *existing = s->if_exists ? get_table(d, db, s->name, 1) : NULL;
    if (existing != NULL) {
        json_decref(existing);
        return; /* IF NOT EXISTS stops before the catalog is changed */
    }
    const struct format *f = &formats[1]; /* TEXTFILE */
    for (size_t i = 0; s->stored_as != NULL && i < sizeof(formats) / sizeof(formats[0]); i++) {
        if (strcmp(formats[i].name, s->stored_as) == 0) {
            f = &formats[i];
        }
    }
    json_t *serde_params = json_object();
    const char *field_delim = NULL;
    for (size_t i = 0; i < s->n_serde_props; i++) {
        json_object_set_new(serde_params, s->serde_props[i].key,
                            json_string(s->serde_props[i].value));
        if (strcmp(s->serde_props[i].key, "field.delim") == 0) {
            field_delim = s->serde_props[i].value;
        }
    }
    if (json_object_get(serde_params, "serialization.format") == NULL) {
        json_object_set_new(serde_params, "serialization.format",
                            json_string(s->delimited && field_delim != NULL ? field_delim : "1"));
    }
    json_t *sd =
        json_pack("{s:o, s:s, s:s, s:b, s:i, s:{s:s, s:o}, s:[], s:[], s:{}, s:b}", "Columns",
                  columns_doc(s->cols, s->n_cols), "InputFormat",
                  s->input_format != NULL ? s->input_format : f->input, "OutputFormat",
                  s->output_format != NULL ? s->output_format : f->output, "Compressed", 0,
                  "NumberOfBuckets", -1, "SerdeInfo", "SerializationLibrary",
                  s->serde != NULL ? s->serde : f->serde, "Parameters", serde_params,
                  "BucketColumns", "SortColumns", "Parameters", "StoredAsSubDirectories", 0);
    if (s->location != NULL) {
        json_object_set_new(sd, "Location", json_string(s->location));
    }
    json_t *params = json_pack("{s:s}", "EXTERNAL", "TRUE");
    for (size_t i = 0; i < s->n_props; i++) {
        json_object_set_new(params, s->props[i].key, json_string(s->props[i].value));
    }
    if (s->comment != NULL) {
        json_object_set_new(params, "comment", json_string(s->comment));
    }
    char now[32];
    snprintf(now, sizeof(now), "%lld", (long long)(clock_now_ms() / 1000));
    json_object_set_new(params, "transient_lastDdlTime", json_string(now));
    json_t *ti = json_pack("{s:s, s:s, s:s, s:i, s:o, s:o, s:o}", "Name", s->name, "Owner",
                           "hadoop", "TableType", "EXTERNAL_TABLE", "Retention", 0, "Parameters",
                           params, "PartitionKeys", columns_doc(s->part_cols, s->n_part_cols),
                           "StorageDescriptor", sd);
    int rc =
        glue(d, "CreateTable", json_pack("{s:s, s:o}", "DatabaseName", db, "TableInput", ti), NULL);
    if (rc == SL_E(ALREADY_EXISTS)) {
        if (!s->if_exists) {
            fail(d, TYPE_USER, FAILED_DDL "AlreadyExistsException(message:Table %s already exists)",
                 s->name);
        }
    } else if (rc < 0) {
        fail(d, TYPE_USER, FAILED_DDL "InvalidObjectException(message:%s)", d->gerr.message);
    }
}

static void drop_table(struct ddl_run *d, int view)
{
    struct query_ddl_stmt *s = &d->st;
    const char *db = db_of(d);
    json_t *t = get_table(d, db, s->name, s->if_exists);
    if (t == NULL) {
        if (!view && d->failed) {
            return;
        }
        if (view && d->failed) {
            d->failed = 0;
            fail(d, TYPE_NOT_FOUND, "line 1:1: View 'awsdatacatalog.%s.%s' does not exist", db,
                 s->name);
        }
        return;
    }
    if (is_view(t) != view) {
        fail(d, TYPE_USER,
             view ? "line 1:1: View 'awsdatacatalog.%s.%s' does not exist"
                  : "FAILED: SemanticException [Error 10137]: Cannot drop a view with DROP "
                    "TABLE (%s.%s)",
             db, s->name);
    } else if (glue(d, "DeleteTable", json_pack("{s:s, s:s}", "DatabaseName", db, "Name", s->name),
                    NULL) < 0) {
        fail(d, TYPE_USER, FAILED_DDL "%s", d->gerr.message);
    }
    json_decref(t);
}

/* ---- partitions ---- */

/* The values of a partition spec in the order of the table's keys, or -1 with Athena's
 * failure when it names other columns or (full) leaves a key out. values[i] is NULL for
 * a key a partial spec leaves out. */
static int spec_values(struct ddl_run *d, const json_t *keys, const struct query_ddl_part *p,
                       int full, const char **values)
{
    size_t nk = json_array_size(keys);
    for (size_t i = 0; i < nk; i++) {
        values[i] = NULL;
    }
    for (size_t j = 0; j < p->n_spec; j++) {
        size_t i = 0;
        while (i < nk && strcasecmp(jstr(json_array_get(keys, i), "Name"), p->spec[j].key) != 0) {
            i++;
        }
        if (i == nk) {
            fail(d, TYPE_SYNTAX,
                 "FAILED: ValidationFailureSemanticException Partition spec {%s=%s} contains "
                 "non-partition columns",
                 p->spec[j].key, p->spec[j].value);
            return -1;
        }
        values[i] = p->spec[j].value;
    }
    for (size_t i = 0; full && i < nk; i++) {
        if (values[i] == NULL) {
            fail(d, TYPE_SYNTAX,
                 "FAILED: SemanticException [Error 10006]: Partition spec is incomplete: "
                 "missing %s",
                 jstr(json_array_get(keys, i), "Name"));
            return -1;
        }
    }
    return 0;
}

static json_t *values_doc(const char *const *values, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(arr, json_string(values[i]));
    }
    return arr;
}

/* The table's location with one '/' at its end. */
static char *dir_of(const char *location)
{
    size_t n = strlen(location);
    return xasprintf("%s%s", location, n > 0 && location[n - 1] == '/' ? "" : "/");
}

/* Registers one partition of table t (its storage descriptor, location loc). */
static int create_partition(struct ddl_run *d, const char *db, const json_t *t,
                            const char *const *values, size_t n, const char *loc)
{
    json_t *sd = json_deep_copy(json_object_get(t, "StorageDescriptor"));
    if (sd == NULL) {
        sd = json_object();
    }
    json_object_set_new(sd, "Location", json_string(loc));
    json_t *pi = json_pack("{s:o, s:o, s:{}}", "Values", values_doc(values, n), "StorageDescriptor",
                           sd, "Parameters");
    return glue(d, "CreatePartition",
                json_pack("{s:s, s:s, s:o}", "DatabaseName", db, "TableName", jstr(t, "Name"),
                          "PartitionInput", pi),
                NULL);
}

static int partition_exists(struct ddl_run *d, const char *db, const char *table,
                            const char *const *values, size_t n)
{
    return glue(d, "GetPartition",
                json_pack("{s:s, s:s, s:o}", "DatabaseName", db, "TableName", table,
                          "PartitionValues", values_doc(values, n)),
                NULL) == 0;
}

static void add_partitions(struct ddl_run *d)
{
    struct query_ddl_stmt *s = &d->st;
    const char *db = db_of(d);
    json_t *t = get_table(d, db, s->name, 0);
    if (t == NULL) {
        return;
    }
    json_t *keys = json_object_get(t, "PartitionKeys");
    size_t nk = json_array_size(keys);
    const char **values = xcalloc(nk + 1, sizeof(*values));
    int *skip = xcalloc(s->n_parts, sizeof(*skip));
    /* Every spec is checked before any partition is added. */
    for (size_t p = 0; p < s->n_parts && !d->failed; p++) {
        if (nk == 0) {
            fail(d, TYPE_SYNTAX,
                 "FAILED: SemanticException table is not partitioned but "
                 "partition spec exists");
            break;
        }
        if (spec_values(d, keys, &s->parts[p], 1, values) < 0) {
            break;
        }
        if (partition_exists(d, db, s->name, values, nk)) {
            skip[p] = 1;
            if (!s->if_exists) {
                struct buf nm;
                buf_init(&nm);
                partition_name(&nm, keys, values, nk);
                buf_putc(&nm, '\0');
                fail(d, TYPE_USER,
                     FAILED_DDL "AlreadyExistsException(message:Partition already exists: %s)",
                     (const char *)nm.data);
                buf_fini(&nm);
            }
        }
    }
    const char *tloc =
        json_string_value(json_object_get(json_object_get(t, "StorageDescriptor"), "Location"));
    for (size_t p = 0; p < s->n_parts && !d->failed; p++) {
        if (skip[p]) {
            continue;
        }
        spec_values(d, keys, &s->parts[p], 1, values);
        char *loc;
        if (s->parts[p].location != NULL) {
            loc = xstrdup(s->parts[p].location);
        } else {
            /* Hive's default: <table location>/k1=v1/k2=v2/ */
            struct buf b;
            buf_init(&b);
            char *dir = dir_of(tloc != NULL ? tloc : "");
            buf_puts(&b, dir);
            free(dir);
            partition_name(&b, keys, values, nk);
            buf_puts(&b, "/");
            buf_putc(&b, '\0');
            size_t len;
            loc = (char *)buf_steal(&b, &len);
        }
        if (create_partition(d, db, t, values, nk, loc) < 0 &&
            d->gerr.code != SL_E(ALREADY_EXISTS)) {
            fail(d, TYPE_USER, FAILED_DDL "%s", d->gerr.message);
        }
        free(loc);
    }
    free(skip);
    free(values);
    json_decref(t);
}

/* Partitions a scan collects: each one's values, NUL-separated. */
struct part_list {
    struct buf *items;
    size_t n;
    size_t n_keys;
};

static int on_part(void *arg, const char *const *values, size_t n_values, const char *location)
{
    (void)location;
    struct part_list *pl = arg;
    pl->items = xrealloc(pl->items, (pl->n + 1) * sizeof(*pl->items));
    struct buf *b = &pl->items[pl->n++];
    buf_init(b);
    for (size_t i = 0; i < n_values; i++) {
        buf_append(b, values[i], strlen(values[i]) + 1);
    }
    pl->n_keys = n_values;
    return 0;
}

static void part_list_fini(struct part_list *pl)
{
    for (size_t i = 0; i < pl->n; i++) {
        buf_fini(&pl->items[i]);
    }
    free(pl->items);
}

/* Splits one collected partition into values[0..n). */
static void part_values(const struct buf *b, const char **values, size_t n)
{
    const char *p = (const char *)b->data;
    for (size_t i = 0; i < n; i++) {
        values[i] = p;
        p += strlen(p) + 1;
    }
}

static int scan_partitions(struct ddl_run *d, const char *db, const char *table,
                           struct part_list *pl)
{
    struct catalog_scope sc = {d->svc->cfg->region, d->svc->cfg->account_id};
    struct err_info e = {0};
    int rc = catalog_partition_scan(d->svc->cat, &sc, db, table, "", on_part, pl, &e);
    if (rc < 0) {
        fail(d, TYPE_USER, "HIVE_METASTORE_ERROR: %s", e.message);
    }
    return rc;
}

static void drop_partitions(struct ddl_run *d)
{
    struct query_ddl_stmt *s = &d->st;
    const char *db = db_of(d);
    json_t *t = get_table(d, db, s->name, 0);
    if (t == NULL) {
        return;
    }
    json_t *keys = json_object_get(t, "PartitionKeys");
    size_t nk = json_array_size(keys);
    const char **want = xcalloc(nk + 1, sizeof(*want));
    const char **have = xcalloc(nk + 1, sizeof(*have));
    struct part_list pl = {0};
    char *drop = NULL; /* 1 for each partition of pl some spec selects */
    if (nk == 0) {
        fail(d, TYPE_SYNTAX,
             "FAILED: SemanticException table is not partitioned but partition spec exists");
    } else if (scan_partitions(d, db, s->name, &pl) == 0) {
        drop = xcalloc(pl.n + 1, 1);
    }
    /* A spec may name some keys only: it drops every partition it matches. */
    for (size_t p = 0; p < s->n_parts && !d->failed; p++) {
        if (spec_values(d, keys, &s->parts[p], 0, want) < 0) {
            break;
        }
        size_t hits = 0;
        for (size_t i = 0; i < pl.n; i++) {
            part_values(&pl.items[i], have, nk);
            int match = 1;
            for (size_t k = 0; k < nk; k++) {
                match &= want[k] == NULL || strcmp(want[k], have[k]) == 0;
            }
            if (match) {
                drop[i] = 1;
                hits++;
            }
        }
        if (hits == 0 && !s->if_exists) {
            struct buf b;
            buf_init(&b);
            for (size_t j = 0; j < s->parts[p].n_spec; j++) {
                buf_printf(&b, "%s%s = '%s'", j > 0 ? ", " : "", s->parts[p].spec[j].key,
                           s->parts[p].spec[j].value);
            }
            buf_putc(&b, '\0');
            fail(d, TYPE_NOT_FOUND,
                 "FAILED: SemanticException [Error 10006]: Partition not found (%s)",
                 (const char *)b.data);
            buf_fini(&b);
        }
    }
    for (size_t i = 0; i < pl.n && !d->failed; i++) {
        if (!drop[i]) {
            continue;
        }
        part_values(&pl.items[i], have, nk);
        if (glue(d, "DeletePartition",
                 json_pack("{s:s, s:s, s:o}", "DatabaseName", db, "TableName", s->name,
                           "PartitionValues", values_doc(have, nk)),
                 NULL) < 0 &&
            d->gerr.code != SL_E(ENTITY_NOT_FOUND)) {
            fail(d, TYPE_USER, FAILED_DDL "%s", d->gerr.message);
        }
    }
    free(drop);
    part_list_fini(&pl);
    free(want);
    free(have);
    json_decref(t);
}

/* ---- MSCK REPAIR TABLE ---- */

/* The partition directory ("k1=v1/k2=v2") an object's key under the table's prefix
 * lies in, when its leading directories name the table's keys in order as Hive writes
 * them (lower-case names); NULL otherwise. Values are unescaped into values[] (the
 * caller's to free when a directory is returned; none is left otherwise). */
static char *hive_dir(const char *rel, const json_t *keys, char **values)
{
    size_t nk = json_array_size(keys);
    const char *p = rel;
    for (size_t i = 0; i < nk; i++) {
        const char *slash = strchr(p, '/');
        const char *name = jstr(json_array_get(keys, i), "Name");
        size_t nl = strlen(name);
        /* an object, not a directory, at this depth; or another directory */
        if (slash == NULL || (size_t)(slash - p) <= nl || strncmp(p, name, nl) != 0 ||
            p[nl] != '=') {
            for (size_t j = 0; j < i; j++) {
                free(values[j]);
                values[j] = NULL;
            }
            return NULL;
        }
        values[i] = xstrndup(p + nl + 1, (size_t)(slash - p) - nl - 1);
        path_unescape(values[i]);
        p = slash + 1;
    }
    return xstrndup(rel, (size_t)(p - rel) - 1);
}

/* What MSCK REPAIR TABLE learns from a listing of the table's location. */
struct msck {
    const json_t *keys;
    size_t nk;
    struct part_list have; /* the partitions in the catalog */
    char *seen;            /* have.n flags: its directory holds an object */
    struct names found;    /* directories of partitions not in the catalog, in key order */
};

/* Notes the partition directory of one object key (relative to the table's prefix). */
static void msck_object(struct msck *m, const char *rel)
{
    char **values = xcalloc(m->nk, sizeof(*values));
    const char **hv = xcalloc(m->nk, sizeof(*hv));
    char *dir = hive_dir(rel, m->keys, values);
    int skip = dir == NULL || (m->found.n > 0 && strcmp(m->found.v[m->found.n - 1], dir) == 0);
    for (size_t k = 0; dir != NULL && k < m->nk; k++) {
        skip |= strchr(values[k], ':') != NULL; /* Athena skips these silently */
    }
    for (size_t h = 0; dir != NULL && h < m->have.n; h++) {
        part_values(&m->have.items[h], hv, m->nk);
        int same = 1;
        for (size_t k = 0; k < m->nk; k++) {
            same &= strcmp(hv[k], values[k]) == 0;
        }
        m->seen[h] |= same;
        skip |= same;
    }
    if (!skip) {
        collect(&m->found, dir);
    }
    for (size_t k = 0; dir != NULL && k < m->nk; k++) {
        free(values[k]);
    }
    free(values);
    free(hv);
    free(dir);
}

/* Lists every object under bucket/pfx into m. 0, or -1 with the failure in d. */
static int msck_list(struct ddl_run *d, const char *bucket, const char *pfx, const char *tloc,
                     struct msck *m)
{
    char *after = NULL;
    int rc = 0;
    for (;;) {
        struct lake_list_opts lo = {.prefix = pfx, .after = after, .max_keys = 1000};
        struct lake_list_result res = {0};
        struct err_info e = {0};
        if (lake_object_list(d->svc->lake, bucket, &lo, &res, &e) < 0) {
            fail(d, TYPE_USER, "HIVE_FILESYSTEM_ERROR: cannot list %s: %s", tloc, e.message);
            rc = -1;
            break;
        }
        for (size_t i = 0; i < res.n_objects; i++) {
            msck_object(m, res.objects[i].key + strlen(pfx));
        }
        free(after);
        after = res.truncated && res.last != NULL ? xstrdup(res.last) : NULL;
        lake_list_result_fini(&res);
        if (after == NULL) {
            break;
        }
    }
    free(after);
    return rc;
}

/* One line "<title>:\t<table>:<dir>\t..." */
static void msck_line(struct ddl_run *d, const char *title, char **dirs, size_t n)
{
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "%s:", title);
    for (size_t i = 0; i < n; i++) {
        buf_printf(&b, "\t%s:%s", d->st.name, dirs[i]);
    }
    buf_putc(&b, '\0');
    line(d, "%s", (const char *)b.data);
    buf_fini(&b);
}

/* MSCK REPAIR TABLE: registers the Hive-style k=v/ directories under the table's location
 * that the catalog lacks; reports catalog partitions whose directory holds nothing, and
 * never removes them, as Athena does. */
static void msck_repair(struct ddl_run *d)
{
    struct query_ddl_stmt *s = &d->st;
    const char *db = db_of(d);
    json_t *t = get_table(d, db, s->name, 0);
    if (t == NULL) {
        return;
    }
    struct msck m = {.keys = json_object_get(t, "PartitionKeys")};
    m.nk = json_array_size(m.keys);
    const char *tloc = json_string_value(json_object_get(sd_of(t), "Location"));
    char bucket[LAKE_BUCKET_NAME_MAX + 1];
    const char *prefix;
    if (m.nk == 0) {
        json_decref(t);
        return; /* nothing to repair */
    }
    if (query__split_s3(tloc, bucket, sizeof(bucket), &prefix) < 0) {
        fail(d, TYPE_USER, "HIVE_METASTORE_ERROR: Table location '%s' is not an S3 URI",
             tloc != NULL ? tloc : "");
        json_decref(t);
        return;
    }
    char *pfx = prefix[0] != '\0' ? dir_of(prefix) : xstrdup("");
    if (scan_partitions(d, db, s->name, &m.have) == 0) {
        m.seen = xcalloc(m.have.n + 1, 1);
        msck_list(d, bucket, pfx, tloc, &m);
    }
    struct names missing = {0};
    const char **hv = xcalloc(m.nk, sizeof(*hv));
    for (size_t h = 0; !d->failed && h < m.have.n; h++) {
        if (!m.seen[h]) {
            part_values(&m.have.items[h], hv, m.nk);
            struct buf nm;
            buf_init(&nm);
            partition_name(&nm, m.keys, hv, m.nk);
            buf_putc(&nm, '\0');
            collect(&missing, (const char *)nm.data);
            buf_fini(&nm);
        }
    }
    free(hv);
    if (!d->failed && m.found.n > 0) {
        msck_line(d, "Partitions not in metastore", m.found.v, m.found.n);
    }
    if (!d->failed && missing.n > 0) {
        msck_line(d, "Partitions missing from filesystem", missing.v, missing.n);
    }
    char *dir = dir_of(tloc);
    char **values = xcalloc(m.nk, sizeof(*values));
    for (size_t i = 0; i < m.found.n && !d->failed; i++) {
        char *rel = xasprintf("%s/", m.found.v[i]);
        free(hive_dir(rel, m.keys, values));
        char *loc = xasprintf("%s%s", dir, rel);
        if (create_partition(d, db, t, (const char *const *)values, m.nk, loc) == 0) {
            line(d, "Repair: Added partition to metastore %s:%s", s->name, m.found.v[i]);
        } else if (d->gerr.code != SL_E(ALREADY_EXISTS)) {
            fail(d, TYPE_USER, "HIVE_METASTORE_ERROR: %s", d->gerr.message);
        }
        for (size_t k = 0; k < m.nk; k++) {
            free(values[k]);
            values[k] = NULL;
        }
        free(loc);
        free(rel);
    }
    free(values);
    free(dir);
    names_fini(&missing);
    names_fini(&m.found);
    part_list_fini(&m.have);
    free(m.seen);
    free(pfx);
    json_decref(t);
}

/* ---- SHOW ---- */

static void print_sorted(struct ddl_run *d, struct names *ns, const char *pattern)
{
    if (ns->n > 0) { /* an empty list has no array: qsort must not see NULL */
        qsort(ns->v, ns->n, sizeof(*ns->v), cmp_str);
    }
    for (size_t i = 0; i < ns->n; i++) {
        if (hive_pattern_match(pattern, ns->v[i])) {
            line(d, "%s", ns->v[i]);
        }
    }
}

static void show_databases(struct ddl_run *d)
{
    result_columns(d, "database_name", NULL);
    struct names ns = {0};
    struct catalog_scope sc = {d->svc->cfg->region, d->svc->cfg->account_id};
    struct err_info e = {0};
    if (catalog_database_list(d->svc->cat, &sc, collect, &ns, &e) < 0) {
        fail(d, TYPE_USER, "HIVE_METASTORE_ERROR: %s", e.message);
    }
    print_sorted(d, &ns, d->st.pattern);
    names_fini(&ns);
}

/* SHOW TABLES lists tables and views; SHOW VIEWS the views only. */
static void show_tables(struct ddl_run *d, int views)
{
    result_columns(d, views ? "views" : "tab_name", NULL);
    const char *db = db_of(d);
    if (!database_exists(d, db)) {
        fail(d, TYPE_NOT_FOUND,
             "FAILED: SemanticException [Error 10072]: Database does not exist: %s", db);
        return;
    }
    struct names ns = {0};
    json_t *in = json_pack("{s:s}", "DatabaseName", db);
    for (;;) {
        json_t *out = NULL;
        if (glue(d, "GetTables", json_deep_copy(in), &out) < 0) {
            fail(d, TYPE_USER, "HIVE_METASTORE_ERROR: %s", d->gerr.message);
            break;
        }
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(out, "TableList"), i, t)
        {
            if (!views || is_view(t)) {
                collect(&ns, jstr(t, "Name"));
            }
        }
        const char *token = json_string_value(json_object_get(out, "NextToken"));
        if (token != NULL) {
            json_object_set_new(in, "NextToken", json_string(token));
        }
        json_decref(out);
        if (token == NULL) {
            break;
        }
    }
    json_decref(in);
    print_sorted(d, &ns, d->st.pattern);
    names_fini(&ns);
}

static int projection_enabled(const json_t *t)
{
    return strcasecmp(jstr(json_object_get(t, "Parameters"), "projection.enabled"), "true") == 0;
}

static void show_partitions(struct ddl_run *d)
{
    result_columns(d, "partition", NULL);
    const char *db = db_of(d);
    json_t *t = get_table(d, db, d->st.name, 0);
    if (t == NULL) {
        return;
    }
    json_t *keys = json_object_get(t, "PartitionKeys");
    size_t nk = json_array_size(keys);
    if (nk == 0) {
        fail(d, TYPE_USER,
             "FAILED: SemanticException [Error 10241]: Table %s is not a partitioned table",
             d->st.name);
    } else if (!projection_enabled(t)) { /* projected partitions are not listed */
        struct part_list pl = {0};
        if (scan_partitions(d, db, d->st.name, &pl) == 0) {
            struct names ns = {0};
            const char **v = xcalloc(nk, sizeof(*v));
            for (size_t i = 0; i < pl.n; i++) {
                part_values(&pl.items[i], v, nk);
                struct buf b;
                buf_init(&b);
                partition_name(&b, keys, v, nk);
                buf_putc(&b, '\0');
                collect(&ns, (const char *)b.data);
                buf_fini(&b);
            }
            free(v);
            print_sorted(d, &ns, NULL);
            names_fini(&ns);
        }
        part_list_fini(&pl);
    }
    json_decref(t);
}

static void show_columns(struct ddl_run *d)
{
    result_columns(d, "field", NULL);
    json_t *t = get_table(d, db_of(d), d->st.name, 0);
    if (t == NULL) {
        return;
    }
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(sd_of(t), "Columns"), i, c)
    {
        line(d, "%s", jstr(c, "Name"));
    }
    json_array_foreach(json_object_get(t, "PartitionKeys"), i, c)
    {
        line(d, "%s", jstr(c, "Name"));
    }
    json_decref(t);
}

/* The keys of a string map, sorted (the caller frees the array only). */
static const char **sorted_keys(const json_t *obj, size_t *n)
{
    *n = json_object_size(obj);
    const char **keys = xcalloc(*n + 1, sizeof(*keys));
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        keys[i++] = k;
    }
    qsort(keys, *n, sizeof(*keys), cmp_str);
    return keys;
}

static void show_tblproperties(struct ddl_run *d)
{
    result_columns(d, "prpt_name", "prpt_value", NULL);
    json_t *t = get_table(d, db_of(d), d->st.name, 0);
    if (t == NULL) {
        return;
    }
    json_t *params = json_object_get(t, "Parameters");
    if (d->st.pattern != NULL) {
        const char *v = json_string_value(json_object_get(params, d->st.pattern));
        if (v != NULL) {
            line(d, "%s", v);
        } else {
            line(d, "Table %s does not have property: %s", d->st.name, d->st.pattern);
        }
    } else {
        size_t n;
        const char **keys = sorted_keys(params, &n);
        for (size_t i = 0; i < n; i++) {
            line(d, "%s\t%s", keys[i], jstr(params, keys[i]));
        }
        free(keys);
    }
    json_decref(t);
}

/* Appends s as a Hive DDL string literal. */
static void ddl_string(struct buf *b, const char *s)
{
    buf_putc(b, '\'');
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '\'' || *p == '\\') {
            buf_printf(b, "\\%c", *p);
        } else if (*p == '\t') {
            buf_puts(b, "\\t");
        } else if (*p == '\n') {
            buf_puts(b, "\\n");
        } else if (*p < 0x20) {
            buf_printf(b, "\\%03o", *p);
        } else {
            buf_putc(b, (char)*p);
        }
    }
    buf_putc(b, '\'');
}

static void ddl_columns(struct buf *b, const json_t *cols)
{
    size_t i;
    json_t *c;
    json_array_foreach(cols, i, c)
    {
        buf_printf(b, "%s  `%s` %s", i > 0 ? ", \n" : "", jstr(c, "Name"), jstr(c, "Type"));
        if (json_object_get(c, "Comment") != NULL) {
            buf_puts(b, " COMMENT ");
            ddl_string(b, jstr(c, "Comment"));
        }
    }
}

static void ddl_props(struct buf *b, const json_t *params, int skip_internal)
{
    size_t n;
    const char **keys = sorted_keys(params, &n);
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (skip_internal &&
            (strcmp(keys[i], "EXTERNAL") == 0 || strcmp(keys[i], "comment") == 0)) {
            continue;
        }
        buf_puts(b, first ? "  " : ", \n  ");
        ddl_string(b, keys[i]);
        buf_putc(b, '=');
        ddl_string(b, jstr(params, keys[i]));
        first = 0;
    }
    free(keys);
}

static void show_create_table(struct ddl_run *d)
{
    result_columns(d, "createtab_stmt", NULL);
    json_t *t = get_table(d, db_of(d), d->st.name, 0);
    if (t == NULL) {
        return;
    }
    struct buf b;
    buf_init(&b);
    json_t *sd = sd_of(t);
    if (is_view(t)) {
        char *sql = query__view_sql(d->svc, db_of(d), jstr(t, "Name"));
        buf_printf(&b, "CREATE VIEW %s AS\n%s", jstr(t, "Name"), sql != NULL ? sql : "");
        free(sql);
    } else {
        buf_printf(&b, "CREATE EXTERNAL TABLE `%s`(\n", jstr(t, "Name"));
        ddl_columns(&b, json_object_get(sd, "Columns"));
        buf_puts(&b, ")\n");
        json_t *params = json_object_get(t, "Parameters");
        if (json_object_get(params, "comment") != NULL) {
            buf_puts(&b, "COMMENT ");
            ddl_string(&b, jstr(params, "comment"));
            buf_putc(&b, '\n');
        }
        if (json_array_size(json_object_get(t, "PartitionKeys")) > 0) {
            buf_puts(&b, "PARTITIONED BY ( \n");
            ddl_columns(&b, json_object_get(t, "PartitionKeys"));
            buf_puts(&b, ")\n");
        }
        json_t *serde = json_object_get(sd, "SerdeInfo");
        buf_puts(&b, "ROW FORMAT SERDE \n  ");
        ddl_string(&b, jstr(serde, "SerializationLibrary"));
        buf_putc(&b, ' ');
        json_t *sp = json_object_get(serde, "Parameters");
        if (json_object_size(sp) > 0) {
            buf_puts(&b, "\nWITH SERDEPROPERTIES ( \n");
            ddl_props(&b, sp, 0);
            buf_puts(&b, ") ");
        }
        buf_puts(&b, "\nSTORED AS INPUTFORMAT \n  ");
        ddl_string(&b, jstr(sd, "InputFormat"));
        buf_puts(&b, " \nOUTPUTFORMAT \n  ");
        ddl_string(&b, jstr(sd, "OutputFormat"));
        if (json_object_get(sd, "Location") != NULL) {
            buf_puts(&b, "\nLOCATION\n  ");
            ddl_string(&b, jstr(sd, "Location"));
        }
        buf_puts(&b, "\nTBLPROPERTIES (\n");
        ddl_props(&b, params, 1);
        buf_puts(&b, ")");
    }
    buf_putc(&b, '\0');
    line(d, "%s", (const char *)b.data);
    buf_fini(&b);
    json_decref(t);
}

/* One DESCRIBE row: each field padded to Hive's width, tab-separated. */
static void describe_row(struct ddl_run *d, const char *a, const char *b, const char *c)
{
    line(d, "%-*s\t%-*s\t%-*s", DESCRIBE_WIDTH, a, DESCRIBE_WIDTH, b, DESCRIBE_WIDTH, c);
}

static void describe_columns(struct ddl_run *d, const json_t *cols)
{
    size_t i;
    json_t *c;
    json_array_foreach(cols, i, c)
    {
        describe_row(d, jstr(c, "Name"), jstr(c, "Type"), jstr(c, "Comment"));
    }
}

static void describe(struct ddl_run *d)
{
    result_columns(d, "col_name", "data_type", "comment", NULL);
    const char *db = db_of(d);
    json_t *t = get_table(d, db, d->st.name, 0);
    if (t == NULL) {
        return;
    }
    json_t *sd = sd_of(t);
    json_t *keys = json_object_get(t, "PartitionKeys");
    if (d->st.formatted) {
        describe_row(d, "# col_name", "data_type", "comment");
        line(d, "%s", "");
    }
    describe_columns(d, json_object_get(sd, "Columns"));
    describe_columns(d, keys);
    if (json_array_size(keys) > 0) {
        line(d, "%s", "");
        line(d, "# Partition Information");
        describe_row(d, "# col_name", "data_type", "comment");
        line(d, "%s", "");
        describe_columns(d, keys);
    }
    if (d->st.formatted) {
        line(d, "%s", "");
        line(d, "# Detailed Table Information");
        line(d, "Database:           \t%s", db);
        line(d, "Owner:              \t%s", jstr(t, "Owner"));
        line(d, "Location:           \t%s", jstr(sd, "Location"));
        line(d, "Table Type:         \t%s", jstr(t, "TableType"));
        line(d, "Table Parameters:");
        json_t *params = json_object_get(t, "Parameters");
        size_t n;
        const char **pk = sorted_keys(params, &n);
        for (size_t i = 0; i < n; i++) {
            line(d, "\t%-*s\t%s", DESCRIBE_WIDTH, pk[i], jstr(params, pk[i]));
        }
        free(pk);
        line(d, "%s", "");
        line(d, "# Storage Information");
        json_t *serde = json_object_get(sd, "SerdeInfo");
        line(d, "SerDe Library:      \t%s", jstr(serde, "SerializationLibrary"));
        line(d, "InputFormat:        \t%s", jstr(sd, "InputFormat"));
        line(d, "OutputFormat:       \t%s", jstr(sd, "OutputFormat"));
        line(d, "Storage Desc Params:");
        json_t *sp = json_object_get(serde, "Parameters");
        pk = sorted_keys(sp, &n);
        for (size_t i = 0; i < n; i++) {
            line(d, "\t%-*s\t%s", DESCRIBE_WIDTH, pk[i], jstr(sp, pk[i]));
        }
        free(pk);
    }
    json_decref(t);
}

/* ---- views ---- */

/* The statement's query (a view's, EXPLAIN's) where it stands in the statement: what
 * precedes it blanked (line breaks kept), so failures give the statement's own line and
 * column. */
static char *body_in_place(const struct ddl_run *d)
{
    size_t n = d->st.body_offset + strlen(d->st.body);
    char *text = xstrndup(d->query, n);
    for (size_t i = 0; i < d->st.body_offset; i++) {
        if (text[i] != '\n') {
            text[i] = ' ';
        }
    }
    return text;
}

#define PRESTO_VIEW_START "/* Presto View: "
#define PRESTO_VIEW_END " */"

/* The Hive type Glue keeps for a view's column of Athena type t. */
static const char *hive_type_of(const char *t)
{
    static const struct {
        const char *athena, *hive;
    } map[] = {{"varchar", "string"},
               {"integer", "int"},
               {"varbinary", "binary"},
               {"timestamp with time zone", "timestamp"}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(map[i].athena, t) == 0) {
            return map[i].hive;
        }
    }
    static const char *const same[] = {"boolean", "tinyint", "smallint", "bigint",
                                       "double",  "float",   "date",     "timestamp"};
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        if (strcmp(same[i], t) == 0) {
            return t;
        }
    }
    return strncmp(t, "decimal(", 8) == 0 ? t : "string";
}

char *query__view_sql(struct query_service *svc, const char *db, const char *name)
{
    struct ddl_run d = {.svc = svc};
    json_t *t = get_table(&d, db, name, 1);
    const char *text = jstr(t, "ViewOriginalText");
    size_t n = strlen(text);
    size_t a = strlen(PRESTO_VIEW_START), z = strlen(PRESTO_VIEW_END);
    char *sql = NULL;
    if (t != NULL && is_view(t) && n > a + z && strncmp(text, PRESTO_VIEW_START, a) == 0 &&
        strcmp(text + n - z, PRESTO_VIEW_END) == 0) {
        uint8_t *raw = xmalloc(BASE64_DECODED_MAX(n - a - z) + 1);
        long len = base64_decode(text + a, n - a - z, raw);
        json_t *doc = len >= 0 ? json_loadb((const char *)raw, (size_t)len, 0, NULL) : NULL;
        const char *orig = json_string_value(json_object_get(doc, "originalSql"));
        sql = orig != NULL ? xstrdup(orig) : NULL;
        json_decref(doc);
        free(raw);
    }
    json_decref(t);
    return sql;
}

/* CREATE [OR REPLACE] VIEW: the query is planned (so a view over a missing table or
 * column is refused) and stored as Athena stores it: TableType VIRTUAL_VIEW, the Presto
 * view definition in base64 inside ViewOriginalText, the columns in Hive types. */
static void create_view(struct ddl_run *d)
{
    struct query_ddl_stmt *s = &d->st;
    const char *db = db_of(d);
    if (!database_exists(d, db)) {
        fail(d, TYPE_NOT_FOUND, "SCHEMA_NOT_FOUND: line 1:1: Schema '%s' does not exist", db);
        return;
    }
    json_t *old = get_table(d, db, s->name, 1);
    if (old != NULL && (!is_view(old) || !s->or_replace)) {
        fail(d, TYPE_USER, "%s: line 1:1: %s already exists: 'awsdatacatalog.%s.%s'",
             is_view(old) ? "ALREADY_EXISTS" : "TABLE_ALREADY_EXISTS",
             is_view(old) ? "View" : "Table", db, s->name);
        json_decref(old);
        return;
    }
    struct buf cols_text;
    buf_init(&cols_text);
    struct query_failure f = {0};
    char *body = body_in_place(d);
    int rc = query__plan(d->w, body, db, d->who, QUERY_PLAN_COLUMNS, &cols_text, &f);
    free(body);
    if (rc < 0) {
        fail(d, f.type, "%s", f.message);
        d->category = f.category;
        buf_fini(&cols_text);
        json_decref(old);
        return;
    }
    buf_putc(&cols_text, '\0');
    json_t *cols = json_loads((const char *)cols_text.data, 0, NULL);
    buf_fini(&cols_text);
    json_t *hive_cols = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(cols, i, c)
    {
        json_array_append_new(hive_cols, json_pack("{s:s, s:s}", "Name", jstr(c, "name"), "Type",
                                                   hive_type_of(jstr(c, "type"))));
    }
    json_t *def = json_pack("{s:s, s:s, s:s, s:o, s:s, s:b}", "originalSql", s->body, "catalog",
                            "awsdatacatalog", "schema", db, "columns", cols, "owner", "hadoop",
                            "runAsInvoker", 0);
    char *def_text = json_dumps(def, JSON_COMPACT);
    json_decref(def);
    size_t dl = strlen(def_text);
    char *b64 = xmalloc(BASE64_ENCODED_LEN(dl) + 1);
    b64[base64_encode((const uint8_t *)def_text, dl, b64)] = '\0';
    char *original = xasprintf(PRESTO_VIEW_START "%s" PRESTO_VIEW_END, b64);
    free(b64);
    free(def_text);
    json_t *ti = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:i, s:{s:s, s:s}, s:[], s:{s:o, s:s, "
        "s:b, s:i, s:{}, s:[], s:[], s:b}}",
        "Name", s->name, "Owner", "hadoop", "TableType", "VIRTUAL_VIEW", "ViewOriginalText",
        original, "ViewExpandedText", "/* Presto View */", "Retention", 0, "Parameters",
        "presto_view", "true", "comment", "Presto View", "PartitionKeys", "StorageDescriptor",
        "Columns", hive_cols, "Location", "", "Compressed", 0, "NumberOfBuckets", 0, "SerdeInfo",
        "BucketColumns", "SortColumns", "StoredAsSubDirectories", 0);
    free(original);
    rc = glue(d, old != NULL ? "UpdateTable" : "CreateTable",
              json_pack("{s:s, s:o}", "DatabaseName", db, "TableInput", ti), NULL);
    if (rc < 0) {
        fail(d, TYPE_USER, "HIVE_METASTORE_ERROR: %s", d->gerr.message);
    }
    json_decref(old);
}

/* ---- EXPLAIN ---- */

/* EXPLAIN's result is a query's: a CSV with the column "Query Plan" and one row. */
static void explain(struct ddl_run *d)
{
    struct buf plan;
    buf_init(&plan);
    struct query_failure f = {0};
    char *body = body_in_place(d);
    int rc = query__plan(d->w, body, d->default_db, d->who,
                         d->st.explain_io ? QUERY_PLAN_IO : QUERY_PLAN_TEXT, &plan, &f);
    free(body);
    if (rc < 0) {
        fail(d, f.type, "%s", f.message);
        d->category = f.category;
    } else {
        json_array_append_new(d->columns,
                              json_pack("{s:s, s:s, s:i, s:i}", "Name", "Query Plan", "Type",
                                        "varchar", "Precision", 2147483647, "Scale", 0));
        query__csv_field(&d->out, "Query Plan", strlen("Query Plan"));
        buf_putc(&d->out, '\n');
        query__csv_field(&d->out, plan.data != NULL ? (const char *)plan.data : "", plan.len);
        buf_putc(&d->out, '\n');
    }
    buf_fini(&plan);
}

/* ---- running ---- */

static void dispatch(struct ddl_run *d)
{
    switch (d->st.kind) {
    case QUERY_DDL_CREATE_DATABASE: create_database(d); break;
    case QUERY_DDL_DROP_DATABASE: drop_database(d); break;
    case QUERY_DDL_CREATE_TABLE: create_table(d); break;
    case QUERY_DDL_DROP_TABLE: drop_table(d, 0); break;
    case QUERY_DDL_DROP_VIEW: drop_table(d, 1); break;
    case QUERY_DDL_ADD_PARTITION: add_partitions(d); break;
    case QUERY_DDL_DROP_PARTITION: drop_partitions(d); break;
    case QUERY_DDL_MSCK: msck_repair(d); break;
    case QUERY_DDL_SHOW_DATABASES: show_databases(d); break;
    case QUERY_DDL_SHOW_TABLES: show_tables(d, 0); break;
    case QUERY_DDL_SHOW_VIEWS: show_tables(d, 1); break;
    case QUERY_DDL_SHOW_PARTITIONS: show_partitions(d); break;
    case QUERY_DDL_SHOW_COLUMNS: show_columns(d); break;
    case QUERY_DDL_SHOW_TBLPROPERTIES: show_tblproperties(d); break;
    case QUERY_DDL_SHOW_CREATE_TABLE: show_create_table(d); break;
    case QUERY_DDL_DESCRIBE: describe(d); break;
    case QUERY_DDL_EXPLAIN: explain(d); break;
    case QUERY_DDL_CREATE_VIEW: create_view(d); break;
    default:
        fail(d, TYPE_USER, "NOT_SUPPORTED: %s is not supported",
             query__ddl_substatement_type(d->st.kind));
        break;
    }
}

/* The Glue call a statement makes as its caller, on its database (and table when table is
 * set); NULL for none checked here (EXPLAIN's statement is checked when it is planned). */
static const char *glue_action(const struct ddl_run *d, int *table)
{
    *table = 1;
    switch (d->st.kind) {
    case QUERY_DDL_CREATE_DATABASE: *table = 0; return "glue:CreateDatabase";
    case QUERY_DDL_DROP_DATABASE: *table = 0; return "glue:DeleteDatabase";
    case QUERY_DDL_SHOW_DATABASES: *table = 0; return "glue:GetDatabases";
    case QUERY_DDL_CREATE_TABLE:
    case QUERY_DDL_CREATE_VIEW: return "glue:CreateTable";
    case QUERY_DDL_DROP_TABLE:
    case QUERY_DDL_DROP_VIEW: return "glue:DeleteTable";
    case QUERY_DDL_ADD_PARTITION:
    case QUERY_DDL_MSCK: return "glue:BatchCreatePartition";
    case QUERY_DDL_DROP_PARTITION: return "glue:BatchDeletePartition";
    case QUERY_DDL_SHOW_TABLES:
    case QUERY_DDL_SHOW_VIEWS: return "glue:GetTables";
    case QUERY_DDL_SHOW_PARTITIONS: return "glue:GetPartitions";
    case QUERY_DDL_SHOW_COLUMNS:
    case QUERY_DDL_SHOW_CREATE_TABLE:
    case QUERY_DDL_SHOW_TBLPROPERTIES:
    case QUERY_DDL_DESCRIBE: return "glue:GetTable";
    default: return NULL;
    }
}

/* Whether the caller may make the statement's Glue call; fails d when not. */
static int may_run(struct ddl_run *d)
{
    int table;
    const char *action = glue_action(d, &table);
    if (action == NULL) {
        return 0;
    }
    int whole = d->st.kind == QUERY_DDL_SHOW_DATABASES;
    const char *db = whole ? "*" : d->st.database != NULL ? d->st.database : d->default_db;
    const char *name = !table ? NULL : d->st.name != NULL ? d->st.name : "*";
    char denied[1024];
    if (query__may_glue(d->svc, d->who, action, db, name, denied, sizeof(denied)) < 0) {
        fail(d, 1000, "Insufficient permissions to execute the query. %s", denied);
        return -1;
    }
    return 0;
}

/* Whether the caller may write the result and its metadata at output_location; fails d
 * when not. Checked before the statement runs, so a denied write changes nothing. */
static int may_write_result(struct ddl_run *d, const char *output_location)
{
    char bucket[LAKE_BUCKET_NAME_MAX + 1];
    const char *key;
    if (query__split_s3(output_location, bucket, sizeof(bucket), &key) < 0) {
        return 0; /* write_result refuses it */
    }
    char denied[1024], arn[LAKE_BUCKET_NAME_MAX + 1100];
    for (int meta = 0; meta < 2; meta++) {
        snprintf(arn, sizeof(arn), "arn:aws:s3:::%s/%s%s", bucket, key, meta ? ".metadata" : "");
        if (query__may(d->svc, d->who, "s3:PutObject", arn, bucket, NULL, denied, sizeof(denied)) <
            0) {
            fail(d, 1302,
                 "Access denied when writing output to url: %s . Please ensure you are allowed "
                 "to access the S3 bucket. If you are encrypting query results with KMS key, "
                 "please ensure you are allowed to access your KMS key",
                 output_location);
            return -1;
        }
    }
    return 0;
}

/* Writes the result lines at the output location. */
static void write_result(struct ddl_run *d, const char *output_location)
{
    char bucket[LAKE_BUCKET_NAME_MAX + 1];
    const char *key;
    struct err_info e = {0};
    if (query__split_s3(output_location, bucket, sizeof(bucket), &key) < 0 || key[0] == '\0') {
        fail(d, TYPE_USER, "INVALID_INPUT: bad output location %s", output_location);
        return;
    }
    size_t n = strlen(output_location);
    int csv = n > 4 && strcmp(output_location + n - 4, ".csv") == 0; /* EXPLAIN's */
    struct lake_put_opts po = {.content_type = csv ? "text/csv" : "text/plain"};
    if (lake_object_put(d->svc->lake, bucket, key,
                        d->out.data != NULL ? (const char *)d->out.data : "", d->out.len, &po, NULL,
                        &e) < 0) {
        fail(d, TYPE_USER, "Unable to verify/create output bucket %s", bucket);
        return;
    }
    char *cols = json_dumps(d->columns, JSON_COMPACT);
    char *meta = xasprintf("%s.metadata", output_location);
    if (query__result_metadata_put(d->svc, meta, d->id, cols) < 0) {
        fail(d, TYPE_USER, "Unable to verify/create output bucket %s", bucket);
    }
    free(meta);
    free(cols);
}

void query__ddl_execute(struct query_worker *w, const char *id, const char *query,
                        const char *database, const char *output_location, int64_t t0_ns,
                        const struct query_caller *who)
{
    struct ddl_run d = {
        .svc = w->svc, .w = w, .id = id, .query = query, .default_db = database, .who = who};
    buf_init(&d.out);
    d.columns = json_array();
    char err[512];
    if (query__ddl_parse(query, &d.st, err, sizeof(err)) < 0) {
        fail(&d, TYPE_SYNTAX, "%s", err);
    } else if (may_run(&d) == 0 && may_write_result(&d, output_location) == 0) {
        dispatch(&d);
    }
    if (!d.failed && buf_status(&d.out) != 0) {
        d.failed = 1;
        d.category = ATHENA_SYSTEM;
        d.type = 401;
        snprintf(d.message, sizeof(d.message), "INTERNAL_ERROR: out of memory");
    }
    if (!d.failed) {
        write_result(&d, output_location);
    }
    int64_t ms = (clock_mono_ns() - t0_ns) / 1000000;
    if (d.failed) {
        query__exec_set_state(d.svc, id, QUERY_RUNNING, QUERY_FAILED, d.message, d.category, d.type,
                              0, ms, NULL);
    } else {
        char *cols = json_dumps(d.columns, JSON_COMPACT);
        query__exec_set_state(d.svc, id, QUERY_RUNNING, QUERY_SUCCEEDED, NULL, 0, 0, 0, ms, cols);
        free(cols);
    }
    json_decref(d.columns);
    buf_fini(&d.out);
    query__ddl_stmt_fini(&d.st);
}
