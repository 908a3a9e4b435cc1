/*
 * Internals of the query part, shared by its files only.
 */
#ifndef SLUICE_QUERY_QUERY_INT_H
#define SLUICE_QUERY_QUERY_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/duck.h"
#include "core/err.h"
#include "query/query.h"

#define QUERY_WORKERS 2                   /* queries run at once */
#define QUERY_CUTOFF_MIN_BYTES 10000000LL /* BytesScannedCutoffPerQuery's minimum */
#define QUERY_RESULTS_MAX_PAGE 1000       /* GetQueryResults MaxResults */
#define QUERY_ID_LEN 36                   /* a UUID */

/* X(symbol): the states of an execution, named as Athena names them. */
#define QUERY_STATE_MAP(X) X(QUEUED) X(RUNNING) X(SUCCEEDED) X(FAILED) X(CANCELLED)
enum query_state {
#define QUERY_STATE_ENUM(s) QUERY_##s,
    QUERY_STATE_MAP(QUERY_STATE_ENUM)
#undef QUERY_STATE_ENUM
        QUERY_STATE_COUNT_
};
const char *query__state_name(enum query_state s);
/* 1 when the state machine allows from -> to (see query.h), else 0. */
int query__state_can_move(enum query_state from, enum query_state to);

/* One worker thread and the connection it runs queries on. */
struct query_worker {
    struct query_service *svc;
    pthread_t thread;
    struct duck_conn *conn;            /* owned by the worker's thread */
    char running_id[QUERY_ID_LEN + 1]; /* the query being run, "" when idle; svc->mu */
    int cancel; /* StopQueryExecution asked for running_id (an interrupt that comes
                   before DuckDB starts is lost: the worker checks this); svc->mu */
};

struct query_service {
    struct store *st;
    const struct sluice_config *cfg;
    struct lake *lake;
    struct catalog *cat;
    struct duck_engine *engine;
    char staging_dir[600];
    pthread_mutex_t mu;              /* guards the queue, running_id, stopping */
    pthread_cond_t cv;               /* signalled when the queue grows or stopping */
    char (*queue)[QUERY_ID_LEN + 1]; /* ids waiting for a worker, FIFO */
    size_t q_head, q_len, q_cap;
    int stopping;
    int n_workers;
    struct query_worker workers[QUERY_WORKERS];
};

/* Athena's name, precision and scale for a DuckDB result type (ColumnInfo). */
struct query_athena_type {
    const char *name; /* "varchar", "bigint", "timestamp", "decimal", ... */
    int precision;
    int scale;
};
void query__athena_type(const struct duck_type *t, struct query_athena_type *out /* OUT */);

/* Appends one field of a result CSV as Athena writes it: NULL (value NULL) as nothing,
 * any other value in double quotes with inner quotes doubled. */
int query__csv_field(struct buf *b, const char *value, size_t len);
/* Parses one CSV record of Athena's form starting at *pos in text[0..len): fields are
 * returned through fn(arg, value or NULL for an unquoted empty field, len). *pos moves
 * past the record's newline. Returns the number of fields, 0 at the end, -1 when
 * malformed. */
typedef void (*query_csv_field_fn)(void *arg, const char *value, size_t len);
int query__csv_record(const char *text, size_t len, size_t *pos, struct buf *scratch,
                      query_csv_field_fn fn, void *arg);

/* The bytes a Parquet scan of files reads for columns: the sum of the compressed sizes
 * of the column chunks whose top-level column is one of columns, in every row group
 * that skip_sql does not exclude. skip_sql (NULL: none) is a SQL condition over a
 * parquet_metadata chunk's col (lower-case top-level name), mn and mx (its statistics as
 * text), true when the chunk's statistics rule its row group out. n_columns == 0 gives 0
 * (count(*) is answered from footers). Returns 0 or a duck code. */
int query__parquet_scan_bytes(struct duck_conn *conn, const char *const *files, size_t n_files,
                              const char *const *columns, size_t n_columns, const char *skip_sql,
                              int64_t *bytes /* OUT */, struct duck_error *err);

