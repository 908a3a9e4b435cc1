"""CloudWatch alarms end to end: an alarm on AWS/Kinesis WriteProvisionedThroughputExceeded
that goes to ALARM when a stream is throttled, alarms on an application's metrics evaluated
on their periods (DatapointsToAlarm, TreatMissingData), SetAlarmState, the history with its
recorded actions, DescribeAlarms' filters and paging, DescribeAlarmsForMetric, DeleteAlarms,
Enable/DisableAlarmActions, AWS's validation errors, the AWS CLI, and alarms kept across a
restart.

The evaluator runs after every sample of the metrics: once a minute, and at once on SIGUSR1
(a Sluice extension), which the tests send while they poll.
"""
import datetime
import json
import signal
import time

import pytest
from botocore.exceptions import ClientError

from conftest import Sluice

TOPIC = "arn:aws:sns:us-east-1:000000000000:ops"


@pytest.fixture(scope="module")
def sl():
    server = Sluice().start()  # throughput limits on: the throttle test needs them
    yield server
    code = server.stop()
    log = server.read_log()
    server.cleanup()
    assert code == 0, f"server exited {code}:\n{log}"


@pytest.fixture(scope="module")
def cw(sl):
    return sl.client("cloudwatch")


def err(e):
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def alarm(cw, name):
    found = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert len(found) == 1
    return found[0]


def wait_state(sl, cw, name, state, timeout=60):
    """Asks for evaluations (SIGUSR1) until the alarm is in state; returns it."""
    deadline = time.time() + timeout
    a = alarm(cw, name)
    while time.time() < deadline and a["StateValue"] != state:
        sl.proc.send_signal(signal.SIGUSR1)
        time.sleep(0.3)
        a = alarm(cw, name)
    assert a["StateValue"] == state, a
    return a


def history(cw, name, kind=None):
    kw = {"HistoryItemType": kind} if kind else {}
    return cw.describe_alarm_history(AlarmName=name, **kw)["AlarmHistoryItems"]


def put_alarm(cw, name, ns, metric="Errors", **kw):
    args = dict(AlarmName=name, Namespace=ns, MetricName=metric, Statistic="Sum", Period=60,
                EvaluationPeriods=2, DatapointsToAlarm=1, Threshold=10,
                ComparisonOperator="GreaterThanThreshold")
    args.update(kw)
    cw.put_metric_alarm(**{k: v for k, v in args.items() if v is not None})


def test_alarm_goes_to_alarm_when_a_stream_is_throttled(sl, cw, unique):
    kin = sl.client("kinesis")
    stream = "thr-" + unique
    kin.create_stream(StreamName=stream, ShardCount=1)
    kin.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.2})
    name = "throttled-" + unique
    dims = [{"Name": "StreamName", "Value": stream}]
    cw.put_metric_alarm(AlarmName=name, AlarmDescription="writes refused",
                        Namespace="AWS/Kinesis", MetricName="WriteProvisionedThroughputExceeded",
                        Dimensions=dims, Statistic="Sum", Period=60, EvaluationPeriods=1,
                        Threshold=0, ComparisonOperator="GreaterThanThreshold",
                        TreatMissingData="notBreaching", AlarmActions=[TOPIC])
    a = alarm(cw, name)
    assert a["StateValue"] == "INSUFFICIENT_DATA"
    assert a["StateReason"] == "Unchecked: Initial alarm creation"
    assert a["AlarmArn"] == f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{name}"
    assert a["ActionsEnabled"] is True and a["AlarmActions"] == [TOPIC]
    assert a["Dimensions"] == dims and a["Period"] == 60 and a["Threshold"] == 0.0
    # Nothing refused yet: missing data is not breaching, so OK.
    ok = wait_state(sl, cw, name, "OK")
    assert ok["StateReason"].startswith("Threshold Crossed: no datapoints were received")
    # One shard takes 1,000 records a second: far more in a burst are refused.
    refused, deadline = 0, time.time() + 30
    while refused == 0 and time.time() < deadline:
        for _ in range(4):
            r = kin.put_records(StreamName=stream, Records=[
                {"Data": b"x" * 100, "PartitionKey": str(i)} for i in range(500)])
            refused += r["FailedRecordCount"]
    assert refused > 0
    a = wait_state(sl, cw, name, "ALARM")
    assert a["StateReason"].startswith("Threshold Crossed: 1 datapoint [")
    assert a["StateReason"].endswith("] was greater than the threshold (0.0).")
    data = json.loads(a["StateReasonData"])
    assert data["statistic"] == "Sum" and data["period"] == 60 and data["threshold"] == 0.0
    assert 0 < data["recentDatapoints"][0] <= refused
    # The published metric is the count of refused records.
    got = cw.get_metric_statistics(Namespace="AWS/Kinesis",
                                   MetricName="WriteProvisionedThroughputExceeded",
                                   Dimensions=dims, StartTime=time.time() - 600,
                                   EndTime=time.time() + 600, Period=3600,
                                   Statistics=["Sum"])["Datapoints"]
    assert sum(d["Sum"] for d in got) == refused
    states = history(cw, name, "StateUpdate")
    assert states[0]["HistorySummary"] == "Alarm updated from OK to ALARM"
    new = json.loads(states[0]["HistoryData"])["newState"]
    assert new["stateValue"] == "ALARM" and new["stateReason"] == a["StateReason"]
    actions = history(cw, name, "Action")
    assert len(actions) == 1 and TOPIC in actions[0]["HistorySummary"]


