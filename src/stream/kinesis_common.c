/*
 * Helpers the Kinesis adapter files share: typed reading of request members with the
 * service's validation wording, stream and shard resolution, tag checks. A leaf: it
 * calls stream.h and the HTTP layer's API types, never another kinesis_*.c file.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "stream/kinesis_int.h"

#define NAME_PATTERN "[a-zA-Z0-9_.-]+"

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
    } else if (strncmp(field, "ResourceARN", 11) == 0) {
        snprintf(out, size, "resourceARN");
    } else if (strncmp(field, "ConsumerARN", 11) == 0) {
        snprintf(out, size, "consumerARN");
    }
}

/* The pattern the API model gives a string member, or NULL. */
static const char *member_pattern(const char *field)
{
    static const struct {
        const char *field;
        const char *pattern;
    } patterns[] = {
        {"StreamName", NAME_PATTERN},
        {"ExclusiveStartStreamName", NAME_PATTERN},
        {"ShardId", NAME_PATTERN},
        {"ExclusiveStartShardId", NAME_PATTERN},
        {"ShardToSplit", NAME_PATTERN},
        {"ShardToMerge", NAME_PATTERN},
        {"AdjacentShardToMerge", NAME_PATTERN},
        {"ConsumerName", NAME_PATTERN},
        {"StreamARN", "arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+"},
        {"ResourceARN", "arn:aws.*:kinesis:.*:\\d{12}:.*stream/\\S+"},
        {"ConsumerARN", "^(arn):aws.*:kinesis:.*:\\d{12}:.*stream\\/[a-zA-Z0-9_.-]+\\/consumer"
                        "\\/[a-zA-Z0-9_.-]+:[0-9]+"},
        {"StartingSequenceNumber", "0|([1-9]\\d{0,128})"},
        {"ExclusiveStartSequenceNumber", "0|([1-9]\\d{0,128})"},
    };
    for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
        if (strcmp(patterns[i].field, field) == 0) {
            return patterns[i].pattern;
        }
    }
    return NULL;
}

/* The value as a message shows it: at most ~150 bytes, a NUL spelt \u0000. */
static void shown_value(const char *s, size_t len, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 7 < size && o < 150; i++) {
        if (s[i] == '\0') {
            memcpy(out + o, "\\u0000", 6);
            o += 6;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
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
        return kin__type_error(call, v, 0);
    }
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    char shown[160];
    shown_value(s, len, shown, sizeof(shown));
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
    if (memchr(s, '\0', len) != NULL) {
        /* Read as a C string it would name something else: "a\u0000x" is not "a". */
        const char *pattern = member_pattern(field);
        char c[256];
        if (pattern != NULL) {
            snprintf(c, sizeof(c), "Member must satisfy regular expression pattern: %s", pattern);
        } else {
            snprintf(c, sizeof(c), "Member must not contain null characters");
        }
        return kin__validation(call, member, shown, c);
    }
    *out = s;
    return 0;
}

int kin__get_int(struct api_call *call, json_t *in, const char *field, int required, long long min,
                 long long max, long long dflt, long long *out)
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
    if (!json_is_number(v)) {
        return kin__type_error(call, v, 1);
    }
    /* The service's deserializer takes a fraction for an integer and drops it. */
    double d = json_number_value(v);
    if (d >= (double)INT32_MAX + 1 || d <= (double)INT32_MIN - 1) {
        return err_set(&call->err, SL_E(SERIALIZATION), "Numeric value (%.17g) out of range of int",
                       d);
    }
    long long x = json_is_integer(v) ? json_integer_value(v) : (long long)d;
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

int kin__valid_stream_name(const char *name, size_t len)
{
    if (len == 0) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-')) {
            return 0;
        }
    }
    return 1;
}

int kin__bad_stream_name(struct api_call *call, const char *member, const char *name)
{
    return kin__validation(call, member, name,
                           "Member must satisfy regular expression pattern: " NAME_PATTERN);
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
    size_t name_len = strlen(*name);
    return (kin__valid_stream_name(*name, name_len) && name_len <= STREAM_NAME_MAX) ? 0 : -1;
}

int kin__resolve(struct api_call *call, const char *name, const char *arn, struct stream **out)
{
    struct stream_service *svc = call->service_ctx;
    *out = NULL;
    const char *region = call->req->region;
    char arn_region[64], arn_account[16];
    const char *arn_name = NULL;
    if (arn != NULL) {
        if (parse_stream_arn(arn, arn_region, sizeof(arn_region), arn_account, sizeof(arn_account),
                             &arn_name) < 0) {
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
    if (!kin__valid_stream_name(name, strlen(name))) {
        return kin__bad_stream_name(call, "streamName", name);
    }
    if (stream_lookup(svc, region, name, out) < 0) {
        return kin__not_found(call, name);
    }
    return 0;
}

int kin__find_shard(struct api_call *call, struct stream *s, const char *shard_id,
                    uint32_t *shard_idx)
{
    uint32_t idx;
    struct stream_shard_info info;
    if (stream_shard_id_parse(shard_id, &idx) == 0 && stream_shard_get(s, idx, &info) == 0) {
        *shard_idx = idx;
        return 0;
    }
    return err_set(&call->err, SL_E(RESOURCE_NOT_FOUND),
                   "Shard %s in stream %s under account %s does not exist", shard_id,
                   stream_name(s), call->req->account_id);
}

json_t *kin__timestamp(int64_t ms)
{
    return json_real((double)ms / 1000.0);
}

/* Tag text: letters, digits, spaces and _ . : / = + - @ in any script; no control bytes. */
static int valid_tag_text(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)s[i] < 0x20) {
            return 0;
        }
    }
    return 1;
}

