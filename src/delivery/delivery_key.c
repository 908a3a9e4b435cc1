/*
 * Firehose's S3 key layout.
 *
 *   key    = <evaluated prefix><stream>-<version>-<yyyy>-<MM>-<dd>-<HH>-<mm>-<ss>-<uuid><ext>
 *
 * Every time in a key is the arrival time of the oldest record in the object, in UTC or in
 * the destination's CustomTimeZone: AWS's "Amazon S3 object name format" page says the
 * time zone applies to the time prefix and to the suffix.
 * The prefix rules (AWS's developer guide, "Custom prefixes for Amazon S3 objects"):
 *   - no prefix: "yyyy/MM/dd/HH/";
 *   - a prefix with no expression: the prefix, then "yyyy/MM/dd/HH/" appended as is
 *     (no '/' inserted: "legacy" gives "legacy2026/07/13/14/");
 *   - a prefix with expressions: the evaluated prefix, nothing appended.
 * Expressions are `!{namespace:value}`:
 *   !{timestamp:<pattern>}          Java DateTimeFormatter pattern (subset below)
 *   !{firehose:random-string}       11 random characters, fresh per occurrence
 *   !{firehose:error-output-type}   the error type (error prefixes only)
 *   !{partitionKeyFromQuery:k} and !{partitionKeyFromLambda:k}   dynamic partitioning
 *
 * The pattern subset: y/u year (yy: two digits, else at least as many digits as letters),
 * M month (1-2 letters numeric, MMM "Jan", MMMM "January"), d day, D day of year, H hour
 * 0-23, k 1-24, h 1-12, K 0-11, m minute, s second, S fraction of a second (as many digits
 * as letters), a AM/PM, E day name (1-3 letters "Mon", 4 "Monday"). 'text' is literal,
 * '' a quote; any other non-letter stands for itself; other letters are refused, as are
 * the characters Java reserves ([ ] { } #).
 */
#include <string.h>
#include <time.h>

#include "core/crypto.h"
#include "delivery/compress.h"
#include "delivery/delivery_int.h"
#include "delivery/tz.h"

static const char *const month_names[] = {"January",   "February", "March",    "April",
                                          "May",       "June",     "July",     "August",
                                          "September", "October",  "November", "December"};
static const char *const day_names[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                        "Thursday", "Friday", "Saturday"};

static int is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static void put_num(struct buf *out, long v, int width)
{
    if (out != NULL) {
        buf_printf(out, "%0*ld", width, v);
    }
}

/* One run of count copies of letter. 0, or -1 for a letter outside the subset. */
static int field(struct buf *out, char letter, int count, const struct tm *tm, int64_t ms)
{
    switch (letter) {
    case 'y':
    case 'u':
        if (count == 2) {
            put_num(out, (tm->tm_year + 1900) % 100, 2);
        } else {
            put_num(out, tm->tm_year + 1900, count);
        }
        return 0;
    case 'M':
        if (count <= 2) {
            put_num(out, tm->tm_mon + 1, count);
        } else if (count <= 4) {
            if (out != NULL) {
                const char *n = month_names[tm->tm_mon];
                buf_append(out, n, count == 3 ? 3 : strlen(n));
            }
        } else {
            return -1;
        }
        return 0;
    case 'd':
        if (count > 2) {
            return -1;
        }
        put_num(out, tm->tm_mday, count);
        return 0;
    case 'D':
        if (count > 3) {
            return -1;
        }
        put_num(out, tm->tm_yday + 1, count);
        return 0;
    case 'H':
    case 'k':
    case 'h':
    case 'K': {
        if (count > 2) {
            return -1;
        }
        int h = tm->tm_hour;
        if (letter == 'k') {
            h = h == 0 ? 24 : h;
        } else if (letter == 'h') {
            h = h % 12 == 0 ? 12 : h % 12;
        } else if (letter == 'K') {
            h = h % 12;
        }
        put_num(out, h, count);
        return 0;
    }
    case 'm':
        if (count > 2) {
            return -1;
        }
        put_num(out, tm->tm_min, count);
        return 0;
    case 's':
        if (count > 2) {
            return -1;
        }
        put_num(out, tm->tm_sec, count);
        return 0;
    case 'S': {
        if (count > 9) {
            return -1;
        }
        long frac_ns = (long)(((ms % 1000) + 1000) % 1000) * 1000000L;
        char digits[16];
        snprintf(digits, sizeof(digits), "%09ld", frac_ns);
        if (out != NULL) {
            buf_append(out, digits, (size_t)count);
        }
        return 0;
    }
    case 'a':
        if (count > 1) {
            return -1;
        }
        if (out != NULL) {
            buf_puts(out, tm->tm_hour < 12 ? "AM" : "PM");
        }
        return 0;
    case 'E':
        if (count > 4) {
            return -1;
        }
        if (out != NULL) {
            const char *n = day_names[tm->tm_wday];
            buf_append(out, n, count == 4 ? strlen(n) : 3);
        }
        return 0;
    default: return -1;
    }
}

