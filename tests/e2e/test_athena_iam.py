"""Athena acts as its caller: a query reads the catalog (glue:GetTable, glue:GetDatabase,
glue:GetPartitions) and the lake (s3:ListBucket, s3:GetObject) and writes its result
(s3:PutObject) with the permissions of the user who started it, bucket policies counted;
a denial ends the query FAILED with Athena's message. Root is never checked."""
import json
import time

import boto3
import pytest
from botocore.config import Config

LAZY_SERDE = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
N_FILES = 3


def client_as(sluice, service, key, secret):
    cfg = Config(retries={"total_max_attempts": 1})
    return boto3.client(service, endpoint_url=sluice.endpoint, region_name=sluice.region,
                        aws_access_key_id=key, aws_secret_access_key=secret, config=cfg)


def run(athena, sql, db, output, timeout=90):
    qid = athena.start_query_execution(
        QueryString=sql, QueryExecutionContext={"Database": db},
        ResultConfiguration={"OutputLocation": output})["QueryExecutionId"]
    deadline = time.time() + timeout
    while True:
        qe = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
        if qe["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return qe
        assert time.time() < deadline, qe
        time.sleep(0.1)


@pytest.fixture
def lake(sluice, unique):
    """A bucket with a CSV table of N_FILES objects (one row each) under data/t/, a plain
    and a partitioned table over it in a Glue database, results going to results/."""
    s3, glue = sluice.client("s3"), sluice.client("glue")
    bucket, db = f"athiam-{unique}", f"athiam_{unique}"
    s3.create_bucket(Bucket=bucket)
    for i in range(N_FILES):
        s3.put_object(Bucket=bucket, Key=f"data/t/part-{i}.csv", Body=f"{i},name-{i}\n".encode())
        s3.put_object(Bucket=bucket, Key=f"data/p/day=d{i}/f.csv",
                      Body=f"{i},name-{i}\n".encode())
    glue.create_database(DatabaseInput={"Name": db})
    cols = [{"Name": "id", "Type": "int"}, {"Name": "name", "Type": "string"}]

    def table(name, loc, keys=()):
        glue.create_table(DatabaseName=db, TableInput={
            "Name": name, "TableType": "EXTERNAL_TABLE",
            "PartitionKeys": [{"Name": k, "Type": "string"} for k in keys],
            "StorageDescriptor": {
                "Columns": cols, "Location": loc,
                "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
                "OutputFormat":
                    "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                "SerdeInfo": {"SerializationLibrary": LAZY_SERDE,
                              "Parameters": {"field.delim": ","}}}})

    table("t", f"s3://{bucket}/data/t/")
    table("p", f"s3://{bucket}/data/p/", keys=["day"])
    for i in range(N_FILES):
        sd = glue.get_table(DatabaseName=db, Name="p")["Table"]["StorageDescriptor"]
        sd["Location"] = f"s3://{bucket}/data/p/day=d{i}/"
        glue.create_partition(DatabaseName=db, TableName="p",
                              PartitionInput={"Values": [f"d{i}"], "StorageDescriptor": sd})
    return {"bucket": bucket, "db": db, "output": f"s3://{bucket}/results/",
            "s3": s3, "glue": glue}


def full_policy(bucket, glue_actions=("glue:GetDatabase", "glue:GetTable",
                                      "glue:GetPartitions"),
                data_read=True, results_write=True):
    st = [{"Effect": "Allow", "Action": "athena:*", "Resource": "*"},
          {"Effect": "Allow", "Action": list(glue_actions), "Resource": "*"},
          {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
           "Resource": f"arn:aws:s3:::{bucket}"},
          {"Effect": "Allow", "Action": "s3:GetObject",
           "Resource": f"arn:aws:s3:::{bucket}/results/*"}]
    if data_read:
        st.append({"Effect": "Allow", "Action": "s3:GetObject",
                   "Resource": f"arn:aws:s3:::{bucket}/data/*"})
    if results_write:
        st.append({"Effect": "Allow", "Action": "s3:PutObject",
                   "Resource": f"arn:aws:s3:::{bucket}/results/*"})
    return {"Version": "2012-10-17", "Statement": st}