int kin__tags_collect(struct api_call *call, const char *stream_name, json_t *tags,
                      const char ***keys_out, const char ***values_out, size_t *n_out)
{
    size_t n = json_object_size(tags);
    const char **keys = xcalloc(n + 1, sizeof(char *));
    const char **values = xcalloc(n + 1, sizeof(char *));
    size_t i = 0;
    const char *key;
    size_t klen;
    json_t *value;
    int rc = 0;
    json_object_keylen_foreach(tags, key, klen, value)
    {
        if (memchr(key, '\0', klen) != NULL ||
            (json_is_string(value) &&
             memchr(json_string_value(value), '\0', json_string_length(value)) != NULL)) {
            char shown[160];
            shown_value(key, klen, shown, sizeof(shown));
            rc = kin__validation(call, "tags", shown, "Member must not contain null characters");
            break;
        }
        if (!json_is_string(value)) {
            rc = err_set(&call->err, SL_E(SERIALIZATION),
                         "Unexpected value type in payload for field Tags");
            break;
        }
        size_t vlen = json_string_length(value);
        if (klen < 1 || klen > KIN_TAG_KEY_MAX || vlen > KIN_TAG_VALUE_MAX ||
            !valid_tag_text(key, klen) || !valid_tag_text(json_string_value(value), vlen)) {
            rc = err_set(&call->err, SL_E(INVALID_ARGUMENT),
                         "Failed to add tags to stream %s under account %s because some tags "
                         "contained illegal characters or lengths.",
                         stream_name, call->req->account_id);
            break;
        }
        keys[i] = key;
        values[i] = json_string_value(value);
        i++;
    }
    if (rc < 0) {
        free(keys);
        free(values);
        keys = values = NULL;
        i = 0;
    }
    *keys_out = keys;
    *values_out = values;
    *n_out = i;
    return rc;
}

/* ---- the front end's validation, before any operation runs ---- */

/*
 * AWS's front end reads a request in two passes: deserialization, where the first
 * member of the wrong JSON type fails the request with SerializationException, then
 * validation against the model, where every violated constraint is collected (at most
 * ten) and reported at once as "N validation errors detected: ...; ...". Members are
 * visited in the order the service's validator visits them, which is its own (neither
 * the model's nor alphabetical); each member's constraints in the order not null,
 * value range, pattern, length, enum.
 */

enum vtype {
    VT_STRING,
    VT_INT,
    VT_LONG,
    VT_BOOL,
    VT_BLOB,
    VT_TIMESTAMP,
    VT_LIST,
    VT_MAP,
    VT_STRUCT
};

enum vpattern {
    PAT_NONE,
    PAT_NAME,
    PAT_HASH_KEY,
    PAT_SEQUENCE,
    PAT_STREAM_ARN,
    PAT_RESOURCE_ARN,
    PAT_STREAM_ID
};

struct vmember {
    const char *name;
    enum vtype type;
    int required;
    long long min, max; /* values for numbers, lengths otherwise; NO_LIMIT for none */
    enum vpattern pattern;
    const char *const *enums;       /* NULL-terminated allowed values, or NULL */
    const struct vmember *children; /* a structure's members, or a list's element */
    size_t n_children;
};

#define NO_LIMIT (-1LL)
#define MAX_VIOLATIONS 10

struct voperation {
    const char *name;
    const struct vmember *members;
    size_t n_members;
};

