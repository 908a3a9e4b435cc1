"""Data Firehose: the control plane, PutRecord(Batch) and delivery to the lake.

Delivery is made quick without changing the buffering hints AWS shows: a SIGUSR1 to the
server flushes every delivery stream (a Sluice extension, see README), and where the
client's model allows it (newer botocore), IntervalInSeconds 0 or 1.
"""
import gzip
import json
import os
import signal
import threading
import time

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::000000000000:role/firehose"


def client(sluice, service, validate=True):
    cfg = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=120,
                 parameter_validation=validate)
    return sluice.client(service, config=cfg)


def err(exc):
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def make_bucket(sluice, name):
    client(sluice, "s3").create_bucket(Bucket=name)


def wait_active(fh, name):
    for _ in range(100):
        d = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
        if d["DeliveryStreamStatus"] == "ACTIVE":
            return d
        time.sleep(0.1)
    raise AssertionError("never ACTIVE")


def delete(fh, name):
    """Deletes once the delivery stream is ACTIVE (AWS refuses while it is CREATING)."""
    wait_active(fh, name)
    fh.delete_delivery_stream(DeliveryStreamName=name)


def list_objects(s3, bucket, prefix=""):
    out = []
    kw = {"Bucket": bucket, "Prefix": prefix}
    while True:
        r = s3.list_objects_v2(**kw)
        out += r.get("Contents", [])
        if not r.get("IsTruncated"):
            return out
        kw["ContinuationToken"] = r["NextContinuationToken"]


def flush(sluice):
    sluice.proc.send_signal(signal.SIGUSR1)


def wait_objects(sluice, s3, bucket, count=1, prefix="", timeout=20, do_flush=True):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if do_flush:
            flush(sluice)
        objs = list_objects(s3, bucket, prefix)
        if len(objs) >= count:
            return objs
        time.sleep(0.2)
    raise AssertionError(f"{count} objects never appeared in {bucket}")


def body_of(s3, bucket, key):
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def ext_conf(bucket, **kw):
    c = {"RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bucket}"}
    c.update(kw)
    return c


def test_create_describe_list_delete(sluice, unique):
    fh = client(sluice, "firehose")
    name = ("fh-" + unique)
    make_bucket(sluice, name)
    arn = fh.create_delivery_stream(
        DeliveryStreamName=name, ExtendedS3DestinationConfiguration=ext_conf(name),
        Tags=[{"Key": "team", "Value": "data"}])["DeliveryStreamARN"]
    assert arn == f"arn:aws:firehose:us-east-1:000000000000:deliverystream/{name}"
    d = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    assert d["DeliveryStreamStatus"] in ("CREATING", "ACTIVE")
    d = wait_active(fh, name)
    assert d["VersionId"] == "1" and d["DeliveryStreamType"] == "DirectPut"
    assert d["HasMoreDestinations"] is False
    dest = d["Destinations"][0]
    assert dest["DestinationId"] == "destinationId-000000000001"
    ext = dest["ExtendedS3DestinationDescription"]
    assert ext["BufferingHints"] == {"SizeInMBs": 5, "IntervalInSeconds": 300}
    assert ext["CompressionFormat"] == "UNCOMPRESSED"
    assert ext["EncryptionConfiguration"] == {"NoEncryptionConfig": "NoEncryption"}
    assert ext["S3BackupMode"] == "Disabled"
    assert dest["S3DestinationDescription"]["BucketARN"] == f"arn:aws:s3:::{name}"
    assert d["DeliveryStreamEncryptionConfiguration"]["Status"] == "DISABLED"

    with pytest.raises(ClientError) as e:
        fh.create_delivery_stream(DeliveryStreamName=name,
                                  ExtendedS3DestinationConfiguration=ext_conf(name))
    assert err(e) == ("ResourceInUseException",
                      f"Firehose {name} under accountId 000000000000 already exists")
    assert name in fh.list_delivery_streams(Limit=10000)["DeliveryStreamNames"]
    assert name not in fh.list_delivery_streams(
        DeliveryStreamType="KinesisStreamAsSource", Limit=10000)["DeliveryStreamNames"]
    assert fh.list_tags_for_delivery_stream(DeliveryStreamName=name)["Tags"] == [
        {"Key": "team", "Value": "data"}]
    wait_active(fh, name)
    fh.delete_delivery_stream(DeliveryStreamName=name, AllowForceDelete=True)
    with pytest.raises(ClientError) as e:
        fh.describe_delivery_stream(DeliveryStreamName=name)
    assert err(e) == ("ResourceNotFoundException",
                      f"Firehose {name} under account 000000000000 not found.")


