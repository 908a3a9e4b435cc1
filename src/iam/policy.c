/*
 * IAM policy compiler and evaluator (see policy.h for the wiring and the decision order).
 *
 * Compiled form. A document becomes an array of statements; every string the evaluator
 * matches (Action, Resource, condition values) becomes a pattern: a short array of tokens,
 * each a literal run, '*', '?' or a policy variable ${key} (Version 2012-10-17 only; in
 * 2008-10-17 documents "${...}" is plain text). ${*}, ${?} and ${$} are literal '*', '?',
 * '$'. Numbers, dates, CIDRs and Bool/Null values are parsed at compile time, so that a bad
 * value is a compile error and evaluation only parses the request's side.
 *
 * Everything a policy owns lives in one bump arena freed at once by iam_policy_free.
 *
 * Matching. Patterns match with the single-backtrack greedy algorithm (linear in practice,
 * no recursion). Actions compare case-insensitively, resources and String and Arn values
 * case-sensitively (StringEqualsIgnoreCase aside). Resource and Arn* patterns match ARN
 * component by component: a wildcard never spans the ':' between the first six
 * components. Variables resolve from the request's context keys; a variable with no value
 * makes its pattern match nothing.
 */
#include "iam/policy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"

/* ---- arena ---- */

struct chunk {
    struct chunk *next;
    size_t used, size;
    max_align_t data[];
};

struct arena {
    struct chunk *head;
    bool failed;
};

static void *arena_alloc(struct arena *a, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    if (a->head == NULL || a->head->size - a->head->used < n) {
        size_t size = n > 4096 ? n : 4096;
        struct chunk *c = try_malloc(sizeof(*c) + size);
        if (c == NULL) {
            a->failed = true;
            return NULL;
        }
        c->next = a->head;
        c->used = 0;
        c->size = size;
        a->head = c;
    }
    void *p = (char *)a->head->data + a->head->used;
    a->head->used += n;
    memset(p, 0, n);
    return p;
}

static char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static void arena_free(struct arena *a)
{
    for (struct chunk *c = a->head, *next; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    a->head = NULL;
}

/* ---- compiled form ---- */

enum tok_kind { TOK_LIT, TOK_STAR, TOK_QMARK, TOK_VAR };

struct tok {
    uint8_t kind;
    uint32_t len;     /* TOK_LIT: bytes of s */
    const char *s;    /* TOK_LIT: text; TOK_VAR: key name */
    const char *dflt; /* TOK_VAR: ${key, 'default'} value or NULL */
};

#define MAX_SPANS 64 /* pieces of one pattern */

/* A pattern ready to match: literal runs and wildcards, variables resolved. */
struct span {
    const char *s;
    uint32_t len;
    uint8_t kind; /* TOK_LIT, TOK_STAR, TOK_QMARK */
};

struct pat {
    struct tok *toks;
    struct span *spans; /* the same tokens as spans when there is no variable, else NULL */
    uint32_t n_toks;
    bool any; /* exactly "*": matches everything without looking */
};

/* X(symbol, name, negated): the condition operator families. */
#define COND_OPS(X)                                                                                \
    X(STR_EQ, "StringEquals", 0)                                                                   \
    X(STR_NE, "StringNotEquals", 1)                                                                \
    X(STR_EQ_IC, "StringEqualsIgnoreCase", 0)                                                      \
    X(STR_NE_IC, "StringNotEqualsIgnoreCase", 1)                                                   \
    X(STR_LIKE, "StringLike", 0)                                                                   \
    X(STR_NLIKE, "StringNotLike", 1)                                                               \
    X(NUM_EQ, "NumericEquals", 0)                                                                  \
    X(NUM_NE, "NumericNotEquals", 1)                                                               \
    X(NUM_LT, "NumericLessThan", 0)                                                                \
    X(NUM_LE, "NumericLessThanEquals", 0)                                                          \
    X(NUM_GT, "NumericGreaterThan", 0)                                                             \
    X(NUM_GE, "NumericGreaterThanEquals", 0)                                                       \
    X(DATE_EQ, "DateEquals", 0)                                                                    \
    X(DATE_NE, "DateNotEquals", 1)                                                                 \
    X(DATE_LT, "DateLessThan", 0)                                                                  \
    X(DATE_LE, "DateLessThanEquals", 0)                                                            \
    X(DATE_GT, "DateGreaterThan", 0)                                                               \
    X(DATE_GE, "DateGreaterThanEquals", 0)                                                         \
    X(BOOL, "Bool", 0)                                                                             \
    X(IP, "IpAddress", 0)                                                                          \
    X(NOT_IP, "NotIpAddress", 1)                                                                   \
    X(ARN_EQ, "ArnEquals", 0)                                                                      \
    X(ARN_LIKE, "ArnLike", 0)                                                                      \
    X(ARN_NE, "ArnNotEquals", 1)                                                                   \
    X(ARN_NLIKE, "ArnNotLike", 1)                                                                  \
    X(NULLK, "Null", 0)

#define OP_ENUM(sym, name, neg) OP_##sym,
enum cond_op { COND_OPS(OP_ENUM) N_OPS };
#define OP_NAME(sym, name, neg) name,
static const char *const op_names[] = {COND_OPS(OP_NAME)};
#define OP_NEG(sym, name, neg) neg,
static const bool op_negated[] = {COND_OPS(OP_NEG)};

enum set_qual { SET_NONE, SET_ANY, SET_ALL };

struct cval {
    struct pat pat; /* String*, Arn* */
    double num;     /* Numeric* */
    int64_t date_s; /* Date*: seconds since the epoch */
    bool flag;      /* Bool, Null */
    uint8_t ip[16]; /* IpAddress: network address */
    uint8_t family; /* 4 or 6 */
    uint8_t prefix; /* CIDR bits */
};

struct cond {
    uint8_t op;
    uint8_t set;
    bool if_exists;
    const char *key;
    struct cval *vals;
    uint32_t n_vals;
};

enum prin_kind { PRIN_ANY, PRIN_ACCOUNT, PRIN_ARN, PRIN_SERVICE };

struct prin {
    uint8_t kind;
    const char *s; /* account id, ARN or service name */
};

struct stmt {
    const char *sid;
    bool allow;
    bool not_action, not_resource, not_principal, has_principal;
    struct pat *actions;
    uint32_t n_actions;
    struct pat *resources; /* n_resources 0 and !not_resource: no Resource element */
    uint32_t n_resources;
    struct prin *prins;
    uint32_t n_prins;
    struct cond *conds;
    uint32_t n_conds;
};

struct iam_policy {
    struct arena arena;
    bool vars; /* Version 2012-10-17: policy variables on */
    struct stmt *stmts;
    size_t n_stmts;
};

size_t iam_policy_statement_count(const struct iam_policy *p)
{
    return p != NULL ? p->n_stmts : 0;
}

void iam_policy_free(struct iam_policy *p)
{
    if (p == NULL)
        return;
    struct arena a = p->arena; /* p itself lives in the arena */
    arena_free(&a);
}

/* ---- compiler ---- */

struct cc {
    struct iam_policy *p;
    struct iam_policy_error *err;
    int stmt_idx;
    enum iam_policy_kind kind;
};

__attribute__((format(printf, 2, 3))) static int fail(struct cc *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err->message, sizeof(c->err->message), fmt, ap);
    va_end(ap);
    c->err->statement_idx = c->stmt_idx;
    return -1;
}

