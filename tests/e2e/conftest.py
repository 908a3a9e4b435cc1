"""Fixtures that run the real sluice server and drive it with boto3 and the AWS CLI.

`sluice` is one server for the whole session (tests use unique resource names);
`fresh_sluice` is a server of the test's own, for restarts and kill -9.
The binary is $SLUICE_BIN (the test runner points it at the plain or the sanitizer
build), else build/sluice. The AWS CLI is $SLUICE_E2E_AWS (the runner names the one of
the same generation as the Python running the tests), else the aws installed beside this
Python, else /usr/bin/aws.
"""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import boto3
import pytest
from botocore.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _aws_cli():
    named = os.environ.get("SLUICE_E2E_AWS")
    if named:
        return named
    beside = os.path.join(os.path.dirname(sys.executable), "aws")
    return beside if os.access(beside, os.X_OK) else "/usr/bin/aws"


AWS_CLI = _aws_cli()


def aws_cli_major():
    """1 for AWS CLI v1, 2 for v2: they read blob arguments differently (v1 takes the raw
    bytes, v2 base64 unless told otherwise)."""
    out = subprocess.run([AWS_CLI, "--version"], capture_output=True, text=True)
    text = (out.stdout + out.stderr).strip()
    return int(text.split("/", 1)[1].split(".", 1)[0])
ACCESS_KEY = "AKIASLUICETESTROOT01"
SECRET_KEY = "sluice/test/secret/key/0123456789abcdefgh"


def free_port():
    """A port free now. Suites run side by side are given disjoint ranges below the
    kernel's ephemeral range (SLUICE_E2E_PORTS="lo-hi"), so that a new server of one
    suite never takes the port a server of the other is being restarted on."""
    span = os.environ.get("SLUICE_E2E_PORTS")
    if span:
        lo, hi = (int(x) for x in span.split("-"))
        for _ in range(500):
            port = random.randint(lo, hi)
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AwsCliError(Exception):
    def __init__(self, returncode, stderr):
        super().__init__(f"aws exited {returncode}: {stderr}")
        self.returncode = returncode
        self.stderr = stderr


class Sluice:
    def __init__(self, data_dir=None, region="us-east-1", extra_args=()):
        self.binary = os.environ.get("SLUICE_BIN", os.path.join(ROOT, "build", "sluice"))
        self.owns_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="sluice-e2e-")
        self.region = region
        self.account_id = "000000000000"
        self.access_key = ACCESS_KEY
        self.secret_key = SECRET_KEY
        self.extra_args = list(extra_args)
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.started = False  # has listened once: restarts keep the port
        self.log_path = os.path.join(self.data_dir, "server.log")

    # -- lifecycle --
    def start(self):
        """Starts the server and waits until it listens. A first start whose port another
        process took meanwhile (free_port only found it free) moves to a new port; a restart
        keeps its port, which clients already hold."""
        first = not self.started
        for _ in range(5):
            before = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
            try:
                self._start_once()
                self.started = True
                return self
            except RuntimeError:
                with open(self.log_path, "rb") as f:
                    f.seek(before)
                    taken = b"cannot listen on" in f.read()
                if not (first and taken):
                    raise
                self.port = free_port()
                self.endpoint = f"http://127.0.0.1:{self.port}"
        raise RuntimeError("sluice found no free port")

    def _start_once(self):
        before = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        env = dict(os.environ)
        env["SLUICE_ROOT_ACCESS_KEY_ID"] = self.access_key
        env["SLUICE_ROOT_SECRET_ACCESS_KEY"] = self.secret_key
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--data", self.data_dir, "--listen",
             f"127.0.0.1:{self.port}", "--region", self.region] + self.extra_args,
            stdout=self.log, stderr=self.log, env=env)
        # Listening is known from the server's own line, not from a connection: another
        # process that took the port would accept one too.
        ready = f"sluice: listening on http://127.0.0.1:{self.port}\n".encode()
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sluice exited {self.proc.returncode}: {self.read_log()}")
            with open(self.log_path, "rb") as f:
                f.seek(before)
                if ready in f.read():
                    return self
            time.sleep(0.02)
        raise RuntimeError("sluice did not start listening")

    def stop(self, timeout=60):
        """SIGTERM; returns the exit code (a clean stop is 0)."""
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = "timeout"
        self.proc = None
        self.log.close()
        return code

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None
        self.log.close()

    def restart(self):
        code = self.stop()
        assert code == 0, f"stop exited {code}: {self.read_log()}"
        return self.start()

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-5000:]
        except OSError:
            return ""

    def cleanup(self):
        if self.owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    # -- clients --
    def client(self, service, **kw):
        cfg = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=120)
        kw.setdefault("region_name", self.region)
        kw.setdefault("config", cfg)
        return boto3.client(service, endpoint_url=self.endpoint,
                            aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, **kw)

    def cli_env(self):
        env = dict(os.environ)
        env.update({"AWS_ACCESS_KEY_ID": self.access_key,
                    "AWS_SECRET_ACCESS_KEY": self.secret_key,
                    "AWS_DEFAULT_REGION": self.region,
                    "AWS_REGION": self.region,
                    "AWS_PAGER": "",
                    "AWS_CONFIG_FILE": "/dev/null",
                    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})
        env.pop("AWS_PROFILE", None)
        return env

    def aws(self, *args, output="json", input=None):
        """Runs the AWS CLI; returns parsed JSON (or text), raises AwsCliError."""
        cmd = [AWS_CLI, "--endpoint-url", self.endpoint, "--output", output] + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, env=self.cli_env(),
                           input=input, timeout=300)
        if p.returncode != 0:
            raise AwsCliError(p.returncode, p.stderr)
        if output == "json":
            return json.loads(p.stdout) if p.stdout.strip() else None
        return p.stdout


@pytest.fixture(scope="session")
def sluice():
    server = Sluice().start()
    yield server
    code = server.stop()
    log = server.read_log()
    server.cleanup()
    assert code == 0, f"server exited {code}:\n{log}"


@pytest.fixture(scope="module")
def sluice_unlimited():
    """A server of the module's own with --throughput-limits off, for tests about something
    other than the limits that load Kinesis at full speed (bulk loads, reading a shard back
    many times a second, streams created back to back with retries off). The limits
    themselves are tested in test_kinesis_limits.py."""
    server = Sluice(extra_args=["--throughput-limits", "off"]).start()
    yield server
    code = server.stop()
    log = server.read_log()
    server.cleanup()
    assert code == 0, f"server exited {code}:\n{log}"


@pytest.fixture
def fresh_sluice(request):
    """A server each test starts itself; a module sets SLUICE_EXTRA_ARGS to add flags."""
    server = Sluice(extra_args=getattr(request.module, "SLUICE_EXTRA_ARGS", ()))
    yield server
    if server.proc is not None:
        server.stop()
    server.cleanup()


@pytest.fixture
def unique():
    """A short unique suffix for resource names."""
    return uuid.uuid4().hex[:10]
