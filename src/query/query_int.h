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
/* Splits s3://bucket/prefix into bucket (at most bucket_len - 1 bytes) and *prefix (within
   url). Returns 0, or -1 when url is no such URL. */
int query__split_s3(const char *url, char *bucket, size_t bucket_len, const char **prefix);
const char *query__state_name(enum query_state s);
/* 1 when the state machine allows from -> to (see query.h), else 0. */
int query__state_can_move(enum query_state from, enum query_state to);

/* Who started a query, kept with it while it waits and runs (in memory only: a query
   queued or running when the server stops is failed at the next start). Root, and every
   caller when the service has no authorizer, is not checked (checked 0). */
struct query_caller {
    int checked;
    int kind; /* http.h's HTTP_PRINCIPAL_* */
    char arn[320];
    char id[256];
    char name[136];
    char key_id[136];
    char region[32];
};

/* A queued execution and its caller. */
struct query_queued {
    char id[QUERY_ID_LEN + 1];
    struct query_caller who;
};

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
    struct query_queued *queue;      /* executions waiting for a worker, FIFO */
    size_t q_head, q_len, q_cap;
    int stopping;
    query_authorize_fn authorize; /* NULL: queries act unchecked */
    void *authorize_arg;
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

/* Athena's (Trino's) dialect on DuckDB (query_dialect.c). The SQL each connection runs
 * once: the macros the rewritten calls use. */
extern const char query__dialect_sql[];
/* Rewrites one node of a query's parse tree in place (a function call, a cast or a
 * constant; it may become another kind of node) to Trino's meaning on DuckDB: renamed,
 * reshaped, its constant format converted. Returns 0, or Athena's error type with the
 * message (at line:col) in msg when the call cannot run as Athena's. */
int query__dialect_rewrite(json_t *node, int line, int col, char *msg /* OUT */, size_t msg_len);
/* A MySQL-style format (date_format, date_parse; parse: for parsing) or a Joda pattern
 * (format_datetime, parse_datetime) as DuckDB's strftime/strptime format in out. Returns 0,
 * or -1 with Trino's message in err for a specifier Trino refuses. */
int query__mysql_format(const char *in, int parse, char *out /* OUT */, size_t out_len,
                        char *err /* OUT */, size_t err_len);
int query__joda_format(const char *in, int parse, char *out /* OUT */, size_t out_len,
                       char *err /* OUT */, size_t err_len);
/* The Trino grammar DuckDB's parser refuses (if with two arguments, VALUES rows without
 * parentheses, array(T) types) rewritten as DuckDB's, before parsing (query_text.c).
 * The caller frees the copy returned. */
char *query__text_prepass(const char *text);
/* A Java regex replacement ($1 groups, \ escapes) as RE2's (\1). Returns 0 or -1 when
 * out is too small. */
int query__java_replacement(const char *in, char *out /* OUT */, size_t out_len);
/* v as Java's Double.toString (is_float: Float.toString) prints it, as Athena shows a
 * double: 2.5, 1.0E7, 1.0E-4, NaN, Infinity. */
void query__java_double(double v, int is_float, char *out /* OUT */, size_t out_len);

/* Whether who may do action on resource (query.h's query_authorize_fn, with bucket and
   s3_prefix as there): 0; or -1 with IAM's denial in msg. NULL or unchecked callers may
   do anything. */
int query__may(struct query_service *svc, const struct query_caller *who, const char *action,
               const char *resource, const char *bucket, const char *s3_prefix, char *msg,
               size_t msg_len);
/* Whether who may read bucket/key as S3 would decrypt it for them: kms:Decrypt on the key
   of an SSE-KMS object (lake_kms_authorize). 0 for other objects and unchecked callers;
   -1 with IAM's denial in msg. */
int query__may_decrypt(struct query_service *svc, const struct query_caller *who,
                       const char *bucket, const char *key, char *msg, size_t msg_len);
