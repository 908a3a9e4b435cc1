"""The lifecycle test clock for the S3 end-to-end tests: a server started with
--test-clock, and POST /_sluice/clock/advance?seconds=N, which moves the clock and runs a
lifecycle sweep before answering what it did."""
import contextlib
import json
import urllib.request

from conftest import Sluice

SLUICE_EXTRA_ARGS = ["--test-clock"]
DAY = 86400


@contextlib.contextmanager
def clocked_server():
    """A server with the test clock; it must stop cleanly when the tests are done."""
    s = Sluice(extra_args=SLUICE_EXTRA_ARGS).start()
    yield s
    code = s.stop()
    log = s.read_log()
    s.cleanup()
    assert code == 0, f"server exited {code}:\n{log}"


def advance(server, seconds):
    req = urllib.request.Request(f"{server.endpoint}/_sluice/clock/advance?seconds={seconds}",
                                 method="POST")
    with urllib.request.urlopen(req, timeout=120) as resp:
        body = json.loads(resp.read())
    assert body["result"] == "ok", body
    return body
