"""STS sessions as AWS shapes them: managed session policies (PolicyArns) beside the inline
one, a source identity set once and carried through role chaining, the one-hour limit of a
chained session and the role's MaxSessionDuration, the assumed-role ARNs after chaining,
GetSessionToken's credentials (no IAM without MFA, of STS only AssumeRole and
GetCallerIdentity); and IAM's tag keys of users and roles, one whatever their case,
UpdateGroup (its rename authorized on both names) and UpdateRoleDescription."""
import json
import urllib.error
import urllib.parse
import subprocess

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import AWS_CLI


def client_as(sluice, service, creds):
    cfg = Config(retries={"total_max_attempts": 1})
    return boto3.client(service, endpoint_url=sluice.endpoint, region_name=sluice.region,
                        aws_access_key_id=creds[0], aws_secret_access_key=creds[1],
                        aws_session_token=creds[2] if len(creds) > 2 else None, config=cfg)


def of_session(resp):
    c = resp["Credentials"]
    return c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]


def code_of(exc):
    return exc.value.response["Error"]["Code"]


def message_of(exc):
    return exc.value.response["Error"]["Message"]


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(*actions):
    return {"Effect": "Allow", "Action": list(actions), "Resource": "*"}


TRUST_ACTIONS = ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]


def role(sluice, name, actions=TRUST_ACTIONS, policy=None, condition=None, **kw):
    iam = sluice.client("iam")
    stmt = {"Effect": "Allow", "Action": actions,
            "Principal": {"AWS": f"arn:aws:iam::{sluice.account_id}:root"}}
    if condition:
        stmt["Condition"] = condition
    r = iam.create_role(RoleName=name, AssumeRolePolicyDocument=doc(stmt), **kw)["Role"]
    iam.put_role_policy(RoleName=name, PolicyName="p",
                        PolicyDocument=policy or doc(allow("iam:ListRoles", "iam:ListUsers",
                                                           "iam:ListGroups")))
    return r


def user(sluice, name):
    iam = sluice.client("iam")
    iam.create_user(UserName=name)
    k = iam.create_access_key(UserName=name)["AccessKey"]
    return k["AccessKeyId"], k["SecretAccessKey"]


def managed(sluice, name, *actions):
    return sluice.client("iam").create_policy(
        PolicyName=name, PolicyDocument=doc(allow(*actions)))["Policy"]["Arn"]


# ---- managed session policies ----

def test_policy_arns_are_session_policies_beside_the_inline_one(sluice, unique):
    r = role(sluice, f"pa-{unique}")
    roles_only = managed(sluice, f"roles-{unique}", "iam:ListRoles")
    sts = client_as(sluice, "sts", user(sluice, f"pa-{unique}"))
    resp = sts.assume_role(RoleArn=r["Arn"], RoleSessionName="ss",
                           PolicyArns=[{"arn": roles_only}])
    assert 0 < resp["PackedPolicySize"] <= 100
    iam = client_as(sluice, "iam", of_session(resp))
    iam.list_roles()
    with pytest.raises(ClientError) as e:
        iam.list_users()
    assert code_of(e) == "AccessDenied"
    assert "because no session policy allows the iam:ListUsers action" in message_of(e)
    # the inline policy and the managed one: either may allow, the role must too
    resp = sts.assume_role(RoleArn=r["Arn"], RoleSessionName="ss",
                           PolicyArns=[{"arn": roles_only}],
                           Policy=doc(allow("iam:ListUsers", "iam:CreateUser")))
    iam = client_as(sluice, "iam", of_session(resp))
    iam.list_roles()
    iam.list_users()
    with pytest.raises(ClientError) as e:
        iam.create_user(UserName=f"x-{unique}")
    assert "because no identity-based policy allows the iam:CreateUser action" in message_of(e)
    # AWS's own managed policies may be named too
    resp = sts.assume_role(RoleArn=r["Arn"], RoleSessionName="ss",
                           PolicyArns=[{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}])
    client_as(sluice, "iam", of_session(resp)).list_groups()