def athena_user(sluice, unique, policy, suffix=""):
    iam = sluice.client("iam")
    name = f"analyst-{unique}{suffix}"
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="athena", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    arn = iam.get_user(UserName=name)["User"]["Arn"]
    return client_as(sluice, "athena", key["AccessKeyId"], key["SecretAccessKey"]), arn


def rows_of(athena, qid):
    rows = athena.get_query_results(QueryExecutionId=qid)["ResultSet"]["Rows"]
    return sorted(r["Data"][0]["VarCharValue"] for r in rows[1:])


def test_allowed_user_reads_the_table_and_its_partitions(sluice, unique, lake):
    athena, _ = athena_user(sluice, unique, full_policy(lake["bucket"]))
    qe = run(athena, "SELECT id FROM t", lake["db"], lake["output"])
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    assert rows_of(athena, qe["QueryExecutionId"]) == [str(i) for i in range(N_FILES)]
    qe = run(athena, "SELECT id, day FROM p WHERE day = 'd1'", lake["db"], lake["output"])
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    assert rows_of(athena, qe["QueryExecutionId"]) == ["1"]


def test_no_get_object_on_the_data_fails_the_query(sluice, unique, lake):
    athena, _ = athena_user(sluice, unique, full_policy(lake["bucket"], data_read=False))
    qe = run(athena, "SELECT count(*) FROM t", lake["db"], lake["output"])
    st = qe["Status"]
    assert st["State"] == "FAILED", st
    assert st["StateChangeReason"].startswith(
        f"Permission denied on S3 path: s3://{lake['bucket']}/data/t/part-"), st
    assert st["AthenaError"]["ErrorCategory"] == 2
    assert st["AthenaError"]["ErrorMessage"] == st["StateChangeReason"]
    # nothing was written for the failed query
    keys = [o["Key"] for o in lake["s3"].list_objects_v2(
        Bucket=lake["bucket"], Prefix="results/").get("Contents", [])]
    assert not any(k.startswith(f"results/{qe['QueryExecutionId']}") for k in keys)


def test_no_put_object_on_the_output_fails_the_query(sluice, unique, lake):
    athena, _ = athena_user(sluice, unique, full_policy(lake["bucket"], results_write=False))
    qe = run(athena, "SELECT id FROM t", lake["db"], lake["output"])
    st = qe["Status"]
    assert st["State"] == "FAILED", st
    out = f"{lake['output']}{qe['QueryExecutionId']}.csv"
    assert st["StateChangeReason"] == (
        f"Access denied when writing output to url: {out} . Please ensure you are allowed to "
        "access the S3 bucket. If you are encrypting query results with KMS key, please "
        "ensure you are allowed to access your KMS key"), st
    assert st["AthenaError"]["ErrorCategory"] == 2
    with pytest.raises(Exception):
        lake["s3"].head_object(Bucket=lake["bucket"], Key=out.split("/", 3)[3])


def test_no_glue_get_table_fails_the_query(sluice, unique, lake):
    athena, arn = athena_user(sluice, unique, full_policy(
        lake["bucket"], glue_actions=("glue:GetDatabase", "glue:GetPartitions")))
    qe = run(athena, "SELECT id FROM t", lake["db"], lake["output"])
    st = qe["Status"]
    assert st["State"] == "FAILED", st
    catalog = f"arn:aws:glue:{sluice.region}:{sluice.account_id}:catalog"
    assert st["StateChangeReason"] == (
        f"Insufficient permissions to execute the query. User: {arn} is not authorized to "
        f"perform: glue:GetTable on resource: {catalog} because no identity-based policy "
        "allows the glue:GetTable action"), st
    assert st["AthenaError"]["ErrorCategory"] == 2


def test_no_glue_get_partitions_fails_a_partitioned_query(sluice, unique, lake):
    athena, _ = athena_user(sluice, unique, full_policy(
        lake["bucket"], glue_actions=("glue:GetDatabase", "glue:GetTable")))
    qe = run(athena, "SELECT id FROM t", lake["db"], lake["output"])
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    qe = run(athena, "SELECT id FROM p", lake["db"], lake["output"])
    assert qe["Status"]["State"] == "FAILED", qe["Status"]
    assert "glue:GetPartitions" in qe["Status"]["StateChangeReason"]


