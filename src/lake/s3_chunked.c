/*
 * The aws-chunked content encoding of S3 streaming uploads.
 *
 * Signed (x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]):
 *   chunk   := hex-size ";chunk-signature=" 64hex CRLF data CRLF
 *   body    := chunk* "0;chunk-signature=" 64hex CRLF (trailers | CRLF)
 * Unsigned (STREAMING-UNSIGNED-PAYLOAD-TRAILER):
 *   chunk   := hex-size CRLF data CRLF
 *   body    := chunk* "0" CRLF trailers
 * trailers := (name ":" value CRLF)* CRLF
 *
 * A chunk's signature is HMAC(signing key, "AWS4-HMAC-SHA256-PAYLOAD\n" date "\n"
 * scope "\n" previous-signature "\n" SHA256("") "\n" SHA256(data)), chained from the
 * request's seed signature; the final zero-length chunk is signed too. Signed trailers
 * end with "x-amz-trailer-signature:" 64hex, an HMAC over "AWS4-HMAC-SHA256-TRAILER"
 * and the SHA-256 of the other trailer lines, each "name:value\n". Both are computed
 * by http/sigv4.h. A body whose last trailer line is not followed by the empty line is
 * accepted (some SDKs end there); anything else off this grammar is IncompleteBody.
 *
 * The decoder is incremental: bytes may arrive split anywhere.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/crypto.h"
#include "http/sigv4.h"
#include "lake/s3_int.h"
#include "core/text.h"

enum {
    ST_SIZE,      /* reading a size line */
    ST_DATA,      /* copying chunk data */
    ST_DATA_CRLF, /* expecting the CRLF after data */
    ST_TRAILER,   /* reading trailer lines */
    ST_END_CRLF,  /* expecting the CRLF after the last chunk (no trailers) */
    ST_DONE,
};

void s3__chunked_init(struct s3_chunked *c, int signed_chunks, int want_trailer,
                      const uint8_t *signing_key, const char *amz_date, const char *scope,
                      const char *seed_signature, s3_chunk_sink_fn sink, void *sink_arg)
{
    memset(c, 0, sizeof(*c));
    c->signed_chunks = signed_chunks;
    c->want_trailer = want_trailer;
    c->signing_key = signing_key;
    c->amz_date = amz_date;
    c->scope = scope;
    snprintf(c->prev_sig, sizeof(c->prev_sig), "%s", seed_signature ? seed_signature : "");
    c->sink = sink;
    c->sink_arg = sink_arg;
    c->state = ST_SIZE;
}

void s3__chunked_fini(struct s3_chunked *c)
{
    if (c->chunk_sha != NULL) {
        crypto_digest_destroy(c->chunk_sha);
        c->chunk_sha = NULL;
    }
}

static int incomplete(struct err_info *err, const char *what)
{
    return err_set(err, SL_E(INCOMPLETE_BODY), "The request body is not valid aws-chunked: %s",
                   what);
}

/* Checks the current chunk's claimed signature and advances the chain. */
static int verify_chunk(struct s3_chunked *c, struct err_info *err)
{
    uint8_t sha[SHA256_LEN];
    char sha_hex[2 * SHA256_LEN + 1];
    if (c->chunk_sha != NULL) {
        crypto_digest_final(c->chunk_sha, sha);
        crypto_digest_destroy(c->chunk_sha);
        c->chunk_sha = NULL;
    } else {
        crypto_sha256("", 0, sha);
    }
    hex_encode(sha, SHA256_LEN, sha_hex);
    char want[65];
    sigv4_chunk_signature(c->signing_key, c->amz_date, c->scope, c->prev_sig, sha_hex, want);
    if (!crypto_equal(want, c->chunk_sig, 64)) {
        return err_set(err, SL_E(SIGNATURE_DOES_NOT_MATCH),
                       "The request signature we calculated does not match the signature you "
                       "provided. Check your key and signing method.");
    }
    memcpy(c->prev_sig, want, sizeof(c->prev_sig));
    return 0;
}

