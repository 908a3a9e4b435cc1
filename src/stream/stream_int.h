/*
 * Internals of the stream service, shared by stream.c, shardmath.c, syncpool.c and the
 * unit tests; never included from another part, nor by the Kinesis adapter (stream.h).
 *
 * Lock map (a lock is never held across disk I/O or a call into a caller, but admin_lock):
 *
 *   svc->admin_lock  serializes changes of stream state (create, delete, updates, settle,
 *                    resharding) so a check and its change are one step; held across the
 *                    store write of that change. Never taken by lookups, reads or the
 *                    record path.
 *   svc->lock        the registry: streams[] and n_streams. Held for lookups and list
 *                    edits only.
 *   s->lock          a stream's mutable metadata (s->meta). Held for copies only.
 *   s->shards_lock   a stream's shard table (shards, open_shards, each shard's open and
 *                    ending_index), a writer-preferring rwlock. Appends hold it shared
 *                    across seglog_append (not the sync), so a resharding, which holds it
 *                    exclusive across the parents' sync and its store write, sees no
 *                    record enter a parent after it took the parent's ending index.
 *   sh->wait_lock    a shard's waiters (stream_reader_wait).
 *   svc->bg_lock     the background thread's wake-ups and the dead-stream list.
 *
 * Order when nested: admin_lock, then svc->lock, then shards_lock, then s->lock. bg_lock is taken
 * with no other lock held; wait_lock only around a wait, inside which the log's own mutex is taken
 * to read its durable index.
 */
#ifndef SLUICE_STREAM_INT_H
#define SLUICE_STREAM_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "stream/seglog.h"
#include "stream/stream.h"

typedef stream_u128 u128;

struct shard {
    uint32_t idx;                /* N of shardId-N */
    u128 start_hash;             /* inclusive */
    u128 end_hash;               /* inclusive */
    int64_t parent_idx;          /* -1: none (a stream's first shards) */
    int64_t adjacent_parent_idx; /* -1: none (not the child of a merge) */
    int open;                    /* shards_lock: 1 while it takes records */
    uint64_t ending_index;       /* shards_lock: closed: index after its last record */
    int64_t created_ms;          /* when it opened */
    int64_t closed_ms;           /* shards_lock: when it closed; 0 while open */
    int64_t seq_epoch_s;         /* see stream__seq_epoch */
    struct seglog *log;          /* owned */
    pthread_mutex_t wait_lock;   /* guards the wait on wait_cond */
    pthread_cond_t wait_cond;    /* broadcast after records become durable (monotonic clock) */
    atomic_int n_waiters;        /* readers inside stream_reader_wait */
    uint64_t sampled_index;      /* admin_lock: on-demand scaling's next index at the last
                                    sample */
};

struct stream_read_acc {
    char consumer[STREAM_NAME_MAX + 1];
    struct stream_stat st[STREAM_READ_METRICS];
    struct stream_read_acc *next;
};

struct stream_counters {
    atomic_uint_fast64_t incoming_records, incoming_bytes;
    atomic_uint_fast64_t outgoing_records, outgoing_bytes;
    atomic_uint_fast64_t put_failures;
    atomic_uint_fast64_t write_throttled; /* records refused by the shard write limits */
};

/* The mutable part of a stream: copied out, changed in the copy, stored, copied back. */
struct stream_meta {
    enum stream_mode mode;
    int retention_hours;
    enum stream_status status;
    int64_t status_until_ms; /* when CREATING/UPDATING/DELETING ends */
    char encryption[8];      /* "NONE" or "KMS" */
    char key_id[2049];
    uint32_t shard_metrics; /* enhanced monitoring's metrics, a mask of stream_metric bits */
};

/*
 * One stream. Immutable after creation but for meta (under lock) and the atomics. Freed
 * when its last reference goes (refs); the registry holds one while it lists it.
 */