int delivery__ts_format(const char *pattern, size_t len, int64_t ms, struct buf *out)
{
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t i = 0;
    while (i < len) {
        char c = pattern[i];
        if (c == '\'') {
            if (i + 1 < len && pattern[i + 1] == '\'') {
                if (out != NULL) {
                    buf_putc(out, '\'');
                }
                i += 2;
                continue;
            }
            size_t j = i + 1;
            for (;;) {
                if (j >= len) {
                    return -1; /* an open quote */
                }
                if (pattern[j] == '\'') {
                    if (j + 1 < len && pattern[j + 1] == '\'') {
                        if (out != NULL) {
                            buf_putc(out, '\'');
                        }
                        j += 2;
                        continue;
                    }
                    break;
                }
                if (out != NULL) {
                    buf_putc(out, pattern[j]);
                }
                j++;
            }
            i = j + 1;
        } else if (is_letter(c)) {
            size_t j = i;
            while (j < len && pattern[j] == c) {
                j++;
            }
            if (field(out, c, (int)(j - i), &tm, ms) < 0) {
                return -1;
            }
            i = j;
        } else if (c == '[' || c == ']' || c == '{' || c == '}' || c == '#') {
            return -1;
        } else {
            if (out != NULL) {
                buf_putc(out, c);
            }
            i++;
        }
    }
    return 0;
}

/* One expression: namespace ns (ns_len) and value (val_len) from a prefix. */
struct expr {
    const char *ns;
    size_t ns_len;
    const char *val;
    size_t val_len;
};

static int ns_is(const struct expr *e, const char *name)
{
    return e->ns_len == strlen(name) && memcmp(e->ns, name, e->ns_len) == 0;
}

static int val_is(const struct expr *e, const char *name)
{
    return e->val_len == strlen(name) && memcmp(e->val, name, e->val_len) == 0;
}

/*
 * Splits the expression that starts at p ("!{") of a prefix ending at end. Returns the
 * length of the whole expression, or 0 when it is not `!{ns:value}`.
 */
static size_t split_expr(const char *p, const char *end, struct expr *e)
{
    const char *close = memchr(p + 2, '}', (size_t)(end - p - 2));
    if (close == NULL) {
        return 0;
    }
    const char *colon = memchr(p + 2, ':', (size_t)(close - p - 2));
    if (colon == NULL || colon == p + 2 || colon + 1 == close) {
        return 0;
    }
    e->ns = p + 2;
    e->ns_len = (size_t)(colon - e->ns);
    e->val = colon + 1;
    e->val_len = (size_t)(close - e->val);
    return (size_t)(close - p) + 1;
}

int delivery__prefix_scan(const char *prefix, struct delivery_prefix_info *info,
                          struct err_info *err)
{
    memset(info, 0, sizeof(*info));
    const char *end = prefix + strlen(prefix);
    for (const char *p = prefix; p < end;) {
        if (!(p[0] == '!' && p + 1 < end && p[1] == '{')) {
            p++;
            continue;
        }
        struct expr e;
        size_t n = split_expr(p, end, &e);
        if (n == 0) {
            return err_set(err, SL_E(INVALID_ARGUMENT),
                           "The expression at position %zu is malformed: '!{' must start an "
                           "expression of the form !{namespace:value}.",
                           (size_t)(p - prefix));
        }
        info->n_expressions++;
        if (ns_is(&e, "timestamp")) {
            if (delivery__ts_format(e.val, e.val_len, 0, NULL) < 0) {
                return err_set(err, SL_E(INVALID_ARGUMENT),
                               "The timestamp pattern '%.*s' is not a valid DateTimeFormatter "
                               "pattern.",
                               (int)e.val_len, e.val);
            }
        } else if (ns_is(&e, "firehose")) {
            if (val_is(&e, "error-output-type")) {
                info->n_error_type++;
            } else if (!val_is(&e, "random-string")) {
                return err_set(err, SL_E(INVALID_ARGUMENT),
                               "The firehose namespace supports random-string and "
                               "error-output-type, not '%.*s'.",
                               (int)e.val_len, e.val);
            }
        } else if (ns_is(&e, "partitionKeyFromQuery") || ns_is(&e, "partitionKeyFromLambda")) {
            info->n_partition_key++;
        } else {
            return err_set(err, SL_E(INVALID_ARGUMENT),
                           "The namespace '%.*s' is not supported. Supported namespaces are "
                           "timestamp, firehose, partitionKeyFromQuery and "
                           "partitionKeyFromLambda.",
                           (int)e.ns_len, e.ns);
        }
        p += n;
    }
    return 0;
}

