/*
 * DuckDB, Sluice's SQL and Parquet engine, behind one adapter.
 *
 * Every call into DuckDB's C library is made from src/core/duck.c (the house rule: one
 * adapter file per third-party library). This header speaks Sluice's language: our type
 * enumeration, our error codes with DuckDB's message beside them, our ownership rules.
 * Delivery (Firehose: JSON records -> Parquet objects) and query (Athena over the lake)
 * both use it.
 *
 *   engine   one per server: an in-memory DuckDB database with a memory limit, a thread
 *            cap, no extension install or autoload, and file access restricted to the
 *            directories given at open (the lake, a staging directory). The restriction
 *            is set before any caller's connection exists and then locked: no statement
 *            can widen it (SET, PRAGMA, INSTALL, LOAD, ATTACH or COPY outside, read_text,
 *            glob, getenv all fail with DUCK_ERR_PERMISSION, DUCK_ERR_INVALID_INPUT or
 *            DUCK_ERR_CATALOG; tests/unit/test_duck.c tries each).
 *            What stays allowed is allowed everywhere inside those directories, reading
 *            and writing alike: COPY TO, ATTACH (a new database file), EXPORT. So give
 *            the engine the lake's data and a staging directory, never the data root
 *            (metadata, credentials), and never pass a client's statement through
 *            unchecked: `PRAGMA enable_profiling`, for one, is still accepted and prints
 *            to the server's output. Statements are run as given, several per call.
 *   conn     a connection: one thread at a time, any number per engine. Temp tables
 *            are private to it.
 *   result   a finished query's result, read one chunk (up to 2048 rows) at a time as
 *            typed column vectors.
 *   writer   a typed temp table on a connection, filled from Sluice's column arrays in
 *            column chunks, then written out as a Parquet file with COPY ... TO.
 *
 * Threads: an engine may be used from any number of threads; a connection, its results
 * and its writers by one thread at a time, except duck_conn_interrupt, which any thread
 * may call while another runs a query on the connection.
 *
 * Errors: functions return 0 or a negative Sluice code, and fill a struct duck_error
 * (when given) with DuckDB's class of error and its message. The message is DuckDB's own
 * and may name files of the server: callers show clients only what they should see.
 *   SL_E(VALIDATION)     the statement or the data is wrong (syntax, binder, catalog,
 *                        conversion, out of range, invalid input, not implemented, ...)
 *   SL_E(ACCESS_DENIED)  the lockdown refused a file, an extension or a setting
 *   SL_E(NOMEM)          DuckDB's memory limit was reached, or an allocation failed
 *   SL_E(IO)             a file could not be read or written
 *   -ECANCELED           duck_conn_interrupt stopped the statement
 *   SL_E(INTERNAL)       anything else DuckDB reports (internal, fatal, ...)
 */
#ifndef SLUICE_CORE_DUCK_H
#define SLUICE_CORE_DUCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Types ---------------------------------------------------------------------------- */

/*
 * X(symbol, SQL name). The layout column says how a value sits in a result vector
 * (duck_vec_data) and in a writer's column (struct duck_colbuf.values):
 *   BOOLEAN            bool                      TINYINT..BIGINT   int8_t..int64_t
 *   UTINYINT..UBIGINT  uint8_t..uint64_t         HUGEINT, UUID     struct duck_int128
 *   FLOAT, DOUBLE      float, double             DATE              int32_t days since 1970-01-01
 *   TIME               int64_t µs since midnight TIMESTAMP(_TZ)    int64_t µs since the epoch
 *   TIMESTAMP_S/_MS/_NS int64_t s/ms/ns since the epoch             INTERVAL  struct duck_interval
 *   DECIMAL            read with duck_vec_decimal; written as int64_t unscaled (width <= 18)
 *                      or struct duck_int128 (width > 18)
 *   VARCHAR, BLOB      read with duck_vec_str; written as struct duck_str
 *   LIST, MAP          read with duck_vec_list and the child vectors; a MAP is a LIST of
 *                      STRUCT(key, value); written with offsets and child columns
 *   STRUCT             one child per field
 *   OTHER              a type this adapter does not map (ENUM, UNION, ARRAY, BIT, TIME_TZ,
 *                      BIGNUM...): cast it in SQL (to VARCHAR) to read it.
 */
