/*
 * The S3 adapter's versioning and object lock: Put/GetBucketVersioning,
 * ListObjectVersions, Put/GetObjectLockConfiguration, Put/GetObjectRetention,
 * Put/GetObjectLegalHold, and the headers object requests carry for them
 * (x-amz-version-id, x-amz-delete-marker, x-amz-object-lock-*) and for conditional
 * writes (If-None-Match / If-Match on PutObject and CompleteMultipartUpload).
 * The storage side is lake_versions.c.
 */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/clock.h"
#include "core/mem.h"
#include "lake/s3_http.h"

static const char MSG_MALFORMED[] = "The XML you provided was not well-formed or did not "
                                    "validate against our published schema";

/* Parses an ISO 8601 UTC time ("2030-01-02T03:04:05[.123]Z") into ms; -1 when invalid. */
static int64_t parse_iso8601_ms(const char *s)
{
    if (s == NULL) {
        return -1;
    }
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &n) != 6) {
        return -1;
    }
    const char *p = s + n;
    int64_t frac_ms = 0;
    if (*p == '.') {
        int64_t scale = 100;
        for (p++; *p >= '0' && *p <= '9'; p++) {
            frac_ms += (*p - '0') * scale;
            scale /= 10;
        }
    }
    if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0 && *p != '\0') {
        return -1;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    if (t == (time_t)-1) {
        return -1;
    }
    return (int64_t)t * 1000 + frac_ms;
}

static int is_lock_mode(const char *m)
{
    return m != NULL && (strcmp(m, "GOVERNANCE") == 0 || strcmp(m, "COMPLIANCE") == 0);
}

/* ---- headers of object requests ---- */

void s3__version_headers(struct s3_req *r, const struct lake_object_info *info)
{
    if (info->versioned) {
        api_response_header(r->call->resp, "x-amz-version-id",
                            info->version_id[0] ? info->version_id : "null");
    }
    if (info->delete_marker) {
        api_response_header(r->call->resp, "x-amz-delete-marker", "true");
    }
    if (s3__query(r, "versionId") == NULL) {
        s3__expiration_header(r, info); /* every answer naming a current object */
    }
}

void s3__lock_headers(struct s3_req *r, const struct lake_object_info *info)
{
    if (info->lock_mode[0] != '\0') {
        char t[32];
        clock_format_iso8601(info->lock_until_ms, t);
        api_response_header(r->call->resp, "x-amz-object-lock-mode", info->lock_mode);
        api_response_header(r->call->resp, "x-amz-object-lock-retain-until-date", t);
    }
    if (info->legal_hold != 0) {
        api_response_header(r->call->resp, "x-amz-object-lock-legal-hold",
                            info->legal_hold == 1 ? "ON" : "OFF");
    }
}

/* The x-amz-object-lock-* headers of a write into opts; *present set when any is. */
static int lock_opts(struct s3_req *r, struct lake_put_opts *opts, int *present)
{
    const char *mode = s3__header(r, "x-amz-object-lock-mode");
    const char *until = s3__header(r, "x-amz-object-lock-retain-until-date");
    const char *hold = s3__header(r, "x-amz-object-lock-legal-hold");
    *present = mode != NULL || until != NULL || hold != NULL;
    if ((mode == NULL) != (until == NULL)) {
        return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                        "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must "
                        "both be supplied");
    }
    if (mode != NULL) {
        if (!is_lock_mode(mode)) {
            return s3__fail(r, SL_E(INVALID_ARGUMENT_S3), "Unknown wormMode directive.");
        }
        int64_t ms = parse_iso8601_ms(until);
        if (ms < 0) {
            return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                            "The retain until date must be provided in ISO 8601 format");
        }
        if (ms <= clock_now_ms()) {
            return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                            "The retain until date must be in the future!");
        }
        opts->lock_mode = mode;
        opts->lock_until_ms = ms;
    }
    if (hold != NULL) {
        if (strcmp(hold, "ON") != 0 && strcmp(hold, "OFF") != 0) {
            return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                            "Legal Hold must be either of 'ON' or 'OFF'");
        }
        opts->legal_hold = strcmp(hold, "ON") == 0 ? 1 : 2;
    }
    return 0;
}

int s3__lock_opts(struct s3_req *r, struct lake_put_opts *opts)
{
    int present = 0;
    return lock_opts(r, opts, &present);
}

