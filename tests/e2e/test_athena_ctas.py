"""Athena CTAS, INSERT INTO and UNLOAD end to end: the seed lab's Task 6 with the AWS CLI,
tables written and read back, their Glue entries, and each refusal.

The source table is Parquet written by DuckDB (build/tests/athena_duck_helper); the
expected bytes scanned come from the Parquet files' own footers, read here in Python
(the reader of test_athena.py).
"""
import gzip
import json
import os
import tempfile
import uuid
from collections import Counter
from datetime import datetime, timedelta

import pytest

from test_athena import PARQUET_SERDE, duck, footer_chunks, rows_of, run, wait_done

BASE_TS = datetime(2026, 5, 19, 10, 0, 0)
N_ROWS = 3000  # ts advances 5 s a row: 3000 rows over ~4.2 hours


@pytest.fixture(scope="module")
def lab(sluice):
    """A bucket, a Glue database with the lab's unpartitioned Parquet events table, the
    lab's enforced workgroup (Task 5) and a workgroup that does not enforce."""
    s3, glue, athena = sluice.client("s3"), sluice.client("glue"), sluice.client("athena")
    tag = uuid.uuid4().hex[:8]
    bucket, db = f"ctas-{tag}", f"lab_{tag}"
    s3.create_bucket(Bucket=bucket)
    tmp = tempfile.mkdtemp(prefix="athena-ctas-")
    path = os.path.join(tmp, "events.parquet")
    duck(tmp, f"COPY (SELECT 'ev-' || i::VARCHAR AS event_id,"
              f" TIMESTAMP '{BASE_TS:%Y-%m-%d %H:%M:%S}' + to_seconds(i * 5) AS ts,"
              f" 'tenant-' || lpad((i % 8 + 1)::VARCHAR, 3, '0') AS tenant_id,"
              f" 'device-' || lpad((i % 800 + 1)::VARCHAR, 5, '0') AS device_id,"
              f" ['view', 'click', 'checkout', 'refund'][i % 4 + 1] AS event_type,"
              f" CAST(round(1 + (i % 250) * 0.99, 2) AS DOUBLE) AS amount"
              f" FROM range({N_ROWS}) t(i)) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 1000)")
    with open(path, "rb") as f:
        s3.put_object(Bucket=bucket, Key="events/raw/part-0.parquet", Body=f.read())
    glue.create_database(DatabaseInput={"Name": db})
    cols = [{"Name": "event_id", "Type": "string"}, {"Name": "ts", "Type": "timestamp"},
            {"Name": "tenant_id", "Type": "string"}, {"Name": "device_id", "Type": "string"},
            {"Name": "event_type", "Type": "string"}, {"Name": "amount", "Type": "double"}]
    glue.create_table(DatabaseName=db, TableInput={
        "Name": "events", "TableType": "EXTERNAL_TABLE", "StorageDescriptor": {
            "Columns": cols, "Location": f"s3://{bucket}/events/raw/",
            "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE}}})
    enforced, free = f"lab-{tag}", f"free-{tag}"
    sluice.aws("athena", "create-work-group", "--name", enforced, "--configuration",
               f"ResultConfiguration={{OutputLocation=s3://{bucket}/athena-results/}},"
               "EnforceWorkGroupConfiguration=true,PublishCloudWatchMetricsEnabled=true,"
               "BytesScannedCutoffPerQuery=10737418240")
    athena.create_work_group(Name=free, Configuration={
        "ResultConfiguration": {"OutputLocation": f"s3://{bucket}/free-results/"},
        "EnforceWorkGroupConfiguration": False})
    return {"bucket": bucket, "db": db, "enforced": enforced, "free": free, "file": path,
            "tmp": tmp, "athena": athena, "s3": s3, "glue": glue}


def hours():
    c = Counter()
    for i in range(N_ROWS):
        t = BASE_TS + timedelta(seconds=5 * i)
        c[t.replace(minute=0, second=0)] += 1
    return c


def keys_under(s3, bucket, prefix):
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out += [o["Key"] for o in page.get("Contents", [])]
    return out


def ctas_query(lab, table, location):
    """Task 6's CTAS, as the lab writes it (GLUE_DB, CURATED_TABLE, BUCKET_NAME, GLUE_TABLE)."""
    return f"""CREATE TABLE {lab['db']}.{table}
WITH (
format = 'PARQUET',
parquet_compression = 'SNAPPY',
partitioned_by = ARRAY['event_hour'],
external_location = '{location}'
) AS
SELECT
event_id,
ts,
tenant_id,
device_id,
event_type,
amount,
date_trunc('hour', ts) AS event_hour
FROM {lab['db']}.events"""


def assert_substatement(athena, qe, want):
    """SubstatementType, where the client's model has it (Debian's botocore has not)."""
    if "SubstatementType" in athena.meta.service_model.shape_for("QueryExecution").members:
        assert qe["SubstatementType"] == want


def cli_start(sluice, wg, db, sql):
    return sluice.aws("athena", "start-query-execution", "--work-group", wg, "--query-string",
                      sql, "--query-execution-context", f"Database={db}",
                      "--query", "QueryExecutionId", output="text").strip()


def test_lab_task6_in_the_labs_enforced_workgroup_is_refused(sluice, lab):
    """Task 6 exactly as written, in the workgroup Task 5 creates: that workgroup enforces
    its configuration, so Athena refuses the external_location with its message."""
    location = f"s3://{lab['bucket']}/events/curated/events_by_hour/"
    qid = cli_start(sluice, lab["enforced"], lab["db"],
                    ctas_query(lab, "events_by_hour", location))
    qe = wait_done(lab["athena"], qid)
    assert qe["Status"]["State"] == "FAILED"
    assert qe["Status"]["AthenaError"]["ErrorMessage"] == (
        "The Create Table As Select query failed because it was submitted with an "
        "'external_location' property to an Athena Workgroup that enforces a centralized "
        "output location for all queries. Please remove the 'external_location' property "
        "and resubmit the query.")
    assert keys_under(lab["s3"], lab["bucket"], "events/curated/") == []
    with pytest.raises(Exception):
        lab["glue"].get_table(DatabaseName=lab["db"], Name="events_by_hour")


def test_lab_task6_ctas_and_partition_query_with_the_cli(sluice, lab):
    """Task 6 as written (in a workgroup that lets the CTAS name its location): the
    partitioned CTAS, its state and bytes table, then the partition-filtered question
    scanning fewer bytes than the same question over the source table."""
    athena, s3, glue, db = lab["athena"], lab["s3"], lab["glue"], lab["db"]
    wg = lab["free"]
    location = f"s3://{lab['bucket']}/events/curated/events_by_hour/"
    ctas_id = cli_start(sluice, wg, db, ctas_query(lab, "events_by_hour", location))
    qe = wait_done(athena, ctas_id)
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    table = sluice.aws("athena", "get-query-execution", "--query-execution-id", ctas_id,
                       "--query", "QueryExecution.{State:Status.State,"
                       "Bytes:Statistics.DataScannedInBytes}", "--output", "table",
                       output="table")
    assert "SUCCEEDED" in table
    # the CTAS reads every column of the source once
    source_bytes = sum(s for _, s in footer_chunks(lab["file"]))
    assert qe["Statistics"]["DataScannedInBytes"] == source_bytes
    assert str(source_bytes) in table
    assert qe["StatementType"] == "DML"
    assert_substatement(athena, qe, "CREATE_TABLE_AS_SELECT")

    # one partition per hour, Hive layout with Hive's escaping, in Glue
    want = hours()
    keys = keys_under(s3, lab["bucket"], "events/curated/events_by_hour/")
    dirs = sorted({k.rsplit("/", 1)[0] for k in keys})
    assert dirs == [f"events/curated/events_by_hour/event_hour={h:%Y-%m-%d %H}%3A00%3A00"
                    for h in sorted(want)]
    t = glue.get_table(DatabaseName=db, Name="events_by_hour")["Table"]
    sd = t["StorageDescriptor"]
    assert sd["Location"] == location
    assert sd["SerdeInfo"]["SerializationLibrary"] == PARQUET_SERDE
    assert sd["InputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    assert sd["OutputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
    assert t["TableType"] == "EXTERNAL_TABLE"
    assert t["Parameters"]["parquet.compression"] == "SNAPPY"
    assert [(c["Name"], c["Type"]) for c in sd["Columns"]] == [
        ("event_id", "string"), ("ts", "timestamp"), ("tenant_id", "string"),
        ("device_id", "string"), ("event_type", "string"), ("amount", "double")]
    assert [(c["Name"], c["Type"]) for c in t["PartitionKeys"]] == [("event_hour", "timestamp")]
    parts = glue.get_partitions(DatabaseName=db, TableName="events_by_hour")["Partitions"]
    assert sorted(p["Values"][0] for p in parts) == [f"{h:%Y-%m-%d %H:%M:%S}" for h in sorted(want)]
    for p in parts:
        assert p["StorageDescriptor"]["Location"].startswith(location + "event_hour=")

    # the result: rows written, no rows, the manifest listing the data files
    res = athena.get_query_results(QueryExecutionId=ctas_id)
    assert res["UpdateCount"] == N_ROWS
    assert res["ResultSet"]["Rows"] == []
    info = res["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
    assert [(c["Name"], c["Type"]) for c in info] == [("rows", "bigint")]
    manifest = qe["Statistics"]["DataManifestLocation"]
    assert manifest == f"s3://{lab['bucket']}/free-results/{ctas_id}-manifest.csv"
    body = s3.get_object(Bucket=lab["bucket"], Key=f"free-results/{ctas_id}-manifest.csv")
    listed = body["Body"].read().decode().splitlines()
    assert sorted(listed) == sorted(f"s3://{lab['bucket']}/{k}" for k in keys)

    # Task 6's question: one hour from the partitioned table
    hour = sorted(want)[1]
    event_hour = f"{hour:%Y-%m-%d %H:%M:%S}.000"
    part_id = cli_start(sluice, wg, db,
                        f"SELECT count(*) AS events, event_hour FROM {db}.events_by_hour "
                        f"WHERE event_hour = TIMESTAMP '{event_hour}' GROUP BY 2 ORDER BY 2")
    part = wait_done(athena, part_id)
    assert part["Status"]["State"] == "SUCCEEDED", part["Status"]
    table = sluice.aws("athena", "get-query-execution", "--query-execution-id", part_id,
                       "--query", "QueryExecution.{State:Status.State,Bytes:Statistics."
                       "DataScannedInBytes,EngineMs:Statistics.EngineExecutionTimeInMillis}",
                       "--output", "table", output="table")
    assert "SUCCEEDED" in table
    assert rows_of(athena, part_id)[0] == [["events", "event_hour"], [str(want[hour]), event_hour]]
    # the same question over the source table reads ts; the partitioned one reads no
    # column chunk at all (count(*) over one pruned partition)
    src = run(athena, f"SELECT count(*) AS events, date_trunc('hour', ts) AS event_hour FROM "
                      f"{db}.events WHERE date_trunc('hour', ts) = TIMESTAMP '{event_hour}' "
                      f"GROUP BY 2 ORDER BY 2", wg, db)
    assert src["Status"]["State"] == "SUCCEEDED", src["Status"]
    assert rows_of(athena, src["QueryExecutionId"])[0][1] == [str(want[hour]), event_hour]
    ts_bytes = sum(s for c, s in footer_chunks(lab["file"]) if c == "ts")
    assert src["Statistics"]["DataScannedInBytes"] == ts_bytes
    assert part["Statistics"]["DataScannedInBytes"] == 0 < ts_bytes
    assert str(part["Statistics"]["DataScannedInBytes"]) in table
    # a column read from the one partition costs exactly that file's chunks
    one = run(athena, f"SELECT sum(amount) FROM events_by_hour WHERE event_hour = "
                      f"TIMESTAMP '{event_hour}'", wg, db)
    files = [k for k in keys if f"event_hour={hour:%Y-%m-%d %H}%3A" in k]
    local = os.path.join(lab["tmp"], "part.parquet")
    expect = 0
    for k in files:
        with open(local, "wb") as f:
            f.write(s3.get_object(Bucket=lab["bucket"], Key=k)["Body"].read())
        expect += sum(s for c, s in footer_chunks(local) if c == "amount")
    assert one["Statistics"]["DataScannedInBytes"] == expect > 0

    # read back whole: the rows CTAS wrote are the source's
    back = run(athena, "SELECT count(*), count(DISTINCT event_id), min(ts), max(event_hour), "
                       "round(sum(amount), 2) FROM events_by_hour", wg, db)
    srcsum = run(athena, "SELECT count(*), count(DISTINCT event_id), min(ts), "
                         "max(date_trunc('hour', ts)), round(sum(amount), 2) FROM events", wg, db)
    assert rows_of(athena, back["QueryExecutionId"])[0][1] == \
        rows_of(athena, srcsum["QueryExecutionId"])[0][1]


def test_ctas_default_location_json_and_text(lab):
    """Without external_location the table lands under <result location>tables/<id>/;
    JSON and TEXTFILE (gzip by default, field_delimiter) read back through SELECT."""
    athena, s3, glue, db, wg = lab["athena"], lab["s3"], lab["glue"], lab["db"], lab["enforced"]
    qe = run(athena, "CREATE TABLE small_json WITH (format = 'JSON') AS SELECT event_id, ts, "
                     "amount FROM events WHERE event_id IN ('ev-1', 'ev-2', 'ev-3')", wg, db)
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    qid = qe["QueryExecutionId"]
    keys = keys_under(s3, lab["bucket"], f"athena-results/tables/{qid}/")
    assert len(keys) == 1 and keys[0].endswith(".gz")
    lines = gzip.decompress(s3.get_object(Bucket=lab["bucket"], Key=keys[0])["Body"].read())
    recs = [json.loads(x) for x in lines.decode().splitlines()]
    assert sorted(r["event_id"] for r in recs) == ["ev-1", "ev-2", "ev-3"]
    t = glue.get_table(DatabaseName=db, Name="small_json")["Table"]
    assert t["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == \
        "org.apache.hive.hcatalog.data.JsonSerDe"
    assert t["StorageDescriptor"]["Location"] == f"s3://{lab['bucket']}/athena-results/tables/{qid}/"
    back = run(athena, "SELECT event_id, ts, amount FROM small_json ORDER BY event_id", wg, db)
    assert rows_of(athena, back["QueryExecutionId"])[0][1:] == [
        ["ev-1", "2026-05-19 10:00:05.000", "1.99"], ["ev-2", "2026-05-19 10:00:10.000", "2.98"],
        ["ev-3", "2026-05-19 10:00:15.000", "3.97"]]

    qe = run(athena, "CREATE TABLE small_text WITH (format = 'TEXTFILE', field_delimiter = '|',"
                     " write_compression = 'NONE') AS SELECT event_id, tenant_id, amount FROM "
                     "events WHERE event_id IN ('ev-1', 'ev-2')", wg, db)
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    keys = keys_under(s3, lab["bucket"], f"athena-results/tables/{qe['QueryExecutionId']}/")
    body = s3.get_object(Bucket=lab["bucket"], Key=keys[0])["Body"].read().decode()
    assert sorted(body.splitlines()) == ["ev-1|tenant-002|1.99", "ev-2|tenant-003|2.98"]
    sd = glue.get_table(DatabaseName=db, Name="small_text")["Table"]["StorageDescriptor"]
    assert sd["SerdeInfo"]["SerializationLibrary"] == \
        "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
    assert sd["SerdeInfo"]["Parameters"]["field.delim"] == "|"
    back = run(athena, "SELECT event_id, tenant_id, amount FROM small_text ORDER BY 1", wg, db)
    assert rows_of(athena, back["QueryExecutionId"])[0][1:] == [
        ["ev-1", "tenant-002", "1.99"], ["ev-2", "tenant-003", "2.98"]]


def test_insert_into_adds_files_and_partitions(lab):
    athena, s3, glue, db, wg = lab["athena"], lab["s3"], lab["glue"], lab["db"], lab["free"]
    loc = f"s3://{lab['bucket']}/ins/by_tenant/"
    qe = run(athena, f"CREATE TABLE by_tenant WITH (partitioned_by = ARRAY['tenant_id'], "
                     f"external_location = '{loc}') AS SELECT event_id, amount, tenant_id FROM "
                     f"events WHERE tenant_id IN ('tenant-001', 'tenant-002')", wg, db)
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    before = set(keys_under(s3, lab["bucket"], "ins/by_tenant/"))
    qe = run(athena, "INSERT INTO by_tenant SELECT event_id, amount, tenant_id FROM events "
                     "WHERE tenant_id IN ('tenant-002', 'tenant-003')", wg, db)
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    assert_substatement(athena, qe, "INSERT")
    per_tenant = N_ROWS // 8
    assert athena.get_query_results(QueryExecutionId=qe["QueryExecutionId"])["UpdateCount"] == \
        2 * per_tenant
    after = set(keys_under(s3, lab["bucket"], "ins/by_tenant/"))
    assert before < after and len(after - before) == 2  # only added files
    parts = glue.get_partitions(DatabaseName=db, TableName="by_tenant")["Partitions"]
    assert sorted(p["Values"][0] for p in parts) == ["tenant-001", "tenant-002", "tenant-003"]
    back = run(athena, "SELECT tenant_id, count(*), count(DISTINCT event_id) FROM by_tenant "
                       "GROUP BY 1 ORDER BY 1", wg, db)
    assert rows_of(athena, back["QueryExecutionId"])[0][1:] == [
        ["tenant-001", str(per_tenant), str(per_tenant)],
        ["tenant-002", str(2 * per_tenant), str(per_tenant)],
        ["tenant-003", str(per_tenant), str(per_tenant)]]
    bad = run(athena, "INSERT INTO by_tenant SELECT ts, amount, tenant_id FROM events", wg, db)
    assert bad["Status"]["State"] == "FAILED"
    assert bad["Status"]["AthenaError"]["ErrorMessage"] == (
        "TYPE_MISMATCH: line 1:1: Insert query has mismatched column types: Table: [varchar, "
        "double, varchar], Query: [timestamp(3), double, varchar]")
    assert set(keys_under(s3, lab["bucket"], "ins/by_tenant/")) == after


@pytest.mark.parametrize("partitioned", [False, True], ids=["unpartitioned", "partitioned"])
def test_a_text_table_with_plain_and_gzip_files_reads_both(lab, partitioned):
    """INSERT INTO a text table writes GZIP files beside its plain ones, as Athena does;
    every later SELECT reads both kinds, whichever files a partition holds."""
    athena, s3, glue, db, wg = lab["athena"], lab["s3"], lab["glue"], lab["db"], lab["free"]
    name = f"mixed_{'p' if partitioned else 'u'}_{uuid.uuid4().hex[:6]}"
    prefix = f"mixed/{name}/"
    data_key = prefix + ("day=1/" if partitioned else "") + "plain.csv"
    s3.put_object(Bucket=lab["bucket"], Key=data_key, Body=b"a,1\nb,2\n")
    table = {"Name": name, "TableType": "EXTERNAL_TABLE", "StorageDescriptor": {
        "Columns": [{"Name": "k", "Type": "string"}, {"Name": "v", "Type": "int"}],
        "Location": f"s3://{lab['bucket']}/{prefix}",
        "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
        "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
        "SerdeInfo": {"SerializationLibrary":
                      "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                      "Parameters": {"field.delim": ","}}}}
    if partitioned:
        table["PartitionKeys"] = [{"Name": "day", "Type": "string"}]
    glue.create_table(DatabaseName=db, TableInput=table)
    if partitioned:
        sd = dict(table["StorageDescriptor"], Location=f"s3://{lab['bucket']}/{prefix}day=1/")
        glue.create_partition(DatabaseName=db, TableName=name,
                              PartitionInput={"Values": ["1"], "StorageDescriptor": sd})
        ins = run(athena, f"INSERT INTO {name} VALUES ('c', 3, '1')", wg, db)
    else:
        ins = run(athena, f"INSERT INTO {name} VALUES ('c', 3)", wg, db)
    assert ins["Status"]["State"] == "SUCCEEDED", ins["Status"]
    keys = keys_under(s3, lab["bucket"], prefix)
    assert any(k.endswith(".gz") for k in keys) and data_key in keys, keys
    back = run(athena, f"SELECT k, v FROM {name} ORDER BY k", wg, db)
    assert back["Status"]["State"] == "SUCCEEDED", back["Status"]
    assert rows_of(athena, back["QueryExecutionId"])[0][1:] == [["a", "1"], ["b", "2"],
                                                                  ["c", "3"]]


def test_unload_writes_and_reads_back(lab):
    athena, s3, db, wg = lab["athena"], lab["s3"], lab["db"], lab["free"]
    to = f"s3://{lab['bucket']}/unload/out/"
    qe = run(athena, f"UNLOAD (SELECT event_id, amount, event_type FROM events WHERE "
                     f"device_id < 'device-00100') TO '{to}' WITH (format = 'PARQUET', "
                     f"compression = 'SNAPPY', partitioned_by = ARRAY['event_type'])", wg, db)
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    assert_substatement(athena, qe, "UNLOAD")
    keys = keys_under(s3, lab["bucket"], "unload/out/")
    assert sorted({k.split("/")[2] for k in keys}) == ["event_type=checkout", "event_type=click",
                                                      "event_type=refund", "event_type=view"]
    assert lab["glue"].get_tables(DatabaseName=db, Expression="unload*")["TableList"] == []
    # read back: the files are Parquet with the data columns
    lab["glue"].create_table(DatabaseName=db, TableInput={
        "Name": "unloaded", "PartitionKeys": [{"Name": "event_type", "Type": "string"}],
        "StorageDescriptor": {"Columns": [{"Name": "event_id", "Type": "string"},
                                          {"Name": "amount", "Type": "double"}],
                              "Location": to,
                              "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE}}})
    for k in keys:
        v = k.split("/")[2].split("=")[1]
        lab["glue"].create_partition(DatabaseName=db, TableName="unloaded", PartitionInput={
            "Values": [v], "StorageDescriptor": {"Location": to + f"event_type={v}/"}})
    back = run(athena, "SELECT event_type, count(*) FROM unloaded GROUP BY 1 ORDER BY 1", wg, db)
    src = run(athena, "SELECT event_type, count(*) FROM events WHERE device_id < 'device-00100' "
                      "GROUP BY 1 ORDER BY 1", wg, db)
    assert rows_of(athena, back["QueryExecutionId"])[0][1:] == \
        rows_of(athena, src["QueryExecutionId"])[0][1:]
    # the location is no longer empty: a second UNLOAD there is refused
    again = run(athena, f"UNLOAD (SELECT event_id FROM events) TO '{to}' WITH (format = 'JSON')",
                wg, db)
    assert again["Status"]["State"] == "FAILED"
    assert again["Status"]["AthenaError"]["ErrorMessage"].startswith("HIVE_PATH_ALREADY_EXISTS")
    assert set(keys_under(s3, lab["bucket"], "unload/out/")) == set(keys)


def test_refusals(lab):
    athena, s3, db, wg = lab["athena"], lab["s3"], lab["db"], lab["free"]
    s3.put_object(Bucket=lab["bucket"], Key="taken/x.txt", Body=b"x")
    qe = run(athena, f"CREATE TABLE t_taken WITH (external_location = "
                     f"'s3://{lab['bucket']}/taken/') AS SELECT event_id FROM events", wg, db)
    assert qe["Status"]["State"] == "FAILED"
    assert qe["Status"]["AthenaError"]["ErrorMessage"].startswith(
        f"HIVE_PATH_ALREADY_EXISTS: Target directory for table '{db}.t_taken' already exists: "
        f"s3://{lab['bucket']}/taken/")
    assert keys_under(s3, lab["bucket"], "taken/") == ["taken/x.txt"]

    qe = run(athena, "CREATE TABLE t_order WITH (partitioned_by = ARRAY['tenant_id']) AS "
                     "SELECT tenant_id, event_id FROM events", wg, db)
    assert qe["Status"]["State"] == "FAILED"
    assert qe["Status"]["AthenaError"]["ErrorMessage"] == (
        "HIVE_COLUMN_ORDER_MISMATCH: Partition keys must be the last columns in the table and "
        "in the same order as the table properties: [tenant_id]")

    qe = run(athena, "CREATE TABLE t_orc WITH (format = 'ORC') AS SELECT event_id FROM events",
             wg, db)
    assert qe["Status"]["State"] == "FAILED"
    assert qe["Status"]["AthenaError"]["ErrorMessage"].startswith("NOT_SUPPORTED: format 'ORC'")

    qe = run(athena, "CREATE TABLE t_many WITH (partitioned_by = ARRAY['device_id']) AS "
                     "SELECT event_id, device_id FROM events", wg, db)
    assert qe["Status"]["State"] == "FAILED"
    assert qe["Status"]["AthenaError"]["ErrorMessage"] == (
        "HIVE_TOO_MANY_OPEN_PARTITIONS: Exceeded limit of 100 open writers for "
        "partitions/buckets")

    qe = run(athena, "CREATE TABLE events WITH (format = 'JSON') AS SELECT 1 AS x", wg, db)
    assert qe["Status"]["State"] == "FAILED"
    assert qe["Status"]["AthenaError"]["ErrorMessage"] == (
        f"TABLE_ALREADY_EXISTS: line 1:1: Destination table 'awsdatacatalog.{db}.events' "
        f"already exists")
    for name in ("t_taken", "t_order", "t_orc", "t_many"):
        with pytest.raises(Exception):
            lab["glue"].get_table(DatabaseName=db, Name=name)


def test_nulls_round_trip_in_text_and_partition_keys(lab):
    """NULLs as Hive writes them: \\N in text files, __HIVE_DEFAULT_PARTITION__ for a NULL
    partition key; both read back as NULL."""
    athena, s3, glue, db, wg = lab["athena"], lab["s3"], lab["glue"], lab["db"], lab["free"]
    loc = f"s3://{lab['bucket']}/nulls/"
    qe = run(athena, f"CREATE TABLE nulls WITH (format = 'TEXTFILE', write_compression = 'NONE',"
                     f" partitioned_by = ARRAY['day'], external_location = '{loc}') AS "
                     f"SELECT event_id, CASE WHEN event_id = 'ev-1' THEN NULL ELSE amount END "
                     f"AS amount, CASE WHEN event_id = 'ev-2' THEN NULL ELSE DATE '2026-05-19' "
                     f"END AS day FROM events WHERE event_id IN ('ev-1', 'ev-2', 'ev-3')", wg, db)
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    keys = sorted(keys_under(s3, lab["bucket"], "nulls/"))
    assert [k.split("/")[1] for k in keys] == ["day=2026-05-19", "day=__HIVE_DEFAULT_PARTITION__"]
    body = s3.get_object(Bucket=lab["bucket"], Key=keys[0])["Body"].read().decode()
    assert sorted(body.splitlines()) == ["ev-1\x01\\N", "ev-3\x013.97"]
    parts = glue.get_partitions(DatabaseName=db, TableName="nulls")["Partitions"]
    assert sorted(p["Values"][0] for p in parts) == ["2026-05-19", "__HIVE_DEFAULT_PARTITION__"]
    back = run(athena, "SELECT event_id, amount, day FROM nulls ORDER BY event_id", wg, db)
    assert rows_of(athena, back["QueryExecutionId"])[0][1:] == [
        ["ev-1", None, "2026-05-19"], ["ev-2", "2.98", None], ["ev-3", "3.97", "2026-05-19"]]


def test_columns_must_be_named(lab):
    athena, db, wg = lab["athena"], lab["db"], lab["free"]
    qe = run(athena, "CREATE TABLE unnamed AS SELECT event_id, upper(tenant_id) FROM events",
             wg, db)
    assert qe["Status"]["State"] == "FAILED"
    assert qe["Status"]["AthenaError"]["ErrorMessage"] == (
        "COLUMN_NAME_NOT_SPECIFIED: line 1:1: Column name not specified at position 2")


def hive_bucket(values, count):
    """Hive's bucket number (bucketing version 1) of a row's bucketing values: str or int
    (bigint), computed here independently of the server."""
    h = 0
    for v in values:
        if isinstance(v, str):
            c = 1
            for b in v.encode():
                c = (31 * c + (b - 256 if b > 127 else b)) & 0xFFFFFFFF
        else:
            u = v & 0xFFFFFFFFFFFFFFFF
            c = (u ^ (u >> 32)) & 0xFFFFFFFF
        h = (31 * h + c) & 0xFFFFFFFF
    return (h & 0x7FFFFFFF) % count


def test_bucketed_ctas_writes_a_file_per_bucket_by_hives_hash(lab):
    athena, s3, glue, db, wg = lab["athena"], lab["s3"], lab["glue"], lab["db"], lab["free"]
    loc = f"s3://{lab['bucket']}/buck/"
    qe = run(athena, f"CREATE TABLE buck WITH (format = 'JSON', write_compression = 'NONE', "
                     f"bucketed_by = ARRAY['device_id', 'n'], bucket_count = 4, "
                     f"partitioned_by = ARRAY['event_type'], external_location = '{loc}') AS "
                     f"SELECT event_id, device_id, CAST(length(event_id) AS BIGINT) * "
                     f"-1000000000007 AS n, event_type FROM events "
                     f"WHERE device_id < 'device-00050'", wg, db)
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    keys = sorted(keys_under(s3, lab["bucket"], "buck/"))
    assert len(keys) == 4 * 4  # every bucket of every partition has its file
    seen = 0
    for k in keys:
        bucket = int(k.rsplit("/", 1)[1].split("_")[0])
        body = s3.get_object(Bucket=lab["bucket"], Key=k)["Body"].read().decode()
        for line in body.splitlines():
            rec = json.loads(line)
            assert hive_bucket([rec["device_id"], rec["n"]], 4) == bucket, (k, rec)
            seen += 1
    assert seen == athena.get_query_results(
        QueryExecutionId=qe["QueryExecutionId"])["UpdateCount"] > 0
    sd = glue.get_table(DatabaseName=db, Name="buck")["Table"]["StorageDescriptor"]
    assert sd["NumberOfBuckets"] == 4 and sd["BucketColumns"] == ["device_id", "n"]
    back = run(athena, "SELECT count(*) FROM buck", wg, db)
    assert rows_of(athena, back["QueryExecutionId"])[0][1] == [str(seen)]

    qe = run(athena, "CREATE TABLE buck_many WITH (bucketed_by = ARRAY['device_id'], "
                     "bucket_count = 30, partitioned_by = ARRAY['event_type']) AS "
                     "SELECT event_id, device_id, event_type FROM events", wg, db)
    assert qe["Status"]["State"] == "FAILED"
    assert qe["Status"]["AthenaError"]["ErrorMessage"].startswith(
        "HIVE_TOO_MANY_OPEN_PARTITIONS")
    qe = run(athena, "CREATE TABLE buck_bad WITH (bucketed_by = ARRAY['nope'], "
                     "bucket_count = 2) AS SELECT event_id FROM events", wg, db)
    assert qe["Status"]["State"] == "FAILED"
    assert qe["Status"]["AthenaError"]["ErrorMessage"] == (
        "INVALID_TABLE_PROPERTY: Bucketing columns [nope] not present in schema")


def test_insert_values_into_an_unpartitioned_parquet_table(lab):
    athena, s3, db, wg = lab["athena"], lab["s3"], lab["db"], lab["free"]
    qe = run(athena, "CREATE TABLE vals WITH (format = 'PARQUET') AS SELECT event_id, amount "
                     "FROM events WHERE event_id = 'ev-7'", wg, db)
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    loc = f"free-results/tables/{qe['QueryExecutionId']}/"
    first = keys_under(s3, lab["bucket"], loc)
    assert len(first) == 1
    qe = run(athena, "INSERT INTO vals VALUES ('new-1', 1), ('new-2', 2.5)", wg, db)
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    assert athena.get_query_results(QueryExecutionId=qe["QueryExecutionId"])["UpdateCount"] == 2
    keys = keys_under(s3, lab["bucket"], loc)
    assert len(keys) == 2 and first[0] in keys
    back = run(athena, "SELECT event_id, amount FROM vals ORDER BY 1", wg, db)
    assert rows_of(athena, back["QueryExecutionId"])[0][1:] == [
        ["ev-7", "7.93"], ["new-1", "1.0"], ["new-2", "2.5"]]
