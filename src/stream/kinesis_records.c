/*
 * The record plane: PutRecord, PutRecords and GetRecords, read with the single-pass
 * JSON reader and written straight into the response buffer. Base64 is decoded from
 * the request body into one buffer that the shard logs write from, and encoded from
 * the log's read buffer into the response, so a record is copied as few times as the
 * formats allow.
 *
 * A PutRecords response is sent only after every record it reports as written is
 * durable: records are appended to each shard's log, then each touched shard is synced
 * (group commit shares one fdatasync among concurrent requests).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "core/clock.h"
#include "core/jsonscan.h"
#include "core/log.h"
#include "core/mem.h"
#include "stream/kinesis_int.h"

struct put_entry {
    struct jstr data; /* base64 text in the request */
    int has_data;
    struct jstr pk; /* partition key as sent */
    int has_pk;
    struct jstr ehk; /* explicit hash key as sent */
    int has_ehk;
    char *pk_text; /* decoded partition key (into the request or pk arena) */
    size_t pk_len;
};

struct put_request {
    struct jstr stream_name, stream_arn;
    int has_name, has_arn;
    struct jstr seq_for_ordering;
    int has_seq_for_ordering;
    struct put_entry *entries;
    size_t n_entries;
    struct stream_put_record *recs; /* n_entries: what the stream appends, and its results */
};

static int serialization(struct api_call *call, const struct jscan *js)
{
    return err_set(&call->err, SL_E(SERIALIZATION), "Malformed request body: %s",
                   js->error ? js->error : "unexpected value type");
}

static int read_record(struct jscan *js, struct put_entry *e)
{
    if (jscan_object_begin(js) < 0) {
        return -1;
    }
    struct jstr key;
    int more;
    while ((more = jscan_object_next(js, &key)) == 1) {
        int rc;
        if (jstr_eq(&key, "Data")) {
            rc = jscan_string_or_null(js, &e->data, &e->has_data);
        } else if (jstr_eq(&key, "PartitionKey")) {
            rc = jscan_string_or_null(js, &e->pk, &e->has_pk);
        } else if (jstr_eq(&key, "ExplicitHashKey")) {
            rc = jscan_string_or_null(js, &e->ehk, &e->has_ehk);
        } else {
            rc = jscan_skip(js);
        }
        if (rc < 0) {
            return -1;
        }
    }
    return more;
}

