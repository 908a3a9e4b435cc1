"""S3 versioning, object lock and conditional writes end to end with boto3 and the AWS CLI:
version ids on every write, reads and copies by version, delete markers, the null
version, ListObjectVersions paging, DeleteObjects with versions, retention and legal
holds, If-None-Match / If-Match on PutObject and CompleteMultipartUpload."""
import concurrent.futures
import datetime
import os

import pytest
from botocore.exceptions import ClientError


@pytest.fixture(scope="module")
def s3(sluice):
    return sluice.client("s3")


@pytest.fixture
def bucket(s3, unique):
    name = f"ver-{unique}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def versioned(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return bucket


@pytest.fixture
def locked(s3, unique):
    name = f"lock-{unique}"
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


def code_of(e):
    return e.value.response["Error"]["Code"]


def status_of(e):
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def headers_of(e):
    return e.value.response["ResponseMetadata"]["HTTPHeaders"]


def with_headers(client, event, headers):
    """A client that adds headers to one operation's requests (both client generations:
    older botocore has no IfNoneMatch/IfMatch parameters on writes)."""
    def add(request, **kw):
        for k, v in headers.items():
            request.headers[k] = v
    client.meta.events.register(f"before-sign.s3.{event}", add)
    return client


def future(days=1):
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)


# ---- versioning ----

def test_versioning_states_and_mfa_delete(s3, bucket):
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={
        "Status": "Suspended", "MFADelete": "Disabled"})
    got = s3.get_bucket_versioning(Bucket=bucket)
    assert got["Status"] == "Suspended" and got["MFADelete"] == "Disabled"
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={
            "Status": "Enabled", "MFADelete": "Enabled"})
    assert code_of(e) == "AccessDenied" and status_of(e) == 403
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "On"})
    assert code_of(e) == "MalformedXML"
    with pytest.raises(ClientError) as e:
        s3.get_bucket_versioning(Bucket=bucket + "-none")
    assert code_of(e) == "NoSuchBucket"


def test_every_write_gets_a_version(s3, versioned):
    v1 = s3.put_object(Bucket=versioned, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=versioned, Key="k", Body=b"two")["VersionId"]
    assert v1 != v2 and len(v1) == 32 and v1 != "null"
    got = s3.get_object(Bucket=versioned, Key="k")
    assert got["Body"].read() == b"two" and got["VersionId"] == v2
    got = s3.get_object(Bucket=versioned, Key="k", VersionId=v1)
    assert got["Body"].read() == b"one" and got["VersionId"] == v1
    head = s3.head_object(Bucket=versioned, Key="k", VersionId=v1)
    assert head["ContentLength"] == 3 and head["VersionId"] == v1
    r = s3.list_object_versions(Bucket=versioned)
    assert [(v["Key"], v["VersionId"], v["IsLatest"], v["Size"]) for v in r["Versions"]] == \
        [("k", v2, True, 3), ("k", v1, False, 3)]
    assert "DeleteMarkers" not in r
    # Listing shows the current version only.
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=versioned)["Contents"]] == ["k"]
    copied = s3.copy_object(Bucket=versioned, Key="c",
                            CopySource={"Bucket": versioned, "Key": "k", "VersionId": v1})
    assert copied["CopySourceVersionId"] == v1 and copied["VersionId"] not in (v1, v2)
    assert s3.get_object(Bucket=versioned, Key="c")["Body"].read() == b"one"


def test_restore_an_old_version_by_copying_it_onto_its_key(s3, versioned):
    v1 = s3.put_object(Bucket=versioned, Key="r", Body=b"old")["VersionId"]
    s3.put_object(Bucket=versioned, Key="r", Body=b"new")
    s3.copy_object(Bucket=versioned, Key="r",
                   CopySource={"Bucket": versioned, "Key": "r", "VersionId": v1})
    assert s3.get_object(Bucket=versioned, Key="r")["Body"].read() == b"old"
    assert len(s3.list_object_versions(Bucket=versioned)["Versions"]) == 3


