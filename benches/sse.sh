#!/usr/bin/env bash
# What SSE-S3 costs (issue 23: encrypted PUT and GET of 1 GiB at ≥ 80 % of the plaintext
# throughput, small encrypted PUT ≤ +20 % server CPU). One release-built server, two buckets:
# `plain` and `enc` (default encryption AES256, set with the aws CLI: every write sealed).
# Alternately in pairs (plain, enc, enc, plain, …):
#   gatehouse bench --bucket B --phases put-small,get-small,mpu-put,get-large
#   (KEYS small objects of SIZE, 64 in flight; one LARGE object in 16 MiB parts, 8 in flight,
#   then read whole)
# Server CPU per op is utime+stime from /proc over each phase. Prints the rows, then min /
# median / max per side and the median ratio per phase.
#
# MODE=kms: `enc`'s default is SSE-KMS under a key made with `gatehouse key create` (decision
# 0046) instead of SSE-S3.
#
#   benches/sse.sh BIN     KEYS=20000 PAIRS=6 SIZE=4Ki LARGE=1Gi PORT=19740 BENCH_DIR=/var/tmp/gh-sse AWS=aws MODE=s3
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:?gatehouse binary}")
dir=${BENCH_DIR:-/var/tmp/gh-sse}
keys=${KEYS:-20000}
pairs=${PAIRS:-6}
size=${SIZE:-4Ki}
large=${LARGE:-1Gi}
port=${PORT:-19740}
aws=${AWS:-aws}
rm -rf "$dir" && mkdir -p "$dir"
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null || true' EXIT
printf 's3:\n  max_size: 1Ti\nlog:\n  level: warn\n' >"$dir/c.yaml"
"$bin" serve --config "$dir/c.yaml" --data-dir "$dir/d" --s3-listen "127.0.0.1:$port" \
  --admin-listen "127.0.0.1:$((port + 1))" --nfs-listen off >>"$dir/log" 2>&1 &
pid=$!
until (exec 9<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.05; done
creds=$dir/d/admin.credentials
until grep -q aws_secret_access_key "$creds" 2>/dev/null; do sleep 0.05; done
s3api() {
  AWS_SHARED_CREDENTIALS_FILE=$creds AWS_CONFIG_FILE=/dev/null AWS_DEFAULT_REGION=us-east-1 \
    "$aws" --endpoint-url "http://127.0.0.1:$port" s3api "$@"
}
s3api create-bucket --bucket plain >/dev/null
s3api create-bucket --bucket enc >/dev/null
if [ "${MODE:-s3}" = kms ]; then
  "$bin" --server "http://127.0.0.1:$((port + 1))" --credentials "$creds" key create --alias bench >/dev/null
  s3api put-bucket-encryption --bucket enc --server-side-encryption-configuration \
    '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"aws:kms","KMSMasterKeyID":"alias/bench"}}]}'
else
  s3api put-bucket-encryption --bucket enc --server-side-encryption-configuration \
    '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'
fi
phases=${PHASES:-put-small,get-small,mpu-put,get-large}
bench() { # bucket, seed
  "$bin" bench --endpoint "http://127.0.0.1:$port" --credentials "$creds" --pid "$pid" \
    --bucket "$1" --keep --seed "$2" --object-size "$size" --concurrency 64 \
    --objects "$keys" --large-size "$large" --phases "$phases" --duration 600 |
    grep '^| [a-z]' | grep -v '^| phase' | sed "s/^| /| $1 | /"
}
echo "| pair | bucket | phase | ops | seconds | ops/s | MB/s | p50 ms | p99 ms | server CPU ms/op | server peak RSS MiB |"
echo "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
: >"$dir/pairs"
for p in $(seq 1 "$pairs"); do
  if [ $((p % 2)) -eq 1 ]; then order="plain enc"; else order="enc plain"; fi
  for b in $order; do
    bench "$b" $((1000 + p)) | sed "s/^/| $p /" | tee -a "$dir/pairs"
  done
done
echo
echo "| phase | plain ops/s min / med / max | enc ops/s min / med / max | enc/plain (medians) | plain MB/s med | enc MB/s med | plain CPU ms/op min / med / max | enc CPU ms/op min / med / max | enc/plain CPU (medians) |"
echo "|---|---|---|---:|---:|---:|---|---|---:|"
for phase in ${phases//,/ }; do
  python3 - "$dir/pairs" "$phase" <<'PY'
import statistics, sys
rows = [[c.strip() for c in l.split("|")[1:-1]] for l in open(sys.argv[1])]
phase = sys.argv[2]
def side(b, col):
    return [float(r[col]) for r in rows if r[1] == b and r[2].startswith(phase)]
f = lambda v, d: " / ".join(f"{x:.{d}f}" for x in (min(v), statistics.median(v), max(v)))
po, qo, pc, qc = side("plain", 5), side("enc", 5), side("plain", 9), side("enc", 9)
pm, qm = side("plain", 6), side("enc", 6)
if not po:
    sys.exit()
print(f"| {phase} | {f(po, 1)} | {f(qo, 1)} | {statistics.median(qo) / statistics.median(po):.2f} "
      f"| {statistics.median(pm):.1f} | {statistics.median(qm):.1f} "
      f"| {f(pc, 3)} | {f(qc, 3)} | {statistics.median(qc) / statistics.median(pc):.2f} |")
PY
done