/* The encryption record of a write of bucket/key (lake_default_sse: the bucket's SSE-KMS
   default, else NULL in *record) and whether who may have KMS make its data key
   (kms:GenerateDataKey, as S3 asks as the caller): 0; or -1 with the denial (or KMS's
   error) in msg and nothing in *record. The caller frees *record. */
int query__may_encrypt(struct query_service *svc, const struct query_caller *who,
                       const char *bucket, const char *key, char **record, char *msg,
                       size_t msg_len);
/* glue:<action> on the catalog, database db and (table != NULL) table ARNs, in that order,
   as query__may; the first denial in msg. */
int query__may_glue(struct query_service *svc, const struct query_caller *who, const char *action,
                    const char *db, const char *table, char *msg, size_t msg_len);

/* Runs execution id on worker w (the worker thread) as who. */
void query__execute(struct query_worker *w, const char *id, const struct query_caller *who);

/* Queues id for a worker, to run as who (NULL: unchecked); interrupts id when a worker runs
   it (query.c). */
void query__enqueue(struct query_service *svc, const char *id, const struct query_caller *who);
void query__interrupt(struct query_service *svc, const char *id);

/* Store helpers (query.c). query__exec_set_state moves id from -> to (only if it is in
 * from; SL_E(RESOURCE_IN_USE) otherwise) and records the rest; scanned_bytes < 0 keeps
 * the figure recorded. query__exec_set_scanned records a RUNNING query's scan, known
 * before it runs, so a stopped query reports what it was charged for. */
int query__exec_set_scanned(struct query_service *svc, const char *id, int64_t scanned_bytes);
int query__exec_set_state(struct query_service *svc, const char *id, enum query_state from,
                          enum query_state to, const char *reason, int err_category, int err_type,
                          int64_t scanned_bytes, int64_t engine_ms, const char *columns_json);

/* Writes the metadata object Athena keeps beside a result (query_result_meta.c) at url
 * (an s3:// URL: <id>.csv.metadata, <id>.txt.metadata or <id>.metadata) for execution id,
 * whose columns columns_json lists as GetQueryResults's ColumnInfo ({Name, Type,
 * Precision, Scale} objects). Returns 0, or -1 when url is no s3:// URL or the lake
 * refuses the object. */
int query__result_metadata_put(struct query_service *svc, const char *url, const char *id,
                               const char *columns_json);

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
                const struct query_caller *who, enum query_plan_kind kind, struct buf *out,
                struct query_failure *failure /* OUT */);
/* The SQL of view db.name as Athena stored it in Glue (the originalSql of its Presto
 * View text), or NULL when it is no such view. The caller frees it (query_ddl.c). */
char *query__view_sql(struct query_service *svc, const char *db, const char *name);

/* Runs a statement query__ddl_classify gives a kind for: execution id, RUNNING on worker
 * w, with its text, default database and result object's location (the .txt or .csv
 * Athena names), as who (its Glue calls and the result's write are checked); ends it
 * SUCCEEDED with the result object written, or FAILED. */
void query__ddl_execute(struct query_worker *w, const char *id, const char *query,
                        const char *database, const char *output_location, int64_t t0_ns,
                        const struct query_caller *who);

/* ---- CTAS, INSERT INTO and UNLOAD (query_ctas.c) ---- */

/* The statements that write files, decided from their leading keywords. */
enum query_write_kind {
    QUERY_WRITE_NONE,   /* any other statement */
    QUERY_WRITE_CTAS,   /* CREATE TABLE t [WITH (...)] AS SELECT ... */
    QUERY_WRITE_INSERT, /* INSERT INTO t SELECT ... */
    QUERY_WRITE_UNLOAD  /* UNLOAD (SELECT ...) TO 's3://...' WITH (...) */
};
enum query_write_kind query__write_kind(const char *text);
/* Athena's SubstatementType of a kind ("CREATE_TABLE_AS_SELECT", "INSERT", "UNLOAD"). */
const char *query__write_substatement(enum query_write_kind kind);

