"""Small objects (sealed bytes kept in the metadata store, one shared flush per PUT): every
S3 call that reads or copies an object works on them as on large ones, versions keep their
bytes until deleted, no plaintext reaches the disk, and no acknowledged object is lost to
kill -9 in the middle of a concurrent load."""
import hashlib
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import threading
import time

import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

SMALL_MAX = 64 * 1024


def body_of(tag, size):
    """Deterministic bytes for an object: the same tag and size give the same body."""
    seed = hashlib.sha256(tag.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def status_of(e):
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_small_objects_read_range_copy_list_and_delete(sluice, unique):
    s3 = sluice.client("s3")
    bucket = f"small-{unique}"
    s3.create_bucket(Bucket=bucket)
    sizes = {"empty": 0, "tiny": 5, "four-k": 4096, "at-limit": SMALL_MAX,
             "over-limit": SMALL_MAX + 1}
    for key, size in sizes.items():
        r = s3.put_object(Bucket=bucket, Key=f"d/{key}", Body=body_of(key, size),
                          ContentType="application/x-test", Metadata={"k": key})
        assert r["ETag"] == '"%s"' % hashlib.md5(body_of(key, size)).hexdigest()
    for key, size in sizes.items():
        want = body_of(key, size)
        got = s3.get_object(Bucket=bucket, Key=f"d/{key}")
        assert got["Body"].read() == want
        assert got["ContentType"] == "application/x-test" and got["Metadata"] == {"k": key}
        head = s3.head_object(Bucket=bucket, Key=f"d/{key}")
        assert head["ContentLength"] == size
        if size > 10:
            part = s3.get_object(Bucket=bucket, Key=f"d/{key}", Range="bytes=3-9")
            assert part["Body"].read() == want[3:10]
            assert part["ContentRange"] == f"bytes 3-9/{size}"
            tail = s3.get_object(Bucket=bucket, Key=f"d/{key}", Range="bytes=-4")
            assert tail["Body"].read() == want[-4:]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="d/")["Contents"]
    assert {o["Key"]: o["Size"] for o in listed} == {f"d/{k}": v for k, v in sizes.items()}

    # Copies from and to small objects.
    s3.copy_object(Bucket=bucket, Key="c/four-k", CopySource={"Bucket": bucket,
                                                              "Key": "d/four-k"})
    assert s3.get_object(Bucket=bucket, Key="c/four-k")["Body"].read() == body_of("four-k", 4096)
    # A small object as the source of UploadPartCopy, range and whole.
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    big = body_of("big-part", 5 * 1024 * 1024)
    p1 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=big)
    p2 = s3.upload_part_copy(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=2,
                             CopySource={"Bucket": bucket, "Key": "d/four-k"},
                             CopySourceRange="bytes=100-1099")
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": p1["ETag"]},
                  {"PartNumber": 2, "ETag": p2["CopyPartResult"]["ETag"]}]})
    got = s3.get_object(Bucket=bucket, Key="mp")["Body"].read()
    assert got == big + body_of("four-k", 4096)[100:1100]

    # Overwrite small with small, small with large and back; then delete.
    s3.put_object(Bucket=bucket, Key="d/tiny", Body=b"replaced")
    assert s3.get_object(Bucket=bucket, Key="d/tiny")["Body"].read() == b"replaced"
    s3.put_object(Bucket=bucket, Key="d/tiny", Body=body_of("x", SMALL_MAX + 10))
    assert s3.get_object(Bucket=bucket, Key="d/tiny")["Body"].read() == body_of("x",
                                                                               SMALL_MAX + 10)
    s3.put_object(Bucket=bucket, Key="d/tiny", Body=b"small again")
    assert s3.get_object(Bucket=bucket, Key="d/tiny")["Body"].read() == b"small again"
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": f"d/{k}"} for k in sizes]})
    s3.delete_object(Bucket=bucket, Key="c/four-k")
    for key in sizes:
        with pytest.raises(ClientError) as e:
            s3.head_object(Bucket=bucket, Key=f"d/{key}")
        assert status_of(e) == 404
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["mp"]


