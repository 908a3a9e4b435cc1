"""IAM and STS end to end with boto3 and the AWS CLI: users and their access keys, roles
and inline policies with AWS's errors and paging, the lab's create-role and
put-role-policy exactly as written, sign-in with a user's key, AssumeRole's temporary
keys and their session token, and policies enforced on every call: a producer that may
only put to one stream, explicit denies, NotAction, conditions, groups' managed policies,
an assumed role limited by its role's and its session's policies, and a changed policy
deciding the very next call."""
import base64
import json
import os
import subprocess
import time
import urllib.parse

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import AWS_CLI, AwsCliError

TRUST_SERVICE = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "firehose.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
}
POLICY = {"Version": "2012-10-17",
          "Statement": [{"Effect": "Allow", "Action": "kinesis:PutRecord", "Resource": "*"}]}


@pytest.fixture
def iam(sluice):
    return sluice.client("iam")


def client_as(sluice, service, key, secret, token=None):
    cfg = Config(retries={"total_max_attempts": 1})
    return boto3.client(service, endpoint_url=sluice.endpoint, region_name=sluice.region,
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        aws_session_token=token, config=cfg)


def code_of(exc):
    return exc.value.response["Error"]["Code"]


def message_of(exc):
    return exc.value.response["Error"]["Message"]


def make_user_with_key(iam, name):
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


# ---- users ----

def test_users_are_created_listed_renamed_and_deleted(iam, sluice, unique):
    name = f"u-{unique}"
    user = iam.create_user(UserName=name, Path="/team/")["User"]
    assert user["UserName"] == name and user["Path"] == "/team/"
    assert user["Arn"] == f"arn:aws:iam::{sluice.account_id}:user/team/{name}"
    assert user["UserId"].startswith("AIDA") and len(user["UserId"]) == 21
    assert iam.get_user(UserName=name)["User"]["UserId"] == user["UserId"]
    with pytest.raises(ClientError) as e:
        iam.create_user(UserName=name)
    assert code_of(e) == "EntityAlreadyExists"
    assert message_of(e) == f"User with name {name} already exists."
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    names = [u["UserName"] for u in iam.list_users(PathPrefix="/team/")["Users"]]
    assert name in names
    iam.update_user(UserName=name, NewUserName=name + "x")
    assert iam.get_user(UserName=name + "x")["User"]["UserId"] == user["UserId"]
    with pytest.raises(ClientError) as e:
        iam.get_user(UserName=name)
    assert code_of(e) == "NoSuchEntity"
    assert message_of(e) == f"The user with name {name} cannot be found."
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    iam.delete_user(UserName=name + "x")
    with pytest.raises(ClientError) as e:
        iam.delete_user(UserName=name + "x")
    assert code_of(e) == "NoSuchEntity"


def test_user_names_are_validated(iam):
    with pytest.raises(ClientError) as e:
        iam.create_user(UserName="bad name!")
    assert code_of(e) == "ValidationError"
    assert "[\\w+=,.@-]+" in message_of(e)


def test_list_users_pages_with_marker(iam, unique):
    names = [f"p{unique}-{i}" for i in range(5)]
    for n in names:
        iam.create_user(UserName=n, Path=f"/page{unique}/")
    seen, marker = [], None
    while True:
        kw = {"PathPrefix": f"/page{unique}/", "MaxItems": 2}
        if marker:
            kw["Marker"] = marker
        page = iam.list_users(**kw)
        seen += [u["UserName"] for u in page["Users"]]
        assert len(page["Users"]) <= 2
        if not page["IsTruncated"]:
            break
        marker = page["Marker"]
    assert seen == sorted(names)
    paginated = [u["UserName"] for p in iam.get_paginator("list_users").paginate(
        PathPrefix=f"/page{unique}/", PaginationConfig={"PageSize": 3}) for u in p["Users"]]
    assert paginated == sorted(names)
    with pytest.raises(ClientError) as e:
        iam.list_users(MaxItems=1001)
    assert code_of(e) == "ValidationError"


# ---- access keys ----

def test_access_keys_at_most_two_and_delete_conflict(iam, unique):
    name = f"k-{unique}"
    iam.create_user(UserName=name)
    k1 = iam.create_access_key(UserName=name)["AccessKey"]
    assert k1["AccessKeyId"].startswith("AKIA") and len(k1["AccessKeyId"]) == 20
    assert k1["Status"] == "Active" and len(k1["SecretAccessKey"]) == 40
    iam.create_access_key(UserName=name)
    with pytest.raises(ClientError) as e:
        iam.create_access_key(UserName=name)
    assert code_of(e) == "LimitExceeded"
    assert message_of(e) == "Cannot exceed quota for AccessKeysPerUser: 2"
    keys = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    assert len(keys) == 2 and {k["UserName"] for k in keys} == {name}
    with pytest.raises(ClientError) as e:
        iam.delete_user(UserName=name)
    assert code_of(e) == "DeleteConflict"
    assert message_of(e) == "Cannot delete entity, must delete access keys first."
    iam.update_access_key(UserName=name, AccessKeyId=k1["AccessKeyId"], Status="Inactive")
    statuses = {k["AccessKeyId"]: k["Status"]
                for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]}
    assert statuses[k1["AccessKeyId"]] == "Inactive"
    last = iam.get_access_key_last_used(AccessKeyId=k1["AccessKeyId"])
    assert last["UserName"] == name
    for k in keys:
        iam.delete_access_key(UserName=name, AccessKeyId=k["AccessKeyId"])
    with pytest.raises(ClientError) as e:
        iam.delete_access_key(UserName=name, AccessKeyId=k1["AccessKeyId"])
    assert code_of(e) == "NoSuchEntity"
    assert message_of(e) == f"The Access Key with id {k1['AccessKeyId']} cannot be found."
    iam.delete_user(UserName=name)


# ---- roles and inline policies ----

