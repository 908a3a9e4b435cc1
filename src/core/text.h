/*
 * Percent-decoding and query strings: the one rule every request parser uses.
 *
 * Decoding. "%XX" (two hexadecimal digits, either case) is the byte 0xXX; a '%' not
 * followed by two hexadecimal digits stays a '%'. Where '+' stands depends on the part:
 *
 *   PCT_QUERY  a query string or a form body: '+' is a space, as in
 *              application/x-www-form-urlencoded. S3 reads a '+' in a query parameter
 *              as a space, and the SigV4 canonical query (src/http/sigv4.c) is built
 *              from the same decoded values, so what a signature covers is exactly what
 *              an operation reads: "a+b" and "a%20b" are one request; "a%2Bb" (what
 *              every SDK sends for a '+') is another, and rewriting one into the other
 *              breaks the signature.
 *   PCT_PATH   a path or a header that carries one (x-amz-copy-source): '+' is itself,
 *              as in S3 keys.
 *
 * Query strings. Fields are separated by '&'; each is "name=value" (split at the first
 * '=') or a bare "name" (value ""); empty fields are skipped. Names and values are
 * decoded after splitting, so "%26" and "%3D" are data, and a name is compared only
 * after decoding ("%61cl" is "acl").
 *
 * Everything sized by the client is allocated with the may-fail allocator (core/mem.h):
 * running out of memory is SL_E(NOMEM), an error reply, never an abort.
 */
#ifndef SLUICE_CORE_TEXT_H
#define SLUICE_CORE_TEXT_H

#include <stddef.h>

#include "core/buf.h"

/* The value of a hexadecimal digit, or -1 when c is not one. */
int hex_digit(int c);

/* 1 when the n bytes are valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int text_utf8_valid(const void *bytes, size_t n);

enum pct_mode {
    PCT_PATH,  /* '+' is '+' */
    PCT_QUERY, /* '+' is a space */
};

/* Decodes s[0, len) into out, which has room for len bytes (decoding never lengthens);
   returns the decoded length. No NUL is added. */
size_t pct_decode_into(char *out, const char *s, size_t len, enum pct_mode mode);
/* Appends s[0, len) decoded to out. Returns 0 or SL_E(NOMEM) (out is then failed). */
int pct_decode(struct buf *out, const char *s, size_t len, enum pct_mode mode);

/*
 * Decodes s[0, len) into a new NUL-terminated string the caller frees. *len_out (may be
 * NULL) gets the decoded length, which differs from strlen() when "%00" was decoded.
 * Returns NULL when out of memory.
 */
char *pct_decode_dup(const char *s, size_t len, enum pct_mode mode, size_t *len_out);

/* What pct_encode leaves as it is besides RFC 3986's unreserved characters. */
enum {
    PCT_KEEP_SLASH = 1, /* '/' (a path; S3's encoding-type=url) */
    PCT_KEEP_PCT = 2,   /* '%' (a path already encoded, as S3's SigV4 canonical path) */
};

/*
 * Appends s[0, len) with every byte but A-Z a-z 0-9 - _ . ~ (and what keep names) as
 * "%XX", upper-case hexadecimal: the encoding SigV4 and S3 both specify, so a space is
 * "%20", never '+'. Returns 0 or SL_E(NOMEM).
 */
int pct_encode(struct buf *out, const char *s, size_t len, int keep);

/* One field of a query string as sent (still encoded); pointers into the query. */
struct query_field {
    const char *name;
    size_t name_len;
    const char *value; /* after the '='; "" (value_len 0) for a bare name */
    size_t value_len;
    int has_value; /* 1 when the field had an '=' */
};

/*
 * Reads the field of s[0, len) that starts at or after *pos, skipping empty ones, and
 * moves *pos past it. Returns 1 with *out filled, or 0 at the end. Allocates nothing.
 */
int query_next(const char *s, size_t len, size_t *pos, struct query_field *out);

/*
 * The decoded fields of a query string or form body, in the order sent. Owns its
 * strings; every name and value is NUL-terminated ("" for a bare name).
 */
struct query_params {
    char **names;  /* decoded names, owned */
    char **values; /* decoded values, owned */
    size_t n;      /* fields held */
    size_t cap;    /* slots allocated (grows geometrically) */
};

void query_params_init(struct query_params *p);
/* Frees every field; p may be zeroed or half-built. */
void query_params_fini(struct query_params *p);
/*
 * Decodes the fields of s[0, len) (PCT_QUERY) and appends them to p. Returns 0, or
 *   SL_E(NOMEM)       out of memory (the fields read so far stay in p);
 *   SL_E(VALIDATION)  a name or value decodes to a NUL byte ("%00"), which no AWS
 *                     parameter holds and a C string would silently cut.
 */
int query_params_parse(struct query_params *p, const char *s, size_t len);
/* The value of the first field named name, or NULL. */
const char *query_params_get(const struct query_params *p, const char *name);

#endif
