/*
 * Kinesis Data Streams: streams of shards, each shard a durable segment log.
 *
 * The service object owns every stream of every region of the account: their metadata
 * in the store, their shard logs on disk under DIR/streams/<stream id>/<shard>, and a
 * background thread that settles timed state transitions and applies retention. The
 * Kinesis API adapter (kinesis_api.h) and the delivery engine use the functions here and
 * nothing else; neither sees the logs, the locks or the struct bodies.
 *
 * Stream states, as DescribeStream shows them:
 *
 *   stream_create ─▶ CREATING ──(transition time)──▶ ACTIVE ─┬─ update ─▶ UPDATING ─▶ ACTIVE
 *                                                            └─ stream_delete ─▶ DELETING ─▶ (gone)
 *
 * A state whose transition time has passed reads as the state it moves to at once (a
 * lookup never waits for, nor does, the disk work); the background thread records it.
 * Records are accepted only while a stream is ACTIVE or UPDATING.
 *
 * Shards:
 *
 *   OPEN ──(split/merge/scale)──▶ CLOSED (readable until retention empties it)
 *
 * A resharding closes its parents and adds children numbered after every existing shard
 * (shardId-N continues), in one step: from then on records go to the children by hash
 * key, and a parent's records end at its ending index. A split's two children have the
 * parent as parent; a merge's child has the two as parent and adjacent parent. The
 * lineage is in the store, written in one transaction with the stream's UPDATING state,
 * so a crash leaves the resharding done or not done, never half.
 *
 * Handles: a struct stream is a counted reference. Every function that gives one out
 * (stream_lookup*) takes a reference the caller drops with stream_release; the stream,
 * its shard logs and anything read through it stay valid until then, even after the
 * stream is deleted (its files go with the last reference).
 *
 * Threads and locks: every function may be called from any thread. None holds a lock
 * of the service while it calls back into the caller (the record visitor of
 * stream_reader_read runs with no lock of this part held), nor while it does disk I/O,
 * but two: appends hold their stream's shard table shared across the write (not the
 * sync), and a resharding holds it exclusive across its parents' sync and its store
 * write, so no record lands in a parent after the resharding took the parent's end.
 *
 * Errors: functions returning int return 0 or a negative code of core/err.h; message
 * detail, where a function takes a struct err_info, is worded as the Kinesis service
 * words it.
 */
#ifndef SLUICE_STREAM_STREAM_H
#define SLUICE_STREAM_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/err.h"
#include "core/store.h"

/* ---- limits, as AWS documents them ---- */
#define STREAM_NAME_MAX 128
#define STREAM_SHARD_ID_LEN 20 /* "shardId-" + 12 digits */
#define STREAM_SEQNO_LEN 56    /* digits in a sequence number */
#define STREAM_ITERATOR_TTL_MS (5 * 60 * 1000)
#define STREAM_ITERATOR_TEXT_MAX 160 /* bytes an encoded iterator needs, NUL included */
#define STREAM_RECORD_MAX_BYTES (1024 * 1024)
#define STREAM_PUT_RECORDS_MAX 500
#define STREAM_PUT_RECORDS_MAX_BYTES (5 * 1024 * 1024)
#define STREAM_GET_RECORDS_MAX 10000
#define STREAM_GET_RECORDS_MAX_BYTES (10 * 1024 * 1024)
#define STREAM_ON_DEMAND_INITIAL_SHARDS 4
#define STREAM_RETENTION_MIN_HOURS 24
#define STREAM_RETENTION_MAX_HOURS 8760
#define STREAM_TAGS_MAX 50
#define STREAM_SHARDS_PER_STREAM_MAX 10000 /* UpdateShardCount's ceiling */
#define STREAM_SCALINGS_PER_DAY_MAX 10     /* UpdateShardCount calls per rolling 24 hours */
#define STREAM_ENCRYPTIONS_PER_DAY_MAX 25  /* Start (and, apart, Stop) StreamEncryption */

/* A 128-bit hash key (the MD5 of a partition key, or an explicit hash key). */
typedef unsigned __int128 stream_u128;

/* X(symbol, name as DescribeStream shows it) */
#define STREAM_STATUS_MAP(X)                                                                       \
    X(CREATING, "CREATING")                                                                        \
    X(ACTIVE, "ACTIVE")                                                                            \
    X(UPDATING, "UPDATING")                                                                        \
    X(DELETING, "DELETING")

