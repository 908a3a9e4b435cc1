#include "iam/sts_api.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "core/clock.h"
#include "core/mem.h"
#include "core/text.h"
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

/* ---- session tags ---- */

#define SESSION_TAGS_MAX 50
#define PACKED_LIMIT 2048 /* characters of session policy and session tags together */

/* Characters (not bytes) of UTF-8 text. */
static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++) {
        n += ((unsigned char)*s & 0xC0) != 0x80;
    }
    return n;
}

/* STS's tag pattern [\p{L}\p{Z}\p{N}_.:/=+\-@]: ASCII letters, digits, space and those
   marks; any non-ASCII character of valid UTF-8 is taken for a letter. */
static int tag_text_ok(const char *s)
{
    if (!text_utf8_valid(s, strlen(s))) {
        return 0;
    }
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (!(c >= 0x80 || isalnum(c) || c == ' ' || strchr("_.:/=+-@", c) != NULL)) {
            return 0;
        }
    }
    return 1;
}

/* An AssumeRole's tags: those it passes, those it inherits as transitive from the calling
   session, and the keys it marks transitive. */
struct session_tags {
    size_t n;                             /* passed */
    const char *keys[SESSION_TAGS_MAX];   /* borrowed from the parameters */
    const char *values[SESSION_TAGS_MAX]; /* borrowed */
    size_t n_transitive;
    const char *transitive[SESSION_TAGS_MAX]; /* borrowed */
    json_t *inherited;                        /* the caller's transitive tags: key -> value */
    json_t *inherited_keys;                   /* their keys, a JSON array */
};

static void session_tags_fini(struct session_tags *t)
{
    json_decref(t->inherited);
    json_decref(t->inherited_keys);
}

static int list_too_long(struct api_call *call, const char *member)
{
    return err_set(&call->err, SL_E(VALIDATION),
                   "1 validation error detected: Value at '%s' failed to satisfy constraint: "
                   "Member must have length less than or equal to %d",
                   member, SESSION_TAGS_MAX);
}

/* Reads Tags.member.N and TransitiveTagKeys.member.N, checking them as STS's model does. */
static int read_tags(struct api_call *call, const struct api_params *p, struct session_tags *t)
{
    char name[48], member[48];
    for (int i = 1;; i++) {
        snprintf(name, sizeof(name), "Tags.member.%d.Key", i);
        const char *key = api_params_get(p, name);
        if (key == NULL) {
            break;
        }
        if (t->n == SESSION_TAGS_MAX) {
            return list_too_long(call, "tags");
        }
        snprintf(name, sizeof(name), "Tags.member.%d.Value", i);
        const char *value = api_params_get(p, name);
        if (value == NULL) {
            snprintf(member, sizeof(member), "tags.%d.member.value", i);
            return err_set(&call->err, SL_E(VALIDATION),
                           "1 validation error detected: Value null at '%s' failed to satisfy "
                           "constraint: Member must not be null",
                           member);
        }
        snprintf(member, sizeof(member), "tags.%d.member.key", i);
        if (utf8_len(key) < 1 || utf8_len(key) > 128) {
            return validation(call, key, member,
                              utf8_len(key) < 1
                                  ? "Member must have length greater than or equal to 1"
                                  : "Member must have length less than or equal to 128");
        }
        if (!tag_text_ok(key)) {
            return validation(call, key, member,
                              "Member must satisfy regular expression pattern: "
                              "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+");
        }
        snprintf(member, sizeof(member), "tags.%d.member.value", i);
        if (utf8_len(value) > 256) {
            return validation(call, value, member,
                              "Member must have length less than or equal to 256");
        }
        if (!tag_text_ok(value)) {
            return validation(call, value, member,
                              "Member must satisfy regular expression pattern: "
                              "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*");
        }
        for (size_t k = 0; k < t->n; k++) {
            if (strcasecmp(t->keys[k], key) == 0) {
                return err_set(&call->err, SL_E(VALIDATION),
                               "Duplicate tag keys found. Please note that Tag keys are case "
                               "insensitive.");
            }
        }
        t->keys[t->n] = key;
        t->values[t->n++] = value;
    }
    for (int i = 1;; i++) {
        snprintf(name, sizeof(name), "TransitiveTagKeys.member.%d", i);
        const char *key = api_params_get(p, name);
        if (key == NULL) {
            break;
        }
        if (t->n_transitive == SESSION_TAGS_MAX) {
            return list_too_long(call, "transitiveTagKeys");
        }
        if (utf8_len(key) < 1 || utf8_len(key) > 128) {
            return validation(call, key, "transitiveTagKeys.member",
                              "Member must have length less than or equal to 128");
        }
        t->transitive[t->n_transitive++] = key;
    }
    return 0;
}

