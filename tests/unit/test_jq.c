/* Unit tests of the libjq adapter: vetting, compiling, running, rendering, failures. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/jq.h"
#include "core/mem.h"

static struct jq_query *compile_ok(const char *query)
{
    struct jq_query *q = NULL;
    struct err_info err = {0};
    int rc = jq_query_compile(query, strlen(query), &q, &err);
    if (rc != 0) {
        print_error("query %s: %s\n", query, err.message);
    }
    assert_int_equal(rc, 0);
    assert_non_null(q);
    return q;
}

/* Compiles query, expecting a refusal whose message holds want. */
static void refused(const char *query, const char *want)
{
    struct jq_query *q = NULL;
    struct err_info err = {0};
    int rc = jq_query_compile(query, strlen(query), &q, &err);
    if (rc != SL_E(INVALID_ARGUMENT) || strstr(err.message, want) == NULL) {
        print_error("query %s: rc %d, message \"%s\", wanted \"%s\"\n", query, rc, err.message,
                    want);
    }
    assert_int_equal(rc, SL_E(INVALID_ARGUMENT));
    assert_non_null(strstr(err.message, want));
    assert_null(q);
}

/* Runs query on json; expects success; returns the value of key (static copy). */
static const char *value_of(const char *query, const char *json, const char *key)
{
    static char copy[2048];
    struct jq_query *q = compile_ok(query);
    struct jq_result res;
    struct err_info err = {0};
    int rc = jq_query_eval(q, json, strlen(json), &res, &err);
    if (rc != 0) {
        print_error("query %s on %s: %s\n", query, json, err.message);
    }
    assert_int_equal(rc, 0);
    const struct jq_kv *kv = jq_result_get(&res, key, strlen(key));
    assert_non_null(kv);
    assert_int_equal(strlen(kv->value), kv->value_len);
    snprintf(copy, sizeof(copy), "%s", kv->value);
    jq_result_fini(&res);
    jq_query_destroy(q);
    return copy;
}

/* Runs query on json; expects the record to fail with kind and a message holding want. */
static void fails(const char *query, const char *json, size_t json_len, enum jq_fail kind,
                  const char *want)
{
    struct jq_query *q = compile_ok(query);
    struct jq_result res;
    struct err_info err = {0};
    int rc = jq_query_eval(q, json, json_len, &res, &err);
    if (rc != SL_E(INVALID_INPUT) || res.fail != kind || strstr(err.message, want) == NULL) {
        print_error("query %s: rc %d fail %d message \"%s\"\n", query, rc, (int)res.fail,
                    err.message);
    }
    assert_int_equal(rc, SL_E(INVALID_INPUT));
    assert_int_equal(res.fail, kind);
    assert_int_equal(res.n_kv, 0);
    assert_non_null(strstr(err.message, want));
    jq_result_fini(&res);
    jq_query_destroy(q);
}

static void values_render_as_firehose_puts_them_in_a_prefix(void **state)
{
    (void)state;
    const char *q = "{s:.s, i:.i, f:.f, big:.big, neg:.neg, t:.t, fa:.fa, e:.e, u:.u}";
    const char *rec = "{\"s\":\"acme \\\"co\\\" é\",\"i\":42,\"f\":1.5,\"big\":1e100,"
                      "\"neg\":-0.25,\"t\":true,\"fa\":false,\"e\":\"\",\"u\":3.0}";
    assert_string_equal(value_of(q, rec, "s"), "acme \"co\" é");
    assert_string_equal(value_of(q, rec, "i"), "42");
    assert_string_equal(value_of(q, rec, "f"), "1.5");
    assert_string_equal(value_of(q, rec, "big"), "1e+100");
    assert_string_equal(value_of(q, rec, "neg"), "-0.25");
    assert_string_equal(value_of(q, rec, "t"), "true");
    assert_string_equal(value_of(q, rec, "fa"), "false");
    assert_string_equal(value_of(q, rec, "e"), "");
    assert_string_equal(value_of(q, rec, "u"), "3");
    /* jq 1.6 clamps numbers beyond a double to its largest. */
    assert_string_equal(value_of("{n:.n}", "{\"n\":1e1000}", "n"), "1.7976931348623157e+308");
}