def test_list_refuses_an_unknown_type(sluice):
    fh = client(sluice, "firehose", validate=False)
    with pytest.raises(ClientError) as e:
        fh.list_delivery_streams(DeliveryStreamType="Carrier")
    assert err(e) == ("ValidationException",
                      "1 validation error detected: Value 'Carrier' at 'deliveryStreamType' "
                      "failed to satisfy constraint: Member must satisfy enum value set: "
                      "[DirectPut, KinesisStreamAsSource, MSKAsSource, DatabaseAsSource]")


def test_list_paging(sluice, unique):
    fh = client(sluice, "firehose")
    base = ("page-" + unique)
    make_bucket(sluice, base)
    names = sorted(f"{base}-{i}" for i in range(3))
    for n in names:
        fh.create_delivery_stream(DeliveryStreamName=n,
                                  S3DestinationConfiguration=ext_conf(base))
    r = fh.list_delivery_streams(Limit=2, ExclusiveStartDeliveryStreamName=base)
    assert r["DeliveryStreamNames"] == names[:2] and r["HasMoreDeliveryStreams"] is True
    r = fh.list_delivery_streams(Limit=2, ExclusiveStartDeliveryStreamName=names[1])
    assert r["DeliveryStreamNames"][0] == names[2]
    for n in names:
        delete(fh, n)


@pytest.mark.parametrize("conf,code,fragment", [
    ({"BufferingHints": {"SizeInMBs": 129, "IntervalInSeconds": 300}}, "ValidationException",
     "Member must have value less than or equal to 128"),
    ({"BufferingHints": {"SizeInMBs": 0, "IntervalInSeconds": 300}}, "ValidationException",
     "Member must have value greater than or equal to 1"),
    ({"BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": 901}}, "ValidationException",
     "Member must have value less than or equal to 900"),
    ({"Prefix": "data/!{timestamp:yyyy}/"}, "InvalidArgumentException",
     "ErrorOutputPrefix can't be null when Prefix contains expressions."),
    ({"Prefix": "data/!{firehose:error-output-type}/", "ErrorOutputPrefix": "e/"},
     "InvalidArgumentException", "only allowed in ErrorOutputPrefix"),
    ({"Prefix": "data/!{nope:x}/", "ErrorOutputPrefix": "e/!{firehose:error-output-type}"},
     "InvalidArgumentException", "namespace 'nope' is not supported"),
    ({"Prefix": "data/!{timestamp:yyyy}/", "ErrorOutputPrefix": "err/!{timestamp:yyyy}/"},
     "InvalidArgumentException", "must contain at least one"),
    ({"Prefix": "data/!{timestamp:yyyy}/", "ErrorOutputPrefix": "err/!{firehose:x}/"},
     "InvalidArgumentException", "random-string and error-output-type"),
    ({"Prefix": "data/!{timestamp:qq}/", "ErrorOutputPrefix": "err/"},
     "InvalidArgumentException", "not a valid DateTimeFormatter pattern"),
    ({"Prefix": "d/!{partitionKeyFromQuery:k}/", "ErrorOutputPrefix": "e/"},
     "InvalidArgumentException", "only allowed in Prefix when dynamic partitioning"),
    ({"Prefix": "d/!{partitionKeyFromQuery:k}/",
      "DynamicPartitioningConfiguration": {"Enabled": True}},
     "InvalidArgumentException", "ErrorOutputPrefix is required when dynamic partitioning"),
    ({"DataFormatConversionConfiguration": {
        "SchemaConfiguration": {"DatabaseName": "d", "TableName": "t", "RoleARN": ROLE},
        "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
        "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {}}}},
      "BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": 60}},
     "InvalidArgumentException",
     "BufferingHints.SizeInMBs must be at least 64 when data format conversion is enabled."),
    ({"DataFormatConversionConfiguration": {
        "SchemaConfiguration": {"DatabaseName": "d", "TableName": "t", "RoleARN": ROLE},
        "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
        "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {}}}},
      "CompressionFormat": "GZIP"},
     "InvalidArgumentException", "CompressionFormat must be UNCOMPRESSED"),
])
def test_create_validation(sluice, unique, conf, code, fragment):
    fh = client(sluice, "firehose", validate=False)
    name = ("bad-" + unique)
    with pytest.raises(ClientError) as e:
        fh.create_delivery_stream(DeliveryStreamName=name,
                                  ExtendedS3DestinationConfiguration=ext_conf("bkt", **conf))
    c, m = err(e)
    assert c == code and fragment in m, m
    assert name not in fh.list_delivery_streams(Limit=10000)["DeliveryStreamNames"]


