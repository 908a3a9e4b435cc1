"""POST Object: HTML form uploads signed with a policy document, as boto3's
generate_presigned_post makes them (SigV4 and SigV2), sent as a browser would
(multipart/form-data, unsigned), with S3's policy checks and answers."""
import base64
import datetime
import hashlib
import hmac
import json
import xml.etree.ElementTree as ET

import boto3
import pytest
import requests
import urllib3
from botocore.config import Config


@pytest.fixture(scope="module")
def s3(sluice):
    return sluice.client("s3")


@pytest.fixture
def bucket(s3, unique):
    name = f"post-{unique}"
    s3.create_bucket(Bucket=name)
    return name


def signer(sluice, version):
    return sluice.client("s3", config=Config(signature_version=version,
                                             retries={"total_max_attempts": 1}))


def post(post_info, content=b"hello form", filename="f.txt", extra=None):
    fields = dict(post_info["fields"])
    fields.update(extra or {})
    return requests.post(post_info["url"], data=fields,
                         files={"file": (filename, content, "text/plain")}, timeout=60)


def sign_v4(sluice, credential, policy_b64):
    _, day, region, service, _ = credential.split("/")
    key = ("AWS4" + sluice.secret_key).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, policy_b64.encode(), hashlib.sha256).hexdigest()


def code(resp):
    return ET.fromstring(resp.content).findtext("Code")


def message(resp):
    return ET.fromstring(resp.content).findtext("Message")


@pytest.mark.parametrize("version", ["s3v4", "s3"])
def test_presigned_post_uploads(sluice, s3, bucket, version):
    c = signer(sluice, version)
    info = c.generate_presigned_post(bucket, "uploads/a.txt", ExpiresIn=300)
    assert ("x-amz-signature" in info["fields"]) == (version == "s3v4")
    r = post(info)
    assert r.status_code == 204, r.text
    assert r.headers["ETag"] == '"%s"' % hashlib.md5(b"hello form").hexdigest()
    assert r.headers["Location"].endswith(f"/{bucket}/uploads/a.txt")
    got = s3.get_object(Bucket=bucket, Key="uploads/a.txt")
    assert got["Body"].read() == b"hello form"
    assert got["ContentType"] == "text/plain"


def test_filename_variable_status_and_metadata(sluice, s3, bucket):
    c = signer(sluice, "s3v4")
    info = c.generate_presigned_post(
        bucket, "in/${filename}",
        Fields={"success_action_status": "201", "x-amz-meta-owner": "web",
                "Content-Type": "image/png"},
        Conditions=[["starts-with", "$key", "in/"], {"success_action_status": "201"},
                    {"x-amz-meta-owner": "web"}, ["starts-with", "$Content-Type", "image/"],
                    ["content-length-range", 1, 1000]],
        ExpiresIn=300)
    r = post(info, content=b"\x89PNG....", filename="pic.png")
    assert r.status_code == 201, r.text
    doc = ET.fromstring(r.content)
    assert doc.tag == "PostResponse"
    assert doc.findtext("Bucket") == bucket and doc.findtext("Key") == "in/pic.png"
    assert doc.findtext("ETag") == '"%s"' % hashlib.md5(b"\x89PNG....").hexdigest()
    head = s3.head_object(Bucket=bucket, Key="in/pic.png")
    assert head["Metadata"] == {"owner": "web"} and head["ContentType"] == "image/png"
    # 200 answers with no body.
    info = c.generate_presigned_post(bucket, "k200", Fields={"success_action_status": "200"},
                                     Conditions=[{"success_action_status": "200"}])
    r = post(info)
    assert r.status_code == 200 and r.content == b""


def test_redirect_after_upload(sluice, bucket):
    c = signer(sluice, "s3v4")
    target = "https://example.com/done?x=1"
    info = c.generate_presigned_post(bucket, "r.txt",
                                     Fields={"success_action_redirect": target},
                                     Conditions=[{"success_action_redirect": target}])
    r = requests.post(info["url"], data=info["fields"], files={"file": ("r", b"x")},
                      allow_redirects=False, timeout=60)
    assert r.status_code == 303, r.text
    loc = r.headers["Location"]
    assert loc.startswith(target + "&bucket=" + bucket) and "key=r.txt" in loc
    assert "etag=%22" in loc


def test_policy_conditions_are_enforced(sluice, bucket):
    c = signer(sluice, "s3v4")
    info = c.generate_presigned_post(bucket, "user/${filename}",
                                     Conditions=[["starts-with", "$key", "user/"],
                                                 ["content-length-range", 5, 20]])
    assert post(info, content=b"12345").status_code == 204
    r = post(info, content=b"x" * 21)
    assert r.status_code == 400 and code(r) == "EntityTooLarge"
    r = post(info, content=b"1234")
    assert r.status_code == 400 and code(r) == "EntityTooSmall"
    r = post(info, extra={"key": "other/x"})
    assert r.status_code == 403 and code(r) == "AccessDenied"
    assert message(r) == ('Invalid according to Policy: Policy Condition failed: '
                          '["starts-with", "$key", "user/"]')
    r = post(info, extra={"x-amz-meta-extra": "1"})
    assert r.status_code == 403
    assert message(r) == "Invalid according to Policy: Extra input fields: x-amz-meta-extra"
    # A field the policy pins exactly.
    info = c.generate_presigned_post(bucket, "exact")
    r = post(info, extra={"key": "not-exact"})
    assert r.status_code == 403
    assert message(r) == ('Invalid according to Policy: Policy Condition failed: '
                          '["eq", "$key", "exact"]')


