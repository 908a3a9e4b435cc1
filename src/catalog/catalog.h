/*
 * The catalog: Glue Data Catalog (databases, tables, table versions, partitions) and the
 * Glue Schema Registry, kept in the shared metadata store.
 *
 * This is the part's public face for in-process callers (Firehose reads a table's
 * columns to convert records; Athena resolves tables and prunes partitions). It is plain
 * C: no HTTP, no JSON. The Glue API adapter (glue_api.h) sits on the same service.
 *
 * Names of databases and tables are case-insensitive and kept lower-case, as Glue does.
 * Every resource lives in one (region, account) scope.
 *
 * Thread safety: a catalog may be used from any thread. Reads run in a read bracket
 * of the store (store_read_begin), so they wait neither for writes nor for other
 * reads; writes take the store's lock for their unit of work. No callback given to a
 * catalog function runs under either: a callback may call into the catalog, the lake
 * or a stream.
 */
#ifndef SLUICE_CATALOG_CATALOG_H
#define SLUICE_CATALOG_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/err.h"
#include "core/store.h"

struct catalog;

/* Opens the catalog on st (which must outlive it) and runs the part's migrations.
 * Returns 0, or a negative code when the store cannot be migrated. */
int catalog_open(struct store *st, const struct sluice_config *cfg, struct catalog **out);
/* Accepts NULL. Does not close the store. */
void catalog_close(struct catalog *cat);

#define CATALOG_REQUEST_BUDGET_MS_DEFAULT 5000

/* Limits and seams of one catalog. catalog_open starts with the defaults. */
struct catalog_options {
    /* How long one request may spend scanning partitions (GetPartitions, one page of
     * catalog_partition_scan) before it stops with OperationTimeoutException, as Glue
     * does; CATALOG_REQUEST_BUDGET_MS_DEFAULT when 0 or negative. */
    int64_t request_budget_ms;
    /* A monotonic clock in milliseconds, called with clock_arg; NULL for the system's.
     * Tests inject one that jumps. */
    int64_t (*clock_ms)(void *clock_arg);
    void *clock_arg;
};
/* Applies opt (copied). Call before the catalog is shared between threads. */
void catalog_options_set(struct catalog *cat, const struct catalog_options *opt);

/* The (region, account) a call acts in. */
struct catalog_scope {
    const char *region;
    const char *account_id;
};

struct catalog_column {
    char *name;    /* as the table gives it */
    char *type;    /* Hive type text, e.g. "array<struct<a:int>>"; "" when not given */
    char *comment; /* NULL when none */
};

struct catalog_param {
    char *key;
    char *value;
};

/* What a reader of a table needs: columns, partition keys, location and formats.
 * Ownership: a description returned by catalog_table_describe* owns every string and
 * array in it, all freed by catalog_table_desc_destroy. One a caller fills in for
 * catalog_table_create stays the caller's; the catalog only reads it during the call. */
struct catalog_table_desc {
    char *database;
    char *name;
    char *table_type;    /* "EXTERNAL_TABLE", ...; NULL when none */
    char *location;      /* StorageDescriptor.Location; NULL when none */
    char *input_format;  /* NULL when none */
    char *output_format; /* NULL when none */
    char *serde_library; /* SerdeInfo.SerializationLibrary; NULL when none */
    struct catalog_column *columns;
    size_t n_columns;
    struct catalog_column *partition_keys;
    size_t n_partition_keys;
    struct catalog_param *parameters; /* the table's Parameters */
    size_t n_parameters;
    struct catalog_param *serde_parameters; /* SerdeInfo.Parameters */
    size_t n_serde_parameters;
    /* StorageDescriptor.NumberOfBuckets and BucketColumns; used by catalog_table_create
     * (a description gives NumberOfBuckets, < 1 when not bucketed, and leaves the
     * columns NULL) */
    int n_buckets;
    char **bucket_columns;
    size_t n_bucket_columns;
    int64_t version_id; /* the version described, 1-based */
    int64_t update_time_ms;
};

/* Describes db.table. *out is the caller's, freed with catalog_table_desc_destroy.
 * Returns 0, SL_E(ENTITY_NOT_FOUND) (database or table), SL_E(CORRUPT). */
