#!/usr/bin/env bash
# What S3 versioning costs (issue 21): one release-built server, one store, two buckets —
# `plain` (never versioned, KEYS keys) and `ver` (versioning Enabled, VERSIONS versions of each
# of the same KEYS keys) — measured alternately in pairs by the same clients:
#   - `gatehouse bench --phases put-small`, then `get-small,list`, on each bucket in turn (PUT
#     of every key: an overwrite in `plain`, one more version in `ver`; GET of every key's current
#     version; ListObjectsV2 pages of 1000 keys from spread start points), the order of the two
#     sides swapped every pair (plain, ver, ver, plain, …);
#   - a Python client (botocore's SigV4 signer, one keep-alive connection, one request at a
#     time, the body read but not parsed; its entry count checked) for the cost of a page:
#     ListObjectVersions pages of 1000 entries of `ver` next to ListObjectsV2 pages of 1000 keys
#     of `plain` and of `ver`, rotated every round.
# Server CPU per op is utime+stime of the server from /proc/PID/stat over each phase (10 ms
# ticks); bytes per PUT are the server's `wchar`/`rchar` of /proc/PID/io (what its read and
# write system calls moved, redb's file I/O above all) around each put-small phase, / KEYS.
# Every run starts from a fresh data directory. Prints Markdown rows, then a summary (min /
# median / max per side and the median ratio).
#
#   benches/versioning.sh BIN        e.g. benches/versioning.sh target/release/gatehouse
#   KEYS=10000 VERSIONS=100 PAIRS=8 SIZE=1Ki LIST_ROUNDS=5 LIST_PAGES=200 benches/versioning.sh BIN
# (those are the defaults: ~4 min of fill, 1M versions, meta.redb ~2.2 GiB; then ~3 min).
# KEYS ≥ 1000 (pages of 1000 keys); PYTHON (default /tmp/ghvenv/bin/python) needs botocore;
# BENCH_DIR (default /var/tmp/gh-versioning) is emptied first; PORT (default 19700) and PORT+1;
# EXTRA_CONFIG: YAML appended to the server's config (e.g. $'storage:\n  db_cache: 512Mi\n').
# WARM_MIB: before every measured put-small phase, write that many MiB to a scratch file on the
# store's file system and delete it, so the phase's new page-cache pages come from memory freed
# moments before (on a VM whose host takes back free memory, the first write to a page it took
# back is a host fault: docs/decisions/0052; this takes that fault out of both sides alike).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:?gatehouse binary}")
dir=${BENCH_DIR:-/var/tmp/gh-versioning}
keys=${KEYS:-10000}
versions=${VERSIONS:-100}
pairs=${PAIRS:-8}
size=${SIZE:-1Ki}
list_rounds=${LIST_ROUNDS:-5}
list_pages=${LIST_PAGES:-200}
py=${PYTHON:-/tmp/ghvenv/bin/python}
port=${PORT:-19700}
warm_mib=${WARM_MIB:-0}
[ "$keys" -ge 1000 ] || { echo "KEYS must be at least 1000 (pages of 1000 keys)" >&2; exit 1; }
"$py" -c 'import botocore' || { echo "$py has no botocore (PYTHON=...)" >&2; exit 1; }
rm -rf "$dir" && mkdir -p "$dir"
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null || true' EXIT
printf 's3:\n  max_size: 1Ti\nlog:\n  level: warn\n%s' "${EXTRA_CONFIG:-}" >"$dir/c.yaml"
"$bin" serve --config "$dir/c.yaml" --data-dir "$dir/d" --s3-listen "127.0.0.1:$port" \
  --admin-listen "127.0.0.1:$((port + 1))" --nfs-listen off >>"$dir/log" 2>&1 &
