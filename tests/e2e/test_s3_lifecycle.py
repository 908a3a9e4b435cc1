"""S3 bucket lifecycle end to end with boto3 and the AWS CLI: the configuration API and
its checks, and the rules applied by the sweeper as the lifecycle clock moves (serve
--test-clock: POST /_sluice/clock/advance?seconds=N moves it and sweeps before
answering): expiration by days, noncurrent versions kept by NewerNoncurrentVersions,
expired delete markers, aborted uploads, transitions' storage class, object lock, the
x-amz-expiration and x-amz-abort-* headers, and a configuration that survives kill -9."""
import datetime
import json
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import AwsCliError
# SLUICE_EXTRA_ARGS: fresh_sluice starts its servers with the module's flags
from s3_clock import DAY, SLUICE_EXTRA_ARGS, advance, clocked_server  # noqa: F401


@pytest.fixture(scope="module")
def server():
    with clocked_server() as s:
        yield s


@pytest.fixture(scope="module")
def s3(server):
    return server.client("s3")


@pytest.fixture
def bucket(s3, unique):
    name = f"lc-{unique}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def clocked(fresh_sluice):
    """A server of the test's own: the lifecycle clock only moves forward."""
    return fresh_sluice.start()


def code_of(e):
    return e.value.response["Error"]["Code"]


def put_rules(s3, bucket, rules, **kw):
    return s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": rules}, **kw)


def next_midnight_after(t, days):
    t = t.astimezone(datetime.timezone.utc) + datetime.timedelta(days=days)
    return datetime.datetime(t.year, t.month, t.day, tzinfo=datetime.timezone.utc) + \
        datetime.timedelta(days=1)


def keys(s3, bucket):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def versions(s3, bucket):
    r = s3.list_object_versions(Bucket=bucket)
    return r.get("Versions", []), r.get("DeleteMarkers", [])


# ---- the configuration API ----

