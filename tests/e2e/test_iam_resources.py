"""Policies decided on the resources AWS checks, not on "*": Kinesis calls that name their
stream only through a shard iterator, a paging token or a consumer; IAM calls on the
user, group, role or policy they name; KMS calls on the key (and alias), with the key's
own policy as the gate. Then the condition keys aws:SourceIp, aws:PrincipalTag/<key> and
aws:RequestedRegion, and permissions boundaries limiting what identity policies allow."""
import base64
import json
import signal
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError


def client_as(sluice, service, key, secret, region=None):
    cfg = Config(retries={"total_max_attempts": 1})
    return boto3.client(service, endpoint_url=sluice.endpoint,
                        region_name=region or sluice.region, aws_access_key_id=key,
                        aws_secret_access_key=secret, config=cfg)


def code_of(exc):
    return exc.value.response["Error"]["Code"]


def message_of(exc):
    return exc.value.response["Error"]["Message"]


def denied(arn, action, resource, why=None):
    why = why or f"because no identity-based policy allows the {action} action"
    return f"User: {arn} is not authorized to perform: {action} on resource: {resource} {why}"


def user_with(sluice, name, statements, tags=None):
    iam = sluice.client("iam")
    iam.create_user(UserName=name, **({"Tags": tags} if tags else {}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": statements}))
    return key["AccessKeyId"], key["SecretAccessKey"], f"arn:aws:iam::{sluice.account_id}:user/{name}"


def active_stream(kinesis, name, shards=1):
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    deadline = time.time() + 60
    while time.time() < deadline:
        d = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        if d["StreamStatus"] == "ACTIVE":
            return d["StreamARN"]
        time.sleep(0.1)
    raise AssertionError(f"{name} never became ACTIVE")


def iterator(kinesis, name):
    return kinesis.get_shard_iterator(StreamName=name, ShardId="shardId-000000000000",
                                      ShardIteratorType="TRIM_HORIZON")["ShardIterator"]


# ---- Kinesis: streams named indirectly ----

def test_get_records_is_decided_on_the_iterators_stream(sluice, unique):
    root = sluice.client("kinesis")
    a = active_stream(root, f"ra-{unique}")
    b = active_stream(root, f"rb-{unique}")
    root.put_record(StreamName=f"ra-{unique}", Data=b"a", PartitionKey="p")
    root.put_record(StreamName=f"rb-{unique}", Data=b"b", PartitionKey="p")
    key, secret, arn = user_with(sluice, f"reader-{unique}", [
        {"Effect": "Allow", "Action": "kinesis:GetRecords", "Resource": a}])
    k = client_as(sluice, "kinesis", key, secret)
    recs = k.get_records(ShardIterator=iterator(root, f"ra-{unique}"))["Records"]
    assert [r["Data"] for r in recs] == [b"a"]
    with pytest.raises(ClientError) as e:
        k.get_records(ShardIterator=iterator(root, f"rb-{unique}"))
    assert code_of(e) == "AccessDeniedException"
    assert message_of(e) == denied(arn, "kinesis:GetRecords", b)


def test_list_shards_with_a_token_is_decided_on_its_stream(sluice, unique):
    root = sluice.client("kinesis")
    a = active_stream(root, f"la-{unique}", shards=3)
    b = active_stream(root, f"lb-{unique}", shards=3)
    key, secret, arn = user_with(sluice, f"lister-{unique}", [
        {"Effect": "Allow", "Action": "kinesis:ListShards", "Resource": a}])
    k = client_as(sluice, "kinesis", key, secret)
    first = k.list_shards(StreamName=f"la-{unique}", MaxResults=1)
    assert len(k.list_shards(NextToken=first["NextToken"])["Shards"]) >= 1
    token_b = root.list_shards(StreamName=f"lb-{unique}", MaxResults=1)["NextToken"]
    with pytest.raises(ClientError) as e:
        k.list_shards(NextToken=token_b)
    assert message_of(e) == denied(arn, "kinesis:ListShards", b)


def test_consumer_calls_are_decided_on_the_consumer_arn(sluice, unique):
    root = sluice.client("kinesis")
    a = active_stream(root, f"ca-{unique}")
    mine = root.register_stream_consumer(StreamARN=a, ConsumerName="mine")["Consumer"]
    other = root.register_stream_consumer(StreamARN=a, ConsumerName="other")["Consumer"]
    key, secret, arn = user_with(sluice, f"consumer-{unique}", [
        {"Effect": "Allow", "Action": ["kinesis:DescribeStreamConsumer",
                                       "kinesis:DeregisterStreamConsumer"],
         "Resource": f"{a}/consumer/mine:*"}])
    k = client_as(sluice, "kinesis", key, secret)
    got = k.describe_stream_consumer(ConsumerARN=mine["ConsumerARN"])
    assert got["ConsumerDescription"]["ConsumerName"] == "mine"
    # named by the stream's ARN and the consumer's name: the same consumer ARN is checked
    got = k.describe_stream_consumer(StreamARN=a, ConsumerName="mine")
    assert got["ConsumerDescription"]["ConsumerARN"] == mine["ConsumerARN"]
    with pytest.raises(ClientError) as e:
        k.describe_stream_consumer(StreamARN=a, ConsumerName="other")
    assert message_of(e) == denied(arn, "kinesis:DescribeStreamConsumer", other["ConsumerARN"])
    with pytest.raises(ClientError) as e:
        k.deregister_stream_consumer(ConsumerARN=other["ConsumerARN"])
    assert message_of(e) == denied(arn, "kinesis:DeregisterStreamConsumer",
                                   other["ConsumerARN"])


# ---- IAM on its own resources ----

def test_iam_calls_are_decided_on_the_entity_they_name(sluice, unique):
    iam = sluice.client("iam")
    iam.create_user(UserName=f"mine-{unique}", Path="/team/")
    iam.create_user(UserName=f"theirs-{unique}")
    iam.create_role(RoleName=f"role-{unique}", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "firehose.amazonaws.com"}}]}))
    acct = sluice.account_id
    key, secret, arn = user_with(sluice, f"admin-{unique}", [
        {"Effect": "Allow", "Action": ["iam:GetUser", "iam:ListUserTags"],
         "Resource": f"arn:aws:iam::{acct}:user/team/*"},
        {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}])
    c = client_as(sluice, "iam", key, secret)
    assert c.get_user(UserName=f"mine-{unique}")["User"]["Path"] == "/team/"
    assert c.list_users()["Users"]
    with pytest.raises(ClientError) as e:
        c.get_user(UserName=f"theirs-{unique}")
    assert code_of(e) == "AccessDenied"
    assert message_of(e) == denied(arn, "iam:GetUser", f"arn:aws:iam::{acct}:user/theirs-{unique}")
    with pytest.raises(ClientError) as e:
        c.get_role(RoleName=f"role-{unique}")
    assert message_of(e) == denied(arn, "iam:GetRole", f"arn:aws:iam::{acct}:role/role-{unique}")
    with pytest.raises(ClientError) as e:
        c.get_policy(PolicyArn="arn:aws:iam::aws:policy/AmazonKinesisFullAccess")
    assert message_of(e) == denied(arn, "iam:GetPolicy",
                                   "arn:aws:iam::aws:policy/AmazonKinesisFullAccess")