def test_policy_arns_that_name_no_policy_or_too_many_are_refused(sluice, unique):
    r = role(sluice, f"pb-{unique}")
    sts = client_as(sluice, "sts", user(sluice, f"pb-{unique}"))
    missing = f"arn:aws:iam::{sluice.account_id}:policy/none-{unique}"
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=r["Arn"], RoleSessionName="ss", PolicyArns=[{"arn": missing}])
    assert code_of(e) == "ValidationError"
    assert message_of(e) == f"Policy {missing} does not exist or is not attachable."
    one = managed(sluice, f"one-{unique}", "iam:ListRoles")
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=r["Arn"], RoleSessionName="ss", PolicyArns=[{"arn": one}] * 11)
    assert code_of(e) == "ValidationError"
    # the ARNs take room in the packed size
    small = sts.assume_role(RoleArn=r["Arn"], RoleSessionName="ss",
                            Policy=doc(allow("iam:ListRoles")))["PackedPolicySize"]
    more = sts.assume_role(RoleArn=r["Arn"], RoleSessionName="ss",
                           Policy=doc(allow("iam:ListRoles")),
                           PolicyArns=[{"arn": one}] * 10)["PackedPolicySize"]
    assert more > small


def test_assume_role_with_policy_arns_from_the_aws_cli(sluice, unique):
    r = role(sluice, f"pc-{unique}")
    roles_only = managed(sluice, f"rc-{unique}", "iam:ListRoles")
    key, secret = user(sluice, f"pc-{unique}")
    env = sluice.cli_env()
    env.update({"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret})
    p = subprocess.run([AWS_CLI, "--endpoint-url", sluice.endpoint, "--output", "json", "sts",
                        "assume-role", "--role-arn", r["Arn"], "--role-session-name", "cli",
                        "--policy-arns", f"arn={roles_only}", "--source-identity", "carol"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["AssumedRoleUser"]["Arn"] == \
        f"arn:aws:sts::{sluice.account_id}:assumed-role/pc-{unique}/cli"
    assert out["SourceIdentity"] == "carol"
    iam = client_as(sluice, "iam", of_session(out))
    iam.list_roles()
    with pytest.raises(ClientError):
        iam.list_users()


# ---- source identity ----

def test_source_identity_is_set_once_and_carried_through_chaining(sluice, unique):
    acct = sluice.account_id
    a = role(sluice, f"sa-{unique}", policy=doc(allow("sts:AssumeRole")))
    b = role(sluice, f"sb-{unique}", policy=doc(
        {"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*",
         "Condition": {"StringEquals": {"aws:SourceIdentity": "alice"}}}))
    sts = client_as(sluice, "sts", user(sluice, f"sa-{unique}"))
    first = sts.assume_role(RoleArn=a["Arn"], RoleSessionName="one", SourceIdentity="alice")
    assert first["SourceIdentity"] == "alice"
    chained = client_as(sluice, "sts", of_session(first))
    second = chained.assume_role(RoleArn=b["Arn"], RoleSessionName="two")
    assert second["SourceIdentity"] == "alice"
    assert second["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{acct}:assumed-role/sb-{unique}/two"
    assert second["AssumedRoleUser"]["AssumedRoleId"] == f"{b['RoleId']}:two"
    ident = client_as(sluice, "sts", of_session(second)).get_caller_identity()
    assert ident["Arn"] == f"arn:aws:sts::{acct}:assumed-role/sb-{unique}/two"
    assert ident["UserId"] == f"{b['RoleId']}:two"
    assert ident["Account"] == acct
    # aws:SourceIdentity decides the chained session's calls
    client_as(sluice, "iam", of_session(second)).list_roles()
    # the same value may be passed again; another may not
    chained.assume_role(RoleArn=b["Arn"], RoleSessionName="two", SourceIdentity="alice")
    with pytest.raises(ClientError) as e:
        chained.assume_role(RoleArn=b["Arn"], RoleSessionName="two", SourceIdentity="bob")
    assert code_of(e) == "ValidationError"
    assert message_of(e) == "The source identity is already set for this assume role session"
    # a session without one is refused by the condition
    plain = sts.assume_role(RoleArn=b["Arn"], RoleSessionName="three")
    assert "SourceIdentity" not in plain
    with pytest.raises(ClientError) as e:
        client_as(sluice, "iam", of_session(plain)).list_roles()
    assert code_of(e) == "AccessDenied"


def test_setting_a_source_identity_needs_set_source_identity_in_the_trust(sluice, unique):
    r = role(sluice, f"ss-{unique}", actions=["sts:AssumeRole"])
    sts = client_as(sluice, "sts", user(sluice, f"ss-{unique}"))
    sts.assume_role(RoleArn=r["Arn"], RoleSessionName="ss")
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=r["Arn"], RoleSessionName="ss", SourceIdentity="alice")
    assert code_of(e) == "AccessDenied"
    assert message_of(e).endswith(
        f"is not authorized to perform: sts:SetSourceIdentity on resource: {r['Arn']}")
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=r["Arn"], RoleSessionName="ss", SourceIdentity="a b")
    assert code_of(e) == "ValidationError"
    # the trust may require one with sts:SourceIdentity
    req = role(sluice, f"sr-{unique}",
               condition={"StringLike": {"sts:SourceIdentity": "team-*"}})
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=req["Arn"], RoleSessionName="ss")
    assert "perform: sts:AssumeRole on resource" in message_of(e)
    # a value the condition refuses is refused as the setting of a source identity
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=req["Arn"], RoleSessionName="ss", SourceIdentity="other")
    assert "perform: sts:SetSourceIdentity on resource" in message_of(e)
    sts.assume_role(RoleArn=req["Arn"], RoleSessionName="ss", SourceIdentity="team-red")


# ---- durations ----

def test_chained_sessions_last_an_hour_at_most(sluice, unique):
    a = role(sluice, f"da-{unique}", policy=doc(allow("sts:AssumeRole")), MaxSessionDuration=43200)
    b = role(sluice, f"db-{unique}", MaxSessionDuration=43200)
    sts = client_as(sluice, "sts", user(sluice, f"da-{unique}"))
    first = sts.assume_role(RoleArn=a["Arn"], RoleSessionName="one", DurationSeconds=43200)
    chained = client_as(sluice, "sts", of_session(first))
    with pytest.raises(ClientError) as e:
        chained.assume_role(RoleArn=b["Arn"], RoleSessionName="two", DurationSeconds=3601)
    assert code_of(e) == "ValidationError"
    assert message_of(e) == ("The requested DurationSeconds exceeds the 1 hour session limit "
                             "for roles assumed by role chaining.")
    chained.assume_role(RoleArn=b["Arn"], RoleSessionName="two", DurationSeconds=3600)
    # not chained: the role's MaxSessionDuration bounds it
    sts.assume_role(RoleArn=b["Arn"], RoleSessionName="xx", DurationSeconds=43200)
    # the role's own maximum is checked before the chaining limit
    c = role(sluice, f"dc-{unique}")
    with pytest.raises(ClientError) as e:
        chained.assume_role(RoleArn=c["Arn"], RoleSessionName="two", DurationSeconds=3601)
    assert message_of(e) == ("The requested DurationSeconds exceeds the MaxSessionDuration set "
                             "for this role.")


def test_max_session_duration_bounds_duration_seconds(sluice, unique):
    iam = sluice.client("iam")
    r = role(sluice, f"dm-{unique}")
    sts = client_as(sluice, "sts", user(sluice, f"dm-{unique}"))
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=r["Arn"], RoleSessionName="ss", DurationSeconds=7200)
    assert code_of(e) == "ValidationError"
    assert message_of(e) == ("The requested DurationSeconds exceeds the MaxSessionDuration set "
                             "for this role.")
    iam.update_role(RoleName=f"dm-{unique}", MaxSessionDuration=7200)
    assert iam.get_role(RoleName=f"dm-{unique}")["Role"]["MaxSessionDuration"] == 7200
    sts.assume_role(RoleArn=r["Arn"], RoleSessionName="ss", DurationSeconds=7200)
    with pytest.raises(ClientError) as e:
        iam.update_role(RoleName=f"dm-{unique}", MaxSessionDuration=43201)
    assert code_of(e) == "ValidationError"


