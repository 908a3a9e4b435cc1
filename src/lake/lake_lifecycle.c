/*
 * Lifecycle rules: matching, due dates, and the sweeper that applies them (see
 * lake_lifecycle.h). The sweeper walks each bucket's versions a page at a time, holding
 * back the page's last key (its versions may go on in the next page) so every key is
 * decided with all its versions in hand; keys before it may be changed at once, since
 * the listing resumes after the held-back key, which is not touched until its turn.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/store.h"
#include "lake/lake_int.h"
#include "lake/lake_lifecycle.h"
#include "lake/lake_restore.h"

/* Versions and uploads listed per page of a sweep (tests make it small). */
size_t lake__lc_page = 1000;
/* Below this size objects do not transition unless the configuration says otherwise. */
#define MIN_TRANSITION_BYTES ((int64_t)128 << 10)

/* ---- clock ---- */

static _Atomic int64_t clock_offset_ms;

int64_t lake_lifecycle_now_ms(void)
{
    return clock_now_ms() + atomic_load(&clock_offset_ms);
}

void lake_lifecycle_advance(int64_t ms)
{
    atomic_fetch_add(&clock_offset_ms, ms);
}

int64_t lake_lifecycle_due(int64_t base_ms, int64_t days)
{
    int64_t t = base_ms + days * LAKE_LC_DAY_MS;
    int64_t day = t / LAKE_LC_DAY_MS;
    if (t < 0 && t % LAKE_LC_DAY_MS != 0) {
        day--; /* floor */
    }
    return (day + 1) * LAKE_LC_DAY_MS;
}

/* ---- matching ---- */

static int64_t int_or(const json_t *o, const char *name, int64_t dflt)
{
    json_t *v = json_object_get(o, name);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

static int tag_matches(const json_t *tag, const json_t *tags)
{
    const char *k = json_string_value(json_object_get(tag, "Key"));
    const char *v = json_string_value(json_object_get(tag, "Value"));
    const char *have = json_string_value(json_object_get(tags, k ? k : ""));
    return k != NULL && have != NULL && strcmp(have, v ? v : "") == 0;
}

/* The conditions of a filter or of its And: prefix, tags, size bounds. */
static int conditions_match(const json_t *c, const char *key, int64_t size, const json_t *tags)
{
    const char *prefix = json_string_value(json_object_get(c, "Prefix"));
    if (prefix != NULL && strncmp(key, prefix, strlen(prefix)) != 0) {
        return 0;
    }
    json_t *tag = json_object_get(c, "Tag");
    if (tag != NULL && !tag_matches(tag, tags)) {
        return 0;
    }
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(c, "Tags"), i, t)
    {
        if (!tag_matches(t, tags)) {
            return 0;
        }
    }
    int64_t gt = int_or(c, "ObjectSizeGreaterThan", -1);
    int64_t lt = int_or(c, "ObjectSizeLessThan", -1);
    return (gt < 0 || size > gt) && (lt < 0 || size < lt);
}

int lake__lc_rule_matches(const json_t *rule, const char *key, int64_t size, const json_t *tags)
{
    const char *legacy = json_string_value(json_object_get(rule, "Prefix"));
    if (legacy != NULL) {
        return strncmp(key, legacy, strlen(legacy)) == 0;
    }
    json_t *filter = json_object_get(rule, "Filter");
    if (filter == NULL) {
        return 1;
    }
    json_t *and = json_object_get(filter, "And");
    return conditions_match(and != NULL ? and : filter, key, size, tags);
}

int lake__lc_rule_has_tags(const json_t *rule)
{
    json_t *filter = json_object_get(rule, "Filter");
    json_t *and = json_object_get(filter, "And");
    return json_object_get(filter, "Tag") != NULL ||
           json_array_size(json_object_get(and, "Tags")) > 0;
}

static int enabled(const json_t *rule)
{
    const char *s = json_string_value(json_object_get(rule, "Status"));
    return s != NULL && strcmp(s, "Enabled") == 0;
}

static const char *rule_id(const json_t *rule)
{
    const char *id = json_string_value(json_object_get(rule, "ID"));
    return id ? id : "";
}