def test_datapoints_to_alarm_and_missing_data(sl, cw, unique):
    ns = "App/" + unique
    put_alarm(cw, "m-" + unique, ns)                                 # missing: no data, no state
    put_alarm(cw, "b-" + unique, ns, TreatMissingData="breaching")   # missing counts as bad
    put_alarm(cw, "n-" + unique, ns, TreatMissingData="notBreaching")
    assert wait_state(sl, cw, "b-" + unique, "ALARM")["StateReason"] == (
        "Threshold Crossed: no datapoints were received for 2 periods and 2 missing datapoints"
        " were treated as [Breaching].")
    wait_state(sl, cw, "n-" + unique, "OK")
    sl.proc.send_signal(signal.SIGUSR1)
    m = wait_state(sl, cw, "m-" + unique, "INSUFFICIENT_DATA")
    assert m["StateReason"] == "Unchecked: Initial alarm creation"  # never evaluated to a change
    # One datapoint over the threshold is enough (DatapointsToAlarm 1 of 2).
    cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "Errors", "Value": 11}])
    for prefix in ("m-", "n-"):
        a = wait_state(sl, cw, prefix + unique, "ALARM")
        assert a["StateReason"].startswith("Threshold Crossed: 1 out of the last 2 datapoints [11.0 (")
        assert a["StateReason"].endswith(")] was greater than the threshold (10.0) (minimum 1"
                                         " datapoint for OK -> ALARM transition).")


def test_percentile_alarm(sl, cw, unique):
    ns, name = "App/" + unique, "pct-" + unique
    put_alarm(cw, name, ns, metric="Latency", Statistic=None, ExtendedStatistic="p90",
              Threshold=50, EvaluateLowSampleCountPercentile="evaluate")
    a = alarm(cw, name)
    assert a["ExtendedStatistic"] == "p90" and "Statistic" not in a
    # p90 of 1..100 is 90: over 50, though the median is not.
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "Latency", "Values": [float(v) for v in range(1, 101)]}])
    a = wait_state(sl, cw, name, "ALARM")
    assert "[90.0 (" in a["StateReason"]
    assert json.loads(a["StateReasonData"])["extendedStatistic"] == "p90"


