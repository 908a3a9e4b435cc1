/* Unit tests of shard arithmetic: hash keys, shard ranges, sequence numbers, iterators. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/crypto.h"
#include "stream/stream_int.h"

static const u128 MAX128 = ~(u128)0;

static void partition_key_hashes_to_md5_big_endian(void **state)
{
    (void)state;
    /* MD5("a") = 0cc175b9c0f1b6a831c399e269772661 */
    u128 h = stream_hashkey_of_partition_key("a", 1);
    char text[48];
    stream_hashkey_format(h, text);
    assert_string_equal(text, "16955237001963240173058271559858726497");
}

static void hash_keys_parse_the_full_range_and_no_more(void **state)
{
    (void)state;
    u128 v;
    assert_int_equal(stream_hashkey_parse("0", 1, &v), 0);
    assert_true(v == 0);
    const char *max = "340282366920938463463374607431768211455";
    assert_int_equal(stream_hashkey_parse(max, strlen(max), &v), 0);
    assert_true(v == MAX128);
    const char *over = "340282366920938463463374607431768211456";
    assert_int_equal(stream_hashkey_parse(over, strlen(over), &v), -1);
    assert_int_equal(stream_hashkey_parse("007", 3, &v), -1);
    assert_int_equal(stream_hashkey_parse("12a", 3, &v), -1);
    assert_int_equal(stream_hashkey_parse("", 0, &v), -1);
    char text[48];
    stream_hashkey_format(MAX128, text);
    assert_string_equal(text, max);
}

static void even_split_covers_the_space_without_gaps(void **state)
{
    (void)state;
    for (uint32_t n = 1; n <= 257; n += (n < 10 ? 1 : 31)) {
        u128 expect = 0;
        for (uint32_t i = 0; i < n; i++) {
            u128 start, end;
            stream__shard_even_range(i, n, &start, &end);
            assert_true(start == expect);
            assert_true(end >= start);
            expect = end + 1;
            if (i + 1 == n) {
                assert_true(end == MAX128);
            }
        }
    }
    /* AWS's well-known 4-shard split: 2^126 boundaries. */
    u128 start, end;
    stream__shard_even_range(1, 4, &start, &end);
    char text[48];
    stream_hashkey_format(start, text);
    assert_string_equal(text, "85070591730234615865843651857942052864");
    stream_hashkey_format(end, text);
    assert_string_equal(text, "170141183460469231731687303715884105727");
}

static void shard_for_hash_finds_the_owning_range(void **state)
{
    (void)state;
    struct shard shards[3];
    struct shard *open[3] = {&shards[0], &shards[1], &shards[2]};
    struct stream s = {.n_open = 3, .open_shards = open};
    for (uint32_t i = 0; i < 3; i++) {
        shards[i].idx = i;
        stream__shard_even_range(i, 3, &shards[i].start_hash, &shards[i].end_hash);
    }
    assert_int_equal(stream__open_slot_for_hash(&s, 0), 0);
    assert_int_equal(stream__open_slot_for_hash(&s, shards[1].start_hash), 1);
    assert_int_equal(stream__open_slot_for_hash(&s, shards[1].start_hash - 1), 0);
    assert_int_equal(stream__open_slot_for_hash(&s, MAX128), 2);
}

static void shard_ids_round_trip(void **state)
{
    (void)state;
    char id[STREAM_SHARD_ID_LEN + 1];
    stream_shard_id_format(7, id);
    assert_string_equal(id, "shardId-000000000007");
    uint32_t idx;
    assert_int_equal(stream_shard_id_parse(id, &idx), 0);
    assert_int_equal(idx, 7);
    assert_int_equal(stream_shard_id_parse("shardId-", &idx), -1);
    assert_int_equal(stream_shard_id_parse("shardId-99999999999999", &idx), -1);
    assert_int_equal(stream_shard_id_parse("shardId-00000000000x", &idx), -1);
}

static void encode(uint32_t shard, int64_t epoch_s, uint64_t counter, int64_t time_s,
                   char out[STREAM_SEQNO_LEN + 1])
{
    struct stream_seqno_fields f = {
        .shard = {.shard_idx = shard, .epoch_s = epoch_s}, .counter = counter, .time_s = time_s};
    stream_seqno_encode(&f, out);
    assert_int_equal(strlen(out), STREAM_SEQNO_LEN);
}

static void decode_ok(const char *text, struct stream_seqno_fields *f)
{
    assert_int_equal(stream_seqno_decode(text, strlen(text), f), 0);
}

