/*
 * A TZif reader (RFC 8536) and the POSIX TZ rule of its footer.
 *
 *   header (44 bytes)   "TZif", version ('\0', '2', '3', '4'), 15 unused, then six
 *                       big-endian 32-bit counts: isutcnt isstdcnt leapcnt timecnt
 *                       typecnt charcnt
 *   v1 data block       timecnt 4-byte transition times, timecnt 1-byte type indexes,
 *                       typecnt 6-byte types (int32 utoff, isdst, desigidx), charcnt
 *                       designation bytes, leapcnt 8-byte leap records, isstdcnt and
 *                       isutcnt 1-byte indicators
 *   v2+                 a second header and data block, times and leap records 8 bytes,
 *                       then the footer "\n<POSIX TZ string>\n"
 *
 * Version 1 files use the first block; later versions skip it and use the second. An
 * instant before the first transition takes type 0 (RFC 8536 section 3.2); one at or
 * after the last transition takes the footer's rule when there is one (Debian's "fat"
 * files list transitions until 2037, "slim" ones stop at the last rule change).
 *
 * The footer: std offset [dst [offset] [,start[/time],end[/time]]], names alphabetic or
 * in <...>, offsets [+-]h[h][:mm[:ss]] west of Greenwich (EST5 is UTC-5), a missing dst
 * offset is std's plus one hour, rules Mm.w.d (day d of week w, 5 the last, of month
 * m), Jn (day 1-365, February 29 never counted) or n (day 0-365), times [+-]h[:mm[:ss]]
 * (default 02:00; RFC 8536 allows -167..167 hours).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/mem.h"
#include "delivery/tz.h"

#define TZ_FILE_MAX (1 << 20)

enum rule_kind { RULE_MONTH, RULE_JULIAN1, RULE_DAY0 };

struct rule {
    enum rule_kind kind;
    int month, week, day; /* RULE_MONTH; RULE_JULIAN1 and RULE_DAY0 use day */
    int32_t time_s;       /* local time of the change */
};

struct tz_zone {
    int64_t *times; /* transition instants, ascending */
    uint8_t *idx;   /* type of each transition */
    int32_t *utoff; /* offset of each type */
    uint32_t n_times, n_types;
    int has_footer; /* footer parsed */
    int has_dst;    /* footer has a DST rule */
    int32_t std_off, dst_off;
    struct rule start, end;
};

void tz_zone_destroy(struct tz_zone *z)
{
    if (z == NULL) {
        return;
    }
    free(z->times);
    free(z->idx);
    free(z->utoff);
    free(z);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* ---- the footer's POSIX TZ string ---- */

/* A name: letters, or anything but '>' inside <...>. Advances *p; 0 or -1. */
static int parse_name(const char **p)
{
    const char *s = *p;
    if (*s == '<') {
        const char *e = strchr(s, '>');
        if (e == NULL || e - s < 4) {
            return -1;
        }
        *p = e + 1;
        return 0;
    }
    const char *b = s;
    while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')) {
        s++;
    }
    if (s - b < 3) {
        return -1;
    }
    *p = s;
    return 0;
}

/* [+-]h[h][:mm[:ss]] up to max_h hours, into *secs. Advances *p; 0 or -1. */
static int parse_hms(const char **p, int max_h, int32_t *secs)
{
    const char *s = *p;
    int sign = 1;
    if (*s == '+' || *s == '-') {
        sign = *s == '-' ? -1 : 1;
        s++;
    }
    int32_t parts[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        if (i > 0) {
            if (*s != ':') {
                break;
            }
            s++;
        }
        if (*s < '0' || *s > '9') {
            return -1;
        }
        int v = 0, digits = 0;
        while (*s >= '0' && *s <= '9' && digits < 3) {
            v = v * 10 + (*s++ - '0');
            digits++;
        }
        parts[i] = v;
    }
    if (parts[0] > max_h || parts[1] > 59 || parts[2] > 59) {
        return -1;
    }
    *secs = sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]);
    *p = s;
    return 0;
}

static int parse_int(const char **p, int lo, int hi, int *out)
{
    const char *s = *p;
    if (*s < '0' || *s > '9') {
        return -1;
    }
    int v = 0;
    while (*s >= '0' && *s <= '9' && v <= hi) {
        v = v * 10 + (*s++ - '0');
    }
    if (v < lo || v > hi) {
        return -1;
    }
    *out = v;
    *p = s;
    return 0;
}

static int parse_rule(const char **p, struct rule *r)
{
    const char *s = *p;
    if (*s == 'M') {
        s++;
        r->kind = RULE_MONTH;
        if (parse_int(&s, 1, 12, &r->month) < 0 || *s++ != '.' ||
            parse_int(&s, 1, 5, &r->week) < 0 || *s++ != '.' || parse_int(&s, 0, 6, &r->day) < 0) {
            return -1;
        }
    } else if (*s == 'J') {
        s++;
        r->kind = RULE_JULIAN1;
        if (parse_int(&s, 1, 365, &r->day) < 0) {
            return -1;
        }
    } else {
        r->kind = RULE_DAY0;
        if (parse_int(&s, 0, 365, &r->day) < 0) {
            return -1;
        }
    }
    r->time_s = 7200;
    if (*s == '/') {
        s++;
        if (parse_hms(&s, 167, &r->time_s) < 0) {
            return -1;
        }
    }
    *p = s;
    return 0;
}

