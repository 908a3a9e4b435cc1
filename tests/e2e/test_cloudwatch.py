"""CloudWatch (monitoring 2010-08-01) end to end: PutMetricData read back exactly through
GetMetricStatistics and GetMetricData, ListMetrics with filters and paging, AWS's validation
errors, the AWS CLI, durability across a restart, and what Sluice publishes itself (AWS/Kinesis
IncomingRecords/IncomingBytes and AWS/Firehose IncomingRecords for a known workload).

Debian's boto3 (1.26) speaks awsQuery to CloudWatch, the newer one (1.43) awsJson1_0: each run
of this file checks the protocol its client uses, so the two runs cover both. The sampler
publishes once a minute; SIGUSR1 (a Sluice extension) makes it sample at once, so no test
waits for a minute.
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
def cw(sl):
    return sl.client("cloudwatch")


def window(minutes=10):
    now = datetime.datetime.now(UTC)
    return now - datetime.timedelta(minutes=minutes), now + datetime.timedelta(minutes=minutes)


def stats(cw, ns, name, dims, period=60, statistics=("Sum", "SampleCount", "Average", "Minimum",
                                                     "Maximum"), **kw):
    start, end = window()
    r = cw.get_metric_statistics(Namespace=ns, MetricName=name, Dimensions=dims,
                                 StartTime=start, EndTime=end, Period=period,
                                 Statistics=list(statistics), **kw)
    return r


def total(datapoints, stat="Sum"):
    return sum(d[stat] for d in datapoints)


def err(e):
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def test_the_client_speaks_the_protocol_its_model_prefers(cw):
    # botocore 1.26's model declares query only; newer models list json before query.
    model = cw.meta.service_model
    protocols = model.metadata.get("protocols") or ["query"]
    expected = "json" if "json" in protocols else "query"
    assert getattr(model, "resolved_protocol", model.protocol) == expected


def test_gzip_compressed_put_metric_data(sl, unique):
    # Newer botocore gzips PutMetricData bodies (its requestcompression trait) from 10 KiB;
    # here from the first byte. Botocore 1.29 cannot compress: nothing to test there.
    try:
        from botocore.config import Config
        cfg = Config(request_min_compression_size_bytes=1, retries={"total_max_attempts": 1})
    except TypeError:
        pytest.skip("this botocore does not compress requests")
    cw = sl.client("cloudwatch", config=cfg)
    ns = "Gzip/" + unique
    cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "z", "Value": 3}])
    assert total(stats(cw, ns, "z", [], period=3600)["Datapoints"]) == 3


def test_put_then_statistics_read_back_exactly(cw, unique):
    ns, dims = "App/" + unique, [{"Name": "Host", "Value": "h1"}]
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "Latency", "Dimensions": dims, "Value": 12.5, "Unit": "Milliseconds"},
        {"MetricName": "Latency", "Dimensions": dims, "Values": [1, 2, 40],
         "Counts": [2, 1, 1], "Unit": "Milliseconds"},
        {"MetricName": "Latency", "Dimensions": dims, "Unit": "Milliseconds",
         "StatisticValues": {"SampleCount": 4, "Sum": 100, "Minimum": 0.5, "Maximum": 60}},
    ])
    r = stats(cw, ns, "Latency", dims, period=3600)
    assert r["Label"] == "Latency"
    dps = r["Datapoints"]
    assert total(dps, "SampleCount") == 9
    assert total(dps) == 12.5 + 1 * 2 + 2 + 40 + 100
    assert min(d["Minimum"] for d in dps) == 0.5
    assert max(d["Maximum"] for d in dps) == 60
    assert all(d["Unit"] == "Milliseconds" for d in dps)
    if len(dps) == 1:  # unless the hour turned between the puts
        assert dps[0]["Average"] == pytest.approx(156.5 / 9, rel=1e-12)
    # Dimension order is not part of a metric; another dimension value is another metric.
    assert stats(cw, ns, "Latency", [{"Name": "Host", "Value": "h2"}])["Datapoints"] == []


def test_units_are_kept_apart_and_filtered(cw, unique):
    ns = "App/" + unique
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "Size", "Value": 3, "Unit": "Bytes"},
        {"MetricName": "Size", "Value": 5, "Unit": "Kilobytes"},
    ])
    by_bytes = stats(cw, ns, "Size", [], period=3600, Unit="Bytes")["Datapoints"]
    assert total(by_bytes) == 3 and {d["Unit"] for d in by_bytes} == {"Bytes"}
    both = stats(cw, ns, "Size", [], period=3600)["Datapoints"]
    assert sorted(d["Unit"] for d in both) == ["Bytes", "Kilobytes"] or len(both) > 2


def test_high_resolution_is_kept_per_second(cw, unique):
    ns = "App/" + unique
    now = datetime.datetime.now(UTC).replace(microsecond=0) - datetime.timedelta(seconds=30)
    data = [{"MetricName": "Hits", "Value": float(i + 1), "StorageResolution": 1,
             "Timestamp": now + datetime.timedelta(seconds=i), "Unit": "Count"} for i in range(5)]
    cw.put_metric_data(Namespace=ns, MetricData=data)
    r = cw.get_metric_statistics(Namespace=ns, MetricName="Hits", StartTime=now,
                                 EndTime=now + datetime.timedelta(seconds=5), Period=1,
                                 Statistics=["Sum"])
    assert sorted(d["Sum"] for d in r["Datapoints"]) == [1, 2, 3, 4, 5]


def test_get_metric_data_returns_each_query(cw, unique):
    ns = "App/" + unique
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "A", "Values": [1, 2, 3]},
        {"MetricName": "B", "Value": 10},
    ])
    start, end = window()

    def q(qid, name, stat, **kw):
        return dict(Id=qid, MetricStat={"Metric": {"Namespace": ns, "MetricName": name},
                                        "Period": 60, "Stat": stat}, **kw)

    r = cw.get_metric_data(StartTime=start, EndTime=end, ScanBy="TimestampAscending",
                           MetricDataQueries=[q("a", "A", "Sum"), q("avg", "A", "Average",
                                                                   Label="mean of A"),
                                              q("b", "B", "Maximum", ReturnData=False)])
    res = {x["Id"]: x for x in r["MetricDataResults"]}
    assert set(res) == {"a", "avg"}
    assert sum(res["a"]["Values"]) == 6 and res["a"]["StatusCode"] == "Complete"
    assert res["a"]["Label"] == "A" and res["avg"]["Label"] == "mean of A"
    if len(res["a"]["Values"]) == 1:
        assert res["avg"]["Values"] == [2.0]
    assert res["a"]["Timestamps"] == sorted(res["a"]["Timestamps"])


def test_list_metrics_filters_and_pages(cw, unique):
    ns = "Paged/" + unique
    n = 510
    for first in range(0, n, 170):
        cw.put_metric_data(Namespace=ns, MetricData=[
            {"MetricName": f"m{i:03d}", "Value": 1,
             "Dimensions": [{"Name": "Parity", "Value": "odd" if i % 2 else "even"}]}
            for i in range(first, min(n, first + 170))])
    page = cw.list_metrics(Namespace=ns)
    assert len(page["Metrics"]) == 500 and "NextToken" in page
    rest = cw.list_metrics(Namespace=ns, NextToken=page["NextToken"])
    assert "NextToken" not in rest
    names = [m["MetricName"] for m in page["Metrics"] + rest["Metrics"]]
    assert sorted(names) == [f"m{i:03d}" for i in range(n)]
    paged = [m for p in cw.get_paginator("list_metrics").paginate(Namespace=ns)
             for m in p["Metrics"]]
    assert len(paged) == n
    odd = cw.list_metrics(Namespace=ns, Dimensions=[{"Name": "Parity", "Value": "odd"}])
    assert len(odd["Metrics"]) == 255
    assert all(m["Dimensions"] == [{"Name": "Parity", "Value": "odd"}] for m in odd["Metrics"])
    one = cw.list_metrics(Namespace=ns, MetricName="m007")["Metrics"]
    assert one == [{"Namespace": ns, "MetricName": "m007",
                    "Dimensions": [{"Name": "Parity", "Value": "odd"}]}]
    assert cw.list_metrics(Namespace="Nothing/" + unique)["Metrics"] == []
    with pytest.raises(ClientError) as e:
        cw.list_metrics(Namespace=ns, NextToken="not-a-token")
    assert err(e)[0] == "InvalidParameterValue"


@pytest.mark.parametrize("kwargs,code,fragment", [
    (dict(Namespace="AWS/Kinesis", MetricData=[{"MetricName": "x", "Value": 1}]),
     "InvalidParameterValue", "Namespace"),
    (dict(Namespace="App", MetricData=[{"MetricName": "x", "Value": 1,
                                        "StatisticValues": {"SampleCount": 1, "Sum": 1,
                                                            "Minimum": 1, "Maximum": 1}}]),
     "InvalidParameterCombination", "mutually exclusive"),
    (dict(Namespace="App", MetricData=[{"MetricName": "x", "Values": [1, 2], "Counts": [1]}]),
     "InvalidParameterValue", "same size"),
    (dict(Namespace="App", MetricData=[{"MetricName": "x", "Value": 1, "StorageResolution": 5}]),
     "InvalidParameterValue", "StorageResolution"),
    (dict(Namespace="App", MetricData=[{"MetricName": "x", "Value": 1,
                                        "Timestamp": datetime.datetime(2001, 1, 1,
                                                                       tzinfo=UTC)}]),
     "InvalidParameterValue", "Timestamp"),
])
def test_put_metric_data_errors(cw, kwargs, code, fragment):
    with pytest.raises(ClientError) as e:
        cw.put_metric_data(**kwargs)
    got_code, message = err(e)
    assert got_code == code and fragment in message
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_get_metric_statistics_errors(cw):
    start, end = window()
    base = dict(Namespace="App", MetricName="x", StartTime=start, EndTime=end, Period=60)
    cases = [
        (dict(base, Statistics=["Median"]), "InvalidParameterValue", "Statistics.member.1"),
        (dict(base, Statistics=["Sum"], Period=45), "InvalidParameterValue", "Period"),
        (dict(base, Statistics=["Sum"], StartTime=end, EndTime=start), "InvalidParameterValue",
         "StartTime"),
        (dict(base), "InvalidParameterCombination", "Statistics or ExtendedStatistics"),
        (dict(base, Statistics=["Sum"], ExtendedStatistics=["p99"]),
         "InvalidParameterCombination", "Statistics or ExtendedStatistics"),
        (dict(base, ExtendedStatistics=["p101"]), "InvalidParameterValue",
         "ExtendedStatistics.member.1"),
        (dict(base, ExtendedStatistics=["q50"]), "InvalidParameterValue",
         "ExtendedStatistics.member.1"),
        (dict(base, Statistics=["Sum"], Period=1, StartTime=start - datetime.timedelta(days=1)),
         "InvalidParameterCombination", "1,440"),
    ]
    for kwargs, code, fragment in cases:
        with pytest.raises(ClientError) as e:
            cw.get_metric_statistics(**kwargs)
        got_code, message = err(e)
        assert (got_code, fragment in message) == (code, True), (kwargs, message)


def test_get_metric_data_errors(cw):
    start, end = window()
    stat = {"Metric": {"Namespace": "App", "MetricName": "x"}, "Period": 60, "Stat": "Sum"}
    cases = [
        ([{"Id": "a", "MetricStat": stat}, {"Id": "a", "MetricStat": stat}],
         "InvalidParameterValue", "unique"),
        ([{"Id": "Upper", "MetricStat": stat}], "InvalidParameterValue", "lowercase"),
        ([{"Id": "e", "Expression": "STDDEV(a)"}, {"Id": "a", "MetricStat": stat}],
         "InvalidParameterValue", "not supported"),
        ([{"Id": "e", "Expression": "FILL(a)"}, {"Id": "a", "MetricStat": stat}],
         "InvalidParameterValue", "arguments"),
        ([{"Id": "e", "Expression": "FILL(2, 0)"}], "InvalidParameterValue", "time series"),
        ([{"Id": "e", "Expression": "a + zz"}, {"Id": "a", "MetricStat": stat}],
         "InvalidParameterValue", "zz"),
        ([{"Id": "e", "Expression": "f + 1"}, {"Id": "f", "Expression": "e * 2"}],
         "InvalidParameterValue", "Circular"),
        ([{"Id": "e", "Expression": "(1 + "}], "InvalidParameterValue", "expression"),
        ([{"Id": "e", "Expression": "1 + " * 600 + "1"}], "ValidationError", "2048"),
        ([{"Id": "a", "MetricStat": dict(stat, Stat="tm99")}], "InvalidParameterValue",
         "Stat"),
    ]
    for queries, code, fragment in cases:
        with pytest.raises(ClientError) as e:
            cw.get_metric_data(StartTime=start, EndTime=end, MetricDataQueries=queries)
        assert err(e)[0] == code and fragment in err(e)[1], (queries, err(e))


def test_get_metric_data_expressions(cw, unique):
    ns = "Math/" + unique
    at = datetime.datetime.now(UTC) - datetime.timedelta(minutes=2)
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "A", "Values": [1, 2, 3], "Timestamp": at},
        {"MetricName": "B", "Value": 10, "Timestamp": at},
    ])
    start, end = window()

    def q(qid, name):
        return {"Id": qid, "ReturnData": False, "MetricStat": {
            "Metric": {"Namespace": ns, "MetricName": name}, "Period": 60, "Stat": "Sum"}}

    exprs = {"plus": "a + b", "sum": "SUM([a, b])", "avg": "AVG([a, b])",
             "mix": "(a * 2 - b) / 2", "max": "MAX([a, b])", "nested": "plus / 4"}
    r = cw.get_metric_data(StartTime=start, EndTime=end, MetricDataQueries=[
        q("a", "A"), q("b", "B")] + [{"Id": k, "Expression": v} for k, v in exprs.items()])
    got = {x["Id"]: x["Values"] for x in r["MetricDataResults"]}
    assert got == {"plus": [16.0], "sum": [16.0], "avg": [8.0], "mix": [1.0], "max": [10.0],
                   "nested": [4.0]}


def test_rate_diff_fill_and_if(cw, unique):
    """Per minute 10, 70, (none), 190 from five minutes ago: RATE is the change per second
    between points, DIFF the change, FILL gives the missing minutes a value (or repeats the
    last), IF picks per point by a comparison."""
    ns = "Math2/" + unique
    t0 = datetime.datetime.now(UTC).replace(second=0, microsecond=0) - datetime.timedelta(
        minutes=6)
    minute = [t0 + datetime.timedelta(minutes=k) for k in range(6)]
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "M", "Value": v, "Timestamp": minute[k]}
        for k, v in ((1, 10), (2, 70), (4, 190))])
    m = {"Id": "m", "ReturnData": False, "MetricStat": {
        "Metric": {"Namespace": ns, "MetricName": "M"}, "Period": 60, "Stat": "Sum"}}
    exprs = {"rate": "RATE(m)", "diff": "DIFF(m)", "zero": "FILL(m, 0)",
             "repeat": "FILL(m, REPEAT)", "pick": "IF(m > 50, m, 0)", "only": "IF(m > 50, m)",
             "cmp": "m >= 70", "math": "RATE(m) * 60 + 1"}
    r = cw.get_metric_data(StartTime=minute[0], EndTime=minute[5], ScanBy="TimestampAscending",
                           MetricDataQueries=[m] + [{"Id": k, "Expression": v}
                                                    for k, v in exprs.items()])
    got = {x["Id"]: ([t.timestamp() for t in x["Timestamps"]], x["Values"])
           for x in r["MetricDataResults"]}
    at = [t.timestamp() for t in minute]
    assert got["rate"] == ([at[2], at[4]], [1.0, 1.0])  # 60 in 60 s, 120 in 120 s
    assert got["diff"] == ([at[2], at[4]], [60.0, 120.0])
    assert got["zero"] == (at[:5], [0.0, 10.0, 70.0, 0.0, 190.0])
    assert got["repeat"] == (at[1:5], [10.0, 70.0, 70.0, 190.0])
    assert got["pick"] == ([at[1], at[2], at[4]], [0.0, 70.0, 190.0])
    assert got["only"] == ([at[2], at[4]], [70.0, 190.0])
    assert got["cmp"] == ([at[1], at[2], at[4]], [0.0, 1.0, 1.0])
    assert got["math"] == ([at[2], at[4]], [61.0, 61.0])


def test_the_cli_reads_statistics_and_lists(sl, cw, unique):
    ns = "Cli/" + unique
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "Orders", "Dimensions": [{"Name": "Shop", "Value": "s1"}], "Value": v}
        for v in (4, 6)])
    start, end = window()
    r = sl.aws("cloudwatch", "get-metric-statistics", "--namespace", ns, "--metric-name",
               "Orders", "--dimensions", "Name=Shop,Value=s1", "--start-time",
               start.isoformat(), "--end-time", end.isoformat(), "--period", "3600",
               "--statistics", "Sum", "Average", "SampleCount")
    assert total(r["Datapoints"]) == 10 and total(r["Datapoints"], "SampleCount") == 2
    listed = sl.aws("cloudwatch", "list-metrics", "--namespace", ns)
    assert listed["Metrics"] == [{"Namespace": ns, "MetricName": "Orders",
                                  "Dimensions": [{"Name": "Shop", "Value": "s1"}]}]
    # get-metric-data: the sum, and an expression over it.
    queries = [{"Id": "o", "MetricStat": {"Metric": {
        "Namespace": ns, "MetricName": "Orders", "Dimensions": [{"Name": "Shop", "Value": "s1"}]},
        "Period": 3600, "Stat": "Sum"}}, {"Id": "twice", "Expression": "IF(o > 5, o * 2, 0)"}]
    r = sl.aws("cloudwatch", "get-metric-data", "--start-time", start.isoformat(),
               "--end-time", end.isoformat(), "--metric-data-queries", json.dumps(queries))
    got = {x["Id"]: x["Values"] for x in r["MetricDataResults"]}
    assert got == {"o": [10.0], "twice": [20.0]}


def sample_until(sl, cw, ns, name, dims, expected, timeout=30):
    """Asks the sampler to run (SIGUSR1) until the metric's sum is expected; returns it."""
    deadline = time.time() + timeout
    got = None
    while time.time() < deadline:
        sl.proc.send_signal(signal.SIGUSR1)
        got = total(stats(cw, ns, name, dims, period=3600, statistics=["Sum"])["Datapoints"])
        if got == expected:
            return got
        time.sleep(0.2)
    return got


