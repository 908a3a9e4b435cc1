/*
 * Fuzzes what a producer or a transform function controls before partitioning: the KPL
 * aggregate reader, JSON and delimited splitting, and the parser of a function's answer.
 * The first byte picks which; every piece a splitter emits must lie inside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "delivery/deagg.h"
#include "delivery/lambda.h"

struct span {
    const uint8_t *lo, *hi;
};

static int inside(void *arg, const uint8_t *data, size_t len, const char *pk, size_t pk_len,
                  uint32_t sub)
{
    (void)sub;
    const struct span *s = arg;
    if (data < s->lo || data + len > s->hi) {
        abort();
    }
    if (pk != NULL && ((const uint8_t *)pk < s->lo || (const uint8_t *)pk + pk_len > s->hi)) {
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    uint8_t mode = data[0] % 4;
    uint8_t arg = data[1];
    data += 2;
    size -= 2;
    /* A copy of exactly size bytes, so reads past the end are caught. */
    uint8_t *in = malloc(size + 1);
    memcpy(in, data, size);
    struct span s = {in, in + size};
    if (mode == 0) {
        /* Most inputs lack the magic: put it first so the protobuf reader is reached. */
        if (size >= 4) {
            memcpy(in, DEAGG_KPL_MAGIC, 4);
        }
        deagg_kpl(in, size, inside, &s);
    } else if (mode == 1) {
        deagg_json(in, size, inside, &s);
    } else if (mode == 2) {
        size_t dlen = (size_t)(arg % 4) + 1;
        if (size >= dlen) {
            deagg_delimited(in + dlen, size - dlen, in, dlen, inside, &s);
        }
    } else {
        size_t n = arg % 8;
        struct lambda_out out[8];
        const char *code = NULL;
        struct err_info err;
        if (lambda_response_parse((const char *)in, size, n, out, &code, &err) == 0) {
            lambda_out_fini(out, n);
        } else if (code == NULL) {
            abort();
        }
    }
    free(in);
    return 0;
}
