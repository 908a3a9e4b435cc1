/*
 * Enhanced fan-out consumers: RegisterStreamConsumer, DescribeStreamConsumer,
 * ListStreamConsumers, DeregisterStreamConsumer. SubscribeToShard is kinesis_subscribe.c.
 *
 * A consumer is a row of table kinesis_consumers (the adapter's own part of the store,
 * "kinesis_consumer"), keyed by its stream's store id and sequence tag, so a deleted and
 * re-created stream of the same name starts with none. Its states are timed as the
 * stream's are, from the row alone:
 *
 *   register ─▶ CREATING ──(transition time)──▶ ACTIVE ─ deregister ─▶ DELETING ─▶ (gone)
 *
 * A state whose time has passed reads as the next one; a gone consumer's row is deleted
 * by whoever next lists the stream's consumers. DeleteStream drops the rows.
 *
 * ARN: <stream ARN>/consumer/<name>:<creation time in epoch seconds>.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "core/crypto.h"
#include "core/mem.h"
#include "core/store.h"
#include "stream/kinesis_int.h"

#define CONSUMER_TOKEN_TTL_MS (300 * 1000)

static const struct store_migration consumer_migrations[] = {
    {1, "CREATE TABLE kinesis_consumers("
        " stream_id INTEGER NOT NULL, seq_tag INTEGER NOT NULL, name TEXT NOT NULL,"
        " created_ms INTEGER NOT NULL, deleting_ms INTEGER NOT NULL DEFAULT 0,"
        " PRIMARY KEY(stream_id, seq_tag, name));"},
};

int kin__consumers_migrate(struct stream_service *svc)
{
    return store_migrate(stream_service_store(svc), "kinesis_consumer", consumer_migrations,
                         sizeof(consumer_migrations) / sizeof(consumer_migrations[0]));
}

const char *kin__consumer_status_name(enum kin_consumer_status st)
{
    switch (st) {
    case KIN_CONSUMER_CREATING: return "CREATING";
    case KIN_CONSUMER_ACTIVE: return "ACTIVE";
    case KIN_CONSUMER_DELETING: return "DELETING";
    }
    return "ACTIVE";
}

/* The state a row reads as at now; -1 when it is gone. */
static int row_status(struct stream_service *svc, int64_t created_ms, int64_t deleting_ms,
                      int64_t now)
{
    int64_t t = stream_service_transition_ms(svc);
    if (deleting_ms > 0) {
        return now >= deleting_ms + t ? -1 : KIN_CONSUMER_DELETING;
    }
    return now >= created_ms + t ? KIN_CONSUMER_ACTIVE : KIN_CONSUMER_CREATING;
}

static void fill(struct kin_consumer *c, const char *stream_arn, const char *name,
                 int64_t created_ms, enum kin_consumer_status st)
{
    snprintf(c->name, sizeof(c->name), "%s", name);
    snprintf(c->stream_arn, sizeof(c->stream_arn), "%s", stream_arn);
    snprintf(c->arn, sizeof(c->arn), "%s/consumer/%s:%lld", stream_arn, name,
             (long long)(created_ms / 1000));
    c->created_ms = created_ms;
    c->status = st;
}

/* Every consumer of s that is not gone, by name, into *out (OUT, freed with free()). */
static int consumers_of(struct stream_service *svc, struct stream *s, struct kin_consumer **out,
                        size_t *n_out)
{
    struct store *st = stream_service_store(svc);
    int64_t now = stream_service_now_ms(svc);
    *out = NULL;
    *n_out = 0;
    size_t n = 0, cap = 0;
    struct kin_consumer *v = NULL;
    int n_gone = 0;
    store_read_begin(st);
    struct store_stmt *q = store_prepare_args(
        st,
        "SELECT name, created_ms, deleting_ms FROM kinesis_consumers WHERE stream_id=? AND "
        "seq_tag=? ORDER BY name",
        "ii", stream_id(s), (int64_t)stream_seq_tag(s));
    int rc = q == NULL ? SL_E(IO) : 0;
    while (rc == 0 && (rc = store_step(q)) == 1) {
        rc = 0;
        int status = row_status(svc, store_col_int64(q, 1), store_col_int64(q, 2), now);
        if (status < 0) {
            n_gone++;
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            v = xrealloc(v, cap * sizeof(*v));
        }
        fill(&v[n++], stream_arn(s), store_col_text(q, 0), store_col_int64(q, 1),
             (enum kin_consumer_status)status);
    }
    store_finalize(q);
    store_read_end(st);
    if (rc < 0) {
        free(v);
        return rc;
    }
    if (n_gone > 0) {
        /* Deregistrations that have run their course leave the table. */
        store_lock(st);
        store_run(st,
                  "DELETE FROM kinesis_consumers WHERE stream_id=? AND seq_tag=? AND "
                  "deleting_ms>0 AND deleting_ms<=?",
                  "iii", stream_id(s), (int64_t)stream_seq_tag(s),
                  now - stream_service_transition_ms(svc));
        store_unlock(st);
    }
    *out = v;
    *n_out = n;
    return 0;
}

