/*
 * What the JSON adapters that hand a document to a service function share (api.h): the
 * input defaulted to an object, and the output or error made whole.
 */
#include "http/api.h"

json_t *api_json_input(json_t *input, json_t **hold)
{
    *hold = NULL;
    if (json_is_object(input)) {
        return input;
    }
    *hold = json_object();
    return *hold;
}

int api_json_end(struct api_call *call, int rc, json_t *out, json_t **output)
{
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
