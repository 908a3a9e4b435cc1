"""Firehose durability by force: every acknowledged record reaches the lake across a clean
restart and a kill -9 in the middle of delivery (at-least-once: duplicates are counted and
reported, never lost records)."""
import collections
import signal
import threading
import time

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

ROLE = "arn:aws:iam::000000000000:role/firehose"


def clients(sluice):
    cfg = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=60)
    return (sluice.client("firehose", config=cfg), sluice.client("s3", config=cfg),
            sluice.client("kinesis", config=cfg))


def wait_active(fh, name):
    for _ in range(100):
        d = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
        if d["DeliveryStreamStatus"] == "ACTIVE":
            return
        time.sleep(0.1)
    raise AssertionError("never ACTIVE")


def delivered(s3, bucket):
    """Every line of every object in bucket, counted."""
    count = collections.Counter()
    kw = {"Bucket": bucket}
    while True:
        r = s3.list_objects_v2(**kw)
        for o in r.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            count.update(x for x in body.split(b"\n") if x)
        if not r.get("IsTruncated"):
            return count
        kw["ContinuationToken"] = r["NextContinuationToken"]


def wait_all(sluice, s3, bucket, acked, timeout=60):
    deadline = time.time() + timeout
    while True:
        sluice.proc.send_signal(signal.SIGUSR1)
        time.sleep(0.5)
        got = delivered(s3, bucket)
        missing = [r for r in acked if r not in got]
        if not missing or time.time() > deadline:
            return got, missing


def producer(fh, name, acked, stop, tag):
    n = 0
    while not stop.is_set():
        batch = [f"{tag}-{n + i}".encode() for i in range(100)]
        try:
            r = fh.put_record_batch(DeliveryStreamName=name,
                                    Records=[{"Data": b + b"\n"} for b in batch])
        except (ClientError, BotoCoreError):
            return
        assert r["FailedPutCount"] == 0
        acked.extend(batch)
        n += 100


def flusher(sluice, stop):
    while not stop.is_set():
        try:
            sluice.proc.send_signal(signal.SIGUSR1)
        except (AttributeError, ProcessLookupError):
            return
        time.sleep(0.05)


def test_direct_put_survives_restart_and_kill9(fresh_sluice):
    fresh_sluice.start()
    fh, s3, _ = clients(fresh_sluice)
    s3.create_bucket(Bucket="crash")
    fh.create_delivery_stream(DeliveryStreamName="crash", ExtendedS3DestinationConfiguration={
        "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::crash",
        "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}})
    wait_active(fh, "crash")
    acked = []
    fh.put_record_batch(DeliveryStreamName="crash",
                        Records=[{"Data": f"pre-{i}\n".encode()} for i in range(100)])
    acked += [f"pre-{i}".encode() for i in range(100)]
    fresh_sluice.restart()  # undelivered records wait in the internal log

    fh, s3, _ = clients(fresh_sluice)
    stop = threading.Event()
    threads = [threading.Thread(target=producer, args=(fh, "crash", acked, stop, f"w{t}"))
               for t in range(2)]
    threads.append(threading.Thread(target=flusher, args=(fresh_sluice, stop)))
    for t in threads:
        t.start()
    time.sleep(3)
    proc = fresh_sluice.proc
    fresh_sluice.kill9()
    stop.set()
    for t in threads:
        t.join()
    assert proc.returncode == -signal.SIGKILL
    assert len(acked) > 1000, "the load did not run long enough to mean anything"

    fresh_sluice.start()
    fh, s3, _ = clients(fresh_sluice)
    got, missing = wait_all(fresh_sluice, s3, "crash", acked)
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged records lost"
    dups = sum(c - 1 for c in got.values() if c > 1)
    print(f"acknowledged {len(acked)}, delivered {sum(got.values())}, duplicates {dups}")
    # Only records that were sent are delivered, nothing else.
    assert all(k.startswith((b"pre-", b"w0-", b"w1-")) for k in got)


def test_kinesis_source_survives_kill9(fresh_sluice):
    fresh_sluice.start()
    fh, s3, kin = clients(fresh_sluice)
    s3.create_bucket(Bucket="kcrash")
    kin.create_stream(StreamName="kcrash", ShardCount=2)
    kin.get_waiter("stream_exists").wait(StreamName="kcrash",
                                         WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    karn = kin.describe_stream_summary(StreamName="kcrash")["StreamDescriptionSummary"][
        "StreamARN"]
    fh.create_delivery_stream(
        DeliveryStreamName="kcrash", DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": karn, "RoleARN": ROLE},
        ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::kcrash",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}})
    acked = []
    stop = threading.Event()

    def kproducer():
        n = 0
        while not stop.is_set():
            batch = [f"k-{n + i}".encode() for i in range(100)]
            try:
                r = kin.put_records(StreamName="kcrash", Records=[
                    {"Data": b + b"\n", "PartitionKey": b.decode()} for b in batch])
            except (ClientError, BotoCoreError):
                return
            acked.extend(b for b, e in zip(batch, r["Records"]) if "SequenceNumber" in e)
            n += 100

    threads = [threading.Thread(target=kproducer),
               threading.Thread(target=flusher, args=(fresh_sluice, stop))]
    for t in threads:
        t.start()
    time.sleep(3)
    fresh_sluice.kill9()
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) > 1000

    fresh_sluice.start()
    fh, s3, kin = clients(fresh_sluice)
    got, missing = wait_all(fresh_sluice, s3, "kcrash", acked)
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged records lost"
    dups = sum(c - 1 for c in got.values() if c > 1)
    print(f"acknowledged {len(acked)}, delivered {sum(got.values())}, duplicates {dups}")
