/* Inside the metrics part: what the store, the sources and the API share. */
#ifndef SLUICE_METRICS_METRICS_INT_H
#define SLUICE_METRICS_METRICS_INT_H

#include "metrics/metrics.h"

/*
 * Records the increase of a counter that only grows while the server runs (a source's
 * "since start" figure): the first call for a key takes its whole value (the server
 * started from zero), later calls the difference; a counter that went down (its stream
 * was deleted and made again) restarts from its new value. Nothing is written when the
 * increase is 0, as AWS publishes no datapoint for an idle minute.
 */
void metrics__put_increase(struct metrics *m, const struct metrics_key *k, const char *unit,
                           int64_t now_ms, double total);
/* Records a gauge as one sample (count 1). */
void metrics__put_gauge(struct metrics *m, const struct metrics_key *k, const char *unit,
                        int64_t now_ms, double value);
/* The store the metrics live in (a source's own settings). */
struct store *metrics__store(struct metrics *m);

#endif
