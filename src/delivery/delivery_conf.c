/*
 * Destination configuration: the rules CreateDeliveryStream and UpdateDestination apply
 * to an S3/ExtendedS3 destination, and the description DescribeDeliveryStream shows.
 *
 * Two kinds of failure, as Firehose reports them:
 *   ValidationException   a constraint of the API model (length, range, pattern, enum,
 *                         a required member), worded "1 validation error detected: Value
 *                         'v' at 'path' failed to satisfy constraint: Member must ...",
 *                         the path in the wire's lower-camel member names;
 *   InvalidArgumentException  a rule of the service: prefix expressions, the error prefix
 *                         dynamic partitioning needs, the buffer and compression that
 *                         format conversion needs, the bucket ARN.
 *
 * The description is the configuration with AWS's defaults filled in: BufferingHints
 * {SizeInMBs 5 (128 with format conversion), IntervalInSeconds 300}, CompressionFormat
 * UNCOMPRESSED, EncryptionConfiguration {NoEncryptionConfig: NoEncryption},
 * CloudWatchLoggingOptions {Enabled: false}, S3BackupMode Disabled (S3BackupDescription:
 * the backup configuration with the same S3 defaults),
 * DataFormatConversionConfiguration.Enabled true when the member is given,
 * DynamicPartitioningConfiguration {Enabled false, RetryOptions.DurationInSeconds 300}
 * when given. It is what the store keeps and what the engine parses.
 */
#include <ctype.h>
#include <limits.h>
#include <string.h>

#include "core/mem.h"
#include "delivery/delivery_int.h"
#include "delivery/partition.h"
#include "delivery/tz.h"

static const char *const compression_names[] = {"UNCOMPRESSED", "GZIP", "ZIP", "Snappy",
                                                "HADOOP_SNAPPY"};

/* "RoleARN" -> "roleARN" appended to path with a dot. Caller frees. */
static char *member_path(const char *path, const char *member)
{
    char *p = xasprintf("%s.%s", path, member);
    char *m = p + strlen(path) + 1;
    *m = (char)tolower((unsigned char)*m);
    return p;
}

static int validation(struct err_info *err, const char *path, const char *member, const char *value,
                      const char *constraint)
{
    char *full = member_path(path, member);
    if (value != NULL) {
        err_set(err, SL_E(VALIDATION),
                "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: "
                "Member must %s",
                value, full, constraint);
    } else {
        err_set(err, SL_E(VALIDATION),
                "1 validation error detected: Value null at '%s' failed to satisfy constraint: "
                "Member must %s",
                full, constraint);
    }
    free(full);
    return SL_E(VALIDATION);
}

/*
 * The string member key of obj within [min_len, max_len] characters. *out is NULL when
 * absent (an error when required). Returns 0 or SL_E(VALIDATION).
 */
static int get_str(const json_t *obj, const char *key, const char *path, size_t min_len,
                   size_t max_len, int required, const char **out, struct err_info *err)
{
    *out = NULL;
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v)) {
        return required ? validation(err, path, key, NULL, "not be null") : 0;
    }
    if (!json_is_string(v)) {
        return validation(err, path, key, "(not a string)", "be a string");
    }
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n < min_len) {
        char c[64];
        snprintf(c, sizeof(c), "have length greater than or equal to %zu", min_len);
        return validation(err, path, key, s, c);
    }
    if (n > max_len) {
        char c[64];
        snprintf(c, sizeof(c), "have length less than or equal to %zu", max_len);
        return validation(err, path, key, s, c);
    }
    *out = s;
    return 0;
}

/* An integer member within [lo, hi]; *present says whether it was given. */
static int get_int(const json_t *obj, const char *key, const char *path, long lo, long hi,
                   long *out, int *present, struct err_info *err)
{
    *present = 0;
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v)) {
        return 0;
    }
    if (!json_is_integer(v)) {
        return validation(err, path, key, "(not an integer)", "be an integer");
    }
    long long n = json_integer_value(v);
    char val[32], c[64];
    snprintf(val, sizeof(val), "%lld", n);
    if (n < lo) {
        snprintf(c, sizeof(c), "have value greater than or equal to %ld", lo);
        return validation(err, path, key, val, c);
    }
    if (n > hi) {
        snprintf(c, sizeof(c), "have value less than or equal to %ld", hi);
        return validation(err, path, key, val, c);
    }
    *out = (long)n;
    *present = 1;
    return 0;
}

/* A boolean member; dflt when absent. */
static int get_bool(const json_t *obj, const char *key, int dflt)
{
    json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* FileExtension's pattern ^$|\.[0-9a-z!\-_.*'()]+, whole. */
