#!/usr/bin/env bash
# What grows with the data (issue 19): fills a fresh store with N tiny objects through S3
# (`gatehouse bench --phases put-small`), then measures on that store, for each binary given:
#   - fill rate (objects/s) and server CPU per PUT while filling,
#   - idle server CPU over IDLE_SECS (default 130: two expiry sweeps, one GC round with
#     storage.gc_interval_secs 60), as % of one core, and RSS idle,
#   - meta.redb size and bytes per object,
#   - restart: clean stop then start, and kill -9 then start, each timed from exec until the
#     S3 listener accepts a connection.
#
#   benches/scale.sh N BIN [BIN...]      e.g. benches/scale.sh 1000000 target/release/gatehouse /tmp/base/gatehouse
#
# Binaries alternate per step (fill A, fill B, idle A, idle B, ...), each on its own data
# directory under $BENCH_DIR (default /var/tmp/gh-scale). Prints Markdown rows.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:?number of objects}
shift
bins=("$@")
[ ${#bins[@]} -ge 1 ] || { echo "give at least one gatehouse binary" >&2; exit 1; }
dir=${BENCH_DIR:-/var/tmp/gh-scale}
idle=${IDLE_SECS:-130}
rm -rf "$dir" && mkdir -p "$dir"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

port_of() { echo $((19400 + 10 * $1)); }
start() { # $1 index; echoes the pid; returns when the S3 port accepts, prints ms taken to fd 3
  local i=$1 bin=${bins[$1]} p t0 t1
  p=$(port_of "$i")
  printf 's3:\n  max_size: 1Ti\nstorage:\n  gc_interval_secs: 60\nlog:\n  level: warn\n' >"$dir/$i.yaml"
  t0=$(date +%s%N)
  "$bin" serve --config "$dir/$i.yaml" --data-dir "$dir/d$i" --s3-listen "127.0.0.1:$p" \
    --admin-listen "127.0.0.1:$((p + 1))" --nfs-listen off >>"$dir/$i.log" 2>&1 &
  local pid=$!
  until (exec 9<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do sleep 0.005; done
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000000)) >"$dir/$i.start_ms"
  echo "$pid"
}
stop() { # $1 pid, $2 signal option (default TERM); waits until it is gone
  kill ${2:-} "$1"
  while kill -0 "$1" 2>/dev/null; do sleep 0.01; done
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Nanoseconds on CPU of the live threads (/proc/PID/schedstat is the main thread's only).
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{s += $1} END {printf "%.0f", s}'; }
rss_mib() { awk '/VmRSS/{printf "%.1f", $2/1024}' "/proc/$1/status"; }

declare -A pid
for i in "${!bins[@]}"; do
  pid[$i]=$(start "$i")
  pids+=("${pid[$i]}")
done
sleep 1

echo "| binary | objects | fill (obj/s) | CPU/PUT (µs) | idle CPU (% core) | idle RSS (MiB) | meta.redb (MiB) | B/object | clean restart (ms) | kill -9 restart (ms) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
declare -A fill cpu_put idle_pct idle_rss
for i in "${!bins[@]}"; do
  p=$(port_of "$i")
  c0=$(cpu_ticks "${pid[$i]}")
  t0=$(date +%s%N)
  "${bins[$i]}" bench --endpoint "http://127.0.0.1:$p" --credentials "$dir/d$i/admin.credentials" \
    --bucket fill --phases put-small --objects "$n" --object-size 16 --duration 100000 \
    --concurrency 64 --keep >"$dir/$i.fill.txt"
  t1=$(date +%s%N)
  c1=$(cpu_ticks "${pid[$i]}")
  fill[$i]=$(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", n / ((b - a) / 1e9)}')
  cpu_put[$i]=$(awk -v n="$n" -v c="$((c1 - c0))" 'BEGIN{printf "%.0f", c * 10000 / n}')
done
for i in "${!bins[@]}"; do
  c0=$(cpu_ns "${pid[$i]}")
  sleep "$idle"
  c1=$(cpu_ns "${pid[$i]}")
  idle_pct[$i]=$(awk -v c="$((c1 - c0))" -v s="$idle" 'BEGIN{printf "%.4f", c / s / 1e7}')
  idle_rss[$i]=$(rss_mib "${pid[$i]}")
done
for i in "${!bins[@]}"; do
  db=$(stat -c %s "$dir/d$i/meta.redb")
  stop "${pid[$i]}"
  pid[$i]=$(start "$i")
  clean=$(cat "$dir/$i.start_ms")
  stop "${pid[$i]}" -9
  pid[$i]=$(start "$i")
  pids+=("${pid[$i]}")
  dirty=$(cat "$dir/$i.start_ms")
  echo "| ${bins[$i]} | $n | ${fill[$i]} | ${cpu_put[$i]} | ${idle_pct[$i]} | ${idle_rss[$i]} | $(awk -v b="$db" 'BEGIN{printf "%.1f", b/1048576}') | $((db / n)) | $clean | $dirty |"
done