enum stream_status {
#define STREAM_STATUS_ENUM(sym, name) STREAM_##sym,
    STREAM_STATUS_MAP(STREAM_STATUS_ENUM)
#undef STREAM_STATUS_ENUM
};
const char *stream_status_name(enum stream_status st);

/* Enhanced monitoring's shard-level metrics, X(symbol, name): bit i of a metrics mask is
   the i-th; "ALL" names every one. */
#define STREAM_METRICS_MAP(X)                                                                      \
    X(INCOMING_BYTES, "IncomingBytes")                                                             \
    X(INCOMING_RECORDS, "IncomingRecords")                                                         \
    X(OUTGOING_BYTES, "OutgoingBytes")                                                             \
    X(OUTGOING_RECORDS, "OutgoingRecords")                                                         \
    X(WRITE_EXCEEDED, "WriteProvisionedThroughputExceeded")                                        \
    X(READ_EXCEEDED, "ReadProvisionedThroughputExceeded")                                          \
    X(ITERATOR_AGE, "IteratorAgeMilliseconds")
enum stream_metric {
#define STREAM_METRIC_ENUM(sym, name) STREAM_METRIC_##sym,
    STREAM_METRICS_MAP(STREAM_METRIC_ENUM)
#undef STREAM_METRIC_ENUM
        STREAM_N_METRICS
};
#define STREAM_METRICS_ALL ((1u << STREAM_N_METRICS) - 1)
/* The name of metric i (< STREAM_N_METRICS). */
const char *stream_metric_name(int i);
/* The mask a metric name stands for ("ALL": every bit); 0 for an unknown name. */
uint32_t stream_metric_mask(const char *name);

enum stream_mode { STREAM_MODE_PROVISIONED, STREAM_MODE_ON_DEMAND };
const char *stream_mode_name(enum stream_mode mode); /* "PROVISIONED" or "ON_DEMAND" */

struct stream_service;
struct stream;        /* a counted handle, see above */
struct stream_reader; /* a cursor on one shard */

/* ---- the service ---- */

/* The service's clock: milliseconds since the epoch. Tests inject their own. */
typedef int64_t (*stream_clock_fn)(void *arg);

struct stream_service_options {
    struct store *store;             /* borrowed; outlives the service */
    const struct sluice_config *cfg; /* borrowed; outlives the service */
    stream_clock_fn now_ms;          /* NULL: the wall clock (core/clock.h) */
    void *clock_arg;                 /* passed to now_ms */
};

/*
 * Opens every stream recorded in the store, recovers its shard logs, removes the files
 * of streams whose deletion a crash interrupted, and starts the background thread.
 * *out (OUT) is the service; the caller closes it with stream_service_close.
 * Returns 0, -errno, SL_E(CORRUPT) (a shard log or shard row is damaged), a store error.
 */
int stream_service_open_with(const struct stream_service_options *opt, struct stream_service **out);
/* stream_service_open_with with the wall clock. */
int stream_service_open(struct store *st, const struct sluice_config *cfg,
                        struct stream_service **out);
/*
 * Stops the background thread and closes every log (all acknowledged records are already
 * durable). Every handle and reader must have been released first. NULL is fine.
 */
void stream_service_close(struct stream_service *svc);
/* Gives the service KMS (which must outlive it), for encryption at rest: without it, a
   stream's encryption is recorded but records are stored as they come. Call before use. */
struct kms;
void stream_service_set_kms(struct stream_service *svc, struct kms *k);
/* 0 when KMS key key_id (id, ARN, alias or alias ARN) exists in s's account and region and
   may be used now; else Kinesis's KMS error with its message in err. 0 without KMS. */
int stream_kms_key_check(struct stream_service *svc, struct stream *s, const char *key_id,
                         struct err_info *err);

/* Whether who (the caller, an api_request) may do action ("kms:GenerateDataKey" to put,
   "kms:Decrypt" to read) with s's KMS key while s is encrypted (or with new_key, the key
   StartStreamEncryption names; NULL: the stream's), as Kinesis asks KMS for them
   (kms_authorize, with the stream's encryption context): 0 (also for a stream not
   encrypted, root, or without KMS), or SL_E(KINESIS_KMS_ACCESS_DENIED) with IAM's
   "User: ... is not authorized to perform: ..." in err. */
struct api_request;
int stream_kms_authorize(struct stream_service *svc, struct stream *s,
                         const struct api_request *who, const char *action, const char *new_key,
                         struct err_info *err);

