/*
 * The Kinesis control plane over awsJson1_1: streams, shards, iterators, retention,
 * tags, modes, encryption, limits. The record plane (PutRecord, PutRecords, GetRecords)
 * is in kinesis_records.c. Shapes and names follow botocore's kinesis model; error
 * wording follows the service where practical.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/mem.h"
#include "stream/kinesis_api.h"
#include "stream/kinesis_int.h"
#include "stream/throttle.h"

#define NEXT_TOKEN_TTL_MS (300 * 1000)

static json_t *mode_details(enum stream_mode mode)
{
    return json_pack("{s:s}", "StreamMode", stream_mode_name(mode));
}

/* A shard's starting number precedes its first record, and a closed shard's ending number
   follows its last, as on AWS (and both are of the shard: see shardmath.c). */
static json_t *shard_json(const struct stream_shard_info *sh)
{
    char start[48], end[48], seq[STREAM_SEQNO_LEN + 1];
    stream_hashkey_format(sh->start_hash, start);
    stream_hashkey_format(sh->end_hash, end);
    struct stream_seqno_fields f = {
        .shard = {.shard_idx = sh->shard_idx, .epoch_s = sh->seq_epoch_s},
        .counter = 0,
        .time_s = sh->seq_epoch_s};
    stream_seqno_encode(&f, seq);
    json_t *j = json_pack("{s:s, s:{s:s, s:s}, s:{s:s}}", "ShardId", sh->shard_id,
                          "HashKeyRange", "StartingHashKey", start, "EndingHashKey", end,
                          "SequenceNumberRange", "StartingSequenceNumber", seq);
    if (sh->parent_idx >= 0) {
        char id[STREAM_SHARD_ID_LEN + 1];
        stream_shard_id_format((uint32_t)sh->parent_idx, id);
        json_object_set_new(j, "ParentShardId", json_string(id));
    }
    if (sh->adjacent_parent_idx >= 0) {
        char id[STREAM_SHARD_ID_LEN + 1];
        stream_shard_id_format((uint32_t)sh->adjacent_parent_idx, id);
        json_object_set_new(j, "AdjacentParentShardId", json_string(id));
    }
    if (!sh->open) {
        f.counter = STREAM_SEQNO_COUNTER_MAX;
        f.time_s = sh->closed_ms / 1000 > sh->seq_epoch_s ? sh->closed_ms / 1000 : sh->seq_epoch_s;
        stream_seqno_encode(&f, seq);
        json_object_set_new(json_object_get(j, "SequenceNumberRange"), "EndingSequenceNumber",
                            json_string(seq));
    }
    return j;
}

/* The stream named by StreamName and/or StreamARN in the input. */
static int resolve_input(struct api_call *call, json_t *in, struct stream **out)
{
    const char *name, *arn;
    int rc = kin__get_string(call, in, "StreamName", 0, 1, STREAM_NAME_MAX, &name);
    if (rc == 0) {
        rc = kin__get_string(call, in, "StreamARN", 0, 1, 2048, &arn);
    }
    if (rc == 0) {
        rc = kin__resolve(call, name, arn, out);
    }
    return rc;
}

/* ---- operations ---- */

static int create_stream(struct api_call *call, json_t *in, json_t **out)
{
    (void)out;
    struct stream_service *svc = call->service_ctx;
    const char *name;
    long long shard_count;
    int rc = kin__get_string(call, in, "StreamName", 1, 1, STREAM_NAME_MAX, &name);
    if (rc < 0) {
        return rc;
    }
    if (!kin__valid_stream_name(name, strlen(name))) {
        return kin__bad_stream_name(call, "streamName", name);
    }
    if ((rc = kin__get_int(call, in, "ShardCount", 0, 1, INT32_MAX, 0, &shard_count)) < 0) {
        return rc;
    }
    enum stream_mode mode = STREAM_MODE_PROVISIONED;
    json_t *details = json_object_get(in, "StreamModeDetails");
    if (details != NULL && !json_is_null(details)) {
        const char *m;
        if (!json_is_object(details)) {
            return err_set(&call->err, SL_E(SERIALIZATION),
                           "Unexpected value type in payload for field StreamModeDetails");
        }
        if ((rc = kin__get_string(call, details, "StreamMode", 1, 1, 32, &m)) < 0) {
            return rc;
        }
        if (strcmp(m, "ON_DEMAND") == 0) {
            mode = STREAM_MODE_ON_DEMAND;
        } else if (strcmp(m, "PROVISIONED") != 0) {
            return kin__validation(call, "streamModeDetails.streamMode", m,
                                   "Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]");
        }
    }
    if (mode == STREAM_MODE_ON_DEMAND) {
        if (shard_count != 0) {
            return err_set(&call->err, SL_E(INVALID_ARGUMENT),
                           "ShardCount must not be specified for ON_DEMAND stream mode.");
        }
        shard_count = STREAM_ON_DEMAND_INITIAL_SHARDS;
    } else if (shard_count == 0) {
        return err_set(&call->err, SL_E(INVALID_ARGUMENT),
                       "ShardCount must be specified for PROVISIONED stream mode.");
    }
    json_t *tags = json_object_get(in, "Tags");
    if (tags != NULL && !json_is_null(tags) &&
        (!json_is_object(tags) || json_object_size(tags) > STREAM_TAGS_MAX)) {
        return err_set(&call->err, SL_E(INVALID_ARGUMENT), "Tags must be a map of at most 50 tags.");
    }
    const char **keys = NULL, **values = NULL;
    size_t n_tags = 0;
    if (tags != NULL && json_is_object(tags) &&
        (rc = kin__tags_collect(call, name, tags, &keys, &values, &n_tags)) < 0) {
        return rc;
    }
    struct stream_create_params p = {.region = call->req->region,
                                     .account = call->req->account_id,
                                     .name = name,
                                     .mode = mode,
                                     .shard_count = (int)shard_count,
                                     .tag_keys = keys,
                                     .tag_values = values,
                                     .n_tags = n_tags};
    rc = stream_create(svc, &p, &call->err);
    free(keys);
    free(values);
    return rc;
}

