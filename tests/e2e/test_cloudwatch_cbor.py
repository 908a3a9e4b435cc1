"""CloudWatch in Smithy RPC v2 CBOR, the first protocol CloudWatch's current model lists
(botocore itself still prefers JSON, so the client here is made to choose CBOR): metric
data and statistics, GetMetricData's timestamps, alarms and errors, checked to have
travelled as /service/GraniteServiceVersion20100801/operation/<Op> with CBOR bodies.
Botocore releases without RPC v2 CBOR skip the file.
"""
import datetime
import json

import pytest
from botocore.exceptions import ClientError

try:
    from botocore.serialize import RpcV2CBORSerializer  # noqa: F401
    import botocore.model
except ImportError:
    pytest.skip("this botocore does not speak Smithy RPC v2 CBOR", allow_module_level=True)

UTC = datetime.timezone.utc


@pytest.fixture(scope="module")
def cw(sluice):
    saved = botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS
    botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS = ("smithy-rpc-v2-cbor",) + tuple(
        p for p in saved if p != "smithy-rpc-v2-cbor")
    try:
        client = sluice.client("cloudwatch")
    finally:
        botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS = saved
    assert client.meta.service_model.resolved_protocol == "smithy-rpc-v2-cbor"
    sent = []

    def record(request, **_):
        sent.append((request.url, dict(request.headers)))

    def answered(http_response, **_):
        sent.append(("response", {k.lower(): v for k, v in http_response.headers.items()}))

    client.meta.events.register("before-send.cloudwatch", record)
    client.meta.events.register("after-call.cloudwatch", answered)
    client.sent = sent
    return client


def window():
    now = datetime.datetime.now(UTC)
    return now - datetime.timedelta(minutes=10), now + datetime.timedelta(minutes=10)


def test_requests_and_answers_are_rpc_v2_cbor(cw, unique):
    cw.sent.clear()
    cw.put_metric_data(Namespace="Cbor/" + unique, MetricData=[{"MetricName": "m", "Value": 1}])
    url, headers = cw.sent[0]
    assert url.endswith("/service/GraniteServiceVersion20100801/operation/PutMetricData")
    assert headers["smithy-protocol"] in (b"rpc-v2-cbor", "rpc-v2-cbor")
    assert "X-Amz-Target" not in headers
    _, answer = cw.sent[1]
    assert answer["smithy-protocol"] == "rpc-v2-cbor"
    assert answer["content-type"] == "application/cbor"


def test_statistics_and_metric_data_round_trip(cw, unique):
    ns = "Cbor/" + unique
    at = datetime.datetime.now(UTC).replace(second=0, microsecond=0) - datetime.timedelta(
        minutes=2)
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "Lat", "Timestamp": at, "Values": [1.5, 2.5, 10], "Counts": [2, 1, 1],
         "Unit": "Milliseconds", "Dimensions": [{"Name": "Op", "Value": "get"}]}])
    start, end = window()
    dims = [{"Name": "Op", "Value": "get"}]
    r = cw.get_metric_statistics(Namespace=ns, MetricName="Lat", Dimensions=dims,
                                 StartTime=start, EndTime=end, Period=60,
                                 Statistics=["Sum", "SampleCount", "Maximum"])
    [dp] = r["Datapoints"]
    assert dp["Timestamp"] == at
    assert (dp["Sum"], dp["SampleCount"], dp["Maximum"], dp["Unit"]) == (15.5, 4.0, 10.0,
                                                                        "Milliseconds")
    p = cw.get_metric_statistics(Namespace=ns, MetricName="Lat", Dimensions=dims,
                                 StartTime=start, EndTime=end, Period=60,
                                 ExtendedStatistics=["p50"])["Datapoints"]
    assert p[0]["ExtendedStatistics"] == {"p50": 1.5}
    q = {"Id": "a", "MetricStat": {"Metric": {"Namespace": ns, "MetricName": "Lat",
                                              "Dimensions": dims},
                                   "Period": 60, "Stat": "Sum"}}
    res = cw.get_metric_data(StartTime=start, EndTime=end, MetricDataQueries=[
        q, {"Id": "b", "Expression": "a * 2"}])["MetricDataResults"]
    assert [(x["Id"], x["Timestamps"], x["Values"]) for x in res] == [
        ("a", [at], [15.5]), ("b", [at], [31.0])]
    listed = cw.list_metrics(Namespace=ns)["Metrics"]
    assert listed == [{"Namespace": ns, "MetricName": "Lat", "Dimensions": dims}]


def test_alarms_and_errors(cw, unique):
    name = "cbor-" + unique
    cw.put_metric_alarm(AlarmName=name, Namespace="Cbor/" + unique, MetricName="m",
                        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=3,
                        ComparisonOperator="GreaterThanThreshold")
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="cbor",
                       StateReasonData=json.dumps({"x": 1}))
    [a] = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert (a["StateValue"], a["Threshold"], a["Period"]) == ("ALARM", 3.0, 60)
    assert isinstance(a["StateUpdatedTimestamp"], datetime.datetime)
    assert abs((datetime.datetime.now(UTC) - a["StateUpdatedTimestamp"]).total_seconds()) < 600
    items = cw.describe_alarm_history(AlarmName=name)["AlarmHistoryItems"]
    assert [i["HistoryItemType"] for i in items] == ["StateUpdate", "ConfigurationUpdate"]
    with pytest.raises(ClientError) as e:
        cw.set_alarm_state(AlarmName="none-" + unique, StateValue="OK", StateReason="x")
    assert e.value.response["Error"]["Code"] == "ResourceNotFound"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as e:
        cw.put_metric_alarm(AlarmName=name, Namespace="N", MetricName="m", Statistic="Sum",
                            Period=45, EvaluationPeriods=1, Threshold=3,
                            ComparisonOperator="GreaterThanThreshold")
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "Period" in e.value.response["Error"]["Message"]


def test_composite_alarm(cw, unique):
    child, parent = "cbc-" + unique, "cbp-" + unique
    cw.put_metric_alarm(AlarmName=child, Namespace="Cbor/" + unique, MetricName="m",
                        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=3,
                        ComparisonOperator="GreaterThanThreshold")
    cw.put_composite_alarm(AlarmName=parent, AlarmRule=f"ALARM({child})")
    cw.set_alarm_state(AlarmName=child, StateValue="ALARM", StateReason="cbor")
    r = cw.describe_alarms(AlarmNames=[parent], AlarmTypes=["CompositeAlarm"])
    [a] = r["CompositeAlarms"]
    assert (a["StateValue"], a["AlarmRule"]) == ("ALARM", f"ALARM({child})")
    assert isinstance(a["StateTransitionedTimestamp"], datetime.datetime)
    with pytest.raises(ClientError) as e:
        cw.put_composite_alarm(AlarmName=parent, AlarmRule="ALARM(")
    assert e.value.response["Error"]["Code"] == "ValidationError"
    cw.delete_alarms(AlarmNames=[parent, child])
