#!/usr/bin/env bash
# Measures gatehouse and NFS-Ganesha (Debian's nfs-ganesha + nfs-ganesha-vfs, exporting a local
# directory) with the same NFSv3 client (`cargo bench --bench nfs`) in one run, alternately
# (gatehouse, ganesha, gatehouse, ganesha, ... ROUNDS times), and prints Markdown for
# docs/BENCHMARKS.md. Needs root: everything runs in a private network namespace ($NS, default
# ghbench) with its own rpcbind, which Ganesha needs; the namespace is deleted at the end.
#
#   benches/nfs_compare.sh [bench args...]        e.g. --size-mib 256 --files 2000 --stable file_sync
#
# CLIENT=libnfs: instead of the bench, Debian's libnfs `nfs-cp` (several READs/WRITEs in flight,
# as a real client keeps them) copies a ${LIBNFS_MIB:-1024} MiB file of random bytes in and out of each
# server; the bytes are compared. Bench args are ignored then.
#
# Environment: GH_BIN (the gatehouse binary to measure; default: build this tree's release
# binary), BENCH_BIN (the bench binary; default: build it), GH_BASE (a second gatehouse binary,
# e.g. the one before a change, measured as `gatehouse-base` in every round too),
# GH_ASYNC=1 (also measure a gatehouse with `nfs.async: true`), BENCH_DIR (data of both servers, default /var/tmp/gh-nfs-bench: keep it on the
# disk you want to measure, not tmpfs), ROUNDS (default 2), NS, KEEP=1 (keep BENCH_DIR),
# CARGO_TARGET_DIR. Raw output of every run goes to $BENCH_DIR.logs/.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "needs root (network namespace, rpcbind, ganesha)" >&2; exit 1; }

NS=${NS:-ghbench}
dir=${BENCH_DIR:-/var/tmp/gh-nfs-bench}
logs="$dir.logs"
rounds=${ROUNDS:-2}
gh_s3=19000 gh_admin=19001 gh_nfs=19002 # gatehouse: NFS and MOUNT share one port
ga_s3=19010 ga_admin=19011 ga_nfs=19012 # gatehouse with nfs.async: true (GH_ASYNC=1)
gb_s3=19020 gb_admin=19021 gb_nfs=19022 # the GH_BASE gatehouse
gn_nfs=12049 gn_mnt=12050               # ganesha: two ports

# (a) Ganesha, its VFS FSAL and rpcbind.
if ! command -v ganesha.nfsd >/dev/null || ! command -v rpcbind >/dev/null ||
  ! dpkg -s nfs-ganesha-vfs >/dev/null 2>&1; then
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q nfs-ganesha nfs-ganesha-vfs rpcbind >/dev/null
fi
if pgrep -x rpcbind >/dev/null; then
  # Our rpcbind shares /run/rpcbind.sock and its lock file with the host's.
  echo "an rpcbind is already running; stop it first (this script starts its own in $NS)" >&2
  exit 1
fi

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
if [ -z "${GH_BIN:-}" ]; then
  cargo build --release -q
fi
gh=${GH_BIN:-$CARGO_TARGET_DIR/release/gatehouse}
bench=${BENCH_BIN:-}
if [ -z "$bench" ]; then
  bench=$(cargo bench --bench nfs --no-run --message-format=json 2>/dev/null |
    grep -o '"executable":"[^"]*/deps/nfs-[^"]*"' | tail -1 | cut -d'"' -f4)
fi
[ -x "$bench" ] || { echo "bench binary not found" >&2; exit 1; }

rm -rf "$dir" "$logs"
mkdir -p "$dir/gatehouse" "$dir/ganesha/export" "$logs" /var/run/ganesha
# nsenter execs the command: `$ns_exec cmd &` leaves the command's own pid in $!.
ns_exec="nsenter --net=/run/netns/$NS"
in_ns() { $ns_exec "$@"; }

