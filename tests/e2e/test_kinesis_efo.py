"""Enhanced fan-out: stream consumers and SubscribeToShard, driven by boto3.

boto3 reads SubscribeToShard's event stream (application/vnd.amazon.eventstream) over
HTTP/1.1; tests/e2e/test_js_sdk.py reads it with the JavaScript SDK over HTTP/2.
"""
import json
import socket
import threading
import time

import pytest
from botocore.exceptions import ClientError, EventStreamError


# These tests subscribe, read and register consumers back to back; what they test is not the throughput
# limits (test_kinesis_limits.py tests those), so their servers run without them.
SLUICE_EXTRA_ARGS = ("--throughput-limits", "off")


@pytest.fixture(scope="module")
def sluice(sluice_unlimited):
    return sluice_unlimited

SHARD = "shardId-000000000000"


def create_active(kinesis, name, shards=1):
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    kinesis.get_waiter("stream_exists").wait(StreamName=name,
                                             WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    return kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]


def wait_consumer(kinesis, arn, status="ACTIVE"):
    for _ in range(200):
        c = kinesis.describe_stream_consumer(ConsumerARN=arn)["ConsumerDescription"]
        if c["ConsumerStatus"] == status:
            return c
        time.sleep(0.05)
    raise AssertionError(f"consumer {arn} never {status}")


def wait_gone(kinesis, arn):
    for _ in range(200):
        try:
            st = kinesis.describe_stream_consumer(ConsumerARN=arn)
            assert st["ConsumerDescription"]["ConsumerStatus"] == "DELETING"
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ResourceNotFoundException"
            return
        time.sleep(0.05)
    raise AssertionError(f"consumer {arn} never went")


def register(kinesis, stream_arn, name, deadline_s=60):
    """RegisterStreamConsumer, waiting while 5 others are still CREATING (AWS's limit)."""
    deadline = time.time() + deadline_s
    while True:
        try:
            return kinesis.register_stream_consumer(StreamARN=stream_arn, ConsumerName=name)
        except ClientError as e:
            if (e.response["Error"]["Code"] != "LimitExceededException" or
                    "CREATING" not in e.response["Error"]["Message"] or time.time() > deadline):
                raise
            time.sleep(0.1)


def active_consumer(kinesis, stream_arn, name="app"):
    c = kinesis.register_stream_consumer(StreamARN=stream_arn, ConsumerName=name)["Consumer"]
    wait_consumer(kinesis, c["ConsumerARN"])
    return c["ConsumerARN"]


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def subscribe(kinesis, consumer_arn, position, shard=SHARD):
    """subscribe_to_shard, retried while the previous subscription (closed by the test
    just before) is still being let go by the server."""
    for _ in range(100):
        try:
            return kinesis.subscribe_to_shard(ConsumerARN=consumer_arn, ShardId=shard,
                                              StartingPosition=position)["EventStream"]
        except ClientError as e:
            if e.response["Error"]["Code"] != "ResourceInUseException":
                raise
            time.sleep(0.1)
    raise AssertionError("the previous subscription was never let go")


def collect(stream, n):
    """Records from the event stream until n have come; also the events seen."""
    records, events = [], []
    for ev in stream:
        e = ev["SubscribeToShardEvent"]
        events.append(e)
        records += e["Records"]
        if len(records) >= n:
            break
    return records, events


def put(kinesis, name, values, pk="pk"):
    return [kinesis.put_record(StreamName=name, Data=v.encode(), PartitionKey=pk)["SequenceNumber"]
            for v in values]


# ---- the control plane ----

