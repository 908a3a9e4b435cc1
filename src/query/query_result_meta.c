/*
 * The metadata object Athena writes next to a query's result: <id>.csv.metadata beside a
 * SELECT's CSV, <id>.txt.metadata beside a DDL statement's text, <id>.metadata beside a
 * CTAS, INSERT INTO or UNLOAD manifest. It holds the result's columns as ColumnInfo
 * describes them, in protocol buffers' wire format (AWS documents it only as binary; the
 * layout below is that of objects Athena wrote, as public JDBC drivers read them):
 *
 *   field 1  string   the engine's query id, yyyyMMdd_HHmmss_NNNNN_xxxxx (Trino's form)
 *   field 4  message  one per column, in order:
 *              1  string  CatalogName ("hive")
 *              2  string  SchemaName  (left out when empty, as Athena leaves it)
 *              3  string  TableName   (likewise)
 *              4  string  Name
 *              5  string  Label
 *              6  string  Type        (Athena's name: varchar, bigint, array, ...)
 *              7  varint  Precision   \
 *              8  varint  Scale        } left out for array, map and row columns
 *             10  varint  CaseSensitive (0/1)
 *              9  varint  Nullable: 1 NOT_NULL, 2 NULLABLE, 3 UNKNOWN (always UNKNOWN)
 *
 * Fields are written in the order Athena writes them: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/mem.h"
#include "lake/lake.h"
#include "query/query_int.h"

static void put_varint(struct buf *b, uint64_t v)
{
    while (v >= 0x80) {
        buf_putc(b, (char)((v & 0x7f) | 0x80));
        v >>= 7;
    }
    buf_putc(b, (char)v);
}

static void put_bytes(struct buf *b, unsigned field, const void *data, size_t len)
{
    put_varint(b, (uint64_t)field << 3 | 2);
    put_varint(b, len);
    buf_append(b, data, len);
}

static void put_string(struct buf *b, unsigned field, const char *s)
{
    put_bytes(b, field, s, strlen(s));
}

static void put_int(struct buf *b, unsigned field, int64_t v)
{
    put_varint(b, (uint64_t)field << 3);
    put_varint(b, (uint64_t)v);
}

/* Trino's query id for execution id, from the time it finished and the id's hash. */
static void engine_query_id(const char *id, char out[64])
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const char *p = id; *p != '\0'; p++) {
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    }
    time_t now = (time_t)(clock_now_ms() / 1000);
    struct tm tm;
    gmtime_r(&now, &tm);
    char letters[6];
    for (int i = 0; i < 5; i++) {
        letters[i] = (char)('a' + (h >> (20 + 5 * i)) % 26);
    }
    letters[5] = '\0';
    snprintf(out, 64, "%04d%02d%02d_%02d%02d%02d_%05u_%s", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(h % 100000), letters);
}

static void put_column(struct buf *b, json_t *c)
{
    const char *name = json_string_value(json_object_get(c, "Name"));
    const char *type = json_string_value(json_object_get(c, "Type"));
    name = name != NULL ? name : "";
    type = type != NULL ? type : "";
    struct buf col;
    buf_init(&col);
    put_string(&col, 1, "hive");
    put_string(&col, 4, name);
    put_string(&col, 5, name);
    put_string(&col, 6, type);
    int structured = strcmp(type, "array") == 0 || strcmp(type, "map") == 0 ||
                     strcmp(type, "row") == 0;
    if (!structured) {
        put_int(&col, 7, json_integer_value(json_object_get(c, "Precision")));
        put_int(&col, 8, json_integer_value(json_object_get(c, "Scale")));
    }
    put_int(&col, 9, 3);
    if (!structured) {
        put_int(&col, 10, strcmp(type, "varchar") == 0);
    }
    put_bytes(b, 4, col.data != NULL ? col.data : (const uint8_t *)"", col.len);
    buf_fini(&col);
}

int query__result_metadata_put(struct query_service *svc, const char *url, const char *id,
                               const char *columns_json)
{
    char bucket[LAKE_BUCKET_NAME_MAX + 1];
    const char *key;
    if (query__split_s3(url, bucket, sizeof(bucket), &key) < 0 || key[0] == '\0') {
        return -1;
    }
    json_t *cols = json_loads(columns_json != NULL ? columns_json : "[]", 0, NULL);
    struct buf b;
    buf_init(&b);
    char qid[64];
    engine_query_id(id, qid);
    put_string(&b, 1, qid);
    size_t i;
    json_t *c;
    json_array_foreach(cols, i, c)
    {
        put_column(&b, c);
    }
    json_decref(cols);
    struct err_info e = {0};
    struct lake_put_opts po = {.content_type = "application/octet-stream"};
    int rc = buf_status(&b) == 0 &&
                     lake_object_put(svc->lake, bucket, key, (const char *)b.data, b.len, &po,
                                     NULL, &e) == 0
                 ? 0
                 : -1;
    buf_fini(&b);
    return rc;
}
