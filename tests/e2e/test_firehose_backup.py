"""Data Firehose: CloudWatch Logs records (the Decompression and CloudWatchLogProcessing
processors) and source record backup (S3BackupMode Enabled).

CloudWatch Logs subscription records are gzip-compressed JSON envelopes; Sluice has no
CloudWatch Logs, so the test puts them with PutRecordBatch as a subscription filter would
deliver them. The Lambda function of the backup tests is a small HTTP server in this test on
127.0.0.1, given to sluice with --lambda (as in test_firehose_transform.py). Delivery is made
quick with SIGUSR1 (flush every delivery stream, a Sluice extension).
"""
import base64
import collections
import gzip
import json
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from conftest import Sluice
from test_firehose import ROLE, client, err, flush, list_objects, wait_active

ARN = "arn:aws:lambda:us-east-1:000000000000:function:tag"
DECOMPRESSION = {"Type": "Decompression",
                 "Parameters": [{"ParameterName": "CompressionFormat", "ParameterValue": "GZIP"}]}
EXTRACTION = {"Type": "CloudWatchLogProcessing",
              "Parameters": [{"ParameterName": "DataMessageExtraction", "ParameterValue": "true"}]}
LAMBDA = {"Type": "Lambda", "Parameters": [{"ParameterName": "LambdaArn", "ParameterValue": ARN}]}


class Tagger(BaseHTTPRequestHandler):
    """A Lambda function that puts "t:" before every record."""

    def log_message(self, *a):
        pass

    def do_POST(self):
        event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        out = [{"recordId": r["recordId"], "result": "Ok",
                "data": base64.b64encode(b"t:" + base64.b64decode(r["data"])).decode()}
               for r in event["records"]]
        body = json.dumps({"records": out}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def function():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Tagger)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="module")
def sl(function):
    server = Sluice(extra_args=["--lambda", f"tag={function}"]).start()
    yield server
    code = server.stop()
    log = server.read_log()
    server.cleanup()
    assert code == 0, f"server exited {code}:\n{log}"


def conf(bucket, procs, **kw):
    c = {"RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bucket}", "Prefix": "out/",
         "ErrorOutputPrefix": "err/!{firehose:error-output-type}/",
         "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60}}
    if procs:
        c["ProcessingConfiguration"] = {"Enabled": True, "Processors": procs}
    c.update(kw)
    return c


def backup_conf(bucket, **kw):
    c = {"RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bucket}", "Prefix": "src/",
         "CompressionFormat": "GZIP"}
    c.update(kw)
    return c


def create(sl, name, c, buckets=()):
    fh, s3 = client(sl, "firehose"), client(sl, "s3")
    for b in (name,) + tuple(buckets):
        s3.create_bucket(Bucket=b)
    fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=c)
    wait_active(fh, name)
    return fh, s3


def put(fh, name, records):
    r = fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": d} for d in records])
    assert r["FailedPutCount"] == 0


def bodies_until(sl, s3, bucket, done, timeout=40):
    """Flushes and reads every object of bucket until done({key: body}) holds."""
    deadline = time.time() + timeout
    while True:
        flush(sl)
        time.sleep(0.3)
        got = {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
               for o in list_objects(s3, bucket)}
        if done(got) or time.time() > deadline:
            return got


def under(got, prefix):
    return b"".join(b for k, b in sorted(got.items()) if k.startswith(prefix))


def cwl_record(message_type, messages):
    envelope = {"messageType": message_type, "owner": "123456789012",
                "logGroup": "/aws/lambda/app", "logStream": "2026/11/29/[$LATEST]abc",
                "subscriptionFilters": ["to-firehose"],
                "logEvents": [{"id": str(i), "timestamp": 1764370000000 + i, "message": m}
                              for i, m in enumerate(messages)]}
    return gzip.compress(json.dumps(envelope).encode())


