/*
 * Tests of SigV4 (src/http/sigv4.h): AWS's published test suite under tests/vectors/sigv4
 * (canonical request, string to sign, signature, verify, sign for every case), AWS's S3
 * examples (header-signed GET, presigned URL, chunked upload), requests signed by
 * botocore (presigned STS, S3 keys with reserved characters), and the parse and verify
 * failures with the messages AWS gives.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/err.h"
#include "http/sigv4.h"

#define VECTOR_DIR "tests/vectors/sigv4"
#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define S3_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/* 2015-08-30T12:36:00Z and 2013-05-24T00:00:00Z in ms since the epoch */
#define SUITE_NOW_MS 1440938160000LL
#define S3_NOW_MS 1369353600000LL

/* ---- helpers ---- */

static char *read_whole(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    struct buf b;
    buf_init(&b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        buf_append(&b, chunk, n);
    }
    fclose(f);
    buf_putc(&b, '\0');
    return (char *)buf_steal(&b, NULL);
}

/* A request parsed from a suite .req file; strings point into text. */
struct parsed_req {
    char *text;
    char *method;
    char *path;
    char *query;
    struct sigv4_header headers[32];
    size_t n_headers;
    const char *body;
    size_t body_len;
    char payload_hash[65];
};

/* Parses "METHOD SP target SP HTTP/1.1" (target may hold spaces), "Name:value"
   lines (a line starting with white space is a further value of the previous
   header), a blank line and the body. */
static void parse_req_file(char *text, struct parsed_req *r)
{
    memset(r, 0, sizeof(*r));
    r->text = text;
    char *line_end = strchr(text, '\n');
    char *rest = line_end != NULL ? line_end + 1 : text + strlen(text);
    if (line_end != NULL) {
        *line_end = '\0';
    }
    char *sp1 = strchr(text, ' ');
    char *sp2 = strrchr(text, ' ');
    assert_non_null(sp1);
    assert_true(sp2 > sp1);
    *sp1 = '\0';
    *sp2 = '\0';
    r->method = text;
    r->path = sp1 + 1;
    char *q = strchr(r->path, '?');
    if (q != NULL) {
        *q = '\0';
        r->query = q + 1;
    } else {
        r->query = sp2; /* "" */
    }
    r->body = "";
    while (*rest != '\0') {
        char *eol = strchr(rest, '\n');
        char *next = eol != NULL ? eol + 1 : rest + strlen(rest);
        if (eol != NULL) {
            *eol = '\0';
        }
        if (*rest == '\0') {
            r->body = next;
            break;
        }
        assert_true(r->n_headers < 32);
        if (*rest == ' ' || *rest == '\t') {
            assert_true(r->n_headers > 0);
            r->headers[r->n_headers].name = r->headers[r->n_headers - 1].name;
            r->headers[r->n_headers].value = rest;
        } else {
            char *colon = strchr(rest, ':');
            assert_non_null(colon);
            *colon = '\0';
            r->headers[r->n_headers].name = rest;
            r->headers[r->n_headers].value = colon + 1;
        }
        r->n_headers++;
        rest = next;
    }
    r->body_len = strlen(r->body);
    uint8_t digest[SHA256_LEN];
    crypto_sha256(r->body, r->body_len, digest);
    hex_encode(digest, SHA256_LEN, r->payload_hash);
}

static struct sigv4_request request_of(struct parsed_req *r)
{
    struct sigv4_request req = {
        .method = r->method,
        .path = r->path,
        .query = r->query,
        .headers = r->headers,
        .n_headers = r->n_headers,
        .payload_hash = r->payload_hash,
        .s3 = 0,
    };
    return req;
}

static char *file_with_ext(const char *dir, const char *name, const char *ext)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s.%s", dir, name, ext);
    return read_whole(path);
}

/* Checks one suite case: dir holds name.req, .creq, .sts, .authz. */
static void check_vector(const char *dir, const char *name)
{
    char *req_text = file_with_ext(dir, name, "req");
    char *creq = file_with_ext(dir, name, "creq");
    char *sts = file_with_ext(dir, name, "sts");
    char *authz = file_with_ext(dir, name, "authz");
    assert_non_null(req_text);
    assert_non_null(creq);
    assert_non_null(sts);
    assert_non_null(authz);

    struct parsed_req r;
    parse_req_file(req_text, &r);
    r.headers[r.n_headers].name = "Authorization";
    r.headers[r.n_headers].value = authz;
    r.n_headers++;
    struct sigv4_request req = request_of(&r);

    struct sigv4_auth auth;
    struct err_info err;
    err_clear(&err);
    int rc = sigv4_parse(&req, &auth, &err);
    if (rc != 0) {
        print_error("%s: parse failed: %s\n", name, err.message);
    }
    assert_int_equal(rc, 0);
    assert_string_equal(auth.access_key_id, "AKIDEXAMPLE");
    assert_string_equal(auth.scope, "20150830/us-east-1/service/aws4_request");
    assert_string_equal(auth.amz_date, "20150830T123600Z");
    assert_int_equal(auth.presigned, 0);

    struct buf out;
    buf_init(&out);
    assert_int_equal(sigv4_canonical_request(&req, &auth, &out), 0);
    if (strcmp((char *)out.data, creq) != 0) {
        print_error("%s: canonical request differs\n", name);
    }
    assert_string_equal((char *)out.data, creq);

    buf_reset(&out);
    assert_int_equal(sigv4_string_to_sign(&auth, creq, strlen(creq), &out), 0);
    assert_string_equal((char *)out.data, sts);

    uint8_t key[32];
    rc = sigv4_verify(&req, &auth, SUITE_SECRET, SUITE_NOW_MS, key, &err);
    if (rc != 0) {
        print_error("%s: verify failed: %s\n", name, err.message);
    }
    assert_int_equal(rc, 0);
    uint8_t expect_key[32];
    sigv4_signing_key(SUITE_SECRET, "20150830", "us-east-1", "service", expect_key);
    assert_memory_equal(key, expect_key, 32);

    /* the signature in .authz is HMAC(key, sts) */
    uint8_t mac[32];
    char mac_hex[65];
    crypto_hmac_sha256(key, 32, sts, strlen(sts), mac);
    hex_encode(mac, 32, mac_hex);
    assert_string_equal(mac_hex, auth.signature);

    /* a different secret does not verify */
    rc = sigv4_verify(&req, &auth, "wrong-secret", SUITE_NOW_MS, NULL, &err);
    assert_int_equal(rc, SL_E(AUTH_BAD_SIGNATURE));

    /* signing the request (all its headers) gives the suite's Authorization */
    r.n_headers--;
    req = request_of(&r);
    buf_reset(&out);
    assert_int_equal(sigv4_sign(&req, "AKIDEXAMPLE", SUITE_SECRET, "20150830T123600Z", "us-east-1",
                                "service", &out),
                     0);
    assert_string_equal((char *)out.data, authz);

    buf_fini(&out);
    free(req_text);
    free(creq);
    free(sts);
    free(authz);
}

