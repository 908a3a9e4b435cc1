"""The console at /console opened in headless Chromium after a known workload: the page signs
in from the address's fragment (#ak=…&sk=…, never sent to the server), its script runs its
signed API calls in the browser, and the DOM it draws shows the figures (the stream, its
shards and records, the Athena query and its cost). A screenshot is taken and checked to be
a PNG of the size asked for (its pixels are not compared). Skipped only where no chromium
binary is installed (scripts/install-deps.sh installs Debian's).
"""
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import time
from html.parser import HTMLParser

import pytest

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
        self.tables, self.hidden, self.status = {}, {}, ""
        self._table = self._row = self._cell = None
        self._in_status = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a and tag in ("form", "div"):
            self.hidden[a["id"]] = "hidden" in a
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