#define DUCK_TYPE_MAP(X)                                                                           \
    X(SQLNULL, "NULL")                                                                             \
    X(BOOLEAN, "BOOLEAN")                                                                          \
    X(TINYINT, "TINYINT")                                                                          \
    X(SMALLINT, "SMALLINT")                                                                        \
    X(INTEGER, "INTEGER")                                                                          \
    X(BIGINT, "BIGINT")                                                                            \
    X(HUGEINT, "HUGEINT")                                                                          \
    X(UTINYINT, "UTINYINT")                                                                        \
    X(USMALLINT, "USMALLINT")                                                                      \
    X(UINTEGER, "UINTEGER")                                                                        \
    X(UBIGINT, "UBIGINT")                                                                          \
    X(FLOAT, "FLOAT")                                                                              \
    X(DOUBLE, "DOUBLE")                                                                            \
    X(DECIMAL, "DECIMAL")                                                                          \
    X(VARCHAR, "VARCHAR")                                                                          \
    X(BLOB, "BLOB")                                                                                \
    X(DATE, "DATE")                                                                                \
    X(TIME, "TIME")                                                                                \
    X(TIMESTAMP, "TIMESTAMP")                                                                      \
    X(TIMESTAMP_S, "TIMESTAMP_S")                                                                  \
    X(TIMESTAMP_MS, "TIMESTAMP_MS")                                                                \
    X(TIMESTAMP_NS, "TIMESTAMP_NS")                                                                \
    X(TIMESTAMP_TZ, "TIMESTAMP WITH TIME ZONE")                                                    \
    X(INTERVAL, "INTERVAL")                                                                        \
    X(UUID, "UUID")                                                                                \
    X(LIST, "LIST")                                                                                \
    X(STRUCT, "STRUCT")                                                                            \
    X(MAP, "MAP")                                                                                  \
    X(OTHER, "OTHER")

enum duck_type_id {
#define DUCK_TYPE_ENUM(sym, name) DUCK_T_##sym,
    DUCK_TYPE_MAP(DUCK_TYPE_ENUM)
#undef DUCK_TYPE_ENUM
        DUCK_T_COUNT_
};

/* DuckDB's SQL name for a type id ("INTEGER", ...); "?" for an unknown value. */
const char *duck_type_name(enum duck_type_id id);

struct duck_field;

/*
 * A column type, possibly nested. Built by callers for writers (static or on the stack:
 * the adapter keeps no pointer into it after duck_writer_create returns), and by the
 * adapter for results (owned by the result).
 */
struct duck_type {
    enum duck_type_id id;
    uint8_t width;                   /* DECIMAL: total digits, 1..38 */
    uint8_t scale;                   /* DECIMAL: digits after the point, <= width */
    const struct duck_type *element; /* LIST: the element type */
    const struct duck_type *key;     /* MAP: the key type (never NULL values) */
    const struct duck_type *value;   /* MAP: the value type */
    const struct duck_field *fields; /* STRUCT: its fields, in order */
    size_t n_fields;                 /* STRUCT: number of fields, >= 1 */
};

/* A named column or struct field. */
struct duck_field {
    const char *name; /* any text; the adapter quotes it */
    const struct duck_type *type;
};

struct duck_int128 {
    uint64_t lo; /* low 64 bits */
    int64_t hi;  /* high 64 bits, two's complement */
};

struct duck_interval {
    int32_t months;
    int32_t days;
    int64_t micros;
};

/* Bytes of a VARCHAR (UTF-8) or BLOB value; not NUL-terminated. */
struct duck_str {
    const char *ptr;
    size_t len;
};

/* ---- Errors --------------------------------------------------------------------------- */