/* Replaces every absolute path in msg (in place) with "[path]"; messages of DuckDB must
 * pass through it before a client sees them. */
void query__scrub_paths(char *msg);

/* Writes "line L:C: " into where when the client's query has a column reference
 * (is_function 0) or a function call named name; leaves it "" otherwise. */
typedef void (*query_locate_fn)(void *arg, int is_function, const char *name, char *where,
                                size_t where_len);
/* Athena's wording of a DuckDB failure message in out: its code (COLUMN_NOT_FOUND,
 * FUNCTION_NOT_FOUND, SYNTAX_ERROR, INVALID_CAST_ARGUMENT, ...), the position locate finds
 * (may be NULL) and the first line of DuckDB's message; server paths scrubbed. */
void query__athena_message(const char *duck_msg, enum duck_err_kind kind, query_locate_fn locate,
                           void *arg, char *out, size_t out_len);

/* The SQL each connection runs once: Trino functions DuckDB lacks, as macros. */
extern const char query__dialect_sql[];

/* Runs execution id on worker w (the worker thread). */
void query__execute(struct query_worker *w, const char *id);

/* Queues id for a worker; interrupts id when a worker runs it (query.c). */
void query__enqueue(struct query_service *svc, const char *id);
void query__interrupt(struct query_service *svc, const char *id);

/* Store helpers (query.c). query__exec_set_state moves id from -> to (only if it is in
 * from; SL_E(RESOURCE_IN_USE) otherwise) and records the rest; scanned_bytes < 0 keeps
 * the figure recorded. query__exec_set_scanned records a RUNNING query's scan, known
 * before it runs, so a stopped query reports what it was charged for. */
int query__exec_set_scanned(struct query_service *svc, const char *id, int64_t scanned_bytes);
int query__exec_set_state(struct query_service *svc, const char *id, enum query_state from,
                          enum query_state to, const char *reason, int err_category, int err_type,
                          int64_t scanned_bytes, int64_t engine_ms, const char *columns_json);

/* ---- DDL and utility statements (query_ddl_parse.c, query_ddl.c) ---- */

/* X(symbol, StatementType, SubstatementType): the statements run by query_ddl.c. */
#define QUERY_DDL_MAP(X)                                                                           \
    X(CREATE_DATABASE, "DDL", "CREATE_DATABASE")                                                   \
    X(DROP_DATABASE, "DDL", "DROP_DATABASE")                                                       \
    X(CREATE_TABLE, "DDL", "CREATE_TABLE")                                                         \
    X(DROP_TABLE, "DDL", "DROP_TABLE")                                                             \
    X(ADD_PARTITION, "DDL", "ALTER_TABLE_ADD_PARTITION")                                           \
    X(DROP_PARTITION, "DDL", "ALTER_TABLE_DROP_PARTITION")                                         \
    X(MSCK, "DDL", "MSCK_REPAIR_TABLE")                                                            \
    X(SHOW_DATABASES, "UTILITY", "SHOW_DATABASES")                                                 \
    X(SHOW_TABLES, "UTILITY", "SHOW_TABLES")                                                       \
    X(SHOW_PARTITIONS, "UTILITY", "SHOW_PARTITIONS")                                               \
    X(SHOW_COLUMNS, "UTILITY", "SHOW_COLUMNS")                                                     \
    X(SHOW_CREATE_TABLE, "UTILITY", "SHOW_CREATE_TABLE")                                           \
    X(SHOW_TBLPROPERTIES, "UTILITY", "SHOW_TBLPROPERTIES")                                         \
    X(DESCRIBE, "UTILITY", "DESCRIBE_TABLE")                                                       \
    X(EXPLAIN, "UTILITY", "EXPLAIN")                                                               \
    X(CREATE_VIEW, "DDL", "CREATE_VIEW")                                                           \
    X(DROP_VIEW, "DDL", "DROP_VIEW")                                                               \
    X(SHOW_VIEWS, "UTILITY", "SHOW_VIEWS")
