/*
 * The S3 adapter's object attributes and the rules around them: GetObjectAttributes,
 * the checksum type of multipart uploads (x-amz-checksum-type on create, complete and in
 * answers), conditional deletes (If-Match, x-amz-if-match-last-modified-time,
 * x-amz-if-match-size; a DeleteObjects entry's ETag, LastModifiedTime and Size) and who
 * may bypass governance retention.
 */
#define _DEFAULT_SOURCE
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/base64.h"
#include "core/clock.h"
#include "http/http.h"
#include "lake/lake_int.h"
#include "lake/s3_http.h"

/* An algorithm's name as S3 words it in messages: "crc32", "sha256". */
static void lower_name(enum lake_checksum_algo algo, char out[16])
{
    snprintf(out, 16, "%s", algo == LAKE_CHECKSUM_NONE ? "null" : lake_checksum_name(algo));
    for (char *p = out; *p; p++) {
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    }
}

/* ---- checksum types ---- */

void s3__checksum_type_header(struct s3_req *r, enum lake_checksum_algo algo, const char *checksum)
{
    if (algo != LAKE_CHECKSUM_NONE && checksum != NULL && checksum[0] != '\0') {
        api_response_header(r->call->resp, "x-amz-checksum-type",
                            lake_checksum_type_name(lake_checksum_type_of(checksum)));
    }
}

int s3__upload_checksum_type(struct s3_req *r, struct lake_put_opts *opts)
{
    const char *h = s3__header(r, "x-amz-checksum-type");
    if (h == NULL) {
        opts->checksum_type = lake_checksum_type_default(opts->checksum_algo);
        return 0;
    }
    int type = lake_checksum_type_from_name(h);
    if (type < 0) {
        return s3__fail(r, SL_E(INVALID_REQUEST),
                        "Value for x-amz-checksum-type header is invalid.");
    }
    if (opts->checksum_algo == LAKE_CHECKSUM_NONE) {
        return s3__fail(r, SL_E(INVALID_REQUEST),
                        "The x-amz-checksum-type header can only be used with the "
                        "x-amz-checksum-algorithm header.");
    }
    if (!lake_checksum_type_allowed(opts->checksum_algo, (enum lake_checksum_type)type)) {
        char name[16];
        lower_name(opts->checksum_algo, name);
        return s3__fail(r, SL_E(INVALID_REQUEST),
                        "The %s checksum type cannot be used with the %s checksum algorithm.", h,
                        name);
    }
    opts->checksum_type = (enum lake_checksum_type)type;
    return 0;
}

int s3__part_checksum_check(struct s3_req *r, const struct lake_upload_info *up,
                            enum lake_checksum_algo algo)
{
    if (up->checksum_algo == LAKE_CHECKSUM_NONE || algo == up->checksum_algo) {
        return 0;
    }
    char want[16], got[16];
    lower_name(up->checksum_algo, want);
    lower_name(algo, got);
    return s3__fail(r, SL_E(INVALID_REQUEST),
                    "Checksum Type mismatch occurred, expected checksum Type: %s, actual "
                    "checksum Type: %s",
                    want, got);
}

