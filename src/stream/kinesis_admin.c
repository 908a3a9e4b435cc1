/*
 * Kinesis administration beside the stream's life: enhanced monitoring
 * (EnableEnhancedMonitoring, DisableEnhancedMonitoring) and resource-based policies
 * (PutResourcePolicy, GetResourcePolicy, DeleteResourcePolicy).
 *
 * Enhanced monitoring only records which shard-level metrics are on (stream.h keeps them
 * with the stream; DescribeStream shows them); the metrics themselves come with the
 * metrics work.
 *
 * Resource policies are rows of table kinesis_policies (the adapter's own part of the
 * store, "kinesis_policy"), one per stream or consumer ARN, keyed also by the stream's
 * store id and sequence tag so that a stream deleted and created again under the same
 * name (the same ARN) starts with none. DeleteStream and DeregisterStreamConsumer remove
 * them with their resource. A policy is checked to be a policy document (a JSON object
 * with a Statement of statements each with an Effect of Allow or Deny and an Action or
 * NotAction) of at most KIN_POLICY_MAX_BYTES; it is stored as given and returned
 * byte for byte. It is not enforced: that comes with IAM.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/store.h"
#include "stream/kinesis_int.h"

/* AWS's documented size limit of a resource-based policy document: 20 KiB. */
#define KIN_POLICY_MAX_BYTES (20 * 1024)

static const struct store_migration policy_migrations[] = {
    {1, "CREATE TABLE kinesis_policies("
        " stream_id INTEGER NOT NULL, seq_tag INTEGER NOT NULL, arn TEXT NOT NULL,"
        " policy TEXT NOT NULL, PRIMARY KEY(stream_id, seq_tag, arn));"},
};

int kin__policies_migrate(struct stream_service *svc)
{
    return store_migrate(stream_service_store(svc), "kinesis_policy", policy_migrations,
                         sizeof(policy_migrations) / sizeof(policy_migrations[0]));
}

int kin__policies_drop(struct stream_service *svc, struct stream *s, const char *arn)
{
    struct store *st = stream_service_store(svc);
    store_lock(st);
    int rc = arn == NULL
                 ? store_run(st, "DELETE FROM kinesis_policies WHERE stream_id=? AND seq_tag=?",
                             "ii", stream_id(s), (int64_t)stream_seq_tag(s))
                 : store_run(st,
                             "DELETE FROM kinesis_policies WHERE stream_id=? AND seq_tag=?"
                             " AND arn=?",
                             "iis", stream_id(s), (int64_t)stream_seq_tag(s), arn);
    store_unlock(st);
    return rc;
}

/* ---- enhanced monitoring ---- */

static json_t *metrics_json(uint32_t mask)
{
    json_t *a = json_array();
    for (int i = 0; i < STREAM_N_METRICS; i++) {
        if (mask & (1u << i)) {
            json_array_append_new(a, json_string(stream_metric_name(i)));
        }
    }
    return a;
}

json_t *kin__enhanced_monitoring_json(uint32_t mask)
{
    return json_pack("[{s:o}]", "ShardLevelMetrics", metrics_json(mask));
}

/* Enable (enable 1) or disable the ShardLevelMetrics of in. */
static int change_monitoring(struct api_call *call, json_t *in, json_t **out, int enable)
{
    json_t *list = json_object_get(in, "ShardLevelMetrics");
    uint32_t mask = 0;
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        /* the front end has checked the names against the enum */
        mask |= json_is_string(v) ? stream_metric_mask(json_string_value(v)) : 0;
    }
    const char *name, *arn;
    int rc;
    if ((rc = kin__get_string(call, in, "StreamName", 0, 1, STREAM_NAME_MAX, &name)) < 0 ||
        (rc = kin__get_string(call, in, "StreamARN", 0, 1, 2048, &arn)) < 0) {
        return rc;
    }
    struct stream *s;
    if ((rc = kin__resolve(call, name, arn, &s)) < 0) {
        return rc;
    }
    uint32_t before, after;
    rc = stream_update_monitoring(call->service_ctx, s, mask, enable, &before, &after, &call->err);
    if (rc == 0) {
        *out =
            json_pack("{s:s, s:o, s:o, s:s}", "StreamName", stream_name(s),
                      "CurrentShardLevelMetrics", metrics_json(before), "DesiredShardLevelMetrics",
                      metrics_json(after), "StreamARN", stream_arn(s));
    }
    stream_release(s);
    return rc;
}

