/*
 * Dynamic partitioning: a record's partition keys, and a prefix evaluated with them.
 *
 * Pure functions of delivery: no I/O, no locks, no engine state. The engine calls them in
 * AWS's pipeline order (de-aggregation -> transform -> partitioning -> conversion):
 *
 *   extractor   the MetadataExtraction processor of a delivery stream, compiled once:
 *               MetadataExtractionQuery (a jq 1.6 program) with JsonParsingEngine JQ-1.6.
 *               One per thread (it holds a jq_state; see core/jq.h for the bounds a
 *               query is held to and why).
 *   keys        one record's keys: those the query yields (partitionKeyFromQuery) and
 *               those a transform returned in metadata.partitionKeys
 *               (partitionKeyFromLambda).
 *   prefix      a Prefix with !{partitionKeyFromQuery:k} and !{partitionKeyFromLambda:k}
 *               replaced by the record's values. Every other expression (!{timestamp:..},
 *               !{firehose:..}) is copied unchanged for delivery's key layout to evaluate
 *               next; a value can never introduce one (values holding "!{" are refused).
 *   set         the distinct evaluated prefixes of a delivery stream's open buffers, for
 *               the active-partition limit (500 by default; excess -> activePartitionExceeded).
 *
 * A record whose keys cannot be had goes to the error prefix under the error-output type
 * AWS writes (aws-firehose-athena.md §4): PARTITION_ERROR_EXTRACTION when the record is
 * not JSON, the query fails, yields nothing, a non-object, or a key the prefix names is
 * missing, null or not a scalar; PARTITION_ERROR_PARTITIONING when a key the prefix names
 * is missing from the transform's partitionKeys. Functions that fail a record return
 * SL_E(INVALID_INPUT), set *error_type (OUT) to one of these (static strings) and put the
 * reason in err.
 *
 * Values: strings as they are, numbers as jq prints them, booleans true/false. A value may
 * hold '/' (it then spans several prefix levels, as on AWS), but it is refused when it
 * holds a control character or "!{", when the evaluated prefix would hold a "." or ".."
 * path segment (no key may climb out of the prefix), or when the evaluated prefix is
 * longer than PARTITION_PREFIX_MAX_LEN.
 */
#ifndef SLUICE_DELIVERY_PARTITION_H
#define SLUICE_DELIVERY_PARTITION_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/jq.h"

#define PARTITION_ERROR_EXTRACTION "metadata-extraction-failed"
#define PARTITION_ERROR_PARTITIONING "partitioning-failed"
#define PARTITION_ERROR_ACTIVE_EXCEEDED "activePartitionExceeded"
#define PARTITION_PREFIX_MAX_LEN 512 /* an evaluated prefix, AWS's limit */
#define PARTITION_ACTIVE_DEFAULT 500 /* active partitions per delivery stream by default */

struct partition_extractor;

/*
 * Compiles a MetadataExtraction processor's parameters: query (query_len bytes) and
 * engine, the JsonParsingEngine value (NUL-terminated; NULL when absent, which is refused
 * as AWS requires it). *out (OUT) is the caller's, freed with partition_extractor_destroy.
 * Returns 0, SL_E(INVALID_ARGUMENT) (engine other than "JQ-1.6", or the query refused or
 * invalid, err says why: fit for a CreateDeliveryStream answer), or SL_E(NOMEM).
 */
int partition_extractor_create(const char *query, size_t query_len, const char *engine,
                               struct partition_extractor **out, struct err_info *err);
void partition_extractor_destroy(struct partition_extractor *x); /* NULL is fine */

/* One key from a transform's metadata.partitionKeys. */
struct partition_lambda_kv {
    char *key;        /* NUL-terminated, owned by the keys */
    char *value;      /* NUL-terminated, owned by the keys */
    size_t key_len;   /* bytes, without the NUL */
    size_t value_len; /* bytes, without the NUL */
};

/* One record's partition keys. Zero it (or partition_keys_init) before first use. */
struct partition_keys {
    struct jq_result query;                         /* partitionKeyFromQuery */
    size_t n_lambda;                                /* partitionKeyFromLambda keys held */
    struct partition_lambda_kv lambda[JQ_MAX_KEYS]; /* the first n_lambda are valid */
};

void partition_keys_init(struct partition_keys *k);
/* Frees what k owns and empties it; safe to call twice. */
void partition_keys_fini(struct partition_keys *k);

/*
 * Runs x on one record (rec, rec_len bytes) into keys->query (replacing what was there).
 * Returns 0; SL_E(INVALID_INPUT) with *error_type = PARTITION_ERROR_EXTRACTION and the
 * reason in err; or SL_E(NOMEM) (the record is not at fault; retry it).
 */
int partition_keys_extract(struct partition_extractor *x, const char *rec, size_t rec_len,
                           struct partition_keys *keys, const char **error_type,
                           struct err_info *err);

/*
 * Adds one partitionKeyFromLambda key (copied). A key given twice keeps the last value.
 * Returns 0, SL_E(INVALID_INPUT) (more than JQ_MAX_KEYS keys, or a value longer than
 * JQ_VALUE_MAX_LEN) with *error_type = PARTITION_ERROR_PARTITIONING, or SL_E(NOMEM).
 */
int partition_keys_add_lambda(struct partition_keys *keys, const char *key, size_t key_len,
                              const char *value, size_t value_len, const char **error_type,
                              struct err_info *err);

/*
 * Appends to out the prefix template (prefix_len bytes) with its partitionKeyFromQuery and
 * partitionKeyFromLambda expressions replaced by keys' values (keys may be NULL when the
 * template has none); other text and expressions are copied as they are. out is reset
 * first. Returns 0; SL_E(INVALID_INPUT) with *error_type and err (a missing or refused
 * value, a "."/".." segment, a result over PARTITION_PREFIX_MAX_LEN); SL_E(NOMEM).
 */
int partition_prefix_expand(const char *prefix, size_t prefix_len,
                            const struct partition_keys *keys, struct buf *out,
                            const char **error_type, struct err_info *err);

/* ---- Active partitions ---- */

/* The distinct prefixes of open buffers. Caller-embedded; not thread-safe. */
struct partition_set {
    char **slots;    /* open-addressing table of owned NUL-terminated prefixes, NULL = empty */
    size_t n_slots;  /* table size, a power of two, 0 before the first add */
    size_t n_active; /* prefixes held */
    size_t limit;    /* most prefixes held at once */
};

/* limit: the stream's active-partition quota (PARTITION_ACTIVE_DEFAULT unless raised). */
void partition_set_init(struct partition_set *s, size_t limit);
void partition_set_fini(struct partition_set *s);

/*
 * Adds prefix (len bytes) unless held. *is_new (OUT) says whether it was added. Returns 0,
 * SL_E(LIMIT_EXCEEDED) when it is new and limit prefixes are held already (the record goes
 * to PARTITION_ERROR_ACTIVE_EXCEEDED), or SL_E(NOMEM).
 */
int partition_set_add(struct partition_set *s, const char *prefix, size_t len, bool *is_new);
/* Whether prefix is held. */
bool partition_set_has(const struct partition_set *s, const char *prefix, size_t len);
/* Forgets prefix (its buffer was delivered); returns whether it was held. */
bool partition_set_remove(struct partition_set *s, const char *prefix, size_t len);

#endif