# ---- GetSessionToken ----

def test_session_tokens_act_as_the_user_but_not_on_iam(sluice, unique):
    acct = sluice.account_id
    iam = sluice.client("iam")
    key = user(sluice, f"gt-{unique}")
    iam.put_user_policy(UserName=f"gt-{unique}", PolicyName="p",
                        PolicyDocument=doc(allow("iam:ListUsers", "kinesis:ListStreams")))
    sts = client_as(sluice, "sts", key)
    with pytest.raises(ClientError) as e:
        sts.get_session_token(DurationSeconds=129601)
    assert code_of(e) == "ValidationError"
    # no MFA device is associated with anyone here: a code cannot be validated
    with pytest.raises(ClientError) as e:
        sts.get_session_token(SerialNumber=f"arn:aws:iam::{acct}:mfa/gt-{unique}",
                              TokenCode="123456")
    assert code_of(e) == "AccessDenied"
    assert message_of(e).startswith("MultiFactorAuthentication failed")
    creds = of_session(sts.get_session_token(DurationSeconds=129600))
    ident = client_as(sluice, "sts", creds).get_caller_identity()
    assert ident["Arn"] == f"arn:aws:iam::{acct}:user/gt-{unique}"
    # other services: the user's own permissions
    client_as(sluice, "kinesis", creds).list_streams()
    # IAM: refused without MFA, though the user may
    client_as(sluice, "iam", key).list_users()
    with pytest.raises(ClientError) as e:
        client_as(sluice, "iam", creds).list_users()
    assert code_of(e) == "InvalidClientTokenId"
    assert message_of(e) == "The security token included in the request is invalid"
    # STS: AssumeRole and GetCallerIdentity only
    with pytest.raises(ClientError) as e:
        client_as(sluice, "sts", creds).get_access_key_info(AccessKeyId=key[0])
    assert code_of(e) == "AccessDenied"
    r = role(sluice, f"gt-{unique}")
    resp = client_as(sluice, "sts", creds).assume_role(RoleArn=r["Arn"], RoleSessionName="ss",
                                                       DurationSeconds=3600)
    assert resp["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{acct}:assumed-role/gt-{unique}/ss"


# ---- IAM ----

def test_tag_keys_of_users_and_roles_are_one_whatever_their_case(sluice, unique):
    iam = sluice.client("iam")
    name = f"tg-{unique}"
    role(sluice, name)
    iam.tag_role(RoleName=name, Tags=[{"Key": "Team", "Value": "blue"}])
    iam.tag_role(RoleName=name, Tags=[{"Key": "team", "Value": "red"}])
    assert iam.list_role_tags(RoleName=name)["Tags"] == [{"Key": "team", "Value": "red"}]
    with pytest.raises(ClientError) as e:
        iam.tag_role(RoleName=name, Tags=[{"Key": "Env", "Value": "a"},
                                          {"Key": "ENV", "Value": "b"}])
    assert code_of(e) == "InvalidInput"
    assert message_of(e) == ("Duplicate tag keys found. Please note that Tag keys are case "
                             "insensitive.")
    iam.untag_role(RoleName=name, TagKeys=["TEAM"])
    assert iam.list_role_tags(RoleName=name)["Tags"] == []
    iam.create_user(UserName=name, Tags=[{"Key": "Dept", "Value": "x"}])
    iam.tag_user(UserName=name, Tags=[{"Key": "DEPT", "Value": "y"}])
    assert iam.list_user_tags(UserName=name)["Tags"] == [{"Key": "DEPT", "Value": "y"}]
    # a managed policy's tag keys keep their case apart
    arn = managed(sluice, name, "iam:ListRoles")
    iam.tag_policy(PolicyArn=arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "A", "Value": "2"}])
    assert len(iam.list_policy_tags(PolicyArn=arn)["Tags"]) == 2