def test_metric_math_alarm(sl, cw, unique):
    ns, name = "App/" + unique, "ratio-" + unique

    def stat(qid, metric):
        return {"Id": qid, "ReturnData": False, "MetricStat": {
            "Metric": {"Namespace": ns, "MetricName": metric}, "Period": 60, "Stat": "Sum"}}

    metrics = [stat("errors", "Errors"), stat("requests", "Requests"),
               {"Id": "ratio", "Expression": "100 * errors / requests", "Label": "Error %"}]
    cw.put_metric_alarm(AlarmName=name, Metrics=metrics, EvaluationPeriods=2,
                        DatapointsToAlarm=1, Threshold=5,
                        ComparisonOperator="GreaterThanThreshold")
    a = alarm(cw, name)
    assert [m["Id"] for m in a["Metrics"]] == ["errors", "requests", "ratio"]
    assert a["Metrics"][0]["MetricStat"]["Period"] == 60
    assert a["Metrics"][0]["ReturnData"] is False and "MetricName" not in a
    at = datetime.datetime.now(datetime.timezone.utc)  # one minute for both: one ratio
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "Requests", "Value": 200, "Timestamp": at},
        {"MetricName": "Errors", "Value": 4, "Timestamp": at}])
    wait_state(sl, cw, name, "OK")  # 2 %
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "Errors", "Value": 16, "Timestamp": at}])
    a = wait_state(sl, cw, name, "ALARM")  # 10 %
    assert "was greater than the threshold (5.0)" in a["StateReason"]
    bad = [dict(metrics[0]), {"Id": "ratio", "Expression": "errors +"}]
    with pytest.raises(ClientError) as e:
        cw.put_metric_alarm(AlarmName=name + "x", Metrics=bad, EvaluationPeriods=1,
                            Threshold=5, ComparisonOperator="GreaterThanThreshold")
    assert err(e)[0] == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        cw.put_metric_alarm(AlarmName=name + "x", Metrics=metrics, Namespace=ns,
                            EvaluationPeriods=1, Threshold=5,
                            ComparisonOperator="GreaterThanThreshold")
    assert err(e)[0] == "InvalidParameterCombination"


def test_set_state_history_and_actions(sl, cw, unique):
    ns, name = "App/" + unique, "s-" + unique
    put_alarm(cw, name, ns, OKActions=[TOPIC], AlarmActions=[TOPIC + "2"])
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="drill",
                       StateReasonData=json.dumps({"by": "test"}))
    a = alarm(cw, name)
    assert (a["StateValue"], a["StateReason"]) == ("ALARM", "drill")
    assert json.loads(a["StateReasonData"]) == {"by": "test"}
    with pytest.raises(ClientError) as e:
        cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="x",
                           StateReasonData="{not json")
    assert err(e)[0] == "InvalidFormat"
    with pytest.raises(ClientError) as e:
        cw.set_alarm_state(AlarmName="none-" + unique, StateValue="OK", StateReason="x")
    assert err(e)[0] == "ResourceNotFound"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    cw.disable_alarm_actions(AlarmNames=[name])
    assert alarm(cw, name)["ActionsEnabled"] is False
    cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="quiet")
    cw.enable_alarm_actions(AlarmNames=[name, "none-" + unique])  # unknown names are ignored
    assert alarm(cw, name)["ActionsEnabled"] is True
    items = history(cw, name)
    kinds = [i["HistoryItemType"] for i in items]  # newest first
    assert kinds[-1] == "ConfigurationUpdate"
    assert items[-1]["HistorySummary"] == f'Alarm "{name}" created'
    assert [i["HistorySummary"] for i in items if i["HistoryItemType"] == "StateUpdate"] == [
        "Alarm updated from ALARM to OK", "Alarm updated from INSUFFICIENT_DATA to ALARM"]
    # Actions recorded for the ALARM transition (enabled then), none for OK (disabled).
    actions = [i["HistorySummary"] for i in items if i["HistoryItemType"] == "Action"]
    assert len(actions) == 1 and TOPIC + "2" in actions[0]
    oldest = cw.describe_alarm_history(AlarmName=name, ScanBy="TimestampAscending",
                                       MaxRecords=1)
    assert oldest["AlarmHistoryItems"][0]["HistoryItemType"] == "ConfigurationUpdate"
    nxt = cw.describe_alarm_history(AlarmName=name, ScanBy="TimestampAscending", MaxRecords=1,
                                    NextToken=oldest["NextToken"])["AlarmHistoryItems"]
    assert nxt[0]["HistoryItemType"] == "StateUpdate"


