/*
 * Unit tests of the delivery part: the timestamp patterns and key layout, the prefix
 * rules and the destination validation (with AWS's defaults), and the engine driven
 * through a real store, lake and internal log with an injected clock: buffering by size
 * and by time, the flush operation, a failed object write retried until it succeeds,
 * delivery across a close and reopen, and the counters. Each engine test works in its own
 * mkdtemp directory; every test runs under an alarm.
 */
#define _XOPEN_SOURCE 700
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/base64.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/jq.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/store.h"
#include "delivery/compress.h"
#include "delivery/delivery.h"
#include "delivery/delivery_int.h"
#include "delivery/firehose_api.h"

#define T0_MS 1764151509123LL /* 2025-11-26T10:05:09.123Z, a Wednesday */

/* ---- timestamps and keys ---- */

static char *fmt(const char *pattern, int64_t ms)
{
    struct buf b;
    buf_init(&b);
    int rc = delivery__ts_format(pattern, strlen(pattern), ms, &b);
    if (rc < 0) {
        buf_fini(&b);
        return NULL;
    }
    buf_putc(&b, '\0');
    return (char *)b.data;
}

static void check_fmt(const char *pattern, const char *want)
{
    char *got = fmt(pattern, T0_MS);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void timestamp_patterns_follow_java_date_time_formatter(void **state)
{
    (void)state;
    check_fmt("yyyy/MM/dd/HH/", "2025/11/26/10/");
    check_fmt("yyyy-MM-dd-HH-mm-ss", "2025-11-26-10-05-09");
    check_fmt("yy M d H m s", "25 11 26 10 5 9");
    check_fmt("yyyy'-'MM", "2025-11");
    check_fmt("'year='yyyy/'month='MM", "year=2025/month=11");
    check_fmt("HH:mm:ss.SSS", "10:05:09.123");
    check_fmt("MMM MMMM EEE EEEE", "Nov November Wed Wednesday");
    check_fmt("hh a D k K", "10 AM 330 10 10");
    check_fmt("''yyyy''", "'2025'");
    check_fmt("uuuu", "2025");
    check_fmt("", "");
    /* Midnight reads 24 with k, 12 with h. */
    char *m = fmt("k h a", 1764115200000LL); /* 2025-11-26T00:00:00Z */
    assert_string_equal(m, "24 12 AM");
    free(m);
}

static void timestamp_patterns_outside_the_subset_are_refused(void **state)
{
    (void)state;
    const char *bad[] = {"qq", "yyyy'open", "[yyyy]", "yyyy#", "MMMMM", "ddd", "x", "Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(delivery__ts_format(bad[i], strlen(bad[i]), T0_MS, NULL), -1);
    }
}

static char *eval(const char *prefix, const char *error_type)
{
    struct buf b;
    buf_init(&b);
    delivery__prefix_eval(prefix, T0_MS, error_type, &b);
    buf_putc(&b, '\0');
    return (char *)b.data;
}

static void prefixes_follow_aws_rules(void **state)
{
    (void)state;
    char *s = eval(NULL, NULL);
    assert_string_equal(s, "2025/11/26/10/");
    free(s);
    s = eval("", NULL);
    assert_string_equal(s, "2025/11/26/10/");
    free(s);
    /* No expression: the time path is appended as is, no '/' inserted. */
    s = eval("legacy", NULL);
    assert_string_equal(s, "legacy2025/11/26/10/");
    free(s);
    s = eval("logs/", NULL);
    assert_string_equal(s, "logs/2025/11/26/10/");
    free(s);
    /* With expressions nothing is appended. */
    s = eval("ev/dt=!{timestamp:yyyy-MM-dd}/h=!{timestamp:HH}/", NULL);
    assert_string_equal(s, "ev/dt=2025-11-26/h=10/");
    free(s);
    s = eval("err/!{firehose:error-output-type}/!{timestamp:yyyy}/", "processing-failed");
    assert_string_equal(s, "err/processing-failed/2025/");
    free(s);
    s = eval("r/!{firehose:random-string}/!{firehose:random-string}/", NULL);
    assert_int_equal(strlen(s), strlen("r/") + 11 + 1 + 11 + 1);
    assert_memory_not_equal(s + 2, s + 14, 11);
    free(s);
}

static void object_keys_name_stream_version_time_and_uuid(void **state)
{
    (void)state;
    struct delivery_dest d = {.compression = DELIVERY_GZIP};
    struct buf b;
    buf_init(&b);
    delivery__object_key(&d, "orders", 3, T0_MS, &b);
    buf_putc(&b, '\0');
    const char *k = (const char *)b.data;
    const char *head = "2025/11/26/10/orders-3-2025-11-26-10-05-09-";
    assert_int_equal(strlen(k), strlen(head) + 36 + 3);
    assert_memory_equal(k, head, strlen(head));
    const char *uuid = k + strlen(head);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            assert_int_equal(uuid[i], '-');
        } else {
            assert_true((uuid[i] >= '0' && uuid[i] <= '9') || (uuid[i] >= 'a' && uuid[i] <= 'f'));
        }
    }
    assert_int_equal(uuid[14], '4');
    assert_string_equal(k + strlen(k) - 3, ".gz");
    buf_reset(&b);
    d.file_extension = ".json";
    d.prefix = "p/";
    delivery__object_key(&d, "s", 1, T0_MS, &b);
    buf_putc(&b, '\0');
    assert_memory_equal(b.data, "p/2025/11/26/10/s-1-", strlen("p/2025/11/26/10/s-1-"));
    assert_string_equal((char *)b.data + b.len - 1 - 5, ".json");
    buf_fini(&b);
}

static void expanded_prefixes_get_no_time_path(void **state)
{
    (void)state;
    /* A partition's prefix came from a template with expressions: nothing is appended. */
    struct delivery_dest d = {.prefix = "d/k=v/", .prefix_expanded = 1};
    struct buf b;
    buf_init(&b);
    delivery__object_key(&d, "s", 2, T0_MS, &b);
    buf_putc(&b, '\0');
    assert_memory_equal(b.data, "d/k=v/s-2-2025-11-26-10-05-09-",
                        strlen("d/k=v/s-2-2025-11-26-10-05-09-"));
    buf_reset(&b);
    /* Expressions left after the keys are evaluated as usual. */
    d.prefix = "d/k=v/!{timestamp:yyyy}/";
    delivery__object_key(&d, "s", 2, T0_MS, &b);
    buf_putc(&b, '\0');
    assert_memory_equal(b.data, "d/k=v/2025/s-2-", strlen("d/k=v/2025/s-2-"));
    buf_reset(&b);
    /* The same prefix without the flag is one without expressions: the time path follows. */
    d.prefix = "d/k=v/";
    d.prefix_expanded = 0;
    delivery__object_key(&d, "s", 2, T0_MS, &b);
    buf_putc(&b, '\0');
    assert_memory_equal(b.data, "d/k=v/2025/11/26/10/s-2-", strlen("d/k=v/2025/11/26/10/s-2-"));
    buf_fini(&b);
}

/* ---- validation ---- */

static int describe(const char *json, json_t **desc, struct err_info *err)
{
    json_t *conf = json_loads(json, 0, NULL);
    assert_non_null(conf);
    err_clear(err);
    int rc = delivery__dest_describe(conf, "extendedS3DestinationConfiguration", desc, err);
    json_decref(conf);
    return rc;
}

#define BASE_FOR(bucket)                                                                           \
    "\"RoleARN\":\"arn:aws:iam::1:role/r\",\"BucketARN\":\"arn:aws:s3:::" bucket "\""
#define BASE "\"RoleARN\":\"arn:aws:iam::1:role/r\",\"BucketARN\":\"arn:aws:s3:::bkt\""
#define CONV                                                                                       \
    "\"DataFormatConversionConfiguration\":{\"SchemaConfiguration\":{\"TableName\":\"t\"},"        \
    "\"InputFormatConfiguration\":{},\"OutputFormatConfiguration\":{}}"

static void descriptions_fill_in_aws_defaults(void **state)
{
    (void)state;
    json_t *d = NULL;
    struct err_info err;
    assert_int_equal(describe("{" BASE "}", &d, &err), 0);
    json_t *hints = json_object_get(d, "BufferingHints");
    assert_int_equal(json_integer_value(json_object_get(hints, "SizeInMBs")), 5);
    assert_int_equal(json_integer_value(json_object_get(hints, "IntervalInSeconds")), 300);
    assert_string_equal(json_string_value(json_object_get(d, "CompressionFormat")), "UNCOMPRESSED");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(d, "EncryptionConfiguration"), "NoEncryptionConfig")),
                        "NoEncryption");
    assert_string_equal(json_string_value(json_object_get(d, "S3BackupMode")), "Disabled");
    struct delivery_dest dest;
    assert_int_equal(delivery__dest_parse(d, &dest), 0);
    assert_string_equal(dest.bucket, "bkt");
    assert_int_equal(dest.size_mb, 5);
    assert_int_equal(dest.interval_s, 300);
    delivery__dest_fini(&dest);
    json_decref(d);

    /* Format conversion makes the default size 128 and says Enabled. */
    assert_int_equal(describe("{" BASE "," CONV "}", &d, &err), 0);
    hints = json_object_get(d, "BufferingHints");
    assert_int_equal(json_integer_value(json_object_get(hints, "SizeInMBs")), 128);
    assert_true(json_is_true(
        json_object_get(json_object_get(d, "DataFormatConversionConfiguration"), "Enabled")));
    json_decref(d);
}

#define DP_PROC(query, engine)                                                                     \
    "\"ProcessingConfiguration\":{\"Enabled\":true,\"Processors\":[{\"Type\":"                     \
    "\"MetadataExtraction\",\"Parameters\":[{\"ParameterName\":\"MetadataExtractionQuery\","       \
    "\"ParameterValue\":\"" query "\"},{\"ParameterName\":\"JsonParsingEngine\","                  \
    "\"ParameterValue\":\"" engine "\"}]},{\"Type\":\"AppendDelimiterToRecord\"}]}"
#define DP_CONF(query)                                                                             \
    "\"Prefix\":\"d/a=!{partitionKeyFromQuery:a}/b=!{partitionKeyFromQuery:b}/\","                 \
    "\"ErrorOutputPrefix\":\"e/!{firehose:error-output-type}/\","                                  \
    "\"DynamicPartitioningConfiguration\":{\"Enabled\":true}," DP_PROC(query, "JQ-1.6")

