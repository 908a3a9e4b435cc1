/*
 * Tests of the operation -> IAM action table (src/iam/actions.h): a sample of each
 * service's operations against the action and resource ARNs AWS's Service Authorization
 * Reference documents, the S3 version forms and CopyObject's second check, the service
 * condition keys, and the refusals (unknown operation, missing name).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "catalog/catalog_int.h"
#include "iam/actions.h"
#include "query/query_int.h"

#define ACCT "123456789012"
#define RG "us-east-1"

struct map_case {
    const char *service, *operation;
    struct iam_action_input in;
    const char *action;
    const char *res[3];
};

static void check(const struct map_case *c)
{
    struct iam_action a;
    int rc = iam_action_of(c->service, c->operation, &c->in, &a);
    if (rc != 0)
        fprintf(stderr, "%s:%s -> rc %d\n", c->service, c->operation, rc);
    assert_int_equal(rc, 0);
    assert_int_equal(a.no_auth, 0);
    assert_true(a.n_checks >= 1);
    assert_string_equal(a.checks[0].action, c->action);
    size_t n = 0;
    while (n < 3 && c->res[n] != NULL)
        n++;
    assert_int_equal(a.checks[0].n_resources, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(a.checks[0].resources[i], c->res[i]);
        assert_ptr_equal(a.checks[0].resource_ptrs[i], a.checks[0].resources[i]);
    }
}

#define IN(...)                                                                                    \
    {                                                                                              \
        .region = RG, .account = ACCT, __VA_ARGS__                                                 \
    }

static void documented_mappings(void **state)
{
    (void)state;
    static const struct map_case cases[] = {
        {"kinesis",
         "PutRecords",
         IN(.stream_name = "orders"),
         "kinesis:PutRecords",
         {"arn:aws:kinesis:us-east-1:" ACCT ":stream/orders"}},
        {"kinesis",
         "GetRecords",
         IN(.stream_arn = "arn:aws:kinesis:us-east-1:" ACCT ":stream/s2"),
         "kinesis:GetRecords",
         {"arn:aws:kinesis:us-east-1:" ACCT ":stream/s2"}},
        {"kinesis", "ListStreams", IN(), "kinesis:ListStreams", {"*"}},
        {"kinesis",
         "SubscribeToShard",
         IN(.consumer_arn =
                "arn:aws:kinesis:us-east-1:" ACCT ":stream/orders/consumer/c1:1700000000"),
         "kinesis:SubscribeToShard",
         {"arn:aws:kinesis:us-east-1:" ACCT ":stream/orders/consumer/c1:1700000000"}},
        {"kinesis",
         "RegisterStreamConsumer",
         IN(.stream_name = "orders"),
         "kinesis:RegisterStreamConsumer",
         {"arn:aws:kinesis:us-east-1:" ACCT ":stream/orders"}},
        {"firehose",
         "PutRecordBatch",
         IN(.delivery_stream = "ds"),
         "firehose:PutRecordBatch",
         {"arn:aws:firehose:us-east-1:" ACCT ":deliverystream/ds"}},
        {"firehose", "ListDeliveryStreams", IN(), "firehose:ListDeliveryStreams", {"*"}},
        {"glue",
         "GetTable",
         IN(.database = "db", .table = "t"),
         "glue:GetTable",
         {"arn:aws:glue:us-east-1:" ACCT ":catalog", "arn:aws:glue:us-east-1:" ACCT ":database/db",
          "arn:aws:glue:us-east-1:" ACCT ":table/db/t"}},
        {"glue",
         "CreatePartition",
         IN(.database = "db", .table = "t"),
         "glue:CreatePartition",
         {"arn:aws:glue:us-east-1:" ACCT ":catalog", "arn:aws:glue:us-east-1:" ACCT ":database/db",
          "arn:aws:glue:us-east-1:" ACCT ":table/db/t"}},
        {"glue",
         "CreateDatabase",
         IN(.database = "db"),
         "glue:CreateDatabase",
         {"arn:aws:glue:us-east-1:" ACCT ":catalog",
          "arn:aws:glue:us-east-1:" ACCT ":database/db"}},
        {"glue",
         "GetTables",
         IN(.database = "db"),
         "glue:GetTables",
         {"arn:aws:glue:us-east-1:" ACCT ":catalog", "arn:aws:glue:us-east-1:" ACCT ":database/db",
          "arn:aws:glue:us-east-1:" ACCT ":table/db/*"}},
        {"glue",
         "GetSchema",
         IN(.registry = "r", .schema = "s"),
         "glue:GetSchema",
         {"arn:aws:glue:us-east-1:" ACCT ":schema/r/s"}},
        {"glue",
         "CreateRegistry",
         IN(),
         "glue:CreateRegistry",
         {"arn:aws:glue:us-east-1:" ACCT ":registry/default-registry"}},
        {"athena",
         "StartQueryExecution",
         IN(),
         "athena:StartQueryExecution",
         {"arn:aws:athena:us-east-1:" ACCT ":workgroup/primary"}},
        {"athena",
         "GetQueryResults",
         IN(.workgroup = "etl"),
         "athena:GetQueryResults",
         {"arn:aws:athena:us-east-1:" ACCT ":workgroup/etl"}},
        {"athena",
         "GetTableMetadata",
         IN(),
         "athena:GetTableMetadata",
         {"arn:aws:athena:us-east-1:" ACCT ":datacatalog/AwsDataCatalog"}},
        {"s3",
         "GetObject",
         IN(.bucket = "lake", .key = "a/b.parquet"),
         "s3:GetObject",
         {"arn:aws:s3:::lake/a/b.parquet"}},
        {"s3",
         "HeadObject",
         IN(.bucket = "lake", .key = "k"),
         "s3:GetObject",
         {"arn:aws:s3:::lake/k"}},
        {"s3",
         "GetObject",
         IN(.bucket = "lake", .key = "k", .version_id = "v1"),
         "s3:GetObjectVersion",
         {"arn:aws:s3:::lake/k"}},
        {"s3", "ListObjectsV2", IN(.bucket = "lake"), "s3:ListBucket", {"arn:aws:s3:::lake"}},
        {"s3", "HeadBucket", IN(.bucket = "lake"), "s3:ListBucket", {"arn:aws:s3:::lake"}},
        {"s3", "ListBuckets", IN(), "s3:ListAllMyBuckets", {"*"}},
        {"s3",
         "ListMultipartUploads",
         IN(.bucket = "lake"),
         "s3:ListBucketMultipartUploads",
         {"arn:aws:s3:::lake"}},
        {"s3",
         "UploadPart",
         IN(.bucket = "lake", .key = "k"),
         "s3:PutObject",
         {"arn:aws:s3:::lake/k"}},
        {"s3",
         "ListParts",
         IN(.bucket = "lake", .key = "k"),
         "s3:ListMultipartUploadParts",
         {"arn:aws:s3:::lake/k"}},
        {"s3",
         "DeleteBucketTagging",
         IN(.bucket = "lake"),
         "s3:PutBucketTagging",
         {"arn:aws:s3:::lake"}},
        {"s3",
         "DeleteObject",
         IN(.bucket = "lake", .key = "k", .version_id = "v"),
         "s3:DeleteObjectVersion",
         {"arn:aws:s3:::lake/k"}},
        {"cloudwatch", "PutMetricData", IN(), "cloudwatch:PutMetricData", {"*"}},
        {"cloudwatch", "GetMetricData", IN(), "cloudwatch:GetMetricData", {"*"}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check(&cases[i]);
}

static void copy_checks_the_source_and_keys(void **state)
{
    (void)state;
    struct iam_action a;
    struct iam_action_input in =
        IN(.bucket = "dst", .key = "k2", .copy_source_bucket = "src", .copy_source_key = "k1");
    assert_int_equal(iam_action_of("s3", "CopyObject", &in, &a), 0);
    assert_int_equal(a.n_checks, 2);
    assert_string_equal(a.checks[0].action, "s3:PutObject");
    assert_string_equal(a.checks[0].resources[0], "arn:aws:s3:::dst/k2");
    assert_string_equal(a.checks[1].action, "s3:GetObject");
    assert_string_equal(a.checks[1].resources[0], "arn:aws:s3:::src/k1");
    int has_copy_source = 0;
    for (size_t i = 0; i < a.n_keys; i++)
        has_copy_source |= strcmp(a.keys[i].key, "s3:x-amz-copy-source") == 0;
    assert_true(has_copy_source);

    in = (struct iam_action_input)IN(.bucket = "lake");
    assert_int_equal(iam_action_of("s3", "ListObjects", &in, &a), 0);
    assert_int_equal(a.n_keys, 3);
    assert_string_equal(a.keys[0].key, "s3:prefix");
    assert_int_equal(a.keys[0].from, IAM_KEY_QUERY);
    assert_string_equal(a.keys[0].name, "prefix");

    in = (struct iam_action_input)IN(.bucket = "lake", .key = "k");
    assert_int_equal(iam_action_of("s3", "PutObject", &in, &a), 0);
    assert_string_equal(a.keys[0].key, "s3:x-amz-server-side-encryption");
    assert_int_equal(a.keys[0].from, IAM_KEY_HEADER);
    for (size_t i = 0; i < a.n_keys; i++)
        assert_string_not_equal(a.keys[i].key, "s3:x-amz-copy-source");
}

static void refusals(void **state)
{
    (void)state;
    struct iam_action a;
    struct iam_action_input in = IN();
    assert_int_equal(iam_action_of("kinesis", "NoSuchOperation", &in, &a), -1);
    assert_int_equal(iam_action_of("sqs", "SendMessage", &in, &a), -1);
    assert_int_equal(iam_action_of("kinesis", "PutRecord", &in, &a), -2); /* no stream */
    assert_int_equal(iam_action_of("glue", "GetTable", &in, &a), -2);     /* no database */
    assert_int_equal(iam_action_of("s3", "GetObject", &in, &a), -2);      /* no bucket */
    in.bucket = "b";
    assert_int_equal(iam_action_of("s3", "GetObject", &in, &a), -2); /* no key */
    char key[IAM_ARN_MAX + 10];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    in.key = key;
    assert_int_equal(iam_action_of("s3", "GetObject", &in, &a), -3);
    /* sts:GetCallerIdentity needs no permission */
    assert_int_equal(iam_action_of("sts", "GetCallerIdentity", &in, &a), 0);
    assert_int_equal(a.no_auth, 1);
    assert_int_equal(a.n_checks, 0);
}