static int oom(struct cc *c)
{
    fail(c, "Out of memory compiling the policy.");
    return -2;
}

/*
 * Compiles text into *out. wild: '*' and '?' are wildcards (else literal); vars: "${...}"
 * is a variable. Returns 0, -1 on a malformed variable, -2 on memory.
 */
static int pat_compile(struct cc *c, const char *s, bool wild, bool vars, struct pat *out)
{
    size_t len = strlen(s), max = len + 1;
    struct tok *t = arena_alloc(&c->p->arena, max * sizeof(*t));
    if (t == NULL)
        return oom(c);
    size_t n = 0, i = 0;
    out->any = wild && strcmp(s, "*") == 0;
    while (i < len) {
        if (wild && (s[i] == '*' || s[i] == '?')) {
            t[n++].kind = s[i] == '*' ? TOK_STAR : TOK_QMARK;
            i++;
            continue;
        }
        if (vars && s[i] == '$' && s[i + 1] == '{') {
            const char *end = strchr(s + i + 2, '}');
            if (end == NULL)
                return fail(c, "Policy variable is not closed: %.60s", s + i);
            const char *k = s + i + 2;
            size_t klen = (size_t)(end - k);
            if (klen == 1 && (*k == '*' || *k == '?' || *k == '$')) {
                t[n].kind = TOK_LIT;
                t[n].s = k;
                t[n++].len = 1;
            } else {
                const char *comma = memchr(k, ',', klen);
                size_t name_len = comma != NULL ? (size_t)(comma - k) : klen;
                while (name_len > 0 && k[name_len - 1] == ' ')
                    name_len--;
                if (name_len == 0)
                    return fail(c, "Empty policy variable in: %.60s", s);
                t[n].kind = TOK_VAR;
                t[n].s = arena_strndup(&c->p->arena, k, name_len);
                if (comma != NULL) {
                    const char *q1 = memchr(comma, '\'', (size_t)(end - comma));
                    const char *q2 =
                        q1 != NULL ? memchr(q1 + 1, '\'', (size_t)(end - q1 - 1)) : NULL;
                    if (q2 == NULL)
                        return fail(c, "Malformed policy variable default in: %.60s", s);
                    t[n].dflt = arena_strndup(&c->p->arena, q1 + 1, (size_t)(q2 - q1 - 1));
                }
                if (t[n].s == NULL || c->p->arena.failed)
                    return oom(c);
                n++;
            }
            i = (size_t)(end - s) + 1;
            continue;
        }
        size_t j = i + 1;
        while (j < len && !(wild && (s[j] == '*' || s[j] == '?')) &&
               !(vars && s[j] == '$' && s[j + 1] == '{'))
            j++;
        t[n].kind = TOK_LIT;
        t[n].s = s + i; /* s is arena-owned: see str_value */
        t[n++].len = (uint32_t)(j - i);
        i = j;
    }
    /* the matcher works on at most MAX_SPANS pieces: refuse rather than let a Deny whose
       pattern cannot be matched fail open */
    if (n > MAX_SPANS)
        return fail(c, "Pattern has more than %d wildcards and variables: %.40s", MAX_SPANS, s);
    out->toks = t;
    out->n_toks = (uint32_t)n;
    bool has_var = false;
    for (size_t k = 0; k < n; k++)
        has_var |= t[k].kind == TOK_VAR;
    if (!has_var) {
        out->spans = arena_alloc(&c->p->arena, (n ? n : 1) * sizeof(*out->spans));
        if (out->spans == NULL)
            return oom(c);
        for (size_t k = 0; k < n; k++)
            out->spans[k] = (struct span){t[k].s, t[k].len, t[k].kind};
    }
    return 0;
}

/* Calls fn for each string of a string-or-array element (numbers and bools as text, as
   AWS reads condition values). */
static int str_values(struct cc *c, const json_t *v, const char *what, bool scalars,
                      const char ***out, size_t *n_out)
{
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    if (json_is_array(v) && n == 0)
        return fail(c, "%s must not be an empty list.", what);
    const char **arr = arena_alloc(&c->p->arena, n * sizeof(*arr));
    if (arr == NULL)
        return oom(c);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
        char num[64];
        const char *s = NULL;
        if (json_is_string(e))
            s = json_string_value(e);
        else if (scalars && json_is_integer(e))
            snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(e)), s = num;
        else if (scalars && json_is_real(e))
            snprintf(num, sizeof(num), "%.17g", json_real_value(e)), s = num;
        else if (scalars && json_is_boolean(e))
            s = json_is_true(e) ? "true" : "false";
        if (s == NULL)
            return fail(c, "%s must be a string or a list of strings.", what);
        arr[i] = arena_strndup(&c->p->arena, s, strlen(s));
        if (arr[i] == NULL)
            return oom(c);
    }
    *out = arr;
    *n_out = n;
    return 0;
}

