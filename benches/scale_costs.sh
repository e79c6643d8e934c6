#!/usr/bin/env bash
# Per-request cost as a store grows (issue 19): one binary, one store, filled through S3 with
# 16-byte objects to each level in turn (default 10k, 1M, 10M; `gatehouse bench --phases
# put-small --stored PREV --keep`), and at each level: CPU per PUT over that fill, then GET,
# HEAD and 1000-key LIST pages of the stored objects (each phase bounded to PHASE_SECS,
# default 20), RSS, meta.redb size, and the time from exec to an accepting S3 port after
# kill -9. Prints Markdown rows.
#
#   benches/scale_costs.sh BIN [LEVEL...]     e.g. benches/scale_costs.sh target/release/gatehouse 10000 1000000
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:?gatehouse binary}
shift
levels=("${@:-10000 1000000 10000000}")
[ $# -gt 0 ] || levels=(10000 1000000 10000000)
dir=${BENCH_DIR:-/var/tmp/gh-scale-costs}
secs=${PHASE_SECS:-20}
seed=${SEED:-4242}
rm -rf "$dir" && mkdir -p "$dir"
port=19600
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null || true' EXIT
printf 's3:\n  max_size: 1Ti\nlog:\n  level: warn\n' >"$dir/c.yaml"
start() { # sets pid; writes the ms from exec to an accepting port to $dir/start_ms
  local t0 t1
  t0=$(date +%s%N)
  "$bin" serve --config "$dir/c.yaml" --data-dir "$dir/d" --s3-listen "127.0.0.1:$port" \
    --admin-listen "127.0.0.1:$((port + 1))" --nfs-listen off >>"$dir/log" 2>&1 &
  pid=$!
  until (exec 9<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.005; done
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000000)) >"$dir/start_ms"
}
bench() { # phases, objects, stored, extra...
  local phases=$1 objects=$2 stored=$3
  shift 3
  "$bin" bench --endpoint "http://127.0.0.1:$port" --credentials "$dir/d/admin.credentials" \
    --pid "$pid" --bucket scale --keep --seed "$seed" --object-size 16 --concurrency 64 \
    --phases "$phases" --objects "$objects" --stored "$stored" "$@" | grep '^| [a-z]' | grep -v '^| phase'
}
# column 9 of a result row: server CPU ms/op
cpu_of() { awk -F'|' '{gsub(/ /, "", $9); print $9}'; }
ops_s() { awk -F'|' '{gsub(/ /, "", $5); print $5}'; }
start
sleep 0.5
echo "| objects | fill PUT/s | CPU/PUT µs | GET/s | CPU/GET µs | HEAD/s | CPU/HEAD µs | LIST pages/s | CPU/LIST page ms | RSS MiB | meta.redb MiB | B/object | restart after kill -9 ms |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
prev=0
for n in "${levels[@]}"; do
  fill=$(bench put-small "$n" "$prev" --duration 100000)
  prev=$n
  get=$(bench get-small "$n" "$n" --duration "$secs")
  head=$(bench head-small "$n" "$n" --duration "$secs")
  list=$(bench list "$n" "$n" --duration "$secs" --list-pages 2000)
  rss=$(awk '/VmRSS/{printf "%.1f", $2/1024}' "/proc/$pid/status")
  db=$(stat -c %s "$dir/d/meta.redb")
  kill -9 "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.01; done
  start
  restart=$(cat "$dir/start_ms")
  printf '| %s | %s | %.0f | %s | %.0f | %s | %.0f | %s | %.2f | %s | %.0f | %.0f | %s |\n' \
    "$n" "$(ops_s <<<"$fill")" "$(echo "$(cpu_of <<<"$fill") * 1000" | bc -l)" \
    "$(ops_s <<<"$get")" "$(echo "$(cpu_of <<<"$get") * 1000" | bc -l)" \
    "$(ops_s <<<"$head")" "$(echo "$(cpu_of <<<"$head") * 1000" | bc -l)" \
    "$(ops_s <<<"$list")" "$(cpu_of <<<"$list")" "$rss" \
    "$(echo "$db / 1048576" | bc -l)" "$(echo "$db / $n" | bc -l)" "$restart"
done
