"""HTTP/2 with prior knowledge on the same port as HTTP/1.1.

Requests are signed by botocore exactly as for HTTP/1.1 and sent over HTTP/2 with the
`h2` package (Debian's python3-h2); attacks are written frame by frame with its
`hyperframe` and `hpack`. Each attack is bounded in time, loopback only, and asserts
that the attacker is refused or disconnected and that a legitimate client (boto3 over
HTTP/1.1, and a fresh HTTP/2 connection) is served during and after it.
"""
import json
import socket
import threading
import time
import urllib.parse

import h2.config
import h2.connection
import h2.events
import hpack
import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame,
                              PingFrame, RstStreamFrame, SettingsFrame, WindowUpdateFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
STS_BODY = b"Action=GetCallerIdentity&Version=2011-06-15"
ENHANCE_YOUR_CALM = 11
REFUSED_STREAM = 7


# ---- helpers -------------------------------------------------------------------------

def signed(server, method, path, service, body=b"", headers=None, key=None):
    """(headers, body) of a request signed the way botocore signs it, as HTTP/2 fields."""
    url = server.endpoint + path
    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    creds = Credentials(key or server.access_key, server.secret_key)
    signer = S3SigV4Auth if service == "s3" else SigV4Auth
    signer(creds, service, server.region).add_auth(req)
    out = [(":method", method), (":path", path), (":scheme", "http"),
           (":authority", urllib.parse.urlsplit(url).netloc)]
    out += [(k.lower(), v) for k, v in req.headers.items()]
    if body:
        out.append(("content-length", str(len(body))))
    return out


def kinesis(server, op, payload):
    body = json.dumps(payload).encode()
    return signed(server, "POST", "/", "kinesis", body,
                  {"X-Amz-Target": f"Kinesis_20131202.{op}",
                   "Content-Type": "application/x-amz-json-1.1"}), body


class H2Client:
    """A well-behaved HTTP/2 client (h2's state machine over a blocking socket)."""

    def __init__(self, server, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=cfg)
        self.conn.initiate_connection()
        self.sock.sendall(self.conn.data_to_send())
        self.responses = {}
        self.ended = False

    def send(self, headers, body=b""):
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, headers, end_stream=not body)
        if body:
            view = memoryview(body)
            while view:
                room = min(self.conn.local_flow_control_window(sid),
                           self.conn.max_outbound_frame_size)
                if room <= 0:
                    self.sock.sendall(self.conn.data_to_send())
                    self._pump()
                    continue
                chunk, view = view[:room], view[room:]
                self.conn.send_data(sid, bytes(chunk), end_stream=not view)
        self.sock.sendall(self.conn.data_to_send())
        self.responses[sid] = {"status": None, "headers": {}, "body": b"", "done": False}
        return sid

    def _pump(self):
        data = self.sock.recv(65536)
        if not data:
            self.ended = True
            raise ConnectionError("server closed the connection")
        for ev in self.conn.receive_data(data):
            r = self.responses.get(getattr(ev, "stream_id", None))
            if isinstance(ev, h2.events.ResponseReceived):
                r["headers"] = dict(ev.headers)
                r["status"] = int(r["headers"][":status"])
            elif isinstance(ev, h2.events.DataReceived):
                r["body"] += ev.data
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                if r is not None:
                    r["done"] = True
                    if isinstance(ev, h2.events.StreamReset) and r["status"] is None:
                        r["reset"] = ev.error_code
        out = self.conn.data_to_send()
        if out:
            self.sock.sendall(out)

    def wait(self, sids, timeout=20):
        deadline = time.time() + timeout
        while not all(self.responses[s]["done"] for s in sids):
            assert time.time() < deadline, "no HTTP/2 response in time"
            self._pump()
        return [self.responses[s] for s in sids]

    def request(self, headers, body=b""):
        return self.wait([self.send(headers, body)])[0]

    def close(self):
        try:
            self.conn.close_connection()
            self.sock.sendall(self.conn.data_to_send())
        except OSError:
            pass
        self.sock.close()


