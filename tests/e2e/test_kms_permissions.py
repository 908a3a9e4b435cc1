"""A service that uses a KMS key for its caller asks KMS as the caller: S3's SSE-KMS needs
kms:GenerateDataKey to write and kms:Decrypt to read, Kinesis stream encryption the same
for producers and consumers, Athena kms:Decrypt to read SSE-KMS tables, Firehose
kms:GenerateDataKey as its role. The key's policy and the caller's identity policies
decide together; root is never checked. Also S3's aws:kms:dsse and encryption context."""
import base64
import json
import signal
import time
import urllib.error
import urllib.request

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

LAZY_SERDE = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"


def client_as(sluice, service, key):
    cfg = Config(retries={"total_max_attempts": 1})
    return boto3.client(service, endpoint_url=sluice.endpoint, region_name=sluice.region,
                        aws_access_key_id=key["AccessKeyId"],
                        aws_secret_access_key=key["SecretAccessKey"], config=cfg)


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*", **cond):
    st = {"Effect": "Allow", "Action": action, "Resource": resource}
    if cond:
        st["Condition"] = cond
    return st


class User:
    """An IAM user whose inline policy the test sets and changes."""

    def __init__(self, sluice, name):
        self.iam = sluice.client("iam")
        self.name = name
        self.iam.create_user(UserName=name)
        self.arn = self.iam.get_user(UserName=name)["User"]["Arn"]
        self.key = self.iam.create_access_key(UserName=name)["AccessKey"]
        self.sluice = sluice

    def allow(self, *statements):
        self.iam.put_user_policy(UserName=self.name, PolicyName="p",
                                 PolicyDocument=policy(*statements))

    def client(self, service):
        return client_as(self.sluice, service, self.key)


def error(e):
    err = e.value.response["Error"]
    return err["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"], err.get("Message")


def denied_message(who, action, key_arn, why):
    return f"User: {who} is not authorized to perform: {action} on resource: {key_arn} {why}"


def no_identity(action):
    return f"because no identity-based policy allows the {action} action"


@pytest.fixture
def setup(sluice, unique):
    s3, kms = sluice.client("s3"), sluice.client("kms")
    bucket = f"kmsperm-{unique}"
    s3.create_bucket(Bucket=bucket)
    key = kms.create_key(Description="objects")["KeyMetadata"]
    user = User(sluice, f"kmsuser-{unique}")
    return {"s3": s3, "kms": kms, "bucket": bucket, "key_id": key["KeyId"],
            "key_arn": key["Arn"], "user": user}


def s3_rw(bucket):
    return allow(["s3:PutObject", "s3:GetObject", "s3:ListBucket", "s3:AbortMultipartUpload"],
                 [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"])


# ---- S3 ----

def test_put_needs_generate_data_key_and_get_needs_decrypt(setup):
    b, k, u = setup["bucket"], setup["key_arn"], setup["user"]
    u.allow(s3_rw(b))
    s3 = u.client("s3")
    kw = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": setup["key_id"]}
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=b, Key="a", Body=b"secret", **kw)
    assert error(e) == ("AccessDenied", 403, denied_message(
        u.arn, "kms:GenerateDataKey", k, no_identity("kms:GenerateDataKey")))
    # nothing was written
    assert setup["s3"].list_objects_v2(Bucket=b).get("KeyCount", 0) == 0

    u.allow(s3_rw(b), allow("kms:GenerateDataKey", k))
    r = s3.put_object(Bucket=b, Key="a", Body=b"secret", **kw)
    assert r["ServerSideEncryption"] == "aws:kms" and r["SSEKMSKeyId"] == k
    # reading decrypts: kms:Decrypt, which the user lacks; HEAD decrypts nothing
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=b, Key="a")
    assert error(e) == ("AccessDenied", 403, denied_message(
        u.arn, "kms:Decrypt", k, no_identity("kms:Decrypt")))
    h = s3.head_object(Bucket=b, Key="a")
    assert h["ServerSideEncryption"] == "aws:kms" and h["SSEKMSKeyId"] == k
    # a copy reads its source
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=b, Key="c", CopySource={"Bucket": b, "Key": "a"})
    assert error(e)[:2] == ("AccessDenied", 403) and "kms:Decrypt" in error(e)[2]

    u.allow(s3_rw(b), allow(["kms:GenerateDataKey", "kms:Decrypt"], k))
    assert s3.get_object(Bucket=b, Key="a")["Body"].read() == b"secret"
    s3.copy_object(Bucket=b, Key="c", CopySource={"Bucket": b, "Key": "a"}, **kw)
    assert s3.get_object(Bucket=b, Key="c")["Body"].read() == b"secret"
    # root is never checked
    assert setup["s3"].get_object(Bucket=b, Key="a")["Body"].read() == b"secret"


