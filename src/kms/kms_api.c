/*
 * The KMS API adapter: awsJson1_1 operations (X-Amz-Target "TrentService.<Op>") on the
 * key store. Blobs travel base64 in JSON; dates are epoch seconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "core/mem.h"
#include "http/api.h"
#include "kms/kms_int.h"

#define CTX_MAX 64

struct op {
    struct api_call *call;
    struct kms *k;
    struct kms_scope sc;
    int64_t now;
    json_t *in;
};

static struct op op_of(struct api_call *call, json_t *in)
{
    return (struct op){.call = call,
                       .k = call->service_ctx,
                       .sc = {.region = call->req->region, .account = call->req->account_id},
                       .now = call->req->now_ms,
                       .in = in};
}

static struct err_info *E(struct op *o)
{
    return &o->call->err;
}

static const char *str(struct op *o, const char *member)
{
    return json_string_value(json_object_get(o->in, member));
}

static int missing(struct op *o, const char *member)
{
    char lower[64];
    snprintf(lower, sizeof(lower), "%s", member);
    lower[0] = (char)(lower[0] - 'A' + 'a');
    return err_set(E(o), SL_E(VALIDATION),
                   "1 validation error detected: Value null at '%s' failed to satisfy "
                   "constraint: Member must not be null",
                   lower);
}

/* The required string member, or NULL after setting the error. */
static const char *need(struct op *o, const char *member)
{
    const char *v = str(o, member);
    if (v == NULL || v[0] == '\0') {
        missing(o, member);
    }
    return v && v[0] ? v : NULL;
}

static void set_date(json_t *obj, const char *name, int64_t ms)
{
    json_object_set_new(obj, name, json_real((double)ms / 1000.0));
}

static json_t *metadata(const struct kms_key *key)
{
    json_t *m = json_object();
    json_object_set_new(m, "AWSAccountId", json_string(key->account));
    json_object_set_new(m, "KeyId", json_string(key->id));
    json_object_set_new(m, "Arn", json_string(key->arn));
    set_date(m, "CreationDate", key->created_ms);
    json_object_set_new(m, "Enabled", json_boolean(key->state == KMS_ENABLED));
    json_object_set_new(m, "Description", json_string(key->description));
    json_object_set_new(m, "KeyUsage", json_string("ENCRYPT_DECRYPT"));
    json_object_set_new(m, "KeyState", json_string(kms__state_name(key->state)));
    if (key->state == KMS_PENDING_DELETION) {
        set_date(m, "DeletionDate", key->deletion_ms);
    }
    json_object_set_new(m, "Origin", json_string("AWS_KMS"));
    json_object_set_new(m, "KeyManager", json_string(key->aws_managed ? "AWS" : "CUSTOMER"));
    json_object_set_new(m, "CustomerMasterKeySpec", json_string("SYMMETRIC_DEFAULT"));
    json_object_set_new(m, "KeySpec", json_string("SYMMETRIC_DEFAULT"));
    json_object_set_new(m, "EncryptionAlgorithms", json_pack("[s]", "SYMMETRIC_DEFAULT"));
    json_object_set_new(m, "MultiRegion", json_false());
    return m;
}

/* Resolves the KeyId member (required). */
static int key_of(struct op *o, const char *member, int allow_alias, struct kms_key *key)
{
    const char *id = need(o, member);
    if (id == NULL) {
        return o->call->err.code;
    }
    return kms__resolve(o->k, &o->sc, id, allow_alias, o->now, key, E(o));
}

/* A customer managed key for the key management operations AWS keeps off its own keys. */
static int customer_key(struct op *o, struct kms_key *key)
{
    int rc = key_of(o, "KeyId", 0, key);
    if (rc == 0 && key->aws_managed) {
        kms__key_fini(key);
        return err_set(E(o), SL_E(KMS_UNSUPPORTED),
                       "%s is an AWS managed key and cannot be modified.", key->arn);
    }
    return rc;
}

static int save(struct op *o, struct kms_key *key, json_t **out, json_t *result)
{
    int rc = kms__save(o->k, key);
    kms__key_fini(key);
    if (rc < 0) {
        json_decref(result);
        return err_set(E(o), rc, "The key store could not be written.");
    }
    *out = result ? result : json_object();
    return 0;
}

/* ---- encryption context ---- */

struct ctx_list {
    struct kms_context pairs[CTX_MAX];
    size_t n;
};

static int context_of(struct op *o, const char *member, struct ctx_list *c)
{
    c->n = 0;
    json_t *obj = json_object_get(o->in, member);
    if (obj == NULL || json_is_null(obj)) {
        return 0;
    }
    if (!json_is_object(obj)) {
        return err_set(E(o), SL_E(SERIALIZATION), "%s must be a map of strings", member);
    }
    const char *name;
    json_t *v;
    json_object_foreach(obj, name, v)
    {
        if (!json_is_string(v) || c->n == CTX_MAX) {
            return err_set(E(o), SL_E(VALIDATION), "Invalid encryption context");
        }
        c->pairs[c->n++] = (struct kms_context){name, json_string_value(v)};
    }
    return 0;
}

