/*
 * The policy engine wired into the authorization hook (iam.h's iam_authorize): a
 * non-root caller's request becomes its IAM action and resources (actions.h), its
 * identity policies are compiled once and cached, and policy.h evaluates them.
 *
 * The cache holds one entry per principal (a user's ARN, or a session's access key, as
 * a session adds its own policy to its role's) with every policy that applies to it,
 * compiled. Every IAM write bumps iam__generation; an entry built at an older
 * generation is rebuilt on its next use, so a changed policy decides the next call.
 *
 * The resource's own policy (an S3 bucket policy, a Kinesis stream or consumer policy)
 * is read from the store on each call and compiled again only when its text changed.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/text.h"
#include "iam/actions.h"
#include "iam/iam_int.h"
#include "iam/policy.h"
#include "kms/kms.h"

static _Atomic uint64_t generation = 1;

void iam__policies_changed(void)
{
    atomic_fetch_add(&generation, 1);
}

uint64_t iam__generation(void)
{
    return atomic_load(&generation);
}

struct authz_entry {
    char key[320];
    uint64_t gen;
    struct iam_policy **identity;
    size_t n_identity;
    struct iam_policy *session;  /* NULL: none */
    struct iam_policy *boundary; /* the user's or role's permissions boundary, or NULL */
    char role_arn[320];          /* sessions: their role's ARN */
    /* the user's or role's tags as aws:PrincipalTag/<key> context keys */
    size_t n_tags;
    char **tag_keys;
    const char **tag_values;
    struct authz_entry *next;
};

#define AUTHZ_BUCKETS 256

/* A resource's policy compiled, with the text it was compiled from: the text is read
   on each call (the services own it) and compiled again only when it changed. */
struct rp_entry {
    char *key;
    char *doc;
    struct iam_policy *p; /* NULL when the document does not compile */
    struct rp_entry *next;
};

/* A resource policy as last read from the store (resource_policy). */
struct rp_seen {
    char *key; /* bucket or ARN; NULL when empty */
    int s3;
    char *doc; /* NULL: none */
    uint64_t writes;
};

struct iam_authz {
    pthread_mutex_t seen_lock;
    struct rp_seen seen[AUTHZ_BUCKETS];
    pthread_rwlock_t lock;
    struct authz_entry *buckets[AUTHZ_BUCKETS];
    size_t n_entries;
    struct rp_entry *rp[AUTHZ_BUCKETS];
    size_t n_rp;
};

static size_t hash_of(const char *s)
{
    size_t h = 5381;
    for (; *s; s++) {
        h = h * 33 + (unsigned char)*s;
    }
    return h % AUTHZ_BUCKETS;
}

static void entry_free(struct authz_entry *e)
{
    for (size_t i = 0; i < e->n_identity; i++) {
        iam_policy_free(e->identity[i]);
    }
    free(e->identity);
    iam_policy_free(e->session);
    iam_policy_free(e->boundary);
    for (size_t i = 0; i < e->n_tags; i++) {
        free(e->tag_keys[i]);
        free((char *)e->tag_values[i]);
    }
    free(e->tag_keys);
    free(e->tag_values);
    free(e);
}

/* Sessions come and go: past this many principals the cache starts again. */
#define AUTHZ_MAX_ENTRIES 4096

/* Frees every entry; the write lock is held (or no other thread has a). */
static void drop_all(struct iam_authz *a)
{
    for (size_t b = 0; b < AUTHZ_BUCKETS; b++) {
        while (a->buckets[b] != NULL) {
            struct authz_entry *e = a->buckets[b];
            a->buckets[b] = e->next;
            entry_free(e);
        }
    }
    a->n_entries = 0;
    for (size_t b = 0; b < AUTHZ_BUCKETS; b++) {
        while (a->rp[b] != NULL) {
            struct rp_entry *e = a->rp[b];
            a->rp[b] = e->next;
            free(e->key);
            free(e->doc);
            iam_policy_free(e->p);
            free(e);
        }
    }
    a->n_rp = 0;
}

struct iam_authz *iam__authz_new(void)
{
    struct iam_authz *a = xcalloc(1, sizeof(*a));
    pthread_rwlock_init(&a->lock, NULL);
    pthread_mutex_init(&a->seen_lock, NULL);
    return a;
}

void iam__authz_free(struct iam_authz *a)
{
    if (a == NULL) {
        return;
    }
    drop_all(a);
    for (size_t i = 0; i < AUTHZ_BUCKETS; i++) {
        free(a->seen[i].key);
        free(a->seen[i].doc);
    }
    pthread_mutex_destroy(&a->seen_lock);
    pthread_rwlock_destroy(&a->lock);
    free(a);
}

size_t iam__authz_size(struct iam_authz *a)
{
    pthread_rwlock_rdlock(&a->lock);
    size_t n = a->n_entries;
    pthread_rwlock_unlock(&a->lock);
    return n;
}

/* Compiles doc and appends it to e's identity policies; a stored document that no
   longer compiles is skipped (it allows nothing). */
static void add_identity(struct authz_entry *e, const char *doc)
{
    struct iam_policy *p = NULL;
    struct iam_policy_error perr;
    if (iam_policy_compile(doc, strlen(doc), IAM_POLICY_IDENTITY, &p, &perr) != 0) {
        return;
    }
    e->identity = xrealloc(e->identity, (e->n_identity + 1) * sizeof(*e->identity));
    e->identity[e->n_identity++] = p;
}

static void add_docs(struct iam *iam, struct authz_entry *e, const char *sql, const char *name)
{
    struct store_stmt *q = store_prepare_args(iam->st, sql, "s", name);
    while (q != NULL && store_step(q) == 1) {
        add_identity(e, store_col_text(q, 0));
    }
    store_finalize(q);
}

#define ATTACHED(kind)                                                                             \
    "SELECT v.doc FROM iam_attach a JOIN iam_policy p ON p.arn = a.arn"                            \
    " JOIN iam_policy_version v ON v.arn = p.arn AND v.version = p.default_version"                \
    " WHERE a.kind = '" kind "' AND a.owner = ?"

/* A policy that compiles and allows nothing (an empty Statement does not compile): what a
   boundary or session policy that is gone or unreadable stands for. */
static const char allows_nothing[] = "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":"
                                     "\"Allow\",\"Action\":\"sts:none\",\"Resource\":\"*\"}}";

/* A permissions boundary names a managed policy; one that is gone allows nothing. */
static void load_boundary(struct iam *iam, struct authz_entry *e, const char *table,
                          const char *name)
{
    char sql[300];
    snprintf(sql, sizeof(sql),
             "SELECT x.boundary, v.doc FROM %s x LEFT JOIN iam_policy p ON p.arn = x.boundary"
             " LEFT JOIN iam_policy_version v ON v.arn = p.arn AND v.version = p.default_version"
             " WHERE x.name = ? AND x.boundary IS NOT NULL",
             table);
    struct store_stmt *q = store_prepare_args(iam->st, sql, "s", name);
    if (q != NULL && store_step(q) == 1) {
        const char *doc = store_col_text(q, 1) != NULL ? store_col_text(q, 1) : allows_nothing;
        struct iam_policy_error perr;
        if (iam_policy_compile(doc, strlen(doc), IAM_POLICY_IDENTITY, &e->boundary, &perr) != 0) {
            e->boundary = NULL;
            iam_policy_compile(allows_nothing, sizeof(allows_nothing) - 1, IAM_POLICY_IDENTITY,
                               &e->boundary, &perr);
        }
    }
    store_finalize(q);
}

