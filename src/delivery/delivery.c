/*
 * The delivery service: delivery streams in the metadata store, their internal logs, and
 * the control-plane operations the Firehose API adapter calls.
 *
 * Store tables (part "delivery"):
 *   delivery_stream    one row per delivery stream: its identity, type, the source and
 *                      destination descriptions (JSON, defaults filled in), the SSE
 *                      configuration, VersionId and times
 *   delivery_tag       its tags
 *   delivery_position  per source (the internal log: 0; a shard: its index), the index
 *                      of the next record to deliver
 *
 * Reads that answer a request (Describe, List, ListTags) run in a read bracket; writes
 * under store_lock in one transaction. The in-memory list (svc->list) holds what the
 * engine and PutRecord need; its entries are created after their row commits and removed
 * before their row is deleted.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/mem.h"
#include "delivery/delivery_int.h"

static const struct store_migration migrations[] = {
    {1, "CREATE TABLE delivery_stream ("
        " id INTEGER PRIMARY KEY, region TEXT NOT NULL, account TEXT NOT NULL,"
        " name TEXT NOT NULL, type TEXT NOT NULL, source_doc TEXT, dest_doc TEXT NOT NULL,"
        " enc_doc TEXT NOT NULL, version INTEGER NOT NULL, created_ms INTEGER NOT NULL,"
        " updated_ms INTEGER NOT NULL, UNIQUE(region, account, name));"
        "CREATE TABLE delivery_tag (stream_id INTEGER NOT NULL, key TEXT NOT NULL,"
        " value TEXT NOT NULL, PRIMARY KEY(stream_id, key));"
        "CREATE TABLE delivery_position (stream_id INTEGER NOT NULL, source INTEGER NOT NULL,"
        " next_index INTEGER NOT NULL, PRIMARY KEY(stream_id, source));"},
};

int64_t delivery__now_ms(const struct delivery_service *svc)
{
    return svc->now_ms != NULL ? svc->now_ms(svc->clock_arg) : clock_now_ms();
}

static int store_err(struct err_info *err, int rc)
{
    return err_set(err, rc < 0 ? rc : SL_E(IO), "The metadata store failed: %s", sl_strerror(rc));
}

int delivery__not_found(struct err_info *err, const char *name, const char *account)
{
    return err_set(err, SL_E(RESOURCE_NOT_FOUND), "Firehose %s under account %s not found.", name,
                   account);
}

int delivery__positions_put(struct delivery_service *svc, int64_t id, const uint32_t *sources,
                            const uint64_t *next_index, size_t n)
{
    store_lock(svc->st);
    int rc = store_begin(svc->st);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = store_run(
            svc->st,
            "INSERT INTO delivery_position(stream_id, source, next_index) VALUES(?,?,?)"
            " ON CONFLICT(stream_id, source) DO UPDATE SET next_index=excluded.next_index",
            "iii", id, (int64_t)sources[i], (int64_t)next_index[i]);
    }
    if (rc == 0) {
        rc = store_commit(svc->st);
    }
    if (rc < 0) {
        store_rollback(svc->st);
    }
    store_unlock(svc->st);
    return rc;
}

/* ---- the in-memory list ---- */

struct dstream *delivery__find(struct delivery_service *svc, const char *region, const char *name)
{
    pthread_mutex_lock(&svc->mu);
    struct dstream *ds = svc->list;
    while (ds != NULL && !(strcmp(ds->region, region) == 0 && strcmp(ds->name, name) == 0)) {
        ds = ds->next;
    }
    if (ds != NULL) {
        ds->refs++;
    }
    pthread_mutex_unlock(&svc->mu);
    return ds;
}

static char *log_dir(struct delivery_service *svc, int64_t id)
{
    return xasprintf("%s/%lld", svc->dir, (long long)id);
}

static void dstream_free(struct dstream *ds)
{
    seglog_close(ds->log);
    if (ds->remove_dir) {
        char *dir = log_dir(ds->svc, ds->id);
        seglog_remove_dir(dir);
        free(dir);
    }
    stream_release(ds->stream);
    free(ds->source_arn);
    free(ds->source_role);
    delivery__dest_fini(&ds->dest);
    buf_fini(&ds->buf);
    buf_fini(&ds->buf_recs);
    free(ds->sources);
    pthread_mutex_destroy(&ds->mu);
    pthread_mutex_destroy(&ds->lat_mu);
    pthread_cond_destroy(&ds->cond);
    pthread_cond_destroy(&ds->space);
    pthread_cond_destroy(&ds->delivered);
    pthread_cond_destroy(&ds->log_grew);
    free(ds);
}

void delivery__release(struct dstream *ds)
{
    if (ds == NULL) {
        return;
    }
    struct delivery_service *svc = ds->svc;
    pthread_mutex_lock(&svc->mu);
    int last = --ds->refs == 0;
    pthread_mutex_unlock(&svc->mu);
    if (last) {
        dstream_free(ds);
    }
}

/*
 * Builds the in-memory delivery stream of a stored row and starts its engine: opens the
 * internal log (DirectPut) or the Kinesis stream's handle. The list holds one reference.
 */
static int dstream_load(struct delivery_service *svc, int64_t id, const char *region,
                        const char *account, const char *name, const char *type,
                        const char *source_doc, const char *dest_doc, const char *enc_doc,
                        int version, int64_t created_ms)
{
    struct dstream *ds = xcalloc(1, sizeof(*ds));
    ds->svc = svc;
    ds->refs = 1;
    ds->id = id;
    snprintf(ds->region, sizeof(ds->region), "%s", region);
    snprintf(ds->account, sizeof(ds->account), "%s", account);
    snprintf(ds->name, sizeof(ds->name), "%s", name);
    ds->kinesis_source = strcmp(type, "KinesisStreamAsSource") == 0;
    ds->version = version;
    ds->created_ms = created_ms;
    pthread_mutex_init(&ds->mu, NULL);
    pthread_mutex_init(&ds->lat_mu, NULL);
    pthread_cond_init(&ds->cond, NULL);
    pthread_cond_init(&ds->space, NULL);
    pthread_cond_init(&ds->delivered, NULL);
    pthread_cond_init(&ds->log_grew, NULL);
    buf_init(&ds->buf);
    buf_init(&ds->buf_recs);
    int rc = 0;
    json_t *dest = json_loads(dest_doc, 0, NULL);
    if (dest == NULL || delivery__dest_parse(dest, &ds->dest) < 0) {
        json_decref(dest);
        rc = SL_CORRUPT("delivery_stream.dest_doc", id, "does not parse");
        goto out_free;
    }
    json_decref(dest);
    json_t *enc = json_loads(enc_doc, 0, NULL);
    const char *status = json_string_value(json_object_get(enc, "Status"));
    ds->encrypted = status != NULL && strcmp(status, "ENABLED") == 0;
    json_decref(enc);
    if (ds->kinesis_source) {
        json_t *src = json_loads(source_doc != NULL ? source_doc : "{}", 0, NULL);
        const char *arn = json_string_value(json_object_get(src, "KinesisStreamARN"));
        const char *role = json_string_value(json_object_get(src, "RoleARN"));
        ds->source_arn = arn != NULL ? xstrdup(arn) : NULL;
        ds->source_role = role != NULL ? xstrdup(role) : NULL;
        if (arn == NULL || stream_lookup_arn(svc->streams, arn, &ds->stream) < 0) {
            log_msg(LOG_WARN, "delivery", "delivery stream %s: source stream %s not found", name,
                    arn != NULL ? arn : "(none)");
            ds->stream = NULL;
        }
        json_decref(src);
    } else {
        char *dir = log_dir(svc, id);
        rc = seglog_open(dir, NULL, 0, &ds->log);
        if (rc < 0) {
            log_msg(LOG_ERROR, "delivery", "cannot open %s: %s", dir, sl_strerror(rc));
        }
        free(dir);
        if (rc < 0) {
            goto out_free;
        }
    }
    if ((rc = delivery__engine_start(ds)) < 0) {
        goto out_free;
    }
    pthread_mutex_lock(&svc->mu);
    ds->next = svc->list;
    svc->list = ds;
    pthread_mutex_unlock(&svc->mu);
    return 0;
out_free:
    dstream_free(ds);
    return rc;
}

