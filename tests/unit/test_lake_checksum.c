/* Unit tests of S3's checksum types and of combining CRCs (src/lake/lake_checksum.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/crc.h"
#include "lake/lake.h"
#include "lake/lake_int.h"

static uint64_t crc_of(enum lake_checksum_algo algo, const uint8_t *p, size_t n)
{
    switch (algo) {
    case LAKE_CHECKSUM_CRC32: return crc32_update(0, p, n);
    case LAKE_CHECKSUM_CRC32C: return lake__crc32c(0, p, n);
    default: return lake__crc64nvme(0, p, n);
    }
}

/* crc(A || B) from crc(A), crc(B) and len(B), at every split of a buffer. */
static void test_crc_combine_matches_whole_crc_at_every_split(void **state)
{
    (void)state;
    uint8_t data[300];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(data); i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (uint8_t)(x >> 16);
    }
    const enum lake_checksum_algo algos[] = {LAKE_CHECKSUM_CRC32, LAKE_CHECKSUM_CRC32C,
                                             LAKE_CHECKSUM_CRC64NVME};
    for (size_t a = 0; a < 3; a++) {
        uint64_t whole = crc_of(algos[a], data, sizeof(data));
        for (size_t cut = 0; cut <= sizeof(data); cut++) {
            uint64_t ca = crc_of(algos[a], data, cut);
            uint64_t cb = crc_of(algos[a], data + cut, sizeof(data) - cut);
            assert_true(lake__crc_combine(algos[a], ca, cb, (int64_t)(sizeof(data) - cut)) ==
                        whole);
        }
    }
}

/* Three parts folded left to right, as a completion does, and a part of 5 GiB of zeros
   (the length alone matters for the shift: checked against the one-byte shift repeated). */
static void test_crc_combine_folds_parts_and_large_lengths(void **state)
{
    (void)state;
    const char *p[] = {"hello ", "multipart ", "world"};
    uint64_t acc = 0;
    for (int i = 0; i < 3; i++) {
        uint64_t c = lake__crc32c(0, p[i], strlen(p[i]));
        acc = i == 0 ? c : lake__crc_combine(LAKE_CHECKSUM_CRC32C, acc, c, (int64_t)strlen(p[i]));
    }
    const char *all = "hello multipart world";
    assert_true(acc == lake__crc32c(0, all, strlen(all)));
    /* Combining with an empty part changes nothing. */
    assert_true(lake__crc_combine(LAKE_CHECKSUM_CRC32, 0xCBF43926u, 0, 0) == 0xCBF43926u);
    /* A long zero run: combine(a, crc(zeros n), n) equals feeding the zeros. */
    static uint8_t zeros[4096];
    uint64_t a = crc32_update(0, "abc", 3);
    uint64_t fed = a;
    for (int i = 0; i < 256; i++) {
        fed = crc32_update((uint32_t)fed, zeros, sizeof(zeros));
    }
    uint64_t z = 0;
    for (int i = 0; i < 256; i++) {
        z = crc32_update((uint32_t)z, zeros, sizeof(zeros));
    }
    assert_true(lake__crc_combine(LAKE_CHECKSUM_CRC32, a, z, 256 * 4096) == fed);
}

static void test_crc_base64_round_trip(void **state)
{
    (void)state;
    char out[LAKE_CHECKSUM_MAX];
    lake__crc_encode(LAKE_CHECKSUM_CRC32, 0xCBF43926u, out);
    assert_string_equal(out, "y/Q5Jg==");
    uint64_t v = 0;
    assert_int_equal(lake__crc_decode(LAKE_CHECKSUM_CRC32, "y/Q5Jg==", &v), 0);
    assert_true(v == 0xCBF43926u);
    lake__crc_encode(LAKE_CHECKSUM_CRC64NVME, 0xAE8B14860A799888ull, out);
    assert_int_equal(lake__crc_decode(LAKE_CHECKSUM_CRC64NVME, out, &v), 0);
    assert_true(v == 0xAE8B14860A799888ull);
    /* Not a CRC of that algorithm: wrong length, SHA, nothing. */
    assert_int_equal(lake__crc_decode(LAKE_CHECKSUM_CRC64NVME, "y/Q5Jg==", &v), -1);
    assert_int_equal(lake__crc_decode(LAKE_CHECKSUM_SHA1, "y/Q5Jg==", &v), -1);
    assert_int_equal(lake__crc_decode(LAKE_CHECKSUM_CRC32, "", &v), -1);
    assert_int_equal(lake__crc_decode(LAKE_CHECKSUM_CRC32, NULL, &v), -1);
}

/* S3's rules: SHA only COMPOSITE, CRC64NVME only FULL_OBJECT, CRC32/CRC32C either. */
static void test_checksum_type_rules(void **state)
{
    (void)state;
    assert_int_equal(lake_checksum_type_default(LAKE_CHECKSUM_CRC64NVME),
                     LAKE_CHECKSUM_FULL_OBJECT);
    assert_int_equal(lake_checksum_type_default(LAKE_CHECKSUM_CRC32), LAKE_CHECKSUM_COMPOSITE);
    assert_int_equal(lake_checksum_type_default(LAKE_CHECKSUM_CRC32C), LAKE_CHECKSUM_COMPOSITE);
    assert_int_equal(lake_checksum_type_default(LAKE_CHECKSUM_SHA256), LAKE_CHECKSUM_COMPOSITE);
    assert_true(lake_checksum_type_allowed(LAKE_CHECKSUM_CRC32, LAKE_CHECKSUM_FULL_OBJECT));
    assert_true(lake_checksum_type_allowed(LAKE_CHECKSUM_CRC32C, LAKE_CHECKSUM_COMPOSITE));
    assert_false(lake_checksum_type_allowed(LAKE_CHECKSUM_CRC64NVME, LAKE_CHECKSUM_COMPOSITE));
    assert_false(lake_checksum_type_allowed(LAKE_CHECKSUM_SHA1, LAKE_CHECKSUM_FULL_OBJECT));
    assert_false(lake_checksum_type_allowed(LAKE_CHECKSUM_SHA256, LAKE_CHECKSUM_FULL_OBJECT));
    assert_true(lake_checksum_type_allowed(LAKE_CHECKSUM_SHA256, LAKE_CHECKSUM_COMPOSITE));
    assert_false(lake_checksum_type_allowed(LAKE_CHECKSUM_NONE, LAKE_CHECKSUM_COMPOSITE));
    assert_int_equal(lake_checksum_type_from_name("FULL_OBJECT"), LAKE_CHECKSUM_FULL_OBJECT);
    assert_int_equal(lake_checksum_type_from_name("COMPOSITE"), LAKE_CHECKSUM_COMPOSITE);
    assert_int_equal(lake_checksum_type_from_name("full_object"), -1);
    assert_int_equal(lake_checksum_type_from_name(NULL), -1);
    assert_string_equal(lake_checksum_type_name(LAKE_CHECKSUM_FULL_OBJECT), "FULL_OBJECT");
    assert_int_equal(lake_checksum_type_of("R/nORQ==-2"), LAKE_CHECKSUM_COMPOSITE);
    assert_int_equal(lake_checksum_type_of("+SDIDA=="), LAKE_CHECKSUM_FULL_OBJECT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc_combine_matches_whole_crc_at_every_split),
        cmocka_unit_test(test_crc_combine_folds_parts_and_large_lengths),
        cmocka_unit_test(test_crc_base64_round_trip),
        cmocka_unit_test(test_checksum_type_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