int kin__enable_enhanced_monitoring(struct api_call *call, json_t *in, json_t **out)
{
    return change_monitoring(call, in, out, 1);
}

int kin__disable_enhanced_monitoring(struct api_call *call, json_t *in, json_t **out)
{
    return change_monitoring(call, in, out, 0);
}

/* ---- resource policies ---- */

/*
 * The resource an ARN names: a stream, or a consumer of one (its stream's reference in
 * *s_out, OUT, and the ARN the policy is kept under in arn_out). Errors in call->err.
 */
static int resolve_resource(struct api_call *call, const char *arn, struct stream **s_out,
                            char *arn_out, size_t arn_size)
{
    *s_out = NULL;
    if (strstr(arn, "/consumer/") != NULL) {
        struct kin_consumer c;
        int rc = kin__consumer_resolve(call, arn, s_out, &c);
        if (rc == 0 && c.status == KIN_CONSUMER_DELETING) {
            stream_release(*s_out);
            *s_out = NULL;
            rc = err_set(&call->err, SL_E(RESOURCE_NOT_FOUND),
                         "Consumer %s under account %s not found.", arn, call->req->account_id);
        }
        if (rc == 0) {
            snprintf(arn_out, arn_size, "%s", c.arn);
        }
        return rc;
    }
    int rc = kin__resolve(call, NULL, arn, s_out);
    if (rc == 0) {
        snprintf(arn_out, arn_size, "%s", stream_arn(*s_out));
    }
    return rc;
}

static int bad_policy(struct api_call *call, const char *why)
{
    return err_set(&call->err, SL_E(INVALID_ARGUMENT), "Invalid policy document: %s", why);
}

/* A statement's member that must be a non-empty string or a list of them. */
static int strings_ok(json_t *v)
{
    if (json_is_string(v)) {
        return json_string_length(v) > 0;
    }
    if (!json_is_array(v) || json_array_size(v) == 0) {
        return 0;
    }
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e) || json_string_length(e) == 0) {
            return 0;
        }
    }
    return 1;
}

static int check_statement(struct api_call *call, json_t *st)
{
    if (!json_is_object(st)) {
        return bad_policy(call, "a statement must be an object.");
    }
    const char *effect = json_string_value(json_object_get(st, "Effect"));
    if (effect == NULL || (strcmp(effect, "Allow") != 0 && strcmp(effect, "Deny") != 0)) {
        return bad_policy(call, "Effect must be Allow or Deny.");
    }
    json_t *action = json_object_get(st, "Action");
    json_t *not_action = json_object_get(st, "NotAction");
    if ((action == NULL) == (not_action == NULL) ||
        !strings_ok(action != NULL ? action : not_action)) {
        return bad_policy(call, "a statement must have one of Action and NotAction.");
    }
    json_t *principal = json_object_get(st, "Principal");
    json_t *not_principal = json_object_get(st, "NotPrincipal");
    if ((principal == NULL) == (not_principal == NULL)) {
        return bad_policy(call, "a resource-based policy statement must have one of Principal "
                                "and NotPrincipal.");
    }
    return 0;
}

/* Checks text as a policy document (see the top). */
static int check_policy(struct api_call *call, const char *text)
{
    size_t len = strlen(text);
    if (len > KIN_POLICY_MAX_BYTES) {
        return err_set(&call->err, SL_E(LIMIT_EXCEEDED),
                       "Policy size %zu bytes exceeds the maximum allowed size of %d bytes.", len,
                       KIN_POLICY_MAX_BYTES);
    }
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    int rc = 0;
    if (doc == NULL) {
        rc = bad_policy(call, "it is not valid JSON.");
    } else if (!json_is_object(doc)) {
        rc = bad_policy(call, "it must be a JSON object.");
    } else {
        json_t *version = json_object_get(doc, "Version");
        json_t *stmts = json_object_get(doc, "Statement");
        if (version != NULL &&
            (!json_is_string(version) || (strcmp(json_string_value(version), "2012-10-17") != 0 &&
                                          strcmp(json_string_value(version), "2008-10-17") != 0))) {
            rc = bad_policy(call, "Version must be 2012-10-17 or 2008-10-17.");
        } else if (json_is_object(stmts)) {
            rc = check_statement(call, stmts);
        } else if (!json_is_array(stmts) || json_array_size(stmts) == 0) {
            rc = bad_policy(call, "it must have a Statement.");
        } else {
            size_t i;
            json_t *st;
            json_array_foreach(stmts, i, st)
            {
                if (rc == 0) {
                    rc = check_statement(call, st);
                }
            }
        }
    }
    json_decref(doc);
    return rc;
}

