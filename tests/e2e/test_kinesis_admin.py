"""Kinesis administration end to end with boto3 and the AWS CLI: enhanced monitoring,
resource policies, stream encryption, and the rolling 24-hour limits of UpdateShardCount
and Start/StopStreamEncryption, each with its errors and its effect in DescribeStream and
DescribeStreamSummary, and kept across a restart.

The resource-policy operations are newer than Debian's boto3 1.26, so they are called
through a small signed JSON client of botocore's pieces that both generations have.
"""
import json
import time

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
import urllib.request
import urllib.error

ACCOUNT = "000000000000"
ALL_METRICS = ["IncomingBytes", "IncomingRecords", "OutgoingBytes", "OutgoingRecords",
               "WriteProvisionedThroughputExceeded", "ReadProvisionedThroughputExceeded",
               "IteratorAgeMilliseconds"]
POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Sid": "read", "Effect": "Allow",
                   "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                   "Action": ["kinesis:GetRecords", "kinesis:DescribeStreamSummary"],
                   "Resource": "*"}]})


# What these tests check is not the control-plane rates (test_kinesis_limits.py does), and
# they poll DescribeStreamSummary faster than its 20/s: their servers run without limits.
SLUICE_EXTRA_ARGS = ("--throughput-limits", "off")


@pytest.fixture(scope="module")
def sluice(sluice_unlimited):
    return sluice_unlimited


@pytest.fixture
def kin(sluice):
    return sluice.client("kinesis")


def err(excinfo):
    e = excinfo.value.response["Error"]
    return e["Code"], e.get("Message", "")