def test_consumer_lifecycle(sluice, unique):
    k = sluice.client("kinesis")
    name = f"efo-{unique}"
    summary = create_active(k, name)
    stream_arn = summary["StreamARN"]
    assert summary["ConsumerCount"] == 0
    c = k.register_stream_consumer(StreamARN=stream_arn, ConsumerName="reader")["Consumer"]
    assert c["ConsumerName"] == "reader"
    assert c["ConsumerStatus"] == "CREATING"
    created = int(c["ConsumerCreationTimestamp"].timestamp())
    assert c["ConsumerARN"] == f"{stream_arn}/consumer/reader:{created}"
    d = wait_consumer(k, c["ConsumerARN"])
    assert d["StreamARN"] == stream_arn and d["ConsumerName"] == "reader"
    by_name = k.describe_stream_consumer(StreamARN=stream_arn, ConsumerName="reader")
    assert by_name["ConsumerDescription"]["ConsumerARN"] == c["ConsumerARN"]
    listed = k.list_stream_consumers(StreamARN=stream_arn)["Consumers"]
    assert [x["ConsumerARN"] for x in listed] == [c["ConsumerARN"]]
    assert listed[0]["ConsumerStatus"] == "ACTIVE"
    s = k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert s["ConsumerCount"] == 1
    k.deregister_stream_consumer(ConsumerARN=c["ConsumerARN"])
    wait_gone(k, c["ConsumerARN"])
    assert k.list_stream_consumers(StreamARN=stream_arn)["Consumers"] == []
    assert k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
        "ConsumerCount"] == 0
    # deregistered by stream ARN and name, too
    c2 = k.register_stream_consumer(StreamARN=stream_arn, ConsumerName="second")["Consumer"]
    wait_consumer(k, c2["ConsumerARN"])
    k.deregister_stream_consumer(StreamARN=stream_arn, ConsumerName="second")
    wait_gone(k, c2["ConsumerARN"])


