/*
 * Put/Get/DeleteBucketLifecycleConfiguration (?lifecycle on a bucket) with S3's checks,
 * and the x-amz-expiration / x-amz-abort-* headers of the objects and uploads a rule
 * applies to. The rules are kept as the bucket's lifecycle document (JSON, described in
 * lake_lifecycle.h), which the sweeper reads.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/mem.h"
#include "lake/lake_lifecycle.h"
#include "lake/s3_http.h"

#define LC_MAX_RULES 1000
#define LC_ID_MAX 255
#define LC_MAX_BODY (2 << 20)

static const char MALFORMED[] =
    "The XML you provided was not well-formed or did not validate against our published "
    "schema";
static const char MIN_SIZE_HEADER[] = "x-amz-transition-default-minimum-object-size";

/* ---- parsing ---- */

static int malformed(struct err_info *err)
{
    return err_set(err, SL_E(MALFORMED_XML), "%s", MALFORMED);
}

static int in_list(const char *const *list, const char *s)
{
    for (size_t k = 0; list != NULL && list[k] != NULL; k++) {
        if (strcmp(list[k], s) == 0) {
            return 1;
        }
    }
    return 0;
}

/* 1 when n's children are all named in names, none twice unless in repeatable (both
   NULL-terminated lists; repeatable may be NULL). */
static int children_ok(const struct s3_xml_node *n, const char *const *names,
                       const char *const *repeatable)
{
    for (size_t i = 0; i < n->n_children; i++) {
        const char *c = n->children[i].name;
        if (!in_list(names, c)) {
            return 0;
        }
        for (size_t j = 0; j < i && !in_list(repeatable, c); j++) {
            if (strcmp(n->children[j].name, c) == 0) {
                return 0;
            }
        }
    }
    return 1;
}

/* An integer element: 0 and *out, 1 when absent, -1 when not an integer. */
static int int_child(const struct s3_xml_node *n, const char *name, long long *out)
{
    const char *t = s3__xml_child_text(n, name);
    if (t == NULL) {
        return 1;
    }
    char *end;
    long long v = strtoll(t, &end, 10);
    if (*t == '\0' || *end != '\0' || v > 2147483647LL || v < -2147483648LL) {
        return -1;
    }
    *out = v;
    return 0;
}

/* An ISO 8601 timestamp: 0 with ms since the epoch, -1 when unreadable. */
static int parse_date(const char *s, int64_t *ms_out)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &n) != 6) {
        n = 0;
        if (sscanf(s, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &n) != 3) {
            return -1;
        }
    }
    const char *p = s + n;
    int64_t frac_ms = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            if (digits++ < 3) {
                frac_ms = frac_ms * 10 + (*p - '0');
            }
            p++;
        }
        for (; digits < 3; digits++) {
            frac_ms *= 10;
        }
    }
    if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0 && *p != '\0') {
        return -1;
    }
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60) {
        return -1;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *ms_out = (int64_t)timegm(&tm) * 1000 + frac_ms;
    return 0;
}

static int tag_of(const struct s3_xml_node *t, json_t **out, struct err_info *err)
{
    static const char *const names[] = {"Key", "Value", NULL};
    const char *k = s3__xml_child_text(t, "Key");
    const char *v = s3__xml_child_text(t, "Value");
    if (!children_ok(t, names, NULL) || k == NULL) {
        return malformed(err);
    }
    if (strlen(k) > 128 || strlen(k) == 0) {
        return err_set(err, SL_E(INVALID_ARGUMENT_S3), "The TagKey you have provided is invalid");
    }
    if (v != NULL && strlen(v) > 256) {
        return err_set(err, SL_E(INVALID_ARGUMENT_S3), "The TagValue you have provided is invalid");
    }
    *out = json_pack("{s:s,s:s}", "Key", k, "Value", v ? v : "");
    return 0;
}