static void extraction_queries_are_compiled_at_create(void **state)
{
    (void)state;
    json_t *d = NULL;
    struct err_info err;
    assert_int_equal(describe("{" BASE "," DP_CONF("{a:.x,b:.y}") "}", &d, &err), 0);
    struct delivery_dest dest;
    assert_int_equal(delivery__dest_parse(d, &dest), 0);
    assert_true(dest.partitioning);
    assert_string_equal(dest.meta_query, "{a:.x,b:.y}");
    assert_string_equal(dest.meta_engine, "JQ-1.6");
    assert_true(dest.append_delimiter);
    assert_false(dest.deaggregation);
    struct delivery_dest copy;
    delivery__dest_copy(&copy, &dest);
    assert_string_equal(copy.meta_query, "{a:.x,b:.y}");
    assert_ptr_not_equal(copy.meta_query, dest.meta_query);
    delivery__dest_fini(&copy);
    delivery__dest_fini(&dest);
    json_decref(d);
    int I = SL_E(INVALID_ARGUMENT);
    char *bad[] = {"{" BASE "," DP_CONF("{a:.x") "}", "{" BASE "," DP_CONF("{a:$ENV}") "}",
                   "{" BASE "," DP_CONF("[.[]|.x] | {a:.[0]} | reduce .a as $x (0; 1)") "}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        d = NULL;
        int rc = describe(bad[i], &d, &err);
        if (rc != I || strstr(err.message, "Invalid MetadataExtractionQuery: ") == NULL) {
            fail_msg("%s: got %d '%s'", bad[i], rc, err.message);
        }
        assert_null(d);
    }
    d = NULL;
    assert_int_equal(describe("{" BASE ",\"Prefix\":\"d/!{partitionKeyFromQuery:a}/\","
                              "\"ErrorOutputPrefix\":\"e/!{firehose:error-output-type}/\","
                              "\"DynamicPartitioningConfiguration\":{\"Enabled\":true}," DP_PROC(
                                  "{a:.x}", "JQ-1.5") "}",
                              &d, &err),
                     I);
    assert_non_null(strstr(err.message, "JQ-1.6"));
    assert_null(d);
}

static void expect_refused(const char *json, int code, const char *fragment)
{
    json_t *d = NULL;
    struct err_info err;
    int rc = describe(json, &d, &err);
    if (rc != code || strstr(err.message, fragment) == NULL) {
        fail_msg("%s: got %d '%s', want %d containing '%s'", json, rc, err.message, code, fragment);
    }
    assert_null(d);
}

static void destinations_are_validated_as_aws_does(void **state)
{
    (void)state;
    int V = SL_E(VALIDATION), I = SL_E(INVALID_ARGUMENT);
    expect_refused("{\"BucketARN\":\"arn:aws:s3:::b\"}", V,
                   "Value null at 'extendedS3DestinationConfiguration.roleARN'");
    expect_refused("{" BASE ",\"BufferingHints\":{\"SizeInMBs\":129}}", V,
                   "Value '129' at 'extendedS3DestinationConfiguration.bufferingHints.sizeInMBs' "
                   "failed to satisfy constraint: Member must have value less than or equal to "
                   "128");
    expect_refused("{" BASE ",\"BufferingHints\":{\"IntervalInSeconds\":-1}}", V,
                   "greater than or equal to 0");
    expect_refused("{" BASE ",\"CompressionFormat\":\"LZ4\"}", V, "enum value set");
    expect_refused("{" BASE ",\"FileExtension\":\"json\"}", V,
                   "Value 'json' at 'extendedS3DestinationConfiguration.fileExtension' failed to "
                   "satisfy constraint: Member must satisfy regular expression pattern");
    expect_refused("{" BASE ",\"FileExtension\":\".JSON\"}", V, "regular expression");
    expect_refused("{\"RoleARN\":\"arn:r\",\"BucketARN\":\"arn:aws:s3:::Bad_Bucket\"}", I,
                   "not a valid S3 bucket ARN");
    expect_refused("{" BASE ",\"CustomTimeZone\":\"UTC+1\"}", V, "regular expression");
    expect_refused("{" BASE "," CONV ",\"BufferingHints\":{\"SizeInMBs\":63}}", I,
                   "BufferingHints.SizeInMBs must be at least 64 when data format conversion is "
                   "enabled.");
    expect_refused("{" BASE "," CONV ",\"CompressionFormat\":\"GZIP\"}", I,
                   "CompressionFormat must be UNCOMPRESSED");
    expect_refused("{" BASE ",\"DataFormatConversionConfiguration\":{}}", I,
                   "SchemaConfiguration is required");
    expect_refused("{" BASE ",\"Prefix\":\"a/!{timestamp:yyyy}/\"}", I,
                   "ErrorOutputPrefix can't be null when Prefix contains expressions.");
    expect_refused("{" BASE ",\"Prefix\":\"a/!{partitionKeyFromQuery:k}/\","
                   "\"DynamicPartitioningConfiguration\":{\"Enabled\":true}}",
                   I, "ErrorOutputPrefix is required when dynamic partitioning is enabled.");
    expect_refused("{" BASE ",\"Prefix\":\"a/\",\"ErrorOutputPrefix\":\"e/\","
                   "\"DynamicPartitioningConfiguration\":{\"Enabled\":true}}",
                   I, "must use at least one partitionKeyFromQuery");
    expect_refused("{" BASE ",\"Prefix\":\"a/!{partitionKeyFromQuery:k}/\","
                   "\"ErrorOutputPrefix\":\"e/\"}",
                   I, "only allowed in Prefix when dynamic partitioning is enabled");
    expect_refused("{" BASE ",\"ErrorOutputPrefix\":\"e/!{partitionKeyFromLambda:k}/"
                   "!{firehose:error-output-type}\"}",
                   I, "not allowed in ErrorOutputPrefix");
    expect_refused("{" BASE ",\"ProcessingConfiguration\":{\"Enabled\":true,\"Processors\":["
                   "{\"Type\":\"Lambda\",\"Parameters\":[{\"ParameterName\":\"LambdaArn\","
                   "\"ParameterValue\":\"arn:l\"}]},{\"Type\":\"Nope\"}]}}",
                   V,
                   "Value 'Nope' at 'extendedS3DestinationConfiguration.processingConfiguration."
                   "processors.2.member.type' failed to satisfy constraint: Member must satisfy "
                   "enum value set");
    expect_refused(
        "{" BASE ",\"ProcessingConfiguration\":{\"Processors\":[{\"Type\":\"Lambda\","
        "\"Parameters\":[{\"ParameterName\":\"LambdaArn\",\"ParameterValue\":\"  \"}]}]}}",
        V, "processors.1.member.parameters.1.member.parameterValue");
    expect_refused("{" BASE ",\"ProcessingConfiguration\":{\"Processors\":[{\"Type\":\"Lambda\","
                   "\"Parameters\":[{\"ParameterName\":\"Arn\",\"ParameterValue\":\"x\"}]}]}}",
                   V, "Value 'Arn' at");
    expect_refused("{" BASE ",\"Prefix\":\"a/!{\"}", I, "malformed");
    expect_refused("{" BASE ",\"Prefix\":\"a/!{timestamp}\"}", I, "malformed");

    json_t *d = NULL;
    struct err_info err;
    assert_int_equal(describe("{" BASE ",\"Prefix\":\"a/!{timestamp:yyyy}/\","
                              "\"ErrorOutputPrefix\":\"e/!{firehose:error-output-type}/\","
                              "\"FileExtension\":\".json\",\"CustomTimeZone\":\"UTC\"}",
                              &d, &err),
                     0);
    json_decref(d);
    /* A prefix without expressions may go without an error prefix. */
    assert_int_equal(describe("{" BASE ",\"Prefix\":\"a/!b{c}\"}", &d, &err), 0);
    json_decref(d);
}

/* ---- the engine ---- */

struct fixture {
    char tmp[64];
    struct sluice_config cfg;
    struct store *store;
    struct stream_service *streams;
    struct lake *lake;
    struct delivery_service *svc;
    _Atomic int64_t now_ms;
};

static int64_t fake_clock(void *arg)
{
    struct fixture *f = arg;
    return atomic_load(&f->now_ms);
}

static int open_delivery(struct fixture *f)
{
    struct delivery_service_options opt = {.max_streams = 8,
                                           .store = f->store,
                                           .cfg = &f->cfg,
                                           .streams = f->streams,
                                           .lake = f->lake,
                                           .now_ms = fake_clock,
                                           .clock_arg = f,
                                           .retry_base_ms = 20};
    return delivery_service_open_with(&opt, &f->svc);
}

static int setup(void **state)
{
    alarm(60);
    log_set_level(LOG_ERROR + 1);
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->tmp, sizeof(f->tmp), "/tmp/test_delivery.XXXXXX");
    if (mkdtemp(f->tmp) == NULL) {
        free(f);
        return -1;
    }
    config_defaults(&f->cfg);
    snprintf(f->cfg.data_dir, sizeof(f->cfg.data_dir), "%s", f->tmp);
    f->cfg.stream_transition_ms = 0;
    atomic_init(&f->now_ms, T0_MS);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/sluice.db", f->tmp);
    if (store_open(path, &f->store) < 0 ||
        stream_service_open(f->store, &f->cfg, &f->streams) < 0 ||
        lake_open(f->store, &f->cfg, &f->lake) < 0 || open_delivery(f) < 0) {
        return -1;
    }
    *state = f;
    return 0;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    delivery_service_close(f->svc);
    lake_close(f->lake);
    stream_service_close(f->streams);
    store_close(f->store);
    int rc = nftw(f->tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    alarm(0);
    return rc;
}

static const struct delivery_scope scope = {.region = "us-east-1", .account = "000000000000"};

static void create(struct fixture *f, const char *name, const char *dest_json)
{
    char *text = xasprintf("{\"DeliveryStreamName\":\"%s\","
                           "\"ExtendedS3DestinationConfiguration\":%s}",
                           name, dest_json);
    json_t *in = json_loads(text, 0, NULL);
    free(text);
    json_t *out = NULL;
    struct err_info err;
    err_clear(&err);
    int rc = delivery__create(f->svc, &scope, in, &out, &err);
    if (rc != 0) {
        fail_msg("create: %s", err.message);
    }
    json_decref(in);
    json_decref(out);
}

static void put(struct fixture *f, const char *name, const char *data, size_t len, size_t n)
{
    struct delivery_record_in *recs = calloc(n, sizeof(*recs));
    char(*ids)[DELIVERY_RECORD_ID_LEN + 1] = calloc(n, sizeof(*ids));
    for (size_t i = 0; i < n; i++) {
        recs[i] =
            (struct delivery_record_in){.data = (const uint8_t *)data, .data_len = (uint32_t)len};
    }
    int encrypted = -1;
    struct err_info err;
    assert_int_equal(delivery__put(f->svc, &scope, name, recs, n, ids, &encrypted, &err), 0);
    assert_int_equal(encrypted, 0);
    assert_int_equal(strlen(ids[0]), DELIVERY_RECORD_ID_LEN);
    free(recs);
    free(ids);
}

/* The concatenated bytes of every object in bucket (key order), and their count. */
static size_t lake_bytes(struct fixture *f, const char *bucket, struct buf *out)
{
    struct lake_list_opts lo = {.max_keys = 1000};
    struct lake_list_result res;
    struct err_info err;
    if (lake_object_list(f->lake, bucket, &lo, &res, &err) < 0) {
        return 0;
    }
    for (size_t i = 0; i < res.n_objects; i++) {
        assert_int_equal(lake_object_read(f->lake, bucket, res.objects[i].key, out, NULL, &err), 0);
    }
    size_t n = res.n_objects;
    lake_list_result_fini(&res);
    return n;
}