/* Parses footer s (NUL-terminated) into z. 0, or -1 for a form this reader does not know. */
static int parse_footer(const char *s, struct tz_zone *z)
{
    int32_t west;
    if (parse_name(&s) < 0 || parse_hms(&s, 24, &west) < 0) {
        return -1;
    }
    z->std_off = -west;
    if (*s == '\0') {
        z->has_footer = 1;
        return 0;
    }
    if (parse_name(&s) < 0) {
        return -1;
    }
    z->dst_off = z->std_off + 3600;
    if (*s != ',' && *s != '\0') {
        if (parse_hms(&s, 24, &west) < 0) {
            return -1;
        }
        z->dst_off = -west;
    }
    if (*s != ',') {
        return -1; /* a DST name without rules: POSIX leaves it to the implementation */
    }
    s++;
    if (parse_rule(&s, &z->start) < 0 || *s++ != ',' || parse_rule(&s, &z->end) < 0 || *s != '\0') {
        return -1;
    }
    z->has_footer = 1;
    z->has_dst = 1;
    return 0;
}

/* ---- calendar ---- */

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; m 1-12). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* The year of the day days since the epoch. */
static int64_t year_of(int64_t days)
{
    int64_t y = 1970 + days / 366;
    while (days_from_civil(y + 1, 1, 1) <= days) {
        y++;
    }
    while (days_from_civil(y, 1, 1) > days) {
        y--;
    }
    return y;
}

