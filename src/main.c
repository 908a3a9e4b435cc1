/*
 * sluice: the command line.
 *
 *   sluice serve [--data DIR] [--listen HOST:PORT] [--region R] [--account-id N]
 *                [--shard-limit N] [--log-level debug|info|warn|error]
 *                [--max-connections N] [--max-connections-per-address N]
 *                [--header-timeout S] [--idle-timeout S] [--min-body-rate BYTES_PER_S]
 *                [--body-memory-budget BYTES] [--body-spool-budget BYTES]
 *                [--lambda NAME=URL]... [--throughput-limits on|off]
 *                [--on-demand-scaling-window-ms MS]
 *
 * serve opens the metadata store and every service on DIR, then answers AWS API
 * requests until SIGTERM or SIGINT, when it stops accepting, finishes what is running,
 * closes the logs (nothing acknowledged is lost) and exits 0.
 *
 * One process per data directory: serve takes an exclusive lock on DIR/lock before it opens
 * anything, and keeps it for its whole life (the kernel drops it when the process ends, even
 * by kill -9). A second server on the same directory would hand out the same sequence numbers
 * and overwrite the first one's records; it exits 1 at once instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "catalog/glue_api.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/store.h"
#include "delivery/delivery.h"
#include "delivery/firehose_api.h"
#include "http/http.h"
#include "iam/iam.h"
#include "iam/iam_api.h"
#include "iam/sts_api.h"
#include "kms/kms.h"
#include "lake/lake.h"
#include "lake/lake_lifecycle.h"
#include "lake/s3_api.h"
#include "metrics/metrics.h"
#include "query/athena_api.h"
#include "query/query.h"
#include "stream/kinesis_api.h"
#include "stream/stream.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sluice serve [--data DIR] [--listen HOST:PORT] [--region R]\n"
            "                    [--account-id N] [--shard-limit N]\n"
            "                    [--log-level debug|info|warn|error]\n"
            "                    [--max-connections N] [--max-connections-per-address N]\n"
            "                    [--header-timeout S] [--idle-timeout S]\n"
            "                    [--min-body-rate BYTES_PER_S] [--body-memory-budget BYTES]\n"
            "                    [--body-spool-budget BYTES] [--lambda NAME=URL]...\n"
            "                    [--throughput-limits on|off]\n"
            "                    [--on-demand-scaling-window-ms MS]\n"
            "                    [--metrics-endpoint off|open|token-file:PATH]\n"
            "                    [--test-clock]\n");
}

/* Creates dir and its parents, like mkdir -p. */
static int make_dirs(const char *dir)
{
    char *path = xstrdup(dir);
    int rc = 0;
    for (char *p = path + 1; *p && rc == 0; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0700) != 0 && errno != EEXIST) {
                rc = -errno;
            }
            *p = '/';
        }
    }
    if (rc == 0 && mkdir(path, 0700) != 0 && errno != EEXIST) {
        rc = -errno;
    }
    free(path);
    return rc;
}

/*
 * Takes the data directory's lock: DIR/lock (created 0600), flock(LOCK_EX | LOCK_NB), our pid
 * written into it for the message of a server that finds it taken. The descriptor is left
 * open on purpose, so the lock lasts as long as the process. Returns 0; 1 when another
 * process holds it, -errno when it cannot be taken. Prints why it failed to stderr.
 */
static int lock_data_dir(const char *dir)
{
    char *path = xasprintf("%s/lock", dir);
    int rc = 0;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
        fprintf(stderr, "sluice: cannot open %s: %s\n", path, strerror(errno));
        goto out_free;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        if (err == EWOULDBLOCK) {
            char pid[32] = "";
            ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
            pid[n > 0 ? n : 0] = '\0';
            pid[strcspn(pid, "\n")] = '\0';
            fprintf(stderr,
                    "sluice: data directory %s is in use by another sluice process (pid %s)\n", dir,
                    pid[0] ? pid : "unknown");
            rc = 1;
        } else {
            fprintf(stderr, "sluice: cannot lock %s: %s\n", path, strerror(err));
            rc = -err;
        }
        close(fd);
        goto out_free;
    }
    char pid[32];
    int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        /* Only the message of a second server needs it. */
        log_msg(LOG_WARN, "main", "cannot write the pid into %s", path);
    }
out_free:
    free(path);
    return rc;
}

static int parse_listen(const char *arg, struct sluice_config *cfg)
{
    const char *colon = strrchr(arg, ':');
    if (colon == NULL || colon == arg || (size_t)(colon - arg) >= sizeof(cfg->listen_host)) {
        return -1;
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 1 || port > 65535) {
        return -1;
    }
    snprintf(cfg->listen_host, sizeof(cfg->listen_host), "%.*s", (int)(colon - arg), arg);
    cfg->listen_port = (int)port;
    return 0;
}

