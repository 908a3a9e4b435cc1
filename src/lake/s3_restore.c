/*
 * Storage classes on writes and archived objects: the x-amz-storage-class a write names,
 * refusing reads and copies of GLACIER and DEEP_ARCHIVE objects not restored, the
 * x-amz-restore header and RestoreObject (POST ?restore). What a restore is and how it
 * completes on the lifecycle clock is lake_restore.h's.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/mem.h"
#include "lake/lake_lifecycle.h"
#include "lake/lake_restore.h"
#include "lake/s3_http.h"

int s3__storage_class_apply(struct s3_req *r, const char *cls, char **meta_json)
{
    if (cls == NULL) {
        return 0;
    }
    if (!lake_class_writable(cls)) {
        return s3__fail(r, SL_E(INVALID_STORAGE_CLASS),
                        "The storage class you specified is not valid");
    }
    json_t *meta = *meta_json ? json_loads(*meta_json, 0, NULL) : NULL;
    if (meta == NULL) {
        meta = json_object();
    }
    if (strcmp(cls, "STANDARD") == 0) {
        json_object_del(meta, "x-amz-storage-class"); /* S3 names no class for STANDARD */
    } else {
        json_object_set_new(meta, "x-amz-storage-class", json_string(cls));
    }
    free(*meta_json);
    *meta_json =
        json_object_size(meta) > 0 ? json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(meta);
    return 0;
}

/* InvalidObjectState, its error document naming the object's class. */
static int invalid_state(struct s3_req *r, const char *cls, const char *msg)
{
    static _Thread_local char extra[96]; /* read by the front end once this call returns */
    snprintf(extra, sizeof(extra), "<StorageClass>%s</StorageClass>", cls);
    r->call->error_extra = extra;
    return s3__fail(r, SL_E(INVALID_OBJECT_STATE), "%s", msg);
}

int s3__archive_check(struct s3_req *r, const struct lake_object_info *info, int copy_source)
{
    if (lake_restore_readable(info->meta_json, lake_lifecycle_now_ms())) {
        return 0;
    }
    char buf[32];
    const char *cls = lake_class_of(info->meta_json, buf);
    return invalid_state(r, cls,
                         copy_source ? "The source object of the COPY action is not in the active "
                                       "tier and is only stored in Amazon Glacier."
                                     : "The operation is not valid for the object's storage class");
}

void s3__restore_header(struct s3_req *r, const struct lake_object_info *info)
{
    struct lake_restore_state st;
    lake_restore_state(info->meta_json, lake_lifecycle_now_ms(), &st);
    if (st.phase == LAKE_RESTORE_ONGOING) {
        api_response_header(r->call->resp, "x-amz-restore", "ongoing-request=\"true\"");
    } else if (st.phase == LAKE_RESTORE_DONE) {
        char date[32], v[96];
        clock_format_http(st.expiry_ms, date);
        snprintf(v, sizeof(v), "ongoing-request=\"false\", expiry-date=\"%s\"", date);
        api_response_header(r->call->resp, "x-amz-restore", v);
    }
}

void s3__restore_status(struct s3_req *r, struct buf *b, const struct lake_object_info *info)
{
    const char *want = s3__header(r, "x-amz-optional-object-attributes");
    if (want == NULL || strstr(want, "RestoreStatus") == NULL) {
        return;
    }
    struct lake_restore_state st;
    lake_restore_state(info->meta_json, lake_lifecycle_now_ms(), &st);
    if (st.phase == LAKE_RESTORE_NONE) {
        return; /* S3 shows none for objects never restored */
    }
    buf_puts(b, "<RestoreStatus>");
    s3__xml_elem(b, "IsRestoreInProgress", st.phase == LAKE_RESTORE_ONGOING ? "true" : "false");
    if (st.phase == LAKE_RESTORE_DONE) {
        s3__xml_elem_time(b, "RestoreExpiryDate", st.expiry_ms);
    }
    buf_puts(b, "</RestoreStatus>");
}

/* The RestoreRequest document: Days and the tier (GlacierJobParameters, else Tier). */
static int parse_request(struct s3_req *r, const struct s3_xml_node *root, int64_t *days,
                         const char **tier)
{
    const char *type = s3__xml_child_text(root, "Type");
    if (type != NULL || s3__xml_child(root, "SelectParameters") != NULL ||
        s3__xml_child(root, "OutputLocation") != NULL) {
        return s3__fail(r, SL_E(NOT_IMPLEMENTED),
                        "Restores with S3 Select or an output "
                        "location are not implemented by Sluice");
    }
    const struct s3_xml_node *job = s3__xml_child(root, "GlacierJobParameters");
    *tier = job != NULL ? s3__xml_child_text(job, "Tier") : s3__xml_child_text(root, "Tier");
    if (job != NULL && *tier == NULL) {
        return s3__fail(r, SL_E(MALFORMED_XML),
                        "The XML you provided was not well-formed or did not validate against "
                        "our published schema");
    }
    if (*tier == NULL) {
        *tier = "Standard";
    }
    if (strcmp(*tier, "Standard") != 0 && strcmp(*tier, "Bulk") != 0 &&
        strcmp(*tier, "Expedited") != 0) {
        return s3__fail(r, SL_E(MALFORMED_XML),
                        "The XML you provided was not well-formed or did not validate against "
                        "our published schema");
    }
    const char *d = s3__xml_child_text(root, "Days");
    long long n = d != NULL ? s3__parse_uint(d) : -1;
    if (d == NULL) {
        return s3__fail(r, SL_E(MALFORMED_XML),
                        "The XML you provided was not well-formed or did not validate against "
                        "our published schema");
    }
    if (n < 1 || n > LAKE_RESTORE_DAYS_MAX) {
        return s3__fail(r, SL_E(INVALID_ARGUMENT_S3), "Days must be a positive integer");
    }
    *days = n;
    return 0;
}

int s3__restore_object(struct s3_req *r)
{
    struct s3_xml_node *root = NULL;
    int rc = s3__xml_body(r, 64 << 10, "RestoreRequest", &root);
    int64_t days = 0;
    const char *tier = NULL;
    if (rc == 0) {
        rc = parse_request(r, root, &days, &tier);
    }
    if (rc == 0) {
        struct lake_object_info info;
        memset(&info, 0, sizeof(info));
        rc = lake_object_restore(r->lake, r->bucket, r->key, s3__query(r, "versionId"), tier, days,
                                 &info, &r->call->err);
        if (rc == SL_E(INVALID_OBJECT_STATE)) {
            char buf[32];
            rc = invalid_state(r, lake_class_of(info.meta_json, buf), r->call->err.message);
        }
        lake_object_info_fini(&info);
    }
    s3__xml_free(root);
    if (rc < 0) {
        return rc;
    }
    r->call->resp->status = rc == LAKE_RESTORE_STARTED ? 202 : 200;
    return 0;
}
