/*
 * Routing, authentication and the three AWS protocol shapes.
 *
 * Route (from headers only, before the body arrives):
 *   X-Amz-Target "Prefix.Operation"         → JSON service with that target prefix
 *   SigV4 scope service names a query service → query protocol (STS, IAM)
 *   SigV4 scope service names a JSON service  → JSON (an unknown operation, no target)
 *   anything else                           → the rest-xml service (S3)
 *
 * Every request is then authenticated with SigV4 and dispatched; errors, including
 * authentication errors, are rendered in the routed protocol's own error shape.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <zlib.h>

#include "core/cbor.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/text.h"
#include "http/http_int.h"
#include "http/sigv2.h"
#include "http/sigv4.h"

/* ---- headers, responses, registry ---- */

const char *http__header(const struct http_exchange *ex, const char *name)
{
    for (size_t i = 0; i < ex->n_headers; i++) {
        if (strcasecmp(ex->headers[i].name, name) == 0) {
            return ex->headers[i].value;
        }
    }
    return NULL;
}

const char *api_request_header(const struct api_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++) {
        if (strcasecmp(req->headers[i].name, name) == 0) {
            return req->headers[i].value;
        }
    }
    return NULL;
}

void api_response_header(struct api_response *resp, const char *name, const char *value)
{
    resp->headers = xrealloc(resp->headers, (resp->n_headers + 1) * sizeof(*resp->headers));
    resp->headers[resp->n_headers].name = xstrdup(name);
    resp->headers[resp->n_headers].value = xstrdup(value);
    resp->n_headers++;
}

void http__response_fini(struct api_response *resp)
{
    for (size_t i = 0; i < resp->n_headers; i++) {
        free((char *)resp->headers[i].name);
        free((char *)resp->headers[i].value);
    }
    free(resp->headers);
    resp->headers = NULL;
    resp->n_headers = 0;
    buf_fini(&resp->body);
    if (resp->body_fd >= 0) {
        close(resp->body_fd);
        resp->body_fd = -1;
    }
    if (resp->stream != NULL) {
        resp->stream->close(resp->stream->arg);
        resp->stream = NULL;
    }
}

struct api_registry *api_registry_create(void)
{
    return xcalloc(1, sizeof(struct api_registry));
}

void api_registry_destroy(struct api_registry *reg)
{
    free(reg);
}

void api_registry_add_json(struct api_registry *reg, const struct api_json_service *svc)
{
    SL_ASSERT(reg->n_json < sizeof(reg->json) / sizeof(reg->json[0]));
    reg->json[reg->n_json++] = svc;
}

void api_registry_add_plain(struct api_registry *reg, const struct api_plain_service *svc)
{
    SL_ASSERT(reg->n_plain < sizeof(reg->plain) / sizeof(reg->plain[0]));
    reg->plain[reg->n_plain++] = svc;
}

void api_registry_observe(struct api_registry *reg, api_observe_fn fn, void *arg)
{
    reg->observe = fn;
    reg->observe_arg = arg;
}

void api_registry_observe_detail(struct api_registry *reg, api_observe_detail_fn fn, void *arg)
{
    reg->observe_detail = fn;
    reg->observe_detail_arg = arg;
}

void api_registry_add_query(struct api_registry *reg, const struct api_query_service *svc)
{
    SL_ASSERT(reg->n_query < sizeof(reg->query) / sizeof(reg->query[0]));
    reg->query[reg->n_query++] = svc;
}

void api_registry_add_rest(struct api_registry *reg, const struct api_rest_service *svc)
{
    SL_ASSERT(reg->n_rest < sizeof(reg->rest) / sizeof(reg->rest[0]));
    reg->rest[reg->n_rest++] = svc;
}

/* ---- request compression ---- */

/* The most a gzip body of the JSON and query services may inflate to. */
#define INFLATED_MAX (16u << 20)

/*
 * Inflates an in-memory body sent with Content-Encoding: gzip (the SDKs compress large
 * CloudWatch PutMetricData bodies; SigV4 signed the compressed bytes, already checked).
 * Returns 0 (the body is left alone when not gzip), SL_E(SERIALIZATION) for a damaged
 * stream, SL_E(BODY_TOO_LARGE).
 */
static int inflate_body(struct http_exchange *ex)
{
    const char *enc = http__header(ex, "Content-Encoding");
    if (enc == NULL || strcasecmp(enc, "gzip") != 0 || ex->body_fd >= 0 || ex->body_len == 0) {
        return 0;
    }
    z_stream z = {0};
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
        return SL_E(NOMEM);
    }
    struct buf out;
    buf_init(&out);
    z.next_in = ex->body.data;
    z.avail_in = (uInt)ex->body_len;
    int zrc = Z_OK;
    while (zrc == Z_OK) {
        uint8_t *dst = buf_reserve(&out, 64 * 1024);
        if (dst == NULL || out.len > INFLATED_MAX) {
            zrc = Z_MEM_ERROR;
            break;
        }
        z.next_out = dst;
        z.avail_out = 64 * 1024;
        zrc = inflate(&z, Z_NO_FLUSH);
        out.len += 64 * 1024 - z.avail_out;
    }
    inflateEnd(&z);
    if (zrc != Z_STREAM_END) {
        buf_fini(&out);
        return zrc == Z_MEM_ERROR ? SL_E(BODY_TOO_LARGE) : SL_E(SERIALIZATION);
    }
    buf_fini(&ex->body);
    ex->body = out;
    ex->body_len = out.len;
    return 0;
}

/* ---- form fields (query protocol) ---- */

/* The decoded fields of the query string and the form body (core/text.h). */
struct api_params {
    struct query_params q;
};

const char *api_params_get(const struct api_params *p, const char *name)
{
    return query_params_get(&p->q, name);
}

size_t api_params_count(const struct api_params *p)
{
    return p->q.n;
}

const char *api_params_name(const struct api_params *p, size_t idx)
{
    return idx < p->q.n ? p->q.names[idx] : NULL;
}

const char *api_params_value(const struct api_params *p, size_t idx)
{
    return idx < p->q.n ? p->q.values[idx] : NULL;
}

/* ---- routing ---- */

/*
 * The service named in the SigV4 credential scope, "AKID/date/region/service/
 * aws4_request", of the Authorization header or of the presigned query's
 * X-Amz-Credential (decoded by the one query rule); "" when there is none. Allocates
 * nothing: the query value is decoded into a fixed buffer, as a scope is short.
 */
static void scope_service(const struct http_exchange *ex, char *out, size_t size)
{
    out[0] = '\0';
    char cred[512];
    size_t cred_len = 0;
    const char *auth = http__header(ex, "Authorization");
    if (auth != NULL) {
        const char *c = strstr(auth, "Credential=");
        if (c == NULL) {
            return;
        }
        c += strlen("Credential=");
        cred_len = strcspn(c, ", ");
        if (cred_len >= sizeof(cred)) {
            return;
        }
        memcpy(cred, c, cred_len);
    } else {
        const char *q = strchr(ex->raw_uri, '?');
        if (q == NULL) {
            return;
        }
        q++;
        size_t q_len = strlen(q), pos = 0;
        struct query_field f;
        int found = 0;
        while (!found && query_next(q, q_len, &pos, &f)) {
            char name[32];
            size_t n = 0;
            if (f.name_len < sizeof(name)) {
                n = pct_decode_into(name, f.name, f.name_len, PCT_QUERY);
            }
            found = n == 16 && memcmp(name, "X-Amz-Credential", 16) == 0;
            if (found && f.value_len <= sizeof(cred)) {
                cred_len = pct_decode_into(cred, f.value, f.value_len, PCT_QUERY);
            }
        }
    }
    /* The fourth '/'-separated field. */
    int field = 0;
    size_t o = 0;
    for (size_t i = 0; i < cred_len; i++) {
        if (cred[i] == '/') {
            field++;
        } else if (field == 3 && o + 1 < size) {
            out[o++] = cred[i];
        }
    }
    out[o] = '\0';
}

