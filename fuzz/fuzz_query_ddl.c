/*
 * Fuzzes Athena's DDL classification and the Hive DDL parser with arbitrary statements:
 * neither may fault, a statement the parser accepts has the kind classification gave it
 * (ALTER TABLE's ADD/DROP aside, which the parser settles) and the names its kind needs,
 * and a refused one leaves nothing allocated.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "query/query_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *sql = xstrndup((const char *)data, size);
    enum query_ddl_kind kind = query__ddl_classify(sql);
    (void)query__ddl_result_ext(sql);
    struct query_ddl_stmt s;
    char err[512];
    if (kind != QUERY_DDL_NONE && query__ddl_parse(sql, &s, err, sizeof(err)) == 0) {
        int alter = kind == QUERY_DDL_ADD_PARTITION || kind == QUERY_DDL_DROP_PARTITION;
        if (!alter && s.kind != kind) {
            abort();
        }
        if ((kind == QUERY_DDL_CREATE_TABLE || kind == QUERY_DDL_DROP_TABLE || alter ||
             kind == QUERY_DDL_MSCK || kind == QUERY_DDL_DESCRIBE) &&
            s.name == NULL) {
            abort();
        }
        if ((kind == QUERY_DDL_EXPLAIN || kind == QUERY_DDL_CREATE_VIEW) &&
            (s.body == NULL || s.body_offset + strlen(s.body) > size)) {
            abort();
        }
        for (size_t i = 0; i < s.n_cols; i++) {
            if (s.cols[i].name == NULL || s.cols[i].type == NULL) {
                abort();
            }
        }
        query__ddl_stmt_fini(&s);
    }
    free(sql);
    return 0;
}