/* Decodes a base64 blob member into b (required). */
static int blob_of(struct op *o, const char *member, struct buf *b)
{
    const char *s = need(o, member);
    if (s == NULL) {
        return o->call->err.code;
    }
    size_t len = strlen(s);
    uint8_t *p = buf_reserve(b, BASE64_DECODED_MAX(len) + 1);
    long n = p ? base64_decode(s, len, p) : -1;
    if (n < 0) {
        return err_set(E(o), SL_E(SERIALIZATION), "Could not base64-decode %s", member);
    }
    b->len = (size_t)n;
    return 0;
}

static void set_blob(json_t *obj, const char *name, const uint8_t *p, size_t len)
{
    char *s = xmalloc(BASE64_ENCODED_LEN(len) + 1);
    s[base64_encode(p, len, s)] = '\0';
    json_object_set_new(obj, name, json_string(s));
    free(s);
}

static int check_algorithm(struct op *o, const char *member)
{
    const char *a = str(o, member);
    if (a != NULL && strcmp(a, "SYMMETRIC_DEFAULT") != 0) {
        return err_set(E(o), SL_E(VALIDATION),
                       "1 validation error detected: Value '%s' at '%s' failed to satisfy "
                       "constraint: Member must satisfy enum value set: [SYMMETRIC_DEFAULT, "
                       "RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE]",
                       a, "encryptionAlgorithm");
    }
    return 0;
}

/* ---- tags ---- */

static int tags_valid(struct op *o, json_t *tags)
{
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t)
    {
        const char *k = json_string_value(json_object_get(t, "TagKey"));
        const char *v = json_string_value(json_object_get(t, "TagValue"));
        if (k == NULL || v == NULL || strlen(k) < 1 || strlen(k) > 128 || strlen(v) > 256) {
            return err_set(E(o), SL_E(VALIDATION),
                           "Invalid tag: TagKey (1-128 characters) and "
                           "TagValue (0-256 characters) are required");
        }
        if (strncmp(k, "aws:", 4) == 0) {
            return err_set(E(o), SL_E(KMS_TAG), "Tags beginning with aws: are reserved");
        }
    }
    return 0;
}

static void put_tags(struct op *o, const char *key_id, json_t *tags)
{
    size_t i;
    json_t *t;
    store_lock(o->k->st);
    json_array_foreach(tags, i, t)
    {
        store_run(o->k->st, "INSERT OR REPLACE INTO kms_tags VALUES (?, ?, ?)", "sss", key_id,
                  json_string_value(json_object_get(t, "TagKey")),
                  json_string_value(json_object_get(t, "TagValue")));
    }
    store_unlock(o->k->st);
}

/* ---- key management ---- */

/* A key policy: a JSON object of at most 32 KiB, as PutKeyPolicy and CreateKey take it. */
static int kms_policy_check(struct op *o, const char *policy)
{
    if (strlen(policy) > 32768) {
        return err_set(E(o), SL_E(LIMIT_EXCEEDED),
                       "Policy exceeds the maximum size of 32768 bytes");
    }
    json_t *doc = json_loads(policy, 0, NULL);
    int ok = json_is_object(doc) && json_is_array(json_object_get(doc, "Statement"));
    json_decref(doc);
    if (!ok) {
        return err_set(E(o), SL_E(KMS_MALFORMED_POLICY), "The policy document is malformed.");
    }
    return 0;
}

static int op_create_key(struct api_call *call, json_t *in, json_t **out)
{
    struct op o = op_of(call, in);
    const char *spec = str(&o, "KeySpec") ? str(&o, "KeySpec") : str(&o, "CustomerMasterKeySpec");
    if (spec != NULL && strcmp(spec, "SYMMETRIC_DEFAULT") != 0) {
        return err_set(E(&o), SL_E(KMS_UNSUPPORTED), "KeySpec %s is not supported", spec);
    }
    const char *usage = str(&o, "KeyUsage");
    if (usage != NULL && strcmp(usage, "ENCRYPT_DECRYPT") != 0) {
        return err_set(E(&o), SL_E(VALIDATION),
                       "KeyUsage %s is not compatible with KeySpec SYMMETRIC_DEFAULT", usage);
    }
    const char *origin = str(&o, "Origin");
    if (origin != NULL && strcmp(origin, "AWS_KMS") != 0) {
        return err_set(E(&o), SL_E(KMS_UNSUPPORTED), "Origin %s is not supported", origin);
    }
    const char *desc = str(&o, "Description");
    if (desc != NULL && strlen(desc) > 8192) {
        return err_set(E(&o), SL_E(VALIDATION), "Description must be at most 8192 characters");
    }
    const char *policy = str(&o, "Policy");
    json_t *tags = json_object_get(in, "Tags");
    int rc;
    if (policy != NULL && (rc = kms_policy_check(&o, policy)) < 0) {
        return rc;
    }
    if (tags != NULL && !json_is_array(tags)) {
        return err_set(E(&o), SL_E(SERIALIZATION), "Tags must be a list");
    }
    if (tags != NULL && (rc = tags_valid(&o, tags)) < 0) {
        return rc;
    }
    struct kms_key key;
    if ((rc = kms__create(o.k, &o.sc, desc, policy, 0, o.now, &key)) < 0) {
        return err_set(E(&o), rc, "The key store could not be written.");
    }
    if (tags != NULL) {
        put_tags(&o, key.id, tags);
    }
    *out = json_pack("{s:o}", "KeyMetadata", metadata(&key));
    kms__key_fini(&key);
    return 0;
}

