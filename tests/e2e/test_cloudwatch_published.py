"""What Sluice publishes under AWS/S3 and AWS/Kinesis for a known workload, read back with
GetMetricStatistics after SIGUSR1 made the sampler run: S3's request metrics per bucket
(dimensions BucketName and FilterId "EntireBucket", the filter AWS's console makes for a
whole bucket) and the Kinesis API's reads (GetRecords.*, SubscribeToShard*).
"""
import datetime
import signal
import time

import pytest

from conftest import Sluice

UTC = datetime.timezone.utc


@pytest.fixture(scope="module")
def sl():
    server = Sluice(extra_args=["--throughput-limits", "off"]).start()
    yield server
    code = server.stop()
    log = server.read_log()
    server.cleanup()
    assert code == 0, f"server exited {code}:\n{log}"


@pytest.fixture(scope="module")
def cw(sl):
    return sl.client("cloudwatch")


def stats(cw, ns, name, dims, statistics=("Sum", "SampleCount", "Minimum", "Maximum")):
    now = datetime.datetime.now(UTC)
    r = cw.get_metric_statistics(Namespace=ns, MetricName=name, Dimensions=dims,
                                 StartTime=now - datetime.timedelta(minutes=30),
                                 EndTime=now + datetime.timedelta(minutes=30), Period=3600,
                                 Statistics=list(statistics))
    return r["Datapoints"]


def total(points, stat="Sum"):
    return sum(p[stat] for p in points)


def sample_until(sl, cw, ns, name, dims, expected, stat="Sum", timeout=60):
    """Asks the sampler to run (SIGUSR1) until the metric's statistic is expected."""
    deadline = time.time() + timeout
    got = None
    while time.time() < deadline:
        sl.proc.send_signal(signal.SIGUSR1)
        got = total(stats(cw, ns, name, dims), stat)
        if got == expected:
            return got
        time.sleep(0.3)
    return got


def bucket_dims(bucket):
    return [{"Name": "BucketName", "Value": bucket}, {"Name": "FilterId", "Value": "EntireBucket"}]


def test_s3_request_metrics_count_each_request_type(sl, cw, unique):
    s3 = sl.client("s3")
    bucket = "cwm-" + unique
    s3.create_bucket(Bucket=bucket)
    for i, size in enumerate((100, 250, 4000)):
        s3.put_object(Bucket=bucket, Key=f"k{i}", Body=b"x" * size)
    assert s3.get_object(Bucket=bucket, Key="k0")["Body"].read() == b"x" * 100
    assert len(s3.get_object(Bucket=bucket, Key="k2")["Body"].read()) == 4000
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=bucket, Key="missing")
    s3.head_object(Bucket=bucket, Key="k1")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 3
    s3.delete_object(Bucket=bucket, Key="k1")
    dims = bucket_dims(bucket)
    # CreateBucket, 3 PUT, 3 GET (one a 404), HEAD, LIST, DELETE
    assert sample_until(sl, cw, "AWS/S3", "AllRequests", dims, 10) == 10
    expected = {"PutRequests": 3, "GetRequests": 3, "HeadRequests": 1, "ListRequests": 1,
                "DeleteRequests": 1, "4xxErrors": 1, "BytesUploaded": 4350}
    for name, value in expected.items():
        assert total(stats(cw, "AWS/S3", name, dims)) == value, name
    # Errors are 0 or 1 per request: the average is the error rate.
    assert total(stats(cw, "AWS/S3", "4xxErrors", dims), "SampleCount") == 10
    assert total(stats(cw, "AWS/S3", "5xxErrors", dims)) == 0
    assert stats(cw, "AWS/S3", "PostRequests", dims) == []
    for name in ("FirstByteLatency", "TotalRequestLatency"):
        points = stats(cw, "AWS/S3", name, dims)
        assert total(points, "SampleCount") == 10, name
        assert {p["Unit"] for p in points} == {"Milliseconds"}
    listed = cw.list_metrics(Namespace="AWS/S3", MetricName="AllRequests",
                             Dimensions=[{"Name": "BucketName", "Value": bucket}])["Metrics"]
    assert [{d["Name"]: d["Value"] for d in m["Dimensions"]} for m in listed] == [
        {"BucketName": bucket, "FilterId": "EntireBucket"}]


