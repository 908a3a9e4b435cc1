#!/usr/bin/env bash
# Kinesis benchmark: sluice against kinesalite, side by side.
#
# For each server: start it on 127.0.0.1, create a 4-shard stream, then with
# build/bench/kinesis_bench run PutRecords (500 x 1 KiB records a batch) on 1 and on 8
# connections, drain everything with GetRecords, and PutRecords at a fixed rate of half
# the 8-connection peak (the latency a producer sees below saturation). The server's
# peak RSS (VmHWM) is read before it is stopped. Prints figures; never fails on them.
# A put-churn run repeats the 1-connection put while another connection creates and
# deletes streams back to back: control-plane work must not stall the record path.
# sluice runs with --throughput-limits off: these figures measure the server, which AWS's
# per-shard limits (1 MiB/s a shard) would cap at 4 MiB/s on the 4-shard stream.
#
# Environment: BUILD (default build), BENCH_SECONDS (default 10 per run),
# BENCH_CHURN_ONLY=1 (only the 1-connection put and the put-churn run),
# BENCH_SLUICE_PORT / BENCH_KINESALITE_PORT (default 4710 / 4711), SKIP_KINESALITE=1,
# SKIP_SLUICE=1. kinesalite is installed by bench/install-kinesalite.sh (npm) when missing.
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
SLUICE_PORT=${BENCH_SLUICE_PORT:-4710}
KINESALITE_PORT=${BENCH_KINESALITE_PORT:-4711}
BENCH=$BUILD/bench/kinesis_bench
STREAM=bench-stream
ACCESS_KEY=AKIDBENCHEXAMPLE
SECRET_KEY=benchSecretKeyEXAMPLEbenchSecretKeyEXAMPLE
REGION=us-east-1

if [ ! -x "$BENCH" ]; then
    echo "run.sh: $BENCH is missing; run 'make bench-bins' first" >&2
    exit 1
fi

WORK=$(mktemp -d /tmp/sluice-bench.XXXXXX)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Waits until something accepts connections on 127.0.0.1:$1 (at most 30 s).
wait_port() {
    for _ in $(seq 1 300); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            return 1
        fi
        sleep 0.1
    done
    return 1
}

# field FILE MODE KEY: the value of KEY in the RESULT line of MODE in FILE ("-" if none).
field() {
    awk -v mode="$2" -v key="$3" '
        $1 == "RESULT" {
            m = ""; v = "";
            for (i = 2; i <= NF; i++) {
                split($i, kv, "=");
                if (kv[1] == "mode") m = kv[2];
                if (kv[1] == key) v = kv[2];
            }
            if (m == mode && v != "") { found = v }
        }
        END { print (found == "" ? "-" : found) }' "$1"
}

