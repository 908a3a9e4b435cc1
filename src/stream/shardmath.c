/*
 * The arithmetic of shards: hash keys, shard ids, sequence numbers and iterators.
 *
 * Hash keys are the 128-bit big-endian MD5 of the partition key, or an explicit
 * decimal hash key. A stream of n shards splits [0, 2^128) evenly: shard i starts at
 * floor(i * 2^128 / n) and ends one before shard i+1 starts.
 *
 * A sequence number is 56 decimal digits, AWS's layout (version 2, as numbers AWS hands
 * out decode): the decimal form of a 188-bit number whose fields, most significant first,
 * are
 *
 *   bits  field
 *   4     2 (so the number lies in [2^185, 1.5 * 2^185): 56 digits, "49..." to "73...")
 *   36    the shard's sequence epoch, seconds (its creation, above its parents')
 *   4     the shard number's low 4 bits
 *   64    the counter: 0 the shard's start, index + 1 a record, 2^63 - 1 a closed
 *         shard's end (top bit 0)
 *   8     0
 *   36    the record's arrival in seconds (the shard's creation at its start, its
 *         closing at its end)
 *   32    the shard number (top bit 0)
 *   4     2, the version
 *
 * so within a shard numbers increase strictly with the counter (the arrival is below
 * it), the same after a restart (index, creation and arrival are durable), and every
 * number of a child exceeds every number of its parents (a higher epoch). Numbers compare
 * equally as big integers and, all being 56 digits, as strings.
 *
 * Numbers of the first layout, which earlier versions handed out and clients may keep
 * (checkpoints), still parse to the same records:
 *
 *   digits  0-1   "49"
 *           2-19  the stream's tag (its creation time in ms), 18 digits
 *          20-25  the shard number, 6 digits
 *          26-35  zero
 *          36-55  the record's index in the shard log, 20 digits
 *
 * The two layouts do not overlap: a first-layout number is below 4.9000001 * 10^55 (its
 * tag is below 10^13 for another 250 years) and so below 2^185 (4.9039... * 10^55), where
 * every second-layout number begins; stream_seqno_decode tells them apart by that alone.
 * A first-layout number also compares below every second-layout one, so a checkpoint
 * taken before the change sorts before every record numbered after it.
 *
 * A shard iterator is base64url(payload || HMAC-SHA256(key, payload)[0..16)) with
 *
 *   offset size  field
 *   0      1     version (1)
 *   1      8     stream id
 *   9      8     stream tag
 *   17     4     shard number
 *   21     8     record index to read next
 *   29     8     issue time, ms since the epoch
 *
 * all little-endian; a wrong MAC means forged or damaged, an old issue time expired.
 */
#include <stdio.h>
#include <string.h>

#include "core/base64.h"
#include "core/crypto.h"
#include "core/log.h"
#include "stream/stream_int.h"

u128 stream_hashkey_of_partition_key(const char *pk, size_t len)
{
    uint8_t digest[MD5_LEN];
    crypto_md5(pk, len, digest);
    u128 v = 0;
    for (int i = 0; i < MD5_LEN; i++) {
        v = (v << 8) | digest[i];
    }
    return v;
}

int stream_hashkey_parse(const char *text, size_t len, u128 *out)
{
    if (len == 0 || len > 39 || (len > 1 && text[0] == '0')) {
        return -1;
    }
    u128 v = 0;
    const u128 max = ~(u128)0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return -1;
        }
        unsigned d = (unsigned)(text[i] - '0');
        if (v > (max - d) / 10) {
            return -1;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

void stream_hashkey_format(u128 v, char out[48])
{
    char tmp[48];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v != 0);
    for (int i = 0; i < n; i++) {
        out[i] = tmp[n - 1 - i];
    }
    out[n] = '\0';
}

