#include "core/store.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "core/mem.h"

/*
 * Lock map.
 *   store.lock guards w (the writer connection), its statement cache and every
 *   statement prepared on it.
 *   store.pool_lock guards readers[], n_readers and the busy flags; pool_free is
 *   signalled when a reader is returned.
 *   A reader's connection and its statement cache are used by the one thread it is
 *   lent to, between its thread's outermost store_read_begin and store_read_end, and by
 *   nobody else.
 *   Per-thread state (which connection this thread holds for which store) lives in
 *   thread-local slots, so finding the connection for a statement takes no lock.
 *   store.ck_lock guards ck_wanted and ck_stop; it is taken inside store.lock (the WAL
 *   hook runs in a commit), never the other way round.
 */

/*
 * Statement cache. Parsing and planning a statement costs more than running most of
 * ours, and the same few texts come back on every request, so each connection keeps the
 * statements it finalized, reset and unbound, keyed by their SQL text, and store_prepare
 * hands one back instead of preparing anew. A statement in use is out of the cache, so
 * nobody else gets it: a second prepare of the same text meanwhile (nested use) prepares
 * another. Least recently used go first once STMT_CACHE_MAX wait.
 */
#define STMT_CACHE_MAX 64

struct conn {
    sqlite3 *db;                             /* NULL until opened */
    struct store_stmt *idle[STMT_CACHE_MAX]; /* ready for reuse, least recent first */
    size_t n_idle;
};

struct reader {
    struct conn c; /* read-only connection */
    int busy;      /* lent to a thread (guarded by pool_lock) */
};

struct store {
    struct conn w;        /* the writer connection */
    pthread_mutex_t lock; /* serialises every use of w */
    char *path;           /* NULL for an in-memory database: no readers */
    pthread_mutex_t pool_lock;
    pthread_cond_t pool_free;
    struct reader readers[STORE_READERS_MAX];
    size_t n_readers; /* readers[0..n_readers) have been opened */
    _Atomic uint64_t writes; /* store_unlock calls: see store_write_count */
    /* Checkpoints of the WAL into the database, off the writer (see checkpointer). */
    pthread_t ck_thread;
    int ck_running;
    pthread_mutex_t ck_lock;
    pthread_cond_t ck_cond;
    int ck_wanted; /* the WAL has grown past CHECKPOINT_PAGES (guarded by ck_lock) */
    int ck_stop;   /* store_close is waiting for the thread (guarded by ck_lock) */
};

struct store_stmt {
    sqlite3_stmt *stmt;
    sqlite3 *db;       /* the connection it was prepared on, for error messages */
    struct conn *home; /* whose cache it goes back to */
    uint64_t hash;     /* of sql */
    size_t sql_len;
    char sql[]; /* the text it was prepared from: the cache's key */
};

/* What one thread holds of one store. A slot is free when st is NULL; it is released
 * as soon as the thread holds nothing of st, so a closed store leaves no slot. */
enum hold_mode {
    HOLD_NONE,          /* no read bracket */
    HOLD_READER,        /* a pooled read connection */
    HOLD_WRITER_BORROW, /* the bracket opened inside store_lock: the writer, no action */
    HOLD_WRITER_OWN,    /* the bracket took the writer's mutex as a fallback */
};
struct hold {
    struct store *st;
    int writer_held;     /* store_lock is held by this thread */
    int read_depth;      /* nesting of store_read_begin */
    enum hold_mode mode; /* what the outermost read bracket took */
    struct reader *rd;   /* the lent reader when mode is HOLD_READER */
};
#define HOLDS_PER_THREAD 4
static _Thread_local struct hold holds[HOLDS_PER_THREAD];

static struct hold *hold_find(struct store *st)
{
    for (size_t i = 0; i < HOLDS_PER_THREAD; i++) {
        if (holds[i].st == st) {
            return &holds[i];
        }
    }
    return NULL;
}

/* The thread's slot for st, taking a free one. A thread holding more than
 * HOLDS_PER_THREAD stores at once is a misuse. */
