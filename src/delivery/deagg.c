/*
 * Record de-aggregation: KPL aggregates, JSON and delimited RecordDeAggregation (see
 * deagg.h). The KPL reader is a minimal protobuf decoder for the one message it needs:
 *
 *   AggregatedRecord { repeated string partition_key_table = 1;
 *                      repeated string explicit_hash_key_table = 2;
 *                      repeated Record records = 3; }
 *   Record { required uint64 partition_key_index = 1; optional uint64
 *            explicit_hash_key_index = 2; required bytes data = 3; repeated Tag tags = 4; }
 *
 * Unknown fields are skipped by wire type, as protobuf readers do. A record is walked
 * twice: once to check it whole (so a bad one emits nothing), once to emit.
 */
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/err.h"
#include "delivery/deagg.h"

#define KPL_MAGIC_LEN 4

int deagg_kpl_magic(const uint8_t *data, size_t len)
{
    return len >= KPL_MAGIC_LEN && memcmp(data, DEAGG_KPL_MAGIC, KPL_MAGIC_LEN) == 0;
}

/* A cursor over protobuf bytes. */
struct pb {
    const uint8_t *p, *end;
};

/* Reads a varint; 0 or -1 (truncated, longer than 10 bytes). */
static int pb_varint(struct pb *b, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (b->p >= b->end) {
            return -1;
        }
        uint8_t c = *b->p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if ((c & 0x80) == 0) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/*
 * Reads one field's key and, for length-delimited fields, its bytes (*sub); other wire
 * types are read past (their value in *value for varints). 0 or -1.
 */
static int pb_field(struct pb *b, uint32_t *field, uint32_t *wire, uint64_t *value, struct pb *sub)
{
    uint64_t key;
    if (pb_varint(b, &key) < 0 || (key >> 3) == 0 || (key >> 3) > UINT32_MAX) {
        return -1;
    }
    *field = (uint32_t)(key >> 3);
    *wire = (uint32_t)(key & 7);
    switch (*wire) {
    case 0: return pb_varint(b, value);
    case 1:
    case 5: {
        size_t n = *wire == 1 ? 8 : 4;
        if ((size_t)(b->end - b->p) < n) {
            return -1;
        }
        b->p += n;
        return 0;
    }
    case 2: {
        uint64_t n;
        if (pb_varint(b, &n) < 0 || n > (uint64_t)(b->end - b->p)) {
            return -1;
        }
        sub->p = b->p;
        sub->end = b->p + n;
        b->p += n;
        return 0;
    }
    default: return -1; /* groups (3, 4) and reserved types: not in this message */
    }
}

/* One user record of the aggregate. */
struct kpl_rec {
    uint64_t pk_index;
    const uint8_t *data;
    size_t len;
};

/* Reads a Record message; 0 or -1 (malformed, a required field missing). */
static int kpl_record(struct pb m, struct kpl_rec *r)
{
    int have_pk = 0, have_data = 0;
    while (m.p < m.end) {
        uint32_t f, w;
        uint64_t v = 0;
        struct pb sub = {0};
        if (pb_field(&m, &f, &w, &v, &sub) < 0) {
            return -1;
        }
        if (f == 1 && w == 0) {
            r->pk_index = v;
            have_pk = 1;
        } else if (f == 3 && w == 2) {
            r->data = sub.p;
            r->len = (size_t)(sub.end - sub.p);
            have_data = 1;
        } else if ((f == 1 || f == 2 || f == 3) && w != (f == 3 ? 2u : 0u)) {
            return -1; /* a known field of the wrong type */
        }
    }
    return have_pk && have_data ? 0 : -1;
}

/*
 * Walks the AggregatedRecord msg: checks it (emit NULL) or emits its user records.
 * pk_tab holds n_pk partition keys (filled when emitting). 0, -1 malformed, or emit's error.
 */
static int kpl_walk(struct pb msg, struct pb *pk_tab, size_t *n_pk, deagg_emit_fn emit, void *arg)
{
    uint32_t sub_no = 0;
    size_t pk_count = 0;
    for (struct pb m = msg; m.p < m.end;) {
        uint32_t f, w;
        uint64_t v = 0;
        struct pb sub = {0};
        if (pb_field(&m, &f, &w, &v, &sub) < 0) {
            return -1;
        }
        if ((f == 1 || f == 2 || f == 3) && w != 2) {
            return -1;
        }
        if (f == 1) {
            if (pk_tab != NULL) {
                pk_tab[pk_count] = sub;
            }
            pk_count++;
        }
    }
    for (struct pb m = msg; m.p < m.end;) {
        uint32_t f, w;
        uint64_t v = 0;
        struct pb sub = {0};
        pb_field(&m, &f, &w, &v, &sub); /* checked above */
        if (f != 3) {
            continue;
        }
        struct kpl_rec r = {0};
        if (kpl_record(sub, &r) < 0 || r.pk_index >= pk_count) {
            return -1;
        }
        if (emit != NULL) {
            const struct pb *pk = &pk_tab[r.pk_index];
            int rc =
                emit(arg, r.data, r.len, (const char *)pk->p, (size_t)(pk->end - pk->p), sub_no);
            if (rc < 0) {
                return rc;
            }
        }
        sub_no++;
    }
    *n_pk = pk_count;
    return 0;
}

int deagg_kpl(const uint8_t *data, size_t len, deagg_emit_fn emit, void *arg)
{
    if (!deagg_kpl_magic(data, len) || len <= KPL_MAGIC_LEN + MD5_LEN) {
        return 0;
    }
    struct pb msg = {data + KPL_MAGIC_LEN, data + len - MD5_LEN};
    uint8_t md5[MD5_LEN];
    crypto_md5(msg.p, (size_t)(msg.end - msg.p), md5);
    if (memcmp(md5, msg.end, MD5_LEN) != 0) {
        return 0;
    }
    size_t n_pk = 0;
    if (kpl_walk(msg, NULL, &n_pk, NULL, NULL) < 0) {
        return 0;
    }
    struct pb *pk_tab = calloc(n_pk + 1, sizeof(*pk_tab));
    if (pk_tab == NULL) {
        return SL_E(NOMEM);
    }
    int rc = kpl_walk(msg, pk_tab, &n_pk, emit, arg);
    free(pk_tab);
    return rc < 0 ? rc : 1;
}

static int is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The end of the JSON object starting at d[at] ('{'), or 0 when it does not close. */
static size_t object_end(const uint8_t *d, size_t len, size_t at)
{
    size_t depth = 0;
    int in_str = 0;
    for (size_t i = at; i < len; i++) {
        uint8_t c = d[i];
        if (in_str) {
            if (c == '\\') {
                i++;
            } else if (c == '"') {
                in_str = 0;
            }
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth == 0) {
                return c == '}' ? i + 1 : 0;
            }
        }
    }
    return 0;
}