static int delete_stream(struct api_call *call, json_t *in, json_t **out)
{
    (void)out;
    struct stream *s;
    int rc = resolve_input(call, in, &s);
    if (rc < 0) {
        return rc;
    }
    json_t *enforce = json_object_get(in, "EnforceConsumerDeletion");
    if (enforce != NULL && !json_is_boolean(enforce) && !json_is_null(enforce)) {
        rc = err_set(&call->err, SL_E(SERIALIZATION),
                     "Unexpected value type in payload for field EnforceConsumerDeletion");
    } else if (!json_is_true(enforce) && kin__consumer_count(call->service_ctx, s) > 0) {
        rc = err_set(&call->err, SL_E(RESOURCE_IN_USE),
                     "Stream %s under account %s has registered consumers. Deregister them or "
                     "set EnforceConsumerDeletion to true.",
                     stream_name(s), call->req->account_id);
    } else {
        rc = stream_delete(call->service_ctx, s, &call->err);
        if (rc == SL_E(RESOURCE_NOT_FOUND)) {
            rc = kin__not_found(call, stream_name(s));
        }
        if (rc == 0) {
            kin__consumers_drop(call->service_ctx, s); /* they go with their stream */
            kin__policies_drop(call->service_ctx, s, NULL);
        }
    }
    stream_release(s);
    return rc;
}

/* The common part of DescribeStream and DescribeStreamSummary. */
static json_t *description(const struct stream_info *info)
{
    json_t *d = json_pack(
        "{s:s, s:s, s:s, s:o, s:i, s:o, s:o, s:s}", "StreamName", info->name, "StreamARN",
        info->arn, "StreamStatus", stream_status_name(info->status), "StreamModeDetails",
        mode_details(info->mode), "RetentionPeriodHours", info->retention_hours,
        "StreamCreationTimestamp", kin__timestamp(info->created_ms), "EnhancedMonitoring",
        kin__enhanced_monitoring_json(info->shard_metrics), "EncryptionType", info->encryption);
    if (strcmp(info->encryption, "KMS") == 0) {
        json_object_set_new(d, "KeyId", json_string(info->key_id));
    }
    return d;
}

static int describe_stream(struct api_call *call, json_t *in, json_t **out)
{
    struct stream *s;
    long long limit;
    const char *start_id;
    int rc = resolve_input(call, in, &s);
    if (rc < 0) {
        return rc;
    }
    if ((rc = kin__get_int(call, in, "Limit", 0, 1, 10000, 100, &limit)) < 0 ||
        (rc = kin__get_string(call, in, "ExclusiveStartShardId", 0, 1, 128, &start_id)) < 0) {
        stream_release(s);
        return rc;
    }
    uint32_t first = 0;
    if (start_id != NULL) {
        uint32_t idx;
        if (stream_shard_id_parse(start_id, &idx) == 0) {
            first = idx + 1;
        }
    }
    struct stream_info *info = xmalloc(sizeof(*info));
    stream_describe(s, info);
    struct stream_shard_info *shards;
    size_t n_shards;
    stream_shards_list(s, &shards, &n_shards);
    json_t *arr = json_array();
    size_t i = 0;
    while (i < n_shards && shards[i].shard_idx < first) {
        i++;
    }
    for (; i < n_shards && json_array_size(arr) < (size_t)limit; i++) {
        json_array_append_new(arr, shard_json(&shards[i]));
    }
    json_t *d = description(info);
    json_object_set_new(d, "Shards", arr);
    json_object_set_new(d, "HasMoreShards", json_boolean(i < n_shards));
    *out = json_pack("{s:o}", "StreamDescription", d);
    free(shards);
    free(info);
    stream_release(s);
    return 0;
}

static int describe_stream_summary(struct api_call *call, json_t *in, json_t **out)
{
    struct stream *s;
    int rc = resolve_input(call, in, &s);
    if (rc < 0) {
        return rc;
    }
    struct stream_info *info = xmalloc(sizeof(*info));
    stream_describe(s, info);
    json_t *d = description(info);
    json_object_set_new(d, "OpenShardCount", json_integer(info->n_open_shards));
    json_object_set_new(d, "ConsumerCount",
                        json_integer(kin__consumer_count(call->service_ctx, s)));
    *out = json_pack("{s:o}", "StreamDescriptionSummary", d);
    free(info);
    stream_release(s);
    return 0;
}

/*
 * Paging tokens: base64url("<issued ms>\n<what>\n<after>") plus a MAC, so a client can
 * neither forge one nor keep one past its life.
 */
static char *token_make(struct stream_service *svc, const char *what, const char *after,
                        int64_t now_ms)
{
    char *plain = xasprintf("%lld\n%s\n%s", (long long)now_ms, what, after);
    size_t len = strlen(plain);
    uint8_t *raw = xmalloc(len + 16);
    memcpy(raw, plain, len);
    uint8_t mac[SHA256_LEN];
    stream_service_sign(svc, plain, len, mac);
    memcpy(raw + len, mac, 16);
    char *text = xmalloc(BASE64_ENCODED_LEN(len + 16) + 1);
    text[base64url_encode(raw, len + 16, text)] = '\0';
    free(raw);
    free(plain);
    return text;
}

