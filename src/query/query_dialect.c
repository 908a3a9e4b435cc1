/*
 * Athena's (Trino's) SQL dialect on DuckDB.
 *
 * DuckDB parses most of Trino's grammar, but several functions share a name and differ
 * in meaning, and some are missing. The query's parse tree is rewritten before it runs:
 * query__dialect_rewrite sees every function call, cast and constant of the tree and
 *   - renames a Trino function to its DuckDB equivalent, or to one of the __sl_ macros
 *     below that has Trino's meaning (NULL for a missing key, 1-based indexes, ...);
 *   - converts constant format strings (MySQL-style date_format/date_parse, Joda
 *     format_datetime/parse_datetime) and regexp_replace's $1 back-references to what
 *     DuckDB's strftime/strptime and RE2 expect, once, here in C;
 *   - reshapes calls whose argument rules differ (concat's NULL, greatest's NULL,
 *     element_at on arrays and maps, replace() with two arguments, date_trunc's type);
 *   - keeps a double constant a double, rounds a double cast to an integer half up,
 *     prints a timestamp cast to varchar with milliseconds;
 *   - refuses the DuckDB names the rewrite targets and the __sl_ macros when the client
 *     writes them, so that a function Athena does not have does not silently work.
 * Nodes the rewrite builds carry catalog "system" (a built-in) or "temp" (a macro), which
 * the rewrite leaves alone (so a wrapped call is not wrapped again).
 *
 * Types are not known here (the tree is not bound), so where Trino's result depends on
 * an argument's type the macros branch on typeof(), which DuckDB folds to one branch, or
 * the rewrite reads the argument as written (a DATE literal plus an INTERVAL of days).
 * Not done: time zones other than UTC (every session is UTC; a timestamp with time zone
 * prints in UTC), a date column plus an INTERVAL (DuckDB's timestamp), a double divided
 * by zero (NULL, not Infinity), two-digit year 69 read by %y (1969, not 2069), Java-only
 * regular expression syntax (RE2 refuses it).
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "query/query_int.h"

#define ATHENA_NOT_SUPPORTED 1001
#define ATHENA_FUNCTION_NOT_FOUND 1100

/* The Trino functions that need more than a rename, as macros of each connection. */
const char query__dialect_sql[] =
    "CREATE OR REPLACE TEMP MACRO __sl_from_iso8601_timestamp(s) AS CAST(s AS TIMESTAMPTZ);"
    "CREATE OR REPLACE TEMP MACRO __sl_from_iso8601_date(s) AS CAST(s AS DATE);"
    /* to_iso8601: a date has no time; a timestamp with time zone is in UTC here */
    "CREATE OR REPLACE TEMP MACRO __sl_to_iso8601(x) AS CASE"
    " WHEN typeof(x) = 'DATE' THEN strftime(x, '%Y-%m-%d')"
    " WHEN typeof(x) LIKE 'TIMESTAMP WITH%' THEN strftime(x, '%Y-%m-%dT%H:%M:%S.%gZ')"
    " ELSE strftime(x, '%Y-%m-%dT%H:%M:%S.%g') END;"
    "CREATE OR REPLACE TEMP MACRO __sl_parse_datetime(s, f) AS CAST(strptime(s, f) AS "
    "TIMESTAMPTZ);"
    "CREATE OR REPLACE TEMP MACRO __sl_date_add(u, n, t) AS CASE lower(u)"
    " WHEN 'millisecond' THEN t + to_milliseconds(n) WHEN 'second' THEN t + to_seconds(n)"
    " WHEN 'minute' THEN t + to_minutes(n) WHEN 'hour' THEN t + to_hours(n)"
    " WHEN 'day' THEN t + to_days(n) WHEN 'week' THEN t + to_weeks(n)"
    " WHEN 'month' THEN t + to_months(n) WHEN 'quarter' THEN t + to_months(n * 3)"
    " WHEN 'year' THEN t + to_years(n)"
    " ELSE error('''' || u || ''' is not a valid Timestamp field') END;"
    /* json_extract_scalar: NULL for an object or an array */
    "CREATE OR REPLACE TEMP MACRO __sl_json_extract_scalar(j, p) AS CASE"
    " WHEN json_type(j, p) IN ('OBJECT', 'ARRAY') THEN NULL ELSE json_extract_string(j, p) END;"
    "CREATE OR REPLACE TEMP MACRO __sl_json_size(j, p) AS CAST(CASE"
    " WHEN json_type(j, p) IS NULL THEN NULL WHEN json_type(j, p) = 'OBJECT'"
    " THEN len(json_keys(j, p)) WHEN json_type(j, p) = 'ARRAY' THEN json_array_length(j, p)"
    " ELSE 0 END AS BIGINT);"
    "CREATE OR REPLACE TEMP MACRO __sl_json_format(j) AS CAST(json(j) AS VARCHAR);"
    "CREATE OR REPLACE TEMP MACRO __sl_json_array_contains(j, v) AS"
    " list_contains(CAST(json(j) AS JSON[]), json(to_json(v)));"
    /* split_part: NULL past the last field, an error for an index below 1 */
    "CREATE OR REPLACE TEMP MACRO __sl_split_part(s, d, i) AS CASE"
    " WHEN i <= 0 THEN error('Index must be greater than zero')"
    " WHEN i > len(string_split(s, d)) THEN NULL ELSE split_part(s, d, i) END;"
    /* regexp_extract: NULL (not '') when nothing matches */
    "CREATE OR REPLACE TEMP MACRO __sl_regexp_extract(s, p) AS"
    " CASE WHEN regexp_matches(s, p) THEN regexp_extract(s, p) END,"
    " (s, p, g) AS CASE WHEN regexp_matches(s, p) THEN regexp_extract(s, p, g) END;"
    "CREATE OR REPLACE TEMP MACRO __sl_regexp_replace(s, p, r) AS"
    " regexp_replace(s, p, regexp_replace(r, '\\$(\\d)', '\\\\\\1', 'g'), 'g');"
    "CREATE OR REPLACE TEMP MACRO __sl_array_position(a, x) AS"
    " CAST(coalesce(list_position(a, x), 0) AS BIGINT);"
    "CREATE OR REPLACE TEMP MACRO __sl_slice(a, s, n) AS list_slice(a, s, s + n - 1);"
    "CREATE OR REPLACE TEMP MACRO __sl_cardinality(a) AS CAST(len(a) AS BIGINT);"
    /* greatest/least: NULL when any argument is NULL */
    "CREATE OR REPLACE TEMP MACRO __sl_unless_null(l, v) AS"
    " CASE WHEN list_count(l) < len(l) THEN NULL ELSE v END;"
    "CREATE OR REPLACE TEMP MACRO __sl_typeof(x) AS CASE typeof(x)"
    " WHEN 'TIMESTAMP' THEN 'timestamp(3)'"
    " WHEN 'TIMESTAMP WITH TIME ZONE' THEN 'timestamp(3) with time zone'"
    " WHEN 'HUGEINT' THEN 'bigint' WHEN 'FLOAT' THEN 'real'"
    " WHEN 'BLOB' THEN 'varbinary'"
    " WHEN 'INTEGER[]' THEN 'array(integer)' WHEN 'BIGINT[]' THEN 'array(bigint)'"
    " WHEN 'DOUBLE[]' THEN 'array(double)' WHEN 'VARCHAR[]' THEN 'array(varchar)'"
    " ELSE lower(typeof(x)) END;"
    "CREATE OR REPLACE TEMP MACRO __sl_random() AS random(),"
    " (n) AS CAST(floor(random() * n) AS BIGINT);"
    /* substr: start 0 gives '' */
    "CREATE OR REPLACE TEMP MACRO __sl_substr(s, i) AS CASE WHEN i = 0 THEN '' ELSE substr(s, i) "
    "END,"
    " (s, i, n) AS CASE WHEN i = 0 THEN '' ELSE substr(s, i, n) END;"
    /* array_distinct and what builds on it keep the first occurrence's order */
    "CREATE OR REPLACE TEMP MACRO __sl_array_distinct(a) AS"
    " list_filter(a, (x, i) -> list_position(a, x) = i);"
    "CREATE OR REPLACE TEMP MACRO __sl_array_remove(a, e) AS list_filter(a, x -> x <> e);"
    "CREATE OR REPLACE TEMP MACRO __sl_array_except(a, b) AS"
    " __sl_array_distinct(list_filter(a, x -> NOT list_contains(b, x)));"
    "CREATE OR REPLACE TEMP MACRO __sl_array_union(a, b) AS __sl_array_distinct(list_concat(a, b));"
    "CREATE OR REPLACE TEMP MACRO __sl_map_agg(k, v) AS"
    " map_from_entries(list(struct_pack(k := k, v := v)));"
    /* intervals as Trino prints them: day to second 'D HH:MM:SS.mmm', year to month 'Y-M' */
    "CREATE OR REPLACE TEMP MACRO __sl_interval_text(i) AS CASE"
    " WHEN datepart('year', i) * 12 + datepart('month', i) <> 0"
    " THEN printf('%d-%d', datepart('year', i), datepart('month', i))"
    " ELSE printf('%s%d %02d:%02d:%02d.%03d',"
    " CASE WHEN epoch(i) < 0 THEN '-' ELSE '' END,"
    " CAST(round(abs(epoch(i)) * 1000) AS BIGINT) // 86400000,"
    " CAST(round(abs(epoch(i)) * 1000) AS BIGINT) // 3600000 % 24,"
    " CAST(round(abs(epoch(i)) * 1000) AS BIGINT) // 60000 % 60,"
    " CAST(round(abs(epoch(i)) * 1000) AS BIGINT) // 1000 % 60,"
    " CAST(round(abs(epoch(i)) * 1000) AS BIGINT) % 1000) END;"
    "CREATE OR REPLACE TEMP MACRO __sl_millisecond(t) AS millisecond(t) % 1000;"
    "CREATE OR REPLACE TEMP MACRO __sl_to_milliseconds(i) AS CAST(round(epoch(i) * 1000) AS "
    "BIGINT);"
    "CREATE OR REPLACE TEMP MACRO __sl_current_timezone() AS 'UTC';"
    /* URLs: [protocol:][//host[:port]][path][?query][#fragment]; NULL for a part absent */
    "CREATE OR REPLACE TEMP MACRO __sl_url_part(u, g) AS CASE WHEN regexp_matches(u, "
    "'^([a-zA-Z][a-zA-Z0-9+.-]*)://([^/?#:]*)(:([0-9]+))?([^?#]*)(\\?([^#]*))?(#(.*))?$')"
    " THEN regexp_extract(u, "
    "'^([a-zA-Z][a-zA-Z0-9+.-]*)://([^/?#:]*)(:([0-9]+))?([^?#]*)(\\?([^#]*))?(#(.*))?$', g) END;"
    "CREATE OR REPLACE TEMP MACRO __sl_url_extract_protocol(u) AS __sl_url_part(u, 1);"
    "CREATE OR REPLACE TEMP MACRO __sl_url_extract_host(u) AS __sl_url_part(u, 2);"
    "CREATE OR REPLACE TEMP MACRO __sl_url_extract_port(u) AS"
    " CAST(nullif(__sl_url_part(u, 4), '') AS BIGINT);"
    "CREATE OR REPLACE TEMP MACRO __sl_url_extract_path(u) AS __sl_url_part(u, 5);"
    "CREATE OR REPLACE TEMP MACRO __sl_url_extract_query(u) AS"
    " CASE WHEN __sl_url_part(u, 6) <> '' THEN __sl_url_part(u, 7) END;"
    "CREATE OR REPLACE TEMP MACRO __sl_url_extract_fragment(u) AS"
    " CASE WHEN __sl_url_part(u, 8) <> '' THEN __sl_url_part(u, 9) END;"
    "CREATE OR REPLACE TEMP MACRO __sl_url_extract_parameter(u, n) AS regexp_extract("
    "list_filter(string_split(__sl_url_extract_query(u), '&'), x -> split_part(x, '=', 1) = n)[1],"
    " '^[^=]*=?(.*)$', 1);"
    /* Java's URLEncoder: a space is +, * is kept, ~ is encoded */
    "CREATE OR REPLACE TEMP MACRO __sl_url_encode(s) AS"
    " replace(replace(replace(url_encode(s), '%20', '+'), '%2A', '*'), '~', '%7E');"
    "CREATE OR REPLACE TEMP MACRO __sl_url_decode(s) AS url_decode(replace(s, '+', ' '));"
    /* a double cast to an integer rounds half away from zero (DuckDB's, half to even) */
    "CREATE OR REPLACE TEMP MACRO __sl_to_tinyint(x) AS CASE WHEN typeof(x) IN ('DOUBLE', 'FLOAT')"
    " THEN CAST(round(TRY_CAST(x AS DOUBLE)) AS TINYINT) ELSE CAST(x AS TINYINT) END;"
    "CREATE OR REPLACE TEMP MACRO __sl_to_smallint(x) AS CASE WHEN typeof(x) IN ('DOUBLE', 'FLOAT')"
    " THEN CAST(round(TRY_CAST(x AS DOUBLE)) AS SMALLINT) ELSE CAST(x AS SMALLINT) END;"
    "CREATE OR REPLACE TEMP MACRO __sl_to_integer(x) AS CASE WHEN typeof(x) IN ('DOUBLE', 'FLOAT')"
    " THEN CAST(round(TRY_CAST(x AS DOUBLE)) AS INTEGER) ELSE CAST(x AS INTEGER) END;"
    "CREATE OR REPLACE TEMP MACRO __sl_to_bigint(x) AS CASE WHEN typeof(x) IN ('DOUBLE', 'FLOAT')"
    " THEN CAST(round(TRY_CAST(x AS DOUBLE)) AS BIGINT) ELSE CAST(x AS BIGINT) END;"
    /* a timestamp cast to varchar has Trino's milliseconds (typeof folds to one branch;
     * the detour through VARCHAR lets every branch bind whatever x is) */
    "CREATE OR REPLACE TEMP MACRO __sl_to_varchar(x) AS CASE typeof(x)"
    " WHEN 'TIMESTAMP' THEN strftime(TRY_CAST(CAST(x AS VARCHAR) AS TIMESTAMP),"
    " '%Y-%m-%d %H:%M:%S.%g')"
    " WHEN 'TIMESTAMP WITH TIME ZONE' THEN strftime(TRY_CAST(CAST(x AS VARCHAR) AS TIMESTAMPTZ),"
    " '%Y-%m-%d %H:%M:%S.%g UTC')"
    /* a JSON scalar as varchar is its value, not its JSON text */
    " WHEN 'JSON' THEN json_extract_string(CAST(CAST(x AS VARCHAR) AS JSON), '$')"
    " ELSE CAST(x AS VARCHAR) END;"
    /* hashes are varbinary in Trino (DuckDB's, hex text) */
    "CREATE OR REPLACE TEMP MACRO __sl_md5(b) AS unhex(md5(b));"
    "CREATE OR REPLACE TEMP MACRO __sl_sha1(b) AS unhex(sha1(b));"
    "CREATE OR REPLACE TEMP MACRO __sl_sha256(b) AS unhex(sha256(b));"
    "CREATE OR REPLACE TEMP MACRO __sl_date_add_date(u, n, d) AS"
    " CAST(__sl_date_add(u, n, d) AS DATE);"
    "CREATE OR REPLACE TEMP MACRO __sl_date_plus(d, i) AS CAST(d + i AS DATE);"
    "CREATE OR REPLACE TEMP MACRO __sl_date_minus(d, i) AS CAST(d - i AS DATE);"
    "CREATE OR REPLACE TEMP MACRO __sl_with_timezone(t, z) AS timezone(z, t);"
    /* AT TIME ZONE, at_timezone: the same instant (a timestamp is one in UTC, the session's
     * zone); the zone is shown when the value is a result column (query_exec.c) */
    "CREATE OR REPLACE TEMP MACRO __sl_at_timezone(t, z) AS CAST(t AS TIMESTAMPTZ);"
    "CREATE OR REPLACE TEMP MACRO __sl_infinity() AS CAST('Infinity' AS DOUBLE);"
    "CREATE OR REPLACE TEMP MACRO __sl_nan() AS CAST('NaN' AS DOUBLE);"
    /* an exact division by zero fails (DuckDB's is NULL); not through error(), which try()
     * refuses as volatile, but a cast that cannot succeed. (A double one is NULL here,
     * Infinity or NaN in Trino.) */
    "CREATE OR REPLACE TEMP MACRO __sl_div(a, b) AS CASE"
    " WHEN b = 0 AND typeof(a) NOT IN ('DOUBLE', 'FLOAT') AND typeof(b) NOT IN ('DOUBLE', 'FLOAT')"
    " THEN CAST('Division by zero' AS INTEGER) ELSE a / b END;"
    "CREATE OR REPLACE TEMP MACRO __sl_mod(a, b) AS CASE"
    " WHEN b = 0 AND typeof(a) NOT IN ('DOUBLE', 'FLOAT') AND typeof(b) NOT IN ('DOUBLE', 'FLOAT')"
    " THEN CAST('Division by zero' AS INTEGER) ELSE a % b END;";

