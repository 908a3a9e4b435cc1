/*
 * The throughput limiter (see throttle.h for the limits and the burst chosen).
 *
 * A bucket keeps its tokens in thousandths of a unit, so that a rate of R units a second
 * refills exactly R thousandths a millisecond in integers: 1,000 records/s is one record a
 * millisecond, 1 MiB/s 1,048.576 bytes. Each entry of the table (one shard, or one
 * operation of one account or stream) carries the buckets its key needs.
 *
 * Table: STRIPES stripes chosen by the key's hash; each stripe a chained hash table under
 * its own mutex, growing as it fills. Lookups hash a short key string built on the stack.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "stream/throttle.h"

#define STRIPES 64
#define IDLE_DROP_MS 60000 /* an entry unused this long has full buckets again */
#define KEY_MAX 400

/* One token bucket. The rate and capacity are the caller's; the bucket keeps the level. */
struct bucket {
    int64_t milli;   /* tokens, in thousandths; may go below 0 for read bytes (a debt) */
    int64_t last_ms; /* service-clock time of the last refill */
};

/* Buckets of a shard entry, and the one of a control-plane entry (b[0]). */
enum { B_WRITE_RECORDS, B_WRITE_BYTES, B_READ_CALLS, B_READ_BYTES, B_ITERATORS, B_COUNT };

struct entry {
    struct entry *next; /* chain in its slot */
    uint64_t hash;
    int64_t used_ms; /* last use, for dropping idle entries */
    struct bucket b[B_COUNT];
    size_t key_len;
    char key[]; /* key_len bytes */
};

struct stripe {
    pthread_mutex_t lock; /* guards everything below */
    struct entry **slots; /* n_slots chains */
    size_t n_slots;
    size_t n_entries;
} __attribute__((aligned(64))); /* one cache line each: stripes do not share a line */

struct throttle {
    int enabled;
    stream_clock_fn now_ms;
    void *clock_arg;
    struct stripe stripes[STRIPES];
};

/* Each shard bucket's rate, in units a second; its capacity is one second of it. */
static const int64_t shard_rate[B_COUNT] = {
    [B_WRITE_RECORDS] = THROTTLE_WRITE_RECORDS_PER_S, [B_WRITE_BYTES] = THROTTLE_WRITE_BYTES_PER_S,
    [B_READ_CALLS] = THROTTLE_READ_CALLS_PER_S,       [B_READ_BYTES] = THROTTLE_READ_BYTES_PER_S,
    [B_ITERATORS] = THROTTLE_ITERATORS_PER_S,
};
/* Capacity in units: one second of the rate, but for read bytes, which save no credit (a
   call is allowed while they are out of debt; the bytes it returned are charged after). */
static int64_t shard_capacity(int b)
{
    return b == B_READ_BYTES ? 0 : shard_rate[b];
}

/*
 * The control-plane rates of the Kinesis API reference (each operation's page says "has a
 * limit of N transactions per second per account" or "per stream"). The rolling 24-hour
 * limits (StartStreamEncryption, UpdateShardCount's ten scalings) are not counted here.
 */
static const struct control_rate {
    const char *op;
    int per_s;
    int per_stream;
} control_rates[] = {
    {"AddTagsToStream", 5, 0},
    {"CreateStream", 5, 0},
    {"DeleteStream", 5, 0},
    {"DeregisterStreamConsumer", 5, 1},
    {"DescribeAccountSettings", 5, 0},
    {"DescribeLimits", 1, 0},
    {"DescribeStream", 10, 0},
    {"DescribeStreamConsumer", 20, 1},
    {"DescribeStreamSummary", 20, 0},
    {"ListShards", 1000, 1},
    {"ListStreamConsumers", 5, 1},
    {"ListStreams", 5, 0},
    {"ListTagsForStream", 5, 0},
    {"MergeShards", 5, 0},
    {"RegisterStreamConsumer", 5, 0},
    {"RemoveTagsFromStream", 5, 0},
    {"SplitShard", 5, 0},
    {"UpdateAccountSettings", 5, 0},
    {"UpdateShardCount", 10, 0},
    {"UpdateStreamWarmThroughput", 5, 0},
};

int throttle_control_rate(const char *op, int *per_stream)
{
    for (size_t i = 0; i < sizeof(control_rates) / sizeof(control_rates[0]); i++) {
        if (strcmp(control_rates[i].op, op) == 0) {
            if (per_stream != NULL) {
                *per_stream = control_rates[i].per_stream;
            }
            return control_rates[i].per_s;
        }
    }
    return 0;
}

struct throttle *throttle_create(int enabled, stream_clock_fn now_ms, void *clock_arg)
{
    struct throttle *t = xcalloc(1, sizeof(*t));
    t->enabled = enabled;
    t->now_ms = now_ms;
    t->clock_arg = clock_arg;
    for (int i = 0; i < STRIPES; i++) {
        pthread_mutex_init(&t->stripes[i].lock, NULL);
    }
    return t;
}