def test_one_destination_and_stream_source_required(sluice, unique):
    fh = client(sluice, "firehose")
    with pytest.raises(ClientError) as e:
        fh.create_delivery_stream(DeliveryStreamName=("two-" + unique),
                                  S3DestinationConfiguration=ext_conf("b"),
                                  ExtendedS3DestinationConfiguration=ext_conf("b"))
    assert err(e) == ("InvalidArgumentException",
                      "Exactly one destination configuration is supported for a Firehose")
    with pytest.raises(ClientError) as e:
        fh.create_delivery_stream(DeliveryStreamName=("src-" + unique),
                                  DeliveryStreamType="KinesisStreamAsSource",
                                  ExtendedS3DestinationConfiguration=ext_conf("b"))
    assert err(e)[0] == "InvalidArgumentException"


def test_conversion_config_echoed_with_defaults(sluice, unique):
    fh = client(sluice, "firehose")
    name = ("conv-" + unique)
    conv = {"SchemaConfiguration": {"DatabaseName": "d", "TableName": "t", "RoleARN": ROLE},
            "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
            "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {}}}}
    fh.create_delivery_stream(
        DeliveryStreamName=name, ExtendedS3DestinationConfiguration=ext_conf(
            name, Prefix="events/dt=!{timestamp:yyyy-MM-dd}/",
            ErrorOutputPrefix="errors/!{firehose:error-output-type}/",
            DataFormatConversionConfiguration=conv))
    ext = fh.describe_delivery_stream(DeliveryStreamName=name)[
        "DeliveryStreamDescription"]["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert ext["BufferingHints"]["SizeInMBs"] == 128
    assert ext["DataFormatConversionConfiguration"]["Enabled"] is True
    assert ext["DataFormatConversionConfiguration"]["SchemaConfiguration"]["TableName"] == "t"
    delete(fh, name)


def test_update_destination_merges_and_bumps_version(sluice, unique):
    fh = client(sluice, "firehose")
    name = ("upd-" + unique)
    fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=ext_conf(
        name, Prefix="a/", BufferingHints={"SizeInMBs": 10, "IntervalInSeconds": 120}))
    wait_active(fh, name)
    with pytest.raises(ClientError) as e:
        fh.update_destination(DeliveryStreamName=name, CurrentDeliveryStreamVersionId="7",
                              DestinationId="destinationId-000000000001",
                              ExtendedS3DestinationUpdate={"Prefix": "b/"})
    assert err(e) == ("ConcurrentModificationException",
                      f"Cannot update firehose: {name} since the current version id: 1 and "
                      "specified version id: 7 do not match")
    fh.update_destination(DeliveryStreamName=name, CurrentDeliveryStreamVersionId="1",
                          DestinationId="destinationId-000000000001",
                          ExtendedS3DestinationUpdate={"Prefix": "b/",
                                                       "CompressionFormat": "GZIP"})
    d = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    ext = d["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert d["VersionId"] == "2" and "LastUpdateTimestamp" in d
    assert ext["Prefix"] == "b/" and ext["CompressionFormat"] == "GZIP"
    assert ext["BufferingHints"] == {"SizeInMBs": 10, "IntervalInSeconds": 120}
    with pytest.raises(ClientError) as e:
        fh.update_destination(DeliveryStreamName=name, CurrentDeliveryStreamVersionId="2",
                              DestinationId="destinationId-000000000009",
                              ExtendedS3DestinationUpdate={"Prefix": "c/"})
    assert err(e)[0] == "InvalidArgumentException"
    delete(fh, name)


def test_tags_and_encryption(sluice, unique):
    fh = client(sluice, "firehose")
    name = ("tags-" + unique)
    fh.create_delivery_stream(DeliveryStreamName=name,
                              ExtendedS3DestinationConfiguration=ext_conf(name))
    fh.tag_delivery_stream(DeliveryStreamName=name,
                           Tags=[{"Key": f"k{i}", "Value": str(i)} for i in range(3)])
    r = fh.list_tags_for_delivery_stream(DeliveryStreamName=name, Limit=2)
    assert [t["Key"] for t in r["Tags"]] == ["k0", "k1"] and r["HasMoreTags"] is True
    r = fh.list_tags_for_delivery_stream(DeliveryStreamName=name, ExclusiveStartTagKey="k1")
    assert r["Tags"] == [{"Key": "k2", "Value": "2"}] and r["HasMoreTags"] is False
    fh.untag_delivery_stream(DeliveryStreamName=name, TagKeys=["k0", "k2"])
    assert fh.list_tags_for_delivery_stream(DeliveryStreamName=name)["Tags"] == [
        {"Key": "k1", "Value": "1"}]
    with pytest.raises(ClientError) as e:
        fh.tag_delivery_stream(DeliveryStreamName=name,
                               Tags=[{"Key": f"m{i}", "Value": "v"} for i in range(50)])
    assert err(e)[0] == "LimitExceededException"
    fh.start_delivery_stream_encryption(
        DeliveryStreamName=name,
        DeliveryStreamEncryptionConfigurationInput={"KeyType": "AWS_OWNED_CMK"})
    enc = fh.describe_delivery_stream(DeliveryStreamName=name)[
        "DeliveryStreamDescription"]["DeliveryStreamEncryptionConfiguration"]
    assert enc == {"KeyType": "AWS_OWNED_CMK", "Status": "ENABLED"}
    wait_active(fh, name)
    assert fh.put_record(DeliveryStreamName=name, Record={"Data": b"x"})["Encrypted"] is True
    fh.stop_delivery_stream_encryption(DeliveryStreamName=name)
    enc = fh.describe_delivery_stream(DeliveryStreamName=name)[
        "DeliveryStreamDescription"]["DeliveryStreamEncryptionConfiguration"]
    assert enc["Status"] == "DISABLED"
    delete(fh, name)


def test_put_record_batch_limits(sluice, unique):
    fh = client(sluice, "firehose", validate=False)
    name = ("lim-" + unique)
    fh.create_delivery_stream(DeliveryStreamName=name,
                              ExtendedS3DestinationConfiguration=ext_conf(name))
    wait_active(fh, name)
    with pytest.raises(ClientError) as e:
        fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"x"}] * 501)
    assert err(e)[0] == "ValidationException"
    with pytest.raises(ClientError) as e:
        fh.put_record(DeliveryStreamName=name, Record={"Data": b"x" * 1024001})
    assert err(e)[0] == "ValidationException"
    with pytest.raises(ClientError) as e:
        fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"x" * 1000000}] * 5)
    assert err(e) == ("InvalidArgumentException", "Records size exceeds 4 MB limit")
    r = fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"a"}, {"Data": b"b"}])
    assert r["FailedPutCount"] == 0 and len(r["RequestResponses"]) == 2
    ids = [x["RecordId"] for x in r["RequestResponses"]]
    assert len(set(ids)) == 2
    with pytest.raises(ClientError) as e:
        fh.put_record(DeliveryStreamName=("none-" + unique), Record={"Data": b"x"})
    assert err(e)[0] == "ResourceNotFoundException"
    delete(fh, name)


