"""Athena's DDL and utility statements end to end: boto3 and the AWS CLI against
Sluice's AmazonAthena API, each statement's effect checked through the Glue API and
through a SELECT reading the data, its result through GetQueryResults and the .txt object
Athena writes."""
import json
import os
import subprocess
import tempfile
import time
import uuid

import pytest

HELPER = os.path.join(os.path.dirname(os.environ.get("SLUICE_BIN", "build/sluice")),
                      "tests", "athena_duck_helper")
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
LAZY_SERDE = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"


def duck(tmpdir, *sql):
    p = subprocess.run([HELPER, tmpdir] + list(sql), capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr


def wait_done(athena, qid, timeout=60):
    deadline = time.time() + timeout
    while True:
        qe = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
        if qe["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return qe
        assert time.time() < deadline, qe
        time.sleep(0.05)


def run(env, sql, db=None):
    args = {"QueryString": sql, "WorkGroup": env["wg"]}
    if db is not False:
        args["QueryExecutionContext"] = {"Database": db or env["db"]}
    qid = env["athena"].start_query_execution(**args)["QueryExecutionId"]
    return wait_done(env["athena"], qid)


def ok(env, sql, db=None):
    qe = run(env, sql, db)
    assert qe["Status"]["State"] == "SUCCEEDED", (sql, qe["Status"])
    return qe


def failed(env, sql, db=None):
    qe = run(env, sql, db)
    assert qe["Status"]["State"] == "FAILED", (sql, qe["Status"])
    err = qe["Status"]["AthenaError"]
    assert err["ErrorCategory"] == 2
    assert err["ErrorMessage"] == qe["Status"]["StateChangeReason"]
    return err


def kinds(env, qe):
    """StatementType and SubstatementType as the server sent them: an older client's model
    (boto3 1.26) drops SubstatementType, so the raw response body is read."""
    raw = {}

    def keep(http_response, **kw):
        raw.update(json.loads(http_response.content))

    athena = env["athena"]
    athena.meta.events.register("after-call.athena.GetQueryExecution", keep)
    try:
        athena.get_query_execution(QueryExecutionId=qe["QueryExecutionId"])
    finally:
        athena.meta.events.unregister("after-call.athena.GetQueryExecution", keep)
    got = raw["QueryExecution"]
    return got["StatementType"], got.get("SubstatementType")


def lines(env, qe):
    """The rows of a DDL result: each holds one datum."""
    res = env["athena"].get_query_results(QueryExecutionId=qe["QueryExecutionId"])
    rows = res["ResultSet"]["Rows"]
    assert all(len(r["Data"]) == 1 for r in rows), rows
    return [r["Data"][0].get("VarCharValue") for r in rows], res


def select(env, sql, db=None):
    qe = ok(env, sql, db)
    res = env["athena"].get_query_results(QueryExecutionId=qe["QueryExecutionId"])
    return [[d.get("VarCharValue") for d in r["Data"]] for r in res["ResultSet"]["Rows"][1:]]


@pytest.fixture(scope="module")
def env(sluice):
    s3, glue, athena = sluice.client("s3"), sluice.client("glue"), sluice.client("athena")
    tag = uuid.uuid4().hex[:8]
    bucket, db, wg = f"ddl-{tag}", f"ddl_{tag}", f"wg-{tag}"
    s3.create_bucket(Bucket=bucket)
    athena.create_work_group(Name=wg, Configuration={
        "ResultConfiguration": {"OutputLocation": f"s3://{bucket}/results/"}})
    e = {"s3": s3, "glue": glue, "athena": athena, "bucket": bucket, "db": db, "wg": wg,
         "tmp": tempfile.mkdtemp(prefix="athena-ddl-"), "sluice": sluice}
    ok(e, f"CREATE DATABASE {db}", db=False)
    # Parquet files under Hive-style partition directories, one of them not registered
    for day, lo, hi in (("2026-01-01", 0, 10), ("2026-01-02", 10, 25), ("2026-01-03", 25, 30)):
        path = os.path.join(e["tmp"], f"{day}.parquet")
        duck(e["tmp"], f"COPY (SELECT i AS id, 'n' || i::VARCHAR AS name, i * 0.5 AS amount"
                       f" FROM range({lo}, {hi}) t(i)) TO '{path}' (FORMAT parquet)")
        with open(path, "rb") as f:
            s3.put_object(Bucket=bucket, Key=f"events/dt={day}/part-0.parquet", Body=f.read())
    return e


def test_create_and_drop_database(env):
    name = f"db_{uuid.uuid4().hex[:8]}"
    qe = ok(env, f"CREATE DATABASE IF NOT EXISTS {name} COMMENT 'the lab''s' "
                 f"LOCATION 's3://{env['bucket']}/dbs/' WITH DBPROPERTIES ('team'='data', 'x'='1')",
            db=False)
    assert kinds(env, qe) == ("DDL", "CREATE_DATABASE")
    assert qe["Statistics"]["DataScannedInBytes"] == 0
    assert qe["ResultConfiguration"]["OutputLocation"].endswith(f"{qe['QueryExecutionId']}.txt")
    got = env["glue"].get_database(Name=name)["Database"]
    assert got["Description"] == "the lab's"
    assert got["LocationUri"] == f"s3://{env['bucket']}/dbs/"
    assert got["Parameters"] == {"team": "data", "x": "1"}
    # the result object exists and is empty; no rows
    key = f"results/{qe['QueryExecutionId']}.txt"
    assert env["s3"].get_object(Bucket=env["bucket"], Key=key)["Body"].read() == b""
    assert lines(env, qe)[0] == []
    # again: IF NOT EXISTS is quiet, without it the statement fails
    ok(env, f"CREATE DATABASE IF NOT EXISTS {name}", db=False)
    err = failed(env, f"CREATE SCHEMA {name}", db=False)
    assert f"Database {name} already exists" in err["ErrorMessage"]
    # a database with a table is dropped only with CASCADE
    ok(env, f"CREATE EXTERNAL TABLE {name}.t (a int) LOCATION 's3://{env['bucket']}/x/'")
    err = failed(env, f"DROP DATABASE {name}", db=False)
    assert "is not empty" in err["ErrorMessage"]
    err = failed(env, f"DROP DATABASE {name} RESTRICT", db=False)
    ok(env, f"DROP DATABASE `{name}` CASCADE", db=False)
    with pytest.raises(env["glue"].exceptions.EntityNotFoundException):
        env["glue"].get_database(Name=name)
    err = failed(env, f"DROP DATABASE {name}", db=False)
    assert err["ErrorMessage"] == \
        f"FAILED: SemanticException [Error 10072]: Database does not exist: {name}"
    assert err["ErrorType"] == 1110
    ok(env, f"DROP DATABASE IF EXISTS {name}", db=False)


def test_create_external_parquet_table_as_athena_stores_it(env):
    db, bucket = env["db"], env["bucket"]
    qe = ok(env, f"""CREATE EXTERNAL TABLE IF NOT EXISTS `{db}`.`events` (
          `id` bigint COMMENT 'row id',
          name STRING,
          amount DOUBLE
        )
        COMMENT 'daily events'
        PARTITIONED BY (dt string)
        ROW FORMAT SERDE '{PARQUET_SERDE}'
        WITH SERDEPROPERTIES ('serialization.format' = '1')
        STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat'
        OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat'
        LOCATION 's3://{bucket}/events/'
        TBLPROPERTIES ('parquet.compression'='SNAPPY', 'classification'='parquet');""")
    assert kinds(env, qe) == ("DDL", "CREATE_TABLE")
    t = env["glue"].get_table(DatabaseName=db, Name="events")["Table"]
    assert t["TableType"] == "EXTERNAL_TABLE"
    assert t["Parameters"]["EXTERNAL"] == "TRUE"
    assert t["Parameters"]["parquet.compression"] == "SNAPPY"
    assert t["Parameters"]["classification"] == "parquet"
    assert t["Parameters"]["comment"] == "daily events"
    assert t["Parameters"]["transient_lastDdlTime"].isdigit()
    assert t["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    sd = t["StorageDescriptor"]
    assert sd["Columns"] == [{"Name": "id", "Type": "bigint", "Comment": "row id"},
                             {"Name": "name", "Type": "string"},
                             {"Name": "amount", "Type": "double"}]
    assert sd["Location"] == f"s3://{bucket}/events/"
    assert sd["SerdeInfo"] == {"SerializationLibrary": PARQUET_SERDE,
                               "Parameters": {"serialization.format": "1"}}
    assert sd["InputFormat"].endswith("MapredParquetInputFormat")
    assert sd["OutputFormat"].endswith("MapredParquetOutputFormat")
    # IF NOT EXISTS leaves an existing table alone; without it, Athena's failure
    ok(env, f"CREATE EXTERNAL TABLE IF NOT EXISTS events (x int) LOCATION 's3://{bucket}/y/'")
    assert env["glue"].get_table(DatabaseName=db, Name="events")["Table"][
        "StorageDescriptor"]["Location"] == f"s3://{bucket}/events/"
    err = failed(env, f"CREATE EXTERNAL TABLE events (x int) LOCATION 's3://{bucket}/y/'")
    assert "AlreadyExistsException" in err["ErrorMessage"]


@pytest.fixture(scope="module")
def events(env):
    """The partitioned Parquet table of the test above, made here for tests that need it."""
    db, bucket = env["db"], env["bucket"]
    ok(env, f"CREATE EXTERNAL TABLE IF NOT EXISTS {db}.events (id bigint, name string, "
            f"amount double) PARTITIONED BY (dt string) STORED AS PARQUET "
            f"LOCATION 's3://{bucket}/events/'")
    return "events"


def test_partitions_added_repaired_listed_and_dropped(env, events):
    db, bucket, glue = env["db"], env["bucket"], env["glue"]
    ok(env, f"ALTER TABLE {events} DROP IF EXISTS PARTITION (dt='2026-01-01'), "
            f"PARTITION (dt='2026-01-02'), PARTITION (dt='2026-01-03')")
    assert select(env, f"SELECT count(*) FROM {events}") == [["0"]]
    qe = ok(env, f"ALTER TABLE {events} ADD IF NOT EXISTS PARTITION (dt='2026-01-01') "
                 f"LOCATION 's3://{bucket}/events/dt=2026-01-01/' PARTITION (dt = '2026-01-02')")
    assert kinds(env, qe) == ("DDL", "ALTER_TABLE_ADD_PARTITION")
    parts = glue.get_partitions(DatabaseName=db, TableName=events)["Partitions"]
    assert sorted((p["Values"][0], p["StorageDescriptor"]["Location"]) for p in parts) == [
        ("2026-01-01", f"s3://{bucket}/events/dt=2026-01-01/"),
        ("2026-01-02", f"s3://{bucket}/events/dt=2026-01-02/")]
    assert parts[0]["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == PARQUET_SERDE
    assert select(env, f"SELECT count(*), sum(id) FROM {events}") == [["25", str(sum(range(25)))]]
    # adding one again fails without IF NOT EXISTS, and adds nothing
    err = failed(env, f"ALTER TABLE {events} ADD PARTITION (dt='2026-01-03') "
                      f"PARTITION (dt='2026-01-01')")
    assert "AlreadyExistsException" in err["ErrorMessage"]
    assert len(glue.get_partitions(DatabaseName=db, TableName=events)["Partitions"]) == 2
    err = failed(env, f"ALTER TABLE {events} ADD PARTITION (day='x')")
    assert "non-partition columns" in err["ErrorMessage"]
    # MSCK REPAIR TABLE finds the third directory, and only it
    qe = ok(env, f"MSCK REPAIR TABLE {events}")
    assert kinds(env, qe) == ("DDL", "MSCK_REPAIR_TABLE")
    got, _ = lines(env, qe)
    assert got == [f"Partitions not in metastore:\t{events}:dt=2026-01-03",
                   f"Repair: Added partition to metastore {events}:dt=2026-01-03"]
    body = env["s3"].get_object(Bucket=bucket, Key=f"results/{qe['QueryExecutionId']}.txt")
    assert body["Body"].read().decode() == "\n".join(got) + "\n"
    p = glue.get_partition(DatabaseName=db, TableName=events, PartitionValues=["2026-01-03"])
    assert p["Partition"]["StorageDescriptor"]["Location"] == \
        f"s3://{bucket}/events/dt=2026-01-03/"
    assert select(env, f"SELECT count(*) FROM {events}") == [["30"]]
    assert lines(env, ok(env, f"MSCK REPAIR TABLE {events}"))[0] == []
    # SHOW PARTITIONS
    qe = ok(env, f"SHOW PARTITIONS {db}.{events}")
    assert kinds(env, qe) == ("UTILITY", "SHOW_PARTITIONS")
    got, res = lines(env, qe)
    assert got == ["dt=2026-01-01", "dt=2026-01-02", "dt=2026-01-03"]
    info = res["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
    assert [(c["Name"], c["Type"]) for c in info] == [("partition", "string")]
    # DROP PARTITION, and its refusal for a partition that is not there
    ok(env, f"ALTER TABLE {events} DROP PARTITION (dt='2026-01-02')")
    assert select(env, f"SELECT count(*) FROM {events}") == [["15"]]
    err = failed(env, f"ALTER TABLE {events} DROP PARTITION (dt='2026-01-02')")
    assert "Partition not found" in err["ErrorMessage"]
    ok(env, f"ALTER TABLE {events} DROP IF EXISTS PARTITION (dt='2026-01-02')")
    ok(env, f"ALTER TABLE {events} ADD PARTITION (dt='2026-01-02')")


def test_msck_repair_with_two_keys_skips_other_paths(env):
    db, bucket, s3 = env["db"], env["bucket"], env["s3"]
    for key in ("logs2/year=2026/month=01/a.csv", "logs2/year=2026/month=02/b.csv",
                "logs2/Year=2027/month=01/c.csv", "logs2/year=2026/d.csv",
                "logs2/year=2026/month=10%3A00/e.csv", "logs2/other/f.csv"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"1,x\n")
    ok(env, f"CREATE EXTERNAL TABLE logs2 (n int, s string) PARTITIONED BY (year string, "
            f"month string) ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' "
            f"LOCATION 's3://{bucket}/logs2'")
    # a registered partition whose directory holds nothing is reported, never removed
    ok(env, "ALTER TABLE logs2 ADD PARTITION (year='2025', month='12')")
    got, _ = lines(env, ok(env, "MSCK REPAIR TABLE logs2"))
    assert got == ["Partitions not in metastore:\tlogs2:year=2026/month=01\t"
                   "logs2:year=2026/month=02",
                   "Partitions missing from filesystem:\tlogs2:year=2025/month=12",
                   "Repair: Added partition to metastore logs2:year=2026/month=01",
                   "Repair: Added partition to metastore logs2:year=2026/month=02"]
    assert len(env["glue"].get_partitions(DatabaseName=db, TableName="logs2")["Partitions"]) == 3
    assert lines(env, ok(env, "MSCK REPAIR TABLE logs2"))[0] == [
        "Partitions missing from filesystem:\tlogs2:year=2025/month=12"]
    assert select(env, "SELECT year, month, n, s FROM logs2 ORDER BY month") == [
        ["2026", "01", "1", "x"], ["2026", "02", "1", "x"]]


def test_delimited_text_table_reads_back(env):
    db, bucket, glue = env["db"], env["bucket"], env["glue"]
    env["s3"].put_object(Bucket=bucket, Key="csv/a.csv",
                         Body=b"1|alpha|2.50\n2|beta|3.25\n")
    qe = ok(env, f"CREATE EXTERNAL TABLE csv_t (id int, label varchar(10), price decimal(10,2)) "
                 f"ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' ESCAPED BY '\\\\' "
                 f"LINES TERMINATED BY '\\n' STORED AS TEXTFILE "
                 f"LOCATION 's3://{bucket}/csv/'")
    t = glue.get_table(DatabaseName=db, Name="csv_t")["Table"]
    sd = t["StorageDescriptor"]
    assert sd["SerdeInfo"]["SerializationLibrary"] == LAZY_SERDE
    assert sd["SerdeInfo"]["Parameters"] == {"field.delim": "|", "escape.delim": "\\",
                                             "line.delim": "\n", "serialization.format": "|"}
    assert sd["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"
    assert sd["OutputFormat"] == "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
    assert [c["Type"] for c in sd["Columns"]] == ["int", "varchar(10)", "decimal(10,2)"]
    assert select(env, "SELECT id, label, price FROM csv_t ORDER BY id") == [
        ["1", "alpha", "2.50"], ["2", "beta", "3.25"]]
    # a text scan counts whole objects
    qe = ok(env, "SELECT id FROM csv_t")
    assert qe["Statistics"]["DataScannedInBytes"] == len(b"1|alpha|2.50\n2|beta|3.25\n")


def test_nested_types_and_quoting(env):
    db, bucket, glue = env["db"], env["bucket"], env["glue"]
    ok(env, f"CREATE EXTERNAL TABLE `_nested` (`_a` ARRAY<STRING>, "
            f"m map<string, array<int>>, s struct<x:int, `y`: decimal(5,1), z:char(3)>, "
            f"b boolean, ts timestamp, d date, bin binary, t tinyint, sm smallint, f float, "
            f"i integer) STORED AS PARQUET LOCATION 's3://{bucket}/nested/'")
    cols = glue.get_table(DatabaseName=db, Name="_nested")["Table"]["StorageDescriptor"][
        "Columns"]
    assert [(c["Name"], c["Type"]) for c in cols] == [
        ("_a", "array<string>"), ("m", "map<string,array<int>>"),
        ("s", "struct<x:int,y:decimal(5,1),z:char(3)>"), ("b", "boolean"),
        ("ts", "timestamp"), ("d", "date"), ("bin", "binary"), ("t", "tinyint"),
        ("sm", "smallint"), ("f", "float"), ("i", "int")]


@pytest.mark.parametrize("sql,message", [
    ("CREATE EXTERNAL TABLE bad1 (a int,) LOCATION 's3://b/x/'",
     "line 1:35: mismatched input ')'. Expecting: <identifier>"),
    ("CREATE EXTERNAL TABLE bad2 (a integr) LOCATION 's3://b/x/'",
     "line 1:31: Unknown type 'integr'"),
    ("CREATE EXTERNAL TABLE bad3 (a varchar) LOCATION 's3://b/x/'",
     "line 1:38: mismatched input ')'. Expecting: '('"),
    ("CREATE EXTERNAL TABLE bad4 (a map<string>) LOCATION 's3://b/x/'",
     "line 1:41: mismatched input '>'. Expecting: ','"),
    ("CREATE EXTERNAL TABLE bad5 (a int) STORED AS CSV",
     "line 1:46: mismatched input 'CSV'. Expecting: 'AVRO', 'INPUTFORMAT', 'ION', 'JSON', "
     "'ORC', 'PARQUET', 'RCFILE', 'SEQUENCEFILE', 'TEXTFILE'"),
    ("CREATE EXTERNAL TABLE bad6 (a int) LOCATION 's3://b/x/",
     "line 1:45: unterminated string literal"),
    ("CREATE EXTERNAL TABLE bad7 (a int) LOCATION 's3://b/x/' extra",
     "line 1:57: extraneous input 'extra' expecting <EOF>"),
    ("CREATE EXTERNAL TABLE bad8 (a int, a string) LOCATION 's3://b/x/'",
     "FAILED: SemanticException [Error 10036]: Duplicate column name: a"),
    ("CREATE EXTERNAL TABLE bad9 (a int) PARTITIONED BY (a string) LOCATION 's3://b/x/'",
     "FAILED: SemanticException [Error 10035]: Column repeated in partitioning columns"),
    ("CREATE TABLE bad10 (a int) LOCATION 's3://b/x/'",
     "Only external table creation is supported. Use CREATE EXTERNAL TABLE"),
    ("ALTER TABLE nosuch ADD PARTITION (dt='1')", "Table not found"),
    ("SHOW COLUMNS nosuch", "line 1:14: mismatched input 'nosuch'. Expecting: 'FROM', 'IN'"),
    ("MSCK TABLE t", "line 1:6: mismatched input 'TABLE'. Expecting: 'REPAIR'"),
])
def test_bad_ddl_is_refused_as_athena_refuses_it(env, sql, message):
    err = failed(env, sql)
    assert message in err["ErrorMessage"], err
    assert err["ErrorType"] in (1006, 1001, 1110)
    name = sql.split("(")[0].split()[-1]
    with pytest.raises(env["glue"].exceptions.EntityNotFoundException):
        env["glue"].get_table(DatabaseName=env["db"], Name=name)


def test_drop_table(env):
    bucket = env["bucket"]
    ok(env, f"CREATE EXTERNAL TABLE dropme (a int) LOCATION 's3://{bucket}/dropme/'")
    qe = ok(env, "DROP TABLE dropme")
    assert kinds(env, qe) == ("DDL", "DROP_TABLE")
    with pytest.raises(env["glue"].exceptions.EntityNotFoundException):
        env["glue"].get_table(DatabaseName=env["db"], Name="dropme")
    err = failed(env, "DROP TABLE dropme")
    assert err["ErrorMessage"] == \
        f"FAILED: SemanticException [Error 10001]: Table not found {env['db']}.dropme"
    ok(env, "DROP TABLE IF EXISTS dropme")
    err = failed(env, "SELECT * FROM dropme")
    assert "TABLE_NOT_FOUND" in err["ErrorMessage"]


def test_show_statements(env, events):
    db = env["db"]
    qe = ok(env, "SHOW DATABASES", db=False)
    assert kinds(env, qe) == ("UTILITY", "SHOW_DATABASES")
    got, res = lines(env, qe)
    assert db in got and got == sorted(got)
    assert res["ResultSet"]["ResultSetMetadata"]["ColumnInfo"][0]["Name"] == "database_name"
    assert lines(env, ok(env, f"SHOW SCHEMAS LIKE '{db[:6]}*'", db=False))[0] == \
        [d for d in got if d.startswith(db[:6])]
    ok(env, f"CREATE EXTERNAL TABLE other_t (a int) LOCATION 's3://{env['bucket']}/o/'")
    got, res = lines(env, ok(env, f"SHOW TABLES IN {db}", db="default"))
    assert "events" in got and "other_t" in got and got == sorted(got)
    assert res["ResultSet"]["ResultSetMetadata"]["ColumnInfo"][0]["Name"] == "tab_name"
    assert lines(env, ok(env, "SHOW TABLES 'ev*|other_t'"))[0] == ["events", "other_t"]
    # paged one row at a time: no header row on the first page, every line once
    qe = ok(env, "SHOW TABLES")
    want, _ = lines(env, qe)
    paged, token = [], None
    while True:
        kw = {"NextToken": token} if token else {}
        res = env["athena"].get_query_results(QueryExecutionId=qe["QueryExecutionId"],
                                              MaxResults=1, **kw)
        paged += [r["Data"][0]["VarCharValue"] for r in res["ResultSet"]["Rows"]]
        token = res.get("NextToken")
        if not token:
            break
    assert paged == want and len(want) >= 2
    assert lines(env, ok(env, "SHOW TABLES 'nothing*'"))[0] == []
    err = failed(env, "SHOW TABLES IN nosuchdb")
    assert "Database does not exist: nosuchdb" in err["ErrorMessage"]
    qe = ok(env, f"SHOW COLUMNS IN {events}")
    assert lines(env, qe)[0] == ["id", "name", "amount", "dt"]
    assert lines(env, ok(env, f"SHOW COLUMNS FROM {events} IN {db}", db="default"))[0] == \
        ["id", "name", "amount", "dt"]
    got, res = lines(env, ok(env, f"SHOW TBLPROPERTIES {events}"))
    assert "EXTERNAL\tTRUE" in got
    assert [c["Name"] for c in res["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]] == \
        ["prpt_name", "prpt_value"]
    assert lines(env, ok(env, f"SHOW TBLPROPERTIES {events}('EXTERNAL')"))[0] == ["TRUE"]


def test_describe(env, events):
    qe = ok(env, f"DESCRIBE {events}")
    assert kinds(env, qe) == ("UTILITY", "DESCRIBE_TABLE")
    got, res = lines(env, qe)
    split = [[f.strip() for f in line.split("\t")] for line in got]
    # (the table may have been made by the test above, with a comment on id)
    assert [r[:2] for r in split[:4]] == [["id", "bigint"], ["name", "string"],
                                          ["amount", "double"], ["dt", "string"]]
    assert split[1][2] == "" and split[0][2] in ("", "row id")
    assert "# Partition Information" in got
    assert split[-1] == ["dt", "string", ""]
    assert got[1] == "name                \tstring              \t                    "
    info = res["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
    assert [c["Name"] for c in info] == ["col_name", "data_type", "comment"]
    got, _ = lines(env, ok(env, f"DESCRIBE FORMATTED {env['db']}.{events}"))
    assert any(line.startswith("Location:") and f"s3://{env['bucket']}/events/" in line
               for line in got)
    assert any(line.startswith("SerDe Library:") and PARQUET_SERDE in line for line in got)
    err = failed(env, "DESCRIBE nosuch")
    assert "Table not found" in err["ErrorMessage"]


def test_show_create_table_runs_again_to_the_same_table(env):
    bucket, glue, db = env["bucket"], env["glue"], env["db"]
    ok(env, f"CREATE EXTERNAL TABLE roundtrip (a int COMMENT 'it''s a', m map<string,int>) "
            f"COMMENT 'rt' PARTITIONED BY (dt string, h int) ROW FORMAT DELIMITED "
            f"FIELDS TERMINATED BY '\\t' LOCATION 's3://{bucket}/rt/' "
            f"TBLPROPERTIES ('k'='v')")
    qe = ok(env, "SHOW CREATE TABLE roundtrip")
    assert kinds(env, qe) == ("UTILITY", "SHOW_CREATE_TABLE")
    got, res = lines(env, qe)
    assert res["ResultSet"]["ResultSetMetadata"]["ColumnInfo"][0]["Name"] == "createtab_stmt"
    stmt = "\n".join(got)
    assert stmt.startswith("CREATE EXTERNAL TABLE `roundtrip`(")
    ok(env, stmt.replace("`roundtrip`", "`roundtrip2`", 1))
    a = glue.get_table(DatabaseName=db, Name="roundtrip")["Table"]
    b = glue.get_table(DatabaseName=db, Name="roundtrip2")["Table"]
    for k in ("StorageDescriptor", "PartitionKeys", "TableType"):
        assert a[k] == b[k], k
    pa = {k: v for k, v in a["Parameters"].items() if k != "transient_lastDdlTime"}
    pb = {k: v for k, v in b["Parameters"].items() if k != "transient_lastDdlTime"}
    assert pa == pb


def test_ddl_with_the_cli(env):
    sluice, db = env["sluice"], env["db"]
    qid = sluice.aws("athena", "start-query-execution", "--work-group", env["wg"],
                     "--query-string", "SHOW TABLES", "--query-execution-context",
                     f"Database={db}", "--query", "QueryExecutionId", output="text").strip()
    qe = wait_done(env["athena"], qid)
    assert qe["Status"]["State"] == "SUCCEEDED"
    out = sluice.aws("athena", "get-query-results", "--query-execution-id", qid)
    rows = [r["Data"][0]["VarCharValue"] for r in out["ResultSet"]["Rows"]]
    assert "events" in rows or "other_t" in rows or "csv_t" in rows
    qid = sluice.aws("athena", "start-query-execution", "--work-group", env["wg"],
                     "--query-string", f"CREATE EXTERNAL TABLE cli_t (a string) "
                     f"LOCATION 's3://{env['bucket']}/cli/'", "--query-execution-context",
                     f"Database={db}", "--query", "QueryExecutionId", output="text").strip()
    assert wait_done(env["athena"], qid)["Status"]["State"] == "SUCCEEDED"
    t = sluice.aws("glue", "get-table", "--database-name", db, "--name", "cli_t")
    assert t["Table"]["Parameters"]["EXTERNAL"] == "TRUE"


def test_select_is_still_dml(env, events):
    qe = ok(env, f"SELECT count(*) FROM {events}")
    assert kinds(env, qe) == ("DML", "SELECT")
    assert qe["ResultConfiguration"]["OutputLocation"].endswith(".csv")


def test_explain_type_io_gives_the_bytes_the_query_scans(env, events):
    ok(env, f"ALTER TABLE {events} ADD IF NOT EXISTS PARTITION (dt='2026-01-01') "
            f"PARTITION (dt='2026-01-02') PARTITION (dt='2026-01-03')")
    for sql in (f"SELECT name FROM {events} WHERE dt = '2026-01-02'",
                f"SELECT * FROM {events}",
                f"SELECT sum(amount) FROM {events} WHERE dt IN ('2026-01-01', '2026-01-03')"):
        qe = ok(env, f"EXPLAIN (TYPE IO, FORMAT JSON) {sql}")
        assert kinds(env, qe) == ("UTILITY", "EXPLAIN")
        assert qe["Statistics"]["DataScannedInBytes"] == 0
        assert qe["ResultConfiguration"]["OutputLocation"].endswith(".csv")
        res = env["athena"].get_query_results(QueryExecutionId=qe["QueryExecutionId"])
        rows = [[d.get("VarCharValue") for d in r["Data"]] for r in res["ResultSet"]["Rows"]]
        assert rows[0] == ["Query Plan"] and len(rows) == 2
        doc = json.loads(rows[1][0])
        want = ok(env, sql)["Statistics"]["DataScannedInBytes"]
        assert want > 0
        assert doc["estimate"]["outputSizeInBytes"] == want, sql
        assert doc["inputTableColumnInfos"][0]["table"]["schemaTable"] == \
            {"schema": env["db"], "table": events}
    one = json.loads(rows_plan(env, f"EXPLAIN (TYPE IO) SELECT name FROM {events} "
                                    f"WHERE dt = '2026-01-02'"))
    every = json.loads(rows_plan(env, f"EXPLAIN (TYPE IO) SELECT name FROM {events}"))
    assert one["estimate"]["outputSizeInBytes"] < every["estimate"]["outputSizeInBytes"]


def rows_plan(env, sql):
    qe = ok(env, sql)
    res = env["athena"].get_query_results(QueryExecutionId=qe["QueryExecutionId"])
    return res["ResultSet"]["Rows"][1]["Data"][0]["VarCharValue"]


def test_explain_names_the_tables_and_runs_nothing(env, events):
    plan = rows_plan(env, f"EXPLAIN SELECT name, count(*) FROM {events} GROUP BY name")
    assert "READ_PARQUET" in plan and "GROUP_BY" in plan
    assert "__sl_t" not in plan and env["sluice"].data_dir not in plan
    err = failed(env, "EXPLAIN SELECT * FROM nosuch_table")
    assert "TABLE_NOT_FOUND" in err["ErrorMessage"]
    err = failed(env, "EXPLAIN")
    assert err["ErrorType"] == 1006


def test_partition_projection_date_with_a_location_template(env):
    """Firehose's layout (yyyy/MM/dd/HH/) read through projection: no partition is in the
    catalog, a filter on the key reads one hour's object only."""
    bucket, s3 = env["bucket"], env["s3"]
    sizes = {}
    for h in range(4):
        body = "".join(f'{{"id": {h * 10 + i}, "kind": "k{i % 2}"}}\n' for i in range(h + 2))
        s3.put_object(Bucket=bucket, Key=f"fh/2026/01/01/{h:02d}/stream-{h}.json",
                      Body=body.encode())
        sizes[h] = len(body)
    ok(env, f"CREATE EXTERNAL TABLE fh (id int, kind string) PARTITIONED BY (datehour string) "
            f"ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' "
            f"LOCATION 's3://{bucket}/fh/' TBLPROPERTIES ("
            f"'projection.enabled'='true', 'projection.datehour.type'='date', "
            f"'projection.datehour.format'='yyyy/MM/dd/HH', "
            f"'projection.datehour.range'='2026/01/01/00,2026/01/01/05', "
            f"'projection.datehour.interval'='1', 'projection.datehour.interval.unit'='HOURS', "
            f"'storage.location.template'='s3://{bucket}/fh/${{datehour}}/')")
    assert env["glue"].get_partitions(DatabaseName=env["db"], TableName="fh")["Partitions"] == []
    assert select(env, "SELECT count(*) FROM fh") == [[str(sum(h + 2 for h in range(4)))]]
    qe = ok(env, "SELECT count(*), min(datehour) FROM fh WHERE datehour = '2026/01/01/02'")
    assert qe["Statistics"]["DataScannedInBytes"] == sizes[2]
    assert select(env, "SELECT count(*), min(datehour) FROM fh "
                       "WHERE datehour = '2026/01/01/02'") == [["4", "2026/01/01/02"]]
    qe = ok(env, "SELECT id FROM fh WHERE datehour IN ('2026/01/01/00', '2026/01/01/03')")
    assert qe["Statistics"]["DataScannedInBytes"] == sizes[0] + sizes[3]
    qe = ok(env, "SELECT id FROM fh WHERE datehour >= '2026/01/01/01' "
                 "AND datehour < '2026/01/01/03'")
    assert qe["Statistics"]["DataScannedInBytes"] == sizes[1] + sizes[2]
    assert len(select(env, "SELECT id FROM fh WHERE datehour >= '2026/01/01/01' "
                           "AND datehour < '2026/01/01/03'")) == 3 + 4
    # projected partitions are not listed; catalog partitions are ignored
    assert lines(env, ok(env, "SHOW PARTITIONS fh"))[0] == []
    env["glue"].create_partition(DatabaseName=env["db"], TableName="fh", PartitionInput={
        "Values": ["2026/01/01/09"], "StorageDescriptor": {"Location": f"s3://{bucket}/fh/"}})
    assert select(env, "SELECT count(*) FROM fh") == [[str(sum(h + 2 for h in range(4)))]]
    # EXPLAIN (TYPE IO) sees the same pruning
    doc = json.loads(rows_plan(env, "EXPLAIN (TYPE IO) SELECT id FROM fh "
                                    "WHERE datehour = '2026/01/01/02'"))
    assert doc["estimate"]["outputSizeInBytes"] == sizes[2]


def test_partition_projection_enum_integer_and_injected(env):
    bucket, s3 = env["bucket"], env["s3"]
    for region in ("eu", "us", "ap"):
        for n in (1, 2, 3):
            s3.put_object(Bucket=bucket, Key=f"pj/region={region}/n={n:02d}/dev=d1/a.csv",
                          Body=f"{region}-{n}\n".encode())
    ok(env, f"CREATE EXTERNAL TABLE pj (v string) PARTITIONED BY (region string, n int, "
            f"dev string) LOCATION 's3://{bucket}/pj/' TBLPROPERTIES ("
            f"'projection.enabled'='TRUE', 'projection.region.type'='enum', "
            f"'projection.region.values'='eu,us', 'projection.n.type'='INTEGER', "
            f"'projection.n.range'='1,3', 'projection.n.digits'='2', "
            f"'projection.dev.type'='injected')")
    # ap is not among the enum's values: never read
    assert select(env, "SELECT v FROM pj WHERE dev = 'd1' ORDER BY v") == [
        ["eu-1"], ["eu-2"], ["eu-3"], ["us-1"], ["us-2"], ["us-3"]]
    qe = ok(env, "SELECT v, n FROM pj WHERE dev = 'd1' AND region = 'us' AND n = 2")
    assert qe["Statistics"]["DataScannedInBytes"] == len(b"us-2\n")
    assert select(env, "SELECT v, n FROM pj WHERE dev = 'd1' AND region = 'us' AND n = 2") == \
        [["us-2", "2"]]
    err = failed(env, "SELECT v FROM pj WHERE region = 'eu'")
    assert "injected projected partition column dev" in err["ErrorMessage"]
    ok(env, f"CREATE EXTERNAL TABLE pj_bad (v string) PARTITIONED BY (a string, b string) "
            f"LOCATION 's3://{bucket}/pj/' TBLPROPERTIES ('projection.enabled'='true', "
            f"'projection.a.type'='enum', 'projection.a.values'='x')")
    err = failed(env, "SELECT * FROM pj_bad")
    assert err["ErrorMessage"] == (
        f"HIVE_METASTORE_ERROR: Table {env['db']}.pj_bad is configured for partition "
        f"projection, but the following partition columns are missing projection "
        f"configuration: [b] (table {env['db']}.pj_bad)")


def test_views_stored_as_athena_stores_them_and_expanded(env, events):
    import base64
    db, glue = env["db"], env["glue"]
    ok(env, f"ALTER TABLE {events} ADD IF NOT EXISTS PARTITION (dt='2026-01-01') "
            f"PARTITION (dt='2026-01-02') PARTITION (dt='2026-01-03')")
    sql = f"SELECT dt AS day, count(*) AS n, max(name) AS top FROM {events} GROUP BY dt"
    qe = ok(env, f"CREATE VIEW daily AS {sql}")
    assert kinds(env, qe) == ("DDL", "CREATE_VIEW")
    t = glue.get_table(DatabaseName=db, Name="daily")["Table"]
    assert t["TableType"] == "VIRTUAL_VIEW"
    assert t["Parameters"] == {"presto_view": "true", "comment": "Presto View"}
    assert t["ViewExpandedText"] == "/* Presto View */"
    text = t["ViewOriginalText"]
    assert text.startswith("/* Presto View: ") and text.endswith(" */")
    doc = json.loads(base64.b64decode(text[len("/* Presto View: "):-3]))
    assert doc["originalSql"] == sql
    assert (doc["catalog"], doc["schema"]) == ("awsdatacatalog", db)
    assert doc["columns"] == [{"name": "day", "type": "varchar"},
                              {"name": "n", "type": "bigint"},
                              {"name": "top", "type": "varchar"}]
    assert [(c["Name"], c["Type"]) for c in t["StorageDescriptor"]["Columns"]] == [
        ("day", "string"), ("n", "bigint"), ("top", "string")]
    # a query naming the view reads its tables
    assert select(env, "SELECT day, n FROM daily WHERE n > 5 ORDER BY day") == [
        ["2026-01-01", "10"], ["2026-01-02", "15"]]
    assert select(env, f"SELECT d.n FROM {db}.daily d WHERE d.day = '2026-01-03'",
                  db="default") == [["5"]]
    # a view over a view, named from another database
    ok(env, f"CREATE OR REPLACE VIEW big_days AS SELECT day FROM daily WHERE n >= 10")
    assert select(env, f"SELECT count(*) FROM {db}.big_days", db="default") == [["2"]]
    # SHOW VIEWS, SHOW TABLES, SHOW CREATE VIEW, DESCRIBE
    got, _ = lines(env, ok(env, "SHOW VIEWS"))
    assert got == ["big_days", "daily"]
    assert "daily" in lines(env, ok(env, "SHOW TABLES"))[0]
    got, _ = lines(env, ok(env, "SHOW CREATE VIEW daily"))
    assert "\n".join(got) == f"CREATE VIEW daily AS\n{sql}"
    got, _ = lines(env, ok(env, "DESCRIBE daily"))
    assert [line.split("\t")[0].strip() for line in got] == ["day", "n", "top"]
    # OR REPLACE changes it; without it the name is refused
    err = failed(env, "CREATE VIEW daily AS SELECT 1 AS x")
    assert "already exists" in err["ErrorMessage"]
    ok(env, f"CREATE OR REPLACE VIEW daily AS SELECT dt AS day, count(*) AS n "
            f"FROM {events} GROUP BY dt")
    assert select(env, "SELECT count(*) FROM daily") == [["3"]]
    # a view over something missing is refused and not stored
    err = failed(env, "CREATE VIEW broken AS SELECT * FROM no_such_table")
    assert "TABLE_NOT_FOUND" in err["ErrorMessage"]
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.get_table(DatabaseName=db, Name="broken")
    # DROP VIEW, and DROP TABLE does not drop a view
    err = failed(env, "DROP TABLE big_days")
    assert "Cannot drop a view with DROP TABLE" in err["ErrorMessage"]
    qe = ok(env, "DROP VIEW big_days")
    assert kinds(env, qe) == ("DDL", "DROP_VIEW")
    err = failed(env, "SELECT * FROM big_days")
    assert "TABLE_NOT_FOUND" in err["ErrorMessage"]
    err = failed(env, "DROP VIEW big_days")
    assert "does not exist" in err["ErrorMessage"]
    ok(env, "DROP VIEW IF EXISTS big_days")
    err = failed(env, f"DROP VIEW {events}")
    assert "does not exist" in err["ErrorMessage"]


def test_a_view_naming_itself_is_refused(env):
    import base64
    db, glue = env["db"], env["glue"]
    doc = {"originalSql": "SELECT * FROM loop_v", "catalog": "awsdatacatalog", "schema": db,
           "columns": [{"name": "a", "type": "integer"}]}
    glue.create_table(DatabaseName=db, TableInput={
        "Name": "loop_v", "TableType": "VIRTUAL_VIEW", "ViewExpandedText": "/* Presto View */",
        "ViewOriginalText": "/* Presto View: " +
        base64.b64encode(json.dumps(doc).encode()).decode() + " */",
        "StorageDescriptor": {"Columns": [{"Name": "a", "Type": "int"}]}})
    err = failed(env, "SELECT * FROM loop_v")
    assert "VIEW_IS_RECURSIVE" in err["ErrorMessage"]


def presto_view(env, name, sql):
    import base64
    doc = {"originalSql": sql, "catalog": "awsdatacatalog", "schema": env["db"],
           "columns": [{"name": "a", "type": "varchar"}]}
    env["glue"].create_table(DatabaseName=env["db"], TableInput={
        "Name": name, "TableType": "VIRTUAL_VIEW", "ViewExpandedText": "/* Presto View */",
        "ViewOriginalText": "/* Presto View: " +
        base64.b64encode(json.dumps(doc).encode()).decode() + " */",
        "StorageDescriptor": {"Columns": [{"Name": "a", "Type": "string"}]}})


@pytest.mark.parametrize("sql", [
    "EXPLAIN COPY (SELECT 1) TO '/tmp/sluice-ddl-escape.csv'",
    "EXPLAIN SELECT * FROM read_csv('/etc/passwd')",
    "EXPLAIN (TYPE IO) SELECT * FROM glob('/*')",
    "CREATE VIEW esc_v1 AS SELECT * FROM read_csv('/etc/passwd')",
    "CREATE VIEW esc_v2 AS COPY (SELECT 1) TO '/tmp/sluice-ddl-escape.csv'",
    "CREATE VIEW esc_v3 AS SELECT 1; COPY (SELECT 1) TO '/tmp/sluice-ddl-escape.csv'",
    "CREATE EXTERNAL TABLE esc_t1 (a string) LOCATION 'file:///etc/'",
    "SELECT * FROM esc_stored_view",
])
def test_ddl_escape_attempts_are_refused(env, sql):
    if "esc_stored_view" in sql:
        presto_view(env, "esc_stored_view", "SELECT * FROM read_csv('/etc/passwd')")
    err = failed(env, sql)
    assert env["sluice"].data_dir not in err["ErrorMessage"]
    assert not os.path.exists("/tmp/sluice-ddl-escape.csv")
    for name in ("esc_v1", "esc_v2", "esc_v3", "esc_t1"):
        with pytest.raises(env["glue"].exceptions.EntityNotFoundException):
            env["glue"].get_table(DatabaseName=env["db"], Name=name)


def test_locations_outside_the_lake_read_nothing(env):
    """Locations are bucket and key prefix in the lake, never paths: dots name no bucket,
    and a key prefix with dots holds no object."""
    for i, loc in enumerate(("s3://../../etc/", "s3://./")):
        ok(env, f"CREATE EXTERNAL TABLE esc_loc{i} (line string) PARTITIONED BY (k string) "
                f"LOCATION '{loc}'")
        ok(env, f"CREATE EXTERNAL TABLE esc_u{i} (line string) LOCATION '{loc}'")
        assert "bucket does not exist" in failed(env, f"SELECT * FROM esc_u{i}")["ErrorMessage"]
        assert "bucket does not exist" in failed(env, f"MSCK REPAIR TABLE esc_loc{i}")[
            "ErrorMessage"]
    ok(env, f"CREATE EXTERNAL TABLE esc_u2 (line string) "
            f"LOCATION 's3://{env['bucket']}/../../etc/'")
    assert select(env, "SELECT * FROM esc_u2") == []


def test_failures_inside_explain_and_views_point_into_the_statement(env, events):
    err = failed(env, f"EXPLAIN SELECT nosuch FROM {events}")
    assert err["ErrorMessage"].startswith("COLUMN_NOT_FOUND: line 1:16: Column 'nosuch'"), err
    err = failed(env, f"CREATE VIEW bad_col AS\nSELECT id,\n  nosuch FROM {events}")
    assert err["ErrorMessage"].startswith("COLUMN_NOT_FOUND: line 3:3: Column 'nosuch'"), err