/* Sets the principal's key name (aws:PrincipalTag/<key>, aws:SourceIdentity) to value, in
   place of one that differs only in case: a session's tag overrides its role's. */
static void put_key(struct authz_entry *e, char *name /* taken */, const char *value)
{
    for (size_t i = 0; i < e->n_tags; i++) {
        if (strcasecmp(e->tag_keys[i], name) == 0) {
            free(e->tag_keys[i]);
            free((char *)e->tag_values[i]);
            e->tag_keys[i] = name;
            e->tag_values[i] = xstrdup(value);
            return;
        }
    }
    e->tag_keys = xrealloc(e->tag_keys, (e->n_tags + 1) * sizeof(*e->tag_keys));
    e->tag_values = xrealloc(e->tag_values, (e->n_tags + 1) * sizeof(*e->tag_values));
    e->tag_keys[e->n_tags] = name;
    e->tag_values[e->n_tags] = xstrdup(value);
    e->n_tags++;
}

static void put_tag(struct authz_entry *e, const char *key, const char *value)
{
    put_key(e, xasprintf("aws:PrincipalTag/%s", key), value);
}

static void load_tags(struct iam *iam, struct authz_entry *e, const char *kind, const char *name)
{
    struct store_stmt *q = store_prepare_args(
        iam->st, "SELECT key, value FROM iam_tag WHERE kind = ? AND owner = ?", "ss", kind, name);
    while (q != NULL && store_step(q) == 1) {
        put_tag(e, store_col_text(q, 0), store_col_text(q, 1));
    }
    store_finalize(q);
}

/* A session's tags as stored (a JSON object, key -> value), over its role's. */
static void load_session_tags(struct authz_entry *e, const char *text)
{
    json_t *tags = text != NULL ? json_loads(text, 0, NULL) : NULL;
    const char *k;
    json_t *v;
    json_object_foreach(tags, k, v)
    {
        if (json_is_string(v)) {
            put_tag(e, k, json_string_value(v));
        }
    }
    json_decref(tags);
}

static void load_user(struct iam *iam, struct authz_entry *e, const char *user)
{
    load_boundary(iam, e, "iam_user", user);
    load_tags(iam, e, "user", user);
    add_docs(iam, e, "SELECT doc FROM iam_inline WHERE kind = 'user' AND owner = ?", user);
    add_docs(iam, e, ATTACHED("user"), user);
    add_docs(iam, e,
             "SELECT i.doc FROM iam_member m JOIN iam_inline i ON i.kind = 'group'"
             " AND i.owner = m.group_name WHERE m.user_name = ?",
             user);
    add_docs(iam, e,
             "SELECT v.doc FROM iam_member m JOIN iam_attach a ON a.kind = 'group'"
             " AND a.owner = m.group_name JOIN iam_policy p ON p.arn = a.arn"
             " JOIN iam_policy_version v ON v.arn = p.arn AND v.version = p.default_version"
             " WHERE m.user_name = ?",
             user);
}

/* An assumed-role session: its role's policies and the session policy. */
static void load_session(struct iam *iam, struct authz_entry *e, const char *key_id,
                         const char *session_arn)
{
    /* arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION */
    const char *r = strstr(session_arn, ":assumed-role/");
    char role[130] = "";
    if (r != NULL) {
        r += strlen(":assumed-role/");
        size_t n = strcspn(r, "/");
        snprintf(role, sizeof(role), "%.*s", (int)(n < sizeof(role) ? n : sizeof(role) - 1), r);
    }
    load_boundary(iam, e, "iam_role", role);
    load_tags(iam, e, "role", role);
    add_docs(iam, e, "SELECT doc FROM iam_inline WHERE kind = 'role' AND owner = ?", role);
    add_docs(iam, e, ATTACHED("role"), role);
    struct store_stmt *q =
        store_prepare_args(iam->st, "SELECT path FROM iam_role WHERE name = ?", "s", role);
    if (q != NULL && store_step(q) == 1) {
        snprintf(e->role_arn, sizeof(e->role_arn), "arn:aws:iam::%s:role%s%s", iam->account_id,
                 store_col_text(q, 0), role);
    }
    store_finalize(q);
    q = store_prepare_args(iam->st,
                           "SELECT policy, tags, policy_arns, source_identity FROM iam_session"
                           " WHERE key_id = ?",
                           "s", key_id);
    int found = q != NULL && store_step(q) == 1;
    if (found) {
        load_session_tags(e, store_col_text(q, 1));
        if (store_col_text(q, 3) != NULL) {
            put_key(e, xstrdup("aws:SourceIdentity"), store_col_text(q, 3));
        }
    }
    /* the inline and managed session policies as one: any of them may allow */
    char *doc =
        found ? iam__session_policy_doc(iam, store_col_text(q, 0), store_col_text(q, 2)) : NULL;
    if (doc != NULL) {
        struct iam_policy_error perr;
        struct iam_policy *p = NULL;
        if (iam_policy_compile(doc, strlen(doc), IAM_POLICY_IDENTITY, &p, &perr) != 0) {
            /* A session policy that cannot be read allows nothing. */
            p = NULL;
            iam_policy_compile(allows_nothing, sizeof(allows_nothing) - 1, IAM_POLICY_IDENTITY,
                               &p, &perr);
        }
        e->session = p;
    }
    free(doc);
    store_finalize(q);
}

static struct authz_entry *build_entry(struct iam *iam, const struct api_request *req,
                                       const char *key, uint64_t gen)
{
    struct authz_entry *e = xcalloc(1, sizeof(*e));
    snprintf(e->key, sizeof(e->key), "%s", key);
    e->gen = gen;
    store_read_begin(iam->st);
    if (req->principal_kind == HTTP_PRINCIPAL_USER) {
        load_user(iam, e, req->principal_name);
    } else {
        load_session(iam, e, req->access_key_id, req->principal_arn);
    }
    store_read_end(iam->st);
    return e;
}

/* Evaluates under the cache's read lock, building the principal's entry first when it
   is missing or stale. */
static struct rp_entry *rp_find(struct iam_authz *a, const char *key, const char *doc)
{
    for (struct rp_entry *e = a->rp[hash_of(key)]; e != NULL; e = e->next) {
        if (strcmp(e->key, key) == 0 && strcmp(e->doc, doc) == 0) {
            return e;
        }
    }
    return NULL;
}

/* Compiles doc and puts it in place of key's older document. */
static void rp_install(struct iam_authz *a, const char *key, const char *doc)
{
    struct rp_entry *fresh = xcalloc(1, sizeof(*fresh));
    fresh->key = xstrdup(key);
    fresh->doc = xstrdup(doc);
    struct iam_policy_error perr;
    if (iam_policy_compile(doc, strlen(doc), IAM_POLICY_RESOURCE, &fresh->p, &perr) != 0) {
        fresh->p = NULL;
    }
    size_t b = hash_of(key);
    pthread_rwlock_wrlock(&a->lock);
    if (a->n_entries + a->n_rp >= AUTHZ_MAX_ENTRIES) {
        drop_all(a);
    }
    struct rp_entry **pp = &a->rp[b];
    while (*pp != NULL) {
        if (strcmp((*pp)->key, key) == 0) {
            struct rp_entry *old = *pp;
            *pp = old->next;
            free(old->key);
            free(old->doc);
            iam_policy_free(old->p);
            free(old);
            a->n_rp--;
        } else {
            pp = &(*pp)->next;
        }
    }
    fresh->next = a->rp[b];
    a->rp[b] = fresh;
    a->n_rp++;
    pthread_rwlock_unlock(&a->lock);
}