pid=$!
until (exec 9<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.05; done
creds=$dir/d/admin.credentials
until grep -q aws_secret_access_key "$creds" 2>/dev/null; do sleep 0.05; done

cat >"$dir/pages.py" <<'EOF'
"""enable BUCKET (created if missing) | pages ROUNDS PAGES KEYS VERSIONS: signed raw requests, one connection."""
import http.client, os, random, statistics, sys, time
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

port, creds_path, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
kv = {k.strip(): v.strip() for k, v in
      (l.split("=", 1) for l in open(creds_path).read().splitlines() if "=" in l)}
creds = Credentials(kv["aws_access_key_id"], kv["aws_secret_access_key"])
conn = http.client.HTTPConnection("127.0.0.1", int(port))
tick = os.sysconf("SC_CLK_TCK")

def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tick

def call(method, path, query, body=b"", ok=(200,)):
    url = f"http://127.0.0.1:{port}{path}" + (f"?{query}" if query else "")
    req = AWSRequest(method=method, url=url, data=body)
    req.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
    SigV4Auth(creds, "s3", "us-east-1").add_auth(req)
    t = time.perf_counter()
    conn.request(method, path + (f"?{query}" if query else ""), body=body, headers=dict(req.headers))
    r = conn.getresponse()
    data = r.read()
    took = time.perf_counter() - t
    assert r.status in ok, (r.status, data[:300])
    return data, took

args = sys.argv[4:]
if args[0] == "enable":
    call("PUT", f"/{args[1]}", "", ok=(200, 409))
    call("PUT", f"/{args[1]}", "versioning",
         b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>")
    sys.exit(0)
rounds, pages, keys, versions = (int(a) for a in args[1:5])
key = lambda i: f"small/{i:08d}"
kinds = [
    ("ListObjectsV2 plain, 1000 keys", "/plain", "v2", b"<Contents>"),
    ("ListObjectsV2 ver, 1000 keys", "/ver", "v2", b"<Contents>"),
    ("ListObjectVersions ver, 1000 entries", "/ver", "versions", b"<Version>"),
]
rng = random.Random(7)
print("| round | request | pages | pages/s | p50 ms | p99 ms | server CPU ms/page |")
print("|---:|---|---:|---:|---:|---:|---:|")
for rnd in range(1, rounds + 1):
    order = kinds[rnd % 3:] + kinds[:rnd % 3]
    for name, path, kind, tag in order:
        lat = []
        c0, t0 = cpu(), time.perf_counter()
        for _ in range(pages):
            if kind == "v2":
                # Keys are small/00000000 … small/{keys - 1}: a page of 1000 starts at most at
                # keys - 1000.
                first = rng.randrange(0, keys - 1000 + 1)
                q = "list-type=2&max-keys=1000&prefix=small%2F"
                if first > 0:
                    q += f"&start-after=small%2F{first - 1:08d}"
            else:
                # ~1000 / versions keys hold a page; start far enough from the end.
                first = rng.randrange(1, keys - 1000 // versions - 1)
                q = f"key-marker=small%2F{first - 1:08d}&max-keys=1000&prefix=small%2F&versions="
            data, took = call("GET", path, q)
            n = data.count(tag) + (data.count(b"<DeleteMarker>") if kind == "versions" else 0)
            assert n == 1000, (name, first, n)
            lat.append(took)
        secs, used = time.perf_counter() - t0, cpu() - c0
        lat.sort()
        print(f"| {rnd} | {name} | {pages} | {pages / secs:.0f} | {statistics.median(lat) * 1e3:.2f} "
              f"| {lat[int(len(lat) * 0.99) - 1] * 1e3:.2f} | {used * 1e3 / pages:.2f} |", flush=True)
EOF
pages() { "$py" "$dir/pages.py" "$port" "$creds" "$pid" "$@"; }
bench() { # bucket, seed, phases, extra...
  local bucket=$1 seed=$2 phases=$3
  shift 3
  "$bin" bench --endpoint "http://127.0.0.1:$port" --credentials "$creds" --pid "$pid" \
    --bucket "$bucket" --keep --seed "$seed" --object-size "$size" --concurrency 64 \
    --objects "$keys" --phases "$phases" --duration 600 "$@" | grep '^| [a-z]' | grep -v '^| phase' |
    sed "s/^| /| $bucket | /"
}

# Fill: `plain` once, `ver` VERSIONS times over (each round one new version of every key).
t0=$(date +%s)
bench plain 1 put-small >"$dir/fill-plain"
pages enable ver
: >"$dir/fill-ver"
for v in $(seq 1 "$versions"); do bench ver "$v" put-small >>"$dir/fill-ver"; done
t1=$(date +%s)
echo "filled in $((t1 - t0)) s: $keys keys, plain 1 version, ver $versions versions each;" \
  "meta.redb $(($(stat -c %s "$dir/d/meta.redb") >> 20)) MiB, RSS $(awk '/VmRSS/{print int($2/1024)}' "/proc/$pid/status") MiB"
awk -F'|' '{gsub(/ /, "", $6); gsub(/ /, "", $10); n++; s += $6; c += $10}
  END {printf "fill of ver: %d rounds, mean %.0f PUT/s, mean server CPU %.3f ms/PUT\n", n, s / n, c / n}' "$dir/fill-ver"
sync
sleep 2

echo
echo "| pair | bucket | phase | ops | seconds | ops/s | MB/s | p50 ms | p99 ms | server CPU ms/op | server peak RSS MiB |"
echo "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
: >"$dir/pairs"
: >"$dir/io"
# What the server's read and write system calls have moved so far: `rchar wchar`.
io() { awk '/^rchar/ {r = $2} /^wchar/ {w = $2} END {print r, w}' "/proc/$pid/io"; }
for p in $(seq 1 "$pairs"); do
  if [ $((p % 2)) -eq 1 ]; then order="plain ver"; else order="ver plain"; fi
  for b in $order; do
    if [ "$warm_mib" -gt 0 ]; then
      dd if=/dev/zero of="$dir/warm" bs=1M count="$warm_mib" conv=fsync status=none
      rm -f "$dir/warm"
    fi
    read -r r0 w0 <<<"$(io)"
    bench "$b" $((1000 + p)) put-small | sed "s/^/| $p /" | tee -a "$dir/pairs"
    read -r r1 w1 <<<"$(io)"
    echo "$b $(((w1 - w0) / keys)) $(((r1 - r0) / keys))" >>"$dir/io"
    bench "$b" $((1000 + p)) get-small,list --stored "$keys" --list-pages 300 | sed "s/^/| $p /" |
      tee -a "$dir/pairs"
  done
done

echo
pages pages "$list_rounds" "$list_pages" "$keys" "$versions" | tee "$dir/pages"

# Summary: min / median / max of ops/s and of server CPU per op, per phase and side.
echo
echo "| phase | plain ops/s min / med / max | ver ops/s min / med / max | ver/plain (medians) | plain CPU ms/op min / med / max | ver CPU ms/op min / med / max | ver/plain CPU (medians) |"
echo "|---|---|---|---:|---|---|---:|"
for phase in put-small get-small list; do
  python3 - "$dir/pairs" "$phase" <<'EOF'
import statistics, sys
rows = [[c.strip() for c in l.split("|")[1:-1]] for l in open(sys.argv[1])]
phase = sys.argv[2]
def side(b, col):
    return sorted(float(r[col]) for r in rows if r[1] == b and r[2].startswith(phase))
f = lambda v, d: " / ".join(f"{x:.{d}f}" for x in (v[0], statistics.median(v), v[-1]))
po, vo, pc, vc = side("plain", 5), side("ver", 5), side("plain", 9), side("ver", 9)
print(f"| {phase} | {f(po, 0)} | {f(vo, 0)} | {statistics.median(vo) / statistics.median(po):.2f} "
      f"| {f(pc, 3)} | {f(vc, 3)} | {statistics.median(vc) / statistics.median(pc):.2f} |")
EOF
done
echo
echo "| put-small, per PUT (median over the pairs) | plain | ver | ver − plain |"
echo "|---|---:|---:|---:|"
python3 - "$dir/io" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
med = lambda b, i: statistics.median(int(r[i]) for r in rows if r[0] == b)
for name, i in (("bytes written (wchar)", 1), ("bytes read (rchar)", 2)):
    p, v = med("plain", i), med("ver", i)
    print(f"| {name} | {p:.0f} | {v:.0f} | {v - p:.0f} |")
EOF
echo
echo "| page | p50 ms min / med / max | server CPU ms/page min / med / max | median p50 against ListObjectsV2 of plain |"
echo "|---|---|---|---:|"
python3 - "$dir/pages" <<'EOF'
import statistics, sys
rows = [[c.strip() for c in l.split("|")[1:-1]] for l in open(sys.argv[1]) if l.startswith("| ") and l[2].isdigit()]
base = None
for name in sorted({r[1] for r in rows}, key=lambda n: ("Versions" in n, "ver" in n)):
    ms = sorted(float(r[4]) for r in rows if r[1] == name)
    cpu = sorted(float(r[6]) for r in rows if r[1] == name)
    base = base or statistics.median(ms)
    print(f"| {name} | {ms[0]:.2f} / {statistics.median(ms):.2f} / {ms[-1]:.2f} "
          f"| {cpu[0]:.2f} / {statistics.median(cpu):.2f} / {cpu[-1]:.2f} "
          f"| {statistics.median(ms) / base:.2f} |")
EOF
echo "meta.redb $(($(stat -c %s "$dir/d/meta.redb") >> 20)) MiB at the end; data in $dir"