def test_kill_9_mid_load_loses_no_acknowledged_small_object(fresh_sluice, unique):
    server = fresh_sluice.start()
    cfg = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=30,
                 max_pool_connections=16)
    s3 = server.client("s3", config=cfg)
    bucket = f"crash-{unique}"
    s3.create_bucket(Bucket=bucket)
    acked = {}  # key -> body, for every PUT the server answered 200
    lock = threading.Lock()
    stop = threading.Event()

    def writer(t):
        i = 0
        while not stop.is_set():
            key = f"w{t}/{i:06d}"
            # Mostly small objects, every tenth one larger than the small limit.
            size = SMALL_MAX + 1000 if i % 10 == 9 else (i * 977) % 6000
            body = body_of(key, size)
            try:
                s3.put_object(Bucket=bucket, Key=key, Body=body)
            except (ClientError, BotoCoreError, OSError):
                return  # the server is gone
            with lock:
                acked[key] = body
            i += 1

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    deadline = time.time() + 120
    while time.time() < deadline:
        with lock:
            if len(acked) >= 400:
                break
        time.sleep(0.05)
    server.kill9()
    stop.set()
    for th in threads:
        th.join(timeout=60)
    with lock:
        survivors = dict(acked)
    assert len(survivors) >= 400

    server.start()
    s3 = server.client("s3")
    for key, body in survivors.items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body, key
    listed = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        listed.update(o["Key"] for o in page.get("Contents", []))
    assert set(survivors) <= listed
    lake = os.path.join(server.data_dir, "lake")
    assert os.listdir(os.path.join(lake, "tmp")) == []


# ---- flushes ----

