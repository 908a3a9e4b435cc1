"""Durability by force: clean restarts and kill -9 in the middle of a load."""
import os
import threading
import time

import pytest
from botocore.exceptions import BotoCoreError, ClientError

# Bulk loads at full speed: durability, not the throughput limits, is under test here.
SLUICE_EXTRA_ARGS = ["--throughput-limits", "off"]


def create_active(kinesis, name, shards=4):
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    kinesis.get_waiter("stream_exists").wait(StreamName=name,
                                             WaiterConfig={"Delay": 1, "MaxAttempts": 20})


def read_shard(kinesis, name, shard_id):
    it = kinesis.get_shard_iterator(StreamName=name, ShardId=shard_id,
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    out = []
    while True:
        r = kinesis.get_records(ShardIterator=it, Limit=10000)
        out += r["Records"]
        it = r["NextShardIterator"]
        if not r["Records"]:
            return out


def read_stream(kinesis, name):
    shards = kinesis.list_shards(StreamName=name)["Shards"]
    return {s["ShardId"]: read_shard(kinesis, name, s["ShardId"]) for s in shards}


def test_restart_keeps_records_sequence_numbers_and_metadata(fresh_sluice):
    fresh_sluice.start()
    kinesis = fresh_sluice.client("kinesis")
    create_active(kinesis, "keep")
    kinesis.add_tags_to_stream(StreamName="keep", Tags={"owner": "ops"})
    kinesis.increase_stream_retention_period(StreamName="keep", RetentionPeriodHours=72)
    sent = kinesis.put_records(StreamName="keep", Records=[
        {"Data": f"rec-{i}".encode(), "PartitionKey": f"pk-{i}"} for i in range(300)])
    assert sent["FailedRecordCount"] == 0
    before = read_stream(kinesis, "keep")
    old_iterator = kinesis.get_shard_iterator(StreamName="keep", ShardId="shardId-000000000000",
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]

    fresh_sluice.restart()  # asserts a clean exit 0 on SIGTERM
    kinesis = fresh_sluice.client("kinesis")
    after = read_stream(kinesis, "keep")
    assert after == before
    assert sum(len(v) for v in after.values()) == 300
    summary = kinesis.describe_stream_summary(StreamName="keep")["StreamDescriptionSummary"]
    assert summary["RetentionPeriodHours"] == 72 and summary["StreamStatus"] == "ACTIVE"
    assert kinesis.list_tags_for_stream(StreamName="keep")["Tags"] == [
        {"Key": "owner", "Value": "ops"}]
    # An iterator handed out before the restart still reads (until it expires).
    assert kinesis.get_records(ShardIterator=old_iterator)["Records"] == before[
        "shardId-000000000000"]
    # New records continue each shard's sequence.
    last = {k: max(int(r["SequenceNumber"]) for r in v) for k, v in after.items() if v}
    more = kinesis.put_records(StreamName="keep", Records=[
        {"Data": b"new", "PartitionKey": f"pk-{i}"} for i in range(300)])
    for r in more["Records"]:
        assert int(r["SequenceNumber"]) > last[r["ShardId"]]


def test_sequence_numbers_of_the_first_layout_still_read_after_an_upgrade(fresh_sluice):
    """Numbers handed out before sequence numbers took AWS's layout ("49", the stream's
    creation in ms, the shard, ten zeros, the record's index) and kept by clients as
    checkpoints still read the same records after a restart, and sort below every number
    handed out since."""
    fresh_sluice.start()
    kinesis = fresh_sluice.client("kinesis")
    create_active(kinesis, "upgrade", shards=1)
    created = kinesis.describe_stream_summary(StreamName="upgrade")[
        "StreamDescriptionSummary"]["StreamCreationTimestamp"]
    tag = round(created.timestamp() * 1000)
    for i in range(3):
        kinesis.put_record(StreamName="upgrade", Data=f"u{i}".encode(), PartitionKey="k")
    fresh_sluice.restart()
    kinesis = fresh_sluice.client("kinesis")
    shard = "shardId-000000000000"

    def read_from(kind, seq):
        it = kinesis.get_shard_iterator(StreamName="upgrade", ShardId=shard,
                                        ShardIteratorType=kind,
                                        StartingSequenceNumber=seq)["ShardIterator"]
        return [r["Data"] for r in kinesis.get_records(ShardIterator=it)["Records"]]

    old = [f"49{tag:018d}{0:06d}{0:010d}{i:020d}" for i in range(3)]
    assert read_from("AT_SEQUENCE_NUMBER", old[1]) == [b"u1", b"u2"]
    assert read_from("AFTER_SEQUENCE_NUMBER", old[1]) == [b"u2"]
    assert read_from("AFTER_SEQUENCE_NUMBER", old[2]) == []
    # an old-layout number of another stream (another creation time) is not this one's
    with pytest.raises(ClientError) as e:
        read_from("AT_SEQUENCE_NUMBER", f"49{tag + 1:018d}{0:06d}{0:010d}{1:020d}")
    assert e.value.response["Error"]["Code"] == "InvalidArgumentException"
    new = read_shard(kinesis, "upgrade", shard)
    assert all(int(o) < int(n["SequenceNumber"]) for o in old for n in new)


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_kill_9_mid_load_loses_no_acknowledged_record(fresh_sluice, encrypted):
    fresh_sluice.start()
    kinesis = fresh_sluice.client("kinesis")
    create_active(kinesis, "crash")
    if encrypted:  # records stored sealed (encryption at rest) are as durable
        kinesis.start_stream_encryption(StreamName="crash", EncryptionType="KMS",
                                        KeyId="alias/aws/kinesis")
        kinesis.get_waiter("stream_exists").wait(StreamName="crash",
                                                 WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    acked = {}  # (shard, sequence number) -> data
    lock = threading.Lock()
    stop = threading.Event()

    def producer(worker):
        client = fresh_sluice.client("kinesis")
        batch_no = 0
        while not stop.is_set():
            records = [{"Data": f"w{worker}-b{batch_no}-r{i}-".encode() + os.urandom(64),
                        "PartitionKey": f"k{worker}-{i}"} for i in range(100)]
            batch_no += 1
            try:
                out = client.put_records(StreamName="crash", Records=records)
            except (BotoCoreError, ClientError):
                return  # the server died under us: nothing in this batch was acknowledged
            with lock:
                for rec, res in zip(records, out["Records"]):
                    if "SequenceNumber" in res:
                        acked[(res["ShardId"], res["SequenceNumber"])] = rec["Data"]

    threads = [threading.Thread(target=producer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    time.sleep(3)
    fresh_sluice.kill9()
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) > 1000, "the load did not run long enough to mean anything"

    fresh_sluice.start()
    kinesis = fresh_sluice.client("kinesis")
    stored = {}
    for shard, records in read_stream(kinesis, "crash").items():
        seqs = [int(r["SequenceNumber"]) for r in records]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        for r in records:
            stored[(shard, r["SequenceNumber"])] = r["Data"]
            assert r.get("EncryptionType", "NONE") == ("KMS" if encrypted else "NONE")
    missing = [k for k in acked if k not in stored]
    changed = [k for k in acked if k in stored and stored[k] != acked[k]]
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged records lost"
    assert not changed
    # Unacknowledged records may survive (at-least-once), but never as garbage.
    for data in stored.values():
        assert data.startswith(b"w")
    print(f"acknowledged {len(acked)}, recovered {len(stored)}")
    # The sequence goes on past everything recovered.
    top = max(int(s) for _, s in stored)
    out = kinesis.put_records(StreamName="crash", Records=[
        {"Data": b"after", "PartitionKey": f"k{i}"} for i in range(50)])
    assert out["FailedRecordCount"] == 0
    for r in out["Records"]:
        shard_top = max((int(s) for sh, s in stored if sh == r["ShardId"]), default=0)
        assert int(r["SequenceNumber"]) > shard_top
    assert top > 0


def test_sigterm_during_load_exits_zero_and_keeps_acknowledged(fresh_sluice):
    fresh_sluice.start()
    kinesis = fresh_sluice.client("kinesis")
    create_active(kinesis, "term", shards=2)
    acked = []
    stop = threading.Event()

    def producer():
        client = fresh_sluice.client("kinesis")
        while not stop.is_set():
            try:
                out = client.put_records(StreamName="term", Records=[
                    {"Data": os.urandom(32), "PartitionKey": str(i)} for i in range(50)])
            except (BotoCoreError, ClientError):
                return
            acked.extend((r["ShardId"], r["SequenceNumber"]) for r in out["Records"])

    t = threading.Thread(target=producer)
    t.start()
    time.sleep(1)
    assert fresh_sluice.stop() == 0
    stop.set()
    t.join()
    fresh_sluice.start()
    stored = {(shard, r["SequenceNumber"])
              for shard, recs in read_stream(fresh_sluice.client("kinesis"), "term").items()
              for r in recs}
    assert acked and set(acked) <= stored


def test_full_disk_fails_puts_until_space_returns_and_failed_records_never_come_back(
        fresh_sluice, monkeypatch):
    """A full disk, played by RLIMIT_FSIZE: writes past the limit fail with EFBIG (SIGXFSZ
    is ignored, and an ignored signal stays ignored through exec)."""
    import functools
    import resource
    import signal
    import subprocess

    limit = 4 << 20

    def cap_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    monkeypatch.setattr(subprocess, "Popen",
                        functools.partial(subprocess.Popen, preexec_fn=cap_file_size))
    fresh_sluice.start()
    monkeypatch.undo()
    kinesis = fresh_sluice.client("kinesis")
    create_active(kinesis, "full", shards=1)

    acked = {}   # data -> sequence number
    failed = set()
    batch_no = 0

    def put_batch(n=5, size=100 * 1024):
        nonlocal batch_no
        records = [{"Data": f"b{batch_no}-r{i}-".encode().ljust(size, b"x"),
                    "PartitionKey": "k"} for i in range(n)]
        batch_no += 1
        out = kinesis.put_records(StreamName="full", Records=records)
        for rec, res in zip(records, out["Records"]):
            if "SequenceNumber" in res:
                acked[rec["Data"]] = res["SequenceNumber"]
            else:
                assert res["ErrorCode"] == "InternalFailure"
                failed.add(rec["Data"])
        return out["FailedRecordCount"]

    # Fill the disk: the batch that crosses the limit is partly written, then fails.
    while put_batch() == 0:
        assert batch_no < 100, "the file size limit never bit"
    assert put_batch() == 5  # still full
    n_failed_while_full = len(failed)
    assert n_failed_while_full == 10

    # Space comes back: the shard takes records again without a restart.
    resource.prlimit(fresh_sluice.proc.pid, resource.RLIMIT_FSIZE,
                     (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    assert put_batch() == 0
    assert put_batch(n=3) == 0

    def check(stored):
        datas = [r["Data"] for r in stored]
        assert len(datas) == len(set(datas)), "a record is stored twice"
        by_data = {r["Data"]: r["SequenceNumber"] for r in stored}
        assert by_data == acked  # every acknowledged record, none reported failed

    check(read_shard(kinesis, "full", "shardId-000000000000"))
    fresh_sluice.restart()
    kinesis = fresh_sluice.client("kinesis")
    check(read_shard(kinesis, "full", "shardId-000000000000"))
    fresh_sluice.kill9()
    fresh_sluice.start()
    kinesis = fresh_sluice.client("kinesis")
    check(read_shard(kinesis, "full", "shardId-000000000000"))
