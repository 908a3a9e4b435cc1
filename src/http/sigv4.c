/*
 * AWS Signature Version 4 (see sigv4.h for the format and the canonical form).
 *
 * The canonical request, as AWS defines it:
 *
 *   <METHOD>\n
 *   <canonical path>\n
 *   <canonical query>\n
 *   <name>:<value>\n          one line per signed header, names sorted
 *   \n
 *   <signed headers>\n        sorted lower-case names joined by ';'
 *   <payload hash>
 *
 * The string to sign is "AWS4-HMAC-SHA256\n<amz date>\n<scope>\n<hex sha256(creq)>", and
 * the signature is hex(HMAC(signing key, string to sign)), where the signing key is
 * HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request").
 *
 * Streaming uploads (aws-chunked) sign each chunk with
 *   "AWS4-HMAC-SHA256-PAYLOAD\n<amz date>\n<scope>\n<previous signature>\n"
 *   "<hex sha256("")>\n<hex sha256(chunk)>"
 * and the trailer with
 *   "AWS4-HMAC-SHA256-TRAILER\n<amz date>\n<scope>\n<previous signature>\n"
 *   "<hex sha256(trailer)>".
 */
#include "http/sigv4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/crypto.h"
#include "core/mem.h"
#include "core/text.h"

#define ALGORITHM "AWS4-HMAC-SHA256"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---- dates ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int parse_digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Writes "yyyymmddThhmmssZ" (17 bytes with NUL); each field is taken modulo its width. */
static void format_amz_date(char out[17], int y, int mo, int d, int h, int mi, int se)
{
    int fields[6] = {y, mo, d, h, mi, se};
    int widths[6] = {4, 2, 2, 2, 2, 2};
    size_t pos = 0;
    for (int f = 0; f < 6; f++) {
        int v = fields[f] < 0 ? 0 : fields[f];
        for (int i = widths[f] - 1; i >= 0; i--) {
            out[pos + (size_t)i] = (char)('0' + v % 10);
            v /= 10;
        }
        pos += (size_t)widths[f];
        if (f == 2) {
            out[pos++] = 'T';
        }
    }
    out[pos++] = 'Z';
    out[pos] = '\0';
}

/* 1 when d is a day of month mo (1..12) of year y in the Gregorian calendar. */
static int valid_day(int y, int mo, int d)
{
    static const int days_in_month[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d >= 1 && d <= days_in_month[mo - 1] + (mo == 2 && leap);
}

/* Milliseconds since the epoch of "yyyymmddThhmmssZ"; -1 when not of that form or not a
   real date and time (a leap second, :60, is accepted as the next second). */
static int64_t amz_date_to_ms(const char *s)
{
    if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z') {
        return -1;
    }
    int y = parse_digits(s, 4), mo = parse_digits(s + 4, 2), d = parse_digits(s + 6, 2);
    int h = parse_digits(s + 9, 2), mi = parse_digits(s + 11, 2), se = parse_digits(s + 13, 2);
    if (y < 0 || mo < 1 || mo > 12 || !valid_day(y, mo, d) || h < 0 || h > 23 || mi < 0 ||
        mi > 59 || se < 0 || se > 60) {
        return -1;
    }
    int64_t days = days_from_civil(y, mo, d);
    return ((days * 24 + h) * 60 + mi) * 60000 + (int64_t)se * 1000;
}

/* "yyyymmddThhmmssZ" of ms since the epoch. */
static void ms_to_amz_date(int64_t ms, char out[17])
{
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int64_t rem = secs - days * 86400;
    /* civil_from_days (H. Hinnant) */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    if (y < 0 || y > 9999) {
        y = y < 0 ? 0 : 9999;
    }
    format_amz_date(out, (int)y, (int)m, (int)d, (int)(rem / 3600), (int)(rem / 60 % 60),
                    (int)(rem % 60));
}

/* Index (0-based) of the three-letter name at s in list (names of 3 letters run
   together), or -1. */
static int name_index(const char *s, const char *list)
{
    for (int i = 0; list[3 * i] != '\0'; i++) {
        if (memcmp(s, list + 3 * i, 3) == 0) {
            return i;
        }
    }
    return -1;
}

/*
 * Converts an HTTP date in the one form RFC 7231 requires senders to use (IMF-fixdate,
 * the RFC 1123 form) to "yyyymmddThhmmssZ":
 *
 *   offset  0    4  7   11    16 19 22 25
 *           "Thu, 26 Nov 2026 10:00:00 GMT"    exactly 29 bytes
 *
 * Every field has its fixed width, names are matched case-sensitively, the day must
 * exist in its month and the weekday must be that date's. Returns 0, or -1 for anything
 * else (the obsolete RFC 850 and asctime forms included).
 */