def test_bucket_policy_deny_on_the_data_fails_the_query_and_root_is_unaffected(
        sluice, unique, lake):
    athena, arn = athena_user(sluice, unique, full_policy(lake["bucket"]))
    qe = run(athena, "SELECT id FROM t", lake["db"], lake["output"])
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    lake["s3"].put_bucket_policy(Bucket=lake["bucket"], Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": {"AWS": arn}, "Action": "s3:GetObject",
                       "Resource": f"arn:aws:s3:::{lake['bucket']}/data/*"}]}))
    qe = run(athena, "SELECT id FROM t", lake["db"], lake["output"])
    st = qe["Status"]
    assert st["State"] == "FAILED", st
    assert st["StateChangeReason"].startswith(
        f"Permission denied on S3 path: s3://{lake['bucket']}/data/t/part-"), st
    # root reads the same table, past the policy that denies the user
    root = sluice.client("athena")
    qe = run(root, "SELECT id FROM t", lake["db"], lake["output"])
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    assert rows_of(root, qe["QueryExecutionId"]) == [str(i) for i in range(N_FILES)]


def test_root_is_not_checked(sluice, lake):
    root = sluice.client("athena")
    qe = run(root, "SELECT id, day FROM p", lake["db"], lake["output"])
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    assert rows_of(root, qe["QueryExecutionId"]) == [str(i) for i in range(N_FILES)]


def test_ctas_writes_its_table_as_the_caller(sluice, unique, lake):
    bucket = lake["bucket"]
    write = {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"],
             "Resource": f"arn:aws:s3:::{bucket}/ctas/*"}
    # no glue:CreateTable: refused before anything is written
    policy = full_policy(bucket)
    policy["Statement"].append(write)
    athena, arn = athena_user(sluice, unique, policy, "a")
    sql = f"CREATE TABLE {{}} WITH (external_location = 's3://{bucket}/ctas/{{}}/') AS " \
          "SELECT id FROM t"
    qe = run(athena, sql.format("c1", "c1"), lake["db"], lake["output"])
    st = qe["Status"]
    assert st["State"] == "FAILED", st
    assert st["StateChangeReason"].startswith(
        f"Insufficient permissions to execute the query. User: {arn} is not authorized to "
        "perform: glue:CreateTable on resource: "), st
    assert "Contents" not in lake["s3"].list_objects_v2(Bucket=bucket, Prefix="ctas/c1/")
    # glue:CreateTable but no s3:PutObject on the target location
    athena, _ = athena_user(sluice, unique, full_policy(bucket, glue_actions=(
        "glue:GetDatabase", "glue:GetTable", "glue:GetPartitions", "glue:CreateTable")), "b")
    qe = run(athena, sql.format("c2", "c2"), lake["db"], lake["output"])
    st = qe["Status"]
    assert st["State"] == "FAILED", st
    assert st["StateChangeReason"].startswith(
        f"Permission denied on S3 path: s3://{bucket}/ctas/c2/"), st
    # both: the table is created and reads back
    policy = full_policy(bucket, glue_actions=(
        "glue:GetDatabase", "glue:GetTable", "glue:GetPartitions", "glue:CreateTable"))
    policy["Statement"].append(write)
    athena, _ = athena_user(sluice, unique, policy, "c")
    qe = run(athena, sql.format("c3", "c3"), lake["db"], lake["output"])
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    qe = run(athena, "SELECT id FROM c3", lake["db"], lake["output"])
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    assert rows_of(athena, qe["QueryExecutionId"]) == [str(i) for i in range(N_FILES)]