/* 1 when the comma-separated header list names name (any case). */
static int list_names(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p != NULL && *p != '\0';) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, " \t,");
        if (len == n && strncasecmp(p, name, n) == 0) {
            return 1;
        }
        p += len;
    }
    return 0;
}

/* A browser's CORS preflight for a JSON service: OPTIONS from a page (Origin) asking to
   send X-Amz-Target. It carries no credentials, so it is answered without any. */
static int is_json_preflight(const struct http_exchange *ex)
{
    return strcmp(ex->method, "OPTIONS") == 0 && http__header(ex, "Origin") != NULL &&
           http__header(ex, "Access-Control-Request-Method") != NULL &&
           list_names(http__header(ex, "Access-Control-Request-Headers"), "x-amz-target");
}

/* The plain service of an unsigned GET or HEAD of its path (api.h), or NULL; POST too
   under /_sluice/ (the test clock). */
static const struct api_plain_service *plain_route(const struct api_registry *reg,
                                                   const struct http_exchange *ex)
{
    int post_admin = strcmp(ex->method, "POST") == 0 && strncmp(ex->raw_uri, "/_sluice/", 9) == 0;
    if (reg->n_plain == 0 ||
        (strcmp(ex->method, "GET") != 0 && strcmp(ex->method, "HEAD") != 0 && !post_admin)) {
        return NULL;
    }
    const char *auth = http__header(ex, "Authorization");
    if ((auth != NULL && strncasecmp(auth, "Bearer ", 7) != 0) ||
        strstr(ex->raw_uri, "Signature=") != NULL) {
        return NULL; /* signed: an AWS request */
    }
    size_t len = strcspn(ex->raw_uri, "?");
    for (size_t i = 0; i < reg->n_plain; i++) {
        if (strlen(reg->plain[i]->path) == len &&
            strncmp(reg->plain[i]->path, ex->raw_uri, len) == 0) {
            return reg->plain[i];
        }
    }
    return NULL;
}

/* Smithy RPC v2 CBOR: "/service/<name>/operation/<Op>" with its smithy-protocol header.
   Sets ex->rpcv2 and the service that speaks it under that name (NULL when none). */
static int rpcv2_route(const struct api_registry *reg, struct http_exchange *ex)
{
    const char *proto = http__header(ex, "smithy-protocol");
    if (proto == NULL || strcmp(proto, "rpc-v2-cbor") != 0 ||
        strncmp(ex->raw_uri, "/service/", 9) != 0) {
        return 0;
    }
    const char *name = ex->raw_uri + 9;
    const char *end = strstr(name, "/operation/");
    ex->rpcv2 = 1;
    ex->proto = PROTO_JSON;
    for (size_t i = 0; i < reg->n_json && end != NULL; i++) {
        const char *p = reg->json[i]->target_prefix;
        if (reg->json[i]->rpcv2_cbor && strlen(p) == (size_t)(end - name) &&
            strncmp(p, name, (size_t)(end - name)) == 0) {
            ex->json_svc = reg->json[i];
        }
    }
    return 1;
}

void http__route(const struct api_registry *reg, struct http_exchange *ex)
{
    ex->rpcv2 = 0;
    ex->plain_svc = NULL;
    if (rpcv2_route(reg, ex)) {
        return;
    }
    ex->plain_svc = plain_route(reg, ex);
    if (ex->plain_svc != NULL) {
        ex->proto = PROTO_REST; /* an error before it is answered reads as S3's would */
        return;
    }
    if (is_json_preflight(ex)) {
        ex->proto = PROTO_JSON;
        ex->json_svc = reg->n_json > 0 ? reg->json[0] : NULL;
        return;
    }
    const char *target = http__header(ex, "X-Amz-Target");
    if (target != NULL) {
        ex->proto = PROTO_JSON;
        const char *dot = strchr(target, '.');
        size_t prefix_len = dot ? (size_t)(dot - target) : strlen(target);
        for (size_t i = 0; i < reg->n_json; i++) {
            const char *p = reg->json[i]->target_prefix;
            if (strlen(p) == prefix_len && strncmp(p, target, prefix_len) == 0) {
                ex->json_svc = reg->json[i];
            }
        }
        return;
    }
    char service[64];
    scope_service(ex, service, sizeof(service));
    for (size_t i = 0; i < reg->n_query; i++) {
        if (strcmp(reg->query[i]->signing_name, service) == 0) {
            ex->proto = PROTO_QUERY;
            ex->query_svc = reg->query[i];
            return;
        }
    }
    for (size_t i = 0; i < reg->n_json; i++) {
        if (strcmp(reg->json[i]->signing_name, service) == 0) {
            ex->proto = PROTO_JSON;
            ex->json_svc = reg->json[i];
            return;
        }
    }
    ex->proto = PROTO_REST;
    for (size_t i = 0; i < reg->n_rest; i++) {
        if (ex->rest_svc == NULL || strcmp(reg->rest[i]->signing_name, service) == 0) {
            ex->rest_svc = reg->rest[i];
        }
    }
}

/* ---- error rendering ---- */

struct rename {
    int code;
    const char *name;
    int status;
    const char *message; /* the protocol's message for the code, or NULL to keep the given one */
};

static const struct rename query_renames[] = {
    {SL_E(AUTH_MISSING), "MissingAuthenticationToken", 403,
     "Request is missing Authentication Token"},
    {SL_E(AUTH_UNKNOWN_KEY), "InvalidClientTokenId", 403, NULL},
    {SL_E(AUTH_BAD_SIGNATURE), "SignatureDoesNotMatch", 403, NULL},
    {SL_E(AUTH_SKEWED), "SignatureDoesNotMatch", 403, NULL},
    {SL_E(AUTH_EXPIRED), "ExpiredToken", 400, NULL},
    {SL_E(AUTH_MALFORMED), "IncompleteSignature", 400, NULL},
    {SL_E(VALIDATION), "ValidationError", 400, NULL},
    {SL_E(ACCESS_DENIED), "AccessDenied", 403, NULL},
    {SL_E(BODY_TOO_LARGE), "RequestEntityTooLarge", 413, NULL},
};

static const struct rename rest_renames[] = {
    {SL_E(AUTH_MISSING), "AccessDenied", 403, "Access Denied"},
    {SL_E(AUTH_UNKNOWN_KEY), "InvalidAccessKeyId", 403,
     "The AWS Access Key Id you provided does not exist in our records."},
    {SL_E(AUTH_BAD_SIGNATURE), "SignatureDoesNotMatch", 403, NULL},
    {SL_E(AUTH_SKEWED), "RequestTimeTooSkewed", 403,
     "The difference between the request time and the current time is too large."},
    {SL_E(AUTH_EXPIRED), "AccessDenied", 403, NULL}, /* "has expired" or "is not yet valid" */
    {SL_E(AUTH_MALFORMED), "AuthorizationHeaderMalformed", 400, NULL},
    {SL_E(BODY_TOO_LARGE), "EntityTooLarge", 400, NULL},
    {SL_E(UNAVAILABLE), "SlowDown", 503, NULL},
    {SL_E(VALIDATION), "InvalidArgument", 400, NULL},
    {SL_E(UNKNOWN_OPERATION), "NotImplemented", 501, NULL},
    {SL_E(ACCESS_DENIED), "AccessDenied", 403, NULL},
    {SL_E(INTERNAL), "InternalError", 500, NULL},
    {SL_E(IO), "InternalError", 500, NULL},
    {SL_E(NOMEM), "InternalError", 500, NULL},
    {SL_E(CORRUPT), "InternalError", 500, NULL},
};

static int is_server_fault(int code)
{
    return !err_is_sluice(code) || err_http_status(code) >= 500;
}