/* The calling session's transitive tags (role chaining), which a tag passed again may
   not replace. */
static int inherit_tags(struct api_call *call, struct iam *iam, struct session_tags *t)
{
    const struct api_request *req = call->req;
    t->inherited = json_object();
    t->inherited_keys = json_array();
    if (req->principal_kind != HTTP_PRINCIPAL_ASSUMED_ROLE || req->access_key_id == NULL) {
        return 0;
    }
    store_read_begin(iam->st);
    struct store_stmt *q =
        store_prepare_args(iam->st, "SELECT tags, transitive FROM iam_session WHERE key_id = ?",
                           "s", req->access_key_id);
    json_t *tags = NULL, *keys = NULL;
    if (q != NULL && store_step(q) == 1 && store_col_text(q, 1) != NULL) {
        tags = json_loads(store_col_text(q, 0) != NULL ? store_col_text(q, 0) : "{}", 0, NULL);
        keys = json_loads(store_col_text(q, 1), 0, NULL);
    }
    store_finalize(q);
    store_read_end(iam->st);
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        json_t *v = json_object_get(tags, json_string_value(k));
        if (json_is_string(v)) {
            json_object_set(t->inherited, json_string_value(k), v);
            json_array_append(t->inherited_keys, k);
        }
    }
    json_decref(tags);
    json_decref(keys);
    for (size_t n = 0; n < t->n; n++) {
        const char *ik;
        json_t *iv;
        json_object_foreach(t->inherited, ik, iv)
        {
            if (strcasecmp(ik, t->keys[n]) == 0) {
                return err_set(&call->err, SL_E(VALIDATION),
                               "The session tag %s is transitive from the calling session and "
                               "cannot be passed again.",
                               t->keys[n]);
            }
        }
    }
    return 0;
}

/* The share of the packed limit the session policies (inline, and managed by ARN) and the
   passed tags use, in percent,
   rounded up (transitive keys take no room, as STS documents). */
static size_t packed_percent(const char *policy, const char *const *arns, int n_arns,
                             const struct session_tags *t)
{
    size_t used = 0;
    for (int i = 0; i < n_arns; i++) {
        used += strlen(arns[i]);
    }
    for (const char *c = policy != NULL ? policy : ""; *c != '\0'; c++) {
        used += !isspace((unsigned char)*c);
    }
    for (size_t i = 0; i < t->n; i++) {
        used += utf8_len(t->keys[i]) + utf8_len(t->values[i]);
    }
    return (used * 100 + PACKED_LIMIT - 1) / PACKED_LIMIT;
}

/* The AssumeRole's own condition keys: aws:RequestTag/<key> per tag, aws:TagKeys,
   sts:TransitiveTagKeys, sts:ExternalId, sts:RoleSessionName and sts:SourceIdentity.
   names holds the aws:RequestTag names (freed by the caller). */
static size_t request_keys(const struct session_tags *t, const char **external,
                           const char **session, const char **source, char **names,
                           struct iam_context_key *keys)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++) {
        names[i] = xasprintf("aws:RequestTag/%s", t->keys[i]);
        keys[n++] = (struct iam_context_key){names[i], &t->values[i], 1};
    }
    if (t->n > 0) {
        keys[n++] = (struct iam_context_key){"aws:TagKeys", t->keys, t->n};
    }
    if (t->n_transitive > 0) {
        keys[n++] =
            (struct iam_context_key){"sts:TransitiveTagKeys", t->transitive, t->n_transitive};
    }
    if (*external != NULL) {
        keys[n++] = (struct iam_context_key){"sts:ExternalId", external, 1};
    }
    keys[n++] = (struct iam_context_key){"sts:RoleSessionName", session, 1};
    if (*source != NULL) {
        keys[n++] = (struct iam_context_key){"sts:SourceIdentity", source, 1};
    }
    return n;
}

