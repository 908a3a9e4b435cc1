"""S3 wire details real clients depend on: payload modes (signed hash, UNSIGNED-PAYLOAD,
aws-chunked with chunk signatures, unsigned aws-chunked with trailing checksums),
presigned URLs, virtual-hosted addressing, and multipart uploads through boto3."""
import base64
import hashlib
import os
import urllib.error
import urllib.request
import zlib

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from s3_helpers import SignedRequest, presign, signed_chunked_body, unsigned_chunked_body


@pytest.fixture(scope="module")
def s3(sluice):
    return sluice.client("s3")


@pytest.fixture
def bucket(s3, unique):
    name = f"p-{unique}"
    s3.create_bucket(Bucket=name)
    return name


def crc32_b64(data):
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def test_signed_payload_hash_is_verified(sluice, s3, bucket):
    body = b"signed body"
    ok = SignedRequest(sluice, "PUT", f"/{bucket}/hash-ok", body=body)
    status, _, _ = ok.send(body)
    assert status == 200
    assert s3.get_object(Bucket=bucket, Key="hash-ok")["Body"].read() == body
    # The hash is signed correctly but does not describe the body sent.
    bad = SignedRequest(sluice, "PUT", f"/{bucket}/hash-bad",
                        payload_hash=hashlib.sha256(b"something else").hexdigest())
    status, _, data = bad.send(body)
    assert status == 400
    assert b"<Code>XAmzContentSHA256Mismatch</Code>" in data
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="hash-bad")


def test_unsigned_payload(sluice, s3, bucket):
    req = SignedRequest(sluice, "PUT", f"/{bucket}/unsigned", payload_hash="UNSIGNED-PAYLOAD")
    status, headers, _ = req.send(b"anything goes")
    assert status == 200
    assert headers["etag"] == f'"{hashlib.md5(b"anything goes").hexdigest()}"'
    assert s3.get_object(Bucket=bucket, Key="unsigned")["Body"].read() == b"anything goes"


@pytest.mark.parametrize("size,chunk", [(0, 64 * 1024), (100, 64 * 1024),
                                        (300_000, 64 * 1024), (65536, 65536)])
