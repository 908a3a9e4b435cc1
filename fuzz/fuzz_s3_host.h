/* The small S3 front end the S3 subresource fuzzers share: a lake in a temporary
   directory (removed at exit) with bucket "fuzz" (ACLs on: ObjectWriter) holding
   object "k", and fz_s3 to hand it one request as the router would after
   authentication. Included by one fuzzer each (the functions are static). */
#ifndef SLUICE_FUZZ_S3_HOST_H
#define SLUICE_FUZZ_S3_HOST_H

#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "core/store.h"
#include "http/api.h"
#include "lake/lake.h"
#include "lake/s3_http.h"

static struct lake *fz_lake;
/* The last answer's ETag and x-amz-checksum-crc32 headers ("" when it had none). */
static char fz_etag[128], fz_crc32[64];
/* On tmpfs when there is one: every write is synced, which a disk makes slow. */
static char fz_dir[64];

static int fz_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void fz_remove_dir(void)
{
    nftw(fz_dir, fz_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* One request; the answer's body (a copy, NUL-terminated, caller frees) into *body_out
   when body_out is not NULL. Returns the handler's result (0 or an error code). */
static int fz_s3(const char *method, const char *path, const char *query,
                 const struct api_header *headers, size_t n_headers, const void *body,
                 size_t body_len, char **body_out)
{
    static const uint8_t key[32] = {1};
    struct api_request req = {
        .request_id = "fuzz",
        .method = method,
        .path = path,
        .query = query,
        .host = "localhost",
        .body = (const uint8_t *)body,
        .body_len = body_len,
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
    call.service_ctx = fz_lake;
    int rc = s3__handle(&call);
    if (rc < 0 && call.err.code != rc) {
        abort(); /* a failure says why */
    }
    if (body_out != NULL) {
        /* an error's message stands for its body */
        *body_out =
            rc < 0 ? strdup(call.err.message)
                   : strndup(resp.body.data ? (const char *)resp.body.data : "", resp.body.len);
    }
    if (resp.body_fd >= 0) {
        close(resp.body_fd);
    }
    fz_etag[0] = fz_crc32[0] = '\0';
    for (size_t i = 0; i < resp.n_headers; i++) {
        if (strcasecmp(resp.headers[i].name, "ETag") == 0) {
            snprintf(fz_etag, sizeof(fz_etag), "%s", resp.headers[i].value);
        } else if (strcasecmp(resp.headers[i].name, "x-amz-checksum-crc32") == 0) {
            snprintf(fz_crc32, sizeof(fz_crc32), "%s", resp.headers[i].value);
        }
        free((char *)resp.headers[i].name);
        free((char *)resp.headers[i].value);
    }
    free(resp.headers);
    buf_fini(&resp.body);
    return rc;
}

/* A setup request that must succeed. */
static void fz_s3_must(const char *method, const char *path, const char *query,
                       const struct api_header *headers, size_t n_headers, const char *body)
{
    char *answer = NULL;
    int rc = fz_s3(method, path, query, headers, n_headers, body, body ? strlen(body) : 0, &answer);
    if (rc != 0) {
        fprintf(stderr, "fuzz setup failed: %s %s?%s: %d %s\n", method, path, query, rc, answer);
        abort();
    }
    free(answer);
}

static void fz_s3_setup(void)
{
    struct stat shm;
    snprintf(fz_dir, sizeof(fz_dir), "%s/fuzz_s3_sub_XXXXXX",
             stat("/dev/shm", &shm) == 0 && S_ISDIR(shm.st_mode) ? "/dev/shm" : "/tmp");
    if (mkdtemp(fz_dir) == NULL) {
        abort();
    }
    atexit(fz_remove_dir);
    log_set_level(LOG_ERROR + 1);
    static struct sluice_config cfg;
    config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", fz_dir);
    char db[600];
    snprintf(db, sizeof(db), "%s/meta.db", fz_dir);
    struct store *st = NULL;
    if (store_open(db, &st) < 0 || lake_open(st, &cfg, &fz_lake) < 0) {
        abort();
    }
    fz_s3_must("PUT", "/fuzz", "", NULL, 0, NULL);
    fz_s3_must("PUT", "/fuzz", "ownershipControls", NULL, 0,
               "<OwnershipControls><Rule><ObjectOwnership>ObjectWriter</ObjectOwnership>"
               "</Rule></OwnershipControls>");
    fz_s3_must("PUT", "/fuzz/k", "", NULL, 0, "0123456789");
}

#endif