static const char *const iterator_types[] = {
    "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "TRIM_HORIZON", "LATEST", "AT_TIMESTAMP", NULL};
static const char *const stream_modes[] = {"PROVISIONED", "ON_DEMAND", NULL};
static const char *const shard_filter_types[] = {"AFTER_SHARD_ID",
                                                 "AT_TRIM_HORIZON",
                                                 "FROM_TRIM_HORIZON",
                                                 "AT_LATEST",
                                                 "AT_TIMESTAMP",
                                                 "FROM_TIMESTAMP",
                                                 NULL};

#define M_STREAM_NAME                                                                              \
    {                                                                                              \
        "StreamName", VT_STRING, 0, 1, STREAM_NAME_MAX, PAT_NAME, NULL, NULL, 0                    \
    }
#define M_STREAM_ARN                                                                               \
    {                                                                                              \
        "StreamARN", VT_STRING, 0, 1, 2048, PAT_STREAM_ARN, NULL, NULL, 0                          \
    }
#define M_STREAM_ID                                                                                \
    {                                                                                              \
        "StreamId", VT_STRING, 0, 1, 24, PAT_STREAM_ID, NULL, NULL, 0                              \
    }
#define M_STRING(n, req, lo, hi, pat)                                                              \
    {                                                                                              \
        n, VT_STRING, req, lo, hi, pat, NULL, NULL, 0                                              \
    }
#define M_INT(n, req, lo, hi)                                                                      \
    {                                                                                              \
        n, VT_INT, req, lo, hi, PAT_NONE, NULL, NULL, 0                                            \
    }
#define M_ENUM(n, req, values)                                                                     \
    {                                                                                              \
        n, VT_STRING, req, NO_LIMIT, NO_LIMIT, PAT_NONE, values, NULL, 0                           \
    }
#define M_OF(n, type)                                                                              \
    {                                                                                              \
        n, type, 0, NO_LIMIT, NO_LIMIT, PAT_NONE, NULL, NULL, 0                                    \
    }
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const struct vmember put_record_members[] = {
    M_STRING("SequenceNumberForOrdering", 0, NO_LIMIT, NO_LIMIT, PAT_SEQUENCE),
    M_STRING("PartitionKey", 1, 1, 256, PAT_NONE),
    M_STRING("ExplicitHashKey", 0, NO_LIMIT, NO_LIMIT, PAT_HASH_KEY),
    {"Data", VT_BLOB, 1, NO_LIMIT, STREAM_RECORD_MAX_BYTES, PAT_NONE, NULL, NULL, 0},
    M_STREAM_NAME,
    M_STREAM_ARN,
    M_STREAM_ID,
};
static const struct vmember put_records_entry[] = {
    M_STRING("PartitionKey", 1, 1, 256, PAT_NONE),
    {"Data", VT_BLOB, 1, NO_LIMIT, STREAM_RECORD_MAX_BYTES, PAT_NONE, NULL, NULL, 0},
    M_STRING("ExplicitHashKey", 0, NO_LIMIT, NO_LIMIT, PAT_HASH_KEY),
};
static const struct vmember put_records_element[] = {
    {"member", VT_STRUCT, 0, NO_LIMIT, NO_LIMIT, PAT_NONE, NULL, put_records_entry,
     N_OF(put_records_entry)},
};
static const struct vmember put_records_members[] = {
    {"Records", VT_LIST, 1, 1, STREAM_PUT_RECORDS_MAX, PAT_NONE, NULL, put_records_element, 1},
    M_STREAM_NAME,
    M_STREAM_ARN,
    M_STREAM_ID,
};
static const struct vmember get_records_members[] = {
    M_INT("Limit", 0, 1, STREAM_GET_RECORDS_MAX),
    M_STRING("ShardIterator", 1, 1, 512, PAT_NONE),
    M_STREAM_ARN,
    M_STREAM_ID,
};
static const struct vmember get_shard_iterator_members[] = {
    M_STRING("ShardId", 1, 1, 128, PAT_NAME),
    M_ENUM("ShardIteratorType", 1, iterator_types),
    M_STRING("StartingSequenceNumber", 0, NO_LIMIT, NO_LIMIT, PAT_SEQUENCE),
    M_STREAM_NAME,
    M_OF("Timestamp", VT_TIMESTAMP),
    M_STREAM_ARN,
    M_STREAM_ID,
};
static const struct vmember stream_mode_details[] = {
    M_ENUM("StreamMode", 1, stream_modes),
};
static const struct vmember create_stream_members[] = {
    M_INT("ShardCount", 0, 1, NO_LIMIT),
    M_STRING("StreamName", 1, 1, STREAM_NAME_MAX, PAT_NAME),
    {"StreamModeDetails", VT_STRUCT, 0, NO_LIMIT, NO_LIMIT, PAT_NONE, NULL, stream_mode_details, 1},
    {"Tags", VT_MAP, 0, 1, 200, PAT_NONE, NULL, NULL, 0},
};
static const struct vmember delete_stream_members[] = {
    M_OF("EnforceConsumerDeletion", VT_BOOL),
    M_STREAM_NAME,
    M_STREAM_ARN,
    M_STREAM_ID,
};
static const struct vmember describe_stream_members[] = {
    M_INT("Limit", 0, 1, 10000),
    M_STRING("ExclusiveStartShardId", 0, 1, 128, PAT_NAME),
    M_STREAM_NAME,
    M_STREAM_ARN,
    M_STREAM_ID,
};
static const struct vmember describe_stream_summary_members[] = {
    M_STREAM_NAME,
    M_STREAM_ARN,
    M_STREAM_ID,
};
static const struct vmember shard_filter[] = {
    M_ENUM("Type", 1, shard_filter_types),
    M_STRING("ShardId", 0, 1, 128, PAT_NAME),
    M_OF("Timestamp", VT_TIMESTAMP),
};
static const struct vmember list_shards_members[] = {
    M_STRING("ExclusiveStartShardId", 0, 1, 128, PAT_NAME),
    M_INT("MaxResults", 0, 1, 10000),
    M_STRING("NextToken", 0, 1, 1048576, PAT_NONE),
    M_OF("StreamCreationTimestamp", VT_TIMESTAMP),
    M_STREAM_NAME,
    {"ShardFilter", VT_STRUCT, 0, NO_LIMIT, NO_LIMIT, PAT_NONE, NULL, shard_filter,
     N_OF(shard_filter)},
    M_STREAM_ARN,
    M_STREAM_ID,
};
static const struct vmember list_streams_members[] = {
    M_INT("Limit", 0, 1, 10000),
    M_STRING("ExclusiveStartStreamName", 0, 1, STREAM_NAME_MAX, PAT_NAME),
    M_STRING("NextToken", 0, 1, 1048576, PAT_NONE),
};
static const struct vmember retention_members[] = {
    M_INT("RetentionPeriodHours", 1, NO_LIMIT, NO_LIMIT),
    M_STREAM_NAME,
    M_STREAM_ARN,
    M_STREAM_ID,
};

static const char *const encryption_types[] = {"NONE", "KMS", NULL};
static const struct vmember tag_key_element[] = {
    M_STRING("member", 0, 1, KIN_TAG_KEY_MAX, PAT_NONE),
};
#define M_TAGS                                                                                     \
    {                                                                                              \
        "Tags", VT_MAP, 1, 1, 200, PAT_NONE, NULL, NULL, 0                                         \
    }
#define M_TAG_KEYS                                                                                 \
    {                                                                                              \
        "TagKeys", VT_LIST, 1, 1, 50, PAT_NONE, NULL, tag_key_element, 1                           \
    }
#define M_RESOURCE_ARN M_STRING("ResourceARN", 1, 1, 2048, PAT_RESOURCE_ARN)
static const struct vmember add_tags_members[] = {
    M_STREAM_NAME,
    M_TAGS,
    M_STREAM_ARN,
    M_STREAM_ID,
};
static const struct vmember remove_tags_members[] = {
    M_STREAM_NAME,
    M_TAG_KEYS,
    M_STREAM_ARN,
    M_STREAM_ID,
};
static const struct vmember list_tags_members[] = {
    M_STREAM_NAME,
    M_STRING("ExclusiveStartTagKey", 0, 1, KIN_TAG_KEY_MAX, PAT_NONE),
    M_INT("Limit", 0, 1, 50),
    M_STREAM_ARN,
    M_STREAM_ID,
};
static const struct vmember tag_resource_members[] = {
    M_TAGS,
    M_RESOURCE_ARN,
    M_STREAM_ID,
};
static const struct vmember untag_resource_members[] = {
    M_TAG_KEYS,
    M_RESOURCE_ARN,
    M_STREAM_ID,
};
static const struct vmember list_tags_for_resource_members[] = {
    M_RESOURCE_ARN,
    M_STREAM_ID,
};
static const struct vmember encryption_members[] = {
    M_STREAM_NAME,
    M_ENUM("EncryptionType", 1, encryption_types),
    M_STRING("KeyId", 1, 1, 2048, PAT_NONE),
    M_STREAM_ARN,
    M_STREAM_ID,
};
static const struct vmember update_stream_mode_members[] = {
    M_STRING("StreamARN", 1, 1, 2048, PAT_STREAM_ARN),
    M_STREAM_ID,
    {"StreamModeDetails", VT_STRUCT, 1, NO_LIMIT, NO_LIMIT, PAT_NONE, NULL, stream_mode_details, 1},
    M_INT("WarmThroughputMiBps", 0, 0, NO_LIMIT),
};

static const char *const metric_names[] = {"IncomingBytes",
                                           "IncomingRecords",
                                           "OutgoingBytes",
                                           "OutgoingRecords",
                                           "WriteProvisionedThroughputExceeded",
                                           "ReadProvisionedThroughputExceeded",
                                           "IteratorAgeMilliseconds",
                                           "ALL",
                                           NULL};
static const struct vmember metric_element[] = {
    M_ENUM("member", 0, metric_names),
};
static const struct vmember monitoring_members[] = {
    M_STREAM_NAME,
    {"ShardLevelMetrics", VT_LIST, 1, 1, 7, PAT_NONE, NULL, metric_element, 1},
    M_STREAM_ARN,
    M_STREAM_ID,
};
static const struct vmember put_policy_members[] = {
    M_RESOURCE_ARN,
    M_STREAM_ID,
    M_STRING("Policy", 1, NO_LIMIT, NO_LIMIT, PAT_NONE),
};
static const struct vmember policy_members[] = {
    M_RESOURCE_ARN,
    M_STREAM_ID,
};

static const struct voperation voperations[] = {
    {"EnableEnhancedMonitoring", monitoring_members, N_OF(monitoring_members)},
    {"DisableEnhancedMonitoring", monitoring_members, N_OF(monitoring_members)},
    {"PutResourcePolicy", put_policy_members, N_OF(put_policy_members)},
    {"GetResourcePolicy", policy_members, N_OF(policy_members)},
    {"DeleteResourcePolicy", policy_members, N_OF(policy_members)},
    {"AddTagsToStream", add_tags_members, N_OF(add_tags_members)},
    {"RemoveTagsFromStream", remove_tags_members, N_OF(remove_tags_members)},
    {"ListTagsForStream", list_tags_members, N_OF(list_tags_members)},
    {"TagResource", tag_resource_members, N_OF(tag_resource_members)},
    {"UntagResource", untag_resource_members, N_OF(untag_resource_members)},
    {"ListTagsForResource", list_tags_for_resource_members, N_OF(list_tags_for_resource_members)},
    {"StartStreamEncryption", encryption_members, N_OF(encryption_members)},
    {"StopStreamEncryption", encryption_members, N_OF(encryption_members)},
    {"UpdateStreamMode", update_stream_mode_members, N_OF(update_stream_mode_members)},
    {"PutRecord", put_record_members, N_OF(put_record_members)},
    {"PutRecords", put_records_members, N_OF(put_records_members)},
    {"GetRecords", get_records_members, N_OF(get_records_members)},
    {"GetShardIterator", get_shard_iterator_members, N_OF(get_shard_iterator_members)},
    {"CreateStream", create_stream_members, N_OF(create_stream_members)},
    {"DeleteStream", delete_stream_members, N_OF(delete_stream_members)},
    {"DescribeStream", describe_stream_members, N_OF(describe_stream_members)},
    {"DescribeStreamSummary", describe_stream_summary_members,
     N_OF(describe_stream_summary_members)},
    {"ListShards", list_shards_members, N_OF(list_shards_members)},
    {"ListStreams", list_streams_members, N_OF(list_streams_members)},
    {"IncreaseStreamRetentionPeriod", retention_members, N_OF(retention_members)},
    {"DecreaseStreamRetentionPeriod", retention_members, N_OF(retention_members)},
};

/* ---- deserialization: the type of every member ---- */

/* AWS's words for a JSON value of the wrong kind, by what the member is. */
static int type_error(struct api_call *call, json_t *v, enum vtype want)
{
    static const char *const java_names[] = {
        [VT_STRING] = "an String", [VT_INT] = "an Integer", [VT_LONG] = "an Long",
        [VT_BOOL] = "an Boolean",  [VT_BLOB] = "a Blob",    [VT_TIMESTAMP] = "a Date",
    };
    const char *msg = NULL;
    if (json_is_array(v)) {
        msg = "Start of list found where not expected";
    } else if (json_is_object(v)) {
        msg = "Start of structure or map found where not expected.";
    } else if (want == VT_LIST) {
        msg = "Expected list or null";
    } else if (want == VT_MAP) {
        msg = "Expected map or null";
    } else if (want == VT_STRUCT) {
        msg = "Expected null";
    }
    if (msg != NULL) {
        return err_set(&call->err, SL_E(SERIALIZATION), "%s", msg);
    }
    const char *from = json_is_boolean(v)  ? "class java.lang.Boolean"
                       : json_is_string(v) ? "class java.lang.String"
                                           : "class java.math.BigDecimal";
    return err_set(&call->err, SL_E(SERIALIZATION), "%s can not be converted to %s", from,
                   java_names[want]);
}

/* Base64 as the service's deserializer takes it, or SerializationException in its words. */
static int check_blob(struct api_call *call, const char *s, size_t len)
{
    static const char *const alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static unsigned char is_b64[256];
    if (!is_b64['A']) { /* idempotent, so a race only writes the same bytes twice */
        for (const char *a = alphabet; *a != '\0'; a++) {
            is_b64[(unsigned char)*a] = 1;
        }
    }
    size_t bad = len;
    size_t body = len;
    while (body > 0 && len - body < 2 && s[body - 1] == '=') {
        body--; /* the padding */
    }
    for (size_t i = 0; i < body && bad == len; i++) {
        if (!is_b64[(unsigned char)s[i]]) {
            bad = i;
        }
    }
    if (len % 4 == 0 && bad == len) {
        return 0;
    }
    char shown[160];
    shown_value(s, len, shown, sizeof(shown));
    if (len % 4 != 0) {
        return err_set(&call->err, SL_E(SERIALIZATION),
                       "'%s' can not be converted to a Blob: Base64 encoded length is expected a "
                       "multiple of 4 bytes but found: %zu",
                       shown, len);
    }
    return err_set(&call->err, SL_E(SERIALIZATION),
                   "'%s' can not be converted to a Blob: Invalid Base64 character: '%c'", shown,
                   s[bad]);
}

static int check_types(struct api_call *call, json_t *obj, const struct vmember *members, size_t n);

static int check_type(struct api_call *call, json_t *v, const struct vmember *m)
{
    if (v == NULL || json_is_null(v)) {
        return 0;
    }
    switch (m->type) {
    case VT_STRING: return json_is_string(v) ? 0 : type_error(call, v, m->type);
    case VT_BLOB:
        if (!json_is_string(v)) {
            return type_error(call, v, m->type);
        }
        return check_blob(call, json_string_value(v), json_string_length(v));
    case VT_INT:
        if (json_is_number(v) && (json_number_value(v) >= (double)INT32_MAX + 1 ||
                                  json_number_value(v) <= (double)INT32_MIN - 1)) {
            return err_set(&call->err, SL_E(SERIALIZATION),
                           "Numeric value (%.17g) out of range of int", json_number_value(v));
        }
        return json_is_number(v) ? 0 : type_error(call, v, m->type);
    case VT_LONG:
    case VT_TIMESTAMP: return json_is_number(v) ? 0 : type_error(call, v, m->type);
    case VT_BOOL: return json_is_boolean(v) ? 0 : type_error(call, v, m->type);
    case VT_MAP: return json_is_object(v) ? 0 : type_error(call, v, m->type);
    case VT_STRUCT:
        if (!json_is_object(v)) {
            return type_error(call, v, m->type);
        }
        return check_types(call, v, m->children, m->n_children);
    case VT_LIST:
        if (!json_is_array(v)) {
            return type_error(call, v, m->type);
        }
        for (size_t i = 0; i < json_array_size(v); i++) {
            int rc = check_type(call, json_array_get(v, i), &m->children[0]);
            if (rc < 0) {
                return rc;
            }
        }
        return 0;
    }
    return 0;
}

static int check_types(struct api_call *call, json_t *obj, const struct vmember *members, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = check_type(call, json_object_get(obj, members[i].name), &members[i]);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

/* ---- validation: every constraint ---- */

struct violations {
    struct buf text; /* "Value ... ; Value ..." */
    int count;
};

static int digits_match(const char *s, size_t len, size_t max_digits)
{
    if (len == 1 && s[0] == '0') {
        return 1;
    }
    if (len == 0 || len > max_digits + 1 || s[0] < '1' || s[0] > '9') {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }
    return 1;
}

static int lower_alnum(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9'))) {
            return 0;
        }
    }
    return 1;
}

