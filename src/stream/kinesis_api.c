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
#include "core/mem.h"
#include "stream/kinesis_api.h"
#include "stream/kinesis_int.h"

#define NEXT_TOKEN_TTL_MS (300 * 1000)

/* ---- input validation, in the service's words ---- */

int kin__validation(struct api_call *call, const char *member, const char *value,
                    const char *constraint)
{
    return err_set(&call->err, SL_E(VALIDATION),
                   "1 validation error detected: Value '%s' at '%s' failed to satisfy "
                   "constraint: %s",
                   value, member, constraint);
}

/* The member name as the validator spells it: the first letter lower-cased. */
static void member_name(const char *field, char *out, size_t size)
{
    snprintf(out, size, "%s", field);
    if (out[0] >= 'A' && out[0] <= 'Z') {
        out[0] = (char)(out[0] - 'A' + 'a');
    }
    if (strncmp(field, "StreamARN", 9) == 0) {
        snprintf(out, size, "streamARN");
    }
}

int kin__get_string(struct api_call *call, json_t *in, const char *field, int required,
                    size_t min_len, size_t max_len, const char **out)
{
    *out = NULL;
    json_t *v = json_object_get(in, field);
    char member[64];
    member_name(field, member, sizeof(member));
    if (v == NULL || json_is_null(v)) {
        if (required) {
            return err_set(&call->err, SL_E(VALIDATION),
                           "1 validation error detected: Value null at '%s' failed to satisfy "
                           "constraint: Member must not be null",
                           member);
        }
        return 0;
    }
    if (!json_is_string(v)) {
        return err_set(&call->err, SL_E(SERIALIZATION),
                       "Unexpected value type in payload for field %s", field);
    }
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    char shown[160];
    snprintf(shown, sizeof(shown), "%.150s", s);
    if (len < min_len) {
        char c[96];
        snprintf(c, sizeof(c), "Member must have length greater than or equal to %zu", min_len);
        return kin__validation(call, member, shown, c);
    }
    if (len > max_len) {
        char c[96];
        snprintf(c, sizeof(c), "Member must have length less than or equal to %zu", max_len);
        return kin__validation(call, member, shown, c);
    }
    *out = s;
    return 0;
}

int kin__get_int(struct api_call *call, json_t *in, const char *field, int required,
                 long long min, long long max, long long dflt, long long *out)
{
    *out = dflt;
    json_t *v = json_object_get(in, field);
    char member[64];
    member_name(field, member, sizeof(member));
    if (v == NULL || json_is_null(v)) {
        if (required) {
            return err_set(&call->err, SL_E(VALIDATION),
                           "1 validation error detected: Value null at '%s' failed to satisfy "
                           "constraint: Member must not be null",
                           member);
        }
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) > INT32_MAX ||
        json_integer_value(v) < INT32_MIN) {
        return err_set(&call->err, SL_E(SERIALIZATION),
                       "Unexpected value type in payload for field %s", field);
    }
    long long x = json_integer_value(v);
    char shown[32];
    snprintf(shown, sizeof(shown), "%lld", x);
    if (x < min) {
        char c[96];
        snprintf(c, sizeof(c), "Member must have value greater than or equal to %lld", min);
        return kin__validation(call, member, shown, c);
    }
    if (x > max) {
        char c[96];
        snprintf(c, sizeof(c), "Member must have value less than or equal to %lld", max);
        return kin__validation(call, member, shown, c);
    }
    *out = x;
    return 0;
}

static int valid_stream_name(const char *s)
{
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-')) {
            return 0;
        }
    }
    return 1;
}

int kin__not_found(struct api_call *call, const char *name)
{
    return err_set(&call->err, SL_E(RESOURCE_NOT_FOUND), "Stream %s under account %s not found.",
                   name, call->req->account_id);
}