def test_bucket_default_sse_kms_is_checked_too(setup):
    b, k, u = setup["bucket"], setup["key_arn"], setup["user"]
    setup["s3"].put_bucket_encryption(Bucket=b, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
                                                "KMSMasterKeyID": setup["key_id"]}}]})
    u.allow(s3_rw(b))
    s3 = u.client("s3")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=b, Key="d", Body=b"x")
    assert error(e)[:2] == ("AccessDenied", 403)
    assert "kms:GenerateDataKey" in error(e)[2]
    u.allow(s3_rw(b), allow("kms:GenerateDataKey", k))
    assert s3.put_object(Bucket=b, Key="d", Body=b"x")["SSEKMSKeyId"] == k


def test_key_policy_denying_the_principal_wins(setup):
    b, k, u = setup["bucket"], setup["key_arn"], setup["user"]
    acct = k.split(":")[4]
    setup["kms"].put_key_policy(KeyId=setup["key_id"], PolicyName="default", Policy=policy(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Principal": {"AWS": u.arn}, "Action": "kms:GenerateDataKey",
         "Resource": "*"}))
    u.allow(s3_rw(b), allow("kms:*"))
    with pytest.raises(ClientError) as e:
        u.client("s3").put_object(Bucket=b, Key="a", Body=b"x", ServerSideEncryption="aws:kms",
                                  SSEKMSKeyId=k)
    assert error(e) == ("AccessDenied", 403, denied_message(
        u.arn, "kms:GenerateDataKey", k, "with an explicit deny in a resource-based policy"))


def test_key_policy_without_the_account_ignores_identity_policies(setup):
    b, k, u = setup["bucket"], setup["key_arn"], setup["user"]
    setup["kms"].put_key_policy(KeyId=setup["key_id"], PolicyName="default", Policy=policy(
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
         "Action": "kms:*", "Resource": "*"}), BypassPolicyLockoutSafetyCheck=True)
    u.allow(s3_rw(b), allow("kms:*"))
    with pytest.raises(ClientError) as e:
        u.client("s3").put_object(Bucket=b, Key="a", Body=b"x", ServerSideEncryption="aws:kms",
                                  SSEKMSKeyId=k)
    assert error(e) == ("AccessDenied", 403, denied_message(
        u.arn, "kms:GenerateDataKey", k, no_identity("kms:GenerateDataKey").replace(
            "identity-based", "resource-based")))


def test_aws_managed_key_is_usable_through_s3_by_every_principal(setup):
    b, u = setup["bucket"], setup["user"]
    u.allow(s3_rw(b))
    s3 = u.client("s3")
    r = s3.put_object(Bucket=b, Key="m", Body=b"managed", ServerSideEncryption="aws:kms")
    assert r["ServerSideEncryption"] == "aws:kms"
    assert s3.get_object(Bucket=b, Key="m")["Body"].read() == b"managed"
    # AWS's policy for it: through S3 only, for callers of the account
    pol = json.loads(setup["kms"].get_key_policy(KeyId=r["SSEKMSKeyId"],
                                                 PolicyName="default")["Policy"])
    cond = pol["Statement"][0]["Condition"]["StringEquals"]
    assert cond["kms:ViaService"] == f"s3.{setup['s3'].meta.region_name}.amazonaws.com"
    assert pol["Statement"][0]["Principal"] == {"AWS": "*"}


