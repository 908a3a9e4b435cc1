/*
 * Segment log: on-disk format, validity rules and recovery.
 *
 * A shard's log is one directory holding, for each segment, two files named by the index of
 * the segment's first record (its base), zero-padded to 20 decimal digits:
 *     00000000000000012000.seg   the records, append-only
 *     00000000000000012000.idx   its sparse index (a cache: rebuilt whenever in doubt)
 * Segments follow each other without gap: a segment's base is the previous one's end index.
 * The newest segment is the active one (appends go there); all others are sealed.
 * Integers are little-endian. CRC is zlib's crc32 (the ISO-HDLC / IEEE 802.3 polynomial).
 *
 * Segment file header (32 bytes)
 *   off len field
 *     0   8 magic "SLSEGv01"
 *     8   4 version, 1
 *    12   4 header length, 32
 *    16   8 base index: must equal the index in the file name
 *    24   8 arrival floor (ms, signed): no record of the segment arrived before it (the
 *           previous record's arrival when the segment was created, so arrival times stay
 *           non-decreasing across restarts even after every record was trimmed)
 *
 * Record frame (32-byte header, then partition key, then data), frames back to back from
 * offset 32:
 *   off len field
 *     0   4 frame length: 32 + pk_len + data_len
 *     4   4 CRC: crc32 over the partition key, then the data, then frame bytes 8..31 (that
 *           order lets the appender checksum the payload before it takes the log's lock
 *           and add the index and arrival time under it)
 *     8   8 record index
 *    16   8 arrival time (ms since the epoch, signed)
 *    24   2 pk_len, 1..256
 *    26   2 flags: SEGLOG_F_* bits (seglog.h); 0 in logs written before flags existed
 *    28   4 data_len, 0..1 MiB
 *    32   pk_len bytes of partition key, then data_len bytes of data
 *
 * A frame is valid when all of: its length field equals 32 + pk_len + data_len; pk_len and
 * data_len are in range; flags has no unknown bit; the whole frame lies inside the file; the CRC
 * matches; its index is the previous frame's plus one (the base for the first); its arrival
 * is not below the previous frame's (the header's floor for the first).
 *
 * Index file
 *   header (32 bytes): magic "SLIDXv01" (8), version 1 (4), index_every_bytes (4), base
 *   index (8), reserved 0 (8);
 *   then entries of 24 bytes: record index (8), frame offset in the segment (8), arrival
 *   ms (8). The first record of a segment always has an entry; a later record gets one when
 *   its offset is at least index_every_bytes past the previous entry's. Entries are appended
 *   as the segment grows (not fsynced).
 *   Sealed footer (40 bytes), written when the segment is sealed: magic "SLIDXEND" (8),
 *   segment file length (8), end index (8), last arrival ms (8), entry count (4), crc32 of
 *   every byte of the file before this field (4).
 *   A sealed index file is trusted when its header matches the segment, its length is
 *   32 + 24 * count + 40, the footer CRC matches, its segment length equals the segment
 *   file's length, and its entries are in order inside the segment. Anything else, and it
 *   is rebuilt from a full scan of the segment.
 *
 * Recovery (seglog_open)
 *   1. List the *.seg files and sort them by base. None: create the first segment (base =
 *      the caller's first index), fsync it and the directory.
 *   2. Each sealed segment: check its header; load its index file if trusted (above), else
 *      scan it fully and rewrite the index file. A sealed segment was fdatasynced before the
 *      next segment was created, so any invalid frame in it is damage: open fails with
 *      SL_E(CORRUPT) rather than drop durable records.
 *   3. Neighbours must meet: end index of one == base of the next. An overlap or a gap is
 *      damage (SL_E(CORRUPT)): a retention trim deletes whole segments oldest first, so one
 *      interrupted by a crash leaves a contiguous suffix, never a gap; a gap means records
 *      are missing (a sealed segment cut short, a segment deleted from the middle), and
 *      deleting the older segments to close it would lose acknowledged records as well.
 *   4. The newest segment: a file shorter than its header, or a zero header, was torn while
 *      being created: rewrite the header. Otherwise scan it; at the first invalid frame (torn
 *      write: bad length, frame past end of file, bad CRC, index or arrival out of order)
 *      cut the file there (ftruncate), rebuild its index file, fdatasync it. Every record
 *      left is whole, checked and durable; the next index is the one after the last.
 *
 * Durability order (seglog.c): records reach the file with one pwrite per append; a record
 * is durable once an fdatasync of its segment completed after its write. A failed write is
 * cut off the file (and the cut fdatasynced) before the append reports it; a failed flush
 * cuts the newest segment back to its last durable length before any sync reports it; so
 * step 4 never finds a whole record whose append or sync was reported failed. Rolling to a new
 * segment fdatasyncs the old one, writes its index footer, creates the new one and fsyncs
 * the directory, all before any record goes to the new segment.
 */
