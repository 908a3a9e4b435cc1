"""Data Firehose format conversion: JSON records to Parquet with a Glue table's schema.

The seed lab's pipeline end to end: its Glue table, its delivery stream exactly as the
lab creates it (KinesisStreamAsSource, OpenXJsonSerDe -> ParquetSerDe SNAPPY, Prefix
events/raw/, ErrorOutputPrefix events/errors/!{firehose:error-output-type}/), fed with
Kinesis PutRecords. The Parquet objects are read back with hyparquet (node), a reader
that shares no code with DuckDB, which wrote them; tests/e2e/js/install.sh installs it.
"""
import base64
import datetime as dt
import json
import os
import random
import subprocess
import time
import uuid

import pytest

from test_firehose import ROLE, client, flush, list_objects, wait_active

JS = os.path.join(os.path.dirname(__file__), "js")


@pytest.fixture(scope="module")
def hyparquet():
    """hyparquet is pinned in js/package-lock.json beside the JavaScript SDK and installed
    with it by scripts/install-js-sdk.sh, which make test runs."""
    assert os.path.isdir(os.path.join(JS, "node_modules", "hyparquet")), \
        "run scripts/install-js-sdk.sh (make test does) first"


def read_parquet(path):
    p = subprocess.run(["node", os.path.join(JS, "read_parquet.mjs"), path], check=True,
                       capture_output=True, timeout=120)
    return json.loads(p.stdout)


LAB_COLUMNS = [
    {"Name": "event_id", "Type": "string"},
    {"Name": "ts", "Type": "timestamp"},
    {"Name": "tenant_id", "Type": "string"},
    {"Name": "device_id", "Type": "string"},
    {"Name": "event_type", "Type": "string"},
    {"Name": "amount", "Type": "double"},
]


def lab_table(glue, db, table, bucket, columns=LAB_COLUMNS):
    glue.create_database(DatabaseInput={"Name": db, "Description": "Dojo ingestion lab database"})
    glue.create_table(DatabaseName=db, TableInput={
        "Name": table,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "compressionType": "snappy"},
        "StorageDescriptor": {
            "Columns": columns,
            "Location": f"s3://{bucket}/events/raw/",
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {"SerializationLibrary":
                          "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
        },
    })


def lab_stream(fh, name, stream_arn, bucket, db, table, region, input_serde=None):
    fh.create_delivery_stream(
        DeliveryStreamName=name,
        DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": stream_arn, "RoleARN": ROLE},
        ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE,
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "Prefix": "events/raw/",
            "ErrorOutputPrefix": "events/errors/!{firehose:error-output-type}/",
            "BufferingHints": {"SizeInMBs": 128, "IntervalInSeconds": 300},
            "CompressionFormat": "UNCOMPRESSED",
            "DataFormatConversionConfiguration": {
                "Enabled": True,
                "InputFormatConfiguration": {"Deserializer": input_serde or {"OpenXJsonSerDe": {}}},
                "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {
                    "Compression": "SNAPPY"}}},
                "SchemaConfiguration": {"RoleARN": ROLE, "DatabaseName": db, "TableName": table,
                                        "Region": region, "VersionId": "LATEST"},
            },
        })
    return wait_active(fh, name)


def make_event(start, index):
    timestamp = start + dt.timedelta(milliseconds=index * 25)
    return {
        "event_id": str(uuid.uuid4()),
        "ts": timestamp.strftime("%Y-%m-%d %H:%M:%S"),
        "tenant_id": f"tenant-{random.randint(1, 8):03d}",
        "device_id": f"device-{random.randint(1, 800):05d}",
        "event_type": random.choice(["view", "click", "checkout", "refund"]),
        "amount": round(random.uniform(1.0, 250.0), 2),
    }


