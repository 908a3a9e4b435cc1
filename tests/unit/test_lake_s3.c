/* Unit tests of the S3 adapter's parsers: the strict XML reader and the aws-chunked decoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/mem.h"
#include "http/sigv4.h"
#include "lake/s3_int.h"

static int parse(const char *doc, struct s3_xml_node **root)
{
    return s3__xml_parse(doc, strlen(doc), root);
}

static void test_xml_reads_delete_request_with_entities(void **state)
{
    (void)state;
    struct s3_xml_node *root = NULL;
    const char *doc = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                      "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
                      "  <Object><Key>a&amp;b&lt;&#x263A;&#65;</Key></Object>\n"
                      "  <!-- comment -->\n"
                      "  <Object><Key><![CDATA[<raw>&]]></Key><VersionId/></Object>\n"
                      "  <Quiet>true</Quiet>\n"
                      "</Delete>\n";
    assert_int_equal(parse(doc, &root), 0);
    assert_string_equal(root->name, "Delete");
    assert_int_equal(root->n_children, 3);
    assert_string_equal(s3__xml_child_text(&root->children[0], "Key"), "a&b<\xe2\x98\xba"
                                                                       "A");
    assert_string_equal(s3__xml_child_text(&root->children[1], "Key"), "<raw>&");
    assert_string_equal(s3__xml_child_text(&root->children[1], "VersionId"), "");
    assert_string_equal(s3__xml_child_text(root, "Quiet"), "true");
    assert_null(s3__xml_child(root, "Missing"));
    s3__xml_free(root);
}

static void test_xml_strips_namespace_prefixes(void **state)
{
    (void)state;
    struct s3_xml_node *root = NULL;
    assert_int_equal(parse("<s3:Tagging xmlns:s3='x'><s3:TagSet/></s3:Tagging>", &root), 0);
    assert_string_equal(root->name, "Tagging");
    assert_non_null(s3__xml_child(root, "TagSet"));
    s3__xml_free(root);
}

static void test_xml_rejects_malformed_documents(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "just text",
        "<a>",
        "<a></b>",
        "<a><b></a></b>",
        "<a/><b/>",
        "<a/>trailing",
        "<a>&unknown;</a>",
        "<a>&#0;</a>",
        "<a>&#x110000;</a>",
        "<a>&#xD800;</a>",
        "<!DOCTYPE a [<!ENTITY e \"x\">]><a>&e;</a>",
        "<a><?pi x?></a>",
        "<a b=unquoted/>",
        "<a b=\"<\"/>",
        "<a>]]></a>",
        "<a><!-- unterminated </a>",
        "<a><![CDATA[ unterminated </a>",
        "<1a/>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct s3_xml_node *root = NULL;
        if (parse(bad[i], &root) != -1) {
            fail_msg("accepted: %s", bad[i]);
        }
        assert_null(root);
    }
}

/* Characters XML 1.0 forbids, written raw or referenced, anywhere in the document. */
static void test_xml_rejects_characters_xml_forbids(void **state)
{
    (void)state;
    static const struct {
        const char *doc;
        size_t len;
    } bad[] = {
#define DOC(s) {s, sizeof(s) - 1}
        DOC("<Delete><Object><Key>a\0b</Key></Object></Delete>"), /* raw NUL */
        DOC("<Delete><Object><Key>a&#0;b</Key></Object></Delete>"),
        DOC("<Delete><Object><Key>a&#x00;b</Key></Object></Delete>"),
        DOC("<a>&#1;</a>"),
        DOC("<a>&#x1F;</a>"),
        DOC("<a>\x01</a>"),
        DOC("<a>\x1b[0m</a>"),
        DOC("<a>\x7f\x0b</a>"), /* DEL is a Char; vertical tab is not */
        DOC("<a>&#xFFFE;</a>"),
        DOC("<a>&#xFFFF;</a>"),
        DOC("<a>&#xDFFF;</a>"),
        DOC("<a>&#55296;</a>"),                 /* U+D800 in decimal */
        DOC("<a>\xed\xa0\x80</a>"),             /* a lone surrogate in UTF-8 */
        DOC("<a>\xed\xa0\xbd\xed\xb8\x80</a>"), /* a surrogate pair in UTF-8 (CESU) */
        DOC("<a>\xef\xbf\xbe</a>"),             /* U+FFFE raw */
        DOC("<a>\xc0\x80</a>"),                 /* overlong NUL */
        DOC("<a>\xe0\x80\xaf</a>"),             /* overlong '/' */
        DOC("<a>\xf4\x90\x80\x80</a>"),         /* past U+10FFFF */
        DOC("<a>\xff</a>"),
        DOC("<a>\xe2\x98</a>"), /* truncated */
        DOC("<a>\x80</a>"),     /* a lone continuation byte */
        DOC("<a b=\"\x01\"/>"), /* in an attribute */
        DOC("<a b=\"&#0;\"/>"),
        DOC("<a><!-- \x02 --></a>"),            /* in a comment */
        DOC("<a><![CDATA[\0]]></a>"),           /* in CDATA */
        DOC("<?xml version=\"1.0\"?>\x03<a/>"), /* in the prolog */
        DOC("<a/>\0"),                          /* after the root */
#undef DOC
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct s3_xml_node *root = NULL;
        if (s3__xml_parse(bad[i].doc, bad[i].len, &root) != -1) {
            fail_msg("accepted case %zu", i);
        }
        assert_null(root);
    }
    /* Tab, LF, CR, C1 controls, the BMP's edges and astral characters are Chars. */
    const char ok[] = "<a>\t\n\r&#x9;&#xA;&#xD;\xc2\x85&#x85;\xed\x9f\xbf\xee\x80\x80"
                      "\xef\xbf\xbd\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf&#x10FFFF;</a>";
    struct s3_xml_node *root = NULL;
    assert_int_equal(s3__xml_parse(ok, sizeof(ok) - 1, &root), 0);
    assert_int_equal(root->text_len, strlen(root->text));
    s3__xml_free(root);
    /* An empty body with no buffer behind it is malformed, not pointer arithmetic on
       NULL (UBSan, which the sanitizer build halts on). */
    root = NULL;
    assert_int_equal(s3__xml_parse(NULL, 0, &root), -1);
    assert_null(root);
}

