#!/usr/bin/env bash
# POSIX conformance of gatehouse next to NFS-Ganesha (Debian's nfs-ganesha + nfs-ganesha-vfs),
# both through the same FUSE NFSv3 client, with the same suite. Measurement, not a CI test:
# it prints what fails where and exits 0 whatever the counts.
#
#   tests/posix/run.sh [PATTERN...]     (PATTERN: pjdfstest test-name filters, e.g. link utimensat)
#
# Needs root. Everything runs in a private network and mount namespace made by this script
# (unshare): a loopback-only network, a private tmpfs on /run (so our rpcbind's socket and lock
# file never meet the host's or another bench's), the FUSE mounts. Nothing outlives the run.
#
# Tools (built outside the repository: see docs/POSIX.md for where they come from and how):
#   FUSE_NFS   fuse-nfs binary (libnfs + libfuse2), default /var/tmp/posix/tools/fuse-nfs/fuse-nfs
#   PJDFSTEST  pjdfstest binary (crates.io `pjdfstest` 0.2.2, the Rust rewrite), default
#              /var/tmp/posix/tools/pjd/bin/pjdfstest (installed there with cargo when missing)
# Environment: GATEHOUSE (server binary, default $CARGO_TARGET_DIR/debug/gatehouse, else
# target/debug/gatehouse), OUT (results, default /var/tmp/posix/results), SERVERS (default
# "gatehouse ganesha"), FUSE_PERMS (1 = fuse-nfs's default `default_permissions`, the kernel
# checks modes; 0 = the server alone decides), NAPTIME (pjdfstest's sleep between a change and its
# check, default 0.001 s), MODULE_TIMEOUT (seconds per syscall module, default 600), KEEP=1,
# CLIENT_OPTS (more fuse-nfs options; "-T 0 -E 0 -N 0 -q" turns off the kernel's attribute and
# entry caches and shows the server's inode numbers, so two names of one file are one inode to
# the kernel too: the "uncached" run of docs/POSIX.md).
#
# Output in $OUT: <server>.tsv (test<TAB>ok|FAILED|skipped|TIMEOUT), <server>/<module>.log (the
# suite's own output with each failure's message), and summary.md: counts per server, then every
# test failing on gatehouse but passing on Ganesha, grouped by syscall, with gatehouse's message.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "needs root (namespaces, rpcbind, ganesha, FUSE)" >&2; exit 1; }

FUSE_NFS=${FUSE_NFS:-/var/tmp/posix/tools/fuse-nfs/fuse-nfs}
PJDFSTEST=${PJDFSTEST:-/var/tmp/posix/tools/pjd/bin/pjdfstest}
if [ -z "${GATEHOUSE:-}" ]; then
  GATEHOUSE=$PWD/target/debug/gatehouse
  [ -n "${CARGO_TARGET_DIR:-}" ] && GATEHOUSE=$CARGO_TARGET_DIR/debug/gatehouse
fi
OUT=${OUT:-/var/tmp/posix/results}
SERVERS=${SERVERS:-gatehouse ganesha}
FUSE_PERMS=${FUSE_PERMS:-1}
NAPTIME=${NAPTIME:-0.001}
MODULE_TIMEOUT=${MODULE_TIMEOUT:-600}
CLIENT_OPTS=${CLIENT_OPTS:-}

# (0) Re-enter in private namespaces.
if [ -z "${GH_POSIX_INNER:-}" ]; then
  if [ ! -x "$PJDFSTEST" ] && [ "$PJDFSTEST" = /var/tmp/posix/tools/pjd/bin/pjdfstest ]; then
    dpkg -s libacl1-dev >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -q libacl1-dev >/dev/null
    CARGO_TARGET_DIR=/var/tmp/posix/pjd-target cargo install -q --locked --root /var/tmp/posix/tools/pjd \
      pjdfstest --version 0.2.2
  fi
  for t in "$FUSE_NFS" "$PJDFSTEST" "$GATEHOUSE"; do
    [ -x "$t" ] || { echo "missing tool: $t (see docs/POSIX.md)" >&2; exit 1; }
  done
  if ! command -v ganesha.nfsd >/dev/null || ! dpkg -s nfs-ganesha-vfs >/dev/null 2>&1 ||
    ! command -v rpcbind >/dev/null; then
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q nfs-ganesha nfs-ganesha-vfs rpcbind >/dev/null
  fi
  # pjdfstest switches to these two users for its permission cases.
  id tests >/dev/null 2>&1 || useradd -M -s /usr/sbin/nologin -U tests
  export GH_POSIX_INNER=1 FUSE_NFS PJDFSTEST GATEHOUSE OUT SERVERS FUSE_PERMS NAPTIME MODULE_TIMEOUT \
    CLIENT_OPTS
  exec unshare --net --mount --propagation private -- bash "$0" "$@"
