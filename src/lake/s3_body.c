/*
 * Request bodies of the S3 adapter, in every payload mode, and the XML documents some
 * of them hold. Payload modes, from x-amz-content-sha256 (absent: as UNSIGNED-PAYLOAD,
 * e.g. presigned):
 *   <64 hex>                               body as sent; its SHA-256 must match
 *                                          (XAmzContentSHA256Mismatch)
 *   UNSIGNED-PAYLOAD                       body as sent
 *   STREAMING-AWS4-HMAC-SHA256-PAYLOAD     aws-chunked, every chunk signature verified
 *   STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER   the same, then signed trailers
 *   STREAMING-UNSIGNED-PAYLOAD-TRAILER     aws-chunked without signatures, then trailers
 * Depends on s3_req.c, s3_chunked.c and s3_xml.c only.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/base64.h"
#include "core/crypto.h"
#include "core/file.h"
#include "core/mem.h"
#include "lake/s3_http.h"

#define BLOCK_BYTES (1u << 20)

int s3__payload_kind(struct s3_req *r, enum s3_payload_kind *out)
{
    const char *h = s3__header(r, "x-amz-content-sha256");
    if (h == NULL || strcmp(h, "UNSIGNED-PAYLOAD") == 0) {
        *out = PAYLOAD_UNSIGNED;
        return 0;
    }
    if (strcmp(h, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD") == 0) {
        *out = PAYLOAD_STREAM_SIGNED;
    } else if (strcmp(h, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER") == 0) {
        *out = PAYLOAD_STREAM_SIGNED_TRAILER;
    } else if (strcmp(h, "STREAMING-UNSIGNED-PAYLOAD-TRAILER") == 0) {
        *out = PAYLOAD_STREAM_UNSIGNED_TRAILER;
    } else {
        size_t len = strlen(h);
        int hex = len == 64;
        for (size_t i = 0; hex && i < len; i++) {
            char c = h[i];
            hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        }
        if (!hex) {
            return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                            "STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
                            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, "
                            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.");
        }
        *out = PAYLOAD_HEX;
        return 0;
    }
    if ((*out == PAYLOAD_STREAM_SIGNED || *out == PAYLOAD_STREAM_SIGNED_TRAILER) &&
        (r->req->seed_signature == NULL || r->req->seed_signature[0] == '\0' ||
         r->req->signing_key == NULL)) {
        return s3__fail(r, SL_E(INVALID_REQUEST),
                        "Signed streaming payloads need header authentication.");
    }
    return 0;
}

/* Calls fn on the raw body in blocks (memory or spooled file). */
static int body_blocks(struct s3_req *r, int (*fn)(void *, const uint8_t *, size_t), void *arg)
{
    const struct api_request *req = r->req;
    if (req->body_fd < 0) {
        return req->body_len > 0 ? fn(arg, req->body, req->body_len) : 0;
    }
    uint8_t *block = try_malloc(BLOCK_BYTES);
    if (block == NULL) {
        return s3__fail(r, SL_E(NOMEM), "Out of memory.");
    }
    int rc = 0;
    size_t off = 0;
    while (off < req->body_len && rc == 0) {
        size_t want = req->body_len - off < BLOCK_BYTES ? req->body_len - off : BLOCK_BYTES;
        ssize_t n = file_pread(req->body_fd, block, want, (off_t)off);
        if (n <= 0) {
            rc = s3__fail(r, SL_E(INCOMPLETE_BODY),
                          "You did not provide the number of bytes specified by the "
                          "Content-Length HTTP header.");
            break;
        }
        rc = fn(arg, block, (size_t)n);
        off += (size_t)n;
    }
    free(block);
    return rc;
}

struct plain_feed {
    s3_chunk_sink_fn sink;
    void *arg;
    struct crypto_digest *sha; /* hex mode: SHA-256 of the body */
};

static int plain_fn(void *arg, const uint8_t *data, size_t len)
{
    struct plain_feed *p = arg;
    if (p->sha != NULL) {
        crypto_digest_update(p->sha, data, len);
    }
    return p->sink(p->arg, data, len);
}

