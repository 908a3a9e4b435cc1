#!/usr/bin/python3
"""A new client's latency while slowloris connections are held, against a fresh sluice
(SLUICE_BIN, default build/sluice) on a free 127.0.0.1 port.

For each configuration (the default connection limits, and room for all 2,000) it
prints, side by side, the p50/p99/max of a signed GetCallerIdentity on a new
connection with no attacker and with 2,000 slowloris connections attempted from
eight addresses (each dripping a byte a second), and how many the server kept.
The issue's target is p99 under 100 ms; this prints the figures, never judges them.

Usage: bench/slowloris_bench.py [--probes N] [--per-address N]
"""
import argparse
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from conftest import Sluice  # noqa: E402
from test_hostile import dripping, hold_connections, sts_probe  # noqa: E402


def probe_ms(server, n):
    out = []
    for _ in range(n):
        status, elapsed = sts_probe(server)
        if status != 200:
            raise SystemExit(f"probe answered {status}")
        out.append(elapsed * 1000)
    return sorted(out)


def figures(ms):
    return (f"p50 {statistics.median(ms):6.1f}  p99 {ms[int(len(ms) * 0.99) - 1]:6.1f}  "
            f"max {ms[-1]:6.1f} ms")


def run(label, args, probes, per_address):
    server = Sluice(extra_args=["--header-timeout", "60"] + args)
    server.start()
    try:
        quiet = probe_ms(server, probes)
        kept = hold_connections(server, [f"127.0.0.{i}" for i in range(2, 10)], per_address)
        try:
            with dripping(kept):
                loaded = probe_ms(server, probes)
        finally:
            for s in kept:
                s.close()
        print(f"{label:<28} no attacker   {figures(quiet)}")
        print(f"{'':<28} {len(kept):>4} held     {figures(loaded)}", flush=True)
    finally:
        server.stop(timeout=30)
        server.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--probes", type=int, default=200)
    ap.add_argument("--per-address", type=int, default=250)
    a = ap.parse_args()
    print(f"GetCallerIdentity on a new connection, {a.probes} probes; "
          f"{8 * a.per_address} slowloris connections attempted")
    run("default limits", [], a.probes, a.per_address)
    run("--max-connections 2100", ["--max-connections", "2100"], a.probes, a.per_address)


if __name__ == "__main__":
    main()
