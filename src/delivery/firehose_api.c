/*
 * The Firehose API adapter. Control-plane operations hand their input document to the
 * service (delivery.c), which validates it and answers in Firehose's shapes. PutRecord
 * and PutRecordBatch are the record path: they read the body once with the single-pass
 * reader (core/jsonscan.h), decode each record's base64 Data straight into one buffer,
 * check AWS's limits (a record at most 1,000 KiB, a batch at most 500 records and 4 MiB),
 * and answer with one RecordId per record once the records are durable.
 */
#include <string.h>

#include "core/base64.h"
#include "core/clock.h"
#include "core/jsonscan.h"
#include "core/mem.h"
#include "delivery/delivery_int.h"
#include "delivery/firehose_api.h"

static struct delivery_scope scope_of(const struct api_call *call)
{
    return (struct delivery_scope){.region = call->req->region, .account = call->req->account_id};
}

#define CONTROL_OP(fn_name, impl)                                                                  \
    static int fn_name(struct api_call *call, json_t *in, json_t **out)                            \
    {                                                                                              \
        struct delivery_scope sc = scope_of(call);                                                 \
        return impl(call->service_ctx, &sc, in, out, &call->err);                                  \
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

/* ---- the record path: PutRecord and PutRecordBatch through the single-pass reader ---- */

/* What a put request holds, as spans of the body. */
struct put_request {
    struct jstr name;
    int has_name;
    int has_records;   /* Records (batch) or Record (single) was given */
    struct jstr *data; /* n_records spans of base64 (NULL span: no Data) */
    int *has_data;
    size_t n_records; /* counted, even past the limit */
    size_t cap;
};

static void put_request_fini(struct put_request *req)
{
    free(req->data);
    free(req->has_data);
}

static int serialization(struct api_call *call, const struct jscan *js)
{
    return err_set(&call->err, SL_E(SERIALIZATION), "Malformed request body: %s",
                   js->error ? js->error : "unexpected value type");
}

/* A {"Data": "..."} record; unknown members are skipped. */
static int read_record(struct jscan *js, struct put_request *req)
{
    if (req->n_records == req->cap) {
        req->cap = req->cap ? req->cap * 2 : 64;
        req->data = xrealloc(req->data, req->cap * sizeof(*req->data));
        req->has_data = xrealloc(req->has_data, req->cap * sizeof(*req->has_data));
    }
    size_t i = req->n_records++;
    req->has_data[i] = 0;
    memset(&req->data[i], 0, sizeof(req->data[i]));
    if (jscan_peek(js) != JSCAN_OBJECT || jscan_object_begin(js) < 0) {
        js->error = js->error ? js->error : "a record must be an object";
        return -1;
    }
    struct jstr key;
    int more;
    while ((more = jscan_object_next(js, &key)) == 1) {
        int rc = jstr_eq(&key, "Data") ? jscan_string_or_null(js, &req->data[i], &req->has_data[i])
                                       : jscan_skip(js);
        if (rc < 0) {
            return -1;
        }
    }
    return more;
}

/* Parses a PutRecord (batch 0) or PutRecordBatch body into req. */
static int parse_put(struct api_call *call, const uint8_t *body, size_t len, int batch,
                     struct put_request *req)
{
    struct jscan js;
    jscan_init(&js, (const char *)body, len);
    if (len == 0 || jscan_object_begin(&js) < 0) {
        return serialization(call, &js);
    }
    struct jstr key;
    int more;
    while ((more = jscan_object_next(&js, &key)) == 1) {
        int rc = 0;
        if (jstr_eq(&key, "DeliveryStreamName")) {
            rc = jscan_string_or_null(&js, &req->name, &req->has_name);
        } else if (batch && jstr_eq(&key, "Records") && jscan_peek(&js) != JSCAN_NULL) {
            req->has_records = 1;
            if (jscan_array_begin(&js) < 0) {
                return serialization(call, &js);
            }
            while ((rc = jscan_array_next(&js)) == 1) {
                if (req->n_records > DELIVERY_BATCH_MAX_RECORDS) {
                    req->n_records++; /* counted, not kept: the request fails below */
                    rc = jscan_skip(&js);
                } else {
                    rc = read_record(&js, req);
                }
                if (rc < 0) {
                    break;
                }
            }
        } else if (!batch && jstr_eq(&key, "Record") && jscan_peek(&js) != JSCAN_NULL) {
            req->has_records = 1;
            rc = read_record(&js, req);
        } else {
            rc = jscan_skip(&js);
        }
        if (rc < 0) {
            return serialization(call, &js);
        }
    }
    if (more < 0 || jscan_finish(&js) < 0) {
        return serialization(call, &js);
    }
    if (!req->has_name) {
        return err_set(&call->err, SL_E(VALIDATION),
                       "1 validation error detected: Value null at 'deliveryStreamName' failed "
                       "to satisfy constraint: Member must not be null");
    }
    if (!req->has_records) {
        return err_set(&call->err, SL_E(VALIDATION),
                       "1 validation error detected: Value null at '%s' failed to satisfy "
                       "constraint: Member must not be null",
                       batch ? "records" : "record");
    }
    if (batch && (req->n_records < 1 || req->n_records > DELIVERY_BATCH_MAX_RECORDS)) {
        return err_set(&call->err, SL_E(VALIDATION),
                       "1 validation error detected: Value at 'records' failed to satisfy "
                       "constraint: Member must have length %s",
                       req->n_records < 1 ? "greater than or equal to 1"
                                          : "less than or equal to 500");
    }
    return 0;
}

/* The delivery stream's name, unescaped and checked, into name (65 bytes). */
static int put_name(struct api_call *call, const struct put_request *req,
                    char name[DELIVERY_NAME_MAX + 1])
{
    char text[6 * DELIVERY_NAME_MAX + 1];
    long n = req->name.raw_len < sizeof(text) ? jscan_unescape(&req->name, text) : -1;
    if (n < 1 || n > DELIVERY_NAME_MAX || memchr(text, '\0', (size_t)n) != NULL) {
        return err_set(&call->err, SL_E(VALIDATION),
                       "1 validation error detected: Value at 'deliveryStreamName' failed to "
                       "satisfy constraint: Member must have length between 1 and 64");
    }
    memcpy(name, text, (size_t)n);
    name[n] = '\0';
    return 0;
}

/*
 * Decodes every record's base64 into one arena (*arena_out, the caller frees it) and
 * fills recs. Checks AWS's limits: each record at most 1,000 KiB, the request 4 MiB.
 */
static int decode_records(struct api_call *call, const struct put_request *req, int batch,
                          struct delivery_record_in *recs, uint8_t **arena_out)
{
    size_t cap = 1;
    for (size_t i = 0; i < req->n_records; i++) {
        cap += BASE64_DECODED_MAX(req->data[i].raw_len);
    }
    uint8_t *arena = try_malloc(cap);
    *arena_out = arena;
    if (arena == NULL) {
        return err_set(&call->err, SL_E(UNAVAILABLE), "Slow down.");
    }
    size_t total = 0;
    for (size_t i = 0; i < req->n_records; i++) {
        char member[48];
        if (batch) {
            snprintf(member, sizeof(member), "records.%zu.member.data", i + 1);
        } else {
            snprintf(member, sizeof(member), "record.data");
        }
        if (!req->has_data[i]) {
            return err_set(&call->err, SL_E(VALIDATION),
                           "1 validation error detected: Value null at '%s' failed to satisfy "
                           "constraint: Member must not be null",
                           member);
        }
        const struct jstr *d = &req->data[i];
        const char *b64 = d->raw;
        size_t b64_len = d->raw_len;
        char *unescaped = NULL;
        if (d->has_escapes) {
            unescaped = try_malloc(b64_len + 1);
            long n = unescaped != NULL ? jscan_unescape(d, unescaped) : -1;
            if (n < 0) {
                free(unescaped);
                return err_set(&call->err, SL_E(SERIALIZATION), "Malformed Data.");
            }
            b64 = unescaped;
            b64_len = (size_t)n;
        }
        long n = b64_len <= BASE64_ENCODED_LEN(DELIVERY_RECORD_MAX_BYTES) + 4
                     ? base64_decode(b64, b64_len, arena)
                     : DELIVERY_RECORD_MAX_BYTES + 1;
        free(unescaped);
        if (n < 0) {
            return err_set(&call->err, SL_E(SERIALIZATION),
                           "Could not decode the base64 Data "
                           "of %s.",
                           member);
        }
        if (n > DELIVERY_RECORD_MAX_BYTES) {
            return err_set(&call->err, SL_E(VALIDATION),
                           "1 validation error detected: Value at '%s' failed to satisfy "
                           "constraint: Member must have length less than or equal to %d",
                           member, DELIVERY_RECORD_MAX_BYTES);
        }
        recs[i] = (struct delivery_record_in){.data = arena, .data_len = (uint32_t)n};
        arena += n;
        total += (size_t)n;
    }
    if (total > DELIVERY_BATCH_MAX_BYTES) {
        return err_set(&call->err, SL_E(INVALID_ARGUMENT), "Records size exceeds 4 MB limit");
    }
    return 0;
}

/* PutRecord (batch 0) and PutRecordBatch: parse, decode, append durably, answer. */
static int put(struct api_call *call, const uint8_t *body, size_t len, int batch, struct buf *out)
{
    int64_t started_ns = clock_mono_ns();
    struct put_request req = {0};
    struct delivery_record_in *recs = NULL;
    char(*ids)[DELIVERY_RECORD_ID_LEN + 1] = NULL;
    uint8_t *arena = NULL;
    char name[DELIVERY_NAME_MAX + 1];
    int rc = parse_put(call, body, len, batch, &req);
    if (rc == 0) {
        rc = put_name(call, &req, name);
    }
    if (rc == 0) {
        recs = xcalloc(req.n_records, sizeof(*recs));
        rc = decode_records(call, &req, batch, recs, &arena);
    }
    int encrypted = 0;
    if (rc == 0) {
        ids = xcalloc(req.n_records, sizeof(*ids));
        struct delivery_scope sc = scope_of(call);
        rc = delivery__put(call->service_ctx, &sc, name, recs, req.n_records, ids, &encrypted,
                           &call->err);
        if (rc == 0) {
            uint64_t bytes = 0;
            for (size_t i = 0; i < req.n_records; i++) {
                bytes += recs[i].data_len;
            }
            delivery__count_put(call->service_ctx, &sc, name, batch, req.n_records, bytes,
                                started_ns);
        }
    }
    if (rc == 0 && !batch) {
        buf_printf(out, "{\"RecordId\":\"%s\",\"Encrypted\":%s}", ids[0],
                   encrypted ? "true" : "false");
        rc = buf_status(out);
    } else if (rc == 0) {
        buf_reserve(out, req.n_records * (DELIVERY_RECORD_ID_LEN + 16) + 80);
        buf_printf(out, "{\"FailedPutCount\":0,\"Encrypted\":%s,\"RequestResponses\":[",
                   encrypted ? "true" : "false");
        for (size_t i = 0; i < req.n_records; i++) {
            buf_puts(out, i > 0 ? ",{\"RecordId\":\"" : "{\"RecordId\":\"");
            buf_append(out, ids[i], DELIVERY_RECORD_ID_LEN);
            buf_puts(out, "\"}");
        }
        buf_puts(out, "]}");
        rc = buf_status(out);
    }
    free(ids);
    free(arena);
    free(recs);
    put_request_fini(&req);
    return rc;
}

static int op_put_record(struct api_call *call, const uint8_t *body, size_t len, struct buf *out)
{
    return put(call, body, len, 0, out);
}

static int op_put_record_batch(struct api_call *call, const uint8_t *body, size_t len,
                               struct buf *out)
{
    return put(call, body, len, 1, out);
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
    {"PutRecord", NULL, op_put_record},
    {"PutRecordBatch", NULL, op_put_record_batch},
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
