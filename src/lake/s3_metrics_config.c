/*
 * A bucket's request metrics configurations: Put/Get/Delete/ListBucketMetricsConfiguration
 * (?metrics, with id= but for the list). The configurations are kept as the bucket's
 * metrics document, a JSON object of Id -> {"f": the filter's form ("", "Prefix", "Tag",
 * "AccessPointArn", "And"), "p": prefix, "t": [[key, value], ...], "a": access point ARN},
 * written with sorted keys so the list pages in Id order. The metrics sampler
 * (metrics/s3_metrics.c) reads the same document to count requests per filter.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "lake/s3_http.h"

#define METRICS_MAX_CONFIGS 1000
#define METRICS_LIST_PAGE 100

static const char malformed[] =
    "The XML you provided was not well-formed or did not validate against our published "
    "schema";

/* S3's rule for a configuration Id: 1 to 64 letters, digits, '.', '-' or '_'. */
static int id_valid(const char *id)
{
    size_t n = id != NULL ? strlen(id) : 0;
    if (n == 0 || n > 64) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_')) {
            return 0;
        }
    }
    return 1;
}

static json_t *load(struct s3_req *r, int *rc_out)
{
    char *doc = NULL;
    *rc_out = lake_bucket_doc_get(r->lake, r->bucket, LAKE_BUCKET_METRICS, &doc, &r->call->err);
    json_t *all = doc != NULL ? json_loads(doc, 0, NULL) : NULL;
    free(doc);
    return json_is_object(all) ? all : (json_decref(all), json_object());
}

/* A Tag element into [key, value]; NULL when malformed. */
static json_t *parse_tag(const struct s3_xml_node *n)
{
    const char *k = s3__xml_child_text(n, "Key"), *v = s3__xml_child_text(n, "Value");
    if (k == NULL || v == NULL || n->n_children != 2 || *k == '\0') {
        return NULL;
    }
    return json_pack("[ss]", k, v);
}

/* The Filter element's parts into cfg; 0 or -1 (malformed). */
static int parse_filter(const struct s3_xml_node *f, json_t *cfg)
{
    if (f->n_children != 1) {
        return -1; /* exactly one of Prefix, Tag, AccessPointArn, And */
    }
    const struct s3_xml_node *c = &f->children[0];
    json_t *tags = json_array();
    json_object_set_new(cfg, "t", tags);
    if (strcmp(c->name, "Prefix") == 0) {
        json_object_set_new(cfg, "f", json_string("Prefix"));
        json_object_set_new(cfg, "p", json_stringn(c->text, c->text_len));
        return 0;
    }
    if (strcmp(c->name, "AccessPointArn") == 0) {
        json_object_set_new(cfg, "f", json_string("AccessPointArn"));
        json_object_set_new(cfg, "a", json_stringn(c->text, c->text_len));
        return 0;
    }
    if (strcmp(c->name, "Tag") == 0) {
        json_t *t = parse_tag(c);
        json_object_set_new(cfg, "f", json_string("Tag"));
        return t != NULL ? json_array_append_new(tags, t) : -1;
    }
    if (strcmp(c->name, "And") != 0 || c->n_children == 0) {
        return -1;
    }
    json_object_set_new(cfg, "f", json_string("And"));
    for (size_t i = 0; i < c->n_children; i++) {
        const struct s3_xml_node *a = &c->children[i];
        const char *field = strcmp(a->name, "Prefix") == 0           ? "p"
                            : strcmp(a->name, "AccessPointArn") == 0 ? "a"
                                                                     : NULL;
        if (field != NULL) {
            if (json_object_get(cfg, field) != NULL) {
                return -1;
            }
            json_object_set_new(cfg, field, json_stringn(a->text, a->text_len));
            continue;
        }
        json_t *t = strcmp(a->name, "Tag") == 0 ? parse_tag(a) : NULL;
        if (t == NULL) {
            return -1;
        }
        json_array_append_new(tags, t);
    }
    return 0;
}

static int put_config(struct s3_req *r, const char *id)
{
    r->call->operation = "PutBucketMetricsConfiguration";
    int rc = lake_bucket_get(r->lake, r->bucket, NULL, &r->call->err);
    struct s3_xml_node *root = NULL;
    if (rc == 0) {
        rc = s3__xml_body(r, 64 * 1024, "MetricsConfiguration", &root);
    }
    if (rc < 0) {
        return rc;
    }
    json_t *cfg = json_object(), *all = NULL;
    const char *body_id = s3__xml_child_text(root, "Id");
    const struct s3_xml_node *filter = s3__xml_child(root, "Filter");
    size_t known = (body_id != NULL) + (filter != NULL);
    if (body_id == NULL || known != root->n_children ||
        (filter != NULL && parse_filter(filter, cfg) < 0)) {
        rc = s3__fail(r, SL_E(MALFORMED_XML), "%s", malformed);
    } else if (strcmp(body_id, id) != 0) {
        rc = s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                      "Document ID does not match the specified configuration ID.");
    }
    if (rc == 0) {
        all = load(r, &rc);
    }
    if (rc == 0 && json_object_get(all, id) == NULL &&
        json_object_size(all) >= METRICS_MAX_CONFIGS) {
        rc = s3__fail(r, SL_E(TOO_MANY_CONFIGURATIONS),
                      "You are attempting to create a new configuration but have already "
                      "reached the 1,000-configuration limit.");
    }
    if (rc == 0) {
        if (json_object_get(cfg, "f") == NULL) {
            json_object_set_new(cfg, "f", json_string(""));
        }
        json_object_set(all, id, cfg);
        char *doc = json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS);
        rc = lake_bucket_doc_put(r->lake, r->bucket, LAKE_BUCKET_METRICS, doc, &r->call->err);
        free(doc);
    }
    json_decref(all);
    json_decref(cfg);
    s3__xml_free(root);
    return rc;
}

