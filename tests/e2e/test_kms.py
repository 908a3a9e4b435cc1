"""KMS (trent 2014-11-01) end to end with boto3 and the AWS CLI: keys and their metadata,
aliases (including AWS managed ones made on first use), states and AWS's exceptions for
disabled and pending-deletion keys, policies, rotation, tags, envelope encryption bound to
its encryption context, paging, and keys that survive a restart and still decrypt.
"""
import base64
import json
import os
import stat

import pytest
from botocore.exceptions import ClientError

from conftest import AwsCliError, Sluice


@pytest.fixture(scope="module")
def sl():
    server = Sluice().start()
    yield server
    code = server.stop()
    log = server.read_log()
    server.cleanup()
    assert code == 0, f"server exited {code}:\n{log}"


@pytest.fixture(scope="module")
def kms(sl):
    return sl.client("kms")


def err(e):
    return e.value.response["Error"]["Code"], e.value.response["Error"].get("Message", "")


def new_key(kms, **kw):
    return kms.create_key(**kw)["KeyMetadata"]


def test_create_key_metadata(kms, sl):
    md = new_key(kms, Description="orders", Tags=[{"TagKey": "team", "TagValue": "data"}])
    assert len(md["KeyId"]) == 36
    assert md["Arn"] == f"arn:aws:kms:us-east-1:{sl.account_id}:key/{md['KeyId']}"
    assert md["Enabled"] is True and md["KeyState"] == "Enabled"
    assert md["KeyManager"] == "CUSTOMER" and md["Origin"] == "AWS_KMS"
    assert md["KeySpec"] == "SYMMETRIC_DEFAULT" and md["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert md["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"]
    assert md["Description"] == "orders"
    assert md["CreationDate"].year >= 2024
    tags = kms.list_resource_tags(KeyId=md["KeyId"])["Tags"]
    assert tags == [{"TagKey": "team", "TagValue": "data"}]


def test_create_key_errors(kms):
    with pytest.raises(ClientError) as e:
        kms.create_key(KeyUsage="SIGN_VERIFY")
    assert err(e)[0] == "ValidationException"
    with pytest.raises(ClientError) as e:
        kms.create_key(Policy="not json")
    assert err(e)[0] == "MalformedPolicyDocumentException"
    with pytest.raises(ClientError) as e:
        kms.create_key(Tags=[{"TagKey": "aws:x", "TagValue": "y"}])
    assert err(e)[0] == "TagException"


def test_default_policy_and_put_policy(kms, sl):
    kid = new_key(kms)["KeyId"]
    pol = json.loads(kms.get_key_policy(KeyId=kid, PolicyName="default")["Policy"])
    assert pol["Id"] == "key-default-1"
    st = pol["Statement"][0]
    assert st["Principal"]["AWS"] == f"arn:aws:iam::{sl.account_id}:root"
    assert st["Action"] == "kms:*" and st["Effect"] == "Allow"
    assert kms.list_key_policies(KeyId=kid)["PolicyNames"] == ["default"]
    mine = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*"}]})
    kms.put_key_policy(KeyId=kid, PolicyName="default", Policy=mine)
    assert kms.get_key_policy(KeyId=kid, PolicyName="default")["Policy"] == mine
    with pytest.raises(ClientError) as e:
        kms.put_key_policy(KeyId=kid, PolicyName="default", Policy="{")
    assert err(e)[0] == "MalformedPolicyDocumentException"
    with pytest.raises(ClientError) as e:
        kms.get_key_policy(KeyId=kid, PolicyName="other")
    assert err(e)[0] == "NotFoundException"


def test_describe_by_every_name(kms, sl, unique):
    md = new_key(kms)
    alias = f"alias/d-{unique}"
    kms.create_alias(AliasName=alias, TargetKeyId=md["KeyId"])
    alias_arn = f"arn:aws:kms:us-east-1:{sl.account_id}:{alias}"
    for name in (md["KeyId"], md["Arn"], alias, alias_arn):
        assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == md["KeyId"]
    with pytest.raises(ClientError) as e:
        kms.describe_key(KeyId="00000000-0000-4000-8000-000000000000")
    code, msg = err(e)
    assert code == "NotFoundException"
    assert "00000000-0000-4000-8000-000000000000' does not exist" in msg
    with pytest.raises(ClientError) as e:
        kms.describe_key(KeyId="alias/none-here")
    assert err(e)[0] == "NotFoundException"


def test_list_keys_paging(kms):
    ids = {new_key(kms)["KeyId"] for _ in range(3)}
    seen, marker = [], None
    while True:
        kw = {"Limit": 2}
        if marker:
            kw["Marker"] = marker
        page = kms.list_keys(**kw)
        assert len(page["Keys"]) <= 2
        seen += [k["KeyId"] for k in page["Keys"]]
        if not page["Truncated"]:
            break
        marker = page["NextMarker"]
    assert ids <= set(seen) and len(seen) == len(set(seen))
    with pytest.raises(ClientError) as e:
        kms.list_keys(Marker="bogus")
    assert err(e)[0] == "InvalidMarkerException"


def test_aliases(kms, sl, unique):
    a = new_key(kms)["KeyId"]
    b = new_key(kms)["KeyId"]
    name = f"alias/app-{unique}"
    kms.create_alias(AliasName=name, TargetKeyId=a)
    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName=name, TargetKeyId=b)
    assert err(e)[0] == "AlreadyExistsException"
    for bad in ("app", "alias/", "alias/sp ace"):
        with pytest.raises(ClientError) as e:
            kms.create_alias(AliasName=bad, TargetKeyId=a)
        assert err(e)[0] == "ValidationException", bad
    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName="alias/aws/mine", TargetKeyId=a)
    assert err(e)[0] == "InvalidAliasNameException"
    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName=f"alias/x-{unique}", TargetKeyId="alias/none")
    assert err(e)[0] == "NotFoundException"
    listed = kms.list_aliases(KeyId=a)["Aliases"]
    assert [x["AliasName"] for x in listed] == [name]
    assert listed[0]["AliasArn"] == f"arn:aws:kms:us-east-1:{sl.account_id}:{name}"
    assert listed[0]["TargetKeyId"] == a
    kms.update_alias(AliasName=name, TargetKeyId=b)
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == b
    assert kms.list_aliases(KeyId=a)["Aliases"] == []
    kms.delete_alias(AliasName=name)
    with pytest.raises(ClientError) as e:
        kms.describe_key(KeyId=name)
    assert err(e)[0] == "NotFoundException"
    with pytest.raises(ClientError) as e:
        kms.delete_alias(AliasName=name)
    assert err(e)[0] == "NotFoundException"


