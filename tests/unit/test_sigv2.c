/*
 * Tests of S3's presigned URLs with Signature Version 2 (src/http/sigv2.h): AWS's
 * documented example, expiry, and tampering with every part the signature covers
 * (method, path, x-amz-* headers, sub-resources, whose names and values are read by the
 * one query rule of core/text.h), while parameters outside the signature stay free.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/base64.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/mem.h"
#include "http/sigv2.h"

#define DOC_KEY "AKIAIOSFODNN7EXAMPLE"
#define DOC_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define DOC_EXPIRES 1175139620LL
#define BEFORE_MS ((DOC_EXPIRES - 60) * 1000)

/* Percent-encodes s as botocore does for a query value (unreserved kept). */
static void pct_encode(struct buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            buf_putc(b, (char)*p);
        } else {
            buf_printf(b, "%%%02X", *p);
        }
    }
}

/* The query of a URL presigned for string_to_sign, extra (already encoded) first. */
static char *presign(const char *string_to_sign, const char *extra, long long expires)
{
    uint8_t mac[SHA1_LEN];
    crypto_hmac_sha1(DOC_SECRET, strlen(DOC_SECRET), string_to_sign, strlen(string_to_sign), mac);
    char sig[BASE64_ENCODED_LEN(SHA1_LEN) + 1];
    sig[base64_encode(mac, SHA1_LEN, sig)] = '\0';
    struct buf q;
    buf_init(&q);
    if (extra != NULL) {
        buf_printf(&q, "%s&", extra);
    }
    buf_printf(&q, "AWSAccessKeyId=%s&Expires=%lld&Signature=", DOC_KEY, expires);
    pct_encode(&q, sig);
    return (char *)buf_steal(&q, NULL);
}

/* Parses and verifies; returns the code. */
static int check(const char *method, const char *path, const char *query,
                 const struct sigv4_header *h, size_t n_h, int64_t now_ms)
{
    struct sigv2_query v2;
    struct err_info err;
    err_clear(&err);
    int rc = sigv2_parse(query, &v2, &err);
    if (rc == 0) {
        rc = sigv2_verify(method, NULL, path, query, h, n_h, &v2, DOC_SECRET, now_ms, &err);
    }
    return rc;
}

static void test_aws_documented_example_verifies(void **state)
{
    (void)state;
    /* AWS's "Query string request authentication" example for johnsmith's puppy.jpg */
    const char *query = "AWSAccessKeyId=" DOC_KEY "&Expires=1175139620&"
                        "Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D";
    assert_true(sigv2_query_present(query));
    struct sigv2_query v2;
    struct err_info err;
    err_clear(&err);
    assert_int_equal(sigv2_parse(query, &v2, &err), 0);
    assert_string_equal(v2.access_key_id, DOC_KEY);
    assert_string_equal(v2.signature, "NpgCjnDzrM+WFzoENXmpNDUsSn8=");
    assert_int_equal(v2.expires_s, DOC_EXPIRES);
    assert_int_equal(check("GET", "/johnsmith/photos/puppy.jpg", query, NULL, 0, BEFORE_MS), 0);
}

static void test_expired_url_is_refused(void **state)
{
    (void)state;
    char *query = presign("GET\n\n\n1175139620\n/b/k", NULL, DOC_EXPIRES);
    assert_int_equal(check("GET", "/b/k", query, NULL, 0, DOC_EXPIRES * 1000), 0);
    assert_int_equal(check("GET", "/b/k", query, NULL, 0, (DOC_EXPIRES + 1) * 1000),
                     SL_E(AUTH_EXPIRED));
    free(query);
}

static void test_method_path_and_headers_are_signed(void **state)
{
    (void)state;
    char *query = presign("GET\n\n\n1175139620\nx-amz-meta-a:1\n/b/k", NULL, DOC_EXPIRES);
    struct sigv4_header h[2] = {{"Host", "localhost"}, {"X-Amz-Meta-A", "1"}};
    assert_int_equal(check("GET", "/b/k", query, h, 2, BEFORE_MS), 0);
    assert_int_equal(check("PUT", "/b/k", query, h, 2, BEFORE_MS), SL_E(AUTH_BAD_SIGNATURE));
    assert_int_equal(check("GET", "/b/other", query, h, 2, BEFORE_MS), SL_E(AUTH_BAD_SIGNATURE));
    assert_int_equal(check("GET", "/b/k", query, h, 1, BEFORE_MS), SL_E(AUTH_BAD_SIGNATURE));
    struct sigv4_header changed[2] = {{"Host", "localhost"}, {"x-amz-meta-a", "2"}};
    assert_int_equal(check("GET", "/b/k", query, changed, 2, BEFORE_MS), SL_E(AUTH_BAD_SIGNATURE));
    free(query);
}