def test_consumer_errors(sluice, unique):
    k = sluice.client("kinesis")
    name = f"efoerr-{unique}"
    stream_arn = create_active(k, name)["StreamARN"]
    c = k.register_stream_consumer(StreamARN=stream_arn, ConsumerName="dup")["Consumer"]
    with pytest.raises(ClientError) as e:
        k.register_stream_consumer(StreamARN=stream_arn, ConsumerName="dup")
    assert error_code(e) == "ResourceInUseException"
    with pytest.raises(ClientError) as e:
        k.register_stream_consumer(StreamARN=stream_arn, ConsumerName="bad name!")
    assert error_code(e) == "ValidationException"
    missing = stream_arn.replace(name, name + "-missing")
    with pytest.raises(ClientError) as e:
        k.register_stream_consumer(StreamARN=missing, ConsumerName="x")
    assert error_code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        k.describe_stream_consumer(ConsumerARN=c["ConsumerARN"].replace("/dup:", "/nope:"))
    assert error_code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:  # the same name, another creation time
        k.describe_stream_consumer(ConsumerARN=c["ConsumerARN"].rsplit(":", 1)[0] + ":1")
    assert error_code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        k.describe_stream_consumer(ConsumerARN="arn:aws:kinesis:us-east-1:000000000000:nothing")
    assert error_code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        k.describe_stream_consumer(StreamARN=stream_arn)
    assert error_code(e) == "InvalidArgumentException"
    with pytest.raises(ClientError) as e:
        k.deregister_stream_consumer(ConsumerName="dup")
    assert error_code(e) == "InvalidArgumentException"
    with pytest.raises(ClientError) as e:
        k.list_stream_consumers(StreamARN=missing)
    assert error_code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        k.list_stream_consumers(StreamARN=stream_arn, NextToken="forged")
    assert error_code(e) == "InvalidArgumentException"
    # 20 consumers per stream
    for i in range(19):
        register(k, stream_arn, f"c{i:02d}")
    with pytest.raises(ClientError) as e:
        k.register_stream_consumer(StreamARN=stream_arn, ConsumerName="one-too-many")
    assert error_code(e) == "LimitExceededException"
    # a stream with consumers is deleted only when told to take them along
    with pytest.raises(ClientError) as e:
        k.delete_stream(StreamName=name)
    assert error_code(e) == "ResourceInUseException"
    k.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
    k.get_waiter("stream_not_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})
    # a new stream of the same name starts without them
    again = create_active(k, name)
    assert again["ConsumerCount"] == 0
    assert k.list_stream_consumers(StreamARN=again["StreamARN"])["Consumers"] == []


def test_list_stream_consumers_pages_and_filters(sluice, unique):
    k = sluice.client("kinesis")
    name = f"efolist-{unique}"
    summary = create_active(k, name)
    stream_arn = summary["StreamARN"]
    names = [f"n{i}" for i in range(7)]
    for n in names:
        register(k, stream_arn, n)
    seen, token = [], None
    while True:
        kw = {"NextToken": token} if token else {}
        page = k.list_stream_consumers(StreamARN=stream_arn, MaxResults=3, **kw)
        assert len(page["Consumers"]) <= 3
        seen += [c["ConsumerName"] for c in page["Consumers"]]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == names
    paged = k.get_paginator("list_stream_consumers").paginate(
        StreamARN=stream_arn, PaginationConfig={"PageSize": 2})
    assert [c["ConsumerName"] for p in paged for c in p["Consumers"]] == names
    created = summary["StreamCreationTimestamp"]
    same = k.list_stream_consumers(StreamARN=stream_arn, StreamCreationTimestamp=created)
    assert len(same["Consumers"]) == 7
    with pytest.raises(ClientError) as e:
        k.list_stream_consumers(StreamARN=stream_arn,
                                StreamCreationTimestamp=created.timestamp() - 3600)
    assert error_code(e) == "ResourceNotFoundException"


def test_consumers_survive_a_restart(fresh_sluice):
    fresh_sluice.start()
    k = fresh_sluice.client("kinesis")
    stream_arn = create_active(k, "keep")["StreamARN"]
    arn = active_consumer(k, stream_arn, "durable")
    gone = active_consumer(k, stream_arn, "gone")
    k.deregister_stream_consumer(ConsumerARN=gone)
    wait_gone(k, gone)
    put(k, "keep", ["r0", "r1"])
    fresh_sluice.restart()
    k = fresh_sluice.client("kinesis")
    d = k.describe_stream_consumer(ConsumerARN=arn)["ConsumerDescription"]
    assert d["ConsumerStatus"] == "ACTIVE" and d["ConsumerName"] == "durable"
    names = [c["ConsumerName"] for c in k.list_stream_consumers(StreamARN=stream_arn)["Consumers"]]
    assert names == ["durable"]
    records, _ = collect(subscribe(k, arn, {"Type": "TRIM_HORIZON"}), 2)
    assert [r["Data"] for r in records] == [b"r0", b"r1"]


# ---- SubscribeToShard ----

def test_subscribe_reads_records_before_and_after(sluice, unique):
    k = sluice.client("kinesis")
    name = f"efosub-{unique}"
    stream_arn = create_active(k, name)["StreamARN"]
    arn = active_consumer(k, stream_arn)
    before = put(k, name, [f"b{i}" for i in range(3)])
    stream = subscribe(k, arn, {"Type": "TRIM_HORIZON"})
    writer = threading.Thread(target=put, args=(k, name, [f"a{i}" for i in range(5)]))
    writer.start()
    records, events = collect(stream, 8)
    writer.join()
    stream.close()
    assert [r["Data"].decode() for r in records] == [f"b{i}" for i in range(3)] + \
        [f"a{i}" for i in range(5)]
    seqs = [r["SequenceNumber"] for r in records]
    assert seqs[:3] == before and sorted(seqs, key=int) == seqs
    assert all(r["PartitionKey"] == "pk" for r in records)
    assert all(r["ApproximateArrivalTimestamp"] for r in records)
    assert events[-1]["ContinuationSequenceNumber"] == seqs[-1]
    assert all(e["MillisBehindLatest"] >= 0 for e in events)


def test_subscribe_at_and_after_sequence_number_latest_and_timestamp(sluice, unique):
    k = sluice.client("kinesis")
    name = f"efopos-{unique}"
    stream_arn = create_active(k, name)["StreamARN"]
    arn = active_consumer(k, stream_arn)
    seqs = put(k, name, [f"r{i}" for i in range(5)])
    got, _ = collect(subscribe(k, arn, {"Type": "AT_SEQUENCE_NUMBER",
                                        "SequenceNumber": seqs[2]}), 3)
    assert [r["Data"] for r in got] == [b"r2", b"r3", b"r4"]
    got, _ = collect(subscribe(k, arn, {"Type": "AFTER_SEQUENCE_NUMBER",
                                        "SequenceNumber": seqs[2]}), 2)
    assert [r["Data"] for r in got] == [b"r3", b"r4"]
    latest = subscribe(k, arn, {"Type": "LATEST"})
    put(k, name, ["new"])
    got, _ = collect(latest, 1)
    assert [r["Data"] for r in got] == [b"new"]
    latest.close()
    at = k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
        "StreamCreationTimestamp"]
    got, _ = collect(subscribe(k, arn, {"Type": "AT_TIMESTAMP", "Timestamp": at}), 6)
    assert [r["Data"] for r in got] == [f"r{i}".encode() for i in range(5)] + [b"new"]