class RawH2:
    """An attacker: frames written by hand, regardless of what the server says."""

    def __init__(self, server, timeout=5):
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
        self.enc = hpack.Encoder()
        self.sock.sendall(PREFACE + SettingsFrame(0).serialize())
        self.buf = b""

    def headers(self, sid, fields, end_stream=True):
        f = HeadersFrame(sid, self.enc.encode(fields))
        f.flags.add("END_HEADERS")
        if end_stream:
            f.flags.add("END_STREAM")
        return f.serialize()

    def send(self, data):
        self.sock.sendall(data)

    def frames(self, timeout=5, until=None):
        """Frames read until `until(frame)` is true, the connection ends or time runs out;
        returns (frames, closed)."""
        out = []
        deadline = time.time() + timeout
        self.sock.settimeout(0.5)
        while time.time() < deadline:
            while len(self.buf) >= 9:
                frame, length = Frame.parse_frame_header(memoryview(self.buf[:9]))
                if len(self.buf) < 9 + length:
                    break
                frame.parse_body(memoryview(self.buf[9:9 + length]))
                self.buf = self.buf[9 + length:]
                out.append(frame)
                if until is not None and until(frame):
                    return out, False
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                return out, True
            if not data:
                return out, True
            self.buf += data
        return out, False

    def close(self):
        self.sock.close()


def get_caller_identity_h2(server):
    c = H2Client(server)
    try:
        r = c.request(signed(server, "POST", "/", "sts", STS_BODY,
                             {"Content-Type": "application/x-www-form-urlencoded"}), STS_BODY)
        return r["status"]
    finally:
        c.close()


def legit_ok(server):
    """A legitimate client is served: boto3 over HTTP/1.1 and a fresh HTTP/2 connection."""
    sts = server.client("sts")
    assert sts.get_caller_identity()["Account"] == server.account_id
    assert get_caller_identity_h2(server) == 200


def during(server, attack):
    """Runs attack() in a thread while a legitimate client is served, then after it."""
    result = {}

    def run():
        try:
            result["value"] = attack()
        except Exception as e:  # noqa: BLE001 - reported below
            result["error"] = e

    t = threading.Thread(target=run)
    t.start()
    while t.is_alive():
        legit_ok(server)
        time.sleep(0.05)
    t.join(30)
    legit_ok(server)
    if "error" in result:
        raise result["error"]
    return result["value"]


# ---- service calls over HTTP/2 ---------------------------------------------------------

def test_kinesis_put_and_get_records_over_h2(sluice, unique):
    name = f"h2-{unique}"
    k = sluice.client("kinesis")
    k.create_stream(StreamName=name, ShardCount=1)
    k.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})
    c = H2Client(sluice)
    try:
        hdrs, body = kinesis(sluice, "PutRecord",
                             {"StreamName": name, "Data": "aGVsbG8gaDI=", "PartitionKey": "p"})
        r = c.request(hdrs, body)
        assert r["status"] == 200, r
        assert r["headers"]["x-amzn-requestid"]
        put = json.loads(r["body"])
        assert put["ShardId"] == "shardId-000000000000"
        hdrs, body = kinesis(sluice, "GetShardIterator",
                             {"StreamName": name, "ShardId": put["ShardId"],
                              "ShardIteratorType": "TRIM_HORIZON"})
        it = json.loads(c.request(hdrs, body)["body"])["ShardIterator"]
        hdrs, body = kinesis(sluice, "GetRecords", {"ShardIterator": it})
        r = c.request(hdrs, body)
        assert r["status"] == 200
        records = json.loads(r["body"])["Records"]
        assert [x["Data"] for x in records] == ["aGVsbG8gaDI="]
        assert records[0]["SequenceNumber"] == put["SequenceNumber"]
    finally:
        c.close()


def test_s3_put_get_head_over_h2(sluice, unique):
    bucket = f"h2-{unique}"
    sluice.client("s3").create_bucket(Bucket=bucket)
    data = bytes(range(256)) * 4096  # 1 MiB: several DATA frames and window updates
    c = H2Client(sluice)
    try:
        r = c.request(signed(sluice, "PUT", f"/{bucket}/obj", "s3", data), data)
        assert r["status"] == 200, r
        assert r["headers"]["x-amz-request-id"]
        r = c.request(signed(sluice, "GET", f"/{bucket}/obj", "s3"))
        assert r["status"] == 200
        assert r["body"] == data
        assert int(r["headers"]["content-length"]) == len(data)
        r = c.request(signed(sluice, "HEAD", f"/{bucket}/obj", "s3"))
        assert r["status"] == 200 and r["body"] == b""
        assert int(r["headers"]["content-length"]) == len(data)
        r = c.request(signed(sluice, "GET", f"/{bucket}/missing", "s3"))
        assert r["status"] == 404 and b"<Code>NoSuchKey</Code>" in r["body"]
        assert r["headers"]["x-amzn-requestid"]
    finally:
        c.close()
    got = sluice.client("s3").get_object(Bucket=bucket, Key="obj")["Body"].read()
    assert got == data