size_t stream__open_slot_for_hash(const struct stream *s, u128 hash)
{
    size_t lo = 0, hi = s->n_open;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (s->open_shards[mid]->start_hash <= hash) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* floor(i * 2^128 / n) without overflow: (2^128 / n) * i plus the remainder share. */
static u128 split_point(uint32_t i, uint32_t n)
{
    if (i == 0) {
        return 0;
    }
    const u128 max = ~(u128)0; /* 2^128 - 1 */
    u128 q = max / n;
    u128 r = max % n + 1; /* 2^128 = q*n + r, with r possibly == n */
    if (r == n) {
        q += 1;
        r = 0;
    }
    return q * i + (r * i) / n;
}

void stream__shard_even_range(uint32_t i, uint32_t n, u128 *start, u128 *end)
{
    *start = split_point(i, n);
    *end = i + 1 == n ? ~(u128)0 : split_point(i + 1, n) - 1;
}

void stream_shard_id_format(uint32_t idx, char out[STREAM_SHARD_ID_LEN + 1])
{
    snprintf(out, STREAM_SHARD_ID_LEN + 1, "shardId-%012u", idx);
}

int stream_shard_id_parse(const char *text, uint32_t *idx_out)
{
    const char *digits = text;
    if (strncmp(text, "shardId-", 8) == 0) {
        digits = text + 8;
    }
    size_t n = strlen(digits);
    if (n == 0 || n > 12) {
        return -1;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (digits[i] < '0' || digits[i] > '9') {
            return -1;
        }
        v = v * 10 + (uint64_t)(digits[i] - '0');
    }
    if (v > UINT32_MAX) {
        return -1;
    }
    *idx_out = (uint32_t)v;
    return 0;
}

/* ---- sequence numbers ---- */

/* Bit positions of the fields in the 188-bit number (least significant bit 0). */
#define SEQ_VERSION_POS 0
#define SEQ_SHARD_POS 4
#define SEQ_TIME_POS 36
#define SEQ_COUNTER_POS 80
#define SEQ_NIBBLE_POS 144
#define SEQ_EPOCH_POS 148
#define SEQ_TOP_POS 184
#define SEQ_TIME_BITS 36
#define SEQ_VERSION 2
#define SEQ_TOP 2
#define SEQ_OLD_LEN 56

static const char DIGIT_PAIRS[] = "00010203040506070809101112131415161718192021222324252627282930"
                                  "31323334353637383940414243444546474849505152535455565758596061"
                                  "62636465666768697071727374757677787980818283848586878889909192"
                                  "93949596979899";

/* A 192-bit number as three 64-bit limbs, least significant first. */
struct u192 {
    uint64_t w[3];
};

static uint64_t get_field(const struct u192 *n, unsigned pos, unsigned width)
{
    unsigned i = pos / 64, sh = pos % 64;
    uint64_t v = n->w[i] >> sh;
    if (sh != 0 && sh + width > 64) {
        v |= n->w[i + 1] << (64 - sh);
    }
    return width == 64 ? v : v & ((1ull << width) - 1);
}

static uint64_t seconds_field(int64_t s)
{
    return s < 0 ? 0 : (uint64_t)s & ((1ull << SEQ_TIME_BITS) - 1);
}

/* 2^k in base 10^9, least significant limb first, for k the fields' positions. */
#define SEQ_BASE 1000000000u
static const uint32_t POW2_184[] = {937634816u, 899825954u, 404946937u, 733552434u,
                                    854221733u, 519928653u, 24u};
static const uint32_t POW2_148[] = {95686656u, 362373784u, 264571492u, 176489970u, 356811923u};
static const uint32_t POW2_144[] = {505980416u, 272648361u, 141535718u, 198530623u, 22300745u};
static const uint32_t POW2_80[] = {174706176u, 819614629u, 1208925u};
static const uint32_t POW2_36[] = {719476736u, 68u};
#define SEQ_LIMBS 7 /* base 10^9 limbs of a 56-digit number: 6 of 9 digits and 2 digits */

/* acc += v * pow (pow of n limbs), unnormalized: a column takes products below 10^18, at
   most fifteen of them (three per field), so nothing overflows 2^64. */
static void add_product(uint64_t acc[SEQ_LIMBS + 3], uint64_t v, const uint32_t *pow, int n)
{
    uint64_t v0 = v % SEQ_BASE, v1 = v / SEQ_BASE % SEQ_BASE, v2 = v / SEQ_BASE / SEQ_BASE;
    for (int k = 0; k < n; k++) {
        acc[k] += v0 * pow[k];
        acc[k + 1] += v1 * pow[k];
        acc[k + 2] += v2 * pow[k];
    }
}

void stream_seqno_encode(const struct stream_seqno_fields *f, char out[STREAM_SEQNO_LEN + 1])
{
    /* By hand, as the sum of each field times its power of two in base 10^9 (no long
       division), two digits per table entry: this runs for every record written and read. */
    uint32_t shard = f->shard.shard_idx & 0x7fffffffu;
    uint64_t acc[SEQ_LIMBS + 3] = {SEQ_VERSION + 16ull * shard % SEQ_BASE,
                                   16ull * shard / SEQ_BASE};
    add_product(acc, seconds_field(f->time_s), POW2_36, 2);
    add_product(acc, f->counter & STREAM_SEQNO_COUNTER_MAX, POW2_80, 3);
    add_product(acc, shard & 0xf, POW2_144, 5);
    add_product(acc, seconds_field(f->shard.epoch_s), POW2_148, 5);
    add_product(acc, SEQ_TOP, POW2_184, 7);
    char *p = out + STREAM_SEQNO_LEN;
    *p = '\0';
    uint64_t carry = 0;
    for (int k = 0; k < SEQ_LIMBS - 1; k++) {
        uint64_t v = acc[k] + carry;
        uint32_t limb = (uint32_t)(v % SEQ_BASE);
        carry = v / SEQ_BASE;
        uint32_t low8 = limb % 100000000u, hi4 = low8 / 10000, lo4 = low8 % 10000;
        p -= 9;
        p[0] = (char)('0' + limb / 100000000u);
        memcpy(p + 1, DIGIT_PAIRS + 2 * (hi4 / 100), 2);
        memcpy(p + 3, DIGIT_PAIRS + 2 * (hi4 % 100), 2);
        memcpy(p + 5, DIGIT_PAIRS + 2 * (lo4 / 100), 2);
        memcpy(p + 7, DIGIT_PAIRS + 2 * (lo4 % 100), 2);
    }
    memcpy(p - 2, DIGIT_PAIRS + 2 * ((acc[SEQ_LIMBS - 1] + carry) % 100), 2);
}

void stream_seqno_format(const struct stream_seqno_shard *sh, uint64_t index, int64_t arrival_ms,
                         char out[STREAM_SEQNO_LEN + 1])
{
    struct stream_seqno_fields f = {
        .shard = *sh, .counter = index + 1, .time_s = arrival_ms / 1000};
    stream_seqno_encode(&f, out);
}

static int parse_digits(const char *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }
        uint64_t d = (uint64_t)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return -1;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* The first layout (see the top): 0, or -1 when text is not of it. */
static int decode_first_layout(const char *text, size_t len, struct stream_seqno_fields *out)
{
    uint64_t tag, shard, zero, index;
    if (len != SEQ_OLD_LEN || text[0] != '4' || text[1] != '9' ||
        parse_digits(text + 2, 18, &tag) < 0 || parse_digits(text + 20, 6, &shard) < 0 ||
        parse_digits(text + 26, 10, &zero) < 0 || parse_digits(text + 36, 20, &index) < 0 ||
        zero != 0 || index >= STREAM_SEQNO_COUNTER_MAX) {
        return -1;
    }
    *out = (struct stream_seqno_fields){.shard = {.shard_idx = (uint32_t)shard},
                                        .counter = index + 1,
                                        .legacy = 1,
                                        .legacy_tag = tag};
    return 0;
}

int stream_seqno_decode(const char *text, size_t len, struct stream_seqno_fields *out)
{
    if (len != STREAM_SEQNO_LEN) {
        return -1;
    }
    /* Nine digits at a time into 32-bit halves; 10^56 < 2^187, so nothing overflows. */
    uint32_t h[6] = {0};
    size_t at = 0;
    for (size_t chunk = 2; at < len; at += chunk, chunk = 9) {
        uint64_t v;
        if (parse_digits(text + at, chunk, &v) < 0) {
            return -1;
        }
        uint64_t carry = v;
        uint64_t mul = chunk == 9 ? 1000000000u : 100u;
        for (int i = 0; i < 6; i++) {
            uint64_t cur = (uint64_t)h[i] * mul + carry;
            h[i] = (uint32_t)cur;
            carry = cur >> 32;
        }
    }
    struct u192 n;
    for (int i = 0; i < 3; i++) {
        n.w[i] = (uint64_t)h[2 * i] | (uint64_t)h[2 * i + 1] << 32;
    }
    if (get_field(&n, SEQ_TOP_POS, 4) != SEQ_TOP) {
        return decode_first_layout(text, len, out); /* below 2^185 */
    }
    uint64_t shard = get_field(&n, SEQ_SHARD_POS, 32);
    uint64_t counter = get_field(&n, SEQ_COUNTER_POS, 64);
    if (get_field(&n, SEQ_VERSION_POS, 4) != SEQ_VERSION || shard > 0x7fffffffu ||
        get_field(&n, SEQ_NIBBLE_POS, 4) != (shard & 0xf) || counter > STREAM_SEQNO_COUNTER_MAX) {
        return -1;
    }
    *out = (struct stream_seqno_fields){
        .shard = {.shard_idx = (uint32_t)shard,
                  .epoch_s = (int64_t)get_field(&n, SEQ_EPOCH_POS, SEQ_TIME_BITS)},
        .counter = counter,
        .time_s = (int64_t)get_field(&n, SEQ_TIME_POS, SEQ_TIME_BITS)};
    return 0;
}

int64_t stream__seq_epoch(int64_t created_ms, int64_t parent_epoch_s, int64_t adjacent_epoch_s)
{
    int64_t e = created_ms / 1000;
    if (parent_epoch_s >= e) {
        e = parent_epoch_s + 1;
    }
    if (adjacent_epoch_s >= e) {
        e = adjacent_epoch_s + 1;
    }
    return e;
}

int stream_seqno_pattern_ok(const char *text, size_t len)
{
    if (len == 0 || len > 129) {
        return 0;
    }
    if (len > 1 && text[0] == '0') {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return 0;
        }
    }
    return 1;
}

