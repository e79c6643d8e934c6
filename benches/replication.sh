#!/usr/bin/env bash
# Bucket replication's throughput and lag (issue 20). Starts, on loopback and on fresh data
# directories under $BENCH_DIR (default /tmp/gh-repl), a source gatehouse A and a target (a
# second gatehouse B, or s3s-fs), creates bucket `src` on A and `dst` on the target, adds on A a
# connection to the target and the rule src -> dst, then measures:
#
#   1. burst: SMALL_N x SMALL_SIZE objects (default 2000 x 64 KiB, `gatehouse bench --phases
#      put-small`, 64 in flight), then LARGE_N x LARGE_SIZE (default 20 x 16 MiB, `--phases
#      put-concurrent`, all at once), each as fast as the client can; the time from just before
#      the first PUT until `replication status src --json` shows queued=0, in_flight=0 and every
#      object replicated (polled every 0.1 s): objects/s and MB/s (replicated_bytes / time),
#      with the CPU seconds of A and of the target over that window (/proc/PID/stat);
#   2. baseline: the same SMALL_N / LARGE_N PUTs straight to the target with `gatehouse bench`
#      at 8 in flight (the worker's own limit), into another bucket;
#   3. steady load: RATE PUT/s of STEADY_SIZE (default 50/s of 64 KiB; one curl per PUT, on a
#      fixed schedule) for STEADY_SECS (default 30) into A, with lag_seconds sampled every 0.5 s:
#      lag min / median / p90 / max, and the drain time after the last PUT.
#
#   benches/replication.sh [BIN [TARGET]]   BIN: gatehouse binary (default target/release/gatehouse,
#                                            not built here); TARGET: gatehouse (default) or s3s-fs
#
# FSYNC=always|metadata|never sets storage.fsync of both gatehouse servers (default: theirs, always).
# s3s-fs: $S3S_FS, else `s3s-fs` on PATH, else /tmp/s3stest/bin/s3s-fs. Prints a summary and one
# `RESULT` line per figure (key=value) for collecting several runs. Needs curl (>= 7.75), jq.
set -euo pipefail
cd "$(dirname "$0")/.."
gh=$(realpath "${1:-target/release/gatehouse}")
target=${2:-gatehouse}
dir=${BENCH_DIR:-/tmp/gh-repl}
small_n=${SMALL_N:-2000} small_size=${SMALL_SIZE:-64Ki}
large_n=${LARGE_N:-20} large_size=${LARGE_SIZE:-16Mi}
rate=${RATE:-50} steady_secs=${STEADY_SECS:-30} steady_size=${STEADY_SIZE:-64Ki}
case $target in
gatehouse) ;;
s3s-fs) s3s=${S3S_FS:-$(command -v s3s-fs || echo /tmp/s3stest/bin/s3s-fs)} ;;
*) echo "TARGET: gatehouse or s3s-fs" >&2; exit 2 ;;
esac
rm -rf "$dir" && mkdir -p "$dir"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

a_s3=9501 a_admin=9502 t_s3=9511
tck=$(getconf CLK_TCK)
now() { echo "${EPOCHREALTIME/,/.}"; }
cpu_s() { awk -v t="$tck" '{printf "%.2f", ($14 + $15) / t}' "/proc/$1/stat"; }
wait_port() { until (exec 9<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do sleep 0.05; done; }
bytes_of() { # 64Ki / 16Mi / 100 -> bytes
  local n=${1%[KMG]i} u=${1##*[0-9]}
  case $u in Ki) echo $((n << 10)) ;; Mi) echo $((n << 20)) ;; Gi) echo $((n << 30)) ;; *) echo "$n" ;; esac
}
key_of() { awk -F' *= *' "/^aws_$1/{print \$2; exit}" "$2"; }

start_gatehouse() { # $1 name, $2 S3 port (admin port + 1); echoes the pid
  printf 's3:\n  max_size: 1Ti\nlog:\n  level: warn\n' >"$dir/$1.yaml"
  [ -z "${FSYNC:-}" ] || printf 'storage:\n  fsync: %s\n' "$FSYNC" >>"$dir/$1.yaml"
  "$gh" serve --config "$dir/$1.yaml" --data-dir "$dir/$1" --s3-listen "127.0.0.1:$2" \
    --admin-listen "127.0.0.1:$(($2 + 1))" --nfs-listen off >"$dir/$1.log" 2>&1 &
  echo $!
}

# ---- the two servers ----
a_pid=$(start_gatehouse a $a_s3)
pids+=("$a_pid")
a_creds=$dir/a/admin.credentials
case $target in
gatehouse)
  t_pid=$(start_gatehouse b $t_s3)
  wait_port $t_s3
  for _ in $(seq 100); do [ -s "$dir/b/admin.credentials" ] && break; sleep 0.1; done
  t_ak=$(key_of access_key_id "$dir/b/admin.credentials")
  t_sk=$(key_of secret_access_key "$dir/b/admin.credentials")
  t_version="gatehouse $("$gh" --version | awk '{print $2}')"
  ;;