/* The service clock's now, in ms. */
int64_t stream_service_now_ms(const struct stream_service *svc);
/* The store the service keeps its metadata in, for the adapter's own tables (stream
   consumers), and how long the timed CREATING/DELETING states last. */
struct store *stream_service_store(const struct stream_service *svc);
int stream_service_transition_ms(const struct stream_service *svc);

/* The service's throughput limiter (stream/throttle.h), on or off as cfg says; it lives as
 * long as the service. stream_records_put applies its write limits itself. */
struct throttle;
struct throttle *stream_service_throttle(struct stream_service *svc);

/* The account's shard quota in region, as DescribeLimits reports it. */
struct stream_limits {
    int shard_limit;            /* open shards allowed in the region */
    int open_shards;            /* open shards of the region's streams */
    int on_demand_streams;      /* ON_DEMAND streams in the region */
    int on_demand_stream_limit; /* ON_DEMAND streams allowed */
};
void stream_service_limits(struct stream_service *svc, const char *region,
                           struct stream_limits *out);

/*
 * HMAC-SHA256 of data[0, len) under the service's secret key (kept in the store), for
 * tokens a client hands back (NextToken): mac (OUT) gets 32 bytes.
 */
void stream_service_sign(struct stream_service *svc, const void *data, size_t len, uint8_t mac[32]);

/* ---- streams ---- */

/*
 * Looks up a stream by region and name; *out (OUT) gets a reference (stream_release).
 * A stream whose deletion has completed (or whose DELETING time has passed) is not found.
 * Takes the registry lock once; does no I/O. Returns 0 or SL_E(RESOURCE_NOT_FOUND).
 */
int stream_lookup(struct stream_service *svc, const char *region, const char *name,
                  struct stream **out);
/*
 * Looks up by "arn:aws:kinesis:REGION:ACCOUNT:stream/NAME". Returns 0,
 * SL_E(INVALID_ARGUMENT) when arn is not of that form, SL_E(RESOURCE_NOT_FOUND).
 */
int stream_lookup_arn(struct stream_service *svc, const char *arn, struct stream **out);
/*
 * Looks up by store id and sequence tag (what an iterator carries: a deleted and
 * re-created stream of the same name has another). Returns 0 or SL_E(RESOURCE_NOT_FOUND).
 */
int stream_lookup_id(struct stream_service *svc, int64_t id, uint64_t seq_tag, struct stream **out);
/* Drops a reference; NULL is fine. The last reference of a deleted stream removes its
 * files (on the background thread, never on the caller's). */
void stream_release(struct stream *s);

/* Immutable for the handle's life; the strings live as long as the reference. */
const char *stream_name(const struct stream *s);
const char *stream_arn(const struct stream *s);
int64_t stream_id(const struct stream *s);
/* The stream's tag: in iterators, and in sequence numbers of the first layout. */
uint64_t stream_seq_tag(const struct stream *s);

/* A snapshot of a stream: a plain copy, consistent at one instant, owned by the caller. */
struct stream_info {
    int64_t id;
    char region[32];
    char account[16];
    char name[STREAM_NAME_MAX + 1];
    char arn[256];
    uint64_t seq_tag;
    int64_t created_ms; /* ms since the epoch */
    enum stream_mode mode;
    int retention_hours;
    enum stream_status status; /* with any due transition applied */
    char encryption[8];        /* "NONE" or "KMS" */
    char key_id[2049];         /* the KMS key when encryption is KMS, else "" */
    uint32_t shard_metrics;    /* enhanced monitoring's metrics, a mask of stream_metric bits */
    uint32_t n_shards;         /* every shard, open or closed */
    uint32_t n_open_shards;
};
void stream_describe(struct stream *s, struct stream_info *out /* OUT */);
/* The status alone, as stream_describe would show it (cheaper: no copy). */
enum stream_status stream_status_get(struct stream *s);

/*
 * Snapshots of region's streams (every state, sorted by name) into *out (OUT, an array
 * the caller frees with free()) and *n_out (OUT).
 */
void stream_list(struct stream_service *svc, const char *region, struct stream_info **out,
                 size_t *n_out);

/* The AWS/Kinesis counters of every stream not deleted, since the server started, for the
   metrics sampler: *out (OUT) is malloc'd. */