/* DuckDB's class of a failure, X(symbol). NONE when the failure is Sluice's own. */
#define DUCK_ERR_MAP(X)                                                                            \
    X(NONE)                                                                                        \
    X(SYNTAX)          /* the parser refused the text */                                           \
    X(BINDER)          /* unknown column, wrong function arguments, ... */                         \
    X(CATALOG)         /* unknown table, function, type, schema */                                 \
    X(CONVERSION)      /* a value could not be cast */                                             \
    X(OUT_OF_RANGE)    /* overflow, value out of its type's range */                               \
    X(INVALID_INPUT)   /* bad argument or data; changing a locked setting */                       \
    X(NOT_IMPLEMENTED) /* DuckDB does not support it */                                            \
    X(CONSTRAINT)      /* NOT NULL, unique, ... */                                                 \
    X(PERMISSION)      /* refused by the lockdown */                                               \
    X(OUT_OF_MEMORY)   /* the memory limit */                                                      \
    X(IO)              /* reading or writing a file */                                             \
    X(INTERRUPT)       /* duck_conn_interrupt */                                                   \
    X(INTERNAL)        /* DuckDB's internal or fatal errors */                                     \
    X(OTHER)           /* any other class */

enum duck_err_kind {
#define DUCK_ERR_ENUM(sym) DUCK_ERR_##sym,
    DUCK_ERR_MAP(DUCK_ERR_ENUM)
#undef DUCK_ERR_ENUM
        DUCK_ERR_COUNT_
};

/* "SYNTAX", "PERMISSION", ...; "?" for an unknown value. */
const char *duck_err_kind_name(enum duck_err_kind kind);

/* Detail of a failure; owned by the caller. */
struct duck_error {
    int code;                /* 0 or the negative code the function returned */
    enum duck_err_kind kind; /* DuckDB's class; NONE for failures Sluice raised itself */
    char message[1024];      /* DuckDB's message (or ours), truncated; "" when none */
};

/* ---- Engine and connections ----------------------------------------------------------- */

struct duck_engine;
struct duck_conn;

struct duck_engine_options {
    /* Absolute directories statements may read and write (the lake root, a staging
       directory); at least one. Nothing outside them is reachable. */
    const char *const *dirs;
    size_t n_dirs;
    /* Absolute directory where DuckDB spills when memory runs short (created by DuckDB
       on first use; becomes reachable like dirs); NULL: never spill. */
    const char *spill_dir;
    uint64_t memory_limit_bytes; /* DuckDB's memory limit; 0: 1 GiB */
    unsigned n_threads;          /* DuckDB's worker threads; 0: 1 */
    bool integer_division;       /* `/` of two integers is an integer (Trino's rule) */
    /* preserve_insertion_order=false, which Parquet row groups bounded by bytes need
       (DuckDB 1.5 refuses ROW_GROUP_SIZE_BYTES otherwise). Results without ORDER BY may
       then come in any order; with one thread a COPY of a table still writes its rows in
       insertion order. */
    bool no_insertion_order;
};

/*
 * Opens the server's DuckDB engine: an in-memory database configured and locked as the
 * top of this file says. *out is the engine (close with duck_engine_close).
 * Returns 0; SL_E(VALIDATION) for bad options (no dirs, a relative path, a quote or
 * newline in a path); SL_E(INTERNAL) or another mapped code when DuckDB refuses to open
 * or to lock (err says why). Nothing is left open on failure.
 */
int duck_engine_open(const struct duck_engine_options *opts, struct duck_engine **out /* OUT */,
                     struct duck_error *err);
/* Closes the engine. Every connection must be closed first. Accepts NULL. */
void duck_engine_close(struct duck_engine *engine);
/* DuckDB's version string ("v1.5.6"). Static. */
const char *duck_library_version(void);

/* Opens a connection on engine. Returns 0, or SL_E(INTERNAL) when DuckDB refuses. */
int duck_conn_open(struct duck_engine *engine, struct duck_conn **out /* OUT */,
                   struct duck_error *err);
/* Closes a connection. Its results and writers must be destroyed first. Accepts NULL. */
void duck_conn_close(struct duck_conn *conn);
/* Asks the statement running on conn to stop; it fails with -ECANCELED. Any thread. */
void duck_conn_interrupt(struct duck_conn *conn);

/* ---- Queries and results -------------------------------------------------------------- */

struct duck_result;
struct duck_vec;

/*
 * Runs one or more statements (the result is the last one's) and keeps the result in
 * *out (destroy with duck_result_destroy). Returns 0 or a mapped code (see the top).
 */
