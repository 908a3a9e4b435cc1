"""S3 CORS and access control end to end: bucket CORS rules, browser preflights and the
Access-Control-* headers of actual requests; ownership controls, ACLs (canned, grant
headers, AccessControlPolicy documents), public access blocks, policy status, and
unsigned reads a public-read ACL lets through."""
import json
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError


@pytest.fixture(scope="module")
def s3(sluice):
    return sluice.client("s3")


@pytest.fixture
def bucket(s3, unique):
    name = f"acc-{unique}"
    s3.create_bucket(Bucket=name)
    return name


def code_of(e):
    return e.value.response["Error"]["Code"]


def message_of(e):
    return e.value.response["Error"]["Message"]


def raw(sluice, method, path, headers=None, data=None):
    """An unsigned request, as a browser or anonymous client sends it."""
    req = urllib.request.Request(sluice.endpoint + path, method=method, headers=headers or {},
                                 data=data)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


RULES = [
    {"ID": "app", "AllowedOrigins": ["https://app.example.com", "https://*.example.org"],
     "AllowedMethods": ["GET", "PUT"], "AllowedHeaders": ["x-amz-*", "Content-Type"],
     "ExposeHeaders": ["ETag", "x-amz-request-id"], "MaxAgeSeconds": 600},
    {"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "HEAD"]},
]


# ---- CORS ----

def test_cors_configuration_round_trip(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert code_of(e) == "NoSuchCORSConfiguration"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    got = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert got[0]["ID"] == "app"
    assert got[0]["AllowedOrigins"] == RULES[0]["AllowedOrigins"]
    assert got[0]["AllowedMethods"] == ["GET", "PUT"]
    assert got[0]["AllowedHeaders"] == ["x-amz-*", "Content-Type"]
    assert got[0]["ExposeHeaders"] == ["ETag", "x-amz-request-id"]
    assert got[0]["MaxAgeSeconds"] == 600
    assert got[1]["AllowedOrigins"] == ["*"] and "ID" not in got[1]
    s3.delete_bucket_cors(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert code_of(e) == "NoSuchCORSConfiguration"


@pytest.mark.parametrize("rules, code, message", [
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}], "InvalidRequest",
     "Found unsupported HTTP method in CORS config. Unsupported method is PATCH"),
    ([{"AllowedOrigins": ["https://*.a.*"], "AllowedMethods": ["GET"]}], "InvalidRequest",
     'AllowedOrigin "https://*.a.*" can not have more than one wildcard.'),
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}] * 101, "InvalidRequest",
     "The number of CORS rules should not exceed allowed limit of 100 rules."),
    ([], "MalformedXML", None),
])
def test_cors_configuration_validation(s3, bucket, rules, code, message):
    with pytest.raises(ClientError) as e:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    assert code_of(e) == code
    if message:
        assert message_of(e) == message


def test_cors_on_missing_bucket(s3, unique):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=f"none-{unique}")
    assert code_of(e) == "NoSuchBucket"


