#include "core/err.h"

#include <stdio.h>
#include <string.h>

struct err_entry {
    const char *symbol;
    const char *aws_name;
    int http_status;
};

static const struct err_entry err_table[] = {
#define SL_ERR_ROW(sym, name, status) {#sym, name, status},
    SL_ERROR_MAP(SL_ERR_ROW)
#undef SL_ERR_ROW
};

static const struct err_entry *lookup(int code)
{
    if (!err_is_sluice(code)) {
        return NULL;
    }
    return &err_table[-code - SL_ERR_BASE];
}

int err_is_sluice(int code)
{
    return code <= -SL_ERR_BASE && code > -(int)SL_ERR_LAST_;
}

int err_set(struct err_info *info, int code, const char *fmt, ...)
{
    if (info == NULL) {
        return code;
    }
    info->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(info->message, sizeof(info->message), fmt, ap);
    va_end(ap);
    return code;
}

void err_clear(struct err_info *info)
{
    info->code = 0;
    info->message[0] = '\0';
}

const char *sl_strerror(int code)
{
    const struct err_entry *e = lookup(code);
    if (e != NULL) {
        return e->symbol;
    }
    if (code < 0) {
        return strerror(-code);
    }
    return code == 0 ? "success" : "unknown error";
}

const char *err_aws_name(int code)
{
    const struct err_entry *e = lookup(code);
    return e != NULL ? e->aws_name : "InternalFailure";
}

int err_http_status(int code)
{
    const struct err_entry *e = lookup(code);
    return e != NULL ? e->http_status : 500;
}