static int op_describe_key(struct api_call *call, json_t *in, json_t **out)
{
    struct op o = op_of(call, in);
    struct kms_key key;
    int rc = key_of(&o, "KeyId", 1, &key);
    if (rc == 0) {
        *out = json_pack("{s:o}", "KeyMetadata", metadata(&key));
        kms__key_fini(&key);
    }
    return rc;
}

/* Limit (1..1000, default 100) of a list operation. */
static int limit_of(struct op *o, int64_t *limit)
{
    json_t *l = json_object_get(o->in, "Limit");
    *limit = l ? json_integer_value(l) : 100;
    if (l != NULL && (!json_is_integer(l) || *limit < 1 || *limit > 1000)) {
        return err_set(E(o), SL_E(VALIDATION),
                       "1 validation error detected: Value '%lld' at 'limit' failed to satisfy "
                       "constraint: Member must have value between 1 and 1000",
                       (long long)*limit);
    }
    return 0;
}

/* The Marker as the row position it stands for; -1 when none. */
static int marker_of(struct op *o, int64_t *pos)
{
    const char *m = str(o, "Marker");
    *pos = -1;
    if (m == NULL) {
        return 0;
    }
    char *end = NULL;
    long long v = strtoll(m, &end, 10);
    if (m[0] == '\0' || *end != '\0' || v < 0) {
        return err_set(E(o), SL_E(KMS_INVALID_MARKER), "Invalid marker");
    }
    *pos = v;
    return 0;
}

static void page_end(json_t *res, int truncated, int64_t next)
{
    json_object_set_new(res, "Truncated", json_boolean(truncated));
    if (truncated) {
        char m[32];
        snprintf(m, sizeof(m), "%lld", (long long)next);
        json_object_set_new(res, "NextMarker", json_string(m));
    }
}

static int op_list_keys(struct api_call *call, json_t *in, json_t **out)
{
    struct op o = op_of(call, in);
    int64_t limit, pos;
    int rc;
    if ((rc = limit_of(&o, &limit)) < 0 || (rc = marker_of(&o, &pos)) < 0) {
        return rc;
    }
    json_t *keys = json_array();
    int truncated = 0;
    int64_t last = 0;
    store_read_begin(o.k->st);
    struct store_stmt *s = store_prepare_args(
        o.k->st,
        "SELECT rowid, key_id FROM kms_keys WHERE region = ? AND account = ? AND rowid > ?"
        " ORDER BY rowid LIMIT ?",
        "ssii", o.sc.region, o.sc.account, pos, limit + 1);
    while (s != NULL && store_step(s) == 1) {
        if ((int64_t)json_array_size(keys) == limit) {
            truncated = 1;
            break;
        }
        last = store_col_int64(s, 0);
        const char *id = store_col_text(s, 1);
        char arn[KMS_ARN_MAX];
        snprintf(arn, sizeof(arn), "arn:aws:kms:%s:%s:key/%s", o.sc.region, o.sc.account, id);
        json_array_append_new(keys, json_pack("{s:s,s:s}", "KeyId", id, "KeyArn", arn));
    }
    store_finalize(s);
    store_read_end(o.k->st);
    *out = json_pack("{s:o}", "Keys", keys);
    page_end(*out, truncated, last);
    return 0;
}

static int op_update_description(struct api_call *call, json_t *in, json_t **out)
{
    struct op o = op_of(call, in);
    const char *desc = str(&o, "Description");
    if (desc == NULL) {
        return missing(&o, "Description");
    }
    struct kms_key key;
    int rc = customer_key(&o, &key);
    if (rc < 0) {
        return rc;
    }
    if (key.state == KMS_PENDING_DELETION) {
        rc = kms__usable(&key, E(&o));
        kms__key_fini(&key);
        return rc;
    }
    free(key.description);
    key.description = xstrdup(desc);
    return save(&o, &key, out, NULL);
}

/* EnableKey (enable 1) and DisableKey (0). */
static int set_enabled(struct api_call *call, json_t *in, json_t **out, int enable)
{
    struct op o = op_of(call, in);
    struct kms_key key;
    int rc = customer_key(&o, &key);
    if (rc < 0) {
        return rc;
    }
    if (key.state == KMS_PENDING_DELETION) {
        rc = kms__usable(&key, E(&o));
        kms__key_fini(&key);
        return rc;
    }
    key.state = enable ? KMS_ENABLED : KMS_DISABLED;
    return save(&o, &key, out, NULL);
}

static int op_enable_key(struct api_call *call, json_t *in, json_t **out)
{
    return set_enabled(call, in, out, 1);
}

static int op_disable_key(struct api_call *call, json_t *in, json_t **out)
{
    return set_enabled(call, in, out, 0);
}

