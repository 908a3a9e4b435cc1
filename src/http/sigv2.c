#include "http/sigv2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base64.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/mem.h"
#include "core/text.h"

/* Query parameters that name a sub-resource and so are signed (botocore's list). */
static const char *const signed_subresources[] = {
    "accelerate", "acl", "analytics", "cors", "defaultObjectAcl", "delete", "inventory",
    "lifecycle", "location", "logging", "metrics", "notification", "object-lock", "partNumber",
    "policy", "replication", "requestPayment", "response-cache-control",
    "response-content-disposition", "response-content-encoding", "response-content-language",
    "response-content-type", "response-expires", "restore", "select", "select-type",
    "storageClass", "tagging", "torrent", "uploadId", "uploads", "versionId", "versioning",
    "versions", "website",
};

/* The decoded value of parameter name in query, or NULL; the caller frees it. */
static char *query_param(const char *query, const char *name)
{
    size_t name_len = strlen(name);
    const char *p = query;
    while (*p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > name_len && strncmp(p, name, name_len) == 0 && p[name_len] == '=') {
            return percent_decode(p + name_len + 1, len - name_len - 1, 0);
        }
        p += len + (end ? 1 : 0);
    }
    return NULL;
}

int sigv2_query_present(const char *query)
{
    char *key = query_param(query, "AWSAccessKeyId");
    char *sig = query_param(query, "Signature");
    int present = key != NULL && sig != NULL;
    free(key);
    free(sig);
    return present;
}

int sigv2_parse(const char *query, struct sigv2_query *out, struct err_info *err)
{
    memset(out, 0, sizeof(*out));
    char *key = query_param(query, "AWSAccessKeyId");
    char *sig = query_param(query, "Signature");
    char *expires = query_param(query, "Expires");
    int rc = 0;
    char *end = NULL;
    long long exp = expires ? strtoll(expires, &end, 10) : 0;
    if (key == NULL || sig == NULL || expires == NULL || *expires == '\0' || *end != '\0' ||
        strlen(key) >= sizeof(out->access_key_id) || strlen(sig) >= sizeof(out->signature)) {
        rc = err_set(err, SL_E(AUTH_MALFORMED),
                     "Query-string authentication requires the Signature, Expires and "
                     "AWSAccessKeyId parameters");
    } else {
        snprintf(out->access_key_id, sizeof(out->access_key_id), "%s", key);
        snprintf(out->signature, sizeof(out->signature), "%s", sig);
        out->expires_s = exp;
    }
    free(key);
    free(sig);
    free(expires);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends the signed sub-resources of query, sorted, as "?a&b=v". */
static void append_subresources(struct buf *b, const char *query)
{
    char *items[64];
    size_t n = 0;
    const char *p = query;
    while (*p && n < 64) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t name_len = eq ? (size_t)(eq - p) : len;
        for (size_t i = 0; i < sizeof(signed_subresources) / sizeof(signed_subresources[0]);
             i++) {
            if (strlen(signed_subresources[i]) == name_len &&
                strncmp(p, signed_subresources[i], name_len) == 0) {
                char *value = eq ? percent_decode(eq + 1, len - name_len - 1, 0) : NULL;
                items[n++] = value ? xasprintf("%.*s=%s", (int)name_len, p, value)
                                   : xasprintf("%.*s", (int)name_len, p);
                free(value);
                break;
            }
        }
        p += len + (end ? 1 : 0);
    }
    qsort(items, n, sizeof(items[0]), cmp_str);
    for (size_t i = 0; i < n; i++) {
        buf_putc(b, i == 0 ? '?' : '&');
        buf_puts(b, items[i]);
        free(items[i]);
    }
}

static const char *header(const struct sigv4_header *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(h[i].name, name) == 0) {
            return h[i].value;
        }
    }
    return "";
}

int sigv2_verify(const char *method, const char *bucket, const char *path, const char *query,
                 const struct sigv4_header *headers, size_t n_headers, const struct sigv2_query *q,
                 const char *secret, int64_t now_ms, struct err_info *err)
{
    if (now_ms / 1000 > q->expires_s) {
        return err_set(err, SL_E(AUTH_EXPIRED), "Request has expired");
    }
    struct buf sts;
    buf_init(&sts);
    buf_printf(&sts, "%s\n%s\n%s\n%lld\n", method, header(headers, n_headers, "Content-MD5"),
               header(headers, n_headers, "Content-Type"), (long long)q->expires_s);
    /* x-amz-* headers, lower-cased and sorted; repeated ones joined with ','. */
    char **amz = xcalloc(n_headers + 1, sizeof(char *));
    size_t n_amz = 0;
    for (size_t i = 0; i < n_headers; i++) {
        if (strncasecmp(headers[i].name, "x-amz-", 6) == 0) {
            char *line = xasprintf("%s:%s", headers[i].name, headers[i].value);
            for (char *c = line; *c != ':'; c++) {
                *c = (char)((*c >= 'A' && *c <= 'Z') ? *c - 'A' + 'a' : *c);
            }
            amz[n_amz++] = line;
        }
    }
    qsort(amz, n_amz, sizeof(char *), cmp_str);
    for (size_t i = 0; i < n_amz; i++) {
        buf_puts(&sts, amz[i]);
        buf_putc(&sts, '\n');
        free(amz[i]);
    }
    free(amz);
    if (bucket != NULL) {
        buf_putc(&sts, '/');
        buf_puts(&sts, bucket);
    }
    buf_puts(&sts, path[0] != '\0' ? path : "/");
    append_subresources(&sts, query);
    int rc = buf_status(&sts);
    if (rc == 0) {
        uint8_t mac[SHA1_LEN];
        crypto_hmac_sha1(secret, strlen(secret), sts.data, sts.len, mac);
        char expect[BASE64_ENCODED_LEN(SHA1_LEN) + 1];
        expect[base64_encode(mac, SHA1_LEN, expect)] = '\0';
        if (strlen(expect) != strlen(q->signature) ||
            !crypto_equal(expect, q->signature, strlen(expect))) {
            rc = err_set(err, SL_E(AUTH_BAD_SIGNATURE),
                         "The request signature we calculated does not match the signature "
                         "you provided. Check your key and signing method.");
        }
    }
    buf_fini(&sts);
    return rc;
}
