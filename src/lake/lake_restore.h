/*
 * Storage classes and restores of archived objects, as S3 keeps them.
 *
 * A version's storage class is its stored x-amz-storage-class header (none: STANDARD).
 * GLACIER and DEEP_ARCHIVE are archived: their bytes cannot be read until a restore
 * (RestoreObject) makes a temporary copy readable. A restore is kept with the version's
 * stored headers (meta_json) under ":restore", a key no client header can have:
 *   {"ready": ms, "expiry": ms, "days": N, "tier": "Standard"}
 * It completes at ready and the copy lapses at expiry, both on the lifecycle clock
 * (lake_lifecycle_now_ms), so `serve --test-clock` tests move through them; nothing
 * has to run when either time passes: every reader asks lake_restore_readable.
 */
#ifndef SLUICE_LAKE_LAKE_RESTORE_H
#define SLUICE_LAKE_LAKE_RESTORE_H

#include <stdint.h>

#include "lake/lake.h"

#define LAKE_RESTORE_KEY ":restore"
#define LAKE_RESTORE_DAYS_MAX 2147483647

/* 1 when cls is a class a write to a general purpose bucket may name; 0 for S3's other
   enum values (OUTPOSTS, EXPRESS_ONEZONE, ...) and unknown names. */
int lake_class_writable(const char *cls);
/* 1 for GLACIER and DEEP_ARCHIVE (not GLACIER_IR: read at once). */
int lake_class_archived(const char *cls);
/* The class stored headers name ("STANDARD" when none), in buf or static. */
const char *lake_class_of(const char *meta_json, char buf[32]);

/* Where a version's restore stands at now_ms. */
enum lake_restore_phase {
    LAKE_RESTORE_NONE = 0, /* never restored, or the copy lapsed */
    LAKE_RESTORE_ONGOING,  /* asked for, not complete yet */
    LAKE_RESTORE_DONE,     /* a readable copy until expiry_ms */
};
struct lake_restore_state {
    enum lake_restore_phase phase;
    int64_t ready_ms;
    int64_t expiry_ms;
};
void lake_restore_state(const char *meta_json, int64_t now_ms, struct lake_restore_state *out);
/* 1 when the bytes of a version with these stored headers can be read at now_ms: its
   class is not archived, or a restore completed and has not lapsed. */
int lake_restore_readable(const char *meta_json, int64_t now_ms);

/* How long a restore of an object of cls takes at tier ("Expedited", "Standard",
   "Bulk"): S3's upper bounds. -1 for an unknown tier or Expedited of DEEP_ARCHIVE. */
int64_t lake_restore_delay_ms(const char *cls, const char *tier);

/* What a restore request did. */
enum lake_restore_outcome {
    LAKE_RESTORE_STARTED,  /* 202: a restore began */
    LAKE_RESTORE_EXTENDED, /* 200: already restored, the copy kept `days` from now */
};
/*
 * The stored headers after a restore request (tier, days) at now_ms, in *meta_out (the
 * caller frees). Returns the outcome, or SL_E(INVALID_OBJECT_STATE) (not archived),
 * SL_E(RESTORE_IN_PROGRESS), SL_E(INVALID_ARGUMENT_S3) (tier not allowed for the class).
 */
int lake_restore_apply(const char *meta_json, const char *tier, int64_t days, int64_t now_ms,
                       char **meta_out);

/*
 * RestoreObject on a version (version_id NULL: the current one): reads it, applies the
 * request on the lifecycle clock and stores the result with the version. info (may be
 * NULL) is the version as found. Returns an outcome, lake_restore_apply's errors with
 * S3's message in err, or lake_version_open's.
 */
int lake_object_restore(struct lake *lake, const char *bucket, const char *key,
                        const char *version_id, const char *tier, int64_t days,
                        struct lake_object_info *info, struct err_info *err);

/* Replaces the stored headers of version v (as listed or looked up) if it is still the
   same version (ETag and time unchanged) with the same stored headers (v->meta_json):
   a compare-and-set. 1 when replaced, 0 when v changed meanwhile, or a storage error. */
int lake__version_meta_put(struct lake *lake, const char *bucket, const struct lake_object_info *v,
                           const char *meta_json);

#endif