static int valid_account_id(const char *s)
{
    size_t n = strlen(s);
    if (n != 12) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }
    return 1;
}

/* A positive integer option within [1, max]; 0 on success. */
static int parse_count(const char *opt, const char *val, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(val, &end, 10);
    if (errno != 0 || *end != '\0' || end == val || n < 1 || n > max) {
        fprintf(stderr, "sluice: bad %s %s\n", opt, val);
        return -1;
    }
    *out = n;
    return 0;
}

/* Raises the soft open-file limit to the hard one: every shard and connection holds
   descriptors, and a systemd service starts with a soft limit of 1024. */
static void raise_nofile_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            log_msg(LOG_WARN, "main", "cannot raise the open-file limit from %llu: %s",
                    (unsigned long long)was, strerror(errno));
        }
    }
}

/* GET /metrics (Prometheus): off, open (loopback listeners only) or "token-file:PATH",
   whose first line is the bearer token a scrape must carry. */
static const char *metrics_endpoint = "off";

/* The bearer token of --metrics-endpoint token-file:PATH, or NULL (reported). */
static char *read_metrics_token(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[512];
    if (f == NULL || fgets(line, sizeof(line), f) == NULL) {
        fprintf(stderr, "sluice: cannot read the metrics token from %s\n", path);
        if (f != NULL) {
            fclose(f);
        }
        return NULL;
    }
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    if (strlen(line) < 16) {
        fprintf(stderr, "sluice: the metrics token in %s is shorter than 16 characters\n",
                path);
        return NULL;
    }
    return xstrdup(line);
}

/* --test-clock: POST /_sluice/clock/advance?seconds=N moves S3 lifecycle's clock (tests
   only; loopback listeners only). */
static int test_clock;

/* How often the S3 lifecycle sweeper runs (S3 applies rules once a day). */
#define LIFECYCLE_SWEEP_INTERVAL_S 3600