static void queries_of_the_aws_documentation_run(void **state)
{
    (void)state;
    const char *rec = "{\"customer_id\":\"c-17\",\"type\":{\"device\":\"mobile\"},"
                      "\"event_timestamp\":1700000000,\"a\":\"x-y\",\"b\":7}";
    const char *aws = "{customer_id:.customer_id,device:.type.device,"
                      "year:.event_timestamp|strftime(\"%Y\")}";
    assert_string_equal(value_of(aws, rec, "customer_id"), "c-17");
    assert_string_equal(value_of(aws, rec, "device"), "mobile");
    assert_string_equal(value_of(aws, rec, "year"), "2023");
    assert_string_equal(value_of("{k:\"\\(.a)/\\(.b)\"}", rec, "k"), "x-y/7");
    assert_string_equal(value_of("{k:[.a,.b|tostring]|join(\"_\")}", rec, "k"), "x-y_7");
    assert_string_equal(value_of("{k:.a|split(\"-\")|.[1]}", rec, "k"), "y");
    assert_string_equal(value_of("{k:(.missing // \"none\")}", rec, "k"), "none");
    assert_string_equal(value_of("{customer_id}", rec, "customer_id"), "c-17");
    assert_string_equal(value_of("{\"a b\": (.b / 2 | floor)}", rec, "a b"), "3");
    assert_string_equal(value_of("{k: (if .b == 7 then \"seven\" else \"other\" end)}", rec, "k"),
                        "seven");
    assert_string_equal(value_of("{k:.a|ascii_upcase} # a comment with def and *", rec, "k"),
                        "X-Y");
    assert_string_equal(value_of("{k:\"def * range ..\"}", rec, "k"), "def * range ..");
    /* Only the first output counts. */
    assert_string_equal(value_of("{k:(.a,.b)}", rec, "k"), "x-y");
}

static void object_commas_are_not_generators(void **state)
{
    (void)state;
    char query[1024] = "{";
    for (int i = 0; i < 40; i++) {
        char part[32];
        snprintf(part, sizeof(part), "%sk%d:.v", i ? "," : "", i);
        strcat(query, part);
    }
    strcat(query, "}");
    assert_string_equal(value_of(query, "{\"v\":1}", "k39"), "1");
}

static void records_that_fail_say_why(void **state)
{
    (void)state;
    const char *q = "{id:.id}";
    fails(q, "{\"other\":1}", 11, JQ_FAIL_VALUE, "'id' is null");
    fails(q, "{\"id\":null}", 11, JQ_FAIL_VALUE, "'id'");
    fails(q, "{\"id\":{\"x\":1}}", 14, JQ_FAIL_VALUE, "an object");
    fails(q, "{\"id\":[1]}", 10, JQ_FAIL_VALUE, "an array");
    fails(q, "not json", 8, JQ_FAIL_INPUT, "not valid JSON");
    fails(q, "{\"id\":1", 7, JQ_FAIL_INPUT, "not valid JSON");
    fails(q, "{\"id\":1} x", 10, JQ_FAIL_INPUT, "not valid JSON");
    fails(q, "", 0, JQ_FAIL_INPUT, "not valid JSON");
    /* jq 1.6 leaked a string parsing this one (the ASan build's leak check catches it). */
    const char *leaky = "{\"a\":\";x\",\"b.:\"\"./y\"}";
    fails(q, leaky, strlen(leaky), JQ_FAIL_INPUT, "not valid JSON");
    fails(q, "[1,2]", 5, JQ_FAIL_QUERY, "Cannot index array");
    fails("{id:.a.b}", "{\"a\":\"s\"}", 9, JQ_FAIL_QUERY, "Cannot index string");
    fails("{id:error(\"boom\")}", "{}", 2, JQ_FAIL_QUERY, "boom");
    fails("{id:error({x:1})}", "{}", 2, JQ_FAIL_QUERY, "not a string");
    fails("empty", "{}", 2, JQ_FAIL_NO_OUTPUT, "no value");
    fails("select(.x == 1)", "{}", 2, JQ_FAIL_NO_OUTPUT, "no value");
    fails(".id", "{\"id\":\"a\"}", 10, JQ_FAIL_NOT_OBJECT, "string, not an object");
    fails("[.id]", "{\"id\":\"a\"}", 10, JQ_FAIL_NOT_OBJECT, "array");
    fails("{}", "{}", 2, JQ_FAIL_KEYS, "without keys");
    char big[1100];
    snprintf(big, sizeof(big), "{v:\"%01030d\"}", 0);
    fails(big, "{}", 2, JQ_FAIL_VALUE, "longer than 1024");
}

static void more_than_fifty_keys_fail(void **state)
{
    (void)state;
    char query[1024] = "{";
    for (int i = 0; i < 51; i++) {
        char part[32];
        snprintf(part, sizeof(part), "%sk%d:1", i ? "," : "", i);
        strcat(query, part);
    }
    strcat(query, "}");
    fails(query, "{}", 2, JQ_FAIL_KEYS, "more than 50");
    query[strlen(query) - strlen(",k50:1}")] = '\0';
    strcat(query, "}");
    assert_string_equal(value_of(query, "{}", "k49"), "1");
}

