"""GET /_sluice/cost: a known workload's cost at AWS's list prices, checked line by line
against a hand calculation: Kinesis shard-hours and PUT payload units (provisioned),
stream-hours and GB written (on-demand), Firehose's GB with each record rounded up to 5 KB,
Athena's TB scanned (10 MB a query at least, in workgroups that publish CloudWatch metrics)
and S3's requests. Behind the /metrics token.
"""
import datetime
import json
import os
import signal
import tempfile
import time
import urllib.error
import urllib.request

import pytest

from conftest import Sluice

TOKEN = "cost-token-0123456789abcdef0123"
GIB = 2 ** 30
ROLE = "arn:aws:iam::000000000000:role/firehose"


@pytest.fixture(scope="module")
def sl():
    d = tempfile.mkdtemp(prefix="sluice-cost-")
    token_file = os.path.join(d, "token")
    with open(token_file, "w") as f:
        f.write(TOKEN + "\n")
    server = Sluice(extra_args=["--throughput-limits", "off", "--metrics-endpoint",
                                "token-file:" + token_file]).start()
    yield server
    code = server.stop()
    log = server.read_log()
    server.cleanup()
    assert code == 0, f"server exited {code}:\n{log}"


def cost(sl, token=TOKEN, query=""):
    req = urllib.request.Request(sl.endpoint + "/_sluice/cost" + query)
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.headers["Content-Type"] == "application/json"
        return json.loads(r.read())


def test_the_cost_needs_the_token(sl):
    for token in (None, "wrong"):
        with pytest.raises(urllib.error.HTTPError) as e:
            cost(sl, token)
        assert e.value.code == 401
    with pytest.raises(urllib.error.HTTPError) as e:
        cost(sl, query="?hours=0")
    assert e.value.code == 400


def items(doc, service, resource):
    return {i["Item"]: i for i in doc["LineItems"]
            if i["Service"] == service and i["Resource"] == resource}


def wait_for(fn, timeout=60):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        assert time.time() < deadline
        time.sleep(0.3)


def test_a_known_workload_against_a_hand_calculation(sl, unique):
    kin, fh, s3, athena = (sl.client(s) for s in ("kinesis", "firehose", "s3", "athena"))
    prov, od, bucket = "cp-" + unique, "co-" + unique, "cb-" + unique
    kin.create_stream(StreamName=prov, ShardCount=2)
    kin.create_stream(StreamName=od, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    for name in (prov, od):
        kin.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})
    # 100 records of 30,000 bytes: 2 payload units each
    for first in range(0, 100, 25):
        kin.put_records(StreamName=prov, Records=[
            {"Data": b"p" * 30000, "PartitionKey": str(first + j)} for j in range(25)])
    kin.put_records(StreamName=od, Records=[
        {"Data": b"o" * 1000, "PartitionKey": str(j)} for j in range(10)])
    s3.create_bucket(Bucket=bucket)
    for i in range(3):
        s3.put_object(Bucket=bucket, Key=f"k{i}", Body=b"x" * 10)
    s3.get_object(Bucket=bucket, Key="k0")["Body"].read()
    s3.get_object(Bucket=bucket, Key="k1")["Body"].read()
    s3.head_object(Bucket=bucket, Key="k2")
    s3.list_objects_v2(Bucket=bucket)
    fh.create_delivery_stream(DeliveryStreamName=unique, ExtendedS3DestinationConfiguration={
        "RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bucket}", "Prefix": "fh/"})
    wait_for(lambda: fh.describe_delivery_stream(DeliveryStreamName=unique)[
        "DeliveryStreamDescription"]["DeliveryStreamStatus"] == "ACTIVE")
    fh.put_record_batch(DeliveryStreamName=unique,
                        Records=[{"Data": b"f" * 100} for _ in range(4)])
    # Athena's queries are known per workgroup that publishes CloudWatch metrics.
    athena.create_work_group(Name=unique, Configuration={
        "PublishCloudWatchMetricsEnabled": True,
        "ResultConfiguration": {"OutputLocation": f"s3://{bucket}/athena/"}})
    qid = athena.start_query_execution(QueryString="SELECT 1", WorkGroup=unique)[
        "QueryExecutionId"]
    wait_for(lambda: athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"][
        "Status"]["State"] in ("SUCCEEDED", "FAILED"))

    def sampled():
        sl.proc.send_signal(signal.SIGUSR1)
        d = cost(sl)
        k = items(d, "Kinesis", prov)
        f = items(d, "Firehose", unique)
        ready = (k.get("PUT payload units", {}).get("Quantity") == 200 and
                 f.get("Data ingested (5 KB rounding)", {}).get("Quantity", 0) > 0 and
                 items(d, "S3", bucket).get("GET, HEAD requests", {}).get("Quantity") == 3)
        return d if ready else None

    doc = wait_for(sampled)
    assert (doc["Currency"], doc["Hours"], doc["Region"]) == ("USD", 1, "us-east-1")
    end = datetime.datetime.fromisoformat(doc["End"].replace("Z", "+00:00"))
    k = items(doc, "Kinesis", prov)
    created = kin.describe_stream_summary(StreamName=prov)["StreamDescriptionSummary"][
        "StreamCreationTimestamp"]
    hours = (end - created).total_seconds() / 3600
    assert abs(k["Shard-hours"]["Quantity"] - 2 * hours) < 2 * 0.002
    assert k["Shard-hours"]["UnitPrice"] == 0.015
    assert k["PUT payload units"]["USD"] == pytest.approx(200 * 0.014 / 1e6)
    o = items(doc, "Kinesis", od)
    assert o["On-demand data written"]["Quantity"] == pytest.approx(10000 / GIB)
    assert o["On-demand data written"]["USD"] == pytest.approx(10000 / GIB * 0.08)
    assert o["On-demand stream-hours"]["UnitPrice"] == 0.04
    f = items(doc, "Firehose", unique)
    assert f["Data ingested (5 KB rounding)"]["Quantity"] == pytest.approx(4 * 5120 / GIB)
    assert f["Data ingested (5 KB rounding)"]["USD"] == pytest.approx(4 * 5120 / GIB * 0.029)
    a = items(doc, "Athena", "")
    assert a["Data scanned (10 MB a query at least)"]["USD"] == pytest.approx(1e7 / 1e12 * 5)
    b = items(doc, "S3", bucket)
    # 3 PUT and a LIST (the delivered object and Athena's results are the server's own)
    assert b["PUT, COPY, POST, LIST requests"]["Quantity"] >= 4
    assert b["GET, HEAD requests"]["USD"] == pytest.approx(3 * 0.0004 / 1000)
    for i in doc["LineItems"]:
        assert i["USD"] == pytest.approx(i["Quantity"] * i["UnitPrice"]), i
    assert doc["Total"] == pytest.approx(sum(i["USD"] for i in doc["LineItems"]))
    # A longer window: the same usage, over more hours for the stream only if it is older.
    assert cost(sl, query="?hours=2")["Hours"] == 2