/* Parses a PutRecords (batch) or PutRecord (single) body into req. */
static int parse_put(struct api_call *call, const uint8_t *body, size_t len, int batch,
                     struct put_request *req)
{
    struct jscan js;
    jscan_init(&js, (const char *)body, len);
    if (len == 0) {
        return err_set(&call->err, SL_E(SERIALIZATION), "Malformed request body: empty");
    }
    if (!batch) {
        req->entries = xcalloc(1, sizeof(*req->entries));
        req->n_entries = 1;
    }
    if (jscan_object_begin(&js) < 0) {
        return serialization(call, &js);
    }
    struct jstr key;
    int more, have_records = 0;
    size_t cap = 0;
    while ((more = jscan_object_next(&js, &key)) == 1) {
        int rc = 0;
        if (jstr_eq(&key, "StreamName")) {
            rc = jscan_string_or_null(&js, &req->stream_name, &req->has_name);
        } else if (jstr_eq(&key, "StreamARN")) {
            rc = jscan_string_or_null(&js, &req->stream_arn, &req->has_arn);
        } else if (batch && jstr_eq(&key, "Records") && jscan_peek(&js) != JSCAN_NULL) {
            have_records = 1;
            if (jscan_array_begin(&js) < 0) {
                return serialization(call, &js);
            }
            while ((rc = jscan_array_next(&js)) == 1) {
                if (req->n_entries == STREAM_PUT_RECORDS_MAX + 1) {
                    /* Counted but not kept: the request fails validation below. */
                    if (jscan_skip(&js) < 0) {
                        return serialization(call, &js);
                    }
                    continue;
                }
                if (req->n_entries == cap) {
                    cap = cap ? cap * 2 : 64;
                    req->entries = xrealloc(req->entries, cap * sizeof(*req->entries));
                }
                struct put_entry *e = &req->entries[req->n_entries++];
                memset(e, 0, sizeof(*e));
                if (jscan_peek(&js) != JSCAN_OBJECT || read_record(&js, e) < 0) {
                    return serialization(call, &js);
                }
            }
        } else if (!batch && jstr_eq(&key, "Data")) {
            rc = jscan_string_or_null(&js, &req->entries[0].data, &req->entries[0].has_data);
        } else if (!batch && jstr_eq(&key, "PartitionKey")) {
            rc = jscan_string_or_null(&js, &req->entries[0].pk, &req->entries[0].has_pk);
        } else if (!batch && jstr_eq(&key, "ExplicitHashKey")) {
            rc = jscan_string_or_null(&js, &req->entries[0].ehk, &req->entries[0].has_ehk);
        } else if (!batch && jstr_eq(&key, "SequenceNumberForOrdering")) {
            rc = jscan_string_or_null(&js, &req->seq_for_ordering, &req->has_seq_for_ordering);
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
    if (batch && !have_records) {
        return err_set(&call->err, SL_E(VALIDATION),
                       "1 validation error detected: Value null at 'records' failed to satisfy "
                       "constraint: Member must not be null");
    }
    if (batch && req->n_entries == 0) {
        return kin__validation(call, "records", "[]",
                               "Member must have length greater than or equal to 1");
    }
    if (req->n_entries > STREAM_PUT_RECORDS_MAX) {
        return err_set(&call->err, SL_E(VALIDATION),
                       "1 validation error detected: Value '[...]' at 'records' failed to "
                       "satisfy constraint: Member must have length less than or equal to %d",
                       STREAM_PUT_RECORDS_MAX);
    }
    return 0;
}

/* Characters (code points) of UTF-8 text, as the API's length limits count them. */
static size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    }
    return n;
}