int kin__put_resource_policy(struct api_call *call, json_t *in, json_t **out)
{
    (void)out;
    const char *arn, *policy;
    int rc;
    if ((rc = kin__get_string(call, in, "ResourceARN", 1, 1, 2048, &arn)) < 0 ||
        (rc = kin__get_string(call, in, "Policy", 1, 0, SIZE_MAX, &policy)) < 0) {
        return rc;
    }
    struct stream *s;
    char key[2400];
    if ((rc = resolve_resource(call, arn, &s, key, sizeof(key))) < 0) {
        return rc;
    }
    if ((rc = check_policy(call, policy)) == 0) {
        struct store *st = stream_service_store(call->service_ctx);
        store_lock(st);
        rc = store_run(st,
                       "INSERT INTO kinesis_policies(stream_id, seq_tag, arn, policy)"
                       " VALUES(?,?,?,?) ON CONFLICT(stream_id, seq_tag, arn)"
                       " DO UPDATE SET policy=excluded.policy",
                       "iiss", stream_id(s), (int64_t)stream_seq_tag(s), key, policy);
        store_unlock(st);
        if (rc < 0) {
            rc = err_set(&call->err, rc, "Internal service failure.");
        }
    }
    stream_release(s);
    return rc;
}

int kin__get_resource_policy(struct api_call *call, json_t *in, json_t **out)
{
    const char *arn;
    int rc = kin__get_string(call, in, "ResourceARN", 1, 1, 2048, &arn);
    if (rc < 0) {
        return rc;
    }
    struct stream *s;
    char key[2400];
    if ((rc = resolve_resource(call, arn, &s, key, sizeof(key))) < 0) {
        return rc;
    }
    struct store *st = stream_service_store(call->service_ctx);
    store_read_begin(st);
    struct store_stmt *q = store_prepare_args(
        st, "SELECT policy FROM kinesis_policies WHERE stream_id=? AND seq_tag=? AND arn=?", "iis",
        stream_id(s), (int64_t)stream_seq_tag(s), key);
    rc = q == NULL ? SL_E(IO) : store_step(q);
    /* A resource with no policy answers an empty document, as AWS does. */
    if (rc >= 0) {
        *out = json_pack("{s:s}", "Policy", rc == 1 ? store_col_text(q, 0) : "{}");
        rc = 0;
    } else {
        rc = err_set(&call->err, rc, "Internal service failure.");
    }
    store_finalize(q);
    store_read_end(st);
    stream_release(s);
    return rc;
}

int kin__delete_resource_policy(struct api_call *call, json_t *in, json_t **out)
{
    (void)out;
    const char *arn;
    int rc = kin__get_string(call, in, "ResourceARN", 1, 1, 2048, &arn);
    if (rc < 0) {
        return rc;
    }
    struct stream *s;
    char key[2400];
    if ((rc = resolve_resource(call, arn, &s, key, sizeof(key))) < 0) {
        return rc;
    }
    struct store *st = stream_service_store(call->service_ctx);
    store_lock(st);
    rc = store_run(st, "DELETE FROM kinesis_policies WHERE stream_id=? AND seq_tag=? AND arn=?",
                   "iis", stream_id(s), (int64_t)stream_seq_tag(s), key);
    int deleted = rc >= 0 ? (int)store_changes(st) : 0;
    store_unlock(st);
    if (rc < 0) {
        rc = err_set(&call->err, rc, "Internal service failure.");
    } else if (!deleted) {
        rc = err_set(&call->err, SL_E(RESOURCE_NOT_FOUND), "No resource policy found for %s.", arn);
    }
    stream_release(s);
    return rc;
}