/* Checks a token and returns its "after" part (caller frees), or an error. */
static int token_open(struct api_call *call, const char *token, const char *what, char **after)
{
    struct stream_service *svc = call->service_ctx;
    size_t len = strlen(token);
    uint8_t *raw = xmalloc(BASE64_DECODED_MAX(len) + 1);
    long n = base64url_decode(token, len, raw);
    int rc = err_set(&call->err, SL_E(INVALID_ARGUMENT), "Invalid NextToken.");
    if (n > 16) {
        uint8_t mac[SHA256_LEN];
        stream_service_sign(svc, raw, (size_t)n - 16, mac);
        if (crypto_equal(mac, raw + n - 16, 16)) {
            raw[n - 16] = '\0';
            char *nl1 = strchr((char *)raw, '\n');
            char *nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
            if (nl2 != NULL) {
                *nl1 = *nl2 = '\0';
                long long issued = atoll((char *)raw);
                if (strcmp(nl1 + 1, what) != 0) {
                    /* a token of another listing */
                } else if (call->req->now_ms - issued > NEXT_TOKEN_TTL_MS) {
                    rc = err_set(&call->err, SL_E(EXPIRED_NEXT_TOKEN),
                                 "The timestamp on the NextToken has expired.");
                } else {
                    *after = xstrdup(nl2 + 1);
                    err_clear(&call->err);
                    rc = 0;
                }
            }
        }
    }
    free(raw);
    return rc;
}

static int list_streams(struct api_call *call, json_t *in, json_t **out)
{
    struct stream_service *svc = call->service_ctx;
    long long limit;
    const char *start, *token;
    int rc;
    if ((rc = kin__get_int(call, in, "Limit", 0, 1, 10000, 100, &limit)) < 0 ||
        (rc = kin__get_string(call, in, "ExclusiveStartStreamName", 0, 1, STREAM_NAME_MAX,
                              &start)) < 0 ||
        (rc = kin__get_string(call, in, "NextToken", 0, 1, 1048576, &token)) < 0) {
        return rc;
    }
    char *after = NULL;
    if (token != NULL) {
        if (start != NULL) {
            return err_set(&call->err, SL_E(INVALID_ARGUMENT),
                           "NextToken and ExclusiveStartStreamName cannot be provided together.");
        }
        if ((rc = token_open(call, token, "streams", &after)) < 0) {
            return rc;
        }
        start = after;
    }
    struct stream_info *infos;
    size_t n;
    stream_list(svc, call->req->region, &infos, &n); /* sorted by name */
    json_t *names = json_array();
    json_t *summaries = json_array();
    size_t i = 0;
    while (i < n && start != NULL && strcmp(infos[i].name, start) <= 0) {
        i++;
    }
    const char *last = NULL;
    for (; i < n && json_array_size(names) < (size_t)limit; i++) {
        const struct stream_info *info = &infos[i];
        json_array_append_new(names, json_string(info->name));
        json_array_append_new(summaries,
                              json_pack("{s:s, s:s, s:s, s:o, s:o}", "StreamName", info->name,
                                        "StreamARN", info->arn, "StreamStatus",
                                        stream_status_name(info->status), "StreamModeDetails",
                                        mode_details(info->mode), "StreamCreationTimestamp",
                                        kin__timestamp(info->created_ms)));
        last = info->name;
    }
    int more = i < n;
    *out = json_pack("{s:o, s:b, s:o}", "StreamNames", names, "HasMoreStreams", more,
                     "StreamSummaries", summaries);
    if (more && last != NULL) {
        char *t = token_make(svc, "streams", last, call->req->now_ms);
        json_object_set_new(*out, "NextToken", json_string(t));
        free(t);
    }
    free(infos);
    free(after);
    return 0;
}

/* ListShards' ShardFilter types, in the model's order. */
enum shard_filter {
    FILTER_NONE,
    FILTER_AFTER_SHARD_ID,
    FILTER_AT_TRIM_HORIZON,
    FILTER_FROM_TRIM_HORIZON,
    FILTER_AT_LATEST,
    FILTER_AT_TIMESTAMP,
    FILTER_FROM_TIMESTAMP,
};
static const char *const filter_names[] = {
    NULL,        "AFTER_SHARD_ID", "AT_TRIM_HORIZON", "FROM_TRIM_HORIZON",
    "AT_LATEST", "AT_TIMESTAMP",   "FROM_TIMESTAMP"};