/* The stream name part: \S+, at least one byte and no white space. */
static int no_space(const char *t, const char *end)
{
    if (t >= end) {
        return 0;
    }
    for (; t < end; t++) {
        if (*t == ' ' || (*t >= '\t' && *t <= '\r')) {
            return 0;
        }
    }
    return 1;
}

/* arn:aws<any>:kinesis:<any>:<12 digits>:[<any>]stream/<no white space>, the patterns'
   greedy ".*" allowing any split that makes the rest match; any_before_stream is the
   ResourceARN pattern's ".*" before "stream/". */
static int stream_arn_match(const char *s, size_t len, int any_before_stream)
{
    if (len < 7 || memcmp(s, "arn:aws", 7) != 0 || memchr(s, '\0', len) != NULL) {
        return 0;
    }
    const char *end = s + len;
    for (const char *k = s + 7; k + 9 <= end; k++) {
        if (memcmp(k, ":kinesis:", 9) != 0) {
            continue;
        }
        for (const char *a = k + 9; a + 14 <= end; a++) {
            int ok = *a == ':' && a[13] == ':';
            for (int i = 1; ok && i <= 12; i++) {
                ok = a[i] >= '0' && a[i] <= '9';
            }
            for (const char *st = a + 14; ok && st + 7 <= end; st++) {
                if (memcmp(st, "stream/", 7) == 0 && no_space(st + 7, end)) {
                    return 1;
                }
                if (!any_before_stream) {
                    break;
                }
            }
        }
    }
    return 0;
}