/*
 * Every allocation of a parse is from the may-fail allocator: failing the N-th one, for
 * each N, gives SL_E(NOMEM) (never an abort, never "malformed") and frees what was built.
 */
static void test_xml_allocation_failure_is_nomem(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "<Delete>");
    for (int i = 0; i < 300; i++) {
        buf_printf(&b, "<Object><Key>key-%d &amp; more text to grow the buffer</Key></Object>", i);
    }
    buf_puts(&b, "<Quiet>true</Quiet></Delete>");
    int n_failed = 0;
    for (unsigned long n = 1;; n++) {
        mem_fail_after(n);
        struct s3_xml_node *root = NULL;
        int rc = s3__xml_parse((const char *)b.data, b.len, &root);
        mem_fail_after(0);
        if (rc == 0) {
            assert_int_equal(root->n_children, 301);
            s3__xml_free(root);
            break;
        }
        assert_int_equal(rc, SL_E(NOMEM));
        assert_null(root);
        n_failed++;
    }
    assert_true(n_failed > 300);
    buf_fini(&b);
}

static void test_xml_limits_nesting_depth(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    for (int i = 0; i < 100; i++) {
        buf_puts(&b, "<a>");
    }
    for (int i = 0; i < 100; i++) {
        buf_puts(&b, "</a>");
    }
    struct s3_xml_node *root = NULL;
    assert_int_equal(s3__xml_parse((char *)b.data, b.len, &root), -1);
    buf_fini(&b);
}

/* ---- aws-chunked ---- */

struct sink {
    struct buf out;
};

static int sink_fn(void *arg, const uint8_t *data, size_t len)
{
    struct sink *s = arg;
    return buf_append(&s->out, data, len);
}

static const uint8_t KEY[32] = {7, 7, 7};
static const char DATE[] = "20261126T100000Z";
static const char SCOPE[] = "20261126/us-east-1/s3/aws4_request";
static const char SEED[] = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";