rpcbind_pid= ganesha_pid= gh_pid= ga_pid= gb_pid=
teardown() {
  for p in $gh_pid $ga_pid $gb_pid $ganesha_pid $rpcbind_pid; do kill "$p" 2>/dev/null || true; done
  for p in $gh_pid $ga_pid $gb_pid $ganesha_pid $rpcbind_pid; do wait "$p" 2>/dev/null || true; done
  ip netns del "$NS" 2>/dev/null || true
  [ "${KEEP:-}" = 1 ] || rm -rf "$dir"
}
trap teardown EXIT
trap 'exit 1' INT TERM HUP PIPE

# (b) Namespace, rpcbind, Ganesha.
ip netns del "$NS" 2>/dev/null || true
ip netns add "$NS"
ip -n "$NS" link set lo up
$ns_exec rpcbind -f -w &
rpcbind_pid=$!
for _ in $(seq 50); do in_ns rpcinfo -p 127.0.0.1 >/dev/null 2>&1 && break; sleep 0.1; done

cat >"$dir/ganesha/ganesha.conf" <<EOF
NFS_CORE_PARAM {
    NFS_Port = $gn_nfs;
    MNT_Port = $gn_mnt;
    Protocols = 3;
    Enable_NLM = false;
    Enable_RQUOTA = false;
    # NFSv3 MOUNT by the Pseudo path (/export) rather than the directory's real path.
    Mount_Path_Pseudo = true;
}
NFSv4 { Graceless = true; }
EXPORT {
    Export_Id = 1;
    Path = $dir/ganesha/export;
    Pseudo = /export;
    Protocols = 3;
    Transports = TCP;
    Access_Type = RW;
    Squash = No_Root_Squash;
    SecType = sys;
    FSAL { Name = VFS; }
}
EOF
# The dbus errors in its log are harmless (no system bus here; only the admin interface needs it).
$ns_exec ganesha.nfsd -F -f "$dir/ganesha/ganesha.conf" -L "$logs/ganesha.log" -p "$dir/ganesha/pid" \
  >"$logs/ganesha.out" 2>&1 &
ganesha_pid=$!
registered() { # NFS v3 and MOUNT v3 over TCP on their ports
  in_ns rpcinfo -p 127.0.0.1 2>/dev/null | awk -v n="$gn_nfs" -v m="$gn_mnt" '
    $2 == 3 && $3 == "tcp" && $4 == n && $5 == "nfs" { a = 1 }
    $2 == 3 && $3 == "tcp" && $4 == m && $5 == "mountd" { b = 1 }
    END { exit !(a && b) }'
}
# Wait for the end of its start-up first: rpcbind -w restores the previous run's registrations,
# which Ganesha replaces while it starts.
for _ in $(seq 300); do
  grep -q 'NFS SERVER INITIALIZED' "$logs/ganesha.log" 2>/dev/null && registered && break
  sleep 0.1
done
registered || { echo "ganesha did not start:"; tail "$logs/ganesha.log"; exit 1; }

# (c) gatehouse, one share, 127.0.0.1 a peer of the admin user (so the bench may write). With
# GH_ASYNC=1 a second gatehouse runs with `nfs.async: true` too (metadata durable within 100 ms,
# like knfsd's `async` export option; Ganesha's VFS backend does not sync metadata either).
start_gh() { # $1 name, $2 s3 port, $3 admin port, $4 nfs port, $5 extra config, $6 binary; echoes the pid
  local name=$1 s3=$2 admin=$3 nfs=$4 bin=${6:-$gh} pid
  mkdir -p "$dir/$name"
  printf 's3:\n  max_size: 1Ti\n%b' "$5" >"$dir/$name.yaml"
  $ns_exec "$bin" serve --config "$dir/$name.yaml" --data-dir "$dir/$name" \
    --s3-listen "127.0.0.1:$s3" --admin-listen "127.0.0.1:$admin" --nfs-listen "127.0.0.1:$nfs" \
    >"$logs/$name.log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do
    grep -q aws_secret_access_key "$dir/$name/admin.credentials" 2>/dev/null &&
      [ "$(in_ns curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$admin/")" != 000 ] && break
    sleep 0.1
  done
  in_ns "$gh" --server "http://127.0.0.1:$admin" --data-dir "$dir/$name" share create bench >/dev/null
  in_ns "$gh" --server "http://127.0.0.1:$admin" --data-dir "$dir/$name" peer add 127.0.0.1 admin >/dev/null
  echo "$pid"
}
gh_pid=$(start_gh gatehouse $gh_s3 $gh_admin $gh_nfs "")
if [ "${GH_ASYNC:-}" = 1 ]; then
  ga_pid=$(start_gh gatehouse-async $ga_s3 $ga_admin $ga_nfs 'nfs:\n  async: true\n')
