/*
 * Tests of identities (src/iam/iam.h) and STS (src/iam/sts_api.h): root credentials
 * taken from the environment, generated once into DIR/root-credentials (mode 0600) and
 * read back on the next start, refused when the file is damaged; the key lookup the
 * front end authenticates with; GetCallerIdentity's result as STS renders it; with a
 * store: users' keys and their status, session tokens (verified, tampered, expired on an
 * injected clock, kept across a restart), ids, policy document shapes, trust policies,
 * and the authorization hook.
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
#include "core/store.h"
#include "iam/iam.h"
#include "iam/iam_int.h"
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
    assert_int_equal(lookup(iam, "AKIAENVIRONMENT00001", secret, sizeof(secret), account), 0);
    assert_string_equal(secret, "env/secret");
    assert_string_equal(account, "123456789012");
    assert_int_equal(lookup(iam, "AKIAOTHER", secret, sizeof(secret), account),
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

/* ---- with a store ---- */

static struct store *open_store(struct fixture *f, struct iam **iam)
{
    char path[160];
    snprintf(path, sizeof(path), "%s/meta.db", f->dir);
    struct store *st = NULL;
    assert_int_equal(store_open(path, &st), 0);
    setenv("SLUICE_ROOT_ACCESS_KEY_ID", "AKIAENVIRONMENT00001", 1);
    setenv("SLUICE_ROOT_SECRET_ACCESS_KEY", "env/secret", 1);
    assert_int_equal(iam_open(st, &f->cfg, iam), 0);
    return st;
}

static void close_store(struct fixture *f, struct store *st, struct iam *iam)
{
    iam_close(iam);
    store_close(st);
    char path[160];
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/meta.db%s", f->dir, suffixes[i]);
        unlink(path);
    }
}