static void tag_xml(struct buf *b, json_t *t)
{
    buf_puts(b, "<Tag>");
    s3__xml_elem(b, "Key", json_string_value(json_array_get(t, 0)));
    s3__xml_elem(b, "Value", json_string_value(json_array_get(t, 1)));
    buf_puts(b, "</Tag>");
}

/* A configuration's Id and Filter elements. */
static void config_parts(struct buf *b, const char *id, json_t *cfg)
{
    s3__xml_elem(b, "Id", id);
    const char *form = json_string_value(json_object_get(cfg, "f"));
    const char *p = json_string_value(json_object_get(cfg, "p"));
    const char *a = json_string_value(json_object_get(cfg, "a"));
    json_t *tags = json_object_get(cfg, "t");
    if (form != NULL && *form != '\0') {
        int and = strcmp(form, "And") == 0;
        buf_puts(b, and ? "<Filter><And>" : "<Filter>");
        if (p != NULL) {
            s3__xml_elem(b, "Prefix", p);
        }
        size_t i;
        json_t *t;
        json_array_foreach(tags, i, t)
        {
            tag_xml(b, t);
        }
        if (a != NULL) {
            s3__xml_elem(b, "AccessPointArn", a);
        }
        buf_puts(b, and ? "</And></Filter>" : "</Filter>");
    }
}

static int get_config(struct s3_req *r, const char *id)
{
    r->call->operation = "GetBucketMetricsConfiguration";
    int rc;
    json_t *all = load(r, &rc);
    json_t *cfg = rc == 0 ? json_object_get(all, id) : NULL;
    if (rc == 0 && cfg == NULL) {
        rc = s3__fail(r, SL_E(NO_SUCH_CONFIGURATION), "The specified configuration does not exist.");
    }
    if (rc < 0) {
        json_decref(all);
        return rc;
    }
    struct buf b;
    buf_init(&b);
    s3__xml_open(&b, "MetricsConfiguration");
    config_parts(&b, id, cfg);
    buf_puts(&b, "</MetricsConfiguration>");
    json_decref(all);
    return s3__respond_xml(r, &b);
}

static int delete_config(struct s3_req *r, const char *id)
{
    r->call->operation = "DeleteBucketMetricsConfiguration";
    int rc;
    json_t *all = load(r, &rc);
    if (rc == 0 && json_object_get(all, id) == NULL) {
        rc = s3__fail(r, SL_E(NO_SUCH_CONFIGURATION), "The specified configuration does not exist.");
    }
    if (rc == 0) {
        json_object_del(all, id);
        char *doc = json_object_size(all) ? json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        rc = lake_bucket_doc_put(r->lake, r->bucket, LAKE_BUCKET_METRICS, doc, &r->call->err);
        free(doc);
    }
    json_decref(all);
    if (rc == 0) {
        r->call->resp->status = 204;
    }
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A page of 100 in Id order; the continuation token is the last Id of the page before. */
static int list_configs(struct s3_req *r)
{
    r->call->operation = "ListBucketMetricsConfigurations";
    int rc;
    json_t *all = load(r, &rc);
    if (rc < 0) {
        json_decref(all);
        return rc;
    }
    const char *token = s3__query(r, "continuation-token");
    size_t n = json_object_size(all), k = 0;
    const char **ids = xcalloc(n + 1, sizeof(*ids));
    const char *id;
    json_t *cfg;
    json_object_foreach(all, id, cfg)
    {
        ids[k++] = id;
    }
    qsort(ids, n, sizeof(*ids), cmp_str);
    size_t start = 0;
    while (token != NULL && *token != '\0' && start < n && strcmp(ids[start], token) <= 0) {
        start++;
    }
    size_t end = start + METRICS_LIST_PAGE < n ? start + METRICS_LIST_PAGE : n;
    struct buf b;
    buf_init(&b);
    s3__xml_open(&b, "ListMetricsConfigurationsResult");
    s3__xml_elem(&b, "IsTruncated", end < n ? "true" : "false");
    if (token != NULL) {
        s3__xml_elem(&b, "ContinuationToken", token);
    }
    if (end < n) {
        s3__xml_elem(&b, "NextContinuationToken", ids[end - 1]);
    }
    for (size_t i = start; i < end; i++) {
        buf_puts(&b, "<MetricsConfiguration>");
        config_parts(&b, ids[i], json_object_get(all, ids[i]));
        buf_puts(&b, "</MetricsConfiguration>");
    }
    buf_puts(&b, "</ListMetricsConfigurationsResult>");
    free(ids);
    json_decref(all);
    return s3__respond_xml(r, &b);
}

int s3__bucket_metrics(struct s3_req *r)
{
    const char *m = r->req->method;
    const char *id = s3__query(r, "id");
    if (strcmp(m, "GET") == 0 && id == NULL) {
        return list_configs(r);
    }
    if (id == NULL || !id_valid(id)) {
        r->call->operation = strcmp(m, "GET") == 0   ? "GetBucketMetricsConfiguration"
                             : strcmp(m, "PUT") == 0 ? "PutBucketMetricsConfiguration"
                                                     : "DeleteBucketMetricsConfiguration";
        return s3__fail(r, SL_E(INVALID_ARGUMENT_S3), id == NULL ? "Missing configuration ID"
                                                                 : "Invalid configuration ID");
    }
    if (strcmp(m, "GET") == 0) {
        return get_config(r, id);
    }
    if (strcmp(m, "PUT") == 0) {
        return put_config(r, id);
    }
    return delete_config(r, id);
}
