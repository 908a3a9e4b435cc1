"""Glue Data Catalog end to end: the lab's AWS CLI commands and boto3 for every
database, table, version, partition, index and tag operation."""
import json
import os

import pytest
from botocore.exceptions import ClientError

from conftest import AwsCliError


def code(exc):
    return exc.value.response["Error"]["Code"]


def table_input(name, keys=(("year", "int"), ("month", "int"), ("region", "string"))):
    return {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "compressionType": "snappy"},
        "StorageDescriptor": {
            "Columns": [
                {"Name": "event_id", "Type": "string"},
                {"Name": "ts", "Type": "timestamp"},
                {"Name": "amount", "Type": "double"},
                {"Name": "attrs", "Type": "map<string,array<struct<k:string,v:decimal(10,2)>>>"},
            ],
            "Location": f"s3://bucket/{name}/",
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {
                "SerializationLibrary":
                    "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                "Parameters": {"serialization.format": "1"},
            },
        },
        "PartitionKeys": [{"Name": k, "Type": t} for k, t in keys],
    }


@pytest.fixture
def glue(sluice):
    return sluice.client("glue")


@pytest.fixture
def db(glue, unique):
    name = f"db_{unique}"
    glue.create_database(DatabaseInput={"Name": name, "Description": "test"})
    yield name
    try:
        glue.delete_database(Name=name)
    except ClientError:
        pass


@pytest.fixture
def partitioned(glue, db):
    glue.create_table(DatabaseName=db, TableInput=table_input("events"))
    for year in range(2020, 2025):
        entries = [{"Values": [str(year), str(month), region],
                    "StorageDescriptor": {
                        "Location": f"s3://bucket/events/{year}/{month}/{region}/"}}
                   for month in range(1, 13) for region in ("eu", "us")]
        out = glue.batch_create_partition(DatabaseName=db, TableName="events",
                                          PartitionInputList=entries)
        assert out["Errors"] == []
    return db


# ---- the lab's commands, with the AWS CLI ----

def test_lab_create_database_and_table_with_cli(sluice, unique, tmp_path):
    db = f"dojo_{unique}"
    sluice.aws("glue", "create-database", "--database-input",
               f"Name={db},Description=Dojo ingestion lab database", "--region", sluice.region)
    table = {
        "Name": "raw_events",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "compressionType": "snappy"},
        "StorageDescriptor": {
            "Columns": [
                {"Name": "event_id", "Type": "string"},
                {"Name": "ts", "Type": "timestamp"},
                {"Name": "tenant_id", "Type": "string"},
                {"Name": "device_id", "Type": "string"},
                {"Name": "event_type", "Type": "string"},
                {"Name": "amount", "Type": "double"},
            ],
            "Location": "s3://dojo-bucket/events/raw/",
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {"SerializationLibrary":
                          "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
        },
    }
    path = tmp_path / "glue-table.json"
    path.write_text(json.dumps(table))
    sluice.aws("glue", "create-table", "--database-name", db, "--table-input",
               f"file://{path}", "--region", sluice.region)
    got = sluice.aws("glue", "get-table", "--database-name", db, "--name", "raw_events")
    t = got["Table"]
    assert t["Name"] == "raw_events"
    assert t["DatabaseName"] == db
    assert t["StorageDescriptor"]["Columns"] == table["StorageDescriptor"]["Columns"]
    assert t["StorageDescriptor"]["SerdeInfo"] == table["StorageDescriptor"]["SerdeInfo"]
    assert t["Parameters"] == table["Parameters"]
    assert t["TableType"] == "EXTERNAL_TABLE"
    with pytest.raises(AwsCliError) as e:
        sluice.aws("glue", "create-table", "--database-name", db, "--table-input",
                   f"file://{path}")
    assert "AlreadyExistsException" in e.value.stderr
    # The lab's cleanup.
    sluice.aws("glue", "delete-table", "--database-name", db, "--name", "raw_events",
               "--region", sluice.region)
    sluice.aws("glue", "delete-database", "--name", db, "--region", sluice.region)
    with pytest.raises(AwsCliError) as e:
        sluice.aws("glue", "get-database", "--name", db)
    assert "EntityNotFoundException" in e.value.stderr


# ---- databases ----