def test_glue_and_sts_over_h2(sluice, unique):
    db = f"h2_{unique}"
    c = H2Client(sluice)
    try:
        def glue(op, payload):
            body = json.dumps(payload).encode()
            return c.request(signed(sluice, "POST", "/", "glue", body,
                                    {"X-Amz-Target": f"AWSGlue.{op}",
                                     "Content-Type": "application/x-amz-json-1.1"}), body)
        r = glue("CreateDatabase", {"DatabaseInput": {"Name": db}})
        assert r["status"] == 200, r
        r = glue("GetDatabase", {"Name": db})
        assert json.loads(r["body"])["Database"]["Name"] == db
        r = glue("GetDatabase", {"Name": db + "_none"})
        assert r["status"] == 400
        assert r["headers"]["x-amzn-errortype"].startswith("EntityNotFoundException")
        assert r["headers"]["x-amzn-requestid"]
    finally:
        c.close()
    assert get_caller_identity_h2(sluice) == 200


def test_concurrent_streams_on_one_connection(sluice, unique):
    name = f"h2c-{unique}"
    k = sluice.client("kinesis")
    k.create_stream(StreamName=name, ShardCount=2)
    k.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})
    c = H2Client(sluice)
    try:
        sids = []
        for i in range(40):
            hdrs, body = kinesis(sluice, "PutRecord",
                                 {"StreamName": name, "Data": "eA==", "PartitionKey": str(i)})
            sids.append(c.send(hdrs, body))
        responses = c.wait(sids)
        assert [r["status"] for r in responses] == [200] * 40
        seqs = {json.loads(r["body"])["SequenceNumber"] for r in responses}
        ids = {r["headers"]["x-amzn-requestid"] for r in responses}
        assert len(seqs) == 40 and len(ids) == 40
    finally:
        c.close()


# ---- authentication before the body ----------------------------------------------------

def test_unsigned_request_refused_before_its_body(sluice, unique):
    """A stranger's 1 GiB upload is answered from its headers: 403 and the stream closed,
    without one byte of the body sent."""
    c = H2Client(sluice)
    try:
        hdrs = [(":method", "PUT"), (":path", f"/bucket-{unique}/big"), (":scheme", "http"),
                (":authority", f"127.0.0.1:{sluice.port}"), ("content-length", str(1 << 30))]
        sid = c.conn.get_next_available_stream_id()
        c.conn.send_headers(sid, hdrs, end_stream=False)
        c.sock.sendall(c.conn.data_to_send())
        c.responses[sid] = {"status": None, "headers": {}, "body": b"", "done": False}
        r = c.wait([sid], timeout=10)[0]
        assert r["status"] == 403
        assert b"<Code>AccessDenied</Code>" in r["body"]
        assert r["headers"]["x-amzn-requestid"]
        # the connection still serves
        assert c.request(signed(sluice, "GET", "/", "s3"))["status"] == 200
    finally:
        c.close()


def test_bad_signature_refused_with_json_error(sluice):
    c = H2Client(sluice)
    try:
        body = b'{"Limit": 1}'
        hdrs = signed(sluice, "POST", "/", "kinesis", body,
                      {"X-Amz-Target": "Kinesis_20131202.ListStreams",
                       "Content-Type": "application/x-amz-json-1.1"},
                      key="AKIANOSUCHKEY0000000")
        r = c.request(hdrs, body)
        assert r["status"] == 400
        assert r["headers"]["x-amzn-errortype"].startswith("UnrecognizedClientException")
        assert r["headers"]["x-amzn-requestid"]
    finally:
        c.close()


# ---- floods ---------------------------------------------------------------------------

def unsigned_get(sluice, path="/"):
    return [(":method", "GET"), (":path", path), (":scheme", "http"),
            (":authority", f"127.0.0.1:{sluice.port}")]