def test_streaming_signed_chunks(sluice, s3, bucket, size, chunk):
    payload = os.urandom(size)
    headers = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": size}
    req = SignedRequest(sluice, "PUT", f"/{bucket}/chunked-{size}", headers=headers,
                        payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    body = signed_chunked_body(req, payload, chunk)
    status, headers_out, data = req.send(body)
    assert status == 200, data
    g = s3.get_object(Bucket=bucket, Key=f"chunked-{size}")
    assert g["Body"].read() == payload
    assert "ContentEncoding" not in g  # aws-chunked is not the object's encoding


def test_streaming_bad_chunk_signature_is_rejected(sluice, s3, bucket):
    payload = os.urandom(200_000)
    headers = {"content-encoding": "aws-chunked",
               "x-amz-decoded-content-length": len(payload)}
    req = SignedRequest(sluice, "PUT", f"/{bucket}/chunked-bad", headers=headers,
                        payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    body = signed_chunked_body(req, payload, 64 * 1024, corrupt_chunk=2)
    status, _, data = req.send(body)
    assert status == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in data
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="chunked-bad")


def test_streaming_signed_with_trailer(sluice, s3, bucket):
    payload = os.urandom(150_000)
    headers = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": len(payload),
               "x-amz-trailer": "x-amz-checksum-crc32"}
    req = SignedRequest(sluice, "PUT", f"/{bucket}/signed-trailer", headers=headers,
                        payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
    body = signed_chunked_body(req, payload, 64 * 1024,
                               trailers=[("x-amz-checksum-crc32", crc32_b64(payload))])
    status, out, data = req.send(body)
    assert status == 200, data
    assert out["x-amz-checksum-crc32"] == crc32_b64(payload)
    assert s3.get_object(Bucket=bucket, Key="signed-trailer")["Body"].read() == payload


def test_streaming_unsigned_with_trailing_checksum(sluice, s3, bucket):
    payload = os.urandom(200_000)
    headers = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": len(payload),
               "x-amz-trailer": "x-amz-checksum-crc32"}
    req = SignedRequest(sluice, "PUT", f"/{bucket}/trailer", headers=headers,
                        payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    body = unsigned_chunked_body(payload, 8192, [("x-amz-checksum-crc32", crc32_b64(payload))])
    status, out, data = req.send(body)
    assert status == 200, data
    h = s3.head_object(Bucket=bucket, Key="trailer", ChecksumMode="ENABLED")
    assert h["ChecksumCRC32"] == crc32_b64(payload)
    assert s3.get_object(Bucket=bucket, Key="trailer")["Body"].read() == payload
    # A wrong trailing checksum leaves nothing behind.
    req = SignedRequest(sluice, "PUT", f"/{bucket}/trailer-bad", headers=headers,
                        payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    body = unsigned_chunked_body(payload, 8192, [("x-amz-checksum-crc32", crc32_b64(b"x"))])
    status, _, data = req.send(body)
    assert status == 400
    assert b"<Code>BadDigest</Code>" in data
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="trailer-bad")


def test_malformed_chunked_body_is_incomplete(sluice, bucket):
    headers = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": 10}
    req = SignedRequest(sluice, "PUT", f"/{bucket}/broken", headers=headers,
                        payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    status, _, data = req.send(b"zz\r\nnot hex at all")
    assert status == 400
    assert b"<Code>IncompleteBody</Code>" in data


def test_presigned_urls(sluice, bucket):
    # boto3 1.26 presigns S3 with SigV2 unless told otherwise; sluice takes SigV4.
    s3 = sluice.client("s3", config=Config(signature_version="s3v4"))
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "pre"},
                                        ExpiresIn=300)
    r = urllib.request.urlopen(urllib.request.Request(put_url, data=b"presigned!",
                                                      method="PUT"))
    assert r.status == 200
    get_url = s3.generate_presigned_url("get_object", Params={
        "Bucket": bucket, "Key": "pre", "ResponseContentType": "text/presigned"}, ExpiresIn=300)
    r = urllib.request.urlopen(get_url)
    assert r.read() == b"presigned!"
    assert r.headers["Content-Type"] == "text/presigned"
    # Tampering with the URL breaks the signature.
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(get_url.replace("pre?", "pre2?"))
    assert e.value.code == 403
    # An expired URL is refused; a fresh hand-made one works.
    import datetime
    assert urllib.request.urlopen(presign(sluice, "GET", f"/{bucket}/pre", 60)).read() == \
        b"presigned!"
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10)
    old_url = presign(sluice, "GET", f"/{bucket}/pre", 60, when=past)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(old_url)
    assert e.value.code == 403
    assert b"AccessDenied" in e.value.read()
    # The AWS CLI's presign.
    cli_url = sluice.aws("s3", "presign", f"s3://{bucket}/pre", output="text").strip()
    assert urllib.request.urlopen(cli_url).read() == b"presigned!"


def test_virtual_hosted_addressing(sluice, s3, bucket):
    port = sluice.endpoint.rsplit(":", 1)[1]
    host = f"{bucket}.localhost:{port}"
    req = SignedRequest(sluice, "PUT", "/vh/key.txt", host=host, body=b"virtual")
    status, _, data = req.send(b"virtual")
    assert status == 200, data
    assert s3.get_object(Bucket=bucket, Key="vh/key.txt")["Body"].read() == b"virtual"
    req = SignedRequest(sluice, "GET", "/", query="list-type=2&prefix=vh%2F", host=host)
    status, _, data = req.send()
    assert status == 200
    assert b"<Key>vh/key.txt</Key>" in data


