/*
 * The operation -> action table (see actions.h). Actions and resource types follow AWS's
 * Service Authorization Reference ("Actions, resources, and condition keys for ..."):
 *
 *   Kinesis   kinesis:<Operation> on arn:aws:kinesis:R:A:stream/NAME, or the consumer ARN
 *             (arn:...:stream/NAME/consumer/CNAME:TS) for consumer operations; "*" for
 *             ListStreams and DescribeLimits.
 *   Firehose  firehose:<Operation> on arn:aws:firehose:R:A:deliverystream/NAME.
 *   Glue      glue:<Operation>; Data Catalog operations on the catalog, the database
 *             and (table operations) the table — AWS requires all three:
 *             arn:aws:glue:R:A:catalog, ...:database/DB, ...:table/DB/TABLE. Schema
 *             registry operations on ...:registry/REG and ...:schema/REG/SCHEMA.
 *   Athena    athena:<Operation> on arn:aws:athena:R:A:workgroup/WG or
 *             ...:datacatalog/NAME.
 *   S3        the action named in the S3 column below on arn:aws:s3:::BUCKET or
 *             arn:aws:s3:::BUCKET/KEY (no region or account in S3 ARNs).
 *   CloudWatch cloudwatch:<Operation> on "*" (no resource-level permissions).
 *   STS       GetCallerIdentity needs no permission.
 */
#include "iam/actions.h"

#include <stdio.h>
#include <string.h>

/* The resource kinds an operation is checked on. */
enum res {
    R_END,       /* end of list */
    R_STAR,      /* "*" */
    R_ARN,       /* in->resource_arn */
    R_STREAM,    /* Kinesis stream */
    R_CONSUMER,  /* Kinesis consumer */
    R_DELIVERY,  /* Firehose delivery stream */
    R_BUCKET,    /* S3 bucket */
    R_OBJECT,    /* S3 object */
    R_SOURCE,    /* S3 copy source object */
    R_CATALOG,   /* Glue catalog */
    R_DATABASE,  /* Glue database */
    R_DATABASES, /* Glue database/(all) */
    R_TABLE,     /* Glue table */
    R_TABLES,    /* Glue table/DB/(all) */
    R_REGISTRY,  /* Glue registry */
    R_SCHEMA,    /* Glue schema */
    R_WORKGROUP, /* Athena workgroup */
    R_DATACAT,   /* Athena data catalog */
};

static const struct iam_condition_source list_keys[] = {
    {"s3:prefix", IAM_KEY_QUERY, "prefix"},
    {"s3:delimiter", IAM_KEY_QUERY, "delimiter"},
    {"s3:max-keys", IAM_KEY_QUERY, "max-keys"},
};
static const struct iam_condition_source put_keys[] = {
    {"s3:x-amz-server-side-encryption", IAM_KEY_HEADER, "x-amz-server-side-encryption"},
    {"s3:x-amz-server-side-encryption-aws-kms-key-id", IAM_KEY_HEADER,
     "x-amz-server-side-encryption-aws-kms-key-id"},
    {"s3:x-amz-acl", IAM_KEY_HEADER, "x-amz-acl"},
    {"s3:x-amz-storage-class", IAM_KEY_HEADER, "x-amz-storage-class"},
    {"s3:x-amz-copy-source", IAM_KEY_HEADER, "x-amz-copy-source"},
    {"s3:x-amz-metadata-directive", IAM_KEY_HEADER, "x-amz-metadata-directive"},
};
static const struct iam_condition_source version_keys[] = {
    {"s3:versionid", IAM_KEY_QUERY, "versionId"},
};
static const struct iam_condition_source acl_keys[] = {
    {"s3:x-amz-acl", IAM_KEY_HEADER, "x-amz-acl"},
};

enum keyset { K_NONE, K_LIST, K_PUT, K_PUT_NOCOPY, K_VERSION, K_ACL };

struct op {
    const char *service;
    const char *operation;
    const char *action; /* NULL: "<service>:<operation>" */
    enum res res[IAM_ACTION_MAX_RESOURCES + 1];
    enum keyset keys;
};