int catalog_table_describe(struct catalog *cat, const struct catalog_scope *scope,
                           const char *database, const char *table, struct catalog_table_desc **out,
                           struct err_info *err);
/* The same for one version of the table (0: the current one), as Firehose's
 * SchemaConfiguration.VersionId asks. SL_E(ENTITY_NOT_FOUND) when it does not exist. */
int catalog_table_describe_version(struct catalog *cat, const struct catalog_scope *scope,
                                   const char *database, const char *table, int64_t version_id,
                                   struct catalog_table_desc **out, struct err_info *err);
void catalog_table_desc_destroy(struct catalog_table_desc *desc);

/* Creates a table from desc: database, name, table_type, location, input_format,
 * output_format, serde_library, columns, partition_keys, parameters, serde_parameters and
 * the buckets are used (NULL fields are left out; version_id and update_time_ms are
 * ignored). The database must exist. Returns 0, SL_E(ENTITY_NOT_FOUND),
 * SL_E(ALREADY_EXISTS), SL_E(INVALID_INPUT) (a name or a Hive column type),
 * SL_E(RESOURCE_NUMBER_LIMIT). */
int catalog_table_create(struct catalog *cat, const struct catalog_scope *scope,
                         const struct catalog_table_desc *desc, struct err_info *err);
/* Deletes db.table with its versions and partitions. 0 or SL_E(ENTITY_NOT_FOUND). */
int catalog_table_delete(struct catalog *cat, const struct catalog_scope *scope,
                         const char *database, const char *table, struct err_info *err);
/* Creates database name unless it exists. 0 or SL_E(INVALID_INPUT) (a bad name). */
int catalog_database_ensure(struct catalog *cat, const struct catalog_scope *scope,
                            const char *name, struct err_info *err);

/* Called with each name a listing finds (valid during the call); non-zero stops it. */
typedef int (*catalog_name_fn)(void *arg, const char *name);
/* Lists the scope's databases, in creation order. Returns 0 or fn's non-zero result. */
int catalog_database_list(struct catalog *cat, const struct catalog_scope *scope,
                          catalog_name_fn fn, void *arg, struct err_info *err);
/* Lists a database's tables, in creation order. Returns 0, fn's non-zero result or
 * SL_E(ENTITY_NOT_FOUND). */
int catalog_table_list(struct catalog *cat, const struct catalog_scope *scope, const char *database,
                       catalog_name_fn fn, void *arg, struct err_info *err);

/* Registers a partition with the table's storage descriptor and location (as
 * Firehose does after writing an object under a new prefix). An existing partition
 * with the same values is left as it is and 0 is returned. Returns 0,
 * SL_E(ENTITY_NOT_FOUND), SL_E(INVALID_INPUT) (value count differs from the table's
 * partition keys). */
int catalog_partition_ensure(struct catalog *cat, const struct catalog_scope *scope,
                             const char *database, const char *table, const char *const *values,
                             size_t n_values, const char *location, struct err_info *err);

/* Called for each partition a scan selects; values are valid during the call only.
 * Return 0 to go on, anything else to stop the scan with that value. */
typedef int (*catalog_partition_fn)(void *arg, const char *const *values, size_t n_values,
                                    const char *location);

/* Calls fn for every partition of db.table that satisfies expression (Glue's
 * GetPartitions expression language; NULL or "" selects all), in creation order. fn
 * runs under no lock and may call into the catalog, even to change db.table; the scan
 * reads in pages, so a change shows in the pages read after it. Returns 0, fn's non-zero
 * result, SL_E(ENTITY_NOT_FOUND), SL_E(INVALID_INPUT) (bad expression),
 * SL_E(OPERATION_TIMEOUT) (one page ran past the request budget). */
int catalog_partition_scan(struct catalog *cat, const struct catalog_scope *scope,
                           const char *database, const char *table, const char *expression,
                           catalog_partition_fn fn, void *arg, struct err_info *err);

/* Checks that a Hive column type is well formed (nested types included).
 * Returns 0 or SL_E(INVALID_INPUT) with the reason in err. */
int catalog_hive_type_check(const char *type, struct err_info *err);

#endif
