#include "iam/sts_api.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/mem.h"
#include "iam/iam_int.h"

static void put_text(struct buf *b, const char *tag, const char *v)
{
    buf_printf(b, "<%s>", tag);
    buf_xml_escape(b, v, strlen(v));
    buf_printf(b, "</%s>", tag);
}

static int get_caller_identity(struct api_call *call, const struct api_params *params,
                               struct buf *result)
{
    (void)params;
    const struct api_request *req = call->req;
    if (req->principal_arn == NULL || req->principal_arn[0] == '\0') {
        /* The root user's UserId is its account id; its ARN the account's root. */
        put_text(result, "UserId", req->account_id);
        put_text(result, "Account", req->account_id);
        buf_puts(result, "<Arn>arn:aws:iam::");
        buf_xml_escape(result, req->account_id, strlen(req->account_id));
        buf_puts(result, ":root</Arn>");
        return buf_status(result);
    }
    put_text(result, "UserId", req->principal_id);
    put_text(result, "Account", req->account_id);
    put_text(result, "Arn", req->principal_arn);
    return buf_status(result);
}

static int validation(struct api_call *call, const char *value, const char *member,
                      const char *constraint)
{
    return err_set(&call->err, SL_E(VALIDATION),
                   "1 validation error detected: Value '%.200s' at '%s' failed to satisfy "
                   "constraint: %s",
                   value, member, constraint);
}

/* DurationSeconds within [lo, hi], default dflt. */
static int duration_param(struct api_call *call, const struct api_params *p, int64_t lo, int64_t hi,
                          int64_t dflt, int64_t *out)
{
    const char *v = api_params_get(p, "DurationSeconds");
    *out = dflt;
    if (v == NULL) {
        return 0;
    }
    char *end;
    long long n = strtoll(v, &end, 10);
    if (*end != '\0' || n < lo) {
        return validation(call, v, "durationSeconds",
                          "Member must have value greater than or equal to 900");
    }
    if (n > hi) {
        char c[80];
        snprintf(c, sizeof(c), "Member must have value less than or equal to %lld", (long long)hi);
        return validation(call, v, "durationSeconds", c);
    }
    *out = n;
    return 0;
}

static void put_credentials(struct buf *b, const struct iam_session_creds *c)
{
    buf_puts(b, "<Credentials>");
    put_text(b, "AccessKeyId", c->key_id);
    put_text(b, "SecretAccessKey", c->secret);
    put_text(b, "SessionToken", c->token);
    char iso[32];
    clock_format_iso8601(c->expires_ms, iso);
    iso[19] = 'Z';
    iso[20] = '\0';
    put_text(b, "Expiration", iso);
    buf_puts(b, "</Credentials>");
}

static int session_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n > 64) {
        return 0;
    }
    for (; *s != '\0'; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("_+=,.@-", *s) != NULL)) {
            return 0;
        }
    }
    return 1;
}

struct role_row {
    char name[130], id[32], path[520];
    char *trust;
    int64_t max_session;
};

/* Finds the role an ARN of this account names. 0, or SL_E(IAM_NO_SUCH_ENTITY). */
static int find_role(struct iam *iam, const char *arn, struct role_row *out)
{
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "arn:aws:iam::%s:role/", iam->account_id);
    size_t n = strlen(prefix);
    if (strncmp(arn, prefix, n - 1) != 0) {
        return SL_E(IAM_NO_SUCH_ENTITY);
    }
    const char *slash = strrchr(arn + n - 1, '/');
    store_read_begin(iam->st);
    struct store_stmt *q = store_prepare_args(
        iam->st, "SELECT name, id, path, trust, max_session FROM iam_role WHERE name = ?", "s",
        slash + 1);
    int rc = SL_E(IAM_NO_SUCH_ENTITY);
    if (q != NULL && store_step(q) == 1) {
        char full[700];
        snprintf(full, sizeof(full), "arn:aws:iam::%s:role%s%s", iam->account_id,
                 store_col_text(q, 2), store_col_text(q, 0));
        if (strcmp(full, arn) == 0) {
            snprintf(out->name, sizeof(out->name), "%s", store_col_text(q, 0));
            snprintf(out->id, sizeof(out->id), "%s", store_col_text(q, 1));
            snprintf(out->path, sizeof(out->path), "%s", store_col_text(q, 2));
            out->trust = xstrdup(store_col_text(q, 3));
            out->max_session = store_col_int64(q, 4);
            rc = 0;
        }
    }
    store_finalize(q);
    store_read_end(iam->st);
    return rc;
}