static void sequence_numbers_have_aws_layout(void **state)
{
    (void)state;
    /* A closed shard's range as AWS reported it: its start (counter 0, the shard's
       creation) and its end (the last counter, the closing time), on shardId-000000000001. */
    const char *start = "49549167410945534708633744510750617797212193316405248018";
    const char *end = "49549167410956685081233009822320176730553508082787287058";
    struct stream_seqno_fields f;
    decode_ok(start, &f);
    assert_false(f.legacy);
    assert_int_equal(f.shard.shard_idx, 1);
    assert_int_equal(f.shard.epoch_s, 1427390931);
    assert_int_equal(f.counter, 0);
    assert_int_equal(f.time_s, 1427390931);
    decode_ok(end, &f);
    assert_int_equal(f.shard.shard_idx, 1);
    assert_int_equal(f.shard.epoch_s, 1427390931);
    assert_true(f.counter == STREAM_SEQNO_COUNTER_MAX);
    assert_int_equal(f.time_s, 1427748984);
    /* and the same fields give the same digits */
    char text[STREAM_SEQNO_LEN + 1];
    encode(1, 1427390931, 0, 1427390931, text);
    assert_string_equal(text, start);
    encode(1, 1427390931, STREAM_SEQNO_COUNTER_MAX, 1427748984, text);
    assert_string_equal(text, end);
    /* A record of AWS's, counter and arrival included. */
    decode_ok("49590338271490256608559692538361571095921575989136588898", &f);
    assert_int_equal(f.shard.shard_idx, 6);
    assert_int_equal(f.shard.epoch_s, 1542776258);
    assert_true(f.counter == 0x67648a17u);
    assert_int_equal(f.time_s, 1545084650);
}

static void sequence_numbers_increase_and_parse_back(void **state)
{
    (void)state;
    const struct stream_seqno_shard sh = {.shard_idx = 3, .epoch_s = 1764150000};
    char a[STREAM_SEQNO_LEN + 1], b[STREAM_SEQNO_LEN + 1], start[STREAM_SEQNO_LEN + 1];
    stream_seqno_format(&sh, 41, 1764150005999, a);
    /* the next record, though the clock went back: the index decides */
    stream_seqno_format(&sh, 42, 1764150001000, b);
    assert_int_equal(strlen(a), STREAM_SEQNO_LEN);
    assert_true(strcmp(a, b) < 0);
    assert_true(stream_seqno_pattern_ok(a, strlen(a)));
    struct stream_seqno_fields f;
    decode_ok(b, &f);
    assert_false(f.legacy);
    assert_int_equal(f.shard.shard_idx, 3);
    assert_int_equal(f.shard.epoch_s, 1764150000);
    assert_int_equal(f.counter, 43); /* index + 1: the shard's start is 0 */
    assert_int_equal(f.time_s, 1764150001);
    /* The shard's start precedes its first record, which the same second may bring. */
    encode(3, 1764150000, 0, 1764150000, start);
    stream_seqno_format(&sh, 0, 1764150000000, a);
    assert_true(strcmp(start, a) < 0);
    /* Every record, up to the largest index, precedes the shard's end. */
    char last[STREAM_SEQNO_LEN + 1], end[STREAM_SEQNO_LEN + 1];
    stream_seqno_format(&sh, (uint64_t)STREAM_SEQNO_COUNTER_MAX - 2, (int64_t)1 << 40, last);
    encode(3, 1764150000, STREAM_SEQNO_COUNTER_MAX, 1764150000, end);
    assert_true(strcmp(last, end) < 0);
    decode_ok(last, &f);
    assert_true(f.counter == (uint64_t)STREAM_SEQNO_COUNTER_MAX - 1);
    /* Large shard numbers round trip. */
    const uint32_t shards[] = {0, 15, 16, 123456, 0x7fffffffu};
    for (size_t i = 0; i < sizeof(shards) / sizeof(shards[0]); i++) {
        const struct stream_seqno_shard big = {.shard_idx = shards[i], .epoch_s = 1764150000};
        stream_seqno_format(&big, 123456789012345ull, 1764150009000, a);
        decode_ok(a, &f);
        assert_int_equal(f.shard.shard_idx, shards[i]);
        assert_true(f.counter == 123456789012346ull);
    }
    /* What is not a sequence number of either layout. */
    assert_int_equal(stream_seqno_decode("123", 3, &f), -1);
    assert_int_equal(stream_seqno_decode(b, strlen(b) - 1, &f), -1);
    char bad[STREAM_SEQNO_LEN + 1];
    strcpy(bad, b);
    bad[STREAM_SEQNO_LEN - 1] =
        (char)(bad[STREAM_SEQNO_LEN - 1] == '9' ? '0' : bad[STREAM_SEQNO_LEN - 1] + 1);
    assert_int_equal(stream_seqno_decode(bad, strlen(bad), &f), -1); /* the version is off */
    strcpy(bad, b);
    bad[10] = 'x';
    assert_int_equal(stream_seqno_decode(bad, strlen(bad), &f), -1);
    assert_int_equal(stream_seqno_decode("99999999999999999999999999999999999999999999999999999999",
                                         STREAM_SEQNO_LEN, &f),
                     -1);
    assert_false(stream_seqno_pattern_ok("0123", 4));
    assert_false(stream_seqno_pattern_ok("", 0));
    assert_true(stream_seqno_pattern_ok("0", 1));
}

