/*
 * The libjq adapter: the only file that calls libjq. See jq.h for what a query may do and
 * why; this file holds the vetting lexer, the compile and the run.
 *
 * Ownership in libjq: every jv passed to a function is consumed by it, every jv returned
 * is owned by the caller. jq_next() returns an invalid jv at the end of output; an
 * invalid jv with a message is an error raised by the query. jq_compile() reports syntax
 * errors through the error callback, which we collect into the caller's err_info.
 */
#include "core/jq.h"

#include <jq.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonscan.h"
#include "core/mem.h"

struct jq_query {
    jq_state *jq;          /* compiled program; one thread at a time */
    struct err_info *err;  /* where the error callback writes; set per call */
    char compile_msg[256]; /* first message libjq reported while compiling */
};

static unsigned long fail_countdown; /* test seam: see jq_fail_after */

void jq_fail_after(unsigned long n)
{
    fail_countdown = n;
}

static bool injected_failure(void)
{
    if (fail_countdown == 0) {
        return false;
    }
    return --fail_countdown == 0;
}

/* ---- Vetting ------------------------------------------------------------------------ */

/*
 * Builtins a query may call: each costs time linear (or n log n) in its input and reads
 * nothing but its input. `gen` marks the ones that iterate their input; they count as
 * generator sites like `[]` and `,`.
 */
static const struct builtin {
    const char *name;
    bool gen;
} allowed[] = {
    {"not", false},
    {"length", false},
    {"utf8bytelength", false},
    {"keys", false},
    {"keys_unsorted", false},
    {"values", false},
    {"has", false},
    {"in", false},
    {"inside", false},
    {"contains", false},
    {"map", true},
    {"map_values", true},
    {"to_entries", true},
    {"from_entries", true},
    {"with_entries", true},
    {"select", false},
    {"empty", false},
    {"error", false},
    {"add", true},
    {"any", true},
    {"all", true},
    {"flatten", true},
    {"floor", false},
    {"sqrt", false},
    {"pow", false},
    {"log", false},
    {"log2", false},
    {"log10", false},
    {"exp", false},
    {"exp2", false},
    {"exp10", false},
    {"ceil", false},
    {"round", false},
    {"fabs", false},
    {"tostring", false},
    {"tonumber", false},
    {"type", false},
    {"ascii_downcase", false},
    {"ascii_upcase", false},
    {"ltrimstr", false},
    {"rtrimstr", false},
    {"startswith", false},
    {"endswith", false},
    {"split", false},
    {"join", true},
    {"ascii", false},
    {"implode", false},
    {"explode", false},
    {"tojson", false},
    {"fromjson", false},
    {"todate", false},
    {"fromdate", false},
    {"strftime", false},
    {"strptime", false},
    {"mktime", false},
    {"gmtime", false},
    {"localtime", false},
    {"strflocaltime", false},
    {"now", false},
    {"date", false},
    {"todateiso8601", false},
    {"fromdateiso8601", false},
    {"dateadd", false},
    {"datesub", false},
    {"min", false},
    {"max", false},
    {"min_by", true},
    {"max_by", true},
    {"sort", false},
    {"sort_by", true},
    {"unique", false},
    {"unique_by", true},
    {"group_by", true},
    {"reverse", false},
    {"first", true},
    {"last", true},
    {"nth", true},
    {"isempty", false},
    {"isnan", false},
    {"isinfinite", false},
    {"infinite", false},
    {"nan", false},
    {"isnormal", false},
    {"null", false},
    {"true", false},
    {"false", false},
    {"numbers", false},
    {"strings", false},
    {"booleans", false},
    {"nulls", false},
    {"arrays", false},
    {"objects", false},
    {"iterables", false},
    {"scalars", false},
    {"getpath", false},
};

/* Keywords of jq 1.6 that are allowed; the others (def, reduce, ...) are refused. */
static const char *const keywords_ok[] = {"if", "then", "elif", "else", "end",
                                          "as", "and",  "or",   "try",  "catch"};
static const char *const keywords_refused[] = {"def",    "reduce",  "foreach", "label",
                                               "import", "include", "break",   "__loc__"};

static bool word_in(const char *w, size_t len, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(list[i]) == len && memcmp(list[i], w, len) == 0) {
            return true;
        }
    }
    return false;
}

static const struct builtin *builtin_find(const char *w, size_t len)
{
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
        if (strlen(allowed[i].name) == len && memcmp(allowed[i].name, w, len) == 0) {
            return &allowed[i];
        }
    }
    return NULL;
}

#define VET_MAX_DEPTH 64