#define ITER_PAYLOAD_LEN 37
#define ITER_MAC_LEN 16

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

void stream__iterator_encode(const uint8_t key[32], const struct stream_iterator_pos *pos,
                             char *out, size_t out_size)
{
    uint8_t raw[ITER_PAYLOAD_LEN + ITER_MAC_LEN];
    raw[0] = 1;
    put_le(raw + 1, (uint64_t)pos->stream_id, 8);
    put_le(raw + 9, pos->seq_tag, 8);
    put_le(raw + 17, pos->shard_idx, 4);
    put_le(raw + 21, pos->index, 8);
    put_le(raw + 29, (uint64_t)pos->issued_ms, 8);
    uint8_t mac[SHA256_LEN];
    crypto_hmac_sha256(key, 32, raw, ITER_PAYLOAD_LEN, mac);
    memcpy(raw + ITER_PAYLOAD_LEN, mac, ITER_MAC_LEN);
    SL_ASSERT(out_size > BASE64_ENCODED_LEN(sizeof(raw)));
    size_t n = base64url_encode(raw, sizeof(raw), out);
    out[n] = '\0';
}

int stream__iterator_decode(const uint8_t key[32], const char *text, size_t len, int64_t now_ms,
                            struct stream_iterator_pos *pos, struct err_info *err)
{
    uint8_t raw[ITER_PAYLOAD_LEN + ITER_MAC_LEN + 4];
    if (len != BASE64_ENCODED_LEN(ITER_PAYLOAD_LEN + ITER_MAC_LEN) - 1 ||
        base64url_decode(text, len, raw) != ITER_PAYLOAD_LEN + ITER_MAC_LEN || raw[0] != 1) {
        return err_set(err, SL_E(INVALID_ARGUMENT), "Invalid ShardIterator.");
    }
    uint8_t mac[SHA256_LEN];
    crypto_hmac_sha256(key, 32, raw, ITER_PAYLOAD_LEN, mac);
    if (!crypto_equal(mac, raw + ITER_PAYLOAD_LEN, ITER_MAC_LEN)) {
        return err_set(err, SL_E(INVALID_ARGUMENT), "Invalid ShardIterator.");
    }
    pos->stream_id = (int64_t)get_le(raw + 1, 8);
    pos->seq_tag = get_le(raw + 9, 8);
    pos->shard_idx = (uint32_t)get_le(raw + 17, 4);
    pos->index = get_le(raw + 21, 8);
    pos->issued_ms = (int64_t)get_le(raw + 29, 8);
    if (now_ms - pos->issued_ms > STREAM_ITERATOR_TTL_MS) {
        return err_set(err, SL_E(EXPIRED_ITERATOR),
                       "Iterator expired. The iterator was created at time %lld while right now "
                       "it is %lld which is further in the future than the tolerated delay of "
                       "%d milliseconds.",
                       (long long)pos->issued_ms, (long long)now_ms, STREAM_ITERATOR_TTL_MS);
    }
    return 0;
}
