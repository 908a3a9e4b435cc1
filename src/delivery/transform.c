/*
 * The stages of a delivery stream before dynamic partitioning, in AWS's order
 * (aws-firehose-athena.md §4, §7):
 *
 *   buffer ──▶ KPL de-aggregation (Kinesis sources, always, as AWS does)
 *          ──▶ Decompression (CompressionFormat GZIP: CloudWatch Logs subscription records)
 *          ──▶ CloudWatchLogProcessing (DataMessageExtraction: one record per log event)
 *          ──▶ RecordDeAggregation (SubRecordType JSON or DELIMITED)
 *          ──▶ Lambda transform (batches of BufferSizeInMBs, NumberOfRetries)
 *          ──▶ partitioning / conversion / the object (the flusher, unchanged)
 *   failed ──▶ decompression-failed and processing-failed error objects, written here
 *
 * Where it runs. The flusher calls this on the buffer it took, before the objects are
 * written; the source positions move only after those objects and the error objects are
 * in the lake. A crash anywhere before that reads the records again and invokes the
 * function again after the restart: at least once, as on AWS.
 *
 * Buffering. AWS buffers for the function by its own hints (BufferSizeInMBs 0.2-3,
 * BufferIntervalInSeconds), then again for the destination. Here records reach the
 * function when the delivery buffer is due, cut into invocations of at most
 * BufferSizeInMBs (and Lambda's 6 MB payload): the objects hold what AWS's would; only
 * the moment of each invocation differs. BufferIntervalInSeconds is accepted and echoed.
 *
 * Failures. An invocation that cannot be made or answered (connection refused, timed out,
 * a non-2xx status, an answer that is not AWS's shape, a recordId missing, unknown or
 * given twice) is retried NumberOfRetries times (default 3), then every record of it goes
 * to processing-failed with the last attempt's errorCode (Lambda.FunctionError,
 * Lambda.JsonProcessingException, Lambda.MissingRecordId, Lambda.DuplicatedRecordId;
 * Lambda.ResourceNotFound when no --lambda names the function). A record the function
 * answers ProcessingFailed goes there as Lambda.ProcessingFailedStatus; Dropped records
 * are gone; Ok records go on with their new data and metadata.partitionKeys (for
 * !{partitionKeyFromLambda:k}). Error lines: attemptsMade, arrivalTimestamp, errorCode,
 * errorMessage, attemptEndingTimestamp, rawData (the record as the function got it),
 * lambdaArn.
 *
 * CloudWatch Logs. A subscription filter delivers each batch of log events as one record,
 * gzip-compressed, holding one JSON envelope (CloudWatch Logs' SubscriptionFilters docs):
 *
 *   {"messageType": "DATA_MESSAGE" | "CONTROL_MESSAGE", "owner": "123456789012",
 *    "logGroup": "...", "logStream": "...", "subscriptionFilters": ["..."],
 *    "logEvents": [{"id": "...", "timestamp": 1510109208016, "message": "..."}, ...]}
 *
 * Decompression gunzips each record (gzip members; at most DECOMPRESSED_MAX bytes out).
 * With CloudWatchLogProcessing (DataMessageExtraction true, which needs Decompression, as
 * AWS's "Message extraction after decompression of CloudWatch Logs" says) the envelope's
 * metadata is dropped and each DATA_MESSAGE becomes one record per log event holding its
 * message followed by a newline, the newline-delimited messages AWS's example output
 * shows; a CONTROL_MESSAGE (CloudWatch Logs' reachability probe) holds no log events and
 * is dropped. AWS: a record Firehose cannot decompress is "delivered as is (in compressed
 * format)" under the error prefix's decompression-failed type, and the others go on
 * (decomp-faq). The line is the processing-failed shape without lambdaArn; AWS documents
 * no errorCode for it, so the codes are Sluice's: Decompression.InvalidGzip (not gzip,
 * damaged, truncated, too large) and CloudWatchLogProcessing.InvalidMessage (the
 * decompressed bytes are not a CloudWatch Logs envelope). AWS refuses PutRecord(Batch)
 * from anything but CloudWatch Logs on such a stream (InvalidSourceException); Sluice has
 * no CloudWatch Logs service, so PutRecord(Batch) stands in for it and is accepted.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base64.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/mem.h"
#include "delivery/compress.h"
#include "delivery/deagg.h"
#include "delivery/delivery_int.h"
#include "delivery/lambda.h"
#include "stream/stream.h"

#define ERROR_TYPE "processing-failed"
#define DECOMP_ERROR_TYPE "decompression-failed"
#define DECOMP_E_GZIP "Decompression.InvalidGzip"
#define DECOMP_E_CWL "CloudWatchLogProcessing.InvalidMessage"
/* One record's bytes after gunzip: CloudWatch Logs batches are about 1 MB of log events, so
   more is a bomb, not a batch. */
