/*
 * The Lambda transform's wire (see lambda.h): the event, the answer, and a small HTTP/1.1
 * client that stands in for Lambda's Invoke. The client speaks just enough HTTP for a
 * local function endpoint: one POST with Content-Length and Connection: close, an answer
 * read to its Content-Length (or to the end of the connection), every wait bounded.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/base64.h"
#include "core/clock.h"
#include "delivery/lambda.h"

#define RESPONSE_MAX (2 * LAMBDA_PAYLOAD_MAX) /* an answer past this is refused */
#define POLL_SLICE_MS 250

size_t lambda_event_record_size(const struct lambda_in *r)
{
    size_t n = BASE64_ENCODED_LEN(r->len) + 96;
    if (r->shard_id != NULL) {
        n += 240 + r->pk_len * 6; /* the metadata, the key escaped at worst */
    }
    return n;
}

void lambda_event_build(struct buf *out, const char *invocation_id, const char *stream_arn,
                        const char *source_arn, const char *region, const struct lambda_in *recs,
                        size_t n)
{
    buf_puts(out, "{\"invocationId\":");
    buf_json_string(out, invocation_id, strlen(invocation_id));
    buf_puts(out, ",\"deliveryStreamArn\":");
    buf_json_string(out, stream_arn, strlen(stream_arn));
    if (source_arn != NULL) {
        buf_puts(out, ",\"sourceKinesisStreamArn\":");
        buf_json_string(out, source_arn, strlen(source_arn));
    }
    buf_puts(out, ",\"region\":");
    buf_json_string(out, region, strlen(region));
    buf_puts(out, ",\"records\":[");
    for (size_t i = 0; i < n; i++) {
        const struct lambda_in *r = &recs[i];
        buf_printf(out, "%s{\"recordId\":\"%zu\",\"approximateArrivalTimestamp\":%lld,\"data\":\"",
                   i > 0 ? "," : "", i, (long long)r->arrival_ms);
        char *b64 = (char *)buf_reserve(out, BASE64_ENCODED_LEN(r->len) + 1);
        if (b64 != NULL) {
            out->len += base64_encode(r->data, r->len, b64);
        }
        buf_putc(out, '"');
        if (r->shard_id != NULL) {
            buf_puts(out, ",\"kinesisRecordMetadata\":{\"shardId\":");
            buf_json_string(out, r->shard_id, strlen(r->shard_id));
            buf_puts(out, ",\"partitionKey\":");
            buf_json_string(out, r->pk != NULL ? r->pk : "", r->pk_len);
            buf_printf(out, ",\"approximateArrivalTimestamp\":%lld,\"sequenceNumber\":",
                       (long long)r->arrival_ms);
            buf_json_string(out, r->seqno, strlen(r->seqno));
            buf_printf(out, ",\"subsequenceNumber\":%u}", r->sub);
        }
        buf_putc(out, '}');
    }
    buf_puts(out, "]}");
}

void lambda_out_fini(struct lambda_out *out, size_t n)
{
    for (size_t i = 0; out != NULL && i < n; i++) {
        free(out[i].data);
        json_decref(out[i].keys);
        memset(&out[i], 0, sizeof(out[i]));
    }
}

/* The index a record id names (decimal, no leading zero), or -1. */
static long record_index(const char *id, size_t n)
{
    if (id == NULL || id[0] == '\0' || (id[0] == '0' && id[1] != '\0') ||
        strspn(id, "0123456789") != strlen(id) || strlen(id) > 12) {
        return -1;
    }
    unsigned long long v = strtoull(id, NULL, 10);
    return v < n ? (long)v : -1;
}

/* Fails the batch: *code and the message. */
static int batch_fail(const char **code, const char *c, struct err_info *err, const char *fmt,
                      const char *arg)
{
    *code = c;
    err_set(err, SL_E(INVALID_INPUT), fmt, arg);
    return -1;
}

