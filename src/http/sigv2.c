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

/*
 * The decoded value of the first parameter named name (compared after decoding, the
 * rule of core/text.h) in *value_out, which the caller frees; NULL when absent.
 * Returns 0 or SL_E(NOMEM).
 */
static int query_param(const char *query, const char *name, char **value_out)
{
    *value_out = NULL;
    size_t name_len = strlen(name), q_len = strlen(query), pos = 0;
    struct query_field f;
    while (query_next(query, q_len, &pos, &f)) {
        if (f.name_len < name_len) {
            continue; /* decoding never lengthens */
        }
        size_t n = 0;
        char *decoded = pct_decode_dup(f.name, f.name_len, PCT_QUERY, &n);
        if (decoded == NULL) {
            return SL_E(NOMEM);
        }
        int match = n == name_len && memcmp(decoded, name, n) == 0;
        free(decoded);
        if (match) {
            *value_out = pct_decode_dup(f.value, f.value_len, PCT_QUERY, NULL);
            return *value_out != NULL ? 0 : SL_E(NOMEM);
        }
    }
    return 0;
}

int sigv2_query_present(const char *query)
{
    char *key = NULL, *sig = NULL;
    int rc = query_param(query, "AWSAccessKeyId", &key);
    if (rc == 0) {
        rc = query_param(query, "Signature", &sig);
    }
    /* Out of memory counts as present: sigv2_parse then reports it. */
    int present = rc < 0 || (key != NULL && sig != NULL);
    free(key);
    free(sig);
    return present;
}

int sigv2_parse(const char *query, struct sigv2_query *out, struct err_info *err)
{
    memset(out, 0, sizeof(*out));
    char *key = NULL, *sig = NULL, *expires = NULL;
    int rc = query_param(query, "AWSAccessKeyId", &key);
    if (rc == 0) {
        rc = query_param(query, "Signature", &sig);
    }
    if (rc == 0) {
        rc = query_param(query, "Expires", &expires);
    }
    char *end = NULL;
    long long exp = expires ? strtoll(expires, &end, 10) : 0;
    if (rc < 0) {
        err_set(err, rc, "out of memory");
    } else if (key == NULL || sig == NULL || expires == NULL || *expires == '\0' ||
               *end != '\0' || strlen(key) >= sizeof(out->access_key_id) ||
               strlen(sig) >= sizeof(out->signature)) {
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

/* One signed sub-resource: its decoded name and "name[=value]" as signed. */
struct subresource {
    char *name;
    char *text;
    size_t idx; /* position in the query, so equal names keep their order */
};

static int cmp_subresource(const void *a, const void *b)
{
    const struct subresource *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

static int is_signed_subresource(const char *name)
{
    for (size_t i = 0; i < sizeof(signed_subresources) / sizeof(signed_subresources[0]); i++) {
        if (strcmp(signed_subresources[i], name) == 0) {
            return 1;
        }
    }
    return 0;
}

/*
 * Appends the signed sub-resources of query as "?a&b=v", sorted by name as botocore
 * does. Names and values are decoded by the rule the operation reads them with
 * (core/text.h), so "%61cl" is the signed "acl". Returns 0 or SL_E(NOMEM).
 */
static int append_subresources(struct buf *b, const char *query)
{
    struct subresource *items = NULL;
    size_t n = 0, cap = 0, pos = 0, q_len = strlen(query);
    struct query_field f;
    int rc = 0;
    while (rc == 0 && query_next(query, q_len, &pos, &f)) {
        char *name = pct_decode_dup(f.name, f.name_len, PCT_QUERY, NULL);
        if (name == NULL) {
            rc = SL_E(NOMEM);
            break;
        }
        if (!is_signed_subresource(name)) {
            free(name);
            continue;
        }
        if (n == cap) {
            size_t new_cap = cap ? cap * 2 : 8;
            struct subresource *grown = try_realloc(items, new_cap * sizeof(*items));
            if (grown == NULL) {
                free(name);
                rc = SL_E(NOMEM);
                break;
            }
            items = grown;
            cap = new_cap;
        }
        struct buf text;
        buf_init(&text);
        buf_puts(&text, name);
        if (f.has_value) {
            buf_putc(&text, '=');
            pct_decode(&text, f.value, f.value_len, PCT_QUERY);
        }
        if (buf_status(&text) < 0) {
            buf_fini(&text);
            free(name);
            rc = SL_E(NOMEM);
            break;
        }
        items[n].name = name;
        items[n].text = (char *)buf_steal(&text, NULL);
        items[n].idx = n;
        n++;
    }
    if (rc == 0 && n > 0) {
        qsort(items, n, sizeof(items[0]), cmp_subresource);
    }
    for (size_t i = 0; i < n; i++) {
        if (rc == 0) {
            buf_putc(b, i == 0 ? '?' : '&');
            buf_puts(b, items[i].text);
        }
        free(items[i].name);
        free(items[i].text);
    }
    free(items);
    return rc;
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
    /* x-amz-* headers, lower-cased and sorted. Their sizes are the client's: the
       may-fail allocator, and out of memory is an error reply. */
    int rc = 0;
    char **amz = try_malloc((n_headers + 1) * sizeof(char *));
    size_t n_amz = 0;
    if (amz == NULL) {
        rc = SL_E(NOMEM);
    }
    for (size_t i = 0; rc == 0 && i < n_headers; i++) {
        if (strncasecmp(headers[i].name, "x-amz-", 6) == 0) {
            struct buf line;
            buf_init(&line);
            buf_printf(&line, "%s:%s", headers[i].name, headers[i].value);
            if (buf_status(&line) < 0) {
                buf_fini(&line);
                rc = SL_E(NOMEM);
                break;
            }
            char *text = (char *)buf_steal(&line, NULL);
            for (char *c = text; *c != ':'; c++) {
                *c = (char)((*c >= 'A' && *c <= 'Z') ? *c - 'A' + 'a' : *c);
            }
            amz[n_amz++] = text;
        }
    }
    if (rc == 0) {
        qsort(amz, n_amz, sizeof(char *), cmp_str);
    }
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
    if (rc == 0) {
        rc = append_subresources(&sts, query);
    }
    if (rc == 0) {
        rc = buf_status(&sts);
    }
    if (rc < 0) {
        err_set(err, rc, "out of memory");
    }
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