/* The bucket's lifecycle document, NULL when none. */
static json_t *load_doc(struct lake *lake, const char *bucket)
{
    char *doc = NULL;
    struct err_info err;
    err_clear(&err);
    if (lake_bucket_doc_get(lake, bucket, LAKE_BUCKET_LIFECYCLE, &doc, &err) < 0 || doc == NULL) {
        return NULL;
    }
    json_t *j = json_loads(doc, 0, NULL);
    free(doc);
    return j;
}

/* The tags of a version when some rule needs them (NULL: none, or not needed). */
struct tag_cache {
    json_t *tags;
    int loaded;
};

static const json_t *version_tags(struct lake *lake, const char *bucket,
                                  const struct lake_object_info *v, int current,
                                  struct tag_cache *tc)
{
    if (!tc->loaded) {
        tc->loaded = 1;
        if (v->n_tags > 0) {
            char *t = NULL;
            const char *vid = current ? NULL : v->version_id[0] ? v->version_id : "null";
            if (lake_version_tags_get(lake, bucket, v->key, vid, &t, NULL) == 0 && t != NULL) {
                tc->tags = json_loads(t, 0, NULL);
            }
            free(t);
        }
    }
    return tc->tags;
}

static int rule_selects(struct lake *lake, const char *bucket, const json_t *rule,
                        const struct lake_object_info *v, int current, struct tag_cache *tc)
{
    const json_t *tags =
        lake__lc_rule_has_tags(rule) ? version_tags(lake, bucket, v, current, tc) : NULL;
    return lake__lc_rule_matches(rule, v->key, v->size_bytes, tags);
}

/* When rule's Expiration (Days or Date) expires an object created at created_ms; -1 none. */
static int64_t expiration_of(const json_t *rule, int64_t created_ms)
{
    json_t *e = json_object_get(rule, "Expiration");
    int64_t days = int_or(e, "Days", -1);
    if (days > 0) {
        return lake_lifecycle_due(created_ms, days);
    }
    return int_or(e, "Date", -1);
}

static int earliest_expiry(struct lake *lake, const char *bucket, json_t *rules,
                           const struct lake_object_info *v, struct lake_lc_when *out)
{
    struct tag_cache tc = {0};
    int found = 0;
    size_t i;
    json_t *rule;
    json_array_foreach(rules, i, rule)
    {
        int64_t when = expiration_of(rule, v->last_modified_ms);
        if (!enabled(rule) || when < 0 || (found && when >= out->date_ms) ||
            !rule_selects(lake, bucket, rule, v, 1, &tc)) {
            continue;
        }
        found = 1;
        out->date_ms = when;
        snprintf(out->rule_id, sizeof(out->rule_id), "%s", rule_id(rule));
    }
    json_decref(tc.tags);
    return found;
}

int lake_lifecycle_expiry(struct lake *lake, const char *bucket,
                          const struct lake_object_info *info, struct lake_lc_when *out)
{
    if (info->delete_marker) {
        return 0;
    }
    json_t *doc = load_doc(lake, bucket);
    int found =
        doc != NULL && earliest_expiry(lake, bucket, json_object_get(doc, "Rules"), info, out);
    json_decref(doc);
    return found;
}

int lake_lifecycle_abort_date(struct lake *lake, const char *bucket, const char *key,
                              int64_t initiated_ms, struct lake_lc_when *out)
{
    json_t *doc = load_doc(lake, bucket);
    int found = 0;
    size_t i;
    json_t *rule;
    json_array_foreach(json_object_get(doc, "Rules"), i, rule)
    {
        int64_t days = int_or(json_object_get(rule, "AbortIncompleteMultipartUpload"),
                              "DaysAfterInitiation", -1);
        if (!enabled(rule) || days <= 0 || !lake__lc_rule_matches(rule, key, 0, NULL)) {
            continue;
        }
        int64_t when = lake_lifecycle_due(initiated_ms, days);
        if (!found || when < out->date_ms) {
            found = 1;
            out->date_ms = when;
            snprintf(out->rule_id, sizeof(out->rule_id), "%s", rule_id(rule));
        }
    }
    json_decref(doc);
    return found;
}

/* ---- storage classes ---- */

static const char *storage_class_of(const struct lake_object_info *v, json_t **meta_out)
{
    *meta_out = v->meta_json ? json_loads(v->meta_json, 0, NULL) : NULL;
    const char *c = json_string_value(json_object_get(*meta_out, "x-amz-storage-class"));
    return c ? c : "STANDARD";
}

