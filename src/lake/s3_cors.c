/*
 * A bucket's CORS configuration: Put/Get/DeleteBucketCors, the browser's preflight
 * (OPTIONS on the bucket or an object, unsigned as on S3) and the Access-Control-*
 * headers of an actual request that names an Origin. The rules are kept as a JSON
 * array (the bucket's cors document) of {"ID", "AllowedOrigins", "AllowedMethods",
 * "AllowedHeaders", "ExposeHeaders", "MaxAgeSeconds"}; the first rule that matches
 * decides, as on S3.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"
#include "lake/s3_http.h"

#define CORS_MAX_RULES 100

static const char malformed[] =
    "The XML you provided was not well-formed or did not validate against our published "
    "schema";

/* ---- matching ---- */

/* Glob with at most one '*' (as the rules allow); nocase for header names. */
static int wild_match(const char *pat, const char *s, size_t s_len, int nocase)
{
    const char *star = strchr(pat, '*');
    size_t pl = strlen(pat);
    if (star == NULL) {
        return pl == s_len && (nocase ? strncasecmp(pat, s, s_len) : strncmp(pat, s, s_len)) == 0;
    }
    size_t pre = (size_t)(star - pat), post = pl - pre - 1;
    if (s_len < pre + post) {
        return 0;
    }
    int (*cmp)(const char *, const char *, size_t) = nocase ? strncasecmp : strncmp;
    return cmp(pat, s, pre) == 0 && cmp(star + 1, s + s_len - post, post) == 0;
}

static int any_match(json_t *pats, const char *s, size_t len, int nocase)
{
    size_t i;
    json_t *v;
    json_array_foreach(pats, i, v)
    {
        if (wild_match(json_string_value(v), s, len, nocase)) {
            return 1;
        }
    }
    return 0;
}

static int has_method(json_t *rule, const char *method)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(rule, "AllowedMethods"), i, v)
    {
        if (strcmp(json_string_value(v), method) == 0) {
            return 1;
        }
    }
    return 0;
}

/* 1 when each name of the comma-separated list matches one of the rule's headers. */
static int headers_allowed(json_t *rule, const char *list)
{
    json_t *pats = json_object_get(rule, "AllowedHeaders");
    for (const char *p = list; p != NULL && *p != '\0';) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, ",");
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) {
            len--;
        }
        if (len > 0 && !any_match(pats, p, len, 1)) {
            return 0;
        }
        p += strcspn(p, ",");
    }
    return 1;
}

/* The first rule for origin, method and (preflight) requested headers, or NULL. */
static json_t *find_rule(json_t *rules, const char *origin, const char *method, const char *hdrs)
{
    size_t i;
    json_t *rule;
    json_array_foreach(rules, i, rule)
    {
        if (any_match(json_object_get(rule, "AllowedOrigins"), origin, strlen(origin), 0) &&
            has_method(rule, method) && headers_allowed(rule, hdrs)) {
            return rule;
        }
    }
    return NULL;
}

static void join(struct buf *b, json_t *arr)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        buf_printf(b, "%s%s", i ? ", " : "", json_string_value(v));
    }
}