static int http_date_to_amz(const char *s, char out[17])
{
    static const char days[] = "ThuFriSatSunMonTueWed"; /* 1970-01-01 was a Thursday */
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    if (strlen(s) != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
        s[16] != ' ' || s[19] != ':' || s[22] != ':' || s[25] != ' ' ||
        memcmp(s + 26, "GMT", 3) != 0) {
        return -1;
    }
    int wday = name_index(s, days);
    int mo = name_index(s + 8, months) + 1;
    int d = parse_digits(s + 5, 2), y = parse_digits(s + 12, 4);
    int h = parse_digits(s + 17, 2), mi = parse_digits(s + 20, 2), se = parse_digits(s + 23, 2);
    if (wday < 0 || mo < 1 || y < 0 || !valid_day(y, mo, d) || h < 0 || h > 23 || mi < 0 ||
        mi > 59 || se < 0 || se > 60) {
        return -1;
    }
    int64_t days_since_epoch = days_from_civil(y, mo, d);
    int64_t expect_wday = days_since_epoch % 7;
    if (expect_wday < 0) {
        expect_wday += 7;
    }
    if (wday != expect_wday) {
        return -1;
    }
    format_amz_date(out, y, mo, d, h, mi, se);
    return 0;
}

/* ---- request lookups ---- */

static const char *header_get(const struct sigv4_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++) {
        if (req->headers[i].name != NULL && strcasecmp(req->headers[i].name, name) == 0) {
            return req->headers[i].value != NULL ? req->headers[i].value : "";
        }
    }
    return NULL;
}

/* Finds query parameter name (compared after decoding, case-sensitively) and
   appends its decoded value to out. Returns 1 when found, 0 when not, SL_E(NOMEM). */
static int query_get(const char *query, const char *name, struct buf *out)
{
    size_t name_len = strlen(name);
    const char *q = query != NULL ? query : "";
    size_t q_len = strlen(q), pos = 0;
    struct query_field f;
    struct buf key;
    buf_init(&key);
    int found = 0;
    while (!found && query_next(q, q_len, &pos, &f)) {
        buf_reset(&key);
        if (pct_decode(&key, f.name, f.name_len, PCT_QUERY) < 0) {
            found = SL_E(NOMEM);
            break;
        }
        if (key.len == name_len && memcmp(key.data, name, name_len) == 0) {
            pct_decode(out, f.value, f.value_len, PCT_QUERY);
            found = 1;
        }
    }
    buf_fini(&key);
    return found;
}

/* Copies s[0, len) into dst (size cap) with NUL; returns -1 when it does not fit. */
static int copy_field(char *dst, size_t cap, const char *s, size_t len)
{
    if (len >= cap) {
        return -1;
    }
    memcpy(dst, s, len);
    dst[len] = '\0';
    return 0;
}

/* ---- parsing ---- */

/* Fills the scope fields of out from "AKID/date/region/service/aws4_request". */
static int parse_credential(const char *cred, size_t len, int s3, struct sigv4_auth *out,
                            struct err_info *err)
{
    const char *part[5];
    size_t part_len[5];
    size_t n = 0;
    const char *p = cred;
    const char *end = cred + len;
    while (n < 5) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        part[n] = p;
        part_len[n] = slash != NULL ? (size_t)(slash - p) : (size_t)(end - p);
        n++;
        if (slash == NULL) {
            break;
        }
        p = slash + 1;
    }
    if (n != 5 || memchr(part[4], '/', part_len[4]) != NULL) {
        if (s3) {
            return err_set(err, SL_E(AUTH_MALFORMED),
                           "The authorization header is malformed; the Credential is "
                           "mal-formed; "
                           "expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".");
        }
        return err_set(err, SL_E(AUTH_MALFORMED),
                       "Credential must have exactly 5 slash-delimited elements, e.g. "
                       "keyid/date/region/service/term, got '%.*s'",
                       (int)(len > 256 ? 256 : len), cred);
    }
    if (part_len[4] != 12 || memcmp(part[4], "aws4_request", 12) != 0) {
        return err_set(err, SL_E(AUTH_MALFORMED),
                       "Credential should be scoped with a valid terminator: 'aws4_request', "
                       "not '%.*s'.",
                       (int)(part_len[4] > 64 ? 64 : part_len[4]), part[4]);
    }
    if (part_len[1] != 8 || parse_digits(part[1], 8) < 0) {
        return err_set(err, SL_E(AUTH_MALFORMED),
                       "Invalid credential date \"%.*s\". This date is not the "
                       "required format "
                       "yyyyMMdd.",
                       (int)(part_len[1] > 64 ? 64 : part_len[1]), part[1]);
    }
    if (part_len[0] == 0 ||
        copy_field(out->access_key_id, sizeof(out->access_key_id), part[0], part_len[0]) < 0) {
        return err_set(err, SL_E(AUTH_MALFORMED),
                       "The access key id in the Credential is not "
                       "valid.");
    }
    if (part_len[2] == 0 ||
        copy_field(out->region, sizeof(out->region), part[2], part_len[2]) < 0) {
        return err_set(err, SL_E(AUTH_MALFORMED), "Credential should be scoped to a valid region.");
    }
    if (part_len[3] == 0 ||
        copy_field(out->service, sizeof(out->service), part[3], part_len[3]) < 0) {
        return err_set(err, SL_E(AUTH_MALFORMED),
                       "Credential should be scoped to correct service.");
    }
    memcpy(out->date, part[1], 8);
    out->date[8] = '\0';
    snprintf(out->scope, sizeof(out->scope), "%s/%s/%s/aws4_request", out->date, out->region,
             out->service);
    return 0;
}

/* Checks a SignedHeaders list (lower-case names joined by ';') and stores it. */
static int store_signed_headers(const char *s, size_t len, struct sigv4_auth *out,
                                struct err_info *err)
{
    if (len == 0 || copy_field(out->signed_headers, sizeof(out->signed_headers), s, len) < 0) {
        return err_set(err, SL_E(AUTH_MALFORMED), "The SignedHeaders list is empty or too long.");
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f || c == ',') {
            return err_set(err, SL_E(AUTH_MALFORMED),
                           "The SignedHeaders list contains an invalid character.");
        }
    }
    return 0;
}

