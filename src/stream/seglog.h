/*
 * The segment log: one per shard, an append-only, crash-safe store of Kinesis records.
 *
 * A log lives in one directory of segment files (named by the index of their first record)
 * with a sparse index file beside each. Records get consecutive 64-bit indexes and an arrival
 * time in milliseconds that never decreases. Appends go to the OS at once; seglog_sync makes
 * them durable with group commit (one fdatasync serves every waiter it covers). Readers only
 * ever see durable records. The on-disk format and the recovery algorithm are specified at
 * the top of seglog_format.c.
 *
 * Thread safety: every function taking a struct seglog may be called from any number of
 * threads at once, except seglog_close, which the caller runs after all other calls ended.
 *
 * Errors: functions return 0 or a negative code (see core/err.h): -errno from the OS,
 * SL_E(CORRUPT) when a file fails its checks (logged through SL_CORRUPT with path and
 * offset), SL_E(INVALID_ARGUMENT) for a record outside the limits below, SL_E(NOMEM).
 */
#ifndef SLUICE_STREAM_SEGLOG_H
#define SLUICE_STREAM_SEGLOG_H

#include <stddef.h>
#include <stdint.h>

/* largest record payload, bytes: a Kinesis record's 1 MiB and the envelope of an encrypted
   one (the stream layer seals key and data together; see stream_crypt.c) */
#define SEGLOG_MAX_DATA_LEN (1024u * 1024u + 1024u + 64u)
#define SEGLOG_MAX_PK_LEN 1024u /* longest partition key: 256 characters of UTF-8, bytes */

struct seglog;

struct seglog_options {
    uint64_t segment_bytes;     /* roll to a new segment past this size; 0 = 64 MiB */
    uint32_t index_every_bytes; /* sparse index granularity; 0 = 64 KiB */
};

/* One record to append. The log copies everything; the pointers need only live for the call. */
struct seglog_record_in {
    const uint8_t *data;
    uint32_t data_len; /* 0..SEGLOG_MAX_DATA_LEN bytes */
    const char *partition_key;
    uint16_t pk_len; /* 1..SEGLOG_MAX_PK_LEN bytes */
    uint16_t flags;  /* SEGLOG_F_* bits, kept with the record and given back to readers */
};
/* The record's data is an envelope the stream layer sealed (encryption at rest). */
#define SEGLOG_F_SEALED 0x1u
#define SEGLOG_F_KNOWN SEGLOG_F_SEALED

/*
 * Opens the log in dir (creating dir if needed) and recovers it: the newest segment is
 * scanned and cut after its last whole, valid record (a torn or corrupt tail goes), its
 * sparse index is rebuilt, and it is fdatasynced, so every record left is durable. Older
 * (sealed) segments load their index file, rebuilding it from the segment when it is missing
 * or disagrees. first_index is used only when the log is new (no segment in dir): the index
 * the first record will get. opt may be NULL (defaults). On success *out (OUT) is the log,
 * which the caller closes with seglog_close.
 * Returns 0; -errno (-EINVAL for an empty dir); SL_E(CORRUPT) when a sealed segment is
 * damaged, segments overlap, or the newest segment's header is damaged (the log refuses to
 * open rather than lose durable records: run sluice-segcheck); SL_E(NOMEM).
 */
int seglog_open(const char *dir, const struct seglog_options *opt, uint64_t first_index,
                struct seglog **out);

/* Syncs what was appended (errors ignored: a caller that needs durability calls seglog_sync
 * first), then frees the log and its descriptors. NULL is fine. */
void seglog_close(struct seglog *log);

/*
 * Appends n records in order, with one write to the OS; they get consecutive indexes
 * starting at *first_index_out (OUT) and all the same arrival time *arrival_ms_out (OUT),
 * which is now_ms clamped to be no lower than the previous append's. Not yet durable: call
 * seglog_sync. n == 0 appends nothing and reports the next index and last arrival.
 * Returns 0; SL_E(INVALID_ARGUMENT) when a record breaks the limits above (nothing written);
 * SL_E(NOMEM); -errno of a failed write or fsync. A failed write (a full disk) leaves the log
 * as it was before the call: the file is cut back to its last whole record before the error
 * is returned, and a later append may succeed. A failed fsync (of a segment roll, or of that
 * cut), or a cut that could not be made, is sticky: every later append and sync fails with
 * that code until the log is closed and reopened. Records of a failed append never become
 * visible, before or after a reopen.
 */
int seglog_append(struct seglog *log, const struct seglog_record_in *recs, size_t n,
                  int64_t now_ms, uint64_t *first_index_out, int64_t *arrival_ms_out);

/*
 * Blocks until every record with index < upto is durable (upto above the next index is
 * clamped to it). Group commit: one fdatasync serves all waiters whose records it covers.
 * Returns 0 or the sticky error (-errno) of a failed fsync; a failed fsync is never retried.
 * Before that error is returned, every record that was not yet durable is cut from the file
 * (and the next index goes back to the durable index), so a record whose sync failed never
 * becomes visible, before or after a reopen, and a producer may resend it without making a
 * duplicate.
 */
int seglog_sync(struct seglog *log, uint64_t upto);

