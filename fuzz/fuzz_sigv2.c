/* Fuzzes S3's Signature Version 2 query parsing and verification with arbitrary queries. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/sigv2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *query = malloc(size + 1);
    memcpy(query, data, size);
    query[size] = '\0';
    struct err_info err;
    struct sigv2_query q;
    struct sigv4_header headers[2] = {{"Content-Type", "text/plain"}, {"x-amz-meta-a", "b"}};
    if (sigv2_query_present(query) && sigv2_parse(query, &q, &err) == 0) {
        sigv2_verify("GET", NULL, "/bucket/key", query, headers, 2, &q, "secret", 0, &err);
        sigv2_verify("GET", "bucket", "/key", query, headers, 2, &q, "secret", 0, &err);
    }
    free(query);
    return 0;
}
