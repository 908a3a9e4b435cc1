/*
 * Record de-aggregation, the first stages of Firehose's pipeline (aws-firehose-athena.md
 * §4: KPL de-aggregation -> JSON/delimited RecordDeAggregation -> Lambda -> partitioning).
 * Pure functions: no I/O, no locks.
 *
 *   KPL        a Kinesis record written by the Kinesis Producer Library with aggregation:
 *              the magic F3 89 9A C2, a protobuf AggregatedRecord, the MD5 of that
 *              protobuf (16 bytes). Each user record (Record.data) becomes one record with
 *              the partition key of its table entry and its sub-sequence number (its place
 *              in the aggregate). As the KCL does, anything that is not a well-formed
 *              aggregate (no magic, a bad MD5, protobuf that does not parse, an index out
 *              of its table) is one plain record, passed through unchanged.
 *   JSON       RecordDeAggregation SubRecordType JSON: a record of JSON objects back to
 *              back (`{"a":1}{"a":2}`, or one a line) becomes one record per object.
 *   DELIMITED  SubRecordType DELIMITED: the record split at each Delimiter (given to the
 *              API base64-encoded, decoded by the caller); empty pieces are dropped.
 *
 * AWS caps JSON and delimited de-aggregation at 500 sub-records a record. A record that
 * cannot be split (not a run of JSON objects, more than 500 pieces) is passed through
 * whole: AWS does not document what it does with one, and a record is never lost here.
 */
#ifndef SLUICE_DELIVERY_DEAGG_H
#define SLUICE_DELIVERY_DEAGG_H

#include <stddef.h>
#include <stdint.h>

#define DEAGG_KPL_MAGIC "\xF3\x89\x9A\xC2"
#define DEAGG_SUB_RECORDS_MAX 500

/*
 * Receives one sub-record: its bytes, the partition key (KPL; NULL otherwise) and its
 * sub-sequence number (its index in the aggregate). Returns 0 or a negative error that
 * stops the split and is returned.
 */
typedef int (*deagg_emit_fn)(void *arg, const uint8_t *data, size_t len, const char *pk,
                             size_t pk_len, uint32_t sub);

/* Whether data starts with the KPL magic (a candidate aggregate). */
int deagg_kpl_magic(const uint8_t *data, size_t len);

/*
 * De-aggregates one KPL record. Returns 1 when it is a well-formed aggregate (each user
 * record emitted, in order), 0 when it is not (nothing emitted: the caller keeps the
 * record whole), or emit's error.
 */
int deagg_kpl(const uint8_t *data, size_t len, deagg_emit_fn emit, void *arg);

/*
 * Splits a record of back-to-back JSON objects (whitespace between them allowed). Returns
 * 1 when split (each object emitted with sub = its index), 0 when the record is not such a
 * run or holds more than DEAGG_SUB_RECORDS_MAX objects (nothing emitted), or emit's error.
 * Objects are found by their braces, strings and escapes; their content is not validated.
 */
int deagg_json(const uint8_t *data, size_t len, deagg_emit_fn emit, void *arg);

/* Splits at each occurrence of delim (delim_len > 0). Returns as deagg_json does. */
int deagg_delimited(const uint8_t *data, size_t len, const uint8_t *delim, size_t delim_len,
                    deagg_emit_fn emit, void *arg);

#endif
