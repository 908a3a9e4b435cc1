/*
 * A small strict XML reader for the request bodies S3 takes (DeleteObjects,
 * CompleteMultipartUpload, CreateBucketConfiguration, Tagging, VersioningConfiguration).
 *
 * Accepted grammar (a subset of XML 1.0, enough for every S3 request body):
 *   document  := BOM? ws? ('<?xml' ... '?>')? misc* element misc*
 *   misc      := ws | comment
 *   element   := '<' name attr* ws? '/>' | '<' name attr* ws? '>' content '</' name ws? '>'
 *   attr      := ws name ws? '=' ws? ('"' [^<&"]* '"' | "'" [^<&']* "'")  (refs allowed)
 *   content   := (chardata | reference | element | comment | CDATA)*
 *   reference := '&lt;' | '&gt;' | '&amp;' | '&quot;' | '&apos;' | '&#' digits ';' | '&#x' hex ';'
 * Rejected: DOCTYPE (so no entity expansion), processing instructions after the prolog,
 * a closing tag that does not match, text outside the root, character references to
 * NUL or past U+10FFFF, nesting deeper than XML_MAX_DEPTH, more than XML_MAX_NODES
 * elements. Names keep only their local part ("s3:Key" -> "Key"); attributes
 * (xmlns) are checked and dropped. Each element's text is its character data
 * concatenated, decoded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "lake/s3_int.h"

#define XML_MAX_DEPTH 32
#define XML_MAX_NODES 200000

struct parser {
    const char *p;   /* next byte */
    const char *end; /* one past the last byte */
    size_t n_nodes;  /* elements so far */
};

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end && is_ws(*ps->p)) {
        ps->p++;
    }
}

static int starts(const struct parser *ps, const char *s)
{
    size_t n = strlen(s);
    return (size_t)(ps->end - ps->p) >= n && memcmp(ps->p, s, n) == 0;
}

static int name_start(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ':' || c >= 0x80;
}

static int name_char(unsigned char c)
{
    return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

/* Reads a name; *start and *len get it. Returns 0 or -1. */
static int read_name(struct parser *ps, const char **start, size_t *len)
{
    if (ps->p >= ps->end || !name_start((unsigned char)*ps->p)) {
        return -1;
    }
    *start = ps->p;
    while (ps->p < ps->end && name_char((unsigned char)*ps->p)) {
        ps->p++;
    }
    *len = (size_t)(ps->p - *start);
    return 0;
}

/* Skips a comment at ps->p ("<!--" already matched). */
static int skip_comment(struct parser *ps)
{
    ps->p += 4;
    while (ps->p + 3 <= ps->end) {
        if (memcmp(ps->p, "-->", 3) == 0) {
            ps->p += 3;
            return 0;
        }
        ps->p++;
    }
    return -1;
}

static void put_utf8(struct buf *b, unsigned long cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    buf_append(b, u, n);
}

/* Decodes a reference at ps->p ('&'), appending to out (may be NULL). 0 or -1. */
static int read_reference(struct parser *ps, struct buf *out)
{
    static const struct {
        const char *ref;
        char c;
    } named[] = {{"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&apos;", '\''}};
    for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
        if (starts(ps, named[i].ref)) {
            ps->p += strlen(named[i].ref);
            if (out != NULL) {
                buf_putc(out, named[i].c);
            }
            return 0;
        }
    }
    if (!starts(ps, "&#")) {
        return -1;
    }
    ps->p += 2;
    int hex = 0;
    if (ps->p < ps->end && *ps->p == 'x') {
        hex = 1;
        ps->p++;
    }
    unsigned long cp = 0;
    int digits = 0;
    while (ps->p < ps->end && *ps->p != ';') {
        char c = *ps->p++;
        int v;
        if (c >= '0' && c <= '9') {
            v = c - '0';
        } else if (hex && c >= 'a' && c <= 'f') {
            v = c - 'a' + 10;
        } else if (hex && c >= 'A' && c <= 'F') {
            v = c - 'A' + 10;
        } else {
            return -1;
        }
        cp = cp * (hex ? 16 : 10) + (unsigned long)v;
        if (cp > 0x10ffff || ++digits > 8) {
            return -1;
        }
    }
    if (ps->p >= ps->end || digits == 0 || cp == 0 || (cp >= 0xd800 && cp <= 0xdfff)) {
        return -1;
    }
    ps->p++; /* ';' */
    if (out != NULL) {
        put_utf8(out, cp);
    }
    return 0;
}

static int skip_attributes(struct parser *ps)
{
    for (;;) {
        const char *before = ps->p;
        skip_ws(ps);
        if (ps->p >= ps->end) {
            return -1;
        }
        if (*ps->p == '>' || *ps->p == '/') {
            return 0;
        }
        if (ps->p == before) {
            return -1; /* attributes need white space before them */
        }
        const char *name;
        size_t len;
        if (read_name(ps, &name, &len) < 0) {
            return -1;
        }
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != '=') {
            return -1;
        }
        ps->p++;
        skip_ws(ps);
        if (ps->p >= ps->end || (*ps->p != '"' && *ps->p != '\'')) {
            return -1;
        }
        char q = *ps->p++;
        while (ps->p < ps->end && *ps->p != q) {
            if (*ps->p == '<') {
                return -1;
            }
            if (*ps->p == '&') {
                if (read_reference(ps, NULL) < 0) {
                    return -1;
                }
            } else {
                ps->p++;
            }
        }
        if (ps->p >= ps->end) {
            return -1;
        }
        ps->p++;
    }
}

