/*
 * The delivery engine of one delivery stream: reader threads fill a buffer, a flusher
 * thread turns it into objects.
 *
 *   reader (one per source)                     flusher
 *   ───────────────────────                     ───────
 *   wait for room in the buffer                 wait until the buffer is due: SizeInMBs
 *   read durable records (no lock held)           reached, IntervalInSeconds passed since
 *   append them under ds->mu, note the            its first record came in, or a flush
 *     source's buffered position                  asked for records it holds
 *   no records: wait for new ones               take the buffer and the positions it
 *     (the log: PutRecord's signal;               covers (ds->mu), then without any lock:
 *      a shard: stream_reader_wait)               compress, name, write the object through
 *                                                 the lake (retried with backoff until it
 *                                                 succeeds or the engine stops), store the
 *                                                 positions, trim the internal log
 *
 * Positions in the store move only after their object is durable in the lake, so a crash
 * at any point re-delivers from the last stored position: every acknowledged record is
 * delivered at least once.
 * The stages before partitioning (de-aggregation, the Lambda transform) run in the
 * flusher on the buffer it took (transform.c). With source record backup the buffer as
 * taken is first written as one backup object (the backup's bucket, prefix and
 * compression), so a buffer's positions move only after its backup object, its delivered
 * objects and its error objects are all durable.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "delivery/compress.h"
#include "delivery/delivery_int.h"
#include "delivery/partition.h"
#include "http/api.h"
#include "http/http.h"

#define READ_MAX_RECORDS 10000
#define NO_SHARD UINT32_MAX  /* a Kinesis source slot not given to a shard yet */
#define SPARE_SLOTS_MIN 1024 /* slots for shards that resharding adds while running */
#define WAIT_SLICE_MS 250    /* longest sleep before the flusher looks at the clock again */
#define RETRY_MAX_MS 30000

