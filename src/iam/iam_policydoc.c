/*
 * The shape of policy documents, checked as IAM checks them when they are stored. This
 * is not evaluation: a well-formed document may still allow nothing.
 */
#include <ctype.h>
#include <jansson.h>
#include <string.h>

#include "iam/iam_int.h"

static const struct {
    enum iam_doc_kind kind;
    size_t limit;
    const char *quota; /* the quota LimitExceeded names */
} limits[] = {
    {IAM_DOC_USER, 2048, "PolicySize"},      {IAM_DOC_GROUP, 5120, "PolicySize"},
    {IAM_DOC_ROLE, 10240, "PolicySize"},     {IAM_DOC_MANAGED, 6144, "PolicySize"},
    {IAM_DOC_TRUST, 2048, "ACLSizePerRole"}, {IAM_DOC_SESSION, 2048, "PackedPolicySize"},
};

static size_t non_space_len(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++) {
        n += !isspace((unsigned char)*s);
    }
    return n;
}

static int malformed(struct err_info *err, const char *msg)
{
    return err_set(err, SL_E(IAM_MALFORMED_POLICY), "%s", msg);
}

/* A string or a non-empty array of strings. */
static int is_string_list(const json_t *v)
{
    if (json_is_string(v)) {
        return 1;
    }
    if (!json_is_array(v) || json_array_size(v) == 0) {
        return 0;
    }
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e)) {
            return 0;
        }
    }
    return 1;
}

/* Principal: "*" or an object of AWS / Service / Federated / CanonicalUser lists. */
static int principal_ok(const json_t *p)
{
    if (json_is_string(p)) {
        return strcmp(json_string_value(p), "*") == 0;
    }
    if (!json_is_object(p) || json_object_size(p) == 0) {
        return 0;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)p, k, v)
    {
        if ((strcmp(k, "AWS") != 0 && strcmp(k, "Service") != 0 && strcmp(k, "Federated") != 0 &&
             strcmp(k, "CanonicalUser") != 0) ||
            !is_string_list(v)) {
            return 0;
        }
    }
    return 1;
}

/* Condition: operator → { key → string, number, boolean or a list of them }. */
static int condition_ok(const json_t *c)
{
    if (!json_is_object(c)) {
        return 0;
    }
    const char *op;
    json_t *keys;
    json_object_foreach((json_t *)c, op, keys)
    {
        if (!json_is_object(keys) || json_object_size(keys) == 0) {
            return 0;
        }
        const char *k;
        json_t *v;
        json_object_foreach(keys, k, v)
        {
            if (json_is_object(v) || json_is_null(v)) {
                return 0;
            }
            if (json_is_array(v)) {
                size_t i;
                json_t *e;
                json_array_foreach(v, i, e)
                {
                    if (json_is_object(e) || json_is_array(e) || json_is_null(e)) {
                        return 0;
                    }
                }
            }
        }
    }
    return 1;
}

static int statement_check(const json_t *st, enum iam_doc_kind kind, struct err_info *err)
{
    if (!json_is_object(st)) {
        return malformed(err, "Syntax errors in policy.");
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)st, k, v)
    {
        static const char *const known[] = {"Sid",       "Effect",       "Action",
                                            "NotAction", "Resource",     "NotResource",
                                            "Principal", "NotPrincipal", "Condition"};
        int ok = 0;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
            ok |= strcmp(k, known[i]) == 0;
        }
        if (!ok) {
            return malformed(err, "Syntax errors in policy.");
        }
    }
    const json_t *effect = json_object_get(st, "Effect");
    if (effect == NULL) {
        return malformed(err, "Missing required field Effect");
    }
    if (!json_is_string(effect) || (strcmp(json_string_value(effect), "Allow") != 0 &&
                                    strcmp(json_string_value(effect), "Deny") != 0)) {
        return malformed(err, "Invalid effect: must be Allow or Deny");
    }
    const json_t *action = json_object_get(st, "Action");
    const json_t *not_action = json_object_get(st, "NotAction");
    if (action == NULL && not_action == NULL) {
        return malformed(err, "Policy statement must contain actions.");
    }
    if ((action != NULL && not_action != NULL) ||
        !is_string_list(action != NULL ? action : not_action)) {
        return malformed(err, "Syntax errors in policy.");
    }
    const json_t *res = json_object_get(st, "Resource");
    const json_t *not_res = json_object_get(st, "NotResource");
    const json_t *principal = json_object_get(st, "Principal");
    const json_t *not_principal = json_object_get(st, "NotPrincipal");
    if (kind == IAM_DOC_TRUST) {
        if (res != NULL || not_res != NULL) {
            return malformed(err, res != NULL ? "Has prohibited field Resource"
                                              : "Has prohibited field NotResource");
        }
        if (principal == NULL && not_principal == NULL) {
            return malformed(err, "Missing required field Principal");
        }
        if (!principal_ok(principal != NULL ? principal : not_principal)) {
            return malformed(err, "Invalid principal in policy");
        }
    } else {
        if (principal != NULL || not_principal != NULL) {
            return malformed(err, "Policy document should not specify a principal.");
        }
        if (res == NULL && not_res == NULL) {
            return malformed(err, "Policy statement must contain resources.");
        }
        if ((res != NULL && not_res != NULL) || !is_string_list(res != NULL ? res : not_res)) {
            return malformed(err, "Syntax errors in policy.");
        }
    }
    const json_t *cond = json_object_get(st, "Condition");
    if (cond != NULL && !condition_ok(cond)) {
        return malformed(err, "Syntax errors in policy.");
    }
    return 0;
}

int iam__policydoc_check(const char *doc, enum iam_doc_kind kind, struct err_info *err)
{
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        if (limits[i].kind == kind && non_space_len(doc) > limits[i].limit) {
            return err_set(err, SL_E(IAM_LIMIT_EXCEEDED), "Cannot exceed quota for %s: %zu",
                           limits[i].quota, limits[i].limit);
        }
    }
    json_error_t jerr;
    json_t *root = json_loads(doc, JSON_REJECT_DUPLICATES, &jerr);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = malformed(err, "Syntax errors in policy.");
        goto out;
    }
    const json_t *version = json_object_get(root, "Version");
    if (version != NULL &&
        (!json_is_string(version) || (strcmp(json_string_value(version), "2012-10-17") != 0 &&
                                      strcmp(json_string_value(version), "2008-10-17") != 0))) {
        rc = malformed(err, "The policy failed legacy parsing");
        goto out;
    }
    const json_t *stmts = json_object_get(root, "Statement");
    if (stmts == NULL) {
        rc = malformed(err, "Missing required field Statement");
        goto out;
    }
    if (json_is_object(stmts)) {
        rc = statement_check(stmts, kind, err);
    } else if (json_is_array(stmts) && json_array_size(stmts) > 0) {
        size_t i;
        json_t *st;
        json_array_foreach(stmts, i, st)
        {
            if ((rc = statement_check(st, kind, err)) < 0) {
                break;
            }
        }
    } else {
        rc = malformed(err, "Syntax errors in policy.");
    }
out:
    json_decref(root);
    return rc;
}
