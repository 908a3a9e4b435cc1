"""Roles handed to services and sessions that carry tags: Firehose reads its Kinesis source as
the source's role (a role that may not read delivers nothing, then every record once its
policy allows), takes only roles whose trust admits firehose.amazonaws.com, and is handed
roles only by callers allowed iam:PassRole; AssumeRole's session tags become the session's
aws:PrincipalTag keys, need sts:TagSession in the trust policy, and pass along a role chain
when transitive."""
import json
import signal
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError


def client_as(sluice, service, key, secret, token=None):
    cfg = Config(retries={"total_max_attempts": 1})
    return boto3.client(service, endpoint_url=sluice.endpoint, region_name=sluice.region,
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        aws_session_token=token, config=cfg)


def as_session(sluice, service, creds):
    return client_as(sluice, service, creds["AccessKeyId"], creds["SecretAccessKey"],
                     creds["SessionToken"])


def code_of(exc):
    return exc.value.response["Error"]["Code"]


def message_of(exc):
    return exc.value.response["Error"]["Message"]


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def trusting(principal, actions=("sts:AssumeRole",)):
    return doc({"Effect": "Allow", "Principal": principal, "Action": list(actions)})


FIREHOSE = {"Service": "firehose.amazonaws.com"}


def user_with(sluice, name, *statements):
    iam = sluice.client("iam")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=doc(*statements))
    return key["AccessKeyId"], key["SecretAccessKey"], f"arn:aws:iam::{sluice.account_id}:user/{name}"


def active_stream(kinesis, name):
    kinesis.create_stream(StreamName=name, ShardCount=1)
    deadline = time.time() + 60
    while time.time() < deadline:
        d = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        if d["StreamStatus"] == "ACTIVE":
            return d["StreamARN"]
        time.sleep(0.1)
    raise AssertionError(f"{name} never became ACTIVE")


def wait_active(fh, name):
    deadline = time.time() + 60
    while fh.describe_delivery_stream(DeliveryStreamName=name)[
            "DeliveryStreamDescription"]["DeliveryStreamStatus"] != "ACTIVE":
        assert time.time() < deadline, f"{name} never became ACTIVE"
        time.sleep(0.1)


def delivered(s3, bucket):
    lines = []
    for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
        lines.extend(x for x in body.split(b"\n") if x)
    return lines


def dest(bucket, role):
    return {"RoleARN": role, "BucketARN": f"arn:aws:s3:::{bucket}",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}}


def wait_logged(sluice, *needles):
    """Nudges delivery (SIGUSR1) until one line of the server's log holds every needle."""
    deadline = time.time() + 60
    while time.time() < deadline:
        sluice.proc.send_signal(signal.SIGUSR1)
        with open(sluice.log_path, "rb") as f:
            if any(all(n in line for n in needles) for line in f):
                return True
        time.sleep(0.2)
    return False


def wait_delivered(sluice, s3, bucket, records):
    deadline = time.time() + 90
    got = []
    while sorted(got) != sorted(records):
        assert time.time() < deadline, f"delivered {len(got)} of {len(records)}"
        sluice.proc.send_signal(signal.SIGUSR1)
        time.sleep(0.5)
        got = delivered(s3, bucket)


# ---- Firehose reads its Kinesis source as the source's role ----

