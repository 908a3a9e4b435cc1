#include "core/store.h"

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"

struct store {
    sqlite3 *db;
    pthread_mutex_t lock; /* serialises every use of db */
};

struct store_stmt {
    sqlite3_stmt *stmt;
    struct store *st;
};

static int map_rc(struct store *st, int rc)
{
    switch (rc) {
    case SQLITE_OK:
    case SQLITE_DONE: return 0;
    case SQLITE_ROW: return 1;
    case SQLITE_NOMEM: return SL_E(NOMEM);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return SL_CORRUPT("metadata database", -1, sqlite3_errmsg(st->db));
    default:
        log_msg(LOG_ERROR, "store", "sqlite: %s (%d)", sqlite3_errmsg(st->db), rc);
        return SL_E(IO);
    }
}

int store_open(const char *path, struct store **out)
{
    struct store *st = xcalloc(1, sizeof(*st));
    pthread_mutex_init(&st->lock, NULL);
    /* Created 0600 here, as SQLite would make it 0644; its -wal and -shm files take the
       database file's mode. */
    if (strcmp(path, ":memory:") != 0 && strncmp(path, "file:", 5) != 0) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) {
            close(fd);
        }
    }
    int rc = sqlite3_open_v2(path, &st->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        log_msg(LOG_ERROR, "store", "cannot open %s: %s", path,
                st->db ? sqlite3_errmsg(st->db) : "out of memory");
        store_close(st);
        return SL_E(IO);
    }
    sqlite3_busy_timeout(st->db, 5000);
    /* WAL with synchronous=FULL: a committed transaction survives power loss. */
    rc = store_exec(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                        "PRAGMA foreign_keys=ON;"
                        "CREATE TABLE IF NOT EXISTS schema_version("
                        " part TEXT PRIMARY KEY, version INTEGER NOT NULL);"
                        "CREATE TABLE IF NOT EXISTS settings("
                        " key TEXT PRIMARY KEY, value TEXT NOT NULL);");
    if (rc < 0) {
        store_close(st);
        return rc;
    }
    *out = st;
    return 0;
}

void store_close(struct store *st)
{
    if (st == NULL) {
        return;
    }
    if (st->db != NULL) {
        sqlite3_close_v2(st->db);
    }
    pthread_mutex_destroy(&st->lock);
    free(st);
}

void store_lock(struct store *st)
{
    pthread_mutex_lock(&st->lock);
}

void store_unlock(struct store *st)
{
    pthread_mutex_unlock(&st->lock);
}

int store_exec(struct store *st, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        log_msg(LOG_ERROR, "store", "exec failed: %s", msg ? msg : "?");
        sqlite3_free(msg);
        return map_rc(st, rc);
    }
    return 0;
}

int store_begin(struct store *st)
{
    return store_exec(st, "BEGIN IMMEDIATE");
}

int store_commit(struct store *st)
{
    return store_exec(st, "COMMIT");
}

void store_rollback(struct store *st)
{
    if (!sqlite3_get_autocommit(st->db)) {
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    }
}

static int version_locked(struct store *st, const char *part)
{
    struct store_stmt *s;
    if (store_prepare(st, "SELECT version FROM schema_version WHERE part=?", &s) < 0) {
        return 0;
    }
    store_bind_text(s, 1, part);
    int v = store_step(s) == 1 ? (int)store_col_int64(s, 0) : 0;
    store_finalize(s);
    return v;
}

int store_schema_version(struct store *st, const char *part)
{
    store_lock(st);
    int v = version_locked(st, part);
    store_unlock(st);
    return v;
}

int store_migrate(struct store *st, const char *part, const struct store_migration *m,
                  size_t n_migrations)
{
    int rc = 0;
    store_lock(st);
    int have = version_locked(st, part);
    for (size_t i = 0; i < n_migrations && rc == 0; i++) {
        if (m[i].version <= have) {
            continue;
        }
        rc = store_begin(st);
        if (rc == 0) {
            rc = store_exec(st, m[i].sql);
        }
        if (rc == 0) {
            char sql[256];
            snprintf(sql, sizeof(sql),
                     "INSERT INTO schema_version(part,version) VALUES('%s',%d)"
                     " ON CONFLICT(part) DO UPDATE SET version=excluded.version",
                     part, m[i].version);
            rc = store_exec(st, sql);
        }
        if (rc == 0) {
            rc = store_commit(st);
        }
        if (rc < 0) {
            store_rollback(st);
            log_msg(LOG_ERROR, "store", "migration %s v%d failed", part, m[i].version);
        } else {
            log_msg(LOG_DEBUG, "store", "migrated %s to v%d", part, m[i].version);
        }
    }
    store_unlock(st);
    return rc;
}