static int op_schedule_deletion(struct api_call *call, json_t *in, json_t **out)
{
    struct op o = op_of(call, in);
    json_t *w = json_object_get(in, "PendingWindowInDays");
    int64_t days = w ? json_integer_value(w) : 30;
    if (w != NULL && (!json_is_integer(w) || days < 7 || days > 30)) {
        return err_set(E(&o), SL_E(VALIDATION),
                       "1 validation error detected: Value '%lld' at 'pendingWindowInDays' "
                       "failed to satisfy constraint: Member must have value less than or equal "
                       "to 30 and greater than or equal to 7",
                       (long long)days);
    }
    struct kms_key key;
    int rc = customer_key(&o, &key);
    if (rc < 0) {
        return rc;
    }
    if (key.state == KMS_PENDING_DELETION) {
        rc = kms__usable(&key, E(&o));
        kms__key_fini(&key);
        return rc;
    }
    key.state = KMS_PENDING_DELETION;
    key.deletion_ms = o.now + days * 86400000LL;
    json_t *res = json_pack("{s:s,s:s,s:I}", "KeyId", key.arn, "KeyState", "PendingDeletion",
                            "PendingWindowInDays", (json_int_t)days);
    set_date(res, "DeletionDate", key.deletion_ms);
    return save(&o, &key, out, res);
}

static int op_cancel_deletion(struct api_call *call, json_t *in, json_t **out)
{
    struct op o = op_of(call, in);
    struct kms_key key;
    int rc = customer_key(&o, &key);
    if (rc < 0) {
        return rc;
    }
    if (key.state != KMS_PENDING_DELETION) {
        rc = err_set(E(&o), SL_E(KMS_INVALID_STATE), "%s is not pending deletion.", key.arn);
        kms__key_fini(&key);
        return rc;
    }
    key.state = KMS_DISABLED; /* as AWS leaves it: enable it again to use it */
    key.deletion_ms = 0;
    return save(&o, &key, out, json_pack("{s:s}", "KeyId", key.arn));
}

static int policy_name(struct op *o)
{
    const char *n = str(o, "PolicyName");
    if (n != NULL && strcmp(n, "default") != 0) {
        return err_set(E(o), SL_E(KMS_NOT_FOUND), "No such policy exists");
    }
    return 0;
}

static int op_get_key_policy(struct api_call *call, json_t *in, json_t **out)
{
    struct op o = op_of(call, in);
    struct kms_key key;
    int rc = policy_name(&o);
    if (rc < 0 || (rc = key_of(&o, "KeyId", 0, &key)) < 0) {
        return rc;
    }
    *out = json_pack("{s:s,s:s}", "Policy", key.policy, "PolicyName", "default");
    kms__key_fini(&key);
    return 0;
}

static int op_put_key_policy(struct api_call *call, json_t *in, json_t **out)
{
    struct op o = op_of(call, in);
    const char *policy = need(&o, "Policy");
    if (policy == NULL) {
        return call->err.code;
    }
    struct kms_key key;
    int rc = policy_name(&o);
    if (rc < 0 || (rc = kms_policy_check(&o, policy)) < 0 || (rc = customer_key(&o, &key)) < 0) {
        return rc;
    }
    if (key.state == KMS_PENDING_DELETION) {
        rc = kms__usable(&key, E(&o));
        kms__key_fini(&key);
        return rc;
    }
    free(key.policy);
    key.policy = xstrdup(policy);
    return save(&o, &key, out, NULL);
}

static int op_list_key_policies(struct api_call *call, json_t *in, json_t **out)
{
    struct op o = op_of(call, in);
    struct kms_key key;
    int rc = key_of(&o, "KeyId", 0, &key);
    if (rc == 0) {
        kms__key_fini(&key);
        *out = json_pack("{s:[s],s:b}", "PolicyNames", "default", "Truncated", 0);
    }
    return rc;
}

static int set_rotation(struct api_call *call, json_t *in, json_t **out, int on)
{
    struct op o = op_of(call, in);
    struct kms_key key;
    int rc = customer_key(&o, &key);
    if (rc < 0) {
        return rc;
    }
    if ((rc = kms__usable(&key, E(&o))) < 0) {
        kms__key_fini(&key);
        return rc;
    }
    key.rotation = on;
    return save(&o, &key, out, NULL);
}

static int op_enable_rotation(struct api_call *call, json_t *in, json_t **out)
{
    return set_rotation(call, in, out, 1);
}

static int op_disable_rotation(struct api_call *call, json_t *in, json_t **out)
{
    return set_rotation(call, in, out, 0);
}

static int op_get_rotation(struct api_call *call, json_t *in, json_t **out)
{
    struct op o = op_of(call, in);
    struct kms_key key;
    int rc = key_of(&o, "KeyId", 0, &key);
    if (rc == 0) {
        /* a key pending deletion reports rotation off, as AWS does */
        int on = key.rotation && key.state != KMS_PENDING_DELETION;
        *out = json_pack("{s:b,s:s}", "KeyRotationEnabled", on, "KeyId", key.arn);
        kms__key_fini(&key);
    }
    return rc;
}

/* ---- tags ---- */