/* Walks dir for *.req files, checking each case; returns how many. */
static int walk_vectors(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return 0;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0) {
            continue;
        }
        size_t len = strlen(e->d_name);
        if (S_ISDIR(st.st_mode)) {
            n += walk_vectors(path);
        } else if (len > 4 && strcmp(e->d_name + len - 4, ".req") == 0) {
            char name[256];
            snprintf(name, sizeof(name), "%.*s", (int)(len - 4), e->d_name);
            check_vector(dir, name);
            n++;
        }
    }
    closedir(d);
    return n;
}

/* A small request for the failure tests: GET / on example.amazonaws.com. */
struct fixture {
    struct sigv4_header headers[8];
    size_t n_headers;
    struct sigv4_request req;
    struct buf authz;
};

static void fixture_init(struct fixture *f, const char *amz_date)
{
    memset(f, 0, sizeof(*f));
    f->headers[0] = (struct sigv4_header){"Host", "example.amazonaws.com"};
    f->headers[1] = (struct sigv4_header){"X-Amz-Date", amz_date};
    f->n_headers = 2;
    f->req = (struct sigv4_request){.method = "GET",
                                    .path = "/",
                                    .query = "",
                                    .headers = f->headers,
                                    .n_headers = 2,
                                    .payload_hash = EMPTY_SHA};
    buf_init(&f->authz);
}

/* Adds an Authorization header with value v. */
static void fixture_set_authz(struct fixture *f, const char *v)
{
    f->headers[f->n_headers++] = (struct sigv4_header){"Authorization", v};
    f->req.n_headers = f->n_headers;
}

static void fixture_sign(struct fixture *f, const char *secret)
{
    buf_reset(&f->authz);
    assert_int_equal(sigv4_sign(&f->req, "AKIDEXAMPLE", secret, f->headers[1].value, "us-east-1",
                                "kinesis", &f->authz),
                     0);
    fixture_set_authz(f, (const char *)f->authz.data);
}

/* ---- tests ---- */

static void test_every_published_vector_verifies(void **state)
{
    (void)state;
    int n = walk_vectors(VECTOR_DIR);
    print_message("checked %d SigV4 suite cases\n", n);
    assert_true(n >= 31);
}

static void test_missing_auth_is_reported_as_missing(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f, "20150830T123600Z");
    struct sigv4_auth auth;
    struct err_info err;
    assert_int_equal(sigv4_parse(&f.req, &auth, &err), SL_E(AUTH_MISSING));
    buf_fini(&f.authz);
}

static void test_header_without_credential_names_what_is_missing(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f, "20150830T123600Z");
    fixture_set_authz(&f, "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=abc");
    struct sigv4_auth auth;
    struct err_info err;
    assert_int_equal(sigv4_parse(&f.req, &auth, &err), SL_E(AUTH_MALFORMED));
    assert_non_null(strstr(err.message, "Authorization header requires 'Credential' parameter."));
    assert_null(strstr(err.message, "'Signature' parameter"));
    buf_fini(&f.authz);
}

static void test_header_without_date_names_date(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f, "20150830T123600Z");
    f.headers[1] = (struct sigv4_header){"X-Other", "1"};
    fixture_set_authz(&f, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kinesis/"
                          "aws4_request, SignedHeaders=host, Signature=" EMPTY_SHA);
    struct sigv4_auth auth;
    struct err_info err;
    assert_int_equal(sigv4_parse(&f.req, &auth, &err), SL_E(AUTH_MALFORMED));
    assert_non_null(strstr(err.message, "either a 'X-Amz-Date' or a 'Date' header"));
    buf_fini(&f.authz);
}

static void test_credential_with_four_parts_is_malformed(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f, "20150830T123600Z");
    fixture_set_authz(&f, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/"
                          "aws4_request, SignedHeaders=host, Signature=" EMPTY_SHA);
    struct sigv4_auth auth;
    struct err_info err;
    assert_int_equal(sigv4_parse(&f.req, &auth, &err), SL_E(AUTH_MALFORMED));
    assert_non_null(strstr(err.message, "exactly 5 slash-delimited elements"));
    buf_fini(&f.authz);
}

static void test_credential_with_wrong_terminator_is_malformed(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f, "20150830T123600Z");
    fixture_set_authz(&f, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kinesis/"
                          "aws5_request, SignedHeaders=host, Signature=" EMPTY_SHA);
    struct sigv4_auth auth;
    struct err_info err;
    assert_int_equal(sigv4_parse(&f.req, &auth, &err), SL_E(AUTH_MALFORMED));
    assert_string_equal(err.message, "Credential should be scoped with a valid terminator: "
                                     "'aws4_request', not 'aws5_request'.");
    buf_fini(&f.authz);
}

static void test_other_algorithm_is_not_supported(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f, "20150830T123600Z");
    fixture_set_authz(&f, "AWS AKIDEXAMPLE:c2lnbmF0dXJl");
    struct sigv4_auth auth;
    struct err_info err;
    assert_int_equal(sigv4_parse(&f.req, &auth, &err), SL_E(AUTH_MALFORMED));
    assert_non_null(strstr(err.message, "Please use AWS4-HMAC-SHA256"));
    buf_fini(&f.authz);
}

static void test_signature_of_wrong_length_is_malformed(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f, "20150830T123600Z");
    fixture_set_authz(&f, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kinesis/"
                          "aws4_request, SignedHeaders=host, Signature=" EMPTY_SHA "00");
    struct sigv4_auth auth;
    struct err_info err;
    assert_int_equal(sigv4_parse(&f.req, &auth, &err), SL_E(AUTH_MALFORMED));
    buf_fini(&f.authz);
}

