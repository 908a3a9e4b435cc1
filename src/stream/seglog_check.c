/*
 * Offline check of a segment log directory (used by tools/sluice-segcheck and the tests).
 *
 * Reads every segment in full with the same scanner recovery uses, and compares each index
 * file with the records it describes: every entry must name the offset, index and arrival
 * of a real record, the first record must have an entry, and a sealed footer must match the
 * segment. Rules are those of the format comment in seglog_format.c. Changes nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/mem.h"
#include "stream/seglog.h"
#include "stream/seglog_int.h"

struct check_ctx {
    seglog_problem_fn problem;
    void *arg;
    struct seglog_check_summary *sum;
};

static void report(struct check_ctx *c, const char *path, uint64_t offset, const char *what)
{
    c->sum->n_problems++;
    if (c->problem != NULL) {
        c->problem(c->arg, path, offset, what);
    }
}

/* Merge state: walks the index entries alongside the scanned records. */
struct idx_merge {
    const struct seglog_entries *entries;
    size_t next;    /* next entry to match */
    int mismatch;   /* an entry named something that is not a record */
    uint64_t mismatch_offset;
};

static void merge_record(void *arg, uint64_t offset, const struct seglog_frame *f)
{
    struct idx_merge *m = arg;
    while (m->next < m->entries->n && m->entries->v[m->next].offset < offset) {
        if (!m->mismatch) {
            m->mismatch = 1;
            m->mismatch_offset = m->entries->v[m->next].offset;
        }
        m->next++;
    }
    if (m->next < m->entries->n && m->entries->v[m->next].offset == offset) {
        const struct seglog_idx_entry *e = &m->entries->v[m->next];
        if ((e->index != f->index || e->arrival_ms != f->arrival_ms) && !m->mismatch) {
            m->mismatch = 1;
            m->mismatch_offset = offset;
        }
        m->next++;
    }
}

/* Checks one segment and its index file; *end_out gets the index after its last valid
 * record, *damaged_out 1 when the segment itself is damaged. Returns 0 or -errno. */
static int check_segment(struct check_ctx *c, const char *dir, uint64_t base, int newest,
                         uint64_t *end_out, int *damaged_out)
{
    char path[PATH_MAX], ipath[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%020llu%s", dir, (unsigned long long)base, SEG_SUFFIX);
    snprintf(ipath, sizeof(ipath), "%s/%020llu%s", dir, (unsigned long long)base, IDX_SUFFIX);
    *end_out = base;
    *damaged_out = 0;
    struct seglog_entries entries = {0};
    struct seglog_idx_footer footer = {0};
    int has_footer = 0;
    const char *idx_why = NULL;
    struct idx_merge m = {.entries = &entries};
    struct seglog_scan sc = {.base_index = base, .on_record = merge_record, .arg = &m};
    int rc = seglog__idx_load(ipath, base, &entries, &footer, &has_footer, &idx_why);
    if (rc != 0) {
        return rc;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        goto out_free;
    }
    rc = seglog__scan(fd, &sc);
    close(fd);
    if (rc != 0) {
        goto out_free;
    }
    c->sum->n_segments++;
    c->sum->bytes += sc.file_len;
    c->sum->n_records += sc.n_records;
    *end_out = sc.end_index;
    if (sc.header_short) {
        if (newest) {
            c->sum->n_torn_tails++;
        }
        report(c, path, 0,
               newest ? "header torn (newest segment: open rewrites it)"
                      : "sealed segment has no header");
    } else if (sc.bad_why != NULL && sc.valid_len == 0) {
        report(c, path, 0, sc.bad_why);
    } else if (sc.bad_why != NULL) {
        char msg[256];
        snprintf(msg, sizeof(msg), "%s; %llu bytes after the last valid record%s", sc.bad_why,
                 (unsigned long long)(sc.file_len - sc.valid_len),
                 newest ? " (newest segment: open cuts this torn tail)"
                        : " (sealed segment: damaged)");
        if (newest) {
            c->sum->n_torn_tails++;
        }
        report(c, path, sc.bad_offset, msg);
    }
    if (sc.header_short || sc.bad_why != NULL) {
        /* The index and the next segment would only disagree with the damage reported. */
        *damaged_out = 1;
        goto out_free;
    }
    /* The index file. The newest segment's is rebuilt by every open, so only disagreement
     * matters there; a sealed one must be complete and sealed. */
    if (idx_why != NULL) {
        if (!newest || strcmp(idx_why, "index file missing") != 0) {
            report(c, ipath, 0, idx_why);
        }
        goto out_free;
    }
    if (m.mismatch || m.next < entries.n) {
        report(c, ipath, m.mismatch ? m.mismatch_offset : entries.v[m.next].offset,
               "index entry does not name a record of the segment");
    }
    if (sc.n_records > 0 && entries.n == 0 && !newest) {
        report(c, ipath, 0, "index file has no entry for the first record");
    }
    if (!newest && !has_footer) {
        report(c, ipath, 0, "sealed segment's index file has no footer");
    }
    if (has_footer && (footer.seg_len != sc.file_len || footer.end_index != sc.end_index ||
                       footer.last_arrival_ms != sc.last_arrival_ms)) {
        report(c, ipath, 0, "index footer disagrees with the segment");
    }
out_free:
    seglog__entries_free(&entries);
    seglog__entries_free(&sc.entries);
    return rc;
}

int seglog_check_dir(const char *dir, seglog_problem_fn problem, void *arg,
                     struct seglog_check_summary *out)
{
    memset(out, 0, sizeof(*out));
    struct check_ctx c = {problem, arg, out};
    uint64_t *bases = NULL;
    size_t n = 0;
    int rc = seglog__list_segments(dir, &bases, &n);
    if (rc != 0) {
        return rc;
    }
    if (n == 0) {
        report(&c, dir, 0, "no segment file");
        goto out_free;
    }
    out->first_index = bases[0];
    for (size_t i = 0; i < n; i++) {
        uint64_t end = 0;
        int damaged = 0;
        rc = check_segment(&c, dir, bases[i], i + 1 == n, &end, &damaged);
        if (rc != 0) {
            goto out_free;
        }
        out->next_index = end;
        if (i + 1 < n && end != bases[i + 1] && !damaged) {
            char path[PATH_MAX], msg[160];
            snprintf(path, sizeof(path), "%s/%020llu%s", dir, (unsigned long long)bases[i],
                     SEG_SUFFIX);
            snprintf(msg, sizeof(msg), "segment ends at index %llu but the next starts at %llu%s",
                     (unsigned long long)end, (unsigned long long)bases[i + 1],
                     end < bases[i + 1] ? " (gap)" : " (overlap)");
            report(&c, path, 0, msg);
        }
    }
out_free:
    free(bases);
    return rc;
}