def test_preflight_evaluated_against_rules(sluice, s3, bucket):
    path = f"/{bucket}/some/key.txt"
    st, h, body = raw(sluice, "OPTIONS", path, {"Origin": "https://app.example.com",
                                                "Access-Control-Request-Method": "PUT"})
    assert st == 403 and b"<Code>AccessForbidden</Code>" in body
    assert b"CORS is not enabled for this bucket." in body
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    st, h, body = raw(sluice, "OPTIONS", path, {
        "Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type, x-amz-meta-owner"})
    assert st == 200, body
    assert h["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert h["Access-Control-Allow-Methods"] == "GET, PUT"
    assert h["Access-Control-Allow-Headers"] == "content-type, x-amz-meta-owner"
    assert h["Access-Control-Expose-Headers"] == "ETag, x-amz-request-id"
    assert h["Access-Control-Max-Age"] == "600"
    assert h["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in h["Vary"]
    # A wildcard origin of the first rule, on the bucket itself.
    st, h, _ = raw(sluice, "OPTIONS", f"/{bucket}", {
        "Origin": "https://shop.example.org", "Access-Control-Request-Method": "GET"})
    assert st == 200 and h["Access-Control-Allow-Origin"] == "https://shop.example.org"
    # The second rule answers any origin, for GET and HEAD only.
    st, h, _ = raw(sluice, "OPTIONS", path, {"Origin": "https://other.test",
                                             "Access-Control-Request-Method": "HEAD"})
    assert st == 200 and h["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in h
    for headers in ({"Origin": "https://other.test", "Access-Control-Request-Method": "PUT"},
                    {"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT",
                     "Access-Control-Request-Headers": "x-custom"}):
        st, h, body = raw(sluice, "OPTIONS", path, headers)
        assert st == 403
        assert b"<Code>AccessForbidden</Code>" in body
        assert b"CORSResponse: This CORS request is not allowed." in body
    st, _, body = raw(sluice, "OPTIONS", path, {"Access-Control-Request-Method": "GET"})
    assert st == 400 and b"Origin request header needed" in body
    st, _, body = raw(sluice, "OPTIONS", path, {"Origin": "https://app.example.com"})
    assert st == 400 and b"<Code>BadRequest</Code>" in body


def test_actual_requests_carry_cors_headers(sluice, s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    seen = {}

    def add_origin(request, **_):
        request.headers["Origin"] = "https://app.example.com"

    def keep(http_response, **_):
        seen.update(http_response.headers)

    c = sluice.client("s3")
    c.meta.events.register("before-sign.s3.GetObject", add_origin)
    c.meta.events.register("after-call.s3.GetObject", keep)
    assert c.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    assert seen["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert seen["Access-Control-Allow-Methods"] == "GET, PUT"
    assert seen["Access-Control-Expose-Headers"] == "ETag, x-amz-request-id"
    # Without an Origin, no CORS headers.
    seen.clear()
    c2 = sluice.client("s3")
    c2.meta.events.register("after-call.s3.GetObject", keep)
    c2.get_object(Bucket=bucket, Key="k")
    assert "Access-Control-Allow-Origin" not in seen


# ---- ownership, ACLs ----

def test_ownership_controls_default_enforced_disables_acls(s3, bucket):
    rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    acl = s3.get_bucket_acl(Bucket=bucket)
    assert [g["Permission"] for g in acl["Grants"]] == ["FULL_CONTROL"]
    assert acl["Grants"][0]["Grantee"]["ID"] == acl["Owner"]["ID"]
    # The owner's own ACL is accepted; anything more is refused.
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    with pytest.raises(ClientError) as e:
        s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    assert code_of(e) == "AccessControlListNotSupported"
    assert message_of(e) == "The bucket does not allow ACLs"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="public-read")
    assert code_of(e) == "AccessControlListNotSupported"
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="bucket-owner-full-control")
    oacl = s3.get_object_acl(Bucket=bucket, Key="k")
    assert [g["Permission"] for g in oacl["Grants"]] == ["FULL_CONTROL"]
    s3.delete_bucket_ownership_controls(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_ownership_controls(Bucket=bucket)
    assert code_of(e) == "OwnershipControlsNotFoundError"
    with pytest.raises(ClientError) as e:
        s3.put_bucket_ownership_controls(
            Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "Nobody"}]})
    assert code_of(e) == "MalformedXML"


def test_create_bucket_with_acl_needs_acls_enabled(s3, unique):
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=f"cacl-{unique}", ACL="public-read")
    assert code_of(e) == "InvalidBucketAclWithObjectOwnership"
    s3.create_bucket(Bucket=f"cacl-{unique}", ObjectOwnership="ObjectWriter")
    rules = s3.get_bucket_ownership_controls(Bucket=f"cacl-{unique}")
    assert rules["OwnershipControls"]["Rules"][0]["ObjectOwnership"] == "ObjectWriter"