#include "stream/seglog_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/crc.h"
#include "core/err.h"
#include "core/file.h"
#include "core/mem.h"

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) | ((uint64_t)get_u32(p + 4) << 32);
}

static uint32_t crc(uint32_t c, const uint8_t *p, size_t len)
{
    return crc32_update(c, p, len);
}

void seglog__seg_header_encode(uint8_t *out, const struct seglog_seg_header *h)
{
    memcpy(out, SEG_MAGIC, 8);
    put_u32(out + 8, SEG_VERSION);
    put_u32(out + 12, SEG_HEADER_LEN);
    put_u64(out + 16, h->base_index);
    put_u64(out + 24, (uint64_t)h->arrival_floor_ms);
}

const char *seglog__seg_header_decode(const uint8_t *in, struct seglog_seg_header *h)
{
    if (memcmp(in, SEG_MAGIC, 8) != 0) {
        return "bad segment magic";
    }
    if (get_u32(in + 8) != SEG_VERSION || get_u32(in + 12) != SEG_HEADER_LEN) {
        return "unknown segment version";
    }
    h->base_index = get_u64(in + 16);
    h->arrival_floor_ms = (int64_t)get_u64(in + 24);
    return NULL;
}

size_t seglog__frame_encode(uint8_t *dst, const struct seglog_record_in *r)
{
    size_t len = FRAME_HEADER_LEN + r->pk_len + r->data_len;
    memset(dst, 0, FRAME_HEADER_LEN);
    put_u32(dst, (uint32_t)len);
    put_u16(dst + 24, r->pk_len);
    put_u16(dst + 26, r->flags);
    put_u32(dst + 28, r->data_len);
    memcpy(dst + FRAME_HEADER_LEN, r->partition_key, r->pk_len);
    if (r->data_len > 0) {
        memcpy(dst + FRAME_HEADER_LEN + r->pk_len, r->data, r->data_len);
    }
    uint32_t c = crc(0, dst + FRAME_HEADER_LEN, r->pk_len + (size_t)r->data_len);
    put_u32(dst + 4, c);
    return len;
}

void seglog__frame_finish(uint8_t *frame, uint64_t index, int64_t arrival_ms)
{
    put_u64(frame + 8, index);
    put_u64(frame + 16, (uint64_t)arrival_ms);
    uint32_t c = crc(get_u32(frame + 4), frame + 8, FRAME_HEADER_LEN - 8);
    put_u32(frame + 4, c);
}

enum frame_result seglog__frame_decode(const uint8_t *p, size_t avail, uint64_t expect_index,
                                       int64_t min_arrival_ms, struct seglog_frame *f,
                                       size_t *need_out, const char **why_out)
{
    if (avail < FRAME_HEADER_LEN) {
        *need_out = FRAME_HEADER_LEN;
        return FRAME_SHORT;
    }
    uint32_t len = get_u32(p);
    uint16_t pk_len = get_u16(p + 24);
    uint32_t data_len = get_u32(p + 28);
    if (pk_len == 0 || pk_len > SEGLOG_MAX_PK_LEN) {
        *why_out = "partition key length out of range";
        return FRAME_BAD;
    }
    if (data_len > SEGLOG_MAX_DATA_LEN) {
        *why_out = "data length out of range";
        return FRAME_BAD;
    }
    if (len != FRAME_HEADER_LEN + pk_len + data_len) {
        *why_out = "frame length disagrees with key and data lengths";
        return FRAME_BAD;
    }
    if ((get_u16(p + 26) & ~SEGLOG_F_KNOWN) != 0) {
        *why_out = "unknown flags";
        return FRAME_BAD;
    }
    if (avail < len) {
        *need_out = len;
        return FRAME_SHORT;
    }
    uint32_t c = crc(0, p + FRAME_HEADER_LEN, pk_len + (size_t)data_len);
    c = crc(c, p + 8, FRAME_HEADER_LEN - 8);
    if (c != get_u32(p + 4)) {
        *why_out = "checksum mismatch";
        return FRAME_BAD;
    }
    uint64_t index = get_u64(p + 8);
    int64_t arrival_ms = (int64_t)get_u64(p + 16);
    if (index != expect_index) {
        *why_out = "record index out of sequence";
        return FRAME_BAD;
    }
    if (arrival_ms < min_arrival_ms) {
        *why_out = "arrival time goes backwards";
        return FRAME_BAD;
    }
    f->len = len;
    f->index = index;
    f->arrival_ms = arrival_ms;
    f->pk_len = pk_len;
    f->flags = get_u16(p + 26);
    f->data_len = data_len;
    f->pk = p + FRAME_HEADER_LEN;
    f->data = p + FRAME_HEADER_LEN + pk_len;
    return FRAME_OK;
}

