/*
 * Unit tests of the KMS key store (kms/kms_int.h): the master key file, wrapping, the
 * blob format, envelope round trips, tampering and context binding, key states, AWS
 * managed aliases, and keys that survive a reopen and still open old blobs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/config.h"
#include "kms/kms_int.h"

static const struct kms_scope SC = {"us-east-1", "123456789012"};

struct fx {
    struct sluice_config cfg;
    struct store *st;
    struct kms *k;
    char db[600];
};

static void fx_open(struct fx *f)
{
    assert_int_equal(store_open(f->db, &f->st), 0);
    assert_int_equal(kms_open(f->st, &f->cfg, &f->k), 0);
}

static void fx_close(struct fx *f)
{
    kms_close(f->k);
    store_close(f->st);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    config_defaults(&f->cfg);
    snprintf(f->cfg.data_dir, sizeof(f->cfg.data_dir), "/tmp/test_kms_%d", (int)getpid());
    mkdir(f->cfg.data_dir, 0700);
    snprintf(f->db, sizeof(f->db), "%s/sluice.db", f->cfg.data_dir);
    fx_open(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    fx_close(f);
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->cfg.data_dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void new_key(struct fx *f, struct kms_key *key)
{
    assert_int_equal(kms__create(f->k, &SC, "test", NULL, 0, clock_now_ms(), key), 0);
}

static void test_master_key_file_is_private(void **state)
{
    struct fx *f = *state;
    char path[700];
    snprintf(path, sizeof(path), "%s/kms-master-key", f->cfg.data_dir);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(sb.st_size, 65);
}

static void test_wrap_unwrap(void **state)
{
    struct fx *f = *state;
    uint8_t m[32], back[32], w[64];
    size_t wlen = 0;
    memset(m, 0x5a, sizeof(m));
    kms__wrap(f->k, "id-a", m, w, &wlen);
    assert_int_equal(wlen, 60);
    assert_int_equal(kms__unwrap(f->k, "id-a", w, wlen, back), 0);
    assert_memory_equal(m, back, 32);
    assert_int_equal(kms__unwrap(f->k, "id-b", w, wlen, back), -1); /* bound to its key id */
    w[20] ^= 1;
    assert_int_equal(kms__unwrap(f->k, "id-a", w, wlen, back), -1);
}

static void test_round_trip_and_format(void **state)
{
    struct fx *f = *state;
    struct kms_key key;
    new_key(f, &key);
    struct kms_context ctx[] = {{"b", "2"}, {"a", "1"}};
    uint8_t dk[32];
    struct buf blob, plain;
    buf_init(&blob);
    buf_init(&plain);
    char arn[KMS_ARN_MAX];
    struct err_info err;
    assert_int_equal(kms_generate_data_key(f->k, &SC, key.id, ctx, 2, 32, dk, &blob, arn, &err), 0);
    assert_string_equal(arn, key.arn);
    assert_int_equal(blob.len, KMS_BLOB_OVERHEAD + 32);
    assert_int_equal(blob.data[0], KMS_BLOB_VERSION);
    assert_memory_equal(blob.data + 1, key.id, KMS_ID_LEN);
    /* the context in another order is the same context */
    struct kms_context swapped[] = {{"a", "1"}, {"b", "2"}};
    assert_int_equal(kms_decrypt(f->k, &SC, blob.data, blob.len, swapped, 2, &plain, arn, &err), 0);
    assert_int_equal(plain.len, 32);
    assert_memory_equal(plain.data, dk, 32);
    buf_fini(&blob);
    buf_fini(&plain);
    kms__key_fini(&key);
}