/* ---- format strings ---- */

static int put(char *out, size_t len, size_t *n, const char *s)
{
    size_t l = strlen(s);
    if (*n + l >= len) {
        return -1;
    }
    memcpy(out + *n, s, l + 1);
    *n += l;
    return 0;
}

/* One literal character of a format, '%' doubled for strftime/strptime. */
static int put_literal(char *out, size_t len, size_t *n, char c)
{
    char s[3] = {c, c == '%' ? '%' : '\0', '\0'};
    return put(out, len, n, s);
}

int query__mysql_format(const char *in, int parse, char *out, size_t out_len, char *err,
                        size_t err_len)
{
    size_t n = 0;
    out[0] = '\0';
    for (const char *p = in; *p != '\0'; p++) {
        if (*p != '%' || p[1] == '\0') {
            if (put_literal(out, out_len, &n, *p) < 0) {
                goto too_long;
            }
            continue;
        }
        const char *s = NULL;
        char c = *++p;
        switch (c) {
        case 'a': s = "%a"; break;
        case 'b': s = "%b"; break;
        case 'c': s = "%-m"; break;
        case 'd': s = "%d"; break;
        case 'e': s = "%-d"; break;
        /* printing: milliseconds and three zeros, the value being truncated to ms */
        case 'f': s = parse ? "%f" : "%g000"; break;
        case 'H': s = "%H"; break;
        case 'h':
        case 'I': s = "%I"; break;
        case 'i': s = "%M"; break;
        case 'j': s = "%j"; break;
        case 'k': s = "%-H"; break;
        case 'l': s = "%-I"; break;
        case 'M': s = "%B"; break;
        case 'm': s = "%m"; break;
        case 'p': s = "%p"; break;
        case 'r': s = "%I:%M:%S %p"; break;
        case 'S':
        case 's': s = "%S"; break;
        case 'T': s = "%H:%M:%S"; break;
        case 'v': s = "%V"; break;
        case 'W': s = "%A"; break;
        case 'x': s = "%G"; break;
        case 'Y': s = "%Y"; break;
        case 'y': s = "%y"; break;
        case 'D':
        case 'U':
        case 'u':
        case 'V':
        case 'w':
        case 'X': snprintf(err, err_len, "%%%c not supported in date format string", c); return -1;
        default: break;
        }
        if (s != NULL ? put(out, out_len, &n, s) < 0 : put_literal(out, out_len, &n, c) < 0) {
            goto too_long;
        }
    }
    return 0;
too_long:
    snprintf(err, err_len, "date format string too long");
    return -1;
}