/* Parses a complete size line (without CRLF). */
static int size_line(struct s3_chunked *c, struct err_info *err)
{
    const char *p = c->line;
    const char *end = c->line + c->line_len;
    uint64_t size = 0;
    int digits = 0;
    while (p < end && hex_digit(*p) >= 0) {
        if (++digits > 15) {
            return incomplete(err, "chunk size too long");
        }
        size = size * 16 + (uint64_t)hex_digit(*p++);
    }
    if (digits == 0) {
        return incomplete(err, "missing chunk size");
    }
    if (c->signed_chunks) {
        static const char ext[] = ";chunk-signature=";
        size_t ext_len = sizeof(ext) - 1;
        if ((size_t)(end - p) != ext_len + 64 || memcmp(p, ext, ext_len) != 0) {
            return incomplete(err, "missing chunk-signature");
        }
        p += ext_len;
        for (int i = 0; i < 64; i++) {
            if (hex_digit(p[i]) < 0) {
                return incomplete(err, "bad chunk-signature");
            }
        }
        memcpy(c->chunk_sig, p, 64);
        c->chunk_sig[64] = '\0';
        c->chunk_sha = crypto_digest_create(CRYPTO_SHA256);
    } else if (p != end) {
        return incomplete(err, "unexpected chunk extension");
    }
    c->chunk_len = size;
    c->remaining = size;
    if (size > 0) {
        c->state = ST_DATA;
        return 0;
    }
    if (c->signed_chunks) {
        int rc = verify_chunk(c, err);
        if (rc < 0) {
            return rc;
        }
    }
    c->state = c->want_trailer ? ST_TRAILER : ST_END_CRLF;
    return 0;
}

/* Verifies x-amz-trailer-signature over the other trailers. */
static int verify_trailer(struct s3_chunked *c, struct err_info *err)
{
    struct crypto_digest *d = crypto_digest_create(CRYPTO_SHA256);
    for (size_t i = 0; i < c->n_trailers; i++) {
        crypto_digest_update(d, c->trailer_name[i], strlen(c->trailer_name[i]));
        crypto_digest_update(d, ":", 1);
        crypto_digest_update(d, c->trailer_value[i], strlen(c->trailer_value[i]));
        crypto_digest_update(d, "\n", 1);
    }
    uint8_t sha[SHA256_LEN];
    char sha_hex[2 * SHA256_LEN + 1];
    crypto_digest_final(d, sha);
    crypto_digest_destroy(d);
    hex_encode(sha, SHA256_LEN, sha_hex);
    char want[65];
    sigv4_trailer_signature(c->signing_key, c->amz_date, c->scope, c->prev_sig, sha_hex, want);
    if (strlen(c->trailer_sig) != 64 || !crypto_equal(want, c->trailer_sig, 64)) {
        return err_set(err, SL_E(SIGNATURE_DOES_NOT_MATCH),
                       "The request signature we calculated does not match the signature you "
                       "provided. Check your key and signing method.");
    }
    return 0;
}