/* Decodes and validates every entry; assigns shards. Decoded bytes go into arena. */
static int prepare_entries(struct api_call *call, struct put_request *req, int batch,
                           uint8_t *arena, char *pk_arena)
{
    size_t total = 0;
    for (size_t i = 0; i < req->n_entries; i++) {
        struct put_entry *e = &req->entries[i];
        char member[64];
        if (batch) {
            snprintf(member, sizeof(member), "records.%zu.member.", i + 1);
        } else {
            member[0] = '\0';
        }
        if (!e->has_data) {
            return err_set(&call->err, SL_E(VALIDATION),
                           "1 validation error detected: Value null at '%sdata' failed to "
                           "satisfy constraint: Member must not be null",
                           member);
        }
        if (!e->has_pk) {
            return err_set(&call->err, SL_E(VALIDATION),
                           "1 validation error detected: Value null at '%spartitionKey' failed "
                           "to satisfy constraint: Member must not be null",
                           member);
        }
        if (e->pk.has_escapes) {
            long n = jscan_unescape(&e->pk, pk_arena);
            if (n < 0) {
                return err_set(&call->err, SL_E(SERIALIZATION), "Malformed PartitionKey.");
            }
            e->pk_text = pk_arena;
            e->pk_len = (size_t)n;
            pk_arena += n;
        } else {
            e->pk_text = (char *)e->pk.raw;
            e->pk_len = e->pk.raw_len;
        }
        size_t chars = utf8_chars(e->pk_text, e->pk_len);
        if (chars < 1 || chars > 256) {
            char c[80];
            snprintf(c, sizeof(c), "Member must have length %s",
                     chars < 1 ? "greater than or equal to 1" : "less than or equal to 256");
            char m[80];
            snprintf(m, sizeof(m), "%spartitionKey", member);
            return kin__validation(call, m, chars < 1 ? "" : "(too long)", c);
        }
        /* Base64 data: escapes are legal JSON ("\/"), so decode them first if present. */
        const char *b64 = e->data.raw;
        size_t b64_len = e->data.raw_len;
        char *unescaped = NULL;
        if (e->data.has_escapes) {
            unescaped = try_malloc(b64_len + 1);
            long n = unescaped ? jscan_unescape(&e->data, unescaped) : -1;
            if (n < 0) {
                free(unescaped);
                return err_set(&call->err, SL_E(SERIALIZATION), "Malformed Data.");
            }
            b64 = unescaped;
            b64_len = (size_t)n;
        }
        if (b64_len > BASE64_ENCODED_LEN(STREAM_RECORD_MAX_BYTES)) {
            free(unescaped);
            char m[80];
            snprintf(m, sizeof(m), "%sdata", member);
            return kin__validation(call, m, "java.nio.HeapByteBuffer",
                                   "Member must have length less than or equal to 1048576");
        }
        long n = base64_decode(b64, b64_len, arena);
        free(unescaped);
        if (n < 0) {
            return err_set(&call->err, SL_E(SERIALIZATION),
                           "Data of record %zu is not valid base64.", i);
        }
        if ((size_t)n + e->pk_len > STREAM_RECORD_MAX_BYTES) {
            char m[80];
            snprintf(m, sizeof(m), "%sdata", member);
            return kin__validation(call, m, "java.nio.HeapByteBuffer",
                                   "Member must have length less than or equal to 1048576");
        }
        struct stream_put_record *r = &req->recs[i];
        r->data = arena;
        r->data_len = (uint32_t)n;
        r->partition_key = e->pk_text;
        r->pk_len = (uint16_t)e->pk_len;
        arena += n;
        total += (size_t)n + e->pk_len;

        stream_u128 hash;
        if (e->has_ehk) {
            int pattern_ok = !e->ehk.has_escapes && e->ehk.raw_len >= 1;
            for (size_t k = 0; pattern_ok && k < e->ehk.raw_len; k++) {
                pattern_ok = e->ehk.raw[k] >= '0' && e->ehk.raw[k] <= '9';
            }
            pattern_ok =
                pattern_ok && !(e->ehk.raw_len > 1 && e->ehk.raw[0] == '0') && e->ehk.raw_len <= 39;
            if (!pattern_ok) {
                char m[80], v[64];
                snprintf(m, sizeof(m), "%sexplicitHashKey", member);
                snprintf(v, sizeof(v), "%.*s", (int)(e->ehk.raw_len > 40 ? 40 : e->ehk.raw_len),
                         e->ehk.raw);
                return kin__validation(call, m, v,
                                       "Member must satisfy regular expression pattern: "
                                       "0|([1-9]\\d{0,38})");
            }
            if (stream_hashkey_parse(e->ehk.raw, e->ehk.raw_len, &hash) < 0) {
                return err_set(&call->err, SL_E(INVALID_ARGUMENT),
                               "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: "
                               "[0, 2^128-1]. Specified value was %.*s",
                               (int)e->ehk.raw_len, e->ehk.raw);
            }
        } else {
            hash = stream_hashkey_of_partition_key(e->pk_text, e->pk_len);
        }
        r->hash_key = hash;
    }
    if (total > STREAM_PUT_RECORDS_MAX_BYTES) {
        return err_set(&call->err, SL_E(INVALID_ARGUMENT),
                       "Records size exceeds 5 MB limit. The total size of all records in the "
                       "request is %zu bytes.",
                       total);
    }
    return 0;
}