def test_direct_put_delivers_exact_bytes_under_default_layout(sluice, unique):
    fh = client(sluice, "firehose")
    s3 = client(sluice, "s3")
    name = ("dp-" + unique)
    make_bucket(sluice, name)
    fh.create_delivery_stream(DeliveryStreamName=name,
                              ExtendedS3DestinationConfiguration=ext_conf(name))
    wait_active(fh, name)
    sent = [f'{{"n":{i}}}\n'.encode() for i in range(1200)]
    before = time.gmtime()
    for i in range(0, len(sent), 500):
        r = fh.put_record_batch(DeliveryStreamName=name,
                                Records=[{"Data": d} for d in sent[i:i + 500]])
        assert r["FailedPutCount"] == 0
    fh.put_record(DeliveryStreamName=name, Record={"Data": b"last"})
    objs = wait_objects(sluice, s3, name)
    time.sleep(0.5)
    flush(sluice)
    time.sleep(0.5)
    objs = list_objects(s3, name)
    # Objects of one second sort by their random part; within an object records keep
    # their arrival order, byte for byte, and every record is in exactly one object.
    got = []
    for o in objs:
        lines = body_of(s3, name, o["Key"]).splitlines(keepends=True)
        idx = [sent.index(x) if x in sent else len(sent) for x in lines]
        assert idx == sorted(idx)
        got += lines
    assert sorted(got) == sorted(sent + [b"last"])
    key = objs[0]["Key"]
    prefix = time.strftime("%Y/%m/%d/%H/", before)
    assert key.startswith(prefix), key
    stem = key[len(prefix):]
    assert stem.startswith(f"{name}-1-" + time.strftime("%Y-%m-%d-%H-", before)), stem
    # <stream>-<version>-yyyy-MM-dd-HH-mm-ss-<uuid>: a lowercase UUID closes the name.
    uuid_part = stem[-36:]
    assert [len(p) for p in uuid_part.split("-")] == [8, 4, 4, 4, 12]
    assert uuid_part == uuid_part.lower()
    delete(fh, name)


