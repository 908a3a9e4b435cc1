"""boto3's default S3 presigned URLs, which still use Signature Version 2."""
import time

import requests


def test_default_presigned_get_and_put(sluice, unique):
    s3 = sluice.client("s3")
    bucket = f"presign-v2-{unique}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="dir/hello world.txt", Body=b"hello v2")
    url = s3.generate_presigned_url("get_object",
                                    Params={"Bucket": bucket, "Key": "dir/hello world.txt"},
                                    ExpiresIn=60)
    assert "AWSAccessKeyId=" in url and "Signature=" in url  # the SigV2 form
    r = requests.get(url, timeout=30)
    assert r.status_code == 200, r.text
    assert r.content == b"hello v2"

    # Sub-resources are signed: an override added after signing is refused.
    r = requests.get(url + "&response-content-type=text/evil", timeout=30)
    assert r.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in r.text
    signed = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "dir/hello world.txt",
                              "ResponseContentType": "text/plain"}, ExpiresIn=60)
    r = requests.get(signed, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/plain"

    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up"},
                                        ExpiresIn=60)
    r = requests.put(put_url, data=b"uploaded", timeout=30)
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket=bucket, Key="up")["Body"].read() == b"uploaded"


def test_expired_and_forged_v2_urls_are_refused(sluice, unique):
    s3 = sluice.client("s3")
    bucket = f"presign-v2x-{unique}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"},
                                    ExpiresIn=1)
    time.sleep(2.1)
    r = requests.get(url, timeout=30)
    assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"},
                                    ExpiresIn=60)
    forged = url.replace("/k?", "/other?")
    r = requests.get(forged, timeout=30)
    assert r.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in r.text
    wrong_key = url.replace("AWSAccessKeyId=", "AWSAccessKeyId=X")
    r = requests.get(wrong_key, timeout=30)
    assert r.status_code == 403 and "<Code>InvalidAccessKeyId</Code>" in r.text
