/*
 * Resources a request names only indirectly, for the authorization hook (authz.c):
 *
 *   Kinesis  GetRecords names its stream through the shard iterator, ListShards through
 *            its NextToken, Describe/DeregisterStreamConsumer may name the consumer by its
 *            stream's ARN and its name. AWS checks the stream (or consumer) ARN all the
 *            same, so the hook must find it.
 *   IAM      each action on the user, group, role or policy it names (Service
 *            Authorization Reference for IAM); listings of the account on "*".
 *   KMS      each action on the key ARN (an alias or alias ARN in KeyId resolved to its
 *            key); alias actions on the alias and on each key involved, as AWS documents.
 *
 * The service tables are read straight from the store (as authz.c reads resource
 * policies): the hook runs before the service and must not depend on it.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "core/mem.h"
#include "iam/iam_int.h"

/* ---- Kinesis ---- */

/* One text column of the first row of sql (args: fmt as store_prepare_args), into out. */
static int lookup_text(struct iam *iam, char *out, size_t size, const char *sql, const char *a,
                       const char *b)
{
    store_read_begin(iam->st);
    struct store_stmt *q = b != NULL ? store_prepare_args(iam->st, sql, "ss", a, b)
                                     : store_prepare_args(iam->st, sql, "s", a);
    int found = q != NULL && store_step(q) == 1 && store_col_text(q, 0) != NULL;
    if (found) {
        snprintf(out, size, "%s", store_col_text(q, 0));
    }
    store_finalize(q);
    store_read_end(iam->st);
    return found ? 0 : -1;
}

/*
 * An iterator is base64url(version 1 | stream id (8, little-endian) | ...) followed by
 * its MAC (the stream part's shardmath.c). The MAC is the service's to check: a forged
 * iterator is refused there, so the stream id read here is either genuine or the call
 * fails anyway.
 */
static int iterator_stream(struct iam *iam, const char *it, char *arn, size_t size)
{
    size_t len = strlen(it);
    if (len < 12 || len > 256) {
        return -1;
    }
    uint8_t raw[BASE64_DECODED_MAX(256)];
    long n = base64url_decode(it, len, raw);
    if (n < 9 || raw[0] != 1) {
        return -1;
    }
    uint64_t id = 0;
    for (int i = 7; i >= 0; i--) {
        id = id << 8 | raw[1 + i];
    }
    char idtext[24];
    snprintf(idtext, sizeof(idtext), "%llu", (unsigned long long)id);
    return lookup_text(iam, arn, size, "SELECT arn FROM streams WHERE id = CAST(? AS INTEGER)",
                       idtext, NULL);
}

/* A ListShards token is base64url("<ms>\nshards\n<stream name>/...") and a 16-byte MAC
   (kinesis_api.c); the name is all the hook needs. */
static int token_stream(const char *token, char *name, size_t size)
{
    size_t len = strlen(token);
    if (len > 4096) {
        return -1;
    }
    uint8_t *raw = xmalloc(BASE64_DECODED_MAX(len) + 1);
    long n = base64url_decode(token, len, raw);
    int rc = -1;
    if (n > 16) {
        raw[n - 16] = '\0';
        const char *what = memchr(raw, '\n', (size_t)n - 16);
        if (what != NULL && strncmp(what + 1, "shards\n", 7) == 0) {
            const char *nm = what + 8;
            size_t nl = strcspn(nm, "/");
            if (nl > 0 && nm[nl] == '/' && nl < size) {
                memcpy(name, nm, nl);
                name[nl] = '\0';
                rc = 0;
            }
        }
    }
    free(raw);
    return rc;
}

