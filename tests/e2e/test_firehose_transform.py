"""Data Firehose before partitioning: the Lambda transform (a local HTTP function given with
--lambda NAME=URL), KPL de-aggregation of Kinesis sources, and the RecordDeAggregation
processor (JSON and DELIMITED).

The "function" is a small HTTP server in this test on 127.0.0.1: it answers Firehose's
transformation event the way a Lambda function would, or fails in the way a path names.
Delivery is made quick with SIGUSR1 (flush every delivery stream, a Sluice extension).
"""
import base64
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.exceptions import ClientError

from conftest import Sluice, free_port
from test_firehose import ROLE, client, err, flush, list_objects, wait_active

ERR_PREFIX = "err/!{firehose:error-output-type}/"
ARN = "arn:aws:lambda:us-east-1:000000000000:function:{}"


class Function(BaseHTTPRequestHandler):
    """Answers by path: /ok transforms, the others fail as their names say."""
    events = []  # (path, event) of every invocation
    hang = threading.Event()  # /hang waits for this before answering like /ok

    def log_message(self, *a):
        pass

    def answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers["Content-Length"])
        event = json.loads(self.rfile.read(n))
        Function.events.append((self.path, event))
        recs = event["records"]
        if self.path == "/500":
            return self.answer(500, b'{"errorMessage":"boom"}')
        if self.path == "/garbage":
            return self.answer(200, b"this is not json")
        if self.path == "/missing":
            out = [{"recordId": r["recordId"], "result": "Ok", "data": r["data"]}
                   for r in recs[1:]]
            return self.answer(200, json.dumps({"records": out}).encode())
        if self.path == "/dup":
            out = [{"recordId": r["recordId"], "result": "Ok", "data": r["data"]}
                   for r in recs + recs[:1]]
            return self.answer(200, json.dumps({"records": out}).encode())
        if self.path == "/hang":
            Function.hang.wait(60)
        out = []
        for r in recs:
            raw = base64.b64decode(r["data"])
            try:
                o = json.loads(raw)
            except ValueError:
                o = {"raw": raw.decode()}
            res = "Dropped" if o.get("drop") else "ProcessingFailed" if o.get("fail") else "Ok"
            o["t"] = 1
            rec = {"recordId": r["recordId"], "result": res,
                   "data": base64.b64encode(json.dumps(o, separators=(",", ":")).encode()).decode()}
            if "k" in o:
                rec["metadata"] = {"partitionKeys": {"k": o["k"]}}
            out.append(rec)
        self.answer(200, json.dumps({"records": out}).encode())


@pytest.fixture(scope="module")
def function():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Function)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    Function.hang.set()
    server.shutdown()


def lambda_args(url):
    args = []
    for name in ("ok", "500", "garbage", "missing", "dup", "hang"):
        args += ["--lambda", f"{name}={url}/{name}"]
    # Nothing listens there: connection refused.
    return args + ["--lambda", f"down=http://127.0.0.1:{free_port()}/"]


@pytest.fixture(scope="module")
def sl(function):
    server = Sluice(extra_args=lambda_args(function)).start()
    yield server
    code = server.stop()
    log = server.read_log()
    server.cleanup()
    assert code == 0, f"server exited {code}:\n{log}"


def lambda_proc(fn, retries=None, **params):
    p = [{"ParameterName": "LambdaArn", "ParameterValue": ARN.format(fn)}]
    if retries is not None:
        p.append({"ParameterName": "NumberOfRetries", "ParameterValue": str(retries)})
    p += [{"ParameterName": k, "ParameterValue": v} for k, v in params.items()]
    return {"Type": "Lambda", "Parameters": p}


def conf(bucket, procs, prefix="out/", dp=False):
    c = {"RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bucket}", "Prefix": prefix,
         "ErrorOutputPrefix": ERR_PREFIX,
         "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60},
         "ProcessingConfiguration": {"Enabled": True, "Processors": procs}}
    if dp:
        c["DynamicPartitioningConfiguration"] = {"Enabled": True}
    return c


def create(sl, name, c, kinesis_arn=None):
    fh, s3 = client(sl, "firehose"), client(sl, "s3")
    s3.create_bucket(Bucket=name)
    kw = {}
    if kinesis_arn:
        kw = {"DeliveryStreamType": "KinesisStreamAsSource",
              "KinesisStreamSourceConfiguration": {"KinesisStreamARN": kinesis_arn,
                                                   "RoleARN": ROLE}}
    fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=c, **kw)
    wait_active(fh, name)
    return fh, s3


