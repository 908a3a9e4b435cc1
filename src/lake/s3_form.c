/*
 * multipart/form-data (RFC 7578) as browsers send an S3 POST Object form: parts
 * separated by "--boundary", each with headers (Content-Disposition naming the field,
 * and for the file its filename and Content-Type) and a body ending at "\r\n--boundary".
 * The file is not copied: its place in the body is recorded. Everything here is sized
 * by the client, so every allocation may fail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"
#include "lake/s3_int.h"

#define PART_HEADERS_MAX 8192

static const char malformed[] =
    "The body of your POST request is not well-formed multipart/form-data.";

int s3__form_boundary(const char *ct, char *out, size_t size)
{
    if (ct == NULL) {
        return -1;
    }
    ct += strspn(ct, " \t");
    static const char type[] = "multipart/form-data";
    if (strncasecmp(ct, type, sizeof(type) - 1) != 0) {
        return -1;
    }
    for (const char *p = ct + sizeof(type) - 1; (p = strchr(p, ';')) != NULL;) {
        p++;
        p += strspn(p, " \t");
        if (strncasecmp(p, "boundary=", 9) != 0) {
            continue;
        }
        p += 9;
        size_t len;
        if (*p == '"') {
            p++;
            const char *q = strchr(p, '"');
            if (q == NULL) {
                return -1;
            }
            len = (size_t)(q - p);
        } else {
            len = strcspn(p, "; \t");
        }
        if (len == 0 || len > 70 || len + 1 > size) {
            return -1;
        }
        memcpy(out, p, len);
        out[len] = '\0';
        return 0;
    }
    return -1;
}

/* The value of parameter name="..." (or unquoted) in a header value, allocated; NULL
   when absent. *nomem is set when the allocation failed. */
static char *param(const char *v, size_t v_len, const char *name, int *nomem)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < v_len; i++) {
        if (v[i] != ';') {
            continue;
        }
        size_t j = i + 1;
        while (j < v_len && (v[j] == ' ' || v[j] == '\t')) {
            j++;
        }
        if (j + nl + 1 > v_len || strncasecmp(v + j, name, nl) != 0 || v[j + nl] != '=') {
            continue;
        }
        j += nl + 1;
        size_t start = j, end;
        if (j < v_len && v[j] == '"') {
            start = ++j;
            while (j < v_len && v[j] != '"') {
                j++;
            }
            if (j >= v_len) {
                return NULL;
            }
            end = j;
        } else {
            while (j < v_len && v[j] != ';' && v[j] != ' ' && v[j] != '\t') {
                j++;
            }
            end = j;
        }
        char *out = try_malloc(end - start + 1);
        if (out == NULL) {
            *nomem = 1;
            return NULL;
        }
        memcpy(out, v + start, end - start);
        out[end - start] = '\0';
        return out;
    }
    return NULL;
}

/* Reads the headers of one part in hdr[0, len): its field name, filename and type. */
static int part_headers(const char *hdr, size_t len, char **name, char **filename, char **ctype)
{
    int nomem = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *line = hdr + pos;
        const char *eol = memchr(line, '\r', len - pos);
        size_t ll = eol != NULL ? (size_t)(eol - line) : len - pos;
        pos += ll + 2;
        const char *colon = memchr(line, ':', ll);
        if (colon == NULL) {
            return -1;
        }
        size_t hn = (size_t)(colon - line);
        const char *v = colon + 1;
        size_t vl = ll - hn - 1;
        while (vl > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            vl--;
        }
        if (hn == 19 && strncasecmp(line, "Content-Disposition", 19) == 0) {
            if (vl < 9 || strncasecmp(v, "form-data", 9) != 0 || *name != NULL ||
                *filename != NULL) {
                return -1;
            }
            *name = param(v, vl, "name", &nomem);
            *filename = param(v, vl, "filename", &nomem);
        } else if (hn == 12 && strncasecmp(line, "Content-Type", 12) == 0 && *ctype == NULL) {
            *ctype = try_malloc(vl + 1);
            if (*ctype == NULL) {
                return SL_E(NOMEM);
            }
            memcpy(*ctype, v, vl);
            (*ctype)[vl] = '\0';
        }
    }
    if (nomem) {
        return SL_E(NOMEM);
    }
    return *name != NULL ? 0 : -1;
}