/* The formats written: PARQUET, JSON (Hive JSON SerDe) and TEXTFILE (LazySimpleSerDe). */
enum query_write_format { QUERY_WF_PARQUET, QUERY_WF_JSON, QUERY_WF_TEXT };

#define QUERY_WRITE_MAX_KEYS 8      /* partitioned_by / bucketed_by columns */
#define QUERY_WRITE_MAX_WRITERS 100 /* Athena's open writers for partitions x buckets */

/* A parsed write statement. */
struct query_write {
    enum query_write_kind kind;
    char database[256]; /* "" when the name is not qualified */
    char table[256];
    int if_not_exists;
    int no_data; /* WITH NO DATA */
    /* the WITH clause */
    enum query_write_format format;
    char compression[16]; /* upper case; "" for the default */
    char location[1000];  /* external_location / UNLOAD's TO; "" when not given */
    char delimiter[8];    /* field_delimiter; "" for \001 */
    char partitioned_by[QUERY_WRITE_MAX_KEYS][128];
    size_t n_partitioned_by;
    char bucketed_by[QUERY_WRITE_MAX_KEYS][128];
    size_t n_bucketed_by;
    long bucket_count;
    /* the statement's query: the text with everything else blanked, so that line:column
     * positions hold */
    char *select;
    /* set by query__write_prepare */
    char target[1024];        /* s3://bucket/prefix/ the files go under */
    int skip;                 /* CREATE TABLE IF NOT EXISTS of an existing table: nothing to do */
    char (*target_types)[64]; /* INSERT: the table's columns' Hive types, partition keys last */
    char (*target_names)[128];
    size_t n_target;
    const struct query_caller *who; /* whose permissions the writes need (borrowed); NULL */
};
/* Parses text (a statement query__write_kind does not call NONE) into *out. Returns 0, or
 * -1 with Athena's failure in f. */
int query__write_parse(const char *text, struct query_write **out, struct query_failure *f);
void query__write_free(struct query_write *q);
/* Checks what the catalog and the lake say before the query runs: the table is new (CTAS)
 * or exists in a format written here (INSERT), the target location is empty, an enforcing
 * workgroup gets no external_location; and decides the target location (default:
 * <result location>tables/<id>/). Returns 0 or -1 with f. */
int query__write_prepare(struct query_write *q, struct query_service *svc, const char *id,
                         const char *default_db, const char *output_location, int enforce,
                         struct query_failure *f);
/* Writes the rows of the temporary table __sl_res on conn to the target through the lake,
 * registers the table and its partitions in the catalog, writes the data manifest next to
 * output_location and moves the execution to SUCCEEDED (UpdateCount = rows). Returns 0 or
 * -1 with f. */
int query__write_finish(struct query_write *q, struct query_service *svc, struct duck_conn *conn,
                        const char *id, const char *default_db, const char *output_location,
                        int64_t scanned, int64_t engine_ms, struct query_failure *f);

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
    X(GetTableMetadata)                                                                            \
    X(CreateNamedQuery)                                                                            \
    X(GetNamedQuery)                                                                               \
    X(BatchGetNamedQuery)                                                                          \
    X(ListNamedQueries)                                                                            \
    X(UpdateNamedQuery)                                                                            \
    X(DeleteNamedQuery)                                                                            \
    X(CreatePreparedStatement)                                                                     \
    X(GetPreparedStatement)                                                                        \
    X(BatchGetPreparedStatement)                                                                   \
    X(ListPreparedStatements)                                                                      \
    X(UpdatePreparedStatement)                                                                     \
    X(DeletePreparedStatement)                                                                     \
    X(TagResource)                                                                                 \
    X(UntagResource)                                                                               \
    X(ListTagsForResource)                                                                         \
    X(GetQueryRuntimeStatistics)                                                                   \
    X(ListEngineVersions)
typedef int (*query_op_fn)(struct query_service *svc, json_t *input, json_t **output,
                           struct err_info *err);