fi
if [ -n "${GH_BASE:-}" ]; then
  gb_pid=$(start_gh gatehouse-base $gb_s3 $gb_admin $gb_nfs "" "$GH_BASE")
fi

# (d) The runs, alternately.
rows=()
libnfs_src="$dir/libnfs-src.bin"
if [ "${CLIENT:-}" = libnfs ]; then
  command -v nfs-cp >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q libnfs-utils >/dev/null
  head -c "$((${LIBNFS_MIB:-1024} << 20))" /dev/urandom >"$libnfs_src"
fi
# `nfs-cp` in and out of one server: prints the bench's kind of result table.
libnfs_run() { # $1 label, $2 round, $3 nfs port, $4 mount port, $5 export
  local url="nfs://127.0.0.1$5/libnfs-$1-$2.bin?nfsport=$3&mountport=$4&version=3" t0 t1 t2 mib
  mib=${LIBNFS_MIB:-1024}
  t0=$(date +%s.%N)
  in_ns nfs-cp "$libnfs_src" "$url" >/dev/null
  t1=$(date +%s.%N)
  in_ns nfs-cp "$url" "$dir/libnfs-back.bin" >/dev/null
  t2=$(date +%s.%N)
  cmp -s "$libnfs_src" "$dir/libnfs-back.bin" || { echo "$1: bytes differ after nfs-cp" >&2; exit 1; }
  rm -f "$dir/libnfs-back.bin"
  echo "| server | nfs-cp in (MB/s) | nfs-cp out (MB/s) |"
  awk -v l="$1" -v m="$mib" -v a="$t0" -v b="$t1" -v c="$t2" \
    'BEGIN { printf "| %s | %.0f | %.0f |\n", l, m * 1.048576 / (b - a), m * 1.048576 / (c - b) }'
}
run() { # $1 label, $2 round, $3 pid, then bench args
  local label=$1 round=$2 pid=$3 log
  shift 3
  log="$logs/$label-$round.txt"
  sync
  sleep 2
  echo "== $label round $round" >&2
  if [ "${CLIENT:-}" = libnfs ]; then
    # bench args: --nfs-port N --mount-port M --export E
    libnfs_run "$label" "$round" "$2" "$4" "$6" | tee "$log" >&2
  else
    in_ns "$bench" --host 127.0.0.1 --label "$label" --server-pid "$pid" "$@" | tee "$log" >&2
  fi
  rows+=("$(tail -1 "$log" | sed "s/^| $label |/| $label | $round |/")")
}
for r in $(seq "$rounds"); do
  run gatehouse "$r" "$gh_pid" --nfs-port "$gh_nfs" --mount-port "$gh_nfs" --export /bench "$@"
  if [ -n "$ga_pid" ]; then
    run gatehouse-async "$r" "$ga_pid" --nfs-port "$ga_nfs" --mount-port "$ga_nfs" --export /bench "$@"
  fi
  if [ -n "$gb_pid" ]; then
    run gatehouse-base "$r" "$gb_pid" --nfs-port "$gb_nfs" --mount-port "$gb_nfs" --export /bench "$@"
  fi
  run ganesha "$r" "$ganesha_pid" --nfs-port "$gn_nfs" --mount-port "$gn_mnt" --export /export "$@"
done

# (e) Peak RSS of both servers over all the runs.
hwm() { awk '/VmHWM/{printf "%.1f MiB", $2/1024}' "/proc/$1/status"; }
gh_hwm=$(hwm "$gh_pid")
ga_hwm=
[ -n "$ga_pid" ] && ga_hwm=", gatehouse-async $(hwm "$ga_pid")"
[ -n "$gb_pid" ] && ga_hwm="$ga_hwm, gatehouse-base $(hwm "$gb_pid")"
gn_hwm=$(hwm "$ganesha_pid")