static int stream_of_put(struct api_call *call, const struct put_request *req, struct stream **s)
{
    char name[STREAM_NAME_MAX + 1], arn[2049];
    const char *name_p = NULL, *arn_p = NULL;
    if (req->has_name) {
        long n = req->stream_name.raw_len <= STREAM_NAME_MAX
                     ? jscan_unescape(&req->stream_name, name)
                     : -1;
        if (n < 1) {
            return kin__validation(call, "streamName", "(invalid)",
                                   "Member must have length between 1 and 128");
        }
        if (memchr(name, '\0', (size_t)n) != NULL) {
            /* As a C string it would name another stream: "a\u0000x" is not "a". */
            return kin__bad_stream_name(call, "streamName", "(contains \\u0000)");
        }
        name[n] = '\0';
        name_p = name;
    }
    if (req->has_arn) {
        long n = req->stream_arn.raw_len <= 2048 ? jscan_unescape(&req->stream_arn, arn) : -1;
        if (n < 1) {
            return kin__validation(call, "streamARN", "(invalid)",
                                   "Member must have length between 1 and 2048");
        }
        if (memchr(arn, '\0', (size_t)n) != NULL) {
            return kin__validation(call, "streamARN", "(contains \\u0000)",
                                   "Member must satisfy regular expression pattern: "
                                   "arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+");
        }
        arn[n] = '\0';
        arn_p = arn;
    }
    return kin__resolve(call, name_p, arn_p, s);
}

/* Shared by PutRecord and PutRecords up to the append. */
static int put_common(struct api_call *call, const uint8_t *body, size_t len, int batch,
                      struct put_request *req, struct stream **s, uint8_t **arena, char **pk_arena,
                      const char **encryption)
{
    int rc = parse_put(call, body, len, batch, req);
    if (rc < 0) {
        return rc;
    }
    /* Sequence numbers only grow within a shard, so any earlier one is honoured already;
       the field is checked for form. */
    if (req->has_seq_for_ordering &&
        !stream_seqno_pattern_ok(req->seq_for_ordering.raw, req->seq_for_ordering.raw_len)) {
        return kin__validation(
            call, "sequenceNumberForOrdering", "(invalid)",
            "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,128})");
    }
    if ((rc = stream_of_put(call, req, s)) < 0) {
        return rc;
    }
    size_t data_max = 0, pk_max = 0;
    for (size_t i = 0; i < req->n_entries; i++) {
        data_max += BASE64_DECODED_MAX(req->entries[i].data.raw_len);
        pk_max += req->entries[i].pk.raw_len;
    }
    *arena = try_malloc(data_max + 1);
    *pk_arena = try_malloc(pk_max + 1);
    if (*arena == NULL || *pk_arena == NULL) {
        return err_set(&call->err, SL_E(NOMEM), "Out of memory for the request.");
    }
    req->recs = xcalloc(req->n_entries, sizeof(*req->recs));
    if ((rc = prepare_entries(call, req, batch, *arena, *pk_arena)) < 0) {
        return rc;
    }
    if ((rc = stream_kms_authorize(call->service_ctx, *s, call->req, "kms:GenerateDataKey", NULL,
                                   &call->err)) < 0) {
        return rc;
    }
    rc = stream_records_put_ex(call->service_ctx, *s, req->recs, req->n_entries,
                               call->req->now_ms, encryption, &call->err);
    if (rc == SL_E(RESOURCE_NOT_FOUND)) {
        return kin__not_found(call, stream_name(*s)); /* CREATING or DELETING */
    }
    return rc;
}

