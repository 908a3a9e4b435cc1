/*
 * Unit tests of the delivery part's output options: the CompressionFormat containers
 * (snappy-java stream, Hadoop snappy, zip, gzip) each read back by a decoder written here
 * (a Snappy block decoder and a bitwise CRC-32 of our own, so libsnappy and zlib's CRC do
 * not check themselves), the TZif reader against known offsets and DST changes, and
 * CustomTimeZone in object and error keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "core/buf.h"
#include "core/err.h"
#include "delivery/compress.h"
#include "delivery/delivery_int.h"
#include "delivery/tz.h"

/* ---- an independent Snappy block decoder (google/snappy format_description.txt) ---- */

/* Decodes one raw Snappy block into out. 0, or -1 for a malformed block. */
static int snappy_decode(const uint8_t *p, size_t len, struct buf *out)
{
    const uint8_t *end = p + len;
    uint64_t want = 0;
    for (int shift = 0;; shift += 7) {
        if (p == end || shift > 28) {
            return -1;
        }
        uint8_t b = *p++;
        want |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            break;
        }
    }
    size_t base = out->len;
    while (p < end) {
        uint8_t tag = *p++;
        size_t n, off = 0;
        switch (tag & 3) {
        case 0: /* literal */
            n = (size_t)(tag >> 2) + 1;
            if (n > 60) {
                size_t extra = n - 60;
                if ((size_t)(end - p) < extra) {
                    return -1;
                }
                n = 0;
                for (size_t i = 0; i < extra; i++) {
                    n |= (size_t)p[i] << (8 * i);
                }
                n += 1;
                p += extra;
            }
            if ((size_t)(end - p) < n) {
                return -1;
            }
            buf_append(out, p, n);
            p += n;
            continue;
        case 1:
            if (p == end) {
                return -1;
            }
            n = 4 + ((tag >> 2) & 7);
            off = (size_t)(tag >> 5) << 8 | *p++;
            break;
        case 2:
            if (end - p < 2) {
                return -1;
            }
            n = (size_t)(tag >> 2) + 1;
            off = (size_t)p[0] | (size_t)p[1] << 8;
            p += 2;
            break;
        default:
            if (end - p < 4) {
                return -1;
            }
            n = (size_t)(tag >> 2) + 1;
            off = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24;
            p += 4;
            break;
        }
        if (off == 0 || off > out->len - base) {
            return -1;
        }
        for (size_t i = 0; i < n; i++) { /* byte by byte: copies may overlap */
            uint8_t c = out->data[out->len - off];
            buf_append(out, &c, 1);
        }
    }
    return out->len - base == want ? 0 : -1;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t get_le16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

/* CRC-32 (ISO-HDLC), bit by bit. */
static uint32_t crc32_bitwise(const uint8_t *p, size_t len)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) {
            crc = crc & 1 ? (crc >> 1) ^ 0xedb88320u : crc >> 1;
        }
    }
    return ~crc;
}

/* Test inputs: text that compresses, bytes that do not, sizes around the block size. */
static uint8_t *sample(size_t len, unsigned seed)
{
    uint8_t *s = malloc(len + 1);
    for (size_t i = 0; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        s[i] = i % 3000 < 2000 ? (uint8_t)("{\"ticker\":\"AMZN\",\"price\":12.5}\n"[i % 31])
                               : (uint8_t)(seed >> 16);
    }
    return s;
}

static const size_t sizes[] = {0, 1, 31, 32767, 32768, 32769, 200000};

/* A known answer: snappy-java's SnappyOutputStream writes "foobar\n" as these bytes (an
   example published with a decoder of that format), Hadoop's codec as the second. */
static void snappy_containers_match_known_bytes(void **state)
{
    (void)state;
    static const uint8_t java[] = {0x82, 'S',  'N',  'A',  'P',  'P',  'Y',  0x00, 0x00, 0x00,
                                   0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x09,
                                   0x07, 0x18, 'f',  'o',  'o',  'b',  'a',  'r',  '\n'};
    static const uint8_t hadoop[] = {0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x09, 0x07,
                                     0x18, 'f',  'o',  'o',  'b',  'a',  'r',  '\n'};
    struct buf z;
    buf_init(&z);
    assert_int_equal(compress_snappy_java((const uint8_t *)"foobar\n", 7, &z), 0);
    assert_int_equal(z.len, sizeof(java));
    assert_memory_equal(z.data, java, sizeof(java));
    buf_reset(&z);
    assert_int_equal(compress_hadoop_snappy((const uint8_t *)"foobar\n", 7, &z), 0);
    assert_int_equal(z.len, sizeof(hadoop));
    assert_memory_equal(z.data, hadoop, sizeof(hadoop));
    buf_fini(&z);
}

