/*
 * Shared by the Kinesis API adapter files (kinesis_*.c); private to src/stream. The
 * helpers here live in kinesis_common.c, which depends on none of the files that call it:
 * kinesis_api.c (the control plane), kinesis_tags.c and kinesis_records.c (the record
 * plane). The adapter sees streams only through stream/stream.h.
 */
#ifndef SLUICE_STREAM_KINESIS_INT_H
#define SLUICE_STREAM_KINESIS_INT_H

#include "http/api.h"
#include "stream/stream.h"

#define KIN_TAG_KEY_MAX 128
#define KIN_TAG_VALUE_MAX 256

/* Constraint violations, worded as the service's validator words them. Returns the code. */
int kin__validation(struct api_call *call, const char *member, const char *value,
                    const char *constraint);
/*
 * A string member of in: *out (OUT) borrows in's storage, NULL when absent or null.
 * SerializationException for a wrong type; ValidationException for a length out of
 * [min_len, max_len] or an embedded NUL (worded with the member's pattern when the model
 * gives one).
 */
int kin__get_string(struct api_call *call, json_t *in, const char *field, int required,
                    size_t min_len, size_t max_len, const char **out);
/* An integer member: SerializationException for a wrong type, ValidationException for
 * bounds; *out (OUT) gets dflt when absent. */
int kin__get_int(struct api_call *call, json_t *in, const char *field, int required, long long min,
                 long long max, long long dflt, long long *out);
/* SerializationException in the service's words for v of the wrong JSON type where a
 * string (integer 0) or an integer (integer 1) belongs. */
int kin__type_error(struct api_call *call, json_t *v, int integer);
/*
 * The service front end's checks of an operation's input (call->operation), before the
 * operation runs: the first member of the wrong type as SerializationException, else
 * every constraint the model gives that the input violates, at once, as one
 * ValidationException. 0 when the input passes or the operation has no table.
 */
int kin__validate_input(struct api_call *call, json_t *input);
/* The output members that CBOR carries as byte strings and as tag 1 epochs. */
extern const char *const kin__cbor_blob_members[];
extern const char *const kin__cbor_epoch_members[];
/* 1 when name matches [a-zA-Z0-9_.-]+ (len bytes, NULs refused). */
int kin__valid_stream_name(const char *name, size_t len);
/* The ValidationException of a name that does not match [a-zA-Z0-9_.-]+. */
int kin__bad_stream_name(struct api_call *call, const char *member, const char *name);
/*
 * The stream named by name and/or ARN (NUL-free C strings; either may be NULL) in the
 * caller's region and account, with a reference (*out, OUT; stream_release). Validation,
 * InvalidArgument or ResourceNotFound in call->err otherwise.
 */
int kin__resolve(struct api_call *call, const char *name, const char *arn, struct stream **out);
int kin__not_found(struct api_call *call, const char *name);
/* The shard named by shard_id ("shardId-N") of s into *shard_idx (OUT), or
 * ResourceNotFoundException. */
int kin__find_shard(struct api_call *call, struct stream *s, const char *shard_id,
                    uint32_t *shard_idx);
json_t *kin__timestamp(int64_t ms);
/* The ChildShards of closed shard parent_idx, as GetRecords and SubscribeToShard give them
   at its end: [{ShardId, ParentShards, HashKeyRange}]. */
void kin__child_shards_json(struct stream *s, uint32_t parent_idx, struct buf *out);
/*
 * Checks a Tags map (AddTagsToStream, TagResource, CreateStream) and collects it: *keys
 * and *values (OUT, borrowed from tags, arrays the caller frees with free()), *n (OUT).
 * InvalidArgumentException for illegal characters or lengths.
 */
int kin__tags_collect(struct api_call *call, const char *stream_name, json_t *tags,
                      const char ***keys, const char ***values, size_t *n);

/* kinesis_tags.c */
int kin__add_tags_to_stream(struct api_call *call, json_t *in, json_t **out);
int kin__list_tags_for_stream(struct api_call *call, json_t *in, json_t **out);
int kin__remove_tags_from_stream(struct api_call *call, json_t *in, json_t **out);
int kin__tag_resource(struct api_call *call, json_t *in, json_t **out);
int kin__untag_resource(struct api_call *call, json_t *in, json_t **out);
int kin__list_tags_for_resource(struct api_call *call, json_t *in, json_t **out);

/* kinesis_throttle.c: the throughput limits (stream/throttle.h) with AWS's errors */
/* "Rate exceeded for shard shardId-N in stream S under account A." into out. */
void kin__shard_rate_message(const char *stream, uint32_t shard_idx, const char *account,
                             char *out, size_t size);
/* GetShardIterator and GetRecords on a shard of s: 0, or ProvisionedThroughputExceeded. */
int kin__throttle_iterator(struct api_call *call, struct stream *s, uint32_t shard_idx);
int kin__throttle_read(struct api_call *call, struct stream *s, uint32_t shard_idx);
/* Charges the bytes an admitted GetRecords returned. */
void kin__throttle_read_charge(struct api_call *call, struct stream *s, uint32_t shard_idx,
                               size_t bytes);
