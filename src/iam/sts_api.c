#include "iam/sts_api.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

static int get_caller_identity(struct api_call *call, const struct api_params *params,
                               struct buf *result)
{
    (void)params;
    const struct api_request *req = call->req;
    /* The root user's UserId is its account id; its ARN the account's root. */
    buf_puts(result, "<UserId>");
    buf_xml_escape(result, req->account_id, strlen(req->account_id));
    buf_puts(result, "</UserId><Account>");
    buf_xml_escape(result, req->account_id, strlen(req->account_id));
    buf_puts(result, "</Account><Arn>arn:aws:iam::");
    buf_xml_escape(result, req->account_id, strlen(req->account_id));
    buf_puts(result, ":root</Arn>");
    return buf_status(result);
}

static const struct api_query_op sts_ops[] = {
    {"GetCallerIdentity", get_caller_identity},
};

/* Every description is this one with its own ctx. */
static const struct api_query_service sts_template = {
    .signing_name = "sts",
    .xmlns = "https://sts.amazonaws.com/doc/2011-06-15/",
    .ops = sts_ops,
    .n_ops = sizeof(sts_ops) / sizeof(sts_ops[0]),
};

struct api_query_service *sts_api_create(struct iam *iam)
{
    struct api_query_service *desc = xmalloc(sizeof(*desc));
    *desc = sts_template;
    desc->ctx = iam;
    return desc;
}

void sts_api_destroy(struct api_query_service *desc)
{
    free(desc);
}
