/*
 * Permission to use a key when a service uses it for its caller (S3's SSE-KMS, Kinesis
 * stream encryption, Athena and Firehose through S3): IAM decides (the hook), this keeps
 * its decisions so that a producer's PutRecords does not evaluate policies on every call.
 *
 * A decision holds while the store is unwritten (every policy, key state and alias change
 * is a store write) and within the second it was made (aws:CurrentTime conditions).
 *
 * AWS managed keys carry AWS's policy: every principal of the account may use the key
 * through its service (kms:ViaService, kms:CallerAccount), the account may read it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "http/api.h"
#include "http/http.h"
#include "kms/kms_int.h"

#define DECISIONS 128

struct decision {
    char *key; /* who, action, key, service, context; NULL: empty */
    uint64_t writes;
    int64_t second;
    int rc;
    char message[sizeof(((struct err_info *)0)->message)];
};

struct kms__decisions {
    pthread_mutex_t lock;
    struct decision slot[DECISIONS];
};

void kms_set_authorizer(struct kms *k, kms_authorize_fn fn, void *arg)
{
    k->authorize = fn;
    k->authorize_arg = arg;
    if (k->decisions == NULL) {
        k->decisions = xcalloc(1, sizeof(*k->decisions));
        pthread_mutex_init(&k->decisions->lock, NULL);
    }
}

void kms__decisions_free(struct kms *k)
{
    if (k->decisions == NULL) {
        return;
    }
    for (size_t i = 0; i < DECISIONS; i++) {
        free(k->decisions->slot[i].key);
    }
    pthread_mutex_destroy(&k->decisions->lock);
    free(k->decisions);
    k->decisions = NULL;
}

static size_t hash_of(const char *s)
{
    size_t h = 5381;
    for (; *s; s++) {
        h = h * 33 + (unsigned char)*s;
    }
    return h % DECISIONS;
}

/* Everything the decision depends on but the store and the time. */
static void decision_key(struct buf *b, const struct api_request *who, const char *action,
                         const char *key_id, const char *service, const struct kms_scope *sc,
                         const struct kms_context *ctx, size_t n_ctx)
{
    buf_printf(b, "%d\n%s\n%s\n%s\n%s\n%s\n%s\n%s", who->principal_kind,
               who->principal_arn ? who->principal_arn : "",
               who->access_key_id ? who->access_key_id : "", action, key_id, service, sc->region,
               sc->account);
    for (size_t i = 0; i < n_ctx; i++) {
        buf_printf(b, "\n%s\n%s", ctx[i].key, ctx[i].value);
    }
    buf_append(b, "", 1);
}

int kms_authorize(struct kms *k, const struct kms_scope *sc, const struct api_request *who,
                  const char *action, const char *key_id, const char *service,
                  const struct kms_context *ctx, size_t n_ctx, struct err_info *err)
{
    if (k == NULL || k->authorize == NULL || who == NULL ||
        who->principal_kind == HTTP_PRINCIPAL_ROOT) {
        return 0;
    }
    struct buf key;
    buf_init(&key);
    decision_key(&key, who, action, key_id, service, sc, ctx, n_ctx);
    const char *ks = (const char *)key.data;
    struct decision *d = &k->decisions->slot[hash_of(ks)];
    uint64_t writes = store_write_count(k->st);
    int64_t second = who->now_ms / 1000;
    pthread_mutex_lock(&k->decisions->lock);
    if (d->key != NULL && d->writes == writes && d->second == second && strcmp(d->key, ks) == 0) {
        int rc = d->rc;
        if (rc < 0) {
            err_set(err, rc, "%s", d->message);
        }
        pthread_mutex_unlock(&k->decisions->lock);
        buf_fini(&key);
        return rc;
    }
    pthread_mutex_unlock(&k->decisions->lock);

    struct kms_key found;
    struct err_info e = {0};
    int rc = 0;
    if (kms__resolve(k, sc, key_id, 1, clock_now_ms(), &found, &e) == 0) {
        char via[128];
        snprintf(via, sizeof(via), "%s.%s.amazonaws.com", service, sc->region);
        rc = k->authorize(k->authorize_arg, who, action, found.arn, via, ctx, n_ctx, &e);
        kms__key_fini(&found);
        if (rc < 0) {
            err_set(err, rc, "%s", e.message);
        }
    }
    pthread_mutex_lock(&k->decisions->lock);
    free(d->key);
    d->key = xstrdup(ks);
    d->writes = writes; /* counted before the reads: a write meanwhile makes it stale */
    d->second = second;
    d->rc = rc;
    snprintf(d->message, sizeof(d->message), "%s", rc < 0 ? e.message : "");
    pthread_mutex_unlock(&k->decisions->lock);
    buf_fini(&key);
    return rc;
}