/* Stores a signature; anything but 64 hex digits is malformed. */
static int store_signature(const char *s, size_t len, struct sigv4_auth *out, struct err_info *err)
{
    if (len != 64) {
        return err_set(err, SL_E(AUTH_MALFORMED),
                       "The signature must be 64 hexadecimal characters.");
    }
    for (size_t i = 0; i < len; i++) {
        if (hex_digit((unsigned char)s[i]) < 0) {
            return err_set(err, SL_E(AUTH_MALFORMED),
                           "The signature must be 64 hexadecimal characters.");
        }
        out->signature[i] = (char)(s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 'a' : s[i]);
    }
    out->signature[64] = '\0';
    return 0;
}

/* Stores X-Amz-Date (or the Date header converted) in out->amz_date. */
static int store_amz_date(const char *amz, const char *http_date, struct sigv4_auth *out,
                          struct err_info *err)
{
    if (amz != NULL) {
        if (strlen(amz) != 16 || amz_date_to_ms(amz) < 0) {
            return err_set(err, SL_E(AUTH_MALFORMED),
                           "Date must be in ISO-8601 'basic format'. Got '%.64s'. See "
                           "http://en.wikipedia.org/wiki/ISO_8601",
                           amz);
        }
        memcpy(out->amz_date, amz, 17);
        return 0;
    }
    if (http_date_to_amz(http_date, out->amz_date) < 0 || amz_date_to_ms(out->amz_date) < 0) {
        out->amz_date[0] = '\0';
        return err_set(err, SL_E(AUTH_MALFORMED), "Date must be in RFC 1123 format. Got '%.64s'.",
                       http_date);
    }
    return 0;
}

/* Parses "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...". */
static int parse_header(const struct sigv4_request *req, const char *value, struct sigv4_auth *out,
                        struct err_info *err)
{
    size_t alg_len = strlen(ALGORITHM);
    if (strncmp(value, ALGORITHM, alg_len) != 0 ||
        (value[alg_len] != ' ' && value[alg_len] != '\0')) {
        return err_set(err, SL_E(AUTH_MALFORMED),
                       "The authorization mechanism you have provided is not supported. "
                       "Please use AWS4-HMAC-SHA256.");
    }
    const char *cred = NULL, *signed_hdrs = NULL, *sig = NULL;
    size_t cred_len = 0, signed_len = 0, sig_len = 0;
    const char *p = value + alg_len;
    while (*p != '\0') {
        while (*p == ' ' || *p == ',') {
            p++;
        }
        const char *start = p;
        while (*p != '\0' && *p != ',') {
            p++;
        }
        const char *end = p;
        while (end > start && end[-1] == ' ') {
            end--;
        }
        const char *eq = memchr(start, '=', (size_t)(end - start));
        if (eq == NULL) {
            continue;
        }
        size_t key_len = (size_t)(eq - start);
        size_t val_len = (size_t)(end - eq - 1);
        if (key_len == 10 && memcmp(start, "Credential", 10) == 0) {
            cred = eq + 1;
            cred_len = val_len;
        } else if (key_len == 13 && memcmp(start, "SignedHeaders", 13) == 0) {
            signed_hdrs = eq + 1;
            signed_len = val_len;
        } else if (key_len == 9 && memcmp(start, "Signature", 9) == 0) {
            sig = eq + 1;
            sig_len = val_len;
        }
    }
    const char *amz = header_get(req, "x-amz-date");
    const char *http_date = header_get(req, "date");
    if (cred == NULL || signed_hdrs == NULL || sig == NULL || (amz == NULL && http_date == NULL)) {
        return err_set(
            err, SL_E(AUTH_MALFORMED), "%s%s%s%sAuthorization=%.200s",
            cred == NULL ? "Authorization header requires 'Credential' parameter. " : "",
            sig == NULL ? "Authorization header requires 'Signature' parameter. " : "",
            signed_hdrs == NULL ? "Authorization header requires 'SignedHeaders' parameter. " : "",
            amz == NULL && http_date == NULL
                ? "Authorization header requires existence of either a "
                  "'X-Amz-Date' or a 'Date' header. "
                : "",
            value);
    }
    int rc = parse_credential(cred, cred_len, req->s3, out, err);
    if (rc == 0) {
        rc = store_signed_headers(signed_hdrs, signed_len, out, err);
    }
    if (rc == 0) {
        rc = store_signature(sig, sig_len, out, err);
    }
    if (rc == 0) {
        rc = store_amz_date(amz, http_date, out, err);
    }
    if (rc == 0) {
        const char *token = header_get(req, "x-amz-security-token");
        if (token != NULL && copy_field(out->security_token, sizeof(out->security_token), token,
                                        strlen(token)) < 0) {
            rc = err_set(err, SL_E(AUTH_MALFORMED), "The security token is too long.");
        }
    }
    return rc;
}

