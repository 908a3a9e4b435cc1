#!/usr/bin/python3
"""Athena benchmark: the same queries through Sluice's Athena API and through DuckDB
alone (build/bench/duck_time: the same adapter, one thread and memory limit as the
Athena part) on the same Parquet files, side by side in one run.

  1. Writes --rows rows (default 10,000,000) of Hive-partitioned Parquet (dt=…, one
     partition per day, several row groups a file) with DuckDB into a scratch folder,
     uploads it to a bucket of a fresh sluice (SLUICE_BIN, default build/sluice), and
     registers the table and its partitions in Glue.
  2. For each query: --runs runs through Athena (StartQueryExecution, GetQueryExecution
     polled every 2 ms, GetQueryResults for every page: what a client waits for), and
     the same runs through DuckDB alone over the local copies. Prints p50 and p99 of
     each, the ratio, and the overhead (Sluice p50 minus 1.2 x DuckDB p50).
  3. Ingest: Kinesis PutRecords (build/bench/kinesis_bench, 1 connection, 500 x 1 KiB
     records a batch) alone, then while a client runs the queries back to back.

Prints figures, never passes or fails on them. Usage:
  bench/athena_bench.py [--rows N] [--runs N] [--ingest-seconds S]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from conftest import Sluice  # noqa: E402

BUILD = os.environ.get("BUILD", os.path.join(ROOT, "build"))
DUCK_TIME = os.path.join(BUILD, "bench", "duck_time")
HELPER = os.path.join(BUILD, "tests", "athena_duck_helper")
KINESIS_BENCH = os.path.join(BUILD, "bench", "kinesis_bench")
DAYS = 10
BUCKET, DB, TABLE, WG = "bench-lake", "bench", "events", "bench-wg"

# (name, Athena SQL, DuckDB SQL over the local files; {files} is the read_parquet call)
QUERIES = [
    ("count(*) whole table",
     f"SELECT count(*) FROM {TABLE}",
     "SELECT count(*) FROM {files}"),
    ("group by hour, one day",
     f"SELECT date_trunc('hour', ts) AS h, count(*) AS n, sum(amount) AS s FROM {TABLE}"
     f" WHERE dt = '2026-11-05' GROUP BY 1 ORDER BY 1",
     "SELECT date_trunc('hour', ts) AS h, count(*) AS n, sum(amount) AS s FROM {files}"
     " WHERE dt = '2026-11-05' GROUP BY 1 ORDER BY 1"),
    ("top tenants, all days",
     f"SELECT tenant_id, count(*) AS n, avg(amount) AS a FROM {TABLE}"
     f" GROUP BY tenant_id ORDER BY n DESC, tenant_id LIMIT 10",
     "SELECT tenant_id, count(*) AS n, avg(amount) AS a FROM {files}"
     " GROUP BY tenant_id ORDER BY n DESC, tenant_id LIMIT 10"),
    ("filter on a data column",
     f"SELECT event_type, count(*) FROM {TABLE} WHERE amount > 990 GROUP BY 1 ORDER BY 1",
     "SELECT event_type, count(*) FROM {files} WHERE amount > 990 GROUP BY 1 ORDER BY 1"),
    ("1,000 rows returned",
     f"SELECT event_id, ts, amount FROM {TABLE} WHERE dt = '2026-11-02' ORDER BY event_id"
     f" LIMIT 1000",
     "SELECT event_id, ts, amount FROM {files} WHERE dt = '2026-11-02' ORDER BY event_id"
     " LIMIT 1000"),
]


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def write_data(tmp, rows):
    per_day = rows // DAYS
    for d in range(DAYS):
        day = f"2026-11-{d + 1:02d}"
        os.makedirs(os.path.join(tmp, f"dt={day}"))
        lo = d * per_day
        subprocess.run([HELPER, tmp,
                        f"COPY (SELECT 'ev-' || lpad(i::VARCHAR, 9, '0') AS event_id,"
                        f" TIMESTAMP '{day} 00:00:00' + to_microseconds(((i - {lo}) * 86400000000"
                        f" // {per_day})::BIGINT) AS ts,"
                        f" 'tenant-' || (hash(i) % 50)::VARCHAR AS tenant_id,"
                        f" 'device-' || (hash(i * 7) % 5000)::VARCHAR AS device_id,"
                        f" ['click','view','buy','error'][(i % 4) + 1] AS event_type,"
                        f" ((hash(i * 13) % 100000) / 100.0)::DOUBLE AS amount"
                        f" FROM range({lo}, {lo + per_day}) t(i))"
                        f" TO '{tmp}/dt={day}/part-0.parquet' (FORMAT parquet,"
                        f" COMPRESSION snappy, ROW_GROUP_SIZE 122880)"],
                       check=True, stdout=subprocess.DEVNULL)
    return [f"2026-11-{d + 1:02d}" for d in range(DAYS)]


def register(server, tmp, days):
    s3, glue = server.client("s3"), server.client("glue")
    s3.create_bucket(Bucket=BUCKET)
    total = 0

    def upload(day):
        path = os.path.join(tmp, f"dt={day}", "part-0.parquet")
        with open(path, "rb") as f:
            s3.put_object(Bucket=BUCKET, Key=f"events/dt={day}/part-0.parquet", Body=f.read())
        return os.path.getsize(path)

    with ThreadPoolExecutor(4) as pool:
        total = sum(pool.map(upload, days))
    cols = [{"Name": "event_id", "Type": "string"}, {"Name": "ts", "Type": "timestamp"},
            {"Name": "tenant_id", "Type": "string"}, {"Name": "device_id", "Type": "string"},
            {"Name": "event_type", "Type": "string"}, {"Name": "amount", "Type": "double"}]
    sd = {"Columns": cols,
          "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
          "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
          "SerdeInfo": {"SerializationLibrary":
                        "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"}}
    glue.create_database(DatabaseInput={"Name": DB})
    glue.create_table(DatabaseName=DB, TableInput={
        "Name": TABLE, "TableType": "EXTERNAL_TABLE",
        "PartitionKeys": [{"Name": "dt", "Type": "string"}],
        "StorageDescriptor": dict(sd, Location=f"s3://{BUCKET}/events/")})
    glue.batch_create_partition(DatabaseName=DB, TableName=TABLE, PartitionInputList=[
        {"Values": [day], "StorageDescriptor": dict(sd, Location=f"s3://{BUCKET}/events/dt={day}/")}
        for day in days])
    server.client("athena").create_work_group(Name=WG, Configuration={
        "ResultConfiguration": {"OutputLocation": f"s3://{BUCKET}/results/"}})
    return total


def athena_once(athena, sql):
    start = time.perf_counter()
    qid = athena.start_query_execution(QueryString=sql, WorkGroup=WG,
                                       QueryExecutionContext={"Database": DB})["QueryExecutionId"]
    while True:
        qe = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
        state = qe["Status"]["State"]
        if state in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        time.sleep(0.002)
    if state != "SUCCEEDED":
        raise RuntimeError(f"{sql}: {state} {qe['Status'].get('StateChangeReason')}")
    rows, token = 0, None
    while True:
        kw = {"NextToken": token} if token else {}
        res = athena.get_query_results(QueryExecutionId=qid, MaxResults=1000, **kw)
        rows += len(res["ResultSet"]["Rows"])
        token = res.get("NextToken")
        if not token:
            break
    return (time.perf_counter() - start) * 1e3, rows - 1, qe["Statistics"]


def duck_runs(tmp, sql, runs):
    files = f"read_parquet('{tmp}/*/*.parquet', hive_partitioning = true)"
    out = subprocess.run([DUCK_TIME, tmp, str(runs + 1), sql.format(files=files)],
                         check=True, capture_output=True, text=True).stdout.split("\n")
    # The first run warms the page cache and DuckDB's metadata, as Sluice's first does.
    times = [float(line.split()[0]) for line in out[1:] if line.strip()]
    rows = int(out[0].split()[1])
    return times, rows


def kinesis_put(server, seconds):
    kinesis = server.client("kinesis")
    name = f"ingest-{int(time.time() * 1000)}"
    kinesis.create_stream(StreamName=name, ShardCount=4)
    kinesis.get_waiter("stream_exists").wait(StreamName=name)
    out = subprocess.run([KINESIS_BENCH, "--endpoint", server.endpoint, "--stream", name,
                          "--mode", "put", "--connections", "1", "--seconds", str(seconds),
                          "--access-key", server.access_key, "--secret-key", server.secret_key,
                          "--region", server.region],
                         check=True, capture_output=True, text=True).stdout
    return [line for line in out.split("\n") if line.startswith("RESULT")][-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--ingest-seconds", type=int, default=10)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="athena-bench-")
    # Limits off: the Kinesis ingest figure is throughput, which the limits would cap.
    server = Sluice(extra_args=["--throughput-limits", "off"]).start()
    try:
        t0 = time.perf_counter()
        days = write_data(tmp, args.rows)
        size = register(server, tmp, days)
        print(f"data: {args.rows:,} rows, {DAYS} partitions, {size / 1e6:.1f} MB Parquet"
              f" (written and uploaded in {time.perf_counter() - t0:.1f} s)")
        athena = server.client("athena")
        print(f"{'query':28} {'sluice p50':>11} {'p99':>8} {'duckdb p50':>11} {'p99':>8}"
              f" {'ratio':>6} {'over 1.2x':>10} {'scanned MB':>11}")
        for name, sql, duck_sql in QUERIES:
            athena_once(athena, sql)  # warm, as DuckDB's first run
            runs = [athena_once(athena, sql) for _ in range(args.runs)]
            s_times = [r[0] for r in runs]
            d_times, d_rows = duck_runs(tmp, duck_sql, args.runs)
            if runs[0][1] != d_rows:
                print(f"  {name}: row counts differ: sluice {runs[0][1]}, duckdb {d_rows}")
            s50, d50 = statistics.median(s_times), statistics.median(d_times)
            print(f"{name:28} {s50:9.1f}ms {pct(s_times, 99):6.1f}ms {d50:9.1f}ms"
                  f" {pct(d_times, 99):6.1f}ms {s50 / d50:6.2f} {s50 - 1.2 * d50:8.1f}ms"
                  f" {runs[0][2]['DataScannedInBytes'] / 1e6:11.1f}")
        if os.path.exists(KINESIS_BENCH):
            alone = kinesis_put(server, args.ingest_seconds)
            stop = threading.Event()
            done = [0]

            def query_loop():
                client = server.client("athena")
                while not stop.is_set():
                    for _, sql, _ in QUERIES:
                        athena_once(client, sql)
                        done[0] += 1

            th = threading.Thread(target=query_loop)
            th.start()
            try:
                busy = kinesis_put(server, args.ingest_seconds)
            finally:
                stop.set()
                th.join()
            print(f"ingest alone:               {alone}")
            print(f"ingest with queries running: {busy} ({done[0]} queries meanwhile)")
        with open(f"/proc/{server.proc.pid}/status") as f:
            hwm = [line.split()[1] for line in f if line.startswith("VmHWM:")][0]
        print(f"sluice peak RSS: {int(hwm) / 1024:.0f} MiB")
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