fi

ip link set lo up
mount -t tmpfs -o mode=755 posix-run /run
mkdir -p /run/ganesha /run/rpcbind
work=/var/tmp/posix/work
rm -rf "$work" "$OUT"
mkdir -p "$work" "$OUT"
# Ganesha keeps NFSv4 recovery state here; a private copy keeps other Ganesha runs out of ours.
mkdir -p /var/lib/nfs/ganesha "$work/ganesha-lib"
mount --bind "$work/ganesha-lib" /var/lib/nfs/ganesha

pids=()
mnts=()
teardown() {
  for m in "${mnts[@]}"; do umount -l "$m" 2>/dev/null || true; done
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ "${KEEP:-}" = 1 ] || rm -rf "$work"
}
trap teardown EXIT
trap 'exit 1' INT TERM HUP PIPE

# (a) rpcbind (Ganesha registers with it), under its own process name so that another script's
# `pgrep -x rpcbind` on the host does not take it for the host's.
cp "$(command -v rpcbind)" "$work/rpcbind-posix"
"$work/rpcbind-posix" -f &
pids+=($!)
for _ in $(seq 50); do rpcinfo -p 127.0.0.1 >/dev/null 2>&1 && break; sleep 0.1; done

gn_nfs=12149 gn_mnt=12150
gh_s3=19100 gh_admin=19101 gh_nfs=19102

start_ganesha() {
  mkdir -p "$work/ganesha/export"
  cat >"$work/ganesha/ganesha.conf" <<EOF
NFS_CORE_PARAM {
    NFS_Port = $gn_nfs;
    MNT_Port = $gn_mnt;
    Protocols = 3;
    Enable_NLM = false;
    Enable_RQUOTA = false;
    Mount_Path_Pseudo = true;
}
NFSv4 { Graceless = true; }
EXPORT {
    Export_Id = 1;
    Path = $work/ganesha/export;
    Pseudo = /export;
    Protocols = 3;
    Transports = TCP;
    Access_Type = RW;
    Squash = No_Root_Squash;
    SecType = sys;
    FSAL { Name = VFS; }
}
EOF
  ganesha.nfsd -F -f "$work/ganesha/ganesha.conf" -L "$OUT/ganesha.server.log" -p "$work/ganesha/pid" \
    >"$work/ganesha.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 300); do
    grep -q 'NFS SERVER INITIALIZED' "$OUT/ganesha.server.log" 2>/dev/null &&
      rpcinfo -p 127.0.0.1 2>/dev/null | grep -q " $gn_mnt  mountd" && return 0
    sleep 0.1
  done
  echo "ganesha did not start" >&2
  tail "$OUT/ganesha.server.log" >&2
  return 1
}

start_gatehouse() {
  # One share; 127.0.0.1 (the FUSE client's address) is the admin's peer, so it may write.
  mkdir -p "$work/gatehouse"
  printf 's3:\n  max_size: 64Gi\n' >"$work/gatehouse.yaml"
  RUST_LOG=${RUST_LOG:-warn} "$GATEHOUSE" serve --config "$work/gatehouse.yaml" --data-dir "$work/gatehouse" \
    --s3-listen "127.0.0.1:$gh_s3" --admin-listen "127.0.0.1:$gh_admin" --nfs-listen "127.0.0.1:$gh_nfs" \
    >"$OUT/gatehouse.server.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 600); do
    grep -q aws_secret_access_key "$work/gatehouse/admin.credentials" 2>/dev/null &&
      [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$gh_admin/")" != 000 ] && break
    sleep 0.1
  done
  local cli=("$GATEHOUSE" --server "http://127.0.0.1:$gh_admin" --data-dir "$work/gatehouse")
  "${cli[@]}" share create posix >/dev/null
  "${cli[@]}" peer add 127.0.0.1 admin >/dev/null
}

url_of() {
  case $1 in
  gatehouse) echo "nfs://127.0.0.1/posix?nfsport=$gh_nfs&mountport=$gh_nfs&version=3" ;;
  ganesha) echo "nfs://127.0.0.1/export?nfsport=$gn_nfs&mountport=$gn_mnt&version=3" ;;
  esac
}

