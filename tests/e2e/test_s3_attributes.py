"""S3 object attributes and the rules around them, end to end with boto3 (both client
generations) and the AWS CLI: GetObjectAttributes (every attribute, part paging, versions,
delete markers, SSE-C), checksum types of multipart uploads (COMPOSITE "-N" values,
FULL_OBJECT CRCs combined from the parts and checked against the client's), conditional
deletes, s3:BypassGovernanceRetention, CreateMultipartUpload's ACL, the CORS preflight
refusal and POST Object's tagging field."""
import base64
import datetime
import hashlib
import json
import os
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
import zlib

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def s3(sluice):
    return sluice.client("s3")


@pytest.fixture
def bucket(s3, unique):
    name = f"attr-{unique}"
    s3.create_bucket(Bucket=name)
    return name


def code_of(e):
    return e.value.response["Error"]["Code"]


def message_of(e):
    return e.value.response["Error"]["Message"]


def status_of(e):
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def headers_of(resp):
    return resp["ResponseMetadata"]["HTTPHeaders"]


class Extra:
    """Adds headers to one operation's requests and keeps its raw answers, for fields the
    older client generation does not know (x-amz-checksum-type, If-Match on deletes)."""

    def __init__(self, client, op, headers=None):
        self.client, self.op, self.headers, self.bodies = client, op, headers or {}, []

    def _add(self, request, **kw):
        for k, v in self.headers.items():
            if k in request.headers:
                del request.headers[k]  # setting adds a second one
            if v is not None:
                request.headers[k] = v

    def _keep(self, http_response, **kw):
        self.bodies.append(http_response.content)

    def __enter__(self):
        self.client.meta.events.register(f"before-sign.s3.{self.op}", self._add)
        self.client.meta.events.register(f"after-call.s3.{self.op}", self._keep)
        return self

    def __exit__(self, *exc):
        self.client.meta.events.unregister(f"before-sign.s3.{self.op}", self._add)
        self.client.meta.events.unregister(f"after-call.s3.{self.op}", self._keep)

    def text(self, tag):
        root = ET.fromstring(self.bodies[-1])
        found = [el.text for el in root.iter() if el.tag.split("}")[-1] == tag]
        return found[0] if found else None


def b64(raw):
    return base64.b64encode(raw).decode()


def crc32_b64(data):
    return b64(zlib.crc32(data).to_bytes(4, "big"))


ALL = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]


# ---- GetObjectAttributes ----

def test_attributes_of_a_single_part_object(s3, bucket):
    data = b"attributes of one part"
    put = s3.put_object(Bucket=bucket, Key="one", Body=data, ChecksumAlgorithm="SHA256")
    assert headers_of(put)["x-amz-checksum-type"] == "FULL_OBJECT"
    with Extra(s3, "GetObjectAttributes") as x:
        got = s3.get_object_attributes(Bucket=bucket, Key="one", ObjectAttributes=ALL)
    assert got["ETag"] == hashlib.md5(data).hexdigest()  # no quotes
    assert got["ObjectSize"] == len(data)
    assert got["StorageClass"] == "STANDARD"
    assert got["Checksum"]["ChecksumSHA256"] == b64(hashlib.sha256(data).digest())
    assert x.text("ChecksumType") == "FULL_OBJECT"
    assert "ObjectParts" not in got
    assert "VersionId" not in got
    assert got["LastModified"] == s3.head_object(Bucket=bucket, Key="one")["LastModified"]
    # Only what was asked for.
    got = s3.get_object_attributes(Bucket=bucket, Key="one", ObjectAttributes=["ObjectSize"])
    assert got["ObjectSize"] == len(data) and "ETag" not in got and "Checksum" not in got
    # HEAD with the checksum mode names the type too.
    head = s3.head_object(Bucket=bucket, Key="one", ChecksumMode="ENABLED")
    assert headers_of(head)["x-amz-checksum-type"] == "FULL_OBJECT"
    with Extra(s3, "CopyObject") as x:
        s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "one"})
    assert x.text("ChecksumSHA256") == b64(hashlib.sha256(data).digest())
    assert x.text("ChecksumType") == "FULL_OBJECT"