def test_s3_bytes_downloaded_are_the_bodies_sent(sl, cw, unique):
    s3 = sl.client("s3")
    bucket = "cwb-" + unique
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="a", Body=b"a" * 1234)
    s3.put_object(Bucket=bucket, Key="b", Body=b"b" * 66)
    for key in ("a", "b", "a"):
        s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    dims = bucket_dims(bucket)
    assert sample_until(sl, cw, "AWS/S3", "AllRequests", dims, 6) == 6
    points = stats(cw, "AWS/S3", "BytesDownloaded", dims)
    assert total(points) == 1234 * 2 + 66
    assert total(points, "SampleCount") == 3
    assert min(p["Minimum"] for p in points) == 66
    assert max(p["Maximum"] for p in points) == 1234
    assert {p["Unit"] for p in points} == {"Bytes"}
    # Sampled again with nothing new: nothing is counted twice.
    sl.proc.send_signal(signal.SIGUSR1)
    assert sample_until(sl, cw, "AWS/S3", "AllRequests", dims, 6) == 6


def test_s3_requests_to_no_bucket_publish_nothing(sl, cw, unique):
    s3 = sl.client("s3")
    bucket = "cwn-" + unique
    with pytest.raises(s3.exceptions.ClientError):
        s3.get_object(Bucket=bucket, Key="x")
    sl.proc.send_signal(signal.SIGUSR1)
    other = "cwo-" + unique
    s3.create_bucket(Bucket=other)
    assert sample_until(sl, cw, "AWS/S3", "AllRequests", bucket_dims(other), 1) == 1
    assert stats(cw, "AWS/S3", "AllRequests", bucket_dims(bucket)) == []


def stream_dims(name):
    return [{"Name": "StreamName", "Value": name}]


