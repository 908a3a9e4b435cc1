/*
 * What the S3 adapter's files share: the parsed request and the helpers that read
 * bodies and write XML. Never included from another folder.
 *
 * The files and what each may call (no cycles but the one s3__pct_decode keeps):
 *   s3_api.c     addressing, dispatch, buckets, listing   -> s3_object, s3_body, s3_req
 *                                                            (and s3_lifecycle)
 *   s3_object.c  objects and multipart uploads            -> s3_versioning, s3_body, s3_req
 *                                                            (and s3_lifecycle)
 *   s3_versioning.c  versioning, object lock, conditions  -> s3_lifecycle, s3_body, s3_req
 *   s3_lifecycle.c   lifecycle configuration and headers  -> s3_body, s3_req
 *   s3_restore.c storage classes, archived objects        -> s3_body, s3_req
 *                    (called by s3_api, s3_object, s3_versioning, s3_post)
 *   s3_body.c    request bodies, XML bodies, tagging      -> s3_req, s3_chunked, s3_xml
 *   s3_req.c     request accessors, errors, XML answers   -> nothing of the adapter
 */
#ifndef SLUICE_LAKE_S3_HTTP_H
#define SLUICE_LAKE_S3_HTTP_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "http/api.h"
#include "lake/lake.h"
#include "lake/s3_int.h"

struct s3_param {
    char *name;  /* decoded, owned */
    char *value; /* decoded, owned; "" for a bare name */
};

/* One S3 request being served; everything owned is freed when the call ends. */
struct s3_req {
    struct api_call *call;
    const struct api_request *req;
    struct lake *lake;
    char *bucket;            /* decoded; NULL for service-level requests */
    char *key;               /* decoded; NULL for bucket-level requests */
    struct s3_param *params; /* decoded query parameters */
    size_t n_params;
    char *resource; /* "/bucket/key" for error documents */
};

/* The namespace of every S3 XML answer. */
#define S3_XMLNS "http://s3.amazonaws.com/doc/2006-03-01/"

/* ---- s3_req.c ---- */

