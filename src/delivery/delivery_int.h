/*
 * Internals shared by the delivery part's files (never included from another folder).
 *
 * Lock map.
 *   svc->mu  guards svc->list and every dstream's refs. Held only for list walks: never
 *            across the store, the lake, the stream service or a wait.
 *   ds->mu   guards the buffer, the positions, the destination and version, the flush
 *            targets and `stopping`. Never held across I/O either: the reader threads
 *            read into their own scratch buffer and the flusher swaps the buffer out
 *            before it compresses and writes.
 *   Order: svc->mu before ds->mu.
 */
#ifndef SLUICE_DELIVERY_INT_H
#define SLUICE_DELIVERY_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#include "core/buf.h"
#include "delivery/delivery.h"
#include "stream/seglog.h"

#define DELIVERY_NAME_MAX 64
#define DELIVERY_BATCH_MAX_RECORDS 500
#define DELIVERY_BATCH_MAX_BYTES (4 * 1024 * 1024)
#define DELIVERY_RECORD_MAX_BYTES 1024000
#define DELIVERY_STREAMS_MAX 5000 /* per region, AWS's default quota */
#define DELIVERY_TAGS_MAX 50
#define DELIVERY_DESTINATION_ID "destinationId-000000000001"
#define DELIVERY_PREFIX_EVAL_MAX 512 /* an evaluated prefix, characters */

enum delivery_compression {
    DELIVERY_UNCOMPRESSED,
    DELIVERY_GZIP,
    DELIVERY_ZIP,
    DELIVERY_SNAPPY,
    DELIVERY_HADOOP_SNAPPY,
};

/* The destination as the engine uses it, parsed from the stored description. */
struct delivery_dest {
    char bucket[LAKE_BUCKET_NAME_MAX + 1];
    char *role;         /* owned: RoleARN; NULL when none */
    char *prefix;       /* owned; NULL when none */
    char *error_prefix; /* owned; NULL when none */
    int size_mb;        /* BufferingHints.SizeInMBs */
    int interval_s;     /* BufferingHints.IntervalInSeconds */
    enum delivery_compression compression;
    char *file_extension;  /* owned; NULL: the compression's default */
    char *time_zone;       /* owned: CustomTimeZone; NULL for none or UTC */
    int conversion;        /* DataFormatConversion enabled */
    char *conversion_json; /* owned: DataFormatConversionConfiguration as stored; or NULL */
    int partitioning;      /* DynamicPartitioning enabled */
    /* ProcessingConfiguration (when Enabled): */
    char *meta_query;     /* owned: MetadataExtractionQuery, or NULL */
    char *meta_engine;    /* owned: its JsonParsingEngine, or NULL */
    int append_delimiter; /* AppendDelimiterToRecord: a newline after each record */
    int deaggregation;    /* RecordDeAggregation (transform.c) */
    int lambda;           /* a Lambda processor (transform.c) */
    int decompression;    /* the Decompression processor (GZIP, transform.c) */
    int cwl_extraction;   /* CloudWatchLogProcessing with DataMessageExtraction */
    char *proc_json;      /* owned: the enabled ProcessingConfiguration, or NULL */
    int prefix_expanded;  /* prefix holds a partition's evaluated prefix: its template had
                             expressions, so no yyyy/MM/dd/HH/ is appended */
    /* Source record backup (S3BackupMode Enabled): the records as the source gave them,
       before any processor or conversion, under the backup's own bucket and prefix. */
    int backup;
    char backup_bucket[LAKE_BUCKET_NAME_MAX + 1];
    char *backup_prefix; /* owned; NULL when none */
    enum delivery_compression backup_compression;
};
/* Copies src's strings and fields into *dst (OUT). */
void delivery__dest_copy(struct delivery_dest *dst, const struct delivery_dest *src);
void delivery__dest_fini(struct delivery_dest *d);

/* ---- configuration (delivery_conf.c) ---- */