static struct hold *hold_get(struct store *st)
{
    struct hold *h = hold_find(st);
    if (h == NULL) {
        h = hold_find(NULL);
        if (h == NULL) {
            log_msg(LOG_ERROR, "store", "a thread holds more than %d stores", HOLDS_PER_THREAD);
            abort();
        }
        memset(h, 0, sizeof(*h));
        h->st = st;
    }
    return h;
}

static void hold_release_if_idle(struct hold *h)
{
    if (!h->writer_held && h->read_depth == 0) {
        memset(h, 0, sizeof(*h));
    }
}

/* The connection the calling thread works on for st: the writer while it holds the
 * lock, its read connection inside a read bracket, else the writer (a caller that
 * forgot the lock; kept as it always was). */
static struct conn *conn_of(struct store *st)
{
    struct hold *h = hold_find(st);
    if (h != NULL && !h->writer_held && h->mode == HOLD_READER) {
        return &h->rd->c;
    }
    return &st->w;
}

static int map_rc(sqlite3 *db, int rc)
{
    switch (rc) {
    case SQLITE_OK:
    case SQLITE_DONE: return 0;
    case SQLITE_ROW: return 1;
    case SQLITE_NOMEM: return SL_E(NOMEM);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return SL_CORRUPT("metadata database", -1, sqlite3_errmsg(db));
    default:
        log_msg(LOG_ERROR, "store", "sqlite: %s (%d)", sqlite3_errmsg(db), rc);
        return SL_E(IO);
    }
}

static void stmt_free(struct store_stmt *s)
{
    sqlite3_finalize(s->stmt);
    free(s);
}

static uint64_t sql_hash(const char *sql, size_t len)
{
    uint64_t h = 14695981039346656037u; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (uint8_t)sql[i]) * 1099511628211u;
    }
    return h;
}

/* A statement of sql on c: the most recently cached one with that text, taken out of the
 * cache, else a new one. An SQLite code. */
static int conn_prepare(struct conn *c, const char *sql, struct store_stmt **out)
{
    size_t len = strlen(sql);
    uint64_t hash = sql_hash(sql, len);
    for (size_t i = c->n_idle; i-- > 0;) {
        struct store_stmt *s = c->idle[i];
        if (s->hash == hash && s->sql_len == len && memcmp(s->sql, sql, len) == 0) {
            memmove(&c->idle[i], &c->idle[i + 1], (c->n_idle - i - 1) * sizeof(c->idle[0]));
            c->n_idle--;
            *out = s;
            return SQLITE_OK;
        }
    }
    sqlite3_stmt *raw = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql, (int)len + 1, &raw, NULL);
    if (rc != SQLITE_OK) {
        return rc;
    }
    struct store_stmt *s = xmalloc(sizeof(*s) + len + 1);
    s->stmt = raw;
    s->db = c->db;
    s->home = c;
    s->hash = hash;
    s->sql_len = len;
    memcpy(s->sql, sql, len + 1);
    *out = s;
    return SQLITE_OK;
}

/* Finalizes the cached statements and closes the connection. */
static void conn_close(struct conn *c)
{
    for (size_t i = 0; i < c->n_idle; i++) {
        stmt_free(c->idle[i]);
    }
    c->n_idle = 0;
    if (c->db != NULL) {
        sqlite3_close_v2(c->db);
        c->db = NULL;
    }
}

/* Runs one statement without results through the cache; an SQLite code. */
static int conn_run(struct conn *c, const char *sql)
{
    struct store_stmt *s;
    int rc = conn_prepare(c, sql, &s);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s->stmt);
        store_finalize(s);
    }
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int is_memory_path(const char *path)
{
    return path[0] == '\0' || strcmp(path, ":memory:") == 0;
}

/*
 * SQLite's syncs, counted in file_flush_count: the default VFS is wrapped so that each
 * file it opens gets a copy of its method table whose xSync notes the flush and calls
 * the original. Only the table pointer changes; the file itself is SQLite's own.
 */
struct counted_methods {
    sqlite3_io_methods m;
    const sqlite3_io_methods *orig;
};
static struct counted_methods counted[8];
static size_t n_counted;
static pthread_mutex_t counted_lock = PTHREAD_MUTEX_INITIALIZER;
static sqlite3_vfs counted_vfs;
static sqlite3_vfs *base_vfs;
static pthread_once_t counted_once = PTHREAD_ONCE_INIT;