/* Context keys of a request (global, IAM's and the service's); an AssumeRole's own (its
   50 request tags, aws:TagKeys, sts:TransitiveTagKeys, sts:ExternalId,
   sts:RoleSessionName, and the role's 50 tags as aws:ResourceTag and iam:ResourceTag); a
   principal's tags: an IAM user's or role's 50, and a session's 50 over its role's. */
#define MAX_KEYS 24
#define MAX_EXTRA_KEYS 156
#define MAX_TAG_KEYS 100

/* What a resource's policy is beside the caller's own: one more resource-based policy; a
   KMS key's policy, the gate to the key (kms_gate: identity-based policies count only
   when it allows the account, as AWS's KMS documents); or a role's trust policy, which
   admits on its own a caller it names, its role, its account or "*" (an account-wide trust
   needs no identity-based Allow here, as before identity policies decided AssumeRole),
   while an explicit Deny anywhere still refuses. */
enum rp_gate { GATE_NONE, GATE_KMS, GATE_TRUST };

/* Evaluates with the entry's policies, its boundary and its tags as context keys, the
   resource's policy as gate says. */
static enum iam_decision evaluate_entry(const struct authz_entry *e, const struct rp_entry *rp,
                                        enum rp_gate gate, struct iam_request_ctx *ctx,
                                        struct iam_eval_result *res)
{
    struct iam_context_key keys[MAX_KEYS + MAX_EXTRA_KEYS + MAX_TAG_KEYS];
    size_t nk = 0;
    for (size_t i = 0; i < ctx->n_keys && nk < MAX_KEYS + MAX_EXTRA_KEYS; i++) {
        keys[nk++] = ctx->keys[i];
    }
    for (size_t i = 0; i < e->n_tags && i < MAX_TAG_KEYS; i++) {
        keys[nk++] = (struct iam_context_key){e->tag_keys[i], &e->tag_values[i], 1};
    }
    struct iam_request_ctx c = *ctx;
    c.keys = keys;
    c.n_keys = nk;
    c.principal_role_arn = e->role_arn[0] ? e->role_arn : NULL;
    const struct iam_policy *const *sess = (const struct iam_policy *const *)&e->session;
    const struct iam_policy *const *bound = (const struct iam_policy *const *)&e->boundary;
    const struct iam_policy *rpp = rp != NULL ? rp->p : NULL;
    enum iam_decision d =
        iam_evaluate(&c, (const struct iam_policy *const *)e->identity, e->n_identity, rpp, sess,
                     e->session ? 1 : 0, bound, e->boundary ? 1 : 0, res);
    if (gate == GATE_TRUST && d == IAM_IMPLICIT_DENY && rpp != NULL && iam_policy_admits(rpp, &c)) {
        res->decision = d = IAM_ALLOW;
        res->source = IAM_SRC_RESOURCE;
    }
    if (gate == GATE_KMS && rp != NULL && d == IAM_ALLOW && res->source != IAM_SRC_RESOURCE &&
        (rpp == NULL || !iam_policy_admits(rpp, &c))) {
        res->decision = d = IAM_IMPLICIT_DENY;
        res->source = IAM_SRC_RESOURCE;
        res->statement_idx = -1;
        res->sid = NULL;
    }
    return d;
}

static enum iam_decision evaluate_cached(struct iam *iam, const struct api_request *req,
                                         const char *rp_key, const char *rp_doc, enum rp_gate gate,
                                         struct iam_request_ctx *ctx, struct iam_eval_result *res)
{
    struct iam_authz *a = iam->authz;
    const char *key =
        req->principal_kind == HTTP_PRINCIPAL_USER ? req->principal_arn : req->access_key_id;
    size_t b = hash_of(key);
    for (;;) {
        uint64_t gen = atomic_load(&generation);
        pthread_rwlock_rdlock(&a->lock);
        struct rp_entry *rp = rp_doc != NULL ? rp_find(a, rp_key, rp_doc) : NULL;
        if (rp_doc != NULL && rp == NULL) {
            pthread_rwlock_unlock(&a->lock);
            rp_install(a, rp_key, rp_doc);
            continue;
        }
        for (struct authz_entry *e = a->buckets[b]; e != NULL; e = e->next) {
            if (strcmp(e->key, key) == 0 && e->gen == gen) {
                enum iam_decision d = evaluate_entry(e, rp, gate, ctx, res);
                pthread_rwlock_unlock(&a->lock);
                return d;
            }
        }
        pthread_rwlock_unlock(&a->lock);
        struct authz_entry *fresh = build_entry(iam, req, key, gen);
        pthread_rwlock_wrlock(&a->lock);
        struct authz_entry **pp = &a->buckets[b];
        while (*pp != NULL) {
            if (strcmp((*pp)->key, key) == 0) {
                struct authz_entry *old = *pp;
                *pp = old->next;
                entry_free(old);
                a->n_entries--;
            } else {
                pp = &(*pp)->next;
            }
        }
        if (a->n_entries + a->n_rp >= AUTHZ_MAX_ENTRIES) {
            drop_all(a);
        }
        fresh->next = a->buckets[b];
        a->buckets[b] = fresh;
        a->n_entries++;
        pthread_rwlock_unlock(&a->lock);
    }
}

/* ---- what the request names ---- */