def test_multipart_upload_via_boto3(s3, bucket):
    part1 = os.urandom(5 * 1024 * 1024)
    part2 = os.urandom(1234)
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp/big.bin", ContentType="x/big",
                                    Metadata={"m": "1"})
    uid = up["UploadId"]
    listed = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [u["UploadId"] for u in listed] == [uid]
    e1 = s3.upload_part(Bucket=bucket, Key="mp/big.bin", UploadId=uid, PartNumber=1,
                        Body=part1)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="mp/big.bin", UploadId=uid, PartNumber=2,
                        Body=part2)["ETag"]
    parts = s3.list_parts(Bucket=bucket, Key="mp/big.bin", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in parts] == [(1, len(part1)), (2, len(part2))]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp/big.bin", UploadId=uid,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e2}]})
    assert e.value.response["Error"]["Code"] == "InvalidPart"
    r = s3.complete_multipart_upload(Bucket=bucket, Key="mp/big.bin", UploadId=uid,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1},
                                                                {"PartNumber": 2, "ETag": e2}]})
    md5s = hashlib.md5(part1).digest() + hashlib.md5(part2).digest()
    assert r["ETag"] == f'"{hashlib.md5(md5s).hexdigest()}-2"'
    g = s3.get_object(Bucket=bucket, Key="mp/big.bin")
    assert g["Body"].read() == part1 + part2
    assert g["ContentType"] == "x/big" and g["Metadata"] == {"m": "1"}
    assert g["ETag"] == r["ETag"]
    # Reads by part number.
    p2 = s3.get_object(Bucket=bucket, Key="mp/big.bin", PartNumber=2)
    assert p2["Body"].read() == part2
    assert p2["PartsCount"] == 2
    assert p2["ContentRange"] == f"bytes {len(part1)}-{len(part1) + len(part2) - 1}/" \
        f"{len(part1) + len(part2)}"
    assert s3.head_object(Bucket=bucket, Key="mp/big.bin", PartNumber=1)["ContentLength"] == \
        len(part1)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="mp/big.bin", PartNumber=3)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="mp/big.bin", UploadId=uid, PartNumber=3, Body=b"x")
    assert e.value.response["Error"]["Code"] == "NoSuchUpload"