/* One answered record into o; 0 or -1 (a JSON processing error, message in *why). */
static int parse_record(json_t *r, struct lambda_out *o, const char **why)
{
    const char *result = json_string_value(json_object_get(r, "result"));
    if (result == NULL) {
        *why = "a record has no result";
        return -1;
    }
    if (strcmp(result, "Dropped") == 0) {
        o->result = LAMBDA_DROPPED;
        return 0;
    }
    if (strcmp(result, "ProcessingFailed") == 0) {
        o->result = LAMBDA_FAILED;
        return 0;
    }
    if (strcmp(result, "Ok") != 0) {
        *why = "a record's result is not one of Ok, Dropped, ProcessingFailed";
        return -1;
    }
    o->result = LAMBDA_OK;
    const char *b64 = json_string_value(json_object_get(r, "data"));
    if (b64 == NULL) {
        *why = "an Ok record has no data";
        return -1;
    }
    size_t blen = strlen(b64);
    o->data = malloc(BASE64_DECODED_MAX(blen) + 1);
    long dlen = o->data != NULL ? base64_decode(b64, blen, o->data) : -1;
    if (dlen < 0) {
        *why = "a record's data is not base64";
        return -1;
    }
    o->len = (size_t)dlen;
    json_t *meta = json_object_get(r, "metadata");
    json_t *keys = json_object_get(meta, "partitionKeys");
    if ((meta != NULL && !json_is_object(meta) && !json_is_null(meta)) ||
        (keys != NULL && !json_is_object(keys) && !json_is_null(keys))) {
        *why = "a record's metadata.partitionKeys is not an object";
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(keys, k, v)
    {
        if (!json_is_string(v)) {
            *why = "a partition key's value is not a string";
            return -1;
        }
    }
    o->keys = json_is_object(keys) ? json_incref(keys) : NULL;
    return 0;
}

int lambda_response_parse(const char *body, size_t len, size_t n, struct lambda_out *out,
                          const char **code, struct err_info *err)
{
    memset(out, 0, n * sizeof(*out));
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, 0, &jerr);
    json_t *recs = json_object_get(doc, "records");
    int rc = 0;
    if (!json_is_array(recs)) {
        rc = batch_fail(code, LAMBDA_E_JSON, err, "%s",
                        doc == NULL ? "The function's answer is not JSON."
                                    : "The function's answer has no records array.");
    }
    char *seen = calloc(n + 1, 1);
    for (size_t i = 0; rc == 0 && i < json_array_size(recs); i++) {
        json_t *r = json_array_get(recs, i);
        const char *id = json_string_value(json_object_get(r, "recordId"));
        if (!json_is_object(r) || id == NULL) {
            rc = batch_fail(code, LAMBDA_E_JSON, err, "%s",
                            "A record of the function's answer has no recordId.");
            break;
        }
        long at = record_index(id, n);
        if (at < 0) {
            rc = batch_fail(code, LAMBDA_E_MISSING_ID, err,
                            "The function returned recordId %s, which was not in the "
                            "invocation: records are missing from its answer.",
                            id);
        } else if (seen[at]) {
            rc = batch_fail(code, LAMBDA_E_DUPLICATED_ID, err,
                            "The function returned recordId %s more than once.", id);
        } else {
            const char *why = NULL;
            seen[at] = 1;
            if (parse_record(r, &out[at], &why) < 0) {
                rc = batch_fail(code, LAMBDA_E_JSON, err, "Bad function answer: %s.", why);
            }
        }
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!seen[i]) {
            char id[24];
            snprintf(id, sizeof(id), "%zu", i);
            rc = batch_fail(code, LAMBDA_E_MISSING_ID, err,
                            "The function's answer has no record with recordId %s.", id);
        }
    }
    free(seen);
    json_decref(doc);
    if (rc < 0) {
        lambda_out_fini(out, n);
    }
    return rc;
}