static const char *json_field(json_t *doc, const char *name)
{
    json_t *v = json_object_get(doc, name);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The string value after "name": at p (just past the name's closing quote). */
static const char *value_at(const char *p, const char *end, char *out, size_t size)
{
    while (p < end && (*p == ' ' || *p == ':' || *p == '\n' || *p == '\t' || *p == '\r')) {
        p++;
    }
    if (p >= end || *p != '"') {
        return NULL;
    }
    p++;
    size_t len = 0;
    while (p + len < end && p[len] != '"' && p[len] != '\\' && len + 1 < size) {
        len++;
    }
    if (p + len >= end || p[len] != '"') {
        /* An escape, or a name too long: not read here, so the request is decided on
           "*" (the service would read the escaped name otherwise than this). */
        return NULL;
    }
    memcpy(out, p, len);
    out[len] = '\0';
    return out;
}

/*
 * Large bodies (PutRecords, PutRecordBatch) are not parsed twice: one pass finds the
 * members whose names start with prefix ("Stream", "DeliveryStream"), which sit in them
 * as "Name":"value" (record data is base64, which holds no quote).
 */
static void scan_fields(const struct api_request *req, const char *prefix, const char *const *names,
                        char (*outs)[400], const char **found, size_t n)
{
    const char *p = (const char *)req->body, *end = p + req->body_len;
    size_t plen = strlen(prefix);
    /* quote by quote: memchr outruns memmem several times over on base64 */
    while ((p = memchr(p, '"', (size_t)(end - p))) != NULL) {
        p++;
        if ((size_t)(end - p) <= plen || memcmp(p, prefix, plen) != 0) {
            continue;
        }
        p += plen;
        for (size_t i = 0; i < n; i++) {
            size_t len = strlen(names[i]);
            if ((size_t)(end - p) > len && memcmp(p, names[i], len) == 0 && p[len] == '"') {
                found[i] = value_at(p + len + 1, end, outs[i], sizeof(outs[i]));
            }
        }
    }
}

#define SMALL_BODY (64 * 1024)

struct names {
    json_t *doc;
    char scanned[2][400];
};

static void json_names(const struct api_request *req, const char *service, const char *operation,
                       struct names *nm, struct iam_action_input *in)
{
    if (req->body == NULL || req->body_len == 0) {
        return;
    }
    if (req->body_len > SMALL_BODY) {
        static const char *const kinesis[] = {"Name", "ARN"}, *const firehose[] = {"Name"};
        const char *found[2] = {NULL, NULL};
        if (strcmp(service, "firehose") == 0) {
            scan_fields(req, "DeliveryStream", firehose, nm->scanned, found, 1);
            in->delivery_stream = found[0];
        } else {
            scan_fields(req, "Stream", kinesis, nm->scanned, found, 2);
            in->stream_name = found[0];
            in->stream_arn = found[1];
        }
        return;
    }
    json_error_t jerr;
    /* Duplicate members (one of them perhaps escaped, which the services' own reader
       skips) could name one resource here and another to the service: such a request
       names nothing here and is decided on "*". */
    nm->doc = json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(nm->doc)) {
        return;
    }
    in->stream_name = json_field(nm->doc, "StreamName");
    in->stream_arn = json_field(nm->doc, "StreamARN");
    in->consumer_arn = json_field(nm->doc, "ConsumerARN");
    in->resource_arn = json_field(nm->doc, "ResourceARN");
    in->delivery_stream = json_field(nm->doc, "DeliveryStreamName");
    in->workgroup = json_field(nm->doc, "WorkGroup");
    in->table = json_field(nm->doc, "TableName");
    in->database = json_field(nm->doc, "DatabaseName");
    if (strcmp(service, "glue") == 0 && strstr(operation, "Database") != NULL) {
        in->database = json_field(nm->doc, "Name");
    }
    if (strcmp(service, "glue") == 0 && in->table == NULL && strstr(operation, "Table") != NULL) {
        json_t *ti = json_object_get(nm->doc, "TableInput");
        json_t *v = json_object_get(ti, "Name");
        in->table = json_is_string(v) ? json_string_value(v) : NULL;
    }
}

/* The S3 operation a request stands for, from its method, path and subresource. */
static const char *s3_operation(const struct api_request *req, const struct query_params *q,
                                int bucket, int object)
{
    const char *m = req->method;
    int get = strcmp(m, "GET") == 0, head = strcmp(m, "HEAD") == 0;
    int put = strcmp(m, "PUT") == 0, del = strcmp(m, "DELETE") == 0;
    int post = strcmp(m, "POST") == 0;
    if (!bucket) {
        return "ListBuckets";
    }
    if (object) {
        if (query_params_get(q, "uploadId") != NULL) {
            return get    ? "ListParts"
                   : put  ? (api_request_header(req, "x-amz-copy-source") ? "UploadPartCopy"
                                                                           : "UploadPart")
                   : post ? "CompleteMultipartUpload"
                          : "AbortMultipartUpload";
        }
        if (query_params_get(q, "uploads") != NULL) {
            return "CreateMultipartUpload";
        }
        if (query_params_get(q, "tagging") != NULL) {
            return get ? "GetObjectTagging" : put ? "PutObjectTagging" : "DeleteObjectTagging";
        }
        if (query_params_get(q, "acl") != NULL) {
            return get ? "GetObjectAcl" : "PutObjectAcl";
        }
        if (query_params_get(q, "retention") != NULL) {
            return get ? "GetObjectRetention" : "PutObjectRetention";
        }
        if (query_params_get(q, "legal-hold") != NULL) {
            return get ? "GetObjectLegalHold" : "PutObjectLegalHold";
        }
        if (get && query_params_get(q, "attributes") != NULL) {
            return "GetObjectAttributes";
        }
        if (post && query_params_get(q, "restore") != NULL) {
            return "RestoreObject";
        }
        if (get || head) {
            return head ? "HeadObject" : "GetObject";
        }
        if (put) {
            return api_request_header(req, "x-amz-copy-source") ? "CopyObject" : "PutObject";
        }
        return "DeleteObject";
    }
    static const struct {
        const char *sub, *get, *put, *del;
    } subs[] = {
        {"policy", "GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy"},
        {"tagging", "GetBucketTagging", "PutBucketTagging", "DeleteBucketTagging"},
        {"versioning", "GetBucketVersioning", "PutBucketVersioning", NULL},
        {"acl", "GetBucketAcl", "PutBucketAcl", NULL},
        {"location", "GetBucketLocation", NULL, NULL},
        {"versions", "ListObjectVersions", NULL, NULL},
        {"uploads", "ListMultipartUploads", NULL, NULL},
        {"cors", "GetBucketCors", "PutBucketCors", "DeleteBucketCors"},
        {"metrics", "GetBucketMetricsConfiguration", "PutBucketMetricsConfiguration",
         "DeleteBucketMetricsConfiguration"},
        {"ownershipControls", "GetBucketOwnershipControls", "PutBucketOwnershipControls",
         "DeleteBucketOwnershipControls"},
        {"publicAccessBlock", "GetPublicAccessBlock", "PutPublicAccessBlock",
         "DeletePublicAccessBlock"},
        {"policyStatus", "GetBucketPolicyStatus", NULL, NULL},
        {"object-lock", "GetObjectLockConfiguration", "PutObjectLockConfiguration", NULL},
        {"lifecycle", "GetBucketLifecycleConfiguration", "PutBucketLifecycleConfiguration",
         "DeleteBucketLifecycle"},
    };
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        if (query_params_get(q, subs[i].sub) != NULL) {
            const char *op = get ? subs[i].get : put ? subs[i].put : del ? subs[i].del : NULL;
            if (op != NULL) {
                return op;
            }
        }
    }
    if (post && query_params_get(q, "delete") != NULL) {
        return "DeleteObjects";
    }
    if (head) {
        return "HeadBucket";
    }
    if (get) {
        const char *lt = query_params_get(q, "list-type");
        return lt != NULL && strcmp(lt, "2") == 0 ? "ListObjectsV2" : "ListObjects";
    }
    return put ? "CreateBucket" : "DeleteBucket";
}

/* The bucket a virtual-hosted Host header names ("b.localhost", "b.s3.<...>",
   "b.s3-<region>.<...>"), or NULL for path style: the S3 adapter's own rule. */
static char *host_bucket(const char *host)
{
    if (host == NULL || *host == '\0') {
        return NULL;
    }
    size_t len = strcspn(host, ":");
    char *h = xstrndup(host, len);
    char *bucket = NULL;
    static const char local_suffix[] = ".localhost";
    size_t ls = sizeof(local_suffix) - 1;
    if (len > ls && strcasecmp(h + len - ls, local_suffix) == 0) {
        bucket = xstrndup(h, len - ls);
    } else {
        for (char *p = strstr(h, ".s3"); p != NULL; p = strstr(p + 1, ".s3")) {
            if (p > h && (p[3] == '.' || p[3] == '-')) {
                bucket = xstrndup(h, (size_t)(p - h));
                break;
            }
        }
    }
    free(h);
    return bucket;
}

struct s3_names {
    struct query_params q;
    char *path; /* decoded, owned */
    char *host_bucket; /* owned, NULL for path style */
    char *copy; /* decoded x-amz-copy-source, owned */
};