static void test_tampered_and_wrong_context(void **state)
{
    struct fx *f = *state;
    struct kms_key key;
    new_key(f, &key);
    struct kms_context ctx[] = {{"purpose", "test"}};
    struct kms_context other[] = {{"purpose", "other"}};
    uint8_t dk[16];
    struct buf blob, plain;
    buf_init(&blob);
    buf_init(&plain);
    struct err_info err;
    assert_int_equal(kms_generate_data_key(f->k, &SC, key.id, ctx, 1, 16, dk, &blob, NULL, &err),
                     0);
    assert_int_equal(kms_decrypt(f->k, &SC, blob.data, blob.len, other, 1, &plain, NULL, &err),
                     SL_E(KMS_INVALID_CIPHERTEXT));
    assert_int_equal(kms_decrypt(f->k, &SC, blob.data, blob.len, NULL, 0, &plain, NULL, &err),
                     SL_E(KMS_INVALID_CIPHERTEXT));
    for (size_t i = KMS_BLOB_HEAD; i < blob.len; i++) {
        blob.data[i] ^= 0x80;
        assert_int_equal(kms_decrypt(f->k, &SC, blob.data, blob.len, ctx, 1, &plain, NULL, &err),
                         SL_E(KMS_INVALID_CIPHERTEXT));
        blob.data[i] ^= 0x80;
    }
    assert_int_equal(kms_decrypt(f->k, &SC, blob.data, blob.len - 1, ctx, 1, &plain, NULL, &err),
                     SL_E(KMS_INVALID_CIPHERTEXT));
    assert_int_equal(plain.len, 0);
    /* another account cannot open it: its key is not there */
    struct kms_scope elsewhere = {"us-east-1", "210987654321"};
    assert_int_equal(kms_decrypt(f->k, &elsewhere, blob.data, blob.len, ctx, 1, &plain, NULL, &err),
                     SL_E(KMS_INVALID_CIPHERTEXT));
    assert_int_equal(kms_decrypt(f->k, &SC, blob.data, blob.len, ctx, 1, &plain, NULL, &err), 0);
    assert_memory_equal(plain.data, dk, 16);
    buf_fini(&blob);
    buf_fini(&plain);
    kms__key_fini(&key);
}

static void test_blob_parse(void **state)
{
    (void)state;
    uint8_t b[KMS_BLOB_OVERHEAD + 4];
    memset(b, 0, sizeof(b));
    b[0] = KMS_BLOB_VERSION;
    memcpy(b + 1, "0123abcd-0000-4000-8000-00000000beef", KMS_ID_LEN);
    struct kms_blob p;
    assert_int_equal(kms__blob_parse(b, sizeof(b), &p), 0);
    assert_string_equal(p.key_id, "0123abcd-0000-4000-8000-00000000beef");
    assert_int_equal(p.ct_len, 4);
    assert_int_equal(kms__blob_parse(b, KMS_BLOB_OVERHEAD - 1, &p), -1);
    b[0] = 2;
    assert_int_equal(kms__blob_parse(b, sizeof(b), &p), -1);
    b[0] = KMS_BLOB_VERSION;
    b[9] = 'x'; /* the dash after the first group */
    assert_int_equal(kms__blob_parse(b, sizeof(b), &p), -1);
}

static void test_states(void **state)
{
    struct fx *f = *state;
    struct kms_key key;
    new_key(f, &key);
    uint8_t dk[32];
    struct buf blob, plain;
    buf_init(&blob);
    buf_init(&plain);
    struct err_info err;
    assert_int_equal(kms_generate_data_key(f->k, &SC, key.arn, NULL, 0, 32, dk, &blob, NULL, &err),
                     0);
    key.state = KMS_DISABLED;
    assert_int_equal(kms__save(f->k, &key), 0);
    assert_int_equal(kms_generate_data_key(f->k, &SC, key.id, NULL, 0, 32, dk, &blob, NULL, &err),
                     SL_E(KMS_DISABLED));
    char want[300];
    snprintf(want, sizeof(want), "%s is disabled.", key.arn);
    assert_string_equal(err.message, want);
    assert_int_equal(kms_decrypt(f->k, &SC, blob.data, blob.len, NULL, 0, &plain, NULL, &err),
                     SL_E(KMS_DISABLED));
    key.state = KMS_PENDING_DELETION;
    key.deletion_ms = clock_now_ms() + 7 * 86400000LL;
    assert_int_equal(kms__save(f->k, &key), 0);
    assert_int_equal(kms_decrypt(f->k, &SC, blob.data, blob.len, NULL, 0, &plain, NULL, &err),
                     SL_E(KMS_INVALID_STATE));
    /* once the waiting period is over the key is gone */
    key.deletion_ms = clock_now_ms() - 1;
    assert_int_equal(kms__save(f->k, &key), 0);
    struct kms_key gone;
    assert_int_equal(kms__resolve(f->k, &SC, key.id, 0, clock_now_ms(), &gone, &err),
                     SL_E(KMS_NOT_FOUND));
    assert_int_equal(kms_decrypt(f->k, &SC, blob.data, blob.len, NULL, 0, &plain, NULL, &err),
                     SL_E(KMS_INVALID_CIPHERTEXT));
    buf_fini(&blob);
    buf_fini(&plain);
    kms__key_fini(&key);
}