static void snappy_java_stream_round_trips(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        uint8_t *in = sample(sizes[k], (unsigned)k);
        struct buf z, back;
        buf_init(&z);
        buf_init(&back);
        assert_int_equal(compress_snappy_java(in, sizes[k], &z), 0);
        static const uint8_t magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
        assert_true(z.len >= 16);
        assert_memory_equal(z.data, magic, 8);
        assert_int_equal(get_be32(z.data + 8), 1);
        assert_int_equal(get_be32(z.data + 12), 1);
        size_t n_blocks = 0;
        for (size_t off = 16; off < z.len; n_blocks++) {
            assert_true(z.len - off >= 4);
            uint32_t clen = get_be32(z.data + off);
            assert_true(z.len - off - 4 >= clen);
            size_t before = back.len;
            assert_int_equal(snappy_decode(z.data + off + 4, clen, &back), 0);
            assert_true(back.len - before <= COMPRESS_SNAPPY_BLOCK_LEN);
            off += 4 + clen;
        }
        assert_int_equal(n_blocks,
                         (sizes[k] + COMPRESS_SNAPPY_BLOCK_LEN - 1) / COMPRESS_SNAPPY_BLOCK_LEN);
        assert_int_equal(back.len, sizes[k]);
        if (sizes[k] > 0) {
            assert_memory_equal(back.data, in, sizes[k]);
        }
        buf_fini(&z);
        buf_fini(&back);
        free(in);
    }
}

static void hadoop_snappy_round_trips(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        uint8_t *in = sample(sizes[k], (unsigned)k + 7);
        struct buf z, back;
        buf_init(&z);
        buf_init(&back);
        assert_int_equal(compress_hadoop_snappy(in, sizes[k], &z), 0);
        for (size_t off = 0; off < z.len;) {
            assert_true(z.len - off >= 8);
            uint32_t raw_len = get_be32(z.data + off);
            uint32_t clen = get_be32(z.data + off + 4);
            assert_true(z.len - off - 8 >= clen);
            size_t before = back.len;
            assert_int_equal(snappy_decode(z.data + off + 8, clen, &back), 0);
            assert_int_equal(back.len - before, raw_len);
            off += 8 + clen;
        }
        assert_int_equal(back.len, sizes[k]);
        if (sizes[k] > 0) {
            assert_memory_equal(back.data, in, sizes[k]);
        }
        buf_fini(&z);
        buf_fini(&back);
        free(in);
    }
}

/* Inflates raw deflate data into exactly want bytes. */
static uint8_t *inflate_raw(const uint8_t *p, size_t len, size_t want)
{
    uint8_t *out = malloc(want + 1);
    z_stream z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(inflateInit2(&z, -15), Z_OK);
    z.next_in = (Bytef *)p;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)want + 1;
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    assert_int_equal(z.total_out, want);
    assert_int_equal(z.avail_in, 0);
    inflateEnd(&z);
    return out;
}