#define DECOMPRESSED_MAX (16u * 1024 * 1024)
#define INVOKE_TIMEOUT_MS (5 * 60 * 1000) /* Lambda's longest run */
#define RETRY_MAX_MS 30000
#define LAMBDA_ARN_MAX 5120

/* The processors this file runs, read from the stored ProcessingConfiguration. */
struct pre_conf {
    int kpl;        /* a Kinesis source: KPL aggregates are undone */
    int gunzip;     /* the Decompression processor */
    int cwl;        /* CloudWatchLogProcessing: one record per log event's message */
    int deagg;      /* 0 none, 1 JSON, 2 DELIMITED */
    uint8_t *delim; /* DELIMITED: the decoded delimiter (owned) */
    size_t delim_len;
    const char *lambda_arn; /* NULL: no transform; points into conf */
    int retries;
    size_t batch_bytes;
    json_t *conf;
};

/* ---- configuration ---- */

/* A processor's parameter value, or NULL. */
static const char *param(const json_t *p, const char *name)
{
    json_t *params = json_object_get(p, "Parameters");
    for (size_t k = 0; k < json_array_size(params); k++) {
        json_t *q = json_array_get(params, k);
        const char *n = json_string_value(json_object_get(q, "ParameterName"));
        if (n != NULL && strcmp(n, name) == 0) {
            return json_string_value(json_object_get(q, "ParameterValue"));
        }
    }
    return NULL;
}

/* A whole number in [lo, hi] from text; 0 or -1. */
static int whole(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (s[0] == '\0' || *end != '\0' || v < lo || v > hi) {
        return -1;
    }
    *out = v;
    return 0;
}

/* Megabytes in [0.2, 3]; 0 or -1. */
static int megabytes(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (s[0] == '\0' || *end != '\0' || !(v >= 0.2 && v <= 3.0)) {
        return -1;
    }
    *out = v;
    return 0;
}

static int bad(struct err_info *err, const char *fmt, const char *arg)
{
    return err_set(err, SL_E(INVALID_ARGUMENT), fmt, arg);
}

/* The Decompression and CloudWatchLogProcessing rules: GZIP the only CompressionFormat (and
   the default), DataMessageExtraction given and true, a Decompression processor beside it
   (*decompression: the list has one). The stages run in AWS's order whatever the list's. */
static int cwl_check(const json_t *p, const char *type, int *decompression, struct err_info *err)
{
    const char *v;
    if (strcmp(type, "Decompression") == 0) {
        if ((v = param(p, "CompressionFormat")) != NULL && strcmp(v, "GZIP") != 0) {
            return bad(err,
                       "CompressionFormat %s is not supported for the Decompression processor; "
                       "only GZIP is.",
                       v);
        }
        *decompression = 1;
    } else if (strcmp(type, "CloudWatchLogProcessing") == 0) {
        if ((v = param(p, "DataMessageExtraction")) == NULL || strcasecmp(v, "true") != 0) {
            return bad(err,
                       "DataMessageExtraction %s must be true for the CloudWatchLogProcessing "
                       "processor.",
                       v != NULL ? v : "(none)");
        }
        if (!*decompression) {
            return bad(err, "%s",
                       "The CloudWatchLogProcessing processor requires the Decompression "
                       "processor.");
        }
    }
    return 0;
}