/* Sets a version's storage class (kept as its stored x-amz-storage-class header), if
   the version is still the one listed: 1, 0 when it changed meanwhile, or an error. */
static int set_storage_class(struct lake *lake, const char *bucket,
                             const struct lake_object_info *v, const char *cls)
{
    json_t *meta;
    storage_class_of(v, &meta);
    if (meta == NULL) {
        meta = json_object();
    }
    json_object_set_new(meta, "x-amz-storage-class", json_string(cls));
    json_object_del(meta, LAKE_RESTORE_KEY); /* a restored copy is of the class it leaves */
    char *text = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(meta);
    int rc = lake__version_meta_put(lake, bucket, v, text);
    free(text);
    return rc;
}

static int may_transition(const char *min_size, int64_t size, const char *cls)
{
    if (size >= MIN_TRANSITION_BYTES) {
        return 1;
    }
    return min_size != NULL && strcmp(min_size, "varies_by_storage_class") == 0 &&
           (strcmp(cls, "GLACIER") == 0 || strcmp(cls, "DEEP_ARCHIVE") == 0);
}

/* ---- the sweep of one bucket ---- */

struct bucket_sweep {
    struct lake *lake;
    const char *bucket;
    json_t *rules;
    const char *min_size;
    enum lake_versioning versioning;
    int64_t now;
    struct lake_lc_stats *stats;
    int rc; /* the first failure */
};

static void failed(struct bucket_sweep *bs, int rc, const char *what, const char *key)
{
    log_msg(LOG_WARN, "lifecycle", "bucket %s key %s: %s failed: %s", bs->bucket, key, what,
            sl_strerror(rc));
    if (bs->rc == 0) {
        bs->rc = rc;
    }
}

/* The storage class due transitions give v (NULL when none due): of the transitions
   due by now, the one that fell due last. noncurrent_since < 0 for a current version;
   rank: v's place among the key's noncurrent versions, newest 0. */
static const char *transition_due(struct bucket_sweep *bs, const struct lake_object_info *v,
                                  int64_t noncurrent_since, int64_t rank, struct tag_cache *tc)
{
    const char *best = NULL;
    int64_t best_when = -1;
    size_t i;
    json_t *rule;
    json_array_foreach(bs->rules, i, rule)
    {
        if (!enabled(rule)) {
            continue;
        }
        json_t *list = json_object_get(rule, noncurrent_since < 0 ? "Transitions"
                                                                  : "NoncurrentVersionTransitions");
        size_t j;
        json_t *t;
        json_array_foreach(list, j, t)
        {
            int64_t when;
            if (noncurrent_since < 0) {
                int64_t days = int_or(t, "Days", -1);
                when = days >= 0 ? lake_lifecycle_due(v->last_modified_ms, days)
                                 : int_or(t, "Date", -1);
            } else {
                when = lake_lifecycle_due(noncurrent_since, int_or(t, "NoncurrentDays", 0));
                if (rank < int_or(t, "NewerNoncurrentVersions", 0)) {
                    continue;
                }
            }
            if (when < 0 || when > bs->now || when < best_when ||
                !rule_selects(bs->lake, bs->bucket, rule, v, noncurrent_since < 0, tc)) {
                continue;
            }
            best_when = when;
            best = json_string_value(json_object_get(t, "StorageClass"));
        }
    }
    return best;
}

static void maybe_transition(struct bucket_sweep *bs, const struct lake_object_info *v,
                             int64_t noncurrent_since, int64_t rank, struct tag_cache *tc)
{
    const char *cls = transition_due(bs, v, noncurrent_since, rank, tc);
    json_t *meta;
    const char *now_cls = storage_class_of(v, &meta);
    if (cls != NULL && strcmp(cls, now_cls) != 0 &&
        may_transition(bs->min_size, v->size_bytes, cls)) {
        int rc = set_storage_class(bs->lake, bs->bucket, v, cls);
        if (rc < 0) {
            failed(bs, rc, "transition", v->key);
        } else if (rc > 0) { /* 0: the version changed since it was listed */
            bs->stats->transitioned++;
        }
    }
    json_decref(meta);
}

