/*
 * Record format conversion (Firehose's DataFormatConversionConfiguration): JSON records
 * to typed column buffers laid out for core/duck.h's writer, with the columns of a Glue
 * table. Internal to the delivery part.
 *
 *   Hive type text ──delivery__hive_type_parse──▶ struct conv_type (with its duck_type)
 *   catalog columns + SerDe options ──delivery__conv_create──▶ struct conv_batch
 *   each record ──delivery__conv_record──▶ one row appended, or a conv_error (nothing kept)
 *   delivery__conv_colbufs ──▶ struct duck_colbuf per column ──▶ duck_writer_append
 *
 * Each record is read once with core/jsonscan.h (no document tree). Hive types map to
 * DuckDB types as: boolean BOOLEAN; tinyint..bigint TINYINT..BIGINT; float FLOAT; double
 * DOUBLE (also real FLOAT and double precision DOUBLE); decimal(p,s) DECIMAL(p,s) (decimal alone is
 * decimal(10,0)); string, varchar(n), char(n) VARCHAR (varchar and char cut to n characters);
 * binary BLOB; date DATE; timestamp TIMESTAMP (µs); array<T> LIST; map<K,V> MAP; struct<a:T,...>
 * STRUCT. The catalog also accepts uniontype, interval, void and struct<>, which have no Parquet
 * form here: a table using them refuses every record (DataFormatConversion.InvalidSchema).
 *
 * Coercions follow the SerDe named in the configuration:
 *   OpenXJsonSerDe  numbers, booleans and numeric text are accepted for the column's type
 *                   when they fit (a string "42" into an int column, 42 into a string
 *                   column); a nested value into a string column keeps its JSON text;
 *                   timestamps: yyyy-MM-dd'T'HH:mm:ss[.f]Z, yyyy-[M]M-[d]d HH:mm:ss[.f],
 *                   epoch seconds, epoch milliseconds (an integer of 12 digits or more)
 *                   and fractional epoch seconds.
 *   HiveJsonSerDe   no text for numeric columns and no nested value for a string column;
 *                   timestamps by TimestampFormats (Joda patterns y M d H m s S and
 *                   literals, or "millis") and then java.sql.Timestamp.valueOf's form.
 * Keys: CaseInsensitive (default true) compares keys without case; with
 * ConvertDotsInJsonKeysToUnderscores a key's dots count as underscores;
 * ColumnToJsonKeyMappings names the JSON key of a column. Extra keys are ignored,
 * missing columns are NULL, a repeated key keeps its first value.
 *
 * Ownership: string values point into the record bytes given to delivery__conv_record
 * (which must stay valid and unchanged until the batch is reset or destroyed) or into
 * the batch's own arena.
 */
#ifndef SLUICE_DELIVERY_CONVERT_H
#define SLUICE_DELIVERY_CONVERT_H

#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "core/buf.h"
#include "core/duck.h"

enum conv_kind {
    CONV_BOOLEAN,
    CONV_TINYINT,
    CONV_SMALLINT,
    CONV_INT,
    CONV_BIGINT,
    CONV_FLOAT,
    CONV_DOUBLE,
    CONV_DECIMAL,
    CONV_STRING,
    CONV_VARCHAR,
    CONV_CHAR,
    CONV_BINARY,
    CONV_DATE,
    CONV_TIMESTAMP,
    CONV_ARRAY,
    CONV_MAP,
    CONV_STRUCT,
};

struct conv_field;

/* A parsed Hive type. duck is the same type for the writer (its pointers point into
   this tree). Freed with delivery__hive_type_free. */
struct conv_type {
    enum conv_kind kind;
    uint32_t max_chars; /* VARCHAR, CHAR: n */
    uint8_t precision;  /* DECIMAL */
    uint8_t scale;      /* DECIMAL */
    struct conv_type *elem, *key, *value;
    struct conv_field *fields;
    size_t n_fields;
    struct duck_type duck;
    struct duck_field *duck_fields;
};

struct conv_field {
    char *name; /* as written in the type */
    struct conv_type *type;
};

/*
 * Parses Glue's type text ("array<struct<a:int,b:decimal(10,2)>>", case and spaces
 * free). Returns 0 and *out, or SL_E(VALIDATION) with the reason in why.
 */
int delivery__hive_type_parse(const char *text, struct conv_type **out /* OUT */, char *why,
                              size_t why_len);
void delivery__hive_type_free(struct conv_type *t); /* accepts NULL */

struct conv_options {
    int hive;                       /* HiveJsonSerDe (else OpenXJsonSerDe) */
    int case_insensitive;           /* OpenX CaseInsensitive */
    int dots_to_underscores;        /* OpenX ConvertDotsInJsonKeysToUnderscores */
    const char *const *map_columns; /* ColumnToJsonKeyMappings: column names ... */
    const char *const *map_keys;    /* ... and their JSON keys */
    size_t n_map;
    const char *const *ts_formats; /* HiveJsonSerDe TimestampFormats */
    size_t n_ts_formats;
};

#define CONV_PARSE_ERROR "DataFormatConversion.ParseError"
#define CONV_MALFORMED "DataFormatConversion.MalformedData"
#define CONV_INVALID_SCHEMA "DataFormatConversion.InvalidSchema"

/* Why a record did not convert. */
struct conv_error {
    const char *code; /* CONV_PARSE_ERROR or CONV_MALFORMED */
    char message[512];
    uint32_t sub; /* a KPL user record's subSequenceNumber + 1; 0: null */
};

struct conv_batch;

/*
 * A batch for the table's columns. Returns 0, or SL_E(VALIDATION) (a column type that
 * does not parse, no columns, a duplicate column) with why.
 */
int delivery__conv_create(const struct catalog_column *cols, size_t n_cols,
                          const struct conv_options *opt, struct conv_batch **out /* OUT */,
                          char *why, size_t why_len);
void delivery__conv_destroy(struct conv_batch *b); /* accepts NULL */
/* Drops every row (the arena too): the batch is ready for the next object. */
void delivery__conv_reset(struct conv_batch *b);
/*
 * Converts one record into one row. Returns 0; 1 when the record does not fit (e says
 * why; nothing of it is kept); SL_E(NOMEM).
 */
int delivery__conv_record(struct conv_batch *b, const uint8_t *data, size_t len,
                          struct conv_error *e /* OUT */);
size_t delivery__conv_rows(const struct conv_batch *b);
/* The writer's columns (valid as long as the batch). */
const struct duck_field *delivery__conv_columns(const struct conv_batch *b, size_t *n /* OUT */);
/* The rows as one colbuf per column, valid until the next record, reset or destroy. */
const struct duck_colbuf *delivery__conv_colbufs(struct conv_batch *b);

/*
 * Appends one format-conversion-failed error record (one JSON line, AWS's fields) to
 * out. seqno NULL for DirectPut (no sequenceNumber). Returns 0 or SL_E(NOMEM).
 */
struct conv_error_ctx {
    const char *catalog_id, *database, *table, *region, *version_id, *catalog_arn;
};
int delivery__conv_error_json(struct buf *out, const struct conv_error *e, int64_t arrival_ms,
                              int64_t attempt_end_ms, const uint8_t *data, size_t len,
                              const char *seqno, const struct conv_error_ctx *ctx);

#endif