def test_rapid_reset_is_cut_off(sluice):
    """CVE-2023-44487: streams opened and reset at once. The connection gets GOAWAY
    ENHANCE_YOUR_CALM and is closed."""
    def attack():
        a = RawH2(sluice)
        try:
            out = b""
            for i in range(1000):
                sid = 1 + 2 * i
                out += a.headers(sid, unsigned_get(sluice), end_stream=False)
                out += RstStreamFrame(sid, error_code=8).serialize()
            try:
                a.send(out)
            except OSError:
                pass
            frames, closed = a.frames(timeout=10, until=lambda f: isinstance(f, GoAwayFrame))
            goaway = [f for f in frames if isinstance(f, GoAwayFrame)]
            assert goaway and goaway[0].error_code == ENHANCE_YOUR_CALM
            _, closed = a.frames(timeout=5)
            assert closed
        finally:
            a.close()
    during(sluice, attack)


def test_streams_beyond_the_limit_are_refused(sluice, unique):
    """More than MAX_CONCURRENT_STREAMS (100) held open: the excess is refused, and a
    client that keeps pushing is sent away."""
    name = f"h2-none-{unique}"
    hdrs, _ = kinesis(sluice, "PutRecord", {"StreamName": name, "Data": "eA==",
                                             "PartitionKey": "p"})
    hdrs = [(k, v) for k, v in hdrs if k != "content-length"] + [("content-length", "100")]

    def attack():
        a = RawH2(sluice)
        try:
            out = b""
            for i in range(400):
                out += a.headers(1 + 2 * i, hdrs, end_stream=False)  # bodies never come
            try:
                a.send(out)
            except OSError:
                pass
            frames, closed = a.frames(timeout=10, until=lambda f: isinstance(f, GoAwayFrame))
            refused = [f for f in frames
                       if isinstance(f, RstStreamFrame) and f.error_code == REFUSED_STREAM]
            goaway = [f for f in frames if isinstance(f, GoAwayFrame)]
            assert refused or goaway, frames[:5]
            assert goaway, "a client that keeps opening streams past the limit is sent away"
            settings = [f for f in frames if isinstance(f, SettingsFrame) and f.settings]
            assert settings[0].settings[SettingsFrame.MAX_CONCURRENT_STREAMS] == 100
        finally:
            a.close()
    during(sluice, attack)


def test_settings_and_ping_floods_are_cut_off(sluice):
    def flood(frame_bytes):
        def attack():
            a = RawH2(sluice)
            try:
                try:
                    for _ in range(20):
                        a.send(frame_bytes * 500)  # never reads the acks
                except OSError:
                    pass
                frames, closed = a.frames(timeout=10)
                assert closed or any(isinstance(f, GoAwayFrame) for f in frames)
            finally:
                a.close()
        return attack
    during(sluice, flood(SettingsFrame(0, settings={SettingsFrame.ENABLE_PUSH: 0}).serialize()))
    during(sluice, flood(PingFrame(0, opaque_data=b"12345678").serialize()))


def test_oversized_header_list_answered_431(sluice):
    c = H2Client(sluice)
    try:
        hdrs = unsigned_get(sluice) + [(f"x-pad-{i}", "a" * 4000) for i in range(30)]
        r = c.request(hdrs)
        assert r["status"] == 431
        assert r["headers"]["x-amzn-requestid"]
        assert get_caller_identity_h2(sluice) == 200
    finally:
        c.close()


def test_continuation_flood_is_cut_off(sluice):
    def attack():
        a = RawH2(sluice)
        try:
            block = a.enc.encode(unsigned_get(sluice))
            out = HeadersFrame(1, block).serialize()
            for _ in range(2000):
                out += ContinuationFrame(1, b"").serialize()  # END_HEADERS never comes
            try:
                a.send(out)
            except OSError:
                pass
            frames, closed = a.frames(timeout=10)
            assert closed or any(isinstance(f, GoAwayFrame) for f in frames)
            assert not any(isinstance(f, HeadersFrame) for f in frames)
        finally:
            a.close()
    during(sluice, attack)


def test_empty_data_flood_is_cut_off(sluice, unique):
    hdrs, _ = kinesis(sluice, "ListStreams", {})
    hdrs = [(k, v) for k, v in hdrs if k != "content-length"]

    def attack():
        a = RawH2(sluice)
        try:
            out = a.headers(1, hdrs, end_stream=False)
            out += DataFrame(1, b"").serialize() * 5000
            try:
                a.send(out)
            except OSError:
                pass
            frames, closed = a.frames(timeout=10, until=lambda f: isinstance(f, GoAwayFrame))
            goaway = [f for f in frames if isinstance(f, GoAwayFrame)]
            assert goaway and goaway[0].error_code == ENHANCE_YOUR_CALM
        finally:
            a.close()
    during(sluice, attack)


