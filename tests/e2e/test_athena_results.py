"""Athena's result objects and Trino grammar DuckDB's parser does not take, with boto3 and
the AWS CLI against Sluice.

Beside every result Athena writes a metadata object: <id>.csv.metadata for a SELECT,
<id>.txt.metadata for DDL and utility statements, <id>.metadata beside a CTAS manifest.
AWS documents it only as binary; objects Athena wrote are protocol buffers (a string field
1, the engine's query id; a message field 4 per column with ColumnInfo's fields 1..10), as
public JDBC drivers decode them. The tests decode Sluice's with a protobuf reader of their
own and compare them with GetQueryResults's ColumnInfo.
"""
import os
import re
import subprocess
import time
import uuid

import pytest


def wait_done(athena, qid, timeout=120):
    deadline = time.time() + timeout
    while True:
        qe = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
        if qe["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return qe
        assert time.time() < deadline, qe
        time.sleep(0.05)


@pytest.fixture(scope="module")
def env(sluice):
    s3, athena = sluice.client("s3"), sluice.client("athena")
    tag = uuid.uuid4().hex[:8]
    bucket, wg, db = f"athres-{tag}", f"wgres-{tag}", f"res_{tag}"
    s3.create_bucket(Bucket=bucket)
    athena.create_work_group(Name=wg, Configuration={
        "ResultConfiguration": {"OutputLocation": f"s3://{bucket}/results/"}})
    env = {"s3": s3, "athena": athena, "bucket": bucket, "wg": wg, "db": db, "sluice": sluice}
    qe = run(env, f"CREATE DATABASE {db}")
    assert qe["Status"]["State"] == "SUCCEEDED", qe
    return env


def run(env, sql):
    athena = env["athena"]
    qid = athena.start_query_execution(QueryString=sql, WorkGroup=env["wg"],
                                       QueryExecutionContext={"Database": env.get("db", "default")}
                                       )["QueryExecutionId"]
    return wait_done(athena, qid)


def results(env, qid):
    res = env["athena"].get_query_results(QueryExecutionId=qid)
    rows = [[d.get("VarCharValue") for d in r["Data"]] for r in res["ResultSet"]["Rows"]]
    return rows, res["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]


def get_object(env, url):
    assert url.startswith("s3://"), url
    bucket, key = url[5:].split("/", 1)
    return env["s3"].get_object(Bucket=bucket, Key=key)["Body"].read()


# -- a protocol buffers reader (wire format only) --

def varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, i


def fields(buf):
    """The (number, value) pairs of a message: bytes for length-delimited fields, int for
    varints; any other wire type fails the test."""
    out, i = [], 0
    while i < len(buf):
        tag, i = varint(buf, i)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            v, i = varint(buf, i)
        elif wire == 2:
            n, i = varint(buf, i)
            v, i = bytes(buf[i:i + n]), i + n
            assert len(v) == n, "truncated field"
        else:
            raise AssertionError(f"unexpected wire type {wire}")
        out.append((number, v))
    return out


NULLABLE = {1: "NOT_NULL", 2: "NULLABLE", 3: "UNKNOWN"}


def decode_metadata(buf):
    """(engine query id, [ColumnInfo dicts]) of a metadata object, with ColumnInfo's
    defaults for fields left out, as GetQueryResults shows them."""
    top = fields(buf)
    assert [n for n, _ in top][:1] == [1], top
    assert all(n == 4 for n, _ in top[1:]), top
    cols = []
    for _, raw in top[1:]:
        f = fields(raw)
        numbers = [n for n, _ in f]
        assert numbers == sorted(numbers), numbers  # written in field order
        d = dict(f)
        cols.append({
            "CatalogName": d.get(1, b"").decode(), "SchemaName": d.get(2, b"").decode(),
            "TableName": d.get(3, b"").decode(), "Name": d.get(4, b"").decode(),
            "Label": d.get(5, b"").decode(), "Type": d.get(6, b"").decode(),
            "Precision": d.get(7, 0), "Scale": d.get(8, 0),
            "Nullable": NULLABLE[d.get(9, 3)], "CaseSensitive": d.get(10, 0) == 1,
            "_fields": numbers})
    return top[0][1].decode(), cols


def check_metadata_matches(env, qe, suffix):
    out = qe["ResultConfiguration"]["OutputLocation"]
    qid, cols = decode_metadata(get_object(env, out + suffix))
    assert re.fullmatch(r"\d{8}_\d{6}_\d{5}_[a-z]{5}", qid), qid
    _, info = results(env, qe["QueryExecutionId"])
    assert [{k: v for k, v in c.items() if k != "_fields"} for c in cols] == info
    return cols


def test_select_writes_csv_and_csv_metadata(env):
    qe = run(env, "SELECT 1 AS a, 'x' AS b, ARRAY[1, 2] AS c, CAST(1.5 AS decimal(10,2)) AS d,"
                  " 2.5e0 AS e")
    assert qe["Status"]["State"] == "SUCCEEDED", qe
    out = qe["ResultConfiguration"]["OutputLocation"]
    assert out.endswith(f"/results/{qe['QueryExecutionId']}.csv")
    assert get_object(env, out) == b'"a","b","c","d","e"\n"1","x","[1, 2]","1.50","2.5"\n'
    cols = check_metadata_matches(env, qe, ".metadata")
    assert [c["Type"] for c in cols] == ["integer", "varchar", "array", "decimal", "double"]
    # scalar columns carry precision, scale and case sensitivity; an array column leaves
    # them out, as in objects Athena wrote
    assert cols[0]["_fields"] == [1, 4, 5, 6, 7, 8, 9, 10]
    assert cols[2]["_fields"] == [1, 4, 5, 6, 9]
    assert (cols[3]["Precision"], cols[3]["Scale"]) == (10, 2)
    assert cols[1]["CaseSensitive"] is True and cols[0]["CaseSensitive"] is False


def test_ddl_writes_txt_and_txt_metadata(env):
    qe = run(env, "SHOW DATABASES")
    assert qe["Status"]["State"] == "SUCCEEDED", qe
    out = qe["ResultConfiguration"]["OutputLocation"]
    assert out.endswith(f"/results/{qe['QueryExecutionId']}.txt")
    assert env["db"].encode() + b"\n" in get_object(env, out)
    cols = check_metadata_matches(env, qe, ".metadata")
    assert [c["Name"] for c in cols] == ["database_name"]


def test_ctas_writes_manifest_and_metadata(env):
    table = f"t_{uuid.uuid4().hex[:6]}"
    qe = run(env, f"CREATE TABLE {table} WITH (format = 'PARQUET') AS SELECT 1 AS x")
    assert qe["Status"]["State"] == "SUCCEEDED", qe
    manifest = qe["Statistics"]["DataManifestLocation"]
    assert manifest.endswith(f"/{qe['QueryExecutionId']}-manifest.csv")
    qid, cols = decode_metadata(get_object(env, manifest.replace("-manifest.csv", ".metadata")))
    assert re.fullmatch(r"\d{8}_\d{6}_\d{5}_[a-z]{5}", qid), qid
    assert [(c["Name"], c["Type"], c["Precision"]) for c in cols] == [("rows", "bigint", 19)]


def test_cli_reads_the_metadata_object(env, tmp_path):
    qe = run(env, "SELECT 'v' AS only_col")
    out = qe["ResultConfiguration"]["OutputLocation"] + ".metadata"
    dest = tmp_path / "result.metadata"
    env["sluice"].aws("s3", "cp", out, str(dest), output="text")
    _, cols = decode_metadata(dest.read_bytes())
    assert [(c["Name"], c["Type"]) for c in cols] == [("only_col", "varchar")]


# -- Trino grammar: each case with the rows and column types Athena returns --

GRAMMAR = [
    # if with two arguments: NULL when the condition is false
    ("SELECT if(1 > 2, 'x'), if(1 < 2, 'x')", [["_col0", "_col1"], [None, "x"]],
     ["varchar", "varchar"]),
    ("SELECT if(false, if(true, 1)), if(true, if(false, 1), 2)", [["_col0", "_col1"], [None, None]],
     ["integer", "integer"]),
    # VALUES rows of one column need no parentheses; VALUES' columns are _col0, _col1, ...
    ("VALUES 1, 2", [["_col0"], ["1"], ["2"]], ["integer"]),
    ("VALUES (1, 'a'), (2, 'b')", [["_col0", "_col1"], ["1", "a"], ["2", "b"]],
     ["integer", "varchar"]),
    ("SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS t(x, y)", [["x", "y"], ["1", "a"], ["2", "b"]],
     ["integer", "varchar"]),
    ("SELECT sum(x) AS s FROM (VALUES 1, 2, 3) AS t(x)", [["s"], ["6"]], ["bigint"]),
    # array(T) and map(K, V) types in casts
    ("SELECT CAST(ARRAY['1', '2'] AS array(integer))", [["_col0"], ["[1, 2]"]], ["array"]),
    ("SELECT CAST(ARRAY[1, 2] AS array(varchar))", [["_col0"], ["[1, 2]"]], ["array"]),
    ("SELECT cardinality(CAST(ARRAY[ARRAY[1], ARRAY[2, 3]] AS array(array(bigint))))",
     [["_col0"], ["2"]], ["bigint"]),
    ("SELECT try_cast(ARRAY['1', 'x'] AS array(integer))", [["_col0"], ["[1, null]"]], ["array"]),
    ("SELECT CAST(MAP(ARRAY['a'], ARRAY[1]) AS map(varchar, integer))", [["_col0"], ["{a=1}"]],
     ["map"]),
    ("SELECT CAST(MAP(ARRAY['a'], ARRAY[ARRAY[1]]) AS map(varchar, array(integer)))",
     [["_col0"], ["{a=[1]}"]], ["map"]),
    # reduce with Trino's four arguments (the examples of Trino's documentation)
    ("SELECT reduce(ARRAY[5, 20, 50], 0, (s, x) -> s + x, s -> s)", [["_col0"], ["75"]],
     ["integer"]),
    ("SELECT reduce(ARRAY[5, 20, NULL, 50], 0, (s, x) -> s + x, s -> s)", [["_col0"], [None]],
     ["integer"]),
    ("SELECT reduce(ARRAY[5, 20, NULL, 50], 0, (s, x) -> s + coalesce(x, 0), s -> s)",
     [["_col0"], ["75"]], ["integer"]),
    ("SELECT reduce(ARRAY[2147483647, 1], BIGINT '0', (s, x) -> s + x, s -> s)",
     [["_col0"], ["2147483648"]], ["bigint"]),
    ("SELECT reduce(ARRAY[1, 2, 3], 10, (s, x) -> s * x, s -> s * 2)", [["_col0"], ["120"]],
     ["integer"]),
    # text that looks like the grammar is left alone
    ("SELECT 'if(a, b)' AS \"values 1\", 'AS array(integer)' AS v",
     [["values 1", "v"], ["if(a, b)", "AS array(integer)"]], ["varchar", "varchar"]),
]


@pytest.mark.parametrize("sql,rows,types", GRAMMAR, ids=[g[0][:50] for g in GRAMMAR])
def test_trino_grammar(env, sql, rows, types):
    qe = run(env, sql)
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    got, info = results(env, qe["QueryExecutionId"])
    assert got == rows
    assert [c["Type"] for c in info] == types


def test_a_syntax_error_after_a_rewrite_still_fails(env):
    qe = run(env, "SELECT if(1 > 2, 'x') FROM")
    assert qe["Status"]["State"] == "FAILED"
    assert qe["Status"]["AthenaError"]["ErrorCategory"] == 2
    assert "SYNTAX_ERROR" in qe["Status"]["StateChangeReason"]


def test_insert_into_a_bucketed_table_is_refused(env):
    """Athena writes bucketed tables through CTAS only ("Athena does not support using
    INSERT INTO to add new records to bucketed tables"): the INSERT fails and adds nothing."""
    table = f"b_{uuid.uuid4().hex[:6]}"
    qe = run(env, f"CREATE TABLE {table} WITH (format = 'PARQUET', bucketed_by = ARRAY['id'],"
                  f" bucket_count = 4) AS SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS t(id, v)")
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    qe = run(env, f"INSERT INTO {table} VALUES (3, 'c')")
    assert qe["Status"]["State"] == "FAILED", qe["Status"]
    assert qe["Status"]["AthenaError"]["ErrorCategory"] == 2
    assert qe["Status"]["StateChangeReason"].startswith(
        "NOT_SUPPORTED: Inserting into bucketed tables is not supported")
    qe = run(env, f"SELECT count(*) FROM {table}")
    assert results(env, qe["QueryExecutionId"])[0] == [["_col0"], ["2"]]
    # an unbucketed table still takes rows
    plain = f"p_{uuid.uuid4().hex[:6]}"
    assert run(env, f"CREATE TABLE {plain} WITH (format = 'PARQUET') AS SELECT 1 AS id"
               )["Status"]["State"] == "SUCCEEDED"
    assert run(env, f"INSERT INTO {plain} VALUES 2")["Status"]["State"] == "SUCCEEDED"
    qe = run(env, f"SELECT count(*) FROM {plain}")
    assert results(env, qe["QueryExecutionId"])[0] == [["_col0"], ["2"]]


# -- arrays, maps and rows as Athena shows them: a NULL inside is null, rows {name=value} --

NESTED = [
    ("SELECT ARRAY[1, NULL, 3]", "[1, null, 3]"),
    ("SELECT MAP(ARRAY['a', 'b'], ARRAY[1, NULL])", "{a=1, b=null}"),
    ("SELECT CAST(ROW(1, 'a') AS row(x integer, y varchar))", "{x=1, y=a}"),
    ("SELECT ARRAY[CAST(ROW(1, NULL) AS row(x integer, y varchar))]", "[{x=1, y=null}]"),
    ("SELECT ARRAY[ARRAY[1], NULL, ARRAY[]]", "[[1], null, []]"),
    ("SELECT ARRAY[TIMESTAMP '2024-01-01 00:00:00']", "[2024-01-01 00:00:00.000]"),
    ("SELECT CAST(NULL AS array(integer))", None),
]


@pytest.mark.parametrize("sql,shown", NESTED, ids=[x[0][:50] for x in NESTED])
def test_nested_values_as_athena_shows_them(env, sql, shown):
    qe = run(env, sql)
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    assert results(env, qe["QueryExecutionId"])[0] == [["_col0"], [shown]]


# -- Parquet files whose types differ from the catalog's --

HELPER = os.path.join(os.path.dirname(os.environ.get("SLUICE_BIN", "build/sluice")),
                      "tests", "athena_duck_helper")
PARQUET = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {"SerializationLibrary":
                  "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"}}


@pytest.fixture(scope="module")
def typed(env, tmp_path_factory):
    """One Parquet file (a INT32, b INT64, c BYTE_ARRAY/UTF8, d FLOAT) under two tables:
    `widened` declares a bigint, b bigint, c string, d double; `clash` declares c bigint."""
    tmp = tmp_path_factory.mktemp("typed")
    path = os.path.join(str(tmp), "f.parquet")
    p = subprocess.run([HELPER, str(tmp), "COPY (SELECT i::INTEGER AS a, (i * 10)::BIGINT AS b,"
                        " 'v' || i::VARCHAR AS c, (i + 0.5)::FLOAT AS d FROM range(1, 4) t(i))"
                        f" TO '{path}' (FORMAT parquet)"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    with open(path, "rb") as f:
        env["s3"].put_object(Bucket=env["bucket"], Key="typed/f.parquet", Body=f.read())
    glue = env["sluice"].client("glue")
    for name, ctype in (("widened", "string"), ("clash", "bigint")):
        glue.create_table(DatabaseName=env["db"], TableInput={
            "Name": name, "TableType": "EXTERNAL_TABLE",
            "StorageDescriptor": dict(PARQUET, Location=f"s3://{env['bucket']}/typed/", Columns=[
                {"Name": "a", "Type": "bigint"}, {"Name": "b", "Type": "bigint"},
                {"Name": "c", "Type": ctype}, {"Name": "d", "Type": "double"}])})
    return env


def test_parquet_columns_come_as_the_catalog_types(typed):
    qe = run(typed, "SELECT a, b, c, d, typeof(a) AS ta, typeof(d) AS td FROM widened"
                    " ORDER BY a")
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    rows, info = results(typed, qe["QueryExecutionId"])
    assert [c["Type"] for c in info] == ["bigint", "bigint", "varchar", "double", "varchar",
                                         "varchar"]
    assert rows[1:] == [["1", "10", "v1", "1.5", "bigint", "double"],
                        ["2", "20", "v2", "2.5", "bigint", "double"],
                        ["3", "30", "v3", "3.5", "bigint", "double"]]


def test_parquet_type_the_catalog_cannot_read_fails_hive_bad_data(typed):
    qe = run(typed, "SELECT c FROM clash")
    assert qe["Status"]["State"] == "FAILED", qe["Status"]
    assert qe["Status"]["AthenaError"]["ErrorCategory"] == 2
    assert qe["Status"]["StateChangeReason"] == (
        "HIVE_BAD_DATA: Field c's type BINARY in parquet is incompatible with type bigint "
        "defined in table schema")
    # the columns a query does not read are not checked
    qe = run(typed, "SELECT sum(a) AS s FROM clash")
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    assert results(typed, qe["QueryExecutionId"])[0] == [["s"], ["6"]]


# -- timestamp with time zone: Trino's documented examples --

ZONED = [
    ("SELECT TIMESTAMP '2012-10-31 01:00 UTC' AT TIME ZONE 'America/Los_Angeles'",
     "2012-10-30 18:00:00.000 America/Los_Angeles"),
    ("SELECT at_timezone(TIMESTAMP '2021-08-22 03:04:05.321 America/Los_Angeles',"
     " 'America/Chicago')", "2021-08-22 05:04:05.321 America/Chicago"),
    # a timestamp without zone is one in the session's zone, UTC in Athena
    ("SELECT TIMESTAMP '2024-01-01 00:00:00' AT TIME ZONE 'Asia/Tokyo'",
     "2024-01-01 09:00:00.000 Asia/Tokyo"),
    ("SELECT with_timezone(TIMESTAMP '2024-01-01 00:00:00', 'Asia/Tokyo')",
     "2024-01-01 00:00:00.000 Asia/Tokyo"),
    ("SELECT from_iso8601_timestamp('2024-01-01T00:00:00Z')", "2024-01-01 00:00:00.000 UTC"),
]


@pytest.mark.parametrize("sql,shown", ZONED, ids=[z[0][:60] for z in ZONED])
def test_timestamp_with_time_zone_results(env, sql, shown):
    qe = run(env, sql)
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    rows, info = results(env, qe["QueryExecutionId"])
    assert rows == [["_col0"], [shown]]
    assert info[0]["Type"] == "timestamp with time zone"


def test_zone_changes_keep_the_instant(env):
    qe = run(env, "SELECT to_unixtime(TIMESTAMP '2024-01-01 00:00:00' AT TIME ZONE 'Asia/Tokyo'),"
                  " to_unixtime(with_timezone(TIMESTAMP '2024-01-01 09:00:00', 'Asia/Tokyo')),"
                  " current_timezone()")
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    assert results(env, qe["QueryExecutionId"])[0][1] == ["1.7040672E9", "1.7040672E9", "UTC"]


def test_show_databases_with_none_but_default_answers(sluice_unlimited):
    """A server with no database of its own: SHOW DATABASES still answers (an empty list
    must not reach the sort)."""
    s3, athena = sluice_unlimited.client("s3"), sluice_unlimited.client("athena")
    bucket = f"athnone-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    qid = athena.start_query_execution(
        QueryString="SHOW DATABASES LIKE 'nothing_matches_*'",
        ResultConfiguration={"OutputLocation": f"s3://{bucket}/r/"})["QueryExecutionId"]
    qe = wait_done(athena, qid)
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    rows = athena.get_query_results(QueryExecutionId=qid)["ResultSet"]["Rows"]
    assert rows == []