int delivery_service_open_with(const struct delivery_service_options *opt,
                               struct delivery_service **out)
{
    *out = NULL;
    int rc = store_migrate(opt->store, "delivery", migrations,
                           sizeof(migrations) / sizeof(migrations[0]));
    if (rc < 0) {
        return rc;
    }
    struct delivery_service *svc = xcalloc(1, sizeof(*svc));
    svc->st = opt->store;
    svc->cfg = opt->cfg;
    svc->streams = opt->streams;
    svc->lake = opt->lake;
    svc->now_ms = opt->now_ms;
    svc->clock_arg = opt->clock_arg;
    svc->retry_base_ms = opt->retry_base_ms > 0 ? opt->retry_base_ms : 500;
    svc->max_streams = opt->max_streams > 0 ? opt->max_streams : DELIVERY_STREAMS_MAX;
    svc->dir = xasprintf("%s/delivery", opt->cfg->data_dir);
    pthread_mutex_init(&svc->mu, NULL);
    if (mkdir(svc->dir, 0700) != 0 && errno != EEXIST) {
        rc = -errno;
        goto out_fail;
    }
    store_read_begin(svc->st);
    struct store_stmt *s =
        store_prepare_args(svc->st,
                           "SELECT id, region, account, name, type, source_doc, dest_doc,"
                           " enc_doc, version, created_ms FROM delivery_stream ORDER BY id",
                           "");
    /* Copy the rows out first: loading starts threads that use the store. */
    struct row {
        int64_t id, created_ms;
        int version;
        char *f[7];
    } *rows = NULL;
    size_t n_rows = 0;
    while (s != NULL && store_step(s) == 1) {
        rows = xrealloc(rows, (n_rows + 1) * sizeof(*rows));
        struct row *r = &rows[n_rows++];
        r->id = store_col_int64(s, 0);
        for (int i = 0; i < 7; i++) {
            const char *t = store_col_text(s, i + 1);
            r->f[i] = t != NULL ? xstrdup(t) : NULL;
        }
        r->version = (int)store_col_int64(s, 8);
        r->created_ms = store_col_int64(s, 9);
    }
    store_finalize(s);
    store_read_end(svc->st);
    for (size_t i = 0; i < n_rows; i++) {
        struct row *r = &rows[i];
        if (rc == 0) {
            rc = dstream_load(svc, r->id, r->f[0], r->f[1], r->f[2], r->f[3], r->f[4], r->f[5],
                              r->f[6], r->version, r->created_ms);
        }
        for (int k = 0; k < 7; k++) {
            free(r->f[k]);
        }
    }
    free(rows);
    if (rc < 0) {
        goto out_fail;
    }
    *out = svc;
    return 0;
out_fail:
    delivery_service_close(svc);
    return rc;
}

int delivery_service_open(struct store *st, const struct sluice_config *cfg,
                          struct stream_service *streams, struct lake *lake,
                          struct delivery_service **out)
{
    struct delivery_service_options opt = {
        .store = st, .cfg = cfg, .streams = streams, .lake = lake};
    return delivery_service_open_with(&opt, out);
}

void delivery_service_close(struct delivery_service *svc)
{
    if (svc == NULL) {
        return;
    }
    pthread_mutex_lock(&svc->mu);
    struct dstream *list = svc->list;
    svc->list = NULL;
    pthread_mutex_unlock(&svc->mu);
    while (list != NULL) {
        struct dstream *ds = list;
        list = ds->next;
        delivery__engine_stop(ds);
        delivery__release(ds);
    }
    delivery__convert_close(svc);
    pthread_mutex_destroy(&svc->mu);
    free(svc->dir);
    free(svc);
}

void delivery_service_set_catalog(struct delivery_service *svc, struct catalog *cat)
{
    pthread_mutex_lock(&svc->mu);
    svc->catalog = cat;
    pthread_mutex_unlock(&svc->mu);
}

void delivery_service_set_s3_authorizer(struct delivery_service *svc, delivery_s3_authorize_fn fn,
                                        void *arg)
{
    pthread_mutex_lock(&svc->mu);
    svc->s3_authorize = fn;
    svc->s3_authorize_arg = arg;
    pthread_mutex_unlock(&svc->mu);
}

void delivery_service_set_s3_observer(struct delivery_service *svc, delivery_s3_observe_fn fn,
                                      void *arg)
{
    pthread_mutex_lock(&svc->mu);
    svc->s3_observe = fn;
    svc->s3_observe_arg = arg;
    pthread_mutex_unlock(&svc->mu);
}

void delivery_service_set_role_checks(struct delivery_service *svc,
                                      delivery_kinesis_authorize_fn kinesis,
                                      delivery_assume_check_fn assume, void *arg)
{
    pthread_mutex_lock(&svc->mu);
    svc->kinesis_authorize = kinesis;
    svc->assume_check = assume;
    svc->role_check_arg = arg;
    pthread_mutex_unlock(&svc->mu);
}

/* Whether Firehose may assume each role named (NULLs skipped): 0 or the check's error. */
static int roles_assumable(struct delivery_service *svc, const char *const *roles, size_t n,
                           struct err_info *err)
{
    pthread_mutex_lock(&svc->mu);
    delivery_assume_check_fn check = svc->assume_check;
    void *arg = svc->role_check_arg;
    pthread_mutex_unlock(&svc->mu);
    int rc = 0;
    for (size_t i = 0; check != NULL && i < n && rc == 0; i++) {
        rc = roles[i] != NULL ? check(arg, roles[i], err) : 0;
    }
    return rc;
}

/* ---- control plane ---- */

static const char *str_member(const json_t *in, const char *key)
{
    return json_string_value(json_object_get(in, key));
}

/* DeliveryStreamName: required, 1..64 of [a-zA-Z0-9_.-]. */
static int check_name(const json_t *in, const char **name_out, struct err_info *err)
{
    const char *name = str_member(in, "DeliveryStreamName");
    *name_out = name;
    if (name == NULL) {
        return err_set(err, SL_E(VALIDATION),
                       "1 validation error detected: Value null at 'deliveryStreamName' failed "
                       "to satisfy constraint: Member must not be null");
    }
    size_t n = strlen(name);
    if (n < 1 || n > DELIVERY_NAME_MAX) {
        return err_set(err, SL_E(VALIDATION),
                       "1 validation error detected: Value '%s' at 'deliveryStreamName' failed to "
                       "satisfy constraint: Member must have length %s",
                       name, n < 1 ? "greater than or equal to 1" : "less than or equal to 64");
    }
    for (const char *p = name; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == '-')) {
            return err_set(err, SL_E(VALIDATION),
                           "1 validation error detected: Value '%s' at 'deliveryStreamName' "
                           "failed to satisfy constraint: Member must satisfy regular expression "
                           "pattern: [a-zA-Z0-9_.-]+",
                           name);
        }
    }
    return 0;
}

/* Tag list [{Key, Value}], 1..50 entries, keys 1..128 not "aws:", values 0..256. */
static int check_tags(const json_t *tags, const char *path, struct err_info *err)
{
    if (!json_is_array(tags)) {
        return err_set(err, SL_E(SERIALIZATION), "Tags must be a list");
    }
    size_t n = json_array_size(tags);
    if (n < 1 || n > DELIVERY_TAGS_MAX) {
        return err_set(err, SL_E(VALIDATION),
                       "1 validation error detected: Value at '%s' failed to satisfy constraint: "
                       "Member must have length %s",
                       path, n < 1 ? "greater than or equal to 1" : "less than or equal to 50");
    }
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(tags, i);
        const char *k = str_member(t, "Key");
        json_t *v = json_object_get(t, "Value");
        if (k == NULL || strlen(k) < 1 || strlen(k) > 128) {
            return err_set(err, SL_E(VALIDATION),
                           "1 validation error detected: Value at '%s.%zu.member.key' failed to "
                           "satisfy constraint: Member must have length between 1 and 128",
                           path, i + 1);
        }
        if (strncmp(k, "aws:", 4) == 0) {
            return err_set(err, SL_E(INVALID_ARGUMENT),
                           "Tag keys starting with 'aws:' are reserved for AWS use.");
        }
        if (v != NULL && (!json_is_string(v) || json_string_length(v) > 256)) {
            return err_set(err, SL_E(VALIDATION),
                           "1 validation error detected: Value at '%s.%zu.member.value' failed to "
                           "satisfy constraint: Member must have length less than or equal to 256",
                           path, i + 1);
        }
    }
    return 0;
}

/* Adds/replaces tags of stream id (store locked). Refuses past 50 in total. */
static int tags_put(struct delivery_service *svc, int64_t id, const json_t *tags,
                    struct err_info *err)
{
    for (size_t i = 0; i < json_array_size(tags); i++) {
        json_t *t = json_array_get(tags, i);
        const char *v = str_member(t, "Value");
        int rc = store_run(svc->st,
                           "INSERT INTO delivery_tag(stream_id, key, value) VALUES(?,?,?)"
                           " ON CONFLICT(stream_id, key) DO UPDATE SET value=excluded.value",
                           "iss", id, str_member(t, "Key"), v != NULL ? v : "");
        if (rc < 0) {
            return store_err(err, rc);
        }
    }
    struct store_stmt *s =
        store_prepare_args(svc->st, "SELECT COUNT(*) FROM delivery_tag WHERE stream_id=?", "i", id);
    int64_t n = s != NULL && store_step(s) == 1 ? store_col_int64(s, 0) : 0;
    store_finalize(s);
    if (n > DELIVERY_TAGS_MAX) {
        return err_set(err, SL_E(LIMIT_EXCEEDED),
                       "A delivery stream cannot have more than %d tags.", DELIVERY_TAGS_MAX);
    }
    return 0;
}