/* strftime/strptime code of a run of count Joda letter c, or NULL when unsupported. */
static const char *joda_code(char c, size_t count, int parse)
{
    switch (c) {
    case 'y':
    case 'Y': return count == 2 ? "%y" : "%Y";
    case 'x': return "%G";
    case 'w': return "%V";
    case 'e': return "%u";
    case 'E': return count >= 4 ? "%A" : "%a";
    case 'D': return count >= 3 ? "%j" : "%-j";
    case 'M': return count >= 4 ? "%B" : count == 3 ? "%b" : count == 2 ? "%m" : "%-m";
    case 'd': return count >= 2 ? "%d" : "%-d";
    case 'a': return "%p";
    case 'h': return count >= 2 ? "%I" : "%-I";
    case 'H': return count >= 2 ? "%H" : "%-H";
    case 'm': return count >= 2 ? "%M" : "%-M";
    case 's': return count >= 2 ? "%S" : "%-S";
    case 'S': return count == 3 ? "%g" : count == 6 ? "%f" : count == 9 ? "%n" : NULL;
    /* printing: the zone is always UTC here, whose Joda names DuckDB does not print */
    case 'z': return parse ? "%Z" : count >= 4 ? "Coordinated Universal Time" : "UTC";
    case 'Z': return parse ? "%z" : NULL;
    default: return NULL;
    }
}