static void records_over_the_firehose_limit_are_refused_unread(void **state)
{
    (void)state;
    size_t len = JQ_INPUT_MAX_LEN + 1;
    char *rec = malloc(len);
    assert_non_null(rec);
    memset(rec, ' ', len);
    rec[0] = '{';
    rec[len - 1] = '}';
    fails("{id:1}", rec, len, JQ_FAIL_INPUT, "too large");
    free(rec);
}

static void unbounded_and_outside_reaching_queries_are_refused(void **state)
{
    (void)state;
    refused("def f: f; {k:f}", "'def' is not allowed");
    refused("{k:reduce .[] as $x (0; . + $x)}", "'reduce'");
    refused("{k:foreach .[] as $x (0; 1)}", "'foreach'");
    refused("{k:label $out | 1}", "'label'");
    refused("import \"a\" as a; {k:1}", "'import'");
    refused("include \"a\"; {k:1}", "'include'");
    refused("{k:[range(1e9)]|length}", "'range' is not allowed");
    refused("{k:[recurse]|length}", "'recurse'");
    refused("{k:[repeat(1)]|length}", "'repeat'");
    refused("{k:[limit(5; repeat(1))]}", "'limit'");
    refused("{k:until(false; .)}", "'until'");
    refused("{k:[while(true; .)]}", "'while'");
    refused("{k:[paths]|length}", "'paths'");
    refused("{k:walk(.)}", "'walk'");
    refused("{k:[..]|length}", "recursive descent");
    refused("{k:$ENV.HOME}", "$ENV");
    refused("{k:env.HOME}", "'env'");
    refused("{k:$__loc__.line}", "$__");
    refused("{k:$ ENV.HOME}", "$ENV");
    refused("{k:$ # a comment\n ENV.HOME}", "$ENV");
    refused("{k:[. range(3)]}", "'range'");
    refused("{k:input}", "'input'");
    refused("{k:[inputs]}", "'inputs'");
    refused("{k:.a|debug}", "'debug'");
    refused("{k:.a|stderr}", "'stderr'");
    refused("{k:halt_error}", "'halt_error'");
    refused("{k:input_filename}", "'input_filename'");
    refused("{k:a::b}", "modules");
    refused("{k:.a|test(\"(a+)+$\")}", "'test'");
    refused("{k:.a|sub(\"a\";\"b\")}", "'sub'");
    refused("{k:.a|split(\"a\"; \"g\")}", "split/2");
    refused("{k:\"a\" * 1e12}", "the * operator");
    refused("{k:.a |= 1}", "assignment");
    refused("{k:.a += 1}", "assignment");
    refused("{k:.a //= 1}", "assignment");
    refused(".a = 1", "assignment");
    refused("{k:(.a?//$x|1)}", "?//");
    refused("{k:(1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18)}", "more than 16 generators");
    refused("{k:[.[][][][][][][][][][][][][][][][][]]}", "more than 16 generators");
    refused("{k:.a|[.[]|map(.)|map(.)|map(.)|map(.)|map(.)|map(.)|map(.)|map(.)|map(.)|"
            "map(.)|map(.)|map(.)|map(.)|map(.)|map(.)|map(.)]}",
            "more than 16 generators");
    refused("{k:\"\\(range(10))\"}", "'range'"); /* inside a string interpolation */
    refused("{k:(((.a)}", "unbalanced");
    refused("{k:.a]", "unbalanced");
    refused("{k:\"\\(.a)/\\(.{k:.a}", "unbalanced");
}

static void invalid_text_is_refused_with_jq_message(void **state)
{
    (void)state;
    refused("{k:}", "not valid jq");
    refused("{k:.a | nosuchthing", "not allowed");
    refused("{k:not_defined_anywhere}", "not allowed");
    refused("{k:\"unclosed}", "a string is not closed");
    refused("{k:\"a\\\"}", "a string is not closed");
    refused("{k:\"\\(.a)", "a string is not closed");
    refused("{k:\"a\" \"b\"}", "not valid jq");
    refused("{k:.a | length(1)}", "not valid jq"); /* allowed name, wrong arity */
    refused("", "1 to 5120");
    char *long_query = malloc(JQ_QUERY_MAX_LEN + 2);
    assert_non_null(long_query);
    memset(long_query, ' ', JQ_QUERY_MAX_LEN + 1);
    long_query[JQ_QUERY_MAX_LEN + 1] = '\0';
    refused(long_query, "1 to 5120");
    free(long_query);
    struct jq_query *q = NULL;
    struct err_info err = {0};
    assert_int_equal(jq_query_compile("{k:1}\0x", 8, &q, &err), SL_E(INVALID_ARGUMENT));
    assert_non_null(strstr(err.message, "NUL"));
}