int kin__put_records(struct api_call *call, const uint8_t *body, size_t len, struct buf *out)
{
    struct put_request req = {0};
    struct stream *s = NULL;
    uint8_t *arena = NULL;
    char *pk_arena = NULL;
    const char *encryption = "NONE";
    int64_t started_ns = clock_mono_ns();
    int rc = put_common(call, body, len, 1, &req, &s, &arena, &pk_arena, &encryption);
    if (s != NULL) {
        kin__count_put(s, 1, req.recs, rc == 0 ? req.n_entries : 0, started_ns);
    }
    if (rc == 0) {
        size_t failed = 0;
        for (size_t i = 0; i < req.n_entries; i++) {
            failed += req.recs[i].result != 0;
        }
        struct stream_seqno_shard seq_shard = {.epoch_s = -1};
        buf_reserve(out, req.n_entries * 110 + 96);
        buf_printf(out, "{\"FailedRecordCount\":%zu,\"Records\":[", failed);
        for (size_t i = 0; i < req.n_entries; i++) {
            const struct stream_put_record *e = &req.recs[i];
            if (i > 0) {
                buf_putc(out, ',');
            }
            if (e->result == SL_E(THROUGHPUT_EXCEEDED)) {
                char msg[400];
                kin__shard_rate_message(stream_name(s), e->shard_idx, call->req->account_id,
                                        msg, sizeof(msg));
                buf_printf(out,
                           "{\"ErrorCode\":\"ProvisionedThroughputExceededException\","
                           "\"ErrorMessage\":\"%s\"}",
                           msg);
                continue;
            }
            if (e->result != 0) {
                buf_puts(out, "{\"ErrorCode\":\"InternalFailure\",\"ErrorMessage\":"
                              "\"Internal service failure.\"}");
                continue;
            }
            /* By hand, as in GetRecords: 500 printf calls cost more than the rest. */
            static const char head[] = "{\"SequenceNumber\":\"";
            static const char mid[] = "\",\"ShardId\":\"";
            char *p = (char *)buf_reserve(out, sizeof(head) + STREAM_SEQNO_LEN + sizeof(mid) +
                                                   STREAM_SHARD_ID_LEN + 3);
            if (p == NULL) {
                break;
            }
            char *begin = p;
            memcpy(p, head, sizeof(head) - 1);
            p += sizeof(head) - 1;
            if (seq_shard.epoch_s < 0 || seq_shard.shard_idx != e->shard_idx) {
                stream_seqno_shard(s, e->shard_idx, &seq_shard); /* shards are never removed */
            }
            stream_seqno_format(&seq_shard, e->index, e->arrival_ms, p); /* writes a NUL too */
            p += STREAM_SEQNO_LEN;
            memcpy(p, mid, sizeof(mid) - 1);
            p += sizeof(mid) - 1;
            stream_shard_id_format(e->shard_idx, p);
            p += STREAM_SHARD_ID_LEN;
            memcpy(p, "\"}", 2);
            p += 2;
            out->len += (size_t)(p - begin);
        }
        buf_printf(out, "],\"EncryptionType\":\"%s\"}", encryption);
        rc = buf_status(out);
    }
    stream_release(s);
    free(arena);
    free(pk_arena);
    free(req.recs);
    free(req.entries);
    return rc;
}

int kin__put_record(struct api_call *call, const uint8_t *body, size_t len, struct buf *out)
{
    struct put_request req = {0};
    struct stream *s = NULL;
    uint8_t *arena = NULL;
    char *pk_arena = NULL;
    const char *encryption = "NONE";
    int64_t started_ns = clock_mono_ns();
    int rc = put_common(call, body, len, 0, &req, &s, &arena, &pk_arena, &encryption);
    if (s != NULL) {
        kin__count_put(s, 0, req.recs, rc == 0 ? req.n_entries : 0, started_ns);
    }
    if (rc == 0) {
        const struct stream_put_record *e = &req.recs[0];
        if (e->result == SL_E(THROUGHPUT_EXCEEDED)) {
            char msg[400];
            kin__shard_rate_message(stream_name(s), e->shard_idx, call->req->account_id, msg,
                                    sizeof(msg));
            rc = err_set(&call->err, SL_E(THROUGHPUT_EXCEEDED), "%s", msg);
        } else if (e->result != 0) {
            rc = err_set(&call->err, SL_E(INTERNAL), "Internal service failure.");
        } else {
            char seq[STREAM_SEQNO_LEN + 1], shard_id[STREAM_SHARD_ID_LEN + 1];
            struct stream_seqno_shard seq_shard = {0};
            stream_seqno_shard(s, e->shard_idx, &seq_shard);
            stream_seqno_format(&seq_shard, e->index, e->arrival_ms, seq);
            stream_shard_id_format(e->shard_idx, shard_id);
            buf_printf(out,
                       "{\"ShardId\":\"%s\",\"SequenceNumber\":\"%s\",\"EncryptionType\":\"%s\"}",
                       shard_id, seq, encryption);
            rc = buf_status(out);
        }
    }
    stream_release(s);
    free(arena);
    free(pk_arena);
    free(req.recs);
    free(req.entries);
    return rc;
}

