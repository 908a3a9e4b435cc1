"""S3 server-side encryption: every object encrypted at rest (SSE-S3 by default, SSE-C
with the client's key), the headers S3 answers with, ranged reads of encrypted objects,
and the data directory holding no plaintext of what was stored."""
import base64
import hashlib
import os
import sqlite3

import pytest
from botocore.exceptions import ClientError

MiB = 1 << 20


def _error(exc):
    return exc.value.response["Error"]["Code"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture
def s3(sluice):
    return sluice.client("s3")


@pytest.fixture
def bucket(s3, unique):
    name = f"enc-{unique}"
    s3.create_bucket(Bucket=name)
    return name


def _multipart(s3, bucket, key, parts, **kw):
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, **kw)
    assert up["ServerSideEncryption" if "SSECustomerKey" not in kw else "SSECustomerAlgorithm"] \
        == "AES256"
    done = []
    for i, body in enumerate(parts, start=1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=i,
                           Body=body, **kw)
        done.append({"PartNumber": i, "ETag": r["ETag"]})
    c = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up["UploadId"],
                                     MultipartUpload={"Parts": done})
    return up, c


def test_sse_s3_is_the_default_and_reported_everywhere(s3, bucket):
    body = os.urandom(200_000)
    put = s3.put_object(Bucket=bucket, Key="a", Body=body)
    assert put["ServerSideEncryption"] == "AES256"
    get = s3.get_object(Bucket=bucket, Key="a")
    assert get["ServerSideEncryption"] == "AES256"
    assert get["Body"].read() == body
    head = s3.head_object(Bucket=bucket, Key="a")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ContentLength"] == len(body)
    copy = s3.copy_object(Bucket=bucket, Key="b", CopySource={"Bucket": bucket, "Key": "a"})
    assert copy["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="b")["Body"].read() == body
    # Asking for AES256 explicitly is the same.
    put = s3.put_object(Bucket=bucket, Key="c", Body=b"x", ServerSideEncryption="AES256")
    assert put["ServerSideEncryption"] == "AES256"


def test_multipart_headers_and_bytes(s3, bucket):
    parts = [os.urandom(5 * MiB + 123), os.urandom(5 * MiB), os.urandom(70_000)]
    up, c = _multipart(s3, bucket, "mp", parts)
    assert c["ServerSideEncryption"] == "AES256"
    whole = b"".join(parts)
    g = s3.get_object(Bucket=bucket, Key="mp")
    assert g["ServerSideEncryption"] == "AES256"
    assert g["Body"].read() == whole
    # A part by number, and ranges straddling parts and 64 KiB chunks.
    p2 = s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)
    assert p2["Body"].read() == parts[1]
    for a, b in [(0, 0), (65535, 65537), (5 * MiB + 100, 5 * MiB + 200),
                 (10 * MiB + 120, len(whole) - 1), (1, 10 * MiB + 500)]:
        r = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={a}-{b}")
        assert r["Body"].read() == whole[a:b + 1], (a, b)


def test_ranged_gets_of_a_single_object(s3, bucket):
    body = os.urandom(3 * 65536 + 17)
    s3.put_object(Bucket=bucket, Key="r", Body=body)
    for rng, want in [("bytes=0-9", body[:10]), ("bytes=65530-65545", body[65530:65546]),
                      ("bytes=-20", body[-20:]), ("bytes=131072-", body[131072:]),
                      ("bytes=196607-196624", body[196607:196625])]:
        r = s3.get_object(Bucket=bucket, Key="r", Range=rng)
        assert r["Body"].read() == want, rng
        assert r["ServerSideEncryption"] == "AES256"


def test_upload_part_copy_from_an_encrypted_source(s3, bucket):
    src = os.urandom(6 * MiB + 5)
    s3.put_object(Bucket=bucket, Key="src", Body=src)
    up = s3.create_multipart_upload(Bucket=bucket, Key="dst")
    p1 = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=up["UploadId"], PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "src"},
                             CopySourceRange=f"bytes=0-{5 * MiB}")
    assert p1["ServerSideEncryption"] == "AES256"
    p2 = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=up["UploadId"], PartNumber=2,
                             CopySource={"Bucket": bucket, "Key": "src"},
                             CopySourceRange=f"bytes={5 * MiB + 1}-{len(src) - 1}")
    s3.complete_multipart_upload(
        Bucket=bucket, Key="dst", UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p1["CopyPartResult"]["ETag"]},
                                   {"PartNumber": 2, "ETag": p2["CopyPartResult"]["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == src


def test_unsupported_encryption_values(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="aws:kms:nope")
    assert _error(e) == ("InvalidArgument", 400)
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x",
                      ServerSideEncryption="AES256", SSECustomerAlgorithm="AES256",
                      SSECustomerKey=os.urandom(32))
    assert _error(e) == ("InvalidArgument", 400)


# ---- SSE-C ----

KEY = bytes(range(32))
OTHER = bytes(range(1, 33))


def _ssec(key=KEY):
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}