static void test_ids_are_a_prefix_and_base32_to_21_characters(void **state)
{
    (void)state;
    char a[32], b[32];
    iam__new_id("AIDA", a);
    iam__new_id("AROA", b);
    assert_int_equal(strlen(a), 21);
    assert_int_equal(strlen(b), 21);
    assert_memory_equal(a, "AIDA", 4);
    assert_memory_equal(b, "AROA", 4);
    assert_true(all_of(a + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"));
    assert_string_not_equal(a + 4, b + 4);
}

static void test_a_users_key_finds_the_user_unless_inactive(void **state)
{
    struct fixture *f = *state;
    struct iam *iam;
    struct store *st = open_store(f, &iam);
    store_lock(st);
    assert_int_equal(store_run(st,
                               "INSERT INTO iam_user (name, id, path, created)"
                               " VALUES ('alice', 'AIDAAAAAAAAAAAAAAAAAA',"
                               " '/ops/', 1)",
                               ""),
                     0);
    assert_int_equal(store_run(st,
                               "INSERT INTO iam_key VALUES ('AKIAUSERKEY000000001', 'alice',"
                               " 'user/secret', 'Active', 1)",
                               ""),
                     0);
    store_unlock(st);
    char secret[128];
    struct http_principal who;
    assert_int_equal(
        iam_key_lookup(iam, "AKIAUSERKEY000000001", "", 0, secret, sizeof(secret), &who), 0);
    assert_string_equal(secret, "user/secret");
    assert_int_equal(who.kind, HTTP_PRINCIPAL_USER);
    assert_string_equal(who.arn, "arn:aws:iam::123456789012:user/ops/alice");
    assert_string_equal(who.id, "AIDAAAAAAAAAAAAAAAAAA");
    assert_string_equal(who.name, "alice");
    assert_string_equal(who.account, "123456789012");
    store_lock(st);
    assert_int_equal(store_run(st, "UPDATE iam_key SET status = 'Inactive'", ""), 0);
    store_unlock(st);
    /* looked-up keys are kept until an IAM write says otherwise, as UpdateAccessKey does */
    iam__policies_changed();
    assert_int_equal(
        iam_key_lookup(iam, "AKIAUSERKEY000000001", "", 0, secret, sizeof(secret), &who),
        SL_E(AUTH_UNKNOWN_KEY));
    /* the root key names the account's root */
    assert_int_equal(
        iam_key_lookup(iam, "AKIAENVIRONMENT00001", "", 0, secret, sizeof(secret), &who), 0);
    assert_int_equal(who.kind, HTTP_PRINCIPAL_ROOT);
    assert_string_equal(who.arn, "arn:aws:iam::123456789012:root");
    close_store(f, st, iam);
}

static void test_session_tokens_verify_expire_and_survive_a_restart(void **state)
{
    struct fixture *f = *state;
    struct iam *iam;
    struct store *st = open_store(f, &iam);
    struct http_principal role = {.kind = HTTP_PRINCIPAL_ASSUMED_ROLE};
    snprintf(role.arn, sizeof(role.arn), "arn:aws:sts::123456789012:assumed-role/r/s");
    snprintf(role.id, sizeof(role.id), "AROAAAAAAAAAAAAAAAAAA:s");
    snprintf(role.name, sizeof(role.name), "r");
    const int64_t now = 1800000000000;
    struct iam_session_creds c, other;
    assert_int_equal(iam_session_create(iam, &role, 900, "{}", now, &c), 0);
    assert_int_equal(iam_session_create(iam, &role, 900, NULL, now, &other), 0);
    assert_memory_equal(c.key_id, "ASIA", 4);
    assert_int_equal(strlen(c.key_id), 20);
    assert_int_equal(c.expires_ms, now + 900000);
    char secret[128];
    struct http_principal who;
    assert_int_equal(iam_key_lookup(iam, c.key_id, c.token, now + 1, secret, sizeof(secret), &who),
                     0);
    assert_string_equal(secret, c.secret);
    assert_int_equal(who.kind, HTTP_PRINCIPAL_ASSUMED_ROLE);
    assert_string_equal(who.arn, role.arn);
    assert_string_equal(who.id, role.id);
    /* a missing token, another session's, and a changed byte are all refused */
    assert_int_equal(iam_key_lookup(iam, c.key_id, "", now, secret, sizeof(secret), &who),
                     SL_E(AUTH_UNKNOWN_KEY));
    assert_int_equal(iam_key_lookup(iam, c.key_id, other.token, now, secret, sizeof(secret), &who),
                     SL_E(AUTH_UNKNOWN_KEY));
    char bad[256];
    snprintf(bad, sizeof(bad), "%s", c.token);
    bad[30] = bad[30] == 'A' ? 'B' : 'A';
    assert_int_equal(iam_key_lookup(iam, c.key_id, bad, now, secret, sizeof(secret), &who),
                     SL_E(AUTH_UNKNOWN_KEY));
    /* the last millisecond works, the expiration itself does not */
    assert_int_equal(
        iam_key_lookup(iam, c.key_id, c.token, c.expires_ms - 1, secret, sizeof(secret), &who), 0);
    assert_int_equal(
        iam_key_lookup(iam, c.key_id, c.token, c.expires_ms, secret, sizeof(secret), &who),
        SL_E(AUTH_EXPIRED));
    /* the token key is kept: the session outlives a restart */
    iam_close(iam);
    assert_int_equal(iam_open(st, &f->cfg, &iam), 0);
    assert_int_equal(iam_key_lookup(iam, c.key_id, c.token, now, secret, sizeof(secret), &who), 0);
    close_store(f, st, iam);
}

static void test_policy_documents_are_checked_for_shape_and_size(void **state)
{
    (void)state;
    struct err_info err;
    err_clear(&err);
    const char *ok = "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Deny\","
                     "\"NotAction\":[\"s3:*\"],\"NotResource\":\"*\",\"Condition\":"
                     "{\"Bool\":{\"aws:SecureTransport\":false}}}}";
    assert_int_equal(iam__policydoc_check(ok, IAM_DOC_USER, &err), 0);
    static const struct {
        const char *doc;
        enum iam_doc_kind kind;
        const char *message;
    } bad[] = {
        {"[]", IAM_DOC_USER, "Syntax errors in policy."},
        {"{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\",\"Foo\":1}]}",
         IAM_DOC_USER, "Syntax errors in policy."},
        {"{\"Statement\":[{\"Action\":\"*\",\"Resource\":\"*\"}]}", IAM_DOC_ROLE,
         "Missing required field Effect"},
        {"{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"NotAction\":\"*\","
         "\"Resource\":\"*\"}]}",
         IAM_DOC_ROLE, "Syntax errors in policy."},
        {"{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\","
         "\"Condition\":{\"StringEquals\":\"x\"}}]}",
         IAM_DOC_ROLE, "Syntax errors in policy."},
        {"{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"sts:AssumeRole\","
         "\"Principal\":{\"AWS\":\"*\"},\"Resource\":\"*\"}]}",
         IAM_DOC_TRUST, "Has prohibited field Resource"},
        {"{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"sts:AssumeRole\","
         "\"Principal\":{\"Nobody\":\"x\"}}]}",
         IAM_DOC_TRUST, "Invalid principal in policy"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(iam__policydoc_check(bad[i].doc, bad[i].kind, &err),
                         SL_E(IAM_MALFORMED_POLICY));
        assert_string_equal(err.message, bad[i].message);
    }
    /* 2,048 characters without whitespace fit a user; one more does not */
    char doc[4096];
    const char *head = "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"";
    const char *tail = "\"}}";
    size_t pad = 2048 - strlen(head) - strlen(tail);
    snprintf(doc, sizeof(doc), "%s%0*d%s", head, (int)pad, 0, tail);
    assert_int_equal(strlen(doc), 2048);
    assert_int_equal(iam__policydoc_check(doc, IAM_DOC_USER, &err), 0);
    char spaced[4200];
    snprintf(spaced, sizeof(spaced), "  \n%s\n\n", doc);
    assert_int_equal(iam__policydoc_check(spaced, IAM_DOC_USER, &err), 0);
    snprintf(doc, sizeof(doc), "%s%0*d%s", head, (int)pad + 1, 0, tail);
    assert_int_equal(iam__policydoc_check(doc, IAM_DOC_USER, &err), SL_E(IAM_LIMIT_EXCEEDED));
    assert_string_equal(err.message, "Cannot exceed quota for PolicySize: 2048");
    assert_int_equal(iam__policydoc_check(doc, IAM_DOC_ROLE, &err), 0);
}

static void test_the_hook_allows_root_and_sts_and_denies_the_rest(void **state)
{
    (void)state;
    struct err_info err;
    err_clear(&err);
    struct api_request root = {.principal_kind = HTTP_PRINCIPAL_ROOT,
                               .principal_arn = "arn:aws:iam::123456789012:root"};
    assert_int_equal(iam_authorize(NULL, &root, "kinesis", "DeleteStream", NULL, &err), 0);
    struct api_request user = {.principal_kind = HTTP_PRINCIPAL_USER,
                               .principal_arn = "arn:aws:iam::123456789012:user/alice",
                               .principal_name = "alice"};
    static const char *const sts_ops[] = {"GetCallerIdentity", "AssumeRole", "GetSessionToken",
                                          "GetAccessKeyInfo"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(iam_authorize(NULL, &user, "sts", sts_ops[i], NULL, &err), 0);
    }
    assert_int_equal(iam_authorize(NULL, &user, "sts", "AssumeRoleWithSAML", NULL, &err),
                     SL_E(ACCESS_DENIED));
    assert_int_equal(iam_authorize(NULL, &user, "kinesis", "PutRecord", NULL, &err),
                     SL_E(ACCESS_DENIED));
    assert_string_equal(err.message,
                        "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: "
                        "kinesis:PutRecord on resource: * because no identity-based policy "
                        "allows the kinesis:PutRecord action");
    assert_int_equal(iam_authorize(NULL, &user, "monitoring", "ListMetrics", NULL, &err),
                     SL_E(ACCESS_DENIED));
    assert_non_null(strstr(err.message, "cloudwatch:ListMetrics"));
    struct api_request role = {.principal_kind = HTTP_PRINCIPAL_ASSUMED_ROLE,
                               .principal_arn = "arn:aws:sts::123456789012:assumed-role/r/s",
                               .principal_name = "r"};
    assert_int_equal(iam_authorize(NULL, &role, "iam", "GetUser", NULL, &err), SL_E(ACCESS_DENIED));
}

/* alice, allowed kinesis:PutRecord on stream a by an inline policy. */
static void seed_alice(struct store *st)
{
    store_lock(st);
    assert_int_equal(store_run(st,
                               "INSERT INTO iam_user (name, id, path, created)"
                               " VALUES ('alice', 'AIDAAAAAAAAAAAAAAAAAA',"
                               " '/', 1)",
                               ""),
                     0);
    assert_int_equal(store_run(st,
                               "INSERT INTO iam_inline VALUES ('user', 'alice', 'p',"
                               " '{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":"
                               "\"Allow\",\"Action\":\"kinesis:PutRecord\",\"Resource\":"
                               "\"arn:aws:kinesis:us-east-1:123456789012:stream/a\"}]}')",
                               ""),
                     0);
    store_unlock(st);
    iam__policies_changed();
}

/* A request by alice for PutRecord with body. */
static int put_as_alice(struct iam *iam, const char *body, struct err_info *err)
{
    struct api_request req = {.principal_kind = HTTP_PRINCIPAL_USER,
                              .principal_arn = "arn:aws:iam::123456789012:user/alice",
                              .principal_id = "AIDAAAAAAAAAAAAAAAAAA",
                              .principal_name = "alice",
                              .access_key_id = "AKIAUSERKEY000000001",
                              .region = "us-east-1",
                              .method = "POST",
                              .path = "/",
                              .query = "",
                              .body = (const uint8_t *)body,
                              .body_len = strlen(body),
                              .body_fd = -1,
                              .now_ms = 1764000000000};
    err_clear(err);
    return iam_authorize(iam, &req, "kinesis", "PutRecord", NULL, err);
}

/* alice's request (for the trust decision and the hook) at a fixed time. */
static struct api_request alice_request(void)
{
    struct api_request req = {.principal_kind = HTTP_PRINCIPAL_USER,
                              .principal_arn = "arn:aws:iam::123456789012:user/alice",
                              .principal_id = "AIDAAAAAAAAAAAAAAAAAA",
                              .principal_name = "alice",
                              .access_key_id = "AKIAUSERKEY000000001",
                              .region = "us-east-1",
                              .now_ms = 1764000000000};
    return req;
}

static int trusts(struct iam *iam, const char *doc, const char *action,
                  const struct iam_context_key *extra, size_t n_extra)
{
    struct api_request req = alice_request();
    return iam__trust_decide(iam, &req, doc, "arn:aws:iam::123456789012:role/r", action, extra,
                             n_extra);
}

static void test_trust_policies_name_who_may_assume(void **state)
{
    struct fixture *f = *state;
    struct iam *iam;
    struct store *st = open_store(f, &iam);
    seed_alice(st);
    const char *alice = "{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"sts:Assume*\","
                        "\"Principal\":{\"AWS\":[\"arn:aws:iam::123456789012:user/alice\"]}}]}";
    assert_true(trusts(iam, alice, "sts:AssumeRole", NULL, 0));
    const char *bob = "{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"sts:AssumeRole\","
                      "\"Principal\":{\"AWS\":\"arn:aws:iam::123456789012:user/bob\"}}]}";
    assert_false(trusts(iam, bob, "sts:AssumeRole", NULL, 0));
    /* an account-wide trust admits without an identity-based Allow */
    const char *account = "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"sts:AssumeRole\","
                          "\"Principal\":{\"AWS\":\"arn:aws:iam::123456789012:root\"}}}";
    assert_true(trusts(iam, account, "sts:AssumeRole", NULL, 0));
    const char *service = "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"sts:AssumeRole\","
                          "\"Principal\":{\"Service\":\"firehose.amazonaws.com\"}}}";
    assert_false(trusts(iam, service, "sts:AssumeRole", NULL, 0));
    const char *denied = "{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\","
                         "\"Principal\":\"*\"},{\"Effect\":\"Deny\",\"Action\":"
                         "\"sts:AssumeRole\",\"Principal\":{\"AWS\":\"123456789012\"}}]}";
    assert_false(trusts(iam, denied, "sts:AssumeRole", NULL, 0));
    /* sts:TagSession is an action of its own */
    const char *tag_only = "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":"
                           "\"sts:TagSession\",\"Principal\":\"*\"}}";
    assert_false(trusts(iam, tag_only, "sts:AssumeRole", NULL, 0));
    assert_true(trusts(iam, tag_only, "sts:TagSession", NULL, 0));
    assert_false(trusts(iam, alice, "sts:TagSession", NULL, 0));
    /* conditions see the request's own keys */
    const char *tagged = "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"sts:AssumeRole\","
                         "\"Principal\":\"*\",\"Condition\":{\"StringEquals\":"
                         "{\"aws:RequestTag/team\":\"blue\",\"sts:ExternalId\":\"x1\"}}}}";
    const char *blue = "blue", *red = "red", *x1 = "x1";
    struct iam_context_key keys[] = {{"aws:RequestTag/Team", &blue, 1}, {"sts:ExternalId", &x1, 1}};
    assert_true(trusts(iam, tagged, "sts:AssumeRole", keys, 2));
    keys[0].values = &red;
    assert_false(trusts(iam, tagged, "sts:AssumeRole", keys, 2));
    assert_false(trusts(iam, tagged, "sts:AssumeRole", keys + 1, 1));
    /* an explicit Deny of the caller's own refuses too */
    store_lock(st);
    assert_int_equal(store_run(st,
                               "INSERT INTO iam_inline VALUES ('user', 'alice', 'no',"
                               " '{\"Statement\":{\"Effect\":\"Deny\",\"Action\":\"sts:*\","
                               "\"Resource\":\"*\"}}')",
                               ""),
                     0);
    store_unlock(st);
    iam__policies_changed();
    assert_false(trusts(iam, alice, "sts:AssumeRole", NULL, 0));
    close_store(f, st, iam);
}

static void test_each_role_handed_to_firehose_needs_pass_role(void **state)
{
    struct fixture *f = *state;
    struct iam *iam;
    struct store *st = open_store(f, &iam);
    seed_alice(st);
    store_lock(st);
    assert_int_equal(
        store_run(
            st,
            "INSERT INTO iam_inline VALUES ('user', 'alice', 'fh', '{\"Statement\":["
            "{\"Effect\":\"Allow\",\"Action\":\"firehose:*\",\"Resource\":\"*\"},"
            "{\"Effect\":\"Allow\",\"Action\":\"iam:PassRole\",\"Resource\":"
            "[\"arn:aws:iam::123456789012:role/dest\",\"arn:aws:iam::123456789012:role/src\"],"
            "\"Condition\":{\"StringEquals\":{\"iam:PassedToService\":"
            "\"firehose.amazonaws.com\"}}}]}')",
            ""),
        0);
    store_unlock(st);
    iam__policies_changed();
    /* the source's, the destination's, and a Lambda processor's RoleArn parameter */
    const char *body =
        "{\"DeliveryStreamName\":\"d\",\"KinesisStreamSourceConfiguration\":{\"RoleARN\":"
        "\"arn:aws:iam::123456789012:role/src\"},\"ExtendedS3DestinationConfiguration\":{"
        "\"RoleARN\":\"arn:aws:iam::123456789012:role/dest\",\"ProcessingConfiguration\":{"
        "\"Processors\":[{\"Type\":\"Lambda\",\"Parameters\":[{\"ParameterName\":\"RoleArn\","
        "\"ParameterValue\":\"arn:aws:iam::123456789012:role/lambda\"}]}]}}}";
    struct api_request req = alice_request();
    req.method = "POST";
    req.path = "/";
    req.query = "";
    req.body = (const uint8_t *)body;
    req.body_len = strlen(body);
    req.body_fd = -1;
    struct err_info err;
    err_clear(&err);
    assert_int_equal(iam_authorize(iam, &req, "firehose", "CreateDeliveryStream", NULL, &err),
                     SL_E(ACCESS_DENIED));
    assert_string_equal(err.message,
                        "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: "
                        "iam:PassRole on resource: arn:aws:iam::123456789012:role/lambda because "
                        "no identity-based policy allows the iam:PassRole action");
    /* without the processor, both roles handed over are allowed */
    const char *plain = "{\"DeliveryStreamName\":\"d\",\"KinesisStreamSourceConfiguration\":{"
                        "\"RoleARN\":\"arn:aws:iam::123456789012:role/src\"},"
                        "\"ExtendedS3DestinationConfiguration\":{\"RoleARN\":"
                        "\"arn:aws:iam::123456789012:role/dest\"}}";
    req.body = (const uint8_t *)plain;
    req.body_len = strlen(plain);
    assert_int_equal(iam_authorize(iam, &req, "firehose", "CreateDeliveryStream", NULL, &err), 0);
    /* reading a stream hands over nothing */
    assert_int_equal(iam_authorize(iam, &req, "firehose", "DescribeDeliveryStream", NULL, &err), 0);
    close_store(f, st, iam);
}

/* Puts the role r (trust: trust) with one inline policy and tag team=role. */
static void seed_role(struct store *st, const char *trust, const char *policy)
{
    store_lock(st);
    assert_int_equal(store_run(st,
                               "INSERT INTO iam_role (name, id, path, created, trust,"
                               " max_session) VALUES ('r', 'AROAAAAAAAAAAAAAAAAAA', '/', 1, ?,"
                               " 3600)",
                               "s", trust),
                     0);
    assert_int_equal(
        store_run(st, "INSERT INTO iam_inline VALUES ('role', 'r', 'p', ?)", "s", policy), 0);
    assert_int_equal(store_run(st, "INSERT INTO iam_tag VALUES ('role', 'r', 'team', 'role')", ""),
                     0);
    store_unlock(st);
    iam__policies_changed();
}

static void test_firehose_takes_only_roles_that_trust_it_and_reads_as_them(void **state)
{
    struct fixture *f = *state;
    struct iam *iam;
    struct store *st = open_store(f, &iam);
    const char *role = "arn:aws:iam::123456789012:role/r";
    const char *stream = "arn:aws:kinesis:us-east-1:123456789012:stream/s";
    seed_role(st,
              "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"sts:AssumeRole\","
              "\"Principal\":{\"AWS\":\"123456789012\"}}}",
              "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":[\"kinesis:DescribeStream\","
              "\"kinesis:GetShardIterator\",\"kinesis:ListShards\"],\"Resource\":\"*\"}}");
    struct err_info err;
    err_clear(&err);
    assert_int_equal(iam_firehose_assume_check(iam, role, &err), SL_E(INVALID_ARGUMENT));
    assert_string_equal(err.message,
                        "Firehose is unable to assume role arn:aws:iam::123456789012:role/r. "
                        "Please check the role provided.");
    /* a role the account does not have is taken on trust */
    assert_int_equal(iam_firehose_assume_check(iam, "arn:aws:iam::123456789012:role/nope", &err),
                     0);
    assert_int_equal(
        iam_firehose_kinesis_authorize(iam, "arn:aws:iam::123456789012:role/nope", stream, &err),
        0);
    assert_int_equal(iam_firehose_kinesis_authorize(iam, role, stream, &err), SL_E(ACCESS_DENIED));
    assert_string_equal(err.message,
                        "User: arn:aws:sts::123456789012:assumed-role/r/AWSFirehoseToS3 is not "
                        "authorized to perform: kinesis:GetRecords on resource: "
                        "arn:aws:kinesis:us-east-1:123456789012:stream/s because no "
                        "identity-based policy allows the kinesis:GetRecords action");
    store_lock(st);
    assert_int_equal(store_run(st,
                               "UPDATE iam_role SET trust = '{\"Statement\":{\"Effect\":"
                               "\"Allow\",\"Action\":\"sts:AssumeRole\",\"Principal\":"
                               "{\"Service\":[\"firehose.amazonaws.com\"]}}}'",
                               ""),
                     0);
    assert_int_equal(store_run(st,
                               "INSERT INTO iam_inline VALUES ('role', 'r', 'read',"
                               " '{\"Statement\":{\"Effect\":\"Allow\",\"Action\":"
                               "\"kinesis:GetRecords\",\"Resource\":\"*\"}}')",
                               ""),
                     0);
    store_unlock(st);
    iam__policies_changed();
    assert_int_equal(iam_firehose_assume_check(iam, role, &err), 0);
    assert_int_equal(iam_firehose_kinesis_authorize(iam, role, stream, &err), 0);
    close_store(f, st, iam);
}

/* The session's request for kinesis:PutRecord on stream a. */
static int put_as_session(struct iam *iam, const struct iam_session_creds *c, struct err_info *err)
{
    const char *body = "{\"StreamName\":\"a\"}";
    struct api_request req = {.principal_kind = HTTP_PRINCIPAL_ASSUMED_ROLE,
                              .principal_arn = "arn:aws:sts::123456789012:assumed-role/r/s",
                              .principal_id = "AROAAAAAAAAAAAAAAAAAA:s",
                              .principal_name = "r",
                              .access_key_id = c->key_id,
                              .region = "us-east-1",
                              .method = "POST",
                              .path = "/",
                              .query = "",
                              .body = (const uint8_t *)body,
                              .body_len = strlen(body),
                              .body_fd = -1,
                              .now_ms = 1764000000000};
    err_clear(err);
    return iam_authorize(iam, &req, "kinesis", "PutRecord", NULL, err);
}

static void test_session_tags_are_principal_tags_over_the_roles(void **state)
{
    struct fixture *f = *state;
    struct iam *iam;
    struct store *st = open_store(f, &iam);
    seed_role(st,
              "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"sts:AssumeRole\","
              "\"Principal\":\"*\"}}",
              "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"kinesis:PutRecord\","
              "\"Resource\":\"*\",\"Condition\":{\"StringEquals\":"
              "{\"aws:PrincipalTag/team\":\"blue\"}}}}");
    struct http_principal who = {.kind = HTTP_PRINCIPAL_ASSUMED_ROLE};
    snprintf(who.arn, sizeof(who.arn), "arn:aws:sts::123456789012:assumed-role/r/s");
    snprintf(who.id, sizeof(who.id), "AROAAAAAAAAAAAAAAAAAA:s");
    snprintf(who.name, sizeof(who.name), "r");
    struct iam_session_creds blue, red, plain;
    /* the key's case differs from the role's tag: still the same tag, the session's wins */
    struct iam_session_attrs a_blue = {.tags = "{\"TEAM\":\"blue\"}", .transitive = "[\"TEAM\"]"};
    struct iam_session_attrs a_red = {.tags = "{\"team\":\"red\"}"};
    assert_int_equal(iam__session_create_attrs(iam, &who, 900, &a_blue, 1764000000000, &blue), 0);
    assert_int_equal(iam__session_create_attrs(iam, &who, 900, &a_red, 1764000000000, &red), 0);
    assert_int_equal(iam_session_create(iam, &who, 900, NULL, 1764000000000, &plain), 0);
    struct err_info err;
    assert_int_equal(put_as_session(iam, &blue, &err), 0);
    assert_int_equal(put_as_session(iam, &red, &err), SL_E(ACCESS_DENIED));
    assert_int_equal(put_as_session(iam, &plain, &err), SL_E(ACCESS_DENIED));
    /* the tags are stored with the session: they hold after a restart */
    iam_close(iam);
    assert_int_equal(iam_open(st, &f->cfg, &iam), 0);
    assert_int_equal(put_as_session(iam, &blue, &err), 0);
    close_store(f, st, iam);
}

/* Adds the managed policy arn (default version 1) with doc. */
static void seed_managed(struct store *st, const char *arn, const char *doc)
{
    store_lock(st);
    assert_int_equal(store_run(st,
                               "INSERT INTO iam_policy (arn, name, id, path, created, updated,"
                               " default_version, next_version) VALUES (?, 'm', 'ANPA', '/', 1,"
                               " 1, 1, 2)",
                               "s", arn),
                     0);
    assert_int_equal(
        store_run(st, "INSERT INTO iam_policy_version VALUES (?, 1, ?, 1)", "ss", arn, doc), 0);
    store_unlock(st);
    iam__policies_changed();
}

static void test_managed_session_policies_join_the_inline_one(void **state)
{
    struct fixture *f = *state;
    struct iam *iam;
    struct store *st = open_store(f, &iam);
    seed_role(st,
              "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"sts:AssumeRole\","
              "\"Principal\":\"*\"}}",
              "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"kinesis:*\",\"Resource\":\"*\"}}");
    seed_managed(st, "arn:aws:iam::123456789012:policy/put",
                 "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
                 "\"Action\":\"kinesis:PutRecord\",\"Resource\":\"*\"}]}");
    seed_managed(st, "arn:aws:iam::123456789012:policy/deny",
                 "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Deny\","
                 "\"Action\":\"kinesis:PutRecord\",\"Resource\":\"*\"}}");
    struct http_principal who = {.kind = HTTP_PRINCIPAL_ASSUMED_ROLE};
    snprintf(who.arn, sizeof(who.arn), "arn:aws:sts::123456789012:assumed-role/r/s");
    snprintf(who.id, sizeof(who.id), "AROAAAAAAAAAAAAAAAAAA:s");
    snprintf(who.name, sizeof(who.name), "r");
    const char *get_only = "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\","
                           "\"Action\":\"kinesis:GetRecords\",\"Resource\":\"*\"}}";
    /* the inline policy alone does not allow PutRecord; with the managed one it does */
    struct iam_session_attrs inline_only = {.policy = get_only};
    struct iam_session_attrs both = {.policy = get_only,
                                     .policy_arns = "[\"arn:aws:iam::123456789012:policy/put\"]"};
    struct iam_session_attrs denied = {.policy_arns = "[\"arn:aws:iam::123456789012:policy/put\","
                                                      "\"arn:aws:iam::123456789012:policy/deny\"]"};
    struct iam_session_attrs gone = {.policy_arns = "[\"arn:aws:iam::123456789012:policy/none\"]"};
    struct iam_session_creds c1, c2, c3, c4;
    assert_int_equal(iam__session_create_attrs(iam, &who, 900, &inline_only, 1764000000000, &c1),
                     0);
    assert_int_equal(iam__session_create_attrs(iam, &who, 900, &both, 1764000000000, &c2), 0);
    assert_int_equal(iam__session_create_attrs(iam, &who, 900, &denied, 1764000000000, &c3), 0);
    assert_int_equal(iam__session_create_attrs(iam, &who, 900, &gone, 1764000000000, &c4), 0);
    struct err_info err;
    assert_int_equal(put_as_session(iam, &c1, &err), SL_E(ACCESS_DENIED));
    assert_non_null(strstr(err.message, "session policy"));
    assert_int_equal(put_as_session(iam, &c2, &err), 0);
    assert_int_equal(put_as_session(iam, &c3, &err), SL_E(ACCESS_DENIED));
    assert_int_equal(put_as_session(iam, &c4, &err), SL_E(ACCESS_DENIED));
    /* a new default version of the managed policy decides the next call */
    store_lock(st);
    assert_int_equal(store_run(st, "UPDATE iam_policy_version SET doc = ? WHERE arn = ?", "ss",
                               get_only, "arn:aws:iam::123456789012:policy/put"),
                     0);
    store_unlock(st);
    iam__policies_changed();
    assert_int_equal(put_as_session(iam, &c2, &err), SL_E(ACCESS_DENIED));
    close_store(f, st, iam);
}

static void test_a_source_identity_is_a_condition_key_of_the_session(void **state)
{
    struct fixture *f = *state;
    struct iam *iam;
    struct store *st = open_store(f, &iam);
    seed_role(st,
              "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"sts:AssumeRole\","
              "\"Principal\":\"*\"}}",
              "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"kinesis:PutRecord\","
              "\"Resource\":\"*\",\"Condition\":{\"StringEquals\":"
              "{\"aws:SourceIdentity\":\"alice\"}}}}");
    struct http_principal who = {.kind = HTTP_PRINCIPAL_ASSUMED_ROLE};
    snprintf(who.arn, sizeof(who.arn), "arn:aws:sts::123456789012:assumed-role/r/s");
    snprintf(who.name, sizeof(who.name), "r");
    struct iam_session_attrs alice = {.source_identity = "alice"};
    struct iam_session_attrs bob = {.source_identity = "bob"};
    struct iam_session_creds a, b, none;
    assert_int_equal(iam__session_create_attrs(iam, &who, 900, &alice, 1764000000000, &a), 0);
    assert_int_equal(iam__session_create_attrs(iam, &who, 900, &bob, 1764000000000, &b), 0);
    assert_int_equal(iam_session_create(iam, &who, 900, NULL, 1764000000000, &none), 0);
    struct err_info err;
    assert_int_equal(put_as_session(iam, &a, &err), 0);
    assert_int_equal(put_as_session(iam, &b, &err), SL_E(ACCESS_DENIED));
    assert_int_equal(put_as_session(iam, &none, &err), SL_E(ACCESS_DENIED));
    /* a role's or user's tag keys are unique whatever their case; a policy's are not */
    store_lock(st);
    assert_int_not_equal(store_run(st, "INSERT INTO iam_tag VALUES ('role', 'r', 'TEAM', 'x')", ""),
                         0);
    assert_int_equal(store_run(st,
                               "INSERT INTO iam_tag VALUES ('policy', 'p', 'a', '1'),"
                               " ('policy', 'p', 'A', '2')",
                               ""),
                     0);
    store_unlock(st);
    char *si = iam__session_source_identity(iam, a.key_id);
    assert_string_equal(si, "alice");
    free(si);
    assert_null(iam__session_source_identity(iam, none.key_id));
    close_store(f, st, iam);
}

/* A store from before tag keys were compared without case: migration 6 keeps, of a user's
   or role's keys that differ only in case, the last written, and a policy's as they are. */
static void test_migration_6_folds_tag_keys_that_differ_in_case(void **state)
{
    struct fixture *f = *state;
    struct iam *iam;
    struct store *st = open_store(f, &iam);
    iam_close(iam);
    store_lock(st);
    assert_int_equal(store_exec(st, "DROP INDEX iam_tag_nocase;"
                                    "ALTER TABLE iam_session DROP COLUMN policy_arns;"
                                    "ALTER TABLE iam_session DROP COLUMN source_identity;"
                                    "UPDATE schema_version SET version = 5 WHERE part = 'iam';"
                                    "DELETE FROM schema_applied WHERE part = 'iam' AND version = 6;"
                                    "INSERT INTO iam_tag VALUES ('role', 'r', 'Team', 'old');"
                                    "INSERT INTO iam_tag VALUES ('role', 'r', 'team', 'new');"
                                    "INSERT INTO iam_tag VALUES ('user', 'u', 'Env', 'only');"
                                    "INSERT INTO iam_tag VALUES ('policy', 'p', 'a', '1');"
                                    "INSERT INTO iam_tag VALUES ('policy', 'p', 'A', '2');"),
                     0);
    store_unlock(st);
    assert_int_equal(iam_open(st, &f->cfg, &iam), 0);
    store_read_begin(st);
    struct store_stmt *q =
        store_prepare_args(st,
                           "SELECT group_concat(kind || ':' || key || '=' || value, ',') FROM"
                           " (SELECT * FROM iam_tag ORDER BY kind, key)",
                           "");
    assert_int_equal(store_step(q), 1);
    assert_string_equal(store_col_text(q, 0), "policy:A=2,policy:a=1,role:team=new,user:Env=only");
    store_finalize(q);
    store_read_end(st);
    close_store(f, st, iam);
}

/* GetSessionToken's credentials: IAM refuses them (no MFA), STS lets only AssumeRole and
   GetCallerIdentity through; other services decide as for the user. */
static void test_session_token_credentials_cannot_call_iam(void **state)
{
    struct fixture *f = *state;
    struct iam *iam;
    struct store *st = open_store(f, &iam);
    seed_alice(st);
    struct api_request req = {.principal_kind = HTTP_PRINCIPAL_USER,
                              .principal_arn = "arn:aws:iam::123456789012:user/alice",
                              .principal_id = "AIDAAAAAAAAAAAAAAAAAA",
                              .principal_name = "alice",
                              .access_key_id = "ASIAAAAAAAAAAAAAAAAA",
                              .region = "us-east-1",
                              .now_ms = 1764000000000};
    struct err_info err;
    err_clear(&err);
    assert_int_equal(iam_authorize(iam, &req, "iam", "GetUser", NULL, &err),
                     SL_E(AUTH_UNKNOWN_KEY));
    assert_string_equal(err.message, "The security token included in the request is invalid");
    assert_int_equal(iam_authorize(iam, &req, "sts", "GetCallerIdentity", NULL, &err), 0);
    assert_int_equal(iam_authorize(iam, &req, "sts", "AssumeRole", NULL, &err), 0);
    assert_int_equal(iam_authorize(iam, &req, "sts", "GetAccessKeyInfo", NULL, &err),
                     SL_E(ACCESS_DENIED));
    req.principal_kind = HTTP_PRINCIPAL_ROOT;
    assert_int_equal(iam_authorize(iam, &req, "iam", "ListUsers", NULL, &err),
                     SL_E(AUTH_UNKNOWN_KEY));
    /* the user's own long-term key is decided by its policies */
    req.principal_kind = HTTP_PRINCIPAL_USER;
    req.access_key_id = "AKIAAAAAAAAAAAAAAAAA";
    assert_int_equal(iam_authorize(iam, &req, "iam", "ListUsers", NULL, &err), SL_E(ACCESS_DENIED));
    close_store(f, st, iam);
}

static void test_compiled_policies_are_cached_until_an_iam_write(void **state)
{
    struct fixture *f = *state;
    struct iam *iam;
    struct store *st = open_store(f, &iam);
    seed_alice(st);
    struct err_info err;
    assert_int_equal(put_as_alice(iam, "{\"StreamName\":\"a\"}", &err), 0);
    assert_int_equal(iam__authz_size(iam->authz), 1);
    assert_int_equal(put_as_alice(iam, "{\"StreamName\":\"b\"}", &err), SL_E(ACCESS_DENIED));
    assert_string_equal(err.message,
                        "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: "
                        "kinesis:PutRecord on resource: "
                        "arn:aws:kinesis:us-east-1:123456789012:stream/b because no "
                        "identity-based policy allows the kinesis:PutRecord action");
    assert_int_equal(iam__authz_size(iam->authz), 1);
    /* A write the cache was not told of is not seen: the store is not read again. */
    store_lock(st);
    assert_int_equal(store_run(st, "DELETE FROM iam_inline", ""), 0);
    store_unlock(st);
    assert_int_equal(put_as_alice(iam, "{\"StreamName\":\"a\"}", &err), 0);
    /* Once told, the next call reads and compiles again. */
    iam__policies_changed();
    assert_int_equal(put_as_alice(iam, "{\"StreamName\":\"a\"}", &err), SL_E(ACCESS_DENIED));
    assert_int_equal(iam__authz_size(iam->authz), 1);
    close_store(f, st, iam);
}

/* A PutRecords body over 64 KiB (one record of 100 KiB of data) ending with tail. */
static char *large_body(const char *tail)
{
    size_t n = 100 * 1024;
    char *body = malloc(n + 64 + strlen(tail));
    strcpy(body, "{\"Records\":[{\"Data\":\"");
    size_t len = strlen(body);
    memset(body + len, 'A', n);
    strcpy(body + len + n, tail);
    return body;
}

static void test_a_large_body_is_scanned_for_the_stream_name(void **state)
{
    struct fixture *f = *state;
    struct iam *iam;
    struct store *st = open_store(f, &iam);
    seed_alice(st);
    struct err_info err;
    char *body = large_body("\"}], \"StreamName\" : \"a\"}");
    assert_int_equal(put_as_alice(iam, body, &err), 0);
    free(body);
    body = large_body("\"}], \"StreamName\" : \"b\"}");
    assert_int_equal(put_as_alice(iam, body, &err), SL_E(ACCESS_DENIED));
    free(body);
    close_store(f, st, iam);
}

/* A name the services' own reader would read otherwise (escaped, or given twice) is not
   taken for the request's resource: the request is decided on "*". */
static void test_escaped_or_repeated_names_are_decided_on_star(void **state)
{
    struct fixture *f = *state;
    struct iam *iam;
    struct store *st = open_store(f, &iam);
    seed_alice(st);
    struct err_info err;
    assert_int_equal(put_as_alice(iam, "{\"StreamName\":\"b\",\"Stream\\u004eame\":\"a\"}", &err),
                     SL_E(ACCESS_DENIED));
    assert_non_null(strstr(err.message, "on resource: * because"));
    char *body = large_body("\"}], \"StreamName\" : \"a\\u0062\"}");
    assert_int_equal(put_as_alice(iam, body, &err), SL_E(ACCESS_DENIED));
    assert_non_null(strstr(err.message, "on resource: * because"));
    free(body);
    close_store(f, st, iam);
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
        T(test_ids_are_a_prefix_and_base32_to_21_characters),
        T(test_a_users_key_finds_the_user_unless_inactive),
        T(test_session_tokens_verify_expire_and_survive_a_restart),
        T(test_policy_documents_are_checked_for_shape_and_size),
        T(test_trust_policies_name_who_may_assume),
        T(test_each_role_handed_to_firehose_needs_pass_role),
        T(test_firehose_takes_only_roles_that_trust_it_and_reads_as_them),
        T(test_session_tags_are_principal_tags_over_the_roles),
        T(test_managed_session_policies_join_the_inline_one),
        T(test_a_source_identity_is_a_condition_key_of_the_session),
        T(test_session_token_credentials_cannot_call_iam),
        T(test_migration_6_folds_tag_keys_that_differ_in_case),
        T(test_the_hook_allows_root_and_sts_and_denies_the_rest),
        T(test_compiled_policies_are_cached_until_an_iam_write),
        T(test_a_large_body_is_scanned_for_the_stream_name),
        T(test_escaped_or_repeated_names_are_decided_on_star),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
