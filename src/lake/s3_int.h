/*
 * Internals of the S3 adapter shared between its files, unit tests and fuzz targets:
 * the strict XML reader and the aws-chunked body decoder. Never included from another
 * folder.
 */
#ifndef SLUICE_LAKE_S3_INT_H
#define SLUICE_LAKE_S3_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

/* ---- XML (s3_xml.c) ---- */

struct s3_xml_node {
    char *name;      /* local name, owned */
    char *text;      /* decoded character data, owned, never NULL once parsed; no NUL */
    size_t text_len; /* bytes of text */
    struct s3_xml_node *children; /* owned array */
    size_t n_children;
};
/*
 * Parses a whole document. Returns 0 and the root (free with s3__xml_free), -1 when the
 * document is malformed (MalformedXML) or SL_E(NOMEM) when memory ran out.
 */
int s3__xml_parse(const char *data, size_t len, struct s3_xml_node **root_out);
void s3__xml_free(struct s3_xml_node *root);
/* The first child named name, NULL when none. */
const struct s3_xml_node *s3__xml_child(const struct s3_xml_node *n, const char *name);
/* The text of the first child named name, NULL when none. */
const char *s3__xml_child_text(const struct s3_xml_node *n, const char *name);
/* The same with its length in *len_out (0 when none): what keys are read with. */
const char *s3__xml_child_text_len(const struct s3_xml_node *n, const char *name, size_t *len_out);

/* ---- aws-chunked (s3_chunked.c) ---- */

/*
 * Receives decoded payload bytes. Returns 0 or a negative code, which stops decoding
 * and is returned by s3__chunked_feed.
 */
typedef int (*s3_chunk_sink_fn)(void *arg, const uint8_t *data, size_t len);

#define S3_TRAILERS_MAX 4
struct s3_chunked {
    /* Configuration. */
    int signed_chunks;          /* each chunk carries chunk-signature=, verified */
    int want_trailer;           /* trailing headers follow the last chunk */
    const uint8_t *signing_key; /* 32 bytes, for signed chunks */
    const char *amz_date;
    const char *scope;
    char prev_sig[65]; /* the seed signature, then each chunk's */
    s3_chunk_sink_fn sink;
    void *sink_arg;
    /* State. */
    int state;      /* see s3_chunked.c */
    char line[512]; /* the size or trailer line being read */
    size_t line_len;
    uint64_t remaining;              /* data bytes left in the current chunk */
    uint64_t chunk_len;              /* length of the current chunk */
    char chunk_sig[65];              /* signature the current chunk claims */
    struct crypto_digest *chunk_sha; /* SHA-256 of the current chunk (signed mode) */
    uint64_t decoded_len;            /* payload bytes delivered */
    /* Trailers seen: name (lower case) and value. */
    char trailer_name[S3_TRAILERS_MAX][64];
    char trailer_value[S3_TRAILERS_MAX][128];
    size_t n_trailers;
    char trailer_sig[65]; /* x-amz-trailer-signature, "" when none */
};

/*
 * Starts a decoder. seed_signature is the request's verified signature (signed mode),
 * or NULL. Never fails; free with s3__chunked_fini.
 */
void s3__chunked_init(struct s3_chunked *c, int signed_chunks, int want_trailer,
                      const uint8_t *signing_key, const char *amz_date, const char *scope,
                      const char *seed_signature, s3_chunk_sink_fn sink, void *sink_arg);
/*
 * Feeds encoded bytes. Returns 0, the sink's error, or
 *   SL_E(INCOMPLETE_BODY)            malformed framing (message in err);
 *   SL_E(SIGNATURE_DOES_NOT_MATCH)   a chunk or trailer signature is wrong.
 */
int s3__chunked_feed(struct s3_chunked *c, const uint8_t *data, size_t len, struct err_info *err);
/* Checks the body ended after the last chunk (and trailers). 0 or SL_E(INCOMPLETE_BODY). */
int s3__chunked_finish(struct s3_chunked *c, struct err_info *err);
/* The value of a trailer (name in lower case), NULL when absent. */
const char *s3__chunked_trailer(const struct s3_chunked *c, const char *name);
void s3__chunked_fini(struct s3_chunked *c);

/* ---- multipart/form-data (s3_form.c), for POST Object ---- */

struct s3_form_field {
    char *name;       /* as sent, owned */
    char *value;      /* owned, NUL-terminated; value_len bytes (may hold NULs) */
    size_t value_len;
};
struct s3_form {
    struct s3_form_field *fields; /* the fields before the file, in order */
    size_t n_fields;
    int has_file;
    char *file_name;         /* the file part's filename, owned ("" when none given) */
    char *file_content_type; /* owned, NULL when the part has none */
    size_t file_offset;      /* the file's bytes within the body */
    size_t file_len;
};
#define S3_FORM_MAX_FIELDS 256
#define S3_FORM_MAX_VALUE (64 * 1024) /* a field other than the file (a policy is 20 KB) */

/* The boundary of a multipart/form-data Content-Type into out (at most 70 characters).
   0, or -1 when the type is not multipart/form-data with a usable boundary. */
int s3__form_boundary(const char *content_type, char *out, size_t size);
/*
 * Parses body up to and including the part named "file" (parts after it are ignored,
 * as S3 ignores them). Returns 0, or SL_E(MALFORMED_POST) with the reason in err, or
 * SL_E(NOMEM). Free with s3__form_fini, also after a failure.
 */
int s3__form_parse(const uint8_t *body, size_t len, const char *boundary, struct s3_form *out,
                   struct err_info *err);
void s3__form_fini(struct s3_form *f);
/* The value of the first field named name (any case), NULL when none. */
const struct s3_form_field *s3__form_get(const struct s3_form *f, const char *name);

/* ---- lifecycle (s3_lifecycle.c) ---- */

/* A LifecycleConfiguration document checked as S3 checks it, as the lifecycle document
   (JSON text, caller frees; lake_lifecycle.h). 0, or S3's error in err. */
int s3__lifecycle_parse(const struct s3_xml_node *root, char **doc_out, struct err_info *err);

#endif
