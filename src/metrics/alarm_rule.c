/*
 * Composite alarms' AlarmRule: ALARM(x), OK(x), INSUFFICIENT_DATA(x), TRUE and FALSE,
 * joined by AND, OR and NOT, grouped with parentheses. NOT binds tightest, then AND,
 * then OR. An alarm is named by its name or its ARN, in double quotes or bare. The rule
 * is parsed into a small tree of nodes in one array; the distinct alarms it names are
 * kept beside it (as names: an ARN's last part).
 */
#include "metrics/metrics_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

#define RULE_ELEMENTS_MAX 500
#define RULE_CHILDREN_MAX 100
/* NOTs and parentheses nested: far more than any real rule, and few enough stack frames
   for a server thread's small stack, sanitizers' larger frames included. */
#define RULE_DEPTH_MAX 100

enum rule_op { R_TRUE, R_FALSE, R_STATE, R_NOT, R_AND, R_OR };

struct rule_node {
    enum rule_op op;
    int a, b;          /* operands (NOT: a) */
    size_t child;      /* R_STATE: index in children */
    const char *state; /* R_STATE: "ALARM", "OK" or "INSUFFICIENT_DATA" */
};

struct metrics_rule {
    struct rule_node *nodes;
    size_t n, cap;
    char **children;
    size_t n_children;
    int root;
    size_t elements;
};

struct parser {
    const char *s;
    size_t pos;
    struct metrics_rule *r;
    char *err;
    size_t err_size;
    int depth; /* NOTs and parentheses open around pos */
};

static int fail_token(struct parser *p)
{
    if (p->s[p->pos] == '\0') {
        snprintf(p->err, p->err_size, "Error in AlarmRule [Unexpected end of rule at char %zu]",
                 p->pos);
        return -1;
    }
    size_t len = 1;
    while (isalpha((unsigned char)p->s[p->pos]) && isalpha((unsigned char)p->s[p->pos + len])) {
        len++;
    }
    snprintf(p->err, p->err_size, "Error in AlarmRule [Unsupported token '%.*s' at char %zu]",
             (int)(len > 64 ? 64 : len), p->s + p->pos, p->pos);
    return -1;
}

static int fail_depth(struct parser *p)
{
    snprintf(p->err, p->err_size, "Error in AlarmRule [The rule nests more than %d levels]",
             RULE_DEPTH_MAX);
    return -1;
}

static void skip_ws(struct parser *p)
{
    while (isspace((unsigned char)p->s[p->pos])) {
        p->pos++;
    }
}

/* 1 when the word w is next (and not the start of a longer word): consumed. */
static int take_word(struct parser *p, const char *w)
{
    skip_ws(p);
    size_t n = strlen(w);
    const char *at = p->s + p->pos;
    if (strncmp(at, w, n) != 0 || isalnum((unsigned char)at[n]) || at[n] == '_') {
        return 0;
    }
    p->pos += n;
    return 1;
}

static int add_node(struct metrics_rule *r, struct rule_node node)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->nodes = xrealloc(r->nodes, r->cap * sizeof(*r->nodes));
    }
    r->nodes[r->n] = node;
    return (int)r->n++;
}

/* The name an alarm reference stands for: an ARN's part after ":alarm:". */
static size_t child_index(struct metrics_rule *r, const char *ref, size_t len)
{
    const char *colon = len > 4 && strncmp(ref, "arn:", 4) == 0 ? strstr(ref, ":alarm:") : NULL;
    if (colon != NULL && colon + 7 < ref + len) { /* an ARN naming no alarm stays whole */
        len -= (size_t)(colon + 7 - ref);
        ref = colon + 7;
    }
    for (size_t i = 0; i < r->n_children; i++) {
        if (strlen(r->children[i]) == len && memcmp(r->children[i], ref, len) == 0) {
            return i;
        }
    }
    r->children = xrealloc(r->children, (r->n_children + 1) * sizeof(*r->children));
    r->children[r->n_children] = xstrndup(ref, len);
    return r->n_children++;
}

static int parse_or(struct parser *p);

/* STATE ( name ) after the state's word. */
static int parse_function(struct parser *p, const char *state)
{
    skip_ws(p);
    if (p->s[p->pos] != '(') {
        return fail_token(p);
    }
    p->pos++;
    skip_ws(p);
    const char *name;
    size_t len;
    if (p->s[p->pos] == '"') {
        name = p->s + p->pos + 1;
        const char *end = strchr(name, '"');
        if (end == NULL) {
            return fail_token(p);
        }
        len = (size_t)(end - name);
        p->pos += len + 2;
        skip_ws(p);
    } else {
        name = p->s + p->pos;
        len = strcspn(name, ")");
        p->pos += len;
        while (len > 0 && isspace((unsigned char)name[len - 1])) {
            len--;
        }
    }
    if (len == 0 || p->s[p->pos] != ')') {
        return fail_token(p);
    }
    p->pos++;
    p->r->elements++;
    return add_node(
        p->r,
        (struct rule_node){.op = R_STATE, .child = child_index(p->r, name, len), .state = state});
}

