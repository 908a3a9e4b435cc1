"""The AWS CLI's s3 and s3api commands against sluice: the lab's bucket creation,
cp/sync/ls/rm of trees and of files large enough for multipart uploads."""
import filecmp
import hashlib
import os

import pytest

from conftest import AwsCliError


def write_file(path, size, seed):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    block = hashlib.sha256(seed.encode()).digest() * 2048  # 64 KiB pattern
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, len(block))
            f.write(block[:n])
            left -= n


def test_lab_bucket_creation(sluice, unique):
    sluice.aws("s3api", "create-bucket", "--bucket", f"lab-{unique}")
    sluice.aws("s3api", "create-bucket", "--bucket", f"lab-eu-{unique}", "--region", "eu-west-1",
               "--create-bucket-configuration", "LocationConstraint=eu-west-1")
    loc = sluice.aws("s3api", "get-bucket-location", "--bucket", f"lab-eu-{unique}")
    assert loc["LocationConstraint"] == "eu-west-1"
    out = sluice.aws("s3", "ls", output="text")
    assert f"lab-{unique}" in out and f"lab-eu-{unique}" in out


def test_cp_large_file_multipart_round_trip(sluice, unique, tmp_path):
    bucket = f"cli-{unique}"
    sluice.aws("s3", "mb", f"s3://{bucket}", output="text")
    src = tmp_path / "big.bin"
    write_file(str(src), 40 * 1024 * 1024 + 12345, "big")
    sluice.aws("s3", "cp", str(src), f"s3://{bucket}/data/big.bin", output="text")
    head = sluice.aws("s3api", "head-object", "--bucket", bucket, "--key", "data/big.bin")
    assert head["ContentLength"] == os.path.getsize(src)
    assert head["ETag"].strip('"').endswith("-6")  # five 8 MiB parts and the rest
    dst = tmp_path / "back.bin"
    sluice.aws("s3", "cp", f"s3://{bucket}/data/big.bin", str(dst), output="text")
    assert filecmp.cmp(src, dst, shallow=False)
    ups = sluice.aws("s3api", "list-multipart-uploads", "--bucket", bucket)
    assert not (ups or {}).get("Uploads")


def test_sync_tree_and_recursive_rm(sluice, unique, tmp_path):
    bucket = f"sync-{unique}"
    sluice.aws("s3", "mb", f"s3://{bucket}", output="text")
    tree = tmp_path / "tree"
    files = {"a.txt": 10, "dir/b.txt": 2000, "dir/sub/c.bin": 9 * 1024 * 1024,
             "dir with space/d ü.txt": 5, "e/f/g/h.json": 100}
    for rel, size in files.items():
        write_file(str(tree / rel), size, rel)
    sluice.aws("s3", "sync", str(tree), f"s3://{bucket}/tree", output="text")
    listed = sluice.aws("s3", "ls", "--recursive", f"s3://{bucket}/tree/", output="text")
    for rel in files:
        assert f"tree/{rel}" in listed
    # A second sync has nothing to do; a changed file is uploaded again.
    out = sluice.aws("s3", "sync", str(tree), f"s3://{bucket}/tree", output="text")
    assert "upload:" not in out
    write_file(str(tree / "a.txt"), 11, "changed")
    out = sluice.aws("s3", "sync", str(tree), f"s3://{bucket}/tree", output="text")
    assert out.count("upload:") == 1
    back = tmp_path / "back"
    sluice.aws("s3", "sync", f"s3://{bucket}/tree", str(back), output="text")
    for rel in files:
        assert filecmp.cmp(tree / rel, back / rel, shallow=False), rel
    top = sluice.aws("s3", "ls", f"s3://{bucket}/tree/", output="text")
    assert "PRE dir/" in top and "PRE dir with space/" in top and "a.txt" in top
    sluice.aws("s3", "rm", "--recursive", f"s3://{bucket}/tree", output="text")
    assert sluice.aws("s3api", "list-objects-v2", "--bucket", bucket) is None or \
        sluice.aws("s3api", "list-objects-v2", "--bucket", bucket).get("KeyCount", 0) == 0
    sluice.aws("s3", "rb", f"s3://{bucket}", output="text")


def test_cli_errors(sluice, unique):
    with pytest.raises(AwsCliError) as e:
        sluice.aws("s3api", "get-object", "--bucket", f"none-{unique}", "--key", "k", "/dev/null")
    assert "NoSuchBucket" in e.value.stderr
    sluice.aws("s3", "mb", f"s3://err-{unique}", output="text")
    with pytest.raises(AwsCliError) as e:
        sluice.aws("s3api", "head-object", "--bucket", f"err-{unique}", "--key", "missing")
    assert "404" in e.value.stderr


def test_server_side_copy_and_move_of_large_object(sluice, unique, tmp_path):
    bucket = f"cpmv-{unique}"
    sluice.aws("s3", "mb", f"s3://{bucket}", output="text")
    src = tmp_path / "src.bin"
    write_file(str(src), 12 * 1024 * 1024 + 7, "copy")
    sluice.aws("s3", "cp", str(src), f"s3://{bucket}/a/src.bin", output="text")
    # Above the CLI's multipart threshold a bucket-to-bucket copy is UploadPartCopy.
    sluice.aws("s3", "cp", f"s3://{bucket}/a/src.bin", f"s3://{bucket}/b/copy.bin", output="text")
    sluice.aws("s3", "mv", f"s3://{bucket}/b/copy.bin", f"s3://{bucket}/c/moved.bin",
               output="text")
    back = tmp_path / "back.bin"
    sluice.aws("s3", "cp", f"s3://{bucket}/c/moved.bin", str(back), output="text")
    assert filecmp.cmp(src, back, shallow=False)
    listed = sluice.aws("s3", "ls", "--recursive", f"s3://{bucket}", output="text")
    assert "a/src.bin" in listed and "c/moved.bin" in listed and "b/copy.bin" not in listed
    sluice.aws("s3", "rb", "--force", f"s3://{bucket}", output="text")
    with pytest.raises(AwsCliError):
        sluice.aws("s3api", "head-bucket", "--bucket", bucket)