/*
 * Validates an S3 or ExtendedS3 destination configuration as CreateDeliveryStream and
 * UpdateDestination do, and builds its ExtendedS3DestinationDescription with AWS's
 * defaults filled in (*desc_out, a new reference). path is the member's name in
 * ValidationException messages ("extendedS3DestinationConfiguration").
 * Returns 0, SL_E(VALIDATION) (a model constraint), SL_E(INVALID_ARGUMENT) (a rule).
 */
int delivery__dest_describe(const json_t *conf, const char *path, json_t **desc_out,
                            struct err_info *err);
/*
 * The rules AWS applies to the Lambda and RecordDeAggregation processors (transform.c):
 * LambdaArn required and a function ARN, NumberOfRetries 0-300, BufferSizeInMBs 0.2-3,
 * BufferIntervalInSeconds 0-900; RecordDeAggregation only with dynamic partitioning,
 * SubRecordType JSON or DELIMITED, DELIMITED with a base64 Delimiter; Decompression's
 * CompressionFormat GZIP (the default); CloudWatchLogProcessing only after Decompression and
 * with DataMessageExtraction true. 0 or SL_E(INVALID_ARGUMENT).
 */
int delivery__processing_check(const json_t *proc, int partitioning, struct err_info *err);
/* Parses a stored description into *out (OUT). Returns 0 or SL_E(CORRUPT). */
int delivery__dest_parse(const json_t *desc, struct delivery_dest *out);
/* The S3 (non-extended) description AWS shows beside the extended one. New reference. */
json_t *delivery__dest_s3_view(const json_t *desc);

/* What a prefix uses. */
struct delivery_prefix_info {
    int n_expressions;   /* !{...} expressions */
    int n_error_type;    /* !{firehose:error-output-type} */
    int n_partition_key; /* !{partitionKeyFromQuery:..} or !{partitionKeyFromLambda:..} */
};
/*
 * Checks the syntax of a prefix's expressions: each `!{` opens `!{namespace:value}` with
 * namespace timestamp (a valid pattern), firehose (random-string or error-output-type),
 * partitionKeyFromQuery or partitionKeyFromLambda (a key name). Fills *info (OUT).
 * Returns 0 or SL_E(INVALID_ARGUMENT) with the reason.
 */
int delivery__prefix_scan(const char *prefix, struct delivery_prefix_info *info,
                          struct err_info *err);

/* ---- key layout (delivery_key.c) ---- */

/*
 * Formats ms (UTC) by a Java DateTimeFormatter pattern, the subset Firehose prefixes
 * use: y u (year; yy two digits), M (M, MM, MMM, MMMM), d, D (day of year), H, h, k, K,
 * m, s, S (fraction), a (AM/PM), E (EEE, EEEE); text in '...' is literal, '' is a
 * quote, and any other character that is not a letter is itself. out may be NULL (a
 * check only). Returns 0, or -1 when the pattern uses a letter outside the subset or
 * leaves a quote open.
 */
int delivery__ts_format(const char *pattern, size_t len, int64_t ms, struct buf *out);
/*
 * Appends the evaluated prefix for an object whose oldest record arrived at ts_ms: no
 * prefix gives "yyyy/MM/dd/HH/"; a prefix without expressions gets that appended; a
 * prefix with expressions is evaluated (error_type fills !{firehose:error-output-type},
 * NULL leaves it empty). The prefix was checked by delivery__prefix_scan.
 */
void delivery__prefix_eval(const char *prefix, int64_t ts_ms, const char *error_type,
                           struct buf *out);
/*
 * Appends the whole key: prefix, then "<stream>-<version>-yyyy-MM-dd-HH-mm-ss-<uuid>"
 * and the extension (FileExtension, else .gz for GZIP, .zip, .snappy, none). Every time
 * in it is ts_ms in d->time_zone (UTC without one).
 */
void delivery__object_key(const struct delivery_dest *d, const char *stream_name, int version,
                          int64_t ts_ms, struct buf *out);