def put(fh, name, records):
    r = fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": d} for d in records])
    assert r["FailedPutCount"] == 0


def bodies_until(sl, s3, bucket, done, timeout=40):
    """Flushes and reads every object until done({key: body}) holds."""
    deadline = time.time() + timeout
    while True:
        flush(sl)
        time.sleep(0.3)
        got = {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
               for o in list_objects(s3, bucket)}
        if done(got) or time.time() > deadline:
            return got


def error_lines(got, etype):
    return [json.loads(x) for k, b in got.items() if k.startswith(f"err/{etype}/")
            for x in b.split(b"\n") if x]


def events_of(name):
    return [(p, e) for p, e in Function.events
            if e["deliveryStreamArn"].endswith("/" + name)]


def check_error_line(e, code, raw, fn, attempts):
    now_ms = time.time() * 1000
    assert list(e) == ["attemptsMade", "arrivalTimestamp", "errorCode", "errorMessage",
                       "attemptEndingTimestamp", "rawData", "lambdaArn"]
    assert e["errorCode"] == code, e
    assert e["errorMessage"]
    assert e["attemptsMade"] == attempts
    assert now_ms - 120000 < e["arrivalTimestamp"] <= e["attemptEndingTimestamp"] <= now_ms
    assert base64.b64decode(e["rawData"]) == raw
    assert e["lambdaArn"] == ARN.format(fn)


def test_ok_dropped_failed_and_lambda_partition_keys(sl, unique):
    name = "lt-" + unique
    procs = [lambda_proc("ok"), {"Type": "AppendDelimiterToRecord", "Parameters": []}]
    fh, s3 = create(sl, name, conf(name, procs, prefix="t/k=!{partitionKeyFromLambda:k}/",
                                   dp=True))
    sent = [b'{"k":"a","i":0}', b'{"k":"b","i":1}', b'{"k":"a","drop":true}',
            b'{"k":"a","fail":true}', b'{"i":4}', b'{"k":"a","i":5}']
    put(fh, name, sent)
    got = bodies_until(sl, s3, name, lambda g: len(g) >= 4)
    by_prefix = {}
    for key, body in got.items():
        by_prefix.setdefault(key.rsplit("/", 1)[0] + "/", []).append(body)
    assert sorted(by_prefix) == ["err/partitioning-failed/", "err/processing-failed/",
                                 "t/k=a/", "t/k=b/"], sorted(got)
    assert by_prefix["t/k=a/"] == [b'{"k":"a","i":0,"t":1}\n{"k":"a","i":5,"t":1}\n']
    assert by_prefix["t/k=b/"] == [b'{"k":"b","i":1,"t":1}\n']
    failed = error_lines(got, "processing-failed")
    assert len(failed) == 1
    check_error_line(failed[0], "Lambda.ProcessingFailedStatus", sent[3], "ok", 1)
    # The transform gave no key k: the transformed record cannot be partitioned.
    part = error_lines(got, "partitioning-failed")
    assert [base64.b64decode(e["rawData"]) for e in part] == [b'{"i":4,"t":1}']
    # The event is AWS's, one invocation of the six records (well within 1 MB).
    ev = events_of(name)
    assert len(ev) == 1
    path, e = ev[0]
    assert path == "/ok"
    assert list(e) == ["invocationId", "deliveryStreamArn", "region", "records"]
    assert e["deliveryStreamArn"] == f"arn:aws:firehose:us-east-1:000000000000:deliverystream/{name}"
    assert e["region"] == "us-east-1"
    assert [base64.b64decode(r["data"]) for r in e["records"]] == sent
    assert len({r["recordId"] for r in e["records"]}) == 6
    for r in e["records"]:
        assert list(r) == ["recordId", "approximateArrivalTimestamp", "data"]
        assert isinstance(r["approximateArrivalTimestamp"], int)


