"""Glue Schema Registry end to end: the lab's create-registry / create-schema commands with
the AWS CLI, every registry operation with boto3, and a table of compatibility cases in
both Avro and JSON Schema under every compatibility mode."""
import json

import pytest
from botocore.exceptions import ClientError

from conftest import AwsCliError

MODES = ["NONE", "DISABLED", "BACKWARD", "BACKWARD_ALL", "FORWARD", "FORWARD_ALL", "FULL",
         "FULL_ALL"]

# The lab's event contract (module task 2).
EVENT_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "DojoEvent",
    "type": "object",
    "required": ["event_id", "ts", "tenant_id", "device_id", "event_type", "amount"],
    "properties": {
        "event_id": {"type": "string"},
        "ts": {"type": "string"},
        "tenant_id": {"type": "string"},
        "device_id": {"type": "string"},
        "event_type": {"type": "string"},
        "amount": {"type": "number"},
    },
    "additionalProperties": False,
}


def with_props(base, **changes):
    s = json.loads(json.dumps(base))
    for name, schema in changes.items():
        if schema is None:
            s["properties"].pop(name)
            if name in s["required"]:
                s["required"].remove(name)
        else:
            s["properties"][name] = schema
    return s


def avro(*fields, name="Event"):
    return {"type": "record", "name": name, "namespace": "dojo", "fields": list(fields)}


ID = {"name": "event_id", "type": "string"}
AMOUNT = {"name": "amount", "type": "double"}

# (format, case, old, new, backward, forward): backward = new readers read old data,
# forward = old readers read new data.
CASES = [
    ("JSON", "amount number to string", EVENT_SCHEMA,
     with_props(EVENT_SCHEMA, amount={"type": "string"}), False, False),
    ("JSON", "optional campaign_id added", EVENT_SCHEMA,
     with_props(EVENT_SCHEMA, campaign_id={"type": "string"}), True, False),
    ("JSON", "optional note removed",
     with_props(EVENT_SCHEMA, note={"type": "string"}), EVENT_SCHEMA, False, True),
    ("JSON", "amount made nullable", EVENT_SCHEMA,
     with_props(EVENT_SCHEMA, amount={"type": ["number", "null"]}), True, False),
    ("JSON", "amount bounded", EVENT_SCHEMA,
     with_props(EVENT_SCHEMA, amount={"type": "number", "minimum": 0}), False, True),
    ("JSON", "description only", EVENT_SCHEMA,
     with_props(EVENT_SCHEMA, amount={"type": "number", "description": "EUR"}), True, True),
    ("AVRO", "amount double to string", avro(ID, AMOUNT),
     avro(ID, {"name": "amount", "type": "string"}), False, False),
    ("AVRO", "optional campaign_id added", avro(ID, AMOUNT),
     avro(ID, AMOUNT, {"name": "campaign_id", "type": ["null", "string"], "default": None}),
     True, True),
    ("AVRO", "required campaign_id added", avro(ID, AMOUNT),
     avro(ID, AMOUNT, {"name": "campaign_id", "type": "string"}), False, True),
    ("AVRO", "amount removed", avro(ID, AMOUNT), avro(ID), True, False),
    ("AVRO", "int promoted to long", avro({"name": "n", "type": "int"}),
     avro({"name": "n", "type": "long"}), True, False),
    ("AVRO", "enum symbol added",
     avro({"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}}),
     avro({"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B", "C"]}}),
     True, False),
]


def expected(mode, backward, forward):
    if mode == "NONE":
        return True
    if mode == "DISABLED":
        return False
    if mode.startswith("BACKWARD"):
        return backward
    if mode.startswith("FORWARD"):
        return forward
    return backward and forward


@pytest.fixture
def glue(sluice):
    return sluice.client("glue")


