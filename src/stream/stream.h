/*
 * Kinesis Data Streams: streams of shards, each shard a durable segment log.
 *
 * The service object owns every stream of every region of the account: their metadata
 * in the store, their shard logs on disk under DIR/streams/<stream id>/<shard>, and a
 * background thread that applies retention. The API adapter (kinesis_api.h) and, later,
 * the delivery engine use the functions here; neither sees the logs directly.
 *
 * Stream states, as DescribeStream shows them:
 *
 *   CreateStream ─▶ CREATING ──(transition time)──▶ ACTIVE ─┬─ UpdateStreamMode ─▶ UPDATING ─▶ ACTIVE
 *                                                           └─ DeleteStream ─▶ DELETING ─▶ (gone)
 *
 * Records are accepted only while a stream is ACTIVE or UPDATING.
 */
#ifndef SLUICE_STREAM_STREAM_H
#define SLUICE_STREAM_STREAM_H

#include <stdint.h>

#include "core/config.h"
#include "core/store.h"

struct stream_service;

/* Opens every stream recorded in the store and recovers its shard logs. */
int stream_service_open(struct store *st, const struct sluice_config *cfg,
                        struct stream_service **out);
/* Stops retention, closes every log (all acknowledged records are already durable). */
void stream_service_close(struct stream_service *svc);

#endif
