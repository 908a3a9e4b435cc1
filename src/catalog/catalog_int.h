/*
 * Internals shared by the catalog's files (never included from another folder).
 *
 * The service operations take and return documents in Glue's own shapes (jansson
 * json_t), since a catalog object *is* such a document: TableInput and PartitionInput
 * are kept as given and returned with the fields Glue adds. Every operation has the
 * signature catalog_op_fn: it takes its own lock, reads `in` (borrowed), sets *out to a
 * new reference on success, and on failure returns a negative code with Glue's message
 * in err.
 */
#ifndef SLUICE_CATALOG_INT_H
#define SLUICE_CATALOG_INT_H

#include <jansson.h>

#include "catalog/catalog.h"
#include "core/buf.h"

struct catalog {
    struct store *st; /* shared metadata store; not owned */
    char default_region[32];
    char default_account[16];
    int64_t request_budget_ms;      /* how long one request may scan (catalog_options) */
    int64_t (*clock_ms)(void *arg); /* monotonic milliseconds (catalog_options) */
    void *clock_arg;
};

/* The catalog's monotonic clock, in milliseconds. */
int64_t catalog__now_ms(const struct catalog *cat);

typedef int (*catalog_op_fn)(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                             json_t **out, struct err_info *err);

/* ---- helpers (catalog.c) ---- */
/* A copy of s lower-cased (ASCII); caller frees. */
char *catalog__lower(const char *s);
/* Validates a Glue name (1..255 chars, single line); field names the parameter. */
int catalog__check_name(const char *name, const char *field, struct err_info *err);
/* The string member key of obj, NULL when absent or not a string. */
const char *catalog__str(const json_t *obj, const char *key);
/* Epoch seconds with fraction, as JSON 1.1 timestamps are rendered. */
json_t *catalog__time(int64_t ms);
/* Compact serialisation of a document for storage; caller frees. */
char *catalog__dump(const json_t *doc);
/* Parses a stored document; NULL (and a logged corruption) when it does not parse. */
json_t *catalog__load(const char *text);
/* Paging token <-> row id. */
json_t *catalog__token(int64_t last_id);
int catalog__token_parse(const json_t *in, int64_t *last_id, struct err_info *err);
/* MaxResults from in, within [1, max], default dflt. */
int catalog__max_results(const json_t *in, int max, int dflt, struct err_info *err);
/* Maps a store failure to an error with a generic message. */
int catalog__store_err(struct err_info *err, int rc);
/* The outcome of a store_run (rc) that must change a row: 0 when it did; a store failure
 * becomes the generic error, and no row changed the error code with message fmt. */
int catalog__changed(struct catalog *cat, int rc, struct err_info *err, int code, const char *fmt,
                     ...) __attribute__((format(printf, 5, 6)));
/* Ends a write begun with store_lock and store_begin: commits when rc is 0, else rolls
 * back (a store failure that set no error yet gets the generic one); then unlocks.
 * Returns 0, or the error's code. */
int catalog__write_end(struct catalog *cat, int rc, struct err_info *err);
/* A page of a listing by row id: MaxResults and NextToken from the input, the items
 * gathered, and whether rows remain after them. */
struct catalog_page {
    int max;       /* MaxResults */
    int64_t after; /* the row id the page starts after (NextToken), 0 for the first */
    json_t *list;  /* the items, NULL until the first */
    int64_t last;  /* the row id of the last item */
    int more;      /* 1 when rows remain after the page */
};
/* Reads MaxResults (1..max, dflt when absent) and NextToken; 0 or the error's code. */
int catalog__page_start(struct catalog_page *pg, const json_t *in, int max, int dflt,
                        struct err_info *err);
/* 1 when the page has room for the row id (then its last), 0 when it is full: rows remain. */
int catalog__page_room(struct catalog_page *pg, int64_t id);
/* Adds an item (NULL: nothing) to the page. */
void catalog__page_add(struct catalog_page *pg, json_t *item);
/* Ends a listing (catalog__list_out with the page's items, NextToken and rc). */
int catalog__page_end(struct catalog_page *pg, int rc, const char *key, json_t **out);
/* Ends an operation that answers with a list: when rc is 0, *out = {key: list}, with a
 * NextToken after row id last when more rows follow; else list is dropped. Returns rc. */