def test_continuation_resubscribes_without_loss_or_duplicates(sluice, unique):
    k = sluice.client("kinesis")
    name = f"efocont-{unique}"
    stream_arn = create_active(k, name)["StreamARN"]
    arn = active_consumer(k, stream_arn)
    sent = []
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            sent.extend(put(k, name, [f"w{i}"]))
            i += 1
    t = threading.Thread(target=writer)
    t.start()
    got, position = [], {"Type": "TRIM_HORIZON"}
    try:
        for _ in range(4):  # four subscriptions, each left after a few records
            stream = subscribe(k, arn, position)
            records, events = collect(stream, 5)
            stream.close()
            got += records
            position = {"Type": "AFTER_SEQUENCE_NUMBER",
                        "SequenceNumber": events[-1]["ContinuationSequenceNumber"]}
    finally:
        stop.set()
        t.join()
    # then everything the writer put, through one more subscription
    stream = subscribe(k, arn, position)
    if len(got) < len(sent):
        records, _ = collect(stream, len(sent) - len(got))
        got += records
    stream.close()
    seqs = [r["SequenceNumber"] for r in got]
    assert seqs == sent  # in order, none lost, none twice
    assert [r["Data"] for r in got] == [f"w{i}".encode() for i in range(len(sent))]


def test_continuation_of_an_empty_shard(sluice, unique):
    """The first event of a subscription to an empty shard already has a continuation
    number (a consumer checkpoints it); resubscribing after it loses nothing, whether
    records came meanwhile or not."""
    k = sluice.client("kinesis")
    name = f"efoempty-{unique}"
    stream_arn = create_active(k, name)["StreamARN"]
    arn = active_consumer(k, stream_arn)
    stream = subscribe(k, arn, {"Type": "TRIM_HORIZON"})
    first = next(iter(stream))["SubscribeToShardEvent"]
    stream.close()
    assert first["Records"] == [] and first["ContinuationSequenceNumber"]
    # as on AWS, it is the shard's starting number, which precedes its first record
    start = k.list_shards(StreamName=name)["Shards"][0]["SequenceNumberRange"][
        "StartingSequenceNumber"]
    assert first["ContinuationSequenceNumber"] == start
    after_empty = {"Type": "AFTER_SEQUENCE_NUMBER",
                   "SequenceNumber": first["ContinuationSequenceNumber"]}
    stream = subscribe(k, arn, after_empty)
    put(k, name, ["first"])
    got, events = collect(stream, 1)
    stream.close()
    assert [r["Data"] for r in got] == [b"first"]
    assert int(start) < int(got[0]["SequenceNumber"])
    seen_first = events[-1]["ContinuationSequenceNumber"]
    assert seen_first == got[0]["SequenceNumber"]
    # the consumer went away before it saw that record, and comes back with its checkpoint
    put(k, name, ["second"])
    got, _ = collect(subscribe(k, arn, after_empty), 2)
    assert [r["Data"] for r in got] == [b"first", b"second"]
    # one that had seen the first record comes back after it: no duplicate of the first
    got, _ = collect(subscribe(k, arn, {"Type": "AFTER_SEQUENCE_NUMBER",
                                        "SequenceNumber": seen_first}), 1)
    assert [r["Data"] for r in got] == [b"second"]