def test_roles_with_trust_policies_and_inline_policies(iam, sluice, unique):
    name = f"r-{unique}"
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_SERVICE),
                           Description="d")["Role"]
    assert role["Arn"] == f"arn:aws:iam::{sluice.account_id}:role/{name}"
    assert role["RoleId"].startswith("AROA") and len(role["RoleId"]) == 21
    assert role["AssumeRolePolicyDocument"] == TRUST_SERVICE
    assert role["MaxSessionDuration"] == 3600
    got = iam.get_role(RoleName=name)["Role"]
    assert got["AssumeRolePolicyDocument"] == TRUST_SERVICE and got["Description"] == "d"
    iam.update_role(RoleName=name, MaxSessionDuration=7200, Description="e")
    got = iam.get_role(RoleName=name)["Role"]
    assert got["MaxSessionDuration"] == 7200 and got["Description"] == "e"
    assert name in [r["RoleName"] for r in iam.list_roles()["Roles"]]
    iam.put_role_policy(RoleName=name, PolicyName="p1", PolicyDocument=json.dumps(POLICY))
    assert iam.get_role_policy(RoleName=name, PolicyName="p1")["PolicyDocument"] == POLICY
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == ["p1"]
    with pytest.raises(ClientError) as e:
        iam.delete_role(RoleName=name)
    assert code_of(e) == "DeleteConflict"
    assert message_of(e) == "Cannot delete entity, must delete policies first."
    with pytest.raises(ClientError) as e:
        iam.get_role_policy(RoleName=name, PolicyName="nope")
    assert code_of(e) == "NoSuchEntity"
    assert message_of(e) == "The role policy with name nope cannot be found."
    iam.delete_role_policy(RoleName=name, PolicyName="p1")
    iam.delete_role(RoleName=name)
    with pytest.raises(ClientError) as e:
        iam.get_role(RoleName=name)
    assert message_of(e) == f"The role with name {name} cannot be found."


def test_update_assume_role_policy_replaces_the_trust(iam, unique):
    name = f"t-{unique}"
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_SERVICE))
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
         "Action": "sts:AssumeRole"}]}
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
    assert iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"] == trust


@pytest.mark.parametrize("doc, message", [
    ("{not json", "Syntax errors in policy."),
    (json.dumps({"Version": "2001-01-01", "Statement": []}), "The policy failed legacy parsing"),
    (json.dumps({"Version": "2012-10-17"}), "Missing required field Statement"),
    (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Action": "*",
                                                          "Resource": "*"}]}),
     "Invalid effect: must be Allow or Deny"),
    (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*"}]}),
     "Policy statement must contain actions."),
    (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*"}]}),
     "Policy statement must contain resources."),
    (json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*", "Principal": "*"}]}),
     "Policy document should not specify a principal."),
])
def test_malformed_identity_policies_are_refused(iam, unique, doc, message):
    iam.create_user(UserName=f"m-{unique}")
    with pytest.raises(ClientError) as e:
        iam.put_user_policy(UserName=f"m-{unique}", PolicyName="p", PolicyDocument=doc)
    assert code_of(e) == "MalformedPolicyDocument"
    assert message_of(e) == message


def test_trust_policies_need_a_principal_and_size_limits_hold(iam, unique):
    no_principal = {"Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}
    with pytest.raises(ClientError) as e:
        iam.create_role(RoleName=f"n-{unique}", AssumeRolePolicyDocument=json.dumps(no_principal))
    assert code_of(e) == "MalformedPolicyDocument"
    assert message_of(e) == "Missing required field Principal"
    iam.create_user(UserName=f"s-{unique}")
    big = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject",
         "Resource": [f"arn:aws:s3:::bucket/{i:04d}" for i in range(100)]}]}
    with pytest.raises(ClientError) as e:
        iam.put_user_policy(UserName=f"s-{unique}", PolicyName="big", PolicyDocument=json.dumps(big))
    assert code_of(e) == "LimitExceeded"
    # the same document fits a role's larger limit
    iam.create_role(RoleName=f"s-{unique}", AssumeRolePolicyDocument=json.dumps(TRUST_SERVICE))
    iam.put_role_policy(RoleName=f"s-{unique}", PolicyName="big", PolicyDocument=json.dumps(big))


def test_the_labs_create_role_and_put_role_policy_as_written(sluice, tmp_path, unique):
    workdir = str(tmp_path)
    script = r'''
set -e
ROLE_NAME="dojo-firehose-role-$SUFFIX"
BUCKET_NAME="dojo-bucket-$SUFFIX"
STREAM_NAME="dojo-stream"
GLUE_DB="dojo_db"
GLUE_TABLE="events"
ACCOUNT_ID=000000000000
cat > "$WORKDIR/firehose-trust-policy.json" <<JSON
{
"Version": "2012-10-17",
"Statement": [
{
"Effect": "Allow",
"Principal": {
"Service": "firehose.amazonaws.com"
},
"Action": "sts:AssumeRole"
}
]
}
JSON
aws iam create-role \
--role-name "$ROLE_NAME" \
--assume-role-policy-document "file://$WORKDIR/firehose-trust-policy.json"
cat > "$WORKDIR/firehose-policy.json" <<JSON
{
"Version": "2012-10-17",
"Statement": [
{
"Effect": "Allow",
"Action": [
"s3:AbortMultipartUpload",
"s3:GetBucketLocation",
"s3:GetObject",
"s3:ListBucket",
"s3:ListBucketMultipartUploads",
"s3:PutObject"
],
"Resource": [
"arn:aws:s3:::$BUCKET_NAME",
"arn:aws:s3:::$BUCKET_NAME/*"
]
},
{
"Effect": "Allow",
"Action": [
"kinesis:DescribeStream",
"kinesis:DescribeStreamSummary",
"kinesis:GetRecords",
"kinesis:GetShardIterator",
"kinesis:ListShards"
],
"Resource": "arn:aws:kinesis:$AWS_REGION:$ACCOUNT_ID:stream/$STREAM_NAME"
},
{
"Effect": "Allow",
"Action": [
"glue:GetDatabase",
"glue:GetTable",
"glue:GetTableVersion",
"glue:GetTableVersions"
],
"Resource": [
"arn:aws:glue:$AWS_REGION:$ACCOUNT_ID:catalog",
"arn:aws:glue:$AWS_REGION:$ACCOUNT_ID:database/$GLUE_DB",
"arn:aws:glue:$AWS_REGION:$ACCOUNT_ID:table/$GLUE_DB/$GLUE_TABLE"
]
},
{
"Effect": "Allow",
"Action": [
"logs:PutLogEvents"
],
"Resource": "*"
}
]
}
JSON
aws iam put-role-policy \
--role-name "$ROLE_NAME" \
--policy-name dojo-firehose-inline \
--policy-document "file://$WORKDIR/firehose-policy.json"
'''
    bindir = tmp_path / "bin"
    bindir.mkdir()
    wrapper = bindir / "aws"
    wrapper.write_text(f'#!/bin/sh\nexec {AWS_CLI} --endpoint-url {sluice.endpoint} "$@"\n')
    wrapper.chmod(0o755)
    env = sluice.cli_env()
    env.update({"WORKDIR": workdir, "SUFFIX": unique, "PATH": f"{bindir}:{env['PATH']}"})
    p = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    role = json.loads(p.stdout)["Role"]
    assert role["RoleName"] == f"dojo-firehose-role-{unique}"
    got = sluice.aws("iam", "get-role-policy", "--role-name", f"dojo-firehose-role-{unique}",
                     "--policy-name", "dojo-firehose-inline")
    stmts = got["PolicyDocument"]["Statement"]
    assert stmts[1]["Resource"] == f"arn:aws:kinesis:{sluice.region}:000000000000:stream/dojo-stream"
    assert stmts[0]["Resource"] == [f"arn:aws:s3:::dojo-bucket-{unique}",
                                    f"arn:aws:s3:::dojo-bucket-{unique}/*"]