static void test_managed_alias_and_lookup(void **state)
{
    struct fx *f = *state;
    struct err_info err;
    struct kms_key a, b;
    int64_t now = clock_now_ms();
    assert_int_equal(kms__resolve(f->k, &SC, "alias/aws/kinesis", 1, now, &a, &err), 0);
    assert_int_equal(a.aws_managed, 1);
    assert_int_equal(kms__resolve(f->k, &SC, "arn:aws:kms:us-east-1:123456789012:alias/aws/kinesis",
                                  1, now, &b, &err),
                     0);
    assert_string_equal(a.id, b.id); /* made once */
    kms__key_fini(&b);
    assert_int_equal(kms__resolve(f->k, &SC, a.arn, 0, now, &b, &err), 0);
    kms__key_fini(&b);
    assert_int_equal(kms__resolve(f->k, &SC, "alias/aws/kinesis", 0, now, &b, &err),
                     SL_E(KMS_NOT_FOUND));
    assert_int_equal(kms__resolve(f->k, &SC, "alias/nothing", 1, now, &b, &err),
                     SL_E(KMS_NOT_FOUND));
    assert_int_equal(kms__resolve(f->k, &SC, "not-a-key", 1, now, &b, &err), SL_E(KMS_NOT_FOUND));
    assert_int_equal(
        kms__resolve(f->k, &SC,
                     "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-4000-8000-000000000000",
                     1, now, &b, &err),
        SL_E(KMS_NOT_FOUND));
    kms__key_fini(&a);
}

static void test_reopen_keeps_keys(void **state)
{
    struct fx *f = *state;
    struct kms_key key;
    new_key(f, &key);
    uint8_t dk[32];
    struct buf blob, plain;
    buf_init(&blob);
    buf_init(&plain);
    struct err_info err;
    assert_int_equal(kms_generate_data_key(f->k, &SC, key.id, NULL, 0, 32, dk, &blob, NULL, &err),
                     0);
    fx_close(f);
    fx_open(f); /* the same master key file, the same rows */
    assert_int_equal(kms_decrypt(f->k, &SC, blob.data, blob.len, NULL, 0, &plain, NULL, &err), 0);
    assert_memory_equal(plain.data, dk, 32);
    /* a different master key cannot unwrap the material: the store is refused, not misread */
    fx_close(f);
    char path[700];
    snprintf(path, sizeof(path), "%s/kms-master-key", f->cfg.data_dir);
    FILE *mf = fopen(path, "w");
    fprintf(mf, "%064d\n", 0);
    fclose(mf);
    fx_open(f);
    buf_reset(&plain);
    assert_int_equal(kms_decrypt(f->k, &SC, blob.data, blob.len, NULL, 0, &plain, NULL, &err),
                     SL_E(CORRUPT));
    buf_fini(&blob);
    buf_fini(&plain);
    kms__key_fini(&key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_master_key_file_is_private, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrap_unwrap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_and_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_and_wrong_context, setup, teardown),
        cmocka_unit_test(test_blob_parse),
        cmocka_unit_test_setup_teardown(test_states, setup, teardown),
        cmocka_unit_test_setup_teardown(test_managed_alias_and_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_keys, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