def setup_lab(sluice, unique, input_serde=None, columns=LAB_COLUMNS):
    fh, s3, kin, glue = (client(sluice, s) for s in ("firehose", "s3", "kinesis", "glue"))
    bucket = "lab-" + unique
    db, table = "dojo_" + unique, "events"
    s3.create_bucket(Bucket=bucket)
    kin.create_stream(StreamName=bucket, ShardCount=2)
    kin.get_waiter("stream_exists").wait(StreamName=bucket,
                                         WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    karn = kin.describe_stream_summary(StreamName=bucket)["StreamDescriptionSummary"]["StreamARN"]
    lab_table(glue, db, table, bucket, columns)
    lab_stream(fh, bucket, karn, bucket, db, table, sluice.region, input_serde)
    return fh, s3, kin, bucket, db, table


def wait_for(sluice, s3, bucket, prefix, n_objects, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        flush(sluice)
        objs = list_objects(s3, bucket, prefix)
        if len(objs) >= n_objects:
            return objs
        time.sleep(0.3)
    raise AssertionError(f"no objects under {prefix}:\n" + sluice.read_log()[-3000:])


def ts_ms(text):
    return int(dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(
        tzinfo=dt.timezone.utc).timestamp() * 1000)


def test_lab_stream_converts_to_parquet_and_routes_bad_records(sluice, unique, hyparquet,
                                                                tmp_path):
    fh, s3, kin, bucket, db, table = setup_lab(sluice, unique)
    start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    good = [make_event(start, i) for i in range(300)]
    good[5]["extra_field"] = {"ignored": True}          # extra keys are ignored
    del good[6]["amount"]                               # a missing column is null
    good[7]["Tenant_ID"] = good[7].pop("tenant_id")     # CaseInsensitive by default
    good[8]["amount"] = "12.5"                          # OpenX reads numeric text
    bad = [
        (b"this is not json", "DataFormatConversion.ParseError", None),
        (b'[{"event_id":"a"}]', "DataFormatConversion.ParseError", None),
        (json.dumps({"event_id": "x", "amount": "lots"}).encode(),
         "DataFormatConversion.MalformedData", "amount"),
        (json.dumps({"event_id": "y", "ts": "yesterday"}).encode(),
         "DataFormatConversion.MalformedData", "ts"),
        (json.dumps({"event_id": "z", "amount": "1e999"}).encode(),
         "DataFormatConversion.MalformedData", "amount"),
        (b'{"event_id":"\xff\xfe"}', "DataFormatConversion.ParseError", None),
    ]
    records = [{"Data": json.dumps(e, separators=(",", ":")).encode(),
                "PartitionKey": e["device_id"]} for e in good]
    records += [{"Data": raw, "PartitionKey": f"bad-{i}"} for i, (raw, _, _) in enumerate(bad)]
    random.shuffle(records)
    r = kin.put_records(StreamName=bucket, Records=records)
    assert r["FailedRecordCount"] == 0
    seqs = {rec["Data"]: res["SequenceNumber"] for rec, res in zip(records, r["Records"])}

    objs = wait_for(sluice, s3, bucket, "events/raw/", 1)
    errs = wait_for(sluice, s3, bucket, "events/errors/", 1)
    rows = []
    for o in objs:
        assert o["Key"].endswith(".parquet")
        assert o["Key"].startswith("events/raw/") and o["Key"].count("/") == 6  # yyyy/MM/dd/HH/
        path = tmp_path / os.path.basename(o["Key"])
        path.write_bytes(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())
        got = read_parquet(str(path))
        schema = {e["name"]: e for e in got["schema"][1:]}
        assert list(schema) == [c["Name"] for c in LAB_COLUMNS]
        assert schema["event_id"]["type"] == "BYTE_ARRAY"
        assert schema["event_id"]["logical"] == "STRING" or schema["event_id"]["converted"] == "UTF8"
        assert schema["amount"]["type"] == "DOUBLE"
        assert schema["ts"]["type"] == "INT64" and schema["ts"]["logical"] == "TIMESTAMP"
        assert got["codec"] == "SNAPPY"
        rows += got["rows"]
    assert len(rows) == len(good)
    by_id = {row["event_id"]: row for row in rows}
    for e in good:
        row = by_id[e["event_id"]]
        assert row["ts"] == {"epoch_ms": ts_ms(e["ts"])}
        assert row["tenant_id"] == e.get("tenant_id", e.get("Tenant_ID"))
        assert row["device_id"] == e["device_id"]
        assert row["event_type"] == e["event_type"]
        want = e.get("amount")
        assert row["amount"] == (float(want) if want is not None else None)

    lines = []
    for o in errs:
        assert o["Key"].startswith("events/errors/format-conversion-failed/")
        lines += s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().decode().splitlines()
    assert len(lines) == len(bad)
    by_raw = {base64.b64decode(json.loads(x)["rawData"]): json.loads(x) for x in lines}
    for raw, code, column in bad:
        er = by_raw[raw]
        assert list(er) == ["attemptsMade", "arrivalTimestamp", "lastErrorCode",
                            "lastErrorMessage", "attemptEndingTimestamp", "rawData",
                            "sequenceNumber", "subSequenceNumber", "dataCatalogTable"]
        assert er["lastErrorCode"] == code
        if column:
            assert column in er["lastErrorMessage"]
        assert er["attemptsMade"] == 1
        assert er["attemptEndingTimestamp"] >= er["arrivalTimestamp"] > 0
        assert er["sequenceNumber"] == seqs[raw]
        assert er["dataCatalogTable"] == {
            "catalogId": sluice.account_id, "databaseName": db, "tableName": table,
            "region": sluice.region, "versionId": "LATEST",
            "catalogArn": f"arn:aws:glue:{sluice.region}:{sluice.account_id}:catalog"}
    c = fh.describe_delivery_stream(DeliveryStreamName=bucket)["DeliveryStreamDescription"]
    assert c["DeliveryStreamStatus"] == "ACTIVE"


NESTED = [
    {"Name": "id", "Type": "bigint"},
    {"Name": "small", "Type": "tinyint"},
    {"Name": "price", "Type": "decimal(10,2)"},
    {"Name": "day", "Type": "date"},
    {"Name": "tags", "Type": "array<string>"},
    {"Name": "attrs", "Type": "map<string,int>"},
    {"Name": "geo", "Type": "struct<lat:double,lon:double,name:varchar(5)>"},
    {"Name": "ok", "Type": "boolean"},
    {"Name": "raw", "Type": "binary"},
]


def test_every_kind_of_type_reads_back_with_its_parquet_type(sluice, unique, hyparquet,
                                                                  tmp_path):
    fh, s3, kin, bucket, db, table = setup_lab(sluice, unique, columns=NESTED)
    sent = [
        {"id": 9007199254740993, "small": -128, "price": "12.345", "day": "2024-02-29",
         "tags": ["a", "b\u00e9"], "attrs": {"x": 1, "y": -2},
         "geo": {"LAT": 1.5, "lon": -2.25, "name": "abcdefgh"}, "ok": True, "raw": "bytes"},
        {"id": 2, "tags": [], "attrs": {}, "geo": None, "ok": "false"},
    ]
    bad = [json.dumps({"id": 3, "small": 128}).encode(),          # out of range
           json.dumps({"id": 4, "tags": "notalist"}).encode()]    # wrong type
    r = kin.put_records(StreamName=bucket, Records=[
        {"Data": json.dumps(x).encode(), "PartitionKey": "k"} for x in sent] + [
        {"Data": x, "PartitionKey": "k"} for x in bad])
    assert r["FailedRecordCount"] == 0
    objs = wait_for(sluice, s3, bucket, "events/raw/", 1)
    path = tmp_path / "n.parquet"
    path.write_bytes(s3.get_object(Bucket=bucket, Key=objs[0]["Key"])["Body"].read())
    got = read_parquet(str(path))
    rows = sorted(got["rows"], key=lambda x: int(x["id"]))
    assert len(rows) == 2
    a, b = (rows[1], rows[0]) if int(rows[0]["id"]) == 2 else (rows[0], rows[1])
    assert str(a["id"]) == "9007199254740993"
    assert a["small"] == -128
    assert float(a["price"]) == 12.35  # rounded to the column's scale
    assert a["day"] in ({"epoch_ms": 1709164800000}, "2024-02-29")
    assert a["tags"] == ["a", "b\u00e9"]
    assert a["attrs"] == {"x": 1, "y": -2}
    assert a["geo"] == {"lat": 1.5, "lon": -2.25, "name": "abcde"}
    assert a["ok"] is True
    assert a["raw"] == "bytes"
    schema = {e["name"]: e for e in got["schema"]}
    assert schema["small"]["converted"] == "INT_8"
    assert schema["price"]["logical"] == "DECIMAL" and schema["day"]["converted"] == "DATE"
    assert schema["tags"]["converted"] == "LIST" and schema["attrs"]["converted"] == "MAP"
    assert b["ok"] is False and b.get("geo") is None and b["tags"] == [] and b["price"] is None
    errs = wait_for(sluice, s3, bucket, "events/errors/format-conversion-failed/", 1)
    lines = [json.loads(x) for o in errs for x in
             s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().decode().splitlines()]
    msgs = sorted((x["lastErrorCode"], x["lastErrorMessage"]) for x in lines)
    assert [m[0] for m in msgs] == ["DataFormatConversion.MalformedData"] * 2
    assert any("small" in m[1] for m in msgs) and any("tags" in m[1] for m in msgs)


def test_direct_put_hive_serde_default_error_layout_and_table_changes(sluice, unique, hyparquet,
                                                                      tmp_path):
    """DirectPut, HiveJsonSerDe with TimestampFormats, GZIP Parquet, no ErrorOutputPrefix
    (AWS's default error layout), and a table changed between two objects."""
    fh, s3, glue = (client(sluice, s) for s in ("firehose", "s3", "glue"))
    bucket = "dp-" + unique
    db = "db_" + unique
    s3.create_bucket(Bucket=bucket)
    cols = [{"Name": "id", "Type": "int"}, {"Name": "at", "Type": "timestamp"}]
    glue.create_database(DatabaseInput={"Name": db})
    glue.create_table(DatabaseName=db, TableInput={
        "Name": "t", "StorageDescriptor": {"Columns": cols, "Location": f"s3://{bucket}/"}})
    fh.create_delivery_stream(
        DeliveryStreamName=bucket, DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bucket}", "Prefix": "data/",
            "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 300},
            "DataFormatConversionConfiguration": {
                "InputFormatConfiguration": {"Deserializer": {"HiveJsonSerDe": {
                    "TimestampFormats": ["yyyy/MM/dd HH:mm", "millis"]}}},
                "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {
                    "Compression": "GZIP", "WriterVersion": "V2"}}},
                "SchemaConfiguration": {"RoleARN": ROLE, "DatabaseName": db,
                                        "TableName": "t"}}})
    wait_active(fh, bucket)
    fh.put_record_batch(DeliveryStreamName=bucket, Records=[
        {"Data": b'{"id":1,"at":"2024/02/29 12:34"}'},
        {"Data": b'{"id":2,"at":1709210096000}'},
        {"Data": b'{"id":"3"}'}])  # Hive: no text for a number
    objs = wait_for(sluice, s3, bucket, "data/2", 1)  # data/yyyy/MM/dd/HH/
    assert len(objs) == 1 and objs[0]["Key"].endswith(".parquet")
    p1 = tmp_path / "1.parquet"
    p1.write_bytes(s3.get_object(Bucket=bucket, Key=objs[0]["Key"])["Body"].read())
    got = read_parquet(str(p1))
    assert got["codec"] == "GZIP"
    assert sorted((r["id"], r["at"]["epoch_ms"]) for r in got["rows"]) == [
        (1, 1709210040000), (2, 1709210096000)]
    errs = wait_for(sluice, s3, bucket, "data/format-conversion-failed/", 1)
    key = errs[0]["Key"]
    assert key.count("/") == 6  # data/format-conversion-failed/yyyy/MM/dd/HH/name
    er = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert er["lastErrorCode"] == "DataFormatConversion.MalformedData"
    assert "'id'" in er["lastErrorMessage"]
    assert "sequenceNumber" not in er
    assert er["dataCatalogTable"]["versionId"] == "LATEST"

    # A column added to the table shows in the next object.
    glue.update_table(DatabaseName=db, TableInput={
        "Name": "t", "StorageDescriptor": {
            "Columns": cols + [{"Name": "note", "Type": "string"}],
            "Location": f"s3://{bucket}/"}})
    fh.put_record(DeliveryStreamName=bucket, Record={"Data": b'{"id":4,"note":"new"}'})
    first = objs[0]["Key"]
    objs = wait_for(sluice, s3, bucket, "data/2", 2)
    newest = [o for o in objs if o["Key"] != first]
    p2 = tmp_path / "2.parquet"
    p2.write_bytes(s3.get_object(Bucket=bucket, Key=newest[-1]["Key"])["Body"].read())
    got = read_parquet(str(p2))
    assert [e["name"] for e in got["schema"][1:]] == ["id", "at", "note"]
    assert got["rows"][0]["id"] == 4 and got["rows"][0]["note"] == "new"


