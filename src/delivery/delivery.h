/*
 * Delivery (Amazon Data Firehose): delivery streams that buffer records and land them as
 * objects in the lake.
 *
 * The service owns every delivery stream of the account: their configuration in the
 * metadata store (part "delivery"), the internal log of each DirectPut stream under
 * DIR/delivery/<id>/ (a segment log: a record is durable when PutRecord(Batch) answers),
 * and the engine's threads. The Firehose API adapter (firehose_api.h) is the only other
 * code that reaches its internals; everything else uses the functions below.
 *
 * Delivery stream states, as DescribeDeliveryStream shows them:
 *
 *   create ─▶ CREATING ──(transition time)──▶ ACTIVE ──delete──▶ (gone)
 *
 * The engine, per delivery stream:
 *
 *   sources ──▶ reader thread per source ──▶ buffer ──▶ flusher thread ──▶ lake object
 *   (DirectPut: the internal log;            (bytes,     (size or interval reached, or a
 *    KinesisStreamAsSource: every shard       bounded by   flush request; compress, name,
 *    through stream.h, from LATEST)           SizeInMBs)   write with retries, then move
 *                                                          the positions in the store)
 *
 * With DataFormatConversionConfiguration the flusher converts instead of compressing
 * (convert_engine.c): the good records become one Parquet object, the others one
 * format-conversion-failed error object, and the positions move after both are in the lake.
 *
 * A source's position (the next record index to deliver) is kept in the store and moves
 * only after every record before it is durable in the lake, so a restart or a kill -9
 * delivers again at worst (at-least-once), never loses an acknowledged record.
 *
 * Threads and locks: every function may be called from any thread. The engine never
 * holds a lock of this part while it calls the lake, the stream service or the store.
 *
 * Errors: functions returning int return 0 or a negative code of core/err.h.
 */
#ifndef SLUICE_DELIVERY_DELIVERY_H
#define SLUICE_DELIVERY_DELIVERY_H

#include <stdint.h>

#include "core/config.h"
#include "core/store.h"
#include "lake/lake.h"
#include "stream/stream.h"

struct delivery_service;

/* The service's clock: milliseconds since the epoch. Tests inject their own. */
typedef int64_t (*delivery_clock_fn)(void *arg);

struct delivery_service_options {
    struct store *store;             /* borrowed; outlives the service */
    const struct sluice_config *cfg; /* borrowed; outlives the service */
    struct stream_service *streams;  /* borrowed; the Kinesis sources */
    struct lake *lake;               /* borrowed; where objects land */
    delivery_clock_fn now_ms;        /* NULL: the wall clock */
    void *clock_arg;
    int64_t retry_base_ms; /* first backoff after a failed object write; 0 = 500 ms */
    int max_streams;       /* delivery streams per region; 0 = AWS's default quota, 5,000 */
};

/*
 * Applies the "delivery" migrations, opens every delivery stream recorded in the store
 * (recovering DirectPut logs) and starts their engines. *out (OUT) is closed with
 * delivery_service_close. Returns 0, -errno, SL_E(CORRUPT), a store error.
 */
int delivery_service_open_with(const struct delivery_service_options *opt,
                               struct delivery_service **out);
/* delivery_service_open_with with the wall clock and default retries. */
int delivery_service_open(struct store *st, const struct sluice_config *cfg,
                          struct stream_service *streams, struct lake *lake,
                          struct delivery_service **out);
/*
 * Stops every engine (what is buffered and not yet written stays in its durable source
 * and is delivered after the next open) and closes the logs. NULL is fine. Must run
 * before the stream service and the lake are closed.
 */
void delivery_service_close(struct delivery_service *svc);

/*
 * The flush operation (a Sluice extension, not on AWS's API): delivers every record of
 * the named delivery stream that was durable when the call began, without waiting for
 * the buffering hints, and waits until that is in the lake or timeout_ms passed.
 * Returns 0; SL_E(RESOURCE_NOT_FOUND); -ETIMEDOUT (the flush goes on; a write that keeps
 * failing is retried, never dropped).
 */
int delivery_stream_flush(struct delivery_service *svc, const char *region, const char *name,
                          int64_t timeout_ms);
