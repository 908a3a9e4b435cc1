/*
 * What authorizing one PutRecords costs, measured in-process and in CPU time (so that a
 * busy machine disturbs it little): a user with an inline policy allowing
 * kinesis:PutRecords on one stream, a PutRecords body of --records records of
 * --record-bytes bytes (base64 in JSON, the stream named after the records, where a
 * front end must look for it), then --calls rounds of what the front end does for a
 * signed request: the key lookup and the authorization hook. Prints the CPU time a call
 * and a record; compare with the server's CPU time a record (bench/authz_bench.sh).
 * Never fails on the figures.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/store.h"
#include "iam/iam.h"
#include "iam/iam_int.h"

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static char *put_records_body(int records, int record_bytes)
{
    size_t b64 = ((size_t)record_bytes + 2) / 3 * 4;
    size_t cap = (size_t)records * (b64 + 64) + 256;
    char *body = malloc(cap), *p = body;
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    p += sprintf(p, "{\"Records\":[");
    for (int i = 0; i < records; i++) {
        p += sprintf(p, "%s{\"Data\":\"", i ? "," : "");
        for (size_t j = 0; j < b64; j++) {
            *p++ = al[rand() % 64];
        }
        p += sprintf(p, "\",\"PartitionKey\":\"%d\"}", i);
    }
    sprintf(p, "],\"StreamName\":\"bench\"}");
    return body;
}

int main(int argc, char **argv)
{
    int records = 500, record_bytes = 1024, calls = 2000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--records") == 0) {
            records = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--record-bytes") == 0) {
            record_bytes = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--calls") == 0) {
            calls = atoi(argv[i + 1]);
        }
    }
    char dir[] = "/tmp/authz-cost.XXXXXX", path[64];
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
    setenv("SLUICE_ROOT_ACCESS_KEY_ID", "AKIDBENCHROOT0000000", 1);
    setenv("SLUICE_ROOT_SECRET_ACCESS_KEY", "bench/secret", 1);
    if (store_open(path, &st) != 0 || iam_open(st, &cfg, &iam) != 0) {
        fprintf(stderr, "authz_cost: cannot open the store in %s\n", dir);
        return 1;
    }
    store_lock(st);
    /* the table the Kinesis part keeps stream policies in, read on every call */
    store_run(st,
              "CREATE TABLE IF NOT EXISTS kinesis_policies(stream_id INTEGER NOT NULL,"
              " seq_tag INTEGER NOT NULL, arn TEXT NOT NULL, policy TEXT NOT NULL,"
              " PRIMARY KEY(stream_id, seq_tag, arn))",
              "");
    store_run(st, "INSERT INTO iam_user (name, id, path, created) VALUES ('producer',"
                  " 'AIDAAAAAAAAAAAAAAAAAA', '/', 1)", "");
    store_run(st, "INSERT INTO iam_key VALUES ('AKIAUSERKEY000000001', 'producer', 'user/secret',"
                  " 'Active', 1)", "");
    store_run(st, "INSERT INTO iam_inline VALUES ('user', 'producer', 'put', '{\"Version\":"
                  "\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":"
                  "[\"kinesis:PutRecord\",\"kinesis:PutRecords\"],\"Resource\":"
                  "\"arn:aws:kinesis:us-east-1:000000000000:stream/bench\"}]}')", "");
    store_unlock(st);
    iam__policies_changed();
    char *body = put_records_body(records, record_bytes);
    size_t body_len = strlen(body);
    int denied = 0;
    double t0 = 0;
    for (int i = -50; i < calls; i++) { /* 50 rounds of warm-up */
        if (i == 0) {
            t0 = cpu_s();
        }
        char secret[128];
        struct http_principal who;
        if (iam_key_lookup(iam, "AKIAUSERKEY000000001", "", 0, secret, sizeof(secret), &who) != 0) {
            fprintf(stderr, "authz_cost: the key is not found\n");
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
                                  .body_len = body_len,
                                  .body_fd = -1,
                                  .source_ip = "127.0.0.1",
                                  .now_ms = 1764000000000};
        struct err_info err;
        err_clear(&err);
        denied += iam_authorize(iam, &req, "kinesis", "PutRecords", NULL, &err) != 0;
    }
    double per_call = (cpu_s() - t0) / calls;
    printf("PutRecords of %d x %d B (%zu B of JSON): %.1f us CPU a call, %.3f us a record,"
           " %d denied\n",
           records, record_bytes, body_len, per_call * 1e6, per_call * 1e6 / records, denied);
    printf("RESULT mode=authz_cost us_per_call=%.1f us_per_record=%.3f\n", per_call * 1e6,
           per_call * 1e6 / records);
    free(body);
    iam_close(iam);
    store_close(st);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