/* An open bracket while vetting. */
struct frame {
    char open;        /* '(', '[', '{', or 'i' for a string interpolation \( ... ) */
    bool key_pos;     /* '{' only: the next token is an object key */
    bool split_call;  /* '(' opened the arguments of split */
    int n_semicolons; /* ';' seen directly inside */
};

static bool is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident(char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

static size_t skip_space(const char *s, size_t len, size_t i)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) {
        i++;
    }
    return i;
}

/*
 * Lexes a string body from i (just after the opening quote or a closing interpolation).
 * Returns the index after the closing quote, or after a `\(` (then *interp is set), or
 * SIZE_MAX when the string is not closed.
 */
static size_t lex_string(const char *s, size_t len, size_t i, bool *interp)
{
    *interp = false;
    while (i < len) {
        if (s[i] == '"') {
            return i + 1;
        }
        if (s[i] == '\\' && i + 1 < len) {
            if (s[i + 1] == '(') {
                *interp = true;
                return i + 2;
            }
            i += 2;
            continue;
        }
        i++;
    }
    return SIZE_MAX;
}

static int refuse(struct err_info *err, const char *what)
{
    return err_set(err, SL_E(INVALID_ARGUMENT), "MetadataExtractionQuery is not supported: %s.",
                   what);
}

/*
 * Walks the query's tokens and refuses what jq.h lists. It is a lexer with a bracket
 * stack, not a parser: it only has to tell a function call from a field name, an object
 * key or a variable, and a generator comma from an object's separator. Anything it lets
 * through that is not valid jq is refused by jq_compile afterwards.
 */
