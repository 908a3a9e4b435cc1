/*
 * Unit tests of the Schema Registry: definition validation for Avro, JSON Schema and
 * Protobuf; compatibility rules as tables of cases; every compatibility mode through
 * the registry's operations; versions, checkpoints, metadata and diffs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "catalog/catalog.h"
#include "catalog/catalog_int.h"
#include "catalog/glue_api.h"
#include "core/config.h"
#include "core/store.h"

struct fixture {
    char dir[64];
    struct store *st;
    struct catalog *cat;
    struct api_json_service *svc;
    struct api_request req;
    struct err_info last_err;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_registry_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char path[128];
    snprintf(path, sizeof(path), "%s/meta.db", f->dir);
    assert_int_equal(store_open(path, &f->st), 0);
    assert_int_equal(catalog_open(f->st, NULL, &f->cat), 0);
    f->svc = glue_api_create(f->cat);
    f->req.region = "us-east-1";
    f->req.account_id = "123456789012";
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    glue_api_destroy(f->svc);
    catalog_close(f->cat);
    store_close(f->st);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Calls an operation with an input document (borrowed); output or NULL. */
static json_t *call_doc(struct fixture *f, const char *op, json_t *in)
{
    const struct api_json_op *o = NULL;
    for (size_t i = 0; i < f->svc->n_ops; i++) {
        if (strcmp(f->svc->ops[i].name, op) == 0) {
            o = &f->svc->ops[i];
        }
    }
    assert_non_null(o);
    struct api_call c = {.req = &f->req, .service_ctx = f->svc->ctx, .operation = op};
    json_t *out = NULL;
    int rc = o->fn(&c, in, &out);
    f->last_err = c.err;
    if (rc < 0) {
        assert_int_equal(rc, c.err.code);
        return NULL;
    }
    return out;
}