/* Prefix, Tag(s) and size bounds of a Filter or its And, into c. */
static int conditions(const struct s3_xml_node *n, int in_and, json_t *c, struct err_info *err)
{
    const char *prefix = s3__xml_child_text(n, "Prefix");
    if (prefix != NULL) {
        json_object_set_new(c, "Prefix", json_string(prefix));
    }
    json_t *tags = json_array();
    for (size_t i = 0; i < n->n_children; i++) {
        if (strcmp(n->children[i].name, "Tag") != 0) {
            continue;
        }
        json_t *tag = NULL;
        int rc = tag_of(&n->children[i], &tag, err);
        if (rc < 0) {
            json_decref(tags);
            return rc;
        }
        size_t j;
        json_t *t;
        json_array_foreach(tags, j, t)
        {
            if (json_equal(json_object_get(t, "Key"), json_object_get(tag, "Key"))) {
                json_decref(tag);
                json_decref(tags);
                return err_set(err, SL_E(INVALID_REQUEST), "Duplicate Tag Keys are not allowed.");
            }
        }
        json_array_append_new(tags, tag);
    }
    if (in_and) {
        json_object_set_new(c, "Tags", tags);
    } else {
        if (json_array_size(tags) == 1) {
            json_object_set(c, "Tag", json_array_get(tags, 0));
        }
        json_decref(tags);
    }
    static const char *const sizes[] = {"ObjectSizeGreaterThan", "ObjectSizeLessThan"};
    for (size_t i = 0; i < 2; i++) {
        const char *t = s3__xml_child_text(n, sizes[i]);
        if (t == NULL) {
            continue;
        }
        char *end;
        long long v = strtoll(t, &end, 10);
        if (*t == '\0' || *end != '\0') {
            return malformed(err);
        }
        if (v < 0) {
            return err_set(err, SL_E(INVALID_ARGUMENT_S3), "%s must be a non-negative integer",
                           sizes[i]);
        }
        json_object_set_new(c, sizes[i], json_integer(v));
    }
    json_t *gt = json_object_get(c, "ObjectSizeGreaterThan");
    json_t *lt = json_object_get(c, "ObjectSizeLessThan");
    if (gt != NULL && lt != NULL && json_integer_value(gt) >= json_integer_value(lt)) {
        return err_set(err, SL_E(INVALID_ARGUMENT_S3),
                       "ObjectSizeGreaterThan must be less than ObjectSizeLessThan");
    }
    return 0;
}

static int parse_filter(const struct s3_xml_node *f, json_t *rule, struct err_info *err)
{
    static const char *const names[] = {
        "Prefix", "Tag", "ObjectSizeGreaterThan", "ObjectSizeLessThan", "And", NULL};
    if (!children_ok(f, names, NULL)) {
        return malformed(err);
    }
    if (f->n_children > 1) {
        return malformed(err); /* several conditions go in an And */
    }
    json_t *filter = json_object();
    json_object_set_new(rule, "Filter", filter);
    const struct s3_xml_node *and = s3__xml_child(f, "And");
    if (and == NULL) {
        return conditions(f, 0, filter, err);
    }
    static const char *const and_names[] = {"Prefix", "Tag", "ObjectSizeGreaterThan",
                                            "ObjectSizeLessThan", NULL};
    static const char *const tag_only[] = {"Tag", NULL};
    if (!children_ok(and, and_names, tag_only)) {
        return malformed(err);
    }
    json_t *c = json_object();
    json_object_set_new(filter, "And", c);
    return conditions(and, 1, c, err);
}

static int positive(const struct s3_xml_node *n, const char *name, const char *what, int required,
                    json_t *out, struct err_info *err)
{
    long long v = 0;
    int rc = int_child(n, name, &v);
    if (rc < 0 || (rc == 1 && required)) {
        return malformed(err);
    }
    if (rc == 1) {
        return 0;
    }
    if (v <= 0) {
        return err_set(err, SL_E(INVALID_ARGUMENT_S3),
                       "'%s' for %s action must be a positive integer", name, what);
    }
    json_object_set_new(out, name, json_integer(v));
    return 0;
}