static void random_string(struct buf *out)
{
    static const char alphabet[] = "0123456789abcdef";
    uint8_t rnd[11];
    crypto_random(rnd, sizeof(rnd));
    for (size_t i = 0; i < sizeof(rnd); i++) {
        buf_putc(out, alphabet[rnd[i] & 15]);
    }
}

/* expanded: prefix is a template whose partition keys were replaced already, so it had
   expressions and gets no time path appended. */
static void prefix_eval(const char *prefix, int64_t ts_ms, const char *error_type, int expanded,
                        struct buf *out)
{
    static const char hourly[] = "yyyy/MM/dd/HH/";
    if (!expanded && (prefix == NULL || prefix[0] == '\0')) {
        delivery__ts_format(hourly, strlen(hourly), ts_ms, out);
        return;
    }
    if (prefix == NULL) {
        return;
    }
    struct delivery_prefix_info info;
    if (expanded && (delivery__prefix_scan(prefix, &info, NULL) < 0 || info.n_expressions == 0)) {
        buf_puts(out, prefix);
        return;
    }
    if (delivery__prefix_scan(prefix, &info, NULL) < 0 || info.n_expressions == 0) {
        buf_puts(out, prefix);
        delivery__ts_format(hourly, strlen(hourly), ts_ms, out);
        return;
    }
    const char *end = prefix + strlen(prefix);
    for (const char *p = prefix; p < end;) {
        struct expr e;
        size_t n = 0;
        if (p[0] == '!' && p + 1 < end && p[1] == '{') {
            n = split_expr(p, end, &e);
        }
        if (n == 0) {
            buf_putc(out, *p++);
            continue;
        }
        if (ns_is(&e, "timestamp")) {
            delivery__ts_format(e.val, e.val_len, ts_ms, out);
        } else if (ns_is(&e, "firehose") && val_is(&e, "random-string")) {
            random_string(out);
        } else if (ns_is(&e, "firehose") && val_is(&e, "error-output-type")) {
            buf_puts(out, error_type != NULL ? error_type : "");
        }
        /* Partition keys were replaced by partition_prefix_expand before. */
        p += n;
    }
}

void delivery__prefix_eval(const char *prefix, int64_t ts_ms, const char *error_type,
                           struct buf *out)
{
    prefix_eval(prefix, ts_ms, error_type, 0, out);
}

void delivery__object_name(const char *stream_name, int version, int64_t ts_ms, const char *ext,
                           struct buf *out)
{
    static const char stamp[] = "yyyy-MM-dd-HH-mm-ss";
    buf_printf(out, "%s-%d-", stream_name, version);
    delivery__ts_format(stamp, strlen(stamp), ts_ms, out);
    uint8_t u[16];
    crypto_random(u, sizeof(u));
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
    char hex[33];
    hex_encode(u, sizeof(u), hex);
    buf_printf(out, "-%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
    buf_puts(out, ext);
}

void delivery__object_key(const struct delivery_dest *d, const char *stream_name, int version,
                          int64_t ts_ms, struct buf *out)
{
    int64_t local_ms = delivery__tz_local_ms(delivery__tz_get(d->time_zone), ts_ms);
    prefix_eval(d->prefix, local_ms, NULL, d->prefix_expanded, out);
    /* With format conversion the object is Parquet: AWS names it .parquet. */
    const char *ext = d->file_extension != NULL ? d->file_extension
                      : d->conversion           ? ".parquet"
                                                : delivery__compress_ext(d->compression);
    delivery__object_name(stream_name, version, local_ms, ext, out);
}

void delivery__error_key(const struct delivery_dest *d, const char *stream_name, int version,
                         int64_t ts_ms, const char *error_type, struct buf *out)
{
    int64_t local_ms = delivery__tz_local_ms(delivery__tz_get(d->time_zone), ts_ms);
    if (d->error_prefix != NULL && d->error_prefix[0] != '\0') {
        delivery__prefix_eval(d->error_prefix, local_ms, error_type, out);
    } else {
        /* AWS's default: <Prefix><error-output-type>/yyyy/MM/dd/HH/ */
        if (d->prefix != NULL) {
            buf_puts(out, d->prefix);
        }
        buf_printf(out, "%s/", error_type);
        static const char hour_path[] = "yyyy/MM/dd/HH/";
        delivery__ts_format(hour_path, strlen(hour_path), local_ms, out);
    }
    /* Error objects are compressed like the destination's objects (see
       delivery__error_put), so they carry the compression's extension too. */
    delivery__object_name(stream_name, version, local_ms,
                          d->conversion ? "" : delivery__compress_ext(d->compression), out);
}