static const char *s3_names(const struct api_request *req, struct s3_names *sn,
                            struct iam_action_input *in)
{
    query_params_init(&sn->q);
    query_params_parse(&sn->q, req->query, strlen(req->query));
    const char *p = req->path[0] == '/' ? req->path + 1 : req->path;
    sn->path = pct_decode_dup(p, strlen(p), PCT_PATH, NULL);
    sn->host_bucket = host_bucket(req->host);
    if (sn->host_bucket != NULL) {
        in->bucket = sn->host_bucket;
        in->key = sn->path != NULL && sn->path[0] != '\0' ? sn->path : NULL;
    } else {
        char *slash = sn->path != NULL ? strchr(sn->path, '/') : NULL;
        if (slash != NULL) {
            *slash = '\0';
            in->key = slash[1] != '\0' ? slash + 1 : NULL;
        }
        in->bucket = sn->path != NULL && sn->path[0] != '\0' ? sn->path : NULL;
    }
    in->version_id = query_params_get(&sn->q, "versionId");
    const char *cs = api_request_header(req, "x-amz-copy-source");
    if (cs != NULL) {
        sn->copy = pct_decode_dup(cs[0] == '/' ? cs + 1 : cs, strlen(cs), PCT_PATH, NULL);
        char *s = sn->copy != NULL ? strchr(sn->copy, '/') : NULL;
        if (s != NULL) {
            *s = '\0';
            in->copy_source_bucket = sn->copy;
            in->copy_source_key = s + 1;
        }
    }
    return s3_operation(req, &sn->q, in->bucket != NULL, in->key != NULL);
}

static int is_kms_key(const char *arn)
{
    return strncmp(arn, "arn:aws:kms:", 12) == 0 && strstr(arn, ":key/") != NULL;
}

/* The resource-based policy of the request's resource as its service stores it (S3
   bucket policies, Kinesis stream and consumer policies), or NULL. */
static char *resource_policy_read(struct iam *iam, int s3, const char *bucket, const char *arn)
{
    struct store_stmt *q = NULL;
    store_read_begin(iam->st);
    if (s3) {
        q = store_prepare_args(iam->st, "SELECT policy FROM lake_buckets WHERE name = ?", "s",
                               bucket);
    } else if (strncmp(arn, "arn:aws:kinesis:", 16) == 0) {
        q = store_prepare_args(iam->st, "SELECT policy FROM kinesis_policies WHERE arn = ?", "s",
                               arn);
    } else {
        q = store_prepare_args(iam->st, "SELECT policy FROM kms_keys WHERE key_id = ?", "s",
                               strstr(arn, ":key/") + 5);
    }
    char *doc = NULL;
    if (q != NULL && store_step(q) == 1 && store_col_text(q, 0) != NULL) {
        doc = xstrdup(store_col_text(q, 0));
    }
    store_finalize(q);
    store_read_end(iam->st);
    return doc;
}

/*
 * The services own these policies and write them without telling IAM, but every write
 * goes through the store's writer: what was read (a policy, or that there is none) is
 * kept, one slot a resource, until store_write_count moves. Most calls (PutRecords on a
 * stream with no policy) then read nothing.
 */
static char *resource_policy(struct iam *iam, int s3, const char *bucket, const char *arn)
{
    if (s3 ? bucket == NULL
           : arn == NULL || (strncmp(arn, "arn:aws:kinesis:", 16) != 0 && !is_kms_key(arn))) {
        return NULL;
    }
    struct iam_authz *a = iam->authz;
    const char *key = s3 ? bucket : arn;
    struct rp_seen *slot = &a->seen[hash_of(key) ^ (size_t)s3];
    uint64_t writes = store_write_count(iam->st);
    char *doc = NULL;
    pthread_mutex_lock(&a->seen_lock);
    if (slot->key != NULL && slot->writes == writes && slot->s3 == s3 &&
        strcmp(slot->key, key) == 0) {
        doc = slot->doc != NULL ? xstrdup(slot->doc) : NULL;
        pthread_mutex_unlock(&a->seen_lock);
        return doc;
    }
    pthread_mutex_unlock(&a->seen_lock);
    doc = resource_policy_read(iam, s3, bucket, arn);
    pthread_mutex_lock(&a->seen_lock);
    free(slot->key);
    free(slot->doc);
    slot->key = xstrdup(key);
    slot->doc = doc != NULL ? xstrdup(doc) : NULL;
    slot->writes = writes; /* counted before the read: a write meanwhile makes it stale */
    slot->s3 = s3;
    pthread_mutex_unlock(&a->seen_lock);
    return doc;
}

/* ---- the global condition keys ---- */

/*
 * The global keys of a request by who, built once for the three ways a request reaches
 * the policies: the principal's own call (via NULL: aws:ViaAWSService false and
 * aws:SourceIp when the address is known; a service acting as its role is such a call,
 * made from no address of the caller's), or a call a service makes on the caller's behalf
 * (via the service's principal, "athena.amazonaws.com": a forward access session, so
 * aws:ViaAWSService true, aws:CalledVia and no aws:SourceIp).
 */
struct global_keys {
    char now_iso[32], epoch[24];
    const char *v_id, *v_arn, *v_acct, *v_user, *v_region, *v_ip, *v_via, *v_bool;
    const char *now_iso_p, *epoch_p; /* point at now_iso and epoch */
    struct iam_context_key keys[MAX_KEYS];
    size_t n;
};

static void global_keys(struct global_keys *g, const struct iam *iam, const struct api_request *who,
                        const char *via)
{
    time_t t = (time_t)(who->now_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(g->now_iso, sizeof(g->now_iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(g->epoch, sizeof(g->epoch), "%lld", (long long)t);
    g->v_id = who->principal_id;
    g->v_arn = who->principal_arn;
    g->v_acct = iam->account_id;
    g->v_user = who->principal_name;
    g->v_region = who->region;
    g->v_ip = who->source_ip;
    g->v_via = via;
    g->v_bool = via != NULL ? "true" : "false";
    g->now_iso_p = g->now_iso;
    g->epoch_p = g->epoch;
    static const char *const v_false = "false";
    size_t n = 0;
    struct iam_context_key *k = g->keys;
    if (g->v_id != NULL && g->v_id[0] != '\0') {
        k[n++] = (struct iam_context_key){"aws:userid", &g->v_id, 1};
    }
    k[n++] = (struct iam_context_key){"aws:PrincipalArn", &g->v_arn, 1};
    k[n++] = (struct iam_context_key){"aws:PrincipalAccount", &g->v_acct, 1};
    k[n++] = (struct iam_context_key){"aws:SecureTransport", &v_false, 1};
    k[n++] = (struct iam_context_key){"aws:ViaAWSService", &g->v_bool, 1};
    if (via != NULL) {
        k[n++] = (struct iam_context_key){"aws:CalledVia", &g->v_via, 1};
        k[n++] = (struct iam_context_key){"aws:CalledViaFirst", &g->v_via, 1};
        k[n++] = (struct iam_context_key){"aws:CalledViaLast", &g->v_via, 1};
    }
    k[n++] = (struct iam_context_key){"aws:CurrentTime", &g->now_iso_p, 1};
    k[n++] = (struct iam_context_key){"aws:EpochTime", &g->epoch_p, 1};
    if (g->v_region != NULL) {
        k[n++] = (struct iam_context_key){"aws:RequestedRegion", &g->v_region, 1};
    }
    if (via == NULL && g->v_ip != NULL) {
        k[n++] = (struct iam_context_key){"aws:SourceIp", &g->v_ip, 1};
    }
    if (who->principal_kind == HTTP_PRINCIPAL_USER) {
        k[n++] = (struct iam_context_key){"aws:username", &g->v_user, 1};
    }
    g->n = n;
}

/* ---- iam:PassRole ---- */

#define PASSED_MAX 8

static void add_role(const char *arn, const char **out, size_t *n)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(out[i], arn) == 0) {
            return;
        }
    }
    if (*n < PASSED_MAX) {
        out[(*n)++] = arn;
    }
}