int delivery__processing_check(const json_t *proc, int partitioning, struct err_info *err)
{
    json_t *list = json_object_get(proc, "Processors");
    int decompression = 0;
    for (size_t i = 0; i < json_array_size(list); i++) {
        const char *t = json_string_value(json_object_get(json_array_get(list, i), "Type"));
        decompression |= t != NULL && strcmp(t, "Decompression") == 0;
    }
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *q = json_array_get(list, i);
        const char *t = json_string_value(json_object_get(q, "Type"));
        int rc = t != NULL ? cwl_check(q, t, &decompression, err) : 0;
        if (rc < 0) {
            return rc;
        }
    }
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *p = json_array_get(list, i);
        const char *type = json_string_value(json_object_get(p, "Type"));
        const char *v;
        long n;
        double mb;
        if (type != NULL && strcmp(type, "Lambda") == 0) {
            char name[80];
            if ((v = param(p, "LambdaArn")) == NULL) {
                return bad(err, "%s", "LambdaArn is required for the Lambda processor.");
            }
            if (lambda_function_name(v, name, sizeof(name)) < 0) {
                return bad(err, "LambdaArn %s is not a valid Lambda function ARN.", v);
            }
            if ((v = param(p, "NumberOfRetries")) != NULL && whole(v, 0, 300, &n) < 0) {
                return bad(err, "NumberOfRetries %s must be a whole number from 0 to 300.", v);
            }
            if ((v = param(p, "BufferSizeInMBs")) != NULL && megabytes(v, &mb) < 0) {
                return bad(err,
                           "BufferSizeInMBs %s for the Lambda processor must be from 0.2 "
                           "to 3.",
                           v);
            }
            if ((v = param(p, "BufferIntervalInSeconds")) != NULL && whole(v, 0, 900, &n) < 0) {
                return bad(err,
                           "BufferIntervalInSeconds %s for the Lambda processor must be "
                           "from 0 to 900.",
                           v);
            }
        } else if (type != NULL && strcmp(type, "RecordDeAggregation") == 0) {
            if (!partitioning) {
                return bad(err, "%s",
                           "RecordDeAggregation processor is only supported when "
                           "dynamic partitioning is enabled.");
            }
            if ((v = param(p, "SubRecordType")) == NULL ||
                (strcmp(v, "JSON") != 0 && strcmp(v, "DELIMITED") != 0)) {
                return bad(err, "SubRecordType %s must be JSON or DELIMITED.",
                           v != NULL ? v : "(none)");
            }
            if (strcmp(v, "DELIMITED") == 0) {
                const char *d = param(p, "Delimiter");
                uint8_t tmp[BASE64_DECODED_MAX(5120)];
                if (d == NULL || base64_decode(d, strlen(d), tmp) <= 0) {
                    return bad(err,
                               "Delimiter %s must be a base64-encoded string when "
                               "SubRecordType is DELIMITED.",
                               d != NULL ? d : "(none)");
                }
            }
        }
    }
    return 0;
}

static void pre_conf_fini(struct pre_conf *c)
{
    free(c->delim);
    json_decref(c->conf);
    memset(c, 0, sizeof(*c));
}

static void pre_conf_read(const struct dstream *ds, const struct flush_conf *fc, struct pre_conf *c)
{
    memset(c, 0, sizeof(*c));
    c->kpl = ds->kinesis_source;
    c->retries = 3;
    c->batch_bytes = 1024 * 1024;
    if (fc->dest.proc_json == NULL) {
        return;
    }
    c->conf = json_loads(fc->dest.proc_json, 0, NULL);
    json_t *list = json_object_get(c->conf, "Processors");
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *p = json_array_get(list, i);
        const char *type = json_string_value(json_object_get(p, "Type"));
        const char *v;
        long n;
        double mb;
        if (type != NULL && strcmp(type, "Lambda") == 0) {
            c->lambda_arn = param(p, "LambdaArn");
            if ((v = param(p, "NumberOfRetries")) != NULL && whole(v, 0, 300, &n) == 0) {
                c->retries = (int)n;
            }
            if ((v = param(p, "BufferSizeInMBs")) != NULL && megabytes(v, &mb) == 0) {
                c->batch_bytes = (size_t)(mb * 1024 * 1024);
            }
        } else if (type != NULL && strcmp(type, "Decompression") == 0) {
            c->gunzip = 1;
        } else if (type != NULL && strcmp(type, "CloudWatchLogProcessing") == 0) {
            c->cwl = 1;
        } else if (type != NULL && strcmp(type, "RecordDeAggregation") == 0 &&
                   (v = param(p, "SubRecordType")) != NULL) {
            const char *d = param(p, "Delimiter");
            c->deagg = strcmp(v, "JSON") == 0 ? 1 : 2;
            if (c->deagg == 2 && d != NULL) {
                c->delim = xmalloc(BASE64_DECODED_MAX(strlen(d)) + 1);
                long dl = base64_decode(d, strlen(d), c->delim);
                c->delim_len = dl > 0 ? (size_t)dl : 0;
            }
        }
    }
}

int delivery__preprocess_needed(const struct dstream *ds, const struct flush_conf *fc,
                                const uint8_t *data, const struct delivery_rec *recs, size_t n_recs)
{
    if (fc->dest.lambda || fc->dest.deaggregation || fc->dest.decompression) {
        return 1;
    }
    for (size_t i = 0; ds->kinesis_source && i < n_recs; i++) {
        if (deagg_kpl_magic(data + recs[i].off, recs[i].len)) {
            return 1;
        }
    }
    return 0;
}

/* ---- de-aggregation ---- */