static void test_bad_amz_date_is_malformed(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f, "2015-08-30T12:36:00Z");
    fixture_set_authz(&f, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kinesis/"
                          "aws4_request, SignedHeaders=host, Signature=" EMPTY_SHA);
    struct sigv4_auth auth;
    struct err_info err;
    assert_int_equal(sigv4_parse(&f.req, &auth, &err), SL_E(AUTH_MALFORMED));
    assert_non_null(strstr(err.message, "ISO-8601"));
    buf_fini(&f.authz);
}

static void test_header_and_query_auth_together_are_rejected(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f, "20150830T123600Z");
    f.req.query = "X-Amz-Algorithm=AWS4-HMAC-SHA256";
    fixture_sign(&f, "secret");
    struct sigv4_auth auth;
    struct err_info err;
    assert_int_equal(sigv4_parse(&f.req, &auth, &err), SL_E(AUTH_MALFORMED));
    assert_non_null(strstr(err.message, "Only one auth mechanism allowed"));
    buf_fini(&f.authz);
}

static void test_signed_request_round_trips(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f, "20150830T123600Z");
    f.headers[2] = (struct sigv4_header){"X-Amz-Target", "Kinesis_20131202.PutRecords"};
    f.headers[3] = (struct sigv4_header){"Content-Type", "application/x-amz-json-1.1"};
    f.n_headers = 4;
    f.req.n_headers = 4;
    f.req.method = "POST";
    fixture_sign(&f, "secret");
    struct sigv4_auth auth;
    struct err_info err;
    assert_int_equal(sigv4_parse(&f.req, &auth, &err), 0);
    assert_string_equal(auth.region, "us-east-1");
    assert_string_equal(auth.service, "kinesis");
    assert_string_equal(auth.signed_headers, "content-type;host;x-amz-date;x-amz-target");
    assert_int_equal(sigv4_verify(&f.req, &auth, "secret", SUITE_NOW_MS, NULL, &err), 0);
    /* a header value changed after signing breaks the signature */
    f.headers[2].value = "Kinesis_20131202.PutRecord";
    assert_int_equal(sigv4_verify(&f.req, &auth, "secret", SUITE_NOW_MS, NULL, &err),
                     SL_E(AUTH_BAD_SIGNATURE));
    assert_string_equal(err.message,
                        "The request signature we calculated does not match the signature you "
                        "provided. Check your AWS Secret Access Key and signing method. Consult "
                        "the service documentation for details.");
    buf_fini(&f.authz);
}

static void test_old_date_is_skewed_with_aws_message(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f, "20150830T123600Z");
    fixture_sign(&f, "secret");
    struct sigv4_auth auth;
    struct err_info err;
    assert_int_equal(sigv4_parse(&f.req, &auth, &err), 0);
    /* 15 minutes exactly is still accepted */
    assert_int_equal(sigv4_verify(&f.req, &auth, "secret", SUITE_NOW_MS + 15 * 60000, NULL, &err),
                     0);
    assert_int_equal(sigv4_verify(&f.req, &auth, "secret", SUITE_NOW_MS + 30 * 60000, NULL, &err),
                     SL_E(AUTH_SKEWED));
    assert_string_equal(err.message, "Signature expired: 20150830T123600Z is now earlier than "
                                     "20150830T125100Z (20150830T130600Z - 15 min.)");
    buf_fini(&f.authz);
}

static void test_future_date_is_skewed(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f, "20150830T123600Z");
    fixture_sign(&f, "secret");
    struct sigv4_auth auth;
    struct err_info err;
    assert_int_equal(sigv4_parse(&f.req, &auth, &err), 0);
    assert_int_equal(sigv4_verify(&f.req, &auth, "secret", SUITE_NOW_MS - 20 * 60000, NULL, &err),
                     SL_E(AUTH_SKEWED));
    assert_string_equal(err.message, "Signature not yet current: 20150830T123600Z is still later "
                                     "than 20150830T123100Z (20150830T121600Z + 15 min.)");
    buf_fini(&f.authz);
}

static void test_unsigned_host_is_rejected(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f, "20150830T123600Z");
    /* sign without the Host header, then add it */
    f.headers[0] = (struct sigv4_header){"X-Amz-Date", "20150830T123600Z"};
    f.n_headers = 1;
    f.req.n_headers = 1;
    buf_reset(&f.authz);
    assert_int_equal(sigv4_sign(&f.req, "AKIDEXAMPLE", "secret", "20150830T123600Z", "us-east-1",
                                "kinesis", &f.authz),
                     0);
    f.headers[1] = (struct sigv4_header){"Host", "example.amazonaws.com"};
    f.n_headers = 2;
    fixture_set_authz(&f, (const char *)f.authz.data);
    struct sigv4_auth auth;
    struct err_info err;
    assert_int_equal(sigv4_parse(&f.req, &auth, &err), 0);
    assert_int_equal(sigv4_verify(&f.req, &auth, "secret", SUITE_NOW_MS, NULL, &err),
                     SL_E(AUTH_MALFORMED));
    assert_non_null(strstr(err.message, "'Host' or ':authority' must be a 'SignedHeader'"));
    buf_fini(&f.authz);
}

static void test_scope_date_must_match_request_date(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f, "20150830T123600Z");
    fixture_set_authz(&f, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150831/us-east-1/kinesis/"
                          "aws4_request, SignedHeaders=host;x-amz-date, Signature=" EMPTY_SHA);
    struct sigv4_auth auth;
    struct err_info err;
    assert_int_equal(sigv4_parse(&f.req, &auth, &err), 0);
    assert_int_equal(sigv4_verify(&f.req, &auth, "secret", SUITE_NOW_MS, NULL, &err),
                     SL_E(AUTH_MALFORMED));
    assert_string_equal(err.message,
                        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version "
                        "of date from HTTP: '20150831' != '20150830', from '20150830T123600Z'.");
    buf_fini(&f.authz);
}

static void test_date_header_is_used_without_x_amz_date(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f, "20150830T123600Z");
    f.headers[1] = (struct sigv4_header){"Date", "Sun, 30 Aug 2015 12:36:00 GMT"};
    buf_reset(&f.authz);
    assert_int_equal(sigv4_sign(&f.req, "AKIDEXAMPLE", "secret", "20150830T123600Z", "us-east-1",
                                "kinesis", &f.authz),
                     0);
    fixture_set_authz(&f, (const char *)f.authz.data);
    struct sigv4_auth auth;
    struct err_info err;
    assert_int_equal(sigv4_parse(&f.req, &auth, &err), 0);
    assert_string_equal(auth.amz_date, "20150830T123600Z");
    assert_int_equal(sigv4_verify(&f.req, &auth, "secret", SUITE_NOW_MS, NULL, &err), 0);
    buf_fini(&f.authz);
}