/* Query parameter value, NULL when absent. */
const char *s3__query(const struct s3_req *r, const char *name);
/* Request header value (case-insensitive), NULL when absent. */
const char *s3__header(const struct s3_req *r, const char *name);
/* Sets the call's error and returns code. */
int s3__fail(struct s3_req *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
long long s3__parse_uint(const char *s);
/* Percent-decodes a path or x-amz-copy-source part (core/text.h, PCT_PATH: '+' is
   itself) into *out, which the caller frees. Returns 0; SL_E(NOMEM); or
   SL_E(INVALID_ARGUMENT_S3) when it decodes to a NUL byte (*out is then NULL). */
int s3__path_decode(const char *s, size_t len, char **out);

/* XML writing: text escaped, elements, S3's answer root. */
void s3__xml_open(struct buf *b, const char *root);
void s3__xml_text(struct buf *b, const char *s);
void s3__xml_elem(struct buf *b, const char *name, const char *text);
void s3__xml_elem_int(struct buf *b, const char *name, long long v);
void s3__xml_elem_time(struct buf *b, const char *name, int64_t ms);
void s3__xml_etag(struct buf *b, const char *etag);
void s3__url_encode(struct buf *b, const char *s);
void s3__owner(struct s3_req *r, struct buf *b, const char *elem);
/* Makes b the response body (application/xml). Returns 0 or SL_E(NOMEM). */
int s3__respond_xml(struct s3_req *r, struct buf *b);

/* The tag set (a JSON object) as a Tagging answer. */
int s3__respond_tagging(struct s3_req *r, const char *tags_json);

/* 1 when the request names a subresource Sluice does not implement (cors, lifecycle,
   retention, select, ...), answered NotImplemented. */
int s3__unsupported_subresource(const struct s3_req *r);

/* ---- s3_body.c ---- */

enum s3_payload_kind {
    PAYLOAD_UNSIGNED,
    PAYLOAD_HEX,
    PAYLOAD_STREAM_SIGNED,
    PAYLOAD_STREAM_SIGNED_TRAILER,
    PAYLOAD_STREAM_UNSIGNED_TRAILER,
};
/* The body's payload mode from x-amz-content-sha256. 0 or an error set on the call. */
int s3__payload_kind(struct s3_req *r, enum s3_payload_kind *out);
/* Decodes a Content-MD5 header into md5. Returns 1 when present, 0 when not, or an error
   set on the call (InvalidDigest). */
int s3__content_md5(struct s3_req *r, uint8_t md5[16]);
/*
 * Reads the request body, decoding and verifying it per x-amz-content-sha256, into
 * sink. chunked (may be NULL) receives the decoder state so trailers can be read; the
 * caller finis it. Returns 0 or an error set on the call.
 */
int s3__body_read(struct s3_req *r, s3_chunk_sink_fn sink, void *arg, struct s3_chunked *chunked);
/* Reads a small body (at most max_len bytes) into b. */
int s3__body_to_buf(struct s3_req *r, struct buf *b, size_t max_len);
/*
 * Reads the body (at most max_len bytes) as an XML document whose root element is
 * root_name (NULL: any). Returns 0 with *root_out (free with s3__xml_free), or an error
 * set on the call: the body's, SL_E(MALFORMED_XML) (also for characters XML forbids),
 * SL_E(NOMEM) (500 InternalError).
 */
int s3__xml_body(struct s3_req *r, size_t max_len, const char *root_name,
                 struct s3_xml_node **root_out);
/*
 * Parses a <Tagging><TagSet><Tag><Key/><Value/></Tag>...</TagSet></Tagging> body into a
 * JSON object text (caller frees). Enforces S3's limits: at most max_tags tags, keys up
 * to 128 and values up to 256 characters, no duplicate keys.
 */
int s3__parse_tagging(struct s3_req *r, size_t max_tags, char **json_out);
/* The same for a <Tagging> document already parsed (POST Object's tagging field). */
int s3__tagging_from_xml(struct s3_req *r, const struct s3_xml_node *root, size_t max_tags,
                         char **json_out);

/* ---- s3_metrics_config.c ---- */

/* Put/Get/Delete/ListBucketMetricsConfiguration(s) (?metrics on a bucket). */
int s3__bucket_metrics(struct s3_req *r);

/* ---- s3_cors.c ---- */

/* Put/Get/DeleteBucketCors (?cors on a bucket). */
int s3__bucket_cors(struct s3_req *r);
/* A browser's preflight (OPTIONS) evaluated against the bucket's rules. */
int s3__cors_preflight(struct s3_req *r);
/* The Access-Control-* headers of a request that names an Origin a rule allows. */
void s3__cors_response_headers(struct s3_req *r);

/* ---- s3_lifecycle.c ---- */

/* Put/Get/DeleteBucketLifecycleConfiguration (?lifecycle on a bucket). */
int s3__bucket_lifecycle(struct s3_req *r);
/* x-amz-expiration of the current object info when a lifecycle rule expires it. */
void s3__expiration_header(struct s3_req *r, const struct lake_object_info *info);
/* x-amz-abort-date and x-amz-abort-rule-id of an upload of key started at initiated_ms. */
void s3__abort_headers(struct s3_req *r, const char *key, int64_t initiated_ms);
/* An object's storage class for listings ("STANDARD" unless a transition changed it),
   in buf (32 bytes) or static. */
const char *s3__storage_class(const struct lake_object_info *info, char buf[32]);
/* A copy of stored headers (meta_json, may be NULL) without the storage class a
   transition set; NULL when nothing is left. Caller frees. */
char *s3__meta_without_class(const char *meta_json);

/* ---- s3_acl.c ---- */

int s3__bucket_acl(struct s3_req *r);                  /* Get/PutBucketAcl */
int s3__object_acl(struct s3_req *r);                  /* Get/PutObjectAcl */
int s3__bucket_ownership(struct s3_req *r);            /* ?ownershipControls */
int s3__bucket_public_access_block(struct s3_req *r);  /* ?publicAccessBlock */
int s3__bucket_policy_status(struct s3_req *r);        /* GetBucketPolicyStatus */
/* The bucket subresources above, by method; *handled is 0 when r is none of them. */
int s3__access_bucket_op(struct s3_req *r, int *handled);
/* 1 when a bucket policy grants everyone access without a restricting condition. */
int s3__policy_is_public(const char *policy);
/* Refuses a public bucket policy where BlockPublicPolicy is on. 0 or an error. */
int s3__check_policy_allowed(struct s3_req *r, const char *policy);
/* Checks a write's x-amz-acl / x-amz-grant-* headers against the bucket's settings
   (create_bucket: against CreateBucket's x-amz-object-ownership); *acl_out is the ACL
   to keep once written (caller frees), NULL when the owner's alone. */
int s3__acl_check_write(struct s3_req *r, int create_bucket, char **acl_out);
/* The same for a canned ACL named in a form (POST Object's acl field). */
int s3__acl_check_canned(struct s3_req *r, const char *name, char **acl_out);
/* Keeps acl (from s3__acl_check_write) for the object or bucket just written. */
int s3__acl_after_write(struct s3_req *r, const char *acl);
/* CreateBucket's x-amz-object-ownership: checked before, kept after with the ACL. */
int s3__check_object_ownership_header(struct s3_req *r);
int s3__create_bucket_settings(struct s3_req *r, const char *acl);
/* 1 when an unsigned request may be served: a plain GET or HEAD of a bucket or an
   object an ACL makes public where ACLs are on and not ignored. */
int s3__anonymous_allowed(struct s3_req *r);

/* ---- s3_post.c ---- */

/* POST Object: an HTML form upload, signed in its fields. */
int s3__post_object(struct s3_req *r);

/* ---- s3_sse.c ---- */

/* An SSE-C key a request carries. */
struct s3_sse_key {
    int given;
    uint8_t key[LAKE_SSE_KEY_LEN];
};
/* Reads and checks the SSE-C headers (copy_source: the x-amz-copy-source-... ones) with
   S3's errors. Returns 0 (out->given 0 when none were sent) or an error set on the call. */
int s3__sse_customer(struct s3_req *r, int copy_source, struct s3_sse_key *out);
/* Decides a write's encryption from its x-amz-server-side-encryption* headers and the
   bucket's default: *record (caller frees) is a new SSE-KMS record, NULL for SSE-S3 or
   SSE-C (ck). 0 or an error set on the call (S3's, KMS.* included). */
int s3__sse_write(struct s3_req *r, const struct s3_sse_key *ck, char **record);
/* The x-amz-server-side-encryption* headers for an object's encryption record. */
void s3__sse_headers(struct s3_req *r, const char *record);
/* Whether the caller may do action ("kms:Decrypt") with the KMS key of record, as S3 asks
   KMS for it (lake_kms_authorize): 0, or AccessDenied set as the request's error. */
int s3__sse_kms_allowed(struct s3_req *r, const char *record, const char *action);
/* PutBucketEncryption and GetBucketEncryption (DeleteBucketEncryption removes the
   document: the bucket is back to SSE-S3). */
int s3__put_bucket_encryption(struct s3_req *r);
int s3__get_bucket_encryption(struct s3_req *r);

/* The service's request handler (what s3_api_create installs); call->service_ctx is
   the lake. */
int s3__handle(struct api_call *call);

/* ---- s3_versioning.c: versioning, object lock, conditional writes ---- */

/* x-amz-version-id (versioned buckets) and x-amz-delete-marker of a version. */
void s3__version_headers(struct s3_req *r, const struct lake_object_info *info);
/* x-amz-object-lock-mode / -retain-until-date / -legal-hold of a version. */
void s3__lock_headers(struct s3_req *r, const struct lake_object_info *info);
/* If-None-Match / If-Match of a write, and with_lock its x-amz-object-lock-* headers
   (2: and the Content-MD5 or checksum S3 requires with them on an upload), into opts
   (strings borrowed from the request). 0 or an error set on the call. */
int s3__write_opts(struct s3_req *r, struct lake_put_opts *opts, int with_lock);
/* The x-amz-object-lock-* headers alone (CreateMultipartUpload). */
int s3__lock_opts(struct s3_req *r, struct lake_put_opts *opts);
int s3__get_bucket_versioning(struct s3_req *r);
int s3__put_bucket_versioning(struct s3_req *r);
int s3__list_object_versions(struct s3_req *r);
/* CreateBucket's x-amz-bucket-object-lock-enabled, once the bucket exists. */
int s3__create_bucket_lock(struct s3_req *r);
/* ?object-lock on a bucket; ?retention and ?legal-hold on an object. */
int s3__bucket_lock_op(struct s3_req *r);
int s3__object_lock_op(struct s3_req *r);

/* ---- s3_attributes.c: GetObjectAttributes, checksum types, conditional deletes ---- */

/* GET ?attributes on an object. */
int s3__get_object_attributes(struct s3_req *r);
/* x-amz-checksum-type of a stored checksum (none without one). */
void s3__checksum_type_header(struct s3_req *r, enum lake_checksum_algo algo, const char *checksum);
/* CreateMultipartUpload's x-amz-checksum-type into opts (after its algorithm), checked
   against S3's rules; S3's default type when absent. 0 or an error set on the call. */
int s3__upload_checksum_type(struct s3_req *r, struct lake_put_opts *opts);
/* An UploadPart's checksum algorithm must be its upload's. 0 or InvalidRequest. */
int s3__part_checksum_check(struct s3_req *r, const struct lake_upload_info *up,
                            enum lake_checksum_algo algo);
/* CompleteMultipartUpload's x-amz-checksum-type and whole-object x-amz-checksum-* against
   the upload: the checksum becomes cond->checksum_expected (kept in expected). */
int s3__complete_checksum(struct s3_req *r, const struct lake_upload_info *up,
                          struct lake_put_opts *cond, char expected[LAKE_CHECKSUM_MAX]);
/* The part checksums a CompleteMultipartUpload lists must be the parts' own (InvalidPart). */
int s3__complete_part_checksums(struct s3_req *r, const struct lake_upload_info *up,
                                const struct s3_xml_node *root);
/* A delete's conditions (header or element texts, NULL: not given) for
   lake_version_delete_if, which checks them against the key's current version. */
void s3__delete_cond(const char *if_match, const char *if_time, const char *if_size,
                     struct lake_delete_cond *out);
/* 1 when the request's x-amz-bypass-governance-retention is true and the caller may
   bypass governance retention of key (s3:BypassGovernanceRetention), else 0. */
int s3__bypass_governance(struct s3_req *r, const char *key);

/* ---- s3_restore.c: storage classes on writes, archived objects ---- */

/* A write's storage class (x-amz-storage-class or POST Object's field; NULL: none
   named) into the stored headers *meta_json (replaced; STANDARD is stored as no class).
   0 or InvalidStorageClass set on the call. */
int s3__storage_class_apply(struct s3_req *r, const char *cls, char **meta_json);
/* Refuses reading (copy_source: copying from) an archived object not restored:
   InvalidObjectState naming its class. 0 when it may be read. */
int s3__archive_check(struct s3_req *r, const struct lake_object_info *info, int copy_source);
/* x-amz-restore of a version a restore was asked for. */
void s3__restore_header(struct s3_req *r, const struct lake_object_info *info);
/* A listing entry's RestoreStatus, when the request asks for it
   (x-amz-optional-object-attributes) and a restore was asked for. */
void s3__restore_status(struct s3_req *r, struct buf *b, const struct lake_object_info *info);
/* RestoreObject: POST ?restore on an object. */
int s3__restore_object(struct s3_req *r);

/* Object-level requests and DeleteObjects (s3_object.c). */
int s3__object_op(struct s3_req *r);
int s3__delete_objects(struct s3_req *r);

#endif