s3s-fs)
  t_ak=replak t_sk=replsecret0123456789
  mkdir -p "$dir/s3s-fs/dst"
  "$s3s" --host 127.0.0.1 --port $t_s3 --access-key $t_ak --secret-key $t_sk "$dir/s3s-fs" \
    >"$dir/s3s-fs.log" 2>&1 &
  t_pid=$!
  t_version="s3s-fs $("$s3s" --version | awk '{print $2}')"
  ;;
esac
pids+=("$t_pid")
wait_port $a_s3
wait_port $t_s3
for _ in $(seq 100); do [ -s "$a_creds" ] && break; sleep 0.1; done
sleep 0.2

ga() { "$gh" "$@" --server "http://127.0.0.1:$a_admin" --credentials "$a_creds"; }
[ "$target" = gatehouse ] &&
  "$gh" bucket create dst --server "http://127.0.0.1:$((t_s3 + 1))" --credentials "$dir/b/admin.credentials" >/dev/null
ga bucket create src >/dev/null
printf '%s\n' "$t_sk" | ga replication connection add target --endpoint "http://127.0.0.1:$t_s3" \
  --access-key "$t_ak" --secret-key-file - >/dev/null
ga replication rule add src --connection target --target-bucket dst >/dev/null

status() { ga replication status src --json; }
# "queued in_flight replicated replicated_bytes failed lag_seconds"
counts() { status | jq -r '(if type == "array" then .[0] else . end)
  | "\(.queued) \(.in_flight) \(.replicated) \(.replicated_bytes) \(.failed) \(.lag_seconds)"'; }

echo "# replication: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# source gatehouse $("$gh" --version | awk '{print $2}') (git $(git rev-parse --short HEAD 2>/dev/null || echo '?')), target $t_version"

# ---- 1. bursts ----
burst() { # $1 name, $2 objects, $3 bytes each, then the bench arguments
  local name=$1 n=$2 size=$3
  shift 3
  local q f r0 rb0 fail0 l t0 c0 tc0 bench_pid t_load="" t1 r rb fail secs
  read -r q f r0 rb0 fail0 l < <(counts)
  t0=$(now) c0=$(cpu_s "$a_pid") tc0=$(cpu_s "$t_pid")
  "$gh" bench --endpoint "http://127.0.0.1:$a_s3" --credentials "$a_creds" --bucket src --keep \
    --label "A $name" "$@" >"$dir/bench-$name.out" 2>&1 &
  bench_pid=$!
  while :; do
    if [ -z "$t_load" ] && ! kill -0 "$bench_pid" 2>/dev/null; then
      t_load=$(now)
      wait "$bench_pid" || { cat "$dir/bench-$name.out" >&2; exit 1; }
    fi
    read -r q f r rb fail l < <(counts)
    t1=$(now)
    [ -n "$t_load" ] && [ "$q" = 0 ] && [ "$f" = 0 ] && [ $((r - r0 + fail - fail0)) -ge "$n" ] && break
    sleep 0.1
  done
  local ca tc
  ca=$(awk -v a="$(cpu_s "$a_pid")" -v b="$c0" 'BEGIN{printf "%.2f", a - b}')
  tc=$(awk -v a="$(cpu_s "$t_pid")" -v b="$tc0" 'BEGIN{printf "%.2f", a - b}')
  secs=$(awk -v a="$t1" -v b="$t0" 'BEGIN{printf "%.2f", a - b}')
  awk -v name="$name" -v n=$((r - r0)) -v b=$((rb - rb0)) -v fl=$((fail - fail0)) -v s="$secs" \
    -v load="$(awk -v a="$t_load" -v b="$t0" 'BEGIN{printf "%.2f", a - b}')" -v ca="$ca" -v tc="$tc" \
    -v tgt="$target" 'BEGIN {
      printf "burst %s: %d objects, %.1f MB replicated (%d failed) in %.2f s (PUTs into A took %.2f s): %.0f objects/s, %.1f MB/s; CPU s: A %.2f, target %.2f\n",
        name, n, b / 1e6, fl, s, load, n / s, b / 1e6 / s, ca, tc
      printf "RESULT target=%s figure=burst-%s objects=%d bytes=%d failed=%d secs=%s load_secs=%s obj_per_s=%.1f mb_per_s=%.2f cpu_a=%s cpu_target=%s\n",
        tgt, name, n, b, fl, s, load, n / s, b / 1e6 / s, ca, tc }'
  grep -E '^\| put-' "$dir/bench-$name.out" | sed 's/^/  bench into A: /'
}
burst small "$small_n" "$(bytes_of "$small_size")" --phases put-small --objects "$small_n" \
  --object-size "$small_size" --concurrency 64
burst large "$large_n" "$(bytes_of "$large_size")" --phases put-concurrent --uploads "$large_n" \
  --upload-size "$large_size"

