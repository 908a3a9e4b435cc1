"""The front end against hostile clients.

Each attack runs against a real server on loopback and is bounded in time; each test
asserts that the attack fails and that a legitimate, signed client is served during
and after it. Attackers that need several source addresses use 127.0.0.2 and up
(Linux routes all of 127/8 to the loopback device); the legitimate client is
127.0.0.1.
"""
import contextlib
import os
import resource
import socket
import statistics
import threading
import time
import urllib.parse

import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import Sluice

STS_BODY = b"Action=GetCallerIdentity&Version=2011-06-15"


@pytest.fixture(scope="module")
def sluice(sluice_unlimited):
    """The front end is under test here, with signed ListStreams calls as its cheap probe,
    many a second: the module's server runs without the Kinesis throughput limits."""
    return sluice_unlimited


# ---- helpers -------------------------------------------------------------------------

def signed_headers(server, method, path, service, body=b"", headers=None, key=None,
                   secret=None):
    """Headers (Host included) of a request signed the way botocore signs it."""
    url = server.endpoint + path
    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    creds = Credentials(key or server.access_key, secret or server.secret_key)
    signer = S3SigV4Auth if service == "s3" else SigV4Auth
    signer(creds, service, server.region).add_auth(req)
    out = dict(req.headers)
    out["Host"] = urllib.parse.urlsplit(url).netloc
    return out


def head_bytes(method, path, headers):
    lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def connect(server, source="127.0.0.1", timeout=10):
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout,
                                    source_address=(source, 0))


def read_response(sock, limit=1 << 20):
    """Reads one response (head and Content-Length body); returns (status, headers, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    want = int(headers.get("content-length", "0"))
    while len(body) < min(want, limit):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def sts_probe(server, source="127.0.0.1"):
    """A signed GetCallerIdentity on a new connection; returns (status, seconds)."""
    headers = signed_headers(server, "POST", "/", "sts", STS_BODY, {
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    headers["Content-Length"] = str(len(STS_BODY))
    start = time.monotonic()
    with connect(server, source) as s:
        s.sendall(head_bytes("POST", "/", headers) + STS_BODY)
        status, _, body = read_response(s)
    elapsed = time.monotonic() - start
    assert b"GetCallerIdentityResult" in body or status != 200
    return status, elapsed


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def closed_by_peer(sock, wait):
    """True when the server closes (or resets) the connection within wait seconds."""
    sock.settimeout(wait)
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


@pytest.fixture
def server_with(request):
    """A server of the test's own, started with extra arguments."""
    started = []

    def start(*args, preexec=None):
        server = Sluice(extra_args=args)
        if preexec is not None:
            import subprocess
            original = subprocess.Popen

            def popen(*a, **kw):
                kw["preexec_fn"] = preexec
                return original(*a, **kw)
            subprocess.Popen = popen
            try:
                server.start()
            finally:
                subprocess.Popen = original
        else:
            server.start()
        started.append(server)
        return server
    yield start
    for server in started:
        code = server.stop(timeout=30) if server.proc is not None else 0
        log = server.read_log()
        server.cleanup()
        assert code == 0, f"server exited {code}:\n{log}"


# ---- 1. no work for a stranger -------------------------------------------------------

def test_unauthenticated_put_is_refused_before_100_continue(sluice):
    """A 5 GB PUT without credentials is answered from its headers; no 100 Continue."""
    with connect(sluice) as s:
        s.sendall(head_bytes("PUT", "/bucket/huge", {
            "Host": f"127.0.0.1:{sluice.port}", "Content-Length": str(5 << 30),
            "Expect": "100-continue"}))
        status, headers, body = read_response(s)
    assert status == 403
    assert headers["x-amzn-requestid"]
    assert b"<Code>AccessDenied</Code>" in body