def test_a_kinesis_source_the_role_cannot_read_delivers_once_the_policy_allows(sluice, unique):
    iam, s3 = sluice.client("iam"), sluice.client("s3")
    fh, kinesis = sluice.client("firehose"), sluice.client("kinesis")
    name = f"ksrc-{unique}"
    s3.create_bucket(Bucket=name)
    stream_arn = active_stream(kinesis, name)
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trusting(FIREHOSE))["Role"]
    # AWS's documented policy for a Kinesis source, but for kinesis:GetRecords
    iam.put_role_policy(RoleName=name, PolicyName="source", PolicyDocument=doc(
        {"Effect": "Allow", "Action": ["kinesis:DescribeStream", "kinesis:GetShardIterator",
                                       "kinesis:ListShards"], "Resource": stream_arn},
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{name}/*"}))
    fh.create_delivery_stream(
        DeliveryStreamName=name, DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": stream_arn,
                                          "RoleARN": role["Arn"]},
        ExtendedS3DestinationConfiguration=dest(name, role["Arn"]))
    wait_active(fh, name)
    records = [f"rec-{i}".encode() for i in range(20)]
    for r in records:
        kinesis.put_record(StreamName=name, Data=r + b"\n", PartitionKey="p")
    # each read is refused and tried again; the refusal is logged, nothing lands
    assert wait_logged(sluice, stream_arn.encode(), b"kinesis:GetRecords", b"AccessDenied"), \
        "the refused read was never logged"
    assert s3.list_objects_v2(Bucket=name).get("KeyCount", 0) == 0
    iam.put_role_policy(RoleName=name, PolicyName="read", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "kinesis:GetRecords", "Resource": stream_arn}))
    wait_delivered(sluice, s3, name, records)


def test_an_encrypted_source_needs_kms_decrypt_for_the_role(sluice, unique):
    iam, s3, kms = sluice.client("iam"), sluice.client("s3"), sluice.client("kms")
    fh, kinesis = sluice.client("firehose"), sluice.client("kinesis")
    name = f"ksrc-kms-{unique}"
    s3.create_bucket(Bucket=name)
    stream_arn = active_stream(kinesis, name)
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]  # its default policy defers to IAM
    kinesis.start_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId=key_arn)
    deadline = time.time() + 60
    while kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
            "StreamStatus"] != "ACTIVE":
        assert time.time() < deadline, "the stream never became ACTIVE again"
        time.sleep(0.1)
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trusting(FIREHOSE))["Role"]
    # every Kinesis read AWS's documented source policy grants, but no kms:Decrypt
    iam.put_role_policy(RoleName=name, PolicyName="source", PolicyDocument=doc(
        {"Effect": "Allow", "Action": ["kinesis:DescribeStream", "kinesis:GetShardIterator",
                                       "kinesis:GetRecords", "kinesis:ListShards"],
         "Resource": stream_arn},
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{name}/*"}))
    fh.create_delivery_stream(
        DeliveryStreamName=name, DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": stream_arn,
                                          "RoleARN": role["Arn"]},
        ExtendedS3DestinationConfiguration=dest(name, role["Arn"]))
    wait_active(fh, name)
    records = [f"sealed-{i}".encode() for i in range(10)]
    for r in records:
        kinesis.put_record(StreamName=name, Data=r + b"\n", PartitionKey="p")
    assert wait_logged(sluice, stream_arn.encode(), b"kms:Decrypt", key_arn.encode()), \
        "the refused decrypt was never logged"
    assert s3.list_objects_v2(Bucket=name).get("KeyCount", 0) == 0
    iam.put_role_policy(RoleName=name, PolicyName="decrypt", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key_arn}))
    wait_delivered(sluice, s3, name, records)


def test_create_takes_only_roles_that_trust_firehose(sluice, unique):
    iam, s3 = sluice.client("iam"), sluice.client("s3")
    fh, kinesis = sluice.client("firehose"), sluice.client("kinesis")
    name = f"trust-{unique}"
    s3.create_bucket(Bucket=name)
    stream_arn = active_stream(kinesis, name)
    good = iam.create_role(RoleName=f"{name}-fh",
                           AssumeRolePolicyDocument=trusting(FIREHOSE))["Role"]["Arn"]
    bad = iam.create_role(RoleName=f"{name}-acct", AssumeRolePolicyDocument=trusting(
        {"AWS": f"arn:aws:iam::{sluice.account_id}:root"}))["Role"]["Arn"]
    for src_role, dst_role in ((bad, good), (good, bad)):
        with pytest.raises(ClientError) as e:
            fh.create_delivery_stream(
                DeliveryStreamName=name, DeliveryStreamType="KinesisStreamAsSource",
                KinesisStreamSourceConfiguration={"KinesisStreamARN": stream_arn,
                                                  "RoleARN": src_role},
                ExtendedS3DestinationConfiguration=dest(name, dst_role))
        assert code_of(e) == "InvalidArgumentException"
        assert message_of(e) == (f"Firehose is unable to assume role {bad}. "
                                 "Please check the role provided.")
    assert name not in fh.list_delivery_streams(Limit=10000)["DeliveryStreamNames"]
    # a role the account does not have is taken on trust, as before roles were checked
    made_up = f"arn:aws:iam::{sluice.account_id}:role/made-up-{unique}"
    fh.create_delivery_stream(
        DeliveryStreamName=name, DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": stream_arn, "RoleARN": made_up},
        ExtendedS3DestinationConfiguration=dest(name, good))
    wait_active(fh, name)
    version = fh.describe_delivery_stream(DeliveryStreamName=name)[
        "DeliveryStreamDescription"]["VersionId"]
    with pytest.raises(ClientError) as e:
        fh.update_destination(DeliveryStreamName=name, CurrentDeliveryStreamVersionId=version,
                              DestinationId="destinationId-000000000001",
                              ExtendedS3DestinationUpdate={"RoleARN": bad})
    assert code_of(e) == "InvalidArgumentException"
    fh.delete_delivery_stream(DeliveryStreamName=name)


# ---- iam:PassRole ----

def test_handing_firehose_a_role_needs_pass_role(sluice, unique):
    iam, s3 = sluice.client("iam"), sluice.client("s3")
    name = f"pass-{unique}"
    s3.create_bucket(Bucket=name)
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trusting(FIREHOSE))["Role"]
    key, secret, user_arn = user_with(
        sluice, name, {"Effect": "Allow", "Action": "firehose:*", "Resource": "*"})
    fh = client_as(sluice, "firehose", key, secret)
    with pytest.raises(ClientError) as e:
        fh.create_delivery_stream(DeliveryStreamName=name,
                                  ExtendedS3DestinationConfiguration=dest(name, role["Arn"]))
    assert code_of(e) == "AccessDeniedException"
    assert message_of(e) == (f"User: {user_arn} is not authorized to perform: iam:PassRole on "
                             f"resource: {role['Arn']} because no identity-based policy allows "
                             "the iam:PassRole action")
    # allowed only towards another service: still refused
    iam.put_user_policy(UserName=name, PolicyName="pass", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": role["Arn"],
         "Condition": {"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}}}))
    with pytest.raises(ClientError) as e:
        fh.create_delivery_stream(DeliveryStreamName=name,
                                  ExtendedS3DestinationConfiguration=dest(name, role["Arn"]))
    assert code_of(e) == "AccessDeniedException"
    iam.put_user_policy(UserName=name, PolicyName="pass", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": role["Arn"],
         "Condition": {"StringEquals": {"iam:PassedToService": "firehose.amazonaws.com"}}}))
    fh.create_delivery_stream(DeliveryStreamName=name,
                              ExtendedS3DestinationConfiguration=dest(name, role["Arn"]))
    wait_active(fh, name)
    # UpdateDestination hands over its new role the same way
    other = f"arn:aws:iam::{sluice.account_id}:role/other-{unique}"
    with pytest.raises(ClientError) as e:
        fh.update_destination(DeliveryStreamName=name, CurrentDeliveryStreamVersionId="1",
                              DestinationId="destinationId-000000000001",
                              ExtendedS3DestinationUpdate={"RoleARN": other})
    assert code_of(e) == "AccessDeniedException"
    assert f"iam:PassRole on resource: {other}" in message_of(e)
    fh.update_destination(DeliveryStreamName=name, CurrentDeliveryStreamVersionId="1",
                          DestinationId="destinationId-000000000001",
                          ExtendedS3DestinationUpdate={"RoleARN": role["Arn"]})
    fh.delete_delivery_stream(DeliveryStreamName=name)


# ---- session tags ----

def tagged_role(sluice, name, user_arn, actions=("sts:AssumeRole", "sts:TagSession"),
                role_tags=None):
    """A role user_arn may assume whose one permission, kinesis:ListStreams, needs the
    principal tag team=blue."""
    iam = sluice.client("iam")
    kw = {"Tags": role_tags} if role_tags else {}
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trusting(
        {"AWS": user_arn}, actions), **kw)["Role"]
    iam.put_role_policy(RoleName=name, PolicyName="blue", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "kinesis:ListStreams", "Resource": "*",
         "Condition": {"StringEquals": {"aws:PrincipalTag/team": "blue"}}}))
    return role["Arn"]


def test_session_tags_are_the_sessions_principal_tags(sluice, unique):
    key, secret, user_arn = user_with(sluice, f"st-{unique}")
    role = tagged_role(sluice, f"st-{unique}", user_arn,
                       role_tags=[{"Key": "Team", "Value": "red"}])
    sts = client_as(sluice, "sts", key, secret)
    # the session's tag overrides the role's, whatever the key's case
    blue = sts.assume_role(RoleArn=role, RoleSessionName="blue",
                           Tags=[{"Key": "team", "Value": "blue"}])
    assert blue["PackedPolicySize"] >= 1
    as_session(sluice, "kinesis", blue["Credentials"]).list_streams()
    for tags in ([{"Key": "team", "Value": "red"}], []):
        creds = sts.assume_role(RoleArn=role, RoleSessionName="other",
                                Tags=tags)["Credentials"]
        with pytest.raises(ClientError) as e:
            as_session(sluice, "kinesis", creds).list_streams()
        assert code_of(e) == "AccessDeniedException"


def test_passing_tags_needs_tag_session_in_the_trust_policy(sluice, unique):
    key, secret, user_arn = user_with(sluice, f"nts-{unique}")
    role = tagged_role(sluice, f"nts-{unique}", user_arn, actions=("sts:AssumeRole",))
    sts = client_as(sluice, "sts", key, secret)
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=role, RoleSessionName="s1",
                        Tags=[{"Key": "team", "Value": "blue"}])
    assert code_of(e) == "AccessDenied"
    assert message_of(e) == (f"User: {user_arn} is not authorized to perform: sts:TagSession "
                             f"on resource: {role}")
    assert "PackedPolicySize" not in sts.assume_role(RoleArn=role, RoleSessionName="s1")


def test_the_trust_policy_sees_the_request_tags(sluice, unique):
    key, secret, user_arn = user_with(sluice, f"rt-{unique}")
    iam = sluice.client("iam")
    role = iam.create_role(RoleName=f"rt-{unique}", AssumeRolePolicyDocument=doc(
        {"Effect": "Allow", "Principal": {"AWS": user_arn},
         "Action": ["sts:AssumeRole", "sts:TagSession"],
         "Condition": {"StringEquals": {"aws:RequestTag/team": "blue",
                                        "sts:ExternalId": "ext-1"},
                       "ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}}))["Role"]["Arn"]
    sts = client_as(sluice, "sts", key, secret)
    sts.assume_role(RoleArn=role, RoleSessionName="s1", ExternalId="ext-1",
                    Tags=[{"Key": "team", "Value": "blue"}])
    for tags, external in (([{"Key": "team", "Value": "red"}], "ext-1"),
                           ([{"Key": "team", "Value": "blue"}, {"Key": "cost", "Value": "1"}],
                            "ext-1"),
                           ([{"Key": "team", "Value": "blue"}], "ext-2")):
        with pytest.raises(ClientError) as e:
            sts.assume_role(RoleArn=role, RoleSessionName="s1", ExternalId=external, Tags=tags)
        assert code_of(e) == "AccessDenied"


def test_session_tag_limits(sluice, unique):
    key, secret, user_arn = user_with(sluice, f"lim-{unique}")
    role = tagged_role(sluice, f"lim-{unique}", user_arn)
    sts = client_as(sluice, "sts", key, secret)
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=role, RoleSessionName="s1",
                        Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])
    assert code_of(e) == "ValidationError"
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=role, RoleSessionName="s1",
                        Tags=[{"Key": "k" * 129, "Value": "v"}])
    assert code_of(e) == "ValidationError"
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=role, RoleSessionName="s1",
                        Tags=[{"Key": "k", "Value": "v" * 257}])
    assert code_of(e) == "ValidationError"
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=role, RoleSessionName="s1",
                        Tags=[{"Key": "team", "Value": "a"}, {"Key": "TEAM", "Value": "b"}])
    assert code_of(e) == "ValidationError"
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=role, RoleSessionName="s1", ExternalId="x" * 1225)
    assert code_of(e) == "ValidationError"
    # within each limit, but too large packed together
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=role, RoleSessionName="s1",
                        Tags=[{"Key": f"{i:03d}" + "k" * 125, "Value": "v" * 256}
                              for i in range(10)])
    assert code_of(e) == "PackedPolicyTooLarge"
    assert message_of(e).startswith("Packed policy consumes ")
    assert message_of(e).endswith("% of allotted space")


def test_transitive_tags_pass_along_a_role_chain(sluice, unique):
    key, secret, user_arn = user_with(sluice, f"tt-{unique}")
    iam = sluice.client("iam")
    first = iam.create_role(RoleName=f"tt1-{unique}", AssumeRolePolicyDocument=trusting(
        {"AWS": user_arn}, ("sts:AssumeRole", "sts:TagSession")))["Role"]["Arn"]
    second = tagged_role(sluice, f"tt2-{unique}", first)
    sts = client_as(sluice, "sts", key, secret)
    tags = [{"Key": "team", "Value": "blue"}]
    kept = sts.assume_role(RoleArn=first, RoleSessionName="kept", Tags=tags,
                           TransitiveTagKeys=["team"])["Credentials"]
    dropped = sts.assume_role(RoleArn=first, RoleSessionName="dropped",
                              Tags=tags)["Credentials"]
    # chained: the transitive tag is the next session's too; a plain session tag is not
    chained = as_session(sluice, "sts", kept).assume_role(
        RoleArn=second, RoleSessionName="chained")["Credentials"]
    as_session(sluice, "kinesis", chained).list_streams()
    plain = as_session(sluice, "sts", dropped).assume_role(
        RoleArn=second, RoleSessionName="plain")["Credentials"]
    with pytest.raises(ClientError) as e:
        as_session(sluice, "kinesis", plain).list_streams()
    assert code_of(e) == "AccessDeniedException"
    # an inherited transitive tag cannot be passed again
    with pytest.raises(ClientError) as e:
        as_session(sluice, "sts", kept).assume_role(
            RoleArn=second, RoleSessionName="again", Tags=[{"Key": "Team", "Value": "red"}])
    assert code_of(e) == "ValidationError"


def test_a_transitive_tag_stands_for_the_roles_tag_in_its_trust_policy(sluice, unique):
    key, secret, user_arn = user_with(sluice, f"rtag-{unique}")
    iam = sluice.client("iam")
    first = iam.create_role(RoleName=f"rtag1-{unique}", AssumeRolePolicyDocument=trusting(
        {"AWS": user_arn}, ("sts:AssumeRole", "sts:TagSession")))["Role"]["Arn"]
    second = iam.create_role(
        RoleName=f"rtag2-{unique}", Tags=[{"Key": "team", "Value": "red"}],
        AssumeRolePolicyDocument=doc(
            {"Effect": "Allow", "Principal": {"AWS": first}, "Action": "sts:AssumeRole",
             "Condition": {"StringEquals": {"aws:ResourceTag/team": "blue"}}}))["Role"]["Arn"]
    sts = client_as(sluice, "sts", key, secret)
    tags = [{"Key": "Team", "Value": "blue"}]
    kept = sts.assume_role(RoleArn=first, RoleSessionName="kept", Tags=tags,
                           TransitiveTagKeys=["Team"])["Credentials"]
    dropped = sts.assume_role(RoleArn=first, RoleSessionName="dropped",
                              Tags=tags)["Credentials"]
    as_session(sluice, "sts", kept).assume_role(RoleArn=second, RoleSessionName="chained")
    with pytest.raises(ClientError) as e:
        as_session(sluice, "sts", dropped).assume_role(RoleArn=second, RoleSessionName="plain")
    assert code_of(e) == "AccessDenied"

def test_session_tags_survive_a_restart(fresh_sluice, unique):
    fresh_sluice.start()
    key, secret, user_arn = user_with(fresh_sluice, f"rs-{unique}")
    role = tagged_role(fresh_sluice, f"rs-{unique}", user_arn)
    creds = client_as(fresh_sluice, "sts", key, secret).assume_role(
        RoleArn=role, RoleSessionName="s1", Tags=[{"Key": "team", "Value": "blue"}],
        TransitiveTagKeys=["team"])["Credentials"]
    as_session(fresh_sluice, "kinesis", creds).list_streams()
    assert fresh_sluice.stop() == 0
    fresh_sluice.start()
    as_session(fresh_sluice, "kinesis", creds).list_streams()
