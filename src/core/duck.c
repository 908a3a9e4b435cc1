/*
 * The DuckDB adapter: every call Sluice makes into libduckdb is in this file.
 *
 * Lockdown. DuckDB can read any file the process can, install and load extensions from
 * the network, attach databases and change its own settings from SQL. duck_engine_open
 * closes each door before any caller's connection exists, in this order (DuckDB refuses
 * to widen allowed_directories once external access is off, and refuses every SET once
 * the configuration is locked):
 *
 *   at open (duckdb_config): threads, memory_limit, autoinstall_known_extensions=false,
 *     autoload_known_extensions=false, allow_community_extensions=false,
 *     allow_persistent_secrets=false, preserve_insertion_order (the caller's choice)
 *   then, on a private setup connection:
 *     SET temp_directory = <spill dir> | ''       -- never the default ./.tmp
 *     SET allowed_directories = [<dir>/, ...]     -- the only paths file access may touch
 *     SET enable_external_access = false          -- everything else refused; no LOAD
 *     SET lock_configuration = true               -- no statement can undo the above
 *
 * Results. duckdb_query materialises the whole result (DuckDB keeps it under its buffer
 * manager, so it counts against the memory limit and spills like any other data); we then
 * hand it out one data chunk at a time, wrapping each vector in a struct duck_vec that
 * knows its Sluice type and, for nested types, its child vectors.
 *
 * Writers. A writer is a temp table (private to its connection) with an appender. Each
 * append checks the caller's values first, then copies them into DuckDB data chunks of
 * duckdb_vector_size() rows and appends those whole; COPY ... TO writes the Parquet file.
 */
#include "core/duck.h"

#include "core/buf.h"
#include "core/duckdb_decl.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct duck_engine {
    duckdb_database db;          /* the in-memory database */
    bool no_insertion_order;     /* opened with preserve_insertion_order=false */
    atomic_ulong next_writer_id; /* names writers' temp tables */
};

struct duck_conn {
    struct duck_engine *engine;
    duckdb_connection con;
};

/* A vector of the current chunk, with its children for LIST, MAP and STRUCT. */
struct duck_vec {
    const struct duck_type *type; /* owned by the result */
    duckdb_vector vector;         /* DuckDB's vector; valid for the current chunk */
    void *data;                   /* duckdb_vector_get_data */
    const uint64_t *validity;     /* NULL: every row valid */
    struct duck_vec *children;    /* LIST 1, MAP 2 (keys, values), STRUCT n_fields */
    size_t n_children;
};

struct duck_result {
    duckdb_result res; /* destroyed with the result */
    size_t n_columns;
    struct duck_type **types; /* n_columns owned type trees */
    struct duck_vec *columns; /* n_columns vector trees, rebound at each fetch */
    duckdb_data_chunk chunk;  /* the current chunk, or NULL */
};

struct duck_writer {
    struct duck_conn *conn;
    char *table; /* unquoted temp table name */
    size_t n_columns;
    struct duck_field *columns;   /* owned copies: names and type trees */
    duckdb_logical_type *ltypes;  /* n_columns DuckDB types for the chunks */
    char *create_sql;             /* CREATE TEMP TABLE statement of the table */
    duckdb_appender appender;     /* on the table; NULL between a failed reopen and destroy */
    uint64_t n_rows;              /* rows appended since created or last written */
    int sticky;                   /* 0, or the failure that ended the writer */
    struct duck_error sticky_err; /* that failure, given again to every later call */
};

/* ---- Names ------------------------------------------------------------------------- */

static const char *const type_names[] = {
#define DUCK_TYPE_NAME(sym, name) name,
    DUCK_TYPE_MAP(DUCK_TYPE_NAME)
#undef DUCK_TYPE_NAME
};

const char *duck_type_name(enum duck_type_id id)
{
    if ((unsigned)id >= DUCK_T_COUNT_) {
        return "?";
    }
    return type_names[id];
}

static const char *const err_kind_names[] = {
#define DUCK_ERR_NAME(sym) #sym,
    DUCK_ERR_MAP(DUCK_ERR_NAME)
#undef DUCK_ERR_NAME
};

const char *duck_err_kind_name(enum duck_err_kind kind)
{
    if ((unsigned)kind >= DUCK_ERR_COUNT_) {
        return "?";
    }
    return err_kind_names[kind];
}

const char *duck_library_version(void)
{
    return duckdb_library_version();
}

/* ---- Errors and the fault seam ------------------------------------------------------ */

static enum duck_err_kind kind_of(duckdb_error_type type)
{
    switch (type) {
    case DUCKDB_ERROR_PARSER:
    case DUCKDB_ERROR_SYNTAX: return DUCK_ERR_SYNTAX;
    case DUCKDB_ERROR_BINDER:
    case DUCKDB_ERROR_PARAMETER_NOT_RESOLVED:
    case DUCKDB_ERROR_PARAMETER_NOT_ALLOWED:
    case DUCKDB_ERROR_MISMATCH_TYPE: return DUCK_ERR_BINDER;
    case DUCKDB_ERROR_CATALOG:
    case DUCKDB_ERROR_DEPENDENCY:
    case DUCKDB_ERROR_UNKNOWN_TYPE: return DUCK_ERR_CATALOG;
    case DUCKDB_ERROR_CONVERSION: return DUCK_ERR_CONVERSION;
    case DUCKDB_ERROR_OUT_OF_RANGE:
    case DUCKDB_ERROR_DECIMAL:
    case DUCKDB_ERROR_DIVIDE_BY_ZERO: return DUCK_ERR_OUT_OF_RANGE;
    case DUCKDB_ERROR_INVALID_INPUT:
    case DUCKDB_ERROR_INVALID_TYPE:
    case DUCKDB_ERROR_SETTINGS:
    case DUCKDB_INVALID_CONFIGURATION: return DUCK_ERR_INVALID_INPUT;
    case DUCKDB_ERROR_NOT_IMPLEMENTED: return DUCK_ERR_NOT_IMPLEMENTED;
    case DUCKDB_ERROR_CONSTRAINT: return DUCK_ERR_CONSTRAINT;
    case DUCKDB_ERROR_PERMISSION: return DUCK_ERR_PERMISSION;
    case DUCKDB_ERROR_OUT_OF_MEMORY: return DUCK_ERR_OUT_OF_MEMORY;
    case DUCKDB_ERROR_IO: return DUCK_ERR_IO;
    case DUCKDB_ERROR_INTERRUPT: return DUCK_ERR_INTERRUPT;
    case DUCKDB_ERROR_INTERNAL:
    case DUCKDB_ERROR_FATAL: return DUCK_ERR_INTERNAL;
    default: return DUCK_ERR_OTHER;
    }
}

/* The Sluice code for a class of DuckDB failure (the table at the top of duck.h). */
static int code_of(enum duck_err_kind kind)
{
    switch (kind) {
    case DUCK_ERR_SYNTAX:
    case DUCK_ERR_BINDER:
    case DUCK_ERR_CATALOG:
    case DUCK_ERR_CONVERSION:
    case DUCK_ERR_OUT_OF_RANGE:
    case DUCK_ERR_INVALID_INPUT:
    case DUCK_ERR_NOT_IMPLEMENTED:
    case DUCK_ERR_CONSTRAINT: return SL_E(VALIDATION);
    case DUCK_ERR_PERMISSION: return SL_E(ACCESS_DENIED);
    case DUCK_ERR_OUT_OF_MEMORY: return SL_E(NOMEM);
    case DUCK_ERR_IO: return SL_E(IO);
    case DUCK_ERR_INTERRUPT: return -ECANCELED;
    default: return SL_E(INTERNAL);
    }
}

