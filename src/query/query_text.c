/*
 * Trino grammar DuckDB's parser refuses, rewritten in the query's text before
 * json_serialize_sql sees it (what the parser accepts is rewritten later, on the tree):
 *
 *   if(c, x)                 -> if(c, x, NULL)       (Trino's two-argument form)
 *   VALUES 1, 2              -> VALUES (1), (2)      (rows of one column unparenthesised)
 *   CAST(v AS array(T))      -> CAST(v AS T[]     )  (Trino's array type; also nested
 *                                                     and in map())
 *
 * String literals, quoted identifiers and comments are copied untouched. Type rewrites
 * keep every character's position (the shorter DuckDB spelling is padded with blanks);
 * the other two add characters, so a later error's column on the same line moves by them.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/mem.h"
#include "query/query_int.h"

/* The end of the literal, quoted identifier or comment starting at s[i], or i when none
 * starts there. */
static size_t skip_opaque(const char *s, size_t n, size_t i)
{
    if (s[i] == '\'' || s[i] == '"') {
        char q = s[i++];
        while (i < n) {
            if (s[i] == q && i + 1 < n && s[i + 1] == q) {
                i += 2;
            } else if (s[i++] == q) {
                break;
            }
        }
        return i;
    }
    if (s[i] == '-' && i + 1 < n && s[i + 1] == '-') {
        while (i < n && s[i] != '\n') {
            i++;
        }
        return i;
    }
    if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') {
        const char *e = strstr(s + i + 2, "*/");
        return e != NULL ? (size_t)(e - s) + 2 : n;
    }
    return i;
}

static int word_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

static size_t skip_blank(const char *s, size_t n, size_t i)
{
    while (i < n && isspace((unsigned char)s[i])) {
        i++;
    }
    return i;
}

/* Whether the word at s[i] (a word start) is w, case-insensitively. */
static int word_is(const char *s, size_t n, size_t i, const char *w)
{
    size_t l = strlen(w);
    return i + l <= n && strncasecmp(s + i, w, l) == 0 && (i + l == n || !word_char(s[i + l]));
}

/* From s[i], the index of the first top-level ',' or ';', or of the ')' that closes the
 * group i is in (n at the end), skipping literals and comments. */
static size_t scan_item(const char *s, size_t n, size_t i)
{
    int depth = 0;
    while (i < n) {
        size_t j = skip_opaque(s, n, i);
        if (j != i) {
            i = j;
            continue;
        }
        char c = s[i];
        if (c == '(' || c == '[') {
            depth++;
        } else if (c == ')' || c == ']') {
            if (depth == 0) {
                return i;
            }
            depth--;
        } else if (depth == 0 && (c == ',' || c == ';')) {
            return i;
        }
        i++;
    }
    return n;
}

/* ---- types ---- */

/* Appends the DuckDB spelling of the Trino type at s[*i] (ending before a top-level ','
 * or ')') to out and moves *i past it. Returns 1 when the spelling differs. */
static int type_out(const char *s, size_t n, size_t *i, struct buf *out)
{
    size_t p = skip_blank(s, n, *i);
    int is_array = word_is(s, n, p, "array"), is_map = word_is(s, n, p, "map");
    size_t open = skip_blank(s, n, p + (is_array ? 5 : is_map ? 3 : 0));
    if ((is_array || is_map) && open < n && s[open] == '(') {
        size_t q = open + 1;
        int changed = 0;
        if (is_array) {
            struct buf inner;
            buf_init(&inner);
            type_out(s, n, &q, &inner);
            q = skip_blank(s, n, q);
            if (q < n && s[q] == ')') {
                buf_append(out, inner.data, inner.len);
                buf_puts(out, "[]");
                buf_fini(&inner);
                *i = q + 1;
                return 1;
            }
            buf_fini(&inner);
            goto verbatim;
        }
        /* map(K, V): either type may hold an array */
        buf_append(out, s + p, open + 1 - p);
        for (;;) {
            changed |= type_out(s, n, &q, out);
            if (q < n && s[q] == ',') {
                buf_puts(out, ",");
                q++;
                continue;
            }
            break;
        }
        if (q >= n || s[q] != ')') {
            goto verbatim;
        }
        buf_puts(out, ")");
        *i = q + 1;
        return changed;
    }
verbatim:;
    size_t e = scan_item(s, n, *i);
    buf_append(out, s + *i, e - *i);
    *i = e;
    return 0;
}

/* At s[i] just past the word AS: when a structured type follows whose spelling changes,
 * writes it (padded to its length) to out and returns the index past it; else i. */