/* Where de-aggregated records go. */
struct sink {
    struct dstream *ds;
    const struct pre_conf *c;
    struct buf data, recs;
    struct delivery_rec from; /* the source record being split */
    int keep_pk;              /* store partition keys after the data (for the transform) */
    struct buf plain;         /* Decompression: the record being unpacked */
    struct buf line;          /* CloudWatchLogProcessing: one message and its newline */
    struct buf errors;        /* decompression-failed lines */
    size_t n_errors;
    int64_t errors_oldest; /* arrival of the oldest record in errors */
    int64_t now_ms;        /* attemptEndingTimestamp of the error lines */
};

static int sink_put(struct sink *s, const uint8_t *data, size_t len, const char *pk, size_t pk_len,
                    uint32_t sub)
{
    struct delivery_rec r = s->from;
    r.off = s->data.len;
    r.len = (uint32_t)len;
    r.sub = sub;
    r.pk_len = s->keep_pk ? (uint32_t)pk_len : 0;
    buf_append(&s->data, data, len);
    if (r.pk_len > 0) {
        buf_append(&s->data, pk, pk_len);
    }
    return buf_append(&s->recs, &r, sizeof(r));
}

/* One piece of a split record: it keeps the key and number of the record it came from. */
struct piece_ctx {
    struct sink *s;
    const char *pk;
    size_t pk_len;
    uint32_t sub;
};

static int piece_put(void *arg, const uint8_t *data, size_t len, const char *pk, size_t pk_len,
                     uint32_t sub)
{
    (void)pk;
    (void)pk_len;
    (void)sub;
    struct piece_ctx *x = arg;
    return sink_put(x->s, data, len, x->pk, x->pk_len, x->sub);
}

/* RecordDeAggregation of one (user) record, then into the sink; sub as delivery_rec.sub. */
static int stage_split(void *arg, const uint8_t *data, size_t len, const char *pk, size_t pk_len,
                       uint32_t sub)
{
    struct sink *s = arg;
    struct piece_ctx x = {s, pk, pk_len, sub};
    int rc = 0;
    if (s->c->deagg == 1) {
        rc = deagg_json(data, len, piece_put, &x);
    } else if (s->c->deagg == 2) {
        rc = deagg_delimited(data, len, s->c->delim, s->c->delim_len, piece_put, &x);
    }
    return rc == 0 ? sink_put(s, data, len, pk, pk_len, sub) : rc < 0 ? rc : 0;
}

/* One decompression-failed line for the record data[0, len) as it came (s->from). */
static void unpack_error(struct sink *s, const uint8_t *data, size_t len, const char *code,
                         const char *message)
{
    struct buf *e = &s->errors;
    buf_printf(e, "{\"attemptsMade\":1,\"arrivalTimestamp\":%lld,\"errorCode\":",
               (long long)s->from.arrival_ms);
    buf_json_string(e, code, strlen(code));
    buf_puts(e, ",\"errorMessage\":");
    buf_json_string(e, message, strlen(message));
    buf_printf(e, ",\"attemptEndingTimestamp\":%lld,\"rawData\":\"", (long long)s->now_ms);
    char *b64 = (char *)buf_reserve(e, BASE64_ENCODED_LEN(len) + 1);
    if (b64 != NULL) {
        e->len += base64_encode(data, len, b64);
    }
    buf_puts(e, "\"}\n");
    if (s->n_errors == 0 || s->from.arrival_ms < s->errors_oldest) {
        s->errors_oldest = s->from.arrival_ms;
    }
    s->n_errors++;
    atomic_fetch_add(&s->ds->c_decomp_failed_records, 1);
}

/*
 * CloudWatchLogProcessing of the decompressed envelope in s->plain: each log event's message
 * and a newline into RecordDeAggregation (then the sink). raw[0, raw_len) is the record as
 * it came, for the error line. 0 (an envelope that is not one goes to the errors), or
 * SL_E(NOMEM).
 */
