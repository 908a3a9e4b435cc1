/*
 * Tests of identities (src/iam/iam.h) and STS (src/iam/sts_api.h): root credentials
 * taken from the environment, generated once into DIR/root-credentials (mode 0600) and
 * read back on the next start, refused when the file is damaged; the key lookup the
 * front end authenticates with; GetCallerIdentity's result as STS renders it.
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

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "iam/iam.h"
#include "iam/sts_api.h"

struct fixture {
    char dir[64];
    char cred_path[128];
    struct sluice_config cfg;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_iam_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->cred_path, sizeof(f->cred_path), "%s/root-credentials", f->dir);
    config_defaults(&f->cfg);
    snprintf(f->cfg.data_dir, sizeof(f->cfg.data_dir), "%s", f->dir);
    snprintf(f->cfg.account_id, sizeof(f->cfg.account_id), "123456789012");
    unsetenv("SLUICE_ROOT_ACCESS_KEY_ID");
    unsetenv("SLUICE_ROOT_SECRET_ACCESS_KEY");
    log_set_level(LOG_ERROR + 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    unsetenv("SLUICE_ROOT_ACCESS_KEY_ID");
    unsetenv("SLUICE_ROOT_SECRET_ACCESS_KEY");
    unlink(f->cred_path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* The key lookup without a session token, its account copied out. */
static int lookup(struct iam *iam, const char *key, char *secret, size_t size, char *account)
{
    struct http_principal who;
    memset(&who, 0, sizeof(who));
    int rc = iam_key_lookup(iam, key, "", 0, secret, size, &who);
    strcpy(account, who.account);
    return rc;
}

static int all_of(const char *s, const char *alphabet)
{
    return s[strspn(s, alphabet)] == '\0';
}

static void test_credentials_from_the_environment_are_used_and_not_stored(void **state)
{
    struct fixture *f = *state;
    setenv("SLUICE_ROOT_ACCESS_KEY_ID", "AKIAENVIRONMENT00001", 1);
    setenv("SLUICE_ROOT_SECRET_ACCESS_KEY", "env/secret", 1);
    struct iam *iam = NULL;
    assert_int_equal(iam_open(NULL, &f->cfg, &iam), 0);
    assert_string_equal(iam_root_access_key_id(iam), "AKIAENVIRONMENT00001");
    char secret[128], account[32];
    assert_int_equal(lookup(iam, "AKIAENVIRONMENT00001", secret, sizeof(secret), account),
                     0);
    assert_string_equal(secret, "env/secret");
    assert_string_equal(account, "123456789012");
    assert_int_equal(
        lookup(iam, "AKIAOTHER", secret, sizeof(secret), account),
        SL_E(AUTH_UNKNOWN_KEY));
    assert_int_equal(access(f->cred_path, F_OK), -1);
    iam_close(iam);
}

static void test_generated_credentials_are_stored_privately_and_read_back(void **state)
{
    struct fixture *f = *state;
    struct iam *iam = NULL;
    assert_int_equal(iam_open(NULL, &f->cfg, &iam), 0);
    char key[64];
    snprintf(key, sizeof(key), "%s", iam_root_access_key_id(iam));
    /* AKIA and sixteen base32 characters, as AWS's access keys */
    assert_int_equal(strlen(key), 20);
    assert_memory_equal(key, "AKIA", 4);
    assert_true(all_of(key + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"));
    char secret[128], account[32];
    assert_int_equal(lookup(iam, key, secret, sizeof(secret), account), 0);
    assert_int_equal(strlen(secret), 40);
    assert_true(all_of(secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"));
    iam_close(iam);

    struct stat st;
    assert_int_equal(stat(f->cred_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char expect[256], got[256] = {0};
    snprintf(expect, sizeof(expect), "[default]\naws_access_key_id=%s\naws_secret_access_key=%s\n",
             key, secret);
    FILE *fp = fopen(f->cred_path, "r");
    assert_non_null(fp);
    assert_int_equal(fread(got, 1, sizeof(got) - 1, fp), strlen(expect));
    fclose(fp);
    assert_string_equal(got, expect);

    /* the next start reads the same credentials back */
    assert_int_equal(iam_open(NULL, &f->cfg, &iam), 0);
    assert_string_equal(iam_root_access_key_id(iam), key);
    char again[128];
    assert_int_equal(lookup(iam, key, again, sizeof(again), account), 0);
    assert_string_equal(again, secret);
    iam_close(iam);
}

static void test_a_damaged_credentials_file_is_refused(void **state)
{
    struct fixture *f = *state;
    FILE *fp = fopen(f->cred_path, "w");
    assert_non_null(fp);
    fputs("[default]\naws_access_key_id=AKIAHALFAKEY00000000\n", fp);
    fclose(fp);
    struct iam *iam = NULL;
    assert_int_equal(iam_open(NULL, &f->cfg, &iam), SL_E(CORRUPT));
    assert_null(iam);
}

static void test_an_unwritable_data_directory_is_an_error(void **state)
{
    struct fixture *f = *state;
    snprintf(f->cfg.data_dir, sizeof(f->cfg.data_dir), "%s/missing/dir", f->dir);
    struct iam *iam = NULL;
    assert_true(iam_open(NULL, &f->cfg, &iam) < 0);
    assert_null(iam);
}

static void test_get_caller_identity_names_the_account_root(void **state)
{
    struct fixture *f = *state;
    setenv("SLUICE_ROOT_ACCESS_KEY_ID", "AKIAENVIRONMENT00001", 1);
    setenv("SLUICE_ROOT_SECRET_ACCESS_KEY", "env/secret", 1);
    struct iam *iam = NULL;
    assert_int_equal(iam_open(NULL, &f->cfg, &iam), 0);
    struct api_query_service *sts = sts_api_create(iam);
    assert_string_equal(sts->signing_name, "sts");
    assert_string_equal(sts->xmlns, "https://sts.amazonaws.com/doc/2011-06-15/");
    assert_ptr_equal(sts->ctx, iam);
    const struct api_query_op *op = NULL;
    for (size_t i = 0; i < sts->n_ops; i++) {
        if (strcmp(sts->ops[i].action, "GetCallerIdentity") == 0) {
            op = &sts->ops[i];
        }
    }
    assert_non_null(op);
    struct api_request req = {.account_id = "123456789012",
                              .access_key_id = "AKIAENVIRONMENT00001"};
    struct api_response resp = {.body_fd = -1};
    struct api_call call = {.req = &req, .resp = &resp, .service_ctx = sts->ctx};
    struct buf result;
    buf_init(&result);
    assert_int_equal(op->fn(&call, NULL, &result), 0);
    assert_string_equal((char *)result.data,
                        "<UserId>123456789012</UserId><Account>123456789012</Account>"
                        "<Arn>arn:aws:iam::123456789012:root</Arn>");
    buf_fini(&result);
    sts_api_destroy(sts);
    sts_api_destroy(NULL);
    iam_close(iam);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_credentials_from_the_environment_are_used_and_not_stored),
        T(test_generated_credentials_are_stored_privately_and_read_back),
        T(test_a_damaged_credentials_file_is_refused),
        T(test_an_unwritable_data_directory_is_an_error),
        T(test_get_caller_identity_names_the_account_root),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