int duck_query(struct duck_conn *conn, const char *sql, struct duck_result **out /* OUT */,
               struct duck_error *err);
/* duck_query with the result thrown away. */
int duck_exec(struct duck_conn *conn, const char *sql, struct duck_error *err);

void duck_result_destroy(struct duck_result *res); /* accepts NULL */
size_t duck_result_column_count(const struct duck_result *res);
/* A column's name and type; valid until the result is destroyed. */
const char *duck_result_column_name(const struct duck_result *res, size_t col_idx);
const struct duck_type *duck_result_column_type(const struct duck_result *res, size_t col_idx);
/* Rows inserted, updated or deleted by the statement (INSERT, COPY ...); 0 otherwise. */
uint64_t duck_result_rows_changed(const struct duck_result *res);

/*
 * Moves to the result's next chunk: *n_rows (OUT) is its row count, 0 at the end.
 * Column vectors of the previous chunk become invalid. Returns 0, SL_E(NOMEM), or a
 * mapped code when DuckDB fails to produce the chunk.
 */
int duck_result_fetch(struct duck_result *res, size_t *n_rows /* OUT */, struct duck_error *err);
/* Column col_idx of the current chunk; valid until the next fetch or destroy. */
const struct duck_vec *duck_result_column(const struct duck_result *res, size_t col_idx);

/*
 * Reading a vector. row is an index into the vector (for a top-level column, the row of
 * the chunk; for a list's child, list offset + i). Each getter requires the vector's
 * type to match (SL_ASSERT otherwise). Pointers stay valid as long as the vector.
 */
const struct duck_type *duck_vec_type(const struct duck_vec *vec);
bool duck_vec_is_null(const struct duck_vec *vec, size_t row);
/* The values array, laid out as DUCK_TYPE_MAP says; NULL for DECIMAL, VARCHAR, BLOB,
   LIST, MAP, STRUCT and OTHER, which have accessors of their own. */
const void *duck_vec_data(const struct duck_vec *vec);
/* VARCHAR or BLOB. */
struct duck_str duck_vec_str(const struct duck_vec *vec, size_t row);
/* DECIMAL of any width, as its unscaled integer (value = unscaled / 10^scale). */
struct duck_int128 duck_vec_decimal(const struct duck_vec *vec, size_t row);
/* LIST or MAP: the row's elements are child rows [*offset, *offset + *len). */
void duck_vec_list(const struct duck_vec *vec, size_t row, uint64_t *offset /* OUT */,
                   uint64_t *len /* OUT */);
/* LIST: child 0 (elements). MAP: child 0 (keys) and 1 (values). STRUCT: one per field. */
const struct duck_vec *duck_vec_child(const struct duck_vec *vec, size_t child_idx);

/* ---- Writing Parquet from column data ------------------------------------------------- */

struct duck_writer;

/*
 * One column's values for n rows, in Sluice's layout. A writer copies them; the caller
 * keeps ownership.
 *   is_null   one byte per row, nonzero for NULL; NULL when no row is null. A NULL row's
 *             value is ignored (for STRUCT, its fields are stored as NULL too).
 *   values    n values laid out as DUCK_TYPE_MAP says for the column's type (VARCHAR and
 *             BLOB: struct duck_str; DECIMAL: int64_t or struct duck_int128); unused for
 *             LIST, MAP and STRUCT.
 *   offsets   LIST and MAP: n + 1 non-decreasing offsets into the child columns; row i's
 *             elements are child rows [offsets[i], offsets[i + 1]). A NULL row should
 *             have no elements.
 *   children  LIST: [elements]; MAP: [keys, values] (keys never NULL); STRUCT: one
 *             column per field.
 */
struct duck_colbuf {
    const uint8_t *is_null;
    const void *values;
    const uint64_t *offsets;
    const struct duck_colbuf *children;
};

/*
 * Creates a writer on conn: a temp table with the given columns (n_columns >= 1, names
 * unique) and an appender on it. Supported column types: every id but SQLNULL, OTHER,
 * INTERVAL and UUID, nested LIST/MAP/STRUCT included. Returns 0; SL_E(VALIDATION) for
 * an unsupported type, a bad DECIMAL or a duplicate name; a mapped code when DuckDB
 * refuses.
 */
