/*
 * Streams: metadata in the store, shard logs on disk, timed state transitions,
 * retention.
 *
 * Layout on disk: DIR/streams/<stream id>/shardId-<n>/ holds shard n's segment log.
 * A stream row is written (CREATING) before its directories; a deleted stream's row goes
 * before its files. On start, any directory under DIR/streams without a row is the
 * remains of an interrupted deletion and is removed.
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
#include "stream/stream_int.h"

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
};

static const char *const status_names[] = {"CREATING", "ACTIVE", "UPDATING", "DELETING"};

const char *stream__status_name(enum stream_status st)
{
    return status_names[st];
}

static enum stream_status status_from_name(const char *name)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(status_names[i], name) == 0) {
            return (enum stream_status)i;
        }
    }
    return STREAM_ACTIVE;
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

static void stream_free(struct stream *s)
{
    if (s == NULL) {
        return;
    }
    for (uint32_t i = 0; s->shards != NULL && i < s->n_shards; i++) {
        seglog_close(s->shards[i].log);
    }
    free(s->shards);
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

void stream__put(struct stream *s)
{
    if (s == NULL) {
        return;
    }
    if (atomic_fetch_sub(&s->refs, 1) == 1) {
        int deleted = s->row_deleted;
        char dir[sizeof(s->dir)];
        memcpy(dir, s->dir, sizeof(dir));
        stream_free(s);
        if (deleted) {
            remove_stream_dir(dir);
        }
    }
}

static int open_shard_logs(struct stream *s)
{
    if (mkdir(s->dir, 0755) != 0 && errno != EEXIST) {
        return -errno;
    }
    for (uint32_t i = 0; i < s->n_shards; i++) {
        char shard_id[SHARD_ID_LEN + 1];
        shard_id_format(s->shards[i].idx, shard_id);
        char *path = xasprintf("%s/%s", s->dir, shard_id);
        int rc = seglog_open(path, NULL, 0, &s->shards[i].log);
        free(path);
        if (rc < 0) {
            log_msg(LOG_ERROR, "stream", "cannot open shard log %s of %s: %s", shard_id, s->name,
                    sl_strerror(rc));
            return rc;
        }
    }
    return fsync_dir(s->dir);
}

static const char *mode_name(enum stream_mode m)
{
    return m == MODE_ON_DEMAND ? "ON_DEMAND" : "PROVISIONED";
}

int stream__save(struct stream_service *svc, struct stream *s)
{
    store_lock(svc->store);
    struct store_stmt *q;
    int rc = store_prepare(svc->store,
                           "UPDATE streams SET mode=?, retention_hours=?, status=?,"
                           " status_until_ms=?, encryption=?, key_id=? WHERE id=?",
                           &q);
    if (rc == 0) {
        store_bind_text(q, 1, mode_name(s->mode));
        store_bind_int64(q, 2, s->retention_hours);
        store_bind_text(q, 3, status_names[s->status]);
        store_bind_int64(q, 4, s->status_until_ms);
        store_bind_text(q, 5, s->encryption);
        store_bind_text(q, 6, s->key_id);
        store_bind_int64(q, 7, s->id);
        rc = store_step(q);
        store_finalize(q);
    }
    store_unlock(svc->store);
    return rc < 0 ? rc : 0;
}

static void unlist(struct stream_service *svc, size_t i)
{
    svc->streams[i] = svc->streams[--svc->n_streams];
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

void stream__settle(struct stream_service *svc, int64_t now_ms)
{
    for (size_t i = 0; i < svc->n_streams;) {
        struct stream *s = svc->streams[i];
        if (s->status == STREAM_ACTIVE || now_ms < s->status_until_ms) {
            i++;
            continue;
        }
        if (s->status == STREAM_DELETING) {
            if (delete_row(svc, s->id) == 0) {
                s->row_deleted = 1;
                unlist(svc, i);
                stream__put(s); /* the list's reference; files go with the last one */
                continue;
            }
        } else {
            s->status = STREAM_ACTIVE;
            stream__save(svc, s);
        }
        i++;
    }
}