/* Fills *err (which may be NULL) and returns code. */
static int fail(struct duck_error *err, int code, enum duck_err_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct duck_error *err, int code, enum duck_err_kind kind, const char *fmt, ...)
{
    if (err != NULL) {
        err->code = code;
        err->kind = kind;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
    }
    return code;
}

/* A failure DuckDB reported, with its class and message. */
static int fail_duck(struct duck_error *err, enum duck_err_kind kind, const char *message)
{
    return fail(err, code_of(kind), kind, "%s", message ? message : "DuckDB failed");
}

static void clear_err(struct duck_error *err)
{
    if (err != NULL) {
        err->code = 0;
        err->kind = DUCK_ERR_NONE;
        err->message[0] = '\0';
    }
}

static atomic_ulong fault_countdown[DUCK_OP_COUNT_];
static _Atomic int fault_kind[DUCK_OP_COUNT_];

void duck_fault_inject(enum duck_op op, unsigned long nth, enum duck_err_kind kind)
{
    atomic_store(&fault_kind[op], (int)kind);
    atomic_store(&fault_countdown[op], nth);
}

void duck_fault_clear(void)
{
    for (int op = 0; op < DUCK_OP_COUNT_; op++) {
        atomic_store(&fault_countdown[op], 0);
    }
}

/* 1 when this call of op is the one a test asked to fail; *kind is the class to report. */
static int fault_hit(enum duck_op op, enum duck_err_kind *kind)
{
    unsigned long n = atomic_load(&fault_countdown[op]);
    while (n > 0) {
        if (atomic_compare_exchange_weak(&fault_countdown[op], &n, n - 1)) {
            if (n == 1) {
                *kind = (enum duck_err_kind)atomic_load(&fault_kind[op]);
                return 1;
            }
            return 0;
        }
    }
    return 0;
}

/*
 * Runs sql on con. On success *res holds the result (the caller destroys it); on failure
 * the result is already destroyed and err says why.
 */
static int run(duckdb_connection con, const char *sql, duckdb_result *res, struct duck_error *err)
{
    enum duck_err_kind injected;
    if (fault_hit(DUCK_OP_QUERY, &injected)) {
        memset(res, 0, sizeof(*res));
        return fail(err, code_of(injected), injected, "injected fault: query");
    }
    if (duckdb_query(con, sql, res) == DuckDBError) {
        int rc = fail_duck(err, kind_of(duckdb_result_error_type(res)), duckdb_result_error(res));
        duckdb_destroy_result(res);
        return rc;
    }
    return 0;
}

static int run_discard(duckdb_connection con, const char *sql, struct duck_error *err)
{
    duckdb_result res;
    int rc = run(con, sql, &res, err);
    if (rc == 0) {
        duckdb_destroy_result(&res);
    }
    return rc;
}

/* ---- SQL text ------------------------------------------------------------------------ */

static char *quoted(const char *s, char quote)
{
    size_t n = 2;
    for (const char *p = s; *p; p++) {
        n += *p == quote ? 2 : 1;
    }
    char *out = xmalloc(n + 1);
    char *o = out;
    *o++ = quote;
    for (const char *p = s; *p; p++) {
        if (*p == quote) {
            *o++ = quote;
        }
        *o++ = *p;
    }
    *o++ = quote;
    *o = '\0';
    return out;
}

char *duck_sql_literal(const char *s)
{
    return quoted(s, '\'');
}

char *duck_sql_ident(const char *s)
{
    return quoted(s, '"');
}

/* ---- Engine and connections ---------------------------------------------------------- */

int duck_engine_open(const struct duck_engine_options *opts, struct duck_engine **out,
                     struct duck_error *err)
{
    *out = NULL;
    clear_err(err);
    if (opts->n_dirs == 0) {
        return fail(err, SL_E(VALIDATION), DUCK_ERR_NONE, "no directory given to the engine");
    }
    for (size_t i = 0; i < opts->n_dirs; i++) {
        if (opts->dirs[i] == NULL || opts->dirs[i][0] != '/') {
            return fail(err, SL_E(VALIDATION), DUCK_ERR_NONE,
                        "engine directory %zu is not an absolute path", i);
        }
    }
    if (opts->spill_dir != NULL && opts->spill_dir[0] != '/') {
        return fail(err, SL_E(VALIDATION), DUCK_ERR_NONE, "spill directory is not absolute");
    }

    int rc = 0;
    struct buf sql;
    buf_init(&sql);
    struct duck_engine *engine = xcalloc(1, sizeof(*engine));
    duckdb_config config = NULL;
    if (duckdb_create_config(&config) == DuckDBError) {
        rc = fail(err, SL_E(NOMEM), DUCK_ERR_OUT_OF_MEMORY, "DuckDB could not create a config");
        goto out_free;
    }
    char threads[24], memory[48];
    snprintf(threads, sizeof(threads), "%u", opts->n_threads ? opts->n_threads : 1);
    snprintf(memory, sizeof(memory), "%" PRIu64 " bytes",
             opts->memory_limit_bytes ? opts->memory_limit_bytes : (uint64_t)1 << 30);
    const char *settings[][2] = {
        {"threads", threads},
        {"memory_limit", memory},
        {"autoinstall_known_extensions", "false"},
        {"autoload_known_extensions", "false"},
        {"allow_community_extensions", "false"},
        {"allow_persistent_secrets", "false"},
        {"preserve_insertion_order", opts->no_insertion_order ? "false" : "true"},
    };
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
        if (duckdb_set_config(config, settings[i][0], settings[i][1]) == DuckDBError) {
            rc = fail(err, SL_E(INTERNAL), DUCK_ERR_INVALID_INPUT, "DuckDB refused setting %s=%s",
                      settings[i][0], settings[i][1]);
            goto out_config;
        }
    }

    enum duck_err_kind injected;
    char *open_error = NULL;
    if (fault_hit(DUCK_OP_OPEN, &injected)) {
        rc = fail(err, code_of(injected), injected, "injected fault: open");
        goto out_config;
    }
    if (duckdb_open_ext(NULL, &engine->db, config, &open_error) == DuckDBError) {
        rc = fail(err, SL_E(INTERNAL), DUCK_ERR_INTERNAL, "DuckDB did not open: %s",
                  open_error ? open_error : "no reason given");
        duckdb_free(open_error);
        engine->db = NULL;
        goto out_config;
    }

    duckdb_connection setup = NULL;
    if (duckdb_connect(engine->db, &setup) == DuckDBError) {
        rc = fail(err, SL_E(INTERNAL), DUCK_ERR_INTERNAL, "DuckDB refused a connection");
        goto out_close;
    }
    if (opts->spill_dir != NULL) {
        char *lit = duck_sql_literal(opts->spill_dir);
        buf_printf(&sql, "SET temp_directory = %s;\n", lit);
        free(lit);
    } else {
        buf_puts(&sql, "SET temp_directory = '';\n");
    }
    if (opts->integer_division) {
        buf_puts(&sql, "SET GLOBAL integer_division = true;\n");
    }
    buf_puts(&sql, "SET allowed_directories = [");
    for (size_t i = 0; i < opts->n_dirs; i++) {
        size_t len = strlen(opts->dirs[i]);
        char *dir = xasprintf("%s%s", opts->dirs[i], opts->dirs[i][len - 1] == '/' ? "" : "/");
        char *lit = duck_sql_literal(dir);
        buf_printf(&sql, "%s%s", i ? ", " : "", lit);
        free(lit);
        free(dir);
    }
    buf_puts(&sql, "];\nSET enable_external_access = false;\nSET lock_configuration = true;\n");
    if (sql.failed) {
        rc = fail(err, SL_E(NOMEM), DUCK_ERR_NONE, "out of memory building the lockdown");
        goto out_disconnect;
    }
    rc = run_discard(setup, (const char *)sql.data, err);
    if (rc != 0) {
        goto out_disconnect;
    }
    duckdb_disconnect(&setup);
    duckdb_destroy_config(&config);
    buf_fini(&sql);
    engine->no_insertion_order = opts->no_insertion_order;
    *out = engine;
    return 0;

