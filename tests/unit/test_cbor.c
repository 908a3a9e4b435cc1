/*
 * Tests of the CBOR codec (src/core/cbor.c): every major type decoded from bytes
 * written out by hand from RFC 8949's examples, definite and indefinite lengths, the
 * three float widths, tags, the limits, malformed input of every kind, and encoding
 * with blobs as byte strings and timestamps as tag 1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/cbor.h"

/* Decodes the hex string; returns the code, *out the value or NULL. */
static int decode_hex(const char *hex, json_t **out, struct err_info *err)
{
    size_t n = strlen(hex) / 2;
    uint8_t *bytes = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        bytes[i] = (uint8_t)v;
    }
    int rc = cbor_decode(bytes, n, NULL, out, err);
    free(bytes);
    return rc;
}

/* The JSON text of the value hex decodes to (static buffer). */
static const char *as_json(const char *hex)
{
    static char text[4096];
    json_t *v;
    struct err_info err;
    err_clear(&err);
    int rc = decode_hex(hex, &v, &err);
    if (rc < 0) {
        snprintf(text, sizeof(text), "ERROR %s", err.message);
        return text;
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    snprintf(text, sizeof(text), "%s", s);
    free(s);
    json_decref(v);
    return text;
}

static void expect_malformed(const char *hex, const char *why)
{
    json_t *v = NULL;
    struct err_info err;
    err_clear(&err);
    assert_int_equal(decode_hex(hex, &v, &err), SL_E(SERIALIZATION));
    assert_null(v);
    if (strstr(err.message, why) == NULL) {
        fail_msg("%s: '%s' does not say '%s'", hex, err.message, why);
    }
}

static void test_unsigned_and_negative_integers(void **state)
{
    (void)state;
    assert_string_equal(as_json("00"), "0");
    assert_string_equal(as_json("17"), "23");
    assert_string_equal(as_json("1818"), "24");
    assert_string_equal(as_json("1903e8"), "1000");
    assert_string_equal(as_json("1a000f4240"), "1000000");
    assert_string_equal(as_json("1b000000e8d4a51000"), "1000000000000");
    assert_string_equal(as_json("1b7fffffffffffffff"), "9223372036854775807");
    assert_string_equal(as_json("20"), "-1");
    assert_string_equal(as_json("3863"), "-100");
    assert_string_equal(as_json("3903e7"), "-1000");
    assert_string_equal(as_json("3b7fffffffffffffff"), "-9223372036854775808");
    /* beyond int64: a real, as JSON would read such a number */
    assert_string_equal(as_json("1bffffffffffffffff"), "1.8446744073709552e19");
}

static void test_byte_strings_become_base64_and_text_stays_text(void **state)
{
    (void)state;
    assert_string_equal(as_json("40"), "\"\"");
    assert_string_equal(as_json("4401020304"), "\"AQIDBA==\"");
    assert_string_equal(as_json("60"), "\"\"");
    assert_string_equal(as_json("6161"), "\"a\"");
    assert_string_equal(as_json("6449455446"), "\"IETF\"");
    assert_string_equal(as_json("62c3bc"), "\"\xc3\xbc\"");
    assert_string_equal(as_json("6461006263"), "\"a\\u0000bc\""); /* a NUL is kept */
    /* indefinite: chunks of the same type, joined */
    assert_string_equal(as_json("5f42010243030405ff"), "\"AQIDBAU=\"");
    assert_string_equal(as_json("7f657374726561646d696e67ff"), "\"streaming\"");
    assert_string_equal(as_json("7fff"), "\"\"");
}

static void test_arrays_and_maps_definite_and_indefinite(void **state)
{
    (void)state;
    assert_string_equal(as_json("80"), "[]");
    assert_string_equal(as_json("83010203"), "[1,2,3]");
    assert_string_equal(as_json("8301820203820405"), "[1,[2,3],[4,5]]");
    assert_string_equal(as_json("9fff"), "[]");
    assert_string_equal(as_json("9f018202039f0405ffff"), "[1,[2,3],[4,5]]");
    assert_string_equal(as_json("a0"), "{}");
    assert_string_equal(as_json("a26161016162820203"), "{\"a\":1,\"b\":[2,3]}");
    assert_string_equal(as_json("bf61610161629f0203ffff"), "{\"a\":1,\"b\":[2,3]}");
    /* an indefinite text string as a key */
    assert_string_equal(as_json("bf7f6161ff01ff"), "{\"a\":1}");
}

static void test_floats_of_three_widths_and_simple_values(void **state)
{
    (void)state;
    assert_string_equal(as_json("f90000"), "0.0");
    assert_string_equal(as_json("f93c00"), "1.0");
    assert_string_equal(as_json("f93e00"), "1.5");
    assert_string_equal(as_json("f97bff"), "65504.0");
    assert_string_equal(as_json("f90001"), "5.9604644775390625e-8"); /* subnormal */
    assert_string_equal(as_json("f9c400"), "-4.0");
    assert_string_equal(as_json("fa47c35000"), "100000.0");
    assert_string_equal(as_json("fb3ff199999999999a"), "1.1000000000000001");
    assert_string_equal(as_json("f4"), "false");
    assert_string_equal(as_json("f5"), "true");
    assert_string_equal(as_json("f6"), "null");
    assert_string_equal(as_json("f7"), "null"); /* undefined */
}

static void test_tags_epoch_and_others(void **state)
{
    (void)state;
    assert_string_equal(as_json("c11a514b67b0"), "1363896240.0");
    assert_string_equal(as_json("c1fb41d452d9ec200000"), "1363896240.5");
    /* a tag Sluice has no use for is read through */
    assert_string_equal(as_json("d82076687474703a2f2f7777772e6578616d706c652e636f6d"),
                        "\"http://www.example.com\"");
    /* the AWS SDK for Java's milliseconds, with the scale the protocol sets */
    static const uint8_t ms[] = {0xc1, 0x1b, 0x00, 0x00, 0x01, 0x8c, 0x2a, 0x8e, 0x3e, 0xa8};
    struct cbor_decode_opts opts = {.epoch_scale = 0.001};
    json_t *v;
    assert_int_equal(cbor_decode(ms, sizeof(ms), &opts, &v, NULL), 0);
    assert_true(json_is_real(v));
    assert_true(json_real_value(v) > 1700000000.0 && json_real_value(v) < 1800000000.0);
    json_decref(v);
    expect_malformed("c16161", "tag 1");
    expect_malformed("c249010000000000000000", "bignum");
    expect_malformed("c349010000000000000000", "bignum");
}

static void test_malformed_input_is_refused(void **state)
{
    (void)state;
    expect_malformed("", "end of input");
    expect_malformed("18", "end of input");
    expect_malformed("1a0001", "end of input");
    expect_malformed("62c3", "longer than the input");
    expect_malformed("5a7fffffff00", "longer than the input");
    expect_malformed("9b00000000ffffffff00", "longer than the input");
    expect_malformed("bb00000000ffffffff00", "longer than the input");
    expect_malformed("8301", "longer than the input");
    expect_malformed("820118", "end of input");
    expect_malformed("9f01", "end of input");
    expect_malformed("bf6161", "end of input");
    expect_malformed("0000", "bytes after");
    expect_malformed("ff", "break");
    expect_malformed("1c", "reserved");
    expect_malformed("1f", "indefinite length");
    expect_malformed("3f", "indefinite length");
    expect_malformed("df", "indefinite length");
    expect_malformed("5f6161ff", "chunk");
    expect_malformed("7f4161ff", "chunk");
    expect_malformed("7f7f6161ffff", "chunk");
    expect_malformed("62c328", "UTF-8");
    expect_malformed("a10101", "key");
    expect_malformed("a1416101", "key");
    expect_malformed("a2616101616102", "twice");
    expect_malformed("f0", "simple");
    expect_malformed("f820", "simple");
    expect_malformed("f97c00", "infinite"); /* half +Inf */
    expect_malformed("f97e00", "NaN");      /* half NaN */
    expect_malformed("fa7f800000", "infinite");
    expect_malformed("fb7ff8000000000000", "NaN");
}

static void test_depth_is_bounded(void **state)
{
    (void)state;
    /* 64 nested arrays are fine, 65 are not; neither is a long run of tags */
    char hex[400];
    for (int depth = 64; depth <= 65; depth++) {
        size_t o = 0;
        for (int i = 0; i < depth; i++) {
            o += (size_t)snprintf(hex + o, sizeof(hex) - o, "81");
        }
        snprintf(hex + o, sizeof(hex) - o, "00");
        json_t *v = NULL;
        struct err_info err;
        int rc = decode_hex(hex, &v, &err);
        assert_int_equal(rc, depth == 64 ? 0 : SL_E(SERIALIZATION));
        json_decref(v);
    }
    char tags[300] = "";
    for (int i = 0; i < 100; i++) {
        strcat(tags, "c0");
    }
    strcat(tags, "00");
    expect_malformed(tags, "deeply");
    /* a smaller limit given by the caller */
    static const uint8_t three[] = {0x81, 0x81, 0x81, 0x00};
    struct cbor_decode_opts opts = {.max_depth = 2};
    json_t *v;
    assert_int_equal(cbor_decode(three, sizeof(three), &opts, &v, NULL), SL_E(SERIALIZATION));
}

static void test_huge_claimed_lengths_allocate_nothing_large(void **state)
{
    (void)state;
    /* Lengths of 2^64-1 in five bytes: refused before any allocation of that size. */
    expect_malformed("5bffffffffffffffff", "longer than the input");
    expect_malformed("7bffffffffffffffff", "longer than the input");
    expect_malformed("9bffffffffffffffff", "longer than the input");
    expect_malformed("bbffffffffffffffff", "longer than the input");
    expect_malformed("5f5bffffffffffffffffff", "longer than the input");
}

/* The hex of the encoding of v. */
static const char *encode_hex(json_t *v, const struct cbor_encode_opts *opts)
{
    static char hex[4096];
    struct buf b;
    buf_init(&b);
    assert_int_equal(cbor_encode(v, opts, &b), 0);
    size_t o = 0;
    for (size_t i = 0; i < b.len && o + 3 < sizeof(hex); i++) {
        o += (size_t)snprintf(hex + o, sizeof(hex) - o, "%02x", b.data[i]);
    }
    hex[o] = '\0';
    buf_fini(&b);
    return hex;
}

static void test_encoding_every_type(void **state)
{
    (void)state;
    json_t *v = json_pack("[i,i,i,i,i,i,s,b,b,n,f]", 0, 23, 24, 1000, -1, -1000, "IETF", 1, 0, 1.5);
    assert_string_equal(encode_hex(v, NULL),
                        "8b001718181903e8203903e76449455446f5f4f6fb3ff8000000000000");
    json_decref(v);
    v = json_pack("{s:I}", "a", (json_int_t)5000000000LL);
    assert_string_equal(encode_hex(v, NULL), "a16161"
                                             "1b000000012a05f200");
    json_decref(v);
    v = json_pack("{s:I}", "n", (json_int_t)INT64_MIN);
    assert_string_equal(encode_hex(v, NULL), "a1616e"
                                             "3b7fffffffffffffff");
    json_decref(v);
}

static void test_encoding_blobs_and_epochs_by_member(void **state)
{
    (void)state;
    static const char *const blobs[] = {"Data", NULL};
    static const char *const epochs[] = {"At", NULL};
    struct cbor_encode_opts opts = {
        .blob_members = blobs, .epoch_members = epochs, .epoch_scale = 1000.0};
    json_t *v =
        json_pack("{s:[{s:s,s:f,s:s}]}", "Records", "Data", "AQID", "At", 1.5, "Key", "AQID");
    /* {"Records":[{"Data":h'010203',"At":1(1500),"Key":"AQID"}]} */
    assert_string_equal(encode_hex(v, &opts), "a1675265636f72647381a3644461746143010203"
                                              "624174c11905dc634b65796441514944");
    json_decref(v);
}

static void test_round_trip_keeps_the_document(void **state)
{
    (void)state;
    static const char *const blobs[] = {"Data", NULL};
    struct cbor_encode_opts opts = {.blob_members = blobs};
    json_t *v = json_pack("{s:s,s:[i,f,b,n],s:{s:s},s:s}", "Data", "AAECAwQF", "List", -7, 2.25, 1,
                          "Map", "k", "v\xc3\xbc", "Text", "plain");
    struct buf b;
    buf_init(&b);
    assert_int_equal(cbor_encode(v, &opts, &b), 0);
    json_t *back;
    assert_int_equal(cbor_decode(b.data, b.len, NULL, &back, NULL), 0);
    assert_true(json_equal(v, back));
    json_decref(back);
    json_decref(v);
    buf_fini(&b);
    /* a blob member that is not base64 stays text */
    v = json_pack("{s:s}", "Data", "not base64!");
    assert_string_equal(encode_hex(v, &opts), "a164446174616b6e6f742062617365363421");
    json_decref(v);
}

static void test_json_text_is_compact_json(void **state)
{
    (void)state;
    json_t *v = json_pack("{s:[i,f,f,b,b,n],s:s#,s:{}}", "a", -7, 2.0, 0.1, 1, 0, "s",
                          "q\"\\\n\x01\0z", (size_t)7, "o");
    struct buf b;
    buf_init(&b);
    assert_int_equal(cbor_json_text(v, &b), 0);
    assert_string_equal((const char *)b.data, "{\"a\":[-7,2.0,0.10000000000000001,true,false,null],"
                                              "\"s\":\"q\\\"\\\\\\n\\u0001\\u0000z\",\"o\":{}}");
    /* jansson reads it back to the same document */
    json_error_t jerr;
    json_t *back = json_loadb((const char *)b.data, b.len, JSON_ALLOW_NUL, &jerr);
    assert_non_null(back);
    assert_true(json_equal(v, back));
    json_decref(back);
    json_decref(v);
    buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unsigned_and_negative_integers),
        cmocka_unit_test(test_byte_strings_become_base64_and_text_stays_text),
        cmocka_unit_test(test_arrays_and_maps_definite_and_indefinite),
        cmocka_unit_test(test_floats_of_three_widths_and_simple_values),
        cmocka_unit_test(test_tags_epoch_and_others),
        cmocka_unit_test(test_malformed_input_is_refused),
        cmocka_unit_test(test_depth_is_bounded),
        cmocka_unit_test(test_huge_claimed_lengths_allocate_nothing_large),
        cmocka_unit_test(test_encoding_every_type),
        cmocka_unit_test(test_encoding_blobs_and_epochs_by_member),
        cmocka_unit_test(test_round_trip_keeps_the_document),
        cmocka_unit_test(test_json_text_is_compact_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