static int vet(const char *s, size_t len, struct err_info *err)
{
    struct frame stack[VET_MAX_DEPTH];
    int depth = 0;
    int n_generators = 0;
    bool after_dot = false; /* the previous token was '.', so an identifier is a field */
    size_t i = 0;
    while (i < len) {
        char c = s[i];
        bool key_pos = depth > 0 && stack[depth - 1].open == '{' && stack[depth - 1].key_pos;
        if (depth > 0 && stack[depth - 1].open == '{' && c != ' ' && c != '\t' && c != '\n' &&
            c != '\r') {
            stack[depth - 1].key_pos = false;
        }
        bool was_after_dot = after_dot;
        after_dot = false;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            i++; /* jq's field token is '.' and a name with nothing between */
        } else if (c == '#') {
            while (i < len && s[i] != '\n') {
                i++;
            }
        } else if (c == '"') {
            bool interp;
            i = lex_string(s, len, i + 1, &interp);
            if (i == SIZE_MAX) {
                /* jq 1.6's parser leaks the token of an unclosed string: refuse it here. */
                return refuse(err, "a string is not closed");
            }
            if (interp) {
                if (depth == VET_MAX_DEPTH) {
                    return refuse(err, "brackets nested too deep");
                }
                stack[depth++] = (struct frame){.open = 'i'};
            }
        } else if (is_ident_start(c)) {
            size_t start = i;
            while (i < len && is_ident(s[i])) {
                i++;
            }
            const char *w = s + start;
            size_t wlen = i - start;
            if (i + 1 < len && s[i] == ':' && s[i + 1] == ':') {
                return refuse(err, "modules (name::name) are not available");
            }
            if (was_after_dot || key_pos) {
                continue; /* a field name or an object key */
            }
            if (word_in(w, wlen, keywords_refused,
                        sizeof(keywords_refused) / sizeof(keywords_refused[0]))) {
                char what[96];
                snprintf(what, sizeof(what), "'%.*s' is not allowed (it can loop unbounded)",
                         (int)wlen, w);
                return refuse(err, what);
            }
            if (word_in(w, wlen, keywords_ok, sizeof(keywords_ok) / sizeof(keywords_ok[0]))) {
                continue;
            }
            const struct builtin *b = builtin_find(w, wlen);
            if (b == NULL) {
                char what[128];
                snprintf(what, sizeof(what), "the function '%.*s' is not allowed",
                         (int)(wlen > 64 ? 64 : wlen), w);
                return refuse(err, what);
            }
            if (b->gen) {
                n_generators++;
            }
            size_t j = skip_space(s, len, i);
            if (strcmp(b->name, "split") == 0 && j < len && s[j] == '(') {
                if (depth == VET_MAX_DEPTH) {
                    return refuse(err, "brackets nested too deep");
                }
                stack[depth++] = (struct frame){.open = '(', .split_call = true};
                i = j + 1;
            }
        } else if (c == '$') {
            /* jq 1.6 allows blanks and comments between '$' and the name: `$ ENV`. */
            i++;
            for (;;) {
                i = skip_space(s, len, i);
                if (i < len && s[i] == '#') {
                    while (i < len && s[i] != '\n') {
                        i++;
                    }
                    continue;
                }
                break;
            }
            size_t start = i;
            while (i < len && is_ident(s[i])) {
                i++;
            }
            size_t wlen = i - start;
            if ((wlen == 3 && memcmp(s + start, "ENV", 3) == 0) ||
                (wlen >= 2 && memcmp(s + start, "__", 2) == 0)) {
                return refuse(err, "$ENV and $__ variables are not available");
            }
        } else if (c == '@') {
            i++;
            while (i < len && is_ident(s[i])) {
                i++;
            }
        } else if ((c >= '0' && c <= '9') ||
                   (c == '.' && i + 1 < len && s[i + 1] >= '0' && s[i + 1] <= '9')) {
            while (i < len && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) {
                i++;
            }
            if (i < len && (s[i] == 'e' || s[i] == 'E')) {
                i++;
                if (i < len && (s[i] == '+' || s[i] == '-')) {
                    i++;
                }
                while (i < len && s[i] >= '0' && s[i] <= '9') {
                    i++;
                }
            }
        } else if (c == '.') {
            if (i + 1 < len && s[i + 1] == '.') {
                return refuse(err, "recursive descent (..) is not allowed");
            }
            after_dot = true;
            i++;
        } else if (c == '(' || c == '[' || c == '{') {
            if (depth == VET_MAX_DEPTH) {
                return refuse(err, "brackets nested too deep");
            }
            if (c == '[' && skip_space(s, len, i + 1) < len &&
                s[skip_space(s, len, i + 1)] == ']') {
                n_generators++; /* an iteration (or an empty array) */
            }
            stack[depth++] = (struct frame){.open = c, .key_pos = c == '{'};
            i++;
        } else if (c == ')' || c == ']' || c == '}') {
            char want = c == ')' ? '(' : c == ']' ? '[' : '{';
            if (depth == 0 ||
                (stack[depth - 1].open != want && !(c == ')' && stack[depth - 1].open == 'i'))) {
                return refuse(err, "unbalanced brackets");
            }
            struct frame f = stack[--depth];
            if (f.split_call && f.n_semicolons > 0) {
                return refuse(err, "regular expressions (split/2) are not allowed");
            }
            i++;
            if (f.open == 'i') {
                bool interp;
                i = lex_string(s, len, i, &interp);
                if (i == SIZE_MAX) {
                    return refuse(err, "a string is not closed");
                }
                if (interp) {
                    stack[depth++] = (struct frame){.open = 'i'};
                }
            }
        } else if (c == ',') {
            if (depth > 0 && stack[depth - 1].open == '{') {
                stack[depth - 1].key_pos = true;
            } else {
                n_generators++;
            }
            i++;
        } else if (c == ';') {
            if (depth > 0) {
                stack[depth - 1].n_semicolons++;
            }
            i++;
        } else if (c == '*') {
            return refuse(err, "the * operator is not allowed");
        } else if (c == '=' || c == '|' || c == '+' || c == '-' || c == '/' || c == '%' ||
                   c == '<' || c == '>' || c == '!') {
            size_t op_len = 1;
            if (c == '/' && i + 1 < len && s[i + 1] == '/') {
                op_len = 2;
            }
            bool next_eq = i + op_len < len && s[i + op_len] == '=';
            if (c == '=' && next_eq) {
                i += 2; /* == */
                continue;
            }
            if ((c == '<' || c == '>' || c == '!') && next_eq) {
                i += 2;
                continue;
            }
            if (c == '=' || next_eq) {
                return refuse(err, "assignment operators are not allowed");
            }
            i += op_len;
        } else if (c == '?' && i + 2 < len && s[i + 1] == '/' && s[i + 2] == '/') {
            return refuse(err, "the ?// operator is not allowed");
        } else {
            i++;
        }
        if (n_generators > JQ_QUERY_MAX_GENERATORS) {
            char what[96];
            snprintf(what, sizeof(what), "more than %d generators (',', '[]', map, ...)",
                     JQ_QUERY_MAX_GENERATORS);
            return refuse(err, what);
        }
    }
    if (depth != 0) {
        /* Caught here rather than by jq, whose parser leaks on some unclosed brackets. */
        return refuse(err, "unbalanced brackets");
    }
    return 0;
}

/* ---- Compile and run ---------------------------------------------------------------- */