static int cwl_extract(struct sink *s, const uint8_t *raw, size_t raw_len, const char *pk,
                       size_t pk_len, uint32_t sub)
{
    json_error_t jerr;
    json_t *env = json_loadb((const char *)s->plain.data, s->plain.len, 0, &jerr);
    const char *type = json_string_value(json_object_get(env, "messageType"));
    json_t *events = json_object_get(env, "logEvents");
    const char *why = NULL;
    char msg[300];
    if (env == NULL) {
        snprintf(msg, sizeof(msg), "The decompressed record is not JSON: %s", jerr.text);
        why = msg;
    } else if (type != NULL && strcmp(type, "CONTROL_MESSAGE") == 0) {
        atomic_fetch_add(&s->ds->c_cwl_control_dropped, 1);
        json_decref(env);
        return 0;
    } else if (type == NULL || strcmp(type, "DATA_MESSAGE") != 0) {
        why = "The record is not a CloudWatch Logs message: messageType is not DATA_MESSAGE "
              "or CONTROL_MESSAGE.";
    } else if (!json_is_array(events)) {
        why = "The CloudWatch Logs message has no logEvents array.";
    }
    for (size_t i = 0; why == NULL && i < json_array_size(events); i++) {
        if (!json_is_string(json_object_get(json_array_get(events, i), "message"))) {
            why = "A log event of the CloudWatch Logs message has no string message.";
        }
    }
    if (why != NULL) {
        unpack_error(s, raw, raw_len, DECOMP_E_CWL, why);
        json_decref(env);
        return 0;
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < json_array_size(events); i++) {
        json_t *m = json_object_get(json_array_get(events, i), "message");
        buf_reset(&s->line);
        buf_append(&s->line, json_string_value(m), json_string_length(m));
        buf_putc(&s->line, '\n');
        rc = buf_status(&s->line) < 0 ? SL_E(NOMEM)
                                      : stage_split(s, s->line.data, s->line.len, pk, pk_len, sub);
    }
    json_decref(env);
    return rc;
}

/* Decompression (and CloudWatchLogProcessing) of one (user) record, then RecordDeAggregation;
   sub as delivery_rec.sub. 0, or SL_E(NOMEM). */
static int stage_unpack(void *arg, const uint8_t *data, size_t len, const char *pk, size_t pk_len,
                        uint32_t sub)
{
    struct sink *s = arg;
    if (!s->c->gunzip) {
        return stage_split(s, data, len, pk, pk_len, sub);
    }
    buf_reset(&s->plain);
    const char *why = "the gzip stream is damaged";
    int rc = decompress_gzip(data, len, DECOMPRESSED_MAX, &s->plain, &why);
    if (rc == SL_E(NOMEM)) {
        return rc;
    }
    if (rc < 0) {
        char msg[160];
        snprintf(msg, sizeof(msg), "The record could not be decompressed as GZIP: %s.", why);
        unpack_error(s, data, len, DECOMP_E_GZIP, msg);
        return 0;
    }
    if (s->c->cwl) {
        return cwl_extract(s, data, len, pk, pk_len, sub);
    }
    return stage_split(s, s->plain.data, s->plain.len, pk, pk_len, sub);
}

/* A KPL user record: its sub-sequence number, stored + 1 (0 means none). */
static int kpl_emit(void *arg, const uint8_t *data, size_t len, const char *pk, size_t pk_len,
                    uint32_t sub)
{
    return stage_unpack(arg, data, len, pk, pk_len, sub + 1);
}