void throttle_destroy(struct throttle *t)
{
    if (t == NULL) {
        return;
    }
    for (int i = 0; i < STRIPES; i++) {
        struct stripe *sp = &t->stripes[i];
        for (size_t k = 0; k < sp->n_slots; k++) {
            for (struct entry *e = sp->slots[k], *next; e != NULL; e = next) {
                next = e->next;
                free(e);
            }
        }
        free(sp->slots);
        pthread_mutex_destroy(&sp->lock);
    }
    free(t);
}

int throttle_enabled(const struct throttle *t)
{
    return t != NULL && t->enabled;
}

/* FNV-1a, 64 bits. */
static uint64_t hash_key(const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (uint8_t)key[i]) * 1099511628211ULL;
    }
    return h;
}

/* Refills b at rate units/s up to capacity units, to now_ms. */
static void refill(struct bucket *b, int64_t rate, int64_t capacity, int64_t now_ms)
{
    if (now_ms <= b->last_ms) {
        return; /* no time passed, or the clock stepped back */
    }
    int64_t elapsed = now_ms - b->last_ms;
    int64_t cap = capacity * 1000;
    /* Anything past this is capped anyway; it keeps the product in range. */
    if (elapsed > 3600 * 1000) {
        elapsed = 3600 * 1000;
    }
    b->milli += elapsed * rate;
    if (b->milli > cap) {
        b->milli = cap;
    }
    b->last_ms = now_ms;
}

/* Doubles sp's slots (called with its lock held), or makes the first ones. */
static void grow(struct stripe *sp)
{
    size_t n = sp->n_slots ? sp->n_slots * 2 : 16;
    struct entry **slots = xcalloc(n, sizeof(*slots));
    for (size_t k = 0; k < sp->n_slots; k++) {
        for (struct entry *e = sp->slots[k], *next; e != NULL; e = next) {
            next = e->next;
            e->next = slots[e->hash % n];
            slots[e->hash % n] = e;
        }
    }
    free(sp->slots);
    sp->slots = slots;
    sp->n_slots = n;
}

/* Drops sp's entries unused for IDLE_DROP_MS (lock held). */
static void drop_idle(struct stripe *sp, int64_t now_ms)
{
    for (size_t k = 0; k < sp->n_slots; k++) {
        struct entry **link = &sp->slots[k];
        while (*link != NULL) {
            struct entry *e = *link;
            if (now_ms - e->used_ms > IDLE_DROP_MS) {
                *link = e->next;
                free(e);
                sp->n_entries--;
            } else {
                link = &e->next;
            }
        }
    }
}

/*
 * The entry of key in its stripe, created with full buckets (capacities cap[], units) when
 * absent; returns with the stripe's lock held (*sp_out, OUT) for the caller to unlock.
 */
static struct entry *entry_lock(struct throttle *t, const char *key, size_t key_len,
                                const int64_t cap[B_COUNT], int64_t now_ms, struct stripe **sp_out)
{
    uint64_t h = hash_key(key, key_len);
    struct stripe *sp = &t->stripes[(h >> 32) % STRIPES];
    pthread_mutex_lock(&sp->lock);
    *sp_out = sp;
    if (sp->n_slots > 0) {
        for (struct entry *e = sp->slots[h % sp->n_slots]; e != NULL; e = e->next) {
            if (e->hash == h && e->key_len == key_len && memcmp(e->key, key, key_len) == 0) {
                e->used_ms = now_ms;
                return e;
            }
        }
    }
    if (sp->n_entries >= 2 * sp->n_slots) {
        drop_idle(sp, now_ms);
        if (sp->n_entries >= sp->n_slots) {
            grow(sp);
        }
    }
    struct entry *e = xmalloc(sizeof(*e) + key_len);
    e->hash = h;
    e->used_ms = now_ms;
    for (int b = 0; b < B_COUNT; b++) {
        e->b[b] = (struct bucket){.milli = cap[b] * 1000, .last_ms = now_ms};
    }
    e->key_len = key_len;
    memcpy(e->key, key, key_len);
    e->next = sp->slots[h % sp->n_slots];
    sp->slots[h % sp->n_slots] = e;
    sp->n_entries++;
    return e;
}

static int64_t now_of(const struct throttle *t)
{
    return t->now_ms(t->clock_arg);
}

/* A shard's entry, locked (see entry_lock). */
static struct entry *shard_lock(struct throttle *t, const struct throttle_shard *sh, int64_t now,
                                struct stripe **sp)
{
    char key[64];
    int len = snprintf(key, sizeof(key), "s/%lld/%llu/%u", (long long)sh->stream_id,
                       (unsigned long long)sh->seq_tag, sh->shard_idx);
    int64_t cap[B_COUNT];
    for (int b = 0; b < B_COUNT; b++) {
        cap[b] = shard_capacity(b);
    }
    return entry_lock(t, key, (size_t)len, cap, now, sp);
}