# ---- 2. baseline: the same PUTs straight to the target, 8 in flight ----
tb=(--endpoint "http://127.0.0.1:$t_s3" --access-key "$t_ak" --secret-key "$t_sk" --keep --pid "$t_pid")
for ph in small large; do
  if [ $ph = small ]; then
    args=(--phases put-small --objects "$small_n" --object-size "$small_size" --concurrency 8)
  else # put-concurrent runs --uploads at once: 8 per call
    args=(--phases put-concurrent --uploads 8 --upload-size "$large_size")
  fi
  row=$("$gh" bench "${tb[@]}" --bucket "plain-$ph" --label "target plain" "${args[@]}" | grep -E '^\| put-')
  echo "baseline $ph, PUT straight to the target, 8 in flight: $row"
  echo "$row" | awk -F'|' -v tgt="$target" -v ph="$ph" '{gsub(/ /, ""); printf "RESULT target=%s figure=plain-%s obj_per_s=%s mb_per_s=%s\n", tgt, ph, $5, $6}'
done

# ---- 3. steady load with lag samples ----
head -c "$(bytes_of "$steady_size")" /dev/urandom >"$dir/body"
a_ak=$(key_of access_key_id "$a_creds") a_sk=$(key_of secret_access_key "$a_creds")
read -r q f r0 rb0 fail0 l < <(counts)
: >"$dir/lag" && : >"$dir/codes"
(
  while :; do
    echo "$(counts | awk '{print $6, $1}')" >>"$dir/lag"
    sleep 0.5
  done
) &
sampler=$!
pids+=("$sampler")
c0=$(cpu_s "$a_pid") tc0=$(cpu_s "$t_pid")
total=$((rate * steady_secs))
start_us=${EPOCHREALTIME/[.,]/}
for ((i = 0; i < total; i++)); do
  due=$((start_us + i * 1000000 / rate))
  wait_us=$((due - ${EPOCHREALTIME/[.,]/}))
  [ $wait_us -gt 0 ] && sleep "$((wait_us / 1000000)).$(printf '%06d' $((wait_us % 1000000)))"
  curl -s -o /dev/null -w '%{http_code}\n' --aws-sigv4 "aws:amz:us-east-1:s3" --user "$a_ak:$a_sk" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -T "$dir/body" \
    "http://127.0.0.1:$a_s3/src/steady/$(printf '%06d' "$i")" >>"$dir/codes" &
done
wait_children() { for p in $(jobs -p); do [ "$p" = "$sampler" ] || [ "$p" = "$t_pid" ] || wait "$p" || true; done; }
late=$(((${EPOCHREALTIME/[.,]/} - start_us - (total - 1) * 1000000 / rate) / 1000))
wait_children
t_last=$(now)
while :; do
  read -r q f r rb fail l < <(counts)
  [ "$q" = 0 ] && [ "$f" = 0 ] && [ $((r - r0 + fail - fail0)) -ge "$total" ] && break
  sleep 0.1
done
drain=$(awk -v a="$(now)" -v b="$t_last" 'BEGIN{printf "%.2f", a - b}')
kill "$sampler" 2>/dev/null || true
ca=$(awk -v a="$(cpu_s "$a_pid")" -v b="$c0" 'BEGIN{printf "%.2f", a - b}')
tc=$(awk -v a="$(cpu_s "$t_pid")" -v b="$tc0" 'BEGIN{printf "%.2f", a - b}')
ok=$(grep -c '^200$' "$dir/codes" || true)
sort -g "$dir/lag" | awk -v tgt="$target" -v rate="$rate" -v secs="$steady_secs" -v total="$total" \
  -v ok="$ok" -v n=$((r - r0)) -v drain="$drain" -v late="$late" -v ca="$ca" -v tc="$tc" '
  NF { v[c++] = $1; if ($2 > qmax) qmax = $2; if ($1 > 0) busy++ }
  END {
    med = v[int((c - 1) / 2)]; p90 = v[int((c - 1) * 0.9)]
    printf "steady %d PUT/s for %d s (%d PUTs, %d answered 200, the last sent %d ms late): %d replicated; lag over %d samples: min %.3f, median %.3f, p90 %.3f, max %.3f s (queue not empty in %d, at most %d queued); drained %.2f s after the last PUT; CPU s: A %.2f, target %.2f\n",
      rate, secs, total, ok, late, n, c, v[0], med, p90, v[c - 1], busy, qmax, drain, ca, tc
    printf "RESULT target=%s figure=steady rate=%d puts=%d ok=%d replicated=%d samples=%d lag_min=%.3f lag_median=%.3f lag_p90=%.3f lag_max=%.3f queued_max=%d drain_secs=%s cpu_a=%s cpu_target=%s\n",
      tgt, rate, total, ok, n, c, v[0], med, p90, v[c - 1], qmax, drain, ca, tc }'
