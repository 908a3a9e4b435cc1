/* Internals shared by the files of src/iam; never included from another part. */
#ifndef SLUICE_IAM_IAM_INT_H
#define SLUICE_IAM_IAM_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/store.h"
#include "iam/actions.h"
#include "iam/iam.h"
#include "iam/policy.h"

struct json_t;

struct iam {
    char root_key_id[64];
    char root_secret[128];
    char account_id[16];
    struct store *st;      /* NULL: root only */
    uint8_t token_key[32]; /* signs session tokens */
    struct iam_authz *authz; /* compiled policies per principal (authz.c) */
    struct iam_key_cache *keys; /* users' access keys looked up (iam.c) */
};

/* The cache of compiled policies (authz.c). */
struct iam_authz *iam__authz_new(void);
void iam__authz_free(struct iam_authz *a);
/* Entries held, for tests. */
size_t iam__authz_size(struct iam_authz *a);
/* Every IAM write calls this (after writing, before releasing the store): cached
   policies built before it are rebuilt on their next use. */
void iam__policies_changed(void);
/* The count iam__policies_changed raises: what a cache built at it is valid for. */
uint64_t iam__generation(void);
/* Decides a non-root request with the caller's policies: 0, or SL_E(ACCESS_DENIED) with
   AWS's message in err. */
int iam__authorize_policies(struct iam *iam, const struct api_request *req, const char *service,
                            const char *operation, const struct api_params *params,
                            struct err_info *err);

/* Room for the names iam__kinesis_indirect finds; in points into it. */
struct iam_indirect {
    char stream_arn[400];
    char stream_name[200];
    char consumer_arn[700];
};
/* Kinesis (resources.c): the stream or consumer that GetRecords' iterator, ListShards'
   NextToken or a consumer's StreamARN and ConsumerName stand for, into in. doc is the
   request's JSON. */
void iam__kinesis_indirect(struct iam *iam, const char *operation, struct json_t *doc,
                           struct iam_action_input *in, struct iam_indirect *ind);
/* IAM: the action on the user, group, role or policy the request names, "*" for the
   account's listings. */
void iam__iam_action(struct iam *iam, const struct api_request *req, const char *operation,
                     const struct api_params *params, struct iam_action *act /* OUT */);
/* KMS: the action on its key ARN(s); alias actions also on the alias. */
void iam__kms_action(struct iam *iam, const struct api_request *req, const char *operation,
                     struct json_t *doc, struct iam_action *act /* OUT */);

/* One of AWS's managed policies (aws_policies.c): arn:aws:iam::aws:policy<path><name>. */
struct iam_aws_policy {
    const char *name, *path, *description;
    int64_t created_ms, updated_ms;
    int version;
    const char *doc;
};
const struct iam_aws_policy *iam__aws_policies(size_t *n);

/* Fills out with prefix and base32 characters up to 21 in all, as AWS's unique ids. */
void iam__new_id(const char *prefix, char out[32]);
/* n random characters of alphabet into out (n + 1 bytes). */
void iam__random_chars(char *out, size_t n, const char *alphabet);

/* Kinds of policy document, for their limits and their rules about Principal. */
enum iam_doc_kind {
    IAM_DOC_USER,
    IAM_DOC_GROUP,
    IAM_DOC_ROLE,
    IAM_DOC_MANAGED,
    IAM_DOC_TRUST,
    IAM_DOC_SESSION
};
/*
 * Checks a policy document's shape as IAM does when it is stored: JSON, Version,
 * Statement with Effect, Action|NotAction, Resource|NotResource (Principal only, and
 * required, in a trust policy), Condition as operator → key → value(s), and the size
 * limit of its kind counted without whitespace. Returns 0, or SL_E(IAM_MALFORMED_POLICY)
 * / SL_E(IAM_LIMIT_EXCEEDED) with AWS's message in err.
 */
int iam__policydoc_check(const char *doc, enum iam_doc_kind kind, struct err_info *err);

/* What an AssumeRole session carries beyond its principal; any member NULL for none. */
struct iam_session_attrs {
    const char *policy;          /* the inline session policy */
    const char *policy_arns;     /* managed session policies: a JSON array of ARNs */
    const char *tags;            /* session tags: a JSON object, key -> value */
    const char *transitive;      /* the keys of those that are transitive: a JSON array */
    const char *source_identity; /* set once, kept through role chaining */
};
/* iam_session_create with the attributes of an AssumeRole session. */
int iam__session_create_attrs(struct iam *iam, const struct http_principal *who, int64_t duration_s,
                              const struct iam_session_attrs *attrs, int64_t now_ms,
                              struct iam_session_creds *out);

/* The session of key_id's source identity (malloc'd), or NULL when it has none. */
char *iam__session_source_identity(struct iam *iam, const char *key_id);

/* The one session policy of a session: its inline policy (NULL for none) and the default
   versions of the managed policies of arns_json (a JSON array, NULL for none) as one
   document of all their statements, which allows what any of them allows (malloc'd);
   NULL when the session has no session policy. Inside a store read. */
char *iam__session_policy_doc(struct iam *iam, const char *inline_doc, const char *arns_json);

/*
 * Whether the caller req may do action ("sts:AssumeRole", "sts:TagSession") on the role
 * role_arn whose trust policy is trust_doc (authz.c): the trust policy as the role's
 * resource-based policy beside the caller's own policies, with the global keys, the
 * caller's tags as aws:PrincipalTag/<key> and the n_extra keys of the request
 * (aws:RequestTag/<key>, aws:TagKeys, sts:ExternalId, ...). An explicit Deny refuses; a
 * trust statement that allows and names the caller, its role, its account or "*" admits
 * (an account-wide trust needs no identity-based Allow). 1 when allowed.
 */
int iam__trust_decide(struct iam *iam, const struct api_request *req, const char *trust_doc,
                      const char *role_arn, const char *action, const struct iam_context_key *extra,
                      size_t n_extra);

#endif
