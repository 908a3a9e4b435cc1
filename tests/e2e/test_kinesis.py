"""Kinesis Data Streams against the real server, through boto3 and the AWS CLI."""
import base64
import datetime
import hashlib
import os
import threading
import time

import pytest
from botocore.exceptions import ClientError

from conftest import AwsCliError, aws_cli_major

TWO_128 = 2 ** 128


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def wait_active(kinesis, name, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = kinesis.describe_stream_summary(StreamName=name)[
            "StreamDescriptionSummary"]["StreamStatus"]
        if status == "ACTIVE":
            return
        time.sleep(0.05)
    raise AssertionError(f"{name} not ACTIVE")


@pytest.fixture(scope="module")
def sluice(sluice_unlimited):
    """This module's tests read shards back several times a second and create streams back
    to back with retries off: they test the API, so their server runs without the
    throughput limits (test_kinesis_limits.py tests those)."""
    return sluice_unlimited


@pytest.fixture
def kinesis(sluice):
    return sluice.client("kinesis")


@pytest.fixture
def raw_kinesis(sluice):
    """A client that sends what it is given, so the server's own validation is tested."""
    from botocore.config import Config
    return sluice.client("kinesis", config=Config(parameter_validation=False,
                                                  retries={"total_max_attempts": 1}))


@pytest.fixture
def stream(kinesis, unique):
    name = f"s-{unique}"
    kinesis.create_stream(StreamName=name, ShardCount=4)
    wait_active(kinesis, name)
    return name


def read_all(kinesis, name, shard_id, iterator_type="TRIM_HORIZON", **kw):
    it = kinesis.get_shard_iterator(StreamName=name, ShardId=shard_id,
                                    ShardIteratorType=iterator_type, **kw)["ShardIterator"]
    records = []
    while True:
        out = kinesis.get_records(ShardIterator=it, Limit=10000)
        records += out["Records"]
        it = out["NextShardIterator"]
        if not out["Records"]:
            assert out["MillisBehindLatest"] == 0
            return records


# ---- the lab's own commands, through the AWS CLI ----

def test_cli_lab_create_wait_put_read(sluice, unique):
    name = f"dojo-events-{unique}"
    account = sluice.aws("sts", "get-caller-identity", "--query", "Account",
                         output="text").strip()
    assert account == "000000000000"
    assert sluice.aws("kinesis", "create-stream", "--stream-name", name,
                      "--stream-mode-details", "StreamMode=ON_DEMAND") is None
    sluice.aws("kinesis", "wait", "stream-exists", "--stream-name", name)
    summary = sluice.aws("kinesis", "describe-stream-summary", "--stream-name", name)[
        "StreamDescriptionSummary"]
    assert summary["StreamStatus"] == "ACTIVE"
    assert summary["StreamModeDetails"]["StreamMode"] == "ON_DEMAND"
    assert summary["OpenShardCount"] == 4
    assert summary["StreamARN"] == f"arn:aws:kinesis:us-east-1:000000000000:stream/{name}"
    if aws_cli_major() >= 2:
        data = ["--data", base64.b64encode(b"hello lab").decode(), "--cli-binary-format",
                "base64"]
    else:
        data = ["--data", "hello lab"]  # v1 sends a blob argument's own bytes
    put = sluice.aws("kinesis", "put-record", "--stream-name", name, "--partition-key",
                     "device-00001", *data)
    it = sluice.aws("kinesis", "get-shard-iterator", "--stream-name", name, "--shard-id",
                    put["ShardId"], "--shard-iterator-type", "TRIM_HORIZON")["ShardIterator"]
    got = sluice.aws("kinesis", "get-records", "--shard-iterator", it)
    assert [base64.b64decode(r["Data"]) for r in got["Records"]] == [b"hello lab"]
    assert got["Records"][0]["SequenceNumber"] == put["SequenceNumber"]
    names = sluice.aws("kinesis", "list-streams")["StreamNames"]
    assert name in names
    sluice.aws("kinesis", "delete-stream", "--stream-name", name)
    with pytest.raises(AwsCliError) as e:
        for _ in range(100):
            sluice.aws("kinesis", "describe-stream-summary", "--stream-name", name)
            time.sleep(0.1)
    assert "ResourceNotFoundException" in e.value.stderr


# ---- control plane ----

def test_on_demand_and_provisioned_shards_split_the_hash_space_evenly(kinesis, unique):
    for mode, count, kwargs in [("ON_DEMAND", 4, {"StreamModeDetails": {"StreamMode": "ON_DEMAND"}}),
                                ("PROVISIONED", 3, {"ShardCount": 3})]:
        name = f"split-{mode.lower()}-{unique}"
        kinesis.create_stream(StreamName=name, **kwargs)
        wait_active(kinesis, name)
        shards = kinesis.list_shards(StreamName=name)["Shards"]
        assert [s["ShardId"] for s in shards] == [f"shardId-{i:012d}" for i in range(count)]
        expected_start = 0
        for i, s in enumerate(shards):
            start = int(s["HashKeyRange"]["StartingHashKey"])
            end = int(s["HashKeyRange"]["EndingHashKey"])
            assert start == expected_start
            assert start == (i * TWO_128) // count
            expected_start = end + 1
            assert "StartingSequenceNumber" in s["SequenceNumberRange"]
        assert expected_start == TWO_128
        kinesis.delete_stream(StreamName=name)


def test_new_stream_is_creating_then_active(kinesis, unique):
    name = f"lifecycle-{unique}"
    kinesis.create_stream(StreamName=name, ShardCount=1)
    first = kinesis.describe_stream(StreamName=name)["StreamDescription"]["StreamStatus"]
    assert first == "CREATING"
    with pytest.raises(ClientError) as e:
        kinesis.put_record(StreamName=name, Data=b"x", PartitionKey="k")
    assert error_code(e) == "ResourceNotFoundException"
    waiter = kinesis.get_waiter("stream_exists")
    waiter.wait(StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    assert kinesis.describe_stream(StreamName=name)["StreamDescription"]["StreamStatus"] == "ACTIVE"


def test_describe_stream_pages_shards(kinesis, unique):
    name = f"pages-{unique}"
    kinesis.create_stream(StreamName=name, ShardCount=5)
    wait_active(kinesis, name)
    d = kinesis.describe_stream(StreamName=name, Limit=2)["StreamDescription"]
    assert [s["ShardId"] for s in d["Shards"]] == ["shardId-000000000000", "shardId-000000000001"]
    assert d["HasMoreShards"] is True
    d2 = kinesis.describe_stream(StreamName=name, Limit=10,
                                 ExclusiveStartShardId="shardId-000000000001")["StreamDescription"]
    assert len(d2["Shards"]) == 3 and d2["HasMoreShards"] is False
    assert d["RetentionPeriodHours"] == 24
    assert isinstance(d["StreamCreationTimestamp"], datetime.datetime)


def test_list_shards_paging_and_filter(kinesis, unique):
    name = f"ls-{unique}"
    kinesis.create_stream(StreamName=name, ShardCount=3)
    wait_active(kinesis, name)
    out = kinesis.list_shards(StreamName=name, MaxResults=1)
    seen = [s["ShardId"] for s in out["Shards"]]
    while "NextToken" in out:
        out = kinesis.list_shards(NextToken=out["NextToken"], MaxResults=1)
        seen += [s["ShardId"] for s in out["Shards"]]
    assert seen == [f"shardId-{i:012d}" for i in range(3)]
    after = kinesis.list_shards(StreamName=name, ShardFilter={
        "Type": "AFTER_SHARD_ID", "ShardId": "shardId-000000000000"})["Shards"]
    assert [s["ShardId"] for s in after] == ["shardId-000000000001", "shardId-000000000002"]
    with pytest.raises(ClientError) as e:
        kinesis.list_shards(StreamName=name, NextToken=out.get("NextToken", "x" * 20))
    assert error_code(e) == "InvalidArgumentException"
    with pytest.raises(ClientError) as e:
        kinesis.list_shards(NextToken="bm90LWEtdG9rZW4")
    assert error_code(e) == "InvalidArgumentException"


def test_list_streams_pages_with_summaries(kinesis, unique):
    names = [f"lst-{unique}-{i}" for i in range(5)]
    for n in names:
        kinesis.create_stream(StreamName=n, ShardCount=1)
    seen = []
    out = kinesis.list_streams(Limit=2)
    seen += out["StreamNames"]
    if "StreamSummaries" in out:  # older botocore models drop the member
        assert len(out["StreamSummaries"]) == len(out["StreamNames"])
    while out["HasMoreStreams"]:
        if "NextToken" in out:
            out = kinesis.list_streams(Limit=2, NextToken=out["NextToken"])
        else:  # older botocore models drop NextToken; page by name instead
            out = kinesis.list_streams(Limit=2, ExclusiveStartStreamName=seen[-1])
        seen += out["StreamNames"]
    assert seen == sorted(seen)
    assert set(names) <= set(seen)
    after = kinesis.list_streams(ExclusiveStartStreamName=names[2])["StreamNames"]
    assert names[2] not in after and names[3] in after
    for n in names:
        kinesis.delete_stream(StreamName=n)


def test_create_errors(raw_kinesis, stream, unique):
    kinesis = raw_kinesis
    with pytest.raises(ClientError) as e:
        kinesis.create_stream(StreamName=stream, ShardCount=1)
    assert error_code(e) == "ResourceInUseException"
    with pytest.raises(ClientError) as e:
        kinesis.create_stream(StreamName="bad name!", ShardCount=1)
    assert error_code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        kinesis.create_stream(StreamName="x" * 129, ShardCount=1)
    assert error_code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        kinesis.create_stream(StreamName=f"zero-{unique}", ShardCount=0)
    assert error_code(e) == "ValidationException"
    # An absurd shard count is a quota error, answered at once, never an allocation.
    start = time.time()
    with pytest.raises(ClientError) as e:
        kinesis.create_stream(StreamName=f"huge-{unique}", ShardCount=2_000_000_000)
    assert error_code(e) == "LimitExceededException"
    assert "shard limit" in e.value.response["Error"]["Message"]
    assert time.time() - start < 5
    with pytest.raises(ClientError) as e:
        kinesis.describe_stream(StreamName=f"huge-{unique}")
    assert error_code(e) == "ResourceNotFoundException"


def test_describe_limits_counts_open_shards(kinesis, stream):
    limits = kinesis.describe_limits()
    assert limits["ShardLimit"] == 500
    assert limits["OpenShardCount"] >= 4
    assert limits["OnDemandStreamCountLimit"] == 50


def test_unknown_stream_is_resource_not_found(kinesis):
    for call in (lambda: kinesis.describe_stream(StreamName="nope-nope"),
                 lambda: kinesis.put_record(StreamName="nope-nope", Data=b"x", PartitionKey="k"),
                 lambda: kinesis.put_records(StreamName="nope-nope",
                                             Records=[{"Data": b"x", "PartitionKey": "k"}]),
                 lambda: kinesis.delete_stream(StreamName="nope-nope")):
        with pytest.raises(ClientError) as e:
            call()
        assert error_code(e) == "ResourceNotFoundException"
        assert "nope-nope" in e.value.response["Error"]["Message"]


def test_retention_bounds(kinesis, stream):
    kinesis.increase_stream_retention_period(StreamName=stream, RetentionPeriodHours=48)
    assert kinesis.describe_stream_summary(StreamName=stream)[
        "StreamDescriptionSummary"]["RetentionPeriodHours"] == 48
    for hours, call in [(24, kinesis.increase_stream_retention_period),
                        (8761, kinesis.increase_stream_retention_period),
                        (72, kinesis.decrease_stream_retention_period),
                        (23, kinesis.decrease_stream_retention_period)]:
        with pytest.raises(ClientError) as e:
            call(StreamName=stream, RetentionPeriodHours=hours)
        assert error_code(e) == "InvalidArgumentException", hours
    kinesis.increase_stream_retention_period(StreamName=stream, RetentionPeriodHours=8760)
    kinesis.decrease_stream_retention_period(StreamName=stream, RetentionPeriodHours=24)
    assert kinesis.describe_stream_summary(StreamName=stream)[
        "StreamDescriptionSummary"]["RetentionPeriodHours"] == 24


def test_tags(kinesis, stream):
    kinesis.add_tags_to_stream(StreamName=stream, Tags={"team": "data", "env": "dev"})
    tags = kinesis.list_tags_for_stream(StreamName=stream)
    assert tags["Tags"] == [{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "data"}]
    assert tags["HasMoreTags"] is False
    page = kinesis.list_tags_for_stream(StreamName=stream, Limit=1)
    assert page["HasMoreTags"] is True and len(page["Tags"]) == 1
    kinesis.remove_tags_from_stream(StreamName=stream, TagKeys=["env"])
    assert kinesis.list_tags_for_stream(StreamName=stream)["Tags"] == [
        {"Key": "team", "Value": "data"}]
    with pytest.raises(ClientError) as e:
        kinesis.add_tags_to_stream(StreamName=stream,
                                   Tags={f"k{i}": "v" for i in range(50)})
    assert error_code(e) in ("LimitExceededException", "ValidationException")


def test_tag_resource_by_arn(sluice, kinesis, stream):
    arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
    if "tag_resource" not in dir(kinesis):
        pytest.skip("this botocore has no TagResource")
    kinesis.tag_resource(ResourceARN=arn, Tags={"a": "1"})
    assert {"Key": "a", "Value": "1"} in kinesis.list_tags_for_resource(ResourceARN=arn)["Tags"]
    kinesis.untag_resource(ResourceARN=arn, TagKeys=["a"])
    assert kinesis.list_tags_for_resource(ResourceARN=arn)["Tags"] == []


def test_concurrent_mode_updates_let_exactly_one_through(sluice, stream):
    clients = [sluice.client("kinesis") for _ in range(4)]
    arn = clients[0].describe_stream_summary(StreamName=stream)[
        "StreamDescriptionSummary"]["StreamARN"]
    for mode in ("ON_DEMAND", "PROVISIONED", "ON_DEMAND"):
        go = threading.Barrier(len(clients))
        outcomes = []

        def update(client):
            go.wait()
            try:
                client.update_stream_mode(StreamARN=arn, StreamModeDetails={"StreamMode": mode})
                outcomes.append("ok")
            except ClientError as e:
                outcomes.append(e.response["Error"]["Code"])

        threads = [threading.Thread(target=update, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert outcomes.count("ok") == 1, outcomes
        assert set(outcomes) <= {"ok", "ResourceInUseException", "InvalidArgumentException"}
        d = clients[0].describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
        assert d["StreamModeDetails"]["StreamMode"] == mode
        wait_active(clients[0], stream)


def test_update_mode_and_encryption(kinesis, stream):
    arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
    kinesis.update_stream_mode(StreamARN=arn, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    d = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    assert d["StreamStatus"] == "UPDATING"
    assert d["StreamModeDetails"]["StreamMode"] == "ON_DEMAND"
    with pytest.raises(ClientError) as e:
        kinesis.start_stream_encryption(StreamName=stream, EncryptionType="KMS",
                                        KeyId="alias/aws/kinesis")
    assert error_code(e) == "ResourceInUseException"
    wait_active(kinesis, stream)
    kinesis.start_stream_encryption(StreamName=stream, EncryptionType="KMS",
                                    KeyId="alias/aws/kinesis")
    wait_active(kinesis, stream)
    d = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    assert d["EncryptionType"] == "KMS" and d["KeyId"] == "alias/aws/kinesis"
    put = kinesis.put_record(StreamName=stream, Data=b"x", PartitionKey="k")
    assert put["EncryptionType"] == "KMS"
    kinesis.stop_stream_encryption(StreamName=stream, EncryptionType="KMS",
                                   KeyId="alias/aws/kinesis")
    wait_active(kinesis, stream)
    assert kinesis.describe_stream_summary(StreamName=stream)[
        "StreamDescriptionSummary"]["EncryptionType"] == "NONE"


# ---- data plane ----

def shard_of(shards, hash_key):
    for s in shards:
        if int(s["HashKeyRange"]["StartingHashKey"]) <= hash_key <= int(
                s["HashKeyRange"]["EndingHashKey"]):
            return s["ShardId"]
    raise AssertionError("no shard")


def test_put_records_routes_by_md5_and_sequences_increase(kinesis, stream):
    shards = kinesis.list_shards(StreamName=stream)["Shards"]
    records = [{"Data": os.urandom(100), "PartitionKey": f"device-{i:05d}"} for i in range(500)]
    out = kinesis.put_records(StreamName=stream, Records=records)
    assert out["FailedRecordCount"] == 0
    assert len(out["Records"]) == 500
    last = {}
    for rec, res in zip(records, out["Records"]):
        h = int.from_bytes(hashlib.md5(rec["PartitionKey"].encode()).digest(), "big")
        assert res["ShardId"] == shard_of(shards, h)
        seq = int(res["SequenceNumber"])
        assert seq > last.get(res["ShardId"], -1)
        last[res["ShardId"]] = seq
    # Every record comes back once, in order, with its bytes and key.
    by_shard = {}
    for rec, res in zip(records, out["Records"]):
        by_shard.setdefault(res["ShardId"], []).append((res["SequenceNumber"], rec))
    for shard_id, expected in by_shard.items():
        got = read_all(kinesis, stream, shard_id)
        assert [(r["SequenceNumber"], r["Data"], r["PartitionKey"]) for r in got] == [
            (seq, rec["Data"], rec["PartitionKey"]) for seq, rec in expected]
        for r in got:
            assert isinstance(r["ApproximateArrivalTimestamp"], datetime.datetime)


def test_explicit_hash_key_is_honoured(kinesis, stream):
    shards = kinesis.list_shards(StreamName=stream)["Shards"]
    for s in shards:
        key = s["HashKeyRange"]["EndingHashKey"]
        out = kinesis.put_record(StreamName=stream, Data=b"e", PartitionKey="same",
                                 ExplicitHashKey=key)
        assert out["ShardId"] == s["ShardId"]
    with pytest.raises(ClientError) as e:
        kinesis.put_record(StreamName=stream, Data=b"e", PartitionKey="k",
                           ExplicitHashKey=str(TWO_128))
    assert error_code(e) == "InvalidArgumentException"
    with pytest.raises(ClientError) as e:
        kinesis.put_record(StreamName=stream, Data=b"e", PartitionKey="k", ExplicitHashKey="-1")
    assert error_code(e) == "ValidationException"


def test_iterator_types(kinesis, stream):
    shard = "shardId-000000000000"
    key = "0"  # explicit hash 0 always lands in shard 0
    seqs = []
    for i in range(5):
        seqs.append(kinesis.put_record(StreamName=stream, Data=f"r{i}".encode(),
                                       PartitionKey="k", ExplicitHashKey=key)["SequenceNumber"])
    data = lambda recs: [r["Data"] for r in recs]
    assert data(read_all(kinesis, stream, shard)) == [b"r0", b"r1", b"r2", b"r3", b"r4"]
    assert data(read_all(kinesis, stream, shard, "AT_SEQUENCE_NUMBER",
                         StartingSequenceNumber=seqs[2])) == [b"r2", b"r3", b"r4"]
    assert data(read_all(kinesis, stream, shard, "AFTER_SEQUENCE_NUMBER",
                         StartingSequenceNumber=seqs[2])) == [b"r3", b"r4"]
    latest = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard,
                                        ShardIteratorType="LATEST")["ShardIterator"]
    # Timestamps travel as whole epoch seconds, so leave a second on each side.
    time.sleep(1.05)
    cut = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    cut += datetime.timedelta(seconds=1)
    time.sleep((cut - datetime.datetime.now(datetime.timezone.utc)).total_seconds() + 0.05)
    kinesis.put_record(StreamName=stream, Data=b"after", PartitionKey="k", ExplicitHashKey=key)
    assert data(kinesis.get_records(ShardIterator=latest)["Records"]) == [b"after"]
    assert data(read_all(kinesis, stream, shard, "AT_TIMESTAMP", Timestamp=cut)) == [b"after"]
    # Limit and the next iterator walk the shard in steps.
    it = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard,
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    first = kinesis.get_records(ShardIterator=it, Limit=2)
    assert data(first["Records"]) == [b"r0", b"r1"]
    assert first["MillisBehindLatest"] >= 0
    second = kinesis.get_records(ShardIterator=first["NextShardIterator"], Limit=2)
    assert data(second["Records"]) == [b"r2", b"r3"]
    # A sequence number of another shard is refused.
    with pytest.raises(ClientError) as e:
        kinesis.get_shard_iterator(StreamName=stream, ShardId="shardId-000000000001",
                                   ShardIteratorType="AT_SEQUENCE_NUMBER",
                                   StartingSequenceNumber=seqs[0])
    assert error_code(e) == "InvalidArgumentException"
    with pytest.raises(ClientError) as e:
        kinesis.get_shard_iterator(StreamName=stream, ShardId="shardId-000000000009",
                                   ShardIteratorType="TRIM_HORIZON")
    assert error_code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        kinesis.get_shard_iterator(StreamName=stream, ShardId=shard,
                                   ShardIteratorType="AT_SEQUENCE_NUMBER")
    assert error_code(e) == "InvalidArgumentException"


def seqno_fields(seq):
    """AWS's layout of a sequence number (version 2), as numbers AWS hands out decode: the
    hex digits of the 188-bit number."""
    h = format(int(seq), "x")
    assert len(seq) == 56 and len(h) == 47 and h[0] == "2" and h[46] == "2"
    return {"epoch": int(h[1:10], 16), "shard_low": int(h[10], 16),
            "counter": int(h[11:27], 16), "time": int(h[29:38], 16),
            "shard": int(h[38:46], 16)}


def test_sequence_numbers_have_aws_structure(kinesis, stream):
    shard = "shardId-000000000001"
    desc = kinesis.describe_stream(StreamName=stream)["StreamDescription"]
    created = desc["StreamCreationTimestamp"].timestamp()
    start = next(s for s in desc["Shards"] if s["ShardId"] == shard)[
        "SequenceNumberRange"]["StartingSequenceNumber"]
    f = seqno_fields(start)
    assert f == {"epoch": int(created), "shard_low": 1, "counter": 0, "time": int(created),
                 "shard": 1}
    # Before the shard has a record its starting number is a position: AT and AFTER it
    # both read from the first record on.
    at_start = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard,
                                          ShardIteratorType="AT_SEQUENCE_NUMBER",
                                          StartingSequenceNumber=start)["ShardIterator"]
    after_start = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard,
                                             ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                                             StartingSequenceNumber=start)["ShardIterator"]
    key = str(TWO_128 // 4 + 1)  # shard 1 of 4
    put = [kinesis.put_record(StreamName=stream, Data=f"q{i}".encode(), PartitionKey="k",
                              ExplicitHashKey=key) for i in range(3)]
    assert {p["ShardId"] for p in put} == {shard}
    got = kinesis.get_records(ShardIterator=at_start)["Records"]
    assert [r["Data"] for r in got] == [b"q0", b"q1", b"q2"]
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=after_start)["Records"]] == [
        b"q0", b"q1", b"q2"]
    # Each record's number: the shard's, a counter that grows by one, its arrival second;
    # the same number PutRecord gave, and above the shard's start.
    assert [r["SequenceNumber"] for r in got] == [p["SequenceNumber"] for p in put]
    assert int(start) < int(got[0]["SequenceNumber"])
    for i, r in enumerate(got):
        f = seqno_fields(r["SequenceNumber"])
        assert (f["epoch"], f["shard"], f["shard_low"]) == (int(created), 1, 1)
        assert f["counter"] == i + 1
        assert f["time"] == int(r["ApproximateArrivalTimestamp"].timestamp())
    # Another shard's numbers are not this shard's; the message is AWS's.
    other = kinesis.list_shards(StreamName=stream)["Shards"][0]["SequenceNumberRange"][
        "StartingSequenceNumber"]
    with pytest.raises(ClientError) as e:
        kinesis.get_shard_iterator(StreamName=stream, ShardId=shard,
                                   ShardIteratorType="AT_SEQUENCE_NUMBER",
                                   StartingSequenceNumber=other)
    assert error_code(e) == "InvalidArgumentException"
    assert e.value.response["Error"]["Message"].startswith(
        f"Invalid StartingSequenceNumber. It encodes {other}, while it was used in a call to a "
        f"shard with {shard} in stream {stream} under account ")
    # Nor is one past the shard's last record.
    past = str(int(got[-1]["SequenceNumber"]) + 2 ** 80)  # the counter one higher
    assert seqno_fields(past)["counter"] == 4
    with pytest.raises(ClientError) as e:
        kinesis.get_shard_iterator(StreamName=stream, ShardId=shard,
                                   ShardIteratorType="AT_SEQUENCE_NUMBER",
                                   StartingSequenceNumber=past)
    assert error_code(e) == "InvalidArgumentException"


def test_stream_arn_accepted_wherever_name_is(kinesis, stream):
    arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
    if "StreamARN" not in kinesis.meta.service_model.operation_model("PutRecords").input_shape.members:
        pytest.skip("this botocore predates StreamARN parameters")
    out = kinesis.put_records(StreamARN=arn, Records=[{"Data": b"a", "PartitionKey": "p"}])
    shard = out["Records"][0]["ShardId"]
    it = kinesis.get_shard_iterator(StreamARN=arn, ShardId=shard,
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    assert kinesis.get_records(ShardIterator=it, StreamARN=arn)["Records"][0]["Data"] == b"a"
    assert kinesis.describe_stream_summary(StreamARN=arn)[
        "StreamDescriptionSummary"]["StreamName"] == stream


def test_record_and_key_limits(raw_kinesis, stream):
    kinesis = raw_kinesis
    big = os.urandom(1024 * 1024 - 10)
    out = kinesis.put_record(StreamName=stream, Data=big, PartitionKey="k" * 10)
    it = kinesis.get_shard_iterator(StreamName=stream, ShardId=out["ShardId"],
                                    ShardIteratorType="AT_SEQUENCE_NUMBER",
                                    StartingSequenceNumber=out["SequenceNumber"])["ShardIterator"]
    assert kinesis.get_records(ShardIterator=it, Limit=1)["Records"][0]["Data"] == big
    for data, key in [(os.urandom(1024 * 1024 + 1), "k"), (b"x", ""), (b"x", "k" * 257)]:
        with pytest.raises(ClientError) as e:
            kinesis.put_record(StreamName=stream, Data=data, PartitionKey=key)
        assert error_code(e) == "ValidationException"
    # Unicode keys count characters, and come back exactly.
    key = "ключ-🔑" * 36  # 252 characters, more than 256 bytes
    out = kinesis.put_record(StreamName=stream, Data=b"u", PartitionKey=key)
    got = read_all(kinesis, stream, out["ShardId"], "AT_SEQUENCE_NUMBER",
                   StartingSequenceNumber=out["SequenceNumber"])
    assert got[0]["PartitionKey"] == key


def test_put_records_batch_limits(raw_kinesis, stream):
    kinesis = raw_kinesis
    with pytest.raises(ClientError) as e:
        kinesis.put_records(StreamName=stream,
                            Records=[{"Data": b"x", "PartitionKey": "k"}] * 501)
    assert error_code(e) == "ValidationException"
    six_mib = [{"Data": os.urandom(1000 * 1000), "PartitionKey": "k"}] * 6
    with pytest.raises(ClientError) as e:
        kinesis.put_records(StreamName=stream, Records=six_mib)
    assert error_code(e) == "InvalidArgumentException"
    with pytest.raises(ClientError) as e:
        kinesis.get_records(ShardIterator="x" * 40, Limit=10001)
    assert error_code(e) == "ValidationException"


def test_forged_iterator_is_refused(kinesis, stream):
    it = kinesis.get_shard_iterator(StreamName=stream, ShardId="shardId-000000000000",
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    tampered = it[:10] + ("A" if it[10] != "A" else "B") + it[11:]
    with pytest.raises(ClientError) as e:
        kinesis.get_records(ShardIterator=tampered)
    assert error_code(e) == "InvalidArgumentException"


def test_iterator_of_a_deleted_stream(kinesis, unique):
    name = f"gone-{unique}"
    kinesis.create_stream(StreamName=name, ShardCount=1)
    wait_active(kinesis, name)
    it = kinesis.get_shard_iterator(StreamName=name, ShardId="shardId-000000000000",
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
    with pytest.raises(ClientError) as e:
        kinesis.get_records(ShardIterator=it)
    assert error_code(e) == "ResourceNotFoundException"


def test_concurrent_create_and_delete_of_one_stream(kinesis, unique):
    name = f"race-{unique}"
    results = []

    def worker(i):
        for _ in range(10):
            try:
                if i % 2:
                    kinesis.create_stream(StreamName=name, ShardCount=1)
                else:
                    kinesis.delete_stream(StreamName=name)
                results.append("ok")
            except ClientError as e:
                results.append(e.response["Error"]["Code"])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results) <= {"ok", "ResourceInUseException", "ResourceNotFoundException"}
    assert "ok" in results
    # The server is whole: the stream either exists in one piece or not at all.
    try:
        d = kinesis.describe_stream(StreamName=name)["StreamDescription"]
        assert len(d["Shards"]) == 1
    except ClientError as e:
        assert e.response["Error"]["Code"] == "ResourceNotFoundException"


# ---- a NUL inside a name is part of the name, not its end ----

def _raw_call(sluice, target, body):
    """Sends body (a dict, serialized as is) signed with SigV4; returns (status, json)."""
    import json
    import requests
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    data = json.dumps(body)
    headers = {"Content-Type": "application/x-amz-json-1.1",
               "X-Amz-Target": "Kinesis_20131202." + target}
    req = AWSRequest(method="POST", url=sluice.endpoint + "/", data=data, headers=headers)
    SigV4Auth(Credentials(sluice.access_key, sluice.secret_key), "kinesis",
              sluice.region).add_auth(req)
    resp = requests.post(sluice.endpoint + "/", data=data, headers=dict(req.headers.items()))
    return resp.status_code, resp.json() if resp.content else {}


def test_nul_in_names_and_ids_is_a_validation_error(sluice, kinesis, stream):
    assert "\\u0000" in __import__("json").dumps(stream + "\x00x")
    arn = kinesis.describe_stream_summary(StreamName=stream)[
        "StreamDescriptionSummary"]["StreamARN"]
    shard0 = "shardId-000000000000"
    data = base64.b64encode(b"x").decode()
    cases = [
        ("DescribeStreamSummary", {"StreamName": stream + "\x00x"}),
        ("DescribeStreamSummary", {"StreamARN": arn + "\x00x"}),
        ("DescribeStream", {"StreamName": stream, "ExclusiveStartShardId": shard0 + "\x00"}),
        ("ListShards", {"StreamName": stream + "\x00"}),
        ("ListShards", {"StreamName": stream, "ExclusiveStartShardId": shard0 + "\x00x"}),
        ("ListStreams", {"ExclusiveStartStreamName": stream + "\x00"}),
        ("GetShardIterator", {"StreamName": stream, "ShardId": shard0 + "\x00x",
                              "ShardIteratorType": "TRIM_HORIZON"}),
        ("PutRecord", {"StreamName": stream + "\x00x", "Data": data, "PartitionKey": "k"}),
        ("PutRecords", {"StreamName": stream + "\x00x",
                        "Records": [{"Data": data, "PartitionKey": "k"}]}),
        ("PutRecords", {"StreamARN": arn + "\x00x",
                        "Records": [{"Data": data, "PartitionKey": "k"}]}),
        ("AddTagsToStream", {"StreamName": stream, "Tags": {"team": "a\x00x"}}),
        ("RemoveTagsFromStream", {"StreamName": stream, "TagKeys": ["team\x00x"]}),
        ("ListTagsForStream", {"StreamName": stream, "ExclusiveStartTagKey": "a\x00"}),
        ("DeleteStream", {"StreamName": stream + "\x00x"}),
    ]
    for target, body in cases:
        status, out = _raw_call(sluice, target, body)
        assert status == 400, (target, body, status, out)
        assert out["__type"].endswith("ValidationException"), (target, body, out)
        assert "failed to satisfy constraint" in out["message"], (target, out)
    # A NUL in a map key is refused by the JSON reader itself, before any tag is read.
    status, out = _raw_call(sluice, "AddTagsToStream",
                            {"StreamName": stream, "Tags": {"team\x00x": "a"}})
    assert status == 400, out
    # Names matched against a pattern say so, as AWS does.
    status, out = _raw_call(sluice, "DescribeStreamSummary", {"StreamName": stream + "\x00x"})
    assert "regular expression pattern: [a-zA-Z0-9_.-]+" in out["message"]
    # Nothing was changed along the way, and the stream is still there.
    assert kinesis.list_tags_for_stream(StreamName=stream)["Tags"] == []
    assert kinesis.describe_stream_summary(StreamName=stream)[
        "StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE"
