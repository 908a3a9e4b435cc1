/*
 * Fuzzes the Parquet writer's value path (src/core/duck.c): the input is decoded into
 * column data as delivery hands it over — strings and blobs of any bytes, decimals of any
 * value, lists, maps with possibly null keys, structs, nulls anywhere — and appended.
 * The append must either refuse with SL_E(VALIDATION), keeping nothing, or accept; what
 * it accepts must write to Parquet and read back with every string, blob and decimal
 * equal. Anything else (another error, a crash, a sanitizer report, a difference) is a
 * finding.
 *
 * Input: one byte of row count (mod 33), then per row a flags byte (bit k: column k is
 * NULL) followed by each column's value; bytes past the end read as zero.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/duck.h"
#include "core/err.h"

#define MAX_ROWS 32
#define MAX_STR 24

struct reader {
    const uint8_t *p;
    size_t left;
};

static uint8_t next_byte(struct reader *r)
{
    if (r->left == 0) {
        return 0;
    }
    r->left--;
    return *r->p++;
}

static void next_bytes(struct reader *r, void *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ((uint8_t *)out)[i] = next_byte(r);
    }
}

/* A string of up to MAX_STR arbitrary bytes, stored in buf. */
static struct duck_str next_str(struct reader *r, char *buf)
{
    size_t len = next_byte(r) % (MAX_STR + 1);
    next_bytes(r, buf, len);
    return (struct duck_str){buf, len};
}

static const struct duck_type t_str = {.id = DUCK_T_VARCHAR}, t_blob = {.id = DUCK_T_BLOB},
                              t_dec = {.id = DUCK_T_DECIMAL, .width = 9, .scale = 2},
                              t_wide = {.id = DUCK_T_DECIMAL, .width = 38, .scale = 4},
                              t_int = {.id = DUCK_T_INTEGER}, t_double = {.id = DUCK_T_DOUBLE},
                              t_list = {.id = DUCK_T_LIST, .element = &t_str},
                              t_map = {.id = DUCK_T_MAP, .key = &t_str, .value = &t_int};
static const struct duck_field st_fields[] = {{"x", &t_double}, {"y", &t_str}};
static const struct duck_type t_struct = {.id = DUCK_T_STRUCT, .fields = st_fields, .n_fields = 2};
static const struct duck_field columns[] = {
    {"s", &t_str},  {"b", &t_blob}, {"d", &t_dec},     {"w", &t_wide},
    {"l", &t_list}, {"m", &t_map},  {"st", &t_struct},
};
enum { C_S, C_B, C_D, C_W, C_L, C_M, C_ST, N_COLS };

static struct duck_engine *engine;
static struct duck_conn *conn;
static struct duck_writer *writer;
static char path[128];

static char dir[64];

static void teardown(void)
{
    duck_writer_destroy(writer);
    duck_conn_close(conn);
    duck_engine_close(engine);
    unlink(path);
    rmdir(dir);
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/fuzz_duck_XXXXXX");
    if (mkdtemp(dir) == NULL) {
        abort();
    }
    snprintf(path, sizeof(path), "%s/f.parquet", dir);
    const char *dirs[] = {dir};
    struct duck_engine_options opts = {
        .dirs = dirs, .n_dirs = 1, .memory_limit_bytes = 256u << 20, .n_threads = 1};
    struct duck_error err;
    if (duck_engine_open(&opts, &engine, &err) != 0 || duck_conn_open(engine, &conn, &err) != 0 ||
        duck_writer_create(conn, columns, N_COLS, &writer, &err) != 0) {
        fprintf(stderr, "fuzz_duck_writer: %s\n", err.message);
        abort();
    }
    atexit(teardown);
}

struct input {
    size_t n;
    uint8_t nulls[N_COLS][MAX_ROWS];
    char sbuf[MAX_ROWS][MAX_STR], bbuf[MAX_ROWS][MAX_STR], ybuf[MAX_ROWS][MAX_STR];
    struct duck_str s[MAX_ROWS], b[MAX_ROWS], y[MAX_ROWS];
    int64_t d[MAX_ROWS];
    struct duck_int128 w[MAX_ROWS];
    double x[MAX_ROWS];
    uint64_t l_off[MAX_ROWS + 1], m_off[MAX_ROWS + 1];
    char lbuf[MAX_ROWS * 3][MAX_STR], kbuf[MAX_ROWS * 2][MAX_STR];
    struct duck_str l[MAX_ROWS * 3], k[MAX_ROWS * 2];
    uint8_t k_null[MAX_ROWS * 2];
    int32_t v[MAX_ROWS * 2];
    struct duck_colbuf l_child[1], m_child[2], st_child[2], cols[N_COLS];
};