int query__joda_format(const char *in, int parse, char *out, size_t out_len, char *err,
                       size_t err_len)
{
    size_t n = 0;
    out[0] = '\0';
    for (const char *p = in; *p != '\0';) {
        if (*p == '\'') {
            /* '' is a quote; 'text' is literal text, '' inside it a quote */
            p++;
            if (*p == '\'') {
                if (put_literal(out, out_len, &n, '\'') < 0) {
                    goto too_long;
                }
                p++;
                continue;
            }
            while (*p != '\0' && !(*p == '\'' && p[1] != '\'')) {
                if (*p == '\'') {
                    p++;
                }
                if (put_literal(out, out_len, &n, *p++) < 0) {
                    goto too_long;
                }
            }
            if (*p == '\'') {
                p++;
            }
            continue;
        }
        if (!isalpha((unsigned char)*p)) {
            if (put_literal(out, out_len, &n, *p++) < 0) {
                goto too_long;
            }
            continue;
        }
        size_t count = 1;
        while (p[count] == *p) {
            count++;
        }
        const char *s = joda_code(*p, count, parse);
        if (s == NULL) {
            snprintf(err, err_len, "Illegal pattern component: %.*s", (int)count, p);
            return -1;
        }
        if (put(out, out_len, &n, s) < 0) {
            goto too_long;
        }
        p += count;
    }
    return 0;
too_long:
    snprintf(err, err_len, "date format string too long");
    return -1;
}

int query__java_replacement(const char *in, char *out, size_t out_len)
{
    size_t n = 0;
    for (const char *p = in; *p != '\0'; p++) {
        char s[3] = {*p, '\0', '\0'};
        if (*p == '$' && isdigit((unsigned char)p[1])) {
            s[0] = '\\'; /* $n: group n */
            s[1] = *++p;
        } else if (*p == '\\' && p[1] != '\0') {
            /* \x: x itself; RE2 wants a backslash doubled */
            p++;
            s[0] = *p;
            if (*p == '\\') {
                s[1] = '\\';
            }
        } else if (*p == '\\') {
            s[1] = '\\';
        }
        if (put(out, out_len, &n, s) < 0) {
            return -1;
        }
    }
    out[n] = '\0';
    return 0;
}

/* ---- values as Trino prints them ---- */

void query__java_double(double v, int is_float, char *out, size_t out_len)
{
    if (isnan(v)) {
        snprintf(out, out_len, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, out_len, v > 0 ? "Infinity" : "-Infinity");
        return;
    }
    if (v == 0) {
        snprintf(out, out_len, signbit(v) ? "-0.0" : "0.0");
        return;
    }
    /* the fewest significant digits that read back as the same value */
    char e[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(e, sizeof(e), "%.*e", p - 1, v);
        double back = strtod(e, NULL);
        if (is_float ? (float)back == (float)v : back == v) {
            break;
        }
    }
    char digits[24];
    size_t nd = 0;
    const char *q = e + (e[0] == '-');
    for (; *q != 'e'; q++) {
        if (isdigit((unsigned char)*q)) {
            digits[nd++] = *q;
        }
    }
    while (nd > 1 && digits[nd - 1] == '0') {
        nd--;
    }
    digits[nd] = '\0';
    int exp = atoi(q + 1);
    double a = fabs(v);
    char body[64];
    size_t b = 0;
    if (a >= 1e-3 && a < 1e7) {
        if (exp < 0) {
            b += (size_t)snprintf(body, sizeof(body), "0.%.*s%s", -exp - 1, "000", digits);
        } else {
            for (int i = 0; i <= exp; i++) {
                body[b++] = (size_t)i < nd ? digits[i] : '0';
            }
            body[b++] = '.';
            if ((size_t)exp + 1 < nd) {
                b += (size_t)snprintf(body + b, sizeof(body) - b, "%s", digits + exp + 1);
            } else {
                body[b++] = '0';
            }
            body[b] = '\0';
        }
    } else {
        snprintf(body, sizeof(body), "%c.%sE%d", digits[0], nd > 1 ? digits + 1 : "0", exp);
    }
    snprintf(out, out_len, "%s%s", v < 0 ? "-" : "", body);
}

/* ---- the parse tree ---- */

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

/* The text of a VARCHAR constant node, or NULL when the node is anything else. */
static const char *const_text(json_t *node)
{
    json_t *v = json_object_get(node, "value");
    if (strcmp(jstr(node, "class"), "CONSTANT") != 0 ||
        strcmp(jstr(json_object_get(v, "type"), "id"), "VARCHAR") != 0 ||
        json_is_true(json_object_get(v, "is_null"))) {
        return NULL;
    }
    return json_string_value(json_object_get(v, "value"));
}

static json_t *const_node(const char *text)
{
    json_t *v = text != NULL ? json_string(text) : json_null();
    return json_pack("{s:s, s:s, s:s, s:i, s:{s:{s:s, s:n}, s:b, s:o}}", "class", "CONSTANT",
                     "type", "VALUE_CONSTANT", "alias", "", "query_location", 0, "value", "type",
                     "id", text != NULL ? "VARCHAR" : "NULL", "type_info", "is_null", text == NULL,
                     "value", v);
}

/* A call of a built-in (catalog system, schema main: left alone by the rewrite). */
static json_t *call_node(const char *name, json_t *children /* stolen */, int is_operator)
{
    return json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:o, s:n, s:{s:s, s:[]}, s:b, s:b, "
                     "s:b}",
                     "class", "FUNCTION", "type", "FUNCTION", "alias", "", "query_location", 0,
                     "function_name", name, "schema", "main", "catalog", "system", "children",
                     children, "filter", "order_bys", "type", "ORDER_MODIFIER", "orders",
                     "distinct", 0, "is_operator", is_operator, "export_state", 0);
}

/* Names of DuckDB's that Athena does not have, a client may not call: the targets of the
 * renames below (their meaning is not Trino's) and the dialect's own macros. Not trunc:
 * DuckDB's parser writes INTERVAL '1' HOUR with it. */