def test_attaching_is_limited_by_the_policy_arn_condition(sluice, unique):
    acct = sluice.account_id
    sluice.client("iam").create_user(UserName=f"target-{unique}")
    key, secret, arn = user_with(sluice, f"attacher-{unique}", [
        {"Effect": "Allow", "Action": "iam:AttachUserPolicy",
         "Resource": f"arn:aws:iam::{acct}:user/target-{unique}",
         "Condition": {"ArnEquals": {
             "iam:PolicyARN": "arn:aws:iam::aws:policy/AmazonKinesisReadOnlyAccess"}}}])
    c = client_as(sluice, "iam", key, secret)
    c.attach_user_policy(UserName=f"target-{unique}",
                         PolicyArn="arn:aws:iam::aws:policy/AmazonKinesisReadOnlyAccess")
    with pytest.raises(ClientError) as e:
        c.attach_user_policy(UserName=f"target-{unique}",
                             PolicyArn="arn:aws:iam::aws:policy/AmazonKinesisFullAccess")
    assert message_of(e) == denied(arn, "iam:AttachUserPolicy",
                                   f"arn:aws:iam::{acct}:user/target-{unique}")


# ---- KMS: the key, its aliases and its policy ----

def test_kms_calls_are_decided_on_the_key_and_its_policy(sluice, unique):
    kms = sluice.client("kms")
    mine = kms.create_key()["KeyMetadata"]
    other = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName=f"alias/mine-{unique}", TargetKeyId=mine["KeyId"])
    key, secret, arn = user_with(sluice, f"crypt-{unique}", [
        {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": mine["Arn"]}])
    k = client_as(sluice, "kms", key, secret)
    # the default key policy lets the account's IAM policies decide
    blob = k.encrypt(KeyId=f"alias/mine-{unique}", Plaintext=b"hello")["CiphertextBlob"]
    assert k.decrypt(CiphertextBlob=blob)["Plaintext"] == b"hello"
    with pytest.raises(ClientError) as e:
        k.encrypt(KeyId=other["KeyId"], Plaintext=b"x")
    assert code_of(e) == "AccessDeniedException"
    assert message_of(e) == denied(arn, "kms:Encrypt", other["Arn"])
    other_blob = kms.encrypt(KeyId=other["KeyId"], Plaintext=b"y")["CiphertextBlob"]
    with pytest.raises(ClientError) as e:
        k.decrypt(CiphertextBlob=other_blob)
    assert message_of(e) == denied(arn, "kms:Decrypt", other["Arn"])
    # a key policy that no longer names the account: IAM policies do not reach the key
    kms.put_key_policy(KeyId=mine["KeyId"], PolicyName="default", Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{sluice.account_id}:user/nobody"},
             "Action": "kms:*", "Resource": "*"}]}))
    with pytest.raises(ClientError) as e:
        k.encrypt(KeyId=mine["KeyId"], Plaintext=b"x")
    assert message_of(e) == denied(arn, "kms:Encrypt", mine["Arn"],
                                   "because no resource-based policy allows the kms:Encrypt action")
    # a key policy naming the user grants on its own
    key2, secret2, arn2 = user_with(sluice, f"keyuser-{unique}", [])
    kms.put_key_policy(KeyId=other["KeyId"], PolicyName="default", Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{sluice.account_id}:root"},
             "Action": "kms:*", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": arn2}, "Action": "kms:Encrypt",
             "Resource": "*"}]}))
    k2 = client_as(sluice, "kms", key2, secret2)
    assert k2.encrypt(KeyId=other["KeyId"], Plaintext=b"z")["KeyId"] == other["Arn"]
    with pytest.raises(ClientError) as e:
        k2.describe_key(KeyId=other["KeyId"])
    assert message_of(e) == denied(arn2, "kms:DescribeKey", other["Arn"])


