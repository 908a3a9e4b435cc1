/* Unit tests of the lake's object store (src/lake/lake.h) over the local backend. */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/store.h"
#include "lake/lake.h"
#include "lake/lake_int.h"

#include "lake_fixture.h"

static int setup(void **state)
{
    *state = lake_fixture_create("test_lake", 0);
    return *state != NULL ? 0 : -1;
}
static int teardown(void **state)
{
    lake_fixture_destroy(*state);
    return 0;
}

/* Regular files anywhere under dir. */
static int count_files(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    if (d == NULL) {
        return 0;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(path, &sb) == 0) {
            n += S_ISDIR(sb.st_mode) ? count_files(path) : 1;
        }
    }
    closedir(d);
    return n;
}

/* Blobs stored: files under objects/ plus small objects' bytes in the store. */
static int count_blobs(struct fixture *f)
{
    char objdir[700];
    snprintf(objdir, sizeof(objdir), "%s/lake/objects", f->dir);
    struct store_stmt *s;
    store_lock(f->st);
    assert_int_equal(store_prepare(f->st, "SELECT count(*) FROM lake_small", &s), 0);
    assert_int_equal(store_step(s), 1);
    int n = (int)store_col_int64(s, 0);
    store_finalize(s);
    store_unlock(f->st);
    return n + count_files(objdir);
}

static void put_str(struct lake *lake, const char *bucket, const char *key, const char *data)
{
    struct err_info err;
    assert_int_equal(lake_object_put(lake, bucket, key, data, strlen(data), NULL, NULL, &err), 0);
}