int s3__write_opts(struct s3_req *r, struct lake_put_opts *opts, int with_lock)
{
    const char *inm = s3__header(r, "If-None-Match");
    if (inm != NULL) {
        if (strcmp(inm, "*") != 0) {
            return s3__fail(r, SL_E(NOT_IMPLEMENTED),
                            "A header you provided implies functionality that is not "
                            "implemented");
        }
        opts->if_none_match = 1;
    }
    opts->if_match = s3__header(r, "If-Match");
    if (!with_lock) {
        return 0;
    }
    int present = 0;
    int rc = lock_opts(r, opts, &present);
    /* An upload carrying lock settings must be checked end to end (a copy's bytes are
       the source's, already stored). */
    if (rc == 0 && present && with_lock == 2 && s3__header(r, "Content-MD5") == NULL &&
        s3__header(r, "x-amz-sdk-checksum-algorithm") == NULL &&
        s3__header(r, "x-amz-trailer") == NULL) {
        int has_checksum = 0;
        for (size_t i = 0; i < r->req->n_headers; i++) {
            has_checksum |= strncasecmp(r->req->headers[i].name, "x-amz-checksum-", 15) == 0;
        }
        if (!has_checksum) {
            rc = s3__fail(r, SL_E(INVALID_REQUEST),
                          "Content-MD5 OR x-amz-checksum- HTTP header is required for Put "
                          "Object requests with Object Lock parameters");
        }
    }
    return rc;
}

/* ---- bucket versioning ---- */

int s3__get_bucket_versioning(struct s3_req *r)
{
    enum lake_versioning state;
    int mfa = -1;
    int rc = lake_versioning_get(r->lake, r->bucket, &state, &mfa, &r->call->err);
    if (rc < 0) {
        return rc;
    }
    struct buf b;
    buf_init(&b);
    s3__xml_open(&b, "VersioningConfiguration");
    if (state != LAKE_VERSIONING_OFF) {
        s3__xml_elem(&b, "Status", state == LAKE_VERSIONING_ENABLED ? "Enabled" : "Suspended");
    }
    if (mfa >= 0) {
        s3__xml_elem(&b, "MfaDelete", mfa ? "Enabled" : "Disabled");
    }
    buf_puts(&b, "</VersioningConfiguration>");
    return s3__respond_xml(r, &b);
}

int s3__put_bucket_versioning(struct s3_req *r)
{
    struct s3_xml_node *root = NULL;
    int rc = s3__xml_body(r, 1 << 16, "VersioningConfiguration", &root);
    if (rc == 0) {
        rc = lake_bucket_get(r->lake, r->bucket, NULL, &r->call->err);
    }
    if (rc < 0) {
        s3__xml_free(root);
        return rc;
    }
    const char *status = s3__xml_child_text(root, "Status");
    const char *mfa = s3__xml_child_text(root, "MfaDelete");
    if ((status != NULL && strcmp(status, "Enabled") != 0 && strcmp(status, "Suspended") != 0) ||
        (mfa != NULL && strcmp(mfa, "Enabled") != 0 && strcmp(mfa, "Disabled") != 0)) {
        rc = s3__fail(r, SL_E(MALFORMED_XML), "%s", MSG_MALFORMED);
    } else if (mfa != NULL && strcmp(mfa, "Enabled") == 0) {
        /* Sluice has no MFA devices: no request can carry a valid x-amz-mfa. */
        rc = s3__fail(r, SL_E(S3_ACCESS_DENIED),
                      "Mfa Authentication must be used for this "
                      "request");
    } else if (status != NULL || mfa != NULL) {
        enum lake_versioning state = LAKE_VERSIONING_OFF;
        if (status != NULL) {
            state = strcmp(status, "Enabled") == 0 ? LAKE_VERSIONING_ENABLED
                                                   : LAKE_VERSIONING_SUSPENDED;
        }
        rc = lake_versioning_put(r->lake, r->bucket, state, mfa != NULL ? 0 : -1, &r->call->err);
    }
    s3__xml_free(root);
    return rc;
}

/* ---- ListObjectVersions ---- */

static void elem_enc(struct buf *b, const char *name, const char *text, int url)
{
    buf_printf(b, "<%s>", name);
    if (url) {
        s3__url_encode(b, text);
    } else {
        s3__xml_text(b, text);
    }
    buf_printf(b, "</%s>", name);
}