def test_attribute_errors(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ETag", "Bogus"])
    assert code_of(e) == "InvalidArgument" and status_of(e) == 400
    assert message_of(e) == "Invalid attribute name specified."
    with Extra(s3, "GetObjectAttributes", {"x-amz-object-attributes": None}):
        with pytest.raises(ClientError) as e:
            s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ETag"])
    assert code_of(e) == "InvalidRequest"
    assert "x-amz-object-attributes header" in message_of(e)
    with pytest.raises(ClientError) as e:
        s3.get_object_attributes(Bucket=bucket, Key="missing", ObjectAttributes=["ETag"])
    assert code_of(e) == "NoSuchKey" and status_of(e) == 404
    # A paging header that is not a number is ignored, as S3 ignores it.
    with Extra(s3, "GetObjectAttributes", {"x-amz-max-parts": "lots"}):
        got = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ObjectSize"])
    assert got["ObjectSize"] == 1


def test_attributes_of_versions_delete_markers_and_sse_c(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="v", Body=b"first")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="v", Body=b"second!")["VersionId"]
    got = s3.get_object_attributes(Bucket=bucket, Key="v", ObjectAttributes=["ObjectSize"])
    assert got["ObjectSize"] == 7 and got["VersionId"] == v2
    got = s3.get_object_attributes(Bucket=bucket, Key="v", VersionId=v1,
                                   ObjectAttributes=["ObjectSize", "ETag"])
    assert got["ObjectSize"] == 5 and got["VersionId"] == v1
    assert got["ETag"] == hashlib.md5(b"first").hexdigest()
    marker = s3.delete_object(Bucket=bucket, Key="v")["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.get_object_attributes(Bucket=bucket, Key="v", ObjectAttributes=["ObjectSize"])
    assert status_of(e) == 404 and code_of(e) == "NoSuchKey"
    h = e.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert h["x-amz-delete-marker"] == "true" and h["x-amz-version-id"] == marker
    # SSE-C: the key is needed to read the attributes, as for GetObject.
    key = os.urandom(32)
    s3.put_object(Bucket=bucket, Key="c", Body=b"secret", SSECustomerAlgorithm="AES256",
                  SSECustomerKey=key)
    with pytest.raises(ClientError) as e:
        s3.get_object_attributes(Bucket=bucket, Key="c", ObjectAttributes=["ObjectSize"])
    assert status_of(e) == 400
    # botocore encodes the key of this operation neither generation: sent as S3 wants it.
    sse = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": b64(key),
           "SSECustomerKeyMD5": b64(hashlib.md5(key).digest())}
    got = s3.get_object_attributes(Bucket=bucket, Key="c", ObjectAttributes=["ObjectSize"], **sse)
    assert got["ObjectSize"] == 6


def upload_parts(s3, bucket, key, upload_id, parts, algo):
    done = []
    for i, data in enumerate(parts, 1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=i, Body=data,
                           ChecksumAlgorithm=algo)
        done.append({"PartNumber": i, "ETag": r["ETag"], f"Checksum{algo}": r[f"Checksum{algo}"]})
    return done