/* Splits arn:aws:kinesis:REGION:ACCOUNT:stream/NAME; 0 or -1. */
static int parse_stream_arn(const char *arn, char *region, size_t region_size, char *account,
                            size_t account_size, const char **name)
{
    const char *fields[6];
    int n = 0;
    const char *p = arn;
    fields[n++] = p;
    while (n < 6 && (p = strchr(p, ':')) != NULL) {
        fields[n++] = ++p;
    }
    if (n != 6 || strncmp(arn, "arn:aws", 7) != 0 || strncmp(fields[2], "kinesis:", 8) != 0 ||
        strncmp(fields[5], "stream/", 7) != 0) {
        return -1;
    }
    size_t rlen = (size_t)(fields[4] - fields[3] - 1);
    size_t alen = (size_t)(fields[5] - fields[4] - 1);
    if (rlen == 0 || rlen >= region_size || alen != 12 || alen >= account_size) {
        return -1;
    }
    memcpy(region, fields[3], rlen);
    region[rlen] = '\0';
    memcpy(account, fields[4], alen);
    account[alen] = '\0';
    *name = fields[5] + 7;
    return (**name && valid_stream_name(*name) && strlen(*name) <= STREAM_NAME_MAX) ? 0 : -1;
}

int kin__resolve(struct api_call *call, const char *name, const char *arn, struct stream **out)
{
    struct stream_service *svc = call->service_ctx;
    *out = NULL;
    const char *region = call->req->region;
    char arn_region[64], arn_account[16];
    const char *arn_name = NULL;
    if (arn != NULL) {
        if (parse_stream_arn(arn, arn_region, sizeof(arn_region), arn_account,
                             sizeof(arn_account), &arn_name) < 0) {
            return kin__validation(call, "streamARN", arn,
                                   "Member must satisfy regular expression pattern: "
                                   "arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+");
        }
        if (name != NULL && strcmp(name, arn_name) != 0) {
            return err_set(&call->err, SL_E(INVALID_ARGUMENT),
                           "StreamName %s does not match the stream in StreamARN %s.", name, arn);
        }
        if (strcmp(arn_account, call->req->account_id) != 0 || strcmp(arn_region, region) != 0) {
            return err_set(&call->err, SL_E(RESOURCE_NOT_FOUND),
                           "Stream %s under account %s not found.", arn_name, arn_account);
        }
        name = arn_name;
    }
    if (name == NULL) {
        return err_set(&call->err, SL_E(INVALID_ARGUMENT),
                       "Either StreamName or StreamARN should be provided.");
    }
    if (!valid_stream_name(name)) {
        return kin__validation(call, "streamName", name,
                               "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+");
    }
    struct stream *s = stream__get(svc, region, name);
    if (s == NULL) {
        return kin__not_found(call, name);
    }
    *out = s;
    return 0;
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

enum stream_status kin__status(struct stream_service *svc, struct stream *s)
{
    pthread_mutex_lock(&svc->lock);
    stream__settle(svc, clock_now_ms());
    enum stream_status st = s->status;
    pthread_mutex_unlock(&svc->lock);
    return st;
}

json_t *kin__timestamp(int64_t ms)
{
    return json_real((double)ms / 1000.0);
}

static json_t *mode_details(const struct stream *s)
{
    return json_pack("{s:s}", "StreamMode", s->mode == MODE_ON_DEMAND ? "ON_DEMAND" : "PROVISIONED");
}

static json_t *shard_json(const struct stream *s, const struct shard *sh)
{
    char id[SHARD_ID_LEN + 1], start[48], end[48], seq[SEQNO_LEN + 1];
    shard_id_format(sh->idx, id);
    hashkey_format(sh->start_hash, start);
    hashkey_format(sh->end_hash, end);
    seqno_format(s->seq_tag, sh->idx, 0, seq);
    return json_pack("{s:s, s:{s:s, s:s}, s:{s:s}}", "ShardId", id, "HashKeyRange",
                     "StartingHashKey", start, "EndingHashKey", end, "SequenceNumberRange",
                     "StartingSequenceNumber", seq);
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
    if (!valid_stream_name(name)) {
        return kin__validation(call, "streamName", name,
                               "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+");
    }
    if ((rc = kin__get_int(call, in, "ShardCount", 0, 1, INT32_MAX, 0, &shard_count)) < 0) {
        return rc;
    }
    enum stream_mode mode = MODE_PROVISIONED;
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
            mode = MODE_ON_DEMAND;
        } else if (strcmp(m, "PROVISIONED") != 0) {
            return kin__validation(call, "streamModeDetails.streamMode", m,
                                   "Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]");
        }
    }
    if (mode == MODE_ON_DEMAND) {
        if (shard_count != 0) {
            return err_set(&call->err, SL_E(INVALID_ARGUMENT),
                           "ShardCount must not be specified for ON_DEMAND stream mode.");
        }
        shard_count = ON_DEMAND_INITIAL_SHARDS;
    } else if (shard_count == 0) {
        return err_set(&call->err, SL_E(INVALID_ARGUMENT),
                       "ShardCount must be specified for PROVISIONED stream mode.");
    }
    json_t *tags = json_object_get(in, "Tags");
    if (tags != NULL && !json_is_null(tags) && (!json_is_object(tags) || json_object_size(tags) > 50)) {
        return err_set(&call->err, SL_E(INVALID_ARGUMENT), "Tags must be a map of at most 50 tags.");
    }
    rc = stream__create(svc, call->req->region, call->req->account_id, name, mode,
                        (int)shard_count, call->req->now_ms, &call->err);
    if (rc == 0 && tags != NULL && json_is_object(tags) && json_object_size(tags) > 0) {
        struct stream *s = stream__get(svc, call->req->region, name);
        rc = kin__put_tags(call, s, tags);
        stream__put(s);
    }
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
    } else if (kin__status(call->service_ctx, s) == STREAM_DELETING) {
        rc = kin__not_found(call, s->name);
    } else {
        /* No consumers exist until enhanced fan-out, so nothing blocks the deletion. */
        rc = stream__delete(call->service_ctx, s, call->req->now_ms, &call->err);
    }
    stream__put(s);
    return rc;
}