static const char *const duck_only[] = {
    "strftime",
    "strptime",
    "date_sub",
    "regexp_matches",
    "array_to_string",
    "approx_quantile",
    "approx_count_distinct",
    "epoch",
    "generate_series",
    "list_position",
    "list_slice",
    "json_extract_string",
    "to_timestamp",
    "string_split",
    "printf",
    "list_max",
    "list_min",
    "list_has_any",
    "list_transform",
    "isodow",
    "dayofyear",
    "isoyear",
    "last_day",
    "unicode",
    "levenshtein",
    "hamming",
    "isnan",
    "isinf",
    "isfinite",
    "json",
    "time_bucket",
    "encode",
    "decode",
    "xor",
    "list_reverse",
};

/* Trino name -> DuckDB name or macro, same arguments. */
static const struct {
    const char *trino;
    const char *duck;
} renames[] = {
    {"approx_distinct", "approx_count_distinct"},
    {"approx_percentile", "approx_quantile"},
    {"arbitrary", "any_value"},
    {"regexp_like", "regexp_matches"},
    {"array_join", "array_to_string"},
    {"date_diff", "date_sub"}, /* whole units elapsed, not boundaries crossed */
    {"from_unixtime", "to_timestamp"},
    {"to_unixtime", "epoch"},
    {"sequence", "generate_series"},
    {"truncate", "trunc"},
    {"json_parse", "json"},
    {"from_iso8601_timestamp", "__sl_from_iso8601_timestamp"},
    {"from_iso8601_date", "__sl_from_iso8601_date"},
    {"to_iso8601", "__sl_to_iso8601"},
    {"date_add", "__sl_date_add"},
    {"json_extract_scalar", "__sl_json_extract_scalar"},
    {"json_size", "__sl_json_size"},
    {"json_format", "__sl_json_format"},
    {"json_array_contains", "__sl_json_array_contains"},
    {"split_part", "__sl_split_part"},
    {"regexp_extract", "__sl_regexp_extract"},
    {"array_position", "__sl_array_position"},
    {"slice", "__sl_slice"},
    {"cardinality", "__sl_cardinality"},
    {"typeof", "__sl_typeof"},
    {"random", "__sl_random"},
    {"rand", "__sl_random"},
    {"substr", "__sl_substr"},
    {"substring", "__sl_substr"},
    {"with_timezone", "__sl_with_timezone"},
    {"infinity", "__sl_infinity"},
    {"nan", "__sl_nan"},
    {"is_nan", "isnan"},
    {"is_infinite", "isinf"},
    {"is_finite", "isfinite"},
    {"day_of_week", "isodow"},
    {"dow", "isodow"},
    {"day_of_month", "day"},
    {"day_of_year", "dayofyear"},
    {"doy", "dayofyear"},
    {"year_of_week", "isoyear"},
    {"yow", "isoyear"},
    {"week_of_year", "week"},
    {"last_day_of_month", "last_day"},
    {"codepoint", "unicode"},
    {"levenshtein_distance", "levenshtein"},
    {"hamming_distance", "hamming"},
    {"transform", "list_transform"},
    {"millisecond", "__sl_millisecond"}, /* of the second, not of the minute */
    {"current_timezone", "__sl_current_timezone"},
    {"array_distinct", "__sl_array_distinct"},
    {"array_remove", "__sl_array_remove"},
    {"array_except", "__sl_array_except"},
    {"array_union", "__sl_array_union"},
    {"array_max", "list_max"},
    {"array_min", "list_min"},
    {"arrays_overlap", "list_has_any"},
    {"map_agg", "__sl_map_agg"},
    {"format", "printf"},
    {"to_utf8", "encode"},
    {"from_utf8", "decode"},
    {"md5", "__sl_md5"},
    {"sha1", "__sl_sha1"},
    {"sha256", "__sl_sha256"},
    {"bitwise_xor", "xor"},
    {"url_extract_protocol", "__sl_url_extract_protocol"},
    {"url_extract_host", "__sl_url_extract_host"},
    {"url_extract_port", "__sl_url_extract_port"},
    {"url_extract_path", "__sl_url_extract_path"},
    {"url_extract_query", "__sl_url_extract_query"},
    {"url_extract_fragment", "__sl_url_extract_fragment"},
    {"url_extract_parameter", "__sl_url_extract_parameter"},
    {"url_encode", "__sl_url_encode"},
    {"url_decode", "__sl_url_decode"},
    {"/", "__sl_div"},
    {"%", "__sl_mod"},
    {"mod", "__sl_mod"},
};

static void rename_call(json_t *node, const char *name)
{
    json_object_set_new(node, "function_name", json_string(name));
    json_object_set_new(node, "is_operator", json_false());
}

/* Moves node's contents into a new call and makes node the call name(list_value(copies
 * of the arguments), that call): __sl_unless_null for greatest/least. */
static void wrap_unless_null(json_t *node)
{
    json_t *inner = json_deep_copy(node);
    json_object_set_new(inner, "alias", json_string("")); /* the alias stays outside */
    json_object_set_new(inner, "catalog", json_string("system"));
    json_object_set_new(inner, "schema", json_string("main"));
    json_t *list = call_node("list_value", json_deep_copy(json_object_get(node, "children")), 0);
    json_object_set_new(node, "function_name", json_string("__sl_unless_null"));
    json_object_set_new(node, "children", json_pack("[o, o]", list, inner));
}

/* date_format/date_parse/format_datetime/parse_datetime: the constant format converted. */
static int convert_format(json_t *node, const char *fn, int joda, int parse, const char *target,
                          int line, int col, char *msg, size_t msg_len)
{
    json_t *fmt = json_array_get(json_object_get(node, "children"), 1);
    const char *text = const_text(fmt);
    if (json_array_size(json_object_get(node, "children")) != 2 || text == NULL) {
        snprintf(msg, msg_len,
                 "NOT_SUPPORTED: line %d:%d: %s takes two arguments, the format a constant", line,
                 col, fn);
        return ATHENA_NOT_SUPPORTED;
    }
    char out[1024], err[128];
    int rc = joda ? query__joda_format(text, parse, out, sizeof(out), err, sizeof(err))
                  : query__mysql_format(text, parse, out, sizeof(out), err, sizeof(err));
    if (rc < 0) {
        snprintf(msg, msg_len, "INVALID_FUNCTION_ARGUMENT: line %d:%d: %s", line, col, err);
        return ATHENA_NOT_SUPPORTED;
    }
    json_object_set_new(json_object_get(fmt, "value"), "value", json_string(out));
    rename_call(node, target);
    return 0;
}

/* A DOUBLE constant (1e7, 2.5e0) goes back to SQL as 10000000.0, which DuckDB would read
 * as a decimal: it goes back as CAST('1e7' AS DOUBLE) (the text, exactly, so that the walk
 * does not see a DOUBLE constant again). */