def test_describe_filters_paging_and_delete(cw, unique):
    ns = "App/" + unique
    names = [f"p{i}-{unique}" for i in range(5)]
    for n in names:
        put_alarm(cw, n, ns, Dimensions=[{"Name": "Host", "Value": n[:2]}])
    put_alarm(cw, "q-" + unique, ns, Statistic="Maximum", AlarmActions=[TOPIC])
    got = cw.describe_alarms(AlarmNamePrefix="p")["MetricAlarms"]
    assert [a["AlarmName"] for a in got if a["AlarmName"].endswith(unique)] == names
    page = cw.describe_alarms(AlarmNamePrefix="p", MaxRecords=2)
    seen = [a["AlarmName"] for a in page["MetricAlarms"]]
    while "NextToken" in page:
        page = cw.describe_alarms(AlarmNamePrefix="p", MaxRecords=2,
                                  NextToken=page["NextToken"])
        seen += [a["AlarmName"] for a in page["MetricAlarms"]]
    assert [s for s in seen if s.endswith(unique)] == names
    assert [a["AlarmName"] for a in cw.describe_alarms(ActionPrefix=TOPIC)["MetricAlarms"]
            if a["AlarmName"].endswith(unique)] == ["q-" + unique]
    assert cw.describe_alarms(AlarmNames=names[:2], AlarmTypes=["CompositeAlarm"])[
        "MetricAlarms"] == []
    for_metric = cw.describe_alarms_for_metric(Namespace=ns, MetricName="Errors",
                                               Dimensions=[{"Name": "Host", "Value": "p3"}])
    assert [a["AlarmName"] for a in for_metric["MetricAlarms"]] == [names[3]]
    by_stat = cw.describe_alarms_for_metric(Namespace=ns, MetricName="Errors",
                                            Statistic="Maximum")["MetricAlarms"]
    assert [a["AlarmName"] for a in by_stat] == ["q-" + unique]
    # A name of no alarm deletes nothing.
    with pytest.raises(ClientError) as e:
        cw.delete_alarms(AlarmNames=[names[0], "none-" + unique])
    assert err(e)[0] == "ResourceNotFound"
    assert len(cw.describe_alarms(AlarmNames=names)["MetricAlarms"]) == 5
    cw.delete_alarms(AlarmNames=names)
    assert cw.describe_alarms(AlarmNames=names)["MetricAlarms"] == []
    # An update keeps the state and replaces the configuration.
    cw.set_alarm_state(AlarmName="q-" + unique, StateValue="ALARM", StateReason="r")
    put_alarm(cw, "q-" + unique, ns, Threshold=99)
    q = alarm(cw, "q-" + unique)
    assert (q["StateValue"], q["Threshold"], q["Statistic"]) == ("ALARM", 99.0, "Sum")
    assert "AlarmActions" not in q or q["AlarmActions"] == []


@pytest.mark.parametrize("change,code", [
    ({"Period": 45}, "InvalidParameterValue"),
    ({"DatapointsToAlarm": 3}, "InvalidParameterValue"),
    ({"ExtendedStatistic": "p99"}, "InvalidParameterCombination"),  # with Statistic
    ({"Statistic": None, "ExtendedStatistic": "p101"}, "InvalidParameterValue"),
    ({"EvaluateLowSampleCountPercentile": "ignore"}, "InvalidParameterCombination"),
    ({"TreatMissingData": "sometimes"}, "InvalidParameterValue"),
    ({"ComparisonOperator": "Above"}, "InvalidParameterValue"),
    ({"Period": 60, "EvaluationPeriods": 1441}, "InvalidParameterCombination"),
    ({"AlarmActions": ["not-an-arn"]}, "InvalidParameterValue"),
])
def test_put_metric_alarm_validation(cw, unique, change, code):
    with pytest.raises(ClientError) as e:
        put_alarm(cw, "v-" + unique, "App/" + unique, **change)
    assert err(e)[0] == code
    assert cw.describe_alarms(AlarmNames=["v-" + unique])["MetricAlarms"] == []