# ---- sign-in and the principal of each request ----

def test_a_users_key_signs_and_is_denied_other_services(iam, sluice, unique):
    name = f"signer-{unique}"
    key, secret = make_user_with_key(iam, name)
    sts = client_as(sluice, "sts", key, secret)
    ident = sts.get_caller_identity()
    arn = f"arn:aws:iam::{sluice.account_id}:user/{name}"
    assert ident["Arn"] == arn
    assert ident["UserId"] == iam.get_user(UserName=name)["User"]["UserId"]
    assert ident["Account"] == sluice.account_id
    assert sts.get_access_key_info(AccessKeyId=key)["Account"] == sluice.account_id
    kinesis = client_as(sluice, "kinesis", key, secret)
    with pytest.raises(ClientError) as e:
        kinesis.list_streams()
    assert code_of(e) == "AccessDeniedException"
    assert message_of(e) == (f"User: {arn} is not authorized to perform: kinesis:ListStreams "
                             "on resource: * because no identity-based policy allows the "
                             "kinesis:ListStreams action")
    with pytest.raises(ClientError) as e:
        client_as(sluice, "iam", key, secret).create_user(UserName=f"x-{unique}")
    assert code_of(e) == "AccessDenied"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as e:
        client_as(sluice, "s3", key, secret).list_buckets()
    assert code_of(e) == "AccessDenied"
    # reads about itself are allowed
    me = client_as(sluice, "iam", key, secret)
    assert me.get_user()["User"]["UserName"] == name
    assert [k["AccessKeyId"] for k in me.list_access_keys()["AccessKeyMetadata"]] == [key]
    with pytest.raises(ClientError) as e:
        me.get_user(UserName="someone-else")
    assert code_of(e) == "AccessDenied"


def test_an_inactive_key_is_refused_and_active_again_works(iam, sluice, unique):
    name = f"inactive-{unique}"
    key, secret = make_user_with_key(iam, name)
    sts = client_as(sluice, "sts", key, secret)
    sts.get_caller_identity()
    iam.update_access_key(UserName=name, AccessKeyId=key, Status="Inactive")
    with pytest.raises(ClientError) as e:
        sts.get_caller_identity()
    assert code_of(e) == "InvalidClientTokenId"
    assert message_of(e) == "The security token included in the request is invalid."
    with pytest.raises(ClientError) as e:
        client_as(sluice, "kinesis", key, secret).list_streams()
    assert code_of(e) == "UnrecognizedClientException"
    iam.update_access_key(UserName=name, AccessKeyId=key, Status="Active")
    assert sts.get_caller_identity()["Arn"].endswith(f":user/{name}")


def test_the_cli_with_a_users_key(iam, sluice, unique):
    key, secret = make_user_with_key(iam, f"cli-{unique}")
    env = sluice.cli_env()
    env.update({"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret})
    p = subprocess.run([AWS_CLI, "--endpoint-url", sluice.endpoint, "--output", "json", "sts",
                        "get-caller-identity"], env=env, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["Arn"].endswith(f":user/cli-{unique}")


# ---- STS ----

def assumable_role(iam, sluice, name, principal_arn, max_session=None):
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": principal_arn}, "Action": "sts:AssumeRole"}]}
    kw = {"MaxSessionDuration": max_session} if max_session else {}
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust),
                           **kw)["Role"]


def test_assume_role_gives_keys_that_speak_as_the_role(iam, sluice, unique):
    user = f"assumer-{unique}"
    key, secret = make_user_with_key(iam, user)
    user_arn = f"arn:aws:iam::{sluice.account_id}:user/{user}"
    role = assumable_role(iam, sluice, f"role-{unique}", user_arn)
    sts = client_as(sluice, "sts", key, secret)
    out = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="sess-1",
                          Policy=json.dumps(POLICY))
    creds = out["Credentials"]
    packed = len("".join(json.dumps(POLICY).split()))
    assert out["PackedPolicySize"] == -(-packed * 100 // 2048)
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["AccessKeyId"]) == 20
    assert out["AssumedRoleUser"]["Arn"] == \
        f"arn:aws:sts::{sluice.account_id}:assumed-role/role-{unique}/sess-1"
    assert out["AssumedRoleUser"]["AssumedRoleId"] == role["RoleId"] + ":sess-1"
    temp = client_as(sluice, "sts", creds["AccessKeyId"], creds["SecretAccessKey"],
                     creds["SessionToken"])
    ident = temp.get_caller_identity()
    assert ident["Arn"] == out["AssumedRoleUser"]["Arn"]
    assert ident["UserId"] == out["AssumedRoleUser"]["AssumedRoleId"]
    with pytest.raises(ClientError) as e:
        client_as(sluice, "kinesis", creds["AccessKeyId"], creds["SecretAccessKey"],
                  creds["SessionToken"]).list_streams()
    assert code_of(e) == "AccessDeniedException"
    assert message_of(e).startswith(f"User: {ident['Arn']} is not authorized to perform: "
                                    "kinesis:ListStreams on resource: *")
    with pytest.raises(ClientError) as e:
        temp.get_session_token()
    assert code_of(e) == "AccessDenied"