static int op_tag_resource(struct api_call *call, json_t *in, json_t **out)
{
    struct op o = op_of(call, in);
    json_t *tags = json_object_get(in, "Tags");
    if (!json_is_array(tags)) {
        return missing(&o, "Tags");
    }
    struct kms_key key;
    int rc = tags_valid(&o, tags);
    if (rc < 0 || (rc = customer_key(&o, &key)) < 0) {
        return rc;
    }
    if ((rc = key.state == KMS_PENDING_DELETION ? kms__usable(&key, E(&o)) : 0) == 0) {
        put_tags(&o, key.id, tags);
        *out = json_object();
    }
    kms__key_fini(&key);
    return rc;
}

static int op_untag_resource(struct api_call *call, json_t *in, json_t **out)
{
    struct op o = op_of(call, in);
    json_t *keys = json_object_get(in, "TagKeys");
    if (!json_is_array(keys)) {
        return missing(&o, "TagKeys");
    }
    struct kms_key key;
    int rc = customer_key(&o, &key);
    if (rc < 0) {
        return rc;
    }
    if ((rc = key.state == KMS_PENDING_DELETION ? kms__usable(&key, E(&o)) : 0) == 0) {
        size_t i;
        json_t *t;
        store_lock(o.k->st);
        json_array_foreach(keys, i, t)
        {
            store_run(o.k->st, "DELETE FROM kms_tags WHERE key_id = ? AND tag_key = ?", "ss",
                      key.id, json_string_value(t));
        }
        store_unlock(o.k->st);
        *out = json_object();
    }
    kms__key_fini(&key);
    return rc;
}

static int op_list_tags(struct api_call *call, json_t *in, json_t **out)
{
    struct op o = op_of(call, in);
    struct kms_key key;
    int rc = key_of(&o, "KeyId", 0, &key);
    if (rc < 0) {
        return rc;
    }
    json_t *tags = json_array();
    store_read_begin(o.k->st);
    struct store_stmt *s = store_prepare_args(
        o.k->st, "SELECT tag_key, tag_value FROM kms_tags WHERE key_id = ? ORDER BY tag_key", "s",
        key.id);
    while (s != NULL && store_step(s) == 1) {
        json_array_append_new(tags, json_pack("{s:s,s:s}", "TagKey", store_col_text(s, 0),
                                              "TagValue", store_col_text(s, 1)));
    }
    store_finalize(s);
    store_read_end(o.k->st);
    kms__key_fini(&key);
    *out = json_pack("{s:o,s:b}", "Tags", tags, "Truncated", 0);
    return 0;
}

/* ---- aliases ---- */

static int alias_name_valid(struct op *o, const char *name, int creating)
{
    size_t len = strlen(name);
    if (strncmp(name, "alias/", 6) != 0 || len <= 6 || len > 256 ||
        strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:/_-") != len) {
        return err_set(E(o), SL_E(VALIDATION),
                       "1 validation error detected: Value '%s' at 'aliasName' failed to satisfy "
                       "constraint: Member must satisfy regular expression pattern: "
                       "^alias/[a-zA-Z0-9/_-]+$",
                       name);
    }
    if (creating && strncmp(name, "alias/aws/", 10) == 0) {
        return err_set(E(o), SL_E(KMS_INVALID_ALIAS),
                       "Alias must not begin with alias/aws/: that prefix is reserved for AWS "
                       "managed keys");
    }
    return 0;
}

/* The target of a CreateAlias/UpdateAlias: a customer key not pending deletion. */
static int alias_target_key(struct op *o, struct kms_key *key)
{
    int rc = key_of(o, "TargetKeyId", 0, key);
    if (rc == 0 && (key->aws_managed || key->state == KMS_PENDING_DELETION)) {
        rc = key->aws_managed
                 ? err_set(E(o), SL_E(KMS_UNSUPPORTED), "%s is an AWS managed key.", key->arn)
                 : kms__usable(key, E(o));
        kms__key_fini(key);
    }
    return rc;
}