/* Reads ShardFilter into *type, *first (raised past AFTER_SHARD_ID's shard) and *ts_ms. */
static int read_shard_filter(struct api_call *call, json_t *filter, enum shard_filter *type,
                             uint32_t *first, int64_t *ts_ms)
{
    const char *name, *after_id;
    int rc;
    if (!json_is_object(filter)) {
        return err_set(&call->err, SL_E(SERIALIZATION),
                       "Unexpected value type in payload for field ShardFilter");
    }
    if ((rc = kin__get_string(call, filter, "Type", 1, 1, 32, &name)) < 0 ||
        (rc = kin__get_string(call, filter, "ShardId", 0, 1, 128, &after_id)) < 0) {
        return rc;
    }
    json_t *ts = json_object_get(filter, "Timestamp");
    if (ts != NULL && !json_is_null(ts) && !json_is_number(ts)) {
        return err_set(&call->err, SL_E(SERIALIZATION),
                       "Unexpected value type in payload for field Timestamp");
    }
    *type = FILTER_NONE;
    for (size_t t = FILTER_AFTER_SHARD_ID; t <= FILTER_FROM_TIMESTAMP; t++) {
        if (strcmp(name, filter_names[t]) == 0) {
            *type = (enum shard_filter)t;
        }
    }
    if (*type == FILTER_NONE) {
        return kin__validation(call, "shardFilter.type", name,
                               "Member must satisfy enum value set: [AFTER_SHARD_ID, "
                               "AT_TRIM_HORIZON, FROM_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP, "
                               "FROM_TIMESTAMP]");
    }
    int wants_id = *type == FILTER_AFTER_SHARD_ID;
    int wants_ts = *type == FILTER_AT_TIMESTAMP || *type == FILTER_FROM_TIMESTAMP;
    int has_ts = ts != NULL && !json_is_null(ts);
    uint32_t idx;
    if (wants_id && (after_id == NULL || stream_shard_id_parse(after_id, &idx) < 0)) {
        return err_set(&call->err, SL_E(INVALID_ARGUMENT),
                       "ShardId must be specified for the AFTER_SHARD_ID filter type.");
    }
    if (!wants_id && after_id != NULL) {
        return err_set(&call->err, SL_E(INVALID_ARGUMENT),
                       "ShardId can only be specified for the AFTER_SHARD_ID filter type.");
    }
    if (wants_ts && !has_ts) {
        return err_set(&call->err, SL_E(INVALID_ARGUMENT),
                       "Timestamp must be specified for the %s filter type.", name);
    }
    if (!wants_ts && has_ts) {
        return err_set(&call->err, SL_E(INVALID_ARGUMENT),
                       "Timestamp can only be specified for the AT_TIMESTAMP and FROM_TIMESTAMP "
                       "filter types.");
    }
    if (wants_id && idx + 1 > *first) {
        *first = idx + 1;
    }
    if (has_ts) {
        *ts_ms = (int64_t)llround(json_number_value(ts) * 1000.0);
    }
    return 0;
}

/* 1 when sh passes the filter, for a stream whose trim horizon is horizon_ms. */
static int filter_keeps(enum shard_filter type, int64_t ts_ms, int64_t horizon_ms,
                        const struct stream_shard_info *sh)
{
    int open_after = sh->open; /* open, or closed at or after a time, below */
    switch (type) {
    case FILTER_AT_LATEST: return sh->open;
    case FILTER_AT_TRIM_HORIZON:
        return sh->created_ms <= horizon_ms && (open_after || sh->closed_ms >= horizon_ms);
    case FILTER_AT_TIMESTAMP:
        return sh->created_ms <= ts_ms && (open_after || sh->closed_ms >= ts_ms);
    case FILTER_FROM_TIMESTAMP:
        /* a time before the trim horizon is read as the trim horizon */
        return open_after || sh->closed_ms >= (ts_ms < horizon_ms ? horizon_ms : ts_ms);
    case FILTER_FROM_TRIM_HORIZON:
    case FILTER_AFTER_SHARD_ID:
    case FILTER_NONE:
    default: return open_after || sh->closed_ms >= horizon_ms;
    }
}

static int list_shards(struct api_call *call, json_t *in, json_t **out)
{
    struct stream_service *svc = call->service_ctx;
    const char *token, *start_id, *name, *arn;
    long long max_results;
    int rc;
    if ((rc = kin__get_string(call, in, "NextToken", 0, 1, 1048576, &token)) < 0 ||
        (rc = kin__get_string(call, in, "ExclusiveStartShardId", 0, 1, 128, &start_id)) < 0 ||
        (rc = kin__get_int(call, in, "MaxResults", 0, 1, 10000, 1000, &max_results)) < 0 ||
        (rc = kin__get_string(call, in, "StreamName", 0, 1, STREAM_NAME_MAX, &name)) < 0 ||
        (rc = kin__get_string(call, in, "StreamARN", 0, 1, 2048, &arn)) < 0) {
        return rc;
    }
    json_t *filter = json_object_get(in, "ShardFilter");
    if (filter != NULL && json_is_null(filter)) {
        filter = NULL;
    }
    enum shard_filter ftype = FILTER_NONE;
    int64_t ts_ms = 0;
    uint32_t first = 0;
    char *after = NULL;
    struct stream *s = NULL;
    if (token != NULL) {
        if (name != NULL || start_id != NULL) {
            return err_set(&call->err, SL_E(INVALID_ARGUMENT),
                           "NextToken and StreamName cannot be provided together.");
        }
        if (filter != NULL) {
            return err_set(&call->err, SL_E(INVALID_ARGUMENT),
                           "NextToken and ShardFilter cannot be provided together.");
        }
        if ((rc = token_open(call, token, "shards", &after)) < 0) {
            return rc;
        }
        /* after = "<stream name>/<last shard number>/<filter>/<timestamp ms>" (a name has no
           slash) */
        char *f1 = strchr(after, '/');
        char *f2 = f1 != NULL ? strchr(f1 + 1, '/') : NULL;
        char *f3 = f2 != NULL ? strchr(f2 + 1, '/') : NULL;
        if (f3 == NULL) {
            free(after);
            return err_set(&call->err, SL_E(INVALID_ARGUMENT), "Invalid NextToken.");
        }
        *f1 = *f2 = *f3 = '\0';
        first = (uint32_t)strtoul(f1 + 1, NULL, 10) + 1;
        ftype = (enum shard_filter)atoi(f2 + 1);
        ts_ms = atoll(f3 + 1);
        rc = kin__resolve(call, after, NULL, &s);
    } else {
        if (filter != NULL) {
            rc = read_shard_filter(call, filter, &ftype, &first, &ts_ms);
        }
        if (rc == 0) {
            rc = kin__resolve(call, name, arn, &s);
        }
    }
    if (rc < 0) {
        free(after);
        return rc;
    }
    if (start_id != NULL) {
        uint32_t idx;
        if (stream_shard_id_parse(start_id, &idx) == 0 && idx + 1 > first) {
            first = idx + 1;
        }
    }
    struct stream_info *info = xmalloc(sizeof(*info));
    stream_describe(s, info);
    /* The trim horizon: the oldest record the retention keeps, but no earlier than the
       stream (so AT_TRIM_HORIZON of a young stream gives its first shards, where a
       consumer starts). */
    int64_t horizon_ms = call->req->now_ms - (int64_t)info->retention_hours * 3600 * 1000;
    if (horizon_ms < info->created_ms) {
        horizon_ms = info->created_ms;
    }
    free(info);
    struct stream_shard_info *shards = NULL;
    size_t n_shards = 0;
    stream_shards_list(s, &shards, &n_shards);
    json_t *arr = json_array();
    size_t i = first < n_shards ? first : n_shards; /* shard i is shardId-i */
    uint32_t last_idx = 0;
    int more = 0;
    for (; i < n_shards; i++) {
        if (!filter_keeps(ftype, ts_ms, horizon_ms, &shards[i])) {
            continue;
        }
        if (json_array_size(arr) == (size_t)max_results) {
            more = 1;
            break;
        }
        json_array_append_new(arr, shard_json(&shards[i]));
        last_idx = shards[i].shard_idx;
    }
    *out = json_pack("{s:o}", "Shards", arr);
    if (more) {
        char *what =
            xasprintf("%s/%u/%d/%lld", stream_name(s), last_idx, (int)ftype, (long long)ts_ms);
        char *t = token_make(svc, "shards", what, call->req->now_ms);
        json_object_set_new(*out, "NextToken", json_string(t));
        free(t);
        free(what);
    }
    free(shards);
    stream_release(s);
    free(after);
    return 0;
}