struct stream_counts {
    char region[32];
    char name[STREAM_NAME_MAX + 1];
    uint64_t incoming_records, incoming_bytes;
    uint64_t write_throttled; /* WriteProvisionedThroughputExceeded: records refused */
    uint64_t log_bytes;       /* the shards' segment-log files now (not a counter) */
    uint64_t outgoing_records, outgoing_bytes;
};
void stream_counts_all(struct stream_service *svc, struct stream_counts **out, size_t *n_out);

/* Each shard of every stream not deleted, for /metrics: *out (OUT) is malloc'd. */
struct stream_shard_log {
    char region[32];
    char name[STREAM_NAME_MAX + 1];
    uint32_t shard_idx;
    uint64_t records; /* records it made durable since it was made (its durable index) */
    uint64_t bytes;   /* its segment-log files now */
};
void stream_shard_logs(struct stream_service *svc, struct stream_shard_log **out, size_t *n_out);

/*
 * The Kinesis API's reads, for AWS/Kinesis's GetRecords.* and SubscribeToShard*: its
 * handlers record samples here (apart from the other parts' in-process reads), per
 * stream and consumer ("" for GetRecords), and the metrics sampler takes them.
 */
enum stream_read_metric {
    STREAM_RM_GET_BYTES,
    STREAM_RM_GET_RECORDS,
    STREAM_RM_GET_LATENCY, /* ms */
    STREAM_RM_GET_SUCCESS, /* 1 or 0 */
    STREAM_RM_GET_AGE,     /* ms: IteratorAgeMilliseconds */
    STREAM_RM_SUB_RATE_EXCEEDED,
    STREAM_RM_SUB_SUCCESS, /* 1 or 0 */
    STREAM_RM_EVENT_BYTES,
    STREAM_RM_EVENT_RECORDS,
    STREAM_RM_EVENT_BEHIND, /* ms: MillisBehindLatest */
    STREAM_RM_EVENT_SUCCESS,
    /* The writes and throttled reads (the name is older than these). */
    STREAM_RM_PUT_BYTES,
    STREAM_RM_PUT_LATENCY, /* ms */
    STREAM_RM_PUT_SUCCESS, /* 1 or 0 */
    STREAM_RM_PUTS_BYTES,
    STREAM_RM_PUTS_LATENCY,   /* ms */
    STREAM_RM_PUTS_SUCCESS,   /* 1 when a record of the call succeeded, else 0 */
    STREAM_RM_PUTS_TOTAL,     /* records of the call */
    STREAM_RM_PUTS_OK,        /* records stored */
    STREAM_RM_PUTS_FAILED,    /* records refused by an internal failure */
    STREAM_RM_PUTS_THROTTLED, /* records refused by the shard limits */
    STREAM_RM_READ_EXCEEDED,  /* 1 for a GetRecords refused by the shard limits, else 0 */
    STREAM_READ_METRICS
};
struct stream_stat {
    double count, sum, min, max;
};
struct stream_read_sample {
    enum stream_read_metric which;
    double value;
};
void stream_read_count(struct stream *s, const char *consumer,
                       const struct stream_read_sample *samples, size_t n);
struct stream_read_stats {
    char region[32];
    char name[STREAM_NAME_MAX + 1];
    char consumer[STREAM_NAME_MAX + 1]; /* "" for GetRecords */
    struct stream_stat st[STREAM_READ_METRICS];
};
/* Takes (and zeroes) the samples since the last call of every stream not deleted that
   has any: *out (OUT) is malloc'd. */
void stream_read_stats_take(struct stream_service *svc, struct stream_read_stats **out,
                            size_t *n_out);

/*
 * Enhanced monitoring's samples per shard (enum stream_metric), recorded by the Kinesis
 * handlers only while stream_shard_metrics is non-zero (one atomic load: a stream without
 * enhanced monitoring pays nothing else). Samples of a metric not enabled are dropped.
 */
uint32_t stream_shard_metrics(struct stream *s);
struct stream_shard_sample {
    uint32_t shard_idx;
    enum stream_metric which;
    double value;
};
void stream_shard_count(struct stream *s, const struct stream_shard_sample *samples, size_t n);
struct stream_shard_stats {
    char region[32];
    char name[STREAM_NAME_MAX + 1];
    uint32_t shard_idx;
    struct stream_stat st[STREAM_N_METRICS]; /* count 0: none, or not enabled now */
};
/* Takes (and zeroes) the per-shard samples of every stream not deleted, keeping those of
   the metrics enabled now: *out (OUT) is malloc'd. */
void stream_shard_stats_take(struct stream_service *svc, struct stream_shard_stats **out,
                             size_t *n_out);