def test_get_records_metrics_are_the_records_returned(sl, cw, unique):
    kin = sl.client("kinesis")
    name = "cwr-" + unique
    kin.create_stream(StreamName=name, ShardCount=1)
    kin.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})
    sizes = [10, 200, 33, 4000, 7]
    for i, size in enumerate(sizes):
        kin.put_record(StreamName=name, Data=b"r" * size, PartitionKey=f"p{i}")
    it = kin.get_shard_iterator(StreamName=name, ShardId="shardId-000000000000",
                                ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    got = []
    for limit in (3, 10, 10):  # 3 records, the other 2, then none
        r = kin.get_records(ShardIterator=it, Limit=limit)
        got.append(len(r["Records"]))
        it = r["NextShardIterator"]
    assert got == [3, 2, 0]
    dims = stream_dims(name)
    assert sample_until(sl, cw, "AWS/Kinesis", "GetRecords.Records", dims, 5) == 5
    assert total(stats(cw, "AWS/Kinesis", "GetRecords.Records", dims), "SampleCount") == 3
    points = stats(cw, "AWS/Kinesis", "GetRecords.Bytes", dims)
    assert total(points) == sum(sizes)
    assert max(p["Maximum"] for p in points) == 4000 + 7  # the second call
    assert min(p["Minimum"] for p in points) == 0
    assert {p["Unit"] for p in points} == {"Bytes"}
    success = stats(cw, "AWS/Kinesis", "GetRecords.Success", dims)
    assert (total(success), total(success, "SampleCount")) == (3, 3)
    for metric in ("GetRecords.Latency", "GetRecords.IteratorAgeMilliseconds"):
        points = stats(cw, "AWS/Kinesis", metric, dims)
        assert total(points, "SampleCount") == 3, metric
        assert {p["Unit"] for p in points} == {"Milliseconds"}, metric
    # The last call returned nothing: caught up, an age of 0.
    assert min(p["Minimum"] for p in stats(cw, "AWS/Kinesis",
                                           "GetRecords.IteratorAgeMilliseconds", dims)) == 0


def test_subscribe_to_shard_metrics_per_consumer(sl, cw, unique):
    kin = sl.client("kinesis")
    name = "cws-" + unique
    kin.create_stream(StreamName=name, ShardCount=1)
    kin.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})
    stream_arn = kin.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
        "StreamARN"]
    consumer = kin.register_stream_consumer(StreamARN=stream_arn, ConsumerName="mon")["Consumer"]
    deadline = time.time() + 60
    while kin.describe_stream_consumer(ConsumerARN=consumer["ConsumerARN"])[
            "ConsumerDescription"]["ConsumerStatus"] != "ACTIVE":
        assert time.time() < deadline, "the consumer never became ACTIVE"
        time.sleep(0.1)
    sizes = [5, 50, 500]
    for i, size in enumerate(sizes):
        kin.put_record(StreamName=name, Data=b"s" * size, PartitionKey=f"p{i}")
    events = kin.subscribe_to_shard(ConsumerARN=consumer["ConsumerARN"],
                                    ShardId="shardId-000000000000",
                                    StartingPosition={"Type": "TRIM_HORIZON"})["EventStream"]
    # A second subscription of the consumer to the shard at once is refused.
    with pytest.raises(kin.exceptions.ClientError):
        kin.subscribe_to_shard(ConsumerARN=consumer["ConsumerARN"],
                               ShardId="shardId-000000000000",
                               StartingPosition={"Type": "LATEST"})
    records = []
    for ev in events:
        records += ev["SubscribeToShardEvent"]["Records"]
        if len(records) >= len(sizes):
            break
    events.close()
    assert [len(r["Data"]) for r in records] == sizes
    dims = stream_dims(name) + [{"Name": "ConsumerName", "Value": "mon"}]
    assert sample_until(sl, cw, "AWS/Kinesis", "SubscribeToShardEvent.Records", dims, 3) == 3
    assert total(stats(cw, "AWS/Kinesis", "SubscribeToShardEvent.Bytes", dims)) == sum(sizes)
    success = stats(cw, "AWS/Kinesis", "SubscribeToShard.Success", dims)
    assert (total(success), total(success, "SampleCount")) == (1, 2)
    assert total(stats(cw, "AWS/Kinesis", "SubscribeToShard.RateExceeded", dims)) == 1
    assert total(stats(cw, "AWS/Kinesis", "SubscribeToShardEvent.Success", dims)) >= 1
    behind = stats(cw, "AWS/Kinesis", "SubscribeToShardEvent.MillisBehindLatest", dims)
    assert {p["Unit"] for p in behind} == {"Milliseconds"}
    # Stream-level only for GetRecords: nothing of the consumer's under StreamName alone.
    assert stats(cw, "AWS/Kinesis", "SubscribeToShardEvent.Records", stream_dims(name)) == []
    assert stats(cw, "AWS/Kinesis", "GetRecords.Records", stream_dims(name)) == []


def test_s3_storage_metrics_count_versions_and_parts(sl, cw, unique):
    s3 = sl.client("s3")
    bucket = "cwst-" + unique
    s3.create_bucket(Bucket=bucket)
    for key, size in (("a", 100), ("b", 200), ("c", 300)):
        s3.put_object(Bucket=bucket, Key=key, Body=b"z" * size)
    # An upload not completed: its part is stored, and counted, as on AWS.
    up = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="big", UploadId=up, PartNumber=1, Body=b"p" * 1000)
    size_dims = [{"Name": "BucketName", "Value": bucket},
                 {"Name": "StorageType", "Value": "StandardStorage"}]
    count_dims = [{"Name": "BucketName", "Value": bucket},
                  {"Name": "StorageType", "Value": "AllStorageTypes"}]
    assert sample_until(sl, cw, "AWS/S3", "BucketSizeBytes", size_dims, 1600,
                        stat="Maximum") == 1600
    assert sample_until(sl, cw, "AWS/S3", "NumberOfObjects", count_dims, 4,
                        stat="Maximum") == 4
    assert {p["Unit"] for p in stats(cw, "AWS/S3", "BucketSizeBytes", size_dims)} == {"Bytes"}
    # A versioned overwrite keeps the older version: both are stored.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="a", Body=b"y" * 50)
    assert sample_until(sl, cw, "AWS/S3", "BucketSizeBytes", size_dims, 1650,
                        stat="Maximum") == 1650
    assert sample_until(sl, cw, "AWS/S3", "NumberOfObjects", count_dims, 5,
                        stat="Maximum") == 5