/* The roles a Firehose request hands to Firehose: every RoleARN member (the source's, the
   destination's, its backup's, the schema's) and a Lambda processor's RoleArn parameter. */
static void passed_roles(json_t *v, const char **out, size_t *n)
{
    size_t i;
    json_t *e;
    if (json_is_array(v)) {
        json_array_foreach(v, i, e)
        {
            passed_roles(e, out, n);
        }
        return;
    }
    if (!json_is_object(v)) {
        return;
    }
    const char *k;
    json_object_foreach(v, k, e)
    {
        if (strcmp(k, "RoleARN") == 0 && json_is_string(e)) {
            add_role(json_string_value(e), out, n);
        } else {
            passed_roles(e, out, n);
        }
    }
    json_t *pn = json_object_get(v, "ParameterName"), *pv = json_object_get(v, "ParameterValue");
    if (json_is_string(pn) && strcmp(json_string_value(pn), "RoleArn") == 0 && json_is_string(pv)) {
        add_role(json_string_value(pv), out, n);
    }
}

/*
 * CreateDeliveryStream and UpdateDestination hand roles to Firehose: the caller needs
 * iam:PassRole on each, with iam:PassedToService firehose.amazonaws.com (keys has room for
 * it at keys[nk]). 0, or SL_E(ACCESS_DENIED) with IAM's message.
 */
static int pass_roles(struct iam *iam, const struct api_request *req, json_t *doc,
                      struct iam_context_key *keys, size_t nk, struct err_info *err)
{
    json_t *own = NULL;
    if (doc == NULL && req->body != NULL) {
        json_error_t jerr;
        doc = own = json_loadb((const char *)req->body, req->body_len, 0, &jerr);
    }
    const char *roles[PASSED_MAX];
    size_t n = 0;
    passed_roles(doc, roles, &n);
    static const char *const v_service = "firehose.amazonaws.com";
    if (nk < MAX_KEYS) {
        keys[nk++] = (struct iam_context_key){"iam:PassedToService", &v_service, 1};
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *res_ptrs[1] = {roles[i]};
        struct iam_request_ctx ctx = {.action = "iam:PassRole",
                                      .resources = res_ptrs,
                                      .n_resources = 1,
                                      .principal_arn = req->principal_arn,
                                      .principal_account = iam->account_id,
                                      .keys = keys,
                                      .n_keys = nk};
        struct iam_eval_result res;
        if (evaluate_cached(iam, req, NULL, NULL, GATE_NONE, &ctx, &res) != IAM_ALLOW) {
            char reason[200];
            iam_result_reason(&res, "iam:PassRole", reason, sizeof(reason));
            rc = err_set(err, SL_E(ACCESS_DENIED),
                         "User: %s is not authorized to perform: iam:PassRole on resource: %s %s",
                         req->principal_arn, roles[i], reason);
        }
    }
    json_decref(own);
    return rc;
}

/* ---- the hook ---- */

int iam__authorize_policies(struct iam *iam, const struct api_request *req, const char *service,
                            const char *operation, const struct api_params *params,
                            struct err_info *err)
{
    const char *svc = strcmp(service, "monitoring") == 0 ? "cloudwatch" : service;
    struct iam_action_input in = {0};
    in.region = req->region;
    in.account = iam->account_id;
    struct names nm = {0};
    struct s3_names sn = {0};
    const char *op = operation;
    int s3 = strcmp(svc, "s3") == 0;
    if (s3) {
        op = s3_names(req, &sn, &in);
        if (strcmp(operation, "BypassGovernanceRetention") == 0) {
            op = operation; /* the S3 adapter asks about the x-amz-bypass-governance-retention
                               header of a request already allowed */
        }
    } else {
        json_names(req, svc, operation, &nm, &in);
    }
    struct iam_indirect ind;
    if (strcmp(svc, "kinesis") == 0 && nm.doc != NULL) {
        iam__kinesis_indirect(iam, operation, nm.doc, &in, &ind);
    }
    struct iam_action act;
    int arc = iam_action_of(svc, op, &in, &act);
    if (arc == -1 && (strcmp(svc, "iam") == 0 || strcmp(svc, "kms") == 0)) {
        act.no_auth = 0;
        act.keys = NULL;
        act.n_keys = 0;
        if (svc[0] == 'i') {
            iam__iam_action(iam, req, op, params, &act);
        } else {
            iam__kms_action(iam, req, op, nm.doc, &act);
        }
        arc = 0;
    }
    if (arc == -1 || (arc == -2 && !s3)) {
        /* Not in the table, or the resource cannot be found (an iterator of no stream):
           the action on "*", which only a policy allowing every resource allows. */
        act.no_auth = 0;
        act.n_checks = 1;
        act.keys = NULL;
        act.n_keys = 0;
        snprintf(act.checks[0].action, sizeof(act.checks[0].action), "%s:%s", svc, op);
        snprintf(act.checks[0].resources[0], IAM_ARN_MAX, "*");
        act.checks[0].resource_ptrs[0] = act.checks[0].resources[0];
        act.checks[0].n_resources = 1;
        arc = 0;
    }
    int rc = 0;
    if (arc < 0) {
        /* A request that names no resource: the service answers it with its own error. */
        goto out;
    }
    if (act.no_auth) {
        goto out;
    }
    struct global_keys g;
    global_keys(&g, iam, req, NULL);
    struct iam_context_key *keys = g.keys;
    size_t nk = g.n;
    /* IAM's own keys: the managed policy an Attach names, the boundary a Put sets */
    const char *v_parn = params != NULL ? api_params_get(params, "PolicyArn") : NULL;
    const char *v_pb = params != NULL ? api_params_get(params, "PermissionsBoundary") : NULL;
    if (v_parn != NULL) {
        keys[nk++] = (struct iam_context_key){"iam:PolicyARN", &v_parn, 1};
    }
    if (v_pb != NULL) {
        keys[nk++] = (struct iam_context_key){"iam:PermissionsBoundary", &v_pb, 1};
    }
    const char *svals[MAX_KEYS];
    for (size_t i = 0; i < act.n_keys && nk < MAX_KEYS; i++) {
        const struct iam_condition_source *ks = &act.keys[i];
        const char *v = ks->from == IAM_KEY_QUERY ? query_params_get(&sn.q, ks->name)
                                                  : api_request_header(req, ks->name);
        if (v != NULL) {
            svals[nk] = v;
            keys[nk] = (struct iam_context_key){ks->key, &svals[nk], 1};
            nk++;
        }
    }
    for (size_t c = 0; c < act.n_checks; c++) {
        struct iam_action_check *ck = &act.checks[c];
        struct iam_request_ctx ctx = {
            .action = ck->action,
            .resources = ck->resource_ptrs,
            .n_resources = ck->n_resources,
            .principal_arn = req->principal_arn,
            .principal_account = iam->account_id,
            .keys = keys,
            .n_keys = nk,
        };
        struct iam_eval_result res;
        const char *rp_key = s3 ? in.bucket : ck->resource_ptrs[0];
        char *rp_doc = rp_key != NULL ? resource_policy(iam, s3, in.bucket, rp_key) : NULL;
        enum rp_gate gate = !s3 && rp_key != NULL && is_kms_key(rp_key) ? GATE_KMS : GATE_NONE;
        enum iam_decision d = evaluate_cached(iam, req, rp_key, rp_doc, gate, &ctx, &res);
        free(rp_doc);
        if (d != IAM_ALLOW) {
            char reason[200];
            iam_result_reason(&res, ck->action, reason, sizeof(reason));
            size_t ri = res.resource_idx < ck->n_resources ? res.resource_idx : 0;
            rc = err_set(err, SL_E(ACCESS_DENIED),
                         "User: %s is not authorized to perform: %s on resource: %s %s",
                         req->principal_arn, ck->action, ck->resource_ptrs[ri], reason);
            break;
        }
    }
    if (rc == 0 && strcmp(svc, "firehose") == 0 &&
        (strcmp(op, "CreateDeliveryStream") == 0 || strcmp(op, "UpdateDestination") == 0)) {
        rc = pass_roles(iam, req, nm.doc, keys, nk, err);
    }
out:
    json_decref(nm.doc);
    if (s3) {
        query_params_fini(&sn.q);
        free(sn.path);
        free(sn.host_bucket);
        free(sn.copy);
    }
    return rc;
}