static const char *const destination_members[] = {
    "S3DestinationConfiguration",
    "ExtendedS3DestinationConfiguration",
    "RedshiftDestinationConfiguration",
    "ElasticsearchDestinationConfiguration",
    "AmazonopensearchserviceDestinationConfiguration",
    "SplunkDestinationConfiguration",
    "HttpEndpointDestinationConfiguration",
    "AmazonOpenSearchServerlessDestinationConfiguration",
    "SnowflakeDestinationConfiguration",
    "IcebergDestinationConfiguration",
};

/* Validates DeliveryStreamEncryptionConfigurationInput; *out the stored form. */
static int encryption_input(const json_t *conf, json_t **out, struct err_info *err)
{
    const char *type = str_member(conf, "KeyType");
    const char *arn = str_member(conf, "KeyARN");
    if (type == NULL) {
        return err_set(err, SL_E(VALIDATION),
                       "1 validation error detected: Value null at "
                       "'deliveryStreamEncryptionConfigurationInput.keyType' failed to satisfy "
                       "constraint: Member must not be null");
    }
    if (strcmp(type, "AWS_OWNED_CMK") != 0 && strcmp(type, "CUSTOMER_MANAGED_CMK") != 0) {
        return err_set(err, SL_E(VALIDATION),
                       "1 validation error detected: Value '%s' at "
                       "'deliveryStreamEncryptionConfigurationInput.keyType' failed to satisfy "
                       "constraint: Member must satisfy enum value set: [AWS_OWNED_CMK, "
                       "CUSTOMER_MANAGED_CMK]",
                       type);
    }
    if (strcmp(type, "CUSTOMER_MANAGED_CMK") == 0 && arn == NULL) {
        return err_set(err, SL_E(INVALID_ARGUMENT),
                       "KeyARN is required when KeyType is CUSTOMER_MANAGED_CMK.");
    }
    if (strcmp(type, "AWS_OWNED_CMK") == 0 && arn != NULL) {
        return err_set(err, SL_E(INVALID_ARGUMENT),
                       "KeyARN must not be specified when KeyType is AWS_OWNED_CMK.");
    }
    *out = json_pack("{s:s,s:s}", "KeyType", type, "Status", "ENABLED");
    if (arn != NULL) {
        json_object_set_new(*out, "KeyARN", json_string(arn));
    }
    return 0;
}

/* A CreateDeliveryStream request as its phases below pass it on. Strings and json_t
   pointers marked borrowed point into the request and live as long as it; the rest are
   owned and freed by delivery__create's cleanup labels. */
struct create_req {
    const char *name;        /* borrowed: DeliveryStreamName */
    const char *type;        /* borrowed (or a literal): DeliveryStreamType, default DirectPut */
    int kinesis;             /* type is KinesisStreamAsSource */
    json_t *ksrc;            /* borrowed: KinesisStreamSourceConfiguration */
    const char *dest_member; /* the one destination member given (a literal) */
    json_t *tags;            /* borrowed: Tags, NULL when absent */
    json_t *enc;             /* owned: the encryption description */
    json_t *desc;            /* owned: the destination description */
    int64_t now_ms;          /* creation time */
    struct stream *ks;       /* owned reference: the source stream, when kinesis */
    json_t *source;          /* owned: the source description, when kinesis */
    char *source_text;       /* owned: source as stored, NULL for DirectPut */
    /* owned: the source's shards, when kinesis */
    struct stream_shard_info *shards;
    size_t n_shards;  /* entries in shards and latest */
    uint64_t *latest; /* owned: per shard, the index LATEST names now */
    char *dest_text;  /* owned: desc as stored */
    char *enc_text;   /* owned: enc as stored */
    int64_t id;       /* the new row's id, once inserted */
};

/* Validates and normalises the request: the name, the stream type (default DirectPut), the
   Kinesis source's presence, exactly one destination and one Sluice delivers to, the tags,
   and the encryption input, whose description it builds into req->enc (owned by req). On
   failure nothing is left owned. Returns 0, SL_E(VALIDATION) for a model constraint,
   SL_E(INVALID_ARGUMENT) for an unsupported or inconsistent combination, or the errors of
   check_name, check_tags and encryption_input. */
static int create_validate(const json_t *in, struct create_req *req, struct err_info *err)
{
    int rc = check_name(in, &req->name, err);
    if (rc < 0) {
        return rc;
    }
    const char *type = str_member(in, "DeliveryStreamType");
    if (type == NULL) {
        type = "DirectPut";
    }
    if (strcmp(type, "MSKAsSource") == 0 || strcmp(type, "DatabaseAsSource") == 0) {
        return err_set(err, SL_E(INVALID_ARGUMENT),
                       "DeliveryStreamType %s is not supported by Sluice; use DirectPut or "
                       "KinesisStreamAsSource.",
                       type);
    }
    if (strcmp(type, "DirectPut") != 0 && strcmp(type, "KinesisStreamAsSource") != 0) {
        return err_set(err, SL_E(VALIDATION),
                       "1 validation error detected: Value '%s' at 'deliveryStreamType' failed to "
                       "satisfy constraint: Member must satisfy enum value set: [DirectPut, "
                       "KinesisStreamAsSource, MSKAsSource, DatabaseAsSource]",
                       type);
    }
    req->type = type;
    req->kinesis = strcmp(type, "KinesisStreamAsSource") == 0;
    req->ksrc = json_object_get(in, "KinesisStreamSourceConfiguration");
    if (req->kinesis && !json_is_object(req->ksrc)) {
        return err_set(err, SL_E(INVALID_ARGUMENT),
                       "KinesisStreamSourceConfiguration is required when DeliveryStreamType is "
                       "KinesisStreamAsSource.");
    }
    if (!req->kinesis && req->ksrc != NULL) {
        return err_set(err, SL_E(INVALID_ARGUMENT),
                       "KinesisStreamSourceConfiguration is only allowed when DeliveryStreamType "
                       "is KinesisStreamAsSource.");
    }
    /* Exactly one destination, and one Sluice delivers to. */
    int n_dest = 0;
    const char *dest_member = NULL;
    for (size_t i = 0; i < sizeof(destination_members) / sizeof(destination_members[0]); i++) {
        json_t *d = json_object_get(in, destination_members[i]);
        if (d != NULL && !json_is_null(d)) {
            n_dest++;
            dest_member = destination_members[i];
        }
    }
    if (n_dest != 1) {
        return err_set(err, SL_E(INVALID_ARGUMENT),
                       "Exactly one destination configuration is supported for a Firehose");
    }
    if (strcmp(dest_member, "S3DestinationConfiguration") != 0 &&
        strcmp(dest_member, "ExtendedS3DestinationConfiguration") != 0) {
        return err_set(err, SL_E(INVALID_ARGUMENT),
                       "%s is not supported by Sluice; use ExtendedS3DestinationConfiguration or "
                       "S3DestinationConfiguration.",
                       dest_member);
    }
    req->dest_member = dest_member;
    req->tags = json_object_get(in, "Tags");
    if (req->tags != NULL && (rc = check_tags(req->tags, "tags", err)) < 0) {
        return rc;
    }
    json_t *enc_in = json_object_get(in, "DeliveryStreamEncryptionConfigurationInput");
    if (enc_in == NULL) {
        req->enc = json_pack("{s:s}", "Status", "DISABLED");
        return 0;
    }
    if (req->kinesis) {
        return err_set(err, SL_E(INVALID_ARGUMENT),
                       "Server-side encryption is not supported for delivery streams with "
                       "KinesisStreamAsSource as the source.");
    }
    return encryption_input(enc_in, &req->enc, err);
}

/* For a KinesisStreamAsSource request: checks the source configuration, takes a reference
   to the stream (req->ks), builds the source description and its stored text, and takes
   each shard's LATEST position now (req->shards, req->latest), before the store's lock,
   for the stream service is never called with it held. What it has set on failure stays
   owned by req. Returns 0, SL_E(VALIDATION) when the stream ARN or role is missing,
   SL_E(INVALID_ARGUMENT) when the stream does not exist. */