static int pattern_match(enum vpattern p, const char *s, size_t len)
{
    switch (p) {
    case PAT_NONE: return 1;
    case PAT_NAME: return kin__valid_stream_name(s, len);
    case PAT_HASH_KEY: return digits_match(s, len, 38);
    case PAT_SEQUENCE: return digits_match(s, len, 128);
    case PAT_STREAM_ARN: return stream_arn_match(s, len, 0);
    case PAT_RESOURCE_ARN: return stream_arn_match(s, len, 1);
    case PAT_STREAM_ID:
        return len == 24 && lower_alnum(s, 20) && s[20] == '-' && lower_alnum(s + 21, 3);
    }
    return 0;
}

static const char *pattern_text(enum vpattern p)
{
    switch (p) {
    case PAT_NAME: return NAME_PATTERN;
    case PAT_HASH_KEY: return "0|([1-9]\\d{0,38})";
    case PAT_SEQUENCE: return "0|([1-9]\\d{0,128})";
    case PAT_STREAM_ARN: return "arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+";
    case PAT_STREAM_ID: return "[a-z0-9]{20}-[a-z0-9]{3}";
    case PAT_RESOURCE_ARN: return "arn:aws.*:kinesis:.*:\\d{12}:.*stream/\\S+";
    case PAT_NONE: break;
    }
    return "";
}