def test_silent_h2_connection_is_dropped_after_the_header_timeout(fresh_sluice):
    server = fresh_sluice
    server.extra_args = ["--header-timeout", "1"]
    server.start()
    a = RawH2(server)
    try:
        t0 = time.time()
        _, closed = a.frames(timeout=6)
        assert closed and time.time() - t0 < 5
    finally:
        a.close()
    legit_ok(server)


def test_expect_100_continue_answered_after_the_gate(sluice, unique):
    bucket = f"h2x-{unique}"
    sluice.client("s3").create_bucket(Bucket=bucket)
    a = RawH2(sluice)
    try:
        hdrs = signed(sluice, "PUT", f"/{bucket}/k", "s3", b"abc") + [("expect", "100-continue")]
        a.send(a.headers(1, hdrs, end_stream=False))
        frames, _ = a.frames(timeout=5, until=lambda f: isinstance(f, HeadersFrame))
        dec = hpack.Decoder()
        first = [f for f in frames if isinstance(f, HeadersFrame)][0]
        assert dict(dec.decode(first.data))[":status"] == "100"
        body = DataFrame(1, b"abc")
        body.flags.add("END_STREAM")
        a.send(body.serialize())
        frames, _ = a.frames(timeout=5, until=lambda f: isinstance(f, HeadersFrame))
        final = [f for f in frames if isinstance(f, HeadersFrame)][0]
        assert dict(dec.decode(final.data))[":status"] == "200"
    finally:
        a.close()
    got = sluice.client("s3").get_object(Bucket=bucket, Key="k")["Body"].read()
    assert got == b"abc"


def test_server_stops_cleanly_with_http2_connections_open(fresh_sluice):
    server = fresh_sluice.start()
    c = H2Client(server)
    assert c.request(signed(server, "GET", "/", "s3"))["status"] == 200
    a = RawH2(server)  # a second one that never sends a request
    a.frames(timeout=5, until=lambda f: isinstance(f, SettingsFrame))  # it is served
    t0 = time.time()
    assert server.stop(timeout=20) == 0
    assert time.time() - t0 < 10
    frames, closed = a.frames(timeout=5)
    assert closed
    assert any(isinstance(f, GoAwayFrame) and f.error_code == 0 for f in frames)
    a.close()
    c.sock.close()


# ---- the h2c upgrade -------------------------------------------------------------------

def upgrade(server, fields, body=b""):
    """Sends an HTTP/1.1 request offering h2c; returns (sock, h2 connection, status line,
    bytes received after the head)."""
    cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
    conn = h2.connection.H2Connection(config=cfg)
    settings = conn.initiate_upgrade_connection().decode()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    lines = [f"{fields[':method']} {fields[':path']} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in fields.items() if not k.startswith(":")]
    lines += ["Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c",
              f"HTTP2-Settings: {settings}"]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return sock, conn, head.split(b"\r\n")[0], rest


def test_h2c_upgrade_answers_on_stream_1_and_goes_on_in_http2(sluice, unique):
    bucket = f"h2u-{unique}"
    s3 = sluice.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"upgraded")
    fields = dict(signed(sluice, "GET", f"/{bucket}/k", "s3"))
    fields["host"] = fields.pop(":authority")
    fields.pop(":scheme")
    sock, conn, status, rest = upgrade(sluice, fields)
    try:
        assert status == b"HTTP/1.1 101 Switching Protocols"
        sock.sendall(conn.data_to_send())  # the client preface
        got = {"body": b"", "headers": {}}
        done = set()

        def pump(data):
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    got.setdefault("by_stream", {})[ev.stream_id] = dict(ev.headers)
                elif isinstance(ev, h2.events.DataReceived):
                    got["body"] += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    done.add(ev.stream_id)
            sock.sendall(conn.data_to_send())

        pump(rest)
        deadline = time.time() + 10
        while 1 not in done:
            assert time.time() < deadline
            pump(sock.recv(65536))
        assert got["by_stream"][1][":status"] == "200"
        assert got["by_stream"][1]["x-amzn-requestid"]
        assert got["body"] == b"upgraded"
        # the connection now speaks HTTP/2: a second request on stream 3
        conn.send_headers(3, signed(sluice, "GET", f"/{bucket}/k", "s3"), end_stream=True)
        sock.sendall(conn.data_to_send())
        got["body"] = b""
        while 3 not in done:
            assert time.time() < deadline
            pump(sock.recv(65536))
        assert got["by_stream"][3][":status"] == "200" and got["body"] == b"upgraded"
    finally:
        sock.close()