/* Waits on cond for at most ms of real time. */
static void timed_wait(pthread_cond_t *cond, pthread_mutex_t *mu, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = ts.tv_nsec + (ms % 1000) * 1000000LL;
    ts.tv_sec += (time_t)(ms / 1000 + ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    pthread_cond_timedwait(cond, mu, &ts);
}

static size_t limit_bytes(const struct dstream *ds)
{
    return (size_t)ds->dest.size_mb * 1024 * 1024;
}

/* What a reader gathered in one read, before it enters the buffer. */
struct gather {
    struct buf data;
    struct buf recs; /* struct delivery_rec, offsets into data */
    uint32_t src_idx;
    uint64_t n_records;
    int64_t oldest_ms;
    int64_t newest_ms;
    int keep_pk; /* store each partition key after its data (a transform's event names it) */
};

static int gather_visit(void *arg, uint64_t index, int64_t arrival_ms, const char *pk,
                        size_t pk_len, const uint8_t *data, size_t data_len)
{
    struct gather *g = arg;
    struct delivery_rec rec = {.off = g->data.len,
                               .len = (uint32_t)data_len,
                               .src_idx = g->src_idx,
                               .arrival_ms = arrival_ms,
                               .index = index,
                               .pk_len = g->keep_pk ? (uint32_t)pk_len : 0};
    if (buf_append(&g->data, data, data_len) < 0 ||
        (rec.pk_len > 0 && buf_append(&g->data, pk, pk_len) < 0) ||
        buf_append(&g->recs, &rec, sizeof(rec)) < 0) {
        return SL_E(NOMEM);
    }
    if (g->n_records == 0 || arrival_ms < g->oldest_ms) {
        g->oldest_ms = arrival_ms;
    }
    if (arrival_ms > g->newest_ms) {
        g->newest_ms = arrival_ms;
    }
    g->n_records++;
    return 0;
}

/* Returns a reader's reserved room (ds->mu held) and wakes the other readers. */
static void give_back(struct dstream *ds, size_t room)
{
    ds->buf_reserved -= room;
    pthread_cond_broadcast(&ds->space);
}

static void *reader_main(void *arg);
static int position_get(struct delivery_service *svc, int64_t id, uint32_t source, uint64_t *out);

/*
 * Following resharding. A Kinesis source has a slot per shard it reads; the slots are
 * sized when the engine starts, with spares for the children resharding adds while it
 * runs (a slot is never given to another shard: the flusher matches positions to slots).
 * A shard is read only once every parent is drained (all its records in the buffer, or
 * delivered before: its stored position at its end), so within a partition key the
 * parent's records go out before the child's. The reader of a closed shard, at its end,
 * starts its children whose parents are all drained, then stops.
 */

/* The slot reading shard_idx, or NULL (ds->mu held). */
static struct dsource *slot_of(struct dstream *ds, uint32_t shard_idx)
{
    for (size_t i = 0; i < ds->n_sources; i++) {
        if (ds->sources[i].shard_idx == shard_idx) {
            return &ds->sources[i];
        }
    }
    return NULL;
}

/* 1 when every record of the closed shard sh is buffered or delivered (ds->mu held). */
static int drained(struct dstream *ds, const struct stream_shard_info *sh)
{
    if (sh->open) {
        return 0;
    }
    struct dsource *src = slot_of(ds, sh->shard_idx);
    uint64_t pos = 0;
    if (src != NULL) {
        return src->buffered_next >= sh->ending_index;
    }
    return position_get(ds->svc, ds->id, sh->shard_idx, &pos) == 0 && pos >= sh->ending_index;
}

/* 1 when shard i of shards has every parent drained (ds->mu held). */
static int parents_drained(struct dstream *ds, const struct stream_shard_info *shards, size_t n,
                           size_t i)
{
    int64_t parents[2] = {shards[i].parent_idx, shards[i].adjacent_parent_idx};
    for (int k = 0; k < 2; k++) {
        if (parents[k] >= 0 && (size_t)parents[k] < n && !drained(ds, &shards[parents[k]])) {
            return 0;
        }
    }
    return 1;
}

/*
 * Opens a reader on shard sh in slot src: at its stored position; without one, a
 * resharding's child from its start and a first shard at LATEST (as the delivery stream
 * was created), storing that. Returns 0 or the stream's error.
 */
static int source_open(struct dstream *ds, struct dsource *src, const struct stream_shard_info *sh)
{
    struct delivery_service *svc = ds->svc;
    uint64_t pos = 0;
    struct stream_position where = {.type = STREAM_AT_INDEX};
    if (position_get(svc, ds->id, sh->shard_idx, &pos) != 0) {
        where.type = sh->parent_idx >= 0 ? STREAM_TRIM_HORIZON : STREAM_LATEST;
    }
    where.index = pos;
    int rc = stream_reader_open(ds->stream, sh->shard_idx, &where, &src->reader);
    if (rc < 0) {
        log_msg(LOG_ERROR, "delivery", "delivery stream %s: cannot read shard %u: %s", ds->name,
                sh->shard_idx, sl_strerror(rc));
        return rc;
    }
    src->shard_idx = sh->shard_idx;
    src->read_next = stream_reader_position(src->reader);
    if (where.type == STREAM_LATEST) {
        delivery__positions_put(svc, ds->id, &src->shard_idx, &src->read_next, 1);
    }
    return 0;
}

/* At the end of src's closed shard: starts the children whose parents are all drained. */
static void adopt_children(struct dsource *src)
{
    struct dstream *ds = src->ds;
    struct stream_shard_info *shards = NULL;
    size_t n = 0;
    stream_shards_list(ds->stream, &shards, &n);
    pthread_mutex_lock(&ds->mu);
    for (size_t i = 0; i < n && !ds->stopping; i++) {
        const struct stream_shard_info *c = &shards[i];
        if ((c->parent_idx != (int64_t)src->shard_idx &&
             c->adjacent_parent_idx != (int64_t)src->shard_idx) ||
            slot_of(ds, c->shard_idx) != NULL || !parents_drained(ds, shards, n, i)) {
            continue;
        }
        struct dsource *free_slot = slot_of(ds, NO_SHARD);
        if (free_slot == NULL) {
            log_msg(LOG_ERROR, "delivery",
                    "delivery stream %s: no slot left for shard %u; it is read after a restart",
                    ds->name, c->shard_idx);
            break;
        }
        if (source_open(ds, free_slot, c) < 0) {
            continue;
        }
        free_slot->buffered_next = free_slot->read_next;
        free_slot->delivered_next = free_slot->read_next;
        if (pthread_create(&free_slot->thread, NULL, reader_main, free_slot) == 0) {
            free_slot->started = 1;
        }
    }
    pthread_mutex_unlock(&ds->mu);
    free(shards);
}

static int role_may_decrypt_source(struct dstream *ds, struct err_info *err);

/*
 * Firehose reads a Kinesis source as its role: 1 when the role may read the stream now
 * (and, when the stream is encrypted, have KMS decrypt its records).
 * A refusal is logged when it starts and when it ends, not on every retry.
 */
static int source_readable(struct dsource *src)
{
    struct dstream *ds = src->ds;
    struct delivery_service *svc = ds->svc;
    pthread_mutex_lock(&svc->mu);
    delivery_kinesis_authorize_fn authorize = svc->kinesis_authorize;
    void *arg = svc->role_check_arg;
    pthread_mutex_unlock(&svc->mu);
    if (authorize == NULL || ds->source_role == NULL || ds->source_arn == NULL) {
        return 1;
    }
    struct err_info err;
    err_clear(&err);
    int denied = authorize(arg, ds->source_role, ds->source_arn, &err) != 0 ||
                 role_may_decrypt_source(ds, &err) != 0;
    if (denied && !src->read_denied) {
        log_msg(LOG_WARN, "delivery",
                "delivery stream %s: reading %s shard %u failed (Kinesis.AccessDeniedException: "
                "%s); retrying",
                ds->name, ds->source_arn, src->shard_idx, err.message);
    } else if (!denied && src->read_denied) {
        log_msg(LOG_INFO, "delivery", "delivery stream %s: reading %s shard %u again", ds->name,
                ds->source_arn, src->shard_idx);
    }
    src->read_denied = denied;
    return !denied;
}

static void *reader_main(void *arg)
{
    struct dsource *src = arg;
    struct dstream *ds = src->ds;
    struct gather g;
    buf_init(&g.data);
    buf_init(&g.recs);
    g.src_idx = (uint32_t)src->idx;
    for (;;) {
        if (src->reader != NULL && !source_readable(src)) {
            /* Refused: tried again a second later from the same position. The wait is on
               log_grew, which for a Kinesis source only the stop and flushes signal, so
               refused readers do not wake one another. */
            pthread_mutex_lock(&ds->mu);
            if (!ds->stopping) {
                timed_wait(&ds->log_grew, &ds->mu, 1000);
            }
            int stop = ds->stopping;
            pthread_mutex_unlock(&ds->mu);
            if (stop) {
                break;
            }
            continue;
        }
        pthread_mutex_lock(&ds->mu);
        /* Room is reserved before the read, so readers of several shards together stay
           within the buffer's size (each may pass it by one record). */
        while (!ds->stopping && ds->buf.len + ds->buf_reserved >= limit_bytes(ds)) {
            pthread_cond_wait(&ds->space, &ds->mu);
        }
        size_t room = ds->stopping ? 0 : limit_bytes(ds) - ds->buf.len - ds->buf_reserved;
        ds->buf_reserved += room;
        g.keep_pk = ds->kinesis_source && ds->dest.lambda;
        int stopping = ds->stopping;
        pthread_mutex_unlock(&ds->mu);
        if (stopping) {
            break;
        }
        buf_reset(&g.data);
        buf_reset(&g.recs);
        g.n_records = 0;
        g.oldest_ms = 0;
        g.newest_ms = 0;
        int rc;
        uint64_t next = src->read_next;
        if (src->reader != NULL) {
            rc = stream_reader_read(src->reader, READ_MAX_RECORDS, room, gather_visit, &g);
            next = stream_reader_position(src->reader);
        } else {
            rc = seglog_read(ds->log, src->read_next, READ_MAX_RECORDS, room, gather_visit, &g,
                             &next);
        }
        if (rc < 0) {
            log_msg(LOG_ERROR, "delivery", "delivery stream %s: reading source %zu failed: %s",
                    ds->name, src->idx, sl_strerror(rc));
            pthread_mutex_lock(&ds->mu);
            give_back(ds, room);
            if (!ds->stopping) {
                timed_wait(&ds->space, &ds->mu, 1000);
            }
            pthread_mutex_unlock(&ds->mu);
            continue;
        }
        if (g.n_records == 0) {
            pthread_mutex_lock(&ds->mu);
            give_back(ds, room);
            pthread_mutex_unlock(&ds->mu);
            if (src->reader != NULL) {
                int wrc = stream_reader_wait(src->reader, WAIT_SLICE_MS);
                if (wrc == STREAM_END_OF_SHARD) {
                    adopt_children(src); /* this shard is done */
                    break;
                }
                if (wrc == SL_E(RESOURCE_NOT_FOUND)) {
                    pthread_mutex_lock(&ds->mu);
                    if (!ds->stopping) {
                        timed_wait(&ds->space, &ds->mu, 1000);
                    }
                    pthread_mutex_unlock(&ds->mu);
                }
            } else {
                pthread_mutex_lock(&ds->mu);
                if (!ds->stopping && seglog_durable_index(ds->log) <= src->read_next) {
                    timed_wait(&ds->log_grew, &ds->mu, 1000);
                }
                pthread_mutex_unlock(&ds->mu);
            }
            continue;
        }
        src->read_next = next;
        if (src->reader != NULL) {
            atomic_fetch_add(&ds->c_in_records, g.n_records);
            atomic_fetch_add(&ds->c_in_bytes, g.data.len);
        }
        pthread_mutex_lock(&ds->mu);
        give_back(ds, room);
        size_t base = ds->buf.len;
        struct delivery_rec *rv = (struct delivery_rec *)g.recs.data;
        for (size_t i = 0; i < g.recs.len / sizeof(*rv); i++) {
            rv[i].off += base;
        }
        if (buf_append(&ds->buf, g.data.data, g.data.len) < 0 ||
            buf_append(&ds->buf_recs, g.recs.data, g.recs.len) < 0) {
            /* Nothing is lost: the records are read again after a restart. */
            log_msg(LOG_ERROR, "delivery", "delivery stream %s: out of memory", ds->name);
            pthread_mutex_unlock(&ds->mu);
            break;
        }
        if (ds->buf_records == 0) {
            ds->buf_opened_ms = delivery__now_ms(ds->svc);
            ds->buf_oldest_ms = g.oldest_ms;
            ds->buf_newest_ms = g.newest_ms;
        } else {
            ds->buf_oldest_ms = g.oldest_ms < ds->buf_oldest_ms ? g.oldest_ms : ds->buf_oldest_ms;
            ds->buf_newest_ms = g.newest_ms > ds->buf_newest_ms ? g.newest_ms : ds->buf_newest_ms;
        }
        ds->buf_records += g.n_records;
        src->buffered_next = next;
        pthread_cond_signal(&ds->cond);
        pthread_mutex_unlock(&ds->mu);
    }
    buf_fini(&g.data);
    buf_fini(&g.recs);
    return NULL;
}

/* 1 when a flush wants records the buffer holds (ds->mu held). */
static int flush_wanted(const struct dstream *ds)
{
    for (size_t i = 0; i < ds->n_sources; i++) {
        const struct dsource *s = &ds->sources[i];
        if (s->delivered_next < s->flush_target && s->buffered_next > s->delivered_next) {
            return 1;
        }
    }
    return 0;
}

int delivery__backoff(struct dstream *ds, int64_t ms)
{
    /* The whole backoff: ds->cond is also signalled by every new record. */
    int64_t until_ns = clock_mono_ns() + ms * 1000000;
    pthread_mutex_lock(&ds->mu);
    for (int64_t left_ns; !ds->stopping && (left_ns = until_ns - clock_mono_ns()) > 0;) {
        timed_wait(&ds->cond, &ds->mu, left_ns / 1000000 + 1);
    }
    int stopped = ds->stopping;
    pthread_mutex_unlock(&ds->mu);
    return stopped;
}

/* The counters one object write moves: DeliveryToS3's, or BackupToS3's. */
struct put_counters {
    _Atomic uint64_t *attempts, *successes, *bytes, *objects; /* objects may be NULL */
};

/* The request Firehose makes as role's session AWSFirehoseToS3 (names in the buffers). */
static int role_session(struct delivery_service *svc, const char *role, char session[800],
                        char cache_key[700], struct api_request *req)
{
    const char *r = strstr(role, ":role/");
    if (r == NULL) {
        return -1;
    }
    const char *name = strrchr(r, '/') + 1;
    snprintf(session, 800, "arn:aws:sts::%s:assumed-role/%s/AWSFirehoseToS3",
             svc->cfg->account_id, name);
    snprintf(cache_key, 700, "firehose:%s", role);
    *req = (struct api_request){.principal_kind = HTTP_PRINCIPAL_ASSUMED_ROLE,
                                .principal_arn = session,
                                .principal_id = "",
                                .principal_name = name,
                                .access_key_id = cache_key,
                                .region = svc->cfg->region,
                                .now_ms = clock_now_ms()};
    return 0;
}

/* Whether the role may have KMS make the data key of record (an SSE-KMS record, NULL for
   none) as Firehose asks for it: as the role's session AWSFirehoseToS3, through S3. */
static int role_may_encrypt(struct delivery_service *svc, const char *role, const char *record,
                            struct err_info *err)
{
    char session[800], cache_key[700];
    struct api_request req;
    if (record == NULL || role_session(svc, role, session, cache_key, &req) < 0) {
        return 0;
    }
    return lake_kms_authorize(svc->lake, &req, "kms:GenerateDataKey", record, err);
}

/* Whether the source role may have KMS decrypt an encrypted source stream's records. */
static int role_may_decrypt_source(struct dstream *ds, struct err_info *err)
{
    char session[800], cache_key[700];
    struct api_request req;
    if (ds->stream == NULL || role_session(ds->svc, ds->source_role, session, cache_key, &req) < 0) {
        return 0;
    }
    return stream_kms_authorize(ds->svc->streams, ds->stream, &req, "kms:Decrypt", NULL, err);
}

/* delivery__put_object with the counters pc. */
static int put_counted(struct dstream *ds, const char *bucket, const char *key,
                       const uint8_t *bytes, size_t n_bytes, const struct lake_put_opts *opts,
                       const struct put_counters *pc)
{
    struct delivery_service *svc = ds->svc;
    int64_t backoff = svc->retry_base_ms;
    char role[600] = "";
    pthread_mutex_lock(&ds->mu);
    snprintf(role, sizeof(role), "%s", ds->dest.role != NULL ? ds->dest.role : "");
    pthread_mutex_unlock(&ds->mu);
    for (;;) {
        struct err_info err;
        err_clear(&err);
        atomic_fetch_add(pc->attempts, 1);
        pthread_mutex_lock(&svc->mu);
        delivery_s3_authorize_fn authorize = svc->s3_authorize;
        void *authorize_arg = svc->s3_authorize_arg;
        delivery_s3_observe_fn observe = svc->s3_observe;
        void *observe_arg = svc->s3_observe_arg;
        pthread_mutex_unlock(&svc->mu);
        int64_t started = clock_mono_ns();
        /* the role's s3:PutObject first, as Firehose writes as its role */
        int rc = authorize != NULL && role[0] != '\0'
                     ? authorize(authorize_arg, role, bucket, key, &err)
                     : 0;
        const char *code = rc != 0 ? "S3.AccessDenied" : NULL;
        /* then, into a bucket whose default is SSE-KMS, the role's use of the key */
        char *sse = NULL;
        struct lake_put_opts with_sse = {0};
        if (opts != NULL) {
            with_sse = *opts;
        }
        if (rc == 0 && authorize != NULL && role[0] != '\0' && with_sse.sse == NULL &&
            (rc = lake_default_sse(svc->lake, bucket, key, &sse, &err)) == 0 &&
            (rc = role_may_encrypt(svc, role, sse, &err)) < 0) {
            code = "S3.AccessDenied";
        }
        if (rc == 0) {
            with_sse.sse = sse != NULL ? sse : with_sse.sse;
            rc = lake_object_put(svc->lake, bucket, key, bytes, n_bytes,
                                 opts == NULL && sse == NULL ? NULL : &with_sse, NULL, &err);
        }
        free(sse);
        if (observe != NULL) {
            int status = rc == 0 ? 200 : err_is_sluice(rc) ? err_http_status(rc) : 500;
            observe(observe_arg, bucket, key, n_bytes, status,
                    (clock_mono_ns() - started) / 1000);
        }
        if (rc == 0) {
            atomic_fetch_add(pc->successes, 1);
            atomic_fetch_add(pc->bytes, n_bytes);
            if (pc->objects != NULL) {
                atomic_fetch_add(pc->objects, 1);
            }
            return 0;
        }
        log_msg(LOG_WARN, "delivery",
                "delivery stream %s: writing s3://%s/%s failed (%s: %s); "
                "retrying in %lld ms",
                ds->name, bucket, key, code != NULL ? code : err_aws_name(rc), err.message,
                (long long)backoff);
        if (delivery__backoff(ds, backoff)) {
            return 1;
        }
        backoff = backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
    }
}

int delivery__put_object(struct dstream *ds, const char *bucket, const char *key,
                         const uint8_t *bytes, size_t n_bytes, const struct lake_put_opts *opts)
{
    struct put_counters pc = {&ds->c_s3_attempts, &ds->c_s3_successes, &ds->c_s3_bytes,
                              &ds->c_s3_objects};
    return put_counted(ds, bucket, key, bytes, n_bytes, opts, &pc);
}

int delivery__put_backup_object(struct dstream *ds, const char *bucket, const char *key,
                                const uint8_t *bytes, size_t n_bytes,
                                const struct lake_put_opts *opts)
{
    struct put_counters pc = {&ds->c_backup_attempts, &ds->c_backup_successes, &ds->c_backup_bytes,
                              NULL};
    return put_counted(ds, bucket, key, bytes, n_bytes, opts, &pc);
}

int delivery__backup_flush(struct dstream *ds, const struct flush_conf *fc, const uint8_t *data,
                           const struct delivery_rec *recs, size_t n_recs, int64_t oldest_ms)
{
    if (!fc->dest.backup || n_recs == 0) {
        return 0;
    }
    /* The backup's own destination: bucket, prefix and compression; no time zone or file
       extension (an S3DestinationConfiguration has neither). */
    struct delivery_dest bd = {.compression = fc->dest.backup_compression,
                               .prefix = fc->dest.backup_prefix};
    memcpy(bd.bucket, fc->dest.backup_bucket, sizeof(bd.bucket));
    struct buf raw, body, key;
    buf_init(&raw);
    buf_init(&body);
    buf_init(&key);
    /* The records byte for byte: a Kinesis record's partition key, kept after its data for
       a transform, is not part of it. */
    for (size_t i = 0; i < n_recs; i++) {
        buf_append(&raw, data + recs[i].off, recs[i].len);
    }
    const uint8_t *bytes = raw.data;
    size_t n_bytes = raw.len;
    const char *meta = NULL;
    int stopped = 0;
    if (bd.compression != DELIVERY_UNCOMPRESSED) {
        stopped = delivery__compress_object(ds, &bd, bytes, n_bytes, oldest_ms, &body, &meta);
        bytes = body.data;
        n_bytes = body.len;
    }
    if (!stopped) {
        delivery__object_key(&bd, ds->name, fc->version, oldest_ms, &key);
        struct lake_put_opts opts = {.content_type = "application/octet-stream", .meta_json = meta};
        stopped = delivery__put_backup_object(ds, bd.bucket, (const char *)key.data, bytes, n_bytes,
                                              &opts);
    }
    if (!stopped) {
        atomic_fetch_add(&ds->c_backup_records, n_recs);
        atomic_store(&ds->c_backup_freshness_ms, delivery__now_ms(ds->svc) - oldest_ms);
    }
    buf_fini(&raw);
    buf_fini(&body);
    buf_fini(&key);
    return stopped;
}

/* KinesisMillisBehindLatest after a buffer whose newest record arrived at newest_ms and
   whose sources reached next[i]: how much older that record is than the newest durable one
   of a shard with records still unread; 0 when every shard was read to its end. */
static int64_t behind_latest(struct dstream *ds, const uint64_t *next, int64_t newest_ms)
{
    int64_t behind = 0;
    for (size_t i = 0; ds->kinesis_source && ds->stream != NULL && i < ds->n_sources; i++) {
        struct stream_shard_state st;
        if (stream_shard_state(ds->stream, ds->sources[i].shard_idx, &st) == 0 &&
            st.durable_index > next[i] && st.last_arrival_ms - newest_ms > behind) {
            behind = st.last_arrival_ms - newest_ms;
        }
    }
    return behind;
}

int delivery__raw_flush(struct dstream *ds, const struct flush_conf *fc, const uint8_t *data,
                        const struct delivery_rec *recs, size_t n_recs, int64_t oldest_ms)
{
    struct buf raw, body, key;
    buf_init(&raw);
    buf_init(&body);
    buf_init(&key);
    /* The records byte for byte, each followed by a newline with AppendDelimiterToRecord;
       records that lie end to end in the buffer (a whole buffer) are written in place. */
    int contiguous = !fc->dest.append_delimiter;
    for (size_t i = 1; contiguous && i < n_recs; i++) {
        contiguous = recs[i].off == recs[i - 1].off + recs[i - 1].len;
    }
    const uint8_t *bytes = n_recs > 0 ? data + recs[0].off : data;
    size_t n_bytes = n_recs > 0 ? recs[n_recs - 1].off + recs[n_recs - 1].len - recs[0].off : 0;
    if (!contiguous) {
        for (size_t i = 0; i < n_recs; i++) {
            buf_append(&raw, data + recs[i].off, recs[i].len);
            if (fc->dest.append_delimiter) {
                buf_putc(&raw, '\n');
            }
        }
        bytes = raw.data;
        n_bytes = raw.len;
    }
    const char *meta = NULL;
    if (fc->dest.compression != DELIVERY_UNCOMPRESSED) {
        if (delivery__compress_object(ds, &fc->dest, bytes, n_bytes, oldest_ms, &body, &meta)) {
            buf_fini(&raw); /* the engine stopped: nothing is written */
            buf_fini(&body);
            return 1;
        }
        bytes = body.data;
        n_bytes = body.len;
    }
    delivery__object_key(&fc->dest, ds->name, fc->version, oldest_ms, &key);
    struct lake_put_opts opts = {.content_type = "application/octet-stream", .meta_json = meta};
    int stopped =
        delivery__put_object(ds, fc->dest.bucket, (const char *)key.data, bytes, n_bytes, &opts);
    buf_fini(&raw);
    buf_fini(&body);
    buf_fini(&key);
    return stopped;
}

static void *flusher_main(void *arg)
{
    struct dstream *ds = arg;
    struct delivery_service *svc = ds->svc;
    uint64_t *snapshot = xcalloc(ds->n_sources + 1, sizeof(*snapshot));
    uint64_t *moved_pos = xcalloc(ds->n_sources + 1, sizeof(*moved_pos));
    uint32_t *moved_src = xcalloc(ds->n_sources + 1, sizeof(*moved_src));
    struct partition_extractor *xp = NULL; /* this thread's compiled query */
    int xp_version = 0;
    pthread_mutex_lock(&ds->mu);
    while (!ds->stopping) {
        int64_t now = delivery__now_ms(svc);
        int64_t due_at = ds->buf_opened_ms + (int64_t)ds->dest.interval_s * 1000;
        int due = ds->buf_records > 0 &&
                  (ds->buf.len >= limit_bytes(ds) || now >= due_at || flush_wanted(ds));
        if (!due) {
            int64_t wait_ms = ds->buf_records > 0 ? due_at - now : WAIT_SLICE_MS;
            timed_wait(&ds->cond, &ds->mu,
                       wait_ms < 1               ? 1
                       : wait_ms > WAIT_SLICE_MS ? WAIT_SLICE_MS
                                                 : wait_ms);
            continue;
        }
        /* Take the buffer and the positions it reaches. */
        size_t len = 0;
        uint8_t *data = buf_steal(&ds->buf, &len);
        buf_init(&ds->buf);
        size_t recs_len = 0;
        struct delivery_rec *recs = (struct delivery_rec *)buf_steal(&ds->buf_recs, &recs_len);
        buf_init(&ds->buf_recs);
        uint64_t n_records = ds->buf_records;
        int64_t oldest_ms = ds->buf_oldest_ms;
        int64_t newest_ms = ds->buf_newest_ms;
        ds->buf_records = 0;
        for (size_t i = 0; i < ds->n_sources; i++) {
            snapshot[i] = ds->sources[i].buffered_next;
        }
        struct flush_conf fc = {.version = ds->version};
        delivery__dest_copy(&fc.dest, &ds->dest);
        pthread_cond_broadcast(&ds->space);
        pthread_mutex_unlock(&ds->mu);

        size_t n_recs = recs_len / sizeof(*recs);
        if (xp != NULL && xp_version != fc.version) {
            /* The configuration changed: compile its query again. */
            partition_extractor_destroy(xp);
            xp = NULL;
        }
        xp_version = fc.version;
        struct preprocess_out pre = {0};
        /* The source records as they came go to the backup first; the positions move only
           once both the backup and the delivered objects are in the lake. */
        int stopped = delivery__backup_flush(ds, &fc, data, recs, n_recs, oldest_ms);
        if (!stopped && delivery__preprocess_needed(ds, &fc, data, recs, n_recs)) {
            stopped = delivery__preprocess(ds, &fc, data, recs, n_recs, &pre);
            free(data);
            free(recs);
            data = pre.data;
            recs = pre.recs;
            n_recs = pre.n_recs;
            oldest_ms = pre.oldest_ms;
            pre.data = NULL;
            pre.recs = NULL;
        }
        if (!stopped && n_recs > 0) {
            stopped = fc.dest.partitioning
                          ? delivery__partition_flush(ds, &fc, &xp, data, recs, n_recs)
                      : fc.dest.conversion
                          ? delivery__convert_flush(ds, &fc, data, recs, n_recs, oldest_ms)
                          : delivery__raw_flush(ds, &fc, data, recs, n_recs, oldest_ms);
        }
        delivery__preprocess_fini(&pre);
        (void)len;
        free(data);
        free(recs);
        delivery__dest_fini(&fc.dest);
        if (stopped) {
            pthread_mutex_lock(&ds->mu);
            break;
        }
        /* The positions that moved, in one transaction (delivered_next is the flusher's
           own to write, so reading it here needs no lock). */
        size_t n_moved = 0;
        for (size_t i = 0; i < ds->n_sources; i++) {
            if (snapshot[i] != ds->sources[i].delivered_next) {
                moved_src[n_moved] = ds->sources[i].shard_idx;
                moved_pos[n_moved++] = snapshot[i];
            }
        }
        int prc = delivery__positions_put(svc, ds->id, moved_src, moved_pos, n_moved);
        if (prc < 0) {
            /* The object is written: at worst it is delivered again after a restart. */
            log_msg(LOG_ERROR, "delivery", "delivery stream %s: storing positions failed: %s",
                    ds->name, sl_strerror(prc));
        }
        if (ds->log != NULL) {
            /* Every record that arrived before the newest delivered one is delivered. */
            seglog_trim_before(ds->log, newest_ms, NULL);
        }
        int64_t landed = delivery__now_ms(svc);
        atomic_fetch_add(&ds->c_s3_records, n_records);
        atomic_store(&ds->c_freshness_ms, landed - oldest_ms);
        atomic_store(&ds->c_behind_ms, behind_latest(ds, snapshot, newest_ms));
        pthread_mutex_lock(&ds->mu);
        for (size_t i = 0; i < ds->n_sources; i++) {
            ds->sources[i].delivered_next = snapshot[i];
        }
        pthread_cond_broadcast(&ds->delivered);
    }
    pthread_mutex_unlock(&ds->mu);
    free(snapshot);
    free(moved_pos);
    free(moved_src);
    partition_extractor_destroy(xp);
    return NULL;
}

/* The stored position of source of stream id into *out; 0 found, 1 none, <0 error. */
static int position_get(struct delivery_service *svc, int64_t id, uint32_t source, uint64_t *out)
{
    store_read_begin(svc->st);
    struct store_stmt *s = NULL;
    int rc = store_prepare(
        svc->st, "SELECT next_index FROM delivery_position WHERE stream_id=? AND source=?", &s);
    if (rc == 0) {
        store_bind_int64(s, 1, id);
        store_bind_int64(s, 2, source);
        rc = store_step(s);
        if (rc == 1) {
            *out = (uint64_t)store_col_int64(s, 0);
            rc = 0;
        } else if (rc == 0) {
            rc = 1;
        }
    }
    store_finalize(s);
    store_read_end(svc->st);
    return rc;
}

int delivery__engine_start(struct dstream *ds)
{
    struct delivery_service *svc = ds->svc;
    int rc = 0;
    if (ds->kinesis_source) {
        struct stream_shard_info *shards = NULL;
        size_t n = 0, n_open = 0;
        if (ds->stream != NULL) {
            stream_shards_list(ds->stream, &shards, &n);
        }
        for (size_t i = 0; i < n; i++) {
            n_open += shards[i].open;
        }
        size_t spare = 4 * n_open > SPARE_SLOTS_MIN ? 4 * n_open : SPARE_SLOTS_MIN;
        ds->n_sources = n + spare;
        ds->sources = xcalloc(ds->n_sources, sizeof(*ds->sources));
        for (size_t i = 0; i < ds->n_sources; i++) {
            ds->sources[i].ds = ds;
            ds->sources[i].idx = i;
            ds->sources[i].shard_idx = NO_SHARD;
        }
        /* Shards not yet drained whose parents are: in shard order, parents first. */
        size_t used = 0;
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (!drained(ds, &shards[i]) && parents_drained(ds, shards, n, i)) {
                rc = source_open(ds, &ds->sources[used], &shards[i]);
                used += rc == 0;
            }
        }
        free(shards);
    } else {
        ds->sources = xcalloc(1, sizeof(*ds->sources));
        ds->n_sources = 1;
        struct dsource *src = &ds->sources[0];
        src->ds = ds;
        uint64_t pos = 0;
        if (position_get(svc, ds->id, 0, &pos) != 0) {
            pos = seglog_first_index(ds->log);
        }
        if (pos < seglog_first_index(ds->log)) {
            pos = seglog_first_index(ds->log);
        }
        src->read_next = pos;
    }
    for (size_t i = 0; i < ds->n_sources; i++) {
        struct dsource *src = &ds->sources[i];
        src->buffered_next = src->read_next;
        src->delivered_next = src->read_next;
    }
    if (rc < 0) {
        delivery__engine_stop(ds);
        return rc;
    }
    for (size_t i = 0; i < ds->n_sources; i++) {
        if (ds->kinesis_source && ds->sources[i].shard_idx == NO_SHARD) {
            continue; /* a spare slot */
        }
        if (pthread_create(&ds->sources[i].thread, NULL, reader_main, &ds->sources[i]) != 0) {
            delivery__engine_stop(ds);
            return -EAGAIN;
        }
        ds->sources[i].started = 1;
    }
    if (pthread_create(&ds->flusher, NULL, flusher_main, ds) != 0) {
        delivery__engine_stop(ds);
        return -EAGAIN;
    }
    ds->flusher_started = 1;
    return 0;
}

