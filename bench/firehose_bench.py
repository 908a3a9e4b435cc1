#!/usr/bin/python3
"""Firehose benchmark over HTTP with boto3, against a fresh sluice (SLUICE_BIN, default
build/sluice) on a free 127.0.0.1 port. Three figures, each beside the target the
delivery issue names:

  1. Stream -> Parquet end to end: the seed lab's pipeline (a Kinesis stream, its Glue
     table, a KinesisStreamAsSource delivery stream converting OpenX JSON to SNAPPY
     Parquet, 64 MiB buffers) while build/bench/kinesis_bench --lab-events writes lab
     events with PutRecords (500 a call) on --producers connections as fast as the
     server takes them for --seconds. Reports the producers' rate and the
     delivered rate: records in Parquet (counted by Athena over the lab table) divided by
     the time from the first put to the last record landing. Target: delivery keeps up.
  2. Freshness: a DirectPut delivery stream with a 1 s buffering interval; one PutRecord,
     then ListObjectsV2 every 5 ms until the object is listed; --samples times. p50/p99/max.
     Target: interval + <= 1 s.
  3. 500 active partitions: 60,000 records of 1 KiB with a jq partition key taking 500
     values, into one 64 MiB buffer; flushed; server RSS (VmHWM) before and after.

Prints figures, never passes or fails on them. Usage:
  bench/firehose_bench.py [--seconds S] [--producers N] [--samples N]
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from conftest import Sluice  # noqa: E402
from test_firehose import ROLE, client, flush, list_objects, wait_active  # noqa: E402
from test_firehose_convert import lab_stream, lab_table  # noqa: E402

KINESIS_BENCH = os.path.join(os.environ.get("BUILD", os.path.join(ROOT, "build")), "bench",
                             "kinesis_bench")


def vm(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def athena_count(server, db, table, wg):
    athena = client(server, "athena")
    qid = athena.start_query_execution(QueryString=f"SELECT count(*) FROM {table}", WorkGroup=wg,
                                       QueryExecutionContext={"Database": db})["QueryExecutionId"]
    while True:
        st = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]
        if st["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        time.sleep(0.02)
    if st["State"] != "SUCCEEDED":
        raise RuntimeError(st)
    rows = athena.get_query_results(QueryExecutionId=qid)["ResultSet"]["Rows"]
    return int(rows[1]["Data"][0]["VarCharValue"])


def stream_to_parquet(server, seconds, producers):
    s3, kin, glue = (client(server, s) for s in ("s3", "kinesis", "glue"))
    fh = client(server, "firehose")
    bucket, db, table = "bench-lab", "bench_lab", "events"
    s3.create_bucket(Bucket=bucket)
    kin.create_stream(StreamName="lab", ShardCount=4)
    kin.get_waiter("stream_exists").wait(StreamName="lab", WaiterConfig={"Delay": 1})
    arn = kin.describe_stream_summary(StreamName="lab")["StreamDescriptionSummary"]["StreamARN"]
    lab_table(glue, db, table, bucket)
    lab_stream(fh, "lab", arn, bucket, db, table, server.region)
    fh.update_destination(
        DeliveryStreamName="lab",
        CurrentDeliveryStreamVersionId=fh.describe_delivery_stream(DeliveryStreamName="lab")[
            "DeliveryStreamDescription"]["VersionId"],
        DestinationId="destinationId-000000000001",
        ExtendedS3DestinationUpdate={"BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60}})
    wait_active(fh, "lab")
    client(server, "athena").create_work_group(Name="bench", Configuration={
        "ResultConfiguration": {"OutputLocation": f"s3://{bucket}/athena/"}})
    time.sleep(0.5)  # the source reader starts at LATEST once the stream is ACTIVE
    t0 = time.time()
    out = subprocess.run([KINESIS_BENCH, "--endpoint", server.endpoint, "--stream", "lab",
                          "--mode", "put", "--lab-events", "--connections", str(producers),
                          "--seconds", str(seconds), "--access-key", server.access_key,
                          "--secret-key", server.secret_key, "--region", server.region],
                         check=True, capture_output=True, text=True).stdout
    t_put = time.time() - t0
    result = [line for line in out.split("\n") if line.startswith("RESULT")][-1]
    total = int(result.split("records=")[1].split()[0])
    flush(server)
    delivered = 0
    while delivered < total and time.time() - t0 < seconds + 300:
        time.sleep(0.5)
        flush(server)
        delivered = athena_count(server, db, table, "bench")
    t_all = time.time() - t0
    errors = len(list_objects(s3, bucket, "events/errors/"))
    objects = len(list_objects(s3, bucket, "events/raw/"))
    print(f"stream -> Parquet: {total:,} lab events put in {t_put:.1f} s ({total / t_put:,.0f}"
          f" rec/s, {producers} connections); {delivered:,} in Parquet after {t_all:.1f} s"
          f" ({delivered / t_all:,.0f} rec/s end to end) in {objects} objects,"
          f" {errors} error objects")


def freshness(server, samples):
    # below 60 s: the newer models allow it (0-900); Debian's boto3 validates 60-900
    s3, fh = client(server, "s3"), client(server, "firehose", validate=False)
    s3.create_bucket(Bucket="bench-fresh")
    fh.create_delivery_stream(DeliveryStreamName="fresh", ExtendedS3DestinationConfiguration={
        "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bench-fresh", "Prefix": "f/",
        "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 1}})
    wait_active(fh, "fresh")
    lags = []
    for i in range(samples):
        before = len(list_objects(s3, "bench-fresh", "f/"))
        t0 = time.time()
        fh.put_record(DeliveryStreamName="fresh", Record={"Data": f"r{i}\n".encode()})
        while len(list_objects(s3, "bench-fresh", "f/")) == before:
            time.sleep(0.005)
        lags.append(time.time() - t0)
        time.sleep(random.uniform(0, 0.3))  # land at different points of the interval
    lags.sort()
    print(f"freshness (1 s interval, {samples} samples): p50 {statistics.median(lags):.3f} s,"
          f" p99 {lags[int(0.99 * (len(lags) - 1))]:.3f} s, max {lags[-1]:.3f} s"
          f" (target <= 2.000 s)")


def partitions_500(server):
    s3, fh = client(server, "s3"), client(server, "firehose")
    s3.create_bucket(Bucket="bench-parts")
    fh.create_delivery_stream(DeliveryStreamName="parts", ExtendedS3DestinationConfiguration={
        "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bench-parts",
        "Prefix": "p/k=!{partitionKeyFromQuery:k}/", "ErrorOutputPrefix": "errors/",
        "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 900},
        "DynamicPartitioningConfiguration": {"Enabled": True},
        "ProcessingConfiguration": {"Enabled": True, "Processors": [{
            "Type": "MetadataExtraction", "Parameters": [
                {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{k: .k}"},
                {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]}]}})
    wait_active(fh, "parts")
    rss_before = vm(server.proc.pid, "VmRSS")
    pad = "x" * 1000
    t0 = time.time()
    for b in range(120):
        fh.put_record_batch(DeliveryStreamName="parts", Records=[
            {"Data": json.dumps({"k": f"p{(b * 500 + i) % 500:03d}", "pad": pad}).encode()}
            for i in range(500)])
    flush(server)
    while len(list_objects(s3, "bench-parts", "p/")) < 500:
        time.sleep(0.1)
    print(f"500 partitions: 60,000 x 1 KiB records put and delivered as 500 objects in"
          f" {time.time() - t0:.1f} s; server RSS {rss_before:.0f} MiB before,"
          f" peak {vm(server.proc.pid, 'VmHWM'):.0f} MiB")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--producers", type=int, default=4)
    ap.add_argument("--samples", type=int, default=30)
    args = ap.parse_args()
    # Limits off: the figures are throughput, which the per-shard limits would cap.
    server = Sluice(extra_args=["--throughput-limits", "off"]).start()
    try:
        stream_to_parquet(server, args.seconds, args.producers)
        freshness(server, args.samples)
        partitions_500(server)
        print(f"sluice peak RSS over the run: {vm(server.proc.pid, 'VmHWM'):.0f} MiB")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