void seglog__entries_push(struct seglog_entries *e, uint64_t index, uint64_t offset,
                          int64_t arrival_ms)
{
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 16;
        e->v = xrealloc(e->v, e->cap * sizeof(*e->v));
    }
    e->v[e->n++] = (struct seglog_idx_entry){index, offset, arrival_ms};
}

void seglog__entries_free(struct seglog_entries *e)
{
    free(e->v);
    e->v = NULL;
    e->n = e->cap = 0;
}

int seglog__entry_due(const struct seglog_entries *e, uint64_t offset, uint32_t every)
{
    return e->n == 0 || offset - e->v[e->n - 1].offset >= every;
}

int seglog__pread_full(int fd, void *buf, size_t len, uint64_t off, size_t *got_out)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = file_pread(fd, (uint8_t *)buf + got, len - got, (off_t)(off + got));
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (r == 0) {
            break;
        }
        got += (size_t)r;
    }
    *got_out = got;
    return 0;
}

int seglog__pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t r = file_pwrite(fd, (const uint8_t *)buf + done, len - done, (off_t)(off + done));
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (r == 0) {
            return -EIO;
        }
        done += (size_t)r;
    }
    return 0;
}

static int all_zero(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] != 0) {
            return 0;
        }
    }
    return 1;
}

/* Scans frames from SEG_HEADER_LEN to the end of the file or the first invalid frame. */
static int scan_frames(int fd, struct seglog_scan *s)
{
    size_t cap = SEGLOG_SCAN_CHUNK;
    uint8_t *buf = try_malloc(cap);
    if (buf == NULL) {
        return SL_E(NOMEM);
    }
    int rc = 0;
    uint64_t off = SEG_HEADER_LEN;
    uint64_t expect = s->base_index;
    int64_t last_arrival = s->arrival_floor_ms;
    while (off < s->file_len) {
        size_t want = cap;
        if (s->file_len - off < want) {
            want = (size_t)(s->file_len - off);
        }
        size_t got = 0;
        rc = seglog__pread_full(fd, buf, want, off, &got);
        if (rc != 0) {
            goto out_free;
        }
        if (got == 0) {
            break; /* the file shrank under us: treat as its end */
        }
        size_t pos = 0;
        int stop = 0;
        while (pos < got) {
            struct seglog_frame f;
            size_t need = 0;
            const char *why = NULL;
            enum frame_result fr =
                seglog__frame_decode(buf + pos, got - pos, expect, last_arrival, &f, &need, &why);
            if (fr == FRAME_OK) {
                uint64_t foff = off + pos;
                if (seglog__entry_due(&s->entries, foff, s->index_every_bytes)) {
                    seglog__entries_push(&s->entries, f.index, foff, f.arrival_ms);
                }
                if (s->on_record != NULL) {
                    s->on_record(s->arg, foff, &f);
                }
                expect++;
                last_arrival = f.arrival_ms;
                s->n_records++;
                pos += f.len;
                s->valid_len = off + pos;
                continue;
            }
            if (fr == FRAME_BAD) {
                s->bad_why = why;
                s->bad_offset = off + pos;
                stop = 1;
                break;
            }
            /* FRAME_SHORT: refill from this frame, unless a whole chunk read from it
             * (or what the file still holds) was already too short. */
            if (pos > 0 && off + pos + need <= s->file_len) {
                break;
            }
            if (off + pos + need > s->file_len || need <= cap) {
                s->bad_why = "record cut short by end of file";
                s->bad_offset = off + pos;
                stop = 1;
                break;
            }
            uint8_t *nb = try_realloc(buf, need);
            if (nb == NULL) {
                rc = SL_E(NOMEM);
                goto out_free;
            }
            buf = nb;
            cap = need;
            break; /* refill from this frame */
        }
        if (stop) {
            break;
        }
        off += pos;
    }
    s->end_index = expect;
    s->last_arrival_ms = last_arrival;
out_free:
    free(buf);
    return rc;
}