out_disconnect:
    duckdb_disconnect(&setup);
out_close:
    duckdb_close(&engine->db);
out_config:
    duckdb_destroy_config(&config);
out_free:
    buf_fini(&sql);
    free(engine);
    return rc;
}

void duck_engine_close(struct duck_engine *engine)
{
    if (engine == NULL) {
        return;
    }
    if (engine->db != NULL) {
        duckdb_close(&engine->db);
    }
    free(engine);
}

int duck_conn_open(struct duck_engine *engine, struct duck_conn **out, struct duck_error *err)
{
    *out = NULL;
    clear_err(err);
    enum duck_err_kind injected;
    if (fault_hit(DUCK_OP_CONNECT, &injected)) {
        return fail(err, code_of(injected), injected, "injected fault: connect");
    }
    struct duck_conn *conn = xcalloc(1, sizeof(*conn));
    conn->engine = engine;
    if (duckdb_connect(engine->db, &conn->con) == DuckDBError) {
        free(conn);
        return fail(err, SL_E(INTERNAL), DUCK_ERR_INTERNAL, "DuckDB refused a connection");
    }
    *out = conn;
    return 0;
}

void duck_conn_close(struct duck_conn *conn)
{
    if (conn == NULL) {
        return;
    }
    if (conn->con != NULL) {
        duckdb_disconnect(&conn->con);
    }
    free(conn);
}

void duck_conn_interrupt(struct duck_conn *conn)
{
    duckdb_interrupt(conn->con);
}

/* ---- Types --------------------------------------------------------------------------- */

static void type_free(struct duck_type *t)
{
    if (t == NULL) {
        return;
    }
    type_free((struct duck_type *)t->element);
    type_free((struct duck_type *)t->key);
    type_free((struct duck_type *)t->value);
    for (size_t i = 0; i < t->n_fields; i++) {
        free((char *)t->fields[i].name);
        type_free((struct duck_type *)t->fields[i].type);
    }
    free((struct duck_field *)t->fields);
    free(t);
}

/* Our type for a DuckDB logical type (a fresh tree the caller frees with type_free). */
static struct duck_type *type_from_logical(duckdb_logical_type lt)
{
    struct duck_type *t = xcalloc(1, sizeof(*t));
    switch (duckdb_get_type_id(lt)) {
    case DUCKDB_TYPE_SQLNULL: t->id = DUCK_T_SQLNULL; break;
    case DUCKDB_TYPE_BOOLEAN: t->id = DUCK_T_BOOLEAN; break;
    case DUCKDB_TYPE_TINYINT: t->id = DUCK_T_TINYINT; break;
    case DUCKDB_TYPE_SMALLINT: t->id = DUCK_T_SMALLINT; break;
    case DUCKDB_TYPE_INTEGER: t->id = DUCK_T_INTEGER; break;
    case DUCKDB_TYPE_BIGINT: t->id = DUCK_T_BIGINT; break;
    case DUCKDB_TYPE_HUGEINT: t->id = DUCK_T_HUGEINT; break;
    case DUCKDB_TYPE_UTINYINT: t->id = DUCK_T_UTINYINT; break;
    case DUCKDB_TYPE_USMALLINT: t->id = DUCK_T_USMALLINT; break;
    case DUCKDB_TYPE_UINTEGER: t->id = DUCK_T_UINTEGER; break;
    case DUCKDB_TYPE_UBIGINT: t->id = DUCK_T_UBIGINT; break;
    case DUCKDB_TYPE_FLOAT: t->id = DUCK_T_FLOAT; break;
    case DUCKDB_TYPE_DOUBLE: t->id = DUCK_T_DOUBLE; break;
    case DUCKDB_TYPE_VARCHAR: t->id = DUCK_T_VARCHAR; break;
    case DUCKDB_TYPE_BLOB: t->id = DUCK_T_BLOB; break;
    case DUCKDB_TYPE_DATE: t->id = DUCK_T_DATE; break;
    case DUCKDB_TYPE_TIME: t->id = DUCK_T_TIME; break;
    case DUCKDB_TYPE_TIMESTAMP: t->id = DUCK_T_TIMESTAMP; break;
    case DUCKDB_TYPE_TIMESTAMP_S: t->id = DUCK_T_TIMESTAMP_S; break;
    case DUCKDB_TYPE_TIMESTAMP_MS: t->id = DUCK_T_TIMESTAMP_MS; break;
    case DUCKDB_TYPE_TIMESTAMP_NS: t->id = DUCK_T_TIMESTAMP_NS; break;
    case DUCKDB_TYPE_TIMESTAMP_TZ: t->id = DUCK_T_TIMESTAMP_TZ; break;
    case DUCKDB_TYPE_INTERVAL: t->id = DUCK_T_INTERVAL; break;
    case DUCKDB_TYPE_UUID: t->id = DUCK_T_UUID; break;
    case DUCKDB_TYPE_DECIMAL:
        t->id = DUCK_T_DECIMAL;
        t->width = duckdb_decimal_width(lt);
        t->scale = duckdb_decimal_scale(lt);
        break;
    case DUCKDB_TYPE_LIST: {
        t->id = DUCK_T_LIST;
        duckdb_logical_type child = duckdb_list_type_child_type(lt);
        t->element = type_from_logical(child);
        duckdb_destroy_logical_type(&child);
        break;
    }
    case DUCKDB_TYPE_MAP: {
        t->id = DUCK_T_MAP;
        duckdb_logical_type key = duckdb_map_type_key_type(lt);
        duckdb_logical_type value = duckdb_map_type_value_type(lt);
        t->key = type_from_logical(key);
        t->value = type_from_logical(value);
        duckdb_destroy_logical_type(&key);
        duckdb_destroy_logical_type(&value);
        break;
    }
    case DUCKDB_TYPE_STRUCT: {
        t->id = DUCK_T_STRUCT;
        t->n_fields = duckdb_struct_type_child_count(lt);
        struct duck_field *fields = xcalloc(t->n_fields, sizeof(*fields));
        for (size_t i = 0; i < t->n_fields; i++) {
            char *name = duckdb_struct_type_child_name(lt, i);
            fields[i].name = xstrdup(name ? name : "");
            duckdb_free(name);
            duckdb_logical_type child = duckdb_struct_type_child_type(lt, i);
            fields[i].type = type_from_logical(child);
            duckdb_destroy_logical_type(&child);
        }
        t->fields = fields;
        break;
    }
    default: t->id = DUCK_T_OTHER; break;
    }
    return t;
}