/* Appends "<stream>-<version>-yyyy-MM-dd-HH-mm-ss-<uuid>" and ext. */
void delivery__object_name(const char *stream_name, int version, int64_t ts_ms, const char *ext,
                           struct buf *out);
/*
 * Appends the key of an error object of type error_type ("format-conversion-failed"):
 * ErrorOutputPrefix evaluated with the type, or, without one, AWS's default
 * "<Prefix><type>/yyyy/MM/dd/HH/"; then the object's name and the compression's
 * extension. Times in d->time_zone, as in delivery__object_key.
 */
void delivery__error_key(const struct delivery_dest *d, const char *stream_name, int version,
                         int64_t ts_ms, const char *error_type, struct buf *out);

/* ---- the service (delivery.c) and the engine (delivery_engine.c) ---- */

struct dstream;

/* Where one buffered record sits in the buffer, and where it came from. */
struct delivery_rec {
    uint64_t off; /* in the buffer */
    uint32_t len;
    uint32_t src_idx;   /* index in ds->sources */
    int64_t arrival_ms; /* approximate arrival time */
    uint64_t index;     /* in its source (a shard's record index, the log's index) */
    uint32_t sub;       /* a KPL user record's sub-sequence number + 1; 0 when none */
    uint32_t keys;      /* index + 1 in flush_conf.lambda_keys; 0 when none */
    uint32_t pk_len;    /* Kinesis with a transform: the partition key's bytes, stored
                           right after the data (off + len) */
};

/* One source of a delivery stream: the internal log, or one shard of the Kinesis stream. */
struct dsource {
    struct dstream *ds;
    size_t idx;                   /* in ds->sources */
    uint32_t shard_idx;           /* the shard (Kinesis), 0 for the log */
    struct stream_reader *reader; /* Kinesis; owned by the source's thread */
    uint64_t read_next;           /* thread-private: next index to read */
    uint64_t buffered_next;       /* ds->mu: index after the last record in the buffer */
    uint64_t delivered_next;      /* ds->mu: index after the last record in the lake */
    uint64_t flush_target;        /* ds->mu: a flush wants delivered_next >= this */
    pthread_t thread;
    int started;     /* thread running */
    int read_denied; /* thread-private: the last read was refused to the source's role */
};

struct dstream {
    struct dstream *next; /* svc->mu */
    int refs;             /* svc->mu */
    struct delivery_service *svc;
    int64_t id;                       /* row id; immutable */
    char region[32];                  /* immutable */
    char account[16];                 /* immutable */
    char name[DELIVERY_NAME_MAX + 1]; /* immutable */
    int kinesis_source;               /* immutable: KinesisStreamAsSource */
    struct seglog *log;               /* DirectPut's internal log; immutable once open */
    struct stream *stream;            /* Kinesis source's stream handle, NULL if absent */
    char *source_arn;                 /* immutable: the Kinesis source's stream ARN */
    char *source_role;                /* immutable: the role it is read as; NULL if none */
    int64_t created_ms;               /* immutable */
    int encrypted;                    /* ds->mu: SSE enabled (PutRecord's Encrypted) */
    int remove_dir;                   /* deleted: the last release removes the log's files */

    pthread_mutex_t mu;
    pthread_cond_t cond;       /* flusher: new data, flush request, stop */
    pthread_cond_t space;      /* readers: the buffer has room, stop */
    pthread_cond_t delivered;  /* flush waiters: positions moved */
    pthread_cond_t log_grew;   /* DirectPut reader: new durable records */
    int stopping;              /* ds->mu */
    struct delivery_dest dest; /* ds->mu */
    int version;               /* ds->mu: VersionId */
    struct buf buf;            /* ds->mu: records not yet delivered, concatenated */
    struct buf buf_recs;       /* ds->mu: a struct delivery_rec per buffered record */
    uint64_t buf_records;      /* ds->mu */
    size_t buf_reserved;       /* ds->mu: bytes readers are reading into the buffer now */
    int64_t buf_opened_ms;     /* ds->mu: when the first buffered record entered */
    int64_t buf_oldest_ms;     /* ds->mu: arrival of the oldest buffered record */
    int64_t buf_newest_ms;     /* ds->mu: arrival of the newest buffered record */
    struct dsource *sources;
    size_t n_sources;
    pthread_t flusher;
    int flusher_started;