int seglog__scan(int fd, struct seglog_scan *s)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        return -errno;
    }
    s->file_len = (uint64_t)st.st_size;
    s->valid_len = 0;
    s->end_index = s->base_index;
    s->n_records = 0;
    s->bad_why = NULL;
    s->bad_offset = 0;
    s->header_short = 0;
    s->arrival_floor_ms = 0;
    s->last_arrival_ms = 0;
    if (s->index_every_bytes == 0) {
        s->index_every_bytes = 64 * 1024;
    }
    uint8_t hdr[SEG_HEADER_LEN];
    size_t got = 0;
    int rc = seglog__pread_full(fd, hdr, sizeof(hdr), 0, &got);
    if (rc != 0) {
        return rc;
    }
    if (got < SEG_HEADER_LEN || all_zero(hdr, SEG_HEADER_LEN)) {
        s->header_short = 1;
        return 0;
    }
    struct seglog_seg_header h;
    const char *why = seglog__seg_header_decode(hdr, &h);
    if (why == NULL && h.base_index != s->base_index) {
        why = "segment header base index disagrees with the file name";
    }
    if (why != NULL) {
        s->bad_why = why;
        return 0;
    }
    s->arrival_floor_ms = h.arrival_floor_ms;
    s->last_arrival_ms = h.arrival_floor_ms;
    s->valid_len = SEG_HEADER_LEN;
    return scan_frames(fd, s);
}

size_t seglog__idx_encoded_len(size_t n_entries, int with_footer)
{
    return IDX_HEADER_LEN + n_entries * IDX_ENTRY_LEN + (with_footer ? IDX_FOOTER_LEN : 0);
}

void seglog__idx_entry_encode(uint8_t *out, const struct seglog_idx_entry *e)
{
    put_u64(out, e->index);
    put_u64(out + 8, e->offset);
    put_u64(out + 16, (uint64_t)e->arrival_ms);
}

size_t seglog__idx_encode(uint8_t *out, uint64_t base_index, uint32_t index_every_bytes,
                          const struct seglog_idx_entry *v, size_t n,
                          const struct seglog_idx_footer *footer)
{
    memcpy(out, IDX_MAGIC, 8);
    put_u32(out + 8, SEG_VERSION);
    put_u32(out + 12, index_every_bytes);
    put_u64(out + 16, base_index);
    put_u64(out + 24, 0);
    size_t pos = IDX_HEADER_LEN;
    for (size_t i = 0; i < n; i++) {
        seglog__idx_entry_encode(out + pos, &v[i]);
        pos += IDX_ENTRY_LEN;
    }
    if (footer != NULL) {
        memcpy(out + pos, IDX_SEAL_MAGIC, 8);
        put_u64(out + pos + 8, footer->seg_len);
        put_u64(out + pos + 16, footer->end_index);
        put_u64(out + pos + 24, (uint64_t)footer->last_arrival_ms);
        put_u32(out + pos + 32, (uint32_t)n);
        put_u32(out + pos + 36, crc(0, out, pos + 36));
        pos += IDX_FOOTER_LEN;
    }
    return pos;
}