@pytest.mark.parametrize("fn,code", [
    ("500", "Lambda.FunctionError"),
    ("garbage", "Lambda.JsonProcessingException"),
    ("missing", "Lambda.MissingRecordId"),
    ("dup", "Lambda.DuplicatedRecordId"),
    ("down", "Lambda.FunctionError"),
    ("nosuch", "Lambda.ResourceNotFound"),
])
def test_failed_invocations_go_to_processing_failed(sl, unique, fn, code):
    name = "lf-" + unique
    fh, s3 = create(sl, name, conf(name, [lambda_proc(fn, retries=1)]))
    sent = [b"first;", b"second;", b"third;"]
    put(fh, name, sent)
    got = bodies_until(sl, s3, name, lambda g: len(g) >= 1)
    assert [k.split("/")[:2] for k in got] == [["err", "processing-failed"]], list(got)
    lines = error_lines(got, "processing-failed")
    assert sorted(base64.b64decode(e["rawData"]) for e in lines) == sorted(sent)
    for e in lines:
        check_error_line(e, code, base64.b64decode(e["rawData"]), fn, 2)
    # NumberOfRetries 1: two invocations reached a function that is there.
    if fn not in ("down", "nosuch"):
        assert len(events_of(name)) == 2
    # The delivery stream keeps delivering after the failure.
    put(fh, name, [b"later;"])
    got = bodies_until(sl, s3, name, lambda g: len(error_lines(g, "processing-failed")) >= 4)
    assert len(error_lines(got, "processing-failed")) == 4


def kpl_aggregate(records, corrupt=False):
    """A KPL AggregatedRecord of (partition_key, data) pairs, magic and MD5 included."""
    def varint(n):
        out = b""
        while True:
            b, n = n & 0x7F, n >> 7
            out += bytes([b | (0x80 if n else 0)])
            if not n:
                return out

    def field(num, payload):
        return varint(num << 3 | 2) + varint(len(payload)) + payload
    keys = sorted({pk for pk, _ in records})
    msg = b"".join(field(1, k.encode()) for k in keys)
    for pk, data in records:
        rec = varint(1 << 3 | 0) + varint(keys.index(pk)) + field(3, data)
        msg += field(3, rec)
    digest = hashlib.md5(msg).digest()
    if corrupt:
        digest = bytes([digest[0] ^ 1]) + digest[1:]
    return b"\xf3\x89\x9a\xc2" + msg + digest


def kinesis_stream(sl, name):
    kin = client(sl, "kinesis")
    kin.create_stream(StreamName=name, ShardCount=1)
    kin.get_waiter("stream_exists").wait(StreamName=name,
                                         WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    return kin, kin.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]


def test_kpl_aggregates_are_deaggregated(sl, unique):
    name = "kpl-" + unique
    kin, karn = kinesis_stream(sl, name)
    c = conf(name, [])
    del c["ProcessingConfiguration"]
    fh, s3 = create(sl, name, c, kinesis_arn=karn)
    users = [("pa", b"u0;"), ("pb", b"u1;"), ("pa", b"u2;")]
    agg = kpl_aggregate(users)
    bad = kpl_aggregate([("pa", b"x0;"), ("pa", b"x1;")], corrupt=True)
    for data in (agg, b"plain;", bad):
        kin.put_record(StreamName=name, Data=data, PartitionKey="p")
    want = b"u0;u1;u2;plain;" + bad
    got = bodies_until(sl, s3, name, lambda g: sum(len(b) for b in g.values()) >= len(want))
    # One user record after the other; a bad MD5 is one plain record, as the KCL does.
    # Records may span objects whose keys (same second, random suffix) need not sort in
    # record order: each object is a contiguous run of the records, and together in order
    # they are all of them.
    pieces = sorted(got.values(), key=want.find)
    assert all(want.find(p) >= 0 for p in pieces), pieces
    assert b"".join(pieces) == want