static int get_shard_iterator(struct api_call *call, json_t *in, json_t **out)
{
    struct stream_service *svc = call->service_ctx;
    const char *shard_id, *type, *seq;
    int rc;
    if ((rc = kin__get_string(call, in, "ShardId", 1, 1, 128, &shard_id)) < 0 ||
        (rc = kin__get_string(call, in, "ShardIteratorType", 1, 1, 32, &type)) < 0 ||
        (rc = kin__get_string(call, in, "StartingSequenceNumber", 0, 1, 129, &seq)) < 0) {
        return rc;
    }
    static const struct {
        const char *name;
        enum stream_position_type type;
    } types[] = {
        {"AT_SEQUENCE_NUMBER", STREAM_AT_SEQUENCE_NUMBER},
        {"AFTER_SEQUENCE_NUMBER", STREAM_AFTER_SEQUENCE_NUMBER},
        {"TRIM_HORIZON", STREAM_TRIM_HORIZON},
        {"LATEST", STREAM_LATEST},
        {"AT_TIMESTAMP", STREAM_AT_TIMESTAMP},
    };
    struct stream_position pos = {.type = STREAM_AT_INDEX};
    int known = 0;
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        if (strcmp(type, types[t].name) == 0) {
            pos.type = types[t].type;
            known = 1;
        }
    }
    if (!known) {
        return kin__validation(call, "shardIteratorType", type,
                               "Member must satisfy enum value set: [AT_SEQUENCE_NUMBER, "
                               "AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP]");
    }
    json_t *ts = json_object_get(in, "Timestamp");
    if (ts != NULL && !json_is_null(ts) && !json_is_number(ts)) {
        return err_set(&call->err, SL_E(SERIALIZATION),
                       "Unexpected value type in payload for field Timestamp");
    }
    struct stream *s;
    if ((rc = resolve_input(call, in, &s)) < 0) {
        return rc;
    }
    uint32_t shard_idx;
    if ((rc = kin__find_shard(call, s, shard_id, &shard_idx)) < 0 ||
        (rc = kin__throttle_iterator(call, s, shard_idx)) < 0) {
        stream_release(s);
        return rc;
    }
    switch (pos.type) {
    case STREAM_AT_SEQUENCE_NUMBER:
    case STREAM_AFTER_SEQUENCE_NUMBER:
        if (seq == NULL) {
            rc = err_set(&call->err, SL_E(INVALID_ARGUMENT),
                         "Must specify StartingSequenceNumber for ShardIteratorType %s.", type);
        }
        pos.sequence_number = seq;
        pos.seqno_len = seq != NULL ? strlen(seq) : 0;
        break;
    case STREAM_AT_TIMESTAMP:
        if (ts == NULL || json_is_null(ts)) {
            rc = err_set(&call->err, SL_E(INVALID_ARGUMENT),
                         "Must specify timestampInMillis parameter for iterator of type "
                         "AT_TIMESTAMP. Current request has no timestamp parameter.");
        } else {
            pos.timestamp_ms = (int64_t)llround(json_number_value(ts) * 1000.0);
            if (pos.timestamp_ms > call->req->now_ms) {
                rc = err_set(&call->err, SL_E(INVALID_ARGUMENT),
                             "The timestampInMillis parameter cannot be greater than the "
                             "currentTimestampInMillis. timestampInMillis: %lld, "
                             "currentTimestampInMillis: %lld",
                             (long long)pos.timestamp_ms, (long long)call->req->now_ms);
            }
        }
        break;
    default: break;
    }
    struct stream_reader *r = NULL;
    if (rc == 0) {
        rc = stream_reader_open(s, shard_idx, &pos, &r);
        if (rc == SL_E(INVALID_ARGUMENT)) {
            rc = err_set(&call->err, SL_E(INVALID_ARGUMENT),
                         "Invalid StartingSequenceNumber. It encodes %s, while it was used in a "
                         "call to a shard with %s in stream %s under account %s.",
                         seq, shard_id, stream_name(s), call->req->account_id);
        } else if (rc < 0) {
            rc = err_set(&call->err, rc, "Internal service failure.");
        }
    }
    if (rc == 0) {
        enum stream_status st = stream_status_get(s);
        if (st == STREAM_CREATING || st == STREAM_DELETING) {
            rc = kin__not_found(call, stream_name(s));
        }
    }
    if (rc == 0) {
        struct stream_iterator_pos ipos = {.stream_id = stream_id(s),
                                           .seq_tag = stream_seq_tag(s),
                                           .shard_idx = shard_idx,
                                           .index = stream_reader_position(r),
                                           .issued_ms = call->req->now_ms};
        char text[STREAM_ITERATOR_TEXT_MAX];
        stream_iterator_encode(svc, &ipos, text);
        *out = json_pack("{s:s}", "ShardIterator", text);
    }
    stream_reader_close(r);
    stream_release(s);
    return rc;
}

