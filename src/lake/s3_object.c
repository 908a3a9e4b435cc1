/*
 * S3 object operations: request bodies in every payload mode, PutObject, GetObject and
 * HeadObject (Range, conditionals, response-* overrides), DeleteObject(s), CopyObject,
 * object tagging and the multipart upload calls.
 *
 * Request bodies in every payload mode are read by s3_body.c.
 * Checksums: x-amz-checksum-<algo> as a header, or named by x-amz-trailer and sent as
 * a trailer, is verified before the object becomes visible (BadDigest), kept, and
 * returned when the client asks (x-amz-checksum-mode: ENABLED); Content-MD5 likewise.
 */
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/base64.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/mem.h"
#include "core/text.h"
#include "lake/lake_int.h"
#include "lake/lake_restore.h"
#include "lake/s3_http.h"

#define MAX_OBJECT_BYTES ((int64_t)5 << 30)

/* ---- what a new object carries ---- */

struct put_ctx {
    struct lake_put_opts opts;
    char *meta_json; /* owned */
    char *tags_json; /* owned */
    uint8_t md5[MD5_LEN];
    char expected[LAKE_CHECKSUM_MAX]; /* from a header; trailers fill it after the body */
    char trailer_name[64];            /* "x-amz-checksum-crc32" when sent as a trailer */
};

static void put_ctx_fini(struct put_ctx *pc)
{
    free(pc->meta_json);
    free(pc->tags_json);
}

static const char *const stored_headers[] = {"Content-Encoding", "Content-Disposition",
                                             "Content-Language", "Cache-Control",
                                             "Expires",          "x-amz-website-redirect-location"};

/* Parses "k1=v1&k2=v2" (URL-encoded) into a JSON object text. */
static int tags_from_query_string(struct s3_req *r, const char *s, char **out)
{
    struct query_params qp;
    query_params_init(&qp);
    int rc = query_params_parse(&qp, s, strlen(s));
    if (rc == SL_E(NOMEM)) {
        query_params_fini(&qp);
        return s3__fail(r, rc, "We encountered an internal error. Please try again.");
    }
    json_t *tags = json_object();
    for (size_t i = 0; rc == 0 && i < qp.n; i++) {
        const char *k = qp.names[i], *v = qp.values[i];
        if (*k == '\0' || strlen(k) > 128 || strlen(v) > 256 || json_object_get(tags, k)) {
            rc = SL_E(VALIDATION);
        } else {
            json_object_set_new(tags, k, json_string(v));
        }
    }
    if (rc < 0) {
        rc = s3__fail(r, SL_E(INVALID_ARGUMENT_S3), "The TagKey you have provided is invalid");
    }
    if (rc == 0 && json_object_size(tags) > 10) {
        rc = s3__fail(r, SL_E(INVALID_ARGUMENT_S3), "Object tags cannot be greater than 10");
    }
    if (rc == 0 && json_object_size(tags) > 0) {
        *out = json_dumps(tags, JSON_COMPACT | JSON_SORT_KEYS);
    }
    json_decref(tags);
    query_params_fini(&qp);
    return rc;
}

/* Stored headers and user metadata of the request, as a JSON object text or NULL. */
static char *meta_from_headers(struct s3_req *r)
{
    json_t *meta = json_object();
    for (size_t i = 0; i < sizeof(stored_headers) / sizeof(stored_headers[0]); i++) {
        const char *v = s3__header(r, stored_headers[i]);
        if (v == NULL) {
            continue;
        }
        if (strcasecmp(stored_headers[i], "Content-Encoding") == 0) {
            /* aws-chunked is a transfer detail, not the object's encoding. */
            char *copy = xstrdup(v);
            struct buf kept;
            buf_init(&kept);
            for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok;
                 tok = strtok_r(NULL, ",", &save)) {
                while (*tok == ' ') {
                    tok++;
                }
                if (strcasecmp(tok, "aws-chunked") != 0 && *tok) {
                    buf_printf(&kept, "%s%s", kept.len ? "," : "", tok);
                }
            }
            if (kept.len > 0) {
                json_object_set_new(meta, stored_headers[i], json_string((char *)kept.data));
            }
            buf_fini(&kept);
            free(copy);
            continue;
        }
        json_object_set_new(meta, stored_headers[i], json_string(v));
    }
    for (size_t i = 0; i < r->req->n_headers; i++) {
        const char *name = r->req->headers[i].name;
        if (strncasecmp(name, "x-amz-meta-", 11) == 0) {
            char *lower = xstrdup(name);
            for (char *p = lower; *p; p++) {
                *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
            }
            json_object_set_new(meta, lower, json_string(r->req->headers[i].value));
            free(lower);
        }
    }
    char *out = json_object_size(meta) ? json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(meta);
    return out;
}

/*
 * Fills pc from the request headers: content type, stored headers, tags, Content-MD5
 * and the checksum (algorithm, and its expected value when sent as a header).
 * default_algo applies when the request names none (a multipart upload's algorithm).
 */
static int put_ctx_from_headers(struct s3_req *r, struct put_ctx *pc,
                                enum lake_checksum_algo default_algo)
{
    memset(pc, 0, sizeof(*pc));
    pc->opts.content_type = s3__header(r, "Content-Type");
    pc->meta_json = meta_from_headers(r);
    pc->opts.meta_json = pc->meta_json;
    const char *tagging = s3__header(r, "x-amz-tagging");
    int rc = 0;
    if (tagging != NULL) {
        rc = tags_from_query_string(r, tagging, &pc->tags_json);
        if (rc < 0) {
            return rc;
        }
        pc->opts.tags_json = pc->tags_json;
    }
    rc = s3__content_md5(r, pc->md5);
    if (rc < 0) {
        return rc;
    }
    if (rc == 1) {
        pc->opts.content_md5 = pc->md5;
    }
    pc->opts.checksum_algo = default_algo;
    for (int a = LAKE_CHECKSUM_CRC32; a <= LAKE_CHECKSUM_SHA256; a++) {
        char name[64];
        snprintf(name, sizeof(name), "x-amz-checksum-%s", lake_checksum_name(a));
        const char *v = s3__header(r, name);
        if (v == NULL) {
            continue;
        }
        uint8_t raw[64];
        size_t len = strlen(v);
        if (len > 60 || base64_decode(v, len, raw) != (long)lake__checksum_len(a)) {
            return s3__fail(r, SL_E(INVALID_REQUEST), "Value for %s header is invalid.", name);
        }
        pc->opts.checksum_algo = a;
        snprintf(pc->expected, sizeof(pc->expected), "%s", v);
        pc->opts.checksum_expected = pc->expected;
        return 0;
    }
    const char *trailer = s3__header(r, "x-amz-trailer");
    if (trailer != NULL && strncasecmp(trailer, "x-amz-checksum-", 15) == 0) {
        enum lake_checksum_algo a = lake_checksum_from_name(trailer + 15);
        if (a == LAKE_CHECKSUM_NONE) {
            return s3__fail(r, SL_E(INVALID_REQUEST),
                            "The value specified in the x-amz-trailer "
                            "header is not supported");
        }
        pc->opts.checksum_algo = a;
        snprintf(pc->trailer_name, sizeof(pc->trailer_name), "%s", trailer);
        return 0;
    }
    const char *algo = s3__header(r, "x-amz-sdk-checksum-algorithm");
    if (algo == NULL) {
        algo = s3__header(r, "x-amz-checksum-algorithm");
    }
    if (algo != NULL) {
        enum lake_checksum_algo a = lake_checksum_from_name(algo);
        if (a == LAKE_CHECKSUM_NONE) {
            return s3__fail(r, SL_E(INVALID_REQUEST),
                            "Checksum algorithm provided is "
                            "unsupported.");
        }
        pc->opts.checksum_algo = a;
    }
    return 0;
}

/* After the body: takes the checksum sent as a trailer as the expected value. */
static int put_ctx_trailer(struct s3_req *r, struct put_ctx *pc, const struct s3_chunked *c)
{
    if (pc->trailer_name[0] == '\0') {
        return 0;
    }
    const char *v = s3__chunked_trailer(c, pc->trailer_name);
    if (v == NULL) {
        return s3__fail(r, SL_E(INVALID_REQUEST), "The %s trailer is missing.", pc->trailer_name);
    }
    snprintf(pc->expected, sizeof(pc->expected), "%s", v);
    pc->opts.checksum_expected = pc->expected;
    return 0;
}

