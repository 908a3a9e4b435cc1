"""The console at /console opened in headless Chromium after a known workload: the page signs
in from the address's fragment (#ak=…&sk=…, never sent to the server), its script runs its
signed API calls in the browser, and the DOM it draws shows the figures (the stream, its
shards and records, the Athena query and its cost). A screenshot is taken and checked to be
a PNG of the size asked for (its pixels are not compared). A second workload shows the
operators' panels: per-shard rates against the shard limits with the hot shard marked,
iterator age per consumer (an EFO consumer and the GetRecords readers), a delivery stream's
error objects by error type, the lake's prefixes, Athena per workgroup, and the last hour's
charts. Skipped only where no chromium
binary is installed (scripts/install-deps.sh installs Debian's).
"""
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import time
from html.parser import HTMLParser

import pytest

from conftest import Sluice
from test_firehose import ROLE
from test_firehose_partition import dp_conf

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary installed")

WIDTH, HEIGHT = 1280, 900


def chromium(*args):
    """Runs headless Chromium with a profile of its own (runs at once must not share one);
    --virtual-time-budget lets the page's script finish its fetches before the dump."""
    profile = tempfile.mkdtemp(prefix="sluice-chromium-")
    try:
        p = subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
                            "--no-first-run", "--user-data-dir=" + profile,
                            "--virtual-time-budget=10000", *args],
                           capture_output=True, timeout=120)
        assert p.returncode == 0, p.stderr.decode(errors="replace")[-3000:]
        return p.stdout.decode()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


class Page(HTMLParser):
    """What the console drew: each table's rows (cells' text, with the row's and cells'
    attributes), the status line, and which of the sign-in form and main part are hidden."""

    def __init__(self, html):
        super().__init__()
        self.tables, self.hidden, self.status, self.charts = {}, {}, "", {}
        self._table = self._row = self._cell = self._chart = None
        self._in_status = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id") in ("signin", "main"):
            self.hidden[a["id"]] = "hidden" in a
        if tag == "div" and a.get("class") == "chart":
            self._chart = self.charts.setdefault(a["id"], {})
        elif tag == "polyline" and self._chart is not None:  # a chart's line: its points
            self._chart[a["data-series"]] = [tuple(map(float, p.split(",")))
                                             for p in a["points"].split()]
        if tag == "span" and a.get("id") == "status":
            self._in_status = True
        elif tag == "table":
            self._table = self.tables.setdefault(a.get("id"), [])
        elif tag == "tr" and self._table is not None:
            self._row = {"attrs": a, "cells": [], "titles": []}
            self._table.append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
            self._row["titles"].append(a.get("title"))

    def handle_endtag(self, tag):
        if tag == "svg":
            self._chart = None
        if tag == "span":
            self._in_status = False
        elif tag in ("td", "th") and self._cell is not None:
            self._row["cells"].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = self._row = None

    def handle_data(self, data):
        if self._in_status:
            self.status += data
        if self._cell is not None:
            self._cell.append(data)


def console_url(sl):
    return f"{sl.endpoint}/console#ak={sl.access_key}&sk={sl.secret_key}"