static int change_retention(struct api_call *call, json_t *in, int increase)
{
    long long hours;
    int rc = kin__get_int(call, in, "RetentionPeriodHours", 1, 1, INT32_MAX, 0, &hours);
    if (rc < 0) {
        return rc;
    }
    struct stream *s;
    if ((rc = resolve_input(call, in, &s)) < 0) {
        return rc;
    }
    rc = stream_update_retention(call->service_ctx, s, (int)hours, increase ? 1 : -1, &call->err);
    stream_release(s);
    return rc;
}

static int increase_retention(struct api_call *call, json_t *in, json_t **out)
{
    (void)out;
    return change_retention(call, in, 1);
}

static int decrease_retention(struct api_call *call, json_t *in, json_t **out)
{
    (void)out;
    return change_retention(call, in, 0);
}

static int update_stream_mode(struct api_call *call, json_t *in, json_t **out)
{
    (void)out;
    const char *arn, *mode;
    int rc = kin__get_string(call, in, "StreamARN", 1, 1, 2048, &arn);
    if (rc < 0) {
        return rc;
    }
    json_t *details = json_object_get(in, "StreamModeDetails");
    if (details == NULL || !json_is_object(details)) {
        return err_set(&call->err, SL_E(VALIDATION),
                       "1 validation error detected: Value null at 'streamModeDetails' failed to "
                       "satisfy constraint: Member must not be null");
    }
    if ((rc = kin__get_string(call, details, "StreamMode", 1, 1, 32, &mode)) < 0) {
        return rc;
    }
    if (strcmp(mode, "ON_DEMAND") != 0 && strcmp(mode, "PROVISIONED") != 0) {
        return kin__validation(call, "streamModeDetails.streamMode", mode,
                               "Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]");
    }
    struct stream *s;
    if ((rc = kin__resolve(call, NULL, arn, &s)) < 0) {
        return rc;
    }
    rc = stream_update_mode(call->service_ctx, s,
                            strcmp(mode, "ON_DEMAND") == 0 ? STREAM_MODE_ON_DEMAND
                                                           : STREAM_MODE_PROVISIONED,
                            &call->err);
    stream_release(s);
    return rc;
}

/* 1 when text is n hex digits. */
static int hex_run(const char *text, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!strchr("0123456789abcdefABCDEF", text[i]) || text[i] == '\0') {
            return 0;
        }
    }
    return 1;
}

/* A KMS key id as KMS takes one: 8-4-4-4-12 hex digits, or "mrk-" and 32 (multi-Region). */
static int key_id_ok(const char *id)
{
    size_t len = strlen(id);
    if (strncmp(id, "mrk-", 4) == 0) {
        return len == 36 && hex_run(id + 4, 32);
    }
    return len == 36 && hex_run(id, 8) && id[8] == '-' && hex_run(id + 9, 4) && id[13] == '-' &&
           hex_run(id + 14, 4) && id[18] == '-' && hex_run(id + 19, 4) && id[23] == '-' &&
           hex_run(id + 24, 12);
}

/* An alias name after "alias/": letters, digits, / _ -, and not the bare "aws/" prefix. */
static int alias_ok(const char *name)
{
    size_t len = strlen(name);
    return len > 0 && len <= 250 &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_-") ==
               len &&
           strcmp(name, "aws/") != 0 && name[len - 1] != '/';
}

/*
 * The KeyId forms StartStreamEncryption takes, as KMS resolves them: a key id, a key ARN
 * (arn:aws:kms:REGION:ACCOUNT:key/ID), an alias name (alias/NAME, alias/aws/kinesis for
 * the AWS-managed key) or an alias ARN (arn:aws:kms:REGION:ACCOUNT:alias/NAME). A key of
 * a right form is then looked up in KMS (stream_kms_key_check), which must have it usable.
 */
static int kms_key_ok(const char *key)
{
    if (strncmp(key, "alias/", 6) == 0) {
        return alias_ok(key + 6);
    }
    if (strncmp(key, "arn:aws", 7) != 0) {
        return key_id_ok(key);
    }
    const char *kms = strstr(key, ":kms:");
    const char *region = kms != NULL ? kms + 5 : NULL;
    const char *account = region != NULL ? strchr(region, ':') : NULL;
    const char *rest = account != NULL ? strchr(account + 1, ':') : NULL;
    if (rest == NULL || account == region || rest - account - 1 != 12 ||
        strspn(account + 1, "0123456789") != 12) {
        return 0;
    }
    if (strncmp(rest + 1, "key/", 4) == 0) {
        return key_id_ok(rest + 5);
    }
    return strncmp(rest + 1, "alias/", 6) == 0 && alias_ok(rest + 7);
}