def test_database_lifecycle(glue, unique):
    name = f"MixedCase_{unique}"
    glue.create_database(DatabaseInput={"Name": name, "Description": "d",
                                        "LocationUri": "s3://b/x/", "Parameters": {"a": "b"}})
    got = glue.get_database(Name=name.upper())["Database"]
    assert got["Name"] == name.lower()
    assert got["LocationUri"] == "s3://b/x/"
    assert got["Parameters"] == {"a": "b"}
    assert got["CreateTime"].year >= 2024
    with pytest.raises(ClientError) as e:
        glue.create_database(DatabaseInput={"Name": name.lower()})
    assert code(e) == "AlreadyExistsException"
    glue.update_database(Name=name, DatabaseInput={"Name": name, "Description": "new"})
    assert glue.get_database(Name=name)["Database"]["Description"] == "new"
    names = [d["Name"] for page in glue.get_paginator("get_databases").paginate(
        PaginationConfig={"PageSize": 1}) for d in page["DatabaseList"]]
    assert name.lower() in names
    glue.delete_database(Name=name)
    with pytest.raises(ClientError) as e:
        glue.get_database(Name=name)
    assert code(e) == "EntityNotFoundException"
    assert "not found" in e.value.response["Error"]["Message"]


def test_invalid_input_is_refused(glue, db):
    with pytest.raises(ClientError) as e:
        glue.create_table(DatabaseName=db, TableInput={
            "Name": "bad", "StorageDescriptor": {"Columns": [{"Name": "a", "Type": "map<int>"}]}})
    assert code(e) == "InvalidInputException"
    with pytest.raises(ClientError) as e:
        glue.create_table(DatabaseName="no_such_db", TableInput={"Name": "t"})
    assert code(e) == "EntityNotFoundException"


# ---- tables and versions ----

def test_table_fields_versions_and_search(glue, db):
    ti = table_input("Orders")
    ti["Description"] = "order events"
    ti["Owner"] = "data-team"
    glue.create_table(DatabaseName=db, TableInput=ti)
    t = glue.get_table(DatabaseName=db, Name="ORDERS")["Table"]
    assert t["Name"] == "orders"
    assert t["StorageDescriptor"] == ti["StorageDescriptor"]
    assert t["PartitionKeys"] == ti["PartitionKeys"]
    assert t["VersionId"] == "1"
    ti["Description"] = "v2"
    glue.update_table(DatabaseName=db, TableInput=ti)
    ti["Description"] = "v3"
    glue.update_table(DatabaseName=db, TableInput=ti)
    versions = glue.get_table_versions(DatabaseName=db, TableName="orders")["TableVersions"]
    assert [v["VersionId"] for v in versions] == ["3", "2", "1"]
    assert glue.get_table_version(DatabaseName=db, TableName="orders", VersionId="2")[
        "TableVersion"]["Table"]["Description"] == "v2"
    ti["Description"] = "v3 again"
    glue.update_table(DatabaseName=db, TableInput=ti, SkipArchive=True)
    assert len(glue.get_table_versions(DatabaseName=db, TableName="orders")["TableVersions"]) == 3
    glue.delete_table_version(DatabaseName=db, TableName="orders", VersionId="1")
    out = glue.batch_delete_table_version(DatabaseName=db, TableName="orders",
                                          VersionIds=["2", "3"])
    assert [e["VersionId"] for e in out["Errors"]] == ["3"]  # the current version stays
    glue.create_table(DatabaseName=db, TableInput={"Name": "orders_archive"})
    glue.create_table(DatabaseName=db, TableInput={"Name": "clicks"})
    listed = glue.get_tables(DatabaseName=db, Expression="orders*")["TableList"]
    assert sorted(t["Name"] for t in listed) == ["orders", "orders_archive"]
    found = glue.search_tables(SearchText="data-team")["TableList"]
    assert [t["Name"] for t in found if t["DatabaseName"] == db] == ["orders"]
    found = glue.search_tables(Filters=[{"Key": "DatabaseName", "Value": db}])["TableList"]
    assert len(found) == 3
    out = glue.batch_delete_table(DatabaseName=db, TablesToDelete=["clicks", "ghost"])
    assert [e["TableName"] for e in out["Errors"]] == ["ghost"]
    assert out["Errors"][0]["ErrorDetail"]["ErrorCode"] == "EntityNotFoundException"
    glue.delete_table(DatabaseName=db, Name="orders_archive")
    assert [t["Name"] for t in glue.get_tables(DatabaseName=db)["TableList"]] == ["orders"]


# ---- partitions ----

def count(glue, db, expression, **kw):
    pages = glue.get_paginator("get_partitions").paginate(
        DatabaseName=db, TableName="events", Expression=expression,
        PaginationConfig={"PageSize": 25}, **kw)
    return sum(len(p["Partitions"]) for p in pages)