static json_t *call(struct fixture *f, const char *op, const char *fmt, ...)
{
    char text[16384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    json_error_t jerr;
    json_t *in = json_loads(text, 0, &jerr);
    if (in == NULL) {
        fail_msg("bad test input %s: %s", text, jerr.text);
    }
    json_t *out = call_doc(f, op, in);
    json_decref(in);
    return out;
}

/* Creates schema name with a first version; returns 0 or the error code. */
static int create_schema(struct fixture *f, const char *name, const char *format,
                         const char *compat, const char *def)
{
    json_t *in = json_pack("{s:{s:s}, s:s, s:s, s:s, s:s}", "RegistryId", "RegistryName", "reg",
                           "SchemaName", name, "DataFormat", format, "Compatibility", compat,
                           "SchemaDefinition", def);
    json_t *out = call_doc(f, "CreateSchema", in);
    json_decref(in);
    json_decref(out);
    return out != NULL ? 0 : f->last_err.code;
}

static int register_version(struct fixture *f, const char *name, const char *def, int64_t *version)
{
    json_t *in = json_pack("{s:{s:s, s:s}, s:s}", "SchemaId", "RegistryName", "reg", "SchemaName",
                           name, "SchemaDefinition", def);
    json_t *out = call_doc(f, "RegisterSchemaVersion", in);
    json_decref(in);
    if (out == NULL) {
        return f->last_err.code;
    }
    if (version != NULL) {
        *version = json_integer_value(json_object_get(out, "VersionNumber"));
    }
    json_decref(out);
    return 0;
}

static void make_registry(struct fixture *f)
{
    json_t *out = call(f, "CreateRegistry", "{\"RegistryName\":\"reg\",\"Description\":\"d\"}");
    assert_non_null(out);
    json_decref(out);
}

/* ---- compatibility tables ---- */

/* One evolution: old -> new, and whether each direction can read the other. */
struct compat_case {
    const char *what;
    const char *old_def;
    const char *new_def;
    int backward; /* new can read data written with old */
    int forward;  /* old can read data written with new */
};

#define AV_REC(fields) "{\"type\":\"record\",\"name\":\"Event\",\"fields\":[" fields "]}"
#define AV_ID "{\"name\":\"event_id\",\"type\":\"string\"}"

static const struct compat_case avro_cases[] = {
    {"identical", AV_REC(AV_ID), AV_REC(AV_ID), 1, 1},
    {"optional field with default added", AV_REC(AV_ID),
     AV_REC(AV_ID ",{\"name\":\"campaign_id\",\"type\":[\"null\",\"string\"],\"default\":null}"), 1,
     1},
    {"field without default added", AV_REC(AV_ID),
     AV_REC(AV_ID ",{\"name\":\"campaign_id\",\"type\":\"string\"}"), 0, 1},
    {"field without default removed", AV_REC(AV_ID ",{\"name\":\"amount\",\"type\":\"double\"}"),
     AV_REC(AV_ID), 1, 0},
    {"field with default removed",
     AV_REC(AV_ID ",{\"name\":\"amount\",\"type\":\"double\",\"default\":0}"), AV_REC(AV_ID), 1, 1},
    {"amount double to string", AV_REC(AV_ID ",{\"name\":\"amount\",\"type\":\"double\"}"),
     AV_REC(AV_ID ",{\"name\":\"amount\",\"type\":\"string\"}"), 0, 0},
    {"int promoted to long", AV_REC("{\"name\":\"n\",\"type\":\"int\"}"),
     AV_REC("{\"name\":\"n\",\"type\":\"long\"}"), 1, 0},
    {"float promoted to double", AV_REC("{\"name\":\"n\",\"type\":\"float\"}"),
     AV_REC("{\"name\":\"n\",\"type\":\"double\"}"), 1, 0},
    {"string to bytes", AV_REC("{\"name\":\"n\",\"type\":\"string\"}"),
     AV_REC("{\"name\":\"n\",\"type\":\"bytes\"}"), 1, 1},
    {"enum symbol added",
     AV_REC("{\"name\":\"c\",\"type\":{\"type\":\"enum\",\"name\":\"C\",\"symbols\":[\"A\","
            "\"B\"]}}"),
     AV_REC("{\"name\":\"c\",\"type\":{\"type\":\"enum\",\"name\":\"C\",\"symbols\":[\"A\","
            "\"B\",\"X\"]}}"),
     1, 0},
    {"enum symbol added, reader default",
     AV_REC("{\"name\":\"c\",\"type\":{\"type\":\"enum\",\"name\":\"C\",\"symbols\":[\"A\","
            "\"B\"],\"default\":\"A\"}}"),
     AV_REC("{\"name\":\"c\",\"type\":{\"type\":\"enum\",\"name\":\"C\",\"symbols\":[\"A\","
            "\"B\",\"X\"],\"default\":\"A\"}}"),
     1, 1},
    {"field renamed with alias", AV_REC("{\"name\":\"amount\",\"type\":\"double\"}"),
     AV_REC("{\"name\":\"total\",\"type\":\"double\",\"aliases\":[\"amount\"]}"), 1, 0},
    {"string widened to nullable union", AV_REC("{\"name\":\"s\",\"type\":\"string\"}"),
     AV_REC("{\"name\":\"s\",\"type\":[\"null\",\"string\"]}"), 1, 0},
    {"record renamed", AV_REC(AV_ID),
     "{\"type\":\"record\",\"name\":\"Other\",\"fields\":[" AV_ID "]}", 0, 0},
    {"record renamed with alias", AV_REC(AV_ID),
     "{\"type\":\"record\",\"name\":\"Other\",\"aliases\":[\"Event\"],\"fields\":[" AV_ID "]}", 1,
     0},
    {"array items promoted", "{\"type\":\"array\",\"items\":\"int\"}",
     "{\"type\":\"array\",\"items\":\"double\"}", 1, 0},
    {"map values changed", "{\"type\":\"map\",\"values\":\"int\"}",
     "{\"type\":\"map\",\"values\":\"string\"}", 0, 0},
    {"fixed size changed", "{\"type\":\"fixed\",\"name\":\"F\",\"size\":4}",
     "{\"type\":\"fixed\",\"name\":\"F\",\"size\":8}", 0, 0},
    {"recursive list unchanged",
     "{\"type\":\"record\",\"name\":\"L\",\"fields\":[{\"name\":\"v\",\"type\":\"int\"},"
     "{\"name\":\"next\",\"type\":[\"null\",\"L\"]}]}",
     "{\"type\":\"record\",\"name\":\"L\",\"fields\":[{\"name\":\"v\",\"type\":\"long\"},"
     "{\"name\":\"next\",\"type\":[\"null\",\"L\"]}]}",
     1, 0},
};

#define JS_OBJ(props, req)                                                                         \
    "{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"type\":\"object\","                \
    "\"required\":[" req "],\"properties\":{" props "},\"additionalProperties\":false}"
#define JS_BASE "\"event_id\":{\"type\":\"string\"},\"amount\":{\"type\":\"number\"}"
#define JS_REQ "\"event_id\",\"amount\""

static const struct compat_case json_cases[] = {
    {"identical", JS_OBJ(JS_BASE, JS_REQ), JS_OBJ(JS_BASE, JS_REQ), 1, 1},
    /* the module's two examples */
    {"amount number to string", JS_OBJ(JS_BASE, JS_REQ),
     JS_OBJ("\"event_id\":{\"type\":\"string\"},\"amount\":{\"type\":\"string\"}", JS_REQ), 0, 0},
    {"optional campaign_id added", JS_OBJ(JS_BASE, JS_REQ),
     JS_OBJ(JS_BASE ",\"campaign_id\":{\"type\":\"string\"}", JS_REQ), 1, 0},
    {"required campaign_id added", JS_OBJ(JS_BASE, JS_REQ),
     JS_OBJ(JS_BASE ",\"campaign_id\":{\"type\":\"string\"}", JS_REQ ",\"campaign_id\""), 0, 0},
    {"property removed from a closed object (old readers refuse nothing new)",
     JS_OBJ(JS_BASE ",\"note\":{\"type\":\"string\"}", JS_REQ), JS_OBJ(JS_BASE, JS_REQ), 0, 1},
    {"property removed", JS_OBJ(JS_BASE, "\"event_id\""),
     JS_OBJ("\"event_id\":{\"type\":\"string\"}", "\"event_id\""), 0, 1},
    {"integer widened to number", JS_OBJ("\"n\":{\"type\":\"integer\"}", ""),
     JS_OBJ("\"n\":{\"type\":\"number\"}", ""), 1, 0},
    {"nullable added", JS_OBJ("\"n\":{\"type\":\"string\"}", ""),
     JS_OBJ("\"n\":{\"type\":[\"string\",\"null\"]}", ""), 1, 0},
    {"enum value added", JS_OBJ("\"c\":{\"enum\":[\"a\",\"b\"]}", ""),
     JS_OBJ("\"c\":{\"enum\":[\"a\",\"b\",\"c\"]}", ""), 1, 0},
    {"maximum raised", JS_OBJ("\"n\":{\"type\":\"integer\",\"maximum\":10}", ""),
     JS_OBJ("\"n\":{\"type\":\"integer\",\"maximum\":100}", ""), 1, 0},
    {"maxLength lowered", JS_OBJ("\"s\":{\"type\":\"string\",\"maxLength\":10}", ""),
     JS_OBJ("\"s\":{\"type\":\"string\",\"maxLength\":5}", ""), 0, 1},
    {"nested object field type changed",
     JS_OBJ("\"o\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"integer\"}}}", ""),
     JS_OBJ("\"o\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"boolean\"}}}", ""), 0, 0},
    {"array items widened",
     JS_OBJ("\"a\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}", ""),
     JS_OBJ("\"a\":{\"type\":\"array\",\"items\":{\"type\":\"number\"}}", ""), 1, 0},
    {"additionalProperties opened", JS_OBJ(JS_BASE, JS_REQ),
     "{\"type\":\"object\",\"required\":[" JS_REQ "],\"properties\":{" JS_BASE "}}", 1, 0},
    {"pattern changed (undecided, refused)",
     JS_OBJ("\"s\":{\"type\":\"string\",\"pattern\":\"^a\"}", ""),
     JS_OBJ("\"s\":{\"type\":\"string\",\"pattern\":\"^b\"}", ""), 0, 0},
    {"anyOf branch added", JS_OBJ("\"v\":{\"anyOf\":[{\"type\":\"string\"}]}", ""),
     JS_OBJ("\"v\":{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"null\"}]}", ""), 1, 0},
    {"local $ref followed",
     "{\"definitions\":{\"n\":{\"type\":\"integer\"}},\"type\":\"object\",\"properties\":"
     "{\"a\":{\"$ref\":\"#/definitions/n\"}}}",
     "{\"definitions\":{\"n\":{\"type\":\"number\"}},\"type\":\"object\",\"properties\":"
     "{\"a\":{\"$ref\":\"#/definitions/n\"}}}",
     1, 0},
};

static const char *PROTO_V1 = "syntax = \"proto3\";\npackage shop;\n"
                              "message Order {\n  string id = 1;\n  int32 qty = 2;\n"
                              "  repeated string tags = 3;\n  Status status = 4;\n}\n"
                              "enum Status { UNKNOWN = 0; PAID = 1; }\n";

static const struct compat_case proto_cases[] = {
    {"identical", NULL, NULL, 1, 1},
    {"field added", NULL,
     "syntax = \"proto3\"; package shop; message Order { string id = 1; "
     "int32 qty = 2; repeated string tags = 3; Status status = 4; "
     "string note = 5; } enum Status { UNKNOWN = 0; PAID = 1; }",
     1, 1},
    {"int32 to int64 (same wire type)", NULL,
     "syntax = \"proto3\"; package shop; message Order { string id = 1; int64 qty = 2; "
     "repeated string tags = 3; Status status = 4; } enum Status { UNKNOWN = 0; PAID = 1; }",
     1, 1},
    {"int32 to string", NULL,
     "syntax = \"proto3\"; package shop; message Order { string id = 1; string qty = 2; "
     "repeated string tags = 3; Status status = 4; } enum Status { UNKNOWN = 0; PAID = 1; }",
     0, 0},
    {"int32 to sint32 (zigzag)", NULL,
     "syntax = \"proto3\"; package shop; message Order { string id = 1; sint32 qty = 2; "
     "repeated string tags = 3; Status status = 4; } enum Status { UNKNOWN = 0; PAID = 1; }",
     0, 0},
    {"repeated to singular", NULL,
     "syntax = \"proto3\"; package shop; message Order { string id = 1; int32 qty = 2; "
     "string tags = 3; Status status = 4; } enum Status { UNKNOWN = 0; PAID = 1; }",
     0, 0},
    {"field renamed, number kept", NULL,
     "syntax = \"proto3\"; package shop; message Order { string order_id = 1; int32 qty = 2; "
     "repeated string tags = 3; Status status = 4; } enum Status { UNKNOWN = 0; PAID = 1; }",
     1, 1},
    {"enum field to int32 (varint)", NULL,
     "syntax = \"proto3\"; package shop; message Order { string id = 1; int32 qty = 2; "
     "repeated string tags = 3; int32 status = 4; }",
     1, 1},
};

static void run_cases(const struct compat_case *cases, size_t n,
                      int (*compat)(const char *, const char *, struct err_info *), const char *v1)
{
    for (size_t i = 0; i < n; i++) {
        const char *old_def = cases[i].old_def != NULL ? cases[i].old_def : v1;
        const char *new_def = cases[i].new_def != NULL ? cases[i].new_def : v1;
        struct err_info e1 = {0}, e2 = {0};
        int bw = compat(new_def, old_def, &e1) == 0;
        int fw = compat(old_def, new_def, &e2) == 0;
        if (bw != cases[i].backward || fw != cases[i].forward) {
            fail_msg("%s: backward %d (want %d: %s), forward %d (want %d: %s)", cases[i].what, bw,
                     cases[i].backward, e1.message, fw, cases[i].forward, e2.message);
        }
        /* A refusal always says why. */
        assert_true(bw || e1.message[0] != '\0');
        assert_true(fw || e2.message[0] != '\0');
    }
}

static void test_avro_resolution_rules(void **state)
{
    (void)state;
    run_cases(avro_cases, sizeof(avro_cases) / sizeof(avro_cases[0]), catalog__avro_compatible,
              NULL);
}

static void test_json_schema_containment(void **state)
{
    (void)state;
    run_cases(json_cases, sizeof(json_cases) / sizeof(json_cases[0]),
              catalog__jsonschema_compatible, NULL);
}

static void test_protobuf_field_numbers_and_wire_types(void **state)
{
    (void)state;
    run_cases(proto_cases, sizeof(proto_cases) / sizeof(proto_cases[0]), catalog__proto_compatible,
              PROTO_V1);
    struct err_info e = {0};
    /* proto2: a required field the writer does not write breaks the reader. */
    const char *p2a = "syntax = \"proto2\"; message M { optional int32 a = 1; }";
    const char *p2b = "syntax = \"proto2\"; message M { optional int32 a = 1; "
                      "required string b = 2; }";
    assert_int_equal(catalog__proto_compatible(p2b, p2a, &e), SL_E(INVALID_INPUT));
    assert_int_equal(catalog__proto_compatible(p2a, p2b, &e), 0);
}

/* Pathological nesting of alternatives is bounded: the check ends quickly, refusing
 * what it could not finish comparing. */
static void test_compatibility_work_is_bounded(void **state)
{
    (void)state;
    char *a = strdup("{\"type\":\"string\"}");
    char *b = strdup("{\"type\":\"number\"}");
    for (int i = 0; i < 40; i++) {
        /* Linear in size, exponential in the alternatives a naive check would try. */
        char *na = NULL, *nb = NULL;
        assert_true(asprintf(&na, "{\"anyOf\":[%s,{\"type\":\"string\"}]}", a) > 0);
        assert_true(asprintf(&nb, "{\"anyOf\":[{\"type\":\"number\"},%s]}", b) > 0);
        free(a);
        free(b);
        a = na;
        b = nb;
    }
    struct err_info e = {0};
    assert_int_equal(catalog__jsonschema_validate(a, &e), 0);
    int rc = catalog__jsonschema_compatible(a, b, &e);
    assert_true(rc == 0 || rc == SL_E(INVALID_INPUT));
    free(a);
    free(b);
    /* Avro: unions of records whose fields are unions of records, many levels deep. */
    char *s = strdup("\"int\"");
    for (int i = 0; i < 12; i++) {
        char *n = NULL;
        assert_true(asprintf(&n,
                             "[{\"type\":\"record\",\"name\":\"A%d\",\"fields\":[{\"name\":"
                             "\"f\",\"type\":%s}]},{\"type\":\"record\",\"name\":\"B%d\","
                             "\"fields\":[{\"name\":\"f\",\"type\":[\"null\",\"long\"]}]}]",
                             i, s, i) > 0);
        free(s);
        s = n;
    }
    assert_int_equal(catalog__avro_validate(s, &e), 0);
    rc = catalog__avro_compatible(s, s, &e);
    assert_true(rc == 0 || rc == SL_E(INVALID_INPUT));
    free(s);
}

static void test_definitions_are_validated(void **state)
{
    (void)state;
    static const char *const avro_bad[] = {
        "",
        "{",
        "\"nosuchtype\"",
        "{\"type\":\"record\",\"name\":\"R\"}",
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},"
        "{\"name\":\"a\",\"type\":\"int\"}]}",
        "{\"type\":\"record\",\"name\":\"1R\",\"fields\":[]}",
        "[\"int\",\"int\"]",
        "[[\"int\"]]",
        "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"A\"]}",
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\","
        "\"default\":\"x\"}]}",
        "{\"type\":\"fixed\",\"name\":\"F\"}",
        "{\"type\":\"array\"}",
        "42"};
    for (size_t i = 0; i < sizeof(avro_bad) / sizeof(avro_bad[0]); i++) {
        struct err_info e = {0};
        if (catalog__avro_validate(avro_bad[i], &e) != SL_E(INVALID_INPUT)) {
            fail_msg("avro accepted: %s", avro_bad[i]);
        }
        assert_true(e.message[0] != '\0');
    }
    struct err_info e = {0};
    assert_int_equal(catalog__avro_validate("{\"type\":\"record\",\"name\":\"a.b.R\",\"fields\":"
                                            "[{\"name\":\"self\",\"type\":[\"null\",\"R\"]},"
                                            "{\"name\":\"t\",\"type\":{\"type\":\"long\","
                                            "\"logicalType\":\"timestamp-millis\"}}]}",
                                            &e),
                     0);
    static const char *const json_bad[] = {"",
                                           "[1,2",
                                           "42",
                                           "{\"type\":\"strin\"}",
                                           "{\"properties\":[]}",
                                           "{\"minLength\":-1}",
                                           "{\"$ref\":\"#/definitions/missing\"}",
                                           "{\"anyOf\":[]}",
                                           "{\"items\":7}"};
    for (size_t i = 0; i < sizeof(json_bad) / sizeof(json_bad[0]); i++) {
        if (catalog__jsonschema_validate(json_bad[i], &e) != SL_E(INVALID_INPUT)) {
            fail_msg("json schema accepted: %s", json_bad[i]);
        }
    }
    assert_int_equal(catalog__jsonschema_validate("true", &e), 0);
    static const char *const proto_bad[] = {
        "",
        "message {",
        "syntax = \"proto4\"; message M {}",
        "message M { int32 a = 0; }",
        "message M { int32 a = 1; int32 b = 1; }",
        "message M { int32 a = 19500; }",
        "syntax = \"proto3\"; message M { required int32 a = 1; }",
        "message M { Unknown a = 1; }",
        "message M { map<double, int32> m = 1; }",
        "message M { int32 a = 1 }",
        "/* unterminated",
        "message M {} message M {}",
        "message M {} syntax = \"proto3\";"};
    for (size_t i = 0; i < sizeof(proto_bad) / sizeof(proto_bad[0]); i++) {
        if (catalog__proto_validate(proto_bad[i], &e) != SL_E(INVALID_INPUT)) {
            fail_msg("proto accepted: %s", proto_bad[i]);
        }
    }
    assert_int_equal(catalog__proto_validate(PROTO_V1, &e), 0);
    assert_int_equal(
        catalog__proto_validate("syntax = \"proto3\"; import \"google/protobuf/timestamp.proto\";"
                                "message M { google.protobuf.Timestamp ts = 1; map<string, M> "
                                "kids = 2; oneof x { string a = 3; int64 b = 4; } message In { "
                                "bool f = 1; } In in = 5; reserved 6, 7; }",
                                &e),
        0);
}