def test_aws_managed_key_made_on_first_use(kms):
    md = kms.describe_key(KeyId="alias/aws/kinesis")["KeyMetadata"]
    assert md["KeyManager"] == "AWS"
    again = kms.describe_key(KeyId="alias/aws/kinesis")["KeyMetadata"]
    assert again["KeyId"] == md["KeyId"]
    names = [a["AliasName"] for a in kms.list_aliases()["Aliases"]]
    assert "alias/aws/kinesis" in names
    blob = kms.encrypt(KeyId="alias/aws/s3", Plaintext=b"x")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    assert kms.get_key_rotation_status(KeyId=md["KeyId"])["KeyRotationEnabled"] is True
    with pytest.raises(ClientError) as e:
        kms.disable_key(KeyId=md["KeyId"])
    assert err(e)[0] == "UnsupportedOperationException"
    with pytest.raises(ClientError) as e:
        kms.delete_alias(AliasName="alias/aws/kinesis")
    assert err(e)[0] == "UnsupportedOperationException"


def test_encrypt_decrypt_context(kms):
    md = new_key(kms)
    ctx = {"stream": "orders", "purpose": "test"}
    out = kms.encrypt(KeyId=md["KeyId"], Plaintext=b"secret", EncryptionContext=ctx)
    assert out["KeyId"] == md["Arn"] and out["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    blob = out["CiphertextBlob"]
    assert b"secret" not in blob
    got = kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)  # no KeyId: the blob names it
    assert got["Plaintext"] == b"secret" and got["KeyId"] == md["Arn"]
    for wrong in ({}, {"stream": "orders"}, {"stream": "orders", "purpose": "other"}):
        with pytest.raises(ClientError) as e:
            kms.decrypt(CiphertextBlob=blob, EncryptionContext=wrong)
        assert err(e)[0] == "InvalidCiphertextException"
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=bytes(tampered), EncryptionContext=ctx)
    assert err(e)[0] == "InvalidCiphertextException"
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=b"not a blob at all")
    assert err(e)[0] == "InvalidCiphertextException"
    other = new_key(kms)["KeyId"]
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx, KeyId=other)
    assert err(e)[0] == "IncorrectKeyException"
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx, KeyId=md["Arn"])["Plaintext"] == b"secret"