struct writer_sink {
    struct lake_writer *w;
    int64_t max_bytes;
};

/* The write's x-amz-storage-class into the stored headers (s3_restore.c). */
static int put_ctx_class(struct s3_req *r, struct put_ctx *pc)
{
    int rc = s3__storage_class_apply(r, s3__header(r, "x-amz-storage-class"), &pc->meta_json);
    pc->opts.meta_json = pc->meta_json;
    return rc;
}

static int writer_sink_fn(void *arg, const uint8_t *data, size_t len)
{
    struct writer_sink *s = arg;
    if (lake_writer_size(s->w) + (int64_t)len > s->max_bytes) {
        return SL_E(ENTITY_TOO_LARGE);
    }
    return lake_writer_write(s->w, data, len);
}

static int sha_observe(void *arg, const uint8_t *data, size_t len)
{
    crypto_digest_update(arg, data, len);
    return 0;
}

/*
 * A spooled body sent as is (UNSIGNED-PAYLOAD or a hex hash) becomes the writer's
 * content by adoption: the spool file is linked into place rather than copied. Returns
 * 1 when done, 0 when the body needs the streaming path, or an error.
 */
static int body_adopt(struct s3_req *r, struct lake_writer *w)
{
    enum s3_payload_kind kind = PAYLOAD_UNSIGNED;
    if (r->req->body_fd < 0 || s3__payload_kind(r, &kind) < 0 ||
        (kind != PAYLOAD_UNSIGNED && kind != PAYLOAD_HEX)) {
        return 0;
    }
    struct crypto_digest *sha = kind == PAYLOAD_HEX ? crypto_digest_create(CRYPTO_SHA256) : NULL;
    int rc = lake_writer_adopt_fd(w, r->req->body_fd, (int64_t)r->req->body_len,
                                  sha ? sha_observe : NULL, sha);
    if (rc < 0) {
        s3__fail(r, rc, "We encountered an internal error. Please try again.");
    }
    if (sha != NULL) {
        uint8_t d[SHA256_LEN];
        char hex[2 * SHA256_LEN + 1];
        crypto_digest_final(sha, d);
        crypto_digest_destroy(sha);
        hex_encode(d, SHA256_LEN, hex);
        if (rc == 0 && strcasecmp(hex, s3__header(r, "x-amz-content-sha256")) != 0) {
            rc = s3__fail(r, SL_E(CONTENT_SHA256_MISMATCH),
                          "The provided 'x-amz-content-sha256' header does not match what was "
                          "computed.");
        }
    }
    return rc < 0 ? rc : 1;
}

/* Streams the request body into a new writer (caller destroys it). */
static int body_to_writer(struct s3_req *r, struct put_ctx *pc, int64_t max_bytes, const char *sse,
                          const struct s3_sse_key *ck, struct lake_writer **w_out)
{
    struct lake_writer *w = NULL;
    int rc = lake_writer_open(r->lake, pc->opts.checksum_algo, &w);
    if (rc < 0) {
        return s3__fail(r, rc, "We encountered an internal error. Please try again.");
    }
    *w_out = w;
    if ((sse != NULL || ck->given) &&
        (rc = lake_writer_encrypt(w, sse, ck->given ? ck->key : NULL, &r->call->err)) < 0) {
        return rc;
    }
    if (r->req->body_fd >= 0 && (int64_t)r->req->body_len > max_bytes) {
        return s3__fail(r, SL_E(ENTITY_TOO_LARGE),
                        "Your proposed upload exceeds the maximum allowed size");
    }
    rc = body_adopt(r, w);
    if (rc != 0) {
        return rc < 0 ? rc : 0;
    }
    struct writer_sink s = {.w = w, .max_bytes = max_bytes};
    struct s3_chunked c;
    memset(&c, 0, sizeof(c));
    rc = s3__body_read(r, writer_sink_fn, &s, &c);
    if (rc == SL_E(ENTITY_TOO_LARGE)) {
        err_clear(&r->call->err);
        rc = s3__fail(r, rc, "Your proposed upload exceeds the maximum allowed size");
    }
    if (rc == 0) {
        rc = put_ctx_trailer(r, pc, &c);
    }
    s3__chunked_fini(&c);
    return rc;
}

static void checksum_header(struct s3_req *r, enum lake_checksum_algo algo, const char *value)
{
    if (algo == LAKE_CHECKSUM_NONE || value == NULL || value[0] == '\0') {
        return;
    }
    char name[64];
    snprintf(name, sizeof(name), "x-amz-checksum-%s", lake_checksum_name(algo));
    for (char *p = name; *p; p++) {
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    }
    api_response_header(r->call->resp, name, value);
}

static void etag_header(struct s3_req *r, const char *etag)
{
    char q[LAKE_ETAG_MAX + 2];
    snprintf(q, sizeof(q), "\"%s\"", etag);
    api_response_header(r->call->resp, "ETag", q);
}

static int put_object(struct s3_req *r)
{
    int rc = lake_bucket_get(r->lake, r->bucket, NULL, &r->call->err);
    if (rc < 0) {
        return rc;
    }
    struct put_ctx pc;
    struct lake_writer *w = NULL;
    struct s3_sse_key ck;
    char *sse = NULL;
    rc = put_ctx_from_headers(r, &pc, LAKE_CHECKSUM_NONE);
    if (rc == 0) {
        rc = put_ctx_class(r, &pc);
    }
    if (rc == 0 && (rc = s3__sse_customer(r, 0, &ck)) == 0) {
        rc = s3__sse_write(r, &ck, &sse);
    }
    if (rc == 0) {
        rc = s3__write_opts(r, &pc.opts, 2);
    }
    if (rc == 0) {
        rc = body_to_writer(r, &pc, MAX_OBJECT_BYTES, sse, &ck, &w);
    }
    struct lake_object_info info;
    memset(&info, 0, sizeof(info));
    if (rc == 0) {
        rc = lake_writer_commit(w, r->bucket, r->key, &pc.opts, &info, &r->call->err);
    }
    if (rc == 0) {
        s3__version_headers(r, &info);
        etag_header(r, info.etag);
        checksum_header(r, info.checksum_algo, info.checksum);
        s3__checksum_type_header(r, info.checksum_algo, info.checksum);
        s3__sse_headers(r, info.sse);
        lake_object_info_fini(&info);
    }
    explicit_bzero(&ck, sizeof(ck));
    free(sse);
    lake_writer_destroy(w);
    put_ctx_fini(&pc);
    return rc;
}

/* ---- reads ---- */

/* Parses an HTTP date (RFC 1123, RFC 850 or asctime) into seconds; -1 when invalid. */
static int64_t parse_http_date(const char *s)
{
    static const char *const formats[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                                          "%a %b %d %H:%M:%S %Y", "%Y-%m-%dT%H:%M:%S"};
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        const char *end = strptime(s, formats[i], &tm);
        if (end != NULL) {
            return (int64_t)timegm(&tm);
        }
    }
    return -1;
}

/* 1 when etag matches one of the (quoted or not) ETags in list, or list is "*". */
static int etag_matches(const char *list, const char *etag)
{
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',') {
            p++;
        }
        size_t len = strcspn(p, ",");
        size_t end = len;
        while (end > 0 && p[end - 1] == ' ') {
            end--;
        }
        const char *t = p;
        if (end >= 2 && t[0] == 'W' && t[1] == '/') {
            t += 2;
            end -= 2;
        }
        if (end >= 2 && t[0] == '"' && t[end - 1] == '"') {
            t++;
            end -= 2;
        }
        if ((end == 1 && t[0] == '*') || (end == strlen(etag) && memcmp(t, etag, end) == 0)) {
            return 1;
        }
        p += len;
    }
    return 0;
}