/* A deep copy of a caller's type, owned by the adapter. */
static struct duck_type *type_clone(const struct duck_type *src)
{
    if (src == NULL) {
        return NULL;
    }
    struct duck_type *t = xcalloc(1, sizeof(*t));
    t->id = src->id;
    t->width = src->width;
    t->scale = src->scale;
    t->element = type_clone(src->element);
    t->key = type_clone(src->key);
    t->value = type_clone(src->value);
    if (src->n_fields > 0) {
        struct duck_field *fields = xcalloc(src->n_fields, sizeof(*fields));
        for (size_t i = 0; i < src->n_fields; i++) {
            fields[i].name = xstrdup(src->fields[i].name);
            fields[i].type = type_clone(src->fields[i].type);
        }
        t->fields = fields;
        t->n_fields = src->n_fields;
    }
    return t;
}

/*
 * Checks that a caller's type can be written: a supported id, DECIMAL within 1..38 with
 * scale <= width, nested parts present, struct fields named and unique. path names the
 * column for the message.
 */
static int type_check(const struct duck_type *t, const char *path, struct duck_error *err)
{
    if (t == NULL) {
        return fail(err, SL_E(VALIDATION), DUCK_ERR_NONE, "column %s has no type", path);
    }
    switch (t->id) {
    case DUCK_T_SQLNULL:
    case DUCK_T_OTHER:
    case DUCK_T_INTERVAL:
    case DUCK_T_UUID:
        return fail(err, SL_E(VALIDATION), DUCK_ERR_NONE, "column %s: type %s cannot be written",
                    path, duck_type_name(t->id));
    case DUCK_T_DECIMAL:
        if (t->width < 1 || t->width > 38 || t->scale > t->width) {
            return fail(err, SL_E(VALIDATION), DUCK_ERR_NONE,
                        "column %s: DECIMAL(%u,%u) is invalid", path, t->width, t->scale);
        }
        return 0;
    case DUCK_T_LIST: return type_check(t->element, path, err);
    case DUCK_T_MAP: {
        int rc = type_check(t->key, path, err);
        return rc ? rc : type_check(t->value, path, err);
    }
    case DUCK_T_STRUCT:
        if (t->n_fields == 0 || t->fields == NULL) {
            return fail(err, SL_E(VALIDATION), DUCK_ERR_NONE, "column %s: STRUCT without fields",
                        path);
        }
        for (size_t i = 0; i < t->n_fields; i++) {
            if (t->fields[i].name == NULL || t->fields[i].name[0] == '\0') {
                return fail(err, SL_E(VALIDATION), DUCK_ERR_NONE, "column %s: unnamed field", path);
            }
            for (size_t j = 0; j < i; j++) {
                if (strcmp(t->fields[i].name, t->fields[j].name) == 0) {
                    return fail(err, SL_E(VALIDATION), DUCK_ERR_NONE,
                                "column %s: field %s appears twice", path, t->fields[i].name);
                }
            }
            int rc = type_check(t->fields[i].type, path, err);
            if (rc != 0) {
                return rc;
            }
        }
        return 0;
    default:
        return (unsigned)t->id < DUCK_T_COUNT_
                   ? 0
                   : fail(err, SL_E(VALIDATION), DUCK_ERR_NONE, "column %s: unknown type", path);
    }
}

/* DuckDB's SQL for a (checked) type, appended to b. */
static void type_sql(struct buf *b, const struct duck_type *t)
{
    switch (t->id) {
    case DUCK_T_DECIMAL: buf_printf(b, "DECIMAL(%u,%u)", t->width, t->scale); break;
    case DUCK_T_LIST:
        type_sql(b, t->element);
        buf_puts(b, "[]");
        break;
    case DUCK_T_MAP:
        buf_puts(b, "MAP(");
        type_sql(b, t->key);
        buf_puts(b, ", ");
        type_sql(b, t->value);
        buf_puts(b, ")");
        break;
    case DUCK_T_STRUCT:
        buf_puts(b, "STRUCT(");
        for (size_t i = 0; i < t->n_fields; i++) {
            char *name = duck_sql_ident(t->fields[i].name);
            buf_printf(b, "%s%s ", i ? ", " : "", name);
            free(name);
            type_sql(b, t->fields[i].type);
        }
        buf_puts(b, ")");
        break;
    default: buf_puts(b, duck_type_name(t->id)); break;
    }
}

static duckdb_type duckdb_id_of(enum duck_type_id id)
{
    switch (id) {
    case DUCK_T_BOOLEAN: return DUCKDB_TYPE_BOOLEAN;
    case DUCK_T_TINYINT: return DUCKDB_TYPE_TINYINT;
    case DUCK_T_SMALLINT: return DUCKDB_TYPE_SMALLINT;
    case DUCK_T_INTEGER: return DUCKDB_TYPE_INTEGER;
    case DUCK_T_BIGINT: return DUCKDB_TYPE_BIGINT;
    case DUCK_T_HUGEINT: return DUCKDB_TYPE_HUGEINT;
    case DUCK_T_UTINYINT: return DUCKDB_TYPE_UTINYINT;
    case DUCK_T_USMALLINT: return DUCKDB_TYPE_USMALLINT;
    case DUCK_T_UINTEGER: return DUCKDB_TYPE_UINTEGER;
    case DUCK_T_UBIGINT: return DUCKDB_TYPE_UBIGINT;
    case DUCK_T_FLOAT: return DUCKDB_TYPE_FLOAT;
    case DUCK_T_DOUBLE: return DUCKDB_TYPE_DOUBLE;
    case DUCK_T_VARCHAR: return DUCKDB_TYPE_VARCHAR;
    case DUCK_T_BLOB: return DUCKDB_TYPE_BLOB;
    case DUCK_T_DATE: return DUCKDB_TYPE_DATE;
    case DUCK_T_TIME: return DUCKDB_TYPE_TIME;
    case DUCK_T_TIMESTAMP: return DUCKDB_TYPE_TIMESTAMP;
    case DUCK_T_TIMESTAMP_S: return DUCKDB_TYPE_TIMESTAMP_S;
    case DUCK_T_TIMESTAMP_MS: return DUCKDB_TYPE_TIMESTAMP_MS;
    case DUCK_T_TIMESTAMP_NS: return DUCKDB_TYPE_TIMESTAMP_NS;
    case DUCK_T_TIMESTAMP_TZ: return DUCKDB_TYPE_TIMESTAMP_TZ;
    default: return DUCKDB_TYPE_INVALID;
    }
}

/* DuckDB's logical type for a (checked) type; the caller destroys it. */
static duckdb_logical_type logical_of(const struct duck_type *t)
{
    switch (t->id) {
    case DUCK_T_DECIMAL: return duckdb_create_decimal_type(t->width, t->scale);
    case DUCK_T_LIST: {
        duckdb_logical_type child = logical_of(t->element);
        duckdb_logical_type lt = duckdb_create_list_type(child);
        duckdb_destroy_logical_type(&child);
        return lt;
    }
    case DUCK_T_MAP: {
        duckdb_logical_type key = logical_of(t->key);
        duckdb_logical_type value = logical_of(t->value);
        duckdb_logical_type lt = duckdb_create_map_type(key, value);
        duckdb_destroy_logical_type(&key);
        duckdb_destroy_logical_type(&value);
        return lt;
    }
    case DUCK_T_STRUCT: {
        duckdb_logical_type *members = xcalloc(t->n_fields, sizeof(*members));
        const char **names = xcalloc(t->n_fields, sizeof(*names));
        for (size_t i = 0; i < t->n_fields; i++) {
            members[i] = logical_of(t->fields[i].type);
            names[i] = t->fields[i].name;
        }
        duckdb_logical_type lt = duckdb_create_struct_type(members, names, t->n_fields);
        for (size_t i = 0; i < t->n_fields; i++) {
            duckdb_destroy_logical_type(&members[i]);
        }
        free(members);
        free(names);
        return lt;
    }
    default: return duckdb_create_logical_type(duckdb_id_of(t->id));
    }
}