/* Expected outcome of registering new over old under a mode. */
static int expected(const char *mode, const struct compat_case *c)
{
    if (strcmp(mode, "NONE") == 0) {
        return 1;
    }
    if (strcmp(mode, "DISABLED") == 0) {
        return 0;
    }
    if (strncmp(mode, "BACKWARD", 8) == 0) {
        return c->backward;
    }
    if (strncmp(mode, "FORWARD", 7) == 0) {
        return c->forward;
    }
    return c->backward && c->forward;
}

static void run_modes(struct fixture *f, const char *format, const struct compat_case *cases,
                      size_t n, const char *v1)
{
    static const char *const modes[] = {"NONE",    "DISABLED",    "BACKWARD", "BACKWARD_ALL",
                                        "FORWARD", "FORWARD_ALL", "FULL",     "FULL_ALL"};
    static int counter;
    for (size_t i = 0; i < n; i++) {
        const char *old_def = cases[i].old_def != NULL ? cases[i].old_def : v1;
        const char *new_def = cases[i].new_def != NULL ? cases[i].new_def : v1;
        if (strcmp(old_def, new_def) == 0) {
            continue; /* identical re-registration is tested on its own */
        }
        for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
            char name[64];
            snprintf(name, sizeof(name), "s%d", counter++);
            assert_int_equal(create_schema(f, name, format, modes[m], old_def), 0);
            int64_t v = 0;
            int rc = register_version(f, name, new_def, &v);
            int want = expected(modes[m], &cases[i]);
            if ((rc == 0) != want) {
                fail_msg("%s %s under %s: expected %s, got %s (%s)", format, cases[i].what,
                         modes[m], want ? "accepted" : "refused", rc == 0 ? "accepted" : "refused",
                         f->last_err.message);
            }
            if (rc == 0) {
                assert_int_equal(v, 2);
            } else {
                assert_int_equal(rc, SL_E(INVALID_INPUT));
            }
        }
    }
}