static int parse_serve_args(int argc, char **argv, struct sluice_config *cfg)
{
    for (int i = 2; i < argc; i++) {
        const char *opt = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strcmp(opt, "--test-clock") == 0) {
            test_clock = 1;
            continue;
        }
        if (val == NULL) {
            fprintf(stderr, "sluice: %s needs a value\n", opt);
            return -1;
        }
        i++;
        if (strcmp(opt, "--data") == 0) {
            if (strlen(val) >= sizeof(cfg->data_dir)) {
                fprintf(stderr, "sluice: --data path too long\n");
                return -1;
            }
            snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s", val);
        } else if (strcmp(opt, "--listen") == 0) {
            if (parse_listen(val, cfg) < 0) {
                fprintf(stderr, "sluice: --listen wants HOST:PORT, got %s\n", val);
                return -1;
            }
        } else if (strcmp(opt, "--region") == 0) {
            if (strlen(val) == 0 || strlen(val) >= sizeof(cfg->region)) {
                fprintf(stderr, "sluice: bad --region %s\n", val);
                return -1;
            }
            snprintf(cfg->region, sizeof(cfg->region), "%s", val);
        } else if (strcmp(opt, "--account-id") == 0) {
            if (!valid_account_id(val)) {
                fprintf(stderr, "sluice: --account-id wants twelve digits, got %s\n", val);
                return -1;
            }
            snprintf(cfg->account_id, sizeof(cfg->account_id), "%s", val);
        } else if (strcmp(opt, "--shard-limit") == 0) {
            cfg->shard_limit = atoi(val);
            if (cfg->shard_limit < 1 || cfg->shard_limit > 1000000) {
                fprintf(stderr, "sluice: bad --shard-limit %s\n", val);
                return -1;
            }
        } else if (strcmp(opt, "--log-level") == 0) {
            static const char *const levels[] = {"debug", "info", "warn", "error"};
            int found = 0;
            for (int l = 0; l < 4; l++) {
                if (strcmp(val, levels[l]) == 0) {
                    log_set_level((enum log_level)l);
                    found = 1;
                }
            }
            if (!found) {
                fprintf(stderr, "sluice: bad --log-level %s\n", val);
                return -1;
            }
        } else if (strcmp(opt, "--max-connections") == 0 ||
                   strcmp(opt, "--max-connections-per-address") == 0 ||
                   strcmp(opt, "--header-timeout") == 0 || strcmp(opt, "--idle-timeout") == 0 ||
                   strcmp(opt, "--min-body-rate") == 0) {
            long long n;
            if (parse_count(opt, val, 1000000, &n) < 0) {
                return -1;
            }
            int *field = strcmp(opt, "--max-connections") == 0 ? &cfg->max_connections
                         : strcmp(opt, "--max-connections-per-address") == 0
                             ? &cfg->max_connections_per_addr
                         : strcmp(opt, "--header-timeout") == 0 ? &cfg->header_timeout_s
                         : strcmp(opt, "--idle-timeout") == 0   ? &cfg->idle_timeout_s
                                                                : &cfg->min_body_rate_bytes_per_s;
            *field = (int)n;
        } else if (strcmp(opt, "--body-memory-budget") == 0 ||
                   strcmp(opt, "--body-spool-budget") == 0) {
            long long n;
            if (parse_count(opt, val, (long long)1 << 50, &n) < 0) {
                return -1;
            }
            *(strcmp(opt, "--body-memory-budget") == 0 ? &cfg->body_memory_budget_bytes
                                                       : &cfg->body_spool_budget_bytes) =
                (size_t)n;
        } else if (strcmp(opt, "--throughput-limits") == 0) {
            /* Off for benchmarks and bulk loads; on as AWS, for testing retry logic. */
            if (strcmp(val, "on") != 0 && strcmp(val, "off") != 0) {
                fprintf(stderr, "sluice: --throughput-limits wants on or off, got %s\n", val);
                return -1;
            }
            cfg->throughput_limits = strcmp(val, "on") == 0;
        } else if (strcmp(opt, "--on-demand-scaling-window-ms") == 0) {
            /* For tests: on-demand streams measure their writes over a minute, as long as a
               test cannot wait; a shorter window lets one see a stream scale. */
            long long n;
            if (parse_count(opt, val, 3600 * 1000, &n) < 0) {
                return -1;
            }
            if (n < 100) {
                fprintf(stderr, "sluice: --on-demand-scaling-window-ms wants at least 100\n");
                return -1;
            }
            cfg->on_demand_window_ms = (int)n;
        } else if (strcmp(opt, "--metrics-endpoint") == 0) {
            if (strcmp(val, "off") != 0 && strcmp(val, "open") != 0 &&
                strncmp(val, "token-file:", 11) != 0) {
                fprintf(stderr, "sluice: --metrics-endpoint wants off, open or "
                                "token-file:PATH, got %s\n", val);
                return -1;
            }
            metrics_endpoint = val;
        } else if (strcmp(opt, "--lambda") == 0) {
            const char *eq = strchr(val, '=');
            struct sluice_lambda *l = &cfg->lambdas[cfg->n_lambdas];
            if (eq == NULL || eq == val || (size_t)(eq - val) >= sizeof(l->name) ||
                strncmp(eq + 1, "http://", 7) != 0 || strlen(eq + 1) >= sizeof(l->url) ||
                cfg->n_lambdas >= SLUICE_LAMBDAS_MAX) {
                fprintf(stderr,
                        "sluice: --lambda wants NAME=http://HOST:PORT/PATH (at most %d), "
                        "got %s\n",
                        SLUICE_LAMBDAS_MAX, val);
                return -1;
            }
            snprintf(l->name, sizeof(l->name), "%.*s", (int)(eq - val), val);
            snprintf(l->url, sizeof(l->url), "%s", eq + 1);
            cfg->n_lambdas++;
        } else {
            fprintf(stderr, "sluice: unknown option %s\n", opt);
            usage(stderr);
            return -1;
        }
    }
    /* Open only where no one else can reach it: scrapers cannot sign requests. */
    if (strcmp(metrics_endpoint, "open") == 0 && strcmp(cfg->listen_host, "127.0.0.1") != 0 &&
        strcmp(cfg->listen_host, "::1") != 0 && strcmp(cfg->listen_host, "localhost") != 0) {
        fprintf(stderr, "sluice: --metrics-endpoint open needs a loopback --listen; use "
                        "token-file:PATH on %s\n", cfg->listen_host);
        return -1;
    }
    if (test_clock && strcmp(cfg->listen_host, "127.0.0.1") != 0 &&
        strcmp(cfg->listen_host, "::1") != 0 && strcmp(cfg->listen_host, "localhost") != 0) {
        fprintf(stderr, "sluice: --test-clock needs a loopback --listen\n");
        return -1;
    }
    return 0;
}