#define KIN(op, ...)                                                                               \
    {                                                                                              \
        "kinesis", op, NULL, {__VA_ARGS__}, K_NONE                                                 \
    }
#define FH(op, ...)                                                                                \
    {                                                                                              \
        "firehose", op, NULL, {__VA_ARGS__}, K_NONE                                                \
    }
#define GLUE(op, ...)                                                                              \
    {                                                                                              \
        "glue", op, NULL, {__VA_ARGS__}, K_NONE                                                    \
    }
#define ATH(op, ...)                                                                               \
    {                                                                                              \
        "athena", op, NULL, {__VA_ARGS__}, K_NONE                                                  \
    }
#define S3(op, act, keys, ...)                                                                     \
    {                                                                                              \
        "s3", op, "s3:" act, {__VA_ARGS__}, keys                                                   \
    }
#define CW(op)                                                                                     \
    {                                                                                              \
        "cloudwatch", op, NULL, {R_STAR}, K_NONE                                                   \
    }

/* clang-format off */
static const struct op ops[] = {
    KIN("CreateStream", R_STREAM), KIN("DeleteStream", R_STREAM),
    KIN("DescribeStream", R_STREAM), KIN("DescribeStreamSummary", R_STREAM),
    KIN("ListStreams", R_STAR), KIN("ListShards", R_STREAM), KIN("GetShardIterator", R_STREAM),
    KIN("IncreaseStreamRetentionPeriod", R_STREAM), KIN("DecreaseStreamRetentionPeriod", R_STREAM),
    KIN("UpdateStreamMode", R_STREAM), KIN("StartStreamEncryption", R_STREAM),
    KIN("StopStreamEncryption", R_STREAM), KIN("DescribeLimits", R_STAR),
    KIN("SplitShard", R_STREAM), KIN("MergeShards", R_STREAM), KIN("UpdateShardCount", R_STREAM),
    KIN("AddTagsToStream", R_STREAM), KIN("ListTagsForStream", R_STREAM),
    KIN("RemoveTagsFromStream", R_STREAM), KIN("TagResource", R_ARN), KIN("UntagResource", R_ARN),
    KIN("ListTagsForResource", R_ARN), KIN("PutRecord", R_STREAM), KIN("PutRecords", R_STREAM),
    KIN("GetRecords", R_STREAM), KIN("RegisterStreamConsumer", R_STREAM),
    KIN("DescribeStreamConsumer", R_CONSUMER), KIN("ListStreamConsumers", R_STREAM),
    KIN("DeregisterStreamConsumer", R_CONSUMER), KIN("SubscribeToShard", R_CONSUMER),

    FH("CreateDeliveryStream", R_DELIVERY), FH("DeleteDeliveryStream", R_DELIVERY),
    FH("DescribeDeliveryStream", R_DELIVERY), FH("ListDeliveryStreams", R_STAR),
    FH("UpdateDestination", R_DELIVERY), FH("TagDeliveryStream", R_DELIVERY),
    FH("UntagDeliveryStream", R_DELIVERY), FH("ListTagsForDeliveryStream", R_DELIVERY),
    FH("StartDeliveryStreamEncryption", R_DELIVERY), FH("StopDeliveryStreamEncryption", R_DELIVERY),
    FH("PutRecord", R_DELIVERY), FH("PutRecordBatch", R_DELIVERY),

    GLUE("CreateDatabase", R_CATALOG, R_DATABASE), GLUE("GetDatabase", R_CATALOG, R_DATABASE),
    GLUE("GetDatabases", R_CATALOG, R_DATABASES), GLUE("UpdateDatabase", R_CATALOG, R_DATABASE),
    GLUE("DeleteDatabase", R_CATALOG, R_DATABASE, R_TABLES),
    GLUE("CreateTable", R_CATALOG, R_DATABASE, R_TABLE), GLUE("GetTable", R_CATALOG, R_DATABASE, R_TABLE),
    GLUE("GetTables", R_CATALOG, R_DATABASE, R_TABLES),
    GLUE("UpdateTable", R_CATALOG, R_DATABASE, R_TABLE), GLUE("DeleteTable", R_CATALOG, R_DATABASE, R_TABLE),
    GLUE("BatchDeleteTable", R_CATALOG, R_DATABASE, R_TABLE),
    GLUE("GetTableVersions", R_CATALOG, R_DATABASE, R_TABLE),
    GLUE("GetTableVersion", R_CATALOG, R_DATABASE, R_TABLE),
    GLUE("DeleteTableVersion", R_CATALOG, R_DATABASE, R_TABLE),
    GLUE("BatchDeleteTableVersion", R_CATALOG, R_DATABASE, R_TABLE),
    GLUE("SearchTables", R_CATALOG, R_DATABASES, R_STAR),
    GLUE("CreatePartition", R_CATALOG, R_DATABASE, R_TABLE),
    GLUE("BatchCreatePartition", R_CATALOG, R_DATABASE, R_TABLE),
    GLUE("GetPartition", R_CATALOG, R_DATABASE, R_TABLE), GLUE("GetPartitions", R_CATALOG, R_DATABASE, R_TABLE),
    GLUE("BatchGetPartition", R_CATALOG, R_DATABASE, R_TABLE),
    GLUE("UpdatePartition", R_CATALOG, R_DATABASE, R_TABLE),
    GLUE("BatchUpdatePartition", R_CATALOG, R_DATABASE, R_TABLE),
    GLUE("DeletePartition", R_CATALOG, R_DATABASE, R_TABLE),
    GLUE("BatchDeletePartition", R_CATALOG, R_DATABASE, R_TABLE),
    GLUE("CreatePartitionIndex", R_CATALOG, R_DATABASE, R_TABLE),
    GLUE("GetPartitionIndexes", R_CATALOG, R_DATABASE, R_TABLE),
    GLUE("DeletePartitionIndex", R_CATALOG, R_DATABASE, R_TABLE),
    GLUE("TagResource", R_ARN), GLUE("UntagResource", R_ARN), GLUE("GetTags", R_ARN),
    GLUE("CreateRegistry", R_REGISTRY), GLUE("GetRegistry", R_REGISTRY), GLUE("ListRegistries", R_STAR),
    GLUE("UpdateRegistry", R_REGISTRY), GLUE("DeleteRegistry", R_REGISTRY),
    GLUE("CreateSchema", R_REGISTRY, R_SCHEMA), GLUE("GetSchema", R_SCHEMA), GLUE("ListSchemas", R_STAR),
    GLUE("UpdateSchema", R_SCHEMA), GLUE("DeleteSchema", R_SCHEMA),
    GLUE("RegisterSchemaVersion", R_SCHEMA), GLUE("GetSchemaVersion", R_SCHEMA),
    GLUE("ListSchemaVersions", R_SCHEMA), GLUE("GetSchemaByDefinition", R_SCHEMA),
    GLUE("GetSchemaVersionsDiff", R_SCHEMA), GLUE("DeleteSchemaVersions", R_SCHEMA),
    GLUE("CheckSchemaVersionValidity", R_STAR), GLUE("PutSchemaVersionMetadata", R_SCHEMA),
    GLUE("QuerySchemaVersionMetadata", R_SCHEMA), GLUE("RemoveSchemaVersionMetadata", R_SCHEMA),

    ATH("CreateWorkGroup", R_WORKGROUP), ATH("GetWorkGroup", R_WORKGROUP), ATH("ListWorkGroups", R_STAR),
    ATH("UpdateWorkGroup", R_WORKGROUP), ATH("DeleteWorkGroup", R_WORKGROUP),
    ATH("StartQueryExecution", R_WORKGROUP), ATH("GetQueryExecution", R_WORKGROUP),
    ATH("BatchGetQueryExecution", R_WORKGROUP), ATH("ListQueryExecutions", R_WORKGROUP),
    ATH("StopQueryExecution", R_WORKGROUP), ATH("GetQueryResults", R_WORKGROUP),
    ATH("ListDataCatalogs", R_STAR), ATH("GetDataCatalog", R_DATACAT), ATH("ListDatabases", R_DATACAT),
    ATH("GetDatabase", R_DATACAT), ATH("ListTableMetadata", R_DATACAT), ATH("GetTableMetadata", R_DATACAT),
    ATH("CreateNamedQuery", R_WORKGROUP), ATH("GetNamedQuery", R_WORKGROUP),
    ATH("BatchGetNamedQuery", R_WORKGROUP), ATH("ListNamedQueries", R_WORKGROUP),
    ATH("UpdateNamedQuery", R_WORKGROUP), ATH("DeleteNamedQuery", R_WORKGROUP),
    ATH("CreatePreparedStatement", R_WORKGROUP), ATH("GetPreparedStatement", R_WORKGROUP),
    ATH("BatchGetPreparedStatement", R_WORKGROUP), ATH("ListPreparedStatements", R_WORKGROUP),
    ATH("UpdatePreparedStatement", R_WORKGROUP), ATH("DeletePreparedStatement", R_WORKGROUP),
    ATH("TagResource", R_ARN), ATH("UntagResource", R_ARN), ATH("ListTagsForResource", R_ARN),
    ATH("GetQueryRuntimeStatistics", R_WORKGROUP), ATH("ListEngineVersions", R_STAR),

    S3("ListBuckets", "ListAllMyBuckets", K_NONE, R_STAR),
    S3("CreateBucket", "CreateBucket", K_ACL, R_BUCKET),
    S3("DeleteBucket", "DeleteBucket", K_NONE, R_BUCKET),
    S3("HeadBucket", "ListBucket", K_NONE, R_BUCKET),
    S3("GetBucketLocation", "GetBucketLocation", K_NONE, R_BUCKET),
    S3("GetBucketVersioning", "GetBucketVersioning", K_NONE, R_BUCKET),
    S3("PutBucketVersioning", "PutBucketVersioning", K_NONE, R_BUCKET),
    S3("GetBucketAcl", "GetBucketAcl", K_NONE, R_BUCKET),
    S3("PutBucketAcl", "PutBucketAcl", K_ACL, R_BUCKET),
    S3("GetBucketPolicy", "GetBucketPolicy", K_NONE, R_BUCKET),
    S3("PutBucketPolicy", "PutBucketPolicy", K_NONE, R_BUCKET),
    S3("DeleteBucketPolicy", "DeleteBucketPolicy", K_NONE, R_BUCKET),
    S3("GetBucketTagging", "GetBucketTagging", K_NONE, R_BUCKET),
    S3("PutBucketTagging", "PutBucketTagging", K_NONE, R_BUCKET),
    S3("DeleteBucketTagging", "PutBucketTagging", K_NONE, R_BUCKET),
    S3("ListObjects", "ListBucket", K_LIST, R_BUCKET),
    S3("ListObjectsV2", "ListBucket", K_LIST, R_BUCKET),
    S3("ListObjectVersions", "ListBucketVersions", K_LIST, R_BUCKET),
    S3("ListMultipartUploads", "ListBucketMultipartUploads", K_NONE, R_BUCKET),
    S3("GetObject", "GetObject", K_NONE, R_OBJECT),
    S3("HeadObject", "GetObject", K_NONE, R_OBJECT),
    S3("PutObject", "PutObject", K_PUT_NOCOPY, R_OBJECT),
    S3("CopyObject", "PutObject", K_PUT, R_OBJECT),
    S3("DeleteObject", "DeleteObject", K_NONE, R_OBJECT),
    S3("DeleteObjects", "DeleteObject", K_NONE, R_OBJECT),
    S3("GetObjectTagging", "GetObjectTagging", K_VERSION, R_OBJECT),
    S3("PutObjectTagging", "PutObjectTagging", K_VERSION, R_OBJECT),
    S3("DeleteObjectTagging", "DeleteObjectTagging", K_VERSION, R_OBJECT),
    S3("GetObjectAcl", "GetObjectAcl", K_VERSION, R_OBJECT),
    S3("PutObjectAcl", "PutObjectAcl", K_ACL, R_OBJECT),
    S3("CreateMultipartUpload", "PutObject", K_PUT_NOCOPY, R_OBJECT),
    S3("UploadPart", "PutObject", K_NONE, R_OBJECT),
    S3("UploadPartCopy", "PutObject", K_NONE, R_OBJECT),
    S3("CompleteMultipartUpload", "PutObject", K_NONE, R_OBJECT),
    S3("AbortMultipartUpload", "AbortMultipartUpload", K_NONE, R_OBJECT),
    S3("ListParts", "ListMultipartUploadParts", K_NONE, R_OBJECT),
    S3("GetBucketCors", "GetBucketCORS", K_NONE, R_BUCKET),
    S3("PutBucketCors", "PutBucketCORS", K_NONE, R_BUCKET),
    S3("DeleteBucketCors", "PutBucketCORS", K_NONE, R_BUCKET),
    S3("GetBucketMetricsConfiguration", "GetMetricsConfiguration", K_NONE, R_BUCKET),
    S3("ListBucketMetricsConfigurations", "GetMetricsConfiguration", K_NONE, R_BUCKET),
    S3("PutBucketMetricsConfiguration", "PutMetricsConfiguration", K_NONE, R_BUCKET),
    S3("DeleteBucketMetricsConfiguration", "PutMetricsConfiguration", K_NONE, R_BUCKET),
    S3("GetBucketLifecycleConfiguration", "GetLifecycleConfiguration", K_NONE, R_BUCKET),
    S3("PutBucketLifecycleConfiguration", "PutLifecycleConfiguration", K_NONE, R_BUCKET),
    S3("DeleteBucketLifecycle", "PutLifecycleConfiguration", K_NONE, R_BUCKET),
    S3("GetBucketOwnershipControls", "GetBucketOwnershipControls", K_NONE, R_BUCKET),
    S3("PutBucketOwnershipControls", "PutBucketOwnershipControls", K_NONE, R_BUCKET),
    S3("DeleteBucketOwnershipControls", "PutBucketOwnershipControls", K_NONE, R_BUCKET),
    S3("GetPublicAccessBlock", "GetBucketPublicAccessBlock", K_NONE, R_BUCKET),
    S3("PutPublicAccessBlock", "PutBucketPublicAccessBlock", K_NONE, R_BUCKET),
    S3("DeletePublicAccessBlock", "PutBucketPublicAccessBlock", K_NONE, R_BUCKET),
    S3("GetBucketPolicyStatus", "GetBucketPolicyStatus", K_NONE, R_BUCKET),
    S3("GetObjectLockConfiguration", "GetBucketObjectLockConfiguration", K_NONE, R_BUCKET),
    S3("PutObjectLockConfiguration", "PutBucketObjectLockConfiguration", K_NONE, R_BUCKET),
    S3("GetObjectRetention", "GetObjectRetention", K_NONE, R_OBJECT),
    S3("PutObjectRetention", "PutObjectRetention", K_NONE, R_OBJECT),
    S3("GetObjectLegalHold", "GetObjectLegalHold", K_NONE, R_OBJECT),
    S3("PutObjectLegalHold", "PutObjectLegalHold", K_NONE, R_OBJECT),
    S3("BypassGovernanceRetention", "BypassGovernanceRetention", K_NONE, R_OBJECT),
    S3("GetObjectAttributes", "GetObjectAttributes", K_NONE, R_OBJECT),
    S3("RestoreObject", "RestoreObject", K_NONE, R_OBJECT),

    CW("PutMetricData"), CW("ListMetrics"), CW("GetMetricStatistics"), CW("GetMetricData"),

    {"sts", "GetCallerIdentity", NULL, {R_END}, K_NONE},
};
/* clang-format on */

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Writes the ARN of one resource kind; 0, -2 (missing name) or -3 (too long). */
static int arn_of(enum res r, const struct iam_action_input *in, char *buf)
{
    const char *pt = in->partition != NULL ? in->partition : "aws";
    const char *rg = in->region != NULL ? in->region : "";
    const char *ac = in->account != NULL ? in->account : "";
    const char *reg = in->registry != NULL ? in->registry : "default-registry";
    int n = 0;
#define NEED(x)                                                                                    \
    if ((x) == NULL || (x)[0] == '\0')                                                             \
    return -2
    switch (r) {
    case R_END: return -2;
    case R_STAR: n = snprintf(buf, IAM_ARN_MAX, "*"); break;
    case R_ARN:
        NEED(in->resource_arn);
        n = snprintf(buf, IAM_ARN_MAX, "%s", in->resource_arn);
        break;
    case R_STREAM:
        if (in->stream_arn != NULL && in->stream_arn[0] != '\0') {
            n = snprintf(buf, IAM_ARN_MAX, "%s", in->stream_arn);
            break;
        }
        NEED(in->stream_name);
        n = snprintf(buf, IAM_ARN_MAX, "arn:%s:kinesis:%s:%s:stream/%s", pt, rg, ac,
                     in->stream_name);
        break;
    case R_CONSUMER:
        NEED(in->consumer_arn);
        n = snprintf(buf, IAM_ARN_MAX, "%s", in->consumer_arn);
        break;
    case R_DELIVERY:
        NEED(in->delivery_stream);
        n = snprintf(buf, IAM_ARN_MAX, "arn:%s:firehose:%s:%s:deliverystream/%s", pt, rg, ac,
                     in->delivery_stream);
        break;
    case R_BUCKET:
        NEED(in->bucket);
        n = snprintf(buf, IAM_ARN_MAX, "arn:%s:s3:::%s", pt, in->bucket);
        break;
    case R_OBJECT:
        NEED(in->bucket);
        NEED(in->key);
        n = snprintf(buf, IAM_ARN_MAX, "arn:%s:s3:::%s/%s", pt, in->bucket, in->key);
        break;
    case R_SOURCE:
        NEED(in->copy_source_bucket);
        NEED(in->copy_source_key);
        n = snprintf(buf, IAM_ARN_MAX, "arn:%s:s3:::%s/%s", pt, in->copy_source_bucket,
                     in->copy_source_key);
        break;
    case R_CATALOG: n = snprintf(buf, IAM_ARN_MAX, "arn:%s:glue:%s:%s:catalog", pt, rg, ac); break;
    case R_DATABASE:
        NEED(in->database);
        n = snprintf(buf, IAM_ARN_MAX, "arn:%s:glue:%s:%s:database/%s", pt, rg, ac, in->database);
        break;
    case R_DATABASES:
        n = snprintf(buf, IAM_ARN_MAX, "arn:%s:glue:%s:%s:database/*", pt, rg, ac);
        break;
    case R_TABLE:
        NEED(in->database);
        NEED(in->table);
        n = snprintf(buf, IAM_ARN_MAX, "arn:%s:glue:%s:%s:table/%s/%s", pt, rg, ac, in->database,
                     in->table);
        break;
    case R_TABLES:
        NEED(in->database);
        n = snprintf(buf, IAM_ARN_MAX, "arn:%s:glue:%s:%s:table/%s/*", pt, rg, ac, in->database);
        break;
    case R_REGISTRY:
        n = snprintf(buf, IAM_ARN_MAX, "arn:%s:glue:%s:%s:registry/%s", pt, rg, ac, reg);
        break;
    case R_SCHEMA:
        NEED(in->schema);
        n = snprintf(buf, IAM_ARN_MAX, "arn:%s:glue:%s:%s:schema/%s/%s", pt, rg, ac, reg,
                     in->schema);
        break;
    case R_WORKGROUP:
        n = snprintf(buf, IAM_ARN_MAX, "arn:%s:athena:%s:%s:workgroup/%s", pt, rg, ac,
                     in->workgroup != NULL ? in->workgroup : "primary");
        break;
    case R_DATACAT:
        n = snprintf(buf, IAM_ARN_MAX, "arn:%s:athena:%s:%s:datacatalog/%s", pt, rg, ac,
                     in->data_catalog != NULL ? in->data_catalog : "AwsDataCatalog");
        break;
    }
#undef NEED
    return n < 0 || n >= IAM_ARN_MAX ? -3 : 0;
}

