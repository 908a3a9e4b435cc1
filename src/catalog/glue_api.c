/*
 * Glue's operations as api_json_op entries. Each operation takes the request's region
 * and account as the scope and hands the input document to the service operation of
 * the same name (catalog_int.h); the output is the service's document.
 */
#include "catalog/glue_api.h"

#include <stdlib.h>

#include "catalog/catalog_int.h"
#include "core/mem.h"

/* The service struct must outlive the registry: one per catalog, owned by it. */
struct glue_api {
    struct catalog *cat;
    struct api_json_service svc;
};

static int run(struct api_call *call, json_t *input, json_t **output, catalog_op_fn fn)
{
    struct glue_api *g = call->service_ctx;
    const struct api_request *req = call->req;
    struct catalog_scope sc = {
        .region = req != NULL && req->region != NULL && req->region[0] != '\0'
                      ? req->region
                      : g->cat->default_region,
        .account_id = req != NULL && req->account_id != NULL && req->account_id[0] != '\0'
                          ? req->account_id
                          : g->cat->default_account,
    };
    json_t *empty = NULL;
    if (!json_is_object(input)) {
        empty = json_object();
        input = empty;
    }
    json_t *out = NULL;
    int rc = fn(g->cat, &sc, input, &out, &call->err);
    json_decref(empty);
    if (rc < 0) {
        json_decref(out);
        if (call->err.code == 0) {
            err_set(&call->err, rc, "%s", sl_strerror(rc));
        }
        return rc;
    }
    *output = out != NULL ? out : json_object();
    return 0;
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

/* The adapter lives as long as its catalog (catalog_close frees it). */
static struct glue_api *adapter_for(struct catalog *cat)
{
    if (cat->adapter != NULL) {
        return cat->adapter;
    }
    struct glue_api *g = xcalloc(1, sizeof(*g));
    g->cat = cat;
    g->svc.signing_name = "glue";
    g->svc.target_prefix = "AWSGlue";
    g->svc.json_version = "1.1";
    g->svc.ops = glue_ops;
    g->svc.n_ops = sizeof(glue_ops) / sizeof(glue_ops[0]);
    g->svc.ctx = g;
    cat->adapter = g;
    cat->adapter_free = free;
    return g;
}

const struct api_json_service *glue_api_service(struct catalog *cat)
{
    return &adapter_for(cat)->svc;
}

int glue_api_register(struct catalog *cat, struct api_registry *reg)
{
    api_registry_add_json(reg, glue_api_service(cat));
    return 0;
}
