/*
 * Fuzzes the Kinesis request path below HTTP: the bytes of a request body go through
 * PutRecords, PutRecord and GetRecords exactly as the server hands them over (the
 * single-pass JSON reader, base64, validation, the append), against a real stream in a
 * temporary directory, and through the front end's checks of those and other
 * operations. Any crash, leak or sanitizer report is a finding.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/jsonscan.h"
#include "core/log.h"
#include "core/store.h"
#include "stream/kinesis_int.h"

static struct sluice_config cfg;
static struct store *store;
static struct stream_service *svc;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_ERROR + 1);
    config_defaults(&cfg);
    char tmpl[] = "/tmp/sluice-fuzz-XXXXXX";
    if (mkdtemp(tmpl) == NULL) {
        abort();
    }
    snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", tmpl);
    cfg.stream_transition_ms = 0;
    char path[600];
    snprintf(path, sizeof(path), "%s/sluice.db", tmpl);
    if (store_open(path, &store) < 0 || stream_service_open(store, &cfg, &svc) < 0) {
        abort();
    }
    struct err_info err;
    struct stream_create_params p = {
        .region = "us-east-1", .account = "000000000000", .name = "fuzz", .shard_count = 2};
    if (stream_create(svc, &p, &err) < 0) {
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct api_request req = {.region = "us-east-1",
                              .account_id = "000000000000",
                              .now_ms = clock_now_ms(),
                              .body = data,
                              .body_len = size,
                              .body_fd = -1};
    api_json_raw_fn ops[] = {kin__put_records, kin__put_record, kin__get_records};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        struct api_call call = {.req = &req, .service_ctx = svc};
        err_clear(&call.err);
        struct buf out;
        buf_init(&out);
        int rc = ops[i](&call, data, size, &out);
        if (rc < 0 && call.err.message[0] == '\0' && rc != SL_E(NOMEM)) {
            /* Every refusal must tell the client why. */
            abort();
        }
        buf_fini(&out);
    }
    /* The front end's checks, which word every refusal of these and the other operations. */
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)data, size, JSON_ALLOW_NUL, &jerr);
    static const char *const validated[] = {
        "PutRecords",   "PutRecord",      "GetRecords",           "GetShardIterator",
        "CreateStream", "DescribeStream", "ListShards",           "RemoveTagsFromStream",
        "TagResource",  "ListStreams",    "StartStreamEncryption"};
    for (size_t i = 0; doc != NULL && i < sizeof(validated) / sizeof(validated[0]); i++) {
        struct api_call call = {.req = &req, .service_ctx = svc, .operation = validated[i]};
        err_clear(&call.err);
        if (kin__validate_input(&call, doc) < 0 && call.err.message[0] == '\0') {
            abort();
        }
        free(call.long_message);
    }
    json_decref(doc);
    struct jscan js;
    jscan_init(&js, (const char *)data, size);
    if (jscan_skip(&js) == 0) {
        jscan_finish(&js);
    }
    return 0;
}