@pytest.fixture
def registry(glue, unique):
    name = f"reg-{unique}"
    glue.create_registry(RegistryName=name, Description="test")
    yield name
    try:
        glue.delete_registry(RegistryId={"RegistryName": name})
    except ClientError:
        pass


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fmt,case,old,new,backward,forward", CASES,
                         ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_compatibility_table(glue, registry, mode, fmt, case, old, new, backward, forward):
    name = "s-" + "".join(ch if ch.isalnum() else "-" for ch in f"{fmt}-{case}-{mode}")[:100]
    created = glue.create_schema(RegistryId={"RegistryName": registry}, SchemaName=name,
                                 DataFormat=fmt, Compatibility=mode,
                                 SchemaDefinition=json.dumps(old))
    assert created["Compatibility"] == mode
    assert created["SchemaVersionStatus"] == "AVAILABLE"
    sid = {"RegistryName": registry, "SchemaName": name}
    want = expected(mode, backward, forward)
    if want:
        out = glue.register_schema_version(SchemaId=sid, SchemaDefinition=json.dumps(new))
        assert out["VersionNumber"] == 2
        assert out["Status"] == "AVAILABLE"
    else:
        with pytest.raises(ClientError) as e:
            glue.register_schema_version(SchemaId=sid, SchemaDefinition=json.dumps(new))
        assert e.value.response["Error"]["Code"] == "InvalidInputException"
        assert mode in e.value.response["Error"]["Message"]
        versions = glue.list_schema_versions(SchemaId=sid)["Schemas"]
        assert [v["VersionNumber"] for v in versions] == [1]


def test_lab_registry_and_schema_with_cli(sluice, unique, tmp_path):
    reg = f"dojo-registry-{unique}"
    schema = f"dojo-event-{unique}"
    path = tmp_path / "event-schema.json"
    path.write_text(json.dumps(EVENT_SCHEMA, indent=2))
    out = sluice.aws("glue", "create-registry", "--registry-name", reg, "--description",
                     "Dojo ingestion event schemas", "--region", sluice.region)
    assert out["RegistryName"] == reg
    assert out["RegistryArn"].endswith(f":registry/{reg}")
    out = sluice.aws("glue", "create-schema", "--registry-id", f"RegistryName={reg}",
                     "--schema-name", schema, "--data-format", "JSON", "--compatibility",
                     "BACKWARD", "--schema-definition", f"file://{path}",
                     "--region", sluice.region)
    assert out["SchemaName"] == schema
    assert out["DataFormat"] == "JSON"
    assert out["Compatibility"] == "BACKWARD"
    assert out["LatestSchemaVersion"] == 1
    # The module's worked example: amount number -> string is refused under BACKWARD...
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(with_props(EVENT_SCHEMA, amount={"type": "string"})))
    with pytest.raises(AwsCliError) as e:
        sluice.aws("glue", "register-schema-version", "--schema-id",
                   f"RegistryName={reg},SchemaName={schema}",
                   "--schema-definition", f"file://{bad}")
    assert "InvalidInputException" in e.value.stderr
    assert "amount" in e.value.stderr
    # ... and an optional campaign_id is accepted.
    good = tmp_path / "good.json"
    good.write_text(json.dumps(with_props(EVENT_SCHEMA, campaign_id={"type": "string"})))
    out = sluice.aws("glue", "register-schema-version", "--schema-id",
                     f"RegistryName={reg},SchemaName={schema}",
                     "--schema-definition", f"file://{good}")
    assert out["VersionNumber"] == 2
    assert out["Status"] == "AVAILABLE"
    # The lab's cleanup.
    sluice.aws("glue", "delete-schema", "--schema-id",
               f"RegistryName={reg},SchemaName={schema}", "--region", sluice.region)
    sluice.aws("glue", "delete-registry", "--registry-id", f"RegistryName={reg}",
               "--region", sluice.region)
    with pytest.raises(AwsCliError) as e:
        sluice.aws("glue", "get-registry", "--registry-id", f"RegistryName={reg}")
    assert "EntityNotFoundException" in e.value.stderr