void delivery__engine_stop(struct dstream *ds)
{
    pthread_mutex_lock(&ds->mu);
    ds->stopping = 1;
    pthread_cond_broadcast(&ds->cond);
    pthread_cond_broadcast(&ds->space);
    pthread_cond_broadcast(&ds->log_grew);
    pthread_cond_broadcast(&ds->delivered);
    pthread_mutex_unlock(&ds->mu);
    for (size_t i = 0; i < ds->n_sources; i++) {
        if (ds->sources[i].started) {
            pthread_join(ds->sources[i].thread, NULL);
            ds->sources[i].started = 0;
        }
        stream_reader_close(ds->sources[i].reader);
        ds->sources[i].reader = NULL;
    }
    if (ds->flusher_started) {
        pthread_join(ds->flusher, NULL);
        ds->flusher_started = 0;
    }
}

void delivery__log_grew(struct dstream *ds)
{
    pthread_mutex_lock(&ds->mu);
    pthread_cond_broadcast(&ds->log_grew);
    pthread_mutex_unlock(&ds->mu);
}

/* Asks ds to deliver what its sources hold now; fills targets from the sources. */
static void request_flush(struct dstream *ds)
{
    uint64_t *targets = xcalloc(ds->n_sources + 1, sizeof(*targets));
    for (size_t i = 0; i < ds->n_sources; i++) {
        if (ds->log != NULL) {
            targets[i] = seglog_durable_index(ds->log);
        } else if (ds->stream != NULL) {
            struct stream_shard_state st;
            if (stream_shard_state(ds->stream, ds->sources[i].shard_idx, &st) == 0) {
                targets[i] = st.durable_index;
            }
        }
    }
    pthread_mutex_lock(&ds->mu);
    for (size_t i = 0; i < ds->n_sources; i++) {
        if (targets[i] > ds->sources[i].flush_target) {
            ds->sources[i].flush_target = targets[i];
        }
    }
    pthread_cond_broadcast(&ds->cond);
    pthread_cond_broadcast(&ds->log_grew);
    pthread_mutex_unlock(&ds->mu);
    free(targets);
}