/* The request context of one action on one resource (*resource, which must outlive it) by
   principal_arn of the account, with keys: what services acting for someone evaluate. */
static struct iam_request_ctx one_resource(const struct iam *iam, const char *action,
                                           const char *const *resource,
                                           const char *principal_arn,
                                           const struct iam_context_key *keys, size_t n_keys)
{
    return (struct iam_request_ctx){.action = action,
                                    .resources = resource,
                                    .n_resources = 1,
                                    .principal_arn = principal_arn,
                                    .principal_account = iam->account_id,
                                    .keys = keys,
                                    .n_keys = n_keys};
}

/* ---- the trust of roles ---- */

int iam__trust_decide(struct iam *iam, const struct api_request *req, const char *trust_doc,
                      const char *role_arn, const char *action, const struct iam_context_key *extra,
                      size_t n_extra)
{
    struct global_keys g;
    global_keys(&g, iam, req, NULL);
    struct iam_context_key keys[MAX_KEYS + MAX_EXTRA_KEYS];
    size_t nk = 0;
    for (size_t i = 0; i < g.n; i++) {
        keys[nk++] = g.keys[i];
    }
    for (size_t i = 0; i < n_extra && nk < MAX_KEYS + MAX_EXTRA_KEYS; i++) {
        keys[nk++] = extra[i];
    }
    struct iam_request_ctx ctx =
        one_resource(iam, action, &role_arn, req->principal_arn, keys, nk);
    struct iam_eval_result res;
    return evaluate_cached(iam, req, role_arn, trust_doc, GATE_TRUST, &ctx, &res) == IAM_ALLOW;
}

/* ---- services acting as their role ---- */

/* The name (into name) and trust policy (malloc'd) of the account's role role_arn names,
   or NULL when the account has no such role. Firehose trusts a RoleARN naming no role of
   the account, as before roles were checked: delivery streams made with made-up roles (as
   many tests make them) keep being accepted and keep delivering. */
static char *role_of(struct iam *iam, const char *role_arn, char *name, size_t size)
{
    const char *r = role_arn != NULL ? strstr(role_arn, ":role/") : NULL;
    if (iam == NULL || iam->st == NULL || r == NULL) {
        return NULL;
    }
    snprintf(name, size, "%s", strrchr(r, '/') + 1);
    store_read_begin(iam->st);
    struct store_stmt *q =
        store_prepare_args(iam->st, "SELECT trust FROM iam_role WHERE name = ?", "s", name);
    char *trust = q != NULL && store_step(q) == 1 ? xstrdup(store_col_text(q, 0)) : NULL;
    store_finalize(q);
    store_read_end(iam->st);
    return trust;
}

/*
 * Decides action on resource for Firehose's session of the role role_name (session_name,
 * "AWSFirehoseToS3"), with the policy of the resource (an S3 bucket, or a Kinesis stream
 * by its ARN) beside the role's own. The call is the role's own, from Firehose: no
 * address of the caller's.
 */
static enum iam_decision as_firehose_role(struct iam *iam, const char *role_arn,
                                          const char *role_name, const char *action,
                                          const char *resource, const char *bucket,
                                          struct iam_eval_result *res)
{
    char session[400], cache_key[640];
    snprintf(session, sizeof(session), "arn:aws:sts::%s:assumed-role/%s/AWSFirehoseToS3",
             iam->account_id, role_name);
    snprintf(cache_key, sizeof(cache_key), "firehose:%s", role_arn);
    struct api_request req = {.principal_kind = HTTP_PRINCIPAL_ASSUMED_ROLE,
                              .principal_arn = session,
                              .principal_id = "",
                              .principal_name = role_name,
                              .access_key_id = cache_key,
                              .now_ms = clock_now_ms()};
    struct global_keys g;
    global_keys(&g, iam, &req, NULL);
    struct iam_request_ctx ctx = one_resource(iam, action, &resource, session, g.keys, g.n);
    const char *rp_key = bucket != NULL ? bucket : resource;
    char *rp_doc = resource_policy(iam, bucket != NULL, bucket, resource);
    enum iam_decision d = evaluate_cached(iam, &req, rp_key, rp_doc, GATE_NONE, &ctx, res);
    free(rp_doc);
    return d;
}

int iam_firehose_s3_authorize(void *arg, const char *role_arn, const char *bucket,
                              const char *key, struct err_info *err)
{
    struct iam *iam = arg;
    char name[130], resource[IAM_ARN_MAX];
    char *trust = role_of(iam, role_arn, name, sizeof(name));
    if (trust == NULL) {
        return 0;
    }
    free(trust);
    if (snprintf(resource, sizeof(resource), "arn:aws:s3:::%s/%s", bucket, key) >=
        (int)sizeof(resource)) {
        return 0;
    }
    struct iam_eval_result res;
    if (as_firehose_role(iam, role_arn, name, "s3:PutObject", resource, bucket, &res) ==
        IAM_ALLOW) {
        return 0;
    }
    return err_set(err, SL_E(ACCESS_DENIED),
                   "Access was denied. Ensure that the trust policy for the provided IAM role "
                   "allows Firehose to assume the role, and the access policy allows access to "
                   "the S3 bucket.");
}

int iam_firehose_kinesis_authorize(void *arg, const char *role_arn, const char *stream_arn,
                                   struct err_info *err)
{
    /* what AWS's documented role policy for a Kinesis source grants */
    static const char *const actions[] = {"kinesis:DescribeStream", "kinesis:GetShardIterator",
                                          "kinesis:GetRecords", "kinesis:ListShards"};
    struct iam *iam = arg;
    char name[130];
    char *trust = role_of(iam, role_arn, name, sizeof(name));
    if (trust == NULL) {
        return 0;
    }
    free(trust);
    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
        struct iam_eval_result res;
        if (as_firehose_role(iam, role_arn, name, actions[i], stream_arn, NULL, &res) !=
            IAM_ALLOW) {
            char reason[200];
            iam_result_reason(&res, actions[i], reason, sizeof(reason));
            return err_set(err, SL_E(ACCESS_DENIED),
                           "User: arn:aws:sts::%s:assumed-role/%s/AWSFirehoseToS3 is not "
                           "authorized to perform: %s on resource: %s %s",
                           iam->account_id, name, actions[i], stream_arn, reason);
        }
    }
    return 0;
}