def test_composite_checksum_and_part_paging(s3, bucket):
    parts = [os.urandom(5 * MIB), os.urandom(5 * MIB), b"tail" * 300]
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm="SHA256")
    assert headers_of(up)["x-amz-checksum-type"] == "COMPOSITE"
    done = upload_parts(s3, bucket, "mp", up["UploadId"], parts, "SHA256")
    with Extra(s3, "ListParts") as x:
        s3.list_parts(Bucket=bucket, Key="mp", UploadId=up["UploadId"])
    assert x.text("ChecksumType") == "COMPOSITE"
    digests = [hashlib.sha256(p).digest() for p in parts]
    composite = b64(hashlib.sha256(b"".join(digests)).digest())
    # A part listed with a checksum that is not its own: InvalidPart.
    swapped = [dict(done[0], ChecksumSHA256=done[1]["ChecksumSHA256"])] + done[1:]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                                     MultipartUpload={"Parts": swapped})
    assert code_of(e) == "InvalidPart"
    with Extra(s3, "CompleteMultipartUpload") as x:
        res = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                                           MultipartUpload={"Parts": done})
    assert res["ChecksumSHA256"] == composite + "-3"
    assert x.text("ChecksumType") == "COMPOSITE"
    head = s3.head_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    assert headers_of(head)["x-amz-checksum-sha256"] == composite + "-3"
    assert headers_of(head)["x-amz-checksum-type"] == "COMPOSITE"
    with Extra(s3, "GetObjectAttributes") as x:
        got = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=ALL, MaxParts=2)
    assert got["Checksum"]["ChecksumSHA256"] == composite  # without "-3"
    assert x.text("ChecksumType") == "COMPOSITE"
    assert got["ObjectSize"] == sum(len(p) for p in parts)
    op = got["ObjectParts"]
    assert op["TotalPartsCount"] == 3 and op["MaxParts"] == 2 and op["IsTruncated"] is True
    assert op["NextPartNumberMarker"] == 2
    assert [(p["PartNumber"], p["Size"], p["ChecksumSHA256"]) for p in op["Parts"]] == [
        (1, 5 * MIB, b64(digests[0])), (2, 5 * MIB, b64(digests[1]))]
    got = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"],
                                   MaxParts=2, PartNumberMarker=2)
    op = got["ObjectParts"]
    assert op["IsTruncated"] is False and op["PartNumberMarker"] == 2
    assert [(p["PartNumber"], p["Size"]) for p in op["Parts"]] == [(3, 1200)]
    with Extra(s3, "ListObjectsV2") as x:
        listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert listed[0]["ChecksumAlgorithm"] == ["SHA256"] and x.text("ChecksumType") == "COMPOSITE"


def test_multipart_without_checksum_counts_parts_only(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="plain")
    r1 = s3.upload_part(Bucket=bucket, Key="plain", UploadId=up["UploadId"], PartNumber=1,
                        Body=b"a" * (5 * MIB))
    r2 = s3.upload_part(Bucket=bucket, Key="plain", UploadId=up["UploadId"], PartNumber=2,
                        Body=b"b")
    s3.complete_multipart_upload(Bucket=bucket, Key="plain", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [
                                     {"PartNumber": 1, "ETag": r1["ETag"]},
                                     {"PartNumber": 2, "ETag": r2["ETag"]}]})
    got = s3.get_object_attributes(Bucket=bucket, Key="plain", ObjectAttributes=ALL)
    assert got["ObjectParts"]["TotalPartsCount"] == 2
    assert "Parts" not in got["ObjectParts"] and "Checksum" not in got
    assert got["ETag"].endswith("-2")


# ---- checksum types ----

def test_full_object_crc32_is_combined_from_parts(s3, bucket):
    parts = [os.urandom(5 * MIB), os.urandom(3 * MIB + 7)]
    whole = b"".join(parts)
    with Extra(s3, "CreateMultipartUpload", {"x-amz-checksum-type": "FULL_OBJECT"}):
        up = s3.create_multipart_upload(Bucket=bucket, Key="full", ChecksumAlgorithm="CRC32")
    assert headers_of(up)["x-amz-checksum-type"] == "FULL_OBJECT"
    uid = up["UploadId"]
    done = upload_parts(s3, bucket, "full", uid, parts, "CRC32")
    assert [d["ChecksumCRC32"] for d in done] == [crc32_b64(p) for p in parts]
    with Extra(s3, "ListParts") as x:
        s3.list_parts(Bucket=bucket, Key="full", UploadId=uid)
    assert x.text("ChecksumType") == "FULL_OBJECT"
    # A whole-object CRC that is not the object's: BadDigest, the upload stays.
    wrong = crc32_b64(whole + b"!")
    with Extra(s3, "CompleteMultipartUpload", {"x-amz-checksum-crc32": wrong,
                                               "x-amz-checksum-type": "FULL_OBJECT"}):
        with pytest.raises(ClientError) as e:
            s3.complete_multipart_upload(Bucket=bucket, Key="full", UploadId=uid,
                                         MultipartUpload={"Parts": done})
    assert code_of(e) == "BadDigest"
    assert message_of(e) == "The crc32 you specified did not match the calculated checksum."
    # Another checksum mode than the upload's is refused.
    with Extra(s3, "CompleteMultipartUpload", {"x-amz-checksum-type": "COMPOSITE"}):
        with pytest.raises(ClientError) as e:
            s3.complete_multipart_upload(Bucket=bucket, Key="full", UploadId=uid,
                                         MultipartUpload={"Parts": done})
    assert code_of(e) == "InvalidRequest" and "FULL_OBJECT checksum mode" in message_of(e)
    with Extra(s3, "CompleteMultipartUpload", {"x-amz-checksum-crc32": crc32_b64(whole),
                                               "x-amz-checksum-type": "FULL_OBJECT"}) as x:
        res = s3.complete_multipart_upload(Bucket=bucket, Key="full", UploadId=uid,
                                           MultipartUpload={"Parts": done})
    assert res["ChecksumCRC32"] == crc32_b64(whole)
    assert x.text("ChecksumType") == "FULL_OBJECT"
    got = s3.get_object(Bucket=bucket, Key="full", ChecksumMode="ENABLED")
    assert got["Body"].read() == whole
    assert headers_of(got)["x-amz-checksum-crc32"] == crc32_b64(whole)
    assert headers_of(got)["x-amz-checksum-type"] == "FULL_OBJECT"
    attrs = s3.get_object_attributes(Bucket=bucket, Key="full", ObjectAttributes=ALL)
    assert attrs["Checksum"]["ChecksumCRC32"] == crc32_b64(whole)
    assert [p["ChecksumCRC32"] for p in attrs["ObjectParts"]["Parts"]] == [
        crc32_b64(p) for p in parts]