static int compile_actions(struct cc *c, struct stmt *st, const json_t *v)
{
    const char **strs;
    size_t n;
    int rc = str_values(c, v, "Action", false, &strs, &n);
    if (rc < 0)
        return rc;
    st->actions = arena_alloc(&c->p->arena, n * sizeof(*st->actions));
    if (st->actions == NULL)
        return oom(c);
    for (size_t i = 0; i < n; i++) {
        const char *colon = strchr(strs[i], ':');
        if (strcmp(strs[i], "*") != 0 && (colon == NULL || colon == strs[i] || colon[1] == '\0'))
            return fail(c,
                        "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, "
                        "etc.: %.60s",
                        strs[i]);
        if ((rc = pat_compile(c, strs[i], true, false, &st->actions[i])) < 0)
            return rc;
    }
    st->n_actions = (uint32_t)n;
    return 0;
}

static int compile_resources(struct cc *c, struct stmt *st, const json_t *v)
{
    const char **strs;
    size_t n;
    int rc = str_values(c, v, "Resource", false, &strs, &n);
    if (rc < 0)
        return rc;
    st->resources = arena_alloc(&c->p->arena, n * sizeof(*st->resources));
    if (st->resources == NULL)
        return oom(c);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(strs[i], "*") != 0 && strncmp(strs[i], "arn:", 4) != 0)
            return fail(c, "Resource %.60s must be in ARN format or \"*\".", strs[i]);
        if ((rc = pat_compile(c, strs[i], true, c->p->vars, &st->resources[i])) < 0)
            return rc;
    }
    st->n_resources = (uint32_t)n;
    return 0;
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return n > 0;
}

static int add_prins(struct cc *c, struct stmt *st, const json_t *v, enum prin_kind kind)
{
    const char **strs;
    size_t n;
    int rc = str_values(c, v, "Principal", false, &strs, &n);
    if (rc < 0)
        return rc;
    struct prin *p = arena_alloc(&c->p->arena, (st->n_prins + n) * sizeof(*p));
    if (p == NULL)
        return oom(c);
    if (st->n_prins > 0)
        memcpy(p, st->prins, st->n_prins * sizeof(*p));
    for (size_t i = 0; i < n; i++) {
        struct prin *e = &p[st->n_prins + i];
        const char *s = strs[i];
        e->s = s;
        e->kind = (uint8_t)kind;
        if (strcmp(s, "*") == 0) {
            e->kind = PRIN_ANY;
        } else if (kind == PRIN_ARN && all_digits(s, strlen(s)) && strlen(s) == 12) {
            e->kind = PRIN_ACCOUNT;
        } else if (kind == PRIN_ARN) {
            /* arn:aws:iam::123456789012:root names the account */
            size_t sl = strlen(s);
            if (strncmp(s, "arn:", 4) != 0)
                return fail(c, "Invalid principal in policy: \"AWS\":\"%.60s\"", s);
            const char *iam = strstr(s, ":iam::");
            const char *acct = iam != NULL ? iam + 6 : NULL;
            if (sl > 5 && strcmp(s + sl - 5, ":root") == 0 && acct != NULL && acct < s + sl - 5 &&
                all_digits(acct, (size_t)(s + sl - 5 - acct))) {
                e->kind = PRIN_ACCOUNT;
                e->s = arena_strndup(&c->p->arena, acct, (size_t)(s + sl - 5 - acct));
                if (e->s == NULL)
                    return oom(c);
            }
        }
    }
    st->prins = p;
    st->n_prins += (uint32_t)n;
    return 0;
}

static int compile_principal(struct cc *c, struct stmt *st, const json_t *v)
{
    st->has_principal = true;
    if (json_is_string(v)) {
        if (strcmp(json_string_value(v), "*") != 0)
            return fail(c, "Invalid principal in policy: %.60s", json_string_value(v));
        return add_prins(c, st, v, PRIN_ANY);
    }
    if (!json_is_object(v) || json_object_size(v) == 0)
        return fail(c, "Invalid principal in policy.");
    const char *k;
    json_t *e;
    json_object_foreach((json_t *)v, k, e)
    {
        int rc;
        if (strcmp(k, "AWS") == 0)
            rc = add_prins(c, st, e, PRIN_ARN);
        else if (strcmp(k, "Service") == 0)
            rc = add_prins(c, st, e, PRIN_SERVICE);
        else if (strcmp(k, "Federated") == 0 || strcmp(k, "CanonicalUser") == 0)
            rc = add_prins(c, st, e, PRIN_ARN);
        else
            rc = fail(c, "Invalid principal in policy: unknown principal type \"%.40s\".", k);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool num2(const char *s, int *out)
{
    if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]))
        return false;
    *out = (s[0] - '0') * 10 + (s[1] - '0');
    return true;
}

/* Parses an ISO 8601 date ("2026-01-31", "2026-01-31T12:00:00Z", fractions and offsets
   allowed) or epoch seconds into *out. Used on both sides, so allocates nothing. */
static bool parse_date(const char *s, int64_t *out)
{
    size_t n = strlen(s);
    if (all_digits(s, n) && n <= 12) {
        *out = strtoll(s, NULL, 10);
        return true;
    }
    int yh, yl, mo, d, h = 0, mi = 0, sec = 0;
    if (n < 10 || !num2(s, &yh) || !num2(s + 2, &yl) || s[4] != '-' || !num2(s + 5, &mo) ||
        s[7] != '-' || !num2(s + 8, &d) || mo < 1 || mo > 12 || d < 1 || d > 31)
        return false;
    const char *p = s + 10;
    int64_t off = 0;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        if (!num2(p + 1, &h) || p[3] != ':' || !num2(p + 4, &mi) || h > 23 || mi > 59)
            return false;
        p += 6;
        if (*p == ':') {
            if (!num2(p + 1, &sec) || sec > 60)
                return false;
            p += 3;
            if (*p == '.')
                for (p++; isdigit((unsigned char)*p); p++)
                    ;
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int oh, om;
            if (!num2(p + 1, &oh) || p[3] != ':' || !num2(p + 4, &om))
                return false;
            off = (oh * 3600 + om * 60) * (*p == '+' ? 1 : -1);
            p += 6;
        }
    }
    if (*p != '\0')
        return false;
    *out = days_from_civil(yh * 100 + yl, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
    return true;
}

static bool parse_num(const char *s, double *out)
{
    char *end;
    /* decimal only: strtod alone would also take hex, "inf" and "nan" */
    if (*s == '\0' || strspn(s, "0123456789+-.eE") != strlen(s))
        return false;
    *out = strtod(s, &end);
    return *end == '\0';
}