def test_firehose_reading_a_stream_is_no_get_records(sl, cw, unique):
    kin, fh, s3 = sl.client("kinesis"), sl.client("firehose"), sl.client("s3")
    name = "cwfh-" + unique
    s3.create_bucket(Bucket=name)
    kin.create_stream(StreamName=name, ShardCount=1)
    kin.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})
    arn = kin.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    role = "arn:aws:iam::000000000000:role/firehose"
    fh.create_delivery_stream(
        DeliveryStreamName=name, DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": arn, "RoleARN": role},
        ExtendedS3DestinationConfiguration={"RoleARN": role, "BucketARN": f"arn:aws:s3:::{name}"})
    deadline = time.time() + 60
    while fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"][
            "DeliveryStreamStatus"] != "ACTIVE":
        assert time.time() < deadline, "the delivery stream never became ACTIVE"
        time.sleep(0.1)
    kin.put_records(StreamName=name, Records=[
        {"Data": f"r{i};".encode(), "PartitionKey": str(i)} for i in range(20)])
    got = b""
    deadline = time.time() + 60
    while got.count(b";") < 20 and time.time() < deadline:
        sl.proc.send_signal(signal.SIGUSR1)  # flushes the delivery stream, then samples
        time.sleep(0.3)
        got = b"".join(s3.get_object(Bucket=name, Key=o["Key"])["Body"].read()
                       for o in s3.list_objects_v2(Bucket=name).get("Contents", []))
    assert got.count(b";") == 20
    sl.proc.send_signal(signal.SIGUSR1)
    assert sample_until(sl, cw, "AWS/Kinesis", "IncomingRecords", stream_dims(name), 20) == 20
    # Firehose read the 20 records in process: no GetRecords call was made.
    assert stats(cw, "AWS/Kinesis", "GetRecords.Records", stream_dims(name)) == []
    fh.delete_delivery_stream(DeliveryStreamName=name)


