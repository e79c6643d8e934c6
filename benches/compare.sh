#!/usr/bin/env bash
# Measures gatehouse and s3s-fs with the same client (`gatehouse bench`) in one run, each on a
# fresh data directory under $BENCH_DIR (default /tmp/gh-bench), and prints Markdown for
# docs/BENCHMARKS.md. The peer: `cargo install s3s-fs --features binary` (S3S_FS=path overrides).
# Extra arguments go to every `gatehouse bench` call.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
gh=target/release/gatehouse
s3s=${S3S_FS:-$(command -v s3s-fs || true)}
dir=${BENCH_DIR:-/tmp/gh-bench}
rm -rf "$dir" && mkdir -p "$dir"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

start_gatehouse() { # $1 = name, $2 = port
  # The benchmark writes several GiB: lift the 1Gi default of s3.max_size, and keep the admin
  # API off the default port.
  printf 's3:\n  max_size: 1Ti\n' >"$dir/$1.yaml"
  "$gh" serve --config "$dir/$1.yaml" --data-dir "$dir/$1" --s3-listen "127.0.0.1:$2" \
    --admin-listen "127.0.0.1:$(($2 + 1))" --nfs-listen "127.0.0.1:$(($2 + 2))" >"$dir/$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [ -f "$dir/$1/admin.credentials" ] && break; sleep 0.1; done
  sleep 0.2
}

echo "## Run of $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB, $(df -h "$dir" | awk 'NR==2{print $1" ("$2")"}')"
echo
echo "### gatehouse $("$gh" --version | awk '{print $2}') (git $(git rev-parse --short HEAD))"
start_gatehouse gatehouse 9301
"$gh" bench --endpoint http://127.0.0.1:9301 --credentials "$dir/gatehouse/admin.credentials" \
  --pid "${pids[-1]}" --label gatehouse "$@"
echo
echo "put-concurrent on a fresh gatehouse process (peak RSS of that phase alone):"
echo
start_gatehouse gatehouse-rss 9302
"$gh" bench --endpoint http://127.0.0.1:9302 --credentials "$dir/gatehouse-rss/admin.credentials" \
  --pid "${pids[-1]}" --label gatehouse --phases put-concurrent "$@" | tail -n +2

if [ -n "$s3s" ]; then
  echo
  echo "### s3s-fs $("$s3s" --version | awk '{print $2}')"
  mkdir -p "$dir/s3s-fs"
  "$s3s" --host 127.0.0.1 --port 9303 --access-key benchak --secret-key benchsecret0123456789 "$dir/s3s-fs" >"$dir/s3s-fs.log" 2>&1 &
  pids+=($!)
  sleep 1
  "$gh" bench --endpoint http://127.0.0.1:9303 --access-key benchak --secret-key benchsecret0123456789 \
    --pid "${pids[-1]}" --label s3s-fs "$@"
else
  echo "(s3s-fs not found: install it with cargo install s3s-fs --features binary, or set S3S_FS)"
fi