static int file_extension_ok(const char *s)
{
    if (s[0] == '\0') {
        return 1;
    }
    if (s[0] != '.' || s[1] == '\0') {
        return 0;
    }
    for (const char *p = s + 1; *p; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || strchr("!-_.*'()", *p))) {
            return 0;
        }
    }
    return 1;
}

/* CustomTimeZone's pattern ^$|[a-zA-Z/_]+, whole. */
static int time_zone_ok(const char *s)
{
    for (const char *p = s; *p; p++) {
        if (!(isalpha((unsigned char)*p) || *p == '/' || *p == '_')) {
            return 0;
        }
    }
    return 1;
}

/* The bucket of "arn:aws:s3:::bucket" into out; 0 or -1. */
static int bucket_of_arn(const char *arn, char out[LAKE_BUCKET_NAME_MAX + 1])
{
    static const char *const heads[] = {
        "arn:aws:s3:::", "arn:aws-cn:s3:::", "arn:aws-us-gov:s3:::"};
    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
        if (starts_with(arn, heads[i])) {
            const char *b = arn + strlen(heads[i]);
            if (strlen(b) > LAKE_BUCKET_NAME_MAX || !lake_bucket_name_valid(b)) {
                return -1;
            }
            snprintf(out, LAKE_BUCKET_NAME_MAX + 1, "%s", b);
            return 0;
        }
    }
    return -1;
}

/* The prefix rules between Prefix and ErrorOutputPrefix (AWS's "Custom prefixes"). */
static int check_prefixes(const char *prefix, const char *error_prefix, int partitioning,
                          struct err_info *err)
{
    struct delivery_prefix_info p = {0}, e = {0};
    int rc;
    if (prefix != NULL && (rc = delivery__prefix_scan(prefix, &p, err)) < 0) {
        return rc;
    }
    if (error_prefix != NULL && (rc = delivery__prefix_scan(error_prefix, &e, err)) < 0) {
        return rc;
    }
    if (p.n_error_type > 0) {
        return err_set(err, SL_E(INVALID_ARGUMENT),
                       "The '!{firehose:error-output-type}' expression is only allowed in "
                       "ErrorOutputPrefix.");
    }
    if (e.n_partition_key > 0) {
        return err_set(err, SL_E(INVALID_ARGUMENT),
                       "The partitionKeyFromQuery and partitionKeyFromLambda namespaces are not "
                       "allowed in ErrorOutputPrefix.");
    }
    if (p.n_partition_key > 0 && !partitioning) {
        return err_set(err, SL_E(INVALID_ARGUMENT),
                       "The partitionKeyFromQuery and partitionKeyFromLambda namespaces are only "
                       "allowed in Prefix when dynamic partitioning is enabled.");
    }
    if (partitioning && p.n_partition_key == 0) {
        return err_set(err, SL_E(INVALID_ARGUMENT),
                       "When dynamic partitioning is enabled, Prefix must use at least one "
                       "partitionKeyFromQuery or partitionKeyFromLambda expression.");
    }
    if (partitioning && (error_prefix == NULL || error_prefix[0] == '\0')) {
        return err_set(err, SL_E(INVALID_ARGUMENT),
                       "ErrorOutputPrefix is required when dynamic partitioning is enabled.");
    }
    if (p.n_expressions > 0 && (error_prefix == NULL || error_prefix[0] == '\0')) {
        return err_set(err, SL_E(INVALID_ARGUMENT),
                       "ErrorOutputPrefix can't be null when Prefix contains expressions.");
    }
    if (e.n_expressions > 0 && e.n_error_type == 0) {
        return err_set(err, SL_E(INVALID_ARGUMENT),
                       "ErrorOutputPrefix must contain at least one "
                       "'!{firehose:error-output-type}' expression when it contains "
                       "expressions.");
    }
    return 0;
}