/* ---- AWS managed keys' policies ---- */

char *kms__managed_policy(const struct kms_scope *sc, const char *alias)
{
    const char *service = strncmp(alias, "alias/aws/", 10) == 0 ? alias + 10 : "s3";
    return xasprintf(
        "{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"auto-%s-1\",\n  \"Statement\" : [ {\n"
        "    \"Sid\" : \"Allow access through %s for all principals in the account that are "
        "authorized to use %s\",\n"
        "    \"Effect\" : \"Allow\",\n    \"Principal\" : {\n      \"AWS\" : \"*\"\n    },\n"
        "    \"Action\" : [ \"kms:Encrypt\", \"kms:Decrypt\", \"kms:ReEncrypt*\", "
        "\"kms:GenerateDataKey*\", \"kms:DescribeKey\" ],\n"
        "    \"Resource\" : \"*\",\n    \"Condition\" : {\n      \"StringEquals\" : {\n"
        "        \"kms:CallerAccount\" : \"%s\",\n"
        "        \"kms:ViaService\" : \"%s.%s.amazonaws.com\"\n      }\n    }\n  }, {\n"
        "    \"Sid\" : \"Allow direct access to key metadata to the account\",\n"
        "    \"Effect\" : \"Allow\",\n    \"Principal\" : {\n"
        "      \"AWS\" : \"arn:aws:iam::%s:root\"\n    },\n"
        "    \"Action\" : [ \"kms:Describe*\", \"kms:Get*\", \"kms:List*\" ],\n"
        "    \"Resource\" : \"*\"\n  } ]\n}",
        service, service, service, sc->account, service, sc->region, sc->account);
}

int kms__managed_policies_fix(struct kms *k)
{
    struct {
        char id[KMS_ID_LEN + 1], region[32], account[16], alias[64];
    } keys[64];
    size_t n = 0;
    store_lock(k->st);
    struct store_stmt *q = store_prepare_args(
        k->st,
        "SELECT k.key_id, k.region, k.account, a.name FROM kms_keys k JOIN kms_aliases a"
        " ON a.key_id = k.key_id WHERE k.aws_managed = 1 AND k.policy NOT LIKE '%kms:ViaService%'",
        "");
    while (q != NULL && n < sizeof(keys) / sizeof(keys[0]) && store_step(q) == 1) {
        snprintf(keys[n].id, sizeof(keys[n].id), "%s", store_col_text(q, 0));
        snprintf(keys[n].region, sizeof(keys[n].region), "%s", store_col_text(q, 1));
        snprintf(keys[n].account, sizeof(keys[n].account), "%s", store_col_text(q, 2));
        snprintf(keys[n].alias, sizeof(keys[n].alias), "%s", store_col_text(q, 3));
        n++;
    }
    store_finalize(q);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct kms_scope sc = {keys[i].region, keys[i].account};
        char *policy = kms__managed_policy(&sc, keys[i].alias);
        rc = store_run(k->st, "UPDATE kms_keys SET policy = ? WHERE key_id = ?", "ss", policy,
                       keys[i].id);
        free(policy);
    }
    store_unlock(k->st);
    if (rc < 0) {
        log_msg(LOG_ERROR, "kms", "cannot update the policies of AWS managed keys: %s",
                sl_strerror(rc));
    }
    return rc;
}
