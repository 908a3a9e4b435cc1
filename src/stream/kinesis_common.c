/*
 * Helpers the Kinesis adapter files share: typed reading of request members with the
 * service's validation wording, stream and shard resolution, tag checks. A leaf: it
 * calls stream.h and the HTTP layer's API types, never another kinesis_*.c file.
 */
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
        return err_set(&call->err, SL_E(SERIALIZATION),
                       "Unexpected value type in payload for field %s", field);
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
