/*
 * The query service: Athena over the lake. Workgroups and query executions are kept in
 * the shared metadata store; queries run on a small pool of worker threads, each with
 * its own DuckDB connection on an engine that can reach only the lake's object files and
 * the service's staging directory (never the data root: metadata and credentials stay
 * out of reach).
 *
 * A query's life (the state column of query_executions):
 *
 *     StartQueryExecution
 *           |
 *           v
 *        QUEUED ----StopQueryExecution----------------+
 *           | a worker takes it                        |
 *           v                                          v
 *        RUNNING --StopQueryExecution / bytes cutoff--> CANCELLED
 *           |  \
 *           |   +--refused, syntax, missing table, engine error--> FAILED
 *           v
 *       SUCCEEDED   (result CSV written to the result location in the lake)
 *
 * SUCCEEDED, FAILED and CANCELLED are final: no transition leaves them (the store's
 * UPDATEs are conditional on the state they leave, so a stop racing a finishing query
 * ends in exactly one of them).
 *
 * Threads: every function may be called from any thread.
 */
#ifndef SLUICE_QUERY_QUERY_H
#define SLUICE_QUERY_QUERY_H

#include "catalog/catalog.h"
#include "core/config.h"
#include "core/store.h"
#include "lake/lake.h"

struct query_service;
struct api_request;

/*
 * Whether the caller of StartQueryExecution (who: its principal_* fields, access_key_id,
 * region, now_ms) may do action on resource, as Athena asks on its behalf. bucket names the
 * S3 bucket whose policy counts too (NULL for Glue); s3_prefix is s3:ListBucket's s3:prefix
 * (NULL when none). 0, or SL_E(ACCESS_DENIED) with IAM's "User: ... is not authorized to
 * perform: ..." in err. Root is allowed everything.
 */
typedef int (*query_authorize_fn)(void *arg, const struct api_request *who, const char *action,
                                  const char *resource, const char *bucket, const char *s3_prefix,
                                  struct err_info *err);

/*
 * Opens the service: applies the "query" migrations, makes sure workgroup `primary`
 * exists, fails queries a previous run left QUEUED or RUNNING, opens the DuckDB engine
 * (allowed directories: the lake's object files and <data>/query-staging) and starts the
 * workers. st, cfg, lake and cat must outlive it. Returns 0, SL_E(IO), SL_E(INTERNAL).
 */
int query_service_open(struct store *st, const struct sluice_config *cfg, struct lake *lake,
                       struct catalog *cat, struct query_service **out /* OUT */);
/* Makes queries read the catalog and the lake and write their results as their caller:
   each table, object and result is authorized with fn(arg, ...) first. Without it (NULL)
   queries are not checked. Call before the first StartQueryExecution. */
void query_service_set_authorizer(struct query_service *svc, query_authorize_fn fn, void *arg);

/* Stops the workers (a running query is interrupted and left FAILED on restart) and
 * closes the engine. Accepts NULL. */
void query_service_close(struct query_service *svc);

/*
 * The queries that finished (SUCCEEDED, FAILED or CANCELLED) in (after_ms, until_ms] in
 * workgroups with PublishCloudWatchMetricsEnabled, for the metrics sampler: *out (OUT) is
 * malloc'd, freed with free(). Returns 0 or a store error.
 */
struct query_finished {
    char workgroup[129];
    char state[16];          /* QueryState */
    char query_type[16];     /* QueryType: "DML", "DDL" or "UTILITY" */
    int64_t completed_ms;
    int64_t processed_bytes; /* ProcessedBytes */
    int64_t engine_ms;       /* EngineExecutionTime */
    int64_t queue_ms;        /* QueryQueueTime */
    int64_t total_ms;        /* TotalExecutionTime */
    int64_t planning_ms;     /* QueryPlanningTime: 0, not timed apart from the engine's run */
    int64_t service_ms;      /* ServiceProcessingTime: the whole less queue and engine */
};
int query_finished_between(struct query_service *svc, int64_t after_ms, int64_t until_ms,
                           struct query_finished **out, size_t *n_out);

/* Queries kept per workgroup and state, with the bytes they scanned, for /metrics. *out
   (OUT) is malloc'd. Returns 0 or a store error. */
struct query_workgroup_total {
    char workgroup[129];
    char state[16];
    uint64_t queries;
    uint64_t scanned_bytes;
};
int query_workgroup_totals(struct query_service *svc, struct query_workgroup_total **out,
                           size_t *n_out);

#endif