int lambda_function_name(const char *arn, char *name, size_t size)
{
    const char *p = arn;
    if (strncmp(arn, "arn:", 4) == 0) {
        /* arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>] */
        for (int field = 0; field < 6; field++) {
            p = strchr(p, ':');
            if (p == NULL) {
                return -1;
            }
            p++;
        }
        if (strncmp(arn + 4, "aws", 3) != 0 || strstr(arn, ":lambda:") == NULL ||
            strncmp(p - 9, "function:", 9) != 0) {
            return -1;
        }
    }
    size_t len = strcspn(p, ":");
    if (len == 0 || len >= size) {
        return -1;
    }
    memcpy(name, p, len);
    name[len] = '\0';
    return 0;
}

/* ---- the HTTP client ---- */

/* Splits http://host[:port][/path]; 0 or -1. */
static int url_split(const char *url, char *host, size_t hsize, char *port, size_t psize,
                     const char **path)
{
    if (strncmp(url, "http://", 7) != 0) {
        return -1;
    }
    const char *h = url + 7;
    const char *slash = strchr(h, '/');
    *path = slash != NULL ? slash : "/";
    size_t hp_len = slash != NULL ? (size_t)(slash - h) : strlen(h);
    const char *colon = memchr(h, ':', hp_len);
    size_t hlen = colon != NULL ? (size_t)(colon - h) : hp_len;
    size_t plen = colon != NULL ? hp_len - hlen - 1 : 2;
    if (hlen == 0 || hlen >= hsize || plen == 0 || plen >= psize) {
        return -1;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    if (colon != NULL) {
        memcpy(port, colon + 1, plen);
        port[plen] = '\0';
    } else {
        snprintf(port, psize, "80");
    }
    return 0;
}

/* Waits for events on fd, in slices, until the deadline or cancel. 1 ready, 0 timeout,
   -1 cancelled. */
static int wait_fd(int fd, short events, int64_t deadline_ns, int (*cancel)(void *), void *arg)
{
    for (;;) {
        int64_t left_ms = (deadline_ns - clock_mono_ns()) / 1000000;
        if (left_ms <= 0) {
            return 0;
        }
        if (cancel != NULL && cancel(arg)) {
            return -1;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int rc = poll(&p, 1, (int)(left_ms < POLL_SLICE_MS ? left_ms : POLL_SLICE_MS));
        if (rc > 0) {
            return 1;
        }
        if (rc < 0 && errno != EINTR) {
            return 1; /* let the I/O call report it */
        }
    }
}

/* Connects to host:port (non-blocking); the fd or -1 with err. */
static int dial(const char *host, const char *port, int64_t deadline_ns, int (*cancel)(void *),
                void *arg, struct err_info *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int grc = getaddrinfo(host, port, &hints, &res);
    if (grc != 0) {
        err_set(err, SL_E(UNAVAILABLE), "cannot resolve %s: %s", host, gai_strerror(grc));
        return -1;
    }
    int fd = -1;
    int why = ECONNREFUSED;
    for (struct addrinfo *a = res; a != NULL && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            why = errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            break;
        }
        why = errno;
        if (why == EINPROGRESS) {
            int w = wait_fd(fd, POLLOUT, deadline_ns, cancel, arg);
            socklen_t sl = sizeof(why);
            if (w == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &why, &sl) == 0 && why == 0) {
                break;
            }
            why = w == 0 ? ETIMEDOUT : w < 0 ? ECANCELED : why;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0 && why == ECANCELED) {
        err_set(err, SL_E(UNAVAILABLE), "cancelled while connecting to %s:%s", host, port);
    } else if (fd < 0) {
        err_set(err, SL_E(UNAVAILABLE), "cannot connect to %s:%s: %s", host, port, strerror(why));
    }
    return fd;
}

/* Parses the head of an answer in resp: *status, *body_at, *content_length (-1 none).
   1 parsed, 0 incomplete, -1 malformed. */
static int parse_head(const struct buf *resp, int *status, size_t *body_at, long long *clen)
{
    const char *s = (const char *)resp->data;
    const char *end = resp->len > 0 ? memmem(s, resp->len, "\r\n\r\n", 4) : NULL;
    if (end == NULL) {
        return 0;
    }
    int major, minor, code;
    if (sscanf(s, "HTTP/%d.%d %d", &major, &minor, &code) != 3 || code < 100 || code > 599) {
        return -1;
    }
    *status = code;
    *body_at = (size_t)(end - s) + 4;
    *clen = -1;
    for (const char *line = strstr(s, "\r\n") + 2; line < end; line = strstr(line, "\r\n") + 2) {
        if (strncasecmp(line, "Content-Length:", 15) == 0) {
            *clen = strtoll(line + 15, NULL, 10);
        } else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0) {
            return -1; /* chunked answers are not spoken here */
        }
    }
    return 1;
}

