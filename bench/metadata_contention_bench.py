#!/usr/bin/python3
"""Metadata contention benchmark: S3 HeadBucket latency while expensive Glue partition
scans run in the same server (they share one metadata store).

Starts its own sluice (SLUICE_BIN, default build/sluice) on a free 127.0.0.1 port with
a temporary data directory, then:

  1. creates a bucket, and a table whose one partition key holds long values
     (--value-len bytes, 'a's then the partition number) with --partitions partitions;
  2. runs GetPartitions with a long LIKE expression that matches nothing
     ('%aaa...ab%', a segment of --segment-len bytes: the backtracking worst case) in
     a loop on --scanners threads;
  3. meanwhile times HeadBucket from one more thread, back to back, for --seconds.

Reports HeadBucket p50/p99/max and count, and GetPartitions count and mean time (and
any errors, such as OperationTimeoutException). Prints figures; never passes or fails.
Usage: bench/metadata_contention_bench.py [--partitions N] [--seconds S] [--scanners N]
"""
import argparse
import os
import statistics
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from conftest import Sluice  # noqa: E402


def pct(sorted_values, p):
    if not sorted_values:
        return float("nan")
    idx = min(len(sorted_values) - 1, int(p * (len(sorted_values) - 1) + 0.5))
    return sorted_values[idx]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--partitions", type=int, default=20000)
    ap.add_argument("--value-len", type=int, default=1000)
    ap.add_argument("--segment-len", type=int, default=500)
    ap.add_argument("--scanners", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    server = Sluice().start()
    try:
        s3 = server.client("s3")
        s3.create_bucket(Bucket="contention")
        glue = server.client("glue")
        glue.create_database(DatabaseInput={"Name": "bench"})
        glue.create_table(DatabaseName="bench", TableInput={
            "Name": "paths",
            "StorageDescriptor": {"Columns": [{"Name": "id", "Type": "string"}],
                                  "Location": "s3://contention/paths/"},
            "PartitionKeys": [{"Name": "path", "Type": "string"}]})
        t0 = time.monotonic()
        for start in range(0, args.partitions, 100):
            entries = [{"Values": [("a" * args.value_len + str(i))[-args.value_len:]]}
                       for i in range(start, min(start + 100, args.partitions))]
            out = glue.batch_create_partition(DatabaseName="bench", TableName="paths",
                                              PartitionInputList=entries)
            assert out["Errors"] == [], out["Errors"][:1]
        print(f"{args.partitions} partitions of {args.value_len}-byte values created in "
              f"{time.monotonic() - t0:.1f} s; server {server.endpoint} ({server.binary})")

        expression = "path LIKE '%" + "a" * args.segment_len + "b%'"
        stop = threading.Event()
        scans = []   # seconds per completed GetPartitions
        errors = {}  # error code -> count

        def scanner():
            client = server.client("glue")
            while not stop.is_set():
                t = time.monotonic()
                try:
                    client.get_partitions(DatabaseName="bench", TableName="paths",
                                          Expression=expression)
                    scans.append(time.monotonic() - t)
                except client.exceptions.ClientError as e:
                    code = e.response["Error"]["Code"]
                    errors[code] = errors.get(code, 0) + 1

        threads = [threading.Thread(target=scanner) for _ in range(args.scanners)]
        for th in threads:
            th.start()
        time.sleep(0.5)  # let the scans get going
        heads = []
        head_client = server.client("s3")
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            t = time.monotonic()
            head_client.head_bucket(Bucket="contention")
            heads.append(time.monotonic() - t)
        stop.set()
        for th in threads:
            th.join()
        heads.sort()
        ms = [h * 1000 for h in heads]
        print(f"HeadBucket under {args.scanners} GetPartitions loops "
              f"(LIKE segment {args.segment_len} bytes), {args.seconds:.0f} s: "
              f"{len(heads)} calls, p50 {pct(ms, 0.5):.1f} ms, p99 {pct(ms, 0.99):.1f} ms, "
              f"max {ms[-1] if ms else float('nan'):.1f} ms")
        mean_scan = statistics.mean(scans) if scans else float("nan")
        print(f"GetPartitions: {len(scans)} completed, mean {mean_scan * 1000:.0f} ms; "
              f"errors {errors or 'none'}")
        print(f"RESULT head_p50_ms={pct(ms, 0.5):.2f} head_p99_ms={pct(ms, 0.99):.2f} "
              f"head_max_ms={ms[-1] if ms else float('nan'):.2f} heads={len(heads)} "
              f"scans={len(scans)} scan_mean_ms={mean_scan * 1000:.0f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