static int parse_unary(struct parser *p)
{
    static const char *const fns[] = {"ALARM", "OK", "INSUFFICIENT_DATA"};
    if (take_word(p, "NOT")) {
        if (p->depth >= RULE_DEPTH_MAX) {
            return fail_depth(p);
        }
        p->depth++;
        int a = parse_unary(p);
        p->depth--;
        return a < 0 ? a : add_node(p->r, (struct rule_node){.op = R_NOT, .a = a});
    }
    int truth = take_word(p, "TRUE") ? 1 : take_word(p, "FALSE") ? 0 : -1;
    if (truth >= 0) {
        p->r->elements++;
        return add_node(p->r, (struct rule_node){.op = truth ? R_TRUE : R_FALSE});
    }
    for (size_t i = 0; i < 3; i++) {
        if (take_word(p, fns[i])) {
            return parse_function(p, fns[i]);
        }
    }
    skip_ws(p);
    if (p->s[p->pos] != '(') {
        return fail_token(p);
    }
    p->pos++;
    p->r->elements += 2; /* the two parentheses */
    if (p->depth >= RULE_DEPTH_MAX) {
        return fail_depth(p);
    }
    p->depth++;
    int e = parse_or(p);
    p->depth--;
    if (e < 0) {
        return e;
    }
    skip_ws(p);
    if (p->s[p->pos] != ')') {
        return fail_token(p);
    }
    p->pos++;
    return e;
}

static int parse_and(struct parser *p)
{
    int a = parse_unary(p);
    while (a >= 0 && take_word(p, "AND")) {
        int b = parse_unary(p);
        a = b < 0 ? b : add_node(p->r, (struct rule_node){.op = R_AND, .a = a, .b = b});
    }
    return a;
}

static int parse_or(struct parser *p)
{
    int a = parse_and(p);
    while (a >= 0 && take_word(p, "OR")) {
        int b = parse_and(p);
        a = b < 0 ? b : add_node(p->r, (struct rule_node){.op = R_OR, .a = a, .b = b});
    }
    return a;
}

int metrics_rule_parse(const char *text, struct metrics_rule **out, char *err, size_t err_size)
{
    struct metrics_rule *r = xcalloc(1, sizeof(*r));
    struct parser p = {.s = text, .r = r, .err = err, .err_size = err_size};
    r->root = parse_or(&p);
    if (r->root >= 0) {
        skip_ws(&p);
        if (text[p.pos] != '\0') {
            r->root = fail_token(&p);
        }
    }
    if (r->root >= 0 && r->elements > RULE_ELEMENTS_MAX) {
        snprintf(err, err_size, "Error in AlarmRule [The rule has %zu elements; at most %d]",
                 r->elements, RULE_ELEMENTS_MAX);
        r->root = -1;
    }
    if (r->root >= 0 && r->n_children > RULE_CHILDREN_MAX) {
        snprintf(err, err_size, "Error in AlarmRule [The rule names %zu alarms; at most %d]",
                 r->n_children, RULE_CHILDREN_MAX);
        r->root = -1;
    }
    if (r->root < 0) {
        metrics_rule_free(r);
        return -1;
    }
    *out = r;
    return 0;
}

size_t metrics_rule_children(const struct metrics_rule *r, const char *const **names)
{
    *names = (const char *const *)r->children;
    return r->n_children;
}

static int eval(const struct metrics_rule *r, int i, const char *const *states)
{
    const struct rule_node *nd = &r->nodes[i];
    switch (nd->op) {
    case R_TRUE: return 1;
    case R_FALSE: return 0;
    case R_STATE: return states[nd->child] != NULL && strcmp(states[nd->child], nd->state) == 0;
    case R_NOT: return !eval(r, nd->a, states);
    case R_AND: return eval(r, nd->a, states) && eval(r, nd->b, states);
    case R_OR: return eval(r, nd->a, states) || eval(r, nd->b, states);
    }
    return 0;
}

int metrics_rule_eval(const struct metrics_rule *r, const char *const *states)
{
    return eval(r, r->root, states);
}

void metrics_rule_free(struct metrics_rule *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; i < r->n_children; i++) {
        free(r->children[i]);
    }
    free(r->children);
    free(r->nodes);
    free(r);
}
