/*
 * SubscribeToShard: an enhanced fan-out consumer's push subscription to one shard.
 *
 * The answer is HTTP 200 with Content-Type application/vnd.amazon.eventstream and a
 * body made over time (api_stream_body, driven by the HTTP engine): event-stream
 * messages (http/eventstream.h), first an initial-response event, then at once a
 * SubscribeToShardEvent with what the shard holds from the starting position, then one
 * each time records become durable (the producer waits in stream_reader_wait, which the
 * group commit wakes), or an empty one after SUB_HEARTBEAT_MS without records, for
 * SUB_LIFETIME_MS; then the body ends and the client subscribes again from the last
 * ContinuationSequenceNumber. Errors after the answer began are exception messages
 * (:message-type exception) that end the body: ResourceInUseException when another
 * subscription took over, ResourceNotFoundException when the stream or the consumer
 * went away, InternalFailureException when the shard cannot be read.
 *
 * One subscription per consumer and shard (AWS's rule): another call while one is
 * active and less than SUB_TAKEOVER_MS old is refused with ResourceInUseException; a
 * later one takes over, and the older subscription ends with that exception.
 *
 * ContinuationSequenceNumber is the sequence number of the last record before the
 * subscription's position, to be used with AFTER_SEQUENCE_NUMBER (as the KCL does); at
 * the shard's first record, before or after it exists, it is the shard's
 * StartingSequenceNumber, which precedes that record (shardmath.c), so a continuation
 * taken before the shard had records neither repeats nor skips its first record.
 * Continuations of the first layout given out before had no such number and used the
 * first record's own: AFTER_SEQUENCE_NUMBER of one still starts at that record.
 *
 * A closed shard's subscription ends once it has sent the shard's last record: that
 * event carries ChildShards (as GetRecords does at the end), and the body ends cleanly.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "core/mem.h"
#include "http/eventstream.h"
#include "stream/kinesis_int.h"

#define SUB_LIFETIME_MS (5 * 60 * 1000)
#define SUB_HEARTBEAT_MS 5000
#define SUB_TAKEOVER_MS 5000
#define SUB_EVENT_MAX_BYTES (1024 * 1024) /* record data per event */
#define SUB_EVENT_MAX_RECORDS 10000

/* ---- who is subscribed: one entry per consumer and shard with a live subscription ---- */

