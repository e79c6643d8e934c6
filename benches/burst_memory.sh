#!/usr/bin/env bash
# What stays resident after a burst (issue 19): a fresh server, one `gatehouse bench` phase
# (default put-concurrent, 8 x 256 MiB), then VmRSS / RssAnon / RssFile and the thread count
# before, right after, and 5 s and 15 s later. ENV is passed to the server (e.g.
# "MIMALLOC_PURGE_DELAY=0").
#
#   benches/burst_memory.sh BIN [ENV]             PH=put-concurrent
set -euo pipefail
bin=${1:?gatehouse binary}
dir=${BENCH_DIR:-/var/tmp/gh-burst}
port=${PORT:-19770}
rm -rf "$dir" && mkdir -p "$dir"
printf 's3:\n  max_size: 1Ti\nlog:\n  level: warn\n' >"$dir/c.yaml"
# shellcheck disable=SC2086
env ${2:-} "$bin" serve --config "$dir/c.yaml" --data-dir "$dir/d" --s3-listen "127.0.0.1:$port" \
  --admin-listen "127.0.0.1:$((port + 1))" --nfs-listen off >"$dir/log" 2>&1 &
pid=$!
until (exec 9<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.1; done
until [ -s "$dir/d/admin.credentials" ]; do sleep 0.1; done
st() {
  echo "$1: $(grep -E 'VmRSS|RssAnon|RssFile' "/proc/$pid/status" | awk '{printf "%s %s kB  ", $1, $2}')threads $(ls "/proc/$pid/task" | wc -l)"
}
st before
"$bin" bench --endpoint "http://127.0.0.1:$port" --credentials "$dir/d/admin.credentials" \
  --pid "$pid" --phases "${PH:-put-concurrent}" --seed 5 2>&1 | grep '^| [a-z]' | grep -v '^| phase'
st after
sleep 5
st "idle 5 s"
sleep 10
st "idle 15 s"
kill "$pid"
wait "$pid" 2>/dev/null || true
rm -rf "$dir"