struct stream {
    struct stream_service *svc;
    int64_t id; /* store row id; names the data directory */
    char region[32];
    char account[16];
    char name[STREAM_NAME_MAX + 1];
    char arn[256];
    uint64_t seq_tag; /* creation ms: in iterators and first-layout sequence numbers */
    int64_t created_ms;
    /*
     * The shard table, under shards_lock. shards[i] is shard number i (numbers are dense:
     * children continue them); each struct shard is allocated once and keeps its address
     * for the stream's life, so a reader may hold one without the lock. open_shards are
     * the open ones sorted by start_hash, covering the whole hash space.
     */
    pthread_rwlock_t shards_lock;
    uint32_t n_shards;
    struct shard **shards;
    uint32_t n_open;
    struct shard **open_shards;
    char dir[600]; /* DIR/streams/<id> */
    atomic_int refs;
    pthread_mutex_t lock; /* guards meta */
    struct stream_meta meta;
    /* INT64_MAX, or when the stream is gone (DELETING ends): lookups read it lock-free */
    _Atomic int64_t gone_at_ms;
    atomic_int row_deleted; /* the row is gone: the files go with the last reference */
    struct stream_counters counters;
    /* The Kinesis API's read samples per consumer (stream_read_count), under read_lock. */
    pthread_mutex_t read_lock;
    struct stream_read_acc *reads;
    /* Enhanced monitoring: the meta's shard_metrics, readable without the lock, and the
       per-shard samples (stream_shard_count), under read_lock, indexed by shard number. */
    _Atomic uint32_t shard_mask;
    struct stream_stat (*shard_st)[STREAM_N_METRICS];
    uint32_t n_shard_st;
    /* admin_lock: on-demand scaling's last sample (stream__autoscale): when, and the
       stream's incoming counters then; sampled_ms 0 for none. */
    int64_t sampled_ms;
    uint64_t sampled_records, sampled_bytes;
    struct stream *next_dead; /* the dead list, under svc->bg_lock */
    /* Encryption at rest (stream_crypt.c), under crypt_lock: every data key loaded or made,
       and the one new records are sealed with. Freed with the stream. */
    pthread_mutex_t crypt_lock;
    struct stream_dkey *dkeys;
    struct stream_dkey *write_key;
};

struct sync_pool;
struct kms;
struct crypto_gcm;

struct stream_service {
    struct store *store;
    const struct sluice_config *cfg;
    stream_clock_fn now_fn;
    void *clock_arg;
    pthread_mutex_t admin_lock; /* see the lock map */
    pthread_mutex_t lock;       /* the registry: streams[], n_streams */
    struct stream **streams;    /* live streams, any order */
    size_t n_streams;
    uint8_t iterator_key[32]; /* HMAC key of iterators and tokens, kept in settings */
    pthread_t bg_thread;      /* settles transitions, retention, removes dead streams */
    pthread_mutex_t bg_lock;
    pthread_cond_t bg_wake;
    int stopping;                /* under bg_lock */
    int kicked;                  /* under bg_lock: something to settle or reap now */
    int retention_kicked;        /* under bg_lock: a retention period shrank */
    struct stream *dead;         /* under bg_lock: released deleted streams to remove */
    struct sync_pool *sync_pool; /* threads that sync shards in parallel */
    struct throttle *throttle;   /* throughput limits (throttle.h); its own locks */
    struct kms *kms;             /* NULL: records are stored as they come (no KMS) */
};

/* ---- stream.c ---- */
/* Settles every due transition now (what the background thread does); tests call it. */
void stream__settle(struct stream_service *svc);
/* Removes the files of dead streams now (what the background thread does). */
void stream__reap(struct stream_service *svc);
/* Applies retention to every stream now. */
void stream__apply_retention(struct stream_service *svc);
/*
 * On-demand scaling (see stream.c's rule): samples every ON_DEMAND stream's writes and,
 * once STREAM_AUTOSCALE_WINDOW_MS of the service clock have passed since its last sample,
 * splits its hottest open shards when the window's write rate needs it. Called by the
 * background thread on each round; tests call it with their clock.
 */
#define STREAM_AUTOSCALE_WINDOW_MS (60 * 1000)
void stream__autoscale(struct stream_service *svc);

