/* Server configuration: defaults, then the command line. Read-only once serving. */
#ifndef SLUICE_CORE_CONFIG_H
#define SLUICE_CORE_CONFIG_H

#include <stddef.h>

#define SLUICE_LAMBDAS_MAX 32

struct sluice_config {
    char data_dir[512];       /* where everything durable lives; default ./data */
    char listen_host[64];     /* default 127.0.0.1 */
    int listen_port;          /* default 4566 */
    char region[32];          /* default region for resources; default us-east-1 */
    char account_id[16];      /* twelve digits; default 000000000000 */
    int shard_limit;          /* account shard quota; 0 picks AWS's default for the region */
    int on_demand_stream_limit;   /* on-demand streams per account; AWS default 50 */
    int stream_transition_ms;     /* how long CREATING/DELETING/UPDATING last */
    int throughput_limits;        /* 1 (default): Kinesis rate limits as AWS's; 0: none */
    int on_demand_window_ms;      /* on-demand scaling's window; 0 (default): one minute */
    size_t max_body_bytes;        /* largest in-memory request body (JSON and query) */
    size_t max_spooled_body_bytes; /* largest body a service may take spooled to disk */
    /* The front end's defences against clients that hold resources without using them. */
    size_t body_memory_budget_bytes; /* request bodies held in memory, all connections */
    size_t body_spool_budget_bytes;  /* request bodies spooled to disk, all connections */
    int max_connections;          /* open client connections; lowered to fit the fd limit */
    int max_connections_per_addr; /* open connections from one IP address */
    int header_timeout_s;   /* a new connection's first request head must arrive by then */
    int idle_timeout_s;     /* a kept-alive connection's next request, or any silence */
    int min_body_rate_bytes_per_s; /* a body slower than this over 10 s is cut off */
    /* --lambda NAME=URL: the HTTP endpoint standing in for each Lambda function a
       Firehose transform names (there is no Lambda service). */
    struct sluice_lambda {
        char name[65]; /* a function name, up to 64 characters */
        char url[256]; /* http://host[:port][/path] */
    } lambdas[SLUICE_LAMBDAS_MAX];
    int n_lambdas;
};

void config_defaults(struct sluice_config *cfg);

#endif