/* Waits (real time) until bucket holds at least n objects; returns how many it holds. */
static size_t wait_objects(struct fixture *f, const char *bucket, size_t n, int64_t ms)
{
    size_t got = 0;
    for (int64_t waited = 0; waited <= ms; waited += 10) {
        struct buf b;
        buf_init(&b);
        got = lake_bytes(f, bucket, &b);
        buf_fini(&b);
        if (got >= n) {
            break;
        }
        usleep(10000);
    }
    return got;
}

static void make_bucket(struct fixture *f, const char *name)
{
    struct err_info err;
    assert_int_equal(lake_bucket_create(f->lake, name, "us-east-1", &err), 0);
}

static void a_full_buffer_is_delivered_without_waiting_for_the_interval(void **state)
{
    struct fixture *f = *state;
    make_bucket(f, "size");
    create(f, "size",
           "{" BASE_FOR("size") ",\"BufferingHints\":{\"SizeInMBs\":1,"
                                "\"IntervalInSeconds\":900}}");
    static char rec[4096];
    memset(rec, 'x', sizeof(rec));
    put(f, "size", "small", 5, 1);
    /* Below the size and the interval (the fake clock stands still): nothing yet. */
    assert_int_equal(wait_objects(f, "size", 1, 300), 0);
    put(f, "size", rec, sizeof(rec), 300); /* 1.2 MB: past SizeInMBs */
    assert_true(wait_objects(f, "size", 1, 5000) >= 1);
    assert_int_equal(delivery_stream_flush(f->svc, "us-east-1", "size", 5000), 0);
    struct buf b;
    buf_init(&b);
    lake_bytes(f, "size", &b);
    assert_int_equal(b.len, 5 + 300 * sizeof(rec));
    buf_fini(&b);
}

static void a_buffer_is_delivered_when_its_interval_passes(void **state)
{
    struct fixture *f = *state;
    make_bucket(f, "time");
    create(f, "time",
           "{" BASE_FOR("time") ",\"BufferingHints\":{\"SizeInMBs\":5,"
                                "\"IntervalInSeconds\":60}}");
    put(f, "time", "one;", 4, 1);
    assert_int_equal(wait_objects(f, "time", 1, 300), 0);
    atomic_fetch_add(&f->now_ms, 59000);
    assert_int_equal(wait_objects(f, "time", 1, 300), 0);
    atomic_fetch_add(&f->now_ms, 1000);
    assert_int_equal(wait_objects(f, "time", 1, 5000), 1);
    struct buf b;
    buf_init(&b);
    lake_bytes(f, "time", &b);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "one;", 4);
    buf_fini(&b);
    /* The counters move after the object lands: the flush returns once they have. */
    assert_int_equal(delivery_stream_flush(f->svc, "us-east-1", "time", 5000), 0);
    struct delivery_counters c;
    assert_int_equal(delivery_stream_counters(f->svc, "us-east-1", "time", &c), 0);
    assert_int_equal(c.incoming_records, 1);
    assert_int_equal(c.incoming_bytes, 4);
    assert_int_equal(c.s3_records, 1);
    assert_int_equal(c.s3_bytes, 4);
    assert_int_equal(c.s3_objects, 1);
    assert_int_equal(c.s3_successes, c.s3_attempts);
    assert_int_equal(c.s3_data_freshness_ms, 60000);
}

/* Direct PUT's calls (IncomingPutRequests, PutRecordBatch.*), their latency taken once,
   and the buffer's fill until a flush empties it. */
static void direct_put_counts_calls_latency_and_the_buffer(void **state)
{
    struct fixture *f = *state;
    make_bucket(f, "calls");
    create(f, "calls", "{" BASE_FOR("calls") "}");
    put(f, "calls", "abcd", 4, 3);
    struct delivery_counters c;
    for (int i = 0; i < 3000; i++) { /* the engine reads the internal log into the buffer */
        assert_int_equal(delivery_stream_counters(f->svc, "us-east-1", "calls", &c), 0);
        if (c.buffered_records == 3) {
            break;
        }
        struct timespec pause = {0, 10 * 1000000L};
        nanosleep(&pause, NULL);
    }
    assert_int_equal(c.buffered_records, 3);
    assert_int_equal(c.buffered_bytes, 12);
    assert_int_equal(c.put_requests, 1);
    assert_int_equal(c.throttled_records, 0);
    delivery__count_put(f->svc, &scope, "calls", 1, 3, 12, clock_mono_ns() - 5000000);
    struct delivery_latency lat[2];
    assert_int_equal(delivery_stream_latency_take(f->svc, "us-east-1", "calls", lat), 0);
    assert_true(lat[0].count == 0 && lat[1].count == 1);
    assert_true(lat[1].min >= 5 && lat[1].min == lat[1].max && lat[1].sum == lat[1].min);
    assert_int_equal(delivery_stream_latency_take(f->svc, "us-east-1", "calls", lat), 0);
    assert_true(lat[1].count == 0); /* taken */
    struct delivery_metric dm[DELIVERY_METRICS_MAX];
    size_t n = 0;
    assert_int_equal(delivery_stream_metrics(f->svc, "us-east-1", "calls", dm, &n), 0);
    double records = -1, requests = -1;
    for (size_t i = 0; i < n; i++) {
        records = strcmp(dm[i].name, "PutRecordBatch.Records") == 0 ? dm[i].value : records;
        requests = strcmp(dm[i].name, "IncomingPutRequests") == 0 ? dm[i].value : requests;
    }
    assert_true(records == 3 && requests == 1);
    assert_int_equal(delivery_stream_flush(f->svc, "us-east-1", "calls", 5000), 0);
    assert_int_equal(delivery_stream_counters(f->svc, "us-east-1", "calls", &c), 0);
    assert_true(c.buffered_records == 0 && c.buffered_bytes == 0);
}

static void flush_delivers_records_in_arrival_order_byte_for_byte(void **state)
{
    struct fixture *f = *state;
    make_bucket(f, "flush");
    create(f, "flush", "{" BASE_FOR("flush") "}");
    for (int i = 0; i < 1000; i++) {
        char rec[32];
        int n = snprintf(rec, sizeof(rec), "<%d>", i);
        put(f, "flush", rec, (size_t)n, 1);
    }
    assert_int_equal(delivery_stream_flush(f->svc, "us-east-1", "flush", 5000), 0);
    /* Objects of the same second sort by their random part; within each, records are
       in arrival order, byte for byte, and every record is in exactly one. */
    struct lake_list_opts lo = {.max_keys = 1000};
    struct lake_list_result res;
    struct err_info err;
    assert_int_equal(lake_object_list(f->lake, "flush", &lo, &res, &err), 0);
    assert_true(res.n_objects >= 1);
    char seen[1000] = {0};
    for (size_t k = 0; k < res.n_objects; k++) {
        struct buf b;
        buf_init(&b);
        assert_int_equal(lake_object_read(f->lake, "flush", res.objects[k].key, &b, NULL, &err), 0);
        buf_putc(&b, '\0');
        int prev = -1, pos = 0, n = 0, idx;
        const char *text = (const char *)b.data;
        while (sscanf(text + pos, "<%d>%n", &idx, &n) == 1) {
            assert_true(idx > prev && idx < 1000);
            assert_int_equal(seen[idx], 0);
            seen[idx] = 1;
            prev = idx;
            pos += n;
        }
        assert_int_equal((size_t)pos, b.len - 1); /* nothing else in the object */
        buf_fini(&b);
    }
    lake_list_result_fini(&res);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(seen[i], 1);
    }
    assert_int_equal(delivery_stream_flush(f->svc, "us-east-1", "nope", 100),
                     SL_E(RESOURCE_NOT_FOUND));
}

static void a_failed_write_is_retried_until_the_bucket_exists(void **state)
{
    struct fixture *f = *state;
    create(f, "retry", "{" BASE_FOR("retry") "}"); /* no bucket yet */
    put(f, "retry", "kept", 4, 1);
    assert_int_equal(delivery_stream_flush(f->svc, "us-east-1", "retry", 300), -ETIMEDOUT);
    make_bucket(f, "retry");
    assert_int_equal(delivery_stream_flush(f->svc, "us-east-1", "retry", 10000), 0);
    struct buf b;
    buf_init(&b);
    assert_int_equal(lake_bytes(f, "retry", &b), 1);
    assert_memory_equal(b.data, "kept", 4);
    buf_fini(&b);
    struct delivery_counters c;
    assert_int_equal(delivery_stream_counters(f->svc, "us-east-1", "retry", &c), 0);
    assert_true(c.s3_attempts > c.s3_successes);
    assert_int_equal(c.s3_successes, 1);
}

static void undelivered_records_are_delivered_after_a_reopen_exactly_once(void **state)
{
    struct fixture *f = *state;
    make_bucket(f, "reopen");
    create(f, "reopen", "{" BASE_FOR("reopen") "}");
    put(f, "reopen", "a;", 2, 3);
    assert_int_equal(delivery_stream_flush(f->svc, "us-east-1", "reopen", 5000), 0);
    put(f, "reopen", "b;", 2, 2);
    delivery_service_close(f->svc);
    f->svc = NULL;
    assert_int_equal(open_delivery(f), 0);
    assert_int_equal(delivery_stream_flush(f->svc, "us-east-1", "reopen", 5000), 0);
    struct buf b;
    buf_init(&b);
    assert_int_equal(lake_bytes(f, "reopen", &b), 2);
    assert_int_equal(b.len, 10);
    int na = 0, nb = 0;
    for (size_t i = 0; i < b.len; i++) {
        na += b.data[i] == 'a';
        nb += b.data[i] == 'b';
    }
    assert_int_equal(na, 3);
    assert_int_equal(nb, 2);
    buf_fini(&b);
}

/* The key and body of object i of bucket (key order) into key/body; the count of objects. */
static size_t lake_object_at(struct fixture *f, const char *bucket, size_t i, struct buf *key,
                             struct buf *body)
{
    struct lake_list_opts lo = {.max_keys = 1000};
    struct lake_list_result res;
    struct err_info err;
    assert_int_equal(lake_object_list(f->lake, bucket, &lo, &res, &err), 0);
    size_t n = res.n_objects;
    if (i < n) {
        buf_puts(key, res.objects[i].key);
        buf_putc(key, '\0');
        assert_int_equal(lake_object_read(f->lake, bucket, res.objects[i].key, body, NULL, &err),
                         0);
        buf_putc(body, '\0');
    }
    lake_list_result_fini(&res);
    return n;
}

