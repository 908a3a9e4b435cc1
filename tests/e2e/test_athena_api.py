"""Athena's API beyond running queries: named queries, prepared statements and EXECUTE,
tags, runtime statistics, engine versions, result reuse and ClientRequestToken rules,
with boto3 and the AWS CLI against Sluice.

The table is a small Parquet file written by DuckDB through Sluice's adapter
(build/tests/athena_duck_helper), put into S3 and described in Glue.
"""
import os
import subprocess
import tempfile
import time
import uuid

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

HELPER = os.path.join(os.path.dirname(os.environ.get("SLUICE_BIN", "build/sluice")),
                      "tests", "athena_duck_helper")
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
N_ROWS = 1000


def wait_done(athena, qid, timeout=60):
    deadline = time.time() + timeout
    while True:
        qe = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
        if qe["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return qe
        assert time.time() < deadline, qe
        time.sleep(0.05)


def start(athena, sql, wg, db, **kw):
    return athena.start_query_execution(QueryString=sql, WorkGroup=wg,
                                        QueryExecutionContext={"Database": db},
                                        **kw)["QueryExecutionId"]


def run(athena, sql, wg, db, **kw):
    return wait_done(athena, start(athena, sql, wg, db, **kw))


def rows_of(athena, qid):
    res = athena.get_query_results(QueryExecutionId=qid)
    return [[d.get("VarCharValue") for d in r["Data"]] for r in res["ResultSet"]["Rows"]]


def error_of(call, **kw):
    with pytest.raises(ClientError) as e:
        call(**kw)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


@pytest.fixture(scope="module")
def env(sluice):
    """A bucket, a Glue database with one Parquet table `items` (id 0..999, grp id % 10)
    and a workgroup writing results under the bucket."""
    s3, glue, athena = sluice.client("s3"), sluice.client("glue"), sluice.client("athena")
    tag = uuid.uuid4().hex[:8]
    bucket, db, wg = f"athapi-{tag}", f"api_{tag}", f"wgapi-{tag}"
    s3.create_bucket(Bucket=bucket)
    tmp = tempfile.mkdtemp(prefix="athena-api-e2e-")
    path = os.path.join(tmp, "items.parquet")
    p = subprocess.run([HELPER, tmp, f"COPY (SELECT i AS id, i % 10 AS grp, 'n' || i::VARCHAR"
                        f" AS name FROM range(0, {N_ROWS}) t(i)) TO '{path}' (FORMAT parquet)"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    with open(path, "rb") as f:
        s3.put_object(Bucket=bucket, Key="items/items.parquet", Body=f.read())
    glue.create_database(DatabaseInput={"Name": db})
    glue.create_table(DatabaseName=db, TableInput={
        "Name": "items", "TableType": "EXTERNAL_TABLE",
        "StorageDescriptor": {
            "Columns": [{"Name": "id", "Type": "bigint"}, {"Name": "grp", "Type": "bigint"},
                        {"Name": "name", "Type": "string"}],
            "Location": f"s3://{bucket}/items/",
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE}}})
    athena.create_work_group(Name=wg, Configuration={
        "ResultConfiguration": {"OutputLocation": f"s3://{bucket}/results/"}})
    # a client that leaves the model's constraints to the server
    raw = sluice.client("athena", config=Config(parameter_validation=False,
                                                retries={"total_max_attempts": 1}))
    return {"bucket": bucket, "db": db, "wg": wg, "athena": athena, "s3": s3,
            "sluice": sluice, "raw": raw}


def new_wg(env, **kw):
    name = f"wg-{uuid.uuid4().hex[:10]}"
    env["athena"].create_work_group(Name=name, Configuration={
        "ResultConfiguration": {"OutputLocation": f"s3://{env['bucket']}/r-{name}/"}}, **kw)
    return name


def arn_of(wg):
    return f"arn:aws:athena:us-east-1:000000000000:workgroup/{wg}"


# ---- named queries ----

def test_named_query_lifecycle(env):
    athena, wg = env["athena"], new_wg(env)
    qid = athena.create_named_query(Name="n1", Description="first", Database=env["db"],
                                    QueryString="SELECT 1", WorkGroup=wg)["NamedQueryId"]
    got = athena.get_named_query(NamedQueryId=qid)["NamedQuery"]
    assert got == {"NamedQueryId": qid, "Name": "n1", "Description": "first",
                   "Database": env["db"], "QueryString": "SELECT 1", "WorkGroup": wg}
    athena.update_named_query(NamedQueryId=qid, Name="n1b", QueryString="SELECT 2",
                              Description="")
    got = athena.get_named_query(NamedQueryId=qid)["NamedQuery"]
    assert (got["Name"], got["QueryString"], got.get("Description")) == ("n1b", "SELECT 2", "")
    athena.delete_named_query(NamedQueryId=qid)
    code, msg = error_of(athena.get_named_query, NamedQueryId=qid)
    assert code == "InvalidRequestException" and qid in msg
    code, _ = error_of(athena.delete_named_query, NamedQueryId=qid)
    assert code == "InvalidRequestException"
    code, _ = error_of(athena.update_named_query, NamedQueryId=qid, Name="x",
                       QueryString="SELECT 1")
    assert code == "InvalidRequestException"


def test_named_query_default_workgroup_token_and_validation(env):
    athena = env["athena"]
    token = uuid.uuid4().hex + uuid.uuid4().hex
    a = athena.create_named_query(Name="tok", Database=env["db"], QueryString="SELECT 1",
                                  ClientRequestToken=token)["NamedQueryId"]
    b = athena.create_named_query(Name="tok", Database=env["db"], QueryString="SELECT 1",
                                  ClientRequestToken=token)["NamedQueryId"]
    assert a == b
    code, msg = error_of(athena.create_named_query, Name="tok", Database=env["db"],
                         QueryString="SELECT 2", ClientRequestToken=token)
    assert (code, msg) == ("InvalidRequestException", "Idempotent parameters do not match")
    assert athena.get_named_query(NamedQueryId=a)["NamedQuery"]["WorkGroup"] == "primary"
    assert a in athena.list_named_queries()["NamedQueryIds"]
    code, msg = error_of(athena.create_named_query, Name="x", Database=env["db"],
                         QueryString="SELECT 1", WorkGroup="no-such-wg")
    assert (code, msg) == ("InvalidRequestException", "WorkGroup no-such-wg is not found.")
    for bad in ({"Database": ""}, {"Name": "n" * 129}, {"QueryString": ""},
                {"ClientRequestToken": "short"}):
        args = dict({"Name": "x", "Database": env["db"], "QueryString": "SELECT 1"}, **bad)
        code, _ = error_of(env["raw"].create_named_query, **args)
        assert code == "InvalidRequestException", bad
    athena.delete_named_query(NamedQueryId=a)


def test_named_query_batch_and_paging(env):
    athena, wg = env["athena"], new_wg(env)
    ids = [athena.create_named_query(Name=f"q{i}", Database=env["db"],
                                     QueryString=f"SELECT {i}", WorkGroup=wg)["NamedQueryId"]
           for i in range(5)]
    seen, token, pages = [], None, 0
    while True:
        page = athena.list_named_queries(WorkGroup=wg, MaxResults=2,
                                         **({"NextToken": token} if token else {}))
        assert len(page["NamedQueryIds"]) <= 2
        seen += page["NamedQueryIds"]
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(seen) == sorted(ids) and pages == 3
    batch = athena.batch_get_named_query(NamedQueryIds=ids[:2] + ["missing-id"])
    assert sorted(q["NamedQueryId"] for q in batch["NamedQueries"]) == sorted(ids[:2])
    un = batch["UnprocessedNamedQueryIds"]
    assert len(un) == 1 and un[0]["NamedQueryId"] == "missing-id"
    assert un[0]["ErrorCode"] and un[0]["ErrorMessage"]
    code, _ = error_of(athena.list_named_queries, WorkGroup="no-such-wg")
    assert code == "InvalidRequestException"


def test_delete_workgroup_with_contents_needs_recursive(env):
    athena, wg = env["athena"], new_wg(env)
    qid = athena.create_named_query(Name="keep", Database=env["db"], QueryString="SELECT 1",
                                    WorkGroup=wg)["NamedQueryId"]
    athena.create_prepared_statement(StatementName="ps_keep", WorkGroup=wg,
                                     QueryStatement="SELECT 1")
    code, msg = error_of(athena.delete_work_group, WorkGroup=wg)
    assert code == "InvalidRequestException" and wg in msg
    assert athena.get_work_group(WorkGroup=wg)["WorkGroup"]["Name"] == wg
    done = run(athena, "SELECT 1", wg, env["db"])["QueryExecutionId"]
    endless = start(athena, "SELECT count(*) FROM items a, items b, items c, items d"
                            " WHERE a.id + b.id > c.id + d.id", wg, env["db"])
    athena.delete_work_group(WorkGroup=wg, RecursiveDeleteOption=True)
    code, _ = error_of(athena.get_named_query, NamedQueryId=qid)
    assert code == "InvalidRequestException"
    for gone in (done, endless):
        code, _ = error_of(athena.get_query_execution, QueryExecutionId=gone)
        assert code == "InvalidRequestException"
    # a workgroup of the same name starts empty
    athena.create_work_group(Name=wg)
    assert athena.list_prepared_statements(WorkGroup=wg)["PreparedStatements"] == []
    assert athena.list_named_queries(WorkGroup=wg)["NamedQueryIds"] == []
    assert athena.list_query_executions(WorkGroup=wg)["QueryExecutionIds"] == []
    athena.delete_work_group(WorkGroup=wg)
    # the workers are free again
    assert run(athena, "SELECT 2", env["wg"], env["db"])["Status"]["State"] == "SUCCEEDED"


# ---- prepared statements ----

def test_prepared_statement_lifecycle(env):
    athena, wg = env["athena"], new_wg(env)
    athena.create_prepared_statement(StatementName="ps_one", WorkGroup=wg,
                                     QueryStatement="SELECT ? AS x", Description="d")
    got = athena.get_prepared_statement(StatementName="ps_one", WorkGroup=wg)
    ps = got["PreparedStatement"]
    assert (ps["StatementName"], ps["QueryStatement"], ps["WorkGroupName"], ps["Description"]) \
        == ("ps_one", "SELECT ? AS x", wg, "d")
    assert ps["LastModifiedTime"].year >= 2024
    code, _ = error_of(athena.create_prepared_statement, StatementName="ps_one", WorkGroup=wg,
                       QueryStatement="SELECT 2")
    assert code == "InvalidRequestException"
    athena.update_prepared_statement(StatementName="ps_one", WorkGroup=wg,
                                     QueryStatement="SELECT ? + 1 AS x")
    ps = athena.get_prepared_statement(StatementName="ps_one", WorkGroup=wg)["PreparedStatement"]
    assert ps["QueryStatement"] == "SELECT ? + 1 AS x" and "Description" not in ps
    for i in range(3):
        athena.create_prepared_statement(StatementName=f"ps_p{i}", WorkGroup=wg,
                                         QueryStatement="SELECT 1")
    names, token = [], None
    while True:
        page = athena.list_prepared_statements(WorkGroup=wg, MaxResults=3,
                                               **({"NextToken": token} if token else {}))
        assert len(page["PreparedStatements"]) <= 3
        names += [p["StatementName"] for p in page["PreparedStatements"]]
        token = page.get("NextToken")
        if not token:
            break
    assert names == ["ps_one", "ps_p0", "ps_p1", "ps_p2"]
    batch = athena.batch_get_prepared_statement(PreparedStatementNames=["ps_p0", "ps_nope"],
                                                WorkGroup=wg)
    assert [p["StatementName"] for p in batch["PreparedStatements"]] == ["ps_p0"]
    un = batch["UnprocessedPreparedStatementNames"]
    assert un[0]["StatementName"] == "ps_nope" and un[0]["ErrorCode"] == "STATEMENT_NOT_FOUND"
    assert un[0]["ErrorMessage"]
    batch = env["raw"].batch_get_prepared_statement(PreparedStatementNames=["bad-name"],
                                                    WorkGroup=wg)
    assert batch["UnprocessedPreparedStatementNames"][0]["ErrorCode"] == "INVALID_INPUT"
    athena.delete_prepared_statement(StatementName="ps_p0", WorkGroup=wg)
    for op in (athena.get_prepared_statement, athena.delete_prepared_statement):
        code, _ = error_of(op, StatementName="ps_p0", WorkGroup=wg)
        assert code == "ResourceNotFoundException"
    code, _ = error_of(athena.update_prepared_statement, StatementName="ps_p0", WorkGroup=wg,
                       QueryStatement="SELECT 1")
    assert code == "ResourceNotFoundException"
    code, _ = error_of(athena.create_prepared_statement, StatementName="ps", WorkGroup="nope-wg",
                       QueryStatement="SELECT 1")
    assert code == "InvalidRequestException"


def test_a_workgroup_holds_at_most_1000_prepared_statements(env):
    athena, wg = env["athena"], new_wg(env)
    for i in range(1000):
        athena.create_prepared_statement(StatementName=f"s{i}", WorkGroup=wg,
                                         QueryStatement="SELECT 1")
    code, _ = error_of(athena.create_prepared_statement, StatementName="s1000", WorkGroup=wg,
                       QueryStatement="SELECT 1")
    assert code == "InvalidRequestException"
    athena.delete_prepared_statement(StatementName="s0", WorkGroup=wg)
    athena.create_prepared_statement(StatementName="s1000", WorkGroup=wg,
                                     QueryStatement="SELECT 1")
    athena.delete_work_group(WorkGroup=wg, RecursiveDeleteOption=True)


def test_statement_name_pattern(env):
    raw, wg = env["raw"], env["wg"]
    for bad in ("1abc", "a-b", "x", "s" * 258):
        code, _ = error_of(raw.create_prepared_statement, StatementName=bad, WorkGroup=wg,
                           QueryStatement="SELECT 1")
        assert code == "InvalidRequestException", bad
    raw.create_prepared_statement(StatementName="_ok@1:x", WorkGroup=wg,
                                  QueryStatement="SELECT 1")
    raw.delete_prepared_statement(StatementName="_ok@1:x", WorkGroup=wg)


def test_execute_using_and_execution_parameters(env):
    athena, wg, db = env["athena"], new_wg(env), env["db"]
    athena.create_prepared_statement(
        StatementName="by_grp", WorkGroup=wg,
        QueryStatement="SELECT count(*) AS n FROM items WHERE grp = ? AND name <> ?")
    qe = run(athena, "EXECUTE by_grp USING 3, 'n3'", wg, db)
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    assert qe["Query"] == "EXECUTE by_grp USING 3, 'n3'"
    assert qe["StatementType"] == "DML"
    assert rows_of(athena, qe["QueryExecutionId"]) == [["n"], [str(N_ROWS // 10 - 1)]]
    qe = run(athena, "EXECUTE by_grp", wg, db, ExecutionParameters=["7", "'n7'"])
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    assert qe["ExecutionParameters"] == ["7", "'n7'"]
    assert rows_of(athena, qe["QueryExecutionId"])[1] == [str(N_ROWS // 10 - 1)]
    # the wrong number of values: the query fails, as Athena's does
    for sql, kw, found in (("EXECUTE by_grp USING 3", {}, 1), ("EXECUTE by_grp", {}, 0),
                           ("EXECUTE by_grp", {"ExecutionParameters": ["1", "'a'", "2"]}, 3)):
        qe = run(athena, sql, wg, db, **kw)
        assert qe["Status"]["State"] == "FAILED" and qe["Query"] == sql
        err = qe["Status"]["AthenaError"]
        assert (err["ErrorCategory"], err["ErrorType"]) == (2, 1006)
        assert err["ErrorMessage"] == \
            f"Incorrect number of parameters: expected 2 but found {found}"
    # an unknown statement, both USING and parameters
    for sql, kw in (("EXECUTE nope USING 1", {}),
                    ("EXECUTE by_grp USING 1, 'a'", {"ExecutionParameters": ["1", "'a'"]})):
        code, _ = error_of(athena.start_query_execution, QueryString=sql, WorkGroup=wg,
                           QueryExecutionContext={"Database": db}, **kw)
        assert code == "InvalidRequestException", sql
    # a statement belongs to its workgroup
    code, _ = error_of(athena.start_query_execution, QueryString="EXECUTE by_grp USING 1, 'a'",
                       WorkGroup=env["wg"], QueryExecutionContext={"Database": db})
    assert code == "InvalidRequestException"


def test_plain_query_reports_its_parameters(env):
    athena = env["athena"]
    qe = run(athena, "SELECT count(*) FROM items WHERE grp = ?", env["wg"], env["db"],
             ExecutionParameters=["4"])
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    assert qe["Query"] == "SELECT count(*) FROM items WHERE grp = ?"
    assert qe["ExecutionParameters"] == ["4"]
    assert rows_of(athena, qe["QueryExecutionId"])[1] == [str(N_ROWS // 10)]
    qe = run(athena, "SELECT ? + ?", env["wg"], env["db"], ExecutionParameters=["1"])
    assert qe["Status"]["State"] == "FAILED"
    assert qe["Status"]["AthenaError"]["ErrorMessage"] == \
        "Incorrect number of parameters: expected 2 but found 1"
    assert qe["Status"]["AthenaError"]["ErrorType"] == 1006


# ---- tags ----

def test_tags_on_workgroups_and_catalog(env):
    athena = env["athena"]
    wg = new_wg(env, Tags=[{"Key": "team", "Value": "data"}, {"Key": "env", "Value": ""}])
    arn = arn_of(wg)
    tags = athena.list_tags_for_resource(ResourceARN=arn)["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("env", ""), ("team", "data")]
    athena.tag_resource(ResourceARN=arn, Tags=[{"Key": "team", "Value": "ops"},
                                               {"Key": "cost", "Value": "42"}])
    athena.tag_resource(ResourceARN=arn, Tags=[{"Key": "é k+-=._:/@", "Value": "ü 1"}])
    athena.untag_resource(ResourceARN=arn, TagKeys=["é k+-=._:/@"])
    athena.untag_resource(ResourceARN=arn, TagKeys=["env", "not-there"])
    tags = athena.list_tags_for_resource(ResourceARN=arn)["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("cost", "42"), ("team", "ops")]
    cat = "arn:aws:athena:us-east-1:000000000000:datacatalog/AwsDataCatalog"
    athena.tag_resource(ResourceARN=cat, Tags=[{"Key": "k", "Value": "v"}])
    assert athena.list_tags_for_resource(ResourceARN=cat)["Tags"] == [{"Key": "k", "Value": "v"}]
    athena.untag_resource(ResourceARN=cat, TagKeys=["k"])
    assert athena.list_tags_for_resource(ResourceARN=cat)["Tags"] == []
    # the tags go with the workgroup
    athena.delete_work_group(WorkGroup=wg)
    athena.create_work_group(Name=wg)
    assert athena.list_tags_for_resource(ResourceARN=arn)["Tags"] == []
    athena.delete_work_group(WorkGroup=wg)


def test_tag_limits_and_errors(env):
    athena = env["athena"]
    wg = new_wg(env)
    arn = arn_of(wg)
    too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    code, _ = error_of(athena.tag_resource, ResourceARN=arn, Tags=too_many)
    assert code == "InvalidRequestException"
    athena.tag_resource(ResourceARN=arn, Tags=too_many[:50])
    code, _ = error_of(athena.tag_resource, ResourceARN=arn,
                       Tags=[{"Key": "one-more", "Value": "v"}])
    assert code == "InvalidRequestException"
    assert len(athena.list_tags_for_resource(ResourceARN=arn)["Tags"]) == 50
    for tags in ([{"Key": "k" * 129, "Value": "v"}], [{"Key": "k", "Value": "v" * 257}],
                 [{"Key": "aws:x", "Value": "v"}], [{"Key": "a*b", "Value": "v"}],
                 [{"Key": "k", "Value": "semi;colon"}]):
        code, _ = error_of(env["raw"].tag_resource, ResourceARN=arn_of(env["wg"]), Tags=tags)
        assert code == "InvalidRequestException", tags
    code, _ = error_of(athena.create_work_group, Name=f"wg-{uuid.uuid4().hex[:8]}",
                       Tags=too_many)
    assert code == "InvalidRequestException"
    code, _ = error_of(athena.list_tags_for_resource, ResourceARN=arn_of("no-such-wg"))
    assert code == "ResourceNotFoundException"
    code, _ = error_of(athena.tag_resource, ResourceARN="arn:aws:s3:::bucket",
                       Tags=[{"Key": "k", "Value": "v"}])
    assert code == "InvalidRequestException"


# ---- runtime statistics, engine versions ----

def test_query_runtime_statistics(env):
    athena = env["athena"]
    qe = run(athena, "SELECT id, name FROM items WHERE grp = 2", env["wg"], env["db"])
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    stats = athena.get_query_runtime_statistics(
        QueryExecutionId=qe["QueryExecutionId"])["QueryRuntimeStatistics"]
    rows = stats["Rows"]
    assert rows["OutputRows"] == N_ROWS // 10
    obj = env["s3"].get_object(Bucket=env["bucket"],
                               Key=qe["ResultConfiguration"]["OutputLocation"].split("/", 3)[3])
    assert rows["OutputBytes"] == obj["ContentLength"]
    assert rows["InputBytes"] == qe["Statistics"]["DataScannedInBytes"] > 0
    assert "InputRows" not in rows  # not measured
    tl = stats["Timeline"]
    assert tl["TotalExecutionTimeInMillis"] == qe["Statistics"]["TotalExecutionTimeInMillis"]
    assert tl["EngineExecutionTimeInMillis"] == qe["Statistics"]["EngineExecutionTimeInMillis"]
    assert tl["QueryQueueTimeInMillis"] >= 0
    assert "OutputStage" not in stats
    code, _ = error_of(athena.get_query_runtime_statistics, QueryExecutionId="nope")
    assert code == "InvalidRequestException"


def test_failed_query_statistics_have_no_rows(env):
    athena = env["athena"]
    qe = run(athena, "SELECT * FROM no_such_table", env["wg"], env["db"])
    assert qe["Status"]["State"] == "FAILED"
    stats = athena.get_query_runtime_statistics(
        QueryExecutionId=qe["QueryExecutionId"])["QueryRuntimeStatistics"]
    assert "Rows" not in stats and "TotalExecutionTimeInMillis" in stats["Timeline"]


def test_runtime_statistics_of_a_query_not_ended(env):
    athena = env["athena"]
    qid = start(athena, "SELECT count(*) FROM items a, items b, items c, items d"
                        " WHERE a.id + b.id > c.id + d.id", env["wg"], env["db"])
    code, msg = error_of(athena.get_query_runtime_statistics, QueryExecutionId=qid)
    assert code == "InvalidRequestException"
    assert msg in ("Query has not yet finished. Current state: QUEUED",
                   "Query has not yet finished. Current state: RUNNING")
    athena.stop_query_execution(QueryExecutionId=qid)
    assert wait_done(athena, qid)["Status"]["State"] == "CANCELLED"
    stats = athena.get_query_runtime_statistics(QueryExecutionId=qid)["QueryRuntimeStatistics"]
    assert "Rows" not in stats and "TotalExecutionTimeInMillis" in stats["Timeline"]


def test_engine_versions_and_execution_engine(env):
    athena = env["athena"]
    versions = athena.list_engine_versions()["EngineVersions"]
    assert {"SelectedEngineVersion": "AUTO",
            "EffectiveEngineVersion": "Athena engine version 3"} in versions
    page = athena.list_engine_versions(MaxResults=1)
    assert len(page["EngineVersions"]) == 1 and "NextToken" in page
    rest = athena.list_engine_versions(MaxResults=1, NextToken=page["NextToken"])
    assert rest["EngineVersions"] != page["EngineVersions"]
    code, _ = error_of(env["raw"].list_engine_versions, MaxResults=11)
    assert code == "InvalidRequestException"
    qe = run(athena, "SELECT 1", env["wg"], env["db"])
    assert qe["EngineVersion"]["EffectiveEngineVersion"] == "Athena engine version 3"


# ---- result reuse, ClientRequestToken ----

def test_result_reuse(env):
    athena, wg, db = env["athena"], new_wg(env), env["db"]
    sql = "SELECT grp, count(*) AS n FROM items GROUP BY grp ORDER BY grp"
    reuse = {"ResultReuseByAgeConfiguration": {"Enabled": True, "MaxAgeInMinutes": 30}}
    first = run(athena, sql, wg, db, ResultReuseConfiguration=reuse)
    assert first["Status"]["State"] == "SUCCEEDED"
    assert first["Statistics"]["ResultReuseInformation"]["ReusedPreviousResult"] is False
    assert first["Statistics"]["DataScannedInBytes"] > 0
    again = run(athena, sql, wg, db, ResultReuseConfiguration=reuse)
    assert again["QueryExecutionId"] != first["QueryExecutionId"]
    assert again["Status"]["State"] == "SUCCEEDED"
    assert again["Statistics"]["ResultReuseInformation"]["ReusedPreviousResult"] is True
    assert again["Statistics"]["DataScannedInBytes"] == 0
    assert again["ResultReuseConfiguration"] == reuse
    assert rows_of(athena, again["QueryExecutionId"]) == rows_of(athena, first["QueryExecutionId"])
    # not asked for, another database, a disabled configuration: the query runs
    for kw in ({}, {"ResultReuseConfiguration": {
            "ResultReuseByAgeConfiguration": {"Enabled": False}}}):
        qe = run(athena, sql, wg, db, **kw)
        assert qe["Statistics"]["ResultReuseInformation"]["ReusedPreviousResult"] is False
        assert qe["Statistics"]["DataScannedInBytes"] > 0
    qe = run(athena, sql.replace("items", f"{db}.items"), wg, "default",
             ResultReuseConfiguration=reuse)
    assert qe["Statistics"]["ResultReuseInformation"]["ReusedPreviousResult"] is False
    # in another workgroup there is nothing to reuse
    qe = run(athena, sql, env["wg"], db, ResultReuseConfiguration=reuse)
    assert qe["Statistics"]["ResultReuseInformation"]["ReusedPreviousResult"] is False
    code, _ = error_of(env["raw"].start_query_execution, QueryString=sql, WorkGroup=wg,
                       ResultReuseConfiguration={"ResultReuseByAgeConfiguration": {
                           "Enabled": True, "MaxAgeInMinutes": 10081}})
    assert code == "InvalidRequestException"


def test_result_reuse_needs_the_previous_result_object(env):
    athena, s3, wg, db = env["athena"], env["s3"], new_wg(env), env["db"]
    reuse = {"ResultReuseByAgeConfiguration": {"Enabled": True}}
    sql = "SELECT max(id) FROM items"
    first = run(athena, sql, wg, db, ResultReuseConfiguration=reuse)
    key = first["ResultConfiguration"]["OutputLocation"].split("/", 3)[3]
    s3.delete_object(Bucket=env["bucket"], Key=key)
    qe = run(athena, sql, wg, db, ResultReuseConfiguration=reuse)
    assert qe["Statistics"]["ResultReuseInformation"]["ReusedPreviousResult"] is False
    assert rows_of(athena, qe["QueryExecutionId"])[1] == [str(N_ROWS - 1)]
    # the new run's result is the one reused next
    qe2 = run(athena, sql, wg, db, ResultReuseConfiguration=reuse)
    assert qe2["Statistics"]["ResultReuseInformation"]["ReusedPreviousResult"] is True
    assert qe2["ResultConfiguration"] == qe["ResultConfiguration"]


def test_result_reuse_through_execute(env):
    athena, wg, db = env["athena"], new_wg(env), env["db"]
    athena.create_prepared_statement(StatementName="cnt", WorkGroup=wg,
                                     QueryStatement="SELECT count(*) FROM items WHERE grp = ?")
    reuse = {"ResultReuseByAgeConfiguration": {"Enabled": True}}

    def reused(sql, **kw):
        qe = run(athena, sql, wg, db, ResultReuseConfiguration=reuse, **kw)
        assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
        return qe["Statistics"]["ResultReuseInformation"]["ReusedPreviousResult"]

    assert reused("EXECUTE cnt USING 1") is False
    assert reused("EXECUTE cnt USING 1") is True
    assert reused("EXECUTE cnt USING 2") is False
    # the query string must match exactly, parameters included
    assert reused("EXECUTE cnt", ExecutionParameters=["1"]) is False
    assert reused("EXECUTE cnt", ExecutionParameters=["1"]) is True
    assert reused("EXECUTE cnt", ExecutionParameters=["2"]) is False
    # a statement changed since runs anew
    athena.update_prepared_statement(StatementName="cnt", WorkGroup=wg,
                                     QueryStatement="SELECT count(*) FROM items WHERE id = ?")
    assert reused("EXECUTE cnt USING 1") is False


def test_result_reuse_off_when_the_result_location_is_overridden(env):
    athena, wg, db = env["athena"], new_wg(env), env["db"]
    reuse = {"ResultReuseByAgeConfiguration": {"Enabled": True}}
    own = {"OutputLocation": f"s3://{env['bucket']}/own/"}
    for _ in range(2):
        qe = run(athena, "SELECT count(*) FROM items", wg, db, ResultReuseConfiguration=reuse,
                 ResultConfiguration=own)
        assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
        assert qe["Statistics"]["ResultReuseInformation"]["ReusedPreviousResult"] is False


def test_client_request_token_mismatch(env):
    athena, wg, db = env["athena"], env["wg"], env["db"]
    token = uuid.uuid4().hex + uuid.uuid4().hex
    a = start(athena, "SELECT 1", wg, db, ClientRequestToken=token)
    assert start(athena, "SELECT 1", wg, db, ClientRequestToken=token) == a
    code, msg = error_of(athena.start_query_execution, QueryString="SELECT 2", WorkGroup=wg,
                         QueryExecutionContext={"Database": db}, ClientRequestToken=token)
    assert (code, msg) == ("InvalidRequestException", "Idempotent parameters do not match")
    code, _ = error_of(athena.start_query_execution, QueryString="SELECT 1", WorkGroup=wg,
                       QueryExecutionContext={"Database": "default"}, ClientRequestToken=token)
    assert code == "InvalidRequestException"
    t2 = uuid.uuid4().hex + uuid.uuid4().hex
    start(athena, "SELECT ?", wg, db, ClientRequestToken=t2, ExecutionParameters=["1"])
    code, _ = error_of(athena.start_query_execution, QueryString="SELECT ?", WorkGroup=wg,
                       QueryExecutionContext={"Database": db}, ClientRequestToken=t2,
                       ExecutionParameters=["2"])
    assert code == "InvalidRequestException"
    wait_done(athena, a)


# ---- the AWS CLI ----

def test_cli_named_query_and_prepared_statement(env):
    sluice, wg, db = env["sluice"], new_wg(env), env["db"]
    made = sluice.aws("athena", "create-named-query", "--name", "cli", "--database", db,
                      "--query-string", "SELECT 1", "--work-group", wg)
    got = sluice.aws("athena", "get-named-query", "--named-query-id", made["NamedQueryId"])
    assert got["NamedQuery"]["WorkGroup"] == wg
    listed = sluice.aws("athena", "list-named-queries", "--work-group", wg)
    assert listed["NamedQueryIds"] == [made["NamedQueryId"]]
    sluice.aws("athena", "create-prepared-statement", "--statement-name", "cli_ps",
               "--work-group", wg, "--query-statement", "SELECT count(*) FROM items WHERE id < ?")
    started = sluice.aws("athena", "start-query-execution", "--work-group", wg,
                         "--query-string", "EXECUTE cli_ps USING 10",
                         "--query-execution-context", f"Database={db}")
    qe = wait_done(env["athena"], started["QueryExecutionId"])
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    res = sluice.aws("athena", "get-query-results", "--query-execution-id",
                     started["QueryExecutionId"])
    assert res["ResultSet"]["Rows"][1]["Data"][0]["VarCharValue"] == "10"
    stats = sluice.aws("athena", "get-query-runtime-statistics", "--query-execution-id",
                       started["QueryExecutionId"])
    assert stats["QueryRuntimeStatistics"]["Rows"]["OutputRows"] == 1


def test_cli_tags(env):
    sluice = env["sluice"]
    wg = new_wg(env)
    sluice.aws("athena", "tag-resource", "--resource-arn", arn_of(wg), "--tags",
               "Key=owner,Value=cli")
    out = sluice.aws("athena", "list-tags-for-resource", "--resource-arn", arn_of(wg))
    assert out["Tags"] == [{"Key": "owner", "Value": "cli"}]