def test_update_group_moves_members_and_policies(sluice, unique):
    iam = sluice.client("iam")
    g, g2 = f"ug-{unique}", f"ug2-{unique}"
    iam.create_group(GroupName=g)
    iam.create_user(UserName=g)
    iam.add_user_to_group(GroupName=g, UserName=g)
    iam.put_group_policy(GroupName=g, PolicyName="inline", PolicyDocument=doc(allow("iam:ListRoles")))
    arn = managed(sluice, g, "iam:ListUsers")
    iam.attach_group_policy(GroupName=g, PolicyArn=arn)
    iam.create_group(GroupName=f"taken-{unique}")
    with pytest.raises(ClientError) as e:
        iam.update_group(GroupName=g, NewGroupName=f"taken-{unique}")
    assert code_of(e) == "EntityAlreadyExists"
    iam.update_group(GroupName=g, NewGroupName=g2, NewPath="/moved/")
    got = iam.get_group(GroupName=g2)
    assert got["Group"]["Path"] == "/moved/"
    assert got["Group"]["Arn"] == f"arn:aws:iam::{sluice.account_id}:group/moved/{g2}"
    assert [u["UserName"] for u in got["Users"]] == [g]
    assert iam.list_group_policies(GroupName=g2)["PolicyNames"] == ["inline"]
    assert [p["PolicyArn"] for p in
            iam.list_attached_group_policies(GroupName=g2)["AttachedPolicies"]] == [arn]
    assert [x["GroupName"] for x in iam.list_groups_for_user(UserName=g)["Groups"]] == [g2]
    with pytest.raises(ClientError) as e:
        iam.get_group(GroupName=g)
    assert code_of(e) == "NoSuchEntity"
    with pytest.raises(ClientError) as e:
        iam.update_group(GroupName=g, NewGroupName=f"x-{unique}")
    assert code_of(e) == "NoSuchEntity"