int s3__complete_checksum(struct s3_req *r, const struct lake_upload_info *up,
                          struct lake_put_opts *cond, char expected[LAKE_CHECKSUM_MAX])
{
    const char *th = s3__header(r, "x-amz-checksum-type");
    if (th != NULL) {
        int type = lake_checksum_type_from_name(th);
        if (type < 0) {
            return s3__fail(r, SL_E(INVALID_REQUEST),
                            "Value for x-amz-checksum-type header is invalid.");
        }
        if (up->checksum_algo != LAKE_CHECKSUM_NONE && type != (int)up->checksum_type) {
            return s3__fail(r, SL_E(INVALID_REQUEST),
                            "The upload was created using the %s checksum mode. The complete "
                            "request must use the same checksum mode.",
                            lake_checksum_type_name(up->checksum_type));
        }
    }
    for (int a = LAKE_CHECKSUM_CRC32; a <= LAKE_CHECKSUM_SHA256; a++) {
        char name[64];
        snprintf(name, sizeof(name), "x-amz-checksum-%s", lake_checksum_name(a));
        const char *v = s3__header(r, name);
        if (v == NULL) {
            continue;
        }
        if ((enum lake_checksum_algo)a != up->checksum_algo) {
            char was[16];
            lower_name(up->checksum_algo, was);
            return s3__fail(r, SL_E(INVALID_REQUEST),
                            "The upload was created using a %s checksum. The complete request "
                            "must use the same checksum algorithm.",
                            was);
        }
        /* The base64 of one digest, with "-N" for a composite. */
        size_t b64_len = strcspn(v, "-");
        uint8_t raw[64];
        if (b64_len > 60 || base64_decode(v, b64_len, raw) != (long)lake__checksum_len(a) ||
            strlen(v) >= LAKE_CHECKSUM_MAX) {
            return s3__fail(r, SL_E(INVALID_REQUEST), "Value for %s header is invalid.", name);
        }
        snprintf(expected, LAKE_CHECKSUM_MAX, "%s", v);
        cond->checksum_expected = expected;
        break;
    }
    return 0;
}

int s3__complete_part_checksums(struct s3_req *r, const struct lake_upload_info *up,
                                const struct s3_xml_node *root)
{
    if (up->checksum_algo == LAKE_CHECKSUM_NONE) {
        return 0;
    }
    struct lake_part_info *parts = NULL;
    size_t n = 0;
    int truncated = 0;
    int rc = 0;
    int loaded = 0;
    for (size_t i = 0; i < root->n_children && rc == 0; i++) {
        const struct s3_xml_node *p = &root->children[i];
        const char *given = NULL;
        enum lake_checksum_algo algo = LAKE_CHECKSUM_NONE;
        for (int a = LAKE_CHECKSUM_CRC32; a <= LAKE_CHECKSUM_SHA256 && given == NULL; a++) {
            char name[32];
            snprintf(name, sizeof(name), "Checksum%s", lake_checksum_name(a));
            given = s3__xml_child_text(p, name);
            algo = (enum lake_checksum_algo)a;
        }
        if (strcmp(p->name, "Part") != 0 || given == NULL) {
            continue;
        }
        if (!loaded) {
            rc = lake_part_list(r->lake, r->bucket, r->key, up->upload_id, 0, LAKE_PART_NUMBER_MAX,
                                &parts, &n, &truncated, &r->call->err);
            loaded = 1;
            if (rc < 0) {
                break;
            }
        }
        /* A part's checksum as listed must be the one it was stored with. */
        long long pn = s3__parse_uint(s3__xml_child_text(p, "PartNumber"));
        const struct lake_part_info *stored = NULL;
        size_t lo = 0, hi = n; /* the parts come in part number order */
        while (lo < hi && stored == NULL) {
            size_t mid = lo + (hi - lo) / 2;
            if (parts[mid].part_number == pn) {
                stored = &parts[mid];
            } else if (parts[mid].part_number < pn) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if (stored != NULL && (algo != up->checksum_algo || strcmp(given, stored->checksum) != 0)) {
            rc = s3__fail(r, SL_E(INVALID_PART),
                          "One or more of the specified parts could not be found.  The part may "
                          "not have been uploaded, or the specified entity tag may not match the "
                          "part's entity tag.");
        }
    }
    free(parts);
    return rc;
}

/* ---- GetObjectAttributes ---- */

enum {
    ATTR_ETAG = 1,
    ATTR_CHECKSUM = 2,
    ATTR_PARTS = 4,
    ATTR_STORAGE_CLASS = 8,
    ATTR_SIZE = 16,
};

/* The x-amz-object-attributes list (comma-separated; clients send one header). */
static int parse_attributes(struct s3_req *r, int *out)
{
    static const struct {
        const char *name;
        int bit;
    } names[] = {{"ETag", ATTR_ETAG},
                 {"Checksum", ATTR_CHECKSUM},
                 {"ObjectParts", ATTR_PARTS},
                 {"StorageClass", ATTR_STORAGE_CLASS},
                 {"ObjectSize", ATTR_SIZE}};
    const char *h = s3__header(r, "x-amz-object-attributes");
    *out = 0;
    for (const char *p = h ? h : ""; *p;) {
        while (*p == ' ' || *p == ',') {
            p++;
        }
        size_t len = strcspn(p, ",");
        size_t end = len;
        while (end > 0 && p[end - 1] == ' ') {
            end--;
        }
        if (end > 0) {
            int bit = 0;
            for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                if (strlen(names[i].name) == end && memcmp(names[i].name, p, end) == 0) {
                    bit = names[i].bit;
                }
            }
            if (bit == 0) {
                return s3__fail(r, SL_E(INVALID_ARGUMENT_S3), "Invalid attribute name specified.");
            }
            *out |= bit;
        }
        p += len;
    }
    if (*out == 0) {
        return s3__fail(r, SL_E(INVALID_REQUEST),
                        "The x-amz-object-attributes header specifying the attributes to be "
                        "retrieved is either missing or empty");
    }
    return 0;
}