def test_full_object_crc64nvme_matches_a_single_put(s3, bucket):
    """CRC64NVME is FULL_OBJECT by default; the combined CRC of the parts equals the one
    computed over the same bytes in one PutObject."""
    parts = [os.urandom(5 * MIB), os.urandom(1000)]
    with Extra(s3, "PutObject", {"x-amz-sdk-checksum-algorithm": "CRC64NVME",
                                 "x-amz-checksum-crc32": None, "x-amz-trailer": None}):
        put = s3.put_object(Bucket=bucket, Key="single", Body=b"".join(parts))
    want = headers_of(put)["x-amz-checksum-crc64nvme"]
    with Extra(s3, "CreateMultipartUpload", {"x-amz-checksum-algorithm": "CRC64NVME"}):
        up = s3.create_multipart_upload(Bucket=bucket, Key="nv")
    assert headers_of(up)["x-amz-checksum-type"] == "FULL_OBJECT"
    done = []
    with Extra(s3, "UploadPart", {"x-amz-sdk-checksum-algorithm": "CRC64NVME",
                                  "x-amz-checksum-crc32": None, "x-amz-trailer": None}):
        for i, data in enumerate(parts, 1):
            r = s3.upload_part(Bucket=bucket, Key="nv", UploadId=up["UploadId"], PartNumber=i,
                               Body=data)
            done.append({"PartNumber": i, "ETag": r["ETag"]})
    with Extra(s3, "CompleteMultipartUpload") as x:
        s3.complete_multipart_upload(Bucket=bucket, Key="nv", UploadId=up["UploadId"],
                                     MultipartUpload={"Parts": done})
    assert x.text("ChecksumCRC64NVME") == want
    assert x.text("ChecksumType") == "FULL_OBJECT"


def test_checksum_type_rules_on_create(s3, bucket):
    cases = [
        ({"x-amz-checksum-algorithm": "SHA256", "x-amz-checksum-type": "FULL_OBJECT"},
         "The FULL_OBJECT checksum type cannot be used with the sha256 checksum algorithm."),
        ({"x-amz-checksum-algorithm": "CRC64NVME", "x-amz-checksum-type": "COMPOSITE"},
         "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm."),
        ({"x-amz-checksum-type": "FULL_OBJECT"},
         "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm "
         "header."),
        ({"x-amz-checksum-algorithm": "CRC32", "x-amz-checksum-type": "WHOLE"},
         "Value for x-amz-checksum-type header is invalid."),
    ]
    for headers, message in cases:
        with Extra(s3, "CreateMultipartUpload", headers):
            with pytest.raises(ClientError) as e:
                s3.create_multipart_upload(Bucket=bucket, Key="bad")
        assert code_of(e) == "InvalidRequest" and message_of(e) == message
    for algo, default in (("CRC32", "COMPOSITE"), ("CRC32C", "COMPOSITE"), ("SHA1", "COMPOSITE")):
        up = s3.create_multipart_upload(Bucket=bucket, Key="ok", ChecksumAlgorithm=algo)
        assert headers_of(up)["x-amz-checksum-type"] == default
    with Extra(s3, "ListMultipartUploads") as x:
        uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    # One key: the uploads are in upload id order, which is random.
    assert sorted(u["ChecksumAlgorithm"] for u in uploads) == ["CRC32", "CRC32C", "SHA1"]
    assert x.text("ChecksumType") == "COMPOSITE"