static void version_entry(struct s3_req *r, struct buf *b, const struct lake_object_info *v,
                          int url)
{
    const char *elem = v->delete_marker ? "DeleteMarker" : "Version";
    buf_printf(b, "<%s>", elem);
    elem_enc(b, "Key", v->key, url);
    s3__xml_elem(b, "VersionId", v->version_id[0] ? v->version_id : "null");
    s3__xml_elem(b, "IsLatest", v->is_latest ? "true" : "false");
    s3__xml_elem_time(b, "LastModified", v->last_modified_ms);
    if (!v->delete_marker) {
        s3__xml_etag(b, v->etag);
        if (v->checksum_algo != LAKE_CHECKSUM_NONE) {
            s3__xml_elem(b, "ChecksumAlgorithm", lake_checksum_name(v->checksum_algo));
        }
        s3__xml_elem_int(b, "Size", v->size_bytes);
        char sc[32];
        s3__xml_elem(b, "StorageClass", s3__storage_class(v, sc));
    }
    s3__owner(r, b, "Owner");
    if (!v->delete_marker) {
        s3__restore_status(r, b, v);
    }
    buf_printf(b, "</%s>", elem);
}

int s3__list_object_versions(struct s3_req *r)
{
    const char *mk = s3__query(r, "max-keys");
    long long max_keys = mk ? s3__parse_uint(mk) : 1000;
    if (max_keys < 0) {
        return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                        "Provided max-keys not an integer or within integer range");
    }
    if (max_keys > 1000) {
        max_keys = 1000;
    }
    const char *enc = s3__query(r, "encoding-type");
    if (enc != NULL && strcmp(enc, "url") != 0) {
        return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                        "Invalid Encoding Method specified in "
                        "Request");
    }
    int url = enc != NULL;
    struct lake_version_list_opts o = {.prefix = s3__query(r, "prefix"),
                                       .delimiter = s3__query(r, "delimiter"),
                                       .key_marker = s3__query(r, "key-marker"),
                                       .version_id_marker = s3__query(r, "version-id-marker"),
                                       .max_keys = (size_t)max_keys};
    if (o.version_id_marker != NULL && o.version_id_marker[0] != '\0' &&
        (o.key_marker == NULL || o.key_marker[0] == '\0')) {
        return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                        "A version-id marker cannot be specified without a key marker.");
    }
    struct lake_version_list list;
    int rc = lake_version_list(r->lake, r->bucket, &o, &list, &r->call->err);
    if (rc < 0) {
        return rc;
    }
    struct buf b;
    buf_init(&b);
    s3__xml_open(&b, "ListVersionsResult");
    s3__xml_elem(&b, "Name", r->bucket);
    elem_enc(&b, "Prefix", o.prefix ? o.prefix : "", url);
    elem_enc(&b, "KeyMarker", o.key_marker ? o.key_marker : "", url);
    s3__xml_elem(&b, "VersionIdMarker", o.version_id_marker ? o.version_id_marker : "");
    if (list.next_key_marker != NULL) {
        elem_enc(&b, "NextKeyMarker", list.next_key_marker, url);
    }
    if (list.next_version_id_marker != NULL) {
        s3__xml_elem(&b, "NextVersionIdMarker", list.next_version_id_marker);
    }
    s3__xml_elem_int(&b, "MaxKeys", max_keys);
    if (o.delimiter != NULL && o.delimiter[0] != '\0') {
        elem_enc(&b, "Delimiter", o.delimiter, url);
    }
    s3__xml_elem(&b, "IsTruncated", list.truncated ? "true" : "false");
    if (url) {
        s3__xml_elem(&b, "EncodingType", "url");
    }
    for (size_t i = 0; i < list.n_versions; i++) {
        version_entry(r, &b, &list.versions[i], url);
    }
    for (size_t i = 0; i < list.n_prefixes; i++) {
        buf_puts(&b, "<CommonPrefixes>");
        elem_enc(&b, "Prefix", list.prefixes[i], url);
        buf_puts(&b, "</CommonPrefixes>");
    }
    buf_puts(&b, "</ListVersionsResult>");
    lake_version_list_fini(&list);
    return s3__respond_xml(r, &b);
}

/* ---- object lock configuration ---- */