/* The encoder sums each field's decimal weight; the decoder reads bits back: two ways of
   doing the arithmetic that must agree on every field, and order as the fields do. */
static void encoding_and_decoding_agree_on_random_fields(void **state)
{
    (void)state;
    uint64_t x = 88172645463325252ull; /* xorshift64 */
    char prev[STREAM_SEQNO_LEN + 1] = "";
    struct stream_seqno_fields prev_f = {0};
    for (int i = 0; i < 20000; i++) {
        uint64_t r[4];
        for (int k = 0; k < 4; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            r[k] = x;
        }
        struct stream_seqno_fields f = {.shard = {.shard_idx = (uint32_t)(r[0] & 0x7fffffffu),
                                                  .epoch_s = (int64_t)(r[1] & ((1ull << 36) - 1))},
                                        .counter = i % 3 == 0 ? r[2] >> (r[3] % 63 + 1) : r[2] >> 1,
                                        .time_s = (int64_t)(r[3] >> 28)};
        if (i % 5 == 0) { /* same shard as the previous: the counter orders */
            f.shard = prev_f.shard;
        }
        char text[STREAM_SEQNO_LEN + 1];
        stream_seqno_encode(&f, text);
        assert_int_equal(strlen(text), STREAM_SEQNO_LEN);
        struct stream_seqno_fields g;
        decode_ok(text, &g);
        assert_false(g.legacy);
        assert_int_equal(g.shard.shard_idx, f.shard.shard_idx);
        assert_int_equal(g.shard.epoch_s, f.shard.epoch_s);
        assert_true(g.counter == f.counter);
        assert_int_equal(g.time_s, f.time_s);
        if (i > 0 && f.shard.shard_idx == prev_f.shard.shard_idx &&
            f.shard.epoch_s == prev_f.shard.epoch_s && f.counter != prev_f.counter) {
            assert_true((strcmp(prev, text) < 0) == (prev_f.counter < f.counter));
        }
        if (f.shard.epoch_s != prev_f.shard.epoch_s && i > 0) {
            assert_true((strcmp(prev, text) < 0) == (prev_f.shard.epoch_s < f.shard.epoch_s));
        }
        memcpy(prev, text, sizeof(prev));
        prev_f = f;
    }
}

static void children_sort_after_their_parents(void **state)
{
    (void)state;
    /* Shard 15 created at t, split within the same second into 16 and 17 (16's low bits
       are below 15's), 16 merged with a neighbour later still in that second. */
    const int64_t t = 1764150000123;
    int64_t e15 = stream__seq_epoch(t, -1, -1);
    assert_int_equal(e15, 1764150000);
    int64_t e16 = stream__seq_epoch(t + 400, e15, -1);
    int64_t e17 = stream__seq_epoch(t + 400, e15, -1);
    assert_true(e16 > e15 && e17 > e15);
    int64_t e_other = stream__seq_epoch(t + 5000, -1, -1); /* a shard of another lineage */
    int64_t e18 = stream__seq_epoch(t + 600, e16, e_other);
    assert_true(e18 > e16 && e18 > e_other);
    /* A child created later than its parents keeps its own creation second. */
    assert_int_equal(stream__seq_epoch(t + 60000, e15, -1), 1764150060);
    char parent_end[STREAM_SEQNO_LEN + 1], child_start[STREAM_SEQNO_LEN + 1];
    encode(15, e15, STREAM_SEQNO_COUNTER_MAX, ((int64_t)1 << 36) - 1, parent_end);
    encode(16, e16, 0, 0, child_start);
    assert_true(strcmp(parent_end, child_start) < 0);
    char merged_start[STREAM_SEQNO_LEN + 1], other_end[STREAM_SEQNO_LEN + 1];
    encode(16, e16, STREAM_SEQNO_COUNTER_MAX, e16, parent_end);
    encode(3, e_other, STREAM_SEQNO_COUNTER_MAX, e_other, other_end);
    encode(18, e18, 0, e18, merged_start);
    assert_true(strcmp(parent_end, merged_start) < 0);
    assert_true(strcmp(other_end, merged_start) < 0);
}

