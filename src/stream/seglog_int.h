/*
 * Internals of the segment log shared by seglog.c (the live log), seglog_check.c (the
 * offline checker) and seglog_format.c (encoding, decoding and scanning of the files, whose
 * top comment is the format specification). Not for use outside src/stream/ except by the
 * segment log's own tests and fuzz target.
 */
#ifndef SLUICE_STREAM_SEGLOG_INT_H
#define SLUICE_STREAM_SEGLOG_INT_H

#include <stddef.h>
#include <stdint.h>

#include "stream/seglog.h"

#define SEG_MAGIC "SLSEGv01"      /* 8 bytes at offset 0 of a segment file */
#define IDX_MAGIC "SLIDXv01"      /* 8 bytes at offset 0 of an index file */
#define IDX_SEAL_MAGIC "SLIDXEND" /* 8 bytes opening the footer of a sealed index file */
#define SEG_VERSION 1u
#define SEG_HEADER_LEN 32u
#define FRAME_HEADER_LEN 32u
#define IDX_HEADER_LEN 32u
#define IDX_ENTRY_LEN 24u
#define IDX_FOOTER_LEN 40u
#define FRAME_MAX_LEN (FRAME_HEADER_LEN + SEGLOG_MAX_PK_LEN + SEGLOG_MAX_DATA_LEN)
#define SEG_NAME_DIGITS 20 /* decimal digits of the base index in a file name */
#define SEG_SUFFIX ".seg"
#define IDX_SUFFIX ".idx"
#define SEGLOG_READ_CHUNK (256u * 1024u)  /* smallest pread of a reader, bytes */
#define SEGLOG_READ_MAX_CHUNK (2048u * 1024u) /* a long read grows its preads to this */
#define SEGLOG_SCAN_CHUNK (1024u * 1024u) /* pread size of a full scan, bytes */

/* One sparse index entry: the record at byte `offset` of its segment. */
struct seglog_idx_entry {
    uint64_t index;     /* record index */
    uint64_t offset;    /* byte offset of the record's frame in the segment file */
    int64_t arrival_ms; /* the record's arrival time */
};

/* A decoded frame; pk and data point into the buffer passed to seglog__frame_decode. */
struct seglog_frame {
    uint32_t len; /* whole frame, header included, bytes */
    uint64_t index;
    int64_t arrival_ms;
    uint16_t pk_len;
    uint16_t flags; /* SEGLOG_F_* */
    uint32_t data_len;
    const uint8_t *pk;
    const uint8_t *data;
};

enum frame_result {
    FRAME_OK = 0, /* a whole, valid frame */
    FRAME_SHORT,  /* more bytes needed: *need_out says how many from the frame's start */
    FRAME_BAD,    /* invalid: *why_out says why */
};

/* Segment file header (offsets in seglog_format.c). */
struct seglog_seg_header {
    uint64_t base_index;     /* index of the segment's first record */
    int64_t arrival_floor_ms; /* no record of this segment arrived before this */
};

/* The footer of a sealed index file. */
struct seglog_idx_footer {
    uint64_t seg_len;        /* exact length of the sealed segment file, bytes */
    uint64_t end_index;      /* index after the segment's last record */
    int64_t last_arrival_ms; /* arrival of the last record (the floor when none) */
};

/* Encodes the segment header into out[SEG_HEADER_LEN]. */
void seglog__seg_header_encode(uint8_t *out, const struct seglog_seg_header *h);
/* Decodes a segment header; NULL when valid, else why it is not. */
const char *seglog__seg_header_decode(const uint8_t *in, struct seglog_seg_header *h);

/*
 * Writes the frame of r at dst (FRAME_HEADER_LEN + pk_len + data_len bytes, returned) with
 * index and arrival left zero and the CRC of the key and data in the CRC field; the appender
 * later finishes it under its lock with seglog__frame_finish. Caller validated r.
 */
size_t seglog__frame_encode(uint8_t *dst, const struct seglog_record_in *r);
/* Sets the index and arrival of a frame made by seglog__frame_encode and completes its CRC. */
void seglog__frame_finish(uint8_t *frame, uint64_t index, int64_t arrival_ms);

