/* Unit tests of the first-request-head vetting (src/http/vet.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/http_int.h"

static struct vet_head vh;

static int vet(const char *head, size_t *head_len)
{
    const char *reason = NULL;
    int rc = http__vet_head(head, strlen(head), 4096, &vh, &reason);
    if (rc == 1 && head_len != NULL) {
        *head_len = vh.head_len;
    }
    if (rc < 0) {
        assert_non_null(reason);
        assert_true(reason[0] != '\0');
    }
    return rc;
}

static void sound_head_is_complete_at_its_blank_line(void **state)
{
    (void)state;
    size_t head_len = 0;
    const char *head = "PUT /b/k?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
    assert_int_equal(vet(head, &head_len), 1);
    assert_int_equal(head_len, strlen(head) - 3);
    assert_int_equal(vet("GET / HTTP/1.0\r\n\r\n", NULL), 1); /* no headers at all */
}

static void partial_head_asks_for_more(void **state)
{
    (void)state;
    assert_int_equal(vet("", NULL), 0);
    assert_int_equal(vet("GET / HT", NULL), 0);
    assert_int_equal(vet("GET / HTTP/1.1\r\nHost: x\r\n", NULL), 0);
    assert_int_equal(vet("GET / HTTP/1.1\r\nHost: x\r", NULL), 0);
}

static void line_ends_must_be_crlf(void **state)
{
    (void)state;
    assert_int_equal(vet("GET / HTTP/1.1\nHost: x\r\n\r\n", NULL), -400);
    assert_int_equal(vet("GET / HTTP/1.1\r\nHost: x\n\r\n", NULL), -400);
    assert_int_equal(vet("GET / HTTP/1.1\r\nHo\rst: x\r\n\r\n", NULL), -400);
}

static void folded_and_malformed_header_lines_are_refused(void **state)
{
    (void)state;
    assert_int_equal(vet("GET / HTTP/1.1\r\nA: 1\r\n 2\r\n\r\n", NULL), -400);
    assert_int_equal(vet("GET / HTTP/1.1\r\nA: 1\r\n\t2\r\n\r\n", NULL), -400);
    assert_int_equal(vet("GET / HTTP/1.1\r\nNoColon\r\n\r\n", NULL), -400);
    assert_int_equal(vet("GET / HTTP/1.1\r\nA : 1\r\n\r\n", NULL), -400);
    assert_int_equal(vet("GET / HTTP/1.1\r\n: 1\r\n\r\n", NULL), -400);
    assert_int_equal(vet("GET / HTTP/1.1\r\nA: \x01\r\n\r\n", NULL), -400);
}

static void content_length_must_be_digits(void **state)
{
    (void)state;
    assert_int_equal(vet("PUT / HTTP/1.1\r\ncontent-length:  12 \r\n\r\n", NULL), 1);
    assert_int_equal(vet("PUT / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", NULL), -400);
    assert_int_equal(vet("PUT / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", NULL), -400);
    assert_int_equal(vet("PUT / HTTP/1.1\r\nContent-Length: \r\n\r\n", NULL), -400);
    assert_int_equal(vet("PUT / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", NULL), -400);
    assert_int_equal(vet("PUT / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", NULL),
                     -400);
}

static void request_lines_are_checked(void **state)
{
    (void)state;
    assert_int_equal(vet("\r\nGET / HTTP/1.1\r\n\r\n", NULL), -400);
    assert_int_equal(vet("GET  / HTTP/1.1\r\n\r\n", NULL), -400);
    assert_int_equal(vet("GET / HTTP/1.1 \r\n\r\n", NULL), -400);
    assert_int_equal(vet("GET /\x7f HTTP/1.1\r\n\r\n", NULL), -400);
    assert_int_equal(vet("G(T / HTTP/1.1\r\n\r\n", NULL), -400);
    assert_int_equal(vet("GET / HTTP/2.0\r\n\r\n", NULL), -505);
    assert_int_equal(vet("GET / http/1.1\r\n\r\n", NULL), -400);
}

static void long_targets_and_heads_are_refused(void **state)
{
    (void)state;
    static char big[VET_MAX_TARGET + 200];
    memcpy(big, "GET /", 5);
    memset(big + 5, 'a', sizeof(big) - 6);
    big[sizeof(big) - 1] = '\0';
    const char *reason;
    /* still arriving, already too long to be a target */
    assert_int_equal(http__vet_head(big, strlen(big), 64 * 1024, &vh, &reason), -414);
    memcpy(big + VET_MAX_TARGET + 100, " HTTP/1.1\r\n\r\n", 14);
    assert_int_equal(http__vet_head(big, strlen(big), 64 * 1024, &vh, &reason), -414);
    /* a head that does not end within the limit */
    static char head[5000];
    memcpy(head, "GET / HTTP/1.1\r\nX: ", 19);
    memset(head + 19, 'a', sizeof(head) - 20);
    head[sizeof(head) - 1] = '\0';
    assert_int_equal(http__vet_head(head, strlen(head), 4096, &vh, &reason), -431);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sound_head_is_complete_at_its_blank_line),
        cmocka_unit_test(partial_head_asks_for_more),
        cmocka_unit_test(line_ends_must_be_crlf),
        cmocka_unit_test(folded_and_malformed_header_lines_are_refused),
        cmocka_unit_test(content_length_must_be_digits),
        cmocka_unit_test(request_lines_are_checked),
        cmocka_unit_test(long_targets_and_heads_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