static size_t cast_type(const char *s, size_t n, size_t i, struct buf *out)
{
    size_t p = skip_blank(s, n, i);
    if (!word_is(s, n, p, "array") && !word_is(s, n, p, "map")) {
        return i;
    }
    struct buf t;
    buf_init(&t);
    size_t q = p;
    int changed = type_out(s, n, &q, &t);
    if (!changed || buf_status(&t) != 0 || t.len > q - p) {
        buf_fini(&t);
        return i;
    }
    buf_append(out, s + i, p - i);
    buf_append(out, t.data, t.len);
    for (size_t k = t.len; k < q - p; k++) {
        buf_puts(out, " ");
    }
    buf_fini(&t);
    return q;
}

/* ---- if(c, x) ---- */

/* At s[i] the word if: when a call of two arguments follows, writes it with a NULL third
 * and returns the index past it; else i. */
static size_t if_call(const char *s, size_t n, size_t i, struct buf *out)
{
    size_t open = skip_blank(s, n, i + 2);
    if (open >= n || s[open] != '(') {
        return i;
    }
    size_t a = scan_item(s, n, open + 1);
    if (a >= n || s[a] != ',') {
        return i;
    }
    size_t b = scan_item(s, n, a + 1);
    if (b >= n || s[b] != ')') {
        return i;
    }
    /* the arguments are rewritten too (nested ifs, casts) */
    char *inner = xstrndup(s + i, b - i);
    char *fixed = query__text_prepass(inner);
    buf_puts(out, fixed);
    buf_puts(out, ", NULL)");
    free(fixed);
    free(inner);
    return b + 1;
}

/* ---- VALUES 1, 2 ---- */

/* At s[i] just past the word VALUES: writes the list with each row that is not
 * parenthesised put in parentheses, and returns the index past it. */
static size_t values_list(const char *s, size_t n, size_t i, struct buf *out)
{
    size_t first = skip_blank(s, n, i);
    if (first >= n || s[first] == '(') {
        return i; /* DuckDB's form already: left to the parser as written */
    }
    for (;;) {
        size_t p = skip_blank(s, n, i);
        size_t e = scan_item(s, n, p);
        if (e == p) {
            return i;
        }
        /* one parenthesised group spanning the whole item is a row already */
        size_t last = e;
        while (last > p && isspace((unsigned char)s[last - 1])) {
            last--;
        }
        int row = 0;
        if (s[p] == '(') {
            size_t close = scan_item(s, n, p + 1);
            while (close < n && s[close] == ',') {
                close = scan_item(s, n, close + 1);
            }
            row = close + 1 == last;
        }
        char *item = xstrndup(s + i, e - i);
        char *fixed = query__text_prepass(item);
        free(item);
        if (row || last == p) {
            buf_puts(out, fixed);
        } else {
            buf_append(out, s + i, p - i);
            buf_puts(out, "(");
            buf_puts(out, fixed + (p - i));
            /* the closing parenthesis goes before the blanks that end the item */
            size_t fl = strlen(fixed), tail = e - last;
            out->len -= tail;
            buf_puts(out, ")");
            buf_append(out, fixed + fl - tail, tail);
        }
        free(fixed);
        i = e;
        if (e < n && s[e] == ',') {
            buf_puts(out, ",");
            i = e + 1;
            continue;
        }
        return i;
    }
}

char *query__text_prepass(const char *text)
{
    size_t n = strlen(text);
    struct buf out;
    buf_init(&out);
    size_t i = 0;
    while (i < n) {
        size_t j = skip_opaque(text, n, i);
        if (j != i) {
            buf_append(&out, text + i, j - i);
            i = j;
            continue;
        }
        if (!word_char(text[i])) {
            buf_append(&out, text + i, 1);
            i++;
            continue;
        }
        size_t w = i;
        while (w < n && word_char(text[w])) {
            w++;
        }
        int starts = i == 0 || !(word_char(text[i - 1]) || text[i - 1] == '.');
        size_t next = i;
        if (starts && word_is(text, n, i, "if")) {
            next = if_call(text, n, i, &out);
        }
        if (next == i) {
            buf_append(&out, text + i, w - i);
            next = w;
            if (starts && word_is(text, n, i, "as")) {
                next = cast_type(text, n, w, &out);
            } else if (starts && word_is(text, n, i, "values")) {
                next = values_list(text, n, w, &out);
            }
        }
        i = next;
    }
    if (buf_status(&out) != 0 || out.data == NULL) {
        buf_fini(&out);
        return xstrdup(text);
    }
    return (char *)buf_steal(&out, NULL);
}