/* A number as the validator reads an integer member: the fraction dropped, clamped to
   the range of a long (casting a double beyond it would be undefined). */
static long long number_value(json_t *v)
{
    if (json_is_integer(v)) {
        return json_integer_value(v);
    }
    double d = json_number_value(v);
    if (d >= 9.2e18) {
        return LLONG_MAX;
    }
    if (d <= -9.2e18) {
        return LLONG_MIN;
    }
    return (long long)d;
}

/* The value as the validator prints it: quoted text, a number, a blob's buffer. */
static void show(json_t *v, enum vtype type, char *out, size_t size)
{
    if (v == NULL || json_is_null(v)) {
        snprintf(out, size, "null");
    } else if (type == VT_BLOB) {
        size_t n = json_string_length(v) / 4 * 3;
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        n -= len >= 1 && s[len - 1] == '=';
        n -= len >= 2 && s[len - 2] == '=';
        snprintf(out, size, "'java.nio.HeapByteBuffer[pos=0 lim=%zu cap=%zu]'", n, n);
    } else if (json_is_string(v)) {
        char shown[160];
        shown_value(json_string_value(v), json_string_length(v), shown, sizeof(shown));
        snprintf(out, size, "'%s'", shown);
    } else if (json_is_integer(v)) {
        snprintf(out, size, "'%lld'", (long long)json_integer_value(v));
    } else if (json_is_number(v)) {
        snprintf(out, size, "'%lld'", number_value(v));
    } else if (json_is_array(v)) {
        /* "[a, b]", as the service prints a list */
        size_t o = 0;
        out[o++] = '\'';
        out[o++] = '[';
        for (size_t i = 0; i < json_array_size(v) && o + 8 < size; i++) {
            json_t *e = json_array_get(v, i);
            char item[160];
            if (json_is_string(e)) {
                shown_value(json_string_value(e), json_string_length(e), item, sizeof(item));
            } else if (json_is_number(e)) {
                snprintf(item, sizeof(item), "%g", json_number_value(e));
            } else {
                snprintf(item, sizeof(item), "{...}");
            }
            o += (size_t)snprintf(out + o, size - o - 4, "%s%s", i > 0 ? ", " : "", item);
            o = o < size - 4 ? o : size - 4;
        }
        snprintf(out + o, size - o, "]'");
    } else {
        /* "{k=v, k2=v2}", as the service prints a map */
        size_t o = 0;
        const char *k;
        json_t *e;
        o += (size_t)snprintf(out, size, "'{");
        json_object_foreach(v, k, e)
        {
            if (o + 8 >= size) {
                break;
            }
            o += (size_t)snprintf(out + o, size - o - 4, "%s%s=%s", o > 2 ? ", " : "", k,
                                  json_is_string(e) ? json_string_value(e) : "...");
            o = o < size - 4 ? o : size - 4;
        }
        snprintf(out + o, size - o, "}'");
    }
}

