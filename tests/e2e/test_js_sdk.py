"""The AWS SDK for JavaScript v3 on its defaults against Kinesis, S3 and Glue.

@aws-sdk/client-kinesis sends every call over HTTP/2 (NodeHttp2Handler): to an http://
endpoint that is cleartext HTTP/2 with prior knowledge. The clients are pinned by
tests/e2e/js/package-lock.json and installed by scripts/install-js-sdk.sh (called by
make test); each service has a small node script in tests/e2e/js/ that
prints one JSON object, given the endpoint, credentials and region in its environment.
"""
import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import Sluice

JS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js")

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


@pytest.fixture(scope="module")
def server():
    # debug: the server logs each HTTP/2 connection it served, which proves the protocol
    s = Sluice(extra_args=["--log-level", "debug"]).start()
    yield s
    code = s.stop()
    s.cleanup()
    assert code == 0


def run_js(server, script, *args):
    assert os.path.isdir(os.path.join(JS_DIR, "node_modules", "@aws-sdk")), \
        "run scripts/install-js-sdk.sh (make test does) first"
    env = dict(os.environ)
    env.update({"SLUICE_ENDPOINT": server.endpoint,
                "AWS_ACCESS_KEY_ID": server.access_key,
                "AWS_SECRET_ACCESS_KEY": server.secret_key,
                "AWS_REGION": server.region,
                "AWS_CONFIG_FILE": "/dev/null",
                "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                "NODE_NO_WARNINGS": "1"})
    env.pop("AWS_PROFILE", None)
    p = subprocess.run(["node", script] + list(args), cwd=JS_DIR, env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"{script} failed:\n{p.stderr}\n{p.stdout}"
    return json.loads(p.stdout.strip().splitlines()[-1])


def h2_connections(server):
    with open(server.log_path, errors="replace") as f:
        return f.read().count("HTTP/2 connection closed after")


def test_kinesis_over_http2_on_sdk_defaults(server, unique):
    before = h2_connections(server)
    out = run_js(server, "kinesis.mjs", f"js-{unique}")
    assert out["handler"] == "NodeHttp2Handler"
    assert out["shardId"] == "shardId-000000000000"
    assert out["records"] == [{"data": "hello from js", "sequenceNumber": out["sequenceNumber"]}]
    # The calls really went over HTTP/2: the server closed HTTP/2 connections for them
    # (the Kinesis client opens one per call: disableConcurrentStreams is its default).
    deadline = time.time() + 5
    while h2_connections(server) - before < 4 and time.time() < deadline:
        time.sleep(0.1)
    assert h2_connections(server) - before >= 4
    # and what the SDK wrote is there for boto3 too
    k = server.client("kinesis")
    desc = k.describe_stream_summary(StreamName=f"js-{unique}")
    assert desc["StreamDescriptionSummary"]["OpenShardCount"] == 1


def test_kinesis_split_shard_end_to_end(server, unique):
    """A producer writing 8 keys, SplitShard in the middle of it, and a consumer that reads
    the parent from TRIM_HORIZON and follows its ChildShards: every record read exactly once,
    in order within each key, with throughput limits on (throttled calls are retried)."""
    out = run_js(server, "kinesis_split.mjs", f"jsplit-{unique}")
    assert out["handler"] == "NodeHttp2Handler"
    assert out["parentEnded"] is True
    assert sorted(out["children"]) == ["shardId-000000000001", "shardId-000000000002"]
    assert out["openShards"] == 2
    assert out["read"] == out["produced"] == 8 * out["rounds"]
    assert out["byKey"] == {f"key-{k}": list(range(out["rounds"])) for k in range(8)}
    # the records went to both children after the split
    k = server.client("kinesis")
    counts = {}
    for child in out["children"]:
        it = k.get_shard_iterator(StreamName=f"jsplit-{unique}", ShardId=child,
                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        counts[child] = len(k.get_records(ShardIterator=it)["Records"])
    assert all(n > 0 for n in counts.values()), counts


def test_s3_on_sdk_defaults(server, unique):
    out = run_js(server, "s3.mjs", f"js-{unique}")
    assert out["body"] == "hello from js"
    assert out["contentType"] == "text/plain"
    assert out["etag"] == out["getEtag"] == '"e06725288a11aff6c765f0ec5448edd3"'
    got = server.client("s3").get_object(Bucket=f"js-{unique}", Key="dir/hello.txt")
    assert got["Body"].read() == b"hello from js"


def test_glue_on_sdk_defaults(server, unique):
    out = run_js(server, "glue.mjs", f"js_{unique}")
    assert out == {"name": f"js_{unique}", "description": "from js",
                   "missing": {"name": "EntityNotFoundException", "status": 400}}
    db = server.client("glue").get_database(Name=f"js_{unique}")["Database"]
    assert db["Description"] == "from js"


def test_kinesis_multiplexed_on_one_http2_connection(server, unique):
    """With disableConcurrentStreams off the SDK sends its calls as concurrent streams
    of one connection; all are answered, each once."""
    name = f"jsmx-{unique}"
    k = server.client("kinesis")
    k.create_stream(StreamName=name, ShardCount=1)
    k.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})
    out = run_js(server, "kinesis_multiplex.mjs", name, "20")
    assert len(set(out["sequenceNumbers"])) == 20
    sessions = [s for pool in out["sessions"].values() for s in pool["sessions"]]
    assert len(sessions) == 1 and sessions[0]["totalRequests"] == 20
    assert sessions[0]["maxConcurrent"] > 1  # they really were in flight together
    deadline = time.time() + 5
    while "HTTP/2 connection closed after 20 streams" not in open(server.log_path).read():
        assert time.time() < deadline
        time.sleep(0.1)


def test_subscribe_to_shard_over_http2(server, unique):
    """SubscribeToShard's event stream read by the SDK over HTTP/2: the record put before
    subscribing and those put while subscribed, in order, each once."""
    out = run_js(server, "kinesis_subscribe.mjs", f"jsefo-{unique}", "6")
    assert out["handler"] == "NodeHttp2Handler"
    assert [r["data"] for r in out["records"]] == [f"js-{i}" for i in range(6)]
    seqs = [r["sequenceNumber"] for r in out["records"]]
    assert len(set(seqs)) == 6 and sorted(seqs, key=int) == seqs
    assert out["continuation"] == seqs[-1]


def test_subscribe_to_shard_beside_calls_on_one_http2_connection(server, unique):
    """An open subscription does not hold up the other streams of its connection: the
    puts sent on the same connection while it is open are answered, and delivered."""
    out = run_js(server, "kinesis_subscribe.mjs", f"jsefo1-{unique}", "6", "shared")
    assert [r["data"] for r in out["records"]] == [f"js-{i}" for i in range(6)]
    sessions = [s for pool in out["sessions"].values() for s in pool["sessions"]]
    assert len(sessions) == 1 and sessions[0]["totalRequests"] >= 8


def test_idle_timeout_spares_an_open_subscription_over_http2(unique):
    """A subscription waiting for records sends nothing for longer than the idle timeout:
    that is the server's own waiting, not a client that does not read, so the
    connection stays and the records put later arrive."""
    s = Sluice(extra_args=["--idle-timeout", "2"]).start()
    try:
        out = run_js(s, "kinesis_subscribe.mjs", f"jsidle-{unique}", "3", "single", "3500")
        assert [r["data"] for r in out["records"]] == ["js-0", "js-1", "js-2"]
    finally:
        assert s.stop() == 0
        s.cleanup()


def test_stopping_the_server_ends_an_http2_subscription(unique):
    s = Sluice().start()
    env = dict(os.environ)
    env.update({"SLUICE_ENDPOINT": s.endpoint, "AWS_ACCESS_KEY_ID": s.access_key,
                "AWS_SECRET_ACCESS_KEY": s.secret_key, "AWS_REGION": s.region,
                "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                "NODE_NO_WARNINGS": "1"})
    env.pop("AWS_PROFILE", None)
    p = subprocess.Popen(["node", "kinesis_subscribe.mjs", f"jsstop-{unique}", "3", "single",
                          "600000"], cwd=JS_DIR, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert json.loads(p.stdout.readline()) == {"subscribed": True}
        assert s.stop() == 0  # not held up by the open stream
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        # the stream ended cleanly, with what had come: the record put before subscribing
        assert [r["data"] for r in json.loads(out.strip().splitlines()[-1])["records"]] == ["js-0"]
    finally:
        if p.poll() is None:
            p.kill()
        s.cleanup()
