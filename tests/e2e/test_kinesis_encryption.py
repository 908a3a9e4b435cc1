"""Encryption at rest of Kinesis records (StartStreamEncryption with a KMS key)."""
import os
import time
import uuid

import pytest
from botocore.exceptions import ClientError, EventStreamError

# Bulk reads and writes: encryption, not the throughput limits, is under test here.
SLUICE_EXTRA_ARGS = ["--throughput-limits", "off"]


def error_code(e):
    return e.value.response["Error"]["Code"]


def wait_active(kinesis, name, deadline_s=60):
    deadline = time.time() + deadline_s
    while time.time() < deadline:
        d = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        if d["StreamStatus"] == "ACTIVE":
            return d
        time.sleep(0.2)
    raise AssertionError(f"{name} did not become ACTIVE")


def create_active(kinesis, name, shards=2):
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    return wait_active(kinesis, name)


def read_all(kinesis, name):
    out = []
    for sh in kinesis.list_shards(StreamName=name)["Shards"]:
        it = kinesis.get_shard_iterator(StreamName=name, ShardId=sh["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while True:
            r = kinesis.get_records(ShardIterator=it, Limit=10000)
            out += r["Records"]
            it = r["NextShardIterator"]
            if not r["Records"]:
                break
    return sorted(out, key=lambda r: (r["PartitionKey"], int(r["SequenceNumber"])))


def files_containing(root, needle):
    """Every file under root whose bytes contain needle."""
    hits = []
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            try:
                with open(p, "rb") as f:
                    if needle in f.read():
                        hits.append(p)
            except OSError:
                pass
    return hits


def start_encryption(kinesis, name, key):
    kinesis.start_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId=key)
    assert kinesis.describe_stream_summary(StreamName=name)[
        "StreamDescriptionSummary"]["StreamStatus"] == "UPDATING"
    return wait_active(kinesis, name)


def test_encrypted_records_never_reach_the_disk_in_the_clear(fresh_sluice):
    fresh_sluice.start()
    kinesis, kms = fresh_sluice.client("kinesis"), fresh_sluice.client("kms")
    create_active(kinesis, "sec")
    key = kms.create_key()["KeyMetadata"]
    clear = b"CLEAR-" + uuid.uuid4().hex.encode()
    kinesis.put_record(StreamName="sec", Data=clear, PartitionKey="before")
    d = start_encryption(kinesis, "sec", key["Arn"])
    assert d["EncryptionType"] == "KMS" and d["KeyId"] == key["Arn"]
    assert kinesis.describe_stream(StreamName="sec")["StreamDescription"]["KeyId"] == key["Arn"]

    secret = b"SECRET-" + uuid.uuid4().hex.encode()
    pk_secret = "PKSECRET-" + uuid.uuid4().hex
    put = kinesis.put_record(StreamName="sec", Data=secret + b"-one", PartitionKey=pk_secret)
    assert put["EncryptionType"] == "KMS"
    batch = kinesis.put_records(StreamName="sec", Records=[
        {"Data": secret + b"-%d" % i, "PartitionKey": f"{pk_secret}-{i}"} for i in range(200)])
    assert batch["FailedRecordCount"] == 0 and batch["EncryptionType"] == "KMS"

    streams_dir = os.path.join(fresh_sluice.data_dir, "streams")
    assert files_containing(streams_dir, clear)  # the search does find what is there
    assert files_containing(fresh_sluice.data_dir, secret) == []
    assert files_containing(fresh_sluice.data_dir, pk_secret.encode()) == []

    before = read_all(kinesis, "sec")
    assert len(before) == 202
    by_pk = {r["PartitionKey"]: r for r in before}
    assert by_pk["before"]["Data"] == clear and "EncryptionType" not in by_pk["before"]
    assert by_pk[pk_secret]["Data"] == secret + b"-one"
    assert by_pk[pk_secret]["EncryptionType"] == "KMS"
    assert all(by_pk[f"{pk_secret}-{i}"]["Data"] == secret + b"-%d" % i for i in range(200))

    fresh_sluice.restart()
    kinesis = fresh_sluice.client("kinesis")
    assert read_all(kinesis, "sec") == before
    # After a restart new records are sealed under a new data key and still read.
    more = kinesis.put_records(StreamName="sec", Records=[
        {"Data": secret + b"-after-%d" % i, "PartitionKey": f"after-{i}"} for i in range(50)])
    assert more["FailedRecordCount"] == 0

    fresh_sluice.kill9()
    fresh_sluice.start()
    kinesis = fresh_sluice.client("kinesis")
    after = read_all(kinesis, "sec")
    assert len(after) == 252
    assert [r for r in after if not r["PartitionKey"].startswith("after-")] == before
    assert all(r["EncryptionType"] == "KMS" for r in after if r["PartitionKey"].startswith("after-"))
    assert files_containing(fresh_sluice.data_dir, secret) == []


def test_key_forms_and_missing_keys(fresh_sluice):
    fresh_sluice.start()
    kinesis, kms = fresh_sluice.client("kinesis"), fresh_sluice.client("kms")
    create_active(kinesis, "forms", shards=1)
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/streams", TargetKeyId=key["KeyId"])
    alias_arn = f"arn:aws:kms:{fresh_sluice.region}:000000000000:alias/streams"
    for form in [key["KeyId"], key["Arn"], "alias/streams", alias_arn, "alias/aws/kinesis"]:
        start_encryption(kinesis, "forms", form)
        put = kinesis.put_record(StreamName="forms", Data=form.encode(), PartitionKey="k")
        assert put["EncryptionType"] == "KMS"
    recs = read_all(kinesis, "forms")
    assert [r["Data"].decode() for r in recs] == [
        key["KeyId"], key["Arn"], "alias/streams", alias_arn, "alias/aws/kinesis"]
    assert all(r["EncryptionType"] == "KMS" for r in recs)
    # The AWS managed key was made on first use.
    aliases = [a["AliasName"] for a in kms.list_aliases()["Aliases"]]
    assert "alias/aws/kinesis" in aliases
    for missing in [str(uuid.uuid4()), "alias/nothing-here"]:
        with pytest.raises(ClientError) as e:
            kinesis.start_stream_encryption(StreamName="forms", EncryptionType="KMS",
                                            KeyId=missing)
        assert error_code(e) == "KMSNotFoundException"

    kinesis.stop_stream_encryption(StreamName="forms", EncryptionType="KMS",
                                   KeyId="alias/aws/kinesis")
    wait_active(kinesis, "forms")
    put = kinesis.put_record(StreamName="forms", Data=b"plain again", PartitionKey="k")
    assert put["EncryptionType"] == "NONE"
    last = read_all(kinesis, "forms")[-1]
    assert last["Data"] == b"plain again" and "EncryptionType" not in last


def test_disabled_or_deleted_key_refuses_writes_and_reads(fresh_sluice):
    fresh_sluice.start()
    kinesis, kms = fresh_sluice.client("kinesis"), fresh_sluice.client("kms")
    create_active(kinesis, "locked", shards=1)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    start_encryption(kinesis, "locked", key)
    kinesis.put_record(StreamName="locked", Data=b"one", PartitionKey="k")
    it = kinesis.get_shard_iterator(StreamName="locked", ShardId="shardId-000000000000",
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]

    kms.disable_key(KeyId=key)
    with pytest.raises(ClientError) as e:
        kinesis.put_record(StreamName="locked", Data=b"two", PartitionKey="k")
    assert error_code(e) == "KMSDisabledException"
    with pytest.raises(ClientError) as e:
        kinesis.put_records(StreamName="locked", Records=[{"Data": b"two", "PartitionKey": "k"}])
    assert error_code(e) == "KMSDisabledException"
    with pytest.raises(ClientError) as e:
        kinesis.get_records(ShardIterator=it)
    assert error_code(e) == "KMSDisabledException"

    kms.enable_key(KeyId=key)
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=it)["Records"]] == [b"one"]

    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    with pytest.raises(ClientError) as e:
        kinesis.put_record(StreamName="locked", Data=b"two", PartitionKey="k")
    assert error_code(e) == "KMSInvalidStateException"
    with pytest.raises(ClientError) as e:
        kinesis.get_records(ShardIterator=it)
    assert error_code(e) == "KMSInvalidStateException"
    with pytest.raises(ClientError) as e:
        kinesis.start_stream_encryption(StreamName="locked", EncryptionType="KMS", KeyId=key)
    assert error_code(e) == "KMSInvalidStateException"

    kms.cancel_key_deletion(KeyId=key)
    kms.enable_key(KeyId=key)
    kinesis.put_record(StreamName="locked", Data=b"two", PartitionKey="k")
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=it)["Records"]] == [b"one",
                                                                                     b"two"]