def test_cloudwatch_logs_records_are_delivered_as_their_messages(sl, unique):
    name = "cw-" + unique
    fh, s3 = create(sl, name, conf(name, [DECOMPRESSION, EXTRACTION]))
    control = cwl_record("CONTROL_MESSAGE",
                         ["CWL CONTROL MESSAGE: Checking health of destination Firehose."])
    corrupt = b"\x1f\x8b\x08\x00garbage that is not deflate"
    not_cwl = gzip.compress(b'{"hello":"world"}')
    put(fh, name, [cwl_record("DATA_MESSAGE", ['{"level":"info","n":1}', "plain text line"]),
                   control, corrupt,
                   cwl_record("DATA_MESSAGE", ['{"level":"warn","n":2}']), not_cwl])
    got = bodies_until(sl, s3, name, lambda g: under(g, "out/").count(b"\n") >= 3 and
                       under(g, "err/").count(b"\n") >= 2)
    # One record per log event, its message only, each with a newline; the control
    # message is gone.
    lines = under(got, "out/").split(b"\n")
    assert sorted(lines) == sorted([b'{"level":"info","n":1}', b"plain text line",
                                    b'{"level":"warn","n":2}', b""])
    assert b"CONTROL" not in under(got, "out/")
    # The two that could not be unpacked: decompression-failed, as they came.
    assert all(k.startswith(("out/", "err/decompression-failed/")) for k in got), sorted(got)
    errors = [json.loads(x) for x in under(got, "err/decompression-failed/").split(b"\n") if x]
    assert len(errors) == 2
    now_ms = time.time() * 1000
    by_raw = {base64.b64decode(e["rawData"]): e for e in errors}
    assert set(by_raw) == {corrupt, not_cwl}
    assert by_raw[corrupt]["errorCode"] == "Decompression.InvalidGzip"
    assert by_raw[not_cwl]["errorCode"] == "CloudWatchLogProcessing.InvalidMessage"
    for e in errors:
        assert list(e) == ["attemptsMade", "arrivalTimestamp", "errorCode", "errorMessage",
                           "attemptEndingTimestamp", "rawData"]
        assert e["errorMessage"]
        assert now_ms - 120000 < e["arrivalTimestamp"] <= e["attemptEndingTimestamp"] <= now_ms


def test_decompression_alone_delivers_the_envelopes(sl, unique):
    name = "dz-" + unique
    fh, s3 = create(sl, name, conf(name, [DECOMPRESSION]))
    put(fh, name, [gzip.compress(b'{"a":1}'), gzip.compress(b'{"a":2}')])
    got = bodies_until(sl, s3, name, lambda g: len(under(g, "out/")) >= 14)
    assert sorted([under(got, "out/")[:7], under(got, "out/")[7:]]) == [b'{"a":1}', b'{"a":2}']


@pytest.mark.parametrize("procs,fragment", [
    ([EXTRACTION], "requires the Decompression processor"),
    ([{"Type": "Decompression", "Parameters": [{"ParameterName": "CompressionFormat",
                                                 "ParameterValue": "ZIP"}]}], "only GZIP"),
    ([DECOMPRESSION, {"Type": "CloudWatchLogProcessing", "Parameters": [
        {"ParameterName": "DataMessageExtraction", "ParameterValue": "false"}]}],
     "must be true"),
])
def test_processor_rules_are_applied_at_create(sl, unique, procs, fragment):
    fh = client(sl, "firehose")
    with pytest.raises(ClientError) as e:
        fh.create_delivery_stream(DeliveryStreamName="bad-" + unique,
                                  ExtendedS3DestinationConfiguration=conf("b-" + unique, procs))
    code, message = err(e)
    assert code == "InvalidArgumentException"
    assert fragment in message