def test_delete_markers(s3, versioned):
    v1 = s3.put_object(Bucket=versioned, Key="d", Body=b"data")["VersionId"]
    out = s3.delete_object(Bucket=versioned, Key="d")
    assert out["DeleteMarker"] is True
    marker = out["VersionId"]
    assert marker not in (v1, "null")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=versioned, Key="d")
    assert code_of(e) == "NoSuchKey" and status_of(e) == 404
    assert headers_of(e)["x-amz-delete-marker"] == "true"
    assert headers_of(e)["x-amz-version-id"] == marker
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=versioned, Key="d")
    assert status_of(e) == 404
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=versioned, Key="d", VersionId=marker)
    assert code_of(e) == "MethodNotAllowed" and status_of(e) == 405
    assert headers_of(e)["x-amz-delete-marker"] == "true"
    assert "Contents" not in s3.list_objects_v2(Bucket=versioned)
    r = s3.list_object_versions(Bucket=versioned)
    assert [(m["Key"], m["VersionId"], m["IsLatest"]) for m in r["DeleteMarkers"]] == \
        [("d", marker, True)]
    assert [(v["VersionId"], v["IsLatest"]) for v in r["Versions"]] == [(v1, False)]
    # The old version is still readable, and removing the marker brings the object back.
    assert s3.get_object(Bucket=versioned, Key="d", VersionId=v1)["Body"].read() == b"data"
    out = s3.delete_object(Bucket=versioned, Key="d", VersionId=marker)
    assert out["DeleteMarker"] is True and out["VersionId"] == marker
    assert s3.get_object(Bucket=versioned, Key="d")["Body"].read() == b"data"
    # Deleting the only version for good leaves nothing.
    out = s3.delete_object(Bucket=versioned, Key="d", VersionId=v1)
    assert out["VersionId"] == v1 and "DeleteMarker" not in out
    assert "Versions" not in s3.list_object_versions(Bucket=versioned)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=versioned, Key="d")
    assert code_of(e) == "NoSuchKey"
    # A versioned bucket with versions left is not empty; emptied, it can be deleted.
    s3.put_object(Bucket=versioned, Key="e", Body=b"x")
    s3.delete_object(Bucket=versioned, Key="e")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=versioned)
    assert code_of(e) == "BucketNotEmpty"
    for v in s3.list_object_versions(Bucket=versioned).get("Versions", []) + \
            s3.list_object_versions(Bucket=versioned).get("DeleteMarkers", []):
        s3.delete_object(Bucket=versioned, Key=v["Key"], VersionId=v["VersionId"])
    s3.delete_bucket(Bucket=versioned)


def test_tagging_by_version(s3, versioned):
    v1 = s3.put_object(Bucket=versioned, Key="t", Body=b"1", Tagging="gen=1")["VersionId"]
    s3.put_object(Bucket=versioned, Key="t", Body=b"2")
    assert s3.get_object_tagging(Bucket=versioned, Key="t")["TagSet"] == []
    got = s3.get_object_tagging(Bucket=versioned, Key="t", VersionId=v1)
    assert got["TagSet"] == [{"Key": "gen", "Value": "1"}] and got["VersionId"] == v1
    s3.put_object_tagging(Bucket=versioned, Key="t", VersionId=v1,
                          Tagging={"TagSet": [{"Key": "old", "Value": "yes"}]})
    assert s3.get_object_tagging(Bucket=versioned, Key="t", VersionId=v1)["TagSet"] == \
        [{"Key": "old", "Value": "yes"}]
    assert s3.head_object(Bucket=versioned, Key="t", VersionId=v1).get("TagCount", 1) == 1
    assert s3.get_object_tagging(Bucket=versioned, Key="t")["TagSet"] == []
    s3.delete_object_tagging(Bucket=versioned, Key="t", VersionId=v1)
    assert s3.get_object_tagging(Bucket=versioned, Key="t", VersionId=v1)["TagSet"] == []
    with pytest.raises(ClientError) as e:
        s3.get_object_tagging(Bucket=versioned, Key="t", VersionId="B" * 32)
    assert code_of(e) == "NoSuchVersion"