/* The role's tags as aws:ResourceTag/<key> and iam:ResourceTag/<key>, an inherited
   transitive tag's value in place of the role's own for the same key (role chaining, as
   IAM documents). Appends to keys and names (names freed by the caller); returns how many
   keys it added. */
static size_t resource_keys(struct iam *iam, const char *role, const struct session_tags *t,
                            char **names, const char **values, struct iam_context_key *keys)
{
    size_t n = 0;
    store_read_begin(iam->st);
    struct store_stmt *q = store_prepare_args(
        iam->st, "SELECT key, value FROM iam_tag WHERE kind = 'role' AND owner = ?", "s", role);
    while (q != NULL && store_step(q) == 1 && n < 2 * SESSION_TAGS_MAX) {
        const char *key = store_col_text(q, 0), *value = store_col_text(q, 1);
        const char *ik;
        json_t *iv;
        json_object_foreach(t->inherited, ik, iv)
        {
            if (strcasecmp(ik, key) == 0) {
                value = json_string_value(iv);
            }
        }
        values[n / 2] = xstrdup(value);
        names[n] = xasprintf("aws:ResourceTag/%s", key);
        keys[n] = (struct iam_context_key){names[n], &values[n / 2], 1};
        n++;
        names[n] = xasprintf("iam:ResourceTag/%s", key);
        keys[n] = (struct iam_context_key){names[n], &values[n / 2], 1};
        n++;
    }
    store_finalize(q);
    store_read_end(iam->st);
    return n;
}

/* The new session's tags (inherited, then passed) and transitive keys (inherited, then
   those marked that name a passed tag), as stored; NULL for none. */
static void stored_tags(const struct session_tags *t, char **tags_out, char **keys_out)
{
    json_t *tags = json_deep_copy(t->inherited), *keys = json_deep_copy(t->inherited_keys);
    for (size_t i = 0; i < t->n; i++) {
        json_object_set_new(tags, t->keys[i], json_string(t->values[i]));
    }
    for (size_t i = 0; i < t->n_transitive; i++) {
        for (size_t k = 0; k < t->n; k++) {
            if (strcasecmp(t->transitive[i], t->keys[k]) == 0) {
                json_array_append_new(keys, json_string(t->keys[k]));
                break;
            }
        }
    }
    *tags_out = json_object_size(tags) > 0 ? json_dumps(tags, JSON_COMPACT) : NULL;
    *keys_out = json_array_size(keys) > 0 ? json_dumps(keys, JSON_COMPACT) : NULL;
    json_decref(tags);
    json_decref(keys);
}

/* SerialNumber and TokenCode: no MFA device is ever associated with a user here, so a
   code given cannot be validated. */
static int mfa_given(const struct api_params *p)
{
    return api_params_get(p, "SerialNumber") != NULL || api_params_get(p, "TokenCode") != NULL;
}

static int mfa_refused(struct api_call *call)
{
    return err_set(&call->err, SL_E(ACCESS_DENIED),
                   "MultiFactorAuthentication failed, unable to validate MFA code. Please verify "
                   "your MFA serial number is valid and associated with this user.");
}

#define POLICY_ARNS_MAX 10

/* Reads PolicyArns.member.N.arn into arns (borrowed), checking each names a managed
   policy (the account's or AWS's); returns how many, or an error. */
static int read_policy_arns(struct api_call *call, struct iam *iam, const struct api_params *p,
                            const char **arns)
{
    int n = 0;
    char name[48];
    for (int i = 1;; i++) {
        snprintf(name, sizeof(name), "PolicyArns.member.%d.arn", i);
        const char *arn = api_params_get(p, name);
        if (arn == NULL) {
            break;
        }
        if (n == POLICY_ARNS_MAX) {
            return err_set(&call->err, SL_E(VALIDATION),
                           "1 validation error detected: Value at 'policyArns' failed to satisfy "
                           "constraint: Member must have length less than or equal to %d",
                           POLICY_ARNS_MAX);
        }
        if (strlen(arn) < 20 || strlen(arn) > 2048) {
            return validation(call, arn, "policyArns.member.arn",
                              strlen(arn) < 20
                                  ? "Member must have length greater than or equal to 20"
                                  : "Member must have length less than or equal to 2048");
        }
        arns[n++] = arn;
    }
    store_read_begin(iam->st);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        struct store_stmt *q =
            store_prepare_args(iam->st, "SELECT 1 FROM iam_policy WHERE arn = ?", "s", arns[i]);
        if (q == NULL || store_step(q) != 1) {
            rc = err_set(&call->err, SL_E(VALIDATION),
                         "Policy %s does not exist or is not attachable.", arns[i]);
        }
        store_finalize(q);
    }
    store_read_end(iam->st);
    return rc < 0 ? rc : n;
}

