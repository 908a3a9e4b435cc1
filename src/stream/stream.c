/*
 * Streams: metadata in the store, shard logs on disk, timed state transitions,
 * retention, appends and readers.
 *
 * Layout on disk: DIR/streams/<stream id>/shardId-<n>/ holds shard n's segment log.
 * A stream row is written (CREATING) before its directories; a deleted stream's row goes
 * before its files. On start, any directory under DIR/streams without a row is the
 * remains of an interrupted deletion and is removed.
 *
 * Who does the disk work: a change of state (create, delete, update) is written to the
 * store under admin_lock only, and shown (registry list, s->meta) under the short locks
 * after the write succeeded, so a failed write changes nothing. Timed transitions
 * (CREATING→ACTIVE, UPDATING→ACTIVE, DELETING→gone) read as done as soon as they are due
 * (stream_describe, stream_lookup) and are written by the background thread, which also
 * applies retention and removes the files of deleted streams once their last handle goes.
 * The record path takes the registry lock once (the lookup) and the stream's own lock
 * once (its state), and neither across I/O.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/text.h"
#include "stream/stream_int.h"
#include "stream/throttle.h"

#define BG_RETENTION_EVERY_MS (10 * 1000)
#define BG_MAX_SLEEP_MS 1000

static const struct store_migration stream_migrations[] = {
    {1, "CREATE TABLE streams("
        " id INTEGER PRIMARY KEY,"
        " region TEXT NOT NULL, account TEXT NOT NULL, name TEXT NOT NULL, arn TEXT NOT NULL,"
        " seq_tag INTEGER NOT NULL, created_ms INTEGER NOT NULL,"
        " mode TEXT NOT NULL, shard_count INTEGER NOT NULL, retention_hours INTEGER NOT NULL,"
        " status TEXT NOT NULL, status_until_ms INTEGER NOT NULL,"
        " encryption TEXT NOT NULL DEFAULT 'NONE', key_id TEXT NOT NULL DEFAULT '',"
        " UNIQUE(region, name));"
        "CREATE TABLE stream_shards("
        " stream_id INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,"
        " idx INTEGER NOT NULL, start_hash TEXT NOT NULL, end_hash TEXT NOT NULL,"
        " PRIMARY KEY(stream_id, idx));"
        "CREATE TABLE stream_tags("
        " stream_id INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,"
        " key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY(stream_id, key));"},
    /* Lineage: a shard's parents, and the index after its last record once closed (NULL
       while open). streams.shard_count counts every shard, open or closed. */
    {2, "ALTER TABLE stream_shards ADD COLUMN parent_idx INTEGER NOT NULL DEFAULT -1;"
        "ALTER TABLE stream_shards ADD COLUMN adjacent_parent_idx INTEGER NOT NULL DEFAULT -1;"
        "ALTER TABLE stream_shards ADD COLUMN ending_index INTEGER;"
        "ALTER TABLE stream_shards ADD COLUMN created_ms INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE stream_shards ADD COLUMN closed_ms INTEGER NOT NULL DEFAULT 0;"},
    /* Stream ids are never reused: a deleted stream's files (streams/<id>) are removed
       after its row, and a new stream must not get that directory meanwhile. */
    {3, "CREATE TABLE stream_next_id(id INTEGER NOT NULL);"
        "INSERT INTO stream_next_id SELECT coalesce(max(id), 0) + 1 FROM streams;"},
    /* Enhanced monitoring's metrics (a mask of stream_metric bits), and the operations AWS
       limits per rolling 24 hours (UpdateShardCount, Start/StopStreamEncryption): when each
       succeeded, so the limit holds across restarts. */
    {4, "ALTER TABLE streams ADD COLUMN shard_metrics INTEGER NOT NULL DEFAULT 0;"
        "CREATE TABLE stream_daily_ops("
        " stream_id INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,"
        " op TEXT NOT NULL, at_ms INTEGER NOT NULL);"
        "CREATE INDEX stream_daily_ops_by_stream ON stream_daily_ops(stream_id, op, at_ms);"},
    /* Encryption at rest: each data key, wrapped by the stream's KMS key (stream_crypt.c). */
    {5, "CREATE TABLE stream_data_keys("
        " stream_id INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,"
        " key_no INTEGER NOT NULL, key_arn TEXT NOT NULL, blob BLOB NOT NULL,"
        " PRIMARY KEY(stream_id, key_no));"},
    /* The highest sequence epoch of a deleted stream, by name: a stream created again under
       that name starts its shards above it, so no number or iterator position of the old
       stream is one of the new stream's, even within the same second. */
    {6, "CREATE TABLE stream_retired_epochs(region TEXT NOT NULL, name TEXT NOT NULL,"
        " epoch_s INTEGER NOT NULL, PRIMARY KEY(region, name));"},
};

#define DAY_MS (24 * 3600 * 1000LL)

static const char *const status_names[] = {
#define STREAM_STATUS_NAME(sym, name) name,
    STREAM_STATUS_MAP(STREAM_STATUS_NAME)
#undef STREAM_STATUS_NAME
};
#define N_STATUS (sizeof(status_names) / sizeof(status_names[0]))

const char *stream_status_name(enum stream_status st)
{
    return (size_t)st < N_STATUS ? status_names[st] : "UNKNOWN";
}

static enum stream_status status_from_name(const char *name)
{
    for (size_t i = 0; i < N_STATUS; i++) {
        if (strcmp(status_names[i], name) == 0) {
            return (enum stream_status)i;
        }
    }
    return STREAM_ACTIVE;
}

static const char *const metric_names[] = {
#define STREAM_METRIC_NAME(sym, name) name,
    STREAM_METRICS_MAP(STREAM_METRIC_NAME)
#undef STREAM_METRIC_NAME
};

const char *stream_metric_name(int i)
{
    return i >= 0 && i < STREAM_N_METRICS ? metric_names[i] : "";
}

uint32_t stream_metric_mask(const char *name)
{
    if (strcmp(name, "ALL") == 0) {
        return STREAM_METRICS_ALL;
    }
    for (int i = 0; i < STREAM_N_METRICS; i++) {
        if (strcmp(metric_names[i], name) == 0) {
            return 1u << i;
        }
    }
    return 0;
}

const char *stream_mode_name(enum stream_mode m)
{
    return m == STREAM_MODE_ON_DEMAND ? "ON_DEMAND" : "PROVISIONED";
}

static int64_t wall_clock(void *arg)
{
    (void)arg;
    return clock_now_ms();
}

struct throttle *stream_service_throttle(struct stream_service *svc)
{
    return svc->throttle;
}

int64_t stream_service_now_ms(const struct stream_service *svc)
{
    return svc->now_fn(svc->clock_arg);
}

struct store *stream_service_store(const struct stream_service *svc)
{
    return svc->store;
}

int stream_service_transition_ms(const struct stream_service *svc)
{
    return svc->cfg->stream_transition_ms;
}

/* The state m reads as at now_ms: a due CREATING or UPDATING is ACTIVE. */
static enum stream_status effective_status(const struct stream_meta *m, int64_t now_ms)
{
    if ((m->status == STREAM_CREATING || m->status == STREAM_UPDATING) &&
        now_ms >= m->status_until_ms) {
        return STREAM_ACTIVE;
    }
    return m->status;
}

/* A copy of s->meta with due transitions applied. */
static void meta_snapshot(struct stream *s, int64_t now_ms, struct stream_meta *out)
{
    pthread_mutex_lock(&s->lock);
    *out = s->meta;
    pthread_mutex_unlock(&s->lock);
    out->status = effective_status(out, now_ms);
}

static void meta_publish(struct stream *s, const struct stream_meta *m)
{
    pthread_mutex_lock(&s->lock);
    s->meta = *m;
    atomic_store(&s->shard_mask, m->shard_metrics);
    pthread_mutex_unlock(&s->lock);
}

static int is_gone(const struct stream *s, int64_t now_ms)
{
    return now_ms >= atomic_load(&s->gone_at_ms);
}

static int fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

/* A new open shard, not in any table yet; its log is opened later. */
static struct shard *shard_new(uint32_t idx, u128 start, u128 end, int64_t parent_idx,
                               int64_t adjacent_parent_idx)
{
    struct shard *sh = xcalloc(1, sizeof(*sh));
    sh->idx = idx;
    sh->start_hash = start;
    sh->end_hash = end;
    sh->parent_idx = parent_idx;
    sh->adjacent_parent_idx = adjacent_parent_idx;
    sh->open = 1;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&sh->wait_lock, NULL);
    pthread_cond_init(&sh->wait_cond, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&sh->n_waiters, 0);
    return sh;
}

static void shard_free(struct shard *sh)
{
    if (sh == NULL) {
        return;
    }
    seglog_close(sh->log);
    pthread_mutex_destroy(&sh->wait_lock);
    pthread_cond_destroy(&sh->wait_cond);
    free(sh);
}

static int cmp_start_hash(const void *a, const void *b)
{
    const struct shard *x = *(struct shard *const *)a, *y = *(struct shard *const *)b;
    return x->start_hash < y->start_hash ? -1 : x->start_hash > y->start_hash;
}

/* Rebuilds s->open_shards from s->shards (shards_lock held exclusive, or s unpublished). */
static void rebuild_open(struct stream *s)
{
    free(s->open_shards);
    s->open_shards = xcalloc(s->n_shards ? s->n_shards : 1, sizeof(*s->open_shards));
    s->n_open = 0;
    for (uint32_t i = 0; i < s->n_shards; i++) {
        if (s->shards[i]->open) {
            s->open_shards[s->n_open++] = s->shards[i];
        }
    }
    qsort(s->open_shards, s->n_open, sizeof(*s->open_shards), cmp_start_hash);
}

/* A copy of the shard table's pointers (each stays valid while s is referenced), so
   work on the logs is done without shards_lock. The caller frees the array. */
static struct shard **shards_hold(struct stream *s, uint32_t *n_out)
{
    pthread_rwlock_rdlock(&s->shards_lock);
    uint32_t n = s->n_shards;
    struct shard **held = xcalloc(n ? n : 1, sizeof(*held));
    memcpy(held, s->shards, n * sizeof(*held));
    pthread_rwlock_unlock(&s->shards_lock);
    *n_out = n;
    return held;
}

static void stream_free(struct stream *s)
{
    if (s == NULL) {
        return;
    }
    for (uint32_t i = 0; s->shards != NULL && i < s->n_shards; i++) {
        shard_free(s->shards[i]);
    }
    stream__crypt_free(s);
    pthread_mutex_destroy(&s->crypt_lock);
    pthread_mutex_destroy(&s->lock);
    while (s->reads != NULL) {
        struct stream_read_acc *a = s->reads;
        s->reads = a->next;
        free(a);
    }
    free(s->shard_st);
    pthread_mutex_destroy(&s->read_lock);
    pthread_rwlock_destroy(&s->shards_lock);
    free(s->shards);
    free(s->open_shards);
    free(s);
}

/* Removes a stream's files: every shard log, then its directory. */
static void remove_stream_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') {
                continue;
            }
            char *sub = xasprintf("%s/%s", dir, e->d_name);
            seglog_remove_dir(sub);
            free(sub);
        }
        closedir(d);
    }
    if (rmdir(dir) != 0 && errno != ENOENT) {
        log_msg(LOG_WARN, "stream", "cannot remove %s: %s", dir, strerror(errno));
    }
}

/* Wakes the background thread; retention too when a retention period shrank. */
static void kick_background(struct stream_service *svc, int retention)
{
    pthread_mutex_lock(&svc->bg_lock);
    svc->kicked = 1;
    svc->retention_kicked |= retention;
    pthread_cond_signal(&svc->bg_wake);
    pthread_mutex_unlock(&svc->bg_lock);
}

static void hold(struct stream *s)
{
    atomic_fetch_add(&s->refs, 1);
}

void stream_release(struct stream *s)
{
    if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1) {
        return;
    }
    if (!atomic_load(&s->row_deleted)) {
        stream_free(s);
        return;
    }
    /* A deleted stream's files are removed on the background thread, not the caller's. */
    struct stream_service *svc = s->svc;
    pthread_mutex_lock(&svc->bg_lock);
    s->next_dead = svc->dead;
    svc->dead = s;
    svc->kicked = 1;
    pthread_cond_signal(&svc->bg_wake);
    pthread_mutex_unlock(&svc->bg_lock);
}

void stream__reap(struct stream_service *svc)
{
    pthread_mutex_lock(&svc->bg_lock);
    struct stream *dead = svc->dead;
    svc->dead = NULL;
    pthread_mutex_unlock(&svc->bg_lock);
    while (dead != NULL) {
        struct stream *next = dead->next_dead;
        char dir[sizeof(dead->dir)];
        memcpy(dir, dead->dir, sizeof(dir));
        stream_free(dead);
        remove_stream_dir(dir);
        dead = next;
    }
}

const char *stream_name(const struct stream *s)
{
    return s->name;
}

const char *stream_arn(const struct stream *s)
{
    return s->arn;
}

int64_t stream_id(const struct stream *s)
{
    return s->id;
}

uint64_t stream_seq_tag(const struct stream *s)
{
    return s->seq_tag;
}

/* ---- the store ---- */

/* Writes m as s's row. Returns 0 or a store error. */
static int save_meta(struct stream_service *svc, const struct stream *s,
                     const struct stream_meta *m)
{
    store_lock(svc->store);
    struct store_stmt *q;
    int rc = store_prepare(svc->store,
                           "UPDATE streams SET mode=?, retention_hours=?, status=?,"
                           " status_until_ms=?, encryption=?, key_id=?, shard_metrics=? WHERE id=?",
                           &q);
    if (rc == 0) {
        store_bind_text(q, 1, stream_mode_name(m->mode));
        store_bind_int64(q, 2, m->retention_hours);
        store_bind_text(q, 3, status_names[m->status]);
        store_bind_int64(q, 4, m->status_until_ms);
        store_bind_text(q, 5, m->encryption);
        store_bind_text(q, 6, m->key_id);
        store_bind_int64(q, 7, m->shard_metrics);
        store_bind_int64(q, 8, s->id);
        rc = store_step(q);
        store_finalize(q);
    }
    store_unlock(svc->store);
    return rc < 0 ? rc : 0;
}