#define QUERY_OP_DECL(name)                                                                        \
    int query__op_##name(struct query_service *svc, json_t *input, json_t **output,                \
                         struct err_info *err);
QUERY_OPS(QUERY_OP_DECL)
#undef QUERY_OP_DECL

/* API helpers shared by the operation files (athena_api.c). query__page_of cuts one page of
 * all (stolen) by in's MaxResults (1..max) and NextToken; next is "" on the last page. */
int query__page_of(json_t *all, json_t *in, json_int_t max, json_t **page, char next[24],
                   struct err_info *err);
void query__new_id(char out[QUERY_ID_LEN + 1]);

/* Named queries and prepared statements (athena_named.c). query__wg_check: 0 when workgroup
 * name exists, else InvalidRequestException. query__execute_text: 0 when query is not
 * `EXECUTE name [USING ...]`; 1 with the prepared statement's text in *statement (the
 * caller frees it) and its parameters in *params (USING's values, else exec_params; a new
 * reference) to bind into its ? placeholders; or an error. query__wg_delete_contents:
 * without recursive, InvalidRequestException when workgroup wg holds named queries,
 * prepared statements or executions; with it, stops its queued and running queries and
 * deletes its named queries, statements and executions. */
int query__wg_check(struct query_service *svc, const char *name, struct err_info *err);
int query__execute_text(struct query_service *svc, const char *wg, const char *query,
                        json_t *exec_params, char **statement, json_t **params,
                        struct err_info *err);
int query__wg_delete_contents(struct query_service *svc, const char *wg, int recursive,
                              struct err_info *err);

/* Tags (athena_meta.c): query__tags_check checks a TagList against AWS's limits;
 * query__tags_put checks AWS's limits and adds or replaces tags (a
 * TagList) on arn; query__tags_drop removes all of arn's; query__wg_arn is a workgroup's
 * ARN (the caller frees it). */
int query__tags_check(json_t *tags, struct err_info *err);
int query__tags_put(struct query_service *svc, const char *arn, json_t *tags, struct err_info *err);
void query__tags_drop(struct query_service *svc, const char *arn);
char *query__wg_arn(struct query_service *svc, const char *wg);

/* What StartQueryExecution records (athena_api.c, athena_reuse.c). */
struct query_start {
    const char *wg;
    const char *database;     /* NULL: none given */
    const char *token;        /* NULL: none given */
    const char *client_query; /* QueryString as sent */
    char *params_json;        /* ExecutionParameters as JSON, NULL when none */
    char *reuse_json;         /* ResultReuseConfiguration as JSON, NULL when none */
    const char *run_text;     /* the statement that runs, parameters bound */
    const char *loc;          /* the result location (a folder) */
    const char *output;       /* <loc>/<id>.csv */
    int64_t max_age_ms;       /* result reuse: the oldest result's age, < 0 when off */
    const char *failure;      /* not NULL: the execution fails at once with this */
};

/* athena_reuse.c. query__reuse_age: the age ResultReuseConfiguration conf allows in
 * *max_age_ms (< 0: no reuse), or InvalidRequestException. query__reusable: 1 when a
 * previous result may answer statement text (a SELECT). query__reuse_find: the execution
 * whose result r may reuse in prev, "" when none. Under the store lock:
 * query__reuse_insert records id as SUCCEEDED on prev's result (1), 0 when prev is gone;
 * query__token_lookup gives the execution r's token started in id (1), 0 for a new token,
 * InvalidRequestException for a token used with other parameters. */
int query__reuse_age(json_t *conf, int64_t *max_age_ms, struct err_info *err);
int query__reusable(const char *text);
void query__reuse_find(struct query_service *svc, const struct query_start *r,
                       char prev[QUERY_ID_LEN + 1]);
int query__reuse_insert(struct query_service *svc, const struct query_start *r, const char *id,
                        const char *prev);
int query__token_lookup(struct query_service *svc, const struct query_start *r,
                        char id[QUERY_ID_LEN + 1], struct err_info *err);

#endif