def test_part_checksum_must_be_the_uploads(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="m", ChecksumAlgorithm="SHA256")
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="m", UploadId=up["UploadId"], PartNumber=1,
                       Body=b"x", ChecksumAlgorithm="CRC32")
    assert code_of(e) == "InvalidRequest"
    assert message_of(e) == ("Checksum Type mismatch occurred, expected checksum Type: sha256, "
                             "actual checksum Type: crc32")


# ---- conditional deletes ----

def test_delete_object_conditions(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="d", Body=b"12345")
    for headers in ({"If-Match": '"0123456789abcdef0123456789abcdef"'},
                    {"x-amz-if-match-size": "4"},
                    {"x-amz-if-match-last-modified-time": "Mon, 01 Jan 2001 00:00:00 GMT"}):
        with Extra(s3, "DeleteObject", headers):
            with pytest.raises(ClientError) as e:
                s3.delete_object(Bucket=bucket, Key="d")
        assert code_of(e) == "PreconditionFailed" and status_of(e) == 412
    assert s3.get_object(Bucket=bucket, Key="d")["Body"].read() == b"12345"
    last = s3.head_object(Bucket=bucket, Key="d")["ResponseMetadata"]["HTTPHeaders"]
    with Extra(s3, "DeleteObject", {"If-Match": put["ETag"], "x-amz-if-match-size": "5",
                                    "x-amz-if-match-last-modified-time": last["last-modified"]}):
        s3.delete_object(Bucket=bucket, Key="d")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="d")
    # If-Match on a key that is not there: NoSuchKey; "*" deletes whatever is there.
    with Extra(s3, "DeleteObject", {"If-Match": "*"}):
        with pytest.raises(ClientError) as e:
            s3.delete_object(Bucket=bucket, Key="d")
        assert code_of(e) == "NoSuchKey" and status_of(e) == 404
        s3.put_object(Bucket=bucket, Key="d", Body=b"again")
        s3.delete_object(Bucket=bucket, Key="d")
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_delete_objects_per_object_etag(s3, bucket):
    members = s3.meta.service_model.shape_for("ObjectIdentifier").members
    if "ETag" not in members:
        pytest.skip("this client generation cannot send a DeleteObjects ETag")
    a = s3.put_object(Bucket=bucket, Key="a", Body=b"a")
    s3.put_object(Bucket=bucket, Key="b", Body=b"b")
    res = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "a", "ETag": a["ETag"]}, {"Key": "b", "ETag": '"ffffffffffffffffffffffffffffffff"'},
        {"Key": "b", "Size": 7}]})
    assert [d["Key"] for d in res["Deleted"]] == ["a"]
    assert [(x["Key"], x["Code"]) for x in res["Errors"]] == [("b", "PreconditionFailed")] * 2
    assert s3.get_object(Bucket=bucket, Key="b")["Body"].read() == b"b"


# ---- governance bypass ----

def user_client(sluice, unique, name, actions, bucket):
    iam = sluice.client("iam")
    user = f"{name}-{unique}"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": actions,
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return boto3.client("s3", endpoint_url=sluice.endpoint, region_name=sluice.region,
                        aws_access_key_id=key["AccessKeyId"],
                        aws_secret_access_key=key["SecretAccessKey"],
                        config=Config(retries={"total_max_attempts": 1}))