static void decode(struct reader *r, struct input *in)
{
    in->n = next_byte(r) % (MAX_ROWS + 1);
    size_t n_l = 0, n_m = 0;
    for (size_t i = 0; i < in->n; i++) {
        uint8_t flags = next_byte(r);
        for (size_t c = 0; c < N_COLS; c++) {
            in->nulls[c][i] = flags >> c & 1;
        }
        in->s[i] = next_str(r, in->sbuf[i]);
        in->b[i] = next_str(r, in->bbuf[i]);
        next_bytes(r, &in->d[i], sizeof(in->d[i]));
        next_bytes(r, &in->w[i], sizeof(in->w[i]));
        in->l_off[i] = n_l;
        for (size_t e = next_byte(r) % 4; e > 0; e--) {
            in->l[n_l] = next_str(r, in->lbuf[n_l]);
            n_l++;
        }
        in->m_off[i] = n_m;
        for (size_t e = next_byte(r) % 3; e > 0; e--) {
            in->k[n_m] = next_str(r, in->kbuf[n_m]);
            in->k_null[n_m] = next_byte(r) == 0xff;
            next_bytes(r, &in->v[n_m], sizeof(in->v[n_m]));
            n_m++;
        }
        next_bytes(r, &in->x[i], sizeof(in->x[i]));
        in->y[i] = next_str(r, in->ybuf[i]);
    }
    in->l_off[in->n] = n_l;
    in->m_off[in->n] = n_m;
    in->l_child[0] = (struct duck_colbuf){.values = in->l};
    in->m_child[0] = (struct duck_colbuf){.values = in->k, .is_null = in->k_null};
    in->m_child[1] = (struct duck_colbuf){.values = in->v};
    in->st_child[0] = (struct duck_colbuf){.values = in->x};
    in->st_child[1] = (struct duck_colbuf){.values = in->y};
    const void *values[N_COLS] = {in->s, in->b, in->d, in->w, NULL, NULL, NULL};
    for (size_t c = 0; c < N_COLS; c++) {
        in->cols[c] = (struct duck_colbuf){.is_null = in->nulls[c], .values = values[c]};
    }
    in->cols[C_L].offsets = in->l_off;
    in->cols[C_L].children = in->l_child;
    in->cols[C_M].offsets = in->m_off;
    in->cols[C_M].children = in->m_child;
    in->cols[C_ST].children = in->st_child;
}

static void same_str(struct duck_str got, struct duck_str want)
{
    if (got.len != want.len || (want.len > 0 && memcmp(got.ptr, want.ptr, want.len) != 0)) {
        abort();
    }
}

/* Reads the file back and compares s, b, d, w and the list lengths with the input. */
static void check(const struct input *in)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT s, b, d, w, l FROM read_parquet('%s')", path);
    struct duck_result *res;
    struct duck_error err;
    if (duck_query(conn, sql, &res, &err) != 0) {
        fprintf(stderr, "fuzz_duck_writer: reading back: %s\n", err.message);
        abort();
    }
    size_t n, row = 0;
    while (duck_result_fetch(res, &n, &err) == 0 && n > 0) {
        for (size_t r = 0; r < n; r++, row++) {
            for (size_t c = 0; c < 5; c++) {
                if (duck_vec_is_null(duck_result_column(res, c), r) != (bool)in->nulls[c][row]) {
                    abort();
                }
            }
            if (!in->nulls[C_S][row]) {
                same_str(duck_vec_str(duck_result_column(res, 0), r), in->s[row]);
            }
            if (!in->nulls[C_B][row]) {
                same_str(duck_vec_str(duck_result_column(res, 1), r), in->b[row]);
            }
            if (!in->nulls[C_D][row] &&
                (int64_t)duck_vec_decimal(duck_result_column(res, 2), r).lo != in->d[row]) {
                abort();
            }
            if (!in->nulls[C_W][row]) {
                struct duck_int128 w = duck_vec_decimal(duck_result_column(res, 3), r);
                if (w.lo != in->w[row].lo || w.hi != in->w[row].hi) {
                    abort();
                }
            }
            uint64_t off, len;
            if (!in->nulls[C_L][row]) {
                duck_vec_list(duck_result_column(res, 4), r, &off, &len);
                if (len != in->l_off[row + 1] - in->l_off[row]) {
                    abort();
                }
            }
        }
    }
    if (row != in->n) {
        abort();
    }
    duck_result_destroy(res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (engine == NULL) {
        setup();
    }
    struct input *in = calloc(1, sizeof(*in));
    struct reader r = {data, size};
    decode(&r, in);
    struct duck_error err;
    int rc = duck_writer_append(writer, in->cols, in->n, &err);
    if (rc == SL_E(VALIDATION)) {
        if (duck_writer_row_count(writer) != 0) {
            abort(); /* a refused append kept rows */
        }
    } else if (rc != 0) {
        fprintf(stderr, "fuzz_duck_writer: append: %s\n", err.message);
        abort();
    } else {
        struct duck_parquet_options po = {.codec = DUCK_PARQUET_SNAPPY};
        uint64_t n = 0;
        if (duck_writer_write_parquet(writer, path, &po, &n, &err) != 0 || n != in->n) {
            fprintf(stderr, "fuzz_duck_writer: write: %s\n", err.message);
            abort();
        }
        check(in);
    }
    free(in);
    return 0;
}