def test_session_tokens_missing_or_tampered_are_refused(iam, sluice, unique):
    user = f"tamper-{unique}"
    key, secret = make_user_with_key(iam, user)
    role = assumable_role(iam, sluice, f"trole-{unique}",
                          f"arn:aws:iam::{sluice.account_id}:user/{user}")
    creds = client_as(sluice, "sts", key, secret).assume_role(
        RoleArn=role["Arn"], RoleSessionName="s0")["Credentials"]
    raw = bytearray(base64.b64decode(creds["SessionToken"]))
    raw[25] ^= 1  # the expiry, moved by a little
    tampered = base64.b64encode(bytes(raw)).decode()
    for token in (None, tampered, creds["SessionToken"][:-4]):
        c = client_as(sluice, "sts", creds["AccessKeyId"], creds["SecretAccessKey"], token)
        with pytest.raises(ClientError) as e:
            c.get_caller_identity()
        assert code_of(e) == "InvalidClientTokenId"
        assert message_of(e) == "The security token included in the request is invalid."


def test_assume_role_refusals(iam, sluice, unique):
    user = f"refused-{unique}"
    key, secret = make_user_with_key(iam, user)
    user_arn = f"arn:aws:iam::{sluice.account_id}:user/{user}"
    sts = client_as(sluice, "sts", key, secret)
    other = assumable_role(iam, sluice, f"other-{unique}", "arn:aws:iam::000000000000:user/nobody")
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=other["Arn"], RoleSessionName="s1")
    assert code_of(e) == "AccessDenied"
    assert message_of(e) == (f"User: {user_arn} is not authorized to perform: sts:AssumeRole "
                             f"on resource: {other['Arn']}")
    mine = assumable_role(iam, sluice, f"mine-{unique}", user_arn)
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=mine["Arn"], RoleSessionName="s1", DurationSeconds=7200)
    assert code_of(e) == "ValidationError"
    assert "MaxSessionDuration" in message_of(e)
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=mine["Arn"], RoleSessionName="bad name")
    assert code_of(e) == "ValidationError"
    with pytest.raises(ClientError) as e:
        sluice.client("sts").assume_role(RoleArn=mine["Arn"], RoleSessionName="root")
    assert code_of(e) == "AccessDenied"
    # an account-wide trust admits the user too
    acct = assumable_role(iam, sluice, f"acct-{unique}", sluice.account_id, max_session=7200)
    out = sts.assume_role(RoleArn=acct["Arn"], RoleSessionName="s2", DurationSeconds=7200)
    assert out["AssumedRoleUser"]["Arn"].endswith(f"assumed-role/acct-{unique}/s2")


def test_get_session_token_speaks_as_the_user(iam, sluice, unique):
    user = f"gst-{unique}"
    key, secret = make_user_with_key(iam, user)
    creds = client_as(sluice, "sts", key, secret).get_session_token(
        DurationSeconds=900)["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    temp = client_as(sluice, "sts", creds["AccessKeyId"], creds["SecretAccessKey"],
                     creds["SessionToken"])
    assert temp.get_caller_identity()["Arn"] == f"arn:aws:iam::{sluice.account_id}:user/{user}"


def test_identities_survive_a_restart(fresh_sluice, unique):
    fresh_sluice.start()
    iam = fresh_sluice.client("iam")
    key, secret = make_user_with_key(iam, f"durable-{unique}")
    role = assumable_role(iam, fresh_sluice, f"dr-{unique}",
                          f"arn:aws:iam::{fresh_sluice.account_id}:user/durable-{unique}")
    creds = client_as(fresh_sluice, "sts", key, secret).assume_role(
        RoleArn=role["Arn"], RoleSessionName="s0")["Credentials"]
    assert fresh_sluice.stop() == 0
    fresh_sluice.start()
    assert client_as(fresh_sluice, "sts", key, secret).get_caller_identity()["Arn"].endswith(
        f":user/durable-{unique}")
    temp = client_as(fresh_sluice, "sts", creds["AccessKeyId"], creds["SecretAccessKey"],
                     creds["SessionToken"])
    assert temp.get_caller_identity()["Arn"].endswith(f"assumed-role/dr-{unique}/s0")


def test_root_still_does_everything(sluice):
    ident = sluice.client("sts").get_caller_identity()
    assert ident["Arn"] == f"arn:aws:iam::{sluice.account_id}:root"
    sluice.client("kinesis").list_streams()


# ---- groups ----

def test_groups_membership_and_group_policies(iam, sluice, unique):
    group, user = f"g-{unique}", f"gu-{unique}"
    g = iam.create_group(GroupName=group, Path="/eng/")["Group"]
    assert g["GroupId"].startswith("AGPA") and len(g["GroupId"]) == 21
    assert g["Arn"] == f"arn:aws:iam::{sluice.account_id}:group/eng/{group}"
    with pytest.raises(ClientError) as e:
        iam.create_group(GroupName=group)
    assert code_of(e) == "EntityAlreadyExists"
    iam.create_user(UserName=user)
    iam.add_user_to_group(GroupName=group, UserName=user)
    got = iam.get_group(GroupName=group)
    assert [u["UserName"] for u in got["Users"]] == [user]
    assert [x["GroupName"] for x in iam.list_groups_for_user(UserName=user)["Groups"]] == [group]
    assert group in [x["GroupName"] for x in iam.list_groups(PathPrefix="/eng/")["Groups"]]
    with pytest.raises(ClientError) as e:
        iam.delete_group(GroupName=group)
    assert code_of(e) == "DeleteConflict"
    assert message_of(e) == "Cannot delete entity, must remove users from group first."
    with pytest.raises(ClientError) as e:
        iam.delete_user(UserName=user)
    assert code_of(e) == "DeleteConflict"
    iam.remove_user_from_group(GroupName=group, UserName=user)
    iam.put_group_policy(GroupName=group, PolicyName="gp", PolicyDocument=json.dumps(POLICY))
    assert iam.get_group_policy(GroupName=group, PolicyName="gp")["PolicyDocument"] == POLICY
    assert iam.list_group_policies(GroupName=group)["PolicyNames"] == ["gp"]
    with pytest.raises(ClientError) as e:
        iam.delete_group(GroupName=group)
    assert message_of(e) == "Cannot delete entity, must delete policies first."
    iam.delete_group_policy(GroupName=group, PolicyName="gp")
    iam.delete_group(GroupName=group)
    with pytest.raises(ClientError) as e:
        iam.get_group(GroupName=group)
    assert code_of(e) == "NoSuchEntity"
    assert message_of(e) == f"The group with name {group} cannot be found."