def test_alias_calls_need_the_alias_and_the_key(sluice, unique):
    kms = sluice.client("kms")
    mine = kms.create_key()["KeyMetadata"]
    other = kms.create_key()["KeyMetadata"]
    acct, region = sluice.account_id, sluice.region
    alias_arn = f"arn:aws:kms:{region}:{acct}:alias/a-{unique}"
    key, secret, arn = user_with(sluice, f"aliaser-{unique}", [
        {"Effect": "Allow", "Action": ["kms:CreateAlias", "kms:DeleteAlias"],
         "Resource": [alias_arn, mine["Arn"]]}])
    k = client_as(sluice, "kms", key, secret)
    with pytest.raises(ClientError) as e:
        k.create_alias(AliasName=f"alias/a-{unique}", TargetKeyId=other["KeyId"])
    assert message_of(e) == denied(arn, "kms:CreateAlias", other["Arn"])
    with pytest.raises(ClientError) as e:
        k.create_alias(AliasName=f"alias/b-{unique}", TargetKeyId=mine["KeyId"])
    assert message_of(e) == denied(arn, "kms:CreateAlias",
                                   f"arn:aws:kms:{region}:{acct}:alias/b-{unique}")
    k.create_alias(AliasName=f"alias/a-{unique}", TargetKeyId=mine["KeyId"])
    k.delete_alias(AliasName=f"alias/a-{unique}")


# ---- condition keys ----