/* libjq's error callback: keeps the first message, formatted as jq prints it. */
static void on_error(void *data, jv msg)
{
    struct jq_query *q = data;
    if (q->compile_msg[0] == '\0') {
        if (jv_get_kind(msg) == JV_KIND_STRING) {
            snprintf(q->compile_msg, sizeof(q->compile_msg), "%s", jv_string_value(msg));
        } else {
            snprintf(q->compile_msg, sizeof(q->compile_msg), "jq error");
        }
    }
    jv_free(msg);
}

int jq_query_compile(const char *query, size_t query_len, struct jq_query **out,
                     struct err_info *err)
{
    *out = NULL;
    if (query_len == 0 || query_len > JQ_QUERY_MAX_LEN) {
        return err_set(err, SL_E(INVALID_ARGUMENT),
                       "MetadataExtractionQuery must be 1 to %d characters long.",
                       JQ_QUERY_MAX_LEN);
    }
    if (memchr(query, '\0', query_len) != NULL) {
        return err_set(err, SL_E(INVALID_ARGUMENT),
                       "MetadataExtractionQuery must not contain a NUL character.");
    }
    int rc = vet(query, query_len, err);
    if (rc != 0) {
        return rc;
    }
    struct jq_query *q = xcalloc(1, sizeof(*q));
    q->jq = jq_init();
    if (q->jq == NULL) {
        rc = err_set(err, SL_E(NOMEM), "jq could not be initialized.");
        goto out_free;
    }
    jq_set_error_cb(q->jq, on_error, q);
    /* No library search path: nothing is ever read from the file system. */
    jq_set_attr(q->jq, jv_string("JQ_LIBRARY_PATH"), jv_array());
    char *text = xstrndup(query, query_len);
    int ok = jq_compile(q->jq, text);
    free(text);
    if (!ok) {
        rc = err_set(err, SL_E(INVALID_ARGUMENT), "MetadataExtractionQuery is not valid jq: %s",
                     q->compile_msg[0] != '\0' ? q->compile_msg : "compile error");
        goto out_teardown;
    }
    *out = q;
    return 0;
out_teardown:
    jq_teardown(&q->jq);
out_free:
    free(q);
    return rc;
}

void jq_query_destroy(struct jq_query *q)
{
    if (q == NULL) {
        return;
    }
    if (q->jq != NULL) {
        jq_teardown(&q->jq);
    }
    free(q);
}

void jq_result_fini(struct jq_result *res)
{
    for (size_t i = 0; i < res->n_kv; i++) {
        free(res->kv[i].key);
        free(res->kv[i].value);
    }
    res->n_kv = 0;
}

const struct jq_kv *jq_result_get(const struct jq_result *res, const char *key, size_t key_len)
{
    for (size_t i = 0; i < res->n_kv; i++) {
        if (res->kv[i].key_len == key_len && memcmp(res->kv[i].key, key, key_len) == 0) {
            return &res->kv[i];
        }
    }
    return NULL;
}

static int fail(struct jq_result *res, enum jq_fail kind, struct err_info *err, const char *fmt,
                const char *detail)
{
    res->fail = kind;
    return err_set(err, SL_E(INVALID_INPUT), fmt, detail);
}

/*
 * Renders one value as Firehose puts it in a prefix, into a fresh string (*out, OUT).
 * Returns 0, SL_E(INVALID_INPUT) for a value that is not a string, number or boolean (or
 * is too long), SL_E(NOMEM).
 */
static int render(jv v, char **out, size_t *out_len)
{
    jv text;
    switch (jv_get_kind(v)) {
    case JV_KIND_STRING: text = jv_copy(v); break;
    case JV_KIND_NUMBER: text = jv_dump_string(jv_copy(v), 0); break;
    case JV_KIND_TRUE:
    case JV_KIND_FALSE: text = jv_string(jv_get_kind(v) == JV_KIND_TRUE ? "true" : "false"); break;
    default: return SL_E(INVALID_INPUT);
    }
    int len = jv_string_length_bytes(jv_copy(text));
    if (len > JQ_VALUE_MAX_LEN) {
        jv_free(text);
        return SL_E(INVALID_INPUT);
    }
    char *s = try_malloc((size_t)len + 1);
    if (s == NULL) {
        jv_free(text);
        return SL_E(NOMEM);
    }
    memcpy(s, jv_string_value(text), (size_t)len);
    s[len] = '\0';
    jv_free(text);
    *out = s;
    *out_len = (size_t)len;
    return 0;
}

