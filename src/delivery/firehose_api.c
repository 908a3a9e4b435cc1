/*
 * The Firehose API adapter. Control-plane operations hand their input document to the
 * service (delivery.c), which validates it and answers in Firehose's shapes. PutRecord
 * and PutRecordBatch decode each record's base64 Data here, check AWS's limits (a record
 * at most 1,000 KiB, a batch at most 500 records and 4 MiB), and answer with one RecordId
 * per record once the records are durable.
 */
#include <string.h>

#include "core/base64.h"
#include "core/mem.h"
#include "delivery/delivery_int.h"
#include "delivery/firehose_api.h"

static struct delivery_scope scope_of(const struct api_call *call)
{
    return (struct delivery_scope){.region = call->req->region,
                                   .account = call->req->account_id};
}

#define CONTROL_OP(fn_name, impl)                                                              \
    static int fn_name(struct api_call *call, json_t *in, json_t **out)                        \
    {                                                                                          \
        struct delivery_scope sc = scope_of(call);                                             \
        return impl(call->service_ctx, &sc, in, out, &call->err);                              \
    }
CONTROL_OP(op_create, delivery__create)
CONTROL_OP(op_describe, delivery__describe)
CONTROL_OP(op_list, delivery__list)
CONTROL_OP(op_delete, delivery__delete)
CONTROL_OP(op_update, delivery__update_destination)
CONTROL_OP(op_tag, delivery__tag)
CONTROL_OP(op_untag, delivery__untag)
CONTROL_OP(op_list_tags, delivery__list_tags)
#undef CONTROL_OP

static int op_start_enc(struct api_call *call, json_t *in, json_t **out)
{
    struct delivery_scope sc = scope_of(call);
    return delivery__encryption(call->service_ctx, &sc, in, 1, out, &call->err);
}

static int op_stop_enc(struct api_call *call, json_t *in, json_t **out)
{
    struct delivery_scope sc = scope_of(call);
    return delivery__encryption(call->service_ctx, &sc, in, 0, out, &call->err);
}

/*
 * Decodes the Data of record (a {"Data": base64} object) at position idx (1-based, for
 * messages) into *data (OUT, try_malloc'd) and *len. path is "record" or "records.N".
 */
static int decode_record(struct api_call *call, const json_t *record, const char *path,
                         uint8_t **data, size_t *len)
{
    json_t *d = json_object_get(record, "Data");
    if (d == NULL || json_is_null(d)) {
        return err_set(&call->err, SL_E(VALIDATION),
                       "1 validation error detected: Value null at '%s.data' failed to satisfy "
                       "constraint: Member must not be null",
                       path);
    }
    if (!json_is_string(d)) {
        return err_set(&call->err, SL_E(SERIALIZATION), "Data must be a base64 string");
    }
    size_t b64_len = json_string_length(d);
    uint8_t *out = try_malloc(BASE64_DECODED_MAX(b64_len) + 1);
    if (out == NULL) {
        return err_set(&call->err, SL_E(UNAVAILABLE), "Slow down.");
    }
    long n = base64_decode(json_string_value(d), b64_len, out);
    if (n < 0) {
        free(out);
        return err_set(&call->err, SL_E(SERIALIZATION),
                       "Could not decode the base64 Data of %s.", path);
    }
    if (n > DELIVERY_RECORD_MAX_BYTES) {
        free(out);
        return err_set(&call->err, SL_E(VALIDATION),
                       "1 validation error detected: Value at '%s.data' failed to satisfy "
                       "constraint: Member must have length less than or equal to %d",
                       path, DELIVERY_RECORD_MAX_BYTES);
    }
    *data = out;
    *len = (size_t)n;
    return 0;
}

static int name_of(struct api_call *call, const json_t *in, const char **name)
{
    *name = json_string_value(json_object_get(in, "DeliveryStreamName"));
    if (*name == NULL) {
        return err_set(&call->err, SL_E(VALIDATION),
                       "1 validation error detected: Value null at 'deliveryStreamName' failed "
                       "to satisfy constraint: Member must not be null");
    }
    size_t n = strlen(*name);
    if (n < 1 || n > DELIVERY_NAME_MAX) {
        return err_set(&call->err, SL_E(VALIDATION),
                       "1 validation error detected: Value '%s' at 'deliveryStreamName' failed "
                       "to satisfy constraint: Member must have length less than or equal to 64",
                       *name);
    }
    return 0;
}