@pytest.mark.parametrize("expression,expected", [
    ("", 120),
    ("year = 2024", 24),
    ("year = '2024'", 24),
    ("month > 9", 30),            # typed: 10, 11, 12 (a string compare would find none > '9')
    ("month BETWEEN 3 AND 5", 30),
    ("month NOT BETWEEN 2 AND 12", 10),
    ("region IN ('eu')", 60),
    ("region NOT IN ('eu', 'ap')", 60),
    ("region LIKE 'u%'", 60),
    ("region LIKE '_u'", 60),
    ("region LIKE '%%u%%'", 120),
    ("region NOT LIKE '%u'", 60),
    ("region LIKE 'e_%'", 60),
    ("region LIKE '__'", 120),
    ("region LIKE '___'", 0),
    ("year >= 2023 AND (month = 1 OR month = 12) AND region <> 'us'", 4),
    ("NOT year = 2020", 96),
    ("year < 2000", 0),
])
def test_get_partitions_expression(glue, partitioned, expression, expected):
    assert count(glue, partitioned, expression) == expected


def test_get_partitions_rejects_bad_expressions(glue, partitioned):
    for bad in ["year =", "year = 'abc'", "colour = 'red'", "(year = 2020", "year === 1"]:
        with pytest.raises(ClientError) as e:
            glue.get_partitions(DatabaseName=partitioned, TableName="events", Expression=bad)
        assert code(e) == "InvalidInputException", bad


def test_get_partitions_pathological_like_answers(glue, db):
    """Long LIKE segments that match up to their last byte at every offset of long
    values: a backtracking matcher takes seconds on these 4,000 partitions."""
    glue.create_table(DatabaseName=db, TableInput=table_input("paths", keys=(("path", "string"),)))
    for start in range(0, 4000, 100):
        entries = [{"Values": [("a" * 1000 + str(i))[-1000:]]} for i in range(start, start + 100)]
        out = glue.batch_create_partition(DatabaseName=db, TableName="paths",
                                          PartitionInputList=entries)
        assert out["Errors"] == []
    none = " OR ".join(["path LIKE '%" + "a" * 250 + "b%'"] * 7)
    one = "path LIKE '%" + "a_" * 125 + "3999'"
    out = glue.get_partitions(DatabaseName=db, TableName="paths", Expression=none)
    assert out["Partitions"] == []
    out = glue.get_partitions(DatabaseName=db, TableName="paths", Expression=one)
    assert [p["Values"] for p in out["Partitions"]] == [[("a" * 1000 + "3999")[-1000:]]]


def test_partition_keys_are_limited(glue, db):
    too_many = [(f"k{i}", "string") for i in range(129)]
    with pytest.raises(ClientError) as e:
        glue.create_table(DatabaseName=db, TableInput=table_input("wide", keys=too_many))
    assert code(e) == "InvalidInputException"
    assert "partition keys" in e.value.response["Error"]["Message"]
    glue.create_table(DatabaseName=db, TableInput=table_input("wide", keys=too_many[:128]))
    glue.create_partition(DatabaseName=db, TableName="wide",
                          PartitionInput={"Values": [f"v{i}" for i in range(128)]})
    with pytest.raises(ClientError) as e:
        glue.update_table(DatabaseName=db, TableInput=table_input("wide", keys=too_many))
    assert code(e) == "InvalidInputException"


def test_get_partitions_segments(glue, partitioned):
    total = 0
    for n in range(4):
        total += count(glue, partitioned, "", Segment={"SegmentNumber": n, "TotalSegments": 4})
    assert total == 120