struct stream_create_params {
    const char *region;
    const char *account;
    const char *name; /* [a-zA-Z0-9_.-]{1,128}, checked by the caller */
    enum stream_mode mode;
    int shard_count;             /* >= 1 */
    const char *const *tag_keys; /* n_tags of them, validated by the caller; may be NULL */
    const char *const *tag_values;
    size_t n_tags;
};
/*
 * Creates a stream in CREATING; it reads ACTIVE after the configured transition time.
 * Quotas are checked before anything is allocated. Returns 0; SL_E(RESOURCE_IN_USE) (the
 * name exists in the region); SL_E(LIMIT_EXCEEDED) (shard or on-demand quota);
 * -errno or a store error (nothing is left behind).
 */
int stream_create(struct stream_service *svc, const struct stream_create_params *p,
                  struct err_info *err);
/*
 * Starts deleting s: DELETING now, gone after the transition time (its records stay
 * readable through existing handles until they are released). Returns 0;
 * SL_E(RESOURCE_NOT_FOUND) when it is already DELETING; a store error (nothing changed).
 */
int stream_delete(struct stream_service *svc, struct stream *s, struct err_info *err);

/*
 * Updates of an ACTIVE stream. Each checks the state and applies the change as one step
 * (two concurrent updates cannot both pass the check), writes it to the store, and only
 * then shows it: after a failed write nothing has changed.
 *
 * stream_update_mode: to mode, through UPDATING. SL_E(INVALID_ARGUMENT) when already in
 * that mode.
 * stream_update_retention: to hours, in force at once. direction > 0 refuses to shorten
 * (IncreaseStreamRetentionPeriod), < 0 to lengthen, 0 allows either. SL_E(INVALID_ARGUMENT)
 * for a period out of [24, 8760] hours or against direction.
 * stream_update_encryption: "KMS" with key_id, or "NONE" (key_id ignored), through UPDATING.
 * SL_E(LIMIT_EXCEEDED) past STREAM_ENCRYPTIONS_PER_DAY_MAX starts (or, counted apart, stops)
 * of the stream in a rolling 24 hours; the count is kept in the store.
 * stream_update_monitoring: enable (1) or disable (0) the metrics of mask; *before and
 * *after (OUT) get the stream's metrics around the change. In force at once, no UPDATING.
 * All return 0; SL_E(RESOURCE_IN_USE) when the stream is not ACTIVE; a store error.
 */
int stream_update_mode(struct stream_service *svc, struct stream *s, enum stream_mode mode,
                       struct err_info *err);
int stream_update_retention(struct stream_service *svc, struct stream *s, int hours, int direction,
                            struct err_info *err);
int stream_update_encryption(struct stream_service *svc, struct stream *s, const char *encryption,
                             const char *key_id, struct err_info *err);
int stream_update_monitoring(struct stream_service *svc, struct stream *s, uint32_t mask,
                             int enable, uint32_t *before, uint32_t *after, struct err_info *err);

/*
 * Tags. stream_tags_list: every tag sorted by key into *keys and *values (OUT, n_out
 * of each), which the caller frees with stream_tags_free. stream_tags_put adds or replaces;
 * SL_E(LIMIT_EXCEEDED) past 50 tags (nothing written). stream_tags_remove ignores keys
 * that are absent. Each returns 0 or a store error.
 */
int stream_tags_list(struct stream_service *svc, struct stream *s, char ***keys, char ***values,
                     size_t *n_out);
int stream_tags_put(struct stream_service *svc, struct stream *s, const char *const *keys,
                    const char *const *values, size_t n, struct err_info *err);
int stream_tags_remove(struct stream_service *svc, struct stream *s, const char *const *keys,
                       size_t n);
void stream_tags_free(char **keys, char **values, size_t n);

/* ---- shards and resharding ---- */

/*
 * Resharding an ACTIVE stream; each makes it UPDATING for the configured transition time
 * (one resharding at a time), and shows the new shards at once.
 *
 * stream_shard_split: shard_idx into [start, new_start_hash - 1] and [new_start_hash, end];
 * new_start_hash must be greater than start + 1 and less than end.
 * stream_shard_merge: shard_idx with adjacent_idx, which must start right after it ends.
 * stream_shard_count_update: to target_count open shards of equal ranges (UNIFORM_SCALING),
 * by splits and merges whose short-lived shards close at once; *current_out (OUT) gets the
 * open shard count before.
 *
 * Returns 0; SL_E(RESOURCE_NOT_FOUND) (no such shard); SL_E(RESOURCE_IN_USE) (not ACTIVE);
 * SL_E(INVALID_ARGUMENT) (a key outside the range, shards closed or not adjacent, an
 * ON_DEMAND stream's shard count); SL_E(LIMIT_EXCEEDED) (the account's shard quota,
 * UpdateShardCount's scaling limits); -errno or a store error (nothing changed). err gets
 * the message as Kinesis words it.
 */