def test_kinesis_incoming_records_and_bytes_are_published(sl, cw, unique):
    kin = sl.client("kinesis")
    name = "cw-" + unique
    kin.create_stream(StreamName=name, ShardCount=2)
    kin.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})
    sizes = [1 + (i * 37) % 900 for i in range(250)]
    for first in range(0, len(sizes), 100):
        r = kin.put_records(StreamName=name, Records=[
            {"Data": b"x" * s, "PartitionKey": f"k{first + i}"}
            for i, s in enumerate(sizes[first:first + 100])])
        assert r["FailedRecordCount"] == 0
    kin.put_record(StreamName=name, Data=b"0123456789", PartitionKey="one")
    dims = [{"Name": "StreamName", "Value": name}]
    n, nbytes = len(sizes) + 1, sum(sizes) + 10
    assert sample_until(sl, cw, "AWS/Kinesis", "IncomingRecords", dims, n) == n
    assert sample_until(sl, cw, "AWS/Kinesis", "IncomingBytes", dims, nbytes) == nbytes
    units = {d["Unit"] for d in stats(cw, "AWS/Kinesis", "IncomingBytes", dims,
                                      period=3600)["Datapoints"]}
    assert units == {"Bytes"}
    listed = cw.list_metrics(Namespace="AWS/Kinesis", Dimensions=[dict(dims[0])])["Metrics"]
    assert {m["MetricName"] for m in listed} == {
        "IncomingBytes", "IncomingRecords", "PutRecord.Bytes", "PutRecord.Latency",
        "PutRecord.Success", "PutRecords.Bytes", "PutRecords.Latency", "PutRecords.Success",
        "PutRecords.TotalRecords", "PutRecords.SuccessfulRecords", "PutRecords.FailedRecords",
        "PutRecords.ThrottledRecords"}
    # More records later add to the sums; nothing is counted twice.
    kin.put_record(StreamName=name, Data=b"abc", PartitionKey="two")
    assert sample_until(sl, cw, "AWS/Kinesis", "IncomingRecords", dims, n + 1) == n + 1
    assert sample_until(sl, cw, "AWS/Kinesis", "IncomingBytes", dims, nbytes + 3) == nbytes + 3