def test_bypass_governance_needs_the_permission(sluice, s3, unique):
    bucket = f"gov-{unique}"
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    vids = [s3.put_object(Bucket=bucket, Key="g", Body=b"%d" % i, ObjectLockMode="GOVERNANCE",
                          ObjectLockRetainUntilDate=until)["VersionId"] for i in range(4)]
    base = ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:GetObject", "s3:PutObject",
            "s3:PutObjectRetention"]
    plain = user_client(sluice, unique, "plain", base, bucket)
    bypasser = user_client(sluice, unique, "bypass", base + ["s3:BypassGovernanceRetention"],
                           bucket)
    with pytest.raises(ClientError) as e:
        plain.delete_object(Bucket=bucket, Key="g", VersionId=vids[0],
                            BypassGovernanceRetention=True)
    assert code_of(e) == "AccessDenied" and status_of(e) == 403
    res = plain.delete_objects(Bucket=bucket, BypassGovernanceRetention=True,
                               Delete={"Objects": [{"Key": "g", "VersionId": vids[0]}]})
    assert [x["Code"] for x in res["Errors"]] == ["AccessDenied"]
    bypasser.delete_object(Bucket=bucket, Key="g", VersionId=vids[0],
                           BypassGovernanceRetention=True)
    res = bypasser.delete_objects(Bucket=bucket, BypassGovernanceRetention=True,
                                  Delete={"Objects": [{"Key": "g", "VersionId": vids[1]}]})
    assert [d["VersionId"] for d in res["Deleted"]] == [vids[1]]
    # Shortening a retention likewise.
    with pytest.raises(ClientError) as e:
        plain.put_object_retention(Bucket=bucket, Key="g", VersionId=vids[2],
                                   BypassGovernanceRetention=True,
                                   Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until -
                                              datetime.timedelta(hours=1)})
    assert code_of(e) == "AccessDenied"
    # The account's root may always.
    s3.delete_object(Bucket=bucket, Key="g", VersionId=vids[2], BypassGovernanceRetention=True)
    left = [v["VersionId"] for v in s3.list_object_versions(Bucket=bucket)["Versions"]]
    assert left == [vids[3]]


def test_attributes_need_both_permissions(sluice, s3, bucket, unique):
    s3.put_object(Bucket=bucket, Key="p", Body=b"perm")
    only_get = user_client(sluice, unique, "get", ["s3:GetObject"], bucket)
    both = user_client(sluice, unique, "both", ["s3:GetObject", "s3:GetObjectAttributes"], bucket)
    with pytest.raises(ClientError) as e:
        only_get.get_object_attributes(Bucket=bucket, Key="p", ObjectAttributes=["ObjectSize"])
    assert code_of(e) == "AccessDenied" and "s3:GetObjectAttributes" in message_of(e)
    assert only_get.get_object(Bucket=bucket, Key="p")["Body"].read() == b"perm"
    got = both.get_object_attributes(Bucket=bucket, Key="p", ObjectAttributes=["ObjectSize"])
    assert got["ObjectSize"] == 4
    # A version is asked for with the Version forms of both.
    with pytest.raises(ClientError) as e:
        both.get_object_attributes(Bucket=bucket, Key="p", VersionId="null",
                                   ObjectAttributes=["ObjectSize"])
    assert code_of(e) == "AccessDenied"


# ---- CreateMultipartUpload's ACL ----

def test_acl_of_create_multipart_upload_applies_when_completed(sluice, s3, bucket):
    s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    s3.delete_public_access_block(Bucket=bucket)
    up = s3.create_multipart_upload(Bucket=bucket, Key="pub", ACL="public-read")
    r = s3.upload_part(Bucket=bucket, Key="pub", UploadId=up["UploadId"], PartNumber=1,
                       Body=b"public bytes")
    s3.complete_multipart_upload(Bucket=bucket, Key="pub", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1,
                                                             "ETag": r["ETag"]}]})
    grants = s3.get_object_acl(Bucket=bucket, Key="pub")["Grants"]
    assert any(g["Grantee"].get("URI") == "http://acs.amazonaws.com/groups/global/AllUsers"
               and g["Permission"] == "READ" for g in grants)
    got = requests.get(f"{sluice.endpoint}/{bucket}/pub", timeout=60)
    assert got.status_code == 200 and got.content == b"public bytes"
    # Without an ACL the completed object is the owner's alone.
    up = s3.create_multipart_upload(Bucket=bucket, Key="priv")
    r = s3.upload_part(Bucket=bucket, Key="priv", UploadId=up["UploadId"], PartNumber=1,
                       Body=b"private")
    s3.complete_multipart_upload(Bucket=bucket, Key="priv", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1,
                                                             "ETag": r["ETag"]}]})
    assert requests.get(f"{sluice.endpoint}/{bucket}/priv", timeout=60).status_code == 403


