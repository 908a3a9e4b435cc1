"""Data Firehose dynamic partitioning: MetadataExtraction (jq 1.6) keys, one object per
partition under the evaluated prefix, bad records under metadata-extraction-failed.

Delivery is made quick with SIGUSR1 (flush every delivery stream, a Sluice extension).
"""
import base64
import datetime as dt
import json
import os
import random
import time

import pytest
from botocore.exceptions import ClientError

from test_firehose import ROLE, client, err, flush, list_objects, wait_active
from test_firehose_convert import LAB_COLUMNS, lab_table, make_event, read_parquet
from test_firehose_convert import hyparquet  # noqa: F401 (fixture)

PREFIX = "data/k1=!{partitionKeyFromQuery:k1}/k2=!{partitionKeyFromQuery:k2}/"
ERR_PREFIX = "err/!{firehose:error-output-type}/"


def dp_conf(bucket, query="{k1: .a, k2: .b}", engine="JQ-1.6", delimiter=True, **kw):
    procs = [{"Type": "MetadataExtraction", "Parameters": [
        {"ParameterName": "MetadataExtractionQuery", "ParameterValue": query},
        {"ParameterName": "JsonParsingEngine", "ParameterValue": engine}]}]
    if delimiter:
        procs.append({"Type": "AppendDelimiterToRecord", "Parameters": []})
    c = {"RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bucket}", "Prefix": PREFIX,
         "ErrorOutputPrefix": ERR_PREFIX,
         "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60},
         "DynamicPartitioningConfiguration": {"Enabled": True},
         "ProcessingConfiguration": {"Enabled": True, "Processors": procs}}
    c.update(kw)
    return c


def objects_until(sluice, s3, bucket, prefix, done, timeout=30):
    """Flushes and lists until done(objects) holds."""
    deadline = time.time() + timeout
    while True:
        flush(sluice)
        time.sleep(0.3)
        objs = list_objects(s3, bucket, prefix)
        if done(objs) or time.time() > deadline:
            return objs


def lines_under(s3, bucket, objs):
    out = {}
    for o in objs:
        body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
        out[o["Key"]] = body.split(b"\n")
    return out


@pytest.mark.parametrize("query,engine,fragment", [
    ("{k1: .a} | def f: f; f", "JQ-1.6", "MetadataExtractionQuery"),
    ("{k1: [range(1e9)]}", "JQ-1.6", "MetadataExtractionQuery"),
    ("{k1: .a", "JQ-1.6", "MetadataExtractionQuery"),
    ("{k1: .a, k2: .b}", "JQ-1.5", "JQ-1.6"),
])
def test_bad_extraction_query_refused(sluice, unique, query, engine, fragment):
    fh = client(sluice, "firehose")
    name = "dpq-" + unique
    with pytest.raises(ClientError) as e:
        fh.create_delivery_stream(DeliveryStreamName=name,
                                  ExtendedS3DestinationConfiguration=dp_conf(
                                      name, query=query, engine=engine))
    code, msg = err(e)
    assert code == "InvalidArgumentException" and fragment in msg, msg
    assert name not in fh.list_delivery_streams(Limit=10000)["DeliveryStreamNames"]