static int create_source(struct delivery_service *svc, struct create_req *req, struct err_info *err)
{
    const char *karn = str_member(req->ksrc, "KinesisStreamARN");
    const char *role = str_member(req->ksrc, "RoleARN");
    if (karn == NULL || role == NULL) {
        return err_set(err, SL_E(VALIDATION),
                       "1 validation error detected: Value null at "
                       "'kinesisStreamSourceConfiguration.%s' failed to satisfy constraint: "
                       "Member must not be null",
                       karn == NULL ? "kinesisStreamARN" : "roleARN");
    }
    if (stream_lookup_arn(svc->streams, karn, &req->ks) < 0) {
        return err_set(err, SL_E(INVALID_ARGUMENT), "Kinesis stream %s does not exist.", karn);
    }
    req->source = json_pack("{s:s,s:s,s:f}", "KinesisStreamARN", karn, "RoleARN", role,
                            "DeliveryStartTimestamp", (double)req->now_ms / 1000.0);
    req->source_text = json_dumps(req->source, JSON_COMPACT);
    /* AWS starts reading at LATEST. */
    stream_shards_list(req->ks, &req->shards, &req->n_shards);
    req->latest = xcalloc(req->n_shards + 1, sizeof(*req->latest));
    for (size_t i = 0; i < req->n_shards; i++) {
        struct stream_shard_state state;
        req->latest[i] = stream_shard_state(req->ks, req->shards[i].shard_idx, &state) == 0
                             ? state.durable_index
                             : 0;
    }
    return 0;
}

/* Allocates the stream's rows in one transaction under the store's lock: checks the name
   is free and the quota not reached, inserts the stream row, its tags and one starting
   position per source shard, and sets req->id. On failure the transaction is rolled back.
   Returns 0, SL_E(RESOURCE_IN_USE) when the name is taken, SL_E(LIMIT_EXCEEDED) at the
   quota, or a store error (store_err) or tags_put's. */
static int create_rows(struct delivery_service *svc, const struct delivery_scope *sc,
                       struct create_req *req, struct err_info *err)
{
    int rc;
    store_lock(svc->st);
    if ((rc = store_begin(svc->st)) < 0) {
        store_unlock(svc->st);
        return store_err(err, rc);
    }
    struct store_stmt *s =
        store_prepare_args(svc->st,
                           "SELECT (SELECT COUNT(*) FROM delivery_stream WHERE region=? AND"
                           " account=? AND name=?), (SELECT COUNT(*) FROM delivery_stream"
                           " WHERE region=? AND account=?)",
                           "sssss", sc->region, sc->account, req->name, sc->region, sc->account);
    int64_t exists = 0, count = 0;
    if (s != NULL && store_step(s) == 1) {
        exists = store_col_int64(s, 0);
        count = store_col_int64(s, 1);
    }
    store_finalize(s);
    if (exists) {
        rc = err_set(err, SL_E(RESOURCE_IN_USE), "Firehose %s under accountId %s already exists",
                     req->name, sc->account);
    } else if (count >= svc->max_streams) {
        rc =
            err_set(err, SL_E(LIMIT_EXCEEDED),
                    "You have already consumed your firehose quota of %d hoses.", svc->max_streams);
    } else {
        rc = store_run(
            svc->st,
            "INSERT INTO delivery_stream(region, account, name, type, source_doc, dest_doc,"
            " enc_doc, version, created_ms, updated_ms) VALUES(?,?,?,?,?,?,?,1,?,?)",
            "sssssssii", sc->region, sc->account, req->name, req->type, req->source_text,
            req->dest_text, req->enc_text, req->now_ms, req->now_ms);
        if (rc < 0) {
            rc = store_err(err, rc);
        } else {
            req->id = store_last_rowid(svc->st);
        }
    }
    if (rc == 0 && req->tags != NULL) {
        rc = tags_put(svc, req->id, req->tags, err);
    }
    for (size_t i = 0; rc == 0 && i < req->n_shards; i++) {
        rc = store_run(svc->st,
                       "INSERT INTO delivery_position(stream_id, source, next_index) VALUES(?,?,?)",
                       "iii", req->id, (int64_t)req->shards[i].shard_idx, (int64_t)req->latest[i]);
        if (rc < 0) {
            rc = store_err(err, rc);
        }
    }
    if (rc == 0 && (rc = store_commit(svc->st)) < 0) {
        rc = store_err(err, rc);
    }
    if (rc < 0) {
        store_rollback(svc->st);
    }
    store_unlock(svc->st);
    return rc;
}

/* Publishes the stored stream: loads it into the running service (dstream_load) and
   answers its ARN in *out (OUT, a new reference). If it cannot be started the rows go
   again, so the stream is never half there. Returns 0 or SL_E(INTERNAL). */
static int create_publish(struct delivery_service *svc, const struct delivery_scope *sc,
                          const struct create_req *req, json_t **out, struct err_info *err)
{
    int rc = dstream_load(svc, req->id, sc->region, sc->account, req->name, req->type,
                          req->source_text, req->dest_text, req->enc_text, 1, req->now_ms);
    if (rc < 0) {
        store_lock(svc->st);
        store_run(svc->st, "DELETE FROM delivery_stream WHERE id=?", "i", req->id);
        store_run(svc->st, "DELETE FROM delivery_tag WHERE stream_id=?", "i", req->id);
        store_run(svc->st, "DELETE FROM delivery_position WHERE stream_id=?", "i", req->id);
        store_unlock(svc->st);
        return err_set(err, SL_E(INTERNAL), "The delivery stream could not be started.");
    }
    *out = json_object();
    json_object_set_new(*out, "DeliveryStreamARN",
                        json_sprintf("arn:aws:firehose:%s:%s:deliverystream/%s", sc->region,
                                     sc->account, req->name));
    return 0;
}

/* CreateDeliveryStream by phases: validate and normalise, describe the destination,
   capture a Kinesis source, allocate the rows, publish. */
int delivery__create(struct delivery_service *svc, const struct delivery_scope *sc,
                     const json_t *in, json_t **out, struct err_info *err)
{
    struct create_req req = {0};
    int rc = create_validate(in, &req, err);
    if (rc < 0) {
        return rc;
    }
    const char *path = strcmp(req.dest_member, "S3DestinationConfiguration") == 0
                           ? "s3DestinationConfiguration"
                           : "extendedS3DestinationConfiguration";
    if ((rc = delivery__dest_describe(json_object_get(in, req.dest_member), path, &req.desc, err)) <
        0) {
        goto out_free_enc;
    }
    const char *roles[] = {
        str_member(json_object_get(in, req.dest_member), "RoleARN"),
        req.kinesis ? str_member(req.ksrc, "RoleARN") : NULL,
    };
    if ((rc = roles_assumable(svc, roles, 2, err)) < 0) {
        goto out_free_desc;
    }
    req.now_ms = delivery__now_ms(svc);
    if (req.kinesis && (rc = create_source(svc, &req, err)) < 0) {
        goto out_release_source;
    }
    req.dest_text = json_dumps(req.desc, JSON_COMPACT);
    req.enc_text = json_dumps(req.enc, JSON_COMPACT);
    if ((rc = create_rows(svc, sc, &req, err)) < 0) {
        goto out_free_texts;
    }
    rc = create_publish(svc, sc, &req, out, err);
out_free_texts:
    free(req.dest_text);
    free(req.enc_text);
out_release_source:
    free(req.shards);
    free(req.latest);
    stream_release(req.ks);
    free(req.source_text);
    json_decref(req.source);
out_free_desc:
    json_decref(req.desc);
out_free_enc:
    json_decref(req.enc);
    return rc;
}

/* A stored row, as Describe and Update read it. */
struct row {
    int64_t id;
    char *type, *source_doc, *dest_doc, *enc_doc;
    int version;
    int64_t created_ms, updated_ms;
};

static void row_fini(struct row *r)
{
    free(r->type);
    free(r->source_doc);
    free(r->dest_doc);
    free(r->enc_doc);
}

/* Reads the row of name (inside a bracket or the lock). 0, SL_E(RESOURCE_NOT_FOUND). */
static int row_get(struct delivery_service *svc, const struct delivery_scope *sc, const char *name,
                   struct row *r, struct err_info *err)
{
    memset(r, 0, sizeof(*r));
    struct store_stmt *s =
        store_prepare_args(svc->st,
                           "SELECT id, type, source_doc, dest_doc, enc_doc, version,"
                           " created_ms, updated_ms FROM delivery_stream WHERE region=? AND"
                           " account=? AND name=?",
                           "sss", sc->region, sc->account, name);
    if (s == NULL) {
        return store_err(err, SL_E(IO));
    }
    int rc = store_step(s);
    if (rc == 1) {
        r->id = store_col_int64(s, 0);
        const char *t;
        r->type = xstrdup(store_col_text(s, 1));
        r->source_doc = (t = store_col_text(s, 2)) != NULL ? xstrdup(t) : NULL;
        r->dest_doc = xstrdup(store_col_text(s, 3));
        r->enc_doc = xstrdup(store_col_text(s, 4));
        r->version = (int)store_col_int64(s, 5);
        r->created_ms = store_col_int64(s, 6);
        r->updated_ms = store_col_int64(s, 7);
    }
    store_finalize(s);
    if (rc < 0) {
        return store_err(err, rc);
    }
    if (rc == 0) {
        return delivery__not_found(err, name, sc->account);
    }
    return 0;
}

