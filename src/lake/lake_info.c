/*
 * The _fini functions of the result structs lake.h hands out. A leaf: both lake.c and
 * the backends (lake_local.c) free results with these, so neither depends on the other
 * for them.
 */
#include <stdlib.h>
#include <string.h>

#include "lake/lake.h"

void lake_object_info_fini(struct lake_object_info *info)
{
    if (info == NULL) {
        return;
    }
    free(info->key);
    free(info->content_type);
    free(info->meta_json);
    free(info->part_sizes_json);
    free(info->part_checksums_json);
    free(info->sse);
    memset(info, 0, sizeof(*info));
}

void lake_list_result_fini(struct lake_list_result *res)
{
    if (res == NULL) {
        return;
    }
    for (size_t i = 0; i < res->n_objects; i++) {
        lake_object_info_fini(&res->objects[i]);
    }
    free(res->objects);
    for (size_t i = 0; i < res->n_prefixes; i++) {
        free(res->prefixes[i]);
    }
    free(res->prefixes);
    free(res->last);
    memset(res, 0, sizeof(*res));
}

void lake_upload_info_fini(struct lake_upload_info *info)
{
    if (info == NULL) {
        return;
    }
    free(info->key);
    free(info->content_type);
    free(info->meta_json);
    free(info->sse);
    free(info->acl);
    memset(info, 0, sizeof(*info));
}

void lake_upload_list_fini(struct lake_upload_list *list)
{
    if (list == NULL) {
        return;
    }
    for (size_t i = 0; i < list->n_uploads; i++) {
        lake_upload_info_fini(&list->uploads[i]);
    }
    free(list->uploads);
    memset(list, 0, sizeof(*list));
}