/* Parses the presigned-URL query parameters. */
static int parse_query(const struct sigv4_request *req, struct sigv4_auth *out,
                       struct err_info *err)
{
    static const char *const names[] = {
        "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature",     "X-Amz-SignedHeaders",
        "X-Amz-Date",      "X-Amz-Expires",    "X-Amz-Security-Token"};
    enum { ALG, CRED, SIG, SIGNED, DATE, EXPIRES, TOKEN, N_PARAMS };
    struct buf val[N_PARAMS];
    int have[N_PARAMS];
    int rc = 0;
    for (int i = 0; i < N_PARAMS; i++) {
        buf_init(&val[i]);
        int got = query_get(req->query, names[i], &val[i]);
        have[i] = got > 0;
        buf_putc(&val[i], '\0'); /* so data is never NULL */
        val[i].len--;
        if (got < 0 || buf_status(&val[i]) != 0) {
            rc = SL_E(NOMEM);
        }
    }
    if (rc != 0) {
        err_set(err, rc, "out of memory");
        goto out_free;
    }
    if (!have[CRED] || !have[SIG] || !have[SIGNED] || !have[DATE] || (req->s3 && !have[EXPIRES])) {
        if (req->s3) {
            rc = err_set(err, SL_E(AUTH_MALFORMED),
                         "Query-string authentication version 4 requires the X-Amz-Algorithm, "
                         "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
                         "and X-Amz-Expires parameters.");
        } else {
            rc = err_set(err, SL_E(AUTH_MALFORMED),
                         "%s%s%s%sRe-examine the query-string parameters.",
                         have[CRED] ? ""
                                    : "AWS query-string parameters must include "
                                      "'X-Amz-Credential'. ",
                         have[SIG] ? ""
                                   : "AWS query-string parameters must include "
                                     "'X-Amz-Signature'. ",
                         have[SIGNED] ? ""
                                      : "AWS query-string parameters must include "
                                        "'X-Amz-SignedHeaders'. ",
                         have[DATE] ? ""
                                    : "AWS query-string parameters must include "
                                      "'X-Amz-Date'. ");
        }
        goto out_free;
    }
    if (strcmp((const char *)val[ALG].data, ALGORITHM) != 0) {
        rc = err_set(err, SL_E(AUTH_MALFORMED),
                     "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"");
        goto out_free;
    }
    rc = parse_credential((const char *)val[CRED].data, val[CRED].len, req->s3, out, err);
    if (rc == 0) {
        rc = store_signed_headers((const char *)val[SIGNED].data, val[SIGNED].len, out, err);
    }
    if (rc == 0) {
        rc = store_signature((const char *)val[SIG].data, val[SIG].len, out, err);
    }
    if (rc == 0) {
        rc = store_amz_date((const char *)val[DATE].data, NULL, out, err);
    }
    if (rc != 0) {
        goto out_free;
    }
    if (have[EXPIRES]) {
        const char *e = (const char *)val[EXPIRES].data;
        char *endp = NULL;
        long long secs = strtoll(e, &endp, 10);
        if (*e == '\0' || *endp != '\0' || (*e != '-' && (*e < '0' || *e > '9'))) {
            rc = err_set(err, SL_E(AUTH_MALFORMED), "X-Amz-Expires should be a number");
            goto out_free;
        }
        if (secs < 0) {
            rc = err_set(err, SL_E(AUTH_MALFORMED), "X-Amz-Expires must be non-negative");
            goto out_free;
        }
        if (secs > SIGV4_MAX_EXPIRES_S) {
            rc = err_set(err, SL_E(AUTH_MALFORMED),
                         "X-Amz-Expires must be less than a week (in seconds) that is 604800");
            goto out_free;
        }
        out->expires_s = secs;
    } else {
        out->expires_s = -1; /* held to the clock-skew window, as header auth is */
    }
    if (have[TOKEN] && copy_field(out->security_token, sizeof(out->security_token),
                                  (const char *)val[TOKEN].data, val[TOKEN].len) < 0) {
        rc = err_set(err, SL_E(AUTH_MALFORMED), "The security token is too long.");
        goto out_free;
    }
    out->presigned = 1;
out_free:
    for (int i = 0; i < N_PARAMS; i++) {
        buf_fini(&val[i]);
    }
    return rc;
}

int sigv4_parse(const struct sigv4_request *req, struct sigv4_auth *out, struct err_info *err)
{
    memset(out, 0, sizeof(*out));
    const char *authz = header_get(req, "authorization");
    struct buf alg;
    buf_init(&alg);
    int presigned = query_get(req->query, "X-Amz-Algorithm", &alg);
    buf_fini(&alg);
    int rc;
    if (presigned < 0) {
        rc = err_set(err, presigned, "out of memory");
    } else if (authz != NULL && presigned) {
        rc = err_set(err, SL_E(AUTH_MALFORMED),
                     "Only one auth mechanism allowed; only the X-Amz-Algorithm query "
                     "parameter, Signature query string parameter or the Authorization "
                     "header "
                     "should be specified");
    } else if (authz != NULL) {
        rc = parse_header(req, authz, out, err);
    } else if (presigned) {
        rc = parse_query(req, out, err);
    } else {
        rc = err_set(err, SL_E(AUTH_MISSING), "Missing Authentication Token");
    }
    if (rc != 0) {
        memset(out, 0, sizeof(*out));
    }
    return rc;
}

/* ---- canonical request ---- */

/* Canonical path: S3 as sent (raw bytes encoded); others normalised and each
   segment encoded once more. */
static void canonical_path(struct buf *out, const char *path, int s3)
{
    if (path == NULL || path[0] == '\0') {
        buf_putc(out, '/');
        return;
    }
    if (s3) {
        if (path[0] != '/') {
            buf_putc(out, '/');
        }
        pct_encode(out, path, strlen(path), PCT_KEEP_SLASH | PCT_KEEP_PCT);
        return;
    }
    size_t base = out->len;
    size_t path_len = strlen(path);
    const char *p = path;
    const char *end = path + path_len;
    while (p < end) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        size_t seg_len = slash != NULL ? (size_t)(slash - p) : (size_t)(end - p);
        if (seg_len == 0 || (seg_len == 1 && p[0] == '.')) {
            /* empty or "." segment: dropped */
        } else if (seg_len == 2 && p[0] == '.' && p[1] == '.') {
            /* ".." removes the last segment written */
            if (buf_status(out) == 0) {
                while (out->len > base && out->data[out->len - 1] != '/') {
                    out->len--;
                }
                if (out->len > base) {
                    out->len--;
                }
                out->data[out->len] = '\0';
            }
        } else {
            buf_putc(out, '/');
            pct_encode(out, p, seg_len, 0);
        }
        p += seg_len + (slash != NULL ? 1 : 0);
    }
    if (out->len == base || buf_status(out) != 0) {
        buf_putc(out, '/');
    } else if (path[path_len - 1] == '/') {
        buf_putc(out, '/');
    }
}