/* Encodes payload as signed aws-chunked in chunks of chunk_len, optionally corrupting one. */
static void encode_signed(struct buf *out, const char *payload, size_t len, size_t chunk_len,
                          int corrupt_idx)
{
    char prev[65];
    memcpy(prev, SEED, sizeof(prev));
    size_t off = 0;
    int idx = 0;
    for (;;) {
        size_t n = len - off < chunk_len ? len - off : chunk_len;
        uint8_t sha[SHA256_LEN];
        char hex[65];
        crypto_sha256(payload + off, n, sha);
        hex_encode(sha, SHA256_LEN, hex);
        char sig[65];
        sigv4_chunk_signature(KEY, DATE, SCOPE, prev, hex, sig);
        memcpy(prev, sig, sizeof(prev));
        if (idx == corrupt_idx) {
            sig[0] = sig[0] == 'a' ? 'b' : 'a';
        }
        buf_printf(out, "%zx;chunk-signature=%s\r\n", n, sig);
        buf_append(out, payload + off, n);
        buf_puts(out, "\r\n");
        off += n;
        idx++;
        if (n == 0) {
            break;
        }
    }
}

/* Feeds in pieces of split bytes; returns the first error or the finish result. */
static int decode(struct s3_chunked *c, const struct buf *in, size_t split, struct err_info *err)
{
    for (size_t off = 0; off < in->len; off += split) {
        size_t n = in->len - off < split ? in->len - off : split;
        int rc = s3__chunked_feed(c, in->data + off, n, err);
        if (rc < 0) {
            return rc;
        }
    }
    return s3__chunked_finish(c, err);
}

static void test_chunked_signed_decodes_at_any_split(void **state)
{
    (void)state;
    char payload[3000];
    for (size_t i = 0; i < sizeof(payload); i++) {
        payload[i] = (char)(i * 31);
    }
    struct buf enc;
    buf_init(&enc);
    encode_signed(&enc, payload, sizeof(payload), 1024, -1);
    size_t splits[] = {1, 2, 7, 64, 100000};
    for (size_t i = 0; i < 5; i++) {
        struct sink s;
        buf_init(&s.out);
        struct s3_chunked c;
        struct err_info err;
        s3__chunked_init(&c, 1, 0, KEY, DATE, SCOPE, SEED, sink_fn, &s);
        assert_int_equal(decode(&c, &enc, splits[i], &err), 0);
        assert_int_equal(s.out.len, sizeof(payload));
        assert_memory_equal(s.out.data, payload, sizeof(payload));
        assert_int_equal(c.decoded_len, sizeof(payload));
        s3__chunked_fini(&c);
        buf_fini(&s.out);
    }
    buf_fini(&enc);
}

static void test_chunked_rejects_any_bad_chunk_signature(void **state)
{
    (void)state;
    const char payload[] = "0123456789abcdefghij";
    for (int bad = 0; bad < 3; bad++) {
        struct buf enc;
        buf_init(&enc);
        encode_signed(&enc, payload, 20, 8, bad);
        struct sink s;
        buf_init(&s.out);
        struct s3_chunked c;
        struct err_info err;
        s3__chunked_init(&c, 1, 0, KEY, DATE, SCOPE, SEED, sink_fn, &s);
        assert_int_equal(decode(&c, &enc, 5, &err), SL_E(SIGNATURE_DOES_NOT_MATCH));
        s3__chunked_fini(&c);
        buf_fini(&s.out);
        buf_fini(&enc);
    }
}

static void test_chunked_unsigned_trailer_is_read(void **state)
{
    (void)state;
    const char enc[] = "5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
    struct buf in;
    buf_init(&in);
    buf_puts(&in, enc);
    struct sink s;
    buf_init(&s.out);
    struct s3_chunked c;
    struct err_info err;
    s3__chunked_init(&c, 0, 1, NULL, NULL, NULL, NULL, sink_fn, &s);
    assert_int_equal(decode(&c, &in, 3, &err), 0);
    assert_string_equal((char *)s.out.data, "hello world");
    assert_string_equal(s3__chunked_trailer(&c, "X-Amz-Checksum-CRC32"), "DUoRhQ==");
    assert_null(s3__chunked_trailer(&c, "x-amz-checksum-sha256"));
    s3__chunked_fini(&c);
    buf_fini(&s.out);
    buf_fini(&in);
}

