/*
 * Fuzzes the record -> Parquet value conversion (src/delivery/convert.c). The input is
 * "<flags byte><Hive type>\n<record>": the type goes through the type parser; when it
 * parses, the record is converted into a one-column batch of it ("c") and into the lab's
 * table, with the SerDe chosen by the flags. A record either becomes a row whose column
 * buffers are consistent (offsets non-decreasing, within their children) or is refused
 * with a code; a refused record leaves the batch as it was. The error record is written
 * for refused ones.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "delivery/convert.h"

static void check_col(const struct conv_type *t, const struct duck_colbuf *cb, size_t n)
{
    if (t->kind == CONV_ARRAY || t->kind == CONV_MAP) {
        for (size_t i = 0; i < n; i++) {
            if (cb->offsets[i] > cb->offsets[i + 1]) {
                abort();
            }
        }
        check_col(t->kind == CONV_ARRAY ? t->elem : t->key, &cb->children[0], cb->offsets[n]);
        if (t->kind == CONV_MAP) {
            check_col(t->value, &cb->children[1], cb->offsets[n]);
        }
    } else if (t->kind == CONV_STRUCT) {
        for (size_t f = 0; f < t->n_fields; f++) {
            check_col(t->fields[f].type, &cb->children[f], n);
        }
    } else if (t->kind >= CONV_STRING && t->kind <= CONV_BINARY) {
        const struct duck_str *s = cb->values;
        for (size_t i = 0; i < n; i++) {
            if (s[i].len > 0 && s[i].ptr == NULL) {
                abort();
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    uint8_t flags = data[0];
    data++;
    size--;
    const uint8_t *nl = memchr(data, '\n', size);
    size_t type_len = nl != NULL ? (size_t)(nl - data) : size;
    char *type = xstrndup((const char *)data, type_len);
    const uint8_t *rec = nl != NULL ? nl + 1 : data + size;
    size_t rec_len = (size_t)(data + size - rec);
    const char *fmts[] = {"millis", "yyyy/MM/dd HH:mm:ss.SSS"};
    struct conv_options opt = {.hive = flags & 1,
                               .case_insensitive = !(flags & 2),
                               .dots_to_underscores = (flags & 4) != 0,
                               .ts_formats = fmts,
                               .n_ts_formats = 2};
    struct conv_type *t = NULL;
    char why[200];
    if (delivery__hive_type_parse(type, &t, why, sizeof(why)) == 0) {
        struct catalog_column col = {.name = "c", .type = type};
        struct conv_batch *b = NULL;
        if (delivery__conv_create(&col, 1, &opt, &b, why, sizeof(why)) == 0) {
            struct conv_error e;
            for (int round = 0; round < 2; round++) {
                size_t before = delivery__conv_rows(b);
                int rc = delivery__conv_record(b, rec, rec_len, &e);
                size_t after = delivery__conv_rows(b);
                if ((rc == 0 && after != before + 1) || (rc != 0 && after != before) ||
                    (rc == 1 && e.code == NULL)) {
                    abort();
                }
                if (rc == 1) {
                    struct buf out;
                    buf_init(&out);
                    struct conv_error_ctx ctx = {.database = "d", .table = "t"};
                    delivery__conv_error_json(&out, &e, 1, 2, rec, rec_len, "1", &ctx);
                    buf_fini(&out);
                }
            }
            check_col(t, delivery__conv_colbufs(b), delivery__conv_rows(b));
            delivery__conv_destroy(b);
        }
        delivery__hive_type_free(t);
    }
    static const struct catalog_column lab[] = {
        {.name = "event_id", .type = "string"},  {.name = "ts", .type = "timestamp"},
        {.name = "tenant_id", .type = "string"}, {.name = "amount", .type = "double"},
        {.name = "n", .type = "decimal(20,4)"},  {.name = "d", .type = "date"},
    };
    struct conv_batch *lb = NULL;
    if (delivery__conv_create(lab, 6, &opt, &lb, why, sizeof(why)) == 0) {
        struct conv_error e;
        delivery__conv_record(lb, rec, rec_len, &e);
        delivery__conv_destroy(lb);
    }
    free(type);
    return 0;
}