struct sub_entry {
    char *key; /* "<consumer ARN>\n<shard index>" */
    uint64_t gen;
    int64_t started_ms;
    int revoked; /* the consumer was deregistered */
    struct sub_entry *next;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sub_entry *registry;
static uint64_t registry_gen;

static struct sub_entry *entry_find(const char *key)
{
    for (struct sub_entry *e = registry; e != NULL; e = e->next) {
        if (strcmp(e->key, key) == 0) {
            return e;
        }
    }
    return NULL;
}

/* Takes the subscription of key at now: its generation, or 0 when another is active and
   younger than SUB_TAKEOVER_MS. */
static uint64_t entry_claim(const char *key, int64_t now)
{
    uint64_t gen = 0;
    pthread_mutex_lock(&registry_lock);
    struct sub_entry *e = entry_find(key);
    if (e == NULL) {
        e = xcalloc(1, sizeof(*e));
        e->key = xstrdup(key);
        e->next = registry;
        registry = e;
    } else if (now - e->started_ms < SUB_TAKEOVER_MS && !e->revoked) {
        e = NULL;
    }
    if (e != NULL) {
        e->gen = gen = ++registry_gen;
        e->started_ms = now;
        e->revoked = 0;
    }
    pthread_mutex_unlock(&registry_lock);
    return gen;
}

enum sub_standing { SUB_CURRENT, SUB_TAKEN_OVER, SUB_REVOKED };

static enum sub_standing entry_standing(const char *key, uint64_t gen)
{
    pthread_mutex_lock(&registry_lock);
    struct sub_entry *e = entry_find(key);
    enum sub_standing st = e == NULL || e->gen != gen ? SUB_TAKEN_OVER
                           : e->revoked               ? SUB_REVOKED
                                                      : SUB_CURRENT;
    pthread_mutex_unlock(&registry_lock);
    return st;
}

/* The subscription of generation gen is over: its entry goes unless another took it. */
static void entry_release(const char *key, uint64_t gen)
{
    pthread_mutex_lock(&registry_lock);
    for (struct sub_entry **pp = &registry; *pp != NULL; pp = &(*pp)->next) {
        struct sub_entry *e = *pp;
        if (strcmp(e->key, key) == 0) {
            if (e->gen == gen) {
                *pp = e->next;
                free(e->key);
                free(e);
            }
            break;
        }
    }
    pthread_mutex_unlock(&registry_lock);
}

void kin__subscriptions_revoke(const char *consumer_arn)
{
    size_t len = strlen(consumer_arn);
    pthread_mutex_lock(&registry_lock);
    for (struct sub_entry *e = registry; e != NULL; e = e->next) {
        if (strncmp(e->key, consumer_arn, len) == 0 && e->key[len] == '\n') {
            e->revoked = 1;
        }
    }
    pthread_mutex_unlock(&registry_lock);
}

/* ---- one subscription ---- */

struct subscription {
    struct api_stream_body body; /* body.arg is this */
    struct stream_service *svc;
    struct stream *s; /* a reference */
    struct stream_reader *r;
    uint32_t shard_idx;
    struct stream_seqno_shard seq_shard;
    uint64_t shard_start; /* index of the shard's first record ever */
    int have_last;        /* the last record sent: its index and arrival (continuations) */
    uint64_t last_index;
    int64_t last_arrival_ms;
    char key[2500];
    char consumer_arn[2400];
    char consumer_name[STREAM_NAME_MAX + 1]; /* the metrics' ConsumerName */
    uint64_t gen;
    int64_t end_ms;       /* service clock: the subscription's five minutes are over */
    int64_t heartbeat_ms; /* an event is due by then, records or not */
    int started;          /* initial-response sent */
    int over;             /* the last message is out */
};

struct event_ctx {
    struct buf *json;
    struct subscription *sub;
    size_t n_records;
    size_t n_bytes;
    int64_t last_arrival_ms;
};

static int visit_record(void *arg, uint64_t index, int64_t arrival_ms, int encrypted,
                        const char *pk, size_t pk_len, const uint8_t *data, size_t data_len)
{
    struct event_ctx *ec = arg;
    struct buf *b = ec->json;
    char seq[STREAM_SEQNO_LEN + 1];
    stream_seqno_format(&ec->sub->seq_shard, index, arrival_ms, seq);
    ec->sub->have_last = 1;
    ec->sub->last_index = index;
    ec->sub->last_arrival_ms = arrival_ms;
    buf_printf(
        b, "%s{\"SequenceNumber\":\"%s\",\"ApproximateArrivalTimestamp\":%lld.%03lld,\"Data\":\"",
        ec->n_records > 0 ? "," : "", seq, (long long)(arrival_ms / 1000),
        (long long)(arrival_ms % 1000));
    char *p = (char *)buf_reserve(b, BASE64_ENCODED_LEN(data_len));
    if (p == NULL) {
        return -1;
    }
    b->len += base64_encode(data, data_len, p);
    buf_puts(b, "\",\"PartitionKey\":");
    buf_json_string(b, pk, pk_len);
    buf_puts(b, encrypted ? ",\"EncryptionType\":\"KMS\"}" : "}");
    ec->n_records++;
    ec->n_bytes += data_len;
    ec->last_arrival_ms = arrival_ms;
    return buf_status(b) < 0 ? -1 : 0;
}

struct arrival_probe {
    uint64_t index;
    int64_t arrival_ms;
    int found;
};

static int probe_record(void *arg, uint64_t index, int64_t arrival_ms, const char *pk,
                        size_t pk_len, const uint8_t *data, size_t data_len)
{
    (void)pk, (void)pk_len, (void)data, (void)data_len;
    struct arrival_probe *p = arg;
    p->index = index;
    p->arrival_ms = arrival_ms;
    p->found = 1;
    return 1;
}

/* The arrival of record index of sub's shard, which exists or existed: the last one sent
   or the shard's newest without reading; else read from the log. A record retention
   removed gets the next one's, or the newest's, which sorts the same. */
static int64_t record_arrival(struct subscription *sub, uint64_t index)
{
    if (sub->have_last && sub->last_index == index) {
        return sub->last_arrival_ms;
    }
    struct stream_shard_state state = {0};
    stream_shard_state(sub->s, sub->shard_idx, &state);
    struct arrival_probe probe = {0};
    if (index + 1 != state.durable_index) {
        struct stream_position at = {.type = STREAM_AT_INDEX, .index = index};
        struct stream_reader *r;
        if (stream_reader_open(sub->s, sub->shard_idx, &at, &r) == 0) {
            stream_reader_read(r, 1, 0, probe_record, &probe);
            stream_reader_close(r);
        }
    }
    return probe.found ? probe.arrival_ms : state.last_arrival_ms;
}

/* The ContinuationSequenceNumber at reader position pos (see the top). */
static void continuation(struct subscription *sub, uint64_t pos, char out[STREAM_SEQNO_LEN + 1])
{
    if (pos <= sub->shard_start) {
        struct stream_seqno_fields f = {
            .shard = sub->seq_shard, .counter = 0, .time_s = sub->seq_shard.epoch_s};
        stream_seqno_encode(&f, out);
        return;
    }
    stream_seqno_format(&sub->seq_shard, pos - 1, record_arrival(sub, pos - 1), out);
}

/* An exception message that ends the subscription. */
static void end_with(struct subscription *sub, struct buf *out, const char *type,
                     const char *message)
{
    struct buf payload;
    buf_init(&payload);
    buf_puts(&payload, "{\"message\":");
    buf_json_string(&payload, message, strlen(message));
    buf_putc(&payload, '}');
    evs_exception(out, type, "application/json", payload.data, payload.len);
    buf_fini(&payload);
    sub->over = 1;
}

/* A SubscribeToShardEvent with the records durable from the reader's position (maybe
   none). Returns 0, or -1 after an exception message when the shard cannot be read. */
static int send_event(struct subscription *sub, struct buf *out, int64_t now)
{
    struct buf json;
    buf_init(&json);
    buf_puts(&json, "{\"Records\":[");
    struct event_ctx ec = {.json = &json, .sub = sub};
    struct err_info err = {0};
    int rc = stream_reader_read_ex(sub->r, SUB_EVENT_MAX_RECORDS, SUB_EVENT_MAX_BYTES,
                                   visit_record, &ec, &err);
    if (rc < 0 || buf_status(&json) < 0) {
        buf_fini(&json);
        struct stream_read_sample failed = {STREAM_RM_EVENT_SUCCESS, 0};
        stream_read_count(sub->s, sub->consumer_name, &failed, 1);
        if (rc < 0 && err.code < 0 && err.code != SL_E(CORRUPT)) {
            end_with(sub, out, err_aws_name(err.code), err.message); /* KMS's, as events */
        } else {
            end_with(sub, out, "InternalFailureException", "Internal service failure.");
        }
        return -1;
    }
    uint64_t pos = stream_reader_position(sub->r);
    char cont[STREAM_SEQNO_LEN + 1];
    continuation(sub, pos, cont);
    int64_t behind = 0;
    struct stream_shard_state state;
    if (ec.n_records > 0 && stream_shard_state(sub->s, sub->shard_idx, &state) == 0 &&
        pos < state.durable_index && state.last_arrival_ms > ec.last_arrival_ms) {
        behind = state.last_arrival_ms - ec.last_arrival_ms;
    }
    buf_printf(&json, "],\"ContinuationSequenceNumber\":\"%s\",\"MillisBehindLatest\":%lld", cont,
               (long long)behind);
    if (stream_reader_at_end(sub->r)) {
        buf_puts(&json, ",\"ChildShards\":");
        kin__child_shards_json(sub->s, sub->shard_idx, &json);
        sub->over = 1; /* nothing more will come: the body ends after this event */
    }
    buf_putc(&json, '}');
    rc = buf_status(&json) == 0
             ? evs_event(out, "SubscribeToShardEvent", "application/json", json.data, json.len)
             : -1;
    buf_fini(&json);
    sub->heartbeat_ms = now + SUB_HEARTBEAT_MS;
    struct stream_read_sample sent[] = {
        {STREAM_RM_EVENT_SUCCESS, rc < 0 ? 0 : 1},
        {STREAM_RM_EVENT_BYTES, (double)ec.n_bytes},
        {STREAM_RM_EVENT_RECORDS, (double)ec.n_records},
        {STREAM_RM_EVENT_BEHIND, (double)behind},
    };
    stream_read_count(sub->s, sub->consumer_name, sent, rc < 0 ? 1 : 4);
    if (rc >= 0 && ec.n_records > 0) { /* shard-level Outgoing*, when enabled */
        kin__count_get_shard(sub->s, sub->shard_idx, ec.n_records, ec.n_bytes, -1);
    }
    return rc < 0 ? -1 : 0;
}

static int sub_next(void *arg, struct buf *out, int timeout_ms)
{
    struct subscription *sub = arg;
    int64_t now = stream_service_now_ms(sub->svc);
    if (sub->over) {
        return 0;
    }
    if (!sub->started) {
        sub->started = 1;
        evs_event(out, "initial-response", "application/json", "{}", 2);
        return send_event(sub, out, now) < 0 ? 0 : 1;
    }
    switch (entry_standing(sub->key, sub->gen)) {
    case SUB_TAKEN_OVER: {
        char msg[2600];
        snprintf(msg, sizeof(msg), "Another active subscription exists for this consumer: %s",
                 sub->consumer_arn);
        end_with(sub, out, "ResourceInUseException", msg);
        return 0;
    }
    case SUB_REVOKED: {
        char msg[2600];
        snprintf(msg, sizeof(msg), "Consumer %s not found.", sub->consumer_arn);
        end_with(sub, out, "ResourceNotFoundException", msg);
        return 0;
    }
    case SUB_CURRENT: break;
    }
    if (now >= sub->end_ms) {
        sub->over = 1; /* the five minutes are over: the body ends cleanly */
        return 0;
    }
    int64_t wait = timeout_ms;
    if (sub->heartbeat_ms - now < wait) {
        wait = sub->heartbeat_ms - now;
    }
    if (sub->end_ms - now < wait) {
        wait = sub->end_ms - now;
    }
    int rc = stream_reader_wait(sub->r, wait > 0 ? wait : 0);
    if (rc == SL_E(RESOURCE_NOT_FOUND)) {
        char msg[400];
        snprintf(msg, sizeof(msg), "Stream %s not found.", stream_name(sub->s));
        end_with(sub, out, "ResourceNotFoundException", msg);
        return 0;
    }
    now = stream_service_now_ms(sub->svc);
    if (rc == 0 || rc == STREAM_END_OF_SHARD || now >= sub->heartbeat_ms) {
        return send_event(sub, out, now) < 0 ? 0 : 1;
    }
    return 1;
}

static void sub_close(void *arg)
{
    struct subscription *sub = arg;
    entry_release(sub->key, sub->gen);
    stream_reader_close(sub->r);
    stream_release(sub->s);
    free(sub);
}

/* ---- the operation ---- */

static const struct {
    const char *name;
    enum stream_position_type type;
} position_types[] = {
    {"AT_SEQUENCE_NUMBER", STREAM_AT_SEQUENCE_NUMBER},
    {"AFTER_SEQUENCE_NUMBER", STREAM_AFTER_SEQUENCE_NUMBER},
    {"TRIM_HORIZON", STREAM_TRIM_HORIZON},
    {"LATEST", STREAM_LATEST},
    {"AT_TIMESTAMP", STREAM_AT_TIMESTAMP},
};

/* StartingPosition into *pos (its sequence number borrowed from in). */
static int read_position(struct api_call *call, json_t *in, struct stream_position *pos)
{
    json_t *sp = json_object_get(in, "StartingPosition");
    if (sp == NULL || json_is_null(sp)) {
        return err_set(&call->err, SL_E(VALIDATION),
                       "1 validation error detected: Value null at 'startingPosition' failed to "
                       "satisfy constraint: Member must not be null");
    }
    if (!json_is_object(sp)) {
        return err_set(&call->err, SL_E(SERIALIZATION),
                       "Unexpected value type in payload for field StartingPosition");
    }
    json_t *tv = json_object_get(sp, "Type");
    if (tv == NULL || json_is_null(tv)) {
        return err_set(&call->err, SL_E(VALIDATION),
                       "1 validation error detected: Value null at 'startingPosition.type' "
                       "failed to satisfy constraint: Member must not be null");
    }
    const char *type, *seq;
    int rc;
    if ((rc = kin__get_string(call, sp, "Type", 1, 1, 32, &type)) < 0 ||
        (rc = kin__get_string(call, sp, "SequenceNumber", 0, 1, 129, &seq)) < 0) {
        return rc;
    }
    int known = 0;
    for (size_t i = 0; i < sizeof(position_types) / sizeof(position_types[0]); i++) {
        if (strcmp(type, position_types[i].name) == 0) {
            pos->type = position_types[i].type;
            known = 1;
        }
    }
    if (!known) {
        return kin__validation(call, "startingPosition.type", type,
                               "Member must satisfy enum value set: [AT_SEQUENCE_NUMBER, "
                               "AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP]");
    }
    if (seq != NULL && !stream_seqno_pattern_ok(seq, strlen(seq))) {
        return kin__validation(call, "startingPosition.sequenceNumber", seq,
                               "Member must satisfy regular expression pattern: "
                               "0|([1-9]\\d{0,128})");
    }
    json_t *ts = json_object_get(sp, "Timestamp");
    if (ts != NULL && !json_is_null(ts) && !json_is_number(ts)) {
        return err_set(&call->err, SL_E(SERIALIZATION),
                       "Unexpected value type in payload for field Timestamp");
    }
    if (pos->type == STREAM_AT_SEQUENCE_NUMBER || pos->type == STREAM_AFTER_SEQUENCE_NUMBER) {
        if (seq == NULL) {
            return err_set(&call->err, SL_E(INVALID_ARGUMENT),
                           "StartingPosition.SequenceNumber must be specified for "
                           "StartingPosition.Type %s.",
                           type);
        }
        pos->sequence_number = seq;
        pos->seqno_len = strlen(seq);
    } else if (pos->type == STREAM_AT_TIMESTAMP) {
        if (ts == NULL || json_is_null(ts)) {
            return err_set(&call->err, SL_E(INVALID_ARGUMENT),
                           "StartingPosition.Timestamp must be specified for StartingPosition.Type "
                           "AT_TIMESTAMP.");
        }
        pos->timestamp_ms = (int64_t)llround(json_number_value(ts) * 1000.0);
        if (pos->timestamp_ms > call->req->now_ms) {
            return err_set(&call->err, SL_E(INVALID_ARGUMENT),
                           "The timestampInMillis parameter cannot be greater than the "
                           "currentTimestampInMillis. timestampInMillis: %lld, "
                           "currentTimestampInMillis: %lld",
                           (long long)pos->timestamp_ms, (long long)call->req->now_ms);
        }
    }
    return 0;
}

/*
 * A reader of shard sh at pos. AFTER_SEQUENCE_NUMBER of the first-layout number of the
 * shard's first record starts at that record, which may not exist yet (see the top).
 */
static int open_reader(struct stream *s, const struct stream_shard_info *sh,
                       const struct stream_position *pos, struct stream_reader **r)
{
    struct stream_seqno_fields f;
    if (pos->type == STREAM_AFTER_SEQUENCE_NUMBER &&
        stream_seqno_decode(pos->sequence_number, pos->seqno_len, &f) == 0 && f.legacy &&
        f.legacy_tag == stream_seq_tag(s) % 1000000000000000000ull &&
        f.shard.shard_idx == sh->shard_idx % 1000000u && f.counter == sh->starting_index + 1) {
        struct stream_position at = {.type = STREAM_AT_INDEX, .index = sh->starting_index};
        return stream_reader_open(s, sh->shard_idx, &at, r);
    }
    return stream_reader_open(s, sh->shard_idx, pos, r);
}

/* SubscribeToShard.Success (1 or 0) and .RateExceeded: a second subscription of the
   consumer to the shard, or more than its calls a second (AWS/Kinesis). */
static void count_subscribe(struct stream *s, const char *consumer, int ok, int rate_exceeded)
{
    struct stream_read_sample v[] = {{STREAM_RM_SUB_SUCCESS, ok}, {STREAM_RM_SUB_RATE_EXCEEDED, 1}};
    stream_read_count(s, consumer, v, rate_exceeded ? 2 : 1);
}

int kin__subscribe_to_shard(struct api_call *call, json_t *in, json_t **out)
{
    (void)out;
    struct stream_service *svc = call->service_ctx;
    const char *arn, *shard_id;
    int rc;
    if ((rc = kin__get_string(call, in, "ConsumerARN", 1, 1, 2048, &arn)) < 0 ||
        (rc = kin__get_string(call, in, "ShardId", 1, 1, 128, &shard_id)) < 0) {
        return rc;
    }
    if (!kin__valid_stream_name(shard_id, strlen(shard_id))) {
        return kin__bad_stream_name(call, "shardId", shard_id);
    }
    struct stream_position pos = {.type = STREAM_LATEST};
    if ((rc = read_position(call, in, &pos)) < 0) {
        return rc;
    }
    struct stream *s;
    struct kin_consumer consumer;
    if ((rc = kin__consumer_resolve(call, arn, &s, &consumer)) < 0) {
        return rc;
    }
    uint32_t shard_idx = 0;
    struct stream_shard_info sh;
    struct stream_reader *r = NULL;
    if (consumer.status != KIN_CONSUMER_ACTIVE) {
        rc = err_set(&call->err, SL_E(RESOURCE_IN_USE),
                     "Consumer %s under account %s is not ACTIVE, instead in state %s.",
                     consumer.arn, call->req->account_id,
                     kin__consumer_status_name(consumer.status));
    } else if ((rc = kin__find_shard(call, s, shard_id, &shard_idx)) == 0 &&
               (rc = kin__throttle_subscribe(call, consumer.arn, shard_idx)) == 0 &&
               (rc = stream_kms_authorize(svc, s, call->req, "kms:Decrypt", NULL, &call->err)) ==
                   0 &&
               (rc = stream_shard_get(s, shard_idx, &sh)) == 0) {
        rc = open_reader(s, &sh, &pos, &r);
        if (rc == SL_E(INVALID_ARGUMENT)) {
            rc = err_set(&call->err, SL_E(INVALID_ARGUMENT),
                         "Invalid StartingSequenceNumber. It encodes %s, while it was used in a "
                         "call to a shard with %s in stream %s under account %s.",
                         pos.sequence_number, shard_id, stream_name(s), call->req->account_id);
        } else if (rc < 0) {
            rc = err_set(&call->err, rc, "Internal service failure.");
        }
    }
    if (rc < 0) {
        count_subscribe(s, consumer.name, 0, rc == SL_E(LIMIT_EXCEEDED));
        stream_release(s);
        return rc;
    }
    struct subscription *sub = xcalloc(1, sizeof(*sub));
    snprintf(sub->key, sizeof(sub->key), "%s\n%u", consumer.arn, shard_idx);
    sub->gen = entry_claim(sub->key, call->req->now_ms);
    if (sub->gen == 0) {
        free(sub);
        stream_reader_close(r);
        count_subscribe(s, consumer.name, 0, 1);
        stream_release(s);
        return err_set(&call->err, SL_E(RESOURCE_IN_USE),
                       "Another active subscription exists for this consumer: %s", consumer.arn);
    }
    sub->body = (struct api_stream_body){.next = sub_next, .close = sub_close, .arg = sub};
    sub->svc = svc;
    sub->s = s;
    sub->r = r;
    sub->shard_idx = shard_idx;
    stream_seqno_shard(s, shard_idx, &sub->seq_shard);
    sub->shard_start = sh.starting_index;
    snprintf(sub->consumer_arn, sizeof(sub->consumer_arn), "%s", consumer.arn);
    snprintf(sub->consumer_name, sizeof(sub->consumer_name), "%s", consumer.name);
    count_subscribe(s, consumer.name, 1, 0);
    int64_t now = stream_service_now_ms(svc);
    sub->end_ms = now + SUB_LIFETIME_MS;
    sub->heartbeat_ms = now + SUB_HEARTBEAT_MS;
    call->resp->stream = &sub->body;
    api_response_header(call->resp, "Content-Type", "application/vnd.amazon.eventstream");
    return 0;
}
