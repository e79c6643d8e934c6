#!/usr/bin/env bash
# One `gatehouse bench` run against a fresh gatehouse whose chunks live in BACKEND (issue 20):
#
#   benches/chunk_backend.sh BIN BACKEND PHASES [bench args...]
#     BIN      gatehouse release binary (not built here)
#     BACKEND  local | s3s-fs | garage
#     PHASES   gatehouse bench phases, e.g. mpu-put,get-large or put-small,get-small
#
# s3s-fs: $S3S_FS, else `s3s-fs` on PATH, else /tmp/s3stest/bin/s3s-fs. Garage: $GARAGE, else
# `garage` on PATH (crates.io `garage` 2.5.0: `cargo install garage --version 2.5.0
# --no-default-features --features lmdb,bundled-libs`), one node, replication factor 1, LMDB.
# Env: FSYNC (storage.fsync of gatehouse, default always), INLINE (storage.inline_max, default
# 65536; 0 makes small objects chunks), CACHE (storage.cache.max_size, default 1Gi),
# BENCH_DIR (default /tmp/gh-chunk-bench). Prints the bench table's rows prefixed by BACKEND,
# and the backend process's CPU seconds.
set -euo pipefail
bin=$(realpath "$1"); be=$2; phases=$3; shift 3
d=${BENCH_DIR:-/tmp/gh-chunk-bench}
rm -rf "$d" && mkdir -p "$d/gh"
bpid=
trap '[ -n "${gpid:-}" ] && kill $gpid 2>/dev/null; [ -n "$bpid" ] && kill $bpid 2>/dev/null; true' EXIT
tck=$(getconf CLK_TCK)
wait_port() { for _ in $(seq 200); do (exec 9<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }
backend_yaml=
case $be in
local) ;;
s3s-fs)
  s3s=${S3S_FS:-$(command -v s3s-fs || echo /tmp/s3stest/bin/s3s-fs)}
  mkdir -p "$d/s3s/chunks"
  "$s3s" --host 127.0.0.1 --port 9441 --access-key beak --secret-key besecret0123456789 "$d/s3s" >"$d/s3s.log" 2>&1 &
  bpid=$!; wait_port 9441
  ak=beak sk=besecret0123456789 endpoint=http://127.0.0.1:9441 region=us-east-1 ;;
garage)
  g=${GARAGE:-$(command -v garage)}
  cat >"$d/garage.toml" <<TOML
metadata_dir = "$d/garage/meta"
data_dir = "$d/garage/data"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:3901"
rpc_public_addr = "127.0.0.1:3901"
rpc_secret = "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:3900"
root_domain = ".s3.garage.localhost"
TOML
  "$g" -c "$d/garage.toml" server >"$d/garage.log" 2>&1 &
  bpid=$!; wait_port 3900; sleep 1
  node=$("$g" -c "$d/garage.toml" status 2>/dev/null | awk '/NO ROLE ASSIGNED|HEALTHY NODES/{f=1} f && $1 ~ /^[0-9a-f]+$/ {print $1; exit}')
  "$g" -c "$d/garage.toml" layout assign -z dc1 -c 10G "$node" >/dev/null
  "$g" -c "$d/garage.toml" layout apply --version 1 >/dev/null
  "$g" -c "$d/garage.toml" bucket create chunks >/dev/null
  keyout=$("$g" -c "$d/garage.toml" key create ghkey)
  ak=$(awk '/Key ID/{print $NF; exit}' <<<"$keyout") sk=$(awk '/Secret key/{print $NF; exit}' <<<"$keyout")
  "$g" -c "$d/garage.toml" bucket allow --read --write --owner chunks --key ghkey >/dev/null
  endpoint=http://127.0.0.1:3900 region=garage ;;
*) echo "BACKEND: local, s3s-fs or garage" >&2; exit 2 ;;
esac
if [ "$be" != local ]; then
  printf '%s\n' "$sk" >"$d/secret"
  backend_yaml="  backend:
    kind: s3
    endpoint: $endpoint
    bucket: chunks
    prefix: n/
    region: $region
    access_key: $ak
    secret_key_file: $d/secret
    snapshot_every_secs: 0
  cache:
    max_size: ${CACHE:-1Gi}
"
fi
printf 's3:\n  max_size: 1Ti\nlog:\n  level: warn\nstorage:\n  fsync: %s\n  inline_max: %s\n%s' \
  "${FSYNC:-always}" "${INLINE:-65536}" "$backend_yaml" >"$d/c.yaml"
"$bin" serve --config "$d/c.yaml" --data-dir "$d/gh" --s3-listen 127.0.0.1:9421 \
  --admin-listen 127.0.0.1:9422 --nfs-listen off >"$d/gh.log" 2>&1 &
gpid=$!
wait_port 9421
for _ in $(seq 100); do [ -f "$d/gh/admin.credentials" ] && break; sleep 0.1; done
timeout 900 "$bin" bench --endpoint http://127.0.0.1:9421 --credentials "$d/gh/admin.credentials" \
  --pid "$gpid" --phases "$phases" "$@" | grep '^| [a-z]' | grep -v '^| phase' | sed "s/^/$be /"
[ -n "$bpid" ] && echo "$be backend CPU s: $(awk -v t="$tck" '{printf "%.2f", ($14 + $15) / t}' "/proc/$bpid/stat")"
true