struct query_pair {
    size_t name_off, name_len; /* in the shared encoded buffer */
    size_t value_off, value_len;
};

/* Compares two encoded byte strings as unsigned bytes; shorter first on a tie. */
static int bytes_cmp(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    size_t n = a_len < b_len ? a_len : b_len;
    int c = memcmp(a, b, n);
    if (c != 0) {
        return c;
    }
    return a_len < b_len ? -1 : a_len > b_len ? 1 : 0;
}

static int pair_cmp(const uint8_t *data, const struct query_pair *a, const struct query_pair *b)
{
    int c = bytes_cmp(data + a->name_off, a->name_len, data + b->name_off, b->name_len);
    if (c != 0) {
        return c;
    }
    return bytes_cmp(data + a->value_off, a->value_len, data + b->value_off, b->value_len);
}

/* Insertion sort for short lists, merge sort beyond; stable and free of global state. */
static void pairs_sort(const uint8_t *data, struct query_pair *v, struct query_pair *tmp, size_t n)
{
    if (n < 16) {
        for (size_t i = 1; i < n; i++) {
            struct query_pair x = v[i];
            size_t j = i;
            while (j > 0 && pair_cmp(data, &v[j - 1], &x) > 0) {
                v[j] = v[j - 1];
                j--;
            }
            v[j] = x;
        }
        return;
    }
    size_t half = n / 2;
    pairs_sort(data, v, tmp, half);
    pairs_sort(data, v + half, tmp, n - half);
    size_t i = 0, j = half, k = 0;
    while (i < half && j < n) {
        tmp[k++] = pair_cmp(data, &v[j], &v[i]) < 0 ? v[j++] : v[i++];
    }
    while (i < half) {
        tmp[k++] = v[i++];
    }
    while (j < n) {
        tmp[k++] = v[j++];
    }
    memcpy(v, tmp, n * sizeof(*v));
}

/* Canonical query: decoded then re-encoded names and values, sorted by name
   then value. Presigned requests leave out X-Amz-Signature. */
static int canonical_query(struct buf *out, const char *query, int presigned)
{
    if (query == NULL || query[0] == '\0') {
        return 0;
    }
    size_t n_max = 1;
    for (const char *q = query; *q != '\0'; q++) {
        n_max += *q == '&';
    }
    struct query_pair *pairs = try_malloc(2 * n_max * sizeof(*pairs));
    if (pairs == NULL) {
        return SL_E(NOMEM);
    }
    struct buf enc, tmp;
    buf_init(&enc);
    buf_init(&tmp);
    buf_reserve(&enc, strlen(query)); /* enc.data is never NULL below, even if all is empty */
    size_t n = 0, pos = 0, q_len = strlen(query);
    struct query_field f;
    int rc = 0;
    while (rc == 0 && query_next(query, q_len, &pos, &f)) {
        /* Decoded as the operation will read it (core/text.h), then encoded again.
           (buf_reset clears a failure, so each decode's result is checked.) */
        struct query_pair *qp = &pairs[n];
        buf_reset(&tmp);
        if (pct_decode(&tmp, f.name, f.name_len, PCT_QUERY) < 0) {
            rc = SL_E(NOMEM);
            break;
        }
        int skip = presigned && tmp.len == 15 && memcmp(tmp.data, "X-Amz-Signature", 15) == 0;
        if (skip) {
            continue;
        }
        qp->name_off = enc.len;
        pct_encode(&enc, (const char *)tmp.data, tmp.len, 0);
        qp->name_len = enc.len - qp->name_off;
        buf_reset(&tmp);
        if (pct_decode(&tmp, f.value, f.value_len, PCT_QUERY) < 0) {
            rc = SL_E(NOMEM);
            break;
        }
        qp->value_off = enc.len;
        pct_encode(&enc, (const char *)tmp.data, tmp.len, 0);
        qp->value_len = enc.len - qp->value_off;
        n++;
    }
    if (rc == 0 && buf_status(&enc) != 0) {
        rc = SL_E(NOMEM);
    }
    if (rc == 0 && n > 0) {
        pairs_sort(enc.data, pairs, pairs + n_max, n);
        for (size_t i = 0; i < n; i++) {
            if (i > 0) {
                buf_putc(out, '&');
            }
            buf_append(out, enc.data + pairs[i].name_off, pairs[i].name_len);
            buf_putc(out, '=');
            buf_append(out, enc.data + pairs[i].value_off, pairs[i].value_len);
        }
    }
    buf_fini(&tmp);
    buf_fini(&enc);
    free(pairs);
    return rc;
}