def _key_md5(key):
    return base64.b64encode(hashlib.md5(key).digest()).decode()


def test_sse_c_round_trip_and_errors(s3, bucket):
    body = os.urandom(150_000)
    put = s3.put_object(Bucket=bucket, Key="c", Body=body, **_ssec())
    assert put["SSECustomerAlgorithm"] == "AES256"
    assert put["SSECustomerKeyMD5"] == _key_md5(KEY)
    assert "ServerSideEncryption" not in put
    g = s3.get_object(Bucket=bucket, Key="c", **_ssec())
    assert g["Body"].read() == body
    assert g["SSECustomerKeyMD5"] == _key_md5(KEY)
    r = s3.get_object(Bucket=bucket, Key="c", Range="bytes=70000-70009", **_ssec())
    assert r["Body"].read() == body[70000:70010]
    h = s3.head_object(Bucket=bucket, Key="c", **_ssec())
    assert h["SSECustomerAlgorithm"] == "AES256" and h["ContentLength"] == len(body)

    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c")
    assert _error(e) == ("InvalidRequest", 400)
    assert "Server Side Encryption" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", **_ssec(OTHER))
    assert _error(e) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="c")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # A key given for an object stored without one.
    s3.put_object(Bucket=bucket, Key="plain", Body=b"p")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="plain", **_ssec())
    assert _error(e) == ("InvalidRequest", 400)


def test_sse_c_header_checks(sluice, s3, bucket):
    # Raw headers, so that botocore does not compute the MD5 for us.
    def put(headers):
        def add(request, **_):
            for k, v in headers.items():
                request.headers[k] = v
        client = sluice.client("s3")
        client.meta.events.register("before-sign.s3.PutObject", add)
        return client.put_object(Bucket=bucket, Key="h", Body=b"data")

    key_b64 = base64.b64encode(KEY).decode()
    cases = [
        ({"x-amz-server-side-encryption-customer-key": key_b64,
          "x-amz-server-side-encryption-customer-key-MD5": _key_md5(KEY)},
         "must provide a valid encryption algorithm"),
        ({"x-amz-server-side-encryption-customer-algorithm": "AES256",
          "x-amz-server-side-encryption-customer-key-MD5": _key_md5(KEY)},
         "must provide an appropriate secret key"),
        ({"x-amz-server-side-encryption-customer-algorithm": "AES256",
          "x-amz-server-side-encryption-customer-key": key_b64,
          "x-amz-server-side-encryption-customer-key-MD5": _key_md5(OTHER)},
         "The calculated MD5 hash of the key did not match the hash that was provided."),
        ({"x-amz-server-side-encryption-customer-algorithm": "AES256",
          "x-amz-server-side-encryption-customer-key": base64.b64encode(b"short").decode(),
          "x-amz-server-side-encryption-customer-key-MD5": _key_md5(b"short")},
         "The secret key was invalid for the specified algorithm."),
    ]
    for headers, message in cases:
        with pytest.raises(ClientError) as e:
            put(headers)
        assert _error(e) == ("InvalidArgument", 400)
        assert message in e.value.response["Error"]["Message"]


