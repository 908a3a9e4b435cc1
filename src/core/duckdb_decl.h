/*
 * The part of DuckDB's C API that Sluice uses, declared by us from DuckDB's documented C
 * API (https://duckdb.org/docs/stable/clients/c/api) for the library the install script
 * pins (scripts/install-duckdb.sh: DuckDB 1.5.x, libduckdb.so from the npm package
 * @duckdb/node-bindings-linux-x64). It is not DuckDB's duckdb.h: only what src/core/duck.c
 * calls is here, and only duck.c includes it (the house rule: one adapter file per
 * third-party library).
 *
 * ABI facts this file relies on, each checked by tests/unit/test_duck.c against the real
 * library (types of every mapped column, strings inline and out of line, decimals of each
 * width, list entries, error classes):
 *   - handles are pointers to one-pointer structs; the library allocates what they point at;
 *   - duckdb_result is caller-allocated, six machine words, passed by value to fetch_chunk;
 *   - enum values are fixed by DuckDB for ABI stability (new ones only appended);
 *   - a VARCHAR/BLOB vector holds 16-byte string records: a 32-bit length, then either the
 *     bytes inline (length <= 12) or a 4-byte prefix and a pointer;
 *   - a LIST/MAP vector holds {offset, length} pairs into its child vector; a MAP is a LIST
 *     of STRUCT(key, value);
 *   - validity masks are arrays of 64-bit words, bit (row % 64) of word (row / 64) set when
 *     the row is valid; a NULL mask means every row is valid;
 *   - DECIMAL values are stored as int16/int32/int64/hugeint by width (<=4, <=9, <=18, <=38);
 *     DATE is int32 days since 1970-01-01, TIMESTAMP int64 microseconds since the epoch,
 *     TIME int64 microseconds since midnight.
 */
#ifndef SLUICE_CORE_DUCKDB_DECL_H
#define SLUICE_CORE_DUCKDB_DECL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t idx_t;

typedef enum { DuckDBSuccess = 0, DuckDBError = 1 } duckdb_state;

typedef enum DUCKDB_TYPE {
    DUCKDB_TYPE_INVALID = 0,
    DUCKDB_TYPE_BOOLEAN = 1,
    DUCKDB_TYPE_TINYINT = 2,
    DUCKDB_TYPE_SMALLINT = 3,
    DUCKDB_TYPE_INTEGER = 4,
    DUCKDB_TYPE_BIGINT = 5,
    DUCKDB_TYPE_UTINYINT = 6,
    DUCKDB_TYPE_USMALLINT = 7,
    DUCKDB_TYPE_UINTEGER = 8,
    DUCKDB_TYPE_UBIGINT = 9,
    DUCKDB_TYPE_FLOAT = 10,
    DUCKDB_TYPE_DOUBLE = 11,
    DUCKDB_TYPE_TIMESTAMP = 12,
    DUCKDB_TYPE_DATE = 13,
    DUCKDB_TYPE_TIME = 14,
    DUCKDB_TYPE_INTERVAL = 15,
    DUCKDB_TYPE_HUGEINT = 16,
    DUCKDB_TYPE_VARCHAR = 17,
    DUCKDB_TYPE_BLOB = 18,
    DUCKDB_TYPE_DECIMAL = 19,
    DUCKDB_TYPE_TIMESTAMP_S = 20,
    DUCKDB_TYPE_TIMESTAMP_MS = 21,
    DUCKDB_TYPE_TIMESTAMP_NS = 22,
    DUCKDB_TYPE_ENUM = 23,
    DUCKDB_TYPE_LIST = 24,
    DUCKDB_TYPE_STRUCT = 25,
    DUCKDB_TYPE_MAP = 26,
    DUCKDB_TYPE_UUID = 27,
    DUCKDB_TYPE_UNION = 28,
    DUCKDB_TYPE_BIT = 29,
    DUCKDB_TYPE_TIME_TZ = 30,
    DUCKDB_TYPE_TIMESTAMP_TZ = 31,
    DUCKDB_TYPE_UHUGEINT = 32,
    DUCKDB_TYPE_ARRAY = 33,
    DUCKDB_TYPE_ANY = 34,
    DUCKDB_TYPE_BIGNUM = 35,
    DUCKDB_TYPE_SQLNULL = 36,
} duckdb_type;