/* ---- GetRecords ---- */

struct read_ctx {
    struct buf *out;
    struct stream_seqno_shard seq_shard;
    size_t n_records;
    size_t n_bytes;
    int64_t last_arrival_ms;
    uint32_t shard_idx;
};

/* Writes v as exactly `digits` decimal digits, zero-padded, at out. */
static void put_digits(char *out, uint64_t v, int digits)
{
    for (int i = digits - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

/*
 * One record of a GetRecords response. Written by hand rather than with printf: on a
 * drain this runs for every record and printf cost more than the base64 encoding.
 */
static int visit_record(void *arg, uint64_t index, int64_t arrival_ms, int encrypted,
                        const char *pk, size_t pk_len, const uint8_t *data, size_t data_len)
{
    static const char head[] = "{\"SequenceNumber\":\"";
    static const char mid[] = "\",\"ApproximateArrivalTimestamp\":";
    static const char data_key[] = ",\"Data\":\"";
    static const char pk_key[] = "\",\"PartitionKey\":";
    struct read_ctx *rc = arg;
    struct buf *out = rc->out;
    size_t fixed = 1 + sizeof(head) + STREAM_SEQNO_LEN + sizeof(mid) + 24 + sizeof(data_key) +
                   BASE64_ENCODED_LEN(data_len) + sizeof(pk_key);
    char *p = (char *)buf_reserve(out, fixed);
    if (p == NULL) {
        return -1;
    }
    char *start = p;
    if (rc->n_records > 0) {
        *p++ = ',';
    }
    memcpy(p, head, sizeof(head) - 1);
    p += sizeof(head) - 1;
    stream_seqno_format(&rc->seq_shard, index, arrival_ms, p); /* its NUL is overwritten */
    p += STREAM_SEQNO_LEN;
    memcpy(p, mid, sizeof(mid) - 1);
    p += sizeof(mid) - 1;
    /* Epoch seconds with milliseconds, as botocore reads JSON timestamps. */
    int64_t secs = arrival_ms / 1000;
    int n_digits = 1;
    for (int64_t t = secs; t >= 10; t /= 10) {
        n_digits++;
    }
    put_digits(p, (uint64_t)secs, n_digits);
    p += n_digits;
    *p++ = '.';
    put_digits(p, (uint64_t)(arrival_ms % 1000), 3);
    p += 3;
    memcpy(p, data_key, sizeof(data_key) - 1);
    p += sizeof(data_key) - 1;
    p += base64_encode(data, data_len, p);
    memcpy(p, pk_key, sizeof(pk_key) - 1);
    p += sizeof(pk_key) - 1;
    out->len += (size_t)(p - start);
    buf_json_string(out, pk, pk_len);
    /* AWS names the type only for records stored encrypted. */
    buf_puts(out, encrypted ? ",\"EncryptionType\":\"KMS\"}" : "}");
    rc->n_records++;
    rc->n_bytes += data_len;
    rc->last_arrival_ms = arrival_ms;
    return buf_status(out) < 0 ? -1 : 0;
}

void kin__child_shards_json(struct stream *s, uint32_t parent_idx, struct buf *out)
{
    struct stream_shard_info *shards;
    size_t n;
    stream_shards_list(s, &shards, &n);
    buf_putc(out, '[');
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        const struct stream_shard_info *c = &shards[i];
        if (c->parent_idx != (int64_t)parent_idx && c->adjacent_parent_idx != (int64_t)parent_idx) {
            continue;
        }
        char id[STREAM_SHARD_ID_LEN + 1], parent[STREAM_SHARD_ID_LEN + 1];
        char start[48], end[48];
        stream_shard_id_format(c->shard_idx, id);
        stream_shard_id_format((uint32_t)c->parent_idx, parent);
        stream_hashkey_format(c->start_hash, start);
        stream_hashkey_format(c->end_hash, end);
        buf_printf(out, "%s{\"ShardId\":\"%s\",\"ParentShards\":[\"%s\"", first ? "" : ",", id,
                   parent);
        if (c->adjacent_parent_idx >= 0) {
            stream_shard_id_format((uint32_t)c->adjacent_parent_idx, parent);
            buf_printf(out, ",\"%s\"", parent);
        }
        buf_printf(out, "],\"HashKeyRange\":{\"StartingHashKey\":\"%s\",\"EndingHashKey\":\"%s\"}}",
                   start, end);
        first = 0;
    }
    buf_putc(out, ']');
    free(shards);
}

/* GetRecords.* of a call on s (AWS/Kinesis): a failed one counts in Success and Latency. */
static void count_get(struct api_call *call, struct stream *s, int64_t started_ns,
                      const struct read_ctx *ctx)
{
    double ms = (double)(clock_mono_ns() - started_ns) / 1e6;
    if (ctx == NULL) {
        struct stream_read_sample failed[] = {{STREAM_RM_GET_SUCCESS, 0},
                                              {STREAM_RM_GET_LATENCY, ms}};
        stream_read_count(s, "", failed, 2);
        return;
    }
    /* The age of the last record returned; 0 when caught up (no record). */
    int64_t age = ctx->n_records > 0 ? call->req->now_ms - ctx->last_arrival_ms : 0;
    struct stream_read_sample ok[] = {
        {STREAM_RM_GET_SUCCESS, 1},
        {STREAM_RM_GET_LATENCY, ms},
        {STREAM_RM_GET_BYTES, (double)ctx->n_bytes},
        {STREAM_RM_GET_RECORDS, (double)ctx->n_records},
        {STREAM_RM_GET_AGE, (double)(age > 0 ? age : 0)},
        {STREAM_RM_READ_EXCEEDED, 0},
    };
    stream_read_count(s, "", ok, sizeof(ok) / sizeof(ok[0]));
    kin__count_get_shard(s, ctx->shard_idx, ctx->n_records, ctx->n_bytes, age > 0 ? age : 0);
}

int kin__get_records(struct api_call *call, const uint8_t *body, size_t len, struct buf *out)
{
    int64_t started_ns = clock_mono_ns();
    struct stream_service *svc = call->service_ctx;
    struct jscan js;
    jscan_init(&js, (const char *)body, len);
    struct jstr key, iter = {0};
    int has_iter = 0, more;
    long long limit = STREAM_GET_RECORDS_MAX;
    if (jscan_object_begin(&js) < 0) {
        return serialization(call, &js);
    }
    while ((more = jscan_object_next(&js, &key)) == 1) {
        int rc = 0;
        if (jstr_eq(&key, "ShardIterator")) {
            rc = jscan_string_or_null(&js, &iter, &has_iter);
        } else if (jstr_eq(&key, "Limit") && jscan_peek(&js) != JSCAN_NULL) {
            const char *text;
            size_t n;
            rc = jscan_peek(&js) == JSCAN_NUMBER ? jscan_number(&js, &text, &n) : -1;
            if (rc == 0) {
                char tmp[32];
                if (n >= sizeof(tmp) || memchr(text, '.', n) || memchr(text, 'e', n) ||
                    memchr(text, 'E', n)) {
                    js.error = "Limit must be an integer";
                    rc = -1;
                } else {
                    memcpy(tmp, text, n);
                    tmp[n] = '\0';
                    limit = atoll(tmp);
                    if (n > 11) {
                        js.error = "Limit out of range";
                        rc = -1;
                    }
                }
            }
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
    if (!has_iter) {
        return err_set(&call->err, SL_E(VALIDATION),
                       "1 validation error detected: Value null at 'shardIterator' failed to "
                       "satisfy constraint: Member must not be null");
    }
    if (iter.raw_len < 1 || iter.raw_len > 512) {
        return kin__validation(call, "shardIterator", "(invalid)",
                               "Member must have length between 1 and 512");
    }
    if (limit < 1 || limit > STREAM_GET_RECORDS_MAX) {
        char v[32];
        snprintf(v, sizeof(v), "%lld", limit);
        return kin__validation(call, "limit", v,
                               limit < 1 ? "Member must have value greater than or equal to 1"
                                         : "Member must have value less than or equal to 10000");
    }
    struct stream_iterator_pos pos;
    int rc =
        stream_iterator_decode(svc, iter.raw, iter.raw_len, call->req->now_ms, &pos, &call->err);
    if (rc < 0) {
        return rc;
    }
    struct stream *s = NULL;
    if (stream_lookup_id(svc, pos.stream_id, pos.seq_tag, &s) < 0 ||
        stream_status_get(s) == STREAM_DELETING) {
        stream_release(s);
        return err_set(&call->err, SL_E(RESOURCE_NOT_FOUND),
                       "Shard shardId-%012u in stream with id %lld under account %s does not "
                       "exist",
                       pos.shard_idx, (long long)pos.stream_id, call->req->account_id);
    }
    if ((rc = kin__throttle_read(call, s, pos.shard_idx)) < 0 ||
        (rc = stream_kms_authorize(svc, s, call->req, "kms:Decrypt", NULL, &call->err)) < 0) {
        count_get(call, s, started_ns, NULL);
        stream_release(s);
        return rc;
    }
    struct stream_position at = {.type = STREAM_AT_INDEX, .index = pos.index};
    struct stream_reader *r;
    if (stream_reader_open(s, pos.shard_idx, &at, &r) < 0) {
        count_get(call, s, started_ns, NULL);
        stream_release(s);
        return err_set(&call->err, SL_E(INVALID_ARGUMENT), "Invalid ShardIterator.");
    }
    buf_puts(out, "{\"Records\":[");
    struct read_ctx ctx = {.out = out, .shard_idx = pos.shard_idx};
    stream_seqno_shard(s, pos.shard_idx, &ctx.seq_shard);
    struct err_info read_err = {0};
    rc = stream_reader_read_ex(r, (size_t)limit, STREAM_GET_RECORDS_MAX_BYTES, visit_record, &ctx,
                               &read_err);
    uint64_t next = stream_reader_position(r);
    stream_reader_close(r);
    kin__throttle_read_charge(call, s, pos.shard_idx, ctx.n_bytes);
    if (rc < 0) {
        count_get(call, s, started_ns, NULL);
        stream_release(s);
        if (buf_status(out) < 0) {
            return err_set(&call->err, SL_E(NOMEM), "Out of memory for the response.");
        }
        if (read_err.code < 0 && read_err.code != SL_E(CORRUPT)) {
            return err_set(&call->err, read_err.code, "%s", read_err.message); /* KMS's */
        }
        return err_set(&call->err, rc, "Internal service failure.");
    }
    struct stream_shard_info shard;
    if (stream_shard_get(s, pos.shard_idx, &shard) == 0 && !shard.open &&
        next >= shard.ending_index) {
        /* The end of a closed shard: no next iterator, its children instead. */
        buf_puts(out, "],\"MillisBehindLatest\":0,\"ChildShards\":");
        kin__child_shards_json(s, pos.shard_idx, out);
        buf_putc(out, '}');
        count_get(call, s, started_ns, &ctx);
        stream_release(s);
        return buf_status(out);
    }
    int64_t behind = 0;
    struct stream_shard_state state;
    if (ctx.n_records > 0 && stream_shard_state(s, pos.shard_idx, &state) == 0 &&
        next < state.durable_index) {
        behind = state.last_arrival_ms - ctx.last_arrival_ms;
        if (behind < 0) {
            behind = 0;
        }
    }
    struct stream_iterator_pos npos = pos;
    npos.index = next;
    npos.issued_ms = call->req->now_ms;
    char text[STREAM_ITERATOR_TEXT_MAX];
    stream_iterator_encode(svc, &npos, text);
    buf_printf(out, "],\"NextShardIterator\":\"%s\",\"MillisBehindLatest\":%lld}", text,
               (long long)behind);
    count_get(call, s, started_ns, &ctx);
    stream_release(s);
    return buf_status(out);
}
