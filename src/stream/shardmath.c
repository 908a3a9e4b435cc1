/*
 * The arithmetic of shards: hash keys, shard ids, sequence numbers and iterators.
 *
 * Hash keys are the 128-bit big-endian MD5 of the partition key, or an explicit
 * decimal hash key. A stream of n shards splits [0, 2^128) evenly: shard i starts at
 * floor(i * 2^128 / n) and ends one before shard i+1 starts.
 *
 * A sequence number is 56 decimal digits:
 *
 *   digits  0-1   "49"
 *           2-19  the stream's tag (its creation time in ms), 18 digits
 *          20-25  the shard number, 6 digits
 *          26-35  zero (room for a shard generation)
 *          36-55  the record's index in the shard log, 20 digits
 *
 * so within a shard they increase strictly with the index, compare equally as strings
 * or as big integers, and are the same after a restart because the index is durable.
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

void stream_seqno_format(uint64_t tag, uint32_t shard_idx, uint64_t index,
                         char out[STREAM_SEQNO_LEN + 1])
{
    /* By hand: this runs for every record written and read. */
    static const int widths[] = {18, 6, 10, 20};
    uint64_t parts[] = {tag % 1000000000000000000ull, shard_idx % 1000000u, 0, index};
    out[0] = '4';
    out[1] = '9';
    char *p = out + 2;
    for (int k = 0; k < 4; k++) {
        uint64_t v = parts[k];
        for (int i = widths[k] - 1; i >= 0; i--) {
            p[i] = (char)('0' + v % 10);
            v /= 10;
        }
        p += widths[k];
    }
    *p = '\0';
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

int stream__seqno_parse(const char *text, size_t len, uint64_t tag, uint32_t shard_idx,
                        uint64_t *index_out)
{
    uint64_t got_tag, got_shard, zero, index;
    if (len != STREAM_SEQNO_LEN || text[0] != '4' || text[1] != '9' ||
        parse_digits(text + 2, 18, &got_tag) < 0 || parse_digits(text + 20, 6, &got_shard) < 0 ||
        parse_digits(text + 26, 10, &zero) < 0 || parse_digits(text + 36, 20, &index) < 0) {
        return -1;
    }
    if (got_tag != tag % 1000000000000000000ull || got_shard != shard_idx % 1000000u || zero != 0) {
        return -1;
    }
    *index_out = index;
    return 0;
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