    _Atomic uint64_t c_in_records, c_in_bytes, c_s3_records, c_s3_bytes, c_s3_objects,
        c_s3_attempts, c_s3_successes, c_conv_ok_records, c_conv_ok_bytes, c_conv_failed_records,
        c_conv_failed_bytes;
    _Atomic int64_t c_freshness_ms;
    /* Dynamic partitioning: PartitionCount (partitions of the last buffer),
       PartitionCountExceeded (0/1, the last buffer), JQProcessing.Duration (total ns). */
    _Atomic uint64_t c_partition_count, c_partition_exceeded, c_jq_ns;
    /* The Lambda transform (transform.c): invocations made and answered, their total
       time (ns), records it returned Ok (and their bytes), records to processing-failed. */
    _Atomic uint64_t c_proc_invocations, c_proc_answered, c_proc_ns, c_proc_ok_records,
        c_proc_ok_bytes, c_proc_failed_records;
    /* Source record backup (BackupToS3.*): records and object bytes written, object writes
       tried and succeeded, and the age of the oldest record of the last backup object. */
    _Atomic uint64_t c_backup_records, c_backup_bytes, c_backup_attempts, c_backup_successes;
    _Atomic int64_t c_backup_freshness_ms;
    /* KinesisMillisBehindLatest: how far the last delivered buffer was behind the newest
       record of its stream (the flusher's view; 0 when it had read everything). */
    _Atomic int64_t c_behind_ms;
    /* Records the Decompression and CloudWatchLogProcessing processors sent to
       decompression-failed, and the CloudWatch Logs CONTROL_MESSAGE records dropped. */
    _Atomic uint64_t c_decomp_failed_records, c_cwl_control_dropped;
    /* Direct PUT: calls that stored their records, records refused with "Slow down.". */
    _Atomic uint64_t c_put_requests, c_throttled_records;
    /* The same per operation ([0] PutRecord, [1] PutRecordBatch), and their latency since
       the sampler's last take (lat_mu). */
    _Atomic uint64_t c_op_requests[2], c_op_records[2], c_op_bytes[2];
    pthread_mutex_t lat_mu;
    struct delivery_latency lat[2];
};

struct delivery_service {
    struct store *st;
    const struct sluice_config *cfg;
    struct stream_service *streams;
    struct lake *lake;
    delivery_s3_authorize_fn s3_authorize;           /* svc->mu; NULL: none */
    void *s3_authorize_arg;                          /* svc->mu */
    delivery_s3_observe_fn s3_observe;               /* svc->mu; NULL: none */
    void *s3_observe_arg;                            /* svc->mu */
    delivery_kinesis_authorize_fn kinesis_authorize; /* svc->mu; NULL: none */
    delivery_assume_check_fn assume_check;           /* svc->mu; NULL: none */
    void *role_check_arg;                            /* svc->mu */
    delivery_clock_fn now_ms;
    void *clock_arg;
    int64_t retry_base_ms;
    int max_streams;          /* per region */
    char *dir;                /* DIR/delivery */
    struct catalog *catalog;  /* svc->mu: schemas of format conversion; NULL until set */
    struct duck_engine *duck; /* svc->mu: opened on the first conversion */
    int duck_failed;          /* svc->mu: logged that it could not open */
    pthread_mutex_t mu;
    struct dstream *list; /* svc->mu */
};

int64_t delivery__now_ms(const struct delivery_service *svc);

/* The delivery stream region/name with a reference (delivery__release), or NULL. */
struct dstream *delivery__find(struct delivery_service *svc, const char *region, const char *name);
void delivery__release(struct dstream *ds);