def test_encrypt_limits(kms):
    kid = new_key(kms)["KeyId"]
    assert kms.encrypt(KeyId=kid, Plaintext=b"a" * 4096)["CiphertextBlob"]
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=kid, Plaintext=b"a" * 4097)
    assert err(e)[0] == "ValidationException"
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId="alias/nope", Plaintext=b"a")
    assert err(e)[0] == "NotFoundException"


def test_generate_data_key(kms):
    kid = new_key(kms)["KeyId"]
    out = kms.generate_data_key(KeyId=kid, KeySpec="AES_256", EncryptionContext={"a": "b"})
    assert len(out["Plaintext"]) == 32
    back = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"a": "b"})
    assert back["Plaintext"] == out["Plaintext"]
    assert len(kms.generate_data_key(KeyId=kid, KeySpec="AES_128")["Plaintext"]) == 16
    assert len(kms.generate_data_key(KeyId=kid, NumberOfBytes=64)["Plaintext"]) == 64
    wo = kms.generate_data_key_without_plaintext(KeyId=kid, KeySpec="AES_256")
    assert "Plaintext" not in wo
    assert len(kms.decrypt(CiphertextBlob=wo["CiphertextBlob"])["Plaintext"]) == 32
    for kw in ({}, {"KeySpec": "AES_256", "NumberOfBytes": 32}, {"NumberOfBytes": 1025}):
        with pytest.raises(ClientError) as e:
            kms.generate_data_key(KeyId=kid, **kw)
        assert err(e)[0] == "ValidationException", kw


def test_re_encrypt_and_random(kms):
    a = new_key(kms)
    b = new_key(kms)
    blob = kms.encrypt(KeyId=a["KeyId"], Plaintext=b"move me", EncryptionContext={"x": "1"})["CiphertextBlob"]
    out = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"x": "1"},
                         DestinationKeyId=b["KeyId"], DestinationEncryptionContext={"y": "2"})
    assert out["SourceKeyId"] == a["Arn"] and out["KeyId"] == b["Arn"]
    got = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"y": "2"})
    assert got["Plaintext"] == b"move me" and got["KeyId"] == b["Arn"]
    with pytest.raises(ClientError) as e:
        kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=b["KeyId"])
    assert err(e)[0] == "InvalidCiphertextException"
    r = kms.generate_random(NumberOfBytes=48)["Plaintext"]
    assert len(r) == 48 and r != kms.generate_random(NumberOfBytes=48)["Plaintext"]
    with pytest.raises(ClientError) as e:
        kms.generate_random(NumberOfBytes=1025)
    assert err(e)[0] == "ValidationException"