static void test_every_mode_avro(void **state)
{
    struct fixture *f = *state;
    make_registry(f);
    run_modes(f, "AVRO", avro_cases, sizeof(avro_cases) / sizeof(avro_cases[0]), NULL);
}

static void test_every_mode_json(void **state)
{
    struct fixture *f = *state;
    make_registry(f);
    run_modes(f, "JSON", json_cases, sizeof(json_cases) / sizeof(json_cases[0]), NULL);
}

static void test_every_mode_protobuf(void **state)
{
    struct fixture *f = *state;
    make_registry(f);
    run_modes(f, "PROTOBUF", proto_cases, sizeof(proto_cases) / sizeof(proto_cases[0]), PROTO_V1);
}

static void test_all_modes_check_every_version(void **state)
{
    struct fixture *f = *state;
    make_registry(f);
    const char *v1 = JS_OBJ("\"a\":{\"type\":\"string\"}", "");
    const char *v2 = JS_OBJ("\"a\":{\"type\":\"integer\"}", "");
    const char *v3 = JS_OBJ("\"a\":{\"type\":\"number\"}", "");
    const char *modes[] = {"BACKWARD", "BACKWARD_ALL"};
    for (int m = 0; m < 2; m++) {
        char name[16];
        snprintf(name, sizeof(name), "all%d", m);
        assert_int_equal(create_schema(f, name, "JSON", "NONE", v1), 0);
        assert_int_equal(register_version(f, name, v2, NULL), 0);
        json_t *out = call(f, "UpdateSchema",
                           "{\"SchemaId\":{\"RegistryName\":\"reg\","
                           "\"SchemaName\":\"%s\"},\"Compatibility\":\"%s\"}",
                           name, modes[m]);
        assert_non_null(out);
        json_decref(out);
        int rc = register_version(f, name, v3, NULL);
        assert_int_equal(rc, m == 0 ? 0 : SL_E(INVALID_INPUT));
    }
    /* Moving the checkpoint past version 1 makes BACKWARD_ALL ignore it. */
    json_t *out = call(f, "UpdateSchema",
                       "{\"SchemaId\":{\"RegistryName\":\"reg\",\"SchemaName\":\"all1\"},"
                       "\"SchemaVersionNumber\":{\"VersionNumber\":2}}");
    assert_non_null(out);
    json_decref(out);
    assert_int_equal(register_version(f, "all1", v3, NULL), 0);
}

