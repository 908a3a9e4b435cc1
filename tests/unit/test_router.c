/*
 * Tests of the front end's router (src/http/router.c) without a socket: requests are
 * built as the server builds them (struct http_exchange), signed with SigV4 by the
 * client-side signer, routed (X-Amz-Target, the SigV4 scope's service, else the
 * rest-xml service), authenticated against a fake key lookup and dispatched to fake
 * services; the tests read the rendered responses and the three error shapes (awsJson,
 * awsQuery, rest-xml) byte for byte. The last tests fail the N-th may-fail allocation
 * for every N across a request: each run ends in an answer, never an abort.
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
#include "core/clock.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "http/http_int.h"
#include "http/sigv4.h"

#define AKID "AKIDROUTERTEST000001"
#define SECRET "router/test/secret/0123456789abcdefghij"
#define EXPIRED_AKID "ASIAROUTEREXPIRED001"
#define USER_AKID "AKIAROUTERUSER000001"
#define ACCOUNT "123456789012"
#define STS_NS "https://sts.amazonaws.com/doc/2011-06-15/"

/* ---- fake services ---- */

static int json_echo(struct api_call *call, json_t *input, json_t **output)
{
    (void)call;
    *output = json_incref(input);
    return 0;
}

static int json_fail(struct api_call *call, json_t *input, json_t **output)
{
    (void)input;
    (void)output;
    return err_set(&call->err, SL_E(VALIDATION), "bad \"input\"");
}

static const struct api_json_op json_ops[] = {
    {"Echo", json_echo, NULL},
    {"Fail", json_fail, NULL},
};
static const char *const cbor_blobs[] = {"Data", NULL};
static const char *const cbor_epochs[] = {"At", NULL};
static const struct api_json_service json_svc = {
    .signing_name = "kinesis",
    .target_prefix = "Kinesis_20131202",
    .json_version = "1.1",
    .ops = json_ops,
    .n_ops = 2,
    .cbor_blob_members = cbor_blobs,
    .cbor_epoch_members = cbor_epochs,
};

/* Writes every field as <P><N>name</N><V>value</V></P>, in order. */
static int query_echo(struct api_call *call, const struct api_params *params, struct buf *result)
{
    (void)call;
    for (size_t i = 0; i < api_params_count(params); i++) {
        const char *n = api_params_name(params, i), *v = api_params_value(params, i);
        buf_puts(result, "<P><N>");
        buf_xml_escape(result, n, strlen(n));
        buf_puts(result, "</N><V>");
        buf_xml_escape(result, v, strlen(v));
        buf_puts(result, "</V></P>");
    }
    return buf_status(result);
}

static const struct api_query_op query_ops[] = {{"Echo", query_echo}};
static const struct api_query_service query_svc = {
    .signing_name = "sts",
    .xmlns = STS_NS,
    .ops = query_ops,
    .n_ops = 1,
};

/* "/ok" answers 200 "ok"; "/missing" fails with a resource to name; else 501. */
static int rest_handle(struct api_call *call)
{
    if (strcmp(call->req->path, "/ok") == 0) {
        buf_puts(&call->resp->body,
                 call->req->principal_kind == HTTP_PRINCIPAL_ANONYMOUS ? "anonymous" : "ok");
        return 0;
    }
    if (strcmp(call->req->path, "/missing") == 0) {
        call->resource = "/b/a&b";
        return err_set(&call->err, SL_E(NO_SUCH_KEY), "The key <a\rb> does not exist.");
    }
    return err_set(&call->err, SL_E(UNKNOWN_OPERATION), "no such route");
}

static const struct api_rest_service rest_svc = {.signing_name = "s3", .handle = rest_handle};

static int lookup(void *arg, const char *access_key_id, const char *token, int64_t now_ms,
                  char *secret_out, size_t secret_size, struct http_principal *who)
{
    (void)arg;
    (void)token;
    (void)now_ms;
    if (strcmp(access_key_id, EXPIRED_AKID) == 0) {
        return SL_E(AUTH_EXPIRED); /* a temporary key past its expiration */
    }
    if (strcmp(access_key_id, USER_AKID) == 0) {
        snprintf(secret_out, secret_size, "%s", SECRET);
        who->kind = HTTP_PRINCIPAL_USER;
        snprintf(who->arn, sizeof(who->arn), "arn:aws:iam::" ACCOUNT ":user/u");
        snprintf(who->account, sizeof(who->account), "%s", ACCOUNT);
        return 0;
    }
    if (strcmp(access_key_id, AKID) != 0) {
        return SL_E(AUTH_UNKNOWN_KEY);
    }
    snprintf(secret_out, secret_size, "%s", SECRET);
    snprintf(who->account, sizeof(who->account), "%s", ACCOUNT);
    return 0;
}