def test_source_ip_principal_tag_and_requested_region(sluice, unique):
    root = sluice.client("kinesis")
    s = active_stream(root, f"cond-{unique}")
    key, secret, arn = user_with(sluice, f"cond-{unique}", [
        {"Effect": "Allow", "Action": "kinesis:DescribeStreamSummary", "Resource": s,
         "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}},
        {"Effect": "Allow", "Action": "kinesis:DescribeStream", "Resource": s,
         "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}},
        {"Effect": "Allow", "Action": "kinesis:ListShards", "Resource": s,
         "Condition": {"StringEquals": {"kinesis:unused": "x", "aws:PrincipalTag/team": "data"}}},
        {"Effect": "Allow", "Action": "kinesis:ListShards", "Resource": s,
         "Condition": {"StringEquals": {"aws:PrincipalTag/team": "data",
                                        "aws:RequestedRegion": sluice.region}}},
        {"Effect": "Allow", "Action": "kinesis:ListTagsForStream", "Resource": s,
         "Condition": {"StringEquals": {"aws:PrincipalTag/team": "ops"}}},
        {"Effect": "Allow", "Action": "kinesis:GetShardIterator", "Resource": s,
         "Condition": {"StringNotEquals": {"aws:RequestedRegion": sluice.region}}}],
        tags=[{"Key": "team", "Value": "data"}])
    k = client_as(sluice, "kinesis", key, secret)
    assert k.describe_stream_summary(StreamName=f"cond-{unique}")
    assert k.list_shards(StreamName=f"cond-{unique}")["Shards"]
    for call, action in ((lambda: k.describe_stream(StreamName=f"cond-{unique}"),
                          "kinesis:DescribeStream"),
                         (lambda: k.list_tags_for_stream(StreamName=f"cond-{unique}"),
                          "kinesis:ListTagsForStream"),
                         (lambda: iterator(k, f"cond-{unique}"), "kinesis:GetShardIterator")):
        with pytest.raises(ClientError) as e:
            call()
        assert message_of(e) == denied(arn, action, s)
    # a changed tag decides the next call
    sluice.client("iam").tag_user(UserName=f"cond-{unique}", Tags=[{"Key": "team", "Value": "ops"}])
    assert "Tags" in k.list_tags_for_stream(StreamName=f"cond-{unique}")
    with pytest.raises(ClientError):
        k.list_shards(StreamName=f"cond-{unique}")


# ---- permissions boundaries ----

def test_a_permissions_boundary_limits_what_identity_policies_allow(sluice, unique):
    iam = sluice.client("iam")
    root = sluice.client("kinesis")
    s = active_stream(root, f"bd-{unique}")
    boundary = iam.create_policy(PolicyName=f"bd-{unique}", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "kinesis:Describe*", "Resource": "*"}]}))["Policy"]["Arn"]
    key, secret, arn = user_with(sluice, f"bounded-{unique}", [
        {"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"}])
    iam.put_user_permissions_boundary(UserName=f"bounded-{unique}", PermissionsBoundary=boundary)
    got = iam.get_user(UserName=f"bounded-{unique}")["User"]["PermissionsBoundary"]
    assert got == {"PermissionsBoundaryType": "PermissionsBoundaryPolicy",
                   "PermissionsBoundaryArn": boundary}
    k = client_as(sluice, "kinesis", key, secret)
    assert k.describe_stream_summary(StreamName=f"bd-{unique}")
    with pytest.raises(ClientError) as e:
        k.put_record(StreamName=f"bd-{unique}", Data=b"x", PartitionKey="p")
    assert message_of(e) == denied(arn, "kinesis:PutRecord", s,
                                   "because no permissions boundary allows the kinesis:PutRecord action")
    # the boundary alone grants nothing
    key2, secret2, arn2 = user_with(sluice, f"onlybd-{unique}", [])
    iam.put_user_permissions_boundary(UserName=f"onlybd-{unique}", PermissionsBoundary=boundary)
    with pytest.raises(ClientError) as e:
        client_as(sluice, "kinesis", key2, secret2).describe_stream_summary(StreamName=f"bd-{unique}")
    assert message_of(e) == denied(arn2, "kinesis:DescribeStreamSummary", s)
    assert iam.get_policy(PolicyArn=boundary)["Policy"]["PermissionsBoundaryUsageCount"] == 2
    with pytest.raises(ClientError) as e:
        iam.delete_policy(PolicyArn=boundary)
    assert code_of(e) == "DeleteConflict"
    iam.delete_user_permissions_boundary(UserName=f"bounded-{unique}")
    assert "PermissionsBoundary" not in iam.get_user(UserName=f"bounded-{unique}")["User"]
    assert iam.get_policy(PolicyArn=boundary)["Policy"]["PermissionsBoundaryUsageCount"] == 1
    assert k.put_record(StreamName=f"bd-{unique}", Data=b"x", PartitionKey="p")["SequenceNumber"]
    with pytest.raises(ClientError) as e:
        iam.put_user_permissions_boundary(UserName=f"bounded-{unique}",
                                          PermissionsBoundary="arn:aws:iam::aws:policy/NoSuch")
    assert code_of(e) == "NoSuchEntity"