/* KPL de-aggregation and RecordDeAggregation of the buffer into the sink. */
static int deaggregate(struct sink *s, const uint8_t *data, const struct delivery_rec *recs,
                       size_t n_recs)
{
    for (size_t i = 0; i < n_recs; i++) {
        const uint8_t *d = data + recs[i].off;
        s->from = recs[i];
        s->from.keys = 0;
        int rc = s->c->kpl ? deagg_kpl(d, recs[i].len, kpl_emit, s) : 0;
        if (rc == 0) {
            /* Not an aggregate: the record itself, its key stored after its data. */
            rc = stage_unpack(s, d, recs[i].len, (const char *)d + recs[i].len, recs[i].pk_len,
                              recs[i].sub);
        }
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

/* ---- the Lambda transform ---- */

/* What one pass of the transform produces. */
struct xform {
    struct dstream *ds;
    const struct pre_conf *c;
    const char *url; /* the function's endpoint; NULL: not mapped */
    char fname[80];
    struct buf data, recs; /* Ok records */
    struct buf keys;       /* json_t * of each Ok record's partitionKeys */
    struct buf errors;     /* processing-failed lines */
    int64_t errors_oldest;
    size_t n_errors;
};

/* Appends one processing-failed line. */
static void error_line(struct xform *x, const struct delivery_rec *r, const uint8_t *data,
                       int attempts, const char *code, const char *message, int64_t now)
{
    struct buf *e = &x->errors;
    buf_printf(e, "{\"attemptsMade\":%d,\"arrivalTimestamp\":%lld,\"errorCode\":", attempts,
               (long long)r->arrival_ms);
    buf_json_string(e, code, strlen(code));
    buf_puts(e, ",\"errorMessage\":");
    buf_json_string(e, message, strlen(message));
    buf_printf(e, ",\"attemptEndingTimestamp\":%lld,\"rawData\":\"", (long long)now);
    char *b64 = (char *)buf_reserve(e, BASE64_ENCODED_LEN(r->len) + 1);
    if (b64 != NULL) {
        e->len += base64_encode(data + r->off, r->len, b64);
    }
    buf_puts(e, "\",\"lambdaArn\":");
    buf_json_string(e, x->c->lambda_arn, strlen(x->c->lambda_arn));
    buf_puts(e, "}\n");
    if (x->n_errors == 0 || r->arrival_ms < x->errors_oldest) {
        x->errors_oldest = r->arrival_ms;
    }
    x->n_errors++;
}

static int stopping(void *arg)
{
    struct dstream *ds = arg;
    pthread_mutex_lock(&ds->mu);
    int s = ds->stopping;
    pthread_mutex_unlock(&ds->mu);
    return s;
}

/*
 * One invocation of recs[0, n): 0 answered (out filled), 1 the engine stopped, -1 failed
 * (*code, err).
 */
static int invoke_once(struct xform *x, const struct lambda_in *in, size_t n,
                       struct lambda_out *out, const char **code, struct err_info *err)
{
    struct dstream *ds = x->ds;
    if (x->url == NULL) {
        *code = LAMBDA_E_NOT_FOUND;
        err_set(err, SL_E(RESOURCE_NOT_FOUND),
                "Function not found: %s (no --lambda %s=URL is given to this server)",
                x->c->lambda_arn, x->fname);
        return -1;
    }
    char *ds_arn =
        xasprintf("arn:aws:firehose:%s:%s:deliverystream/%s", ds->region, ds->account, ds->name);
    uint8_t u[16];
    crypto_random(u, sizeof(u));
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
    char inv[40];
    snprintf(inv, sizeof(inv),
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
             u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
             u[15]);
    struct buf event, resp;
    buf_init(&event);
    buf_init(&resp);
    lambda_event_build(&event, inv, ds_arn,
                       ds->kinesis_source && ds->stream != NULL ? stream_arn(ds->stream) : NULL,
                       ds->region, in, n);
    free(ds_arn);
    int status = 0;
    int rc = buf_status(&event) < 0 ? -1 : 0;
    if (rc < 0) {
        *code = LAMBDA_E_FUNCTION;
        err_set(err, SL_E(NOMEM), "out of memory building the invocation");
    } else {
        rc = lambda_http_post(x->url, (const char *)event.data, event.len, INVOKE_TIMEOUT_MS,
                              stopping, ds, &status, &resp, err);
        if (rc < 0) {
            *code = LAMBDA_E_FUNCTION;
            rc = stopping(ds) ? 1 : -1;
        } else if (status < 200 || status > 299) {
            *code = LAMBDA_E_FUNCTION;
            err_set(err, SL_E(UNAVAILABLE), "The function answered HTTP %d: %.200s", status,
                    (const char *)resp.data);
            rc = -1;
        } else {
            rc = lambda_response_parse((const char *)resp.data, resp.len, n, out, code, err);
        }
    }
    buf_fini(&event);
    buf_fini(&resp);
    return rc;
}

/* Invokes the function on recs[0, n) of data, with retries, and sorts the outcome into x.
   0 done, 1 the engine stopped. */
static int transform_batch(struct xform *x, const uint8_t *data, const struct delivery_rec *recs,
                           size_t n)
{
    struct dstream *ds = x->ds;
    struct lambda_in *in = xcalloc(n + 1, sizeof(*in));
    char(*shard)[24] = xcalloc(n + 1, sizeof(*shard));
    char(*seq)[STREAM_SEQNO_LEN + 1] = xcalloc(n + 1, sizeof(*seq));
    for (size_t i = 0; i < n; i++) {
        const struct delivery_rec *r = &recs[i];
        in[i] =
            (struct lambda_in){.data = data + r->off, .len = r->len, .arrival_ms = r->arrival_ms};
        if (ds->kinesis_source && ds->stream != NULL) {
            uint32_t shard_idx = ds->sources[r->src_idx].shard_idx;
            snprintf(shard[i], sizeof(shard[i]), "shardId-%012u", shard_idx);
            struct stream_seqno_shard sq = {.shard_idx = shard_idx};
            stream_seqno_shard(ds->stream, shard_idx, &sq);
            stream_seqno_format(&sq, r->index, r->arrival_ms, seq[i]);
            in[i].shard_id = shard[i];
            in[i].pk = (const char *)data + r->off + r->len;
            in[i].pk_len = r->pk_len;
            in[i].seqno = seq[i];
            in[i].sub = r->sub > 0 ? r->sub - 1 : 0;
        }
    }
    struct lambda_out *out = xcalloc(n + 1, sizeof(*out));
    const char *code = NULL;
    struct err_info err;
    int attempts = 0;
    int rc;
    int64_t backoff = ds->svc->retry_base_ms;
    for (;;) {
        attempts++;
        err_clear(&err);
        int64_t t0 = clock_mono_ns();
        rc = invoke_once(x, in, n, out, &code, &err);
        atomic_fetch_add(&ds->c_proc_ns, (uint64_t)(clock_mono_ns() - t0));
        atomic_fetch_add(&ds->c_proc_invocations, 1);
        atomic_fetch_add(&ds->c_proc_answered, rc == 0);
        if (rc >= 0 || attempts > x->c->retries) {
            break;
        }
        log_msg(LOG_WARN, "delivery",
                "delivery stream %s: invoking %s failed (%s: %s); attempt %d of %d", ds->name,
                x->c->lambda_arn, code, err.message, attempts, x->c->retries + 1);
        if (delivery__backoff(ds, backoff)) {
            rc = 1;
            break;
        }
        backoff = backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
    }
    int64_t now = delivery__now_ms(ds->svc);
    for (size_t i = 0; rc != 1 && i < n; i++) {
        const struct delivery_rec *r = &recs[i];
        if (rc < 0) {
            error_line(x, r, data, attempts, code, err.message, now);
            atomic_fetch_add(&ds->c_proc_failed_records, 1);
        } else if (out[i].result == LAMBDA_FAILED) {
            error_line(x, r, data, attempts, LAMBDA_E_PROCESSING_FAILED,
                       "ProcessingFailed status set for record", now);
            atomic_fetch_add(&ds->c_proc_failed_records, 1);
        } else if (out[i].result == LAMBDA_OK) {
            atomic_fetch_add(&ds->c_proc_ok_records, 1);
            atomic_fetch_add(&ds->c_proc_ok_bytes, out[i].len);
            struct delivery_rec o = *r;
            o.off = x->data.len;
            o.len = (uint32_t)out[i].len;
            o.pk_len = 0;
            o.keys = 0;
            buf_append(&x->data, out[i].data, out[i].len);
            if (out[i].keys != NULL) {
                buf_append(&x->keys, &out[i].keys, sizeof(out[i].keys));
                out[i].keys = NULL; /* x->keys owns it now */
                o.keys = (uint32_t)(x->keys.len / sizeof(json_t *));
            }
            buf_append(&x->recs, &o, sizeof(o));
        }
    }
    if (rc == 1) {
        log_msg(LOG_INFO, "delivery", "delivery stream %s: stopped while invoking %s", ds->name,
                x->c->lambda_arn);
    }
    lambda_out_fini(out, n);
    free(out);
    free(in);
    free(shard);
    free(seq);
    return rc == 1;
}

/* Runs the transform over the records in s, batch by batch. 0, or 1 when stopped. */
static int transform_all(struct xform *x, const struct sink *s)
{
    const struct delivery_rec *recs = (const struct delivery_rec *)s->recs.data;
    size_t n = s->recs.len / sizeof(*recs);
    size_t limit = x->c->batch_bytes;
    for (size_t lo = 0; lo < n;) {
        size_t hi = lo, bytes = 0, payload = 512;
        while (hi < n) {
            struct lambda_in probe = {.len = recs[hi].len,
                                      .shard_id = x->ds->kinesis_source ? "" : NULL,
                                      .pk_len = recs[hi].pk_len};
            size_t add = lambda_event_record_size(&probe);
            if (hi > lo && (bytes + recs[hi].len > limit || payload + add > LAMBDA_PAYLOAD_MAX)) {
                break;
            }
            bytes += recs[hi].len;
            payload += add;
            hi++;
        }
        if (transform_batch(x, s->data.data, recs + lo, hi - lo)) {
            return 1;
        }
        lo = hi;
    }
    return 0;
}

/* The endpoint --lambda gives the function name, or NULL. */
static const char *endpoint_of(const struct delivery_service *svc, const char *fname)
{
    for (int i = 0; svc->cfg != NULL && i < svc->cfg->n_lambdas; i++) {
        if (strcmp(svc->cfg->lambdas[i].name, fname) == 0) {
            return svc->cfg->lambdas[i].url;
        }
    }
    return NULL;
}

static void xform_fini(struct xform *x)
{
    json_t **k = (json_t **)x->keys.data;
    for (size_t i = 0; i < x->keys.len / sizeof(*k); i++) {
        json_decref(k[i]);
    }
    buf_fini(&x->data);
    buf_fini(&x->recs);
    buf_fini(&x->keys);
    buf_fini(&x->errors);
}

void delivery__preprocess_fini(struct preprocess_out *out)
{
    free(out->data);
    free(out->recs);
    for (size_t i = 0; i < out->n_keys; i++) {
        json_decref(out->keys[i]);
    }
    free(out->keys);
    memset(out, 0, sizeof(*out));
}

/* Moves data and recs (buffers) into out. */
static void take(struct preprocess_out *out, struct buf *data, struct buf *recs)
{
    size_t len;
    out->data = buf_steal(data, &len);
    out->recs = (struct delivery_rec *)buf_steal(recs, &len);
    out->n_recs = len / sizeof(*out->recs);
    for (size_t i = 0; i < out->n_recs; i++) {
        if (i == 0 || out->recs[i].arrival_ms < out->oldest_ms) {
            out->oldest_ms = out->recs[i].arrival_ms;
        }
    }
}

/* One pass; 0 done, 1 stopped, SL_E(NOMEM) nothing written (try again). */
static int preprocess_once(struct dstream *ds, struct flush_conf *fc, const struct pre_conf *c,
                           const uint8_t *data, const struct delivery_rec *recs, size_t n_recs,
                           struct preprocess_out *out)
{
    struct sink s = {.ds = ds,
                     .c = c,
                     .keep_pk = c->lambda_arn != NULL && ds->kinesis_source,
                     .now_ms = delivery__now_ms(ds->svc)};
    buf_init(&s.data);
    buf_init(&s.recs);
    buf_init(&s.plain);
    buf_init(&s.line);
    buf_init(&s.errors);
    int rc = deaggregate(&s, data, recs, n_recs);
    buf_fini(&s.plain);
    buf_fini(&s.line);
    if (rc < 0 || buf_status(&s.data) < 0 || buf_status(&s.recs) < 0 || buf_status(&s.errors) < 0) {
        buf_fini(&s.data);
        buf_fini(&s.recs);
        buf_fini(&s.errors);
        return SL_E(NOMEM);
    }
    /* Records that could not be unpacked are durable in their error object before anything
       after them is delivered. */
    int stopped_early =
        s.n_errors > 0 && delivery__error_put(ds, fc, DECOMP_ERROR_TYPE, s.errors_oldest,
                                              s.errors.data, s.errors.len);
    buf_fini(&s.errors);
    if (stopped_early) {
        buf_fini(&s.data);
        buf_fini(&s.recs);
        return 1;
    }
    if (c->lambda_arn == NULL) {
        take(out, &s.data, &s.recs);
        return 0;
    }
    struct xform x = {.ds = ds, .c = c};
    buf_init(&x.data);
    buf_init(&x.recs);
    buf_init(&x.keys);
    buf_init(&x.errors);
    if (lambda_function_name(c->lambda_arn, x.fname, sizeof(x.fname)) == 0) {
        x.url = endpoint_of(ds->svc, x.fname);
    }
    int stopped = transform_all(&x, &s);
    buf_fini(&s.data);
    buf_fini(&s.recs);
    if (!stopped && (buf_status(&x.data) < 0 || buf_status(&x.recs) < 0 ||
                     buf_status(&x.keys) < 0 || buf_status(&x.errors) < 0)) {
        xform_fini(&x);
        return SL_E(NOMEM);
    }
    if (!stopped && x.n_errors > 0) {
        struct buf key;
        buf_init(&key);
        delivery__error_key(&fc->dest, ds->name, fc->version, x.errors_oldest, ERROR_TYPE, &key);
        struct lake_put_opts opts = {.content_type = "application/octet-stream"};
        stopped = delivery__put_object(ds, fc->dest.bucket, (const char *)key.data, x.errors.data,
                                       x.errors.len, &opts);
        buf_fini(&key);
    }
    if (!stopped) {
        take(out, &x.data, &x.recs);
        size_t klen;
        out->keys = (json_t **)buf_steal(&x.keys, &klen);
        out->n_keys = klen / sizeof(json_t *);
        fc->lambda_keys = out->keys;
        fc->n_lambda_keys = out->n_keys;
    }
    xform_fini(&x);
    return stopped;
}

int delivery__preprocess(struct dstream *ds, struct flush_conf *fc, const uint8_t *data,
                         const struct delivery_rec *recs, size_t n_recs, struct preprocess_out *out)
{
    memset(out, 0, sizeof(*out));
    struct pre_conf c;
    pre_conf_read(ds, fc, &c);
    int64_t backoff = ds->svc->retry_base_ms;
    int rc;
    while ((rc = preprocess_once(ds, fc, &c, data, recs, n_recs, out)) == SL_E(NOMEM)) {
        log_msg(LOG_WARN, "delivery",
                "delivery stream %s: out of memory transforming a buffer; retrying in %lld ms",
                ds->name, (long long)backoff);
        if (delivery__backoff(ds, backoff)) {
            rc = 1;
            break;
        }
        backoff = backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
    }
    pre_conf_fini(&c);
    return rc;
}
