"""S3 storage classes end to end with boto3 and the AWS CLI: the class a write names
(PutObject, CopyObject, CreateMultipartUpload, POST Object) shown by HEAD, GET, the
listings and GetObjectAttributes; archived objects (GLACIER, DEEP_ARCHIVE) refused to
GetObject and CopyObject until RestoreObject makes a copy readable, the restore completing
and lapsing on the lifecycle clock (serve --test-clock: POST /_sluice/clock/advance moves
it); Athena skipping archived objects; CompleteMultipartUpload's x-amz-mp-object-size."""
import datetime
import json
import os
import tempfile
import time
import xml.etree.ElementTree as ET

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from s3_clock import DAY, advance, clocked_server


@pytest.fixture(scope="module")
def server():
    with clocked_server() as s:
        yield s


@pytest.fixture(scope="module")
def s3(server):
    return server.client("s3")


@pytest.fixture
def bucket(s3, unique):
    name = f"sc-{unique}"
    s3.create_bucket(Bucket=name)
    return name


def error_of(e):
    return e.value.response["Error"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def status(resp):
    return resp["ResponseMetadata"]["HTTPStatusCode"]


# ---- the class a write names ----

def test_put_object_class_shown_everywhere(s3, bucket):
    s3.put_object(Bucket=bucket, Key="ia", Body=b"infrequent", StorageClass="STANDARD_IA")
    s3.put_object(Bucket=bucket, Key="std", Body=b"standard", StorageClass="STANDARD")
    s3.put_object(Bucket=bucket, Key="plain", Body=b"plain")
    head = s3.head_object(Bucket=bucket, Key="ia")
    assert head["StorageClass"] == "STANDARD_IA"
    got = s3.get_object(Bucket=bucket, Key="ia")
    assert got["StorageClass"] == "STANDARD_IA" and got["Body"].read() == b"infrequent"
    # S3 names no class for STANDARD objects
    assert "StorageClass" not in s3.head_object(Bucket=bucket, Key="std")
    assert "StorageClass" not in s3.head_object(Bucket=bucket, Key="plain")
    want = {"ia": "STANDARD_IA", "plain": "STANDARD", "std": "STANDARD"}
    v2 = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert {o["Key"]: o["StorageClass"] for o in v2} == want
    v1 = s3.list_objects(Bucket=bucket)["Contents"]
    assert {o["Key"]: o["StorageClass"] for o in v1} == want
    vers = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert {o["Key"]: o["StorageClass"] for o in vers} == want
    attrs = s3.get_object_attributes(Bucket=bucket, Key="ia", ObjectAttributes=["StorageClass"])
    assert attrs["StorageClass"] == "STANDARD_IA"
    attrs = s3.get_object_attributes(Bucket=bucket, Key="plain",
                                     ObjectAttributes=["StorageClass"])
    assert attrs["StorageClass"] == "STANDARD"


@pytest.mark.parametrize("cls", ["REDUCED_REDUNDANCY", "ONEZONE_IA", "INTELLIGENT_TIERING",
                                 "GLACIER", "DEEP_ARCHIVE", "GLACIER_IR"])
def test_every_general_purpose_class_is_kept(s3, bucket, cls):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", StorageClass=cls)
    assert s3.head_object(Bucket=bucket, Key="k")["StorageClass"] == cls


@pytest.mark.parametrize("cls", ["OUTPOSTS", "EXPRESS_ONEZONE", "SNOW", "standard", "COLD"])
def test_invalid_storage_class_refused(s3, bucket, cls):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", StorageClass=cls)
    err, code = error_of(e)
    assert (err["Code"], code) == ("InvalidStorageClass", 400)
    assert err["Message"] == "The storage class you specified is not valid"
    with pytest.raises(ClientError) as e:
        s3.create_multipart_upload(Bucket=bucket, Key="k", StorageClass=cls)
    assert error_of(e)[0]["Code"] == "InvalidStorageClass"
    s3.put_object(Bucket=bucket, Key="src", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="k", CopySource={"Bucket": bucket, "Key": "src"},
                       StorageClass=cls)
    assert error_of(e)[0]["Code"] == "InvalidStorageClass"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")


def test_copy_onto_itself_changes_class(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"data", Metadata={"a": "1"})
    s3.copy_object(Bucket=bucket, Key="k", CopySource={"Bucket": bucket, "Key": "k"},
                   StorageClass="GLACIER_IR")
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head["StorageClass"] == "GLACIER_IR"
    assert head["Metadata"] == {"a": "1"}  # COPY keeps the metadata
    # GLACIER_IR is read at once
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"data"
    # a copy without a class starts in STANDARD, as S3's do
    s3.copy_object(Bucket=bucket, Key="other", CopySource={"Bucket": bucket, "Key": "k"})
    assert "StorageClass" not in s3.head_object(Bucket=bucket, Key="other")
    s3.copy_object(Bucket=bucket, Key="k", CopySource={"Bucket": bucket, "Key": "k"},
                   StorageClass="STANDARD")
    assert "StorageClass" not in s3.head_object(Bucket=bucket, Key="k")


def with_header(s3, operation, name, value):
    """Sends name: value with the client's next calls of operation (older botocore has no
    MpuObjectSize or DeleteObject IfMatch parameter); replaces any set before."""
    def add(request, **_):
        request.headers[name] = value
    event = f"before-sign.s3.{operation}"
    s3.meta.events.unregister(event, unique_id=f"{operation}-{name}")
    s3.meta.events.register_first(event, add, unique_id=f"{operation}-{name}")


def mpu_size_header(s3, size):
    with_header(s3, "CompleteMultipartUpload", "x-amz-mp-object-size", str(size))


def test_multipart_class_and_object_size(server, bucket):
    s3 = server.client("s3")  # a client of its own: the size hook stays on it
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", StorageClass="ONEZONE_IA")
    uid = up["UploadId"]
    ups = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["StorageClass"]) for u in ups] == [("mp", "ONEZONE_IA")]
    p1 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1,
                        Body=b"a" * (5 << 20))
    p2 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=2, Body=b"tail")
    assert s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid)["StorageClass"] == "ONEZONE_IA"
    parts = {"Parts": [{"PartNumber": 1, "ETag": p1["ETag"]},
                       {"PartNumber": 2, "ETag": p2["ETag"]}]}
    mpu_size_header(s3, (5 << 20) + 3)
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid,
                                     MultipartUpload=parts)
    err, code = error_of(e)
    assert (err["Code"], code) == ("InvalidRequest", 400)
    assert "x-amz-mp-object-size" in err["Message"]
    # the upload is untouched: completing with the right size works
    mpu_size_header(s3, (5 << 20) + 4)
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload=parts)
    head = s3.head_object(Bucket=bucket, Key="mp")
    assert head["StorageClass"] == "ONEZONE_IA" and head["ContentLength"] == (5 << 20) + 4