struct stream *stream__get(struct stream_service *svc, const char *region, const char *name)
{
    struct stream *found = NULL;
    pthread_mutex_lock(&svc->lock);
    stream__settle(svc, clock_now_ms());
    for (size_t i = 0; i < svc->n_streams; i++) {
        struct stream *s = svc->streams[i];
        if (strcmp(s->name, name) == 0 && strcmp(s->region, region) == 0) {
            found = s;
            atomic_fetch_add(&found->refs, 1);
            break;
        }
    }
    pthread_mutex_unlock(&svc->lock);
    return found;
}

int stream__shard_limit(const struct stream_service *svc, const char *region)
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

void stream__counts(struct stream_service *svc, const char *region, int *open_shards,
                    int *on_demand_streams)
{
    *open_shards = 0;
    *on_demand_streams = 0;
    for (size_t i = 0; i < svc->n_streams; i++) {
        const struct stream *s = svc->streams[i];
        if (strcmp(s->region, region) != 0) {
            continue;
        }
        *open_shards += (int)s->n_shards;
        *on_demand_streams += s->mode == MODE_ON_DEMAND;
    }
}

static struct stream *stream_new(const char *region, const char *account, const char *name,
                                 uint32_t n_shards)
{
    struct stream *s = xcalloc(1, sizeof(*s));
    snprintf(s->region, sizeof(s->region), "%s", region);
    snprintf(s->account, sizeof(s->account), "%s", account);
    snprintf(s->name, sizeof(s->name), "%s", name);
    snprintf(s->arn, sizeof(s->arn), "arn:aws:kinesis:%s:%s:stream/%s", region, account, name);
    s->n_shards = n_shards;
    s->shards = xcalloc(n_shards, sizeof(*s->shards));
    atomic_init(&s->refs, 1);
    strcpy(s->encryption, "NONE");
    return s;
}

static int insert_rows(struct stream_service *svc, struct stream *s)
{
    struct store *st = svc->store;
    store_lock(st);
    int rc = store_begin(st);
    struct store_stmt *q = NULL;
    if (rc == 0) {
        rc = store_prepare(st,
                           "INSERT INTO streams(region, account, name, arn, seq_tag, created_ms,"
                           " mode, shard_count, retention_hours, status, status_until_ms)"
                           " VALUES(?,?,?,?,?,?,?,?,?,?,?)",
                           &q);
    }
    if (rc == 0) {
        store_bind_text(q, 1, s->region);
        store_bind_text(q, 2, s->account);
        store_bind_text(q, 3, s->name);
        store_bind_text(q, 4, s->arn);
        store_bind_int64(q, 5, (int64_t)s->seq_tag);
        store_bind_int64(q, 6, s->created_ms);
        store_bind_text(q, 7, mode_name(s->mode));
        store_bind_int64(q, 8, s->n_shards);
        store_bind_int64(q, 9, s->retention_hours);
        store_bind_text(q, 10, status_names[s->status]);
        store_bind_int64(q, 11, s->status_until_ms);
        rc = store_step(q);
        store_finalize(q);
        q = NULL;
        s->id = store_last_rowid(st);
    }
    if (rc >= 0) {
        rc = store_prepare(st,
                           "INSERT INTO stream_shards(stream_id, idx, start_hash, end_hash)"
                           " VALUES(?,?,?,?)",
                           &q);
    }
    for (uint32_t i = 0; rc >= 0 && i < s->n_shards; i++) {
        char start[48], end[48];
        hashkey_format(s->shards[i].start_hash, start);
        hashkey_format(s->shards[i].end_hash, end);
        store_reset(q);
        store_bind_int64(q, 1, s->id);
        store_bind_int64(q, 2, s->shards[i].idx);
        store_bind_text(q, 3, start);
        store_bind_text(q, 4, end);
        rc = store_step(q);
    }
    store_finalize(q);
    if (rc >= 0) {
        rc = store_commit(st);
    }
    if (rc < 0) {
        store_rollback(st);
    }
    store_unlock(st);
    return rc < 0 ? rc : 0;
}