int iam_firehose_assume_check(void *arg, const char *role_arn, struct err_info *err)
{
    struct iam *iam = arg;
    char name[130];
    char *trust = role_of(iam, role_arn, name, sizeof(name));
    if (trust == NULL) {
        return 0;
    }
    /* Firehose's service principal, of no account */
    const char *res_ptrs[1] = {role_arn};
    struct iam_request_ctx ctx = {.action = "sts:AssumeRole",
                                  .resources = res_ptrs,
                                  .n_resources = 1,
                                  .principal_service = "firehose.amazonaws.com"};
    struct iam_policy *p = NULL;
    struct iam_policy_error perr;
    struct iam_eval_result res;
    int ok = iam_policy_compile(trust, strlen(trust), IAM_POLICY_RESOURCE, &p, &perr) == 0 &&
             iam_evaluate(&ctx, NULL, 0, p, NULL, 0, NULL, 0, &res) == IAM_ALLOW;
    iam_policy_free(p);
    free(trust);
    if (ok) {
        return 0;
    }
    return err_set(err, SL_E(INVALID_ARGUMENT),
                   "Firehose is unable to assume role %s. Please check the role provided.",
                   role_arn);
}

/* ---- services acting as their caller ---- */

int iam_caller_authorize(void *arg, const struct api_request *who, const char *action,
                         const char *resource, const char *bucket, const char *s3_prefix,
                         struct err_info *err)
{
    struct iam *iam = arg;
    if (who->principal_kind == HTTP_PRINCIPAL_ROOT) {
        return 0;
    }
    if (iam == NULL || iam->st == NULL ||
        (who->principal_kind != HTTP_PRINCIPAL_USER &&
         who->principal_kind != HTTP_PRINCIPAL_ASSUMED_ROLE)) {
        return err_set(err, SL_E(ACCESS_DENIED),
                       "User: %s is not authorized to perform: %s on resource: %s because no "
                       "identity-based policy allows the %s action",
                       who->principal_arn, action, resource, action);
    }
    /* A request Athena makes for the caller (a forward access session): the caller's
       identity, through a service, so no aws:SourceIp (AWS's Athena documents it unusable
       for S3 access) and aws:ViaAWSService true. */
    struct global_keys g;
    global_keys(&g, iam, who, "athena.amazonaws.com");
    struct iam_context_key *keys = g.keys;
    size_t nk = g.n;
    const char *v_prefix = s3_prefix;
    if (v_prefix != NULL) {
        keys[nk++] = (struct iam_context_key){"s3:prefix", &v_prefix, 1};
    }
    struct iam_request_ctx ctx =
        one_resource(iam, action, &resource, who->principal_arn, keys, nk);
    struct iam_eval_result res;
    char *rp_doc = bucket != NULL ? resource_policy(iam, 1, bucket, NULL) : NULL;
    enum iam_decision d = evaluate_cached(iam, who, bucket, rp_doc, GATE_NONE, &ctx, &res);
    free(rp_doc);
    if (d == IAM_ALLOW) {
        return 0;
    }
    char reason[200];
    iam_result_reason(&res, action, reason, sizeof(reason));
    return err_set(err, SL_E(ACCESS_DENIED),
                   "User: %s is not authorized to perform: %s on resource: %s %s",
                   who->principal_arn, action, resource, reason);
}

/* ---- services using a KMS key for their caller ---- */

int iam_kms_authorize(void *arg, const struct api_request *who, const char *action,
                      const char *key_arn, const char *via_service, const struct kms_context *kc,
                      size_t n_kc, struct err_info *err)
{
    struct iam *iam = arg;
    if (who->principal_kind == HTTP_PRINCIPAL_ROOT || iam == NULL || iam->st == NULL) {
        return 0;
    }
    /* Firehose's session of a role the account does not have: trusted, as for its writes
       (iam_firehose_s3_authorize) */
    const char *r = strstr(who->principal_arn ? who->principal_arn : "", ":assumed-role/");
    if (r != NULL && strncmp(who->access_key_id ? who->access_key_id : "", "firehose:", 9) == 0) {
        store_read_begin(iam->st);
        struct store_stmt *q = store_prepare_args(iam->st, "SELECT 1 FROM iam_role WHERE name = ?",
                                                  "s", who->principal_name);
        int exists = q != NULL && store_step(q) == 1;
        store_finalize(q);
        store_read_end(iam->st);
        if (!exists) {
            return 0;
        }
    }
    char reason[200] = "";
    if (who->principal_kind == HTTP_PRINCIPAL_USER ||
        who->principal_kind == HTTP_PRINCIPAL_ASSUMED_ROLE) {
        char now_iso[32], epoch[24];
        time_t t = (time_t)(who->now_ms / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(now_iso, sizeof(now_iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(epoch, sizeof(epoch), "%lld", (long long)t);
        /* The service calls KMS with the caller's identity (a forward access session). */
        const char *v_id = who->principal_id, *v_arn = who->principal_arn;
        const char *v_acct = iam->account_id, *v_true = "true", *v_false = "false";
        const char *v_now = now_iso, *v_epoch = epoch, *v_via = via_service;
        const char *v_user = who->principal_name, *v_region = who->region;
        struct iam_context_key keys[MAX_KEYS];
        char names[MAX_KEYS][200];
        const char *ctx_keys[MAX_KEYS];
        size_t nk = 0, n_ctx_keys = 0;
        keys[nk++] = (struct iam_context_key){"aws:userid", &v_id, 1};
        keys[nk++] = (struct iam_context_key){"aws:PrincipalArn", &v_arn, 1};
        keys[nk++] = (struct iam_context_key){"aws:PrincipalAccount", &v_acct, 1};
        keys[nk++] = (struct iam_context_key){"aws:SecureTransport", &v_false, 1};
        keys[nk++] = (struct iam_context_key){"aws:ViaAWSService", &v_true, 1};
        keys[nk++] = (struct iam_context_key){"aws:CurrentTime", &v_now, 1};
        keys[nk++] = (struct iam_context_key){"aws:EpochTime", &v_epoch, 1};
        keys[nk++] = (struct iam_context_key){"kms:ViaService", &v_via, 1};
        keys[nk++] = (struct iam_context_key){"kms:CallerAccount", &v_acct, 1};
        if (v_region != NULL) {
            keys[nk++] = (struct iam_context_key){"aws:RequestedRegion", &v_region, 1};
        }
        if (who->principal_kind == HTTP_PRINCIPAL_USER) {
            keys[nk++] = (struct iam_context_key){"aws:username", &v_user, 1};
        }
        for (size_t i = 0; i < n_kc && nk + 1 < MAX_KEYS; i++) {
            snprintf(names[i], sizeof(names[i]), "kms:EncryptionContext:%s", kc[i].key);
            ctx_keys[n_ctx_keys++] = kc[i].key;
            keys[nk++] = (struct iam_context_key){names[i], &kc[i].value, 1};
        }
        if (n_ctx_keys > 0) {
            keys[nk++] =
                (struct iam_context_key){"kms:EncryptionContextKeys", ctx_keys, n_ctx_keys};
        }
        struct iam_request_ctx ctx =
            one_resource(iam, action, &key_arn, who->principal_arn, keys, nk);
        struct iam_eval_result res;
        char *rp_doc = resource_policy(iam, 0, NULL, key_arn);
        enum iam_decision d = evaluate_cached(iam, who, key_arn, rp_doc, GATE_KMS, &ctx, &res);
        free(rp_doc);
        if (d == IAM_ALLOW) {
            return 0;
        }
        iam_result_reason(&res, action, reason, sizeof(reason));
    } else {
        snprintf(reason, sizeof(reason), "because no identity-based policy allows the %s action",
                 action);
    }
    return err_set(err, SL_E(ACCESS_DENIED),
                   "User: %s is not authorized to perform: %s on resource: %s %s",
                   who->principal_arn ? who->principal_arn : "anonymous", action, key_arn, reason);
}