/* The configuration one object is written with, copied out of ds under ds->mu. */
struct flush_conf {
    struct delivery_dest dest;
    int version;
    /* The transform's metadata.partitionKeys objects (borrowed), by delivery_rec.keys. */
    json_t *const *lambda_keys;
    size_t n_lambda_keys;
};

/*
 * The stages before partitioning (transform.c), in AWS's order: KPL de-aggregation
 * (Kinesis sources), RecordDeAggregation (JSON or DELIMITED), the Lambda transform. What
 * comes out replaces the buffer: out_data and out_recs (owned by *out), and
 * fc->lambda_keys points into *out. Records that failed are in processing-failed error
 * objects, written (durably) before this returns. Returns 0, or 1 when the engine
 * stopped first (nothing is considered delivered).
 */
struct preprocess_out {
    uint8_t *data;
    struct delivery_rec *recs;
    size_t n_recs;
    int64_t oldest_ms; /* arrival of the oldest record left */
    json_t **keys;
    size_t n_keys;
};
/* Whether the buffer needs the stages at all (a processor, or a KPL aggregate in it). */
int delivery__preprocess_needed(const struct dstream *ds, const struct flush_conf *fc,
                                const uint8_t *data, const struct delivery_rec *recs,
                                size_t n_recs);
int delivery__preprocess(struct dstream *ds, struct flush_conf *fc, const uint8_t *data,
                         const struct delivery_rec *recs, size_t n_recs,
                         struct preprocess_out *out);
void delivery__preprocess_fini(struct preprocess_out *out);

/*
 * Puts bytes at bucket/key through the lake, retried with backoff until it succeeds or
 * the engine stops. Returns 0 once it is in the lake, 1 when the engine stopped first.
 */
int delivery__put_object(struct dstream *ds, const char *bucket, const char *key,
                         const uint8_t *bytes, size_t n_bytes, const struct lake_put_opts *opts);
/* delivery__put_object for a source record backup object: counted as BackupToS3, not as
   DeliveryToS3. */
int delivery__put_backup_object(struct dstream *ds, const char *bucket, const char *key,
                                const uint8_t *bytes, size_t n_bytes,
                                const struct lake_put_opts *opts);
/*
 * Writes the records recs[0, n) of data, as the source gave them, as one backup object:
 * byte for byte, compressed with the backup's CompressionFormat, keyed by the backup's
 * prefix (or yyyy/MM/dd/HH/) and "<stream>-<version>-yyyy-MM-dd-HH-mm-ss-<uuid>" from the
 * oldest record's arrival, UTC. Returns 0 in the lake (or nothing to write), 1 stopped.
 */
int delivery__backup_flush(struct dstream *ds, const struct flush_conf *fc, const uint8_t *data,
                           const struct delivery_rec *recs, size_t n_recs, int64_t oldest_ms);
/* Waits ms (or until the engine stops); 1 when it stopped. */
int delivery__backoff(struct dstream *ds, int64_t ms);

/*
 * Delivers one buffer of a delivery stream with format conversion (convert_engine.c):
 * records that convert become one Parquet object, records that do not become one
 * format-conversion-failed error object. Returns 0 once both are in the lake, 1 when
 * the engine stopped first (nothing is considered delivered).
 */
int delivery__convert_flush(struct dstream *ds, const struct flush_conf *fc, const uint8_t *data,
                            const struct delivery_rec *recs, size_t n_recs, int64_t oldest_ms);
/*
 * Delivers one buffer of a delivery stream with dynamic partitioning
 * (delivery_partition.c): each record's keys are extracted by *xp (compiled from
 * fc->dest.meta_query on first use, kept by the caller's thread: a jq state is not
 * thread-safe), records are grouped by evaluated prefix, and each group becomes one object
 * (raw or Parquet); records without keys, or beyond the active-partition limit, become
 * error objects. Returns 0 once every object is in the lake, 1 when the engine stopped.
 */
struct partition_extractor;
int delivery__partition_flush(struct dstream *ds, const struct flush_conf *fc,
                              struct partition_extractor **xp, const uint8_t *data,
                              const struct delivery_rec *recs, size_t n_recs);