static int fill_check(struct iam_action_check *c, const char *action, const enum res *res,
                      const struct iam_action_input *in)
{
    snprintf(c->action, sizeof(c->action), "%s", action);
    c->n_resources = 0;
    for (size_t i = 0; i < IAM_ACTION_MAX_RESOURCES && res[i] != R_END; i++) {
        int rc = arn_of(res[i], in, c->resources[i]);
        if (rc < 0)
            return rc;
        c->resource_ptrs[i] = c->resources[i];
        c->n_resources++;
    }
    return 0;
}

/* S3 actions that take the ...Version form when the request names a version. */
static const char *versioned(const char *action, const struct iam_action_input *in)
{
    if (in->version_id == NULL || in->version_id[0] == '\0')
        return action;
    if (strcmp(action, "s3:GetObject") == 0)
        return "s3:GetObjectVersion";
    if (strcmp(action, "s3:DeleteObject") == 0)
        return "s3:DeleteObjectVersion";
    if (strcmp(action, "s3:GetObjectTagging") == 0)
        return "s3:GetObjectVersionTagging";
    if (strcmp(action, "s3:PutObjectTagging") == 0)
        return "s3:PutObjectVersionTagging";
    if (strcmp(action, "s3:DeleteObjectTagging") == 0)
        return "s3:DeleteObjectVersionTagging";
    if (strcmp(action, "s3:GetObjectAcl") == 0)
        return "s3:GetObjectVersionAcl";
    if (strcmp(action, "s3:GetObjectAttributes") == 0)
        return "s3:GetObjectVersionAttributes";
    return action;
}