/* What the authorization hook was last asked; it refuses every user. */
static char asked[128];

static int authorize(void *arg, const struct api_request *req, const char *service,
                     const char *operation, const struct api_params *params, struct err_info *err)
{
    (void)arg;
    snprintf(asked, sizeof(asked), "%s:%s:%s", service, operation,
             params != NULL && api_params_get(params, "Action") ? "params" : "-");
    if (req->principal_kind == HTTP_PRINCIPAL_USER) {
        return err_set(err, SL_E(ACCESS_DENIED), "User: %s is not authorized", req->principal_arn);
    }
    return 0;
}

/* ---- fixture ---- */

struct fixture {
    struct sluice_config cfg;
    struct api_registry *reg;
    struct http_server_ctx ctx;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    config_defaults(&f->cfg);
    f->reg = api_registry_create();
    api_registry_add_json(f->reg, &json_svc);
    api_registry_add_query(f->reg, &query_svc);
    api_registry_add_rest(f->reg, &rest_svc);
    f->ctx = (struct http_server_ctx){.cfg = &f->cfg, .reg = f->reg, .lookup = lookup};
    log_set_level(LOG_ERROR + 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    mem_fail_after(0);
    api_registry_destroy(f->reg);
    free(f);
    return 0;
}

/* A request as the server holds it after reading it; free with ex_free. */
static struct http_exchange *ex_new(const char *method, const char *uri, const char *body)
{
    struct http_exchange *ex = xcalloc(1, sizeof(*ex));
    ex->raw_uri = xstrdup(uri);
    snprintf(ex->method, sizeof(ex->method), "%s", method);
    ex->body_fd = -1;
    ex->resp.body_fd = -1;
    buf_init(&ex->body);
    buf_init(&ex->resp.body);
    if (body != NULL) {
        buf_puts(&ex->body, body);
        ex->body_len = strlen(body);
    }
    snprintf(ex->request_id, sizeof(ex->request_id), "rid-1");
    return ex;
}

static void ex_header(struct http_exchange *ex, const char *name, const char *value)
{
    ex->headers = xrealloc(ex->headers, (ex->n_headers + 1) * sizeof(*ex->headers));
    ex->headers[ex->n_headers].name = xstrdup(name);
    ex->headers[ex->n_headers].value = xstrdup(value);
    ex->n_headers++;
}

static void ex_free(struct http_exchange *ex)
{
    free(ex->raw_uri);
    for (size_t i = 0; i < ex->n_headers; i++) {
        free((char *)ex->headers[i].name);
        free((char *)ex->headers[i].value);
    }
    free(ex->headers);
    buf_fini(&ex->body);
    http__response_fini(&ex->resp);
    free(ex);
}

static void amz_now(char out[17])
{
    time_t t = (time_t)(clock_now_ms() / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* Adds Host and X-Amz-Date, then signs every header so far for service with key. */
static void ex_sign_as(struct http_exchange *ex, const char *service, const char *akid,
                       const char *secret)
{
    char date[17];
    amz_now(date);
    ex_header(ex, "Host", "localhost");
    ex_header(ex, "X-Amz-Date", date);
    char hash[65];
    uint8_t digest[SHA256_LEN];
    crypto_sha256(ex->body.data ? ex->body.data : (const uint8_t *)"", ex->body_len, digest);
    hex_encode(digest, SHA256_LEN, hash);
    char *path = xstrdup(ex->raw_uri);
    char *q = strchr(path, '?');
    if (q != NULL) {
        *q++ = '\0';
    }
    struct sigv4_header h[16];
    for (size_t i = 0; i < ex->n_headers; i++) {
        h[i] = (struct sigv4_header){ex->headers[i].name, ex->headers[i].value};
    }
    struct sigv4_request req = {.method = ex->method,
                                .path = path,
                                .query = q ? q : "",
                                .headers = h,
                                .n_headers = ex->n_headers,
                                .payload_hash = hash};
    struct buf auth;
    buf_init(&auth);
    assert_int_equal(sigv4_sign(&req, akid, secret, date, "us-east-1", service, &auth), 0);
    ex_header(ex, "Authorization", (const char *)auth.data);
    buf_fini(&auth);
    free(path);
}

static void ex_sign(struct http_exchange *ex, const char *service)
{
    ex_sign_as(ex, service, AKID, SECRET);
}

/* Routes and handles ex as the server does. */
static void serve(struct fixture *f, struct http_exchange *ex)
{
    http__route(f->reg, ex);
    http__handle(&f->ctx, ex);
}

static const char *body_of(const struct http_exchange *ex)
{
    return ex->resp.body.data ? (const char *)ex->resp.body.data : "";
}

static const char *resp_header(const struct http_exchange *ex, const char *name)
{
    for (size_t i = 0; i < ex->resp.n_headers; i++) {
        if (strcasecmp(ex->resp.headers[i].name, name) == 0) {
            return ex->resp.headers[i].value;
        }
    }
    return NULL;
}

/* ---- routing ---- */

static void test_target_header_routes_to_its_json_service(void **state)
{
    struct fixture *f = *state;
    struct http_exchange *ex = ex_new("POST", "/", "{\"a\":[1,\"x\"]}");
    ex_header(ex, "X-Amz-Target", "Kinesis_20131202.Echo");
    ex_header(ex, "Content-Type", "application/x-amz-json-1.1");
    ex_sign(ex, "kinesis");
    serve(f, ex);
    assert_int_equal(ex->proto, PROTO_JSON);
    assert_ptr_equal(ex->json_svc, &json_svc);
    assert_int_equal(ex->resp.status, 200);
    assert_string_equal(body_of(ex), "{\"a\":[1,\"x\"]}");
    assert_string_equal(resp_header(ex, "Content-Type"), "application/x-amz-json-1.1");
    assert_string_equal(resp_header(ex, "x-amzn-RequestId"), "rid-1");
    ex_free(ex);
}

static void test_unknown_target_is_an_unknown_operation_in_json(void **state)
{
    struct fixture *f = *state;
    struct http_exchange *ex = ex_new("POST", "/", "{}");
    ex_header(ex, "X-Amz-Target", "Nope_2020.Echo");
    ex_header(ex, "Content-Type", "application/x-amz-json-1.1");
    ex_sign(ex, "kinesis");
    serve(f, ex);
    assert_int_equal(ex->proto, PROTO_JSON);
    assert_null(ex->json_svc);
    assert_int_equal(ex->resp.status, 400);
    assert_string_equal(resp_header(ex, "x-amzn-ErrorType"), "UnknownOperationException");
    assert_string_equal(body_of(ex), "{\"__type\":\"UnknownOperationException\"}");
    ex_free(ex);
}

static void test_scope_service_routes_query_and_json_else_rest(void **state)
{
    struct fixture *f = *state;
    struct {
        const char *uri;
        const char *authorization;
        enum http_proto proto;
    } cases[] = {
        {"/",
         "AWS4-HMAC-SHA256 Credential=" AKID "/20261128/us-east-1/sts/aws4_request, "
         "SignedHeaders=host, Signature=00",
         PROTO_QUERY},
        {"/",
         "AWS4-HMAC-SHA256 Credential=" AKID "/20261128/us-east-1/kinesis/aws4_request, "
         "SignedHeaders=host, Signature=00",
         PROTO_JSON},
        /* presigned: the scope's '/' arrive as %2F, and the name is compared decoded */
        {"/?Action=GetCallerIdentity&X-Amz-Credential=" AKID
         "%2F20261128%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20261128T000000Z",
         NULL, PROTO_QUERY},
        {"/?X-Amz-%43redential=" AKID "%2F20261128%2Fus-east-1%2Fsts%2Faws4_request", NULL,
         PROTO_QUERY},
        /* a value that merely contains the name routes nowhere special */
        {"/b?prefix=X-Amz-Credential=a/b/c/sts/d", NULL, PROTO_REST},
        {"/b/k", NULL, PROTO_REST},
        {"/b/k",
         "AWS4-HMAC-SHA256 Credential=" AKID "/20261128/us-east-1/s3/aws4_request, "
         "SignedHeaders=host, Signature=00",
         PROTO_REST},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct http_exchange *ex = ex_new("GET", cases[i].uri, NULL);
        if (cases[i].authorization != NULL) {
            ex_header(ex, "Authorization", cases[i].authorization);
        }
        http__route(f->reg, ex);
        assert_int_equal(ex->proto, cases[i].proto);
        if (cases[i].proto == PROTO_QUERY) {
            assert_ptr_equal(ex->query_svc, &query_svc);
        } else if (cases[i].proto == PROTO_REST) {
            assert_ptr_equal(ex->rest_svc, &rest_svc);
        } else {
            assert_ptr_equal(ex->json_svc, &json_svc);
        }
        ex_free(ex);
    }
}

/* ---- the query protocol ---- */

static void test_query_fields_are_decoded_by_the_one_rule_and_rendered(void **state)
{
    struct fixture *f = *state;
    /* Fields from the query string first, then the form body; '+' is a space, %2B a '+'. */
    struct http_exchange *ex =
        ex_new("POST", "/?Q=1", "Action=Echo&Version=2011-06-15&A=a+b%2Bc&&B&%43=%3C%26%3E");
    ex_header(ex, "Content-Type", "application/x-www-form-urlencoded");
    ex_sign(ex, "sts");
    serve(f, ex);
    assert_int_equal(ex->proto, PROTO_QUERY);
    assert_int_equal(ex->resp.status, 200);
    assert_string_equal(resp_header(ex, "Content-Type"), "text/xml");
    assert_string_equal(body_of(ex), "<EchoResponse xmlns=\"" STS_NS "\"><EchoResult>"
                                     "<P><N>Q</N><V>1</V></P>"
                                     "<P><N>Action</N><V>Echo</V></P>"
                                     "<P><N>Version</N><V>2011-06-15</V></P>"
                                     "<P><N>A</N><V>a b+c</V></P>"
                                     "<P><N>B</N><V></V></P>"
                                     "<P><N>C</N><V>&lt;&amp;&gt;</V></P>"
                                     "</EchoResult><ResponseMetadata><RequestId>rid-1</RequestId>"
                                     "</ResponseMetadata></EchoResponse>");
    ex_free(ex);
}

static void test_query_errors_have_the_query_shape(void **state)
{
    struct fixture *f = *state;
    struct http_exchange *ex = ex_new("POST", "/", "Action=Nope&Version=2011-06-15");
    ex_sign(ex, "sts");
    serve(f, ex);
    assert_int_equal(ex->resp.status, 400);
    assert_string_equal(body_of(ex),
                        "<ErrorResponse xmlns=\"" STS_NS "\"><Error><Type>Sender</Type>"
                        "<Code>InvalidAction</Code><Message>Could not find operation Nope for "
                        "version 2011-06-15</Message></Error><RequestId>rid-1</RequestId>"
                        "</ErrorResponse>");
    ex_free(ex);

    /* an unknown key and a wrong secret: AWS's query-protocol names and 403 */
    ex = ex_new("POST", "/", "Action=Echo");
    ex_sign_as(ex, "sts", "AKIDUNKNOWN000000000", SECRET);
    serve(f, ex);
    assert_int_equal(ex->resp.status, 403);
    assert_non_null(strstr(body_of(ex), "<Code>InvalidClientTokenId</Code>"));
    ex_free(ex);
    ex = ex_new("POST", "/", "Action=Echo");
    ex_sign_as(ex, "sts", AKID, "not-the-secret");
    serve(f, ex);
    assert_int_equal(ex->resp.status, 403);
    assert_non_null(strstr(body_of(ex), "<Type>Sender</Type><Code>SignatureDoesNotMatch</Code>"));
    ex_free(ex);

    /* a field that decodes to NUL is refused, not cut */
    ex = ex_new("POST", "/", "Action=Echo&A=x%00y");
    ex_sign(ex, "sts");
    serve(f, ex);
    assert_int_equal(ex->resp.status, 400);
    assert_non_null(strstr(body_of(ex), "<Code>ValidationError</Code>"));
    ex_free(ex);
}

/* ---- JSON errors ---- */

static void test_json_errors_have_the_json_shape(void **state)
{
    struct fixture *f = *state;
    struct http_exchange *ex = ex_new("POST", "/", "{}");
    ex_header(ex, "X-Amz-Target", "Kinesis_20131202.Fail");
    ex_header(ex, "Content-Type", "application/x-amz-json-1.1");
    ex_sign(ex, "kinesis");
    serve(f, ex);
    assert_int_equal(ex->resp.status, 400);
    assert_string_equal(resp_header(ex, "x-amzn-ErrorType"), "ValidationException");
    assert_string_equal(body_of(ex),
                        "{\"__type\":\"ValidationException\",\"message\":\"bad \\\"input\\\"\"}");
    ex_free(ex);

    ex = ex_new("POST", "/", "{not json");
    ex_header(ex, "X-Amz-Target", "Kinesis_20131202.Echo");
    ex_header(ex, "Content-Type", "application/x-amz-json-1.1");
    ex_sign(ex, "kinesis");
    serve(f, ex);
    assert_int_equal(ex->resp.status, 400);
    assert_string_equal(resp_header(ex, "x-amzn-ErrorType"), "SerializationException");
    ex_free(ex);

    /* no authentication at all */
    ex = ex_new("POST", "/", "{}");
    ex_header(ex, "X-Amz-Target", "Kinesis_20131202.Echo");
    ex_header(ex, "Content-Type", "application/x-amz-json-1.1");
    serve(f, ex);
    assert_int_equal(ex->resp.status, 400);
    assert_string_equal(resp_header(ex, "x-amzn-ErrorType"), "MissingAuthenticationTokenException");
    ex_free(ex);
}

/* ---- CBOR ---- */

static void test_cbor_request_and_answer_map_blobs_and_epochs(void **state)
{
    struct fixture *f = *state;
    /* {"Data": h'0102', "At": 1(1500)}: a blob and an epoch in milliseconds */
    static const char req[] = "\xa2\x64"
                              "Data"
                              "\x42\x01\x02\x62"
                              "At"
                              "\xc1\x19\x05\xdc";
    struct http_exchange *ex = ex_new("POST", "/", req);
    ex_header(ex, "X-Amz-Target", "Kinesis_20131202.Echo");
    ex_header(ex, "Content-Type", "application/x-amz-cbor-1.1");
    ex_sign(ex, "kinesis");
    serve(f, ex);
    assert_int_equal(ex->resp.status, 200);
    assert_string_equal(resp_header(ex, "Content-Type"), "application/x-amz-cbor-1.1");
    /* the echo saw {"Data":"AQI=","At":1.5} and its answer is written back as it came */
    assert_int_equal(ex->resp.body.len, sizeof(req) - 1);
    assert_memory_equal(ex->resp.body.data, req, sizeof(req) - 1);
    ex_free(ex);

    /* an error is a CBOR map too: {"__type": "ValidationException", "message": ...} */
    ex = ex_new("POST", "/", "\xa0");
    ex_header(ex, "X-Amz-Target", "Kinesis_20131202.Fail");
    ex_header(ex, "Content-Type", "application/x-amz-cbor-1.1");
    ex_sign(ex, "kinesis");
    serve(f, ex);
    assert_int_equal(ex->resp.status, 400);
    assert_string_equal(resp_header(ex, "Content-Type"), "application/x-amz-cbor-1.1");
    static const char err[] = "\xa2\x66__type\x73ValidationException\x67message\x6b"
                              "bad \"input\"";
    assert_int_equal(ex->resp.body.len, sizeof(err) - 1);
    assert_memory_equal(ex->resp.body.data, err, sizeof(err) - 1);
    ex_free(ex);

    /* malformed CBOR */
    ex = ex_new("POST", "/", "\xa1\x61");
    ex_header(ex, "X-Amz-Target", "Kinesis_20131202.Echo");
    ex_header(ex, "Content-Type", "application/x-amz-cbor-1.1");
    ex_sign(ex, "kinesis");
    serve(f, ex);
    assert_int_equal(ex->resp.status, 400);
    assert_string_equal(resp_header(ex, "x-amzn-ErrorType"), "SerializationException");
    ex_free(ex);
}

/* ---- the JSON protocols' edges, decided at the gate from the headers ---- */

static void test_json_edges_are_answered_at_the_gate(void **state)
{
    struct fixture *f = *state;
    /* another method than POST: the front end's bare XML, never S3's error document */
    struct http_exchange *ex = ex_new("GET", "/", NULL);
    ex_header(ex, "X-Amz-Target", "Kinesis_20131202.Echo");
    ex_sign(ex, "kinesis");
    http__route(f->reg, ex);
    assert_int_equal(http__gate(&f->ctx, ex), SL_E(ACCESS_DENIED));
    assert_int_equal(ex->resp.status, 403);
    assert_non_null(strstr(body_of(ex), "<AccessDeniedException>"));
    assert_null(strstr(body_of(ex), "<Error>"));
    ex_free(ex);

    /* a media type the service does not speak */
    ex = ex_new("POST", "/", "{}");
    ex_header(ex, "X-Amz-Target", "Kinesis_20131202.Echo");
    ex_header(ex, "Content-Type", "text/plain");
    ex_header(ex, "Content-Length", "2");
    http__route(f->reg, ex);
    assert_int_equal(http__gate(&f->ctx, ex), SL_E(UNKNOWN_OPERATION));
    assert_int_equal(ex->resp.status, 404);
    assert_string_equal(body_of(ex), "<UnknownOperationException/>\n");
    ex_free(ex);

    /* no body: a SerializationException in CBOR for a CBOR request, before any signature */
    ex = ex_new("POST", "/", NULL);
    ex_header(ex, "X-Amz-Target", "Kinesis_20131202.Echo");
    ex_header(ex, "Content-Type", "application/x-amz-cbor-1.1");
    http__route(f->reg, ex);
    assert_int_equal(http__gate(&f->ctx, ex), SL_E(SERIALIZATION));
    assert_int_equal(ex->resp.status, 400);
    static const char ser[] = "\xa1\x66__type\x76SerializationException";
    assert_int_equal(ex->resp.body.len, sizeof(ser) - 1);
    assert_memory_equal(ex->resp.body.data, ser, sizeof(ser) - 1);
    ex_free(ex);

    /* a browser's preflight passes the gate without credentials and is answered */
    ex = ex_new("OPTIONS", "/", NULL);
    ex_header(ex, "Origin", "http://page.example");
    ex_header(ex, "Access-Control-Request-Method", "POST");
    ex_header(ex, "Access-Control-Request-Headers", "content-type,X-Amz-Target");
    http__route(f->reg, ex);
    assert_int_equal(ex->proto, PROTO_JSON);
    assert_int_equal(http__gate(&f->ctx, ex), 0);
    http__handle(&f->ctx, ex);
    assert_int_equal(ex->resp.status, 200);
    assert_string_equal(resp_header(ex, "Access-Control-Allow-Origin"), "*");
    assert_string_equal(resp_header(ex, "Access-Control-Allow-Headers"),
                        "content-type,X-Amz-Target");
    assert_string_equal(resp_header(ex, "Access-Control-Allow-Methods"), "POST");
    assert_int_equal(ex->resp.body.len, 0);
    ex_free(ex);

    /* a preflight for anything else (S3's) is not the JSON services' */
    ex = ex_new("OPTIONS", "/bucket/key", NULL);
    ex_header(ex, "Origin", "http://page.example");
    ex_header(ex, "Access-Control-Request-Method", "PUT");
    http__route(f->reg, ex);
    assert_int_equal(ex->proto, PROTO_REST);
    ex_free(ex);
}

/* ---- rest-xml ---- */

static void test_rest_answers_and_errors_have_the_rest_xml_shape(void **state)
{
    struct fixture *f = *state;
    struct http_exchange *ex = ex_new("GET", "/ok", NULL);
    ex_sign(ex, "s3");
    serve(f, ex);
    assert_int_equal(ex->resp.status, 200);
    assert_string_equal(body_of(ex), "ok");
    assert_string_equal(resp_header(ex, "x-amz-request-id"), "rid-1");
    ex_free(ex);

    ex = ex_new("GET", "/missing", NULL);
    ex_sign(ex, "s3");
    serve(f, ex);
    assert_int_equal(ex->resp.status, 404);
    assert_string_equal(resp_header(ex, "Content-Type"), "application/xml");
    assert_string_equal(body_of(ex),
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>"
                        "<Message>The key &lt;a&#xD;b&gt; does not exist.</Message>"
                        "<Resource>/b/a&amp;b</Resource><RequestId>rid-1</RequestId></Error>");
    ex_free(ex);

    /* HEAD errors carry no body */
    ex = ex_new("HEAD", "/missing", NULL);
    ex_sign(ex, "s3");
    serve(f, ex);
    assert_int_equal(ex->resp.status, 404);
    assert_int_equal(ex->resp.body.len, 0);
    ex_free(ex);

    /* anonymous writes: S3's AccessDenied at the gate */
    ex = ex_new("PUT", "/ok", NULL);
    serve(f, ex);
    assert_int_equal(ex->resp.status, 403);
    assert_non_null(strstr(body_of(ex), "<Code>AccessDenied</Code><Message>Access Denied"));
    ex_free(ex);

    /* anonymous reads reach the adapter, marked so, which decides them (public ACLs) */
    ex = ex_new("GET", "/ok", NULL);
    serve(f, ex);
    assert_int_equal(ex->resp.status, 200);
    assert_string_equal(body_of(ex), "anonymous");
    ex_free(ex);
}

/* ---- allocation failures ---- */

/* Runs req (built by make) once per N, failing the N-th may-fail allocation: every run
   must end in the success answer or an error reply of the routed shape. */
static void fail_every_allocation(struct fixture *f, struct http_exchange *(*make)(void),
                                  const char *error_marker)
{
    int n_failed = 0, n_ok = 0;
    for (unsigned long n = 1; n <= 400 && n_ok < 3; n++) {
        struct http_exchange *ex = make();
        http__route(f->reg, ex);
        mem_fail_after(n);
        http__handle(&f->ctx, ex);
        mem_fail_after(0);
        if (ex->resp.status == 200) {
            n_ok++;
        } else {

            if (ex->resp.status != 500) {
                fprintf(stderr, "failing allocation %lu: %d %s\n", n, ex->resp.status, body_of(ex));
            }
            assert_int_equal(ex->resp.status, 500);
            assert_non_null(strstr(body_of(ex), error_marker));
            n_failed++;
        }
        ex_free(ex);
    }
    assert_true(n_failed >= 3); /* the URI copy, the header array, the fields... */
    assert_int_equal(n_ok, 3);  /* and once past every allocation, the answer */
}

static struct http_exchange *many_fields_query(void)
{
    struct buf body;
    buf_init(&body);
    buf_puts(&body, "Action=Echo");
    for (int i = 0; i < 100; i++) {
        buf_printf(&body, "&F%d=v+%d", i, i);
    }
    struct http_exchange *ex = ex_new("POST", "/?X=1", (const char *)body.data);
    buf_fini(&body);
    ex_sign(ex, "sts");
    return ex;
}

/* ---- temporary keys and the authorization hook ---- */

static void test_an_expired_token_is_refused_in_each_protocol(void **state)
{
    struct fixture *f = *state;
    struct http_exchange *ex = ex_new("POST", "/", "Action=Echo");
    ex_sign_as(ex, "sts", EXPIRED_AKID, SECRET);
    serve(f, ex);
    assert_int_equal(ex->resp.status, 400);
    assert_non_null(strstr(body_of(ex), "<Code>ExpiredToken</Code><Message>The security token "
                                        "included in the request is expired</Message>"));
    ex_free(ex);
    ex = ex_new("POST", "/", "{}");
    ex_header(ex, "X-Amz-Target", "Kinesis_20131202.Echo");
    ex_header(ex, "Content-Type", "application/x-amz-json-1.1");
    ex_sign_as(ex, "kinesis", EXPIRED_AKID, SECRET);
    serve(f, ex);
    assert_int_equal(ex->resp.status, 400);
    assert_string_equal(resp_header(ex, "x-amzn-ErrorType"), "ExpiredTokenException");
    assert_non_null(strstr(body_of(ex), "The security token included in the request is expired"));
    ex_free(ex);
}

static void test_the_hook_is_asked_before_every_operation(void **state)
{
    struct fixture *f = *state;
    f->ctx.authorize = authorize;
    /* root passes, and the hook heard the routed service and operation */
    struct http_exchange *ex = ex_new("POST", "/", "Action=Echo");
    ex_sign(ex, "sts");
    serve(f, ex);
    assert_int_equal(ex->resp.status, 200);
    assert_string_equal(asked, "sts:Echo:params");
    ex_free(ex);
    /* a user is refused in each protocol's AccessDenied shape, before the operation */
    ex = ex_new("POST", "/", "Action=Echo");
    ex_sign_as(ex, "sts", USER_AKID, SECRET);
    serve(f, ex);
    assert_int_equal(ex->resp.status, 403);
    assert_non_null(strstr(body_of(ex), "<Code>AccessDenied</Code><Message>User: "
                                        "arn:aws:iam::" ACCOUNT ":user/u is not authorized"));
    ex_free(ex);
    ex = ex_new("POST", "/", "{}");
    ex_header(ex, "X-Amz-Target", "Kinesis_20131202.Echo");
    ex_header(ex, "Content-Type", "application/x-amz-json-1.1");
    ex_sign_as(ex, "kinesis", USER_AKID, SECRET);
    serve(f, ex);
    assert_int_equal(ex->resp.status, 400);
    assert_string_equal(resp_header(ex, "x-amzn-ErrorType"), "AccessDeniedException");
    assert_string_equal(asked, "kinesis:Echo:-");
    ex_free(ex);
    ex = ex_new("GET", "/bucket/key", NULL);
    ex_sign_as(ex, "s3", USER_AKID, SECRET);
    serve(f, ex);
    assert_int_equal(ex->resp.status, 403);
    assert_non_null(strstr(body_of(ex), "<Code>AccessDenied</Code>"));
    assert_string_equal(asked, "s3:GetObject:-");
    ex_free(ex);
}

static void test_query_request_survives_every_allocation_failure(void **state)
{
    fail_every_allocation(*state, many_fields_query, "<Code>InternalFailure</Code>");
}

static struct http_exchange *json_request(void)
{
    struct http_exchange *ex = ex_new("POST", "/", "{\"k\":\"v\"}");
    ex_header(ex, "X-Amz-Target", "Kinesis_20131202.Echo");
    ex_header(ex, "Content-Type", "application/x-amz-json-1.1");
    ex_sign(ex, "kinesis");
    return ex;
}

static void test_json_request_survives_every_allocation_failure(void **state)
{
    fail_every_allocation(*state, json_request, "\"__type\":\"InternalFailure\"");
}

static void test_two_hundred_thousand_fields_parse_quickly(void **state)
{
    struct fixture *f = *state;
    /* 200,000 fields: the arrays grow geometrically, each field is decoded once. */
    struct buf body;
    buf_init(&body);
    buf_puts(&body, "Action=Echo");
    for (int i = 0; i < 200000; i++) {
        buf_puts(&body, "&a=");
    }
    struct http_exchange *ex = ex_new("POST", "/", (const char *)body.data);
    buf_fini(&body);
    ex_sign(ex, "sts");
    int64_t start = clock_now_ms();
    serve(f, ex);
    assert_int_equal(ex->resp.status, 200);
    assert_true(clock_now_ms() - start < 20000);
    ex_free(ex);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_target_header_routes_to_its_json_service),
        T(test_unknown_target_is_an_unknown_operation_in_json),
        T(test_scope_service_routes_query_and_json_else_rest),
        T(test_query_fields_are_decoded_by_the_one_rule_and_rendered),
        T(test_query_errors_have_the_query_shape),
        T(test_json_errors_have_the_json_shape),
        T(test_cbor_request_and_answer_map_blobs_and_epochs),
        T(test_json_edges_are_answered_at_the_gate),
        T(test_rest_answers_and_errors_have_the_rest_xml_shape),
        T(test_query_request_survives_every_allocation_failure),
        T(test_json_request_survives_every_allocation_failure),
        T(test_two_hundred_thousand_fields_parse_quickly),
        T(test_an_expired_token_is_refused_in_each_protocol),
        T(test_the_hook_is_asked_before_every_operation),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