def test_all_modes_check_every_version(glue, registry):
    v1 = with_props(EVENT_SCHEMA, amount={"type": "string"})
    v2 = with_props(EVENT_SCHEMA, amount={"type": "integer"})
    v3 = EVENT_SCHEMA  # number: reads v2's integers, not v1's strings
    for mode, accepted in (("BACKWARD", True), ("BACKWARD_ALL", False)):
        sid = {"RegistryName": registry, "SchemaName": f"all-{mode}"}
        glue.create_schema(RegistryId={"RegistryName": registry}, SchemaName=sid["SchemaName"],
                           DataFormat="JSON", Compatibility="NONE",
                           SchemaDefinition=json.dumps(v1))
        glue.register_schema_version(SchemaId=sid, SchemaDefinition=json.dumps(v2))
        glue.update_schema(SchemaId=sid, Compatibility=mode)
        if accepted:
            assert glue.register_schema_version(
                SchemaId=sid, SchemaDefinition=json.dumps(v3))["VersionNumber"] == 3
        else:
            with pytest.raises(ClientError):
                glue.register_schema_version(SchemaId=sid, SchemaDefinition=json.dumps(v3))
            # Moving the checkpoint to version 2 leaves version 1 out of the check.
            glue.update_schema(SchemaId=sid, SchemaVersionNumber={"VersionNumber": 2})
            assert glue.get_schema(SchemaId=sid)["SchemaCheckpoint"] == 2
            assert glue.register_schema_version(
                SchemaId=sid, SchemaDefinition=json.dumps(v3))["VersionNumber"] == 3