/* Walks the objects of d: counts them (emit NULL) or emits them. Count, -1, or emit's error. */
static long json_walk(const uint8_t *d, size_t len, deagg_emit_fn emit, void *arg)
{
    long n = 0;
    size_t i = 0;
    for (;;) {
        while (i < len && is_space(d[i])) {
            i++;
        }
        if (i == len) {
            return n;
        }
        size_t end = d[i] == '{' ? object_end(d, len, i) : 0;
        if (end == 0 || n >= DEAGG_SUB_RECORDS_MAX) {
            return -1;
        }
        if (emit != NULL) {
            int rc = emit(arg, d + i, end - i, NULL, 0, (uint32_t)n);
            if (rc < 0) {
                return rc;
            }
        }
        n++;
        i = end;
    }
}

int deagg_json(const uint8_t *data, size_t len, deagg_emit_fn emit, void *arg)
{
    if (json_walk(data, len, NULL, NULL) <= 0) {
        return 0;
    }
    long rc = json_walk(data, len, emit, arg);
    return rc < 0 ? (int)rc : 1;
}

/* Walks the pieces between delimiters, as json_walk does. */
static long delim_walk(const uint8_t *d, size_t len, const uint8_t *delim, size_t dlen,
                       deagg_emit_fn emit, void *arg)
{
    long n = 0;
    size_t start = 0;
    while (start <= len) {
        const uint8_t *hit =
            dlen <= len - start ? memmem(d + start, len - start, delim, dlen) : NULL;
        size_t end = hit != NULL ? (size_t)(hit - d) : len;
        if (end > start) {
            if (n >= DEAGG_SUB_RECORDS_MAX) {
                return -1;
            }
            if (emit != NULL) {
                int rc = emit(arg, d + start, end - start, NULL, 0, (uint32_t)n);
                if (rc < 0) {
                    return rc;
                }
            }
            n++;
        }
        if (hit == NULL) {
            break;
        }
        start = end + dlen;
    }
    return n;
}

int deagg_delimited(const uint8_t *data, size_t len, const uint8_t *delim, size_t delim_len,
                    deagg_emit_fn emit, void *arg)
{
    if (delim_len == 0 || delim_walk(data, len, delim, delim_len, NULL, NULL) <= 0) {
        return 0;
    }
    long rc = delim_walk(data, len, delim, delim_len, emit, arg);
    return rc < 0 ? (int)rc : 1;
}