def test_bad_and_missing_version_ids(s3, versioned):
    s3.put_object(Bucket=versioned, Key="k", Body=b"x")
    for name in ("get_object", "head_object", "delete_object"):
        with pytest.raises(ClientError) as e:
            getattr(s3, name)(Bucket=versioned, Key="k", VersionId="not-a-version")
        assert status_of(e) == 400
        if name != "head_object":  # a HEAD error has no body to name the code
            assert code_of(e) == "InvalidArgument"
    missing = "A" * 32
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=versioned, Key="k", VersionId=missing)
    assert code_of(e) == "NoSuchVersion" and status_of(e) == 404
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=versioned, Key="c",
                       CopySource={"Bucket": versioned, "Key": "k", "VersionId": "bad"})
    assert code_of(e) == "InvalidArgument"


def test_null_version_in_unversioned_then_suspended_buckets(s3, bucket):
    s3.put_object(Bucket=bucket, Key="n", Body=b"before")
    head = s3.head_object(Bucket=bucket, Key="n")
    assert "VersionId" not in head  # never versioned: no version header
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.head_object(Bucket=bucket, Key="n")["VersionId"] == "null"
    v2 = s3.put_object(Bucket=bucket, Key="n", Body=b"enabled")["VersionId"]
    assert s3.get_object(Bucket=bucket, Key="n", VersionId="null")["Body"].read() == b"before"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    out = s3.put_object(Bucket=bucket, Key="n", Body=b"suspended")
    assert out["VersionId"] == "null"
    r = s3.list_object_versions(Bucket=bucket)
    # The new null version replaced the old one; the Enabled-era version stays.
    assert [(v["VersionId"], v["IsLatest"]) for v in r["Versions"]] == \
        [("null", True), (v2, False)]
    assert s3.get_object(Bucket=bucket, Key="n", VersionId="null")["Body"].read() == \
        b"suspended"
    out = s3.delete_object(Bucket=bucket, Key="n")
    assert out["DeleteMarker"] is True and out["VersionId"] == "null"
    r = s3.list_object_versions(Bucket=bucket)
    assert [(v["VersionId"], v["IsLatest"]) for v in r["Versions"]] == [(v2, False)]
    assert [(m["VersionId"], m["IsLatest"]) for m in r["DeleteMarkers"]] == [("null", True)]


