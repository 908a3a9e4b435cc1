/*
 * Fuzz target for the multipart/form-data reader of S3's POST Object: the input's first
 * line is a Content-Type header value, the rest the body. Checks that what the reader
 * reports stays inside the body and within its limits.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lake/s3_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size < 256 ? size : 256);
    if (nl == NULL) {
        return 0;
    }
    char ctype[257];
    size_t cl = (size_t)(nl - data);
    memcpy(ctype, data, cl);
    ctype[cl] = '\0';
    char boundary[80];
    if (s3__form_boundary(ctype, boundary, sizeof(boundary)) < 0) {
        return 0;
    }
    const uint8_t *body = nl + 1;
    size_t len = size - cl - 1;
    struct s3_form form;
    struct err_info err;
    err_clear(&err);
    int rc = s3__form_parse(body, len, boundary, &form, &err);
    if (rc == 0) {
        if (form.n_fields > S3_FORM_MAX_FIELDS) {
            __builtin_trap();
        }
        for (size_t i = 0; i < form.n_fields; i++) {
            const struct s3_form_field *f = &form.fields[i];
            if (f->value_len > S3_FORM_MAX_VALUE || strlen(f->value) > f->value_len ||
                s3__form_get(&form, f->name) == NULL) {
                __builtin_trap();
            }
        }
        if (form.has_file && (form.file_offset > len || form.file_len > len - form.file_offset ||
                              form.file_name == NULL)) {
            __builtin_trap();
        }
    } else if (err.code != rc || (rc != SL_E(MALFORMED_POST) && rc != SL_E(NOMEM))) {
        __builtin_trap(); /* a failure says why, in the error it returns */
    }
    s3__form_fini(&form);
    return 0;
}
