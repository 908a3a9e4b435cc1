/*
 * Fuzz target for the S3 adapter as a whole: one request (method, raw path, raw query,
 * headers, body) handed to its handler over a lake in a temporary directory, as the
 * front end would after authentication. Exercises addressing, query and path
 * decoding, Range/conditional/copy-source/tagging header parsing, the XML bodies and
 * aws-chunked decoding together.
 *
 * Input: "METHOD\nPATH\nQUERY\nHost\n" then "Name: value\n" header lines, an empty
 * line, and the body.
 */
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "core/store.h"
#include "http/api.h"
#include "lake/lake.h"
#include "lake/s3_http.h"

static struct lake *lake;
static char dir[] = "/tmp/fuzz_s3_request_XXXXXX";

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* The lake's directory goes when the fuzzer exits. */
static void remove_dir(void)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (mkdtemp(dir) == NULL) {
        abort();
    }
    atexit(remove_dir);
    log_set_level(LOG_ERROR);
    static struct sluice_config cfg;
    config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", dir);
    char db[600];
    snprintf(db, sizeof(db), "%s/meta.db", dir);
    struct store *st = NULL;
    if (store_open(db, &st) < 0 || lake_open(st, &cfg, &lake) < 0) {
        abort();
    }
    struct err_info err;
    lake_bucket_create(lake, "fuzz", "us-east-1", &err);
    lake_object_put(lake, "fuzz", "k", "0123456789", 10, NULL, NULL, &err);
    return 0;
}

/* The next line of [*p, end) as a NUL-terminated copy (caller frees), NULL at the end. */
static char *next_line(const char **p, const char *end)
{
    if (*p >= end) {
        return NULL;
    }
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    const char *stop = nl ? nl : end;
    char *line = strndup(*p, (size_t)(stop - *p));
    *p = nl ? nl + 1 : end;
    return line;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    const char *end = p + size;
    char *fields[4] = {NULL};
    for (int i = 0; i < 4; i++) {
        fields[i] = next_line(&p, end);
        if (fields[i] == NULL) {
            goto out;
        }
    }
    struct api_header headers[16];
    char *lines[16];
    size_t n_headers = 0;
    for (;;) {
        char *line = next_line(&p, end);
        if (line == NULL || line[0] == '\0' || n_headers == 16) {
            free(line);
            break;
        }
        char *colon = strchr(line, ':');
        if (colon == NULL) {
            free(line);
            continue;
        }
        *colon = '\0';
        headers[n_headers].name = line;
        headers[n_headers].value = colon[1] == ' ' ? colon + 2 : colon + 1;
        lines[n_headers++] = line;
    }
    static const uint8_t key[32] = {1};
    struct api_request req = {
        .request_id = "fuzz",
        .method = fields[0],
        .path = fields[1],
        .query = fields[2],
        .host = fields[3],
        .body = (const uint8_t *)p,
        .body_len = (size_t)(end - p),
        .body_fd = -1,
        .headers = headers,
        .n_headers = n_headers,
        .account_id = "000000000000",
        .region = "us-east-1",
        .seed_signature = "0000000000000000000000000000000000000000000000000000000000000000",
        .signing_key = key,
        .amz_date = "20261126T100000Z",
        .credential_scope = "20261126/us-east-1/s3/aws4_request",
    };
    struct api_response resp;
    memset(&resp, 0, sizeof(resp));
    resp.status = 200;
    resp.body_fd = -1;
    struct api_call call;
    memset(&call, 0, sizeof(call));
    call.req = &req;
    call.resp = &resp;
    call.service_ctx = lake;
    (void)s3__handle(&call);
    if (resp.body_fd >= 0) {
        close(resp.body_fd);
    }
    for (size_t i = 0; i < resp.n_headers; i++) {
        free((char *)resp.headers[i].name);
        free((char *)resp.headers[i].value);
    }
    free(resp.headers);
    buf_fini(&resp.body);
    for (size_t i = 0; i < n_headers; i++) {
        free(lines[i]);
    }
out:
    for (int i = 0; i < 4; i++) {
        free(fields[i]);
    }
    return 0;
}