fuse_pid=
mount_fuse() { # $1 server, $2 mount point
  mkdir -p "$2"
  # -o: each call carries the calling process's uid/gid (AUTH_SYS), as a kernel client would;
  # pjdfstest switches users for its permission cases. fuse-nfs runs in the foreground (-f).
  # shellcheck disable=SC2086 # CLIENT_OPTS is a list of options
  "$FUSE_NFS" -n "$(url_of "$1")" -m "$2" -o -p "$FUSE_PERMS" $CLIENT_OPTS >>"$OUT/$1.fuse.log" 2>&1 &
  fuse_pid=$!
  pids+=("$fuse_pid")
  mnts+=("$2")
  for _ in $(seq 100); do
    grep -q " $2 fuse" /proc/mounts && return 0
    kill -0 "$fuse_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "fuse-nfs did not mount $1" >&2
  cat "$OUT/$1.fuse.log" >&2
  return 1
}
unmount_fuse() { # $1 mount point: also aborts a hung connection
  local dev
  dev=$(stat -c %d "$1" 2>/dev/null || true)
  umount "$1" 2>/dev/null || {
    [ -n "$dev" ] && [ -e "/sys/fs/fuse/connections/$dev/abort" ] && echo 1 >"/sys/fs/fuse/connections/$dev/abort"
    umount -l "$1" 2>/dev/null || true
  }
  kill "$fuse_pid" 2>/dev/null || true
  wait "$fuse_pid" 2>/dev/null || true
}

cat >"$work/pjdfstest.toml" <<EOF
[features]
posix_fallocate = {}
utimensat = {}
utime_now = {}
rename_ctime = {}
[settings]
naptime = $NAPTIME
allow_remount = false
[dummy_auth]
entries = [["nobody", "nogroup"], ["tests", "tests"]]
EOF

# Each syscall module in its own run with a time bound, so a hang costs one module, not the run.
modules=(chmod chown ftruncate link mkdir mkfifo mknod open posix_fallocate rename rmdir
  symlink truncate unlink utimensat)
patterns=("$@")