static void zip_is_one_deflated_entry_named_by_a_uuid(void **state)
{
    (void)state;
    const size_t len = 100000;
    uint8_t *in = sample(len, 3);
    struct buf z;
    buf_init(&z);
    const char *encoding = NULL;
    int64_t ts_ms = 1764151509123LL; /* 2025-11-26T10:05:09Z */
    assert_int_equal(delivery__compress(DELIVERY_ZIP, in, len, ts_ms, &z, &encoding), 0);
    assert_string_equal(encoding, "zip");
    const uint8_t *a = z.data;

    /* The end of central directory record is the last 22 bytes (no comment). */
    assert_true(z.len > 22 + 30 + 46);
    const uint8_t *eocd = a + z.len - 22;
    assert_int_equal(get_le32(eocd), 0x06054b50);
    assert_int_equal(get_le16(eocd + 8), 1);
    assert_int_equal(get_le16(eocd + 10), 1);
    uint32_t dir_len = get_le32(eocd + 12), dir_off = get_le32(eocd + 16);
    assert_int_equal(dir_off + dir_len, z.len - 22);

    const uint8_t *cd = a + dir_off;
    assert_int_equal(get_le32(cd), 0x02014b50);
    assert_int_equal(get_le16(cd + 10), 8); /* deflate */
    uint32_t crc = get_le32(cd + 16), comp = get_le32(cd + 20), size = get_le32(cd + 24);
    uint32_t name_len = get_le16(cd + 28);
    assert_int_equal(get_le32(cd + 42), 0); /* local header offset */
    assert_int_equal(46 + name_len, dir_len);

    const uint8_t *lh = a;
    assert_int_equal(get_le32(lh), 0x04034b50);
    assert_int_equal(get_le16(lh + 8), 8);
    assert_int_equal(get_le16(lh + 6) & 8, 0); /* no data descriptor */
    assert_int_equal(get_le32(lh + 14), crc);
    assert_int_equal(get_le32(lh + 18), comp);
    assert_int_equal(get_le32(lh + 22), size);
    assert_int_equal(get_le16(lh + 26), name_len);
    assert_memory_equal(lh + 30, cd + 46, name_len);
    /* The DOS date and time: 2025-11-26 10:05:08 (two-second resolution). */
    assert_int_equal(get_le16(lh + 10), 10 << 11 | 5 << 5 | 4);
    assert_int_equal(get_le16(lh + 12), (2025 - 1980) << 9 | 11 << 5 | 26);

    assert_int_equal(name_len, 36);
    for (uint32_t i = 0; i < name_len; i++) {
        char c = (char)lh[30 + i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            assert_int_equal(c, '-');
        } else {
            assert_true((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
        }
    }
    size_t data_at = 30 + name_len + get_le16(lh + 28);
    assert_int_equal(data_at + comp, dir_off);
    assert_int_equal(size, len);
    uint8_t *back = inflate_raw(a + data_at, comp, size);
    assert_memory_equal(back, in, len);
    assert_int_equal(crc32_bitwise(back, len), crc);
    free(back);
    buf_fini(&z);
    free(in);
}

static void compress_gives_aws_encodings_and_extensions(void **state)
{
    (void)state;
    static const struct {
        enum delivery_compression c;
        const char *encoding, *ext;
    } cases[] = {
        {DELIVERY_UNCOMPRESSED, NULL, ""},
        {DELIVERY_GZIP, "gzip", ".gz"},
        {DELIVERY_ZIP, "zip", ".zip"},
        {DELIVERY_SNAPPY, "snappy-java", ".snappy"},
        {DELIVERY_HADOOP_SNAPPY, "hadoop-snappy", ".snappy"},
    };
    const char *text = "{\"a\":1}{\"a\":2}";
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf z;
        buf_init(&z);
        const char *enc = "unset";
        assert_int_equal(
            delivery__compress(cases[i].c, (const uint8_t *)text, strlen(text), 0, &z, &enc), 0);
        if (cases[i].encoding == NULL) {
            assert_null(enc);
            assert_int_equal(z.len, strlen(text));
        } else {
            assert_string_equal(enc, cases[i].encoding);
        }
        assert_string_equal(delivery__compress_ext(cases[i].c), cases[i].ext);
        if (cases[i].c == DELIVERY_GZIP) {
            uint8_t out[64];
            uLongf out_len = sizeof(out);
            z_stream s;
            memset(&s, 0, sizeof(s));
            assert_int_equal(inflateInit2(&s, 15 + 16), Z_OK);
            s.next_in = z.data;
            s.avail_in = (uInt)z.len;
            s.next_out = out;
            s.avail_out = (uInt)out_len;
            assert_int_equal(inflate(&s, Z_FINISH), Z_STREAM_END);
            assert_int_equal(s.total_out, strlen(text));
            assert_memory_equal(out, text, strlen(text));
            inflateEnd(&s);
        }
        buf_fini(&z);
    }
}

/* ---- time zones ---- */

/* Seconds since the epoch of a UTC date and time. */
static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};
    return (int64_t)timegm(&tm);
}