static int describe_stream(struct api_call *call, json_t *in, json_t **out)
{
    struct stream_service *svc = call->service_ctx;
    struct stream *s;
    long long limit;
    const char *start_id;
    int rc = resolve_input(call, in, &s);
    if (rc < 0) {
        return rc;
    }
    if ((rc = kin__get_int(call, in, "Limit", 0, 1, 10000, 100, &limit)) < 0 ||
        (rc = kin__get_string(call, in, "ExclusiveStartShardId", 0, 1, 128, &start_id)) < 0) {
        stream__put(s);
        return rc;
    }
    uint32_t first = 0;
    if (start_id != NULL) {
        uint32_t idx;
        if (shard_id_parse(start_id, &idx) == 0) {
            first = idx + 1;
        }
    }
    json_t *shards = json_array();
    uint32_t i = first;
    for (; i < s->n_shards && json_array_size(shards) < (size_t)limit; i++) {
        json_array_append_new(shards, shard_json(s, &s->shards[i]));
    }
    pthread_mutex_lock(&svc->lock);
    stream__settle(svc, clock_now_ms());
    json_t *d = json_pack("{s:s, s:s, s:s, s:o, s:o, s:b, s:i, s:o, s:[{s:[]}], s:s}",
                          "StreamName", s->name, "StreamARN", s->arn, "StreamStatus",
                          stream__status_name(s->status), "StreamModeDetails", mode_details(s),
                          "Shards", shards, "HasMoreShards", i < s->n_shards,
                          "RetentionPeriodHours", s->retention_hours, "StreamCreationTimestamp",
                          kin__timestamp(s->created_ms), "EnhancedMonitoring",
                          "ShardLevelMetrics", "EncryptionType", s->encryption);
    if (strcmp(s->encryption, "KMS") == 0) {
        json_object_set_new(d, "KeyId", json_string(s->key_id));
    }
    pthread_mutex_unlock(&svc->lock);
    *out = json_pack("{s:o}", "StreamDescription", d);
    stream__put(s);
    return 0;
}

