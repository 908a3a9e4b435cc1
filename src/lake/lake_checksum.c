/*
 * The checksums S3 accepts in x-amz-checksum-*: CRC32 (zlib's, IEEE 802.3), CRC32C
 * (Castagnoli, reflected polynomial 0x82F63B78), CRC64NVME (reflected polynomial
 * 0x9A6C9329AC4BC9B5, initial value and final xor all ones), SHA-1 and SHA-256. Values
 * travel as the base64 of the big-endian digest bytes.
 *
 * The CRCs use slicing-by-8 tables built once on first use.
 */
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "core/base64.h"
#include "core/crc.h"
#include "core/crypto.h"
#include "lake/lake_int.h"

static uint32_t crc32c_table[8][256];
static uint64_t crc64_table[8][256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void tables_build(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        uint64_t d = i;
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            d = (d & 1) ? (d >> 1) ^ 0x9A6C9329AC4BC9B5ull : d >> 1;
        }
        crc32c_table[0][i] = c;
        crc64_table[0][i] = d;
    }
    for (int t = 1; t < 8; t++) {
        for (int i = 0; i < 256; i++) {
            uint32_t c = crc32c_table[t - 1][i];
            crc32c_table[t][i] = (c >> 8) ^ crc32c_table[0][c & 0xff];
            uint64_t d = crc64_table[t - 1][i];
            crc64_table[t][i] = (d >> 8) ^ crc64_table[0][d & 0xff];
        }
    }
}

/* Continues a CRC32C: crc is the previous result (0 to start). */
uint32_t lake__crc32c(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&tables_once, tables_build);
    const uint8_t *p = data;
    uint32_t c = ~crc;
    while (len >= 8) {
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                           (uint32_t)p[3] << 24);
        c = crc32c_table[7][lo & 0xff] ^ crc32c_table[6][(lo >> 8) & 0xff] ^
            crc32c_table[5][(lo >> 16) & 0xff] ^ crc32c_table[4][lo >> 24] ^ crc32c_table[3][p[4]] ^
            crc32c_table[2][p[5]] ^ crc32c_table[1][p[6]] ^ crc32c_table[0][p[7]];
        p += 8;
        len -= 8;
    }
    while (len-- > 0) {
        c = (c >> 8) ^ crc32c_table[0][(c ^ *p++) & 0xff];
    }
    return ~c;
}

/* Continues a CRC64NVME: crc is the previous result (0 to start). */
uint64_t lake__crc64nvme(uint64_t crc, const void *data, size_t len)
{
    pthread_once(&tables_once, tables_build);
    const uint8_t *p = data;
    uint64_t c = ~crc;
    while (len >= 8) {
        uint64_t v = 0;
        for (int i = 7; i >= 0; i--) {
            v = (v << 8) | p[i];
        }
        c ^= v;
        c = crc64_table[7][c & 0xff] ^ crc64_table[6][(c >> 8) & 0xff] ^
            crc64_table[5][(c >> 16) & 0xff] ^ crc64_table[4][(c >> 24) & 0xff] ^
            crc64_table[3][(c >> 32) & 0xff] ^ crc64_table[2][(c >> 40) & 0xff] ^
            crc64_table[1][(c >> 48) & 0xff] ^ crc64_table[0][c >> 56];
        p += 8;
        len -= 8;
    }
    while (len-- > 0) {
        c = (c >> 8) ^ crc64_table[0][(c ^ *p++) & 0xff];
    }
    return ~c;
}

static const char *const names[] = {
    [LAKE_CHECKSUM_NONE] = "",         [LAKE_CHECKSUM_CRC32] = "CRC32",
    [LAKE_CHECKSUM_CRC32C] = "CRC32C", [LAKE_CHECKSUM_CRC64NVME] = "CRC64NVME",
    [LAKE_CHECKSUM_SHA1] = "SHA1",     [LAKE_CHECKSUM_SHA256] = "SHA256",
};

const char *lake_checksum_name(enum lake_checksum_algo algo)
{
    if ((size_t)algo >= sizeof(names) / sizeof(names[0])) {
        return "";
    }
    return names[algo];
}

