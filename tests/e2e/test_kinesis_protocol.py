"""Kinesis at the byte: CBOR (as the AWS SDK for Java speaks it), the front end's
validation wording, the edges of the protocol and CORS, over raw HTTP signed with
SigV4. CBOR is written and read by the small codec below, independent of the server's."""
import json
import struct
import time

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

TARGET = "Kinesis_20131202."
JSON_TYPE = "application/x-amz-json-1.1"
CBOR_TYPE = "application/x-amz-cbor-1.1"
DENIED = "Unable to determine service/operation name to be authorized"


# ---- a small CBOR codec (RFC 8949) for the tests ----

class Tag:
    def __init__(self, tag, value):
        self.tag, self.value = tag, value

    def __eq__(self, other):
        return isinstance(other, Tag) and (self.tag, self.value) == (other.tag, other.value)

    def __repr__(self):
        return f"Tag({self.tag}, {self.value!r})"


class Indefinite:
    """Wraps a list, dict, bytes or str to be written with an indefinite length, the way
    Jackson's CBOR generator (the AWS SDK for Java's) writes maps and arrays."""

    def __init__(self, value):
        self.value = value


def _head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    for ai, fmt in ((24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")):
        if n < 256 ** struct.calcsize(fmt):
            return bytes([major << 5 | ai]) + struct.pack(fmt, n)
    raise ValueError(n)


def cbor_dumps(v):
    if isinstance(v, Indefinite):
        inner = v.value
        if isinstance(inner, dict):
            return b"\xbf" + b"".join(cbor_dumps(k) + cbor_dumps(x) for k, x in inner.items()) + b"\xff"
        if isinstance(inner, list):
            return b"\x9f" + b"".join(cbor_dumps(x) for x in inner) + b"\xff"
        major = 0x5f if isinstance(inner, bytes) else 0x7f
        half = len(inner) // 2
        return bytes([major]) + cbor_dumps(inner[:half]) + cbor_dumps(inner[half:]) + b"\xff"
    if v is None:
        return b"\xf6"
    if v is True:
        return b"\xf5"
    if v is False:
        return b"\xf4"
    if isinstance(v, Tag):
        return _head(6, v.tag) + cbor_dumps(v.value)
    if isinstance(v, int):
        return _head(0, v) if v >= 0 else _head(1, -1 - v)
    if isinstance(v, float):
        return b"\xfb" + struct.pack(">d", v)
    if isinstance(v, bytes):
        return _head(2, len(v)) + v
    if isinstance(v, str):
        b = v.encode()
        return _head(3, len(b)) + b
    if isinstance(v, list):
        return _head(4, len(v)) + b"".join(cbor_dumps(x) for x in v)
    if isinstance(v, dict):
        return _head(5, len(v)) + b"".join(cbor_dumps(k) + cbor_dumps(x) for k, x in v.items())
    raise TypeError(type(v))


def cbor_loads(data):
    value, pos = _load(data, 0)
    assert pos == len(data), "bytes after the data item"
    return value


def _load(d, p):
    ib = d[p]
    p += 1
    major, ai = ib >> 5, ib & 31
    if ai < 24:
        n = ai
    elif ai in (24, 25, 26, 27):
        size = 1 << (ai - 24)
        if major == 7:
            fmt = {2: ">e", 4: ">f", 8: ">d"}[size]
            return struct.unpack(fmt, d[p:p + size])[0], p + size
        n = int.from_bytes(d[p:p + size], "big")
        p += size
    elif ai == 31:
        n = None
    else:
        raise ValueError("reserved")
    if major == 0:
        return n, p
    if major == 1:
        return -1 - n, p
    if major in (2, 3):
        if n is None:
            chunks = []
            while d[p] != 0xff:
                c, p = _load(d, p)
                chunks.append(c)
            return (b"" if major == 2 else "").join(chunks), p + 1
        raw = d[p:p + n]
        return (raw if major == 2 else raw.decode()), p + n
    if major == 4:
        out = []
        while (n is None and d[p] != 0xff) or (n is not None and len(out) < n):
            x, p = _load(d, p)
            out.append(x)
        return out, p + (1 if n is None else 0)
    if major == 5:
        out, count = {}, 0
        while (n is None and d[p] != 0xff) or (n is not None and count < n):
            k, p = _load(d, p)
            out[k], p = _load(d, p)
            count += 1
        return out, p + (1 if n is None else 0)
    if major == 6:
        x, p = _load(d, p)
        return Tag(n, x), p
    return {20: False, 21: True, 22: None, 23: None}[ai], p


def test_the_test_codec_reads_what_it_writes():
    doc = {"a": [1, -5, 2 ** 40, 1.5, b"\x00\xff", "t\u00fc", None, True, Tag(1, 1000)]}
    assert cbor_loads(cbor_dumps(doc)) == doc
    assert cbor_loads(cbor_dumps(Indefinite({"k": Indefinite([1, Indefinite(b"xyz")])}))) == \
        {"k": [1, b"xyz"]}
    assert cbor_loads(bytes.fromhex("f93e00")) == 1.5


# ---- requests ----

def sign(sluice, body, headers, method="POST", service="kinesis", url=None):
    req = AWSRequest(method=method, url=url or sluice.endpoint + "/", data=body, headers=headers)
    SigV4Auth(Credentials(sluice.access_key, sluice.secret_key), service,
              sluice.region).add_auth(req)
    return dict(req.headers)


def call(sluice, op, payload, content_type=CBOR_TYPE, raw=None, extra=None, signed=True,
         method="POST"):
    """Sends op with payload (encoded per content_type, or raw bytes as they are);
    returns the response with .doc decoded from JSON or CBOR when it is either."""
    if raw is not None:
        body = raw
    elif content_type == CBOR_TYPE:
        body = cbor_dumps(payload)
    else:
        body = json.dumps(payload).encode()
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if op is not None:
        headers["X-Amz-Target"] = op if "." in op or op.startswith("Kinesis") else TARGET + op
    headers.update(extra or {})
    if signed:
        headers = sign(sluice, body, headers, method=method)
    r = requests.request(method, sluice.endpoint + "/", data=body, headers=headers, timeout=30)
    ctype = r.headers.get("Content-Type", "")
    r.doc = None
    if ctype == CBOR_TYPE and r.content:
        r.doc = cbor_loads(r.content)
    elif ctype.startswith("application/") and "json" in ctype and r.content:
        r.doc = r.json()
    return r


def ok(r):
    assert r.status_code == 200, (r.status_code, r.headers, r.content)
    return r.doc


def cbor_error(r, name, status=400):
    assert r.status_code == status, (r.status_code, r.content)
    assert r.headers["Content-Type"] == CBOR_TYPE
    assert r.headers["x-amzn-ErrorType"] == name
    assert r.doc["__type"] == name
    return r.doc.get("message")


def json_error(r, name, status=400):
    assert r.status_code == status, (r.status_code, r.content)
    assert r.headers["Content-Type"] == JSON_TYPE
    assert r.doc["__type"] == name, r.doc
    return r.doc.get("message")


def wait_active_cbor(sluice, name):
    deadline = time.time() + 10
    while time.time() < deadline:
        summary = ok(call(sluice, "DescribeStreamSummary", {"StreamName": name}))
        if summary["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
            return summary["StreamDescriptionSummary"]
        time.sleep(0.05)
    raise AssertionError(f"{name} not ACTIVE")


@pytest.fixture
def cbor_stream(sluice, unique):
    name = f"cbor-{unique}"
    assert ok(call(sluice, "CreateStream", {"StreamName": name, "ShardCount": 2})) == {}
    wait_active_cbor(sluice, name)
    return name


# ---- CBOR ----

def test_put_and_get_binary_records_in_cbor(sluice, cbor_stream):
    name = cbor_stream
    payloads = [bytes(range(256)), b"", b"\x00", b"\xff\xfe{\"not\": json}"]
    before_ms = int(time.time() * 1000)
    put = ok(call(sluice, "PutRecord", {"StreamName": name, "Data": payloads[0],
                                        "PartitionKey": "k"}))
    shard = put["ShardId"]
    # PutRecords as Jackson writes it: indefinite-length maps and arrays, chunked blobs
    entries = Indefinite([Indefinite({"Data": Indefinite(p) if p else p, "PartitionKey": "k"})
                          for p in payloads[1:]])
    out = ok(call(sluice, "PutRecords", Indefinite({"StreamName": name, "Records": entries})))
    assert out["FailedRecordCount"] == 0
    assert {e["ShardId"] for e in out["Records"]} == {shard}
    it = ok(call(sluice, "GetShardIterator", {"StreamName": name, "ShardId": shard,
                                              "ShardIteratorType": "TRIM_HORIZON"}))
    got = ok(call(sluice, "GetRecords", {"ShardIterator": it["ShardIterator"], "Limit": 100}))
    assert [r["Data"] for r in got["Records"]] == payloads
    for rec in got["Records"]:
        # blobs are byte strings; timestamps tag 1 epoch milliseconds, as the SDKs read them
        assert isinstance(rec["Data"], bytes)
        ts = rec["ApproximateArrivalTimestamp"]
        assert isinstance(ts, Tag) and ts.tag == 1 and isinstance(ts.value, int)
        assert before_ms - 5000 <= ts.value <= int(time.time() * 1000) + 5000
    assert isinstance(got["MillisBehindLatest"], int)
    # AT_TIMESTAMP with a CBOR timestamp reads from that instant on
    first_ms = got["Records"][0]["ApproximateArrivalTimestamp"].value
    it = ok(call(sluice, "GetShardIterator", {"StreamName": name, "ShardId": shard,
                                              "ShardIteratorType": "AT_TIMESTAMP",
                                              "Timestamp": Tag(1, first_ms)}))
    again = ok(call(sluice, "GetRecords", {"ShardIterator": it["ShardIterator"]}))
    assert [r["Data"] for r in again["Records"]] == payloads
    # the same records through JSON are base64 text
    j = call(sluice, "GetRecords", {"ShardIterator": it["ShardIterator"]}, content_type=JSON_TYPE)
    assert ok(j)["Records"][0]["Data"] == "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmqq6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj5OXm5+jp6uvs7e7v8PHy8/T19vf4+fr7/P3+/w=="  # noqa: E501


def test_every_control_plane_operation_answers_cbor(sluice, cbor_stream, unique):
    name = cbor_stream
    desc = ok(call(sluice, "DescribeStream", {"StreamName": name}))["StreamDescription"]
    created = desc["StreamCreationTimestamp"]
    assert isinstance(created, Tag) and created.tag == 1
    assert abs(created.value - time.time() * 1000) < 600_000
    arn = desc["StreamARN"]
    assert len(desc["Shards"]) == 2
    summary = ok(call(sluice, "DescribeStreamSummary", {"StreamARN": arn}))
    assert summary["StreamDescriptionSummary"]["StreamCreationTimestamp"] == created
    assert name in ok(call(sluice, "ListStreams", {}))["StreamNames"]
    shards = ok(call(sluice, "ListShards", {"StreamName": name, "MaxResults": 1}))
    assert len(shards["Shards"]) == 1 and "NextToken" in shards
    assert len(ok(call(sluice, "ListShards", {"StreamName": name,
                                              "StreamCreationTimestamp": created}))["Shards"]) == 2
    assert ok(call(sluice, "IncreaseStreamRetentionPeriod",
                   {"StreamName": name, "RetentionPeriodHours": 48})) == {}
    assert ok(call(sluice, "DecreaseStreamRetentionPeriod",
                   {"StreamName": name, "RetentionPeriodHours": 24})) == {}
    assert ok(call(sluice, "AddTagsToStream", {"StreamName": name, "Tags": {"a": "1"}})) == {}
    assert ok(call(sluice, "TagResource", {"ResourceARN": arn, "Tags": {"b": "2"}})) == {}
    tags = ok(call(sluice, "ListTagsForStream", {"StreamName": name}))["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == {"a": "1", "b": "2"}
    assert ok(call(sluice, "RemoveTagsFromStream", {"StreamName": name, "TagKeys": ["a"]})) == {}
    assert ok(call(sluice, "UntagResource", {"ResourceARN": arn, "TagKeys": ["b"]})) == {}
    assert ok(call(sluice, "ListTagsForResource", {"ResourceARN": arn}))["Tags"] == []
    assert ok(call(sluice, "StartStreamEncryption", {"StreamName": name, "EncryptionType": "KMS",
                                                     "KeyId": "alias/aws/kinesis"})) == {}
    wait_active_cbor(sluice, name)
    assert ok(call(sluice, "StopStreamEncryption", {"StreamName": name, "EncryptionType": "KMS",
                                                    "KeyId": "alias/aws/kinesis"})) == {}
    wait_active_cbor(sluice, name)
    assert ok(call(sluice, "UpdateStreamMode", {"StreamARN": arn, "StreamModeDetails":
                                                {"StreamMode": "ON_DEMAND"}})) == {}
    wait_active_cbor(sluice, name)
    assert "ShardLimit" in ok(call(sluice, "DescribeLimits", {}))
    assert ok(call(sluice, "DeleteStream", {"StreamName": name})) == {}


def test_errors_are_cbor_maps(sluice, unique):
    msg = cbor_error(call(sluice, "DescribeStream", {"StreamName": f"none-{unique}"}),
                     "ResourceNotFoundException")
    assert f"none-{unique}" in msg and "not found" in msg
    # the record plane too
    cbor_error(call(sluice, "PutRecord", {"StreamName": f"none-{unique}", "Data": b"x",
                                          "PartitionKey": "k"}), "ResourceNotFoundException")
    cbor_error(call(sluice, "GetRecords", {"ShardIterator": "AAAA"}), "InvalidArgumentException")


def test_malformed_cbor_is_a_serialization_exception(sluice):
    for raw in [b"\xa1\x61", b"\xff", b"\x1c", b"\xa1\x01\x02", b"\x01\x02",
                b"\x9f" * 100 + b"\x00" + b"\xff" * 100, b"\x83\x01\x02"]:
        r = call(sluice, "ListStreams", None, raw=raw)
        cbor_error(r, "SerializationException")
    # a CBOR value that is not a map
    cbor_error(call(sluice, "ListStreams", [1, 2]), "SerializationException")


# ---- validation as the front end words it ----

def test_all_violations_reported_at_once_in_order(sluice):
    for ctype in (JSON_TYPE, CBOR_TYPE):
        data = b"x" if ctype == CBOR_TYPE else "eA=="
        r = call(sluice, "PutRecord", {"StreamName": "bad name!", "Data": data,
                                       "PartitionKey": ""}, content_type=ctype)
        msg = (json_error if ctype == JSON_TYPE else cbor_error)(r, "ValidationException")
        assert msg == (
            "2 validation errors detected: Value '' at 'partitionKey' failed to satisfy "
            "constraint: Member must have length greater than or equal to 1; Value 'bad name!' "
            "at 'streamName' failed to satisfy constraint: Member must satisfy regular "
            "expression pattern: [a-zA-Z0-9_.-]+")
    msg = json_error(call(sluice, "CreateStream", {"StreamName": "", "ShardCount": 0},
                          content_type=JSON_TYPE), "ValidationException")
    assert msg == (
        "3 validation errors detected: Value '0' at 'shardCount' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1; Value '' at 'streamName' failed to "
        "satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; "
        "Value '' at 'streamName' failed to satisfy constraint: Member must have length greater "
        "than or equal to 1")


def test_validation_comes_before_any_lookup(sluice, unique):
    # the stream does not exist, but the request is invalid: ValidationException wins
    msg = json_error(call(sluice, "DescribeStream", {"StreamName": f"none-{unique}", "Limit": 0},
                          content_type=JSON_TYPE), "ValidationException")
    assert msg == ("1 validation error detected: Value '0' at 'limit' failed to satisfy "
                   "constraint: Member must have value greater than or equal to 1")
    msg = json_error(call(sluice, "PutRecords", {
        "StreamName": f"none-{unique}",
        "Records": [{"Data": "eA==", "PartitionKey": "k"}, {"Data": "eA=="},
                    {"Data": "eA==", "PartitionKey": "k", "ExplicitHashKey": "-1"}]},
        content_type=JSON_TYPE), "ValidationException")
    assert msg == (
        "2 validation errors detected: Value null at 'records.2.member.partitionKey' failed to "
        "satisfy constraint: Member must not be null; Value '-1' at "
        "'records.3.member.explicitHashKey' failed to satisfy constraint: Member must satisfy "
        "regular expression pattern: 0|([1-9]\\d{0,38})")
    msg = json_error(call(sluice, "GetShardIterator", {
        "StreamName": f"none-{unique}", "ShardId": "shardId-000000000000",
        "ShardIteratorType": "SOMETIME"}, content_type=JSON_TYPE), "ValidationException")
    assert msg == (
        "1 validation error detected: Value 'SOMETIME' at 'shardIteratorType' failed to satisfy "
        "constraint: Member must satisfy enum value set: [AT_SEQUENCE_NUMBER, "
        "AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP]")
    msg = cbor_error(call(sluice, "GetRecords", {"ShardIterator": "", "Limit": 10001}),
                     "ValidationException")
    assert msg.startswith("2 validation errors detected: Value '10001' at 'limit'")
    assert "Value '' at 'shardIterator'" in msg
    msg = json_error(call(sluice, "ListShards", {"StreamName": f"none-{unique}",
                                                 "ShardFilter": {"Type": "NOPE"}},
                          content_type=JSON_TYPE), "ValidationException")
    assert "at 'shardFilter.type' failed to satisfy constraint: Member must satisfy enum" in msg


def test_type_errors_are_serialization_exceptions_in_aws_words(sluice):
    cases = [
        ("DescribeStream", {"StreamName": 5},
         "class java.math.BigDecimal can not be converted to an String"),
        ("DescribeStream", {"StreamName": True},
         "class java.lang.Boolean can not be converted to an String"),
        ("ListStreams", {"Limit": "ten"},
         "class java.lang.String can not be converted to an Integer"),
        ("PutRecords", {"StreamName": "s", "Records": {}},
         "Start of structure or map found where not expected."),
        ("PutRecords", {"StreamName": "s", "Records": "x"}, "Expected list or null"),
        ("DeleteStream", {"StreamName": ["s"]}, "Start of list found where not expected"),
        ("PutRecord", {"StreamName": "s", "PartitionKey": "k", "Data": "abc"},
         "'abc' can not be converted to a Blob: Base64 encoded length is expected a multiple "
         "of 4 bytes but found: 3"),
        ("CreateStream", {"StreamName": "s", "StreamModeDetails": "ON_DEMAND"}, "Expected null"),
        ("ListStreams", {"Limit": 1e300}, "Numeric value (1.0000000000000001e+300) out of range "
                                          "of int"),
        ("ListShards", {"MaxResults": 2 ** 40}, "Numeric value (1099511627776) out of range of int"),
    ]
    for op, payload, text in cases:
        for ctype in (JSON_TYPE, CBOR_TYPE):
            r = call(sluice, op, payload, content_type=ctype)
            err = json_error if ctype == JSON_TYPE else cbor_error
            assert err(r, "SerializationException") == text, (op, payload, ctype)


# ---- the edges of the protocol ----

@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_are_denied_not_routed_to_s3(sluice, method):
    r = call(sluice, "ListStreams", {}, content_type=JSON_TYPE, method=method)
    assert r.status_code == 403
    assert b"<AccessDeniedException>" in r.content and DENIED.encode() in r.content
    assert b"<Error><Code>" not in r.content  # never S3's error document
    # signed for Kinesis but with no target at all: the same
    body = b""
    headers = sign(sluice, body, {}, method=method)
    r = requests.request(method, sluice.endpoint + "/", data=body, headers=headers)
    assert r.status_code == 403 and DENIED.encode() in r.content


def test_missing_unknown_and_incomplete_targets(sluice):
    for ctype, err in ((JSON_TYPE, json_error), (CBOR_TYPE, cbor_error)):
        for target in ("Kinesis_20131202.NoSuchOperation", "Kinesis_20131202.",
                       "Kinesis_20131202", "Nope_20131202.ListStreams"):
            r = call(sluice, target, {}, content_type=ctype)
            assert err(r, "UnknownOperationException") is None, (target, ctype)
        # no target, signed for Kinesis
        body = b"{}" if ctype == JSON_TYPE else cbor_dumps({})
        headers = sign(sluice, body, {"Content-Type": ctype})
        r = requests.post(sluice.endpoint + "/", data=body, headers=headers)
        r.doc = cbor_loads(r.content) if ctype == CBOR_TYPE else r.json()
        err(r, "UnknownOperationException")


def test_wrong_or_missing_content_type(sluice):
    for ctype in ("text/plain", None, "application/x-amz-json-1.2",
                  "application/x-amz-json-1.0"):  # Kinesis speaks JSON 1.1 only
        r = call(sluice, "ListStreams", None, content_type=ctype, raw=b"{}")
        assert r.status_code == 404, ctype
        assert r.content == b"<UnknownOperationException/>\n"
    # and with no target either: nothing says what the request is for
    headers = sign(sluice, b"{}", {"Content-Type": "text/plain"})
    r = requests.post(sluice.endpoint + "/", data=b"{}", headers=headers)
    assert r.status_code == 403 and DENIED.encode() in r.content
    # plain application/json gets the framework's own wrapper, as Kinesis answers
    r = call(sluice, "ListStreams", {}, content_type="application/json")
    assert r.status_code == 200
    assert r.json()["Output"]["__type"] == "com.amazon.coral.service#UnknownOperationException"
    r = call(sluice, "ListStreams", None, content_type="application/json", raw=b"{")
    assert r.json()["Output"]["__type"] == "com.amazon.coral.service#SerializationException"


def test_no_body_and_non_json_body(sluice):
    r = call(sluice, "ListStreams", None, content_type=JSON_TYPE, raw=b"")
    assert json_error(r, "SerializationException") is None
    r = call(sluice, "NoSuchOperation", None, content_type=JSON_TYPE, raw=b"")
    assert json_error(r, "UnknownOperationException") is None
    # an empty body of any other type is answered in CBOR
    r = call(sluice, "ListStreams", None, content_type=CBOR_TYPE, raw=b"")
    assert cbor_error(r, "SerializationException") is None
    r = call(sluice, "ListStreams", None, content_type="text/plain", raw=b"")
    assert cbor_error(r, "SerializationException") is None
    for raw in (b"not json", b"{", b"\xff\xfe"):
        json_error(call(sluice, "ListStreams", None, content_type=JSON_TYPE, raw=raw),
                   "SerializationException")


def test_authentication_errors_in_json_and_cbor(sluice):
    for ctype, err in ((JSON_TYPE, json_error), (CBOR_TYPE, cbor_error)):
        r = call(sluice, "ListStreams", {}, content_type=ctype, signed=False)
        assert err(r, "MissingAuthenticationTokenException") == "Missing Authentication Token"
        auth = "AWS4-HMAC-SHA256 Credential=abc"
        r = call(sluice, "ListStreams", {}, content_type=ctype, signed=False,
                 extra={"Authorization": auth, "X-Amz-Date": "20260101T000000Z"})
        assert err(r, "IncompleteSignatureException") == (
            "Authorization header requires 'Signature' parameter. Authorization header "
            "requires 'SignedHeaders' parameter. Authorization=" + auth)
        r = call(sluice, "ListStreams", {}, content_type=ctype, signed=False,
                 extra={"Authorization": "AWS4-HMAC-SHA256 Credential=a/b, SignedHeaders=x, "
                                         "Signature=00"})
        assert err(r, "IncompleteSignatureException").startswith(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
            "header. Authorization=")
    # a presigned query missing parts
    r = requests.post(sluice.endpoint + "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=x",
                      data=b"{}", headers={"Content-Type": JSON_TYPE,
                                           "X-Amz-Target": TARGET + "ListStreams"})
    r.doc = r.json()
    assert json_error(r, "IncompleteSignatureException") == (
        "AWS query-string parameters must include 'X-Amz-Credential'. AWS query-string "
        "parameters must include 'X-Amz-Signature'. AWS query-string parameters must include "
        "'X-Amz-SignedHeaders'. Re-examine the query-string parameters.")
    # signed in the header and the query at once
    body = b"{}"
    headers = sign(sluice, body, {"Content-Type": JSON_TYPE,
                                  "X-Amz-Target": TARGET + "ListStreams"},
                   url=sluice.endpoint + "/?X-Amz-Algorithm=AWS4-HMAC-SHA256")
    r = requests.post(sluice.endpoint + "/?X-Amz-Algorithm=AWS4-HMAC-SHA256", data=body,
                      headers=headers)
    r.doc = r.json()
    assert json_error(r, "InvalidSignatureException") == (
        "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP "
        "header.")


# ---- CORS, for the AWS SDK for JavaScript in a browser ----

def test_cors_preflight_and_headers(sluice):
    asked = "authorization,content-type,x-amz-date,x-amz-target,x-amz-user-agent"
    r = requests.options(sluice.endpoint + "/", headers={
        "Origin": "http://localhost:8080", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": asked})
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["Access-Control-Allow-Headers"] == asked
    assert r.headers["Access-Control-Allow-Methods"] == "POST"
    assert r.headers["Access-Control-Max-Age"] == "172800"
    assert r.content == b""
    # the request itself, and its errors, may be read by the page
    for op, payload, status in (("ListStreams", {}, 200),
                                ("DescribeStream", {"StreamName": "no-such-stream"}, 400)):
        r = call(sluice, op, payload, content_type=JSON_TYPE,
                 extra={"Origin": "http://localhost:8080"})
        assert r.status_code == status
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        exposed = r.headers["Access-Control-Expose-Headers"].split(",")
        assert "x-amzn-RequestId" in exposed and "x-amzn-ErrorType" in exposed
    # without an Origin there is nothing to allow
    r = call(sluice, "ListStreams", {}, content_type=JSON_TYPE)
    assert "Access-Control-Allow-Origin" not in r.headers


def test_tag_encryption_and_mode_operations_are_validated_first(sluice, unique):
    name = f"none-{unique}"
    msg = json_error(call(sluice, "RemoveTagsFromStream", {"StreamName": name,
                                                           "TagKeys": ["ok", "", "x" * 129]},
                          content_type=JSON_TYPE), "ValidationException")
    assert msg == (
        f"1 validation error detected: Value '[ok, , {'x' * 129}]' at 'tagKeys' failed to "
        "satisfy constraint: Member must satisfy constraint: [Member must have length less "
        "than or equal to 128, Member must have length greater than or equal to 1]")
    msg = json_error(call(sluice, "StartStreamEncryption", {"StreamName": name,
                                                            "EncryptionType": "AES"},
                          content_type=JSON_TYPE), "ValidationException")
    assert msg == (
        "2 validation errors detected: Value 'AES' at 'encryptionType' failed to satisfy "
        "constraint: Member must satisfy enum value set: [NONE, KMS]; Value null at 'keyId' "
        "failed to satisfy constraint: Member must not be null")
    msg = cbor_error(call(sluice, "TagResource", {"ResourceARN": "arn:aws:s3:::bucket",
                                                  "Tags": {}}), "ValidationException")
    assert msg == (
        "2 validation errors detected: Value '{}' at 'tags' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1; Value 'arn:aws:s3:::bucket' at "
        "'resourceARN' failed to satisfy constraint: Member must satisfy regular expression "
        "pattern: arn:aws.*:kinesis:.*:\\d{12}:.*stream/\\S+")
    # a well-formed ARN of a stream that does not exist is a lookup failure, not a violation
    arn = f"arn:aws:kinesis:{sluice.region}:000000000000:stream/{name}"
    r = call(sluice, "ListTagsForResource", {"ResourceARN": arn}, content_type=JSON_TYPE)
    assert r.doc["__type"] != "ValidationException"
    msg = json_error(call(sluice, "UpdateStreamMode", {}, content_type=JSON_TYPE),
                     "ValidationException")
    assert msg == (
        "2 validation errors detected: Value null at 'streamARN' failed to satisfy constraint: "
        "Member must not be null; Value null at 'streamModeDetails' failed to satisfy "
        "constraint: Member must not be null")


# ---- against Jackson's CBOR, which the AWS SDK for Java reads and writes with ----

JACKSON_JARS = ["/usr/share/java/jackson-core.jar", "/usr/share/java/jackson-dataformat-cbor.jar"]


@pytest.fixture(scope="module")
def jackson(tmp_path_factory):
    import os
    import shutil
    import subprocess
    if shutil.which("javac") is None or not all(os.path.exists(j) for j in JACKSON_JARS):
        pytest.skip("needs javac and libjackson2-dataformat-cbor (scripts/install-deps.sh)")
    out = tmp_path_factory.mktemp("jackson")
    src = os.path.join(os.path.dirname(__file__), "JacksonCbor.java")
    cp = ":".join(JACKSON_JARS)
    subprocess.run(["javac", "-cp", cp, "-d", str(out), src], check=True)

    def run(mode, data):
        p = subprocess.run(["java", "-cp", f"{cp}:{out}", "JacksonCbor", mode], input=data,
                           capture_output=True, check=True, timeout=60)
        return p.stdout
    return run


def jackson_call(sluice, jackson, op, doc):
    body = jackson("encode", json.dumps(doc).encode())
    assert body[:1] == b"\xbf"  # an indefinite-length map, as the SDK writes it
    r = call(sluice, op, None, raw=body)
    assert r.headers["Content-Type"] == CBOR_TYPE
    return r.status_code, json.loads(jackson("decode", r.content))


def test_jackson_writes_requests_and_reads_answers(sluice, jackson, unique):
    import base64
    name = f"jackson-{unique}"
    status, out = jackson_call(sluice, jackson, "CreateStream",
                               {"StreamName": name, "ShardCount": 1})
    assert (status, out) == (200, {})
    wait_active_cbor(sluice, name)
    data = bytes(range(255, -1, -1))
    status, out = jackson_call(sluice, jackson, "PutRecords", {"StreamName": name, "Records": [
        {"Data": {"$bytes": base64.b64encode(data).decode()}, "PartitionKey": "k"},
        {"Data": {"$bytes": ""}, "PartitionKey": "k"}]})
    assert status == 200 and out["FailedRecordCount"] == 0
    now_ms = int(time.time() * 1000)
    status, out = jackson_call(sluice, jackson, "GetShardIterator", {
        "StreamName": name, "ShardId": "shardId-000000000000",
        "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": {"$epoch": now_ms - 60_000}})
    assert status == 200
    status, out = jackson_call(sluice, jackson, "GetRecords",
                               {"ShardIterator": out["ShardIterator"]})
    assert status == 200
    assert [base64.b64decode(r["Data"]["$bytes"]) for r in out["Records"]] == [data, b""]
    ts = out["Records"][0]["ApproximateArrivalTimestamp"]
    assert ts["$tag"] == 1 and abs(ts["value"] - now_ms) < 60_000
    status, out = jackson_call(sluice, jackson, "DescribeStreamSummary", {"StreamName": name})
    assert out["StreamDescriptionSummary"]["StreamCreationTimestamp"]["$tag"] == 1
    # an error, as the SDK parses it
    status, out = jackson_call(sluice, jackson, "DescribeStream", {"StreamName": name + "-x"})
    assert status == 400 and out["__type"] == "ResourceNotFoundException"
    assert "not found" in out["message"]


def test_ten_violations_at_most_and_none_cut_short(sluice):
    entry = {"Data": "eA==", "PartitionKey": "", "ExplicitHashKey": "-1"}
    for ctype, err in ((JSON_TYPE, json_error), (CBOR_TYPE, cbor_error)):
        payload = {"StreamName": "x y", "Records": [dict(entry) for _ in range(6)]}
        if ctype == CBOR_TYPE:
            for e in payload["Records"]:
                e["Data"] = b"x"
        msg = err(call(sluice, "PutRecords", payload, content_type=ctype), "ValidationException")
        assert msg.startswith("10 validation errors detected: Value '' at "
                              "'records.1.member.partitionKey'")
        assert msg.count("; Value ") == 9
        # the last of the ten is whole: the fifth record's hash key
        assert msg.endswith("Value '-1' at 'records.5.member.explicitHashKey' failed to satisfy "
                            "constraint: Member must satisfy regular expression pattern: "
                            "0|([1-9]\\d{0,38})")