static void test_security_token_header_is_captured(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f, "20150830T123600Z");
    f.headers[2] = (struct sigv4_header){"X-Amz-Security-Token", "token123"};
    f.n_headers = 3;
    f.req.n_headers = 3;
    fixture_sign(&f, "secret");
    struct sigv4_auth auth;
    struct err_info err;
    assert_int_equal(sigv4_parse(&f.req, &auth, &err), 0);
    assert_string_equal(auth.security_token, "token123");
    buf_fini(&f.authz);
}

/* Canonical request of method/path/query with only host signed. */
static void canonical_of(const char *path, const char *query, int s3, struct buf *out)
{
    struct sigv4_header h[1] = {{"Host", "h"}};
    struct sigv4_request req = {.method = "GET",
                                .path = path,
                                .query = query,
                                .headers = h,
                                .n_headers = 1,
                                .payload_hash = "UNSIGNED-PAYLOAD",
                                .s3 = s3};
    struct sigv4_auth auth;
    memset(&auth, 0, sizeof(auth));
    strcpy(auth.signed_headers, "host");
    buf_reset(out);
    assert_int_equal(sigv4_canonical_request(&req, &auth, out), 0);
}

static void test_s3_path_is_used_as_sent_and_others_double_encoded(void **state)
{
    (void)state;
    struct buf out;
    buf_init(&out);
    canonical_of("/bucket/a%20b/./c", "", 1, &out);
    assert_string_equal((char *)out.data,
                        "GET\n/bucket/a%20b/./c\n\nhost:h\n\nhost\nUNSIGNED-PAYLOAD");
    canonical_of("/bucket/a%20b/./c", "", 0, &out);
    assert_string_equal((char *)out.data,
                        "GET\n/bucket/a%2520b/c\n\nhost:h\n\nhost\nUNSIGNED-PAYLOAD");
    canonical_of("/bucket/key with space", "", 1, &out);
    assert_string_equal((char *)out.data,
                        "GET\n/bucket/key%20with%20space\n\nhost:h\n\nhost\nUNSIGNED-PAYLOAD");
    canonical_of("/a/b/../../..", "", 0, &out);
    assert_string_equal((char *)out.data, "GET\n/\n\nhost:h\n\nhost\nUNSIGNED-PAYLOAD");
    buf_fini(&out);
}

static void test_query_is_decoded_reencoded_and_sorted(void **state)
{
    (void)state;
    struct buf out;
    buf_init(&out);
    /* '+' is a space in a query (core/text.h), as the operation reads it; "%2B" a '+'. */
    canonical_of("/", "b=2&a=1&a=0&c&x=a/b&y=%7e%2f&&z=a%20b+c%2B", 1, &out);
    assert_string_equal((char *)out.data,
                        "GET\n/\na=0&a=1&b=2&c=&x=a%2Fb&y=~%2F&z=a%20b%20c%2B\n"
                        "host:h\n\nhost\nUNSIGNED-PAYLOAD");
    /* sorted by name before value: "a-b" sorts before "a" + "=" would */
    canonical_of("/", "a=2&a-b=1", 1, &out);
    assert_string_equal((char *)out.data, "GET\n/\na=2&a-b=1\nhost:h\n\nhost\nUNSIGNED-PAYLOAD");
    buf_fini(&out);
}

/* AWS S3 documentation, "Example: GET Object" (header-based auth). */
static void test_s3_get_object_example(void **state)
{
    (void)state;
    struct sigv4_header h[5] = {
        {"Host", "examplebucket.s3.amazonaws.com"},
        {"Range", "bytes=0-9"},
        {"x-amz-content-sha256", EMPTY_SHA},
        {"x-amz-date", "20130524T000000Z"},
        {"Authorization", "AWS4-HMAC-SHA256 "
                          "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                          "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
                          "Signature="
                          "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"},
    };
    struct sigv4_request req = {.method = "GET",
                                .path = "/test.txt",
                                .query = "",
                                .headers = h,
                                .n_headers = 5,
                                .payload_hash = EMPTY_SHA,
                                .s3 = 1};
    struct sigv4_auth auth;
    struct err_info err;
    assert_int_equal(sigv4_parse(&req, &auth, &err), 0);
    assert_string_equal(auth.access_key_id, "AKIAIOSFODNN7EXAMPLE");
    assert_string_equal(auth.service, "s3");
    assert_int_equal(sigv4_verify(&req, &auth, S3_SECRET, S3_NOW_MS, NULL, &err), 0);
}

/* AWS S3 documentation, "Example: presigned URL" (query-string auth). */
static void test_s3_presigned_url_example(void **state)
{
    (void)state;
    struct sigv4_header h[1] = {{"Host", "examplebucket.s3.amazonaws.com"}};
    struct sigv4_request req = {
        .method = "GET",
        .path = "/test.txt",
        .query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
                 "AKIAIOSFODNN7EXAMPLE%2F"
                 "20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date="
                 "20130524T000000Z&"
                 "X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature="
                 "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
        .headers = h,
        .n_headers = 1,
        .payload_hash = "UNSIGNED-PAYLOAD",
        .s3 = 1};
    struct sigv4_auth auth;
    struct err_info err;
    assert_int_equal(sigv4_parse(&req, &auth, &err), 0);
    assert_int_equal(auth.presigned, 1);
    assert_int_equal(auth.expires_s, 86400);
    assert_string_equal(auth.scope, "20130524/us-east-1/s3/aws4_request");
    assert_int_equal(sigv4_verify(&req, &auth, S3_SECRET, S3_NOW_MS + 3600 * 1000LL, NULL, &err),
                     0);
    /* a day later plus one second it has expired */
    assert_int_equal(sigv4_verify(&req, &auth, S3_SECRET, S3_NOW_MS + 86401 * 1000LL, NULL, &err),
                     SL_E(AUTH_EXPIRED));
    assert_string_equal(err.message, "Request has expired");
    /* a changed parameter breaks it */
    req.query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%"
                "2F"
                "20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&"
                "X-Amz-Expires=86401&X-Amz-SignedHeaders=host&X-Amz-Signature="
                "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
    assert_int_equal(sigv4_parse(&req, &auth, &err), 0);
    assert_int_equal(sigv4_verify(&req, &auth, S3_SECRET, S3_NOW_MS, NULL, &err),
                     SL_E(AUTH_BAD_SIGNATURE));
}