/* Appends a header value trimmed, with each run of spaces and tabs made one space. */
static void append_trimmed(struct buf *out, const char *v)
{
    while (*v == ' ' || *v == '\t') {
        v++;
    }
    int pending_space = 0;
    for (; *v != '\0'; v++) {
        if (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n') {
            pending_space = 1;
        } else {
            if (pending_space) {
                buf_putc(out, ' ');
                pending_space = 0;
            }
            buf_putc(out, *v);
        }
    }
}

struct name_ref {
    const char *name;
    size_t len;
};

static int name_ref_cmp(const void *a, const void *b)
{
    const struct name_ref *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = strncasecmp(x->name, y->name, n);
    if (c != 0) {
        return c;
    }
    return x->len < y->len ? -1 : x->len > y->len ? 1 : 0;
}

/* Splits the ';' list into names, sorted, lower-case compared. Returns the count. */
static size_t split_signed(const char *list, struct name_ref *names, size_t cap)
{
    size_t n = 0;
    const char *p = list;
    while (*p != '\0' && n < cap) {
        const char *semi = strchr(p, ';');
        size_t len = semi != NULL ? (size_t)(semi - p) : strlen(p);
        if (len > 0) {
            names[n].name = p;
            names[n].len = len;
            n++;
        }
        p += len;
        if (*p == ';') {
            p++;
        }
    }
    qsort(names, n, sizeof(*names), name_ref_cmp);
    return n;
}

static void append_lower(struct buf *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        buf_putc(out, (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
    }
}

int sigv4_canonical_request(const struct sigv4_request *req, const struct sigv4_auth *auth,
                            struct buf *out)
{
    buf_puts(out, req->method != NULL ? req->method : "");
    buf_putc(out, '\n');
    canonical_path(out, req->path, req->s3);
    buf_putc(out, '\n');
    int rc = canonical_query(out, req->query, auth->presigned);
    if (rc != 0) {
        return rc;
    }
    buf_putc(out, '\n');

    /* at most one name per two bytes of a 2048-byte list */
    struct name_ref names[1024];
    size_t n = split_signed(auth->signed_headers, names, sizeof(names) / sizeof(names[0]));
    for (size_t i = 0; i < n; i++) {
        append_lower(out, names[i].name, names[i].len);
        buf_putc(out, ':');
        int first = 1;
        for (size_t h = 0; h < req->n_headers; h++) {
            const char *hn = req->headers[h].name;
            if (hn == NULL || strlen(hn) != names[i].len ||
                strncasecmp(hn, names[i].name, names[i].len) != 0) {
                continue;
            }
            if (!first) {
                buf_putc(out, ',');
            }
            append_trimmed(out, req->headers[h].value != NULL ? req->headers[h].value : "");
            first = 0;
        }
        buf_putc(out, '\n');
    }
    buf_putc(out, '\n');
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            buf_putc(out, ';');
        }
        append_lower(out, names[i].name, names[i].len);
    }
    buf_putc(out, '\n');
    buf_puts(out, req->payload_hash != NULL ? req->payload_hash : EMPTY_SHA256);
    return buf_status(out);
}

int sigv4_string_to_sign(const struct sigv4_auth *auth, const char *canonical_request, size_t len,
                         struct buf *out)
{
    uint8_t digest[SHA256_LEN];
    char hex[2 * SHA256_LEN + 1];
    crypto_sha256(canonical_request, len, digest);
    hex_encode(digest, SHA256_LEN, hex);
    buf_printf(out, ALGORITHM "\n%s\n%s\n%s", auth->amz_date, auth->scope, hex);
    return buf_status(out);
}

/*
 * The last signing key each thread derived, with what it was derived from: a client
 * signs request after request with the same key (one a day, region and service), and
 * deriving it costs four HMACs. Kept only for secrets and scopes that fit.
 */
struct key_memo {
    char secret[128];
    char scope[96]; /* date/region/service */
    uint8_t key[SHA256_LEN];
};
static _Thread_local struct key_memo memo;

