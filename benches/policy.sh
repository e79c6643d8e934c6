#!/usr/bin/env bash
# What a bucket policy costs the S3 small-object path (issue 22: ≤ 5 % with a policy
# attached). One release-built server, one store, two buckets of the same KEYS keys: `plain`
# (no policy) and `pol` (a ~20 KB policy of 92 statements that every request is evaluated
# against: 90 Allow statements for `*` pinned by source-address conditions that never match
# loopback — each one's condition is checked —, a Deny on a prefix nobody writes, a public
# read of another prefix). Alternately in pairs (plain, pol, pol, plain, …):
#   gatehouse bench --bucket B --phases put-small,get-small (1 KiB, 64 in flight)
# Server CPU per op is utime+stime from /proc over each phase. Prints the rows, then min /
# median / max per side and the median ratio.
#
#   benches/policy.sh BIN     KEYS=10000 PAIRS=8 SIZE=1Ki PORT=19720 BENCH_DIR=/var/tmp/gh-policy
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:?gatehouse binary}")
dir=${BENCH_DIR:-/var/tmp/gh-policy}
keys=${KEYS:-10000}
pairs=${PAIRS:-8}
size=${SIZE:-1Ki}
port=${PORT:-19720}
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
cli() { "$bin" --server "http://127.0.0.1:$((port + 1))" --credentials "$creds" "$@"; }
cli bucket create pol >/dev/null
python3 - "$dir/policy.json" <<'EOF'
import json, sys
st = [{"Sid": f"Team{i}", "Effect": "Allow", "Principal": "*",
       "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"arn:aws:s3:::pol/team{i}/*",
       "Condition": {"IpAddress": {"aws:SourceIp": f"10.{i}.0.0/16"}}} for i in range(int(__import__("os").environ.get("TEAMS", "90")))]
st.append({"Sid": "Keep", "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
           "Resource": "arn:aws:s3:::pol/keep/*"})
st.append({"Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
           "Resource": "arn:aws:s3:::pol/pub/*"})
open(sys.argv[1], "w").write(json.dumps({"Version": "2012-10-17", "Statement": st}))
EOF
cli bucket policy pol set "$dir/policy.json" >/dev/null
echo "policy: $(stat -c %s "$dir/policy.json") bytes, 92 statements"
bench() { # bucket, seed
  "$bin" bench --endpoint "http://127.0.0.1:$port" --credentials "$creds" --pid "$pid" \
    --bucket "$1" --keep --seed "$2" --object-size "$size" --concurrency 64 \
    --objects "$keys" --phases put-small,get-small --duration 600 | grep '^| [a-z]' |
    grep -v '^| phase' | sed "s/^| /| $1 | /"
}
bench plain 1 >/dev/null
bench pol 1 >/dev/null
echo "| pair | bucket | phase | ops | seconds | ops/s | MB/s | p50 ms | p99 ms | server CPU ms/op | server peak RSS MiB |"
echo "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
: >"$dir/pairs"
for p in $(seq 1 "$pairs"); do
  if [ $((p % 2)) -eq 1 ]; then order="plain pol"; else order="pol plain"; fi
  for b in $order; do
    bench "$b" $((1000 + p)) | sed "s/^/| $p /" | tee -a "$dir/pairs"
  done
done
echo
echo "| phase | plain ops/s min / med / max | pol ops/s min / med / max | pol/plain (medians) | plain CPU ms/op min / med / max | pol CPU ms/op min / med / max | pol/plain CPU (medians) | pairs pol slower |"
echo "|---|---|---|---:|---|---|---:|---:|"
for phase in put-small get-small; do
  python3 - "$dir/pairs" "$phase" <<'EOF'
import statistics, sys
rows = [[c.strip() for c in l.split("|")[1:-1]] for l in open(sys.argv[1])]
phase = sys.argv[2]
def side(b, col):
    return [float(r[col]) for r in rows if r[1] == b and r[2].startswith(phase)]
f = lambda v, d: " / ".join(f"{x:.{d}f}" for x in (min(v), statistics.median(v), max(v)))
po, qo, pc, qc = side("plain", 5), side("pol", 5), side("plain", 9), side("pol", 9)
slower = sum(q < p for p, q in zip(po, qo))
print(f"| {phase} | {f(po, 0)} | {f(qo, 0)} | {statistics.median(qo) / statistics.median(po):.2f} "
      f"| {f(pc, 3)} | {f(qc, 3)} | {statistics.median(qc) / statistics.median(pc):.2f} | {slower} of {len(po)} |")
EOF
done
