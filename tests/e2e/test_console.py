"""The console at /console: the page and its script come from the binary with nothing from
elsewhere, and the script's API part (its own SigV4 signing with WebCrypto, the calls it
makes, the figures it shows) is run in Node against a known workload: records per stream,
throttling, delivery streams, Athena queries priced at 5 USD per TB (10 MB minimum), the
last hour's cost at AWS's list prices against a hand calculation, alarms.
(test_console_browser.py opens the page itself in headless Chromium.)
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

NODE = shutil.which("node")


def get(sl, path):
    with urllib.request.urlopen(sl.endpoint + path, timeout=30) as r:
        return r.headers, r.read().decode()


def test_the_page_and_script_are_served_whole(sluice):
    headers, html = get(sluice, "/console")
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert 'data-region="us-east-1"' in html
    assert '<script src="/console/app.js"></script>' in html
    headers, js = get(sluice, "/console/app.js")
    assert headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert "function sluiceApi(" in js
    for text in (html, js):  # nothing fetched from elsewhere
        assert not re.search(r"(src|href)=\"(https?:)?//", text)
        assert "https://" not in text and "http://" not in text
    with pytest.raises(urllib.error.HTTPError) as e:
        get(sluice, "/console/other.js")
    assert e.value.code in (403, 404)


SNAPSHOT = r"""
const { sluiceApi } = require(process.argv[2]);
const api = sluiceApi(process.env.EP, 'us-east-1', process.env.AK, process.env.SK);
(async () => {
  if (process.env.BAD) {
    try { await api.kinesis('ListStreams', {}); console.log('{"error": null}'); }
    catch (e) { console.log(JSON.stringify({ error: e.message, status: e.status })); }
    return;
  }
  console.log(JSON.stringify(await api.snapshot()));
})().catch((e) => { console.error(e); process.exit(1); });
"""


def snapshot(sl, tmp, secret=None):
    with open(os.path.join(tmp, "app.js"), "w") as f:
        f.write(get(sl, "/console/app.js")[1])
    with open(os.path.join(tmp, "run.js"), "w") as f:
        f.write(SNAPSHOT)
    env = dict(os.environ, EP=sl.endpoint, AK=sl.access_key, SK=secret or sl.secret_key)
    if secret:
        env["BAD"] = "1"
    p = subprocess.run([NODE, os.path.join(tmp, "run.js"), os.path.join(tmp, "app.js")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@pytest.mark.skipif(NODE is None, reason="no node")
def test_the_script_signs_and_shows_the_workload(sluice, unique):
    kin, cw, athena, s3 = (sluice.client(s) for s in ("kinesis", "cloudwatch", "athena", "s3"))
    name = "con-" + unique
    kin.create_stream(StreamName=name, ShardCount=2)
    kin.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})
    r = kin.put_records(StreamName=name, Records=[
        {"Data": b"z" * 10, "PartitionKey": str(i)} for i in range(30)])
    assert r["FailedRecordCount"] == 0
    cw.put_metric_alarm(AlarmName="con-" + unique, Namespace="App", MetricName="x",
                        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
                        ComparisonOperator="GreaterThanThreshold", TreatMissingData="ignore")
    s3.create_bucket(Bucket="con-" + unique)
    qid = athena.start_query_execution(
        QueryString="SELECT 1", ResultConfiguration={"OutputLocation": f"s3://con-{unique}/"})[
        "QueryExecutionId"]
    deadline = time.time() + 60
    while athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"][
            "State"] not in ("SUCCEEDED", "FAILED") and time.time() < deadline:
        time.sleep(0.1)
    tmp = tempfile.mkdtemp(prefix="sluice-console-")
    try:
        deadline, snap, mine = time.time() + 60, None, None
        while time.time() < deadline and (mine is None or mine["records"] < 30):
            sluice.proc.send_signal(signal.SIGUSR1)  # sample the metrics now
            time.sleep(0.3)
            snap = snapshot(sluice, tmp)
            mine = next((s for s in snap["streams"] if s["name"] == name), None)
        assert mine is not None and mine["records"] == 30
        assert mine["bytes"] == 300 and mine["shards"] == 2 and mine["status"] == "ACTIVE"
        assert mine["throttled"] == 0 and 0 < mine["load"] < 1
        [q] = [q for q in snap["athena"] if q["id"] == qid]
        assert q["state"] == "SUCCEEDED"
        assert q["usd"] == pytest.approx(max(q["scanned"], 10e6) / 1e12 * 5)
        # The last hour at list prices, against a hand calculation.
        cost = {line["item"]: line for line in snap["cost"]["lines"]}
        shards = cost[f"Kinesis {name}: shard-hours"]
        assert (shards["quantity"], shards["usd"]) == (2, pytest.approx(2 * 0.015))
        units = cost[f"Kinesis {name}: PUT payload units"]  # 10-byte records: one unit each
        assert (units["quantity"], units["usd"]) == (30, pytest.approx(30 / 1e6 * 0.014))
        lines = [v for k, v in cost.items() if k.startswith("Athena: TB scanned")]
        assert lines[0]["usd"] >= max(q["scanned"], 10e6) / 1e12 * 5 - 1e-12
        assert snap["cost"]["total"] == pytest.approx(sum(v["usd"] for v in cost.values()))
        # (ignore: an evaluation without data, as the minute's sample, keeps the state)
        cw.set_alarm_state(AlarmName="con-" + unique, StateValue="ALARM", StateReason="console")
        [a] = [a for a in snapshot(sluice, tmp)["alarms"] if a["name"] == "con-" + unique]
        assert (a["state"], a["reason"]) == ("ALARM", "console")
        # A wrong secret is refused by the server's own SigV4 check.
        bad = snapshot(sluice, tmp, secret="wrong" * 8)
        assert bad["status"] == 400 and "InvalidSignature" in bad["error"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.skipif(NODE is None, reason="no node")
def test_the_script_takes_the_servers_cost_when_it_is_open(fresh_sluice, unique):
    sl = fresh_sluice
    sl.extra_args = ["--metrics-endpoint", "open"]
    sl.start()
    kin = sl.client("kinesis")
    name = "cc-" + unique
    kin.create_stream(StreamName=name, ShardCount=1)
    kin.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})
    kin.put_records(StreamName=name, Records=[
        {"Data": b"z" * 10, "PartitionKey": str(i)} for i in range(7)])
    tmp = tempfile.mkdtemp(prefix="sluice-console-")
    try:
        deadline, units = time.time() + 60, None
        while time.time() < deadline and (units is None or units["quantity"] < 7):
            sl.proc.send_signal(signal.SIGUSR1)
            time.sleep(0.3)
            snap = snapshot(sl, tmp)
            assert snap["cost"]["source"] == "server"
            units = {x["item"]: x for x in snap["cost"]["lines"]}.get(
                f"Kinesis {name}: PUT payload units")
        assert units["quantity"] == 7
        assert units["usd"] == pytest.approx(7 / 1e6 * 0.014)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