int delivery_stream_flush(struct delivery_service *svc, const char *region, const char *name,
                          int64_t timeout_ms)
{
    struct dstream *ds = delivery__find(svc, region, name);
    if (ds == NULL) {
        return SL_E(RESOURCE_NOT_FOUND);
    }
    request_flush(ds);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int rc = 0;
    pthread_mutex_lock(&ds->mu);
    for (;;) {
        int done = 1;
        for (size_t i = 0; i < ds->n_sources; i++) {
            if (ds->sources[i].delivered_next < ds->sources[i].flush_target) {
                done = 0;
            }
        }
        if (done) {
            break;
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t spent =
            (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (spent >= timeout_ms || ds->stopping) {
            rc = -ETIMEDOUT;
            break;
        }
        int64_t left = timeout_ms - spent;
        timed_wait(&ds->delivered, &ds->mu, left < 100 ? left : 100);
    }
    pthread_mutex_unlock(&ds->mu);
    delivery__release(ds);
    return rc;
}

void delivery_service_flush_all(struct delivery_service *svc)
{
    pthread_mutex_lock(&svc->mu);
    size_t n = 0;
    for (struct dstream *ds = svc->list; ds != NULL; ds = ds->next) {
        n++;
    }
    struct dstream **all = xcalloc(n + 1, sizeof(*all));
    n = 0;
    for (struct dstream *ds = svc->list; ds != NULL; ds = ds->next) {
        ds->refs++;
        all[n++] = ds;
    }
    pthread_mutex_unlock(&svc->mu);
    for (size_t i = 0; i < n; i++) {
        request_flush(all[i]);
        delivery__release(all[i]);
    }
    free(all);
}
