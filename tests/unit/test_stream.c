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

static void sequence_numbers_increase_and_parse_back(void **state)
{
    (void)state;
    char a[STREAM_SEQNO_LEN + 1], b[STREAM_SEQNO_LEN + 1];
    stream_seqno_format(1764150000123ull, 3, 41, a);
    stream_seqno_format(1764150000123ull, 3, 42, b);
    assert_int_equal(strlen(a), STREAM_SEQNO_LEN);
    assert_true(strcmp(a, b) < 0);
    assert_true(stream_seqno_pattern_ok(a, strlen(a)));
    uint64_t index;
    assert_int_equal(stream__seqno_parse(b, strlen(b), 1764150000123ull, 3, &index), 0);
    assert_int_equal(index, 42);
    /* Another shard's or another stream's sequence number is not this shard's. */
    assert_int_equal(stream__seqno_parse(b, strlen(b), 1764150000123ull, 4, &index), -1);
    assert_int_equal(stream__seqno_parse(b, strlen(b), 1764150000124ull, 3, &index), -1);
    assert_int_equal(stream__seqno_parse("123", 3, 1764150000123ull, 3, &index), -1);
    assert_false(stream_seqno_pattern_ok("0123", 4));
    assert_false(stream_seqno_pattern_ok("", 0));
    assert_true(stream_seqno_pattern_ok("0", 1));
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
        cmocka_unit_test(sequence_numbers_increase_and_parse_back),
        cmocka_unit_test(iterators_round_trip_refuse_forgery_and_expire),
    };
    return cmocka_run_group_tests_name("stream", tests, NULL, NULL);
}