def test_gzip_and_custom_prefixes(sluice, unique):
    fh = client(sluice, "firehose")
    s3 = client(sluice, "s3")
    name = ("gz-" + unique)
    make_bucket(sluice, name)
    fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=ext_conf(
        name, Prefix="legacy", CompressionFormat="GZIP"))
    wait_active(fh, name)
    fh.put_record_batch(DeliveryStreamName=name,
                        Records=[{"Data": f"r{i};".encode()} for i in range(100)])
    objs = wait_objects(sluice, s3, name)
    key = objs[0]["Key"]
    assert key.startswith("legacy" + time.strftime("%Y/%m/%d/", time.gmtime())), key
    assert key.endswith(".gz")
    got = s3.get_object(Bucket=name, Key=key)
    assert got.get("ContentEncoding") == "gzip"
    assert gzip.decompress(got["Body"].read()) == b"".join(
        f"r{i};".encode() for i in range(100))

    v = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    fh.update_destination(DeliveryStreamName=name, CurrentDeliveryStreamVersionId=v["VersionId"],
                          DestinationId="destinationId-000000000001",
                          ExtendedS3DestinationUpdate={
                              "Prefix": "ev/year=!{timestamp:yyyy}/!{firehose:random-string}/",
                              "ErrorOutputPrefix": "err/!{firehose:error-output-type}/",
                              "CompressionFormat": "UNCOMPRESSED"})
    fh.put_record(DeliveryStreamName=name, Record={"Data": b"after-update"})
    objs = wait_objects(sluice, s3, name, prefix="ev/")
    key = objs[0]["Key"]
    parts = key.split("/")
    assert parts[0] == "ev" and parts[1] == "year=" + time.strftime("%Y", time.gmtime())
    assert len(parts[2]) == 11
    assert parts[3].startswith(f"{name}-2-")
    assert body_of(s3, name, key) == b"after-update"
    delete(fh, name)