def test_list_object_versions_paging_prefixes_and_delimiter(s3, versioned):
    written = {}
    for key in ("a", "b/1", "b/2", "c"):
        written[key] = [s3.put_object(Bucket=versioned, Key=key, Body=b"%d" % i)["VersionId"]
                        for i in range(3)]
    s3.delete_object(Bucket=versioned, Key="c")
    expect = []
    for key in ("a", "b/1", "b/2", "c"):
        expect += [(key, v) for v in reversed(written[key])]
    full = s3.list_object_versions(Bucket=versioned)
    markers = [(m["Key"], m["VersionId"]) for m in full["DeleteMarkers"]]
    assert len(markers) == 1 and markers[0][0] == "c"
    got = []
    kw = {}
    pages = 0
    while True:
        r = s3.list_object_versions(Bucket=versioned, MaxKeys=2, **kw)
        pages += 1
        entries = [(v["Key"], v["VersionId"], v["LastModified"]) for v in r.get("Versions", [])]
        entries += [(m["Key"], m["VersionId"], m["LastModified"])
                    for m in r.get("DeleteMarkers", [])]
        assert len(entries) <= 2
        got += [(k, v) for k, v, _ in entries]
        if not r["IsTruncated"]:
            break
        kw = {"KeyMarker": r["NextKeyMarker"], "VersionIdMarker": r["NextVersionIdMarker"]}
    assert pages == 7
    assert sorted(got) == sorted(expect + markers)
    assert [g for g in got if g[0] != "c"] == [e for e in expect if e[0] != "c"]
    r = s3.list_object_versions(Bucket=versioned, Prefix="b/")
    assert [(v["Key"], v["IsLatest"]) for v in r["Versions"]] == \
        [("b/1", True), ("b/1", False), ("b/1", False), ("b/2", True), ("b/2", False),
         ("b/2", False)]
    r = s3.list_object_versions(Bucket=versioned, Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["b/"]
    assert {v["Key"] for v in r["Versions"]} == {"a", "c"}
    r = s3.list_object_versions(Bucket=versioned, Delimiter="/", MaxKeys=3)
    assert r["IsTruncated"] and len(r["Versions"]) == 3
    r = s3.list_object_versions(Bucket=versioned, Delimiter="/", KeyMarker="a")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["b/"]
    r = s3.list_object_versions(Bucket=versioned, Delimiter="/", KeyMarker="b/")
    assert "CommonPrefixes" not in r and {v["Key"] for v in r["Versions"]} == {"c"}


def test_delete_objects_with_versions(s3, versioned):
    v1 = s3.put_object(Bucket=versioned, Key="x", Body=b"1")["VersionId"]
    v2 = s3.put_object(Bucket=versioned, Key="x", Body=b"2")["VersionId"]
    s3.put_object(Bucket=versioned, Key="y", Body=b"3")
    out = s3.delete_objects(Bucket=versioned, Delete={"Objects": [
        {"Key": "x", "VersionId": v1}, {"Key": "y"}, {"Key": "x", "VersionId": "bad"}]})
    deleted = {(d["Key"], d.get("VersionId")): d for d in out["Deleted"]}
    assert deleted[("x", v1)].get("DeleteMarker") is None
    marker = deleted[("y", None)]
    assert marker["DeleteMarker"] is True and len(marker["DeleteMarkerVersionId"]) == 32
    assert [(e["Key"], e["Code"]) for e in out["Errors"]] == [("x", "InvalidArgument")]
    r = s3.list_object_versions(Bucket=versioned)
    assert [(v["Key"], v["VersionId"]) for v in r["Versions"]] == \
        [("x", v2), ("y", r["Versions"][1]["VersionId"])]
    out = s3.delete_objects(Bucket=versioned, Delete={"Objects": [
        {"Key": "y", "VersionId": marker["DeleteMarkerVersionId"]}]})
    assert out["Deleted"][0]["DeleteMarker"] is True
    assert s3.get_object(Bucket=versioned, Key="y")["Body"].read() == b"3"


def test_multipart_upload_in_versioned_bucket(s3, versioned):
    v1 = s3.put_object(Bucket=versioned, Key="m", Body=b"small")["VersionId"]
    up = s3.create_multipart_upload(Bucket=versioned, Key="m")["UploadId"]
    part = os.urandom(5 << 20)
    e1 = s3.upload_part(Bucket=versioned, Key="m", UploadId=up, PartNumber=1,
                        Body=part)["ETag"]
    e2 = s3.upload_part(Bucket=versioned, Key="m", UploadId=up, PartNumber=2,
                        Body=b"tail")["ETag"]
    done = s3.complete_multipart_upload(Bucket=versioned, Key="m", UploadId=up,
                                        MultipartUpload={"Parts": [
                                            {"PartNumber": 1, "ETag": e1},
                                            {"PartNumber": 2, "ETag": e2}]})
    v2 = done["VersionId"]
    assert v2 not in (v1, "null")
    assert s3.get_object(Bucket=versioned, Key="m", VersionId=v1)["Body"].read() == b"small"
    head = s3.head_object(Bucket=versioned, Key="m", VersionId=v2, PartNumber=2)
    assert head["ContentLength"] == 4


def test_versions_survive_restart_and_permanent_delete_frees_space(fresh_sluice, unique):
    server = fresh_sluice.start()
    s3 = server.client("s3")
    b = f"keep-{unique}"
    s3.create_bucket(Bucket=b)
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=b, Key="k", Body=b"a" * 100000)["VersionId"]
    v2 = s3.put_object(Bucket=b, Key="k", Body=b"b" * 100000)["VersionId"]
    s3.delete_object(Bucket=b, Key="k")
    objects = os.path.join(server.data_dir, "lake", "objects")

    def n_files():
        return sum(len(files) for _, _, files in os.walk(objects))

    assert n_files() == 2
    server.restart()
    s3 = server.client("s3")
    assert n_files() == 2  # the restart's orphan sweep keeps older versions' bytes
    assert s3.get_object(Bucket=b, Key="k", VersionId=v1)["Body"].read() == b"a" * 100000
    s3.delete_object(Bucket=b, Key="k", VersionId=v1)
    assert n_files() == 1
    s3.delete_object(Bucket=b, Key="k", VersionId=v2)
    assert n_files() == 0