def test_lab_tasks_with_the_aws_cli_and_the_lab_producer(sluice, unique, hyparquet, tmp_path):
    """Tasks 2-5 of the seed lab as it runs them: the AWS CLI with the lab's own JSON files
    (glue-table.json, firehose-stream.json), then the lab's producer (put_records in
    batches of 500, partition key device_id); every event lands once in Parquet."""
    bucket, stream, db, table = "dojo-" + unique, "dojo-events-" + unique, "dojo_" + unique, \
        "events"
    region, account = sluice.region, sluice.account_id
    s3, kin = client(sluice, "s3"), client(sluice, "kinesis")
    s3.create_bucket(Bucket=bucket)
    kin.create_stream(StreamName=stream, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    kin.get_waiter("stream_exists").wait(StreamName=stream,
                                         WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    sluice.aws("glue", "create-database", "--database-input",
               f"Name={db},Description=Dojo ingestion lab database", "--region", region)
    (tmp_path / "glue-table.json").write_text(json.dumps({
        "Name": table, "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "compressionType": "snappy"},
        "StorageDescriptor": {
            "Columns": LAB_COLUMNS, "Location": f"s3://{bucket}/events/raw/",
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {"SerializationLibrary":
                          "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"}}}))
    sluice.aws("glue", "create-table", "--database-name", db, "--table-input",
               f"file://{tmp_path}/glue-table.json", "--region", region)
    role_arn = f"arn:aws:iam::{account}:role/dojo-firehose-role"
    (tmp_path / "firehose-stream.json").write_text(json.dumps({
        "DeliveryStreamName": stream,
        "DeliveryStreamType": "KinesisStreamAsSource",
        "KinesisStreamSourceConfiguration": {
            "KinesisStreamARN": f"arn:aws:kinesis:{region}:{account}:stream/{stream}",
            "RoleARN": role_arn},
        "ExtendedS3DestinationConfiguration": {
            "RoleARN": role_arn, "BucketARN": f"arn:aws:s3:::{bucket}",
            "Prefix": "events/raw/",
            "ErrorOutputPrefix": "events/errors/!{firehose:error-output-type}/",
            "BufferingHints": {"SizeInMBs": 128, "IntervalInSeconds": 300},
            "CompressionFormat": "UNCOMPRESSED",
            "DataFormatConversionConfiguration": {
                "Enabled": True,
                "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
                "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {
                    "Compression": "SNAPPY"}}},
                "SchemaConfiguration": {"RoleARN": role_arn, "DatabaseName": db,
                                        "TableName": table, "Region": region,
                                        "VersionId": "LATEST"}}}}))
    sluice.aws("firehose", "create-delivery-stream", "--cli-input-json",
               f"file://{tmp_path}/firehose-stream.json", "--region", region)
    for _ in range(100):
        status = sluice.aws("firehose", "describe-delivery-stream", "--delivery-stream-name",
                            stream, "--query", "DeliveryStreamDescription.DeliveryStreamStatus",
                            "--output", "text", "--region", region, output="text").strip()
        if status == "ACTIVE":
            break
        time.sleep(0.1)
    assert status == "ACTIVE"

    start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    events = [make_event(start, i) for i in range(5000)]
    for i in range(0, len(events), 500):
        request = [{"Data": json.dumps(e, separators=(",", ":")).encode("utf-8"),
                    "PartitionKey": e["device_id"]} for e in events[i:i + 500]]
        while request:
            r = kin.put_records(StreamName=stream, Records=request)
            request = [rec for rec, res in zip(request, r["Records"]) if "ErrorCode" in res]
    rows = []
    deadline = time.time() + 60
    while len(rows) < len(events) and time.time() < deadline:
        flush(sluice)
        time.sleep(0.5)
        rows = []
        for o in list_objects(s3, bucket, "events/raw/"):
            path = tmp_path / os.path.basename(o["Key"])
            path.write_bytes(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())
            rows += read_parquet(str(path))["rows"]
    assert len(rows) == len(events)
    want = {e["event_id"]: e for e in events}
    for row in rows:
        e = want.pop(row["event_id"])
        assert (row["ts"]["epoch_ms"], row["tenant_id"], row["device_id"], row["event_type"],
                row["amount"]) == (ts_ms(e["ts"]), e["tenant_id"], e["device_id"],
                                   e["event_type"], e["amount"])
    assert not want
    assert list_objects(s3, bucket, "events/errors/") == []


