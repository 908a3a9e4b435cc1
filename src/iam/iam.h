/*
 * Identities: the root credentials, IAM users with access keys, groups, roles with
 * their inline policies, and STS sessions, all durable in the store.
 *
 * Root credentials come from SLUICE_ROOT_ACCESS_KEY_ID / SLUICE_ROOT_SECRET_ACCESS_KEY
 * when both are set; otherwise they are read from DIR/root-credentials, which is
 * generated (mode 0600) and printed once on first start.
 *
 * Authorization: root may do anything; any principal may call STS's GetCallerIdentity,
 * AssumeRole, GetSessionToken and GetAccessKeyInfo and IAM's read calls about itself;
 * everything else a user or an assumed-role session asks is decided by its identity
 * policies (and the session policies) with AWS's evaluation logic (authz.c); other
 * principals are refused. GetSessionToken's credentials act as their user (or root) but
 * may call no IAM operation (no MFA here) and of STS only AssumeRole and
 * GetCallerIdentity.
 */
#ifndef SLUICE_IAM_IAM_H
#define SLUICE_IAM_IAM_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/store.h"
#include "http/http.h"

struct iam;

/* Returns 0, or a negative code when the credentials file cannot be read or written or
   the store cannot be migrated. st may be NULL: then only the root key exists. */
int iam_open(struct store *st, const struct sluice_config *cfg, struct iam **out);
void iam_close(struct iam *iam);

/* The front end's http_key_lookup_fn (http.h); arg is the struct iam. */
int iam_key_lookup(void *arg, const char *access_key_id, const char *security_token, int64_t now_ms,
                   char *secret_out, size_t secret_size, struct http_principal *who);

/* The front end's http_authorize_fn (http.h); arg is the struct iam. */
int iam_authorize(void *arg, const struct api_request *req, const char *service,
                  const char *operation, const struct api_params *params, struct err_info *err);

const char *iam_root_access_key_id(const struct iam *iam);

/* delivery.h's delivery_s3_authorize_fn (arg: the struct iam): whether the role of
   role_arn may s3:PutObject bucket/key, by its policies and the bucket's policy. A role
   the account does not have is let through. 0, or SL_E(ACCESS_DENIED) with Firehose's
   S3.AccessDenied message in err. */
int iam_firehose_s3_authorize(void *arg, const char *role_arn, const char *bucket,
                              const char *key, struct err_info *err);

/* delivery.h's delivery_kinesis_authorize_fn (arg: the struct iam): whether the role of
   role_arn may read the Kinesis stream stream_arn as Firehose reads a source
   (kinesis:DescribeStream, GetShardIterator, GetRecords, ListShards), by its policies and
   the stream's policy. A role the account does not have is let through. 0, or
   SL_E(ACCESS_DENIED) with Kinesis's "User: ... is not authorized" in err. */
int iam_firehose_kinesis_authorize(void *arg, const char *role_arn, const char *stream_arn,
                                   struct err_info *err);

/* delivery.h's delivery_assume_check_fn (arg: the struct iam): whether Firehose may assume
   the role of role_arn, its trust policy allowing firehose.amazonaws.com sts:AssumeRole.
   A role the account does not have is let through. 0, or SL_E(INVALID_ARGUMENT) with
   Firehose's "Firehose is unable to assume role ..." in err. */
int iam_firehose_assume_check(void *arg, const char *role_arn, struct err_info *err);

/* query.h's query_authorize_fn (arg: the struct iam): whether the caller who (its
   principal_* fields, access_key_id, region, now_ms) may do action on resource when Athena
   asks on its behalf (aws:CalledVia athena.amazonaws.com), by its identity policies and,
   with bucket set, that bucket's policy; s3_prefix is s3:prefix (NULL: none). Root may do
   anything. 0, or SL_E(ACCESS_DENIED) with IAM's "User: ... is not authorized" in err. */
int iam_caller_authorize(void *arg, const struct api_request *who, const char *action,
                         const char *resource, const char *bucket, const char *s3_prefix,
                         struct err_info *err);

/* kms.h's kms_authorize_fn (arg: the struct iam): whether who may do action ("kms:Decrypt",
   "kms:GenerateDataKey") with the key key_arn when the service via_service
   ("s3.<region>.amazonaws.com") uses it for them with the encryption context kc, by the
   key's policy and who's identity policies (kms:ViaService, kms:CallerAccount,
   kms:EncryptionContext:<key> and kms:EncryptionContextKeys set). Root may do anything.
   0, or SL_E(ACCESS_DENIED) with IAM's "User: ... is not authorized" in err. */
struct kms_context;
int iam_kms_authorize(void *arg, const struct api_request *who, const char *action,
                      const char *key_arn, const char *via_service, const struct kms_context *kc,
                      size_t n_kc, struct err_info *err);

/* Temporary credentials, as STS hands them out. */
struct iam_session_creds {
    char key_id[24]; /* ASIA + 16 */
    char secret[48];
    char token[256];
    int64_t expires_ms;
};

/*
 * Starts a session for who (kind HTTP_PRINCIPAL_ASSUMED_ROLE or _FEDERATED, its ARN,
 * id and name filled) lasting duration_s from now_ms, with an optional session policy
 * (NULL for none). Returns 0 or a negative code.
 */
int iam_session_create(struct iam *iam, const struct http_principal *who, int64_t duration_s,
                       const char *policy, int64_t now_ms, struct iam_session_creds *out);

#endif