struct chunk_feed {
    struct s3_chunked *c;
    struct err_info *err;
};

static int chunk_fn(void *arg, const uint8_t *data, size_t len)
{
    struct chunk_feed *f = arg;
    return s3__chunked_feed(f->c, data, len, f->err);
}

int s3__body_read(struct s3_req *r, s3_chunk_sink_fn sink, void *arg, struct s3_chunked *chunked)
{
    enum s3_payload_kind kind = PAYLOAD_UNSIGNED;
    int rc = s3__payload_kind(r, &kind);
    if (rc < 0) {
        return rc;
    }
    if (kind == PAYLOAD_UNSIGNED || kind == PAYLOAD_HEX) {
        struct plain_feed p = {.sink = sink, .arg = arg};
        if (kind == PAYLOAD_HEX) {
            p.sha = crypto_digest_create(CRYPTO_SHA256);
        }
        rc = body_blocks(r, plain_fn, &p);
        if (p.sha != NULL) {
            uint8_t d[SHA256_LEN];
            char hex[2 * SHA256_LEN + 1];
            crypto_digest_final(p.sha, d);
            crypto_digest_destroy(p.sha);
            hex_encode(d, SHA256_LEN, hex);
            if (rc == 0 && strcasecmp(hex, s3__header(r, "x-amz-content-sha256")) != 0) {
                rc = s3__fail(r, SL_E(CONTENT_SHA256_MISMATCH),
                              "The provided 'x-amz-content-sha256' header does not match what "
                              "was computed.");
            }
        }
        if (rc < 0 && r->call->err.code == 0) {
            s3__fail(r, rc, "The request body could not be stored.");
        }
        return rc;
    }
    struct s3_chunked local;
    struct s3_chunked *c = chunked ? chunked : &local;
    int signed_chunks = kind != PAYLOAD_STREAM_UNSIGNED_TRAILER;
    int trailer = kind != PAYLOAD_STREAM_SIGNED;
    s3__chunked_init(c, signed_chunks, trailer, r->req->signing_key, r->req->amz_date,
                     r->req->credential_scope, r->req->seed_signature, sink, arg);
    struct chunk_feed f = {.c = c, .err = &r->call->err};
    rc = body_blocks(r, chunk_fn, &f);
    if (rc == 0) {
        rc = s3__chunked_finish(c, &r->call->err);
    }
    const char *dl = s3__header(r, "x-amz-decoded-content-length");
    if (rc == 0 && dl != NULL && s3__parse_uint(dl) != (long long)c->decoded_len) {
        rc = s3__fail(r, SL_E(INCOMPLETE_BODY),
                      "You did not provide the number of bytes specified by the "
                      "x-amz-decoded-content-length HTTP header.");
    }
    if (rc < 0 && r->call->err.code == 0) {
        s3__fail(r, rc, "The request body could not be stored.");
    }
    if (c == &local) {
        s3__chunked_fini(c);
    }
    return rc;
}

struct buf_sink {
    struct buf *b;
    size_t max_len;
};

static int buf_sink_fn(void *arg, const uint8_t *data, size_t len)
{
    struct buf_sink *s = arg;
    if (s->b->len + len > s->max_len) {
        return SL_E(MALFORMED_XML);
    }
    return buf_append(s->b, data, len);
}

int s3__content_md5(struct s3_req *r, uint8_t md5[MD5_LEN])
{
    const char *h = s3__header(r, "Content-MD5");
    if (h == NULL) {
        return 0;
    }
    uint8_t raw[BASE64_DECODED_MAX(64)];
    size_t len = strlen(h);
    if (len > 64 || base64_decode(h, len, raw) != MD5_LEN) {
        return s3__fail(r, SL_E(INVALID_DIGEST), "The Content-MD5 you specified was invalid.");
    }
    memcpy(md5, raw, MD5_LEN);
    return 1;
}

