/*
 * Dynamic partitioning: extraction of a record's keys, prefix evaluation, the set of
 * active partitions. The rules are in partition.h; libjq is reached only through
 * core/jq.h.
 *
 * Prefix expressions are `!{namespace:value}`, the value running to the first '}'.
 * Expressions of other namespaces are copied unchanged; a `!{` with no closing '}' is
 * copied as text (delivery__prefix_scan refuses such prefixes at create time).
 */
#include "delivery/partition.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

struct partition_extractor {
    struct jq_query *query; /* the compiled MetadataExtractionQuery */
};

int partition_extractor_create(const char *query, size_t query_len, const char *engine,
                               struct partition_extractor **out, struct err_info *err)
{
    *out = NULL;
    if (engine == NULL || strcmp(engine, "JQ-1.6") != 0) {
        return err_set(err, SL_E(INVALID_ARGUMENT),
                       "JsonParsingEngine must be JQ-1.6 for MetadataExtraction.");
    }
    struct jq_query *q = NULL;
    int rc = jq_query_compile(query, query_len, &q, err);
    if (rc != 0) {
        return rc;
    }
    struct partition_extractor *x = xcalloc(1, sizeof(*x));
    x->query = q;
    *out = x;
    return 0;
}

void partition_extractor_destroy(struct partition_extractor *x)
{
    if (x == NULL) {
        return;
    }
    jq_query_destroy(x->query);
    free(x);
}

void partition_keys_init(struct partition_keys *k)
{
    memset(k, 0, sizeof(*k));
}

void partition_keys_fini(struct partition_keys *k)
{
    jq_result_fini(&k->query);
    for (size_t i = 0; i < k->n_lambda; i++) {
        free(k->lambda[i].key);
        free(k->lambda[i].value);
    }
    k->n_lambda = 0;
}

int partition_keys_extract(struct partition_extractor *x, const char *rec, size_t rec_len,
                           struct partition_keys *keys, const char **error_type,
                           struct err_info *err)
{
    jq_result_fini(&keys->query);
    int rc = jq_query_eval(x->query, rec, rec_len, &keys->query, err);
    if (rc == SL_E(INVALID_INPUT)) {
        *error_type = PARTITION_ERROR_EXTRACTION;
    }
    return rc;
}

static char *copy_or_null(const char *s, size_t len)
{
    char *c = try_malloc(len + 1);
    if (c != NULL) {
        memcpy(c, s, len);
        c[len] = '\0';
    }
    return c;
}

int partition_keys_add_lambda(struct partition_keys *keys, const char *key, size_t key_len,
                              const char *value, size_t value_len, const char **error_type,
                              struct err_info *err)
{
    if (value_len > JQ_VALUE_MAX_LEN) {
        *error_type = PARTITION_ERROR_PARTITIONING;
        return err_set(err, SL_E(INVALID_INPUT),
                       "The partition key '%.*s' from the transform is longer than %d bytes.",
                       (int)(key_len > 64 ? 64 : key_len), key, JQ_VALUE_MAX_LEN);
    }
    struct partition_lambda_kv *slot = NULL;
    for (size_t i = 0; i < keys->n_lambda; i++) {
        if (keys->lambda[i].key_len == key_len && memcmp(keys->lambda[i].key, key, key_len) == 0) {
            slot = &keys->lambda[i];
        }
    }
    if (slot == NULL && keys->n_lambda == JQ_MAX_KEYS) {
        *error_type = PARTITION_ERROR_PARTITIONING;
        return err_set(err, SL_E(INVALID_INPUT),
                       "The transform returned more than %d partition keys.", JQ_MAX_KEYS);
    }
    char *v = copy_or_null(value, value_len);
    if (v == NULL) {
        return err_set(err, SL_E(NOMEM), "Out of memory copying a partition key.");
    }
    if (slot != NULL) {
        free(slot->value);
        slot->value = v;
        slot->value_len = value_len;
        return 0;
    }
    char *k = copy_or_null(key, key_len);
    if (k == NULL) {
        free(v);
        return err_set(err, SL_E(NOMEM), "Out of memory copying a partition key.");
    }
    keys->lambda[keys->n_lambda++] = (struct partition_lambda_kv){
        .key = k, .value = v, .key_len = key_len, .value_len = value_len};
    return 0;
}