def converted(sluice_s3, bucket, tmp_path):
    """(Counter of ids in Parquet objects, Counter of ids in error objects)."""
    import collections
    good, bad = collections.Counter(), collections.Counter()
    paths = []
    for o in list_objects(sluice_s3, bucket):
        body = sluice_s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
        if "format-conversion-failed" in o["Key"]:
            for line in body.decode().splitlines():
                bad[json.loads(base64.b64decode(json.loads(line)["rawData"]))["id"]] += 1
        else:
            path = tmp_path / os.path.basename(o["Key"])
            path.write_bytes(body)
            paths.append(str(path))
    if paths:
        p = subprocess.run(["node", os.path.join(JS, "read_parquet.mjs")] + paths, check=True,
                           capture_output=True, timeout=300)
        files = json.loads(p.stdout)
        files = files if len(paths) > 1 else [files]
        for f in files:
            good.update(r["id"] for r in f["rows"])
    return good, bad


def test_conversion_survives_kill9_with_every_record_in_parquet_or_error(fresh_sluice,
                                                                         hyparquet, tmp_path):
    import signal
    import threading
    fresh_sluice.start()
    fh, s3, glue = (client(fresh_sluice, s) for s in ("firehose", "s3", "glue"))
    s3.create_bucket(Bucket="ccrash")
    glue.create_database(DatabaseInput={"Name": "cdb"})
    glue.create_table(DatabaseName="cdb", TableInput={"Name": "t", "StorageDescriptor": {
        "Columns": [{"Name": "id", "Type": "string"}, {"Name": "n", "Type": "int"}]}})
    fh.create_delivery_stream(DeliveryStreamName="ccrash", ExtendedS3DestinationConfiguration={
        "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::ccrash", "Prefix": "ok/",
        "ErrorOutputPrefix": "err/!{firehose:error-output-type}/",
        "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60},
        "DataFormatConversionConfiguration": {
            "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
            "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {}}},
            "SchemaConfiguration": {"RoleARN": ROLE, "DatabaseName": "cdb", "TableName": "t"}}})
    wait_active(fh, "ccrash")
    acked_good, acked_bad = [], []
    stop = threading.Event()

    def producer(tag):
        n = 0
        while not stop.is_set():
            recs = [{"id": f"{tag}-{n + i}", "n": (n + i) if (n + i) % 10 else "x"}
                    for i in range(100)]
            try:
                r = fh.put_record_batch(DeliveryStreamName="ccrash", Records=[
                    {"Data": json.dumps(x).encode()} for x in recs])
            except Exception:
                return
            assert r["FailedPutCount"] == 0
            for x in recs:
                (acked_good if isinstance(x["n"], int) else acked_bad).append(x["id"])
            n += 100

    def flusher():
        while not stop.is_set():
            try:
                fresh_sluice.proc.send_signal(signal.SIGUSR1)
            except (AttributeError, ProcessLookupError):
                return
            time.sleep(0.1)

    threads = [threading.Thread(target=producer, args=(f"w{t}",)) for t in range(2)]
    threads.append(threading.Thread(target=flusher))
    for t in threads:
        t.start()
    time.sleep(3)
    fresh_sluice.kill9()
    stop.set()
    for t in threads:
        t.join()
    assert len(acked_good) > 500
    fresh_sluice.start()
    s3 = client(fresh_sluice, "s3")
    deadline = time.time() + 90
    while True:
        fresh_sluice.proc.send_signal(signal.SIGUSR1)
        time.sleep(1)
        good, bad = converted(s3, "ccrash", tmp_path)
        missing = [i for i in acked_good if i not in good] + [i for i in acked_bad if i not in bad]
        if not missing or time.time() > deadline:
            break
    assert not missing, f"{len(missing)} acknowledged records lost"
    assert not (set(good) & set(acked_bad)) and not (set(bad) & set(acked_good))
    dups = sum(c - 1 for c in good.values() if c > 1) + sum(c - 1 for c in bad.values() if c > 1)
    print(f"acknowledged {len(acked_good) + len(acked_bad)}, duplicates {dups}")
    staging = os.path.join(fresh_sluice.data_dir, "delivery", "staging")
    assert os.listdir(staging) == []


