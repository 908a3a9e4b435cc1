/*
 * S3 benchmark client: PUT and GET of objects of several sizes over 1 and 8 keep-alive
 * connections, and a full ListObjectsV2 walk of a bucket of many keys, against one or
 * more S3 endpoints side by side. Prints figures (MB/s, operations/s, p50/p99 latency);
 * never passes or fails on them.
 *
 * Usage: s3_bench [--seconds S] [--list-keys N] [--sizes 4096,1048576,67108864]
 *                 --target NAME,HOST:PORT,ACCESS_KEY,SECRET_KEY [--target ...]
 *                 [--flush-log NAME=PATH ...]
 *
 * --flush-log names a file where strace records the target server's fsync and fdatasync
 * calls as they happen (strace -f --seccomp-bpf -e trace=fsync,fdatasync -o PATH); PUT
 * rows then show the device flushes per PUT the server made during the phase.
 *
 * Requests are signed with SigV4 (http/sigv4.h) and carry UNSIGNED-PAYLOAD, so the
 * client spends no time hashing bodies; the server still computes the object's MD5.
 * Responses are read with Content-Length or chunked transfer encoding.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "http/sigv4.h"

#define MAX_TARGETS 4
#define MAX_CONNS 8

struct target {
    char name[32];
    char host[64];
    int port;
    char access_key[128];
    char secret[128];
    char flush_log[256]; /* strace log of the server's syncs, "" when not traced */
};

/* fsync and fdatasync calls recorded so far in an strace log; -1 when unreadable. A call
   split by strace into "<unfinished ...>" and "resumed" lines is counted once. */
static long count_flushes(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    long n = 0;
    char line[512];
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, "fsync(") != NULL || strstr(line, "fdatasync(") != NULL) {
            n++;
        }
    }
    fclose(f);
    return n;
}

struct conn {
    int fd;
    const struct target *t;
    struct buf in; /* bytes received but not consumed */
};

static int conn_open(struct conn *c, const struct target *t)
{
    memset(c, 0, sizeof(*c));
    c->t = t;
    buf_init(&c->in);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0) {
        return -1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)t->port)};
    inet_pton(AF_INET, t->host, &sa.sin_addr);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
    }
    buf_fini(&c->in);
    c->fd = -1;
}

static int send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Receives more bytes into c->in. */
static int fill(struct conn *c)
{
    uint8_t *dst = buf_reserve(&c->in, 1 << 20);
    if (dst == NULL) {
        return -1;
    }
    ssize_t n = recv(c->fd, dst, 1 << 20, 0);
    if (n <= 0) {
        return -1;
    }
    c->in.len += (size_t)n;
    return 0;
}

static void consume(struct conn *c, size_t n)
{
    memmove(c->in.data, c->in.data + n, c->in.len - n);
    c->in.len -= n;
}

/* Reads one line (CRLF) into out. */
static int read_line(struct conn *c, char *out, size_t size)
{
    for (;;) {
        char *nl = c->in.len ? memchr(c->in.data, '\n', c->in.len) : NULL;
        if (nl != NULL) {
            size_t len = (size_t)(nl - (char *)c->in.data) + 1;
            size_t copy = len - 1 < size - 1 ? len - 1 : size - 1;
            memcpy(out, c->in.data, copy);
            out[copy] = '\0';
            if (copy > 0 && out[copy - 1] == '\r') {
                out[copy - 1] = '\0';
            }
            consume(c, len);
            return 0;
        }
        if (fill(c) < 0) {
            return -1;
        }
    }
}

/* Reads n body bytes (appending to body when not NULL). */
static int read_body(struct conn *c, size_t n, struct buf *body)
{
    while (n > 0) {
        if (c->in.len == 0 && fill(c) < 0) {
            return -1;
        }
        size_t take = c->in.len < n ? c->in.len : n;
        if (body != NULL) {
            buf_append(body, c->in.data, take);
        }
        consume(c, take);
        n -= take;
    }
    return 0;
}

/*
 * Sends one signed request and reads the response. path is already encoded; query too.
 * Returns the HTTP status or -1 on a connection failure. *body_len gets the bytes read.
 */
