/*
 * Encryption at rest of stream records: the keyed AES-GCM (crypto_gcm) against the one-shot
 * functions, and a stream service with KMS storing records sealed, reading them back
 * (across a reopen), never repeating a nonce, and refusing tampered envelopes.
 */
#define _XOPEN_SOURCE 700
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/store.h"
#include "kms/kms.h"
#include "stream/stream.h"
#include "stream/stream_int.h"

#define STREAM_FIXTURE_EXTRA struct kms *kms;
#include "stream_fixture.h"

static void keyed_gcm_matches_the_one_shot_functions(void **state)
{
    (void)state;
    uint8_t key[AES_GCM_KEY_LEN], iv[AES_GCM_IV_LEN] = {7}, msg[300], a[300], b[300];
    uint8_t ta[AES_GCM_TAG_LEN], tb[AES_GCM_TAG_LEN], back[300];
    for (size_t i = 0; i < sizeof(key); i++) {
        key[i] = (uint8_t)(i * 7);
    }
    for (size_t i = 0; i < sizeof(msg); i++) {
        msg[i] = (uint8_t)(i * 13 + 1);
    }
    crypto_aes_gcm_seal(key, iv, "aad", 3, msg, sizeof(msg), a, ta);
    struct crypto_gcm *g = crypto_gcm_create(key);
    struct crypto_gcm_part parts[3] = {{msg, 2}, {msg + 2, 0}, {msg + 2, sizeof(msg) - 2}};
    for (int round = 0; round < 2; round++) { /* the key serves message after message */
        crypto_gcm_seal(g, iv, "aad", 3, parts, 3, b, tb);
        assert_memory_equal(a, b, sizeof(a));
        assert_memory_equal(ta, tb, sizeof(ta));
        assert_int_equal(crypto_gcm_open(g, iv, "aad", 3, b, sizeof(b), tb, back), 0);
        assert_memory_equal(back, msg, sizeof(msg));
    }
    tb[0] ^= 1;
    assert_int_equal(crypto_gcm_open(g, iv, "aad", 3, b, sizeof(b), tb, back), -1);
    tb[0] ^= 1;
    assert_int_equal(crypto_gcm_open(g, iv, "aaD", 3, b, sizeof(b), tb, back), -1);
    crypto_gcm_destroy(g);
}

static int open_all(struct fixture *f)
{
    if (kms_open(f->store, &f->cfg, &f->kms) < 0 || open_service(f) < 0) {
        return -1;
    }
    stream_service_set_kms(f->svc, f->kms);
    return 0;
}

static void close_all(struct fixture *f)
{
    stream_service_close(f->svc);
    kms_close(f->kms);
}

static int setup(void **state)
{
    struct fixture *f = stream_fixture_new("test_stream_crypt");
    if (f == NULL) {
        return -1;
    }
    f->cfg.throughput_limits = 0;
    if (stream_fixture_open(f, open_all) < 0) {
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    return stream_fixture_destroy(*state, close_all);
}

/* Creates "s" (one shard), ACTIVE, encrypted under alias/aws/kinesis; a reference. */
static struct stream *encrypted_stream(struct fixture *f)
{
    struct stream_create_params p = {.region = "us-east-1",
                                     .account = "000000000000",
                                     .name = "s",
                                     .mode = STREAM_MODE_PROVISIONED,
                                     .shard_count = 1};
    struct err_info err = {0};
    assert_int_equal(stream_create(f->svc, &p, &err), 0);
    atomic_fetch_add(&f->now_ms, TRANSITION_MS);
    struct stream *s;
    assert_int_equal(stream_lookup(f->svc, "us-east-1", "s", &s), 0);
    assert_int_equal(stream_kms_key_check(f->svc, s, "alias/aws/kinesis", &err), 0);
    assert_int_equal(stream_update_encryption(f->svc, s, "KMS", "alias/aws/kinesis", &err), 0);
    atomic_fetch_add(&f->now_ms, TRANSITION_MS);
    return s;
}

static void put(struct fixture *f, struct stream *s, int from, int n)
{
    struct stream_put_record recs[16];
    char pks[16][24], data[16][32];
    assert_true(n <= 16);
    for (int i = 0; i < n; i++) {
        snprintf(pks[i], sizeof(pks[i]), "pk-secret-%d", from + i);
        snprintf(data[i], sizeof(data[i]), "secret-record-%d", from + i);
        recs[i] = (struct stream_put_record){.data = (const uint8_t *)data[i],
                                             .data_len = (uint32_t)strlen(data[i]),
                                             .partition_key = pks[i],
                                             .pk_len = (uint16_t)strlen(pks[i])};
    }
    const char *enc = NULL;
    struct err_info err = {0};
    assert_int_equal(
        stream_records_put_ex(f->svc, s, recs, (size_t)n, atomic_load(&f->now_ms), &enc, &err), 0);
    assert_string_equal(enc, "KMS");
    for (int i = 0; i < n; i++) {
        assert_int_equal(recs[i].result, 0);
    }
}

struct seen {
    int n;
    int encrypted;
};

static int check_visit(void *arg, uint64_t index, int64_t arrival_ms, int encrypted, const char *pk,
                       size_t pk_len, const uint8_t *data, size_t data_len)
{
    (void)arrival_ms;
    struct seen *sn = arg;
    char want_pk[24], want[32];
    snprintf(want_pk, sizeof(want_pk), "pk-secret-%d", (int)index);
    snprintf(want, sizeof(want), "secret-record-%d", (int)index);
    assert_int_equal(pk_len, strlen(want_pk));
    assert_memory_equal(pk, want_pk, pk_len);
    assert_int_equal(data_len, strlen(want));
    assert_memory_equal(data, want, data_len);
    sn->n++;
    sn->encrypted += encrypted;
    return 0;
}

static int read_all(struct stream *s, struct seen *sn)
{
    struct stream_position at = {.type = STREAM_TRIM_HORIZON};
    struct stream_reader *r;
    assert_int_equal(stream_reader_open(s, 0, &at, &r), 0);
    struct err_info err = {0};
    int rc = stream_reader_read_ex(r, 0, 0, check_visit, sn, &err);
    stream_reader_close(r);
    return rc;
}

/* The segment file's bytes (one segment here). */
static size_t segment_bytes(struct fixture *f, struct stream *s, uint8_t *out, size_t cap)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/streams/%lld/shardId-000000000000/%020d.seg", f->tmp,
             (long long)stream_id(s), 0);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    size_t n = fread(out, 1, cap, fp);
    fclose(fp);
    return n;
}

