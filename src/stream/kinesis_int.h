/* Shared by the Kinesis API adapter files (kinesis_*.c); private to src/stream. */
#ifndef SLUICE_STREAM_KINESIS_INT_H
#define SLUICE_STREAM_KINESIS_INT_H

#include "http/api.h"
#include "stream/stream_int.h"

/* Constraint violations, worded as the service's validator words them. */
int kin__validation(struct api_call *call, const char *member, const char *value,
                    const char *constraint);
/* Typed fields: SerializationException for a wrong type, ValidationException for bounds. */
int kin__get_string(struct api_call *call, json_t *in, const char *field, int required,
                    size_t min_len, size_t max_len, const char **out);
int kin__get_int(struct api_call *call, json_t *in, const char *field, int required,
                 long long min, long long max, long long dflt, long long *out);
/* The stream named by name and/or ARN, with a reference; ResourceNotFoundException else. */
int kin__resolve(struct api_call *call, const char *name, const char *arn, struct stream **out);
int kin__not_found(struct api_call *call, const char *name);
struct shard *kin__find_shard(struct api_call *call, struct stream *s, const char *shard_id);
enum stream_status kin__status(struct stream_service *svc, struct stream *s);
json_t *kin__timestamp(int64_t ms);

/* kinesis_tags.c */
int kin__put_tags(struct api_call *call, struct stream *s, json_t *tags);
int kin__add_tags_to_stream(struct api_call *call, json_t *in, json_t **out);
int kin__list_tags_for_stream(struct api_call *call, json_t *in, json_t **out);
int kin__remove_tags_from_stream(struct api_call *call, json_t *in, json_t **out);
int kin__tag_resource(struct api_call *call, json_t *in, json_t **out);
int kin__untag_resource(struct api_call *call, json_t *in, json_t **out);
int kin__list_tags_for_resource(struct api_call *call, json_t *in, json_t **out);

/* kinesis_records.c: the hot path, read and written without a JSON tree */
int kin__put_record(struct api_call *call, const uint8_t *body, size_t len, struct buf *out);
int kin__put_records(struct api_call *call, const uint8_t *body, size_t len, struct buf *out);
int kin__get_records(struct api_call *call, const uint8_t *body, size_t len, struct buf *out);

#endif