/* The consumer of s named name, 0 or SL_E(RESOURCE_NOT_FOUND). */
static int consumer_named(struct stream_service *svc, struct stream *s, const char *name,
                          struct kin_consumer *out)
{
    struct kin_consumer *v;
    size_t n;
    int rc = consumers_of(svc, s, &v, &n);
    if (rc < 0) {
        return rc;
    }
    rc = SL_E(RESOURCE_NOT_FOUND);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i].name, name) == 0) {
            *out = v[i];
            rc = 0;
        }
    }
    free(v);
    return rc;
}

int kin__consumer_count(struct stream_service *svc, struct stream *s)
{
    struct kin_consumer *v;
    size_t n;
    if (consumers_of(svc, s, &v, &n) < 0) {
        return 0;
    }
    free(v);
    return (int)n;
}

int kin__consumers_drop(struct stream_service *svc, struct stream *s)
{
    struct store *st = stream_service_store(svc);
    store_lock(st);
    int rc = store_run(st, "DELETE FROM kinesis_consumers WHERE stream_id=? AND seq_tag=?", "ii",
                       stream_id(s), (int64_t)stream_seq_tag(s));
    store_unlock(st);
    return rc;
}

/*
 * Splits a consumer ARN into its stream ARN (stream_arn, OUT), name and creation second.
 * 0, or -1 when it is not of the form <stream ARN>/consumer/<name>:<digits>.
 */
static int parse_consumer_arn(const char *arn, char *stream_arn, size_t size, char *name,
                              size_t name_size, long long *created_s)
{
    const char *mark = strstr(arn, "/consumer/");
    if (mark == NULL || (size_t)(mark - arn) >= size) {
        return -1;
    }
    const char *n = mark + 10;
    const char *colon = strrchr(n, ':');
    if (colon == NULL || colon == n || (size_t)(colon - n) >= name_size || colon[1] == '\0' ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
        !kin__valid_stream_name(n, (size_t)(colon - n))) {
        return -1;
    }
    memcpy(stream_arn, arn, (size_t)(mark - arn));
    stream_arn[mark - arn] = '\0';
    memcpy(name, n, (size_t)(colon - n));
    name[colon - n] = '\0';
    *created_s = atoll(colon + 1);
    return 0;
}

static int consumer_not_found(struct api_call *call, const char *what)
{
    return err_set(&call->err, SL_E(RESOURCE_NOT_FOUND), "Consumer %s under account %s not found.",
                   what, call->req->account_id);
}

static int bad_consumer_arn(struct api_call *call, const char *arn)
{
    return kin__validation(call, "consumerARN", arn,
                           "Member must satisfy regular expression pattern: "
                           "^(arn):aws.*:kinesis:.*:\\d{12}:.*stream\\/[a-zA-Z0-9_.-]+\\/consumer"
                           "\\/[a-zA-Z0-9_.-]+:[0-9]+");
}

int kin__consumer_resolve(struct api_call *call, const char *arn, struct stream **s_out,
                          struct kin_consumer *out)
{
    char stream_arn_text[2048], name[STREAM_NAME_MAX + 1];
    long long created_s;
    *s_out = NULL;
    if (parse_consumer_arn(arn, stream_arn_text, sizeof(stream_arn_text), name, sizeof(name),
                           &created_s) < 0) {
        return bad_consumer_arn(call, arn);
    }
    struct stream *s;
    int rc = kin__resolve(call, NULL, stream_arn_text, &s);
    if (rc == SL_E(VALIDATION)) {
        err_clear(&call->err);
        return bad_consumer_arn(call, arn);
    }
    if (rc < 0) {
        return rc;
    }
    rc = consumer_named(call->service_ctx, s, name, out);
    if (rc == 0 && out->created_ms / 1000 != created_s) {
        rc = SL_E(RESOURCE_NOT_FOUND); /* an earlier consumer of the same name */
    }
    if (rc == SL_E(RESOURCE_NOT_FOUND)) {
        rc = consumer_not_found(call, arn);
    } else if (rc < 0) {
        rc = err_set(&call->err, rc, "Internal service failure.");
    }
    if (rc < 0) {
        stream_release(s);
        return rc;
    }
    *s_out = s;
    return 0;
}

