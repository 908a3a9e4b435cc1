"""GET /metrics in Prometheus' text format (exposition format 0.0.4), scraped and parsed:
Kinesis and Firehose figures for a known workload, alarms by state, requests and their
latency histogram by service and operation, process figures. Access: a bearer token
(--metrics-endpoint token-file:PATH), or open (--metrics-endpoint open, loopback only);
signed requests to /metrics still reach S3 (a bucket may be called "metrics").
"""
import os
import re
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

from conftest import Sluice

TOKEN = "scrape-token-0123456789abcdef"

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """The exposition format: {(name, frozenset(labels)): value}, and {name: type}."""
    samples, types, helps = {}, {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert name not in types, f"family {name} declared twice"
            types[name] = kind
        elif line.startswith("# HELP "):
            helps.add(line.split(" ", 3)[2])
        elif line and not line.startswith("#"):
            m = LINE.match(line)
            assert m, f"not an exposition line: {line!r}"
            labels = frozenset(LABEL.findall(m.group(3) or ""))
            key = (m.group(1), labels)
            assert key not in samples, f"duplicate sample {line!r}"
            samples[key] = float(m.group(4))
    for name, _ in samples:
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in types or family in types, f"{name} has no TYPE"
    assert set(types) <= helps
    return samples, types


def value(samples, name, **labels):
    want = set(labels.items())
    found = [v for (n, ls), v in samples.items() if n == name and want <= set(ls)]
    assert len(found) == 1, (name, labels, found)
    return found[0]


@pytest.fixture(scope="module")
def sl():
    d = tempfile.mkdtemp(prefix="sluice-prom-")
    token_file = os.path.join(d, "token")
    with open(token_file, "w") as f:
        f.write(TOKEN + "\n")
    server = Sluice(extra_args=["--throughput-limits", "off", "--metrics-endpoint",
                                "token-file:" + token_file]).start()
    yield server
    code = server.stop()
    log = server.read_log()
    server.cleanup()
    assert code == 0, f"server exited {code}:\n{log}"


def scrape(sl, token=TOKEN):
    req = urllib.request.Request(sl.endpoint + "/metrics")
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        return r.read().decode()


def test_a_scrape_needs_the_token(sl):
    for token in (None, "wrong-token-0123456789abcdef"):
        with pytest.raises(urllib.error.HTTPError) as e:
            scrape(sl, token)
        assert e.value.code == 401
        assert e.value.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_workload_figures_are_exposed(sl, unique):
    kin, cw = sl.client("kinesis"), sl.client("cloudwatch")
    name = "prom-" + unique
    kin.create_stream(StreamName=name, ShardCount=1)
    kin.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})
    sizes = [1 + (i * 13) % 300 for i in range(120)]
    r = kin.put_records(StreamName=name, Records=[
        {"Data": b"y" * s, "PartitionKey": str(i)} for i, s in enumerate(sizes)])
    assert r["FailedRecordCount"] == 0
    cw.put_metric_alarm(AlarmName="prom-" + unique, Namespace="App", MetricName="x",
                        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
                        ComparisonOperator="GreaterThanThreshold")
    cw.set_alarm_state(AlarmName="prom-" + unique, StateValue="ALARM", StateReason="test")
    samples, types = parse(scrape(sl))
    assert value(samples, "sluice_kinesis_incoming_records_total", stream=name) == 120
    assert value(samples, "sluice_kinesis_incoming_bytes_total", stream=name) == sum(sizes)
    assert value(samples, "sluice_kinesis_write_provisioned_throughput_exceeded_total",
                 stream=name) == 0
    assert types["sluice_kinesis_incoming_records_total"] == "counter"
    assert value(samples, "sluice_cloudwatch_alarms", state="ALARM") >= 1
    # The requests made above, by service and operation, with their latency histogram.
    assert value(samples, "sluice_http_requests_total", service="kinesis",
                 operation="PutRecords", code="2xx") == 1
    assert value(samples, "sluice_http_requests_total", service="monitoring",
                 operation="SetAlarmState", code="2xx") == 1
    assert types["sluice_http_request_duration_seconds"] == "histogram"
    buckets = sorted((float(dict(ls)["le"]), v) for (n, ls), v in samples.items()
                     if n == "sluice_http_request_duration_seconds_bucket"
                     and dict(ls)["operation"] == "PutRecords")
    assert buckets[-1][0] == float("inf") and buckets[-1][1] == 1
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)  # cumulative
    assert value(samples, "sluice_http_request_duration_seconds_count",
                 operation="PutRecords") == 1
    assert value(samples, "process_resident_memory_bytes") > 1 << 20
    assert value(samples, "process_open_fds") > 0