void iam__kinesis_indirect(struct iam *iam, const char *operation, json_t *doc,
                           struct iam_action_input *in, struct iam_indirect *ind)
{
    json_t *v;
    if (strcmp(operation, "GetRecords") == 0) {
        v = json_object_get(doc, "ShardIterator");
        if (json_is_string(v) &&
            iterator_stream(iam, json_string_value(v), ind->stream_arn,
                            sizeof(ind->stream_arn)) == 0) {
            in->stream_arn = ind->stream_arn;
        }
    } else if (strcmp(operation, "ListShards") == 0 && in->stream_name == NULL &&
               in->stream_arn == NULL) {
        v = json_object_get(doc, "NextToken");
        if (json_is_string(v) &&
            token_stream(json_string_value(v), ind->stream_name, sizeof(ind->stream_name)) == 0) {
            in->stream_name = ind->stream_name;
        }
    } else if ((strcmp(operation, "DescribeStreamConsumer") == 0 ||
                strcmp(operation, "DeregisterStreamConsumer") == 0) &&
               in->consumer_arn == NULL && in->stream_arn != NULL) {
        v = json_object_get(doc, "ConsumerName");
        if (!json_is_string(v)) {
            return;
        }
        /* the consumer's ARN ends in its creation second */
        char created[32];
        if (lookup_text(iam, created, sizeof(created),
                        "SELECT CAST(c.created_ms / 1000 AS TEXT) FROM kinesis_consumers c"
                        " JOIN streams s ON s.id = c.stream_id AND s.seq_tag = c.seq_tag"
                        " WHERE s.arn = ? AND c.name = ?",
                        in->stream_arn, json_string_value(v)) == 0) {
            snprintf(ind->consumer_arn, sizeof(ind->consumer_arn), "%s/consumer/%s:%s",
                     in->stream_arn, json_string_value(v), created);
            in->consumer_arn = ind->consumer_arn;
        }
    }
}

/* ---- IAM ---- */

static void one_check(struct iam_action *act, const char *action, const char *const *res,
                      size_t n)
{
    struct iam_action_check *c = &act->checks[act->n_checks++];
    snprintf(c->action, sizeof(c->action), "%s", action);
    c->n_resources = n;
    for (size_t i = 0; i < n; i++) {
        snprintf(c->resources[i], IAM_ARN_MAX, "%s", res[i]);
        c->resource_ptrs[i] = c->resources[i];
    }
}

/* arn:aws:iam::ACCOUNT:<kind><path><name>, the path from the store, else from the
   request (creations), else "/". */
static void entity_arn(struct iam *iam, const char *kind, const char *table, const char *name,
                       const char *path, char *out, size_t size)
{
    char sql[80], stored[520];
    snprintf(sql, sizeof(sql), "SELECT path FROM %s WHERE name = ?", table);
    if (lookup_text(iam, stored, sizeof(stored), sql, name, NULL) == 0) {
        path = stored;
    }
    snprintf(out, size, "arn:aws:iam::%s:%s%s%s", iam->account_id, kind,
             path != NULL && path[0] == '/' ? path : "/", name);
}

/* Operations about the calling user when they name none (AWS: "the user making the
   request"). */