def test_acls_when_enabled(s3, bucket):
    s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
    # The public access block is on by default: public ACLs are refused.
    with pytest.raises(ClientError) as e:
        s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    assert code_of(e) == "AccessDenied"
    s3.delete_public_access_block(Bucket=bucket)
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    grants = s3.get_bucket_acl(Bucket=bucket)["Grants"]
    assert {(g["Grantee"].get("URI"), g["Permission"]) for g in grants} == {
        (None, "FULL_CONTROL"), ("http://acs.amazonaws.com/groups/global/AllUsers", "READ")}
    # Grant headers.
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]
    s3.put_bucket_acl(Bucket=bucket, GrantRead=f'id="{owner}"',
                      GrantFullControl='uri="http://acs.amazonaws.com/groups/global/AuthenticatedUsers"')
    grants = s3.get_bucket_acl(Bucket=bucket)["Grants"]
    assert {g["Permission"] for g in grants} == {"READ", "FULL_CONTROL"}
    # An AccessControlPolicy document.
    s3.put_object(Bucket=bucket, Key="o", Body=b"x")
    s3.put_object_acl(Bucket=bucket, Key="o", AccessControlPolicy={
        "Owner": {"ID": owner},
        "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": owner}, "Permission": "FULL_CONTROL"},
                   {"Grantee": {"Type": "Group",
                                "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
                    "Permission": "READ"}]})
    grants = s3.get_object_acl(Bucket=bucket, Key="o")["Grants"]
    assert len(grants) == 2 and grants[1]["Grantee"]["Type"] == "Group"
    # A new write of the key starts private again.
    s3.put_object(Bucket=bucket, Key="o", Body=b"yy")
    assert len(s3.get_object_acl(Bucket=bucket, Key="o")["Grants"]) == 1
    with pytest.raises(ClientError) as e:
        s3.put_object_acl(Bucket=bucket, Key="o", ACL="private", GrantRead=f'id="{owner}"')
    assert code_of(e) == "InvalidRequest"
    with pytest.raises(ClientError) as e:
        s3.get_object_acl(Bucket=bucket, Key="missing")
    assert code_of(e) == "NoSuchKey"


# ---- public access block, policy status ----

def public_policy(bucket):
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*"}]})


def test_public_access_block_and_policy_status(s3, bucket):
    pab = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert pab == {"BlockPublicAcls": True, "IgnorePublicAcls": True,
                   "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    with pytest.raises(ClientError) as e:
        s3.put_bucket_policy(Bucket=bucket, Policy=public_policy(bucket))
    assert code_of(e) == "AccessDenied"
    assert "BlockPublicPolicy" in message_of(e)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_policy_status(Bucket=bucket)
    assert code_of(e) == "NoSuchBucketPolicy"
    # A policy bound to an account is not public, and is allowed.
    private = json.loads(public_policy(bucket))
    private["Statement"][0]["Condition"] = {"StringEquals": {"aws:SourceAccount": "000000000000"}}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(private))
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
        "RestrictPublicBuckets": False})
    pab = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert pab["BlockPublicAcls"] is True and pab["BlockPublicPolicy"] is False
    s3.put_bucket_policy(Bucket=bucket, Policy=public_policy(bucket))
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True
    s3.delete_public_access_block(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_public_access_block(Bucket=bucket)
    assert code_of(e) == "NoSuchPublicAccessBlockConfiguration"


# ---- unsigned requests ----

def test_anonymous_get_needs_public_read_acl(sluice, s3, bucket):
    s3.put_object(Bucket=bucket, Key="pub.txt", Body=b"hello")
    st, _, body = raw(sluice, "GET", f"/{bucket}/pub.txt")
    assert st == 403 and b"<Code>AccessDenied</Code>" in body
    s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    s3.delete_public_access_block(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="pub.txt", Body=b"hello", ACL="public-read")
    st, h, body = raw(sluice, "GET", f"/{bucket}/pub.txt")
    assert st == 200 and body == b"hello"
    st, _, _ = raw(sluice, "HEAD", f"/{bucket}/pub.txt")
    assert st == 200
    # Other objects, other methods and subresources stay closed to anonymous callers.
    s3.put_object(Bucket=bucket, Key="priv.txt", Body=b"secret")
    assert raw(sluice, "GET", f"/{bucket}/priv.txt")[0] == 403
    assert raw(sluice, "GET", f"/{bucket}/pub.txt?acl")[0] == 403
    assert raw(sluice, "PUT", f"/{bucket}/pub.txt", data=b"x")[0] == 403
    assert raw(sluice, "DELETE", f"/{bucket}/pub.txt")[0] == 403
    assert raw(sluice, "GET", f"/{bucket}")[0] == 403
    assert raw(sluice, "GET", f"/{bucket}/pub.txt", data=b"body")[0] == 403  # never read
    assert len(s3.get_object_acl(Bucket=bucket, Key="pub.txt")["Grants"]) == 2
    # IgnorePublicAcls shuts it again, and so does turning ACLs off.
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": True, "BlockPublicPolicy": False,
        "RestrictPublicBuckets": False})
    assert raw(sluice, "GET", f"/{bucket}/pub.txt")[0] == 403
    s3.delete_public_access_block(Bucket=bucket)
    assert raw(sluice, "GET", f"/{bucket}/pub.txt")[0] == 200
    s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    assert raw(sluice, "GET", f"/{bucket}/pub.txt")[0] == 403
    assert len(s3.get_object_acl(Bucket=bucket, Key="pub.txt")["Grants"]) == 1