static void zones_give_known_offsets_across_dst_changes(void **state)
{
    (void)state;
    static const struct {
        const char *zone;
        int y, mo, d, h, mi, s;
        int32_t off_s;
    } cases[] = {
        /* New York: DST from 2025-03-09 07:00Z to 2025-11-02 06:00Z. */
        {"America/New_York", 2025, 3, 9, 6, 59, 59, -5 * 3600},
        {"America/New_York", 2025, 3, 9, 7, 0, 0, -4 * 3600},
        {"America/New_York", 2025, 11, 2, 5, 59, 59, -4 * 3600},
        {"America/New_York", 2025, 11, 2, 6, 0, 0, -5 * 3600},
        /* Beyond the file's transitions: the footer's rule (EST5EDT,M3.2.0,M11.1.0). */
        {"America/New_York", 2100, 3, 14, 6, 59, 59, -5 * 3600},
        {"America/New_York", 2100, 3, 14, 7, 0, 0, -4 * 3600},
        {"America/New_York", 2100, 11, 7, 6, 0, 0, -5 * 3600},
        /* Before the US had time zones: local mean time, -4:56:02. */
        {"America/New_York", 1850, 1, 1, 0, 0, 0, -(4 * 3600 + 56 * 60 + 2)},
        {"Asia/Kolkata", 2025, 6, 1, 0, 0, 0, 5 * 3600 + 30 * 60},
        {"Asia/Kolkata", 2300, 1, 1, 0, 0, 0, 5 * 3600 + 30 * 60},
        {"Asia/Kolkata", 1943, 1, 1, 0, 0, 0, 6 * 3600 + 30 * 60}, /* war time */
        /* Southern hemisphere: DST across the new year. */
        {"Australia/Sydney", 2025, 1, 15, 0, 0, 0, 11 * 3600},
        {"Australia/Sydney", 2025, 7, 15, 0, 0, 0, 10 * 3600},
        {"Australia/Sydney", 2025, 4, 5, 15, 59, 59, 11 * 3600}, /* ends 6 Apr 03:00 AEDT */
        {"Australia/Sydney", 2025, 4, 5, 16, 0, 0, 10 * 3600},
        {"Australia/Sydney", 2099, 12, 31, 12, 0, 0, 11 * 3600},
        {"Europe/London", 2025, 3, 30, 0, 59, 59, 0},
        {"Europe/London", 2025, 3, 30, 1, 0, 0, 3600},
        {"UTC", 2025, 3, 30, 1, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tz_zone *z = NULL;
        assert_int_equal(tz_zone_load(NULL, cases[i].zone, &z), 0);
        int64_t t = utc(cases[i].y, cases[i].mo, cases[i].d, cases[i].h, cases[i].mi, cases[i].s);
        int32_t got = tz_zone_offset_s(z, t);
        if (got != cases[i].off_s) {
            fail_msg("%s at case %zu: %d s, want %d s", cases[i].zone, i, got, cases[i].off_s);
        }
        tz_zone_destroy(z);
    }
}

static void unknown_and_unsafe_zone_names_are_refused(void **state)
{
    (void)state;
    const char *bad[] = {"Mars/Olympus_Mons", "America",       "",
                         "Europe/london_x",   "../etc/passwd", "America/New_York/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct tz_zone *z = (struct tz_zone *)1;
        assert_int_equal(tz_zone_load(NULL, bad[i], &z), SL_E(RESOURCE_NOT_FOUND));
        assert_null(z);
    }
    assert_true(delivery__tz_known(""));
    assert_true(delivery__tz_known("UTC"));
    assert_true(delivery__tz_known("Asia/Kolkata"));
    assert_false(delivery__tz_known("Asia/Atlantis"));
    assert_ptr_equal(delivery__tz_get("Asia/Kolkata"), delivery__tz_get("Asia/Kolkata"));
}

static void put_be(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Writes a version-2 TZif file with no transitions and one type, then footer. */
static void write_slim(const char *path, int32_t utoff, const char *footer)
{
    uint8_t h[44] = {'T', 'Z', 'i', 'f', '2'};
    put_be(h + 36, 1); /* typecnt */
    put_be(h + 40, 4); /* charcnt */
    uint8_t type[6] = {0};
    put_be(type, (uint32_t)utoff);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (int block = 0; block < 2; block++) {
        fwrite(h, 1, sizeof(h), f);
        fwrite(type, 1, sizeof(type), f);
        fwrite("XST", 1, 4, f);
    }
    fprintf(f, "\n%s\n", footer);
    fclose(f);
}

static void footer_rules_alone_give_offsets(void **state)
{
    (void)state;
    char dir[] = "/tmp/sluice-tz-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/Slim_East", dir);
    write_slim(path, -5 * 3600, "EST5EDT,M3.2.0,M11.1.0");
    struct tz_zone *z;
    assert_int_equal(tz_zone_load(dir, "Slim_East", &z), 0);
    assert_int_equal(tz_zone_offset_s(z, utc(2030, 3, 10, 6, 59, 59)), -5 * 3600);
    assert_int_equal(tz_zone_offset_s(z, utc(2030, 3, 10, 7, 0, 0)), -4 * 3600);
    assert_int_equal(tz_zone_offset_s(z, utc(2030, 11, 3, 5, 59, 59)), -4 * 3600);
    assert_int_equal(tz_zone_offset_s(z, utc(2030, 11, 3, 6, 0, 0)), -5 * 3600);
    tz_zone_destroy(z);
    unlink(path);

    /* Angle-bracket names, explicit offsets with minutes, Julian day rules and times. */
    snprintf(path, sizeof(path), "%s/Slim_Odd", dir);
    write_slim(path, 3 * 3600 + 1800, "<+0330>-3:30<+0430>-4:30,J79/24,J263/24");
    assert_int_equal(tz_zone_load(dir, "Slim_Odd", &z), 0);
    /* J79 is 20 March (day 79 of a year without 29 February); 24:00 is 21 March 00:00. */
    assert_int_equal(tz_zone_offset_s(z, utc(2030, 3, 20, 20, 29, 59)), 3 * 3600 + 1800);
    assert_int_equal(tz_zone_offset_s(z, utc(2030, 3, 20, 20, 30, 0)), 4 * 3600 + 1800);
    assert_int_equal(tz_zone_offset_s(z, utc(2030, 7, 1, 0, 0, 0)), 4 * 3600 + 1800);
    assert_int_equal(tz_zone_offset_s(z, utc(2030, 12, 1, 0, 0, 0)), 3 * 3600 + 1800);
    tz_zone_destroy(z);
    unlink(path);

    snprintf(path, sizeof(path), "%s/Not_Tzif", dir);
    FILE *f = fopen(path, "w");
    fputs("hello", f);
    fclose(f);
    assert_int_equal(tz_zone_load(dir, "Not_Tzif", &z), SL_E(CORRUPT));
    unlink(path);
    rmdir(dir);
}

static void keys_show_the_custom_time_zone(void **state)
{
    (void)state;
    int64_t t0_ms = 1764151509123LL; /* 2025-11-26T10:05:09.123Z */
    char kolkata[] = "Asia/Kolkata", ny[] = "America/New_York", pfx[] = "p/!{timestamp:HH}/";
    struct delivery_dest d = {.compression = DELIVERY_SNAPPY, .time_zone = kolkata};
    struct buf b;
    buf_init(&b);
    delivery__object_key(&d, "s", 1, t0_ms, &b);
    const char *head = "2025/11/26/15/s-1-2025-11-26-15-35-09-";
    assert_memory_equal(b.data, head, strlen(head));
    assert_string_equal((const char *)b.data + b.len - 7, ".snappy");

    d.time_zone = ny;
    d.prefix = pfx;
    buf_reset(&b);
    delivery__object_key(&d, "s", 1, t0_ms, &b);
    head = "p/05/s-1-2025-11-26-05-05-09-";
    assert_memory_equal(b.data, head, strlen(head));

    /* The error key: the default layout, in the zone, with the compression's extension. */
    d.prefix = NULL;
    d.compression = DELIVERY_ZIP;
    buf_reset(&b);
    delivery__error_key(&d, "s", 1, t0_ms, "processing-failed", &b);
    head = "processing-failed/2025/11/26/05/s-1-2025-11-26-05-05-09-";
    assert_memory_equal(b.data, head, strlen(head));
    assert_string_equal((const char *)b.data + b.len - 4, ".zip");

    /* Without a zone: UTC, as before. */
    d.time_zone = NULL;
    d.compression = DELIVERY_UNCOMPRESSED;
    buf_reset(&b);
    delivery__object_key(&d, "s", 1, t0_ms, &b);
    head = "2025/11/26/10/s-1-2025-11-26-10-05-09-";
    assert_memory_equal(b.data, head, strlen(head));
    buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(snappy_containers_match_known_bytes),
        cmocka_unit_test(snappy_java_stream_round_trips),
        cmocka_unit_test(hadoop_snappy_round_trips),
        cmocka_unit_test(zip_is_one_deflated_entry_named_by_a_uuid),
        cmocka_unit_test(compress_gives_aws_encodings_and_extensions),
        cmocka_unit_test(zones_give_known_offsets_across_dst_changes),
        cmocka_unit_test(unknown_and_unsafe_zone_names_are_refused),
        cmocka_unit_test(footer_rules_alone_give_offsets),
        cmocka_unit_test(keys_show_the_custom_time_zone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