/* The day (since the epoch) rule r falls on in year y. */
static int64_t rule_day(const struct rule *r, int64_t y)
{
    int64_t jan1 = days_from_civil(y, 1, 1);
    switch (r->kind) {
    case RULE_JULIAN1: return jan1 + r->day - 1 + (is_leap(y) && r->day > 59);
    case RULE_DAY0: return jan1 + r->day;
    default: break;
    }
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t first = days_from_civil(y, r->month, 1);
    int wd_first = (int)(((first + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
    int64_t day = first + (r->day - wd_first + 7) % 7 + (int64_t)(r->week - 1) * 7;
    int len = mdays[r->month - 1] + (r->month == 2 && is_leap(y));
    while (day >= first + len) {
        day -= 7;
    }
    return day;
}

/* The footer rule's offset at utc_s. */
static int32_t footer_offset(const struct tz_zone *z, int64_t utc_s)
{
    if (!z->has_dst) {
        return z->std_off;
    }
    int64_t local = utc_s + z->std_off;
    int64_t days = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
    int64_t y = year_of(days);
    /* Changes happen at local time: the start in standard time, the end in DST. */
    int64_t start = rule_day(&z->start, y) * 86400 + z->start.time_s - z->std_off;
    int64_t end = rule_day(&z->end, y) * 86400 + z->end.time_s - z->dst_off;
    int in_dst = start < end ? (utc_s >= start && utc_s < end)
                             : !(utc_s >= end && utc_s < start); /* southern hemisphere */
    return in_dst ? z->dst_off : z->std_off;
}

int32_t tz_zone_offset_s(const struct tz_zone *z, int64_t utc_s)
{
    if (z->n_times == 0 || utc_s < z->times[0]) {
        if (z->n_times == 0 && z->has_footer) {
            return footer_offset(z, utc_s);
        }
        return z->n_types > 0 ? z->utoff[0] : 0;
    }
    if (utc_s >= z->times[z->n_times - 1] && z->has_footer) {
        return footer_offset(z, utc_s);
    }
    uint32_t lo = 0, hi = z->n_times; /* times[lo] <= utc_s < times[hi] */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (z->times[mid] <= utc_s) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return z->utoff[z->idx[lo]];
}

/* ---- the file ---- */

struct counts {
    uint32_t isut, isstd, leap, time, type, chars;
};

static void read_counts(const uint8_t *h, struct counts *c)
{
    c->isut = be32(h + 20);
    c->isstd = be32(h + 24);
    c->leap = be32(h + 28);
    c->time = be32(h + 32);
    c->type = be32(h + 36);
    c->chars = be32(h + 40);
}

/* Bytes of a data block with counts c and times of tsize bytes. */
static uint64_t block_len(const struct counts *c, int tsize)
{
    return (uint64_t)c->time * (tsize + 1) + (uint64_t)c->type * 6 + c->chars +
           (uint64_t)c->leap * (tsize + 4) + c->isstd + c->isut;
}

/* Parses file[0, len) into z. 0 or SL_E(CORRUPT). */
static int parse_tzif(const uint8_t *file, size_t len, struct tz_zone *z)
{
    if (len < 44 || memcmp(file, "TZif", 4) != 0) {
        return SL_E(CORRUPT);
    }
    struct counts c;
    read_counts(file, &c);
    const uint8_t *h = file;
    int tsize = 4;
    if (file[4] >= '2') { /* skip the v1 block: the 64-bit one follows */
        uint64_t skip = 44 + block_len(&c, 4);
        if (skip + 44 > len || memcmp(file + skip, "TZif", 4) != 0) {
            return SL_E(CORRUPT);
        }
        h = file + skip;
        read_counts(h, &c);
        tsize = 8;
    }
    const uint8_t *d = h + 44;
    uint64_t need = (uint64_t)(d - file) + block_len(&c, tsize);
    if (need > len || c.type == 0 || c.type > 256 || c.time > 1000000) {
        return SL_E(CORRUPT);
    }
    z->n_times = c.time;
    z->n_types = c.type;
    z->times = xcalloc(c.time + 1, sizeof(*z->times));
    z->idx = xcalloc(c.time + 1, 1);
    z->utoff = xcalloc(c.type, sizeof(*z->utoff));
    for (uint32_t i = 0; i < c.time; i++) {
        z->times[i] = tsize == 8 ? be64(d + (size_t)i * 8) : (int32_t)be32(d + (size_t)i * 4);
    }
    d += (size_t)c.time * tsize;
    for (uint32_t i = 0; i < c.time; i++) {
        if (d[i] >= c.type) {
            return SL_E(CORRUPT);
        }
        z->idx[i] = d[i];
    }
    d += c.time;
    for (uint32_t i = 0; i < c.type; i++) {
        z->utoff[i] = (int32_t)be32(d + (size_t)i * 6);
    }
    if (tsize == 8) {
        /* The footer: "\n<TZ>\n" right after the block. One this reader cannot parse
           leaves the last transition's type in force, as a v1 reader would. */
        const uint8_t *f = file + need;
        size_t left = len - need;
        if (left >= 2 && f[0] == '\n') {
            const uint8_t *nl = memchr(f + 1, '\n', left - 1);
            if (nl != NULL && nl - f - 1 < 128) {
                char tzs[128];
                memcpy(tzs, f + 1, (size_t)(nl - f - 1));
                tzs[nl - f - 1] = '\0';
                if (tzs[0] != '\0' && parse_footer(tzs, z) < 0) {
                    z->has_footer = z->has_dst = 0;
                }
            }
        }
    }
    return 0;
}

static int name_ok(const char *name)
{
    if (name == NULL || name[0] == '\0' || strlen(name) > 50) {
        return 0;
    }
    for (const char *p = name; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '/' || *p == '_')) {
            return 0;
        }
    }
    return 1;
}

int tz_zone_load(const char *dir, const char *name, struct tz_zone **out)
{
    *out = NULL;
    if (!name_ok(name)) {
        return SL_E(RESOURCE_NOT_FOUND);
    }
    char *path = xasprintf("%s/%s", dir != NULL ? dir : TZ_DIR, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (fd < 0) {
        return SL_E(RESOURCE_NOT_FOUND);
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return SL_E(RESOURCE_NOT_FOUND);
    }
    if (st.st_size > TZ_FILE_MAX) {
        close(fd);
        return SL_E(CORRUPT);
    }
    size_t len = (size_t)st.st_size;
    uint8_t *file = xmalloc(len + 1);
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, file + got, len - got);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    struct tz_zone *z = xcalloc(1, sizeof(*z));
    int rc = got == len ? parse_tzif(file, len, z) : SL_E(CORRUPT);
    free(file);
    if (rc < 0) {
        tz_zone_destroy(z);
        return rc;
    }
    *out = z;
    return 0;
}

/* ---- the process-wide cache ---- */

struct cached {
    struct cached *next;
    char *name;
    struct tz_zone *zone;
};

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct cached *cache; /* cache_mu; entries never removed */

static int is_utc(const char *name)
{
    return name == NULL || name[0] == '\0' || strcmp(name, "UTC") == 0;
}

const struct tz_zone *delivery__tz_get(const char *name)
{
    if (is_utc(name)) {
        return NULL;
    }
    pthread_mutex_lock(&cache_mu);
    struct cached *c = cache;
    while (c != NULL && strcmp(c->name, name) != 0) {
        c = c->next;
    }
    if (c == NULL) {
        struct tz_zone *z;
        if (tz_zone_load(NULL, name, &z) == 0) {
            c = xcalloc(1, sizeof(*c));
            c->name = xstrdup(name);
            c->zone = z;
            c->next = cache;
            cache = c;
        }
    }
    pthread_mutex_unlock(&cache_mu);
    return c != NULL ? c->zone : NULL;
}

int delivery__tz_known(const char *name)
{
    return is_utc(name) || delivery__tz_get(name) != NULL;
}

int64_t delivery__tz_local_ms(const struct tz_zone *z, int64_t ms)
{
    if (z == NULL) {
        return ms;
    }
    int64_t s = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    return ms + (int64_t)tz_zone_offset_s(z, s) * 1000;
}