def test_update_destination_refuses_bad_query(sluice, unique):
    fh = client(sluice, "firehose")
    s3 = client(sluice, "s3")
    name = "dpu-" + unique
    s3.create_bucket(Bucket=name)
    fh.create_delivery_stream(DeliveryStreamName=name,
                              ExtendedS3DestinationConfiguration=dp_conf(name))
    d = wait_active(fh, name)
    with pytest.raises(ClientError) as e:
        fh.update_destination(
            DeliveryStreamName=name, CurrentDeliveryStreamVersionId=d["VersionId"],
            DestinationId=d["Destinations"][0]["DestinationId"],
            ExtendedS3DestinationUpdate={"ProcessingConfiguration": {
                "Enabled": True, "Processors": [{"Type": "MetadataExtraction", "Parameters": [
                    {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{k1: $ENV}"},
                    {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]}]}})
    code, msg = err(e)
    assert code == "InvalidArgumentException" and "MetadataExtractionQuery" in msg, msg


def test_raw_records_partitioned_by_two_keys(sluice, unique):
    fh = client(sluice, "firehose")
    s3 = client(sluice, "s3")
    name = "dpr-" + unique
    s3.create_bucket(Bucket=name)
    fh.create_delivery_stream(DeliveryStreamName=name,
                              ExtendedS3DestinationConfiguration=dp_conf(name))
    wait_active(fh, name)
    good = [json.dumps({"a": random.choice(["x", "y"]), "b": random.choice([1, 2, 3]),
                        "n": i}, separators=(",", ":")).encode() for i in range(600)]
    bad = [b"not json at all", b'{"a":"x"}', b'{"a":"x","b":null}', b'{"a":{"o":1},"b":1}']
    records = good + bad
    random.shuffle(records)
    for i in range(0, len(records), 500):
        r = fh.put_record_batch(DeliveryStreamName=name,
                                Records=[{"Data": d} for d in records[i:i + 500]])
        assert r["FailedPutCount"] == 0
    want = {}
    for g in good:
        o = json.loads(g)
        want.setdefault(f"data/k1={o['a']}/k2={o['b']}/", []).append(g)

    def all_here(objs):
        n = sum(len([x for x in b if x]) for b in lines_under(s3, name, objs).values())
        return n >= len(records)
    objs = objects_until(sluice, s3, name, "", all_here)
    got = {}
    errors = []
    for key, lines in lines_under(s3, name, objs).items():
        if key.startswith("err/"):
            assert key.startswith("err/metadata-extraction-failed/" + name + "-1-"), key
            errors += [json.loads(x) for x in lines if x]
            continue
        prefix, _, stem = key.rpartition("/")
        prefix += "/"
        # The evaluated prefix, then the object's name: no yyyy/MM/dd/HH/ appended.
        assert prefix in want, key
        assert stem.startswith(f"{name}-1-"), key
        # AppendDelimiterToRecord: each record followed by a newline.
        assert lines[-1] == b""
        got.setdefault(prefix, []).extend(lines[:-1])
    assert {p: sorted(v) for p, v in got.items()} == {p: sorted(v) for p, v in want.items()}
    assert sorted(base64.b64decode(e["rawData"]) for e in errors) == sorted(bad)
    now_ms = time.time() * 1000
    for e in errors:
        assert list(e) == ["attemptsMade", "arrivalTimestamp", "errorCode", "errorMessage",
                           "attemptEndingTimestamp", "rawData"]
        assert e["errorCode"] == "DynamicPartitioning.MetadataExtractionFailed"
        assert e["errorMessage"]
        assert now_ms - 120000 < e["arrivalTimestamp"] <= e["attemptEndingTimestamp"] <= now_ms
    fh.delete_delivery_stream(DeliveryStreamName=name)


def test_without_delimiter_records_are_concatenated(sluice, unique):
    fh = client(sluice, "firehose")
    s3 = client(sluice, "s3")
    name = "dpn-" + unique
    s3.create_bucket(Bucket=name)
    fh.create_delivery_stream(DeliveryStreamName=name,
                              ExtendedS3DestinationConfiguration=dp_conf(name, delimiter=False))
    wait_active(fh, name)
    recs = [b'{"a":"p","b":"q","i":1}', b'{"a":"p","b":"q","i":2}']
    fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": d} for d in recs])
    objs = objects_until(sluice, s3, name, "data/", lambda o: len(o) >= 1)
    assert len(objs) == 1 and objs[0]["Key"].startswith("data/k1=p/k2=q/")
    assert s3.get_object(Bucket=name, Key=objs[0]["Key"])["Body"].read() == b"".join(recs)


def test_parquet_partitioned_by_two_keys(sluice, unique, hyparquet, tmp_path):  # noqa: F811
    fh, s3, glue = (client(sluice, s) for s in ("firehose", "s3", "glue"))
    bucket = "dpp-" + unique
    db, table = "dp_" + unique, "events"
    s3.create_bucket(Bucket=bucket)
    lab_table(glue, db, table, bucket)
    conf = dp_conf(bucket, query="{tenant: .tenant_id, type: .event_type}", delimiter=False)
    conf["Prefix"] = ("events/tenant=!{partitionKeyFromQuery:tenant}/"
                      "type=!{partitionKeyFromQuery:type}/")
    conf["BufferingHints"] = {"SizeInMBs": 128, "IntervalInSeconds": 300}
    conf["DataFormatConversionConfiguration"] = {
        "Enabled": True,
        "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
        "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {"Compression": "SNAPPY"}}},
        "SchemaConfiguration": {"RoleARN": ROLE, "DatabaseName": db, "TableName": table,
                                "Region": sluice.region, "VersionId": "LATEST"}}
    fh.create_delivery_stream(DeliveryStreamName=bucket, ExtendedS3DestinationConfiguration=conf)
    wait_active(fh, bucket)
    start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    events = [make_event(start, i) for i in range(400)]
    bad = [b"{{nope", json.dumps({"event_id": "no-tenant", "event_type": "view"}).encode()]
    data = [json.dumps(e).encode() for e in events] + bad
    r = fh.put_record_batch(DeliveryStreamName=bucket, Records=[{"Data": d} for d in data])
    assert r["FailedPutCount"] == 0
    want = {}
    for e in events:
        want.setdefault(f"events/tenant={e['tenant_id']}/type={e['event_type']}/", set()).add(
            e["event_id"])
    objs = objects_until(sluice, s3, bucket, "events/", lambda o: len(o) >= len(want))
    got = {}
    for o in objs:
        key = o["Key"]
        assert key.endswith(".parquet"), key
        prefix = key.rpartition("/")[0] + "/"
        path = tmp_path / os.path.basename(key)
        path.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        rows = read_parquet(str(path))["rows"]
        for row in rows:
            assert f"tenant={row['tenant_id']}/type={row['event_type']}/" in prefix
        got.setdefault(prefix, set()).update(row["event_id"] for row in rows)
    assert got == want
    schema_names = [c["Name"] for c in LAB_COLUMNS]
    assert schema_names[0] == "event_id"
    errs = objects_until(sluice, s3, bucket, "err/", lambda o: len(o) >= 1)
    lines = []
    for o in errs:
        assert o["Key"].startswith("err/metadata-extraction-failed/"), o["Key"]
        lines += s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().splitlines()
    assert sorted(base64.b64decode(json.loads(x)["rawData"]) for x in lines) == sorted(bad)


def partitioned_stream(sluice, fh, s3, glue, bucket, db, tags=None, prefix=None):
    s3.create_bucket(Bucket=bucket)
    glue.create_database(DatabaseInput={"Name": db})
    glue.create_table(DatabaseName=db, TableInput={
        "Name": "events", "TableType": "EXTERNAL_TABLE",
        "PartitionKeys": [{"Name": "tenant", "Type": "string"}, {"Name": "type", "Type": "string"}],
        "StorageDescriptor": {
            "Columns": LAB_COLUMNS, "Location": f"s3://{bucket}/events",
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {"SerializationLibrary":
                          "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"}}})
    conf = dp_conf(bucket, query="{tenant: .tenant_id, type: .event_type}", delimiter=False)
    conf["Prefix"] = prefix or ("events/tenant=!{partitionKeyFromQuery:tenant}/"
                                "type=!{partitionKeyFromQuery:type}/")
    conf["BufferingHints"] = {"SizeInMBs": 128, "IntervalInSeconds": 300}
    conf["DataFormatConversionConfiguration"] = {
        "Enabled": True,
        "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
        "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {}}},
        "SchemaConfiguration": {"RoleARN": ROLE, "DatabaseName": db, "TableName": "events",
                                "Region": sluice.region}}
    kw = {"Tags": tags} if tags else {}
    fh.create_delivery_stream(DeliveryStreamName=bucket, ExtendedS3DestinationConfiguration=conf,
                              **kw)
    wait_active(fh, bucket)
    start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    events = [make_event(start, i) for i in range(200)]
    r = fh.put_record_batch(DeliveryStreamName=bucket,
                            Records=[{"Data": json.dumps(e).encode()} for e in events])
    assert r["FailedPutCount"] == 0
    want = {(e["tenant_id"], e["event_type"]) for e in events}
    objs = objects_until(sluice, s3, bucket, "events/", lambda o: len(o) >= len(want))
    assert len(objs) == len(want)
    return want


def partitions_of(glue, db):
    out = []
    for page in glue.get_paginator("get_partitions").paginate(DatabaseName=db, TableName="events"):
        out += page["Partitions"]
    return out


def test_new_partitions_are_registered_in_glue(sluice, unique):
    fh, s3, glue = (client(sluice, s) for s in ("firehose", "s3", "glue"))
    bucket, db = "dpg-" + unique, "dpg_" + unique
    want = partitioned_stream(sluice, fh, s3, glue, bucket, db)
    parts = partitions_of(glue, db)
    assert {tuple(p["Values"]) for p in parts} == want
    for p in parts:
        t, ty = p["Values"]
        sd = p["StorageDescriptor"]
        assert sd["Location"] == f"s3://{bucket}/events/tenant={t}/type={ty}/"
        assert [c["Name"] for c in sd["Columns"]] == [c["Name"] for c in LAB_COLUMNS]
        assert sd["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    # A second flush finds them registered already: nothing changes, nothing fails.
    flush(sluice)
    time.sleep(0.5)
    assert len(partitions_of(glue, db)) == len(want)


@pytest.mark.parametrize("case", ["tag-off", "not-hive-layout"])
def test_partitions_not_registered_when_off_or_not_hive(sluice, unique, case):
    fh, s3, glue = (client(sluice, s) for s in ("firehose", "s3", "glue"))
    bucket, db = "dpo-" + unique, "dpo_" + unique
    if case == "tag-off":
        partitioned_stream(sluice, fh, s3, glue, bucket, db,
                           tags=[{"Key": "sluice:register-partitions", "Value": "false"}])
    else:
        partitioned_stream(sluice, fh, s3, glue, bucket, db,
                           prefix="events/!{partitionKeyFromQuery:tenant}/"
                                  "!{partitionKeyFromQuery:type}/")
    assert partitions_of(glue, db) == []


def test_partitioned_delivery_survives_restart_and_kill9(fresh_sluice):
    sluice = fresh_sluice
    sluice.start()
    fh = client(sluice, "firehose")
    s3 = client(sluice, "s3")
    name = "dprs"
    s3.create_bucket(Bucket=name)
    fh.create_delivery_stream(DeliveryStreamName=name,
                              ExtendedS3DestinationConfiguration=dp_conf(name))
    wait_active(fh, name)
    acked = []

    def put(lo, hi):
        recs = [json.dumps({"a": f"t{i % 7}", "b": i % 3, "n": i}).encode() for i in range(lo, hi)]
        for j in range(0, len(recs), 500):
            r = fh.put_record_batch(DeliveryStreamName=name,
                                    Records=[{"Data": d} for d in recs[j:j + 500]])
            assert r["FailedPutCount"] == 0
            acked.extend(recs[j:j + 500])
    put(0, 1500)
    flush(sluice)
    put(1500, 3000)   # some delivered, some in the internal log only
    sluice.restart()
    fh = client(sluice, "firehose")
    s3 = client(sluice, "s3")
    put(3000, 3500)
    flush(sluice)
    put(3500, 4500)
    sluice.kill9()    # in the middle of delivery
    sluice.start()
    fh = client(sluice, "firehose")
    s3 = client(sluice, "s3")
    put(4500, 5000)

    def all_here(objs):
        seen = set()
        for b in lines_under(s3, name, objs).values():
            seen.update(x for x in b if x)
        return all(a in seen for a in acked)
    objs = objects_until(sluice, s3, name, "data/", all_here, timeout=60)
    seen = []
    for key, lines in lines_under(s3, name, objs).items():
        o = [json.loads(x) for x in lines if x]
        for rec in o:
            assert key.startswith(f"data/k1={rec['a']}/k2={rec['b']}/"), key
        seen += [x for x in lines if x]
    missing = [a for a in acked if a not in set(seen)]
    assert not missing, f"{len(missing)} acknowledged records lost"
    dups = len(seen) - len(set(seen))
    print(f"duplicates after restart: {dups}")


def test_kinesis_source_partitioned(sluice, unique):
    fh, s3, kin = (client(sluice, s) for s in ("firehose", "s3", "kinesis"))
    name = "dpk-" + unique
    s3.create_bucket(Bucket=name)
    kin.create_stream(StreamName=name, ShardCount=2)
    kin.get_waiter("stream_exists").wait(StreamName=name,
                                         WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    arn = kin.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    fh.create_delivery_stream(DeliveryStreamName=name, DeliveryStreamType="KinesisStreamAsSource",
                              KinesisStreamSourceConfiguration={"KinesisStreamARN": arn,
                                                                "RoleARN": ROLE},
                              ExtendedS3DestinationConfiguration=dp_conf(name))
    wait_active(fh, name)
    recs = [json.dumps({"a": f"s{i % 3}", "b": "x/y" if i % 5 == 0 else "z", "i": i}).encode()
            for i in range(300)] + [b"\xff not json"]
    r = kin.put_records(StreamName=name, Records=[{"Data": d, "PartitionKey": f"p{i}"}
                                                  for i, d in enumerate(recs)])
    assert r["FailedRecordCount"] == 0

    def all_here(objs):
        n = sum(len([x for x in b if x]) for b in lines_under(s3, name, objs).values())
        return n >= len(recs)
    objs = objects_until(sluice, s3, name, "", all_here)
    got = {}
    n_err = 0
    for key, lines in lines_under(s3, name, objs).items():
        if key.startswith("err/metadata-extraction-failed/"):
            assert [base64.b64decode(json.loads(x)["rawData"]) for x in lines if x] == [recs[-1]]
            n_err += 1
            continue
        for x in lines:
            if x:
                o = json.loads(x)
                # A value holding '/' spans two levels, as on AWS.
                assert key.startswith(f"data/k1={o['a']}/k2={o['b']}/{name}-1-"), key
                got[o["i"]] = got.get(o["i"], 0) + 1
    assert n_err == 1
    assert sorted(got) == list(range(300)) and set(got.values()) == {1}
