"""One rule for '+' in a query string (src/core/text.h): it is a space, for the SigV4
signature and for the operation alike, so the value a signature covers is the value the
operation uses. SDKs send a '+' as %2B and a space as %20."""
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import pytest
from botocore.config import Config

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


@pytest.fixture
def bucket(sluice, unique):
    s3 = sluice.client("s3")
    name = f"enc-{unique}"
    s3.create_bucket(Bucket=name)
    for key in ("a+b/plus", "a b/space"):
        s3.put_object(Bucket=name, Key=key, Body=b"x")
    return name


def presigned_listing(sluice, bucket, prefix):
    s3 = sluice.client("s3", config=Config(signature_version="s3v4",
                                           retries={"total_max_attempts": 1}))
    return s3.generate_presigned_url("list_objects_v2",
                                     Params={"Bucket": bucket, "Prefix": prefix},
                                     ExpiresIn=300)


def fetch(url):
    """(status, body) of a GET, errors included."""
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def listed_keys(body):
    """The keys of a listing; botocore's presigned listings ask for encoding-type=url."""
    root = ET.fromstring(body)
    url = root.findtext(NS + "EncodingType") == "url"
    return [urllib.parse.unquote(k.text) if url else k.text for k in root.iter(NS + "Key")]


def test_presigned_listing_lists_the_prefix_that_was_signed(sluice, bucket):
    plus = presigned_listing(sluice, bucket, "a+b")
    space = presigned_listing(sluice, bucket, "a b")
    assert "prefix=a%2Bb" in plus and "prefix=a%20b" in space
    status, body = fetch(plus)
    assert status == 200, body
    assert listed_keys(body) == ["a+b/plus"]
    status, body = fetch(space)
    assert status == 200, body
    assert listed_keys(body) == ["a b/space"]


def test_rewriting_an_encoded_plus_to_plus_breaks_the_signature(sluice, bucket):
    # '+' reads as a space: the request now asks for "a b", which was not signed.
    url = presigned_listing(sluice, bucket, "a+b").replace("prefix=a%2Bb", "prefix=a+b")
    status, body = fetch(url)
    assert status == 403, body
    assert ET.fromstring(body).findtext("Code") == "SignatureDoesNotMatch"


def test_a_space_sent_as_plus_keeps_its_meaning_and_its_signature(sluice, bucket):
    url = presigned_listing(sluice, bucket, "a b").replace("prefix=a%20b", "prefix=a+b")
    status, body = fetch(url)
    assert status == 200, body
    assert listed_keys(body) == ["a b/space"]