/* Bytes per value of a fixed-width type in a vector; 0 for the others. */
static size_t fixed_width(enum duck_type_id id)
{
    switch (id) {
    case DUCK_T_BOOLEAN:
    case DUCK_T_TINYINT:
    case DUCK_T_UTINYINT: return 1;
    case DUCK_T_SMALLINT:
    case DUCK_T_USMALLINT: return 2;
    case DUCK_T_INTEGER:
    case DUCK_T_UINTEGER:
    case DUCK_T_FLOAT:
    case DUCK_T_DATE: return 4;
    case DUCK_T_BIGINT:
    case DUCK_T_UBIGINT:
    case DUCK_T_DOUBLE:
    case DUCK_T_TIME:
    case DUCK_T_TIMESTAMP:
    case DUCK_T_TIMESTAMP_S:
    case DUCK_T_TIMESTAMP_MS:
    case DUCK_T_TIMESTAMP_NS:
    case DUCK_T_TIMESTAMP_TZ: return 8;
    case DUCK_T_HUGEINT:
    case DUCK_T_UUID:
    case DUCK_T_INTERVAL: return 16;
    default: return 0;
    }
}

/* ---- Results ------------------------------------------------------------------------- */

/* Allocates the vector tree for type t (its vectors bound at each fetch). */
static void vec_tree_init(struct duck_vec *v, const struct duck_type *t)
{
    v->type = t;
    switch (t->id) {
    case DUCK_T_LIST:
        v->n_children = 1;
        v->children = xcalloc(1, sizeof(*v->children));
        vec_tree_init(&v->children[0], t->element);
        break;
    case DUCK_T_MAP:
        v->n_children = 2;
        v->children = xcalloc(2, sizeof(*v->children));
        vec_tree_init(&v->children[0], t->key);
        vec_tree_init(&v->children[1], t->value);
        break;
    case DUCK_T_STRUCT:
        v->n_children = t->n_fields;
        v->children = xcalloc(t->n_fields ? t->n_fields : 1, sizeof(*v->children));
        for (size_t i = 0; i < t->n_fields; i++) {
            vec_tree_init(&v->children[i], t->fields[i].type);
        }
        break;
    default: break;
    }
}

static void vec_tree_fini(struct duck_vec *v)
{
    for (size_t i = 0; i < v->n_children; i++) {
        vec_tree_fini(&v->children[i]);
    }
    free(v->children);
}

static void vec_bind(struct duck_vec *v, duckdb_vector vector)
{
    v->vector = vector;
    v->data = duckdb_vector_get_data(vector);
    v->validity = duckdb_vector_get_validity(vector);
    switch (v->type->id) {
    case DUCK_T_LIST: vec_bind(&v->children[0], duckdb_list_vector_get_child(vector)); break;
    case DUCK_T_MAP: {
        duckdb_vector entries = duckdb_list_vector_get_child(vector);
        vec_bind(&v->children[0], duckdb_struct_vector_get_child(entries, 0));
        vec_bind(&v->children[1], duckdb_struct_vector_get_child(entries, 1));
        break;
    }
    case DUCK_T_STRUCT:
        for (size_t i = 0; i < v->n_children; i++) {
            vec_bind(&v->children[i], duckdb_struct_vector_get_child(vector, i));
        }
        break;
    default: break;
    }
}

int duck_query(struct duck_conn *conn, const char *sql, struct duck_result **out,
               struct duck_error *err)
{
    *out = NULL;
    clear_err(err);
    struct duck_result *r = try_malloc(sizeof(*r));
    if (r == NULL) {
        return fail(err, SL_E(NOMEM), DUCK_ERR_NONE, "out of memory for a result");
    }
    memset(r, 0, sizeof(*r));
    int rc = run(conn->con, sql, &r->res, err);
    if (rc != 0) {
        free(r);
        return rc;
    }
    /* The column count comes from the client's SQL: allocate it with the failing kind. */
    r->n_columns = duckdb_column_count(&r->res);
    size_t n = r->n_columns ? r->n_columns : 1;
    r->types = try_malloc(n * sizeof(*r->types));
    r->columns = try_malloc(n * sizeof(*r->columns));
    if (r->types == NULL || r->columns == NULL) {
        free(r->types);
        free(r->columns);
        duckdb_destroy_result(&r->res);
        free(r);
        return fail(err, SL_E(NOMEM), DUCK_ERR_NONE, "out of memory for a result's columns");
    }
    memset(r->columns, 0, n * sizeof(*r->columns));
    for (size_t i = 0; i < r->n_columns; i++) {
        duckdb_logical_type lt = duckdb_column_logical_type(&r->res, i);
        r->types[i] = type_from_logical(lt);
        duckdb_destroy_logical_type(&lt);
        vec_tree_init(&r->columns[i], r->types[i]);
    }
    *out = r;
    return 0;
}

int duck_exec(struct duck_conn *conn, const char *sql, struct duck_error *err)
{
    clear_err(err);
    return run_discard(conn->con, sql, err);
}

void duck_result_destroy(struct duck_result *res)
{
    if (res == NULL) {
        return;
    }
    if (res->chunk != NULL) {
        duckdb_destroy_data_chunk(&res->chunk);
    }
    for (size_t i = 0; i < res->n_columns; i++) {
        vec_tree_fini(&res->columns[i]);
        type_free(res->types[i]);
    }
    free(res->columns);
    free(res->types);
    duckdb_destroy_result(&res->res);
    free(res);
}

size_t duck_result_column_count(const struct duck_result *res)
{
    return res->n_columns;
}

const char *duck_result_column_name(const struct duck_result *res, size_t col_idx)
{
    SL_ASSERT(col_idx < res->n_columns);
    const char *name = duckdb_column_name((duckdb_result *)&res->res, col_idx);
    return name ? name : "";
}

const struct duck_type *duck_result_column_type(const struct duck_result *res, size_t col_idx)
{
    SL_ASSERT(col_idx < res->n_columns);
    return res->types[col_idx];
}

uint64_t duck_result_rows_changed(const struct duck_result *res)
{
    return duckdb_rows_changed((duckdb_result *)&res->res);
}

int duck_result_fetch(struct duck_result *res, size_t *n_rows, struct duck_error *err)
{
    *n_rows = 0;
    clear_err(err);
    if (res->chunk != NULL) {
        duckdb_destroy_data_chunk(&res->chunk);
    }
    for (;;) {
        res->chunk = duckdb_fetch_chunk(res->res);
        if (res->chunk == NULL) {
            /* The end, or a failure while producing the chunk. */
            const char *message = duckdb_result_error(&res->res);
            if (message != NULL) {
                return fail_duck(err, kind_of(duckdb_result_error_type(&res->res)), message);
            }
            return 0;
        }
        size_t size = duckdb_data_chunk_get_size(res->chunk);
        if (size > 0) {
            for (size_t i = 0; i < res->n_columns; i++) {
                vec_bind(&res->columns[i], duckdb_data_chunk_get_vector(res->chunk, i));
            }
            *n_rows = size;
            return 0;
        }
        duckdb_destroy_data_chunk(&res->chunk);
    }
}

