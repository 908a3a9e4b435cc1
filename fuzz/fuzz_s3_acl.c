/*
 * Fuzz target for S3 access control lists (lake/s3_acl.c): the first byte picks what
 * the rest is — an AccessControlPolicy document put on the bucket or on object "k", or
 * up to five lines of x-amz-grant-* header values (read, write, read-acp, write-acp,
 * full-control) put on object "k" or given to a new bucket. An ACL that is accepted
 * is read back (rendered as S3 does) and then both ACLs go back to private, so every
 * input meets the same state.
 */
#include "fuzz_s3_host.h"

static const char *const grant_names[] = {"x-amz-grant-read", "x-amz-grant-write",
                                          "x-amz-grant-read-acp", "x-amz-grant-write-acp",
                                          "x-amz-grant-full-control"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_s3_setup();
    return 0;
}

static void reset(void)
{
    struct api_header priv = {"x-amz-acl", "private"};
    fz_s3_must("PUT", "/fuzz", "acl", &priv, 1, NULL);
    fz_s3_must("PUT", "/fuzz/k", "acl", &priv, 1, NULL);
}

/* Splits [data, data+size) into at most 5 NUL-terminated lines, as grant headers. */
static size_t grant_lines(const uint8_t *data, size_t size, char *copy, struct api_header *h)
{
    memcpy(copy, data, size);
    copy[size] = '\0';
    size_t n = 0;
    char *p = copy;
    while (n < 5 && p != NULL) {
        char *nl = strchr(p, '\n');
        if (nl != NULL) {
            *nl = '\0';
        }
        h[n].name = grant_names[n];
        h[n].value = p;
        n++;
        p = nl ? nl + 1 : NULL;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || memchr(data + 1, '\0', size - 1) != NULL) {
        return 0; /* header values hold no NUL; the XML reader refuses one anyway */
    }
    const char *path = data[0] & 1 ? "/fuzz/k" : "/fuzz";
    int rc;
    switch ((data[0] >> 1) % 3) {
    case 0: rc = fz_s3("PUT", path, "acl", NULL, 0, data + 1, size - 1, NULL); break;
    case 1: {
        char *copy = malloc(size);
        struct api_header h[5];
        size_t n = grant_lines(data + 1, size - 1, copy, h);
        rc = fz_s3("PUT", path, "acl", h, n, NULL, 0, NULL);
        free(copy);
        break;
    }
    default: {
        /* CreateBucket reads the same headers; a bucket it makes goes again. */
        char *copy = malloc(size);
        struct api_header h[6];
        size_t n = grant_lines(data + 1, size - 1, copy, h);
        h[n].name = "x-amz-object-ownership";
        h[n].value = "ObjectWriter";
        rc = fz_s3("PUT", "/fuzz-new", "", h, n + 1, NULL, 0, NULL);
        free(copy);
        if (rc == 0) {
            char *acl = NULL;
            (void)fz_s3("GET", "/fuzz-new", "acl", NULL, 0, NULL, 0, &acl);
            free(acl);
            fz_s3_must("DELETE", "/fuzz-new", "", NULL, 0, NULL);
        }
        return 0;
    }
    }
    if (rc == 0) {
        char *acl = NULL;
        if (fz_s3("GET", path, "acl", NULL, 0, NULL, 0, &acl) != 0 ||
            strstr(acl, "<AccessControlPolicy") == NULL) {
            abort(); /* an ACL accepted reads back */
        }
        free(acl);
        reset();
    }
    return 0;
}