/* ---- stream_crypt.c: encryption at rest ---- */
struct stream_dkey;
/* Envelope bytes beyond the partition key and data of a sealed record. */
#define STREAM_CRYPT_OVERHEAD (4 + 12 + 2 + 16)
/* Records one data key seals before a new one is made. */
#define STREAM_CRYPT_KEY_USES (1ull << 32)
/* 0 when the KMS key key_id may be used now, else Kinesis's KMS error in err. */
int stream__crypt_check_key(struct stream_service *svc, const struct stream *s,
                            const char *key_id, struct err_info *err);
/* The data key to seal s's new records with under the KMS key key_id (made and stored
   when needed); the KMS key's state is checked. 0 or Kinesis's KMS error in err. */
int stream__crypt_write_key(struct stream_service *svc, struct stream *s, const char *key_id,
                            struct stream_dkey **out, struct err_info *err);
size_t stream__crypt_sealed_len(size_t pk_len, size_t data_len);
/* A sealer for k's records (crypto_gcm_destroy it), for one thread. */
struct crypto_gcm *stream__crypt_sealer(struct stream_dkey *k);
/* Seals pk and data into out (stream__crypt_sealed_len bytes) with g, k's sealer. */
void stream__crypt_seal(const struct stream *s, struct stream_dkey *k, struct crypto_gcm *g,
                        const char *pk, size_t pk_len, const uint8_t *data, size_t data_len,
                        uint8_t *out);
/* A read call's state: the key checked last and a buffer for plaintexts. */
struct stream_crypt_read {
    struct stream_dkey *key;
    struct crypto_gcm *gcm; /* key's */
    uint8_t *buf;
    size_t cap;
};
void stream__crypt_read_fini(struct stream_crypt_read *cr);
/* Opens an envelope; pk and data point into cr's buffer until the next call. 0,
   Kinesis's KMS error, SL_E(CORRUPT) (a tampered envelope), SL_E(NOMEM); err says. */
int stream__crypt_open(struct stream_service *svc, struct stream *s, struct stream_crypt_read *cr,
                       const uint8_t *env, size_t len, const char **pk, size_t *pk_len,
                       const uint8_t **data, size_t *data_len, struct err_info *err);
void stream__crypt_free(struct stream *s);

/* ---- syncpool.c ---- */
struct sync_pool *stream__sync_pool_create(size_t n_threads);
void stream__sync_pool_destroy(struct sync_pool *pool);
/* Syncs logs[i] up to upto[i] for every i, concurrently; results[i] gets each outcome. */
void stream__sync_many(struct sync_pool *pool, struct seglog *const *logs, const uint64_t *upto,
                       int *results, size_t n);

/* ---- shardmath.c: hash keys, sequence numbers, iterators ---- */
/* The slot in s->open_shards whose range holds hash (shards_lock held). */
size_t stream__open_slot_for_hash(const struct stream *s, u128 hash);
/* Shard i of n when the key space is split evenly, AWS style. */
void stream__shard_even_range(uint32_t i, uint32_t n, u128 *start, u128 *end);
/*
 * The sequence epoch of a shard created at created_ms whose parents' epochs are
 * parent_epoch_s (-1: no such parent): its creation second, but at least one above each
 * parent's, so that every number of a child exceeds every number of its parents. Only
 * stored values go in, so a restart computes the same epochs again.
 */
int64_t stream__seq_epoch(int64_t created_ms, int64_t parent_epoch_s, int64_t adjacent_epoch_s);
/* An iterator token for pos under key, into out (>= 128 bytes). */
void stream__iterator_encode(const uint8_t key[32], const struct stream_iterator_pos *pos,
                             char *out, size_t out_size);
/* 0, SL_E(INVALID_ARGUMENT) when forged or malformed, SL_E(EXPIRED_ITERATOR) when old. */
int stream__iterator_decode(const uint8_t key[32], const char *text, size_t len, int64_t now_ms,
                            struct stream_iterator_pos *pos, struct err_info *err);

#endif