/* "10.0.0.0/8", "203.0.113.7" (a /32), "2001:db8::/32". */
static bool parse_cidr(const char *s, struct cval *v)
{
    char buf[64];
    size_t n = strlen(s);
    if (n >= sizeof(buf))
        return false;
    memcpy(buf, s, n + 1);
    char *slash = strchr(buf, '/');
    long bits = -1;
    if (slash != NULL) {
        *slash = '\0';
        char *end;
        if (!isdigit((unsigned char)slash[1]))
            return false;
        bits = strtol(slash + 1, &end, 10);
        if (*end != '\0')
            return false;
    }
    memset(v->ip, 0, sizeof(v->ip));
    if (inet_pton(AF_INET, buf, v->ip) == 1) {
        v->family = 4;
        if (bits < 0)
            bits = 32;
        if (bits > 32)
            return false;
    } else if (inet_pton(AF_INET6, buf, v->ip) == 1) {
        v->family = 6;
        if (bits < 0)
            bits = 128;
        if (bits > 128)
            return false;
    } else {
        return false;
    }
    v->prefix = (uint8_t)bits;
    return true;
}

static bool parse_bool(const char *s, bool *out)
{
    if (strcasecmp(s, "true") == 0)
        *out = true;
    else if (strcasecmp(s, "false") == 0)
        *out = false;
    else
        return false;
    return true;
}

static int compile_value(struct cc *c, struct cond *cd, const char *s, struct cval *v)
{
    switch (cd->op) {
    case OP_STR_EQ:
    case OP_STR_NE:
    case OP_STR_EQ_IC:
    case OP_STR_NE_IC: return pat_compile(c, s, false, c->p->vars, &v->pat);
    case OP_STR_LIKE:
    case OP_STR_NLIKE:
    case OP_ARN_EQ:
    case OP_ARN_LIKE:
    case OP_ARN_NE:
    case OP_ARN_NLIKE: return pat_compile(c, s, true, c->p->vars, &v->pat);
    case OP_NUM_EQ:
    case OP_NUM_NE:
    case OP_NUM_LT:
    case OP_NUM_LE:
    case OP_NUM_GT:
    case OP_NUM_GE:
        return parse_num(s, &v->num) ? 0
                                     : fail(c, "Invalid number in %s: %.60s", op_names[cd->op], s);
    case OP_DATE_EQ:
    case OP_DATE_NE:
    case OP_DATE_LT:
    case OP_DATE_LE:
    case OP_DATE_GT:
    case OP_DATE_GE:
        return parse_date(s, &v->date_s)
                   ? 0
                   : fail(c, "Invalid date in %s: %.60s", op_names[cd->op], s);
    case OP_BOOL:
    case OP_NULLK:
        return parse_bool(s, &v->flag) ? 0
                                       : fail(c, "Invalid %s value: %.60s (expected true or false)",
                                              op_names[cd->op], s);
    case OP_IP:
    case OP_NOT_IP:
        return parse_cidr(s, v)
                   ? 0
                   : fail(c, "Invalid IP address or CIDR in %s: %.60s", op_names[cd->op], s);
    }
    return fail(c, "Invalid Condition type.");
}

/* "ForAnyValue:StringLikeIfExists" -> op, set qualifier, IfExists. */
static int parse_op_name(struct cc *c, const char *name, struct cond *cd)
{
    const char *p = name;
    if (strncmp(p, "ForAnyValue:", 12) == 0)
        cd->set = SET_ANY, p += 12;
    else if (strncmp(p, "ForAllValues:", 13) == 0)
        cd->set = SET_ALL, p += 13;
    size_t n = strlen(p);
    if (n > 8 && strcmp(p + n - 8, "IfExists") == 0)
        cd->if_exists = true, n -= 8;
    for (int i = 0; i < N_OPS; i++) {
        if (strlen(op_names[i]) == n && strncmp(op_names[i], p, n) == 0) {
            cd->op = (uint8_t)i;
            if (i == OP_NULLK && (cd->if_exists || cd->set != SET_NONE))
                break;
            return 0;
        }
    }
    return fail(c, "Invalid Condition type : %.60s.", name);
}

static int compile_conditions(struct cc *c, struct stmt *st, const json_t *v)
{
    if (!json_is_object(v))
        return fail(c, "Condition must be an object.");
    size_t n = 0;
    const char *opname, *key;
    json_t *block, *vals;
    json_object_foreach((json_t *)v, opname, block)
    {
        if (!json_is_object(block) || json_object_size(block) == 0)
            return fail(c, "Condition block %.60s must be a non-empty object.", opname);
        n += json_object_size(block);
    }
    st->conds = arena_alloc(&c->p->arena, (n ? n : 1) * sizeof(*st->conds));
    if (st->conds == NULL)
        return oom(c);
    json_object_foreach((json_t *)v, opname, block)
    {
        json_object_foreach(block, key, vals)
        {
            struct cond *cd = &st->conds[st->n_conds];
            int rc = parse_op_name(c, opname, cd);
            if (rc < 0)
                return rc;
            if (strchr(key, ':') == NULL)
                return fail(c,
                            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, "
                            "ec2, etc.: %.60s",
                            key);
            cd->key = arena_strndup(&c->p->arena, key, strlen(key));
            const char **strs;
            size_t nv;
            if (cd->key == NULL)
                return oom(c);
            if ((rc = str_values(c, vals, "Condition value", true, &strs, &nv)) < 0)
                return rc;
            cd->vals = arena_alloc(&c->p->arena, nv * sizeof(*cd->vals));
            if (cd->vals == NULL)
                return oom(c);
            for (size_t i = 0; i < nv; i++)
                if ((rc = compile_value(c, cd, strs[i], &cd->vals[i])) < 0)
                    return rc;
            cd->n_vals = (uint32_t)nv;
            st->n_conds++;
        }
    }
    return 0;
}