int kin__consumer_get(struct stream_service *svc, struct stream *s, const char *name,
                      struct kin_consumer *out)
{
    return consumer_named(svc, s, name, out);
}

/*
 * The consumer an input names: ConsumerARN, or StreamARN and ConsumerName (Describe and
 * Deregister take either way). *s_out gets a reference to its stream.
 */
static int resolve_input(struct api_call *call, json_t *in, struct stream **s_out,
                         struct kin_consumer *out)
{
    const char *stream_arn_text, *name, *arn;
    int rc;
    *s_out = NULL;
    if ((rc = kin__get_string(call, in, "StreamARN", 0, 1, 2048, &stream_arn_text)) < 0 ||
        (rc = kin__get_string(call, in, "ConsumerName", 0, 1, STREAM_NAME_MAX, &name)) < 0 ||
        (rc = kin__get_string(call, in, "ConsumerARN", 0, 1, 2048, &arn)) < 0) {
        return rc;
    }
    if (name != NULL && !kin__valid_stream_name(name, strlen(name))) {
        return kin__bad_stream_name(call, "consumerName", name);
    }
    if (arn != NULL) {
        return kin__consumer_resolve(call, arn, s_out, out);
    }
    if (stream_arn_text == NULL || name == NULL) {
        return err_set(&call->err, SL_E(INVALID_ARGUMENT),
                       "Either ConsumerARN or both ConsumerName and StreamARN must be "
                       "provided.");
    }
    struct stream *s;
    if ((rc = kin__resolve(call, NULL, stream_arn_text, &s)) < 0) {
        return rc;
    }
    rc = consumer_named(call->service_ctx, s, name, out);
    if (rc < 0) {
        char what[2400];
        snprintf(what, sizeof(what), "%s/consumer/%s", stream_arn(s), name);
        stream_release(s);
        return rc == SL_E(RESOURCE_NOT_FOUND)
                   ? consumer_not_found(call, what)
                   : err_set(&call->err, rc, "Internal service failure.");
    }
    *s_out = s;
    return 0;
}

static json_t *consumer_json(const struct kin_consumer *c)
{
    return json_pack("{s:s, s:s, s:s, s:o}", "ConsumerName", c->name, "ConsumerARN", c->arn,
                     "ConsumerStatus", kin__consumer_status_name(c->status),
                     "ConsumerCreationTimestamp", kin__timestamp(c->created_ms));
}

/* Consumers of s in CREATING at now (store lock held), or a negative store error. */
static int64_t count_creating(struct stream_service *svc, struct stream *s, int64_t now)
{
    struct store_stmt *q;
    int rc = store_prepare(stream_service_store(svc),
                           "SELECT count(*) FROM kinesis_consumers WHERE stream_id=? AND"
                           " seq_tag=? AND deleting_ms=0 AND created_ms>?",
                           &q);
    if (rc < 0) {
        return rc;
    }
    store_bind_int64(q, 1, stream_id(s));
    store_bind_int64(q, 2, (int64_t)stream_seq_tag(s));
    store_bind_int64(q, 3, now - stream_service_transition_ms(svc));
    int64_t n = store_step(q) == 1 ? store_col_int64(q, 0) : 0;
    store_finalize(q);
    return n;
}