static int in_set(const char *s, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s, set[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* ProcessingConfiguration's model constraints: processor types and parameter names from
   their enums, parameter values 1..5120 characters and not blank. */
static int check_processing(const json_t *proc, const char *path, struct err_info *err)
{
    static const char *const types[] = {"RecordDeAggregation",     "Decompression",
                                        "CloudWatchLogProcessing", "Lambda",
                                        "MetadataExtraction",      "AppendDelimiterToRecord"};
    static const char *const names[] = {
        "LambdaArn", "NumberOfRetries",   "MetadataExtractionQuery", "JsonParsingEngine",
        "RoleArn",   "BufferSizeInMBs",   "BufferIntervalInSeconds", "SubRecordType",
        "Delimiter", "CompressionFormat", "DataMessageExtraction"};
    json_t *list = json_object_get(proc, "Processors");
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *p = json_array_get(list, i);
        char *pp = xasprintf("%s.processingConfiguration.processors.%zu.member", path, i + 1);
        const char *type = json_string_value(json_object_get(p, "Type"));
        int rc = 0;
        if (type == NULL) {
            rc = validation(err, pp, "Type", NULL, "not be null");
        } else if (!in_set(type, types, sizeof(types) / sizeof(types[0]))) {
            rc = validation(err, pp, "Type", type,
                            "satisfy enum value set: [RecordDeAggregation, Decompression, "
                            "CloudWatchLogProcessing, Lambda, MetadataExtraction, "
                            "AppendDelimiterToRecord]");
        }
        json_t *params = json_object_get(p, "Parameters");
        for (size_t k = 0; rc == 0 && k < json_array_size(params); k++) {
            json_t *q = json_array_get(params, k);
            char *qp = xasprintf("%s.parameters.%zu.member", pp, k + 1);
            const char *name = json_string_value(json_object_get(q, "ParameterName"));
            const char *value = NULL;
            if (name == NULL) {
                rc = validation(err, qp, "ParameterName", NULL, "not be null");
            } else if (!in_set(name, names, sizeof(names) / sizeof(names[0]))) {
                rc = validation(err, qp, "ParameterName", name,
                                "satisfy enum value set: [LambdaArn, NumberOfRetries, "
                                "MetadataExtractionQuery, JsonParsingEngine, RoleArn, "
                                "BufferSizeInMBs, BufferIntervalInSeconds, SubRecordType, "
                                "Delimiter, CompressionFormat, DataMessageExtraction]");
            } else if ((rc = get_str(q, "ParameterValue", qp, 1, 5120, 1, &value, err)) == 0 &&
                       value[strspn(value, " \t\r\n")] == '\0') {
                rc = validation(err, qp, "ParameterValue", value,
                                "satisfy regular expression pattern: ^(?!\\s*$).+");
            }
            free(qp);
        }
        free(pp);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

/* A processor's parameter value, or NULL. */
static const char *proc_param(const json_t *p, const char *name)
{
    json_t *params = json_object_get(p, "Parameters");
    for (size_t k = 0; k < json_array_size(params); k++) {
        json_t *q = json_array_get(params, k);
        const char *n = json_string_value(json_object_get(q, "ParameterName"));
        if (n != NULL && strcmp(n, name) == 0) {
            return json_string_value(json_object_get(q, "ParameterValue"));
        }
    }
    return NULL;
}

/* A MetadataExtraction processor's query must compile (JQ-1.6, within jq.h's bounds). */
static int check_extraction(const json_t *proc, struct err_info *err)
{
    json_t *list = json_object_get(proc, "Processors");
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *p = json_array_get(list, i);
        const char *type = json_string_value(json_object_get(p, "Type"));
        if (type == NULL || strcmp(type, "MetadataExtraction") != 0) {
            continue;
        }
        const char *query = proc_param(p, "MetadataExtractionQuery");
        if (query == NULL) {
            return err_set(err, SL_E(INVALID_ARGUMENT),
                           "MetadataExtractionQuery is required for the MetadataExtraction "
                           "processor.");
        }
        struct partition_extractor *x = NULL;
        struct err_info why;
        err_clear(&why);
        int rc = partition_extractor_create(query, strlen(query),
                                            proc_param(p, "JsonParsingEngine"), &x, &why);
        partition_extractor_destroy(x);
        if (rc == SL_E(NOMEM)) {
            return err_set(err, SL_E(INTERNAL), "out of memory compiling the query");
        }
        if (rc < 0) {
            return err_set(err, SL_E(INVALID_ARGUMENT), "Invalid MetadataExtractionQuery: %s",
                           why.message);
        }
    }
    return 0;
}

/* The members of a destination configuration, read and checked by the phases of
   delivery__dest_describe below. Strings point into the configuration and live as long as
   it; json_t pointers are borrowed members of it (NULL when absent). */
struct dest_conf {
    const char *role, *bucket_arn, *prefix, *error_prefix, *compression, *file_ext, *tz;
    int comp_idx;       /* index into compression_names; 0 (UNCOMPRESSED) when absent */
    long size_mb;       /* BufferingHints.SizeInMBs, AWS's default filled in */
    long interval_s;    /* BufferingHints.IntervalInSeconds, AWS's default filled in */
    int size_given;     /* SizeInMBs was given */
    int interval_given; /* IntervalInSeconds was given */
    json_t *conv;       /* DataFormatConversionConfiguration */
    int conversion;     /* conv is an object and enabled */
    json_t *dp;         /* DynamicPartitioningConfiguration */
    int partitioning;   /* dp is an object and enabled */
    long retry_s;       /* dp's RetryOptions.DurationInSeconds, default 300 */
    json_t *proc;       /* ProcessingConfiguration */
    const char *backup; /* S3BackupMode, NULL when absent */
};

/* The S3 basics: reads the string members (role, bucket, prefixes, compression, file
   extension, time zone) into *c and checks their patterns and enum values, and that the
   time zone is a known IANA zone. Returns 0, SL_E(VALIDATION) for a model constraint,
   SL_E(INVALID_ARGUMENT) for a bad bucket ARN or an unknown time zone. */
static int describe_s3_basics(const json_t *conf, const char *path, struct dest_conf *c,
                              struct err_info *err)
{
    int rc;
    if ((rc = get_str(conf, "RoleARN", path, 1, 512, 1, &c->role, err)) < 0 ||
        (rc = get_str(conf, "BucketARN", path, 1, 2048, 1, &c->bucket_arn, err)) < 0 ||
        (rc = get_str(conf, "Prefix", path, 0, 1024, 0, &c->prefix, err)) < 0 ||
        (rc = get_str(conf, "ErrorOutputPrefix", path, 0, 1024, 0, &c->error_prefix, err)) < 0 ||
        (rc = get_str(conf, "CompressionFormat", path, 0, 64, 0, &c->compression, err)) < 0 ||
        (rc = get_str(conf, "FileExtension", path, 0, 128, 0, &c->file_ext, err)) < 0 ||
        (rc = get_str(conf, "CustomTimeZone", path, 0, 50, 0, &c->tz, err)) < 0) {
        return rc;
    }
    if (!starts_with(c->role, "arn:")) {
        return validation(err, path, "RoleARN", c->role,
                          "satisfy regular expression pattern: arn:.*");
    }
    if (!starts_with(c->bucket_arn, "arn:")) {
        return validation(err, path, "BucketARN", c->bucket_arn,
                          "satisfy regular expression pattern: arn:.*");
    }
    char bucket[LAKE_BUCKET_NAME_MAX + 1];
    if (bucket_of_arn(c->bucket_arn, bucket) < 0) {
        return err_set(err, SL_E(INVALID_ARGUMENT), "BucketARN %s is not a valid S3 bucket ARN.",
                       c->bucket_arn);
    }
    c->comp_idx = 0;
    if (c->compression != NULL) {
        c->comp_idx = -1;
        for (int i = 0; i < 5; i++) {
            if (strcmp(c->compression, compression_names[i]) == 0) {
                c->comp_idx = i;
            }
        }
        if (c->comp_idx < 0) {
            return validation(err, path, "CompressionFormat", c->compression,
                              "satisfy enum value set: [UNCOMPRESSED, GZIP, ZIP, Snappy, "
                              "HADOOP_SNAPPY]");
        }
    }
    if (c->file_ext != NULL && !file_extension_ok(c->file_ext)) {
        return validation(err, path, "FileExtension", c->file_ext,
                          "satisfy regular expression pattern: ^$|\\.[0-9a-z!\\-_.*'()]+");
    }
    if (c->tz != NULL && !time_zone_ok(c->tz)) {
        return validation(err, path, "CustomTimeZone", c->tz,
                          "satisfy regular expression pattern: ^$|[a-zA-Z/_]+");
    }
    /* AWS accepts the zones of its list (IANA names); Sluice those of the system's tz
       database. The message's wording is Sluice's: AWS's is not documented. */
    if (c->tz != NULL && !delivery__tz_known(c->tz)) {
        return err_set(err, SL_E(INVALID_ARGUMENT),
                       "CustomTimeZone %s is not a supported time zone.", c->tz);
    }
    return 0;
}

/* The buffering hints: reads SizeInMBs (1..128, default 5) and IntervalInSeconds (0..900,
   default 300) into *c and notes which were given. Returns 0 or SL_E(VALIDATION) for a
   value out of range or of the wrong type. */
static int describe_buffering(const json_t *conf, const char *path, struct dest_conf *c,
                              struct err_info *err)
{
    c->size_mb = 5;
    c->interval_s = 300;
    c->size_given = 0;
    c->interval_given = 0;
    json_t *hints = json_object_get(conf, "BufferingHints");
    if (hints == NULL || json_is_null(hints)) {
        return 0;
    }
    char *hp = member_path(path, "BufferingHints");
    int rc = get_int(hints, "SizeInMBs", hp, 1, 128, &c->size_mb, &c->size_given, err);
    if (rc == 0) {
        rc = get_int(hints, "IntervalInSeconds", hp, 0, 900, &c->interval_s, &c->interval_given,
                     err);
    }
    free(hp);
    return rc;
}

/* The model's constraints on a ParquetSerDe: BlockSizeBytes >= 64 MiB, PageSizeBytes >=
   64 KiB, MaxPaddingBytes >= 0, the Compression and WriterVersion enums. 0 or
   SL_E(VALIDATION). */
static int check_parquet_serde(const json_t *conv, const char *path, struct err_info *err)
{
    const json_t *ps = json_object_get(
        json_object_get(json_object_get(conv, "OutputFormatConfiguration"), "Serializer"),
        "ParquetSerDe");
    if (!json_is_object(ps)) {
        return 0;
    }
    char *sp = xasprintf("%s.dataFormatConversionConfiguration.outputFormatConfiguration."
                         "serializer.parquetSerDe",
                         path);
    static const struct {
        const char *key;
        long min;
    } ints[] = {
        {"BlockSizeBytes", 64L << 20}, {"PageSizeBytes", 64L << 10}, {"MaxPaddingBytes", 0}};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof(ints) / sizeof(ints[0]); i++) {
        long v;
        int given;
        rc = get_int(ps, ints[i].key, sp, ints[i].min, LONG_MAX, &v, &given, err);
    }
    static const char *const codecs[] = {"UNCOMPRESSED", "GZIP", "SNAPPY", NULL};
    static const char *const versions[] = {"V1", "V2", NULL};
    static const struct {
        const char *key;
        const char *const *values;
        const char *set;
    } enums[] = {
        {"Compression", codecs, "satisfy enum value set: [UNCOMPRESSED, GZIP, SNAPPY]"},
        {"WriterVersion", versions, "satisfy enum value set: [V1, V2]"},
    };
    for (size_t i = 0; rc == 0 && i < sizeof(enums) / sizeof(enums[0]); i++) {
        const char *v = json_string_value(json_object_get(ps, enums[i].key));
        int ok = v == NULL;
        for (size_t k = 0; !ok && enums[i].values[k] != NULL; k++) {
            ok = strcmp(v, enums[i].values[k]) == 0;
        }
        if (!ok) {
            rc = validation(err, sp, enums[i].key, v, enums[i].set);
        }
    }
    free(sp);
    return rc;
}

/* The data format conversion: notes whether it is enabled (Enabled defaults to true) and,
   if so, raises the default buffer size to 128 MB and checks the rules that come with it.
   Returns 0, or SL_E(INVALID_ARGUMENT) when the buffer is under 64 MB, the output is
   compressed, or the schema, input or output format configuration is missing. */
static int describe_conversion(const json_t *conf, const char *path, struct dest_conf *c,
                               struct err_info *err)
{
    c->conv = json_object_get(conf, "DataFormatConversionConfiguration");
    c->conversion = json_is_object(c->conv) && get_bool(c->conv, "Enabled", 1);
    int rc = check_parquet_serde(c->conv, path, err);
    if (rc < 0 || !c->conversion) {
        return rc;
    }
    if (!c->size_given) {
        c->size_mb = 128;
    }
    if (c->size_mb < 64) {
        return err_set(err, SL_E(INVALID_ARGUMENT),
                       "BufferingHints.SizeInMBs must be at least 64 when data format "
                       "conversion is enabled.");
    }
    if (c->comp_idx != 0) {
        return err_set(err, SL_E(INVALID_ARGUMENT),
                       "CompressionFormat must be UNCOMPRESSED when data format conversion "
                       "is enabled.");
    }
    static const char *const needed[] = {"SchemaConfiguration", "InputFormatConfiguration",
                                         "OutputFormatConfiguration"};
    for (size_t i = 0; i < 3; i++) {
        if (!json_is_object(json_object_get(c->conv, needed[i]))) {
            return err_set(err, SL_E(INVALID_ARGUMENT),
                           "%s is required when data format conversion is enabled.", needed[i]);
        }
    }
    return 0;
}

/* The dynamic partitioning: notes whether it is enabled (Enabled defaults to false) and its
   retry duration (0..7200 s, default 300), then checks the rules it puts on the buffering
   interval and on the prefixes. Returns 0, SL_E(VALIDATION) for a retry duration out of
   range, SL_E(INVALID_ARGUMENT) for a zero interval with partitioning or a prefix that does
   not suit the partitioning (check_prefixes). */
static int describe_partitioning(const json_t *conf, const char *path, struct dest_conf *c,
                                 struct err_info *err)
{
    int rc;
    c->dp = json_object_get(conf, "DynamicPartitioningConfiguration");
    c->partitioning = json_is_object(c->dp) && get_bool(c->dp, "Enabled", 0);
    c->retry_s = 300;
    if (json_is_object(c->dp)) {
        json_t *ro = json_object_get(c->dp, "RetryOptions");
        if (json_is_object(ro)) {
            int given;
            char *rp = member_path(path, "DynamicPartitioningConfiguration.retryOptions");
            rc = get_int(ro, "DurationInSeconds", rp, 0, 7200, &c->retry_s, &given, err);
            free(rp);
            if (rc < 0) {
                return rc;
            }
        }
    }
    if (c->partitioning && c->interval_given && c->interval_s == 0) {
        return err_set(err, SL_E(INVALID_ARGUMENT),
                       "BufferingHints.IntervalInSeconds must be greater than 0 when dynamic "
                       "partitioning is enabled.");
    }
    return check_prefixes(c->prefix, c->error_prefix, c->partitioning, err);
}

/* The S3BackupConfiguration of source record backup, an S3DestinationConfiguration: the S3
   basics and buffering hints of its own (model constraints under its path) and the prefix
   rules; required when S3BackupMode is Enabled (AWS's console offers the backup with a
   Lambda transform or format conversion; the API's rule beyond that is not documented, so
   Sluice asks nothing more). Returns 0, SL_E(VALIDATION), SL_E(INVALID_ARGUMENT). */
static int describe_backup(const json_t *conf, const char *path, const struct dest_conf *c,
                           struct err_info *err)
{
    json_t *bc = json_object_get(conf, "S3BackupConfiguration");
    int enabled = c->backup != NULL && strcmp(c->backup, "Enabled") == 0;
    if (enabled && !json_is_object(bc)) {
        return err_set(err, SL_E(INVALID_ARGUMENT),
                       "S3BackupConfiguration is required when S3BackupMode is Enabled.");
    }
    if (!json_is_object(bc)) {
        return 0;
    }
    char *bp = member_path(path, "S3BackupConfiguration");
    struct dest_conf b = {0};
    int rc;
    if ((rc = describe_s3_basics(bc, bp, &b, err)) == 0 &&
        (rc = describe_buffering(bc, bp, &b, err)) == 0) {
        rc = check_prefixes(b.prefix, b.error_prefix, 0, err);
    }
    free(bp);
    return rc;
}

/* The processing configuration and the backup mode: checks the processors
   (check_processing) and that any MetadataExtraction query compiles (check_extraction),
   then reads S3BackupMode and checks the backup's configuration (describe_backup). Returns
   0, or the error of either check, SL_E(VALIDATION) for a backup mode that is not Disabled
   or Enabled, or describe_backup's error. */
static int describe_processing(const json_t *conf, const char *path, struct dest_conf *c,
                               struct err_info *err)
{
    int rc;
    c->proc = json_object_get(conf, "ProcessingConfiguration");
    if (json_is_object(c->proc) && (rc = check_processing(c->proc, path, err)) < 0) {
        return rc;
    }
    if (json_is_object(c->proc) && (rc = check_extraction(c->proc, err)) < 0) {
        return rc;
    }
    if (json_is_object(c->proc) &&
        (rc = delivery__processing_check(c->proc, c->partitioning, err)) < 0) {
        return rc;
    }
    c->backup = NULL;
    if ((rc = get_str(conf, "S3BackupMode", path, 0, 16, 0, &c->backup, err)) < 0) {
        return rc;
    }
    if (c->backup != NULL && strcmp(c->backup, "Disabled") != 0 &&
        strcmp(c->backup, "Enabled") != 0) {
        return validation(err, path, "S3BackupMode", c->backup,
                          "satisfy enum value set: [Disabled, Enabled]");
    }
    return describe_backup(conf, path, c, err);
}

/* The members an S3DestinationDescription has, in AWS's order with its defaults filled in,
   which the extended description begins with too. A new reference. */
static json_t *describe_s3_members(const json_t *conf, const struct dest_conf *c)
{
    json_t *d = json_object();
    json_object_set_new(d, "RoleARN", json_string(c->role));
    json_object_set_new(d, "BucketARN", json_string(c->bucket_arn));
    if (c->prefix != NULL) {
        json_object_set_new(d, "Prefix", json_string(c->prefix));
    }
    if (c->error_prefix != NULL) {
        json_object_set_new(d, "ErrorOutputPrefix", json_string(c->error_prefix));
    }
    json_object_set_new(d, "BufferingHints",
                        json_pack("{s:I,s:I}", "SizeInMBs", (json_int_t)c->size_mb,
                                  "IntervalInSeconds", (json_int_t)c->interval_s));
    json_object_set_new(d, "CompressionFormat", json_string(compression_names[c->comp_idx]));
    json_t *enc = json_object_get(conf, "EncryptionConfiguration");
    json_object_set_new(d, "EncryptionConfiguration",
                        json_is_object(enc) && json_object_size(enc) > 0
                            ? json_deep_copy(enc)
                            : json_pack("{s:s}", "NoEncryptionConfig", "NoEncryption"));
    json_t *cw = json_object_get(conf, "CloudWatchLoggingOptions");
    json_object_set_new(d, "CloudWatchLoggingOptions",
                        json_is_object(cw) ? json_deep_copy(cw) : json_pack("{s:b}", "Enabled", 0));
    return d;
}

/* The S3BackupDescription of a backup configuration that describe_backup accepted. */
static json_t *describe_backup_build(const json_t *bc)
{
    struct dest_conf b = {0};
    struct err_info ignored;
    err_clear(&ignored);
    describe_s3_basics(bc, "s3BackupConfiguration", &b, &ignored);
    describe_buffering(bc, "s3BackupConfiguration", &b, &ignored);
    return describe_s3_members(bc, &b);
}

/* Builds the ExtendedS3DestinationDescription from a configuration that every phase above
   accepted, members in AWS's order with its defaults filled in. Returns a new reference;
   there is no failure case (jansson's allocations go unchecked here, as they did before). */
static json_t *describe_build(const json_t *conf, const struct dest_conf *c)
{
    json_t *d = describe_s3_members(conf, c);
    if (json_is_object(c->proc)) {
        json_object_set_new(d, "ProcessingConfiguration", json_deep_copy(c->proc));
    }
    json_object_set_new(d, "S3BackupMode", json_string(c->backup != NULL ? c->backup : "Disabled"));
    json_t *backup_conf = json_object_get(conf, "S3BackupConfiguration");
    if (json_is_object(backup_conf)) {
        json_object_set_new(d, "S3BackupDescription", describe_backup_build(backup_conf));
    }
    if (json_is_object(c->conv)) {
        json_t *conv = json_deep_copy(c->conv);
        json_object_set_new(conv, "Enabled", json_boolean(c->conversion));
        json_object_set_new(d, "DataFormatConversionConfiguration", conv);
    }
    if (json_is_object(c->dp)) {
        json_object_set_new(d, "DynamicPartitioningConfiguration",
                            json_pack("{s:{s:I},s:b}", "RetryOptions", "DurationInSeconds",
                                      (json_int_t)c->retry_s, "Enabled", c->partitioning));
    }
    if (c->file_ext != NULL) {
        json_object_set_new(d, "FileExtension", json_string(c->file_ext));
    }
    if (c->tz != NULL) {
        json_object_set_new(d, "CustomTimeZone", json_string(c->tz));
    }
    return d;
}

/* Validates phase by phase, in the order AWS reports the first error, and only then builds
   the description, so no failure leaves anything to free. */
int delivery__dest_describe(const json_t *conf, const char *path, json_t **desc_out,
                            struct err_info *err)
{
    *desc_out = NULL;
    if (!json_is_object(conf)) {
        return err_set(err, SL_E(SERIALIZATION),
                       "Start of structure or map found where not "
                       "expected.");
    }
    struct dest_conf c = {0};
    int rc;
    if ((rc = describe_s3_basics(conf, path, &c, err)) < 0 ||
        (rc = describe_buffering(conf, path, &c, err)) < 0 ||
        (rc = describe_conversion(conf, path, &c, err)) < 0 ||
        (rc = describe_partitioning(conf, path, &c, err)) < 0 ||
        (rc = describe_processing(conf, path, &c, err)) < 0) {
        return rc;
    }
    *desc_out = describe_build(conf, &c);
    return 0;
}

json_t *delivery__dest_s3_view(const json_t *desc)
{
    static const char *const members[] = {"RoleARN",
                                          "BucketARN",
                                          "Prefix",
                                          "ErrorOutputPrefix",
                                          "BufferingHints",
                                          "CompressionFormat",
                                          "EncryptionConfiguration",
                                          "CloudWatchLoggingOptions"};
    json_t *v = json_object();
    for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
        json_t *m = json_object_get(desc, members[i]);
        if (m != NULL) {
            json_object_set_new(v, members[i], json_deep_copy(m));
        }
    }
    return v;
}

