"""One server per data directory: a second one on the same directory refuses to start."""
import os
import stat
import subprocess
import time

from conftest import free_port


def start_second(binary, data_dir):
    """Runs a second server on data_dir; returns (exit code, stderr, seconds taken)."""
    began = time.time()
    try:
        p = subprocess.run([binary, "serve", "--data", data_dir, "--listen",
                            f"127.0.0.1:{free_port()}"],
                           capture_output=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError("the second server kept running on a locked data directory")
    return p.returncode, p.stderr.decode(errors="replace"), time.time() - began


def test_second_server_on_the_same_directory_exits_and_the_first_keeps_serving(fresh_sluice):
    fresh_sluice.start()
    kinesis = fresh_sluice.client("kinesis")
    kinesis.create_stream(StreamName="locked", ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName="locked",
                                             WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    first = kinesis.put_record(StreamName="locked", Data=b"one", PartitionKey="k")

    code, err, _ = start_second(fresh_sluice.binary, fresh_sluice.data_dir)
    assert code != 0
    assert (f"data directory {fresh_sluice.data_dir} is in use by another sluice process "
            f"(pid {fresh_sluice.proc.pid})") in err

    lock = os.path.join(fresh_sluice.data_dir, "lock")
    assert stat.S_IMODE(os.stat(lock).st_mode) == 0o600

    # The first server still serves, and its sequence goes on undisturbed.
    second = kinesis.put_record(StreamName="locked", Data=b"two", PartitionKey="k")
    assert int(second["SequenceNumber"]) > int(first["SequenceNumber"])
    it = kinesis.get_shard_iterator(StreamName="locked", ShardId=first["ShardId"],
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=it)["Records"]] == [b"one",
                                                                                     b"two"]


def test_lock_is_released_when_the_server_stops_or_dies(fresh_sluice):
    fresh_sluice.start()
    assert fresh_sluice.stop() == 0
    fresh_sluice.start()  # a clean stop released it
    fresh_sluice.kill9()
    fresh_sluice.start()  # so did kill -9: the kernel drops the lock with the process
    fresh_sluice.client("kinesis").list_streams()
