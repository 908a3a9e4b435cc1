/*
 * sluice-segcheck DIR: offline check of one shard's segment log directory.
 *
 * Verifies every segment (header, every record's length, CRC, index sequence and arrival
 * order), that segments follow each other without gap or overlap, and that each index file
 * agrees with its segment; prints each problem and a summary. Run it on a directory no
 * server has open. Exit status: 0 clean, 1 problems found, 2 usage or I/O error.
 */
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "stream/seglog.h"

static void print_problem(void *arg, const char *path, uint64_t offset, const char *what)
{
    (void)arg;
    printf("problem: %s offset %llu: %s\n", path, (unsigned long long)offset, what);
}

int main(int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fprintf(stderr, "usage: sluice-segcheck DIR\n"
                        "Checks the segment and index files of one shard directory.\n"
                        "Exit status: 0 clean, 1 problems found, 2 error.\n");
        return 2;
    }
    struct seglog_check_summary sum;
    int rc = seglog_check_dir(argv[1], print_problem, NULL, &sum);
    if (rc != 0) {
        fprintf(stderr, "sluice-segcheck: %s: %s\n", argv[1], sl_strerror(rc));
        return 2;
    }
    printf("%s: %llu segments, %llu bytes, %llu records, indexes %llu..%llu, %llu problems",
           argv[1], (unsigned long long)sum.n_segments, (unsigned long long)sum.bytes,
           (unsigned long long)sum.n_records, (unsigned long long)sum.first_index,
           (unsigned long long)sum.next_index, (unsigned long long)sum.n_problems);
    if (sum.n_torn_tails > 0) {
        printf(" (%llu torn tail%s of the newest segment, which opening the log cuts)",
               (unsigned long long)sum.n_torn_tails, sum.n_torn_tails == 1 ? "" : "s");
    }
    printf("\n%s\n", sum.n_problems == 0 ? "clean" : "DAMAGED");
    return sum.n_problems == 0 ? 0 : 1;
}