/* The Access-Control-* headers a matching rule gives (request_headers: preflight's). */
static void add_headers(struct s3_req *r, json_t *rule, const char *origin,
                        const char *request_headers)
{
    struct api_response *resp = r->call->resp;
    /* "*" when the rule allows every origin, else the origin itself (with credentials). */
    int any = 0;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(rule, "AllowedOrigins"), i, v)
    {
        if (wild_match(json_string_value(v), origin, strlen(origin), 0)) {
            any = strcmp(json_string_value(v), "*") == 0;
            break;
        }
    }
    api_response_header(resp, "Access-Control-Allow-Origin", any ? "*" : origin);
    struct buf b;
    buf_init(&b);
    join(&b, json_object_get(rule, "AllowedMethods"));
    api_response_header(resp, "Access-Control-Allow-Methods",
                        buf_status(&b) < 0 ? "" : (char *)b.data);
    buf_reset(&b);
    if (request_headers != NULL && *request_headers != '\0') {
        api_response_header(resp, "Access-Control-Allow-Headers", request_headers);
    }
    if (json_array_size(json_object_get(rule, "ExposeHeaders")) > 0) {
        join(&b, json_object_get(rule, "ExposeHeaders"));
        if (buf_status(&b) == 0) {
            api_response_header(resp, "Access-Control-Expose-Headers", (char *)b.data);
        }
    }
    buf_fini(&b);
    json_t *age = json_object_get(rule, "MaxAgeSeconds");
    if (json_is_integer(age)) {
        char n[32];
        snprintf(n, sizeof(n), "%lld", (long long)json_integer_value(age));
        api_response_header(resp, "Access-Control-Max-Age", n);
    }
    if (!any) {
        api_response_header(resp, "Access-Control-Allow-Credentials", "true");
    }
    api_response_header(resp, "Vary",
                        "Origin, Access-Control-Request-Headers, Access-Control-Request-Method");
}

static json_t *load_rules(struct s3_req *r, int *rc_out)
{
    char *doc = NULL;
    *rc_out = lake_bucket_doc_get(r->lake, r->bucket, LAKE_BUCKET_CORS, &doc, &r->call->err);
    json_t *rules = doc != NULL ? json_loads(doc, 0, NULL) : NULL;
    free(doc);
    return rules;
}

/*
 * A refused preflight: S3's 403 AccessForbidden names the method asked for and the kind
 * of resource (<Method>, <ResourceType>) instead of the resource itself.
 */
static int forbidden(struct s3_req *r, const char *method, const char *msg)
{
    static _Thread_local char extra[512]; /* read by the front end once this call returns */
    struct buf b;
    buf_init(&b);
    char m[64];
    snprintf(m, sizeof(m), "%s", method);
    s3__xml_elem(&b, "Method", m);
    s3__xml_elem(&b, "ResourceType", r->key != NULL ? "OBJECT" : "BUCKET");
    snprintf(extra, sizeof(extra), "%s", buf_status(&b) == 0 && b.data ? (char *)b.data : "");
    buf_fini(&b);
    r->call->error_extra = extra;
    free(r->resource);
    r->resource = NULL;
    return s3__fail(r, SL_E(S3_CORS_FORBIDDEN), "%s", msg);
}

int s3__cors_preflight(struct s3_req *r)
{
    r->call->operation = "PreflightRequest";
    const char *origin = s3__header(r, "Origin");
    const char *method = s3__header(r, "Access-Control-Request-Method");
    if (r->bucket == NULL) {
        return s3__fail(r, SL_E(S3_BAD_REQUEST), "Insufficient information. Bucket name needed.");
    }
    if (origin == NULL) {
        return s3__fail(r, SL_E(S3_BAD_REQUEST),
                        "Insufficient information. Origin request header needed.");
    }
    if (method == NULL) {
        return s3__fail(r, SL_E(S3_BAD_REQUEST), "Invalid Access-Control-Request-Method: null");
    }
    int rc;
    json_t *rules = load_rules(r, &rc);
    if (rc < 0) {
        return rc;
    }
    if (rules == NULL) {
        return forbidden(r, method, "CORSResponse: CORS is not enabled for this bucket.");
    }
    const char *hdrs = s3__header(r, "Access-Control-Request-Headers");
    json_t *rule = find_rule(rules, origin, method, hdrs);
    if (rule == NULL) {
        rc = forbidden(r, method,
                       "CORSResponse: This CORS request is not allowed. This is usually because "
                       "the evalution of Origin, request method / Access-Control-Request-Method "
                       "or Access-Control-Request-Headers are not whitelisted by the resource's "
                       "CORS spec.");
    } else {
        add_headers(r, rule, origin, hdrs);
    }
    json_decref(rules);
    return rc;
}

