/*
 * CompressionFormat of raw objects: gzip, zip, snappy-java and Hadoop snappy (formats in
 * compress.h).
 *
 * The zip archive (PKWARE APPNOTE 6.3, section 4.3), all fields little endian:
 *   local file header   50 4b 03 04, version needed 20, flags 0, method 8 (deflate),
 *                       DOS time, DOS date, CRC-32, compressed size, size, name length,
 *                       extra length 0, the name; then the raw deflate stream
 *   central directory   50 4b 01 02, version made by 20, the same fields, comment length
 *                       0, disk 0, internal and external attributes 0, offset 0, the name
 *   end of directory    50 4b 05 06, disks 0, 1 entry (twice), directory size and offset,
 *                       comment length 0
 */
#include <snappy-c.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "delivery/compress.h"

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_le16(struct buf *out, uint32_t v)
{
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    buf_append(out, b, 2);
}

static void put_le32(struct buf *out, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    buf_append(out, b, 4);
}

/* Deflate of in into out: a gzip stream (gzip_wrap) or raw deflate. */
static int deflate_into(const uint8_t *in, size_t len, int gzip_wrap, struct buf *out)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, gzip_wrap ? 15 + 16 : -15, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        return SL_E(NOMEM);
    }
    size_t bound = deflateBound(&z, (uLong)len) + (gzip_wrap ? 0 : 16);
    uint8_t *dst = buf_reserve(out, bound);
    if (dst == NULL) {
        deflateEnd(&z);
        return SL_E(NOMEM);
    }
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = dst;
    z.avail_out = (uInt)bound;
    int zrc = deflate(&z, Z_FINISH);
    size_t produced = bound - z.avail_out;
    deflateEnd(&z);
    if (zrc != Z_STREAM_END) {
        return SL_E(INTERNAL);
    }
    out->len += produced;
    return 0;
}

int decompress_gzip(const uint8_t *in, size_t len, size_t max_out, struct buf *out,
                    const char **why)
{
    if (len < 2 || in[0] != 0x1f || in[1] != 0x8b) {
        *why = "not a gzip stream (no 1f 8b magic)";
        return SL_E(INVALID_ARGUMENT);
    }
    if (len > UINT32_MAX) {
        *why = "too large";
        return SL_E(INVALID_ARGUMENT);
    }
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 15 + 16) != Z_OK) {
        return SL_E(NOMEM);
    }
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    size_t start = out->len;
    int rc = 0;
    for (;;) {
        size_t chunk = 64 * 1024;
        uint8_t *dst = buf_reserve(out, chunk);
        if (dst == NULL) {
            rc = SL_E(NOMEM);
            break;
        }
        z.next_out = dst;
        z.avail_out = (uInt)chunk;
        int zrc = inflate(&z, Z_NO_FLUSH);
        out->len += chunk - z.avail_out;
        if (out->len - start > max_out) {
            *why = "the decompressed record is too large";
            rc = SL_E(INVALID_ARGUMENT);
            break;
        }
        if (zrc == Z_STREAM_END) {
            if (z.avail_in == 0) {
                break;
            }
            /* Another member follows (gzip streams may be concatenated). */
            if (z.avail_in < 2 || z.next_in[0] != 0x1f || z.next_in[1] != 0x8b) {
                *why = "bytes after the end of the gzip stream";
                rc = SL_E(INVALID_ARGUMENT);
                break;
            }
            inflateReset(&z);
            continue;
        }
        if (zrc == Z_MEM_ERROR) {
            rc = SL_E(NOMEM);
            break;
        }
        if (zrc != Z_OK || (z.avail_in == 0 && z.avail_out != 0)) {
            *why = zrc == Z_OK || zrc == Z_BUF_ERROR ? "the gzip stream is truncated"
                                                     : "the gzip stream is damaged";
            rc = SL_E(INVALID_ARGUMENT);
            break;
        }
    }
    inflateEnd(&z);
    if (rc < 0) {
        out->len = start;
    }
    return rc;
}

int compress_gzip(const uint8_t *in, size_t len, struct buf *out)
{
    if (len > UINT32_MAX) {
        return SL_E(INTERNAL); /* zlib's avail_in is 32 bits; buffers stay far below */
    }
    return deflate_into(in, len, 1, out);
}

/* Snappy blocks of in, each after its header: a 4-byte big-endian compressed length,
   preceded by the uncompressed length when hadoop is set. */