static void partitions_are_delivered_one_object_each(void **state)
{
    struct fixture *f = *state;
    make_bucket(f, "dpb");
    create(f, "dp", "{" BASE_FOR("dpb") "," DP_CONF("{a:.x,b:.y}") "}");
    const char *recs[] = {"{\"x\":\"p\",\"y\":1}", "{\"x\":\"q\",\"y\":1}", "not json",
                          "{\"x\":\"p\",\"y\":1,\"z\":2}", "{\"x\":\"p\"}"};
    /* One put: the records enter one buffer together. */
    struct delivery_record_in in[5];
    for (size_t i = 0; i < 5; i++) {
        in[i] = (struct delivery_record_in){.data = (const uint8_t *)recs[i],
                                            .data_len = (uint32_t)strlen(recs[i])};
    }
    char ids[5][DELIVERY_RECORD_ID_LEN + 1];
    int encrypted;
    struct err_info perr;
    assert_int_equal(delivery__put(f->svc, &scope, "dp", in, 5, ids, &encrypted, &perr), 0);
    assert_int_equal(delivery_stream_flush(f->svc, "us-east-1", "dp", 5000), 0);
    struct buf key, body;
    buf_init(&key);
    buf_init(&body);
    /* In key order: d/a=p/b=1/, d/a=q/b=1/, e/metadata-extraction-failed/. */
    assert_int_equal(lake_object_at(f, "dpb", 0, &key, &body), 3);
    assert_memory_equal(key.data, "d/a=p/b=1/dp-1-", strlen("d/a=p/b=1/dp-1-"));
    assert_string_equal((char *)body.data,
                        "{\"x\":\"p\",\"y\":1}\n{\"x\":\"p\",\"y\":1,\"z\":2}\n");
    buf_reset(&key);
    buf_reset(&body);
    lake_object_at(f, "dpb", 1, &key, &body);
    assert_memory_equal(key.data, "d/a=q/b=1/dp-1-", strlen("d/a=q/b=1/dp-1-"));
    assert_string_equal((char *)body.data, "{\"x\":\"q\",\"y\":1}\n");
    buf_reset(&key);
    buf_reset(&body);
    lake_object_at(f, "dpb", 2, &key, &body);
    assert_memory_equal(key.data, "e/metadata-extraction-failed/dp-1-",
                        strlen("e/metadata-extraction-failed/dp-1-"));
    /* Two lines: "not json" and the record without y, each with AWS's fields. */
    json_error_t jerr;
    json_t *lines =
        json_loadb((const char *)body.data, body.len - 1, JSON_DISABLE_EOF_CHECK, &jerr);
    assert_non_null(lines);
    assert_string_equal(json_string_value(json_object_get(lines, "errorCode")),
                        "DynamicPartitioning.MetadataExtractionFailed");
    assert_string_equal(json_string_value(json_object_get(lines, "rawData")), "bm90IGpzb24=");
    assert_int_equal(json_integer_value(json_object_get(lines, "attemptsMade")), 1);
    json_decref(lines);
    const char *nl = strchr((const char *)body.data, '\n');
    assert_non_null(nl);
    assert_non_null(strstr(nl + 1, "\"rawData\":\"eyJ4IjoicCJ9\"")); /* {"x":"p"} */
    assert_null(strchr(nl + 1, '\n') == NULL ? NULL : strchr(strchr(nl + 1, '\n') + 1, '\n'));
    struct dstream *ds = delivery__find(f->svc, "us-east-1", "dp");
    assert_non_null(ds);
    assert_int_equal(atomic_load(&ds->c_partition_count), 2);
    assert_int_equal(atomic_load(&ds->c_partition_exceeded), 0);
    delivery__release(ds);
    /* The same through the public counters and the metrics interface. */
    struct delivery_counters c;
    assert_int_equal(delivery_stream_counters(f->svc, "us-east-1", "dp", &c), 0);
    assert_int_equal(c.partition_count, 2);
    assert_int_equal(c.partition_exceeded, 0);
    struct delivery_metric m[DELIVERY_METRICS_MAX];
    size_t n = 0, seen = 0;
    assert_int_equal(delivery_stream_metrics(f->svc, "us-east-1", "dp", m, &n), 0);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(m[i].name, "PartitionCount") == 0) {
            assert_true(m[i].value == 2.0);
            assert_string_equal(m[i].unit, "Count");
            seen++;
        }
        seen += strcmp(m[i].name, "PartitionCountExceeded") == 0;
        seen += strcmp(m[i].name, "JQProcessing.Duration") == 0;
        assert_int_equal(strncmp(m[i].name, "BackupToS3", 10) == 0, 0);
    }
    assert_int_equal(seen, 3);
    buf_fini(&key);
    buf_fini(&body);
}

static void partitions_beyond_the_active_limit_go_to_the_error_prefix(void **state)
{
    struct fixture *f = *state;
    make_bucket(f, "many");
    create(f, "many", "{" BASE_FOR("many") "," DP_CONF("{a:.x,b:.y}") "}");
    /* One put: the records enter one buffer together. */
    static char texts[503][32];
    struct delivery_record_in recs[503];
    for (int i = 0; i < 503; i++) {
        int n = snprintf(texts[i], sizeof(texts[i]), "{\"x\":\"v%03d\",\"y\":0}", i);
        recs[i] =
            (struct delivery_record_in){.data = (const uint8_t *)texts[i], .data_len = (uint32_t)n};
    }
    static char ids[503][DELIVERY_RECORD_ID_LEN + 1];
    int encrypted;
    struct err_info perr;
    assert_int_equal(delivery__put(f->svc, &scope, "many", recs, 503, ids, &encrypted, &perr), 0);
    assert_int_equal(delivery_stream_flush(f->svc, "us-east-1", "many", 30000), 0);
    struct buf key, body;
    buf_init(&key);
    buf_init(&body);
    /* 500 partitions, then one activePartitionExceeded object of the three others. */
    assert_int_equal(lake_object_at(f, "many", 500, &key, &body), 501);
    assert_memory_equal(key.data, "e/activePartitionExceeded/many-1-",
                        strlen("e/activePartitionExceeded/many-1-"));
    const char *p = (const char *)body.data;
    int lines = 0;
    for (; (p = strchr(p, '\n')) != NULL; p++) {
        lines++;
    }
    assert_int_equal(lines, 3);
    assert_non_null(strstr((char *)body.data, "DynamicPartitioning.ActivePartitionExceeded"));
    struct dstream *ds = delivery__find(f->svc, "us-east-1", "many");
    assert_non_null(ds);
    assert_int_equal(atomic_load(&ds->c_partition_count), 500);
    assert_int_equal(atomic_load(&ds->c_partition_exceeded), 1);
    assert_true(atomic_load(&ds->c_jq_ns) > 0);
    delivery__release(ds);
    buf_fini(&key);
    buf_fini(&body);
}

static void a_query_out_of_memory_is_retried_not_an_error(void **state)
{
    struct fixture *f = *state;
    make_bucket(f, "oom");
    create(f, "oom", "{" BASE_FOR("oom") "," DP_CONF("{a:.x,b:.y}") "}");
    jq_fail_after(2); /* the second evaluation fails as if out of memory */
    put(f, "oom", "{\"x\":1,\"y\":2}", 13, 3);
    assert_int_equal(delivery_stream_flush(f->svc, "us-east-1", "oom", 5000), 0);
    jq_fail_after(0);
    struct buf key, body;
    buf_init(&key);
    buf_init(&body);
    /* One object with all three records; no error object. */
    assert_int_equal(lake_object_at(f, "oom", 0, &key, &body), 1);
    assert_memory_equal(key.data, "d/a=1/b=2/oom-1-", strlen("d/a=1/b=2/oom-1-"));
    assert_string_equal((char *)body.data,
                        "{\"x\":1,\"y\":2}\n{\"x\":1,\"y\":2}\n{\"x\":1,\"y\":2}\n");
    buf_fini(&key);
    buf_fini(&body);
}

static void record_deaggregation_needs_partitioning_and_delimiters_are_appended(void **state)
{
    struct fixture *f = *state;
    make_bucket(f, "deagg");
    /* RecordDeAggregation is a dynamic partitioning processor: refused without it. */
    json_t *in = json_loads(
        "{\"DeliveryStreamName\":\"deagg\",\"ExtendedS3DestinationConfiguration\":"
        "{" BASE_FOR("deagg") ",\"ProcessingConfiguration\":{\"Enabled\":true,"
                              "\"Processors\":[{\"Type\":\"RecordDeAggregation\",\"Parameters\":"
                              "[{\"ParameterName\":\"SubRecordType\",\"ParameterValue\":"
                              "\"JSON\"}]}]}}}",
        0, NULL);
    assert_non_null(in);
    json_t *out = NULL;
    struct err_info err;
    err_clear(&err);
    assert_int_equal(delivery__create(f->svc, &scope, in, &out, &err), SL_E(INVALID_ARGUMENT));
    assert_non_null(strstr(err.message, "dynamic partitioning"));
    assert_null(out);
    json_decref(in);
    /* Without partitioning, AppendDelimiterToRecord still ends each record with a newline. */
    make_bucket(f, "delim");
    create(f, "delim",
           "{" BASE_FOR("delim") ",\"ProcessingConfiguration\":{\"Enabled\":true,"
                                 "\"Processors\":[{\"Type\":\"AppendDelimiterToRecord\"}]}}");
    put(f, "delim", "ab", 2, 3);
    assert_int_equal(delivery_stream_flush(f->svc, "us-east-1", "delim", 5000), 0);
    struct buf b;
    buf_init(&b);
    assert_int_equal(lake_bytes(f, "delim", &b), 1);
    assert_int_equal(b.len, 9);
    assert_memory_equal(b.data, "ab\nab\nab\n", 9);
    buf_fini(&b);
}

/* ---- the Lambda transform, in process ---- */

/* A transform function on 127.0.0.1: each record "x" comes back Ok as "x!", but "fail"
   (ProcessingFailed) and "drop" (Dropped). Serves until its socket is shut down. */
struct fn_server {
    int fd;
    char url[64];
    _Atomic int invocations;
    pthread_t thread;
};

static void fn_answer(int conn, const char *req, size_t len)
{
    const char *body = strstr(req, "\r\n\r\n");
    json_t *ev =
        body != NULL ? json_loadb(body + 4, len - (size_t)(body + 4 - req), 0, NULL) : NULL;
    json_t *out = json_array();
    json_t *r;
    size_t i;
    json_array_foreach(json_object_get(ev, "records"), i, r)
    {
        const char *b64 = json_string_value(json_object_get(r, "data"));
        uint8_t d[256];
        long n = base64_decode(b64, strlen(b64), d);
        assert_true(n >= 0 && n < 250);
        const char *res = n == 4 && memcmp(d, "fail", 4) == 0   ? "ProcessingFailed"
                          : n == 4 && memcmp(d, "drop", 4) == 0 ? "Dropped"
                                                                : "Ok";
        d[n++] = '!';
        char enc[400];
        enc[base64_encode(d, (size_t)n, enc)] = 0;
        json_array_append_new(out,
                              json_pack("{s:O,s:s,s:s}", "recordId", json_object_get(r, "recordId"),
                                        "result", res, "data", enc));
    }
    json_t *doc = json_pack("{s:o}", "records", out);
    char *text = json_dumps(doc, JSON_COMPACT);
    char head[128];
    int hl = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n",
                      strlen(text));
    send(conn, head, (size_t)hl, MSG_NOSIGNAL);
    send(conn, text, strlen(text), MSG_NOSIGNAL);
    free(text);
    json_decref(doc);
    json_decref(ev);
}

