#!/usr/bin/env bash
# What authorization costs PutRecords: the root key (never evaluated) against an IAM user
# whose inline policy allows kinesis:PutRecords on the stream (its policies evaluated on
# every call), in the same run on the same server and stream. The two alternate over
# BENCH_ROUNDS rounds, each first in every other round, so that drift (page cache, a
# busy machine) falls on both alike; prints records/s of each round side by side and the
# overhead of the sums, and the server's CPU time per 1000 records (utime + stime from
# /proc), which a busy machine disturbs far less than throughput. Never fails on the
# figures.
#
# Environment: BUILD (default build), BENCH_SECONDS (default 5 a run), BENCH_ROUNDS
# (default 3), BENCH_CONNECTIONS (default 4), BENCH_AUTHZ_PORT (default 4712),
# BENCH_AUTHZ_KMS (1: the stream encrypted with a customer key, which the user may use
# for kms:GenerateDataKey, so that its calls are also checked against the key).
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SECONDS_PER_RUN=${BENCH_SECONDS:-5}
ROUNDS=${BENCH_ROUNDS:-3}
CONNECTIONS=${BENCH_CONNECTIONS:-4}
PORT=${BENCH_AUTHZ_PORT:-4712}
BENCH=$BUILD/bench/kinesis_bench
STREAM=authz-bench
ACCESS_KEY=AKIDBENCHEXAMPLE
SECRET_KEY=benchSecretKeyEXAMPLEbenchSecretKeyEXAMPLE
REGION=us-east-1

if [ ! -x "$BENCH" ] || [ ! -x "$BUILD/sluice" ]; then
    echo "authz_bench.sh: run 'make all bench-bins' first" >&2
    exit 1
fi

WORK=$(mktemp -d /tmp/sluice-authz-bench.XXXXXX)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/data"
SLUICE_ROOT_ACCESS_KEY_ID=$ACCESS_KEY SLUICE_ROOT_SECRET_ACCESS_KEY=$SECRET_KEY \
    "$BUILD/sluice" serve --data "$WORK/data" --listen "127.0.0.1:$PORT" \
    --throughput-limits off >"$WORK/sluice.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done

ENDPOINT="http://127.0.0.1:$PORT"
root=(--endpoint "$ENDPOINT" --stream "$STREAM" --access-key "$ACCESS_KEY"
    --secret-key "$SECRET_KEY" --region "$REGION")
"$BENCH" "${root[@]}" --mode create --shards 4 >/dev/null

# The user and its key, made with the root key over the IAM API.
read -r USER_KEY USER_SECRET < <(ENDPOINT=$ENDPOINT AK=$ACCESS_KEY SK=$SECRET_KEY \
    REGION=$REGION STREAM=$STREAM KMS=${BENCH_AUTHZ_KMS:-0} python3 - <<'EOF'
import json, os, time
import boto3
def client(service):
    return boto3.client(service, endpoint_url=os.environ["ENDPOINT"],
                        region_name=os.environ["REGION"], aws_access_key_id=os.environ["AK"],
                        aws_secret_access_key=os.environ["SK"])
iam = client("iam")
iam.create_user(UserName="producer")
arn = f"arn:aws:kinesis:{os.environ['REGION']}:*:stream/{os.environ['STREAM']}"
statements = [{"Effect": "Allow", "Action": ["kinesis:PutRecord", "kinesis:PutRecords"],
               "Resource": arn},
              {"Effect": "Deny", "Action": "kinesis:DeleteStream", "Resource": "*"}]
if os.environ["KMS"] == "1":
    key = client("kms").create_key()["KeyMetadata"]["Arn"]
    kinesis = client("kinesis")
    kinesis.start_stream_encryption(StreamName=os.environ["STREAM"], EncryptionType="KMS",
                                    KeyId=key)
    while kinesis.describe_stream_summary(StreamName=os.environ["STREAM"])[
            "StreamDescriptionSummary"]["StreamStatus"] != "ACTIVE":
        time.sleep(0.1)
    statements.append({"Effect": "Allow", "Action": "kms:GenerateDataKey", "Resource": key})
iam.put_user_policy(UserName="producer", PolicyName="put", PolicyDocument=json.dumps({
    "Version": "2012-10-17", "Statement": statements}))
k = iam.create_access_key(UserName="producer")["AccessKey"]
print(k["AccessKeyId"], k["SecretAccessKey"])
EOF
)
user=(--endpoint "$ENDPOINT" --stream "$STREAM" --access-key "$USER_KEY"
    --secret-key "$USER_SECRET" --region "$REGION")

# server CPU ticks (utime + stime) so far
ticks() {
    awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat"
}

# "records/s cpu-ms-per-1000-records" of one put run
run() {
    local t0 t1 out recs
    t0=$(ticks)
    out=$("$@" --mode put --connections "$CONNECTIONS" --seconds "$SECONDS_PER_RUN" |
        awk '$1 == "RESULT" { for (i = 2; i <= NF; i++) { split($i, kv, "=");
             if (kv[1] == "records_per_s") r = kv[2]; if (kv[1] == "records") n = kv[2] }
             print r, n }')
    t1=$(ticks)
    recs=${out#* }
    awk -v r="${out% *}" -v n="$recs" -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" \
        'BEGIN { printf "%d %.3f\n", r, (n > 0 ? t * 1000 / hz * 1000 / n : 0) }'
}

run "$BENCH" "${root[@]}" >/dev/null # warm-up
printf '%-6s %12s %12s %9s   %14s %14s %9s\n' round "root rec/s" "policy rec/s" overhead \
    "root cpu ms/k" "policy cpu/k" overhead
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (a - b) * 100 / a }'; }
sum_root=0
sum_user=0
cpu_root=0
cpu_user=0
for r in $(seq 1 "$ROUNDS"); do
    # each goes first in every other round
    if [ $((r % 2)) = 1 ]; then
        read -r a ca < <(run "$BENCH" "${root[@]}")
        read -r b cb < <(run "$BENCH" "${user[@]}")
    else
        read -r b cb < <(run "$BENCH" "${user[@]}")
        read -r a ca < <(run "$BENCH" "${root[@]}")
    fi
    sum_root=$((sum_root + a))
    sum_user=$((sum_user + b))
    cpu_root=$(awk -v x="$cpu_root" -v y="$ca" 'BEGIN { print x + y }')
    cpu_user=$(awk -v x="$cpu_user" -v y="$cb" 'BEGIN { print x + y }')
    printf '%-6s %12s %12s %8s%%   %14s %14s %8s%%\n' "$r" "$a" "$b" "$(pct "$a" "$b")" \
        "$ca" "$cb" "$(pct "$cb" "$ca")"
done
printf '%-6s %12s %12s %8s%%   %14s %14s %8s%%\n' all "$sum_root" "$sum_user" \
    "$(pct "$sum_root" "$sum_user")" "$cpu_root" "$cpu_user" "$(pct "$cpu_user" "$cpu_root")"
echo "RESULT mode=authz root_records_per_s=$((sum_root / ROUNDS))" \
    "policy_records_per_s=$((sum_user / ROUNDS))" \
    "root_cpu_ms_per_1000=$(awk -v x="$cpu_root" -v n="$ROUNDS" 'BEGIN { printf "%.3f", x / n }')" \
    "policy_cpu_ms_per_1000=$(awk -v x="$cpu_user" -v n="$ROUNDS" 'BEGIN { printf "%.3f", x / n }')"