static int counted_sync(sqlite3_file *f, int flags)
{
    const struct counted_methods *c = (const struct counted_methods *)f->pMethods;
    file_flush_note();
    return c->orig->xSync(f, flags);
}

static const sqlite3_io_methods *counted_wrap(const sqlite3_io_methods *orig)
{
    const sqlite3_io_methods *out = orig; /* unwrapped if the table is full */
    pthread_mutex_lock(&counted_lock);
    for (size_t i = 0; i < n_counted; i++) {
        if (counted[i].orig == orig) {
            out = &counted[i].m;
        }
    }
    if (out == orig && n_counted < sizeof(counted) / sizeof(counted[0])) {
        struct counted_methods *c = &counted[n_counted++];
        c->m = *orig;
        c->m.xSync = counted_sync;
        c->orig = orig;
        out = &c->m;
    }
    pthread_mutex_unlock(&counted_lock);
    return out;
}

static int counted_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags,
                        int *out_flags)
{
    (void)vfs;
    int rc = base_vfs->xOpen(base_vfs, name, f, flags, out_flags);
    if (rc == SQLITE_OK && f->pMethods != NULL) {
        f->pMethods = counted_wrap(f->pMethods);
    }
    return rc;
}

static void counted_install(void)
{
    base_vfs = sqlite3_vfs_find(NULL);
    if (base_vfs == NULL) {
        return;
    }
    counted_vfs = *base_vfs;
    counted_vfs.zName = "sluice-counted";
    counted_vfs.pNext = NULL;
    counted_vfs.xOpen = counted_open;
    sqlite3_vfs_register(&counted_vfs, 1);
}

/*
 * Checkpoints. SQLite by default copies the WAL back into the database in the thread
 * whose commit took it past 1,000 pages, writing and flushing megabytes while that
 * thread holds the writer, so every writer waits for it. Here a commit past
 * CHECKPOINT_PAGES only wakes the store's checkpointer thread, which runs a passive
 * checkpoint on a connection of its own: writers go on appending meanwhile, and wait
 * only while it copies what they appended during its run (the WAL restarts from its
 * start only when a write begins with all of it in the database). Durability
 * does not depend on it (a commit is durable once the WAL is flushed). Should the WAL
 * outgrow CHECKPOINT_INLINE_PAGES anyway, the committing thread checkpoints as before.
 */
#define CHECKPOINT_PAGES 1000
#define CHECKPOINT_INLINE_PAGES 16000

static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct store *st = arg;
    if (pages >= CHECKPOINT_INLINE_PAGES) {
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    } else if (pages >= CHECKPOINT_PAGES) {
        pthread_mutex_lock(&st->ck_lock);
        st->ck_wanted = 1;
        pthread_cond_signal(&st->ck_cond);
        pthread_mutex_unlock(&st->ck_lock);
    }
    return SQLITE_OK;
}

/* The checkpointer's connection, NULL when it cannot be had (writers then checkpoint
 * past the inline limit). */