int stream_shard_split(struct stream_service *svc, struct stream *s, uint32_t shard_idx,
                       stream_u128 new_start_hash, struct err_info *err);
int stream_shard_merge(struct stream_service *svc, struct stream *s, uint32_t shard_idx,
                       uint32_t adjacent_idx, struct err_info *err);
int stream_shard_count_update(struct stream_service *svc, struct stream *s, int target_count,
                              int *current_out, struct err_info *err);

/* One shard and its lineage. */
struct stream_shard_info {
    uint32_t shard_idx; /* N of shardId-N */
    char shard_id[STREAM_SHARD_ID_LEN + 1];
    int64_t parent_idx;          /* the shard it came from; -1 for none */
    int64_t adjacent_parent_idx; /* the other parent of a merge; -1 for none */
    stream_u128 start_hash;      /* inclusive */
    stream_u128 end_hash;        /* inclusive */
    int open;                    /* 1 open (takes records), 0 closed */
    uint64_t starting_index;     /* index of its first record ever */
    uint64_t ending_index;       /* closed: index after its last record; open: 0 */
    int64_t created_ms;          /* when it opened, ms since the epoch */
    int64_t closed_ms;           /* when it closed; 0 while open */
    int64_t seq_epoch_s;         /* its sequence epoch (stream_seqno_shard) */
};
/*
 * Every shard of s, open and closed, in shard order (parents before their children), into
 * *out (OUT, an array the caller frees with free()) and *n_out (OUT). The children of
 * shard P are the shards whose parent_idx or adjacent_parent_idx is P.
 */
void stream_shards_list(struct stream *s, struct stream_shard_info **out, size_t *n_out);
/* Finds shard shard_idx; 0 and *out filled, or SL_E(RESOURCE_NOT_FOUND). */
int stream_shard_get(struct stream *s, uint32_t shard_idx, struct stream_shard_info *out);

/* Positions of a shard's log. */
struct stream_shard_state {
    uint64_t first_index;    /* oldest retained record */
    uint64_t durable_index;  /* records below are durable and readable */
    int64_t last_arrival_ms; /* arrival of the newest durable record; 0 if none ever */
};
/* Fills *out (OUT) for shard shard_idx. Returns 0 or SL_E(RESOURCE_NOT_FOUND). */
int stream_shard_state(struct stream *s, uint32_t shard_idx, struct stream_shard_state *out);

/* ---- appending ---- */

/* One record to append; the pointers need only live for the call. */
struct stream_put_record {
    const uint8_t *data;
    uint32_t data_len; /* bytes; with pk_len at most STREAM_RECORD_MAX_BYTES */
    const char *partition_key;
    uint16_t pk_len;      /* bytes, 1..1024 */
    stream_u128 hash_key; /* which shard takes it */
    /* OUT */
    uint32_t shard_idx; /* the shard it went to */
    uint64_t index;     /* its index in the shard (see stream_seqno_format) */
    int64_t arrival_ms; /* its arrival, as its sequence number and readers give it */
    int result;         /* 0 durable, SL_E(THROUGHPUT_EXCEEDED) (the shard's write limit;
                           nothing appended), or the log's error (nothing acknowledged) */
};
/*
 * Appends n records, routed by hash key to open shards (in order within a shard), and
 * returns once each is durable or failed: recs[i].result says which. Records over their
 * shard's write limit (throttle.h) are refused one by one and not appended. Readers waiting on
 * the shards (stream_reader_wait) are woken as the call's group commits complete, before
 * it returns. *encryption_out (OUT, may be NULL) gets the stream's encryption
 * type ("NONE" or "KMS", a static string) as the records were accepted.
 * Returns 0 when the records were offered to the logs (see each result), or
 * SL_E(RESOURCE_NOT_FOUND) when s is CREATING or DELETING (nothing appended).
 * Takes no lock of the registry (s's own lock once, for its state); no allocation per
 * record. Safe to call from many threads on the same stream.
 */
