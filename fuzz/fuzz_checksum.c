/*
 * Fuzz target for the lake's checksums (lake/lake_checksum.c), as a differential check:
 * the first byte picks a CRC (CRC32, CRC32C, CRC64NVME) and where the rest splits into
 * A and B. The CRC of A then B computed at once, in pieces, and by combining the CRCs
 * of A and B (how a FULL_OBJECT multipart checksum is made) must agree; its base64
 * must decode to it. The same bytes are also read as a checksum header value: the
 * decoder, the "<base64>-N" type test and the name lookups must not fault, and what
 * decodes encodes back to a value that decodes the same.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lake/lake_int.h"

static uint64_t crc_of(enum lake_checksum_algo algo, const uint8_t *p, size_t n, size_t step)
{
    struct lake__checksum c;
    lake__checksum_init(&c, algo);
    for (size_t off = 0; off < n; off += step) {
        lake__checksum_update(&c, p + off, n - off < step ? n - off : step);
    }
    char b64[LAKE_CHECKSUM_MAX];
    lake__checksum_final(&c, b64);
    uint64_t v;
    if (lake__crc_decode(algo, b64, &v) != 0) {
        __builtin_trap(); /* our own encoding decodes */
    }
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    static const enum lake_checksum_algo crcs[] = {LAKE_CHECKSUM_CRC32, LAKE_CHECKSUM_CRC32C,
                                                   LAKE_CHECKSUM_CRC64NVME};
    enum lake_checksum_algo algo = crcs[data[0] % 3];
    const uint8_t *body = data + 1;
    size_t len = size - 1;
    size_t split = len > 0 ? (data[0] / 3) % (len + 1) : 0;
    uint64_t whole = crc_of(algo, body, len, len > 0 ? len : 1);
    uint64_t pieces = crc_of(algo, body, len, 1 + data[0] % 7);
    uint64_t a = crc_of(algo, body, split, split > 0 ? split : 1);
    uint64_t b = crc_of(algo, body + split, len - split, len - split > 0 ? len - split : 1);
    if (whole != pieces || lake__crc_combine(algo, a, b, (int64_t)(len - split)) != whole) {
        __builtin_trap();
    }
    char enc[LAKE_CHECKSUM_MAX];
    lake__crc_encode(algo, whole, enc);
    uint64_t back;
    if (lake__crc_decode(algo, enc, &back) != 0 || back != whole) {
        __builtin_trap();
    }

    /* The bytes as a header value. */
    char *text = malloc(len + 1);
    memcpy(text, body, len);
    text[len] = '\0';
    for (int al = LAKE_CHECKSUM_NONE; al <= LAKE_CHECKSUM_SHA256 + 1; al++) {
        uint64_t v;
        if (lake__crc_decode((enum lake_checksum_algo)al, text, &v) == 0) {
            lake__crc_encode((enum lake_checksum_algo)al, v, enc);
            uint64_t again;
            if (lake__crc_decode((enum lake_checksum_algo)al, enc, &again) != 0 || again != v) {
                __builtin_trap();
            }
        }
    }
    (void)lake_checksum_type_of(text);
    (void)lake_checksum_from_name(text);
    (void)lake_checksum_type_from_name(text);
    free(text);
    return 0;
}