enum lake_checksum_algo lake_checksum_from_name(const char *name)
{
    if (name == NULL) {
        return LAKE_CHECKSUM_NONE;
    }
    for (size_t i = 1; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(name, names[i]) == 0) {
            return (enum lake_checksum_algo)i;
        }
    }
    return LAKE_CHECKSUM_NONE;
}

size_t lake__checksum_len(enum lake_checksum_algo algo)
{
    switch (algo) {
    case LAKE_CHECKSUM_CRC32:
    case LAKE_CHECKSUM_CRC32C: return 4;
    case LAKE_CHECKSUM_CRC64NVME: return 8;
    case LAKE_CHECKSUM_SHA1: return 20;
    case LAKE_CHECKSUM_SHA256: return 32;
    default: return 0;
    }
}

void lake__checksum_init(struct lake__checksum *c, enum lake_checksum_algo algo)
{
    memset(c, 0, sizeof(*c));
    c->algo = algo;
    if (algo == LAKE_CHECKSUM_SHA1) {
        c->digest = crypto_digest_create(CRYPTO_SHA1);
    } else if (algo == LAKE_CHECKSUM_SHA256) {
        c->digest = crypto_digest_create(CRYPTO_SHA256);
    }
}

void lake__checksum_update(struct lake__checksum *c, const void *data, size_t len)
{
    switch (c->algo) {
    case LAKE_CHECKSUM_CRC32: c->crc32 = crc32_update(c->crc32, data, len); break;
    case LAKE_CHECKSUM_CRC32C: c->crc32 = lake__crc32c(c->crc32, data, len); break;
    case LAKE_CHECKSUM_CRC64NVME: c->crc64 = lake__crc64nvme(c->crc64, data, len); break;
    case LAKE_CHECKSUM_SHA1:
    case LAKE_CHECKSUM_SHA256: crypto_digest_update(c->digest, data, len); break;
    default: break;
    }
}

void lake__checksum_final(struct lake__checksum *c, char *out)
{
    uint8_t raw[32];
    size_t n = 0;
    switch (c->algo) {
    case LAKE_CHECKSUM_CRC32:
    case LAKE_CHECKSUM_CRC32C:
        for (int i = 0; i < 4; i++) {
            raw[i] = (uint8_t)(c->crc32 >> (24 - 8 * i));
        }
        n = 4;
        break;
    case LAKE_CHECKSUM_CRC64NVME:
        for (int i = 0; i < 8; i++) {
            raw[i] = (uint8_t)(c->crc64 >> (56 - 8 * i));
        }
        n = 8;
        break;
    case LAKE_CHECKSUM_SHA1:
    case LAKE_CHECKSUM_SHA256: n = crypto_digest_final(c->digest, raw); break;
    default: break;
    }
    out[base64_encode(raw, n, out)] = '\0';
    lake__checksum_fini(c);
}

void lake__checksum_fini(struct lake__checksum *c)
{
    if (c->digest != NULL) {
        crypto_digest_destroy(c->digest);
        c->digest = NULL;
    }
}

/* ---- checksum types ---- */

const char *lake_checksum_type_name(enum lake_checksum_type type)
{
    return type == LAKE_CHECKSUM_FULL_OBJECT ? "FULL_OBJECT" : "COMPOSITE";
}

int lake_checksum_type_from_name(const char *name)
{
    if (name != NULL && strcmp(name, "COMPOSITE") == 0) {
        return LAKE_CHECKSUM_COMPOSITE;
    }
    if (name != NULL && strcmp(name, "FULL_OBJECT") == 0) {
        return LAKE_CHECKSUM_FULL_OBJECT;
    }
    return -1;
}

enum lake_checksum_type lake_checksum_type_default(enum lake_checksum_algo algo)
{
    return algo == LAKE_CHECKSUM_CRC64NVME ? LAKE_CHECKSUM_FULL_OBJECT : LAKE_CHECKSUM_COMPOSITE;
}