int stream_records_put(struct stream_service *svc, struct stream *s, struct stream_put_record *recs,
                       size_t n, int64_t now_ms, const char **encryption_out);
/*
 * stream_records_put for a stream that may be encrypted: while its encryption is KMS (and
 * the service has KMS, stream_service_set_kms), records are stored encrypted under a data
 * key of the stream's KMS key. Also returns, with nothing appended and the message in err
 * (may be NULL), Kinesis's KMS errors when that key cannot be used:
 * SL_E(KINESIS_KMS_DISABLED), SL_E(KMS_INVALID_STATE), SL_E(KINESIS_KMS_NOT_FOUND).
 */
int stream_records_put_ex(struct stream_service *svc, struct stream *s,
                          struct stream_put_record *recs, size_t n, int64_t now_ms,
                          const char **encryption_out, struct err_info *err);

/* ---- reading ---- */

enum stream_position_type {
    STREAM_AT_SEQUENCE_NUMBER,
    STREAM_AFTER_SEQUENCE_NUMBER,
    STREAM_TRIM_HORIZON,
    STREAM_LATEST,
    STREAM_AT_TIMESTAMP,
    STREAM_AT_INDEX, /* a record index, as stream_reader_position gives (checkpoints) */
};
struct stream_position {
    enum stream_position_type type;
    const char *sequence_number; /* AT/AFTER_SEQUENCE_NUMBER; seqno_len bytes */
    size_t seqno_len;
    int64_t timestamp_ms; /* AT_TIMESTAMP: first record arriving at or after */
    uint64_t index;       /* AT_INDEX */
};

/*
 * Opens a reader on shard shard_idx of s at pos. The reader holds its own reference on
 * s; *out (OUT) is closed with stream_reader_close. A reader is used by one thread at a
 * time. Returns 0; SL_E(RESOURCE_NOT_FOUND) (no such shard); SL_E(INVALID_ARGUMENT) (a
 * sequence number that is not one of this shard's, or one past its last record); the
 * log's errors (-errno, SL_E(CORRUPT)) for AT_TIMESTAMP.
 */
int stream_reader_open(struct stream *s, uint32_t shard_idx, const struct stream_position *pos,
                       struct stream_reader **out);
void stream_reader_close(struct stream_reader *r); /* NULL is fine */

/*
 * Called once per record, in order, with no lock held; pk and data stay valid only during
 * the call. Return 0 to go on, non-zero to stop after this record (a negative value is
 * returned by stream_reader_read).
 */
typedef int (*stream_visit_fn)(void *arg, uint64_t index, int64_t arrival_ms, const char *pk,
                               size_t pk_len, const uint8_t *data, size_t data_len);
/*
 * Visits durable records from the reader's position, at most max_records and max_bytes
 * of data (0: no limit; the first record is always visited), and moves the position past
 * them. Returns 0 (also when nothing new is durable), a negative value from visit,
 * SL_E(CORRUPT), -errno.
 */
int stream_reader_read(struct stream_reader *r, size_t max_records, size_t max_bytes,
                       stream_visit_fn visit, void *arg);
/* stream_visit_fn with encrypted: 1 when the record was stored encrypted (put while the
   stream's encryption was KMS), else 0. */
typedef int (*stream_visit_enc_fn)(void *arg, uint64_t index, int64_t arrival_ms, int encrypted,
                                   const char *pk, size_t pk_len, const uint8_t *data,
                                   size_t data_len);
/*
 * stream_reader_read, telling which records were stored encrypted. Encrypted records are
 * decrypted for the visit; when one cannot be (its KMS key disabled, pending deletion or
 * gone) the read stops before it with Kinesis's KMS error (SL_E(KINESIS_KMS_DISABLED),
 * SL_E(KMS_INVALID_STATE), SL_E(KINESIS_KMS_NOT_FOUND)...) and its message in err (may be
 * NULL), and the reader's position stays where the call found it (the read failed as a
 * whole).
 */
int stream_reader_read_ex(struct stream_reader *r, size_t max_records, size_t max_bytes,
                          stream_visit_enc_fn visit, void *arg, struct err_info *err);
/* Index of the next record the reader will visit. */
uint64_t stream_reader_position(const struct stream_reader *r);
/*
 * Waits, without polling, until the shard has a durable record at or past the reader's
 * position, at most timeout_ms. An append wakes it as soon as its group commit has made
 * the records durable, a resharding as soon as it closed the shard. Returns 0 (records to
 * read), STREAM_END_OF_SHARD (the shard is closed and the reader is past its last record:
 * nothing more will come; read its children), -ETIMEDOUT, SL_E(RESOURCE_NOT_FOUND) when
 * the stream is being deleted.
 */