static int delete_row(struct stream_service *svc, int64_t id)
{
    store_lock(svc->store);
    struct store_stmt *q;
    int rc = store_prepare(svc->store, "DELETE FROM streams WHERE id=?", &q);
    if (rc == 0) {
        store_bind_int64(q, 1, id);
        rc = store_step(q);
        store_finalize(q);
    }
    store_unlock(svc->store);
    return rc < 0 ? rc : 0;
}

/* Inserts the rows of n shards of s (inside the caller's transaction). */
static int insert_shard_rows(struct store *st, const struct stream *s, struct shard *const *shards,
                             size_t n)
{
    struct store_stmt *q = NULL;
    int rc = store_prepare(st,
                           "INSERT INTO stream_shards(stream_id, idx, start_hash, end_hash,"
                           " parent_idx, adjacent_parent_idx, ending_index, created_ms, closed_ms)"
                           " VALUES(?,?,?,?,?,?,?,?,?)",
                           &q);
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        char start[48], end[48];
        stream_hashkey_format(shards[i]->start_hash, start);
        stream_hashkey_format(shards[i]->end_hash, end);
        store_reset(q);
        store_bind_int64(q, 1, s->id);
        store_bind_int64(q, 2, shards[i]->idx);
        store_bind_text(q, 3, start);
        store_bind_text(q, 4, end);
        store_bind_int64(q, 5, shards[i]->parent_idx);
        store_bind_int64(q, 6, shards[i]->adjacent_parent_idx);
        if (shards[i]->open) {
            store_bind_null(q, 7);
        } else {
            store_bind_int64(q, 7, (int64_t)shards[i]->ending_index);
        }
        store_bind_int64(q, 8, shards[i]->created_ms);
        store_bind_int64(q, 9, shards[i]->closed_ms);
        rc = store_step(q);
    }
    store_finalize(q);
    return rc < 0 ? rc : 0;
}

static int insert_rows(struct stream_service *svc, struct stream *s)
{
    struct store *st = svc->store;
    store_lock(st);
    int rc = store_begin(st);
    struct store_stmt *q = NULL;
    if (rc == 0) {
        rc = store_run(st, "UPDATE stream_next_id SET id = id + 1", "");
    }
    if (rc == 0) {
        rc =
            store_prepare(st,
                          "INSERT INTO streams(id, region, account, name, arn, seq_tag, created_ms,"
                          " mode, shard_count, retention_hours, status, status_until_ms)"
                          " VALUES((SELECT id - 1 FROM stream_next_id),?,?,?,?,?,?,?,?,?,?,?)",
                          &q);
    }
    if (rc == 0) {
        store_bind_text(q, 1, s->region);
        store_bind_text(q, 2, s->account);
        store_bind_text(q, 3, s->name);
        store_bind_text(q, 4, s->arn);
        store_bind_int64(q, 5, (int64_t)s->seq_tag);
        store_bind_int64(q, 6, s->created_ms);
        store_bind_text(q, 7, stream_mode_name(s->meta.mode));
        store_bind_int64(q, 8, s->n_shards);
        store_bind_int64(q, 9, s->meta.retention_hours);
        store_bind_text(q, 10, status_names[s->meta.status]);
        store_bind_int64(q, 11, s->meta.status_until_ms);
        rc = store_step(q);
        store_finalize(q);
        q = NULL;
        s->id = store_last_rowid(st);
    }
    if (rc >= 0) {
        rc = insert_shard_rows(st, s, s->shards, s->n_shards);
    }
    if (rc >= 0) {
        rc = store_commit(st);
    }
    if (rc < 0) {
        store_rollback(st);
    }
    store_unlock(st);
    return rc < 0 ? rc : 0;
}

/* Opens sh's log under s->dir; fresh removes what a crashed resharding left there. */
static int open_shard_log(struct stream *s, struct shard *sh, int fresh)
{
    char shard_id[STREAM_SHARD_ID_LEN + 1];
    stream_shard_id_format(sh->idx, shard_id);
    char *path = xasprintf("%s/%s", s->dir, shard_id);
    if (fresh) {
        seglog_remove_dir(path);
    }
    int rc = seglog_open(path, NULL, 0, &sh->log);
    free(path);
    if (rc < 0) {
        log_msg(LOG_ERROR, "stream", "cannot open shard log %s of %s: %s", shard_id, s->name,
                sl_strerror(rc));
    }
    return rc;
}

/* Removes shard logs numbered past s's shards: the children of a resharding that a crash
   stopped before its commit (they never took a record). */
static void remove_uncommitted_shards(struct stream *s)
{
    DIR *d = opendir(s->dir);
    if (d == NULL) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint32_t idx;
        if (strncmp(e->d_name, "shardId-", 8) == 0 && stream_shard_id_parse(e->d_name, &idx) == 0 &&
            idx >= s->n_shards) {
            char *path = xasprintf("%s/%s", s->dir, e->d_name);
            log_msg(LOG_INFO, "stream", "removing %s, left by an interrupted resharding", path);
            seglog_remove_dir(path);
            free(path);
        }
    }
    closedir(d);
}

static int open_shard_logs(struct stream *s)
{
    if (mkdir(s->dir, 0700) != 0 && errno != EEXIST) {
        return -errno;
    }
    remove_uncommitted_shards(s);
    for (uint32_t i = 0; i < s->n_shards; i++) {
        int rc = open_shard_log(s, s->shards[i], 0);
        if (rc < 0) {
            return rc;
        }
    }
    return fsync_dir(s->dir);
}

/* ---- the registry ---- */

/* A stream with no shards yet (add_shard adds them). */
static struct stream *stream_new(struct stream_service *svc, const char *region,
                                 const char *account, const char *name)
{
    struct stream *s = xcalloc(1, sizeof(*s));
    s->svc = svc;
    snprintf(s->region, sizeof(s->region), "%s", region);
    snprintf(s->account, sizeof(s->account), "%s", account);
    snprintf(s->name, sizeof(s->name), "%s", name);
    snprintf(s->arn, sizeof(s->arn), "arn:aws:kinesis:%s:%s:stream/%s", region, account, name);
    /* Writers first: a resharding must not wait behind a steady flow of appends. */
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&s->shards_lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->crypt_lock, NULL);
    pthread_mutex_init(&s->read_lock, NULL);
    atomic_init(&s->refs, 1);
    atomic_init(&s->gone_at_ms, INT64_MAX);
    atomic_init(&s->row_deleted, 0);
    strcpy(s->meta.encryption, "NONE");
    return s;
}

/* Appends sh, the next shard number, to an unpublished s's table. */
static void add_shard(struct stream *s, struct shard *sh)
{
    s->shards = xrealloc(s->shards, (s->n_shards + 1) * sizeof(*s->shards));
    s->shards[s->n_shards++] = sh;
}

/* Appends s to the registry, which takes over the caller's reference. */
static void list_add(struct stream_service *svc, struct stream *s)
{
    pthread_mutex_lock(&svc->lock);
    svc->streams = xrealloc(svc->streams, (svc->n_streams + 1) * sizeof(*svc->streams));
    svc->streams[svc->n_streams++] = s;
    pthread_mutex_unlock(&svc->lock);
}

/* Takes s out of the registry; returns 1 when it was there. */
static int list_remove(struct stream_service *svc, struct stream *s)
{
    int found = 0;
    pthread_mutex_lock(&svc->lock);
    for (size_t i = 0; i < svc->n_streams; i++) {
        if (svc->streams[i] == s) {
            svc->streams[i] = svc->streams[--svc->n_streams];
            found = 1;
            break;
        }
    }
    pthread_mutex_unlock(&svc->lock);
    return found;
}

/* A held copy of the registry (each entry referenced), for work done without its lock. */
static struct stream **list_hold(struct stream_service *svc, size_t *n_out)
{
    pthread_mutex_lock(&svc->lock);
    size_t n = svc->n_streams;
    struct stream **held = xcalloc(n ? n : 1, sizeof(*held));
    for (size_t i = 0; i < n; i++) {
        held[i] = svc->streams[i];
        hold(held[i]);
    }
    pthread_mutex_unlock(&svc->lock);
    *n_out = n;
    return held;
}

static void list_release(struct stream **held, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        stream_release(held[i]);
    }
    free(held);
}

int stream_lookup(struct stream_service *svc, const char *region, const char *name,
                  struct stream **out)
{
    int64_t now = stream_service_now_ms(svc);
    *out = NULL;
    pthread_mutex_lock(&svc->lock);
    for (size_t i = 0; i < svc->n_streams; i++) {
        struct stream *s = svc->streams[i];
        if (strcmp(s->name, name) == 0 && strcmp(s->region, region) == 0 && !is_gone(s, now)) {
            hold(s);
            *out = s;
            break;
        }
    }
    pthread_mutex_unlock(&svc->lock);
    return *out != NULL ? 0 : SL_E(RESOURCE_NOT_FOUND);
}

int stream_lookup_id(struct stream_service *svc, int64_t id, uint64_t seq_tag, struct stream **out)
{
    int64_t now = stream_service_now_ms(svc);
    *out = NULL;
    pthread_mutex_lock(&svc->lock);
    for (size_t i = 0; i < svc->n_streams; i++) {
        struct stream *s = svc->streams[i];
        if (s->id == id && s->seq_tag == seq_tag && !is_gone(s, now)) {
            hold(s);
            *out = s;
            break;
        }
    }
    pthread_mutex_unlock(&svc->lock);
    return *out != NULL ? 0 : SL_E(RESOURCE_NOT_FOUND);
}

int stream_lookup_arn(struct stream_service *svc, const char *arn, struct stream **out)
{
    *out = NULL;
    static const char prefix[] = "arn:aws:kinesis:";
    if (strncmp(arn, prefix, sizeof(prefix) - 1) != 0) {
        return SL_E(INVALID_ARGUMENT);
    }
    const char *region = arn + sizeof(prefix) - 1;
    const char *account = strchr(region, ':');
    const char *rest = account != NULL ? strchr(account + 1, ':') : NULL;
    if (rest == NULL || strncmp(rest + 1, "stream/", 7) != 0) {
        return SL_E(INVALID_ARGUMENT);
    }
    char region_buf[32];
    size_t region_len = (size_t)(account - region);
    if (region_len == 0 || region_len >= sizeof(region_buf)) {
        return SL_E(INVALID_ARGUMENT);
    }
    memcpy(region_buf, region, region_len);
    region_buf[region_len] = '\0';
    int rc = stream_lookup(svc, region_buf, rest + 8, out);
    if (rc == 0 && strcmp((*out)->arn, arn) != 0) {
        stream_release(*out); /* another account's stream of that name */
        *out = NULL;
        rc = SL_E(RESOURCE_NOT_FOUND);
    }
    return rc;
}

void stream_describe(struct stream *s, struct stream_info *out)
{
    struct stream_meta m;
    meta_snapshot(s, stream_service_now_ms(s->svc), &m);
    memset(out, 0, sizeof(*out));
    out->id = s->id;
    memcpy(out->region, s->region, sizeof(out->region));
    memcpy(out->account, s->account, sizeof(out->account));
    memcpy(out->name, s->name, sizeof(out->name));
    memcpy(out->arn, s->arn, sizeof(out->arn));
    out->seq_tag = s->seq_tag;
    out->created_ms = s->created_ms;
    out->mode = m.mode;
    out->retention_hours = m.retention_hours;
    out->status = m.status;
    memcpy(out->encryption, m.encryption, sizeof(out->encryption));
    memcpy(out->key_id, m.key_id, sizeof(out->key_id));
    out->shard_metrics = m.shard_metrics;
    pthread_rwlock_rdlock(&s->shards_lock);
    out->n_shards = s->n_shards;
    out->n_open_shards = s->n_open;
    pthread_rwlock_unlock(&s->shards_lock);
}

enum stream_status stream_status_get(struct stream *s)
{
    struct stream_meta m;
    meta_snapshot(s, stream_service_now_ms(s->svc), &m);
    return m.status;
}

static int cmp_info_names(const void *a, const void *b)
{
    return strcmp(((const struct stream_info *)a)->name, ((const struct stream_info *)b)->name);
}

void stream_list(struct stream_service *svc, const char *region, struct stream_info **out,
                 size_t *n_out)
{
    int64_t now = stream_service_now_ms(svc);
    size_t n_held;
    struct stream **held = list_hold(svc, &n_held);
    struct stream_info *infos = xcalloc(n_held ? n_held : 1, sizeof(*infos));
    size_t n = 0;
    for (size_t i = 0; i < n_held; i++) {
        if (strcmp(held[i]->region, region) == 0 && !is_gone(held[i], now)) {
            stream_describe(held[i], &infos[n++]);
        }
    }
    list_release(held, n_held);
    qsort(infos, n, sizeof(*infos), cmp_info_names);
    *out = infos;
    *n_out = n;
}

void stream_counts_all(struct stream_service *svc, struct stream_counts **out, size_t *n_out)
{
    int64_t now = stream_service_now_ms(svc);
    size_t n_held;
    struct stream **held = list_hold(svc, &n_held);
    struct stream_counts *c = xcalloc(n_held ? n_held : 1, sizeof(*c));
    size_t n = 0;
    for (size_t i = 0; i < n_held; i++) {
        if (!is_gone(held[i], now)) {
            snprintf(c[n].region, sizeof(c[n].region), "%s", held[i]->region);
            snprintf(c[n].name, sizeof(c[n].name), "%s", held[i]->name);
            c[n].incoming_records = atomic_load(&held[i]->counters.incoming_records);
            c[n].incoming_bytes = atomic_load(&held[i]->counters.incoming_bytes);
            c[n].write_throttled = atomic_load(&held[i]->counters.write_throttled);
            c[n].outgoing_records = atomic_load(&held[i]->counters.outgoing_records);
            c[n].outgoing_bytes = atomic_load(&held[i]->counters.outgoing_bytes);
            pthread_rwlock_rdlock(&held[i]->shards_lock);
            for (uint32_t j = 0; j < held[i]->n_shards; j++) {
                struct seglog_stats ls;
                if (held[i]->shards[j]->log != NULL) {
                    seglog_get_stats(held[i]->shards[j]->log, &ls);
                    c[n].log_bytes += ls.bytes;
                }
            }
            pthread_rwlock_unlock(&held[i]->shards_lock);
            n++;
        }
    }
    list_release(held, n_held);
    *out = c;
    *n_out = n;
}

