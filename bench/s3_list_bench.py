#!/usr/bin/python3
"""Listing benchmark at scale: ListObjectsV2 of one 1,000-key prefix in a bucket of
--keys keys (default 10 million), and the server's memory.

PUTting ten million objects takes hours on one disk, so the metadata is populated
directly: sluice (SLUICE_BIN, default build/sluice) starts once on a fresh data
directory to create its schema, one real small object is PUT, the server stops, and
rows for the other keys are inserted into lake_objects with SQLite in key order, each
naming that object's bytes (a GET of any of them answers those bytes). The layout is
--keys/1000 prefixes "p00000/" ... of 1,000 keys "p00000/k0000" ... each.

Then sluice starts again and the benchmark times (presigned GETs with urllib, so boto3's
parsing is not counted):
  - ListObjectsV2 Prefix=<a prefix in the middle> (1,000 keys, one page), --runs times;
  - the same with Delimiter="/" at the top level for one page of 1,000 common prefixes;
and reports p50/max, the server's start time, and its resident memory (VmRSS after the
runs, VmHWM the peak). Prints figures; never passes or fails.
Usage: bench/s3_list_bench.py [--keys N] [--runs N] [--keep DIR]
"""
import argparse
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from botocore.config import Config  # noqa: E402
from conftest import Sluice  # noqa: E402

PER_PREFIX = 1000


def proc_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def populate(db_path, bucket, n_keys, seed):
    db = sqlite3.connect(db_path)
    blob, size, etag, ms = seed
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")  # a bulk load; the server reopens it afterwards
    db.execute("PRAGMA cache_size=-262144")

    def rows():
        for i in range(n_keys):
            yield (bucket, "p%05d/k%04d" % (i // PER_PREFIX, i % PER_PREFIX), blob, size,
                   etag, ms)

    t0 = time.monotonic()
    with db:
        db.executemany("INSERT OR IGNORE INTO lake_objects(bucket,key,blob,size,etag,"
                       "last_modified_ms) VALUES(?,?,?,?,?,?)", rows())
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return time.monotonic() - t0


def timed(fn, runs):
    out = []
    for _ in range(runs):
        t0 = time.monotonic()
        fn()
        out.append((time.monotonic() - t0) * 1000)
    out.sort()
    return out[len(out) // 2], out[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--keep", help="data directory to create and keep (default: a temporary one)")
    args = ap.parse_args()
    data = args.keep or tempfile.mkdtemp(prefix="sluice-list-bench-")
    os.makedirs(data, exist_ok=True)
    bucket = "biglist"
    server = Sluice(data_dir=data).start()
    s3 = server.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="p00000/k0000", Body=b"x" * 100)
    assert server.stop() == 0
    db_path = os.path.join(data, "sluice.db")
    db = sqlite3.connect(db_path)
    seed = db.execute("SELECT blob,size,etag,last_modified_ms FROM lake_objects"
                      " WHERE bucket=?", (bucket,)).fetchone()
    db.close()
    fill_s = populate(db_path, bucket, args.keys, seed)
    db_mib = sum(os.path.getsize(os.path.join(data, f)) for f in os.listdir(data)
                 if f.startswith("sluice.db")) / 2**20

    t0 = time.monotonic()
    server.start()
    start_s = time.monotonic() - t0
    pid = server.proc.pid
    rss_idle = proc_kib(pid, "VmRSS")
    s3 = server.client("s3")
    mid = "p%05d/" % (args.keys // PER_PREFIX // 2)
    got = s3.list_objects_v2(Bucket=bucket, Prefix=mid)
    assert got["KeyCount"] == PER_PREFIX and not got["IsTruncated"], got["KeyCount"]
    # Timed over presigned URLs: the server's answer, not boto3's parsing of it.
    s3 = server.client("s3", config=Config(signature_version="s3v4"))
    url = s3.generate_presigned_url("list_objects_v2", Params={"Bucket": bucket, "Prefix": mid},
                                    ExpiresIn=3600)
    p50, worst = timed(lambda: urllib.request.urlopen(url).read(), args.runs)
    got = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    n_common = len(got.get("CommonPrefixes", []))
    url = s3.generate_presigned_url("list_objects_v2", Params={"Bucket": bucket,
                                                               "Delimiter": "/"},
                                    ExpiresIn=3600)
    d50, dworst = timed(lambda: urllib.request.urlopen(url).read(), args.runs)
    rss = proc_kib(pid, "VmRSS")
    hwm = proc_kib(pid, "VmHWM")
    assert server.stop() == 0
    print(f"keys {args.keys}, metadata {db_mib:.0f} MiB, populated in {fill_s:.1f} s "
          f"(rows inserted directly), server start {start_s:.2f} s")
    print(f"ListObjectsV2 Prefix={mid} ({PER_PREFIX} keys): p50 {p50:.1f} ms, "
          f"max {worst:.1f} ms over {args.runs} runs")
    print(f"ListObjectsV2 Delimiter=/ ({n_common} common prefixes): p50 {d50:.1f} ms, "
          f"max {dworst:.1f} ms")
    print(f"server RSS: {rss_idle / 1024:.1f} MiB after start, {rss / 1024:.1f} MiB after "
          f"the runs, peak {hwm / 1024:.1f} MiB")
    if not args.keep:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