/* ---- the JSON protocols' edges: media types, CBOR, CORS ---- */

#define CBOR_MEDIA_TYPE "application/x-amz-cbor-1.1"

/* 1 when the request's Content-Type, parameters aside, is type (any case). */
static int content_type_is(const struct http_exchange *ex, const char *type)
{
    const char *ct = http__header(ex, "Content-Type");
    if (ct == NULL) {
        return 0;
    }
    ct += strspn(ct, " \t");
    size_t len = strcspn(ct, "; \t");
    return len == strlen(type) && strncasecmp(ct, type, len) == 0;
}

/* 1 when the request is CBOR to a service that speaks it, or to a target no service
   has (answered as an unknown operation): its answer is CBOR too. */
static int speaks_cbor(const struct http_exchange *ex)
{
    if (ex->rpcv2) {
        return 1;
    }
    return ex->proto == PROTO_JSON &&
           (ex->json_svc == NULL || ex->json_svc->cbor_blob_members != NULL) &&
           content_type_is(ex, CBOR_MEDIA_TYPE);
}

/* The CBOR media type of the exchange's protocol; RPC v2 answers also name the protocol. */
static const char *cbor_media_type(struct http_exchange *ex)
{
    if (ex->rpcv2) {
        api_response_header(&ex->resp, "smithy-protocol", "rpc-v2-cbor");
        return "application/cbor";
    }
    return CBOR_MEDIA_TYPE;
}

/* The answer to a request from a web page (an Origin header): any origin may read it,
   with the headers the AWS SDK for JavaScript reads. */
static void cors_headers(struct http_exchange *ex)
{
    if (http__header(ex, "Origin") == NULL) {
        return;
    }
    api_response_header(&ex->resp, "Access-Control-Allow-Origin", "*");
    api_response_header(&ex->resp, "Access-Control-Expose-Headers",
                        "x-amzn-RequestId,x-amzn-ErrorType,x-amz-request-id,x-amz-id-2,"
                        "x-amzn-ErrorMessage,Date");
}

/* A CORS preflight's answer: whatever was asked for, for two days, with no body. */
static void answer_preflight(struct http_exchange *ex)
{
    struct api_response *r = &ex->resp;
    r->status = 200;
    buf_reset(&r->body);
    api_response_header(r, "x-amzn-RequestId", ex->request_id);
    api_response_header(r, "Access-Control-Allow-Origin", "*");
    const char *hdrs = http__header(ex, "Access-Control-Request-Headers");
    if (hdrs != NULL) {
        api_response_header(r, "Access-Control-Allow-Headers", hdrs);
    }
    api_response_header(r, "Access-Control-Allow-Methods",
                        http__header(ex, "Access-Control-Request-Method"));
    api_response_header(r, "Access-Control-Max-Age", "172800");
}

/* A JSON service's error body {"__type", "message"} (no message when there is none),
   in CBOR when the request was. */
static void json_error_body(struct http_exchange *ex, const char *name, const char *message)
{
    struct api_response *r = &ex->resp;
    api_response_header(r, "x-amzn-ErrorType", name);
    cors_headers(ex);
    json_t *body = json_pack("{s:s}", "__type", name);
    if (body != NULL && message[0] != '\0') {
        json_object_set_new(body, "message", json_stringn(message, strlen(message)));
    }
    if (speaks_cbor(ex) && body != NULL) {
        api_response_header(r, "Content-Type", cbor_media_type(ex));
        cbor_encode(body, NULL, &r->body);
    } else {
        api_response_header(r, "Content-Type", "application/x-amz-json-1.1");
        buf_puts(&r->body, "{\"__type\":");
        buf_json_string(&r->body, name, strlen(name));
        if (message[0] != '\0') {
            buf_puts(&r->body, ",\"message\":");
            buf_json_string(&r->body, message, strlen(message));
        }
        buf_puts(&r->body, "}");
    }
    json_decref(body);
}

/*
 * Renders an error in the exchange's protocol. S3 (rest-xml) errors may carry a resource
 * and a region element (NULL when none) and extra elements (XML, NULL when none), and
 * name_override, when not NULL, replaces the error name the tables give.
 */
static void render_error_extra(struct http_exchange *ex, int code, const char *name_override,
                               const char *message, const char *resource, const char *region,
                               const char *extra)
{
    struct api_response *r = &ex->resp;
    buf_reset(&r->body);
    if (r->body_fd >= 0) {
        close(r->body_fd);
        r->body_fd = -1;
    }
    const char *name = err_aws_name(code);
    int status = err_http_status(code);
    const struct rename *table = NULL;
    size_t n_table = 0;
    if (ex->proto == PROTO_QUERY) {
        table = query_renames;
        n_table = sizeof(query_renames) / sizeof(query_renames[0]);
    } else if (ex->proto == PROTO_REST) {
        table = rest_renames;
        n_table = sizeof(rest_renames) / sizeof(rest_renames[0]);
    }
    for (size_t i = 0; i < n_table; i++) {
        if (table[i].code == code) {
            name = table[i].name;
            status = table[i].status;
            if (table[i].message != NULL) {
                message = table[i].message; /* the protocol's own wording */
            }
        }
    }
    if (!err_is_sluice(code)) {
        name = ex->proto == PROTO_REST ? "InternalError" : "InternalFailure";
        status = 500;
    }
    if (name_override != NULL) {
        name = name_override;
    }
    if (message == NULL || message[0] == '\0') {
        message =
            is_server_fault(code) ? "We encountered an internal error. Please try again." : "";
    }
    if (is_server_fault(code)) {
        log_msg(LOG_WARN, "http", "%s %s: %s (%s)", ex->method, ex->raw_uri, sl_strerror(code),
                message);
    }
    r->status = status;
    api_response_header(r, "x-amzn-RequestId", ex->request_id);
    switch (ex->proto) {
    case PROTO_JSON: json_error_body(ex, name, message); break;
    case PROTO_QUERY:
        api_response_header(r, "Content-Type", "text/xml");
        buf_printf(&r->body, "<ErrorResponse xmlns=\"%s\"><Error><Type>%s</Type><Code>",
                   ex->query_svc ? ex->query_svc->xmlns : "",
                   is_server_fault(code) ? "Receiver" : "Sender");
        buf_xml_escape(&r->body, name, strlen(name));
        buf_puts(&r->body, "</Code><Message>");
        buf_xml_escape(&r->body, message, strlen(message));
        buf_printf(&r->body, "</Message></Error><RequestId>%s</RequestId></ErrorResponse>",
                   ex->request_id);
        break;
    case PROTO_REST:
        api_response_header(r, "Content-Type", "application/xml");
        api_response_header(r, "x-amz-request-id", ex->request_id);
        buf_puts(&r->body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>");
        buf_xml_escape(&r->body, name, strlen(name));
        buf_puts(&r->body, "</Code><Message>");
        buf_xml_escape(&r->body, message, strlen(message));
        buf_puts(&r->body, "</Message>");
        if (resource != NULL) {
            buf_puts(&r->body, "<Resource>");
            buf_xml_escape(&r->body, resource, strlen(resource));
            buf_puts(&r->body, "</Resource>");
        }
        if (region != NULL) {
            buf_puts(&r->body, "<Region>");
            buf_xml_escape(&r->body, region, strlen(region));
            buf_puts(&r->body, "</Region>");
        }
        if (extra != NULL) {
            buf_puts(&r->body, extra);
        }
        buf_printf(&r->body, "<RequestId>%s</RequestId></Error>", ex->request_id);
        if (strcmp(ex->method, "HEAD") == 0) {
            buf_reset(&r->body); /* HEAD errors carry no body */
        }
        break;
    }
}

static void render_error(struct http_exchange *ex, int code, const char *name_override,
                         const char *message, const char *resource, const char *region)
{
    render_error_extra(ex, code, name_override, message, resource, region, NULL);
}

void http__render_error(struct http_exchange *ex, int code, const char *message,
                        const char *resource)
{
    render_error(ex, code, NULL, message, resource, NULL);
}

/* ---- dispatch ---- */

/*
 * The one authorization hook: asks ctx->authorize whether the authenticated principal
 * may run operation of service. Returns 0, or SL_E(ACCESS_DENIED) with the answer
 * rendered in the protocol's AccessDenied shape.
 */
static int authorize(const struct http_server_ctx *ctx, struct http_exchange *ex,
                     const struct api_call *call, const char *service, const char *operation,
                     const struct api_params *params)
{
    if (ctx->authorize == NULL) {
        return 0;
    }
    struct err_info err;
    err_clear(&err);
    int rc = ctx->authorize(ctx->lookup_arg, call->req, service, operation, params, &err);
    if (rc < 0) {
        http__render_error(ex, rc, err.message, NULL);
    }
    return rc;
}

/* The S3 operation a request stands for, as near as the method and path tell it
   before the S3 adapter parses it (the name only words a denial). */
static const char *rest_operation(const struct api_request *req)
{
    const char *p = req->path[0] == '/' ? req->path + 1 : req->path;
    int object = strchr(p, '/') != NULL && strchr(p, '/')[1] != '\0';
    int bucket = p[0] != '\0';
    if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0) {
        return object ? "GetObject" : bucket ? "ListBucket" : "ListAllMyBuckets";
    }
    if (strcmp(req->method, "PUT") == 0 || strcmp(req->method, "POST") == 0) {
        return object ? "PutObject" : "CreateBucket";
    }
    if (strcmp(req->method, "DELETE") == 0) {
        return object ? "DeleteObject" : "DeleteBucket";
    }
    return "ListAllMyBuckets";
}

