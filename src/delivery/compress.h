/*
 * The CompressionFormat of an S3 destination without format conversion: the object's
 * bytes, and the Content-Encoding AWS puts on it (Content-Type is application/octet-stream
 * for every format). The container formats, as delivered objects show them (floci-io/floci
 * issue 2328, objects of real AWS decoded and reproduced byte for byte):
 *
 *   GZIP           RFC 1952 gzip stream                         gzip
 *   ZIP            a zip archive, one deflated entry named by    zip
 *                  a random UUID
 *   Snappy         snappy-java's own stream format (xerial       snappy-java
 *                  SnappyOutputStream), NOT the framing format
 *                  of google/snappy's framing_format.txt
 *   HADOOP_SNAPPY  Hadoop's block format (BlockCompressorStream  hadoop-snappy
 *                  with the Snappy codec)
 *
 * snappy-java stream:   offset  size
 *                       0       8     magic 0x82 'S' 'N' 'A' 'P' 'P' 'Y' 0x00
 *                       8       4     version 1 (big endian)
 *                       12      4     minimum compatible version 1 (big endian)
 *                       16      ...   blocks: 4-byte big-endian compressed length, then one
 *                                     raw Snappy block of at most 32 KiB of input
 * Hadoop snappy:        blocks only: 4-byte big-endian uncompressed length, 4-byte
 *                       big-endian compressed length, one raw Snappy block
 * Neither carries a checksum (the CRC-32C of the framing format is not in them).
 *
 * The raw Snappy blocks come from libsnappy (Debian's libsnappy-dev); this file is its one
 * caller. Deflate comes from zlib.
 */
#ifndef SLUICE_DELIVERY_COMPRESS_H
#define SLUICE_DELIVERY_COMPRESS_H

#include "delivery/delivery_int.h"

#define COMPRESS_SNAPPY_BLOCK_LEN (32 * 1024) /* input bytes per block (snappy-java's) */

/* Each appends the compressed form of in[0, len) to out. 0, SL_E(NOMEM), SL_E(INTERNAL). */
int compress_gzip(const uint8_t *in, size_t len, struct buf *out);
int compress_snappy_java(const uint8_t *in, size_t len, struct buf *out);
int compress_hadoop_snappy(const uint8_t *in, size_t len, struct buf *out);
/* A zip archive of one deflated entry named entry, modified at mtime_ms (UTC). Inputs of
   4 GiB and more are refused (SL_E(INTERNAL)): no ZIP64. */
int compress_zip(const uint8_t *in, size_t len, const char *entry, int64_t mtime_ms,
                 struct buf *out);

/*
 * Appends the decompressed form of the gzip stream in[0, len) to out (the Decompression
 * processor): one or more gzip members, nothing after the last. Refuses output past
 * max_out bytes (a bomb). Returns 0, SL_E(INVALID_ARGUMENT) (not gzip, damaged, truncated,
 * too large; *why (OUT) gets a static reason), SL_E(NOMEM).
 */
int decompress_gzip(const uint8_t *in, size_t len, size_t max_out, struct buf *out,
                    const char **why);

/*
 * Appends in[0, len) compressed by c to out (as is for UNCOMPRESSED), the zip entry named
 * by a fresh UUID and dated ts_ms. *encoding (OUT) gets the Content-Encoding, NULL for
 * UNCOMPRESSED. Returns what the format's function returns.
 */
int delivery__compress(enum delivery_compression c, const uint8_t *in, size_t len, int64_t ts_ms,
                       struct buf *out, const char **encoding);
/*
 * Compresses one object of ds as d says (d->compression not UNCOMPRESSED) into out, retried
 * with backoff while memory runs short. *meta_json (OUT) gets the object's metadata
 * ({"Content-Encoding":...}, static). Returns 0, or 1 when the engine stopped first.
 */
int delivery__compress_object(struct dstream *ds, const struct delivery_dest *d, const uint8_t *in,
                              size_t len, int64_t ts_ms, struct buf *out, const char **meta_json);
/*
 * Writes one error object of type error_type (the key of delivery__error_key, the records'
 * error JSON lines in lines[0, len)) compressed with the destination's CompressionFormat,
 * as AWS writes the error output of a compressed destination (format conversion needs
 * UNCOMPRESSED, so its error objects are plain). Returns 0 in the lake, 1 stopped.
 */
struct flush_conf;
int delivery__error_put(struct dstream *ds, const struct flush_conf *fc, const char *error_type,
                        int64_t oldest_ms, const uint8_t *lines, size_t len);
/* The extension AWS gives c: "", ".gz", ".zip", ".snappy" (both Snappy formats). */
const char *delivery__compress_ext(enum delivery_compression c);

#endif
