/* The stream unit tests' fixture: a stream service on a fake clock over a fresh metadata
   store in a temporary data directory, removed with everything in it. A test file may
   hang more on the fixture (define STREAM_FIXTURE_EXTRA as its members before including
   this) and open and close that with the service (the open and close hooks).
   Included by one test file each (the functions are static). */
#ifndef SLUICE_TEST_STREAM_FIXTURE_H
#define SLUICE_TEST_STREAM_FIXTURE_H

#include <ftw.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "core/config.h"
#include "core/store.h"
#include "stream/stream.h"

#define T0_MS 1764150000000LL /* the fake clock's start: 2025-11-26 */
#define TRANSITION_MS 1000

#ifndef STREAM_FIXTURE_EXTRA
#define STREAM_FIXTURE_EXTRA
#endif

struct fixture {
    char tmp[64]; /* mkdtemp directory, the data directory */
    struct sluice_config cfg;
    struct store *store;
    struct stream_service *svc;
    _Atomic int64_t now_ms; /* the service's clock */
    STREAM_FIXTURE_EXTRA
};

static int64_t fake_clock(void *arg)
{
    struct fixture *f = arg;
    return atomic_load(&f->now_ms);
}

/* Opens f->svc on f->store with the fake clock. */
static int open_service(struct fixture *f)
{
    struct stream_service_options opt = {
        .store = f->store, .cfg = &f->cfg, .now_ms = fake_clock, .clock_arg = f};
    return stream_service_open_with(&opt, &f->svc);
}

/* A fixture in /tmp/<name>.XXXXXX: default configuration with its data directory there
   and TRANSITION_MS transitions, the clock at T0_MS, nothing open yet; NULL on failure. */
static struct fixture *stream_fixture_new(const char *name)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->tmp, sizeof(f->tmp), "/tmp/%s.XXXXXX", name);
    if (mkdtemp(f->tmp) == NULL) {
        free(f);
        return NULL;
    }
    config_defaults(&f->cfg);
    snprintf(f->cfg.data_dir, sizeof(f->cfg.data_dir), "%s", f->tmp);
    f->cfg.stream_transition_ms = TRANSITION_MS;
    atomic_init(&f->now_ms, T0_MS);
    return f;
}

/* Opens the store, then open_fn(f): the service and whatever the file hangs on it. */
static int stream_fixture_open(struct fixture *f, int (*open_fn)(struct fixture *f))
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/sluice.db", f->tmp);
    return store_open(path, &f->store) < 0 || open_fn(f) < 0 ? -1 : 0;
}

static int stream_fixture_rm_entry(const char *path, const struct stat *sb, int flag,
                                   struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* close_fn(f) (NULL: the service alone), then the store; removes the directory. The
   result of the removal. */
static int stream_fixture_destroy(struct fixture *f, void (*close_fn)(struct fixture *f))
{
    if (close_fn != NULL) {
        close_fn(f);
    } else {
        stream_service_close(f->svc);
    }
    store_close(f->store);
    int rc = nftw(f->tmp, stream_fixture_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return rc;
}

#endif