void stream_shard_logs(struct stream_service *svc, struct stream_shard_log **out, size_t *n_out)
{
    int64_t now = stream_service_now_ms(svc);
    size_t n_held;
    struct stream **held = list_hold(svc, &n_held);
    struct stream_shard_log *r = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < n_held; i++) {
        struct stream *s = held[i];
        if (is_gone(s, now)) {
            continue;
        }
        pthread_rwlock_rdlock(&s->shards_lock);
        for (uint32_t j = 0; j < s->n_shards; j++) {
            if (s->shards[j]->log == NULL) {
                continue;
            }
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                r = xrealloc(r, cap * sizeof(*r));
            }
            struct seglog_stats ls;
            seglog_get_stats(s->shards[j]->log, &ls);
            snprintf(r[n].region, sizeof(r[n].region), "%s", s->region);
            snprintf(r[n].name, sizeof(r[n].name), "%s", s->name);
            r[n].shard_idx = s->shards[j]->idx;
            r[n].records = seglog_durable_index(s->shards[j]->log);
            r[n].bytes = ls.bytes;
            n++;
        }
        pthread_rwlock_unlock(&s->shards_lock);
    }
    list_release(held, n_held);
    *out = r;
    *n_out = n;
}

void stream_read_count(struct stream *s, const char *consumer,
                       const struct stream_read_sample *samples, size_t n)
{
    pthread_mutex_lock(&s->read_lock);
    struct stream_read_acc *a = s->reads;
    while (a != NULL && strcmp(a->consumer, consumer) != 0) {
        a = a->next;
    }
    if (a == NULL) {
        a = xcalloc(1, sizeof(*a));
        snprintf(a->consumer, sizeof(a->consumer), "%s", consumer);
        a->next = s->reads;
        s->reads = a;
    }
    for (size_t i = 0; i < n; i++) {
        struct stream_stat *st = &a->st[samples[i].which];
        double v = samples[i].value;
        if (st->count == 0 || v < st->min) {
            st->min = v;
        }
        if (st->count == 0 || v > st->max) {
            st->max = v;
        }
        st->count++;
        st->sum += v;
    }
    pthread_mutex_unlock(&s->read_lock);
}

void stream_read_stats_take(struct stream_service *svc, struct stream_read_stats **out,
                            size_t *n_out)
{
    int64_t now = stream_service_now_ms(svc);
    size_t n_held;
    struct stream **held = list_hold(svc, &n_held);
    struct stream_read_stats *r = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < n_held; i++) {
        struct stream *s = held[i];
        if (is_gone(s, now)) {
            continue;
        }
        pthread_mutex_lock(&s->read_lock);
        for (struct stream_read_acc *a = s->reads; a != NULL; a = a->next) {
            int any = 0;
            for (int j = 0; j < STREAM_READ_METRICS; j++) {
                any |= a->st[j].count > 0;
            }
            if (!any) {
                continue;
            }
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                r = xrealloc(r, cap * sizeof(*r));
            }
            snprintf(r[n].region, sizeof(r[n].region), "%s", s->region);
            snprintf(r[n].name, sizeof(r[n].name), "%s", s->name);
            snprintf(r[n].consumer, sizeof(r[n].consumer), "%s", a->consumer);
            memcpy(r[n].st, a->st, sizeof(a->st));
            memset(a->st, 0, sizeof(a->st));
            n++;
        }
        pthread_mutex_unlock(&s->read_lock);
    }
    list_release(held, n_held);
    *out = r;
    *n_out = n;
}

uint32_t stream_shard_metrics(struct stream *s)
{
    return atomic_load_explicit(&s->shard_mask, memory_order_relaxed);
}

static void stat_add(struct stream_stat *st, double v)
{
    if (st->count == 0 || v < st->min) {
        st->min = v;
    }
    if (st->count == 0 || v > st->max) {
        st->max = v;
    }
    st->count++;
    st->sum += v;
}

void stream_shard_count(struct stream *s, const struct stream_shard_sample *samples, size_t n)
{
    uint32_t mask = stream_shard_metrics(s);
    pthread_mutex_lock(&s->read_lock);
    for (size_t i = 0; i < n; i++) {
        uint32_t idx = samples[i].shard_idx;
        if (!(mask & (1u << samples[i].which))) {
            continue;
        }
        if (idx >= s->n_shard_st) {
            uint32_t cap = idx + 1 > 2 * s->n_shard_st ? idx + 1 : 2 * s->n_shard_st;
            s->shard_st = xrealloc(s->shard_st, cap * sizeof(*s->shard_st));
            memset(s->shard_st + s->n_shard_st, 0, (cap - s->n_shard_st) * sizeof(*s->shard_st));
            s->n_shard_st = cap;
        }
        stat_add(&s->shard_st[idx][samples[i].which], samples[i].value);
    }
    pthread_mutex_unlock(&s->read_lock);
}

void stream_shard_stats_take(struct stream_service *svc, struct stream_shard_stats **out,
                             size_t *n_out)
{
    int64_t now = stream_service_now_ms(svc);
    size_t n_held;
    struct stream **held = list_hold(svc, &n_held);
    struct stream_shard_stats *r = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < n_held; i++) {
        struct stream *s = held[i];
        if (is_gone(s, now)) {
            continue;
        }
        uint32_t mask = stream_shard_metrics(s);
        pthread_mutex_lock(&s->read_lock);
        for (uint32_t k = 0; k < s->n_shard_st; k++) {
            int any = 0;
            for (int j = 0; j < STREAM_N_METRICS; j++) {
                if (!(mask & (1u << j))) {
                    s->shard_st[k][j] = (struct stream_stat){0}; /* disabled meanwhile */
                }
                any |= s->shard_st[k][j].count > 0;
            }
            if (!any) {
                continue;
            }
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                r = xrealloc(r, cap * sizeof(*r));
            }
            snprintf(r[n].region, sizeof(r[n].region), "%s", s->region);
            snprintf(r[n].name, sizeof(r[n].name), "%s", s->name);
            r[n].shard_idx = k;
            memcpy(r[n].st, s->shard_st[k], sizeof(r[n].st));
            memset(s->shard_st[k], 0, sizeof(s->shard_st[k]));
            n++;
        }
        pthread_mutex_unlock(&s->read_lock);
    }
    list_release(held, n_held);
    *out = r;
    *n_out = n;
}

static int shard_limit(const struct stream_service *svc, const char *region)
{
    if (svc->cfg->shard_limit > 0) {
        return svc->cfg->shard_limit;
    }
    /* AWS's default shard quota: 500 in the three largest regions, 200 elsewhere. */
    if (strcmp(region, "us-east-1") == 0 || strcmp(region, "us-west-2") == 0 ||
        strcmp(region, "eu-west-1") == 0) {
        return 500;
    }
    return 200;
}

void stream_service_limits(struct stream_service *svc, const char *region,
                           struct stream_limits *out)
{
    int64_t now = stream_service_now_ms(svc);
    out->shard_limit = shard_limit(svc, region);
    out->on_demand_stream_limit = svc->cfg->on_demand_stream_limit;
    out->open_shards = 0;
    out->on_demand_streams = 0;
    pthread_mutex_lock(&svc->lock);
    for (size_t i = 0; i < svc->n_streams; i++) {
        struct stream *s = svc->streams[i];
        if (strcmp(s->region, region) != 0 || is_gone(s, now)) {
            continue;
        }
        pthread_rwlock_rdlock(&s->shards_lock);
        out->open_shards += (int)s->n_open;
        pthread_rwlock_unlock(&s->shards_lock);
        pthread_mutex_lock(&s->lock);
        out->on_demand_streams += s->meta.mode == STREAM_MODE_ON_DEMAND;
        pthread_mutex_unlock(&s->lock);
    }
    pthread_mutex_unlock(&svc->lock);
}

void stream_service_sign(struct stream_service *svc, const void *data, size_t len, uint8_t mac[32])
{
    crypto_hmac_sha256(svc->iterator_key, sizeof(svc->iterator_key), data, len, mac);
}

void stream_iterator_encode(struct stream_service *svc, const struct stream_iterator_pos *pos,
                            char out[STREAM_ITERATOR_TEXT_MAX])
{
    stream__iterator_encode(svc->iterator_key, pos, out, STREAM_ITERATOR_TEXT_MAX);
}

int stream_iterator_decode(struct stream_service *svc, const char *text, size_t len, int64_t now_ms,
                           struct stream_iterator_pos *pos, struct err_info *err)
{
    return stream__iterator_decode(svc->iterator_key, text, len, now_ms, pos, err);
}

/* ---- changes of state ---- */

/*
 * Settles every due transition: a due DELETING stream loses its row, leaves the registry
 * and is freed with its last reference; a due CREATING or UPDATING one is recorded ACTIVE.
 * Called with admin_lock held; the disk work is done without the registry lock.
 */
static void settle_locked(struct stream_service *svc)
{
    int64_t now = stream_service_now_ms(svc);
    size_t n;
    struct stream **held = list_hold(svc, &n);
    for (size_t i = 0; i < n; i++) {
        struct stream *s = held[i];
        struct stream_meta m;
        pthread_mutex_lock(&s->lock);
        m = s->meta;
        pthread_mutex_unlock(&s->lock);
        if (m.status == STREAM_ACTIVE || now < m.status_until_ms) {
            continue;
        }
        if (m.status == STREAM_DELETING) {
            if (delete_row(svc, s->id) == 0) {
                atomic_store(&s->row_deleted, 1);
                if (list_remove(svc, s)) {
                    stream_release(s); /* the registry's reference */
                }
            }
            continue;
        }
        m.status = STREAM_ACTIVE;
        if (save_meta(svc, s, &m) == 0) {
            meta_publish(s, &m);
        }
    }
    list_release(held, n);
}

void stream__settle(struct stream_service *svc)
{
    pthread_mutex_lock(&svc->admin_lock);
    settle_locked(svc);
    pthread_mutex_unlock(&svc->admin_lock);
}

/* Wakes every reader waiting on s (its deletion began). */
static void wake_waiters(struct shard *sh)
{
    pthread_mutex_lock(&sh->wait_lock);
    pthread_cond_broadcast(&sh->wait_cond);
    pthread_mutex_unlock(&sh->wait_lock);
}

static void wake_all_waiters(struct stream *s)
{
    uint32_t n;
    struct shard **held = shards_hold(s, &n);
    for (uint32_t i = 0; i < n; i++) {
        wake_waiters(held[i]);
    }
    free(held);
}

/* The highest epoch of a deleted stream named name in region; -1 for none. */
static int64_t retired_epoch(struct stream_service *svc, const char *region, const char *name)
{
    int64_t epoch = -1;
    store_lock(svc->store);
    struct store_stmt *q = store_prepare_args(
        svc->store, "SELECT epoch_s FROM stream_retired_epochs WHERE region=? AND name=?", "ss",
        region, name);
    if (q != NULL && store_step(q) == 1) {
        epoch = store_col_int64(q, 0);
    }
    store_finalize(q);
    store_unlock(svc->store);
    return epoch;
}

/* Records the highest sequence epoch of s, which is being deleted (admin_lock held). */
static int retire_epoch(struct stream_service *svc, struct stream *s)
{
    int64_t epoch = 0;
    pthread_rwlock_rdlock(&s->shards_lock);
    for (uint32_t i = 0; i < s->n_shards; i++) {
        epoch = s->shards[i]->seq_epoch_s > epoch ? s->shards[i]->seq_epoch_s : epoch;
    }
    pthread_rwlock_unlock(&s->shards_lock);
    store_lock(svc->store);
    int rc = store_run(svc->store,
                       "INSERT INTO stream_retired_epochs(region, name, epoch_s) VALUES(?, ?, ?)"
                       " ON CONFLICT(region, name) DO UPDATE SET"
                       " epoch_s=max(epoch_s, excluded.epoch_s)",
                       "ssi", s->region, s->name, epoch);
    store_unlock(svc->store);
    return rc < 0 ? rc : 0;
}

int stream_create(struct stream_service *svc, const struct stream_create_params *p,
                  struct err_info *err)
{
    pthread_mutex_lock(&svc->admin_lock);
    /* A due deletion must leave the store before its name is taken again. */
    settle_locked(svc);
    int64_t now = stream_service_now_ms(svc);
    int rc = 0;
    struct stream_limits lim;
    stream_service_limits(svc, p->region, &lim);
    struct stream *existing;
    if (stream_lookup(svc, p->region, p->name, &existing) == 0) {
        stream_release(existing);
        rc = err_set(err, SL_E(RESOURCE_IN_USE), "Stream %s under account %s already exists.",
                     p->name, p->account);
        goto out;
    }
    if (p->shard_count < 1) {
        rc = err_set(err, SL_E(INVALID_ARGUMENT), "ShardCount must be at least 1.");
        goto out;
    }
    /* Quotas are checked before anything is allocated. */
    if (p->mode == STREAM_MODE_ON_DEMAND && lim.on_demand_streams >= lim.on_demand_stream_limit) {
        rc = err_set(err, SL_E(LIMIT_EXCEEDED),
                     "This request would exceed the on-demand stream count limit for the account "
                     "%s in %s. Current on-demand stream count: %d. Limit: %d.",
                     p->account, p->region, lim.on_demand_streams, lim.on_demand_stream_limit);
        goto out;
    }
    if ((long long)lim.open_shards + p->shard_count > lim.shard_limit) {
        rc = err_set(err, SL_E(LIMIT_EXCEEDED),
                     "This request would exceed the shard limit for the account %s in %s. "
                     "Current shard count for the account: %d. Limit: %d. Number of additional "
                     "shards that would have resulted from this request: %d. Refer to the AWS "
                     "Service Limits page for current limits and how to request higher limits.",
                     p->account, p->region, lim.open_shards, lim.shard_limit, p->shard_count);
        goto out;
    }