static void *fn_main(void *arg)
{
    struct fn_server *fs = arg;
    for (;;) {
        int conn = accept(fs->fd, NULL, NULL);
        if (conn < 0) {
            return NULL;
        }
        char req[65536];
        size_t got = 0;
        for (;;) {
            ssize_t r = recv(conn, req + got, sizeof(req) - 1 - got, 0);
            if (r <= 0) {
                break;
            }
            got += (size_t)r;
            req[got] = 0;
            const char *body = strstr(req, "\r\n\r\n");
            const char *cl = strstr(req, "Content-Length: ");
            if (body != NULL && cl != NULL &&
                got >= (size_t)(body + 4 - req) + strtoul(cl + 16, NULL, 10)) {
                break;
            }
        }
        fs->invocations++;
        fn_answer(conn, req, got);
        close(conn);
    }
}

static void fn_start(struct fn_server *fs)
{
    fs->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fs->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fs->fd, 8), 0);
    socklen_t len = sizeof(a);
    getsockname(fs->fd, (struct sockaddr *)&a, &len);
    snprintf(fs->url, sizeof(fs->url), "http://127.0.0.1:%d/", ntohs(a.sin_port));
    pthread_create(&fs->thread, NULL, fn_main, fs);
}

static void fn_stop(struct fn_server *fs)
{
    shutdown(fs->fd, SHUT_RDWR);
    pthread_join(fs->thread, NULL);
    close(fs->fd);
}

#define LAMBDA_CONF(bucket, fn)                                                                    \
    "{" BASE_FOR(bucket) ",\"Prefix\":\"o/\",\"ErrorOutputPrefix\":"                               \
                         "\"e/!{firehose:error-output-type}/\",\"ProcessingConfiguration\":"       \
                         "{\"Enabled\":true,\"Processors\":[{\"Type\":\"Lambda\",\"Parameters\":"  \
                         "[{\"ParameterName\":\"LambdaArn\",\"ParameterValue\":"                   \
                         "\"arn:aws:lambda:us-east-1:1:function:" fn "\"},"                        \
                         "{\"ParameterName\":\"NumberOfRetries\",\"ParameterValue\":\"0\"}]}]}}"

static void the_transform_runs_before_delivery_and_is_counted(void **state)
{
    struct fixture *f = *state;
    struct fn_server fs = {0};
    fn_start(&fs);
    snprintf(f->cfg.lambdas[0].name, sizeof(f->cfg.lambdas[0].name), "fn");
    snprintf(f->cfg.lambdas[0].url, sizeof(f->cfg.lambdas[0].url), "%s", fs.url);
    f->cfg.n_lambdas = 1;
    make_bucket(f, "xfm");
    create(f, "xfm", LAMBDA_CONF("xfm", "fn"));
    /* One put: the records enter one buffer together (one invocation). */
    const char *sent[] = {"ok", "ok", "fail", "drop"};
    struct delivery_record_in in[4];
    for (size_t i = 0; i < 4; i++) {
        in[i] = (struct delivery_record_in){.data = (const uint8_t *)sent[i],
                                            .data_len = (uint32_t)strlen(sent[i])};
    }
    char ids[4][DELIVERY_RECORD_ID_LEN + 1];
    int encrypted;
    struct err_info perr;
    assert_int_equal(delivery__put(f->svc, &scope, "xfm", in, 4, ids, &encrypted, &perr), 0);
    assert_int_equal(delivery_stream_flush(f->svc, "us-east-1", "xfm", 5000), 0);
    struct buf b;
    buf_init(&b);
    /* The error object (e/processing-failed/...) sorts before the object (o/...). */
    assert_int_equal(lake_bytes(f, "xfm", &b), 2);
    buf_putc(&b, 0);
    const char *text = (const char *)b.data;
    assert_non_null(strstr(text, "\"errorCode\":\"Lambda.ProcessingFailedStatus\""));
    assert_non_null(strstr(text, "\"rawData\":\"ZmFpbA==\""));
    assert_non_null(strstr(text, "\"lambdaArn\":\"arn:aws:lambda:us-east-1:1:function:fn\""));
    assert_int_equal(strcmp(text + b.len - 1 - 6, "ok!ok!"), 0);
    buf_fini(&b);
    struct delivery_counters c;
    assert_int_equal(delivery_stream_counters(f->svc, "us-east-1", "xfm", &c), 0);
    assert_int_equal(c.proc_invocations, 1);
    assert_int_equal(c.proc_answered, 1);
    assert_int_equal(c.proc_ok_records, 2);
    assert_int_equal(c.proc_ok_bytes, 6);
    assert_int_equal(c.proc_failed_records, 1);
    assert_int_equal(fs.invocations, 1);
    /* A buffer the function drops whole: no object, and its position moves all the same
       (the flush completes only once the delivered position reaches the records). */
    put(f, "xfm", "drop", 4, 3);
    assert_int_equal(delivery_stream_flush(f->svc, "us-east-1", "xfm", 5000), 0);
    assert_int_equal(fs.invocations, 2);
    buf_init(&b);
    assert_int_equal(lake_bytes(f, "xfm", &b), 2);
    buf_fini(&b);
    /* A function no --lambda names: Lambda.ResourceNotFound, no invocation reaches fn. */
    make_bucket(f, "nfm");
    create(f, "nfm", LAMBDA_CONF("nfm", "other"));
    put(f, "nfm", "ok", 2, 1);
    assert_int_equal(delivery_stream_flush(f->svc, "us-east-1", "nfm", 5000), 0);
    buf_init(&b);
    assert_int_equal(lake_bytes(f, "nfm", &b), 1);
    buf_putc(&b, 0);
    assert_non_null(strstr((const char *)b.data, "\"errorCode\":\"Lambda.ResourceNotFound\""));
    buf_fini(&b);
    assert_int_equal(fs.invocations, 2);
    fn_stop(&fs);
}

static void a_creating_delivery_stream_cannot_be_deleted_nor_take_records(void **state)
{
    struct fixture *f = *state;
    f->cfg.stream_transition_ms = 5000;
    create(f, "young", "{" BASE_FOR("young") "}");
    json_t *in = json_pack("{s:s}", "DeliveryStreamName", "young");
    json_t *out = NULL;
    struct err_info err;
    assert_int_equal(delivery__delete(f->svc, &scope, in, &out, &err), SL_E(RESOURCE_IN_USE));
    assert_null(out);
    assert_non_null(strstr(err.message, "CREATING"));
    /* Nor does it take records before it is ACTIVE. */
    struct delivery_record_in rec = {.data = (const uint8_t *)"x", .data_len = 1};
    char id[1][DELIVERY_RECORD_ID_LEN + 1];
    int encrypted;
    assert_int_equal(delivery__put(f->svc, &scope, "young", &rec, 1, id, &encrypted, &err),
                     SL_E(RESOURCE_NOT_FOUND));
    atomic_fetch_add(&f->now_ms, 5000);
    assert_int_equal(delivery__delete(f->svc, &scope, in, &out, &err), 0);
    json_decref(out);
    out = NULL;
    assert_int_equal(delivery__delete(f->svc, &scope, in, &out, &err), SL_E(RESOURCE_NOT_FOUND));
    assert_string_equal(err.message, "Firehose young under account 000000000000 not found.");
    json_decref(in);
}

/* Puts n records "<tag>-<i>;" into the Kinesis stream name. */
static void kinesis_put(struct fixture *f, const char *name, const char *tag, int n)
{
    struct stream *s = NULL;
    assert_int_equal(stream_lookup(f->streams, "us-east-1", name, &s), 0);
    for (int i = 0; i < n; i++) {
        char data[32], pk[16];
        int len = snprintf(data, sizeof(data), "%s-%d;", tag, i);
        int pk_len = snprintf(pk, sizeof(pk), "k%d", i);
        struct stream_put_record r = {.data = (const uint8_t *)data,
                                      .data_len = (uint32_t)len,
                                      .partition_key = pk,
                                      .pk_len = (uint16_t)pk_len,
                                      .hash_key = stream_hashkey_of_partition_key(pk, pk_len)};
        assert_int_equal(stream_records_put(f->streams, s, &r, 1, atomic_load(&f->now_ms), NULL),
                         0);
        assert_int_equal(r.result, 0);
    }
    stream_release(s);
}

/* How many times "<tag>-<i>;" occurs in text, for i < n: 1 each is exactly once. */
static void expect_each_once(const struct buf *b, const char *tag, int n)
{
    for (int i = 0; i < n; i++) {
        char want[32];
        int len = snprintf(want, sizeof(want), "%s-%d;", tag, i);
        int count = 0;
        for (size_t k = 0; k + (size_t)len <= b->len; k++) {
            if (memcmp(b->data + k, want, (size_t)len) == 0 && (k == 0 || b->data[k - 1] == ';')) {
                count++;
            }
        }
        if (count != 1) {
            fail_msg("%s occurs %d times", want, count);
        }
    }
}