int stream__create(struct stream_service *svc, const char *region, const char *account,
                   const char *name, enum stream_mode mode, int shard_count, int64_t now_ms,
                   struct err_info *err)
{
    pthread_mutex_lock(&svc->lock);
    stream__settle(svc, now_ms);
    int rc = 0;
    for (size_t i = 0; i < svc->n_streams; i++) {
        if (strcmp(svc->streams[i]->name, name) == 0 &&
            strcmp(svc->streams[i]->region, region) == 0) {
            rc = err_set(err, SL_E(RESOURCE_IN_USE), "Stream %s under account %s already exists.",
                         name, account);
            goto out;
        }
    }
    /* Quotas are checked before anything is allocated. */
    int open_shards, on_demand;
    stream__counts(svc, region, &open_shards, &on_demand);
    int limit = stream__shard_limit(svc, region);
    if (mode == MODE_ON_DEMAND && on_demand >= svc->cfg->on_demand_stream_limit) {
        rc = err_set(err, SL_E(LIMIT_EXCEEDED),
                     "This request would exceed the on-demand stream count limit for the account "
                     "%s in %s. Current on-demand stream count: %d. Limit: %d.",
                     account, region, on_demand, svc->cfg->on_demand_stream_limit);
        goto out;
    }
    if ((long long)open_shards + shard_count > limit) {
        rc = err_set(err, SL_E(LIMIT_EXCEEDED),
                     "This request would exceed the shard limit for the account %s in %s. "
                     "Current shard count for the account: %d. Limit: %d. Number of additional "
                     "shards that would have resulted from this request: %d. Refer to the AWS "
                     "Service Limits page for current limits and how to request higher limits.",
                     account, region, open_shards, limit, shard_count);
        goto out;
    }

    struct stream *s = stream_new(region, account, name, (uint32_t)shard_count);
    s->mode = mode;
    s->retention_hours = RETENTION_MIN_HOURS;
    s->created_ms = now_ms;
    s->seq_tag = (uint64_t)now_ms;
    s->status = STREAM_CREATING;
    s->status_until_ms = now_ms + svc->cfg->stream_transition_ms;
    for (uint32_t i = 0; i < s->n_shards; i++) {
        s->shards[i].idx = i;
        shard_even_range(i, s->n_shards, &s->shards[i].start_hash, &s->shards[i].end_hash);
    }
    rc = insert_rows(svc, s);
    if (rc < 0) {
        stream_free(s);
        goto out;
    }
    snprintf(s->dir, sizeof(s->dir), "%s/streams/%lld", svc->cfg->data_dir, (long long)s->id);
    rc = open_shard_logs(s);
    if (rc < 0) {
        s->row_deleted = delete_row(svc, s->id) == 0;
        stream__put(s);
        goto out;
    }
    svc->streams = xrealloc(svc->streams, (svc->n_streams + 1) * sizeof(*svc->streams));
    svc->streams[svc->n_streams++] = s;
out:
    pthread_mutex_unlock(&svc->lock);
    return rc;
}

int stream__delete(struct stream_service *svc, struct stream *s, int64_t now_ms,
                   struct err_info *err)
{
    (void)err;
    pthread_mutex_lock(&svc->lock);
    int rc = 0;
    if (s->status != STREAM_DELETING) {
        s->status = STREAM_DELETING;
        s->status_until_ms = now_ms + svc->cfg->stream_transition_ms;
        rc = stream__save(svc, s);
    }
    pthread_mutex_unlock(&svc->lock);
    return rc;
}

/* ---- tags ---- */

