/*
 * Fuzz target for the aws-chunked decoder of S3 streaming uploads.
 *
 * Input: byte 0 selects the mode (bit 0: signed chunks, bit 1: trailers, bits 2-7: the
 * split size for feeding), the rest is the encoded body. The decoded output is counted
 * and checked against the decoder's own length.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lake/s3_int.h"

static int count_sink(void *arg, const uint8_t *data, size_t len)
{
    size_t *total = arg;
    if (len > 0 && data == NULL) {
        __builtin_trap();
    }
    *total += len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    static const uint8_t key[32] = {1, 2, 3};
    uint8_t mode = data[0];
    size_t split = (size_t)(mode >> 2) + 1;
    data++;
    size--;
    size_t total = 0;
    struct s3_chunked c;
    struct err_info err;
    err_clear(&err);
    s3__chunked_init(&c, mode & 1, (mode >> 1) & 1, key, "20261126T100000Z",
                     "20261126/us-east-1/s3/aws4_request",
                     "0000000000000000000000000000000000000000000000000000000000000000", count_sink,
                     &total);
    int rc = 0;
    for (size_t off = 0; off < size && rc == 0; off += split) {
        size_t n = size - off < split ? size - off : split;
        rc = s3__chunked_feed(&c, data + off, n, &err);
    }
    if (rc == 0) {
        rc = s3__chunked_finish(&c, &err);
    }
    if (total != c.decoded_len) {
        __builtin_trap();
    }
    (void)s3__chunked_trailer(&c, "x-amz-checksum-crc32");
    s3__chunked_fini(&c);
    return 0;
}