/*
 * Evaluates If-Match/If-None-Match/If-Modified-Since/If-Unmodified-Since (prefix "" )
 * or their x-amz-copy-source-if- forms (copy: every failure is 412). Returns 0, 304 for
 * "not modified", or SL_E(PRECONDITION_FAILED) with the error set.
 */
static int check_conditions(struct s3_req *r, const struct lake_object_info *info, int copy)
{
    char name[64];
    const char *pre = copy ? "x-amz-copy-source-if-" : "If-";
    snprintf(name, sizeof(name), "%smatch", pre);
    const char *if_match = s3__header(r, name);
    snprintf(name, sizeof(name), "%snone-match", pre);
    const char *if_none = s3__header(r, name);
    snprintf(name, sizeof(name), "%smodified-since", pre);
    const char *if_mod = s3__header(r, name);
    snprintf(name, sizeof(name), "%sunmodified-since", pre);
    const char *if_unmod = s3__header(r, name);
    int64_t lm_s = info->last_modified_ms / 1000;
    if (if_match != NULL && !etag_matches(if_match, info->etag)) {
        return s3__fail(r, SL_E(PRECONDITION_FAILED),
                        "At least one of the pre-conditions you specified did not hold");
    }
    if (if_match == NULL && if_unmod != NULL) {
        int64_t t = parse_http_date(if_unmod);
        if (t >= 0 && lm_s > t) {
            return s3__fail(r, SL_E(PRECONDITION_FAILED),
                            "At least one of the pre-conditions you specified did not hold");
        }
    }
    int not_modified = 0;
    if (if_none != NULL && etag_matches(if_none, info->etag)) {
        not_modified = 1;
    }
    if (if_none == NULL && if_mod != NULL) {
        int64_t t = parse_http_date(if_mod);
        if (t >= 0 && lm_s <= t) {
            not_modified = 1;
        }
    }
    if (not_modified) {
        if (copy) {
            return s3__fail(r, SL_E(PRECONDITION_FAILED),
                            "At least one of the pre-conditions you specified did not hold");
        }
        return 304;
    }
    return 0;
}

/*
 * One byte-range-spec of RFC 9110 section 14.1.1, without the "bytes=" unit:
 *
 *   int-range    = first-pos "-" [ last-pos ]      first-pos, last-pos = 1*DIGIT
 *   suffix-range = "-" suffix-length               suffix-length = 1*DIGIT
 *
 * Nothing else is allowed: no sign, no space, no second range. A number of any length is
 * valid syntax; a value past INT64_MAX is read as INT64_MAX, which is beyond every
 * object, so it keeps its meaning ("past the end") without overflowing. Returns 1 with
 * *first (-1 for a suffix range) and *last (-1 when absent; the suffix length for a
 * suffix range) set, or 0 when spec is not one byte-range-spec or last-pos < first-pos
 * (RFC 9110: such a range-spec is invalid).
 */
static int byte_range_spec(const char *spec, int64_t *first, int64_t *last)
{
    int64_t v[2] = {-1, -1};
    const char *p = spec;
    for (int i = 0; i < 2; i++) {
        if (i == 1) {
            if (*p != '-') {
                return 0;
            }
            p++;
        }
        if (*p < '0' || *p > '9') {
            continue; /* an absent number: checked below */
        }
        v[i] = 0;
        for (; *p >= '0' && *p <= '9'; p++) {
            int d = *p - '0';
            v[i] = v[i] > (INT64_MAX - d) / 10 ? INT64_MAX : v[i] * 10 + d;
        }
    }
    if (*p != '\0' || (v[0] < 0 && v[1] < 0) || (v[0] >= 0 && v[1] >= 0 && v[1] < v[0])) {
        return 0;
    }
    *first = v[0];
    *last = v[1];
    return 1;
}

/*
 * The Range header of a GET or HEAD against an object of size bytes. As S3 does, a
 * header that is not exactly "bytes=" and one byte-range-spec (other units, several
 * ranges, bad syntax, last < first) is ignored: the whole object is sent with 200. A
 * valid range-spec that selects nothing (first-pos at or past the end, a zero suffix,
 * any range of an empty object) is SL_E(INVALID_RANGE) (416). Returns 1 with *off and
 * *len set, 0 for the whole object, or SL_E(INVALID_RANGE).
 */
static int parse_range(struct s3_req *r, const char *h, int64_t size, int64_t *off, int64_t *len)
{
    int64_t first = -1;
    int64_t last = -1;
    if (h == NULL || strncasecmp(h, "bytes=", 6) != 0 || !byte_range_spec(h + 6, &first, &last)) {
        return 0;
    }
    if (first < 0) {
        /* suffix: the last `last` bytes */
        if (last == 0 || size == 0) {
            goto unsatisfiable;
        }
        *len = last > size ? size : last;
        *off = size - *len;
        return 1;
    }
    if (first >= size) {
        goto unsatisfiable;
    }
    int64_t end = (last < 0 || last >= size) ? size - 1 : last;
    *off = first;
    *len = end - first + 1;
    return 1;
unsatisfiable:
    return s3__fail(r, SL_E(INVALID_RANGE), "The requested range is not satisfiable");
}

/*
 * The byte range of part number part_s of a multipart object (1 for a single-part
 * object is the whole object). Returns 1 with *off and *len set, 0 for the whole object,
 * or SL_E(INVALID_ARGUMENT_S3)/SL_E(INVALID_PART_NUMBER).
 */
static int part_range(struct s3_req *r, const struct lake_object_info *info, const char *part_s,
                      int64_t *off, int64_t *len)
{
    long long pn = s3__parse_uint(part_s);
    if (pn < 1 || pn > LAKE_PART_NUMBER_MAX) {
        return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                        "Part number must be an integer between 1 and 10000, inclusive");
    }
    json_t *sizes = info->part_sizes_json ? json_loads(info->part_sizes_json, 0, NULL) : NULL;
    int rc = 0;
    if (!json_is_array(sizes)) {
        rc = pn == 1 ? 0
                     : s3__fail(r, SL_E(INVALID_PART_NUMBER),
                                "The requested partnumber is not satisfiable");
    } else if ((size_t)pn > json_array_size(sizes)) {
        rc = s3__fail(r, SL_E(INVALID_PART_NUMBER), "The requested partnumber is not satisfiable");
    } else {
        int64_t start = 0;
        for (size_t i = 0; i + 1 < (size_t)pn; i++) {
            start += json_integer_value(json_array_get(sizes, i));
        }
        *off = start;
        *len = json_integer_value(json_array_get(sizes, (size_t)pn - 1));
        rc = *len > 0 ? 1 : 0;
    }
    json_decref(sizes);
    return rc;
}

/*
 * Adds the object's stored headers and the response-* overrides. whole is 1 when the
 * response carries the whole object: only then is the object's checksum sent (when the
 * client asks with x-amz-checksum-mode: ENABLED). A range or a part of a multipart
 * object is a slice whose checksum Sluice does not have; S3 sends none for a range
 * either, and a client (boto3 since 1.36 asks by default) would otherwise check the
 * slice against the whole object's checksum and reject it.
 */