def test_the_console_in_a_browser_shows_the_workload(sluice, unique):
    kin, cw, athena, s3 = (sluice.client(s) for s in ("kinesis", "cloudwatch", "athena", "s3"))
    name, records = "cb-" + unique, 40
    kin.create_stream(StreamName=name, ShardCount=2)
    kin.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})
    r = kin.put_records(StreamName=name, Records=[
        {"Data": b"b" * 10, "PartitionKey": str(i)} for i in range(records)])
    assert r["FailedRecordCount"] == 0
    s3.create_bucket(Bucket="cb-" + unique)
    sql = f"SELECT 'browser-{unique}' AS tag"
    qid = athena.start_query_execution(
        QueryString=sql, ResultConfiguration={"OutputLocation": f"s3://cb-{unique}/"})[
        "QueryExecutionId"]
    deadline = time.time() + 60
    while athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"][
            "State"] not in ("SUCCEEDED", "FAILED") and time.time() < deadline:
        time.sleep(0.1)

    # Open the page until it shows the sampled minute (SIGUSR1 samples the metrics now).
    deadline, page, row = time.time() + 90, None, None
    started = time.time()
    while time.time() < deadline:
        sluice.proc.send_signal(signal.SIGUSR1)
        time.sleep(0.3)
        page = Page(chromium("--dump-dom", console_url(sluice)))
        row = next((x for x in page.tables.get("streams", [])
                    if x["attrs"].get("data-stream") == name), None)
        if row is not None and row["cells"][3] == str(records):
            break
    took = time.time() - started
    assert page.status.startswith("Updated"), page.status
    assert page.hidden == {"signin": True, "main": False}
    assert row is not None, page.tables.get("streams")
    # Stream, Status, Shards, Records (1 h), Bytes (1 h), Throttled, Peak load, Records/min
    assert row["cells"][:6] == [name, "ACTIVE", "2", str(records), str(records * 10), "0"]
    assert row["attrs"]["class"] == ""  # far from the shards' limits: not hot
    assert row["cells"][6] == "0.0 %"  # 40 records in a minute against 2 × 1000 a second

    # The query: its text in the id cell's title, its state, workgroup and cost (10 MB minimum).
    [q] = [x for x in page.tables["athena"] if x["titles"][0] == sql]
    assert q["cells"][0] == qid[:8]
    assert q["cells"][1:3] == ["SUCCEEDED", "primary"]
    assert q["cells"][4] == f"{max(int(q['cells'][3].replace(',', '')), 10e6) / 1e12 * 5:.6f}"
    cost = {x["cells"][0]: x["cells"][1:] for x in page.tables["cost"]}
    assert cost[f"Kinesis {name}: shard-hours"] == ["2", "0.030000"]
    assert cost[f"Kinesis {name}: PUT payload units"] == [str(records), f"{records / 1e6 * 0.014:.6f}"]

    # The key went in the fragment, which the browser never sends: the server saw none of it.
    with open(sluice.log_path, "rb") as f:
        log = f.read().decode(errors="replace")
    assert sluice.secret_key not in log and "sk=" not in log

    # A screenshot of the page as drawn: a PNG of the window's size.
    shot = os.path.join(tempfile.mkdtemp(prefix="sluice-shot-"), "console.png")
    try:
        chromium(f"--window-size={WIDTH},{HEIGHT}", "--screenshot=" + shot,
                 console_url(sluice))
        with open(shot, "rb") as f:
            png = f.read()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
        assert struct.unpack(">II", png[16:24]) == (WIDTH, HEIGHT)
        assert len(png) > 10000  # a drawn page, not an empty image
    finally:
        shutil.rmtree(os.path.dirname(shot), ignore_errors=True)
    print(f"console in chromium: figures shown after {took:.1f} s")


def test_without_a_key_the_page_asks_for_one(sluice):
    page = Page(chromium("--dump-dom", sluice.endpoint + "/console"))
    assert page.hidden == {"signin": False, "main": True}
    assert page.status == ""


@pytest.fixture(scope="module")
def own():
    """A server of this test's own: the console lists everything a server holds."""
    server = Sluice().start()
    yield server
    code = server.stop()
    server.cleanup()
    assert code == 0


def wait_for(what, fn, timeout=60):
    deadline = time.time() + timeout
    while not fn():
        assert time.time() < deadline, what
        time.sleep(0.1)


def rows_by(page, table, *cols):
    """The table's rows keyed by the cells at cols (header row left out)."""
    return {tuple(r["cells"][c] for c in cols): r for r in page.tables.get(table, [])[1:]
            if len(r["cells"]) > max(cols)}