def test_errors_are_counted_by_class(sl, unique):
    kin = sl.client("kinesis")
    with pytest.raises(Exception):
        kin.describe_stream(StreamName="none-" + unique)
    samples, _ = parse(scrape(sl))
    assert value(samples, "sluice_http_requests_total", service="kinesis",
                 operation="DescribeStream", code="4xx") >= 1


def test_firehose_figures(sl, unique):
    fh, s3 = sl.client("firehose"), sl.client("s3")
    name = "promf-" + unique
    s3.create_bucket(Bucket=name)
    fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration={
        "RoleARN": "arn:aws:iam::000000000000:role/firehose", "BucketARN": f"arn:aws:s3:::{name}"})
    deadline = time.time() + 30
    while fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"][
            "DeliveryStreamStatus"] != "ACTIVE" and time.time() < deadline:
        time.sleep(0.1)
    records = [b"p%03d\n" % i for i in range(25)]
    assert fh.put_record_batch(DeliveryStreamName=name,
                               Records=[{"Data": d} for d in records])["FailedPutCount"] == 0
    samples, types = parse(scrape(sl))
    assert value(samples, "sluice_firehose_incoming_records_total", delivery_stream=name) == 25
    assert value(samples, "sluice_firehose_incoming_bytes_total",
                 delivery_stream=name) == sum(len(r) for r in records)
    assert types["sluice_firehose_incoming_records_total"] == "counter"
    fh.put_record(DeliveryStreamName=name, Record={"Data": b"last\n"})
    # Two calls stored records; the buffer holds them all (its 300 s are far off) once the
    # engine has read them from the internal log.
    deadline = time.time() + 30
    while True:
        samples, types = parse(scrape(sl))
        if value(samples, "sluice_firehose_buffered_records", delivery_stream=name) == 26:
            break
        assert time.time() < deadline, "the records never reached the buffer"
        time.sleep(0.1)
    assert value(samples, "sluice_firehose_buffered_bytes",
                 delivery_stream=name) == sum(len(r) for r in records) + 5
    assert types["sluice_firehose_buffered_bytes"] == "gauge"
    assert value(samples, "sluice_firehose_incoming_put_requests_total",
                 delivery_stream=name) == 2
    assert value(samples, "sluice_firehose_throttled_records_total", delivery_stream=name) == 0


def test_a_signed_request_to_the_path_is_still_s3(sl):
    s3 = sl.client("s3")
    s3.create_bucket(Bucket="metrics")
    s3.put_object(Bucket="metrics", Key="k", Body=b"v")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="metrics")["Contents"]] == ["k"]