uint64_t seglog_next_index(struct seglog *log);    /* index the next append gets */
uint64_t seglog_durable_index(struct seglog *log); /* records < this are durable and readable */
uint64_t seglog_first_index(struct seglog *log);   /* oldest retained record */
/* Arrival of the newest durable record; 0 if the log never had one. It survives trims and
 * restarts (a log whose every record was trimmed still reports the last one's). */
int64_t seglog_last_arrival_ms(struct seglog *log);

/*
 * Called once per record by seglog_read, in index order. pk and data point into the
 * reader's buffer and stay valid only during the call. Return 0 to go on; non-zero stops
 * the read after this record (the record counts as visited). A negative value is also
 * returned by seglog_read, so a visitor can pass an error up.
 */
typedef int (*seglog_visit_fn)(void *arg, uint64_t index, int64_t arrival_ms, const char *pk,
                               size_t pk_len, const uint8_t *data, size_t data_len);

/* seglog_visit_fn with the record's SEGLOG_F_* flags. */
typedef int (*seglog_visit_flags_fn)(void *arg, uint64_t index, int64_t arrival_ms, unsigned flags,
                                     const char *pk, size_t pk_len, const uint8_t *data,
                                     size_t data_len);
/* seglog_read, giving each record's flags. */
int seglog_read_flags(struct seglog *log, uint64_t from, size_t max_records, size_t max_bytes,
                      seglog_visit_flags_fn visit, void *arg, uint64_t *next_out);

/*
 * Visits durable records from index `from` (clamped up to the first index) in order. Stops
 * after max_records records; before a record whose data would bring the visited data bytes
 * above max_bytes (but the first record available is always visited, whatever its size);
 * at the durable index; or after visit returns non-zero. max_records or max_bytes 0 means no
 * limit. *next_out (OUT) is the index after the last visited record (the clamped `from`
 * when none was visited). Every record is checked against its CRC before it is visited.
 * Returns 0, a negative value returned by visit, SL_E(CORRUPT) (a durable record fails its
 * checks), -errno of a failed read, SL_E(NOMEM).
 */
int seglog_read(struct seglog *log, uint64_t from, size_t max_records, size_t max_bytes,
                seglog_visit_fn visit, void *arg, uint64_t *next_out);

/*
 * *index_out (OUT) = index of the first durable record whose arrival_ms >= ts_ms, or the
 * durable index when there is none. Binary search over segments, then over the sparse
 * index, then a scan of at most one index interval.
 * Returns 0, SL_E(CORRUPT), -errno, SL_E(NOMEM).
 */
int seglog_find_time(struct seglog *log, int64_t ts_ms, uint64_t *index_out);

/*
 * Retention: deletes, oldest first, whole segments all of whose records are durable and
 * arrived before cutoff_ms. When the newest (active) segment is itself wholly expired, durable
 * and non-empty, it is sealed and an empty segment named for the next index starts first, so
 * the next index survives a restart. *n_segments_deleted (OUT, may be NULL) counts the
 * segments removed. Returns 0 or -errno (creating the new segment failed; nothing deleted).
 */
int seglog_trim_before(struct seglog *log, int64_t cutoff_ms, size_t *n_segments_deleted);

/* Removes the directory of a closed log and every file in it (stream deletion). A missing
 * directory is fine. Returns 0 or -errno. */
int seglog_remove_dir(const char *dir);

struct seglog_stats {
    uint64_t n_segments; /* segment files, the active one included */
    uint64_t bytes;      /* bytes in segment files (headers included; index files not) */
    uint64_t n_records;  /* records retained: next index - first index */
};
void seglog_get_stats(struct seglog *log, struct seglog_stats *out);
/*
 * Group commit, process-wide, for /metrics: how many records each seglog_sync flush made
 * durable. counts[i] flushes made at most seglog_batch_bounds[i] records durable (and
 * more than the bound before); the last count is of the larger ones.
 */
#define SEGLOG_BATCH_BUCKETS 12
extern const unsigned seglog_batch_bounds[SEGLOG_BATCH_BUCKETS - 1];
void seglog_batch_histogram(unsigned long counts[SEGLOG_BATCH_BUCKETS],
                            unsigned long long *sum_records);

/* What seglog_check_dir found. */
struct seglog_check_summary {
    uint64_t n_segments;   /* segment files examined */
    uint64_t n_records;    /* valid records found */
    uint64_t bytes;        /* bytes in segment files */
    uint64_t first_index;  /* index of the oldest record (first segment's base) */
    uint64_t next_index;   /* index after the last valid record */
    uint64_t n_problems;   /* problems reported through the callback */
    uint64_t n_torn_tails; /* of those, torn tails of the newest segment (open cuts them) */
};

/* One problem: the file, the byte offset in it (0 when about the whole file), a message. */
typedef void (*seglog_problem_fn)(void *arg, const char *path, uint64_t offset,
                                  const char *what);

/*
 * Offline check of a log directory that no process has open: reads every segment in full,
 * verifying its header and every record (length, CRC, index sequence, arrival order), that
 * segments follow each other without gap or overlap, and that each index file agrees with
 * its segment. Reports each problem through problem (may be NULL) and fills *out (OUT).
 * Changes nothing on disk. Returns 0 when the directory could be examined (problems or not:
 * see out->n_problems), -errno when it could not be listed.
 */
int seglog_check_dir(const char *dir, seglog_problem_fn problem, void *arg,
                     struct seglog_check_summary *out);

#endif