def test_unversioned_delete_answers_no_version_headers(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    out = s3.delete_object(Bucket=bucket, Key="k")
    assert "VersionId" not in out and "DeleteMarker" not in out
    assert "Versions" not in s3.list_object_versions(Bucket=bucket)


# ---- object lock ----

def test_bucket_created_with_object_lock(s3, locked):
    assert s3.get_bucket_versioning(Bucket=locked)["Status"] == "Enabled"
    cfg = s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]
    assert cfg == {"ObjectLockEnabled": "Enabled"}
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=locked, VersioningConfiguration={"Status": "Suspended"})
    assert code_of(e) == "InvalidBucketState" and status_of(e) == 409
    s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    cfg = s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]
    assert cfg["Rule"]["DefaultRetention"] == {"Mode": "GOVERNANCE", "Days": 1}
    with pytest.raises(ClientError) as e:
        s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1, "Years": 1}}})
    assert code_of(e) == "MalformedXML"
    # Default retention applies to new versions.
    v = s3.put_object(Bucket=locked, Key="k", Body=b"x")["VersionId"]
    head = s3.head_object(Bucket=locked, Key="k")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    left = head["ObjectLockRetainUntilDate"] - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(hours=23) < left <= datetime.timedelta(days=1)
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=locked, Key="k", VersionId=v)
    assert code_of(e) == "AccessDenied" and status_of(e) == 403
    # A delete without a version id only adds a marker, which lock does not stop.
    assert s3.delete_object(Bucket=locked, Key="k")["DeleteMarker"] is True
    s3.delete_object(Bucket=locked, Key="k", VersionId=v, BypassGovernanceRetention=True)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=locked, Key="k", VersionId=v)
    assert code_of(e) == "NoSuchVersion"


def test_lock_operations_need_a_lock_bucket(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.get_object_lock_configuration(Bucket=bucket)
    assert code_of(e) == "ObjectLockConfigurationNotFoundError" and status_of(e) == 404
    with pytest.raises(ClientError) as e:
        s3.put_object_retention(Bucket=bucket, Key="k", Retention={
            "Mode": "GOVERNANCE", "RetainUntilDate": future()})
    assert code_of(e) == "InvalidRequest"
    with pytest.raises(ClientError) as e:
        s3.get_object_legal_hold(Bucket=bucket, Key="k")
    assert code_of(e) == "InvalidRequest"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k2", Body=b"x", ObjectLockMode="GOVERNANCE",
                      ObjectLockRetainUntilDate=future(), ContentMD5=_md5(b"x"))
    assert code_of(e) == "InvalidRequest"
    # Object lock may be added to a bucket once versioning is on.
    with pytest.raises(ClientError) as e:
        s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled"})
    assert code_of(e) == "InvalidBucketState"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled"})
    assert s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"] == \
        {"ObjectLockEnabled": "Enabled"}


