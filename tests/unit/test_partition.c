/*
 * Unit tests of dynamic partitioning: extraction, error types, prefix evaluation, value
 * refusals, and the active-partition set against a model (seed printed, SEED=n to replay).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "delivery/partition.h"

static struct partition_extractor *extractor(const char *query)
{
    struct partition_extractor *x = NULL;
    struct err_info err = {0};
    assert_int_equal(partition_extractor_create(query, strlen(query), "JQ-1.6", &x, &err), 0);
    return x;
}

/* Extracts keys from rec with query, then expands prefix; returns rc, fills out/type. */
static int run(const char *query, const char *rec, const char *prefix, struct buf *out,
               const char **type, struct err_info *err)
{
    struct partition_extractor *x = extractor(query);
    struct partition_keys keys;
    partition_keys_init(&keys);
    *type = NULL;
    int rc = partition_keys_extract(x, rec, strlen(rec), &keys, type, err);
    if (rc == 0) {
        rc = partition_prefix_expand(prefix, strlen(prefix), &keys, out, type, err);
    }
    partition_keys_fini(&keys);
    partition_keys_fini(&keys);
    partition_extractor_destroy(x);
    return rc;
}

static void the_engine_must_be_jq_1_6(void **state)
{
    (void)state;
    struct partition_extractor *x = NULL;
    struct err_info err = {0};
    const char *q = "{a:.a}";
    assert_int_equal(partition_extractor_create(q, strlen(q), "JQ-1.5", &x, &err),
                     SL_E(INVALID_ARGUMENT));
    assert_string_equal(err.message, "JsonParsingEngine must be JQ-1.6 for MetadataExtraction.");
    assert_int_equal(partition_extractor_create(q, strlen(q), NULL, &x, &err),
                     SL_E(INVALID_ARGUMENT));
    assert_null(x);
    assert_int_equal(partition_extractor_create("{a:[range(9)]}", 14, "JQ-1.6", &x, &err),
                     SL_E(INVALID_ARGUMENT));
    assert_non_null(strstr(err.message, "'range'"));
    partition_extractor_destroy(NULL);
}

static void two_keys_make_a_hive_prefix(void **state)
{
    (void)state;
    struct buf out;
    buf_init(&out);
    const char *type;
    struct err_info err = {0};
    assert_int_equal(run("{customer_id:.customer_id, device:.type.device}",
                         "{\"customer_id\":\"c-1\",\"type\":{\"device\":\"ios\"}}",
                         "customer_id=!{partitionKeyFromQuery:customer_id}/"
                         "device=!{partitionKeyFromQuery:device}/!{timestamp:yyyy}/",
                         &out, &type, &err),
                     0);
    /* Other expressions are left for delivery's key layout. */
    assert_string_equal((char *)out.data, "customer_id=c-1/device=ios/!{timestamp:yyyy}/");
    assert_int_equal(run("{n:.n, b:.b}", "{\"n\":2.50,\"b\":false}",
                         "n=!{partitionKeyFromQuery:n}/b=!{partitionKeyFromQuery:b}/", &out, &type,
                         &err),
                     0);
    assert_string_equal((char *)out.data, "n=2.5/b=false/");
    /* A '/' in a value spans levels, as on AWS. */
    assert_int_equal(
        run("{d:.d}", "{\"d\":\"2024/01/31\"}", "!{partitionKeyFromQuery:d}/", &out, &type, &err),
        0);
    assert_string_equal((char *)out.data, "2024/01/31/");
    buf_fini(&out);
}