def test_backup_holds_the_source_records_beside_the_transformed_ones(sl, unique):
    name, bk = "bk-" + unique, "bks-" + unique
    fh, s3 = create(sl, name, conf(name, [LAMBDA], S3BackupMode="Enabled",
                                   S3BackupConfiguration=backup_conf(bk)), buckets=[bk])
    d = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    ext = d["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert ext["S3BackupMode"] == "Enabled"
    assert ext["S3BackupDescription"] == {
        "RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bk}", "Prefix": "src/",
        "BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": 300},
        "CompressionFormat": "GZIP",
        "EncryptionConfiguration": {"NoEncryptionConfig": "NoEncryption"},
        "CloudWatchLoggingOptions": {"Enabled": False}}
    sent = [f"r{i};".encode() for i in range(20)]
    put(fh, name, sent)
    got = bodies_until(sl, s3, name, lambda g: under(g, "out/").count(b";") >= 20)
    main = under(got, "out/")
    assert sorted(main.split(b";")[:-1]) == sorted(b"t:" + r[:-1] for r in sent)
    backup = bodies_until(sl, s3, bk, lambda g: len(g) >= 1)
    # AWS's layout under the backup's own prefix, compressed as the backup says.
    assert all(k.startswith("src/") and f"/{name}-1-" in k and k.endswith(".gz")
               for k in backup), sorted(backup)
    plain = b"".join(gzip.decompress(b) for b in backup.values())
    assert sorted(plain.split(b";")[:-1]) == sorted(r[:-1] for r in sent)
    assert len(plain) == sum(len(r) for r in sent)

    # S3BackupUpdate merges; the backup cannot be disabled.
    fh.update_destination(DeliveryStreamName=name, CurrentDeliveryStreamVersionId="1",
                          DestinationId="destinationId-000000000001",
                          ExtendedS3DestinationUpdate={"S3BackupUpdate": {"Prefix": "src2/"}})
    d = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    bd = d["Destinations"][0]["ExtendedS3DestinationDescription"]["S3BackupDescription"]
    assert bd["Prefix"] == "src2/" and bd["CompressionFormat"] == "GZIP"
    with pytest.raises(ClientError) as e:
        fh.update_destination(DeliveryStreamName=name, CurrentDeliveryStreamVersionId="2",
                              DestinationId="destinationId-000000000001",
                              ExtendedS3DestinationUpdate={"S3BackupMode": "Disabled"})
    assert err(e)[0] == "InvalidArgumentException"


def test_backup_needs_its_configuration(sl, unique):
    fh = client(sl, "firehose")
    with pytest.raises(ClientError) as e:
        fh.create_delivery_stream(DeliveryStreamName="nb-" + unique,
                                  ExtendedS3DestinationConfiguration=conf(
                                      "nb-" + unique, [LAMBDA], S3BackupMode="Enabled"))
    assert err(e) == ("InvalidArgumentException",
                      "S3BackupConfiguration is required when S3BackupMode is Enabled.")