/* ---- Prefix evaluation ---- */

static bool ns_eq(const char *ns, size_t ns_len, const char *name)
{
    return strlen(name) == ns_len && memcmp(ns, name, ns_len) == 0;
}

/* Refuses a value that could smuggle an expression or a control character into a key. */
static bool value_ok(const char *v, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c == 0x7f) {
            return false;
        }
        if (c == '!' && i + 1 < len && v[i + 1] == '{') {
            return false;
        }
    }
    return true;
}

/* Whether s holds a path segment "." or ".." (between '/' or the ends). */
static bool has_dot_segment(const char *s, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '/') {
            size_t seg = i - start;
            if ((seg == 1 && s[start] == '.') ||
                (seg == 2 && s[start] == '.' && s[start + 1] == '.')) {
                return true;
            }
            start = i + 1;
        }
    }
    return false;
}

int partition_prefix_expand(const char *prefix, size_t prefix_len,
                            const struct partition_keys *keys, struct buf *out,
                            const char **error_type, struct err_info *err)
{
    buf_reset(out);
    const char *last_type = PARTITION_ERROR_EXTRACTION; /* type of the last key expanded */
    const char *end = prefix + prefix_len;
    const char *p = prefix;
    while (p < end) {
        const char *close = NULL;
        if (p[0] == '!' && p + 1 < end && p[1] == '{') {
            close = memchr(p + 2, '}', (size_t)(end - p - 2));
        }
        if (close == NULL) {
            buf_putc(out, *p++);
            continue;
        }
        const char *ns = p + 2;
        const char *colon = memchr(ns, ':', (size_t)(close - ns));
        bool from_query = colon != NULL && ns_eq(ns, (size_t)(colon - ns), "partitionKeyFromQuery");
        bool from_lambda =
            colon != NULL && ns_eq(ns, (size_t)(colon - ns), "partitionKeyFromLambda");
        if (!from_query && !from_lambda) {
            buf_append(out, p, (size_t)(close + 1 - p)); /* for delivery's key layout */
            p = close + 1;
            continue;
        }
        const char *key = colon + 1;
        size_t key_len = (size_t)(close - key);
        const char *type = from_query ? PARTITION_ERROR_EXTRACTION : PARTITION_ERROR_PARTITIONING;
        const char *value = NULL;
        size_t value_len = 0;
        if (keys != NULL && from_query) {
            const struct jq_kv *kv = jq_result_get(&keys->query, key, key_len);
            if (kv != NULL) {
                value = kv->value;
                value_len = kv->value_len;
            }
        } else if (keys != NULL) {
            for (size_t i = 0; i < keys->n_lambda; i++) {
                if (keys->lambda[i].key_len == key_len &&
                    memcmp(keys->lambda[i].key, key, key_len) == 0) {
                    value = keys->lambda[i].value;
                    value_len = keys->lambda[i].value_len;
                }
            }
        }
        if (value == NULL) {
            *error_type = type;
            return err_set(err, SL_E(INVALID_INPUT), "The partition key '%.*s' has no value%s.",
                           (int)(key_len > 64 ? 64 : key_len), key,
                           from_query ? " from the MetadataExtractionQuery"
                                      : " in the transform's partitionKeys");
        }
        if (!value_ok(value, value_len)) {
            *error_type = type;
            return err_set(err, SL_E(INVALID_INPUT),
                           "The value of partition key '%.*s' holds a control character or "
                           "\"!{\".",
                           (int)(key_len > 64 ? 64 : key_len), key);
        }
        buf_append(out, value, value_len);
        last_type = type;
        p = close + 1;
    }
    if (buf_status(out) != 0) {
        return err_set(err, SL_E(NOMEM), "Out of memory evaluating a prefix.");
    }
    if (has_dot_segment((const char *)out->data, out->len)) {
        *error_type = last_type;
        return err_set(err, SL_E(INVALID_INPUT),
                       "The evaluated prefix holds a '.' or '..' path segment.");
    }
    if (out->len > PARTITION_PREFIX_MAX_LEN) {
        *error_type = last_type;
        return err_set(err, SL_E(INVALID_INPUT),
                       "The evaluated prefix is longer than %d characters.",
                       PARTITION_PREFIX_MAX_LEN);
    }
    return 0;
}