def test_a_reused_result_does_not_skip_the_callers_checks(sluice, unique, lake):
    root = sluice.client("athena")
    reuse = {"ResultReuseByAgeConfiguration": {"Enabled": True, "MaxAgeInMinutes": 60}}
    sql = "SELECT id FROM t"
    qid = root.start_query_execution(
        QueryString=sql, QueryExecutionContext={"Database": lake["db"]}, WorkGroup="primary",
        ResultConfiguration={"OutputLocation": lake["output"]},
        ResultReuseConfiguration=reuse)["QueryExecutionId"]
    deadline = time.time() + 90
    while root.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"][
            "State"] not in ("SUCCEEDED", "FAILED"):
        assert time.time() < deadline
        time.sleep(0.1)
    athena, _ = athena_user(sluice, unique, full_policy(lake["bucket"], data_read=False))
    qid = athena.start_query_execution(
        QueryString=sql, QueryExecutionContext={"Database": lake["db"]},
        ResultConfiguration={"OutputLocation": lake["output"]},
        ResultReuseConfiguration=reuse)["QueryExecutionId"]
    while True:
        qe = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
        if qe["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        assert time.time() < deadline
        time.sleep(0.1)
    assert qe["Status"]["State"] == "FAILED", qe["Status"]
    assert qe["Status"]["StateChangeReason"].startswith("Permission denied on S3 path: ")


def test_an_assumed_role_session_queries_with_its_role_and_session_policy(
        sluice, unique, lake):
    iam = sluice.client("iam")
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{sluice.account_id}:root"},
         "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName=f"analyst-role-{unique}",
                           AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="athena",
                        PolicyDocument=json.dumps(full_policy(lake["bucket"])))
    iam.create_user(UserName=f"assumer-{unique}")
    key = iam.create_access_key(UserName=f"assumer-{unique}")["AccessKey"]
    sts = client_as(sluice, "sts", key["AccessKeyId"], key["SecretAccessKey"])

    def session_athena(name, policy=None):
        kw = {"Policy": json.dumps(policy)} if policy else {}
        c = sts.assume_role(RoleArn=role["Arn"], RoleSessionName=name, **kw)["Credentials"]
        return boto3.client("athena", endpoint_url=sluice.endpoint, region_name=sluice.region,
                            aws_access_key_id=c["AccessKeyId"],
                            aws_secret_access_key=c["SecretAccessKey"],
                            aws_session_token=c["SessionToken"],
                            config=Config(retries={"total_max_attempts": 1}))

    athena = session_athena("full")
    qe = run(athena, "SELECT id FROM t", lake["db"], lake["output"])
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    # the session policy takes the data away from this session only
    narrowed = session_athena("narrow", full_policy(lake["bucket"], data_read=False))
    qe = run(narrowed, "SELECT id FROM t", lake["db"], lake["output"])
    assert qe["Status"]["State"] == "FAILED", qe["Status"]
    assert qe["Status"]["StateChangeReason"].startswith("Permission denied on S3 path: ")
    qe = run(athena, "SELECT id FROM t", lake["db"], lake["output"])
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]


def test_glue_allowed_only_through_athena(sluice, unique, lake):
    policy = full_policy(lake["bucket"], glue_actions=())
    policy["Statement"][1] = {
        "Effect": "Allow", "Action": ["glue:GetTable", "glue:GetDatabase"], "Resource": "*",
        "Condition": {"ForAnyValue:StringEquals": {"aws:CalledVia": "athena.amazonaws.com"}}}
    iam = sluice.client("iam")
    name = f"via-{unique}"
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    athena = client_as(sluice, "athena", key["AccessKeyId"], key["SecretAccessKey"])
    glue = client_as(sluice, "glue", key["AccessKeyId"], key["SecretAccessKey"])
    qe = run(athena, "SELECT id FROM t", lake["db"], lake["output"])
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    with pytest.raises(Exception) as e:
        glue.get_table(DatabaseName=lake["db"], Name="t")
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"