int catalog__list_out(int rc, json_t *list, const char *key, int more, int64_t last, json_t **out);

/* The most partition keys a table may have. Glue documents no quota on the number of
 * partition keys of a Data Catalog table (only 10 partition columns for zero-ETL
 * integration targets), so this is Sluice's own bound: the most values a partition key
 * splits into and an expression evaluates. CreateTable and UpdateTable refuse more
 * with InvalidInputException, since no partition could then be created. */
#define CATALOG_MAX_PARTITION_KEYS 128

/* ---- Hive types (catalog_types.c) ---- */
/* Checks every Column's Type in a JSON array of Column (NULL is fine). */
int catalog__columns_check(const json_t *columns, const char *what, struct err_info *err);

/* ---- partition expressions (catalog_expr.c) ---- */
enum catalog_key_kind {
    CATALOG_KEY_STRING,    /* string, char, varchar and anything unknown: byte order */
    CATALOG_KEY_INT,       /* tinyint .. bigint: compared as 64-bit integers */
    CATALOG_KEY_NUMBER,    /* float, double, decimal: compared as doubles */
    CATALOG_KEY_DATE,      /* date: yyyy-mm-dd compared as a day number */
    CATALOG_KEY_BOOL,      /* boolean: true/false */
    CATALOG_KEY_TIMESTAMP, /* timestamp: yyyy-mm-dd[( |T)hh:mm:ss[.fffffffff]] in time order */
};
struct catalog_expr;
/* Compiles text against the partition keys (names lower-case, kinds). Returns 0 or
 * SL_E(INVALID_INPUT) with the reason. *out is freed with catalog__expr_free. */
int catalog__expr_compile(const char *text, const char *const *key_names,
                          const enum catalog_key_kind *key_kinds, size_t n_keys,
                          struct catalog_expr **out, struct err_info *err);
/* 1 when the partition values satisfy the expression, 0 when not. A value that does not
 * parse as its key's type makes every comparison on it false. */
int catalog__expr_eval(const struct catalog_expr *e, const char *const *values,
                       const size_t *value_lens, size_t n_values);
void catalog__expr_free(struct catalog_expr *e);
/* The canonical ckey prefixes implied by the expression: its top-level AND terms that
 * pin keys 0, 1, ... k-1 to literals (an equality or an IN list, in string, integer or
 * date comparisons), at most max prefixes (the product of the alternatives), without
 * duplicates. Every partition the expression selects has a ckey that starts with one of
 * them, and no ckey starts with two. Returns k; when k > 0, *out is an array of *n_out
 * strings the caller frees (each and the array); when 0, no pruning and *out NULL. */
size_t catalog__expr_prefixes(const struct catalog_expr *e, size_t n_keys, size_t max, char ***out,
                              size_t *n_out);
enum catalog_key_kind catalog__key_kind(const char *hive_type);

/* ---- LIKE patterns (catalog_like.c) ---- */
struct catalog_like;
/* Compiles a LIKE pattern of m bytes (% any run, _ one byte); never NULL. Freed with
 * catalog__like_free (which accepts NULL). */
struct catalog_like *catalog__like_compile(const char *pat, size_t m);
/* 1 when the n bytes of s match the whole pattern, else 0. Linear in n (see the file). */
int catalog__like_match(const struct catalog_like *lk, const char *s, size_t n);
void catalog__like_free(struct catalog_like *lk);

/* ---- values key: how partition values are kept as one unique text ---- */
/* Encodes values as "<len>:<bytes>" repeated; caller frees. */
char *catalog__vkey_encode(const json_t *values);
/* The same encoding with each value in canonical form (catalog.c's header). */
char *catalog__ckey_encode(const json_t *values);
/* Appends the canonical "<len>:<text>" of one value to out. */
void catalog__canon(const char *s, size_t len, struct buf *out);
/* Splits an encoded key into at most max pointers/lengths (not NUL-terminated).
 * Returns the count, or -1 when the key is malformed. */