# (f) Markdown.
if [ "${CLIENT:-}" = libnfs ]; then
  client_desc="libnfs \`nfs-cp\` $(dpkg-query -W -f='${Version}' libnfs-utils) of ${LIBNFS_MIB:-1024} MiB of random bytes in and out, compared"
else
  client_desc="\`cargo bench --bench nfs${*:+ -- $*}\` (nfs3_client, one TCP connection, one request in flight)"
fi
head_row=$(sed -n '/^| server |/p' "$logs/gatehouse-1.txt" | sed 's/^| server |/| server | round |/')
fs=$(df -hT "$dir" | awk 'NR==2{print $1" "$2" ("$3")"}')
echo
echo "## NFSv3: gatehouse next to NFS-Ganesha ($(date -u +%Y-%m-%d), git $(git rev-parse --short HEAD))"
echo
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "$(free -g | awk '/Mem:/{print $2}') GiB RAM, data on $fs, kernel $(uname -r)." \
  "gatehouse $("$gh" --version | awk '{print $2}') (release build), NFS-Ganesha" \
  "$(dpkg-query -W -f='${Version}' nfs-ganesha) (FSAL_VFS). Client: $client_desc," \
  "both servers in one network namespace, loopback."
echo
echo "$head_row"
echo "|---|---:|$(printf -- '---:|%.0s' $(seq $(($(tr -cd '|' <<<"$head_row" | wc -c) - 3))))"
printf '%s\n' "${rows[@]}"
echo
# Per phase: mean (min / median / max) of each server over the rounds, the ratio of the means
# to Ganesha's, and in how many rounds each gatehouse beat the Ganesha run of its round (lower
# is better for `*-cpu` and `readdirplus`).
if [ "${CLIENT:-}" != libnfs ]; then
  echo "| phase | server | mean | min / median / max | × Ganesha (means) | rounds won |"
  echo "|---|---|---:|---:|---:|---:|"
  cat "$logs"/*-[0-9]*.txt | awk -v rounds="$rounds" '
    $1 == "result" { v[$2, $3, ++n[$2, $3]] = $4; unit[$3] = $5; if (!seen[$3]++) order[++np] = $3
                     if (!lab[$2]++) labels[++nl] = $2 }
    function sortv(a, k,   i, j, t) { for (i = 2; i <= k; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t } }
    END {
      for (p = 1; p <= np; p++) {
        ph = order[p]; lower = (ph ~ /cpu$/ || ph == "readdirplus")
        gm = 0; for (r = 1; r <= n["ganesha", ph]; r++) gm += v["ganesha", ph, r]; if (n["ganesha", ph]) gm /= n["ganesha", ph]
        for (l = 1; l <= nl; l++) {
          lb = labels[l]; k = n[lb, ph]; if (!k) continue
          s = 0; delete a; for (r = 1; r <= k; r++) { a[r] = v[lb, ph, r]; s += a[r] }
          m = s / k; sortv(a, k); med = (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
          won = "-"
          if (lb != "ganesha") { w = 0; for (r = 1; r <= k; r++) { x = v[lb, ph, r]; y = v["ganesha", ph, r]; if ((lower && x < y) || (!lower && x > y)) w++ }; won = w "/" k }
          ratio = (lb != "ganesha" && gm > 0) ? sprintf("%.2f", m / gm) : "-"
          printf "| %s (%s) | %s | %.1f | %.1f / %.1f / %.1f | %s | %s |\n", ph, unit[ph], lb, m, a[1], med, a[k], ratio, won
        }
      }
    }'
  echo
fi
echo "Peak RSS (VmHWM) over all rounds: gatehouse $gh_hwm$ga_hwm, ganesha $gn_hwm."
echo
if [ "${CLIENT:-}" != libnfs ]; then
  echo "WRITE replies (\`committed\`):"
  grep -h 'committed=' "$logs"/*-1.txt | sed 's/^info /- /'
fi