def test_disable_enable(kms):
    md = new_key(kms)
    kid = md["KeyId"]
    blob = kms.encrypt(KeyId=kid, Plaintext=b"p")["CiphertextBlob"]
    kms.disable_key(KeyId=kid)
    d = kms.describe_key(KeyId=kid)["KeyMetadata"]
    assert d["KeyState"] == "Disabled" and d["Enabled"] is False
    for call in (lambda: kms.encrypt(KeyId=kid, Plaintext=b"p"),
                 lambda: kms.decrypt(CiphertextBlob=blob),
                 lambda: kms.generate_data_key(KeyId=kid, KeySpec="AES_256")):
        with pytest.raises(ClientError) as e:
            call()
        code, msg = err(e)
        assert code == "DisabledException"
        assert msg == f"{md['Arn']} is disabled."
    kms.enable_key(KeyId=kid)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"p"


def test_schedule_and_cancel_deletion(kms):
    md = new_key(kms)
    kid = md["KeyId"]
    blob = kms.encrypt(KeyId=kid, Plaintext=b"p")["CiphertextBlob"]
    for days in (6, 31):
        with pytest.raises(ClientError) as e:
            kms.schedule_key_deletion(KeyId=kid, PendingWindowInDays=days)
        assert err(e)[0] == "ValidationException"
    out = kms.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
    assert out["KeyId"] == md["Arn"] and out["KeyState"] == "PendingDeletion"
    assert out["PendingWindowInDays"] == 7
    d = kms.describe_key(KeyId=kid)["KeyMetadata"]
    assert d["KeyState"] == "PendingDeletion" and "DeletionDate" in d
    assert (d["DeletionDate"] - d["CreationDate"]).days in (6, 7)
    for call in (lambda: kms.encrypt(KeyId=kid, Plaintext=b"p"),
                 lambda: kms.decrypt(CiphertextBlob=blob),
                 lambda: kms.enable_key(KeyId=kid),
                 lambda: kms.schedule_key_deletion(KeyId=kid)):
        with pytest.raises(ClientError) as e:
            call()
        code, msg = err(e)
        assert code == "KMSInvalidStateException"
        assert msg == f"{md['Arn']} is pending deletion."
    assert kms.cancel_key_deletion(KeyId=kid)["KeyId"] == md["Arn"]
    assert kms.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "Disabled"
    with pytest.raises(ClientError) as e:
        kms.cancel_key_deletion(KeyId=kid)
    assert err(e)[0] == "KMSInvalidStateException"
    kms.enable_key(KeyId=kid)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"p"


def test_rotation(kms):
    kid = new_key(kms)["KeyId"]
    assert kms.get_key_rotation_status(KeyId=kid)["KeyRotationEnabled"] is False
    kms.enable_key_rotation(KeyId=kid)
    assert kms.get_key_rotation_status(KeyId=kid)["KeyRotationEnabled"] is True
    kms.disable_key_rotation(KeyId=kid)
    assert kms.get_key_rotation_status(KeyId=kid)["KeyRotationEnabled"] is False
    kms.disable_key(KeyId=kid)
    with pytest.raises(ClientError) as e:
        kms.enable_key_rotation(KeyId=kid)
    assert err(e)[0] == "DisabledException"
    kms.enable_key(KeyId=kid)
    kms.enable_key_rotation(KeyId=kid)
    kms.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
    assert kms.get_key_rotation_status(KeyId=kid)["KeyRotationEnabled"] is False
    kms.cancel_key_deletion(KeyId=kid)
    assert kms.get_key_rotation_status(KeyId=kid)["KeyRotationEnabled"] is True