def test_post_object_class(s3, bucket):
    info = s3.generate_presigned_post(bucket, "posted", Fields={"x-amz-storage-class": "GLACIER"},
                                      Conditions=[{"x-amz-storage-class": "GLACIER"}])
    r = requests.post(info["url"], data=info["fields"],
                      files={"file": ("f.txt", b"form body", "text/plain")}, timeout=60)
    assert r.status_code == 204, r.text
    assert s3.head_object(Bucket=bucket, Key="posted")["StorageClass"] == "GLACIER"
    bad = s3.generate_presigned_post(bucket, "bad", Fields={"x-amz-storage-class": "SNOW"},
                                     Conditions=[{"x-amz-storage-class": "SNOW"}])
    r = requests.post(bad["url"], data=bad["fields"],
                      files={"file": ("f.txt", b"form body", "text/plain")}, timeout=60)
    assert r.status_code == 400 and "<Code>InvalidStorageClass</Code>" in r.text, r.text


# ---- archived objects and restores ----

def test_archived_object_refused_until_restored(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="cold", Body=b"frozen bytes", StorageClass="GLACIER")
    head = s3.head_object(Bucket=bucket, Key="cold")  # HEAD works on archived objects
    assert head["StorageClass"] == "GLACIER" and "Restore" not in head
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="cold")
    err, code = error_of(e)
    assert (err["Code"], code) == ("InvalidObjectState", 403)
    assert err["Message"] == "The operation is not valid for the object's storage class"
    assert err["StorageClass"] == "GLACIER"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="warm", CopySource={"Bucket": bucket, "Key": "cold"})
    err, code = error_of(e)
    assert (err["Code"], code) == ("InvalidObjectState", 403)
    # changing the class by copying onto itself needs the bytes too
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="cold", CopySource={"Bucket": bucket, "Key": "cold"},
                       StorageClass="STANDARD")
    assert error_of(e)[0]["Code"] == "InvalidObjectState"

    r = s3.restore_object(Bucket=bucket, Key="cold", RestoreRequest={
        "Days": 2, "GlacierJobParameters": {"Tier": "Expedited"}})
    assert status(r) == 202
    assert s3.head_object(Bucket=bucket, Key="cold")["Restore"] == 'ongoing-request="true"'
    with pytest.raises(ClientError) as e:
        s3.restore_object(Bucket=bucket, Key="cold", RestoreRequest={"Days": 2})
    err, code = error_of(e)
    assert (err["Code"], code) == ("RestoreAlreadyInProgress", 409)
    with pytest.raises(ClientError) as e:  # still archived while the restore runs
        s3.get_object(Bucket=bucket, Key="cold")
    assert error_of(e)[0]["Code"] == "InvalidObjectState"

    advance(server, 6 * 60)  # Expedited: within minutes
    head = s3.head_object(Bucket=bucket, Key="cold")
    assert head["StorageClass"] == "GLACIER"
    assert head["Restore"].startswith('ongoing-request="false", expiry-date="'), head["Restore"]
    expiry = head["Restore"].split('expiry-date="')[1].rstrip('"')
    assert expiry.endswith(" 00:00:00 GMT")  # rounded to midnight UTC, as S3 does
    got = s3.get_object(Bucket=bucket, Key="cold")
    assert got["Body"].read() == b"frozen bytes" and got["Restore"] == head["Restore"]
    s3.copy_object(Bucket=bucket, Key="warm", CopySource={"Bucket": bucket, "Key": "cold"})
    warm = s3.head_object(Bucket=bucket, Key="warm")
    assert "StorageClass" not in warm and "Restore" not in warm
    assert s3.get_object(Bucket=bucket, Key="warm")["Body"].read() == b"frozen bytes"

    # asking again once restored extends the copy: 200
    r = s3.restore_object(Bucket=bucket, Key="cold", RestoreRequest={"Days": 10})
    assert status(r) == 200
    later = s3.head_object(Bucket=bucket, Key="cold")["Restore"]
    fmt = "%a, %d %b %Y %H:%M:%S GMT"
    new_expiry = later.split('expiry-date="')[1].rstrip('"')
    assert datetime.datetime.strptime(new_expiry, fmt) > datetime.datetime.strptime(expiry, fmt)

    # the copy lapses: archived again
    advance(server, 12 * DAY)
    head = s3.head_object(Bucket=bucket, Key="cold")
    assert "Restore" not in head and head["StorageClass"] == "GLACIER"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="cold")
    assert error_of(e)[0]["Code"] == "InvalidObjectState"