def test_kinesis_source_delivers_from_latest(sluice, unique):
    fh = client(sluice, "firehose")
    s3 = client(sluice, "s3")
    kin = client(sluice, "kinesis")
    name = ("ks-" + unique)
    make_bucket(sluice, name)
    kin.create_stream(StreamName=name, ShardCount=2)
    kin.get_waiter("stream_exists").wait(StreamName=name,
                                         WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    karn = kin.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    kin.put_records(StreamName=name, Records=[
        {"Data": b"before;", "PartitionKey": f"p{i}"} for i in range(10)])
    fh.create_delivery_stream(
        DeliveryStreamName=name, DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": karn, "RoleARN": ROLE},
        ExtendedS3DestinationConfiguration=ext_conf(name))
    d = wait_active(fh, name)
    assert d["Source"]["KinesisStreamSourceDescription"]["KinesisStreamARN"] == karn
    with pytest.raises(ClientError) as e:
        fh.put_record(DeliveryStreamName=name, Record={"Data": b"x"})
    assert err(e) == ("InvalidArgumentException", "This operation is not permitted on "
                      "KinesisStreamAsSource delivery stream type.")
    sent = [f"rec-{i};".encode() for i in range(400)]
    r = kin.put_records(StreamName=name, Records=[
        {"Data": x, "PartitionKey": f"pk-{i}"} for i, x in enumerate(sent)])
    assert r["FailedRecordCount"] == 0
    deadline = time.time() + 20
    got = []
    while time.time() < deadline:
        flush(sluice)
        time.sleep(0.3)
        got = b"".join(body_of(s3, name, o["Key"]) for o in list_objects(s3, name))
        if got.count(b";") >= 400:
            break
    records = [x + b";" for x in got.split(b";") if x]
    assert sorted(records) == sorted(sent)  # every record once, none from before
    delete(fh, name)


def test_aws_cli_creates_puts_and_delivers(sluice, unique, tmp_path):
    import base64
    import subprocess
    from conftest import AWS_CLI
    version = subprocess.run([AWS_CLI, "--version"], capture_output=True, text=True).stdout
    v2 = version.startswith("aws-cli/2")
    s3 = client(sluice, "s3")
    name = "cli-" + unique
    make_bucket(sluice, name)
    out = sluice.aws("firehose", "create-delivery-stream", "--delivery-stream-name", name,
                     "--extended-s3-destination-configuration",
                     f"RoleARN={ROLE},BucketARN=arn:aws:s3:::{name},Prefix=cli/,"
                     "BufferingHints={SizeInMBs=1,IntervalInSeconds=60},"
                     "CompressionFormat=GZIP")
    assert out["DeliveryStreamARN"].endswith(f":deliverystream/{name}")
    d = sluice.aws("firehose", "describe-delivery-stream", "--delivery-stream-name", name)
    ext = d["DeliveryStreamDescription"]["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert ext["BufferingHints"] == {"SizeInMBs": 1, "IntervalInSeconds": 60}
    wait_active(client(sluice, "firehose"), name)

    def blob(raw):  # v2 reads blobs as base64, v1 as raw text
        return base64.b64encode(raw).decode() if v2 else raw.decode()

    r = sluice.aws("firehose", "put-record", "--delivery-stream-name", name,
                   "--record", f"Data={blob(b'one;')}")
    assert r["RecordId"]
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps([{"Data": blob(f"r{i};".encode())} for i in range(20)]))
    r = sluice.aws("firehose", "put-record-batch", "--delivery-stream-name", name,
                   "--records", f"file://{batch}")
    assert r["FailedPutCount"] == 0 and len(r["RequestResponses"]) == 20
    objs = wait_objects(sluice, s3, name, prefix="cli/")
    deadline = time.time() + 10
    while True:
        got = b"".join(gzip.decompress(body_of(s3, name, o["Key"]))
                       for o in list_objects(s3, name, "cli/"))
        if got.count(b";") >= 21 or time.time() > deadline:
            break
        flush(sluice)
        time.sleep(0.2)
    assert sorted(got.split(b";")) == sorted([b"one"] + [f"r{i}".encode() for i in range(20)]
                                             + [b""])
    names = sluice.aws("firehose", "list-delivery-streams")["DeliveryStreamNames"]
    assert name in names
    wait_active(client(sluice, "firehose"), name)
    sluice.aws("firehose", "delete-delivery-stream", "--delivery-stream-name", name)


def test_short_interval_delivers_on_time_with_file_extension(sluice, unique):
    fh = client(sluice, "firehose")
    shape = fh.meta.service_model.shape_for("ExtendedS3DestinationConfiguration")
    if "FileExtension" not in shape.members:
        pytest.skip("this botocore's model has no FileExtension (and IntervalInSeconds >= 60)")
    s3 = client(sluice, "s3")
    name = "ivl-" + unique
    make_bucket(sluice, name)
    fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=ext_conf(
        name, BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 1}, FileExtension=".json"))
    ext = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"][
        "Destinations"][0]["ExtendedS3DestinationDescription"]
    assert ext["FileExtension"] == ".json"
    wait_active(fh, name)
    start = time.time()
    fh.put_record(DeliveryStreamName=name, Record={"Data": b'{"a":1}'})
    # No flush is asked for: only the one-second interval can deliver it (the default
    # is 300 s), and never before the interval has passed.
    objs = wait_objects(sluice, s3, name, timeout=60, do_flush=False)
    took = time.time() - start
    assert objs[0]["Key"].endswith(".json")
    assert body_of(s3, name, objs[0]["Key"]) == b'{"a":1}'
    assert took >= 0.9, took
    with pytest.raises(ClientError) as e:
        fh.create_delivery_stream(DeliveryStreamName=name + "x",
                                  ExtendedS3DestinationConfiguration=ext_conf(
                                      name, FileExtension=".JSON"))
    assert err(e) == ("ValidationException",
                      "1 validation error detected: Value '.JSON' at "
                      "'extendedS3DestinationConfiguration.fileExtension' failed to satisfy "
                      "constraint: Member must satisfy regular expression pattern: "
                      "^$|\\.[0-9a-z!\\-_.*'()]+")
    delete(fh, name)


def test_records_wait_for_a_missing_bucket_and_are_never_dropped(sluice, unique):
    fh = client(sluice, "firehose")
    s3 = client(sluice, "s3")
    name = "nob-" + unique
    fh.create_delivery_stream(DeliveryStreamName=name,
                              ExtendedS3DestinationConfiguration=ext_conf(name))
    wait_active(fh, name)
    fh.put_record_batch(DeliveryStreamName=name,
                        Records=[{"Data": f"k{i};".encode()} for i in range(50)])
    flush(sluice)
    time.sleep(1.0)  # writes fail (no bucket) and are retried with backoff
    make_bucket(sluice, name)
    objs = wait_objects(sluice, s3, name, timeout=40)
    got = b"".join(body_of(s3, name, o["Key"]) for o in objs)
    assert sorted(got.split(b";")) == sorted([f"k{i}".encode() for i in range(50)] + [b""])
    delete(fh, name)