/* Adds "Value <v as shown> at '<path>' failed to satisfy constraint: <constraint>". */
static void violation(struct violations *vs, json_t *v, enum vtype type, const char *path,
                      const char *constraint)
{
    if (vs->count >= MAX_VIOLATIONS) {
        return;
    }
    char shown[200];
    show(v, type, shown, sizeof(shown));
    buf_printf(&vs->text, "%sValue %s at '%s' failed to satisfy constraint: %s",
               vs->count > 0 ? "; " : "", shown, path, constraint);
    vs->count++;
}

static void validate_members(struct violations *vs, json_t *obj, const struct vmember *members,
                             size_t n, const char *prefix);

static void validate_member(struct violations *vs, json_t *v, const struct vmember *m,
                            const char *path)
{
    char c[160];
    if (v == NULL || json_is_null(v)) {
        if (m->required) {
            violation(vs, v, m->type, path, "Member must not be null");
        }
        return;
    }
    long long size = -1; /* a length, or -1 for a number */
    if (m->type == VT_INT || m->type == VT_LONG) {
        long long x = number_value(v);
        if (m->min != NO_LIMIT && x < m->min) {
            snprintf(c, sizeof(c), "Member must have value greater than or equal to %lld", m->min);
            violation(vs, v, m->type, path, c);
        }
        if (m->max != NO_LIMIT && x > m->max) {
            snprintf(c, sizeof(c), "Member must have value less than or equal to %lld", m->max);
            violation(vs, v, m->type, path, c);
        }
        return;
    }
    if (m->type == VT_STRING) {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        if (m->pattern != PAT_NONE && !pattern_match(m->pattern, s, len)) {
            snprintf(c, sizeof(c), "Member must satisfy regular expression pattern: %s",
                     pattern_text(m->pattern));
            violation(vs, v, m->type, path, c);
        }
        size = (long long)len;
    } else if (m->type == VT_BLOB) {
        size = (long long)(json_string_length(v) / 4 * 3); /* an upper bound is enough below */
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        size -= len >= 1 && s[len - 1] == '=';
        size -= len >= 2 && s[len - 2] == '=';
    } else if (m->type == VT_LIST) {
        size = (long long)json_array_size(v);
    } else if (m->type == VT_MAP) {
        size = (long long)json_object_size(v);
    }
    if (size >= 0 && m->min != NO_LIMIT && size < m->min) {
        snprintf(c, sizeof(c), "Member must have length greater than or equal to %lld", m->min);
        violation(vs, v, m->type, path, c);
    }
    if (size >= 0 && m->max != NO_LIMIT && size > m->max) {
        snprintf(c, sizeof(c), "Member must have length less than or equal to %lld", m->max);
        violation(vs, v, m->type, path, c);
    }
    if (m->enums != NULL) {
        int found = 0;
        for (size_t i = 0; m->enums[i] != NULL && !found; i++) {
            found = strcmp(m->enums[i], json_string_value(v)) == 0 &&
                    strlen(m->enums[i]) == json_string_length(v);
        }
        if (!found) {
            struct buf set;
            buf_init(&set);
            buf_puts(&set, "Member must satisfy enum value set: [");
            for (size_t i = 0; m->enums[i] != NULL; i++) {
                buf_printf(&set, "%s%s", i > 0 ? ", " : "", m->enums[i]);
            }
            buf_puts(&set, "]");
            violation(vs, v, m->type, path, set.data != NULL ? (const char *)set.data : "");
            buf_fini(&set);
        }
    }
    if (m->type == VT_STRUCT) {
        validate_members(vs, v, m->children, m->n_children, path);
    } else if (m->type == VT_LIST && m->children != NULL && m->children[0].type == VT_STRING) {
        /* A list of strings is checked whole: one violation for any element. */
        const struct vmember *e = &m->children[0];
        int bad = 0;
        int bad_enum = 0;
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *item = json_array_get(v, i);
            size_t len = json_string_length(item);
            bad |= (e->min != NO_LIMIT && (long long)len < e->min) ||
                   (e->max != NO_LIMIT && (long long)len > e->max);
            for (size_t k = 0; e->enums != NULL && e->enums[k] != NULL; k++) {
                if (strcmp(e->enums[k], json_string_value(item)) == 0 &&
                    strlen(e->enums[k]) == len) {
                    break;
                }
                bad_enum |= e->enums[k + 1] == NULL;
            }
        }
        if (bad_enum) {
            struct buf set;
            buf_init(&set);
            buf_puts(&set,
                     "Member must satisfy constraint: [Member must satisfy enum value set: [");
            for (size_t k = 0; e->enums[k] != NULL; k++) {
                buf_printf(&set, "%s%s", k > 0 ? ", " : "", e->enums[k]);
            }
            buf_puts(&set, "]]");
            violation(vs, v, m->type, path, set.data != NULL ? (const char *)set.data : "");
            buf_fini(&set);
        } else if (bad) {
            snprintf(c, sizeof(c),
                     "Member must satisfy constraint: [Member must have length less than or "
                     "equal to %lld, Member must have length greater than or equal to %lld]",
                     e->max, e->min);
            violation(vs, v, m->type, path, c);
        }
    } else if (m->type == VT_LIST && m->children != NULL) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            char item[192];
            snprintf(item, sizeof(item), "%s.%zu.%s", path, i + 1, m->children[0].name);
            validate_member(vs, json_array_get(v, i), &m->children[0], item);
        }
    }
}

