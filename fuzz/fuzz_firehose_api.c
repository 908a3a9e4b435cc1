/*
 * Fuzzes every Firehose operation with arbitrary input against a real delivery service in
 * a temporary directory (store, lake, stream service, the internal log): the first byte
 * picks the operation, the rest is its body, as the front end hands it over (parsed for the
 * control plane, raw bytes for PutRecord and PutRecordBatch, which read it themselves).
 * Checks the contract of an operation: an error carries its code in call.err and no
 * output; success gives an output, and a raw one is JSON. The fixture stream "fuzz" is never
 * deleted; a stream a CreateDeliveryStream made is deleted again at once.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "core/store.h"
#include "delivery/delivery.h"
#include "delivery/firehose_api.h"

static struct sluice_config cfg;
static struct store *st;
static struct stream_service *streams;
static struct lake *lake;
static struct delivery_service *delivery;
static struct api_json_service *api;

static int run(const char *op, json_t *in, json_t **out, struct api_call *c)
{
    for (size_t k = 0; k < api->n_ops; k++) {
        if (strcmp(api->ops[k].name, op) == 0) {
            return api->ops[k].fn(c, in, out);
        }
    }
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_ERROR + 1);
    config_defaults(&cfg);
    char tmpl[] = "/tmp/sluice-fuzz-firehose-XXXXXX";
    if (mkdtemp(tmpl) == NULL) {
        abort();
    }
    snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", tmpl);
    cfg.stream_transition_ms = 0;
    char path[600];
    snprintf(path, sizeof(path), "%s/sluice.db", tmpl);
    if (store_open(path, &st) < 0 || stream_service_open(st, &cfg, &streams) < 0 ||
        lake_open(st, &cfg, &lake) < 0 ||
        delivery_service_open(st, &cfg, streams, lake, &delivery) < 0) {
        abort();
    }
    api = firehose_api_create(delivery);
    struct api_request req = {.region = "us-east-1", .account_id = "000000000000"};
    struct api_call c = {.req = &req, .service_ctx = api->ctx};
    json_t *in =
        json_loads("{\"DeliveryStreamName\":\"fuzz\",\"ExtendedS3DestinationConfiguration\":"
                   "{\"RoleARN\":\"arn:aws:iam::0:role/r\",\"BucketARN\":"
                   "\"arn:aws:s3:::fuzz\"},\"Tags\":[{\"Key\":\"k\",\"Value\":\"v\"}]}",
                   0, NULL);
    json_t *out = NULL;
    if (run("CreateDeliveryStream", in, &out, &c) < 0) {
        abort();
    }
    json_decref(in);
    json_decref(out);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    const struct api_json_op *op = &api->ops[data[0] % api->n_ops];
    struct api_request req = {.region = "us-east-1", .account_id = "000000000000"};
    if (op->raw_fn != NULL) {
        /* The record path reads the body itself. */
        struct api_call c = {.req = &req, .service_ctx = api->ctx};
        err_clear(&c.err);
        struct buf out;
        buf_init(&out);
        int rc = op->raw_fn(&c, data + 1, size - 1, &out);
        if (rc < 0 && c.err.code != rc) {
            abort();
        }
        if (rc == 0) {
            json_t *doc = json_loadb((const char *)out.data, out.len, 0, NULL);
            if (doc == NULL) {
                abort(); /* the answer must be JSON */
            }
            json_decref(doc);
        }
        buf_fini(&out);
        return 0;
    }
    json_t *in = json_loadb((const char *)data + 1, size - 1, JSON_DECODE_ANY, NULL);
    if (in == NULL) {
        return 0;
    }
    const char *name = json_string_value(json_object_get(in, "DeliveryStreamName"));
    if (strcmp(op->name, "DeleteDeliveryStream") == 0 && name != NULL &&
        strcmp(name, "fuzz") == 0) {
        json_decref(in);
        return 0;
    }
    struct api_call c = {.req = &req, .service_ctx = api->ctx};
    err_clear(&c.err);
    json_t *out = NULL;
    int rc = op->fn(&c, in, &out);
    if (rc < 0 && (c.err.code != rc || out != NULL)) {
        abort();
    }
    if (rc == 0 && out == NULL) {
        abort();
    }
    json_decref(out);
    if (rc == 0 && strcmp(op->name, "CreateDeliveryStream") == 0) {
        out = NULL;
        struct api_call d = {.req = &req, .service_ctx = api->ctx};
        if (run("DeleteDeliveryStream", in, &out, &d) < 0) {
            abort();
        }
        json_decref(out);
    }
    json_decref(in);
    return 0;
}