def test_multipart_upload_needs_decrypt_for_its_parts(setup):
    b, k, u = setup["bucket"], setup["key_arn"], setup["user"]
    u.allow(s3_rw(b), allow("kms:GenerateDataKey", k))
    s3 = u.client("s3")
    up = s3.create_multipart_upload(Bucket=b, Key="mp", ServerSideEncryption="aws:kms",
                                    SSEKMSKeyId=k)
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=b, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"p")
    assert error(e)[:2] == ("AccessDenied", 403) and "kms:Decrypt" in error(e)[2]
    u.allow(s3_rw(b), allow(["kms:GenerateDataKey", "kms:Decrypt"], k))
    p = s3.upload_part(Bucket=b, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"p")
    s3.complete_multipart_upload(Bucket=b, Key="mp", UploadId=up["UploadId"], MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": p["ETag"]}]})
    assert s3.get_object(Bucket=b, Key="mp")["Body"].read() == b"p"


def test_encryption_context_is_the_kms_context_and_is_echoed(setup):
    b, k, u = setup["bucket"], setup["key_arn"], setup["user"]
    # the user may make data keys only for one project's context
    u.allow(s3_rw(b), allow("kms:Decrypt", k),
            allow("kms:GenerateDataKey", k,
                  StringEquals={"kms:EncryptionContext:project": "blue"}))
    s3 = u.client("s3")
    ctx = base64.b64encode(json.dumps({"project": "blue"}).encode()).decode()
    r = s3.put_object(Bucket=b, Key="ctx", Body=b"c", ServerSideEncryption="aws:kms",
                      SSEKMSKeyId=k, SSEKMSEncryptionContext=ctx)
    assert json.loads(base64.b64decode(r["SSEKMSEncryptionContext"])) == {"project": "blue"}
    assert s3.get_object(Bucket=b, Key="ctx")["Body"].read() == b"c"
    other = base64.b64encode(json.dumps({"project": "red"}).encode()).decode()
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=b, Key="ctx2", Body=b"c", ServerSideEncryption="aws:kms",
                      SSEKMSKeyId=k, SSEKMSEncryptionContext=other)
    assert error(e)[:2] == ("AccessDenied", 403)
    # without a context of the caller's, S3's: the object's ARN (none echoed)
    u.allow(s3_rw(b), allow("kms:GenerateDataKey", k, StringEquals={
        "kms:EncryptionContext:aws:s3:arn": f"arn:aws:s3:::{b}/plain"}))
    r = s3.put_object(Bucket=b, Key="plain", Body=b"p", ServerSideEncryption="aws:kms",
                      SSEKMSKeyId=k)
    assert "SSEKMSEncryptionContext" not in r
    with pytest.raises(ClientError):
        s3.put_object(Bucket=b, Key="elsewhere", Body=b"p", ServerSideEncryption="aws:kms",
                      SSEKMSKeyId=k)
    # with a bucket key, the bucket's ARN
    u.allow(s3_rw(b), allow("kms:GenerateDataKey", k, StringEquals={
        "kms:EncryptionContext:aws:s3:arn": f"arn:aws:s3:::{b}"}))
    r = s3.put_object(Bucket=b, Key="anywhere", Body=b"p", ServerSideEncryption="aws:kms",
                      SSEKMSKeyId=k, BucketKeyEnabled=True)
    assert r["BucketKeyEnabled"] is True


def test_post_form_upload_honours_the_kms_default_as_its_signer(sluice, setup):
    s3, b, k, u = setup["s3"], setup["bucket"], setup["key_arn"], setup["user"]
    s3.put_bucket_encryption(Bucket=b, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
                                                "KMSMasterKeyID": setup["key_id"]}}]})

    def upload(client, key):
        info = client.generate_presigned_post(b, key, ExpiresIn=300)
        return requests.post(info["url"], data=info["fields"],
                             files={"file": ("f.txt", b"form", "text/plain")}, timeout=60)

    r = upload(s3, "by-root")
    assert r.status_code == 204, r.text
    h = s3.head_object(Bucket=b, Key="by-root")
    assert h["ServerSideEncryption"] == "aws:kms" and h["SSEKMSKeyId"] == k
    u.allow(s3_rw(b))
    r = upload(u.client("s3"), "by-user")
    assert r.status_code == 403 and b"kms:GenerateDataKey" in r.content, r.text
    u.allow(s3_rw(b), allow("kms:GenerateDataKey", k))
    assert upload(u.client("s3"), "by-user").status_code == 204


def test_anonymous_reader_of_a_public_sse_kms_object_is_refused(sluice, setup):
    s3, b = setup["s3"], setup["bucket"]
    s3.put_bucket_ownership_controls(
        Bucket=b, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    s3.delete_public_access_block(Bucket=b)
    s3.put_object(Bucket=b, Key="pub", Body=b"x", ACL="public-read",
                  ServerSideEncryption="aws:kms", SSEKMSKeyId=setup["key_id"])
    req = urllib.request.Request(f"{sluice.endpoint}/{b}/pub")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=60)
    body = e.value.read()
    assert e.value.code == 400 and b"<Code>InvalidArgument</Code>" in body
    assert b"require AWS Signature Version 4" in body