def test_kinesis_transform_event_names_user_records(sl, unique):
    name = "kplt-" + unique
    kin, karn = kinesis_stream(sl, name)
    procs = [lambda_proc("ok"), {"Type": "AppendDelimiterToRecord", "Parameters": []}]
    fh, s3 = create(sl, name, conf(name, procs), kinesis_arn=karn)
    users = [("pa", b'{"u":0}'), ("pb", b'{"u":1}'), ("pa", b'{"u":2,"fail":true}')]
    r = kin.put_record(StreamName=name, Data=kpl_aggregate(users), PartitionKey="outer")
    seq = r["SequenceNumber"]
    got = bodies_until(sl, s3, name, lambda g: len(g) >= 2)
    out = [v for k, v in got.items() if k.startswith("out/")]
    assert out == [b'{"u":0,"t":1}\n{"u":1,"t":1}\n']
    failed = error_lines(got, "processing-failed")
    assert [base64.b64decode(e["rawData"]) for e in failed] == [users[2][1]]
    (_, e), = events_of(name)
    assert list(e) == ["invocationId", "deliveryStreamArn", "sourceKinesisStreamArn", "region",
                       "records"]
    assert e["sourceKinesisStreamArn"] == karn
    for i, rec in enumerate(e["records"]):
        assert base64.b64decode(rec["data"]) == users[i][1]
        m = rec["kinesisRecordMetadata"]
        assert m == {"shardId": "shardId-000000000000", "partitionKey": users[i][0],
                     "approximateArrivalTimestamp": rec["approximateArrivalTimestamp"],
                     "sequenceNumber": seq, "subsequenceNumber": i}


