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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/mem.h"
#include "http/http_int.h"
#include "http/sigv2.h"
#include "http/sigv4.h"
#include "core/text.h"

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

/* ---- form fields (query protocol) ---- */

struct api_params {
    char **names;
    char **values;
    size_t n;
};

const char *api_params_get(const struct api_params *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->names[i], name) == 0) {
            return p->values[i];
        }
    }
    return NULL;
}

size_t api_params_count(const struct api_params *p)
{
    return p->n;
}

const char *api_params_name(const struct api_params *p, size_t idx)
{
    return idx < p->n ? p->names[idx] : NULL;
}

const char *api_params_value(const struct api_params *p, size_t idx)
{
    return idx < p->n ? p->values[idx] : NULL;
}

static void params_parse(struct api_params *p, const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && s[end] != '&') {
            end++;
        }
        if (end > i) {
            const char *eq = memchr(s + i, '=', end - i);
            size_t name_len = eq ? (size_t)(eq - (s + i)) : end - i;
            p->names = xrealloc(p->names, (p->n + 1) * sizeof(char *));
            p->values = xrealloc(p->values, (p->n + 1) * sizeof(char *));
            p->names[p->n] = percent_decode(s + i, name_len, 1);
            p->values[p->n] =
                eq ? percent_decode(eq + 1, (size_t)(s + end - eq - 1), 1) : xstrdup("");
            p->n++;
        }
        i = end + 1;
    }
}

static void params_fini(struct api_params *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->names[i]);
        free(p->values[i]);
    }
    free(p->names);
    free(p->values);
}

/* ---- routing ---- */

/* The service named in the SigV4 credential scope (header or presigned query), or "". */
static void scope_service(const struct http_exchange *ex, char *out, size_t size)
{
    out[0] = '\0';
    const char *cred = NULL;
    const char *auth = http__header(ex, "Authorization");
    if (auth != NULL) {
        cred = strstr(auth, "Credential=");
        if (cred != NULL) {
            cred += strlen("Credential=");
        }
    } else {
        const char *q = strchr(ex->raw_uri, '?');
        if (q != NULL) {
            cred = strstr(q, "X-Amz-Credential=");
            if (cred != NULL) {
                cred += strlen("X-Amz-Credential=");
            }
        }
    }
    if (cred == NULL) {
        return;
    }
    /* AKID/date/region/service/aws4_request, '/' possibly as %2F in a query. */
    int field = 0;
    size_t o = 0;
    for (const char *c = cred; *c && *c != ',' && *c != '&' && *c != ' '; c++) {
        int slash = *c == '/';
        if (c[0] == '%' && c[1] == '2' && (c[2] == 'F' || c[2] == 'f')) {
            slash = 1;
            c += 2;
        }
        if (slash) {
            field++;
            continue;
        }
        if (field == 3 && o + 1 < size) {
            out[o++] = *c;
        }
    }
    out[o] = '\0';
}

void http__route(const struct api_registry *reg, struct http_exchange *ex)
{
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
    const char *message; /* a default message, or NULL to keep the given one */
};

static const struct rename query_renames[] = {
    {SL_E(AUTH_MISSING), "MissingAuthenticationToken", 403, "Request is missing Authentication Token"},
    {SL_E(AUTH_UNKNOWN_KEY), "InvalidClientTokenId", 403, NULL},
    {SL_E(AUTH_BAD_SIGNATURE), "SignatureDoesNotMatch", 403, NULL},
    {SL_E(AUTH_SKEWED), "SignatureDoesNotMatch", 403, NULL},
    {SL_E(AUTH_EXPIRED), "ExpiredToken", 400, NULL},
    {SL_E(AUTH_MALFORMED), "IncompleteSignature", 400, NULL},
    {SL_E(VALIDATION), "ValidationError", 400, NULL},
    {SL_E(BODY_TOO_LARGE), "RequestEntityTooLarge", 413, NULL},
};