static void records_whose_keys_fail_go_to_metadata_extraction_failed(void **state)
{
    (void)state;
    static const char *const recs[] = {"not json",    "{\"id\":null}", "{}",
                                       "{\"id\":{}}", "[1]",           "{\"id\":[\"a\"]}"};
    struct buf out;
    buf_init(&out);
    for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
        const char *type = NULL;
        struct err_info err = {0};
        assert_int_equal(
            run("{id:.id}", recs[i], "id=!{partitionKeyFromQuery:id}/", &out, &type, &err),
            SL_E(INVALID_INPUT));
        assert_string_equal(type, "metadata-extraction-failed");
        assert_true(err.message[0] != '\0');
    }
    /* A key the prefix names that the query does not yield. */
    const char *type = NULL;
    struct err_info err = {0};
    assert_int_equal(run("{a:.a}", "{\"a\":1}", "b=!{partitionKeyFromQuery:b}/", &out, &type, &err),
                     SL_E(INVALID_INPUT));
    assert_string_equal(type, PARTITION_ERROR_EXTRACTION);
    assert_string_equal(err.message,
                        "The partition key 'b' has no value from the MetadataExtractionQuery.");
    buf_fini(&out);
}

static void lambda_keys_missing_go_to_partitioning_failed(void **state)
{
    (void)state;
    struct partition_keys keys;
    partition_keys_init(&keys);
    const char *type = NULL;
    struct err_info err = {0};
    assert_int_equal(partition_keys_add_lambda(&keys, "a", 1, "x", 1, &type, &err), 0);
    assert_int_equal(partition_keys_add_lambda(&keys, "a", 1, "y", 1, &type, &err), 0);
    assert_int_equal(keys.n_lambda, 1);
    struct buf out;
    buf_init(&out);
    const char *p = "a=!{partitionKeyFromLambda:a}/";
    assert_int_equal(partition_prefix_expand(p, strlen(p), &keys, &out, &type, &err), 0);
    assert_string_equal((char *)out.data, "a=y/");
    p = "a=!{partitionKeyFromLambda:a}/b=!{partitionKeyFromLambda:b}/";
    assert_int_equal(partition_prefix_expand(p, strlen(p), &keys, &out, &type, &err),
                     SL_E(INVALID_INPUT));
    assert_string_equal(type, "partitioning-failed");
    assert_non_null(strstr(err.message, "'b'"));
    /* A query key the keys lack is the query's failure even when Lambda keys exist. */
    p = "!{partitionKeyFromQuery:a}/";
    assert_int_equal(partition_prefix_expand(p, strlen(p), &keys, &out, &type, &err),
                     SL_E(INVALID_INPUT));
    assert_string_equal(type, "metadata-extraction-failed");
    /* No keys at all: a template without partition expressions still expands. */
    p = "plain/!{firehose:random-string}/";
    assert_int_equal(partition_prefix_expand(p, strlen(p), NULL, &out, &type, &err), 0);
    assert_string_equal((char *)out.data, p);
    for (int i = 1; i < JQ_MAX_KEYS; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        assert_int_equal(partition_keys_add_lambda(&keys, k, strlen(k), "v", 1, &type, &err), 0);
    }
    assert_int_equal(partition_keys_add_lambda(&keys, "one-more", 8, "v", 1, &type, &err),
                     SL_E(INVALID_INPUT));
    assert_string_equal(type, PARTITION_ERROR_PARTITIONING);
    char long_value[JQ_VALUE_MAX_LEN + 2];
    memset(long_value, 'v', sizeof(long_value));
    assert_int_equal(
        partition_keys_add_lambda(&keys, "a", 1, long_value, sizeof(long_value), &type, &err),
        SL_E(INVALID_INPUT));
    partition_keys_fini(&keys);
    buf_fini(&out);
}

