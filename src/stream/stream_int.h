/* Internals shared by the files of src/stream; never included from another part. */
#ifndef SLUICE_STREAM_INT_H
#define SLUICE_STREAM_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "stream/seglog.h"
#include "stream/stream.h"

typedef unsigned __int128 u128;

#define STREAM_NAME_MAX 128
#define SHARD_ID_LEN 20          /* "shardId-" + 12 digits */
#define SEQNO_LEN 56             /* digits in a sequence number */
#define ITERATOR_TTL_MS (5 * 60 * 1000)
#define RECORD_MAX_BYTES (1024 * 1024)
#define PUT_RECORDS_MAX 500
#define PUT_RECORDS_MAX_BYTES (5 * 1024 * 1024)
#define GET_RECORDS_MAX 10000
#define GET_RECORDS_MAX_BYTES (10 * 1024 * 1024)
#define ON_DEMAND_INITIAL_SHARDS 4
#define RETENTION_MIN_HOURS 24
#define RETENTION_MAX_HOURS 8760

enum stream_status { STREAM_CREATING, STREAM_ACTIVE, STREAM_UPDATING, STREAM_DELETING };
enum stream_mode { MODE_PROVISIONED, MODE_ON_DEMAND };

struct shard {
    uint32_t idx;          /* N of shardId-N */
    u128 start_hash;       /* inclusive */
    u128 end_hash;         /* inclusive */
    struct seglog *log;    /* owned */
};

struct stream_counters {
    atomic_uint_fast64_t incoming_records, incoming_bytes;
    atomic_uint_fast64_t outgoing_records, outgoing_bytes;
    atomic_uint_fast64_t put_failures;
};

/*
 * One stream. Immutable after creation but for the fields under svc->lock. Freed when
 * its last reference goes (refs, atomic); the service holds one while it lists it.
 */
struct stream {
    int64_t id;                 /* store row id; names the data directory */
    char region[32];
    char account[16];
    char name[STREAM_NAME_MAX + 1];
    char arn[256];
    uint64_t seq_tag;           /* digits 3..20 of every sequence number: creation ms */
    int64_t created_ms;
    uint32_t n_shards;
    struct shard *shards;       /* sorted by start_hash, n_shards of them */
    char dir[600];              /* DIR/streams/<id> */
    atomic_int refs;
    /* under svc->lock */
    enum stream_mode mode;
    int retention_hours;
    enum stream_status status;
    int64_t status_until_ms;    /* when CREATING/UPDATING/DELETING ends */
    char encryption[8];         /* "NONE" or "KMS" */
    char key_id[2049];
    struct stream_counters counters;
    int row_deleted;            /* the row is gone: the files go with the last reference */
};

struct sync_pool;

struct stream_service {
    struct store *store;
    const struct sluice_config *cfg;
    pthread_mutex_t lock;        /* guards streams[] and the mutable stream fields */
    struct stream **streams;     /* live streams, any order */
    size_t n_streams;
    uint8_t iterator_key[32];    /* HMAC key of shard iterators, kept in settings */
    pthread_t retention_thread;
    pthread_mutex_t retention_lock;
    pthread_cond_t retention_wake;
    int stopping;                /* under retention_lock */
    struct sync_pool *sync_pool; /* threads that sync shards in parallel */
};

/* ---- stream.c ---- */
/* Looks a stream up by region and name; takes a reference. NULL when absent/deleted. */
struct stream *stream__get(struct stream_service *svc, const char *region, const char *name);
void stream__put(struct stream *s);
/* Applies timed state transitions (CREATING→ACTIVE, ...); needs svc->lock. */
void stream__settle(struct stream_service *svc, int64_t now_ms);
int stream__create(struct stream_service *svc, const char *region, const char *account,
                   const char *name, enum stream_mode mode, int shard_count, int64_t now_ms,
                   struct err_info *err);
int stream__delete(struct stream_service *svc, struct stream *s, int64_t now_ms,
                   struct err_info *err);
/* Persists the mutable fields (mode, retention, status, encryption). Needs svc->lock. */
int stream__save(struct stream_service *svc, struct stream *s);
int stream__shard_limit(const struct stream_service *svc, const char *region);
/* Open shards in the region, and on-demand streams in the region; needs svc->lock. */
void stream__counts(struct stream_service *svc, const char *region, int *open_shards,
                    int *on_demand_streams);
const char *stream__status_name(enum stream_status st);
/* Tags: stored per stream in the store. */
int stream__tags_list(struct stream_service *svc, const struct stream *s, char ***keys,
                      char ***values, size_t *n);
int stream__tags_put(struct stream_service *svc, const struct stream *s, const char *const *keys,
                     const char *const *values, size_t n, struct err_info *err);
int stream__tags_remove(struct stream_service *svc, const struct stream *s,
                        const char *const *keys, size_t n);
void stream__tags_free(char **keys, char **values, size_t n);

/* ---- syncpool.c ---- */
struct sync_pool *stream__sync_pool_create(size_t n_threads);
void stream__sync_pool_destroy(struct sync_pool *pool);
/* Syncs logs[i] up to upto[i] for every i, concurrently; results[i] gets each outcome. */
void stream__sync_many(struct sync_pool *pool, struct seglog *const *logs, const uint64_t *upto,
                       int *results, size_t n);

/* ---- shardmath.c: hash keys, sequence numbers, iterators ---- */
/* MD5 of the partition key as a big-endian 128-bit number. */
u128 hashkey_of_partition_key(const char *pk, size_t len);
/* Parses a decimal 0..2^128-1 with no sign or leading zeros (but "0"). 0 or -1. */
int hashkey_parse(const char *text, size_t len, u128 *out);
/* Decimal text of v into out (40 bytes). */
void hashkey_format(u128 v, char out[48]);
/* The shard whose range holds hash (shards sorted, covering the whole space). */
struct shard *shard_for_hash(struct stream *s, u128 hash);
/* Shard i of n when the key space is split evenly, AWS style. */
void shard_even_range(uint32_t i, uint32_t n, u128 *start, u128 *end);
void shard_id_format(uint32_t idx, char out[SHARD_ID_LEN + 1]);
/* Parses "shardId-000000000007" (or a bare number) into 7; -1 when malformed. */
int shard_id_parse(const char *text, uint32_t *idx_out);

void seqno_format(uint64_t tag, uint32_t shard_idx, uint64_t index, char out[SEQNO_LEN + 1]);
/*
 * Parses a sequence number of this stream and shard into its record index. -1 when it is
 * not a Sluice sequence number of that stream and shard.
 */
int seqno_parse(const char *text, size_t len, uint64_t tag, uint32_t shard_idx,
                uint64_t *index_out);
/* 1 when text looks like a sequence number by the API's pattern 0|([1-9]\d{0,128}). */
int seqno_pattern_ok(const char *text, size_t len);

struct iterator_pos {
    int64_t stream_id;
    uint64_t seq_tag;
    uint32_t shard_idx;
    uint64_t index;     /* next record to read */
    int64_t issued_ms;
};
/* An opaque, tamper-evident token for pos, into out (>= 128 bytes). */
void iterator_encode(const uint8_t key[32], const struct iterator_pos *pos, char *out,
                     size_t out_size);
/* 0, SL_E(INVALID_ARGUMENT) when forged or malformed, SL_E(EXPIRED_ITERATOR) when old. */
int iterator_decode(const uint8_t key[32], const char *text, size_t len, int64_t now_ms,
                    struct iterator_pos *pos, struct err_info *err);

#endif