const struct duck_vec *duck_result_column(const struct duck_result *res, size_t col_idx)
{
    SL_ASSERT(col_idx < res->n_columns && res->chunk != NULL);
    return &res->columns[col_idx];
}

const struct duck_type *duck_vec_type(const struct duck_vec *vec)
{
    return vec->type;
}

bool duck_vec_is_null(const struct duck_vec *vec, size_t row)
{
    if (vec->type->id == DUCK_T_SQLNULL) {
        return true;
    }
    if (vec->validity == NULL) {
        return false;
    }
    return (vec->validity[row / 64] >> (row % 64) & 1) == 0;
}

const void *duck_vec_data(const struct duck_vec *vec)
{
    return fixed_width(vec->type->id) ? vec->data : NULL;
}

struct duck_str duck_vec_str(const struct duck_vec *vec, size_t row)
{
    SL_ASSERT(vec->type->id == DUCK_T_VARCHAR || vec->type->id == DUCK_T_BLOB);
    const duckdb_string_t *s = (const duckdb_string_t *)vec->data + row;
    uint32_t len = s->value.inlined.length;
    struct duck_str out = {len <= 12 ? s->value.inlined.inlined : s->value.pointer.ptr, len};
    return out;
}

struct duck_int128 duck_vec_decimal(const struct duck_vec *vec, size_t row)
{
    SL_ASSERT(vec->type->id == DUCK_T_DECIMAL);
    int64_t v;
    if (vec->type->width <= 4) {
        v = ((const int16_t *)vec->data)[row];
    } else if (vec->type->width <= 9) {
        v = ((const int32_t *)vec->data)[row];
    } else if (vec->type->width <= 18) {
        v = ((const int64_t *)vec->data)[row];
    } else {
        const duckdb_hugeint *h = (const duckdb_hugeint *)vec->data + row;
        struct duck_int128 out = {h->lower, h->upper};
        return out;
    }
    struct duck_int128 out = {(uint64_t)v, v < 0 ? -1 : 0};
    return out;
}

void duck_vec_list(const struct duck_vec *vec, size_t row, uint64_t *offset, uint64_t *len)
{
    SL_ASSERT(vec->type->id == DUCK_T_LIST || vec->type->id == DUCK_T_MAP);
    const duckdb_list_entry *e = (const duckdb_list_entry *)vec->data + row;
    *offset = e->offset;
    *len = e->length;
}

const struct duck_vec *duck_vec_child(const struct duck_vec *vec, size_t child_idx)
{
    SL_ASSERT(child_idx < vec->n_children);
    return &vec->children[child_idx];
}

/* ---- Writers ------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (at most len bytes), or 0 when it is not. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        return 1;
    }
    size_t n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len < n) {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0; /* overlong, out of range or a surrogate */
    }
    return n;
}

static bool utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    while (len > 0) {
        if (*p < 0x80) {
            p++;
            len--;
            continue;
        }
        size_t n = utf8_seq(p, len);
        if (n == 0) {
            return false;
        }
        p += n;
        len -= n;
    }
    return true;
}

typedef __int128 i128;

static i128 pow10_i128(unsigned n)
{
    i128 v = 1;
    while (n-- > 0) {
        v *= 10;
    }
    return v;
}

static i128 decimal_value(const struct duck_type *t, const void *values, size_t row)
{
    if (t->width <= 18) {
        return ((const int64_t *)values)[row];
    }
    const struct duck_int128 *v = (const struct duck_int128 *)values + row;
    return (i128)(((unsigned __int128)(uint64_t)v->hi << 64) | v->lo);
}

/*
 * Checks rows [start, start + n) of a caller's column against its type before anything
 * is appended. name is the top-level column (for messages); row numbers in messages are
 * indexes into this column's arrays.
 */
static int colbuf_check(const struct duck_type *t, const struct duck_colbuf *cb, size_t start,
                        size_t n, const char *name, struct duck_error *err)
{
    if (n == 0) {
        return 0;
    }
    switch (t->id) {
    case DUCK_T_LIST:
    case DUCK_T_MAP: {
        if (cb->offsets == NULL || cb->children == NULL) {
            return fail(err, SL_E(VALIDATION), DUCK_ERR_NONE,
                        "column %s: offsets or child columns missing", name);
        }
        for (size_t i = start; i < start + n; i++) {
            if (cb->offsets[i + 1] < cb->offsets[i]) {
                return fail(err, SL_E(VALIDATION), DUCK_ERR_NONE,
                            "column %s: offsets decrease at row %zu", name, i);
            }
        }
        size_t base = cb->offsets[start], total = cb->offsets[start + n] - base;
        if (t->id == DUCK_T_LIST) {
            return colbuf_check(t->element, &cb->children[0], base, total, name, err);
        }
        if (total > 0 && cb->children[0].is_null != NULL) {
            for (size_t i = base; i < base + total; i++) {
                if (cb->children[0].is_null[i]) {
                    return fail(err, SL_E(VALIDATION), DUCK_ERR_NONE,
                                "column %s: map key %zu is null", name, i);
                }
            }
        }
        int rc = colbuf_check(t->key, &cb->children[0], base, total, name, err);
        return rc ? rc : colbuf_check(t->value, &cb->children[1], base, total, name, err);
    }
    case DUCK_T_STRUCT:
        if (cb->children == NULL) {
            return fail(err, SL_E(VALIDATION), DUCK_ERR_NONE, "column %s: fields missing", name);
        }
        for (size_t f = 0; f < t->n_fields; f++) {
            int rc = colbuf_check(t->fields[f].type, &cb->children[f], start, n, name, err);
            if (rc != 0) {
                return rc;
            }
        }
        return 0;
    default: break;
    }
    if (cb->values == NULL) {
        return fail(err, SL_E(VALIDATION), DUCK_ERR_NONE, "column %s: values missing", name);
    }
    if (t->id == DUCK_T_VARCHAR) {
        const struct duck_str *s = cb->values;
        for (size_t i = start; i < start + n; i++) {
            if (cb->is_null && cb->is_null[i]) {
                continue;
            }
            if (s[i].len > UINT32_MAX || (s[i].len > 0 && s[i].ptr == NULL) ||
                !utf8_valid(s[i].ptr, s[i].len)) {
                return fail(err, SL_E(VALIDATION), DUCK_ERR_NONE,
                            "column %s: row %zu is not valid UTF-8", name, i);
            }
        }
    } else if (t->id == DUCK_T_BLOB) {
        const struct duck_str *s = cb->values;
        for (size_t i = start; i < start + n; i++) {
            if (!(cb->is_null && cb->is_null[i]) &&
                (s[i].len > UINT32_MAX || (s[i].len > 0 && s[i].ptr == NULL))) {
                return fail(err, SL_E(VALIDATION), DUCK_ERR_NONE, "column %s: row %zu has no bytes",
                            name, i);
            }
        }
    } else if (t->id == DUCK_T_DECIMAL) {
        i128 limit = pow10_i128(t->width);
        for (size_t i = start; i < start + n; i++) {
            if (cb->is_null && cb->is_null[i]) {
                continue;
            }
            i128 v = decimal_value(t, cb->values, i);
            if (v >= limit || v <= -limit) {
                return fail(err, SL_E(VALIDATION), DUCK_ERR_NONE,
                            "column %s: row %zu does not fit DECIMAL(%u,%u)", name, i, t->width,
                            t->scale);
            }
        }
    }
    return 0;
}