void s3__cors_response_headers(struct s3_req *r)
{
    const char *origin = s3__header(r, "Origin");
    if (origin == NULL || r->bucket == NULL || strcmp(r->req->method, "OPTIONS") == 0) {
        return;
    }
    struct err_info saved = r->call->err;
    int rc;
    json_t *rules = load_rules(r, &rc);
    r->call->err = saved; /* a missing bucket is the request's own answer */
    json_t *rule = rules != NULL ? find_rule(rules, origin, r->req->method, NULL) : NULL;
    if (rule != NULL) {
        add_headers(r, rule, origin, NULL);
    }
    json_decref(rules);
}

/* ---- Put/Get/DeleteBucketCors ---- */

/* The texts of every child named name, as a JSON array. */
static json_t *texts(const struct s3_xml_node *n, const char *name)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n->n_children; i++) {
        if (strcmp(n->children[i].name, name) == 0) {
            json_array_append_new(a, json_stringn(n->children[i].text, n->children[i].text_len));
        }
    }
    return a;
}

/* 0 when every pattern has at most one '*', else the first that has more. */
static const char *two_wildcards(json_t *pats)
{
    size_t i;
    json_t *v;
    json_array_foreach(pats, i, v)
    {
        const char *s = json_string_value(v);
        const char *st = s != NULL ? strchr(s, '*') : NULL;
        if (st != NULL && strchr(st + 1, '*') != NULL) {
            return s;
        }
    }
    return NULL;
}

static int parse_rule(struct s3_req *r, const struct s3_xml_node *n, json_t *out)
{
    json_t *rule = json_object();
    json_object_set_new(rule, "AllowedOrigins", texts(n, "AllowedOrigin"));
    json_object_set_new(rule, "AllowedMethods", texts(n, "AllowedMethod"));
    json_object_set_new(rule, "AllowedHeaders", texts(n, "AllowedHeader"));
    json_object_set_new(rule, "ExposeHeaders", texts(n, "ExposeHeader"));
    json_array_append_new(out, rule);
    const char *id = s3__xml_child_text(n, "ID");
    if (id != NULL) {
        if (strlen(id) > 255) {
            return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                            "ID length should not exceed allowed "
                            "limit of 255");
        }
        json_object_set_new(rule, "ID", json_string(id));
    }
    const char *age = s3__xml_child_text(n, "MaxAgeSeconds");
    if (age != NULL) {
        long long a = s3__parse_uint(age);
        if (a < 0 || a > 2147483647LL) {
            return s3__fail(r, SL_E(MALFORMED_XML), "%s", malformed);
        }
        json_object_set_new(rule, "MaxAgeSeconds", json_integer(a));
    }
    for (size_t i = 0; i < n->n_children; i++) {
        static const char *const known[] = {
            "ID",           "AllowedOrigin", "AllowedMethod", "AllowedHeader",
            "ExposeHeader", "MaxAgeSeconds"};
        int ok = 0;
        for (size_t k = 0; k < 6; k++) {
            ok |= strcmp(n->children[i].name, known[k]) == 0;
        }
        if (!ok) {
            return s3__fail(r, SL_E(MALFORMED_XML), "%s", malformed);
        }
    }
    json_t *methods = json_object_get(rule, "AllowedMethods");
    if (json_array_size(methods) == 0 ||
        json_array_size(json_object_get(rule, "AllowedOrigins")) == 0) {
        return s3__fail(r, SL_E(MALFORMED_XML), "%s", malformed);
    }
    size_t i;
    json_t *v;
    json_array_foreach(methods, i, v)
    {
        const char *m = json_string_value(v);
        if (m == NULL ||
            (strcmp(m, "GET") != 0 && strcmp(m, "PUT") != 0 && strcmp(m, "HEAD") != 0 &&
             strcmp(m, "POST") != 0 && strcmp(m, "DELETE") != 0)) {
            return s3__fail(r, SL_E(INVALID_REQUEST),
                            "Found unsupported HTTP method in CORS config. Unsupported method "
                            "is %.64s",
                            m ? m : "");
        }
    }
    const char *bad = two_wildcards(json_object_get(rule, "AllowedOrigins"));
    if (bad != NULL) {
        return s3__fail(r, SL_E(INVALID_REQUEST),
                        "AllowedOrigin \"%.200s\" can not have more than one wildcard.", bad);
    }
    bad = two_wildcards(json_object_get(rule, "AllowedHeaders"));
    if (bad != NULL) {
        return s3__fail(r, SL_E(INVALID_REQUEST),
                        "AllowedHeader \"%.200s\" can not have more than one wildcard.", bad);
    }
    return 0;
}

