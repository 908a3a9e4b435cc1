/*
 * Fuzz target for S3 lifecycle configurations (lake/s3_lifecycle.c): the input is a
 * LifecycleConfiguration document, read by the strict XML reader and checked as
 * PutBucketLifecycleConfiguration checks it. A document that passes becomes the
 * lifecycle JSON; each of its rules is then matched (lake/lake_lifecycle.c) against a
 * fixed set of objects (keys, sizes, tags) and its Days turned into due dates, as the
 * sweeper and the x-amz-expiration header do. The JSON must read back and every due
 * date fall at a midnight UTC after its base.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lake/lake_lifecycle.h"
#include "lake/s3_int.h"

static void check_due(int64_t base, json_t *days)
{
    if (!json_is_integer(days) || json_integer_value(days) <= 0) {
        return;
    }
    int64_t due = lake_lifecycle_due(base, json_integer_value(days));
    if (due % LAKE_LC_DAY_MS != 0 || due <= base) {
        __builtin_trap();
    }
}

static void probe(json_t *rule)
{
    static const char *const keys[] = {"", "logs/2026/a.gz", "logs", "tmp/x", "a/b/c"};
    static const int64_t sizes[] = {0, 1, 131072, 1 << 30, INT64_MAX};
    json_t *tag_sets[3] = {NULL, json_pack("{s:s}", "env", "prod"),
                           json_pack("{s:s,s:s}", "env", "", "k", "v")};
    for (size_t k = 0; k < 5; k++) {
        for (size_t s = 0; s < 5; s++) {
            for (size_t t = 0; t < 3; t++) {
                (void)lake__lc_rule_matches(rule, keys[k], sizes[s], tag_sets[t]);
            }
        }
    }
    (void)lake__lc_rule_has_tags(rule);
    json_decref(tag_sets[1]);
    json_decref(tag_sets[2]);
    /* Days after creation (1970 to 2100), as the sweeper computes them. */
    static const int64_t bases[] = {0, 1764410400123, 4102444799999};
    for (size_t b = 0; b < 3; b++) {
        check_due(bases[b], json_object_get(json_object_get(rule, "Expiration"), "Days"));
        check_due(bases[b], json_object_get(json_object_get(rule, "NoncurrentVersionExpiration"),
                                            "NoncurrentDays"));
        check_due(bases[b], json_object_get(json_object_get(rule, "AbortIncompleteMultipartUpload"),
                                            "DaysAfterInitiation"));
        size_t i;
        json_t *tr;
        json_array_foreach(json_object_get(rule, "Transitions"), i, tr)
        {
            check_due(bases[b], json_object_get(tr, "Days"));
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct s3_xml_node *root = NULL;
    if (s3__xml_parse((const char *)data, size, &root) != 0) {
        return 0;
    }
    char *doc = NULL;
    struct err_info err;
    err_clear(&err);
    int rc = s3__lifecycle_parse(root, &doc, &err);
    s3__xml_free(root);
    if (rc != 0) {
        if (doc != NULL || err.code != rc) {
            __builtin_trap(); /* a refusal says why and keeps nothing */
        }
        return 0;
    }
    json_t *j = json_loads(doc, 0, NULL);
    if (j == NULL || !json_is_array(json_object_get(j, "Rules"))) {
        __builtin_trap();
    }
    size_t i;
    json_t *rule;
    json_array_foreach(json_object_get(j, "Rules"), i, rule)
    {
        probe(rule);
    }
    json_decref(j);
    free(doc);
    return 0;
}