def restore_status(server, method, bucket, entry):
    """{key: RestoreStatus as a dict, or None} from a listing asked for it, read from the
    XML itself (older botocore drops RestoreStatus). SigV4 presigned: the header is not
    signed."""
    v4 = server.client("s3", config=Config(signature_version="s3v4"))
    url = v4.generate_presigned_url(method, Params={"Bucket": bucket})
    r = requests.get(url, headers={"x-amz-optional-object-attributes": "RestoreStatus"},
                     timeout=60)
    assert r.status_code == 200, r.text
    ns = "{http://s3.amazonaws.com/doc/2006-03-01/}"
    out = {}
    for e in ET.fromstring(r.content).iter(ns + entry):
        st = e.find(ns + "RestoreStatus")
        out[e.find(ns + "Key").text] = None if st is None else \
            {c.tag[len(ns):]: c.text for c in st}
    return out


def test_restore_status_in_listings(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="a", Body=b"a", StorageClass="GLACIER")
    s3.put_object(Bucket=bucket, Key="b", Body=b"b", StorageClass="GLACIER")
    s3.restore_object(Bucket=bucket, Key="a", RestoreRequest={"Days": 1})
    plain = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert all("RestoreStatus" not in o for o in plain)  # only when asked for
    assert restore_status(server, "list_objects_v2", bucket, "Contents") == {
        "a": {"IsRestoreInProgress": "true"}, "b": None}
    advance(server, 6 * 3600)
    for method, entry in (("list_objects_v2", "Contents"), ("list_objects", "Contents"),
                          ("list_object_versions", "Version")):
        got = restore_status(server, method, bucket, entry)
        assert got["b"] is None
        assert got["a"]["IsRestoreInProgress"] == "false"
        assert got["a"]["RestoreExpiryDate"].endswith("T00:00:00.000Z")  # midnight UTC