static void test_presigned_expiry_over_a_week_is_malformed(void **state)
{
    (void)state;
    struct sigv4_header h[1] = {{"Host", "examplebucket.s3.amazonaws.com"}};
    struct sigv4_request req = {
        .method = "GET",
        .path = "/test.txt",
        .query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
                 "AKIAIOSFODNN7EXAMPLE%2F"
                 "20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date="
                 "20130524T000000Z&"
                 "X-Amz-Expires=604801&X-Amz-SignedHeaders=host&X-Amz-Signature="
                 "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
        .headers = h,
        .n_headers = 1,
        .payload_hash = "UNSIGNED-PAYLOAD",
        .s3 = 1};
    struct sigv4_auth auth;
    struct err_info err;
    assert_int_equal(sigv4_parse(&req, &auth, &err), SL_E(AUTH_MALFORMED));
    assert_string_equal(err.message,
                        "X-Amz-Expires must be less than a week (in seconds) that is 604800");
    /* and a presigned URL missing its signature is malformed */
    req.query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%"
                "2F"
                "20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&"
                "X-Amz-Expires=60&X-Amz-SignedHeaders=host";
    assert_int_equal(sigv4_parse(&req, &auth, &err), SL_E(AUTH_MALFORMED));
}

/* AWS S3 documentation, "Example: PUT Object" in chunked upload: the seed
   signature of the headers, then the chained signatures of a 64 KiB chunk, a 1
   KiB chunk and the final empty chunk. */