def test_subscribe_to_shard_names_encrypted_records(fresh_sluice):
    fresh_sluice.start()
    kinesis = fresh_sluice.client("kinesis")
    arn = create_active(kinesis, "fan", shards=1)["StreamARN"]
    kinesis.put_record(StreamName="fan", Data=b"plain", PartitionKey="k")
    start_encryption(kinesis, "fan", "alias/aws/kinesis")
    kinesis.put_records(StreamName="fan", Records=[
        {"Data": b"sealed-%d" % i, "PartitionKey": "k"} for i in range(2)])
    consumer = kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="c")["Consumer"]
    deadline = time.time() + 60
    while kinesis.describe_stream_consumer(ConsumerARN=consumer["ConsumerARN"])[
            "ConsumerDescription"]["ConsumerStatus"] != "ACTIVE":
        assert time.time() < deadline
        time.sleep(0.1)
    events = kinesis.subscribe_to_shard(ConsumerARN=consumer["ConsumerARN"],
                                        ShardId="shardId-000000000000",
                                        StartingPosition={"Type": "TRIM_HORIZON"})["EventStream"]
    records = []
    for ev in events:
        records += ev["SubscribeToShardEvent"]["Records"]
        if len(records) >= 3:
            break
    events.close()
    assert [r["Data"] for r in records] == [b"plain", b"sealed-0", b"sealed-1"]
    assert "EncryptionType" not in records[0]
    assert [r["EncryptionType"] for r in records[1:]] == ["KMS", "KMS"]