/* Removes one version for good; 1 when removed, 0 when object lock keeps it. */
static int remove_version(struct bucket_sweep *bs, const struct lake_object_info *v)
{
    struct lake_delete_result res;
    struct err_info err;
    err_clear(&err);
    int rc = lake_version_delete(bs->lake, bs->bucket, v->key,
                                 v->version_id[0] ? v->version_id : "null", 0, &res, &err);
    if (rc == SL_E(S3_ACCESS_DENIED)) {
        bs->stats->kept_locked++;
        return 0;
    }
    if (rc < 0 && rc != SL_E(NO_SUCH_VERSION) && rc != SL_E(NO_SUCH_KEY)) {
        failed(bs, rc, "removing a version", v->key);
        return 0;
    }
    return 1;
}

/* Expires the current object v, if it is still current. 1 when done. */
static int expire_current(struct bucket_sweep *bs, const struct lake_object_info *v)
{
    struct lake_object_info now;
    memset(&now, 0, sizeof(now));
    int rc = lake_version_open(bs->lake, bs->bucket, v->key, NULL, &now, NULL, NULL);
    int same = rc == 0 && strcmp(now.etag, v->etag) == 0 &&
               now.last_modified_ms == v->last_modified_ms &&
               strcmp(now.version_id, v->version_id) == 0;
    lake_object_info_fini(&now);
    if (!same) {
        return 0; /* replaced meanwhile: the new object has its own date */
    }
    struct err_info err;
    err_clear(&err);
    rc = lake_object_delete(bs->lake, bs->bucket, v->key, &err);
    if (rc < 0) {
        failed(bs, rc, "expiring", v->key);
        return 0;
    }
    bs->stats->expired++;
    return 1;
}

/* 1 when a rule removes the noncurrent version v (noncurrent since, rank-th newest). */
static int noncurrent_due(struct bucket_sweep *bs, const struct lake_object_info *v, int64_t since,
                          int64_t rank, struct tag_cache *tc)
{
    size_t i;
    json_t *rule;
    json_array_foreach(bs->rules, i, rule)
    {
        json_t *nce = json_object_get(rule, "NoncurrentVersionExpiration");
        int64_t days = int_or(nce, "NoncurrentDays", -1);
        if (enabled(rule) && days > 0 && lake_lifecycle_due(since, days) <= bs->now &&
            rank >= int_or(nce, "NewerNoncurrentVersions", 0) &&
            rule_selects(bs->lake, bs->bucket, rule, v, 0, tc)) {
            return 1;
        }
    }
    return 0;
}

static int marker_expires(struct bucket_sweep *bs, const struct lake_object_info *m)
{
    size_t i;
    json_t *rule;
    json_array_foreach(bs->rules, i, rule)
    {
        /* ExpiredObjectDeleteMarker, or an Expiration by Days or Date, which removes an
           expired marker once the marker itself is that old */
        json_t *e = json_object_get(rule, "Expiration");
        int64_t when = expiration_of(rule, m->last_modified_ms);
        if (enabled(rule) &&
            (json_is_true(json_object_get(e, "ExpiredObjectDeleteMarker")) ||
             (when >= 0 && when <= bs->now)) &&
            lake__lc_rule_matches(rule, m->key, 0, NULL)) {
            return 1;
        }
    }
    return 0;
}

/* Applies the rules to one key, its versions v[0..n) newest first. */
static void sweep_key(struct bucket_sweep *bs, struct lake_object_info *v, size_t n)
{
    const struct lake_object_info *cur = &v[0];
    if (!cur->delete_marker && cur->is_latest) {
        struct lake_lc_when when;
        struct tag_cache tc = {0};
        if (earliest_expiry(bs->lake, bs->bucket, bs->rules, cur, &when) &&
            when.date_ms <= bs->now) {
            expire_current(bs, cur);
        } else {
            maybe_transition(bs, cur, -1, 0, &tc);
        }
        json_decref(tc.tags);
    }
    size_t left = 0;  /* noncurrent versions still there */
    int64_t rank = 0; /* noncurrent objects (not markers) seen, newest first */
    for (size_t i = 1; i < n; i++) {
        struct tag_cache tc = {0};
        int64_t since = v[i - 1].last_modified_ms; /* when the next version replaced it */
        /* a noncurrent delete marker is kept by no NewerNoncurrentVersions */
        if (noncurrent_due(bs, &v[i], since, v[i].delete_marker ? INT64_MAX : rank, &tc)) {
            if (remove_version(bs, &v[i])) {
                bs->stats->noncurrent++;
            } else {
                left++;
            }
        } else {
            left++;
            if (!v[i].delete_marker) {
                maybe_transition(bs, &v[i], since, rank, &tc);
            }
        }
        if (!v[i].delete_marker) {
            rank++;
        }
        json_decref(tc.tags);
    }
    if (cur->delete_marker && cur->is_latest && left == 0 && marker_expires(bs, cur) &&
        remove_version(bs, cur)) {
        bs->stats->markers++;
    }
}