static void test_s3_chunked_upload_example(void **state)
{
    (void)state;
    struct sigv4_header h[7] = {
        {"Host", "s3.amazonaws.com"},
        {"x-amz-date", "20130524T000000Z"},
        {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
        {"x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"},
        {"Content-Encoding", "aws-chunked"},
        {"x-amz-decoded-content-length", "66560"},
        {"Content-Length", "66824"},
    };
    struct sigv4_request req = {.method = "PUT",
                                .path = "/examplebucket/chunkObject.txt",
                                .query = "",
                                .headers = h,
                                .n_headers = 7,
                                .payload_hash = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                                .s3 = 1};
    struct buf authz;
    buf_init(&authz);
    assert_int_equal(sigv4_sign(&req, "AKIAIOSFODNN7EXAMPLE", S3_SECRET, "20130524T000000Z",
                                "us-east-1", "s3", &authz),
                     0);
    assert_string_equal((char *)authz.data,
                        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
                        "aws4_request, SignedHeaders=content-encoding;content-length;host;"
                        "x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
                        "x-amz-storage-class, Signature="
                        "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9");
    buf_fini(&authz);

    uint8_t key[32];
    sigv4_signing_key(S3_SECRET, "20130524", "us-east-1", "s3", key);
    const char *scope = "20130524/us-east-1/s3/aws4_request";
    static char data[65536];
    memset(data, 'a', sizeof(data));
    uint8_t digest[32];
    char hash[65], sig1[65], sig2[65], sig3[65];
    crypto_sha256(data, 65536, digest);
    hex_encode(digest, 32, hash);
    sigv4_chunk_signature(key, "20130524T000000Z", scope,
                          "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9", hash,
                          sig1);
    assert_string_equal(sig1, "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648");
    crypto_sha256(data, 1024, digest);
    hex_encode(digest, 32, hash);
    sigv4_chunk_signature(key, "20130524T000000Z", scope, sig1, hash, sig2);
    assert_string_equal(sig2, "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497");
    sigv4_chunk_signature(key, "20130524T000000Z", scope, sig2, EMPTY_SHA, sig3);
    assert_string_equal(sig3, "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9");
}

static void test_trailer_signature_covers_trailer_string(void **state)
{
    (void)state;
    uint8_t key[32];
    sigv4_signing_key(S3_SECRET, "20130524", "us-east-1", "s3", key);
    const char *prev = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9";
    const char *trailer = "x-amz-checksum-crc32c:sOO8/Q==\n";
    uint8_t digest[32];
    char hash[65], sig[65], expect[65];
    crypto_sha256(trailer, strlen(trailer), digest);
    hex_encode(digest, 32, hash);
    sigv4_trailer_signature(key, "20130524T000000Z", "20130524/us-east-1/s3/aws4_request", prev,
                            hash, sig);
    char sts[512];
    snprintf(sts, sizeof(sts),
             "AWS4-HMAC-SHA256-TRAILER\n20130524T000000Z\n20130524/us-east-1/s3/"
             "aws4_request\n"
             "%s\n%s",
             prev, hash);
    uint8_t mac[32];
    crypto_hmac_sha256(key, 32, sts, strlen(sts), mac);
    hex_encode(mac, 32, expect);
    assert_string_equal(sig, expect);
    /* a different previous signature gives a different result */
    sigv4_trailer_signature(key, "20130524T000000Z", "20130524/us-east-1/s3/aws4_request", hash,
                            hash, sig);
    assert_string_not_equal(sig, expect);
}

/* Requests signed by botocore (boto3's signer) at 20150830T123600Z with the suite's key:
   a presigned STS call (non-S3 presigned URLs sign the body's hash, not
   UNSIGNED-PAYLOAD), and S3 requests for a key with a space, '+', '=', a non-ASCII
   character, '~' and '!', which botocore percent-encodes in the path it sends. */
static void test_botocore_presigned_sts_call_verifies(void **state)
{
    (void)state;
    struct sigv4_header h[1] = {{"Host", "sts.amazonaws.com"}};
    struct sigv4_request req = {
        .method = "GET",
        .path = "/",
        .query = "Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&"
                 "X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fsts%2Faws4_request&"
                 "X-Amz-Date=20150830T123600Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&"
                 "X-Amz-Signature=e8d7e61248a0d11a99b5981a6802d73250938b6d2c6f32f9a6b8a331d25ef4b1",
        .headers = h,
        .n_headers = 1,
        .payload_hash = EMPTY_SHA,
        .s3 = 0};
    struct sigv4_auth auth;
    struct err_info err;
    assert_int_equal(sigv4_parse(&req, &auth, &err), 0);
    assert_int_equal(auth.presigned, 1);
    assert_int_equal(auth.expires_s, 900);
    assert_int_equal(sigv4_verify(&req, &auth, SUITE_SECRET, SUITE_NOW_MS, NULL, &err), 0);
    /* UNSIGNED-PAYLOAD is S3's rule only */
    req.payload_hash = "UNSIGNED-PAYLOAD";
    assert_int_equal(sigv4_verify(&req, &auth, SUITE_SECRET, SUITE_NOW_MS, NULL, &err),
                     SL_E(AUTH_BAD_SIGNATURE));
}

static void test_botocore_s3_requests_for_odd_key_verify(void **state)
{
    (void)state;
    struct sigv4_header h[4] = {{"Host", "examplebucket.s3.amazonaws.com"}};
    struct sigv4_request req = {
        .method = "GET",
        .path = "/dir/a%20b%2Bc%3D%E1%88%B4~%21.txt",
        .query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2F"
                 "us-east-1%2Fs3%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=3600&"
                 "X-Amz-SignedHeaders=host&X-Amz-Signature="
                 "89aee948fce59c74bcb15ec8c18f8c0223de924ac8a9dc331cfbf3d806bd1c25",
        .headers = h,
        .n_headers = 1,
        .payload_hash = "UNSIGNED-PAYLOAD",
        .s3 = 1};
    struct sigv4_auth auth;
    struct err_info err;
    assert_int_equal(sigv4_parse(&req, &auth, &err), 0);
    assert_int_equal(sigv4_verify(&req, &auth, SUITE_SECRET, SUITE_NOW_MS, NULL, &err), 0);

    const char *body_sha = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    h[1] = (struct sigv4_header){"X-Amz-Date", "20150830T123600Z"};
    h[2] = (struct sigv4_header){"X-Amz-Content-SHA256", body_sha};
    h[3] = (struct sigv4_header){
        "Authorization",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
        "Signature=3d1a7278eeac82b8e9250d399664d8249290e07becdce5a7f3d459b6d46dd8cb"};
    req.method = "PUT";
    req.query = "uploadId=x%2By&partNumber=2";
    req.n_headers = 4;
    req.payload_hash = body_sha;
    assert_int_equal(sigv4_parse(&req, &auth, &err), 0);
    assert_int_equal(sigv4_verify(&req, &auth, SUITE_SECRET, SUITE_NOW_MS, NULL, &err), 0);
}

/* ---- hostile clients: dates, windows, scopes ---- */

/* sigv4_parse's answer for a request signed with a Date header of value date. */
static int parse_with_date_header(const char *date, struct err_info *err)
{
    struct fixture f;
    fixture_init(&f, "20150830T123600Z");
    f.headers[1] = (struct sigv4_header){"Date", date};
    fixture_set_authz(&f, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kinesis/"
                          "aws4_request, SignedHeaders=date;host, Signature=" EMPTY_SHA);
    struct sigv4_auth auth;
    int rc = sigv4_parse(&f.req, &auth, err);
    buf_fini(&f.authz);
    return rc;
}

static void test_date_header_is_parsed_strictly(void **state)
{
    (void)state;
    struct err_info err;
    assert_int_equal(parse_with_date_header("Sun, 30 Aug 2015 12:36:00 GMT", &err), 0);
    assert_int_equal(parse_with_date_header("Sat, 29 Feb 2020 23:59:59 GMT", &err), 0);
    static const char *const bad[] = {
        "Sun, 30 Aug 2015 12:36:00 GMTX", /* trailing bytes */
        "Sun, 30 Aug 2015 12:36:00 GMT ", /* trailing space */
        "Sun,30 Aug 2015 12:36:00 GMT",   /* missing space */
        "Sun, 30 Aug 15 12:36:00 GMT",    /* two-digit year */
        "Sun, +30 Aug 2015 12:36:00 GMT", /* signed number */
        "Sun, 30 Aug 2015 12:36:0 GMT",   /* one-digit second */
        "Sun,  30 Aug 2015 12:36:00 GMT", /* extra space */
        "Tue, 31 Feb 2015 12:36:00 GMT",  /* no such day */
        "Sun, 29 Feb 2015 12:36:00 GMT",  /* 2015 is not a leap year */
        "Mon, 30 Aug 2015 12:36:00 GMT",  /* wrong weekday */
        "Sun, 30 aug 2015 12:36:00 GMT",  /* month names are capitalised */
        "Sun, 30 Aug 2015 24:00:00 GMT",  /* no hour 24 */
        "Sun, 30 Aug 2015 12:36:00 UTC",  /* GMT only */
        "Sunday, 30-Aug-15 12:36:00 GMT", /* RFC 850 */
        "Sun Aug 30 12:36:00 2015",       /* asctime */
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        print_message("Date: '%s'\n", bad[i]);
        assert_int_equal(parse_with_date_header(bad[i], &err), SL_E(AUTH_MALFORMED));
        assert_non_null(strstr(err.message, "RFC 1123"));
    }
}

static void test_amz_date_of_a_day_that_does_not_exist_is_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {"20150231T000000Z", "20150229T000000Z", "20150431T000000Z",
                                      "20150830T123600z", "20150830T12360Z0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct fixture f;
        fixture_init(&f, bad[i]);
        fixture_set_authz(&f, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/"
                              "kinesis/aws4_request, SignedHeaders=host, Signature=" EMPTY_SHA);
        struct sigv4_auth auth;
        struct err_info err;
        print_message("X-Amz-Date: '%s'\n", bad[i]);
        assert_int_equal(sigv4_parse(&f.req, &auth, &err), SL_E(AUTH_MALFORMED));
        buf_fini(&f.authz);
    }
}

/* Appends "&X-Amz-Signature=<hex>" to query (a presigned query without its signature)
   for req, signed with secret. */
