#!/usr/bin/env bash
# Two gatehouse builds side by side on the small-request phases of `gatehouse bench`, in
# alternating rounds (A then B, ROUNDS times), each on a fresh data directory and server; the
# client is BENCH_BIN (default: B) for both. Prints `round build | bench row` lines; the
# server CPU per request is the bench table's CPU column, the peak RSS per phase the last; then
# `round build held: …`, the server's resident memory right after the phases. EXTRA_YAML is
# added to both servers' configuration (see serve_fresh.sh).
#
#   benches/ab_requests.sh OLD_BIN NEW_BIN        ROUNDS=3 PHASES=put-small,get-small,head-small,list
#   PHASES=put-small,get-small,head-small,list,mpu-put,get-large,get-range,put-concurrent,delete-objects \
#     benches/ab_requests.sh OLD_BIN NEW_BIN      # the default mix: its memory, phase by phase
set -euo pipefail
a=${1:?first gatehouse binary}
b=${2:?second gatehouse binary}
client=${BENCH_BIN:-$b}
dir=${BENCH_DIR:-/var/tmp/gh-ab}
port=${PORT:-19995}
# shellcheck source=benches/serve_fresh.sh
. "$(dirname "$0")/serve_fresh.sh"
for r in $(seq 1 "${ROUNDS:-3}"); do
  for bin in "$a" "$b"; do
    serve_fresh "$bin" "$dir" "$port"
    "$client" bench --endpoint "http://127.0.0.1:$port" --credentials "$dir/d/admin.credentials" \
      --pid "$pid" --phases "${PHASES:-put-small,get-small,head-small,list}" --seed "$r" 2>&1 |
      grep '^| [a-z]' | grep -v '^| phase' | sed "s|^|$r $(basename "$bin") |"
    echo "$r $(basename "$bin") held: $(grep -E 'VmRSS|RssAnon|RssFile|Threads' "/proc/$pid/status" | tr -s ' \t\n' ' ')"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
  done
done
rm -rf "$dir"
