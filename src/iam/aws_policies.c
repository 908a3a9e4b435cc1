/*
 * AWS's own managed policies that the module, the lab and their readers name, with the
 * documents of AWS's managed policy reference (the version noted in each entry).
 * ReadOnlyAccess is AWS's document cut down to the statements' actions for the services
 * Sluice has (Athena, CloudWatch, Firehose, Glue, IAM, Kinesis, KMS, S3, STS): the whole
 * runs to thousands of actions of services that do not exist here.
 */
#include "iam/iam_int.h"

static const struct iam_aws_policy policies[] = {

    {"AmazonKinesisFullAccess", "/",
     "Provides full access to all streams via the AWS Management Console.", 1423248000000,
     1423248000000, 1,
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"kinesis:*\","
     "\"Resource\":\"*\"}]}"},
    {"AmazonKinesisReadOnlyAccess", "/",
     "Provides read only access to all streams via the AWS Management Console.", 1423248000000,
     1423248000000, 1,
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"kinesis:Get*"
     "\","
     "\"kinesis:List*\",\"kinesis:Describe*\"],\"Resource\":\"*\"}]}"},
    {"AmazonKinesisFirehoseFullAccess", "/",
     "Provides full access to all Amazon Kinesis Firehose Delivery Streams.", 1444243500000,
     1444243500000, 1,
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Action\":[\"firehose:*\"],\"Effect\":\"Allow\","
     "\"Resource\":\"*\"}]}"},
    {"AmazonS3ReadOnlyAccess", "/",
     "Provides read only access to all buckets via the AWS Management Console.", 1423248000000,
     1691703060000, 3,
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"s3:Get*\","
     "\"s3:List*\",\"s3:Describe*\",\"s3-object-lambda:Get*\",\"s3-object-lambda:List*\"],"
     "\"Resource\":\"*\"}]}"},
    {"AdministratorAccess", "/",
     "Provides full access to AWS services and resources.",
     1423247986000LL, 1423247986000LL, 1,
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Reso"
     "urce\":\"*\"}]}"},
    {"ReadOnlyAccess", "/",
     "Provides read-only access to AWS services and resources.",
     1423247988000LL, 1653336978000LL, 87,
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"athena:Ba"
     "tch*\",\"athena:Get*\",\"athena:List*\",\"cloudwatch:Describe*\",\"cloudwatch:Get*\",\"c"
     "loudwatch:List*\",\"firehose:Describe*\",\"firehose:List*\",\"glue:BatchGetDevEndpoints\""
     ",\"glue:BatchGetJobs\",\"glue:BatchGetPartition\",\"glue:BatchGetTriggers\",\"glue:Batch"
     "GetWorkflows\",\"glue:CheckSchemaVersionValidity\",\"glue:GetCatalogImportStatus\",\"glu"
     "e:GetClassifier\",\"glue:GetClassifiers\",\"glue:GetCrawler\",\"glue:GetCrawlerMetrics\""
     ",\"glue:GetCrawlers\",\"glue:GetDatabase\",\"glue:GetDatabases\",\"glue:GetDataCatalogEn"
     "cryptionSettings\",\"glue:GetDataflowGraph\",\"glue:GetDevEndpoint\",\"glue:GetDevEndpoi"
     "nts\",\"glue:GetJob\",\"glue:GetJobBookmark\",\"glue:GetJobRun\",\"glue:GetJobRuns\",\"g"
     "lue:GetJobs\",\"glue:GetMapping\",\"glue:GetMLTaskRun\",\"glue:GetMLTaskRuns\",\"glue:Ge"
     "tMLTransform\",\"glue:GetMLTransforms\",\"glue:GetPartition\",\"glue:GetPartitions\",\"g"
     "lue:GetPlan\",\"glue:GetRegistry\",\"glue:GetResourcePolicy\",\"glue:GetSchema\",\"glue:"
     "GetSchemaByDefinition\",\"glue:GetSchemaVersion\",\"glue:GetSchemaVersionsDiff\",\"glue:"
     "GetSecurityConfiguration\",\"glue:GetSecurityConfigurations\",\"glue:GetTable\",\"glue:G"
     "etTables\",\"glue:GetTableVersion\",\"glue:GetTableVersions\",\"glue:GetTags\",\"glue:Ge"
     "tTrigger\",\"glue:GetTriggers\",\"glue:GetUserDefinedFunction\",\"glue:GetUserDefinedFun"
     "ctions\",\"glue:GetWorkflow\",\"glue:GetWorkflowRun\",\"glue:GetWorkflowRunProperties\","
     "\"glue:GetWorkflowRuns\",\"glue:ListCrawlers\",\"glue:ListDevEndpoints\",\"glue:ListJobs"
     "\",\"glue:ListMLTransforms\",\"glue:ListRegistries\",\"glue:ListSchemas\",\"glue:ListSch"
     "emaVersions\",\"glue:ListTriggers\",\"glue:ListWorkflows\",\"glue:QuerySchemaVersionMeta"
     "data\",\"iam:Generate*\",\"iam:Get*\",\"iam:List*\",\"iam:Simulate*\",\"kinesis:Describe"
     "*\",\"kinesis:Get*\",\"kinesis:List*\",\"kms:Describe*\",\"kms:Get*\",\"kms:List*\",\"s3"
     "-object-lambda:GetObject\",\"s3-object-lambda:GetObjectAcl\",\"s3-object-lambda:GetObjec"
     "tLegalHold\",\"s3-object-lambda:GetObjectRetention\",\"s3-object-lambda:GetObjectTagging"
     "\",\"s3-object-lambda:GetObjectVersion\",\"s3-object-lambda:GetObjectVersionAcl\",\"s3-o"
     "bject-lambda:GetObjectVersionTagging\",\"s3-object-lambda:ListBucket\",\"s3-object-lambd"
     "a:ListBucketMultipartUploads\",\"s3-object-lambda:ListBucketVersions\",\"s3-object-lambd"
     "a:ListMultipartUploadParts\",\"s3:DescribeJob\",\"s3:Get*\",\"s3:List*\",\"sts:GetAccess"
     "KeyInfo\",\"sts:GetCallerIdentity\",\"sts:GetSessionToken\"],\"Resource\":\"*\"}]}"},
    {"AmazonS3FullAccess", "/",
     "Provides full access to all buckets via the AWS Management Console.",
     1423248058000LL, 1632773797000LL, 2,
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"s3:*\",\""
     "s3-object-lambda:*\"],\"Resource\":\"*\"}]}"},
    {"AmazonAthenaFullAccess", "/",
     "Provide full access to Amazon Athena and scoped access to the dependencies needed to enable querying, writing results, and data management.",
     1480524361000LL, 1704308755000LL, 11,
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"BaseAthenaPermissions\",\"Effect\""
     ":\"Allow\",\"Action\":[\"athena:*\"],\"Resource\":[\"*\"]},{\"Sid\":\"BaseGluePermission"
     "s\",\"Effect\":\"Allow\",\"Action\":[\"glue:CreateDatabase\",\"glue:DeleteDatabase\",\"g"
     "lue:GetDatabase\",\"glue:GetDatabases\",\"glue:UpdateDatabase\",\"glue:CreateTable\",\"g"
     "lue:DeleteTable\",\"glue:BatchDeleteTable\",\"glue:UpdateTable\",\"glue:GetTable\",\"glu"
     "e:GetTables\",\"glue:BatchCreatePartition\",\"glue:CreatePartition\",\"glue:DeletePartit"
     "ion\",\"glue:BatchDeletePartition\",\"glue:UpdatePartition\",\"glue:GetPartition\",\"glu"
     "e:GetPartitions\",\"glue:BatchGetPartition\",\"glue:StartColumnStatisticsTaskRun\",\"glu"
     "e:GetColumnStatisticsTaskRun\",\"glue:GetColumnStatisticsTaskRuns\"],\"Resource\":[\"*\""
     "]},{\"Sid\":\"BaseQueryResultsPermissions\",\"Effect\":\"Allow\",\"Action\":[\"s3:GetBuc"
     "ketLocation\",\"s3:GetObject\",\"s3:ListBucket\",\"s3:ListBucketMultipartUploads\",\"s3:"
     "ListMultipartUploadParts\",\"s3:AbortMultipartUpload\",\"s3:CreateBucket\",\"s3:PutObjec"
     "t\",\"s3:PutBucketPublicAccessBlock\"],\"Resource\":[\"arn:aws:s3:::aws-athena-query-res"
     "ults-*\"]},{\"Sid\":\"BaseAthenaExamplesPermissions\",\"Effect\":\"Allow\",\"Action\":[\""
     "s3:GetObject\",\"s3:ListBucket\"],\"Resource\":[\"arn:aws:s3:::athena-examples*\"]},{\"S"
     "id\":\"BaseS3BucketPermissions\",\"Effect\":\"Allow\",\"Action\":[\"s3:ListBucket\",\"s3"
     ":GetBucketLocation\",\"s3:ListAllMyBuckets\"],\"Resource\":[\"*\"]},{\"Sid\":\"BaseSNSPe"
     "rmissions\",\"Effect\":\"Allow\",\"Action\":[\"sns:ListTopics\",\"sns:GetTopicAttributes"
     "\"],\"Resource\":[\"*\"]},{\"Sid\":\"BaseCloudWatchPermissions\",\"Effect\":\"Allow\",\""
     "Action\":[\"cloudwatch:PutMetricAlarm\",\"cloudwatch:DescribeAlarms\",\"cloudwatch:Delet"
     "eAlarms\",\"cloudwatch:GetMetricData\"],\"Resource\":[\"*\"]},{\"Sid\":\"BaseLakeFormati"
     "onPermissions\",\"Effect\":\"Allow\",\"Action\":[\"lakeformation:GetDataAccess\"],\"Reso"
     "urce\":[\"*\"]},{\"Sid\":\"BaseDataZonePermissions\",\"Effect\":\"Allow\",\"Action\":[\""
     "datazone:ListDomains\",\"datazone:ListProjects\",\"datazone:ListAccountEnvironments\"],\""
     "Resource\":[\"*\"]},{\"Sid\":\"BasePricingPermissions\",\"Effect\":\"Allow\",\"Action\":"
     "[\"pricing:GetProducts\"],\"Resource\":[\"*\"]}]}"},
    {"AWSGlueServiceRole", "/service-role/",
     "Policy for AWS Glue service role which allows access to related services including EC2, S3, and Cloudwatch Logs",
     1502717859000LL, 1694450387000LL, 5,
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"glue:*\","
     "\"s3:GetBucketLocation\",\"s3:ListBucket\",\"s3:ListAllMyBuckets\",\"s3:GetBucketAcl\",\""
     "ec2:DescribeVpcEndpoints\",\"ec2:DescribeRouteTables\",\"ec2:CreateNetworkInterface\",\""
     "ec2:DeleteNetworkInterface\",\"ec2:DescribeNetworkInterfaces\",\"ec2:DescribeSecurityGro"
     "ups\",\"ec2:DescribeSubnets\",\"ec2:DescribeVpcAttribute\",\"iam:ListRolePolicies\",\"ia"
     "m:GetRole\",\"iam:GetRolePolicy\",\"cloudwatch:PutMetricData\"],\"Resource\":[\"*\"]},{\""
     "Effect\":\"Allow\",\"Action\":[\"s3:CreateBucket\"],\"Resource\":[\"arn:aws:s3:::aws-glu"
     "e-*\"]},{\"Effect\":\"Allow\",\"Action\":[\"s3:GetObject\",\"s3:PutObject\",\"s3:DeleteO"
     "bject\"],\"Resource\":[\"arn:aws:s3:::aws-glue-*/*\",\"arn:aws:s3:::*/*aws-glue-*/*\"]},"
     "{\"Effect\":\"Allow\",\"Action\":[\"s3:GetObject\"],\"Resource\":[\"arn:aws:s3:::crawler"
     "-public*\",\"arn:aws:s3:::aws-glue-*\"]},{\"Effect\":\"Allow\",\"Action\":[\"logs:Create"
     "LogGroup\",\"logs:CreateLogStream\",\"logs:PutLogEvents\"],\"Resource\":[\"arn:aws:logs:"
     "*:*:*:/aws-glue/*\"]},{\"Effect\":\"Allow\",\"Action\":[\"ec2:CreateTags\",\"ec2:DeleteT"
     "ags\"],\"Condition\":{\"ForAllValues:StringEquals\":{\"aws:TagKeys\":[\"aws-glue-service"
     "-resource\"]}},\"Resource\":[\"arn:aws:ec2:*:*:network-interface/*\",\"arn:aws:ec2:*:*:s"
     "ecurity-group/*\",\"arn:aws:ec2:*:*:instance/*\"]}]}"},
    {"AWSGlueConsoleFullAccess", "/",
     "Provides full access to AWS Glue via the AWS Management Console",
     1502717859000LL, 1680191921000LL, 13,
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"glue:*\","
     "\"redshift:DescribeClusters\",\"redshift:DescribeClusterSubnetGroups\",\"iam:ListRoles\""
     ",\"iam:ListUsers\",\"iam:ListGroups\",\"iam:ListRolePolicies\",\"iam:GetRole\",\"iam:Get"
     "RolePolicy\",\"iam:ListAttachedRolePolicies\",\"ec2:DescribeSecurityGroups\",\"ec2:Descr"
     "ibeSubnets\",\"ec2:DescribeVpcs\",\"ec2:DescribeVpcEndpoints\",\"ec2:DescribeRouteTables"
     "\",\"ec2:DescribeVpcAttribute\",\"ec2:DescribeKeyPairs\",\"ec2:DescribeInstances\",\"ec2"
     ":DescribeImages\",\"rds:DescribeDBInstances\",\"rds:DescribeDBClusters\",\"rds:DescribeD"
     "BSubnetGroups\",\"s3:ListAllMyBuckets\",\"s3:ListBucket\",\"s3:GetBucketAcl\",\"s3:GetBu"
     "cketLocation\",\"cloudformation:ListStacks\",\"cloudformation:DescribeStacks\",\"cloudfo"
     "rmation:GetTemplateSummary\",\"dynamodb:ListTables\",\"kms:ListAliases\",\"kms:DescribeK"
     "ey\",\"cloudwatch:GetMetricData\",\"cloudwatch:ListDashboards\"],\"Resource\":[\"*\"]},{"
     "\"Effect\":\"Allow\",\"Action\":[\"s3:GetObject\",\"s3:PutObject\"],\"Resource\":[\"arn:"
     "aws:s3:::aws-glue-*/*\",\"arn:aws:s3:::*/*aws-glue-*/*\",\"arn:aws:s3:::aws-glue-*\"]},{"
     "\"Effect\":\"Allow\",\"Action\":[\"tag:GetResources\"],\"Resource\":[\"*\"]},{\"Effect\""
     ":\"Allow\",\"Action\":[\"s3:CreateBucket\"],\"Resource\":[\"arn:aws:s3:::aws-glue-*\"]},"
     "{\"Effect\":\"Allow\",\"Action\":[\"logs:GetLogEvents\"],\"Resource\":[\"arn:aws:logs:*:"
     "*:/aws-glue/*\"]},{\"Effect\":\"Allow\",\"Action\":[\"cloudformation:CreateStack\",\"clo"
     "udformation:DeleteStack\"],\"Resource\":\"arn:aws:cloudformation:*:*:stack/aws-glue*/*\""
     "},{\"Effect\":\"Allow\",\"Action\":[\"ec2:RunInstances\"],\"Resource\":[\"arn:aws:ec2:*:"
     "*:instance/*\",\"arn:aws:ec2:*:*:key-pair/*\",\"arn:aws:ec2:*:*:image/*\",\"arn:aws:ec2:"
     "*:*:security-group/*\",\"arn:aws:ec2:*:*:network-interface/*\",\"arn:aws:ec2:*:*:subnet/"
     "*\",\"arn:aws:ec2:*:*:volume/*\"]},{\"Effect\":\"Allow\",\"Action\":[\"ec2:TerminateInst"
     "ances\",\"ec2:CreateTags\",\"ec2:DeleteTags\"],\"Condition\":{\"StringLike\":{\"ec2:Reso"
     "urceTag/aws:cloudformation:stack-id\":\"arn:aws:cloudformation:*:*:stack/aws-glue-*/*\"}"
     ",\"StringEquals\":{\"ec2:ResourceTag/aws:cloudformation:logical-id\":\"ZeppelinInstance\""
     "}},\"Resource\":[\"arn:aws:ec2:*:*:instance/*\"]},{\"Effect\":\"Allow\",\"Action\":[\"ia"
     "m:PassRole\"],\"Condition\":{\"StringLike\":{\"iam:PassedToService\":[\"glue.amazonaws.c"
     "om\"]}},\"Resource\":\"arn:aws:iam::*:role/AWSGlueServiceRole*\"},{\"Effect\":\"Allow\","
     "\"Action\":[\"iam:PassRole\"],\"Condition\":{\"StringLike\":{\"iam:PassedToService\":[\""
     "ec2.amazonaws.com\"]}},\"Resource\":\"arn:aws:iam::*:role/AWSGlueServiceNotebookRole*\"}"
     ",{\"Effect\":\"Allow\",\"Action\":[\"iam:PassRole\"],\"Condition\":{\"StringLike\":{\"ia"
     "m:PassedToService\":[\"glue.amazonaws.com\"]}},\"Resource\":[\"arn:aws:iam::*:role/servi"
     "ce-role/AWSGlueServiceRole*\"]}]}"},
    {"CloudWatchReadOnlyAccess", "/",
     "Provides read only access to CloudWatch.",
     1423248043000LL, 1764694149000LL, 14,
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"CloudWatchReadOnlyAccessPermission"
     "s\",\"Effect\":\"Allow\",\"Action\":[\"application-autoscaling:DescribeScalingPolicies\""
     ",\"application-signals:BatchGet*\",\"application-signals:Get*\",\"application-signals:Li"
     "st*\",\"autoscaling:Describe*\",\"cloudtrail:ListChannels\",\"cloudwatch:BatchGet*\",\"c"
     "loudwatch:Describe*\",\"cloudwatch:GenerateQuery\",\"cloudwatch:Get*\",\"cloudwatch:List"
     "*\",\"logs:Get*\",\"logs:List*\",\"logs:StartQuery\",\"logs:StopQuery\",\"logs:Describe*"
     "\",\"logs:TestMetricFilter\",\"logs:FilterLogEvents\",\"logs:StartLiveTail\",\"logs:Stop"
     "LiveTail\",\"oam:ListSinks\",\"observabilityadmin:GetCentralizationRuleForOrganization\""
     ",\"observabilityadmin:ListCentralizationRulesForOrganization\",\"observabilityadmin:GetT"
     "elemetryEvaluationStatus\",\"observabilityadmin:GetTelemetryEvaluationStatusForOrganizat"
     "ion\",\"observabilityadmin:GetTelemetryRule\",\"observabilityadmin:GetTelemetryRuleForOr"
     "ganization\",\"observabilityadmin:ListResourceTelemetry\",\"observabilityadmin:ListResou"
     "rceTelemetryForOrganization\",\"observabilityadmin:ListTelemetryRules\",\"observabilitya"
     "dmin:ListTelemetryRulesForOrganization\",\"observabilityadmin:GetTelemetryEnrichmentStat"
     "us\",\"observabilityadmin:ListTagsForResource\",\"observabilityadmin:GetTelemetryPipelin"
     "e\",\"observabilityadmin:ListTelemetryPipelines\",\"observabilityadmin:TestTelemetryPipe"
     "line\",\"observabilityadmin:ValidateTelemetryPipelineConfiguration\",\"observabilityadmi"
     "n:GetS3TableIntegration\",\"observabilityadmin:ListS3TableIntegrations\",\"sns:Get*\",\""
     "sns:List*\",\"rum:BatchGet*\",\"rum:Get*\",\"rum:List*\",\"synthetics:Describe*\",\"synt"
     "hetics:Get*\",\"synthetics:List*\",\"xray:BatchGet*\",\"xray:Get*\",\"xray:List*\",\"xra"
     "y:StartTraceRetrieval\",\"xray:CancelTraceRetrieval\"],\"Resource\":\"*\"},{\"Sid\":\"OA"
     "MReadPermissions\",\"Effect\":\"Allow\",\"Action\":[\"oam:ListAttachedLinks\"],\"Resourc"
     "e\":\"arn:aws:oam:*:*:sink/*\"},{\"Sid\":\"CloudWatchReadOnlyGetRolePermissions\",\"Effe"
     "ct\":\"Allow\",\"Action\":\"iam:GetRole\",\"Resource\":\"arn:aws:iam::*:role/aws-service"
     "-role/application-signals.cloudwatch.amazonaws.com/AWSServiceRoleForCloudWatchApplicatio"
     "nSignals\"},{\"Sid\":\"CloudWatchCloudTrailPermissions\",\"Effect\":\"Allow\",\"Action\""
     ":[\"cloudtrail:GetChannel\"],\"Resource\":\"arn:aws:cloudtrail:*:*:channel/aws-service-c"
     "hannel/application-signals/*\"},{\"Sid\":\"CloudWatchServiceQuotaPermissions\",\"Effect\""
     ":\"Allow\",\"Action\":[\"servicequotas:GetServiceQuota\"],\"Resource\":[\"arn:aws:servic"
     "equotas:*:*:s3/*\",\"arn:aws:servicequotas:*:*:dynamodb/*\",\"arn:aws:servicequotas:*:*:"
     "kinesis/*\",\"arn:aws:servicequotas:*:*:sns/*\",\"arn:aws:servicequotas:*:*:bedrock/*\","
     "\"arn:aws:servicequotas:*:*:lambda/*\",\"arn:aws:servicequotas:*:*:fargate/*\",\"arn:aws"
     ":servicequotas:*:*:elasticloadbalancing/*\",\"arn:aws:servicequotas:*:*:ec2/*\"]},{\"Sid"
     "\":\"CloudWatchResourceExplorerPermissions\",\"Effect\":\"Allow\",\"Action\":[\"resource"
     "-explorer-2:ListIndexes\",\"resource-explorer-2:Search\"],\"Resource\":[\"arn:aws:resour"
     "ce-explorer-2:*::view/AWSServiceViewForApplicationSignals/service-view\",\"arn:aws:resou"
     "rce-explorer-2:*::view/AWSServiceViewForApplicationSignalsOrgScopeProd/service-view\"]}]"
     "}"},
};

const struct iam_aws_policy *iam__aws_policies(size_t *n)
{
    *n = sizeof(policies) / sizeof(policies[0]);
    return policies;
}