def test_bad_encryption_context_is_refused(setup):
    s3 = setup["s3"]
    for bad in ("not base64!", base64.b64encode(b"[1,2]").decode(),
                base64.b64encode(b'{"a": 1}').decode()):
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=setup["bucket"], Key="x", Body=b"x",
                          ServerSideEncryption="aws:kms", SSEKMSEncryptionContext=bad)
        assert error(e)[:2] == ("InvalidArgument", 400)


def test_dsse_is_accepted_and_reported(setup):
    s3, b, k = setup["s3"], setup["bucket"], setup["key_arn"]
    r = s3.put_object(Bucket=b, Key="d", Body=b"two layers", ServerSideEncryption="aws:kms:dsse",
                      SSEKMSKeyId=k)
    assert r["ServerSideEncryption"] == "aws:kms:dsse" and r["SSEKMSKeyId"] == k
    g = s3.get_object(Bucket=b, Key="d")
    assert g["ServerSideEncryption"] == "aws:kms:dsse" and g["Body"].read() == b"two layers"
    assert s3.head_object(Bucket=b, Key="d")["ServerSideEncryption"] == "aws:kms:dsse"
    s3.put_bucket_encryption(Bucket=b, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms:dsse",
                                                "KMSMasterKeyID": k}}]})
    rule = s3.get_bucket_encryption(Bucket=b)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms:dsse"
    r = s3.put_object(Bucket=b, Key="e", Body=b"x")
    assert r["ServerSideEncryption"] == "aws:kms:dsse" and r["SSEKMSKeyId"] == k


# ---- Kinesis ----

def wait_stream(kinesis, name, status="ACTIVE", deadline_s=60):
    deadline = time.time() + deadline_s
    while True:
        d = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        if d["StreamStatus"] == status:
            return d
        assert time.time() < deadline, d
        time.sleep(0.2)


def test_kinesis_producer_and_consumer_need_the_key(sluice, setup, unique):
    kin, k, u = sluice.client("kinesis"), setup["key_arn"], setup["user"]
    name = f"kmsperm-{unique}"
    kin.create_stream(StreamName=name, ShardCount=1)
    arn = wait_stream(kin, name)["StreamARN"]
    kin.start_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId=k)
    wait_stream(kin, name)
    stream_rw = allow(["kinesis:PutRecord", "kinesis:PutRecords", "kinesis:GetRecords",
                       "kinesis:GetShardIterator", "kinesis:ListShards"], arn)
    u.allow(stream_rw)
    ku = u.client("kinesis")
    with pytest.raises(ClientError) as e:
        ku.put_record(StreamName=name, PartitionKey="p", Data=b"r1")
    assert error(e) == ("KMSAccessDeniedException", 400, denied_message(
        u.arn, "kms:GenerateDataKey", k, no_identity("kms:GenerateDataKey")))
    with pytest.raises(ClientError) as e:
        ku.put_records(StreamName=name, Records=[{"PartitionKey": "p", "Data": b"r1"}])
    assert error(e)[0] == "KMSAccessDeniedException"

    # the producer's permission may name the stream's context
    u.allow(stream_rw, allow("kms:GenerateDataKey", k,
                             StringEquals={"kms:EncryptionContext:aws:kinesis:arn": arn}))
    r = ku.put_record(StreamName=name, PartitionKey="p", Data=b"r1")
    assert r["EncryptionType"] == "KMS"
    assert ku.put_records(StreamName=name, Records=[
        {"PartitionKey": "p", "Data": b"r2"}])["FailedRecordCount"] == 0
    shard = ku.list_shards(StreamName=name)["Shards"][0]["ShardId"]
    it = ku.get_shard_iterator(StreamName=name, ShardId=shard,
                               ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    with pytest.raises(ClientError) as e:
        ku.get_records(ShardIterator=it)
    assert error(e) == ("KMSAccessDeniedException", 400, denied_message(
        u.arn, "kms:Decrypt", k, no_identity("kms:Decrypt")))
    # a subscriber reads as much: SubscribeToShard is refused before its stream begins
    consumer = kin.register_stream_consumer(StreamARN=arn, ConsumerName="c")["Consumer"]
    deadline = time.time() + 60
    while kin.describe_stream_consumer(ConsumerARN=consumer["ConsumerARN"])[
            "ConsumerDescription"]["ConsumerStatus"] != "ACTIVE":
        assert time.time() < deadline
        time.sleep(0.1)
    u.allow(stream_rw, allow("kinesis:SubscribeToShard", consumer["ConsumerARN"]))
    with pytest.raises(ClientError) as e:
        ku.subscribe_to_shard(ConsumerARN=consumer["ConsumerARN"], ShardId=shard,
                              StartingPosition={"Type": "TRIM_HORIZON"})
    assert error(e)[0] == "KMSAccessDeniedException" and "kms:Decrypt" in error(e)[2]

    u.allow(stream_rw, allow(["kms:GenerateDataKey", "kms:Decrypt"], k))
    recs = ku.get_records(ShardIterator=it)["Records"]
    assert [x["Data"] for x in recs] == [b"r1", b"r2"]


def test_start_stream_encryption_needs_the_key(sluice, setup, unique):
    kin, k, u = sluice.client("kinesis"), setup["key_arn"], setup["user"]
    name = f"kmsstart-{unique}"
    kin.create_stream(StreamName=name, ShardCount=1)
    arn = wait_stream(kin, name)["StreamARN"]
    u.allow(allow("kinesis:StartStreamEncryption", arn))
    with pytest.raises(ClientError) as e:
        u.client("kinesis").start_stream_encryption(StreamName=name, EncryptionType="KMS",
                                                    KeyId=k)
    assert error(e)[0] == "KMSAccessDeniedException"
    assert wait_stream(kin, name)["EncryptionType"] == "NONE"
    u.allow(allow("kinesis:StartStreamEncryption", arn), allow("kms:GenerateDataKey", k))
    u.client("kinesis").start_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId=k)
    assert wait_stream(kin, name)["EncryptionType"] == "KMS"