    struct stream *s = stream_new(svc, p->region, p->account, p->name);
    s->meta.mode = p->mode;
    s->meta.retention_hours = STREAM_RETENTION_MIN_HOURS;
    s->created_ms = now;
    s->seq_tag = (uint64_t)now;
    s->meta.status = STREAM_CREATING;
    s->meta.status_until_ms = now + svc->cfg->stream_transition_ms;
    /* Above every epoch of an earlier stream of this name (see migration 6): the shards'
       creation, from which their epoch is computed, moves up to the next second if need be. */
    int64_t floor_s = retired_epoch(svc, p->region, p->name);
    int64_t shard_created_ms = floor_s >= 0 && now < (floor_s + 1) * 1000 ? (floor_s + 1) * 1000
                                                                           : now;
    for (uint32_t i = 0; i < (uint32_t)p->shard_count; i++) {
        u128 start, end;
        stream__shard_even_range(i, (uint32_t)p->shard_count, &start, &end);
        struct shard *sh = shard_new(i, start, end, -1, -1);
        sh->created_ms = shard_created_ms;
        sh->seq_epoch_s = stream__seq_epoch(shard_created_ms, -1, -1);
        add_shard(s, sh);
    }
    rebuild_open(s);
    rc = insert_rows(svc, s);
    if (rc < 0) {
        stream_free(s);
        goto out;
    }
    snprintf(s->dir, sizeof(s->dir), "%s/streams/%lld", svc->cfg->data_dir, (long long)s->id);
    rc = open_shard_logs(s);
    if (rc == 0 && p->n_tags > 0) {
        rc = stream_tags_put(svc, s, p->tag_keys, p->tag_values, p->n_tags, err);
    }
    if (rc < 0) {
        if (delete_row(svc, s->id) == 0) {
            atomic_store(&s->row_deleted, 1);
        }
        stream_release(s); /* removes the files on the background thread */
        goto out;
    }
    list_add(svc, s);
    kick_background(svc, 0);
out:
    pthread_mutex_unlock(&svc->admin_lock);
    return rc;
}

int stream_delete(struct stream_service *svc, struct stream *s, struct err_info *err)
{
    pthread_mutex_lock(&svc->admin_lock);
    int64_t now = stream_service_now_ms(svc);
    struct stream_meta m;
    meta_snapshot(s, now, &m);
    int rc = 0;
    if (m.status == STREAM_DELETING) {
        rc = err_set(err, SL_E(RESOURCE_NOT_FOUND), "Stream %s under account %s not found.",
                     s->name, s->account);
    } else {
        m.status = STREAM_DELETING;
        m.status_until_ms = now + svc->cfg->stream_transition_ms;
        rc = retire_epoch(svc, s);
        rc = rc < 0 ? rc : save_meta(svc, s, &m);
        if (rc == 0) {
            meta_publish(s, &m);
            atomic_store(&s->gone_at_ms, m.status_until_ms);
        } else {
            err_set(err, rc, "Internal service failure.");
        }
    }
    pthread_mutex_unlock(&svc->admin_lock);
    if (rc == 0) {
        wake_all_waiters(s);
        kick_background(svc, 0);
    }
    return rc;
}

/*
 * The rolling 24-hour limits: how many times op succeeded on s in the day before now_ms
 * (0 when the store cannot say: a limit is no reason to refuse service), and the record
 * of one more, which also forgets the ones older than a day. Need admin_lock.
 */
static int daily_count(struct stream_service *svc, const struct stream *s, const char *op,
                       int64_t now_ms)
{
    int n = 0;
    store_lock(svc->store);
    struct store_stmt *q = store_prepare_args(
        svc->store, "SELECT count(*) FROM stream_daily_ops WHERE stream_id=? AND op=? AND at_ms>?",
        "isi", s->id, op, now_ms - DAY_MS);
    if (q != NULL && store_step(q) == 1) {
        n = (int)store_col_int64(q, 0);
    }
    store_finalize(q);
    store_unlock(svc->store);
    return n;
}

static void daily_record(struct stream_service *svc, const struct stream *s, const char *op,
                         int64_t now_ms)
{
    store_lock(svc->store);
    int rc = store_run(svc->store,
                       "DELETE FROM stream_daily_ops WHERE stream_id=? AND op=? AND at_ms<=?",
                       "isi", s->id, op, now_ms - DAY_MS);
    if (rc >= 0) {
        rc = store_run(svc->store,
                       "INSERT INTO stream_daily_ops(stream_id, op, at_ms) VALUES(?,?,?)", "isi",
                       s->id, op, now_ms);
    }
    store_unlock(svc->store);
    if (rc < 0) {
        log_msg(LOG_WARN, "stream", "cannot count %s of %s: %s", op, s->name, sl_strerror(rc));
    }
}

static int not_active(struct err_info *err, const struct stream *s, enum stream_status st)
{
    return err_set(err, SL_E(RESOURCE_IN_USE),
                   "Stream %s under account %s not ACTIVE, instead in state %s", s->name,
                   s->account, stream_status_name(st));
}

/* Writes m and shows it; err gets a store failure. Needs admin_lock. */
static int commit_meta(struct stream_service *svc, struct stream *s, const struct stream_meta *m,
                       struct err_info *err)
{
    int rc = save_meta(svc, s, m);
    if (rc < 0) {
        return err_set(err, rc, "Internal service failure.");
    }
    meta_publish(s, m);
    return 0;
}

int stream_update_mode(struct stream_service *svc, struct stream *s, enum stream_mode mode,
                       struct err_info *err)
{
    pthread_mutex_lock(&svc->admin_lock);
    int64_t now = stream_service_now_ms(svc);
    struct stream_meta m;
    meta_snapshot(s, now, &m);
    int rc;
    if (m.mode == mode) {
        rc = err_set(err, SL_E(INVALID_ARGUMENT), "Stream %s is already in %s mode.", s->name,
                     stream_mode_name(mode));
    } else if (m.status != STREAM_ACTIVE) {
        rc = not_active(err, s, m.status);
    } else {
        m.mode = mode;
        m.status = STREAM_UPDATING;
        m.status_until_ms = now + svc->cfg->stream_transition_ms;
        rc = commit_meta(svc, s, &m, err);
    }
    pthread_mutex_unlock(&svc->admin_lock);
    if (rc == 0) {
        kick_background(svc, 0);
    }
    return rc;
}

int stream_update_retention(struct stream_service *svc, struct stream *s, int hours, int direction,
                            struct err_info *err)
{
    pthread_mutex_lock(&svc->admin_lock);
    struct stream_meta m;
    meta_snapshot(s, stream_service_now_ms(svc), &m);
    int rc;
    if (m.status != STREAM_ACTIVE) {
        rc = not_active(err, s, m.status);
    } else if (hours < STREAM_RETENTION_MIN_HOURS) {
        rc = err_set(err, SL_E(INVALID_ARGUMENT),
                     "Minimum allowed retention period is %d hours. Requested retention period "
                     "(%d hours) is too short.",
                     STREAM_RETENTION_MIN_HOURS, hours);
    } else if (hours > STREAM_RETENTION_MAX_HOURS) {
        rc = err_set(err, SL_E(INVALID_ARGUMENT),
                     "Maximum allowed retention period is %d hours. Requested retention period "
                     "(%d hours) is too long.",
                     STREAM_RETENTION_MAX_HOURS, hours);
    } else if (direction > 0 && hours < m.retention_hours) {
        rc = err_set(err, SL_E(INVALID_ARGUMENT),
                     "Requested retention period (%d hours) for stream %s can not be shorter "
                     "than existing retention period (%d hours). Use DecreaseRetentionPeriod API.",
                     hours, s->name, m.retention_hours);
    } else if (direction < 0 && hours > m.retention_hours) {
        rc = err_set(err, SL_E(INVALID_ARGUMENT),
                     "Requested retention period (%d hours) for stream %s can not be longer "
                     "than existing retention period (%d hours). Use IncreaseRetentionPeriod API.",
                     hours, s->name, m.retention_hours);
    } else {
        int shorter = hours < m.retention_hours;
        m.retention_hours = hours;
        rc = commit_meta(svc, s, &m, err);
        if (rc == 0 && shorter) {
            kick_background(svc, 1); /* a shorter period takes effect promptly */
        }
    }
    pthread_mutex_unlock(&svc->admin_lock);
    return rc;
}

int stream_update_encryption(struct stream_service *svc, struct stream *s, const char *encryption,
                             const char *key_id, struct err_info *err)
{
    pthread_mutex_lock(&svc->admin_lock);
    int64_t now = stream_service_now_ms(svc);
    struct stream_meta m;
    meta_snapshot(s, now, &m);
    int rc;
    int kms = strcmp(encryption, "KMS") == 0;
    const char *op = kms ? "StartStreamEncryption" : "StopStreamEncryption";
    if (m.status != STREAM_ACTIVE) {
        rc = not_active(err, s, m.status);
    } else if (daily_count(svc, s, op, now) >= STREAM_ENCRYPTIONS_PER_DAY_MAX) {
        rc = err_set(err, SL_E(LIMIT_EXCEEDED),
                     "Exceeded the number of allowed %s operations (%d) in a rolling 24-hour "
                     "period for stream %s under account %s.",
                     op, STREAM_ENCRYPTIONS_PER_DAY_MAX, s->name, s->account);
    } else {
        snprintf(m.encryption, sizeof(m.encryption), "%s", kms ? "KMS" : "NONE");
        snprintf(m.key_id, sizeof(m.key_id), "%s", kms && key_id != NULL ? key_id : "");
        m.status = STREAM_UPDATING;
        m.status_until_ms = now + svc->cfg->stream_transition_ms;
        rc = commit_meta(svc, s, &m, err);
        if (rc == 0) {
            daily_record(svc, s, op, now);
        }
    }
    pthread_mutex_unlock(&svc->admin_lock);
    if (rc == 0) {
        kick_background(svc, 0);
    }
    return rc;
}

int stream_update_monitoring(struct stream_service *svc, struct stream *s, uint32_t mask,
                             int enable, uint32_t *before, uint32_t *after, struct err_info *err)
{
    pthread_mutex_lock(&svc->admin_lock);
    struct stream_meta m;
    meta_snapshot(s, stream_service_now_ms(svc), &m);
    *before = *after = m.shard_metrics;
    int rc;
    if (m.status != STREAM_ACTIVE) {
        rc = not_active(err, s, m.status);
    } else {
        m.shard_metrics = enable ? m.shard_metrics | mask : m.shard_metrics & ~mask;
        m.shard_metrics &= STREAM_METRICS_ALL;
        rc = m.shard_metrics == *before ? 0 : commit_meta(svc, s, &m, err);
        if (rc == 0) {
            *after = m.shard_metrics;
        }
    }
    pthread_mutex_unlock(&svc->admin_lock);
    return rc;
}

/* ---- tags ---- */

int stream_tags_list(struct stream_service *svc, struct stream *s, char ***keys, char ***values,
                     size_t *n_out)
{
    *keys = NULL;
    *values = NULL;
    *n_out = 0;
    store_read_begin(svc->store);
    struct store_stmt *q;
    int rc = store_prepare(svc->store,
                           "SELECT key, value FROM stream_tags WHERE stream_id=? ORDER BY key", &q);
    if (rc == 0) {
        store_bind_int64(q, 1, s->id);
        while ((rc = store_step(q)) == 1) {
            *keys = xrealloc(*keys, (*n_out + 1) * sizeof(char *));
            *values = xrealloc(*values, (*n_out + 1) * sizeof(char *));
            (*keys)[*n_out] = xstrdup(store_col_text(q, 0));
            (*values)[*n_out] = xstrdup(store_col_text(q, 1));
            (*n_out)++;
        }
        store_finalize(q);
    }
    store_read_end(svc->store);
    return rc < 0 ? rc : 0;
}

void stream_tags_free(char **keys, char **values, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(keys[i]);
        free(values[i]);
    }
    free(keys);
    free(values);
}

int stream_tags_put(struct stream_service *svc, struct stream *s, const char *const *keys,
                    const char *const *values, size_t n, struct err_info *err)
{
    struct store *st = svc->store;
    store_lock(st);
    /* A stream holds at most 50 tags, counting the ones this request replaces once. */
    struct store_stmt *q;
    int rc = store_prepare(st, "SELECT key FROM stream_tags WHERE stream_id=?", &q);
    size_t total = n;
    if (rc == 0) {
        store_bind_int64(q, 1, s->id);
        while ((rc = store_step(q)) == 1) {
            const char *k = store_col_text(q, 0);
            int replaced = 0;
            for (size_t i = 0; i < n; i++) {
                replaced |= strcmp(keys[i], k) == 0;
            }
            total += !replaced;
        }
        store_finalize(q);
    }
    if (rc >= 0 && total > STREAM_TAGS_MAX) {
        rc = err_set(err, SL_E(LIMIT_EXCEEDED),
                     "Failed to add tags to stream %s under account %s because a given stream "
                     "can have a maximum of 50 tags.",
                     s->name, s->account);
        goto out;
    }
    if (rc >= 0) {
        rc = store_begin(st);
    }
    if (rc >= 0) {
        rc = store_prepare(st,
                           "INSERT INTO stream_tags(stream_id, key, value) VALUES(?,?,?)"
                           " ON CONFLICT(stream_id, key) DO UPDATE SET value=excluded.value",
                           &q);
        for (size_t i = 0; rc >= 0 && i < n; i++) {
            store_reset(q);
            store_bind_int64(q, 1, s->id);
            store_bind_text(q, 2, keys[i]);
            store_bind_text(q, 3, values[i]);
            rc = store_step(q);
        }
        store_finalize(q);
        if (rc >= 0) {
            rc = store_commit(st);
        } else {
            store_rollback(st);
        }
    }
out:
    store_unlock(st);
    return rc < 0 ? rc : 0;
}

int stream_tags_remove(struct stream_service *svc, struct stream *s, const char *const *keys,
                       size_t n)
{
    struct store *st = svc->store;
    store_lock(st);
    struct store_stmt *q;
    int rc = store_begin(st);
    if (rc >= 0) {
        rc = store_prepare(st, "DELETE FROM stream_tags WHERE stream_id=? AND key=?", &q);
        for (size_t i = 0; rc >= 0 && i < n; i++) {
            store_reset(q);
            store_bind_int64(q, 1, s->id);
            store_bind_text(q, 2, keys[i]);
            rc = store_step(q);
        }
        store_finalize(q);
        if (rc >= 0) {
            rc = store_commit(st);
        } else {
            store_rollback(st);
        }
    }
    store_unlock(st);
    return rc < 0 ? rc : 0;
}

/* ---- shards ---- */

/* Shard shard_idx of s or NULL; the pointer stays valid while s is referenced. */
static struct shard *find_shard(struct stream *s, uint32_t shard_idx)
{
    pthread_rwlock_rdlock(&s->shards_lock);
    struct shard *sh = shard_idx < s->n_shards ? s->shards[shard_idx] : NULL;
    pthread_rwlock_unlock(&s->shards_lock);
    return sh;
}