/* <ChecksumX> of an object or part: the base64 alone (no "-N"). */
static void checksum_elem(struct buf *b, enum lake_checksum_algo algo, const char *value)
{
    char name[32], v[LAKE_CHECKSUM_MAX];
    snprintf(name, sizeof(name), "Checksum%s", lake_checksum_name(algo));
    snprintf(v, sizeof(v), "%.*s", (int)strcspn(value, "-"), value);
    s3__xml_elem(b, name, v);
}

/*
 * ObjectParts of a multipart object: the count, and the parts after the marker (at most
 * max) with their sizes and checksums. As S3 does, parts are listed only for an object
 * with a checksum; without one the count alone is given.
 */
static void object_parts(struct buf *b, const struct lake_object_info *info, long long marker,
                         long long max)
{
    json_t *sizes = info->part_sizes_json ? json_loads(info->part_sizes_json, 0, NULL) : NULL;
    json_t *sums =
        info->part_checksums_json ? json_loads(info->part_checksums_json, 0, NULL) : NULL;
    int listed = json_is_array(sums) && info->checksum_algo != LAKE_CHECKSUM_NONE;
    buf_puts(b, "<ObjectParts>");
    s3__xml_elem_int(b, "PartsCount", info->parts_count);
    s3__xml_elem_int(b, "PartNumberMarker", marker);
    long long n = info->parts_count;
    long long last = marker < n ? (marker + max < n ? marker + max : n) : marker;
    if (listed && last > marker) {
        s3__xml_elem_int(b, "NextPartNumberMarker", last);
    }
    s3__xml_elem_int(b, "MaxParts", max);
    s3__xml_elem(b, "IsTruncated", listed && last < n ? "true" : "false");
    for (long long pn = marker + 1; listed && pn <= last; pn++) {
        buf_puts(b, "<Part>");
        s3__xml_elem_int(b, "PartNumber", pn);
        s3__xml_elem_int(b, "Size", json_integer_value(json_array_get(sizes, (size_t)pn - 1)));
        const char *v = json_string_value(json_array_get(sums, (size_t)pn - 1));
        if (v != NULL && v[0] != '\0') {
            checksum_elem(b, info->checksum_algo, v);
        }
        buf_puts(b, "</Part>");
    }
    buf_puts(b, "</ObjectParts>");
    json_decref(sizes);
    json_decref(sums);
}

/* A paging header: S3 ignores a value that is not a number. */
static long long paging_header(struct s3_req *r, const char *name, long long dflt)
{
    long long v = s3__parse_uint(s3__header(r, name));
    return v < 0 ? dflt : v;
}