def _md5(data):
    import base64
    import hashlib
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def test_retention_governance_and_compliance(s3, locked):
    v = s3.put_object(Bucket=locked, Key="g", Body=b"x", ObjectLockMode="GOVERNANCE",
                      ObjectLockRetainUntilDate=future(2), ContentMD5=_md5(b"x"))["VersionId"]
    got = s3.get_object_retention(Bucket=locked, Key="g")["Retention"]
    assert got["Mode"] == "GOVERNANCE"
    g = s3.get_object(Bucket=locked, Key="g", VersionId=v)
    assert g["ObjectLockMode"] == "GOVERNANCE"
    # GOVERNANCE may be extended freely, shortened only with the bypass.
    s3.put_object_retention(Bucket=locked, Key="g", Retention={
        "Mode": "GOVERNANCE", "RetainUntilDate": future(3)})
    with pytest.raises(ClientError) as e:
        s3.put_object_retention(Bucket=locked, Key="g", Retention={
            "Mode": "GOVERNANCE", "RetainUntilDate": future(1)})
    assert code_of(e) == "AccessDenied"
    s3.put_object_retention(Bucket=locked, Key="g", BypassGovernanceRetention=True,
                            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": future(1)})
    with pytest.raises(ClientError) as e:
        s3.put_object_retention(Bucket=locked, Key="g", Retention={
            "Mode": "GOVERNANCE",
            "RetainUntilDate": datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc)})
    assert code_of(e) == "InvalidArgument"
    # COMPLIANCE: cannot be shortened, removed or bypassed.
    s3.put_object_retention(Bucket=locked, Key="g", Retention={
        "Mode": "COMPLIANCE", "RetainUntilDate": future(2)})
    for kw in ({"Retention": {"Mode": "COMPLIANCE", "RetainUntilDate": future(1)}},
               {"Retention": {"Mode": "GOVERNANCE", "RetainUntilDate": future(5)}}):
        with pytest.raises(ClientError) as e:
            s3.put_object_retention(Bucket=locked, Key="g", BypassGovernanceRetention=True,
                                    **kw)
        assert code_of(e) == "AccessDenied"
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=locked, Key="g", VersionId=v, BypassGovernanceRetention=True)
    assert code_of(e) == "AccessDenied"
    out = s3.delete_objects(Bucket=locked, BypassGovernanceRetention=True,
                            Delete={"Objects": [{"Key": "g", "VersionId": v}]})
    assert [(x["Key"], x["Code"]) for x in out["Errors"]] == [("g", "AccessDenied")]
    s3.put_object_retention(Bucket=locked, Key="g", Retention={
        "Mode": "COMPLIANCE", "RetainUntilDate": future(4)})
    assert s3.get_object(Bucket=locked, Key="g")["Body"].read() == b"x"


