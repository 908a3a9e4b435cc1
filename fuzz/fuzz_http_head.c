/* Fuzzes the vetting of a first request head (src/http/vet.c): any bytes, any length up
   to the head limit; the answer must be a known one and a complete head must lie
   within the input. */
#include <stdint.h>
#include <stdlib.h>

#include "http/http_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t head_len = 0;
    const char *reason = NULL;
    int rc = http__vet_head((const char *)data, size, 64 * 1024, &head_len, &reason);
    if (rc == 1 && (head_len == 0 || head_len > size)) {
        abort();
    }
    if (rc != 0 && rc != 1 && rc != -400 && rc != -414 && rc != -431 && rc != -505) {
        abort();
    }
    if (rc < 0 && (reason == NULL || reason[0] == '\0')) {
        abort();
    }
    return 0;
}
