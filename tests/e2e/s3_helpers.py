"""Helpers for the S3 end-to-end tests: a small SigV4 signer for hand-built requests
(aws-chunked bodies, virtual-hosted addressing, bad payload hashes) that boto3 cannot
be made to send."""
import datetime
import hashlib
import hmac
import http.client
import urllib.parse

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _hmac(key, msg):
    return hmac.new(key, msg.encode() if isinstance(msg, str) else msg, hashlib.sha256).digest()


def signing_key(secret, date, region, service="s3"):
    k = _hmac(("AWS4" + secret).encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def _canonical_query(query):
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    enc = sorted((urllib.parse.quote(k, safe="-_.~"), urllib.parse.quote(v, safe="-_.~"))
                 for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in enc)


class SignedRequest:
    """Signs one request; .headers then carries Authorization, x-amz-date and the
    payload hash; .seed is the signature (the seed of aws-chunked chains)."""

    def __init__(self, server, method, path, query="", headers=None, payload_hash=None,
                 body=b"", host=None, secret=None):
        self.server = server
        self.method = method
        self.path = path
        self.query = query
        self.host = host or server.endpoint.split("//", 1)[1]
        now = datetime.datetime.now(datetime.timezone.utc)
        self.amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        self.date = now.strftime("%Y%m%d")
        self.scope = f"{self.date}/{server.region}/s3/aws4_request"
        self.key = signing_key(secret or server.secret_key, self.date, server.region)
        if payload_hash is None:
            payload_hash = hashlib.sha256(body).hexdigest()
        h = {"host": self.host, "x-amz-date": self.amz_date,
             "x-amz-content-sha256": payload_hash}
        for k, v in (headers or {}).items():
            h[k.lower()] = str(v)
        names = sorted(h)
        canonical = "\n".join([
            method, path, _canonical_query(query),
            "".join(f"{n}:{h[n].strip()}\n" for n in names),
            ";".join(names), payload_hash])
        sts = "\n".join(["AWS4-HMAC-SHA256", self.amz_date, self.scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
        self.seed = hmac.new(self.key, sts.encode(), hashlib.sha256).hexdigest()
        h["authorization"] = (f"AWS4-HMAC-SHA256 Credential={server.access_key}/{self.scope}, "
                              f"SignedHeaders={';'.join(names)}, Signature={self.seed}")
        self.headers = h

    def chunk_signature(self, prev, data):
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", self.amz_date, self.scope, prev,
                         EMPTY_SHA256, hashlib.sha256(data).hexdigest()])
        return hmac.new(self.key, sts.encode(), hashlib.sha256).hexdigest()

    def trailer_signature(self, prev, trailer_bytes):
        sts = "\n".join(["AWS4-HMAC-SHA256-TRAILER", self.amz_date, self.scope, prev,
                         hashlib.sha256(trailer_bytes).hexdigest()])
        return hmac.new(self.key, sts.encode(), hashlib.sha256).hexdigest()

    def send(self, body=b""):
        hostport = self.server.endpoint.split("//", 1)[1]
        conn = http.client.HTTPConnection(hostport, timeout=60)
        url = self.path + (("?" + self.query) if self.query else "")
        headers = dict(self.headers)
        headers["content-length"] = str(len(body))
        conn.putrequest(self.method, url, skip_host=True, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders()
        if body:
            conn.send(body)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, dict((k.lower(), v) for k, v in resp.getheaders()), data


def signed_chunked_body(req, payload, chunk_size, trailers=None, corrupt_chunk=None):
    """aws-chunked with chunk signatures (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER])."""
    out = bytearray()
    prev = req.seed
    chunks = [payload[i:i + chunk_size] for i in range(0, len(payload), chunk_size)] + [b""]
    for idx, chunk in enumerate(chunks):
        sig = req.chunk_signature(prev, chunk)
        prev = sig
        if corrupt_chunk == idx:
            sig = "0" * 64
        out += f"{len(chunk):x};chunk-signature={sig}\r\n".encode() + chunk + b"\r\n"
    if trailers is None:
        return bytes(out)
    out = out[:-2]  # the final chunk's CRLF is followed by the trailers instead
    tb = b"".join(f"{k}:{v}\n".encode() for k, v in trailers)
    for k, v in trailers:
        out += f"{k}:{v}\r\n".encode()
    out += f"x-amz-trailer-signature:{req.trailer_signature(prev, tb)}\r\n\r\n".encode()
    return bytes(out)


def unsigned_chunked_body(payload, chunk_size, trailers):
    """aws-chunked without signatures, with trailers (STREAMING-UNSIGNED-PAYLOAD-TRAILER)."""
    out = bytearray()
    for i in range(0, len(payload), chunk_size):
        chunk = payload[i:i + chunk_size]
        out += f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    out += b"0\r\n"
    for k, v in trailers:
        out += f"{k}:{v}\r\n".encode()
    out += b"\r\n"
    return bytes(out)


def presign(server, method, path, expires_s, when=None):
    """A SigV4 presigned URL signed at `when` (default now)."""
    now = when or datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = now.strftime("%Y%m%d")
    scope = f"{date}/{server.region}/s3/aws4_request"
    host = server.endpoint.split("//", 1)[1]
    params = {"X-Amz-Algorithm": "AWS4-HMAC-SHA256",
              "X-Amz-Credential": f"{server.access_key}/{scope}",
              "X-Amz-Date": amz_date, "X-Amz-Expires": str(expires_s),
              "X-Amz-SignedHeaders": "host"}
    query = "&".join(f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
                     for k, v in sorted(params.items()))
    canonical = "\n".join([method, path, query, f"host:{host}\n", "host", "UNSIGNED-PAYLOAD"])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(canonical.encode()).hexdigest()])
    key = signing_key(server.secret_key, date, server.region)
    sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    return f"{server.endpoint}{path}?{query}&X-Amz-Signature={sig}"