def test_the_cli_puts_and_describes_alarms(sl, unique):
    name = "cli-" + unique
    sl.aws("cloudwatch", "put-metric-alarm", "--alarm-name", name, "--namespace", "App/cli",
           "--metric-name", "Errors", "--statistic", "Sum", "--period", "60",
           "--evaluation-periods", "1", "--threshold", "1", "--comparison-operator",
           "GreaterThanOrEqualToThreshold")
    out = sl.aws("cloudwatch", "describe-alarms", "--alarm-names", name)
    assert out["MetricAlarms"][0]["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert out["MetricAlarms"][0]["StateValue"] == "INSUFFICIENT_DATA"


def test_alarms_survive_a_restart(fresh_sluice, unique):
    fresh_sluice.start()
    cw = fresh_sluice.client("cloudwatch")
    name = "keep-" + unique
    put_alarm(cw, name, "App/" + unique)
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="before")
    fresh_sluice.restart()
    cw = fresh_sluice.client("cloudwatch")
    a = alarm(cw, name)
    assert (a["StateValue"], a["StateReason"], a["Threshold"]) == ("ALARM", "before", 10.0)
    assert len(history(cw, name)) == 2


def composite(cw, name):
    found = cw.describe_alarms(AlarmNames=[name], AlarmTypes=["CompositeAlarm"])
    assert found["MetricAlarms"] == []
    assert len(found["CompositeAlarms"]) == 1
    return found["CompositeAlarms"][0]


def test_composite_alarm_follows_its_children(sl, cw, unique):
    a, b, c = ("ca-" + unique, "cb-" + unique, "cc-" + unique)
    for name in (a, b):
        put_alarm(cw, name, "App/" + unique)
    cw.set_alarm_state(AlarmName=b, StateValue="OK", StateReason="fine")
    rule = f'ALARM("{a}") AND NOT ALARM({b})'
    cw.put_composite_alarm(AlarmName=c, AlarmRule=rule, AlarmActions=[TOPIC],
                           AlarmDescription="both")
    got = composite(cw, c)
    assert (got["AlarmRule"], got["StateValue"], got["AlarmActions"]) == (rule, "OK", [TOPIC])
    assert got["AlarmArn"].endswith(":alarm:" + c)
    # Only metric alarms without AlarmTypes, as CloudWatch answers.
    assert cw.describe_alarms(AlarmNames=[c])["MetricAlarms"] == []
    cw.set_alarm_state(AlarmName=a, StateValue="ALARM", StateReason="child breached")
    got = composite(cw, c)
    assert got["StateValue"] == "ALARM"
    assert got["StateReason"].startswith(f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{a} "
                                         "transitioned to ALARM at ")
    data = json.loads(got["StateReasonData"])
    assert data["triggeringAlarms"][0]["state"]["value"] == "ALARM"
    cw.set_alarm_state(AlarmName=b, StateValue="ALARM", StateReason="deploying")
    assert composite(cw, c)["StateValue"] == "OK"
    items = cw.describe_alarm_history(AlarmName=c, AlarmTypes=["CompositeAlarm"])[
        "AlarmHistoryItems"]
    kinds = [i["HistoryItemType"] for i in items]
    assert kinds.count("StateUpdate") == 3 and kinds.count("Action") == 1, kinds
    assert {i["AlarmType"] for i in items} == {"CompositeAlarm"}
    assert cw.describe_alarm_history(AlarmName=c)["AlarmHistoryItems"] == []
    children = cw.describe_alarms(ChildrenOfAlarmName=c)
    assert sorted(x["AlarmName"] for x in children["MetricAlarms"]) == sorted([a, b])
    parents = cw.describe_alarms(ParentsOfAlarmName=a)
    assert [x["AlarmName"] for x in parents["CompositeAlarms"]] == [c]
    cw.delete_alarms(AlarmNames=[c])
    assert cw.describe_alarms(AlarmNames=[c], AlarmTypes=["CompositeAlarm"])[
        "CompositeAlarms"] == []