static int snappy_blocks(const uint8_t *in, size_t len, int hadoop, struct buf *out)
{
    size_t hdr = hadoop ? 8 : 4;
    for (size_t off = 0; off < len; off += COMPRESS_SNAPPY_BLOCK_LEN) {
        size_t n = len - off < COMPRESS_SNAPPY_BLOCK_LEN ? len - off : COMPRESS_SNAPPY_BLOCK_LEN;
        size_t cap = snappy_max_compressed_length(n);
        uint8_t *dst = buf_reserve(out, hdr + cap);
        if (dst == NULL) {
            return SL_E(NOMEM);
        }
        size_t clen = cap;
        if (snappy_compress((const char *)in + off, n, (char *)dst + hdr, &clen) != SNAPPY_OK) {
            return SL_E(INTERNAL);
        }
        if (hadoop) {
            put_be32(dst, (uint32_t)n);
        }
        put_be32(dst + hdr - 4, (uint32_t)clen);
        out->len += hdr + clen;
    }
    return 0;
}

int compress_snappy_java(const uint8_t *in, size_t len, struct buf *out)
{
    static const uint8_t magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
    uint8_t versions[8];
    put_be32(versions, 1);
    put_be32(versions + 4, 1);
    if (buf_append(out, magic, sizeof(magic)) < 0 ||
        buf_append(out, versions, sizeof(versions)) < 0) {
        return SL_E(NOMEM);
    }
    return snappy_blocks(in, len, 0, out);
}

int compress_hadoop_snappy(const uint8_t *in, size_t len, struct buf *out)
{
    return snappy_blocks(in, len, 1, out);
}

/* The fields a local header and a central directory entry share, from "version needed". */
static void zip_common(struct buf *out, uint32_t dos_time, uint32_t dos_date, uint32_t crc,
                       uint32_t comp_len, uint32_t len, size_t name_len)
{
    put_le16(out, 20); /* version needed: deflate */
    put_le16(out, 0);  /* flags: sizes and CRC are in the header */
    put_le16(out, 8);  /* deflate */
    put_le16(out, dos_time);
    put_le16(out, dos_date);
    put_le32(out, crc);
    put_le32(out, comp_len);
    put_le32(out, len);
    put_le16(out, (uint32_t)name_len);
    put_le16(out, 0); /* extra field length */
}

int compress_zip(const uint8_t *in, size_t len, const char *entry, int64_t mtime_ms,
                 struct buf *out)
{
    if (len >= UINT32_MAX) {
        return SL_E(INTERNAL);
    }
    time_t t = (time_t)(mtime_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    if (tm.tm_year < 80) { /* DOS dates start in 1980 */
        memset(&tm, 0, sizeof(tm));
        tm.tm_year = 80;
        tm.tm_mday = 1;
    }
    uint32_t dos_time = (uint32_t)(tm.tm_hour << 11 | tm.tm_min << 5 | tm.tm_sec / 2);
    uint32_t dos_date = (uint32_t)((tm.tm_year - 80) << 9 | (tm.tm_mon + 1) << 5 | tm.tm_mday);
    uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), in, (uInt)len);
    size_t name_len = strlen(entry);
    size_t start = out->len;

    /* The local header is written with the compressed size patched in afterwards. */
    put_le32(out, 0x04034b50);
    size_t comp_len_at = out->len + 14;
    zip_common(out, dos_time, dos_date, crc, 0, (uint32_t)len, name_len);
    buf_append(out, entry, name_len);
    size_t data_at = out->len;
    int rc = buf_status(out) < 0 ? SL_E(NOMEM) : deflate_into(in, len, 0, out);
    if (rc < 0) {
        return rc;
    }
    uint32_t comp_len = (uint32_t)(out->len - data_at);
    for (int i = 0; i < 4; i++) {
        out->data[comp_len_at + i] = (uint8_t)(comp_len >> (8 * i));
    }

    size_t dir_at = out->len;
    put_le32(out, 0x02014b50);
    put_le16(out, 20); /* version made by: MS-DOS attributes, 2.0 */
    zip_common(out, dos_time, dos_date, crc, comp_len, (uint32_t)len, name_len);
    put_le16(out, 0); /* comment length */
    put_le16(out, 0); /* disk number */
    put_le16(out, 0); /* internal attributes */
    put_le32(out, 0); /* external attributes */
    put_le32(out, 0); /* the local header's offset from the archive's start */
    buf_append(out, entry, name_len);
    size_t dir_len = out->len - dir_at;

    put_le32(out, 0x06054b50);
    put_le16(out, 0);
    put_le16(out, 0);
    put_le16(out, 1);
    put_le16(out, 1);
    put_le32(out, (uint32_t)dir_len);
    put_le32(out, (uint32_t)(dir_at - start));
    put_le16(out, 0);
    return buf_status(out) < 0 ? SL_E(NOMEM) : 0;
}