def test_legal_hold(s3, locked):
    v = s3.put_object(Bucket=locked, Key="h", Body=b"x", ObjectLockLegalHoldStatus="ON",
                      ContentMD5=_md5(b"x"))["VersionId"]
    assert s3.get_object_legal_hold(Bucket=locked, Key="h")["LegalHold"]["Status"] == "ON"
    assert s3.head_object(Bucket=locked, Key="h")["ObjectLockLegalHoldStatus"] == "ON"
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=locked, Key="h", VersionId=v, BypassGovernanceRetention=True)
    assert code_of(e) == "AccessDenied"
    s3.put_object_legal_hold(Bucket=locked, Key="h", VersionId=v, LegalHold={"Status": "OFF"})
    assert s3.get_object_legal_hold(Bucket=locked, Key="h",
                                    VersionId=v)["LegalHold"]["Status"] == "OFF"
    s3.delete_object(Bucket=locked, Key="h", VersionId=v)
    v2 = s3.put_object(Bucket=locked, Key="h2", Body=b"y")["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.get_object_legal_hold(Bucket=locked, Key="h2", VersionId=v2)
    assert code_of(e) == "NoSuchObjectLockConfiguration"
    with pytest.raises(ClientError) as e:
        s3.get_object_retention(Bucket=locked, Key="h2")
    assert code_of(e) == "NoSuchObjectLockConfiguration"


def test_copy_carries_lock_settings_and_conditions(sluice, s3, locked):
    s3.put_object(Bucket=locked, Key="src", Body=b"x")
    until = future(2)
    out = s3.copy_object(Bucket=locked, Key="dst", CopySource={"Bucket": locked, "Key": "src"},
                         ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until)
    head = s3.head_object(Bucket=locked, Key="dst", VersionId=out["VersionId"])
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert abs((head["ObjectLockRetainUntilDate"] - until).total_seconds()) < 1
    create = with_headers(sluice.client("s3"), "CopyObject", {"If-None-Match": "*"})
    with pytest.raises(ClientError) as e:
        create.copy_object(Bucket=locked, Key="dst", CopySource={"Bucket": locked, "Key": "src"})
    assert code_of(e) == "PreconditionFailed"
    create.copy_object(Bucket=locked, Key="new", CopySource={"Bucket": locked, "Key": "src"})


def test_multipart_upload_carries_lock_settings(s3, locked, bucket):
    until = future(3)
    up = s3.create_multipart_upload(Bucket=locked, Key="mp", ObjectLockMode="GOVERNANCE",
                                    ObjectLockRetainUntilDate=until,
                                    ObjectLockLegalHoldStatus="ON")["UploadId"]
    etag = s3.upload_part(Bucket=locked, Key="mp", UploadId=up, PartNumber=1,
                          Body=b"part")["ETag"]
    v = s3.complete_multipart_upload(Bucket=locked, Key="mp", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": etag}]})["VersionId"]
    head = s3.head_object(Bucket=locked, Key="mp", VersionId=v)
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert abs((head["ObjectLockRetainUntilDate"] - until).total_seconds()) < 1
    assert head["ObjectLockLegalHoldStatus"] == "ON"
    with pytest.raises(ClientError) as e:
        s3.create_multipart_upload(Bucket=bucket, Key="mp", ObjectLockMode="GOVERNANCE",
                                   ObjectLockRetainUntilDate=until)
    assert code_of(e) == "InvalidRequest"
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)


def test_lock_headers_on_put_need_content_md5_or_a_checksum(sluice, locked):
    from s3_helpers import SignedRequest
    date = future(1).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    lock = {"x-amz-object-lock-mode": "GOVERNANCE",
            "x-amz-object-lock-retain-until-date": date}
    req = SignedRequest(sluice, "PUT", f"/{locked}/k", headers=lock, body=b"data")
    status, _, body = req.send(b"data")
    assert status == 400 and b"<Code>InvalidRequest</Code>" in body
    lock["Content-MD5"] = _md5(b"data")
    req = SignedRequest(sluice, "PUT", f"/{locked}/k", headers=lock, body=b"data")
    status, headers, _ = req.send(b"data")
    assert status == 200
    lock.pop("Content-MD5")
    lock["x-amz-object-lock-mode"] = "FOREVER"
    req = SignedRequest(sluice, "PUT", f"/{locked}/k", headers=lock, body=b"data")
    status, _, body = req.send(b"data")
    assert status == 400 and b"<Code>InvalidArgument</Code>" in body


# ---- conditional writes ----

def test_put_if_none_match_and_if_match(sluice, bucket):
    create = with_headers(sluice.client("s3"), "PutObject", {"If-None-Match": "*"})
    create.put_object(Bucket=bucket, Key="c", Body=b"first")
    with pytest.raises(ClientError) as e:
        create.put_object(Bucket=bucket, Key="c", Body=b"second")
    assert code_of(e) == "PreconditionFailed" and status_of(e) == 412
    s3 = sluice.client("s3")
    etag = s3.head_object(Bucket=bucket, Key="c")["ETag"]
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"first"
    match = with_headers(sluice.client("s3"), "PutObject", {"If-Match": etag})
    match.put_object(Bucket=bucket, Key="c", Body=b"third")
    with pytest.raises(ClientError) as e:
        match.put_object(Bucket=bucket, Key="c", Body=b"fourth")  # the ETag changed
    assert code_of(e) == "PreconditionFailed"
    with pytest.raises(ClientError) as e:
        match.put_object(Bucket=bucket, Key="missing", Body=b"x")
    assert code_of(e) == "NoSuchKey" and status_of(e) == 404
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"third"
    bad = with_headers(sluice.client("s3"), "PutObject", {"If-None-Match": "\"abc\""})
    with pytest.raises(ClientError) as e:
        bad.put_object(Bucket=bucket, Key="c", Body=b"x")
    assert code_of(e) == "NotImplemented"
    # A delete marker is no object: If-None-Match writes over it.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.delete_object(Bucket=bucket, Key="c")
    create.put_object(Bucket=bucket, Key="c", Body=b"again")


def test_concurrent_creates_with_if_none_match_have_one_winner(sluice, bucket):
    def attempt(i):
        client = with_headers(sluice.client("s3"), "PutObject", {"If-None-Match": "*"})
        try:
            client.put_object(Bucket=bucket, Key="race", Body=b"writer %d" % i)
            return ("won", i)
        except ClientError as e:
            return (e.response["Error"]["Code"], i)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, range(16)))
    winners = [i for code, i in results if code == "won"]
    assert len(winners) == 1
    assert {code for code, _ in results if code != "won"} <= \
        {"PreconditionFailed", "ConditionalRequestConflict"}
    body = sluice.client("s3").get_object(Bucket=bucket, Key="race")["Body"].read()
    assert body == b"writer %d" % winners[0]