def meta_proc(query="{k: .k}"):
    return {"Type": "MetadataExtraction", "Parameters": [
        {"ParameterName": "MetadataExtractionQuery", "ParameterValue": query},
        {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]}


def deagg_proc(kind, delimiter=None):
    p = [{"ParameterName": "SubRecordType", "ParameterValue": kind}]
    if delimiter is not None:
        p.append({"ParameterName": "Delimiter",
                  "ParameterValue": base64.b64encode(delimiter).decode()})
    return {"Type": "RecordDeAggregation", "Parameters": p}


@pytest.mark.parametrize("kind,delimiter,record", [
    ("JSON", None, b'{"k":"a","i":1}{"k":"b","i":2}\n{"k":"a","i":3}  '),
    ("DELIMITED", b"####", b'{"k":"a","i":1}####{"k":"b","i":2}####{"k":"a","i":3}####'),
])
def test_record_deaggregation(sl, unique, kind, delimiter, record):
    name = "rd-" + unique
    procs = [deagg_proc(kind, delimiter), meta_proc(),
             {"Type": "AppendDelimiterToRecord", "Parameters": []}]
    fh, s3 = create(sl, name, conf(name, procs, prefix="d/k=!{partitionKeyFromQuery:k}/",
                                   dp=True))
    put(fh, name, [record, b'{"k":"b","i":4}'])
    got = bodies_until(sl, s3, name, lambda g: len(g) >= 2)
    by_prefix = {k.rsplit("/", 1)[0]: v for k, v in got.items()}
    assert by_prefix == {"d/k=a": b'{"k":"a","i":1}\n{"k":"a","i":3}\n',
                         "d/k=b": b'{"k":"b","i":2}\n{"k":"b","i":4}\n'}


def test_deaggregation_then_transform(sl, unique):
    name = "rdt-" + unique
    procs = [deagg_proc("JSON"), lambda_proc("ok"),
             {"Type": "AppendDelimiterToRecord", "Parameters": []}]
    fh, s3 = create(sl, name, conf(name, procs, prefix="t/k=!{partitionKeyFromLambda:k}/",
                                   dp=True))
    put(fh, name, [b'{"k":"a"}{"k":"b"}{"k":"a","drop":true}'])
    got = bodies_until(sl, s3, name, lambda g: len(g) >= 2)
    assert {k.rsplit("/", 1)[0]: v for k, v in got.items()} == {
        "t/k=a": b'{"k":"a","t":1}\n', "t/k=b": b'{"k":"b","t":1}\n'}
    # The function saw the pieces, not the aggregate.
    (_, e), = events_of(name)
    assert [base64.b64decode(r["data"]) for r in e["records"]] == [
        b'{"k":"a"}', b'{"k":"b"}', b'{"k":"a","drop":true}']


@pytest.mark.parametrize("procs,dp,fragment", [
    ([deagg_proc("JSON")], False, "dynamic partitioning"),
    ([deagg_proc("XML"), meta_proc()], True, "SubRecordType"),
    ([deagg_proc("DELIMITED"), meta_proc()], True, "Delimiter"),
    ([{"Type": "Lambda", "Parameters": [{"ParameterName": "NumberOfRetries",
                                         "ParameterValue": "2"}]}], False, "LambdaArn"),
    ([lambda_proc("ok", BufferSizeInMBs="5")], False, "BufferSizeInMBs"),
    ([lambda_proc("ok", retries=301)], False, "NumberOfRetries"),
    ([{"Type": "Lambda", "Parameters": [{"ParameterName": "LambdaArn",
                                         "ParameterValue": "arn:aws:s3:::bucket"}]}],
     False, "LambdaArn"),
])
def test_processor_validation(sl, unique, procs, dp, fragment):
    name = "pv-" + unique
    fh = client(sl, "firehose")
    client(sl, "s3").create_bucket(Bucket=name)
    prefix = "d/k=!{partitionKeyFromQuery:k}/" if dp else "out/"
    with pytest.raises(ClientError) as e:
        fh.create_delivery_stream(DeliveryStreamName=name,
                                  ExtendedS3DestinationConfiguration=conf(name, procs, prefix, dp))
    code, msg = err(e)
    assert code == "InvalidArgumentException" and fragment in msg, msg


def test_crash_mid_invocation_invokes_again_after_restart(function, tmp_path):
    sl = Sluice(data_dir=str(tmp_path), extra_args=lambda_args(function)).start()
    try:
        name = "lc-crash"
        Function.hang.clear()
        fh, s3 = create(sl, name, conf(name, [lambda_proc("hang")]))
        put(fh, name, [b'{"n":1}', b'{"n":2}'])
        deadline = time.time() + 20
        while not events_of(name) and time.time() < deadline:
            flush(sl)
            time.sleep(0.2)
        assert len(events_of(name)) == 1  # the function holds the invocation
        sl.kill9()
        Function.hang.set()
        sl.start()
        got = bodies_until(sl, s3, name, lambda g: len(g) >= 1)
        assert [v for k, v in got.items() if k.startswith("out/")] == [
            b'{"n":1,"t":1}{"n":2,"t":1}']
        assert len(events_of(name)) == 2  # at least once: invoked again after the restart
    finally:
        if sl.proc is not None:
            sl.stop()


def test_kpl_user_record_failing_conversion_names_its_sub_sequence_number(sl, unique):
    from test_firehose_convert import setup_lab
    fh, s3, kin, bucket, db, table = setup_lab(sl, unique)
    good = json.dumps({"event_id": "e1", "ts": "2024-01-02 03:04:05", "tenant_id": "t",
                       "device_id": "d", "event_type": "view", "amount": 1.5}).encode()
    users = [("pa", good), ("pb", b"not json"), ("pa", good)]
    r = kin.put_record(StreamName=bucket, Data=kpl_aggregate(users), PartitionKey="outer")
    got = bodies_until(sl, s3, bucket, lambda g: len(g) >= 2)
    parquet = [k for k in got if k.startswith("events/raw/")]
    assert len(parquet) == 1 and got[parquet[0]][:4] == b"PAR1"
    errs = [json.loads(x) for k, b in got.items()
            if k.startswith("events/errors/format-conversion-failed/")
            for x in b.split(b"\n") if x]
    assert len(errs) == 1
    assert base64.b64decode(errs[0]["rawData"]) == b"not json"
    assert errs[0]["sequenceNumber"] == r["SequenceNumber"]
    assert errs[0]["subSequenceNumber"] == 1


def test_update_destination_changes_the_function_and_adds_deaggregation(sl, unique):
    name = "lu-" + unique
    procs = [lambda_proc("ok"), {"Type": "AppendDelimiterToRecord", "Parameters": []}]
    fh, s3 = create(sl, name, conf(name, procs, prefix="t/k=!{partitionKeyFromLambda:k}/",
                                   dp=True))
    d = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    # RecordDeAggregation is checked against the merged destination: partitioning is on.
    fh.update_destination(
        DeliveryStreamName=name, CurrentDeliveryStreamVersionId=d["VersionId"],
        DestinationId=d["Destinations"][0]["DestinationId"],
        ExtendedS3DestinationUpdate={"ProcessingConfiguration": {
            "Enabled": True, "Processors": [deagg_proc("JSON")] + procs}})
    put(fh, name, [b'{"k":"a"}{"k":"b"}'])
    got = bodies_until(sl, s3, name, lambda g: len(g) >= 2)
    assert {k.split("/")[1]: v for k, v in got.items()} == {
        "k=a": b'{"k":"a","t":1}\n', "k=b": b'{"k":"b","t":1}\n'}
    assert all(f"/{name}-2-" in k for k in got)  # written with the new version
