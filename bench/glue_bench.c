/*
 * Glue catalog benchmark, in process (the Glue adapter's operations on a real metadata
 * store in a temporary directory; no HTTP). Prints figures; never passes or fails.
 *
 *   1. BatchCreatePartition: 1,000 batches of 100 partitions (the API's largest batch)
 *      into one table with keys year:int, month:int, day:int, region:string — 100,000
 *      partitions; reports partitions/s.
 *   2. GetPartitions over those 100,000 partitions with selective expressions (each
 *      matches a few dozen partitions or fewer), paging through every page; reports
 *      p50/p99/max milliseconds per expression kind (target: p99 < 50 ms). Three kinds
 *      start with equalities on the leading keys (a ckey range is read); the last has
 *      none and scans every partition's values.
 *
 * Usage: glue_bench [--partitions N] [--queries N] [--seed S]
 * Output: human-readable lines, then one "RESULT key=value ..." line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "catalog/glue_api.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/store.h"

static struct api_json_service *svc;
static struct api_request req = {.region = "us-east-1", .account_id = "000000000000"};

static json_t *op(const char *name, json_t *in)
{
    for (size_t i = 0; i < svc->n_ops; i++) {
        if (strcmp(svc->ops[i].name, name) == 0) {
            struct api_call c = {.req = &req, .service_ctx = svc->ctx, .operation = name};
            json_t *out = NULL;
            if (svc->ops[i].fn(&c, in, &out) < 0) {
                fprintf(stderr, "glue_bench: %s failed: %s\n", name, c.err.message);
                exit(1);
            }
            return out;
        }
    }
    fprintf(stderr, "glue_bench: no operation %s\n", name);
    exit(1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    size_t idx = (size_t)(p * (double)(n - 1) + 0.5);
    return v[idx < n ? idx : n - 1];
}

int main(int argc, char **argv)
{
    int n_partitions = 100000, n_queries = 200;
    unsigned seed = 42;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--partitions") == 0) {
            n_partitions = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--queries") == 0) {
            n_queries = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--seed") == 0) {
            seed = (unsigned)strtoul(argv[i + 1], NULL, 10);
        }
    }
    if (n_partitions < 1 || n_queries < 1) {
        fprintf(stderr, "usage: glue_bench [--partitions N] [--queries N] [--seed S]\n");
        return 2;
    }
    srand(seed);
    log_set_level(LOG_WARN);
    char dir[] = "/tmp/glue-bench-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    char path[128];
    snprintf(path, sizeof(path), "%s/sluice.db", dir);
    struct store *st = NULL;
    struct catalog *cat = NULL;
    if (store_open(path, &st) < 0 || catalog_open(st, NULL, &cat) < 0) {
        fprintf(stderr, "glue_bench: cannot open the catalog in %s\n", dir);
        return 1;
    }
    svc = glue_api_create(cat);
    printf("glue_bench: seed %u, %d partitions, %d queries per kind, store %s\n", seed,
           n_partitions, n_queries, path);

    json_decref(op("CreateDatabase", json_pack("{s:{s:s}}", "DatabaseInput", "Name", "bench")));
    json_t *tin = json_pack(
        "{s:s, s:{s:s, s:{s:[{s:s, s:s}, {s:s, s:s}], s:s}, s:[{s:s, s:s}, {s:s, s:s}, "
        "{s:s, s:s}, {s:s, s:s}]}}",
        "DatabaseName", "bench", "TableInput", "Name", "events", "StorageDescriptor", "Columns",
        "Name", "event_id", "Type", "string", "Name", "amount", "Type", "double", "Location",
        "s3://bench/events/", "PartitionKeys", "Name", "year", "Type", "int", "Name", "month",
        "Type", "int", "Name", "day", "Type", "int", "Name", "region", "Type", "string");
    json_decref(op("CreateTable", tin));
    json_decref(tin);

    /* 1. BatchCreatePartition: years from 2000, 12 months, 28 days, 30 regions. */
    int64_t t0 = clock_mono_ns();
    int made = 0;
    while (made < n_partitions) {
        json_t *list = json_array();
        for (int k = 0; k < 100 && made < n_partitions; k++, made++) {
            int region = made % 30, day = made / 30 % 28 + 1, month = made / 840 % 12 + 1;
            int year = 2000 + made / 10080;
            char v[4][16], loc[192];
            snprintf(v[0], sizeof(v[0]), "%d", year);
            snprintf(v[1], sizeof(v[1]), "%d", month);
            snprintf(v[2], sizeof(v[2]), "%d", day);
            snprintf(v[3], sizeof(v[3]), "r%02d", region);
            snprintf(loc, sizeof(loc), "s3://bench/events/year=%s/month=%s/day=%s/region=%s/", v[0],
                     v[1], v[2], v[3]);
            json_array_append_new(list,
                                  json_pack("{s:[s,s,s,s], s:{s:s}}", "Values", v[0], v[1], v[2],
                                            v[3], "StorageDescriptor", "Location", loc));
        }
        json_t *in = json_pack("{s:s, s:s, s:o}", "DatabaseName", "bench", "TableName", "events",
                               "PartitionInputList", list);
        json_t *out = op("BatchCreatePartition", in);
        if (json_array_size(json_object_get(out, "Errors")) != 0) {
            fprintf(stderr, "glue_bench: BatchCreatePartition reported errors\n");
            return 1;
        }
        json_decref(out);
        json_decref(in);
    }
    double create_s = (double)(clock_mono_ns() - t0) / 1e9;
    double create_rate = n_partitions / create_s;
    printf("BatchCreatePartition: %d partitions in %.2f s = %.0f partitions/s (batches of 100)\n",
           n_partitions, create_s, create_rate);

    /* 2. GetPartitions with selective expressions. */
    int years = n_partitions / 10080 + 1;
    static const char *const kinds[] = {"year/month/day equality", "region+BETWEEN+IN",
                                        "LIKE+NOT on one day",
                                        "no leading-key equality: full scan"};
    double *lat = calloc((size_t)n_queries, sizeof(double));
    double worst_p99 = 0;
    char summary[768] = "";
    size_t sum_len = 0;
    for (int kind = 0; kind < 4; kind++) {
        size_t matched_total = 0;
        for (int q = 0; q < n_queries; q++) {
            char expr[256];
            int y = 2000 + rand() % years, m = rand() % 12 + 1, d = rand() % 28 + 1;
            if (kind == 0) {
                snprintf(expr, sizeof(expr), "year = %d AND month = %d AND day = %d", y, m, d);
            } else if (kind == 1) {
                snprintf(expr, sizeof(expr),
                         "region = 'r%02d' AND year = %d AND month IN (%d, %d) AND day BETWEEN "
                         "%d AND %d",
                         rand() % 30, y, m, m % 12 + 1, d, d + 2);
            } else if (kind == 2) {
                snprintf(expr, sizeof(expr),
                         "year = %d AND month = %d AND day = %d AND region LIKE 'r1%%' AND NOT "
                         "region = 'r10'",
                         y, m, d);
            } else {
                snprintf(expr, sizeof(expr), "month = %d AND day = %d AND region = 'r%02d'", m, d,
                         rand() % 30);
            }
            int64_t q0 = clock_mono_ns();
            char token[64] = "";
            for (;;) {
                json_t *in = json_pack("{s:s, s:s, s:s}", "DatabaseName", "bench", "TableName",
                                       "events", "Expression", expr);
                if (token[0] != '\0') {
                    json_object_set_new(in, "NextToken", json_string(token));
                }
                json_t *out = op("GetPartitions", in);
                matched_total += json_array_size(json_object_get(out, "Partitions"));
                const char *next = json_string_value(json_object_get(out, "NextToken"));
                snprintf(token, sizeof(token), "%s", next != NULL ? next : "");
                json_decref(out);
                json_decref(in);
                if (token[0] == '\0') {
                    break;
                }
            }
            lat[q] = (double)(clock_mono_ns() - q0) / 1e6;
        }
        qsort(lat, (size_t)n_queries, sizeof(double), cmp_double);
        double p50 = pct(lat, (size_t)n_queries, 0.50), p99 = pct(lat, (size_t)n_queries, 0.99);
        worst_p99 = p99 > worst_p99 ? p99 : worst_p99;
        printf("GetPartitions [%s]: p50 %.2f ms, p99 %.2f ms, max %.2f ms (%.1f partitions "
               "matched per query)\n",
               kinds[kind], p50, p99, lat[n_queries - 1], (double)matched_total / n_queries);
        sum_len += (size_t)snprintf(summary + sum_len, sizeof(summary) - sum_len,
                                    " get_p50_ms_%d=%.2f get_p99_ms_%d=%.2f", kind, p50, kind, p99);
    }
    printf("RESULT partitions=%d create_partitions_per_s=%.0f%s worst_p99_ms=%.2f\n", n_partitions,
           create_rate, summary, worst_p99);
    free(lat);
    glue_api_destroy(svc);
    catalog_close(cat);
    store_close(st);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "glue_bench: could not remove %s\n", dir);
    }
    return 0;
}
