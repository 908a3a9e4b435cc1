/*
 * Fuzzes the Schema Registry's parser of Avro schemas
 * (validation and schema resolution). The input is
 * split at its first NUL byte into two definitions (the whole input is the first when
 * there is none); each is validated, and when both are valid their compatibility is
 * checked in both directions. Any crash, leak, hang or sanitizer report is a finding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 2);
    if (text == NULL) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    text[size + 1] = '\0';
    const char *a = text;
    const char *b = text + strlen(text) + 1;
    if ((size_t)(b - text) > size) {
        b = a;
    }
    struct err_info err = {0};
    int va = catalog__avro_validate(a, &err);
    int vb = catalog__avro_validate(b, &err);
    if ((va != 0 && va != SL_E(INVALID_INPUT)) || (vb != 0 && vb != SL_E(INVALID_INPUT))) {
        abort();
    }
    if (va == 0 && vb == 0) {
        catalog__avro_compatible(a, b, &err);
        catalog__avro_compatible(b, a, &err);
        if (a == b && catalog__avro_compatible(a, a, &err) != 0) {
            abort(); /* a schema can always read its own data */
        }
    }
    free(text);
    return 0;
}
