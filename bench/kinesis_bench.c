/*
 * Kinesis benchmark client: drives any Kinesis endpoint (sluice, kinesalite, AWS) over
 * raw HTTP/1.1 keep-alive sockets, with SigV4-signed awsJson1.1 requests, and prints
 * figures. It never passes or fails on time.
 *
 * Modes:
 *   create    CreateStream with --shards, then waits for ACTIVE; with --kms-key KEY then
 *             StartStreamEncryption under KEY (records stored encrypted) and waits again.
 *   put       --connections threads, one socket each, send one pre-built PutRecords body
 *             (--records-per-batch records of --record-bytes random bytes, random
 *             partition keys so they spread over the shards; with --lab-events the
 *             seed lab's JSON events instead) back to back for --seconds;
 *             each response must be 200 with FailedRecordCount 0.
 *   put-rate  the same at a fixed total --rate records/s, for latency below the peak.
 *   drain     ListShards, a TRIM_HORIZON iterator per shard, then GetRecords (Limit
 *             10000) until every shard is caught up (or --seconds passes).
 *   put-churn put, while one more connection creates and deletes other streams (of
 *             --shards shards) back to back: what the control plane costs the record
 *             path. Reports the put figures and the create/delete pairs completed.
 *
 * Output: human-readable lines, then one "RESULT key=value ..." line that bench/run.sh
 * reads. MB are 10^6 bytes of record data (not of JSON or base64).
 */
#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core/base64.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/jsonscan.h"
#include "core/mem.h"
#include "http/sigv4.h"

#define TARGET_PREFIX "Kinesis_20131202."
#define RESIGN_AFTER_MS (60 * 1000)

enum mode { MODE_PUT, MODE_PUT_RATE, MODE_DRAIN, MODE_CREATE, MODE_PUT_CHURN };

struct opts {
    char host[256];
    int port;
    char host_header[300]; /* "host:port" as sent and signed */
    const char *stream;
    int connections;
    double seconds;
    int records_per_batch;
    int record_bytes;
    int lab_events; /* --lab-events: records are the seed lab's JSON events */
    const char *kms_key; /* --kms-key: create encrypts the stream under this key */
    enum mode mode;
    double rate; /* put-rate: total records/s */
    int shards;  /* create */
    const char *access_key;
    const char *secret_key;
    const char *region;
};

/* ---- one HTTP/1.1 connection ---- */

struct conn {
    const struct opts *o;
    int fd;          /* -1 when closed */
    struct buf in;   /* bytes read and not yet consumed */
    struct buf head; /* request head being built */
    /* cached signature of the put body, renewed every minute */
    char auth_date[17];
    int64_t auth_signed_ms;
    struct buf auth;
};

static int conn_connect(struct conn *c)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    char port[16];
    snprintf(port, sizeof(port), "%d", c->o->port);
    if (getaddrinfo(c->o->host, port, &hints, &res) != 0 || res == NULL) {
        return -1;
    }
    int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->fd = fd;
    buf_reset(&c->in);
    return 0;
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

static void conn_init(struct conn *c, const struct opts *o)
{
    memset(c, 0, sizeof(*c));
    c->o = o;
    c->fd = -1;
    buf_init(&c->in);
    buf_init(&c->head);
    buf_init(&c->auth);
}

static void conn_fini(struct conn *c)
{
    conn_close(c);
    buf_fini(&c->in);
    buf_fini(&c->head);
    buf_fini(&c->auth);
}

/* Writes all of head then body. */
static int write_all(int fd, const void *head, size_t head_len, const void *body, size_t body_len)
{
    struct iovec iov[2] = {{(void *)head, head_len}, {(void *)body, body_len}};
    int n_iov = 2;
    struct iovec *v = iov;
    while (n_iov > 0) {
        ssize_t n = writev(fd, v, n_iov);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        while (n_iov > 0 && (size_t)n >= v->iov_len) {
            n -= (ssize_t)v->iov_len;
            v++;
            n_iov--;
        }
        if (n_iov > 0) {
            v->iov_base = (char *)v->iov_base + n;
            v->iov_len -= (size_t)n;
        }
    }
    return 0;
}

/* Reads more bytes into c->in; -1 on error or end of stream. */
static int read_more(struct conn *c)
{
    uint8_t *p = buf_reserve(&c->in, 256 * 1024);
    if (p == NULL) {
        return -1;
    }
    ssize_t n;
    do {
        n = read(c->fd, p, 256 * 1024);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        return -1;
    }
    c->in.len += (size_t)n;
    c->in.data[c->in.len] = '\0';
    return 0;
}

/* Case-insensitive search for header name in the response head [head, head_end). */
static const char *find_header(const char *head, const char *head_end, const char *name)
{
    size_t name_len = strlen(name);
    const char *p = strstr(head, "\r\n");
    while (p != NULL && p < head_end) {
        p += 2;
        if (strncasecmp(p, name, name_len) == 0 && p[name_len] == ':') {
            p += name_len + 1;
            while (*p == ' ') {
                p++;
            }
            return p;
        }
        p = strstr(p, "\r\n");
    }
    return NULL;
}