def test_put_metrics_sum_to_the_workload(sl, cw, unique):
    kin = sl.client("kinesis")
    name = "cwp-" + unique
    kin.create_stream(StreamName=name, ShardCount=2)
    kin.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})
    single = [17, 300, 2]
    for i, size in enumerate(single):
        kin.put_record(StreamName=name, Data=b"a" * size, PartitionKey=f"p{i}")
    batches = [[5] * 10, [100, 200, 300], [1] * 500]
    for batch in batches:
        r = kin.put_records(StreamName=name, Records=[
            {"Data": b"b" * size, "PartitionKey": f"k{j}"} for j, size in enumerate(batch)])
        assert r["FailedRecordCount"] == 0
    dims = stream_dims(name)
    assert sample_until(sl, cw, "AWS/Kinesis", "PutRecords.TotalRecords", dims, 513) == 513
    expected = {
        ("PutRecord.Bytes", "Sum"): sum(single),
        ("PutRecord.Bytes", "SampleCount"): 3,
        ("PutRecord.Success", "Sum"): 3,
        ("PutRecord.Latency", "SampleCount"): 3,
        ("PutRecords.Bytes", "Sum"): sum(map(sum, batches)),
        ("PutRecords.Bytes", "Maximum"): 600,
        ("PutRecords.Success", "Sum"): 3,
        ("PutRecords.Latency", "SampleCount"): 3,
        ("PutRecords.TotalRecords", "Maximum"): 500,
        ("PutRecords.SuccessfulRecords", "Sum"): 513,
        ("PutRecords.FailedRecords", "Sum"): 0,
        ("PutRecords.ThrottledRecords", "Sum"): 0,
        ("IncomingRecords", "Sum"): 516,
    }
    for (metric, stat), value in expected.items():
        points = stats(cw, "AWS/Kinesis", metric, dims)
        got = max(p[stat] for p in points) if stat == "Maximum" else total(points, stat)
        assert got == value, (metric, stat)
    units = {"PutRecord.Bytes": "Bytes", "PutRecords.Latency": "Milliseconds",
             "PutRecords.ThrottledRecords": "Count"}
    for metric, unit in units.items():
        assert {p["Unit"] for p in stats(cw, "AWS/Kinesis", metric, dims)} == {unit}, metric
    # Read back in full: OutgoingRecords/Bytes are the records returned.
    n = 0
    for shard in ("shardId-000000000000", "shardId-000000000001"):
        it = kin.get_shard_iterator(StreamName=name, ShardId=shard,
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        n += len(kin.get_records(ShardIterator=it, Limit=10000)["Records"])
    assert n == 516
    assert sample_until(sl, cw, "AWS/Kinesis", "OutgoingRecords", dims, 516) == 516
    assert total(stats(cw, "AWS/Kinesis", "OutgoingBytes", dims)) == \
        sum(single) + sum(map(sum, batches))
    exceeded = stats(cw, "AWS/Kinesis", "ReadProvisionedThroughputExceeded", dims)
    assert (total(exceeded), total(exceeded, "SampleCount")) == (0, 2)


def test_throttled_records_are_the_ones_refused(fresh_sluice, unique):
    sl = fresh_sluice.start()  # the shard limits on
    kin, cw = sl.client("kinesis"), sl.client("cloudwatch")
    name = "cwt-" + unique
    kin.create_stream(StreamName=name, ShardCount=1)
    kin.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})
    throttled = total_records = 0
    deadline = time.time() + 60
    while throttled == 0 and time.time() < deadline:
        r = kin.put_records(StreamName=name, Records=[
            {"Data": b"t" * 4000, "PartitionKey": str(j)} for j in range(500)])
        total_records += 500
        throttled += sum(e.get("ErrorCode") == "ProvisionedThroughputExceededException"
                         for e in r["Records"])
    assert throttled > 0
    dims = stream_dims(name)
    assert sample_until(sl, cw, "AWS/Kinesis", "PutRecords.TotalRecords", dims,
                        total_records) == total_records
    assert total(stats(cw, "AWS/Kinesis", "PutRecords.ThrottledRecords", dims)) == throttled
    assert total(stats(cw, "AWS/Kinesis", "PutRecords.SuccessfulRecords", dims)) == \
        total_records - throttled
    assert total(stats(cw, "AWS/Kinesis", "WriteProvisionedThroughputExceeded", dims)) == throttled


def shard_dims(name, shard):
    return [{"Name": "StreamName", "Value": name}, {"Name": "ShardId", "Value": shard}]