def test_continuation_at_latest_is_the_last_records_number(sluice, unique):
    """At LATEST of a shard with records, the continuation is the last record's own
    number (its arrival included), so AFTER it loses and repeats nothing."""
    k = sluice.client("kinesis")
    name = f"efolatest-{unique}"
    stream_arn = create_active(k, name)["StreamARN"]
    arn = active_consumer(k, stream_arn)
    seqs = put(k, name, ["a", "b", "c"])
    stream = subscribe(k, arn, {"Type": "LATEST"})
    first = next(iter(stream))["SubscribeToShardEvent"]
    stream.close()
    assert first["Records"] == [] and first["ContinuationSequenceNumber"] == seqs[-1]
    stream = subscribe(k, arn, {"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": seqs[0]})
    first = next(iter(stream))["SubscribeToShardEvent"]
    stream.close()
    assert [r["SequenceNumber"] for r in first["Records"]] == seqs[1:]
    assert first["ContinuationSequenceNumber"] == seqs[-1]


def test_empty_events_keep_an_idle_subscription_alive(sluice, unique):
    k = sluice.client("kinesis")
    name = f"efoidle-{unique}"
    stream_arn = create_active(k, name)["StreamARN"]
    arn = active_consumer(k, stream_arn)
    stream = subscribe(k, arn, {"Type": "LATEST"})
    it = iter(stream)
    first = next(it)["SubscribeToShardEvent"]  # at once
    second = next(it)["SubscribeToShardEvent"]  # the next one though nothing is written
    stream.close()
    assert first["Records"] == [] and second["Records"] == []
    assert second["ContinuationSequenceNumber"] == first["ContinuationSequenceNumber"]


def test_subscribe_errors(sluice, unique):
    k = sluice.client("kinesis")
    name = f"efosuberr-{unique}"
    stream_arn = create_active(k, name)["StreamARN"]
    arn = active_consumer(k, stream_arn)
    seqs = put(k, name, ["x"])

    def sub_error(position, consumer=arn, shard=SHARD):
        with pytest.raises(ClientError) as e:
            k.subscribe_to_shard(ConsumerARN=consumer, ShardId=shard, StartingPosition=position)
        return error_code(e)

    assert sub_error({"Type": "TRIM_HORIZON"}, shard="shardId-000000000009") == \
        "ResourceNotFoundException"
    assert sub_error({"Type": "TRIM_HORIZON"}, consumer=arn.replace("/app:", "/other:")) == \
        "ResourceNotFoundException"
    assert sub_error({"Type": "AT_SEQUENCE_NUMBER"}) == "InvalidArgumentException"
    assert sub_error({"Type": "AT_TIMESTAMP"}) == "InvalidArgumentException"
    assert sub_error({"Type": "AT_SEQUENCE_NUMBER", "SequenceNumber": "12345"}) == \
        "InvalidArgumentException"
    assert sub_error({"Type": "NOWHERE"}) == "ValidationException"
    # one subscription per consumer and shard: a second one within five seconds is refused
    first = subscribe(k, arn, {"Type": "AT_SEQUENCE_NUMBER", "SequenceNumber": seqs[0]})
    assert sub_error({"Type": "LATEST"}) == "ResourceInUseException"
    got, _ = collect(first, 1)
    assert [r["Data"] for r in got] == [b"x"]
    first.close()
    # another consumer of the same stream subscribes to the same shard freely
    other = active_consumer(k, stream_arn, "other")
    got, _ = collect(subscribe(k, other, {"Type": "TRIM_HORIZON"}), 1)
    assert [r["Data"] for r in got] == [b"x"]