static void test_chunked_signed_trailer_signature_is_verified(void **state)
{
    (void)state;
    for (int tamper = 0; tamper < 2; tamper++) {
        struct buf enc;
        buf_init(&enc);
        encode_signed(&enc, "abc", 3, 8, -1);
        enc.len -= 2; /* the trailers replace the final CRLF */
        /* The chain's last signature is the zero chunk's: recompute it. */
        char prev[65];
        char sig[65];
        uint8_t sha[SHA256_LEN];
        char hex[65];
        crypto_sha256("abc", 3, sha);
        hex_encode(sha, SHA256_LEN, hex);
        sigv4_chunk_signature(KEY, DATE, SCOPE, SEED, hex, prev);
        crypto_sha256("", 0, sha);
        hex_encode(sha, SHA256_LEN, hex);
        sigv4_chunk_signature(KEY, DATE, SCOPE, prev, hex, sig);
        const char *trailer =
            tamper ? "x-amz-checksum-crc32:AAAAAA==\n" : "x-amz-checksum-crc32:NSRBwg==\n";
        crypto_sha256(trailer, strlen(trailer), sha);
        hex_encode(sha, SHA256_LEN, hex);
        char tsig[65];
        sigv4_trailer_signature(KEY, DATE, SCOPE, sig, hex, tsig);
        buf_printf(&enc, "x-amz-checksum-crc32:NSRBwg==\r\nx-amz-trailer-signature:%s\r\n\r\n",
                   tsig);
        struct sink s;
        buf_init(&s.out);
        struct s3_chunked c;
        struct err_info err;
        s3__chunked_init(&c, 1, 1, KEY, DATE, SCOPE, SEED, sink_fn, &s);
        assert_int_equal(decode(&c, &enc, 4, &err), tamper ? SL_E(SIGNATURE_DOES_NOT_MATCH) : 0);
        s3__chunked_fini(&c);
        buf_fini(&s.out);
        buf_fini(&enc);
    }
}

static void test_chunked_rejects_bad_framing(void **state)
{
    (void)state;
    const char *bad[] = {
        "zz\r\n",                        /* not hex */
        "5\r\nhel",                      /* ends inside data */
        "5\r\nhelloXX0\r\n\r\n",         /* no CRLF after data */
        "5\nhello\r\n",                  /* bare LF */
        "5;ext=1\r\nhello\r\n0\r\n\r\n", /* extension on an unsigned chunk */
        "0\r\nno-colon\r\n\r\n",         /* bad trailer */
        "1234567890abcdef0\r\n",         /* size too long */
        "0\r\n\r\nextra",                /* data after the end */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct buf in;
        buf_init(&in);
        buf_puts(&in, bad[i]);
        struct sink s;
        buf_init(&s.out);
        struct s3_chunked c;
        struct err_info err;
        s3__chunked_init(&c, 0, 1, NULL, NULL, NULL, NULL, sink_fn, &s);
        if (decode(&c, &in, 1, &err) != SL_E(INCOMPLETE_BODY)) {
            fail_msg("accepted: %s", bad[i]);
        }
        s3__chunked_fini(&c);
        buf_fini(&s.out);
        buf_fini(&in);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xml_reads_delete_request_with_entities),
        cmocka_unit_test(test_xml_strips_namespace_prefixes),
        cmocka_unit_test(test_xml_rejects_malformed_documents),
        cmocka_unit_test(test_xml_rejects_characters_xml_forbids),
        cmocka_unit_test(test_xml_allocation_failure_is_nomem),
        cmocka_unit_test(test_xml_limits_nesting_depth),
        cmocka_unit_test(test_chunked_signed_decodes_at_any_split),
        cmocka_unit_test(test_chunked_rejects_any_bad_chunk_signature),
        cmocka_unit_test(test_chunked_unsigned_trailer_is_read),
        cmocka_unit_test(test_chunked_signed_trailer_signature_is_verified),
        cmocka_unit_test(test_chunked_rejects_bad_framing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
