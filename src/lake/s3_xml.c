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
 * Characters: the document is UTF-8 and every character in it, written or referenced,
 * is a Char of XML 1.0 (section 2.2):
 *   Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
 * so NUL, the other C0 controls, &#0; and references to any non-Char, surrogates
 * (lone or paired, raw or referenced: UTF-8 cannot carry them), U+FFFE/U+FFFF,
 * overlong or truncated UTF-8 make the document malformed. A decoded text therefore
 * never holds a NUL; it still carries its length (text_len), and callers that need a C
 * string check that the two agree.
 * Rejected too: DOCTYPE (so no entity expansion), processing instructions after the
 * prolog, a closing tag that does not match, text outside the root, nesting deeper than
 * XML_MAX_DEPTH, more than XML_MAX_NODES elements. Names keep only their local part
 * ("s3:Key" -> "Key"); attributes (xmlns) are checked and dropped. Each element's text
 * is its character data concatenated, decoded.
 *
 * Memory: everything is sized by the client, so it is allocated with the may-fail
 * allocator (core/mem.h) and grows geometrically; running out is SL_E(NOMEM), told
 * apart from a malformed document. Texts are allocated at their exact length, so a
 * tree costs a bounded multiple of the body.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "lake/s3_int.h"

#define XML_MAX_DEPTH 32
#define XML_MAX_NODES 200000

/* What the parse functions return besides 0: the document is bad, or memory ran out. */
#define BAD (-1)
#define NOMEM SL_E(NOMEM)

struct parser {
    const char *p;   /* next byte */
    const char *end; /* one past the last byte */
    size_t n_nodes;  /* elements so far */
    struct buf text; /* scratch for the element whose text is being read */
};

/* 1 when cp is a Char of XML 1.0. */
static int is_xml_char(unsigned long cp)
{
    return cp == 0x9 || cp == 0xa || cp == 0xd || (cp >= 0x20 && cp <= 0xd7ff) ||
           (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

/*
 * 1 when the len bytes at s are well-formed UTF-8 (RFC 3629: shortest form, no
 * surrogates, at most U+10FFFF) of XML Chars only.
 */
static int chars_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c < 0x80) {
            if (!is_xml_char(c)) {
                return 0;
            }
            i++;
            continue;
        }
        /* The sequence's length, its lead byte's payload, its smallest code point. */
        size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        unsigned long cp = c & (0x7f >> n);
        unsigned long min = n == 2 ? 0x80 : n == 3 ? 0x800 : 0x10000;
        if (c < 0xc2 || c > 0xf4) {
            return 0; /* a continuation byte first, 0xc0/0xc1 (overlong), or past 0xf4 */
        }
        if (len - i < n) {
            return 0;
        }
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || !is_xml_char(cp)) {
            return 0; /* overlong, a surrogate, U+FFFE/U+FFFF, past U+10FFFF */
        }
        i += n;
    }
    return 1;
}