def test_restore_tiers_and_refusals(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="std", Body=b"x")
    s3.put_object(Bucket=bucket, Key="ir", Body=b"x", StorageClass="GLACIER_IR")
    for key in ("std", "ir"):
        with pytest.raises(ClientError) as e:
            s3.restore_object(Bucket=bucket, Key=key, RestoreRequest={"Days": 1})
        err, code = error_of(e)
        assert (err["Code"], code) == ("InvalidObjectState", 403)
    with pytest.raises(ClientError) as e:
        s3.restore_object(Bucket=bucket, Key="missing", RestoreRequest={"Days": 1})
    assert error_of(e)[0]["Code"] == "NoSuchKey"
    s3.put_object(Bucket=bucket, Key="deep", Body=b"deep", StorageClass="DEEP_ARCHIVE")
    with pytest.raises(ClientError) as e:  # Deep Archive has no Expedited tier
        s3.restore_object(Bucket=bucket, Key="deep", RestoreRequest={
            "Days": 1, "GlacierJobParameters": {"Tier": "Expedited"}})
    assert error_of(e)[1] == 400
    with pytest.raises(ClientError) as e:
        s3.restore_object(Bucket=bucket, Key="deep", RestoreRequest={"Days": 0})
    assert error_of(e)[1] == 400
    r = s3.restore_object(Bucket=bucket, Key="deep", RestoreRequest={
        "Days": 1, "GlacierJobParameters": {"Tier": "Standard"}})
    assert status(r) == 202
    advance(server, 6 * 3600)  # Deep Archive Standard takes up to 12 hours
    assert s3.head_object(Bucket=bucket, Key="deep")["Restore"] == 'ongoing-request="true"'
    advance(server, 7 * 3600)
    assert 'ongoing-request="false"' in s3.head_object(Bucket=bucket, Key="deep")["Restore"]
    assert s3.get_object(Bucket=bucket, Key="deep")["Body"].read() == b"deep"


def test_restore_of_a_version(server, s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    old = s3.put_object(Bucket=bucket, Key="k", Body=b"old", StorageClass="GLACIER")["VersionId"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"new")
    r = s3.restore_object(Bucket=bucket, Key="k", VersionId=old,
                          RestoreRequest={"Days": 1, "GlacierJobParameters": {"Tier": "Bulk"}})
    assert status(r) == 202
    assert s3.head_object(Bucket=bucket, Key="k", VersionId=old)["Restore"] == \
        'ongoing-request="true"'
    assert "Restore" not in s3.head_object(Bucket=bucket, Key="k")
    advance(server, 13 * 3600)  # Bulk: within 12 hours
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=old)["Body"].read() == b"old"


def test_restore_with_the_cli(server, s3, bucket):
    with tempfile.NamedTemporaryFile(delete=False) as f:
        f.write(b"cli archived bytes")
    try:
        server.aws("s3", "cp", f.name, f"s3://{bucket}/cli.bin", "--storage-class",
                   "DEEP_ARCHIVE", output="text")
    finally:
        os.unlink(f.name)
    head = server.aws("s3api", "head-object", "--bucket", bucket, "--key", "cli.bin")
    assert head["StorageClass"] == "DEEP_ARCHIVE"
    listed = server.aws("s3api", "list-objects-v2", "--bucket", bucket)["Contents"]
    assert listed[0]["StorageClass"] == "DEEP_ARCHIVE"
    server.aws("s3api", "restore-object", "--bucket", bucket, "--key", "cli.bin",
               "--restore-request", '{"Days":3,"GlacierJobParameters":{"Tier":"Bulk"}}')
    head = server.aws("s3api", "head-object", "--bucket", bucket, "--key", "cli.bin")
    assert head["Restore"] == 'ongoing-request="true"'
    advance(server, 49 * 3600)  # Deep Archive Bulk: within 48 hours
    head = server.aws("s3api", "head-object", "--bucket", bucket, "--key", "cli.bin")
    assert head["Restore"].startswith('ongoing-request="false"')


def test_lifecycle_transition_archives(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="logs/a", Body=b"a" * (200 << 10))
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [{
        "ID": "freeze", "Status": "Enabled", "Filter": {"Prefix": "logs/"},
        "Transitions": [{"Days": 1, "StorageClass": "GLACIER"}]}]})
    advance(server, 3 * DAY)
    assert s3.head_object(Bucket=bucket, Key="logs/a")["StorageClass"] == "GLACIER"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="logs/a")
    assert error_of(e)[0]["Code"] == "InvalidObjectState"


# ---- conditional deletes ----

