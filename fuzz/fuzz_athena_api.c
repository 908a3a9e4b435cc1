/* Fuzzes every Athena operation's request parsing with arbitrary input against a query
   service on a temporary data directory: the first byte picks the operation, the rest is
   its JSON body. Queries the fuzzer starts run on the service's workers meanwhile, so
   DuckDB allocates on other threads while an input runs: libFuzzer's per-input leak
   check then reports DuckDB's in-flight memory. Fuzz with -detect_leaks=0; the corpus
   replay (-runs=0) checks leaks at exit as usual. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "core/config.h"
#include "core/log.h"
#include "lake/lake.h"
#include "query/athena_api.h"
#include "query/query.h"

static struct sluice_config cfg;
static struct store *st;
static struct lake *lake;
static struct catalog *cat;
static struct query_service *qs;
static struct api_json_service *svc;

static void call(const char *op, const char *body)
{
    for (size_t k = 0; k < svc->n_ops; k++) {
        if (strcmp(svc->ops[k].name, op) == 0) {
            struct api_request req = {.region = "us-east-1", .account_id = "000000000000"};
            struct api_call c = {.req = &req, .service_ctx = svc->ctx};
            json_t *in = json_loads(body, 0, NULL), *out = NULL;
            if (svc->ops[k].fn(&c, in, &out) < 0)
                abort();
            json_decref(in);
            json_decref(out);
        }
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_ERROR + 1);
    config_defaults(&cfg);
    char tmpl[] = "/tmp/sluice-fuzz-athena-XXXXXX";
    if (mkdtemp(tmpl) == NULL)
        abort();
    snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", tmpl);
    if (store_open(":memory:", &st) < 0 || lake_open(st, &cfg, &lake) < 0 ||
        catalog_open(st, &cfg, &cat) < 0 || query_service_open(st, &cfg, lake, cat, &qs) < 0)
        abort();
    svc = athena_api_create(qs);
    call("CreateWorkGroup", "{\"Name\":\"w\",\"Configuration\":{\"ResultConfiguration\":"
                            "{\"OutputLocation\":\"s3://b/r/\"}}}");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t k = data[0] % svc->n_ops;
    json_t *in = json_loadb((const char *)data + 1, size - 1, JSON_DECODE_ANY, NULL);
    if (in == NULL)
        return 0;
    struct api_request req = {.region = "us-east-1", .account_id = "000000000000"};
    struct api_call c = {.req = &req, .service_ctx = svc->ctx};
    json_t *out = NULL;
    int rc = svc->ops[k].fn(&c, in, &out);
    if (rc < 0 && (c.err.code != rc || out != NULL))
        abort();
    if (rc == 0 && out == NULL)
        abort();
    json_decref(out);
    json_decref(in);
    return 0;
}