static void test_module_examples_and_reasons(void **state)
{
    struct fixture *f = *state;
    make_registry(f);
    const char *event = JS_OBJ(JS_BASE, JS_REQ);
    assert_int_equal(create_schema(f, "events", "JSON", "BACKWARD", event), 0);
    int rc = register_version(
        f, "events",
        JS_OBJ("\"event_id\":{\"type\":\"string\"},\"amount\":{\"type\":\"string\"}", JS_REQ),
        NULL);
    assert_int_equal(rc, SL_E(INVALID_INPUT));
    assert_non_null(strstr(f->last_err.message, "amount"));
    assert_non_null(strstr(f->last_err.message, "BACKWARD"));
    int64_t v = 0;
    assert_int_equal(
        register_version(f, "events",
                         JS_OBJ(JS_BASE ",\"campaign_id\":{\"type\":\"string\"}", JS_REQ), &v),
        0);
    assert_int_equal(v, 2);
    /* Identical (after canonical form) re-registration returns the existing version. */
    int64_t again = 0;
    assert_int_equal(
        register_version(f, "events",
                         JS_OBJ(JS_BASE ",  \"campaign_id\": {\"type\":\"string\"}", JS_REQ),
                         &again),
        0);
    assert_int_equal(again, 2);
    /* An invalid definition is refused with Glue's error. */
    assert_int_equal(register_version(f, "events", "{not json", NULL), SL_E(INVALID_INPUT));
    assert_non_null(strstr(f->last_err.message, "JSON data format is invalid"));
}