def test_firehose_incoming_records_are_published(sl, cw, unique):
    fh, s3 = sl.client("firehose"), sl.client("s3")
    name = "cwf-" + unique
    s3.create_bucket(Bucket=name)
    fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration={
        "RoleARN": "arn:aws:iam::000000000000:role/firehose", "BucketARN": f"arn:aws:s3:::{name}"})
    deadline = time.time() + 30
    while fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"][
            "DeliveryStreamStatus"] != "ACTIVE" and time.time() < deadline:
        time.sleep(0.1)
    records = [b"r%03d\n" % i for i in range(40)]
    assert fh.put_record_batch(DeliveryStreamName=name,
                               Records=[{"Data": d} for d in records])["FailedPutCount"] == 0
    dims = [{"Name": "DeliveryStreamName", "Value": name}]
    assert sample_until(sl, cw, "AWS/Firehose", "IncomingRecords", dims, 40) == 40
    nbytes = sum(len(d) for d in records)
    assert sample_until(sl, cw, "AWS/Firehose", "IncomingBytes", dims, nbytes) == nbytes
    # One call stored them (IncomingPutRequests); none refused, so no ThrottledRecords datapoint.
    assert sample_until(sl, cw, "AWS/Firehose", "IncomingPutRequests", dims, 1) == 1
    assert stats(cw, "AWS/Firehose", "ThrottledRecords", dims, period=3600)["Datapoints"] == []
    # Sluice's own: the buffer at each sample, between empty and the 40 records.
    deadline, buffered = time.time() + 30, []
    while not buffered and time.time() < deadline:  # a sample may be under way: wait for it
        sl.proc.send_signal(signal.SIGUSR1)
        time.sleep(0.2)
        buffered = stats(cw, "Sluice/Firehose", "BufferedRecords", dims, period=3600)[
            "Datapoints"]
    assert buffered and 0 <= buffered[0]["Minimum"] <= buffered[0]["Maximum"] <= 40
    assert buffered[0]["Unit"] == "Count"
    # PutRecord.* and PutRecordBatch.*: the calls, their records and bytes, one latency
    # sample per call.
    for data in (b"one", b"twotwo"):
        fh.put_record(DeliveryStreamName=name, Record={"Data": data})
    deadline, lat = time.time() + 30, []
    while total(lat, "SampleCount") < 2 and time.time() < deadline:
        sl.proc.send_signal(signal.SIGUSR1)
        time.sleep(0.2)
        lat = stats(cw, "AWS/Firehose", "PutRecord.Latency", dims, period=3600)["Datapoints"]
    assert total(lat, "SampleCount") == 2 and {d["Unit"] for d in lat} == {"Milliseconds"}
    batch_lat = stats(cw, "AWS/Firehose", "PutRecordBatch.Latency", dims, period=3600)[
        "Datapoints"]
    assert total(batch_lat, "SampleCount") == 1
    for metric, want in (("PutRecord.Requests", 2), ("PutRecord.Bytes", 9),
                         ("PutRecordBatch.Requests", 1), ("PutRecordBatch.Records", 40),
                         ("PutRecordBatch.Bytes", nbytes), ("IncomingPutRequests", 3)):
        assert sample_until(sl, cw, "AWS/Firehose", metric, dims, want) == want, metric