/* Parses a complete trailer line (without CRLF); the empty line ends the body. */
static int trailer_line(struct s3_chunked *c, struct err_info *err)
{
    if (c->line_len == 0) {
        if (c->signed_chunks) {
            int rc = verify_trailer(c, err);
            if (rc < 0) {
                return rc;
            }
        }
        c->state = ST_DONE;
        return 0;
    }
    const char *colon = memchr(c->line, ':', c->line_len);
    if (colon == NULL || colon == c->line) {
        return incomplete(err, "bad trailer");
    }
    size_t name_len = (size_t)(colon - c->line);
    const char *value = colon + 1;
    size_t value_len = c->line_len - name_len - 1;
    while (value_len > 0 && (*value == ' ' || *value == '\t')) {
        value++;
        value_len--;
    }
    while (value_len > 0 && (value[value_len - 1] == ' ' || value[value_len - 1] == '\t')) {
        value_len--;
    }
    char name[64];
    if (name_len >= sizeof(name)) {
        return incomplete(err, "trailer name too long");
    }
    for (size_t i = 0; i < name_len; i++) {
        char ch = c->line[i];
        name[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    }
    name[name_len] = '\0';
    if (strcmp(name, "x-amz-trailer-signature") == 0) {
        if (!c->signed_chunks || value_len != 64 || c->trailer_sig[0] != '\0') {
            return incomplete(err, "unexpected trailer signature");
        }
        memcpy(c->trailer_sig, value, 64);
        c->trailer_sig[64] = '\0';
        return 0;
    }
    if (c->trailer_sig[0] != '\0') {
        return incomplete(err, "trailer after the trailer signature");
    }
    if (c->n_trailers == S3_TRAILERS_MAX || value_len >= sizeof(c->trailer_value[0])) {
        return incomplete(err, "too many or too long trailers");
    }
    memcpy(c->trailer_name[c->n_trailers], name, name_len + 1);
    memcpy(c->trailer_value[c->n_trailers], value, value_len);
    c->trailer_value[c->n_trailers][value_len] = '\0';
    c->n_trailers++;
    return 0;
}

int s3__chunked_feed(struct s3_chunked *c, const uint8_t *data, size_t len, struct err_info *err)
{
    const uint8_t *p = data;
    const uint8_t *end = data + len;
    while (p < end) {
        switch (c->state) {
        case ST_SIZE:
        case ST_TRAILER: {
            /* Accumulate one CRLF-terminated line. */
            uint8_t ch = *p++;
            if (ch == '\n') {
                if (c->line_len == 0 || c->line[c->line_len - 1] != '\r') {
                    return incomplete(err, "bare LF");
                }
                c->line_len--;
                int rc = c->state == ST_SIZE ? size_line(c, err) : trailer_line(c, err);
                c->line_len = 0;
                if (rc < 0) {
                    return rc;
                }
            } else {
                if (c->line_len + 1 >= sizeof(c->line)) {
                    return incomplete(err, "line too long");
                }
                c->line[c->line_len++] = (char)ch;
            }
            break;
        }
        case ST_DATA: {
            size_t n = (size_t)(end - p);
            if (n > c->remaining) {
                n = (size_t)c->remaining;
            }
            if (c->chunk_sha != NULL) {
                crypto_digest_update(c->chunk_sha, p, n);
            }
            int rc = c->sink(c->sink_arg, p, n);
            if (rc < 0) {
                return rc;
            }
            c->decoded_len += n;
            c->remaining -= n;
            p += n;
            if (c->remaining == 0) {
                c->state = ST_DATA_CRLF;
                c->line_len = 0;
            }
            break;
        }
        case ST_DATA_CRLF:
        case ST_END_CRLF: {
            uint8_t ch = *p++;
            if ((c->line_len == 0 && ch != '\r') || (c->line_len == 1 && ch != '\n')) {
                return incomplete(err, "missing CRLF after chunk");
            }
            if (++c->line_len == 2) {
                c->line_len = 0;
                if (c->state == ST_END_CRLF) {
                    c->state = ST_DONE;
                } else {
                    if (c->signed_chunks) {
                        int rc = verify_chunk(c, err);
                        if (rc < 0) {
                            return rc;
                        }
                    }
                    c->state = ST_SIZE;
                }
            }
            break;
        }
        default: return incomplete(err, "data after the last chunk");
        }
    }
    return 0;
}

int s3__chunked_finish(struct s3_chunked *c, struct err_info *err)
{
    if (c->state == ST_DONE) {
        return 0;
    }
    /* Lenient endings: no CRLF after the final chunk, or none after the trailers. */
    if (c->state == ST_END_CRLF && c->line_len == 0) {
        c->state = ST_DONE;
        return 0;
    }
    if (c->state == ST_TRAILER && c->line_len == 0 && (c->n_trailers > 0 || c->trailer_sig[0])) {
        int rc = trailer_line(c, err);
        return rc;
    }
    return incomplete(err, "the body ended early");
}

const char *s3__chunked_trailer(const struct s3_chunked *c, const char *name)
{
    for (size_t i = 0; i < c->n_trailers; i++) {
        if (strcasecmp(c->trailer_name[i], name) == 0) {
            return c->trailer_value[i];
        }
    }
    return NULL;
}
