/*
 * What the S3 adapter's files (s3_api.c, s3_object.c) share: the parsed request and
 * the helpers that read bodies and write XML. Never included from another folder.
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

/* XML writing. */
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

/* Tagging bodies and answers. */
int s3__parse_tagging(struct s3_req *r, size_t max_tags, char **json_out);
int s3__respond_tagging(struct s3_req *r, const char *tags_json);

/*
 * Reads the request body, decoding and verifying it per x-amz-content-sha256, into
 * sink. chunked (may be NULL) receives the decoder state so trailers can be read; the
 * caller finis it. Returns 0 or an error set on the call.
 */
int s3__body_read(struct s3_req *r, s3_chunk_sink_fn sink, void *arg, struct s3_chunked *chunked);
/* Reads a small body (at most max_len bytes) into b. */
int s3__body_to_buf(struct s3_req *r, struct buf *b, size_t max_len);

/* 1 when the request names a subresource Sluice does not implement (cors, lifecycle,
   retention, select, ...), answered NotImplemented. */
int s3__unsupported_subresource(const struct s3_req *r);

/* The service's request handler (what s3_api_create installs); call->service_ctx is
   the lake. */
int s3__handle(struct api_call *call);

/* Object-level requests and DeleteObjects (s3_object.c). */
int s3__object_op(struct s3_req *r);
int s3__delete_objects(struct s3_req *r);

#endif