run_server() { # $1 server
  local s=$1 mnt="$work/mnt-$1" m rc
  mkdir -p "$OUT/$s"
  mount_fuse "$s" "$mnt"
  # NAME_MAX as the suite sees it (pathconf = statfs f_namelen, which fuse-nfs takes from libnfs).
  stat -f -c %l "$mnt" >"$OUT/$s.namemax"
  for m in "${modules[@]}"; do
    local args=("$m")
    if [ ${#patterns[@]} -gt 0 ]; then
      args=()
      for p in "${patterns[@]}"; do case $p in "$m" | "$m"::*) args+=("$p") ;; esac; done
      [ ${#args[@]} -gt 0 ] || continue
    fi
    # Patterns are prefix-anchored to the module (`link` must not also run `symlink::...`).
    # The suite matches substrings of its full names (pjdfstest::tests::MODULE::case).
    local filt=()
    for a in "${args[@]}"; do case $a in *::*) filt+=("tests::$a") ;; *) filt+=("tests::$a::") ;; esac; done
    echo "== $s $m" >&2
    rc=0
    NO_COLOR=1 timeout -k 5 "$MODULE_TIMEOUT" "$PJDFSTEST" -c "$work/pjdfstest.toml" -p "$mnt" \
      "${filt[@]}" >"$OUT/$s/$m.log" 2>&1 || rc=$?
    sed -i 's/\x1b\[[0-9;]*m//g' "$OUT/$s/$m.log"
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
      echo "$m::(module) TIMEOUT" >>"$OUT/$s/$m.log"
      unmount_fuse "$mnt"
      mount_fuse "$s" "$mnt"
    elif ! kill -0 "$fuse_pid" 2>/dev/null || ! stat "$mnt" >/dev/null 2>&1; then
      echo "$m::(module) CLIENT-DIED" >>"$OUT/$s/$m.log"
      unmount_fuse "$mnt"
      mount_fuse "$s" "$mnt"
    fi
  done
  unmount_fuse "$mnt"
  # test<TAB>result, one line per test case.
  cat "$OUT/$s"/*.log | awk '$1 ~ /::/ && NF == 2 && $2 ~ /^(ok|FAILED|skipped|TIMEOUT|CLIENT-DIED)$/ {
      print $1 "\t" $2 }' | sort >"$OUT/$s.tsv"
}

for s in $SERVERS; do
  case $s in
  gatehouse) start_gatehouse ;;
  ganesha) start_ganesha ;;
  *) echo "unknown server $s" >&2; exit 1 ;;
  esac
  run_server "$s"
done

# (b) Summary.
failure_of() { # $1 server, $2 test: the suite's message for that failure (first line)
  local m=${2%%::*}
  awk -v t="$2" '$1 == t && $2 == "FAILED" { getline; sub(/^\t/, ""); print; exit }' "$OUT/$1/$m.log"
}
{
  echo "# POSIX suite: $(for s in $SERVERS; do printf '%s ' "$s"; done)($(date -u '+%Y-%m-%d %H:%M UTC'))"
  echo
  echo "gatehouse $("$GATEHOUSE" --version | awk '{print $2}') (git $(git rev-parse --short HEAD 2>/dev/null || echo '?')," \
    "$GATEHOUSE), NFS-Ganesha $(dpkg-query -W -f='${Version}' nfs-ganesha) (FSAL_VFS on" \
    "$(df -T "$work" | awk 'NR==2{print $2}')), client: fuse-nfs (libnfs $(dpkg-query -W -f='${Version}' libnfs13))" \
    "default_permissions=$FUSE_PERMS${CLIENT_OPTS:+, options $CLIENT_OPTS}, NAME_MAX seen through it:" \
    "$(for s in $SERVERS; do printf '%s %s, ' "$s" "$(cat "$OUT/$s.namemax")"; done)suite: $("$PJDFSTEST" --version 2>/dev/null || echo pjdfstest), naptime $NAPTIME s."
  echo
  echo "| server | passed | failed | skipped | timed out / client died | total |"
  echo "|---|---:|---:|---:|---:|---:|"
  for s in $SERVERS; do
    awk -F'\t' -v s="$s" '{ n[$2]++; t++ } END {
      printf "| %s | %d | %d | %d | %d | %d |\n", s, n["ok"], n["FAILED"], n["skipped"],
        n["TIMEOUT"] + n["CLIENT-DIED"], t }' "$OUT/$s.tsv"
  done
  if [ -f "$OUT/gatehouse.tsv" ] && [ -f "$OUT/ganesha.tsv" ]; then
    join -t $'\t' "$OUT/gatehouse.tsv" "$OUT/ganesha.tsv" >"$OUT/both.tsv"
    awk -F'\t' '$2 != "ok" && $2 != "skipped" && $3 == "ok" { print $1 }' "$OUT/both.tsv" >"$OUT/gh-only-failures.txt"
    awk -F'\t' '$2 == "ok" && $3 != "ok" && $3 != "skipped" { print $1 }' "$OUT/both.tsv" >"$OUT/ganesha-only-failures.txt"
    echo
    echo "## Failing on gatehouse, passing on Ganesha ($(wc -l <"$OUT/gh-only-failures.txt"))"
    cut -d: -f1 "$OUT/gh-only-failures.txt" | uniq | while read -r g; do
      echo
      echo "### $g ($(grep -c "^$g::" "$OUT/gh-only-failures.txt"))"
      echo
      grep "^$g::" "$OUT/gh-only-failures.txt" | while read -r t; do
        echo "- \`$t\`: $(failure_of gatehouse "$t" | cut -c1-300)"
      done
    done
    echo
    echo "## Failing on Ganesha, passing on gatehouse ($(wc -l <"$OUT/ganesha-only-failures.txt"))"
    echo
    while read -r t; do
      echo "- \`$t\`: $(failure_of ganesha "$t" | cut -c1-300)"
    done <"$OUT/ganesha-only-failures.txt"
    echo
    echo "## Failing on both ($(awk -F'\t' '$2 == "FAILED" && $3 == "FAILED"' "$OUT/both.tsv" | wc -l))"
    echo
    echo "With each server's message where they differ (a different reason can hide a gatehouse bug)."
    echo
    awk -F'\t' '$2 == "FAILED" && $3 == "FAILED" { print $1 }' "$OUT/both.tsv" | while read -r t; do
      a=$(failure_of gatehouse "$t" | cut -c1-200)
      b=$(failure_of ganesha "$t" | cut -c1-200)
      if [ "$a" = "$b" ]; then echo "- \`$t\`: $a"; else echo "- \`$t\`: gatehouse: $a; Ganesha: $b"; fi
    done
  fi
} >"$OUT/summary.md"
cat "$OUT/summary.md"