def test_the_console_shows_shards_consumers_delivery_lake_and_workgroups(own, unique):
    kin, athena, s3, fh = (own.client(s) for s in ("kinesis", "athena", "s3", "firehose"))
    # A stream of two shards with shard-level metrics: 30 records to shard 0, 2 to shard 1.
    name, hot, cold = "cs-" + unique, "shardId-000000000000", "shardId-000000000001"
    kin.create_stream(StreamName=name, ShardCount=2)
    kin.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})
    kin.enable_enhanced_monitoring(StreamName=name, ShardLevelMetrics=["ALL"])
    kin.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})
    arn = kin.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    consumer = kin.register_stream_consumer(StreamARN=arn, ConsumerName="mon")["Consumer"]
    wait_for("the consumer is ACTIVE", lambda: kin.describe_stream_consumer(
        ConsumerARN=consumer["ConsumerARN"])["ConsumerDescription"]["ConsumerStatus"] == "ACTIVE")
    r = kin.put_records(StreamName=name, Records=[
        {"Data": b"h" * 10, "PartitionKey": "k", "ExplicitHashKey": "0"} for _ in range(30)] + [
        {"Data": b"c" * 10, "PartitionKey": "k", "ExplicitHashKey": str(2 ** 127 + 1)}
        for _ in range(2)])
    assert r["FailedRecordCount"] == 0
    assert [x["ShardId"] for x in r["Records"]] == [hot] * 30 + [cold] * 2
    # A GetRecords reader and the EFO consumer each read shard 0's 30 records.
    it = kin.get_shard_iterator(StreamName=name, ShardId=hot,
                                ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    assert len(kin.get_records(ShardIterator=it, Limit=100)["Records"]) == 30
    events = kin.subscribe_to_shard(ConsumerARN=consumer["ConsumerARN"], ShardId=hot,
                                    StartingPosition={"Type": "TRIM_HORIZON"})["EventStream"]
    got = 0
    for ev in events:
        got += len(ev["SubscribeToShardEvent"]["Records"])
        if got >= 30:
            break
    events.close()

    # A partitioned delivery stream: 10 good records, 3 that go to the error output.
    bucket = "cl-" + unique
    s3.create_bucket(Bucket=bucket)
    fh.create_delivery_stream(DeliveryStreamName=name,
                              ExtendedS3DestinationConfiguration=dp_conf(bucket))
    wait_for("the delivery stream is ACTIVE", lambda: fh.describe_delivery_stream(
        DeliveryStreamName=name)["DeliveryStreamDescription"]["DeliveryStreamStatus"] == "ACTIVE")
    # and one whose bucket is not there: only its own cell says so
    fh.create_delivery_stream(DeliveryStreamName="nb-" + unique,
                              ExtendedS3DestinationConfiguration={
                                  "RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::nb-{unique}"})
    good = [json.dumps({"a": "x", "b": i % 2}).encode() for i in range(10)]
    r = fh.put_record_batch(DeliveryStreamName=name, Records=[
        {"Data": d} for d in good + [b"not json", b"[1]", b"nope"]])
    assert r["FailedPutCount"] == 0

    # A query in a workgroup of its own (ListQueryExecutions lists one workgroup's).
    wg = "wg-" + unique
    athena.create_work_group(Name=wg, Configuration={
        "ResultConfiguration": {"OutputLocation": f"s3://{bucket}/results/"}})
    qid = athena.start_query_execution(QueryString="SELECT 1", WorkGroup=wg)["QueryExecutionId"]
    wait_for("the query ends", lambda: athena.get_query_execution(QueryExecutionId=qid)[
        "QueryExecution"]["Status"]["State"] in ("SUCCEEDED", "FAILED"))

    def listing(prefix):
        return s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])

    def shown(page):
        shards = rows_by(page, "shards", 0, 1)
        cons = rows_by(page, "consumers", 0, 1)
        deliv = rows_by(page, "delivery", 0)
        lake = rows_by(page, "lake", 0, 1)
        return ((name, hot) in shards and shards[(name, hot)]["cells"][2] == "0.5"
                and (name, "mon") in cons and cons[(name, "mon")]["cells"][5] == "30"
                and cons.get((name, "(GetRecords readers)"), {"cells": [""] * 6})["cells"][5]
                == "30"
                and (name,) in deliv and deliv[(name,)]["cells"][1] == "13"
                and deliv[(name,)]["cells"][5] != "none"
                and (bucket, "data/") in lake and (bucket, "err/") in lake)

    deadline, page = time.time() + 120, None
    while time.time() < deadline:
        own.proc.send_signal(signal.SIGUSR1)  # samples the metrics, flushes delivery
        time.sleep(0.5)
        page = Page(chromium("--dump-dom", console_url(own)))
        if shown(page):
            break
    assert page.status.startswith("Updated"), page.status
    assert shown(page), page.tables

    # Shards: writes per second in the busiest minute; shard 0 took 30 of 32: it is hot.
    shards = rows_by(page, "shards", 0, 1)
    # Stream, Shard, Write records/s, Write bytes/s, Write load, Read bytes/s, Read load,
    # Throttled
    assert shards[(name, hot)]["cells"][2:4] == ["0.5", "5"]
    assert shards[(name, hot)]["cells"][7] == "0"
    assert shards[(name, cold)]["cells"][2:4] == ["0", "0.3"]
    assert shards[(name, hot)]["attrs"]["class"] == "hot"
    assert shards[(name, cold)]["attrs"]["class"] == ""

    # Consumers: the EFO consumer and the GetRecords readers, each with an iterator age.
    cons = rows_by(page, "consumers", 0, 1)
    assert cons[(name, "mon")]["cells"][2] == "EFO"
    assert cons[(name, "(GetRecords readers)")]["cells"][2] == "GetRecords"
    for row in cons.values():
        assert row["cells"][3].replace(",", "").isdigit(), row  # an age in ms

    # Delivery: records in, buffering, and error objects by type, as many as S3 holds.
    errors = listing("err/")
    assert errors and all(o["Key"].startswith("err/metadata-extraction-failed/")
                          for o in errors)
    d = rows_by(page, "delivery", 0)[(name,)]["cells"]
    # the buffer at the last sample (the flush the signal asks for may have emptied it)
    assert re.fullmatch(r"[\d,]+ B of 64 MB \(\d+\.\d %\), 60 s", d[4]), d[4]
    assert d[5] == f"metadata-extraction-failed: {len(errors)}"
    assert rows_by(page, "delivery", 0)[("nb-" + unique,)]["cells"][5] == "S3 404: NoSuchBucket"

    # The lake: objects and bytes per top-level prefix, as S3 lists them.
    lake = rows_by(page, "lake", 0, 1)
    for prefix in ("data/", "err/"):
        objs = listing(prefix)
        assert lake[(bucket, prefix)]["cells"][2:] == [
            str(len(objs)), f"{sum(o['Size'] for o in objs):,}"], prefix

    # Athena per workgroup: the query at the 10 MB minimum (5 USD per TB).
    row = rows_by(page, "workgroups", 0)[(wg,)]
    assert row["cells"][1:4] == ["1", "1", "0"]
    assert row["cells"][5] == f"{10e6 / 1e12 * 5:.6f}"
    assert any(q["cells"][0] == qid[:8] for q in page.tables["athena"][1:])

    # The last hour's charts: a line per stream and per delivery stream, inside the chart.
    for chart in ("streams-chart", "delivery-chart"):
        line = page.charts[chart][name]
        assert line and all(60 <= x <= 640 and 0 <= y <= 150 for x, y in line), (chart, line)


def test_a_key_that_may_not_list_s3_sees_the_rest(own, unique):
    iam = own.client("iam")
    user = "nos3-" + unique
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="all-but-s3", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    kin = own.client("kinesis")
    name = "ns-" + unique
    kin.create_stream(StreamName=name, ShardCount=1)
    kin.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})
    url = f"{own.endpoint}/console#ak={key['AccessKeyId']}&sk={key['SecretAccessKey']}"
    deadline = time.time() + 60
    while True:  # a new key may take a moment to be known everywhere
        page = Page(chromium("--dump-dom", url))
        if page.status.startswith("Updated") or time.time() > deadline:
            break
        time.sleep(1)
    assert page.status.startswith("Updated"), page.status
    assert (name,) in rows_by(page, "streams", 0)
    [lake] = page.tables["lake"][1:]
    assert lake["cells"][1].startswith("S3 403: AccessDenied"), lake["cells"]