static int midnight_date(const struct s3_xml_node *n, json_t *out, struct err_info *err)
{
    const char *d = s3__xml_child_text(n, "Date");
    if (d == NULL) {
        return 0;
    }
    int64_t ms;
    if (parse_date(d, &ms) < 0) {
        return err_set(err, SL_E(INVALID_ARGUMENT_S3), "Invalid date format");
    }
    if (ms % LAKE_LC_DAY_MS != 0) {
        return err_set(err, SL_E(INVALID_ARGUMENT_S3), "'Date' must be at midnight GMT");
    }
    json_object_set_new(out, "Date", json_integer(ms));
    return 0;
}

static int parse_expiration(const struct s3_xml_node *e, json_t *rule, struct err_info *err)
{
    static const char *const names[] = {"Days", "Date", "ExpiredObjectDeleteMarker", NULL};
    if (!children_ok(e, names, NULL) || e->n_children == 0) {
        return malformed(err);
    }
    const char *eodm = s3__xml_child_text(e, "ExpiredObjectDeleteMarker");
    int has_days = s3__xml_child(e, "Days") != NULL, has_date = s3__xml_child(e, "Date") != NULL;
    if ((has_days && has_date) || (eodm != NULL && (has_days || has_date))) {
        return malformed(err);
    }
    json_t *x = json_object();
    json_object_set_new(rule, "Expiration", x);
    if (eodm != NULL) {
        if (strcmp(eodm, "true") != 0 && strcmp(eodm, "false") != 0) {
            return malformed(err);
        }
        json_object_set_new(x, "ExpiredObjectDeleteMarker", json_boolean(eodm[0] == 't'));
        return 0;
    }
    int rc = positive(e, "Days", "Expiration", 0, x, err);
    return rc < 0 ? rc : midnight_date(e, x, err);
}

static int newer_versions(const struct s3_xml_node *n, json_t *out, struct err_info *err)
{
    long long v = 0;
    int rc = int_child(n, "NewerNoncurrentVersions", &v);
    if (rc < 0) {
        return malformed(err);
    }
    if (rc == 0) {
        if (v <= 0 || v > 100) {
            return err_set(err, SL_E(INVALID_ARGUMENT_S3),
                           "NewerNoncurrentVersions must be greater than 0 and less than or "
                           "equal to 100");
        }
        json_object_set_new(out, "NewerNoncurrentVersions", json_integer(v));
    }
    return 0;
}