def test_round_trip(s3, bucket):
    rules = [
        {"ID": "logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled",
         "Expiration": {"Days": 30},
         "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"},
                         {"Days": 60, "StorageClass": "GLACIER"}]},
        {"ID": "tagged", "Filter": {"And": {"Prefix": "t/", "Tags": [
            {"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}],
            "ObjectSizeGreaterThan": 10, "ObjectSizeLessThan": 1000}},
         "Status": "Disabled", "Expiration": {"Date": datetime.datetime(2030, 1, 1)}},
        {"ID": "one-tag", "Filter": {"Tag": {"Key": "k", "Value": "v"}}, "Status": "Enabled",
         "NoncurrentVersionExpiration": {"NoncurrentDays": 5, "NewerNoncurrentVersions": 3},
         "NoncurrentVersionTransitions": [{"NoncurrentDays": 1, "StorageClass": "GLACIER"}]},
        {"ID": "size", "Filter": {"ObjectSizeGreaterThan": 1024}, "Status": "Enabled",
         "Expiration": {"Days": 3}},
        {"ID": "markers", "Filter": {}, "Status": "Enabled",
         "Expiration": {"ExpiredObjectDeleteMarker": True},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}},
    ]
    r = put_rules(s3, bucket, rules)
    hdrs = r["ResponseMetadata"]["HTTPHeaders"]
    assert hdrs["x-amz-transition-default-minimum-object-size"] == "all_storage_classes_128K"
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [g["ID"] for g in got] == [r["ID"] for r in rules]
    assert got[0]["Filter"] == {"Prefix": "logs/"}
    assert got[0]["Expiration"] == {"Days": 30}
    assert got[0]["Transitions"] == rules[0]["Transitions"]
    assert got[1]["Status"] == "Disabled"
    assert got[1]["Filter"]["And"]["Tags"] == rules[1]["Filter"]["And"]["Tags"]
    assert got[1]["Filter"]["And"]["ObjectSizeLessThan"] == 1000
    assert got[1]["Expiration"]["Date"] == datetime.datetime(2030, 1, 1,
                                                             tzinfo=datetime.timezone.utc)
    assert got[2]["Filter"] == {"Tag": {"Key": "k", "Value": "v"}}
    assert got[2]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 5,
                                                     "NewerNoncurrentVersions": 3}
    assert got[2]["NoncurrentVersionTransitions"] == [{"NoncurrentDays": 1,
                                                       "StorageClass": "GLACIER"}]
    assert got[3]["Filter"] == {"ObjectSizeGreaterThan": 1024}
    assert got[4]["Expiration"] == {"ExpiredObjectDeleteMarker": True}
    assert got[4]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}

    # A rule without an ID gets one; a legacy top-level Prefix is kept as such.
    put_rules(s3, bucket, [{"Prefix": "old/", "Status": "Enabled", "Expiration": {"Days": 1}}])
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert len(got[0]["ID"]) > 0 and got[0]["Prefix"] == "old/" and "Filter" not in got[0]

    s3.delete_bucket_lifecycle(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert code_of(e) == "NoSuchLifecycleConfiguration"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def rule(**kw):
    r = {"ID": "r", "Filter": {"Prefix": ""}, "Status": "Enabled", "Expiration": {"Days": 1}}
    r.update(kw)
    return r


MIDNIGHT = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
BAD = [
    ("days-zero", [rule(Expiration={"Days": 0})], "InvalidArgument"),
    ("days-and-date", [rule(Expiration={"Days": 1, "Date": MIDNIGHT})], "MalformedXML"),
    ("marker-and-days", [rule(Expiration={"Days": 1, "ExpiredObjectDeleteMarker": True})],
     "MalformedXML"),
    ("date-not-midnight",
     [rule(Expiration={"Date": datetime.datetime(2030, 1, 1, 12, tzinfo=datetime.timezone.utc)})],
     "InvalidArgument"),
    ("status", [rule(Status="Sometimes")], "MalformedXML"),
    ("prefix-and-filter", [rule(Prefix="a/")], "MalformedXML"),
    ("two-conditions", [rule(Filter={"Prefix": "a", "Tag": {"Key": "k", "Value": "v"}})],
     "MalformedXML"),
    ("duplicate-id", [rule(), rule()], "InvalidArgument"),
    ("id-too-long", [rule(ID="x" * 256)], "InvalidArgument"),
    ("no-action", [{"ID": "r", "Filter": {"Prefix": ""}, "Status": "Enabled"}], "InvalidRequest"),
    ("abort-with-tags", [{"ID": "r", "Filter": {"Tag": {"Key": "k", "Value": "v"}},
                          "Status": "Enabled",
                          "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}],
     "InvalidRequest"),
    ("noncurrent-days-zero", [rule(NoncurrentVersionExpiration={"NoncurrentDays": 0})],
     "InvalidArgument"),
    ("newer-versions-101", [rule(NoncurrentVersionExpiration={
        "NoncurrentDays": 1, "NewerNoncurrentVersions": 101})], "InvalidArgument"),
    ("ia-before-30-days", [rule(Expiration={"Days": 90},
                                Transitions=[{"Days": 10, "StorageClass": "STANDARD_IA"}])],
     "InvalidArgument"),
    ("abort-days-zero", [rule(AbortIncompleteMultipartUpload={"DaysAfterInitiation": 0})],
     "InvalidArgument"),
    ("too-many-rules", [rule(ID=f"r{i}") for i in range(1001)], "InvalidRequest"),
]


@pytest.mark.parametrize("rules,code", [(r, c) for _, r, c in BAD], ids=[n for n, _, _ in BAD])
def test_validation(s3, bucket, rules, code):
    with pytest.raises(ClientError) as e:
        put_rules(s3, bucket, rules)
    assert code_of(e) == code
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # Nothing was stored.
    with pytest.raises(ClientError) as e:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert code_of(e) == "NoSuchLifecycleConfiguration"


def test_missing_bucket(s3, unique):
    with pytest.raises(ClientError) as e:
        put_rules(s3, f"nope-{unique}", [rule()])
    assert code_of(e) == "NoSuchBucket"
    with pytest.raises(ClientError) as e:
        s3.get_bucket_lifecycle_configuration(Bucket=f"nope-{unique}")
    assert code_of(e) == "NoSuchBucket"


def test_cli(server, unique):
    name = f"lc-cli-{unique}"
    server.aws("s3api", "create-bucket", "--bucket", name)
    cfg = {"Rules": [{"ID": "cli", "Filter": {"Prefix": "tmp/"}, "Status": "Enabled",
                      "Expiration": {"Days": 7},
                      "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}}]}
    server.aws("s3api", "put-bucket-lifecycle-configuration", "--bucket", name,
               "--lifecycle-configuration", json.dumps(cfg))
    got = server.aws("s3api", "get-bucket-lifecycle-configuration", "--bucket", name)
    assert got["Rules"] == cfg["Rules"]
    bad = {"Rules": [{"ID": "x", "Filter": {"Prefix": ""}, "Status": "Enabled",
                      "Expiration": {"Days": -1}}]}
    with pytest.raises(AwsCliError) as e:
        server.aws("s3api", "put-bucket-lifecycle-configuration", "--bucket", name,
                   "--lifecycle-configuration", json.dumps(bad))
    assert "InvalidArgument" in e.value.stderr
    server.aws("s3api", "delete-bucket-lifecycle", "--bucket", name)
    with pytest.raises(AwsCliError) as e:
        server.aws("s3api", "get-bucket-lifecycle-configuration", "--bucket", name)
    assert "NoSuchLifecycleConfiguration" in e.value.stderr


def test_expiration_headers(s3, bucket):
    put_rules(s3, bucket, [
        {"ID": "short", "Filter": {"Prefix": "a/"}, "Status": "Enabled", "Expiration": {"Days": 3}},
        {"ID": "long", "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 10},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}},
        {"ID": "off", "Filter": {}, "Status": "Disabled", "Expiration": {"Days": 1}},
    ])
    put = s3.put_object(Bucket=bucket, Key="a/x", Body=b"data")
    head = s3.head_object(Bucket=bucket, Key="a/x")
    want = next_midnight_after(head["LastModified"], 3)
    expect = f'expiry-date="{want.strftime("%a, %d %b %Y %H:%M:%S GMT")}", rule-id="short"'
    assert put["Expiration"] == expect
    assert head["Expiration"] == expect
    assert s3.get_object(Bucket=bucket, Key="a/x")["Expiration"] == expect
    # Outside a/ the longer rule applies.
    s3.put_object(Bucket=bucket, Key="b", Body=b"data")
    assert 'rule-id="long"' in s3.head_object(Bucket=bucket, Key="b")["Expiration"]
    copy = s3.copy_object(Bucket=bucket, Key="a/copy", CopySource={"Bucket": bucket, "Key": "b"})
    assert 'rule-id="short"' in copy["Expiration"]
    # Multipart: the abort date on creation and ListParts, the expiration on completion.
    up = s3.create_multipart_upload(Bucket=bucket, Key="a/mp")
    assert up["AbortRuleId"] == "long"
    assert up["AbortDate"] > datetime.datetime.now(datetime.timezone.utc)
    assert up["AbortDate"].hour == 0 and up["AbortDate"].minute == 0
    part = s3.upload_part(Bucket=bucket, Key="a/mp", UploadId=up["UploadId"], PartNumber=1,
                          Body=b"x" * 10)
    lp = s3.list_parts(Bucket=bucket, Key="a/mp", UploadId=up["UploadId"])
    assert lp["AbortRuleId"] == "long" and lp["AbortDate"] == up["AbortDate"]
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="a/mp", UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert 'rule-id="short"' in done["Expiration"]
    # Without a configuration, no header.
    s3.delete_bucket_lifecycle(Bucket=bucket)
    assert "Expiration" not in s3.head_object(Bucket=bucket, Key="a/x")


def test_clock_refused_without_option(sluice):
    req = urllib.request.Request(f"{sluice.endpoint}/_sluice/clock/advance?seconds=1",
                                 method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=30)
    assert e.value.code in (400, 403, 404, 405)


# ---- rules applied as the clock moves ----

def test_expiration_by_days(clocked, unique):
    s3 = clocked.client("s3")
    b = f"exp-{unique}"
    s3.create_bucket(Bucket=b)
    put_rules(s3, b, [{"ID": "logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled",
                       "Expiration": {"Days": 2}}])
    for k in ("logs/1", "logs/2", "keep/1"):
        s3.put_object(Bucket=b, Key=k, Body=b"x" * 100)
    big = b"y" * (200 << 10)  # a file, not a small object
    s3.put_object(Bucket=b, Key="logs/big", Body=big)
    advance(clocked, 1 * DAY)
    assert keys(s3, b) == ["keep/1", "logs/1", "logs/2", "logs/big"]
    r = advance(clocked, 2 * DAY)
    assert r["expired"] == 3
    assert keys(s3, b) == ["keep/1"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=b, Key="logs/1")
    assert code_of(e) == "NoSuchKey"
    # A later sweep has nothing more to do.
    assert advance(clocked, 0)["expired"] == 0


def test_tag_and_size_filters(clocked, unique):
    s3 = clocked.client("s3")
    b = f"tag-{unique}"
    s3.create_bucket(Bucket=b)
    put_rules(s3, b, [
        {"ID": "tmp", "Filter": {"Tag": {"Key": "class", "Value": "tmp"}}, "Status": "Enabled",
         "Expiration": {"Days": 1}},
        {"ID": "big", "Filter": {"And": {"Prefix": "s/", "ObjectSizeGreaterThan": 100}},
         "Status": "Enabled", "Expiration": {"Days": 1}},
    ])
    s3.put_object(Bucket=b, Key="tagged", Body=b"1", Tagging="class=tmp")
    s3.put_object(Bucket=b, Key="other-tag", Body=b"1", Tagging="class=keep")
    s3.put_object(Bucket=b, Key="untagged", Body=b"1")
    s3.put_object(Bucket=b, Key="s/small", Body=b"1" * 100)
    s3.put_object(Bucket=b, Key="s/large", Body=b"1" * 101)
    assert "Expiration" in s3.head_object(Bucket=b, Key="tagged")
    assert "Expiration" not in s3.head_object(Bucket=b, Key="untagged")
    advance(clocked, 3 * DAY)
    assert keys(s3, b) == ["other-tag", "s/small", "untagged"]


def test_versioned_expiration_and_markers(clocked, unique):
    s3 = clocked.client("s3")
    b = f"ver-{unique}"
    s3.create_bucket(Bucket=b)
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    put_rules(s3, b, [
        {"ID": "expire", "Filter": {"Prefix": "a/"}, "Status": "Enabled",
         "Expiration": {"Days": 1}, "NoncurrentVersionExpiration": {"NoncurrentDays": 1}},
        {"ID": "markers", "Filter": {"Prefix": "a/"}, "Status": "Enabled",
         "Expiration": {"ExpiredObjectDeleteMarker": True}},
    ])
    v1 = s3.put_object(Bucket=b, Key="a/x", Body=b"one")["VersionId"]
    # A lone delete marker (its object deleted for good) is an expired marker.
    s3.put_object(Bucket=b, Key="a/gone", Body=b"g")
    s3.delete_object(Bucket=b, Key="a/gone")
    g = [v for v in versions(s3, b)[0] if v["Key"] == "a/gone"][0]
    s3.delete_object(Bucket=b, Key="a/gone", VersionId=g["VersionId"])
    # The sweep at +2 days: a/x's current version expires (a marker).
    advance(clocked, 2 * DAY)
    vs, ms = versions(s3, b)
    assert [v["VersionId"] for v in vs] == [v1] and not vs[0]["IsLatest"]
    assert [m["Key"] for m in ms] == ["a/x"] and ms[0]["IsLatest"]
    with pytest.raises(ClientError):
        s3.head_object(Bucket=b, Key="a/x")
    # Later: the noncurrent version goes, then its marker is an expired one and goes too.
    advance(clocked, 3 * DAY)
    vs, ms = versions(s3, b)
    assert vs == [] and ms == []


def test_newer_noncurrent_versions(clocked, unique):
    s3 = clocked.client("s3")
    b = f"nnv-{unique}"
    s3.create_bucket(Bucket=b)
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    put_rules(s3, b, [{"ID": "keep2", "Filter": {}, "Status": "Enabled",
                       "NoncurrentVersionExpiration": {"NoncurrentDays": 1,
                                                       "NewerNoncurrentVersions": 2}}])
    ids = [s3.put_object(Bucket=b, Key="k", Body=f"v{i}".encode())["VersionId"] for i in range(5)]
    advance(clocked, 0)
    assert len(versions(s3, b)[0]) == 5  # not yet a day noncurrent
    r = advance(clocked, 3 * DAY)
    assert r["noncurrent"] == 2
    vs = versions(s3, b)[0]
    assert [v["VersionId"] for v in vs] == [ids[4], ids[3], ids[2]]
    assert s3.get_object(Bucket=b, Key="k")["Body"].read() == b"v4"


def test_suspended_and_unversioned_null_versions(clocked, unique):
    s3 = clocked.client("s3")
    b = f"sus-{unique}"
    s3.create_bucket(Bucket=b)
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Suspended"})
    put_rules(s3, b, [{"ID": "e", "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 1}}])
    s3.put_object(Bucket=b, Key="n", Body=b"null version")
    advance(clocked, 2 * DAY)
    vs, ms = versions(s3, b)
    # Suspended: the null delete marker replaces the null version.
    assert vs == [] and [(m["Key"], m["VersionId"]) for m in ms] == [("n", "null")]


def test_multipart_aborted(clocked, unique):
    s3 = clocked.client("s3")
    b = f"mpu-{unique}"
    s3.create_bucket(Bucket=b)
    put_rules(s3, b, [{"ID": "abort", "Filter": {"Prefix": "up/"}, "Status": "Enabled",
                       "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}])
    up = s3.create_multipart_upload(Bucket=b, Key="up/1")
    other = s3.create_multipart_upload(Bucket=b, Key="keep/1")
    s3.upload_part(Bucket=b, Key="up/1", UploadId=up["UploadId"], PartNumber=1, Body=b"p" * 100)
    r = advance(clocked, 3 * DAY)
    assert r["aborted"] == 1
    left = [u["Key"] for u in s3.list_multipart_uploads(Bucket=b).get("Uploads", [])]
    assert left == ["keep/1"]
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=b, Key="up/1", UploadId=up["UploadId"])
    assert code_of(e) == "NoSuchUpload"
    s3.abort_multipart_upload(Bucket=b, Key="keep/1", UploadId=other["UploadId"])


def test_transitions_storage_class(clocked, unique):
    s3 = clocked.client("s3")
    b = f"tr-{unique}"
    s3.create_bucket(Bucket=b)
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    put_rules(s3, b, [{"ID": "cold", "Filter": {}, "Status": "Enabled",
                       "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"},
                                       {"Days": 90, "StorageClass": "GLACIER"}],
                       "NoncurrentVersionTransitions": [{"NoncurrentDays": 1,
                                                         "StorageClass": "DEEP_ARCHIVE"}]}])
    big = b"b" * (200 << 10)
    old = s3.put_object(Bucket=b, Key="big", Body=big)["VersionId"]
    s3.put_object(Bucket=b, Key="big", Body=big)
    s3.put_object(Bucket=b, Key="small", Body=b"s" * 1000)  # under 128 KiB: stays
    assert "StorageClass" not in s3.head_object(Bucket=b, Key="big")
    advance(clocked, 40 * DAY)
    assert s3.head_object(Bucket=b, Key="big")["StorageClass"] == "STANDARD_IA"
    advance(clocked, 60 * DAY)
    head = s3.head_object(Bucket=b, Key="big")
    assert head["StorageClass"] == "GLACIER"
    with pytest.raises(ClientError) as e:  # archived: read once restored
        s3.get_object(Bucket=b, Key="big")
    assert code_of(e) == "InvalidObjectState"
    listed = {o["Key"]: o["StorageClass"] for o in s3.list_objects_v2(Bucket=b)["Contents"]}
    assert listed == {"big": "GLACIER", "small": "STANDARD"}
    vs = {v["VersionId"]: v["StorageClass"] for v in versions(s3, b)[0] if v["Key"] == "big"}
    assert vs[old] == "DEEP_ARCHIVE"
    assert s3.head_object(Bucket=b, Key="big", VersionId=old)["StorageClass"] == "DEEP_ARCHIVE"
    # A copy is a new object: it starts in STANDARD (its archived source restored first).
    s3.restore_object(Bucket=b, Key="big", RestoreRequest={
        "Days": 1, "GlacierJobParameters": {"Tier": "Expedited"}})
    advance(clocked, 600)
    got = s3.get_object(Bucket=b, Key="big")
    assert got["StorageClass"] == "GLACIER" and got["Body"].read() == big
    s3.copy_object(Bucket=b, Key="copy", CopySource={"Bucket": b, "Key": "big"})
    assert "StorageClass" not in s3.head_object(Bucket=b, Key="copy")


def test_locked_versions_kept(clocked, unique):
    s3 = clocked.client("s3")
    b = f"lock-{unique}"
    s3.create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
    until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    locked = s3.put_object(Bucket=b, Key="k", Body=b"locked", ObjectLockMode="COMPLIANCE",
                           ObjectLockRetainUntilDate=until)["VersionId"]
    held = s3.put_object(Bucket=b, Key="h", Body=b"held", ObjectLockLegalHoldStatus="ON")["VersionId"]
    free = s3.put_object(Bucket=b, Key="f", Body=b"free")["VersionId"]
    for k in ("k", "h", "f"):
        s3.put_object(Bucket=b, Key=k, Body=b"newer")
    put_rules(s3, b, [{"ID": "nc", "Filter": {}, "Status": "Enabled",
                       "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}])
    r = advance(clocked, 5 * DAY)
    assert r["noncurrent"] == 1 and r["keptLocked"] == 2
    left = {v["VersionId"] for v in versions(s3, b)[0]}
    assert locked in left and held in left and free not in left
    s3.put_object_legal_hold(Bucket=b, Key="h", VersionId=held, LegalHold={"Status": "OFF"})
    advance(clocked, 0)
    assert held not in {v["VersionId"] for v in versions(s3, b)[0]}


def test_configuration_survives_kill9(clocked, unique):
    s3 = clocked.client("s3")
    b = f"dur-{unique}"
    s3.create_bucket(Bucket=b)
    rules = [{"ID": "durable", "Filter": {"Prefix": "p/"}, "Status": "Enabled",
              "Expiration": {"Days": 1}}]
    put_rules(s3, b, rules, TransitionDefaultMinimumObjectSize="varies_by_storage_class") \
        if "TransitionDefaultMinimumObjectSize" in s3.meta.service_model.operation_model(
            "PutBucketLifecycleConfiguration").input_shape.members else put_rules(s3, b, rules)
    s3.put_object(Bucket=b, Key="p/1", Body=b"x")
    clocked.kill9()
    clocked.start()
    s3 = clocked.client("s3")
    got = s3.get_bucket_lifecycle_configuration(Bucket=b)
    assert got["Rules"] == rules
    # The restarted server applies it.
    advance(clocked, 2 * DAY)
    assert keys(s3, b) == []


def test_expiration_days_removes_old_lone_markers(clocked, unique):
    s3 = clocked.client("s3")
    b = f"mk-{unique}"
    s3.create_bucket(Bucket=b)
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    put_rules(s3, b, [{"ID": "e", "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 2}}])
    s3.delete_object(Bucket=b, Key="lone")  # a marker with no version under it
    s3.put_object(Bucket=b, Key="kept", Body=b"v")
    s3.delete_object(Bucket=b, Key="kept")  # a marker over a version: not expired
    assert advance(clocked, 0)["markers"] == 0
    r = advance(clocked, 4 * DAY)
    assert r["markers"] == 1
    vs, ms = versions(s3, b)
    assert [m["Key"] for m in ms] == ["kept"] and [v["Key"] for v in vs] == ["kept"]
