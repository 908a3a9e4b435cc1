"""Resharding end to end with boto3: SplitShard, MergeShards and UpdateShardCount with
AWS's rules and errors, records routed to the children, closed shards read to their end
(ChildShards, no NextShardIterator), ListShards' filters, the lineage across a kill -9,
and a Kinesis-sourced Firehose delivering every record across a split.
"""
import datetime
import threading
import time

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import Sluice


# These tests write and read shards at full speed around reshardings; what they test is not the throughput
# limits (test_kinesis_limits.py tests those), so their servers run without them.
SLUICE_EXTRA_ARGS = ("--throughput-limits", "off")


@pytest.fixture(scope="module")
def sluice(sluice_unlimited):
    return sluice_unlimited

ACCOUNT = "000000000000"
MAX_HASH = 2**128 - 1
ROLE = "arn:aws:iam::000000000000:role/firehose"


def err(excinfo):
    e = excinfo.value.response["Error"]
    return e["Code"], e.get("Message", "")


def wait_active(kin, name, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        d = kin.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        if d["StreamStatus"] == "ACTIVE":
            return d
        time.sleep(0.05)
    raise AssertionError(f"{name} did not become ACTIVE")


def all_shards(kin, name):
    return {s["ShardId"]: s for s in kin.list_shards(StreamName=name)["Shards"]}


def seq_fields(seq):
    """The fields of AWS's sequence number layout (see test_kinesis.py's seqno_fields)."""
    h = format(int(seq), "x")
    assert len(str(seq)) == 56 and h[0] == "2" and h[46] == "2"
    return {"epoch": int(h[1:10], 16), "counter": int(h[11:27], 16), "shard": int(h[38:46], 16)}


def sid(n):
    return f"shardId-{n:012d}"


@pytest.fixture
def kin(sluice):
    return sluice.client("kinesis")


def make_stream(kin, name, shards):
    kin.create_stream(StreamName=name, ShardCount=shards)
    wait_active(kin, name)
    return name


# ---- SplitShard ----

def test_split_rules_lineage_and_routing(kin, unique):
    name = make_stream(kin, "split-" + unique, 2)
    s0 = all_shards(kin, name)[sid(0)]
    end0 = int(s0["HashKeyRange"]["EndingHashKey"])
    prefix = (f"used in SplitShard() on shard {sid(0)} in stream {name} under account {ACCOUNT} "
              "is not both greater than one plus the shard's StartingHashKey 0 and less than "
              f"the shard's EndingHashKey {end0}.")
    for key in ("0", "1", str(end0), str(end0 + 5)):
        with pytest.raises(ClientError) as e:
            kin.split_shard(StreamName=name, ShardToSplit=sid(0), NewStartingHashKey=key)
        assert err(e) == ("InvalidArgumentException", f"NewStartingHashKey {key} " + prefix)
    with pytest.raises(ClientError) as e:
        kin.split_shard(StreamName=name, ShardToSplit="shardId-000000000009",
                        NewStartingHashKey="5")
    assert err(e) == ("ResourceNotFoundException",
                      f"Could not find shard shardId-000000000009 in stream {name} under "
                      f"account {ACCOUNT}.")
    with pytest.raises(ClientError) as e:
        kin.split_shard(StreamName="nope-" + unique, ShardToSplit=sid(0), NewStartingHashKey="5")
    assert err(e)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        kin.split_shard(StreamName=name, ShardToSplit=sid(0), NewStartingHashKey="01")
    assert err(e)[0] == "ValidationException"

    before = kin.put_record(StreamName=name, Data=b"old", PartitionKey="x",
                            ExplicitHashKey="5")
    assert before["ShardId"] == sid(0)
    mid = end0 // 2
    kin.split_shard(StreamName=name, ShardToSplit=sid(0), NewStartingHashKey=str(mid))
    summary = kin.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    # One resharding at a time: the stream is UPDATING until it settles.
    if summary["StreamStatus"] == "UPDATING":
        with pytest.raises(ClientError) as e:
            kin.split_shard(StreamName=name, ShardToSplit=sid(1), NewStartingHashKey=str(end0 + 9))
        assert err(e) == ("ResourceInUseException",
                          f"Stream {name} under account {ACCOUNT} not ACTIVE, instead in state "
                          "UPDATING")
    summary = wait_active(kin, name)
    assert summary["OpenShardCount"] == 3

    d = kin.describe_stream(StreamName=name)["StreamDescription"]
    shards = {s["ShardId"]: s for s in d["Shards"]}
    assert list(shards) == [sid(0), sid(1), sid(2), sid(3)]
    parent, low, high = shards[sid(0)], shards[sid(2)], shards[sid(3)]
    assert "EndingSequenceNumber" in parent["SequenceNumberRange"]
    assert low["ParentShardId"] == sid(0) and high["ParentShardId"] == sid(0)
    assert "AdjacentParentShardId" not in low
    assert low["HashKeyRange"] == {"StartingHashKey": "0", "EndingHashKey": str(mid - 1)}
    assert high["HashKeyRange"] == {"StartingHashKey": str(mid), "EndingHashKey": str(end0)}
    ending = int(parent["SequenceNumberRange"]["EndingSequenceNumber"])
    assert int(before["SequenceNumber"]) < ending
    # As AWS gives a closed shard's end: the shard's epoch and number with the last counter.
    parent_start = seq_fields(parent["SequenceNumberRange"]["StartingSequenceNumber"])
    end_fields = seq_fields(ending)
    assert end_fields["counter"] == 2 ** 63 - 1
    assert (end_fields["epoch"], end_fields["shard"]) == (parent_start["epoch"], 0)
    for child, n in ((low, 2), (high, 3)):
        assert "EndingSequenceNumber" not in child["SequenceNumberRange"]
        start = child["SequenceNumberRange"]["StartingSequenceNumber"]
        assert int(start) > ending
        fields = seq_fields(start)
        assert fields["shard"] == n and fields["counter"] == 0
        assert fields["epoch"] > end_fields["epoch"]

    # New records go to the open children by hash key; the parent takes no more.
    assert kin.put_record(StreamName=name, Data=b"a", PartitionKey="x",
                          ExplicitHashKey="5")["ShardId"] == sid(2)
    r = kin.put_record(StreamName=name, Data=b"b", PartitionKey="x", ExplicitHashKey=str(mid))
    assert r["ShardId"] == sid(3) and int(r["SequenceNumber"]) > ending
    # The closed shard is readable, and a closed shard cannot be split again.
    it = kin.get_shard_iterator(StreamName=name, ShardId=sid(0),
                                ShardIteratorType="AT_SEQUENCE_NUMBER",
                                StartingSequenceNumber=before["SequenceNumber"])["ShardIterator"]
    assert [x["Data"] for x in kin.get_records(ShardIterator=it)["Records"]] == [b"old"]
    with pytest.raises(ClientError) as e:
        kin.split_shard(StreamName=name, ShardToSplit=sid(0), NewStartingHashKey=str(mid))
    assert err(e) == ("InvalidArgumentException",
                      f"Shard {sid(0)} in stream {name} under account {ACCOUNT} has already been "
                      "merged or split, and thus is not eligible for splitting.")


def test_split_beyond_the_shard_quota(fresh_sluice, unique):
    server = Sluice(extra_args=["--shard-limit", "3", *SLUICE_EXTRA_ARGS])
    try:
        server.start()
        kin = server.client("kinesis")
        name = make_stream(kin, "quota-" + unique, 3)
        with pytest.raises(ClientError) as e:
            kin.split_shard(StreamName=name, ShardToSplit=sid(0), NewStartingHashKey="100")
        assert err(e) == (
            "LimitExceededException",
            f"This request would exceed the shard limit for the account {ACCOUNT} in us-east-1. "
            "Current shard count for the account: 3. Limit: 3. Number of additional shards that "
            "would have resulted from this request: 1. Refer to the AWS Service Limits page for "
            "current limits and how to request higher limits.")
        with pytest.raises(ClientError) as e:
            kin.update_shard_count(StreamName=name, TargetShardCount=4,
                                   ScalingType="UNIFORM_SCALING")
        assert err(e)[0] == "LimitExceededException"
        # A merge frees a shard, and then the split fits.
        kin.merge_shards(StreamName=name, ShardToMerge=sid(0), AdjacentShardToMerge=sid(1))
        wait_active(kin, name)
        kin.split_shard(StreamName=name, ShardToSplit=sid(2), NewStartingHashKey=str(2**128 * 5 // 6))
        wait_active(kin, name)
        assert kin.describe_limits()["OpenShardCount"] == 3
    finally:
        server.stop()
        server.cleanup()


# ---- MergeShards ----

def test_merge_rules_and_lineage(kin, unique):
    name = make_stream(kin, "merge-" + unique, 3)
    for a, b in ((0, 2), (1, 0), (2, 0)):
        with pytest.raises(ClientError) as e:
            kin.merge_shards(StreamName=name, ShardToMerge=sid(a), AdjacentShardToMerge=sid(b))
        assert err(e) == ("InvalidArgumentException",
                          f"Shards {sid(a)} and {sid(b)} in stream {name} under account {ACCOUNT} "
                          "are not an adjacent pair of shards eligible for merging")
    with pytest.raises(ClientError) as e:
        kin.merge_shards(StreamName=name, ShardToMerge=sid(0), AdjacentShardToMerge=sid(7))
    assert err(e) == ("ResourceNotFoundException",
                      f"Could not find shard {sid(7)} in stream {name} under account {ACCOUNT}.")
    shards = all_shards(kin, name)
    kin.put_record(StreamName=name, Data=b"p1", PartitionKey="k",
                   ExplicitHashKey=shards[sid(1)]["HashKeyRange"]["StartingHashKey"])
    kin.merge_shards(StreamName=name, ShardToMerge=sid(0), AdjacentShardToMerge=sid(1))
    wait_active(kin, name)
    shards = all_shards(kin, name)
    child = shards[sid(3)]
    assert child["ParentShardId"] == sid(0) and child["AdjacentParentShardId"] == sid(1)
    assert child["HashKeyRange"] == {
        "StartingHashKey": "0",
        "EndingHashKey": shards[sid(1)]["HashKeyRange"]["EndingHashKey"]}
    assert kin.describe_stream_summary(
        StreamName=name)["StreamDescriptionSummary"]["OpenShardCount"] == 2
    with pytest.raises(ClientError) as e:
        kin.merge_shards(StreamName=name, ShardToMerge=sid(1), AdjacentShardToMerge=sid(2))
    assert err(e) == ("InvalidArgumentException",
                      f"Shard {sid(1)} in stream {name} under account {ACCOUNT} has already been "
                      "merged or split, and thus is not eligible for merging.")
    r = kin.put_record(StreamName=name, Data=b"c", PartitionKey="k",
                       ExplicitHashKey=shards[sid(1)]["HashKeyRange"]["StartingHashKey"])
    assert r["ShardId"] == sid(3)
    # The merged shard's numbers all sort above both parents' ending numbers.
    for p in (sid(0), sid(1)):
        assert int(r["SequenceNumber"]) > int(
            child["SequenceNumberRange"]["StartingSequenceNumber"]) > int(
            shards[p]["SequenceNumberRange"]["EndingSequenceNumber"])

    # The end of a closed shard: its records, then ChildShards and no next iterator.
    it = kin.get_shard_iterator(StreamName=name, ShardId=sid(1),
                                ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    out = kin.get_records(ShardIterator=it)
    assert [x["Data"] for x in out["Records"]] == [b"p1"]
    assert "NextShardIterator" not in out
    assert out["MillisBehindLatest"] == 0
    assert out["ChildShards"] == [{"ShardId": sid(3), "ParentShards": [sid(0), sid(1)],
                                   "HashKeyRange": child["HashKeyRange"]}]


# ---- UpdateShardCount ----

def open_ranges(kin, name):
    return sorted((int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"]))
                  for s in all_shards(kin, name).values()
                  if "EndingSequenceNumber" not in s["SequenceNumberRange"])


def even(n):
    starts = [i * 2**128 // n for i in range(n)]
    return [(starts[i], (starts[i + 1] - 1) if i + 1 < n else MAX_HASH) for i in range(n)]


def check_lineage(kin, name):
    """Every closed shard's children cover exactly its range; every child names it."""
    shards = all_shards(kin, name)
    for s in shards.values():
        if "EndingSequenceNumber" not in s["SequenceNumberRange"]:
            continue
        kids = [c for c in shards.values()
                if s["ShardId"] in (c.get("ParentShardId"), c.get("AdjacentParentShardId"))]
        assert kids, s["ShardId"]
        lo = int(s["HashKeyRange"]["StartingHashKey"])
        hi = int(s["HashKeyRange"]["EndingHashKey"])
        k_lo = min(int(c["HashKeyRange"]["StartingHashKey"]) for c in kids)
        k_hi = max(int(c["HashKeyRange"]["EndingHashKey"]) for c in kids)
        if len(kids) == 2 and all("AdjacentParentShardId" not in c for c in kids):
            assert (k_lo, k_hi) == (lo, hi)  # a split
        else:
            assert k_lo <= lo and hi <= k_hi  # a merge covers both parents


def test_update_shard_count_rules(kin, unique):
    name = make_stream(kin, "scale-" + unique, 2)
    r = kin.update_shard_count(StreamName=name, TargetShardCount=4, ScalingType="UNIFORM_SCALING")
    assert (r["StreamName"], r["CurrentShardCount"], r["TargetShardCount"]) == (name, 2, 4)
    assert r.get("StreamARN", ":stream/" + name).endswith(":stream/" + name)  # newer models
    wait_active(kin, name)
    assert open_ranges(kin, name) == even(4)
    with pytest.raises(ClientError) as e:
        kin.update_shard_count(StreamName=name, TargetShardCount=9, ScalingType="UNIFORM_SCALING")
    assert err(e) == ("LimitExceededException",
                      "UpdateShardCount cannot scale up over double your current open shard "
                      "count. Current open shard count: 4 Target shard count: 9")
    with pytest.raises(ClientError) as e:
        kin.update_shard_count(StreamName=name, TargetShardCount=1, ScalingType="UNIFORM_SCALING")
    assert err(e) == ("LimitExceededException",
                      "UpdateShardCount cannot scale down below half your current open shard "
                      "count. Current open shard count: 4 Target shard count: 1")
    kin.update_shard_count(StreamName=name, TargetShardCount=3, ScalingType="UNIFORM_SCALING")
    wait_active(kin, name)
    # 4 -> 3 needs short-lived shards: the open ones end up even, the lineage consistent.
    assert open_ranges(kin, name) == even(3)
    check_lineage(kin, name)
    kin.update_shard_count(StreamName=name, TargetShardCount=5, ScalingType="UNIFORM_SCALING")
    wait_active(kin, name)
    assert open_ranges(kin, name) == even(5)
    check_lineage(kin, name)
    ids = list(all_shards(kin, name))
    assert ids == [sid(i) for i in range(len(ids))]  # numbering continues densely


def test_update_shard_count_validation(sluice, unique):
    kin = sluice.client("kinesis", config=Config(parameter_validation=False,
                                                 retries={"total_max_attempts": 1}))
    name = make_stream(kin, "scalev-" + unique, 1)
    with pytest.raises(ClientError) as e:
        kin.update_shard_count(StreamName=name, TargetShardCount=2, ScalingType="LOPSIDED")
    assert err(e) == ("ValidationException",
                      "1 validation error detected: Value 'LOPSIDED' at 'scalingType' failed to "
                      "satisfy constraint: Member must satisfy enum value set: [UNIFORM_SCALING]")
    with pytest.raises(ClientError) as e:
        kin.update_shard_count(StreamName=name, TargetShardCount=0, ScalingType="UNIFORM_SCALING")
    assert err(e)[0] == "ValidationException"
    with pytest.raises(ClientError) as e:
        kin.update_shard_count(StreamName="nope-" + unique, TargetShardCount=2,
                               ScalingType="UNIFORM_SCALING")
    assert err(e)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        kin.merge_shards(StreamName=name, ShardToMerge=sid(0))
    assert err(e)[0] == "ValidationException"
    od = "scaleod-" + unique
    kin.create_stream(StreamName=od, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    wait_active(kin, od)
    with pytest.raises(ClientError) as e:
        kin.update_shard_count(StreamName=od, TargetShardCount=5, ScalingType="UNIFORM_SCALING")
    assert err(e) == ("InvalidArgumentException",
                      f"UpdateShardCount is not supported for stream {od} under account "
                      f"{ACCOUNT} because it is in ON_DEMAND mode.")


# ---- ListShards ----

def ids_of(resp):
    return [s["ShardId"] for s in resp["Shards"]]


def test_list_shards_filters(kin, unique):
    name = make_stream(kin, "filt-" + unique, 2)
    # Older botocore sends whole seconds: keep each timestamp a second clear of the events.
    time.sleep(1.05)
    t_before = datetime.datetime.now(datetime.timezone.utc)
    kin.split_shard(StreamName=name, ShardToSplit=sid(0), NewStartingHashKey=str(2**120))
    wait_active(kin, name)
    time.sleep(1.05)
    t_after = datetime.datetime.now(datetime.timezone.utc)
    ls = kin.list_shards
    assert ids_of(ls(StreamName=name)) == [sid(0), sid(1), sid(2), sid(3)]
    assert ids_of(ls(StreamName=name, ShardFilter={"Type": "AT_LATEST"})) == [sid(1), sid(2), sid(3)]
    assert ids_of(ls(StreamName=name, ShardFilter={"Type": "AFTER_SHARD_ID",
                                                   "ShardId": sid(1)})) == [sid(2), sid(3)]
    # A young stream's trim horizon is its creation: its first shards, where consumers start.
    assert ids_of(ls(StreamName=name, ShardFilter={"Type": "AT_TRIM_HORIZON"})) == [sid(0), sid(1)]
    assert ids_of(ls(StreamName=name, ShardFilter={"Type": "FROM_TRIM_HORIZON"})) == [
        sid(0), sid(1), sid(2), sid(3)]
    assert ids_of(ls(StreamName=name, ShardFilter={"Type": "AT_TIMESTAMP",
                                                   "Timestamp": t_before})) == [sid(0), sid(1)]
    assert ids_of(ls(StreamName=name, ShardFilter={"Type": "AT_TIMESTAMP",
                                                   "Timestamp": t_after})) == [sid(1), sid(2), sid(3)]
    assert ids_of(ls(StreamName=name, ShardFilter={"Type": "FROM_TIMESTAMP",
                                                   "Timestamp": t_before})) == [
        sid(0), sid(1), sid(2), sid(3)]
    assert ids_of(ls(StreamName=name, ShardFilter={"Type": "FROM_TIMESTAMP",
                                                   "Timestamp": t_after})) == [sid(1), sid(2), sid(3)]
    assert ids_of(ls(StreamName=name, ExclusiveStartShardId=sid(2))) == [sid(3)]
    # Paging keeps the filter.
    r = ls(StreamName=name, ShardFilter={"Type": "AT_LATEST"}, MaxResults=2)
    assert ids_of(r) == [sid(1), sid(2)]
    r = ls(NextToken=r["NextToken"], MaxResults=2)
    assert ids_of(r) == [sid(3)] and "NextToken" not in r
    with pytest.raises(ClientError) as e:
        ls(NextToken=r.get("NextToken", "x"), ShardFilter={"Type": "AT_LATEST"})
    assert err(e) == ("InvalidArgumentException",
                      "NextToken and ShardFilter cannot be provided together.")
    with pytest.raises(ClientError) as e:
        ls(StreamName=name, ShardFilter={"Type": "AFTER_SHARD_ID"})
    assert err(e) == ("InvalidArgumentException",
                      "ShardId must be specified for the AFTER_SHARD_ID filter type.")
    with pytest.raises(ClientError) as e:
        ls(StreamName=name, ShardFilter={"Type": "AT_TIMESTAMP"})
    assert err(e) == ("InvalidArgumentException",
                      "Timestamp must be specified for the AT_TIMESTAMP filter type.")
    with pytest.raises(ClientError) as e:
        ls(StreamName=name, ShardFilter={"Type": "AT_LATEST", "ShardId": sid(1)})
    assert err(e)[0] == "InvalidArgumentException"


# ---- under continuous writes and reads ----

class Writer(threading.Thread):
    """Puts batches with each of n_keys partition keys once, "key:n" with n counting up per
    key; remembers what was acknowledged."""

    def __init__(self, kin, name, n_keys=40):
        super().__init__(daemon=True)
        self.kin, self.name, self.n_keys = kin, name, n_keys
        self.stop = threading.Event()
        self.acked = {f"k{i}": [] for i in range(n_keys)}
        self.error = None

    def run(self):
        n = 0
        try:
            while not self.stop.is_set():
                recs = [{"Data": f"k{i}:{n}".encode(), "PartitionKey": f"k{i}"}
                        for i in range(self.n_keys)]
                r = self.kin.put_records(StreamName=self.name, Records=recs)
                assert r["FailedRecordCount"] == 0, r
                for i in range(self.n_keys):
                    self.acked[f"k{i}"].append(n)
                n += 1
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e

    def total(self):
        return sum(len(v) for v in self.acked.values())


class Follower:
    """Reads from TRIM_HORIZON on the roots and follows ChildShards, a child only once all
    its parents are read to their end; records are appended in the order read."""

    def __init__(self, kin, name):
        self.kin, self.name = kin, name
        self.done, self.iters, self.records = set(), {}, []
        self.parents = {}
        for s in kin.list_shards(StreamName=name)["Shards"]:
            if "ParentShardId" not in s:
                self.start(s["ShardId"])

    def start(self, shard_id):
        self.iters[shard_id] = self.kin.get_shard_iterator(
            StreamName=self.name, ShardId=shard_id,
            ShardIteratorType="TRIM_HORIZON")["ShardIterator"]

    def poll(self):
        for shard_id in list(self.iters):
            out = self.kin.get_records(ShardIterator=self.iters[shard_id])
            self.records += [x["Data"].decode() for x in out["Records"]]
            if out.get("NextShardIterator"):
                self.iters[shard_id] = out["NextShardIterator"]
                continue
            del self.iters[shard_id]
            self.done.add(shard_id)
            for c in out["ChildShards"]:
                self.parents[c["ShardId"]] = c["ParentShards"]
                if (c["ShardId"] not in self.iters and c["ShardId"] not in self.done
                        and all(p in self.done for p in c["ParentShards"])):
                    self.start(c["ShardId"])

    def until(self, count, timeout=60):
        deadline = time.time() + timeout
        while len(self.records) < count and time.time() < deadline:
            self.poll()
        return self.records


def check_exactly_once_in_order(records, writer):
    per_key = {}
    for r in records:
        key, n = r.split(":")
        per_key.setdefault(key, []).append(int(n))
    assert per_key == writer.acked


def test_reshard_under_continuous_writes_and_reads(kin, sluice, unique):
    name = make_stream(kin, "live-" + unique, 2)
    writer = Writer(sluice.client("kinesis"), name)
    live = Follower(sluice.client("kinesis"), name)
    writer.start()

    def let_records_flow(k=3):
        want = writer.total() + k * writer.n_keys
        while writer.total() < want and writer.error is None:
            live.poll()

    let_records_flow()
    kin.split_shard(StreamName=name, ShardToSplit=sid(0), NewStartingHashKey=str(2**126))
    wait_active(kin, name)
    let_records_flow()
    kin.merge_shards(StreamName=name, ShardToMerge=sid(2), AdjacentShardToMerge=sid(3))
    wait_active(kin, name)
    let_records_flow()
    kin.update_shard_count(StreamName=name, TargetShardCount=3, ScalingType="UNIFORM_SCALING")
    wait_active(kin, name)
    let_records_flow()
    kin.update_shard_count(StreamName=name, TargetShardCount=6, ScalingType="UNIFORM_SCALING")
    wait_active(kin, name)
    let_records_flow()
    writer.stop.set()
    writer.join()
    assert writer.error is None, writer.error
    total = writer.total()
    assert total > 0
    check_exactly_once_in_order(live.until(total), writer)
    # A reader starting afterwards from the roots gets the same.
    check_exactly_once_in_order(Follower(kin, name).until(total), writer)
    check_lineage(kin, name)


# ---- crash ----

def test_lineage_survives_kill9_right_after_a_split(fresh_sluice, unique):
    fresh_sluice.start()
    kin = fresh_sluice.client("kinesis")
    name = make_stream(kin, "crash-" + unique, 1)
    sent = [f"r{i}" for i in range(50)]
    kin.put_records(StreamName=name, Records=[{"Data": x.encode(), "PartitionKey": x}
                                              for x in sent])
    kin.split_shard(StreamName=name, ShardToSplit=sid(0), NewStartingHashKey=str(2**127))
    fresh_sluice.kill9()
    fresh_sluice.start()
    kin = fresh_sluice.client("kinesis")
    wait_active(kin, name)
    shards = all_shards(kin, name)
    assert list(shards) == [sid(0), sid(1), sid(2)]
    assert "EndingSequenceNumber" in shards[sid(0)]["SequenceNumberRange"]
    assert shards[sid(1)]["ParentShardId"] == sid(0) == shards[sid(2)]["ParentShardId"]
    assert shards[sid(1)]["HashKeyRange"]["EndingHashKey"] == str(2**127 - 1)
    after = [f"s{i}" for i in range(50)]
    r = kin.put_records(StreamName=name, Records=[{"Data": x.encode(), "PartitionKey": x}
                                                  for x in after])
    assert {e["ShardId"] for e in r["Records"]} == {sid(1), sid(2)}
    got = Follower(kin, name).until(100, timeout=20)
    assert sorted(got) == sorted(sent + after)
    assert got[:50] == sent  # the parent first, in order


# ---- Firehose with a Kinesis source ----

def test_firehose_delivers_every_record_across_a_split(sluice, unique):
    import signal as _signal
    kin = sluice.client("kinesis")
    fh = sluice.client("firehose")
    s3 = sluice.client("s3")
    name = "fhsplit-" + unique
    s3.create_bucket(Bucket=name)
    make_stream(kin, name, 1)
    karn = kin.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    fh.create_delivery_stream(
        DeliveryStreamName=name, DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": karn, "RoleARN": ROLE},
        ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{name}",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}})
    deadline = time.time() + 20
    while fh.describe_delivery_stream(DeliveryStreamName=name)[
            "DeliveryStreamDescription"]["DeliveryStreamStatus"] != "ACTIVE":
        assert time.time() < deadline
        time.sleep(0.1)
    writer = Writer(sluice.client("kinesis"), name, n_keys=20)
    writer.start()
    while writer.total() < 200:
        time.sleep(0.01)
    kin.split_shard(StreamName=name, ShardToSplit=sid(0), NewStartingHashKey=str(2**127))
    wait_active(kin, name)
    start = writer.total()
    while writer.total() < start + 200:
        time.sleep(0.01)
    kin.merge_shards(StreamName=name, ShardToMerge=sid(1), AdjacentShardToMerge=sid(2))
    wait_active(kin, name)
    start = writer.total()
    while writer.total() < start + 200:
        time.sleep(0.01)
    writer.stop.set()
    writer.join()
    assert writer.error is None, writer.error
    total = writer.total()
    deadline = time.time() + 60
    got = []
    while time.time() < deadline:
        sluice.proc.send_signal(_signal.SIGUSR1)  # flush
        time.sleep(0.3)
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=name).get("Contents", []))
        got = b"".join(s3.get_object(Bucket=name, Key=k)["Body"].read() for k in keys)
        if got.count(b":") >= total:
            break
    records = []
    for part in got.split(b"k")[1:]:
        records.append("k" + part.decode())
    per_key = {}
    for r in records:
        key, n = r.split(":")
        per_key.setdefault(key, []).append(int(n))
    # Every record once (objects written in the same second have no order by name).
    assert {k: sorted(v) for k, v in per_key.items()} == writer.acked


def delivered_per_key(s3, bucket):
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))
    got = b"".join(s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys)
    per_key = {}
    for part in got.split(b"k")[1:]:
        key, n = ("k" + part.decode()).split(":")
        per_key.setdefault(key, []).append(int(n))
    return per_key


def test_firehose_resumes_the_lineage_after_a_restart(fresh_sluice, unique):
    """Records buffered but not delivered when the server stops are read again from the
    stored per-shard positions; the children of a closed parent wait for it to drain."""
    fresh_sluice.start()
    kin = fresh_sluice.client("kinesis")
    fh = fresh_sluice.client("firehose")
    s3 = fresh_sluice.client("s3")
    name = "fhrestart-" + unique
    s3.create_bucket(Bucket=name)
    make_stream(kin, name, 1)
    karn = kin.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    fh.create_delivery_stream(
        DeliveryStreamName=name, DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": karn, "RoleARN": ROLE},
        ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{name}",
            "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 900}})
    deadline = time.time() + 20
    while fh.describe_delivery_stream(DeliveryStreamName=name)[
            "DeliveryStreamDescription"]["DeliveryStreamStatus"] != "ACTIVE":
        assert time.time() < deadline
        time.sleep(0.1)
    acked = {}

    def put(first, count):
        recs = [{"Data": f"k{i % 10}:{first + i}".encode(), "PartitionKey": f"k{i % 10}"}
                for i in range(count)]
        assert kin.put_records(StreamName=name, Records=recs)["FailedRecordCount"] == 0
        for r in recs:
            key, n = r["Data"].decode().split(":")
            acked.setdefault(key, []).append(int(n))

    put(0, 100)
    kin.split_shard(StreamName=name, ShardToSplit=sid(0), NewStartingHashKey=str(2**127))
    wait_active(kin, name)
    put(100, 100)
    kin.split_shard(StreamName=name, ShardToSplit=sid(1), NewStartingHashKey=str(2**126))
    wait_active(kin, name)
    put(200, 100)
    # Nothing is delivered yet (a 900 s buffer); a clean restart drops the buffer.
    assert fresh_sluice.restart()
    kin = fresh_sluice.client("kinesis")
    s3 = fresh_sluice.client("s3")
    put(300, 100)
    deadline = time.time() + 60
    per_key = {}
    while time.time() < deadline:
        fresh_sluice.proc.send_signal(__import__("signal").SIGUSR1)  # flush
        time.sleep(0.3)
        per_key = delivered_per_key(s3, name)
        if sum(len(v) for v in per_key.values()) >= 400:
            break
    assert {k: sorted(v) for k, v in per_key.items()} == acked