/* CreateBucket's x-amz-bucket-object-lock-enabled, after the bucket exists. */
int s3__create_bucket_lock(struct s3_req *r)
{
    const char *h = s3__header(r, "x-amz-bucket-object-lock-enabled");
    if (h == NULL || strcasecmp(h, "true") != 0) {
        return 0;
    }
    struct lake_lock_config cfg = {.enabled = 1};
    return lake_lock_config_put(r->lake, r->bucket, &cfg, 1, &r->call->err);
}

static int get_lock_config(struct s3_req *r)
{
    struct lake_lock_config cfg;
    int rc = lake_lock_config_get(r->lake, r->bucket, &cfg, &r->call->err);
    if (rc < 0) {
        return rc;
    }
    if (!cfg.enabled) {
        return s3__fail(r, SL_E(LOCK_CONFIG_NOT_FOUND),
                        "Object Lock configuration does not exist for this bucket");
    }
    struct buf b;
    buf_init(&b);
    s3__xml_open(&b, "ObjectLockConfiguration");
    s3__xml_elem(&b, "ObjectLockEnabled", "Enabled");
    if (cfg.mode[0] != '\0') {
        buf_puts(&b, "<Rule><DefaultRetention>");
        s3__xml_elem(&b, "Mode", cfg.mode);
        if (cfg.days > 0) {
            s3__xml_elem_int(&b, "Days", cfg.days);
        } else {
            s3__xml_elem_int(&b, "Years", cfg.years);
        }
        buf_puts(&b, "</DefaultRetention></Rule>");
    }
    buf_puts(&b, "</ObjectLockConfiguration>");
    return s3__respond_xml(r, &b);
}

static int put_lock_config(struct s3_req *r)
{
    struct s3_xml_node *root = NULL;
    int rc = s3__xml_body(r, 1 << 16, "ObjectLockConfiguration", &root);
    if (rc < 0) {
        return rc;
    }
    struct lake_lock_config cfg = {.enabled = 1};
    const char *enabled = s3__xml_child_text(root, "ObjectLockEnabled");
    const struct s3_xml_node *rule = s3__xml_child(root, "Rule");
    const struct s3_xml_node *dr = rule ? s3__xml_child(rule, "DefaultRetention") : NULL;
    if (enabled == NULL || strcmp(enabled, "Enabled") != 0 || (rule != NULL && dr == NULL)) {
        rc = s3__fail(r, SL_E(MALFORMED_XML), "%s", MSG_MALFORMED);
    } else if (dr != NULL) {
        const char *mode = s3__xml_child_text(dr, "Mode");
        const char *days = s3__xml_child_text(dr, "Days");
        const char *years = s3__xml_child_text(dr, "Years");
        long long n = s3__parse_uint(days ? days : years);
        if (!is_lock_mode(mode) || (days == NULL) == (years == NULL)) {
            rc = s3__fail(r, SL_E(MALFORMED_XML), "%s", MSG_MALFORMED);
        } else if (n <= 0 || n > (days ? 36500 : 100)) {
            rc = s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                          "Default retention period must be a positive integer value");
        } else {
            snprintf(cfg.mode, sizeof(cfg.mode), "%s", mode);
            *(days ? &cfg.days : &cfg.years) = (int)n;
        }
    }
    if (rc == 0) {
        rc = lake_lock_config_put(r->lake, r->bucket, &cfg, 0, &r->call->err);
    }
    s3__xml_free(root);
    return rc;
}

int s3__bucket_lock_op(struct s3_req *r)
{
    if (strcmp(r->req->method, "GET") == 0) {
        r->call->operation = "GetObjectLockConfiguration";
        return get_lock_config(r);
    }
    if (strcmp(r->req->method, "PUT") == 0) {
        r->call->operation = "PutObjectLockConfiguration";
        return put_lock_config(r);
    }
    return s3__fail(r, SL_E(METHOD_NOT_ALLOWED),
                    "The specified method is not allowed against this resource.");
}

/* ---- retention and legal hold ---- */

static int lock_info(struct s3_req *r, struct lake_object_info *info)
{
    memset(info, 0, sizeof(*info));
    struct lake_lock_config cfg;
    int rc = lake_lock_config_get(r->lake, r->bucket, &cfg, &r->call->err);
    if (rc == 0 && !cfg.enabled) {
        return s3__fail(r, SL_E(INVALID_REQUEST), "Bucket is missing Object Lock Configuration");
    }
    if (rc == 0) {
        rc = lake_version_open(r->lake, r->bucket, r->key, s3__query(r, "versionId"), info, NULL,
                               &r->call->err);
    }
    return rc;
}

