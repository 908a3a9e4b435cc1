/* Stream tags: the stream-named operations and the ARN-named *Resource ones. */
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "stream/kinesis_int.h"

/* Validates tags and adds them to s. */
static int put_tags(struct api_call *call, struct stream *s, json_t *tags)
{
    const char **keys, **values;
    size_t n;
    int rc = kin__tags_collect(call, stream_name(s), tags, &keys, &values, &n);
    if (rc == 0) {
        rc = stream_tags_put(call->service_ctx, s, keys, values, n, &call->err);
    }
    free(keys);
    free(values);
    return rc;
}

static int tags_object(struct api_call *call, json_t *in, const char *field, size_t max,
                       json_t **tags)
{
    *tags = json_object_get(in, field);
    if (*tags == NULL || json_is_null(*tags)) {
        return err_set(&call->err, SL_E(VALIDATION),
                       "1 validation error detected: Value null at 'tags' failed to satisfy "
                       "constraint: Member must not be null");
    }
    if (!json_is_object(*tags)) {
        return err_set(&call->err, SL_E(SERIALIZATION),
                       "Unexpected value type in payload for field %s", field);
    }
    if (json_object_size(*tags) < 1 || json_object_size(*tags) > max) {
        return err_set(&call->err, SL_E(VALIDATION),
                       "1 validation error detected: Value at 'tags' failed to satisfy "
                       "constraint: Member must have length between 1 and %zu",
                       max);
    }
    return 0;
}

/* Validates TagKeys and collects them (borrowed from in). */
static int tag_keys(struct api_call *call, json_t *in, const char ***keys, size_t *n)
{
    json_t *arr = json_object_get(in, "TagKeys");
    *keys = NULL;
    *n = 0;
    if (arr == NULL || json_is_null(arr)) {
        return err_set(&call->err, SL_E(VALIDATION),
                       "1 validation error detected: Value null at 'tagKeys' failed to satisfy "
                       "constraint: Member must not be null");
    }
    if (!json_is_array(arr)) {
        return err_set(&call->err, SL_E(SERIALIZATION),
                       "Unexpected value type in payload for field TagKeys");
    }
    if (json_array_size(arr) < 1 || json_array_size(arr) > 50) {
        return err_set(&call->err, SL_E(VALIDATION),
                       "1 validation error detected: Value at 'tagKeys' failed to satisfy "
                       "constraint: Member must have length between 1 and 50");
    }
    *keys = xcalloc(json_array_size(arr), sizeof(char *));
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v) || json_string_length(v) < 1 ||
            json_string_length(v) > KIN_TAG_KEY_MAX) {
            free(*keys);
            *keys = NULL;
            return err_set(&call->err, SL_E(VALIDATION),
                           "1 validation error detected: Value at 'tagKeys' failed to satisfy "
                           "constraint: Member must have length between 1 and 128");
        }
        if (memchr(json_string_value(v), '\0', json_string_length(v)) != NULL) {
            free(*keys);
            *keys = NULL;
            return err_set(&call->err, SL_E(VALIDATION),
                           "1 validation error detected: Value at 'tagKeys' failed to satisfy "
                           "constraint: Member must not contain null characters");
        }
        (*keys)[i] = json_string_value(v);
    }
    *n = json_array_size(arr);
    return 0;
}

static int resolve_name_or_arn(struct api_call *call, json_t *in, const char *arn_field,
                               struct stream **s)
{
    const char *name = NULL, *arn = NULL;
    int rc = 0;
    if (arn_field == NULL) {
        rc = kin__get_string(call, in, "StreamName", 0, 1, STREAM_NAME_MAX, &name);
        if (rc == 0) {
            rc = kin__get_string(call, in, "StreamARN", 0, 1, 2048, &arn);
        }
    } else {
        rc = kin__get_string(call, in, arn_field, 1, 1, 2048, &arn);
    }
    if (rc == 0) {
        rc = kin__resolve(call, name, arn, s);
    }
    return rc;
}

int kin__add_tags_to_stream(struct api_call *call, json_t *in, json_t **out)
{
    (void)out;
    json_t *tags;
    struct stream *s;
    int rc = tags_object(call, in, "Tags", 50, &tags);
    if (rc == 0 && (rc = resolve_name_or_arn(call, in, NULL, &s)) == 0) {
        rc = put_tags(call, s, tags);
        stream_release(s);
    }
    return rc;
}

int kin__tag_resource(struct api_call *call, json_t *in, json_t **out)
{
    (void)out;
    json_t *tags;
    struct stream *s;
    int rc = tags_object(call, in, "Tags", 50, &tags);
    if (rc == 0 && (rc = resolve_name_or_arn(call, in, "ResourceARN", &s)) == 0) {
        rc = put_tags(call, s, tags);
        stream_release(s);
    }
    return rc;
}

static int remove_tags(struct api_call *call, json_t *in, const char *arn_field)
{
    const char **keys;
    size_t n;
    struct stream *s;
    int rc = tag_keys(call, in, &keys, &n);
    if (rc == 0 && (rc = resolve_name_or_arn(call, in, arn_field, &s)) == 0) {
        rc = stream_tags_remove(call->service_ctx, s, keys, n);
        stream_release(s);
    }
    free(keys);
    return rc;
}

int kin__remove_tags_from_stream(struct api_call *call, json_t *in, json_t **out)
{
    (void)out;
    return remove_tags(call, in, NULL);
}

int kin__untag_resource(struct api_call *call, json_t *in, json_t **out)
{
    (void)out;
    return remove_tags(call, in, "ResourceARN");
}

int kin__list_tags_for_stream(struct api_call *call, json_t *in, json_t **out)
{
    const char *start;
    long long limit;
    struct stream *s;
    int rc;
    if ((rc = kin__get_string(call, in, "ExclusiveStartTagKey", 0, 1, KIN_TAG_KEY_MAX, &start)) <
            0 ||
        (rc = kin__get_int(call, in, "Limit", 0, 1, 50, 50, &limit)) < 0 ||
        (rc = resolve_name_or_arn(call, in, NULL, &s)) < 0) {
        return rc;
    }
    char **keys, **values;
    size_t n;
    rc = stream_tags_list(call->service_ctx, s, &keys, &values, &n);
    stream_release(s);
    if (rc < 0) {
        return rc;
    }
    json_t *arr = json_array();
    size_t i = 0;
    while (start != NULL && i < n && strcmp(keys[i], start) <= 0) {
        i++;
    }
    for (; i < n && json_array_size(arr) < (size_t)limit; i++) {
        json_array_append_new(arr, json_pack("{s:s, s:s}", "Key", keys[i], "Value", values[i]));
    }
    *out = json_pack("{s:o, s:b}", "Tags", arr, "HasMoreTags", i < n);
    stream_tags_free(keys, values, n);
    return 0;
}

int kin__list_tags_for_resource(struct api_call *call, json_t *in, json_t **out)
{
    struct stream *s;
    int rc = resolve_name_or_arn(call, in, "ResourceARN", &s);
    if (rc < 0) {
        return rc;
    }
    char **keys, **values;
    size_t n;
    rc = stream_tags_list(call->service_ctx, s, &keys, &values, &n);
    stream_release(s);
    if (rc < 0) {
        return rc;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(arr, json_pack("{s:s, s:s}", "Key", keys[i], "Value", values[i]));
    }
    *out = json_pack("{s:o}", "Tags", arr);
    stream_tags_free(keys, values, n);
    return 0;
}
