"""The HTTP front end: SigV4 outcomes, protocol error shapes, limits, keep-alive."""
import datetime
import json
import socket

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

TARGET = "Kinesis_20131202."
JSON_TYPE = "application/x-amz-json-1.1"


@pytest.fixture(scope="module")
def sluice(sluice_unlimited):
    """The front end is under test here, with signed ListStreams calls as its cheap probe,
    many a second: the module's server runs without the Kinesis throughput limits."""
    return sluice_unlimited


def signed(sluice, body, target, key=None, secret=None, service="kinesis", when=None):
    headers = {"Content-Type": JSON_TYPE, "X-Amz-Target": TARGET + target}
    req = AWSRequest(method="POST", url=sluice.endpoint + "/", data=body, headers=headers)
    creds = Credentials(key or sluice.access_key, secret or sluice.secret_key)
    auth = SigV4Auth(creds, service, sluice.region)
    if when is not None:
        # Sign as if at another time, the way a skewed client clock would.
        auth._modify_request_before_signing = lambda r: None
        r = req
        r.headers["X-Amz-Date"] = when.strftime("%Y%m%dT%H%M%SZ")
        r.context["timestamp"] = when.strftime("%Y%m%dT%H%M%SZ")
        auth.add_auth = SigV4Auth.add_auth.__get__(auth)
        original = datetime.datetime
        import botocore.auth as ba

        class Frozen(original):
            @classmethod
            def utcnow(cls):
                return when

            @classmethod
            def now(cls, tz=None):
                return when if tz is None else when.replace(tzinfo=tz)
        ba.datetime.datetime = Frozen
        try:
            SigV4Auth(creds, service, sluice.region).add_auth(req)
        finally:
            ba.datetime.datetime = original
    else:
        auth.add_auth(req)
    return dict(req.headers)


def post(sluice, body, target, **kw):
    headers = signed(sluice, body, target, **kw)
    return requests.post(sluice.endpoint + "/", data=body, headers=headers, timeout=30)


def test_request_id_and_json_content_type(sluice):
    r = post(sluice, b"{}", "ListStreams")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == JSON_TYPE
    assert len(r.headers["x-amzn-RequestId"]) == 36
    assert "StreamNames" in r.json()


def test_unknown_access_key(sluice):
    r = post(sluice, b"{}", "ListStreams", key="AKIANOSUCHKEY0000000")
    assert r.status_code == 400
    assert r.json()["__type"] == "UnrecognizedClientException"
    assert r.headers["x-amzn-RequestId"]


def test_bad_signature(sluice):
    r = post(sluice, b"{}", "ListStreams", secret="wrong-secret")
    assert r.status_code == 400
    assert r.json()["__type"] == "InvalidSignatureException"


def test_body_changed_after_signing_fails_signature(sluice):
    headers = signed(sluice, b'{"Limit": 1}', "ListStreams")
    r = requests.post(sluice.endpoint + "/", data=b'{"Limit": 2}', headers=headers)
    assert r.json()["__type"] == "InvalidSignatureException"


def test_clock_skew_over_15_minutes(sluice):
    when = datetime.datetime.utcnow() - datetime.timedelta(minutes=20)
    r = post(sluice, b"{}", "ListStreams", when=when)
    assert r.status_code == 400
    body = r.json()
    assert body["__type"] == "InvalidSignatureException"
    assert "Signature expired" in body["message"]


def test_missing_authentication(sluice):
    r = requests.post(sluice.endpoint + "/", data=b"{}",
                      headers={"Content-Type": JSON_TYPE, "X-Amz-Target": TARGET + "ListStreams"})
    assert r.status_code == 400
    assert r.json()["__type"] == "MissingAuthenticationTokenException"


def test_malformed_json_and_wrong_types(sluice):
    for body in [b"{", b"[]", b'{"StreamName": 5}', b"\xff\xfe", b'{"Limit": "ten"}']:
        target = "DescribeStream" if b"StreamName" in body else "ListStreams"
        r = post(sluice, body, target)
        assert r.status_code == 400, body
        assert r.json()["__type"] == "SerializationException", body


def test_malformed_put_records_bodies(sluice):
    bodies = [b'{"StreamName":"x","Records":{}}', b'{"StreamName":"x","Records":[1]}',
              b'{"StreamName":"x","Records":[{"Data":"!!!!","PartitionKey":"k"}]}',
              b'{"StreamName":"x","Records":[{"Data":"YQ==","PartitionKey":7}]}',
              b'{"StreamName":"x","Records":[{"Data":"YQ==","PartitionKey":"k"}', b"",
              b'{"ShardIterator": 7}']
    for body in bodies:
        target = "GetRecords" if b"ShardIterator" in body else "PutRecords"
        r = post(sluice, body, target)
        assert r.status_code == 400, body
        assert r.json()["__type"] in ("SerializationException", "ResourceNotFoundException",
                                      "ValidationException"), (body, r.text)


def test_unknown_operation_and_target(sluice):
    r = post(sluice, b"{}", "NoSuchOperation")
    assert r.json()["__type"] == "UnknownOperationException"
    headers = signed(sluice, b"{}", "ListStreams")
    headers["X-Amz-Target"] = "NoSuchService_2020.Op"
    r = requests.post(sluice.endpoint + "/", data=b"{}", headers=headers)
    assert r.status_code == 400


def test_oversized_body_is_refused_without_reading_it(sluice):
    s = socket.create_connection(("127.0.0.1", sluice.port), timeout=10)
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
              b"X-Amz-Target: Kinesis_20131202.PutRecords\r\n"
              b"Content-Length: 1073741824\r\n\r\n")
    reply = s.recv(65536)
    s.close()
    assert reply.startswith(b"HTTP/1.1 413")
    assert b"RequestEntityTooLargeException" in reply


def test_keep_alive_reuses_one_connection(sluice):
    session = requests.Session()
    ports = set()
    for _ in range(5):
        body = b"{}"
        r = session.post(sluice.endpoint + "/", data=body,
                         headers=signed(sluice, body, "ListStreams"), stream=True)
        ports.add(r.raw._connection.sock.getsockname()[1])
        r.content
        assert r.status_code == 200
    assert len(ports) == 1


def test_sts_get_caller_identity_and_query_errors(sluice):
    sts = sluice.client("sts")
    ident = sts.get_caller_identity()
    assert ident["Account"] == "000000000000"
    assert ident["Arn"] == "arn:aws:iam::000000000000:root"
    bad = sluice.client("sts", aws_access_key_id="AKIANOSUCHKEY0000000") if False else None
    import boto3
    bad = boto3.client("sts", endpoint_url=sluice.endpoint, region_name="us-east-1",
                       aws_access_key_id="AKIANOSUCHKEY0000000", aws_secret_access_key="x")
    with pytest.raises(ClientError) as e:
        bad.get_caller_identity()
    assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_presigned_query_request_for_a_query_service(sluice):
    sts = sluice.client("sts")
    url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=60)
    # botocore signs a presigned query-protocol URL with the operation's method, POST.
    r = requests.post(url, timeout=30)
    assert r.status_code == 200, r.text
    assert "<Account>000000000000</Account>" in r.text
    tampered = url.replace("X-Amz-Expires=60", "X-Amz-Expires=61")
    r = requests.post(tampered, timeout=30)
    assert r.status_code == 403
    assert "SignatureDoesNotMatch" in r.text
