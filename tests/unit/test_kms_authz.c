/*
 * Unit tests of kms_authorize (kms/kms_authz.c): what the hook is asked (the key's ARN,
 * kms:ViaService, the context), who is never asked (root, the server itself), the
 * decisions kept until the store is written or the second changes, and AWS managed keys'
 * policies, made with AWS's and brought to it on open.
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
#include "http/api.h"
#include "http/http.h"
#include "kms/kms_int.h"

static const struct kms_scope SC = {"us-east-1", "123456789012"};

struct fx {
    struct sluice_config cfg;
    struct store *st;
    struct kms *k;
    char db[600];
    /* what the hook saw */
    int calls;
    int deny;
    char key_arn[KMS_ARN_MAX];
    char via[128];
    char ctx[256];
};

static int hook(void *arg, const struct api_request *who, const char *action, const char *key_arn,
                const char *via, const struct kms_context *ctx, size_t n_ctx, struct err_info *err)
{
    struct fx *f = arg;
    f->calls++;
    snprintf(f->key_arn, sizeof(f->key_arn), "%s", key_arn);
    snprintf(f->via, sizeof(f->via), "%s", via);
    snprintf(f->ctx, sizeof(f->ctx), "%s=%s", n_ctx ? ctx[0].key : "", n_ctx ? ctx[0].value : "");
    if (f->deny) {
        return err_set(err, SL_E(ACCESS_DENIED), "User: %s is not authorized to perform: %s",
                       who->principal_arn, action);
    }
    return 0;
}