static int compile_statement(struct cc *c, const json_t *js, struct stmt *st)
{
    if (!json_is_object(js))
        return fail(c, "Statement must be an object.");
    const json_t *effect = NULL, *action = NULL, *resource = NULL, *principal = NULL,
                 *condition = NULL;
    const char *k;
    json_t *v;
    int rc;
    json_object_foreach((json_t *)js, k, v)
    {
        if (strcmp(k, "Sid") == 0) {
            if (!json_is_string(v))
                return fail(c, "Sid must be a string.");
            if ((st->sid = arena_strndup(&c->p->arena, json_string_value(v),
                                         strlen(json_string_value(v)))) == NULL)
                return oom(c);
        } else if (strcmp(k, "Effect") == 0) {
            effect = v;
        } else if (strcmp(k, "Action") == 0 || strcmp(k, "NotAction") == 0) {
            if (action != NULL)
                return fail(c, "Statement must not have both Action and NotAction.");
            action = v;
            st->not_action = k[0] == 'N';
        } else if (strcmp(k, "Resource") == 0 || strcmp(k, "NotResource") == 0) {
            if (resource != NULL)
                return fail(c, "Statement must not have both Resource and NotResource.");
            resource = v;
            st->not_resource = k[0] == 'N';
        } else if (strcmp(k, "Principal") == 0 || strcmp(k, "NotPrincipal") == 0) {
            if (principal != NULL)
                return fail(c, "Statement must not have both Principal and NotPrincipal.");
            principal = v;
            st->not_principal = k[0] == 'N';
        } else if (strcmp(k, "Condition") == 0) {
            condition = v;
        } else {
            return fail(c, "Statement has an unknown element: %.40s", k);
        }
    }
    if (effect == NULL)
        return fail(c, "Missing required field Effect.");
    if (!json_is_string(effect) || (strcmp(json_string_value(effect), "Allow") != 0 &&
                                    strcmp(json_string_value(effect), "Deny") != 0))
        return fail(c, "Invalid effect: %.40s",
                    json_is_string(effect) ? json_string_value(effect) : "(not a string)");
    st->allow = strcmp(json_string_value(effect), "Allow") == 0;
    if (action == NULL)
        return fail(c, "Policy statement must contain actions.");
    if ((rc = compile_actions(c, st, action)) < 0)
        return rc;
    if (resource != NULL && (rc = compile_resources(c, st, resource)) < 0)
        return rc;
    if (c->kind == IAM_POLICY_IDENTITY) {
        if (principal != NULL)
            return fail(c, "Policy document should not specify a principal.");
        if (resource == NULL)
            return fail(c, "Policy statement must contain resources.");
    } else {
        if (principal == NULL)
            return fail(c, "Statement is missing required element Principal.");
        if ((rc = compile_principal(c, st, principal)) < 0)
            return rc;
    }
    if (condition != NULL && (rc = compile_conditions(c, st, condition)) < 0)
        return rc;
    return 0;
}

static int compile_doc(struct cc *c, const json_t *doc)
{
    if (!json_is_object(doc))
        return fail(c, "Syntax errors in policy: the document must be a JSON object.");
    const json_t *version = json_object_get(doc, "Version"),
                 *stmts = json_object_get(doc, "Statement");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)doc, k, v)
    {
        if (strcmp(k, "Version") != 0 && strcmp(k, "Statement") != 0 && strcmp(k, "Id") != 0)
            return fail(c, "Syntax errors in policy: unknown element %.40s.", k);
    }
    if (version != NULL) {
        const char *vs = json_is_string(version) ? json_string_value(version) : "";
        if (strcmp(vs, "2012-10-17") == 0)
            c->p->vars = true;
        else if (strcmp(vs, "2008-10-17") != 0)
            return fail(c, "The policy must contain a valid version string");
    }
    if (stmts == NULL)
        return fail(c, "Syntax errors in policy: missing Statement.");
    size_t n = json_is_array(stmts) ? json_array_size(stmts) : 1;
    if (json_is_array(stmts) && n == 0)
        return fail(c, "Syntax errors in policy: Statement must not be empty.");
    c->p->stmts = arena_alloc(&c->p->arena, n * sizeof(*c->p->stmts));
    if (c->p->stmts == NULL)
        return oom(c);
    for (size_t i = 0; i < n; i++) {
        c->stmt_idx = (int)i;
        int rc = compile_statement(c, json_is_array(stmts) ? json_array_get(stmts, i) : stmts,
                                   &c->p->stmts[i]);
        if (rc < 0)
            return rc;
    }
    c->stmt_idx = -1;
    c->p->n_stmts = n;
    return c->p->arena.failed ? oom(c) : 0;
}