def test_a_later_subscription_takes_over(sluice, unique):
    """Five seconds after a subscription began another may take over; the first then
    ends with a ResourceInUseException event."""
    k = sluice.client("kinesis")
    name = f"efotake-{unique}"
    stream_arn = create_active(k, name)["StreamARN"]
    arn = active_consumer(k, stream_arn)
    first = k.subscribe_to_shard(ConsumerARN=arn, ShardId=SHARD,
                                 StartingPosition={"Type": "LATEST"})["EventStream"]
    it = iter(first)
    next(it)
    time.sleep(5.2)
    second = k.subscribe_to_shard(ConsumerARN=arn, ShardId=SHARD,
                                  StartingPosition={"Type": "LATEST"})["EventStream"]
    with pytest.raises(EventStreamError) as e:
        for _ in it:
            pass
    assert e.value.response["Error"]["Code"] == "ResourceInUseException"
    put(k, name, ["for the second"])
    got, _ = collect(second, 1)
    assert [r["Data"] for r in got] == [b"for the second"]
    second.close()


def test_subscribe_needs_an_active_consumer_and_ends_with_its_stream(sluice, unique):
    k = sluice.client("kinesis")
    name = f"efogone-{unique}"
    stream_arn = create_active(k, name)["StreamARN"]
    arn = active_consumer(k, stream_arn)
    stream = subscribe(k, arn, {"Type": "LATEST"})
    it = iter(stream)
    next(it)
    # deregistering ends the subscription with an exception event
    k.deregister_stream_consumer(ConsumerARN=arn)
    with pytest.raises(EventStreamError) as e:
        for _ in it:
            pass
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    # and a DELETING or gone consumer cannot subscribe
    with pytest.raises(ClientError) as e:
        k.subscribe_to_shard(ConsumerARN=arn, ShardId=SHARD, StartingPosition={"Type": "LATEST"})
    assert error_code(e) in ("ResourceInUseException", "ResourceNotFoundException")
    # deleting the stream ends a subscription with ResourceNotFoundException
    arn2 = active_consumer(k, stream_arn, "second")
    stream = subscribe(k, arn2, {"Type": "LATEST"})
    it = iter(stream)
    next(it)
    k.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
    with pytest.raises(EventStreamError) as e:
        for _ in it:
            pass
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_idle_timeout_spares_an_open_subscription(unique):
    """Over HTTP/1.1 too: quiet longer than the idle timeout, the subscription stays."""
    from conftest import Sluice
    server = Sluice(extra_args=["--idle-timeout", "2", *SLUICE_EXTRA_ARGS]).start()
    try:
        k = server.client("kinesis")
        stream_arn = create_active(k, "idle")["StreamARN"]
        arn = active_consumer(k, stream_arn)
        stream = subscribe(k, arn, {"Type": "LATEST"})
        it = iter(stream)
        next(it)
        time.sleep(3.5)
        put(k, "idle", ["late"])
        records = []
        for ev in it:
            records += ev["SubscribeToShardEvent"]["Records"]
            if records:
                break
        stream.close()
        assert [r["Data"] for r in records] == [b"late"]
    finally:
        assert server.stop() == 0
        server.cleanup()