def test_unknown_key_is_refused_before_the_body(sluice):
    """JSON: the signature covers the body, but an unknown key is known from the headers."""
    body = b"{}"
    headers = signed_headers(sluice, "POST", "/", "kinesis", body, {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "Kinesis_20131202.ListStreams"}, key="AKIANOSUCHKEY0000000")
    headers["Content-Length"] = str(10 << 20)
    headers["Expect"] = "100-continue"
    with connect(sluice) as s:
        s.sendall(head_bytes("POST", "/", headers))
        status, headers, body = read_response(s)
    assert status == 400
    assert b"UnrecognizedClientException" in body
    assert headers["x-amzn-requestid"]


def test_wrong_s3_signature_is_refused_before_the_body(sluice):
    """S3 signs the payload hash as a header: the whole signature is checked first."""
    headers = signed_headers(sluice, "PUT", "/bucket/key", "s3", b"", {
        "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}, secret="not-the-secret")
    headers["Content-Length"] = str(1 << 30)
    headers["Expect"] = "100-continue"
    with connect(sluice) as s:
        s.sendall(head_bytes("PUT", "/bucket/key", headers))
        status, _, body = read_response(s)
    assert status == 403
    assert b"SignatureDoesNotMatch" in body


def test_strangers_streaming_bodies_cost_no_memory_nor_disk(server_with):
    """60 connections each start a 16 MiB body: the server reads none of them."""
    server = server_with()
    s3 = server.client("s3")
    s3.create_bucket(Bucket="hostile")
    base_rss = rss_kib(server.proc.pid)
    peak = [base_rss]
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_kib(server.proc.pid))
            time.sleep(0.02)

    def attack(i):
        kinesis = i % 2 == 0
        path = "/" if kinesis else f"/hostile/spam{i}"
        headers = {"Host": f"127.0.0.1:{server.port}", "Content-Length": str(16 << 20)}
        if kinesis:
            headers["X-Amz-Target"] = "Kinesis_20131202.PutRecords"
            headers["Content-Type"] = "application/x-amz-json-1.1"
        chunk = b"x" * (1 << 20)
        try:
            with connect(server, f"127.0.0.{2 + i % 8}") as s:
                s.sendall(head_bytes("POST" if kinesis else "PUT", path, headers))
                for _ in range(16):
                    s.sendall(chunk)
        except OSError:
            pass  # the server closed the connection: the attack failed

    watcher = threading.Thread(target=watch)
    watcher.start()
    threads = [threading.Thread(target=attack, args=(i,)) for i in range(60)]
    for t in threads:
        t.start()
    assert sts_probe(server)[0] == 200  # served during the attack
    for t in threads:
        t.join(60)
    stop.set()
    watcher.join()
    grew_mib = (peak[0] - base_rss) / 1024
    print(f"RSS {base_rss // 1024} MiB -> peak {peak[0] // 1024} MiB")
    assert grew_mib < 64, f"RSS grew by {grew_mib:.0f} MiB"
    listed = s3.list_objects_v2(Bucket="hostile")
    assert listed.get("KeyCount", 0) == 0
    assert sts_probe(server)[0] == 200  # and after it


# ---- 2. bodies of authenticated requests are bounded in total -------------------------

def test_body_budget_spent_answers_503_in_each_protocol(server_with):
    server = server_with("--body-memory-budget", str(1 << 20))
    s3 = server.client("s3")
    s3.create_bucket(Bucket="budget")
    big = b"a" * (800 << 10)
    held_headers = signed_headers(server, "PUT", "/budget/held", "s3", big)
    held_headers["Content-Length"] = str(len(big))
    held = connect(server)
    held.sendall(head_bytes("PUT", "/budget/held", held_headers) + big[:1000])
    time.sleep(0.3)
    # The budget is spent by the held body: S3 says SlowDown, Kinesis ServiceUnavailable.
    headers = signed_headers(server, "PUT", "/budget/second", "s3", big)
    headers["Content-Length"] = str(len(big))
    with connect(server) as s:
        s.sendall(head_bytes("PUT", "/budget/second", headers))
        status, rh, body = read_response(s)
    assert status == 503
    assert b"<Code>SlowDown</Code>" in body
    assert rh["x-amzn-requestid"]
    record = b'{"StreamName":"s","Data":"' + b"QUFB" * (200 << 10) + b'","PartitionKey":"k"}'
    headers = signed_headers(server, "POST", "/", "kinesis", record, {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "Kinesis_20131202.PutRecord"})
    headers["Content-Length"] = str(len(record))
    with connect(server) as s:
        s.sendall(head_bytes("POST", "/", headers))
        status, rh, body = read_response(s)
    assert status == 503
    assert b'"__type":"ServiceUnavailable"' in body
    # Small requests still fit beside the held body.
    assert sts_probe(server)[0] == 200
    # Once the held body completes, its share comes back.
    held.sendall(big[1000:])
    status, _, _ = read_response(held)
    held.close()
    assert status == 200
    s3.put_object(Bucket="budget", Key="after", Body=big)
    assert s3.get_object(Bucket="budget", Key="after")["Body"].read() == big


# ---- 3. connections ------------------------------------------------------------------

def test_slow_header_drip_is_dropped(server_with):
    """One header byte a second never completes a head: dropped at the header deadline."""
    server = server_with("--header-timeout", "2")
    s = connect(server)
    head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 100
    start = time.monotonic()
    dropped = False
    for byte in head:
        try:
            s.sendall(bytes([byte]))
        except OSError:
            dropped = True
            break
        if closed_by_peer(s, 1.0):
            dropped = True
            break
        if time.monotonic() - start > 20:
            break
    s.close()
    assert dropped, "a client dripping its headers was never dropped"
    assert sts_probe(server)[0] == 200


def test_slow_body_is_cut_off(server_with):
    """A signed body that trickles below the minimum rate is cut off."""
    server = server_with("--header-timeout", "2", "--min-body-rate", "1000")
    s3 = server.client("s3")
    s3.create_bucket(Bucket="slow")
    body = b"b" * 100000
    headers = signed_headers(server, "PUT", "/slow/k", "s3", body)
    headers["Content-Length"] = str(len(body))
    s = connect(server)
    s.sendall(head_bytes("PUT", "/slow/k", headers))
    start = time.monotonic()
    dropped = False
    while time.monotonic() - start < 20:
        try:
            s.sendall(b"b" * 10)
        except OSError:
            dropped = True
            break
        if closed_by_peer(s, 0.5):
            dropped = True
            break
    s.close()
    assert dropped
    assert sts_probe(server)[0] == 200
    with pytest.raises(Exception):
        s3.head_object(Bucket="slow", Key="k")


def hold_connections(server, sources, per_source, drip=True):
    """Opens per_source connections from each source address, each having sent a partial
    request head; returns the sockets the server kept open."""
    socks = []
    for src in sources:
        for _ in range(per_source):
            try:
                s = connect(server, src, timeout=5)
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
                socks.append(s)
            except OSError:
                pass
    time.sleep(0.5)
    kept = []
    for s in socks:
        if closed_by_peer(s, 0.001):
            s.close()
        else:
            kept.append(s)
    return kept


@contextlib.contextmanager
def dripping(conns):
    """While the block runs, sends a byte a second on each of conns, as slowloris does."""
    stop = threading.Event()

    def drip():
        while not stop.is_set():
            for s in conns:
                try:
                    s.send(b"a")
                except OSError:
                    pass
            stop.wait(1.0)

    dripper = threading.Thread(target=drip)
    dripper.start()
    try:
        yield
    finally:
        stop.set()
        dripper.join()


def test_per_address_connection_limit(server_with):
    server = server_with("--max-connections-per-address", "20", "--header-timeout", "30")
    kept = hold_connections(server, ["127.0.0.2"], 40)
    try:
        assert len(kept) == 20
        s = server.client("sts")
        assert s.get_caller_identity()["Account"] == server.account_id
    finally:
        for s in kept:
            s.close()


def test_reserve_admits_a_new_client_when_attackers_hold_the_rest(server_with):
    """64 connections, 16 per address: attackers from four addresses could take all 64;
    the last four are kept for addresses holding fewer than eight, which a new client
    is and the attackers no longer are."""
    server = server_with("--max-connections", "64", "--max-connections-per-address", "16",
                         "--header-timeout", "30")
    kept = hold_connections(server, [f"127.0.0.{i}" for i in range(2, 6)], 16)
    try:
        assert 56 <= len(kept) <= 60
        assert sts_probe(server)[0] == 200
    finally:
        for s in kept:
            s.close()
    assert sts_probe(server)[0] == 200


@pytest.mark.parametrize("max_connections", [None, 2100])
def test_probe_latency_under_2000_slowloris(server_with, max_connections):
    """2,000 slowloris connections from eight addresses: with the default limits most are
    refused; with room for all of them each holds a thread. Either way every one of a new
    client's GetCallerIdentity calls is answered (bench/slowloris_bench.py measures how
    fast, beside the same probe with no attacker)."""
    args = ["--header-timeout", "60"]
    if max_connections:
        args += ["--max-connections", str(max_connections)]
    server = server_with(*args)
    sources = [f"127.0.0.{i}" for i in range(2, 10)]
    kept = hold_connections(server, sources, 250)
    try:
        latencies = []
        with dripping(kept):
            for _ in range(100):
                status, elapsed = sts_probe(server)
                assert status == 200
                latencies.append(elapsed)
        latencies.sort()
        p50 = statistics.median(latencies) * 1000
        p99 = latencies[98] * 1000
        print(f"held {len(kept)} connections; probe p50 {p50:.1f} ms p99 {p99:.1f} ms")
    finally:
        for s in kept:
            s.close()


# ---- 4. descriptors ------------------------------------------------------------------

def systemd_nofile():
    """As a systemd service starts: soft 1024, hard as high as this machine allows."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))


def test_open_file_limit_is_raised_and_500_shards_fit(server_with):
    server = server_with(preexec=systemd_nofile)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    with open(f"/proc/{server.proc.pid}/limits") as f:
        line = [ln for ln in f if ln.startswith("Max open files")][0]
    assert int(line.split()[3]) == hard
    kinesis = server.client("kinesis")
    kinesis.create_stream(StreamName="wide", ShardCount=500)
    kinesis.get_waiter("stream_exists").wait(StreamName="wide",
                                             WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    for i in range(0, 500, 50):
        kinesis.put_record(StreamName="wide", Data=b"x", PartitionKey=f"k{i}")
    assert server.restart()
    summary = server.client("kinesis").describe_stream_summary(StreamName="wide")
    assert summary["StreamDescriptionSummary"]["OpenShardCount"] == 500


def test_connections_are_admitted_only_while_descriptors_remain(server_with):
    """Under a descriptor limit too tight for the default connection count, connections
    beyond what it leaves room for are refused, the server stays idle, and a new client
    from another address is still served."""
    def tight():
        resource.setrlimit(resource.RLIMIT_NOFILE, (400, 400))
    server = server_with("--max-connections-per-address", "1000", "--header-timeout", "30",
                         preexec=tight)
    assert "admits 16 connections" in server.read_log()
    socks = []
    for _ in range(300):
        try:
            s = connect(server, "127.0.0.2", timeout=2)
            s.sendall(b"GET / HTTP/1.1\r\n")
            socks.append(s)
        except OSError:
            pass
    try:
        time.sleep(0.5)
        before = cpu_seconds(server.proc.pid)
        time.sleep(2)
        used = cpu_seconds(server.proc.pid) - before
        assert used < 0.5, f"server used {used:.2f} s of CPU in 2 s"
        assert sts_probe(server, "127.0.0.3")[0] == 200
        assert len(os.listdir(f"/proc/{server.proc.pid}/fd")) < 400
    finally:
        for s in socks:
            s.close()
    assert sts_probe(server)[0] == 200


def test_out_of_descriptors_does_not_spin(server_with):
    """When accept() itself finds no descriptor left, the server waits instead of
    retrying at full speed, and serves again once descriptors come back."""
    server = server_with("--header-timeout", "30")
    pid = server.proc.pid
    limits = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    in_use = len(os.listdir(f"/proc/{pid}/fd"))
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (in_use, limits[1]))
    socks = []
    try:
        for _ in range(20):
            s = connect(server, "127.0.0.2", timeout=2)
            s.sendall(b"GET / HTTP/1.1\r\n")
            socks.append(s)
        time.sleep(0.5)
        before = cpu_seconds(pid)
        time.sleep(3)
        used = cpu_seconds(pid) - before
        print(f"CPU while out of descriptors: {used / 3 * 100:.1f} %")
        assert used < 0.75, f"server used {used:.2f} s of CPU in 3 s"
    finally:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, limits)
        for s in socks:
            s.close()
    assert sts_probe(server)[0] == 200


# ---- 5. request smuggling ------------------------------------------------------------

def smuggle(server, extra, body=b"{}"):
    headers = signed_headers(server, "POST", "/", "kinesis", body, {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "Kinesis_20131202.ListStreams"})
    head = head_bytes("POST", "/", headers)[:-2] + extra + b"\r\n"
    with connect(server) as s:
        s.sendall(head + body)
        return read_response(s)


@pytest.mark.parametrize("extra", [
    b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n",
    b"Content-Length: 2\r\nContent-Length: 7\r\n",
    b"Content-Length: 2\r\nTransfer-Encoding: gzip, chunked\r\n",
], ids=["cl-and-te", "two-content-lengths", "te-not-chunked"])
def test_smuggling_shapes_are_refused(sluice, extra):
    status, headers, body = smuggle(sluice, extra)
    assert status == 400
    assert headers["x-amzn-requestid"]
    assert b'"__type":"ValidationException"' in body
    assert headers.get("connection") == "close"


def raw_exchange(server, data):
    with connect(server) as s:
        s.sendall(data)
        return read_response(s)


def kinesis_head(server, line_end=b"\r\n", extra=b""):
    headers = signed_headers(server, "POST", "/", "kinesis", b"{}", {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "Kinesis_20131202.ListStreams"})
    headers["Content-Length"] = "2"
    head = head_bytes("POST", "/", headers).replace(b"\r\n", line_end)
    return head[:-len(line_end)] + extra + line_end + b"{}"


@pytest.mark.parametrize("data, status, shape", [
    # bare LF line ends
    (lambda srv: kinesis_head(srv, line_end=b"\n"), 400, b'"__type":"ValidationException"'),
    # a header folded onto the next line
    (lambda srv: kinesis_head(srv, extra=b"X-Folded: a\r\n b\r\n"), 400,
     b'"__type":"ValidationException"'),
    # a request line that is not one
    (lambda srv: b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n", 400, b"<Code>InvalidArgument</Code>"),
    (lambda srv: b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, b"<Code>InvalidArgument</Code>"),
    (lambda srv: b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n", 400,
     b"<Code>InvalidArgument</Code>"),
    (lambda srv: b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414,
     b"<Code>InvalidArgument</Code>"),
    (lambda srv: b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", 431,
     b"<Code>InvalidArgument</Code>"),
], ids=["bare-lf", "obs-fold", "control-in-target", "http-2.0", "bad-content-length",
        "uri-too-long",
        "head-too-large"])
def test_malformed_heads_get_the_protocols_error_shape(sluice, data, status, shape):
    """What a lenient parser would accept silently or answer with an HTML page is refused
    with a request id and the error shape of the protocol the headers point to."""
    got_status, headers, body = raw_exchange(sluice, data(sluice))
    assert got_status == status
    assert headers["x-amzn-requestid"]
    assert shape in body
    assert b"<html" not in body
    assert sts_probe(sluice)[0] == 200


def test_sound_heads_still_pass_the_vetting(sluice):
    status, _, body = raw_exchange(sluice, kinesis_head(sluice))
    assert status == 200
    assert b"StreamNames" in body


# ---- every request of a connection, not only the first -------------------------------

class Reader:
    """Reads responses one after another off one socket, keeping what follows each."""

    def __init__(self, sock):
        self.sock = sock
        self.data = b""

    def _fill(self):
        chunk = self.sock.recv(65536)
        self.data += chunk
        return bool(chunk)

    def interim(self):
        """The head of the next response, if it is a 1xx one (consumed), else None."""
        while b"\r\n\r\n" not in self.data and self._fill():
            pass
        if self.data.startswith(b"HTTP/1.1 1"):
            head, _, self.data = self.data.partition(b"\r\n\r\n")
            return head
        return None

    def response(self):
        while b"\r\n\r\n" not in self.data:
            assert self._fill(), f"connection closed before a response: {self.data!r}"
        head, _, rest = self.data.partition(b"\r\n\r\n")
        lines = head.decode(errors="replace").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        want = int(headers.get("content-length", "0"))
        while len(rest) < want and self._fill():
            rest = self.data.partition(b"\r\n\r\n")[2]
        self.data = rest[want:]
        return int(lines[0].split()[1]), headers, rest[:want]

    def closed(self):
        """1 when the server ends the connection with nothing more to say."""
        while self._fill():
            pass
        return self.data == b""


def list_streams(server):
    return kinesis_head(server)


def chunked_kinesis(server, chunked_body):
    headers = signed_headers(server, "POST", "/", "kinesis", b"{}", {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "Kinesis_20131202.ListStreams"})
    headers["Transfer-Encoding"] = "chunked"
    return head_bytes("POST", "/", headers) + chunked_body


JSON_400 = b'"__type":"ValidationException"'
XML_400 = b"<Code>InvalidArgument</Code>"


@pytest.mark.parametrize("second, status, shape", [
    (lambda srv: kinesis_head(srv, line_end=b"\n"), 400, JSON_400),
    (lambda srv: kinesis_head(srv, extra=b"X-Folded: a\r\n b\r\n"), 400, JSON_400),
    (lambda srv: chunked_kinesis(srv, b"2x\r\n{}\r\n0\r\n\r\n"), 400, JSON_400),
    (lambda srv: chunked_kinesis(srv, b"2\r\n{}0\r\n\r\n"), 400, JSON_400),
    (lambda srv: kinesis_head(srv, extra=b"Transfer-Encoding: chunked\r\n"), 400, JSON_400),
    (lambda srv: kinesis_head(srv, extra=b"Content-Length: 3\r\n"), 400, JSON_400),
    (lambda srv: chunked_kinesis(srv, b"").replace(b"chunked", b"gzip"), 501,
     b'"__type":"NotImplemented"'),
    (lambda srv: b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, XML_400),
    (lambda srv: b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n", 431,
     XML_400),
    (lambda srv: b"GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505, XML_400),
    (lambda srv: b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400, XML_400),
], ids=["bare-lf", "obs-fold", "bad-chunk-size", "chunk-without-crlf", "cl-and-te",
        "two-content-lengths", "te-not-chunked", "uri-20k", "head-100k", "http-3.0",
        "malformed-request-line"])
def test_later_requests_of_a_connection_are_vetted_like_the_first(sluice, second, status,
                                                                    shape):
    """A sound request, then on the same connection a malformed or ambiguous one: the
    second is answered in the protocol's error shape with a request id, never an HTML
    page, and the connection ends; a fresh client is served after."""
    with connect(sluice) as s:
        reader = Reader(s)
        s.sendall(list_streams(sluice))
        assert reader.response()[0] == 200
        try:
            s.sendall(second(sluice))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered before taking it all
        got_status, headers, body = reader.response()
        assert got_status == status, body
        assert headers["x-amzn-requestid"]
        assert headers["connection"] == "close"
        assert shape in body
        assert b"<html" not in body.lower()
        assert reader.closed()
    assert sts_probe(sluice)[0] == 200


def test_pipelined_requests_are_answered_in_order(sluice):
    """Two requests sent back to back, before any answer, are both answered, in order."""
    sts_headers = signed_headers(sluice, "POST", "/", "sts", STS_BODY, {
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    sts_headers["Content-Length"] = str(len(STS_BODY))
    with connect(sluice) as s:
        reader = Reader(s)
        s.sendall(list_streams(sluice) + head_bytes("POST", "/", sts_headers) + STS_BODY)
        first = reader.response()
        second = reader.response()
    assert first[0] == 200 and b"StreamNames" in first[2]
    assert second[0] == 200 and b"GetCallerIdentityResult" in second[2]
    assert first[1]["x-amzn-requestid"] != second[1]["x-amzn-requestid"]


def test_chunked_signed_s3_put_on_a_kept_alive_connection(sluice):
    """aws-chunked with chunk signatures, sent with Transfer-Encoding: chunked as the
    second request of a connection, is stored whole; the third reads it back."""
    from s3_helpers import SignedRequest, signed_chunked_body
    bucket = f"h1-chunked-{os.getpid()}"
    payload = os.urandom(150_000)
    make = SignedRequest(sluice, "PUT", f"/{bucket}")
    put = SignedRequest(sluice, "PUT", f"/{bucket}/k", headers={
        "content-encoding": "aws-chunked", "x-amz-decoded-content-length": len(payload)},
        payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    body = signed_chunked_body(put, payload, 64 * 1024)
    get = SignedRequest(sluice, "GET", f"/{bucket}/k")
    with connect(sluice) as s:
        reader = Reader(s)
        s.sendall(head_bytes("PUT", f"/{bucket}", dict(make.headers, **{"content-length": "0"})))
        assert reader.response()[0] == 200
        # HTTP chunks of 10000 bytes, cutting across aws-chunked's own framing
        framed = b"".join(b"%x;ext=1\r\n" % len(body[i:i + 10000]) + body[i:i + 10000] + b"\r\n"
                          for i in range(0, len(body), 10000)) + b"0\r\nX-T: 1\r\n\r\n"
        s.sendall(head_bytes("PUT", f"/{bucket}/k",
                             dict(put.headers, **{"transfer-encoding": "chunked"})) + framed)
        status, _, out = reader.response()
        assert status == 200, out
        s.sendall(head_bytes("GET", f"/{bucket}/k", get.headers))
        status, _, out = reader.response()
    assert status == 200
    assert out == payload


def test_100_continue_on_a_later_request_only_after_authentication(sluice):
    """On a kept-alive connection too, 100 Continue follows authentication: a stranger's
    PUT gets its refusal instead, a signed one the interim answer and then its 200."""
    bucket = f"h1-continue-{os.getpid()}"
    from s3_helpers import SignedRequest
    make = SignedRequest(sluice, "PUT", f"/{bucket}")
    with connect(sluice) as s:
        reader = Reader(s)
        s.sendall(head_bytes("PUT", f"/{bucket}", dict(make.headers, **{"content-length": "0"})))
        assert reader.response()[0] == 200
        put = SignedRequest(sluice, "PUT", f"/{bucket}/k", payload_hash="UNSIGNED-PAYLOAD")
        s.sendall(head_bytes("PUT", f"/{bucket}/k", dict(
            put.headers, **{"content-length": "5", "expect": "100-continue"})))
        assert reader.interim() == b"HTTP/1.1 100 Continue"
        s.sendall(b"hello")
        assert reader.response()[0] == 200
        s.sendall(head_bytes("PUT", f"/{bucket}/huge", {
            "Host": f"127.0.0.1:{sluice.port}", "Content-Length": str(5 << 30),
            "Expect": "100-continue"}))
        assert reader.interim() is None
        status, headers, body = reader.response()
        assert status == 403
        assert b"<Code>AccessDenied</Code>" in body
        assert headers["connection"] == "close"
        assert reader.closed()