int iam_policy_compile(const char *json, size_t len, enum iam_policy_kind kind,
                       struct iam_policy **out, struct iam_policy_error *err)
{
    *out = NULL;
    err->statement_idx = -1;
    err->message[0] = '\0';
    struct arena a = {0};
    struct iam_policy *p = arena_alloc(&a, sizeof(*p));
    if (p == NULL) {
        snprintf(err->message, sizeof(err->message), "Out of memory compiling the policy.");
        return -2;
    }
    struct cc c = {.p = p, .err = err, .stmt_idx = -1, .kind = kind};
    p->arena = a;
    json_error_t jerr;
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    int rc;
    if (doc == NULL)
        rc = fail(&c, "Syntax errors in policy: %.120s (line %d, column %d).", jerr.text, jerr.line,
                  jerr.column);
    else
        rc = compile_doc(&c, doc);
    json_decref(doc);
    if (rc < 0) {
        iam_policy_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

/* ---- matching ---- */

static const struct iam_context_key *ctx_key(const struct iam_request_ctx *ctx, const char *key)
{
    for (size_t i = 0; i < ctx->n_keys; i++)
        if (strcasecmp(ctx->keys[i].key, key) == 0)
            return &ctx->keys[i];
    return NULL;
}

/* Resolves a pattern's variables into spans. Returns the span count, -1 when a variable
   has no value (the pattern then matches nothing) or the pattern is too long. */
static int resolve(const struct pat *p, const struct iam_request_ctx *ctx, struct span *sp)
{
    if (p->n_toks > MAX_SPANS)
        return -1;
    for (uint32_t i = 0; i < p->n_toks; i++) {
        const struct tok *t = &p->toks[i];
        sp[i].kind = t->kind == TOK_VAR ? TOK_LIT : t->kind;
        sp[i].s = t->s;
        sp[i].len = t->len;
        if (t->kind == TOK_VAR) {
            const struct iam_context_key *k = ctx_key(ctx, t->s);
            const char *val = k != NULL && k->n_values > 0 ? k->values[0] : t->dflt;
            if (val == NULL)
                return -1;
            sp[i].s = val;
            sp[i].len = (uint32_t)strlen(val);
        }
    }
    return (int)p->n_toks;
}

static inline char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

static inline bool ceq(char a, char b, bool ci)
{
    return a == b || (ci && lower(a) == lower(b));
}

/* Glob match of spans against s[0..slen): '*' any run, '?' one character. */
static bool glob(const struct span *sp, size_t n, const char *s, size_t slen, bool ci)
{
    size_t ti = 0, off = 0, si = 0;
    size_t star_ti = SIZE_MAX, star_si = 0;
    while (si < slen) {
        while (ti < n && sp[ti].kind == TOK_LIT && off == sp[ti].len)
            ti++, off = 0;
        if (ti < n) {
            if (sp[ti].kind == TOK_STAR) {
                star_ti = ++ti;
                off = 0;
                star_si = si;
                continue;
            }
            if (sp[ti].kind == TOK_QMARK) {
                ti++;
                si++;
                continue;
            }
            if (ceq(sp[ti].s[off], s[si], ci)) {
                off++;
                si++;
                continue;
            }
        }
        if (star_ti == SIZE_MAX)
            return false;
        ti = star_ti;
        off = 0;
        si = ++star_si;
    }
    for (; ti < n; ti++, off = 0)
        if (!(sp[ti].kind == TOK_STAR || (sp[ti].kind == TOK_LIT && off == sp[ti].len)))
            return false;
    return true;
}

/*
 * ARN matching: the first five ':' split both sides into six components matched
 * separately. Spans are cut at ':' in literal text; a pattern with fewer components than
 * the value (or the other way round) does not match.
 */
static bool glob_arn(const struct span *sp, size_t n, const char *s, size_t slen)
{
    struct span cut[MAX_SPANS * 2];
    size_t nc = 0, comp_start[6] = {0}, n_comp = 1;
    for (size_t i = 0; i < n; i++) {
        struct span x = sp[i];
        while (x.kind == TOK_LIT && n_comp < 6) {
            const char *colon = memchr(x.s, ':', x.len);
            if (colon == NULL)
                break;
            if (nc >= MAX_SPANS * 2)
                return false;
            cut[nc++] = (struct span){x.s, (uint32_t)(colon - x.s), TOK_LIT};
            comp_start[n_comp++] = nc;
            x.len -= (uint32_t)(colon - x.s) + 1;
            x.s = colon + 1;
        }
        if (nc >= MAX_SPANS * 2)
            return false;
        cut[nc++] = x;
    }
    size_t pos = 0;
    for (size_t k = 0; k < n_comp; k++) {
        const char *end = k + 1 < n_comp ? memchr(s + pos, ':', slen - pos) : NULL;
        if (k + 1 < n_comp && end == NULL)
            return false;
        size_t clen = end != NULL ? (size_t)(end - (s + pos)) : slen - pos;
        /* a pattern of fewer than six components leaves no ':' for its last one */
        if (end == NULL && n_comp < 6 && memchr(s + pos, ':', clen) != NULL)
            return false;
        size_t from = comp_start[k], to = k + 1 < n_comp ? comp_start[k + 1] : nc;
        if (!glob(cut + from, to - from, s + pos, clen, false))
            return false;
        pos += clen + 1;
    }
    return true;
}

enum match_mode { M_EXACT, M_EXACT_CI, M_GLOB, M_GLOB_CI, M_ARN };

static bool pat_match(const struct pat *p, const struct iam_request_ctx *ctx, const char *s,
                      enum match_mode mode)
{
    if (p->any)
        return true;
    struct span buf[MAX_SPANS];
    const struct span *sp = p->spans;
    int n = (int)p->n_toks;
    if (sp == NULL && (n = resolve(p, ctx, buf)) < 0)
        return false;
    if (sp == NULL)
        sp = buf;
    size_t slen = strlen(s);
    switch (mode) {
    case M_ARN:
        if (n == 1 && sp[0].kind == TOK_LIT)
            return sp[0].len == slen && memcmp(sp[0].s, s, slen) == 0;
        return glob_arn(sp, (size_t)n, s, slen);
    case M_GLOB:
    case M_GLOB_CI:
    case M_EXACT:
    case M_EXACT_CI:
        /* exact patterns hold literal spans only, which glob matches exactly */
        return glob(sp, (size_t)n, s, slen, mode == M_GLOB_CI || mode == M_EXACT_CI);
    }
    return false;
}

/* ---- conditions ---- */

static bool ip_in(const struct cval *v, const char *s)
{
    uint8_t addr[16] = {0};
    int fam = strchr(s, ':') != NULL ? 6 : 4;
    if (fam != v->family || inet_pton(fam == 4 ? AF_INET : AF_INET6, s, addr) != 1)
        return false;
    unsigned bits = v->prefix;
    for (unsigned i = 0; bits > 0; i++, bits = bits > 8 ? bits - 8 : 0) {
        uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));
        if ((addr[i] & mask) != (v->ip[i] & mask))
            return false;
    }
    return true;
}

/* Whether one request value matches one policy value under the positive form of op. */
static bool value_match(const struct cond *cd, const struct cval *v, const char *s,
                        const struct iam_request_ctx *ctx)
{
    double x;
    int64_t t;
    bool b;
    switch (cd->op) {
    case OP_STR_EQ:
    case OP_STR_NE: return pat_match(&v->pat, ctx, s, M_EXACT);
    case OP_STR_EQ_IC:
    case OP_STR_NE_IC: return pat_match(&v->pat, ctx, s, M_EXACT_CI);
    case OP_STR_LIKE:
    case OP_STR_NLIKE: return pat_match(&v->pat, ctx, s, M_GLOB);
    case OP_ARN_EQ:
    case OP_ARN_LIKE:
    case OP_ARN_NE:
    case OP_ARN_NLIKE: return strncmp(s, "arn:", 4) == 0 && pat_match(&v->pat, ctx, s, M_ARN);
    case OP_NUM_EQ:
    case OP_NUM_NE: return parse_num(s, &x) && x == v->num;
    case OP_NUM_LT: return parse_num(s, &x) && x < v->num;
    case OP_NUM_LE: return parse_num(s, &x) && x <= v->num;
    case OP_NUM_GT: return parse_num(s, &x) && x > v->num;
    case OP_NUM_GE: return parse_num(s, &x) && x >= v->num;
    case OP_DATE_EQ:
    case OP_DATE_NE: return parse_date(s, &t) && t == v->date_s;
    case OP_DATE_LT: return parse_date(s, &t) && t < v->date_s;
    case OP_DATE_LE: return parse_date(s, &t) && t <= v->date_s;
    case OP_DATE_GT: return parse_date(s, &t) && t > v->date_s;
    case OP_DATE_GE: return parse_date(s, &t) && t >= v->date_s;
    case OP_BOOL: return parse_bool(s, &b) && b == v->flag;
    case OP_IP:
    case OP_NOT_IP: return ip_in(v, s);
    }
    return false;
}