static void test_subresources_are_signed_and_other_parameters_are_not(void **state)
{
    (void)state;
    /* botocore signs the sub-resources of interest, sorted by name, values decoded */
    const char *sts = "GET\n\n\n1175139620\n/b/k?response-content-type=text/plain&versionId=v1";
    char *query = presign(sts, "versionId=v1&response-content-type=text%2Fplain", DOC_EXPIRES);
    assert_int_equal(check("GET", "/b/k", query, NULL, 0, BEFORE_MS), 0);

    /* a parameter that is no sub-resource is outside a SigV2 signature */
    char *more = xasprintf("prefix=x&%s", query);
    assert_int_equal(check("GET", "/b/k", more, NULL, 0, BEFORE_MS), 0);
    free(more);

    /* changing a signed value, or adding a sub-resource, breaks it */
    char *changed = xasprintf("%s", query);
    memcpy(strstr(changed, "versionId=v1"), "versionId=v2", 12);
    assert_int_equal(check("GET", "/b/k", changed, NULL, 0, BEFORE_MS), SL_E(AUTH_BAD_SIGNATURE));
    free(changed);
    char *added = xasprintf("acl&%s", query);
    assert_int_equal(check("GET", "/b/k", added, NULL, 0, BEFORE_MS), SL_E(AUTH_BAD_SIGNATURE));
    free(added);

    /* a sub-resource hidden behind an encoded name is still one: the operation decodes
       names, so the signature does too */
    char *hidden = xasprintf("%%72esponse-content-type=text/html&%s", query);
    assert_int_equal(check("GET", "/b/k", hidden, NULL, 0, BEFORE_MS), SL_E(AUTH_BAD_SIGNATURE));
    free(hidden);
    free(query);
}

static void test_plus_in_a_subresource_value_is_a_space(void **state)
{
    (void)state;
    const char *sts = "GET\n\n\n1175139620\n/b/k?response-content-disposition=a b";
    char *encoded = presign(sts, "response-content-disposition=a%20b", DOC_EXPIRES);
    assert_int_equal(check("GET", "/b/k", encoded, NULL, 0, BEFORE_MS), 0);
    /* "+" means the same space: same request, same signature */
    char *plus = presign(sts, "response-content-disposition=a+b", DOC_EXPIRES);
    assert_int_equal(check("GET", "/b/k", plus, NULL, 0, BEFORE_MS), 0);
    /* "%2B" is a '+', which was not signed */
    char *literal = presign(sts, "response-content-disposition=a%2Bb", DOC_EXPIRES);
    assert_int_equal(check("GET", "/b/k", literal, NULL, 0, BEFORE_MS), SL_E(AUTH_BAD_SIGNATURE));
    free(encoded);
    free(plus);
    free(literal);
}

static void test_tampered_or_missing_parameters_are_refused(void **state)
{
    (void)state;
    char *query = presign("GET\n\n\n1175139620\n/b/k", NULL, DOC_EXPIRES);
    /* a later Expires is a different string to sign */
    char *later = xasprintf("%s", query);
    memcpy(strstr(later, "Expires=1175139620"), "Expires=1175139629", 18);
    assert_int_equal(check("GET", "/b/k", later, NULL, 0, BEFORE_MS), SL_E(AUTH_BAD_SIGNATURE));
    free(later);
    /* another signature */
    char *bad = xasprintf("%s", query);
    char *sig = strstr(bad, "Signature=") + 10;
    sig[0] = sig[0] == 'A' ? 'B' : 'A';
    assert_int_equal(check("GET", "/b/k", bad, NULL, 0, BEFORE_MS), SL_E(AUTH_BAD_SIGNATURE));
    free(bad);
    free(query);

    assert_false(sigv2_query_present("AWSAccessKeyId=" DOC_KEY "&Expires=1"));
    assert_false(sigv2_query_present("Signature=x&Expires=1"));
    assert_int_equal(
        check("GET", "/b/k", "AWSAccessKeyId=" DOC_KEY "&Signature=x", NULL, 0, BEFORE_MS),
        SL_E(AUTH_MALFORMED));
    assert_int_equal(check("GET", "/b/k", "AWSAccessKeyId=" DOC_KEY "&Signature=x&Expires=soon",
                           NULL, 0, BEFORE_MS),
                     SL_E(AUTH_MALFORMED));
}

static void test_allocation_failure_is_reported(void **state)
{
    (void)state;
    char *query = presign("GET\n\n\n1175139620\n/b/k?acl", "acl", DOC_EXPIRES);
    struct sigv4_header h[1] = {{"x-amz-meta-a", "1"}};
    int n_nomem = 0;
    for (unsigned long n = 1; n < 100; n++) {
        mem_fail_after(n);
        struct sigv2_query v2;
        struct err_info err;
        err_clear(&err);
        int rc = sigv2_parse(query, &v2, &err);
        if (rc == 0) {
            rc = sigv2_verify("GET", NULL, "/b/k", query, h, 1, &v2, DOC_SECRET, BEFORE_MS, &err);
        }
        mem_fail_after(0);
        if (rc == SL_E(NOMEM)) {
            n_nomem++;
        } else {
            /* past the failing allocation: the answer it should be (the header was not
               signed) */
            assert_int_equal(rc, SL_E(AUTH_BAD_SIGNATURE));
            break;
        }
    }
    assert_true(n_nomem >= 3);
    free(query);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aws_documented_example_verifies),
        cmocka_unit_test(test_expired_url_is_refused),
        cmocka_unit_test(test_method_path_and_headers_are_signed),
        cmocka_unit_test(test_subresources_are_signed_and_other_parameters_are_not),
        cmocka_unit_test(test_plus_in_a_subresource_value_is_a_space),
        cmocka_unit_test(test_tampered_or_missing_parameters_are_refused),
        cmocka_unit_test(test_allocation_failure_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
