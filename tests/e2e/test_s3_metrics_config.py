"""A bucket's request metrics configurations (Put/Get/Delete/ListBucketMetricsConfiguration)
and the AWS/S3 request metrics counted under each configuration's FilterId: the runbook's
alarm on new objects under an error prefix (a configuration with Prefix "errors/", an
alarm on PutRequests with that FilterId) goes to ALARM once such an object is written,
while writes elsewhere in the bucket do not count under that filter.
"""
import datetime
import json
import signal
import time

import pytest
from botocore.exceptions import ClientError

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
def s3(sl):
    return sl.client("s3")


@pytest.fixture(scope="module")
def cw(sl):
    return sl.client("cloudwatch")


def err(e):
    return e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def bucket_of(s3, unique, name):
    bucket = f"{name}-{unique}"
    s3.create_bucket(Bucket=bucket)
    return bucket


def test_put_get_delete_and_the_filter_forms(s3, unique):
    bucket = bucket_of(s3, unique, "mc")
    forms = {
        "whole": None,
        "pre": {"Prefix": "errors/"},
        "tag": {"Tag": {"Key": "team", "Value": "ops"}},
        "ap": {"AccessPointArn": "arn:aws:s3:us-east-1:000000000000:accesspoint/ap1"},
        "and": {"And": {"Prefix": "logs/", "Tags": [{"Key": "a", "Value": "1"},
                                                   {"Key": "b", "Value": "2"}]}},
    }
    for cid, flt in forms.items():
        cfg = {"Id": cid} if flt is None else {"Id": cid, "Filter": flt}
        s3.put_bucket_metrics_configuration(Bucket=bucket, Id=cid, MetricsConfiguration=cfg)
    for cid, flt in forms.items():
        got = s3.get_bucket_metrics_configuration(Bucket=bucket, Id=cid)["MetricsConfiguration"]
        assert got == ({"Id": cid} if flt is None else {"Id": cid, "Filter": flt})
    # A put replaces the configuration of that Id.
    s3.put_bucket_metrics_configuration(Bucket=bucket, Id="pre", MetricsConfiguration={
        "Id": "pre", "Filter": {"Prefix": "failed/"}})
    got = s3.get_bucket_metrics_configuration(Bucket=bucket, Id="pre")["MetricsConfiguration"]
    assert got["Filter"] == {"Prefix": "failed/"}
    listed = s3.list_bucket_metrics_configurations(Bucket=bucket)
    assert listed["IsTruncated"] is False
    assert [c["Id"] for c in listed["MetricsConfigurationList"]] == sorted(forms)
    r = s3.delete_bucket_metrics_configuration(Bucket=bucket, Id="tag")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        s3.get_bucket_metrics_configuration(Bucket=bucket, Id="tag")
    assert err(e) == ("NoSuchConfiguration", 404)
    with pytest.raises(ClientError) as e:
        s3.delete_bucket_metrics_configuration(Bucket=bucket, Id="tag")
    assert err(e) == ("NoSuchConfiguration", 404)
    assert len(s3.list_bucket_metrics_configurations(Bucket=bucket)
               ["MetricsConfigurationList"]) == 4


def test_errors(s3, unique):
    bucket = bucket_of(s3, unique, "mce")
    # No configuration at all: the list is empty, not an error.
    listed = s3.list_bucket_metrics_configurations(Bucket=bucket)
    assert listed.get("MetricsConfigurationList", []) == [] and listed["IsTruncated"] is False
    with pytest.raises(ClientError) as e:
        s3.get_bucket_metrics_configuration(Bucket=bucket, Id="none")
    assert err(e) == ("NoSuchConfiguration", 404)
    with pytest.raises(ClientError) as e:
        s3.put_bucket_metrics_configuration(Bucket=bucket, Id="bad id!",
                                            MetricsConfiguration={"Id": "bad id!"})
    assert err(e) == ("InvalidArgument", 400)
    with pytest.raises(ClientError) as e:
        s3.put_bucket_metrics_configuration(Bucket=bucket, Id="x" * 65,
                                            MetricsConfiguration={"Id": "x" * 65})
    assert err(e) == ("InvalidArgument", 400)
    with pytest.raises(ClientError) as e:  # the query's id and the document's differ
        s3.put_bucket_metrics_configuration(Bucket=bucket, Id="one",
                                            MetricsConfiguration={"Id": "two"})
    assert err(e) == ("InvalidArgument", 400)
    with pytest.raises(ClientError) as e:  # a filter of two conditions needs And
        s3.put_bucket_metrics_configuration(Bucket=bucket, Id="two", MetricsConfiguration={
            "Id": "two", "Filter": {"Prefix": "a/", "Tag": {"Key": "k", "Value": "v"}}})
    assert err(e) == ("MalformedXML", 400)
    with pytest.raises(ClientError) as e:
        s3.put_bucket_metrics_configuration(Bucket="nob-" + unique, Id="a",
                                            MetricsConfiguration={"Id": "a"})
    assert err(e) == ("NoSuchBucket", 404)
    assert s3.list_bucket_metrics_configurations(Bucket=bucket).get(
        "MetricsConfigurationList", []) == []