# ---- managed policies ----

def test_managed_policies_versions_and_attachments(iam, sluice, unique):
    name = f"mp-{unique}"
    pol = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(POLICY),
                            Description="mine")["Policy"]
    arn = pol["Arn"]
    assert arn == f"arn:aws:iam::{sluice.account_id}:policy/{name}"
    assert pol["PolicyId"].startswith("ANPA") and len(pol["PolicyId"]) == 21
    assert pol["DefaultVersionId"] == "v1" and pol["AttachmentCount"] == 0
    with pytest.raises(ClientError) as e:
        iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(POLICY))
    assert code_of(e) == "EntityAlreadyExists"
    v2 = dict(POLICY, Statement=[dict(POLICY["Statement"][0], Action="kinesis:PutRecords")])
    out = iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(v2),
                                    SetAsDefault=True)["PolicyVersion"]
    assert out["VersionId"] == "v2" and out["IsDefaultVersion"] is True
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v2"
    doc = iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]
    assert doc["Document"] == POLICY and doc["IsDefaultVersion"] is False
    for _ in range(3):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(POLICY))
    with pytest.raises(ClientError) as e:
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(POLICY))
    assert code_of(e) == "LimitExceeded"
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert [v["VersionId"] for v in versions] == ["v5", "v4", "v3", "v2", "v1"]
    with pytest.raises(ClientError) as e:
        iam.delete_policy_version(PolicyArn=arn, VersionId="v2")
    assert code_of(e) == "DeleteConflict"
    assert message_of(e) == "Cannot delete the default version of a policy."
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v1")
    iam.delete_policy_version(PolicyArn=arn, VersionId="v2")
    with pytest.raises(ClientError) as e:
        iam.get_policy_version(PolicyArn=arn, VersionId="v2")
    assert code_of(e) == "NoSuchEntity"

    user, role, group = f"au-{unique}", f"ar-{unique}", f"ag-{unique}"
    iam.create_user(UserName=user)
    iam.create_group(GroupName=group)
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(TRUST_SERVICE))
    iam.attach_user_policy(UserName=user, PolicyArn=arn)
    iam.attach_group_policy(GroupName=group, PolicyArn=arn)
    iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    assert iam.list_attached_user_policies(UserName=user)["AttachedPolicies"] == \
        [{"PolicyName": name, "PolicyArn": arn}]
    assert iam.list_attached_group_policies(GroupName=group)["AttachedPolicies"][0]["PolicyArn"] == arn
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"][0]["PolicyArn"] == arn
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 3
    ents = iam.list_entities_for_policy(PolicyArn=arn)
    assert [u["UserName"] for u in ents["PolicyUsers"]] == [user]
    assert [g["GroupName"] for g in ents["PolicyGroups"]] == [group]
    assert [r["RoleName"] for r in ents["PolicyRoles"]] == [role]
    assert [p["Arn"] for p in iam.list_policies(Scope="Local", OnlyAttached=True)["Policies"]
            if p["Arn"] == arn] == [arn]
    with pytest.raises(ClientError) as e:
        iam.delete_role(RoleName=role)
    assert message_of(e) == "Cannot delete entity, must detach all policies first."
    with pytest.raises(ClientError) as e:
        iam.delete_policy(PolicyArn=arn)
    assert code_of(e) == "DeleteConflict"
    iam.detach_user_policy(UserName=user, PolicyArn=arn)
    iam.detach_group_policy(GroupName=group, PolicyArn=arn)
    iam.detach_role_policy(RoleName=role, PolicyArn=arn)
    with pytest.raises(ClientError) as e:
        iam.detach_role_policy(RoleName=role, PolicyArn=arn)
    assert code_of(e) == "NoSuchEntity"
    with pytest.raises(ClientError) as e:
        iam.delete_policy(PolicyArn=arn)
    assert code_of(e) == "DeleteConflict"  # versions other than the default remain
    for v in ("v3", "v4", "v5"):
        iam.delete_policy_version(PolicyArn=arn, VersionId=v)
    iam.delete_policy(PolicyArn=arn)
    with pytest.raises(ClientError) as e:
        iam.get_policy(PolicyArn=arn)
    assert code_of(e) == "NoSuchEntity"
    assert message_of(e) == f"Policy {arn} does not exist or is not attachable."


def test_aws_managed_policies_are_there_and_attachable(iam, unique):
    aws = {p["PolicyName"]: p for p in iam.list_policies(Scope="AWS", MaxItems=1000)["Policies"]}
    assert {"AmazonKinesisFullAccess", "AmazonKinesisReadOnlyAccess",
            "AmazonKinesisFirehoseFullAccess", "AmazonS3ReadOnlyAccess"} <= set(aws)
    ro = aws["AmazonS3ReadOnlyAccess"]
    assert ro["Arn"] == "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
    assert ro["DefaultVersionId"] == "v3"
    doc = iam.get_policy_version(PolicyArn=ro["Arn"], VersionId="v3")["PolicyVersion"]["Document"]
    assert doc["Statement"][0]["Action"][0] == "s3:Get*"
    local = [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]]
    assert "AmazonKinesisFullAccess" not in local
    iam.create_user(UserName=f"awsp-{unique}")
    iam.attach_user_policy(UserName=f"awsp-{unique}",
                           PolicyArn="arn:aws:iam::aws:policy/AmazonKinesisFullAccess")
    with pytest.raises(ClientError) as e:
        iam.create_policy_version(PolicyArn="arn:aws:iam::aws:policy/AmazonKinesisFullAccess",
                                  PolicyDocument=json.dumps(POLICY))
    assert code_of(e) == "NoSuchEntity"
    with pytest.raises(ClientError) as e:
        iam.attach_user_policy(UserName=f"awsp-{unique}",
                               PolicyArn="arn:aws:iam::aws:policy/NoSuchPolicyAtAll")
    assert code_of(e) == "NoSuchEntity"