def test_complete_multipart_upload_conditions(sluice, bucket):
    s3 = sluice.client("s3")

    def upload(key):
        up = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=1,
                              Body=b"part")["ETag"]
        return up, {"Parts": [{"PartNumber": 1, "ETag": etag}]}

    create = with_headers(sluice.client("s3"), "CompleteMultipartUpload",
                          {"If-None-Match": "*"})
    up, parts = upload("mp")
    create.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload=parts)
    up, parts = upload("mp")
    with pytest.raises(ClientError) as e:
        create.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up,
                                         MultipartUpload=parts)
    assert code_of(e) == "PreconditionFailed"
    # The refused upload is still there and completes under a matching If-Match.
    etag = s3.head_object(Bucket=bucket, Key="mp")["ETag"]
    match = with_headers(sluice.client("s3"), "CompleteMultipartUpload", {"If-Match": etag})
    match.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload=parts)
    up, parts = upload("mp")
    with pytest.raises(ClientError) as e:
        with_headers(sluice.client("s3"), "CompleteMultipartUpload",
                     {"If-Match": '"0123456789abcdef0123456789abcdef"'}).complete_multipart_upload(
            Bucket=bucket, Key="mp", UploadId=up, MultipartUpload=parts)
    assert code_of(e) == "PreconditionFailed"


# ---- the AWS CLI ----

def test_cli_versioning_flow(sluice, unique, tmp_path):
    b = f"cliver-{unique}"
    sluice.aws("s3api", "create-bucket", "--bucket", b)
    sluice.aws("s3api", "put-bucket-versioning", "--bucket", b,
               "--versioning-configuration", "Status=Enabled")
    assert sluice.aws("s3api", "get-bucket-versioning", "--bucket", b)["Status"] == "Enabled"
    f = tmp_path / "body"
    ids = []
    for text in ("one", "two"):
        f.write_text(text)
        ids.append(sluice.aws("s3api", "put-object", "--bucket", b, "--key", "k",
                              "--body", str(f))["VersionId"])
    out = sluice.aws("s3api", "list-object-versions", "--bucket", b)
    assert [(v["VersionId"], v["IsLatest"]) for v in out["Versions"]] == \
        [(ids[1], True), (ids[0], False)]
    dest = tmp_path / "got"
    got = sluice.aws("s3api", "get-object", "--bucket", b, "--key", "k", "--version-id", ids[0],
                     str(dest))
    assert got["VersionId"] == ids[0] and dest.read_text() == "one"
    marker = sluice.aws("s3api", "delete-object", "--bucket", b, "--key", "k")
    assert marker["DeleteMarker"] is True
    out = sluice.aws("s3api", "list-object-versions", "--bucket", b)
    assert out["DeleteMarkers"][0]["VersionId"] == marker["VersionId"]
    lb = f"clilock-{unique}"
    sluice.aws("s3api", "create-bucket", "--bucket", lb, "--object-lock-enabled-for-bucket")
    sluice.aws("s3api", "put-object-lock-configuration", "--bucket", lb,
               "--object-lock-configuration",
               '{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":'
               '{"Mode":"GOVERNANCE","Days":1}}}')
    cfg = sluice.aws("s3api", "get-object-lock-configuration", "--bucket", lb)
    assert cfg["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Days"] == 1