static const struct rename rest_renames[] = {
    {SL_E(AUTH_MISSING), "AccessDenied", 403, "Access Denied"},
    {SL_E(AUTH_UNKNOWN_KEY), "InvalidAccessKeyId", 403,
     "The AWS Access Key Id you provided does not exist in our records."},
    {SL_E(AUTH_BAD_SIGNATURE), "SignatureDoesNotMatch", 403, NULL},
    {SL_E(AUTH_SKEWED), "RequestTimeTooSkewed", 403,
     "The difference between the request time and the current time is too large."},
    {SL_E(AUTH_EXPIRED), "AccessDenied", 403, "Request has expired"},
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

void http__render_error(struct http_exchange *ex, int code, const char *message,
                        const char *resource)
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
            if (table[i].message != NULL && (message == NULL || message[0] == '\0' ||
                                             code == SL_E(AUTH_UNKNOWN_KEY))) {
                message = table[i].message;
            }
        }
    }
    if (!err_is_sluice(code)) {
        name = ex->proto == PROTO_REST ? "InternalError" : "InternalFailure";
        status = 500;
    }
    if (message == NULL || message[0] == '\0') {
        message = is_server_fault(code) ? "We encountered an internal error. Please try again."
                                        : "";
    }
    if (is_server_fault(code)) {
        log_msg(LOG_WARN, "http", "%s %s: %s (%s)", ex->method, ex->raw_uri, sl_strerror(code),
                message);
    }
    r->status = status;
    api_response_header(r, "x-amzn-RequestId", ex->request_id);
    switch (ex->proto) {
    case PROTO_JSON:
        api_response_header(r, "Content-Type", "application/x-amz-json-1.1");
        api_response_header(r, "x-amzn-ErrorType", name);
        buf_puts(&r->body, "{\"__type\":");
        buf_json_string(&r->body, name, strlen(name));
        buf_puts(&r->body, ",\"message\":");
        buf_json_string(&r->body, message, strlen(message));
        buf_puts(&r->body, "}");
        break;
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
        buf_printf(&r->body, "<RequestId>%s</RequestId></Error>", ex->request_id);
        if (strcmp(ex->method, "HEAD") == 0) {
            buf_reset(&r->body); /* HEAD errors carry no body */
        }
        break;
    }
}

/* ---- dispatch ---- */

static void finish_json(struct http_exchange *ex, struct api_call *call, int rc, struct buf *out)
{
    if (rc < 0) {
        http__render_error(ex, rc, call->err.message, NULL);
        return;
    }
    struct api_response *r = &ex->resp;
    r->status = 200;
    api_response_header(r, "x-amzn-RequestId", ex->request_id);
    api_response_header(r, "Content-Type", "application/x-amz-json-1.1");
    buf_fini(&r->body);
    r->body = *out;
    buf_init(out);
}

static void dispatch_json(struct http_exchange *ex, struct api_call *call)
{
    const struct api_json_service *svc = ex->json_svc;
    const char *target = http__header(ex, "X-Amz-Target");
    const char *dot = target ? strchr(target, '.') : NULL;
    const struct api_json_op *op = NULL;
    for (size_t i = 0; svc != NULL && dot != NULL && i < svc->n_ops; i++) {
        if (strcmp(svc->ops[i].name, dot + 1) == 0) {
            op = &svc->ops[i];
        }
    }
    if (op == NULL) {
        http__render_error(ex, SL_E(UNKNOWN_OPERATION), "", NULL);
        return;
    }
    call->service_ctx = svc->ctx;
    call->operation = op->name;
    struct buf out;
    buf_init(&out);
    int rc;
    if (op->raw_fn != NULL) {
        rc = op->raw_fn(call, ex->body.data ? ex->body.data : (const uint8_t *)"", ex->body_len,
                        &out);
    } else {
        json_t *input;
        json_error_t jerr;
        if (ex->body_len == 0) {
            input = json_object();
        } else {
            input = json_loadb((const char *)ex->body.data, ex->body_len, JSON_ALLOW_NUL, &jerr);
        }
        if (input == NULL || !json_is_object(input)) {
            json_decref(input);
            http__render_error(ex, SL_E(SERIALIZATION),
                               input == NULL ? "Start of structure or map found where not expected."
                                             : "Request body must be a JSON object.",
                               NULL);
            return;
        }
        json_t *output = NULL;
        rc = op->fn(call, input, &output);
        json_decref(input);
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
    finish_json(ex, call, rc, &out);
    buf_fini(&out);
}

static void dispatch_query(struct http_exchange *ex, struct api_call *call, const char *query)
{
    struct api_params params = {0};
    params_parse(&params, query, strlen(query));
    if (strcmp(ex->method, "POST") == 0 && ex->body.data != NULL) {
        params_parse(&params, (const char *)ex->body.data, ex->body_len);
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
                 action ? action : "", api_params_get(&params, "Version") ? api_params_get(&params, "Version") : "");
        http__render_error(ex, SL_E(INVALID_ACTION), msg, NULL);
        params_fini(&params);
        return;
    }
    call->service_ctx = svc->ctx;
    call->operation = op->action;
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
    params_fini(&params);
}

