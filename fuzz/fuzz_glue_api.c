/* Fuzzes every Glue operation with arbitrary input against a small in-memory catalog:
   the first byte picks the operation, the rest is its JSON body. */
#include "catalog/catalog_int.h"
#include "catalog/glue_api.h"
#include "core/log.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static struct store *st;
static struct catalog *cat;
static struct api_json_service *svc;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_ERROR + 1);
    if (store_open(":memory:", &st) < 0 || catalog_open(st, NULL, &cat) < 0)
        abort();
    svc = glue_api_create(cat);
    struct api_request req = {.region = "us-east-1", .account_id = "000000000000"};
    const char *setup[][2] = {
        {"CreateDatabase", "{\"DatabaseInput\":{\"Name\":\"d\"}}"},
        {"CreateTable",
         "{\"DatabaseName\":\"d\",\"TableInput\":{\"Name\":\"t\",\"PartitionKeys\":[{\"Name\":"
         "\"y\",\"Type\":\"int\"},{\"Name\":\"s\",\"Type\":\"string\"}]}}"},
        {"CreatePartition", "{\"DatabaseName\":\"d\",\"TableName\":\"t\",\"PartitionInput\":{"
                            "\"Values\":[\"1\",\"a\"]}}"},
        {"CreateRegistry", "{\"RegistryName\":\"r\"}"},
        {"CreateSchema", "{\"RegistryId\":{\"RegistryName\":\"r\"},\"SchemaName\":\"s\","
                         "\"DataFormat\":\"JSON\",\"SchemaDefinition\":\"{}\"}"},
    };
    for (size_t i = 0; i < 5; i++) {
        for (size_t k = 0; k < svc->n_ops; k++) {
            if (strcmp(svc->ops[k].name, setup[i][0]) == 0) {
                struct api_call c = {.req = &req, .service_ctx = svc->ctx};
                json_t *in = json_loads(setup[i][1], 0, NULL), *out = NULL;
                if (svc->ops[k].fn(&c, in, &out) < 0)
                    abort();
                json_decref(in);
                json_decref(out);
            }
        }
    }
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
    /* never delete the fixtures */
    const char *n = svc->ops[k].name;
    if (strncmp(n, "Delete", 6) == 0 || strncmp(n, "BatchDelete", 11) == 0 ||
        strcmp(n, "UpdateTable") == 0) {
        json_decref(in);
        return 0;
    }
    int rc = svc->ops[k].fn(&c, in, &out);
    if (rc < 0 && (c.err.code != rc || out != NULL))
        abort();
    if (rc == 0 && out == NULL)
        abort();
    json_decref(out);
    json_decref(in);
    return 0;
}