/* Start/StopStreamEncryption: both name the type and key; start records them. */
static int change_encryption(struct api_call *call, json_t *in, int start)
{
    const char *type, *key;
    int rc;
    if ((rc = kin__get_string(call, in, "EncryptionType", 1, 1, 16, &type)) < 0 ||
        (rc = kin__get_string(call, in, "KeyId", 1, 1, 2048, &key)) < 0) {
        return rc;
    }
    if (strcmp(type, "KMS") != 0 && (start || strcmp(type, "NONE") != 0)) {
        return kin__validation(call, "encryptionType", type,
                               "Member must satisfy enum value set: [KMS, NONE]");
    }
    struct stream *s;
    if ((rc = resolve_input(call, in, &s)) < 0) {
        return rc;
    }
    if (start && !kms_key_ok(key)) {
        stream_release(s);
        return err_set(&call->err, SL_E(KINESIS_KMS_NOT_FOUND), "Invalid keyId %s", key);
    }
    if (start && ((rc = stream_kms_key_check(call->service_ctx, s, key, &call->err)) < 0 ||
                  (rc = stream_kms_authorize(call->service_ctx, s, call->req, "kms:GenerateDataKey",
                                             key, &call->err)) < 0)) {
        stream_release(s);
        return rc;
    }
    rc = stream_update_encryption(call->service_ctx, s, start ? "KMS" : "NONE", start ? key : NULL,
                                  &call->err);
    stream_release(s);
    return rc;
}

static int start_encryption(struct api_call *call, json_t *in, json_t **out)
{
    (void)out;
    return change_encryption(call, in, 1);
}

static int stop_encryption(struct api_call *call, json_t *in, json_t **out)
{
    (void)out;
    return change_encryption(call, in, 0);
}

/* ---- resharding ---- */

/* The stream of in and the shard named by field (ResourceNotFound when it does not exist). */
static int resolve_shard(struct api_call *call, struct stream *s, const char *shard_id,
                         uint32_t *shard_idx)
{
    uint32_t idx;
    struct stream_shard_info info;
    if (stream_shard_id_parse(shard_id, &idx) == 0 && stream_shard_get(s, idx, &info) == 0) {
        *shard_idx = idx;
        return 0;
    }
    return err_set(&call->err, SL_E(RESOURCE_NOT_FOUND),
                   "Could not find shard %s in stream %s under account %s.", shard_id,
                   stream_name(s), call->req->account_id);
}

static int split_shard(struct api_call *call, json_t *in, json_t **out)
{
    (void)out;
    const char *shard_id, *key;
    int rc;
    if ((rc = kin__get_string(call, in, "ShardToSplit", 1, 1, 128, &shard_id)) < 0 ||
        (rc = kin__get_string(call, in, "NewStartingHashKey", 1, 1, 128, &key)) < 0) {
        return rc;
    }
    stream_u128 hash;
    if (stream_hashkey_parse(key, strlen(key), &hash) < 0) {
        return kin__validation(
            call, "newStartingHashKey", key,
            "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})");
    }
    struct stream *s;
    if ((rc = resolve_input(call, in, &s)) < 0) {
        return rc;
    }
    uint32_t idx;
    if ((rc = resolve_shard(call, s, shard_id, &idx)) == 0) {
        rc = stream_shard_split(call->service_ctx, s, idx, hash, &call->err);
    }
    stream_release(s);
    return rc;
}

static int merge_shards(struct api_call *call, json_t *in, json_t **out)
{
    (void)out;
    const char *shard_id, *adjacent_id;
    int rc;
    if ((rc = kin__get_string(call, in, "ShardToMerge", 1, 1, 128, &shard_id)) < 0 ||
        (rc = kin__get_string(call, in, "AdjacentShardToMerge", 1, 1, 128, &adjacent_id)) < 0) {
        return rc;
    }
    struct stream *s;
    if ((rc = resolve_input(call, in, &s)) < 0) {
        return rc;
    }
    uint32_t idx, adjacent_idx;
    if ((rc = resolve_shard(call, s, shard_id, &idx)) == 0 &&
        (rc = resolve_shard(call, s, adjacent_id, &adjacent_idx)) == 0) {
        rc = stream_shard_merge(call->service_ctx, s, idx, adjacent_idx, &call->err);
    }
    stream_release(s);
    return rc;
}

static int update_shard_count(struct api_call *call, json_t *in, json_t **out)
{
    long long target;
    const char *scaling;
    int rc;
    if ((rc = kin__get_int(call, in, "TargetShardCount", 1, 1, INT32_MAX, 0, &target)) < 0 ||
        (rc = kin__get_string(call, in, "ScalingType", 1, 1, 32, &scaling)) < 0) {
        return rc;
    }
    if (strcmp(scaling, "UNIFORM_SCALING") != 0) {
        return kin__validation(call, "scalingType", scaling,
                               "Member must satisfy enum value set: [UNIFORM_SCALING]");
    }
    struct stream *s;
    if ((rc = resolve_input(call, in, &s)) < 0) {
        return rc;
    }
    int current = 0;
    rc = stream_shard_count_update(call->service_ctx, s, (int)target, &current, &call->err);
    if (rc == 0) {
        *out = json_pack("{s:s, s:i, s:i, s:s}", "StreamName", stream_name(s), "CurrentShardCount",
                         current, "TargetShardCount", (int)target, "StreamARN", stream_arn(s));
    }
    stream_release(s);
    return rc;
}