static int request(struct conn *c, const char *method, const char *path, const char *query,
                   const void *payload, size_t payload_len, struct buf *body_out, size_t *body_len)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char amz_date[17];
    strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);
    char host[96];
    snprintf(host, sizeof(host), "%s:%d", c->t->host, c->t->port);
    char len_s[32];
    snprintf(len_s, sizeof(len_s), "%zu", payload_len);
    struct sigv4_header hdrs[] = {
        {"host", host}, {"x-amz-date", amz_date}, {"x-amz-content-sha256", "UNSIGNED-PAYLOAD"}};
    struct sigv4_request sr = {.method = method,
                               .path = path,
                               .query = query,
                               .headers = hdrs,
                               .n_headers = 3,
                               .payload_hash = "UNSIGNED-PAYLOAD",
                               .s3 = 1};
    struct buf auth;
    buf_init(&auth);
    if (sigv4_sign(&sr, c->t->access_key, c->t->secret, amz_date, "us-east-1", "s3", &auth) < 0) {
        buf_fini(&auth);
        return -1;
    }
    struct buf head;
    buf_init(&head);
    buf_printf(&head,
               "%s %s%s%s HTTP/1.1\r\nHost: %s\r\nX-Amz-Date: %s\r\n"
               "X-Amz-Content-SHA256: UNSIGNED-PAYLOAD\r\nAuthorization: %s\r\n"
               "Content-Length: %s\r\n\r\n",
               method, path, query[0] ? "?" : "", query, host, amz_date, (char *)auth.data, len_s);
    buf_fini(&auth);
    int rc = send_all(c->fd, head.data, head.len);
    buf_fini(&head);
    if (rc == 0 && payload_len > 0) {
        rc = send_all(c->fd, payload, payload_len);
    }
    if (rc < 0) {
        return -1;
    }
    char line[8192];
    if (read_line(c, line, sizeof(line)) < 0) {
        return -1;
    }
    int status = 0;
    if (sscanf(line, "HTTP/1.%*d %d", &status) != 1) {
        return -1;
    }
    long long content_len = -1;
    int chunked = 0;
    for (;;) {
        if (read_line(c, line, sizeof(line)) < 0) {
            return -1;
        }
        if (line[0] == '\0') {
            break;
        }
        if (strncasecmp(line, "Content-Length:", 15) == 0) {
            content_len = atoll(line + 15);
        } else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 && strstr(line, "chunked")) {
            chunked = 1;
        }
    }
    size_t total = 0;
    int head_req = strcmp(method, "HEAD") == 0;
    if (!head_req && chunked) {
        for (;;) {
            if (read_line(c, line, sizeof(line)) < 0) {
                return -1;
            }
            size_t n = (size_t)strtoull(line, NULL, 16);
            if (n == 0) {
                read_line(c, line, sizeof(line));
                break;
            }
            if (read_body(c, n, body_out) < 0 || read_line(c, line, sizeof(line)) < 0) {
                return -1;
            }
            total += n;
        }
    } else if (!head_req && content_len > 0) {
        if (read_body(c, (size_t)content_len, body_out) < 0) {
            return -1;
        }
        total = (size_t)content_len;
    }
    if (body_len != NULL) {
        *body_len = total;
    }
    return status;
}

/* ---- workloads ---- */

struct worker {
    const struct target *t;
    int idx; /* connection number */
    const char *bucket;
    const char *op; /* "PUT" or "GET" */
    size_t size;
    const uint8_t *payload;
    int64_t deadline_ns;
    long max_ops; /* stop after this many ops */
    /* results */
    long ops;
    long errors;
    double *lat_ms; /* one per op */
    size_t lat_cap;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    struct conn c;
    if (conn_open(&c, w->t) < 0) {
        w->errors++;
        return NULL;
    }
    w->lat_cap = 1024;
    w->lat_ms = malloc(w->lat_cap * sizeof(double));
    while (clock_mono_ns() < w->deadline_ns && w->ops < w->max_ops) {
        char path[256];
        /* GETs read the objects the PUT phase wrote (it wrote at least one per worker). */
        snprintf(path, sizeof(path), "/%s/obj-%zu-%d-%ld", w->bucket, w->size, w->idx,
                 strcmp(w->op, "GET") == 0 ? 0 : w->ops);
        int64_t t0 = clock_mono_ns();
        size_t got = 0;
        int status = strcmp(w->op, "PUT") == 0
                         ? request(&c, "PUT", path, "", w->payload, w->size, NULL, &got)
                         : request(&c, "GET", path, "", NULL, 0, NULL, &got);
        int64_t t1 = clock_mono_ns();
        if (status != 200 || (strcmp(w->op, "GET") == 0 && got != w->size)) {
            w->errors++;
            if (status < 0) {
                conn_close(&c);
                if (conn_open(&c, w->t) < 0) {
                    break;
                }
            }
            continue;
        }
        if ((size_t)w->ops == w->lat_cap) {
            w->lat_cap *= 2;
            w->lat_ms = realloc(w->lat_ms, w->lat_cap * sizeof(double));
        }
        w->lat_ms[w->ops++] = (double)(t1 - t0) / 1e6;
    }
    conn_close(&c);
    return NULL;
}