void delivery__dest_fini(struct delivery_dest *d)
{
    if (d == NULL) {
        return;
    }
    free(d->role);
    free(d->prefix);
    free(d->error_prefix);
    free(d->file_extension);
    free(d->time_zone);
    free(d->conversion_json);
    free(d->meta_query);
    free(d->meta_engine);
    free(d->proc_json);
    free(d->backup_prefix);
    memset(d, 0, sizeof(*d));
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? xstrdup(s) : NULL;
}

void delivery__dest_copy(struct delivery_dest *dst, const struct delivery_dest *src)
{
    *dst = *src;
    dst->role = dup_or_null(src->role);
    dst->prefix = dup_or_null(src->prefix);
    dst->error_prefix = dup_or_null(src->error_prefix);
    dst->file_extension = dup_or_null(src->file_extension);
    dst->time_zone = dup_or_null(src->time_zone);
    dst->conversion_json = dup_or_null(src->conversion_json);
    dst->meta_query = dup_or_null(src->meta_query);
    dst->meta_engine = dup_or_null(src->meta_engine);
    dst->proc_json = dup_or_null(src->proc_json);
    dst->backup_prefix = dup_or_null(src->backup_prefix);
}

/* The processors of an enabled ProcessingConfiguration into d. */
static void parse_processors(const json_t *proc, struct delivery_dest *d)
{
    if (!json_is_true(json_object_get(proc, "Enabled"))) {
        return;
    }
    d->proc_json = json_dumps(proc, JSON_COMPACT);
    json_t *list = json_object_get(proc, "Processors");
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *p = json_array_get(list, i);
        const char *type = json_string_value(json_object_get(p, "Type"));
        if (type == NULL) {
            continue;
        }
        if (strcmp(type, "MetadataExtraction") == 0) {
            free(d->meta_query);
            free(d->meta_engine);
            d->meta_query = dup_or_null(proc_param(p, "MetadataExtractionQuery"));
            d->meta_engine = dup_or_null(proc_param(p, "JsonParsingEngine"));
        } else if (strcmp(type, "AppendDelimiterToRecord") == 0) {
            d->append_delimiter = 1;
        } else if (strcmp(type, "RecordDeAggregation") == 0) {
            d->deaggregation = 1;
        } else if (strcmp(type, "Lambda") == 0) {
            d->lambda = 1;
        } else if (strcmp(type, "Decompression") == 0) {
            d->decompression = 1;
        } else if (strcmp(type, "CloudWatchLogProcessing") == 0) {
            d->cwl_extraction = 1;
        }
    }
}