/* Every operation the services dispatch has a row: the names of their dispatch tables. */
static void every_served_operation_is_mapped(void **state)
{
    (void)state;
    static const char *const kin[] = {"CreateStream",
                                      "DeleteStream",
                                      "DescribeStream",
                                      "DescribeStreamSummary",
                                      "ListStreams",
                                      "ListShards",
                                      "GetShardIterator",
                                      "IncreaseStreamRetentionPeriod",
                                      "DecreaseStreamRetentionPeriod",
                                      "UpdateStreamMode",
                                      "StartStreamEncryption",
                                      "StopStreamEncryption",
                                      "DescribeLimits",
                                      "SplitShard",
                                      "MergeShards",
                                      "UpdateShardCount",
                                      "AddTagsToStream",
                                      "ListTagsForStream",
                                      "RemoveTagsFromStream",
                                      "TagResource",
                                      "UntagResource",
                                      "ListTagsForResource",
                                      "PutRecord",
                                      "PutRecords",
                                      "GetRecords",
                                      "RegisterStreamConsumer",
                                      "DescribeStreamConsumer",
                                      "ListStreamConsumers",
                                      "DeregisterStreamConsumer",
                                      "SubscribeToShard",
                                      NULL};
    static const char *const fh[] = {"CreateDeliveryStream",
                                     "DeleteDeliveryStream",
                                     "DescribeDeliveryStream",
                                     "ListDeliveryStreams",
                                     "UpdateDestination",
                                     "TagDeliveryStream",
                                     "UntagDeliveryStream",
                                     "ListTagsForDeliveryStream",
                                     "StartDeliveryStreamEncryption",
                                     "StopDeliveryStreamEncryption",
                                     "PutRecord",
                                     "PutRecordBatch",
                                     NULL};
    static const char *const s3[] = {"AbortMultipartUpload",
                                     "CompleteMultipartUpload",
                                     "CopyObject",
                                     "CreateBucket",
                                     "CreateMultipartUpload",
                                     "DeleteBucket",
                                     "DeleteBucketPolicy",
                                     "DeleteBucketTagging",
                                     "DeleteObject",
                                     "DeleteObjectTagging",
                                     "DeleteObjects",
                                     "GetBucketAcl",
                                     "GetBucketLocation",
                                     "GetBucketPolicy",
                                     "GetBucketTagging",
                                     "GetBucketVersioning",
                                     "GetObject",
                                     "GetObjectTagging",
                                     "HeadBucket",
                                     "HeadObject",
                                     "ListBuckets",
                                     "ListMultipartUploads",
                                     "ListObjectVersions",
                                     "ListObjects",
                                     "ListParts",
                                     "PutBucketAcl",
                                     "PutBucketPolicy",
                                     "PutBucketTagging",
                                     "PutBucketVersioning",
                                     "PutObject",
                                     "PutObjectAcl",
                                     "PutObjectTagging",
                                     "UploadPart",
                                     "UploadPartCopy",
                                     NULL};
    struct iam_action_input in =
        IN(.stream_name = "s",
           .consumer_arn = "arn:aws:kinesis:us-east-1:" ACCT ":stream/s/consumer/c:1",
           .resource_arn = "arn:aws:kinesis:us-east-1:" ACCT ":stream/s", .delivery_stream = "d",
           .bucket = "b", .key = "k", .copy_source_bucket = "b", .copy_source_key = "k0");
    struct iam_action a;
    for (size_t i = 0; kin[i] != NULL; i++)
        assert_int_equal(iam_action_of("kinesis", kin[i], &in, &a), 0);
    for (size_t i = 0; fh[i] != NULL; i++)
        assert_int_equal(iam_action_of("firehose", fh[i], &in, &a), 0);
    for (size_t i = 0; s3[i] != NULL; i++)
        assert_int_equal(iam_action_of("s3", s3[i], &in, &a), 0);
        /* Glue and Athena: straight from their operation lists */
#define OP_NAME(name) #name,
    static const char *const glue[] = {CATALOG_OPS(OP_NAME) NULL};
    static const char *const athena[] = {QUERY_OPS(OP_NAME) NULL};
    in.database = "db", in.table = "t", in.schema = "s";
    in.resource_arn = "arn:aws:glue:us-east-1:" ACCT ":database/db";
    for (size_t i = 0; glue[i] != NULL; i++) {
        int rc = iam_action_of("glue", glue[i], &in, &a);
        if (rc != 0)
            fprintf(stderr, "glue:%s -> %d\n", glue[i], rc);
        assert_int_equal(rc, 0);
        assert_true(strncmp(a.checks[0].action, "glue:", 5) == 0);
    }
    for (size_t i = 0; athena[i] != NULL; i++) {
        int rc = iam_action_of("athena", athena[i], &in, &a);
        if (rc != 0)
            fprintf(stderr, "athena:%s -> %d\n", athena[i], rc);
        assert_int_equal(rc, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(documented_mappings),
        cmocka_unit_test(copy_checks_the_source_and_keys),
        cmocka_unit_test(refusals),
        cmocka_unit_test(every_served_operation_is_mapped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