int stream__tags_list(struct stream_service *svc, const struct stream *s, char ***keys,
                      char ***values, size_t *n)
{
    *keys = NULL;
    *values = NULL;
    *n = 0;
    store_read_begin(svc->store);
    struct store_stmt *q;
    int rc = store_prepare(svc->store,
                           "SELECT key, value FROM stream_tags WHERE stream_id=? ORDER BY key",
                           &q);
    if (rc == 0) {
        store_bind_int64(q, 1, s->id);
        while ((rc = store_step(q)) == 1) {
            *keys = xrealloc(*keys, (*n + 1) * sizeof(char *));
            *values = xrealloc(*values, (*n + 1) * sizeof(char *));
            (*keys)[*n] = xstrdup(store_col_text(q, 0));
            (*values)[*n] = xstrdup(store_col_text(q, 1));
            (*n)++;
        }
        store_finalize(q);
    }
    store_read_end(svc->store);
    return rc < 0 ? rc : 0;
}

void stream__tags_free(char **keys, char **values, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(keys[i]);
        free(values[i]);
    }
    free(keys);
    free(values);
}

int stream__tags_put(struct stream_service *svc, const struct stream *s, const char *const *keys,
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
    if (rc >= 0 && total > 50) {
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

int stream__tags_remove(struct stream_service *svc, const struct stream *s,
                        const char *const *keys, size_t n)
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

/* ---- opening, retention, closing ---- */

static int load_streams(struct stream_service *svc)
{
    struct store *st = svc->store;
    store_lock(st);
    struct store_stmt *q, *qs;
    int rc = store_prepare(st,
                           "SELECT id, region, account, name, seq_tag, created_ms, mode,"
                           " shard_count, retention_hours, status, status_until_ms, encryption,"
                           " key_id FROM streams ORDER BY id",
                           &q);
    if (rc < 0) {
        store_unlock(st);
        return rc;
    }
    rc = store_prepare(st,
                       "SELECT idx, start_hash, end_hash FROM stream_shards WHERE stream_id=?"
                       " ORDER BY idx",
                       &qs);
    if (rc < 0) {
        store_finalize(q);
        store_unlock(st);
        return rc;
    }
    while (rc >= 0 && (rc = store_step(q)) == 1) {
        struct stream *s = stream_new(store_col_text(q, 1), store_col_text(q, 2),
                                      store_col_text(q, 3), (uint32_t)store_col_int64(q, 7));
        s->id = store_col_int64(q, 0);
        s->seq_tag = (uint64_t)store_col_int64(q, 4);
        s->created_ms = store_col_int64(q, 5);
        s->mode = strcmp(store_col_text(q, 6), "ON_DEMAND") == 0 ? MODE_ON_DEMAND
                                                                  : MODE_PROVISIONED;
        s->retention_hours = (int)store_col_int64(q, 8);
        s->status = status_from_name(store_col_text(q, 9));
        s->status_until_ms = store_col_int64(q, 10);
        snprintf(s->encryption, sizeof(s->encryption), "%s", store_col_text(q, 11));
        snprintf(s->key_id, sizeof(s->key_id), "%s", store_col_text(q, 12));
        snprintf(s->dir, sizeof(s->dir), "%s/streams/%lld", svc->cfg->data_dir,
                 (long long)s->id);
        store_reset(qs);
        store_bind_int64(qs, 1, s->id);
        uint32_t n = 0;
        while (n < s->n_shards && store_step(qs) == 1) {
            s->shards[n].idx = (uint32_t)store_col_int64(qs, 0);
            const char *a = store_col_text(qs, 1), *b = store_col_text(qs, 2);
            if (hashkey_parse(a, strlen(a), &s->shards[n].start_hash) < 0 ||
                hashkey_parse(b, strlen(b), &s->shards[n].end_hash) < 0) {
                rc = SL_CORRUPT("stream_shards", s->id, "bad hash key range");
            }
            n++;
        }
        if (rc >= 0 && n != s->n_shards) {
            rc = SL_CORRUPT("stream_shards", s->id, "shard rows missing");
        }
        if (rc >= 0) {
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

static void apply_retention(struct stream_service *svc)
{
    int64_t now = clock_now_ms();
    pthread_mutex_lock(&svc->lock);
    stream__settle(svc, now);
    size_t n = svc->n_streams;
    struct stream **held = xcalloc(n ? n : 1, sizeof(*held));
    int64_t *cutoffs = xcalloc(n ? n : 1, sizeof(*cutoffs));
    for (size_t i = 0; i < n; i++) {
        held[i] = svc->streams[i];
        atomic_fetch_add(&held[i]->refs, 1);
        cutoffs[i] = now - (int64_t)held[i]->retention_hours * 3600 * 1000;
    }
    pthread_mutex_unlock(&svc->lock);
    for (size_t i = 0; i < n; i++) {
        for (uint32_t k = 0; k < held[i]->n_shards; k++) {
            size_t n_deleted = 0;
            seglog_trim_before(held[i]->shards[k].log, cutoffs[i], &n_deleted);
            if (n_deleted > 0) {
                log_msg(LOG_INFO, "stream", "retention removed %zu segments of %s shard %u",
                        n_deleted, held[i]->name, held[i]->shards[k].idx);
            }
        }
        stream__put(held[i]);
    }
    free(held);
    free(cutoffs);
}

static void *retention_main(void *arg)
{
    struct stream_service *svc = arg;
    pthread_mutex_lock(&svc->retention_lock);
    while (!svc->stopping) {
        pthread_mutex_unlock(&svc->retention_lock);
        apply_retention(svc);
        pthread_mutex_lock(&svc->retention_lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        while (!svc->stopping &&
               pthread_cond_timedwait(&svc->retention_wake, &svc->retention_lock, &until) == 0) {
        }
    }
    pthread_mutex_unlock(&svc->retention_lock);
    return NULL;
}

static int load_iterator_key(struct stream_service *svc)
{
    char *hex = NULL;
    int rc = store_setting_get(svc->store, "stream.iterator_key", &hex);
    if (rc < 0) {
        return rc;
    }
    if (hex != NULL && strlen(hex) == 64) {
        for (int i = 0; i < 32; i++) {
            unsigned v;
            sscanf(hex + 2 * i, "%2x", &v);
            svc->iterator_key[i] = (uint8_t)v;
        }
        free(hex);
        return 0;
    }
    free(hex);
    crypto_random(svc->iterator_key, sizeof(svc->iterator_key));
    char text[65];
    hex_encode(svc->iterator_key, sizeof(svc->iterator_key), text);
    return store_setting_put(svc->store, "stream.iterator_key", text);
}

int stream_service_open(struct store *st, const struct sluice_config *cfg,
                        struct stream_service **out)
{
    struct stream_service *svc = xcalloc(1, sizeof(*svc));
    svc->store = st;
    svc->cfg = cfg;
    pthread_mutex_init(&svc->lock, NULL);
    pthread_mutex_init(&svc->retention_lock, NULL);
    pthread_cond_init(&svc->retention_wake, NULL);
    char *streams_dir = xasprintf("%s/streams", cfg->data_dir);
    int rc = 0;
    if (mkdir(streams_dir, 0755) != 0 && errno != EEXIST) {
        rc = -errno;
        goto fail;
    }
    if ((rc = store_migrate(st, "stream", stream_migrations,
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
    if (pthread_create(&svc->retention_thread, NULL, retention_main, svc) != 0) {
        stream__sync_pool_destroy(svc->sync_pool);
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
    free(svc);
    return rc;
}

void stream_service_close(struct stream_service *svc)
{
    if (svc == NULL) {
        return;
    }
    pthread_mutex_lock(&svc->retention_lock);
    svc->stopping = 1;
    pthread_cond_signal(&svc->retention_wake);
    pthread_mutex_unlock(&svc->retention_lock);
    pthread_join(svc->retention_thread, NULL);
    stream__sync_pool_destroy(svc->sync_pool);
    for (size_t i = 0; i < svc->n_streams; i++) {
        stream__put(svc->streams[i]);
    }
    free(svc->streams);
    pthread_mutex_destroy(&svc->lock);
    pthread_mutex_destroy(&svc->retention_lock);
    pthread_cond_destroy(&svc->retention_wake);
    free(svc);
}