/* The versions of one key gathered across pages. */
struct key_batch {
    struct lake_object_info *v;
    size_t n, cap;
};

static void batch_take(struct key_batch *kb, struct lake_object_info *info)
{
    if (kb->n == kb->cap) {
        kb->cap = kb->cap ? kb->cap * 2 : 8;
        kb->v = xrealloc(kb->v, kb->cap * sizeof(*kb->v));
    }
    kb->v[kb->n++] = *info;
    memset(info, 0, sizeof(*info)); /* ownership moved */
}

static void batch_flush(struct bucket_sweep *bs, struct key_batch *kb)
{
    if (kb->n > 0) {
        sweep_key(bs, kb->v, kb->n);
    }
    for (size_t i = 0; i < kb->n; i++) {
        lake_object_info_fini(&kb->v[i]);
    }
    kb->n = 0;
}

static void sweep_versions(struct bucket_sweep *bs)
{
    struct key_batch kb = {0};
    char *key_marker = NULL, *vid_marker = NULL;
    for (;;) {
        struct lake_version_list_opts o = {
            .key_marker = key_marker, .version_id_marker = vid_marker, .max_keys = lake__lc_page};
        struct lake_version_list list;
        struct err_info err;
        err_clear(&err);
        int rc = lake_version_list(bs->lake, bs->bucket, &o, &list, &err);
        if (rc < 0) {
            failed(bs, rc, "listing", "");
            break;
        }
        for (size_t i = 0; i < list.n_versions; i++) {
            if (kb.n > 0 && strcmp(kb.v[0].key, list.versions[i].key) != 0) {
                batch_flush(bs, &kb); /* a key before the page's last: complete */
            }
            batch_take(&kb, &list.versions[i]);
        }
        free(key_marker);
        free(vid_marker);
        key_marker = list.next_key_marker ? xstrdup(list.next_key_marker) : NULL;
        vid_marker = list.next_version_id_marker ? xstrdup(list.next_version_id_marker) : NULL;
        int more = list.truncated && key_marker != NULL;
        lake_version_list_fini(&list);
        if (!more) {
            break;
        }
        if (vid_marker == NULL) {
            batch_flush(bs, &kb); /* the page ended with the whole key */
        }
    }
    batch_flush(bs, &kb);
    free(kb.v);
    free(key_marker);
    free(vid_marker);
}

static void sweep_uploads(struct bucket_sweep *bs)
{
    char *key_marker = NULL, *id_marker = NULL;
    for (;;) {
        struct lake_upload_list list;
        struct err_info err;
        err_clear(&err);
        int rc = lake_upload_list(bs->lake, bs->bucket, "", key_marker, id_marker, lake__lc_page,
                                  &list, &err);
        if (rc < 0) {
            failed(bs, rc, "listing uploads", "");
            break;
        }
        for (size_t i = 0; i < list.n_uploads; i++) {
            struct lake_upload_info *u = &list.uploads[i];
            struct lake_lc_when when;
            if (lake_lifecycle_abort_date(bs->lake, bs->bucket, u->key, u->initiated_ms, &when) &&
                when.date_ms <= bs->now) {
                err_clear(&err);
                rc = lake_upload_abort(bs->lake, bs->bucket, u->key, u->upload_id, &err);
                if (rc == 0) {
                    bs->stats->aborted++;
                } else if (rc != SL_E(NO_SUCH_UPLOAD)) {
                    failed(bs, rc, "aborting an upload", u->key);
                }
            }
        }
        free(key_marker);
        free(id_marker);
        key_marker = NULL;
        id_marker = NULL;
        if (list.truncated && list.n_uploads > 0) {
            key_marker = xstrdup(list.uploads[list.n_uploads - 1].key);
            id_marker = xstrdup(list.uploads[list.n_uploads - 1].upload_id);
        }
        int more = list.truncated && key_marker != NULL;
        lake_upload_list_fini(&list);
        if (!more) {
            break;
        }
    }
    free(key_marker);
    free(id_marker);
}