def test_paging_and_the_limit(s3, unique):
    bucket = bucket_of(s3, unique, "mcp")
    ids = [f"c{i:04d}" for i in range(1000)]
    for cid in ids:
        s3.put_bucket_metrics_configuration(Bucket=bucket, Id=cid, MetricsConfiguration={
            "Id": cid, "Filter": {"Prefix": cid + "/"}})
    with pytest.raises(ClientError) as e:
        s3.put_bucket_metrics_configuration(Bucket=bucket, Id="over",
                                            MetricsConfiguration={"Id": "over"})
    assert err(e) == ("TooManyConfigurations", 400)
    # Replacing one of the 1,000 is still allowed.
    s3.put_bucket_metrics_configuration(Bucket=bucket, Id="c0000",
                                        MetricsConfiguration={"Id": "c0000"})
    seen, token, pages = [], None, 0
    while True:
        kw = {"ContinuationToken": token} if token else {}
        r = s3.list_bucket_metrics_configurations(Bucket=bucket, **kw)
        pages += 1
        assert r.get("ContinuationToken") == token
        seen += [c["Id"] for c in r["MetricsConfigurationList"]]
        if not r["IsTruncated"]:
            assert "NextContinuationToken" not in r
            break
        token = r["NextContinuationToken"]
    assert seen == ids and pages == 10


def test_the_cli_puts_a_configuration(sl, s3, unique):
    bucket = bucket_of(s3, unique, "mcc")
    sl.aws("s3api", "put-bucket-metrics-configuration", "--bucket", bucket, "--id", "errs",
           "--metrics-configuration", json.dumps({"Id": "errs",
                                                  "Filter": {"Prefix": "errors/"}}))
    out = sl.aws("s3api", "get-bucket-metrics-configuration", "--bucket", bucket, "--id", "errs")
    assert out["MetricsConfiguration"] == {"Id": "errs", "Filter": {"Prefix": "errors/"}}


def stats(cw, name, dims):
    now = datetime.datetime.now(UTC)
    r = cw.get_metric_statistics(Namespace="AWS/S3", MetricName=name, Dimensions=dims,
                                 StartTime=now - datetime.timedelta(minutes=30),
                                 EndTime=now + datetime.timedelta(minutes=30), Period=3600,
                                 Statistics=["Sum"])
    return sum(p["Sum"] for p in r["Datapoints"])


def dims(bucket, fid):
    return [{"Name": "BucketName", "Value": bucket}, {"Name": "FilterId", "Value": fid}]


def sample_until(sl, cw, name, d, expected, timeout=60):
    deadline, got = time.time() + timeout, None
    while time.time() < deadline:
        sl.proc.send_signal(signal.SIGUSR1)
        got = stats(cw, name, d)
        if got == expected:
            return got
        time.sleep(0.3)
    return got


def test_alarm_on_objects_under_an_error_prefix(sl, s3, cw, unique):
    bucket = bucket_of(s3, unique, "mca")
    s3.put_bucket_metrics_configuration(Bucket=bucket, Id="ErrorObjects", MetricsConfiguration={
        "Id": "ErrorObjects", "Filter": {"Prefix": "errors/"}})
    s3.put_bucket_metrics_configuration(Bucket=bucket, Id="Whole",
                                        MetricsConfiguration={"Id": "Whole"})
    name = "s3-errors-" + unique
    cw.put_metric_alarm(AlarmName=name, Namespace="AWS/S3", MetricName="PutRequests",
                        Dimensions=dims(bucket, "ErrorObjects"), Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=0,
                        ComparisonOperator="GreaterThanThreshold",
                        TreatMissingData="notBreaching")
    # Writes elsewhere in the bucket: counted for the bucket, not under the filter.
    for i in range(3):
        s3.put_object(Bucket=bucket, Key=f"data/ok-{i}.json", Body=b"{}" * 10)
    assert sample_until(sl, cw, "PutRequests", dims(bucket, "EntireBucket"), 3) == 3
    assert sample_until(sl, cw, "PutRequests", dims(bucket, "Whole"), 3) == 3
    assert stats(cw, "PutRequests", dims(bucket, "ErrorObjects")) == 0
    deadline = time.time() + 60
    state = None
    while time.time() < deadline and state != "OK":
        sl.proc.send_signal(signal.SIGUSR1)
        state = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"]
        time.sleep(0.3) if state != "OK" else None
    assert state == "OK"
    # A delivery failure's object under errors/: the filter counts it, the alarm fires.
    s3.put_object(Bucket=bucket, Key="errors/processing-failed/2026/part-1", Body=b"x" * 64)
    assert s3.get_object(Bucket=bucket, Key="errors/processing-failed/2026/part-1")[
        "Body"].read() == b"x" * 64
    with pytest.raises(ClientError):
        s3.get_object(Bucket=bucket, Key="errors/missing")
    assert sample_until(sl, cw, "PutRequests", dims(bucket, "ErrorObjects"), 1) == 1
    assert sample_until(sl, cw, "GetRequests", dims(bucket, "ErrorObjects"), 2) == 2
    assert sample_until(sl, cw, "4xxErrors", dims(bucket, "ErrorObjects"), 1) == 1
    assert sample_until(sl, cw, "BytesUploaded", dims(bucket, "ErrorObjects"), 64) == 64
    assert sample_until(sl, cw, "PutRequests", dims(bucket, "EntireBucket"), 4) == 4
    deadline = time.time() + 60
    while time.time() < deadline and state != "ALARM":
        sl.proc.send_signal(signal.SIGUSR1)
        state = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"]
        time.sleep(0.3) if state != "ALARM" else None
    assert state == "ALARM"
    # Deleted, the configuration counts no more.
    s3.delete_bucket_metrics_configuration(Bucket=bucket, Id="ErrorObjects")
    s3.put_object(Bucket=bucket, Key="errors/later", Body=b"y")
    assert sample_until(sl, cw, "PutRequests", dims(bucket, "EntireBucket"), 5) == 5
    assert stats(cw, "PutRequests", dims(bucket, "ErrorObjects")) == 1