int delivery__dest_parse(const json_t *desc, struct delivery_dest *out)
{
    memset(out, 0, sizeof(*out));
    const char *arn = json_string_value(json_object_get(desc, "BucketARN"));
    if (arn == NULL || bucket_of_arn(arn, out->bucket) < 0) {
        return SL_E(CORRUPT);
    }
    const char *s = json_string_value(json_object_get(desc, "RoleARN"));
    out->role = s != NULL ? xstrdup(s) : NULL;
    s = json_string_value(json_object_get(desc, "Prefix"));
    out->prefix = s != NULL ? xstrdup(s) : NULL;
    s = json_string_value(json_object_get(desc, "ErrorOutputPrefix"));
    out->error_prefix = s != NULL ? xstrdup(s) : NULL;
    json_t *hints = json_object_get(desc, "BufferingHints");
    out->size_mb = (int)json_integer_value(json_object_get(hints, "SizeInMBs"));
    out->interval_s = (int)json_integer_value(json_object_get(hints, "IntervalInSeconds"));
    s = json_string_value(json_object_get(desc, "CompressionFormat"));
    for (int i = 0; s != NULL && i < 5; i++) {
        if (strcmp(s, compression_names[i]) == 0) {
            out->compression = (enum delivery_compression)i;
        }
    }
    s = json_string_value(json_object_get(desc, "FileExtension"));
    out->file_extension = s != NULL && s[0] != '\0' ? xstrdup(s) : NULL;
    s = json_string_value(json_object_get(desc, "CustomTimeZone"));
    out->time_zone = s != NULL && s[0] != '\0' && strcmp(s, "UTC") != 0 ? xstrdup(s) : NULL;
    json_t *conv = json_object_get(desc, "DataFormatConversionConfiguration");
    out->conversion = json_is_true(json_object_get(conv, "Enabled"));
    out->conversion_json = out->conversion ? json_dumps(conv, JSON_COMPACT) : NULL;
    json_t *dp = json_object_get(desc, "DynamicPartitioningConfiguration");
    out->partitioning = json_is_true(json_object_get(dp, "Enabled"));
    parse_processors(json_object_get(desc, "ProcessingConfiguration"), out);
    json_t *bd = json_object_get(desc, "S3BackupDescription");
    s = json_string_value(json_object_get(desc, "S3BackupMode"));
    const char *barn = json_string_value(json_object_get(bd, "BucketARN"));
    if (s != NULL && strcmp(s, "Enabled") == 0 && barn != NULL &&
        bucket_of_arn(barn, out->backup_bucket) == 0) {
        out->backup = 1;
        s = json_string_value(json_object_get(bd, "Prefix"));
        out->backup_prefix = s != NULL ? xstrdup(s) : NULL;
        s = json_string_value(json_object_get(bd, "CompressionFormat"));
        for (int i = 0; s != NULL && i < 5; i++) {
            if (strcmp(s, compression_names[i]) == 0) {
                out->backup_compression = (enum delivery_compression)i;
            }
        }
    }
    if (out->size_mb < 1) {
        out->size_mb = 5;
    }
    return 0;
}