static void keep_double(json_t *node)
{
    char text[40];
    snprintf(text, sizeof(text), "%.17g",
             json_number_value(json_object_get(json_object_get(node, "value"), "value")));
    json_t *child = const_node(text);
    json_t *alias = json_incref(json_object_get(node, "alias"));
    json_t *loc = json_incref(json_object_get(node, "query_location"));
    json_object_clear(node);
    json_object_update_new(
        node, json_pack("{s:s, s:s, s:o, s:o, s:o, s:{s:s, s:n}, s:b}", "class", "CAST", "type",
                        "OPERATOR_CAST", "alias", alias != NULL ? alias : json_string(""),
                        "query_location", loc != NULL ? loc : json_integer(0), "child", child,
                        "cast_type", "id", "DOUBLE", "type_info", "try_cast", 0));
}

/* Whether node is the argument DuckDB's parser gives to_hours(...) and its kin for an
 * INTERVAL '1' HOUR literal: CAST(trunc(CAST('1' AS DOUBLE)) AS BIGINT or INTEGER), or for seconds
 * and milliseconds CAST('1' AS DOUBLE). */
static int interval_literal_part(json_t *node)
{
    json_t *child = json_object_get(node, "child");
    const char *to = jstr(json_object_get(node, "cast_type"), "id");
    if (strcmp(jstr(node, "class"), "CAST") != 0) {
        return 0;
    }
    return (strcmp(jstr(child, "class"), "FUNCTION") == 0 &&
            strcmp(jstr(child, "function_name"), "trunc") == 0) ||
           (strcmp(to, "DOUBLE") == 0 && const_text(child) != NULL);
}

/* TIMESTAMP '2012-10-31 01:00 UTC' (a zone or an offset after the time) is a timestamp
 * with time zone in Trino: the cast becomes one to TIMESTAMPTZ, the text one DuckDB reads
 * (seconds added, no space before an offset). */
static void zoned_timestamp_literal(json_t *node)
{
    json_t *child = json_object_get(node, "child");
    const char *text = const_text(child);
    if (text == NULL || json_is_true(json_object_get(node, "try_cast")) ||
        strcmp(jstr(json_object_get(node, "cast_type"), "id"), "TIMESTAMP") != 0) {
        return;
    }
    /* date, space, hh:mm[:ss[.fff]], spaces, then the zone */
    const char *p = strchr(text, ' ');
    if (p == NULL || !isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]) ||
        p[3] != ':') {
        return;
    }
    const char *t = p + 1;
    const char *e = t;
    while (isdigit((unsigned char)*e) || *e == ':' || *e == '.') {
        e++;
    }
    const char *z = e;
    while (*z == ' ') {
        z++;
    }
    if (*z == '\0' || !(isalpha((unsigned char)*z) || *z == '+' || *z == '-')) {
        return;
    }
    size_t colons = 0;
    for (const char *c = t; c < e; c++) {
        colons += *c == ':';
    }
    char out[128];
    snprintf(out, sizeof(out), "%.*s%s%s%s", (int)(e - text), text, colons == 1 ? ":00" : "",
             isalpha((unsigned char)*z) ? " " : "", z);
    json_object_set_new(json_object_get(child, "value"), "value", json_string(out));
    json_object_set_new(json_object_get(node, "cast_type"), "id",
                        json_string("TIMESTAMP WITH TIME ZONE"));
}

/* CAST(x AS INTEGER) (and the other integer types) of an expression becomes
 * __sl_to_integer(x), which rounds a double half away from zero as Trino does;
 * CAST(x AS VARCHAR) __sl_to_varchar(x), which prints a timestamp as Trino does. */
static void integer_cast_rounds(json_t *node)
{
    static const char *const types[][2] = {{"VARCHAR", "__sl_to_varchar"},
                                           {"TINYINT", "__sl_to_tinyint"},
                                           {"SMALLINT", "__sl_to_smallint"},
                                           {"INTEGER", "__sl_to_integer"},
                                           {"BIGINT", "__sl_to_bigint"}};
    json_t *child = json_object_get(node, "child");
    const char *to = jstr(json_object_get(node, "cast_type"), "id");
    const char *const_type = jstr(json_object_get(json_object_get(child, "value"), "type"), "id");
    if (json_is_true(json_object_get(node, "try_cast")) || interval_literal_part(node) ||
        (strcmp(jstr(child, "class"), "CONSTANT") == 0 && strcmp(const_type, "DOUBLE") != 0)) {
        return;
    }
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(to, types[i][0]) == 0) {
            json_t *alias = json_incref(json_object_get(node, "alias"));
            json_t *loc = json_incref(json_object_get(node, "query_location"));
            json_t *call = call_node(types[i][1], json_pack("[O]", child), 0);
            /* a macro of the connection: catalog temp (which the rewrite leaves alone too) */
            json_object_set_new(call, "catalog", json_string("temp"));
            json_object_clear(node);
            json_object_update_new(node, call);
            json_object_set_new(node, "alias", alias != NULL ? alias : json_string(""));
            json_object_set_new(node, "query_location", loc != NULL ? loc : json_integer(0));
            return;
        }
    }
}

/* Whether node is, as written, a date: a DATE literal or cast, current_date, date(),
 * from_iso8601_date(), last_day_of_month(). */