def test_registry_operations(glue, sluice, registry):
    got = glue.get_registry(RegistryId={"RegistryName": registry})
    assert got["Status"] == "AVAILABLE"
    glue.update_registry(RegistryId={"RegistryName": registry}, Description="updated")
    assert glue.get_registry(RegistryId={"RegistryArn": got["RegistryArn"]})[
        "Description"] == "updated"
    assert registry in [r["RegistryName"] for r in glue.list_registries()["Registries"]]
    with pytest.raises(ClientError) as e:
        glue.create_registry(RegistryName=registry)
    assert e.value.response["Error"]["Code"] == "AlreadyExistsException"

    proto = ('syntax = "proto3";\npackage shop;\nmessage Order {\n  string id = 1;\n'
             '  int32 qty = 2;\n}\n')
    created = glue.create_schema(RegistryId={"RegistryName": registry}, SchemaName="orders",
                                 DataFormat="PROTOBUF", SchemaDefinition=proto,
                                 Tags={"team": "shop"})
    sid = {"SchemaArn": created["SchemaArn"]}
    assert glue.get_tags(ResourceArn=created["SchemaArn"])["Tags"] == {"team": "shop"}
    # Same wire type: accepted. Identical again: the same version comes back.
    v2 = proto.replace("int32 qty", "int64 qty")
    out = glue.register_schema_version(SchemaId=sid, SchemaDefinition=v2)
    again = glue.register_schema_version(SchemaId=sid, SchemaDefinition=v2)
    assert again["SchemaVersionId"] == out["SchemaVersionId"]
    assert again["VersionNumber"] == 2
    with pytest.raises(ClientError) as e:
        glue.register_schema_version(SchemaId=sid,
                                     SchemaDefinition=proto.replace("int32 qty", "string qty"))
    assert "wire" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        glue.register_schema_version(SchemaId=sid, SchemaDefinition="message Broken {")
    assert e.value.response["Error"]["Code"] == "InvalidInputException"

    schema = glue.get_schema(SchemaId=sid)
    assert schema["LatestSchemaVersion"] == 2
    assert schema["NextSchemaVersion"] == 3
    assert "orders" in [s["SchemaName"] for s in glue.list_schemas(
        RegistryId={"RegistryName": registry})["Schemas"]]
    versions = glue.list_schema_versions(SchemaId=sid)["Schemas"]
    assert [v["VersionNumber"] for v in versions] == [1, 2]
    ver = glue.get_schema_version(SchemaVersionId=out["SchemaVersionId"])
    assert ver["SchemaDefinition"] == v2
    assert ver["DataFormat"] == "PROTOBUF"
    latest = glue.get_schema_version(SchemaId=sid, SchemaVersionNumber={"LatestVersion": True})
    assert latest["VersionNumber"] == 2
    by_def = glue.get_schema_by_definition(SchemaId=sid, SchemaDefinition=proto)
    assert by_def["SchemaVersionId"] == created["SchemaVersionId"]
    diff = glue.get_schema_versions_diff(SchemaId=sid,
                                         FirstSchemaVersionNumber={"VersionNumber": 1},
                                         SecondSchemaVersionNumber={"VersionNumber": 2},
                                         SchemaDiffType="SYNTAX_DIFF")["Diff"]
    assert "-  int32 qty = 2;" in diff and "+  int64 qty = 2;" in diff

    kv = {"MetadataKey": "owner", "MetadataValue": "shop-team"}
    put = glue.put_schema_version_metadata(SchemaId=sid,
                                           SchemaVersionNumber={"VersionNumber": 2},
                                           MetadataKeyValue=kv)
    assert put["LatestVersion"] is True
    meta = glue.query_schema_version_metadata(SchemaVersionId=out["SchemaVersionId"])
    assert meta["MetadataInfoMap"]["owner"]["MetadataValue"] == "shop-team"
    glue.remove_schema_version_metadata(SchemaVersionId=out["SchemaVersionId"],
                                        MetadataKeyValue=kv)
    assert glue.query_schema_version_metadata(
        SchemaVersionId=out["SchemaVersionId"])["MetadataInfoMap"] == {}

    valid = glue.check_schema_version_validity(DataFormat="AVRO", SchemaDefinition='"int"')
    assert valid["Valid"] is True
    invalid = glue.check_schema_version_validity(DataFormat="AVRO",
                                                 SchemaDefinition='{"type":"record"}')
    assert invalid["Valid"] is False and invalid["Error"]

    errs = glue.delete_schema_versions(SchemaId=sid, Versions="1-2")["SchemaVersionErrors"]
    assert [e["VersionNumber"] for e in errs] == [1]  # the checkpoint stays
    assert glue.delete_schema(SchemaId=sid)["Status"] == "DELETING"
    with pytest.raises(ClientError) as e:
        glue.get_schema(SchemaId=sid)
    assert e.value.response["Error"]["Code"] == "EntityNotFoundException"


def test_default_registry(glue, unique):
    name = f"default-{unique}"
    out = glue.create_schema(SchemaName=name, DataFormat="AVRO",
                             SchemaDefinition=json.dumps(avro(ID)))
    assert out["RegistryName"] == "default-registry"
    assert glue.get_schema(SchemaId={"SchemaName": name, "RegistryName": "default-registry"})[
        "SchemaName"] == name
    glue.delete_schema(SchemaId={"SchemaName": name, "RegistryName": "default-registry"})


def test_oversized_and_deep_definitions_are_refused(glue, registry):
    deep = '"int"'
    for _ in range(300):
        deep = '{"type":"array","items":' + deep + '}'
    for fmt, definition in (("AVRO", deep), ("JSON", "[" * 3000 + "]" * 3000),
                            ("JSON", '{"description":"' + "x" * 180000 + '"}')):
        with pytest.raises(ClientError) as e:
            glue.create_schema(RegistryId={"RegistryName": registry}, SchemaName="big",
                               DataFormat=fmt, SchemaDefinition=definition)
        assert e.value.response["Error"]["Code"] in ("InvalidInputException",
                                                     "ValidationException")
