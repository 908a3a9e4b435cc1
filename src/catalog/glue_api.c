/*
 * Glue's operations as api_json_op entries. Each operation takes the request's region
 * and account as the scope and hands the input document to the service operation of
 * the same name (catalog_int.h); the output is the service's document.
 */
#include "catalog/glue_api.h"

#include <stdlib.h>

#include "catalog/catalog_int.h"
#include "core/mem.h"

static int run(struct api_call *call, json_t *input, json_t **output, catalog_op_fn fn)
{
    struct catalog *cat = call->service_ctx;
    const struct api_request *req = call->req;
    struct catalog_scope sc = {
        .region = req != NULL && req->region != NULL && req->region[0] != '\0'
                      ? req->region
                      : cat->default_region,
        .account_id = req != NULL && req->account_id != NULL && req->account_id[0] != '\0'
                          ? req->account_id
                          : cat->default_account,
    };
    json_t *hold, *out = NULL;
    int rc = fn(cat, &sc, api_json_input(input, &hold), &out, &call->err);
    json_decref(hold);
    return api_json_end(call, rc, out, output);
}

#define GLUE_OP_FN(name)                                                                           \
    static int op_##name(struct api_call *call, json_t *input, json_t **output)                    \
    {                                                                                              \
        return run(call, input, output, catalog__op_##name);                                       \
    }
CATALOG_OPS(GLUE_OP_FN)
#undef GLUE_OP_FN

#define GLUE_OP_ENTRY(name) {#name, op_##name, NULL},
static const struct api_json_op glue_ops[] = {CATALOG_OPS(GLUE_OP_ENTRY)};
#undef GLUE_OP_ENTRY

/* Every description is this one with its own ctx, the catalog. */
static const struct api_json_service glue_template = {
    .signing_name = "glue",
    .target_prefix = "AWSGlue",
    .json_version = "1.1",
    .ops = glue_ops,
    .n_ops = sizeof(glue_ops) / sizeof(glue_ops[0]),
};

struct api_json_service *glue_api_create(struct catalog *cat)
{
    struct api_json_service *svc = xmalloc(sizeof(*svc));
    *svc = glue_template;
    svc->ctx = cat;
    return svc;
}

void glue_api_destroy(struct api_json_service *svc)
{
    free(svc);
}
