#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/err.h"

static enum log_level min_level = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level)
{
    min_level = level;
}

void log_msg(enum log_level level, const char *part, const char *fmt, ...)
{
    if (level < min_level) {
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char line[1024];
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, level_names[level], part);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(line)) {
        vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    }
    va_end(ap);
    /* One fputs per line so concurrent threads do not interleave within a line. */
    fprintf(stderr, "%s\n", line);
}

int log_corrupt(const char *file, int line, const char *object, long long offset,
                const char *what)
{
    log_msg(LOG_ERROR, "corrupt", "%s at %s offset %lld (%s:%d)", what, object, offset, file,
            line);
    return SL_E(CORRUPT);
}

void log_assert_failed(const char *file, int line, const char *cond)
{
    log_msg(LOG_ERROR, "assert", "invariant failed: %s (%s:%d)", cond, file, line);
    abort();
}
