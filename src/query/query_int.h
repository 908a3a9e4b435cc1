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
/* A Java regex replacement ($1 groups, \ escapes) as RE2's (\1). Returns 0 or -1 when
 * out is too small. */
int query__java_replacement(const char *in, char *out /* OUT */, size_t out_len);
/* v as Java's Double.toString (is_float: Float.toString) prints it, as Athena shows a
 * double: 2.5, 1.0E7, 1.0E-4, NaN, Infinity. */
void query__java_double(double v, int is_float, char *out /* OUT */, size_t out_len);

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