/* The operation X-Amz-Target names in the routed JSON service, or NULL. */
static const struct api_json_op *json_target_op(const struct http_exchange *ex)
{
    const struct api_json_service *svc = ex->json_svc;
    if (ex->rpcv2) {
        const char *op = svc != NULL ? strstr(ex->raw_uri, "/operation/") : NULL;
        size_t len = op != NULL ? strcspn(op + 11, "?/") : 0;
        for (size_t i = 0; op != NULL && i < svc->n_ops; i++) {
            if (strlen(svc->ops[i].name) == len && strncmp(svc->ops[i].name, op + 11, len) == 0) {
                return &svc->ops[i];
            }
        }
        return NULL;
    }
    const char *target = http__header(ex, "X-Amz-Target");
    const char *dot = target ? strchr(target, '.') : NULL;
    if (svc == NULL || dot == NULL || (size_t)(dot - target) != strlen(svc->target_prefix) ||
        strncmp(target, svc->target_prefix, (size_t)(dot - target)) != 0) {
        return NULL;
    }
    for (size_t i = 0; i < svc->n_ops; i++) {
        if (strcmp(svc->ops[i].name, dot + 1) == 0) {
            return &svc->ops[i];
        }
    }
    return NULL;
}

/* An answer of the JSON protocols: out (JSON text) as it is, or re-encoded in CBOR with
   the service's blobs and timestamps when the request was CBOR. */
static void finish_json(struct http_exchange *ex, struct api_call *call, int rc, struct buf *out)
{
    struct buf cbor;
    buf_init(&cbor);
    if (rc == 0 && speaks_cbor(ex)) {
        json_error_t jerr;
        json_t *doc = json_loadb((const char *)out->data, out->len, JSON_ALLOW_NUL, &jerr);
        struct cbor_encode_opts opts = {
            .blob_members = ex->json_svc->cbor_blob_members,
            .epoch_members = ex->json_svc->cbor_epoch_members,
            /* x-amz-cbor-1.1 timestamps are epoch milliseconds; RPC v2's are seconds */
            .epoch_scale = ex->rpcv2 ? 0 : 1000.0,
        };
        rc = doc != NULL ? cbor_encode(doc, &opts, &cbor) : SL_E(INTERNAL);
        json_decref(doc);
        if (rc < 0) {
            err_set(&call->err, rc, "%s", "");
        }
    }
    if (rc < 0) {
        buf_fini(&cbor);
        http__render_error(ex, rc, call->long_message ? call->long_message : call->err.message,
                           NULL);
        return;
    }
    struct api_response *r = &ex->resp;
    r->status = 200;
    api_response_header(r, "x-amzn-RequestId", ex->request_id);
    cors_headers(ex);
    if (r->stream != NULL) {
        buf_fini(&cbor);
        return; /* an event stream: the operation gave its own Content-Type */
    }
    buf_fini(&r->body);
    if (speaks_cbor(ex)) {
        api_response_header(r, "Content-Type", cbor_media_type(ex));
        r->body = cbor;
    } else {
        api_response_header(r, "Content-Type", "application/x-amz-json-1.1");
        r->body = *out;
        buf_init(out);
        buf_fini(&cbor);
    }
}

/* The answer Kinesis gives a plain application/json request: 200 with the error
   wrapped the way its internal framework writes it. */
static void answer_plain_json(struct http_exchange *ex, int parsed)
{
    struct api_response *r = &ex->resp;
    r->status = 200;
    api_response_header(r, "x-amzn-RequestId", ex->request_id);
    api_response_header(r, "Content-Type", "application/json");
    cors_headers(ex);
    buf_reset(&r->body);
    buf_puts(&r->body, parsed ? "{\"Output\":{\"__type\":\"com.amazon.coral.service#"
                                "UnknownOperationException\",\"message\":null},\"Version\":\"1.0\"}"
                              : "{\"Output\":{\"__type\":\"com.amazon.coral.service#"
                                "SerializationException\",\"Message\":null},\"Version\":\"1.0\"}");
}

/*
 * The request body as a JSON object, from JSON or CBOR; *input NULL when the body is
 * JSON and the op reads it raw. Returns 0, or an error code with the answer rendered.
 */
static int json_input(struct http_exchange *ex, const struct api_json_op *op, json_t **input)
{
    *input = NULL;
    const uint8_t *body = ex->body.data ? ex->body.data : (const uint8_t *)"";
    if (speaks_cbor(ex)) {
        struct err_info err;
        err_clear(&err);
        /* The AWS SDK for Java writes timestamps as tag 1 epoch milliseconds; RPC v2
           clients write seconds, and may send no body for an empty input. */
        struct cbor_decode_opts opts = {.epoch_scale = ex->rpcv2 ? 1.0 : 0.001};
        int rc = 0;
        if (ex->rpcv2 && ex->body_len == 0) {
            *input = json_object();
        } else {
            rc = cbor_decode(body, ex->body_len, &opts, input, &err);
        }
        if (rc == 0 && !json_is_object(*input)) {
            rc = err_set(&err, SL_E(SERIALIZATION),
                         "Start of structure or map found where not expected.");
        }
        if (rc < 0) {
            json_decref(*input);
            *input = NULL;
            http__render_error(ex, rc, err.message, NULL);
        }
        return rc;
    }
    if (op->raw_fn != NULL) {
        return 0;
    }
    json_error_t jerr;
    *input = ex->body_len == 0
                 ? json_object()
                 : json_loadb((const char *)body, ex->body_len, JSON_ALLOW_NUL, &jerr);
    if (*input == NULL || !json_is_object(*input)) {
        int parsed = *input != NULL;
        json_decref(*input);
        *input = NULL;
        http__render_error(ex, SL_E(SERIALIZATION),
                           parsed ? "Request body must be a JSON object."
                                  : "Start of structure or map found where not expected.",
                           NULL);
        return SL_E(SERIALIZATION);
    }
    return 0;
}