int s3__body_to_buf(struct s3_req *r, struct buf *b, size_t max_len)
{
    struct buf_sink s = {.b = b, .max_len = max_len};
    int rc = s3__body_read(r, buf_sink_fn, &s, NULL);
    if (rc == SL_E(MALFORMED_XML)) {
        return s3__fail(r, SL_E(MALFORMED_XML), "The request body is too large.");
    }
    if (rc < 0) {
        return rc;
    }
    uint8_t want[MD5_LEN];
    rc = s3__content_md5(r, want);
    if (rc == 1) {
        uint8_t got[MD5_LEN];
        crypto_md5(b->data ? b->data : (const uint8_t *)"", b->len, got);
        if (!crypto_equal(got, want, MD5_LEN)) {
            return s3__fail(r, SL_E(BAD_DIGEST),
                            "The Content-MD5 you specified did not match what we received.");
        }
        rc = 0;
    }
    return rc;
}

int s3__xml_body(struct s3_req *r, size_t max_len, const char *root_name,
                 struct s3_xml_node **root_out)
{
    *root_out = NULL;
    struct buf body;
    buf_init(&body);
    int rc = s3__body_to_buf(r, &body, max_len);
    if (rc == 0) {
        rc = s3__xml_parse((const char *)body.data, body.len, root_out);
        if (rc == SL_E(NOMEM)) {
            s3__fail(r, rc, "The request body does not fit in memory.");
        } else if (rc < 0 || (root_name != NULL && strcmp((*root_out)->name, root_name) != 0)) {
            rc = s3__fail(r, SL_E(MALFORMED_XML),
                          "The XML you provided was not well-formed or did not validate "
                          "against our published schema");
        }
    }
    if (rc < 0) {
        s3__xml_free(*root_out);
        *root_out = NULL;
    }
    buf_fini(&body);
    return rc;
}

/*
 * Parses a <Tagging><TagSet><Tag><Key/><Value/></Tag>...</TagSet></Tagging> body into a
 * JSON object text (caller frees). Enforces S3's limits: at most max_tags tags, keys up
 * to 128 and values up to 256 characters, no duplicate keys.
 */
int s3__parse_tagging(struct s3_req *r, size_t max_tags, char **json_out)
{
    *json_out = NULL;
    struct s3_xml_node *root = NULL;
    int rc = s3__xml_body(r, 1 << 20, "Tagging", &root);
    if (rc == 0) {
        rc = s3__tagging_from_xml(r, root, max_tags, json_out);
    }
    s3__xml_free(root);
    return rc;
}

int s3__tagging_from_xml(struct s3_req *r, const struct s3_xml_node *root, size_t max_tags,
                         char **json_out)
{
    *json_out = NULL;
    json_t *tags = json_object();
    int rc = 0;
    if (s3__xml_child(root, "TagSet") == NULL) {
        rc = s3__fail(r, SL_E(MALFORMED_XML),
                      "The XML you provided was not well-formed or did not validate against "
                      "our published schema");
    }
    const struct s3_xml_node *set = rc == 0 ? s3__xml_child(root, "TagSet") : NULL;
    for (size_t i = 0; set != NULL && i < set->n_children && rc == 0; i++) {
        const struct s3_xml_node *tag = &set->children[i];
        const char *k = s3__xml_child_text(tag, "Key");
        const char *v = s3__xml_child_text(tag, "Value");
        if (strcmp(tag->name, "Tag") != 0 || k == NULL || v == NULL) {
            rc = s3__fail(r, SL_E(MALFORMED_XML),
                          "The XML you provided was not well-formed or did not validate "
                          "against our published schema");
        } else if (strlen(k) == 0 || strlen(k) > 128 || strlen(v) > 256) {
            rc = s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                          "The TagKey you have provided is "
                          "invalid");
        } else if (json_object_get(tags, k) != NULL) {
            rc = s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                          "Cannot provide multiple Tags with "
                          "the same key");
        } else {
            json_object_set_new(tags, k, json_string(v));
        }
    }
    if (rc == 0 && json_object_size(tags) > max_tags) {
        rc = s3__fail(r, SL_E(INVALID_ARGUMENT_S3), "Object tags cannot be greater than %zu",
                      max_tags);
    }
    if (rc == 0) {
        *json_out = json_dumps(tags, JSON_COMPACT | JSON_SORT_KEYS);
    }
    json_decref(tags);
    return rc;
}