def test_cloudwatch_logs_through_a_kinesis_stream_with_lambda_and_backup(sl, unique):
    """The usual path of a subscription: CloudWatch Logs -> Kinesis stream -> Firehose. The
    function sees the messages (decompressed, extracted), the backup the records the stream
    held, gzip and all."""
    name, bk = "kcw-" + unique, "kcwb-" + unique
    fh, s3, kin = client(sl, "firehose"), client(sl, "s3"), client(sl, "kinesis")
    for b in (name, bk):
        s3.create_bucket(Bucket=b)
    kin.create_stream(StreamName=name, ShardCount=2)
    kin.get_waiter("stream_exists").wait(StreamName=name,
                                         WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    karn = kin.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    fh.create_delivery_stream(
        DeliveryStreamName=name, DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": karn, "RoleARN": ROLE},
        ExtendedS3DestinationConfiguration=conf(
            name, [DECOMPRESSION, EXTRACTION, LAMBDA], S3BackupMode="Enabled",
            S3BackupConfiguration=backup_conf(bk, CompressionFormat="UNCOMPRESSED")))
    wait_active(fh, name)
    sent = [cwl_record("DATA_MESSAGE", [f"m{i}a", f"m{i}b"]) for i in range(10)]
    sent.append(cwl_record("CONTROL_MESSAGE", ["CWL CONTROL MESSAGE: health"]))
    r = kin.put_records(StreamName=name, Records=[
        {"Data": d, "PartitionKey": f"pk{i}"} for i, d in enumerate(sent)])
    assert r["FailedRecordCount"] == 0
    got = bodies_until(sl, s3, name, lambda g: under(g, "out/").count(b"\n") >= 20)
    lines = [x for x in under(got, "out/").split(b"\n") if x]
    assert sorted(lines) == sorted(f"t:m{i}{s}".encode() for i in range(10) for s in "ab")
    backup = bodies_until(sl, s3, bk, lambda g: sum(len(b) for b in g.values()) >=
                          sum(len(d) for d in sent))
    plain = b"".join(backup.values())
    assert len(plain) == sum(len(d) for d in sent)
    for d in sent:
        assert d in plain


def lines_of(s3, bucket, gunzip):
    count = collections.Counter()
    for o in list_objects(s3, bucket):
        body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
        if gunzip:
            body = gzip.decompress(body)
        count.update(x for x in body.split(b"\n") if x)
    return count


def test_kill9_during_delivery_with_backup_loses_nothing(function, tmp_path):
    server = Sluice(extra_args=["--lambda", f"tag={function}"])
    try:
        server.start()
        fh, s3 = client(server, "firehose"), client(server, "s3")
        for b in ("kbk", "kbk-src"):
            s3.create_bucket(Bucket=b)
        fh.create_delivery_stream(DeliveryStreamName="kbk", ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::kbk",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60},
            "ProcessingConfiguration": {"Enabled": True, "Processors": [LAMBDA]},
            "S3BackupMode": "Enabled", "S3BackupConfiguration": backup_conf("kbk-src")})
        wait_active(fh, "kbk")
        acked, stop = [], threading.Event()

        def producer(tag):
            n = 0
            while not stop.is_set():
                batch = [f"{tag}-{n + i}".encode() for i in range(100)]
                try:
                    r = fh.put_record_batch(DeliveryStreamName="kbk",
                                            Records=[{"Data": b + b"\n"} for b in batch])
                except (ClientError, BotoCoreError):
                    return
                assert r["FailedPutCount"] == 0
                acked.extend(batch)
                n += 100

        def flusher():
            while not stop.is_set():
                try:
                    server.proc.send_signal(signal.SIGUSR1)
                except (AttributeError, ProcessLookupError):
                    return
                time.sleep(0.05)

        threads = [threading.Thread(target=producer, args=(f"w{t}",)) for t in range(2)]
        threads.append(threading.Thread(target=flusher))
        for t in threads:
            t.start()
        time.sleep(3)
        server.kill9()
        stop.set()
        for t in threads:
            t.join()
        assert len(acked) > 1000, "the load did not run long enough to mean anything"

        server.start()
        fh, s3 = client(server, "firehose"), client(server, "s3")
        deadline = time.time() + 90
        while True:
            flush(server)
            time.sleep(0.5)
            main, src = lines_of(s3, "kbk", False), lines_of(s3, "kbk-src", True)
            lost_main = [r for r in acked if b"t:" + r not in main]
            lost_src = [r for r in acked if r not in src]
            if not (lost_main or lost_src) or time.time() > deadline:
                break
        assert not lost_main, f"{len(lost_main)} of {len(acked)} records lost from delivery"
        assert not lost_src, f"{len(lost_src)} of {len(acked)} records lost from the backup"
        assert all(k.startswith(b"t:") for k in main)
        assert not any(k.startswith(b"t:") for k in src)
        dups = (sum(c - 1 for c in main.values() if c > 1),
                sum(c - 1 for c in src.values() if c > 1))
        print(f"acknowledged {len(acked)}; duplicates delivered {dups[0]}, backed up {dups[1]}")
    finally:
        if server.proc is not None:
            server.stop()
        server.cleanup()
