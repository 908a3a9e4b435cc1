/*
 * Fuzzes GetPartitions' expression language: the input is an expression, compiled
 * against a fixed set of partition keys of every kind (string, int, number, date,
 * boolean, timestamp), then evaluated on a few partition rows. Any crash, leak, hang or
 * sanitizer report is a finding; refusals (InvalidInputException) are expected.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"region", "year", "price", "dt", "flag", "ts"};
    static const enum catalog_key_kind kinds[] = {CATALOG_KEY_STRING, CATALOG_KEY_INT,
                                                  CATALOG_KEY_NUMBER, CATALOG_KEY_DATE,
                                                  CATALOG_KEY_BOOL,   CATALOG_KEY_TIMESTAMP};
    static const char *const rows[][6] = {
        {"eu", "2024", "1.5", "2024-02-29", "true", "2024-02-29 23:59:60.999999999"},
        {"us-east", "-7", "1e300", "1999-12-31", "FALSE", "1999-12-31T00:00:00"},
        {"", "x", "", "not a date", "maybe", "2024-13-01 00:00:00"},
    };
    char *text = malloc(size + 1);
    if (text == NULL) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    struct catalog_expr *e = NULL;
    struct err_info err = {0};
    if (catalog__expr_compile(text, names, kinds, 6, &e, &err) == 0) {
        for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
            size_t lens[6];
            for (size_t k = 0; k < 6; k++) {
                lens[k] = strlen(rows[r][k]);
            }
            int v = catalog__expr_eval(e, rows[r], lens, 6);
            if (v != 0 && v != 1) {
                abort();
            }
        }
        catalog__expr_free(e);
    } else if (err.code != SL_E(INVALID_INPUT) || err.message[0] == '\0') {
        abort(); /* every refusal is Glue's error with a reason */
    }
    free(text);
    return 0;
}