enum query_ddl_kind {
    QUERY_DDL_NONE, /* SELECT, WITH, VALUES, CTAS, ...: not a statement of query_ddl.c */
#define QUERY_DDL_ENUM(s, t, sub) QUERY_DDL_##s,
    QUERY_DDL_MAP(QUERY_DDL_ENUM)
#undef QUERY_DDL_ENUM
};
/* The kind of statement sql is, from its leading keywords (comments and blanks skipped).
 * CREATE TABLE ... AS and CREATE TABLE ... WITH (CTAS) are QUERY_DDL_NONE. */
enum query_ddl_kind query__ddl_classify(const char *sql);
/* Athena's StatementType and SubstatementType of a kind (QUERY_DDL_NONE: DML, SELECT). */
const char *query__ddl_statement_type(enum query_ddl_kind kind);
const char *query__ddl_substatement_type(enum query_ddl_kind kind);
/* The extension of the result object Athena writes for sql: ".txt" for DDL and
 * utility statements whose result is Hive's text, ".csv" otherwise (EXPLAIN included). */
const char *query__ddl_result_ext(const char *sql);

struct query_ddl_kv {
    char *key;
    char *value;
};
struct query_ddl_col {
    char *name;    /* lower case */
    char *type;    /* Hive type, normalised: lower case, no blanks ("map<string,int>") */
    char *comment; /* NULL when none */
};
struct query_ddl_part {
    struct query_ddl_kv *spec; /* key (lower case) = value */
    size_t n_spec;
    char *location; /* NULL when none */
};

/* One parsed statement. Names are lower case; strings are unquoted and unescaped. */
struct query_ddl_stmt {
    enum query_ddl_kind kind;
    int if_exists;  /* IF EXISTS / IF NOT EXISTS */
    int cascade;    /* DROP DATABASE ... CASCADE */
    int external;   /* CREATE EXTERNAL TABLE */
    int formatted;  /* DESCRIBE FORMATTED / EXTENDED */
    int or_replace; /* CREATE OR REPLACE VIEW */
    int explain_io; /* EXPLAIN (TYPE IO) */
    char *database; /* the database named or qualifying the table; NULL when none */
    char *name;     /* the table or view; NULL when none */
    char *comment;  /* COMMENT '...' */
    char *location; /* LOCATION '...' */
    char *pattern;  /* SHOW ... LIKE 'pattern' / 'pattern'; SHOW TBLPROPERTIES t('name') */
    char *serde;    /* ROW FORMAT SERDE '...' */
    char *input_format, *output_format;
    char *stored_as;    /* STORED AS <format>, upper case */
    char *body;         /* EXPLAIN's statement, the view's query */
    size_t body_offset; /* where body starts in the statement's text */
    int delimited;      /* ROW FORMAT DELIMITED */
    struct query_ddl_col *cols, *part_cols;
    size_t n_cols, n_part_cols;
    struct query_ddl_kv *serde_props, *props; /* SERDEPROPERTIES; TBL/DBPROPERTIES */
    size_t n_serde_props, n_props;
    struct query_ddl_part *parts; /* ALTER TABLE ADD/DROP PARTITION */
    size_t n_parts;
};
/* Parses sql (one statement of a kind query__ddl_classify names, an optional ';' at its
 * end) into *out. Returns 0, or -1 with Athena's message ("line L:C: ...") in err. */
int query__ddl_parse(const char *sql, struct query_ddl_stmt *out /* OUT */, char *err,
                     size_t err_len);
void query__ddl_stmt_fini(struct query_ddl_stmt *s);

/* ---- partition projection (query_projection.c) ---- */

/* A comparison of a partition key with a constant: key < value, key <= value, ... */
enum query_key_cmp { QUERY_KEY_LT, QUERY_KEY_LE, QUERY_KEY_GT, QUERY_KEY_GE };
struct query_key_bound {
    enum query_key_cmp cmp;
    char *value;
};
/* What a query's WHERE clause says of one partition key: set when equalities or IN lists
 * on it allow only values[0..n) (n == 0: none at all); every bound must hold as well
 * (integers compared as numbers, other values as text: dates in their format's order). */