static void test_bucket_lifecycle_and_errors(void **state)
{
    struct fixture *f = *state;
    struct err_info err;
    assert_int_equal(lake_bucket_create(f->lake, "alpha", "us-east-1", &err), 0);
    assert_int_equal(lake_bucket_create(f->lake, "beta.b-1", "eu-west-1", &err), 0);
    assert_int_equal(lake_bucket_create(f->lake, "alpha", "us-east-1", &err),
                     SL_E(BUCKET_ALREADY_OWNED));
    assert_int_equal(lake_bucket_create(f->lake, "Upper", "us-east-1", &err),
                     SL_E(INVALID_BUCKET_NAME));
    assert_int_equal(lake_bucket_create(f->lake, "a..b", "us-east-1", &err),
                     SL_E(INVALID_BUCKET_NAME));
    assert_int_equal(lake_bucket_create(f->lake, "192.168.1.1", "us-east-1", &err),
                     SL_E(INVALID_BUCKET_NAME));
    struct lake_bucket_info *list = NULL;
    size_t n = 0;
    assert_int_equal(lake_bucket_list(f->lake, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "alpha");
    assert_string_equal(list[1].region, "eu-west-1");
    free(list);

    put_str(f->lake, "alpha", "k", "v");
    assert_int_equal(lake_bucket_delete(f->lake, "alpha", &err), SL_E(BUCKET_NOT_EMPTY));
    assert_int_equal(lake_object_delete(f->lake, "alpha", "k", &err), 0);
    assert_int_equal(lake_bucket_delete(f->lake, "alpha", &err), 0);
    assert_int_equal(lake_bucket_get(f->lake, "alpha", NULL, &err), SL_E(NO_SUCH_BUCKET));
    assert_int_equal(lake_bucket_delete(f->lake, "alpha", &err), SL_E(NO_SUCH_BUCKET));
}

static void test_bucket_documents_round_trip(void **state)
{
    struct fixture *f = *state;
    struct err_info err;
    assert_int_equal(lake_bucket_create(f->lake, "docs", "us-east-1", &err), 0);
    char *v = NULL;
    assert_int_equal(lake_bucket_doc_get(f->lake, "docs", LAKE_BUCKET_POLICY, &v, &err), 0);
    assert_null(v);
    assert_int_equal(
        lake_bucket_doc_put(f->lake, "docs", LAKE_BUCKET_POLICY, "{\"Version\":\"1\"}", &err), 0);
    assert_int_equal(lake_bucket_doc_get(f->lake, "docs", LAKE_BUCKET_POLICY, &v, &err), 0);
    assert_string_equal(v, "{\"Version\":\"1\"}");
    free(v);
    assert_int_equal(lake_bucket_doc_put(f->lake, "nope", LAKE_BUCKET_TAGS, "{}", &err),
                     SL_E(NO_SUCH_BUCKET));
}

static void test_put_get_round_trips_bytes_etag_and_metadata(void **state)
{
    struct fixture *f = *state;
    struct err_info err;
    assert_int_equal(lake_bucket_create(f->lake, "data", "us-east-1", &err), 0);
    const char body[] = "hello, lake";
    struct lake_put_opts opts = {.content_type = "text/plain",
                                 .meta_json = "{\"x-amz-meta-a\":\"1\"}",
                                 .checksum_algo = LAKE_CHECKSUM_CRC32};
    struct lake_object_info info;
    assert_int_equal(
        lake_object_put(f->lake, "data", "greeting", body, strlen(body), &opts, &info, &err), 0);
    uint8_t md5[MD5_LEN];
    char hex[33];
    crypto_md5(body, strlen(body), md5);
    hex_encode(md5, MD5_LEN, hex);
    assert_string_equal(info.etag, hex);
    lake_object_info_fini(&info);

    struct buf b;
    buf_init(&b);
    assert_int_equal(lake_object_read(f->lake, "data", "greeting", &b, &info, &err), 0);
    assert_int_equal(b.len, strlen(body));
    assert_memory_equal(b.data, body, b.len);
    assert_string_equal(info.etag, hex);
    assert_string_equal(info.content_type, "text/plain");
    assert_string_equal(info.meta_json, "{\"x-amz-meta-a\":\"1\"}");
    assert_int_equal(info.size_bytes, (int64_t)strlen(body));
    assert_int_equal(info.checksum_algo, LAKE_CHECKSUM_CRC32);
    assert_true(info.checksum[0] != '\0');
    lake_object_info_fini(&info);
    buf_fini(&b);

    assert_int_equal(lake_object_head(f->lake, "data", "missing", &info, &err), SL_E(NO_SUCH_KEY));
    assert_int_equal(lake_object_head(f->lake, "nobucket", "greeting", &info, &err),
                     SL_E(NO_SUCH_BUCKET));
    assert_int_equal(lake_object_put(f->lake, "nobucket", "k", "x", 1, NULL, NULL, &err),
                     SL_E(NO_SUCH_BUCKET));
}

static void test_overwrite_and_delete_leave_no_stray_files(void **state)
{
    struct fixture *f = *state;
    struct err_info err;
    char objdir[700];
    snprintf(objdir, sizeof(objdir), "%s/lake/objects", f->dir);
    assert_int_equal(lake_bucket_create(f->lake, "data", "us-east-1", &err), 0);
    put_str(f->lake, "data", "k", "one");
    put_str(f->lake, "data", "k", "two!");
    assert_int_equal(count_blobs(f), 1);
    struct buf b;
    buf_init(&b);
    assert_int_equal(lake_object_read(f->lake, "data", "k", &b, NULL, &err), 0);
    assert_string_equal((char *)b.data, "two!");
    buf_fini(&b);
    /* A reader that opened the object keeps its bytes across a delete. */
    int fd = -1;
    assert_int_equal(lake_object_open(f->lake, "data", "k", NULL, &fd, &err), 0);
    assert_int_equal(lake_object_delete(f->lake, "data", "k", &err), 0);
    assert_int_equal(lake_object_delete(f->lake, "data", "k", &err), 0);
    char got[8] = {0};
    assert_int_equal(pread(fd, got, sizeof(got) - 1, 0), 4);
    assert_string_equal(got, "two!");
    close(fd);
    assert_int_equal(count_blobs(f), 0);
    assert_int_equal(count_files(objdir), 0);
}

static void test_bad_content_md5_leaves_nothing_visible(void **state)
{
    struct fixture *f = *state;
    struct err_info err;
    assert_int_equal(lake_bucket_create(f->lake, "data", "us-east-1", &err), 0);
    uint8_t wrong[MD5_LEN] = {1};
    struct lake_put_opts opts = {.content_md5 = wrong};
    assert_int_equal(lake_object_put(f->lake, "data", "k", "abc", 3, &opts, NULL, &err),
                     SL_E(BAD_DIGEST));
    struct lake_object_info info;
    assert_int_equal(lake_object_head(f->lake, "data", "k", &info, &err), SL_E(NO_SUCH_KEY));
    struct lake_put_opts ck = {.checksum_algo = LAKE_CHECKSUM_SHA256, .checksum_expected = "AAAA"};
    assert_int_equal(lake_object_put(f->lake, "data", "k", "abc", 3, &ck, NULL, &err),
                     SL_E(BAD_DIGEST));
    char tmpdir[700];
    snprintf(tmpdir, sizeof(tmpdir), "%s/lake", f->dir);
    assert_int_equal(count_files(tmpdir), 0);
}

static void test_hostile_keys_stored_exactly_inside_the_lake(void **state)
{
    struct fixture *f = *state;
    struct err_info err;
    assert_int_equal(lake_bucket_create(f->lake, "data", "us-east-1", &err), 0);
    const char *keys[] = {
        "../../../../etc/passwd",           "..",         "//double//slash",  "/leading",
        "\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87", "a/./b/../c", "tab\tand\nnewline"};
    size_t n = sizeof(keys) / sizeof(keys[0]);
    for (size_t i = 0; i < n; i++) {
        put_str(f->lake, "data", keys[i], keys[i]);
    }
    for (size_t i = 0; i < n; i++) {
        struct buf b;
        buf_init(&b);
        assert_int_equal(lake_object_read(f->lake, "data", keys[i], &b, NULL, &err), 0);
        assert_string_equal((char *)b.data, keys[i]);
        buf_fini(&b);
    }
    /* Every file the lake made is inside lake/objects, and nothing escaped the data dir. */
    char objdir[700];
    snprintf(objdir, sizeof(objdir), "%s/lake/objects", f->dir);
    assert_int_equal(count_blobs(f), (int)n);
    struct lake_list_opts lo = {.max_keys = 1000};
    struct lake_list_result res;
    assert_int_equal(lake_object_list(f->lake, "data", &lo, &res, &err), 0);
    assert_int_equal(res.n_objects, n);
    lake_list_result_fini(&res);
    char big[LAKE_KEY_MAX_BYTES + 2];
    memset(big, 'k', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(lake_object_put(f->lake, "data", big, "x", 1, NULL, NULL, &err),
                     SL_E(KEY_TOO_LONG));
}

/* Reference model: what a listing should return, computed over the sorted key array. */
static void model_list(char **keys, size_t n, const char *prefix, const char *delim,
                       const char *after, size_t max, struct buf *out, int *truncated)
{
    size_t plen = strlen(prefix);
    size_t count = 0;
    char last_cp[256] = "";
    *truncated = 0;
    for (size_t i = 0; i < n; i++) {
        const char *k = keys[i];
        if (strncmp(k, prefix, plen) != 0) {
            continue;
        }
        const char *d = delim[0] ? strstr(k + plen, delim) : NULL;
        char item[256];
        if (d != NULL) {
            snprintf(item, sizeof(item), "%.*s", (int)(d - k + strlen(delim)), k);
            if (strcmp(item, last_cp) == 0) {
                continue;
            }
            snprintf(last_cp, sizeof(last_cp), "%s", item);
            if (after && strncmp(after, item, strlen(item)) == 0) {
                continue;
            }
        } else {
            snprintf(item, sizeof(item), "%s", k);
        }
        if (after && strcmp(item, after) <= 0) {
            continue;
        }
        if (count == max) {
            *truncated = 1;
            return;
        }
        buf_printf(out, "%s|", item);
        count++;
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_listing_matches_model_across_pages(void **state)
{
    struct fixture *f = *state;
    struct err_info err;
    assert_int_equal(lake_bucket_create(f->lake, "list", "us-east-1", &err), 0);
    unsigned seed = (unsigned)time(NULL);
    printf("seed %u\n", seed);
    srand(seed);
    enum { N = 400 };
    char *keys[N];
    const char *parts[] = {"a", "b/", "c/d", "/", "e", "\xc3\xa9", "z/"};
    for (int i = 0; i < N; i++) {
        char k[128] = "";
        int depth = 1 + rand() % 4;
        for (int j = 0; j < depth; j++) {
            strcat(k, parts[rand() % 7]);
        }
        char suffix[16];
        snprintf(suffix, sizeof(suffix), "%d", i);
        strcat(k, suffix);
        keys[i] = strdup(k);
    }
    for (int i = 0; i < N; i++) {
        put_str(f->lake, "list", keys[i], "x");
    }
    qsort(keys, N, sizeof(keys[0]), cmp_str);
    const char *prefixes[] = {"", "b/", "c/", "a", "zz"};
    const char *delims[] = {"", "/", "d"};
    size_t maxes[] = {1, 7, 1000};
    for (size_t pi = 0; pi < 5; pi++) {
        for (size_t di = 0; di < 3; di++) {
            for (size_t mi = 0; mi < 3; mi++) {
                /* Page through; the concatenation must equal the model's single page. */
                struct buf want;
                struct buf got;
                buf_init(&want);
                buf_init(&got);
                int tr = 0;
                model_list(keys, N, prefixes[pi], delims[di], NULL, N, &want, &tr);
                char *after = NULL;
                int pages = 0;
                for (;;) {
                    struct lake_list_opts lo = {.prefix = prefixes[pi],
                                                .delimiter = delims[di],
                                                .after = after,
                                                .max_keys = maxes[mi]};
                    struct lake_list_result res;
                    assert_int_equal(lake_object_list(f->lake, "list", &lo, &res, &err), 0);
                    /* Merge objects and prefixes in order. */
                    size_t oi = 0;
                    size_t ci = 0;
                    while (oi < res.n_objects || ci < res.n_prefixes) {
                        if (ci == res.n_prefixes ||
                            (oi < res.n_objects &&
                             strcmp(res.objects[oi].key, res.prefixes[ci]) < 0)) {
                            buf_printf(&got, "%s|", res.objects[oi++].key);
                        } else {
                            buf_printf(&got, "%s|", res.prefixes[ci++]);
                        }
                    }
                    pages++;
                    free(after);
                    after = res.last ? strdup(res.last) : NULL;
                    int more = res.truncated;
                    lake_list_result_fini(&res);
                    if (!more) {
                        break;
                    }
                    assert_true(pages < 3000);
                }
                free(after);
                assert_string_equal(got.data ? (char *)got.data : "",
                                    want.data ? (char *)want.data : "");
                buf_fini(&want);
                buf_fini(&got);
            }
        }
    }
    for (int i = 0; i < N; i++) {
        free(keys[i]);
    }
}

static void test_checksums_match_known_vectors(void **state)
{
    (void)state;
    const char *s = "123456789";
    assert_int_equal(lake__crc32c(0, s, 9), 0xE3069283u);
    assert_true(lake__crc64nvme(0, s, 9) == 0xAE8B14860A799888ull);
    /* Split updates give the same value. */
    assert_int_equal(lake__crc32c(lake__crc32c(0, s, 4), s + 4, 5), 0xE3069283u);
    struct lake__checksum c;
    char out[LAKE_CHECKSUM_MAX];
    lake__checksum_init(&c, LAKE_CHECKSUM_CRC32);
    lake__checksum_update(&c, s, 9);
    lake__checksum_final(&c, out);
    assert_string_equal(out, "y/Q5Jg=="); /* 0xCBF43926 */
    lake__checksum_init(&c, LAKE_CHECKSUM_SHA256);
    lake__checksum_update(&c, "", 0);
    lake__checksum_final(&c, out);
    assert_string_equal(out, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    assert_int_equal(lake_checksum_from_name("crc64nvme"), LAKE_CHECKSUM_CRC64NVME);
    assert_int_equal(lake_checksum_from_name("md5"), LAKE_CHECKSUM_NONE);
}

static void write_part(struct fixture *f, const char *upload_id, int n, size_t len, char fill,
                       struct lake_part_info *part)
{
    struct err_info err;
    struct lake_writer *w = NULL;
    assert_int_equal(lake_writer_open(f->lake, LAKE_CHECKSUM_NONE, &w), 0);
    struct lake_upload_info up;
    assert_int_equal(lake_upload_get(f->lake, "mpu", "big", upload_id, &up, &err), 0);
    /* A part is sealed under its upload's data key. */
    assert_int_equal(lake_writer_encrypt(w, up.sse, NULL, &err), 0);
    lake_upload_info_fini(&up);
    char *data = malloc(len);
    memset(data, fill, len);
    assert_int_equal(lake_writer_write(w, data, len), 0);
    assert_int_equal(lake_writer_commit_part(w, "mpu", "big", upload_id, n, NULL, part, &err), 0);
    lake_writer_destroy(w);
    free(data);
}

static void test_multipart_complete_concatenates_with_aws_etag(void **state)
{
    struct fixture *f = *state;
    struct err_info err;
    assert_int_equal(lake_bucket_create(f->lake, "mpu", "us-east-1", &err), 0);
    struct lake_put_opts opts = {.content_type = "application/octet-stream"};
    struct lake_upload_info up;
    assert_int_equal(lake_upload_create(f->lake, "mpu", "big", &opts, &up, &err), 0);
    struct lake_part_info p1;
    struct lake_part_info p2;
    struct lake_part_info p3;
    write_part(f, up.upload_id, 1, 5 << 20, 'a', &p1);
    write_part(f, up.upload_id, 2, 100, 'b', &p2);
    write_part(f, up.upload_id, 3, 10, 'c', &p3);

    struct lake_part_info *parts = NULL;
    size_t n = 0;
    int truncated = 0;
    assert_int_equal(
        lake_part_list(f->lake, "mpu", "big", up.upload_id, 0, 2, &parts, &n, &truncated, &err), 0);
    assert_int_equal(n, 2);
    assert_true(truncated);
    free(parts);

    /* Too small: part 2 is not the last in this list. */
    struct lake_complete_part bad[] = {{1, p1.etag}, {2, p2.etag}, {3, p3.etag}};
    struct lake_object_info info;
    assert_int_equal(lake_upload_complete(f->lake, "mpu", "big", up.upload_id, bad, 3, &info, &err),
                     SL_E(ENTITY_TOO_SMALL));
    struct lake_complete_part wrong[] = {{1, "\"0000\""}};
    assert_int_equal(
        lake_upload_complete(f->lake, "mpu", "big", up.upload_id, wrong, 1, &info, &err),
        SL_E(INVALID_PART));
    struct lake_complete_part order[] = {{2, p2.etag}, {1, p1.etag}};
    assert_int_equal(
        lake_upload_complete(f->lake, "mpu", "big", up.upload_id, order, 2, &info, &err),
        SL_E(INVALID_PART_ORDER));

    char quoted[64];
    snprintf(quoted, sizeof(quoted), "\"%s\"", p1.etag);
    struct lake_complete_part good[] = {{1, quoted}, {3, p3.etag}};
    assert_int_equal(
        lake_upload_complete(f->lake, "mpu", "big", up.upload_id, good, 2, &info, &err), 0);
    /* ETag: MD5 of the concatenated binary MD5s of parts 1 and 3, then "-2". */
    uint8_t md5s[2 * MD5_LEN];
    for (int i = 0; i < MD5_LEN; i++) {
        unsigned v;
        sscanf(p1.etag + 2 * i, "%2x", &v);
        md5s[i] = (uint8_t)v;
        sscanf(p3.etag + 2 * i, "%2x", &v);
        md5s[MD5_LEN + i] = (uint8_t)v;
    }
    uint8_t md5[MD5_LEN];
    char want[48];
    crypto_md5(md5s, sizeof(md5s), md5);
    hex_encode(md5, MD5_LEN, want);
    strcat(want, "-2");
    assert_string_equal(info.etag, want);
    assert_int_equal(info.size_bytes, (5 << 20) + 10);
    assert_int_equal(info.parts_count, 2);
    lake_object_info_fini(&info);

    struct buf b;
    buf_init(&b);
    assert_int_equal(lake_object_read(f->lake, "mpu", "big", &b, &info, &err), 0);
    assert_int_equal(b.len, (5 << 20) + 10);
    assert_int_equal(b.data[0], 'a');
    assert_int_equal(b.data[(5 << 20) - 1], 'a');
    assert_int_equal(b.data[5 << 20], 'c');
    assert_string_equal(info.content_type, "application/octet-stream");
    lake_object_info_fini(&info);
    buf_fini(&b);
    assert_int_equal(lake_upload_get(f->lake, "mpu", "big", up.upload_id, NULL, &err),
                     SL_E(NO_SUCH_UPLOAD));
    /* Parts not used (2) were removed with the upload. */
    char objdir[700];
    snprintf(objdir, sizeof(objdir), "%s/lake/objects", f->dir);
    assert_int_equal(count_files(objdir), 1);
    lake_upload_info_fini(&up);
}

static void test_multipart_abort_and_listing(void **state)
{
    struct fixture *f = *state;
    struct err_info err;
    assert_int_equal(lake_bucket_create(f->lake, "mpu", "us-east-1", &err), 0);
    struct lake_upload_info a;
    struct lake_upload_info b;
    assert_int_equal(lake_upload_create(f->lake, "mpu", "big", NULL, &a, &err), 0);
    assert_int_equal(lake_upload_create(f->lake, "mpu", "other", NULL, &b, &err), 0);
    write_part(f, a.upload_id, 1, 10, 'x', NULL);
    struct lake_upload_list list;
    assert_int_equal(lake_upload_list(f->lake, "mpu", "", NULL, NULL, 1000, &list, &err), 0);
    assert_int_equal(list.n_uploads, 2);
    assert_string_equal(list.uploads[0].key, "big");
    lake_upload_list_fini(&list);
    assert_int_equal(lake_upload_list(f->lake, "mpu", "ot", NULL, NULL, 1000, &list, &err), 0);
    assert_int_equal(list.n_uploads, 1);
    lake_upload_list_fini(&list);
    assert_int_equal(lake_upload_list(f->lake, "mpu", "", "big", NULL, 1000, &list, &err), 0);
    assert_int_equal(list.n_uploads, 1);
    assert_string_equal(list.uploads[0].key, "other");
    lake_upload_list_fini(&list);
    assert_int_equal(lake_upload_list(f->lake, "mpu", "", NULL, NULL, 1, &list, &err), 0);
    assert_int_equal(list.n_uploads, 1);
    assert_true(list.truncated);
    lake_upload_list_fini(&list);
    assert_int_equal(lake_upload_abort(f->lake, "mpu", "big", a.upload_id, &err), 0);
    assert_int_equal(lake_upload_abort(f->lake, "mpu", "big", a.upload_id, &err),
                     SL_E(NO_SUCH_UPLOAD));
    assert_int_equal(lake_upload_abort(f->lake, "mpu", "big", b.upload_id, &err),
                     SL_E(NO_SUCH_UPLOAD));
    char objdir[700];
    snprintf(objdir, sizeof(objdir), "%s/lake/objects", f->dir);
    assert_int_equal(count_files(objdir), 0);
    /* A bucket with an unfinished upload and no objects can be deleted. */
    assert_int_equal(lake_bucket_delete(f->lake, "mpu", &err), 0);
    lake_upload_info_fini(&a);
    lake_upload_info_fini(&b);
}

static void test_reopen_keeps_objects_and_removes_debris(void **state)
{
    struct fixture *f = *state;
    struct err_info err;
    assert_int_equal(lake_bucket_create(f->lake, "keep", "us-east-1", &err), 0);
    put_str(f->lake, "keep", "k", "durable");
    /* A write in flight at the crash, and a sealed blob whose row never committed. */
    char partial[700];
    snprintf(partial, sizeof(partial), "%s/lake/tmp/0123456789abcdef0123456789abcdef", f->dir);
    int pfd = open(partial, O_WRONLY | O_CREAT, 0644);
    assert_true(pfd >= 0);
    assert_int_equal(write(pfd, "partial", 7), 7);
    close(pfd);
    char orphan[800];
    snprintf(orphan, sizeof(orphan), "%s/lake/objects/ab/ab00000000000000000000000000000000",
             f->dir);
    orphan[strlen(orphan) - 2] = '\0';
    int fd = open(orphan, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    close(fd);
    char lakedir[700];
    snprintf(lakedir, sizeof(lakedir), "%s/lake", f->dir);
    /* The small object's bytes are in the metadata store, not a file. */
    assert_int_equal(count_files(lakedir), 2);
    close_lake(f);
    assert_int_equal(open_lake(f), 0);
    assert_int_equal(count_files(lakedir), 0);
    assert_int_equal(count_blobs(f), 1);
    struct buf b;
    buf_init(&b);
    assert_int_equal(lake_object_read(f->lake, "keep", "k", &b, NULL, &err), 0);
    assert_string_equal((char *)b.data, "durable");
    buf_fini(&b);
}

static int count_observed(void *arg, const uint8_t *data, size_t len)
{
    (void)data;
    *(size_t *)arg += len;
    return 0;
}

static void test_adopted_spool_file_is_sealed_into_the_object(void **state)
{
    struct fixture *f = *state;
    struct err_info err;
    assert_int_equal(lake_bucket_create(f->lake, "adopt", "us-east-1", &err), 0);
    size_t len = (3 << 20) + 17;
    char *data = malloc(len);
    for (size_t i = 0; i < len; i++) {
        data[i] = (char)(i * 7);
    }
    /* An unnamed spool on the lake's filesystem is linked; a named file is copied. */
    for (int named = 0; named < 2; named++) {
        char path[700];
        int fd;
        if (named) {
            snprintf(path, sizeof(path), "%s/named-spool", f->dir);
            fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        } else {
            fd = open(f->dir, O_TMPFILE | O_RDWR, 0600);
        }
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, len), (ssize_t)len);
        struct lake_writer *w = NULL;
        assert_int_equal(lake_writer_open(f->lake, LAKE_CHECKSUM_CRC32C, &w), 0);
        size_t observed = 0;
        assert_int_equal(lake_writer_adopt_fd(w, fd, (int64_t)len, count_observed, &observed), 0);
        assert_int_equal(observed, len);
        assert_int_equal(lake_writer_size(w), (int64_t)len);
        struct lake_object_info info;
        assert_int_equal(lake_writer_commit(w, "adopt", named ? "n" : "u", NULL, &info, &err), 0);
        lake_writer_destroy(w);
        /* Objects are sealed at rest: the spool's plaintext is encrypted into a new file,
           never linked into place, and no path to plaintext is handed out. */
        char *obj_path = NULL;
        assert_int_equal(lake_object_path(f->lake, "adopt", named ? "n" : "u", &obj_path, &err),
                         SL_E(INVALID_REQUEST));
        assert_null(obj_path);
        close(fd);
        if (named) {
            /* The caller's file stays its own: changing it leaves the object alone. */
            fd = open(path, O_WRONLY);
            assert_int_equal(pwrite(fd, "XXXX", 4, 0), 4);
            close(fd);
            unlink(path);
        }
        uint8_t md5[MD5_LEN];
        char hex[33];
        crypto_md5(data, len, md5);
        hex_encode(md5, MD5_LEN, hex);
        assert_string_equal(info.etag, hex);
        lake_object_info_fini(&info);
        struct buf b;
        buf_init(&b);
        assert_int_equal(lake_object_read(f->lake, "adopt", named ? "n" : "u", &b, NULL, &err), 0);
        assert_int_equal(b.len, len);
        assert_memory_equal(b.data, data, len);
        buf_fini(&b);
    }
    free(data);
}

static void test_abandoned_uploads_are_discarded_at_open(void **state)
{
    struct fixture *f = *state;
    struct err_info err;
    assert_int_equal(lake_bucket_create(f->lake, "mpu", "us-east-1", &err), 0);
    struct lake_upload_info old_up;
    struct lake_upload_info new_up;
    assert_int_equal(lake_upload_create(f->lake, "mpu", "big", NULL, &old_up, &err), 0);
    assert_int_equal(lake_upload_create(f->lake, "mpu", "big", NULL, &new_up, &err), 0);
    write_part(f, old_up.upload_id, 1, 10, 'o', NULL);
    write_part(f, new_up.upload_id, 1, 10, 'n', NULL);
    /* Age the first upload past the one-week cut-off. */
    store_lock(f->st);
    struct store_stmt *s;
    assert_int_equal(
        store_prepare(f->st, "UPDATE lake_uploads SET initiated_ms=0 WHERE upload_id=?", &s), 0);
    store_bind_text(s, 1, old_up.upload_id);
    assert_int_equal(store_step(s), 0);
    store_finalize(s);
    store_unlock(f->st);
    close_lake(f);
    assert_int_equal(open_lake(f), 0);
    assert_int_equal(lake_upload_get(f->lake, "mpu", "big", old_up.upload_id, NULL, &err),
                     SL_E(NO_SUCH_UPLOAD));
    assert_int_equal(lake_upload_get(f->lake, "mpu", "big", new_up.upload_id, NULL, &err), 0);
    char objdir[700];
    snprintf(objdir, sizeof(objdir), "%s/lake/objects", f->dir);
    assert_int_equal(count_files(objdir), 1);
    lake_upload_info_fini(&old_up);
    lake_upload_info_fini(&new_up);
}

struct putter {
    struct lake *lake;
    int idx;
    int failures;   /* puts that failed but should not have */
    int missing_ok; /* puts to a missing bucket that failed as they should */
};

static void *putter_run(void *arg)
{
    struct putter *p = arg;
    for (int i = 0; i < 12; i++) {
        char key[64];
        char body[64];
        struct err_info err;
        /* Half the keys are shared between threads: the last writer wins. */
        if (i % 2 == 0) {
            snprintf(key, sizeof(key), "own-%d-%d", p->idx, i);
        } else {
            snprintf(key, sizeof(key), "shared-%d", i);
        }
        snprintf(body, sizeof(body), "%d:%d", p->idx, i);
        if (lake_object_put(p->lake, "group", key, body, strlen(body), NULL, NULL, &err) != 0) {
            p->failures++;
        }
        if (i % 5 == 0 && lake_object_put(p->lake, "nobucket", key, "x", 1, NULL, NULL, &err) ==
                              SL_E(NO_SUCH_BUCKET)) {
            p->missing_ok++;
        }
    }
    return NULL;
}

static void test_concurrent_puts_commit_in_groups(void **state)
{
    struct fixture *f = *state;
    struct err_info err;
    assert_int_equal(lake_bucket_create(f->lake, "group", "us-east-1", &err), 0);
    enum { THREADS = 8 };
    pthread_t th[THREADS];
    struct putter p[THREADS];
    for (int i = 0; i < THREADS; i++) {
        p[i] = (struct putter){.lake = f->lake, .idx = i};
        pthread_create(&th[i], NULL, putter_run, &p[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(p[i].failures, 0);
        assert_int_equal(p[i].missing_ok, 3);
    }
    struct lake_list_opts lo = {.max_keys = 1000};
    struct lake_list_result res;
    assert_int_equal(lake_object_list(f->lake, "group", &lo, &res, &err), 0);
    assert_int_equal(res.n_objects, THREADS * 6 + 6); /* own keys + shared keys */
    lake_list_result_fini(&res);
    char objdir[700];
    snprintf(objdir, sizeof(objdir), "%s/lake/objects", f->dir);
    assert_int_equal(count_blobs(f), THREADS * 6 + 6); /* replaced blobs are gone */
}

/* Reads a view's bytes through its path, as DuckDB does. */
static void assert_view_reads(struct fixture *f, const char *key, const char *want)
{
    struct err_info err;
    struct lake_view *v = NULL;
    const char *path = NULL;
    assert_int_equal(lake_object_view(f->lake, "views", key, &v, &path, &err), 0);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    char got[64] = {0};
    assert_int_equal(read(fd, got, sizeof(got) - 1), (ssize_t)strlen(want));
    assert_string_equal(got, want);
    close(fd);
    lake_view_release(v);
}

/* Views are decrypted once and kept between readers, but never outlive the bytes they
   show: an overwrite is seen at once. */
static void test_views_are_reused_and_follow_overwrites(void **state)
{
    struct fixture *f = *state;
    struct err_info err;
    assert_int_equal(lake_bucket_create(f->lake, "views", "us-east-1", &err), 0);
    put_str(f->lake, "views", "k", "the first bytes");
    put_str(f->lake, "views", "other", "other bytes");
    for (int round = 0; round < 3; round++) {
        assert_view_reads(f, "k", "the first bytes");
        assert_view_reads(f, "other", "other bytes");
    }
    put_str(f->lake, "views", "k", "the second bytes!");
    assert_view_reads(f, "k", "the second bytes!");
    assert_view_reads(f, "other", "other bytes");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bucket_lifecycle_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bucket_documents_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_get_round_trips_bytes_etag_and_metadata, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_overwrite_and_delete_leave_no_stray_files, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_content_md5_leaves_nothing_visible, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hostile_keys_stored_exactly_inside_the_lake, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_listing_matches_model_across_pages, setup, teardown),
        cmocka_unit_test(test_checksums_match_known_vectors),
        cmocka_unit_test_setup_teardown(test_multipart_complete_concatenates_with_aws_etag, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_multipart_abort_and_listing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_objects_and_removes_debris, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_adopted_spool_file_is_sealed_into_the_object, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_views_are_reused_and_follow_overwrites, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_puts_commit_in_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abandoned_uploads_are_discarded_at_open, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