static void validate_members(struct violations *vs, json_t *obj, const struct vmember *members,
                             size_t n, const char *prefix)
{
    for (size_t i = 0; i < n; i++) {
        char path[192], member[64];
        member_name(members[i].name, member, sizeof(member));
        if (prefix != NULL) {
            snprintf(path, sizeof(path), "%s.%s", prefix, member);
        } else {
            snprintf(path, sizeof(path), "%s", member);
        }
        validate_member(vs, json_object_get(obj, members[i].name), &members[i], path);
    }
}

int kin__type_error(struct api_call *call, json_t *v, int integer)
{
    return type_error(call, v, integer ? VT_INT : VT_STRING);
}

int kin__validate_input(struct api_call *call, json_t *input)
{
    const struct voperation *op = NULL;
    for (size_t i = 0; call->operation != NULL && i < N_OF(voperations); i++) {
        if (strcmp(voperations[i].name, call->operation) == 0) {
            op = &voperations[i];
        }
    }
    if (op == NULL || !json_is_object(input)) {
        return 0;
    }
    int rc = check_types(call, input, op->members, op->n_members);
    if (rc < 0) {
        return rc;
    }
    struct violations vs = {.count = 0};
    buf_init(&vs.text);
    validate_members(&vs, input, op->members, op->n_members, NULL);
    if (vs.count > 0) {
        const char *text = vs.text.data != NULL ? (char *)vs.text.data : "";
        rc = err_set(&call->err, SL_E(VALIDATION), "%d validation error%s detected: %s", vs.count,
                     vs.count > 1 ? "s" : "", text);
        if (strlen(call->err.message) + 1 >= sizeof(call->err.message)) {
            /* Ten violations outgrow the message; the front end shows the whole. */
            struct buf whole;
            buf_init(&whole);
            buf_printf(&whole, "%d validation errors detected: %s", vs.count, text);
            free(call->long_message);
            call->long_message = (char *)buf_steal(&whole, NULL);
        }
    }
    buf_fini(&vs.text);
    return rc;
}

/* ---- CBOR: the output members that are blobs and timestamps in the model ---- */

const char *const kin__cbor_blob_members[] = {"Data", NULL};
const char *const kin__cbor_epoch_members[] = {"ApproximateArrivalTimestamp",
                                               "StreamCreationTimestamp",
                                               "ConsumerCreationTimestamp",
                                               "EarliestAllowedEndAt",
                                               "EndedAt",
                                               "StartedAt",
                                               NULL};