# bench_server NAME PORT: runs every benchmark against the server on PORT, results in
# $WORK/NAME.out, its peak RSS in $WORK/NAME.rss.
bench_server() {
    local name=$1 port=$2 out=$WORK/$1.out
    local common=(--endpoint "http://127.0.0.1:$port" --stream "$STREAM"
        --access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" --region "$REGION")
    : >"$out"
    echo "== $name on 127.0.0.1:$port (pid $SERVER_PID)"
    if ! "$BENCH" "${common[@]}" --mode create --shards 4 >>"$out"; then
        echo "run.sh: cannot create the stream on $name" >&2
        return 1
    fi
    # the 1-connection run is also the warm-up; the 8-connection run sets the peak
    "$BENCH" "${common[@]}" --mode put --connections 1 --seconds "$SECONDS_PER_RUN" |
        sed 's/^RESULT mode=put /RESULT mode=put1 /' | tee -a "$out" || true
    "$BENCH" "${common[@]}" --mode put-churn --connections 1 --seconds "$SECONDS_PER_RUN" |
        tee -a "$out" || true
    if [ "${BENCH_CHURN_ONLY:-0}" != 1 ]; then
        "$BENCH" "${common[@]}" --mode put --connections 8 --seconds "$SECONDS_PER_RUN" |
            sed 's/^RESULT mode=put /RESULT mode=put8 /' | tee -a "$out" || true
        "$BENCH" "${common[@]}" --mode drain --connections 4 --seconds 300 | tee -a "$out" ||
            true
    fi
    local peak rate
    peak=$(field "$out" put8 records_per_s)
    if [ "$peak" != "-" ] && [ "$peak" -gt 0 ]; then
        rate=$((peak / 2))
        "$BENCH" "${common[@]}" --mode put-rate --rate "$rate" --connections 8 \
            --seconds "$SECONDS_PER_RUN" | tee -a "$out" || true
    fi
    local hwm
    hwm=$(awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$SERVER_PID/status" \
        2>/dev/null || true)
    echo "${hwm:--}" >"$WORK/$name.rss"
    echo "   peak RSS ${hwm:--} MiB"
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}

NAMES=()
if [ "${SKIP_SLUICE:-0}" != 1 ]; then
    if [ ! -x "$BUILD/sluice" ]; then
        echo "run.sh: $BUILD/sluice is missing; run 'make' first" >&2
        exit 1
    fi
    mkdir -p "$WORK/sluice-data"
    SLUICE_ROOT_ACCESS_KEY_ID=$ACCESS_KEY SLUICE_ROOT_SECRET_ACCESS_KEY=$SECRET_KEY \
        "$BUILD/sluice" serve --data "$WORK/sluice-data" --listen "127.0.0.1:$SLUICE_PORT" \
        --throughput-limits off \
        >"$WORK/sluice.log" 2>&1 &
    SERVER_PID=$!
    if wait_port "$SLUICE_PORT" && bench_server sluice "$SLUICE_PORT"; then
        NAMES+=(sluice)
    else
        echo "run.sh: sluice did not start or failed:" >&2
        tail -20 "$WORK/sluice.log" >&2
    fi
    stop_server
fi

if [ "${SKIP_KINESALITE:-0}" != 1 ]; then
    ./bench/install-kinesalite.sh
    # kinesalite's cli.js listens on every interface; its module API takes the host, so
    # it is started through that to stay on 127.0.0.1. In memory (no --path), streams
    # ACTIVE at once.
    node -e "
        require('./third_party/node_modules/kinesalite')({
            createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100,
        }).listen($KINESALITE_PORT, '127.0.0.1')" >"$WORK/kinesalite.log" 2>&1 &
    SERVER_PID=$!
    if wait_port "$KINESALITE_PORT" && bench_server kinesalite "$KINESALITE_PORT"; then
        NAMES+=(kinesalite)
    else
        echo "run.sh: kinesalite did not start or failed:" >&2
        tail -20 "$WORK/kinesalite.log" >&2
    fi
    stop_server
fi

if [ ${#NAMES[@]} -eq 0 ]; then
    exit 1
fi

# The side-by-side table.
row() { # label mode key
    printf "%-34s" "$1"
    for n in "${NAMES[@]}"; do
        printf "%14s" "$(field "$WORK/$n.out" "$2" "$3")"
    done
    printf "\n"
}
echo
echo "Kinesis benchmark: 4 shards, PutRecords of 500 x 1024-byte records, ${SECONDS_PER_RUN} s runs"
printf "%-34s" ""
for n in "${NAMES[@]}"; do printf "%14s" "$n"; done
printf "\n"
row "put, 1 connection: records/s" put1 records_per_s
row "put, 1 connection: MB/s" put1 mb_per_s
row "put, 1 connection: p50 ms" put1 p50_ms
row "put, 1 connection: p99 ms" put1 p99_ms
row "put while streams churn: records/s" put-churn records_per_s
row "put while streams churn: p99 ms" put-churn p99_ms
row "  create/delete pairs meanwhile" put-churn churn_pairs
row "put, 8 connections: records/s" put8 records_per_s
row "put, 8 connections: MB/s" put8 mb_per_s
row "put, 8 connections: p50 ms" put8 p50_ms
row "put, 8 connections: p99 ms" put8 p99_ms
row "put at half peak: records/s" put-rate records_per_s
row "put at half peak: p50 ms" put-rate p50_ms
row "put at half peak: p99 ms" put-rate p99_ms
row "drain: records/s" drain records_per_s
row "drain: MB/s" drain mb_per_s
row "drain: records read" drain records
printf "%-34s" "errors (put1/put8/rate/drain)"
for n in "${NAMES[@]}"; do
    f=$WORK/$n.out
    e="$(field "$f" put1 errors)/$(field "$f" put8 errors)"
    printf "%14s" "$e/$(field "$f" put-rate errors)/$(field "$f" drain errors)"
done
printf "\n"
printf "%-34s" "failed records (put1/put8)"
for n in "${NAMES[@]}"; do
    f=$WORK/$n.out
    printf "%14s" "$(field "$f" put1 failed_records)/$(field "$f" put8 failed_records)"
done
printf "\n"
printf "%-34s" "server peak RSS (VmHWM), MiB"
for n in "${NAMES[@]}"; do printf "%14s" "$(cat "$WORK/$n.rss")"; done
printf "\n"