struct catalog;
/* Gives the service the catalog whose tables format conversion reads (borrowed; it must
   outlive the service). Until then a converting delivery stream waits. */
void delivery_service_set_catalog(struct delivery_service *svc, struct catalog *cat);

/*
 * Firehose writes the lake as its destination's RoleARN: before each object it asks
 * fn(arg, role ARN, bucket, key, err) whether the role may s3:PutObject there. Non-zero
 * (err filled) fails that attempt as an S3.AccessDenied into the retry path. Unset, or
 * set with NULL, every write is made.
 */
struct err_info;
typedef int (*delivery_s3_authorize_fn)(void *arg, const char *role_arn, const char *bucket,
                                        const char *key, struct err_info *err);
void delivery_service_set_s3_authorizer(struct delivery_service *svc, delivery_s3_authorize_fn fn,
                                        void *arg);

/*
 * On AWS Firehose's writes are S3 requests, counted in the bucket's request metrics: fn
 * is told of each attempt (a PutObject: the bucket, key, bytes, the HTTP status S3 would
 * answer and the time taken). Unset, or set with NULL, none is told.
 */
typedef void (*delivery_s3_observe_fn)(void *arg, const char *bucket, const char *key,
                                       uint64_t bytes, int status, int64_t elapsed_us);
void delivery_service_set_s3_observer(struct delivery_service *svc, delivery_s3_observe_fn fn,
                                      void *arg);

/*
 * Firehose reads a Kinesis source as the source's RoleARN: before each read of a shard it
 * asks kinesis(arg, role ARN, stream ARN, err) whether the role may read the stream.
 * Non-zero (err filled) fails that read: it is logged with err's message and tried again a
 * second later from the same position, so nothing is skipped and delivery resumes once
 * the role's policy allows it. DescribeDeliveryStream shows nothing of it (AWS's
 * FailureDescription is for KMS and VPC failures): the log does, and
 * DataReadFromKinesisStream stays still. CreateDeliveryStream and UpdateDestination ask
 * assume(arg, role ARN, err) for the source's and the destination's RoleARN, whether
 * Firehose may assume the role; non-zero refuses the call with err. Unset (or NULL), every
 * read is made and every role taken.
 */
typedef int (*delivery_kinesis_authorize_fn)(void *arg, const char *role_arn,
                                             const char *stream_arn, struct err_info *err);
typedef int (*delivery_assume_check_fn)(void *arg, const char *role_arn, struct err_info *err);
void delivery_service_set_role_checks(struct delivery_service *svc,
                                      delivery_kinesis_authorize_fn kinesis,
                                      delivery_assume_check_fn assume, void *arg);

/* Asks every delivery stream to flush as above, without waiting (SIGUSR1 in serve). */
void delivery_service_flush_all(struct delivery_service *svc);

