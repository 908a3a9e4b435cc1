/*
 * Partition projection: the partitions of a table whose TBLPROPERTIES say
 * projection.enabled=true are computed from its configuration at query time, never read
 * from the catalog (whose partitions are then ignored, as Athena ignores them).
 *
 *   projection.<key>.type       enum | integer | date | injected (any case)
 *   enum      .values           'a,b,c'
 *   integer   .range 'lo,hi' (inclusive), .interval (1), .digits (zero padding)
 *   date      .range 'start,end' in .format or NOW[+-N<UNIT>], .format (Java
 *             DateTimeFormatter: yyyy MM dd HH mm ss and literals), .interval (1),
 *             .interval.unit (YEARS .. SECONDS; by default the finest field of the format)
 *   injected  the values the query's WHERE clause gives by equality, which it must
 *   storage.location.template   's3://b/p/${key}/...'; else <location>/key=value/...
 *
 * Every key's candidate values are narrowed by the query's equalities, IN lists and
 * comparisons with constants before the product of them is taken, so a filtered query
 * lists few locations. Dates compare as their formatted text, which orders them for the
 * usual year-first formats.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/buf.h"
#include "core/mem.h"
#include "query/query_int.h"

#define PROJECTION_MAX_PARTITIONS 1000000 /* Athena's own bound on one query's partitions */

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

static const char *param(const struct catalog_table_desc *d, const char *key)
{
    for (size_t i = 0; i < d->n_parameters; i++) {
        if (strcasecmp(d->parameters[i].key, key) == 0) {
            return d->parameters[i].value;
        }
    }
    return NULL;
}

static const char *key_param(const struct catalog_table_desc *d, const char *col, const char *what)
{
    char name[512];
    snprintf(name, sizeof(name), "projection.%s.%s", col, what);
    return param(d, name);
}

int query__projection_enabled(const struct catalog_table_desc *d)
{
    const char *v = param(d, "projection.enabled");
    return d->n_partition_keys > 0 && v != NULL && strcasecmp(v, "true") == 0;
}

/* A list of candidate values. */
struct values {
    char **v;
    size_t n;
};

static void values_add(struct values *vs, const char *s)
{
    vs->v = xrealloc(vs->v, (vs->n + 1) * sizeof(*vs->v));
    vs->v[vs->n++] = xstrdup(s);
}

static void values_fini(struct values *vs)
{
    for (size_t i = 0; i < vs->n; i++) {
        free(vs->v[i]);
    }
    free(vs->v);
}

