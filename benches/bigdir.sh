#!/usr/bin/env bash
# Big directories (issue 19): a share directory of N entries (default 1M, 16-byte files, put
# through S3 by `gatehouse bench`), listed over S3 (ListObjectsV2 with delimiter `/`, every
# page, by the aws CLI) and over NFS (READDIRPLUS paging by cookie, `cargo bench --bench nfs
# --phases list-dir`); then a directory of M entries (default 100k) created over NFS and
# renamed with one RENAME (`--phases rename`). Wall time and the server's CPU for each.
#
#   benches/bigdir.sh BIN [N] [M]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:?gatehouse binary}
n=${2:-1000000}
m=${3:-100000}
dir=${BENCH_DIR:-/var/tmp/gh-bigdir}
rm -rf "$dir" && mkdir -p "$dir"
s3=19700 admin=19701 nfs=19702
printf 's3:\n  max_size: 1Ti\nlog:\n  level: warn\n' >"$dir/c.yaml"
"$bin" serve --config "$dir/c.yaml" --data-dir "$dir/d" --s3-listen "127.0.0.1:$s3" \
  --admin-listen "127.0.0.1:$admin" --nfs-listen "127.0.0.1:$nfs" >"$dir/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
until [ -s "$dir/d/admin.credentials" ] && (exec 9<>"/dev/tcp/127.0.0.1/$admin") 2>/dev/null; do sleep 0.05; done
creds="$dir/d/admin.credentials"
cred() { sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" "$creds" | head -1 | tr -d '\r'; }
"$bin" --server "http://127.0.0.1:$admin" --data-dir "$dir/d" share create big >/dev/null
curl -sf -u "$(cred aws_access_key_id):$(cred aws_secret_access_key)" -H 'content-type: application/json' \
  -d '{"address":"127.0.0.1","user":"admin"}' "http://127.0.0.1:$admin/api/peers" >/dev/null
cpu() { awk '{print ($14 + $15) / 100}' "/proc/$pid/stat"; }

"$bin" bench --endpoint "http://127.0.0.1:$s3" --credentials "$creds" --pid "$pid" --bucket fs+big \
  --keep --phases put-small --objects "$n" --object-size 16 --concurrency 64 --duration 100000 |
  grep '^| put'

export AWS_SHARED_CREDENTIALS_FILE="$creds" AWS_CONFIG_FILE=/dev/null AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
c0=$(cpu) t0=$(date +%s%N)
listed=$(aws --endpoint-url "http://127.0.0.1:$s3" s3api list-objects-v2 --bucket fs--big --prefix small/ \
  --delimiter / --query 'length(Contents)' --output text | awk '{s += $1} END {print s}')
t1=$(date +%s%N) c1=$(cpu)
echo "S3 ListObjectsV2 delimiter /: $listed keys of small/ in $(((t1 - t0) / 1000000)) ms, server CPU $(echo "$c1 - $c0" | bc) s"

bench=$(cargo bench --bench nfs --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("executable") and m.get("target", {}).get("name") == "nfs": print(m["executable"])' | tail -1)
"$bench" --host 127.0.0.1 --nfs-port "$nfs" --mount-port "$nfs" --export /big --label gatehouse \
  --server-pid "$pid" --list-dir small --files "$m" --phases list-dir,rename | grep -v '^|'
