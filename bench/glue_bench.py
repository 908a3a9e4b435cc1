#!/usr/bin/python3
"""Glue catalog benchmark over HTTP with boto3 (the path a client sees: HTTP, SigV4,
JSON). Starts its own sluice (SLUICE_BIN, default build/sluice) on a free 127.0.0.1
port with a temporary data directory, then:

  1. BatchCreatePartition: 100,000 partitions (year, month, day, region) in batches of
     100, on --connections threads; reports partitions/s.
  2. GetPartitions with selective expressions over those partitions, paging through
     every page; reports p50/p99/max milliseconds per expression kind.

Prints figures, never passes or fails on them. Usage:
  bench/glue_bench.py [--partitions N] [--queries N] [--connections N] [--seed S]
"""
import argparse
import os
import random
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from conftest import Sluice  # noqa: E402


def values_of(i):
    return [str(2000 + i // 10080), str(i // 840 % 12 + 1), str(i // 30 % 28 + 1),
            f"r{i % 30:02d}"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--partitions", type=int, default=100000)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    server = Sluice().start()
    try:
        glue = server.client("glue")
        glue.create_database(DatabaseInput={"Name": "bench"})
        glue.create_table(DatabaseName="bench", TableInput={
            "Name": "events",
            "StorageDescriptor": {"Columns": [{"Name": "id", "Type": "string"}],
                                  "Location": "s3://bench/events/"},
            "PartitionKeys": [{"Name": "year", "Type": "int"}, {"Name": "month", "Type": "int"},
                              {"Name": "day", "Type": "int"},
                              {"Name": "region", "Type": "string"}]})
        clients = [server.client("glue") for _ in range(args.connections)]

        def create(batch_no):
            start = batch_no * 100
            entries = [{"Values": values_of(i),
                        "StorageDescriptor": {"Location": "s3://bench/events/%s/%s/%s/%s/"
                                              % tuple(values_of(i))}}
                       for i in range(start, min(start + 100, args.partitions))]
            out = clients[batch_no % len(clients)].batch_create_partition(
                DatabaseName="bench", TableName="events", PartitionInputList=entries)
            assert out["Errors"] == [], out["Errors"][:1]

        t0 = time.monotonic()
        with ThreadPoolExecutor(args.connections) as pool:
            list(pool.map(create, range((args.partitions + 99) // 100)))
        secs = time.monotonic() - t0
        print(f"seed {args.seed}, {args.partitions} partitions, server {server.endpoint}")
        print(f"BatchCreatePartition over HTTP: {args.partitions} partitions in {secs:.2f} s = "
              f"{args.partitions / secs:.0f} partitions/s ({args.connections} connections)")

        years = args.partitions // 10080 + 1
        kinds = {
            "year/month/day equality": lambda y, m, d: f"year = {y} AND month = {m} AND day = {d}",
            "region+BETWEEN+IN": lambda y, m, d: (
                f"region = 'r{rng.randrange(30):02d}' AND year = {y} AND month IN ({m}, "
                f"{m % 12 + 1}) AND day BETWEEN {d} AND {d + 2}"),
            "no leading-key equality: full scan": lambda y, m, d: (
                f"month = {m} AND day = {d} AND region = 'r{rng.randrange(30):02d}'"),
        }
        result = [f"create_partitions_per_s={args.partitions / secs:.0f}"]
        for n, (kind, make) in enumerate(kinds.items()):
            lat = []
            for _ in range(args.queries):
                expr = make(2000 + rng.randrange(years), rng.randrange(12) + 1,
                            rng.randrange(28) + 1)
                q0 = time.monotonic()
                for _page in glue.get_paginator("get_partitions").paginate(
                        DatabaseName="bench", TableName="events", Expression=expr):
                    pass
                lat.append((time.monotonic() - q0) * 1000)
            lat.sort()
            p50 = statistics.median(lat)
            p99 = lat[min(len(lat) - 1, int(0.99 * (len(lat) - 1) + 0.5))]
            print(f"GetPartitions over HTTP [{kind}]: p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
                  f"max {lat[-1]:.2f} ms")
            result.append(f"get_p50_ms_{n}={p50:.2f} get_p99_ms_{n}={p99:.2f}")
        print("RESULT " + " ".join(result))
    finally:
        server.stop()
        server.cleanup()


if __name__ == "__main__":
    main()