def test_h2c_upgrade_of_an_unsigned_request_is_refused_in_http2(sluice):
    fields = {":method": "GET", ":path": "/", "host": f"127.0.0.1:{sluice.port}"}
    sock, conn, status, rest = upgrade(sluice, fields)
    try:
        assert status == b"HTTP/1.1 101 Switching Protocols"
        sock.sendall(conn.data_to_send())
        events = conn.receive_data(rest)
        deadline = time.time() + 10
        while not any(isinstance(e, h2.events.StreamEnded) for e in events):
            assert time.time() < deadline
            events += conn.receive_data(sock.recv(65536))
        resp = [dict(e.headers) for e in events if isinstance(e, h2.events.ResponseReceived)]
        assert resp[0][":status"] == "403" and resp[0]["x-amzn-requestid"]
    finally:
        sock.close()


def test_h2c_offer_with_a_body_is_served_over_http1(sluice):
    fields = {":method": "POST", ":path": "/", "host": f"127.0.0.1:{sluice.port}",
              "Content-Type": "application/x-www-form-urlencoded",
              "Content-Length": str(len(STS_BODY))}
    sock, _, status, rest = upgrade(sluice, fields, STS_BODY)
    try:
        assert status.startswith(b"HTTP/1.1 4")  # unsigned: refused, in HTTP/1.1
    finally:
        sock.close()
    legit_ok(sluice)


# ---- a legitimate client is not mistaken for an attacker ---------------------------------

def test_many_window_updates_are_not_a_flood(sluice):
    """A fast reader sends WINDOW_UPDATE after WINDOW_UPDATE; that is no flood."""
    a = RawH2(sluice)
    try:
        a.send(b"".join(WindowUpdateFrame(0, window_increment=1).serialize()
                        for _ in range(3000)))
        a.send(a.headers(1, signed(sluice, "GET", "/", "s3")))
        frames, closed = a.frames(timeout=10, until=lambda f: isinstance(f, HeadersFrame))
        assert not closed
        assert not any(isinstance(f, GoAwayFrame) for f in frames)
        assert dict(hpack.Decoder().decode(frames[-1].data))[":status"] == "200"
    finally:
        a.close()


def test_sequential_requests_are_not_held_back(sluice):
    """Each answer leaves at once (TCP_NODELAY): without it Nagle's algorithm held a
    response's DATA until the client's delayed ACK, some 40 ms per request."""
    c = H2Client(sluice)
    try:
        hdrs = signed(sluice, "GET", "/", "s3")
        c.request(hdrs)
        t0 = time.time()
        for _ in range(30):
            assert c.request(hdrs)["status"] == 200
        assert time.time() - t0 < 0.9
    finally:
        c.close()


def test_idle_connection_gets_goaway_naming_the_last_stream(fresh_sluice):
    server = fresh_sluice
    server.extra_args = ["--idle-timeout", "3"]
    server.start()
    a = RawH2(server)
    try:
        a.send(a.headers(1, signed(server, "GET", "/", "s3")))
        t0 = time.time()
        frames, closed = a.frames(timeout=8, until=lambda f: isinstance(f, GoAwayFrame))
        goaway = [f for f in frames if isinstance(f, GoAwayFrame)]
        assert goaway, "an idle connection is sent away gracefully, not cut"
        assert goaway[0].error_code == 0 and goaway[0].last_stream_id == 1
        assert 1.5 < time.time() - t0 < 4
        _, closed = a.frames(timeout=5)
        assert closed
    finally:
        a.close()


# ---- body limits and rates -------------------------------------------------------------