static void one_query_serves_many_records(void **state)
{
    (void)state;
    struct jq_query *q = compile_ok("{id:.id}");
    for (int i = 0; i < 200; i++) {
        char rec[64];
        int n = i % 3 == 0 ? snprintf(rec, sizeof(rec), "{\"id\":%d}", i)
                           : snprintf(rec, sizeof(rec), "{\"x\":%d}", i);
        struct jq_result res;
        struct err_info err = {0};
        int rc = jq_query_eval(q, rec, (size_t)n, &res, &err);
        if (i % 3 == 0) {
            assert_int_equal(rc, 0);
            char want[16];
            snprintf(want, sizeof(want), "%d", i);
            assert_string_equal(res.kv[0].value, want);
        } else {
            assert_int_equal(rc, SL_E(INVALID_INPUT));
        }
        jq_result_fini(&res);
    }
    jq_query_destroy(q);
    jq_query_destroy(NULL);
}

static void allocation_failures_are_ours_not_the_records(void **state)
{
    (void)state;
    struct jq_query *q = compile_ok("{a:.a, b:.b}");
    struct jq_result res;
    struct err_info err = {0};
    jq_fail_after(1);
    assert_int_equal(jq_query_eval(q, "{\"a\":1,\"b\":2}", 13, &res, &err), SL_E(NOMEM));
    assert_int_equal(res.fail, JQ_FAIL_NONE);
    jq_result_fini(&res);
    for (unsigned long n = 1; n <= 4; n++) {
        mem_fail_after(n);
        int rc = jq_query_eval(q, "{\"a\":1,\"b\":2}", 13, &res, &err);
        mem_fail_after(0);
        assert_true(rc == SL_E(NOMEM) || rc == 0);
        if (rc == SL_E(NOMEM)) {
            assert_int_equal(res.n_kv, 0);
        } else {
            assert_int_equal(res.n_kv, 2);
        }
        jq_result_fini(&res);
    }
    assert_int_equal(jq_query_eval(q, "{\"a\":1,\"b\":2}", 13, &res, &err), 0);
    assert_string_equal(jq_result_get(&res, "b", 1)->value, "2");
    assert_null(jq_result_get(&res, "c", 1));
    jq_result_fini(&res);
    jq_result_fini(&res);
    jq_query_destroy(q);
}

/* Each thread compiles its own query; they run at once (libjq shares no jq_state). */
static void *eval_many(void *arg)
{
    int base = *(int *)arg;
    struct jq_query *q = NULL;
    struct err_info err = {0};
    const char *text = "{n:.n, s:(.n|tostring|ascii_downcase), f:(.n / 4)}";
    if (jq_query_compile(text, strlen(text), &q, &err) != 0) {
        return (void *)1;
    }
    void *bad = NULL;
    for (int i = 0; i < 2000 && bad == NULL; i++) {
        char rec[64], want[32];
        int n = snprintf(rec, sizeof(rec), "{\"n\":%d}", base + i);
        snprintf(want, sizeof(want), "%.17g", (base + i) / 4.0);
        struct jq_result res;
        if (jq_query_eval(q, rec, (size_t)n, &res, &err) != 0 ||
            strcmp(jq_result_get(&res, "f", 1)->value, want) != 0) {
            bad = (void *)1;
        }
        jq_result_fini(&res);
    }
    jq_query_destroy(q);
    return bad;
}

static void queries_in_separate_threads_run_at_once(void **state)
{
    (void)state;
    pthread_t t[3];
    int bases[3] = {0, 100000, 7777777};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, eval_many, &bases[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        void *ret = (void *)1;
        assert_int_equal(pthread_join(t[i], &ret), 0);
        assert_null(ret);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(values_render_as_firehose_puts_them_in_a_prefix),
        cmocka_unit_test(queries_of_the_aws_documentation_run),
        cmocka_unit_test(object_commas_are_not_generators),
        cmocka_unit_test(records_that_fail_say_why),
        cmocka_unit_test(more_than_fifty_keys_fail),
        cmocka_unit_test(records_over_the_firehose_limit_are_refused_unread),
        cmocka_unit_test(unbounded_and_outside_reaching_queries_are_refused),
        cmocka_unit_test(invalid_text_is_refused_with_jq_message),
        cmocka_unit_test(one_query_serves_many_records),
        cmocka_unit_test(allocation_failures_are_ours_not_the_records),
        cmocka_unit_test(queries_in_separate_threads_run_at_once),
    };
    return cmocka_run_group_tests_name("jq", tests, NULL, NULL);
}
