/*
 * Each operation Sluice serves -> the IAM action AWS checks, the resource ARNs it checks
 * it on, and the service condition keys the request supplies.
 *
 * The authorization hook calls iam_action_of with what it knows of the request (names
 * from the body, path or query, already parsed by the service's adapter), then evaluates
 * every check in iam_action.checks (policy.h): all must be allowed. Most operations have
 * one check; CopyObject and UploadPartCopy add s3:GetObject on the source.
 *
 * Operations that name their resource only indirectly (GetQueryExecution names an
 * execution, whose workgroup the hook looks up; DescribeStreamConsumer by consumer name)
 * take the resolved name in the input. Batch operations over several resources
 * (DeleteObjects, BatchDeleteTable) are checked once per item: the hook calls
 * iam_action_of for each key or table.
 */
#ifndef SLUICE_IAM_ACTIONS_H
#define SLUICE_IAM_ACTIONS_H

#include <stddef.h>

/* What the hook knows of the request; unset members are NULL. Borrowed for the call. */
struct iam_action_input {
    const char *partition;       /* "aws" when NULL */
    const char *region;          /* the request's region */
    const char *account;         /* the account that owns the resource */
    const char *resource_arn;    /* TagResource & co: the ARN in the request */
    const char *stream_name;     /* Kinesis: StreamName ... */
    const char *stream_arn;      /* ... or StreamARN (wins) */
    const char *consumer_arn;    /* Kinesis enhanced fan-out consumer */
    const char *delivery_stream; /* Firehose DeliveryStreamName */
    const char *bucket;          /* S3 */
    const char *key;             /* S3 object key */
    const char *version_id;      /* S3 versionId: Get/DeleteObject become ...Version */
    const char *copy_source_bucket, *copy_source_key; /* S3 x-amz-copy-source */
    const char *database;     /* Glue DatabaseName (Name for database operations) */
    const char *table;        /* Glue TableName */
    const char *registry;     /* Glue schema registry; "default-registry" when NULL */
    const char *schema;       /* Glue schema name */
    const char *workgroup;    /* Athena WorkGroup; "primary" when NULL */
    const char *data_catalog; /* Athena CatalogName; "AwsDataCatalog" when NULL */
};

/* Where the hook finds the value of a service condition key in the request. */
enum iam_key_source { IAM_KEY_QUERY, IAM_KEY_HEADER };

struct iam_condition_source {
    const char *key;          /* "s3:prefix" */
    enum iam_key_source from; /* query parameter or header */
    const char *name;         /* "prefix", "x-amz-server-side-encryption" */
};

#define IAM_ACTION_MAX_CHECKS 3
#define IAM_ACTION_MAX_RESOURCES 3
#define IAM_ARN_MAX 1100 /* S3 keys reach 1024 bytes */

/* One action on its resources: what iam_request_ctx.action/resources take. */
struct iam_action_check {
    char action[64];
    size_t n_resources;
    char resources[IAM_ACTION_MAX_RESOURCES][IAM_ARN_MAX];
    const char *resource_ptrs[IAM_ACTION_MAX_RESOURCES]; /* into resources, for the ctx */
};

struct iam_action {
    int no_auth; /* 1: AWS checks no permission (sts:GetCallerIdentity) */
    size_t n_checks;
    struct iam_action_check checks[IAM_ACTION_MAX_CHECKS];
    const struct iam_condition_source *keys; /* static; n_keys of them */
    size_t n_keys;
};

/*
 * Fills *out for service ("kinesis", "firehose", "glue", "athena", "s3", "sts",
 * "cloudwatch") and operation (the API name, "PutRecords", "GetObject"). Returns 0, -1
 * for an operation the table does not know (the hook denies), -2 when the input lacks a
 * name the resource ARN needs (bucket, stream, database, ...), -3 when an ARN would not
 * fit IAM_ARN_MAX.
 */
int iam_action_of(const char *service, const char *operation, const struct iam_action_input *in,
                  struct iam_action *out /* OUT */);

#endif