# ---- CORS preflight refusal ----

def raw(sluice, method, path, headers):
    req = urllib.request.Request(sluice.endpoint + path, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_refused_preflight_names_method_and_resource_type(sluice, s3, bucket):
    st, body = raw(sluice, "OPTIONS", f"/{bucket}/k", {
        "Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT"})
    assert st == 403
    root = ET.fromstring(body)
    assert root.findtext("Code") == "AccessForbidden"
    assert root.findtext("Message") == "CORSResponse: CORS is not enabled for this bucket."
    assert root.findtext("Method") == "PUT" and root.findtext("ResourceType") == "OBJECT"
    assert root.find("Resource") is None and root.findtext("RequestId")
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["https://app.example.com"], "AllowedMethods": ["GET"]}]})
    st, body = raw(sluice, "OPTIONS", f"/{bucket}", {
        "Origin": "https://app.example.com", "Access-Control-Request-Method": "DELETE"})
    root = ET.fromstring(body)
    assert st == 403 and root.findtext("Method") == "DELETE"
    assert root.findtext("ResourceType") == "BUCKET"
    assert root.findtext("Message").startswith("CORSResponse: This CORS request is not allowed.")


# ---- POST Object tagging ----

def tagging_xml(tags):
    inner = "".join(f"<Tag><Key>{k}</Key><Value>{v}</Value></Tag>" for k, v in tags)
    return f"<Tagging><TagSet>{inner}</TagSet></Tagging>"


def test_post_object_tagging_field(sluice, s3, bucket):
    signer = sluice.client("s3", config=Config(signature_version="s3v4",
                                               retries={"total_max_attempts": 1}))

    def post(key, doc):
        info = signer.generate_presigned_post(bucket, key, Fields={"tagging": doc},
                                              Conditions=[{"tagging": doc}])
        return requests.post(info["url"], data=info["fields"],
                             files={"file": ("f.txt", b"tagged", "text/plain")}, timeout=60)

    r = post("t", tagging_xml([("team", "lake"), ("tier", "1")]))
    assert r.status_code == 204, r.content
    tags = s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("team", "lake"), ("tier", "1")]
    assert s3.head_object(Bucket=bucket, Key="t")["ResponseMetadata"]["HTTPHeaders"][
        "x-amz-tagging-count"] == "2"
    r = post("many", tagging_xml([(f"k{i}", "v") for i in range(11)]))
    assert r.status_code == 400
    assert ET.fromstring(r.content).findtext("Code") == "InvalidArgument"
    r = post("long", tagging_xml([("k" * 129, "v")]))
    assert r.status_code == 400 and ET.fromstring(r.content).findtext("Code") == "InvalidArgument"
    r = post("bad", "<Tagging><TagSet><Tag><Key>a</Key>")
    assert r.status_code == 400 and ET.fromstring(r.content).findtext("Code") == "MalformedXML"
    for key in ("many", "long", "bad"):
        with pytest.raises(ClientError):
            s3.head_object(Bucket=bucket, Key=key)


# ---- AWS CLI ----

def test_cli_get_object_attributes(sluice, s3, bucket):
    s3.put_object(Bucket=bucket, Key="cli.txt", Body=b"from the cli", ChecksumAlgorithm="SHA1")
    got = sluice.aws("s3api", "get-object-attributes", "--bucket", bucket, "--key", "cli.txt",
                     "--object-attributes", "ETag", "ObjectSize", "Checksum", "StorageClass")
    assert got["ETag"] == hashlib.md5(b"from the cli").hexdigest()
    assert got["ObjectSize"] == 12 and got["StorageClass"] == "STANDARD"
    assert got["Checksum"]["ChecksumSHA1"] == b64(hashlib.sha1(b"from the cli").digest())