static void first_layout_numbers_still_decode(void **state)
{
    (void)state;
    /* "49", the stream's tag (18 digits), the shard (6), ten zeros, the index (20). */
    const char *old = "49000001764150000123000003000000000000000000000000000042";
    struct stream_seqno_fields f;
    decode_ok(old, &f);
    assert_true(f.legacy);
    assert_true(f.legacy_tag == 1764150000123ull);
    assert_int_equal(f.shard.shard_idx, 3);
    assert_int_equal(f.counter, 43); /* record 42, as a number of the new layout counts it */
    /* It sorts below every number of the new layout, even of the same record. */
    const struct stream_seqno_shard sh = {.shard_idx = 3, .epoch_s = 1764150000};
    char now[STREAM_SEQNO_LEN + 1];
    stream_seqno_format(&sh, 0, 1764150000123, now);
    assert_true(strcmp(old, now) < 0);
    /* Its zero field must be zero. */
    assert_int_equal(stream_seqno_decode("49000001764150000123000003000000000100000000000000000042",
                                         STREAM_SEQNO_LEN, &f),
                     -1);
}

static void iterators_round_trip_refuse_forgery_and_expire(void **state)
{
    (void)state;
    uint8_t key[32];
    crypto_random(key, sizeof(key));
    struct stream_iterator_pos pos = {
        .stream_id = 12, .seq_tag = 99, .shard_idx = 2, .index = 12345, .issued_ms = 1000000};
    char text[160];
    stream__iterator_encode(key, &pos, text, sizeof(text));
    struct stream_iterator_pos got;
    struct err_info err;
    assert_int_equal(stream__iterator_decode(key, text, strlen(text), 1000000 + 1000, &got, &err),
                     0);
    assert_int_equal(got.index, 12345);
    assert_int_equal(got.shard_idx, 2);
    assert_int_equal(got.stream_id, 12);
    /* Five minutes is the limit. */
    assert_int_equal(stream__iterator_decode(key, text, strlen(text),
                                             1000000 + STREAM_ITERATOR_TTL_MS + 1, &got, &err),
                     SL_E(EXPIRED_ITERATOR));
    assert_non_null(strstr(err.message, "Iterator expired"));
    /* Every single-character change is caught. */
    for (size_t i = 0; i < strlen(text); i++) {
        char forged[160];
        strcpy(forged, text);
        forged[i] = forged[i] == 'A' ? 'B' : 'A';
        assert_int_equal(stream__iterator_decode(key, forged, strlen(forged), 1000000, &got, &err),
                         SL_E(INVALID_ARGUMENT));
    }
    uint8_t other[32];
    memcpy(other, key, 32);
    other[0] ^= 1;
    assert_int_equal(stream__iterator_decode(other, text, strlen(text), 1000000, &got, &err),
                     SL_E(INVALID_ARGUMENT));
    assert_int_equal(stream__iterator_decode(key, "", 0, 1000000, &got, &err),
                     SL_E(INVALID_ARGUMENT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(partition_key_hashes_to_md5_big_endian),
        cmocka_unit_test(hash_keys_parse_the_full_range_and_no_more),
        cmocka_unit_test(even_split_covers_the_space_without_gaps),
        cmocka_unit_test(shard_for_hash_finds_the_owning_range),
        cmocka_unit_test(shard_ids_round_trip),
        cmocka_unit_test(sequence_numbers_have_aws_layout),
        cmocka_unit_test(sequence_numbers_increase_and_parse_back),
        cmocka_unit_test(encoding_and_decoding_agree_on_random_fields),
        cmocka_unit_test(children_sort_after_their_parents),
        cmocka_unit_test(first_layout_numbers_still_decode),
        cmocka_unit_test(iterators_round_trip_refuse_forgery_and_expire),
    };
    return cmocka_run_group_tests_name("stream", tests, NULL, NULL);
}