static void dispatch_rest(struct http_exchange *ex, struct api_call *call)
{
    const struct api_rest_service *svc = ex->rest_svc;
    if (svc == NULL) {
        http__render_error(ex, SL_E(UNKNOWN_OPERATION), "No service handles this request", NULL);
        return;
    }
    call->service_ctx = svc->ctx;
    ex->resp.status = 200;
    int rc = svc->handle(call);
    if (rc < 0) {
        http__render_error(ex, rc, call->err.message, call->resource);
        return;
    }
    api_response_header(&ex->resp, "x-amz-request-id", ex->request_id);
    api_response_header(&ex->resp, "x-amzn-RequestId", ex->request_id);
}

void http__handle(const struct http_server_ctx *ctx, struct http_exchange *ex)
{
    int64_t now_ms = clock_now_ms();
    char *path = xstrdup(ex->raw_uri);
    char *q = strchr(path, '?');
    const char *query = "";
    if (q != NULL) {
        *q = '\0';
        query = q + 1;
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
    struct sigv4_header *sig_headers = xcalloc(ex->n_headers + 1, sizeof(*sig_headers));
    for (size_t i = 0; i < ex->n_headers; i++) {
        sig_headers[i].name = ex->headers[i].name;
        sig_headers[i].value = ex->headers[i].value;
    }
    struct sigv4_request sreq = {
        .method = ex->method,
        .path = path,
        .query = query,
        .headers = sig_headers,
        .n_headers = ex->n_headers,
        .payload_hash = payload_hash,
        .s3 = ex->proto == PROTO_REST,
    };
    struct sigv4_auth *auth = xcalloc(1, sizeof(*auth));
    struct err_info err;
    err_clear(&err);
    char secret[256];
    char account[32];
    uint8_t signing_key[32];
    int rc = sigv4_parse(&sreq, auth, &err);
    int legacy = 0;
    if (rc == SL_E(AUTH_MISSING) && sreq.s3 && sigv2_query_present(query)) {
        /* An S3 URL presigned with Signature Version 2, as boto3 still makes them. */
        struct sigv2_query v2;
        err_clear(&err);
        legacy = 1;
        rc = sigv2_parse(query, &v2, &err);
        if (rc == 0) {
            rc = ctx->lookup(ctx->lookup_arg, v2.access_key_id, secret, sizeof(secret), account,
                             sizeof(account));
            if (rc < 0) {
                err_set(&err, rc, "The AWS Access Key Id you provided does not exist in our "
                                  "records.");
            }
        }
        if (rc == 0) {
            rc = sigv2_verify(ex->method, path, query, sig_headers, ex->n_headers, &v2, secret,
                              now_ms, &err);
        }
        if (rc == 0) {
            snprintf(auth->access_key_id, sizeof(auth->access_key_id), "%s", v2.access_key_id);
            snprintf(auth->service, sizeof(auth->service), "s3");
            auth->presigned = 1;
            memset(signing_key, 0, sizeof(signing_key));
        }
    } else if (rc == 0) {
        if (auth->presigned && sreq.s3) {
            /* S3 presigns without the body; every other service signs its hash. */
            sreq.payload_hash = "UNSIGNED-PAYLOAD";
        }
        rc = ctx->lookup(ctx->lookup_arg, auth->access_key_id, secret, sizeof(secret), account,
                         sizeof(account));
        if (rc < 0) {
            err_set(&err, rc, "The security token included in the request is invalid.");
        }
    }
    if (rc == 0 && !legacy) {
        rc = sigv4_verify(&sreq, auth, secret, now_ms, signing_key, &err);
    }
    if (rc < 0) {
        http__render_error(ex, rc, err.message, NULL);
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
        .account_id = account,
        .access_key_id = auth->access_key_id,
        .region = auth->region[0] ? auth->region : ctx->cfg->region,
        .signing_service = auth->service,
        .seed_signature = auth->presigned ? "" : auth->signature,
        .signing_key = signing_key,
        .amz_date = auth->amz_date,
        .credential_scope = auth->scope,
        .now_ms = now_ms,
    };
    struct api_call call = {.req = &req, .resp = &ex->resp};
    err_clear(&call.err);
    switch (ex->proto) {
    case PROTO_JSON:
        if (strcmp(ex->method, "POST") != 0) {
            http__render_error(ex, SL_E(UNKNOWN_OPERATION), "", NULL);
            break;
        }
        dispatch_json(ex, &call);
        break;
    case PROTO_QUERY: dispatch_query(ex, &call, query); break;
    case PROTO_REST: dispatch_rest(ex, &call); break;
    }
out:
    free(auth);
    free(sig_headers);
    free(path);
}