int s3__get_object_attributes(struct s3_req *r)
{
    int attrs = 0;
    int rc = parse_attributes(r, &attrs);
    struct s3_sse_key ck;
    struct lake_object_info info;
    memset(&info, 0, sizeof(info));
    struct lake_reader *rd = NULL;
    if (rc == 0) {
        rc = s3__sse_customer(r, 0, &ck);
    }
    if (rc == 0) {
        /* Opened as GetObject opens it: an SSE-C object needs its key here too. */
        rc = lake_reader_open_version(r->lake, r->bucket, r->key, s3__query(r, "versionId"),
                                      ck.given ? ck.key : NULL, &info, &rd, &r->call->err);
        explicit_bzero(&ck, sizeof(ck));
        lake_reader_close(rd);
        if (rc < 0 && info.delete_marker) {
            s3__version_headers(r, &info);
        }
    }
    if (rc < 0) {
        lake_object_info_fini(&info);
        return rc;
    }
    long long max = paging_header(r, "x-amz-max-parts", 1000);
    long long marker = paging_header(r, "x-amz-part-number-marker", 0);
    max = max > 1000 ? 1000 : max;
    s3__version_headers(r, &info);
    char date[32];
    clock_format_http(info.last_modified_ms, date);
    api_response_header(r->call->resp, "Last-Modified", date);
    struct buf b;
    buf_init(&b);
    s3__xml_open(&b, "GetObjectAttributesResponse");
    if (attrs & ATTR_ETAG) {
        s3__xml_elem(&b, "ETag", info.etag);
    }
    if ((attrs & ATTR_CHECKSUM) && info.checksum_algo != LAKE_CHECKSUM_NONE &&
        info.checksum[0] != '\0') {
        buf_puts(&b, "<Checksum>");
        checksum_elem(&b, info.checksum_algo, info.checksum);
        s3__xml_elem(&b, "ChecksumType",
                     lake_checksum_type_name(lake_checksum_type_of(info.checksum)));
        buf_puts(&b, "</Checksum>");
    }
    if ((attrs & ATTR_PARTS) && info.parts_count > 0) {
        object_parts(&b, &info, marker, max);
    }
    if (attrs & ATTR_STORAGE_CLASS) {
        char sc[32];
        s3__xml_elem(&b, "StorageClass", s3__storage_class(&info, sc));
    }
    if (attrs & ATTR_SIZE) {
        s3__xml_elem_int(&b, "ObjectSize", info.size_bytes);
    }
    buf_puts(&b, "</GetObjectAttributesResponse>");
    lake_object_info_fini(&info);
    return s3__respond_xml(r, &b);
}

/* ---- conditional deletes ---- */

/* An HTTP date or an ISO 8601 time, in seconds; -1 when neither. */
static int64_t parse_time_s(const char *s)
{
    static const char *const formats[] = {"%a, %d %b %Y %H:%M:%S GMT", "%Y-%m-%dT%H:%M:%S"};
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        if (strptime(s, formats[i], &tm) != NULL) {
            return (int64_t)timegm(&tm);
        }
    }
    return -1;
}

void s3__delete_cond(const char *if_match, const char *if_time, const char *if_size,
                     struct lake_delete_cond *out)
{
    /* A time or size that does not parse is given all the same: it matches nothing. */
    out->if_match = if_match;
    out->if_mtime_s = if_time == NULL ? LAKE_COND_NONE : parse_time_s(if_time);
    out->if_size = if_size == NULL ? LAKE_COND_NONE : s3__parse_uint(if_size);
}

/* ---- governance retention ---- */

int s3__bypass_governance(struct s3_req *r, const char *key)
{
    const char *h = s3__header(r, "x-amz-bypass-governance-retention");
    if (h == NULL || strcasecmp(h, "true") != 0) {
        return 0;
    }
    if (r->req->authorize == NULL || r->req->principal_kind == HTTP_PRINCIPAL_ROOT) {
        return 1;
    }
    /* The header takes effect only for a caller allowed s3:BypassGovernanceRetention on
       the object; for anyone else the retention holds (AccessDenied where it applies). */
    struct buf path;
    buf_init(&path);
    buf_puts(&path, "/");
    s3__url_encode(&path, r->bucket);
    buf_puts(&path, "/");
    s3__url_encode(&path, key);
    if (buf_status(&path) < 0) {
        buf_fini(&path);
        return 0;
    }
    struct api_request as = *r->req;
    as.path = (const char *)path.data;
    as.query = "";
    as.host = "";
    as.n_headers = 0;
    struct err_info err;
    err_clear(&err);
    int rc =
        r->req->authorize(r->req->auth_arg, &as, "s3", "BypassGovernanceRetention", NULL, &err);
    buf_fini(&path);
    return rc == 0;
}