static void test_registry_and_schema_lifecycle(void **state)
{
    struct fixture *f = *state;
    make_registry(f);
    json_t *out = call(f, "CreateRegistry", "{\"RegistryName\":\"reg\"}");
    assert_null(out);
    assert_int_equal(f->last_err.code, SL_E(ALREADY_EXISTS));
    out = call(f, "CreateRegistry", "{\"RegistryName\":\"bad name\"}");
    assert_null(out);
    assert_int_equal(f->last_err.code, SL_E(INVALID_INPUT));
    /* CreateSchema without RegistryId uses (and creates) the default registry. */
    out = call(f, "CreateSchema",
               "{\"SchemaName\":\"d\",\"DataFormat\":\"AVRO\","
               "\"SchemaDefinition\":\"\\\"string\\\"\"}");
    assert_non_null(out);
    assert_string_equal(catalog__str(out, "RegistryName"), "default-registry");
    assert_string_equal(catalog__str(out, "Compatibility"), "BACKWARD");
    assert_string_equal(catalog__str(out, "SchemaVersionStatus"), "AVAILABLE");
    assert_int_equal(json_integer_value(json_object_get(out, "LatestSchemaVersion")), 1);
    assert_int_equal(json_integer_value(json_object_get(out, "NextSchemaVersion")), 2);
    char uuid[64];
    snprintf(uuid, sizeof(uuid), "%s", catalog__str(out, "SchemaVersionId"));
    json_decref(out);
    out = call(f, "GetSchemaVersion", "{\"SchemaVersionId\":\"%s\"}", uuid);
    assert_non_null(out);
    assert_string_equal(catalog__str(out, "SchemaDefinition"), "\"string\"");
    assert_string_equal(catalog__str(out, "SchemaArn"),
                        "arn:aws:glue:us-east-1:123456789012:schema/default-registry/d");
    json_decref(out);
    out = call(f, "ListRegistries", "{}");
    assert_int_equal(json_array_size(json_object_get(out, "Registries")), 2);
    json_decref(out);
    out = call(f, "CreateSchema", "{\"SchemaName\":\"x\",\"DataFormat\":\"XML\"}");
    assert_null(out);
    assert_int_equal(f->last_err.code, SL_E(INVALID_INPUT));
    out = call(f, "CreateSchema",
               "{\"SchemaName\":\"x\",\"DataFormat\":\"AVRO\","
               "\"Compatibility\":\"SOMETIMES\"}");
    assert_null(out);
    out = call(f, "GetSchema",
               "{\"SchemaId\":{\"SchemaArn\":"
               "\"arn:aws:glue:us-east-1:123456789012:schema/default-registry/d\"}}");
    assert_non_null(out);
    assert_string_equal(catalog__str(out, "DataFormat"), "AVRO");
    json_decref(out);
    out = call(f, "DeleteRegistry", "{\"RegistryId\":{\"RegistryName\":\"default-registry\"}}");
    assert_string_equal(catalog__str(out, "Status"), "DELETING");
    json_decref(out);
    out = call(f, "GetSchema", "{\"SchemaId\":{\"SchemaName\":\"d\"}}");
    assert_null(out);
    assert_int_equal(f->last_err.code, SL_E(ENTITY_NOT_FOUND));
}