static int serve(const struct sluice_config *cfg)
{
    /* Everything under the data directory is the owner's alone: files 0600, dirs 0700. */
    umask(077);
    int rc = make_dirs(cfg->data_dir);
    if (rc < 0) {
        log_msg(LOG_ERROR, "main", "cannot create %s: %s", cfg->data_dir, sl_strerror(rc));
        return 1;
    }
    if (lock_data_dir(cfg->data_dir) != 0) {
        return 1;
    }
    /* Block the stop signals in every thread; this one waits for them below. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGUSR1); /* flush every delivery stream, sample the metrics */
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile_limit();

    int exit_code = 1;
    struct store *store = NULL;
    struct iam *iam = NULL;
    struct kms *kms = NULL;
    struct stream_service *streams = NULL;
    struct lake *lake = NULL;
    struct catalog *catalog = NULL;
    struct delivery_service *delivery = NULL;
    struct query_service *query = NULL;
    struct metrics *metrics = NULL;
    struct api_registry *reg = NULL;
    struct api_query_service *sts_api = NULL, *iam_query_api = NULL, *cw_query_api = NULL;
    struct api_json_service *kinesis_api = NULL, *glue_api = NULL, *firehose_api = NULL,
                           *athena_api = NULL, *cw_json_api = NULL, *kms_api = NULL;
    struct api_rest_service *s3_api = NULL;
    struct http_server *http = NULL;
    struct prometheus *prom = NULL;
    struct cost *cost = NULL;
    struct metrics_s3 *s3_metrics = NULL;
    struct console *console = NULL;
    struct s3_lifecycle_clock *lc_clock = NULL;
    struct lake_lc_sweeper *lc_sweeper = NULL;

    char *db_path = xasprintf("%s/sluice.db", cfg->data_dir);
    rc = store_open(db_path, &store);
    free(db_path);
    if (rc < 0) {
        goto out;
    }
    if ((rc = iam_open(store, cfg, &iam)) < 0) {
        goto out_close_store;
    }
    if ((rc = kms_open(store, cfg, &kms)) < 0) {
        goto out_close_iam;
    }
    kms_set_authorizer(kms, iam_kms_authorize, iam);
    if ((rc = stream_service_open(store, cfg, &streams)) < 0) {
        log_msg(LOG_ERROR, "main", "cannot open streams: %s", sl_strerror(rc));
        goto out_close_iam;
    }
    stream_service_set_kms(streams, kms);
    if ((rc = lake_open(store, cfg, &lake)) < 0) {
        log_msg(LOG_ERROR, "main", "cannot open the lake: %s", sl_strerror(rc));
        goto out_close_services;
    }
    lake_set_kms(lake, kms, cfg->region, cfg->account_id);
    if ((rc = catalog_open(store, cfg, &catalog)) < 0) {
        log_msg(LOG_ERROR, "main", "cannot open the catalog: %s", sl_strerror(rc));
        goto out_close_services;
    }
    if ((rc = delivery_service_open(store, cfg, streams, lake, &delivery)) < 0) {
        log_msg(LOG_ERROR, "main", "cannot open delivery: %s", sl_strerror(rc));
        goto out_close_services;
    }
    delivery_service_set_catalog(delivery, catalog);
    delivery_service_set_s3_authorizer(delivery, iam_firehose_s3_authorize, iam);
    delivery_service_set_role_checks(delivery, iam_firehose_kinesis_authorize,
                                     iam_firehose_assume_check, iam);
    if ((rc = query_service_open(store, cfg, lake, catalog, &query)) < 0) {
        log_msg(LOG_ERROR, "main", "cannot open the query service: %s", sl_strerror(rc));
        goto out_close_services;
    }
    query_service_set_authorizer(query, iam_caller_authorize, iam);
    struct metrics_options mopt = {.store = store, .background = 1};
    if ((rc = metrics_open(&mopt, &metrics)) < 0) {
        log_msg(LOG_ERROR, "main", "cannot open metrics: %s", sl_strerror(rc));
        goto out_close_services;
    }
    metrics_add_source(metrics, metrics_source_kinesis, streams);
    metrics_add_source(metrics, metrics_source_firehose, delivery);
    struct metrics_athena_source athena_src = {
        .query = query, .region = cfg->region, .last_ms = -1};
    metrics_add_source(metrics, metrics_source_athena, &athena_src);
    s3_metrics = metrics_s3_create(lake);
    delivery_service_set_s3_observer(delivery, metrics_s3_observe_put, s3_metrics);
    metrics_add_source(metrics, metrics_source_s3, s3_metrics);
    sts_api = sts_api_create(iam);
    iam_query_api = iam_api_create(iam);
    cw_json_api = cloudwatch_json_api_create(metrics);
    cw_query_api = cloudwatch_query_api_create(metrics);
    firehose_api = firehose_api_create(delivery);
    kinesis_api = kinesis_api_create(streams);
    glue_api = glue_api_create(catalog);
    s3_api = s3_api_create(lake);
    athena_api = athena_api_create(query);
    kms_api = kms_api_create(kms);
    reg = api_registry_create();
    api_registry_add_query(reg, sts_api);
    api_registry_add_query(reg, iam_query_api);
    api_registry_add_query(reg, cw_query_api);
    api_registry_add_json(reg, cw_json_api);
    api_registry_add_json(reg, kinesis_api);
    api_registry_add_json(reg, glue_api);
    api_registry_add_json(reg, firehose_api);
    api_registry_add_json(reg, athena_api);
    api_registry_add_json(reg, kms_api);
    api_registry_add_rest(reg, s3_api);
    api_registry_observe_detail(reg, metrics_s3_observe, s3_metrics);
    console = console_create(cfg->region);
    api_registry_add_plain(reg, console_page(console));
    api_registry_add_plain(reg, console_script(console));
    if (strcmp(metrics_endpoint, "off") != 0) {
        /* open was checked against --listen; a token file is read now */
        int open_scrape = strcmp(metrics_endpoint, "open") == 0;
        char *token =
            open_scrape ? NULL : read_metrics_token(metrics_endpoint + strlen("token-file:"));
        if (!open_scrape && token == NULL) {
            rc = SL_E(VALIDATION);
            goto out_close_services;
        }
        prom = prometheus_create(metrics, streams, delivery, token);
        prometheus_set_query(prom, query);
        cost = cost_create(metrics, streams, delivery, query, cfg->region, token);
        free(token);
        api_registry_add_plain(reg, prometheus_service(prom));
        api_registry_add_plain(reg, cost_service(cost));
        api_registry_observe(reg, prometheus_observe, prom);
    }
    if (test_clock) {
        lc_clock = s3_lifecycle_clock_create(lake);
        api_registry_add_plain(reg, s3_lifecycle_clock_service(lc_clock));
        log_msg(LOG_WARN, "main", "--test-clock: POST /_sluice/clock/advance moves lifecycle time");
    }
    lc_sweeper = lake_lifecycle_start(lake, LIFECYCLE_SWEEP_INTERVAL_S);
    if ((rc = http_server_open(cfg, reg, iam_key_lookup, iam_authorize, iam, &http)) < 0) {
        goto out_close_services;
    }
    log_msg(LOG_INFO, "main", "listening on http://%s:%d (data in %s, region %s, account %s)",
            cfg->listen_host, cfg->listen_port, cfg->data_dir, cfg->region, cfg->account_id);
    printf("sluice: listening on http://%s:%d\n", cfg->listen_host, cfg->listen_port);
    fflush(stdout);

    int sig = 0;
    while (sigwait(&stop_signals, &sig) == 0 && sig == SIGUSR1) {
        delivery_service_flush_all(delivery);
        metrics_sample_now(metrics); /* after the flush, so its deliveries count */
        lake_lifecycle_sweep(lake, lake_lifecycle_now_ms(), NULL);
    }
    log_msg(LOG_INFO, "main", "signal %d: shutting down", sig);
    http_server_close(http);
    exit_code = 0;
out_close_services:
    lake_lifecycle_stop(lc_sweeper);
    api_registry_destroy(reg);
    s3_lifecycle_clock_destroy(lc_clock);
    prometheus_destroy(prom);
    cost_destroy(cost);
    console_destroy(console);
    s3_api_destroy(s3_api);
    glue_api_destroy(glue_api);
    kinesis_api_destroy(kinesis_api);
    firehose_api_destroy(firehose_api);
    sts_api_destroy(sts_api);
    iam_api_destroy(iam_query_api);
    athena_api_destroy(athena_api);
    kms_api_destroy(kms_api);
    cloudwatch_api_destroy(cw_json_api, cw_query_api);
    metrics_close(metrics);
    query_service_close(query);
    delivery_service_close(delivery);
    metrics_s3_destroy(s3_metrics); /* after delivery's last writes, which it counts */
    catalog_close(catalog);
    lake_close(lake);
    stream_service_close(streams);
out_close_iam:
    kms_close(kms);
    iam_close(iam);
out_close_store:
    store_close(store);
out:
    if (exit_code == 0) {
        log_msg(LOG_INFO, "main", "stopped cleanly");
    }
    return exit_code;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "serve") == 0) {
        struct sluice_config cfg;
        config_defaults(&cfg);
        if (parse_serve_args(argc, argv, &cfg) < 0) {
            return 2;
        }
        return serve(&cfg);
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "sluice: unknown command %s\n", argv[1]);
    usage(stderr);
    return 2;
}