static const char *local_name(const char *name, size_t *len)
{
    const char *colon = memchr(name, ':', *len);
    if (colon != NULL) {
        *len -= (size_t)(colon + 1 - name);
        return colon + 1;
    }
    return name;
}

/* Parses one element at ps->p ('<') into node. Returns 0 or -1. */
static int parse_element(struct parser *ps, struct s3_xml_node *node, int depth)
{
    if (depth > XML_MAX_DEPTH || ++ps->n_nodes > XML_MAX_NODES) {
        return -1;
    }
    ps->p++; /* '<' */
    const char *name;
    size_t name_len;
    if (read_name(ps, &name, &name_len) < 0 || skip_attributes(ps) < 0) {
        return -1;
    }
    size_t local_len = name_len;
    const char *local = local_name(name, &local_len);
    node->name = xstrndup(local, local_len);
    if (*ps->p == '/') {
        ps->p++;
        if (ps->p >= ps->end || *ps->p != '>') {
            return -1;
        }
        ps->p++;
        node->text = xstrdup("");
        return 0;
    }
    ps->p++; /* '>' */
    struct buf text;
    buf_init(&text);
    size_t cap = 0;
    int rc = -1;
    for (;;) {
        if (ps->p >= ps->end) {
            goto out;
        }
        char c = *ps->p;
        if (c == '&') {
            if (read_reference(ps, &text) < 0) {
                goto out;
            }
        } else if (c != '<') {
            const char *start = ps->p;
            while (ps->p < ps->end && *ps->p != '<' && *ps->p != '&') {
                if (*ps->p == '>' && ps->p - start >= 2 && memcmp(ps->p - 2, "]]", 2) == 0) {
                    goto out; /* "]]>" is not allowed in character data */
                }
                ps->p++;
            }
            buf_append(&text, start, (size_t)(ps->p - start));
        } else if (starts(ps, "<!--")) {
            if (skip_comment(ps) < 0) {
                goto out;
            }
        } else if (starts(ps, "<![CDATA[")) {
            ps->p += 9;
            const char *start = ps->p;
            while (ps->p + 3 <= ps->end && memcmp(ps->p, "]]>", 3) != 0) {
                ps->p++;
            }
            if (ps->p + 3 > ps->end) {
                goto out;
            }
            buf_append(&text, start, (size_t)(ps->p - start));
            ps->p += 3;
        } else if (starts(ps, "</")) {
            ps->p += 2;
            const char *close;
            size_t close_len;
            if (read_name(ps, &close, &close_len) < 0 || close_len != name_len ||
                memcmp(close, name, name_len) != 0) {
                goto out;
            }
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != '>') {
                goto out;
            }
            ps->p++;
            break;
        } else if (ps->p + 1 < ps->end && name_start((unsigned char)ps->p[1])) {
            if (node->n_children == cap) {
                cap = cap ? cap * 2 : 4;
                node->children = xrealloc(node->children, cap * sizeof(*node->children));
            }
            struct s3_xml_node *child = &node->children[node->n_children++];
            memset(child, 0, sizeof(*child));
            if (parse_element(ps, child, depth + 1) < 0) {
                goto out;
            }
        } else {
            goto out; /* DOCTYPE, PI, stray '<' */
        }
    }
    if (buf_status(&text) < 0) {
        goto out;
    }
    node->text_len = text.len;
    node->text = text.data ? (char *)buf_steal(&text, NULL) : xstrdup("");
    rc = 0;
out:
    buf_fini(&text);
    return rc;
}

static void node_fini(struct s3_xml_node *n)
{
    for (size_t i = 0; i < n->n_children; i++) {
        node_fini(&n->children[i]);
    }
    free(n->children);
    free(n->name);
    free(n->text);
}

void s3__xml_free(struct s3_xml_node *root)
{
    if (root != NULL) {
        node_fini(root);
        free(root);
    }
}

/* Skips white space and comments between prolog, root and end. */
static int skip_misc(struct parser *ps)
{
    for (;;) {
        skip_ws(ps);
        if (starts(ps, "<!--")) {
            if (skip_comment(ps) < 0) {
                return -1;
            }
            continue;
        }
        return 0;
    }
}

int s3__xml_parse(const char *data, size_t len, struct s3_xml_node **root_out)
{
    *root_out = NULL;
    struct parser ps = {.p = data, .end = data + len};
    if (starts(&ps, "\xef\xbb\xbf")) {
        ps.p += 3;
    }
    skip_ws(&ps);
    if (starts(&ps, "<?xml")) {
        ps.p += 5;
        while (ps.p + 2 <= ps.end && memcmp(ps.p, "?>", 2) != 0) {
            ps.p++;
        }
        if (ps.p + 2 > ps.end) {
            return -1;
        }
        ps.p += 2;
    }
    if (skip_misc(&ps) < 0 || ps.p >= ps.end || *ps.p != '<' || ps.p + 1 >= ps.end ||
        !name_start((unsigned char)ps.p[1])) {
        return -1;
    }
    struct s3_xml_node *root = xcalloc(1, sizeof(*root));
    if (parse_element(&ps, root, 0) < 0 || skip_misc(&ps) < 0 || ps.p != ps.end) {
        s3__xml_free(root);
        return -1;
    }
    *root_out = root;
    return 0;
}

const struct s3_xml_node *s3__xml_child(const struct s3_xml_node *n, const char *name)
{
    for (size_t i = 0; n != NULL && i < n->n_children; i++) {
        if (strcmp(n->children[i].name, name) == 0) {
            return &n->children[i];
        }
    }
    return NULL;
}

const char *s3__xml_child_text(const struct s3_xml_node *n, const char *name)
{
    const struct s3_xml_node *c = s3__xml_child(n, name);
    return c ? c->text : NULL;
}
