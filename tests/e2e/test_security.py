"""The front end against hostile clients: old query-signed calls, credential scopes that
name another service or region, SigV2 URLs replayed against another bucket, and the
modes of the files the server leaves on disk."""
import base64
import datetime
import hashlib
import hmac
import http.client
import json
import os
import stat
import time
import urllib.parse
import xml.etree.ElementTree as ET

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from s3_helpers import presign

KINESIS_TARGET = "Kinesis_20131202"


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _quote(s):
    return urllib.parse.quote(s, safe="-_.~")


def signed(server, method, path, headers=None, body=b"", region=None, service="kinesis",
           when=None, query_auth=False, expires=None, extra_query=None):
    """A SigV4-signed request as (url path with query, headers), signed in the header or,
    with query_auth, in the query (X-Amz-Expires only when expires is given)."""
    now = when or datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = now.strftime("%Y%m%d")
    scope = f"{date}/{region or server.region}/{service}/aws4_request"
    host = server.endpoint.split("//", 1)[1]
    h = {"host": host}
    for k, v in (headers or {}).items():
        h[k.lower()] = v
    params = dict(extra_query or {})
    if query_auth:
        params.update({"X-Amz-Algorithm": "AWS4-HMAC-SHA256",
                       "X-Amz-Credential": f"{server.access_key}/{scope}",
                       "X-Amz-Date": amz_date, "X-Amz-SignedHeaders": "host"})
        if expires is not None:
            params["X-Amz-Expires"] = str(expires)
        names = ["host"]
    else:
        h["x-amz-date"] = amz_date
        names = sorted(h)
    query = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(params.items()))
    payload_hash = ("UNSIGNED-PAYLOAD" if service == "s3" and query_auth
                    else hashlib.sha256(body).hexdigest())
    if service == "s3" and not query_auth:
        h["x-amz-content-sha256"] = payload_hash
        names = sorted(h)
    canonical = "\n".join([method, path, query,
                           "".join(f"{n}:{h[n].strip()}\n" for n in names),
                           ";".join(names), payload_hash])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(("AWS4" + server.secret_key).encode(), date)
    for part in (region or server.region, service, "aws4_request"):
        key = _hmac(key, part)
    sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    if query_auth:
        query += f"&X-Amz-Signature={sig}"
    else:
        h["authorization"] = (f"AWS4-HMAC-SHA256 Credential={server.access_key}/{scope}, "
                              f"SignedHeaders={';'.join(names)}, Signature={sig}")
    return path + ("?" + query if query else ""), h


def send(server, method, url, headers, body=b""):
    conn = http.client.HTTPConnection(server.endpoint.split("//", 1)[1], timeout=60)
    conn.putrequest(method, url, skip_host=True, skip_accept_encoding=True)
    for k, v in headers.items():
        conn.putheader(k, v)
    conn.putheader("content-length", str(len(body)))
    conn.endheaders()
    if body:
        conn.send(body)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def s3_error(data):
    """The children of an S3 <Error> document as a dict."""
    root = ET.fromstring(data)
    assert root.tag == "Error"
    return {child.tag: child.text for child in root}


def kinesis_call(server, operation, payload, **sign_kw):
    body = json.dumps(payload).encode()
    url, headers = signed(server, "POST", "/",
                          headers={"x-amz-target": f"{KINESIS_TARGET}.{operation}",
                                   "content-type": "application/x-amz-json-1.1"},
                          body=body, **sign_kw)
    status, data = send(server, "POST", url, headers, body)
    return status, json.loads(data) if data else {}


# ---- query-signed calls without X-Amz-Expires ----