void sigv4_signing_key(const char *secret, const char *date, const char *region,
                       const char *service, uint8_t key_out[32])
{
    char scope[sizeof(memo.scope)];
    int n = snprintf(scope, sizeof(scope), "%s/%s/%s", date, region, service);
    int memoable = n > 0 && (size_t)n < sizeof(scope) && strlen(secret) < sizeof(memo.secret);
    if (memoable && memo.secret[0] != '\0' && strcmp(memo.scope, scope) == 0 &&
        strlen(memo.secret) == strlen(secret) &&
        crypto_equal(memo.secret, secret, strlen(secret))) {
        memcpy(key_out, memo.key, SHA256_LEN);
        return;
    }
    size_t secret_len = strlen(secret);
    char *k = xmalloc(secret_len + 5);
    memcpy(k, "AWS4", 4);
    memcpy(k + 4, secret, secret_len + 1);
    uint8_t k_date[SHA256_LEN], k_region[SHA256_LEN], k_service[SHA256_LEN];
    crypto_hmac_sha256(k, secret_len + 4, date, strlen(date), k_date);
    crypto_hmac_sha256(k_date, SHA256_LEN, region, strlen(region), k_region);
    crypto_hmac_sha256(k_region, SHA256_LEN, service, strlen(service), k_service);
    crypto_hmac_sha256(k_service, SHA256_LEN, "aws4_request", 12, key_out);
    memset(k, 0, secret_len + 4);
    free(k);
    if (memoable) {
        memcpy(memo.secret, secret, secret_len + 1);
        memcpy(memo.scope, scope, (size_t)n + 1);
        memcpy(memo.key, key_out, SHA256_LEN);
    }
}

/* hex(HMAC(key, sts)) into out_hex. */
static void sign_hex(const uint8_t key[32], const void *sts, size_t len, char out_hex[65])
{
    uint8_t mac[SHA256_LEN];
    crypto_hmac_sha256(key, SHA256_LEN, sts, len, mac);
    hex_encode(mac, SHA256_LEN, out_hex);
}

/* Computes the signature auth claims over req with key into out_hex. */
static int compute_signature(const struct sigv4_request *req, const struct sigv4_auth *auth,
                             const uint8_t key[32], char out_hex[65])
{
    struct buf creq, sts;
    buf_init(&creq);
    buf_init(&sts);
    int rc = sigv4_canonical_request(req, auth, &creq);
    if (rc == 0) {
        rc = sigv4_string_to_sign(auth, (const char *)creq.data, creq.len, &sts);
    }
    if (rc == 0) {
        sign_hex(key, sts.data, sts.len, out_hex);
    }
    buf_fini(&sts);
    buf_fini(&creq);
    return rc;
}

/* 1 when the ';' list names host (or HTTP/2's :authority). */
static int host_is_signed(const char *list)
{
    const char *p = list;
    while (*p != '\0') {
        const char *semi = strchr(p, ';');
        size_t len = semi != NULL ? (size_t)(semi - p) : strlen(p);
        if ((len == 4 && strncasecmp(p, "host", 4) == 0) ||
            (len == 10 && strncasecmp(p, ":authority", 10) == 0)) {
            return 1;
        }
        p += len;
        if (*p == ';') {
            p++;
        }
    }
    return 0;
}

int sigv4_verify(const struct sigv4_request *req, const struct sigv4_auth *auth, const char *secret,
                 int64_t now_ms, uint8_t signing_key_out[32], struct err_info *err)
{
    int64_t date_ms = amz_date_to_ms(auth->amz_date);
    if (date_ms < 0) {
        return err_set(err, SL_E(AUTH_MALFORMED),
                       "Date must be in ISO-8601 'basic format'. Got '%s'.", auth->amz_date);
    }
    char now_s[17], bound_s[17];
    ms_to_amz_date(now_ms, now_s);
    if (date_ms > now_ms + SIGV4_MAX_SKEW_MS) {
        if (auth->presigned && req->s3) {
            /* S3 answers AccessDenied for both; see sigv4.h */
            return err_set(err, SL_E(AUTH_EXPIRED), "Request is not yet valid");
        }
        ms_to_amz_date(now_ms + SIGV4_MAX_SKEW_MS, bound_s);
        return err_set(err, SL_E(AUTH_SKEWED),
                       "Signature not yet current: %s is still later than %s (%s + 15 min.)",
                       auth->amz_date, bound_s, now_s);
    }
    if (auth->presigned && auth->expires_s >= 0) {
        if (now_ms > date_ms + auth->expires_s * 1000) {
            return err_set(err, SL_E(AUTH_EXPIRED), "Request has expired");
        }
    } else if (date_ms < now_ms - SIGV4_MAX_SKEW_MS) {
        ms_to_amz_date(now_ms - SIGV4_MAX_SKEW_MS, bound_s);
        return err_set(err, SL_E(AUTH_SKEWED),
                       "Signature expired: %s is now earlier than %s (%s - 15 min.)",
                       auth->amz_date, bound_s, now_s);
    }
    if (!host_is_signed(auth->signed_headers)) {
        return err_set(err, SL_E(AUTH_MALFORMED),
                       "'Host' or ':authority' must be a 'SignedHeader' in the AWS "
                       "Authorization.");
    }
    if (memcmp(auth->date, auth->amz_date, 8) != 0) {
        return err_set(err, SL_E(AUTH_MALFORMED),
                       "Date in Credential scope does not match YYYYMMDD from "
                       "ISO-8601 version "
                       "of date from HTTP: '%s' != '%.8s', from '%s'.",
                       auth->date, auth->amz_date, auth->amz_date);
    }
    uint8_t key[SHA256_LEN];
    sigv4_signing_key(secret, auth->date, auth->region, auth->service, key);
    char expected[65];
    int rc = compute_signature(req, auth, key, expected);
    if (rc != 0) {
        memset(key, 0, sizeof(key));
        return err_set(err, rc, "out of memory");
    }
    if (strlen(auth->signature) != 64 || !crypto_equal(expected, auth->signature, 64)) {
        memset(key, 0, sizeof(key));
        return err_set(err, SL_E(AUTH_BAD_SIGNATURE),
                       "The request signature we calculated does not match the signature you "
                       "provided. Check your AWS Secret Access Key and signing method. "
                       "Consult "
                       "the service documentation for details.");
    }
    if (signing_key_out != NULL) {
        memcpy(signing_key_out, key, SHA256_LEN);
    }
    memset(key, 0, sizeof(key));
    return 0;
}

