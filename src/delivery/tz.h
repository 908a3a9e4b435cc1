/*
 * IANA time zones for CustomTimeZone, read from the system's compiled tz database
 * (/usr/share/zoneinfo, Debian's tzdata) by a reader of our own: the C library's way
 * (setenv("TZ") then localtime_r) changes process-wide state and is not thread-safe.
 *
 * A zone, once loaded, is immutable: any thread may ask it for offsets.
 */
#ifndef SLUICE_DELIVERY_TZ_H
#define SLUICE_DELIVERY_TZ_H

#include <stdint.h>

#define TZ_DIR "/usr/share/zoneinfo"

struct tz_zone;

/*
 * Loads the zone name ("America/New_York") from dir (NULL: TZ_DIR) into *out (OUT; the
 * caller destroys it). name must match CustomTimeZone's pattern [a-zA-Z/_]+, which keeps
 * it inside dir. Returns 0; SL_E(RESOURCE_NOT_FOUND) when there is no such zone;
 * SL_E(CORRUPT) when its file is not a TZif file this reader understands.
 */
int tz_zone_load(const char *dir, const char *name, struct tz_zone **out);
/* Accepts NULL. */
void tz_zone_destroy(struct tz_zone *z);
/* The zone's offset from UTC, in seconds, at the instant utc_s (seconds since the epoch). */
int32_t tz_zone_offset_s(const struct tz_zone *z, int64_t utc_s);

/*
 * The zone name from TZ_DIR, loaded once and kept for the process's life; NULL for an
 * unknown zone, and for "" and "UTC" (no offset). Thread-safe.
 */
const struct tz_zone *delivery__tz_get(const char *name);
/* 1 when name is a zone CustomTimeZone accepts: "", "UTC" or a zone of TZ_DIR. */
int delivery__tz_known(const char *name);
/* ms (UTC) moved by the zone's offset at that instant: the wall-clock time as if in UTC,
   for formatting with gmtime. A NULL zone leaves ms as it is. */
int64_t delivery__tz_local_ms(const struct tz_zone *z, int64_t ms);

#endif