static void presign_query(struct sigv4_request *req, const char *secret, struct buf *query)
{
    struct buf with_dummy;
    buf_init(&with_dummy);
    buf_printf(&with_dummy, "%s&X-Amz-Signature=%s", (const char *)query->data, EMPTY_SHA);
    req->query = (const char *)with_dummy.data;
    struct sigv4_auth auth;
    struct err_info err;
    assert_int_equal(sigv4_parse(req, &auth, &err), 0);
    struct buf creq, sts;
    buf_init(&creq);
    buf_init(&sts);
    assert_int_equal(sigv4_canonical_request(req, &auth, &creq), 0);
    assert_int_equal(sigv4_string_to_sign(&auth, (const char *)creq.data, creq.len, &sts), 0);
    uint8_t key[32], mac[SHA256_LEN];
    sigv4_signing_key(secret, auth.date, auth.region, auth.service, key);
    crypto_hmac_sha256(key, sizeof(key), sts.data, sts.len, mac);
    char hex[2 * SHA256_LEN + 1];
    hex_encode(mac, SHA256_LEN, hex);
    buf_printf(query, "&X-Amz-Signature=%s", hex);
    req->query = (const char *)query->data;
    buf_fini(&sts);
    buf_fini(&creq);
    buf_fini(&with_dummy);
}

/* A week-old query-signed Kinesis call without X-Amz-Expires is refused like a week-old
   header-signed one; with X-Amz-Expires it lives that long and no longer. */
static void test_presigned_call_without_expires_is_held_to_skew_window(void **state)
{
    (void)state;
    struct sigv4_header h[1] = {{"Host", "kinesis.us-east-1.amazonaws.com"}};
    struct sigv4_request req = {.method = "POST",
                                .path = "/",
                                .headers = h,
                                .n_headers = 1,
                                .payload_hash = EMPTY_SHA,
                                .s3 = 0};
    struct buf query;
    buf_init(&query);
    buf_puts(&query, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830"
                     "%2Fus-east-1%2Fkinesis%2Faws4_request&X-Amz-Date=20150830T123600Z&"
                     "X-Amz-SignedHeaders=host");
    presign_query(&req, SUITE_SECRET, &query);
    struct sigv4_auth auth;
    struct err_info err;
    assert_int_equal(sigv4_parse(&req, &auth, &err), 0);
    assert_int_equal(auth.presigned, 1);
    assert_int_equal(auth.expires_s, -1);
    const int64_t minute_ms = 60 * 1000;
    assert_int_equal(
        sigv4_verify(&req, &auth, SUITE_SECRET, SUITE_NOW_MS + 14 * minute_ms, NULL, &err), 0);
    assert_int_equal(
        sigv4_verify(&req, &auth, SUITE_SECRET, SUITE_NOW_MS + 16 * minute_ms, NULL, &err),
        SL_E(AUTH_SKEWED));
    assert_non_null(strstr(err.message, "Signature expired: 20150830T123600Z is now earlier than"));
    assert_int_equal(
        sigv4_verify(&req, &auth, SUITE_SECRET, SUITE_NOW_MS + 7 * 24 * 60 * minute_ms, NULL, &err),
        SL_E(AUTH_SKEWED));

    buf_reset(&query);
    buf_puts(&query, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830"
                     "%2Fus-east-1%2Fkinesis%2Faws4_request&X-Amz-Date=20150830T123600Z&"
                     "X-Amz-Expires=3600&X-Amz-SignedHeaders=host");
    presign_query(&req, SUITE_SECRET, &query);
    assert_int_equal(sigv4_parse(&req, &auth, &err), 0);
    assert_int_equal(auth.expires_s, 3600);
    assert_int_equal(
        sigv4_verify(&req, &auth, SUITE_SECRET, SUITE_NOW_MS + 59 * minute_ms, NULL, &err), 0);
    assert_int_equal(
        sigv4_verify(&req, &auth, SUITE_SECRET, SUITE_NOW_MS + 61 * minute_ms, NULL, &err),
        SL_E(AUTH_EXPIRED));
    /* nor is a URL dated ahead of the clock by more than the skew usable early */
    assert_int_equal(
        sigv4_verify(&req, &auth, SUITE_SECRET, SUITE_NOW_MS - 16 * minute_ms, NULL, &err),
        SL_E(AUTH_SKEWED));
    assert_non_null(strstr(err.message, "Signature not yet current"));
    buf_fini(&query);
}

/* AWS's S3 presigned example, used before its X-Amz-Date: within the skew it works, past
   it S3 answers "Request is not yet valid". */
static void test_s3_presigned_url_from_the_future_is_not_yet_valid(void **state)
{
    (void)state;
    struct sigv4_header h[1] = {{"Host", "examplebucket.s3.amazonaws.com"}};
    struct sigv4_request req = {
        .method = "GET",
        .path = "/test.txt",
        .query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
                 "AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date="
                 "20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature="
                 "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
        .headers = h,
        .n_headers = 1,
        .payload_hash = "UNSIGNED-PAYLOAD",
        .s3 = 1};
    struct sigv4_auth auth;
    struct err_info err;
    assert_int_equal(sigv4_parse(&req, &auth, &err), 0);
    assert_int_equal(sigv4_verify(&req, &auth, S3_SECRET, S3_NOW_MS - 14 * 60 * 1000LL, NULL, &err),
                     0);
    assert_int_equal(sigv4_verify(&req, &auth, S3_SECRET, S3_NOW_MS - 16 * 60 * 1000LL, NULL, &err),
                     SL_E(AUTH_EXPIRED));
    assert_string_equal(err.message, "Request is not yet valid");
}