def test_complete_racing_abort_answers_as_s3(s3, bucket):
    # CompleteMultipartUpload and AbortMultipartUpload of one upload at once: the
    # completion either wins (200, the whole object) or finds the upload gone
    # (NoSuchUpload); never an internal error.
    import concurrent.futures
    big = os.urandom(5 * 1024 * 1024)
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for _ in range(10):
            up = s3.create_multipart_upload(Bucket=bucket, Key="race")["UploadId"]
            e1 = s3.upload_part(Bucket=bucket, Key="race", UploadId=up, PartNumber=1,
                                Body=big)["ETag"]
            e2 = s3.upload_part(Bucket=bucket, Key="race", UploadId=up, PartNumber=2,
                                Body=b"tail")["ETag"]
            parts = {"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]}

            def complete():
                try:
                    s3.complete_multipart_upload(Bucket=bucket, Key="race", UploadId=up,
                                                 MultipartUpload=parts)
                    return "ok"
                except ClientError as e:
                    return e.response["Error"]["Code"]

            def abort():
                try:
                    s3.abort_multipart_upload(Bucket=bucket, Key="race", UploadId=up)
                    return "ok"
                except ClientError as e:
                    return e.response["Error"]["Code"]

            fc = pool.submit(complete)
            fa = pool.submit(abort)
            got = fc.result()
            assert fa.result() in ("ok", "NoSuchUpload")
            assert got in ("ok", "NoSuchUpload"), got
            if got == "ok":
                assert s3.get_object(Bucket=bucket, Key="race")["Body"].read() == big + b"tail"


def test_multipart_too_small_abort_and_part_copy(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="small")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="small", UploadId=uid, PartNumber=1,
                        Body=b"a" * 100)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="small", UploadId=uid, PartNumber=2,
                        Body=b"b" * 100)["ETag"]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="small", UploadId=uid,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1},
                                                                {"PartNumber": 2, "ETag": e2}]})
    assert e.value.response["Error"]["Code"] == "EntityTooSmall"
    s3.abort_multipart_upload(Bucket=bucket, Key="small", UploadId=uid)
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="small", UploadId=uid)
    assert e.value.response["Error"]["Code"] == "NoSuchUpload"
    # UploadPartCopy from an existing object, with a range.
    src = os.urandom(6 * 1024 * 1024)
    s3.put_object(Bucket=bucket, Key="copy-src", Body=src)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    c1 = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=uid, PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "copy-src"},
                             CopySourceRange=f"bytes=0-{5 * 1024 * 1024 - 1}")
    c2 = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=uid, PartNumber=2,
                             CopySource={"Bucket": bucket, "Key": "copy-src"},
                             CopySourceRange=f"bytes={5 * 1024 * 1024}-{len(src) - 1}")
    s3.complete_multipart_upload(Bucket=bucket, Key="assembled", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": c1["CopyPartResult"]["ETag"]},
                  {"PartNumber": 2, "ETag": c2["CopyPartResult"]["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="assembled")["Body"].read() == src


def test_multipart_with_checksums(s3, bucket):
    part1 = os.urandom(5 * 1024 * 1024)
    part2 = b"tail"
    uid = s3.create_multipart_upload(Bucket=bucket, Key="ck-mp",
                                     ChecksumAlgorithm="CRC32")["UploadId"]
    p1 = s3.upload_part(Bucket=bucket, Key="ck-mp", UploadId=uid, PartNumber=1, Body=part1,
                        ChecksumAlgorithm="CRC32")
    p2 = s3.upload_part(Bucket=bucket, Key="ck-mp", UploadId=uid, PartNumber=2, Body=part2,
                        ChecksumAlgorithm="CRC32")
    assert p1["ChecksumCRC32"] == crc32_b64(part1)
    r = s3.complete_multipart_upload(Bucket=bucket, Key="ck-mp", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": p1["ETag"], "ChecksumCRC32": p1["ChecksumCRC32"]},
                  {"PartNumber": 2, "ETag": p2["ETag"], "ChecksumCRC32": p2["ChecksumCRC32"]}]})
    composite = zlib.crc32(base64.b64decode(p1["ChecksumCRC32"]) +
                           base64.b64decode(p2["ChecksumCRC32"])).to_bytes(4, "big")
    assert r["ChecksumCRC32"] == base64.b64encode(composite).decode() + "-2"


def test_malformed_xml_bodies(sluice, bucket):
    body = b"<Delete><Object><Key>a</Key></Object>"  # not closed
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    req = SignedRequest(sluice, "POST", f"/{bucket}", query="delete=", body=body,
                        headers={"content-md5": md5})
    status, _, data = req.send(body)
    assert status == 400
    assert b"<Code>MalformedXML</Code>" in data
    body = b'<!DOCTYPE d [<!ENTITY x "y">]><Delete><Object><Key>&x;</Key></Object></Delete>'
    req = SignedRequest(sluice, "POST", f"/{bucket}", query="delete=", body=body)
    status, _, data = req.send(body)
    assert status == 400
    assert b"<Code>MalformedXML</Code>" in data


@pytest.mark.parametrize("key_xml", [b"a\x00b", b"a&#0;b", b"a&#x0;b", b"a\x01b", b"a&#x1B;b",
                                     b"a\xed\xa0\x80b", b"a&#xFFFE;b"])
def test_delete_objects_with_characters_xml_forbids_is_malformed(sluice, s3, bucket, key_xml):
    # A key XML cannot carry must not be cut short to "a" and delete that key.
    s3.put_object(Bucket=bucket, Key="a", Body=b"keep me")
    body = b"<Delete><Object><Key>" + key_xml + b"</Key></Object></Delete>"
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    req = SignedRequest(sluice, "POST", f"/{bucket}", query="delete=", body=body,
                        headers={"content-md5": md5})
    status, _, data = req.send(body)
    assert status == 400
    assert b"<Code>MalformedXML</Code>" in data
    assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == b"keep me"


def test_large_single_put_spooled_body(sluice, s3, bucket):
    # Bodies above 16 MiB reach the adapter spooled to a file; they are linked into place.
    body = os.urandom(20 * 1024 * 1024 + 3)
    r = s3.put_object(Bucket=bucket, Key="spooled", Body=body)
    assert r["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    assert s3.get_object(Bucket=bucket, Key="spooled")["Body"].read() == body
    g = s3.get_object(Bucket=bucket, Key="spooled", Range="bytes=20971520-")
    assert g["Body"].read() == body[20971520:]
    bad = SignedRequest(sluice, "PUT", f"/{bucket}/spooled-bad",
                        payload_hash=hashlib.sha256(b"not the body").hexdigest())
    status, _, data = bad.send(body)
    assert status == 400
    assert b"<Code>XAmzContentSHA256Mismatch</Code>" in data
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="spooled-bad")
    # An unsigned spooled body with a trailing-free chunked encoding still decodes.
    payload = os.urandom(17 * 1024 * 1024)
    headers = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": len(payload),
               "x-amz-trailer": "x-amz-checksum-crc32"}
    req = SignedRequest(sluice, "PUT", f"/{bucket}/spooled-chunked", headers=headers,
                        payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    status, _, data = req.send(unsigned_chunked_body(payload, 1 << 20, [
        ("x-amz-checksum-crc32", crc32_b64(payload))]))
    assert status == 200, data
    assert s3.get_object(Bucket=bucket, Key="spooled-chunked")["Body"].read() == payload