/* The class of a failed statement (duckdb_result_error_type). */
typedef enum {
    DUCKDB_ERROR_INVALID = 0,
    DUCKDB_ERROR_OUT_OF_RANGE = 1,
    DUCKDB_ERROR_CONVERSION = 2,
    DUCKDB_ERROR_UNKNOWN_TYPE = 3,
    DUCKDB_ERROR_DECIMAL = 4,
    DUCKDB_ERROR_MISMATCH_TYPE = 5,
    DUCKDB_ERROR_DIVIDE_BY_ZERO = 6,
    DUCKDB_ERROR_OBJECT_SIZE = 7,
    DUCKDB_ERROR_INVALID_TYPE = 8,
    DUCKDB_ERROR_SERIALIZATION = 9,
    DUCKDB_ERROR_TRANSACTION = 10,
    DUCKDB_ERROR_NOT_IMPLEMENTED = 11,
    DUCKDB_ERROR_EXPRESSION = 12,
    DUCKDB_ERROR_CATALOG = 13,
    DUCKDB_ERROR_PARSER = 14,
    DUCKDB_ERROR_PLANNER = 15,
    DUCKDB_ERROR_SCHEDULER = 16,
    DUCKDB_ERROR_EXECUTOR = 17,
    DUCKDB_ERROR_CONSTRAINT = 18,
    DUCKDB_ERROR_INDEX = 19,
    DUCKDB_ERROR_STAT = 20,
    DUCKDB_ERROR_CONNECTION = 21,
    DUCKDB_ERROR_SYNTAX = 22,
    DUCKDB_ERROR_SETTINGS = 23,
    DUCKDB_ERROR_BINDER = 24,
    DUCKDB_ERROR_NETWORK = 25,
    DUCKDB_ERROR_OPTIMIZER = 26,
    DUCKDB_ERROR_NULL_POINTER = 27,
    DUCKDB_ERROR_IO = 28,
    DUCKDB_ERROR_INTERRUPT = 29,
    DUCKDB_ERROR_FATAL = 30,
    DUCKDB_ERROR_INTERNAL = 31,
    DUCKDB_ERROR_INVALID_INPUT = 32,
    DUCKDB_ERROR_OUT_OF_MEMORY = 33,
    DUCKDB_ERROR_PERMISSION = 34,
    DUCKDB_ERROR_PARAMETER_NOT_RESOLVED = 35,
    DUCKDB_ERROR_PARAMETER_NOT_ALLOWED = 36,
    DUCKDB_ERROR_DEPENDENCY = 37,
    DUCKDB_ERROR_HTTP = 38,
    DUCKDB_ERROR_MISSING_EXTENSION = 39,
    DUCKDB_ERROR_AUTOLOAD = 40,
    DUCKDB_ERROR_SEQUENCE = 41,
    DUCKDB_INVALID_CONFIGURATION = 42,
} duckdb_error_type;

/* Opaque handles: each points at a one-pointer struct the library owns. */
typedef struct _duckdb_database {
    void *internal_ptr;
} * duckdb_database;
typedef struct _duckdb_connection {
    void *internal_ptr;
} * duckdb_connection;
typedef struct _duckdb_config {
    void *internal_ptr;
} * duckdb_config;
typedef struct _duckdb_appender {
    void *internal_ptr;
} * duckdb_appender;
typedef struct _duckdb_logical_type {
    void *internal_ptr;
} * duckdb_logical_type;
typedef struct _duckdb_data_chunk {
    void *internal_ptr;
} * duckdb_data_chunk;
typedef struct _duckdb_error_data {
    void *internal_ptr;
} * duckdb_error_data;
typedef struct _duckdb_vector {
    void *internal_ptr;
} * duckdb_vector;

/* Values as they sit in vectors. */
typedef struct {
    uint64_t lower;
    int64_t upper;
} duckdb_hugeint;

typedef struct {
    union {
        struct {
            uint32_t length;
            char prefix[4];
            char *ptr;
        } pointer;
        struct {
            uint32_t length;
            char inlined[12];
        } inlined;
    } value;
} duckdb_string_t;

typedef struct {
    uint64_t offset;
    uint64_t length;
} duckdb_list_entry;

/* A query result; allocated by the caller, filled by duckdb_query. */
typedef struct {
    idx_t deprecated_column_count;
    idx_t deprecated_row_count;
    idx_t deprecated_rows_changed;
    void *deprecated_columns;
    char *deprecated_error_message;
    void *internal_data;
} duckdb_result;

/* Library */
const char *duckdb_library_version(void);
idx_t duckdb_vector_size(void);
void duckdb_free(void *ptr);

/* Configuration, database, connection */
duckdb_state duckdb_create_config(duckdb_config *out_config);
duckdb_state duckdb_set_config(duckdb_config config, const char *name, const char *option);
void duckdb_destroy_config(duckdb_config *config);
duckdb_state duckdb_open_ext(const char *path, duckdb_database *out_database, duckdb_config config,
                             char **out_error);