static void set_invalid(duckdb_vector v, size_t row)
{
    duckdb_vector_ensure_validity_writable(v);
    duckdb_validity_set_row_invalid(duckdb_vector_get_validity(v), row);
}

/*
 * Copies rows [start, start + n) of a checked caller column into positions [0, n) of
 * DuckDB vector v. Returns 0, or SL_E(NOMEM) when a list's child cannot grow.
 */
static int colbuf_fill(duckdb_vector v, const struct duck_type *t, const struct duck_colbuf *cb,
                       size_t start, size_t n)
{
    if (cb->is_null != NULL) {
        for (size_t i = 0; i < n; i++) {
            if (cb->is_null[start + i]) {
                set_invalid(v, i);
            }
        }
    }
    size_t width = fixed_width(t->id);
    if (width > 0) {
        if (n > 0) {
            memcpy(duckdb_vector_get_data(v), (const char *)cb->values + start * width, n * width);
        }
        return 0;
    }
    switch (t->id) {
    case DUCK_T_DECIMAL: {
        void *data = duckdb_vector_get_data(v);
        for (size_t i = 0; i < n; i++) {
            i128 x = decimal_value(t, cb->values, start + i);
            if (t->width <= 4) {
                ((int16_t *)data)[i] = (int16_t)x;
            } else if (t->width <= 9) {
                ((int32_t *)data)[i] = (int32_t)x;
            } else if (t->width <= 18) {
                ((int64_t *)data)[i] = (int64_t)x;
            } else {
                duckdb_hugeint *h = (duckdb_hugeint *)data + i;
                h->lower = (uint64_t)x;
                h->upper = (int64_t)(x >> 64);
            }
        }
        return 0;
    }
    case DUCK_T_VARCHAR:
    case DUCK_T_BLOB: {
        const struct duck_str *s = (const struct duck_str *)cb->values + start;
        for (size_t i = 0; i < n; i++) {
            if (cb->is_null == NULL || !cb->is_null[start + i]) {
                duckdb_vector_assign_string_element_len(v, i, s[i].len ? s[i].ptr : "", s[i].len);
            }
        }
        return 0;
    }
    case DUCK_T_LIST:
    case DUCK_T_MAP: {
        size_t base = cb->offsets[start], total = cb->offsets[start + n] - base;
        if (duckdb_list_vector_reserve(v, total) == DuckDBError) {
            return SL_E(NOMEM);
        }
        duckdb_list_entry *entries = duckdb_vector_get_data(v);
        for (size_t i = 0; i < n; i++) {
            entries[i].offset = cb->offsets[start + i] - base;
            entries[i].length = cb->offsets[start + i + 1] - cb->offsets[start + i];
        }
        duckdb_vector child = duckdb_list_vector_get_child(v);
        int rc;
        if (t->id == DUCK_T_LIST) {
            rc = colbuf_fill(child, t->element, &cb->children[0], base, total);
        } else {
            rc = colbuf_fill(duckdb_struct_vector_get_child(child, 0), t->key, &cb->children[0],
                             base, total);
            if (rc == 0) {
                rc = colbuf_fill(duckdb_struct_vector_get_child(child, 1), t->value,
                                 &cb->children[1], base, total);
            }
        }
        if (rc == 0 && duckdb_list_vector_set_size(v, total) == DuckDBError) {
            rc = SL_E(NOMEM);
        }
        return rc;
    }
    case DUCK_T_STRUCT:
        for (size_t f = 0; f < t->n_fields; f++) {
            duckdb_vector child = duckdb_struct_vector_get_child(v, f);
            int rc = colbuf_fill(child, t->fields[f].type, &cb->children[f], start, n);
            if (rc != 0) {
                return rc;
            }
            /* A null struct's fields are null too, whatever the caller left there. */
            for (size_t i = 0; cb->is_null != NULL && i < n; i++) {
                if (cb->is_null[start + i]) {
                    set_invalid(child, i);
                }
            }
        }
        return 0;
    default: return SL_E(INTERNAL); /* excluded by type_check */
    }
}

/* The appender's last failure, with its class, in err. */
static int fail_appender(struct duck_writer *w, struct duck_error *err)
{
    duckdb_error_data data = duckdb_appender_error_data(w->appender);
    int rc = fail_duck(err, data ? kind_of(duckdb_error_data_error_type(data)) : DUCK_ERR_OTHER,
                       data ? duckdb_error_data_message(data) : NULL);
    duckdb_destroy_error_data(&data);
    return rc;
}

static char *table_ref(const struct duck_writer *w)
{
    char *ident = duck_sql_ident(w->table);
    char *ref = xasprintf("temp.main.%s", ident);
    free(ident);
    return ref;
}

/* Creates the writer's table and its appender. */
static int table_open(struct duck_writer *w, struct duck_error *err)
{
    int rc = run_discard(w->conn->con, w->create_sql, err);
    if (rc != 0) {
        return rc;
    }
    if (duckdb_appender_create_ext(w->conn->con, "temp", "main", w->table, &w->appender) ==
        DuckDBError) {
        return fail_appender(w, err);
    }
    return 0;
}

/*
 * Destroys the appender and drops the table. Dropping, not deleting its rows, is what
 * gives the memory back: DuckDB keeps a table's deleted rows until a checkpoint, which an
 * in-memory database never runs.
 */
static void table_close(struct duck_writer *w)
{
    if (w->appender != NULL) {
        duckdb_appender_destroy(&w->appender);
        w->appender = NULL;
    }
    char *ref = table_ref(w);
    char *sql = xasprintf("DROP TABLE IF EXISTS %s", ref);
    duckdb_result res;
    if (duckdb_query(w->conn->con, sql, &res) == DuckDBError) {
        log_msg(LOG_WARN, "duck", "dropping %s: %s", w->table, duckdb_result_error(&res));
    }
    duckdb_destroy_result(&res);
    free(sql);
    free(ref);
}

int duck_writer_create(struct duck_conn *conn, const struct duck_field *columns, size_t n_columns,
                       struct duck_writer **out, struct duck_error *err)
{
    *out = NULL;
    clear_err(err);
    if (n_columns == 0) {
        return fail(err, SL_E(VALIDATION), DUCK_ERR_NONE, "a writer needs at least one column");
    }
    for (size_t i = 0; i < n_columns; i++) {
        if (columns[i].name == NULL || columns[i].name[0] == '\0') {
            return fail(err, SL_E(VALIDATION), DUCK_ERR_NONE, "column %zu has no name", i);
        }
        for (size_t j = 0; j < i; j++) {
            if (strcasecmp(columns[i].name, columns[j].name) == 0) {
                return fail(err, SL_E(VALIDATION), DUCK_ERR_NONE, "column %s appears twice",
                            columns[i].name);
            }
        }
        int rc = type_check(columns[i].type, columns[i].name, err);
        if (rc != 0) {
            return rc;
        }
    }

    struct duck_writer *w = xcalloc(1, sizeof(*w));
    w->conn = conn;
    w->table = xasprintf("sluice_writer_%lu", atomic_fetch_add(&conn->engine->next_writer_id, 1));
    w->n_columns = n_columns;
    w->columns = xcalloc(n_columns, sizeof(*w->columns));
    w->ltypes = xcalloc(n_columns, sizeof(*w->ltypes));
    for (size_t i = 0; i < n_columns; i++) {
        w->columns[i].name = xstrdup(columns[i].name);
        w->columns[i].type = type_clone(columns[i].type);
        w->ltypes[i] = logical_of(w->columns[i].type);
    }