#define STREAM_END_OF_SHARD 1
int stream_reader_wait(struct stream_reader *r, int64_t timeout_ms);
/* 1 when the reader's shard is closed and the reader is past its last record, else 0. */
int stream_reader_at_end(const struct stream_reader *r);

/* ---- identifiers and iterators ---- */

/* MD5 of the partition key as a big-endian 128-bit number. */
stream_u128 stream_hashkey_of_partition_key(const char *pk, size_t len);
/* Parses a decimal 0..2^128-1 with no sign or leading zeros (but "0"). 0 or -1. */
int stream_hashkey_parse(const char *text, size_t len, stream_u128 *out);
/* Decimal text of v into out (at most 39 digits and a NUL). */
void stream_hashkey_format(stream_u128 v, char out[48]);
void stream_shard_id_format(uint32_t shard_idx, char out[STREAM_SHARD_ID_LEN + 1]);
/* Parses "shardId-000000000007" (or a bare number) into 7; 0 or -1 when malformed. */
int stream_shard_id_parse(const char *text, uint32_t *shard_idx_out);
/*
 * Sequence numbers (the layout is in shardmath.c). Every number of a shard shares its
 * shard number and its sequence epoch: the shard's creation second, raised above its
 * parents' so that a child's numbers all exceed its parents' (stream_seqno_shard).
 * A number carries a counter: 0 is the shard's StartingSequenceNumber (before its first
 * record), index + 1 record index's, STREAM_SEQNO_COUNTER_MAX a closed shard's
 * EndingSequenceNumber (after its last record).
 */
#define STREAM_SEQNO_COUNTER_MAX INT64_MAX
struct stream_seqno_shard {
    uint32_t shard_idx;
    int64_t epoch_s; /* the shard's sequence epoch, seconds since the epoch */
};
struct stream_seqno_fields {
    struct stream_seqno_shard shard;
    uint64_t counter; /* 0..STREAM_SEQNO_COUNTER_MAX, see above */
    int64_t time_s;   /* the record's arrival; the shard's creation (start) or closing (end) */
    /* stream_seqno_decode of a number from before this layout (the stream's tag and the
       shard number; epoch_s and time_s are 0): */
    int legacy;
    uint64_t legacy_tag;
};
/* Fills *out (OUT) for shard shard_idx of s: 0, or SL_E(RESOURCE_NOT_FOUND). */
int stream_seqno_shard(struct stream *s, uint32_t shard_idx, struct stream_seqno_shard *out);
/* The 56 digits of f (not legacy) and a NUL into out. */
void stream_seqno_encode(const struct stream_seqno_fields *f, char out[STREAM_SEQNO_LEN + 1]);
/* Record index's number, the record having arrived at arrival_ms. */
void stream_seqno_format(const struct stream_seqno_shard *sh, uint64_t index, int64_t arrival_ms,
                         char out[STREAM_SEQNO_LEN + 1]);
/* Parses a number of either layout into *out (OUT): 0, or -1 when it is neither. */
int stream_seqno_decode(const char *text, size_t len, struct stream_seqno_fields *out);
/* 1 when text looks like a sequence number by the API's pattern 0|([1-9]\d{0,128}). */
int stream_seqno_pattern_ok(const char *text, size_t len);

/* What a shard iterator carries. */
struct stream_iterator_pos {
    int64_t stream_id;
    uint64_t seq_tag;
    uint32_t shard_idx;
    uint64_t index; /* next record to read */
    int64_t issued_ms;
};
/* An opaque, tamper-evident token for pos into out (STREAM_ITERATOR_TEXT_MAX bytes). */
void stream_iterator_encode(struct stream_service *svc, const struct stream_iterator_pos *pos,
                            char out[STREAM_ITERATOR_TEXT_MAX]);
/* 0; SL_E(INVALID_ARGUMENT) when forged or malformed; SL_E(EXPIRED_ITERATOR) when older
 * than STREAM_ITERATOR_TTL_MS at now_ms. */
int stream_iterator_decode(struct stream_service *svc, const char *text, size_t len, int64_t now_ms,
                           struct stream_iterator_pos *pos /* OUT */, struct err_info *err);

#endif
