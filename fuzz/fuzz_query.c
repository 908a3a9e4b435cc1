/*
 * Fuzzes the one query-string rule of core/text.h with arbitrary input: splitting,
 * decoding and the decoded field list must agree with each other, never read past the
 * input, and decoding must never lengthen.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    size_t pos = 0, n_fields = 0;
    struct query_field f;
    while (query_next(s, size, &pos, &f)) {
        if (f.name < s || f.name + f.name_len > s + size || f.value + f.value_len > s + size ||
            memchr(f.name, '&', f.name_len) != NULL || memchr(f.name, '=', f.name_len) != NULL) {
            abort();
        }
        size_t n = 0;
        char *name = pct_decode_dup(f.name, f.name_len, PCT_QUERY, &n);
        if (name == NULL || n > f.name_len || name[n] != '\0') {
            abort();
        }
        free(name);
        n_fields++;
    }
    struct query_params p;
    query_params_init(&p);
    int rc = query_params_parse(&p, s, size);
    /* every field is kept, unless one decodes to a NUL byte */
    if ((rc == 0 && p.n != n_fields) || (rc < 0 && rc != SL_E(VALIDATION))) {
        abort();
    }
    query_params_fini(&p);
    return 0;
}
