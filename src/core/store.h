/*
 * The metadata store: one SQLite database in WAL mode, shared by every service.
 *
 * This is the only file set that talks to SQLite. Services see a store, prepared
 * statements and transactions. Metadata is never on the record hot path.
 *
 * Connections. One writer connection is serialised by the store's mutex: callers
 * bracket each unit of work that writes with store_lock/store_unlock (a transaction
 * adds store_begin/store_commit inside). Work that only reads brackets itself with
 * store_read_begin/store_read_end instead, which lend the calling thread one of a
 * small pool of read-only connections; WAL lets those read while the writer writes
 * and while other threads read, so a long scan holds up no one but its caller.
 *
 * Which connection a call uses. store_prepare, store_exec, store_changes,
 * store_last_rowid and store_errmsg act on the connection the calling thread holds
 * for st: the writer while the thread holds store_lock (even inside a read bracket,
 * so a writer sees its own uncommitted rows), else its read connection while inside
 * store_read_begin/_end. A statement stays on the connection it was prepared on, so
 * it must be finalized before the bracket that gave it ends.
 *
 *     no bracket --store_read_begin--> reading (a pooled read connection, or the
 *         ^                              writer when the thread holds store_lock)
 *         +------store_read_end---------+   (nests: the outermost end releases)
 *
 * A read bracket is one read transaction: every statement inside it sees the same
 * snapshot, taken at its first read. Keep brackets short (no callbacks, no I/O
 * waits): a reader that never ends keeps the WAL from being checkpointed.
 *
 * Schema versions are kept per part (stream, lake, catalog, ...), so each part migrates
 * its own tables independently: a part lists its migrations in order and store_migrate
 * applies the ones not yet applied, each in its own transaction. Table schema_applied
 * records every (part, version) applied, so a number added below the highest applied
 * (a gap filled later) is still applied; schema_version keeps each part's highest.
 */
#ifndef SLUICE_CORE_STORE_H
#define SLUICE_CORE_STORE_H

#include <stddef.h>
#include <stdint.h>

struct store;
struct store_stmt;

/* Opens (creating) the database at path. Returns 0 or a negative code. Read
 * connections are opened on first need, at most STORE_READERS_MAX; an in-memory
 * database (":memory:" or "") has none and its readers share the writer. */
int store_open(const char *path, struct store **out);
/* Accepts NULL. No thread may be inside a bracket of st. */
void store_close(struct store *st);

#define STORE_READERS_MAX 8

/* Takes the writer connection for the calling thread until store_unlock. Not
 * recursive; a thread inside a read bracket may take it (its statements prepared
 * from then on run on the writer; the bracket's snapshot, if it has one, does not
 * move). A read bracket opened inside the lock must end before store_unlock (a misuse
 * that aborts). */
void store_lock(struct store *st);
void store_unlock(struct store *st);
/* How many store_lock brackets have ended: unchanged between two reads, nothing was
 * written between them, so a reader may keep what it read (a cache) until it moves. */
uint64_t store_write_count(struct store *st);

/* Gives the calling thread a read connection of st until the matching
 * store_read_end, and opens a read transaction on it. Brackets nest on one thread
 * (only the outermost one acquires and releases). Inside store_lock it borrows the
 * writer and changes nothing. Waits only while every pooled connection is lent to
 * other threads. Never fails: when no read connection can be had (an in-memory
 * database, a connection that cannot be opened) the thread takes the writer's mutex
 * instead, as store_lock does, and store_read_end gives it back. Statements must not
 * be written through a read bracket: SQLite answers them with an error (SL_E(IO)). */
void store_read_begin(struct store *st);
/* Ends the calling thread's innermost read bracket of st; the outermost end commits
 * the read transaction and returns the connection to the pool. Every statement
 * prepared on the connection must be finalized by then. */
void store_read_end(struct store *st);

/* Runs one or more statements without results, on the thread's connection. */
int store_exec(struct store *st, const char *sql);
int store_begin(struct store *st);
int store_commit(struct store *st);
void store_rollback(struct store *st);

struct store_migration {
    int version;     /* 1, 2, 3, ... in order; numbers may be left free and filled later */
    const char *sql; /* statements that take the part from version-1 to version */
};
/* Applies part's migrations not yet recorded as applied, in order, each in its own
 * transaction; stops at the first that fails. A part migrated by a build older than
 * schema_applied counts every number up to its recorded version as applied. Takes the
 * lock itself. */
int store_migrate(struct store *st, const char *part, const struct store_migration *m,
                  size_t n_migrations);
/* The highest applied schema version of part, 0 when none. Takes the lock itself. */
int store_schema_version(struct store *st, const char *part);

/* Statements: prepare, bind (1-based), step, read columns (0-based), finalize.
 * store_prepare uses the connection the calling thread holds (see the top); it
 * returns 0 or a negative code (SL_E(IO) for bad SQL, SL_E(NOMEM), SL_E(CORRUPT)). */
int store_prepare(struct store *st, const char *sql, struct store_stmt **out);
void store_finalize(struct store_stmt *stmt);
int store_reset(struct store_stmt *stmt);
int store_bind_text(struct store_stmt *stmt, int idx, const char *text);
int store_bind_textn(struct store_stmt *stmt, int idx, const char *text, size_t len);
int store_bind_int64(struct store_stmt *stmt, int idx, int64_t v);
int store_bind_double(struct store_stmt *stmt, int idx, double v);
int store_bind_blob(struct store_stmt *stmt, int idx, const void *data, size_t len);
int store_bind_null(struct store_stmt *stmt, int idx);
/* 1 when a row is ready, 0 when done, negative on error. */
int store_step(struct store_stmt *stmt);
/* Column text is valid until the next step/reset/finalize; NULL for SQL NULL. */
const char *store_col_text(struct store_stmt *stmt, int col);
int64_t store_col_int64(struct store_stmt *stmt, int col);
double store_col_double(struct store_stmt *stmt, int col);
const void *store_col_blob(struct store_stmt *stmt, int col, size_t *len_out);
int store_col_is_null(struct store_stmt *stmt, int col);
/*
 * Prepares sql and binds its parameters in order by fmt, one letter each: 's' a
 * const char * (NULL binds SQL NULL), 'i' an int64_t. Returns the statement (the caller
 * finalizes it), or NULL when it does not prepare.
 */
struct store_stmt *store_prepare_args(struct store *st, const char *sql, const char *fmt, ...);
/* store_prepare_args, one step, finalize: 0, or a negative code (SL_E(IO) when the
   statement does not prepare). */
int store_run(struct store *st, const char *sql, const char *fmt, ...);

/* Rows changed by the last statement; rowid of the last insert (thread's connection). */
int64_t store_changes(struct store *st);
int64_t store_last_rowid(struct store *st);
/* The message of the last SQLite failure, for logs. */
const char *store_errmsg(struct store *st);

/* Key/value settings kept by Sluice itself (secrets, identifiers). Take the lock. */
int store_setting_get(struct store *st, const char *key, char **value_out);
int store_setting_put(struct store *st, const char *key, const char *value);

#endif
