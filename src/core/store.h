/*
 * The metadata store: one SQLite database in WAL mode, shared by every service.
 *
 * This is the only file set that talks to SQLite. Services see a store, prepared
 * statements and transactions. One connection is shared and serialised by the store's
 * mutex: callers bracket each unit of work with store_lock/store_unlock (a transaction
 * adds store_begin/store_commit inside). Metadata is never on the record hot path.
 *
 * Schema versions are kept per part (stream, lake, catalog, ...) in table
 * schema_version, so each part migrates its own tables independently: a part lists its
 * migrations in order and store_migrate applies the ones not yet applied, each in its
 * own transaction.
 */
#ifndef SLUICE_CORE_STORE_H
#define SLUICE_CORE_STORE_H

#include <stddef.h>
#include <stdint.h>

struct store;
struct store_stmt;

/* Opens (creating) the database at path. Returns 0 or a negative code. */
int store_open(const char *path, struct store **out);
void store_close(struct store *st);

void store_lock(struct store *st);
void store_unlock(struct store *st);

/* Runs one or more statements without results. */
int store_exec(struct store *st, const char *sql);
int store_begin(struct store *st);
int store_commit(struct store *st);
void store_rollback(struct store *st);

struct store_migration {
    int version;     /* 1, 2, 3, ... in order */
    const char *sql; /* statements that take the part from version-1 to version */
};
/* Applies part's migrations newer than its recorded version. Takes the lock itself. */
int store_migrate(struct store *st, const char *part, const struct store_migration *m,
                  size_t n_migrations);
/* The recorded schema version of part, 0 when none. Takes the lock itself. */
int store_schema_version(struct store *st, const char *part);

/* Statements: prepare, bind (1-based), step, read columns (0-based), finalize. */
int store_prepare(struct store *st, const char *sql, struct store_stmt **out);
void store_finalize(struct store_stmt *stmt);
int store_reset(struct store_stmt *stmt);
int store_bind_text(struct store_stmt *stmt, int idx, const char *text);
int store_bind_textn(struct store_stmt *stmt, int idx, const char *text, size_t len);
int store_bind_int64(struct store_stmt *stmt, int idx, int64_t v);
int store_bind_blob(struct store_stmt *stmt, int idx, const void *data, size_t len);
int store_bind_null(struct store_stmt *stmt, int idx);
/* 1 when a row is ready, 0 when done, negative on error. */
int store_step(struct store_stmt *stmt);
/* Column text is valid until the next step/reset/finalize; NULL for SQL NULL. */
const char *store_col_text(struct store_stmt *stmt, int col);
int64_t store_col_int64(struct store_stmt *stmt, int col);
const void *store_col_blob(struct store_stmt *stmt, int col, size_t *len_out);
int store_col_is_null(struct store_stmt *stmt, int col);
/* Rows changed by the last statement; rowid of the last insert. */
int64_t store_changes(struct store *st);
int64_t store_last_rowid(struct store *st);
/* The message of the last SQLite failure, for logs. */
const char *store_errmsg(struct store *st);

/* Key/value settings kept by Sluice itself (secrets, identifiers). Take the lock. */
int store_setting_get(struct store *st, const char *key, char **value_out);
int store_setting_put(struct store *st, const char *key, const char *value);

#endif