def test_days_old_query_signed_delete_stream_is_refused(sluice, unique):
    kinesis = sluice.client("kinesis")
    name = f"sec-old-{unique}"
    kinesis.create_stream(StreamName=name, ShardCount=1)
    # Six days old: within the week a URL may live, but this one names no X-Amz-Expires.
    days_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=6)
    status, out = kinesis_call(sluice, "DeleteStream", {"StreamName": name},
                               when=days_ago, query_auth=True)
    assert status == 400, out
    assert out["__type"] == "InvalidSignatureException"
    assert out["message"].startswith("Signature expired: ")
    assert kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    # Sixteen minutes is too old as well; a fresh one is accepted.
    late = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=16)
    status, out = kinesis_call(sluice, "DeleteStream", {"StreamName": name},
                               when=late, query_auth=True)
    assert status == 400 and out["__type"] == "InvalidSignatureException", out
    status, out = kinesis_call(sluice, "DescribeStreamSummary", {"StreamName": name},
                               query_auth=True)
    assert status == 200, out
    # With X-Amz-Expires the URL lives that long.
    status, out = kinesis_call(sluice, "DescribeStreamSummary", {"StreamName": name},
                               when=late, query_auth=True, expires=3600)
    assert status == 200, out
    status, out = kinesis_call(sluice, "DescribeStreamSummary", {"StreamName": name},
                               when=days_ago, query_auth=True, expires=3600)
    assert status == 400 and out["__type"] == "ExpiredTokenException", out


def test_s3_presigned_url_dated_in_the_future_is_not_yet_valid(sluice, unique):
    s3 = sluice.client("s3")
    bucket = f"sec-future-{unique}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    ahead = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    r = requests.get(presign(sluice, "GET", f"/{bucket}/k", 60, when=ahead), timeout=30)
    assert r.status_code == 403, r.text
    err = s3_error(r.content)
    assert (err["Code"], err["Message"]) == ("AccessDenied", "Request is not yet valid")
    soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=5)
    r = requests.get(presign(sluice, "GET", f"/{bucket}/k", 60, when=soon), timeout=30)
    assert r.status_code == 200 and r.content == b"x"


def test_s3_presigned_url_living_over_a_week_is_refused(sluice, unique):
    s3 = sluice.client("s3")
    bucket = f"sec-week-{unique}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    r = requests.get(presign(sluice, "GET", f"/{bucket}/k", 604801), timeout=30)
    assert r.status_code == 400, r.text
    err = s3_error(r.content)
    assert err["Code"] == "AuthorizationQueryParametersError"
    assert err["Message"] == "X-Amz-Expires must be less than a week (in seconds) that is 604800"
    r = requests.get(presign(sluice, "GET", f"/{bucket}/k", 604800), timeout=30)
    assert r.status_code == 200 and r.content == b"x"


# ---- credential scope: service and region ----

def test_kinesis_call_signed_for_another_service_is_refused(sluice, unique):
    kinesis = sluice.client("kinesis")
    name = f"sec-svc-{unique}"
    kinesis.create_stream(StreamName=name, ShardCount=1)
    for service in ("s3", "glue", "sts"):
        status, out = kinesis_call(sluice, "DeleteStream", {"StreamName": name},
                                   service=service)
        assert status == 400, out
        assert out == {"__type": "InvalidSignatureException",
                       "message": "Credential should be scoped to correct service: 'kinesis'. "}
    assert kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    status, out = kinesis_call(sluice, "ListStreams", {})
    assert status == 200, out


def test_kinesis_call_scoped_to_another_region_is_refused(sluice, unique):
    for region in ("eu-west-3", "xx-invented-9"):
        kinesis = sluice.client("kinesis", region_name=region)
        with pytest.raises(ClientError) as e:
            # An invented region used to get a fresh shard quota of its own.
            kinesis.create_stream(StreamName=f"sec-region-{unique}", ShardCount=1)
        err = e.value.response["Error"]
        assert err["Code"] == "InvalidSignatureException"
        assert err["Message"] == f"Credential should be scoped to a valid region, not '{region}'. "
    assert f"sec-region-{unique}" not in sluice.client("kinesis").list_streams()["StreamNames"]


