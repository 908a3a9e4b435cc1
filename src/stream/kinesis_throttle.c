/*
 * The Kinesis adapter's side of the throughput limits (stream/throttle.h): which key a
 * request is counted under, and the errors AWS answers when it is over, worded as AWS
 * words them:
 *
 *   PutRecord, PutRecords (each record), GetShardIterator: ProvisionedThroughputExceeded,
 *     "Rate exceeded for shard shardId-000000000000 in stream S under account A."
 *   GetRecords: ProvisionedThroughputExceededException,
 *     "Rate exceeded for Shard - A/S/shardId-000000000000"
 *   control plane: LimitExceededException, "Rate exceeded for stream S under account A."
 *     when the request names a stream, else "Rate exceeded for account A."
 *   SubscribeToShard (1 call/s per consumer and shard): LimitExceededException,
 *     "Rate exceeded for consumer C and shard shardId-000000000000."
 */
#include <stdio.h>
#include <string.h>

#include "stream/kinesis_int.h"
#include "stream/throttle.h"

void kin__shard_rate_message(const char *stream, uint32_t shard_idx, const char *account, char *out,
                             size_t size)
{
    snprintf(out, size, "Rate exceeded for shard shardId-%012u in stream %s under account %s.",
             shard_idx, stream, account);
}

static struct throttle_shard shard_key(struct stream *s, uint32_t shard_idx)
{
    return (struct throttle_shard){
        .stream_id = stream_id(s), .seq_tag = stream_seq_tag(s), .shard_idx = shard_idx};
}

int kin__throttle_iterator(struct api_call *call, struct stream *s, uint32_t shard_idx)
{
    struct throttle_shard key = shard_key(s, shard_idx);
    if (throttle_iterator(stream_service_throttle(call->service_ctx), &key) == 0) {
        return 0;
    }
    char msg[400];
    kin__shard_rate_message(stream_name(s), shard_idx, call->req->account_id, msg, sizeof(msg));
    return err_set(&call->err, SL_E(THROUGHPUT_EXCEEDED), "%s", msg);
}

int kin__throttle_read(struct api_call *call, struct stream *s, uint32_t shard_idx)
{
    struct throttle_shard key = shard_key(s, shard_idx);
    if (throttle_read(stream_service_throttle(call->service_ctx), &key) == 0) {
        return 0;
    }
    kin__count_read_exceeded(s, shard_idx); /* ReadProvisionedThroughputExceeded */
    return err_set(&call->err, SL_E(THROUGHPUT_EXCEEDED),
                   "Rate exceeded for Shard - %s/%s/shardId-%012u", call->req->account_id,
                   stream_name(s), shard_idx);
}

void kin__throttle_read_charge(struct api_call *call, struct stream *s, uint32_t shard_idx,
                               size_t bytes)
{
    struct throttle_shard key = shard_key(s, shard_idx);
    throttle_read_charge(stream_service_throttle(call->service_ctx), &key, bytes);
}

/*
 * The stream a control-plane request names, into out: StreamName, else the name in
 * StreamARN, else the stream of ConsumerARN (DescribeStreamConsumer and
 * DeregisterStreamConsumer count per stream, and may name the consumer alone). NULL
 * when it names none.
 */
static const char *named_stream(json_t *in, char *out, size_t size)
{
    const char *name = json_string_value(json_object_get(in, "StreamName"));
    if (name != NULL) {
        return name;
    }
    const char *arn = json_string_value(json_object_get(in, "StreamARN"));
    if (arn == NULL) {
        arn = json_string_value(json_object_get(in, "ConsumerARN"));
    }
    const char *slash = arn != NULL ? strstr(arn, ":stream/") : NULL;
    if (slash == NULL) {
        return NULL;
    }
    name = slash + strlen(":stream/");
    size_t len = strcspn(name, "/");
    snprintf(out, size, "%.*s", (int)(len < size ? len : size - 1), name);
    return out;
}

int kin__throttle_control(struct api_call *call, json_t *in)
{
    char buf[STREAM_NAME_MAX + 1];
    const char *stream = named_stream(in, buf, sizeof(buf));
    if (throttle_control(stream_service_throttle(call->service_ctx), call->operation,
                         call->req->region, call->req->account_id, stream) == 0) {
        return 0;
    }
    if (stream != NULL) {
        return err_set(&call->err, SL_E(LIMIT_EXCEEDED),
                       "Rate exceeded for stream %.128s under account %s.", stream,
                       call->req->account_id);
    }
    return err_set(&call->err, SL_E(LIMIT_EXCEEDED), "Rate exceeded for account %s.",
                   call->req->account_id);
}

int kin__throttle_subscribe(struct api_call *call, const char *consumer_arn, uint32_t shard_idx)
{
    if (throttle_subscribe(stream_service_throttle(call->service_ctx), consumer_arn, shard_idx) ==
        0) {
        return 0;
    }
    return err_set(&call->err, SL_E(LIMIT_EXCEEDED),
                   "Rate exceeded for consumer %s and shard shardId-%012u.", consumer_arn,
                   shard_idx);
}