/* Fills out from sh (shards_lock held). */
static void shard_info(const struct shard *sh, struct stream_shard_info *out)
{
    memset(out, 0, sizeof(*out));
    out->shard_idx = sh->idx;
    stream_shard_id_format(sh->idx, out->shard_id);
    out->parent_idx = sh->parent_idx;
    out->adjacent_parent_idx = sh->adjacent_parent_idx;
    out->start_hash = sh->start_hash;
    out->end_hash = sh->end_hash;
    out->open = sh->open;
    out->starting_index = 0;
    out->ending_index = sh->open ? 0 : sh->ending_index;
    out->created_ms = sh->created_ms;
    out->closed_ms = sh->open ? 0 : sh->closed_ms;
    out->seq_epoch_s = sh->seq_epoch_s;
}

int stream_seqno_shard(struct stream *s, uint32_t shard_idx, struct stream_seqno_shard *out)
{
    struct shard *sh = find_shard(s, shard_idx);
    if (sh == NULL) {
        return SL_E(RESOURCE_NOT_FOUND);
    }
    *out = (struct stream_seqno_shard){.shard_idx = shard_idx, .epoch_s = sh->seq_epoch_s};
    return 0;
}

void stream_shards_list(struct stream *s, struct stream_shard_info **out, size_t *n_out)
{
    pthread_rwlock_rdlock(&s->shards_lock);
    uint32_t n = s->n_shards;
    struct stream_shard_info *infos = xcalloc(n ? n : 1, sizeof(*infos));
    for (uint32_t i = 0; i < n; i++) {
        shard_info(s->shards[i], &infos[i]);
    }
    pthread_rwlock_unlock(&s->shards_lock);
    *out = infos;
    *n_out = n;
}

int stream_shard_get(struct stream *s, uint32_t shard_idx, struct stream_shard_info *out)
{
    int rc = SL_E(RESOURCE_NOT_FOUND);
    pthread_rwlock_rdlock(&s->shards_lock);
    if (shard_idx < s->n_shards) {
        shard_info(s->shards[shard_idx], out);
        rc = 0;
    }
    pthread_rwlock_unlock(&s->shards_lock);
    return rc;
}

int stream_shard_state(struct stream *s, uint32_t shard_idx, struct stream_shard_state *out)
{
    struct shard *sh = find_shard(s, shard_idx);
    if (sh == NULL) {
        return SL_E(RESOURCE_NOT_FOUND);
    }
    out->first_index = seglog_first_index(sh->log);
    out->durable_index = seglog_durable_index(sh->log);
    out->last_arrival_ms = seglog_last_arrival_ms(sh->log);
    return 0;
}

/* ---- resharding ---- */

/*
 * A resharding as it is planned, under admin_lock: the open shards as they will be, the
 * shards it adds (numbered from s->n_shards on, owned here until published) and the
 * existing shards it closes. A shard that is added and closed by the same plan (the
 * short-lived shards of UpdateShardCount) is closed empty.
 */
struct plan {
    struct stream *s;
    int64_t now_ms;
    struct shard **open; /* sorted by start_hash; existing or added */
    size_t n_open;
    struct shard **added;
    size_t n_added;
    struct shard **closed; /* existing shards */
    size_t n_closed;
};

static void plan_init(struct plan *p, struct stream *s, int64_t now_ms)
{
    memset(p, 0, sizeof(*p));
    p->s = s;
    p->now_ms = now_ms;
    pthread_rwlock_rdlock(&s->shards_lock);
    p->n_open = s->n_open;
    /* room for every shard a plan can add: at most two per open shard plus the target */
    p->open =
        xcalloc(2 * (size_t)s->n_open + 2 * STREAM_SHARDS_PER_STREAM_MAX + 2, sizeof(*p->open));
    memcpy(p->open, s->open_shards, s->n_open * sizeof(*p->open));
    pthread_rwlock_unlock(&s->shards_lock);
}

/* Frees what the plan still owns: added shards not published, with their files. */
static void plan_fini(struct plan *p)
{
    for (size_t i = 0; i < p->n_added; i++) {
        struct shard *sh = p->added[i];
        if (sh->log != NULL) {
            char shard_id[STREAM_SHARD_ID_LEN + 1];
            stream_shard_id_format(sh->idx, shard_id);
            char *path = xasprintf("%s/%s", p->s->dir, shard_id);
            seglog_close(sh->log);
            sh->log = NULL;
            seglog_remove_dir(path);
            free(path);
        }
        shard_free(sh);
    }
    free(p->added);
    free(p->closed);
    free(p->open);
}

/* The sequence epoch of a parent: an existing shard or one the plan added (admin_lock
   held, so the shard table does not change meanwhile); -1 for none. */
static int64_t plan_epoch(const struct plan *p, int64_t idx)
{
    if (idx < 0) {
        return -1;
    }
    if (idx < (int64_t)p->s->n_shards) {
        return p->s->shards[idx]->seq_epoch_s;
    }
    return p->added[idx - (int64_t)p->s->n_shards]->seq_epoch_s;
}

static struct shard *plan_add(struct plan *p, u128 start, u128 end, int64_t parent_idx,
                              int64_t adjacent_parent_idx)
{
    struct shard *sh = shard_new(p->s->n_shards + (uint32_t)p->n_added, start, end, parent_idx,
                                 adjacent_parent_idx);
    sh->created_ms = p->now_ms;
    sh->seq_epoch_s = stream__seq_epoch(sh->created_ms, plan_epoch(p, parent_idx),
                                        plan_epoch(p, adjacent_parent_idx));
    p->added = xrealloc(p->added, (p->n_added + 1) * sizeof(*p->added));
    p->added[p->n_added++] = sh;
    return sh;
}

static void plan_close(struct plan *p, struct shard *sh)
{
    if (sh->idx < p->s->n_shards) {
        p->closed = xrealloc(p->closed, (p->n_closed + 1) * sizeof(*p->closed));
        p->closed[p->n_closed++] = sh;
    } else {
        sh->open = 0;
        sh->ending_index = 0;
        sh->closed_ms = p->now_ms;
    }
}

/* Splits open[slot] so that its upper child starts at key (start < key <= end). */
static void plan_split(struct plan *p, size_t slot, u128 key)
{
    struct shard *parent = p->open[slot];
    struct shard *lower = plan_add(p, parent->start_hash, key - 1, parent->idx, -1);
    struct shard *upper = plan_add(p, key, parent->end_hash, parent->idx, -1);
    plan_close(p, parent);
    memmove(&p->open[slot + 2], &p->open[slot + 1], (p->n_open - slot - 1) * sizeof(*p->open));
    p->open[slot] = lower;
    p->open[slot + 1] = upper;
    p->n_open++;
}

/* Merges open[slot] with open[slot + 1], the adjacent parent. */
static void plan_merge(struct plan *p, size_t slot)
{
    struct shard *a = p->open[slot], *b = p->open[slot + 1];
    struct shard *child = plan_add(p, a->start_hash, b->end_hash, a->idx, b->idx);
    plan_close(p, a);
    plan_close(p, b);
    p->open[slot] = child;
    memmove(&p->open[slot + 1], &p->open[slot + 2], (p->n_open - slot - 2) * sizeof(*p->open));
    p->n_open--;
}

/* The open slot whose range holds hash. */
static size_t plan_slot_for(const struct plan *p, u128 hash)
{
    size_t slot = 0;
    while (slot + 1 < p->n_open && p->open[slot + 1]->start_hash <= hash) {
        slot++;
    }
    return slot;
}

/* UNIFORM_SCALING: splits at every boundary of target even ranges that falls inside an
   open shard, then merges the shards inside each target range, left to right. */
static void plan_uniform(struct plan *p, uint32_t target)
{
    for (uint32_t i = 1; i < target; i++) {
        u128 start, end;
        stream__shard_even_range(i, target, &start, &end);
        size_t slot = plan_slot_for(p, start);
        if (p->open[slot]->start_hash != start) {
            plan_split(p, slot, start);
        }
    }
    for (uint32_t i = 0; i < target; i++) {
        u128 start, end;
        stream__shard_even_range(i, target, &start, &end);
        size_t slot = plan_slot_for(p, start);
        while (p->open[slot]->end_hash != end) {
            plan_merge(p, slot);
        }
    }
}

/* Writes the plan, the parents' ending indexes and m in one transaction. */
static int save_plan(struct stream_service *svc, struct stream *s, const struct plan *p,
                     const uint64_t *ending, const struct stream_meta *m)
{
    struct store *st = svc->store;
    store_lock(st);
    int rc = store_begin(st);
    for (size_t i = 0; rc >= 0 && i < p->n_closed; i++) {
        rc = store_run(st,
                       "UPDATE stream_shards SET ending_index=?, closed_ms=?"
                       " WHERE stream_id=? AND idx=?",
                       "iiii", (int64_t)ending[i], p->now_ms, s->id, (int64_t)p->closed[i]->idx);
    }
    if (rc >= 0) {
        rc = insert_shard_rows(st, s, p->added, p->n_added);
    }
    if (rc >= 0) {
        rc = store_run(st,
                       "UPDATE streams SET shard_count=?, status=?, status_until_ms=? WHERE id=?",
                       "isii", (int64_t)(s->n_shards + p->n_added), status_names[m->status],
                       m->status_until_ms, s->id);
    }
    if (rc >= 0) {
        rc = store_commit(st);
    }
    if (rc < 0) {
        store_rollback(st);
    }
    store_unlock(st);
    return rc < 0 ? rc : 0;
}

/*
 * Carries the plan out (admin_lock held): opens the children's logs, then, with appends
 * held off, takes each parent's ending index, makes its records durable, writes the plan
 * and m in one transaction, and only then shows the new table. A failure or a crash before
 * the commit leaves the stream as it was (the children's files are removed now, or on the
 * next resharding that takes their numbers).
 */
static int plan_commit(struct stream_service *svc, struct stream *s, struct plan *p,
                       const struct stream_meta *m, struct err_info *err)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < p->n_added; i++) {
        rc = open_shard_log(s, p->added[i], 1);
    }
    if (rc == 0) {
        rc = fsync_dir(s->dir);
    }
    if (rc < 0) {
        return err_set(err, rc, "Internal service failure.");
    }
    uint64_t *ending = xcalloc(p->n_closed + 1, sizeof(*ending));
    pthread_rwlock_wrlock(&s->shards_lock);
    for (size_t i = 0; rc == 0 && i < p->n_closed; i++) {
        struct seglog *log = p->closed[i]->log;
        ending[i] = seglog_next_index(log);
        if (seglog_durable_index(log) < ending[i]) {
            rc = seglog_sync(log, ending[i]);
        }
    }
    if (rc == 0) {
        rc = save_plan(svc, s, p, ending, m);
    }
    if (rc == 0) {
        for (size_t i = 0; i < p->n_closed; i++) {
            p->closed[i]->open = 0;
            p->closed[i]->ending_index = ending[i];
            p->closed[i]->closed_ms = p->now_ms;
        }
        s->shards = xrealloc(s->shards, (s->n_shards + p->n_added) * sizeof(*s->shards));
        memcpy(&s->shards[s->n_shards], p->added, p->n_added * sizeof(*p->added));
        s->n_shards += (uint32_t)p->n_added;
        p->n_added = 0; /* the table owns them now */
        rebuild_open(s);
        meta_publish(s, m);
    }
    pthread_rwlock_unlock(&s->shards_lock);
    free(ending);
    if (rc < 0) {
        return err_set(err, rc, "Internal service failure.");
    }
    for (size_t i = 0; i < p->n_closed; i++) {
        wake_waiters(p->closed[i]); /* readers at their end learn it now */
    }
    kick_background(svc, 0);
    return 0;
}

static int shard_not_found(struct err_info *err, const struct stream *s, uint32_t shard_idx)
{
    char id[STREAM_SHARD_ID_LEN + 1];
    stream_shard_id_format(shard_idx, id);
    return err_set(err, SL_E(RESOURCE_NOT_FOUND),
                   "Could not find shard %s in stream %s under account %s.", id, s->name,
                   s->account);
}

/* The shard quota against n_more open shards more. */
static int check_shard_quota(struct stream_service *svc, const struct stream *s, int n_more,
                             struct err_info *err)
{
    struct stream_limits lim;
    stream_service_limits(svc, s->region, &lim);
    if (n_more > 0 && (long long)lim.open_shards + n_more > lim.shard_limit) {
        return err_set(err, SL_E(LIMIT_EXCEEDED),
                       "This request would exceed the shard limit for the account %s in %s. "
                       "Current shard count for the account: %d. Limit: %d. Number of additional "
                       "shards that would have resulted from this request: %d. Refer to the AWS "
                       "Service Limits page for current limits and how to request higher limits.",
                       s->account, s->region, lim.open_shards, lim.shard_limit, n_more);
    }
    return 0;
}

/* The new state of a resharded stream: UPDATING for the transition time. */
static void reshard_meta(struct stream_service *svc, struct stream_meta *m, int64_t now)
{
    m->status = STREAM_UPDATING;
    m->status_until_ms = now + svc->cfg->stream_transition_ms;
}

int stream_shard_split(struct stream_service *svc, struct stream *s, uint32_t shard_idx,
                       u128 new_start_hash, struct err_info *err)
{
    pthread_mutex_lock(&svc->admin_lock);
    int64_t now = stream_service_now_ms(svc);
    struct stream_meta m;
    meta_snapshot(s, now, &m);
    struct stream_shard_info sh;
    int rc = 0;
    if (stream_shard_get(s, shard_idx, &sh) < 0) {
        rc = shard_not_found(err, s, shard_idx);
    } else if (m.status != STREAM_ACTIVE) {
        rc = not_active(err, s, m.status);
    } else if (!sh.open) {
        rc = err_set(err, SL_E(INVALID_ARGUMENT),
                     "Shard %s in stream %s under account %s has already been merged or split, "
                     "and thus is not eligible for splitting.",
                     sh.shard_id, s->name, s->account);
    } else if (new_start_hash <= sh.start_hash + 1 || new_start_hash >= sh.end_hash) {
        char key[48], start[48], end[48];
        stream_hashkey_format(new_start_hash, key);
        stream_hashkey_format(sh.start_hash, start);
        stream_hashkey_format(sh.end_hash, end);
        rc = err_set(err, SL_E(INVALID_ARGUMENT),
                     "NewStartingHashKey %s used in SplitShard() on shard %s in stream %s under "
                     "account %s is not both greater than one plus the shard's StartingHashKey "
                     "%s and less than the shard's EndingHashKey %s.",
                     key, sh.shard_id, s->name, s->account, start, end);
    } else {
        rc = check_shard_quota(svc, s, 1, err);
    }
    if (rc == 0) {
        struct plan p;
        plan_init(&p, s, now);
        plan_split(&p, plan_slot_for(&p, sh.start_hash), new_start_hash);
        reshard_meta(svc, &m, now);
        rc = plan_commit(svc, s, &p, &m, err);
        plan_fini(&p);
    }
    pthread_mutex_unlock(&svc->admin_lock);
    return rc;
}