int delivery__describe(struct delivery_service *svc, const struct delivery_scope *sc,
                       const json_t *in, json_t **out, struct err_info *err)
{
    const char *name;
    int rc = check_name(in, &name, err);
    if (rc < 0) {
        return rc;
    }
    struct row r;
    store_read_begin(svc->st);
    rc = row_get(svc, sc, name, &r, err);
    store_read_end(svc->st);
    if (rc < 0) {
        return rc;
    }
    json_t *d = json_object();
    json_object_set_new(d, "DeliveryStreamName", json_string(name));
    json_object_set_new(
        d, "DeliveryStreamARN",
        json_sprintf("arn:aws:firehose:%s:%s:deliverystream/%s", sc->region, sc->account, name));
    int creating = delivery__now_ms(svc) < r.created_ms + svc->cfg->stream_transition_ms;
    json_object_set_new(d, "DeliveryStreamStatus", json_string(creating ? "CREATING" : "ACTIVE"));
    json_t *enc = json_loads(r.enc_doc, 0, NULL);
    json_object_set_new(d, "DeliveryStreamEncryptionConfiguration",
                        enc != NULL ? enc : json_pack("{s:s}", "Status", "DISABLED"));
    json_object_set_new(d, "DeliveryStreamType", json_string(r.type));
    json_object_set_new(d, "VersionId", json_sprintf("%d", r.version));
    json_object_set_new(d, "CreateTimestamp", json_real((double)r.created_ms / 1000.0));
    if (r.version > 1) {
        json_object_set_new(d, "LastUpdateTimestamp", json_real((double)r.updated_ms / 1000.0));
    }
    if (r.source_doc != NULL) {
        json_t *src = json_loads(r.source_doc, 0, NULL);
        if (src != NULL) {
            json_object_set_new(d, "Source",
                                json_pack("{s:o}", "KinesisStreamSourceDescription", src));
        }
    }
    json_t *desc = json_loads(r.dest_doc, 0, NULL);
    json_t *dests = json_array();
    if (desc != NULL) {
        json_array_append_new(dests,
                              json_pack("{s:s,s:o,s:o}", "DestinationId", DELIVERY_DESTINATION_ID,
                                        "S3DestinationDescription", delivery__dest_s3_view(desc),
                                        "ExtendedS3DestinationDescription", desc));
    }
    json_object_set_new(d, "Destinations", dests);
    json_object_set_new(d, "HasMoreDestinations", json_false());
    row_fini(&r);
    *out = json_pack("{s:o}", "DeliveryStreamDescription", d);
    return 0;
}

int delivery__list(struct delivery_service *svc, const struct delivery_scope *sc, const json_t *in,
                   json_t **out, struct err_info *err)
{
    json_t *limit_v = json_object_get(in, "Limit");
    json_int_t limit = 10;
    if (limit_v != NULL) {
        limit = json_integer_value(limit_v);
        if (limit < 1 || limit > 10000) {
            return err_set(err, SL_E(VALIDATION),
                           "1 validation error detected: Value '%lld' at 'limit' failed to "
                           "satisfy constraint: Member must have value %s",
                           (long long)limit,
                           limit < 1 ? "greater than or equal to 1"
                                     : "less than or equal to 10000");
        }
    }
    const char *type = str_member(in, "DeliveryStreamType");
    if (type != NULL && strcmp(type, "DirectPut") != 0 &&
        strcmp(type, "KinesisStreamAsSource") != 0 && strcmp(type, "MSKAsSource") != 0 &&
        strcmp(type, "DatabaseAsSource") != 0) {
        return err_set(err, SL_E(VALIDATION),
                       "1 validation error detected: Value '%s' at 'deliveryStreamType' failed to "
                       "satisfy constraint: Member must satisfy enum value set: [DirectPut, "
                       "KinesisStreamAsSource, MSKAsSource, DatabaseAsSource]",
                       type);
    }
    const char *start = str_member(in, "ExclusiveStartDeliveryStreamName");
    store_read_begin(svc->st);
    struct store_stmt *s = store_prepare_args(
        svc->st,
        "SELECT name FROM delivery_stream WHERE region=? AND account=?"
        " AND (? IS NULL OR type=?) AND (? IS NULL OR name>?)"
        " ORDER BY name LIMIT ?",
        "ssssssi", sc->region, sc->account, type, type, start, start, (int64_t)limit + 1);
    json_t *names = json_array();
    int more = 0;
    while (s != NULL && store_step(s) == 1) {
        if ((json_int_t)json_array_size(names) == limit) {
            more = 1;
            break;
        }
        json_array_append_new(names, json_string(store_col_text(s, 0)));
    }
    store_finalize(s);
    store_read_end(svc->st);
    if (s == NULL) {
        json_decref(names);
        return store_err(err, SL_E(IO));
    }
    *out = json_pack("{s:o,s:b}", "DeliveryStreamNames", names, "HasMoreDeliveryStreams", more);
    return 0;
}

int delivery__delete(struct delivery_service *svc, const struct delivery_scope *sc,
                     const json_t *in, json_t **out, struct err_info *err)
{
    const char *name;
    int rc = check_name(in, &name, err);
    if (rc < 0) {
        return rc;
    }
    /* AllowForceDelete only matters for KMS failures, which cannot happen here. AWS
       refuses to delete a delivery stream that is still CREATING. */
    int64_t now = delivery__now_ms(svc);
    int creating = 0;
    pthread_mutex_lock(&svc->mu);
    struct dstream **pp = &svc->list, *ds = NULL;
    for (; *pp != NULL; pp = &(*pp)->next) {
        if (strcmp((*pp)->region, sc->region) == 0 && strcmp((*pp)->name, name) == 0 &&
            strcmp((*pp)->account, sc->account) == 0) {
            ds = *pp;
            creating = now < ds->created_ms + svc->cfg->stream_transition_ms;
            if (!creating) {
                *pp = ds->next;
            }
            break;
        }
    }
    pthread_mutex_unlock(&svc->mu);
    if (ds == NULL) {
        return delivery__not_found(err, name, sc->account);
    }
    if (creating) {
        return err_set(err, SL_E(RESOURCE_IN_USE),
                       "Firehose %s under account %s is in CREATING state and cannot be deleted.",
                       name, sc->account);
    }
    delivery__engine_stop(ds);
    int64_t id = ds->id;
    store_lock(svc->st);
    rc = store_begin(svc->st);
    if (rc == 0) {
        rc = store_run(svc->st, "DELETE FROM delivery_stream WHERE id=?", "i", id);
    }
    if (rc == 0) {
        rc = store_run(svc->st, "DELETE FROM delivery_tag WHERE stream_id=?", "i", id);
    }
    if (rc == 0) {
        rc = store_run(svc->st, "DELETE FROM delivery_position WHERE stream_id=?", "i", id);
    }
    if (rc == 0) {
        rc = store_commit(svc->st);
    } else {
        store_rollback(svc->st);
    }
    store_unlock(svc->st);
    /* The log's files go when the last reference (a PutRecord still running) is let go. */
    ds->remove_dir = rc == 0 && ds->log != NULL;
    delivery__release(ds);
    if (rc < 0) {
        return store_err(err, rc);
    }
    *out = json_object();
    return 0;
}

/* Merges src into dst member-wise (objects recursively, anything else replaced). */
static void merge(json_t *dst, const json_t *src)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)src, key, v)
    {
        json_t *cur = json_object_get(dst, key);
        if (json_is_object(v) && json_is_object(cur)) {
            merge(cur, v);
        } else {
            json_object_set_new(dst, key, json_deep_copy(v));
        }
    }
}