static void test_versions_metadata_and_diff(void **state)
{
    struct fixture *f = *state;
    make_registry(f);
    const char *v1 = AV_REC(AV_ID);
    const char *v2 =
        AV_REC(AV_ID ",{\"name\":\"campaign_id\",\"type\":[\"null\",\"string\"],\"default\":null}");
    assert_int_equal(create_schema(f, "ev", "AVRO", "FULL", v1), 0);
    assert_int_equal(register_version(f, "ev", v2, NULL), 0);
    const char *sid = "{\"RegistryName\":\"reg\",\"SchemaName\":\"ev\"}";
    json_t *out = call(f, "ListSchemaVersions", "{\"SchemaId\":%s}", sid);
    assert_int_equal(json_array_size(json_object_get(out, "Schemas")), 2);
    json_decref(out);
    out = call(f, "GetSchemaVersion",
               "{\"SchemaId\":%s,\"SchemaVersionNumber\":"
               "{\"LatestVersion\":true}}",
               sid);
    assert_int_equal(json_integer_value(json_object_get(out, "VersionNumber")), 2);
    json_decref(out);
    json_t *in = json_pack("{s:{s:s, s:s}, s:s}", "SchemaId", "RegistryName", "reg", "SchemaName",
                           "ev", "SchemaDefinition", v1);
    out = call_doc(f, "GetSchemaByDefinition", in);
    json_decref(in);
    assert_non_null(out);
    json_decref(out);
    out = call(f, "GetSchemaVersionsDiff",
               "{\"SchemaId\":%s,\"FirstSchemaVersionNumber\":{\"VersionNumber\":1},"
               "\"SecondSchemaVersionNumber\":{\"VersionNumber\":2},\"SchemaDiffType\":"
               "\"SYNTAX_DIFF\"}",
               sid);
    assert_non_null(out);
    assert_non_null(strstr(catalog__str(out, "Diff"), "+"));
    assert_non_null(strstr(catalog__str(out, "Diff"), "campaign_id"));
    json_decref(out);
    /* metadata */
    for (int i = 0; i < 2; i++) {
        out = call(f, "PutSchemaVersionMetadata",
                   "{\"SchemaId\":%s,\"SchemaVersionNumber\":{\"VersionNumber\":2},"
                   "\"MetadataKeyValue\":{\"MetadataKey\":\"owner\",\"MetadataValue\":\"t%d\"}}",
                   sid, i);
        assert_non_null(out);
        assert_true(json_is_true(json_object_get(out, "LatestVersion")));
        json_decref(out);
    }
    out = call(f, "PutSchemaVersionMetadata",
               "{\"SchemaId\":%s,\"SchemaVersionNumber\":{\"VersionNumber\":2},"
               "\"MetadataKeyValue\":{\"MetadataKey\":\"owner\",\"MetadataValue\":\"t1\"}}",
               sid);
    assert_null(out);
    assert_int_equal(f->last_err.code, SL_E(ALREADY_EXISTS));
    out = call(f, "QuerySchemaVersionMetadata",
               "{\"SchemaId\":%s,\"SchemaVersionNumber\":{\"VersionNumber\":2}}", sid);
    json_t *owner = json_object_get(json_object_get(out, "MetadataInfoMap"), "owner");
    assert_non_null(owner);
    assert_int_equal(json_array_size(json_object_get(owner, "OtherMetadataValueList")), 1);
    json_decref(out);
    out = call(f, "RemoveSchemaVersionMetadata",
               "{\"SchemaId\":%s,\"SchemaVersionNumber\":{\"VersionNumber\":2},"
               "\"MetadataKeyValue\":{\"MetadataKey\":\"owner\",\"MetadataValue\":\"t0\"}}",
               sid);
    assert_non_null(out);
    json_decref(out);
    /* The checkpoint version cannot be deleted; others can. */
    out = call(f, "DeleteSchemaVersions", "{\"SchemaId\":%s,\"Versions\":\"1-2\"}", sid);
    json_t *errs = json_object_get(out, "SchemaVersionErrors");
    assert_int_equal(json_array_size(errs), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(errs, 0), "VersionNumber")),
                     1);
    json_decref(out);
    out = call(f, "CheckSchemaVersionValidity",
               "{\"DataFormat\":\"PROTOBUF\",\"SchemaDefinition\":\"message {\"}");
    assert_true(json_is_false(json_object_get(out, "Valid")));
    assert_non_null(catalog__str(out, "Error"));
    json_decref(out);
    /* DISABLED refuses any new version. */
    out = call(f, "UpdateSchema", "{\"SchemaId\":%s,\"Compatibility\":\"DISABLED\"}", sid);
    json_decref(out);
    assert_int_equal(register_version(f, "ev", AV_REC("{\"name\":\"z\",\"type\":\"int\"}"), NULL),
                     SL_E(INVALID_INPUT));
}