int stream_shard_merge(struct stream_service *svc, struct stream *s, uint32_t shard_idx,
                       uint32_t adjacent_idx, struct err_info *err)
{
    pthread_mutex_lock(&svc->admin_lock);
    int64_t now = stream_service_now_ms(svc);
    struct stream_meta m;
    meta_snapshot(s, now, &m);
    struct stream_shard_info a, b;
    int rc = 0;
    if (stream_shard_get(s, shard_idx, &a) < 0) {
        rc = shard_not_found(err, s, shard_idx);
    } else if (stream_shard_get(s, adjacent_idx, &b) < 0) {
        rc = shard_not_found(err, s, adjacent_idx);
    } else if (m.status != STREAM_ACTIVE) {
        rc = not_active(err, s, m.status);
    } else if (!a.open || !b.open) {
        rc = err_set(err, SL_E(INVALID_ARGUMENT),
                     "Shard %s in stream %s under account %s has already been merged or split, "
                     "and thus is not eligible for merging.",
                     a.open ? b.shard_id : a.shard_id, s->name, s->account);
    } else if (a.end_hash == ~(u128)0 || a.end_hash + 1 != b.start_hash) {
        rc = err_set(err, SL_E(INVALID_ARGUMENT),
                     "Shards %s and %s in stream %s under account %s are not an adjacent pair of "
                     "shards eligible for merging",
                     a.shard_id, b.shard_id, s->name, s->account);
    }
    if (rc == 0) {
        struct plan p;
        plan_init(&p, s, now);
        plan_merge(&p, plan_slot_for(&p, a.start_hash));
        reshard_meta(svc, &m, now);
        rc = plan_commit(svc, s, &p, &m, err);
        plan_fini(&p);
    }
    pthread_mutex_unlock(&svc->admin_lock);
    return rc;
}

/* UpdateShardCount's limits on going from current to target open shards. */
static int check_scaling(struct stream_service *svc, struct stream *s, int current, int target,
                         int64_t now, struct err_info *err)
{
    if (daily_count(svc, s, "UpdateShardCount", now) >= STREAM_SCALINGS_PER_DAY_MAX) {
        return err_set(err, SL_E(LIMIT_EXCEEDED),
                       "Exceeded the number of allowed UpdateShardCount operations (%d) in a "
                       "rolling 24-hour period for stream %s under account %s.",
                       STREAM_SCALINGS_PER_DAY_MAX, s->name, s->account);
    }
    if ((long long)target > 2LL * current) {
        return err_set(err, SL_E(LIMIT_EXCEEDED),
                       "UpdateShardCount cannot scale up over double your current open shard "
                       "count. Current open shard count: %d Target shard count: %d",
                       current, target);
    }
    if (2LL * target < current) {
        return err_set(err, SL_E(LIMIT_EXCEEDED),
                       "UpdateShardCount cannot scale down below half your current open shard "
                       "count. Current open shard count: %d Target shard count: %d",
                       current, target);
    }
    if (target > STREAM_SHARDS_PER_STREAM_MAX && target > current) {
        return err_set(err, SL_E(LIMIT_EXCEEDED),
                       "UpdateShardCount cannot scale up over %d shards in a stream. Current open "
                       "shard count: %d Target shard count: %d",
                       STREAM_SHARDS_PER_STREAM_MAX, current, target);
    }
    if (current > STREAM_SHARDS_PER_STREAM_MAX && target >= STREAM_SHARDS_PER_STREAM_MAX) {
        return err_set(err, SL_E(LIMIT_EXCEEDED),
                       "UpdateShardCount cannot scale down a stream of more than %d shards unless "
                       "the result is less than %d shards. Current open shard count: %d Target "
                       "shard count: %d",
                       STREAM_SHARDS_PER_STREAM_MAX, STREAM_SHARDS_PER_STREAM_MAX, current, target);
    }
    return check_shard_quota(svc, s, target - current, err);
}

int stream_shard_count_update(struct stream_service *svc, struct stream *s, int target_count,
                              int *current_out, struct err_info *err)
{
    pthread_mutex_lock(&svc->admin_lock);
    int64_t now = stream_service_now_ms(svc);
    struct stream_meta m;
    meta_snapshot(s, now, &m);
    pthread_rwlock_rdlock(&s->shards_lock);
    int current = (int)s->n_open;
    pthread_rwlock_unlock(&s->shards_lock);
    *current_out = current;
    int rc = 0;
    if (m.status != STREAM_ACTIVE) {
        rc = not_active(err, s, m.status);
    } else if (m.mode == STREAM_MODE_ON_DEMAND) {
        rc = err_set(err, SL_E(INVALID_ARGUMENT),
                     "UpdateShardCount is not supported for stream %s under account %s because "
                     "it is in ON_DEMAND mode.",
                     s->name, s->account);
    } else {
        rc = check_scaling(svc, s, current, target_count, now, err);
    }
    if (rc == 0) {
        struct plan p;
        plan_init(&p, s, now);
        plan_uniform(&p, (uint32_t)target_count);
        reshard_meta(svc, &m, now);
        rc = plan_commit(svc, s, &p, &m, err);
        plan_fini(&p);
    }
    if (rc == 0) {
        daily_record(svc, s, "UpdateShardCount", now);
    }
    pthread_mutex_unlock(&svc->admin_lock);
    return rc;
}

/* ---- on-demand scaling ---- */

/*
 * AWS's on-demand mode starts a stream at 4 shards' worth of write capacity (4 MiB/s,
 * 4,000 records/s) and keeps room for twice the stream's recent peak, adding capacity
 * within minutes when sustained traffic needs it (its documentation: up to double the
 * previous peak within 15 minutes). Sluice's rule, checked once a window
 * (STREAM_AUTOSCALE_WINDOW_MS, one minute of the service clock; shorter only with serve's
 * --on-demand-scaling-window-ms, for tests) per ON_DEMAND stream:
 *
 *   need   = the window's write rate in shards, max(bytes/s / 1 MiB, records/s / 1,000)
 *   when 2 x need > open shards (the peak uses over half the capacity, so capacity no
 *   longer covers twice it), the stream grows to ceil(2 x need) open shards, at most
 *   double at once, within the account's shard quota and 10,000 shards,
 *
 * by splitting its hottest open shards (most records appended in the window) each at the
 * middle of its hash range, in one resharding (UPDATING for the transition time), as
 * SplitShard would. A window is measured over one whole minute so that a burst of a few
 * seconds does not add shards; a stream that is not ACTIVE is sampled but not changed.
 * On-demand streams never shrink here (AWS does not scale them down on its own either).
 */

/* Records each shard's next index and the stream's counters as the window's start. */
static void autoscale_sample(struct stream *s, int64_t now_ms)
{
    uint32_t n;
    struct shard **held = shards_hold(s, &n);
    for (uint32_t i = 0; i < n; i++) {
        held[i]->sampled_index = seglog_next_index(held[i]->log);
    }
    free(held);
    s->sampled_ms = now_ms;
    s->sampled_records = atomic_load(&s->counters.incoming_records);
    s->sampled_bytes = atomic_load(&s->counters.incoming_bytes);
}

struct hot_shard {
    struct shard *sh;
    uint64_t n_records; /* appended in the window */
};

static int cmp_hotter(const void *a, const void *b)
{
    const struct hot_shard *x = a, *y = b;
    if (x->n_records != y->n_records) {
        return x->n_records > y->n_records ? -1 : 1;
    }
    return x->sh->idx < y->sh->idx ? -1 : x->sh->idx > y->sh->idx;
}

/* How many open shards s should add for the window's writes (0: none). */
static int autoscale_shards_wanted(struct stream_service *svc, struct stream *s, int64_t now_ms,
                                   uint32_t n_open)
{
    double secs = (double)(now_ms - s->sampled_ms) / 1000.0;
    double bytes = (double)(atomic_load(&s->counters.incoming_bytes) - s->sampled_bytes);
    double records = (double)(atomic_load(&s->counters.incoming_records) - s->sampled_records);
    double need = bytes / secs / (1024.0 * 1024.0);
    if (records / secs / 1000.0 > need) {
        need = records / secs / 1000.0;
    }
    if (2.0 * need <= (double)n_open) {
        return 0;
    }
    long long target = (long long)(2.0 * need);
    target += (double)target < 2.0 * need;
    if (target > 2LL * n_open) {
        target = 2LL * n_open;
    }
    if (target > STREAM_SHARDS_PER_STREAM_MAX) {
        target = STREAM_SHARDS_PER_STREAM_MAX;
    }
    struct stream_limits lim;
    stream_service_limits(svc, s->region, &lim);
    long long room = (long long)lim.shard_limit - lim.open_shards;
    long long wanted = target - n_open;
    return (int)(wanted < room ? wanted : room > 0 ? room : 0);
}

/* Splits the n_new hottest open shards of s (admin_lock held). Returns 0 or an error. */
static int autoscale_split(struct stream_service *svc, struct stream *s, int n_new, int64_t now_ms)
{
    struct stream_meta m;
    meta_snapshot(s, now_ms, &m);
    if (m.status != STREAM_ACTIVE || m.mode != STREAM_MODE_ON_DEMAND) {
        return 0; /* changed meanwhile */
    }
    pthread_rwlock_rdlock(&s->shards_lock);
    uint32_t n_open = s->n_open;
    struct hot_shard *hot = xcalloc(n_open ? n_open : 1, sizeof(*hot));
    for (uint32_t i = 0; i < n_open; i++) {
        struct shard *sh = s->open_shards[i];
        uint64_t next = seglog_next_index(sh->log);
        hot[i] = (struct hot_shard){sh, next > sh->sampled_index ? next - sh->sampled_index : 0};
    }
    pthread_rwlock_unlock(&s->shards_lock);
    qsort(hot, n_open, sizeof(*hot), cmp_hotter);
    struct plan p;
    plan_init(&p, s, now_ms);
    int n_split = 0;
    for (uint32_t i = 0; i < n_open && n_split < n_new; i++) {
        struct shard *sh = hot[i].sh;
        if (sh->end_hash - sh->start_hash < 3) {
            continue; /* too narrow to split */
        }
        u128 mid = sh->start_hash + (sh->end_hash - sh->start_hash) / 2 + 1;
        plan_split(&p, plan_slot_for(&p, sh->start_hash), mid);
        n_split++;
    }
    int rc = 0;
    if (n_split > 0) {
        struct err_info err = {0};
        reshard_meta(svc, &m, now_ms);
        rc = plan_commit(svc, s, &p, &m, &err);
        if (rc == 0) {
            log_msg(LOG_INFO, "stream", "on-demand stream %s: split %d shards for its writes",
                    s->name, n_split);
        }
    }
    plan_fini(&p);
    free(hot);
    return rc;
}

void stream__autoscale(struct stream_service *svc)
{
    int64_t window_ms = svc->cfg->on_demand_window_ms > 0 ? svc->cfg->on_demand_window_ms
                                                          : STREAM_AUTOSCALE_WINDOW_MS;
    pthread_mutex_lock(&svc->admin_lock); /* the samples, and a check and its split */
    int64_t now = stream_service_now_ms(svc);
    size_t n;
    struct stream **held = list_hold(svc, &n);
    for (size_t i = 0; i < n; i++) {
        struct stream *s = held[i];
        struct stream_meta m;
        meta_snapshot(s, now, &m);
        if (m.mode != STREAM_MODE_ON_DEMAND || is_gone(s, now)) {
            s->sampled_ms = 0;
            continue;
        }
        if (s->sampled_ms == 0 || now < s->sampled_ms) {
            autoscale_sample(s, now); /* the first window starts now */
            continue;
        }
        if (now - s->sampled_ms < window_ms) {
            continue;
        }
        pthread_rwlock_rdlock(&s->shards_lock);
        uint32_t n_open = s->n_open;
        pthread_rwlock_unlock(&s->shards_lock);
        int n_new = m.status == STREAM_ACTIVE ? autoscale_shards_wanted(svc, s, now, n_open) : 0;
        if (n_new > 0) {
            int rc = autoscale_split(svc, s, n_new, now);
            if (rc < 0) {
                log_msg(LOG_WARN, "stream", "on-demand stream %s could not scale: %s", s->name,
                        sl_strerror(rc));
            }
        }
        autoscale_sample(s, now); /* the next window starts now */
    }
    list_release(held, n);
    pthread_mutex_unlock(&svc->admin_lock);
}

/* Wakes the readers waiting on sh, if any: called after its durable index moved. */
static void notify_durable(struct shard *sh)
{
    /* A waiter counts itself before it reads the durable index (under the log's mutex),
     * and the index moved before this load, so either it sees the new index or this
     * sees it waiting and the broadcast waits for it to be inside pthread_cond_wait. */
    if (atomic_load(&sh->n_waiters) > 0) {
        pthread_mutex_lock(&sh->wait_lock);
        pthread_cond_broadcast(&sh->wait_cond);
        pthread_mutex_unlock(&sh->wait_lock);
    }
}

/* ---- appending ---- */

/*
 * Applies shard shard_idx's write limit to the count records of order[0, count) (indexes into
 * recs): the refused ones get SL_E(THROUGHPUT_EXCEEDED) and move to the end of order, in
 * their order, the admitted ones stay in front. Returns how many were admitted. sizes and
 * refused are scratch of at least count entries.
 */
