/*
 * S3 bucket lifecycle in the lake: the rules a bucket keeps (its lifecycle document, a
 * JSON object the S3 adapter writes from PutBucketLifecycleConfiguration, s3_lifecycle.c)
 * and the sweeper that applies them, as S3 does once a day:
 *   - current versions expire (Days after creation, rounded up to the next midnight
 *     UTC, or on a Date): removed in an unversioned bucket, a delete marker otherwise;
 *   - delete markers with no older version left go (ExpiredObjectDeleteMarker, or an
 *     Expiration by Days or Date once the marker itself is that old);
 *   - noncurrent versions go NoncurrentDays after they became noncurrent, but for the
 *     NewerNoncurrentVersions newest of them;
 *   - multipart uploads are aborted DaysAfterInitiation after they started;
 *   - transitions change a version's storage class (kept as its x-amz-storage-class).
 * Versions under object lock are never removed. Each removal is its own committed
 * step through the calls DeleteObject uses, so a crash mid-sweep loses nothing and
 * the next sweep finishes the work.
 *
 * The sweeper reads a lifecycle clock, the wall clock plus an offset only tests move
 * (lake_lifecycle_advance, behind the server's --test-clock).
 *
 * The document: {"Rules":[rule...], "MinSize":"all_storage_classes_128K"|...}, each rule
 * the XML's shape as JSON: ID, Status, Prefix (legacy) or Filter {Prefix | Tag {Key,
 * Value} | ObjectSizeGreaterThan | ObjectSizeLessThan | And {Prefix, Tags [{Key, Value}],
 * ObjectSizeGreaterThan, ObjectSizeLessThan}}, Expiration {Days | Date (ms) |
 * ExpiredObjectDeleteMarker}, Transitions [{Days | Date, StorageClass}],
 * NoncurrentVersionExpiration {NoncurrentDays, NewerNoncurrentVersions},
 * NoncurrentVersionTransitions [{NoncurrentDays, StorageClass, NewerNoncurrentVersions}],
 * AbortIncompleteMultipartUpload {DaysAfterInitiation}.
 */
#ifndef SLUICE_LAKE_LAKE_LIFECYCLE_H
#define SLUICE_LAKE_LAKE_LIFECYCLE_H

#include <stddef.h>
#include <stdint.h>

#include "lake/lake.h"

#define LAKE_LC_DAY_MS ((int64_t)86400 * 1000)

/* The lifecycle clock: wall clock + the offset tests set. */
int64_t lake_lifecycle_now_ms(void);
/* Moves the lifecycle clock forward by ms (test-only, process-wide). */
void lake_lifecycle_advance(int64_t ms);

/* When an action Days after base_ms falls due: base + days, rounded up to the next
   midnight UTC, as S3 computes it. */
int64_t lake_lifecycle_due(int64_t base_ms, int64_t days);

/* The rule that expires something and when. */
struct lake_lc_when {
    int64_t date_ms;
    char rule_id[256];
};
/*
 * When the bucket's rules expire the current object info (its key, size, tags and
 * creation time): the earliest Expiration among enabled rules whose filter it matches.
 * Returns 1 with *out filled, 0 when no rule expires it (or the bucket has none).
 */
int lake_lifecycle_expiry(struct lake *lake, const char *bucket,
                          const struct lake_object_info *info, struct lake_lc_when *out);
/* The same for an upload of key started at initiated_ms (AbortIncompleteMultipartUpload). */
int lake_lifecycle_abort_date(struct lake *lake, const char *bucket, const char *key,
                              int64_t initiated_ms, struct lake_lc_when *out);

struct lake_lc_stats {
    int64_t expired;      /* current versions deleted or given a delete marker */
    int64_t noncurrent;   /* noncurrent versions removed */
    int64_t markers;      /* expired delete markers removed */
    int64_t aborted;      /* uploads aborted */
    int64_t transitioned; /* versions whose storage class changed */
    int64_t kept_locked;  /* versions due but kept by object lock */
};
/* Applies every bucket's rules as of now_ms. 0 or the first storage error (the sweep
   goes on past a failure; what it did is counted in *stats, which may be NULL). */
int lake_lifecycle_sweep(struct lake *lake, int64_t now_ms, struct lake_lc_stats *stats);

/* A thread that sweeps every interval_s seconds (and at once when started); stopped and
   joined by lake_lifecycle_stop. NULL on failure (logged). */
struct lake_lc_sweeper;
struct lake_lc_sweeper *lake_lifecycle_start(struct lake *lake, int interval_s);
void lake_lifecycle_stop(struct lake_lc_sweeper *sw);

/* ---- for the S3 adapter and tests ---- */

struct json_t;
/* 1 when rule (a rule object of the document) selects an object: key, size and its tags
   (a JSON object, NULL for none). */
int lake__lc_rule_matches(const struct json_t *rule, const char *key, int64_t size,
                          const struct json_t *tags);
/* Versions and uploads a sweep lists per page (1000). */
extern size_t lake__lc_page;
/* 1 when the rule's filter names tags (then tags must be read to match). */
int lake__lc_rule_has_tags(const struct json_t *rule);

#endif
