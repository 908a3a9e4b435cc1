/* Unit tests of the multipart/form-data reader behind S3's POST Object. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/mem.h"
#include "lake/s3_int.h"

static int parse(const char *body, size_t len, const char *boundary, struct s3_form *f)
{
    struct err_info err;
    err_clear(&err);
    int rc = s3__form_parse((const uint8_t *)body, len, boundary, f, &err);
    assert_int_equal(err.code, rc);
    return rc;
}

static void test_boundary_from_content_type(void **state)
{
    (void)state;
    char b[80];
    assert_int_equal(s3__form_boundary("multipart/form-data; boundary=abc", b, sizeof(b)), 0);
    assert_string_equal(b, "abc");
    assert_int_equal(
        s3__form_boundary("Multipart/Form-Data; charset=x; boundary=\"a b;c\"", b, sizeof(b)), 0);
    assert_string_equal(b, "a b;c");
    assert_int_equal(s3__form_boundary("multipart/mixed; boundary=abc", b, sizeof(b)), -1);
    assert_int_equal(s3__form_boundary("multipart/form-data", b, sizeof(b)), -1);
    assert_int_equal(s3__form_boundary("multipart/form-data; boundary=", b, sizeof(b)), -1);
    char longb[120] = "multipart/form-data; boundary=";
    memset(longb + strlen(longb), 'x', 71);
    assert_int_equal(s3__form_boundary(longb, b, sizeof(b)), -1);
}

static void test_fields_then_file_and_nothing_after(void **state)
{
    (void)state;
    static const char body[] =
        "--B\r\n"
        "Content-Disposition: form-data; name=\"Key\"\r\n\r\n"
        "a/${filename}\r\n"
        "--B\r\n"
        "content-disposition: form-data; name=x-amz-meta-n\r\n\r\n"
        "line1\r\nline2\r\n"
        "--B\r\n"
        "Content-Disposition: form-data; name=\"file\"; filename=\"f.bin\"\r\n"
        "Content-Type: application/x-thing\r\n\r\n"
        "\x00\x01--B not a delimiter\r\n"
        "--B\r\n"
        "Content-Disposition: form-data; name=\"after\"\r\n\r\nz\r\n"
        "--B--\r\n";
    struct s3_form f;
    assert_int_equal(parse(body, sizeof(body) - 1, "B", &f), 0);
    assert_int_equal(f.n_fields, 2);
    assert_string_equal(s3__form_get(&f, "key")->value, "a/${filename}");
    assert_string_equal(s3__form_get(&f, "X-AMZ-META-N")->value, "line1\r\nline2");
    assert_null(s3__form_get(&f, "after"));
    assert_true(f.has_file);
    assert_string_equal(f.file_name, "f.bin");
    assert_string_equal(f.file_content_type, "application/x-thing");
    assert_int_equal(f.file_len, 21);
    assert_memory_equal(body + f.file_offset, "\x00\x01--B not a delimiter", 21);
    s3__form_fini(&f);
}

static void test_malformed_forms_are_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "no delimiter at all",
        "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated",
        "--B\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--B--",
        "--B\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--B--",
        "--B\r\nNoColonHere\r\n\r\nx\r\n--B--",
        "--Bjunk\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--B--",
        "--B\r\nContent-Disposition: form-data; name=\"a\"\r\nContent-Disposition: form-data; "
        "name=\"b\"\r\n\r\nx\r\n--B--",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct s3_form f;
        assert_int_equal(parse(bad[i], strlen(bad[i]), "B", &f), SL_E(MALFORMED_POST));
        s3__form_fini(&f);
    }
    /* A form without a file is well formed; the adapter refuses it. */
    static const char nofile[] =
        "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--B--";
    struct s3_form f;
    assert_int_equal(parse(nofile, sizeof(nofile) - 1, "B", &f), 0);
    assert_false(f.has_file);
    s3__form_fini(&f);
}

static void test_field_limits(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    for (int i = 0; i <= S3_FORM_MAX_FIELDS; i++) {
        buf_printf(&b, "--B\r\nContent-Disposition: form-data; name=\"f%d\"\r\n\r\nv\r\n", i);
    }
    buf_puts(&b, "--B--");
    struct s3_form f;
    assert_int_equal(parse((const char *)b.data, b.len, "B", &f), SL_E(MALFORMED_POST));
    s3__form_fini(&f);
    buf_reset(&b);
    buf_puts(&b, "--B\r\nContent-Disposition: form-data; name=\"big\"\r\n\r\n");
    for (int i = 0; i <= S3_FORM_MAX_VALUE; i++) {
        buf_puts(&b, "x");
    }
    buf_puts(&b, "\r\n--B--");
    assert_int_equal(parse((const char *)b.data, b.len, "B", &f), SL_E(MALFORMED_POST));
    s3__form_fini(&f);
    buf_fini(&b);
}

static void test_survives_every_allocation_failure(void **state)
{
    (void)state;
    static const char body[] = "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n"
                               "--B\r\nContent-Disposition: form-data; name=\"file\"; "
                               "filename=\"x\"\r\nContent-Type: t\r\n\r\ndata\r\n--B--";
    int ok = 0;
    for (unsigned long n = 1; n <= 40 && !ok; n++) {
        struct s3_form f;
        mem_fail_after(n);
        int rc = parse(body, sizeof(body) - 1, "B", &f);
        mem_fail_after(0);
        assert_true(rc == 0 || rc == SL_E(NOMEM));
        ok = rc == 0;
        s3__form_fini(&f);
    }
    assert_true(ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boundary_from_content_type),
        cmocka_unit_test(test_fields_then_file_and_nothing_after),
        cmocka_unit_test(test_malformed_forms_are_refused),
        cmocka_unit_test(test_field_limits),
        cmocka_unit_test(test_survives_every_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
