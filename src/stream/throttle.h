/*
 * Kinesis throughput limits, as AWS applies them: token buckets per shard for the record
 * plane and per account or stream for the control plane.
 *
 * Per shard (AWS's Kinesis quotas; on-demand shards have the same per-shard limits):
 *   writes   1,000 records/s and 1 MiB/s (data and partition keys), PutRecord and
 *            PutRecords alike; a PutRecords record over either is refused alone.
 *   reads    5 GetRecords calls/s and 2 MiB/s. A call is refused while the shard's read
 *            bytes are in debt: a call may return up to 10 MiB, and the bytes it returns
 *            are repaid at 2 MiB/s, so after a 10 MiB call the next ones are refused for
 *            5 seconds (GetRecords' documentation says exactly this).
 *   GetShardIterator 5 calls/s.
 *   SubscribeToShard 1 call/s per consumer and shard.
 * Control plane: the rates of the API reference (DescribeStream 10/s per account,
 * ListShards 1,000/s per stream, ...), the table in throttle.c.
 *
 * The burst: every bucket holds one second of its rate and starts full. AWS accounts its
 * limits per second and documents no other burst; a bucket of one second lets through
 * exactly what a producer keeping within the limit in every second sends, lets an idle
 * shard take one second's worth at once (a 1 MiB record needs the whole byte bucket), and
 * refuses anything faster. Refused work is not charged.
 *
 * Time is the service clock (stream_service_open_with's now_ms), in milliseconds; buckets
 * refill continuously (1 record per ms at 1,000/s). A clock that steps back refills nothing.
 *
 * Threads: every function may be called from any thread. State lives in a hash table split
 * into stripes, each under its own mutex held only for a few arithmetic steps, so callers
 * on different shards rarely meet and a throttled caller costs a lookup. Entries idle for
 * a minute (whose buckets are full again: the same as none) are dropped.
 *
 * A disabled limiter (sluice serve --throughput-limits off) admits everything at once.
 */
#ifndef SLUICE_STREAM_THROTTLE_H
#define SLUICE_STREAM_THROTTLE_H

#include <stddef.h>
#include <stdint.h>

#include "stream/stream.h"

#define THROTTLE_WRITE_RECORDS_PER_S 1000
#define THROTTLE_WRITE_BYTES_PER_S (1024 * 1024)
#define THROTTLE_READ_CALLS_PER_S 5
#define THROTTLE_READ_BYTES_PER_S (2 * 1024 * 1024)
#define THROTTLE_ITERATORS_PER_S 5
#define THROTTLE_SUBSCRIBES_PER_S 1 /* SubscribeToShard per consumer and shard */

struct throttle;

/* Which shard: a re-created stream of the same name has another seq_tag. */
struct throttle_shard {
    int64_t stream_id;
    uint64_t seq_tag;
    uint32_t shard_idx;
};

/*
 * A limiter reading time from now_ms(clock_arg); enabled 0 makes one that admits
 * everything. Never fails (allocation aborts). Free with throttle_destroy (NULL is fine).
 */
struct throttle *throttle_create(int enabled, stream_clock_fn now_ms, void *clock_arg);
void throttle_destroy(struct throttle *t);
int throttle_enabled(const struct throttle *t);

/*
 * Admits n records of sizes bytes[i] (data + partition key) to shard sh, in order: each
 * takes one record token and its bytes when both buckets hold enough, else refused[i]
 * (OUT) is set to 1 and it takes nothing (a later, smaller record may still pass).
 * Returns how many were admitted.
 */
size_t throttle_write(struct throttle *t, const struct throttle_shard *sh, const uint32_t *bytes,
                      size_t n, uint8_t *refused);
/*
 * A GetRecords call on sh: 0 when admitted (one call token taken), SL_E(THROUGHPUT_EXCEEDED)
 * when the calls bucket is empty or the read bytes are in debt (nothing taken).
 * throttle_read_charge then charges the bytes the admitted call returned.
 */
int throttle_read(struct throttle *t, const struct throttle_shard *sh);
void throttle_read_charge(struct throttle *t, const struct throttle_shard *sh, size_t bytes);
/* A GetShardIterator call on sh: 0 or SL_E(THROUGHPUT_EXCEEDED). */
int throttle_iterator(struct throttle *t, const struct throttle_shard *sh);

/*
 * A control-plane call of operation op (its API name) in region and account, naming
 * stream (NULL when it names none). Operations AWS limits per stream are counted per
 * stream name; the others per account. Returns 0 (also for operations with no limit here)
 * or SL_E(LIMIT_EXCEEDED).
 */
int throttle_control(struct throttle *t, const char *op, const char *region, const char *account,
                     const char *stream);
/* A SubscribeToShard call of consumer_arn to shard shard_idx (AWS: one call a second per
 * consumer and shard, whatever its outcome): 0 or SL_E(LIMIT_EXCEEDED). */
int throttle_subscribe(struct throttle *t, const char *consumer_arn, uint32_t shard_idx);
/* The documented rate of op in calls per second, 0 when none; *per_stream (OUT, may be
 * NULL) says whether it counts per stream. */
int throttle_control_rate(const char *op, int *per_stream);

#endif
