#include "core/config.h"

#include <string.h>

void config_defaults(struct sluice_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    strcpy(cfg->data_dir, "./data");
    strcpy(cfg->listen_host, "127.0.0.1");
    cfg->listen_port = 4566;
    strcpy(cfg->region, "us-east-1");
    strcpy(cfg->account_id, "000000000000");
    cfg->on_demand_stream_limit = 50;
    cfg->stream_transition_ms = 300;
    cfg->throughput_limits = 1;
    cfg->max_body_bytes = 16u << 20;
    cfg->max_spooled_body_bytes = (size_t)5 << 30;
    cfg->body_memory_budget_bytes = (size_t)256 << 20;
    cfg->body_spool_budget_bytes = (size_t)16 << 30;
    cfg->max_connections = 1000;
    cfg->max_connections_per_addr = 256;
    cfg->header_timeout_s = 10;
    cfg->idle_timeout_s = 30;
    cfg->min_body_rate_bytes_per_s = 1024;
}