def test_list_policies_pages(iam, unique):
    for i in range(3):
        iam.create_policy(PolicyName=f"pg{unique}{i}", Path=f"/pg{unique}/",
                          PolicyDocument=json.dumps(POLICY))
    names = [p["PolicyName"] for page in iam.get_paginator("list_policies").paginate(
        Scope="Local", PathPrefix=f"/pg{unique}/", PaginationConfig={"PageSize": 2})
        for p in page["Policies"]]
    assert names == [f"pg{unique}{i}" for i in range(3)]


# ---- tags ----

def test_tags_of_users_roles_and_policies(iam, unique):
    user, role = f"tu-{unique}", f"tr-{unique}"
    iam.create_user(UserName=user, Tags=[{"Key": "team", "Value": "data"}])
    assert iam.get_user(UserName=user)["User"]["Tags"] == [{"Key": "team", "Value": "data"}]
    iam.tag_user(UserName=user, Tags=[{"Key": "env", "Value": "dev"},
                                      {"Key": "team", "Value": "ops"}])
    assert iam.list_user_tags(UserName=user)["Tags"] == [{"Key": "env", "Value": "dev"},
                                                         {"Key": "team", "Value": "ops"}]
    page = iam.list_user_tags(UserName=user, MaxItems=1)
    assert page["IsTruncated"] and len(page["Tags"]) == 1
    iam.untag_user(UserName=user, TagKeys=["env"])
    assert iam.list_user_tags(UserName=user)["Tags"] == [{"Key": "team", "Value": "ops"}]
    with pytest.raises(ClientError) as e:
        iam.tag_user(UserName=user, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    assert code_of(e) == "LimitExceeded"
    assert len(iam.list_user_tags(UserName=user)["Tags"]) == 1  # nothing of the refused call
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(TRUST_SERVICE),
                    Tags=[{"Key": "a", "Value": "1"}])
    iam.tag_role(RoleName=role, Tags=[{"Key": "b", "Value": "2"}])
    assert iam.get_role(RoleName=role)["Role"]["Tags"] == [{"Key": "a", "Value": "1"},
                                                           {"Key": "b", "Value": "2"}]
    iam.untag_role(RoleName=role, TagKeys=["a"])
    assert iam.list_role_tags(RoleName=role)["Tags"] == [{"Key": "b", "Value": "2"}]
    arn = iam.create_policy(PolicyName=f"tp-{unique}", PolicyDocument=json.dumps(POLICY),
                            Tags=[{"Key": "p", "Value": "q"}])["Policy"]["Arn"]
    assert iam.list_policy_tags(PolicyArn=arn)["Tags"] == [{"Key": "p", "Value": "q"}]
    iam.untag_policy(PolicyArn=arn, TagKeys=["p"])
    iam.tag_policy(PolicyArn=arn, Tags=[{"Key": "r", "Value": "s"}])
    assert iam.list_policy_tags(PolicyArn=arn)["Tags"] == [{"Key": "r", "Value": "s"}]
    with pytest.raises(ClientError) as e:
        iam.list_role_tags(RoleName=f"none-{unique}")
    assert code_of(e) == "NoSuchEntity"


# ---- the account at once ----

def test_get_account_authorization_details(iam, unique):
    user, group, role = f"du-{unique}", f"dg-{unique}", f"dr-{unique}"
    iam.create_user(UserName=user)
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="inl", PolicyDocument=json.dumps(POLICY))
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(TRUST_SERVICE))
    iam.attach_role_policy(RoleName=role,
                           PolicyArn="arn:aws:iam::aws:policy/AmazonKinesisReadOnlyAccess")
    arn = iam.create_policy(PolicyName=f"dp-{unique}",
                            PolicyDocument=json.dumps(POLICY))["Policy"]["Arn"]
    d = iam.get_account_authorization_details()
    u = next(x for x in d["UserDetailList"] if x["UserName"] == user)
    assert u["GroupList"] == [group]
    assert u["UserPolicyList"] == [{"PolicyName": "inl", "PolicyDocument": POLICY}]
    r = next(x for x in d["RoleDetailList"] if x["RoleName"] == role)
    assert r["AssumeRolePolicyDocument"] == TRUST_SERVICE
    assert r["AttachedManagedPolicies"][0]["PolicyName"] == "AmazonKinesisReadOnlyAccess"
    assert any(g["GroupName"] == group for g in d["GroupDetailList"])
    arns = {p["Arn"]: p for p in d["Policies"]}
    assert arn in arns and arns[arn]["PolicyVersionList"][0]["Document"] == POLICY
    assert "arn:aws:iam::aws:policy/AmazonKinesisReadOnlyAccess" in arns
    assert "arn:aws:iam::aws:policy/AmazonKinesisFirehoseFullAccess" not in arns
    only_roles = iam.get_account_authorization_details(Filter=["Role"])
    assert only_roles["RoleDetailList"] and not only_roles.get("UserDetailList")


# ---- policies enforced ----

def denied(arn, action, resource, explicit=False):
    why = ("with an explicit deny in an identity-based policy" if explicit else
           f"because no identity-based policy allows the {action} action")
    return f"User: {arn} is not authorized to perform: {action} on resource: {resource} {why}"


def stream_with(kinesis, name):
    kinesis.create_stream(StreamName=name, ShardCount=1)
    for _ in range(100):
        d = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        if d["StreamStatus"] == "ACTIVE":
            return d["StreamARN"]
        time.sleep(0.1)
    raise AssertionError(f"{name} never became ACTIVE")