/* Reads one response: status and body (de-chunked) into body. Returns 0 or -1. */
static int read_response(struct conn *c, int *status, struct buf *body)
{
    char *end;
    while ((end = c->in.data != NULL ? strstr((char *)c->in.data, "\r\n\r\n") : NULL) == NULL) {
        if (read_more(c) < 0) {
            return -1;
        }
    }
    size_t head_len = (size_t)(end - (char *)c->in.data) + 4;
    const char *head = (const char *)c->in.data;
    if (sscanf(head, "HTTP/1.%*d %d", status) != 1) {
        return -1;
    }
    const char *cl = find_header(head, end, "Content-Length");
    const char *te = find_header(head, end, "Transfer-Encoding");
    const char *connection = find_header(head, end, "Connection");
    int close_after = connection != NULL && strncasecmp(connection, "close", 5) == 0;
    buf_reset(body);
    if (te != NULL && strncasecmp(te, "chunked", 7) == 0) {
        size_t pos = head_len;
        for (;;) {
            char *line_end;
            while ((line_end = strstr((char *)c->in.data + pos, "\r\n")) == NULL) {
                if (read_more(c) < 0) {
                    return -1;
                }
            }
            size_t chunk = strtoul((char *)c->in.data + pos, NULL, 16);
            pos = (size_t)(line_end - (char *)c->in.data) + 2;
            while (c->in.len < pos + chunk + 2) {
                if (read_more(c) < 0) {
                    return -1;
                }
            }
            buf_append(body, c->in.data + pos, chunk);
            pos += chunk + 2;
            if (chunk == 0) {
                break;
            }
        }
        memmove(c->in.data, c->in.data + pos, c->in.len - pos);
        c->in.len -= pos;
    } else {
        size_t len = cl != NULL ? strtoul(cl, NULL, 10) : 0;
        while (c->in.len < head_len + len) {
            if (read_more(c) < 0) {
                return -1;
            }
        }
        buf_append(body, c->in.data + head_len, len);
        memmove(c->in.data, c->in.data + head_len + len, c->in.len - head_len - len);
        c->in.len -= head_len + len;
    }
    c->in.data[c->in.len] = '\0';
    if (close_after) {
        conn_close(c);
    }
    return buf_status(body);
}

static void amz_date_now(char out[17])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* Signs a POST / with target and body; appends the Authorization value to auth_out. */
static int sign_call(const struct opts *o, const char *target, const char *amz_date,
                     const char *payload_hash, struct buf *auth_out)
{
    char target_hdr[128];
    snprintf(target_hdr, sizeof(target_hdr), TARGET_PREFIX "%s", target);
    struct sigv4_header h[4] = {
        {"Host", o->host_header},
        {"Content-Type", "application/x-amz-json-1.1"},
        {"X-Amz-Date", amz_date},
        {"X-Amz-Target", target_hdr},
    };
    struct sigv4_request req = {.method = "POST",
                                .path = "/",
                                .query = "",
                                .headers = h,
                                .n_headers = 4,
                                .payload_hash = payload_hash};
    buf_reset(auth_out);
    return sigv4_sign(&req, o->access_key, o->secret_key, amz_date, o->region, "kinesis", auth_out);
}

/*
 * Sends one call and reads its response, reconnecting once if a kept-alive socket was
 * closed. auth is the signed Authorization value for amz_date. Returns 0 (status set)
 * or -1 on a socket error.
 */
static int call_signed(struct conn *c, const char *target, const char *amz_date, const char *auth,
                       const void *body, size_t len, int *status, struct buf *resp)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (c->fd < 0 && conn_connect(c) < 0) {
            return -1;
        }
        buf_reset(&c->head);
        buf_printf(&c->head,
                   "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-amz-json-1.1\r\n"
                   "X-Amz-Date: %s\r\nX-Amz-Target: " TARGET_PREFIX "%s\r\n"
                   "Authorization: %s\r\nContent-Length: %zu\r\nConnection: keep-alive\r\n\r\n",
                   c->o->host_header, amz_date, target, auth, len);
        if (write_all(c->fd, c->head.data, c->head.len, body, len) == 0 &&
            read_response(c, status, resp) == 0) {
            return 0;
        }
        conn_close(c);
    }
    return -1;
}

/* Signs and sends a small control-plane call. */
static int call(struct conn *c, const char *target, const char *body, int *status, struct buf *resp)
{
    char amz_date[17];
    amz_date_now(amz_date);
    uint8_t digest[SHA256_LEN];
    char hash[65];
    crypto_sha256(body, strlen(body), digest);
    hex_encode(digest, SHA256_LEN, hash);
    struct buf auth;
    buf_init(&auth);
    int rc = sign_call(c->o, target, amz_date, hash, &auth);
    if (rc == 0) {
        rc = call_signed(c, target, amz_date, (const char *)auth.data, body, strlen(body), status,
                         resp);
    }
    buf_fini(&auth);
    return rc;
}

/* 1 when an error response's __type names the AWS error name (after any '#'). */
static int is_error(const struct buf *resp, const char *name)
{
    json_t *doc = json_loadb((const char *)resp->data, resp->len, 0, NULL);
    const char *type = json_string_value(json_object_get(doc, "__type"));
    const char *hash = type != NULL ? strrchr(type, '#') : NULL;
    int match = type != NULL && strcmp(hash != NULL ? hash + 1 : type, name) == 0;
    json_decref(doc);
    return match;
}