static void set_keys(struct iam_action *out, enum keyset k)
{
    switch (k) {
    case K_NONE: out->keys = NULL, out->n_keys = 0; break;
    case K_LIST: out->keys = list_keys, out->n_keys = N_OF(list_keys); break;
    case K_PUT: out->keys = put_keys, out->n_keys = N_OF(put_keys); break;
    case K_PUT_NOCOPY: out->keys = put_keys, out->n_keys = 4; break;
    case K_VERSION: out->keys = version_keys, out->n_keys = N_OF(version_keys); break;
    case K_ACL: out->keys = acl_keys, out->n_keys = N_OF(acl_keys); break;
    }
}

int iam_action_of(const char *service, const char *operation, const struct iam_action_input *in,
                  struct iam_action *out)
{
    out->no_auth = 0;
    out->n_checks = 0;
    out->keys = NULL;
    out->n_keys = 0;
    for (size_t i = 0; i < N_OF(ops); i++) {
        const struct op *o = &ops[i];
        if (strcmp(o->service, service) != 0 || strcmp(o->operation, operation) != 0)
            continue;
        if (o->res[0] == R_END) {
            out->no_auth = 1;
            return 0;
        }
        char action[64];
        if (o->action != NULL)
            snprintf(action, sizeof(action), "%s", versioned(o->action, in));
        else
            snprintf(action, sizeof(action), "%s:%s", service, operation);
        int rc = fill_check(&out->checks[0], action, o->res, in);
        if (rc < 0)
            return rc;
        out->n_checks = 1;
        set_keys(out, o->keys);
        if (strcmp(operation, "CopyObject") == 0 || strcmp(operation, "UploadPartCopy") == 0) {
            static const enum res src[] = {R_SOURCE, R_END};
            if ((rc = fill_check(&out->checks[1], "s3:GetObject", src, in)) < 0)
                return rc;
            out->n_checks = 2;
        }
        if (strcmp(operation, "GetObjectAttributes") == 0) {
            /* S3 wants both: s3:GetObject(Version) and s3:GetObject(Version)Attributes */
            if ((rc = fill_check(&out->checks[1], versioned("s3:GetObject", in), o->res, in)) < 0)
                return rc;
            out->n_checks = 2;
        }
        return 0;
    }
    return -1;
}
