#!/usr/bin/env bash
# S3 benchmark: sluice against s3rver (npm, the reference), side by side.
#
# Starts each server on 127.0.0.1 with an empty data directory, then build/bench/s3_bench
# runs PUT and GET of 4 KiB, 1 MiB and 64 MiB objects over 1 and 8 keep-alive
# connections (BENCH_SECONDS per phase) and fills a bucket with BENCH_LIST_KEYS keys
# (8 connections) before timing a full ListObjectsV2 walk. Prints MB/s, ops/s, p50 and
# p99 latency; never fails on the figures.
#
# Flushes: when strace is installed (and BENCH_FLUSHES is not 0) sluice runs under
# strace tracing only its fsync/fdatasync calls (seccomp-bpf: no other call stops), and
# PUT rows show the device flushes per PUT; each PUT row of s3rver is followed by the
# ratio of sluice's ops/s to s3rver's.
#
# Environment: BUILD (default build), BENCH_SECONDS (default 5), BENCH_LIST_KEYS
# (default 100000), BENCH_SIZES (default 4096,1048576,67108864),
# BENCH_SLUICE_PORT / BENCH_S3RVER_PORT (default 4741 / 4742), SKIP_S3RVER=1.
# s3rver is installed by bench/install-s3rver.sh when missing.
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SECONDS_PER_PHASE=${BENCH_SECONDS:-5}
LIST_KEYS=${BENCH_LIST_KEYS:-100000}
SIZES=${BENCH_SIZES:-4096,1048576,67108864}
SLUICE_PORT=${BENCH_SLUICE_PORT:-4741}
S3RVER_PORT=${BENCH_S3RVER_PORT:-4742}
BENCH=$BUILD/bench/s3_bench
SLUICE=${SLUICE_BIN:-$BUILD/sluice}
ACCESS_KEY=AKIDS3BENCHEXAMPLE
SECRET_KEY=s3BenchSecretKeyEXAMPLEs3BenchSecretKey

if [ ! -x "$BENCH" ]; then
    echo "s3_bench.sh: $BENCH is missing; run 'make bench-bins' first" >&2
    exit 1
fi

WORK=$(mktemp -d /tmp/sluice-s3-bench.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        # strace started with -o blocks SIGTERM: stop what it traces, and it exits.
        pkill -P "$pid" 2>/dev/null || true
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

wait_port() {
    for _ in $(seq 1 300); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

mkdir -p "$WORK/sluice" "$WORK/s3rver"
TRACE=()
if [ "${BENCH_FLUSHES:-1}" != 0 ] && command -v strace >/dev/null; then
    TRACE=(strace -f -qq --seccomp-bpf -e trace=fsync,fdatasync -o "$WORK/sluice.syncs")
fi
SLUICE_ROOT_ACCESS_KEY_ID=$ACCESS_KEY SLUICE_ROOT_SECRET_ACCESS_KEY=$SECRET_KEY \
    "${TRACE[@]}" "$SLUICE" serve --data "$WORK/sluice" --listen "127.0.0.1:$SLUICE_PORT" \
    >"$WORK/sluice.log" 2>&1 &
PIDS+=($!)
wait_port "$SLUICE_PORT" || { echo "sluice did not start" >&2; cat "$WORK/sluice.log" >&2; exit 1; }
TARGETS=(--target "sluice,127.0.0.1:$SLUICE_PORT,$ACCESS_KEY,$SECRET_KEY")
if [ ${#TRACE[@]} -gt 0 ]; then
    TARGETS+=(--flush-log "sluice=$WORK/sluice.syncs")
fi

if [ "${SKIP_S3RVER:-0}" != 1 ]; then
    ./bench/install-s3rver.sh
    # s3rver's continuation tokens use a cipher OpenSSL 3 only offers in its legacy provider.
    NODE_OPTIONS=--openssl-legacy-provider node third_party/node_modules/s3rver/bin/s3rver.js \
        --address 127.0.0.1 --port "$S3RVER_PORT" --directory "$WORK/s3rver" --silent \
        >"$WORK/s3rver.log" 2>&1 &
    PIDS+=($!)
    wait_port "$S3RVER_PORT" || { echo "s3rver did not start" >&2; exit 1; }
    TARGETS+=(--target "s3rver,127.0.0.1:$S3RVER_PORT,S3RVER,S3RVER")
fi

echo "S3 benchmark: $(nproc) CPUs, ${SECONDS_PER_PHASE}s per phase, $LIST_KEYS keys listed"
"$BENCH" --seconds "$SECONDS_PER_PHASE" --list-keys "$LIST_KEYS" --sizes "$SIZES" "${TARGETS[@]}"