def user_with_policy(iam, sluice, name, statements):
    key, secret = make_user_with_key(iam, name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": statements}))
    return key, secret, f"arn:aws:iam::{sluice.account_id}:user/{name}"


def test_a_producer_may_put_to_its_stream_and_nothing_else(iam, sluice, unique):
    root = sluice.client("kinesis")
    mine = stream_with(root, f"prod-{unique}")
    other = stream_with(root, f"other-{unique}")
    key, secret, arn = user_with_policy(iam, sluice, f"producer-{unique}", [
        {"Effect": "Allow", "Action": ["kinesis:PutRecord", "kinesis:PutRecords"],
         "Resource": mine}])
    k = client_as(sluice, "kinesis", key, secret)
    assert k.put_record(StreamName=f"prod-{unique}", Data=b"x", PartitionKey="p")["SequenceNumber"]
    out = k.put_records(StreamName=f"prod-{unique}",
                        Records=[{"Data": b"y" * 1024, "PartitionKey": str(i)} for i in range(10)])
    assert out["FailedRecordCount"] == 0
    for call, action in ((lambda: k.describe_stream(StreamName=f"prod-{unique}"),
                          "kinesis:DescribeStream"),
                         (lambda: k.get_shard_iterator(StreamName=f"prod-{unique}",
                                                       ShardId="shardId-000000000000",
                                                       ShardIteratorType="TRIM_HORIZON"),
                          "kinesis:GetShardIterator")):
        with pytest.raises(ClientError) as e:
            call()
        assert code_of(e) == "AccessDeniedException"
        assert message_of(e) == denied(arn, action, mine)
    it = root.get_shard_iterator(StreamName=f"prod-{unique}", ShardId="shardId-000000000000",
                                 ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    with pytest.raises(ClientError) as e:
        k.get_records(ShardIterator=it)
    assert code_of(e) == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        k.put_record(StreamName=f"other-{unique}", Data=b"x", PartitionKey="p")
    assert message_of(e) == denied(arn, "kinesis:PutRecord", other)
    with pytest.raises(ClientError) as e:
        k.delete_stream(StreamName=f"prod-{unique}")
    assert message_of(e) == denied(arn, "kinesis:DeleteStream", mine)
    assert len(root.get_records(ShardIterator=it)["Records"]) == 11


def test_an_explicit_deny_wins_and_not_action(iam, sluice, unique):
    root = sluice.client("kinesis")
    mine = stream_with(root, f"deny-{unique}")
    key, secret, arn = user_with_policy(iam, sluice, f"denied-{unique}", [
        {"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "kinesis:PutRecord", "Resource": mine}])
    k = client_as(sluice, "kinesis", key, secret)
    assert k.describe_stream_summary(StreamName=f"deny-{unique}")
    with pytest.raises(ClientError) as e:
        k.put_record(StreamName=f"deny-{unique}", Data=b"x", PartitionKey="p")
    assert message_of(e) == denied(arn, "kinesis:PutRecord", mine, explicit=True)
    key2, secret2, arn2 = user_with_policy(iam, sluice, f"notaction-{unique}", [
        {"Effect": "Allow", "NotAction": "kinesis:Delete*", "Resource": "*"}])
    k2 = client_as(sluice, "kinesis", key2, secret2)
    k2.put_record(StreamName=f"deny-{unique}", Data=b"x", PartitionKey="p")
    with pytest.raises(ClientError) as e:
        k2.delete_stream(StreamName=f"deny-{unique}")
    assert message_of(e) == denied(arn2, "kinesis:DeleteStream", mine)


def test_conditions_on_prefix_and_username(iam, sluice, unique):
    s3 = sluice.client("s3")
    bucket = f"cond-{unique}"
    s3.create_bucket(Bucket=bucket)
    name = f"lister-{unique}"
    key, secret, arn = user_with_policy(iam, sluice, name, [
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}",
         "Condition": {"StringEquals": {"s3:prefix": "home/"}}},
        {"Effect": "Allow", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/*",
         "Condition": {"StringEquals": {"aws:username": name}}}])
    s3.put_object(Bucket=bucket, Key="home/a", Body=b"a")
    me = client_as(sluice, "s3", key, secret)
    assert [o["Key"] for o in me.list_objects_v2(Bucket=bucket, Prefix="home/")["Contents"]] == \
        ["home/a"]
    with pytest.raises(ClientError) as e:
        me.list_objects_v2(Bucket=bucket, Prefix="other/")
    assert code_of(e) == "AccessDenied"
    assert message_of(e) == denied(arn, "s3:ListBucket", f"arn:aws:s3:::{bucket}")
    assert me.get_object(Bucket=bucket, Key="home/a")["Body"].read() == b"a"
    with pytest.raises(ClientError) as e:
        me.put_object(Bucket=bucket, Key="home/b", Body=b"b")
    assert code_of(e) == "AccessDenied"
    # the same policy names another user in its condition: it does not allow this one
    key2, secret2, arn2 = user_with_policy(iam, sluice, f"other-{unique}", [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*",
         "Condition": {"StringEquals": {"aws:username": name}}}])
    with pytest.raises(ClientError) as e:
        client_as(sluice, "s3", key2, secret2).get_object(Bucket=bucket, Key="home/a")
    assert code_of(e) == "AccessDenied"


def test_a_groups_attached_policy_grants(iam, sluice, unique):
    name = f"member-{unique}"
    key, secret = make_user_with_key(iam, name)
    k = client_as(sluice, "kinesis", key, secret)
    with pytest.raises(ClientError):
        k.list_streams()
    iam.create_group(GroupName=f"readers-{unique}")
    iam.attach_group_policy(GroupName=f"readers-{unique}",
                            PolicyArn="arn:aws:iam::aws:policy/AmazonKinesisReadOnlyAccess")
    with pytest.raises(ClientError):
        k.list_streams()
    iam.add_user_to_group(GroupName=f"readers-{unique}", UserName=name)
    assert "StreamNames" in k.list_streams()
    with pytest.raises(ClientError) as e:
        k.create_stream(StreamName=f"no-{unique}", ShardCount=1)
    assert code_of(e) == "AccessDeniedException"


def test_an_assumed_role_is_limited_by_its_role_and_its_session_policy(iam, sluice, unique):
    root = sluice.client("kinesis")
    arn_a = stream_with(root, f"ra-{unique}")
    arn_b = stream_with(root, f"rb-{unique}")
    user = f"assume-{unique}"
    key, secret = make_user_with_key(iam, user)
    role = assumable_role(iam, sluice, f"writer-{unique}",
                          f"arn:aws:iam::{sluice.account_id}:user/{user}")
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="w", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "kinesis:PutRecord", "Resource": [arn_a, arn_b]}]}))
    sts = client_as(sluice, "sts", key, secret)
    session = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kinesis:*", "Resource": arn_a}]}
    plain = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="plain")
    narrow = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="narrow",
                             Policy=json.dumps(session))

    def kin(out):
        c = out["Credentials"]
        return client_as(sluice, "kinesis", c["AccessKeyId"], c["SecretAccessKey"],
                         c["SessionToken"])
    kp, kn = kin(plain), kin(narrow)
    for name in (f"ra-{unique}", f"rb-{unique}"):
        kp.put_record(StreamName=name, Data=b"x", PartitionKey="p")
    with pytest.raises(ClientError) as e:
        kp.describe_stream(StreamName=f"ra-{unique}")
    assert message_of(e) == denied(plain["AssumedRoleUser"]["Arn"], "kinesis:DescribeStream",
                                   arn_a)
    kn.put_record(StreamName=f"ra-{unique}", Data=b"x", PartitionKey="p")
    with pytest.raises(ClientError) as e:
        kn.put_record(StreamName=f"rb-{unique}", Data=b"x", PartitionKey="p")
    assert code_of(e) == "AccessDeniedException"
    with pytest.raises(ClientError) as e:  # the session policy alone grants nothing
        kn.describe_stream(StreamName=f"ra-{unique}")
    assert code_of(e) == "AccessDeniedException"
    assert client_as(sluice, "sts", narrow["Credentials"]["AccessKeyId"],
                     narrow["Credentials"]["SecretAccessKey"],
                     narrow["Credentials"]["SessionToken"]).get_caller_identity()


def test_a_changed_policy_decides_the_next_call(iam, sluice, unique):
    root = sluice.client("kinesis")
    mine = stream_with(root, f"chg-{unique}")
    name = f"changing-{unique}"
    allow = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kinesis:PutRecord", "Resource": mine}]}
    key, secret, arn = user_with_policy(iam, sluice, name, allow["Statement"])
    k = client_as(sluice, "kinesis", key, secret)
    k.put_record(StreamName=f"chg-{unique}", Data=b"x", PartitionKey="p")
    iam.delete_user_policy(UserName=name, PolicyName="p")
    with pytest.raises(ClientError) as e:
        k.put_record(StreamName=f"chg-{unique}", Data=b"x", PartitionKey="p")
    assert message_of(e) == denied(arn, "kinesis:PutRecord", mine)
    pol = iam.create_policy(PolicyName=f"mp-{unique}", PolicyDocument=json.dumps(allow))
    iam.attach_user_policy(UserName=name, PolicyArn=pol["Policy"]["Arn"])
    k.put_record(StreamName=f"chg-{unique}", Data=b"x", PartitionKey="p")
    deny_all = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "kinesis:*", "Resource": "*"}]}
    iam.create_policy_version(PolicyArn=pol["Policy"]["Arn"],
                              PolicyDocument=json.dumps(deny_all), SetAsDefault=True)
    with pytest.raises(ClientError) as e:
        k.put_record(StreamName=f"chg-{unique}", Data=b"x", PartitionKey="p")
    assert message_of(e) == denied(arn, "kinesis:PutRecord", mine, explicit=True)
    iam.set_default_policy_version(PolicyArn=pol["Policy"]["Arn"], VersionId="v1")
    k.put_record(StreamName=f"chg-{unique}", Data=b"x", PartitionKey="p")


def test_a_bucket_policy_denies_a_prefix(iam, sluice, unique):
    s3 = sluice.client("s3")
    bucket = f"bp-{unique}"
    s3.create_bucket(Bucket=bucket)
    key, secret, arn = user_with_policy(iam, sluice, f"s3user-{unique}", [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}])
    me = client_as(sluice, "s3", key, secret)
    me.put_object(Bucket=bucket, Key="secret/a", Body=b"a")
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Principal": {"AWS": arn}, "Action": "s3:GetObject",
             "Resource": f"arn:aws:s3:::{bucket}/secret/*"}]}))
    with pytest.raises(ClientError) as e:
        me.get_object(Bucket=bucket, Key="secret/a")
    assert code_of(e) == "AccessDenied"
    assert message_of(e) == (f"User: {arn} is not authorized to perform: s3:GetObject on "
                             f"resource: arn:aws:s3:::{bucket}/secret/a with an explicit deny "
                             "in a resource-based policy")
    me.put_object(Bucket=bucket, Key="open/b", Body=b"b")
    assert me.get_object(Bucket=bucket, Key="open/b")["Body"].read() == b"b"
    s3.delete_bucket_policy(Bucket=bucket)
    assert me.get_object(Bucket=bucket, Key="secret/a")["Body"].read() == b"a"


def test_a_stream_policy_lets_a_user_without_policies_put(iam, sluice, unique):
    root = sluice.client("kinesis")
    if not hasattr(root, "put_resource_policy"):
        pytest.skip("this botocore predates Kinesis resource policies")
    stream_arn = stream_with(root, f"rp-{unique}")
    key2, secret2 = make_user_with_key(iam, f"bare-{unique}")
    arn2 = f"arn:aws:iam::{sluice.account_id}:user/bare-{unique}"
    k = client_as(sluice, "kinesis", key2, secret2)
    with pytest.raises(ClientError):
        k.put_record(StreamName=f"rp-{unique}", Data=b"x", PartitionKey="p")
    root.put_resource_policy(ResourceARN=stream_arn, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": arn2}, "Action": "kinesis:PutRecord",
             "Resource": stream_arn}]}))
    k.put_record(StreamName=f"rp-{unique}", Data=b"x", PartitionKey="p")


def test_virtual_hosted_requests_name_their_bucket_to_the_policy(iam, sluice, unique):
    s3 = sluice.client("s3")
    bucket = f"vh-{unique}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k/one", Body=b"1")
    key, secret, arn = user_with_policy(iam, sluice, f"vhuser-{unique}", [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/k/*"}])
    vh = boto3.client("s3", endpoint_url=f"http://localhost:{sluice.port}",
                      aws_access_key_id=key, aws_secret_access_key=secret,
                      region_name=sluice.region,
                      config=Config(s3={"addressing_style": "virtual"},
                                    retries={"total_max_attempts": 1}))


    def to_loopback(request, **_):
        # *.localhost need not resolve here: send to 127.0.0.1, keep the signed Host
        parts = urllib.parse.urlsplit(request.url)
        request.headers["Host"] = parts.netloc
        request.url = urllib.parse.urlunsplit(
            ("http", f"127.0.0.1:{sluice.port}", parts.path, parts.query, ""))
    vh.meta.events.register("before-send.s3", to_loopback)
    assert vh.get_object(Bucket=bucket, Key="k/one")["Body"].read() == b"1"
    with pytest.raises(ClientError) as e:
        vh.list_objects_v2(Bucket=bucket)
    assert message_of(e) == denied(arn, "s3:ListBucket", f"arn:aws:s3:::{bucket}")