def test_glue_and_sts_calls_scoped_to_another_region_are_refused(sluice):
    glue = sluice.client("glue", region_name="ap-south-2")
    with pytest.raises(ClientError) as e:
        glue.get_databases()
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"
    sts = sluice.client("sts", region_name="ap-south-2")
    with pytest.raises(ClientError) as e:
        sts.get_caller_identity()
    err = e.value.response["Error"]
    assert err["Code"] == "SignatureDoesNotMatch"
    assert err["Message"] == "Credential should be scoped to a valid region, not 'ap-south-2'. "
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_s3_request_scoped_to_another_region_names_the_right_one(sluice, unique):
    bucket = f"sec-s3region-{unique}"
    sluice.client("s3").create_bucket(Bucket=bucket)
    url, headers = signed(sluice, "GET", f"/{bucket}", service="s3", region="eu-west-3")
    status, data = send(sluice, "GET", url, headers)
    assert status == 400, data
    assert s3_error(data) | {"RequestId": None} == {
        "Code": "AuthorizationHeaderMalformed",
        "Message": "The authorization header is malformed; the region 'eu-west-3' is wrong; "
                   "expecting 'us-east-1'",
        "Region": "us-east-1", "RequestId": None}
    # the presigned form
    url, headers = signed(sluice, "GET", f"/{bucket}", service="s3", region="eu-west-3",
                          query_auth=True, expires=60)
    status, data = send(sluice, "GET", url, headers)
    assert status == 400, data
    assert s3_error(data) | {"RequestId": None} == {
        "Code": "AuthorizationQueryParametersError",
        "Message": "Error parsing the X-Amz-Credential parameter; the region 'eu-west-3' is "
                   "wrong; expecting 'us-east-1'",
        "Region": "us-east-1", "RequestId": None}
    # an unknown service's scope is routed to S3 and refused there
    url, headers = signed(sluice, "GET", f"/{bucket}", service="sqs")
    status, data = send(sluice, "GET", url, headers)
    assert status == 400, data
    err = s3_error(data)
    assert err["Code"] == "AuthorizationHeaderMalformed"
    assert err["Message"] == ('The authorization header is malformed; incorrect service "sqs". '
                              'This endpoint belongs to "s3".')
    assert "Region" not in err
    # and the right scope works
    url, headers = signed(sluice, "GET", f"/{bucket}", service="s3")
    status, data = send(sluice, "GET", url, headers)
    assert status == 200, data