int duck_writer_create(struct duck_conn *conn, const struct duck_field *columns, size_t n_columns,
                       struct duck_writer **out /* OUT */, struct duck_error *err);

/*
 * Appends n_rows rows given as one struct duck_colbuf per column, in column chunks of
 * DuckDB's vector size. Values are checked first: VARCHAR must be valid UTF-8, DECIMAL
 * must fit its width, offsets must be non-decreasing and MAP keys not NULL — a failing
 * value gives SL_E(VALIDATION) naming the column and row, and nothing of this call is
 * kept. A DuckDB failure (SL_E(NOMEM) at the memory limit, ...) is sticky: the writer
 * refuses further appends and writes until destroyed.
 */
int duck_writer_append(struct duck_writer *w, const struct duck_colbuf *columns, size_t n_rows,
                       struct duck_error *err);

/* Rows appended since the writer was created or last written. */
uint64_t duck_writer_row_count(const struct duck_writer *w);

enum duck_parquet_codec {
    DUCK_PARQUET_SNAPPY,
    DUCK_PARQUET_GZIP,
    DUCK_PARQUET_UNCOMPRESSED,
    DUCK_PARQUET_ZSTD,
};

/*
 * What DuckDB's COPY ... (FORMAT parquet) can be asked. It has no data page size: pages
 * are cut by DuckDB itself, so a page size (Firehose's PageSizeBytes) cannot be honoured.
 */
struct duck_parquet_options {
    enum duck_parquet_codec codec;
    uint64_t row_group_rows;  /* rows per row group; 0: DuckDB's default (122,880) */
    uint64_t row_group_bytes; /* also end a row group at this (uncompressed) size; 0: no byte
                                 bound. Needs an engine opened with no_insertion_order. */
    int format_version;       /* 1 or 2 (Parquet writer version); 0: DuckDB's default (1) */
    bool no_dictionary;       /* plain encoding only: no dictionary pages */
};

/*
 * Writes every row appended so far to a new Parquet file at path (absolute, inside the
 * engine's dirs; an existing file is replaced) and empties the writer for the next
 * batch: its table is dropped and made again, so the batch's memory goes back to DuckDB.
 * *n_rows (OUT, may be NULL) gets the rows written. The file is written in place:
 * callers write to a staging name and rename. Returns 0; SL_E(VALIDATION) for a bad
 * path or options (row_group_bytes on an engine that keeps insertion order);
 * SL_E(ACCESS_DENIED) outside the engine's dirs; SL_E(IO) when the file cannot be
 * written (the rows stay in the writer; writing again may succeed); the sticky failure
 * of an earlier call. When the file is written but the fresh table cannot be made, it
 * returns 0 and the writer refuses what comes next.
 */
int duck_writer_write_parquet(struct duck_writer *w, const char *path,
                              const struct duck_parquet_options *opts, uint64_t *n_rows /* OUT */,
                              struct duck_error *err);

/* Drops the writer's table. Accepts NULL. */
void duck_writer_destroy(struct duck_writer *w);

/* ---- SQL text helpers ----------------------------------------------------------------- */

/* s as a SQL string literal ('it''s'); the caller frees it. */
char *duck_sql_literal(const char *s);
/* s as a quoted identifier ("a""b"); the caller frees it. */
char *duck_sql_ident(const char *s);

/* ---- Test seam ------------------------------------------------------------------------ */

enum duck_op {
    DUCK_OP_OPEN,    /* duck_engine_open: the database does not open */
    DUCK_OP_CONNECT, /* duck_conn_open */
    DUCK_OP_QUERY,   /* every statement the adapter runs, its own included */
    DUCK_OP_APPEND,  /* one column chunk appended by a writer */
    DUCK_OP_COUNT_
};

/* The nth call of op from now (1 = the next) fails as DuckDB failing would, with kind. */
void duck_fault_inject(enum duck_op op, unsigned long nth, enum duck_err_kind kind);
void duck_fault_clear(void);

#endif