int catalog__vkey_split(const char *vkey, const char **vals, size_t *lens, size_t max);

/* ---- Data Catalog operations (catalog_db.c, catalog_part.c, catalog_misc.c) ---- */
/* clang-format off */
#define CATALOG_OPS(X)                                                                             \
    X(CreateDatabase) X(GetDatabase) X(GetDatabases) X(UpdateDatabase) X(DeleteDatabase)           \
    X(CreateTable) X(GetTable) X(GetTables) X(UpdateTable) X(DeleteTable) X(BatchDeleteTable)      \
    X(GetTableVersions) X(GetTableVersion) X(DeleteTableVersion) X(BatchDeleteTableVersion)        \
    X(SearchTables)                                                                                \
    X(CreatePartition) X(BatchCreatePartition) X(GetPartition) X(GetPartitions)                    \
    X(BatchGetPartition) X(UpdatePartition) X(BatchUpdatePartition) X(DeletePartition)             \
    X(BatchDeletePartition) X(CreatePartitionIndex) X(GetPartitionIndexes)                         \
    X(DeletePartitionIndex)                                                                        \
    X(TagResource) X(UntagResource) X(GetTags)                                                     \
    X(CreateRegistry) X(GetRegistry) X(ListRegistries) X(UpdateRegistry) X(DeleteRegistry)         \
    X(CreateSchema) X(GetSchema) X(ListSchemas) X(UpdateSchema) X(DeleteSchema)                    \
    X(RegisterSchemaVersion) X(GetSchemaVersion) X(ListSchemaVersions)                             \
    X(GetSchemaByDefinition) X(GetSchemaVersionsDiff) X(DeleteSchemaVersions)                      \
    X(CheckSchemaVersionValidity) X(PutSchemaVersionMetadata) X(QuerySchemaVersionMetadata)        \
    X(RemoveSchemaVersionMetadata)
/* clang-format on */

#define CATALOG_OP_DECL(name)                                                                      \
    int catalog__op_##name(struct catalog *cat, const struct catalog_scope *sc, json_t *in,        \
                           json_t **out, struct err_info *err);
CATALOG_OPS(CATALOG_OP_DECL)
#undef CATALOG_OP_DECL

/* Finds db.table (names in any case); sets *table_id and, when doc is not NULL, the
 * stored TableInput (a new reference). Caller holds a read bracket or the lock. ENTITY_NOT_FOUND.
 */
int catalog__table_find(struct catalog *cat, const struct catalog_scope *sc, const char *db_name,
                        const char *tbl_name, int64_t *table_id, json_t **doc,
                        struct err_info *err);

/* Tags given at creation (a {key: value} object), stored for arn. Caller holds the lock. */
int catalog__tags_put_locked(struct catalog *cat, const char *arn, const json_t *tags,
                             struct err_info *err);
/* Removes every tag of arn. Caller holds the lock. */
void catalog__tags_drop_locked(struct catalog *cat, const char *arn);

/* ---- schema formats (catalog_avro.c, catalog_jsonschema.c, catalog_proto.c) ---- */
/* Each validates a definition (0 or SL_E(INVALID_INPUT) with the reason), and checks
 * that data written with `writer` can be read with `reader` (0 when it can,
 * SL_E(INVALID_INPUT) with the reason when it cannot or cannot be shown). */
int catalog__avro_validate(const char *def, struct err_info *err);
int catalog__avro_compatible(const char *reader, const char *writer, struct err_info *err);
int catalog__jsonschema_validate(const char *def, struct err_info *err);
int catalog__jsonschema_compatible(const char *reader, const char *writer, struct err_info *err);
int catalog__proto_validate(const char *def, struct err_info *err);
int catalog__proto_compatible(const char *reader, const char *writer, struct err_info *err);

#endif