static void object_headers(struct s3_req *r, const struct lake_object_info *info, int whole)
{
    struct api_response *resp = r->call->resp;
    const char *ct = s3__query(r, "response-content-type");
    api_response_header(resp, "Content-Type",
                        ct                   ? ct
                        : info->content_type ? info->content_type
                                             : "binary/octet-stream");
    etag_header(r, info->etag);
    s3__sse_headers(r, info->sse);
    char date[32];
    clock_format_http(info->last_modified_ms, date);
    api_response_header(resp, "Last-Modified", date);
    api_response_header(resp, "Accept-Ranges", "bytes");
    static const struct {
        const char *header;
        const char *param;
    } overrides[] = {{"Content-Encoding", "response-content-encoding"},
                     {"Content-Disposition", "response-content-disposition"},
                     {"Content-Language", "response-content-language"},
                     {"Cache-Control", "response-cache-control"},
                     {"Expires", "response-expires"}};
    json_t *meta = info->meta_json ? json_loads(info->meta_json, 0, NULL) : NULL;
    for (size_t i = 0; i < sizeof(overrides) / sizeof(overrides[0]); i++) {
        const char *v = s3__query(r, overrides[i].param);
        if (v == NULL) {
            v = json_string_value(json_object_get(meta, overrides[i].header));
        }
        if (v != NULL) {
            api_response_header(resp, overrides[i].header, v);
        }
    }
    const char *k;
    json_t *v;
    json_object_foreach(meta, k, v)
    {
        if (strncmp(k, "x-amz-", 6) == 0) {
            api_response_header(resp, k, json_string_value(v));
        }
    }
    json_decref(meta);
    const char *mode = s3__header(r, "x-amz-checksum-mode");
    if (whole && mode != NULL && strcasecmp(mode, "ENABLED") == 0) {
        checksum_header(r, info->checksum_algo, info->checksum);
        s3__checksum_type_header(r, info->checksum_algo, info->checksum);
    }
    if (info->n_tags > 0) {
        char n[16];
        snprintf(n, sizeof(n), "%d", info->n_tags);
        api_response_header(resp, "x-amz-tagging-count", n);
    }
    if (info->parts_count > 0 && s3__query(r, "partNumber") != NULL) {
        char n[16];
        snprintf(n, sizeof(n), "%d", info->parts_count);
        api_response_header(resp, "x-amz-mp-parts-count", n);
    }
}

/* Whole encrypted objects larger than this are streamed rather than decrypted into a
   memfd first; ranges (206) always go through the memfd (the engine streams 200s only). */
#define GET_STREAM_MIN_BYTES ((int64_t)32 << 20)
#define GET_STREAM_PIECE ((int64_t)1 << 20)
/* Encrypted ranges up to this size are decrypted into the response's memory body. */
#define GET_MEMORY_MAX_BYTES ((int64_t)8 << 20)

struct get_stream {
    struct api_stream_body body; /* body.arg is this */
    struct lake_reader *rd;
    int64_t off;  /* next plaintext byte to send */
    int64_t left; /* bytes still to send */
};

static int buf_sink(void *arg, const uint8_t *data, size_t len)
{
    return buf_append(arg, data, len) < 0 ? SL_E(NOMEM) : 0;
}

static int get_stream_next(void *arg, struct buf *out, int timeout_ms)
{
    (void)timeout_ms;
    struct get_stream *g = arg;
    int64_t n = g->left < GET_STREAM_PIECE ? g->left : GET_STREAM_PIECE;
    int rc = lake_reader_range(g->rd, g->off, n, buf_sink, out);
    if (rc < 0) {
        return rc; /* the client sees the body cut short, as S3 does on a failed read */
    }
    g->off += n;
    g->left -= n;
    return g->left > 0 ? 1 : 0;
}

static void get_stream_close(void *arg)
{
    struct get_stream *g = arg;
    lake_reader_close(g->rd);
    free(g);
}

static int get_object(struct s3_req *r, int head)
{
    struct lake_object_info info;
    struct s3_sse_key ck;
    struct lake_reader *rd = NULL;
    memset(&info, 0, sizeof(info));
    int rc = s3__sse_customer(r, 0, &ck);
    if (rc == 0) {
        rc = lake_reader_open_version(r->lake, r->bucket, r->key, s3__query(r, "versionId"),
                                      ck.given ? ck.key : NULL, &info, &rd, &r->call->err);
    }
    if (rc == 0 && !head && (rc = s3__sse_kms_allowed(r, info.sse, "kms:Decrypt")) < 0) {
        lake_reader_close(rd); /* HEAD decrypts nothing: it needs no KMS permission */
    }
    explicit_bzero(&ck, sizeof(ck));
    if (rc < 0) {
        if (info.delete_marker) {
            s3__version_headers(r, &info); /* S3 names the marker in its 404 or 405 */
        }
        lake_object_info_fini(&info);
        return rc;
    }
    struct api_response *resp = r->call->resp;
    s3__version_headers(r, &info);
    s3__restore_header(r, &info);
    rc = head ? 0 : s3__archive_check(r, &info, 0);
    if (rc < 0) {
        lake_reader_close(rd);
        lake_object_info_fini(&info);
        return rc;
    }
    rc = check_conditions(r, &info, 0);
    if (rc == 304) {
        resp->status = 304;
        etag_header(r, info.etag);
        char date[32];
        clock_format_http(info.last_modified_ms, date);
        api_response_header(resp, "Last-Modified", date);
        lake_reader_close(rd);
        lake_object_info_fini(&info);
        return 0;
    }
    int64_t off = 0;
    int64_t len = info.size_bytes;
    if (rc == 0) {
        rc = parse_range(r, s3__header(r, "Range"), info.size_bytes, &off, &len);
    }
    const char *part = s3__query(r, "partNumber");
    if (rc == 0 && part != NULL) {
        rc = part_range(r, &info, part, &off, &len);
    }
    if (rc < 0) {
        lake_reader_close(rd);
        lake_object_info_fini(&info);
        return rc;
    }
    /* The body: the file itself when stored plain, else the range decrypted. HEAD and
       empty bodies read nothing. */
    int fd = -1;
    int64_t fd_off = 0;
    int ranged = rc;
    if (!head && rc == 0 && info.sse != NULL && len > GET_STREAM_MIN_BYTES) {
        /* A large whole object is decrypted as it is sent, not held in memory. */
        object_headers(r, &info, 1);
        struct get_stream *g = xcalloc(1, sizeof(*g));
        g->rd = rd;
        g->left = len;
        g->body = (struct api_stream_body){
            .next = get_stream_next, .close = get_stream_close, .arg = g, .length = len};
        resp->status = 200;
        resp->stream = &g->body;
        lake_object_info_fini(&info);
        return 0;
    }
    if (!head && info.sse != NULL && len > 0 && len <= GET_MEMORY_MAX_BYTES) {
        /* Small enough to decrypt into the response itself: no memfd to set up. */
        rc = buf_reserve(&resp->body, (size_t)len) == NULL
                 ? SL_E(NOMEM)
                 : lake_reader_range(rd, off, len, buf_sink, &resp->body);
        fd = -2;
    } else if (!head && len > 0) {
        rc = lake_reader_fd(rd, off, len, &fd, &fd_off);
    } else {
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        rc = fd < 0 ? SL_E(IO) : 0;
    }
    lake_reader_close(rd);
    if (rc < 0) {
        buf_reset(&resp->body); /* the error document replaces what was decrypted */
        lake_object_info_fini(&info);
        return s3__fail(r, rc == SL_E(NOMEM) ? rc : SL_E(IO),
                        "We encountered an internal error. Please try again.");
    }
    rc = ranged;
    object_headers(r, &info, rc != 1);
    s3__lock_headers(r, &info);
    if (rc == 1) {
        resp->status = 206;
        char cr[96];
        snprintf(cr, sizeof(cr), "bytes %lld-%lld/%lld", (long long)off, (long long)(off + len - 1),
                 (long long)info.size_bytes);
        api_response_header(resp, "Content-Range", cr);
    }
    if (fd != -2) {
        resp->body_fd = fd;
        resp->body_offset = (off_t)fd_off;
        resp->body_fd_len = (size_t)len;
    }
    resp->head_only = head;
    lake_object_info_fini(&info);
    return 0;
}

static int delete_object(struct s3_req *r)
{
    struct lake_delete_result res;
    struct lake_delete_cond cond;
    s3__delete_cond(s3__header(r, "If-Match"), s3__header(r, "x-amz-if-match-last-modified-time"),
                    s3__header(r, "x-amz-if-match-size"), &cond);
    int rc = lake_version_delete_if(r->lake, r->bucket, r->key, s3__query(r, "versionId"),
                                    s3__bypass_governance(r, r->key), &cond, &res, &r->call->err);
    if (rc == 0) {
        r->call->resp->status = 204;
        if (res.delete_marker) {
            api_response_header(r->call->resp, "x-amz-delete-marker", "true");
        }
        if (res.versioned || s3__query(r, "versionId") != NULL) {
            api_response_header(r->call->resp, "x-amz-version-id", res.version_id);
        }
    }
    return rc;
}

/* ---- copies ---- */