/* One request value against the policy values: ORed; negated operators match when no
   value does. */
static bool one_value(const struct cond *cd, const char *s, const struct iam_request_ctx *ctx)
{
    bool any = false;
    for (uint32_t i = 0; i < cd->n_vals && !any; i++)
        any = value_match(cd, &cd->vals[i], s, ctx);
    return op_negated[cd->op] ? !any : any;
}

/*
 * A condition: a missing key passes only with IfExists, ForAllValues (the empty set) or a
 * negated operator (AWS: "the condition can return true"); Null tests presence. A key with
 * several values: ForAllValues needs each to match, ForAnyValue and the plain form one.
 */
static bool cond_holds(const struct cond *cd, const struct iam_request_ctx *ctx)
{
    const struct iam_context_key *k = ctx_key(ctx, cd->key);
    bool present = k != NULL && k->n_values > 0;
    if (cd->op == OP_NULLK) {
        for (uint32_t i = 0; i < cd->n_vals; i++)
            if (cd->vals[i].flag == !present)
                return true;
        return false;
    }
    if (!present) {
        if (cd->if_exists || cd->set == SET_ALL)
            return true;
        if (cd->set == SET_ANY)
            return false;
        return op_negated[cd->op];
    }
    if (cd->set == SET_ALL) {
        for (size_t i = 0; i < k->n_values; i++)
            if (!one_value(cd, k->values[i], ctx))
                return false;
        return true;
    }
    for (size_t i = 0; i < k->n_values; i++)
        if (one_value(cd, k->values[i], ctx))
            return true;
    return false;
}

/* ---- statements ---- */

/*
 * How a resource policy's Principal names the caller, weakest first: its account only
 * (delegates to the account's identity-based policies), broadly ("*", NotPrincipal, or
 * the role of an assumed-role session: allows on its own in the same account, but session
 * policies and boundaries still limit it), or exactly (the caller's own user or session
 * ARN, or the service itself: not limited by them).
 */
enum prin_match { PM_NONE, PM_ACCOUNT, PM_BROAD, PM_SPECIFIC };

static enum prin_match prin_match(const struct stmt *st, const struct iam_request_ctx *ctx)
{
    enum prin_match best = PM_NONE;
    for (uint32_t i = 0; i < st->n_prins; i++) {
        const struct prin *p = &st->prins[i];
        enum prin_match m = PM_NONE;
        switch (p->kind) {
        case PRIN_ANY: m = PM_BROAD; break;
        case PRIN_ACCOUNT:
            if (ctx->principal_account != NULL && strcmp(p->s, ctx->principal_account) == 0)
                m = PM_ACCOUNT;
            break;
        case PRIN_ARN:
            if (ctx->principal_arn != NULL && strcmp(p->s, ctx->principal_arn) == 0)
                m = PM_SPECIFIC;
            else if (ctx->principal_role_arn != NULL && strcmp(p->s, ctx->principal_role_arn) == 0)
                m = PM_BROAD;
            break;
        case PRIN_SERVICE:
            if (ctx->principal_service != NULL && strcmp(p->s, ctx->principal_service) == 0)
                m = PM_SPECIFIC;
            break;
        }
        if (m > best)
            best = m;
    }
    if (st->not_principal)
        return best == PM_NONE ? PM_BROAD : PM_NONE;
    return best;
}

/* Whether a statement applies to (action, resource); conditions included. */
static bool stmt_applies(const struct stmt *st, const struct iam_request_ctx *ctx,
                         const char *resource)
{
    bool hit = false;
    for (uint32_t i = 0; i < st->n_actions && !hit; i++)
        hit = pat_match(&st->actions[i], ctx, ctx->action, M_GLOB_CI);
    if (hit == st->not_action)
        return false;
    if (st->n_resources > 0) {
        hit = false;
        for (uint32_t i = 0; i < st->n_resources && !hit; i++)
            hit = pat_match(&st->resources[i], ctx, resource, M_ARN);
        if (hit == st->not_resource)
            return false;
    }
    for (uint32_t i = 0; i < st->n_conds; i++)
        if (!cond_holds(&st->conds[i], ctx))
            return false;
    return true;
}

struct verdict {
    int deny_stmt, allow_stmt; /* -1: none */
    size_t deny_policy, allow_policy;
    enum prin_match allow_prin;
};

static void scan(const struct iam_policy *p, size_t idx, const struct iam_request_ctx *ctx,
                 const char *resource, bool resource_policy, struct verdict *v)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n_stmts && v->deny_stmt < 0; i++) {
        const struct stmt *st = &p->stmts[i];
        enum prin_match pm = PM_SPECIFIC;
        if (resource_policy && (pm = prin_match(st, ctx)) == PM_NONE)
            continue;
        if (st->allow && v->allow_stmt >= 0 && pm <= v->allow_prin)
            continue; /* already allowed at least as strongly: skip its conditions */
        if (!stmt_applies(st, ctx, resource))
            continue;
        if (!st->allow) {
            v->deny_stmt = (int)i;
            v->deny_policy = idx;
        } else {
            v->allow_stmt = (int)i;
            v->allow_policy = idx;
            v->allow_prin = pm;
        }
    }
}

static void scan_all(const struct iam_policy *const *ps, size_t n,
                     const struct iam_request_ctx *ctx, const char *resource, struct verdict *v)
{
    for (size_t i = 0; i < n && v->deny_stmt < 0; i++)
        scan(ps[i], i, ctx, resource, false, v);
}