/* The q-quantile (0..1) of n sorted values, nearest rank. */
static double quantile(const double *sorted, size_t n, double q)
{
    if (n == 0) {
        return 0;
    }
    size_t rank = (size_t)(q * (double)n + 0.999999);
    return sorted[(rank == 0 ? 1 : rank) - 1];
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct result {
    double mb_s;
    double ops_s;
    double p50_ms;
    double p99_ms;
    long ops;
    long errors;
    double flushes_per_op; /* < 0: not measured */
};

static struct result run_phase(const struct target *t, const char *bucket, const char *op,
                               size_t size, const uint8_t *payload, int n_conns, double seconds,
                               long max_ops_per_conn)
{
    struct worker w[MAX_CONNS];
    pthread_t th[MAX_CONNS];
    int64_t start = clock_mono_ns();
    for (int i = 0; i < n_conns; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].t = t;
        w[i].idx = i;
        w[i].bucket = bucket;
        w[i].op = op;
        w[i].size = size;
        w[i].payload = payload;
        w[i].deadline_ns = start + (int64_t)(seconds * 1e9);
        w[i].max_ops = max_ops_per_conn;
        pthread_create(&th[i], NULL, worker_run, &w[i]);
    }
    size_t n_lat = 0;
    struct result r = {0};
    for (int i = 0; i < n_conns; i++) {
        pthread_join(th[i], NULL);
        n_lat += (size_t)w[i].ops;
        r.ops += w[i].ops;
        r.errors += w[i].errors;
    }
    double elapsed = (double)(clock_mono_ns() - start) / 1e9;
    double *all = malloc((n_lat + 1) * sizeof(double));
    size_t k = 0;
    for (int i = 0; i < n_conns; i++) {
        memcpy(all + k, w[i].lat_ms, (size_t)w[i].ops * sizeof(double));
        k += (size_t)w[i].ops;
        free(w[i].lat_ms);
    }
    qsort(all, n_lat, sizeof(double), cmp_double);
    r.ops_s = (double)r.ops / elapsed;
    r.mb_s = (double)r.ops * (double)size / elapsed / 1e6;
    r.p50_ms = quantile(all, n_lat, 0.50);
    r.p99_ms = quantile(all, n_lat, 0.99);
    free(all);
    return r;
}

static int create_bucket(const struct target *t, const char *bucket)
{
    struct conn c;
    if (conn_open(&c, t) < 0) {
        return -1;
    }
    char path[128];
    snprintf(path, sizeof(path), "/%s", bucket);
    int status = request(&c, "PUT", path, "", NULL, 0, NULL, NULL);
    conn_close(&c);
    return status == 200 || status == 409 ? 0 : -1;
}

/* Walks the whole bucket with ListObjectsV2; returns keys seen, page latencies in lat. */
static long list_all(const struct target *t, const char *bucket, double *lat, size_t *n_lat)
{
    struct conn c;
    if (conn_open(&c, t) < 0) {
        return -1;
    }
    char path[128];
    snprintf(path, sizeof(path), "/%s", bucket);
    char token[1024] = "";
    long keys = 0;
    *n_lat = 0;
    for (;;) {
        char query[1200];
        if (token[0]) {
            snprintf(query, sizeof(query), "continuation-token=%s&list-type=2", token);
        } else {
            snprintf(query, sizeof(query), "list-type=2");
        }
        struct buf body;
        buf_init(&body);
        int64_t t0 = clock_mono_ns();
        int status = request(&c, "GET", path, query, NULL, 0, &body, NULL);
        lat[(*n_lat)++] = (double)(clock_mono_ns() - t0) / 1e6;
        if (status != 200) {
            buf_fini(&body);
            keys = -1;
            break;
        }
        /* Count <Key> elements and find the next token. A benchmark-only scan of a
           trusted answer; the server's own XML is parsed properly, never scanned. */
        const char *p = (const char *)body.data;
        while ((p = strstr(p, "<Key>")) != NULL) {
            keys++;
            p += 5;
        }
        const char *nt = strstr((const char *)body.data, "<NextContinuationToken>");
        token[0] = '\0';
        if (nt != NULL) {
            nt += strlen("<NextContinuationToken>");
            const char *end = strstr(nt, "</NextContinuationToken>");
            size_t o = 0;
            static const char hex[] = "0123456789ABCDEF";
            for (const char *q = nt; q < end && o + 4 < sizeof(token); q++) {
                unsigned char ch = (unsigned char)*q;
                if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
                    token[o++] = (char)ch;
                } else {
                    token[o++] = '%';
                    token[o++] = hex[ch >> 4];
                    token[o++] = hex[ch & 15];
                }
            }
            token[o] = '\0';
        }
        buf_fini(&body);
        if (token[0] == '\0' || *n_lat >= 100000) {
            break;
        }
    }
    conn_close(&c);
    return keys;
}