/* The source identity the new session carries: the one passed, or the calling session's,
   which no later session may change. *out is malloc'd or NULL. */
static int source_identity(struct api_call *call, struct iam *iam, const char *passed, char **out)
{
    const struct api_request *req = call->req;
    *out = NULL;
    if (passed != NULL && (strlen(passed) < 2 || strlen(passed) > 64)) {
        return validation(call, passed, "sourceIdentity",
                          strlen(passed) < 2 ? "Member must have length greater than or equal to 2"
                                             : "Member must have length less than or equal to 64");
    }
    if (passed != NULL && !session_name_ok(passed)) {
        return validation(call, passed, "sourceIdentity",
                          "Member must satisfy regular expression pattern: [\\w+=,.@-]*");
    }
    char *held = req->principal_kind == HTTP_PRINCIPAL_ASSUMED_ROLE && req->access_key_id != NULL
                     ? iam__session_source_identity(iam, req->access_key_id)
                     : NULL;
    if (held != NULL && passed != NULL && strcmp(held, passed) != 0) {
        free(held);
        return err_set(&call->err, SL_E(VALIDATION),
                       "The source identity is already set for this assume role session");
    }
    *out = held != NULL ? held : passed != NULL ? xstrdup(passed) : NULL;
    return 0;
}

static int assume_role(struct api_call *call, const struct api_params *p, struct buf *result)
{
    struct iam *iam = call->service_ctx;
    const struct api_request *req = call->req;
    const char *arn = api_params_get(p, "RoleArn");
    const char *session = api_params_get(p, "RoleSessionName");
    const char *policy = api_params_get(p, "Policy");
    const char *external = api_params_get(p, "ExternalId");
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
    if (external != NULL && (strlen(external) < 2 || strlen(external) > 1224)) {
        return validation(call, external, "externalId",
                          strlen(external) < 2
                              ? "Member must have length greater than or equal to 2"
                              : "Member must have length less than or equal to 1224");
    }
    struct session_tags tags = {0};
    if ((rc = read_tags(call, p, &tags)) < 0) {
        return rc;
    }
    const char *arns[POLICY_ARNS_MAX];
    int n_arns = read_policy_arns(call, iam, p, arns);
    if (n_arns < 0) {
        return n_arns;
    }
    size_t packed = packed_percent(policy, arns, n_arns, &tags);
    if (packed > 100) {
        return err_set(&call->err, SL_E(STS_PACKED_POLICY_TOO_LARGE),
                       "Packed policy consumes %zu%% of allotted space", packed);
    }
    if (req->principal_kind == HTTP_PRINCIPAL_ROOT) {
        return err_set(&call->err, SL_E(ACCESS_DENIED),
                       "Roles may not be assumed by root accounts.");
    }
    char *source;
    if ((rc = source_identity(call, iam, api_params_get(p, "SourceIdentity"), &source)) < 0) {
        return rc;
    }
    if ((rc = inherit_tags(call, iam, &tags)) < 0) {
        session_tags_fini(&tags);
        free(source);
        return rc;
    }
    struct role_row role = {0};
    rc = find_role(iam, arn, &role);
    char *names[SESSION_TAGS_MAX], *rnames[2 * SESSION_TAGS_MAX];
    const char *rvalues[SESSION_TAGS_MAX];
    struct iam_context_key keys[3 * SESSION_TAGS_MAX + 5];
    const char *source_c = source;
    size_t nk = request_keys(&tags, &external, &session, &source_c, names, keys);
    size_t nr = rc == 0 ? resource_keys(iam, role.name, &tags, rnames, rvalues, keys + nk) : 0;
    nk += nr;
    /* A source identity, passed or carried, needs sts:SetSourceIdentity, asked first (AWS
       names it when the trust's conditions refuse the value); passing tags needs
       sts:TagSession. */
    const char *denied = NULL;
    if (rc == 0 && source != NULL &&
        !iam__trust_decide(iam, req, role.trust, arn, "sts:SetSourceIdentity", keys, nk)) {
        denied = "sts:SetSourceIdentity";
    } else if (rc < 0 ||
               !iam__trust_decide(iam, req, role.trust, arn, "sts:AssumeRole", keys, nk)) {
        denied = "sts:AssumeRole";
    } else if (tags.n > 0 &&
               !iam__trust_decide(iam, req, role.trust, arn, "sts:TagSession", keys, nk)) {
        denied = "sts:TagSession";
    }
    for (size_t i = 0; i < tags.n; i++) {
        free(names[i]);
    }
    for (size_t i = 0; i < nr; i++) {
        free(rnames[i]);
    }
    for (size_t i = 0; i < nr / 2; i++) {
        free((char *)rvalues[i]);
    }
    free(role.trust);
    if (denied != NULL) {
        rc = err_set(&call->err, SL_E(ACCESS_DENIED),
                     "User: %s is not authorized to perform: %s on resource: %s",
                     req->principal_arn, denied, arn);
    } else if (mfa_given(p)) {
        rc = mfa_refused(call);
    } else if (duration > role.max_session) {
        rc = err_set(&call->err, SL_E(VALIDATION),
                     "The requested DurationSeconds exceeds the MaxSessionDuration set for "
                     "this role.");
    } else if (req->principal_kind == HTTP_PRINCIPAL_ASSUMED_ROLE && duration > 3600) {
        /* role chaining: a session started by a session lasts an hour at most (checked
           after the role's own maximum, as AWS does) */
        rc = err_set(&call->err, SL_E(VALIDATION),
                     "The requested DurationSeconds exceeds the 1 hour session limit for roles "
                     "assumed by role chaining.");
    }
    if (rc < 0) {
        session_tags_fini(&tags);
        free(source);
        return rc;
    }
    struct http_principal who = {.kind = HTTP_PRINCIPAL_ASSUMED_ROLE};
    snprintf(who.account, sizeof(who.account), "%s", iam->account_id);
    snprintf(who.arn, sizeof(who.arn), "arn:aws:sts::%s:assumed-role/%s/%s", iam->account_id,
             role.name, session);
    snprintf(who.id, sizeof(who.id), "%s:%s", role.id, session);
    snprintf(who.name, sizeof(who.name), "%s", role.name);
    char *tags_text, *transitive_text, *arns_text = NULL;
    stored_tags(&tags, &tags_text, &transitive_text);
    if (n_arns > 0) {
        json_t *a = json_array();
        for (int i = 0; i < n_arns; i++) {
            json_array_append_new(a, json_string(arns[i]));
        }
        arns_text = json_dumps(a, JSON_COMPACT);
        json_decref(a);
    }
    struct iam_session_attrs attrs = {.policy = policy,
                                      .policy_arns = arns_text,
                                      .tags = tags_text,
                                      .transitive = transitive_text,
                                      .source_identity = source};
    struct iam_session_creds creds;
    rc = iam__session_create_attrs(iam, &who, duration, &attrs, req->now_ms, &creds);
    free(tags_text);
    free(transitive_text);
    free(arns_text);
    if (rc < 0) {
        session_tags_fini(&tags);
        free(source);
        return err_set(&call->err, rc, "%s", "");
    }
    put_credentials(result, &creds);
    buf_puts(result, "<AssumedRoleUser>");
    put_text(result, "AssumedRoleId", who.id);
    put_text(result, "Arn", who.arn);
    buf_puts(result, "</AssumedRoleUser>");
    if (policy != NULL || n_arns > 0 || tags.n > 0) {
        buf_printf(result, "<PackedPolicySize>%zu</PackedPolicySize>", packed);
    }
    if (source != NULL) {
        put_text(result, "SourceIdentity", source);
    }
    session_tags_fini(&tags);
    free(source);
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
    if (mfa_given(p)) {
        return mfa_refused(call);
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