static int op_create_alias(struct api_call *call, json_t *in, json_t **out)
{
    struct op o = op_of(call, in);
    const char *name = need(&o, "AliasName");
    struct kms_key key;
    int rc;
    if (name == NULL) {
        return call->err.code;
    }
    if ((rc = alias_name_valid(&o, name, 1)) < 0 || (rc = alias_target_key(&o, &key)) < 0) {
        return rc;
    }
    store_lock(o.k->st);
    struct store_stmt *s = store_prepare_args(
        o.k->st,
        "INSERT OR IGNORE INTO kms_aliases (region, account, name, key_id, created_ms, updated_ms)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        "ssssii", o.sc.region, o.sc.account, name, key.id, o.now, o.now);
    rc = s == NULL || store_step(s) < 0 ? SL_E(IO) : 0;
    int added = rc == 0 && store_changes(o.k->st) == 1;
    store_finalize(s);
    store_unlock(o.k->st);
    kms__key_fini(&key);
    if (rc < 0) {
        return err_set(E(&o), rc, "The key store could not be written.");
    }
    if (!added) {
        return err_set(E(&o), SL_E(ALREADY_EXISTS),
                       "An alias with the name arn:aws:kms:%s:%s:%s already exists", o.sc.region,
                       o.sc.account, name);
    }
    *out = json_object();
    return 0;
}

/* Changes (key_id non-NULL) or deletes an alias of a customer key: 0 or NotFound. */
static int alias_change(struct op *o, const char *name, const char *key_id)
{
    char id[KMS_ID_LEN + 1];
    struct kms_key cur;
    char arn[300];
    snprintf(arn, sizeof(arn), "arn:aws:kms:%s:%s:%s", o->sc.region, o->sc.account, name);
    int rc = strncmp(name, "alias/aws/", 10) == 0
                 ? err_set(E(o), SL_E(KMS_UNSUPPORTED),
                           "Alias %s is reserved for AWS managed keys.", arn)
                 : kms__resolve(o->k, &o->sc, name, 1, o->now, &cur, E(o));
    if (rc < 0) {
        return rc == SL_E(KMS_NOT_FOUND) ? err_set(E(o), rc, "Alias %s is not found.", arn) : rc;
    }
    memcpy(id, cur.id, sizeof(id));
    kms__key_fini(&cur);
    store_lock(o->k->st);
    if (key_id != NULL) {
        rc = store_run(o->k->st,
                       "UPDATE kms_aliases SET key_id = ?, updated_ms = ? WHERE region = ? AND"
                       " account = ? AND name = ?",
                       "sisss", key_id, o->now, o->sc.region, o->sc.account, name);
    } else {
        rc = store_run(o->k->st,
                       "DELETE FROM kms_aliases WHERE region = ? AND account = ? AND name = ?",
                       "sss", o->sc.region, o->sc.account, name);
    }
    store_unlock(o->k->st);
    return rc < 0 ? err_set(E(o), rc, "The key store could not be written.") : 0;
}

static int op_update_alias(struct api_call *call, json_t *in, json_t **out)
{
    struct op o = op_of(call, in);
    const char *name = need(&o, "AliasName");
    struct kms_key key;
    int rc;
    if (name == NULL) {
        return call->err.code;
    }
    if ((rc = alias_name_valid(&o, name, 0)) < 0 || (rc = alias_target_key(&o, &key)) < 0) {
        return rc;
    }
    rc = alias_change(&o, name, key.id);
    kms__key_fini(&key);
    if (rc == 0) {
        *out = json_object();
    }
    return rc;
}

static int op_delete_alias(struct api_call *call, json_t *in, json_t **out)
{
    struct op o = op_of(call, in);
    const char *name = need(&o, "AliasName");
    int rc;
    if (name == NULL) {
        return call->err.code;
    }
    if ((rc = alias_name_valid(&o, name, 0)) < 0 || (rc = alias_change(&o, name, NULL)) < 0) {
        return rc;
    }
    *out = json_object();
    return 0;
}

static int op_list_aliases(struct api_call *call, json_t *in, json_t **out)
{
    struct op o = op_of(call, in);
    int64_t limit, pos;
    int rc;
    if ((rc = limit_of(&o, &limit)) < 0 || (rc = marker_of(&o, &pos)) < 0) {
        return rc;
    }
    char key_id[KMS_ID_LEN + 1] = "";
    if (str(&o, "KeyId") != NULL) {
        struct kms_key key;
        if ((rc = key_of(&o, "KeyId", 0, &key)) < 0) {
            return rc;
        }
        memcpy(key_id, key.id, sizeof(key_id));
        kms__key_fini(&key);
    }
    json_t *list = json_array();
    int truncated = 0;
    int64_t last = 0;
    store_read_begin(o.k->st);
    struct store_stmt *s = store_prepare_args(
        o.k->st,
        "SELECT rowid, name, key_id, created_ms, updated_ms FROM kms_aliases WHERE region = ?"
        " AND account = ? AND (? = '' OR key_id = ?) AND rowid > ? ORDER BY rowid LIMIT ?",
        "ssssii", o.sc.region, o.sc.account, key_id, key_id, pos, limit + 1);
    while (s != NULL && store_step(s) == 1) {
        if ((int64_t)json_array_size(list) == limit) {
            truncated = 1;
            break;
        }
        last = store_col_int64(s, 0);
        char arn[300];
        snprintf(arn, sizeof(arn), "arn:aws:kms:%s:%s:%s", o.sc.region, o.sc.account,
                 store_col_text(s, 1));
        json_t *a = json_pack("{s:s,s:s,s:s}", "AliasName", store_col_text(s, 1), "AliasArn", arn,
                              "TargetKeyId", store_col_text(s, 2));
        set_date(a, "CreationDate", store_col_int64(s, 3));
        set_date(a, "LastUpdatedDate", store_col_int64(s, 4));
        json_array_append_new(list, a);
    }
    store_finalize(s);
    store_read_end(o.k->st);
    *out = json_pack("{s:o}", "Aliases", list);
    page_end(*out, truncated, last);
    return 0;
}

/* ---- cryptography ---- */

/* Resolves a key for cryptography: found, usable. */
static int crypto_key(struct op *o, const char *member, struct kms_key *key)
{
    int rc = key_of(o, member, 1, key);
    if (rc == 0 && (rc = kms__usable(key, E(o))) < 0) {
        kms__key_fini(key);
    }
    return rc;
}

static int op_encrypt(struct api_call *call, json_t *in, json_t **out)
{
    struct op o = op_of(call, in);
    struct buf plain, blob;
    buf_init(&plain);
    buf_init(&blob);
    struct ctx_list c;
    struct kms_key key;
    int rc = blob_of(&o, "Plaintext", &plain);
    if (rc == 0 && plain.len > KMS_PLAINTEXT_MAX) {
        rc = err_set(E(&o), SL_E(VALIDATION),
                     "1 validation error detected: Value at 'plaintext' failed to satisfy "
                     "constraint: Member must have length less than or equal to 4096");
    }
    if (rc == 0 && plain.len == 0) {
        rc = err_set(E(&o), SL_E(VALIDATION),
                     "1 validation error detected: Value at 'plaintext' failed to satisfy "
                     "constraint: Member must have length greater than or equal to 1");
    }
    if (rc == 0 && (rc = check_algorithm(&o, "EncryptionAlgorithm")) == 0 &&
        (rc = context_of(&o, "EncryptionContext", &c)) == 0 &&
        (rc = crypto_key(&o, "KeyId", &key)) == 0) {
        kms__seal(&key, c.pairs, c.n, plain.data, plain.len, &blob);
        *out = json_pack("{s:s,s:s}", "KeyId", key.arn, "EncryptionAlgorithm", "SYMMETRIC_DEFAULT");
        set_blob(*out, "CiphertextBlob", blob.data, blob.len);
        kms__key_fini(&key);
    }
    buf_fini(&plain);
    buf_fini(&blob);
    return rc;
}

/* Opens CiphertextBlob under ctx_member; checks key_member's key, when given, is the one. */
static int open_input(struct op *o, const char *ctx_member, const char *key_member,
                      struct kms_key *key, struct buf *plain)
{
    struct buf blob;
    buf_init(&blob);
    struct ctx_list c;
    int rc = blob_of(o, "CiphertextBlob", &blob);
    if (rc == 0 && (rc = context_of(o, ctx_member, &c)) == 0) {
        rc = kms__open_blob(o->k, &o->sc, blob.data, blob.len, c.pairs, c.n, o->now, key, plain,
                            E(o));
    }
    buf_fini(&blob);
    if (rc == 0 && str(o, key_member) != NULL) {
        struct kms_key want;
        rc = key_of(o, key_member, 1, &want);
        if (rc == 0 && strcmp(want.id, key->id) != 0) {
            rc = err_set(E(o), SL_E(KMS_INCORRECT_KEY),
                         "The key ID in the request does not identify a CMK that can perform "
                         "this operation.");
        }
        if (rc == 0 || rc == SL_E(KMS_INCORRECT_KEY)) {
            kms__key_fini(&want);
        }
        if (rc < 0) {
            kms__key_fini(key);
        }
    }
    return rc;
}

static int op_decrypt(struct api_call *call, json_t *in, json_t **out)
{
    struct op o = op_of(call, in);
    struct buf plain;
    buf_init(&plain);
    struct kms_key key;
    int rc = check_algorithm(&o, "EncryptionAlgorithm");
    if (rc == 0 && (rc = open_input(&o, "EncryptionContext", "KeyId", &key, &plain)) == 0) {
        *out = json_pack("{s:s,s:s}", "KeyId", key.arn, "EncryptionAlgorithm", "SYMMETRIC_DEFAULT");
        set_blob(*out, "Plaintext", plain.data, plain.len);
        kms__key_fini(&key);
    }
    buf_fini(&plain);
    return rc;
}

static int op_re_encrypt(struct api_call *call, json_t *in, json_t **out)
{
    struct op o = op_of(call, in);
    struct buf plain, blob;
    buf_init(&plain);
    buf_init(&blob);
    struct kms_key src, dst;
    struct ctx_list c;
    int rc = need(&o, "DestinationKeyId") ? 0 : call->err.code;
    if (rc == 0 && (rc = check_algorithm(&o, "SourceEncryptionAlgorithm")) == 0 &&
        (rc = check_algorithm(&o, "DestinationEncryptionAlgorithm")) == 0 &&
        (rc = context_of(&o, "DestinationEncryptionContext", &c)) == 0 &&
        (rc = open_input(&o, "SourceEncryptionContext", "SourceKeyId", &src, &plain)) == 0) {
        if ((rc = crypto_key(&o, "DestinationKeyId", &dst)) == 0) {
            kms__seal(&dst, c.pairs, c.n, plain.data, plain.len, &blob);
            *out = json_pack("{s:s,s:s,s:s,s:s}", "SourceKeyId", src.arn, "KeyId", dst.arn,
                             "SourceEncryptionAlgorithm", "SYMMETRIC_DEFAULT",
                             "DestinationEncryptionAlgorithm", "SYMMETRIC_DEFAULT");
            set_blob(*out, "CiphertextBlob", blob.data, blob.len);
            kms__key_fini(&dst);
        }
        kms__key_fini(&src);
    }
    buf_fini(&plain);
    buf_fini(&blob);
    return rc;
}

/* The data key length GenerateDataKey asks for: KeySpec or NumberOfBytes, one of them. */
static int data_key_len(struct op *o, size_t *n)
{
    const char *spec = str(o, "KeySpec");
    json_t *nb = json_object_get(o->in, "NumberOfBytes");
    if ((spec == NULL) == (nb == NULL)) {
        return err_set(E(o), SL_E(VALIDATION),
                       spec ? "Please specify either number of bytes or key spec, not both."
                            : "Please specify either number of bytes or key spec.");
    }
    if (spec != NULL) {
        if (strcmp(spec, "AES_256") != 0 && strcmp(spec, "AES_128") != 0) {
            return err_set(
                E(o), SL_E(VALIDATION),
                "1 validation error detected: Value '%s' at 'keySpec' failed to "
                "satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]",
                spec);
        }
        *n = strcmp(spec, "AES_256") == 0 ? 32 : 16;
        return 0;
    }
    json_int_t v = json_integer_value(nb);
    if (!json_is_integer(nb) || v < 1 || v > 1024) {
        return err_set(E(o), SL_E(VALIDATION),
                       "1 validation error detected: Value '%lld' at 'numberOfBytes' failed to "
                       "satisfy constraint: Member must have value between 1 and 1024",
                       (long long)v);
    }
    *n = (size_t)v;
    return 0;
}

static int generate_data_key(struct api_call *call, json_t *in, json_t **out, int with_plain)
{
    struct op o = op_of(call, in);
    size_t n = 0;
    struct ctx_list c;
    struct kms_key key;
    int rc = data_key_len(&o, &n);
    if (rc < 0 || (rc = context_of(&o, "EncryptionContext", &c)) < 0 ||
        (rc = crypto_key(&o, "KeyId", &key)) < 0) {
        return rc;
    }
    uint8_t dk[1024];
    crypto_random(dk, n);
    struct buf blob;
    buf_init(&blob);
    kms__seal(&key, c.pairs, c.n, dk, n, &blob);
    *out = json_pack("{s:s}", "KeyId", key.arn);
    set_blob(*out, "CiphertextBlob", blob.data, blob.len);
    if (with_plain) {
        set_blob(*out, "Plaintext", dk, n);
    }
    memset(dk, 0, n);
    buf_fini(&blob);
    kms__key_fini(&key);
    return 0;
}

static int op_generate_data_key(struct api_call *call, json_t *in, json_t **out)
{
    return generate_data_key(call, in, out, 1);
}

static int op_generate_data_key_wo(struct api_call *call, json_t *in, json_t **out)
{
    return generate_data_key(call, in, out, 0);
}

static int op_generate_random(struct api_call *call, json_t *in, json_t **out)
{
    struct op o = op_of(call, in);
    json_t *nb = json_object_get(in, "NumberOfBytes");
    json_int_t v = json_integer_value(nb);
    if (nb == NULL || !json_is_integer(nb) || v < 1 || v > 1024) {
        return err_set(E(&o), SL_E(VALIDATION),
                       "1 validation error detected: Value '%lld' at 'numberOfBytes' failed to "
                       "satisfy constraint: Member must have value between 1 and 1024",
                       (long long)v);
    }
    uint8_t r[1024];
    crypto_random(r, (size_t)v);
    *out = json_object();
    set_blob(*out, "Plaintext", r, (size_t)v);
    return 0;
}

static const struct api_json_op kms_ops[] = {
    {"CancelKeyDeletion", op_cancel_deletion, NULL},
    {"CreateAlias", op_create_alias, NULL},
    {"CreateKey", op_create_key, NULL},
    {"Decrypt", op_decrypt, NULL},
    {"DeleteAlias", op_delete_alias, NULL},
    {"DescribeKey", op_describe_key, NULL},
    {"DisableKey", op_disable_key, NULL},
    {"DisableKeyRotation", op_disable_rotation, NULL},
    {"EnableKey", op_enable_key, NULL},
    {"EnableKeyRotation", op_enable_rotation, NULL},
    {"Encrypt", op_encrypt, NULL},
    {"GenerateDataKey", op_generate_data_key, NULL},
    {"GenerateDataKeyWithoutPlaintext", op_generate_data_key_wo, NULL},
    {"GenerateRandom", op_generate_random, NULL},
    {"GetKeyPolicy", op_get_key_policy, NULL},
    {"GetKeyRotationStatus", op_get_rotation, NULL},
    {"ListAliases", op_list_aliases, NULL},
    {"ListKeyPolicies", op_list_key_policies, NULL},
    {"ListKeys", op_list_keys, NULL},
    {"ListResourceTags", op_list_tags, NULL},
    {"PutKeyPolicy", op_put_key_policy, NULL},
    {"ReEncrypt", op_re_encrypt, NULL},
    {"ScheduleKeyDeletion", op_schedule_deletion, NULL},
    {"TagResource", op_tag_resource, NULL},
    {"UntagResource", op_untag_resource, NULL},
    {"UpdateAlias", op_update_alias, NULL},
    {"UpdateKeyDescription", op_update_description, NULL},
};

static const struct api_json_service kms_template = {
    .signing_name = "kms",
    .target_prefix = "TrentService",
    .json_version = "1.1",
    .ops = kms_ops,
    .n_ops = sizeof(kms_ops) / sizeof(kms_ops[0]),
};

struct api_json_service *kms_api_create(struct kms *k)
{
    struct api_json_service *api = xmalloc(sizeof(*api));
    *api = kms_template;
    api->ctx = k;
    return api;
}

void kms_api_destroy(struct api_json_service *svc)
{
    free(svc);
}
