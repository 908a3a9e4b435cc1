/*
 * Base64 (RFC 4648, standard alphabet with padding), as AWS JSON blobs use it, and the
 * URL-safe alphabet without padding for opaque tokens.
 */
#ifndef SLUICE_CORE_BASE64_H
#define SLUICE_CORE_BASE64_H

#include <stddef.h>
#include <stdint.h>

#define BASE64_ENCODED_LEN(n) ((((n) + 2) / 3) * 4)
#define BASE64_DECODED_MAX(n) (((n) / 4) * 3 + 3)

/* Encodes len bytes into out (BASE64_ENCODED_LEN(len) bytes, no NUL); returns that. */
size_t base64_encode(const uint8_t *in, size_t len, char *out);
/*
 * Decodes strictly: length a multiple of 4, padding only at the end, no whitespace.
 * Writes at most BASE64_DECODED_MAX(len) bytes. Returns the decoded length, or -1 when
 * the input is not valid base64.
 */
long base64_decode(const char *in, size_t len, uint8_t *out);

/* URL-safe alphabet, no padding. Decode returns -1 on bad input. */
size_t base64url_encode(const uint8_t *in, size_t len, char *out);
long base64url_decode(const char *in, size_t len, uint8_t *out);

#endif