/* Versions is held to its pattern in the Glue model, [1-9][0-9]*(-[1-9][0-9]*)?: a sign,
 * a space, a tail, a leading zero or an overflowing number is refused, never read in
 * part. */
static void test_delete_schema_versions_parses_versions_strictly(void **state)
{
    struct fixture *f = *state;
    make_registry(f);
    assert_int_equal(create_schema(f, "s", "AVRO", "NONE", "\"int\""), 0);
    assert_int_equal(register_version(f, "s", "\"long\"", NULL), 0);
    assert_int_equal(register_version(f, "s", "\"string\"", NULL), 0);
    const char *sid = "{\"RegistryName\":\"reg\",\"SchemaName\":\"s\"}";
    static const char *const bad[] = {
        "",
        "0",
        "-1",
        "+1",
        " 1",
        "1 ",
        "1-",
        "-",
        "1-2-3",
        "1-5x",
        "2x-3",
        "01",
        "1-02",
        "1--2",
        "1\\n",
        "a",
        "1.5",
        "3-2",
        "1-27",
        "99999999999999999999",
        "1-99999999999999999999",
        "18446744073709551617",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *out =
            call(f, "DeleteSchemaVersions", "{\"SchemaId\":%s,\"Versions\":\"%s\"}", sid, bad[i]);
        if (out != NULL) {
            fail_msg("Versions \"%s\" was accepted", bad[i]);
        }
        assert_int_equal(f->last_err.code, SL_E(INVALID_INPUT));
    }
    /* Nothing was deleted by any of them; a well-formed range still works. */
    json_t *out = call(f, "DeleteSchemaVersions", "{\"SchemaId\":%s,\"Versions\":\"2-3\"}", sid);
    assert_non_null(out);
    assert_int_equal(json_array_size(json_object_get(out, "SchemaVersionErrors")), 0);
    json_decref(out);
    out = call(f, "DeleteSchemaVersions", "{\"SchemaId\":%s,\"Versions\":\"3\"}", sid);
    assert_non_null(out);
    assert_int_equal(json_array_size(json_object_get(out, "SchemaVersionErrors")), 1);
    json_decref(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        cmocka_unit_test(test_avro_resolution_rules),
        cmocka_unit_test(test_json_schema_containment),
        cmocka_unit_test(test_protobuf_field_numbers_and_wire_types),
        cmocka_unit_test(test_definitions_are_validated),
        cmocka_unit_test(test_compatibility_work_is_bounded),
        T(test_every_mode_avro),
        T(test_every_mode_json),
        T(test_every_mode_protobuf),
        T(test_all_modes_check_every_version),
        T(test_module_examples_and_reasons),
        T(test_registry_and_schema_lifecycle),
        T(test_versions_metadata_and_diff),
        T(test_delete_schema_versions_parses_versions_strictly),
#undef T
    };
    return cmocka_run_group_tests_name("catalog_registry", tests, NULL, NULL);
}