/* A raw op failed (raw ops check their own input, so the hot path builds no tree): if
   the front end's checks fault the input, theirs is the answer (they come before any
   lookup), worded with every violation. decoded: the CBOR input, or NULL for JSON. */
static void revalidate_raw(struct http_exchange *ex, struct api_call *call, json_t *decoded,
                           int *rc)
{
    const struct api_json_service *svc = ex->json_svc;
    if (svc->validate == NULL || is_server_fault(*rc) || ex->body_len == 0) {
        return;
    }
    json_error_t jerr;
    json_t *input = decoded != NULL ? json_incref(decoded)
                                    : json_loadb((const char *)ex->body.data, ex->body_len,
                                                 JSON_ALLOW_NUL, &jerr);
    if (json_is_object(input)) {
        struct err_info saved = call->err;
        err_clear(&call->err);
        int vrc = svc->validate(call, input);
        if (vrc < 0) {
            *rc = vrc;
        } else {
            call->err = saved;
        }
    }
    json_decref(input);
}

static void dispatch_json(const struct http_server_ctx *ctx, struct http_exchange *ex,
                          struct api_call *call)
{
    const struct api_json_service *svc = ex->json_svc;
    const struct api_json_op *op = json_target_op(ex);
    if (content_type_is(ex, "application/json")) {
        json_error_t jerr;
        json_t *doc = json_loadb((const char *)(ex->body.data ? ex->body.data : (uint8_t *)""),
                                 ex->body_len, 0, &jerr);
        answer_plain_json(ex, json_is_object(doc) || json_is_array(doc));
        json_decref(doc);
        return;
    }
    if (op == NULL) {
        http__render_error(ex, SL_E(UNKNOWN_OPERATION), "", NULL);
        return;
    }
    call->service_ctx = svc->ctx;
    call->operation = op->name;
    if (authorize(ctx, ex, call, svc->signing_name, op->name, NULL) < 0) {
        return;
    }
    json_t *input;
    if (json_input(ex, op, &input) < 0) {
        return;
    }
    struct buf out;
    buf_init(&out);
    int rc = 0;
    if (op->raw_fn != NULL) {
        if (input == NULL) {
            rc = op->raw_fn(call, ex->body.data ? ex->body.data : (const uint8_t *)"", ex->body_len,
                            &out);
        } else {
            /* CBOR to a raw op: handed over as the JSON it stands for. */
            struct buf text;
            buf_init(&text);
            rc = cbor_json_text(input, &text);
            if (rc == 0) {
                rc = op->raw_fn(call, text.data, text.len, &out);
            }
            buf_fini(&text);
        }
        if (rc < 0) {
            revalidate_raw(ex, call, input, &rc);
        }
    } else if (svc->validate != NULL && (rc = svc->validate(call, input)) < 0) {
        /* the front end's answer */
    } else {
        json_t *output = NULL;
        rc = op->fn(call, input, &output);
        if (rc == 0) {
            if (output == NULL) {
                output = json_object(); /* operations without output answer {} */
            }
            char *text = json_dumps(output, JSON_COMPACT);
            if (text == NULL) {
                rc = SL_E(NOMEM);
            } else {
                buf_puts(&out, text);
                free(text);
                rc = buf_status(&out);
            }
        }
        json_decref(output);
    }
    json_decref(input);
    finish_json(ex, call, rc, &out);
    buf_fini(&out);
}

static void dispatch_query(const struct http_server_ctx *ctx, struct http_exchange *ex,
                           struct api_call *call, const char *query)
{
    /* Fields from the query string, then from a POSTed form body: both sized by the
       client, so parsed with the may-fail allocator; running out is an error reply. */
    struct api_params params;
    query_params_init(&params.q);
    int prc = query_params_parse(&params.q, query, strlen(query));
    if (prc == 0 && strcmp(ex->method, "POST") == 0 && ex->body.data != NULL) {
        prc = query_params_parse(&params.q, (const char *)ex->body.data, ex->body_len);
    }
    if (prc < 0) {
        http__render_error(
            ex, prc, prc == SL_E(VALIDATION) ? "A parameter must not contain a NUL byte." : "",
            NULL);
        query_params_fini(&params.q);
        return;
    }
    const struct api_query_service *svc = ex->query_svc;
    const char *action = api_params_get(&params, "Action");
    const struct api_query_op *op = NULL;
    for (size_t i = 0; action != NULL && i < svc->n_ops; i++) {
        if (strcmp(svc->ops[i].action, action) == 0) {
            op = &svc->ops[i];
        }
    }
    if (op == NULL) {
        char msg[200];
        snprintf(msg, sizeof(msg), "Could not find operation %.100s for version %.40s",
                 action ? action : "",
                 api_params_get(&params, "Version") ? api_params_get(&params, "Version") : "");
        http__render_error(ex, SL_E(INVALID_ACTION), msg, NULL);
        query_params_fini(&params.q);
        return;
    }
    call->service_ctx = svc->ctx;
    call->operation = op->action;
    call->op_arg = op->arg;
    if (authorize(ctx, ex, call, svc->signing_name, op->action, &params) < 0) {
        query_params_fini(&params.q);
        return;
    }
    struct buf result;
    buf_init(&result);
    int rc = op->fn(call, &params, &result);
    if (rc == 0) {
        rc = buf_status(&result);
    }
    if (rc < 0) {
        http__render_error(ex, rc, call->err.message, NULL);
    } else {
        struct api_response *r = &ex->resp;
        r->status = 200;
        api_response_header(r, "x-amzn-RequestId", ex->request_id);
        api_response_header(r, "Content-Type", "text/xml");
        buf_printf(&r->body, "<%sResponse xmlns=\"%s\"><%sResult>", action, svc->xmlns, action);
        buf_append(&r->body, result.data, result.len);
        buf_printf(&r->body,
                   "</%sResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata>"
                   "</%sResponse>",
                   action, ex->request_id, action);
    }
    buf_fini(&result);
    query_params_fini(&params.q);
}

static void dispatch_rest(const struct http_server_ctx *ctx, struct http_exchange *ex,
                          struct api_call *call)
{
    const struct api_rest_service *svc = ex->rest_svc;
    if (svc == NULL) {
        http__render_error(ex, SL_E(UNKNOWN_OPERATION), "No service handles this request", NULL);
        return;
    }
    /* An unsigned request is the adapter's to decide (it allows only what is public). */
    if (call->req->principal_kind != HTTP_PRINCIPAL_ANONYMOUS &&
        authorize(ctx, ex, call, svc->signing_name, rest_operation(call->req), NULL) < 0) {
        return;
    }
    call->service_ctx = svc->ctx;
    ex->resp.status = 200;
    int rc = svc->handle(call);
    if (rc < 0) {
        render_error_extra(ex, rc, NULL, call->err.message, call->resource, NULL,
                           call->error_extra);
        return;
    }
    api_response_header(&ex->resp, "x-amz-request-id", ex->request_id);
    api_response_header(&ex->resp, "x-amzn-RequestId", ex->request_id);
}

/* The signing name of the service the exchange was routed to, or NULL when none was
   found (an unknown X-Amz-Target prefix, answered as an unknown operation). */
static const char *routed_service(const struct http_exchange *ex)
{
    switch (ex->proto) {
    case PROTO_JSON: return ex->json_svc != NULL ? ex->json_svc->signing_name : NULL;
    case PROTO_QUERY: return ex->query_svc != NULL ? ex->query_svc->signing_name : NULL;
    case PROTO_REST: return ex->rest_svc != NULL ? ex->rest_svc->signing_name : NULL;
    }
    return NULL;
}

/* What authentication established about a request. */
struct http_auth {
    struct sigv4_auth sig;     /* the parsed claim (for SigV2: key and service only) */
    struct http_principal who; /* the key's owner */
    uint8_t signing_key[32];   /* SigV4's, for S3's chunk signatures; zero for SigV2 */
};