def test_sse_c_copy_and_multipart(s3, bucket):
    body = os.urandom(100_000)
    s3.put_object(Bucket=bucket, Key="src", Body=body, **_ssec())
    src = {"Bucket": bucket, "Key": "src"}
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="d1", CopySource=src)
    assert _error(e) == ("InvalidRequest", 400)
    # Copy to SSE-S3, and to another customer key.
    c = s3.copy_object(Bucket=bucket, Key="d1", CopySource=src,
                       CopySourceSSECustomerAlgorithm="AES256", CopySourceSSECustomerKey=KEY)
    assert c["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="d1")["Body"].read() == body
    c = s3.copy_object(Bucket=bucket, Key="d2", CopySource=src,
                       CopySourceSSECustomerAlgorithm="AES256", CopySourceSSECustomerKey=KEY,
                       **_ssec(OTHER))
    assert c["SSECustomerKeyMD5"] == _key_md5(OTHER)
    assert s3.get_object(Bucket=bucket, Key="d2", **_ssec(OTHER))["Body"].read() == body

    parts = [os.urandom(5 * MiB), os.urandom(1000)]
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", **_ssec())
    assert up["SSECustomerKeyMD5"] == _key_md5(KEY)
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1,
                       Body=parts[0])
    assert _error(e) == ("InvalidRequest", 400)
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1,
                       Body=parts[0], **_ssec(OTHER))
    assert _error(e) == ("AccessDenied", 403)
    done = []
    for i, p in enumerate(parts, start=1):
        r = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=i,
                           Body=p, **_ssec())
        assert r["SSECustomerKeyMD5"] == _key_md5(KEY)
        done.append({"PartNumber": i, "ETag": r["ETag"]})
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": done})
    assert s3.get_object(Bucket=bucket, Key="mp", **_ssec())["Body"].read() == b"".join(parts)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="mp")
    assert _error(e) == ("InvalidRequest", 400)


# ---- at rest ----

def _files_containing(root, needle):
    found = []
    for d, _, files in os.walk(root):
        for f in files:
            path = os.path.join(d, f)
            try:
                with open(path, "rb") as fh:
                    if needle in fh.read():
                        found.append(path)
            except OSError:
                pass
    return found


def test_no_plaintext_in_the_data_directory_and_kill9(fresh_sluice, unique):
    server = fresh_sluice.start()
    s3 = server.client("s3")
    b = f"rest-{unique}"
    s3.create_bucket(Bucket=b)
    needle = f"CANARY-{unique}-PLAINTEXT-".encode()
    single = needle * 5000
    s3.put_object(Bucket=b, Key="single", Body=single)
    s3.put_object(Bucket=b, Key="small", Body=needle)
    s3.put_object(Bucket=b, Key="ssec", Body=single, **_ssec())
    parts = [needle * (5 * MiB // len(needle) + 1), needle * 10]
    _multipart(s3, b, "multi", parts)
    up = s3.create_multipart_upload(Bucket=b, Key="pending")
    s3.upload_part(Bucket=b, Key="pending", UploadId=up["UploadId"], PartNumber=1, Body=single)
    s3.copy_object(Bucket=b, Key="copied", CopySource={"Bucket": b, "Key": "single"})

    server.kill9()
    assert _files_containing(server.data_dir, needle) == []
    server.start()
    s3 = server.client("s3")
    assert s3.get_object(Bucket=b, Key="single")["Body"].read() == single
    assert s3.get_object(Bucket=b, Key="small")["Body"].read() == needle
    assert s3.get_object(Bucket=b, Key="ssec", **_ssec())["Body"].read() == single
    assert s3.get_object(Bucket=b, Key="multi")["Body"].read() == b"".join(parts)
    assert s3.get_object(Bucket=b, Key="copied")["Body"].read() == single
    assert _files_containing(server.data_dir, needle) == []


def test_objects_stored_before_encryption_still_read(fresh_sluice, unique):
    """A data directory from before encryption: rows without a record, files in plaintext."""
    server = fresh_sluice.start()
    s3 = server.client("s3")
    b = f"old-{unique}"
    s3.create_bucket(Bucket=b)
    body = os.urandom(300_000)
    s3.put_object(Bucket=b, Key="old", Body=body)
    assert server.stop() == 0
    db = sqlite3.connect(os.path.join(server.data_dir, "sluice.db"))
    (blob,) = db.execute("SELECT blob FROM lake_objects WHERE bucket=? AND key='old'",
                         (b,)).fetchone()
    db.execute("UPDATE lake_objects SET sse=NULL WHERE bucket=? AND key='old'", (b,))
    db.commit()
    db.close()
    with open(os.path.join(server.data_dir, "lake", "objects", blob[:2], blob), "wb") as f:
        f.write(body)
    server.start()
    s3 = server.client("s3")
    g = s3.get_object(Bucket=b, Key="old")
    assert g["Body"].read() == body
    assert "ServerSideEncryption" not in g
    r = s3.get_object(Bucket=b, Key="old", Range="bytes=100-199")
    assert r["Body"].read() == body[100:200]
    c = s3.copy_object(Bucket=b, Key="new", CopySource={"Bucket": b, "Key": "old"})
    assert c["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=b, Key="new")["Body"].read() == body


# ---- bucket default encryption ----

def test_bucket_encryption_configuration(s3, bucket):
    def rules():
        return s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]

    # Every bucket encrypts with SSE-S3 until told otherwise.
    assert rules() == [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                        "BucketKeyEnabled": False}]
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={"Rules": [{
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
            "BucketKeyEnabled": True}]})
    assert rules() == [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                        "BucketKeyEnabled": True}]
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    assert put["ServerSideEncryption"] == "AES256"
    with pytest.raises(ClientError) as e:
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={"Rules": [{
                "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256",
                                                       "KMSMasterKeyID": "alias/x"}}]})
    assert _error(e) == ("InvalidArgument", 400)
    s3.delete_bucket_encryption(Bucket=bucket)
    assert rules()[0]["BucketKeyEnabled"] is False
    with pytest.raises(ClientError) as e:
        s3.get_bucket_encryption(Bucket=f"{bucket}-missing")
    assert _error(e) == ("NoSuchBucket", 404)