static int get_retention(struct s3_req *r)
{
    struct lake_object_info info;
    int rc = lock_info(r, &info);
    if (rc == 0 && info.lock_mode[0] == '\0') {
        rc = s3__fail(r, SL_E(NO_SUCH_LOCK_CONFIG),
                      "The specified object does not have a ObjectLock configuration");
    }
    if (rc == 0) {
        struct buf b;
        buf_init(&b);
        s3__xml_open(&b, "Retention");
        s3__xml_elem(&b, "Mode", info.lock_mode);
        s3__xml_elem_time(&b, "RetainUntilDate", info.lock_until_ms);
        buf_puts(&b, "</Retention>");
        rc = s3__respond_xml(r, &b);
    }
    lake_object_info_fini(&info);
    return rc;
}

static int get_legal_hold(struct s3_req *r)
{
    struct lake_object_info info;
    int rc = lock_info(r, &info);
    if (rc == 0 && info.legal_hold == 0) {
        rc = s3__fail(r, SL_E(NO_SUCH_LOCK_CONFIG),
                      "The specified object does not have a ObjectLock configuration");
    }
    if (rc == 0) {
        struct buf b;
        buf_init(&b);
        s3__xml_open(&b, "LegalHold");
        s3__xml_elem(&b, "Status", info.legal_hold == 1 ? "ON" : "OFF");
        buf_puts(&b, "</LegalHold>");
        rc = s3__respond_xml(r, &b);
    }
    lake_object_info_fini(&info);
    return rc;
}

static int put_retention(struct s3_req *r)
{
    struct s3_xml_node *root = NULL;
    int rc = s3__xml_body(r, 1 << 16, "Retention", &root);
    if (rc < 0) {
        return rc;
    }
    const char *mode = s3__xml_child_text(root, "Mode");
    const char *until = s3__xml_child_text(root, "RetainUntilDate");
    int64_t until_ms = 0;
    if ((mode == NULL) != (until == NULL) || (mode != NULL && !is_lock_mode(mode))) {
        rc = s3__fail(r, SL_E(MALFORMED_XML), "%s", MSG_MALFORMED);
    } else if (until != NULL && (until_ms = parse_iso8601_ms(until)) < 0) {
        rc = s3__fail(r, SL_E(MALFORMED_XML), "%s", MSG_MALFORMED);
    } else if (until != NULL && until_ms <= clock_now_ms()) {
        rc = s3__fail(r, SL_E(INVALID_ARGUMENT_S3), "The retain until date must be in the future!");
    }
    if (rc == 0) {
        rc = lake_retention_put(r->lake, r->bucket, r->key, s3__query(r, "versionId"), mode,
                                until_ms, s3__bypass_governance(r, r->key), &r->call->err);
    }
    s3__xml_free(root);
    return rc;
}

static int put_legal_hold(struct s3_req *r)
{
    struct s3_xml_node *root = NULL;
    int rc = s3__xml_body(r, 1 << 16, "LegalHold", &root);
    if (rc < 0) {
        return rc;
    }
    const char *status = s3__xml_child_text(root, "Status");
    if (status == NULL || (strcmp(status, "ON") != 0 && strcmp(status, "OFF") != 0)) {
        rc = s3__fail(r, SL_E(MALFORMED_XML), "%s", MSG_MALFORMED);
    } else {
        rc = lake_legal_hold_put(r->lake, r->bucket, r->key, s3__query(r, "versionId"),
                                 strcmp(status, "ON") == 0, &r->call->err);
    }
    s3__xml_free(root);
    return rc;
}

int s3__object_lock_op(struct s3_req *r)
{
    int retention = s3__query(r, "retention") != NULL;
    if (strcmp(r->req->method, "GET") == 0) {
        r->call->operation = retention ? "GetObjectRetention" : "GetObjectLegalHold";
        return retention ? get_retention(r) : get_legal_hold(r);
    }
    if (strcmp(r->req->method, "PUT") == 0) {
        r->call->operation = retention ? "PutObjectRetention" : "PutObjectLegalHold";
        return retention ? put_retention(r) : put_legal_hold(r);
    }
    return s3__fail(r, SL_E(METHOD_NOT_ALLOWED),
                    "The specified method is not allowed against this resource.");
}