def test_conditional_delete_checked_with_the_delete(server, bucket):
    s3 = server.client("s3")  # a client of its own: the header hook stays on it
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["ETag"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"two")
    with_header(s3, "DeleteObject", "If-Match", etag)
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=bucket, Key="k")
    assert error_of(e)[0]["Code"] == "PreconditionFailed"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"
    with_header(s3, "DeleteObject", "If-Match", "*")  # any current object
    with_header(s3, "DeleteObject", "x-amz-if-match-size", "4")
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=bucket, Key="k")
    assert error_of(e)[0]["Code"] == "PreconditionFailed"
    with_header(s3, "DeleteObject", "x-amz-if-match-size", "3")
    s3.delete_object(Bucket=bucket, Key="k")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")
    with pytest.raises(ClientError) as e:  # If-Match: * with nothing there
        s3.delete_object(Bucket=bucket, Key="k")
    assert error_of(e)[0]["Code"] == "NoSuchKey"


# ---- Athena ----

def wait_query(athena, qid, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        qe = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
        if qe["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return qe
        time.sleep(0.2)
    raise AssertionError(f"query {qid} did not finish")


def count_rows(athena, wg, db, table):
    qid = athena.start_query_execution(QueryString=f"SELECT count(*) FROM {table}",
                                       WorkGroup=wg,
                                       QueryExecutionContext={"Database": db})["QueryExecutionId"]
    qe = wait_query(athena, qid)
    assert qe["Status"]["State"] == "SUCCEEDED", qe["Status"]
    rows = athena.get_query_results(QueryExecutionId=qid)["ResultSet"]["Rows"]
    return int(rows[1]["Data"][0]["VarCharValue"])


def test_athena_skips_archived_objects(server, s3, bucket, unique):
    glue, athena = server.client("glue"), server.client("athena")
    db, wg = f"sc_{unique}", f"wg-sc-{unique}"
    s3.put_object(Bucket=bucket, Key="t/hot.csv", Body=b"1,a\n2,b\n")
    s3.put_object(Bucket=bucket, Key="t/cold.csv", Body=b"3,c\n4,d\n5,e\n",
                  StorageClass="GLACIER")
    s3.put_object(Bucket=bucket, Key="t/ir.csv", Body=b"6,f\n", StorageClass="GLACIER_IR")
    glue.create_database(DatabaseInput={"Name": db})
    sd = {"Columns": [{"Name": "n", "Type": "int"}, {"Name": "s", "Type": "string"}],
          "Location": f"s3://{bucket}/t/",
          "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
          "SerdeInfo": {"SerializationLibrary":
                        "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                        "Parameters": {"field.delim": ","}}}
    glue.create_table(DatabaseName=db, TableInput={
        "Name": "plain", "TableType": "EXTERNAL_TABLE", "StorageDescriptor": sd})
    glue.create_table(DatabaseName=db, TableInput={
        "Name": "restored", "TableType": "EXTERNAL_TABLE", "StorageDescriptor": sd,
        "Parameters": {"read_restored_glacier_objects": "true"}})
    athena.create_work_group(Name=wg, Configuration={
        "ResultConfiguration": {"OutputLocation": f"s3://{bucket}/results/"}})
    # the GLACIER object is skipped, not a failure; GLACIER_IR is read
    assert count_rows(athena, wg, db, "plain") == 3
    assert count_rows(athena, wg, db, "restored") == 3
    s3.restore_object(Bucket=bucket, Key="t/cold.csv", RestoreRequest={
        "Days": 1, "GlacierJobParameters": {"Tier": "Expedited"}})
    assert count_rows(athena, wg, db, "restored") == 3  # not restored yet
    advance(server, 6 * 60)
    assert count_rows(athena, wg, db, "restored") == 6
    assert count_rows(athena, wg, db, "plain") == 3  # only tables that ask read restored ones


# ---- permissions ----

def user_client(server, unique, actions, bucket):
    iam = server.client("iam")
    user = f"restorer-{unique}"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": actions,
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return boto3.client("s3", endpoint_url=server.endpoint, region_name=server.region,
                        aws_access_key_id=key["AccessKeyId"],
                        aws_secret_access_key=key["SecretAccessKey"],
                        config=Config(retries={"total_max_attempts": 1}))


def test_restore_needs_s3_restore_object(server, s3, bucket, unique):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", StorageClass="GLACIER")
    reader = user_client(server, unique + "r", ["s3:GetObject"], bucket)
    with pytest.raises(ClientError) as e:
        reader.restore_object(Bucket=bucket, Key="k", RestoreRequest={"Days": 1})
    assert error_of(e)[0]["Code"] == "AccessDenied"
    restorer = user_client(server, unique + "w", ["s3:RestoreObject"], bucket)
    r = restorer.restore_object(Bucket=bucket, Key="k", RestoreRequest={"Days": 1})
    assert status(r) == 202