/* Writes recs of data as one raw object (delimited when the destination asks), compressed
   as configured, under the destination's prefix. 0 in the lake, 1 stopped. */
int delivery__raw_flush(struct dstream *ds, const struct flush_conf *fc, const uint8_t *data,
                        const struct delivery_rec *recs, size_t n_recs, int64_t oldest_ms);

/* Closes the service's DuckDB engine (at service close). */
void delivery__convert_close(struct delivery_service *svc);

/* Starts the engine threads of ds (positions loaded from the store). 0 or -errno. */
int delivery__engine_start(struct dstream *ds);
/* Stops and joins them. */
void delivery__engine_stop(struct dstream *ds);
/* Wakes the DirectPut reader after an append became durable. */
void delivery__log_grew(struct dstream *ds);
/* Stores the positions of n sources of stream id in one transaction (store_lock taken
   inside). 0 or a store error (nothing stored). */
int delivery__positions_put(struct delivery_service *svc, int64_t id, const uint32_t *sources,
                            const uint64_t *next_index, size_t n);

/* ---- operations for the API adapter (delivery.c); messages as Firehose words them ---- */

struct delivery_scope {
    const char *region;
    const char *account;
};

int delivery__create(struct delivery_service *svc, const struct delivery_scope *sc,
                     const json_t *in, json_t **out, struct err_info *err);
int delivery__describe(struct delivery_service *svc, const struct delivery_scope *sc,
                       const json_t *in, json_t **out, struct err_info *err);
int delivery__list(struct delivery_service *svc, const struct delivery_scope *sc, const json_t *in,
                   json_t **out, struct err_info *err);
int delivery__delete(struct delivery_service *svc, const struct delivery_scope *sc,
                     const json_t *in, json_t **out, struct err_info *err);
int delivery__update_destination(struct delivery_service *svc, const struct delivery_scope *sc,
                                 const json_t *in, json_t **out, struct err_info *err);
int delivery__tag(struct delivery_service *svc, const struct delivery_scope *sc, const json_t *in,
                  json_t **out, struct err_info *err);
int delivery__untag(struct delivery_service *svc, const struct delivery_scope *sc, const json_t *in,
                    json_t **out, struct err_info *err);
int delivery__list_tags(struct delivery_service *svc, const struct delivery_scope *sc,
                        const json_t *in, json_t **out, struct err_info *err);
int delivery__encryption(struct delivery_service *svc, const struct delivery_scope *sc,
                         const json_t *in, int start, json_t **out, struct err_info *err);

/* One record of a put: the decoded bytes. */
struct delivery_record_in {
    const uint8_t *data;
    uint32_t data_len;
};
/*
 * Appends n records to the DirectPut stream's internal log and returns once they are
 * durable: record_ids (OUT, n strings of DELIVERY_RECORD_ID_LEN + 1 bytes) name them,
 * *encrypted (OUT) says whether SSE is on. Returns 0; SL_E(RESOURCE_NOT_FOUND);
 * SL_E(INVALID_ARGUMENT) (a KinesisStreamAsSource stream); SL_E(UNAVAILABLE) (the log
 * failed: nothing acknowledged).
 */
#define DELIVERY_RECORD_ID_LEN 64
int delivery__put(struct delivery_service *svc, const struct delivery_scope *sc, const char *name,
                  const struct delivery_record_in *recs, size_t n,
                  char (*record_ids)[DELIVERY_RECORD_ID_LEN + 1], int *encrypted,
                  struct err_info *err);
/* Counts a call delivery__put stored (batch: PutRecordBatch) for PutRecord.* and
   PutRecordBatch.*, with its latency from started_ns (clock_mono_ns). */
void delivery__count_put(struct delivery_service *svc, const struct delivery_scope *sc,
                         const char *name, int batch, size_t n_records, uint64_t bytes,
                         int64_t started_ns);

/* The not-found message. */
int delivery__not_found(struct err_info *err, const char *name, const char *account);

#endif