/* Counters kept per delivery stream since the server started (CloudWatch's names). */
struct delivery_counters {
    uint64_t incoming_records;    /* IncomingRecords: records accepted from the source */
    uint64_t incoming_bytes;      /* IncomingBytes */
    uint64_t s3_records;          /* DeliveryToS3.Records */
    uint64_t s3_bytes;            /* DeliveryToS3.Bytes: object bytes written */
    uint64_t s3_objects;          /* DeliveryToS3.ObjectCount */
    uint64_t s3_attempts;         /* object writes tried (successes + failures) */
    uint64_t s3_successes;        /* DeliveryToS3.Success = s3_successes / s3_attempts */
    uint64_t conv_ok_records;     /* SucceedConversion.Records */
    uint64_t conv_ok_bytes;       /* SucceedConversion.Bytes */
    uint64_t conv_failed_records; /* FailedConversion.Records */
    uint64_t conv_failed_bytes;   /* FailedConversion.Bytes */
    int64_t s3_data_freshness_ms; /* DeliveryToS3.DataFreshness: age of the oldest record
                                     of the last delivered object when it landed */
    /* The Lambda transform. */
    uint64_t proc_invocations;    /* invocations made (retries included) */
    uint64_t proc_answered;       /* ExecuteProcessing.Success = answered / invocations */
    uint64_t proc_ms;             /* ExecuteProcessing.Duration, summed over invocations */
    uint64_t proc_ok_records;     /* SucceedProcessing.Records */
    uint64_t proc_ok_bytes;       /* SucceedProcessing.Bytes */
    uint64_t proc_failed_records; /* records sent to processing-failed */
    /* A Kinesis source (0 for DirectPut). */
    uint64_t kinesis_records;  /* DataReadFromKinesisStream.Records */
    uint64_t kinesis_bytes;    /* DataReadFromKinesisStream.Bytes */
    int64_t kinesis_behind_ms; /* KinesisMillisBehindLatest, at the last delivered buffer */
    /* Dynamic partitioning. */
    uint64_t partition_count;    /* PartitionCount: partitions of the last buffer */
    uint64_t partition_exceeded; /* PartitionCountExceeded: 1 when the last buffer had more
                                    than the active-partition limit */
    uint64_t jq_ms;              /* JQProcessing.Duration, summed */
    /* Source record backup (S3BackupMode Enabled). */
    uint64_t backup_records;          /* BackupToS3.Records */
    uint64_t backup_bytes;            /* BackupToS3.Bytes: backup object bytes written */
    uint64_t backup_attempts;         /* backup object writes tried */
    uint64_t backup_successes;        /* BackupToS3.Success = successes / attempts */
    int64_t backup_data_freshness_ms; /* BackupToS3.DataFreshness */
    /* Decompression and CloudWatchLogProcessing (Sluice's own, no AWS metric). */
    uint64_t decompression_failed_records; /* records sent to decompression-failed */
    uint64_t cwl_control_dropped;          /* CONTROL_MESSAGE records dropped */
    /* Direct PUT (0 for a Kinesis source). */
    uint64_t put_requests;      /* IncomingPutRequests: PutRecord(Batch) calls that stored */
    uint64_t throttled_records; /* ThrottledRecords: records refused "Slow down." */
    /* The buffer now (not counters): what waits for the next object. */
    uint64_t buffered_records, buffered_bytes;
    /* PutRecord.* and PutRecordBatch.*: the calls that stored, their records and bytes;
       [0] PutRecord, [1] PutRecordBatch. */
    uint64_t op_requests[2], op_records[2], op_bytes[2];
};
/* Fills *out (OUT). Returns 0 or SL_E(RESOURCE_NOT_FOUND). */
int delivery_stream_counters(struct delivery_service *svc, const char *region, const char *name,
                             struct delivery_counters *out);

/*
 * The read interface a metrics endpoint calls: the AWS/Firehose metrics (CloudWatch's names
 * and units) the engine measures for one delivery stream, as values since the server
 * started (sums; DataFreshness, KinesisMillisBehindLatest, PartitionCount and
 * PartitionCountExceeded as last seen; the .Success ratios in [0, 1], 1 before any write).
 * Metrics of a feature the stream does not use (conversion, partitioning, backup, the
 * Lambda transform, a Kinesis source) are left out.
 */
struct delivery_metric {
    const char *name; /* "DeliveryToS3.Bytes"; static */
    const char *unit; /* "Bytes", "Count", "Milliseconds", "Seconds" or "None"; static */
    double value;
};
#define DELIVERY_METRICS_MAX 32
/* Fills out[0, *n_out) (OUT). Returns 0 or SL_E(RESOURCE_NOT_FOUND). */
int delivery_stream_metrics(struct delivery_service *svc, const char *region, const char *name,
                            struct delivery_metric out[DELIVERY_METRICS_MAX], size_t *n_out);

/* PutRecord.Latency ([0]) and PutRecordBatch.Latency ([1]) since the last take, in ms, as
   statistic sets (count 0: no call). Takes and zeroes them. Returns 0 or
   SL_E(RESOURCE_NOT_FOUND). */
struct delivery_latency {
    double count, sum, min, max;
};
int delivery_stream_latency_take(struct delivery_service *svc, const char *region, const char *name,
                                 struct delivery_latency out[2]);

/* The region and name of every delivery stream, for the metrics sampler: *out (OUT) is
   malloc'd. */
struct delivery_stream_id {
    char region[32];
    char name[65]; /* a delivery stream name is at most 64 characters */
};
void delivery_stream_ids(struct delivery_service *svc, struct delivery_stream_id **out,
                         size_t *n_out);

#endif