struct query_key_filter {
    int set;
    char **values;
    size_t n;
    struct query_key_bound *bounds;
    size_t n_bounds;
};
/* Narrows f[k], the filter of the table's partition key k, by each conjunct of the WHERE
 * clause e (DuckDB's parse tree) that is an equality, an IN list or a comparison (<, <=,
 * >, >=) of a partition key with constants. */
void query__projection_filters(const struct catalog_table_desc *d, json_t *e,
                               struct query_key_filter *f);
/* Frees the n filters of f and the array. */
void query__projection_filters_free(struct query_key_filter *f, size_t n);
/* 1 when the table's Parameters enable partition projection (projection.enabled). */
int query__projection_enabled(const struct catalog_table_desc *d);
/* Calls fn with every partition projection gives the table (values in key order, its
 * location from storage.location.template or <location>/k=v/...), narrowed by
 * filters[k] for key k; now_ms is NOW of date ranges. Returns 0, or -1 with Athena's
 * message in err (a key without configuration, an injected key the query leaves open, a
 * bad range, too many partitions, or fn stopping). */
int query__projection_scan(const struct catalog_table_desc *d,
                           const struct query_key_filter *filters, int64_t now_ms,
                           catalog_partition_fn fn, void *arg, char *err, size_t err_len);

/* Why a statement failed, in Athena's terms. */
struct query_failure {
    int category;
    int type;
    char message[1024];
};
/* What query__plan gives: the engine's plan, Trino's EXPLAIN (TYPE IO) document, or the
 * result's columns (a CREATE VIEW's). */
enum query_plan_kind { QUERY_PLAN_TEXT, QUERY_PLAN_IO, QUERY_PLAN_COLUMNS };
/* Plans select (a query query__execute would run) on worker w with database as the
 * default: its tables resolved and pruned as a run would, then into out either the
 * engine's plan with the tables named (TEXT), Trino's EXPLAIN (TYPE IO) JSON document with
 * the bytes each table's scan reads (IO), or a JSON array of the result's {name, type}
 * (COLUMNS). No row is read. Returns 0, or -1 with the failure the query itself would end
 * with (query_exec.c). */
int query__plan(struct query_worker *w, const char *select, const char *database,
                enum query_plan_kind kind, struct buf *out,
                struct query_failure *failure /* OUT */);
/* The SQL of view db.name as Athena stored it in Glue (the originalSql of its Presto
 * View text), or NULL when it is no such view. The caller frees it (query_ddl.c). */
char *query__view_sql(struct query_service *svc, const char *db, const char *name);

/* Runs a statement query__ddl_classify gives a kind for: execution id, RUNNING on worker
 * w, with its text, default database and result object's location (the .txt or .csv
 * Athena names); ends it SUCCEEDED with the result object written, or FAILED. */
void query__ddl_execute(struct query_worker *w, const char *id, const char *query,
                        const char *database, const char *output_location, int64_t t0_ns);

/* The API operations, X(name): op(svc, input, &output, err) returns 0 or a code. */
#define QUERY_OPS(X)                                                                               \
    X(CreateWorkGroup)                                                                             \
    X(GetWorkGroup)                                                                                \
    X(ListWorkGroups)                                                                              \
    X(UpdateWorkGroup)                                                                             \
    X(DeleteWorkGroup)                                                                             \
    X(StartQueryExecution)                                                                         \
    X(GetQueryExecution)                                                                           \
    X(BatchGetQueryExecution)                                                                      \
    X(ListQueryExecutions)                                                                         \
    X(StopQueryExecution)                                                                          \
    X(GetQueryResults)                                                                             \
    X(ListDataCatalogs)                                                                            \
    X(GetDataCatalog)                                                                              \
    X(ListDatabases)                                                                               \
    X(GetDatabase)                                                                                 \
    X(ListTableMetadata)                                                                           \
    X(GetTableMetadata)
typedef int (*query_op_fn)(struct query_service *svc, json_t *input, json_t **output,
                           struct err_info *err);
#define QUERY_OP_DECL(name)                                                                        \
    int query__op_##name(struct query_service *svc, json_t *input, json_t **output,                \
                         struct err_info *err);
QUERY_OPS(QUERY_OP_DECL)
#undef QUERY_OP_DECL

#endif