static int acts_on_self(const char *op)
{
    static const char *const ops[] = {
        "GetUser",         "CreateAccessKey",  "ListAccessKeys",
        "UpdateAccessKey", "DeleteAccessKey",  "ListUserTags",
        "TagUser",         "UntagUser",        "ListGroupsForUser",
        "ListUserPolicies", "ListAttachedUserPolicies",
    };
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (strcmp(op, ops[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

void iam__iam_action(struct iam *iam, const struct api_request *req, const char *op,
                     const struct api_params *p, struct iam_action *act)
{
    char arn[IAM_ARN_MAX] = "*", action[64];
    snprintf(action, sizeof(action), "iam:%s", op);
    const char *g = p != NULL ? api_params_get(p, "GroupName") : NULL;
    const char *r = p != NULL ? api_params_get(p, "RoleName") : NULL;
    const char *u = p != NULL ? api_params_get(p, "UserName") : NULL;
    const char *pa = p != NULL ? api_params_get(p, "PolicyArn") : NULL;
    const char *path = p != NULL ? api_params_get(p, "Path") : NULL;
    int listing = strncmp(op, "List", 4) == 0 && strcmp(op, "ListEntitiesForPolicy") != 0 &&
                  strcmp(op, "ListPolicyVersions") != 0 && strcmp(op, "ListPolicyTags") != 0;
    if (g != NULL && g[0] != '\0') {
        entity_arn(iam, "group", "iam_group", g, path, arn, sizeof(arn));
    } else if (r != NULL && r[0] != '\0') {
        entity_arn(iam, "role", "iam_role", r, path, arn, sizeof(arn));
    } else if (u != NULL && u[0] != '\0') {
        entity_arn(iam, "user", "iam_user", u, path, arn, sizeof(arn));
    } else if (pa != NULL && pa[0] != '\0' && !listing) {
        snprintf(arn, sizeof(arn), "%s", pa);
    } else if (strcmp(op, "CreatePolicy") == 0 && api_params_get(p, "PolicyName") != NULL) {
        snprintf(arn, sizeof(arn), "arn:aws:iam::%s:policy%s%s", iam->account_id,
                 path != NULL && path[0] == '/' ? path : "/", api_params_get(p, "PolicyName"));
    } else if (strcmp(op, "GetAccessKeyLastUsed") == 0 && p != NULL &&
               api_params_get(p, "AccessKeyId") != NULL) {
        char user[160];
        if (lookup_text(iam, user, sizeof(user), "SELECT user_name FROM iam_key WHERE key_id = ?",
                        api_params_get(p, "AccessKeyId"), NULL) == 0) {
            entity_arn(iam, "user", "iam_user", user, NULL, arn, sizeof(arn));
        }
    } else if (acts_on_self(op) && req->principal_kind == HTTP_PRINCIPAL_USER) {
        snprintf(arn, sizeof(arn), "%s", req->principal_arn);
    }
    const char *res[1] = {arn};
    act->n_checks = 0;
    one_check(act, action, res, 1);
    /* a rename needs the action on the new name (and path) too, as IAM documents */
    const char *renamed = p == NULL                        ? NULL
                          : strcmp(op, "UpdateGroup") == 0 ? api_params_get(p, "NewGroupName")
                          : strcmp(op, "UpdateUser") == 0  ? api_params_get(p, "NewUserName")
                                                           : NULL;
    const char *slash = strrchr(arn, '/');
    if (renamed != NULL && renamed[0] != '\0' && slash != NULL &&
        act->n_checks < IAM_ACTION_MAX_CHECKS) {
        const char *new_path = api_params_get(p, "NewPath");
        const char *kind = strstr(arn, ":group/") != NULL ? ":group" : ":user";
        char to[IAM_ARN_MAX];
        if (new_path != NULL && new_path[0] == '/') {
            snprintf(to, sizeof(to), "arn:aws:iam::%s%s%s%s", iam->account_id, kind, new_path,
                     renamed);
        } else {
            snprintf(to, sizeof(to), "%.*s%s", (int)(slash + 1 - arn), arn, renamed);
        }
        const char *res2[1] = {to};
        one_check(act, action, res2, 1);
    }
}

/* ---- KMS ---- */

/* The key ARN that id (key id, key ARN, alias name or alias ARN) stands for; -1 when no
   such key or alias. */
static int kms_key_arn(struct iam *iam, const struct api_request *req, const char *id, char *out,
                       size_t size)
{
    const char *alias = NULL;
    if (strncmp(id, "alias/", 6) == 0) {
        alias = id;
    } else if (strncmp(id, "arn:", 4) == 0) {
        const char *a = strstr(id, ":alias/");
        const char *k = strstr(id, ":key/");
        if (a != NULL) {
            alias = a + 1;
        } else if (k != NULL) {
            id = k + 5;
        } else {
            return -1;
        }
    }
    char key_id[80];
    if (alias != NULL) {
        if (lookup_text(iam, key_id, sizeof(key_id),
                        "SELECT key_id FROM kms_aliases WHERE name = ? AND region = ?", alias,
                        req->region) != 0) {
            return -1;
        }
        id = key_id;
    }
    char region[64];
    if (lookup_text(iam, region, sizeof(region), "SELECT region FROM kms_keys WHERE key_id = ?",
                    id, NULL) != 0) {
        return -1;
    }
    snprintf(out, size, "arn:aws:kms:%s:%s:key/%s", region, iam->account_id, id);
    return 0;
}

/* The key a ciphertext blob names: version 1 | key id (36) | ... (kms.h). */
static int blob_key(json_t *doc, const char *member, char *out, size_t size)
{
    json_t *v = json_object_get(doc, member);
    if (!json_is_string(v) || json_string_length(v) < 52) {
        return -1;
    }
    uint8_t raw[48];
    if (base64_decode(json_string_value(v), 52, raw) < 37 || raw[0] != 1) {
        return -1;
    }
    snprintf(out, size, "%.36s", (const char *)raw + 1);
    return 0;
}

static const char *str_of(json_t *doc, const char *member)
{
    json_t *v = json_object_get(doc, member);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The key ARN for member's id, or the id itself when it resolves to nothing (the service
   then answers NotFoundException). */
static void key_or_id(struct iam *iam, const struct api_request *req, const char *id,
                      char *out, size_t size)
{
    if (kms_key_arn(iam, req, id, out, size) != 0) {
        snprintf(out, size, "%s", id);
    }
}

void iam__kms_action(struct iam *iam, const struct api_request *req, const char *op, json_t *doc,
                     struct iam_action *act)
{
    char action[64], a[IAM_ARN_MAX] = "*", b[IAM_ARN_MAX] = "", alias[IAM_ARN_MAX] = "";
    snprintf(action, sizeof(action), "kms:%s", op);
    act->n_checks = 0;
    const char *key = str_of(doc, "KeyId");
    const char *name = str_of(doc, "AliasName");
    if (name != NULL) {
        snprintf(alias, sizeof(alias), "arn:aws:kms:%s:%s:%s", req->region, iam->account_id,
                 name);
    }
    if (strcmp(op, "CreateAlias") == 0 || strcmp(op, "UpdateAlias") == 0) {
        /* the alias, the key it points to now (UpdateAlias) and the target key */
        const char *tk = str_of(doc, "TargetKeyId");
        const char *res[1] = {alias};
        if (alias[0] != '\0') {
            one_check(act, action, res, 1);
        }
        if (strcmp(op, "UpdateAlias") == 0 && name != NULL && kms_key_arn(iam, req, name, b, sizeof(b)) == 0) {
            res[0] = b;
            one_check(act, action, res, 1);
        }
        if (tk != NULL) {
            key_or_id(iam, req, tk, a, sizeof(a));
            res[0] = a;
            one_check(act, action, res, 1);
        }
        if (act->n_checks == 0) {
            res[0] = "*";
            one_check(act, action, res, 1);
        }
        return;
    }
    if (strcmp(op, "DeleteAlias") == 0) {
        const char *res[1] = {alias[0] != '\0' ? alias : "*"};
        one_check(act, action, res, 1);
        if (name != NULL && kms_key_arn(iam, req, name, b, sizeof(b)) == 0) {
            res[0] = b;
            one_check(act, action, res, 1);
        }
        return;
    }
    if (strcmp(op, "ReEncrypt") == 0) {
        /* kms:ReEncryptFrom on the source key, kms:ReEncryptTo on the destination */
        char id[40];
        const char *src = str_of(doc, "SourceKeyId");
        if (src != NULL) {
            key_or_id(iam, req, src, a, sizeof(a));
        } else if (blob_key(doc, "CiphertextBlob", id, sizeof(id)) == 0) {
            key_or_id(iam, req, id, a, sizeof(a));
        }
        const char *res[1] = {a};
        one_check(act, "kms:ReEncryptFrom", res, 1);
        const char *dst = str_of(doc, "DestinationKeyId");
        snprintf(b, sizeof(b), "*");
        if (dst != NULL) {
            key_or_id(iam, req, dst, b, sizeof(b));
        }
        res[0] = b;
        one_check(act, "kms:ReEncryptTo", res, 1);
        return;
    }
    if (strcmp(op, "Decrypt") == 0 && key == NULL) {
        char id[40];
        if (blob_key(doc, "CiphertextBlob", id, sizeof(id)) == 0) {
            key_or_id(iam, req, id, a, sizeof(a));
        }
    } else if (key != NULL && strcmp(op, "ListAliases") != 0) {
        key_or_id(iam, req, key, a, sizeof(a));
    }
    const char *res[1] = {a};
    one_check(act, action, res, 1);
}