static int is_date_expression(json_t *node)
{
    static const char *const makers[] = {"date", "from_iso8601_date", "last_day_of_month"};
    json_t *names = json_object_get(node, "column_names");
    if (strcmp(jstr(node, "class"), "CAST") == 0) {
        return strcmp(jstr(json_object_get(node, "cast_type"), "id"), "DATE") == 0;
    }
    if (strcmp(jstr(node, "class"), "COLUMN_REF") == 0) {
        return json_array_size(names) == 1 &&
               strcasecmp(json_string_value(json_array_get(names, 0)), "current_date") == 0;
    }
    for (size_t i = 0; i < sizeof(makers) / sizeof(makers[0]); i++) {
        if (strcmp(jstr(node, "class"), "FUNCTION") == 0 &&
            strcasecmp(jstr(node, "function_name"), makers[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Whether node is an INTERVAL literal of days or more (to_days(...) and its kin as
 * DuckDB's parser writes them). */
static int is_date_interval(json_t *node)
{
    static const char *const units[] = {"to_days", "to_weeks", "to_months", "to_years"};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(jstr(node, "class"), "FUNCTION") == 0 &&
            strcmp(jstr(node, "function_name"), units[i]) == 0 &&
            interval_literal_part(json_array_get(json_object_get(node, "children"), 0))) {
            return 1;
        }
    }
    return 0;
}

/* A CAST('<text>' AS INTERVAL) node. */
static json_t *interval_node(const char *text)
{
    return json_pack("{s:s, s:s, s:s, s:i, s:o, s:{s:s, s:n}, s:b}", "class", "CAST", "type",
                     "OPERATOR_CAST", "alias", "", "query_location", 0, "child", const_node(text),
                     "cast_type", "id", "INTERVAL", "type_info", "try_cast", 0);
}

/* date_trunc(unit, x) keeps x's type in Trino (a date stays a date; DuckDB's becomes a
 * timestamp): with a constant unit it is time_bucket, whose buckets start on the
 * calendar's (months and years from January, weeks on Monday). */
static void date_trunc_same_type(json_t *node, json_t *children)
{
    static const char *const units[][2] = {{"millisecond", "1 millisecond"},
                                           {"second", "1 second"},
                                           {"minute", "1 minute"},
                                           {"hour", "1 hour"},
                                           {"day", "1 day"},
                                           {"week", "7 days"},
                                           {"month", "1 month"},
                                           {"quarter", "3 months"},
                                           {"year", "1 year"}};
    const char *unit = const_text(json_array_get(children, 0));
    for (size_t i = 0; unit != NULL && i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(unit, units[i][0]) == 0) {
            json_array_set_new(children, 0, interval_node(units[i][1]));
            rename_call(node, "time_bucket");
            return;
        }
    }
}

/* Whether node is, as written, a map: cardinality of a map is DuckDB's cardinality, of
 * anything else (an array) len. */
static int is_map_expression(json_t *node)
{
    static const char *const makers[] = {"map",        "map_from_entries", "map_agg",
                                         "histogram",  "multimap_agg",     "map_concat",
                                         "map_filter", "transform_values", "transform_keys"};
    const char *fn = jstr(node, "function_name");
    for (size_t i = 0; i < sizeof(makers) / sizeof(makers[0]); i++) {
        if (strcasecmp(fn, makers[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Whether node is, as written, an array: ARRAY[...] or a call that returns one. */
static int is_array_expression(json_t *node)
{
    static const char *const makers[] = {
        "split",        "array_agg",   "sequence",       "regexp_extract_all",
        "map_keys",     "map_values",  "array_distinct", "array_sort",
        "filter",       "transform",   "slice",          "array_remove",
        "array_except", "array_union", "flatten"};
    if (strcmp(jstr(node, "type"), "ARRAY_CONSTRUCTOR") == 0) {
        return 1;
    }
    for (size_t i = 0; i < sizeof(makers) / sizeof(makers[0]); i++) {
        if (strcmp(jstr(node, "class"), "FUNCTION") == 0 &&
            strcasecmp(jstr(node, "function_name"), makers[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

int query__dialect_rewrite(json_t *node, int line, int col, char *msg, size_t msg_len)
{
    if (strcmp(jstr(node, "class"), "CAST") == 0) {
        zoned_timestamp_literal(node);
        integer_cast_rounds(node);
        return 0;
    }
    if (strcmp(jstr(node, "class"), "CONSTANT") == 0) {
        if (strcmp(jstr(json_object_get(json_object_get(node, "value"), "type"), "id"), "DOUBLE") ==
            0) {
            keep_double(node);
        }
        return 0;
    }
    if (strcmp(jstr(node, "class"), "FUNCTION") != 0 ||
        strcmp(jstr(node, "catalog"), "system") == 0 ||
        strcmp(jstr(node, "catalog"), "temp") == 0) {
        return 0;
    }
    const char *fn = jstr(node, "function_name");
    json_t *children = json_object_get(node, "children");
    size_t n = json_array_size(children);
    if (strncasecmp(fn, "__sl_", 5) == 0) {
        goto not_found;
    }
    for (size_t i = 0; i < sizeof(duck_only) / sizeof(duck_only[0]); i++) {
        if (strcasecmp(fn, duck_only[i]) == 0) {
            goto not_found;
        }
    }
    if ((strcasecmp(fn, "timezone") == 0 || strcasecmp(fn, "at_timezone") == 0) && n == 2) {
        /* x AT TIME ZONE z parses as timezone(z, x); at_timezone(x, z) */
        if (strcasecmp(fn, "timezone") == 0) {
            json_t *zone = json_incref(json_array_get(children, 0));
            json_array_remove(children, 0);
            json_array_append_new(children, zone);
        }
        rename_call(node, "__sl_at_timezone");
        return 0;
    }
    if (strcasecmp(fn, "reduce") == 0 && n == 4) {
        /* reduce(a, init, (s, x) -> ..., s -> ...): DuckDB's list_reduce takes the state's
         * start last, and the output function is applied through a one-element list */
        json_t *folded = call_node("list_reduce",
                                   json_pack("[O, O, O]", json_array_get(children, 0),
                                             json_array_get(children, 2),
                                             json_array_get(children, 1)),
                                   0);
        json_t *mapped = call_node(
            "list_transform",
            json_pack("[o, O]", call_node("list_value", json_pack("[o]", folded), 0),
                      json_array_get(children, 3)),
            0);
        json_t *one = json_pack("{s:s, s:s, s:s, s:i, s:{s:{s:s, s:n}, s:b, s:i}}", "class",
                                "CONSTANT", "type", "VALUE_CONSTANT", "alias", "",
                                "query_location", 0, "value", "type", "id", "INTEGER",
                                "type_info", "is_null", 0, "value", 1);
        json_object_set_new(node, "children", json_pack("[o, o]", mapped, one));
        rename_call(node, "list_extract");
        json_object_set_new(node, "catalog", json_string("system"));
        json_object_set_new(node, "schema", json_string("main"));
        return 0;
    }
    if (strcasecmp(fn, "date_format") == 0) {
        return convert_format(node, "date_format", 0, 0, "strftime", line, col, msg, msg_len);
    }
    if (strcasecmp(fn, "date_parse") == 0) {
        return convert_format(node, "date_parse", 0, 1, "strptime", line, col, msg, msg_len);
    }
    if (strcasecmp(fn, "format_datetime") == 0) {
        return convert_format(node, "format_datetime", 1, 0, "strftime", line, col, msg, msg_len);
    }
    if (strcasecmp(fn, "parse_datetime") == 0) {
        return convert_format(node, "parse_datetime", 1, 1, "__sl_parse_datetime", line, col, msg,
                              msg_len);
    }
    if (strcasecmp(fn, "concat") == 0) {
        /* || is NULL when any side is; concat of arrays is || too */
        if (n < 2) {
            snprintf(msg, msg_len,
                     "FUNCTION_NOT_FOUND: line %d:%d: There must be two or more concatenation "
                     "arguments",
                     line, col);
            return ATHENA_FUNCTION_NOT_FOUND;
        }
        json_t *acc = json_incref(json_array_get(children, 0));
        for (size_t i = 1; i + 1 < n; i++) {
            acc = call_node("||", json_pack("[o, O]", acc, json_array_get(children, i)), 1);
        }
        json_t *last = json_incref(json_array_get(children, n - 1));
        json_object_set_new(node, "children", json_pack("[o, o]", acc, last));
        json_object_set_new(node, "function_name", json_string("||"));
        json_object_set_new(node, "is_operator", json_true());
        return 0;
    }
    if (strcasecmp(fn, "greatest") == 0 || strcasecmp(fn, "least") == 0) {
        wrap_unless_null(node);
        return 0;
    }
    if (strcasecmp(fn, "element_at") == 0 && n == 2) {
        json_t *k = json_object_get(json_array_get(children, 1), "value");
        if (strcmp(jstr(json_array_get(children, 1), "class"), "CONSTANT") == 0 &&
            json_is_integer(json_object_get(k, "value")) &&
            json_integer_value(json_object_get(k, "value")) == 0) {
            snprintf(msg, msg_len,
                     "INVALID_FUNCTION_ARGUMENT: line %d:%d: SQL array indices start at 1", line,
                     col);
            return ATHENA_NOT_SUPPORTED;
        }
        /* DuckDB's subscript: 1-based, negative from the end, NULL out of range or for a
         * missing map key, as element_at in Trino */
        json_t *kids = json_incref(children);
        json_t *alias = json_incref(json_object_get(node, "alias"));
        json_object_clear(node);
        json_object_update_new(node, json_pack("{s:s, s:s, s:o, s:i, s:o}", "class", "OPERATOR",
                                               "type", "ARRAY_EXTRACT", "alias",
                                               alias != NULL ? alias : json_string(""),
                                               "query_location", 0, "children", kids));
        return 0;
    }
    if (strcasecmp(fn, "date_part") == 0 && n == 2 && const_text(json_array_get(children, 0))) {
        /* EXTRACT's fields: Trino's day of week is ISO's (Monday 1 .. Sunday 7) */
        static const char *const fields[][2] = {
            {"dow", "isodow"},      {"day_of_week", "isodow"},   {"day_of_month", "day"},
            {"day_of_year", "doy"}, {"year_of_week", "isoyear"}, {"yow", "isoyear"}};
        json_t *v = json_object_get(json_array_get(children, 0), "value");
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
            if (strcasecmp(json_string_value(json_object_get(v, "value")), fields[i][0]) == 0) {
                json_object_set_new(v, "value", json_string(fields[i][1]));
                break;
            }
        }
        return 0;
    }
    if (strcasecmp(fn, "to_milliseconds") == 0 && n == 1 &&
        !interval_literal_part(json_array_get(children, 0))) {
        /* Trino's: an interval's milliseconds; DuckDB's: an interval of n milliseconds */
        rename_call(node, "__sl_to_milliseconds");
        return 0;
    }
    if ((strcmp(fn, "+") == 0 || strcmp(fn, "-") == 0) && n == 2 &&
        is_date_expression(json_array_get(children, 0)) &&
        is_date_interval(json_array_get(children, 1))) {
        /* a date plus or minus days, months, years is a date in Trino, a timestamp in DuckDB */
        rename_call(node, fn[0] == '+' ? "__sl_date_plus" : "__sl_date_minus");
        json_object_set_new(node, "catalog", json_string("temp"));
        return 0;
    }
    if (strcasecmp(fn, "bitwise_and") == 0 || strcasecmp(fn, "bitwise_or") == 0 ||
        strcasecmp(fn, "bitwise_not") == 0) {
        /* DuckDB's operators & | ~ */
        const char *op = strcasecmp(fn, "bitwise_and") == 0  ? "&"
                         : strcasecmp(fn, "bitwise_or") == 0 ? "|"
                                                             : "~";
        json_object_set_new(node, "function_name", json_string(op));
        json_object_set_new(node, "is_operator", json_true());
        return 0;
    }
    if (strcasecmp(fn, "reverse") == 0 && n == 1 &&
        is_array_expression(json_array_get(children, 0))) {
        rename_call(node, "list_reverse");
        return 0;
    }
    if (strcasecmp(fn, "concat_ws") == 0 && n == 2 &&
        is_array_expression(json_array_get(children, 1))) {
        /* concat_ws(sep, array): the array's elements joined (DuckDB's would print it) */
        json_t *sep = json_incref(json_array_get(children, 0));
        json_array_remove(children, 0);
        json_array_append_new(children, sep);
        rename_call(node, "array_to_string");
        return 0;
    }
    if (strcasecmp(fn, "date_add") == 0 && n == 3 &&
        is_date_expression(json_array_get(children, 2))) {
        /* date_add of a date is a date */
        rename_call(node, "__sl_date_add_date");
        return 0;
    }
    if (strcasecmp(fn, "date_trunc") == 0 && n == 2) {
        date_trunc_same_type(node, children);
        return 0;
    }
    if (strcasecmp(fn, "cardinality") == 0 && n == 1 &&
        is_map_expression(json_array_get(children, 0))) {
        return 0;
    }
    if (strcasecmp(fn, "replace") == 0 && n == 2) {
        json_array_append_new(children, const_node(""));
        return 0;
    }
    if (strcasecmp(fn, "log") == 0 && n == 1) {
        snprintf(msg, msg_len,
                 "FUNCTION_NOT_FOUND: line %d:%d: Unexpected parameters for function log. "
                 "Expected: log(double, double)",
                 line, col);
        return ATHENA_FUNCTION_NOT_FOUND;
    }
    if (strcasecmp(fn, "regexp_replace") == 0 && (n == 2 || n == 3)) {
        /* every match replaced ('g'), $n back-references as RE2's \n */
        if (n == 2) {
            json_array_append_new(children, const_node(""));
        }
        json_t *rep = json_array_get(children, 2);
        const char *text = const_text(rep);
        if (text == NULL) {
            /* converted as the query runs: $n only */
            rename_call(node, "__sl_regexp_replace");
            return 0;
        }
        char out[1024];
        if (query__java_replacement(text, out, sizeof(out)) < 0) {
            snprintf(msg, msg_len, "INVALID_FUNCTION_ARGUMENT: line %d:%d: replacement too long",
                     line, col);
            return ATHENA_NOT_SUPPORTED;
        }
        json_object_set_new(json_object_get(rep, "value"), "value", json_string(out));
        json_array_append_new(children, const_node("g"));
        return 0;
    }
    for (size_t i = 0; i < sizeof(renames) / sizeof(renames[0]); i++) {
        if (strcasecmp(fn, renames[i].trino) == 0) {
            rename_call(node, renames[i].duck);
            return 0;
        }
    }
    return 0;
not_found:
    snprintf(msg, msg_len, "FUNCTION_NOT_FOUND: line %d:%d: Function '%s' not registered", line,
             col, fn);
    return ATHENA_FUNCTION_NOT_FOUND;
}
