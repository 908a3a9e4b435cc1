/*
 * Fuzzes dynamic partitioning end to end: the input is a MetadataExtractionQuery, a
 * newline, then a record (no newline: the whole input is a record for a fixed query).
 * The query goes through the vetting and libjq's compiler; an accepted query runs on the
 * record, and the keys it yields fill a prefix template. Any crash, leak, hang or
 * sanitizer report is a finding, and so is:
 *   - a refused query without INVALID_ARGUMENT and a reason;
 *   - a failed record without INVALID_INPUT, a failure kind, an error type and a reason;
 *   - an evaluated prefix with a "." or ".." segment, a control character, or "!{" that
 *     the template did not hold.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "delivery/partition.h"

static int bad_prefix(const char *p, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)) {
            return 1;
        }
        if (i == len || p[i] == '/') {
            size_t seg = i - start;
            if ((seg == 1 && p[start] == '.') ||
                (seg == 2 && p[start] == '.' && p[start + 1] == '.')) {
                return 1;
            }
            start = i + 1;
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    const char *nl = memchr(in, '\n', size);
    const char *query = "{a:.a, b:(.b|tostring), c:.c.d}";
    size_t query_len = strlen(query);
    const char *rec = in;
    size_t rec_len = size;
    if (nl != NULL) {
        query = in;
        query_len = (size_t)(nl - in);
        rec = nl + 1;
        rec_len = size - query_len - 1;
    }
    struct partition_extractor *x = NULL;
    struct err_info err = {0};
    int rc = partition_extractor_create(query, query_len, "JQ-1.6", &x, &err);
    if (rc != 0) {
        if (rc != SL_E(INVALID_ARGUMENT) || err.message[0] == '\0') {
            abort();
        }
        return 0;
    }
    struct partition_keys keys;
    partition_keys_init(&keys);
    const char *type = NULL;
    rc = partition_keys_extract(x, rec, rec_len, &keys, &type, &err);
    if (rc != 0) {
        if (rc != SL_E(INVALID_INPUT) || keys.query.fail == JQ_FAIL_NONE || type == NULL ||
            strcmp(type, PARTITION_ERROR_EXTRACTION) != 0 || err.message[0] == '\0') {
            abort();
        }
    } else {
        struct buf tmpl, out;
        buf_init(&tmpl);
        buf_init(&out);
        for (size_t i = 0; i < keys.query.n_kv; i++) {
            buf_printf(&tmpl, "%s=!{partitionKeyFromQuery:%s}/", keys.query.kv[i].key,
                       keys.query.kv[i].key);
            /* The value alone as a path level, too. */
            buf_printf(&tmpl, "!{partitionKeyFromQuery:%s}/", keys.query.kv[i].key);
        }
        int tmpl_ok = !bad_prefix((const char *)tmpl.data, tmpl.len) &&
                      strstr((const char *)tmpl.data, "}!{") == NULL;
        type = NULL;
        rc = partition_prefix_expand((const char *)tmpl.data, tmpl.len, &keys, &out, &type, &err);
        if (rc == 0 && tmpl_ok && bad_prefix((const char *)out.data, out.len)) {
            abort();
        }
        if (rc != 0 && rc != SL_E(NOMEM) && (rc != SL_E(INVALID_INPUT) || type == NULL)) {
            abort();
        }
        buf_fini(&tmpl);
        buf_fini(&out);
    }
    partition_keys_fini(&keys);
    partition_extractor_destroy(x);
    return 0;
}