static sqlite3 *checkpointer_open(const struct store *st)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(st->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    /* A connection learns that the database is in WAL mode from its first read. */
    if (rc == SQLITE_OK) {
        rc = sqlite3_exec(db, "SELECT 1 FROM sqlite_master LIMIT 1", NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        log_msg(LOG_WARN, "store", "cannot open a connection to checkpoint %s: %s", st->path,
                db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close_v2(db);
        return NULL;
    }
    return db;
}

static void *checkpointer(void *arg)
{
    struct store *st = arg;
    sqlite3 *db = NULL;
    pthread_mutex_lock(&st->ck_lock);
    for (;;) {
        while (!st->ck_wanted && !st->ck_stop) {
            pthread_cond_wait(&st->ck_cond, &st->ck_lock);
        }
        if (st->ck_stop) {
            break;
        }
        st->ck_wanted = 0;
        pthread_mutex_unlock(&st->ck_lock);
        if (db == NULL) {
            db = checkpointer_open(st); /* NULL: tried again next time */
        }
        if (db != NULL) {
            int rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
            /* The WAL starts over only when a write begins with every frame in the
               database; writers committed meanwhile, so the few frames they added are
               copied with the writer held. That satisfies every wake-up so far. */
            store_lock(st);
            if (rc == SQLITE_OK) {
                rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
            }
            pthread_mutex_lock(&st->ck_lock);
            st->ck_wanted = 0;
            pthread_mutex_unlock(&st->ck_lock);
            store_unlock(st);
            if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
                log_msg(LOG_WARN, "store", "checkpoint: %s", sqlite3_errmsg(db));
            }
        }
        pthread_mutex_lock(&st->ck_lock);
    }
    pthread_mutex_unlock(&st->ck_lock);
    sqlite3_close_v2(db);
    return NULL;
}

/* Hands the store's checkpoints to a thread of their own; left to SQLite's default when
 * the thread cannot start. */
static void checkpointer_start(struct store *st)
{
    if (pthread_create(&st->ck_thread, NULL, checkpointer, st) != 0) {
        log_msg(LOG_WARN, "store", "checkpoints stay with the writer: no thread");
        return;
    }
    st->ck_running = 1;
    sqlite3_wal_hook(st->w.db, wal_hook, st);
}

int store_open(const char *path, struct store **out)
{
    pthread_once(&counted_once, counted_install);
    struct store *st = xcalloc(1, sizeof(*st));
    pthread_mutex_init(&st->lock, NULL);
    pthread_mutex_init(&st->pool_lock, NULL);
    pthread_cond_init(&st->pool_free, NULL);
    pthread_mutex_init(&st->ck_lock, NULL);
    pthread_cond_init(&st->ck_cond, NULL);
    st->path = is_memory_path(path) ? NULL : xstrdup(path);
    /* Created 0600 here, as SQLite would make it 0644; its -wal and -shm files take the
       database file's mode. */
    if (st->path != NULL && strncmp(path, "file:", 5) != 0) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) {
            close(fd);
        }
    }
    int rc = sqlite3_open_v2(
        path, &st->w.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        log_msg(LOG_ERROR, "store", "cannot open %s: %s", path,
                st->w.db ? sqlite3_errmsg(st->w.db) : "out of memory");
        store_close(st);
        return SL_E(IO);
    }
    sqlite3_busy_timeout(st->w.db, 5000);
    /* WAL with synchronous=FULL: a committed transaction survives power loss. */
    rc = store_exec(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                        "PRAGMA foreign_keys=ON;"
                        "CREATE TABLE IF NOT EXISTS schema_version("
                        " part TEXT PRIMARY KEY, version INTEGER NOT NULL);"
                        "CREATE TABLE IF NOT EXISTS schema_applied("
                        " part TEXT NOT NULL, version INTEGER NOT NULL,"
                        " PRIMARY KEY(part, version)) WITHOUT ROWID;"
                        "CREATE TABLE IF NOT EXISTS settings("
                        " key TEXT PRIMARY KEY, value TEXT NOT NULL);");
    if (rc < 0) {
        store_close(st);
        return rc;
    }
    if (st->path != NULL) {
        checkpointer_start(st);
    }
    *out = st;
    return 0;
}

void store_close(struct store *st)
{
    if (st == NULL) {
        return;
    }
    if (st->ck_running) {
        pthread_mutex_lock(&st->ck_lock);
        st->ck_stop = 1;
        pthread_cond_signal(&st->ck_cond);
        pthread_mutex_unlock(&st->ck_lock);
        pthread_join(st->ck_thread, NULL);
    }
    for (size_t i = 0; i < st->n_readers; i++) {
        conn_close(&st->readers[i].c);
    }
    conn_close(&st->w);
    pthread_cond_destroy(&st->ck_cond);
    pthread_mutex_destroy(&st->ck_lock);
    pthread_cond_destroy(&st->pool_free);
    pthread_mutex_destroy(&st->pool_lock);
    pthread_mutex_destroy(&st->lock);
    free(st->path);
    free(st);
}

void store_lock(struct store *st)
{
    struct hold *h = hold_get(st);
    /* A read bracket that fell back to the writer already holds its mutex. */
    if (!(h->read_depth > 0 && h->mode == HOLD_WRITER_OWN)) {
        pthread_mutex_lock(&st->lock);
    }
    h->writer_held = 1;
}