static void values_cannot_climb_out_of_the_prefix_or_smuggle_expressions(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "..",   ".",    "../etc", "a/../../b", "a/..", "./a", "x!{firehose:random-string}",
        "a\nb", "a\x7f"};
    struct partition_keys keys;
    partition_keys_init(&keys);
    struct buf out;
    buf_init(&out);
    const char *p = "k=!{partitionKeyFromLambda:k}/!{partitionKeyFromLambda:k}/x";
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *type = NULL;
        struct err_info err = {0};
        assert_int_equal(
            partition_keys_add_lambda(&keys, "k", 1, bad[i], strlen(bad[i]), &type, &err), 0);
        int rc = partition_prefix_expand(p, strlen(p), &keys, &out, &type, &err);
        if (rc != SL_E(INVALID_INPUT)) {
            print_error("value \"%s\" was let through: %s\n", bad[i], (char *)out.data);
        }
        assert_int_equal(rc, SL_E(INVALID_INPUT));
        assert_string_equal(type, PARTITION_ERROR_PARTITIONING);
    }
    /* Dots inside a name are fine; only whole segments are refused. */
    static const char *const good[] = {"a..b", "...", ".hidden", "v1.2", ""};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        const char *type = NULL;
        struct err_info err = {0};
        assert_int_equal(
            partition_keys_add_lambda(&keys, "k", 1, good[i], strlen(good[i]), &type, &err), 0);
        assert_int_equal(partition_prefix_expand(p, strlen(p), &keys, &out, &type, &err), 0);
    }
    /* From a query too: the error type is then the query's. */
    const char *type = NULL;
    struct err_info err = {0};
    assert_int_equal(
        run("{d:.d}", "{\"d\":\"..\"}", "!{partitionKeyFromQuery:d}/", &out, &type, &err),
        SL_E(INVALID_INPUT));
    assert_string_equal(type, PARTITION_ERROR_EXTRACTION);
    assert_non_null(strstr(err.message, "'..'"));
    partition_keys_fini(&keys);
    buf_fini(&out);
}

static void an_evaluated_prefix_is_at_most_512_characters(void **state)
{
    (void)state;
    struct partition_keys keys;
    partition_keys_init(&keys);
    char value[301];
    memset(value, 'v', 300);
    value[300] = '\0';
    const char *type = NULL;
    struct err_info err = {0};
    assert_int_equal(partition_keys_add_lambda(&keys, "k", 1, value, 300, &type, &err), 0);
    struct buf out;
    buf_init(&out);
    const char *one = "!{partitionKeyFromLambda:k}/";
    assert_int_equal(partition_prefix_expand(one, strlen(one), &keys, &out, &type, &err), 0);
    const char *two = "!{partitionKeyFromLambda:k}/!{partitionKeyFromLambda:k}/";
    assert_int_equal(partition_prefix_expand(two, strlen(two), &keys, &out, &type, &err),
                     SL_E(INVALID_INPUT));
    assert_string_equal(err.message, "The evaluated prefix is longer than 512 characters.");
    partition_keys_fini(&keys);
    buf_fini(&out);
}

static void unclosed_and_foreign_expressions_are_copied(void **state)
{
    (void)state;
    struct buf out;
    buf_init(&out);
    const char *type = NULL;
    struct err_info err = {0};
    const char *p = "a/!{partitionKeyFromQuery:x";
    assert_int_equal(partition_prefix_expand(p, strlen(p), NULL, &out, &type, &err), 0);
    assert_string_equal((char *)out.data, p);
    p = "!{nocolon}/!{timestamp:yyyy}!";
    assert_int_equal(partition_prefix_expand(p, strlen(p), NULL, &out, &type, &err), 0);
    assert_string_equal((char *)out.data, p);
    buf_fini(&out);
}

static void the_active_set_holds_at_most_its_limit(void **state)
{
    (void)state;
    struct partition_set s;
    partition_set_init(&s, PARTITION_ACTIVE_DEFAULT);
    bool is_new;
    for (int i = 0; i < PARTITION_ACTIVE_DEFAULT; i++) {
        char p[32];
        int n = snprintf(p, sizeof(p), "k=%d/", i);
        assert_int_equal(partition_set_add(&s, p, (size_t)n, &is_new), 0);
        assert_true(is_new);
    }
    assert_int_equal(s.n_active, 500);
    assert_int_equal(partition_set_add(&s, "k=7/", 4, &is_new), 0); /* held: still fine */
    assert_false(is_new);
    assert_int_equal(partition_set_add(&s, "k=500/", 6, &is_new), SL_E(LIMIT_EXCEEDED));
    assert_false(is_new);
    assert_true(partition_set_remove(&s, "k=7/", 4));
    assert_false(partition_set_remove(&s, "k=7/", 4));
    assert_int_equal(partition_set_add(&s, "k=500/", 6, &is_new), 0);
    assert_true(is_new);
    partition_set_fini(&s);
    partition_set_fini(&s);
}