int delivery__compress(enum delivery_compression c, const uint8_t *in, size_t len, int64_t ts_ms,
                       struct buf *out, const char **encoding)
{
    switch (c) {
    case DELIVERY_GZIP: *encoding = "gzip"; return compress_gzip(in, len, out);
    case DELIVERY_ZIP: {
        *encoding = "zip";
        uint8_t u[16];
        crypto_random(u, sizeof(u));
        u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
        u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
        char hex[33], name[37];
        hex_encode(u, sizeof(u), hex);
        snprintf(name, sizeof(name), "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
                 hex + 20);
        return compress_zip(in, len, name, ts_ms, out);
    }
    case DELIVERY_SNAPPY: *encoding = "snappy-java"; return compress_snappy_java(in, len, out);
    case DELIVERY_HADOOP_SNAPPY:
        *encoding = "hadoop-snappy";
        return compress_hadoop_snappy(in, len, out);
    default: *encoding = NULL; return buf_append(out, in, len);
    }
}

int delivery__compress_object(struct dstream *ds, const struct delivery_dest *d, const uint8_t *in,
                              size_t len, int64_t ts_ms, struct buf *out, const char **meta_json)
{
    int64_t backoff_ms = ds->svc->retry_base_ms;
    for (;;) {
        const char *encoding = NULL;
        buf_reset(out);
        int rc = delivery__compress(d->compression, in, len, ts_ms, out, &encoding);
        if (rc == 0) {
            static const struct {
                const char *encoding, *meta;
            } metas[] = {
                {"gzip", "{\"Content-Encoding\":\"gzip\"}"},
                {"zip", "{\"Content-Encoding\":\"zip\"}"},
                {"snappy-java", "{\"Content-Encoding\":\"snappy-java\"}"},
                {"hadoop-snappy", "{\"Content-Encoding\":\"hadoop-snappy\"}"},
            };
            *meta_json = NULL;
            for (size_t i = 0; encoding != NULL && i < sizeof(metas) / sizeof(metas[0]); i++) {
                if (strcmp(encoding, metas[i].encoding) == 0) {
                    *meta_json = metas[i].meta;
                }
            }
            return 0;
        }
        log_msg(LOG_WARN, "delivery",
                "delivery stream %s: compressing %zu bytes failed (%s); "
                "retrying in %lld ms",
                ds->name, len, err_aws_name(rc), (long long)backoff_ms);
        if (delivery__backoff(ds, backoff_ms)) {
            return 1;
        }
        backoff_ms = backoff_ms * 2 > 30000 ? 30000 : backoff_ms * 2;
    }
}

int delivery__error_put(struct dstream *ds, const struct flush_conf *fc, const char *error_type,
                        int64_t oldest_ms, const uint8_t *lines, size_t len)
{
    struct buf key, body;
    buf_init(&key);
    buf_init(&body);
    const char *meta = NULL;
    int stopped = 0;
    if (!fc->dest.conversion && fc->dest.compression != DELIVERY_UNCOMPRESSED) {
        stopped = delivery__compress_object(ds, &fc->dest, lines, len, oldest_ms, &body, &meta);
        lines = body.data;
        len = body.len;
    }
    if (!stopped) {
        delivery__error_key(&fc->dest, ds->name, fc->version, oldest_ms, error_type, &key);
        struct lake_put_opts opts = {.content_type = "application/octet-stream", .meta_json = meta};
        stopped =
            delivery__put_object(ds, fc->dest.bucket, (const char *)key.data, lines, len, &opts);
    }
    buf_fini(&key);
    buf_fini(&body);
    return stopped;
}

const char *delivery__compress_ext(enum delivery_compression c)
{
    switch (c) {
    case DELIVERY_GZIP: return ".gz";
    case DELIVERY_ZIP: return ".zip";
    case DELIVERY_SNAPPY:
    case DELIVERY_HADOOP_SNAPPY: return ".snappy";
    default: return "";
    }
}