def test_a_roles_boundary_limits_its_sessions(sluice, unique):
    iam = sluice.client("iam")
    root = sluice.client("kinesis")
    active_stream(root, f"rbd-{unique}")
    key, secret, arn = user_with(sluice, f"assumer-{unique}", [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}])
    role = iam.create_role(
        RoleName=f"rbd-{unique}",
        PermissionsBoundary="arn:aws:iam::aws:policy/AmazonKinesisReadOnlyAccess",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": arn}}]}))["Role"]
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == \
        "arn:aws:iam::aws:policy/AmazonKinesisReadOnlyAccess"
    iam.attach_role_policy(RoleName=f"rbd-{unique}",
                           PolicyArn="arn:aws:iam::aws:policy/AmazonKinesisFullAccess")
    sts = client_as(sluice, "sts", key, secret)
    creds = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="sess")["Credentials"]
    k = boto3.client("kinesis", endpoint_url=sluice.endpoint, region_name=sluice.region,
                     aws_access_key_id=creds["AccessKeyId"],
                     aws_secret_access_key=creds["SecretAccessKey"],
                     aws_session_token=creds["SessionToken"],
                     config=Config(retries={"total_max_attempts": 1}))
    assert k.describe_stream_summary(StreamName=f"rbd-{unique}")
    with pytest.raises(ClientError) as e:
        k.put_record(StreamName=f"rbd-{unique}", Data=b"x", PartitionKey="p")
    assert "because no permissions boundary allows the kinesis:PutRecord action" in message_of(e)
    iam.delete_role_permissions_boundary(RoleName=f"rbd-{unique}")
    assert k.put_record(StreamName=f"rbd-{unique}", Data=b"x", PartitionKey="p")["SequenceNumber"]


# ---- AWS managed policies ----

AWS_POLICIES = {
    "AdministratorAccess": "arn:aws:iam::aws:policy/AdministratorAccess",
    "ReadOnlyAccess": "arn:aws:iam::aws:policy/ReadOnlyAccess",
    "AmazonS3FullAccess": "arn:aws:iam::aws:policy/AmazonS3FullAccess",
    "AmazonS3ReadOnlyAccess": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
    "AmazonKinesisFullAccess": "arn:aws:iam::aws:policy/AmazonKinesisFullAccess",
    "AmazonKinesisReadOnlyAccess": "arn:aws:iam::aws:policy/AmazonKinesisReadOnlyAccess",
    "AmazonKinesisFirehoseFullAccess": "arn:aws:iam::aws:policy/AmazonKinesisFirehoseFullAccess",
    "AmazonAthenaFullAccess": "arn:aws:iam::aws:policy/AmazonAthenaFullAccess",
    "AWSGlueServiceRole": "arn:aws:iam::aws:policy/service-role/AWSGlueServiceRole",
    "AWSGlueConsoleFullAccess": "arn:aws:iam::aws:policy/AWSGlueConsoleFullAccess",
    "CloudWatchReadOnlyAccess": "arn:aws:iam::aws:policy/CloudWatchReadOnlyAccess",
}


def test_aws_managed_policies_are_listed_with_their_documents(sluice):
    iam = sluice.client("iam")
    listed = {p["PolicyName"]: p for p in iam.get_paginator("list_policies").paginate(
        Scope="AWS").build_full_result()["Policies"]}
    for name, arn in AWS_POLICIES.items():
        assert listed[name]["Arn"] == arn
        p = iam.get_policy(PolicyArn=arn)["Policy"]
        doc = iam.get_policy_version(PolicyArn=arn, VersionId=p["DefaultVersionId"])
        assert doc["PolicyVersion"]["Document"]["Statement"]
    assert listed["AWSGlueServiceRole"]["Path"] == "/service-role/"
    glue = iam.get_policy_version(PolicyArn=AWS_POLICIES["AWSGlueServiceRole"],
                                  VersionId="v5")["PolicyVersion"]["Document"]
    assert "glue:*" in glue["Statement"][0]["Action"]