int delivery__update_destination(struct delivery_service *svc, const struct delivery_scope *sc,
                                 const json_t *in, json_t **out, struct err_info *err)
{
    const char *name;
    int rc = check_name(in, &name, err);
    if (rc < 0) {
        return rc;
    }
    const char *version = str_member(in, "CurrentDeliveryStreamVersionId");
    const char *dest_id = str_member(in, "DestinationId");
    if (version == NULL || dest_id == NULL) {
        return err_set(err, SL_E(VALIDATION),
                       "1 validation error detected: Value null at '%s' failed to satisfy "
                       "constraint: Member must not be null",
                       version == NULL ? "currentDeliveryStreamVersionId" : "destinationId");
    }
    json_t *upd = json_object_get(in, "ExtendedS3DestinationUpdate");
    const char *path = "extendedS3DestinationUpdate";
    if (upd == NULL) {
        upd = json_object_get(in, "S3DestinationUpdate");
        path = "s3DestinationUpdate";
    }
    const char *role = str_member(upd, "RoleARN");
    if ((rc = roles_assumable(svc, &role, 1, err)) < 0) {
        return rc;
    }
    struct row r;
    json_t *conf = NULL, *desc = NULL;
    char *dest_text = NULL;
    store_lock(svc->st);
    if ((rc = row_get(svc, sc, name, &r, err)) < 0) {
        store_unlock(svc->st);
        return rc;
    }
    char cur[24];
    snprintf(cur, sizeof(cur), "%d", r.version);
    if (strcmp(cur, version) != 0) {
        rc = err_set(err, SL_E(CONCURRENT_MODIFICATION),
                     "Cannot update firehose: %s since the current version id: %s and specified "
                     "version id: %s do not match",
                     name, cur, version);
        goto out;
    }
    if (strcmp(dest_id, DELIVERY_DESTINATION_ID) != 0) {
        rc = err_set(err, SL_E(INVALID_ARGUMENT), "Destination Id %s not found", dest_id);
        goto out;
    }
    if (!json_is_object(upd)) {
        rc = err_set(err, SL_E(INVALID_ARGUMENT),
                     "Exactly one destination update is required; Sluice supports "
                     "ExtendedS3DestinationUpdate and S3DestinationUpdate.");
        goto out;
    }
    conf = json_loads(r.dest_doc, 0, NULL);
    if (conf == NULL) {
        rc = err_set(err, SL_E(INTERNAL), "The stored configuration is damaged.");
        goto out;
    }
    json_t *old_dp = json_object_get(conf, "DynamicPartitioningConfiguration");
    int old_partitioning = json_is_true(json_object_get(old_dp, "Enabled"));
    json_t *new_dp = json_object_get(upd, "DynamicPartitioningConfiguration");
    if (json_is_object(new_dp) && json_object_get(new_dp, "Enabled") != NULL &&
        json_is_true(json_object_get(new_dp, "Enabled")) != old_partitioning) {
        rc = err_set(err, SL_E(INVALID_ARGUMENT),
                     "Dynamic partitioning can only be enabled when the delivery stream is "
                     "created, and cannot be disabled.");
        goto out;
    }
    /* Source record backup cannot be disabled once enabled (AWS's "Back up source
       records"). */
    const char *old_backup = json_string_value(json_object_get(conf, "S3BackupMode"));
    const char *new_backup = json_string_value(json_object_get(upd, "S3BackupMode"));
    if (old_backup != NULL && strcmp(old_backup, "Enabled") == 0 && new_backup != NULL &&
        strcmp(new_backup, "Enabled") != 0) {
        rc = err_set(err, SL_E(INVALID_ARGUMENT),
                     "Source record backup cannot be disabled after it is enabled: "
                     "S3BackupMode can't be changed from Enabled to %s.",
                     new_backup);
        goto out;
    }
    /* The description's backup member is the configuration's. */
    json_t *backup = json_object_get(conf, "S3BackupDescription");
    if (backup != NULL) {
        json_object_set(conf, "S3BackupConfiguration", backup);
        json_object_del(conf, "S3BackupDescription");
    }
    json_t *upd_copy = json_deep_copy(upd);
    json_t *backup_upd = json_object_get(upd_copy, "S3BackupUpdate");
    if (backup_upd != NULL) {
        json_object_set(upd_copy, "S3BackupConfiguration", backup_upd);
        json_object_del(upd_copy, "S3BackupUpdate");
    }
    merge(conf, upd_copy);
    json_decref(upd_copy);
    if ((rc = delivery__dest_describe(conf, path, &desc, err)) < 0) {
        goto out;
    }
    dest_text = json_dumps(desc, JSON_COMPACT);
    int64_t now = delivery__now_ms(svc);
    rc = store_run(
        svc->st,
        "UPDATE delivery_stream SET dest_doc=?, version=version+1, updated_ms=? WHERE id=?", "sii",
        dest_text, now, r.id);
    if (rc < 0) {
        rc = store_err(err, rc);
    }
out:
    store_unlock(svc->st);
    if (rc == 0) {
        struct dstream *ds = delivery__find(svc, sc->region, name);
        if (ds != NULL) {
            struct delivery_dest parsed;
            if (delivery__dest_parse(desc, &parsed) == 0) {
                pthread_mutex_lock(&ds->mu);
                delivery__dest_fini(&ds->dest);
                ds->dest = parsed;
                ds->version = r.version + 1;
                pthread_cond_broadcast(&ds->cond);
                pthread_cond_broadcast(&ds->space);
                pthread_mutex_unlock(&ds->mu);
            }
            delivery__release(ds);
        }
        *out = json_object();
    }
    row_fini(&r);
    json_decref(conf);
    json_decref(desc);
    free(dest_text);
    return rc;
}

int delivery__tag(struct delivery_service *svc, const struct delivery_scope *sc, const json_t *in,
                  json_t **out, struct err_info *err)
{
    const char *name;
    int rc = check_name(in, &name, err);
    if (rc < 0) {
        return rc;
    }
    json_t *tags = json_object_get(in, "Tags");
    if (tags == NULL) {
        return err_set(err, SL_E(VALIDATION),
                       "1 validation error detected: Value null at 'tags' failed to satisfy "
                       "constraint: Member must not be null");
    }
    if ((rc = check_tags(tags, "tags", err)) < 0) {
        return rc;
    }
    struct row r;
    store_lock(svc->st);
    rc = row_get(svc, sc, name, &r, err);
    if (rc == 0) {
        if ((rc = store_begin(svc->st)) < 0) {
            rc = store_err(err, rc);
        } else if ((rc = tags_put(svc, r.id, tags, err)) < 0) {
            store_rollback(svc->st);
        } else if ((rc = store_commit(svc->st)) < 0) {
            rc = store_err(err, rc);
            store_rollback(svc->st);
        }
        row_fini(&r);
    }
    store_unlock(svc->st);
    if (rc == 0) {
        *out = json_object();
    }
    return rc;
}

int delivery__untag(struct delivery_service *svc, const struct delivery_scope *sc, const json_t *in,
                    json_t **out, struct err_info *err)
{
    const char *name;
    int rc = check_name(in, &name, err);
    if (rc < 0) {
        return rc;
    }
    json_t *keys = json_object_get(in, "TagKeys");
    size_t n = json_array_size(keys);
    if (n < 1 || n > DELIVERY_TAGS_MAX) {
        return err_set(err, SL_E(VALIDATION),
                       "1 validation error detected: Value at 'tagKeys' failed to satisfy "
                       "constraint: Member must have length %s",
                       n < 1 ? "greater than or equal to 1" : "less than or equal to 50");
    }
    struct row r;
    store_lock(svc->st);
    rc = row_get(svc, sc, name, &r, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *k = json_string_value(json_array_get(keys, i));
        if (k != NULL &&
            (rc = store_run(svc->st, "DELETE FROM delivery_tag WHERE stream_id=? AND key=?", "is",
                            r.id, k)) < 0) {
            rc = store_err(err, rc);
        }
    }
    if (r.type != NULL) {
        row_fini(&r);
    }
    store_unlock(svc->st);
    if (rc == 0) {
        *out = json_object();
    }
    return rc;
}

