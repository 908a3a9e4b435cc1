/*
 * Fuzz target for the S3 adapter's object attributes and checksum headers
 * (lake/s3_attributes.c, lake/lake_checksum.c). The first byte picks what the rest is,
 * lines of header values (then, for a completion, its XML body):
 *   0  GetObjectAttributes of "k" or of "mp" (two parts with CRC32 checksums):
 *      x-amz-object-attributes, x-amz-max-parts, x-amz-part-number-marker;
 *   1  PutObject "c" with x-amz-sdk-checksum-algorithm and an x-amz-checksum-* value;
 *   2  CompleteMultipartUpload of a fresh upload (algorithm and type from the first
 *      byte, one part "part-one"): x-amz-checksum-type, an x-amz-checksum-* value
 *      ("<base64>-N" for a composite), then the CompleteMultipartUpload document.
 * What a request creates is deleted after it, so every input meets the same state.
 */
#include "fuzz_s3_host.h"

static const char *const algos[] = {"CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"};
static const char *const checksum_headers[] = {"x-amz-checksum-crc32", "x-amz-checksum-crc32c",
                                               "x-amz-checksum-crc64nvme", "x-amz-checksum-sha1",
                                               "x-amz-checksum-sha256"};

/* The UploadId of a CreateMultipartUpload answer into out. */
static void upload_id(const char *body, char out[256])
{
    const char *p = strstr(body, "<UploadId>");
    const char *e = p != NULL ? strstr(p, "</UploadId>") : NULL;
    if (e == NULL || e - p - 10 >= 256) {
        abort();
    }
    snprintf(out, 256, "%.*s", (int)(e - p - 10), p + 10);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_s3_setup();
    struct api_header algo = {"x-amz-checksum-algorithm", "CRC32"};
    char *body = NULL;
    if (fz_s3("POST", "/fuzz/mp", "uploads", &algo, 1, NULL, 0, &body) != 0) {
        abort();
    }
    char id[256], q[400], etags[2][128], sums[2][64];
    upload_id(body, id);
    free(body);
    for (int pn = 1; pn <= 2; pn++) {
        snprintf(q, sizeof(q), "partNumber=%d&uploadId=%s", pn, id);
        struct api_header sdk = {"x-amz-sdk-checksum-algorithm", "CRC32"};
        /* every part but the last is at least 5 MiB */
        size_t len = pn == 1 ? (size_t)5 << 20 : 6;
        char *part = malloc(len + 1);
        memset(part, 'a', len);
        part[len] = '\0';
        fz_s3_must("PUT", "/fuzz/mp", q, &sdk, 1, part);
        free(part);
        snprintf(etags[pn - 1], sizeof(etags[0]), "%s", fz_etag);
        snprintf(sums[pn - 1], sizeof(sums[0]), "%s", fz_crc32);
    }
    char doc[1024];
    snprintf(doc, sizeof(doc),
             "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag>"
             "<ChecksumCRC32>%s</ChecksumCRC32></Part><Part><PartNumber>2</PartNumber>"
             "<ETag>%s</ETag><ChecksumCRC32>%s</ChecksumCRC32></Part>"
             "</CompleteMultipartUpload>",
             etags[0], sums[0], etags[1], sums[1]);
    snprintf(q, sizeof(q), "uploadId=%s", id);
    fz_s3_must("POST", "/fuzz/mp", q, NULL, 0, doc);
    return 0;
}

/* Splits text into at most max lines (NUL-terminated in place); the rest after them. */
static size_t lines(char *text, size_t max, const char **out, char **rest)
{
    size_t n = 0;
    char *p = text;
    while (n < max && p != NULL) {
        char *nl = strchr(p, '\n');
        if (nl != NULL) {
            *nl = '\0';
        }
        out[n++] = p;
        p = nl ? nl + 1 : NULL;
    }
    *rest = p;
    return n;
}

static void complete(uint8_t pick, char *text)
{
    int a = pick % 5;
    const char *type = (pick / 5) % 2 ? "FULL_OBJECT" : "COMPOSITE";
    struct api_header ch[2] = {{"x-amz-checksum-algorithm", algos[a]},
                               {"x-amz-checksum-type", type}};
    char *body = NULL;
    int rc = fz_s3("POST", "/fuzz/m", "uploads", ch, 2, NULL, 0, &body);
    if (rc != 0) {
        free(body);
        return; /* a type the algorithm does not allow */
    }
    char id[256], q[400];
    upload_id(body, id);
    free(body);
    snprintf(q, sizeof(q), "partNumber=1&uploadId=%s", id);
    struct api_header sdk = {"x-amz-sdk-checksum-algorithm", algos[a]};
    fz_s3_must("PUT", "/fuzz/m", q, &sdk, 1, "part-one");
    const char *v[2];
    char *rest;
    size_t n = lines(text, 2, v, &rest);
    struct api_header h[2];
    size_t nh = 0;
    if (n > 0 && v[0][0] != '\0') {
        h[nh++] = (struct api_header){"x-amz-checksum-type", v[0]};
    }
    if (n > 1) {
        h[nh++] = (struct api_header){checksum_headers[(pick / 10) % 5], v[1]};
    }
    snprintf(q, sizeof(q), "uploadId=%s", id);
    if (fz_s3("POST", "/fuzz/m", q, h, nh, rest ? rest : "", rest ? strlen(rest) : 0, NULL) == 0) {
        fz_s3_must("DELETE", "/fuzz/m", "", NULL, 0, NULL);
    } else {
        fz_s3_must("DELETE", "/fuzz/m", q, NULL, 0, NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || memchr(data + 1, '\0', size - 1) != NULL) {
        return 0; /* header values hold no NUL */
    }
    char *text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    const char *v[3];
    char *rest;
    switch (data[0] % 3) {
    case 0: {
        size_t n = lines(text, 3, v, &rest);
        static const char *const names[] = {"x-amz-object-attributes", "x-amz-max-parts",
                                            "x-amz-part-number-marker"};
        struct api_header h[3];
        for (size_t i = 0; i < n; i++) {
            h[i] = (struct api_header){names[i], v[i]};
        }
        char *out = NULL;
        if (fz_s3("GET", (data[0] / 3) % 2 ? "/fuzz/mp" : "/fuzz/k", "attributes", h, n, NULL, 0,
                  &out) == 0 &&
            strstr(out, "<GetObjectAttributesResponse") == NULL) {
            abort();
        }
        free(out);
        break;
    }
    case 1: {
        size_t n = lines(text, 2, v, &rest);
        struct api_header h[2];
        size_t nh = 0;
        if (n > 0 && v[0][0] != '\0') {
            h[nh++] = (struct api_header){"x-amz-sdk-checksum-algorithm", v[0]};
        }
        if (n > 1) {
            h[nh++] = (struct api_header){checksum_headers[(data[0] / 3) % 5], v[1]};
        }
        if (fz_s3("PUT", "/fuzz/c", "", h, nh, "abc", 3, NULL) == 0) {
            fz_s3_must("DELETE", "/fuzz/c", "", NULL, 0, NULL);
        }
        break;
    }
    default: complete(data[0] / 3, text); break;
    }
    free(text);
    return 0;
}