/* Splits x-amz-copy-source ("[/]bucket/key[?versionId=...]", URL-encoded). */
static int copy_source(struct s3_req *r, char **bucket, char **key, char **version)
{
    *bucket = NULL;
    *key = NULL;
    *version = NULL;
    const char *h = s3__header(r, "x-amz-copy-source");
    size_t len = strcspn(h, "?");
    if (h[len] == '?' && strncmp(h + len + 1, "versionId=", 10) == 0) {
        *version = xstrdup(h + len + 11);
        if (!lake_version_id_valid(*version)) {
            return s3__fail(r, SL_E(INVALID_ARGUMENT_S3), "Invalid version id specified");
        }
    }
    char *src = NULL;
    int rc = s3__path_decode(h, len, &src);
    if (rc == SL_E(NOMEM)) {
        return s3__fail(r, rc, "We encountered an internal error. Please try again.");
    }
    const char *p = src == NULL ? "" : src[0] == '/' ? src + 1 : src;
    const char *slash = strchr(p, '/');
    if (rc < 0 || slash == NULL || slash == p || slash[1] == '\0') {
        free(src);
        return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                        "Copy Source must mention the source "
                        "bucket and key: sourcebucket/sourcekey");
    }
    *bucket = xstrndup(p, (size_t)(slash - p));
    *key = xstrdup(slash + 1);
    free(src);
    return 0;
}

/*
 * Opens the copy source (the version x-amz-copy-source names, else the current one) and
 * checks the x-amz-copy-source-if-* conditions. A versioned source is named in
 * x-amz-copy-source-version-id.
 */
static int open_source(struct s3_req *r, char **sb, char **sk, struct lake_object_info *info,
                       struct lake_reader **rd)
{
    *rd = NULL;
    char *version = NULL;
    struct s3_sse_key ck;
    memset(info, 0, sizeof(*info));
    int rc = copy_source(r, sb, sk, &version);
    if (rc == 0) {
        rc = s3__sse_customer(r, 1, &ck);
    }
    if (rc == 0) {
        rc = lake_reader_open_version(r->lake, *sb, *sk, version, ck.given ? ck.key : NULL, info,
                                      rd, &r->call->err);
        explicit_bzero(&ck, sizeof(ck));
        if (rc == SL_E(METHOD_NOT_ALLOWED)) {
            /* A delete marker cannot be copied: S3 answers 400 InvalidRequest. */
            rc = s3__fail(r, SL_E(INVALID_REQUEST),
                          "The source of a copy request may not specifically refer to a delete "
                          "marker by version id.");
        }
        if (rc < 0) {
            lake_object_info_fini(info);
        } else if (info->versioned) {
            api_response_header(r->call->resp, "x-amz-copy-source-version-id",
                                info->version_id[0] ? info->version_id : "null");
        }
    }
    free(version);
    if (rc == 0 && (rc = s3__sse_kms_allowed(r, info->sse, "kms:Decrypt")) < 0) {
        lake_reader_close(*rd);
        *rd = NULL;
        lake_object_info_fini(info);
    }
    if (rc == 0) {
        rc = check_conditions(r, info, 1);
        if (rc == 0) {
            rc = s3__archive_check(r, info, 1); /* an archived source must be restored first */
        }
        if (rc < 0) {
            lake_reader_close(*rd);
            *rd = NULL;
            lake_object_info_fini(info);
        }
    }
    return rc;
}

static int writer_write_sink(void *arg, const uint8_t *data, size_t len)
{
    return lake_writer_write(arg, data, len);
}

static int copy_object(struct s3_req *r)
{
    char *sb = NULL;
    char *sk = NULL;
    struct lake_object_info src;
    memset(&src, 0, sizeof(src));
    struct lake_reader *rd = NULL;
    struct put_ctx pc;
    memset(&pc, 0, sizeof(pc));
    struct lake_writer *w = NULL;
    char *src_tags = NULL;
    struct s3_sse_key ck;
    char *sse = NULL;
    int rc = lake_bucket_get(r->lake, r->bucket, NULL, &r->call->err);
    if (rc == 0 && (rc = s3__sse_customer(r, 0, &ck)) == 0) {
        rc = s3__sse_write(r, &ck, &sse);
    }
    if (rc == 0) {
        rc = open_source(r, &sb, &sk, &src, &rd);
    }
    if (rc < 0) {
        goto out;
    }
    const char *directive = s3__header(r, "x-amz-metadata-directive");
    int replace = directive != NULL && strcasecmp(directive, "REPLACE") == 0;
    if (directive != NULL && !replace && strcasecmp(directive, "COPY") != 0) {
        rc = s3__fail(r, SL_E(INVALID_ARGUMENT_S3), "Unknown metadata directive.");
        goto out;
    }
    const char *src_h = s3__header(r, "x-amz-copy-source");
    const char *src_version = strstr(src_h, "?versionId=");
    src_version = src_version ? src_version + 11 : NULL;
    /* Copying a version onto its own key is how a version is restored: allowed. */
    if (!replace && src_version == NULL && strcmp(sb, r->bucket) == 0 && strcmp(sk, r->key) == 0 &&
        s3__header(r, "x-amz-storage-class") == NULL &&
        s3__header(r, "x-amz-checksum-algorithm") == NULL &&
        s3__header(r, "x-amz-server-side-encryption") == NULL && !ck.given) {
        rc = s3__fail(r, SL_E(INVALID_REQUEST),
                      "This copy request is illegal because it is trying to copy an object to "
                      "itself without changing the object's metadata, storage class, website "
                      "redirect location or encryption attributes.");
        goto out;
    }
    rc = put_ctx_from_headers(r, &pc, LAKE_CHECKSUM_NONE);
    if (rc == 0) {
        rc = s3__write_opts(r, &pc.opts, 1);
    }
    if (rc < 0) {
        goto out;
    }
    pc.opts.content_md5 = NULL;
    pc.opts.checksum_expected = NULL;
    if (!replace) {
        pc.opts.content_type = src.content_type;
        free(pc.meta_json); /* a copy starts in STANDARD, as S3's do */
        pc.meta_json = s3__meta_without_class(src.meta_json);
        pc.opts.meta_json = pc.meta_json;
    }
    if ((rc = put_ctx_class(r, &pc)) < 0) {
        goto out;
    }
    const char *tag_directive = s3__header(r, "x-amz-tagging-directive");
    if (tag_directive == NULL || strcasecmp(tag_directive, "REPLACE") != 0) {
        rc = lake_version_tags_get(r->lake, sb, sk, src_version, &src_tags, &r->call->err);
        if (rc < 0) {
            goto out;
        }
        pc.opts.tags_json = src_tags;
    }
    const char *algo = s3__header(r, "x-amz-checksum-algorithm");
    pc.opts.checksum_algo = algo ? lake_checksum_from_name(algo) : src.checksum_algo;
    rc = lake_writer_open(r->lake, pc.opts.checksum_algo, &w);
    if (rc < 0) {
        s3__fail(r, rc, "We encountered an internal error. Please try again.");
        goto out;
    }
    if ((sse != NULL || ck.given) &&
        (rc = lake_writer_encrypt(w, sse, ck.given ? ck.key : NULL, &r->call->err)) < 0) {
        goto out;
    }
    rc = lake_reader_range(rd, 0, src.size_bytes, writer_write_sink, w);
    if (rc < 0) {
        s3__fail(r, rc, "We encountered an internal error. Please try again.");
        goto out;
    }
    struct lake_object_info info;
    rc = lake_writer_commit(w, r->bucket, r->key, &pc.opts, &info, &r->call->err);
    if (rc == 0) {
        s3__version_headers(r, &info);
        struct buf b;
        buf_init(&b);
        s3__xml_open(&b, "CopyObjectResult");
        s3__xml_elem_time(&b, "LastModified", info.last_modified_ms);
        s3__xml_etag(&b, info.etag);
        if (info.checksum_algo != LAKE_CHECKSUM_NONE) {
            char name[32];
            snprintf(name, sizeof(name), "Checksum%s", lake_checksum_name(info.checksum_algo));
            s3__xml_elem(&b, name, info.checksum);
            s3__xml_elem(&b, "ChecksumType", "FULL_OBJECT"); /* computed over the copy */
        }
        buf_puts(&b, "</CopyObjectResult>");
        s3__sse_headers(r, info.sse);
        lake_object_info_fini(&info);
        rc = s3__respond_xml(r, &b);
    }
out:
    explicit_bzero(&ck, sizeof(ck));
    free(sse);
    lake_reader_close(rd);
    lake_writer_destroy(w);
    lake_object_info_fini(&src);
    put_ctx_fini(&pc);
    free(src_tags);
    free(sb);
    free(sk);
    return rc;
}