static int assume_role(struct api_call *call, const struct api_params *p, struct buf *result)
{
    struct iam *iam = call->service_ctx;
    const struct api_request *req = call->req;
    const char *arn = api_params_get(p, "RoleArn");
    const char *session = api_params_get(p, "RoleSessionName");
    const char *policy = api_params_get(p, "Policy");
    if (arn == NULL || session == NULL) {
        return err_set(&call->err, SL_E(VALIDATION),
                       "1 validation error detected: Value null at '%s' failed to satisfy "
                       "constraint: Member must not be null",
                       arn == NULL ? "roleArn" : "roleSessionName");
    }
    if (strlen(arn) < 20 || strlen(arn) > 2048) {
        return validation(call, arn, "roleArn",
                          "Member must have length greater than or equal to 20");
    }
    if (!session_name_ok(session)) {
        return validation(call, session, "roleSessionName",
                          "Member must satisfy regular expression pattern: [\\w+=,.@-]*");
    }
    int64_t duration;
    int rc = duration_param(call, p, 900, 43200, 3600, &duration);
    if (rc < 0 ||
        (policy != NULL && (rc = iam__policydoc_check(policy, IAM_DOC_SESSION, &call->err)) < 0)) {
        return rc;
    }
    if (req->principal_kind == HTTP_PRINCIPAL_ROOT) {
        return err_set(&call->err, SL_E(ACCESS_DENIED),
                       "Roles may not be assumed by root accounts.");
    }
    struct role_row role = {0};
    rc = find_role(iam, arn, &role);
    if (rc < 0 || !iam__trust_allows(role.trust, req->principal_arn, iam->account_id)) {
        free(role.trust);
        return err_set(&call->err, SL_E(ACCESS_DENIED),
                       "User: %s is not authorized to perform: sts:AssumeRole on resource: %s",
                       req->principal_arn, arn);
    }
    free(role.trust);
    if (duration > role.max_session) {
        return err_set(&call->err, SL_E(VALIDATION),
                       "The requested DurationSeconds exceeds the MaxSessionDuration set for "
                       "this role.");
    }
    struct http_principal who = {.kind = HTTP_PRINCIPAL_ASSUMED_ROLE};
    snprintf(who.account, sizeof(who.account), "%s", iam->account_id);
    snprintf(who.arn, sizeof(who.arn), "arn:aws:sts::%s:assumed-role/%s/%s", iam->account_id,
             role.name, session);
    snprintf(who.id, sizeof(who.id), "%s:%s", role.id, session);
    snprintf(who.name, sizeof(who.name), "%s", role.name);
    struct iam_session_creds creds;
    rc = iam_session_create(iam, &who, duration, policy, req->now_ms, &creds);
    if (rc < 0) {
        return err_set(&call->err, rc, "%s", "");
    }
    put_credentials(result, &creds);
    buf_puts(result, "<AssumedRoleUser>");
    put_text(result, "AssumedRoleId", who.id);
    put_text(result, "Arn", who.arn);
    buf_puts(result, "</AssumedRoleUser>");
    if (policy != NULL) {
        /* The share of the session policy limit used, in percent, rounded up. */
        size_t used = 0;
        for (const char *c = policy; *c != '\0'; c++) {
            used += !isspace((unsigned char)*c);
        }
        buf_printf(result, "<PackedPolicySize>%zu</PackedPolicySize>", (used * 100 + 2047) / 2048);
    }
    explicit_bzero(&creds, sizeof(creds));
    return buf_status(result);
}

static int get_session_token(struct api_call *call, const struct api_params *p, struct buf *result)
{
    struct iam *iam = call->service_ctx;
    const struct api_request *req = call->req;
    if (req->principal_kind == HTTP_PRINCIPAL_ASSUMED_ROLE ||
        strncmp(req->access_key_id, "ASIA", 4) == 0) {
        return err_set(&call->err, SL_E(ACCESS_DENIED),
                       "Cannot call GetSessionToken with session credentials");
    }
    int64_t duration;
    int rc =
        duration_param(call, p, 900, req->principal_kind == HTTP_PRINCIPAL_ROOT ? 3600 : 129600,
                       req->principal_kind == HTTP_PRINCIPAL_ROOT ? 3600 : 43200, &duration);
    if (rc < 0) {
        return rc;
    }
    /* The session speaks as the user (or root) that asked for it. */
    struct http_principal who = {.kind = (enum http_principal_kind)req->principal_kind};
    snprintf(who.account, sizeof(who.account), "%s", iam->account_id);
    snprintf(who.arn, sizeof(who.arn), "%s", req->principal_arn);
    snprintf(who.id, sizeof(who.id), "%s", req->principal_id);
    snprintf(who.name, sizeof(who.name), "%s", req->principal_name);
    struct iam_session_creds creds;
    rc = iam_session_create(iam, &who, duration, NULL, req->now_ms, &creds);
    if (rc < 0) {
        return err_set(&call->err, rc, "%s", "");
    }
    put_credentials(result, &creds);
    explicit_bzero(&creds, sizeof(creds));
    return buf_status(result);
}

static int get_access_key_info(struct api_call *call, const struct api_params *p,
                               struct buf *result)
{
    struct iam *iam = call->service_ctx;
    const char *key = api_params_get(p, "AccessKeyId");
    if (key == NULL || strlen(key) < 16 || strlen(key) > 128) {
        return validation(call, key ? key : "", "accessKeyId",
                          "Member must have length greater than or equal to 16");
    }
    /* Every key this server issues belongs to its one account. */
    put_text(result, "Account", iam->account_id);
    return buf_status(result);
}

static const struct api_query_op sts_ops[] = {
    {"GetCallerIdentity", get_caller_identity},
    {"AssumeRole", assume_role},
    {"GetSessionToken", get_session_token},
    {"GetAccessKeyInfo", get_access_key_info},
};

/* Every description is this one with its own ctx. */
static const struct api_query_service sts_template = {
    .signing_name = "sts",
    .xmlns = "https://sts.amazonaws.com/doc/2011-06-15/",
    .ops = sts_ops,
    .n_ops = sizeof(sts_ops) / sizeof(sts_ops[0]),
};

struct api_query_service *sts_api_create(struct iam *iam)
{
    struct api_query_service *desc = xmalloc(sizeof(*desc));
    *desc = sts_template;
    desc->ctx = iam;
    return desc;
}

void sts_api_destroy(struct api_query_service *desc)
{
    free(desc);
}