def test_ddl_runs_its_glue_call_and_writes_its_result_as_the_caller(sluice, unique, lake):
    bucket, db = lake["bucket"], lake["db"]
    create = (f"CREATE EXTERNAL TABLE ddl_t (id int) ROW FORMAT DELIMITED FIELDS TERMINATED "
              f"BY ',' LOCATION 's3://{bucket}/data/t/'")
    # reads only: DESCRIBE works, CREATE and DROP are refused and change nothing
    athena, arn = athena_user(sluice, unique, full_policy(bucket), "r")
    qe = run(athena, "DESCRIBE t", db, lake["output"])
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    qe = run(athena, create, db, lake["output"])
    st = qe["Status"]
    assert st["State"] == "FAILED", st
    assert st["StateChangeReason"].startswith(
        f"Insufficient permissions to execute the query. User: {arn} is not authorized to "
        "perform: glue:CreateTable on resource: "), st
    with pytest.raises(Exception):
        lake["glue"].get_table(DatabaseName=db, Name="ddl_t")
    qe = run(athena, "DROP TABLE t", db, lake["output"])
    assert qe["Status"]["State"] == "FAILED", qe["Status"]
    assert "glue:DeleteTable" in qe["Status"]["StateChangeReason"]
    assert lake["glue"].get_table(DatabaseName=db, Name="t")["Table"]["Name"] == "t"
    # no s3:PutObject on the output: refused before the table is created
    athena, _ = athena_user(sluice, unique, full_policy(bucket, glue_actions=(
        "glue:GetDatabase", "glue:GetTable", "glue:CreateTable"), results_write=False), "w")
    qe = run(athena, create, db, lake["output"])
    st = qe["Status"]
    assert st["State"] == "FAILED", st
    assert st["StateChangeReason"].startswith("Access denied when writing output to url: "), st
    with pytest.raises(Exception):
        lake["glue"].get_table(DatabaseName=db, Name="ddl_t")
    # both: created
    athena, _ = athena_user(sluice, unique, full_policy(bucket, glue_actions=(
        "glue:GetDatabase", "glue:GetTable", "glue:CreateTable")), "c")
    qe = run(athena, create, db, lake["output"])
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    assert lake["glue"].get_table(DatabaseName=db, Name="ddl_t")["Table"]["Name"] == "ddl_t"


def test_explain_and_create_view_read_the_catalog_as_the_caller(sluice, unique, lake):
    athena, arn = athena_user(sluice, unique, full_policy(
        lake["bucket"], glue_actions=("glue:GetDatabase", "glue:CreateTable")))
    for sql in ("EXPLAIN SELECT id FROM t", "CREATE VIEW v AS SELECT id FROM t"):
        qe = run(athena, sql, lake["db"], lake["output"])
        st = qe["Status"]
        assert st["State"] == "FAILED", (sql, st)
        assert st["StateChangeReason"].startswith(
            f"Insufficient permissions to execute the query. User: {arn} is not authorized "
            "to perform: glue:GetTable on resource: "), (sql, st)
    qe = run(sluice.client("athena"), "EXPLAIN SELECT id FROM t", lake["db"], lake["output"])
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]


def test_insert_into_writes_the_tables_files_as_the_caller(sluice, unique, lake):
    bucket = lake["bucket"]
    athena, _ = athena_user(sluice, unique, full_policy(bucket), "r")
    qe = run(athena, "INSERT INTO t SELECT 9, 'nine'", lake["db"], lake["output"])
    st = qe["Status"]
    assert st["State"] == "FAILED", st
    assert st["StateChangeReason"].startswith(
        f"Permission denied on S3 path: s3://{bucket}/data/t/"), st
    keys = [o["Key"] for o in lake["s3"].list_objects_v2(Bucket=bucket, Prefix="data/t/")[
        "Contents"]]
    assert len(keys) == N_FILES
    policy = full_policy(bucket)
    policy["Statement"].append({"Effect": "Allow", "Action": "s3:PutObject",
                                "Resource": f"arn:aws:s3:::{bucket}/data/t/*"})
    athena, _ = athena_user(sluice, unique, policy, "w")
    qe = run(athena, "INSERT INTO t SELECT 9, 'nine'", lake["db"], lake["output"])
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    keys = [o["Key"] for o in lake["s3"].list_objects_v2(Bucket=bucket, Prefix="data/t/")[
        "Contents"]]
    assert len(keys) == N_FILES + 1