def test_records_wait_for_a_missing_table_and_convert_once_it_exists(sluice, unique, hyparquet,
                                                                      tmp_path):
    fh, s3, glue = (client(sluice, s) for s in ("firehose", "s3", "glue"))
    bucket, db = "mt-" + unique, "mt_" + unique
    s3.create_bucket(Bucket=bucket)
    fh.create_delivery_stream(
        DeliveryStreamName=bucket,
        ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bucket}",
            "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60},
            "DataFormatConversionConfiguration": {
                "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
                "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {}}},
                "SchemaConfiguration": {"RoleARN": ROLE, "DatabaseName": db,
                                        "TableName": "later"}}})
    wait_active(fh, bucket)
    fh.put_record_batch(DeliveryStreamName=bucket, Records=[
        {"Data": json.dumps({"k": i}).encode()} for i in range(10)])
    for _ in range(6):
        flush(sluice)
        time.sleep(0.25)
    assert list_objects(s3, bucket) == []  # held back, not dropped and not in errors
    glue.create_database(DatabaseInput={"Name": db})
    glue.create_table(DatabaseName=db, TableInput={"Name": "later", "StorageDescriptor": {
        "Columns": [{"Name": "k", "Type": "smallint"}]}})
    objs = wait_for(sluice, s3, bucket, "", 1, timeout=60)
    assert len(objs) == 1 and objs[0]["Key"].endswith(".parquet")
    path = tmp_path / "x.parquet"
    path.write_bytes(s3.get_object(Bucket=bucket, Key=objs[0]["Key"])["Body"].read())
    assert sorted(r["k"] for r in read_parquet(str(path))["rows"]) == list(range(10))