def test_expired_forged_and_malformed_forms(sluice, bucket):
    c = signer(sluice, "s3v4")
    info = c.generate_presigned_post(bucket, "x", ExpiresIn=-10)
    r = post(info)
    assert r.status_code == 403 and message(r) == "Invalid according to Policy: Policy expired."
    info = c.generate_presigned_post(bucket, "x")
    r = post(info, extra={"x-amz-signature": "0" * 64})
    assert r.status_code == 403 and code(r) == "SignatureDoesNotMatch"
    for doc, msg in [(b"{not json", "Invalid Policy: Invalid JSON."),
                     (b'{"conditions": []}', "Invalid Policy: Policy missing expiration."),
                     (b'{"expiration": "2099-01-01T00:00:00Z"}',
                      "Invalid Policy: Policy missing conditions.")]:
        f = dict(info["fields"])
        f["policy"] = base64.b64encode(doc).decode()
        f["x-amz-signature"] = sign_v4(sluice, f["x-amz-credential"], f["policy"])
        r = requests.post(info["url"], data=f, files={"file": ("a", b"x")}, timeout=60)
        assert r.status_code == 400 and code(r) == "InvalidPolicyDocument", r.text
        assert message(r) == msg
    f = dict(info["fields"])
    del f["key"]
    r = requests.post(info["url"], data=f, files={"file": ("a", b"x")}, timeout=60)
    assert r.status_code == 400 and code(r) == "InvalidArgument"
    assert "must contain a field named 'key'" in message(r)
    body, ctype = urllib3.encode_multipart_formdata(list(info["fields"].items()))  # no file
    r = requests.post(info["url"], data=body, headers={"Content-Type": ctype}, timeout=60)
    assert r.status_code == 400 and code(r) == "InvalidArgument"
    assert message(r) == "POST requires exactly one file upload per request."
    r = requests.post(info["url"], data=b"--nope\r\n", timeout=60,
                      headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    assert r.status_code == 400 and code(r) == "MalformedPOSTRequest"
    # Unsigned form without a policy: anonymous, refused.
    r = requests.post(info["url"], data={"key": "anon"}, files={"file": ("a", b"x")}, timeout=60)
    assert r.status_code == 403 and code(r) == "AccessDenied"
    # An unknown key.
    f = dict(info["fields"])
    f["x-amz-credential"] = "AKIDUNKNOWN000000000/" + f["x-amz-credential"].split("/", 1)[1]
    r = requests.post(info["url"], data=f, files={"file": ("a", b"x")}, timeout=60)
    assert r.status_code == 403 and code(r) == "InvalidAccessKeyId"


def test_hand_built_form_field_names_any_case_and_fields_after_file(sluice, s3, bucket):
    """A form as a page writes it: mixed-case names, a SigV2 policy, a field after the
    file (ignored), urllib3's own multipart encoding."""
    exp = (datetime.datetime.utcnow() + datetime.timedelta(minutes=5)).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")
    policy = base64.b64encode(json.dumps({"expiration": exp, "conditions": [
        {"bucket": bucket}, ["starts-with", "$key", "hand/"], {"acl": "private"},
        ["eq", "$Content-Type", "text/csv"]]}).encode()).decode()
    sig = base64.b64encode(hmac.new(sluice.secret_key.encode(), policy.encode(),
                                    hashlib.sha1).digest()).decode()
    fields = [("Key", "hand/data.csv"), ("ACL", "private"), ("Content-Type", "text/csv"),
              ("awsAccessKeyId", sluice.access_key), ("Policy", policy), ("Signature", sig),
              ("file", ("data.csv", b"a,b\n1,2\n", "application/octet-stream")),
              ("x-amz-meta-after", "ignored")]
    body, ctype = urllib3.encode_multipart_formdata(fields)
    r = requests.post(f"{sluice.endpoint}/{bucket}", data=body,
                      headers={"Content-Type": ctype}, timeout=60)
    assert r.status_code == 204, r.text
    got = s3.get_object(Bucket=bucket, Key="hand/data.csv")
    assert got["Body"].read() == b"a,b\n1,2\n" and got["ContentType"] == "text/csv"
    assert got["Metadata"] == {}


def test_large_form_upload_spooled(sluice, s3, bucket):
    c = signer(sluice, "s3v4")
    info = c.generate_presigned_post(bucket, "big.bin")
    data = hashlib.sha256(b"seed").digest() * (3 * 1024 * 1024 // 32 + 7)
    r = post(info, content=data)
    assert r.status_code == 204, r.text
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == '"%s"' % hashlib.md5(data).hexdigest()


def test_public_read_acl_field_needs_acls_enabled(sluice, s3, bucket):
    c = signer(sluice, "s3v4")
    info = c.generate_presigned_post(bucket, "p.txt", Fields={"acl": "public-read"},
                                     Conditions=[{"acl": "public-read"}])
    r = post(info)
    assert r.status_code == 400 and code(r) == "AccessControlListNotSupported"
    s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    s3.delete_public_access_block(Bucket=bucket)
    assert post(info).status_code == 204
    assert requests.get(f"{sluice.endpoint}/{bucket}/p.txt", timeout=60).content == b"hello form"


def test_iam_user_without_put_object_is_refused(sluice, s3, bucket, unique):
    iam = sluice.client("iam")
    user = f"poster-{unique}"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject",
                                                "Resource": f"arn:aws:s3:::{bucket}/ok/*"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    c = boto3.client("s3", endpoint_url=sluice.endpoint, region_name=sluice.region,
                     aws_access_key_id=key["AccessKeyId"],
                     aws_secret_access_key=key["SecretAccessKey"],
                     config=Config(signature_version="s3v4"))
    assert post(c.generate_presigned_post(bucket, "ok/a")).status_code == 204
    r = post(c.generate_presigned_post(bucket, "no/a"))
    assert r.status_code == 403 and code(r) == "AccessDenied"