def test_bucket_encryption_with_the_cli(sluice, unique, tmp_path):
    b = f"enc-cli-{unique}"
    body = tmp_path / "body.txt"
    body.write_bytes(b"hello")
    sluice.aws("s3api", "create-bucket", "--bucket", b)
    sluice.aws("s3api", "put-bucket-encryption", "--bucket", b,
               "--server-side-encryption-configuration",
               '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}')
    out = sluice.aws("s3api", "get-bucket-encryption", "--bucket", b)
    rule = out["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    put = sluice.aws("s3api", "put-object", "--bucket", b, "--key", "k",
                     "--body", str(body))
    assert put["ServerSideEncryption"] == "AES256"
    head = sluice.aws("s3api", "head-object", "--bucket", b, "--key", "k")
    assert head["ServerSideEncryption"] == "AES256"


# ---- SSE-KMS ----

def test_sse_kms_per_request_and_a_disabled_key(sluice, s3, bucket):
    kms = sluice.client("kms")
    key = kms.create_key(Description="s3 objects")["KeyMetadata"]
    body = os.urandom(200_000)
    put = s3.put_object(Bucket=bucket, Key="k", Body=body, ServerSideEncryption="aws:kms",
                        SSEKMSKeyId=key["KeyId"], BucketKeyEnabled=True)
    assert put["ServerSideEncryption"] == "aws:kms"
    assert put["SSEKMSKeyId"] == key["Arn"]
    assert put["BucketKeyEnabled"] is True
    g = s3.get_object(Bucket=bucket, Key="k")
    assert g["Body"].read() == body
    assert g["ServerSideEncryption"] == "aws:kms" and g["SSEKMSKeyId"] == key["Arn"]
    r = s3.get_object(Bucket=bucket, Key="k", Range="bytes=65530-65600")
    assert r["Body"].read() == body[65530:65601]
    h = s3.head_object(Bucket=bucket, Key="k")
    assert h["SSEKMSKeyId"] == key["Arn"]

    # The AWS managed key aws/s3 when none is named.
    put = s3.put_object(Bucket=bucket, Key="managed", Body=b"m", ServerSideEncryption="aws:kms")
    assert put["SSEKMSKeyId"].startswith("arn:aws:kms:")
    assert put["SSEKMSKeyId"] != key["Arn"]

    kms.disable_key(KeyId=key["KeyId"])
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k")
    assert _error(e) == ("KMS.DisabledException", 400)
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k2", Body=b"x", ServerSideEncryption="aws:kms",
                      SSEKMSKeyId=key["KeyId"])
    assert _error(e) == ("KMS.DisabledException", 400)
    kms.enable_key(KeyId=key["KeyId"])
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == body

    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k3", Body=b"x", ServerSideEncryption="aws:kms",
                      SSEKMSKeyId="alias/does-not-exist")
    assert _error(e) == ("KMS.NotFoundException", 400)
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k3", Body=b"x", SSEKMSKeyId=key["KeyId"])
    assert _error(e) == ("InvalidArgument", 400)