/* ---- multipart ---- */

static int create_upload(struct s3_req *r, const char *acl)
{
    struct put_ctx pc;
    struct s3_sse_key ck;
    int rc = put_ctx_from_headers(r, &pc, LAKE_CHECKSUM_NONE);
    char *sse = NULL;
    if (rc == 0) {
        rc = put_ctx_class(r, &pc);
    }
    if (rc == 0 && (rc = s3__sse_customer(r, 0, &ck)) == 0) {
        rc = s3__sse_write(r, &ck, &sse);
    }
    struct lake_upload_info up;
    if (rc == 0) {
        rc = s3__lock_opts(r, &pc.opts);
    }
    if (rc == 0) {
        rc = s3__upload_checksum_type(r, &pc.opts);
    }
    if (rc == 0) {
        /* The parts are encrypted under one data key, kept with the upload. */
        if (sse == NULL) {
            sse = lake_sse_new(r->lake, ck.given ? ck.key : NULL);
        }
        pc.opts.sse = sse;
        pc.opts.acl = acl;
        rc = lake_upload_create(r->lake, r->bucket, r->key, &pc.opts, &up, &r->call->err);
    }
    explicit_bzero(&ck, sizeof(ck));
    put_ctx_fini(&pc);
    free(sse);
    if (rc < 0) {
        return rc;
    }
    s3__sse_headers(r, up.sse);
    s3__abort_headers(r, r->key, up.initiated_ms);
    if (up.checksum_algo != LAKE_CHECKSUM_NONE) {
        api_response_header(r->call->resp, "x-amz-checksum-algorithm",
                            lake_checksum_name(up.checksum_algo));
        api_response_header(r->call->resp, "x-amz-checksum-type",
                            lake_checksum_type_name(up.checksum_type));
    }
    struct buf b;
    buf_init(&b);
    s3__xml_open(&b, "InitiateMultipartUploadResult");
    s3__xml_elem(&b, "Bucket", r->bucket);
    s3__xml_elem(&b, "Key", r->key);
    s3__xml_elem(&b, "UploadId", up.upload_id);
    buf_puts(&b, "</InitiateMultipartUploadResult>");
    lake_upload_info_fini(&up);
    return s3__respond_xml(r, &b);
}

static int part_number(struct s3_req *r, int *out)
{
    long long pn = s3__parse_uint(s3__query(r, "partNumber"));
    if (pn < 1 || pn > LAKE_PART_NUMBER_MAX) {
        return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                        "Part number must be an integer between 1 and 10000, inclusive");
    }
    *out = (int)pn;
    return 0;
}

/* Reads a "bytes=a-b" copy range within size. */
static int copy_range(struct s3_req *r, int64_t size, int64_t *off, int64_t *len)
{
    const char *h = s3__header(r, "x-amz-copy-source-range");
    *off = 0;
    *len = size;
    if (h == NULL) {
        return 0;
    }
    int64_t a = -1;
    int64_t b = -1;
    if (strncmp(h, "bytes=", 6) != 0 || !byte_range_spec(h + 6, &a, &b) || a < 0 || b < 0) {
        return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                        "The x-amz-copy-source-range value must "
                        "be of the form bytes=first-last where "
                        "first and last are the zero-based offsets "
                        "of the first and last bytes to copy");
    }
    if (b >= size) {
        return s3__fail(r, SL_E(INVALID_RANGE), "The requested range is not satisfiable");
    }
    *off = a;
    *len = b - a + 1;
    return 0;
}

static int upload_part(struct s3_req *r, int copy)
{
    int pn = 0;
    const char *upload_id = s3__query(r, "uploadId");
    struct lake_upload_info up;
    memset(&up, 0, sizeof(up));
    int rc = part_number(r, &pn);
    if (rc == 0) {
        rc = lake_upload_get(r->lake, r->bucket, r->key, upload_id, &up, &r->call->err);
    }
    if (rc < 0) {
        return rc;
    }
    struct put_ctx pc;
    memset(&pc, 0, sizeof(pc));
    struct lake_writer *w = NULL;
    char *sb = NULL;
    char *sk = NULL;
    struct lake_object_info src;
    memset(&src, 0, sizeof(src));
    struct lake_reader *rd = NULL;
    struct s3_sse_key ck;
    rc = s3__sse_customer(r, 0, &ck);
    if (rc == 0) {
        /* a part goes under the upload's data key, which S3 decrypts through KMS */
        rc = s3__sse_kms_allowed(r, up.sse, "kms:Decrypt");
    }
    if (rc == 0 && copy) {
        int64_t off = 0;
        int64_t len = 0;
        rc = open_source(r, &sb, &sk, &src, &rd);
        if (rc == 0) {
            rc = copy_range(r, src.size_bytes, &off, &len);
        }
        if (rc == 0 && (rc = lake_writer_open(r->lake, up.checksum_algo, &w)) < 0) {
            s3__fail(r, rc, "We encountered an internal error. Please try again.");
        }
        if (rc == 0 && up.sse != NULL) {
            rc = lake_writer_encrypt(w, up.sse, ck.given ? ck.key : NULL, &r->call->err);
        }
        if (rc == 0 && (rc = lake_reader_range(rd, off, len, writer_write_sink, w)) < 0) {
            s3__fail(r, rc, "We encountered an internal error. Please try again.");
        }
    } else if (rc == 0) {
        rc = put_ctx_from_headers(r, &pc, up.checksum_algo);
        if (rc == 0) {
            rc = s3__part_checksum_check(r, &up, pc.opts.checksum_algo);
        }
        if (rc == 0) {
            rc = body_to_writer(r, &pc, MAX_OBJECT_BYTES, up.sse, &ck, &w);
        }
    }
    explicit_bzero(&ck, sizeof(ck));
    struct lake_part_info part;
    if (rc == 0) {
        rc = lake_writer_commit_part(w, r->bucket, r->key, upload_id, pn, &pc.opts, &part,
                                     &r->call->err);
    }
    if (rc == 0 && copy) {
        struct buf b;
        buf_init(&b);
        s3__xml_open(&b, "CopyPartResult");
        s3__xml_elem_time(&b, "LastModified", part.last_modified_ms);
        s3__xml_etag(&b, part.etag);
        buf_puts(&b, "</CopyPartResult>");
        s3__sse_headers(r, up.sse);
        rc = s3__respond_xml(r, &b);
    } else if (rc == 0) {
        etag_header(r, part.etag);
        s3__sse_headers(r, up.sse);
        checksum_header(
            r, up.checksum_algo != LAKE_CHECKSUM_NONE ? up.checksum_algo : pc.opts.checksum_algo,
            part.checksum);
    }
    lake_reader_close(rd);
    lake_writer_destroy(w);
    lake_object_info_fini(&src);
    lake_upload_info_fini(&up);
    put_ctx_fini(&pc);
    free(sb);
    free(sk);
    return rc;
}

static int malformed(struct s3_req *r)
{
    return s3__fail(r, SL_E(MALFORMED_XML),
                    "The XML you provided was not well-formed or did not validate against our "
                    "published schema");
}

