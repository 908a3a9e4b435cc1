"""Kinesis throughput limits as AWS applies them, through boto3 with retries off.

Per shard: writes 1,000 records/s and 1 MiB/s (a PutRecords fails only the records over
it; PutRecord fails whole), reads 5 GetRecords/s, GetShardIterator 5/s; the control plane
at AWS's documented rates (LimitExceededException). `--throughput-limits off` removes them.

No test here depends on how fast the machine is, only on a handful of calls taking less
than a second each: a bucket holds one second of its rate and starts full, so what a
single call admits from a fresh shard is exact, and bursts are repeated until they meet
the limit rather than timed.
"""
import base64
import time

import pytest
from botocore.exceptions import ClientError

from conftest import Sluice

ACCOUNT = "000000000000"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def limited():
    server = Sluice().start()
    yield server
    code = server.stop()
    log = server.read_log()
    server.cleanup()
    assert code == 0, f"server exited {code}:\n{log}"


@pytest.fixture(scope="module")
def unlimited():
    server = Sluice(extra_args=["--throughput-limits", "off"]).start()
    yield server
    code = server.stop()
    server.cleanup()
    assert code == 0


def make_stream(kinesis, name, shards=1):
    # CreateStream is limited to 5/s per account and DescribeStreamSummary to 20/s: a test
    # creating streams back to back backs off as a real client would.
    call_with_backoff(lambda: kinesis.create_stream(StreamName=name, ShardCount=shards))
    deadline = time.time() + 15
    while time.time() < deadline:
        d = call_with_backoff(lambda: kinesis.describe_stream_summary(StreamName=name))
        if d["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
            return
        time.sleep(0.1)
    raise AssertionError(f"{name} not ACTIVE")


def call_with_backoff(fn, attempts=12):
    """Retries throttling errors with exponential backoff, as AWS's SDKs do."""
    delay = 0.05
    for i in range(attempts):
        try:
            return fn()
        except ClientError as e:
            code = e.response["Error"]["Code"]
            if code not in ("LimitExceededException", "ProvisionedThroughputExceededException") \
                    or i == attempts - 1:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


def read_shard(kinesis, name, shard_id="shardId-000000000000"):
    it = call_with_backoff(lambda: kinesis.get_shard_iterator(
        StreamName=name, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"))["ShardIterator"]
    records = []
    while True:
        out = call_with_backoff(lambda: kinesis.get_records(ShardIterator=it, Limit=10000))
        records += out["Records"]
        it = out["NextShardIterator"]
        if not out["Records"]:
            return records


def shard_message(name, shard=0):
    return (f"Rate exceeded for shard shardId-{shard:012d} in stream {name} "
            f"under account {ACCOUNT}.")


def test_put_records_fails_exactly_the_records_over_the_byte_limit(limited, unique):
    kinesis = limited.client("kinesis")
    name = f"lim-bytes-{unique}"
    make_stream(kinesis, name)
    # 500 records of 4,096 bytes and a 1-byte key: the fresh shard's 1 MiB bucket takes
    # floor(1,048,576 / 4,097) = 255 of them; the call is counted at one instant.
    records = [{"Data": bytes([i % 256]) * 4096, "PartitionKey": "k"} for i in range(500)]
    out = kinesis.put_records(StreamName=name, Records=records)
    results = out["Records"]
    assert len(results) == 500
    ok = [i for i, r in enumerate(results) if "SequenceNumber" in r]
    failed = [i for i, r in enumerate(results) if "ErrorCode" in r]
    assert ok == list(range(255))
    assert failed == list(range(255, 500))
    assert out["FailedRecordCount"] == 245
    for i in failed:
        assert results[i]["ErrorCode"] == "ProvisionedThroughputExceededException"
        assert results[i]["ErrorMessage"] == shard_message(name)
        assert "SequenceNumber" not in results[i] and "ShardId" not in results[i]
    stored = read_shard(kinesis, name)
    assert [r["SequenceNumber"] for r in stored] == [results[i]["SequenceNumber"] for i in ok]
    assert [r["Data"] for r in stored] == [records[i]["Data"] for i in ok]


def test_put_records_over_the_record_rate_fails_only_the_excess(limited, unique):
    kinesis = limited.client("kinesis")
    name = f"lim-recs-{unique}"
    make_stream(kinesis, name)
    sent, accepted = 0, []
    # Batches of 500 small records to one shard, back to back, until one meets the limit
    # of 1,000 records a second (the bucket starts with 1,000: the first two always pass).
    for batch in range(20):
        records = [{"Data": f"{batch}-{i}".encode(), "PartitionKey": "hot"} for i in range(500)]
        out = kinesis.put_records(StreamName=name, Records=records)
        results = out["Records"]
        failed = [i for i, r in enumerate(results) if "ErrorCode" in r]
        assert out["FailedRecordCount"] == len(failed)
        accepted += [(records[i]["Data"], r["SequenceNumber"]) for i, r in enumerate(results)
                     if "SequenceNumber" in r]
        sent += 500
        if failed:
            break
    else:
        pytest.fail("10,000 records in a row were never throttled")
    assert sent - 500 >= 1000  # the burst of one second passed whole
    # Records of one size are admitted while the bucket lasts: the refused ones are a tail.
    assert failed == list(range(failed[0], 500))
    for i in failed:
        assert results[i] == {"ErrorCode": "ProvisionedThroughputExceededException",
                              "ErrorMessage": shard_message(name)}
    stored = read_shard(kinesis, name)
    assert [(r["Data"], r["SequenceNumber"]) for r in stored] == accepted


def test_put_record_over_the_limit_fails_whole_and_a_retry_with_backoff_succeeds(limited,
                                                                                 unique):
    kinesis = limited.client("kinesis")
    name = f"lim-one-{unique}"
    make_stream(kinesis, name)
    big = b"x" * (MIB - 1)  # with the 1-byte key, one second of the shard's bytes
    for _ in range(10):
        try:
            kinesis.put_record(StreamName=name, Data=big, PartitionKey="k")
        except ClientError as e:
            err = e
            break
    else:
        pytest.fail("ten 1 MiB PutRecords in a row were never throttled")
    assert err.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert err.response["Error"]["Message"] == shard_message(name)
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    n_before = len(read_shard(kinesis, name))
    out = call_with_backoff(lambda: kinesis.put_record(StreamName=name, Data=b"after",
                                                        PartitionKey="k"))
    stored = read_shard(kinesis, name)
    assert len(stored) == n_before + 1
    assert stored[-1]["SequenceNumber"] == out["SequenceNumber"]
    assert stored[-1]["Data"] == b"after"


def test_put_records_retrying_only_the_failed_records_stores_each_once(limited, unique):
    """The seed lab's producer pattern: resend what failed, with backoff, until none fail."""
    kinesis = limited.client("kinesis")
    name = f"lim-retry-{unique}"
    make_stream(kinesis, name)
    pending = [{"Data": f"r{i}".encode(), "PartitionKey": "hot"} for i in range(2500)]
    delay = 0.05
    while pending:
        batch, pending = pending[:500], pending[500:]
        out = kinesis.put_records(StreamName=name, Records=batch)
        retry = [rec for rec, res in zip(batch, out["Records"]) if "ErrorCode" in res]
        if retry:
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
        pending = retry + pending
    stored = read_shard(kinesis, name)
    assert sorted(r["Data"] for r in stored) == sorted(f"r{i}".encode() for i in range(2500))


def test_get_records_and_get_shard_iterator_fail_whole_past_five_a_second(limited, unique):
    kinesis = limited.client("kinesis")
    name = f"lim-read-{unique}"
    make_stream(kinesis, name)
    kinesis.put_record(StreamName=name, Data=b"one", PartitionKey="k")
    it = call_with_backoff(lambda: kinesis.get_shard_iterator(
        StreamName=name, ShardId="shardId-000000000000",
        ShardIteratorType="TRIM_HORIZON"))["ShardIterator"]
    for _ in range(50):
        try:
            kinesis.get_records(ShardIterator=it)
        except ClientError as e:
            err = e
            break
    else:
        pytest.fail("50 GetRecords in a row were never throttled")
    assert err.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert err.response["Error"]["Message"] == (
        f"Rate exceeded for Shard - {ACCOUNT}/{name}/shardId-000000000000")
    # The iterator is still good; backing off gets the record.
    out = call_with_backoff(lambda: kinesis.get_records(ShardIterator=it))
    assert [r["Data"] for r in out["Records"]] == [b"one"]

    for _ in range(50):
        try:
            kinesis.get_shard_iterator(StreamName=name, ShardId="shardId-000000000000",
                                       ShardIteratorType="LATEST")
        except ClientError as e:
            err = e
            break
    else:
        pytest.fail("50 GetShardIterator in a row were never throttled")
    assert err.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert err.response["Error"]["Message"] == shard_message(name)


def test_control_plane_bursts_get_limit_exceeded(limited, unique):
    kinesis = limited.client("kinesis")
    name = f"lim-ctl-{unique}"
    make_stream(kinesis, name)

    def burst(fn, n=200):
        for _ in range(n):
            try:
                fn()
            except ClientError as e:
                return e
        pytest.fail(f"{n} calls in a row were never throttled")

    err = burst(lambda: kinesis.describe_stream(StreamName=name))
    assert err.response["Error"]["Code"] == "LimitExceededException"
    assert err.response["Error"]["Message"] == (
        f"Rate exceeded for stream {name} under account {ACCOUNT}.")
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    err = burst(lambda: kinesis.describe_limits())
    assert err.response["Error"]["Code"] == "LimitExceededException"
    assert err.response["Error"]["Message"] == f"Rate exceeded for account {ACCOUNT}."
    err = burst(lambda: kinesis.list_streams())
    assert err.response["Error"]["Code"] == "LimitExceededException"
    # Backing off gets through.
    assert call_with_backoff(lambda: kinesis.describe_limits())["ShardLimit"] > 0


def test_a_throttled_shard_does_not_hold_back_another(limited, unique):
    kinesis = limited.client("kinesis")
    hot, cold = f"lim-hot-{unique}", f"lim-cold-{unique}"
    make_stream(kinesis, hot)
    make_stream(kinesis, cold)
    records = [{"Data": b"z" * 4096, "PartitionKey": "k"} for _ in range(500)]
    kinesis.put_records(StreamName=hot, Records=records)
    out = kinesis.put_records(StreamName=hot, Records=records)
    assert out["FailedRecordCount"] > 0
    # The other stream's shard has its own buckets: a fresh one takes exactly 255.
    out = kinesis.put_records(StreamName=cold, Records=records)
    assert out["FailedRecordCount"] == 245


def test_limits_off_removes_them(unlimited, unique):
    kinesis = unlimited.client("kinesis")
    name = f"nolim-{unique}"
    kinesis.create_stream(StreamName=name, ShardCount=1)
    for _ in range(200):
        if kinesis.describe_stream_summary(StreamName=name)[
                "StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
            break
        time.sleep(0.05)
    big = [{"Data": b"y" * 4096, "PartitionKey": "k"} for _ in range(500)]
    small = [{"Data": b"s", "PartitionKey": "k"} for _ in range(500)]
    for records in (big, big, small, small, small):
        assert kinesis.put_records(StreamName=name, Records=records)["FailedRecordCount"] == 0
    for _ in range(3):
        kinesis.put_record(StreamName=name, Data=b"x" * (MIB - 1), PartitionKey="k")
    it = kinesis.get_shard_iterator(StreamName=name, ShardId="shardId-000000000000",
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    total = 0
    for _ in range(30):
        out = kinesis.get_records(ShardIterator=it, Limit=10000)
        total += len(out["Records"])
        it = out["NextShardIterator"]
    assert total == 2 * 500 + 3 * 500 + 3
    for _ in range(30):
        kinesis.describe_limits()
        kinesis.describe_stream(StreamName=name)
        kinesis.get_shard_iterator(StreamName=name, ShardId="shardId-000000000000",
                                   ShardIteratorType="LATEST")


def test_throughput_limits_flag_takes_on_or_off_only(tmp_path):
    import subprocess
    server = Sluice(extra_args=["--throughput-limits", "maybe"])
    p = subprocess.run([server.binary, "serve", "--data", str(tmp_path), "--throughput-limits",
                        "maybe"], capture_output=True, text=True, timeout=30)
    server.cleanup()
    assert p.returncode == 2
    assert "--throughput-limits wants on or off" in p.stderr
