/*
 * The Lambda transform's wire: Firehose's transformation event, the function's answer,
 * and the HTTP POST that stands in for Lambda's Invoke (there is no Lambda service here:
 * `--lambda NAME=URL` names a local HTTP endpoint per function). Pure functions but for
 * lambda_http_post; no engine state.
 *
 * Event (aws-firehose-athena.md §7):
 *   {"invocationId", "deliveryStreamArn", "sourceKinesisStreamArn"?, "region",
 *    "records": [{"recordId", "approximateArrivalTimestamp", "data",
 *                 "kinesisRecordMetadata"?: {"shardId", "partitionKey",
 *                    "approximateArrivalTimestamp", "sequenceNumber", "subsequenceNumber"}}]}
 * Answer: {"records": [{"recordId", "result": Ok|Dropped|ProcessingFailed, "data",
 *                       "metadata"?: {"partitionKeys": {k: v}}}]}, each recordId once.
 *
 * A record id is the record's index in the invocation, in decimal.
 */
#ifndef SLUICE_DELIVERY_LAMBDA_H
#define SLUICE_DELIVERY_LAMBDA_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

/* Error codes of a failed transform, as Firehose writes them in processing-failed. */
#define LAMBDA_E_FUNCTION "Lambda.FunctionError"
#define LAMBDA_E_JSON "Lambda.JsonProcessingException"
#define LAMBDA_E_MISSING_ID "Lambda.MissingRecordId"
#define LAMBDA_E_DUPLICATED_ID "Lambda.DuplicatedRecordId"
#define LAMBDA_E_NOT_FOUND "Lambda.ResourceNotFound"
#define LAMBDA_E_PROCESSING_FAILED "Lambda.ProcessingFailedStatus"

#define LAMBDA_PAYLOAD_MAX (6 * 1024 * 1024) /* Lambda's synchronous payload limit */

/* One record of an invocation. */
struct lambda_in {
    const uint8_t *data;
    size_t len;
    int64_t arrival_ms;
    /* Kinesis source only (shard_id NULL otherwise): */
    const char *shard_id;
    const char *pk;
    size_t pk_len;
    const char *seqno;
    uint32_t sub; /* subsequenceNumber */
};

/* Appends the event of an invocation to out. source_arn is NULL for DirectPut. */
void lambda_event_build(struct buf *out, const char *invocation_id, const char *stream_arn,
                        const char *source_arn, const char *region, const struct lambda_in *recs,
                        size_t n);
/* The bytes one record adds to an event (for batching within the payload limit). */
size_t lambda_event_record_size(const struct lambda_in *r);

enum lambda_result { LAMBDA_OK, LAMBDA_DROPPED, LAMBDA_FAILED };

/* What the function made of one record. */
struct lambda_out {
    enum lambda_result result;
    uint8_t *data; /* Ok: the new bytes (owned) */
    size_t len;
    json_t *keys; /* Ok: metadata.partitionKeys (a reference), or NULL */
};

/*
 * Parses the answer to an invocation of n records into out (n entries, in the
 * invocation's order; free with lambda_out_fini). Returns 0, or -1 with *code (one of
 * LAMBDA_E_JSON, _MISSING_ID, _DUPLICATED_ID: the whole batch failed) and err's message.
 */
int lambda_response_parse(const char *body, size_t len, size_t n, struct lambda_out *out,
                          const char **code, struct err_info *err);
void lambda_out_fini(struct lambda_out *out, size_t n);

/*
 * The function name of a LambdaArn: arn:aws:lambda:<region>:<acct>:function:<name>[:<q>],
 * or a bare name. Copies it into name (size bytes); 0, or -1 when it is neither.
 */
int lambda_function_name(const char *arn, char *name, size_t size);

/*
 * POSTs body to url (http://host[:port][/path]) with Content-Type application/json and
 * reads the answer: *status and its body (resp). timeout_ms bounds each wait; cancel (may
 * be NULL) is asked every quarter second and stops the call when it returns nonzero.
 * Returns 0 (any status), or -1 with the reason in err (bad URL, connection refused,
 * timed out, cancelled, a malformed answer).
 */
int lambda_http_post(const char *url, const char *body, size_t len, int64_t timeout_ms,
                     int (*cancel)(void *), void *cancel_arg, int *status, struct buf *resp,
                     struct err_info *err);

#endif