def test_sse_kms_bucket_default_multipart_and_copy(sluice, s3, bucket):
    kms = sluice.client("kms")
    key = kms.create_key()["KeyMetadata"]
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={"Rules": [{
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
                                                   "KMSMasterKeyID": key["Arn"]},
            "BucketKeyEnabled": True}]})
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms",
                                                          "KMSMasterKeyID": key["Arn"]}
    put = s3.put_object(Bucket=bucket, Key="d", Body=b"default")
    assert put["ServerSideEncryption"] == "aws:kms" and put["SSEKMSKeyId"] == key["Arn"]
    # A request's own choice wins over the default.
    put = s3.put_object(Bucket=bucket, Key="s3", Body=b"x", ServerSideEncryption="AES256")
    assert put["ServerSideEncryption"] == "AES256"

    parts = [os.urandom(5 * MiB), os.urandom(99)]
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")
    assert up["ServerSideEncryption"] == "aws:kms" and up["SSEKMSKeyId"] == key["Arn"]
    done = []
    for i, p in enumerate(parts, start=1):
        r = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=i, Body=p)
        assert r["ServerSideEncryption"] == "aws:kms"
        done.append({"PartNumber": i, "ETag": r["ETag"]})
    c = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                                     MultipartUpload={"Parts": done})
    assert c["ServerSideEncryption"] == "aws:kms" and c["SSEKMSKeyId"] == key["Arn"]
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"".join(parts)

    copy = s3.copy_object(Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "mp"})
    assert copy["ServerSideEncryption"] == "aws:kms"
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"".join(parts)
    kms.disable_key(KeyId=key["KeyId"])
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="mp")
    assert _error(e) == ("KMS.DisabledException", 400)
    kms.enable_key(KeyId=key["KeyId"])


def test_tampered_bytes_are_refused(fresh_sluice, unique):
    """Chunks are authenticated: a changed byte on disk fails the read, never returns
    altered data."""
    server = fresh_sluice.start()
    s3 = server.client("s3")
    b = f"tamper-{unique}"
    s3.create_bucket(Bucket=b)
    body = os.urandom(200_000)
    s3.put_object(Bucket=b, Key="t", Body=body)
    assert server.stop() == 0
    db = sqlite3.connect(os.path.join(server.data_dir, "sluice.db"))
    (blob,) = db.execute("SELECT blob FROM lake_objects WHERE bucket=? AND key='t'",
                         (b,)).fetchone()
    db.close()
    path = os.path.join(server.data_dir, "lake", "objects", blob[:2], blob)
    with open(path, "r+b") as f:
        f.seek(70_000)  # inside the second chunk
        byte = f.read(1)
        f.seek(70_000)
        f.write(bytes([byte[0] ^ 1]))
    server.start()
    s3 = server.client("s3")
    # The first chunk still reads; any range touching the second fails.
    assert s3.get_object(Bucket=b, Key="t", Range="bytes=0-999")["Body"].read() == body[:1000]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=b, Key="t", Range="bytes=65536-65600")
    assert _error(e) == ("InternalError", 500)


def test_large_encrypted_object_streams_whole(sluice, s3, bucket, tmp_path):
    """A whole GET of a large encrypted object is decrypted as it is sent."""
    body = os.urandom(40 * MiB + 7)
    src = tmp_path / "src.bin"
    src.write_bytes(body)
    with open(src, "rb") as f:
        s3.put_object(Bucket=bucket, Key="big", Body=f)
    g = s3.get_object(Bucket=bucket, Key="big")
    assert g["ServerSideEncryption"] == "AES256"
    # Its length is known from the start: sent as Content-Length, not chunked.
    headers = g["ResponseMetadata"]["HTTPHeaders"]
    assert headers.get("content-length") == str(len(body))
    assert "transfer-encoding" not in headers
    assert g["ContentLength"] == len(body)
    assert hashlib.md5(g["Body"].read()).digest() == hashlib.md5(body).digest()
    out = tmp_path / "out.bin"
    sluice.aws("s3api", "get-object", "--bucket", bucket, "--key", "big", str(out))
    assert out.read_bytes() == body
    out2 = tmp_path / "out2.bin"
    sluice.aws("s3", "cp", f"s3://{bucket}/big", str(out2), output="text")
    assert out2.read_bytes() == body