int lake_checksum_type_allowed(enum lake_checksum_algo algo, enum lake_checksum_type type)
{
    switch (algo) {
    case LAKE_CHECKSUM_CRC32:
    case LAKE_CHECKSUM_CRC32C: return 1;
    case LAKE_CHECKSUM_CRC64NVME: return type == LAKE_CHECKSUM_FULL_OBJECT;
    case LAKE_CHECKSUM_SHA1:
    case LAKE_CHECKSUM_SHA256: return type == LAKE_CHECKSUM_COMPOSITE;
    default: return 0;
    }
}

enum lake_checksum_type lake_checksum_type_of(const char *checksum)
{
    const char *dash = checksum != NULL ? strrchr(checksum, '-') : NULL;
    return dash != NULL && dash[1] >= '0' && dash[1] <= '9' ? LAKE_CHECKSUM_COMPOSITE
                                                            : LAKE_CHECKSUM_FULL_OBJECT;
}

/* ---- combining CRCs ---- */

/*
 * The three CRCs are reflected, with initial value and final xor all ones, so the CRC of
 * A followed by B is crc(B) xor crc(A) times x^(8 len(B)) modulo the polynomial (the
 * ones cancel out): GF(2) polynomials held reflected, x^0 in the top bit of the width.
 */
static void crc_params(enum lake_checksum_algo algo, uint64_t *poly, int *width)
{
    switch (algo) {
    case LAKE_CHECKSUM_CRC32:
        *poly = 0xEDB88320u;
        *width = 32;
        break;
    case LAKE_CHECKSUM_CRC32C:
        *poly = 0x82F63B78u;
        *width = 32;
        break;
    default:
        *poly = 0x9A6C9329AC4BC9B5ull;
        *width = 64;
        break;
    }
}

/* a times b modulo the polynomial. */
static uint64_t mult_mod(uint64_t a, uint64_t b, uint64_t poly, int width)
{
    uint64_t p = 0;
    for (uint64_t m = 1ull << (width - 1); m != 0 && a != 0; m >>= 1) {
        if (a & m) {
            p ^= b;
            a ^= m;
        }
        b = (b & 1) ? (b >> 1) ^ poly : b >> 1;
    }
    return p;
}

uint64_t lake__crc_combine(enum lake_checksum_algo algo, uint64_t crc_a, uint64_t crc_b,
                           int64_t len_b)
{
    uint64_t poly;
    int width;
    crc_params(algo, &poly, &width);
    uint64_t one = 1ull << (width - 1);
    uint64_t xp = one >> 1; /* x^1, squared three times: x^8, one byte */
    for (int i = 0; i < 3; i++) {
        xp = mult_mod(xp, xp, poly, width);
    }
    uint64_t shift = one; /* x^(8 len_b), by squaring */
    for (uint64_t n = (uint64_t)len_b; n != 0; n >>= 1) {
        if (n & 1) {
            shift = mult_mod(xp, shift, poly, width);
        }
        xp = mult_mod(xp, xp, poly, width);
    }
    return mult_mod(shift, crc_a, poly, width) ^ crc_b;
}

int lake__crc_decode(enum lake_checksum_algo algo, const char *b64, uint64_t *out)
{
    size_t want = lake__checksum_len(algo);
    size_t len = b64 != NULL ? strlen(b64) : 0;
    uint8_t raw[64];
    if ((want != 4 && want != 8) || algo == LAKE_CHECKSUM_SHA1 || len == 0 || len > 16 ||
        base64_decode(b64, len, raw) != (long)want) {
        return -1;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < want; i++) {
        v = (v << 8) | raw[i];
    }
    *out = v;
    return 0;
}

void lake__crc_encode(enum lake_checksum_algo algo, uint64_t crc, char *out)
{
    size_t n = lake__checksum_len(algo);
    uint8_t raw[8];
    for (size_t i = 0; i < n && i < sizeof(raw); i++) {
        raw[i] = (uint8_t)(crc >> (8 * (n - 1 - i)));
    }
    out[base64_encode(raw, n, out)] = '\0';
}