/* ---- timing ---- */

static double now_s(void)
{
    return (double)clock_mono_ns() / 1e9;
}

static void sleep_until(double t)
{
    double d = t - now_s();
    if (d > 0) {
        struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

/* ---- put ---- */

struct put_body {
    char *json;
    size_t len;
    char hash[65]; /* hex sha256 of json */
    int n_records;
};

/* Builds {"StreamName":..,"Records":[{"Data":b64,"PartitionKey":..},...]}. */
static void put_body_build(struct put_body *pb, const struct opts *o)
{
    struct buf b;
    buf_init(&b);
    uint8_t *raw = xmalloc((size_t)o->record_bytes);
    char *b64 = xmalloc(BASE64_ENCODED_LEN((size_t)o->record_bytes + 512) + 1);
    buf_puts(&b, "{\"StreamName\":");
    buf_json_string(&b, o->stream, strlen(o->stream));
    buf_puts(&b, ",\"Records\":[");
    static const char *const types[] = {"view", "click", "checkout", "refund"};
    for (int i = 0; i < o->records_per_batch; i++) {
        size_t n;
        if (o->lab_events) {
            /* the lab producer's shape; a batch is sent again and again, so ids repeat */
            char ev[512];
            int len = snprintf(ev, sizeof(ev),
                               "{\"event_id\":\"ev-%08d\",\"ts\":\"2026-05-19 12:%02d:%02d\","
                               "\"tenant_id\":\"tenant-%03d\",\"device_id\":\"device-%05d\","
                               "\"event_type\":\"%s\",\"amount\":%d.%02d}\n",
                               i, i / 60 % 60, i % 60, i % 8 + 1, i * 7 % 800, types[i % 4],
                               i * 37 % 250, i % 100);
            n = base64_encode((const uint8_t *)ev, (size_t)len, b64);
        } else {
            crypto_random(raw, (size_t)o->record_bytes);
            n = base64_encode(raw, (size_t)o->record_bytes, b64);
        }
        uint8_t pk[8];
        crypto_random(pk, sizeof(pk));
        char pk_hex[17];
        hex_encode(pk, sizeof(pk), pk_hex);
        buf_printf(&b, "%s{\"Data\":\"", i > 0 ? "," : "");
        buf_append(&b, b64, n);
        buf_printf(&b, "\",\"PartitionKey\":\"pk-%s\"}", pk_hex);
    }
    buf_puts(&b, "]}");
    if (buf_status(&b) != 0) {
        fprintf(stderr, "kinesis_bench: out of memory building the body\n");
        exit(1);
    }
    free(raw);
    free(b64);
    uint8_t digest[SHA256_LEN];
    crypto_sha256(b.data, b.len, digest);
    hex_encode(digest, SHA256_LEN, pb->hash);
    pb->n_records = o->records_per_batch;
    pb->json = (char *)buf_steal(&b, &pb->len);
}

/* FailedRecordCount of a PutRecords response; -1 when the body is not that shape. */
static long failed_record_count(const struct buf *resp)
{
    struct jscan s;
    jscan_init(&s, (const char *)resp->data, resp->len);
    if (jscan_object_begin(&s) < 0) {
        return -1;
    }
    struct jstr key;
    long failed = -1;
    int more;
    while ((more = jscan_object_next(&s, &key)) == 1) {
        if (jstr_eq(&key, "FailedRecordCount") && jscan_peek(&s) == JSCAN_NUMBER) {
            const char *text;
            size_t len;
            if (jscan_number(&s, &text, &len) < 0) {
                return -1;
            }
            failed = strtol(text, NULL, 10);
        } else if (jscan_skip(&s) < 0) {
            return -1;
        }
    }
    return more < 0 ? -1 : failed;
}

struct worker {
    pthread_t thread;
    const struct opts *o;
    const struct put_body *pb;
    int idx;
    double start, deadline;
    /* results */
    int64_t records_ok;
    int64_t records_failed; /* FailedRecordCount summed */
    int64_t requests;
    int64_t errors;  /* non-200, malformed response, socket errors */
    int64_t *lat_ns; /* per-request latency */
    size_t n_lat, cap_lat;
    char first_error[256];
    /* drain */
    char **shard_ids;
    size_t n_shards;
    int64_t bytes;
};

static void worker_note_error(struct worker *w, const char *what, const struct buf *resp)
{
    w->errors++;
    if (w->first_error[0] == '\0') {
        snprintf(w->first_error, sizeof(w->first_error), "%s: %.200s", what,
                 resp != NULL && resp->data != NULL ? (const char *)resp->data : "");
    }
}

static void worker_add_latency(struct worker *w, int64_t ns)
{
    if (w->n_lat == w->cap_lat) {
        w->cap_lat = w->cap_lat ? w->cap_lat * 2 : 4096;
        w->lat_ns = xrealloc(w->lat_ns, w->cap_lat * sizeof(*w->lat_ns));
    }
    w->lat_ns[w->n_lat++] = ns;
}

static void *put_worker(void *arg)
{
    struct worker *w = arg;
    const struct opts *o = w->o;
    struct conn c;
    conn_init(&c, o);
    struct buf resp;
    buf_init(&resp);
    /* put-rate: this thread's share of the rate, in batches per second */
    double interval = 0;
    if (o->mode == MODE_PUT_RATE) {
        double batches_per_s = o->rate / o->connections / w->pb->n_records;
        interval = batches_per_s > 0 ? 1.0 / batches_per_s : 1.0;
    }
    /* stagger threads over one interval so their sends do not coincide */
    double next = w->start + interval * w->idx / o->connections;
    while (now_s() < w->deadline) {
        if (o->mode == MODE_PUT_RATE) {
            sleep_until(next);
            next += interval;
            if (now_s() >= w->deadline) {
                break;
            }
        }
        int64_t now_ms = clock_now_ms();
        if (c.auth.len == 0 || now_ms - c.auth_signed_ms >= RESIGN_AFTER_MS) {
            amz_date_now(c.auth_date);
            if (sign_call(o, "PutRecords", c.auth_date, w->pb->hash, &c.auth) != 0) {
                worker_note_error(w, "signing failed", NULL);
                break;
            }
            c.auth_signed_ms = now_ms;
        }
        int64_t t0 = clock_mono_ns();
        int status = 0;
        int rc = call_signed(&c, "PutRecords", c.auth_date, (const char *)c.auth.data, w->pb->json,
                             w->pb->len, &status, &resp);
        int64_t t1 = clock_mono_ns();
        w->requests++;
        if (rc != 0) {
            worker_note_error(w, "socket error", NULL);
            usleep(10000);
            continue;
        }
        worker_add_latency(w, t1 - t0);
        if (status != 200) {
            worker_note_error(w, "HTTP error", &resp);
            continue;
        }
        long failed = failed_record_count(&resp);
        if (failed < 0) {
            worker_note_error(w, "malformed PutRecords response", &resp);
            continue;
        }
        w->records_ok += w->pb->n_records - failed;
        w->records_failed += failed;
        if (failed > 0 && w->first_error[0] == '\0') {
            snprintf(w->first_error, sizeof(w->first_error), "FailedRecordCount %ld: %.200s",
                     failed, (const char *)resp.data);
        }
    }
    buf_fini(&resp);
    conn_fini(&c);
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

static const char *mode_name(enum mode m)
{
    return m == MODE_PUT         ? "put"
           : m == MODE_PUT_RATE  ? "put-rate"
           : m == MODE_DRAIN     ? "drain"
           : m == MODE_PUT_CHURN ? "put-churn"
                                 : "create";
}

/* put-churn: the connection that creates and deletes streams while the puts run. */
struct churner {
    pthread_t thread;
    const struct opts *o;
    double deadline;
    int64_t pairs;   /* CreateStream + DeleteStream both answered 200 */
    int64_t limited; /* LimitExceededException answers (the account's shard quota) */
    int64_t errors;
    char first_error[256];
};

static void *churn_main(void *arg)
{
    struct churner *ch = arg;
    const struct opts *o = ch->o;
    struct conn c;
    conn_init(&c, o);
    struct buf resp, body;
    buf_init(&resp);
    buf_init(&body);
    for (long n = 0; now_s() < ch->deadline; n++) {
        char name[96];
        snprintf(name, sizeof(name), "churn-%ld-%ld", (long)getpid(), n);
        int status = 0;
        buf_reset(&body);
        buf_printf(&body, "{\"StreamName\":\"%s\",\"ShardCount\":%d}", name, o->shards);
        if (call(&c, "CreateStream", (const char *)body.data, &status, &resp) != 0) {
            ch->errors++;
            usleep(10000);
            continue;
        }
        if (status != 200) {
            if (is_error(&resp, "LimitExceededException")) {
                ch->limited++;
                usleep(20000);
            } else if (ch->errors++ == 0) {
                snprintf(ch->first_error, sizeof(ch->first_error), "CreateStream %d: %.200s",
                         status, (const char *)resp.data);
            }
            continue;
        }
        buf_reset(&body);
        buf_printf(&body, "{\"StreamName\":\"%s\"}", name);
        if (call(&c, "DeleteStream", (const char *)body.data, &status, &resp) != 0 ||
            status != 200) {
            if (ch->errors++ == 0) {
                snprintf(ch->first_error, sizeof(ch->first_error), "DeleteStream %d: %.200s",
                         status, resp.data != NULL ? (const char *)resp.data : "");
            }
            continue;
        }
        ch->pairs++;
    }
    buf_fini(&resp);
    buf_fini(&body);
    conn_fini(&c);
    return NULL;
}

static int run_put(const struct opts *o)
{
    struct put_body pb;
    put_body_build(&pb, o);
    struct worker *w = xcalloc((size_t)o->connections, sizeof(*w));
    double start = now_s() + 0.05;
    for (int i = 0; i < o->connections; i++) {
        w[i].o = o;
        w[i].pb = &pb;
        w[i].idx = i;
        w[i].start = start;
        w[i].deadline = start + o->seconds;
        pthread_create(&w[i].thread, NULL, put_worker, &w[i]);
    }
    struct churner ch = {.o = o, .deadline = start + o->seconds};
    if (o->mode == MODE_PUT_CHURN) {
        pthread_create(&ch.thread, NULL, churn_main, &ch);
    }
    int64_t ok = 0, failed = 0, requests = 0, errors = 0;
    size_t n_lat = 0;
    for (int i = 0; i < o->connections; i++) {
        pthread_join(w[i].thread, NULL);
        ok += w[i].records_ok;
        failed += w[i].records_failed;
        requests += w[i].requests;
        errors += w[i].errors;
        n_lat += w[i].n_lat;
    }
    if (o->mode == MODE_PUT_CHURN) {
        pthread_join(ch.thread, NULL);
        if (ch.first_error[0] != '\0') {
            fprintf(stderr, "kinesis_bench: churn: %s\n", ch.first_error);
        }
    }
    /* put-rate counts what was scheduled inside the window; put, all that completed */
    double elapsed = o->mode == MODE_PUT_RATE ? o->seconds : now_s() - start;
    int64_t *lat = xcalloc(n_lat + 1, sizeof(*lat));
    size_t k = 0;
    for (int i = 0; i < o->connections; i++) {
        memcpy(lat + k, w[i].lat_ns, w[i].n_lat * sizeof(*lat));
        k += w[i].n_lat;
        if (w[i].first_error[0] != '\0') {
            fprintf(stderr, "kinesis_bench: connection %d: %s\n", i, w[i].first_error);
        }
        free(w[i].lat_ns);
    }
    qsort(lat, n_lat, sizeof(*lat), cmp_i64);
    double p50 = n_lat ? (double)lat[n_lat / 2] / 1e6 : 0;
    double p99 = n_lat ? (double)lat[(size_t)((double)(n_lat - 1) * 0.99)] / 1e6 : 0;
    double rps = (double)ok / elapsed;
    double mbps = (double)ok * o->record_bytes / elapsed / 1e6;
    printf("%s: %d connections, %.1f s, %d records x %d bytes per batch (%zu-byte body)\n",
           mode_name(o->mode), o->connections, elapsed, o->records_per_batch, o->record_bytes,
           pb.len);
    printf("  records/s %.0f   MB/s %.1f   p50 %.2f ms   p99 %.2f ms   requests %lld   "
           "errors %lld   failed records %lld\n",
           rps, mbps, p50, p99, (long long)requests, (long long)errors, (long long)failed);
    if (o->mode == MODE_PUT_CHURN) {
        printf("  churn: %lld create/delete pairs (%.1f/s), %lld quota refusals, %lld errors\n",
               (long long)ch.pairs, (double)ch.pairs / elapsed, (long long)ch.limited,
               (long long)ch.errors);
    }
    printf("RESULT mode=%s connections=%d seconds=%.1f records=%lld records_per_s=%.0f "
           "mb_per_s=%.2f p50_ms=%.2f p99_ms=%.2f requests=%lld errors=%lld "
           "failed_records=%lld churn_pairs=%lld\n",
           mode_name(o->mode), o->connections, elapsed, (long long)ok, rps, mbps, p50, p99,
           (long long)requests, (long long)errors, (long long)failed, (long long)ch.pairs);
    free(lat);
    free(w);
    free(pb.json);
    return errors == 0 && failed == 0 ? 0 : 2;
}

/* ---- create ---- */

/* Polls DescribeStreamSummary until the stream is ACTIVE (60 s at most). 0 or 1. */
static int wait_active(struct conn *c, const struct opts *o, struct buf *resp)
{
    struct buf body;
    buf_init(&body);
    buf_puts(&body, "{\"StreamName\":");
    buf_json_string(&body, o->stream, strlen(o->stream));
    buf_puts(&body, "}");
    int status = 0, rc = 1;
    double deadline = now_s() + 60;
    while (rc != 0 && now_s() < deadline) {
        if (call(c, "DescribeStreamSummary", (const char *)body.data, &status, resp) == 0 &&
            status == 200) {
            json_t *doc = json_loadb((const char *)resp->data, resp->len, 0, NULL);
            const char *st = json_string_value(
                json_object_get(json_object_get(doc, "StreamDescriptionSummary"), "StreamStatus"));
            if (st != NULL && strcmp(st, "ACTIVE") == 0) {
                printf("create: stream %s ACTIVE with %d shards\n", o->stream, o->shards);
                rc = 0;
            }
            json_decref(doc);
        }
        if (rc != 0) {
            usleep(100000);
        }
    }
    if (rc != 0) {
        fprintf(stderr, "kinesis_bench: stream %s did not become ACTIVE\n", o->stream);
    }
    buf_fini(&body);
    return rc;
}

static int run_create(const struct opts *o)
{
    struct conn c;
    conn_init(&c, o);
    struct buf resp, body;
    buf_init(&resp);
    buf_init(&body);
    int rc = 1, status = 0;
    buf_puts(&body, "{\"StreamName\":");
    buf_json_string(&body, o->stream, strlen(o->stream));
    buf_printf(&body, ",\"ShardCount\":%d}", o->shards);
    if (call(&c, "CreateStream", (const char *)body.data, &status, &resp) != 0) {
        fprintf(stderr, "kinesis_bench: cannot reach %s:%d\n", o->host, o->port);
        goto out;
    }
    if (status != 200 && !is_error(&resp, "ResourceInUseException")) {
        fprintf(stderr, "kinesis_bench: CreateStream: %d %s\n", status, (const char *)resp.data);
        goto out;
    }
    if ((rc = wait_active(&c, o, &resp)) != 0 || o->kms_key == NULL) {
        goto out;
    }
    rc = 1;
    buf_reset(&body);
    buf_puts(&body, "{\"StreamName\":");
    buf_json_string(&body, o->stream, strlen(o->stream));
    buf_puts(&body, ",\"EncryptionType\":\"KMS\",\"KeyId\":");
    buf_json_string(&body, o->kms_key, strlen(o->kms_key));
    buf_puts(&body, "}");
    if (call(&c, "StartStreamEncryption", (const char *)body.data, &status, &resp) != 0 ||
        status != 200) {
        fprintf(stderr, "kinesis_bench: StartStreamEncryption: %d %s\n", status,
                resp.data != NULL ? (const char *)resp.data : "");
        goto out;
    }
    if ((rc = wait_active(&c, o, &resp)) == 0) {
        printf("create: stream %s encrypted under %s\n", o->stream, o->kms_key);
    }
out:
    buf_fini(&resp);
    buf_fini(&body);
    conn_fini(&c);
    return rc;
}

/* ---- drain ---- */

/* Lists the stream's shard ids (ListShards, following NextToken). */
static int list_shards(const struct opts *o, char ***ids_out, size_t *n_out)
{
    struct conn c;
    conn_init(&c, o);
    struct buf resp, body;
    buf_init(&resp);
    buf_init(&body);
    char **ids = NULL;
    size_t n = 0;
    char *token = NULL;
    int rc = -1;
    for (;;) {
        buf_reset(&body);
        if (token == NULL) {
            buf_puts(&body, "{\"StreamName\":");
            buf_json_string(&body, o->stream, strlen(o->stream));
            buf_puts(&body, "}");
        } else {
            buf_puts(&body, "{\"NextToken\":");
            buf_json_string(&body, token, strlen(token));
            buf_puts(&body, "}");
        }
        int status = 0;
        if (call(&c, "ListShards", (const char *)body.data, &status, &resp) != 0 || status != 200) {
            fprintf(stderr, "kinesis_bench: ListShards: %d %s\n", status,
                    resp.data != NULL ? (const char *)resp.data : "");
            goto out;
        }
        json_t *doc = json_loadb((const char *)resp.data, resp.len, 0, NULL);
        json_t *shards = json_object_get(doc, "Shards");
        size_t i;
        json_t *s;
        json_array_foreach(shards, i, s)
        {
            const char *id = json_string_value(json_object_get(s, "ShardId"));
            if (id != NULL) {
                ids = xrealloc(ids, (n + 1) * sizeof(*ids));
                ids[n++] = xstrdup(id);
            }
        }
        free(token);
        token = NULL;
        const char *next = json_string_value(json_object_get(doc, "NextToken"));
        if (next != NULL) {
            token = xstrdup(next);
        }
        json_decref(doc);
        if (token == NULL) {
            break;
        }
    }
    rc = 0;
out:
    free(token);
    buf_fini(&resp);
    buf_fini(&body);
    conn_fini(&c);
    *ids_out = ids;
    *n_out = n;
    return rc;
}

/* Reads a GetRecords response: counts records and decoded data bytes, copies the next
   iterator (or "" when none) and MillisBehindLatest (-1 when absent). */
static int parse_get_records(const struct buf *resp, int64_t *records, int64_t *bytes,
                             struct buf *next_iter, long *behind_ms)
{
    struct jscan s;
    jscan_init(&s, (const char *)resp->data, resp->len);
    buf_reset(next_iter);
    *behind_ms = -1;
    if (jscan_object_begin(&s) < 0) {
        return -1;
    }
    struct jstr key;
    int more;
    while ((more = jscan_object_next(&s, &key)) == 1) {
        if (jstr_eq(&key, "Records")) {
            if (jscan_array_begin(&s) < 0) {
                return -1;
            }
            int elem;
            while ((elem = jscan_array_next(&s)) == 1) {
                if (jscan_object_begin(&s) < 0) {
                    return -1;
                }
                struct jstr rk;
                int m2;
                while ((m2 = jscan_object_next(&s, &rk)) == 1) {
                    if (jstr_eq(&rk, "Data")) {
                        struct jstr data;
                        if (jscan_string(&s, &data) < 0) {
                            return -1;
                        }
                        size_t pad = 0;
                        if (data.raw_len >= 1 && data.raw[data.raw_len - 1] == '=') {
                            pad++;
                        }
                        if (data.raw_len >= 2 && data.raw[data.raw_len - 2] == '=') {
                            pad++;
                        }
                        *bytes += (int64_t)(data.raw_len / 4 * 3 - pad);
                    } else if (jscan_skip(&s) < 0) {
                        return -1;
                    }
                }
                if (m2 < 0) {
                    return -1;
                }
                (*records)++;
            }
            if (elem < 0) {
                return -1;
            }
        } else if (jstr_eq(&key, "NextShardIterator") && jscan_peek(&s) == JSCAN_STRING) {
            struct jstr it;
            if (jscan_string(&s, &it) < 0) {
                return -1;
            }
            buf_append(next_iter, it.raw, it.raw_len);
        } else if (jstr_eq(&key, "MillisBehindLatest") && jscan_peek(&s) == JSCAN_NUMBER) {
            const char *text;
            size_t len;
            if (jscan_number(&s, &text, &len) < 0) {
                return -1;
            }
            *behind_ms = strtol(text, NULL, 10);
        } else if (jscan_skip(&s) < 0) {
            return -1;
        }
    }
    return more < 0 ? -1 : 0;
}

static void *drain_worker(void *arg)
{
    struct worker *w = arg;
    const struct opts *o = w->o;
    struct conn c;
    conn_init(&c, o);
    struct buf resp, body;
    buf_init(&resp);
    buf_init(&body);
    struct buf *iters = xcalloc(w->n_shards + 1, sizeof(*iters));
    int *done = xcalloc(w->n_shards + 1, sizeof(*done));
    size_t n_done = 0;
    for (size_t i = 0; i < w->n_shards; i++) {
        buf_init(&iters[i]);
        buf_reset(&body);
        buf_puts(&body, "{\"StreamName\":");
        buf_json_string(&body, o->stream, strlen(o->stream));
        buf_puts(&body, ",\"ShardId\":");
        buf_json_string(&body, w->shard_ids[i], strlen(w->shard_ids[i]));
        buf_puts(&body, ",\"ShardIteratorType\":\"TRIM_HORIZON\"}");
        int status = 0;
        json_t *doc = NULL;
        const char *it = NULL;
        if (call(&c, "GetShardIterator", (const char *)body.data, &status, &resp) == 0 &&
            status == 200) {
            doc = json_loadb((const char *)resp.data, resp.len, 0, NULL);
            it = json_string_value(json_object_get(doc, "ShardIterator"));
        }
        if (it == NULL) {
            worker_note_error(w, "GetShardIterator", &resp);
            done[i] = 1;
            n_done++;
        } else {
            buf_puts(&iters[i], it);
        }
        json_decref(doc);
    }
    struct buf next;
    buf_init(&next);
    while (n_done < w->n_shards && now_s() < w->deadline) {
        for (size_t i = 0; i < w->n_shards; i++) {
            if (done[i]) {
                continue;
            }
            buf_reset(&body);
            buf_puts(&body, "{\"ShardIterator\":");
            buf_json_string(&body, (const char *)iters[i].data, iters[i].len);
            buf_puts(&body, ",\"Limit\":10000}");
            int status = 0;
            int64_t t0 = clock_mono_ns();
            int rc = call(&c, "GetRecords", (const char *)body.data, &status, &resp);
            w->requests++;
            if (rc != 0) {
                worker_note_error(w, "socket error", NULL);
                usleep(10000);
                continue;
            }
            worker_add_latency(w, clock_mono_ns() - t0);
            if (status != 200) {
                worker_note_error(w, "HTTP error", &resp);
                if (is_error(&resp, "ProvisionedThroughputExceededException")) {
                    usleep(200000);
                    continue;
                }
                done[i] = 1;
                n_done++;
                continue;
            }
            int64_t got = 0;
            long behind = -1;
            if (parse_get_records(&resp, &got, &w->bytes, &next, &behind) < 0) {
                worker_note_error(w, "malformed GetRecords response", &resp);
                done[i] = 1;
                n_done++;
                continue;
            }
            w->records_ok += got;
            if (next.len == 0 || (got == 0 && behind <= 0)) {
                done[i] = 1;
                n_done++;
            } else {
                buf_reset(&iters[i]);
                buf_append(&iters[i], next.data, next.len);
            }
        }
    }
    for (size_t i = 0; i < w->n_shards; i++) {
        buf_fini(&iters[i]);
    }
    free(iters);
    free(done);
    buf_fini(&next);
    buf_fini(&resp);
    buf_fini(&body);
    conn_fini(&c);
    return NULL;
}

static int run_drain(const struct opts *o)
{
    char **ids = NULL;
    size_t n_ids = 0;
    if (list_shards(o, &ids, &n_ids) != 0 || n_ids == 0) {
        fprintf(stderr, "kinesis_bench: no shards to drain\n");
        return 1;
    }
    int n_workers = o->connections < (int)n_ids ? o->connections : (int)n_ids;
    struct worker *w = xcalloc((size_t)n_workers, sizeof(*w));
    double start = now_s();
    for (int i = 0; i < n_workers; i++) {
        w[i].o = o;
        w[i].idx = i;
        w[i].start = start;
        w[i].deadline = start + o->seconds;
        w[i].shard_ids = xcalloc(n_ids, sizeof(char *));
        for (size_t s = (size_t)i; s < n_ids; s += (size_t)n_workers) {
            w[i].shard_ids[w[i].n_shards++] = ids[s];
        }
        pthread_create(&w[i].thread, NULL, drain_worker, &w[i]);
    }
    int64_t records = 0, bytes = 0, requests = 0, errors = 0;
    for (int i = 0; i < n_workers; i++) {
        pthread_join(w[i].thread, NULL);
        records += w[i].records_ok;
        bytes += w[i].bytes;
        requests += w[i].requests;
        errors += w[i].errors;
        if (w[i].first_error[0] != '\0') {
            fprintf(stderr, "kinesis_bench: connection %d: %s\n", i, w[i].first_error);
        }
        free(w[i].lat_ns);
        free(w[i].shard_ids);
    }
    double elapsed = now_s() - start;
    double rps = (double)records / elapsed;
    double mbps = (double)bytes / elapsed / 1e6;
    printf("drain: %zu shards, %d connections, %.1f s\n", n_ids, n_workers, elapsed);
    printf("  records %lld   records/s %.0f   MB/s %.1f   requests %lld   errors %lld\n",
           (long long)records, rps, mbps, (long long)requests, (long long)errors);
    printf("RESULT mode=drain connections=%d seconds=%.1f records=%lld records_per_s=%.0f "
           "mb_per_s=%.2f requests=%lld errors=%lld\n",
           n_workers, elapsed, (long long)records, rps, mbps, (long long)requests,
           (long long)errors);
    for (size_t i = 0; i < n_ids; i++) {
        free(ids[i]);
    }
    free(ids);
    free(w);
    return errors == 0 ? 0 : 2;
}

/* ---- command line ---- */

static void usage(void)
{
    fprintf(
        stderr,
        "usage: kinesis_bench --endpoint http://127.0.0.1:PORT --stream NAME\n"
        "         [--mode put|put-rate|drain|create|put-churn] [--connections N] [--seconds S]\n"
        "         [--records-per-batch 500] [--record-bytes 1024] [--rate RECORDS_PER_S]\n"
        "         [--shards 4] [--access-key K] [--secret-key S] [--region R]\n"
        "         [--lab-events] (records are the seed lab's JSON events)\n"
        "         [--kms-key KEY] (create: encrypt the stream at rest under KEY)\n");
}

static int parse_endpoint(const char *url, struct opts *o)
{
    const char *p = url;
    if (strncmp(p, "http://", 7) == 0) {
        p += 7;
    } else if (strstr(p, "://") != NULL) {
        return -1; /* only plain HTTP */
    }
    const char *colon = strrchr(p, ':');
    const char *slash = strchr(p, '/');
    size_t host_len = colon != NULL   ? (size_t)(colon - p)
                      : slash != NULL ? (size_t)(slash - p)
                                      : strlen(p);
    if (host_len == 0 || host_len >= sizeof(o->host)) {
        return -1;
    }
    memcpy(o->host, p, host_len);
    o->host[host_len] = '\0';
    o->port = colon != NULL ? atoi(colon + 1) : 80;
    if (o->port <= 0 || o->port > 65535) {
        return -1;
    }
    snprintf(o->host_header, sizeof(o->host_header), "%s:%d", o->host, o->port);
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o = {.stream = NULL,
                     .connections = 1,
                     .seconds = 10,
                     .records_per_batch = 500,
                     .record_bytes = 1024,
                     .mode = MODE_PUT,
                     .shards = 4,
                     .access_key = "AKIDEXAMPLE",
                     .secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                     .region = "us-east-1"};
    int have_endpoint = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--lab-events") == 0) {
            o.lab_events = 1;
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            usage();
            return 1;
        }
        i++;
        if (strcmp(a, "--endpoint") == 0) {
            if (parse_endpoint(v, &o) != 0) {
                fprintf(stderr, "kinesis_bench: bad endpoint %s (http://host:port)\n", v);
                return 1;
            }
            have_endpoint = 1;
        } else if (strcmp(a, "--stream") == 0) {
            o.stream = v;
        } else if (strcmp(a, "--connections") == 0) {
            o.connections = atoi(v);
        } else if (strcmp(a, "--seconds") == 0) {
            o.seconds = atof(v);
        } else if (strcmp(a, "--records-per-batch") == 0) {
            o.records_per_batch = atoi(v);
        } else if (strcmp(a, "--record-bytes") == 0) {
            o.record_bytes = atoi(v);
        } else if (strcmp(a, "--rate") == 0) {
            o.rate = atof(v);
        } else if (strcmp(a, "--shards") == 0) {
            o.shards = atoi(v);
        } else if (strcmp(a, "--access-key") == 0) {
            o.access_key = v;
        } else if (strcmp(a, "--secret-key") == 0) {
            o.secret_key = v;
        } else if (strcmp(a, "--region") == 0) {
            o.region = v;
        } else if (strcmp(a, "--kms-key") == 0) {
            o.kms_key = v;
        } else if (strcmp(a, "--mode") == 0) {
            if (strcmp(v, "put") == 0) {
                o.mode = MODE_PUT;
            } else if (strcmp(v, "put-rate") == 0) {
                o.mode = MODE_PUT_RATE;
            } else if (strcmp(v, "drain") == 0) {
                o.mode = MODE_DRAIN;
            } else if (strcmp(v, "create") == 0) {
                o.mode = MODE_CREATE;
            } else if (strcmp(v, "put-churn") == 0) {
                o.mode = MODE_PUT_CHURN;
            } else {
                usage();
                return 1;
            }
        } else {
            usage();
            return 1;
        }
    }
    if (!have_endpoint || o.stream == NULL || o.connections < 1 || o.connections > 1024 ||
        o.seconds <= 0 || o.records_per_batch < 1 || o.records_per_batch > 500 ||
        o.record_bytes < 1 || o.record_bytes > 1048576 || o.shards < 1 ||
        (o.mode == MODE_PUT_RATE && o.rate <= 0)) {
        usage();
        return 1;
    }
    switch (o.mode) {
    case MODE_CREATE: return run_create(&o);
    case MODE_DRAIN: return run_drain(&o);
    default: return run_put(&o);
    }
}