static void records_are_sealed_on_disk_and_read_back_after_a_reopen(void **state)
{
    struct fixture *f = *state;
    struct stream *s = encrypted_stream(f);
    put(f, s, 0, 10);
    put(f, s, 10, 1);
    static uint8_t bytes[1 << 16];
    size_t n = segment_bytes(f, s, bytes, sizeof(bytes));
    assert_null(memmem(bytes, n, "secret-record", 13));
    assert_null(memmem(bytes, n, "pk-secret", 9));
    struct seen sn = {0};
    assert_int_equal(read_all(s, &sn), 0);
    assert_int_equal(sn.n, 11);
    assert_int_equal(sn.encrypted, 11);
    stream_release(s);

    close_all(f);
    assert_int_equal(open_all(f), 0);
    assert_int_equal(stream_lookup(f->svc, "us-east-1", "s", &s), 0);
    put(f, s, 11, 5); /* under a new data key: this process made none yet */
    memset(&sn, 0, sizeof(sn));
    assert_int_equal(read_all(s, &sn), 0);
    assert_int_equal(sn.n, 16);
    assert_int_equal(sn.encrypted, 16);
    stream_release(s);
}

/* Each frame's envelope: key number (4) and nonce (12) right after the "-" partition key. */
static void no_nonce_repeats_under_a_key(void **state)
{
    struct fixture *f = *state;
    struct stream *s = encrypted_stream(f);
    for (int i = 0; i < 4; i++) {
        put(f, s, i * 8, 8);
    }
    static uint8_t bytes[1 << 16];
    size_t n = segment_bytes(f, s, bytes, sizeof(bytes));
    uint8_t seen[64][16];
    int count = 0;
    for (size_t off = 32; off + 32 < n && count < 64;) {
        uint32_t len = (uint32_t)bytes[off] | (uint32_t)bytes[off + 1] << 8 |
                       (uint32_t)bytes[off + 2] << 16 | (uint32_t)bytes[off + 3] << 24;
        assert_int_equal(bytes[off + 26] & SEGLOG_F_SEALED, SEGLOG_F_SEALED);
        memcpy(seen[count], bytes + off + 32 + 1, 16); /* after the 1-byte key */
        for (int j = 0; j < count; j++) {
            assert_memory_not_equal(seen[j], seen[count], 16);
        }
        count++;
        off += len;
    }
    assert_int_equal(count, 32);
    stream_release(s);
}

static void key_checks_give_kinesis_kms_errors(void **state)
{
    struct fixture *f = *state;
    struct stream *s = encrypted_stream(f);
    struct kms_scope sc = {.region = "us-east-1", .account = "000000000000"};
    char arn[KMS_ARN_MAX];
    struct err_info err = {0};
    assert_int_equal(kms_key_check(f->kms, &sc, "alias/aws/kinesis", arn, &err), 0);
    assert_int_equal(stream_kms_key_check(f->svc, s, arn, &err), 0);
    assert_int_equal(stream_kms_key_check(f->svc, s, "alias/nothing", &err),
                     SL_E(KINESIS_KMS_NOT_FOUND));
    assert_int_equal(stream_kms_key_check(f->svc, s, "1234abcd-12ab-34cd-56ef-1234567890ab", &err),
                     SL_E(KINESIS_KMS_NOT_FOUND));
    stream_release(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keyed_gcm_matches_the_one_shot_functions),
        cmocka_unit_test_setup_teardown(records_are_sealed_on_disk_and_read_back_after_a_reopen,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(no_nonce_repeats_under_a_key, setup, teardown),
        cmocka_unit_test_setup_teardown(key_checks_give_kinesis_kms_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