def test_server_region_is_the_one_clients_must_use(fresh_sluice, unique):
    server = fresh_sluice
    server.region = "eu-central-1"
    server.start()
    kinesis = server.client("kinesis")
    kinesis.create_stream(StreamName=f"sec-eu-{unique}", ShardCount=1)
    with pytest.raises(ClientError) as e:
        server.client("kinesis", region_name="us-east-1").list_streams()
    assert e.value.response["Error"]["Message"] == (
        "Credential should be scoped to a valid region, not 'us-east-1'. ")
    s3 = server.client("s3")
    s3.create_bucket(Bucket=f"sec-eu-{unique}",
                     CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    assert s3.list_objects_v2(Bucket=f"sec-eu-{unique}")["KeyCount"] == 0


# ---- SigV2 presigned URLs, virtual-hosted ----

def _virtual_client(server):
    """boto3 S3 client whose URLs name the bucket in the host (bucket.localhost:port)."""
    return boto3.client("s3", endpoint_url=f"http://localhost:{server.port}",
                        aws_access_key_id=server.access_key,
                        aws_secret_access_key=server.secret_key, region_name=server.region,
                        config=Config(s3={"addressing_style": "virtual"},
                                      retries={"total_max_attempts": 1}))


def _to_loopback(url):
    """(URL on 127.0.0.1, Host header) for a URL on <bucket>.localhost:port."""
    parts = urllib.parse.urlsplit(url)
    port = parts.netloc.rsplit(":", 1)[1]
    return urllib.parse.urlunsplit(("http", f"127.0.0.1:{port}", parts.path, parts.query,
                                    "")), parts.netloc


def test_boto3_virtual_hosted_sigv2_urls_work(sluice, unique):
    bucket = f"sec-vh-{unique}"
    sluice.client("s3").create_bucket(Bucket=bucket)
    vs3 = _virtual_client(sluice)
    put_url = vs3.generate_presigned_url("put_object",
                                         Params={"Bucket": bucket, "Key": "dir/a b.txt"},
                                         ExpiresIn=60)
    assert put_url.startswith(f"http://{bucket}.localhost:{sluice.port}/dir/a%20b.txt?")
    assert "AWSAccessKeyId=" in put_url  # the SigV2 form
    url, host = _to_loopback(put_url)
    r = requests.put(url, data=b"virtual v2", headers={"Host": host}, timeout=30)
    assert r.status_code == 200, r.text
    get_url = vs3.generate_presigned_url("get_object",
                                         Params={"Bucket": bucket, "Key": "dir/a b.txt"},
                                         ExpiresIn=60)
    url, host = _to_loopback(get_url)
    r = requests.get(url, headers={"Host": host}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.content == b"virtual v2"
    list_url = vs3.generate_presigned_url("list_objects", Params={"Bucket": bucket},
                                          ExpiresIn=60)
    url, host = _to_loopback(list_url)
    r = requests.get(url, headers={"Host": host}, timeout=30)
    assert r.status_code == 200, r.text
    assert "<Key>dir/a%20b.txt</Key>" in r.text  # boto3 asks for encoding-type=url


def _sigv2_url(server, method, host, path, resource, expires):
    sts = f"{method}\n\n\n{expires}\n{resource}"
    sig = base64.b64encode(hmac.new(server.secret_key.encode(), sts.encode(),
                                    hashlib.sha1).digest()).decode()
    query = urllib.parse.urlencode({"AWSAccessKeyId": server.access_key,
                                    "Expires": str(expires), "Signature": sig})
    return f"http://127.0.0.1:{server.port}{path}?{query}", host


def test_sigv2_url_for_one_bucket_cannot_write_into_another(sluice, unique):
    s3 = sluice.client("s3")
    mine, theirs = f"sec-v2a-{unique}", f"sec-v2b-{unique}"
    s3.create_bucket(Bucket=mine)
    s3.create_bucket(Bucket=theirs)
    expires = int(time.time()) + 60
    # A URL for mine, replayed with the other bucket in the Host header.
    url, _ = _sigv2_url(sluice, "PUT", None, "/up", f"/{mine}/up", expires)
    r = requests.put(url, data=b"intruder", headers={"Host": f"{theirs}.localhost:{sluice.port}"},
                     timeout=30)
    assert r.status_code == 403, r.text
    assert s3_error(r.content)["Code"] == "SignatureDoesNotMatch"
    # A signature that leaves the bucket out covers no bucket at all.
    url, _ = _sigv2_url(sluice, "PUT", None, "/up", "/up", expires)
    for bucket in (mine, theirs):
        r = requests.put(url, data=b"intruder",
                         headers={"Host": f"{bucket}.localhost:{sluice.port}"}, timeout=30)
        assert r.status_code == 403, r.text
    assert s3.list_objects_v2(Bucket=theirs)["KeyCount"] == 0
    assert s3.list_objects_v2(Bucket=mine)["KeyCount"] == 0
    # The URL works for its own bucket.
    url, _ = _sigv2_url(sluice, "PUT", None, "/up", f"/{mine}/up", expires)
    r = requests.put(url, data=b"mine", headers={"Host": f"{mine}.localhost:{sluice.port}"},
                     timeout=30)
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket=mine, Key="up")["Body"].read() == b"mine"


# ---- at rest ----

def test_data_directory_is_private_to_its_owner(fresh_sluice, unique):
    server = fresh_sluice
    server.start()
    kinesis = server.client("kinesis")
    kinesis.create_stream(StreamName="private", ShardCount=2)
    kinesis.get_waiter("stream_exists").wait(StreamName="private",
                                             WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    kinesis.put_records(StreamName="private",
                        Records=[{"Data": b"secret", "PartitionKey": str(i)} for i in range(20)])
    s3 = server.client("s3")
    s3.create_bucket(Bucket="private")
    s3.put_object(Bucket="private", Key="k", Body=b"secret" * 1000)
    up = s3.create_multipart_upload(Bucket="private", Key="mp")
    s3.upload_part(Bucket="private", Key="mp", UploadId=up["UploadId"], PartNumber=1,
                   Body=b"part")
    server.client("glue").create_database(DatabaseInput={"Name": "private"})
    code = server.stop()
    assert code == 0
    checked = 0
    for root, dirs, files in os.walk(server.data_dir):
        for name in dirs + files:
            path = os.path.join(root, name)
            if path == server.log_path:
                continue  # written by this test harness, not by the server
            mode = stat.S_IMODE(os.lstat(path).st_mode)
            assert mode & 0o077 == 0, f"{path} has mode {mode:o}"
            checked += 1
    assert checked >= 10