static void a_kinesis_source_is_read_from_latest_across_shards_and_reopens(void **state)
{
    struct fixture *f = *state;
    make_bucket(f, "ksrc");
    struct stream_create_params p = {.region = "us-east-1",
                                     .account = "000000000000",
                                     .name = "ksrc",
                                     .mode = STREAM_MODE_PROVISIONED,
                                     .shard_count = 3};
    struct err_info err;
    assert_int_equal(stream_create(f->streams, &p, &err), 0);
    kinesis_put(f, "ksrc", "old", 20); /* before the delivery stream: never delivered */
    json_t *in =
        json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s}}", "DeliveryStreamName", "ksrc",
                  "DeliveryStreamType", "KinesisStreamAsSource", "KinesisStreamSourceConfiguration",
                  "KinesisStreamARN", "arn:aws:kinesis:us-east-1:000000000000:stream/ksrc",
                  "RoleARN", "arn:aws:iam::0:role/r", "ExtendedS3DestinationConfiguration",
                  "RoleARN", "arn:aws:iam::0:role/r", "BucketARN", "arn:aws:s3:::ksrc");
    json_t *out = NULL;
    assert_int_equal(delivery__create(f->svc, &scope, in, &out, &err), 0);
    json_decref(in);
    json_decref(out);
    /* PutRecord is refused on a stream-sourced delivery stream. */
    struct delivery_record_in rec = {.data = (const uint8_t *)"x", .data_len = 1};
    char id[1][DELIVERY_RECORD_ID_LEN + 1];
    int encrypted;
    assert_int_equal(delivery__put(f->svc, &scope, "ksrc", &rec, 1, id, &encrypted, &err),
                     SL_E(INVALID_ARGUMENT));
    assert_string_equal(err.message, "This operation is not permitted on KinesisStreamAsSource "
                                     "delivery stream type.");

    kinesis_put(f, "ksrc", "new", 60);
    assert_int_equal(delivery_stream_flush(f->svc, "us-east-1", "ksrc", 5000), 0);
    struct buf b;
    buf_init(&b);
    lake_bytes(f, "ksrc", &b);
    assert_int_equal(b.len, 60 * strlen("new-0;") + 50 * 1 + 0); /* 10 of one digit, 50 of two */
    expect_each_once(&b, "new", 60);
    assert_null(memmem(b.data, b.len, "old-", 4));
    buf_fini(&b);

    /* Records put while the delivery service is closed are delivered after it reopens,
       and nothing delivered before is delivered again. */
    delivery_service_close(f->svc);
    f->svc = NULL;
    kinesis_put(f, "ksrc", "gap", 30);
    assert_int_equal(open_delivery(f), 0);
    assert_int_equal(delivery_stream_flush(f->svc, "us-east-1", "ksrc", 5000), 0);
    buf_init(&b);
    lake_bytes(f, "ksrc", &b);
    expect_each_once(&b, "new", 60);
    expect_each_once(&b, "gap", 30);
    buf_fini(&b);
    struct delivery_counters c;
    assert_int_equal(delivery_stream_counters(f->svc, "us-east-1", "ksrc", &c), 0);
    assert_int_equal(c.incoming_records, 30); /* since this open */
    assert_int_equal(c.s3_records, 30);
    /* A Kinesis source: what it read is DataReadFromKinesisStream too, and having read its
       shards to the end it is not behind. */
    assert_int_equal(c.kinesis_records, 30);
    assert_int_equal(c.kinesis_bytes, c.incoming_bytes);
    assert_int_equal(c.kinesis_behind_ms, 0);
    struct delivery_metric m[DELIVERY_METRICS_MAX];
    size_t n = 0, seen = 0;
    assert_int_equal(delivery_stream_metrics(f->svc, "us-east-1", "ksrc", m, &n), 0);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(m[i].name, "DataReadFromKinesisStream.Records") == 0) {
            assert_true(m[i].value == 30.0);
            seen++;
        }
        if (strcmp(m[i].name, "KinesisMillisBehindLatest") == 0) {
            assert_string_equal(m[i].unit, "Milliseconds");
            seen++;
        }
    }
    assert_int_equal(seen, 2);
}

/* Flushes until every one of the n records of each tag is in the lake (a flush covers the
   shards being read when it starts; children start as their parents end). */
static void flush_until_each_once(struct fixture *f, const char *name, const char *const *tags,
                                  int n_tags, int n)
{
    struct buf b;
    for (int round = 0; round < 100; round++) {
        assert_int_equal(delivery_stream_flush(f->svc, "us-east-1", name, 5000), 0);
        buf_init(&b);
        size_t want = 0;
        for (int t = 0; t < n_tags; t++) {
            for (int i = 0; i < n; i++) {
                want += (size_t)snprintf(NULL, 0, "%s-%d;", tags[t], i);
            }
        }
        lake_bytes(f, name, &b);
        if (b.len >= want) {
            break;
        }
        buf_fini(&b);
        usleep(20000);
    }
    for (int t = 0; t < n_tags; t++) {
        expect_each_once(&b, tags[t], n);
    }
    buf_fini(&b);
}

static void a_kinesis_source_follows_splits_and_merges_across_a_reopen(void **state)
{
    struct fixture *f = *state;
    make_bucket(f, "kre");
    struct stream_create_params p = {.region = "us-east-1",
                                     .account = "000000000000",
                                     .name = "kre",
                                     .mode = STREAM_MODE_PROVISIONED,
                                     .shard_count = 1};
    struct err_info err;
    assert_int_equal(stream_create(f->streams, &p, &err), 0);
    json_t *in =
        json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s}}", "DeliveryStreamName", "kre",
                  "DeliveryStreamType", "KinesisStreamAsSource", "KinesisStreamSourceConfiguration",
                  "KinesisStreamARN", "arn:aws:kinesis:us-east-1:000000000000:stream/kre",
                  "RoleARN", "arn:aws:iam::0:role/r", "ExtendedS3DestinationConfiguration",
                  "RoleARN", "arn:aws:iam::0:role/r", "BucketARN", "arn:aws:s3:::kre");
    json_t *out = NULL;
    assert_int_equal(delivery__create(f->svc, &scope, in, &out, &err), 0);
    json_decref(in);
    json_decref(out);
    struct stream *s = NULL;
    assert_int_equal(stream_lookup(f->streams, "us-east-1", "kre", &s), 0);
    kinesis_put(f, "kre", "a", 40);
    assert_int_equal(stream_shard_split(f->streams, s, 0, (stream_u128)1 << 127, &err), 0);
    kinesis_put(f, "kre", "b", 40);
    const char *ab[] = {"a", "b"};
    flush_until_each_once(f, "kre", ab, 2, 40);
    /* Closed while a merge happens and records arrive: the reopened engine reads the
       merge's child only once both parents are drained, from its start. */
    delivery_service_close(f->svc);
    f->svc = NULL;
    kinesis_put(f, "kre", "c", 40);
    assert_int_equal(stream_shard_merge(f->streams, s, 1, 2, &err), 0);
    kinesis_put(f, "kre", "d", 40);
    assert_int_equal(open_delivery(f), 0);
    kinesis_put(f, "kre", "e", 40);
    const char *all[] = {"a", "b", "c", "d", "e"};
    flush_until_each_once(f, "kre", all, 5, 40);
    stream_release(s);
}

/* Calls PutRecord or PutRecordBatch (raw) with body; *out gets the answer or err's text. */
static int call_put(struct fixture *f, const char *op_name, const char *body, struct buf *out,
                    struct err_info *err)
{
    struct api_json_service *api = firehose_api_create(f->svc);
    const struct api_json_op *op = NULL;
    for (size_t k = 0; k < api->n_ops; k++) {
        if (strcmp(api->ops[k].name, op_name) == 0) {
            op = &api->ops[k];
        }
    }
    assert_non_null(op);
    assert_non_null(op->raw_fn);
    struct api_request req = {.region = "us-east-1", .account_id = "000000000000"};
    struct api_call c = {.req = &req, .service_ctx = f->svc};
    err_clear(&c.err);
    int rc = op->raw_fn(&c, (const uint8_t *)body, strlen(body), out);
    *err = c.err;
    firehose_api_destroy(api);
    return rc;
}

static void expect_put_refused(struct fixture *f, const char *op, const char *body, int code,
                               const char *fragment)
{
    struct buf out;
    buf_init(&out);
    struct err_info err;
    int rc = call_put(f, op, body, &out, &err);
    if (rc != code || strstr(err.message, fragment) == NULL) {
        fail_msg("%.80s: got %d '%s', want %d with '%s'", body, rc, err.message, code, fragment);
    }
    buf_fini(&out);
}

static void put_bodies_are_read_as_aws_reads_them(void **state)
{
    struct fixture *f = *state;
    make_bucket(f, "body");
    create(f, "body", "{" BASE_FOR("body") "}");
    struct buf out;
    buf_init(&out);
    struct err_info err;
    /* Escapes in the name and the base64 ("\/" is "/"), unknown members skipped. */
    assert_int_equal(call_put(f, "PutRecordBatch",
                              "{\"Extra\":{\"a\":[1,2]},\"DeliveryStreamName\":\"b\\u006fdy\","
                              "\"Records\":[{\"Data\":\"Pz8\\/\",\"X\":null},{\"Data\":\"\"}]}",
                              &out, &err),
                     0);
    json_t *doc = json_loadb((const char *)out.data, out.len, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(json_integer_value(json_object_get(doc, "FailedPutCount")), 0);
    assert_true(json_is_false(json_object_get(doc, "Encrypted")));
    json_t *responses = json_object_get(doc, "RequestResponses");
    assert_int_equal(json_array_size(responses), 2);
    const char *id0 = json_string_value(json_object_get(json_array_get(responses, 0), "RecordId"));
    const char *id1 = json_string_value(json_object_get(json_array_get(responses, 1), "RecordId"));
    assert_int_equal(strlen(id0), DELIVERY_RECORD_ID_LEN);
    assert_string_not_equal(id0, id1);
    json_decref(doc);
    buf_reset(&out);
    assert_int_equal(call_put(f, "PutRecord",
                              "{\"DeliveryStreamName\":\"body\",\"Record\":{\"Data\":\"IQ==\"}}",
                              &out, &err),
                     0);
    doc = json_loadb((const char *)out.data, out.len, 0, NULL);
    assert_int_equal(strlen(json_string_value(json_object_get(doc, "RecordId"))),
                     DELIVERY_RECORD_ID_LEN);
    json_decref(doc);
    buf_fini(&out);
    assert_int_equal(delivery_stream_flush(f->svc, "us-east-1", "body", 5000), 0);
    struct buf b;
    buf_init(&b);
    lake_bytes(f, "body", &b);
    assert_int_equal(b.len, 4);
    /* "Pz8/" then "IQ==": two puts may land in two objects of one second, whose keys then
       sort by their random part. */
    assert_true(memcmp(b.data, "\x3f\x3f\x3f!", 4) == 0 || memcmp(b.data, "!\x3f\x3f\x3f", 4) == 0);
    buf_fini(&b);

    int V = SL_E(VALIDATION), S = SL_E(SERIALIZATION);
    expect_put_refused(f, "PutRecordBatch", "{\"DeliveryStreamName\":\"body\",\"Records\":[]}", V,
                       "Member must have length greater than or equal to 1");
    expect_put_refused(f, "PutRecordBatch", "{\"DeliveryStreamName\":\"body\"}", V,
                       "Value null at 'records'");
    expect_put_refused(f, "PutRecordBatch", "{\"Records\":[{\"Data\":\"YQ==\"}]}", V,
                       "Value null at 'deliveryStreamName'");
    expect_put_refused(f, "PutRecordBatch",
                       "{\"DeliveryStreamName\":\"body\",\"Records\":[{\"Data\":\"YQ==\"},{}]}", V,
                       "Value null at 'records.2.member.data'");
    expect_put_refused(f, "PutRecord", "{\"DeliveryStreamName\":\"body\",\"Record\":{}}", V,
                       "Value null at 'record.data'");
    expect_put_refused(f, "PutRecord", "{\"DeliveryStreamName\":\"body\",\"Record\":{\"Data\":1}}",
                       S, "Malformed request body");
    expect_put_refused(f, "PutRecord",
                       "{\"DeliveryStreamName\":\"body\",\"Record\":{\"Data\":\"YQ\"}}", S,
                       "base64");
    expect_put_refused(f, "PutRecord", "{\"DeliveryStreamName\":\"body\",", S,
                       "Malformed request body");
    expect_put_refused(f, "PutRecord", "[]", S, "Malformed request body");
    expect_put_refused(f, "PutRecord", "{\"DeliveryStreamName\":\"\",\"Record\":{\"Data\":\"\"}}",
                       V, "deliveryStreamName");
    expect_put_refused(
        f, "PutRecord", "{\"DeliveryStreamName\":\"other\",\"Record\":{\"Data\":\"\"}}",
        SL_E(RESOURCE_NOT_FOUND), "Firehose other under account 000000000000 not found.");
    /* 501 records, counted even past the limit. */
    struct buf big;
    buf_init(&big);
    buf_puts(&big, "{\"DeliveryStreamName\":\"body\",\"Records\":[");
    for (int i = 0; i < 501; i++) {
        buf_puts(&big, i ? ",{\"Data\":\"YQ==\"}" : "{\"Data\":\"YQ==\"}");
    }
    buf_puts(&big, "]}");
    buf_putc(&big, '\0');
    expect_put_refused(f, "PutRecordBatch", (const char *)big.data, V,
                       "Member must have length less than or equal to 500");
    buf_fini(&big);
}

static void the_quota_of_delivery_streams_is_kept(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < 8; i++) {
        char name[16];
        snprintf(name, sizeof(name), "q%d", i);
        create(f, name, "{" BASE_FOR("quota") "}");
    }
    json_t *in = json_pack("{s:s,s:{s:s,s:s}}", "DeliveryStreamName", "q8",
                           "ExtendedS3DestinationConfiguration", "RoleARN", "arn:r", "BucketARN",
                           "arn:aws:s3:::quota");
    json_t *out = NULL;
    struct err_info err;
    assert_int_equal(delivery__create(f->svc, &scope, in, &out, &err), SL_E(LIMIT_EXCEEDED));
    assert_string_equal(err.message, "You have already consumed your firehose quota of 8 hoses.");
    assert_null(out);
    /* The same name again is ResourceInUse, whatever the quota. */
    json_object_set_new(in, "DeliveryStreamName", json_string("q0"));
    assert_int_equal(delivery__create(f->svc, &scope, in, &out, &err), SL_E(RESOURCE_IN_USE));
    assert_string_equal(err.message, "Firehose q0 under accountId 000000000000 already exists");
    json_decref(in);
}

