/*
 * Parallel shard syncs. A PutRecords batch usually touches several shards, and each
 * shard is its own log with its own fdatasync. Waiting for them one after another costs
 * the sum of the flushes; the disk serves concurrent flushes nearly as fast as one, so
 * the request thread syncs one shard itself and hands the others to a small pool of
 * threads that spend their lives blocked in fdatasync (or in a group commit that
 * another request leads). A pool whose threads could not be started syncs every shard in
 * the caller's thread instead.
 */
#include <stdlib.h>

#include "core/log.h"
#include "core/mem.h"
#include "stream/stream_int.h"

struct sync_job {
    struct seglog *log;
    uint64_t upto;
    int *result;
    struct sync_batch *batch;
    struct sync_job *next;
};

struct sync_batch {
    pthread_mutex_t lock;
    pthread_cond_t done;
    size_t pending; /* jobs not yet finished, under lock */
};

struct sync_pool {
    pthread_mutex_t lock;
    pthread_cond_t work;
    struct sync_job *head, *tail; /* FIFO of queued jobs, under lock */
    int stopping;
    size_t n_threads;
    pthread_t threads[];
};

static void finish(struct sync_job *job, int rc)
{
    *job->result = rc;
    struct sync_batch *b = job->batch;
    pthread_mutex_lock(&b->lock);
    if (--b->pending == 0) {
        pthread_cond_signal(&b->done);
    }
    pthread_mutex_unlock(&b->lock);
}

static void *worker_main(void *arg)
{
    struct sync_pool *pool = arg;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (pool->head == NULL && !pool->stopping) {
            pthread_cond_wait(&pool->work, &pool->lock);
        }
        if (pool->head == NULL) {
            break;
        }
        struct sync_job *job = pool->head;
        pool->head = job->next;
        if (pool->head == NULL) {
            pool->tail = NULL;
        }
        pthread_mutex_unlock(&pool->lock);
        finish(job, seglog_sync(job->log, job->upto));
        pthread_mutex_lock(&pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

struct sync_pool *stream__sync_pool_create(size_t n_threads)
{
    struct sync_pool *pool = xcalloc(1, sizeof(*pool) + n_threads * sizeof(pthread_t));
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->work, NULL);
    for (size_t i = 0; i < n_threads; i++) {
        if (pthread_create(&pool->threads[i], NULL, worker_main, pool) != 0) {
            /* Fewer threads only cost parallelism; none at all and stream__sync_many
             * syncs in the caller's thread. */
            log_msg(LOG_WARN, "stream", "sync pool: started %zu of %zu threads", i, n_threads);
            break;
        }
        pool->n_threads++;
    }
    return pool;
}

void stream__sync_pool_destroy(struct sync_pool *pool)
{
    if (pool == NULL) {
        return;
    }
    pthread_mutex_lock(&pool->lock);
    pool->stopping = 1;
    pthread_cond_broadcast(&pool->work);
    pthread_mutex_unlock(&pool->lock);
    for (size_t i = 0; i < pool->n_threads; i++) {
        pthread_join(pool->threads[i], NULL);
    }
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->work);
    free(pool);
}

void stream__sync_many(struct sync_pool *pool, struct seglog *const *logs, const uint64_t *upto,
                       int *results, size_t n)
{
    if (n == 0) {
        return;
    }
    if (pool == NULL || pool->n_threads == 0) {
        /* No worker could be started (pthread_create failed): nobody would ever take a
         * queued job, so sync one shard after another in this thread. */
        for (size_t i = 0; i < n; i++) {
            results[i] = seglog_sync(logs[i], upto[i]);
        }
        return;
    }
    struct sync_batch batch;
    pthread_mutex_init(&batch.lock, NULL);
    pthread_cond_init(&batch.done, NULL);
    batch.pending = n - 1;
    struct sync_job *jobs = n > 1 ? xcalloc(n - 1, sizeof(*jobs)) : NULL;
    if (n > 1) {
        pthread_mutex_lock(&pool->lock);
        for (size_t i = 1; i < n; i++) {
            struct sync_job *job = &jobs[i - 1];
            *job = (struct sync_job){.log = logs[i], .upto = upto[i], .result = &results[i],
                                     .batch = &batch};
            if (pool->tail != NULL) {
                pool->tail->next = job;
            } else {
                pool->head = job;
            }
            pool->tail = job;
        }
        pthread_cond_broadcast(&pool->work);
        pthread_mutex_unlock(&pool->lock);
    }
    results[0] = seglog_sync(logs[0], upto[0]);
    pthread_mutex_lock(&batch.lock);
    while (batch.pending > 0) {
        pthread_cond_wait(&batch.done, &batch.lock);
    }
    pthread_mutex_unlock(&batch.lock);
    pthread_mutex_destroy(&batch.lock);
    pthread_cond_destroy(&batch.done);
    free(jobs);
}