def test_shard_level_metrics_only_while_enabled(sl, cw, unique):
    kin = sl.client("kinesis")
    name = "cwsh-" + unique
    kin.create_stream(StreamName=name, ShardCount=2)
    kin.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})
    low, high = "0", str(2 ** 127 + 5)  # one hash key in each shard

    def put(n, key, size):
        kin.put_records(StreamName=name, Records=[
            {"Data": b"s" * size, "PartitionKey": "x", "ExplicitHashKey": key}
            for _ in range(n)])

    put(4, low, 10)  # before: no shard-level metric
    dims = stream_dims(name)
    assert sample_until(sl, cw, "AWS/Kinesis", "IncomingRecords", dims, 4) == 4
    listed = cw.list_metrics(Namespace="AWS/Kinesis",
                             Dimensions=[{"Name": "StreamName", "Value": name},
                                         {"Name": "ShardId"}])["Metrics"]
    assert listed == []
    r = kin.enable_enhanced_monitoring(StreamName=name, ShardLevelMetrics=[
        "IncomingRecords", "IncomingBytes", "OutgoingRecords", "IteratorAgeMilliseconds"])
    assert sorted(r["DesiredShardLevelMetrics"]) == [
        "IncomingBytes", "IncomingRecords", "IteratorAgeMilliseconds", "OutgoingRecords"]
    put(3, low, 20)
    put(5, high, 7)
    it = kin.get_shard_iterator(StreamName=name, ShardId="shardId-000000000001",
                                ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    assert len(kin.get_records(ShardIterator=it)["Records"]) == 5
    s0, s1 = shard_dims(name, "shardId-000000000000"), shard_dims(name, "shardId-000000000001")
    assert sample_until(sl, cw, "AWS/Kinesis", "IncomingRecords", s1, 5) == 5
    assert total(stats(cw, "AWS/Kinesis", "IncomingRecords", s0)) == 3
    assert total(stats(cw, "AWS/Kinesis", "IncomingBytes", s0)) == 60
    assert total(stats(cw, "AWS/Kinesis", "IncomingBytes", s1)) == 35
    assert total(stats(cw, "AWS/Kinesis", "OutgoingRecords", s1)) == 5
    assert {p["Unit"] for p in stats(cw, "AWS/Kinesis", "IteratorAgeMilliseconds", s1)} == {
        "Milliseconds"}
    assert stats(cw, "AWS/Kinesis", "OutgoingRecords", s0) == []
    # Not enabled: none, though records were read and written.
    assert stats(cw, "AWS/Kinesis", "OutgoingBytes", s1) == []
    assert stats(cw, "AWS/Kinesis", "WriteProvisionedThroughputExceeded", s0) == []
    kin.disable_enhanced_monitoring(StreamName=name, ShardLevelMetrics=["ALL"])
    put(6, low, 1)
    assert sample_until(sl, cw, "AWS/Kinesis", "IncomingRecords", dims, 18) == 18
    assert total(stats(cw, "AWS/Kinesis", "IncomingRecords", s0)) == 3


def test_shard_level_outgoing_counts_enhanced_fan_out(sl, cw, unique):
    kin = sl.client("kinesis")
    name = "cwse-" + unique
    kin.create_stream(StreamName=name, ShardCount=1)
    kin.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})
    kin.enable_enhanced_monitoring(StreamName=name, ShardLevelMetrics=["OutgoingRecords",
                                                                       "OutgoingBytes"])
    arn = kin.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    consumer = kin.register_stream_consumer(StreamARN=arn, ConsumerName="efo")["Consumer"]
    deadline = time.time() + 60
    while kin.describe_stream_consumer(ConsumerARN=consumer["ConsumerARN"])[
            "ConsumerDescription"]["ConsumerStatus"] != "ACTIVE":
        assert time.time() < deadline, "the consumer never became ACTIVE"
        time.sleep(0.1)
    for i, size in enumerate((3, 30, 300)):
        kin.put_record(StreamName=name, Data=b"e" * size, PartitionKey=str(i))
    events = kin.subscribe_to_shard(ConsumerARN=consumer["ConsumerARN"],
                                    ShardId="shardId-000000000000",
                                    StartingPosition={"Type": "TRIM_HORIZON"})["EventStream"]
    got = 0
    for ev in events:
        got += len(ev["SubscribeToShardEvent"]["Records"])
        if got >= 3:
            break
    events.close()
    shard = shard_dims(name, "shardId-000000000000")
    assert sample_until(sl, cw, "AWS/Kinesis", "OutgoingRecords", shard, 3) == 3
    assert total(stats(cw, "AWS/Kinesis", "OutgoingBytes", shard)) == 333