static const char *sid_of(const struct iam_policy *p, int stmt)
{
    return p != NULL && stmt >= 0 ? p->stmts[stmt].sid : NULL;
}

static enum iam_decision set(struct iam_eval_result *res, enum iam_decision d,
                             enum iam_policy_source src, const struct iam_policy *p, size_t pidx,
                             int stmt)
{
    res->decision = d;
    res->source = src;
    res->policy_idx = pidx;
    res->statement_idx = stmt;
    res->sid = sid_of(p, stmt);
    return d;
}

static enum iam_decision decide_one(const struct iam_request_ctx *ctx, const char *resource,
                                    const struct iam_policy *const *identity, size_t n_identity,
                                    const struct iam_policy *resource_policy,
                                    const struct iam_policy *const *session, size_t n_session,
                                    const struct iam_policy *const *boundaries, size_t n_boundaries,
                                    struct iam_eval_result *res)
{
    struct verdict id = {-1, -1, 0, 0, PM_NONE}, rp = id, ss = id, bd = id;
    scan_all(identity, n_identity, ctx, resource, &id);
    if (id.deny_stmt >= 0)
        return set(res, IAM_EXPLICIT_DENY, IAM_SRC_IDENTITY, identity[id.deny_policy],
                   id.deny_policy, id.deny_stmt);
    scan(resource_policy, 0, ctx, resource, true, &rp);
    if (rp.deny_stmt >= 0)
        return set(res, IAM_EXPLICIT_DENY, IAM_SRC_RESOURCE, resource_policy, 0, rp.deny_stmt);
    scan_all(session, n_session, ctx, resource, &ss);
    if (ss.deny_stmt >= 0)
        return set(res, IAM_EXPLICIT_DENY, IAM_SRC_SESSION, session[ss.deny_policy], ss.deny_policy,
                   ss.deny_stmt);
    /* each boundary must allow on its own: scan them one by one */
    for (size_t i = 0; i < n_boundaries; i++) {
        struct verdict b = {-1, -1, 0, 0, PM_NONE};
        scan(boundaries[i], i, ctx, resource, false, &b);
        if (b.deny_stmt >= 0)
            return set(res, IAM_EXPLICIT_DENY, IAM_SRC_BOUNDARY, boundaries[i], i, b.deny_stmt);
        if (b.allow_stmt < 0 && bd.deny_stmt < 0) {
            bd.deny_stmt = -2; /* remembered: boundary i allows nothing here */
            bd.deny_policy = i;
        }
    }
    bool cross = ctx->resource_account != NULL && ctx->principal_account != NULL &&
                 strcmp(ctx->resource_account, ctx->principal_account) != 0;
    if (cross) {
        if (id.allow_stmt < 0)
            return set(res, IAM_IMPLICIT_DENY, IAM_SRC_IDENTITY, NULL, 0, -1);
        if (rp.allow_stmt < 0)
            return set(res, IAM_IMPLICIT_DENY, IAM_SRC_RESOURCE, NULL, 0, -1);
    } else if (rp.allow_stmt >= 0 && rp.allow_prin == PM_SPECIFIC) {
        /* a grant to the caller itself is not limited by boundaries or session policies */
        return set(res, IAM_ALLOW, IAM_SRC_RESOURCE, resource_policy, 0, rp.allow_stmt);
    } else if (id.allow_stmt < 0 && !(rp.allow_stmt >= 0 && rp.allow_prin >= PM_BROAD)) {
        return set(res, IAM_IMPLICIT_DENY, IAM_SRC_IDENTITY, NULL, 0, -1);
    }
    if (bd.deny_stmt == -2)
        return set(res, IAM_IMPLICIT_DENY, IAM_SRC_BOUNDARY, NULL, bd.deny_policy, -1);
    if (n_session > 0 && ss.allow_stmt < 0)
        return set(res, IAM_IMPLICIT_DENY, IAM_SRC_SESSION, NULL, 0, -1);
    if (id.allow_stmt < 0)
        return set(res, IAM_ALLOW, IAM_SRC_RESOURCE, resource_policy, 0, rp.allow_stmt);
    return set(res, IAM_ALLOW, IAM_SRC_IDENTITY, identity[id.allow_policy], id.allow_policy,
               id.allow_stmt);
}

enum iam_decision iam_evaluate(const struct iam_request_ctx *ctx,
                               const struct iam_policy *const *identity, size_t n_identity,
                               const struct iam_policy *resource_policy,
                               const struct iam_policy *const *session, size_t n_session,
                               const struct iam_policy *const *boundaries, size_t n_boundaries,
                               struct iam_eval_result *res)
{
    memset(res, 0, sizeof(*res));
    res->statement_idx = -1;
    for (size_t r = 0; r < ctx->n_resources; r++) {
        res->resource_idx = r;
        if (decide_one(ctx, ctx->resources[r], identity, n_identity, resource_policy, session,
                       n_session, boundaries, n_boundaries, res) != IAM_ALLOW)
            return res->decision;
    }
    if (ctx->n_resources == 0)
        return set(res, IAM_IMPLICIT_DENY, IAM_SRC_IDENTITY, NULL, 0, -1);
    return res->decision;
}

int iam_policy_admits(const struct iam_policy *p, const struct iam_request_ctx *ctx)
{
    for (size_t r = 0; r < ctx->n_resources; r++) {
        struct verdict v = {-1, -1, 0, 0, PM_NONE};
        scan(p, 0, ctx, ctx->resources[r], true, &v);
        if (v.allow_stmt < 0)
            return 0;
    }
    return ctx->n_resources > 0;
}

const char *iam_result_reason(const struct iam_eval_result *res, const char *action, char *buf,
                              size_t size)
{
    static const char *const kinds[] = {"", "an identity-based policy", "a resource-based policy",
                                        "a session policy", "a permissions boundary"};
    static const char *const nos[] = {"", "identity-based policy", "resource-based policy",
                                      "session policy", "permissions boundary"};
    if (res->decision == IAM_EXPLICIT_DENY)
        snprintf(buf, size, "with an explicit deny in %s", kinds[res->source]);
    else if (res->decision == IAM_IMPLICIT_DENY)
        snprintf(buf, size, "because no %s allows the %s action", nos[res->source], action);
    else if (size > 0)
        buf[0] = '\0';
    return buf;
}