def test_a_table_without_a_parquet_form_sends_records_to_errors(sluice, unique):
    fh, s3, glue = (client(sluice, s) for s in ("firehose", "s3", "glue"))
    bucket, db = "us-" + unique, "us_" + unique
    s3.create_bucket(Bucket=bucket)
    glue.create_database(DatabaseInput={"Name": db})
    glue.create_table(DatabaseName=db, TableInput={"Name": "u", "StorageDescriptor": {
        "Columns": [{"Name": "k", "Type": "int"}, {"Name": "v", "Type": "uniontype<int,string>"}]}})
    fh.create_delivery_stream(
        DeliveryStreamName=bucket,
        ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bucket}",
            "ErrorOutputPrefix": "e/!{firehose:error-output-type}/",
            "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60},
            "DataFormatConversionConfiguration": {
                "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
                "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {}}},
                "SchemaConfiguration": {"RoleARN": ROLE, "DatabaseName": db, "TableName": "u"}}})
    wait_active(fh, bucket)
    fh.put_record_batch(DeliveryStreamName=bucket, Records=[
        {"Data": json.dumps({"k": i}).encode()} for i in range(3)])
    objs = wait_for(sluice, s3, bucket, "e/format-conversion-failed/", 1)
    lines = s3.get_object(Bucket=bucket, Key=objs[0]["Key"])["Body"].read().decode().splitlines()
    assert len(lines) == 3
    er = json.loads(lines[0])
    assert er["lastErrorCode"] == "DataFormatConversion.InvalidSchema"
    assert "uniontype" in er["lastErrorMessage"] and "'v'" in er["lastErrorMessage"]
    assert [o["Key"] for o in list_objects(s3, bucket) if o["Key"].endswith(".parquet")] == []