static int fail(struct err_info *err)
{
    return err_set(err, SL_E(MALFORMED_POST), "%s", malformed);
}

int s3__form_parse(const uint8_t *body, size_t len, const char *boundary, struct s3_form *out,
                   struct err_info *err)
{
    memset(out, 0, sizeof(*out));
    size_t bl = strlen(boundary);
    if (bl == 0 || bl > 70) {
        return fail(err);
    }
    /* "\r\n--" boundary: the delimiter; the first may start the body. */
    char delim[80];
    int dl = snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
    const uint8_t *end = body + len;
    const uint8_t *p;
    if (len >= (size_t)dl - 2 && memcmp(body, delim + 2, (size_t)dl - 2) == 0) {
        p = body + dl - 2;
    } else {
        p = memmem(body, len, delim, (size_t)dl);
        if (p == NULL) {
            return fail(err);
        }
        p += dl;
    }
    for (;;) {
        /* After a delimiter: "--" ends the form, else CRLF and a part. */
        if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
            return 0;
        }
        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
            return fail(err);
        }
        p += 2;
        size_t avail = (size_t)(end - p);
        const uint8_t *hend =
            memmem(p, avail < PART_HEADERS_MAX ? avail : PART_HEADERS_MAX, "\r\n\r\n", 4);
        size_t hlen;
        if (hend == NULL) {
            return fail(err);
        }
        hlen = (size_t)(hend - p);
        char *name = NULL, *filename = NULL, *ctype = NULL;
        int rc = part_headers((const char *)p, hlen, &name, &filename, &ctype);
        const uint8_t *data = hend + 4;
        if (rc == 0 && data > end) {
            rc = -1;
        }
        const uint8_t *next =
            rc == 0 ? memmem(data, (size_t)(end - data), delim, (size_t)dl) : NULL;
        if (rc == 0 && next == NULL) {
            rc = -1;
        }
        int is_file = rc == 0 && strcasecmp(name, "file") == 0;
        if (rc == 0 && is_file) {
            out->has_file = 1;
            out->file_name = filename != NULL ? filename : try_malloc(1);
            if (out->file_name == NULL) {
                rc = SL_E(NOMEM);
            } else if (filename == NULL) {
                out->file_name[0] = '\0';
            }
            filename = NULL;
            out->file_content_type = ctype;
            ctype = NULL;
            out->file_offset = (size_t)(data - body);
            out->file_len = (size_t)(next - data);
        } else if (rc == 0) {
            size_t vl = (size_t)(next - data);
            if (out->n_fields >= S3_FORM_MAX_FIELDS || vl > S3_FORM_MAX_VALUE) {
                rc = -1;
            } else {
                char *value = try_malloc(vl + 1);
                struct s3_form_field *grown =
                    value != NULL
                        ? try_realloc(out->fields, (out->n_fields + 1) * sizeof(*out->fields))
                        : NULL;
                if (grown == NULL) {
                    free(value);
                    rc = SL_E(NOMEM);
                } else {
                    memcpy(value, data, vl);
                    value[vl] = '\0';
                    out->fields = grown;
                    out->fields[out->n_fields++] =
                        (struct s3_form_field){.name = name, .value = value, .value_len = vl};
                    name = NULL;
                }
            }
        }
        free(name);
        free(filename);
        free(ctype);
        if (rc == SL_E(NOMEM)) {
            return err_set(err, rc, "We encountered an internal error. Please try again.");
        }
        if (rc < 0) {
            return fail(err);
        }
        if (is_file) {
            return 0;
        }
        p = next + dl;
    }
}

void s3__form_fini(struct s3_form *f)
{
    for (size_t i = 0; i < f->n_fields; i++) {
        free(f->fields[i].name);
        free(f->fields[i].value);
    }
    free(f->fields);
    free(f->file_name);
    free(f->file_content_type);
    memset(f, 0, sizeof(*f));
}

const struct s3_form_field *s3__form_get(const struct s3_form *f, const char *name)
{
    for (size_t i = 0; i < f->n_fields; i++) {
        if (strcasecmp(f->fields[i].name, name) == 0) {
            return &f->fields[i];
        }
    }
    return NULL;
}