def test_partition_operations(glue, partitioned):
    db = partitioned
    p = glue.get_partition(DatabaseName=db, TableName="events",
                           PartitionValues=["2024", "5", "eu"])["Partition"]
    assert p["Values"] == ["2024", "5", "eu"]
    assert p["StorageDescriptor"]["Location"] == "s3://bucket/events/2024/5/eu/"
    assert p["TableName"] == "events"
    out = glue.batch_create_partition(DatabaseName=db, TableName="events", PartitionInputList=[
        {"Values": ["2024", "5", "eu"]}, {"Values": ["2025", "1", "eu"]}, {"Values": ["2025"]}])
    codes = [e["ErrorDetail"]["ErrorCode"] for e in out["Errors"]]
    assert codes == ["AlreadyExistsException", "InvalidInputException"]
    glue.create_partition(DatabaseName=db, TableName="events",
                          PartitionInput={"Values": ["2026", "1", "eu"],
                                          "Parameters": {"rows": "10"}})
    with pytest.raises(ClientError) as e:
        glue.create_partition(DatabaseName=db, TableName="events",
                              PartitionInput={"Values": ["2026", "1", "eu"]})
    assert code(e) == "AlreadyExistsException"
    glue.update_partition(DatabaseName=db, TableName="events",
                          PartitionValueList=["2026", "1", "eu"],
                          PartitionInput={"Values": ["2026", "1", "eu"],
                                          "Parameters": {"rows": "20"}})
    got = glue.batch_get_partition(DatabaseName=db, TableName="events", PartitionsToGet=[
        {"Values": ["2026", "1", "eu"]}, {"Values": ["1999", "1", "eu"]}])
    assert [p["Parameters"] for p in got["Partitions"]] == [{"rows": "20"}]
    out = glue.batch_update_partition(DatabaseName=db, TableName="events", Entries=[
        {"PartitionValueList": ["2026", "1", "eu"],
         "PartitionInput": {"Values": ["2026", "1", "eu"], "Parameters": {"rows": "30"}}},
        {"PartitionValueList": ["1999", "1", "eu"],
         "PartitionInput": {"Values": ["1999", "1", "eu"]}}])
    assert [e["PartitionValueList"] for e in out["Errors"]] == [["1999", "1", "eu"]]
    out = glue.batch_delete_partition(DatabaseName=db, TableName="events", PartitionsToDelete=[
        {"Values": ["2026", "1", "eu"]}, {"Values": ["1999", "1", "eu"]}])
    assert [e["PartitionValues"] for e in out["Errors"]] == [["1999", "1", "eu"]]
    glue.delete_partition(DatabaseName=db, TableName="events", PartitionValues=["2025", "1", "eu"])
    with pytest.raises(ClientError) as e:
        glue.get_partition(DatabaseName=db, TableName="events", PartitionValues=["2025", "1", "eu"])
    assert code(e) == "EntityNotFoundException"


def test_partition_indexes(glue, partitioned):
    glue.create_partition_index(DatabaseName=partitioned, TableName="events",
                                PartitionIndex={"IndexName": "by_year_month",
                                                "Keys": ["year", "month"]})
    got = glue.get_partition_indexes(DatabaseName=partitioned, TableName="events")
    idx = got["PartitionIndexDescriptorList"]
    assert idx[0]["IndexName"] == "by_year_month"
    assert idx[0]["Keys"] == [{"Name": "year", "Type": "int"}, {"Name": "month", "Type": "int"}]
    assert idx[0]["IndexStatus"] == "ACTIVE"
    glue.delete_partition_index(DatabaseName=partitioned, TableName="events",
                                IndexName="by_year_month")
    assert glue.get_partition_indexes(DatabaseName=partitioned, TableName="events")[
        "PartitionIndexDescriptorList"] == []


def test_tags(glue, sluice, db):
    glue.create_table(DatabaseName=db, TableInput={"Name": "t"})
    arn = f"arn:aws:glue:{sluice.region}:{sluice.account_id}:table/{db}/t"
    glue.tag_resource(ResourceArn=arn, TagsToAdd={"team": "data", "env": "dev"})
    glue.untag_resource(ResourceArn=arn, TagsToRemove=["env"])
    assert glue.get_tags(ResourceArn=arn)["Tags"] == {"team": "data"}
    with pytest.raises(ClientError) as e:
        glue.get_tags(ResourceArn=arn + "_missing")
    assert code(e) == "EntityNotFoundException"
    out = sluice.aws("glue", "get-tags", "--resource-arn", arn)
    assert out["Tags"] == {"team": "data"}


def test_catalog_survives_restart(fresh_sluice, unique):
    fresh_sluice.start()
    glue = fresh_sluice.client("glue")
    glue.create_database(DatabaseInput={"Name": "durable"})
    glue.create_table(DatabaseName="durable", TableInput=table_input("events"))
    glue.create_partition(DatabaseName="durable", TableName="events",
                          PartitionInput={"Values": ["2024", "1", "eu"]})
    fresh_sluice.restart()
    glue = fresh_sluice.client("glue")
    parts = glue.get_partitions(DatabaseName="durable", TableName="events",
                                Expression="year = 2024")["Partitions"]
    assert [p["Values"] for p in parts] == [["2024", "1", "eu"]]
