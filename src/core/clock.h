/* Wall-clock and monotonic time in the units Sluice stores. */
#ifndef SLUICE_CORE_CLOCK_H
#define SLUICE_CORE_CLOCK_H

#include <stdint.h>

/* Milliseconds since the Unix epoch (wall clock). */
int64_t clock_now_ms(void);
/* Nanoseconds from an arbitrary origin (monotonic), for durations. */
int64_t clock_mono_ns(void);
/* ISO 8601 UTC with milliseconds, "2026-11-26T10:00:00.000Z", into out (25 bytes). */
void clock_format_iso8601(int64_t ms, char out[32]);
/* RFC 1123 date as HTTP uses, "Thu, 26 Nov 2026 10:00:00 GMT", into out (30 bytes). */
void clock_format_http(int64_t ms, char out[32]);

#endif