/* A control-plane call->operation with input in: 0, or LimitExceededException. */
int kin__throttle_control(struct api_call *call, json_t *in);

/* kinesis_metrics.c: AWS/Kinesis samples of the handlers. A PutRecord (batch 0) or
   PutRecords call on s that began at started_ns (clock_mono_ns); recs NULL and n 0 when
   it failed before its records were stored. */
void kin__count_put(struct stream *s, int batch, const struct stream_put_record *recs, size_t n,
                    int64_t started_ns);
/* A read of a shard (shard-level, when enabled): GetRecords with its iterator age, a
   SubscribeToShard event with age_ms -1 (Outgoing* only); a throttled GetRecords. */
void kin__count_get_shard(struct stream *s, uint32_t shard_idx, size_t records, size_t bytes,
                          int64_t age_ms);
void kin__count_read_exceeded(struct stream *s, uint32_t shard_idx);
/* A SubscribeToShard of the consumer to shard shard_idx: 0, or LimitExceededException. */
int kin__throttle_subscribe(struct api_call *call, const char *consumer_arn, uint32_t shard_idx);

/* kinesis_records.c: the hot path, read and written without a JSON tree */
int kin__put_record(struct api_call *call, const uint8_t *body, size_t len, struct buf *out);
int kin__put_records(struct api_call *call, const uint8_t *body, size_t len, struct buf *out);
int kin__get_records(struct api_call *call, const uint8_t *body, size_t len, struct buf *out);

/* kinesis_consumers.c: enhanced fan-out consumers */
#define KIN_CONSUMERS_MAX 20 /* registered consumers per stream */
#define KIN_CONSUMERS_CREATING_MAX 5 /* of them in CREATING at once */
enum kin_consumer_status { KIN_CONSUMER_CREATING, KIN_CONSUMER_ACTIVE, KIN_CONSUMER_DELETING };
struct kin_consumer {
    char name[STREAM_NAME_MAX + 1];
    char arn[2400]; /* <stream ARN>/consumer/<name>:<creation epoch seconds> */
    char stream_arn[2048];
    int64_t created_ms;
    enum kin_consumer_status status;
};
const char *kin__consumer_status_name(enum kin_consumer_status st);
/* Creates the consumers' table when missing (at start, from kinesis_api_create). */
int kin__consumers_migrate(struct stream_service *svc);
/* Consumers of s that are not gone, for DescribeStreamSummary. */
int kin__consumer_count(struct stream_service *svc, struct stream *s);
/* Forgets every consumer of s (its deletion). 0 or a store error. */
int kin__consumers_drop(struct stream_service *svc, struct stream *s);
/* The consumer named by a ConsumerARN, and its stream (*s_out, OUT, a reference):
   ValidationException, ResourceNotFoundException in call->err otherwise. */
int kin__consumer_resolve(struct api_call *call, const char *arn, struct stream **s_out,
                          struct kin_consumer *out);
/* The consumer of s named name, as it stands now: 0 or SL_E(RESOURCE_NOT_FOUND). */
int kin__consumer_get(struct stream_service *svc, struct stream *s, const char *name,
                      struct kin_consumer *out);
int kin__register_stream_consumer(struct api_call *call, json_t *in, json_t **out);
int kin__describe_stream_consumer(struct api_call *call, json_t *in, json_t **out);
int kin__list_stream_consumers(struct api_call *call, json_t *in, json_t **out);
int kin__deregister_stream_consumer(struct api_call *call, json_t *in, json_t **out);

/* kinesis_admin.c: enhanced monitoring and resource policies */
/* Creates the policies' table when missing (at start, from kinesis_api_create). */
int kin__policies_migrate(struct stream_service *svc);
/* Forgets the policy of arn, or every policy of s when arn is NULL (the resource's
   deletion). 0 or a store error. */
int kin__policies_drop(struct stream_service *svc, struct stream *s, const char *arn);
/* DescribeStream's EnhancedMonitoring: [{ShardLevelMetrics: [names of mask's metrics]}]. */
json_t *kin__enhanced_monitoring_json(uint32_t mask);
int kin__enable_enhanced_monitoring(struct api_call *call, json_t *in, json_t **out);
int kin__disable_enhanced_monitoring(struct api_call *call, json_t *in, json_t **out);
int kin__put_resource_policy(struct api_call *call, json_t *in, json_t **out);
int kin__get_resource_policy(struct api_call *call, json_t *in, json_t **out);
int kin__delete_resource_policy(struct api_call *call, json_t *in, json_t **out);

/* kinesis_subscribe.c: SubscribeToShard's event stream */
int kin__subscribe_to_shard(struct api_call *call, json_t *in, json_t **out);
/* Ends every subscription of the consumer (its deregistration). */
void kin__subscriptions_revoke(const char *consumer_arn);

#endif
