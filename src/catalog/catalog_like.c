/*
 * LIKE for the partition expression language, in time linear in the value.
 *
 * Rule: the pattern matches the whole value, byte by byte; '%' matches any run of
 * bytes (empty too), '_' exactly one byte, any other byte itself. There is no escape.
 *
 * Algorithm. The '%'s cut the pattern into segments of plain bytes and '_'s:
 *
 *     [head] % seg1 % seg2 % ... % segk % [tail]
 *
 * head (when the pattern does not start with '%') must match at the start of the value
 * and tail (when it does not end with '%') at its end. Each middle segment then takes
 * its leftmost occurrence after the previous one: any match can be shifted to that
 * placement, so the greedy choice never loses a match and nothing is ever retried.
 * A segment without '_' is found with memmem (linear); one with '_' with the
 * shift-and automaton, whose state is one bit per segment byte, so each value byte
 * costs ceil(len / 64) word operations. The search for each segment starts where the
 * previous one ended, so a value is read about once: O(n * ceil(longest segment / 64))
 * in all, against O(n * m) for the backtracking two-pointer walk it replaces.
 */
#include "catalog/catalog_int.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

struct like_seg {
    const char *bytes; /* into catalog_like.pat, not NUL-terminated */
    size_t len;        /* bytes, >= 1 */
    size_t n_words;    /* 64-bit words of automaton state; 0 when no '_' */
    uint64_t *masks;   /* n_words: 256 * n_words, bit k of byte c set when bytes[k] is c or _ */
};

struct catalog_like {
    char *pat;             /* the pattern (owned) */
    int anchored_head;     /* the pattern does not start with '%' */
    int anchored_tail;     /* the pattern does not end with '%' (and has one) */
    int has_pct;           /* the pattern has a '%' at all */
    struct like_seg *segs; /* in order; head is segs[0] and tail segs[n_segs-1] when anchored */
    size_t n_segs;
};

static void seg_masks_build(struct like_seg *sg)
{
    sg->n_words = (sg->len + 63) / 64;
    sg->masks = xcalloc(256 * sg->n_words, sizeof(uint64_t));
    for (size_t k = 0; k < sg->len; k++) {
        uint64_t bit = (uint64_t)1 << (k % 64);
        size_t w = k / 64;
        if (sg->bytes[k] == '_') {
            for (size_t c = 0; c < 256; c++) {
                sg->masks[c * sg->n_words + w] |= bit;
            }
        } else {
            sg->masks[(unsigned char)sg->bytes[k] * sg->n_words + w] |= bit;
        }
    }
}

struct catalog_like *catalog__like_compile(const char *pat, size_t m)
{
    struct catalog_like *lk = xcalloc(1, sizeof(*lk));
    lk->pat = xmalloc(m + 1);
    memcpy(lk->pat, pat, m);
    lk->pat[m] = '\0';
    lk->has_pct = memchr(pat, '%', m) != NULL;
    lk->anchored_head = m == 0 || pat[0] != '%';
    lk->anchored_tail = lk->has_pct && pat[m - 1] != '%';
    lk->segs = xcalloc(m / 2 + 2, sizeof(*lk->segs));
    size_t i = 0;
    while (i < m) {
        while (i < m && pat[i] == '%') {
            i++;
        }
        size_t start = i;
        int wild = 0;
        while (i < m && pat[i] != '%') {
            wild |= pat[i] == '_';
            i++;
        }
        if (i > start) {
            struct like_seg *sg = &lk->segs[lk->n_segs++];
            sg->bytes = lk->pat + start;
            sg->len = i - start;
            if (wild) {
                seg_masks_build(sg);
            }
        }
    }
    return lk;
}

void catalog__like_free(struct catalog_like *lk)
{
    if (lk == NULL) {
        return;
    }
    for (size_t i = 0; i < lk->n_segs; i++) {
        free(lk->segs[i].masks);
    }
    free(lk->segs);
    free(lk->pat);
    free(lk);
}

/* Whether seg matches s exactly at its start (s holds at least seg->len bytes). */
static int seg_at(const struct like_seg *sg, const char *s)
{
    for (size_t k = 0; k < sg->len; k++) {
        if (sg->bytes[k] != '_' && sg->bytes[k] != s[k]) {
            return 0;
        }
    }
    return 1;
}

/* The offset in s[0..n) of seg's leftmost occurrence, or -1. */
static ptrdiff_t seg_find(const struct like_seg *sg, const char *s, size_t n)
{
    if (sg->len > n) {
        return -1;
    }
    if (sg->n_words == 0) {
        const char *hit = memmem(s, n, sg->bytes, sg->len);
        return hit != NULL ? hit - s : -1;
    }
    /* Shift-and: bit k of state is set when the last k+1 bytes read match bytes[0..k]. */
    uint64_t state[(1024 + 2048) / 64 + 1];
    uint64_t *d = sg->n_words <= sizeof(state) / sizeof(state[0])
                      ? state
                      : xmalloc(sg->n_words * sizeof(uint64_t));
    memset(d, 0, sg->n_words * sizeof(uint64_t));
    size_t last_w = (sg->len - 1) / 64;
    uint64_t last_bit = (uint64_t)1 << ((sg->len - 1) % 64);
    ptrdiff_t found = -1;
    for (size_t p = 0; p < n && found < 0; p++) {
        const uint64_t *mask = &sg->masks[(unsigned char)s[p] * sg->n_words];
        uint64_t carry = 1; /* a match may start at every byte */
        for (size_t w = 0; w < sg->n_words; w++) {
            uint64_t next_carry = d[w] >> 63;
            d[w] = ((d[w] << 1) | carry) & mask[w];
            carry = next_carry;
        }
        if (d[last_w] & last_bit) {
            found = (ptrdiff_t)(p + 1 - sg->len);
        }
    }
    if (d != state) {
        free(d);
    }
    return found;
}

int catalog__like_match(const struct catalog_like *lk, const char *s, size_t n)
{
    if (!lk->has_pct) {
        return lk->n_segs == 0 ? n == 0 : lk->segs[0].len == n && seg_at(&lk->segs[0], s);
    }
    size_t first = 0, last = lk->n_segs; /* the middle segments: [first, last) */
    size_t lo = 0, hi = n;               /* the part of s they must fall in */
    if (lk->anchored_head) {
        const struct like_seg *h = &lk->segs[first++];
        if (h->len > n || !seg_at(h, s)) {
            return 0;
        }
        lo = h->len;
    }
    if (lk->anchored_tail) {
        const struct like_seg *t = &lk->segs[--last];
        if (t->len > hi - lo || !seg_at(t, s + n - t->len)) {
            return 0;
        }
        hi = n - t->len;
    }
    for (size_t i = first; i < last; i++) {
        ptrdiff_t at = seg_find(&lk->segs[i], s + lo, hi - lo);
        if (at < 0) {
            return 0;
        }
        lo += (size_t)at + lk->segs[i].len;
    }
    return 1;
}