/* Fills res from the object the query yielded; consumes nothing (obj stays the caller's). */
static int collect(jv obj, struct jq_result *res, struct err_info *err)
{
    int n = jv_object_length(jv_copy(obj));
    if (n == 0) {
        return fail(res, JQ_FAIL_KEYS, err, "%s",
                    "The MetadataExtractionQuery yielded an object without keys.");
    }
    if (n > JQ_MAX_KEYS) {
        return fail(res, JQ_FAIL_KEYS, err, "%s",
                    "The MetadataExtractionQuery yielded more than 50 partition keys.");
    }
    jv_object_foreach(obj, key, value)
    {
        char name[128];
        snprintf(name, sizeof(name), "%s", jv_string_value(key));
        int key_len = jv_string_length_bytes(jv_copy(key));
        struct jq_kv *kv = &res->kv[res->n_kv];
        int rc = render(value, &kv->value, &kv->value_len);
        jv_free(value);
        if (rc == 0) {
            kv->key = try_malloc((size_t)key_len + 1);
            if (kv->key == NULL) {
                free(kv->value);
                rc = SL_E(NOMEM);
            } else {
                memcpy(kv->key, jv_string_value(key), (size_t)key_len);
                kv->key[key_len] = '\0';
                kv->key_len = (size_t)key_len;
                res->n_kv++;
            }
        }
        jv_free(key);
        if (rc == SL_E(NOMEM)) {
            return err_set(err, rc, "Out of memory rendering a partition key.");
        }
        if (rc != 0) {
            return fail(res, JQ_FAIL_VALUE, err,
                        "The partition key '%s' is null, missing, an object, an array or "
                        "longer than 1024 bytes.",
                        name);
        }
    }
    return 0;
}

int jq_query_eval(struct jq_query *q, const char *json, size_t json_len, struct jq_result *res,
                  struct err_info *err)
{
    memset(res, 0, sizeof(*res));
    if (injected_failure()) {
        return err_set(err, SL_E(NOMEM), "Out of memory running the MetadataExtractionQuery.");
    }
    if (json_len > JQ_INPUT_MAX_LEN) {
        return fail(res, JQ_FAIL_INPUT, err, "%s", "The record is too large to parse.");
    }
    /* The record must be exactly one JSON value. Our own reader checks it first: jq
       1.6's jv_parse_sized leaks a string on some malformed texts (found by
       fuzz/fuzz_partition), which one bad record per call would turn into a steady
       leak. */
    struct jscan js;
    jscan_init(&js, json, json_len);
    if (jscan_skip(&js) != 0 || jscan_finish(&js) != 0) {
        return fail(res, JQ_FAIL_INPUT, err, "The record is not valid JSON: %s",
                    js.error != NULL ? js.error : "malformed");
    }
    jv input = jv_parse_sized(json, (int)json_len);
    if (!jv_is_valid(input)) {
        jv msg = jv_invalid_get_msg(input);
        char detail[200];
        snprintf(detail, sizeof(detail), "%s",
                 jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg) : "not JSON");
        jv_free(msg);
        return fail(res, JQ_FAIL_INPUT, err, "The record is not valid JSON: %s", detail);
    }
    jq_start(q->jq, input, 0);
    jv out = jq_next(q->jq);
    int rc = 0;
    if (!jv_is_valid(out)) {
        if (jv_invalid_has_msg(jv_copy(out))) {
            jv msg = jv_invalid_get_msg(out);
            char detail[300];
            if (jv_get_kind(msg) == JV_KIND_STRING) {
                snprintf(detail, sizeof(detail), "%s", jv_string_value(msg));
            } else {
                jv dumped = jv_dump_string(msg, 0);
                snprintf(detail, sizeof(detail), "%s (not a string)", jv_string_value(dumped));
                jv_free(dumped);
                msg = jv_null();
            }
            jv_free(msg);
            rc = fail(res, JQ_FAIL_QUERY, err, "The MetadataExtractionQuery failed: %s", detail);
        } else {
            jv_free(out);
            rc = fail(res, JQ_FAIL_NO_OUTPUT, err, "%s",
                      "The MetadataExtractionQuery yielded no value.");
        }
        return rc;
    }
    if (jv_get_kind(out) != JV_KIND_OBJECT) {
        rc = fail(res, JQ_FAIL_NOT_OBJECT, err,
                  "The MetadataExtractionQuery yielded %s, "
                  "not an object.",
                  jv_kind_name(jv_get_kind(out)));
        jv_free(out);
        return rc;
    }
    rc = collect(out, res, err);
    jv_free(out);
    if (rc != 0) {
        enum jq_fail kind = res->fail;
        jq_result_fini(res);
        res->fail = kind;
    }
    return rc;
}
