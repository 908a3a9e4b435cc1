#!/usr/bin/env python3
"""Runs every suite and ends with one line: "N passed, N failed".

Suites, in order:
  unit        C unit tests (cmocka), plain build
  fuzz-replay each libFuzzer target over its corpus in fuzz/corpus/<name>/
  e2e         boto3 and AWS CLI tests against the plain server, Debian's clients
  e2e-new     the same with the newer clients (see below)
  unit-san    C unit tests under AddressSanitizer + UndefinedBehaviorSanitizer
  e2e-san     the end-to-end tests against the sanitized server, Debian's clients
  e2e-san-new the same with the newer clients
The two e2e suites of each build run at the same time (run_e2e_pair).
Each suite's own output goes to build/test-logs/<suite>.log; failures are printed.

Two generations of clients drive the end-to-end tests, each a Python with its boto3 and
the AWS CLI installed beside it (conftest.py reads the CLI from $SLUICE_E2E_AWS):
  debian  /usr/bin/python3 (boto3 1.26) and /usr/bin/aws (AWS CLI v2.9);
  new     the first python3 on PATH when it is another installation (here pyenv's, with
          boto3 1.43) and the aws installed beside it (AWS CLI v1.45). That Python has no
          pytest and no package index is reachable, so pytest runs from Debian's own
          pure-Python copy: a directory of links to just pytest and the packages it needs
          that this Python lacks goes on PYTHONPATH. Nothing else of Debian's (no boto3,
          no botocore) is put in its way. When no such Python exists, e2e-new is skipped.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOGS = os.path.join(ROOT, "build", "test-logs")
SAN = "address,undefined"
SAN_BUILD = "build-address-undefined"
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
SAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
    "LSAN_OPTIONS": f"suppressions={ROOT}/tests/lsan.supp:print_suppressions=0",
}

totals = {"passed": 0, "failed": 0}


def sh(cmd, log, env=None, timeout=1800):
    full_env = dict(os.environ)
    full_env.update(env or {})
    with open(log, "a") as f:
        f.write(f"$ {' '.join(cmd)}\n")
        f.flush()
        try:
            p = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, env=full_env,
                               timeout=timeout)
            return p.returncode
        except subprocess.TimeoutExpired:
            f.write("TIMEOUT\n")
            return -1


def tail(path, n=60):
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-n:])


def record(suite, passed, failed, log):
    totals["passed"] += passed
    totals["failed"] += failed
    print(f"{suite}: {passed} passed, {failed} failed", flush=True)
    if failed:
        print(f"--- {suite} log tail ({log}) ---\n{tail(log)}--- end ---", flush=True)


def build(target_args, log):
    jobs = str(os.cpu_count() or 2)
    return sh(["make", "-j", jobs] + target_args, log)


def run_unit(suite, build_dir, env=None):
    log = os.path.join(LOGS, f"{suite}.log")
    san = ["SANITIZER=" + SAN] if build_dir == SAN_BUILD else []
    if build(san + ["all", "unit-bins"], log) != 0:
        record(suite, 0, 1, log)
        return
    passed = failed = 0
    for binary in sorted(glob.glob(os.path.join(ROOT, build_dir, "tests", "test_*"))):
        before = os.path.getsize(log)
        rc = sh([binary], log, env=env, timeout=600)
        with open(log, errors="replace") as f:
            f.seek(before)
            out = f.read()
        ok = sum(int(m) for m in re.findall(r"\[  PASSED  \] (\d+) test", out))
        bad = sum(int(m) for m in re.findall(r"\[  FAILED  \] (\d+) test", out))
        if rc != 0 and bad == 0:
            bad = 1  # crashed, or a sanitizer stopped it
        passed += ok
        failed += bad
    record(suite, passed, failed, log)


def run_fuzz_replay():
    log = os.path.join(LOGS, "fuzz-replay.log")
    if build(["fuzz"], log) != 0:
        record("fuzz-replay", 0, 1, log)
        return
    passed = failed = 0
    for target in sorted(glob.glob(os.path.join(ROOT, "build-fuzz", "fuzz_*"))):
        if target.endswith(".o") or target.endswith(".d"):
            continue
        name = os.path.basename(target)[len("fuzz_"):]
        corpus = os.path.join(ROOT, "fuzz", "corpus", name)
        files = sorted(glob.glob(os.path.join(corpus, "*")))
        if not files:
            failed += 1
            with open(log, "a") as f:
                f.write(f"no corpus for {name}\n")
            continue
        rc = sh([target, "-runs=0"] + files, log, env=SAN_ENV, timeout=600)
        passed += rc == 0
        failed += rc != 0
    record("fuzz-replay", passed, failed, log)


# What pytest 7 needs to import, and the HTTP/2 client of test_http2.py (python3-h2);
# linked from Debian's copy when a Python lacks it.
PYTEST_MODULES = ["pytest", "_pytest", "pluggy", "iniconfig", "packaging", "py", "attr", "attrs",
                  "h2", "hpack", "hyperframe"]


def probe(python, code):
    """stdout of python -c code, or None when it fails."""
    try:
        p = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return p.stdout.strip() if p.returncode == 0 else None


def debian_clients():
    return {"python": PYTHON, "env": {"SLUICE_E2E_AWS": "/usr/bin/aws"}}


def newer_clients():
    """The newer generation (see the docstring), or None when this machine has none."""
    found = shutil.which("python3")
    if found is None:
        return None
    python = probe(found, "import sys; print(sys.executable)")  # through pyenv's shim
    if python is None or os.path.realpath(python) == os.path.realpath(PYTHON):
        return None
    if probe(python, "import boto3") is None:
        return None
    aws = os.path.join(os.path.dirname(python), "aws")
    if not os.access(aws, os.X_OK):
        return None
    env = {"SLUICE_E2E_AWS": aws}
    missing = probe(python, "import importlib.util as u; print(' '.join(m for m in %r "
                            "if u.find_spec(m) is None))" % (PYTEST_MODULES,))
    if missing is None:
        return None
    if missing:
        paths = probe(PYTHON, "import importlib, os\n"
                              "for m in %r:\n"
                              "    f = importlib.import_module(m).__file__\n"
                              "    print(os.path.dirname(f) if f.endswith('__init__.py') else f)"
                      % (missing.split(),))
        if paths is None:
            return None
        links = os.path.join(ROOT, "build", "e2e-pytest")
        shutil.rmtree(links, ignore_errors=True)
        os.makedirs(links)
        for path in paths.splitlines():
            os.symlink(path, os.path.join(links, os.path.basename(path)))
        env["PYTHONPATH"] = links
    return {"python": python, "env": env}


def run_e2e(suite, binary, clients, env=None):
    """Runs one e2e suite; returns what record() takes, or None when it is skipped."""
    log = os.path.join(LOGS, f"{suite}.log")
    if clients is None:
        print(f"{suite}: skipped (no newer python3 with boto3 and aws on PATH)", flush=True)
        return None
    if not os.path.exists(os.path.join(ROOT, binary)):
        return (suite, 0, 1, log)
    junit = os.path.join(LOGS, f"{suite}.xml")
    e = {"SLUICE_BIN": os.path.join(ROOT, binary),
         # The two suites run side by side listen in ports of their own (conftest.py).
         "SLUICE_E2E_PORTS": "21000-31999" if suite.endswith("-new") else "10000-20999"}
    e.update(clients["env"])
    e.update(env or {})
    rc = sh([clients["python"], "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml",
             junit, "tests/e2e"], log, env=e, timeout=2400)
    passed = failed = 0
    try:
        for case in ET.parse(junit).getroot().iter("testcase"):
            kinds = {child.tag for child in case}
            if "skipped" in kinds:
                continue
            if kinds & {"failure", "error"}:
                failed += 1
            else:
                passed += 1
    except (OSError, ET.ParseError):
        failed += 1
    if rc not in (0, 1) and failed == 0:
        failed = 1  # pytest itself broke
    return (suite, passed, failed, log)


def run_e2e_pair(first, second):
    """Runs two e2e suites (argument tuples of run_e2e) at once and records them in order.
    Much of an end-to-end test is waiting (fsync, polling, timeouts), so two at a time on
    two cores take little longer than one; every server binds its own free port."""
    results = [None, None]

    def run(i, args):
        results[i] = run_e2e(*args)

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate((first, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        if r is not None:
            record(*r)


def main():
    os.makedirs(LOGS, exist_ok=True)
    for old in glob.glob(os.path.join(LOGS, "*")):
        os.remove(old)
    start = time.time()
    run_unit("unit", "build")
    run_fuzz_replay()
    debian, newer = debian_clients(), newer_clients()
    run_e2e_pair(("e2e", "build/sluice", debian), ("e2e-new", "build/sluice", newer))
    run_unit("unit-san", SAN_BUILD, env=SAN_ENV)
    run_e2e_pair(("e2e-san", f"{SAN_BUILD}/sluice", debian, SAN_ENV),
                 ("e2e-san-new", f"{SAN_BUILD}/sluice", newer, SAN_ENV))
    print(f"all suites took {time.time() - start:.0f} s")
    print(f"{totals['passed']} passed, {totals['failed']} failed")
    return 0 if totals["failed"] == 0 and totals["passed"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
