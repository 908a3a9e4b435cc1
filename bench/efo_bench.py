#!/usr/bin/python3
"""Enhanced fan-out latency with boto3, against a fresh sluice (SLUICE_BIN, default
build/sluice) on a free 127.0.0.1 port: how long a record takes from just before its
PutRecord is sent to the moment a reader has it, for two readers of the same one-shard
stream side by side:

  SubscribeToShard  an enhanced fan-out consumer's event stream (HTTP/1.1, boto3);
                    AWS states about 70 ms for enhanced fan-out.
  GetRecords        a shard iterator polled at AWS's 5 calls a second per shard (one
                    call every 200 ms); AWS states about 200 ms for polling.

A writer puts --samples records, one every --interval seconds (a random jitter keeps
it out of step with the poller), each carrying its send time; each reader notes when
it sees each. Prints p50/p99/max per reader; never passes or fails on them.

Usage: bench/efo_bench.py [--samples N] [--interval S]
"""
import argparse
import os
import random
import statistics
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from conftest import Sluice  # noqa: E402

SHARD = "shardId-000000000000"


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def subscriber(kinesis, consumer_arn, want, seen, ready):
    """Reads the event stream, renewing the subscription when it ends."""
    position = {"Type": "LATEST"}
    while len(seen) < want:
        stream = kinesis.subscribe_to_shard(ConsumerARN=consumer_arn, ShardId=SHARD,
                                            StartingPosition=position)["EventStream"]
        for ev in stream:
            now = time.time()
            e = ev["SubscribeToShardEvent"]
            ready.set()
            for r in e["Records"]:
                seen[r["Data"]] = now
            position = {"Type": "AFTER_SEQUENCE_NUMBER",
                        "SequenceNumber": e["ContinuationSequenceNumber"]}
            if len(seen) >= want:
                break
        stream.close()


def poller(kinesis, name, want, seen, ready):
    """GetRecords at 5 calls a second, as AWS allows per shard."""
    it = kinesis.get_shard_iterator(StreamName=name, ShardId=SHARD,
                                    ShardIteratorType="LATEST")["ShardIterator"]
    ready.set()
    next_call = time.time()
    while len(seen) < want:
        r = kinesis.get_records(ShardIterator=it, Limit=10000)
        now = time.time()
        for rec in r["Records"]:
            seen[rec["Data"]] = now
        it = r["NextShardIterator"]
        next_call += 0.2
        time.sleep(max(0.0, next_call - time.time()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--interval", type=float, default=0.05)
    args = ap.parse_args()
    server = Sluice().start()
    try:
        k = server.client("kinesis")
        name = "efo-bench"
        k.create_stream(StreamName=name, ShardCount=1)
        k.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})
        arn = k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
        consumer = k.register_stream_consumer(StreamARN=arn, ConsumerName="bench")["Consumer"]
        while k.describe_stream_consumer(ConsumerARN=consumer["ConsumerARN"])[
                "ConsumerDescription"]["ConsumerStatus"] != "ACTIVE":
            time.sleep(0.05)
        readers = {"SubscribeToShard": ({}, threading.Event()), "GetRecords 5/s": ({}, threading.Event())}
        threads = [
            threading.Thread(target=subscriber, daemon=True,
                             args=(server.client("kinesis"), consumer["ConsumerARN"],
                                   args.samples, *readers["SubscribeToShard"])),
            threading.Thread(target=poller, daemon=True,
                             args=(server.client("kinesis"), name, args.samples,
                                   *readers["GetRecords 5/s"])),
        ]
        for t in threads:
            t.start()
        for _, ready in readers.values():
            ready.wait(30)
        writer = server.client("kinesis")
        sent, acked = {}, {}
        for i in range(args.samples):
            data = f"sample-{i}".encode()
            sent[data] = time.time()
            writer.put_record(StreamName=name, Data=data, PartitionKey="bench")
            acked[data] = time.time()
            time.sleep(args.interval * random.uniform(0.5, 1.5))
        for t in threads:
            t.join(60)
        print(f"put -> receive latency, {args.samples} records, one shard "
              f"(AWS: ~70 ms enhanced fan-out, ~200 ms polling)")
        for label, (seen, _) in readers.items():
            lat = [(seen[d] - t0) * 1000.0 for d, t0 in sent.items() if d in seen]
            if not lat:
                print(f"  {label:18s} nothing received")
                continue
            print(f"  {label:18s} p50 {percentile(lat, 50):7.1f} ms  p99 {percentile(lat, 99):7.1f} ms"
                  f"  max {max(lat):7.1f} ms  mean {statistics.mean(lat):7.1f} ms"
                  f"  ({len(lat)}/{len(sent)} received)")
            # against the put's answer, which comes once the record is durable: how soon
            # after durability the reader had it (negative: before the writer knew)
            after = [(seen[d] - t0) * 1000.0 for d, t0 in acked.items() if d in seen]
            print(f"  {'':18s} vs the put's answer: p50 {percentile(after, 50):7.1f} ms"
                  f"  p99 {percentile(after, 99):7.1f} ms")
    finally:
        server.stop()
        server.cleanup()


if __name__ == "__main__":
    main()
