/* Fuzzes the IAM policy compiler with arbitrary documents (the first byte picks identity or
   resource kind) and evaluates every document that compiles against a fixed request, so
   that patterns, variables and conditions built from any input are matched too. */
#include "iam/policy.h"
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum iam_policy_kind kind = data[0] & 1 ? IAM_POLICY_RESOURCE : IAM_POLICY_IDENTITY;
    struct iam_policy *p = NULL;
    struct iam_policy_error err;
    int rc = iam_policy_compile((const char *)data + 1, size - 1, kind, &p, &err);
    if (rc == 0) {
        const char *res[] = {"arn:aws:s3:::home/carlos/a:b", "*"};
        const char *user[] = {"carlos"}, *ip[] = {"10.1.2.3"}, *tags[] = {"env", "team"},
                   *now[] = {"2026-11-29T01:00:00Z"}, *n[] = {"10"};
        struct iam_context_key keys[] = {{"aws:username", user, 1},
                                         {"aws:SourceIp", ip, 1},
                                         {"aws:TagKeys", tags, 2},
                                         {"aws:CurrentTime", now, 1},
                                         {"s3:max-keys", n, 1}};
        struct iam_request_ctx ctx = {.action = "s3:GetObject",
                                      .resources = res,
                                      .n_resources = 2,
                                      .principal_arn = "arn:aws:iam::111122223333:user/carlos",
                                      .principal_account = "111122223333",
                                      .keys = keys,
                                      .n_keys = 5};
        const struct iam_policy *ps[] = {p};
        struct iam_eval_result r;
        if (kind == IAM_POLICY_RESOURCE)
            iam_evaluate(&ctx, NULL, 0, p, NULL, 0, NULL, 0, &r);
        else
            iam_evaluate(&ctx, ps, 1, NULL, ps, 1, ps, 1, &r);
        char buf[128];
        iam_result_reason(&r, ctx.action, buf, sizeof(buf));
    } else if (p != NULL || err.message[0] == '\0') {
        abort();
    }
    iam_policy_free(p);
    return 0;
}