def test_composite_of_a_metric_alarm_evaluated_by_the_sampler(sl, cw, unique):
    child, parent = "cm-" + unique, "cp-" + unique
    ns = "App/" + unique
    put_alarm(cw, child, ns, EvaluationPeriods=1, Threshold=5)
    cw.put_composite_alarm(AlarmName=parent, AlarmRule=f"ALARM({child}) OR FALSE",
                           ActionsSuppressor="nobody-" + unique,
                           ActionsSuppressorWaitPeriod=60, ActionsSuppressorExtensionPeriod=60)
    assert composite(cw, parent)["ActionsSuppressedBy"] == "None"
    cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "Errors", "Value": 50}])
    wait_state(sl, cw, child, "ALARM")
    assert composite(cw, parent)["StateValue"] == "ALARM"


@pytest.mark.parametrize("rule,message", [
    ("()", "Error in AlarmRule [Unsupported token ')' at char 1]"),
    ("ALARM(x) AND", "Error in AlarmRule [Unexpected end of rule at char 12]"),
    ("ALARM(x) XOR OK(y)", "Error in AlarmRule [Unsupported token 'XOR' at char 9]"),
    ("TRUE" + " OR TRUE" * 600, None),
])
def test_put_composite_alarm_validation(cw, unique, rule, message):
    with pytest.raises(ClientError) as e:
        cw.put_composite_alarm(AlarmName="cv-" + unique, AlarmRule=rule)
    code, text = err(e)
    assert code == "ValidationError"
    if message is not None:
        assert text == message
    assert cw.describe_alarms(AlarmNames=["cv-" + unique], AlarmTypes=["CompositeAlarm"])[
        "CompositeAlarms"] == []


def test_composite_rule_names_only_alarms_that_exist_and_no_cycle(cw, unique):
    with pytest.raises(ClientError) as e:
        cw.put_composite_alarm(AlarmName="cx-" + unique, AlarmRule=f"ALARM(ghost-{unique})")
    assert err(e) == ("ValidationError", f"Could not save the composite alarm as alarms "
                      f"[ghost-{unique}] in the alarm rule do not exist")
    cw.put_composite_alarm(AlarmName="c1-" + unique, AlarmRule="TRUE")
    assert composite(cw, "c1-" + unique)["StateValue"] == "ALARM"
    cw.put_composite_alarm(AlarmName="c2-" + unique, AlarmRule=f"OK(c1-{unique})")
    with pytest.raises(ClientError) as e:
        cw.put_composite_alarm(AlarmName="c1-" + unique, AlarmRule=f"ALARM(c2-{unique})")
    assert err(e)[0] == "ValidationError"
    with pytest.raises(ClientError) as e:
        cw.put_composite_alarm(AlarmName="c3-" + unique, AlarmRule="x" * 10241)
    assert err(e)[0] == "ValidationError"


def test_the_cli_puts_a_composite_alarm(sl, unique):
    child, parent = "clc-" + unique, "clp-" + unique
    put_alarm(sl.client("cloudwatch"), child, "App/" + unique)
    sl.aws("cloudwatch", "put-composite-alarm", "--alarm-name", parent, "--alarm-rule",
           f"ALARM({child})")
    sl.aws("cloudwatch", "set-alarm-state", "--alarm-name", child, "--state-value", "ALARM",
           "--state-reason", "test")
    out = sl.aws("cloudwatch", "describe-alarms", "--alarm-names", parent, "--alarm-types",
                 "CompositeAlarm")
    assert out["CompositeAlarms"][0]["StateValue"] == "ALARM"