/* Hex SHA-256 of the empty string, the payload hash of a request without a body. */
static const char empty_sha256[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/* 1 when the query has a field named name (not decoded: SigV4's names need none). */
static int query_has(const char *query, const char *name)
{
    size_t q_len = strlen(query), pos = 0, n = strlen(name);
    struct query_field f;
    while (query_next(query, q_len, &pos, &f)) {
        if (f.name_len == n && memcmp(f.name, name, n) == 0 && f.value_len > 0) {
            return 1;
        }
    }
    return 0;
}

/* 1 when the Authorization header has a non-empty "name=" parameter. */
static int auth_has(const char *auth, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = strchr(auth, ' '); p != NULL && *p != '\0';) {
        p += strspn(p, ", ");
        size_t len = strcspn(p, ", ");
        if (len > n + 1 && strncmp(p, name, n) == 0 && p[n] == '=') {
            return 1;
        }
        p += len;
    }
    return 0;
}

/*
 * What the JSON services' front end says of a signature's shape before SigV4 proper:
 * both mechanisms at once, or an Authorization header or a presigned query that lacks
 * a part, every missing part named. 0 when there is nothing to say.
 */
static int json_auth_shape(const struct http_exchange *ex, const char *query, struct err_info *err)
{
    const char *auth = http__header(ex, "Authorization");
    int presigned = query_has(query, "X-Amz-Algorithm");
    if (auth != NULL && presigned) {
        return err_set(err, SL_E(AUTH_BAD_SIGNATURE),
                       "Found both 'X-Amz-Algorithm' as a query-string param and "
                       "'Authorization' as HTTP header.");
    }
    struct buf msg;
    buf_init(&msg);
    if (auth != NULL) {
        static const char *const parts[] = {"Credential", "Signature", "SignedHeaders"};
        for (size_t i = 0; i < 3; i++) {
            if (!auth_has(auth, parts[i])) {
                buf_printf(&msg, "Authorization header requires '%s' parameter. ", parts[i]);
            }
        }
        if (http__header(ex, "X-Amz-Date") == NULL && http__header(ex, "Date") == NULL) {
            buf_puts(&msg, "Authorization header requires existence of either a 'X-Amz-Date' "
                           "or a 'Date' header. ");
        }
        if (msg.len > 0) {
            buf_printf(&msg, "Authorization=%.256s", auth);
        }
    } else if (presigned) {
        static const char *const parts[] = {"X-Amz-Algorithm", "X-Amz-Credential",
                                            "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date"};
        for (size_t i = 0; i < 5; i++) {
            if (!query_has(query, parts[i])) {
                buf_printf(&msg, "AWS query-string parameters must include '%s'. ", parts[i]);
            }
        }
        if (msg.len > 0) {
            buf_puts(&msg, "Re-examine the query-string parameters.");
        }
    }
    int rc = 0;
    if (msg.len > 0) {
        rc = err_set(err, SL_E(AUTH_MALFORMED), "%s", (const char *)msg.data);
    }
    buf_fini(&msg);
    return rc;
}

static int has_no_body(const struct http_exchange *ex);

/*
 * An S3 request that carries no signature but may still be served: a browser's CORS
 * preflight (OPTIONS), a form upload (POST of multipart/form-data, signed in its
 * fields), or a read that an ACL or a public policy may allow (GET, HEAD). Only the
 * form has a body; the S3 adapter decides each, refusing the rest as S3 does.
 */
static int s3_unsigned_admissible(const struct http_exchange *ex)
{
    if (strcmp(ex->method, "OPTIONS") == 0 || strcmp(ex->method, "GET") == 0 ||
        strcmp(ex->method, "HEAD") == 0) {
        return has_no_body(ex); /* a stranger's body is never read for these */
    }
    return strcmp(ex->method, "POST") == 0 && content_type_is(ex, "multipart/form-data");
}

/*
 * Authenticates ex: SigV4 in the Authorization header or the query, or an S3 URL
 * presigned with Signature Version 2. payload_hash is the hash the signature covers, or
 * NULL while the body has not arrived: then every rule but the signature itself is
 * checked (header well formed, key known, date within the skew, scope), which relies
 * on sigv4_verify checking the signature last. Fills *auth on success. On failure
 * renders AWS's error for the protocol into ex->resp and returns its code.
 */
static int authenticate(const struct http_server_ctx *ctx, struct http_exchange *ex,
                        const char *path, const char *query, const struct sigv4_header *sig_headers,
                        const char *payload_hash, int64_t now_ms, struct http_auth *auth)
{
    struct sigv4_request sreq = {
        .method = ex->method,
        .path = path,
        .query = query,
        .headers = sig_headers,
        .n_headers = ex->n_headers,
        .payload_hash = payload_hash != NULL ? payload_hash : "",
        .s3 = ex->proto == PROTO_REST,
    };
    struct sigv4_auth *sig = &auth->sig;
    struct err_info err;
    err_clear(&err);
    char secret[256];
    int rc = ex->proto == PROTO_JSON ? json_auth_shape(ex, query, &err) : 0;
    if (rc == 0) {
        rc = sigv4_parse(&sreq, sig, &err);
    }
    if (rc == SL_E(AUTH_MISSING) && sreq.s3 && !sigv2_query_present(query) &&
        s3_unsigned_admissible(ex)) {
        memset(&auth->who, 0, sizeof(auth->who));
        auth->who.kind = HTTP_PRINCIPAL_ANONYMOUS;
        snprintf(auth->who.arn, sizeof(auth->who.arn), "*");
        return 0;
    }
    int legacy = 0;
    int scope_checked = 0;
    if (rc == SL_E(AUTH_MISSING) && sreq.s3 && sigv2_query_present(query)) {
        /* An S3 URL presigned with Signature Version 2, as boto3 still makes them. */
        struct sigv2_query v2;
        err_clear(&err);
        legacy = 1;
        rc = sigv2_parse(query, &v2, &err);
        if (rc == 0) {
            const char *token = http__header(ex, "x-amz-security-token");
            rc = ctx->lookup(ctx->lookup_arg, v2.access_key_id, token != NULL ? token : "", now_ms,
                             secret, sizeof(secret), &auth->who);
            if (rc < 0) {
                err_set(&err, rc,
                        "The AWS Access Key Id you provided does not exist in our "
                        "records.");
            }
        }
        if (rc == 0) {
            char *bucket = ex->rest_svc != NULL && ex->rest_svc->host_bucket != NULL
                               ? ex->rest_svc->host_bucket(http__header(ex, "Host"))
                               : NULL;
            rc = sigv2_verify(ex->method, bucket, path, query, sig_headers, ex->n_headers, &v2,
                              secret, now_ms, &err);
            free(bucket);
        }
        if (rc == 0) {
            snprintf(sig->access_key_id, sizeof(sig->access_key_id), "%s", v2.access_key_id);
            snprintf(sig->service, sizeof(sig->service), "s3");
            sig->presigned = 1;
            memset(auth->signing_key, 0, sizeof(auth->signing_key));
        }
    } else if (rc == 0) {
        rc = sigv4_check_scope(sig, sreq.s3, routed_service(ex), ctx->cfg->region, &err);
        scope_checked = 1;
    }
    int body_pending = 0;
    if (rc == 0 && !legacy) {
        if (sig->presigned && sreq.s3) {
            /* S3 presigns without the body; every other service signs its hash. */
            sreq.payload_hash = "UNSIGNED-PAYLOAD";
        } else {
            body_pending = payload_hash == NULL;
        }
        rc = ctx->lookup(ctx->lookup_arg, sig->access_key_id, sig->security_token, now_ms, secret,
                         sizeof(secret), &auth->who);
        if (rc == SL_E(AUTH_EXPIRED)) {
            err_set(&err, rc, "The security token included in the request is expired");
        } else if (rc < 0) {
            err_set(&err, rc, "The security token included in the request is invalid.");
        }
    }
    if (rc == 0 && !legacy) {
        rc = sigv4_verify(&sreq, sig, secret, now_ms, auth->signing_key, &err);
        if (body_pending && rc == SL_E(AUTH_BAD_SIGNATURE)) {
            rc = 0; /* every other rule held; the signature waits for the body */
        }
    }
    explicit_bzero(secret, sizeof(secret));
    if (rc < 0) {
        /* S3 names a malformed presigned URL differently, and a wrong region's error
           says which region to use. */
        int s3_query_auth = ex->proto == PROTO_REST && !legacy && rc == SL_E(AUTH_MALFORMED) &&
                            http__header(ex, "Authorization") == NULL;
        int s3_region = ex->proto == PROTO_REST && scope_checked && rc == SL_E(AUTH_MALFORMED) &&
                        strcmp(sig->region, ctx->cfg->region) != 0;
        render_error(ex, rc, s3_query_auth ? "AuthorizationQueryParametersError" : NULL,
                     err.message, NULL, s3_region ? ctx->cfg->region : NULL);
    }
    return rc;
}