def signed_subscribe_request(server, consumer_arn):
    """The bytes of a signed SubscribeToShard request over HTTP/1.1."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    body = json.dumps({"ConsumerARN": consumer_arn, "ShardId": SHARD,
                       "StartingPosition": {"Type": "LATEST"}})
    req = AWSRequest(method="POST", url=server.endpoint + "/", data=body,
                     headers={"X-Amz-Target": "Kinesis_20131202.SubscribeToShard",
                              "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials(server.access_key, server.secret_key), "kinesis",
              server.region).add_auth(req)
    host = server.endpoint.split("//", 1)[1]
    head = f"POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in req.headers.items()
                    if k.lower() not in ("host", "content-length"))
    return (head + "\r\n" + body).encode()


def test_a_subscriber_that_does_not_read_is_dropped(unique):
    """A client that stops reading while records keep coming is let go after the idle
    timeout, its subscription with it."""
    from conftest import Sluice
    server = Sluice(extra_args=["--idle-timeout", "1", "--log-level", "debug",
                             *SLUICE_EXTRA_ARGS]).start()
    sock = None
    try:
        k = server.client("kinesis")
        stream_arn = create_active(k, "slow")["StreamARN"]
        arn = active_consumer(k, stream_arn)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        sock.sendall(signed_subscribe_request(server, arn))
        big = b"x" * (1000 * 1024)
        dropped = False
        for _ in range(200):
            k.put_record(StreamName="slow", Data=big, PartitionKey="p")
            if "HTTP/1.1 connection closed after 1 requests" in server.read_log():
                dropped = True
                break
        assert dropped
        # and its subscription is over: the consumer subscribes again at once
        stream = k.subscribe_to_shard(ConsumerARN=arn, ShardId=SHARD,
                                      StartingPosition={"Type": "LATEST"})["EventStream"]
        stream.close()
    finally:
        if sock is not None:
            sock.close()
        assert server.stop() == 0
        server.cleanup()


def test_stopping_the_server_ends_subscriptions(fresh_sluice):
    fresh_sluice.start()
    k = fresh_sluice.client("kinesis")
    stream_arn = create_active(k, "stopping")["StreamARN"]
    arn = active_consumer(k, stream_arn)
    stream = subscribe(k, arn, {"Type": "LATEST"})
    it = iter(stream)
    next(it)
    ended = threading.Event()

    def drain():
        for _ in it:
            pass
        ended.set()
    t = threading.Thread(target=drain, daemon=True)
    t.start()
    assert fresh_sluice.stop() == 0  # not held up by the open subscription
    t.join(30)
    assert ended.is_set()  # the event stream ended cleanly


def test_a_split_ends_the_subscription_with_child_shards(sluice, unique):
    """A subscription to a shard that a split closes delivers the shard's last records,
    then an event with its ChildShards, and the event stream ends; subscriptions to the
    children read what came after, so no record is lost across the split."""
    k = sluice.client("kinesis")
    name = f"efosplit-{unique}"
    stream_arn = create_active(k, name)["StreamARN"]
    arn = active_consumer(k, stream_arn)
    before = put(k, name, [f"b{i}" for i in range(4)])
    stream = subscribe(k, arn, {"Type": "TRIM_HORIZON"})
    k.split_shard(StreamName=name, ShardToSplit=SHARD,
                  NewStartingHashKey=str(2 ** 127))
    events = []
    records = []
    deadline = time.time() + 30
    for ev in stream:  # ends by itself after the ChildShards event
        e = ev["SubscribeToShardEvent"]
        events.append(e)
        records += e["Records"]
        assert time.time() < deadline, "the closed shard's subscription never ended"
    assert [r["SequenceNumber"] for r in records] == before
    children = events[-1]["ChildShards"]
    assert sorted(c["ShardId"] for c in children) == ["shardId-000000000001",
                                                      "shardId-000000000002"]
    assert all(c["ParentShards"] == [SHARD] for c in children)
    assert all("ChildShards" not in e for e in events[:-1])
    for _ in range(100):
        if k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
                "StreamStatus"] == "ACTIVE":
            break
        time.sleep(0.05)
    after = {}
    for pk in ("a", "b", "c", "d"):
        after[k.put_record(StreamName=name, Data=pk.encode(), PartitionKey=pk)[
            "SequenceNumber"]] = pk
    got = []
    for child in children:
        s = subscribe(k, arn, {"Type": "TRIM_HORIZON"}, shard=child["ShardId"])
        for ev in s:
            got += [r["SequenceNumber"] for r in ev["SubscribeToShardEvent"]["Records"]]
            break  # the first event holds what the child has
        s.close()
    assert sorted(got) == sorted(after)