static int rules_have(json_t *rules, const char *member)
{
    size_t i;
    json_t *rule;
    json_array_foreach(rules, i, rule)
    {
        if (enabled(rule) && json_object_get(rule, member) != NULL) {
            return 1;
        }
    }
    return 0;
}

/* One sweep at a time: the background thread, SIGUSR1 and the test clock share it. */
static pthread_mutex_t sweep_lock = PTHREAD_MUTEX_INITIALIZER;

int lake_lifecycle_sweep(struct lake *lake, int64_t now_ms, struct lake_lc_stats *stats)
{
    struct lake_lc_stats local;
    memset(&local, 0, sizeof(local));
    if (stats == NULL) {
        stats = &local;
    }
    struct lake_bucket_info *buckets = NULL;
    size_t n = 0;
    int rc = lake_bucket_list(lake, &buckets, &n);
    if (rc < 0) {
        return rc;
    }
    pthread_mutex_lock(&sweep_lock);
    for (size_t i = 0; i < n; i++) {
        json_t *doc = load_doc(lake, buckets[i].name);
        if (doc == NULL) {
            continue;
        }
        struct bucket_sweep bs = {
            .lake = lake,
            .bucket = buckets[i].name,
            .rules = json_object_get(doc, "Rules"),
            .min_size = json_string_value(json_object_get(doc, "MinSize")),
            .now = now_ms,
            .stats = stats,
        };
        int mfa;
        if (lake_versioning_get(lake, bs.bucket, &bs.versioning, &mfa, NULL) == 0) {
            if (rules_have(bs.rules, "Expiration") || rules_have(bs.rules, "Transitions") ||
                rules_have(bs.rules, "NoncurrentVersionExpiration") ||
                rules_have(bs.rules, "NoncurrentVersionTransitions")) {
                sweep_versions(&bs);
            }
            if (rules_have(bs.rules, "AbortIncompleteMultipartUpload")) {
                sweep_uploads(&bs);
            }
        }
        if (rc == 0) {
            rc = bs.rc;
        }
        json_decref(doc);
    }
    pthread_mutex_unlock(&sweep_lock);
    free(buckets);
    return rc;
}

/* ---- background thread ---- */

struct lake_lc_sweeper {
    struct lake *lake;
    int interval_s;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int stop;
};

static void *sweeper_main(void *arg)
{
    struct lake_lc_sweeper *sw = arg;
    pthread_mutex_lock(&sw->mu);
    while (!sw->stop) {
        pthread_mutex_unlock(&sw->mu);
        struct lake_lc_stats st;
        memset(&st, 0, sizeof(st));
        int rc = lake_lifecycle_sweep(sw->lake, lake_lifecycle_now_ms(), &st);
        if (rc < 0) {
            log_msg(LOG_WARN, "lifecycle", "sweep failed: %s", sl_strerror(rc));
        }
        pthread_mutex_lock(&sw->mu);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += sw->interval_s;
        while (!sw->stop && pthread_cond_timedwait(&sw->cond, &sw->mu, &until) == 0) {
        }
    }
    pthread_mutex_unlock(&sw->mu);
    return NULL;
}

struct lake_lc_sweeper *lake_lifecycle_start(struct lake *lake, int interval_s)
{
    struct lake_lc_sweeper *sw = xcalloc(1, sizeof(*sw));
    sw->lake = lake;
    sw->interval_s = interval_s > 0 ? interval_s : 3600;
    pthread_mutex_init(&sw->mu, NULL);
    pthread_cond_init(&sw->cond, NULL);
    if (pthread_create(&sw->thread, NULL, sweeper_main, sw) != 0) {
        log_msg(LOG_ERROR, "lifecycle", "cannot start the lifecycle sweeper");
        pthread_cond_destroy(&sw->cond);
        pthread_mutex_destroy(&sw->mu);
        free(sw);
        return NULL;
    }
    return sw;
}

void lake_lifecycle_stop(struct lake_lc_sweeper *sw)
{
    if (sw == NULL) {
        return;
    }
    pthread_mutex_lock(&sw->mu);
    sw->stop = 1;
    pthread_cond_signal(&sw->cond);
    pthread_mutex_unlock(&sw->mu);
    pthread_join(sw->thread, NULL);
    pthread_cond_destroy(&sw->cond);
    pthread_mutex_destroy(&sw->mu);
    free(sw);
}
