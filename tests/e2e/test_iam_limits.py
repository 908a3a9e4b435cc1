"""IAM's name-length limits as its model gives them, for every operation Sluice answers that
names a user, group or role: the longest name the model allows is not a ValidationError (the
entity is missing, or the call succeeds), one character more is. The limits differ between
operations on the same entity (AttachUserPolicy takes 64 characters, PutUserPolicy 128)."""
import botocore
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

DOC = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
TRUST = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},'
         '"Action":"sts:AssumeRole"}]}')
FILL = {
    "PolicyArn": "arn:aws:iam::000000000000:policy/none", "PolicyDocument": DOC,
    "PolicyName": "p", "AssumeRolePolicyDocument": TRUST,
    "PermissionsBoundary": "arn:aws:iam::000000000000:policy/none",
    "Tags": [{"Key": "k", "Value": "v"}], "TagKeys": ["k"],
    "AccessKeyId": "AKIAXXXXXXXXXXXXXXXX", "Status": "Active",
    "UserName": "u", "GroupName": "g", "RoleName": "r",
}
# Operations Sluice does not offer (login profiles, MFA, SSH keys, instance profiles...).
ABSENT = {"InvalidAction"}


def cases(iam):
    model = iam.meta.service_model
    for op in model.operation_names:
        shape = model.operation_model(op).input_shape
        if shape is None:
            continue
        if any(r not in FILL for r in shape.required_members):
            continue
        for member in ("UserName", "GroupName", "RoleName"):
            if member in shape.members:
                params = {r: FILL[r] for r in shape.required_members}
                yield op, member, shape.members[member].metadata["max"], params


def code_of(iam, op, params):
    try:
        getattr(iam, botocore.xform_name(op))(**params)
        return "OK"
    except ClientError as e:
        return e.response["Error"]["Code"]


def test_name_limits_follow_the_model(sluice):
    # The client's own checks are off: the server must refuse the long names itself.
    iam = sluice.client("iam", region_name="us-east-1",
                        config=Config(parameter_validation=False,
                                      retries={"total_max_attempts": 1}))
    checked, wrong = 0, []
    for op, member, longest, params in cases(iam):
        at = code_of(iam, op, dict(params, **{member: "n" * longest}))
        if at in ABSENT:
            continue
        over = code_of(iam, op, dict(params, **{member: "n" * (longest + 1)}))
        checked += 1
        if at == "ValidationError" or over != "ValidationError":
            wrong.append((op, member, longest, at, over))
    assert checked >= 40, checked
    assert wrong == []
