/*
 * Fuzz target: arbitrary bytes as the files of a segment log, through recovery (open),
 * reads, time search, an append, retention and the offline checker. Must never crash, hang
 * or leak; errors are expected.
 *
 * Input: byte 0 chooses the layout.
 *   even, byte 0 % 4 == 2: the rest describes records that are encoded with valid CRCs into
 *         the only segment, after a valid header (so the checks past the CRC are reached):
 *         per record, pk_len, data_len, index step, arrival step (one byte each), then the
 *         key and data bytes; a step of 1 is the valid one; leftover bytes are appended raw.
 *   other even: the rest is the only (newest) segment, 00000000000000000000.seg: the
 *         torn-tail recovery path.
 *   odd:  bytes 1-2 (little-endian) give the length of a sealed segment 0's file; the bytes
 *         after it are that segment's index file; byte 3's value is the base index of an
 *         empty newest segment created after it: the sealed-index path, gaps and overlaps.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "stream/seglog.h"
#include "stream/seglog_int.h"

static char dir[64];

static void write_file(const char *name, const uint8_t *p, size_t len)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        abort();
    }
    if (len > 0 && write(fd, p, len) != (ssize_t)len) {
        abort();
    }
    close(fd);
}

static int count_visit(void *arg, uint64_t index, int64_t arrival_ms, const char *pk,
                       size_t pk_len, const uint8_t *data, size_t data_len)
{
    (void)index;
    (void)arrival_ms;
    /* Touch every byte so the sanitizer checks the bounds the reader handed out. */
    size_t *sum = arg;
    for (size_t i = 0; i < pk_len; i++) {
        *sum += (uint8_t)pk[i];
    }
    for (size_t i = 0; i < data_len; i++) {
        *sum += data[i];
    }
    return 0;
}

static void noop_problem(void *arg, const char *path, uint64_t offset, const char *what)
{
    (void)arg;
    (void)path;
    (void)offset;
    (void)what;
}

/* Builds a segment from record descriptions (layout "byte 0 % 4 == 2" above). */
static size_t build_structured(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    struct seglog_seg_header h = {0, 0};
    seglog__seg_header_encode(out, &h);
    size_t pos = SEG_HEADER_LEN;
    uint64_t index = 0;
    int64_t arrival = 0;
    size_t i = 0;
    while (i + 4 <= len) {
        uint16_t pk_len = in[i];
        uint32_t data_len = in[i + 1];
        uint64_t index_step = in[i + 2];
        int64_t arrival_step = (int64_t)in[i + 3] - 8;
        if (pk_len == 0 || i + 4 + pk_len + data_len > len ||
            pos + FRAME_HEADER_LEN + pk_len + data_len > cap) {
            break;
        }
        struct seglog_record_in r = {in + i + 4 + pk_len, data_len,
                                     (const char *)(in + i + 4), pk_len};
        seglog__frame_encode(out + pos, &r);
        index += index_step;
        arrival += arrival_step;
        seglog__frame_finish(out + pos, index - 1, arrival);
        pos += FRAME_HEADER_LEN + pk_len + data_len;
        i += 4 + pk_len + data_len;
    }
    size_t rest = len - i;
    if (rest > cap - pos) {
        rest = cap - pos;
    }
    memcpy(out + pos, in + i, rest);
    return pos + rest;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (dir[0] == '\0') {
        log_set_level((enum log_level)(LOG_ERROR + 1));
        snprintf(dir, sizeof(dir), "/dev/shm/fuzz_segment.%d", (int)getpid());
    }
    if (size < 1) {
        return 0;
    }
    (void)seglog_remove_dir(dir);
    if (mkdir(dir, 0755) != 0) {
        abort();
    }
    struct seglog *log = NULL;
    struct seglog_options opt = {.segment_bytes = 4096, .index_every_bytes = 128};
    if ((data[0] & 3) == 2) {
        size_t cap = size * 8 + SEG_HEADER_LEN;
        uint8_t *seg = malloc(cap);
        size_t seg_len = build_structured(data + 1, size - 1, seg, cap);
        write_file("00000000000000000000.seg", seg, seg_len);
        free(seg);
    } else if ((data[0] & 1) == 0) {
        write_file("00000000000000000000.seg", data + 1, size - 1);
    } else {
        if (size < 4) {
            return 0;
        }
        size_t seg_len = (size_t)(data[1] | (data[2] << 8));
        uint64_t next_base = data[3];
        const uint8_t *rest = data + 4;
        size_t rest_len = size - 4;
        if (seg_len > rest_len) {
            seg_len = rest_len;
        }
        write_file("00000000000000000000.seg", rest, seg_len);
        write_file("00000000000000000000.idx", rest + seg_len, rest_len - seg_len);
        if (next_base != 0) {
            /* An empty newest segment: a torn header, which open rewrites. */
            char name[64];
            snprintf(name, sizeof(name), "%020llu.seg", (unsigned long long)next_base);
            write_file(name, NULL, 0);
        }
    }
    struct seglog_check_summary sum;
    (void)seglog_check_dir(dir, noop_problem, NULL, &sum);
    if (seglog_open(dir, &opt, 0, &log) == 0) {
        size_t acc = 0;
        uint64_t from = seglog_first_index(log);
        for (int i = 0; i < 64; i++) {
            uint64_t next = from;
            if (seglog_read(log, from, 3, 1000, count_visit, &acc, &next) != 0 || next == from) {
                break;
            }
            from = next;
        }
        uint64_t found = 0;
        (void)seglog_find_time(log, 0, &found);
        (void)seglog_find_time(log, INT64_MAX, &found);
        (void)seglog_find_time(log, (int64_t)acc, &found);
        struct seglog_record_in r = {(const uint8_t *)"payload", 7, "pk", 2};
        uint64_t idx = 0;
        int64_t arrival = 0;
        if (seglog_append(log, &r, 1, 1000, &idx, &arrival) == 0) {
            (void)seglog_sync(log, idx + 1);
        }
        size_t n_del = 0;
        (void)seglog_trim_before(log, 500, &n_del);
        struct seglog_stats st;
        seglog_get_stats(log, &st);
        seglog_close(log);
        (void)seglog_check_dir(dir, noop_problem, NULL, &sum);
    }
    (void)seglog_remove_dir(dir);
    return 0;
}