/* ---- Decompression, CloudWatchLogProcessing, source record backup, metrics ---- */

#define CWL_PROC                                                                                   \
    "\"ProcessingConfiguration\":{\"Enabled\":true,\"Processors\":["                               \
    "{\"Type\":\"Decompression\",\"Parameters\":[{\"ParameterName\":\"CompressionFormat\","        \
    "\"ParameterValue\":\"GZIP\"}]},"                                                              \
    "{\"Type\":\"CloudWatchLogProcessing\",\"Parameters\":[{\"ParameterName\":"                    \
    "\"DataMessageExtraction\",\"ParameterValue\":\"true\"}]}]}"

static void processors_and_backup_are_validated_as_aws_does(void **state)
{
    (void)state;
    int I = SL_E(INVALID_ARGUMENT), V = SL_E(VALIDATION);
    expect_refused("{" BASE ",\"ProcessingConfiguration\":{\"Enabled\":true,\"Processors\":["
                   "{\"Type\":\"CloudWatchLogProcessing\",\"Parameters\":[{\"ParameterName\":"
                   "\"DataMessageExtraction\",\"ParameterValue\":\"true\"}]}]}}",
                   I, "requires the Decompression processor");
    expect_refused("{" BASE ",\"ProcessingConfiguration\":{\"Enabled\":true,\"Processors\":["
                   "{\"Type\":\"Decompression\"},"
                   "{\"Type\":\"CloudWatchLogProcessing\",\"Parameters\":[{\"ParameterName\":"
                   "\"DataMessageExtraction\",\"ParameterValue\":\"false\"}]}]}}",
                   I, "DataMessageExtraction false must be true");
    expect_refused("{" BASE ",\"ProcessingConfiguration\":{\"Enabled\":true,\"Processors\":["
                   "{\"Type\":\"Decompression\",\"Parameters\":[{\"ParameterName\":"
                   "\"CompressionFormat\",\"ParameterValue\":\"ZIP\"}]}]}}",
                   I, "only GZIP is");
    expect_refused("{" BASE ",\"S3BackupMode\":\"Enabled\"}", I,
                   "S3BackupConfiguration is required when S3BackupMode is Enabled.");
    expect_refused("{" BASE ",\"S3BackupMode\":\"Enabled\",\"S3BackupConfiguration\":"
                   "{\"RoleARN\":\"arn:r\"}}",
                   V,
                   "Value null at 'extendedS3DestinationConfiguration.s3BackupConfiguration."
                   "bucketARN'");
    expect_refused("{" BASE ",\"S3BackupMode\":\"Enabled\",\"S3BackupConfiguration\":"
                   "{\"RoleARN\":\"arn:r\",\"BucketARN\":\"arn:aws:s3:::bak\","
                   "\"CompressionFormat\":\"LZ4\"}}",
                   V, "s3BackupConfiguration.compressionFormat");
    /* Accepted: Decompression alone (no parameter: GZIP), and the backup described with the
       S3 defaults filled in. */
    json_t *d = NULL;
    struct err_info err;
    assert_int_equal(describe("{" BASE ",\"ProcessingConfiguration\":{\"Enabled\":true,"
                              "\"Processors\":[{\"Type\":\"Decompression\"}]},"
                              "\"S3BackupMode\":\"Enabled\",\"S3BackupConfiguration\":"
                              "{\"RoleARN\":\"arn:r\",\"BucketARN\":\"arn:aws:s3:::bak\","
                              "\"Prefix\":\"src/\"}}",
                              &d, &err),
                     0);
    json_t *bd = json_object_get(d, "S3BackupDescription");
    assert_string_equal(json_string_value(json_object_get(bd, "Prefix")), "src/");
    assert_string_equal(json_string_value(json_object_get(bd, "CompressionFormat")),
                        "UNCOMPRESSED");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(bd, "BufferingHints"), "SizeInMBs")), 5);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(bd, "EncryptionConfiguration"), "NoEncryptionConfig")),
                        "NoEncryption");
    struct delivery_dest dd;
    assert_int_equal(delivery__dest_parse(d, &dd), 0);
    assert_int_equal(dd.backup, 1);
    assert_string_equal(dd.backup_bucket, "bak");
    assert_string_equal(dd.backup_prefix, "src/");
    assert_int_equal(dd.decompression, 1);
    assert_int_equal(dd.cwl_extraction, 0);
    delivery__dest_fini(&dd);
    json_decref(d);
}

/* Appends the gzip of text to out. */
static void gz(const char *text, struct buf *out)
{
    buf_reset(out);
    assert_int_equal(compress_gzip((const uint8_t *)text, strlen(text), out), 0);
}

/* The concatenated bytes of the objects of bucket whose keys start with prefix (key
   order), NUL-terminated; returns how many there are. */
static size_t objects_under(struct fixture *f, const char *bucket, const char *prefix,
                            struct buf *out)
{
    struct lake_list_opts lo = {.max_keys = 1000, .prefix = prefix};
    struct lake_list_result res;
    struct err_info err;
    buf_reset(out);
    assert_int_equal(lake_object_list(f->lake, bucket, &lo, &res, &err), 0);
    for (size_t i = 0; i < res.n_objects; i++) {
        assert_int_equal(lake_object_read(f->lake, bucket, res.objects[i].key, out, NULL, &err), 0);
    }
    size_t n = res.n_objects;
    lake_list_result_fini(&res);
    buf_putc(out, 0);
    out->len--;
    return n;
}

static void cloudwatch_logs_records_become_their_messages(void **state)
{
    struct fixture *f = *state;
    make_bucket(f, "cwl");
    create(f, "cwl",
           "{" BASE_FOR("cwl") ",\"Prefix\":\"o/\",\"ErrorOutputPrefix\":"
                               "\"e/!{firehose:error-output-type}/\"," CWL_PROC "}");
    struct buf rec;
    buf_init(&rec);
    gz("{\"messageType\":\"DATA_MESSAGE\",\"owner\":\"123456789012\",\"logGroup\":\"g\","
       "\"logStream\":\"s\",\"subscriptionFilters\":[\"f\"],\"logEvents\":["
       "{\"id\":\"1\",\"timestamp\":1,\"message\":\"first\"},"
       "{\"id\":\"2\",\"timestamp\":2,\"message\":\"{\\\"k\\\":2}\"}]}",
       &rec);
    put(f, "cwl", (const char *)rec.data, rec.len, 1);
    gz("{\"messageType\":\"CONTROL_MESSAGE\",\"owner\":\"CloudwatchLogs\",\"logGroup\":\"\","
       "\"logStream\":\"\",\"subscriptionFilters\":[],\"logEvents\":[{\"id\":\"\","
       "\"timestamp\":1,\"message\":\"CWL CONTROL MESSAGE: Checking health of destination\"}]}",
       &rec);
    put(f, "cwl", (const char *)rec.data, rec.len, 1);
    put(f, "cwl", "notgzip", 7, 1);
    gz("[1,2]", &rec);
    put(f, "cwl", (const char *)rec.data, rec.len, 1);
    assert_int_equal(delivery_stream_flush(f->svc, "us-east-1", "cwl", 5000), 0);
    struct buf b;
    buf_init(&b);
    /* The messages, each with its newline; nothing of the control message. */
    assert_true(objects_under(f, "cwl", "o/", &b) >= 1);
    assert_string_equal((const char *)b.data, "first\n{\"k\":2}\n");
    /* The two that could not be unpacked, under decompression-failed, as they came. */
    assert_true(objects_under(f, "cwl", "e/decompression-failed/", &b) >= 1);
    const char *text = (const char *)b.data;
    assert_null(strstr(text, "CONTROL MESSAGE"));
    assert_non_null(strstr(text, "\"errorCode\":\"Decompression.InvalidGzip\""));
    assert_non_null(strstr(text, "\"rawData\":\"bm90Z3ppcA==\"")); /* notgzip */
    assert_non_null(strstr(text, "\"errorCode\":\"CloudWatchLogProcessing.InvalidMessage\""));
    assert_non_null(strstr(text, "\"attemptsMade\":1,\"arrivalTimestamp\":"));
    buf_fini(&b);
    struct delivery_counters c;
    assert_int_equal(delivery_stream_counters(f->svc, "us-east-1", "cwl", &c), 0);
    assert_int_equal(c.decompression_failed_records, 2);
    assert_int_equal(c.cwl_control_dropped, 1);
    assert_int_equal(c.s3_records, 4);
    buf_fini(&rec);
}