int lambda_http_post(const char *url, const char *body, size_t len, int64_t timeout_ms,
                     int (*cancel)(void *), void *cancel_arg, int *status, struct buf *resp,
                     struct err_info *err)
{
    char host[256], port[16];
    const char *path;
    if (url_split(url, host, sizeof(host), port, sizeof(port), &path) < 0) {
        err_set(err, SL_E(INVALID_ARGUMENT), "%s is not an http://host[:port]/path URL", url);
        return -1;
    }
    int64_t deadline = clock_mono_ns() + timeout_ms * 1000000;
    int fd = dial(host, port, deadline, cancel, cancel_arg, err);
    if (fd < 0) {
        return -1;
    }
    struct buf req;
    buf_init(&req);
    buf_printf(&req,
               "POST %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: application/json\r\n"
               "Content-Length: %zu\r\nConnection: close\r\n\r\n",
               path, host, port, len);
    buf_append(&req, body, len);
    int rc = buf_status(&req) < 0 ? err_set(err, SL_E(NOMEM), "out of memory") : 0;
    for (size_t sent = 0; rc == 0 && sent < req.len;) {
        ssize_t w = send(fd, req.data + sent, req.len - sent, MSG_NOSIGNAL);
        if (w > 0) {
            sent += (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            int ready = wait_fd(fd, POLLOUT, deadline, cancel, cancel_arg);
            if (ready <= 0) {
                rc = err_set(err, SL_E(UNAVAILABLE), "%s sending the invocation",
                             ready == 0 ? "timed out" : "cancelled");
            }
        } else {
            rc = err_set(err, SL_E(UNAVAILABLE), "sending the invocation failed: %s",
                         strerror(errno));
        }
    }
    buf_fini(&req);
    buf_reset(resp);
    size_t body_at = 0;
    long long clen = -1;
    int head = 0;
    while (rc == 0) {
        if (head == 1 && clen >= 0 && resp->len >= body_at + (size_t)clen) {
            break;
        }
        int ready = wait_fd(fd, POLLIN, deadline, cancel, cancel_arg);
        if (ready <= 0) {
            rc = err_set(err, SL_E(UNAVAILABLE), "%s waiting for the function's answer",
                         ready == 0 ? "timed out" : "cancelled");
            break;
        }
        uint8_t *at = buf_reserve(resp, 65536);
        if (at == NULL || resp->len > RESPONSE_MAX) {
            rc = err_set(err, SL_E(UNAVAILABLE), "the function's answer is too large");
            break;
        }
        ssize_t r = recv(fd, at, 65535, 0); /* room for the NUL */
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            continue;
        }
        if (r <= 0) {
            if (head == 1 && clen < 0) {
                break; /* the answer ends with the connection */
            }
            rc = err_set(err, SL_E(UNAVAILABLE),
                         "the connection closed before the answer "
                         "was complete");
            break;
        }
        resp->len += (size_t)r;
        resp->data[resp->len] = 0;
        if (head == 0) {
            head = parse_head(resp, status, &body_at, &clen);
            if (head < 0) {
                rc = err_set(err, SL_E(UNAVAILABLE), "the function's answer is not HTTP/1.1");
            }
        }
    }
    close(fd);
    if (rc < 0) {
        return -1;
    }
    /* Keep the body only. */
    size_t blen = clen >= 0 ? (size_t)clen : resp->len - body_at;
    memmove(resp->data, resp->data + body_at, blen);
    resp->len = blen;
    resp->data[blen] = 0;
    return 0;
}