/*
 * Decodes the frame at p with avail bytes available. expect_index is the index it must
 * carry; min_arrival_ms the lowest arrival it may carry. Returns FRAME_OK (and fills *f),
 * FRAME_SHORT (*need_out = bytes needed from p) or FRAME_BAD (*why_out).
 */
enum frame_result seglog__frame_decode(const uint8_t *p, size_t avail, uint64_t expect_index,
                                       int64_t min_arrival_ms, struct seglog_frame *f,
                                       size_t *need_out, const char **why_out);

/* Growable array of sparse entries. */
struct seglog_entries {
    struct seglog_idx_entry *v;
    size_t n, cap;
};
void seglog__entries_push(struct seglog_entries *e, uint64_t index, uint64_t offset,
                          int64_t arrival_ms);
void seglog__entries_free(struct seglog_entries *e);

/* Called by a scan for every valid record (arg, its frame offset, the frame). */
typedef void (*seglog_scan_record_fn)(void *arg, uint64_t offset, const struct seglog_frame *f);

/* A full scan of one segment file. Fill the inputs, zero the rest. */
struct seglog_scan {
    /* in */
    uint64_t base_index;        /* from the file name; the header must agree */
    uint32_t index_every_bytes; /* sparse entry granularity */
    seglog_scan_record_fn on_record; /* may be NULL */
    void *arg;
    /* out */
    uint64_t file_len;       /* file length at the scan, bytes */
    int header_short;        /* 1: file shorter than a header or header all zero (torn) */
    uint64_t valid_len;      /* offset after the last valid record (0 if header bad/short) */
    uint64_t end_index;      /* index after the last valid record */
    uint64_t n_records;
    int64_t arrival_floor_ms; /* from the header */
    int64_t last_arrival_ms;  /* of the last valid record, the floor when none */
    struct seglog_entries entries; /* sparse entries; caller frees */
    const char *bad_why;     /* NULL: valid to the end of file; else why the scan stopped */
    uint64_t bad_offset;     /* where it stopped */
};

/* Scans the segment open at fd. Returns 0 (problems go into s->bad_why),
 * -errno on a failed read, SL_E(NOMEM). */
int seglog__scan(int fd, struct seglog_scan *s);

/* Decides whether a record at offset gets a sparse entry, given the entries so far. */
int seglog__entry_due(const struct seglog_entries *e, uint64_t offset, uint32_t every);

/* Index file header and entries into out (IDX_HEADER_LEN + n * IDX_ENTRY_LEN bytes, the
 * length returned), plus the footer when footer is not NULL (IDX_FOOTER_LEN more). Caller
 * sizes out with seglog__idx_encoded_len. */
size_t seglog__idx_encoded_len(size_t n_entries, int with_footer);
size_t seglog__idx_encode(uint8_t *out, uint64_t base_index, uint32_t index_every_bytes,
                          const struct seglog_idx_entry *v, size_t n,
                          const struct seglog_idx_footer *footer);
/* Encodes entries alone (for appending to a growing index file). */
void seglog__idx_entry_encode(uint8_t *out, const struct seglog_idx_entry *e);

/*
 * Reads and decodes the index file at path. On 0: *why_out is NULL and entries/footer are
 * filled (*has_footer says whether the file is sealed), or *why_out says what is wrong
 * (missing, bad header, bad size, bad footer CRC, entries out of order). Returns -errno only
 * for read errors other than ENOENT; SL_E(NOMEM).
 */
int seglog__idx_load(const char *path, uint64_t base_index, struct seglog_entries *entries,
                     struct seglog_idx_footer *footer, int *has_footer, const char **why_out);

/* Parses "<20 digits>.seg" into *base; 1 when it matches, else 0. */
int seglog__parse_seg_name(const char *name, uint64_t *base);

/* Lists the bases of the segment files in dir, sorted ascending, into *bases (caller frees).
 * Returns 0 or -errno. */
int seglog__list_segments(const char *dir, uint64_t **bases, size_t *n);

/* Reads exactly len bytes at off (fewer only at end of file: *got_out). Returns 0 or -errno. */
int seglog__pread_full(int fd, void *buf, size_t len, uint64_t off, size_t *got_out);
/* Writes exactly len bytes at off. Returns 0 or -errno (-EIO for a write that made no
 * progress). */
int seglog__pwrite_full(int fd, const void *buf, size_t len, uint64_t off);

#endif