@pytest.mark.parametrize("policy,allowed,refused", [
    ("AdministratorAccess", ["put", "describe", "list_buckets"], []),
    ("ReadOnlyAccess", ["describe", "list_buckets"], ["put"]),
    ("AmazonKinesisReadOnlyAccess", ["describe"], ["put", "list_buckets"]),
    ("AmazonS3FullAccess", ["list_buckets"], ["describe"]),
    ("CloudWatchReadOnlyAccess", ["list_metrics"], ["describe", "put"]),
])
def test_aws_managed_policies_decide_as_their_documents_say(sluice, unique, policy, allowed,
                                                             refused):
    root = sluice.client("kinesis")
    active_stream(root, f"mp-{unique}")
    key, secret, arn = user_with(sluice, f"mp-{unique}", [])
    sluice.client("iam").attach_user_policy(UserName=f"mp-{unique}",
                                            PolicyArn=AWS_POLICIES[policy])
    k = client_as(sluice, "kinesis", key, secret)
    s3 = client_as(sluice, "s3", key, secret)
    cw = client_as(sluice, "cloudwatch", key, secret)
    calls = {
        "put": lambda: k.put_record(StreamName=f"mp-{unique}", Data=b"x", PartitionKey="p"),
        "describe": lambda: k.describe_stream_summary(StreamName=f"mp-{unique}"),
        "list_buckets": lambda: s3.list_buckets(),
        "list_metrics": lambda: cw.list_metrics(),
    }
    for c in allowed:
        calls[c]()
    for c in refused:
        with pytest.raises(ClientError) as e:
            calls[c]()
        assert code_of(e) in ("AccessDeniedException", "AccessDenied")


# ---- Firehose writes as its role ----

def test_firehose_with_a_role_that_cannot_write_delivers_once_allowed(sluice, unique):
    iam = sluice.client("iam")
    s3 = sluice.client("s3")
    fh = sluice.client("firehose")
    bucket = f"fhrole-{unique}"
    s3.create_bucket(Bucket=bucket)
    role = iam.create_role(RoleName=f"fhrole-{unique}", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "firehose.amazonaws.com"},
             "Action": "sts:AssumeRole"}]}))["Role"]
    iam.put_role_policy(RoleName=f"fhrole-{unique}", PolicyName="read-only",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
                             "Resource": [f"arn:aws:s3:::{bucket}",
                                          f"arn:aws:s3:::{bucket}/*"]}]}))
    fh.create_delivery_stream(DeliveryStreamName=bucket, ExtendedS3DestinationConfiguration={
        "RoleARN": role["Arn"], "BucketARN": f"arn:aws:s3:::{bucket}",
        "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}})
    deadline = time.time() + 60
    while fh.describe_delivery_stream(DeliveryStreamName=bucket)[
            "DeliveryStreamDescription"]["DeliveryStreamStatus"] != "ACTIVE":
        assert time.time() < deadline
        time.sleep(0.1)
    fh.put_record(DeliveryStreamName=bucket, Record={"Data": b"hello\n"})
    # the write is refused as S3.AccessDenied and retried; nothing lands meanwhile
    deadline = time.time() + 60
    seen = False
    while time.time() < deadline and not seen:
        sluice.proc.send_signal(signal.SIGUSR1)
        with open(sluice.log_path, "rb") as f:
            seen = any(f"s3://{bucket}/".encode() in line and b"S3.AccessDenied" in line
                       for line in f)
        time.sleep(0.2)
    assert seen
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    iam.put_role_policy(RoleName=f"fhrole-{unique}", PolicyName="write",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                            {"Effect": "Allow", "Action": "s3:PutObject",
                             "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    deadline = time.time() + 90
    while s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0:
        assert time.time() < deadline, "never delivered once the role could write"
        time.sleep(0.5)
    key = s3.list_objects_v2(Bucket=bucket)["Contents"][0]["Key"]
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"hello\n"
