/*
 * libjq 1.6, Firehose's MetadataExtraction engine, behind one adapter.
 *
 * Every call into libjq is made from src/core/jq.c (the house rule: one adapter file per
 * third-party library). AWS runs a MetadataExtractionQuery with JsonParsingEngine JQ-1.6:
 * a jq program, given one record's JSON, that yields an object of partition keys, e.g.
 * `{customer_id:.customer_id, device:.type.device, year:.ts|strftime("%Y")}`.
 *
 * Values are rendered as Firehose renders them in a prefix: a string without its quotes,
 * a number in jq's own output form (`42`, `1.5`, `1e+100`, `1.7976931348623157e+308`), a
 * boolean as `true`/`false`. A null (a missing field is null in jq), an object or an array
 * is a failure of the record, as is a query that errors, yields nothing, or yields
 * something other than an object. Only the query's first output counts; evaluation stops
 * there.
 *
 * Bounding a query. libjq 1.6 has no step budget, no timeout and no way to interrupt a
 * running jq_next(), and a jq_state cannot be abandoned safely from another thread. So the
 * bound is set when a query is compiled, by vetting its text (a lexer over jq's grammar,
 * not a parser), and at run time by the size of the input:
 *   - refused: everything that loops or recurses without a bound set by the data: `def`
 *     (user functions are the only way to recurse), `reduce`, `foreach`, `label`/`break`,
 *     `..`, and the builtins range, recurse, recurse_down, repeat, while, until, limit,
 *     paths, leaf_paths, walk, combinations, env, splits...: any identifier called as a
 *     function must be on an allow-list of builtins whose cost is linear (or n log n) in
 *     their input (tostring, tojson, strftime, ascii_downcase, split/1, join, sort, ...);
 *   - refused: regular expressions (test, match, capture, scan, sub, gsub, split/2,
 *     splits): Oniguruma backtracks exponentially on some patterns;
 *   - refused: `*` (jq 1.6 repeats a string n times in a loop of n appends: `"a" * 1e12`)
 *     and every assignment operator (`=`, `|=`, `+=`, ...), which extraction never needs;
 *   - refused: anything that reads outside the record: `$ENV` and `env` (the server's
 *     environment holds credentials), `$__loc__`, `input`, `inputs`, `import`, `include`,
 *     module paths (`a::b`), `input_filename`, and whatever writes: `debug`, `stderr`,
 *     `halt`, `halt_error`;
 *   - at most JQ_QUERY_MAX_GENERATORS generator sites (a `,` outside an object's key list,
 *     a `[]` iteration, `map`, `map_values`, `with_entries`, `any`, `all`, `first`,
 *     `values`...): the number of outputs is a product over these sites;
 *   - inputs longer than JQ_INPUT_MAX_LEN (AWS's record limit) are refused unread.
 * What is left terminates, in time polynomial in the input with a degree bounded by the
 * generator count. It is not a wall-clock bound: a query that iterates an array and,
 * for each element, re-serializes a bound copy of the whole record (`. as $r | .[] |
 * $r | tojson`) is quadratic in the record size (about 10^10 steps for 1 MB). A wall-clock
 * bound needs evaluation in a process that can be killed; the engine should count
 * JQProcessing.Duration per record meanwhile.
 *
 * Costs measured (one core, -O2, jq 1.6): compiling takes about 22 ms (libjq compiles its
 * builtin library into every jq_state), so compile once per delivery stream and thread,
 * never per record; AWS's documented three-key query runs in about 9 us a record; a
 * 1 MB record (a 500,000-number array) takes about 107 ms just to parse; the quadratic
 * query above ran more than 60 s on it (stopped by hand), a 2^16-fold generator 128 ms.
 *
 * Threads: a struct jq_query holds one jq_state, which libjq does not share between
 * threads. One query object per thread, or the caller's lock around jq_query_eval;
 * compiling and destroying are independent across query objects.
 *
 * Names: libjq owns the jq_ prefix for its own functions; ours are jq_query_*.
 */
#ifndef SLUICE_CORE_JQ_H
#define SLUICE_CORE_JQ_H

#include <stddef.h>

#include "core/err.h"

#define JQ_QUERY_MAX_LEN 5120      /* ParameterValue's maximum length in the API model */
#define JQ_INPUT_MAX_LEN 1024000   /* a Firehose record's maximum size in bytes */
#define JQ_MAX_KEYS 50             /* partition keys per query (AWS's limit) */
#define JQ_VALUE_MAX_LEN 1024      /* a rendered value longer than this is a failure */
#define JQ_QUERY_MAX_GENERATORS 16 /* generator sites a query may hold */

/* Why a record failed, for the caller's error object and its counters. */
enum jq_fail {
    JQ_FAIL_NONE = 0,
    JQ_FAIL_INPUT,      /* the record is not one JSON value, or is too long */
    JQ_FAIL_QUERY,      /* the query raised an error on this record */
    JQ_FAIL_NO_OUTPUT,  /* the query yielded nothing */
    JQ_FAIL_NOT_OBJECT, /* the query yielded something other than an object */
    JQ_FAIL_VALUE,      /* a key's value is null, an object, an array, or too long */
    JQ_FAIL_KEYS,       /* more than JQ_MAX_KEYS keys, or none */
};

struct jq_query;

/* One partition key and its rendered value. */
struct jq_kv {
    char *key;        /* NUL-terminated; owned by the result */
    char *value;      /* NUL-terminated rendered value; owned by the result */
    size_t key_len;   /* bytes of key, without the NUL */
    size_t value_len; /* bytes of value, without the NUL */
};

/* A query's keys, in the order the query's object holds them (jq sorts nothing here). */
struct jq_result {
    size_t n_kv;                  /* keys filled */
    struct jq_kv kv[JQ_MAX_KEYS]; /* the first n_kv are valid */
    enum jq_fail fail;            /* set by a failing jq_query_eval, else JQ_FAIL_NONE */
};

/*
 * Vets and compiles query (query_len bytes, no NUL needed) into *out (OUT; destroy it
 * with jq_query_destroy). Returns 0, or:
 *   SL_E(INVALID_ARGUMENT)  the query is empty, too long, refused by the vetting above, or
 *                           not valid jq 1.6; err says which and why
 *   SL_E(NOMEM)             libjq could not allocate
 */
int jq_query_compile(const char *query, size_t query_len, struct jq_query **out,
                     struct err_info *err);

/* Frees a query; NULL is fine. */
void jq_query_destroy(struct jq_query *q);

/*
 * Runs q on one record (json, json_len bytes) and fills *res (OUT; release it with
 * jq_result_fini whatever the return). Not to be called on one query from two threads at
 * once. Returns 0, or:
 *   SL_E(INVALID_INPUT)  the record failed: res->fail says how, err has the message
 *   SL_E(NOMEM)          an allocation failed (the record may succeed later)
 */
int jq_query_eval(struct jq_query *q, const char *json, size_t json_len, struct jq_result *res,
                  struct err_info *err);

/* Frees what a result owns and empties it; safe on a zeroed or already-finished result. */
void jq_result_fini(struct jq_result *res);

/* Looks a key up in a result; returns its entry or NULL. */
const struct jq_kv *jq_result_get(const struct jq_result *res, const char *key, size_t key_len);

/* Test seam: the next n-th call into libjq's evaluation fails as if out of memory (0: off). */
void jq_fail_after(unsigned long n);

#endif