static void test_expires_must_be_a_number_of_seconds_up_to_a_week(void **state)
{
    (void)state;
    struct sigv4_header h[1] = {{"Host", "examplebucket.s3.amazonaws.com"}};
    struct sigv4_request req = {.method = "GET",
                                .path = "/test.txt",
                                .headers = h,
                                .n_headers = 1,
                                .payload_hash = "UNSIGNED-PAYLOAD",
                                .s3 = 1};
    static const struct {
        const char *expires;
        int rc;
        const char *message;
    } cases[] = {
        {"604800", 0, NULL},
        {"0", 0, NULL},
        {"604801", SL_E(AUTH_MALFORMED),
         "X-Amz-Expires must be less than a week (in seconds) that is 604800"},
        {"99999999999999999999", SL_E(AUTH_MALFORMED),
         "X-Amz-Expires must be less than a week (in seconds) that is 604800"},
        {"-1", SL_E(AUTH_MALFORMED), "X-Amz-Expires must be non-negative"},
        {"60s", SL_E(AUTH_MALFORMED), "X-Amz-Expires should be a number"},
        {"", SL_E(AUTH_MALFORMED), "X-Amz-Expires should be a number"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char query[512];
        snprintf(query, sizeof(query),
                 "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%%2F"
                 "20130524%%2Fus-east-1%%2Fs3%%2Faws4_request&X-Amz-Date=20130524T000000Z&"
                 "X-Amz-Expires=%s&X-Amz-SignedHeaders=host&X-Amz-Signature=%s",
                 cases[i].expires, EMPTY_SHA);
        req.query = query;
        struct sigv4_auth auth;
        struct err_info err;
        print_message("X-Amz-Expires=%s\n", cases[i].expires);
        assert_int_equal(sigv4_parse(&req, &auth, &err), cases[i].rc);
        if (cases[i].message != NULL) {
            assert_string_equal(err.message, cases[i].message);
        }
    }
}

/* The scope's region must be the server's and its service the one routed to, with the
   words AWS uses for each protocol. */
static void test_scope_must_name_server_region_and_routed_service(void **state)
{
    (void)state;
    struct sigv4_auth auth;
    memset(&auth, 0, sizeof(auth));
    snprintf(auth.region, sizeof(auth.region), "us-east-1");
    snprintf(auth.service, sizeof(auth.service), "kinesis");
    struct err_info err;
    assert_int_equal(sigv4_check_scope(&auth, 0, "kinesis", "us-east-1", &err), 0);
    assert_int_equal(sigv4_check_scope(&auth, 0, NULL, "us-east-1", &err), 0);
    assert_int_equal(sigv4_check_scope(&auth, 0, "glue", "us-east-1", &err),
                     SL_E(AUTH_BAD_SIGNATURE));
    assert_string_equal(err.message, "Credential should be scoped to correct service: 'glue'. ");
    assert_int_equal(sigv4_check_scope(&auth, 0, "kinesis", "eu-west-3", &err),
                     SL_E(AUTH_BAD_SIGNATURE));
    assert_string_equal(err.message,
                        "Credential should be scoped to a valid region, not 'us-east-1'. ");
    /* S3: header and query forms */
    assert_int_equal(sigv4_check_scope(&auth, 1, "s3", "us-east-1", &err), SL_E(AUTH_MALFORMED));
    assert_string_equal(err.message, "The authorization header is malformed; incorrect service "
                                     "\"kinesis\". This endpoint belongs to \"s3\".");
    snprintf(auth.service, sizeof(auth.service), "s3");
    snprintf(auth.region, sizeof(auth.region), "mars-north-1");
    assert_int_equal(sigv4_check_scope(&auth, 1, "s3", "us-east-1", &err), SL_E(AUTH_MALFORMED));
    assert_string_equal(err.message, "The authorization header is malformed; the region "
                                     "'mars-north-1' is wrong; expecting 'us-east-1'");
    auth.presigned = 1;
    assert_int_equal(sigv4_check_scope(&auth, 1, "s3", "us-east-1", &err), SL_E(AUTH_MALFORMED));
    assert_string_equal(err.message, "Error parsing the X-Amz-Credential parameter; the region "
                                     "'mars-north-1' is wrong; expecting 'us-east-1'");
}

/* The key derived last is kept per thread: another secret or scope gets its own key,
   and coming back to the first gives the first again. AWS's documented example key. */
static void test_signing_keys_follow_secret_and_scope(void **state)
{
    (void)state;
    static const char secret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    uint8_t a[32], b[32], c[32], again[32];
    sigv4_signing_key(secret, "20150830", "us-east-1", "iam", a);
    char hex[65];
    hex_encode(a, 32, hex);
    assert_string_equal(hex, "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
    sigv4_signing_key("another-secret", "20150830", "us-east-1", "iam", b);
    assert_memory_not_equal(a, b, 32);
    sigv4_signing_key(secret, "20150831", "us-east-1", "iam", c);
    assert_memory_not_equal(a, c, 32);
    sigv4_signing_key(secret, "20150830", "us-east-1", "iam", again);
    assert_memory_equal(a, again, 32);
    sigv4_signing_key(secret, "20150830", "us-east-1", "iam", again);
    assert_memory_equal(a, again, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_published_vector_verifies),
        cmocka_unit_test(test_signing_keys_follow_secret_and_scope),
        cmocka_unit_test(test_missing_auth_is_reported_as_missing),
        cmocka_unit_test(test_header_without_credential_names_what_is_missing),
        cmocka_unit_test(test_header_without_date_names_date),
        cmocka_unit_test(test_credential_with_four_parts_is_malformed),
        cmocka_unit_test(test_credential_with_wrong_terminator_is_malformed),
        cmocka_unit_test(test_other_algorithm_is_not_supported),
        cmocka_unit_test(test_signature_of_wrong_length_is_malformed),
        cmocka_unit_test(test_bad_amz_date_is_malformed),
        cmocka_unit_test(test_header_and_query_auth_together_are_rejected),
        cmocka_unit_test(test_signed_request_round_trips),
        cmocka_unit_test(test_old_date_is_skewed_with_aws_message),
        cmocka_unit_test(test_future_date_is_skewed),
        cmocka_unit_test(test_unsigned_host_is_rejected),
        cmocka_unit_test(test_scope_date_must_match_request_date),
        cmocka_unit_test(test_date_header_is_used_without_x_amz_date),
        cmocka_unit_test(test_security_token_header_is_captured),
        cmocka_unit_test(test_s3_path_is_used_as_sent_and_others_double_encoded),
        cmocka_unit_test(test_query_is_decoded_reencoded_and_sorted),
        cmocka_unit_test(test_s3_get_object_example),
        cmocka_unit_test(test_s3_presigned_url_example),
        cmocka_unit_test(test_presigned_expiry_over_a_week_is_malformed),
        cmocka_unit_test(test_s3_chunked_upload_example),
        cmocka_unit_test(test_trailer_signature_covers_trailer_string),
        cmocka_unit_test(test_botocore_presigned_sts_call_verifies),
        cmocka_unit_test(test_botocore_s3_requests_for_odd_key_verify),
        cmocka_unit_test(test_date_header_is_parsed_strictly),
        cmocka_unit_test(test_amz_date_of_a_day_that_does_not_exist_is_malformed),
        cmocka_unit_test(test_presigned_call_without_expires_is_held_to_skew_window),
        cmocka_unit_test(test_s3_presigned_url_from_the_future_is_not_yet_valid),
        cmocka_unit_test(test_expires_must_be_a_number_of_seconds_up_to_a_week),
        cmocka_unit_test(test_scope_must_name_server_region_and_routed_service),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