static int op_put_record(struct api_call *call, json_t *in, json_t **out)
{
    const char *name;
    int rc = name_of(call, in, &name);
    if (rc < 0) {
        return rc;
    }
    json_t *record = json_object_get(in, "Record");
    if (!json_is_object(record)) {
        return err_set(&call->err, SL_E(VALIDATION),
                       "1 validation error detected: Value null at 'record' failed to satisfy "
                       "constraint: Member must not be null");
    }
    uint8_t *data = NULL;
    size_t len = 0;
    if ((rc = decode_record(call, record, "record", &data, &len)) < 0) {
        return rc;
    }
    struct delivery_scope sc = scope_of(call);
    struct delivery_record_in rec = {.data = data, .data_len = (uint32_t)len};
    char id[1][DELIVERY_RECORD_ID_LEN + 1];
    int encrypted = 0;
    rc = delivery__put(call->service_ctx, &sc, name, &rec, 1, id, &encrypted, &call->err);
    free(data);
    if (rc < 0) {
        return rc;
    }
    *out = json_pack("{s:s,s:b}", "RecordId", id[0], "Encrypted", encrypted);
    return 0;
}

static int op_put_record_batch(struct api_call *call, json_t *in, json_t **out)
{
    const char *name;
    int rc = name_of(call, in, &name);
    if (rc < 0) {
        return rc;
    }
    json_t *records = json_object_get(in, "Records");
    if (!json_is_array(records)) {
        return err_set(&call->err, SL_E(VALIDATION),
                       "1 validation error detected: Value null at 'records' failed to satisfy "
                       "constraint: Member must not be null");
    }
    size_t n = json_array_size(records);
    if (n < 1 || n > DELIVERY_BATCH_MAX_RECORDS) {
        return err_set(&call->err, SL_E(VALIDATION),
                       "1 validation error detected: Value at 'records' failed to satisfy "
                       "constraint: Member must have length %s",
                       n < 1 ? "greater than or equal to 1" : "less than or equal to 500");
    }
    struct delivery_record_in *recs = xcalloc(n, sizeof(*recs));
    uint8_t **owned = xcalloc(n, sizeof(*owned));
    char (*ids)[DELIVERY_RECORD_ID_LEN + 1] = xcalloc(n, sizeof(*ids));
    size_t total = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char path[48];
        snprintf(path, sizeof(path), "records.%zu.member", i + 1);
        size_t len = 0;
        rc = decode_record(call, json_array_get(records, i), path, &owned[i], &len);
        recs[i] = (struct delivery_record_in){.data = owned[i], .data_len = (uint32_t)len};
        total += len;
    }
    if (rc == 0 && total > DELIVERY_BATCH_MAX_BYTES) {
        rc = err_set(&call->err, SL_E(INVALID_ARGUMENT),
                     "Records size exceeds 4 MB limit");
    }
    int encrypted = 0;
    if (rc == 0) {
        struct delivery_scope sc = scope_of(call);
        rc = delivery__put(call->service_ctx, &sc, name, recs, n, ids, &encrypted, &call->err);
    }
    if (rc == 0) {
        json_t *responses = json_array();
        for (size_t i = 0; i < n; i++) {
            json_array_append_new(responses, json_pack("{s:s}", "RecordId", ids[i]));
        }
        *out = json_pack("{s:i,s:b,s:o}", "FailedPutCount", 0, "Encrypted", encrypted,
                         "RequestResponses", responses);
    }
    for (size_t i = 0; i < n; i++) {
        free(owned[i]);
    }
    free(owned);
    free(recs);
    free(ids);
    return rc;
}

static const struct api_json_op firehose_ops[] = {
    {"CreateDeliveryStream", op_create, NULL},
    {"DeleteDeliveryStream", op_delete, NULL},
    {"DescribeDeliveryStream", op_describe, NULL},
    {"ListDeliveryStreams", op_list, NULL},
    {"UpdateDestination", op_update, NULL},
    {"TagDeliveryStream", op_tag, NULL},
    {"UntagDeliveryStream", op_untag, NULL},
    {"ListTagsForDeliveryStream", op_list_tags, NULL},
    {"StartDeliveryStreamEncryption", op_start_enc, NULL},
    {"StopDeliveryStreamEncryption", op_stop_enc, NULL},
    {"PutRecord", op_put_record, NULL},
    {"PutRecordBatch", op_put_record_batch, NULL},
};

static const struct api_json_service firehose_template = {
    .signing_name = "firehose",
    .target_prefix = "Firehose_20150804",
    .json_version = "1.1",
    .ops = firehose_ops,
    .n_ops = sizeof(firehose_ops) / sizeof(firehose_ops[0]),
};

struct api_json_service *firehose_api_create(struct delivery_service *svc)
{
    struct api_json_service *api = xmalloc(sizeof(*api));
    *api = firehose_template;
    api->ctx = svc;
    return api;
}

void firehose_api_destroy(struct api_json_service *svc)
{
    free(svc);
}