/* Random adds and removes against an array model, over a small key space. */
static void the_active_set_matches_a_model(void **state)
{
    (void)state;
    unsigned seed =
        getenv("SEED") != NULL ? (unsigned)strtoul(getenv("SEED"), NULL, 10) : (unsigned)time(NULL);
    print_message("seed %u\n", seed);
    srand(seed);
    enum { KEYS = 97 };
    bool model[KEYS] = {false};
    size_t held = 0;
    struct partition_set s;
    partition_set_init(&s, 60);
    for (int step = 0; step < 20000; step++) {
        int k = rand() % KEYS;
        char p[16];
        int n = snprintf(p, sizeof(p), "p%d/", k);
        if (rand() % 2) {
            bool is_new;
            int rc = partition_set_add(&s, p, (size_t)n, &is_new);
            if (model[k]) {
                assert_int_equal(rc, 0);
                assert_false(is_new);
            } else if (held == 60) {
                assert_int_equal(rc, SL_E(LIMIT_EXCEEDED));
            } else {
                assert_int_equal(rc, 0);
                assert_true(is_new);
                model[k] = true;
                held++;
            }
        } else {
            assert_int_equal(partition_set_remove(&s, p, (size_t)n), model[k]);
            if (model[k]) {
                model[k] = false;
                held--;
            }
        }
        assert_int_equal(s.n_active, held);
        int probe = rand() % KEYS;
        n = snprintf(p, sizeof(p), "p%d/", probe);
        assert_int_equal(partition_set_has(&s, p, (size_t)n), model[probe]);
    }
    partition_set_fini(&s);
}

static void allocation_failures_leave_the_set_whole(void **state)
{
    (void)state;
    struct partition_set s;
    partition_set_init(&s, 10);
    bool is_new;
    mem_fail_after(1);
    assert_int_equal(partition_set_add(&s, "a/", 2, &is_new), SL_E(NOMEM));
    mem_fail_after(0);
    assert_int_equal(s.n_active, 0);
    assert_int_equal(partition_set_add(&s, "a/", 2, &is_new), 0);
    mem_fail_after(1);
    assert_int_equal(partition_set_add(&s, "b/", 2, &is_new), SL_E(NOMEM));
    mem_fail_after(0);
    assert_int_equal(s.n_active, 1);
    assert_true(partition_set_has(&s, "a/", 2));
    assert_false(partition_set_has(&s, "b/", 2));
    partition_set_fini(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_engine_must_be_jq_1_6),
        cmocka_unit_test(two_keys_make_a_hive_prefix),
        cmocka_unit_test(records_whose_keys_fail_go_to_metadata_extraction_failed),
        cmocka_unit_test(lambda_keys_missing_go_to_partitioning_failed),
        cmocka_unit_test(values_cannot_climb_out_of_the_prefix_or_smuggle_expressions),
        cmocka_unit_test(an_evaluated_prefix_is_at_most_512_characters),
        cmocka_unit_test(unclosed_and_foreign_expressions_are_copied),
        cmocka_unit_test(the_active_set_holds_at_most_its_limit),
        cmocka_unit_test(the_active_set_matches_a_model),
        cmocka_unit_test(allocation_failures_leave_the_set_whole),
    };
    return cmocka_run_group_tests_name("partition", tests, NULL, NULL);
}
