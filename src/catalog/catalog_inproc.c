/*
 * The in-process interface of catalog.h for Firehose and Athena (creating, deleting
 * and listing tables and databases), written on the same service operations the Glue
 * API uses so both paths validate and store alike.
 */
#include "catalog/catalog_int.h"

#include <string.h>

static json_t *columns_json(const struct catalog_column *cols, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_pack("{s:s}", "Name", cols[i].name != NULL ? cols[i].name : "");
        if (cols[i].type != NULL && cols[i].type[0] != '\0') {
            json_object_set_new(c, "Type", json_string(cols[i].type));
        }
        if (cols[i].comment != NULL) {
            json_object_set_new(c, "Comment", json_string(cols[i].comment));
        }
        json_array_append_new(arr, c);
    }
    return arr;
}

static void set_str(json_t *obj, const char *key, const char *value)
{
    if (value != NULL) {
        json_object_set_new(obj, key, json_string(value));
    }
}

/* Sets obj[key] to the parameters as a JSON object, when there are any. */
static void set_params(json_t *obj, const char *key, const struct catalog_param *p, size_t n)
{
    if (n == 0) {
        return;
    }
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++) {
        json_object_set_new(o, p[i].key, json_string(p[i].value));
    }
    json_object_set_new(obj, key, o);
}

int catalog_table_create(struct catalog *cat, const struct catalog_scope *scope,
                         const struct catalog_table_desc *desc, struct err_info *err)
{
    json_t *sd = json_pack("{s:o}", "Columns", columns_json(desc->columns, desc->n_columns));
    set_str(sd, "Location", desc->location);
    set_str(sd, "InputFormat", desc->input_format);
    set_str(sd, "OutputFormat", desc->output_format);
    if (desc->n_buckets > 0) {
        json_t *bc = json_array();
        for (size_t i = 0; i < desc->n_bucket_columns; i++) {
            json_array_append_new(bc, json_string(desc->bucket_columns[i]));
        }
        json_object_set_new(sd, "NumberOfBuckets", json_integer(desc->n_buckets));
        json_object_set_new(sd, "BucketColumns", bc);
    }
    if (desc->serde_library != NULL) {
        json_t *serde = json_pack("{s:s}", "SerializationLibrary", desc->serde_library);
        set_params(serde, "Parameters", desc->serde_parameters, desc->n_serde_parameters);
        json_object_set_new(sd, "SerdeInfo", serde);
    }
    json_t *ti = json_pack("{s:s, s:o, s:o}", "Name", desc->name != NULL ? desc->name : "",
                           "StorageDescriptor", sd, "PartitionKeys",
                           columns_json(desc->partition_keys, desc->n_partition_keys));
    set_str(ti, "TableType", desc->table_type);
    set_params(ti, "Parameters", desc->parameters, desc->n_parameters);
    json_t *in = json_pack("{s:s, s:o}", "DatabaseName",
                           desc->database != NULL ? desc->database : "", "TableInput", ti);
    json_t *out = NULL;
    int rc = catalog__op_CreateTable(cat, scope, in, &out, err);
    json_decref(in);
    json_decref(out);
    return rc;
}

int catalog_table_delete(struct catalog *cat, const struct catalog_scope *scope,
                         const char *database, const char *table, struct err_info *err)
{
    json_t *in = json_pack("{s:s, s:s}", "DatabaseName", database != NULL ? database : "", "Name",
                           table != NULL ? table : "");
    json_t *out = NULL;
    int rc = catalog__op_DeleteTable(cat, scope, in, &out, err);
    json_decref(in);
    json_decref(out);
    return rc;
}

int catalog_database_ensure(struct catalog *cat, const struct catalog_scope *scope,
                            const char *name, struct err_info *err)
{
    json_t *in = json_pack("{s:{s:s}}", "DatabaseInput", "Name", name != NULL ? name : "");
    json_t *out = NULL;
    int rc = catalog__op_CreateDatabase(cat, scope, in, &out, err);
    json_decref(in);
    json_decref(out);
    if (rc == SL_E(ALREADY_EXISTS)) {
        err_clear(err);
        rc = 0;
    }
    return rc;
}

/* Pages through a listing operation, calling fn with member "Name" of each item. */
static int list_names(struct catalog *cat, const struct catalog_scope *scope, catalog_op_fn op,
                      json_t *in, const char *list_key, catalog_name_fn fn, void *arg,
                      struct err_info *err)
{
    int rc = 0;
    for (;;) {
        json_t *out = NULL;
        rc = op(cat, scope, in, &out, err);
        if (rc < 0) {
            break;
        }
        size_t i;
        json_t *item;
        json_array_foreach(json_object_get(out, list_key), i, item)
        {
            const char *name = catalog__str(item, "Name");
            if (rc == 0 && name != NULL) {
                rc = fn(arg, name);
            }
        }
        const char *token = catalog__str(out, "NextToken");
        if (rc != 0 || token == NULL) {
            json_decref(out);
            break;
        }
        json_object_set_new(in, "NextToken", json_string(token));
        json_decref(out);
    }
    json_decref(in);
    return rc;
}

int catalog_database_list(struct catalog *cat, const struct catalog_scope *scope,
                          catalog_name_fn fn, void *arg, struct err_info *err)
{
    return list_names(cat, scope, catalog__op_GetDatabases, json_object(), "DatabaseList", fn, arg,
                      err);
}

int catalog_table_list(struct catalog *cat, const struct catalog_scope *scope, const char *database,
                       catalog_name_fn fn, void *arg, struct err_info *err)
{
    json_t *in = json_pack("{s:s}", "DatabaseName", database != NULL ? database : "");
    return list_names(cat, scope, catalog__op_GetTables, in, "TableList", fn, arg, err);
}
