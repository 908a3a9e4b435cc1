/*
 * CBOR (RFC 8949) to and from jansson values, for the AWS JSON protocols spoken in
 * CBOR (`application/x-amz-cbor-1.1`, the AWS SDK for Java's default for Kinesis): the
 * same document model as JSON, with blobs as byte strings and timestamps as tag 1.
 *
 * The decoder reads untrusted input and is strict: exactly one data item filling the
 * input, definite or indefinite lengths (indefinite strings made of definite chunks of
 * their own type), text strings in valid UTF-8, map keys text strings and never
 * repeated, no reserved additional information, no simple value but false, true, null
 * and undefined, a bounded nesting depth, and no length claiming more bytes than are
 * left (so a few bytes never allocate much). Byte strings become their base64 text, as
 * JSON carries blobs; tag 1 (epoch time) becomes a number of seconds; bignums (tags 2
 * and 3) are refused; every other tag is read through. Half, single and double floats
 * become reals; NaN and the infinities, which JSON cannot hold, are refused.
 */
#ifndef SLUICE_CORE_CBOR_H
#define SLUICE_CORE_CBOR_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

#define CBOR_MAX_DEPTH 64

struct cbor_decode_opts {
    int max_depth;      /* nesting of arrays, maps and tags; 0 means CBOR_MAX_DEPTH */
    double epoch_scale; /* tag 1's value times this is seconds; 0 means 1 (RFC 8949) */
};

/*
 * Decodes [data, data+len) into *out (OUT, a new reference). Returns 0, or
 * SL_E(SERIALIZATION) with a message in err (may be NULL) for input that is not one
 * well-formed data item within the limits, or SL_E(NOMEM). opts may be NULL.
 */
int cbor_decode(const uint8_t *data, size_t len, const struct cbor_decode_opts *opts, json_t **out,
                struct err_info *err);

struct cbor_encode_opts {
    /* NULL-terminated member names, matched at any depth; either list may be NULL. */
    const char *const *blob_members;  /* base64 strings written as byte strings */
    const char *const *epoch_members; /* numbers of seconds written as tag 1 */
    /* The epoch written for seconds s is the integer round(s * epoch_scale); 0 means
       a float of seconds. */
    double epoch_scale;
};

/*
 * Appends v as CBOR to out: objects as definite maps, arrays as definite arrays,
 * integers in their shortest form, reals as doubles. A blob member whose string is not
 * valid base64 stays a text string. Returns 0 or SL_E(NOMEM). opts may be NULL.
 */
int cbor_encode(const json_t *v, const struct cbor_encode_opts *opts, struct buf *out);

/*
 * Appends v as compact JSON text to out, as the JSON protocols carry the documents CBOR
 * decodes to (strings escaped as JSON requires, NULs as \u0000, reals to 17 significant
 * digits): a quicker writer than jansson's for the large base64 strings of records.
 * Returns 0 or SL_E(NOMEM).
 */
int cbor_json_text(const json_t *v, struct buf *out);

#endif