int kin__register_stream_consumer(struct api_call *call, json_t *in, json_t **out)
{
    struct stream_service *svc = call->service_ctx;
    const char *arn, *name;
    int rc;
    if ((rc = kin__get_string(call, in, "StreamARN", 1, 1, 2048, &arn)) < 0 ||
        (rc = kin__get_string(call, in, "ConsumerName", 1, 1, STREAM_NAME_MAX, &name)) < 0) {
        return rc;
    }
    if (!kin__valid_stream_name(name, strlen(name))) {
        return kin__bad_stream_name(call, "consumerName", name);
    }
    json_t *tags = json_object_get(in, "Tags");
    if (tags != NULL && !json_is_null(tags) && !json_is_object(tags)) {
        return err_set(&call->err, SL_E(SERIALIZATION),
                       "Unexpected value type in payload for field Tags");
    }
    struct stream *s;
    if ((rc = kin__resolve(call, NULL, arn, &s)) < 0) {
        return rc;
    }
    enum stream_status sst = stream_status_get(s);
    struct kin_consumer *v = NULL;
    size_t n = 0;
    if (sst != STREAM_ACTIVE && sst != STREAM_UPDATING) {
        rc = err_set(&call->err, SL_E(RESOURCE_IN_USE),
                     "Stream %s under account %s not ACTIVE, instead in state %s", stream_name(s),
                     call->req->account_id, stream_status_name(sst));
    } else if ((rc = consumers_of(svc, s, &v, &n)) < 0) {
        rc = err_set(&call->err, rc, "Internal service failure.");
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (strcmp(v[i].name, name) == 0) {
            rc = err_set(&call->err, SL_E(RESOURCE_IN_USE),
                         "Consumer %s under account %s already exists.", v[i].arn,
                         call->req->account_id);
        }
    }
    if (rc == 0 && n >= KIN_CONSUMERS_MAX) {
        rc = err_set(&call->err, SL_E(LIMIT_EXCEEDED),
                     "Limit exceeded for the number of consumers registered to stream %s under "
                     "account %s. The limit is %d.",
                     stream_name(s), call->req->account_id, KIN_CONSUMERS_MAX);
    }
    free(v);
    if (rc == 0) {
        struct store *st = stream_service_store(svc);
        int64_t now = stream_service_now_ms(svc);
        store_lock(st);
        /* Counted with the insert under one lock, so racing registrations cannot pass it
           together. */
        int64_t creating = count_creating(svc, s, now);
        if (creating >= KIN_CONSUMERS_CREATING_MAX) {
            store_unlock(st);
            rc = err_set(&call->err, SL_E(LIMIT_EXCEEDED),
                         "This request would exceed the limit on the number of consumers that "
                         "can simultaneously be in CREATING for stream %s under account %s. "
                         "Limit: %d.",
                         stream_name(s), call->req->account_id, KIN_CONSUMERS_CREATING_MAX);
            stream_release(s);
            return rc;
        }
        rc = creating < 0 ? (int)creating
                          : store_run(st,
                                      "INSERT INTO kinesis_consumers(stream_id, seq_tag, name, "
                                      "created_ms) VALUES(?, ?, ?, ?)",
                                      "iisi", stream_id(s), (int64_t)stream_seq_tag(s), name, now);
        store_unlock(st);
        if (rc < 0) {
            /* a concurrent registration of the same name won the insert */
            rc = err_set(&call->err, SL_E(RESOURCE_IN_USE),
                         "Consumer %s/consumer/%s under account %s already exists.", stream_arn(s),
                         name, call->req->account_id);
        } else {
            struct kin_consumer c;
            fill(&c, stream_arn(s), name, now, KIN_CONSUMER_CREATING);
            *out = json_pack("{s:o}", "Consumer", consumer_json(&c));
        }
    }
    stream_release(s);
    return rc;
}

int kin__describe_stream_consumer(struct api_call *call, json_t *in, json_t **out)
{
    struct stream *s;
    struct kin_consumer c;
    int rc = resolve_input(call, in, &s, &c);
    if (rc < 0) {
        return rc;
    }
    json_t *d = consumer_json(&c);
    json_object_set_new(d, "StreamARN", json_string(c.stream_arn));
    *out = json_pack("{s:o}", "ConsumerDescription", d);
    stream_release(s);
    return 0;
}

int kin__deregister_stream_consumer(struct api_call *call, json_t *in, json_t **out)
{
    (void)out;
    struct stream_service *svc = call->service_ctx;
    struct stream *s;
    struct kin_consumer c;
    int rc = resolve_input(call, in, &s, &c);
    if (rc < 0) {
        return rc;
    }
    if (c.status != KIN_CONSUMER_DELETING) {
        struct store *st = stream_service_store(svc);
        store_lock(st);
        rc = store_run(st,
                       "UPDATE kinesis_consumers SET deleting_ms=? WHERE stream_id=? AND "
                       "seq_tag=? AND name=? AND deleting_ms=0",
                       "iiis", stream_service_now_ms(svc), stream_id(s), (int64_t)stream_seq_tag(s),
                       c.name);
        store_unlock(st);
        if (rc < 0) {
            rc = err_set(&call->err, rc, "Internal service failure.");
        } else {
            kin__subscriptions_revoke(c.arn);  /* its subscriptions end now */
            kin__policies_drop(svc, s, c.arn); /* its policy goes with it */
        }
    }
    stream_release(s);
    return rc;
}