def test_declared_oversized_body_refused_before_it_is_sent(sluice):
    hdrs, _ = kinesis(sluice, "PutRecord", {})
    hdrs = [(k, v) for k, v in hdrs if k != "content-length"]
    hdrs.append(("content-length", str(17 << 20)))
    a = RawH2(sluice)
    try:
        a.send(a.headers(1, hdrs, end_stream=False))
        frames, _ = a.frames(timeout=5, until=lambda f: isinstance(f, HeadersFrame))
        fields = dict(hpack.Decoder().decode(frames[-1].data))
        assert fields[":status"] == "413"
        assert fields["x-amzn-requestid"]
    finally:
        a.close()


def test_undeclared_body_refused_once_past_the_limit(sluice):
    """HTTP/2 needs no Content-Length: the limit is applied as the DATA arrives."""
    hdrs, _ = kinesis(sluice, "PutRecord", {})
    hdrs = [(k, v) for k, v in hdrs if k != "content-length"]
    c = H2Client(sluice)
    try:
        sid = c.conn.get_next_available_stream_id()
        c.conn.send_headers(sid, hdrs, end_stream=False)
        c.responses[sid] = {"status": None, "headers": {}, "body": b"", "done": False}
        sent = 0
        chunk = b"x" * 16384
        while c.responses[sid]["status"] is None and sent < (40 << 20):
            room = c.conn.local_flow_control_window(sid)
            if room < len(chunk):
                c.sock.sendall(c.conn.data_to_send())
                c._pump()
                continue
            c.conn.send_data(sid, chunk)
            sent += len(chunk)
        c.sock.sendall(c.conn.data_to_send())
        r = c.wait([sid], timeout=10)[0]
        assert r["status"] == 413
        assert sent < (24 << 20)  # refused soon after 16 MiB, not after the whole body
    finally:
        c.close()


def test_slow_body_over_h2_is_cut_at_the_minimum_rate(fresh_sluice):
    server = fresh_sluice
    server.extra_args = ["--header-timeout", "1", "--min-body-rate", "1024"]
    server.start()
    hdrs, _ = kinesis(server, "PutRecord", {})
    hdrs = [(k, v) for k, v in hdrs if k != "content-length"] + [("content-length", "100000")]
    a = RawH2(server)
    try:
        a.send(a.headers(1, hdrs, end_stream=False) + DataFrame(1, b"x" * 10).serialize())
        t0 = time.time()
        _, closed = a.frames(timeout=8)
        assert closed and time.time() - t0 < 5
    finally:
        a.close()
    legit_ok(server)


def test_stop_lets_a_download_under_way_finish(fresh_sluice):
    """SIGTERM while a response is being read: GOAWAY names the stream, and its body
    still arrives whole before the connection closes."""
    import signal
    server = fresh_sluice.start()
    bucket = "h2-stop"
    s3 = server.client("s3")
    s3.create_bucket(Bucket=bucket)
    data = bytes(range(256)) * (4 << 12)  # 4 MiB, far beyond the client's 64 KiB window
    s3.put_object(Bucket=bucket, Key="k", Body=data)
    a = RawH2(server)
    try:
        a.send(a.headers(1, signed(server, "GET", f"/{bucket}/k", "s3")))
        body, goaway, ended, signalled = b"", [], False, False
        deadline = time.time() + 15
        while not ended and time.time() < deadline:
            frames, closed = a.frames(timeout=2, until=lambda f: isinstance(f, DataFrame))
            for f in frames:
                if isinstance(f, GoAwayFrame):
                    goaway.append(f)
                elif isinstance(f, DataFrame) and f.stream_id == 1:
                    body += f.data
                    ended = "END_STREAM" in f.flags
                    if not signalled:  # a first window's worth is in: stop the server
                        server.proc.send_signal(signal.SIGTERM)
                        signalled = True
                        time.sleep(0.3)
                    if f.data:
                        try:
                            a.send(WindowUpdateFrame(0, window_increment=len(f.data)).serialize()
                                   + WindowUpdateFrame(1, window_increment=len(f.data)).serialize())
                        except OSError:
                            pass  # all sent: the server has closed, the rest is buffered
            if closed:
                break
        assert signalled and ended
        assert body == data
        frames, _ = a.frames(timeout=5)
        goaway += [f for f in frames if isinstance(f, GoAwayFrame)]
        assert goaway and goaway[0].error_code == 0 and goaway[0].last_stream_id == 1
    finally:
        a.close()
    assert server.proc.wait(timeout=15) == 0
    server.proc = None
    server.log.close()