    struct buf sql;
    buf_init(&sql);
    char *ref = table_ref(w);
    buf_printf(&sql, "CREATE TEMP TABLE %s (", ref);
    free(ref);
    for (size_t i = 0; i < n_columns; i++) {
        char *name = duck_sql_ident(columns[i].name);
        buf_printf(&sql, "%s%s ", i ? ", " : "", name);
        free(name);
        type_sql(&sql, columns[i].type);
    }
    buf_puts(&sql, ")");
    int rc = 0;
    if (sql.failed) {
        buf_fini(&sql);
        rc = fail(err, SL_E(NOMEM), DUCK_ERR_NONE, "out of memory");
        goto out_destroy;
    }
    w->create_sql = (char *)buf_steal(&sql, NULL);
    rc = table_open(w, err);
    if (rc != 0) {
        goto out_destroy;
    }
    *out = w;
    return 0;

out_destroy:
    duck_writer_destroy(w);
    return rc;
}

/* Makes the writer refuse everything from now on, with the failure in err. */
static int writer_break(struct duck_writer *w, struct duck_error *err)
{
    w->sticky = err->code;
    w->sticky_err = *err;
    return err->code;
}

/* The failure that ended the writer, again. */
static int writer_refuse(const struct duck_writer *w, struct duck_error *err)
{
    *err = w->sticky_err;
    return w->sticky;
}

int duck_writer_append(struct duck_writer *w, const struct duck_colbuf *columns, size_t n_rows,
                       struct duck_error *err)
{
    struct duck_error local;
    if (err == NULL) {
        err = &local;
    }
    clear_err(err);
    if (w->sticky != 0) {
        return writer_refuse(w, err);
    }
    for (size_t c = 0; c < w->n_columns; c++) {
        int rc = colbuf_check(w->columns[c].type, &columns[c], 0, n_rows, w->columns[c].name, err);
        if (rc != 0) {
            return rc;
        }
    }
    size_t step = duckdb_vector_size();
    for (size_t start = 0; start < n_rows; start += step) {
        size_t n = n_rows - start < step ? n_rows - start : step;
        duckdb_data_chunk chunk = duckdb_create_data_chunk(w->ltypes, w->n_columns);
        if (chunk == NULL) {
            fail(err, SL_E(NOMEM), DUCK_ERR_OUT_OF_MEMORY, "DuckDB could not allocate a chunk");
            return writer_break(w, err);
        }
        int rc = 0;
        for (size_t c = 0; c < w->n_columns && rc == 0; c++) {
            rc = colbuf_fill(duckdb_data_chunk_get_vector(chunk, c), w->columns[c].type,
                             &columns[c], start, n);
        }
        duckdb_data_chunk_set_size(chunk, n);
        enum duck_err_kind injected;
        if (rc != 0) {
            fail(err, rc, DUCK_ERR_OUT_OF_MEMORY, "column chunk could not grow");
        } else if (fault_hit(DUCK_OP_APPEND, &injected)) {
            rc = fail(err, code_of(injected), injected, "injected fault: append");
        } else if (duckdb_append_data_chunk(w->appender, chunk) == DuckDBError) {
            rc = fail_appender(w, err);
        }
        duckdb_destroy_data_chunk(&chunk);
        if (rc != 0) {
            return writer_break(w, err);
        }
        w->n_rows += n;
    }
    return 0;
}

uint64_t duck_writer_row_count(const struct duck_writer *w)
{
    return w->n_rows;
}

static const char *codec_name(enum duck_parquet_codec codec)
{
    switch (codec) {
    case DUCK_PARQUET_SNAPPY: return "snappy";
    case DUCK_PARQUET_GZIP: return "gzip";
    case DUCK_PARQUET_UNCOMPRESSED: return "uncompressed";
    case DUCK_PARQUET_ZSTD: return "zstd";
    default: return NULL;
    }
}

int duck_writer_write_parquet(struct duck_writer *w, const char *path,
                              const struct duck_parquet_options *opts, uint64_t *n_rows,
                              struct duck_error *err)
{
    struct duck_error local;
    if (err == NULL) {
        err = &local;
    }
    clear_err(err);
    if (n_rows != NULL) {
        *n_rows = 0;
    }
    if (w->sticky != 0) {
        return writer_refuse(w, err);
    }
    const char *codec = codec_name(opts->codec);
    if (path == NULL || path[0] != '/' || codec == NULL ||
        (opts->format_version != 0 && opts->format_version != 1 && opts->format_version != 2)) {
        return fail(err, SL_E(VALIDATION), DUCK_ERR_NONE, "bad Parquet path or options");
    }
    if (opts->row_group_bytes > 0 && !w->conn->engine->no_insertion_order) {
        /* DuckDB refuses ROW_GROUP_SIZE_BYTES while it preserves insertion order. */
        return fail(err, SL_E(VALIDATION), DUCK_ERR_NONE,
                    "row groups bounded by bytes need an engine without insertion order");
    }
    if (duckdb_appender_flush(w->appender) == DuckDBError) {
        fail_appender(w, err);
        return writer_break(w, err);
    }

    struct buf sql;
    buf_init(&sql);
    char *ref = table_ref(w);
    char *lit = duck_sql_literal(path);
    buf_printf(&sql, "COPY %s TO %s (FORMAT parquet, COMPRESSION %s", ref, lit, codec);
    if (opts->row_group_rows > 0) {
        buf_printf(&sql, ", ROW_GROUP_SIZE %" PRIu64, opts->row_group_rows);
    }
    if (opts->row_group_bytes > 0) {
        buf_printf(&sql, ", ROW_GROUP_SIZE_BYTES %" PRIu64, opts->row_group_bytes);
    }
    if (opts->format_version == 2) {
        buf_puts(&sql, ", PARQUET_VERSION V2");
    }
    if (opts->no_dictionary) {
        /* A dictionary larger than this falls back to plain encoding: with one byte, every
           column chunk is plain. */
        buf_puts(&sql, ", DICTIONARY_SIZE_LIMIT 1");
    }
    buf_printf(&sql, ");\n");
    int rc = sql.failed ? fail(err, SL_E(NOMEM), DUCK_ERR_NONE, "out of memory") : 0;
    duckdb_result res;
    if (rc == 0) {
        rc = run(w->conn->con, (const char *)sql.data, &res, err);
    }
    if (rc == 0) {
        uint64_t written = duckdb_rows_changed(&res);
        duckdb_destroy_result(&res);
        /* A fresh table for the next batch (see table_close). */
        table_close(w);
        w->n_rows = 0;
        if (table_open(w, err) != 0) {
            /* The file is written and whole; the writer cannot take more rows. */
            writer_break(w, err);
            clear_err(err);
        }
        if (n_rows != NULL) {
            *n_rows = written;
        }
    }
    free(lit);
    free(ref);
    buf_fini(&sql);
    return rc;
}

void duck_writer_destroy(struct duck_writer *w)
{
    if (w == NULL) {
        return;
    }
    if (w->create_sql != NULL) {
        table_close(w);
    }
    for (size_t i = 0; i < w->n_columns; i++) {
        free((char *)w->columns[i].name);
        type_free((struct duck_type *)w->columns[i].type);
        if (w->ltypes[i] != NULL) {
            duckdb_destroy_logical_type(&w->ltypes[i]);
        }
    }
    free(w->columns);
    free(w->ltypes);
    free(w->create_sql);
    free(w->table);
    free(w);
}
