/*
 * A growable byte buffer. Growth uses try_realloc: a buffer's size is usually chosen by
 * a client, so running out of memory is an error the caller reports, not an abort.
 * Append functions return 0 or SL_E(NOMEM); after a failure the buffer keeps its old
 * contents and further appends keep failing (sticky), so a caller may check once at
 * the end.
 */
#ifndef SLUICE_CORE_BUF_H
#define SLUICE_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *data; /* owned; NUL-terminated after every append (not counted in len) */
    size_t len;    /* bytes used */
    size_t cap;    /* bytes allocated */
    int failed;    /* a previous growth failed */
};

void buf_init(struct buf *b);
void buf_fini(struct buf *b);
void buf_reset(struct buf *b);
/* Makes room for n more bytes; returns a pointer to write them at, or NULL. */
uint8_t *buf_reserve(struct buf *b, size_t n);
int buf_append(struct buf *b, const void *data, size_t len);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included. */
int buf_json_string(struct buf *b, const char *s, size_t len);
/*
 * Appends s[0, len) as XML character data or an attribute value: & < > " ' become
 * entities, and the control characters but tab and newline become "&#xD;"-style
 * references ('\r' included, which a parser would otherwise turn into '\n'). The one
 * XML escaper of every XML answer (STS, the error documents, S3).
 */
int buf_xml_escape(struct buf *b, const char *s, size_t len);
/* Takes the data out of the buffer; the caller frees it. The buffer is left empty. */
uint8_t *buf_steal(struct buf *b, size_t *len_out);
/* 0, or SL_E(NOMEM) when any append failed. */
int buf_status(const struct buf *b);

#endif