static size_t admit_writes(struct stream_service *svc, struct stream *s, uint32_t shard_idx,
                           struct stream_put_record *recs, size_t *order, size_t count,
                           uint32_t *sizes, uint8_t *refused)
{
    for (size_t j = 0; j < count; j++) {
        sizes[j] = recs[order[j]].data_len + recs[order[j]].pk_len;
    }
    struct throttle_shard key = {.stream_id = s->id, .seq_tag = s->seq_tag, .shard_idx = shard_idx};
    size_t admitted = throttle_write(svc->throttle, &key, sizes, count, refused);
    if (admitted == count) {
        return count;
    }
    /* A stable partition; sizes is free again and holds the refused indexes meanwhile
       (a PutRecords has at most 500 records, so they fit in 32 bits). */
    size_t kept = 0, n_refused = 0;
    for (size_t j = 0; j < count; j++) {
        if (refused[j]) {
            recs[order[j]].result = SL_E(THROUGHPUT_EXCEEDED);
            sizes[n_refused++] = (uint32_t)order[j];
        } else {
            order[kept++] = order[j];
        }
    }
    for (size_t j = 0; j < n_refused; j++) {
        order[kept + j] = sizes[j];
    }
    atomic_fetch_add(&s->counters.write_throttled, n_refused);
    return kept;
}

int stream_records_put(struct stream_service *svc, struct stream *s, struct stream_put_record *recs,
                       size_t n, int64_t now_ms, const char **encryption_out)
{
    return stream_records_put_ex(svc, s, recs, n, now_ms, encryption_out, NULL);
}

/* Seals every record of recs with the data key k: the envelopes, back to back in record
   order, malloc'd (NULL when out of memory). */
static uint8_t *seal_records(const struct stream *s, struct stream_dkey *k,
                             const struct stream_put_record *recs, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += stream__crypt_sealed_len(recs[i].pk_len, recs[i].data_len);
    }
    uint8_t *sealed = try_malloc(total + 1);
    if (sealed == NULL) {
        return NULL;
    }
    struct crypto_gcm *g = stream__crypt_sealer(k);
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        stream__crypt_seal(s, k, g, recs[i].partition_key, recs[i].pk_len, recs[i].data,
                           recs[i].data_len, sealed + pos);
        pos += stream__crypt_sealed_len(recs[i].pk_len, recs[i].data_len);
    }
    crypto_gcm_destroy(g);
    return sealed;
}

int stream_records_put_ex(struct stream_service *svc, struct stream *s,
                          struct stream_put_record *recs, size_t n, int64_t now_ms,
                          const char **encryption_out, struct err_info *err)
{
    char key_id[sizeof(s->meta.key_id)];
    pthread_mutex_lock(&s->lock);
    enum stream_status st = effective_status(&s->meta, stream_service_now_ms(svc));
    int kms = s->meta.encryption[0] == 'K';
    if (kms && svc->kms != NULL) {
        memcpy(key_id, s->meta.key_id, sizeof(key_id));
    }
    pthread_mutex_unlock(&s->lock);
    if (encryption_out != NULL) {
        *encryption_out = kms ? "KMS" : "NONE";
    }
    if (st == STREAM_CREATING || st == STREAM_DELETING) {
        return SL_E(RESOURCE_NOT_FOUND);
    }
    /* Sealed before the shard table is taken: sealing is the costly part. */
    uint8_t *sealed = NULL;
    if (kms && svc->kms != NULL && n > 0) {
        struct stream_dkey *dk;
        int rc = stream__crypt_write_key(svc, s, key_id, &dk, err);
        if (rc < 0) {
            return rc;
        }
        if ((sealed = seal_records(s, dk, recs, n)) == NULL) {
            return err_set(err, SL_E(NOMEM), "Out of memory for the request.");
        }
    }
    size_t *sealed_at = sealed != NULL ? xcalloc(n, sizeof(*sealed_at)) : NULL;
    for (size_t i = 1; sealed != NULL && i < n; i++) {
        sealed_at[i] = sealed_at[i - 1] +
                       stream__crypt_sealed_len(recs[i - 1].pk_len, recs[i - 1].data_len);
    }
    /* Routing and appending see one shard table: a resharding waits for them, so no
       record enters a shard after the resharding took its ending index. */
    pthread_rwlock_rdlock(&s->shards_lock);
    uint32_t n_shards = s->n_open;
    struct shard **slots = xcalloc(n_shards, sizeof(*slots));
    memcpy(slots, s->open_shards, n_shards * sizeof(*slots));
    struct seglog_record_in *in = xcalloc(n ? n : 1, sizeof(*in));
    size_t *order = xcalloc(n ? n : 1, sizeof(*order));
    /* Records of shard k occupy order[start[k] .. start[k+1]) after a counting sort. */
    size_t *start = xcalloc((size_t)n_shards + 1, sizeof(*start));
    size_t *fill = xcalloc(n_shards, sizeof(*fill));
    for (size_t i = 0; i < n; i++) {
        /* the slot until the end */
        recs[i].shard_idx = (uint32_t)stream__open_slot_for_hash(s, recs[i].hash_key);
        start[recs[i].shard_idx + 1]++;
    }
    for (uint32_t k = 0; k < n_shards; k++) {
        start[k + 1] += start[k];
    }
    for (size_t i = 0; i < n; i++) {
        size_t k = recs[i].shard_idx;
        order[start[k] + fill[k]++] = i;
    }
    int limited = throttle_enabled(svc->throttle);
    uint32_t *sizes = limited ? xcalloc(n ? n : 1, sizeof(*sizes)) : NULL;
    uint8_t *refused = limited ? xcalloc(n ? n : 1, 1) : NULL;
    for (uint32_t k = 0; k < n_shards; k++) {
        size_t count = start[k + 1] - start[k];
        fill[k] = 0; /* reused: the index to sync up to, 0 when nothing to sync */
        if (count > 0 && limited) {
            count =
                admit_writes(svc, s, slots[k]->idx, recs, &order[start[k]], count, sizes, refused);
        }
        if (count == 0) {
            continue;
        }
        for (size_t j = 0; j < count; j++) {
            size_t i = order[start[k] + j];
            const struct stream_put_record *r = &recs[i];
            in[start[k] + j] = sealed == NULL ? (struct seglog_record_in){
                .data = r->data,
                .data_len = r->data_len,
                .partition_key = r->partition_key,
                .pk_len = r->pk_len,
            } : (struct seglog_record_in){
                .data = sealed + sealed_at[i],
                .data_len = (uint32_t)stream__crypt_sealed_len(r->pk_len, r->data_len),
                .partition_key = "-", /* the real one is inside the envelope */
                .pk_len = 1,
                .flags = SEGLOG_F_SEALED,
            };
        }
        uint64_t first = 0;
        int64_t arrival;
        int rc = seglog_append(slots[k]->log, &in[start[k]], count, now_ms, &first, &arrival);
        for (size_t j = 0; j < count; j++) {
            struct stream_put_record *r = &recs[order[start[k] + j]];
            r->result = rc;
            r->index = first + j;
            r->arrival_ms = arrival;
        }
        fill[k] = rc < 0 ? 0 : (size_t)(first + count);
    }
    pthread_rwlock_unlock(&s->shards_lock);
    /* Sync every touched shard at once (see syncpool.c). */
    struct seglog **logs = xcalloc(n_shards, sizeof(*logs));
    uint64_t *upto = xcalloc(n_shards, sizeof(*upto));
    uint32_t *which = xcalloc(n_shards, sizeof(*which));
    int *results = xcalloc(n_shards, sizeof(*results));
    size_t n_sync = 0;
    for (uint32_t k = 0; k < n_shards; k++) {
        if (fill[k] != 0) {
            logs[n_sync] = slots[k]->log;
            upto[n_sync] = fill[k];
            which[n_sync++] = k;
        }
    }
    stream__sync_many(svc->sync_pool, logs, upto, results, n_sync);
    for (size_t j = 0; j < n_sync; j++) {
        uint32_t k = which[j];
        if (results[j] < 0) {
            for (size_t i = start[k]; i < start[k + 1]; i++) {
                if (recs[order[i]].result == 0) { /* not the throttled ones */
                    recs[order[i]].result = results[j];
                }
            }
        } else {
            notify_durable(slots[k]);
        }
    }
    size_t n_ok = 0, bytes = 0;
    for (size_t i = 0; i < n; i++) {
        recs[i].shard_idx = slots[recs[i].shard_idx]->idx;
        if (recs[i].result == 0) {
            n_ok++;
            bytes += recs[i].data_len;
        }
    }
    atomic_fetch_add(&s->counters.incoming_records, n_ok);
    atomic_fetch_add(&s->counters.incoming_bytes, bytes);
    atomic_fetch_add(&s->counters.put_failures, n - n_ok);
    free(sealed_at);
    free(sealed);
    free(refused);
    free(sizes);
    free(results);
    free(which);
    free(upto);
    free(logs);
    free(fill);
    free(start);
    free(order);
    free(in);
    free(slots);
    return 0;
}

/* ---- reading ---- */

struct stream_reader {
    struct stream *s; /* referenced */
    struct shard *sh;
    uint64_t position; /* next index to visit */
};

/*
 * The index an AT/AFTER_SEQUENCE_NUMBER position of sh starts at: 0, or -1 when the number
 * is not one of sh's (another layout, stream, shard or epoch), or is past its last record
 * (a shard's ending number included). The shard's starting number, which precedes its
 * first record, starts at that record both AT and AFTER, even before it exists.
 */
static int seqno_position(const struct stream *s, const struct shard *sh,
                          const struct stream_position *pos, uint64_t *index_out)
{
    struct stream_seqno_fields f;
    if (pos->sequence_number == NULL ||
        !stream_seqno_pattern_ok(pos->sequence_number, pos->seqno_len) ||
        stream_seqno_decode(pos->sequence_number, pos->seqno_len, &f) < 0) {
        return -1;
    }
    int ours = f.legacy ? f.legacy_tag == s->seq_tag % 1000000000000000000ull &&
                              f.shard.shard_idx == sh->idx % 1000000u
                        : f.shard.epoch_s == sh->seq_epoch_s && f.shard.shard_idx == sh->idx;
    if (!ours) {
        return -1;
    }
    if (f.counter == 0) {
        *index_out = 0;
        return 0;
    }
    uint64_t index = f.counter - 1;
    if (index >= seglog_next_index(sh->log)) {
        return -1;
    }
    *index_out = index + (pos->type == STREAM_AFTER_SEQUENCE_NUMBER);
    return 0;
}

int stream_reader_open(struct stream *s, uint32_t shard_idx, const struct stream_position *pos,
                       struct stream_reader **out)
{
    *out = NULL;
    struct shard *sh = find_shard(s, shard_idx);
    if (sh == NULL) {
        return SL_E(RESOURCE_NOT_FOUND);
    }
    uint64_t index = 0;
    int rc = 0;
    switch (pos->type) {
    case STREAM_AT_SEQUENCE_NUMBER:
    case STREAM_AFTER_SEQUENCE_NUMBER:
        if (seqno_position(s, sh, pos, &index) < 0) {
            return SL_E(INVALID_ARGUMENT);
        }
        break;
    case STREAM_TRIM_HORIZON: index = seglog_first_index(sh->log); break;
    case STREAM_LATEST: index = seglog_durable_index(sh->log); break;
    case STREAM_AT_TIMESTAMP: rc = seglog_find_time(sh->log, pos->timestamp_ms, &index); break;
    case STREAM_AT_INDEX: index = pos->index; break;
    default: return SL_E(INVALID_ARGUMENT);
    }
    if (rc < 0) {
        return rc;
    }
    struct stream_reader *r = xcalloc(1, sizeof(*r));
    hold(s);
    r->s = s;
    r->sh = sh;
    r->position = index;
    *out = r;
    return 0;
}

void stream_reader_close(struct stream_reader *r)
{
    if (r != NULL) {
        stream_release(r->s);
        free(r);
    }
}

uint64_t stream_reader_position(const struct stream_reader *r)
{
    return r->position;
}

struct counting_visit {
    struct stream_reader *r;
    stream_visit_enc_fn visit;
    void *arg;
    size_t n_records;
    size_t n_bytes;
    struct stream_crypt_read cr;
    struct err_info *err;
    int failed; /* a sealed record could not be opened */
};

static int count_and_visit(void *arg, uint64_t index, int64_t arrival_ms, unsigned flags,
                           const char *pk, size_t pk_len, const uint8_t *data, size_t data_len)
{
    struct counting_visit *cv = arg;
    int sealed = (flags & SEGLOG_F_SEALED) != 0;
    if (sealed) {
        int rc = stream__crypt_open(cv->r->s->svc, cv->r->s, &cv->cr, data, data_len, &pk,
                                    &pk_len, &data, &data_len, cv->err);
        if (rc < 0) {
            cv->failed = 1;
            return rc;
        }
    }
    cv->n_records++;
    cv->n_bytes += data_len;
    return cv->visit(cv->arg, index, arrival_ms, sealed, pk, pk_len, data, data_len);
}

int stream_reader_read_ex(struct stream_reader *r, size_t max_records, size_t max_bytes,
                          stream_visit_enc_fn visit, void *arg, struct err_info *err)
{
    struct counting_visit cv = {.r = r, .visit = visit, .arg = arg, .err = err};
    uint64_t next = r->position;
    int rc = seglog_read_flags(r->sh->log, r->position, max_records, max_bytes, count_and_visit,
                               &cv, &next);
    /* A record that could not be opened fails the whole read, which callers drop: the
       reader stays where the call found it. */
    r->position = cv.failed ? r->position : next;
    stream__crypt_read_fini(&cv.cr);
    atomic_fetch_add(&r->s->counters.outgoing_records, cv.n_records);
    atomic_fetch_add(&r->s->counters.outgoing_bytes, cv.n_bytes);
    return rc;
}

struct plain_visit {
    stream_visit_fn visit;
    void *arg;
};

static int visit_plain(void *arg, uint64_t index, int64_t arrival_ms, int encrypted,
                       const char *pk, size_t pk_len, const uint8_t *data, size_t data_len)
{
    (void)encrypted;
    struct plain_visit *pv = arg;
    return pv->visit(pv->arg, index, arrival_ms, pk, pk_len, data, data_len);
}

int stream_reader_read(struct stream_reader *r, size_t max_records, size_t max_bytes,
                       stream_visit_fn visit, void *arg)
{
    struct plain_visit pv = {visit, arg};
    return stream_reader_read_ex(r, max_records, max_bytes, visit_plain, &pv, NULL);
}