static int failf(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int failf(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- dates in a Java DateTimeFormatter pattern ---- */

/* Formats t (UTC) by the pattern's y, M, d, H, m, s runs and literals ('...' quoted). */
static void date_format(const char *fmt, const struct tm *t, struct buf *out)
{
    for (const char *p = fmt; *p != '\0';) {
        if (*p == '\'') {
            const char *e = strchr(p + 1, '\'');
            size_t n = e != NULL ? (size_t)(e - p - 1) : strlen(p + 1);
            buf_append(out, p + 1, n);
            p += n + (e != NULL ? 2 : 1);
            continue;
        }
        size_t run = 1;
        while (p[run] == p[0]) {
            run++;
        }
        int v = -1;
        switch (*p) {
        case 'y':
        case 'u': v = t->tm_year + 1900; break;
        case 'M': v = t->tm_mon + 1; break;
        case 'd': v = t->tm_mday; break;
        case 'H': v = t->tm_hour; break;
        case 'm': v = t->tm_min; break;
        case 's': v = t->tm_sec; break;
        default: break;
        }
        if (v < 0) {
            buf_append(out, p, run);
        } else if ((*p == 'y' || *p == 'u') && run == 2) {
            buf_printf(out, "%02d", v % 100);
        } else {
            buf_printf(out, "%0*d", (int)run, v);
        }
        p += run;
    }
}

/* Parses s by the pattern into *t; 0 or -1. */
static int date_parse(const char *fmt, const char *s, struct tm *t)
{
    *t = (struct tm){.tm_mday = 1, .tm_year = 70};
    for (const char *p = fmt; *p != '\0';) {
        if (*p == '\'') {
            const char *e = strchr(p + 1, '\'');
            size_t n = e != NULL ? (size_t)(e - p - 1) : strlen(p + 1);
            if (strncmp(s, p + 1, n) != 0) {
                return -1;
            }
            s += n;
            p += n + (e != NULL ? 2 : 1);
            continue;
        }
        size_t run = 1;
        while (p[run] == p[0]) {
            run++;
        }
        if (strchr("yuMdHms", *p) == NULL) {
            if (strncmp(s, p, run) != 0) {
                return -1;
            }
            s += run;
            p += run;
            continue;
        }
        size_t width = (*p == 'y' || *p == 'u') && run != 2 ? 4 : 2;
        int v = 0;
        for (size_t i = 0; i < width; i++) {
            if (!isdigit((unsigned char)s[i])) {
                return -1;
            }
            v = v * 10 + (s[i] - '0');
        }
        s += width;
        switch (*p) {
        case 'y':
        case 'u': t->tm_year = (width == 2 ? 2000 + v : v) - 1900; break;
        case 'M': t->tm_mon = v - 1; break;
        case 'd': t->tm_mday = v; break;
        case 'H': t->tm_hour = v; break;
        case 'm': t->tm_min = v; break;
        default: t->tm_sec = v; break;
        }
        p += run;
    }
    return *s == '\0' ? 0 : -1;
}

enum unit { U_SECONDS, U_MINUTES, U_HOURS, U_DAYS, U_WEEKS, U_MONTHS, U_YEARS, U_BAD };

static enum unit unit_of(const char *s, size_t n)
{
    static const char *const names[] = {"SECOND", "MINUTE", "HOUR", "DAY", "WEEK", "MONTH", "YEAR"};
    for (int u = 0; u < U_BAD; u++) {
        size_t l = strlen(names[u]);
        if ((n == l || (n == l + 1 && toupper((unsigned char)s[l]) == 'S')) &&
            strncasecmp(s, names[u], l) == 0) {
            return (enum unit)u;
        }
    }
    return U_BAD;
}

/* Moves t by n units (calendar months and years; timegm normalises). */
static void date_add(struct tm *t, long long n, enum unit u)
{
    switch (u) {
    case U_SECONDS: t->tm_sec += (int)n; break;
    case U_MINUTES: t->tm_min += (int)n; break;
    case U_HOURS: t->tm_hour += (int)n; break;
    case U_DAYS: t->tm_mday += (int)n; break;
    case U_WEEKS: t->tm_mday += (int)(7 * n); break;
    case U_MONTHS: t->tm_mon += (int)n; break;
    default: t->tm_year += (int)n; break;
    }
    time_t s = timegm(t);
    gmtime_r(&s, t);
}

/* One end of a date range: a date in the format, or NOW[+-N<UNIT>]. */
static int date_bound(const char *fmt, const char *s, int64_t now_ms, struct tm *t)
{
    while (isspace((unsigned char)*s)) {
        s++;
    }
    if (strncasecmp(s, "NOW", 3) != 0) {
        return date_parse(fmt, s, t);
    }
    time_t now = (time_t)(now_ms / 1000);
    gmtime_r(&now, t);
    s += 3;
    if (*s == '\0') {
        return 0;
    }
    if (*s != '+' && *s != '-') {
        return -1;
    }
    char *end;
    long long n = strtoll(s, &end, 10);
    enum unit u = unit_of(end, strlen(end));
    if (end == s + 1 || u == U_BAD) {
        return -1;
    }
    date_add(t, n, u);
    return 0;
}

/* The finest field of a format: its default interval unit. */
static enum unit finest_unit(const char *fmt)
{
    static const struct {
        char c;
        enum unit u;
    } order[] = {{'s', U_SECONDS}, {'m', U_MINUTES}, {'H', U_HOURS},
                 {'d', U_DAYS},    {'M', U_MONTHS},  {'y', U_YEARS}};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if (strchr(fmt, order[i].c) != NULL) {
            return order[i].u;
        }
    }
    return U_DAYS;
}

/* ---- each key's candidates ---- */

/* Splits "a,b" into two trimmed strings; 0 or -1. */
static int split_range(const char *range, char *lo, char *hi, size_t len)
{
    const char *comma = range != NULL ? strchr(range, ',') : NULL;
    if (comma == NULL || (size_t)(comma - range) >= len || strlen(comma + 1) >= len) {
        return -1;
    }
    snprintf(lo, len, "%.*s", (int)(comma - range), range);
    snprintf(hi, len, "%s", comma + 1);
    return 0;
}

static int int_candidates(const struct catalog_table_desc *d, const char *col, struct values *out,
                          char *err, size_t err_len)
{
    char lo[64], hi[64];
    const char *iv = key_param(d, col, "interval");
    const char *dg = key_param(d, col, "digits");
    long long step = iv != NULL ? strtoll(iv, NULL, 10) : 1;
    int digits = dg != NULL ? atoi(dg) : 0;
    if (split_range(key_param(d, col, "range"), lo, hi, sizeof(lo)) < 0 || step <= 0) {
        return failf(err, err_len,
                     "HIVE_METASTORE_ERROR: Invalid projection.%s.range or interval for an "
                     "integer projection",
                     col);
    }
    long long a = strtoll(lo, NULL, 10), b = strtoll(hi, NULL, 10);
    if (b >= a && (b - a) / step >= PROJECTION_MAX_PARTITIONS) {
        return failf(err, err_len, "HIVE_EXCEEDED_PARTITION_LIMIT: projection of %s", col);
    }
    for (long long v = a; v <= b; v += step) {
        char text[32];
        snprintf(text, sizeof(text), "%0*lld", digits, v);
        values_add(out, text);
    }
    return 0;
}

static int date_candidates(const struct catalog_table_desc *d, const char *col, int64_t now_ms,
                           struct values *out, char *err, size_t err_len)
{
    const char *fmt = key_param(d, col, "format");
    const char *iv = key_param(d, col, "interval");
    const char *un = key_param(d, col, "interval.unit");
    char lo[128], hi[128];
    struct tm a, b;
    long long step = iv != NULL ? strtoll(iv, NULL, 10) : 1;
    enum unit u = un != NULL ? unit_of(un, strlen(un)) : (fmt != NULL ? finest_unit(fmt) : U_DAYS);
    if (fmt == NULL || split_range(key_param(d, col, "range"), lo, hi, sizeof(lo)) < 0 ||
        date_bound(fmt, lo, now_ms, &a) < 0 || date_bound(fmt, hi, now_ms, &b) < 0 || step <= 0 ||
        u == U_BAD) {
        return failf(err, err_len,
                     "HIVE_METASTORE_ERROR: Invalid projection.%s.range, format or interval for "
                     "a date projection",
                     col);
    }
    time_t end = timegm(&b);
    for (struct tm t = a; timegm(&t) <= end; date_add(&t, step, u)) {
        if (out->n >= PROJECTION_MAX_PARTITIONS) {
            return failf(err, err_len, "HIVE_EXCEEDED_PARTITION_LIMIT: projection of %s", col);
        }
        struct buf b2;
        buf_init(&b2);
        date_format(fmt, &t, &b2);
        buf_putc(&b2, '\0');
        values_add(out, (const char *)b2.data);
        buf_fini(&b2);
    }
    return 0;
}

/* Compares two values of a key: integers as numbers, anything else as text. */
static int key_cmp(const char *a, const char *b, int integer)
{
    if (integer) {
        long long x = strtoll(a, NULL, 10), y = strtoll(b, NULL, 10);
        return (x > y) - (x < y);
    }
    return strcmp(a, b);
}

/* A candidate the query allows: within its bounds, and equal to one of the filter's
 * values when it names some. */
static int allowed(const struct query_key_filter *f, const char *v, int integer)
{
    for (size_t i = 0; i < f->n_bounds; i++) {
        int c = key_cmp(v, f->bounds[i].value, integer);
        switch (f->bounds[i].cmp) {
        case QUERY_KEY_LT: c = c < 0; break;
        case QUERY_KEY_LE: c = c <= 0; break;
        case QUERY_KEY_GT: c = c > 0; break;
        default: c = c >= 0; break;
        }
        if (!c) {
            return 0;
        }
    }
    if (!f->set) {
        return 1;
    }
    for (size_t i = 0; i < f->n; i++) {
        if (key_cmp(f->values[i], v, integer) == 0) {
            return 1;
        }
    }
    return 0;
}

static int key_candidates(const struct catalog_table_desc *d, size_t k,
                          const struct query_key_filter *f, int64_t now_ms, struct values *out,
                          char *err, size_t err_len)
{
    const char *col = d->partition_keys[k].name;
    const char *type = key_param(d, col, "type");
    struct values all = {0};
    int rc = 0;
    int integer = type != NULL && strcasecmp(type, "integer") == 0;
    if (type == NULL) {
        return failf(err, err_len,
                     "HIVE_METASTORE_ERROR: Table %s.%s is configured for partition projection, "
                     "but the following partition columns are missing projection "
                     "configuration: [%s] (table %s.%s)",
                     d->database, d->name, col, d->database, d->name);
    } else if (strcasecmp(type, "injected") == 0) {
        if (!f->set) {
            return failf(err, err_len,
                         "CONSTRAINT_VIOLATION: For the injected projected partition column %s, "
                         "the WHERE clause must contain only static equality conditions, and at "
                         "least one such condition must be present.",
                         col);
        }
        for (size_t i = 0; i < f->n; i++) {
            values_add(&all, f->values[i]);
        }
    } else if (strcasecmp(type, "enum") == 0) {
        const char *vals = key_param(d, col, "values");
        for (const char *p = vals != NULL ? vals : ""; *p != '\0';) {
            const char *c = strchr(p, ',');
            size_t n = c != NULL ? (size_t)(c - p) : strlen(p);
            char *v = xstrndup(p, n);
            values_add(&all, v);
            free(v);
            p += n + (c != NULL);
        }
    } else if (integer) {
        rc = int_candidates(d, col, &all, err, err_len);
    } else if (strcasecmp(type, "date") == 0) {
        rc = date_candidates(d, col, now_ms, &all, err, err_len);
    } else {
        rc = failf(err, err_len,
                   "HIVE_METASTORE_ERROR: Unsupported projection type '%s' for column %s", type,
                   col);
    }
    for (size_t i = 0; rc == 0 && i < all.n; i++) {
        if (allowed(f, all.v[i], integer)) {
            values_add(out, all.v[i]);
        }
    }
    values_fini(&all);
    return rc;
}

/* The location of one projected partition. */
static void location_of(const struct catalog_table_desc *d, const char *const *values,
                        struct buf *out)
{
    const char *tpl = param(d, "storage.location.template");
    if (tpl == NULL) {
        const char *loc = d->location != NULL ? d->location : "";
        size_t n = strlen(loc);
        buf_printf(out, "%s%s", loc, n > 0 && loc[n - 1] == '/' ? "" : "/");
        for (size_t k = 0; k < d->n_partition_keys; k++) {
            buf_printf(out, "%s=%s/", d->partition_keys[k].name, values[k]);
        }
        return;
    }
    for (const char *p = tpl; *p != '\0';) {
        const char *close = p[0] == '$' && p[1] == '{' ? strchr(p, '}') : NULL;
        size_t k = d->n_partition_keys;
        for (size_t i = 0; close != NULL && i < d->n_partition_keys; i++) {
            size_t l = strlen(d->partition_keys[i].name);
            if ((size_t)(close - p - 2) == l &&
                strncasecmp(p + 2, d->partition_keys[i].name, l) == 0) {
                k = i;
            }
        }
        if (k < d->n_partition_keys) {
            buf_puts(out, values[k]);
            p = close + 1;
        } else {
            buf_putc(out, *p++);
        }
    }
}

int query__projection_scan(const struct catalog_table_desc *d,
                           const struct query_key_filter *filters, int64_t now_ms,
                           catalog_partition_fn fn, void *arg, char *err, size_t err_len)
{
    size_t nk = d->n_partition_keys;
    struct values *cand = xcalloc(nk, sizeof(*cand));
    int rc = 0;
    double total = 1;
    for (size_t k = 0; k < nk && rc == 0; k++) {
        rc = key_candidates(d, k, &filters[k], now_ms, &cand[k], err, err_len);
        total *= (double)cand[k].n;
    }
    if (rc == 0 && total > PROJECTION_MAX_PARTITIONS) {
        rc = failf(err, err_len,
                   "HIVE_EXCEEDED_PARTITION_LIMIT: Query over table '%s.%s' can potentially "
                   "read more than %d partitions",
                   d->database, d->name, PROJECTION_MAX_PARTITIONS);
    }
    /* The product of the candidates, the last key turning fastest. */
    size_t *at = xcalloc(nk + 1, sizeof(*at));
    const char **values = xcalloc(nk + 1, sizeof(*values));
    while (rc == 0 && total > 0) {
        for (size_t k = 0; k < nk; k++) {
            values[k] = cand[k].v[at[k]];
        }
        struct buf loc;
        buf_init(&loc);
        location_of(d, values, &loc);
        buf_putc(&loc, '\0');
        int stop = fn(arg, values, nk, (const char *)loc.data);
        buf_fini(&loc);
        if (stop != 0) {
            rc = -1;
            snprintf(err, err_len, "HIVE_METASTORE_ERROR: cannot read a projected partition");
            break;
        }
        size_t k = nk;
        while (k > 0 && ++at[k - 1] == cand[k - 1].n) {
            at[--k] = 0;
        }
        if (k == 0) {
            break;
        }
    }
    free(at);
    free(values);
    for (size_t k = 0; k < nk; k++) {
        values_fini(&cand[k]);
    }
    free(cand);
    return rc;
}

/* ---- what the query says of the keys ---- */

/* The text of a constant of the parse tree (strings, integers; TIMESTAMP '...' casts);
 * NULL for anything else. The caller frees it. */
static char *constant_text(json_t *c)
{
    if (strcmp(jstr(c, "class"), "CAST") == 0) {
        c = json_object_get(c, "child");
    }
    json_t *val = json_object_get(json_object_get(c, "value"), "value");
    if (strcmp(jstr(c, "class"), "CONSTANT") != 0) {
        return NULL;
    }
    if (json_is_string(val)) {
        return xstrdup(json_string_value(val));
    }
    return json_is_integer(val) ? xasprintf("%lld", (long long)json_integer_value(val)) : NULL;
}

void query__projection_filters(const struct catalog_table_desc *d, json_t *e,
                               struct query_key_filter *f)
{
    if (!json_is_object(e)) {
        return;
    }
    const char *type = jstr(e, "type");
    json_t *ch = json_object_get(e, "children");
    if (strcmp(type, "CONJUNCTION_AND") == 0) {
        for (size_t i = 0; i < json_array_size(ch); i++) {
            query__projection_filters(d, json_array_get(ch, i), f);
        }
        return;
    }
    static const struct {
        const char *type;
        enum query_key_cmp cmp;
    } bounds[] = {{"COMPARE_LESSTHAN", QUERY_KEY_LT},
                  {"COMPARE_LESSTHANOREQUALTO", QUERY_KEY_LE},
                  {"COMPARE_GREATERTHAN", QUERY_KEY_GT},
                  {"COMPARE_GREATERTHANOREQUALTO", QUERY_KEY_GE}};
    int bound = -1;
    for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
        if (strcmp(type, bounds[i].type) == 0) {
            bound = (int)i;
        }
    }
    int is_in = strcmp(type, "COMPARE_IN") == 0;
    if (!is_in && bound < 0 && strcmp(type, "COMPARE_EQUAL") != 0) {
        return;
    }
    json_t *left = is_in ? json_array_get(ch, 0) : json_object_get(e, "left");
    json_t *names = json_object_get(left, "column_names");
    const char *col = json_string_value(json_array_get(names, json_array_size(names) - 1));
    size_t k = 0;
    while (col != NULL && k < d->n_partition_keys &&
           strcasecmp(d->partition_keys[k].name, col) != 0) {
        k++;
    }
    if (col == NULL || k == d->n_partition_keys || strcmp(jstr(left, "class"), "COLUMN_REF") != 0) {
        return;
    }
    if (bound >= 0) {
        char *v = constant_text(json_object_get(e, "right"));
        if (v != NULL) {
            f[k].bounds = xrealloc(f[k].bounds, (f[k].n_bounds + 1) * sizeof(*f[k].bounds));
            f[k].bounds[f[k].n_bounds++] = (struct query_key_bound){bounds[bound].cmp, v};
        }
        return;
    }
    struct query_key_filter now = {1, NULL, 0, f[k].bounds, f[k].n_bounds};
    size_t n = is_in ? json_array_size(ch) : 2;
    for (size_t i = 1; i < n; i++) {
        char *v = constant_text(is_in ? json_array_get(ch, i) : json_object_get(e, "right"));
        if (v == NULL) {
            for (size_t j = 0; j < now.n; j++) {
                free(now.values[j]);
            }
            free(now.values);
            return; /* not constants: says nothing usable */
        }
        int keep = !f[k].set;
        for (size_t j = 0; j < f[k].n && !keep; j++) {
            keep = strcmp(f[k].values[j], v) == 0;
        }
        if (!keep) {
            free(v);
            continue;
        }
        now.values = xrealloc(now.values, (now.n + 1) * sizeof(*now.values));
        now.values[now.n++] = v;
    }
    for (size_t j = 0; j < f[k].n; j++) {
        free(f[k].values[j]);
    }
    free(f[k].values);
    f[k] = now;
}

void query__projection_filters_free(struct query_key_filter *f, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        for (size_t j = 0; j < f[k].n; j++) {
            free(f[k].values[j]);
        }
        free(f[k].values);
        for (size_t j = 0; j < f[k].n_bounds; j++) {
            free(f[k].bounds[j].value);
        }
        free(f[k].bounds);
    }
    free(f);
}