static int describe_stream_summary(struct api_call *call, json_t *in, json_t **out)
{
    struct stream_service *svc = call->service_ctx;
    struct stream *s;
    int rc = resolve_input(call, in, &s);
    if (rc < 0) {
        return rc;
    }
    pthread_mutex_lock(&svc->lock);
    stream__settle(svc, clock_now_ms());
    json_t *d = json_pack("{s:s, s:s, s:s, s:o, s:i, s:o, s:[{s:[]}], s:s, s:i, s:i}",
                          "StreamName", s->name, "StreamARN", s->arn, "StreamStatus",
                          stream__status_name(s->status), "StreamModeDetails", mode_details(s),
                          "RetentionPeriodHours", s->retention_hours, "StreamCreationTimestamp",
                          kin__timestamp(s->created_ms), "EnhancedMonitoring",
                          "ShardLevelMetrics", "EncryptionType", s->encryption, "OpenShardCount",
                          (int)s->n_shards, "ConsumerCount", 0);
    if (strcmp(s->encryption, "KMS") == 0) {
        json_object_set_new(d, "KeyId", json_string(s->key_id));
    }
    pthread_mutex_unlock(&svc->lock);
    *out = json_pack("{s:o}", "StreamDescriptionSummary", d);
    stream__put(s);
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
    crypto_hmac_sha256(svc->iterator_key, 32, plain, len, mac);
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
        crypto_hmac_sha256(svc->iterator_key, 32, raw, (size_t)n - 16, mac);
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

static int cmp_names(const void *a, const void *b)
{
    return strcmp((*(struct stream *const *)a)->name, (*(struct stream *const *)b)->name);
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
    pthread_mutex_lock(&svc->lock);
    stream__settle(svc, call->req->now_ms);
    struct stream **sorted = xcalloc(svc->n_streams + 1, sizeof(*sorted));
    size_t n = 0;
    for (size_t i = 0; i < svc->n_streams; i++) {
        if (strcmp(svc->streams[i]->region, call->req->region) == 0) {
            sorted[n++] = svc->streams[i];
        }
    }
    qsort(sorted, n, sizeof(*sorted), cmp_names);
    json_t *names = json_array();
    json_t *summaries = json_array();
    size_t i = 0;
    while (i < n && start != NULL && strcmp(sorted[i]->name, start) <= 0) {
        i++;
    }
    const char *last = NULL;
    for (; i < n && json_array_size(names) < (size_t)limit; i++) {
        struct stream *s = sorted[i];
        json_array_append_new(names, json_string(s->name));
        json_array_append_new(summaries,
                              json_pack("{s:s, s:s, s:s, s:o, s:o}", "StreamName", s->name,
                                        "StreamARN", s->arn, "StreamStatus",
                                        stream__status_name(s->status), "StreamModeDetails",
                                        mode_details(s), "StreamCreationTimestamp",
                                        kin__timestamp(s->created_ms)));
        last = s->name;
    }
    int more = i < n;
    *out = json_pack("{s:o, s:b, s:o}", "StreamNames", names, "HasMoreStreams", more,
                     "StreamSummaries", summaries);
    if (more && last != NULL) {
        char *t = token_make(svc, "streams", last, call->req->now_ms);
        json_object_set_new(*out, "NextToken", json_string(t));
        free(t);
    }
    pthread_mutex_unlock(&svc->lock);
    free(sorted);
    free(after);
    return 0;
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
    char *after = NULL;
    struct stream *s = NULL;
    if (token != NULL) {
        if (name != NULL || start_id != NULL) {
            return err_set(&call->err, SL_E(INVALID_ARGUMENT),
                           "NextToken and StreamName cannot be provided together.");
        }
        if ((rc = token_open(call, token, "shards", &after)) < 0) {
            return rc;
        }
        /* after = "<stream name>/<last shard number>" */
        char *slash = strrchr(after, '/');
        if (slash == NULL) {
            free(after);
            return err_set(&call->err, SL_E(INVALID_ARGUMENT), "Invalid NextToken.");
        }
        *slash = '\0';
        rc = kin__resolve(call, after, NULL, &s);
        if (rc == 0) {
            start_id = slash + 1;
        }
    } else {
        rc = kin__resolve(call, name, arn, &s);
    }
    if (rc < 0) {
        free(after);
        return rc;
    }
    uint32_t first = 0;
    if (start_id != NULL) {
        uint32_t idx;
        if (shard_id_parse(start_id, &idx) == 0) {
            first = idx + 1;
        }
    }
    json_t *filter = json_object_get(in, "ShardFilter");
    if (filter != NULL && json_is_object(filter)) {
        const char *type, *after_id;
        if ((rc = kin__get_string(call, filter, "Type", 1, 1, 32, &type)) < 0 ||
            (rc = kin__get_string(call, filter, "ShardId", 0, 1, 128, &after_id)) < 0) {
            goto out;
        }
        static const char *const types[] = {"AFTER_SHARD_ID", "AT_TRIM_HORIZON",
                                            "FROM_TRIM_HORIZON", "AT_LATEST", "AT_TIMESTAMP",
                                            "FROM_TIMESTAMP"};
        int known = 0;
        for (size_t t = 0; t < 6; t++) {
            known |= strcmp(type, types[t]) == 0;
        }
        if (!known) {
            rc = kin__validation(call, "shardFilter.type", type,
                                 "Member must satisfy enum value set: [AFTER_SHARD_ID, "
                                 "AT_TRIM_HORIZON, FROM_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP, "
                                 "FROM_TIMESTAMP]");
            goto out;
        }
        if (strcmp(type, "AFTER_SHARD_ID") == 0) {
            uint32_t idx;
            if (after_id == NULL || shard_id_parse(after_id, &idx) < 0) {
                rc = err_set(&call->err, SL_E(INVALID_ARGUMENT),
                             "ShardId must be specified for the AFTER_SHARD_ID filter type.");
                goto out;
            }
            if (idx + 1 > first) {
                first = idx + 1;
            }
        }
        /* Every shard is open until resharding exists, so the other filters keep them all. */
    }
    json_t *shards = json_array();
    uint32_t i = first;
    for (; i < s->n_shards && json_array_size(shards) < (size_t)max_results; i++) {
        json_array_append_new(shards, shard_json(s, &s->shards[i]));
    }
    *out = json_pack("{s:o}", "Shards", shards);
    if (i < s->n_shards) {
        char *what = xasprintf("%s/%u", s->name, s->shards[i - 1].idx);
        char *t = token_make(svc, "shards", what, call->req->now_ms);
        json_object_set_new(*out, "NextToken", json_string(t));
        free(t);
        free(what);
    }
out:
    stream__put(s);
    free(after);
    return rc;
}

/* Finds the shard named by id in s, or sets ResourceNotFoundException. */
struct shard *kin__find_shard(struct api_call *call, struct stream *s, const char *shard_id)
{
    uint32_t idx;
    if (shard_id_parse(shard_id, &idx) == 0) {
        for (uint32_t i = 0; i < s->n_shards; i++) {
            if (s->shards[i].idx == idx) {
                return &s->shards[i];
            }
        }
    }
    err_set(&call->err, SL_E(RESOURCE_NOT_FOUND),
            "Shard %s in stream %s under account %s does not exist", shard_id, s->name,
            call->req->account_id);
    return NULL;
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
    static const char *const types[] = {"AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER",
                                        "TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"};
    int type_idx = -1;
    for (int t = 0; t < 5; t++) {
        if (strcmp(type, types[t]) == 0) {
            type_idx = t;
        }
    }
    if (type_idx < 0) {
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
    struct shard *sh = kin__find_shard(call, s, shard_id);
    if (sh == NULL) {
        stream__put(s);
        return call->err.code;
    }
    uint64_t index = 0;
    switch (type_idx) {
    case 0:
    case 1:
        if (seq == NULL) {
            rc = err_set(&call->err, SL_E(INVALID_ARGUMENT),
                         "Must specify StartingSequenceNumber for ShardIteratorType %s.", type);
        } else if (!seqno_pattern_ok(seq, strlen(seq)) ||
                   seqno_parse(seq, strlen(seq), s->seq_tag, sh->idx, &index) < 0 ||
                   index >= seglog_next_index(sh->log)) {
            rc = err_set(&call->err, SL_E(INVALID_ARGUMENT),
                         "Invalid StartingSequenceNumber. It encodes %s, while it was used in a "
                         "call to a shard with %s in stream %s under account %s.",
                         seq, shard_id, s->name, call->req->account_id);
        } else {
            index += type_idx == 1;
        }
        break;
    case 2: index = seglog_first_index(sh->log); break;
    case 3: index = seglog_durable_index(sh->log); break;
    case 4:
        if (ts == NULL || json_is_null(ts)) {
            rc = err_set(&call->err, SL_E(INVALID_ARGUMENT),
                         "Must specify timestampInMillis parameter for iterator of type "
                         "AT_TIMESTAMP. Current request has no timestamp parameter.");
        } else {
            double secs = json_number_value(ts);
            int64_t ms = (int64_t)llround(secs * 1000.0);
            if (ms > call->req->now_ms) {
                rc = err_set(&call->err, SL_E(INVALID_ARGUMENT),
                             "The timestampInMillis parameter cannot be greater than the "
                             "currentTimestampInMillis. timestampInMillis: %lld, "
                             "currentTimestampInMillis: %lld",
                             (long long)ms, (long long)call->req->now_ms);
            } else {
                rc = seglog_find_time(sh->log, ms, &index);
            }
        }
        break;
    }
    if (rc == 0) {
        enum stream_status st = kin__status(svc, s);
        if (st == STREAM_CREATING || st == STREAM_DELETING) {
            rc = kin__not_found(call, s->name);
        }
    }
    if (rc == 0) {
        struct iterator_pos pos = {.stream_id = s->id,
                                   .seq_tag = s->seq_tag,
                                   .shard_idx = sh->idx,
                                   .index = index,
                                   .issued_ms = call->req->now_ms};
        char text[160];
        iterator_encode(svc->iterator_key, &pos, text, sizeof(text));
        *out = json_pack("{s:s}", "ShardIterator", text);
    }
    stream__put(s);
    return rc;
}

static int change_retention(struct api_call *call, json_t *in, int increase)
{
    struct stream_service *svc = call->service_ctx;
    long long hours;
    int rc = kin__get_int(call, in, "RetentionPeriodHours", 1, 1, INT32_MAX, 0, &hours);
    if (rc < 0) {
        return rc;
    }
    struct stream *s;
    if ((rc = resolve_input(call, in, &s)) < 0) {
        return rc;
    }
    pthread_mutex_lock(&svc->lock);
    stream__settle(svc, call->req->now_ms);
    if (s->status != STREAM_ACTIVE) {
        rc = err_set(&call->err, SL_E(RESOURCE_IN_USE),
                     "Stream %s under account %s not ACTIVE, instead in state %s", s->name,
                     call->req->account_id, stream__status_name(s->status));
    } else if (hours < RETENTION_MIN_HOURS) {
        rc = err_set(&call->err, SL_E(INVALID_ARGUMENT),
                     "Minimum allowed retention period is %d hours. Requested retention period "
                     "(%lld hours) is too short.",
                     RETENTION_MIN_HOURS, hours);
    } else if (hours > RETENTION_MAX_HOURS) {
        rc = err_set(&call->err, SL_E(INVALID_ARGUMENT),
                     "Maximum allowed retention period is %d hours. Requested retention period "
                     "(%lld hours) is too long.",
                     RETENTION_MAX_HOURS, hours);
    } else if (increase && hours < s->retention_hours) {
        rc = err_set(&call->err, SL_E(INVALID_ARGUMENT),
                     "Requested retention period (%lld hours) for stream %s can not be shorter "
                     "than existing retention period (%d hours). Use DecreaseRetentionPeriod API.",
                     hours, s->name, s->retention_hours);
    } else if (!increase && hours > s->retention_hours) {
        rc = err_set(&call->err, SL_E(INVALID_ARGUMENT),
                     "Requested retention period (%lld hours) for stream %s can not be longer "
                     "than existing retention period (%d hours). Use IncreaseRetentionPeriod API.",
                     hours, s->name, s->retention_hours);
    } else {
        s->retention_hours = (int)hours;
        rc = stream__save(svc, s);
    }
    pthread_mutex_unlock(&svc->lock);
    stream__put(s);
    if (rc == 0 && !increase) {
        /* Wake retention so a shorter period takes effect promptly. */
        pthread_mutex_lock(&svc->retention_lock);
        pthread_cond_signal(&svc->retention_wake);
        pthread_mutex_unlock(&svc->retention_lock);
    }
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

/* Moves an ACTIVE stream to UPDATING for the transition time, applying change. */
static int update_state(struct api_call *call, struct stream *s, const char *mode,
                        const char *encryption, const char *key_id)
{
    struct stream_service *svc = call->service_ctx;
    pthread_mutex_lock(&svc->lock);
    stream__settle(svc, call->req->now_ms);
    int rc = 0;
    if (s->status != STREAM_ACTIVE) {
        rc = err_set(&call->err, SL_E(RESOURCE_IN_USE),
                     "Stream %s under account %s not ACTIVE, instead in state %s", s->name,
                     call->req->account_id, stream__status_name(s->status));
    } else {
        if (mode != NULL) {
            s->mode = strcmp(mode, "ON_DEMAND") == 0 ? MODE_ON_DEMAND : MODE_PROVISIONED;
        }
        if (encryption != NULL) {
            snprintf(s->encryption, sizeof(s->encryption), "%s", encryption);
            snprintf(s->key_id, sizeof(s->key_id), "%s", key_id ? key_id : "");
        }
        s->status = STREAM_UPDATING;
        s->status_until_ms = call->req->now_ms + svc->cfg->stream_transition_ms;
        rc = stream__save(svc, s);
    }
    pthread_mutex_unlock(&svc->lock);
    return rc;
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
    if ((s->mode == MODE_ON_DEMAND) == (strcmp(mode, "ON_DEMAND") == 0)) {
        rc = err_set(&call->err, SL_E(INVALID_ARGUMENT), "Stream %s is already in %s mode.",
                     s->name, mode);
    } else {
        rc = update_state(call, s, mode, NULL, NULL);
    }
    stream__put(s);
    return rc;
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
    rc = update_state(call, s, NULL, start ? "KMS" : "NONE", start ? key : NULL);
    stream__put(s);
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

static int describe_limits(struct api_call *call, json_t *in, json_t **out)
{
    (void)in;
    struct stream_service *svc = call->service_ctx;
    int open_shards, on_demand;
    pthread_mutex_lock(&svc->lock);
    stream__settle(svc, call->req->now_ms);
    stream__counts(svc, call->req->region, &open_shards, &on_demand);
    pthread_mutex_unlock(&svc->lock);
    *out = json_pack("{s:i, s:i, s:i, s:i}", "ShardLimit",
                     stream__shard_limit(svc, call->req->region), "OpenShardCount", open_shards,
                     "OnDemandStreamCount", on_demand, "OnDemandStreamCountLimit",
                     svc->cfg->on_demand_stream_limit);
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
    {"AddTagsToStream", kin__add_tags_to_stream, NULL},
    {"ListTagsForStream", kin__list_tags_for_stream, NULL},
    {"RemoveTagsFromStream", kin__remove_tags_from_stream, NULL},
    {"TagResource", kin__tag_resource, NULL},
    {"UntagResource", kin__untag_resource, NULL},
    {"ListTagsForResource", kin__list_tags_for_resource, NULL},
    {"PutRecord", NULL, kin__put_record},
    {"PutRecords", NULL, kin__put_records},
    {"GetRecords", NULL, kin__get_records},
};

/* Every description is this one with its own ctx. */
static const struct api_json_service kinesis_template = {
    .signing_name = "kinesis",
    .target_prefix = "Kinesis_20131202",
    .json_version = "1.1",
    .ops = kinesis_ops,
    .n_ops = sizeof(kinesis_ops) / sizeof(kinesis_ops[0]),
};

struct api_json_service *kinesis_api_create(struct stream_service *svc)
{
    struct api_json_service *desc = xmalloc(sizeof(*desc));
    *desc = kinesis_template;
    desc->ctx = svc;
    return desc;
}

void kinesis_api_destroy(struct api_json_service *desc)
{
    free(desc);
}