int delivery__list_tags(struct delivery_service *svc, const struct delivery_scope *sc,
                        const json_t *in, json_t **out, struct err_info *err)
{
    const char *name;
    int rc = check_name(in, &name, err);
    if (rc < 0) {
        return rc;
    }
    json_int_t limit = 50;
    json_t *lv = json_object_get(in, "Limit");
    if (lv != NULL) {
        limit = json_integer_value(lv);
        if (limit < 1 || limit > 50) {
            return err_set(err, SL_E(VALIDATION),
                           "1 validation error detected: Value '%lld' at 'limit' failed to "
                           "satisfy constraint: Member must have value %s",
                           (long long)limit,
                           limit < 1 ? "greater than or equal to 1" : "less than or equal to 50");
        }
    }
    const char *start = str_member(in, "ExclusiveStartTagKey");
    struct row r;
    store_read_begin(svc->st);
    rc = row_get(svc, sc, name, &r, err);
    json_t *tags = json_array();
    int more = 0;
    if (rc == 0) {
        struct store_stmt *s =
            store_prepare_args(svc->st,
                               "SELECT key, value FROM delivery_tag WHERE stream_id=? AND"
                               " (? IS NULL OR key>?) ORDER BY key",
                               "iss", r.id, start, start);
        while (s != NULL && store_step(s) == 1) {
            if ((json_int_t)json_array_size(tags) == limit) {
                more = 1;
                break;
            }
            json_array_append_new(tags, json_pack("{s:s,s:s}", "Key", store_col_text(s, 0), "Value",
                                                  store_col_text(s, 1)));
        }
        store_finalize(s);
        row_fini(&r);
    }
    store_read_end(svc->st);
    if (rc < 0) {
        json_decref(tags);
        return rc;
    }
    *out = json_pack("{s:o,s:b}", "Tags", tags, "HasMoreTags", more);
    return 0;
}

int delivery__encryption(struct delivery_service *svc, const struct delivery_scope *sc,
                         const json_t *in, int start, json_t **out, struct err_info *err)
{
    const char *name;
    int rc = check_name(in, &name, err);
    if (rc < 0) {
        return rc;
    }
    json_t *enc = NULL;
    if (start) {
        json_t *conf = json_object_get(in, "DeliveryStreamEncryptionConfigurationInput");
        if (conf == NULL) {
            enc = json_pack("{s:s,s:s}", "KeyType", "AWS_OWNED_CMK", "Status", "ENABLED");
        } else if ((rc = encryption_input(conf, &enc, err)) < 0) {
            return rc;
        }
    } else {
        enc = json_pack("{s:s}", "Status", "DISABLED");
    }
    struct row r;
    store_lock(svc->st);
    rc = row_get(svc, sc, name, &r, err);
    if (rc == 0) {
        if (strcmp(r.type, "KinesisStreamAsSource") == 0) {
            rc = err_set(err, SL_E(INVALID_ARGUMENT),
                         "Server-side encryption is not supported for delivery streams with "
                         "KinesisStreamAsSource as the source.");
        } else {
            char *text = json_dumps(enc, JSON_COMPACT);
            rc = store_run(svc->st, "UPDATE delivery_stream SET enc_doc=? WHERE id=?", "si", text,
                           r.id);
            free(text);
            if (rc < 0) {
                rc = store_err(err, rc);
            }
        }
        row_fini(&r);
    }
    store_unlock(svc->st);
    json_decref(enc);
    if (rc < 0) {
        return rc;
    }
    struct dstream *ds = delivery__find(svc, sc->region, name);
    if (ds != NULL) {
        pthread_mutex_lock(&ds->mu);
        ds->encrypted = start;
        pthread_mutex_unlock(&ds->mu);
        delivery__release(ds);
    }
    *out = json_object();
    return 0;
}

/* ---- records ---- */

int delivery__put(struct delivery_service *svc, const struct delivery_scope *sc, const char *name,
                  const struct delivery_record_in *recs, size_t n,
                  char (*record_ids)[DELIVERY_RECORD_ID_LEN + 1], int *encrypted,
                  struct err_info *err)
{
    struct dstream *ds = delivery__find(svc, sc->region, name);
    if (ds == NULL || strcmp(ds->account, sc->account) != 0) {
        delivery__release(ds);
        return delivery__not_found(err, name, sc->account);
    }
    int rc = 0;
    if (delivery__now_ms(svc) < ds->created_ms + svc->cfg->stream_transition_ms) {
        /* "Attempts to send data to a delivery stream that is not in the ACTIVE state
           cause an exception": until then the data plane does not know it. */
        rc = delivery__not_found(err, name, sc->account);
        goto out;
    }
    if (ds->kinesis_source) {
        rc = err_set(err, SL_E(INVALID_ARGUMENT),
                     "This operation is not permitted on KinesisStreamAsSource delivery stream "
                     "type.");
        goto out;
    }
    struct seglog_record_in stack_in[16];
    struct seglog_record_in *in = n <= 16 ? stack_in : try_malloc(n * sizeof(*in));
    if (in == NULL) {
        atomic_fetch_add(&ds->c_throttled_records, n);
        rc = err_set(err, SL_E(UNAVAILABLE), "Slow down.");
        goto out;
    }
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        in[i] = (struct seglog_record_in){
            .data = recs[i].data, .data_len = recs[i].data_len, .partition_key = "-", .pk_len = 1};
        bytes += recs[i].data_len;
    }
    uint64_t first = 0;
    int64_t arrival = 0;
    rc = seglog_append(ds->log, in, n, delivery__now_ms(svc), &first, &arrival);
    if (rc == 0) {
        rc = seglog_sync(ds->log, first + n);
    }
    if (in != stack_in) {
        free(in);
    }
    if (rc < 0) {
        log_msg(LOG_ERROR, "delivery", "delivery stream %s: the internal log failed: %s", name,
                sl_strerror(rc));
        atomic_fetch_add(&ds->c_throttled_records, n);
        rc = err_set(err, SL_E(UNAVAILABLE), "The internal log of %s failed; retry later.", name);
        goto out;
    }
    atomic_fetch_add(&ds->c_in_records, n);
    atomic_fetch_add(&ds->c_in_bytes, bytes);
    atomic_fetch_add(&ds->c_put_requests, 1);
    delivery__log_grew(ds);
    /* Record ids: the stream's id, the record's index and random bits, in hex. */
    for (size_t i = 0; i < n; i++) {
        uint8_t rnd[16];
        crypto_random(rnd, sizeof(rnd));
        char hex[33];
        hex_encode(rnd, sizeof(rnd), hex);
        snprintf(record_ids[i], DELIVERY_RECORD_ID_LEN + 1, "%016llx%016llx%s",
                 (unsigned long long)ds->id, (unsigned long long)(first + i), hex);
    }
    pthread_mutex_lock(&ds->mu);
    *encrypted = ds->encrypted;
    pthread_mutex_unlock(&ds->mu);
out:
    delivery__release(ds);
    return rc;
}

void delivery__count_put(struct delivery_service *svc, const struct delivery_scope *sc,
                         const char *name, int batch, size_t n_records, uint64_t bytes,
                         int64_t started_ns)
{
    struct dstream *ds = delivery__find(svc, sc->region, name);
    if (ds == NULL) {
        return; /* deleted meanwhile */
    }
    int op = batch ? 1 : 0;
    atomic_fetch_add(&ds->c_op_requests[op], 1);
    atomic_fetch_add(&ds->c_op_records[op], n_records);
    atomic_fetch_add(&ds->c_op_bytes[op], bytes);
    double ms = (double)(clock_mono_ns() - started_ns) / 1e6;
    pthread_mutex_lock(&ds->lat_mu);
    struct delivery_latency *l = &ds->lat[op];
    l->min = l->count == 0 || ms < l->min ? ms : l->min;
    l->max = l->count == 0 || ms > l->max ? ms : l->max;
    l->count++;
    l->sum += ms;
    pthread_mutex_unlock(&ds->lat_mu);
    delivery__release(ds);
}

int delivery_stream_latency_take(struct delivery_service *svc, const char *region, const char *name,
                                 struct delivery_latency out[2])
{
    struct dstream *ds = delivery__find(svc, region, name);
    if (ds == NULL) {
        return SL_E(RESOURCE_NOT_FOUND);
    }
    pthread_mutex_lock(&ds->lat_mu);
    memcpy(out, ds->lat, sizeof(ds->lat));
    memset(ds->lat, 0, sizeof(ds->lat));
    pthread_mutex_unlock(&ds->lat_mu);
    delivery__release(ds);
    return 0;
}

/* ---- flush and counters ---- */

