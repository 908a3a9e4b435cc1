"""Data Firehose output options: CompressionFormat GZIP, ZIP, Snappy and HADOOP_SNAPPY (each
object read back and decompressed here, its extension and Content-Encoding checked), error
objects compressed like the destination's, CustomTimeZone in the keys, and the refusals of
an unknown zone and of ParquetSerDe values out of the model's range.

The Snappy containers are decoded by a Snappy block decoder written here (format in
google/snappy's format_description.txt), so the test depends on no Snappy library:
  Snappy         snappy-java stream: 0x82 "SNAPPY" 0x00, two big-endian 32-bit versions (1, 1),
                 then blocks of [4-byte big-endian compressed length][raw Snappy block]
  HADOOP_SNAPPY  blocks of [4-byte uncompressed length][4-byte compressed length][block]
"""
import datetime as dt
import gzip
import io
import json
import re
import struct
import time
import zipfile
from zoneinfo import ZoneInfo

import pytest
from botocore.exceptions import ClientError

from test_firehose import (ROLE, client, delete, err, ext_conf, flush, list_objects,
                           make_bucket, wait_active, wait_objects)
from test_firehose_convert import hyparquet, read_parquet  # noqa: F401 (fixture)

UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def snappy_block(data):
    """Decodes one raw Snappy block."""
    n, shift, pos = 0, 0, 0
    while True:
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    out = bytearray()
    while pos < len(data):
        tag = data[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:
            length = (tag >> 2) + 1
            if length > 60:
                extra = length - 60
                length = int.from_bytes(data[pos:pos + extra], "little") + 1
                pos += extra
            out += data[pos:pos + length]
            pos += length
            continue
        if kind == 1:
            length = 4 + ((tag >> 2) & 7)
            offset = ((tag >> 5) << 8) | data[pos]
            pos += 1
        elif kind == 2:
            length = (tag >> 2) + 1
            offset = int.from_bytes(data[pos:pos + 2], "little")
            pos += 2
        else:
            length = (tag >> 2) + 1
            offset = int.from_bytes(data[pos:pos + 4], "little")
            pos += 4
        assert 0 < offset <= len(out)
        for _ in range(length):
            out.append(out[-offset])
    assert len(out) == n
    return bytes(out)


def call_with_members(fh, op, member, extra, **kw):
    """Calls fh.<op>(**kw) with extra added to the request's member: a member this
    botocore's model lacks (CustomTimeZone before 1.29) goes into the JSON body as a newer
    client sends it."""
    shape = fh.meta.service_model.operation_model(op).input_shape.members[member]
    kw.setdefault(member, {})
    known = {k: v for k, v in extra.items() if k in shape.members}
    unknown = {k: v for k, v in extra.items() if k not in shape.members}
    kw[member].update(known)

    def add(request, **_):
        body = json.loads(request.data)
        body[member].update(unknown)
        request.data = json.dumps(body).encode()

    event = f"before-sign.firehose.{op}"
    if unknown:
        fh.meta.events.register(event, add)
    try:
        py_name = re.sub(r"(?<!^)(?=[A-Z])", "_", op).lower()
        return getattr(fh, py_name)(**kw)
    finally:
        if unknown:
            fh.meta.events.unregister(event, add)


def create_zoned(fh, name, zone, **conf):
    return call_with_members(fh, "CreateDeliveryStream", "ExtendedS3DestinationConfiguration",
                             {"CustomTimeZone": zone}, DeliveryStreamName=name,
                             ExtendedS3DestinationConfiguration=ext_conf(name, **conf))


def snappy_java_decode(body):
    assert body[:8] == b"\x82SNAPPY\x00"
    assert struct.unpack(">ii", body[8:16]) == (1, 1)
    out, pos, blocks = bytearray(), 16, 0
    while pos < len(body):
        (clen,) = struct.unpack(">I", body[pos:pos + 4])
        block = snappy_block(body[pos + 4:pos + 4 + clen])
        assert len(block) <= 32768
        out += block
        pos += 4 + clen
        blocks += 1
    return bytes(out), blocks


def hadoop_snappy_decode(body):
    out, pos, blocks = bytearray(), 0, 0
    while pos < len(body):
        raw_len, clen = struct.unpack(">II", body[pos:pos + 8])
        block = snappy_block(body[pos + 8:pos + 8 + clen])
        assert len(block) == raw_len
        out += block
        pos += 8 + clen
        blocks += 1
    return bytes(out), blocks


def unzip_one(body):
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        names = z.namelist()
        assert len(names) == 1 and re.fullmatch(UUID_RE, names[0]), names
        info = z.getinfo(names[0])
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert z.testzip() is None  # every CRC-32 checks
        return z.read(names[0])


def decode(fmt, body):
    if fmt == "GZIP":
        return gzip.decompress(body)
    if fmt == "ZIP":
        return unzip_one(body)
    if fmt == "Snappy":
        out, blocks = snappy_java_decode(body)
    else:
        out, blocks = hadoop_snappy_decode(body)
    assert blocks == (len(out) + 32767) // 32768
    return out


FORMATS = [("GZIP", ".gz", "gzip"), ("ZIP", ".zip", "zip"),
           ("Snappy", ".snappy", "snappy-java"), ("HADOOP_SNAPPY", ".snappy", "hadoop-snappy")]


@pytest.mark.parametrize("fmt,ext,encoding", FORMATS)
def test_each_compression_format_reads_back(sluice, unique, fmt, ext, encoding):
    fh = client(sluice, "firehose")
    s3 = client(sluice, "s3")
    name = f"cf-{fmt.lower().replace('_', '-')}-{unique}"
    make_bucket(sluice, name)
    fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=ext_conf(
        name, CompressionFormat=fmt))
    wait_active(fh, name)
    # About 150 KB: several Snappy blocks, text that compresses and bytes that do not.
    records = [json.dumps({"i": i, "ticker": "AMZN", "pad": "x" * (i % 50)}).encode() +
               bytes((i * 7 + k) % 256 for k in range(i % 13)) for i in range(2500)]
    for start in range(0, len(records), 500):
        fh.put_record_batch(DeliveryStreamName=name,
                            Records=[{"Data": r} for r in records[start:start + 500]])
    want = b"".join(records)
    # A flush may find part of the records still on their way into the buffer: then they
    # come in two objects, whose keys (same second, random suffix) need not sort in order.
    deadline = time.time() + 30
    while True:
        parts = []
        for o in wait_objects(sluice, s3, name):
            key = o["Key"]
            assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\d{2}/" + re.escape(name) +
                                r"-1-\d{4}(-\d{2}){5}-" + UUID_RE + re.escape(ext), key), key
            head = s3.head_object(Bucket=name, Key=key)
            assert head.get("ContentEncoding") == encoding
            assert head["ContentType"] == "application/octet-stream"
            parts.append(decode(fmt, s3.get_object(Bucket=name, Key=key)["Body"].read()))
        if sum(len(p) for p in parts) >= len(want) or time.time() > deadline:
            break
        time.sleep(0.2)
    parts.sort(key=lambda p: int(re.match(rb'\{"i": (\d+)', p).group(1)))
    assert b"".join(parts) == want
    delete(fh, name)


