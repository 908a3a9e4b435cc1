/*
 * Fuzzes the prefix-expression checker and evaluator and the timestamp formatter with
 * arbitrary prefixes: a prefix the checker accepts must evaluate without fault, and a
 * timestamp pattern is formatted at a time taken from the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "delivery/delivery_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t ts_ms = 0;
    if (size >= 8) {
        memcpy(&ts_ms, data, 8);
        ts_ms %= 253402300799000LL; /* up to year 9999 */
        data += 8;
        size -= 8;
    }
    char *prefix = xstrndup((const char *)data, size);
    struct buf out;
    buf_init(&out);
    struct delivery_prefix_info info;
    if (delivery__prefix_scan(prefix, &info, NULL) == 0) {
        delivery__prefix_eval(prefix, ts_ms, "processing-failed", &out);
    }
    buf_reset(&out);
    delivery__ts_format(prefix, strlen(prefix), ts_ms, &out);
    buf_fini(&out);
    free(prefix);
    return 0;
}