/* Paging tokens: base64url("<issued ms>\n<stream id>\n<last name>") and a MAC. */
static char *token_make(struct stream_service *svc, int64_t sid, const char *after, int64_t now)
{
    char *plain = xasprintf("%lld\n%lld\n%s", (long long)now, (long long)sid, after);
    size_t len = strlen(plain);
    uint8_t *raw = xmalloc(len + 16);
    memcpy(raw, plain, len);
    uint8_t mac[SHA256_LEN];
    stream_service_sign(svc, plain, len, mac);
    memcpy(raw + len, mac, 16);
    char *text = xmalloc(BASE64_ENCODED_LEN(len + 16) + 1);
    text[base64url_encode(raw, len + 16, text)] = '\0';
    free(raw);
    free(plain);
    return text;
}

/* The last name a token of stream sid carries (*after, OUT, caller frees), or an error. */
static int token_open(struct api_call *call, const char *token, int64_t sid, char **after)
{
    size_t len = strlen(token);
    uint8_t *raw = xmalloc(BASE64_DECODED_MAX(len) + 1);
    long n = base64url_decode(token, len, raw);
    int rc = err_set(&call->err, SL_E(INVALID_ARGUMENT), "Invalid NextToken.");
    uint8_t mac[SHA256_LEN];
    if (n > 16) {
        stream_service_sign(call->service_ctx, raw, (size_t)n - 16, mac);
    }
    if (n > 16 && crypto_equal(mac, raw + n - 16, 16)) {
        raw[n - 16] = '\0';
        char *nl1 = strchr((char *)raw, '\n');
        char *nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
        if (nl2 != NULL && atoll(nl1 + 1) == sid) {
            if (call->req->now_ms - atoll((char *)raw) > CONSUMER_TOKEN_TTL_MS) {
                rc = err_set(&call->err, SL_E(EXPIRED_NEXT_TOKEN),
                             "The timestamp on the NextToken has expired.");
            } else {
                *after = xstrdup(nl2 + 1);
                err_clear(&call->err);
                rc = 0;
            }
        }
    }
    free(raw);
    return rc;
}

int kin__list_stream_consumers(struct api_call *call, json_t *in, json_t **out)
{
    struct stream_service *svc = call->service_ctx;
    const char *arn, *token;
    long long max_results;
    int rc;
    if ((rc = kin__get_string(call, in, "StreamARN", 1, 1, 2048, &arn)) < 0 ||
        (rc = kin__get_string(call, in, "NextToken", 0, 1, 1048576, &token)) < 0 ||
        (rc = kin__get_int(call, in, "MaxResults", 0, 1, 10000, 100, &max_results)) < 0) {
        return rc;
    }
    json_t *ts = json_object_get(in, "StreamCreationTimestamp");
    if (ts != NULL && !json_is_null(ts) && !json_is_number(ts)) {
        return err_set(&call->err, SL_E(SERIALIZATION),
                       "Unexpected value type in payload for field StreamCreationTimestamp");
    }
    struct stream *s;
    if ((rc = kin__resolve(call, NULL, arn, &s)) < 0) {
        return rc;
    }
    if (ts != NULL && json_is_number(ts)) {
        /* Names a generation of the stream: another one's consumers are not these. To
           the second, as SDKs send timestamps in whole seconds (boto3) or not (JS). */
        struct stream_info *info = xmalloc(sizeof(*info));
        stream_describe(s, info);
        int64_t want_s = (int64_t)floor(json_number_value(ts));
        int64_t created_s = info->created_ms / 1000;
        free(info);
        if (want_s != created_s) {
            rc = kin__not_found(call, stream_name(s));
            stream_release(s);
            return rc;
        }
    }
    char *after = NULL;
    if (token != NULL && (rc = token_open(call, token, stream_id(s), &after)) < 0) {
        stream_release(s);
        return rc;
    }
    struct kin_consumer *v;
    size_t n;
    if ((rc = consumers_of(svc, s, &v, &n)) < 0) {
        free(after);
        stream_release(s);
        return err_set(&call->err, rc, "Internal service failure.");
    }
    json_t *arr = json_array();
    size_t i = 0;
    while (i < n && after != NULL && strcmp(v[i].name, after) <= 0) {
        i++;
    }
    for (; i < n && json_array_size(arr) < (size_t)max_results; i++) {
        json_array_append_new(arr, consumer_json(&v[i]));
    }
    *out = json_pack("{s:o}", "Consumers", arr);
    if (i < n) {
        char *t = token_make(svc, stream_id(s), v[i - 1].name, call->req->now_ms);
        json_object_set_new(*out, "NextToken", json_string(t));
        free(t);
    }
    free(v);
    free(after);
    stream_release(s);
    return 0;
}