# ---- Athena ----

def run_query(athena, sql, db, output, timeout=90):
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


def test_athena_reading_sse_kms_data_needs_decrypt(sluice, setup, unique):
    s3, b, k, u = setup["s3"], setup["bucket"], setup["key_arn"], setup["user"]
    s3.put_object(Bucket=b, Key="data/t/f.csv", Body=b"1,one\n2,two\n",
                  ServerSideEncryption="aws:kms", SSEKMSKeyId=k)
    glue, db = sluice.client("glue"), f"kmsperm_{unique}"
    glue.create_database(DatabaseInput={"Name": db})
    glue.create_table(DatabaseName=db, TableInput={
        "Name": "t", "TableType": "EXTERNAL_TABLE",
        "StorageDescriptor": {
            "Columns": [{"Name": "id", "Type": "int"}, {"Name": "name", "Type": "string"}],
            "Location": f"s3://{b}/data/t/",
            "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            "SerdeInfo": {"SerializationLibrary": LAZY_SERDE,
                          "Parameters": {"field.delim": ","}}}})
    base = [allow("athena:*"), allow(["glue:GetDatabase", "glue:GetTable", "glue:GetPartitions"]),
            s3_rw(b), allow("s3:GetBucketLocation", f"arn:aws:s3:::{b}")]
    u.allow(*base)
    athena = u.client("athena")
    qe = run_query(athena, "SELECT count(*) FROM t", db, f"s3://{b}/results/")
    st = qe["Status"]
    assert st["State"] == "FAILED", st
    assert st["StateChangeReason"].startswith(
        f"HIVE_CANNOT_OPEN_SPLIT: Error opening Hive split s3://{b}/data/t/f.csv"), st
    assert denied_message(u.arn, "kms:Decrypt", k, no_identity("kms:Decrypt")) in \
        st["StateChangeReason"], st
    assert st["AthenaError"]["ErrorCategory"] == 2

    u.allow(*base, allow("kms:Decrypt", k))
    qe = run_query(athena, "SELECT count(*) FROM t", db, f"s3://{b}/results/")
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    rows = athena.get_query_results(QueryExecutionId=qe["QueryExecutionId"])["ResultSet"]["Rows"]
    assert rows[1]["Data"][0]["VarCharValue"] == "2"