/*
 * The request target split into a path and a query, and the headers as SigV4 reads
 * them; both sized by the client, so the may-fail allocator. Returns 0 or SL_E(NOMEM).
 */
static int split_request(const struct http_exchange *ex, char **path_out, const char **query_out,
                         struct sigv4_header **headers_out)
{
    size_t uri_len = strlen(ex->raw_uri);
    char *path = try_malloc(uri_len + 1);
    struct sigv4_header *headers = try_malloc((ex->n_headers + 1) * sizeof(*headers));
    if (path == NULL || headers == NULL) {
        free(path);
        free(headers);
        return SL_E(NOMEM);
    }
    memcpy(path, ex->raw_uri, uri_len + 1);
    char *q = strchr(path, '?');
    *query_out = "";
    if (q != NULL) {
        *q = '\0';
        *query_out = q + 1;
    }
    for (size_t i = 0; i < ex->n_headers; i++) {
        headers[i].name = ex->headers[i].name;
        headers[i].value = ex->headers[i].value;
    }
    *path_out = path;
    *headers_out = headers;
    return 0;
}

/* 1 when the request announces no body at all (HTTP/2 may send one without a length). */
static int has_no_body(const struct http_exchange *ex)
{
    if (ex->body_expected || http__header(ex, "Transfer-Encoding") != NULL) {
        return 0;
    }
    const char *cl = http__header(ex, "Content-Length");
    return cl == NULL || strcmp(cl, "0") == 0;
}

/* A body-less error in the bare XML the JSON services' front end answers with when it
   cannot tell what a request is for. */
static void render_bare_xml(struct http_exchange *ex, int status, const char *xml)
{
    struct api_response *r = &ex->resp;
    buf_reset(&r->body);
    r->status = status;
    api_response_header(r, "x-amzn-RequestId", ex->request_id);
    cors_headers(ex);
    buf_puts(&r->body, xml);
}

/* 1 when the request's media type is the routed service's JSON version (either when
   no service was found). */
static int json_media_type(const struct http_exchange *ex)
{
    const char *v = ex->json_svc != NULL ? ex->json_svc->json_version : NULL;
    return ((v == NULL || strcmp(v, "1.1") == 0) &&
            content_type_is(ex, "application/x-amz-json-1.1")) ||
           ((v == NULL || strcmp(v, "1.0") == 0) &&
            content_type_is(ex, "application/x-amz-json-1.0"));
}

/*
 * What the JSON services' front end answers before it authenticates, from the headers
 * (and has_body): method, media type, an empty body, the target, in that order, each
 * as Kinesis answers it. Returns 0 to go on, 1 for a CORS preflight (answered without
 * credentials), or an error code with the answer rendered into ex->resp.
 */
static int json_precheck(struct http_exchange *ex, int has_body)
{
    if (is_json_preflight(ex)) {
        return 1;
    }
    if (ex->rpcv2) {
        /* RPC v2: the path names the operation; the body may be empty. */
        int code = strcmp(ex->method, "POST") != 0 || json_target_op(ex) == NULL
                       ? SL_E(UNKNOWN_OPERATION)
                       : 0;
        if (code < 0) {
            http__render_error(ex, code, "", NULL);
        }
        return code;
    }
    if (strcmp(ex->method, "POST") != 0) {
        render_bare_xml(ex, 403,
                        "<AccessDeniedException>\n  <Message>Unable to determine service/operation "
                        "name to be authorized</Message>\n</AccessDeniedException>\n");
        return SL_E(ACCESS_DENIED);
    }
    const struct api_json_op *op = json_target_op(ex);
    int json = json_media_type(ex);
    if (!has_body) {
        /* Answered in JSON to a JSON request, else in CBOR whatever the type was. */
        int code = op != NULL ? SL_E(SERIALIZATION) : SL_E(UNKNOWN_OPERATION);
        struct api_response *r = &ex->resp;
        buf_reset(&r->body);
        r->status = 400;
        api_response_header(r, "x-amzn-RequestId", ex->request_id);
        if (json || (ex->json_svc != NULL && ex->json_svc->cbor_blob_members == NULL)) {
            json_error_body(ex, err_aws_name(code), "");
        } else {
            json_t *body = json_pack("{s:s}", "__type", err_aws_name(code));
            api_response_header(r, "Content-Type", CBOR_MEDIA_TYPE);
            api_response_header(r, "x-amzn-ErrorType", err_aws_name(code));
            cors_headers(ex);
            if (body != NULL) {
                cbor_encode(body, NULL, &r->body);
            }
            json_decref(body);
        }
        return code;
    }
    if (!json && !speaks_cbor(ex) && !content_type_is(ex, "application/json")) {
        const char *target = http__header(ex, "X-Amz-Target");
        const char *dot = target != NULL ? strchr(target, '.') : NULL;
        if (dot == NULL || dot == target || dot[1] == '\0') {
            render_bare_xml(ex, 403,
                            "<AccessDeniedException>\n  <Message>Unable to determine "
                            "service/operation name to be authorized</Message>\n"
                            "</AccessDeniedException>\n");
            return SL_E(ACCESS_DENIED);
        }
        render_bare_xml(ex, 404, "<UnknownOperationException/>\n");
        return SL_E(UNKNOWN_OPERATION);
    }
    if (op == NULL && !content_type_is(ex, "application/json")) {
        http__render_error(ex, SL_E(UNKNOWN_OPERATION), "", NULL);
        return SL_E(UNKNOWN_OPERATION);
    }
    return 0;
}

/*
 * The gate: authentication from the headers alone, before a body byte is read, so that
 * a request that fails it never costs more than its headers (no body buffered, spooled
 * or even acknowledged with "100 Continue"). What can be proved then depends on what the
 * signature covers:
 *
 *   S3 with x-amz-content-sha256    the payload hash is a header (hex, UNSIGNED-PAYLOAD,
 *                                   STREAMING-...): the signature is verified whole;
 *   presigned S3 (SigV4 or SigV2)   the body is never signed: verified whole;
 *   any request without a body      the payload hash is that of "": verified whole;
 *   everything else (JSON, query)   the signature covers the body's hash: every other
 *                                   rule now, the signature once the bounded body has
 *                                   arrived (http__handle verifies every request again).
 */
