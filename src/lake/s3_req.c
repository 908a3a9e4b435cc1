/*
 * The S3 adapter's request and response helpers, shared by s3_api.c, s3_body.c and
 * s3_object.c: the request's query parameters and headers, errors, and the XML
 * answers. A leaf: it calls nothing of the files that use it.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/mem.h"
#include "core/text.h"
#include "lake/s3_http.h"

/* ---- XML writing ---- */

void s3__xml_text(struct buf *b, const char *s)
{
    buf_xml_escape(b, s, strlen(s));
}

/* RFC 3986 percent-encoding as S3's encoding-type=url uses: unreserved and '/' kept. */
void s3__url_encode(struct buf *b, const char *s)
{
    pct_encode(b, s, strlen(s), PCT_KEEP_SLASH);
}

void s3__xml_open(struct buf *b, const char *root)
{
    buf_printf(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<%s xmlns=\"%s\">", root, S3_XMLNS);
}

void s3__xml_elem(struct buf *b, const char *name, const char *text)
{
    buf_printf(b, "<%s>", name);
    s3__xml_text(b, text ? text : "");
    buf_printf(b, "</%s>", name);
}

void s3__xml_elem_int(struct buf *b, const char *name, long long v)
{
    buf_printf(b, "<%s>%lld</%s>", name, v, name);
}

void s3__xml_elem_time(struct buf *b, const char *name, int64_t ms)
{
    char t[32];
    clock_format_iso8601(ms, t);
    s3__xml_elem(b, name, t);
}

void s3__xml_etag(struct buf *b, const char *etag)
{
    buf_puts(b, "<ETag>&quot;");
    s3__xml_text(b, etag);
    buf_puts(b, "&quot;</ETag>");
}

void s3__owner(struct s3_req *r, struct buf *b, const char *elem)
{
    uint8_t d[SHA256_LEN];
    char hex[2 * SHA256_LEN + 1];
    /* An unsigned request (a public read) names no account: the owner is the server's. */
    const char *acct =
        r->req->account_id && *r->req->account_id ? r->req->account_id : "000000000000";
    crypto_sha256(acct, strlen(acct), d);
    hex_encode(d, SHA256_LEN, hex);
    buf_printf(b, "<%s><ID>%s</ID><DisplayName>sluice</DisplayName></%s>", elem, hex, elem);
}

int s3__respond_xml(struct s3_req *r, struct buf *b)
{
    if (buf_status(b) < 0) {
        buf_fini(b);
        return err_set(&r->call->err, SL_E(NOMEM), "Out of memory.");
    }
    api_response_header(r->call->resp, "Content-Type", "application/xml");
    buf_fini(&r->call->resp->body);
    r->call->resp->body = *b;
    buf_init(b);
    return 0;
}

/* ---- request helpers ---- */

const char *s3__query(const struct s3_req *r, const char *name)
{
    for (size_t i = 0; i < r->n_params; i++) {
        if (strcmp(r->params[i].name, name) == 0) {
            return r->params[i].value;
        }
    }
    return NULL;
}

const char *s3__header(const struct s3_req *r, const char *name)
{
    return api_request_header(r->req, name);
}

int s3__fail(struct s3_req *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return err_set(&r->call->err, code, "%s", msg);
}

/* Parses a non-negative decimal; -1 when not one. */
long long s3__parse_uint(const char *s)
{
    if (s == NULL || *s == '\0') {
        return -1;
    }
    long long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || v > 100000000000000LL) {
            return -1;
        }
        v = v * 10 + (*p - '0');
    }
    return v;
}

int s3__respond_tagging(struct s3_req *r, const char *tags_json)
{
    json_t *tags = json_loads(tags_json ? tags_json : "{}", 0, NULL);
    struct buf b;
    buf_init(&b);
    s3__xml_open(&b, "Tagging");
    buf_puts(&b, "<TagSet>");
    const char *k;
    json_t *v;
    json_object_foreach(tags, k, v)
    {
        buf_puts(&b, "<Tag>");
        s3__xml_elem(&b, "Key", k);
        s3__xml_elem(&b, "Value", json_string_value(v));
        buf_puts(&b, "</Tag>");
    }
    buf_puts(&b, "</TagSet></Tagging>");
    json_decref(tags);
    return s3__respond_xml(r, &b);
}

/* Subresources this adapter does not implement, answered NotImplemented. */
int s3__unsupported_subresource(const struct s3_req *r)
{
    static const char *const names[] = {"lifecycle",
                                        "website",
                                        "encryption",
                                        "replication",
                                        "logging",
                                        "notification",
                                        "accelerate",
                                        "requestPayment",
                                        "analytics",
                                        "metrics",
                                        "inventory",
                                        "intelligent-tiering",
                                        "restore",
                                        "select",
                                        "torrent"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (s3__query(r, names[i]) != NULL) {
            return 1;
        }
    }
    return 0;
}