static void fx_open(struct fx *f)
{
    assert_int_equal(store_open(f->db, &f->st), 0);
    assert_int_equal(kms_open(f->st, &f->cfg, &f->k), 0);
    kms_set_authorizer(f->k, hook, f);
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
    snprintf(f->cfg.data_dir, sizeof(f->cfg.data_dir), "/tmp/test_kms_authz_%d", (int)getpid());
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

static struct api_request user(int64_t now_ms)
{
    return (struct api_request){.principal_kind = HTTP_PRINCIPAL_USER,
                                .principal_arn = "arn:aws:iam::123456789012:user/u",
                                .access_key_id = "AKIAUSER",
                                .now_ms = now_ms};
}

static void test_the_hook_is_asked_with_the_key_arn(void **state)
{
    struct fx *f = *state;
    struct kms_key key;
    assert_int_equal(kms__create(f->k, &SC, "t", NULL, 0, clock_now_ms(), &key), 0);
    struct api_request who = user(1000);
    struct kms_context ctx = {"aws:s3:arn", "arn:aws:s3:::b/k"};
    struct err_info err = {0};
    assert_int_equal(kms_authorize(f->k, &SC, &who, "kms:Decrypt", key.id, "s3", &ctx, 1, &err), 0);
    assert_int_equal(f->calls, 1);
    assert_string_equal(f->key_arn, key.arn);
    assert_string_equal(f->via, "s3.us-east-1.amazonaws.com");
    assert_string_equal(f->ctx, "aws:s3:arn=arn:aws:s3:::b/k");
    /* an alias names the same key */
    assert_int_equal(kms_authorize(f->k, &SC, &who, "kms:Decrypt", "alias/aws/kinesis", "kinesis",
                                   &ctx, 1, &err),
                     0);
    assert_int_equal(f->calls, 2);
    assert_string_equal(f->via, "kinesis.us-east-1.amazonaws.com");
    /* root and the server itself are never asked; a key not found is left to its use */
    struct api_request root = who;
    root.principal_kind = HTTP_PRINCIPAL_ROOT;
    f->deny = 1;
    assert_int_equal(kms_authorize(f->k, &SC, &root, "kms:Decrypt", key.id, "s3", NULL, 0, &err),
                     0);
    assert_int_equal(kms_authorize(f->k, &SC, NULL, "kms:Decrypt", key.id, "s3", NULL, 0, &err), 0);
    assert_int_equal(
        kms_authorize(f->k, &SC, &who, "kms:Decrypt", "alias/none", "s3", NULL, 0, &err), 0);
    assert_int_equal(f->calls, 2);
    kms__key_fini(&key);
}

static void test_decisions_are_kept_until_a_write_or_the_next_second(void **state)
{
    struct fx *f = *state;
    struct kms_key key;
    assert_int_equal(kms__create(f->k, &SC, "t", NULL, 0, clock_now_ms(), &key), 0);
    struct api_request who = user(5000);
    struct kms_context ctx = {"aws:kinesis:arn", "arn:aws:kinesis:us-east-1:1:stream/s"};
    struct err_info err = {0};
    f->deny = 1;
    assert_int_equal(
        kms_authorize(f->k, &SC, &who, "kms:GenerateDataKey", key.id, "kinesis", &ctx, 1, &err),
        SL_E(ACCESS_DENIED));
    assert_int_equal(f->calls, 1);
    /* kept, with its message */
    f->deny = 0;
    memset(&err, 0, sizeof(err));
    who.now_ms = 5999;
    assert_int_equal(
        kms_authorize(f->k, &SC, &who, "kms:GenerateDataKey", key.id, "kinesis", &ctx, 1, &err),
        SL_E(ACCESS_DENIED));
    assert_string_equal(err.message,
                        "User: arn:aws:iam::123456789012:user/u is not authorized to perform: "
                        "kms:GenerateDataKey");
    assert_int_equal(f->calls, 1);
    /* another action, context or caller is another decision */
    assert_int_equal(
        kms_authorize(f->k, &SC, &who, "kms:Decrypt", key.id, "kinesis", &ctx, 1, &err), 0);
    struct kms_context other = {"aws:kinesis:arn", "arn:aws:kinesis:us-east-1:1:stream/t"};
    assert_int_equal(
        kms_authorize(f->k, &SC, &who, "kms:GenerateDataKey", key.id, "kinesis", &other, 1, &err),
        0);
    assert_int_equal(f->calls, 3);
    /* the next second decides again */
    who.now_ms = 6000;
    assert_int_equal(
        kms_authorize(f->k, &SC, &who, "kms:GenerateDataKey", key.id, "kinesis", &ctx, 1, &err), 0);
    assert_int_equal(f->calls, 4);
    /* so does a store write (a policy, a key's state) */
    f->deny = 1;
    assert_int_equal(
        kms_authorize(f->k, &SC, &who, "kms:GenerateDataKey", key.id, "kinesis", &ctx, 1, &err), 0);
    key.state = KMS_DISABLED;
    assert_int_equal(kms__save(f->k, &key), 0);
    assert_int_equal(
        kms_authorize(f->k, &SC, &who, "kms:GenerateDataKey", key.id, "kinesis", &ctx, 1, &err),
        SL_E(ACCESS_DENIED));
    assert_int_equal(f->calls, 5);
    kms__key_fini(&key);
}

static void test_managed_keys_carry_aws_policy(void **state)
{
    struct fx *f = *state;
    struct err_info err;
    struct kms_key key;
    assert_int_equal(kms__resolve(f->k, &SC, "alias/aws/s3", 1, clock_now_ms(), &key, &err), 0);
    assert_non_null(strstr(key.policy, "\"kms:ViaService\" : \"s3.us-east-1.amazonaws.com\""));
    assert_non_null(strstr(key.policy, "\"kms:CallerAccount\" : \"123456789012\""));
    /* a managed key made with the account-only policy is given AWS's on open */
    char *old = kms__default_policy(SC.account);
    assert_int_equal(
        store_run(f->st, "UPDATE kms_keys SET policy = ? WHERE key_id = ?", "ss", old, key.id), 0);
    free(old);
    char id[KMS_ID_LEN + 1];
    memcpy(id, key.id, sizeof(id));
    kms__key_fini(&key);
    fx_close(f);
    fx_open(f);
    assert_int_equal(kms__resolve(f->k, &SC, id, 0, clock_now_ms(), &key, &err), 0);
    assert_non_null(strstr(key.policy, "s3.us-east-1.amazonaws.com"));
    kms__key_fini(&key);
    /* customer keys keep theirs */
    assert_int_equal(kms__create(f->k, &SC, "t", NULL, 0, clock_now_ms(), &key), 0);
    assert_null(strstr(key.policy, "kms:ViaService"));
    kms__key_fini(&key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_the_hook_is_asked_with_the_key_arn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decisions_are_kept_until_a_write_or_the_next_second,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_managed_keys_carry_aws_policy, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