size_t throttle_write(struct throttle *t, const struct throttle_shard *sh, const uint32_t *bytes,
                      size_t n, uint8_t *refused)
{
    memset(refused, 0, n);
    if (!throttle_enabled(t) || n == 0) {
        return n;
    }
    int64_t now = now_of(t);
    struct stripe *sp;
    struct entry *e = shard_lock(t, sh, now, &sp);
    struct bucket *recs = &e->b[B_WRITE_RECORDS], *size = &e->b[B_WRITE_BYTES];
    refill(recs, shard_rate[B_WRITE_RECORDS], shard_capacity(B_WRITE_RECORDS), now);
    refill(size, shard_rate[B_WRITE_BYTES], shard_capacity(B_WRITE_BYTES), now);
    size_t admitted = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t cost = (int64_t)bytes[i] * 1000;
        if (recs->milli >= 1000 && size->milli >= cost) {
            recs->milli -= 1000;
            size->milli -= cost;
            admitted++;
        } else {
            refused[i] = 1;
        }
    }
    pthread_mutex_unlock(&sp->lock);
    return admitted;
}

int throttle_read(struct throttle *t, const struct throttle_shard *sh)
{
    if (!throttle_enabled(t)) {
        return 0;
    }
    int64_t now = now_of(t);
    struct stripe *sp;
    struct entry *e = shard_lock(t, sh, now, &sp);
    struct bucket *calls = &e->b[B_READ_CALLS], *size = &e->b[B_READ_BYTES];
    refill(calls, shard_rate[B_READ_CALLS], shard_capacity(B_READ_CALLS), now);
    refill(size, shard_rate[B_READ_BYTES], shard_capacity(B_READ_BYTES), now);
    int rc = SL_E(THROUGHPUT_EXCEEDED);
    if (calls->milli >= 1000 && size->milli >= 0) {
        calls->milli -= 1000;
        rc = 0;
    }
    pthread_mutex_unlock(&sp->lock);
    return rc;
}

void throttle_read_charge(struct throttle *t, const struct throttle_shard *sh, size_t bytes)
{
    if (!throttle_enabled(t) || bytes == 0) {
        return;
    }
    int64_t now = now_of(t);
    struct stripe *sp;
    struct entry *e = shard_lock(t, sh, now, &sp);
    refill(&e->b[B_READ_BYTES], shard_rate[B_READ_BYTES], shard_capacity(B_READ_BYTES), now);
    e->b[B_READ_BYTES].milli -= (int64_t)bytes * 1000;
    pthread_mutex_unlock(&sp->lock);
}

int throttle_iterator(struct throttle *t, const struct throttle_shard *sh)
{
    if (!throttle_enabled(t)) {
        return 0;
    }
    int64_t now = now_of(t);
    struct stripe *sp;
    struct entry *e = shard_lock(t, sh, now, &sp);
    struct bucket *b = &e->b[B_ITERATORS];
    refill(b, shard_rate[B_ITERATORS], shard_capacity(B_ITERATORS), now);
    int rc = SL_E(THROUGHPUT_EXCEEDED);
    if (b->milli >= 1000) {
        b->milli -= 1000;
        rc = 0;
    }
    pthread_mutex_unlock(&sp->lock);
    return rc;
}

/* One call from a bucket of rate calls/s (and as many of capacity) under key. */
static int take_call(struct throttle *t, const char *key, size_t len, int rate)
{
    int64_t now = now_of(t);
    int64_t cap[B_COUNT] = {rate};
    struct stripe *sp;
    struct entry *e = entry_lock(t, key, len, cap, now, &sp);
    refill(&e->b[0], rate, rate, now);
    int rc = SL_E(LIMIT_EXCEEDED);
    if (e->b[0].milli >= 1000) {
        e->b[0].milli -= 1000;
        rc = 0;
    }
    pthread_mutex_unlock(&sp->lock);
    return rc;
}

int throttle_subscribe(struct throttle *t, const char *consumer_arn, uint32_t shard_idx)
{
    if (!throttle_enabled(t)) {
        return 0;
    }
    char key[KEY_MAX];
    int len = snprintf(key, sizeof(key), "e/%u/%s", shard_idx, consumer_arn);
    if (len < 0 || len >= (int)sizeof(key)) {
        len = (int)sizeof(key) - 1;
    }
    return take_call(t, key, (size_t)len, THROTTLE_SUBSCRIBES_PER_S);
}

int throttle_control(struct throttle *t, const char *op, const char *region, const char *account,
                     const char *stream)
{
    int per_stream = 0;
    int rate = throttle_control_rate(op, &per_stream);
    if (!throttle_enabled(t) || rate == 0) {
        return 0;
    }
    char key[KEY_MAX];
    int len = snprintf(key, sizeof(key), "c/%s/%s/%s/%s", op, region, account,
                       per_stream && stream != NULL ? stream : "");
    if (len < 0 || len >= (int)sizeof(key)) {
        len = (int)sizeof(key) - 1;
    }
    return take_call(t, key, (size_t)len, rate);
}
