/*
 * IAM policy documents: compile once, evaluate on every call.
 *
 * A policy document (JSON, as IAM, S3 bucket policies and STS session policies take it)
 * compiles into an immutable struct iam_policy. Compiled policies hold no reference to the
 * JSON text, are never written after iam_policy_compile returns and may be shared by any
 * number of threads and cached by the caller (the router's authorization hook keeps one per
 * stored policy version).
 *
 * Wiring (what the authorization hook does for each request):
 *
 *   1. iam_action_of(service, operation, &input, &act)            (actions.h)
 *        -> the IAM action ("s3:GetObject"), its resource ARNs and the service keys.
 *   2. fill a struct iam_request_ctx: the action and resources from step 1, the caller
 *      (ARN, account, role ARN for an assumed-role session), the account that owns the
 *      resource, and the condition keys (aws:SourceIp, aws:SecureTransport,
 *      aws:CurrentTime, aws:username, aws:userid, aws:PrincipalArn, aws:PrincipalTag/...,
 *      and the service keys act named). Nothing is copied: the strings stay the caller's.
 *   3. iam_evaluate(&ctx, identity policies (the user's or role's inline and attached ones
 *      and its groups'), the resource's policy or NULL, the session policies of an STS
 *      session (or none), the permissions boundary (or none), &result).
 *   4. result.decision != IAM_ALLOW -> answer AccessDenied with
 *        "User: <arn> is not authorized to perform: <action> on resource: <arn> <reason>"
 *      where <reason> is iam_result_reason(): "because no identity-based policy allows the
 *      <action> action", "with an explicit deny in a resource-based policy", ...
 *
 * Evaluation follows AWS's documented policy evaluation logic: an explicit Deny in any
 * policy wins; otherwise an Allow from an identity-based policy or (same account) from a
 * resource-based policy naming the caller; session policies and permissions boundaries
 * then limit what was allowed (each must allow too when present). Across accounts both the
 * identity-based and the resource-based policy must allow. A resource-based policy Allow
 * whose Principal names the caller's own ARN (user or session) or the calling service is
 * not limited by boundaries or session policies; one naming the session's role or "*"
 * allows on its own but is limited by them; one naming the account only delegates to the
 * account's identity-based policies, as AWS documents.
 *
 * iam_evaluate allocates nothing and takes no lock.
 */
#ifndef SLUICE_IAM_POLICY_H
#define SLUICE_IAM_POLICY_H

#include <stddef.h>

struct iam_policy;

/* What a document is for; decides which elements it must or must not have. */
enum iam_policy_kind {
    IAM_POLICY_IDENTITY, /* user, group, role, managed, session policies, boundaries */
    IAM_POLICY_RESOURCE, /* bucket policies, Kinesis resource policies: Principal required */
};

/* Why a document was rejected: AWS's MalformedPolicyDocument wording. */
struct iam_policy_error {
    int statement_idx; /* the statement at fault, -1 for the document itself */
    char message[200];
};

/*
 * Compiles a JSON policy document of len bytes. Returns 0 and *out (free it with
 * iam_policy_free), or -1 with err->message (AWS's MalformedPolicyDocument text) when the
 * document is not valid JSON, lacks Effect/Action/Resource/Principal where required, has
 * an unknown element, Effect, Version or condition operator, or a malformed condition
 * value (number, date, CIDR, Bool, Null). Returns -2 when memory runs out.
 */
int iam_policy_compile(const char *json, size_t len, enum iam_policy_kind kind,
                       struct iam_policy **out /* OUT */, struct iam_policy_error *err /* OUT */);

/* Frees a compiled policy; NULL is fine. No evaluation may be running on it. */
void iam_policy_free(struct iam_policy *p);

/* Number of statements (for tests and listings). */
size_t iam_policy_statement_count(const struct iam_policy *p);

/* One condition context key and its values (several for multi-valued keys such as
   aws:TagKeys). Key names compare case-insensitively, as AWS's do. */
struct iam_context_key {
    const char *key;
    const char *const *values;
    size_t n_values;
};

/* Everything the evaluation looks at; all pointers are borrowed for the call. */
struct iam_request_ctx {
    const char *action;           /* "kinesis:PutRecords" */
    const char *const *resources; /* ARNs (or "*"): each must be allowed */
    size_t n_resources;
    const char *resource_account;   /* owner of the resources; NULL: the caller's */
    const char *principal_arn;      /* user, root, or assumed-role session ARN */
    const char *principal_role_arn; /* the role of a session, else NULL */
    const char *principal_account;  /* 12 digits */
    const char *principal_service;  /* "firehose.amazonaws.com" for a service, else NULL */
    const struct iam_context_key *keys;
    size_t n_keys;
};

enum iam_decision { IAM_IMPLICIT_DENY, IAM_ALLOW, IAM_EXPLICIT_DENY };

/* The kind of policy that decided: the one with the Deny, the one whose Allow was
   missing, or the one that allowed. */
enum iam_policy_source {
    IAM_SRC_NONE,
    IAM_SRC_IDENTITY,
    IAM_SRC_RESOURCE,
    IAM_SRC_SESSION,
    IAM_SRC_BOUNDARY,
};

struct iam_eval_result {
    enum iam_decision decision;
    enum iam_policy_source source;
    size_t policy_idx;   /* index in the array of that source (0 for the resource policy) */
    int statement_idx;   /* deciding statement, -1 when none (implicit deny) */
    const char *sid;     /* its Sid or NULL; valid while the policy lives */
    size_t resource_idx; /* the resource that was denied (or the last allowed) */
};

/*
 * Decides ctx against the given policies. identity: n_identity policies of the caller;
 * resource_policy: the resource's policy or NULL; session: the session policies (n_session
 * 0 for long-term credentials); boundaries: permissions boundaries (n_boundaries 0 when
 * none). Every resource in ctx must be allowed; the first denied one decides. Returns the
 * decision, also stored in *res with what decided it.
 */
enum iam_decision iam_evaluate(const struct iam_request_ctx *ctx,
                               const struct iam_policy *const *identity, size_t n_identity,
                               const struct iam_policy *resource_policy,
                               const struct iam_policy *const *session, size_t n_session,
                               const struct iam_policy *const *boundaries, size_t n_boundaries,
                               struct iam_eval_result *res /* OUT */);

/*
 * 1 when resource_policy has an Allow statement that applies to ctx and names the caller,
 * its role or its account (or "*") for every resource in ctx. KMS uses it: identity-based
 * policies reach a key only when the key's policy allows the account.
 */
int iam_policy_admits(const struct iam_policy *resource_policy, const struct iam_request_ctx *ctx);

/*
 * The end of AWS's AccessDenied message for a denied result, e.g. "because no
 * identity-based policy allows the s3:GetObject action" or "with an explicit deny in a
 * resource-based policy". Writes at most size bytes (NUL-terminated); returns buf.
 */
const char *iam_result_reason(const struct iam_eval_result *res, const char *action, char *buf,
                              size_t size);

#endif