int store_prepare(struct store *st, const char *sql, struct store_stmt **out)
{
    sqlite3_stmt *raw = NULL;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &raw, NULL);
    if (rc != SQLITE_OK) {
        log_msg(LOG_ERROR, "store", "prepare failed: %s: %s", sqlite3_errmsg(st->db), sql);
        return map_rc(st, rc);
    }
    struct store_stmt *s = xmalloc(sizeof(*s));
    s->stmt = raw;
    s->st = st;
    *out = s;
    return 0;
}

void store_finalize(struct store_stmt *stmt)
{
    if (stmt == NULL) {
        return;
    }
    sqlite3_finalize(stmt->stmt);
    free(stmt);
}

int store_reset(struct store_stmt *stmt)
{
    sqlite3_reset(stmt->stmt);
    return map_rc(stmt->st, sqlite3_clear_bindings(stmt->stmt));
}

int store_bind_text(struct store_stmt *stmt, int idx, const char *text)
{
    if (text == NULL) {
        return store_bind_null(stmt, idx);
    }
    return map_rc(stmt->st, sqlite3_bind_text(stmt->stmt, idx, text, -1, SQLITE_TRANSIENT));
}

int store_bind_textn(struct store_stmt *stmt, int idx, const char *text, size_t len)
{
    return map_rc(stmt->st,
                  sqlite3_bind_text64(stmt->stmt, idx, text, len, SQLITE_TRANSIENT, SQLITE_UTF8));
}

int store_bind_int64(struct store_stmt *stmt, int idx, int64_t v)
{
    return map_rc(stmt->st, sqlite3_bind_int64(stmt->stmt, idx, v));
}

int store_bind_blob(struct store_stmt *stmt, int idx, const void *data, size_t len)
{
    return map_rc(stmt->st, sqlite3_bind_blob64(stmt->stmt, idx, data, len, SQLITE_TRANSIENT));
}

int store_bind_null(struct store_stmt *stmt, int idx)
{
    return map_rc(stmt->st, sqlite3_bind_null(stmt->stmt, idx));
}

int store_step(struct store_stmt *stmt)
{
    return map_rc(stmt->st, sqlite3_step(stmt->stmt));
}

const char *store_col_text(struct store_stmt *stmt, int col)
{
    return (const char *)sqlite3_column_text(stmt->stmt, col);
}

int64_t store_col_int64(struct store_stmt *stmt, int col)
{
    return sqlite3_column_int64(stmt->stmt, col);
}

const void *store_col_blob(struct store_stmt *stmt, int col, size_t *len_out)
{
    const void *p = sqlite3_column_blob(stmt->stmt, col);
    *len_out = (size_t)sqlite3_column_bytes(stmt->stmt, col);
    return p;
}

int store_col_is_null(struct store_stmt *stmt, int col)
{
    return sqlite3_column_type(stmt->stmt, col) == SQLITE_NULL;
}

int64_t store_changes(struct store *st)
{
    return sqlite3_changes64(st->db);
}

int64_t store_last_rowid(struct store *st)
{
    return sqlite3_last_insert_rowid(st->db);
}

const char *store_errmsg(struct store *st)
{
    return sqlite3_errmsg(st->db);
}

int store_setting_get(struct store *st, const char *key, char **value_out)
{
    *value_out = NULL;
    store_lock(st);
    struct store_stmt *s;
    int rc = store_prepare(st, "SELECT value FROM settings WHERE key=?", &s);
    if (rc == 0) {
        store_bind_text(s, 1, key);
        rc = store_step(s);
        if (rc == 1) {
            *value_out = xstrdup(store_col_text(s, 0));
            rc = 0;
        }
        store_finalize(s);
    }
    store_unlock(st);
    return rc;
}

int store_setting_put(struct store *st, const char *key, const char *value)
{
    store_lock(st);
    struct store_stmt *s;
    int rc = store_prepare(st,
                           "INSERT INTO settings(key,value) VALUES(?,?)"
                           " ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                           &s);
    if (rc == 0) {
        store_bind_text(s, 1, key);
        store_bind_text(s, 2, value);
        rc = store_step(s);
        store_finalize(s);
    }
    store_unlock(st);
    return rc < 0 ? rc : 0;
}