/* Decodes an index file image; NULL when structurally valid, else why not. */
static const char *idx_decode(const uint8_t *p, size_t len, uint64_t base_index,
                              struct seglog_entries *entries, struct seglog_idx_footer *footer,
                              int *has_footer)
{
    if (len < IDX_HEADER_LEN || memcmp(p, IDX_MAGIC, 8) != 0 ||
        get_u32(p + 8) != SEG_VERSION) {
        return "bad index header";
    }
    if (get_u64(p + 16) != base_index) {
        return "index header base disagrees with the file name";
    }
    size_t body = len - IDX_HEADER_LEN;
    size_t n;
    if (body % IDX_ENTRY_LEN == 0) {
        *has_footer = 0;
        n = body / IDX_ENTRY_LEN;
    } else if (body >= IDX_FOOTER_LEN && (body - IDX_FOOTER_LEN) % IDX_ENTRY_LEN == 0) {
        *has_footer = 1;
        n = (body - IDX_FOOTER_LEN) / IDX_ENTRY_LEN;
        const uint8_t *f = p + IDX_HEADER_LEN + n * IDX_ENTRY_LEN;
        if (memcmp(f, IDX_SEAL_MAGIC, 8) != 0) {
            return "bad index footer magic";
        }
        if (get_u32(f + 32) != n) {
            return "index footer entry count disagrees with file length";
        }
        if (crc(0, p, (size_t)(f + 36 - p)) != get_u32(f + 36)) {
            return "index footer checksum mismatch";
        }
        footer->seg_len = get_u64(f + 8);
        footer->end_index = get_u64(f + 16);
        footer->last_arrival_ms = (int64_t)get_u64(f + 24);
    } else {
        return "index file length is not header + entries (+ footer)";
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *e = p + IDX_HEADER_LEN + i * IDX_ENTRY_LEN;
        struct seglog_idx_entry ent = {get_u64(e), get_u64(e + 8), (int64_t)get_u64(e + 16)};
        if (i == 0) {
            if (ent.index != base_index || ent.offset != SEG_HEADER_LEN) {
                return "first index entry is not the segment's first record";
            }
        } else {
            const struct seglog_idx_entry *prev = &entries->v[entries->n - 1];
            if (ent.index <= prev->index || ent.offset <= prev->offset ||
                ent.arrival_ms < prev->arrival_ms) {
                return "index entries out of order";
            }
        }
        seglog__entries_push(entries, ent.index, ent.offset, ent.arrival_ms);
    }
    if (*has_footer) {
        if (n > 0) {
            const struct seglog_idx_entry *last = &entries->v[n - 1];
            if (footer->end_index <= last->index || footer->seg_len <= last->offset ||
                footer->last_arrival_ms < last->arrival_ms) {
                return "index footer disagrees with its entries";
            }
        } else if (footer->end_index != base_index || footer->seg_len != SEG_HEADER_LEN) {
            return "index footer of an empty segment is not empty";
        }
    }
    return NULL;
}

int seglog__idx_load(const char *path, uint64_t base_index, struct seglog_entries *entries,
                     struct seglog_idx_footer *footer, int *has_footer, const char **why_out)
{
    *why_out = NULL;
    *has_footer = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            *why_out = "index file missing";
            return 0;
        }
        return -errno;
    }
    int rc = 0;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        goto out_close;
    }
    /* An index can only be as large as one entry per minimal record of a huge segment;
     * refuse anything absurd instead of allocating it. */
    if (st.st_size > (off_t)1 << 32) {
        *why_out = "index file too large";
        goto out_close;
    }
    size_t len = (size_t)st.st_size;
    uint8_t *p = try_malloc(len ? len : 1);
    if (p == NULL) {
        rc = SL_E(NOMEM);
        goto out_close;
    }
    size_t got = 0;
    rc = seglog__pread_full(fd, p, len, 0, &got);
    if (rc == 0) {
        *why_out = got == len ? idx_decode(p, len, base_index, entries, footer, has_footer)
                              : "index file shrank while read";
        if (*why_out != NULL) {
            entries->n = 0;
            *has_footer = 0;
        }
    }
    free(p);
out_close:
    close(fd);
    return rc;
}

int seglog__parse_seg_name(const char *name, uint64_t *base)
{
    uint64_t v = 0;
    for (int i = 0; i < SEG_NAME_DIGITS; i++) {
        char c = name[i];
        if (c < '0' || c > '9') {
            return 0;
        }
        uint64_t d = (uint64_t)(c - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return 0;
        }
        v = v * 10 + d;
    }
    if (strcmp(name + SEG_NAME_DIGITS, SEG_SUFFIX) != 0) {
        return 0;
    }
    *base = v;
    return 1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int seglog__list_segments(const char *dir, uint64_t **bases, size_t *n)
{
    *bases = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (d == NULL) {
        return -errno;
    }
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t base;
        if (!seglog__parse_seg_name(de->d_name, &base)) {
            continue;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            *bases = xrealloc(*bases, cap * sizeof(**bases));
        }
        (*bases)[(*n)++] = base;
    }
    closedir(d);
    if (*n > 1) {
        qsort(*bases, *n, sizeof(**bases), cmp_u64);
    }
    return 0;
}