def test_athena_results_honour_a_kms_bucket_default(sluice, setup, unique):
    s3, b, k = setup["s3"], setup["bucket"], setup["key_arn"]
    s3.put_bucket_encryption(Bucket=b, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
                                                "KMSMasterKeyID": setup["key_id"]}}]})
    athena = sluice.client("athena")
    qid = athena.start_query_execution(
        QueryString="SELECT 1", ResultConfiguration={"OutputLocation": f"s3://{b}/res/"}
    )["QueryExecutionId"]
    deadline = time.time() + 90
    while athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"][
            "State"] not in ("SUCCEEDED", "FAILED"):
        assert time.time() < deadline
        time.sleep(0.1)
    h = s3.head_object(Bucket=b, Key=f"res/{qid}.csv")
    assert h["ServerSideEncryption"] == "aws:kms" and h["SSEKMSKeyId"] == k
    # a caller's result is encrypted with the caller's data key: kms:GenerateDataKey
    u = setup["user"]
    base = [allow("athena:*"), s3_rw(b)]
    u.allow(*base)
    out = f"s3://{b}/res/"
    qe = run_query(u.client("athena"), "SELECT 1", "default", out)
    assert qe["Status"]["State"] == "FAILED", qe["Status"]
    assert qe["Status"]["StateChangeReason"] == (
        f"Access denied when writing output to url: {out}{qe['QueryExecutionId']}.csv . Please "
        "ensure you are allowed to access the S3 bucket. If you are encrypting query results "
        "with KMS key, please ensure you are allowed to access your KMS key")
    u.allow(*base, allow("kms:GenerateDataKey", k))
    qe = run_query(u.client("athena"), "SELECT 1", "default", out)
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    h = s3.head_object(Bucket=b, Key=f"res/{qe['QueryExecutionId']}.csv")
    assert h["ServerSideEncryption"] == "aws:kms" and h["SSEKMSKeyId"] == k


# ---- Firehose ----

def wait_delivery_active(fh, name):
    deadline = time.time() + 60
    while fh.describe_delivery_stream(DeliveryStreamName=name)[
            "DeliveryStreamDescription"]["DeliveryStreamStatus"] != "ACTIVE":
        assert time.time() < deadline
        time.sleep(0.1)


def test_firehose_writes_kms_encrypted_objects_as_its_role(sluice, setup, unique):
    s3, b, k = setup["s3"], setup["bucket"], setup["key_arn"]
    iam, fh = sluice.client("iam"), sluice.client("firehose")
    s3.put_bucket_encryption(Bucket=b, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
                                                "KMSMasterKeyID": setup["key_id"]}}]})
    role_name = f"fhkms-{unique}"
    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=policy(
        {"Effect": "Allow", "Principal": {"Service": "firehose.amazonaws.com"},
         "Action": "sts:AssumeRole"}))["Role"]
    iam.put_role_policy(RoleName=role_name, PolicyName="s3", PolicyDocument=policy(
        allow(["s3:PutObject", "s3:GetObject", "s3:ListBucket"],
              [f"arn:aws:s3:::{b}", f"arn:aws:s3:::{b}/*"])))
    fh.create_delivery_stream(DeliveryStreamName=b, ExtendedS3DestinationConfiguration={
        "RoleARN": role["Arn"], "BucketARN": f"arn:aws:s3:::{b}",
        "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}})
    wait_delivery_active(fh, b)
    fh.put_record(DeliveryStreamName=b, Record={"Data": b"kms\n"})
    # the role may not use the key: the write is refused and retried, nothing lands
    deadline = time.time() + 60
    seen = False
    while time.time() < deadline and not seen:
        sluice.proc.send_signal(signal.SIGUSR1)
        with open(sluice.log_path, "rb") as f:
            seen = any(f"s3://{b}/".encode() in line and b"kms:GenerateDataKey" in line
                       for line in f)
        time.sleep(0.2)
    assert seen
    assert s3.list_objects_v2(Bucket=b).get("KeyCount", 0) == 0
    iam.put_role_policy(RoleName=role_name, PolicyName="kms",
                        PolicyDocument=policy(allow("kms:GenerateDataKey", k)))
    deadline = time.time() + 90
    while s3.list_objects_v2(Bucket=b).get("KeyCount", 0) == 0:
        assert time.time() < deadline, "never delivered once the role could use the key"
        time.sleep(0.5)
    key = s3.list_objects_v2(Bucket=b)["Contents"][0]["Key"]
    h = s3.head_object(Bucket=b, Key=key)
    assert h["ServerSideEncryption"] == "aws:kms" and h["SSEKMSKeyId"] == k
    assert s3.get_object(Bucket=b, Key=key)["Body"].read() == b"kms\n"