def test_open_is_refused_off_loopback(tmp_path):
    p = subprocess.run([Sluice().binary, "serve", "--data", str(tmp_path), "--listen",
                        "0.0.0.0:9", "--metrics-endpoint", "open"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "loopback" in p.stderr + p.stdout


def test_open_on_loopback(tmp_path):
    server = Sluice(extra_args=["--metrics-endpoint", "open"]).start()
    try:
        samples, _ = parse(scrape(server, token=None))
        assert value(samples, "sluice_cloudwatch_alarms", state="OK") == 0
    finally:
        assert server.stop() == 0
        server.cleanup()


def histogram_of(samples, name):
    """A label-less histogram's cumulative buckets {le: count}, its sum and count."""
    buckets = {dict(ls)["le"]: v for (n, ls), v in samples.items() if n == name + "_bucket"}
    return buckets, value(samples, name + "_sum"), value(samples, name + "_count")


def test_durability_figures_are_exposed(sl, unique):
    kin = sl.client("kinesis")
    name = "promd-" + unique
    kin.create_stream(StreamName=name, ShardCount=1)
    kin.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})
    before, _ = parse(scrape(sl))
    _, batch_sum0, batch_count0 = histogram_of(before, "sluice_group_commit_records")
    r = kin.put_records(StreamName=name, Records=[
        {"Data": b"d" * 100, "PartitionKey": str(i)} for i in range(50)])
    assert r["FailedRecordCount"] == 0
    for i in range(3):
        kin.put_record(StreamName=name, Data=b"e" * 10, PartitionKey="one")
    samples, types = parse(scrape(sl))
    # Segment-log bytes: the records and their framing.
    assert types["sluice_kinesis_segment_log_bytes"] == "gauge"
    assert value(samples, "sluice_kinesis_segment_log_bytes", stream=name) >= 50 * 100 + 3 * 10
    assert value(samples, "sluice_flushes_total") >= 1
    for family in ("sluice_fsync_duration_seconds", "sluice_group_commit_records"):
        assert types[family] == "histogram"
        buckets, total_, count = histogram_of(samples, family)
        bounds = sorted((float(le), v) for le, v in buckets.items())
        assert [v for _, v in bounds] == sorted(v for _, v in bounds), family  # cumulative
        assert buckets["+Inf"] == count and count > 0, family
        assert total_ > 0, family
    # Each of the 53 records was made durable by exactly one segment-log flush; the batch
    # of 50 went to one shard, so at most 4 flushes were needed.
    _, batch_sum, batch_count = histogram_of(samples, "sluice_group_commit_records")
    assert batch_sum - batch_sum0 == 53
    assert 2 <= batch_count - batch_count0 <= 4


def test_per_shard_athena_and_connection_figures(sl, unique):
    kin, athena, s3 = sl.client("kinesis"), sl.client("athena"), sl.client("s3")
    name = "proms-" + unique
    kin.create_stream(StreamName=name, ShardCount=2)
    kin.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})
    # 30 records to shard 0, 5 to shard 1: the counters tell the hot shard.
    r = kin.put_records(StreamName=name, Records=[
        {"Data": b"s" * 20, "PartitionKey": "k", "ExplicitHashKey": "0"} for _ in range(30)] + [
        {"Data": b"t" * 20, "PartitionKey": "k", "ExplicitHashKey": str(2 ** 127)}
        for _ in range(5)])
    assert r["FailedRecordCount"] == 0
    bucket, wg = "proms-" + unique, "promwg-" + unique
    s3.create_bucket(Bucket=bucket)
    athena.create_work_group(Name=wg, Configuration={
        "ResultConfiguration": {"OutputLocation": f"s3://{bucket}/out/"}})
    done = []
    for sql in ("SELECT 1", "SELECT * FROM no_such_table_" + unique):
        qid = athena.start_query_execution(QueryString=sql, WorkGroup=wg)["QueryExecutionId"]
        deadline = time.time() + 60
        while True:
            qe = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
            if qe["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                break
            assert time.time() < deadline, qid
            time.sleep(0.05)
        done.append(qe)
    assert [q["Status"]["State"] for q in done] == ["SUCCEEDED", "FAILED"]
    it = kin.get_shard_iterator(StreamName=name, ShardId="shardId-000000000001",
                                ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    assert len(kin.get_records(ShardIterator=it)["Records"]) == 5
    samples, types = parse(scrape(sl))
    assert value(samples, "sluice_kinesis_outgoing_records_total", stream=name) == 5
    assert value(samples, "sluice_kinesis_outgoing_bytes_total", stream=name) == 5 * 20
    shard = "sluice_kinesis_shard_records_total"
    assert types[shard] == "counter"
    assert value(samples, shard, stream=name, shard="shardId-000000000000") == 30
    assert value(samples, shard, stream=name, shard="shardId-000000000001") == 5
    assert value(samples, "sluice_kinesis_shard_segment_log_bytes", stream=name,
                 shard="shardId-000000000000") >= 30 * 20
    assert value(samples, "sluice_athena_queries_total", workgroup=wg, state="SUCCEEDED") == 1
    assert value(samples, "sluice_athena_queries_total", workgroup=wg, state="FAILED") == 1
    assert value(samples, "sluice_athena_processed_bytes_total", workgroup=wg) == sum(
        q["Statistics"]["DataScannedInBytes"] for q in done)
    # The scrape's own connection at least.
    assert types["sluice_http_open_connections"] == "gauge"
    assert value(samples, "sluice_http_open_connections") >= 1