static void decompression_alone_delivers_the_plain_records(void **state)
{
    struct fixture *f = *state;
    make_bucket(f, "unz");
    create(f, "unz",
           "{" BASE_FOR("unz") ",\"ProcessingConfiguration\":{\"Enabled\":true,"
                               "\"Processors\":[{\"Type\":\"Decompression\"}]}}");
    struct buf rec;
    buf_init(&rec);
    gz("{\"a\":1}", &rec);
    /* Two gzip members end to end are one stream. */
    struct buf two;
    buf_init(&two);
    assert_int_equal(compress_gzip((const uint8_t *)"x", 1, &two), 0);
    assert_int_equal(compress_gzip((const uint8_t *)"y", 1, &two), 0);
    put(f, "unz", (const char *)rec.data, rec.len, 2);
    put(f, "unz", (const char *)two.data, two.len, 1);
    assert_int_equal(delivery_stream_flush(f->svc, "us-east-1", "unz", 5000), 0);
    struct buf b;
    buf_init(&b);
    assert_true(lake_bytes(f, "unz", &b) >= 1); /* one object per buffer taken */
    assert_int_equal(b.len, 16);
    const uint8_t *at = memmem(b.data, b.len, "{\"a\":1}{\"a\":1}", 14);
    assert_non_null(at);
    assert_non_null(memmem(b.data, b.len, "xy", 2));
    buf_fini(&b);
    buf_fini(&rec);
    buf_fini(&two);
}

#define BACKUP_CONF(bucket, backup_bucket)                                                         \
    "{" BASE_FOR(bucket) ",\"Prefix\":\"o/\"," CWL_PROC ",\"S3BackupMode\":\"Enabled\","           \
                         "\"S3BackupConfiguration\":{\"RoleARN\":\"arn:r\",\"BucketARN\":"         \
                         "\"arn:aws:s3:::" backup_bucket "\",\"Prefix\":\"src/\","                 \
                         "\"CompressionFormat\":\"GZIP\"}}"

static void source_records_are_backed_up_before_positions_move(void **state)
{
    struct fixture *f = *state;
    make_bucket(f, "main");
    create(f, "bkp", BACKUP_CONF("main", "backup"));
    struct buf rec, want;
    buf_init(&rec);
    buf_init(&want);
    gz("{\"messageType\":\"DATA_MESSAGE\",\"logEvents\":[{\"id\":\"1\",\"timestamp\":1,"
       "\"message\":\"m\"}]}",
       &rec);
    put(f, "bkp", (const char *)rec.data, rec.len, 2);
    put(f, "bkp", "raw", 3, 1);
    buf_append(&want, rec.data, rec.len);
    buf_append(&want, rec.data, rec.len);
    buf_append(&want, "raw", 3);
    /* The backup bucket does not exist yet: nothing is delivered while its object cannot be
       written, and the flush cannot complete. */
    assert_int_equal(delivery_stream_flush(f->svc, "us-east-1", "bkp", 300), -ETIMEDOUT);
    struct buf b;
    buf_init(&b);
    assert_int_equal(lake_bytes(f, "main", &b), 0);
    make_bucket(f, "backup");
    assert_int_equal(delivery_stream_flush(f->svc, "us-east-1", "bkp", 5000), 0);
    /* The backup object: the records as they came, gzip-compressed, under the backup's
       prefix and AWS's time path. */
    struct lake_list_opts lo = {.max_keys = 10};
    struct lake_list_result res;
    struct err_info err;
    assert_int_equal(lake_object_list(f->lake, "backup", &lo, &res, &err), 0);
    assert_true(res.n_objects >= 1);
    assert_int_equal(strncmp(res.objects[0].key, "src/2025/11/26/10/bkp-1-2025-11-26-10-05-09-",
                             strlen("src/2025/11/26/10/bkp-1-2025-11-26-10-05-09-")),
                     0);
    assert_non_null(strstr(res.objects[0].key, ".gz"));
    struct buf plain;
    buf_init(&plain);
    const char *why = NULL;
    for (size_t i = 0; i < res.n_objects; i++) {
        buf_reset(&b);
        assert_int_equal(lake_object_read(f->lake, "backup", res.objects[i].key, &b, NULL, &err),
                         0);
        assert_int_equal(decompress_gzip(b.data, b.len, 1 << 20, &plain, &why), 0);
    }
    lake_list_result_fini(&res);
    /* Every record once (the buffer may have been taken in more than one piece, whose
       objects list in uuid order). */
    assert_int_equal(plain.len, want.len);
    const uint8_t *raw_at = memmem(plain.data, plain.len, "raw", 3);
    assert_non_null(raw_at);
    assert_null(memmem(raw_at + 1, plain.len - (size_t)(raw_at + 1 - plain.data), "raw", 3));
    size_t off = (size_t)(raw_at - plain.data);
    assert_true(off == 0 || off == rec.len || off == 2 * rec.len);
    /* The main objects hold the transformed records ("raw" is not gzip: it is in the error
       output under AWS's default <Prefix>decompression-failed/). */
    assert_true(objects_under(f, "main", "o/2025/", &b) >= 1);
    assert_string_equal((const char *)b.data, "m\nm\n");
    assert_true(objects_under(f, "main", "o/decompression-failed/2025/", &b) >= 1);
    assert_non_null(strstr((const char *)b.data, "\"rawData\":\"cmF3\""));
    struct delivery_counters c;
    assert_int_equal(delivery_stream_counters(f->svc, "us-east-1", "bkp", &c), 0);
    assert_int_equal(c.backup_records, 3);
    assert_true(c.backup_bytes > 0);
    assert_true(c.backup_attempts > c.backup_successes);
    assert_true(c.backup_successes >= 1);
    assert_int_equal(c.s3_records, 3);
    /* The metrics interface names them as CloudWatch does. */
    struct delivery_metric m[DELIVERY_METRICS_MAX];
    size_t n = 0;
    assert_int_equal(delivery_stream_metrics(f->svc, "us-east-1", "bkp", m, &n), 0);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(m[i].name, "BackupToS3.Records") == 0) {
            assert_true(m[i].value == 3.0);
            seen |= 1;
        }
        if (strcmp(m[i].name, "IncomingRecords") == 0) {
            assert_true(m[i].value == 3.0);
            seen |= 2;
        }
        assert_int_equal(strncmp(m[i].name, "DataReadFromKinesisStream", 25) == 0, 0);
        assert_int_equal(strncmp(m[i].name, "SucceedConversion", 17) == 0, 0);
    }
    assert_int_equal(seen, 3);
    assert_int_equal(delivery_stream_metrics(f->svc, "us-east-1", "none", m, &n),
                     SL_E(RESOURCE_NOT_FOUND));
    buf_fini(&plain);
    buf_fini(&b);
    buf_fini(&rec);
    buf_fini(&want);
}

static void source_record_backup_cannot_be_disabled(void **state)
{
    struct fixture *f = *state;
    create(f, "nodis", BACKUP_CONF("main2", "backup2"));
    json_t *in = json_pack("{s:s,s:s,s:s,s:{s:s}}", "DeliveryStreamName", "nodis",
                           "CurrentDeliveryStreamVersionId", "1", "DestinationId",
                           "destinationId-000000000001", "ExtendedS3DestinationUpdate",
                           "S3BackupMode", "Disabled");
    json_t *out = NULL;
    struct err_info err;
    err_clear(&err);
    assert_int_equal(delivery__update_destination(f->svc, &scope, in, &out, &err),
                     SL_E(INVALID_ARGUMENT));
    assert_non_null(strstr(err.message, "cannot be disabled"));
    json_decref(in);
    /* S3BackupUpdate merges into the backup configuration. */
    in = json_pack("{s:s,s:s,s:s,s:{s:{s:s}}}", "DeliveryStreamName", "nodis",
                   "CurrentDeliveryStreamVersionId", "1", "DestinationId",
                   "destinationId-000000000001", "ExtendedS3DestinationUpdate", "S3BackupUpdate",
                   "Prefix", "other/");
    assert_int_equal(delivery__update_destination(f->svc, &scope, in, &out, &err), 0);
    json_decref(out);
    json_decref(in);
    in = json_pack("{s:s}", "DeliveryStreamName", "nodis");
    assert_int_equal(delivery__describe(f->svc, &scope, in, &out, &err), 0);
    json_t *bd = json_object_get(
        json_object_get(
            json_array_get(
                json_object_get(json_object_get(out, "DeliveryStreamDescription"), "Destinations"),
                0),
            "ExtendedS3DestinationDescription"),
        "S3BackupDescription");
    assert_string_equal(json_string_value(json_object_get(bd, "Prefix")), "other/");
    assert_string_equal(json_string_value(json_object_get(bd, "CompressionFormat")), "GZIP");
    json_decref(out);
    json_decref(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timestamp_patterns_follow_java_date_time_formatter),
        cmocka_unit_test(timestamp_patterns_outside_the_subset_are_refused),
        cmocka_unit_test(prefixes_follow_aws_rules),
        cmocka_unit_test(object_keys_name_stream_version_time_and_uuid),
        cmocka_unit_test(descriptions_fill_in_aws_defaults),
        cmocka_unit_test(destinations_are_validated_as_aws_does),
        cmocka_unit_test(expanded_prefixes_get_no_time_path),
        cmocka_unit_test(extraction_queries_are_compiled_at_create),
        cmocka_unit_test(processors_and_backup_are_validated_as_aws_does),
        cmocka_unit_test_setup_teardown(cloudwatch_logs_records_become_their_messages, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(decompression_alone_delivers_the_plain_records, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(source_records_are_backed_up_before_positions_move, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(source_record_backup_cannot_be_disabled, setup, teardown),
        cmocka_unit_test_setup_teardown(a_full_buffer_is_delivered_without_waiting_for_the_interval,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_buffer_is_delivered_when_its_interval_passes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(direct_put_counts_calls_latency_and_the_buffer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(flush_delivers_records_in_arrival_order_byte_for_byte,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_failed_write_is_retried_until_the_bucket_exists, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            undelivered_records_are_delivered_after_a_reopen_exactly_once, setup, teardown),
        cmocka_unit_test_setup_teardown(partitions_are_delivered_one_object_each, setup, teardown),
        cmocka_unit_test_setup_teardown(a_query_out_of_memory_is_retried_not_an_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            record_deaggregation_needs_partitioning_and_delimiters_are_appended, setup, teardown),
        cmocka_unit_test_setup_teardown(partitions_beyond_the_active_limit_go_to_the_error_prefix,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(the_transform_runs_before_delivery_and_is_counted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            a_creating_delivery_stream_cannot_be_deleted_nor_take_records, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_kinesis_source_is_read_from_latest_across_shards_and_reopens, setup, teardown),
        cmocka_unit_test_setup_teardown(a_kinesis_source_follows_splits_and_merges_across_a_reopen,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(put_bodies_are_read_as_aws_reads_them, setup, teardown),
        cmocka_unit_test_setup_teardown(the_quota_of_delivery_streams_is_kept, setup, teardown),
    };
    return cmocka_run_group_tests_name("delivery", tests, NULL, NULL);
}
