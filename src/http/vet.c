/*
 * Vetting a request head from the raw bytes, and reading it: the acceptor peeks at a
 * connection's first head (MSG_PEEK) to refuse a malformed one without a thread, and
 * the HTTP/1.1 engine (h1.c) reads every head of a connection through the same rule, so
 * that no shape a proxy in front of Sluice may read differently (a bare LF ending a
 * line, a header folded onto the next line) is ever taken. The rule:
 *
 *   head         = request-line *( header-line ) CRLF
 *   request-line = method SP target SP ( "HTTP/1.1" / "HTTP/1.0" ) CRLF
 *   header-line  = name ":" value CRLF
 *   method, name = 1*tchar (RFC 9110 token)
 *   target       = 1*( any byte above SP but DEL ), at most VET_MAX_TARGET bytes
 *   value        = *( HTAB / SP / VCHAR / obs-text ), no CR, LF or other control
 *   Content-Length value = 1*19DIGIT, optional spaces around it
 *
 * with at most VET_MAX_FIELDS header lines, and the whole head at most max_head bytes.
 * Anything else is refused:
 *   a version that looks like HTTP/x.y but is neither  → 505
 *   a target longer than VET_MAX_TARGET                → 414
 *   no end of the head within max_head bytes           → 431
 *   everything else (bare LF or CR, a line starting with SP or HTAB, a header line
 *   without a colon or with space before it, a control byte)            → 400
 */
#include <string.h>
#include <strings.h>

#include "http/http_int.h"

static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Checks the request line [line, line+len) (CRLF excluded) and notes its parts. */
static int vet_request_line(const char *line, size_t len, struct vet_head *out, const char **reason)
{
    size_t i = 0;
    while (i < len && is_tchar((unsigned char)line[i])) {
        i++;
    }
    if (i == 0 || i == len || line[i] != ' ') {
        *reason = "Malformed request line";
        return -400;
    }
    out->method = line;
    out->method_len = i;
    size_t target = ++i;
    while (i < len && (unsigned char)line[i] > ' ' && (unsigned char)line[i] != 0x7f) {
        i++;
    }
    if (i - target > VET_MAX_TARGET) {
        *reason = "The request URI is too long";
        return -414;
    }
    if (i == target || i == len || line[i] != ' ') {
        *reason = "Malformed request line";
        return -400;
    }
    out->target = line + target;
    out->target_len = i - target;
    const char *version = line + i + 1;
    size_t version_len = len - i - 1;
    if (version_len == 8 &&
        (memcmp(version, "HTTP/1.1", 8) == 0 || memcmp(version, "HTTP/1.0", 8) == 0)) {
        out->http_minor = version[7] - '0';
        return 0;
    }
    if (version_len == 8 && memcmp(version, "HTTP/", 5) == 0 && version[6] == '.' &&
        version[5] >= '0' && version[5] <= '9' && version[7] >= '0' && version[7] <= '9') {
        *reason = "HTTP version not supported";
        return -505;
    }
    *reason = "Malformed request line";
    return -400;
}

/* Checks one header line [line, line+len) (CRLF excluded) and notes it in out. */
static int vet_header_line(const char *line, size_t len, struct vet_head *out, const char **reason)
{
    if (line[0] == ' ' || line[0] == '\t') {
        *reason = "Folded header lines (obs-fold) are not accepted";
        return -400;
    }
    size_t i = 0;
    while (i < len && is_tchar((unsigned char)line[i])) {
        i++;
    }
    if (i == 0 || i == len || line[i] != ':') {
        *reason = "Malformed header line";
        return -400;
    }
    size_t name_len = i;
    for (i++; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if ((c < ' ' && c != '\t') || c == 0x7f) {
            *reason = "Control character in a header value";
            return -400;
        }
    }
    const char *v = line + name_len + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t')) {
        v++;
    }
    while (end > v && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }
    if (out->n_fields == VET_MAX_FIELDS) {
        *reason = "The request has more header fields than the server accepts";
        return -431;
    }
    out->fields[out->n_fields++] = (struct vet_field){
        .name = line, .name_len = name_len, .value = v, .value_len = (size_t)(end - v)};
    if (name_len == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
        size_t digits = 0;
        while (v + digits < end && v[digits] >= '0' && v[digits] <= '9') {
            digits++;
        }
        if (digits == 0 || digits > 19 || v + digits != end) {
            *reason = "Malformed Content-Length";
            return -400;
        }
    }
    return 0;
}

int http__vet_head(const char *buf, size_t len, size_t max_head, struct vet_head *out,
                   const char **reason)
{
    size_t start = 0;
    int first = 1;
    *reason = "";
    out->n_fields = 0;
    while (start < len) {
        const char *lf = memchr(buf + start, '\n', len - start);
        if (lf == NULL) {
            break;
        }
        size_t end = (size_t)(lf - buf); /* index of the LF */
        if (end == start || buf[end - 1] != '\r') {
            *reason = "Lines must end with CRLF";
            return -400;
        }
        size_t line_len = end - 1 - start;
        if (memchr(buf + start, '\r', line_len) != NULL) {
            *reason = "Bare CR in the request head";
            return -400;
        }
        if (line_len == 0) {
            if (first) {
                *reason = "Malformed request line";
                return -400;
            }
            out->head_len = end + 1;
            return 1;
        }
        int rc = first ? vet_request_line(buf + start, line_len, out, reason)
                       : vet_header_line(buf + start, line_len, out, reason);
        if (rc < 0) {
            return rc;
        }
        first = 0;
        start = end + 1;
    }
    if (first && len - start > VET_MAX_TARGET + 64) {
        *reason = "The request URI is too long";
        return -414;
    }
    if (len >= max_head) {
        *reason = "The request head is larger than the server accepts";
        return -431;
    }
    return 0;
}
