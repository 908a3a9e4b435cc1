/*
 * Fuzz target for S3 CORS (lake/s3_cors.c): the input is a CORSConfiguration document,
 * then a line "--", then up to three lines: a request's Origin, its method (preflight's
 * Access-Control-Request-Method) and Access-Control-Request-Headers. The document is
 * put on the bucket; when accepted it is read back, the preflight is evaluated against
 * it (OPTIONS), and so is an actual GET with the Origin, and then the configuration
 * is deleted, so every input meets the same state.
 */
#include "fuzz_s3_host.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_s3_setup();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (memchr(data, '\0', size) != NULL) {
        return 0; /* header values hold no NUL; the XML reader refuses one anyway */
    }
    char *copy = malloc(size + 1);
    memcpy(copy, data, size);
    copy[size] = '\0';
    char *sep = strstr(copy, "\n--\n");
    size_t doc_len = sep != NULL ? (size_t)(sep - copy) : size;
    static const char *const names[] = {"Origin", "Access-Control-Request-Method",
                                        "Access-Control-Request-Headers"};
    struct api_header h[3];
    size_t n = 0;
    for (char *p = sep != NULL ? sep + 4 : NULL; p != NULL && n < 3; n++) {
        char *nl = strchr(p, '\n');
        if (nl != NULL) {
            *nl = '\0';
        }
        h[n].name = names[n];
        h[n].value = p;
        p = nl ? nl + 1 : NULL;
    }
    if (fz_s3("PUT", "/fuzz", "cors", NULL, 0, copy, doc_len, NULL) == 0) {
        char *got = NULL;
        if (fz_s3("GET", "/fuzz", "cors", NULL, 0, NULL, 0, &got) != 0 ||
            strstr(got, "<CORSConfiguration") == NULL) {
            abort(); /* a configuration accepted reads back */
        }
        free(got);
        (void)fz_s3("OPTIONS", "/fuzz/k", "", h, n, NULL, 0, NULL);
        if (n > 0) {
            (void)fz_s3(n > 1 && strcmp(h[1].value, "HEAD") == 0 ? "HEAD" : "GET", "/fuzz/k", "", h,
                        1, NULL, 0, NULL);
        }
        fz_s3_must("DELETE", "/fuzz", "cors", NULL, 0, NULL);
    } else if (n > 0) {
        (void)fz_s3("OPTIONS", "/fuzz/k", "", h, n, NULL, 0, NULL);
    }
    free(copy);
    return 0;
}