def test_subscribe_to_shard_ends_with_the_kms_error_of_a_disabled_key(fresh_sluice):
    fresh_sluice.start()
    kinesis, kms = fresh_sluice.client("kinesis"), fresh_sluice.client("kms")
    arn = create_active(kinesis, "fanoff", shards=1)["StreamARN"]
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    start_encryption(kinesis, "fanoff", key)
    kinesis.put_record(StreamName="fanoff", Data=b"sealed", PartitionKey="k")
    consumer = kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="c")["Consumer"]
    deadline = time.time() + 60
    while kinesis.describe_stream_consumer(ConsumerARN=consumer["ConsumerARN"])[
            "ConsumerDescription"]["ConsumerStatus"] != "ACTIVE":
        assert time.time() < deadline
        time.sleep(0.1)
    kms.disable_key(KeyId=key)
    events = kinesis.subscribe_to_shard(ConsumerARN=consumer["ConsumerARN"],
                                        ShardId="shardId-000000000000",
                                        StartingPosition={"Type": "TRIM_HORIZON"})["EventStream"]
    with pytest.raises(EventStreamError) as e:
        for ev in events:
            assert ev["SubscribeToShardEvent"]["Records"] == []
    assert e.value.response["Error"]["Code"] == "KMSDisabledException"