int delivery_stream_counters(struct delivery_service *svc, const char *region, const char *name,
                             struct delivery_counters *out)
{
    struct dstream *ds = delivery__find(svc, region, name);
    if (ds == NULL) {
        return SL_E(RESOURCE_NOT_FOUND);
    }
    out->incoming_records = atomic_load(&ds->c_in_records);
    out->incoming_bytes = atomic_load(&ds->c_in_bytes);
    out->s3_records = atomic_load(&ds->c_s3_records);
    out->s3_bytes = atomic_load(&ds->c_s3_bytes);
    out->s3_objects = atomic_load(&ds->c_s3_objects);
    out->s3_attempts = atomic_load(&ds->c_s3_attempts);
    out->s3_successes = atomic_load(&ds->c_s3_successes);
    out->s3_data_freshness_ms = atomic_load(&ds->c_freshness_ms);
    out->conv_ok_records = atomic_load(&ds->c_conv_ok_records);
    out->conv_ok_bytes = atomic_load(&ds->c_conv_ok_bytes);
    out->conv_failed_records = atomic_load(&ds->c_conv_failed_records);
    out->conv_failed_bytes = atomic_load(&ds->c_conv_failed_bytes);
    out->proc_invocations = atomic_load(&ds->c_proc_invocations);
    out->proc_answered = atomic_load(&ds->c_proc_answered);
    out->proc_ms = atomic_load(&ds->c_proc_ns) / 1000000;
    out->proc_ok_records = atomic_load(&ds->c_proc_ok_records);
    out->proc_ok_bytes = atomic_load(&ds->c_proc_ok_bytes);
    out->proc_failed_records = atomic_load(&ds->c_proc_failed_records);
    out->kinesis_records = ds->kinesis_source ? out->incoming_records : 0;
    out->kinesis_bytes = ds->kinesis_source ? out->incoming_bytes : 0;
    out->kinesis_behind_ms = atomic_load(&ds->c_behind_ms);
    out->partition_count = atomic_load(&ds->c_partition_count);
    out->partition_exceeded = atomic_load(&ds->c_partition_exceeded);
    out->jq_ms = atomic_load(&ds->c_jq_ns) / 1000000;
    out->backup_records = atomic_load(&ds->c_backup_records);
    out->backup_bytes = atomic_load(&ds->c_backup_bytes);
    out->backup_attempts = atomic_load(&ds->c_backup_attempts);
    out->backup_successes = atomic_load(&ds->c_backup_successes);
    out->backup_data_freshness_ms = atomic_load(&ds->c_backup_freshness_ms);
    out->decompression_failed_records = atomic_load(&ds->c_decomp_failed_records);
    out->cwl_control_dropped = atomic_load(&ds->c_cwl_control_dropped);
    out->put_requests = atomic_load(&ds->c_put_requests);
    out->throttled_records = atomic_load(&ds->c_throttled_records);
    for (int op = 0; op < 2; op++) {
        out->op_requests[op] = atomic_load(&ds->c_op_requests[op]);
        out->op_records[op] = atomic_load(&ds->c_op_records[op]);
        out->op_bytes[op] = atomic_load(&ds->c_op_bytes[op]);
    }
    pthread_mutex_lock(&ds->mu);
    out->buffered_records = ds->buf_records;
    out->buffered_bytes = ds->buf.len;
    pthread_mutex_unlock(&ds->mu);
    delivery__release(ds);
    return 0;
}

/* Which groups of metrics a delivery stream has, from its destination (ds->mu taken). */
enum {
    M_ALL = 0,
    M_KINESIS = 1,
    M_LAMBDA = 2,
    M_CONVERSION = 4,
    M_PARTITIONING = 8,
    M_BACKUP = 16,
    M_DIRECT_PUT = 32,
};

static int metric_groups(struct dstream *ds)
{
    pthread_mutex_lock(&ds->mu);
    int g = (ds->kinesis_source ? M_KINESIS : 0) | (ds->dest.lambda ? M_LAMBDA : 0) |
            (ds->dest.conversion ? M_CONVERSION : 0) |
            (ds->dest.partitioning ? M_PARTITIONING : 0) | (ds->dest.backup ? M_BACKUP : 0) |
            (ds->kinesis_source ? 0 : M_DIRECT_PUT);
    pthread_mutex_unlock(&ds->mu);
    return g;
}

static double ratio(uint64_t num, uint64_t den)
{
    return den == 0 ? 1.0 : (double)num / (double)den;
}

int delivery_stream_metrics(struct delivery_service *svc, const char *region, const char *name,
                            struct delivery_metric out[DELIVERY_METRICS_MAX], size_t *n_out)
{
    struct delivery_counters c;
    int rc = delivery_stream_counters(svc, region, name, &c);
    struct dstream *ds = rc == 0 ? delivery__find(svc, region, name) : NULL;
    if (ds == NULL) {
        return SL_E(RESOURCE_NOT_FOUND);
    }
    int g = metric_groups(ds);
    delivery__release(ds);
    const struct {
        int group;
        const char *name, *unit;
        double value;
    } all[] = {
        {M_ALL, "IncomingBytes", "Bytes", (double)c.incoming_bytes},
        {M_ALL, "IncomingRecords", "Count", (double)c.incoming_records},
        {M_DIRECT_PUT, "IncomingPutRequests", "Count", (double)c.put_requests},
        {M_DIRECT_PUT, "ThrottledRecords", "Count", (double)c.throttled_records},
        {M_DIRECT_PUT, "PutRecord.Bytes", "Bytes", (double)c.op_bytes[0]},
        {M_DIRECT_PUT, "PutRecord.Requests", "Count", (double)c.op_requests[0]},
        {M_DIRECT_PUT, "PutRecordBatch.Bytes", "Bytes", (double)c.op_bytes[1]},
        {M_DIRECT_PUT, "PutRecordBatch.Records", "Count", (double)c.op_records[1]},
        {M_DIRECT_PUT, "PutRecordBatch.Requests", "Count", (double)c.op_requests[1]},
        {M_ALL, "DeliveryToS3.Bytes", "Bytes", (double)c.s3_bytes},
        {M_ALL, "DeliveryToS3.Records", "Count", (double)c.s3_records},
        {M_ALL, "DeliveryToS3.ObjectCount", "Count", (double)c.s3_objects},
        {M_ALL, "DeliveryToS3.Success", "None", ratio(c.s3_successes, c.s3_attempts)},
        {M_ALL, "DeliveryToS3.DataFreshness", "Seconds", (double)c.s3_data_freshness_ms / 1000},
        {M_KINESIS, "DataReadFromKinesisStream.Bytes", "Bytes", (double)c.kinesis_bytes},
        {M_KINESIS, "DataReadFromKinesisStream.Records", "Count", (double)c.kinesis_records},
        {M_KINESIS, "KinesisMillisBehindLatest", "Milliseconds", (double)c.kinesis_behind_ms},
        {M_LAMBDA, "ExecuteProcessing.Duration", "Milliseconds", (double)c.proc_ms},
        {M_LAMBDA, "ExecuteProcessing.Success", "None", ratio(c.proc_answered, c.proc_invocations)},
        {M_LAMBDA, "SucceedProcessing.Records", "Count", (double)c.proc_ok_records},
        {M_LAMBDA, "SucceedProcessing.Bytes", "Bytes", (double)c.proc_ok_bytes},
        {M_CONVERSION, "SucceedConversion.Records", "Count", (double)c.conv_ok_records},
        {M_CONVERSION, "SucceedConversion.Bytes", "Bytes", (double)c.conv_ok_bytes},
        {M_CONVERSION, "FailedConversion.Records", "Count", (double)c.conv_failed_records},
        {M_CONVERSION, "FailedConversion.Bytes", "Bytes", (double)c.conv_failed_bytes},
        {M_PARTITIONING, "PartitionCount", "Count", (double)c.partition_count},
        {M_PARTITIONING, "PartitionCountExceeded", "Count", (double)c.partition_exceeded},
        {M_PARTITIONING, "JQProcessing.Duration", "Milliseconds", (double)c.jq_ms},
        {M_BACKUP, "BackupToS3.Bytes", "Bytes", (double)c.backup_bytes},
        {M_BACKUP, "BackupToS3.Records", "Count", (double)c.backup_records},
        {M_BACKUP, "BackupToS3.Success", "None", ratio(c.backup_successes, c.backup_attempts)},
        {M_BACKUP, "BackupToS3.DataFreshness", "Seconds",
         (double)c.backup_data_freshness_ms / 1000},
    };
    _Static_assert(sizeof(all) / sizeof(all[0]) <= DELIVERY_METRICS_MAX, "room for all");
    size_t n = 0;
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (all[i].group == M_ALL || (g & all[i].group)) {
            out[n++] = (struct delivery_metric){all[i].name, all[i].unit, all[i].value};
        }
    }
    *n_out = n;
    return 0;
}

void delivery_stream_ids(struct delivery_service *svc, struct delivery_stream_id **out,
                         size_t *n_out)
{
    pthread_mutex_lock(&svc->mu);
    size_t n = 0;
    for (struct dstream *ds = svc->list; ds != NULL; ds = ds->next) {
        n++;
    }
    struct delivery_stream_id *ids = xcalloc(n ? n : 1, sizeof(*ids));
    n = 0;
    for (struct dstream *ds = svc->list; ds != NULL; ds = ds->next, n++) {
        snprintf(ids[n].region, sizeof(ids[n].region), "%s", ds->region);
        snprintf(ids[n].name, sizeof(ids[n].name), "%s", ds->name);
    }
    pthread_mutex_unlock(&svc->mu);
    *out = ids;
    *n_out = n;
}