def test_tags(kms):
    kid = new_key(kms)["KeyId"]
    kms.tag_resource(KeyId=kid, Tags=[{"TagKey": "b", "TagValue": "2"}, {"TagKey": "a", "TagValue": "1"}])
    kms.tag_resource(KeyId=kid, Tags=[{"TagKey": "a", "TagValue": "one"}])
    assert kms.list_resource_tags(KeyId=kid)["Tags"] == [
        {"TagKey": "a", "TagValue": "one"}, {"TagKey": "b", "TagValue": "2"}]
    kms.untag_resource(KeyId=kid, TagKeys=["a"])
    assert kms.list_resource_tags(KeyId=kid)["Tags"] == [{"TagKey": "b", "TagValue": "2"}]
    with pytest.raises(ClientError) as e:
        kms.tag_resource(KeyId=kid, Tags=[{"TagKey": "aws:reserved", "TagValue": "x"}])
    assert err(e)[0] == "TagException"
    with pytest.raises(ClientError) as e:
        kms.list_resource_tags(KeyId="00000000-0000-4000-8000-000000000000")
    assert err(e)[0] == "NotFoundException"


def test_update_key_description(kms):
    kid = new_key(kms, Description="old")["KeyId"]
    kms.update_key_description(KeyId=kid, Description="new")
    assert kms.describe_key(KeyId=kid)["KeyMetadata"]["Description"] == "new"


def test_cli_encrypt_decrypt_fileb(sl, tmp_path, unique):
    md = sl.aws("kms", "create-key", "--description", "cli")["KeyMetadata"]
    sl.aws("kms", "create-alias", "--alias-name", f"alias/cli-{unique}",
           "--target-key-id", md["KeyId"])
    src = tmp_path / "plain.bin"
    src.write_bytes(bytes(range(256)))
    enc = sl.aws("kms", "encrypt", "--key-id", f"alias/cli-{unique}", "--plaintext",
                 f"fileb://{src}", "--encryption-context", "app=cli")
    assert enc["KeyId"] == md["Arn"]
    blob = tmp_path / "blob.bin"
    blob.write_bytes(base64.b64decode(enc["CiphertextBlob"]))
    dec = sl.aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{blob}",
                 "--encryption-context", "app=cli")
    assert base64.b64decode(dec["Plaintext"]) == bytes(range(256))
    with pytest.raises(AwsCliError) as e:
        sl.aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{blob}")
    assert "InvalidCiphertextException" in e.value.stderr
    sl.aws("kms", "disable-key", "--key-id", md["KeyId"])
    with pytest.raises(AwsCliError) as e:
        sl.aws("kms", "encrypt", "--key-id", md["KeyId"], "--plaintext", f"fileb://{src}")
    assert "DisabledException" in e.value.stderr
    keys = sl.aws("kms", "list-keys")["Keys"]
    assert md["KeyId"] in [k["KeyId"] for k in keys]


def test_restart_keeps_keys(fresh_sluice):
    sl = fresh_sluice.start()
    kms = sl.client("kms")
    md = kms.create_key(Description="durable")["KeyMetadata"]
    kms.create_alias(AliasName="alias/durable", TargetKeyId=md["KeyId"])
    blob = kms.encrypt(KeyId="alias/durable", Plaintext=b"kept", EncryptionContext={"k": "v"})["CiphertextBlob"]
    gone = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.schedule_key_deletion(KeyId=gone, PendingWindowInDays=7)
    master = os.path.join(sl.data_dir, "kms-master-key")
    assert stat.S_IMODE(os.stat(master).st_mode) == 0o600
    with open(master, "rb") as f:
        before = f.read()
    assert before.hex() not in open(os.path.join(sl.data_dir, "sluice.db"), "rb").read().hex()
    sl.restart()
    kms = sl.client("kms")
    with open(master, "rb") as f:
        assert f.read() == before
    got = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"k": "v"})
    assert got["Plaintext"] == b"kept" and got["KeyId"] == md["Arn"]
    assert kms.describe_key(KeyId="alias/durable")["KeyMetadata"]["Description"] == "durable"
    assert kms.describe_key(KeyId=gone)["KeyMetadata"]["KeyState"] == "PendingDeletion"