int http__gate(const struct http_server_ctx *ctx, struct http_exchange *ex)
{
    char *path;
    const char *query;
    struct sigv4_header *sig_headers;
    if (ex->plain_svc != NULL) {
        return 0; /* its own credentials, checked when answered */
    }
    if (ex->proto == PROTO_JSON) {
        int pre = json_precheck(ex, !has_no_body(ex));
        if (pre != 0) {
            return pre < 0 ? pre : 0;
        }
    }
    int rc = split_request(ex, &path, &query, &sig_headers);
    if (rc < 0) {
        http__render_error(ex, rc, "", NULL);
        return rc;
    }
    const char *content_sha =
        ex->proto == PROTO_REST ? http__header(ex, "x-amz-content-sha256") : NULL;
    const char *payload_hash = content_sha ? content_sha : has_no_body(ex) ? empty_sha256 : NULL;
    struct http_auth *auth = xcalloc(1, sizeof(*auth));
    rc = authenticate(ctx, ex, path, query, sig_headers, payload_hash, clock_now_ms(), auth);
    free(auth);
    free(sig_headers);
    free(path);
    return rc;
}

/* A plain service's answer (api_registry_add_plain). */
static void answer_plain(struct http_exchange *ex, int64_t now_ms)
{
    size_t len = strcspn(ex->raw_uri, "?");
    char *path = xstrndup(ex->raw_uri, len);
    struct api_request req = {
        .request_id = ex->request_id,
        .method = ex->method,
        .path = path,
        .query = ex->raw_uri[len] == '?' ? ex->raw_uri + len + 1 : "",
        .host = http__header(ex, "Host") ? http__header(ex, "Host") : "",
        .body = (const uint8_t *)"",
        .body_fd = -1,
        .headers = ex->headers,
        .n_headers = ex->n_headers,
        .account_id = "",
        .access_key_id = "",
        .region = "",
        .signing_service = "",
        .now_ms = now_ms,
    };
    ex->resp.status = 200;
    buf_reset(&ex->resp.body);
    api_response_header(&ex->resp, "x-amzn-RequestId", ex->request_id);
    ex->plain_svc->fn(ex->plain_svc->ctx, &req, &ex->resp);
    ex->resp.head_only = strcmp(ex->method, "HEAD") == 0;
    free(path);
}

static void handle(const struct http_server_ctx *ctx, struct http_exchange *ex,
                   const char **operation);

void http__handle(const struct http_server_ctx *ctx, struct http_exchange *ex)
{
    int64_t started = clock_mono_ns();
    const char *operation = NULL;
    if (ex->plain_svc != NULL) {
        answer_plain(ex, clock_now_ms());
    } else {
        handle(ctx, ex, &operation);
    }
    if ((ctx->reg->observe != NULL || ctx->reg->observe_detail != NULL) &&
        ex->plain_svc == NULL) {
        const char *svc = routed_service(ex);
        int status = ex->resp.status ? ex->resp.status : 200;
        int64_t elapsed_us = (clock_mono_ns() - started) / 1000;
        if (ctx->reg->observe != NULL) {
            ctx->reg->observe(ctx->reg->observe_arg, svc ? svc : "", operation, status,
                              elapsed_us);
        }
        if (ctx->reg->observe_detail != NULL) {
            const struct api_response *r = &ex->resp;
            /* S3's aws-chunked bodies: the payload, not its framing */
            const char *decoded = http__header(ex, "x-amz-decoded-content-length");
            struct api_observation o = {
                .service = svc ? svc : "",
                .operation = operation,
                .method = ex->method,
                .status = status,
                .elapsed_us = elapsed_us,
                .bucket = r->metrics_bucket[0] ? r->metrics_bucket : NULL,
                .bucket_operation = r->metrics_operation,
                .key = r->metrics_key,
                .bytes_in = decoded ? strtoull(decoded, NULL, 10) : ex->body_len,
                .bytes_out = r->head_only || r->stream ? 0
                             : r->body_fd >= 0         ? (uint64_t)r->body_fd_len
                                                       : (uint64_t)r->body.len,
            };
            ctx->reg->observe_detail(ctx->reg->observe_detail_arg, &o);
        }
    }
}

static void handle(const struct http_server_ctx *ctx, struct http_exchange *ex,
                   const char **operation)
{
    int64_t now_ms = clock_now_ms();
    char *path = NULL;
    const char *query;
    struct sigv4_header *sig_headers = NULL;
    struct http_auth *auth = xcalloc(1, sizeof(*auth));
    if (ex->proto == PROTO_JSON) {
        int pre = json_precheck(ex, ex->body_len > 0);
        if (pre != 0) {
            if (pre > 0) {
                answer_preflight(ex);
            }
            goto out;
        }
    }
    int rc = split_request(ex, &path, &query, &sig_headers);
    if (rc < 0) {
        http__render_error(ex, rc, "", NULL);
        goto out;
    }

    /* The payload hash SigV4 signs: S3 sends its own, the others sign the body's. */
    char body_hash[65];
    const char *payload_hash = body_hash;
    if (ex->proto == PROTO_REST && http__header(ex, "x-amz-content-sha256") != NULL) {
        payload_hash = http__header(ex, "x-amz-content-sha256");
    } else if (ex->proto == PROTO_REST && ex->body_fd >= 0) {
        payload_hash = "UNSIGNED-PAYLOAD";
    } else {
        uint8_t digest[SHA256_LEN];
        crypto_sha256(ex->body.data ? ex->body.data : (const uint8_t *)"", ex->body_len, digest);
        hex_encode(digest, SHA256_LEN, body_hash);
    }
    if (authenticate(ctx, ex, path, query, sig_headers, payload_hash, now_ms, auth) < 0) {
        goto out;
    }

    struct api_request req = {
        .request_id = ex->request_id,
        .method = ex->method,
        .path = path,
        .query = query,
        .host = http__header(ex, "Host") ? http__header(ex, "Host") : "",
        .body = ex->body_fd < 0 ? (ex->body.data ? ex->body.data : (const uint8_t *)"") : NULL,
        .body_len = ex->body_len,
        .body_fd = ex->body_fd,
        .headers = ex->headers,
        .n_headers = ex->n_headers,
        .account_id = auth->who.account,
        .access_key_id = auth->sig.access_key_id,
        .principal_kind = (int)auth->who.kind,
        .principal_arn = auth->who.arn,
        .principal_id = auth->who.id,
        .principal_name = auth->who.name,
        .region = ctx->cfg->region, /* SigV4 scopes were checked to name it */
        .signing_service = auth->sig.service,
        .seed_signature = auth->sig.presigned ? "" : auth->sig.signature,
        .signing_key = auth->signing_key,
        .amz_date = auth->sig.amz_date,
        .credential_scope = auth->sig.scope,
        .now_ms = now_ms,
        .key_lookup = ctx->lookup,
        .authorize = ctx->authorize,
        .auth_arg = ctx->lookup_arg,
    };
    /* aws:SourceIp for policies */
    char source_ip[INET_ADDRSTRLEN];
    uint32_t peer = http__slot_addr(ex->slot);
    if (peer != 0 && inet_ntop(AF_INET, &peer, source_ip, sizeof(source_ip)) != NULL) {
        req.source_ip = source_ip;
    }
    struct api_call call = {.req = &req, .resp = &ex->resp};
    err_clear(&call.err);
    call.long_message = NULL;
    if (ex->proto != PROTO_REST && (rc = inflate_body(ex)) < 0) {
        http__render_error(ex, rc, rc == SL_E(BODY_TOO_LARGE) ? "Request body too large."
                                                             : "The gzip body is not valid.",
                           NULL);
        goto out;
    }
    if (ex->body_fd < 0) {
        req.body = ex->body.data ? ex->body.data : (const uint8_t *)"";
        req.body_len = ex->body_len;
    }
    switch (ex->proto) {
    case PROTO_JSON: dispatch_json(ctx, ex, &call); break;
    case PROTO_QUERY: dispatch_query(ctx, ex, &call, query); break;
    case PROTO_REST: dispatch_rest(ctx, ex, &call); break;
    }
    *operation = ex->proto == PROTO_REST ? rest_operation(&req) : call.operation;
    free(call.long_message);
out:
    free(auth);
    free(sig_headers);
    free(path);
}