def test_update_role_description_answers_with_the_role(sluice, unique):
    iam = sluice.client("iam")
    name = f"rd-{unique}"
    role(sluice, name)
    got = iam.update_role_description(RoleName=name, Description="new words")["Role"]
    assert got["RoleName"] == name
    assert got["Description"] == "new words"
    assert iam.get_role(RoleName=name)["Role"]["Description"] == "new words"
    iam.update_role(RoleName=name, Description="again")
    assert iam.get_role(RoleName=name)["Role"]["Description"] == "again"
    with pytest.raises(ClientError) as e:
        iam.update_role_description(RoleName=f"none-{unique}", Description="x")
    assert code_of(e) == "NoSuchEntity"


def test_renaming_a_group_needs_the_action_on_both_names(sluice, unique):
    acct = sluice.account_id
    iam = sluice.client("iam")
    iam.create_group(GroupName=f"old-{unique}")
    key = user(sluice, f"rn-{unique}")
    iam.put_user_policy(UserName=f"rn-{unique}", PolicyName="p", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:UpdateGroup",
         "Resource": f"arn:aws:iam::{acct}:group/old*"}))
    as_user = client_as(sluice, "iam", key)
    with pytest.raises(ClientError) as e:
        as_user.update_group(GroupName=f"old-{unique}", NewGroupName=f"new-{unique}")
    assert code_of(e) == "AccessDenied"
    assert f"on resource: arn:aws:iam::{acct}:group/new-{unique} " in message_of(e)
    as_user.update_group(GroupName=f"old-{unique}", NewGroupName=f"old2-{unique}")
    assert iam.get_group(GroupName=f"old2-{unique}")["Group"]["GroupName"] == f"old2-{unique}"


def test_assumed_role_arns_leave_out_the_roles_path(sluice, unique):
    acct = sluice.account_id
    r = role(sluice, f"ph-{unique}", Path="/team/deep/")
    assert r["Arn"] == f"arn:aws:iam::{acct}:role/team/deep/ph-{unique}"
    sts = client_as(sluice, "sts", user(sluice, f"ph-{unique}"))
    resp = sts.assume_role(RoleArn=r["Arn"], RoleSessionName="with-path", SourceIdentity="dave")
    arn = f"arn:aws:sts::{acct}:assumed-role/ph-{unique}/with-path"
    assert resp["AssumedRoleUser"] == {"Arn": arn, "AssumedRoleId": f"{r['RoleId']}:with-path"}
    ident = client_as(sluice, "sts", of_session(resp)).get_caller_identity()
    assert (ident["Arn"], ident["UserId"], ident["Account"]) == \
        (arn, f"{r['RoleId']}:with-path", acct)
    assert client_as(sluice, "sts", of_session(resp)).get_access_key_info(
        AccessKeyId=resp["Credentials"]["AccessKeyId"])["Account"] == acct


def test_a_tag_that_is_not_utf8_is_refused_not_dropped(sluice, unique):
    # boto3 only sends text, so the request is signed by hand with a raw %FF in the value.
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    r = role(sluice, f"utf8-{unique}")
    body = ("Action=AssumeRole&Version=2011-06-15&RoleSessionName=sess&RoleArn="
            + urllib.parse.quote(r["Arn"], safe="")
            + "&Tags.member.1.Key=team&Tags.member.1.Value=a%FFb")
    req = AWSRequest(method="POST", url=sluice.endpoint + "/", data=body.encode(),
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    SigV4Auth(Credentials(sluice.access_key, sluice.secret_key), "sts",
              sluice.region).add_auth(req)
    http = urllib.request.Request(req.url, data=body.encode(), method="POST",
                                  headers=dict(req.headers.items()))
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(http, timeout=30)
    answer = e.value.read().decode()  # the echoed value is still UTF-8: U+FFFD
    assert e.value.code == 400, answer
    assert "<Code>ValidationError</Code>" in answer, answer
    assert "a\ufffdb" in answer, answer
