/*
 * Operator-facing log lines on stderr: "2026-11-26T10:00:00.123Z level part: message".
 *
 * SL_CORRUPT is the one place corruption and misuse are raised: it logs where (file,
 * line, object) and returns the code so callers write `return SL_CORRUPT(...)`.
 * Break on log_corrupt in a debugger to catch every case.
 */
#ifndef SLUICE_CORE_LOG_H
#define SLUICE_CORE_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
void log_msg(enum log_level level, const char *part, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Logs a corruption of object (a path) at offset and returns SL_E(CORRUPT). */
int log_corrupt(const char *file, int line, const char *object, long long offset,
                const char *what);
#define SL_CORRUPT(object, offset, what) log_corrupt(__FILE__, __LINE__, (object), (offset), (what))

/* Always-on check for invariants whose violation would corrupt durable data. */
#define SL_ASSERT(cond)                                                                    \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            log_assert_failed(__FILE__, __LINE__, #cond);                                  \
        }                                                                                  \
    } while (0)
_Noreturn void log_assert_failed(const char *file, int line, const char *cond);

#endif