def wait_active(kin, name, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        d = kin.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        if d["StreamStatus"] == "ACTIVE":
            return d
        time.sleep(0.1)  # under DescribeStreamSummary's 20/s when the limits are on
    raise AssertionError(f"{name} did not become ACTIVE")


def make_stream(kin, name, shards=1):
    kin.create_stream(StreamName=name, ShardCount=shards)
    wait_active(kin, name)
    return f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{name}"


class RawError(Exception):
    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def raw(sluice, op, body):
    """One signed awsJson1_1 Kinesis call; the decoded answer, or RawError."""
    data = json.dumps(body).encode()
    req = AWSRequest(method="POST", url=sluice.endpoint + "/", data=data, headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": f"Kinesis_20131202.{op}"})
    SigV4Auth(Credentials(sluice.access_key, sluice.secret_key), "kinesis",
              sluice.region).add_auth(req)
    http = urllib.request.Request(req.url, data=data, headers=dict(req.headers), method="POST")
    try:
        with urllib.request.urlopen(http, timeout=30) as resp:
            text = resp.read()
            return json.loads(text) if text else {}
    except urllib.error.HTTPError as e:
        doc = json.loads(e.read() or b"{}")
        raise RawError(doc.get("__type", "").split("#")[-1], doc.get("message", ""))


def metrics_of(kin, name):
    d = kin.describe_stream(StreamName=name)["StreamDescription"]
    return d["EnhancedMonitoring"][0]["ShardLevelMetrics"]


# ---- enhanced monitoring ----

def test_enhanced_monitoring_enable_disable_and_describe(kin, unique):
    name = f"mon-{unique}"
    make_stream(kin, name)
    assert metrics_of(kin, name) == []
    r = kin.enable_enhanced_monitoring(StreamName=name, ShardLevelMetrics=["IncomingBytes"])
    assert r["StreamName"] == name
    assert r["CurrentShardLevelMetrics"] == []
    assert r["DesiredShardLevelMetrics"] == ["IncomingBytes"]
    r = kin.enable_enhanced_monitoring(StreamName=name, ShardLevelMetrics=["ALL"])
    assert r["CurrentShardLevelMetrics"] == ["IncomingBytes"]
    assert sorted(r["DesiredShardLevelMetrics"]) == sorted(ALL_METRICS)
    assert sorted(metrics_of(kin, name)) == sorted(ALL_METRICS)
    summary = kin.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert sorted(summary["EnhancedMonitoring"][0]["ShardLevelMetrics"]) == sorted(ALL_METRICS)
    r = kin.disable_enhanced_monitoring(StreamName=name,
                                        ShardLevelMetrics=["IncomingBytes", "OutgoingBytes"])
    assert sorted(r["DesiredShardLevelMetrics"]) == sorted(
        set(ALL_METRICS) - {"IncomingBytes", "OutgoingBytes"})
    r = kin.disable_enhanced_monitoring(StreamName=name, ShardLevelMetrics=["ALL"])
    assert r["DesiredShardLevelMetrics"] == []
    assert metrics_of(kin, name) == []
    # the stream stays ACTIVE: monitoring is no resharding
    assert kin.describe_stream_summary(
        StreamName=name)["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE"


def test_enhanced_monitoring_errors(sluice, kin, unique):
    name = f"monerr-{unique}"
    make_stream(kin, name)
    with pytest.raises(ClientError) as e:
        kin.enable_enhanced_monitoring(StreamName=f"absent-{unique}",
                                       ShardLevelMetrics=["ALL"])
    assert err(e) == ("ResourceNotFoundException",
                      f"Stream absent-{unique} under account {ACCOUNT} not found.")
    with pytest.raises(RawError) as e:
        raw(sluice, "EnableEnhancedMonitoring", {"StreamName": name, "ShardLevelMetrics": []})
    assert e.value.code == "ValidationException"
    assert "at 'shardLevelMetrics'" in e.value.message
    with pytest.raises(RawError) as e:
        raw(sluice, "DisableEnhancedMonitoring", {"StreamName": name})
    assert e.value.code == "ValidationException"
    kin.update_shard_count(StreamName=name, TargetShardCount=2, ScalingType="UNIFORM_SCALING")
    with pytest.raises(ClientError) as e:
        kin.enable_enhanced_monitoring(StreamName=name, ShardLevelMetrics=["ALL"])
    assert err(e)[0] == "ResourceInUseException"


def test_enhanced_monitoring_unknown_metric_is_a_validation_error(sluice, kin, unique):
    name = f"monbad-{unique}"
    make_stream(kin, name)
    with pytest.raises(RawError) as e:
        raw(sluice, "EnableEnhancedMonitoring",
            {"StreamName": name, "ShardLevelMetrics": ["Bogus"]})
    assert e.value.code == "ValidationException"
    assert "shardLevelMetrics" in e.value.message and "Bogus" in e.value.message


def test_enhanced_monitoring_with_the_cli(sluice, kin, unique):
    name = f"moncli-{unique}"
    make_stream(kin, name)
    r = sluice.aws("kinesis", "enable-enhanced-monitoring", "--stream-name", name,
                   "--shard-level-metrics", "IncomingRecords", "OutgoingRecords")
    assert sorted(r["DesiredShardLevelMetrics"]) == ["IncomingRecords", "OutgoingRecords"]
    assert sorted(metrics_of(kin, name)) == ["IncomingRecords", "OutgoingRecords"]


# ---- resource policies ----

def test_resource_policy_on_a_stream(sluice, kin, unique):
    name = f"pol-{unique}"
    arn = make_stream(kin, name)
    assert raw(sluice, "GetResourcePolicy", {"ResourceARN": arn}) == {"Policy": "{}"}
    assert raw(sluice, "PutResourcePolicy", {"ResourceARN": arn, "Policy": POLICY}) == {}
    assert raw(sluice, "GetResourcePolicy", {"ResourceARN": arn}) == {"Policy": POLICY}
    other = POLICY.replace("GetRecords", "ListShards")
    raw(sluice, "PutResourcePolicy", {"ResourceARN": arn, "Policy": other})
    assert raw(sluice, "GetResourcePolicy", {"ResourceARN": arn})["Policy"] == other
    assert raw(sluice, "DeleteResourcePolicy", {"ResourceARN": arn}) == {}
    assert raw(sluice, "GetResourcePolicy", {"ResourceARN": arn}) == {"Policy": "{}"}
    with pytest.raises(RawError) as e:
        raw(sluice, "DeleteResourcePolicy", {"ResourceARN": arn})
    assert e.value.code == "ResourceNotFoundException"


def test_resource_policy_errors(sluice, kin, unique):
    name = f"polerr-{unique}"
    arn = make_stream(kin, name)
    for bad in ["not json", "[]", json.dumps({"Version": "2012-10-17"}),
                json.dumps({"Statement": [{"Effect": "Maybe", "Action": "kinesis:*",
                                           "Principal": "*"}]}),
                json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*"}]})]:
        with pytest.raises(RawError) as e:
            raw(sluice, "PutResourcePolicy", {"ResourceARN": arn, "Policy": bad})
        assert e.value.code == "InvalidArgumentException", bad
    big = json.loads(POLICY)
    big["Statement"][0]["Sid"] = "x" * 21000
    with pytest.raises(RawError) as e:
        raw(sluice, "PutResourcePolicy", {"ResourceARN": arn, "Policy": json.dumps(big)})
    assert e.value.code == "LimitExceededException"
    with pytest.raises(RawError) as e:
        raw(sluice, "GetResourcePolicy", {"ResourceARN": "arn:aws:s3:::bucket"})
    assert e.value.code == "ValidationException"
    with pytest.raises(RawError) as e:
        raw(sluice, "PutResourcePolicy",
            {"ResourceARN": arn.replace(name, f"absent-{unique}"), "Policy": POLICY})
    assert e.value.code == "ResourceNotFoundException"
    with pytest.raises(RawError) as e:
        raw(sluice, "PutResourcePolicy", {"ResourceARN": arn})
    assert e.value.code == "ValidationException"
    assert raw(sluice, "GetResourcePolicy", {"ResourceARN": arn}) == {"Policy": "{}"}


def test_resource_policy_goes_with_its_stream_and_consumer(sluice, kin, unique):
    name = f"polgone-{unique}"
    arn = make_stream(kin, name)
    consumer = kin.register_stream_consumer(StreamARN=arn, ConsumerName="c1")
    carn = consumer["Consumer"]["ConsumerARN"]
    raw(sluice, "PutResourcePolicy", {"ResourceARN": arn, "Policy": POLICY})
    raw(sluice, "PutResourcePolicy", {"ResourceARN": carn, "Policy": POLICY})
    assert raw(sluice, "GetResourcePolicy", {"ResourceARN": carn}) == {"Policy": POLICY}
    kin.deregister_stream_consumer(ConsumerARN=carn)
    with pytest.raises(RawError) as e:
        raw(sluice, "GetResourcePolicy", {"ResourceARN": carn})
    assert e.value.code == "ResourceNotFoundException"
    # the stream's own policy is still there
    assert raw(sluice, "GetResourcePolicy", {"ResourceARN": arn}) == {"Policy": POLICY}
    kin.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
    deadline = time.time() + 20
    while True:
        try:
            kin.create_stream(StreamName=name, ShardCount=1)
            break
        except ClientError as ce:
            assert ce.response["Error"]["Code"] == "ResourceInUseException"
            assert time.time() < deadline
            time.sleep(0.1)
    wait_active(kin, name)
    assert raw(sluice, "GetResourcePolicy", {"ResourceARN": arn}) == {"Policy": "{}"}


# ---- encryption ----

def test_stream_encryption_start_and_stop(kin, unique):
    name = f"enc-{unique}"
    make_stream(kin, name)
    d = kin.describe_stream(StreamName=name)["StreamDescription"]
    assert d["EncryptionType"] == "NONE" and "KeyId" not in d
    kin.start_stream_encryption(StreamName=name, EncryptionType="KMS",
                                KeyId="alias/aws/kinesis")
    assert kin.describe_stream_summary(
        StreamName=name)["StreamDescriptionSummary"]["StreamStatus"] == "UPDATING"
    s = wait_active(kin, name)
    assert s["EncryptionType"] == "KMS" and s["KeyId"] == "alias/aws/kinesis"
    put = kin.put_record(StreamName=name, Data=b"x", PartitionKey="k")
    assert put["EncryptionType"] == "KMS"
    with pytest.raises(ClientError) as e:
        kin.start_stream_encryption(StreamName=f"absent-{unique}", EncryptionType="KMS",
                                    KeyId="alias/aws/kinesis")
    assert err(e)[0] == "ResourceNotFoundException"
    kin.stop_stream_encryption(StreamName=name, EncryptionType="KMS",
                               KeyId="alias/aws/kinesis")
    d = wait_active(kin, name)
    assert d["EncryptionType"] == "NONE" and "KeyId" not in d
    assert kin.put_record(StreamName=name, Data=b"x", PartitionKey="k")["EncryptionType"] == "NONE"


def test_stream_encryption_key_forms(sluice, kin, unique):
    name = f"enckey-{unique}"
    make_stream(kin, name)
    kms = sluice.client("kms")
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName=f"alias/my-app/{unique}", TargetKeyId=key["KeyId"])
    kms.create_alias(AliasName=f"alias/my-app-{unique}", TargetKeyId=key["KeyId"])
    good = ["alias/aws/kinesis", f"alias/my-app/{unique}", key["KeyId"], key["Arn"],
            f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/my-app-{unique}"]
    for k in good:
        kin.start_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId=k)
        assert wait_active(kin, name)["KeyId"] == k
    for k in ["not-a-key", "alias/", "alias/aws/", "1234abcd-12ab-34cd-56ef-1234567890",
              f"arn:aws:kms:us-east-1:{ACCOUNT}:key/nope", "arn:aws:kms:us-east-1:12:alias/x"]:
        with pytest.raises(ClientError) as e:
            kin.start_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId=k)
        assert err(e) == ("KMSNotFoundException", f"Invalid keyId {k}"), k
    # keys of a right form that KMS does not have
    for k in ["1234abcd-12ab-34cd-56ef-1234567890ab", "mrk-1234abcd12ab34cd56ef1234567890ab",
              f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
              f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/none-{unique}", f"alias/none-{unique}"]:
        with pytest.raises(ClientError) as e:
            kin.start_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId=k)
        assert err(e)[0] == "KMSNotFoundException", k
    # the refused ones changed nothing
    assert wait_active(kin, name)["KeyId"] == good[-1]


def test_stream_encryption_with_the_cli(sluice, kin, unique):
    name = f"enccli-{unique}"
    make_stream(kin, name)
    key = sluice.client("kms").create_key()["KeyMetadata"]["Arn"]
    sluice.aws("kinesis", "start-stream-encryption", "--stream-name", name,
               "--encryption-type", "KMS", "--key-id", key)
    wait_active(kin, name)
    d = sluice.aws("kinesis", "describe-stream-summary", "--stream-name", name)
    assert d["StreamDescriptionSummary"]["EncryptionType"] == "KMS"
    assert d["StreamDescriptionSummary"]["KeyId"] == key


# ---- the rolling 24-hour limit of UpdateShardCount ----

def test_update_shard_count_ten_a_day_kept_across_a_restart(fresh_sluice, unique):
    sluice = fresh_sluice.start()
    kin = sluice.client("kinesis")
    name = f"daily-{unique}"
    make_stream(kin, name)
    for i in range(10):
        kin.update_shard_count(StreamName=name, TargetShardCount=2 if i % 2 == 0 else 1,
                               ScalingType="UNIFORM_SCALING")
        wait_active(kin, name)
    with pytest.raises(ClientError) as e:
        kin.update_shard_count(StreamName=name, TargetShardCount=2, ScalingType="UNIFORM_SCALING")
    assert err(e) == ("LimitExceededException",
                      "Exceeded the number of allowed UpdateShardCount operations (10) in a "
                      f"rolling 24-hour period for stream {name} under account {ACCOUNT}.")
    sluice.restart()
    kin = sluice.client("kinesis")
    with pytest.raises(ClientError) as e:
        kin.update_shard_count(StreamName=name, TargetShardCount=2, ScalingType="UNIFORM_SCALING")
    assert err(e)[0] == "LimitExceededException"
    # SplitShard is not UpdateShardCount: it is still allowed
    wait_active(kin, name)
    shard = [s for s in kin.list_shards(StreamName=name)["Shards"]
             if "EndingSequenceNumber" not in s["SequenceNumberRange"]][0]
    kin.split_shard(StreamName=name, ShardToSplit=shard["ShardId"],
                    NewStartingHashKey=str(2**127))


def test_enhanced_monitoring_kept_across_a_restart(fresh_sluice, unique):
    sluice = fresh_sluice.start()
    kin = sluice.client("kinesis")
    name = f"monkeep-{unique}"
    make_stream(kin, name)
    kin.enable_enhanced_monitoring(StreamName=name, ShardLevelMetrics=["IteratorAgeMilliseconds"])
    arn = f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{name}"
    raw(sluice, "PutResourcePolicy", {"ResourceARN": arn, "Policy": POLICY})
    sluice.restart()
    kin = sluice.client("kinesis")
    assert metrics_of(kin, name) == ["IteratorAgeMilliseconds"]
    assert raw(sluice, "GetResourcePolicy", {"ResourceARN": arn}) == {"Policy": POLICY}


# ---- enhanced fan-out's rates, with the limits on ----

@pytest.fixture(scope="module")
def limited():
    from conftest import Sluice
    server = Sluice().start()
    yield server
    code = server.stop()
    server.cleanup()
    assert code == 0


def active_consumer(kin, stream_arn, name):
    arn = kin.register_stream_consumer(StreamARN=stream_arn, ConsumerName=name)[
        "Consumer"]["ConsumerARN"]
    deadline = time.time() + 20
    while kin.describe_stream_consumer(ConsumerARN=arn)[
            "ConsumerDescription"]["ConsumerStatus"] != "ACTIVE":
        assert time.time() < deadline
        time.sleep(0.1)
    return arn


def test_subscribe_to_shard_once_a_second_per_consumer_and_shard(limited, unique):
    kin = limited.client("kinesis")
    name = f"subrate-{unique}"
    arn = make_stream(kin, name, shards=2)
    consumer = active_consumer(kin, arn, "c")
    first = kin.subscribe_to_shard(ConsumerARN=consumer, ShardId="shardId-000000000000",
                                   StartingPosition={"Type": "LATEST"})["EventStream"]
    # at once again on the same shard: over the rate (before the five-second rule)
    with pytest.raises(ClientError) as e:
        kin.subscribe_to_shard(ConsumerARN=consumer, ShardId="shardId-000000000000",
                               StartingPosition={"Type": "LATEST"})
    assert err(e) == ("LimitExceededException",
                      f"Rate exceeded for consumer {consumer} and shard shardId-000000000000.")
    # another shard has its own rate
    second = kin.subscribe_to_shard(ConsumerARN=consumer, ShardId="shardId-000000000001",
                                    StartingPosition={"Type": "LATEST"})["EventStream"]
    first.close()
    second.close()


def test_consumer_operations_named_by_consumer_arn_count_per_stream(limited, unique):
    kin = limited.client("kinesis")
    a = active_consumer(kin, make_stream(kin, f"crate-a-{unique}"), "c")
    b = active_consumer(kin, make_stream(kin, f"crate-b-{unique}"), "c")
    for _ in range(200):
        try:
            kin.describe_stream_consumer(ConsumerARN=a)
        except ClientError as ce:
            assert ce.response["Error"]["Code"] == "LimitExceededException"
            assert ce.response["Error"]["Message"] == (
                f"Rate exceeded for stream crate-a-{unique} under account {ACCOUNT}.")
            break
    else:
        raise AssertionError("DescribeStreamConsumer was never limited")
    # DescribeStreamConsumer's 20/s is per stream: the other stream's consumer is untouched
    assert kin.describe_stream_consumer(ConsumerARN=b)["ConsumerDescription"]["ConsumerARN"] == b


# ---- on-demand scaling ----

def test_a_busy_on_demand_stream_gets_more_open_shards(unique):
    """The rule itself (the window's write rate against the capacity, the hottest shards,
    the quota) is tested with an injected clock in tests/unit/test_stream_admin.c; here
    only its API-visible shape, with a window of 2 s instead of AWS's minutes."""
    from conftest import Sluice
    server = Sluice(extra_args=["--throughput-limits", "off",
                                "--on-demand-scaling-window-ms", "2000"]).start()
    try:
        kin = server.client("kinesis")
        name = f"od-{unique}"
        kin.create_stream(StreamName=name, StreamModeDetails={"StreamMode": "ON_DEMAND"})
        wait_active(kin, name)
        assert kin.describe_stream_summary(
            StreamName=name)["StreamDescriptionSummary"]["OpenShardCount"] == 4
        batch = [{"Data": b"x", "PartitionKey": str(i)} for i in range(500)]
        deadline = time.time() + 30
        while True:
            assert time.time() < deadline, "the stream never scaled"
            for _ in range(10):
                r = kin.put_records(StreamName=name, Records=batch)
                assert r["FailedRecordCount"] == 0
            summary = kin.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
            if summary["OpenShardCount"] > 4:
                break
        assert summary["StreamModeDetails"]["StreamMode"] == "ON_DEMAND"
        shards = kin.list_shards(StreamName=name)["Shards"]
        children = [s for s in shards if "ParentShardId" in s]
        assert children and all(s["ParentShardId"] in {f"shardId-{i:012d}" for i in range(4)}
                                for s in children)
        assert wait_active(kin, name)["OpenShardCount"] > 4
    finally:
        code = server.stop()
        server.cleanup()
    assert code == 0
