/* The lake unit tests' fixture: a lake over a fresh metadata store in a temporary data
   directory, reopened at will (close_lake, open_lake) and removed with everything in it.
   Included by one test file each (the functions are static). */
#ifndef SLUICE_TEST_LAKE_FIXTURE_H
#define SLUICE_TEST_LAKE_FIXTURE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "core/config.h"
#include "core/store.h"
#include "lake/lake.h"

struct fixture {
    char dir[64];
    struct sluice_config cfg;
    struct store *st;
    struct lake *lake;
};

static int open_lake(struct fixture *f)
{
    char db[600];
    snprintf(db, sizeof(db), "%s/meta.db", f->dir);
    if (store_open(db, &f->st) < 0) {
        return -1;
    }
    return lake_open(f->st, &f->cfg, &f->lake);
}

static void close_lake(struct fixture *f)
{
    lake_close(f->lake);
    store_close(f->st);
    f->lake = NULL;
    f->st = NULL;
}

/* A fixture in /tmp/<name>_XXXXXX, with a bucket "bkt" when bucket; NULL on failure. */
static struct fixture *lake_fixture_create(const char *name, int bucket)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/%s_XXXXXX", name);
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return NULL;
    }
    config_defaults(&f->cfg);
    snprintf(f->cfg.data_dir, sizeof(f->cfg.data_dir), "%s", f->dir);
    if (open_lake(f) < 0 || (bucket && lake_bucket_create(f->lake, "bkt", "us-east-1", NULL) < 0)) {
        free(f);
        return NULL;
    }
    return f;
}

static int lake_fixture_rm_entry(const char *path, const struct stat *sb, int flag,
                                 struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void lake_fixture_destroy(struct fixture *f)
{
    close_lake(f);
    nftw(f->dir, lake_fixture_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
}

#endif