def test_metrics_survive_a_restart(fresh_sluice, unique):
    fresh_sluice.start()
    ns = "Durable/" + unique
    fresh_sluice.client("cloudwatch").put_metric_data(
        Namespace=ns, MetricData=[{"MetricName": "Kept", "Value": 7}])
    fresh_sluice.restart()
    cw = fresh_sluice.client("cloudwatch")
    assert total(stats(cw, ns, "Kept", [], period=3600)["Datapoints"]) == 7
    assert [m["MetricName"] for m in cw.list_metrics(Namespace=ns)["Metrics"]] == ["Kept"]


def test_athena_publishes_per_workgroup_that_asks(sl, cw, unique):
    athena, s3 = sl.client("athena"), sl.client("s3")
    bucket, on, off = "cwa-" + unique, "pub-" + unique, "quiet-" + unique
    s3.create_bucket(Bucket=bucket)
    for wg, publish in ((on, True), (off, False)):
        athena.create_work_group(Name=wg, Configuration={
            "ResultConfiguration": {"OutputLocation": f"s3://{bucket}/{wg}/"},
            "PublishCloudWatchMetricsEnabled": publish})

    def run(wg):
        qid = athena.start_query_execution(QueryString="SELECT 1", WorkGroup=wg)[
            "QueryExecutionId"]
        deadline = time.time() + 60
        while time.time() < deadline:
            qe = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
            if qe["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                return qe
            time.sleep(0.05)
        raise AssertionError(qid)

    done = [run(on), run(on), run(off)]
    assert all(q["Status"]["State"] == "SUCCEEDED" for q in done)
    dims = [{"Name": "QueryState", "Value": "SUCCEEDED"}, {"Name": "QueryType", "Value": "DML"},
            {"Name": "WorkGroup", "Value": on}]
    deadline, got = time.time() + 30, []
    while time.time() < deadline and total(got, "SampleCount") < 2:
        sl.proc.send_signal(signal.SIGUSR1)
        got = stats(cw, "AWS/Athena", "TotalExecutionTime", dims, period=3600)["Datapoints"]
        time.sleep(0.2)
    assert total(got, "SampleCount") == 2
    assert total(got) == sum(q["Statistics"]["TotalExecutionTimeInMillis"] for q in done[:2])
    assert {d["Unit"] for d in got} == {"Milliseconds"}
    engine = stats(cw, "AWS/Athena", "EngineExecutionTime", dims, period=3600)["Datapoints"]
    assert total(engine) == sum(q["Statistics"]["EngineExecutionTimeInMillis"] for q in done[:2])
    scanned = stats(cw, "AWS/Athena", "ProcessedBytes", dims, period=3600)["Datapoints"]
    assert total(scanned) == sum(q["Statistics"]["DataScannedInBytes"] for q in done[:2])
    assert {d["Unit"] for d in scanned} == {"Bytes"}
    # The six metrics, each once per query; the service's time is the runtime statistics'.
    names = {m["MetricName"] for m in cw.list_metrics(Namespace="AWS/Athena",
                                                      Dimensions=dims)["Metrics"]}
    assert names == {"ProcessedBytes", "EngineExecutionTime", "QueryQueueTime",
                     "QueryPlanningTime", "ServiceProcessingTime", "TotalExecutionTime"}
    timelines = [athena.get_query_runtime_statistics(QueryExecutionId=q["QueryExecutionId"])[
        "QueryRuntimeStatistics"]["Timeline"] for q in done[:2]]
    for metric, field in (("ServiceProcessingTime", "ServiceProcessingTimeInMillis"),
                          ("QueryQueueTime", "QueryQueueTimeInMillis")):
        got = stats(cw, "AWS/Athena", metric, dims, period=3600)["Datapoints"]
        assert total(got, "SampleCount") == 2, metric
        assert total(got) == sum(t[field] for t in timelines), metric
    planning = stats(cw, "AWS/Athena", "QueryPlanningTime", dims, period=3600)["Datapoints"]
    assert total(planning, "SampleCount") == 2 and total(planning) == sum(
        q["Statistics"]["QueryPlanningTimeInMillis"] for q in done[:2])
    quiet = cw.list_metrics(Namespace="AWS/Athena",
                            Dimensions=[{"Name": "WorkGroup", "Value": off}])["Metrics"]
    assert quiet == []


def test_percentiles_from_values_counts_and_single_values(cw, unique):
    ns, dims = "Pct/" + unique, [{"Name": "Op", "Value": "get"}]
    at = datetime.datetime.now(UTC).replace(second=0, microsecond=0) - datetime.timedelta(
        minutes=3)
    # 1..100, given as Values/Counts (1..90 once each), single values and an equal-valued set.
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "Lat", "Dimensions": dims, "Timestamp": at,
         "Values": [float(v) for v in range(1, 91)], "Counts": [1.0] * 90},
        *[{"MetricName": "Lat", "Dimensions": dims, "Timestamp": at, "Value": float(v)}
          for v in range(91, 96)],
        {"MetricName": "Lat", "Dimensions": dims, "Timestamp": at,
         "StatisticValues": {"SampleCount": 1, "Sum": 96, "Minimum": 96, "Maximum": 96}},
        {"MetricName": "Lat", "Dimensions": dims, "Timestamp": at,
         "Values": [97, 98, 99, 100]},
    ])
    start, end = window()
    r = cw.get_metric_statistics(Namespace=ns, MetricName="Lat", Dimensions=dims,
                                 StartTime=start, EndTime=end, Period=60,
                                 ExtendedStatistics=["p50", "p90", "p99", "p99.5", "p100"])
    [dp] = r["Datapoints"]
    assert dp["ExtendedStatistics"] == {"p50": 50.0, "p90": 90.0, "p99": 99.0,
                                        "p99.5": 100.0, "p100": 100.0}
    assert "Sum" not in dp
    q = [{"Id": f"p{n}", "MetricStat": {"Metric": {"Namespace": ns, "MetricName": "Lat",
                                                   "Dimensions": dims},
                                        "Period": 60, "Stat": f"p{n}"}} for n in (50, 99)]
    got = {x["Id"]: x["Values"] for x in cw.get_metric_data(
        StartTime=start, EndTime=end, MetricDataQueries=q)["MetricDataResults"]}
    assert got == {"p50": [50.0], "p99": [99.0]}
    # A statistic set of unequal values has no values to rank: no percentile for its period.
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "Set", "Timestamp": at,
         "StatisticValues": {"SampleCount": 3, "Sum": 6, "Minimum": 1, "Maximum": 3}}])
    r = cw.get_metric_statistics(Namespace=ns, MetricName="Set", StartTime=start, EndTime=end,
                                 Period=60, ExtendedStatistics=["p50"])
    assert [d.get("ExtendedStatistics", {}) for d in r["Datapoints"]] == [{}]