int sigv4_check_scope(const struct sigv4_auth *auth, int s3, const char *service,
                      const char *region, struct err_info *err)
{
    const char *where = auth->presigned ? "Error parsing the X-Amz-Credential parameter;"
                                        : "The authorization header is malformed;";
    if (strcmp(auth->region, region) != 0) {
        if (s3) {
            return err_set(err, SL_E(AUTH_MALFORMED),
                           "%s the region '%.63s' is wrong; expecting '%s'", where, auth->region,
                           region);
        }
        return err_set(err, SL_E(AUTH_BAD_SIGNATURE),
                       "Credential should be scoped to a valid region, not '%.63s'. ",
                       auth->region);
    }
    if (service != NULL && strcmp(auth->service, service) != 0) {
        if (s3) {
            return err_set(err, SL_E(AUTH_MALFORMED),
                           "%s incorrect service \"%.63s\". This endpoint belongs to \"%s\".",
                           where, auth->service, service);
        }
        return err_set(err, SL_E(AUTH_BAD_SIGNATURE),
                       "Credential should be scoped to correct service: '%s'. ", service);
    }
    return 0;
}

void sigv4_chunk_signature(const uint8_t signing_key[32], const char *amz_date, const char *scope,
                           const char *prev_signature, const char *chunk_sha256_hex,
                           char out_hex[65])
{
    char sts[512];
    int len = snprintf(sts, sizeof(sts), ALGORITHM "-PAYLOAD\n%.16s\n%.255s\n%.64s\n%s\n%.64s",
                       amz_date, scope, prev_signature, EMPTY_SHA256, chunk_sha256_hex);
    sign_hex(signing_key, sts, (size_t)len < sizeof(sts) ? (size_t)len : sizeof(sts) - 1, out_hex);
}

void sigv4_trailer_signature(const uint8_t signing_key[32], const char *amz_date, const char *scope,
                             const char *prev_signature, const char *trailer_sha256_hex,
                             char out_hex[65])
{
    char sts[512];
    int len = snprintf(sts, sizeof(sts), ALGORITHM "-TRAILER\n%.16s\n%.255s\n%.64s\n%.64s",
                       amz_date, scope, prev_signature, trailer_sha256_hex);
    sign_hex(signing_key, sts, (size_t)len < sizeof(sts) ? (size_t)len : sizeof(sts) - 1, out_hex);
}

int sigv4_sign(const struct sigv4_request *req, const char *access_key_id, const char *secret,
               const char *amz_date, const char *region, const char *service,
               struct buf *authorization_out)
{
    struct sigv4_auth *auth = xcalloc(1, sizeof(*auth));
    int rc = 0;
    if (strlen(amz_date) != 16 || strlen(region) >= sizeof(auth->region) ||
        strlen(service) >= sizeof(auth->service) ||
        strlen(access_key_id) >= sizeof(auth->access_key_id)) {
        rc = SL_E(INTERNAL);
        goto out_free;
    }
    memcpy(auth->amz_date, amz_date, 17);
    memcpy(auth->date, amz_date, 8);
    snprintf(auth->region, sizeof(auth->region), "%s", region);
    snprintf(auth->service, sizeof(auth->service), "%s", service);
    snprintf(auth->scope, sizeof(auth->scope), "%s/%s/%s/aws4_request", auth->date, region,
             service);

    /* every header but Authorization, lower-case, sorted, each name once */
    struct buf list;
    buf_init(&list);
    struct name_ref *names = xcalloc(req->n_headers + 1, sizeof(*names));
    size_t n = 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        if (req->headers[i].name != NULL &&
            strcasecmp(req->headers[i].name, "authorization") != 0) {
            names[n].name = req->headers[i].name;
            names[n].len = strlen(req->headers[i].name);
            n++;
        }
    }
    qsort(names, n, sizeof(*names), name_ref_cmp);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && name_ref_cmp(&names[i - 1], &names[i]) == 0) {
            continue;
        }
        if (list.len > 0) {
            buf_putc(&list, ';');
        }
        append_lower(&list, names[i].name, names[i].len);
    }
    free(names);
    rc = buf_status(&list);
    if (rc == 0 && list.len >= sizeof(auth->signed_headers)) {
        rc = SL_E(INTERNAL);
    }
    if (rc == 0) {
        memcpy(auth->signed_headers, list.data, list.len + 1);
    }
    buf_fini(&list);
    if (rc != 0) {
        goto out_free;
    }

    uint8_t key[SHA256_LEN];
    sigv4_signing_key(secret, auth->date, region, service, key);
    char sig[65];
    rc = compute_signature(req, auth, key, sig);
    memset(key, 0, sizeof(key));
    if (rc == 0) {
        buf_printf(authorization_out, ALGORITHM " Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                   access_key_id, auth->scope, auth->signed_headers, sig);
        rc = buf_status(authorization_out);
    }
out_free:
    free(auth);
    return rc;
}