def test_public_read_bucket_lists_anonymously(sluice, s3, bucket):
    s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    s3.delete_public_access_block(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="a", Body=b"1")
    assert raw(sluice, "GET", f"/{bucket}?list-type=2")[0] == 403
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    st, _, body = raw(sluice, "GET", f"/{bucket}?list-type=2&prefix=a")
    assert st == 200 and b"<Key>a</Key>" in body
    # Reading an object still needs the object's own grant.
    assert raw(sluice, "GET", f"/{bucket}/a")[0] == 403


def test_public_bucket_policy_opens_reads_unless_restricted(sluice, s3, bucket):
    s3.put_object(Bucket=bucket, Key="site/index.html", Body=b"<html/>")
    s3.put_object(Bucket=bucket, Key="private/x", Body=b"x")
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False,
        "RestrictPublicBuckets": True})
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject"],
             "Resource": f"arn:aws:s3:::{bucket}/site/*"},
            {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:Get*",
             "Resource": f"arn:aws:s3:::{bucket}/site/secret*"}]}))
    # RestrictPublicBuckets keeps the public policy to the account.
    assert raw(sluice, "GET", f"/{bucket}/site/index.html")[0] == 403
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False,
        "RestrictPublicBuckets": False})
    st, _, body = raw(sluice, "GET", f"/{bucket}/site/index.html")
    assert st == 200 and body == b"<html/>"
    assert raw(sluice, "GET", f"/{bucket}/private/x")[0] == 403
    assert raw(sluice, "GET", f"/{bucket}?list-type=2")[0] == 403
    s3.put_object(Bucket=bucket, Key="site/secret.txt", Body=b"s")
    assert raw(sluice, "GET", f"/{bucket}/site/secret.txt")[0] == 403


# ---- the AWS CLI ----

def test_cli_cors_and_access_flow(sluice, unique, tmp_path):
    b = f"cli-acc-{unique}"
    sluice.aws("s3api", "create-bucket", "--bucket", b)
    cors = tmp_path / "cors.json"
    cors.write_text(json.dumps({"CORSRules": [{"AllowedOrigins": ["https://x.test"],
                                               "AllowedMethods": ["GET"]}]}))
    sluice.aws("s3api", "put-bucket-cors", "--bucket", b, "--cors-configuration",
               f"file://{cors}")
    got = sluice.aws("s3api", "get-bucket-cors", "--bucket", b)
    assert got["CORSRules"][0]["AllowedOrigins"] == ["https://x.test"]
    own = sluice.aws("s3api", "get-bucket-ownership-controls", "--bucket", b)
    assert own["OwnershipControls"]["Rules"][0]["ObjectOwnership"] == "BucketOwnerEnforced"
    pab = sluice.aws("s3api", "get-public-access-block", "--bucket", b)
    assert pab["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True
    sluice.aws("s3api", "put-bucket-ownership-controls", "--bucket", b, "--ownership-controls",
               "Rules=[{ObjectOwnership=ObjectWriter}]")
    sluice.aws("s3api", "delete-public-access-block", "--bucket", b)
    sluice.aws("s3api", "put-bucket-acl", "--bucket", b, "--acl", "public-read")
    acl = sluice.aws("s3api", "get-bucket-acl", "--bucket", b)
    assert any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in acl["Grants"])
    sluice.aws("s3api", "delete-bucket-cors", "--bucket", b)