/* A copy of len bytes at s with a NUL after them, from the may-fail allocator. */
static char *try_strndup(const char *s, size_t len)
{
    char *p = try_malloc(len + 1);
    if (p != NULL) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

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
    if (ps->p >= ps->end || digits == 0 || !is_xml_char(cp)) {
        return -1; /* &#0;, a control, a surrogate, U+FFFE/U+FFFF */
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

/*
 * Reads the content of the element being parsed up to and including its closing tag
 * (name, name_len), its children into node->children, its text into node->text.
 * Returns 0, BAD or NOMEM.
 */
static int parse_element(struct parser *ps, struct s3_xml_node *node, int depth);

static int parse_content(struct parser *ps, struct s3_xml_node *node, const char *name,
                         size_t name_len, int depth)
{
    size_t cap = 0;
    size_t text_start = ps->text.len; /* the scratch is shared down the tree */
    for (;;) {
        if (ps->p >= ps->end) {
            return BAD;
        }
        char c = *ps->p;
        if (c == '&') {
            if (read_reference(ps, &ps->text) < 0) {
                return BAD;
            }
        } else if (c != '<') {
            const char *start = ps->p;
            while (ps->p < ps->end && *ps->p != '<' && *ps->p != '&') {
                if (*ps->p == '>' && ps->p - start >= 2 && memcmp(ps->p - 2, "]]", 2) == 0) {
                    return BAD; /* "]]>" is not allowed in character data */
                }
                ps->p++;
            }
            buf_append(&ps->text, start, (size_t)(ps->p - start));
        } else if (starts(ps, "<!--")) {
            if (skip_comment(ps) < 0) {
                return BAD;
            }
        } else if (starts(ps, "<![CDATA[")) {
            ps->p += 9;
            const char *start = ps->p;
            while (ps->p + 3 <= ps->end && memcmp(ps->p, "]]>", 3) != 0) {
                ps->p++;
            }
            if (ps->p + 3 > ps->end) {
                return BAD;
            }
            buf_append(&ps->text, start, (size_t)(ps->p - start));
            ps->p += 3;
        } else if (starts(ps, "</")) {
            ps->p += 2;
            const char *close;
            size_t close_len;
            if (read_name(ps, &close, &close_len) < 0 || close_len != name_len ||
                memcmp(close, name, name_len) != 0) {
                return BAD;
            }
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != '>') {
                return BAD;
            }
            ps->p++;
            break;
        } else if (ps->p + 1 < ps->end && name_start((unsigned char)ps->p[1])) {
            if (node->n_children == cap) {
                size_t new_cap = cap ? cap * 2 : 4;
                struct s3_xml_node *grown =
                    try_realloc(node->children, new_cap * sizeof(*node->children));
                if (grown == NULL) {
                    return NOMEM;
                }
                node->children = grown;
                cap = new_cap;
            }
            struct s3_xml_node *child = &node->children[node->n_children++];
            memset(child, 0, sizeof(*child));
            /* The child's text goes after ours in the scratch and is cut off after. */
            size_t mark = ps->text.len;
            int rc = parse_element(ps, child, depth + 1);
            ps->text.len = mark;
            if (rc < 0) {
                return rc;
            }
        } else {
            return BAD; /* DOCTYPE, PI, stray '<' */
        }
        if (buf_status(&ps->text) < 0) {
            return NOMEM;
        }
    }
    node->text_len = ps->text.len - text_start;
    node->text =
        try_strndup(ps->text.data ? (const char *)ps->text.data + text_start : "", node->text_len);
    return node->text == NULL ? NOMEM : 0;
}

/* Parses one element at ps->p ('<') into node. Returns 0, BAD or NOMEM. */
static int parse_element(struct parser *ps, struct s3_xml_node *node, int depth)
{
    if (depth > XML_MAX_DEPTH || ++ps->n_nodes > XML_MAX_NODES) {
        return BAD;
    }
    ps->p++; /* '<' */
    const char *name;
    size_t name_len;
    if (read_name(ps, &name, &name_len) < 0 || skip_attributes(ps) < 0) {
        return BAD;
    }
    size_t local_len = name_len;
    const char *local = local_name(name, &local_len);
    node->name = try_strndup(local, local_len);
    if (node->name == NULL) {
        return NOMEM;
    }
    if (*ps->p == '/') {
        ps->p++;
        if (ps->p >= ps->end || *ps->p != '>') {
            return BAD;
        }
        ps->p++;
        node->text = try_strndup("", 0);
        return node->text == NULL ? NOMEM : 0;
    }
    ps->p++; /* '>' */
    return parse_content(ps, node, name, name_len, depth);
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
    if (data == NULL) {
        data = ""; /* an empty body may come without a buffer: no arithmetic on NULL */
    }
    struct parser ps = {.p = data, .end = data + len};
    if (starts(&ps, "\xef\xbb\xbf")) {
        ps.p += 3;
    }
    if (!chars_valid((const uint8_t *)ps.p, (size_t)(ps.end - ps.p))) {
        return BAD;
    }
    skip_ws(&ps);
    if (starts(&ps, "<?xml")) {
        ps.p += 5;
        while (ps.p + 2 <= ps.end && memcmp(ps.p, "?>", 2) != 0) {
            ps.p++;
        }
        if (ps.p + 2 > ps.end) {
            return BAD;
        }
        ps.p += 2;
    }
    if (skip_misc(&ps) < 0 || ps.p >= ps.end || *ps.p != '<' || ps.p + 1 >= ps.end ||
        !name_start((unsigned char)ps.p[1])) {
        return BAD;
    }
    struct s3_xml_node *root = try_malloc(sizeof(*root));
    if (root == NULL) {
        return NOMEM;
    }
    memset(root, 0, sizeof(*root));
    buf_init(&ps.text);
    int rc = parse_element(&ps, root, 0);
    buf_fini(&ps.text);
    if (rc == 0 && (skip_misc(&ps) < 0 || ps.p != ps.end)) {
        rc = BAD;
    }
    if (rc < 0) {
        s3__xml_free(root);
        return rc;
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

const char *s3__xml_child_text_len(const struct s3_xml_node *n, const char *name, size_t *len_out)
{
    const struct s3_xml_node *c = s3__xml_child(n, name);
    *len_out = c ? c->text_len : 0;
    return c ? c->text : NULL;
}