static int put_cors(struct s3_req *r)
{
    r->call->operation = "PutBucketCors";
    int rc = lake_bucket_get(r->lake, r->bucket, NULL, &r->call->err);
    struct s3_xml_node *root = NULL;
    if (rc == 0) {
        rc = s3__xml_body(r, 64 * 1024, "CORSConfiguration", &root);
    }
    if (rc < 0) {
        return rc;
    }
    json_t *rules = json_array();
    size_t n_rules = 0;
    for (size_t i = 0; i < root->n_children && rc == 0; i++) {
        if (strcmp(root->children[i].name, "CORSRule") != 0) {
            rc = s3__fail(r, SL_E(MALFORMED_XML), "%s", malformed);
        } else if (++n_rules > CORS_MAX_RULES) {
            rc = s3__fail(r, SL_E(INVALID_REQUEST),
                          "The number of CORS rules should not exceed allowed limit of 100 "
                          "rules.");
        } else {
            rc = parse_rule(r, &root->children[i], rules);
        }
    }
    if (rc == 0 && n_rules == 0) {
        rc = s3__fail(r, SL_E(MALFORMED_XML), "%s", malformed);
    }
    if (rc == 0) {
        char *doc = json_dumps(rules, JSON_COMPACT);
        rc = lake_bucket_doc_put(r->lake, r->bucket, LAKE_BUCKET_CORS, doc, &r->call->err);
        free(doc);
    }
    json_decref(rules);
    s3__xml_free(root);
    return rc;
}

static void elems(struct buf *b, json_t *rule, const char *member, const char *elem)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(rule, member), i, v)
    {
        s3__xml_elem(b, elem, json_string_value(v));
    }
}

static int get_cors(struct s3_req *r)
{
    r->call->operation = "GetBucketCors";
    int rc;
    json_t *rules = load_rules(r, &rc);
    if (rc < 0) {
        return rc;
    }
    if (rules == NULL) {
        return s3__fail(r, SL_E(NO_SUCH_CORS), "The CORS configuration does not exist");
    }
    struct buf b;
    buf_init(&b);
    s3__xml_open(&b, "CORSConfiguration");
    size_t i;
    json_t *rule;
    json_array_foreach(rules, i, rule)
    {
        buf_puts(&b, "<CORSRule>");
        if (json_is_string(json_object_get(rule, "ID"))) {
            s3__xml_elem(&b, "ID", json_string_value(json_object_get(rule, "ID")));
        }
        elems(&b, rule, "AllowedHeaders", "AllowedHeader");
        elems(&b, rule, "AllowedMethods", "AllowedMethod");
        elems(&b, rule, "AllowedOrigins", "AllowedOrigin");
        elems(&b, rule, "ExposeHeaders", "ExposeHeader");
        if (json_is_integer(json_object_get(rule, "MaxAgeSeconds"))) {
            s3__xml_elem_int(&b, "MaxAgeSeconds",
                             (long long)json_integer_value(json_object_get(rule, "MaxAgeSeconds")));
        }
        buf_puts(&b, "</CORSRule>");
    }
    buf_puts(&b, "</CORSConfiguration>");
    json_decref(rules);
    return s3__respond_xml(r, &b);
}

int s3__bucket_cors(struct s3_req *r)
{
    const char *m = r->req->method;
    if (strcmp(m, "GET") == 0) {
        return get_cors(r);
    }
    if (strcmp(m, "PUT") == 0) {
        return put_cors(r);
    }
    r->call->operation = "DeleteBucketCors";
    int rc = lake_bucket_doc_put(r->lake, r->bucket, LAKE_BUCKET_CORS, NULL, &r->call->err);
    if (rc == 0) {
        r->call->resp->status = 204;
    }
    return rc;
}
