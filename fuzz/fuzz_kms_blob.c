/*
 * Fuzzes the KMS ciphertext blob parser and the decrypt path behind it (kms_decrypt) with a
 * real key store: a master key in a temporary directory and one key in an in-memory store.
 * Byte 0 picks the mode: even, the rest is the blob as sent; odd, the rest is a blob whose
 * key id is overwritten with the fixture key's (when long enough), so that arbitrary IVs,
 * tags and ciphertexts reach AES-GCM. Byte 1 picks an encryption context. A blob must never
 * decrypt (none was made with this key), and a failure must be InvalidCiphertextException.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "kms/kms_int.h"

static const struct kms_scope sc = {"us-east-1", "000000000000"};
static struct store *st;
static struct kms *k;
static struct kms_key key;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_ERROR + 1);
    struct sluice_config cfg;
    config_defaults(&cfg);
    char tmpl[] = "/tmp/sluice-fuzz-kms-XXXXXX";
    if (mkdtemp(tmpl) == NULL) {
        abort();
    }
    snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", tmpl);
    if (store_open(":memory:", &st) < 0 || kms_open(st, &cfg, &k) < 0 ||
        kms__create(k, &sc, "fuzz", NULL, 0, clock_now_ms(), &key) < 0) {
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    size_t len = size - 2;
    uint8_t *blob = malloc(len + 1);
    memcpy(blob, data + 2, len);
    if ((data[0] & 1) && len >= KMS_BLOB_HEAD) {
        blob[0] = KMS_BLOB_VERSION;
        memcpy(blob + 1, key.id, KMS_ID_LEN);
    }
    struct kms_blob parsed;
    if (kms__blob_parse(blob, len, &parsed) == 0 &&
        (parsed.ct_len != len - KMS_BLOB_OVERHEAD || strlen(parsed.key_id) != KMS_ID_LEN)) {
        abort();
    }
    struct kms_context ctx[] = {{"a", "1"}, {"", ""}};
    struct buf plain;
    buf_init(&plain);
    struct err_info err;
    int rc = kms_decrypt(k, &sc, blob, len, ctx, data[1] % 3, &plain, NULL, &err);
    if (rc != SL_E(KMS_INVALID_CIPHERTEXT) || plain.len != 0) {
        abort();
    }
    buf_fini(&plain);
    free(blob);
    return 0;
}