void store_unlock(struct store *st)
{
    struct hold *h = hold_find(st);
    if (h == NULL || !h->writer_held) {
        log_msg(LOG_ERROR, "store", "store_unlock without store_lock");
        abort();
    }
    if (h->read_depth > 0 && h->mode == HOLD_WRITER_BORROW) {
        /* The bracket reads on the writer: it must end before the lock is given up. */
        log_msg(LOG_ERROR, "store", "store_unlock inside a read bracket opened under the lock");
        abort();
    }
    atomic_fetch_add(&st->writes, 1);
    int keep_mutex = h->read_depth > 0 && h->mode == HOLD_WRITER_OWN;
    h->writer_held = 0;
    hold_release_if_idle(h);
    if (!keep_mutex) {
        pthread_mutex_unlock(&st->lock);
    }
}

/* Opens one read-only connection on the store's file. NULL when it cannot. */
static sqlite3 *reader_open(const struct store *st)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(st->path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        log_msg(LOG_WARN, "store", "cannot open a read connection on %s: %s", st->path,
                db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close_v2(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* Lends the calling thread a reader: a free opened one, else a newly opened one
 * while fewer than STORE_READERS_MAX exist, else waits for one to come back. NULL
 * when the store has no readers or one cannot be opened. */
static struct reader *reader_take(struct store *st)
{
    if (st->path == NULL) {
        return NULL;
    }
    struct reader *rd = NULL;
    pthread_mutex_lock(&st->pool_lock);
    while (rd == NULL) {
        for (size_t i = 0; i < st->n_readers && rd == NULL; i++) {
            if (!st->readers[i].busy) {
                rd = &st->readers[i];
            }
        }
        if (rd == NULL && st->n_readers < STORE_READERS_MAX) {
            sqlite3 *db = reader_open(st);
            if (db == NULL) {
                break;
            }
            rd = &st->readers[st->n_readers++];
            rd->c.db = db;
        }
        if (rd == NULL) {
            pthread_cond_wait(&st->pool_free, &st->pool_lock);
        }
    }
    if (rd != NULL) {
        rd->busy = 1;
    }
    pthread_mutex_unlock(&st->pool_lock);
    return rd;
}

static void reader_give_back(struct store *st, struct reader *rd)
{
    pthread_mutex_lock(&st->pool_lock);
    rd->busy = 0;
    pthread_cond_signal(&st->pool_free);
    pthread_mutex_unlock(&st->pool_lock);
}

void store_read_begin(struct store *st)
{
    struct hold *h = hold_get(st);
    if (h->read_depth++ > 0) {
        return;
    }
    if (h->writer_held) {
        h->mode = HOLD_WRITER_BORROW;
        return;
    }
    struct reader *rd = reader_take(st);
    if (rd != NULL && conn_run(&rd->c, "BEGIN") != SQLITE_OK) {
        log_msg(LOG_WARN, "store", "cannot begin a read: %s", sqlite3_errmsg(rd->c.db));
        reader_give_back(st, rd);
        rd = NULL;
    }
    if (rd != NULL) {
        h->mode = HOLD_READER;
        h->rd = rd;
        return;
    }
    pthread_mutex_lock(&st->lock);
    h->mode = HOLD_WRITER_OWN;
}

void store_read_end(struct store *st)
{
    struct hold *h = hold_find(st);
    if (h == NULL || h->read_depth == 0) {
        log_msg(LOG_ERROR, "store", "store_read_end without store_read_begin");
        abort();
    }
    if (--h->read_depth > 0) {
        return;
    }
    if (h->mode == HOLD_READER) {
        if (!sqlite3_get_autocommit(h->rd->c.db)) {
            conn_run(&h->rd->c, "COMMIT");
        }
        reader_give_back(st, h->rd);
    } else if (h->mode == HOLD_WRITER_OWN && !h->writer_held) {
        pthread_mutex_unlock(&st->lock); /* else store_unlock gives it back */
    }
    h->mode = HOLD_NONE;
    h->rd = NULL;
    hold_release_if_idle(h);
}

int store_exec(struct store *st, const char *sql)
{
    char *msg = NULL;
    sqlite3 *db = conn_of(st)->db;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        log_msg(LOG_ERROR, "store", "exec failed: %s", msg ? msg : "?");
        sqlite3_free(msg);
        return map_rc(db, rc);
    }
    return 0;
}

static int run_logged(struct store *st, const char *sql)
{
    struct conn *c = conn_of(st);
    int rc = conn_run(c, sql);
    if (rc != SQLITE_OK) {
        log_msg(LOG_ERROR, "store", "%s failed: %s", sql, sqlite3_errmsg(c->db));
    }
    return map_rc(c->db, rc);
}

int store_begin(struct store *st)
{
    return run_logged(st, "BEGIN IMMEDIATE");
}

int store_commit(struct store *st)
{
    return run_logged(st, "COMMIT");
}

void store_rollback(struct store *st)
{
    if (!sqlite3_get_autocommit(st->w.db)) {
        conn_run(&st->w, "ROLLBACK");
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

/* Whether part's migration version is recorded as applied: 1, 0, or a negative code. */
static int applied_locked(struct store *st, const char *part, int version)
{
    struct store_stmt *s =
        store_prepare_args(st, "SELECT 1 FROM schema_applied WHERE part=? AND version=?", "si",
                           part, (int64_t)version);
    int rc = s == NULL ? SL_E(IO) : store_step(s);
    store_finalize(s);
    return rc;
}

/*
 * A part migrated before schema_applied existed has only its version in schema_version,
 * and applied every migration numbered up to it (all the old code skipped): those of m
 * are recorded as applied, once, before anything else is looked at.
 */
static int backfill_locked(struct store *st, const char *part, const struct store_migration *m,
                           size_t n_migrations)
{
    int have = version_locked(st, part);
    struct store_stmt *s =
        store_prepare_args(st, "SELECT 1 FROM schema_applied WHERE part=? LIMIT 1", "s", part);
    int rc = s == NULL ? SL_E(IO) : store_step(s);
    store_finalize(s);
    if (rc != 0 || have == 0) {
        return rc < 0 ? rc : 0;
    }
    rc = store_begin(st);
    for (size_t i = 0; i < n_migrations && rc == 0; i++) {
        if (m[i].version <= have) {
            rc = store_run(st, "INSERT OR IGNORE INTO schema_applied(part,version) VALUES(?,?)",
                           "si", part, (int64_t)m[i].version);
        }
    }
    if (rc == 0) {
        rc = store_commit(st);
    }
    if (rc < 0) {
        store_rollback(st);
    }
    return rc;
}

int store_migrate(struct store *st, const char *part, const struct store_migration *m,
                  size_t n_migrations)
{
    store_lock(st);
    int rc = backfill_locked(st, part, m, n_migrations);
    for (size_t i = 0; i < n_migrations && rc == 0; i++) {
        rc = applied_locked(st, part, m[i].version);
        if (rc != 0) {
            rc = rc < 0 ? rc : 0;
            continue;
        }
        rc = store_begin(st);
        if (rc == 0) {
            rc = store_exec(st, m[i].sql);
        }
        if (rc == 0) {
            rc = store_run(st, "INSERT INTO schema_applied(part,version) VALUES(?,?)", "si", part,
                           (int64_t)m[i].version);
        }
        if (rc == 0) {
            /* The highest applied, for older builds that read only this. */
            rc = store_run(st,
                           "INSERT INTO schema_version(part,version) VALUES(?,?)"
                           " ON CONFLICT(part) DO UPDATE SET version=max(version,excluded.version)",
                           "si", part, (int64_t)m[i].version);
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
    struct conn *c = conn_of(st);
    int rc = conn_prepare(c, sql, out);
    if (rc != SQLITE_OK) {
        log_msg(LOG_ERROR, "store", "prepare failed: %s: %s", sqlite3_errmsg(c->db), sql);
        return map_rc(c->db, rc);
    }
    return 0;
}

/* Back to its connection's cache, reset and unbound; finalized instead when the reset
 * reports a failure of its last step (it may not be fit to run again). */
void store_finalize(struct store_stmt *stmt)
{
    if (stmt == NULL) {
        return;
    }
    struct conn *c = stmt->home;
    if (sqlite3_reset(stmt->stmt) != SQLITE_OK || sqlite3_clear_bindings(stmt->stmt) != SQLITE_OK) {
        stmt_free(stmt);
        return;
    }
    if (c->n_idle == STMT_CACHE_MAX) {
        stmt_free(c->idle[0]);
        memmove(&c->idle[0], &c->idle[1], (STMT_CACHE_MAX - 1) * sizeof(c->idle[0]));
        c->n_idle--;
    }
    c->idle[c->n_idle++] = stmt;
}

int store_reset(struct store_stmt *stmt)
{
    sqlite3_reset(stmt->stmt);
    return map_rc(stmt->db, sqlite3_clear_bindings(stmt->stmt));
}

int store_bind_text(struct store_stmt *stmt, int idx, const char *text)
{
    if (text == NULL) {
        return store_bind_null(stmt, idx);
    }
    return map_rc(stmt->db, sqlite3_bind_text(stmt->stmt, idx, text, -1, SQLITE_TRANSIENT));
}

int store_bind_textn(struct store_stmt *stmt, int idx, const char *text, size_t len)
{
    return map_rc(stmt->db,
                  sqlite3_bind_text64(stmt->stmt, idx, text, len, SQLITE_TRANSIENT, SQLITE_UTF8));
}

int store_bind_int64(struct store_stmt *stmt, int idx, int64_t v)
{
    return map_rc(stmt->db, sqlite3_bind_int64(stmt->stmt, idx, v));
}

int store_bind_double(struct store_stmt *stmt, int idx, double v)
{
    return map_rc(stmt->db, sqlite3_bind_double(stmt->stmt, idx, v));
}

int store_bind_blob(struct store_stmt *stmt, int idx, const void *data, size_t len)
{
    return map_rc(stmt->db, sqlite3_bind_blob64(stmt->stmt, idx, data, len, SQLITE_TRANSIENT));
}

int store_bind_null(struct store_stmt *stmt, int idx)
{
    return map_rc(stmt->db, sqlite3_bind_null(stmt->stmt, idx));
}

int store_step(struct store_stmt *stmt)
{
    return map_rc(stmt->db, sqlite3_step(stmt->stmt));
}

const char *store_col_text(struct store_stmt *stmt, int col)
{
    return (const char *)sqlite3_column_text(stmt->stmt, col);
}

int64_t store_col_int64(struct store_stmt *stmt, int col)
{
    return sqlite3_column_int64(stmt->stmt, col);
}

double store_col_double(struct store_stmt *stmt, int col)
{
    return sqlite3_column_double(stmt->stmt, col);
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
    return sqlite3_changes64(conn_of(st)->db);
}

int64_t store_last_rowid(struct store *st)
{
    return sqlite3_last_insert_rowid(conn_of(st)->db);
}

const char *store_errmsg(struct store *st)
{
    return sqlite3_errmsg(conn_of(st)->db);
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

static void bind_args(struct store_stmt *s, const char *fmt, va_list ap)
{
    for (int i = 0; fmt[i] != '\0'; i++) {
        if (fmt[i] == 's') {
            store_bind_text(s, i + 1, va_arg(ap, const char *));
        } else {
            store_bind_int64(s, i + 1, va_arg(ap, int64_t));
        }
    }
}

struct store_stmt *store_prepare_args(struct store *st, const char *sql, const char *fmt, ...)
{
    struct store_stmt *s = NULL;
    if (store_prepare(st, sql, &s) < 0) {
        return NULL;
    }
    va_list ap;
    va_start(ap, fmt);
    bind_args(s, fmt, ap);
    va_end(ap);
    return s;
}

int store_run(struct store *st, const char *sql, const char *fmt, ...)
{
    struct store_stmt *s = NULL;
    if (store_prepare(st, sql, &s) < 0) {
        return SL_E(IO);
    }
    va_list ap;
    va_start(ap, fmt);
    bind_args(s, fmt, ap);
    va_end(ap);
    int rc = store_step(s);
    store_finalize(s);
    return rc < 0 ? rc : 0;
}

uint64_t store_write_count(struct store *st)
{
    return atomic_load(&st->writes);
}