def dp_conf(bucket, **kw):
    procs = [{"Type": "MetadataExtraction", "Parameters": [
        {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{k: .k}"},
        {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]}]
    c = ext_conf(bucket, Prefix="d/k=!{partitionKeyFromQuery:k}/",
                 ErrorOutputPrefix="e/!{firehose:error-output-type}/",
                 BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60},
                 DynamicPartitioningConfiguration={"Enabled": True},
                 ProcessingConfiguration={"Enabled": True, "Processors": procs})
    c.update(kw)
    return c


@pytest.mark.parametrize("fmt,ext,encoding", [FORMATS[2], FORMATS[1]])
def test_error_objects_are_compressed_like_the_destinations(sluice, unique, fmt, ext,
                                                            encoding):
    fh = client(sluice, "firehose")
    s3 = client(sluice, "s3")
    name = f"ce-{fmt.lower()}-{unique}"
    make_bucket(sluice, name)
    fh.create_delivery_stream(DeliveryStreamName=name,
                              ExtendedS3DestinationConfiguration=dp_conf(name,
                                                                         CompressionFormat=fmt))
    wait_active(fh, name)
    fh.put_record_batch(DeliveryStreamName=name, Records=[
        {"Data": b'{"k":"a","v":1}'}, {"Data": b'{"v":2}'}, {"Data": b'not json'}])
    deadline = time.time() + 20
    while True:
        flush(sluice)
        good, bad = list_objects(s3, name, "d/"), list_objects(s3, name, "e/")
        if (good and bad) or time.time() > deadline:
            break
        time.sleep(0.3)
    assert len(good) == 1 and len(bad) == 1, (good, bad)
    assert good[0]["Key"].startswith("d/k=a/") and good[0]["Key"].endswith(ext)
    key = bad[0]["Key"]
    assert key.startswith("e/metadata-extraction-failed/") and key.endswith(ext), key
    head = s3.head_object(Bucket=name, Key=key)
    assert head.get("ContentEncoding") == encoding
    lines = decode(fmt, s3.get_object(Bucket=name, Key=key)["Body"].read()).splitlines()
    assert len(lines) == 2
    for line in lines:
        assert json.loads(line)["errorCode"]
    assert decode(fmt, s3.get_object(Bucket=name, Key=good[0]["Key"])["Body"].read()) == \
        b'{"k":"a","v":1}'
    delete(fh, name)


def local_stamps(zone, t0, t1, pattern):
    """The renderings of pattern (strftime) in zone for every second of [t0, t1]."""
    return {dt.datetime.fromtimestamp(t, ZoneInfo(zone)).strftime(pattern)
            for t in range(int(t0), int(t1) + 2)}


def test_custom_time_zone_shows_in_the_keys(sluice, unique):
    fh = client(sluice, "firehose")
    s3 = client(sluice, "s3")
    kolkata, ny = "kol-" + unique, "ny-" + unique
    for n in (kolkata, ny):
        make_bucket(sluice, n)
    create_zoned(fh, kolkata, "Asia/Kolkata")
    create_zoned(fh, ny, "America/New_York", Prefix="h=!{timestamp:yyyy-MM-dd-HH}/",
                 ErrorOutputPrefix="e/!{firehose:error-output-type}/")
    shape = fh.meta.service_model.shape_for("ExtendedS3DestinationDescription")
    for n, zone in ((kolkata, "Asia/Kolkata"), (ny, "America/New_York")):
        d = wait_active(fh, n)
        if "CustomTimeZone" in shape.members:  # an older model drops it from the answer
            assert d["Destinations"][0]["ExtendedS3DestinationDescription"][
                "CustomTimeZone"] == zone
    t0 = time.time()
    for n in (kolkata, ny):
        fh.put_record(DeliveryStreamName=n, Record={"Data": b"tz"})
    t1 = time.time()

    key = wait_objects(sluice, s3, kolkata)[0]["Key"]
    prefix, rest = key[:14], key[14:]
    assert prefix in local_stamps("Asia/Kolkata", t0, t1, "%Y/%m/%d/%H/"), key
    stamp = rest[len(kolkata) + 3:len(kolkata) + 3 + 19]
    assert rest.startswith(kolkata + "-1-")
    assert stamp in local_stamps("Asia/Kolkata", t0, t1, "%Y-%m-%d-%H-%M-%S"), key
    # Kolkata is UTC+05:30: its minutes are never UTC's.
    assert stamp not in local_stamps("UTC", t0, t1, "%Y-%m-%d-%H-%M-%S")

    key = wait_objects(sluice, s3, ny)[0]["Key"]
    assert key.split("/")[0] in {"h=" + s for s in local_stamps("America/New_York", t0, t1,
                                                                 "%Y-%m-%d-%H")}, key
    for n in (kolkata, ny):
        delete(fh, n)


def test_unknown_time_zone_is_refused(sluice, unique):
    fh = client(sluice, "firehose")
    name = "badtz-" + unique
    make_bucket(sluice, name)
    with pytest.raises(ClientError) as e:
        create_zoned(fh, name, "Mars/Olympus_Mons")
    code, message = err(e)
    assert code == "InvalidArgumentException" and "Mars/Olympus_Mons" in message, message
    assert name not in fh.list_delivery_streams(Limit=10000)["DeliveryStreamNames"]

    fh.create_delivery_stream(DeliveryStreamName=name,
                              ExtendedS3DestinationConfiguration=ext_conf(name))
    wait_active(fh, name)
    with pytest.raises(ClientError) as e:
        call_with_members(fh, "UpdateDestination", "ExtendedS3DestinationUpdate",
                          {"CustomTimeZone": "Europe/Atlantis"}, DeliveryStreamName=name,
                          CurrentDeliveryStreamVersionId="1",
                          DestinationId="destinationId-000000000001")
    assert err(e)[0] == "InvalidArgumentException"
    d = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    assert d["VersionId"] == "1"
    delete(fh, name)


PARQUET_CONV = {
    "SchemaConfiguration": {"DatabaseName": "d", "TableName": "t", "RoleARN": ROLE},
    "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}}}


@pytest.mark.parametrize("serde,fragment", [
    ({"BlockSizeBytes": 1048576},
     "parquetSerDe.blockSizeBytes' failed to satisfy constraint: Member must have value "
     "greater than or equal to 67108864"),
    ({"PageSizeBytes": 1024}, "Member must have value greater than or equal to 65536"),
    ({"WriterVersion": "V3"}, "Member must satisfy enum value set: [V1, V2]"),
    ({"Compression": "ZSTD"}, "Member must satisfy enum value set: [UNCOMPRESSED, GZIP, SNAPPY]"),
])
def test_parquet_serde_values_out_of_range_are_refused(sluice, unique, serde, fragment):
    fh = client(sluice, "firehose", validate=False)
    conv = dict(PARQUET_CONV, OutputFormatConfiguration={"Serializer": {"ParquetSerDe": serde}})
    with pytest.raises(ClientError) as e:
        fh.create_delivery_stream(DeliveryStreamName="pq-" + unique,
                                  ExtendedS3DestinationConfiguration=ext_conf(
                                      "bkt", DataFormatConversionConfiguration=conv))
    code, message = err(e)
    assert code == "ValidationException" and fragment in message, message


@pytest.mark.parametrize("serde,version,dictionary", [
    ({}, 1, True),
    ({"EnableDictionaryCompression": False, "WriterVersion": "V2", "Compression": "GZIP",
      "BlockSizeBytes": 67108864, "PageSizeBytes": 65536}, 2, False),
])
def test_parquet_serde_options_reach_the_file(sluice, unique, hyparquet, tmp_path, serde,
                                              version, dictionary):
    """Read back by hyparquet: the writer version, and dictionary pages only when allowed."""
    fh, s3, glue = (client(sluice, s) for s in ("firehose", "s3", "glue"))
    bucket = f"pq{version}-{unique}"
    db = f"db{version}_{unique}"
    s3.create_bucket(Bucket=bucket)
    glue.create_database(DatabaseInput={"Name": db})
    glue.create_table(DatabaseName=db, TableInput={"Name": "t", "StorageDescriptor": {
        "Columns": [{"Name": "id", "Type": "int"}, {"Name": "kind", "Type": "string"}],
        "Location": f"s3://{bucket}/"}})
    conv = {"InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
            "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": serde}},
            "SchemaConfiguration": {"RoleARN": ROLE, "DatabaseName": db, "TableName": "t"}}
    fh.create_delivery_stream(DeliveryStreamName=bucket, ExtendedS3DestinationConfiguration=ext_conf(
        bucket, BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 300},
        DataFormatConversionConfiguration=conv))
    wait_active(fh, bucket)
    fh.put_record_batch(DeliveryStreamName=bucket, Records=[
        {"Data": json.dumps({"id": i, "kind": ["click", "view"][i % 2]}).encode()}
        for i in range(400)])
    objs = wait_objects(sluice, s3, bucket)
    path = tmp_path / "o.parquet"
    path.write_bytes(s3.get_object(Bucket=bucket, Key=objs[0]["Key"])["Body"].read())
    got = read_parquet(str(path))
    assert got["version"] == version
    assert got["codec"] == serde.get("Compression", "SNAPPY")
    assert got["row_groups"] == 1
    assert ("kind" in got["dictionary"]) == dictionary, got["dictionary"]
    if not dictionary:
        assert got["dictionary"] == []
    assert [(r["id"], r["kind"]) for r in got["rows"]] == [
        (i, ["click", "view"][i % 2]) for i in range(400)]
    # Compression stays UNCOMPRESSED with conversion, on update as at create.
    with pytest.raises(ClientError) as e:
        fh.update_destination(DeliveryStreamName=bucket, CurrentDeliveryStreamVersionId="1",
                              DestinationId="destinationId-000000000001",
                              ExtendedS3DestinationUpdate={"CompressionFormat": "Snappy"})
    assert err(e) == ("InvalidArgumentException", "CompressionFormat must be UNCOMPRESSED when "
                      "data format conversion is enabled.")
    delete(fh, bucket)