static int storage_class_ok(const char *c)
{
    static const char *const classes[] = {"GLACIER",      "STANDARD_IA",
                                          "ONEZONE_IA",   "INTELLIGENT_TIERING",
                                          "DEEP_ARCHIVE", "GLACIER_IR"};
    for (size_t i = 0; c != NULL && i < sizeof(classes) / sizeof(classes[0]); i++) {
        if (strcmp(c, classes[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static int ia_class(const char *c)
{
    return strcmp(c, "STANDARD_IA") == 0 || strcmp(c, "ONEZONE_IA") == 0;
}

static int parse_transition(const struct s3_xml_node *t, int noncurrent, json_t *list,
                            struct err_info *err)
{
    static const char *const names[] = {"Days", "Date", "StorageClass", NULL};
    static const char *const nc_names[] = {"NoncurrentDays", "StorageClass",
                                           "NewerNoncurrentVersions", NULL};
    const char *cls = s3__xml_child_text(t, "StorageClass");
    if (!children_ok(t, noncurrent ? nc_names : names, NULL) || !storage_class_ok(cls)) {
        return malformed(err);
    }
    json_t *x = json_pack("{s:s}", "StorageClass", cls);
    json_array_append_new(list, x);
    const char *days_name = noncurrent ? "NoncurrentDays" : "Days";
    const char *action = noncurrent ? "NoncurrentVersionTransition" : "Transition";
    long long days = 0;
    int has_days = int_child(t, days_name, &days);
    int has_date = !noncurrent && s3__xml_child(t, "Date") != NULL;
    if (has_days < 0 || (has_days == 0 && has_date) || (has_days == 1 && !has_date)) {
        return malformed(err);
    }
    if (has_days == 0) {
        if (days < 0) {
            return err_set(err, SL_E(INVALID_ARGUMENT_S3), "'%s' in %s action must be nonnegative",
                           days_name, action);
        }
        if (ia_class(cls) && days < 30) {
            return err_set(err, SL_E(INVALID_ARGUMENT_S3),
                           "'%s' in %s action must be greater than or equal to 30 for "
                           "storageClass '%s'",
                           days_name, action, cls);
        }
        json_object_set_new(x, days_name, json_integer(days));
    }
    int rc = noncurrent ? newer_versions(t, x, err) : midnight_date(t, x, err);
    return rc;
}

static void random_id(char *out, size_t len)
{
    static const char chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    uint8_t raw[64];
    crypto_random(raw, len);
    for (size_t i = 0; i < len; i++) {
        out[i] = chars[raw[i] % 62];
    }
    out[len] = '\0';
}

static int parse_rule(const struct s3_xml_node *n, json_t *rules, struct err_info *err)
{
    static const char *const names[] = {"ID",
                                        "Prefix",
                                        "Filter",
                                        "Status",
                                        "Transition",
                                        "NoncurrentVersionTransition",
                                        "Expiration",
                                        "NoncurrentVersionExpiration",
                                        "AbortIncompleteMultipartUpload",
                                        NULL};
    static const char *const repeatable[] = {"Transition", "NoncurrentVersionTransition", NULL};
    if (!children_ok(n, names, repeatable)) {
        return malformed(err);
    }
    json_t *rule = json_object();
    json_array_append_new(rules, rule);
    const char *id = s3__xml_child_text(n, "ID");
    char gen[49];
    if (id == NULL) {
        random_id(gen, 48);
        id = gen;
    }
    if (strlen(id) > LC_ID_MAX) {
        return err_set(err, SL_E(INVALID_ARGUMENT_S3),
                       "ID length should not exceed allowed limit of 255");
    }
    json_object_set_new(rule, "ID", json_string(id));
    const char *status = s3__xml_child_text(n, "Status");
    if (status == NULL || (strcmp(status, "Enabled") != 0 && strcmp(status, "Disabled") != 0)) {
        return malformed(err);
    }
    json_object_set_new(rule, "Status", json_string(status));
    const char *prefix = s3__xml_child_text(n, "Prefix");
    const struct s3_xml_node *filter = s3__xml_child(n, "Filter");
    if (prefix != NULL && filter != NULL) {
        return malformed(err);
    }
    int rc = 0;
    if (prefix != NULL) {
        json_object_set_new(rule, "Prefix", json_string(prefix));
    } else if (filter != NULL) {
        rc = parse_filter(filter, rule, err);
    } else {
        json_object_set_new(rule, "Filter", json_object()); /* every object */
    }
    const struct s3_xml_node *e = s3__xml_child(n, "Expiration");
    if (rc == 0 && e != NULL) {
        rc = parse_expiration(e, rule, err);
    }
    json_t *tr = json_array(), *ntr = json_array();
    json_object_set_new(rule, "Transitions", tr);
    json_object_set_new(rule, "NoncurrentVersionTransitions", ntr);
    for (size_t i = 0; i < n->n_children && rc == 0; i++) {
        if (strcmp(n->children[i].name, "Transition") == 0) {
            rc = parse_transition(&n->children[i], 0, tr, err);
        } else if (strcmp(n->children[i].name, "NoncurrentVersionTransition") == 0) {
            rc = parse_transition(&n->children[i], 1, ntr, err);
        }
    }
    const struct s3_xml_node *nce = s3__xml_child(n, "NoncurrentVersionExpiration");
    if (rc == 0 && nce != NULL) {
        static const char *const nce_names[] = {"NoncurrentDays", "NewerNoncurrentVersions", NULL};
        json_t *x = json_object();
        json_object_set_new(rule, "NoncurrentVersionExpiration", x);
        rc = children_ok(nce, nce_names, NULL) ? 0 : malformed(err);
        if (rc == 0) {
            rc = positive(nce, "NoncurrentDays", "NoncurrentVersionExpiration", 1, x, err);
        }
        if (rc == 0) {
            rc = newer_versions(nce, x, err);
        }
    }
    const struct s3_xml_node *ab = s3__xml_child(n, "AbortIncompleteMultipartUpload");
    if (rc == 0 && ab != NULL) {
        static const char *const ab_names[] = {"DaysAfterInitiation", NULL};
        json_t *x = json_object();
        json_object_set_new(rule, "AbortIncompleteMultipartUpload", x);
        rc = children_ok(ab, ab_names, NULL) ? 0 : malformed(err);
        if (rc == 0) {
            rc = positive(ab, "DaysAfterInitiation", "AbortIncompleteMultipartUpload", 1, x, err);
        }
    }
    if (rc < 0) {
        return rc;
    }
    if (json_array_size(tr) == 0) {
        json_object_del(rule, "Transitions");
    }
    if (json_array_size(ntr) == 0) {
        json_object_del(rule, "NoncurrentVersionTransitions");
    }
    if (e == NULL && nce == NULL && ab == NULL && json_object_get(rule, "Transitions") == NULL &&
        json_object_get(rule, "NoncurrentVersionTransitions") == NULL) {
        return err_set(err, SL_E(INVALID_REQUEST),
                       "At least one action needs to be specified in a rule");
    }
    int tagged = lake__lc_rule_has_tags(rule);
    if (tagged && ab != NULL) {
        return err_set(err, SL_E(INVALID_REQUEST),
                       "AbortIncompleteMultipartUpload cannot be specified with Tags.");
    }
    if (tagged &&
        json_object_get(json_object_get(rule, "Expiration"), "ExpiredObjectDeleteMarker") != NULL) {
        return err_set(err, SL_E(INVALID_REQUEST),
                       "ExpiredObjectDeleteMarker cannot be specified with object tags.");
    }
    return 0;
}

int s3__lifecycle_parse(const struct s3_xml_node *root, char **doc_out, struct err_info *err)
{
    *doc_out = NULL;
    if (strcmp(root->name, "LifecycleConfiguration") != 0) {
        return malformed(err);
    }
    json_t *rules = json_array();
    int rc = 0;
    for (size_t i = 0; i < root->n_children && rc == 0; i++) {
        if (strcmp(root->children[i].name, "Rule") != 0) {
            rc = malformed(err);
        } else if (json_array_size(rules) >= LC_MAX_RULES) {
            rc = err_set(err, SL_E(INVALID_REQUEST),
                         "The number of lifecycle rules should not exceed allowed limit of 1000 "
                         "rules");
        } else {
            rc = parse_rule(&root->children[i], rules, err);
        }
    }
    if (rc == 0 && json_array_size(rules) == 0) {
        rc = malformed(err);
    }
    for (size_t i = 0; rc == 0 && i < json_array_size(rules); i++) {
        json_t *id = json_object_get(json_array_get(rules, i), "ID");
        for (size_t j = 0; j < i; j++) {
            if (json_equal(id, json_object_get(json_array_get(rules, j), "ID"))) {
                rc = err_set(err, SL_E(INVALID_ARGUMENT_S3),
                             "Rule ID must be unique. Found same ID for more than one rule");
                break;
            }
        }
    }
    if (rc == 0) {
        json_t *doc = json_pack("{s:O}", "Rules", rules);
        *doc_out = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
    }
    json_decref(rules);
    return rc;
}

/* ---- the API ---- */

static int put_lifecycle(struct s3_req *r)
{
    r->call->operation = "PutBucketLifecycleConfiguration";
    int rc = lake_bucket_get(r->lake, r->bucket, NULL, &r->call->err);
    if (rc < 0) {
        return rc;
    }
    const char *min = s3__header(r, MIN_SIZE_HEADER);
    if (min == NULL || *min == '\0') {
        min = "all_storage_classes_128K";
    } else if (strcmp(min, "all_storage_classes_128K") != 0 &&
               strcmp(min, "varies_by_storage_class") != 0) {
        return s3__fail(r, SL_E(INVALID_REQUEST), "Invalid value for %s header", MIN_SIZE_HEADER);
    }
    int has_digest = s3__header(r, "Content-MD5") != NULL || s3__header(r, "x-amz-trailer") != NULL;
    for (size_t i = 0; i < r->req->n_headers && !has_digest; i++) {
        has_digest = strncasecmp(r->req->headers[i].name, "x-amz-checksum-", 15) == 0;
    }
    if (!has_digest) {
        return s3__fail(r, SL_E(INVALID_REQUEST),
                        "Missing required header for this request: Content-MD5");
    }
    struct s3_xml_node *root = NULL;
    rc = s3__xml_body(r, LC_MAX_BODY, NULL, &root);
    if (rc < 0) {
        return rc;
    }
    char *doc = NULL;
    rc = s3__lifecycle_parse(root, &doc, &r->call->err);
    s3__xml_free(root);
    if (rc == 0) {
        json_t *j = json_loads(doc, 0, NULL);
        json_object_set_new(j, "MinSize", json_string(min));
        free(doc);
        doc = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        rc = lake_bucket_doc_put(r->lake, r->bucket, LAKE_BUCKET_LIFECYCLE, doc, &r->call->err);
    }
    free(doc);
    if (rc == 0) {
        api_response_header(r->call->resp, MIN_SIZE_HEADER, min);
    }
    return rc;
}

static void xml_conditions(struct buf *b, json_t *c)
{
    json_t *v;
    if ((v = json_object_get(c, "Prefix")) != NULL) {
        s3__xml_elem(b, "Prefix", json_string_value(v));
    }
    json_t *tag = json_object_get(c, "Tag");
    json_t *tags = json_object_get(c, "Tags");
    size_t n = tags != NULL ? json_array_size(tags) : tag != NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *t = tags != NULL ? json_array_get(tags, i) : tag;
        buf_puts(b, "<Tag>");
        s3__xml_elem(b, "Key", json_string_value(json_object_get(t, "Key")));
        s3__xml_elem(b, "Value", json_string_value(json_object_get(t, "Value")));
        buf_puts(b, "</Tag>");
    }
    static const char *const sizes[] = {"ObjectSizeGreaterThan", "ObjectSizeLessThan"};
    for (size_t i = 0; i < 2; i++) {
        if ((v = json_object_get(c, sizes[i])) != NULL) {
            s3__xml_elem_int(b, sizes[i], (long long)json_integer_value(v));
        }
    }
}

static void xml_int(struct buf *b, json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    if (v != NULL) {
        s3__xml_elem_int(b, name, (long long)json_integer_value(v));
    }
}

static void xml_transitions(struct buf *b, json_t *list, const char *elem)
{
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t)
    {
        buf_printf(b, "<%s>", elem);
        if (json_object_get(t, "Date") != NULL) {
            s3__xml_elem_time(b, "Date", (int64_t)json_integer_value(json_object_get(t, "Date")));
        }
        xml_int(b, t, "Days");
        xml_int(b, t, "NoncurrentDays");
        xml_int(b, t, "NewerNoncurrentVersions");
        s3__xml_elem(b, "StorageClass", json_string_value(json_object_get(t, "StorageClass")));
        buf_printf(b, "</%s>", elem);
    }
}

static void xml_rule(struct buf *b, json_t *rule)
{
    buf_puts(b, "<Rule>");
    s3__xml_elem(b, "ID", json_string_value(json_object_get(rule, "ID")));
    json_t *legacy = json_object_get(rule, "Prefix");
    json_t *filter = json_object_get(rule, "Filter");
    if (legacy != NULL) {
        s3__xml_elem(b, "Prefix", json_string_value(legacy));
    } else {
        buf_puts(b, "<Filter>");
        json_t *and = json_object_get(filter, "And");
        if (and != NULL) {
            buf_puts(b, "<And>");
            xml_conditions(b, and);
            buf_puts(b, "</And>");
        } else {
            xml_conditions(b, filter);
        }
        buf_puts(b, "</Filter>");
    }
    s3__xml_elem(b, "Status", json_string_value(json_object_get(rule, "Status")));
    xml_transitions(b, json_object_get(rule, "Transitions"), "Transition");
    xml_transitions(b, json_object_get(rule, "NoncurrentVersionTransitions"),
                    "NoncurrentVersionTransition");
    json_t *e = json_object_get(rule, "Expiration");
    if (e != NULL) {
        buf_puts(b, "<Expiration>");
        if (json_object_get(e, "Date") != NULL) {
            s3__xml_elem_time(b, "Date", (int64_t)json_integer_value(json_object_get(e, "Date")));
        }
        xml_int(b, e, "Days");
        json_t *m = json_object_get(e, "ExpiredObjectDeleteMarker");
        if (m != NULL) {
            s3__xml_elem(b, "ExpiredObjectDeleteMarker", json_is_true(m) ? "true" : "false");
        }
        buf_puts(b, "</Expiration>");
    }
    json_t *nce = json_object_get(rule, "NoncurrentVersionExpiration");
    if (nce != NULL) {
        buf_puts(b, "<NoncurrentVersionExpiration>");
        xml_int(b, nce, "NoncurrentDays");
        xml_int(b, nce, "NewerNoncurrentVersions");
        buf_puts(b, "</NoncurrentVersionExpiration>");
    }
    json_t *ab = json_object_get(rule, "AbortIncompleteMultipartUpload");
    if (ab != NULL) {
        buf_puts(b, "<AbortIncompleteMultipartUpload>");
        xml_int(b, ab, "DaysAfterInitiation");
        buf_puts(b, "</AbortIncompleteMultipartUpload>");
    }
    buf_puts(b, "</Rule>");
}

static int get_lifecycle(struct s3_req *r)
{
    r->call->operation = "GetBucketLifecycleConfiguration";
    char *text = NULL;
    int rc = lake_bucket_doc_get(r->lake, r->bucket, LAKE_BUCKET_LIFECYCLE, &text, &r->call->err);
    if (rc < 0) {
        return rc;
    }
    json_t *doc = text != NULL ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (doc == NULL) {
        return s3__fail(r, SL_E(NO_SUCH_LIFECYCLE), "The lifecycle configuration does not exist");
    }
    struct buf b;
    buf_init(&b);
    s3__xml_open(&b, "LifecycleConfiguration");
    size_t i;
    json_t *rule;
    json_array_foreach(json_object_get(doc, "Rules"), i, rule)
    {
        xml_rule(&b, rule);
    }
    buf_puts(&b, "</LifecycleConfiguration>");
    const char *min = json_string_value(json_object_get(doc, "MinSize"));
    api_response_header(r->call->resp, MIN_SIZE_HEADER, min ? min : "all_storage_classes_128K");
    json_decref(doc);
    return s3__respond_xml(r, &b);
}

int s3__bucket_lifecycle(struct s3_req *r)
{
    const char *m = r->req->method;
    if (strcmp(m, "GET") == 0) {
        return get_lifecycle(r);
    }
    if (strcmp(m, "PUT") == 0) {
        return put_lifecycle(r);
    }
    if (strcmp(m, "DELETE") != 0) {
        return s3__fail(r, SL_E(METHOD_NOT_ALLOWED),
                        "The specified method is not allowed against this resource.");
    }
    r->call->operation = "DeleteBucketLifecycle";
    int rc = lake_bucket_doc_put(r->lake, r->bucket, LAKE_BUCKET_LIFECYCLE, NULL, &r->call->err);
    if (rc == 0) {
        r->call->resp->status = 204;
    }
    return rc;
}

/* ---- response headers ---- */

void s3__expiration_header(struct s3_req *r, const struct lake_object_info *info)
{
    struct lake_lc_when when;
    struct lake_object_info named = *info; /* borrowed: a write's info may lack its key */
    if (named.key == NULL) {
        named.key = r->key;
    }
    if (r->bucket == NULL || named.key == NULL ||
        !lake_lifecycle_expiry(r->lake, r->bucket, &named, &when)) {
        return;
    }
    char date[32];
    clock_format_http(when.date_ms, date);
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "expiry-date=\"%s\", rule-id=\"", date);
    s3__url_encode(&b, when.rule_id);
    buf_puts(&b, "\"");
    if (buf_status(&b) == 0) {
        api_response_header(r->call->resp, "x-amz-expiration", (char *)b.data);
    }
    buf_fini(&b);
}

void s3__abort_headers(struct s3_req *r, const char *key, int64_t initiated_ms)
{
    struct lake_lc_when when;
    if (!lake_lifecycle_abort_date(r->lake, r->bucket, key, initiated_ms, &when)) {
        return;
    }
    char date[32];
    clock_format_http(when.date_ms, date);
    api_response_header(r->call->resp, "x-amz-abort-date", date);
    api_response_header(r->call->resp, "x-amz-abort-rule-id", when.rule_id);
}

const char *s3__storage_class(const struct lake_object_info *info, char buf[32])
{
    if (info->meta_json == NULL || strstr(info->meta_json, "x-amz-storage-class") == NULL) {
        return "STANDARD";
    }
    json_t *meta = json_loads(info->meta_json, 0, NULL);
    const char *c = json_string_value(json_object_get(meta, "x-amz-storage-class"));
    snprintf(buf, 32, "%s", c ? c : "STANDARD");
    json_decref(meta);
    return buf;
}

/* ---- the test clock (--test-clock) ---- */

struct s3_lifecycle_clock {
    struct api_plain_service plain;
    struct lake *lake;
};

/* POST /_sluice/clock/advance?seconds=N: moves the lifecycle clock, sweeps, answers
   what the sweep did (JSON). seconds may be 0: a sweep alone. */
static void clock_answer(void *ctx, const struct api_request *req, struct api_response *resp)
{
    struct s3_lifecycle_clock *c = ctx;
    api_response_header(resp, "Content-Type", "application/json");
    long long secs = -1;
    const char *q = strstr(req->query, "seconds=");
    if (q != NULL && (q == req->query || q[-1] == '&')) {
        char *end;
        secs = strtoll(q + 8, &end, 10);
        if (end == q + 8 || (*end != '\0' && *end != '&')) {
            secs = -1;
        }
    }
    if (strcmp(req->method, "POST") != 0 || secs < 0 || secs > (long long)1 << 40) {
        resp->status = 400;
        buf_puts(&resp->body, "{\"error\":\"POST /_sluice/clock/advance?seconds=N (N >= 0)\"}");
        return;
    }
    lake_lifecycle_advance((int64_t)secs * 1000);
    struct lake_lc_stats st;
    memset(&st, 0, sizeof(st));
    int64_t now = lake_lifecycle_now_ms();
    int rc = lake_lifecycle_sweep(c->lake, now, &st);
    char t[32];
    clock_format_iso8601(now, t);
    buf_printf(&resp->body,
               "{\"now\":\"%s\",\"result\":\"%s\",\"expired\":%lld,\"noncurrent\":%lld,"
               "\"markers\":%lld,\"aborted\":%lld,\"transitioned\":%lld,\"keptLocked\":%lld}",
               t, rc < 0 ? sl_strerror(rc) : "ok", (long long)st.expired, (long long)st.noncurrent,
               (long long)st.markers, (long long)st.aborted, (long long)st.transitioned,
               (long long)st.kept_locked);
}

struct s3_lifecycle_clock *s3_lifecycle_clock_create(struct lake *lake)
{
    struct s3_lifecycle_clock *c = xcalloc(1, sizeof(*c));
    c->lake = lake;
    c->plain = (struct api_plain_service){"/_sluice/clock/advance", clock_answer, c};
    return c;
}

const struct api_plain_service *s3_lifecycle_clock_service(struct s3_lifecycle_clock *c)
{
    return &c->plain;
}

void s3_lifecycle_clock_destroy(struct s3_lifecycle_clock *c)
{
    free(c);
}

char *s3__meta_without_class(const char *meta_json)
{
    if (meta_json == NULL) {
        return NULL;
    }
    json_t *meta = json_loads(meta_json, 0, NULL);
    json_object_del(meta, "x-amz-storage-class");
    json_object_del(meta, ":restore"); /* a copy is never restored (lake_restore.h) */
    char *out = json_object_size(meta) > 0 ? json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(meta);
    return out;
}