void duckdb_close(duckdb_database *database);
duckdb_state duckdb_connect(duckdb_database database, duckdb_connection *out_connection);
void duckdb_interrupt(duckdb_connection connection);
void duckdb_disconnect(duckdb_connection *connection);

/* Queries and results */
duckdb_state duckdb_query(duckdb_connection connection, const char *query,
                          duckdb_result *out_result);
void duckdb_destroy_result(duckdb_result *result);
const char *duckdb_result_error(duckdb_result *result);
duckdb_error_type duckdb_result_error_type(duckdb_result *result);
idx_t duckdb_column_count(duckdb_result *result);
const char *duckdb_column_name(duckdb_result *result, idx_t col);
duckdb_logical_type duckdb_column_logical_type(duckdb_result *result, idx_t col);
idx_t duckdb_rows_changed(duckdb_result *result);
duckdb_data_chunk duckdb_fetch_chunk(duckdb_result result);

/* Logical types */
duckdb_logical_type duckdb_create_logical_type(duckdb_type type);
duckdb_logical_type duckdb_create_decimal_type(uint8_t width, uint8_t scale);
duckdb_logical_type duckdb_create_list_type(duckdb_logical_type type);
duckdb_logical_type duckdb_create_map_type(duckdb_logical_type key_type,
                                           duckdb_logical_type value_type);
duckdb_logical_type duckdb_create_struct_type(duckdb_logical_type *member_types,
                                              const char **member_names, idx_t member_count);
void duckdb_destroy_logical_type(duckdb_logical_type *type);
duckdb_type duckdb_get_type_id(duckdb_logical_type type);
uint8_t duckdb_decimal_width(duckdb_logical_type type);
uint8_t duckdb_decimal_scale(duckdb_logical_type type);
duckdb_type duckdb_decimal_internal_type(duckdb_logical_type type);
duckdb_logical_type duckdb_list_type_child_type(duckdb_logical_type type);
duckdb_logical_type duckdb_map_type_key_type(duckdb_logical_type type);
duckdb_logical_type duckdb_map_type_value_type(duckdb_logical_type type);
idx_t duckdb_struct_type_child_count(duckdb_logical_type type);
char *duckdb_struct_type_child_name(duckdb_logical_type type, idx_t index);
duckdb_logical_type duckdb_struct_type_child_type(duckdb_logical_type type, idx_t index);

/* Data chunks and vectors */
duckdb_data_chunk duckdb_create_data_chunk(duckdb_logical_type *types, idx_t column_count);
void duckdb_destroy_data_chunk(duckdb_data_chunk *chunk);
idx_t duckdb_data_chunk_get_size(duckdb_data_chunk chunk);
void duckdb_data_chunk_set_size(duckdb_data_chunk chunk, idx_t size);
duckdb_vector duckdb_data_chunk_get_vector(duckdb_data_chunk chunk, idx_t col_idx);
void *duckdb_vector_get_data(duckdb_vector vector);
uint64_t *duckdb_vector_get_validity(duckdb_vector vector);
void duckdb_vector_ensure_validity_writable(duckdb_vector vector);
void duckdb_vector_assign_string_element_len(duckdb_vector vector, idx_t index, const char *str,
                                             idx_t str_len);
duckdb_vector duckdb_list_vector_get_child(duckdb_vector vector);
idx_t duckdb_list_vector_get_size(duckdb_vector vector);
duckdb_state duckdb_list_vector_set_size(duckdb_vector vector, idx_t size);
duckdb_state duckdb_list_vector_reserve(duckdb_vector vector, idx_t required_capacity);
duckdb_vector duckdb_struct_vector_get_child(duckdb_vector vector, idx_t index);
void duckdb_validity_set_row_invalid(uint64_t *validity, idx_t row);

/* Error data (the appender reports its failures this way) */
duckdb_error_type duckdb_error_data_error_type(duckdb_error_data error_data);
const char *duckdb_error_data_message(duckdb_error_data error_data);
void duckdb_destroy_error_data(duckdb_error_data *error_data);

/* Appender */
duckdb_state duckdb_appender_create(duckdb_connection connection, const char *schema,
                                    const char *table, duckdb_appender *out_appender);
duckdb_state duckdb_appender_create_ext(duckdb_connection connection, const char *catalog,
                                        const char *schema, const char *table,
                                        duckdb_appender *out_appender);
const char *duckdb_appender_error(duckdb_appender appender);
duckdb_error_data duckdb_appender_error_data(duckdb_appender appender);
duckdb_state duckdb_append_data_chunk(duckdb_appender appender, duckdb_data_chunk chunk);
duckdb_state duckdb_appender_flush(duckdb_appender appender);
duckdb_state duckdb_appender_close(duckdb_appender appender);
duckdb_state duckdb_appender_destroy(duckdb_appender *appender);

#endif