/* ---- Active partitions: linear probing, backward-shift deletion ---- */

static uint64_t hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    }
    return h;
}

static bool slot_is(const char *slot, const char *s, size_t len)
{
    return strlen(slot) == len && memcmp(slot, s, len) == 0;
}

void partition_set_init(struct partition_set *s, size_t limit)
{
    memset(s, 0, sizeof(*s));
    s->limit = limit;
}

void partition_set_fini(struct partition_set *s)
{
    for (size_t i = 0; i < s->n_slots; i++) {
        free(s->slots[i]);
    }
    free(s->slots);
    s->slots = NULL;
    s->n_slots = 0;
    s->n_active = 0;
}

/* Index of prefix's slot, or of the empty slot where it would go. Needs n_slots > 0. */
static size_t find(const struct partition_set *s, const char *prefix, size_t len)
{
    size_t mask = s->n_slots - 1;
    size_t i = (size_t)hash(prefix, len) & mask;
    while (s->slots[i] != NULL && !slot_is(s->slots[i], prefix, len)) {
        i = (i + 1) & mask;
    }
    return i;
}

bool partition_set_has(const struct partition_set *s, const char *prefix, size_t len)
{
    return s->n_slots > 0 && s->slots[find(s, prefix, len)] != NULL;
}

static int grow(struct partition_set *s)
{
    size_t n = s->n_slots == 0 ? 16 : s->n_slots * 2;
    char **slots = try_malloc(n * sizeof(*slots));
    if (slots == NULL) {
        return SL_E(NOMEM);
    }
    memset(slots, 0, n * sizeof(*slots));
    struct partition_set bigger = {.slots = slots, .n_slots = n};
    for (size_t i = 0; i < s->n_slots; i++) {
        if (s->slots[i] != NULL) {
            slots[find(&bigger, s->slots[i], strlen(s->slots[i]))] = s->slots[i];
        }
    }
    free(s->slots);
    s->slots = slots;
    s->n_slots = n;
    return 0;
}

int partition_set_add(struct partition_set *s, const char *prefix, size_t len, bool *is_new)
{
    *is_new = false;
    if (partition_set_has(s, prefix, len)) {
        return 0;
    }
    if (s->n_active >= s->limit) {
        return SL_E(LIMIT_EXCEEDED);
    }
    if ((s->n_active + 1) * 2 > s->n_slots) {
        int rc = grow(s);
        if (rc != 0) {
            return rc;
        }
    }
    char *copy = copy_or_null(prefix, len);
    if (copy == NULL) {
        return SL_E(NOMEM);
    }
    s->slots[find(s, prefix, len)] = copy;
    s->n_active++;
    *is_new = true;
    return 0;
}

bool partition_set_remove(struct partition_set *s, const char *prefix, size_t len)
{
    if (!partition_set_has(s, prefix, len)) {
        return false;
    }
    size_t mask = s->n_slots - 1;
    size_t hole = find(s, prefix, len);
    free(s->slots[hole]);
    s->slots[hole] = NULL;
    s->n_active--;
    /* Shift back every entry of the run after the hole that may not stay past it. */
    for (size_t i = (hole + 1) & mask; s->slots[i] != NULL; i = (i + 1) & mask) {
        size_t home = (size_t)hash(s->slots[i], strlen(s->slots[i])) & mask;
        bool stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (!stays) {
            s->slots[hole] = s->slots[i];
            s->slots[i] = NULL;
            hole = i;
        }
    }
    return true;
}