/* CompleteMultipartUpload's x-amz-mp-object-size: the parts listed must add up to it. */
static int check_mpu_size(struct s3_req *r, const char *upload_id,
                          const struct lake_complete_part *parts, size_t n)
{
    const char *h = s3__header(r, "x-amz-mp-object-size");
    if (h == NULL) {
        return 0;
    }
    long long want = s3__parse_uint(h);
    if (want < 0) {
        return s3__fail(r, SL_E(INVALID_REQUEST),
                        "Value for x-amz-mp-object-size header is invalid: '%s'", h);
    }
    struct lake_part_info *have = NULL;
    size_t n_have = 0;
    int truncated = 0;
    int rc = lake_part_list(r->lake, r->bucket, r->key, upload_id, 0, LAKE_PART_NUMBER_MAX, &have,
                            &n_have, &truncated, &r->call->err);
    if (rc < 0) {
        return rc;
    }
    long long total = 0;
    for (size_t i = 0, j = 0; i < n; i++) {
        while (j < n_have && have[j].part_number < parts[i].part_number) {
            j++;
        }
        if (j < n_have && have[j].part_number == parts[i].part_number) {
            total += have[j].size_bytes;
        }
    }
    free(have);
    /* A part missing or replaced is the completion's own error (InvalidPart); this is
       only the sum of what is there. */
    if (total != want) {
        return s3__fail(r, SL_E(INVALID_REQUEST),
                        "The provided 'x-amz-mp-object-size' header value %lld does not match "
                        "what was computed: %lld",
                        want, total);
    }
    return 0;
}

static int complete_upload(struct s3_req *r)
{
    const char *upload_id = s3__query(r, "uploadId");
    struct lake_upload_info up;
    int rc = lake_upload_get(r->lake, r->bucket, r->key, upload_id, &up, &r->call->err);
    if (rc < 0) {
        return rc;
    }
    struct s3_xml_node *root = NULL;
    struct lake_complete_part *parts = NULL;
    size_t n = 0;
    rc = s3__xml_body(r, 4 << 20, "CompleteMultipartUpload", &root);
    if (rc == 0) {
        /* As many entries as the client sent elements: the may-fail allocator. */
        parts = try_malloc((root->n_children + 1) * sizeof(*parts));
        if (parts == NULL) {
            rc = s3__fail(r, SL_E(NOMEM), "The request body does not fit in memory.");
        }
        for (size_t i = 0; rc == 0 && i < root->n_children; i++) {
            const struct s3_xml_node *p = &root->children[i];
            if (strcmp(p->name, "Part") != 0) {
                continue;
            }
            long long pn = s3__parse_uint(s3__xml_child_text(p, "PartNumber"));
            const char *etag = s3__xml_child_text(p, "ETag");
            if (pn < 1 || pn > LAKE_PART_NUMBER_MAX || etag == NULL) {
                rc = malformed(r);
                break;
            }
            parts[n].part_number = (int)pn;
            parts[n].etag = etag;
            n++;
        }
    }
    struct lake_object_info info;
    struct lake_put_opts cond;
    memset(&cond, 0, sizeof(cond));
    char expected[LAKE_CHECKSUM_MAX];
    if (rc == 0) {
        rc = s3__write_opts(r, &cond, 0);
    }
    if (rc == 0) {
        rc = s3__complete_checksum(r, &up, &cond, expected);
    }
    if (rc == 0) {
        rc = s3__complete_part_checksums(r, &up, root);
    }
    if (rc == 0) {
        rc = check_mpu_size(r, upload_id, parts, n);
    }
    if (rc == 0) {
        rc = lake_upload_complete_opts(r->lake, r->bucket, r->key, upload_id, parts, n, &cond,
                                       &info, &r->call->err);
    }
    if (rc == 0) {
        s3__version_headers(r, &info);
        struct buf b;
        buf_init(&b);
        s3__xml_open(&b, "CompleteMultipartUploadResult");
        struct buf loc;
        buf_init(&loc);
        buf_printf(&loc, "http://%s/%s/", r->req->host ? r->req->host : "localhost", r->bucket);
        s3__url_encode(&loc, r->key);
        s3__xml_elem(&b, "Location", (char *)loc.data);
        buf_fini(&loc);
        s3__xml_elem(&b, "Bucket", r->bucket);
        s3__xml_elem(&b, "Key", r->key);
        s3__xml_etag(&b, info.etag);
        if (info.checksum_algo != LAKE_CHECKSUM_NONE) {
            char name[32];
            snprintf(name, sizeof(name), "Checksum%s", lake_checksum_name(info.checksum_algo));
            s3__xml_elem(&b, name, info.checksum);
            s3__xml_elem(&b, "ChecksumType",
                         lake_checksum_type_name(lake_checksum_type_of(info.checksum)));
        }
        buf_puts(&b, "</CompleteMultipartUploadResult>");
        s3__sse_headers(r, info.sse);
        lake_object_info_fini(&info);
        rc = s3__acl_after_write(r, up.acl); /* CreateMultipartUpload's ACL */
        if (rc == 0) {
            rc = s3__respond_xml(r, &b);
        } else {
            buf_fini(&b);
        }
    }
    lake_upload_info_fini(&up);
    free(parts);
    s3__xml_free(root);
    return rc;
}

static int abort_upload(struct s3_req *r)
{
    int rc = lake_upload_abort(r->lake, r->bucket, r->key, s3__query(r, "uploadId"), &r->call->err);
    if (rc == 0) {
        r->call->resp->status = 204;
    }
    return rc;
}

static int list_parts(struct s3_req *r)
{
    const char *upload_id = s3__query(r, "uploadId");
    const char *marker = s3__query(r, "part-number-marker");
    const char *max_s = s3__query(r, "max-parts");
    long long pm = marker ? s3__parse_uint(marker) : 0;
    long long max = max_s ? s3__parse_uint(max_s) : 1000;
    if (pm < 0 || max < 0) {
        return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                        "Provided max-parts or part-number-marker "
                        "not an integer or within integer range");
    }
    if (max > 1000) {
        max = 1000;
    }
    struct lake_upload_info up;
    int rc = lake_upload_get(r->lake, r->bucket, r->key, upload_id, &up, &r->call->err);
    if (rc < 0) {
        return rc;
    }
    s3__abort_headers(r, r->key, up.initiated_ms);
    struct lake_part_info *parts = NULL;
    size_t n = 0;
    int truncated = 0;
    rc = lake_part_list(r->lake, r->bucket, r->key, upload_id, (int)pm, (size_t)max, &parts, &n,
                        &truncated, &r->call->err);
    if (rc < 0) {
        lake_upload_info_fini(&up);
        return rc;
    }
    struct buf b;
    buf_init(&b);
    s3__xml_open(&b, "ListPartsResult");
    s3__xml_elem(&b, "Bucket", r->bucket);
    s3__xml_elem(&b, "Key", r->key);
    s3__xml_elem(&b, "UploadId", upload_id);
    s3__xml_elem_int(&b, "PartNumberMarker", pm);
    if (n > 0) {
        s3__xml_elem_int(&b, "NextPartNumberMarker", parts[n - 1].part_number);
    }
    s3__xml_elem_int(&b, "MaxParts", max);
    s3__xml_elem(&b, "IsTruncated", truncated ? "true" : "false");
    for (size_t i = 0; i < n; i++) {
        buf_puts(&b, "<Part>");
        s3__xml_elem_int(&b, "PartNumber", parts[i].part_number);
        s3__xml_elem_time(&b, "LastModified", parts[i].last_modified_ms);
        s3__xml_etag(&b, parts[i].etag);
        s3__xml_elem_int(&b, "Size", parts[i].size_bytes);
        if (up.checksum_algo != LAKE_CHECKSUM_NONE && parts[i].checksum[0]) {
            char name[32];
            snprintf(name, sizeof(name), "Checksum%s", lake_checksum_name(up.checksum_algo));
            s3__xml_elem(&b, name, parts[i].checksum);
        }
        buf_puts(&b, "</Part>");
    }
    s3__owner(r, &b, "Initiator");
    s3__owner(r, &b, "Owner");
    char sc[32];
    s3__xml_elem(&b, "StorageClass", lake_class_of(up.meta_json, sc));
    if (up.checksum_algo != LAKE_CHECKSUM_NONE) {
        s3__xml_elem(&b, "ChecksumAlgorithm", lake_checksum_name(up.checksum_algo));
        s3__xml_elem(&b, "ChecksumType", lake_checksum_type_name(up.checksum_type));
    }
    buf_puts(&b, "</ListPartsResult>");
    free(parts);
    lake_upload_info_fini(&up);
    return s3__respond_xml(r, &b);
}

/* ---- tagging, batch delete ---- */

