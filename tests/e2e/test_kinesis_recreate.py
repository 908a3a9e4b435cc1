"""A stream deleted and created again under the same name, within a second: nothing of the
old stream (iterators, sequence numbers) reads the new one."""
import time

import pytest
from botocore.exceptions import ClientError

SHARD = "shardId-000000000000"


@pytest.fixture(scope="module")
def sluice(sluice_unlimited):
    return sluice_unlimited


def error_code(e):
    return e.value.response["Error"]["Code"]


def wait_status(kinesis, name, want, deadline_s=60):
    deadline = time.time() + deadline_s
    while time.time() < deadline:
        try:
            st = kinesis.describe_stream_summary(StreamName=name)[
                "StreamDescriptionSummary"]["StreamStatus"]
        except ClientError as e:
            if e.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            st = "GONE"
        if st == want:
            return
        time.sleep(0.05)
    raise AssertionError(f"{name} never {want}")


def make(kinesis, name, data):
    kinesis.create_stream(StreamName=name, ShardCount=1)
    wait_status(kinesis, name, "ACTIVE")
    seqs = [kinesis.put_record(StreamName=name, Data=d, PartitionKey="k")["SequenceNumber"]
            for d in data]
    shard = kinesis.describe_stream(StreamName=name)["StreamDescription"]["Shards"][0]
    return seqs, shard["SequenceNumberRange"]["StartingSequenceNumber"]


def test_old_iterators_and_sequence_numbers_do_not_read_the_new_stream(sluice, unique):
    k = sluice.client("kinesis")
    name = f"again-{unique}"
    for attempt in range(3):  # each round deletes and re-creates as fast as the API allows
        old_seqs, old_start = make(k, name, [b"old-0", b"old-1", b"old-2"])
        old_it = k.get_shard_iterator(StreamName=name, ShardId=SHARD,
                                      ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        k.delete_stream(StreamName=name)
        wait_status(k, name, "GONE")
        new_seqs, new_start = make(k, name, [b"new-0"])

        # Every number of the new stream is above every number of the old one, so a
        # client comparing numbers (a checkpoint) never takes an old one for a new one.
        assert int(new_start) > max(int(s) for s in old_seqs)
        assert int(new_seqs[0]) > max(int(s) for s in old_seqs)
        assert int(new_start) > int(old_start)
        # An old number is not one of the new shard's.
        for typ in ["AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"]:
            with pytest.raises(ClientError) as e:
                k.get_shard_iterator(StreamName=name, ShardId=SHARD, ShardIteratorType=typ,
                                     StartingSequenceNumber=old_seqs[0])
            assert error_code(e) == "InvalidArgumentException"
        # The old stream's iterator reads nothing of the new stream.
        with pytest.raises(ClientError) as e:
            k.get_records(ShardIterator=old_it)
        assert error_code(e) == "ResourceNotFoundException"
        # The new stream reads only its own record.
        it = k.get_shard_iterator(StreamName=name, ShardId=SHARD,
                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        assert [r["Data"] for r in k.get_records(ShardIterator=it)["Records"]] == [b"new-0"]
        k.delete_stream(StreamName=name)
        wait_status(k, name, "GONE")