static int describe_limits(struct api_call *call, json_t *in, json_t **out)
{
    (void)in;
    struct stream_limits lim;
    stream_service_limits(call->service_ctx, call->req->region, &lim);
    *out = json_pack("{s:i, s:i, s:i, s:i}", "ShardLimit", lim.shard_limit, "OpenShardCount",
                     lim.open_shards, "OnDemandStreamCount", lim.on_demand_streams,
                     "OnDemandStreamCountLimit", lim.on_demand_stream_limit);
    return 0;
}

static const struct api_json_op kinesis_ops[] = {
    {"CreateStream", create_stream, NULL},
    {"DeleteStream", delete_stream, NULL},
    {"DescribeStream", describe_stream, NULL},
    {"DescribeStreamSummary", describe_stream_summary, NULL},
    {"ListStreams", list_streams, NULL},
    {"ListShards", list_shards, NULL},
    {"GetShardIterator", get_shard_iterator, NULL},
    {"IncreaseStreamRetentionPeriod", increase_retention, NULL},
    {"DecreaseStreamRetentionPeriod", decrease_retention, NULL},
    {"UpdateStreamMode", update_stream_mode, NULL},
    {"StartStreamEncryption", start_encryption, NULL},
    {"StopStreamEncryption", stop_encryption, NULL},
    {"DescribeLimits", describe_limits, NULL},
    {"SplitShard", split_shard, NULL},
    {"MergeShards", merge_shards, NULL},
    {"UpdateShardCount", update_shard_count, NULL},
    {"AddTagsToStream", kin__add_tags_to_stream, NULL},
    {"ListTagsForStream", kin__list_tags_for_stream, NULL},
    {"RemoveTagsFromStream", kin__remove_tags_from_stream, NULL},
    {"TagResource", kin__tag_resource, NULL},
    {"UntagResource", kin__untag_resource, NULL},
    {"ListTagsForResource", kin__list_tags_for_resource, NULL},
    {"PutRecord", NULL, kin__put_record},
    {"PutRecords", NULL, kin__put_records},
    {"GetRecords", NULL, kin__get_records},
    {"RegisterStreamConsumer", kin__register_stream_consumer, NULL},
    {"DescribeStreamConsumer", kin__describe_stream_consumer, NULL},
    {"ListStreamConsumers", kin__list_stream_consumers, NULL},
    {"DeregisterStreamConsumer", kin__deregister_stream_consumer, NULL},
    {"SubscribeToShard", kin__subscribe_to_shard, NULL},
    {"EnableEnhancedMonitoring", kin__enable_enhanced_monitoring, NULL},
    {"DisableEnhancedMonitoring", kin__disable_enhanced_monitoring, NULL},
    {"PutResourcePolicy", kin__put_resource_policy, NULL},
    {"GetResourcePolicy", kin__get_resource_policy, NULL},
    {"DeleteResourcePolicy", kin__delete_resource_policy, NULL},
};

/* Every description is this one with its own ctx. */
static const struct api_json_service kinesis_template = {
    .signing_name = "kinesis",
    .target_prefix = "Kinesis_20131202",
    .json_version = "1.1",
    .ops = kinesis_ops,
    .n_ops = sizeof(kinesis_ops) / sizeof(kinesis_ops[0]),
    .validate = kin__validate_input,
    .cbor_blob_members = kin__cbor_blob_members,
    .cbor_epoch_members = kin__cbor_epoch_members,
};

#define N_OPS (sizeof(kinesis_ops) / sizeof(kinesis_ops[0]))

/* An operation with a control-plane rate (throttle.c): counted, then run. Only operations
   of kinesis_ops are routed here, so the search always finds call->operation. */
static int rate_limited(struct api_call *call, json_t *in, json_t **out)
{
    int rc = kin__throttle_control(call, in);
    for (size_t i = 0; rc == 0 && i < N_OPS; i++) {
        if (strcmp(kinesis_ops[i].name, call->operation) == 0) {
            return kinesis_ops[i].fn(call, in, out);
        }
    }
    return rc;
}

/* The description and its own copy of the operations (the limited ones go through
   rate_limited when the limits are on); freed as one block. */
struct kinesis_desc {
    struct api_json_service desc; /* first: kinesis_api_destroy frees it */
    struct api_json_op ops[N_OPS];
};

struct api_json_service *kinesis_api_create(struct stream_service *svc)
{
    if (kin__consumers_migrate(svc) < 0) {
        log_msg(LOG_ERROR, "kinesis", "cannot create the stream consumers' table");
    }
    if (kin__policies_migrate(svc) < 0) {
        log_msg(LOG_ERROR, "kinesis", "cannot create the resource policies' table");
    }
    struct kinesis_desc *kd = xmalloc(sizeof(*kd));
    kd->desc = kinesis_template;
    kd->desc.ctx = svc;
    memcpy(kd->ops, kinesis_ops, sizeof(kinesis_ops));
    for (size_t i = 0; i < N_OPS; i++) {
        if (kd->ops[i].fn != NULL && throttle_enabled(stream_service_throttle(svc)) &&
            throttle_control_rate(kd->ops[i].name, NULL) > 0) {
            kd->ops[i].fn = rate_limited;
        }
    }
    kd->desc.ops = kd->ops;
    return &kd->desc;
}

void kinesis_api_destroy(struct api_json_service *desc)
{
    free(desc);
}
