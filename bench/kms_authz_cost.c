/*
 * What the KMS permission check adds to a producer's PutRecords on an encrypted stream,
 * in CPU time in-process: a user whose inline policies allow kinesis:PutRecords and
 * kms:GenerateDataKey, then --calls rounds of (a) the front end's authorization of a
 * PutRecords of --records records, (b) kms_authorize as Kinesis asks it on every call (a
 * kept decision), (c) kms_authorize decided afresh (a new second each call: the key read
 * and the policies evaluated), which happens once a second or after a store write.
 * Never fails on the figures.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/config.h"
#include "core/store.h"
#include "http/api.h"
#include "iam/iam.h"
#include "iam/iam_int.h"
#include "kms/kms_int.h"

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static char *put_records_body(int records)
{
    char *body = malloc((size_t)records * 1500 + 256), *p = body;
    p += sprintf(p, "{\"Records\":[");
    for (int i = 0; i < records; i++) {
        p += sprintf(p, "%s{\"Data\":\"", i ? "," : "");
        for (int j = 0; j < 1368; j++) {
            *p++ = "ABCDEFGHabcdefgh0123456789+/"[rand() % 28];
        }
        p += sprintf(p, "\",\"PartitionKey\":\"%d\"}", i);
    }
    sprintf(p, "],\"StreamName\":\"bench\"}");
    return body;
}

int main(int argc, char **argv)
{
    int records = 500, calls = 20000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--records") == 0) {
            records = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--calls") == 0) {
            calls = atoi(argv[i + 1]);
        }
    }
    char dir[] = "/tmp/kms-authz-cost.XXXXXX", path[64];
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof(path), "%s/meta.db", dir);
    struct sluice_config cfg;
    config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", dir);
    struct store *st = NULL;
    struct iam *iam = NULL;
    struct kms *k = NULL;
    setenv("SLUICE_ROOT_ACCESS_KEY_ID", "AKIDBENCHROOT0000000", 1);
    setenv("SLUICE_ROOT_SECRET_ACCESS_KEY", "bench/secret", 1);
    if (store_open(path, &st) != 0 || iam_open(st, &cfg, &iam) != 0 ||
        kms_open(st, &cfg, &k) != 0) {
        fprintf(stderr, "kms_authz_cost: cannot open the store in %s\n", dir);
        return 1;
    }
    kms_set_authorizer(k, iam_kms_authorize, iam);
    struct kms_scope sc = {"us-east-1", "000000000000"};
    struct kms_key key;
    if (kms__create(k, &sc, "bench", NULL, 0, 1, &key) != 0) {
        fprintf(stderr, "kms_authz_cost: cannot make a key\n");
        return 1;
    }
    store_lock(st);
    store_run(st,
              "CREATE TABLE IF NOT EXISTS kinesis_policies(stream_id INTEGER NOT NULL,"
              " seq_tag INTEGER NOT NULL, arn TEXT NOT NULL, policy TEXT NOT NULL,"
              " PRIMARY KEY(stream_id, seq_tag, arn))",
              "");
    store_run(st,
              "INSERT INTO iam_user (name, id, path, created) VALUES ('producer',"
              " 'AIDAAAAAAAAAAAAAAAAAA', '/', 1)",
              "");
    store_run(st,
              "INSERT INTO iam_key VALUES ('AKIAUSERKEY000000001', 'producer', 'user/secret',"
              " 'Active', 1)",
              "");
    store_run(st,
              "INSERT INTO iam_inline VALUES ('user', 'producer', 'put', '{\"Version\":"
              "\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":"
              "[\"kinesis:PutRecord\",\"kinesis:PutRecords\"],\"Resource\":"
              "\"arn:aws:kinesis:us-east-1:000000000000:stream/bench\"},{\"Effect\":"
              "\"Allow\",\"Action\":\"kms:GenerateDataKey\",\"Resource\":\"*\"}]}')",
              "");
    store_unlock(st);
    iam__policies_changed();
    char *body = put_records_body(records);
    struct http_principal who;
    char secret[128];
    if (iam_key_lookup(iam, "AKIAUSERKEY000000001", "", 0, secret, sizeof(secret), &who) != 0) {
        fprintf(stderr, "kms_authz_cost: the key is not found\n");
        return 1;
    }
    struct api_request req = {.principal_kind = who.kind,
                              .principal_arn = who.arn,
                              .principal_id = who.id,
                              .principal_name = who.name,
                              .access_key_id = "AKIAUSERKEY000000001",
                              .region = "us-east-1",
                              .method = "POST",
                              .path = "/",
                              .query = "",
                              .host = "127.0.0.1",
                              .body = (const uint8_t *)body,
                              .body_len = strlen(body),
                              .body_fd = -1,
                              .source_ip = "127.0.0.1",
                              .now_ms = 1764000000000};
    struct kms_context ctx = {"aws:kinesis:arn",
                              "arn:aws:kinesis:us-east-1:000000000000:stream/bench"};
    double t[3];
    int denied = 0;
    for (int phase = 0; phase < 3; phase++) {
        int n = phase == 2 ? calls / 20 : calls / (phase == 0 ? 10 : 1);
        double t0 = 0;
        for (int i = -50; i < n; i++) {
            if (i == 0) {
                t0 = cpu_s();
            }
            struct err_info err;
            err_clear(&err);
            if (phase == 0) {
                denied += iam_authorize(iam, &req, "kinesis", "PutRecords", NULL, &err) != 0;
                continue;
            }
            if (phase == 2) {
                req.now_ms += 1000; /* a new second: decided afresh */
            }
            denied += kms_authorize(k, &sc, &req, "kms:GenerateDataKey", key.arn, "kinesis", &ctx,
                                    1, &err) != 0;
        }
        t[phase] = (cpu_s() - t0) / n * 1e6;
    }
    printf("PutRecords of %d records: authorization %.1f us CPU a call; the KMS check "
           "%.2f us kept, %.1f us decided afresh (once a second); %d denied\n",
           records, t[0], t[1], t[2], denied);
    printf("RESULT mode=kms_authz_cost authz_us=%.1f kms_kept_us=%.2f kms_fresh_us=%.1f\n", t[0],
           t[1], t[2]);
    kms__key_fini(&key);
    free(body);
    kms_close(k);
    iam_close(iam);
    store_close(st);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
