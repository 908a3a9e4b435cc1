/*
 * A single-pass JSON reader for the record hot path (PutRecords, GetRecords' callers,
 * later PutRecordBatch), where building a jansson tree costs more than the work itself.
 *
 * It walks a buffer without allocating: the caller asks for the structure it expects
 * (object, key, array element, string) and the reader checks the text is exactly that.
 * Strings come back as raw spans of the input; jscan_unescape decodes one when it has
 * escapes. Any malformed input makes the call return -1 and leaves a description in
 * s->error; the reader then refuses everything (sticky), so a caller may check once.
 */
#ifndef SLUICE_CORE_JSONSCAN_H
#define SLUICE_CORE_JSONSCAN_H

#include <stddef.h>

struct jscan {
    const char *p;     /* next unread byte */
    const char *end;   /* one past the last byte */
    int depth;         /* nesting, capped to stop stack exhaustion in skip */
    const char *error; /* NULL, or what went wrong */
};

struct jstr {
    const char *raw; /* the characters between the quotes, escapes still in place */
    size_t raw_len;
    int has_escapes; /* 1 when raw contains a backslash */
};

enum jscan_kind { JSCAN_STRING, JSCAN_NUMBER, JSCAN_OBJECT, JSCAN_ARRAY, JSCAN_BOOL, JSCAN_NULL,
                  JSCAN_END };

void jscan_init(struct jscan *s, const char *text, size_t len);
/* What the next value is, without consuming it (JSCAN_END at end of input). */
enum jscan_kind jscan_peek(struct jscan *s);
/* Consumes '{'. */
int jscan_object_begin(struct jscan *s);
/* 1 and the key when another member follows (':' consumed), 0 at '}', -1 on error. */
int jscan_object_next(struct jscan *s, struct jstr *key);
/* Consumes '['. */
int jscan_array_begin(struct jscan *s);
/* 1 when another element follows, 0 at ']' (consumed), -1 on error. */
int jscan_array_next(struct jscan *s);
int jscan_string(struct jscan *s, struct jstr *out);
/*
 * A string member that may be null: a string sets *has to 1 and *out; null is consumed
 * and leaves both alone. Any other value is an error ("unexpected value type"), -1.
 */
int jscan_string_or_null(struct jscan *s, struct jstr *out, int *has);
/* A number as a span of the input. */
int jscan_number(struct jscan *s, const char **text, size_t *len);
/* Skips any one value, nested ones included. */
int jscan_skip(struct jscan *s);
/* 0 when only whitespace remains. */
int jscan_finish(struct jscan *s);
/* 1 when key equals the literal name (no escapes in key). */
int jstr_eq(const struct jstr *key, const char *name);
/*
 * Decodes a string's escapes into out (at least raw_len bytes) as UTF-8. Returns the
 * decoded length, or -1 for a bad escape or unpaired surrogate.
 */
long jscan_unescape(const struct jstr *str, char *out);

#endif