def test_configurations_survive_a_restart(fresh_sluice, unique):
    fresh_sluice.start()
    s3 = fresh_sluice.client("s3")
    bucket = bucket_of(s3, unique, "mcr")
    s3.put_bucket_metrics_configuration(Bucket=bucket, Id="keep", MetricsConfiguration={
        "Id": "keep", "Filter": {"Prefix": "errors/"}})
    fresh_sluice.restart()
    got = fresh_sluice.client("s3").get_bucket_metrics_configuration(Bucket=bucket, Id="keep")
    assert got["MetricsConfiguration"] == {"Id": "keep", "Filter": {"Prefix": "errors/"}}


def test_firehose_error_objects_fire_the_runbook_alarm(sl, s3, cw, unique):
    """Records dynamic partitioning cannot place go to the error output prefix; Firehose's
    writes are S3 PutObject requests, so the bucket's "err/" filter counts them."""
    fh = sl.client("firehose")
    name = "mcf-" + unique
    s3.create_bucket(Bucket=name)
    s3.put_bucket_metrics_configuration(Bucket=name, Id="FirehoseErrors", MetricsConfiguration={
        "Id": "FirehoseErrors", "Filter": {"Prefix": "err/"}})
    procs = [{"Type": "MetadataExtraction", "Parameters": [
        {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{k: .k}"},
        {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]}]
    fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration={
        "RoleARN": "arn:aws:iam::000000000000:role/firehose",
        "BucketARN": f"arn:aws:s3:::{name}", "Prefix": "data/k=!{partitionKeyFromQuery:k}/",
        "ErrorOutputPrefix": "err/!{firehose:error-output-type}/",
        "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60},
        "DynamicPartitioningConfiguration": {"Enabled": True},
        "ProcessingConfiguration": {"Enabled": True, "Processors": procs}})
    deadline = time.time() + 30
    while fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"][
            "DeliveryStreamStatus"] != "ACTIVE":
        assert time.time() < deadline
        time.sleep(0.1)
    alarm = "fh-errors-" + unique
    cw.put_metric_alarm(AlarmName=alarm, Namespace="AWS/S3", MetricName="PutRequests",
                        Dimensions=dims(name, "FirehoseErrors"), Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=0,
                        ComparisonOperator="GreaterThanThreshold",
                        TreatMissingData="notBreaching")
    r = fh.put_record_batch(DeliveryStreamName=name, Records=[
        {"Data": b'{"k":"a"}\n'}, {"Data": b'{"k":"b"}\n'}, {"Data": b"not json\n"}])
    assert r["FailedPutCount"] == 0
    deadline, state, errs = time.time() + 60, None, []
    while time.time() < deadline and (state != "ALARM" or not errs):
        sl.proc.send_signal(signal.SIGUSR1)  # flushes the delivery streams, samples, evaluates
        time.sleep(0.3)
        errs = s3.list_objects_v2(Bucket=name, Prefix="err/").get("Contents", [])
        state = cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"]
    assert errs and errs[0]["Key"].startswith("err/metadata-extraction-failed/")
    assert state == "ALARM"
    # One error object under the filter; the two partitions' objects only in EntireBucket.
    assert sample_until(sl, cw, "PutRequests", dims(name, "FirehoseErrors"), len(errs)) == len(errs)
    data = s3.list_objects_v2(Bucket=name, Prefix="data/").get("Contents", [])
    assert len(data) == 2
    assert sample_until(sl, cw, "PutRequests", dims(name, "EntireBucket"), 3) == 3