struct filler {
    const struct target *t;
    const char *bucket;
    long from;
    long to;
    long errors;
};

static void *fill_run(void *arg)
{
    struct filler *f = arg;
    struct conn c;
    if (conn_open(&c, f->t) < 0) {
        f->errors++;
        return NULL;
    }
    for (long i = f->from; i < f->to; i++) {
        char path[128];
        snprintf(path, sizeof(path), "/%s/keys/%03ld/key-%08ld", f->bucket, i % 1000, i);
        if (request(&c, "PUT", path, "", "x", 1, NULL, NULL) != 200) {
            f->errors++;
        }
    }
    conn_close(&c);
    return NULL;
}

static void print_row(const char *op, size_t size, int conns, const char *name,
                      const struct result *r)
{
    char fl[32] = "-";
    if (r->flushes_per_op >= 0) {
        snprintf(fl, sizeof(fl), "%.3f", r->flushes_per_op);
    }
    char sz[32];
    if (size >= (1u << 20)) {
        snprintf(sz, sizeof(sz), "%zuMiB", size >> 20);
    } else {
        snprintf(sz, sizeof(sz), "%zuKiB", size >> 10);
    }
    printf("%-4s %-7s %5d  %-8s %10.1f %10.1f %9.2f %9.2f %7ld %5ld %9s\n", op, sz, conns, name,
           r->mb_s, r->ops_s, r->p50_ms, r->p99_ms, r->ops, r->errors, fl);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct target targets[MAX_TARGETS];
    int n_targets = 0;
    double seconds = 5;
    long list_keys = 100000;
    size_t sizes[8] = {4096, 1 << 20, 64 << 20};
    int n_sizes = 3;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else if (strcmp(argv[i], "--list-keys") == 0 && i + 1 < argc) {
            list_keys = atol(argv[++i]);
        } else if (strcmp(argv[i], "--sizes") == 0 && i + 1 < argc) {
            n_sizes = 0;
            for (char *s = strtok(argv[++i], ","); s && n_sizes < 8; s = strtok(NULL, ",")) {
                sizes[n_sizes++] = (size_t)atoll(s);
            }
        } else if (strcmp(argv[i], "--target") == 0 && i + 1 < argc && n_targets < MAX_TARGETS) {
            struct target *t = &targets[n_targets];
            char hostport[96];
            if (sscanf(argv[++i], "%31[^,],%95[^,],%127[^,],%127s", t->name, hostport,
                       t->access_key, t->secret) != 4 ||
                sscanf(hostport, "%63[^:]:%d", t->host, &t->port) != 2) {
                fprintf(stderr, "s3_bench: bad --target %s\n", argv[i]);
                return 2;
            }
            n_targets++;
        } else if (strcmp(argv[i], "--flush-log") == 0 && i + 1 < argc) {
            char *eq = strchr(argv[++i], '=');
            int found = 0;
            for (int t = 0; eq != NULL && t < n_targets; t++) {
                if (strncmp(targets[t].name, argv[i], (size_t)(eq - argv[i])) == 0 &&
                    targets[t].name[eq - argv[i]] == '\0') {
                    snprintf(targets[t].flush_log, sizeof(targets[t].flush_log), "%s", eq + 1);
                    found = 1;
                }
            }
            if (!found) {
                fprintf(stderr, "s3_bench: --flush-log %s names no earlier --target\n", argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "usage: s3_bench [--seconds S] [--list-keys N] [--sizes a,b,c] "
                            "--target NAME,HOST:PORT,ACCESS,SECRET ... "
                            "[--flush-log NAME=PATH ...]\n");
            return 2;
        }
    }
    if (n_targets == 0) {
        fprintf(stderr, "s3_bench: no --target\n");
        return 2;
    }
    for (int t = 0; t < n_targets; t++) {
        if (create_bucket(&targets[t], "bench") < 0 ||
            create_bucket(&targets[t], "benchlist") < 0) {
            fprintf(stderr, "s3_bench: cannot create buckets on %s\n", targets[t].name);
            return 1;
        }
    }
    printf("%-4s %-7s %5s  %-8s %10s %10s %9s %9s %7s %5s %9s\n", "op", "size", "conns",
           "server", "MB/s", "ops/s", "p50 ms", "p99 ms", "ops", "errs", "flush/op");
    size_t max_size = 0;
    for (int s = 0; s < n_sizes; s++) {
        max_size = sizes[s] > max_size ? sizes[s] : max_size;
    }
    uint8_t *payload = malloc(max_size);
    for (size_t i = 0; i < max_size; i++) {
        payload[i] = (uint8_t)(i * 2654435761u >> 24);
    }
    int conns[] = {1, 8};
    double first_put_ops_s = 0; /* the first target's PUT ops/s of the current phase */
    for (int s = 0; s < n_sizes; s++) {
        for (int ci = 0; ci < 2; ci++) {
            for (int t = 0; t < n_targets; t++) {
                /* Big objects: bound the count so a slow server does not fill the disk. */
                long max_ops = sizes[s] >= (32u << 20) ? 16 : 1000000;
                const char *log = targets[t].flush_log;
                long before = log[0] ? count_flushes(log) : -1;
                struct result put = run_phase(&targets[t], "bench", "PUT", sizes[s], payload,
                                              conns[ci], seconds, max_ops);
                long after = before >= 0 ? count_flushes(log) : -1;
                put.flushes_per_op = after >= before && before >= 0 && put.ops > 0
                                         ? (double)(after - before) / (double)put.ops
                                         : -1;
                print_row("PUT", sizes[s], conns[ci], targets[t].name, &put);
                if (t > 0 && put.ops_s > 0) {
                    printf("     %-7s %5s  %s/%s: %.2fx\n", "", "", targets[0].name,
                           targets[t].name, first_put_ops_s / put.ops_s);
                } else {
                    first_put_ops_s = put.ops_s;
                }
            }
            for (int t = 0; t < n_targets; t++) {
                struct result get = run_phase(&targets[t], "bench", "GET", sizes[s], NULL,
                                              conns[ci], seconds, 1000000);
                get.flushes_per_op = -1;
                print_row("GET", sizes[s], conns[ci], targets[t].name, &get);
            }
        }
    }
    free(payload);
    if (list_keys > 0) {
        printf("\n%-8s %8s %12s %12s %10s %10s %10s\n", "server", "keys", "fill s", "list s",
               "keys/s", "p50 page", "p99 page");
        for (int t = 0; t < n_targets; t++) {
            int64_t t0 = clock_mono_ns();
            struct filler f[MAX_CONNS];
            pthread_t th[MAX_CONNS];
            for (int i = 0; i < MAX_CONNS; i++) {
                f[i] = (struct filler){.t = &targets[t],
                                       .bucket = "benchlist",
                                       .from = list_keys * i / MAX_CONNS,
                                       .to = list_keys * (i + 1) / MAX_CONNS};
                pthread_create(&th[i], NULL, fill_run, &f[i]);
            }
            long fill_errors = 0;
            for (int i = 0; i < MAX_CONNS; i++) {
                pthread_join(th[i], NULL);
                fill_errors += f[i].errors;
            }
            double fill_s = (double)(clock_mono_ns() - t0) / 1e9;
            double *lat = malloc(100001 * sizeof(double));
            size_t n_lat = 0;
            int64_t t1 = clock_mono_ns();
            long keys = list_all(&targets[t], "benchlist", lat, &n_lat);
            double list_s = (double)(clock_mono_ns() - t1) / 1e9;
            qsort(lat, n_lat, sizeof(double), cmp_double);
            printf("%-8s %8ld %12.1f %12.2f %10.0f %8.1fms %8.1fms%s\n", targets[t].name, keys,
                   fill_s, list_s, (double)keys / list_s, quantile(lat, n_lat, 0.50),
                   quantile(lat, n_lat, 0.99), fill_errors ? " (fill errors)" : "");
            fflush(stdout);
            free(lat);
        }
    }
    return 0;
}