/* The versionId a tagging call names, echoed in x-amz-version-id once it succeeds. */
static void tagging_version_header(struct s3_req *r)
{
    const char *vid = s3__query(r, "versionId");
    if (vid != NULL) {
        api_response_header(r->call->resp, "x-amz-version-id", vid);
    }
}

static int put_object_tagging(struct s3_req *r)
{
    char *tags = NULL;
    int rc = s3__parse_tagging(r, 10, &tags);
    if (rc == 0) {
        rc = lake_version_tags_put(r->lake, r->bucket, r->key, s3__query(r, "versionId"), tags,
                                   &r->call->err);
    }
    if (rc == 0) {
        tagging_version_header(r);
    }
    free(tags);
    return rc;
}

static int get_object_tagging(struct s3_req *r)
{
    char *tags = NULL;
    int rc = lake_version_tags_get(r->lake, r->bucket, r->key, s3__query(r, "versionId"), &tags,
                                   &r->call->err);
    if (rc == 0) {
        tagging_version_header(r);
        rc = s3__respond_tagging(r, tags);
    }
    free(tags);
    return rc;
}

int s3__delete_objects(struct s3_req *r)
{
    int rc = lake_bucket_get(r->lake, r->bucket, NULL, &r->call->err);
    if (rc < 0) {
        return rc;
    }
    struct s3_xml_node *root = NULL;
    rc = s3__xml_body(r, 4 << 20, "Delete", &root);
    size_t n_objects = 0;
    for (size_t i = 0; rc == 0 && i < root->n_children; i++) {
        const struct s3_xml_node *o = &root->children[i];
        if (strcmp(o->name, "Object") == 0) {
            /* A key is its bytes and their count: one a C string would cut short is
               refused, never shortened (the XML reader lets no NUL through anyway). */
            size_t key_len = 0;
            const char *key = s3__xml_child_text_len(o, "Key", &key_len);
            if (key == NULL || memchr(key, '\0', key_len) != NULL) {
                rc = malformed(r);
            }
            n_objects++;
        } else if (strcmp(o->name, "Quiet") != 0) {
            rc = malformed(r);
        }
    }
    if (rc == 0 && (n_objects == 0 || n_objects > 1000)) {
        rc = malformed(r);
    }
    if (rc < 0) {
        s3__xml_free(root);
        return rc;
    }
    const char *quiet_s = s3__xml_child_text(root, "Quiet");
    int quiet = quiet_s != NULL && strcasecmp(quiet_s, "true") == 0;
    struct buf b;
    buf_init(&b);
    s3__xml_open(&b, "DeleteResult");
    for (size_t i = 0; i < root->n_children; i++) {
        const struct s3_xml_node *o = &root->children[i];
        if (strcmp(o->name, "Object") != 0) {
            continue;
        }
        const char *key = s3__xml_child_text(o, "Key");
        const char *vid = s3__xml_child_text(o, "VersionId");
        struct err_info err;
        err_clear(&err);
        int drc = 0;
        struct lake_delete_result res;
        memset(&res, 0, sizeof(res));
        if (key[0] == '\0') {
            drc = err_set(&err, SL_E(INVALID_ARGUMENT_S3), "Invalid key");
        } else {
            struct lake_delete_cond cond;
            s3__delete_cond(s3__xml_child_text(o, "ETag"),
                            s3__xml_child_text(o, "LastModifiedTime"),
                            s3__xml_child_text(o, "Size"), &cond);
            drc = lake_version_delete_if(r->lake, r->bucket, key, vid,
                                         s3__bypass_governance(r, key), &cond, &res, &err);
        }
        if (drc == 0 && !quiet) {
            buf_puts(&b, "<Deleted>");
            s3__xml_elem(&b, "Key", key);
            if (vid != NULL) {
                s3__xml_elem(&b, "VersionId", vid);
            }
            if (res.delete_marker) {
                s3__xml_elem(&b, "DeleteMarker", "true");
                if (vid == NULL) {
                    s3__xml_elem(&b, "DeleteMarkerVersionId", res.version_id);
                }
            }
            buf_puts(&b, "</Deleted>");
        } else if (drc < 0) {
            buf_puts(&b, "<Error>");
            s3__xml_elem(&b, "Key", key);
            if (vid != NULL) {
                s3__xml_elem(&b, "VersionId", vid);
            }
            s3__xml_elem(&b, "Code", err_aws_name(drc));
            s3__xml_elem(&b, "Message", err.message);
            buf_puts(&b, "</Error>");
        }
    }
    buf_puts(&b, "</DeleteResult>");
    s3__xml_free(root);
    return s3__respond_xml(r, &b);
}

/* ---- dispatch ---- */

int s3__object_op(struct s3_req *r)
{
    const char *m = r->req->method;
    int tagging = s3__query(r, "tagging") != NULL;
    const char *upload_id = s3__query(r, "uploadId");
    if (s3__query(r, "retention") != NULL || s3__query(r, "legal-hold") != NULL) {
        return s3__object_lock_op(r);
    }
    if (s3__query(r, "restore") != NULL && strcmp(m, "POST") == 0) {
        r->call->operation = "RestoreObject";
        return s3__restore_object(r);
    }
    if (s3__unsupported_subresource(r)) {
        return s3__fail(r, SL_E(NOT_IMPLEMENTED),
                        "This object subresource is not implemented "
                        "by Sluice");
    }
    if (s3__query(r, "acl") != NULL && (strcmp(m, "GET") == 0 || strcmp(m, "PUT") == 0)) {
        return s3__object_acl(r);
    }
    if (strcmp(m, "GET") == 0) {
        if (tagging) {
            r->call->operation = "GetObjectTagging";
            return get_object_tagging(r);
        }
        if (upload_id != NULL) {
            r->call->operation = "ListParts";
            return list_parts(r);
        }
        if (s3__query(r, "attributes") != NULL) {
            r->call->operation = "GetObjectAttributes";
            return s3__get_object_attributes(r);
        }
        r->call->operation = "GetObject";
        return get_object(r, 0);
    }
    if (strcmp(m, "HEAD") == 0) {
        r->call->operation = "HeadObject";
        return get_object(r, 1);
    }
    if (strcmp(m, "PUT") == 0) {
        if (tagging) {
            r->call->operation = "PutObjectTagging";
            return put_object_tagging(r);
        }
        int copy = s3__header(r, "x-amz-copy-source") != NULL;
        if (upload_id != NULL) {
            r->call->operation = copy ? "UploadPartCopy" : "UploadPart";
            return upload_part(r, copy);
        }
        r->call->operation = copy ? "CopyObject" : "PutObject";
        char *acl = NULL;
        int rc = s3__acl_check_write(r, 0, &acl);
        if (rc == 0) {
            rc = copy ? copy_object(r) : put_object(r);
        }
        if (rc == 0) {
            rc = s3__acl_after_write(r, acl);
        }
        free(acl);
        return rc;
    }
    if (strcmp(m, "DELETE") == 0) {
        if (tagging) {
            r->call->operation = "DeleteObjectTagging";
            int rc = lake_version_tags_put(r->lake, r->bucket, r->key, s3__query(r, "versionId"),
                                           NULL, &r->call->err);
            if (rc == 0) {
                tagging_version_header(r);
                r->call->resp->status = 204;
            }
            return rc;
        }
        if (upload_id != NULL) {
            r->call->operation = "AbortMultipartUpload";
            return abort_upload(r);
        }
        r->call->operation = "DeleteObject";
        return delete_object(r);
    }
    if (strcmp(m, "POST") == 0) {
        if (s3__query(r, "uploads") != NULL) {
            r->call->operation = "CreateMultipartUpload";
            char *acl = NULL;
            int rc = s3__acl_check_write(r, 0, &acl);
            if (rc == 0) {
                rc = create_upload(r, acl); /* the ACL is kept for the completed object */
            }
            free(acl);
            return rc;
        }
        if (upload_id != NULL) {
            r->call->operation = "CompleteMultipartUpload";
            return complete_upload(r);
        }
    }
    return s3__fail(r, SL_E(METHOD_NOT_ALLOWED),
                    "The specified method is not allowed against this resource.");
}