/* 1 when r's shard is closed and r is past its last record (shards_lock not held). */
static int reader_at_end(const struct stream_reader *r)
{
    pthread_rwlock_rdlock(&r->s->shards_lock);
    int end = !r->sh->open && r->position >= r->sh->ending_index;
    pthread_rwlock_unlock(&r->s->shards_lock);
    return end;
}

int stream_reader_at_end(const struct stream_reader *r)
{
    return reader_at_end(r);
}

int stream_reader_wait(struct stream_reader *r, int64_t timeout_ms)
{
    struct shard *sh = r->sh;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    int rc = 0;
    pthread_mutex_lock(&sh->wait_lock);
    atomic_fetch_add(&sh->n_waiters, 1);
    for (;;) {
        if (atomic_load(&r->s->gone_at_ms) != INT64_MAX) {
            rc = SL_E(RESOURCE_NOT_FOUND);
            break;
        }
        if (seglog_durable_index(sh->log) > r->position) {
            break;
        }
        if (reader_at_end(r)) {
            rc = STREAM_END_OF_SHARD;
            break;
        }
        if (pthread_cond_timedwait(&sh->wait_cond, &sh->wait_lock, &until) == ETIMEDOUT) {
            rc = seglog_durable_index(sh->log) > r->position ? 0 : -ETIMEDOUT;
            break;
        }
    }
    atomic_fetch_sub(&sh->n_waiters, 1);
    pthread_mutex_unlock(&sh->wait_lock);
    return rc;
}

/* ---- opening, retention, the background thread, closing ---- */

/* The sequence epoch of shard idx of s as loaded so far; -1 for none (or a bad row). */
static int64_t loaded_epoch(const struct stream *s, int64_t idx)
{
    return idx >= 0 && idx < (int64_t)s->n_shards ? s->shards[idx]->seq_epoch_s : -1;
}

static int load_streams(struct stream_service *svc)
{
    struct store *st = svc->store;
    store_lock(st);
    struct store_stmt *q, *qs;
    int rc = store_prepare(st,
                           "SELECT id, region, account, name, seq_tag, created_ms, mode,"
                           " shard_count, retention_hours, status, status_until_ms, encryption,"
                           " key_id, shard_metrics FROM streams ORDER BY id",
                           &q);
    if (rc < 0) {
        store_unlock(st);
        return rc;
    }
    rc = store_prepare(st,
                       "SELECT idx, start_hash, end_hash, parent_idx, adjacent_parent_idx,"
                       " ending_index, created_ms, closed_ms FROM stream_shards"
                       " WHERE stream_id=? ORDER BY idx",
                       &qs);
    if (rc < 0) {
        store_finalize(q);
        store_unlock(st);
        return rc;
    }
    while (rc >= 0 && (rc = store_step(q)) == 1) {
        struct stream *s =
            stream_new(svc, store_col_text(q, 1), store_col_text(q, 2), store_col_text(q, 3));
        uint32_t n_rows = (uint32_t)store_col_int64(q, 7);
        s->id = store_col_int64(q, 0);
        s->seq_tag = (uint64_t)store_col_int64(q, 4);
        s->created_ms = store_col_int64(q, 5);
        s->meta.mode = strcmp(store_col_text(q, 6), "ON_DEMAND") == 0 ? STREAM_MODE_ON_DEMAND
                                                                      : STREAM_MODE_PROVISIONED;
        s->meta.retention_hours = (int)store_col_int64(q, 8);
        s->meta.status = status_from_name(store_col_text(q, 9));
        s->meta.status_until_ms = store_col_int64(q, 10);
        snprintf(s->meta.encryption, sizeof(s->meta.encryption), "%s", store_col_text(q, 11));
        snprintf(s->meta.key_id, sizeof(s->meta.key_id), "%s", store_col_text(q, 12));
        s->meta.shard_metrics = (uint32_t)store_col_int64(q, 13) & STREAM_METRICS_ALL;
        atomic_store(&s->shard_mask, s->meta.shard_metrics);
        if (s->meta.status == STREAM_DELETING) {
            atomic_store(&s->gone_at_ms, s->meta.status_until_ms);
        }
        snprintf(s->dir, sizeof(s->dir), "%s/streams/%lld", svc->cfg->data_dir, (long long)s->id);
        store_reset(qs);
        store_bind_int64(qs, 1, s->id);
        while (rc >= 0 && store_step(qs) == 1) {
            u128 start, end;
            const char *a = store_col_text(qs, 1), *b = store_col_text(qs, 2);
            if (store_col_int64(qs, 0) != s->n_shards || /* numbers are dense */
                stream_hashkey_parse(a, strlen(a), &start) < 0 ||
                stream_hashkey_parse(b, strlen(b), &end) < 0) {
                rc = SL_CORRUPT("stream_shards", s->id, "bad shard row");
                break;
            }
            struct shard *sh =
                shard_new(s->n_shards, start, end, store_col_int64(qs, 3), store_col_int64(qs, 4));
            if (!store_col_is_null(qs, 5)) {
                sh->open = 0;
                sh->ending_index = (uint64_t)store_col_int64(qs, 5);
            }
            /* rows from before lineage was kept are the stream's first shards */
            sh->created_ms = store_col_int64(qs, 6) ? store_col_int64(qs, 6) : s->created_ms;
            sh->closed_ms = store_col_int64(qs, 7);
            /* parents come first, so their epochs are known: the same as when it opened */
            sh->seq_epoch_s = stream__seq_epoch(sh->created_ms, loaded_epoch(s, sh->parent_idx),
                                                loaded_epoch(s, sh->adjacent_parent_idx));
            add_shard(s, sh);
        }
        if (rc >= 0 && (s->n_shards != n_rows || s->n_shards == 0)) {
            rc = SL_CORRUPT("stream_shards", s->id, "shard rows missing");
        }
        if (rc >= 0) {
            rebuild_open(s);
            rc = open_shard_logs(s);
        }
        if (rc < 0) {
            stream_free(s);
            break;
        }
        svc->streams = xrealloc(svc->streams, (svc->n_streams + 1) * sizeof(*svc->streams));
        svc->streams[svc->n_streams++] = s;
    }
    store_finalize(qs);
    store_finalize(q);
    store_unlock(st);
    return rc < 0 ? rc : 0;
}

/* Removes directories under DIR/streams that no stream row claims. */
static void remove_orphans(struct stream_service *svc, const char *streams_dir)
{
    DIR *d = opendir(streams_dir);
    if (d == NULL) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        long long id = atoll(e->d_name);
        int claimed = 0;
        for (size_t i = 0; i < svc->n_streams; i++) {
            claimed |= svc->streams[i]->id == id;
        }
        if (!claimed) {
            char *path = xasprintf("%s/%s", streams_dir, e->d_name);
            log_msg(LOG_INFO, "stream", "removing %s, left by an interrupted deletion", path);
            remove_stream_dir(path);
            free(path);
        }
    }
    closedir(d);
}

void stream__apply_retention(struct stream_service *svc)
{
    int64_t now = stream_service_now_ms(svc);
    size_t n;
    struct stream **held = list_hold(svc, &n);
    for (size_t i = 0; i < n; i++) {
        struct stream *s = held[i];
        pthread_mutex_lock(&s->lock);
        int64_t cutoff = now - (int64_t)s->meta.retention_hours * 3600 * 1000;
        pthread_mutex_unlock(&s->lock);
        uint32_t n_shards;
        struct shard **shards = shards_hold(s, &n_shards);
        for (uint32_t k = 0; k < n_shards; k++) {
            size_t n_deleted = 0;
            seglog_trim_before(shards[k]->log, cutoff, &n_deleted);
            if (n_deleted > 0) {
                log_msg(LOG_INFO, "stream", "retention removed %zu segments of %s shard %u",
                        n_deleted, s->name, shards[k]->idx);
            }
        }
        free(shards);
    }
    list_release(held, n);
}

/* The soonest due transition, in the service clock; INT64_MAX when none is pending. */
static int64_t next_transition_ms(struct stream_service *svc)
{
    int64_t next = INT64_MAX;
    pthread_mutex_lock(&svc->lock);
    for (size_t i = 0; i < svc->n_streams; i++) {
        struct stream *s = svc->streams[i];
        pthread_mutex_lock(&s->lock);
        if (s->meta.status != STREAM_ACTIVE && s->meta.status_until_ms < next) {
            next = s->meta.status_until_ms;
        }
        pthread_mutex_unlock(&s->lock);
    }
    pthread_mutex_unlock(&svc->lock);
    return next;
}

/*
 * The background thread: settles transitions as they fall due, applies retention every
 * ten seconds (sooner when a retention period shrank), and removes dead streams' files.
 */
static void *background_main(void *arg)
{
    struct stream_service *svc = arg;
    int64_t next_retention_ns = 0;
    pthread_mutex_lock(&svc->bg_lock);
    while (!svc->stopping) {
        int retention_kicked = svc->retention_kicked;
        svc->kicked = 0;
        svc->retention_kicked = 0;
        pthread_mutex_unlock(&svc->bg_lock);
        stream__reap(svc);
        stream__settle(svc);
        stream__autoscale(svc);
        if (retention_kicked || clock_mono_ns() >= next_retention_ns) {
            stream__apply_retention(svc);
            next_retention_ns = clock_mono_ns() + (int64_t)BG_RETENTION_EVERY_MS * 1000000;
        }
        int64_t wait_ms = BG_MAX_SLEEP_MS;
        int64_t due = next_transition_ms(svc);
        if (due != INT64_MAX) {
            int64_t until_due = due - stream_service_now_ms(svc) + 1;
            wait_ms = until_due < 0 ? 0 : until_due < wait_ms ? until_due : wait_ms;
        }
        pthread_mutex_lock(&svc->bg_lock);
        if (svc->stopping || svc->kicked) {
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += wait_ms / 1000;
        until.tv_nsec += (wait_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!svc->stopping && !svc->kicked &&
               pthread_cond_timedwait(&svc->bg_wake, &svc->bg_lock, &until) == 0) {
        }
    }
    pthread_mutex_unlock(&svc->bg_lock);
    return NULL;
}

static int load_iterator_key(struct stream_service *svc)
{
    char *hex = NULL;
    int rc = store_setting_get(svc->store, "stream.iterator_key", &hex);
    if (rc < 0) {
        return rc;
    }
    int valid = hex != NULL && strlen(hex) == 2 * sizeof(svc->iterator_key);
    for (size_t i = 0; valid && i < sizeof(svc->iterator_key); i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        valid = hi >= 0 && lo >= 0;
        svc->iterator_key[i] = (uint8_t)(valid ? hi << 4 | lo : 0);
    }
    free(hex);
    if (valid) {
        return 0;
    }
    crypto_random(svc->iterator_key, sizeof(svc->iterator_key));
    char text[2 * sizeof(svc->iterator_key) + 1];
    hex_encode(svc->iterator_key, sizeof(svc->iterator_key), text);
    return store_setting_put(svc->store, "stream.iterator_key", text);
}

int stream_service_open_with(const struct stream_service_options *opt, struct stream_service **out)
{
    struct stream_service *svc = xcalloc(1, sizeof(*svc));
    svc->store = opt->store;
    svc->cfg = opt->cfg;
    svc->now_fn = opt->now_ms != NULL ? opt->now_ms : wall_clock;
    svc->clock_arg = opt->clock_arg;
    pthread_mutex_init(&svc->admin_lock, NULL);
    pthread_mutex_init(&svc->lock, NULL);
    pthread_mutex_init(&svc->bg_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&svc->bg_wake, &ca);
    pthread_condattr_destroy(&ca);
    char *streams_dir = xasprintf("%s/streams", svc->cfg->data_dir);
    int rc = 0;
    if (mkdir(streams_dir, 0700) != 0 && errno != EEXIST) {
        rc = -errno;
        goto fail;
    }
    if ((rc = store_migrate(svc->store, "stream", stream_migrations,
                            sizeof(stream_migrations) / sizeof(stream_migrations[0]))) < 0) {
        goto fail;
    }
    if ((rc = load_iterator_key(svc)) < 0) {
        goto fail;
    }
    if ((rc = load_streams(svc)) < 0) {
        goto fail;
    }
    remove_orphans(svc, streams_dir);
    free(streams_dir);
    streams_dir = NULL;
    svc->sync_pool = stream__sync_pool_create(16);
    svc->throttle = throttle_create(svc->cfg->throughput_limits, svc->now_fn, svc->clock_arg);
    if (pthread_create(&svc->bg_thread, NULL, background_main, svc) != 0) {
        stream__sync_pool_destroy(svc->sync_pool);
        throttle_destroy(svc->throttle);
        rc = SL_E(INTERNAL);
        goto fail;
    }
    *out = svc;
    return 0;
fail:
    free(streams_dir);
    for (size_t i = 0; i < svc->n_streams; i++) {
        stream_free(svc->streams[i]);
    }
    free(svc->streams);
    pthread_mutex_destroy(&svc->admin_lock);
    pthread_mutex_destroy(&svc->lock);
    pthread_mutex_destroy(&svc->bg_lock);
    pthread_cond_destroy(&svc->bg_wake);
    free(svc);
    return rc;
}

int stream_service_open(struct store *st, const struct sluice_config *cfg,
                        struct stream_service **out)
{
    struct stream_service_options opt = {.store = st, .cfg = cfg};
    return stream_service_open_with(&opt, out);
}

void stream_service_set_kms(struct stream_service *svc, struct kms *k)
{
    svc->kms = k;
}

int stream_kms_key_check(struct stream_service *svc, struct stream *s, const char *key_id,
                         struct err_info *err)
{
    return stream__crypt_check_key(svc, s, key_id, err);
}

void stream_service_close(struct stream_service *svc)
{
    if (svc == NULL) {
        return;
    }
    pthread_mutex_lock(&svc->bg_lock);
    svc->stopping = 1;
    pthread_cond_signal(&svc->bg_wake);
    pthread_mutex_unlock(&svc->bg_lock);
    pthread_join(svc->bg_thread, NULL);
    stream__sync_pool_destroy(svc->sync_pool);
    throttle_destroy(svc->throttle);
    for (size_t i = 0; i < svc->n_streams; i++) {
        stream_release(svc->streams[i]);
    }
    stream__reap(svc);
    free(svc->streams);
    pthread_mutex_destroy(&svc->admin_lock);
    pthread_mutex_destroy(&svc->lock);
    pthread_mutex_destroy(&svc->bg_lock);
    pthread_cond_destroy(&svc->bg_wake);
    free(svc);
}