def _traced(pid):
    """Every thread of pid has a tracer."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                if "TracerPid:\t0\n" in f.read():
                    return False
        except OSError:
            pass
    return True


def count_flushes(server, tmp_path, action):
    """Device flushes (fsync, fdatasync) the server makes while action runs, seen by strace
    attached to every thread."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    log = tmp_path / f"syncs-{time.monotonic_ns()}"
    tracer = subprocess.Popen(["strace", "-f", "-qq", "-p", str(server.proc.pid), "-e",
                               "trace=fsync,fdatasync", "-o", str(log)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while not _traced(server.proc.pid):
            if tracer.poll() is not None or time.time() > deadline:
                pytest.skip("strace cannot attach to the server")
            time.sleep(0.05)
        action()
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(timeout=60)
    calls = re.compile(r"\b(fsync|fdatasync)\(")
    with open(log) as f:
        return sum(1 for line in f if calls.search(line) and "resumed" not in line)


def test_one_small_put_is_one_flush_and_writers_share_them(fresh_sluice, unique, tmp_path):
    server = fresh_sluice.start()
    s3 = server.client("s3", config=Config(max_pool_connections=16))
    bucket = f"flush-{unique}"
    s3.create_bucket(Bucket=bucket)
    body = body_of("flush", 4096)
    s3.put_object(Bucket=bucket, Key="warm", Body=body)
    n = 40

    def sequential():
        for i in range(n):
            s3.put_object(Bucket=bucket, Key=f"seq/{i}", Body=body)

    flushes = count_flushes(server, tmp_path, sequential)
    # One WAL fsync each (a large object costs three: its file, its directory, its row);
    # a few to spare for the server's own background work.
    assert n <= flushes <= n + 5, flushes

    big = body_of("big", SMALL_MAX + 1)
    flushes = count_flushes(server, tmp_path,
                            lambda: [s3.put_object(Bucket=bucket, Key=f"big/{i}", Body=big)
                                     for i in range(10)])
    assert flushes >= 30, flushes

    writers, per_writer = 8, 40

    def concurrent():
        def run(t):
            for i in range(per_writer):
                s3.put_object(Bucket=bucket, Key=f"c{t}/{i}", Body=body)
        threads = [threading.Thread(target=run, args=(t,)) for t in range(writers)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()

    flushes = count_flushes(server, tmp_path, concurrent)
    # Group commit: concurrent writers share flushes, never more than one each.
    assert flushes < writers * per_writer, flushes
    for t in range(writers):
        assert s3.get_object(Bucket=bucket, Key=f"c{t}/{per_writer - 1}")["Body"].read() == body
    assert os.listdir(os.path.join(server.data_dir, "lake", "tmp")) == []


# ---- versions ----

def _small_ids(server, bucket):
    """Blob ids of bucket's versions (current and older) that keep their bytes in lake_small."""
    db = sqlite3.connect(os.path.join(server.data_dir, "sluice.db"))
    try:
        rows = db.execute("SELECT id FROM lake_small WHERE id IN (SELECT blob FROM lake_objects"
                          " WHERE bucket=?1 UNION SELECT blob FROM lake_versions WHERE bucket=?1)",
                          (bucket,)).fetchall()
    finally:
        db.close()
    return {r[0] for r in rows}


def _count_small(server, ids):
    db = sqlite3.connect(os.path.join(server.data_dir, "sluice.db"))
    try:
        return sum(db.execute("SELECT count(*) FROM lake_small WHERE id=?", (i,)).fetchone()[0]
                   for i in ids)
    finally:
        db.close()


def test_small_versions_read_by_id_and_bytes_go_with_the_last_version(fresh_sluice, unique):
    server = fresh_sluice.start()
    s3 = server.client("s3")
    bucket = f"ver-{unique}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    one, two = body_of("one", 1000), body_of("two", 3000)
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=one)["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=two)["VersionId"]
    ids = _small_ids(server, bucket)
    assert len(ids) == 2
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == two
    old = s3.get_object(Bucket=bucket, Key="k", VersionId=v1)
    assert old["Body"].read() == one and old["VersionId"] == v1
    part = s3.get_object(Bucket=bucket, Key="k", VersionId=v1, Range="bytes=10-19")
    assert part["Body"].read() == one[10:20]
    assert s3.head_object(Bucket=bucket, Key="k", VersionId=v1)["ContentLength"] == 1000
    # A delete marker hides the key; every version keeps its bytes.
    marker = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k")
    assert status_of(e) == 404
    assert _count_small(server, ids) == 2
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v2)["Body"].read() == two
    # A copy of an old version is an object of its own.
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "k",
                                                          "VersionId": v1})
    assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == one
    # Deleting versions by id frees their bytes, one by one.
    s3.delete_object(Bucket=bucket, Key="k", VersionId=v1)
    assert _count_small(server, ids) == 1
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId=v1)
    assert status_of(e) == 404
    s3.delete_object(Bucket=bucket, Key="k", VersionId=marker)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == two
    s3.delete_object(Bucket=bucket, Key="k", VersionId=v2)
    assert _count_small(server, ids) == 0
    # After a restart nothing was lost of what remains, and nothing came back.
    assert server.stop() == 0
    server.start()
    s3 = server.client("s3")
    assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == one
    assert _count_small(server, ids) == 0
    versions = s3.list_object_versions(Bucket=bucket, Prefix="k")
    assert versions.get("Versions", []) == [] and versions.get("DeleteMarkers", []) == []


def _files_containing(root, needle):
    found = []
    for d, _, files in os.walk(root):
        for name in files:
            path = os.path.join(d, name)
            try:
                with open(path, "rb") as fh:
                    if needle in fh.read():
                        found.append(path)
            except OSError:
                pass
    return found


def test_small_objects_leave_no_plaintext_on_disk(fresh_sluice, unique):
    server = fresh_sluice.start()
    s3 = server.client("s3")
    bucket = f"rest-{unique}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    needle = f"CANARY-{unique}-PLAINTEXT-".encode()
    bodies = {"tiny": needle, "some": needle * 100, "full": (needle * 5000)[:SMALL_MAX]}
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    v = s3.put_object(Bucket=bucket, Key="tiny", Body=needle + b"again")["VersionId"]
    assert v
    # Killed: the bytes are still in the WAL, never checkpointed into the database.
    server.kill9()
    assert os.path.exists(os.path.join(server.data_dir, "sluice.db-wal"))
    assert _files_containing(server.data_dir, needle) == []
    server.start()
    s3 = server.client("s3")
    for key, body in bodies.items():
        if key != "tiny":
            assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    assert s3.get_object(Bucket=bucket, Key="tiny")["Body"].read() == needle + b"again"
    assert s3.get_object(Bucket=bucket, Key="tiny", VersionId=v)["Body"].read() == needle + b"again"
    assert server.stop() == 0
    assert _files_containing(server.data_dir, needle) == []
