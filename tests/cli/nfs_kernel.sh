#!/usr/bin/env bash
# The real Linux kernel NFS client against a real gatehouse binary (issue 18, "Tests"):
#
#   tests/cli/nfs_kernel.sh PATH-TO-GATEHOUSE
#
# Starts the server on free ports, creates share `kc` (quota 32 MiB) and share `kc2`, makes
# 127.0.0.1 the admin's NFS peer (the VM's connections arrive from there), and mounts `kc` with
# the kernel client of Debian 12's kernel in a qemu VM (../shared/tools/nfs-kclient-vm.sh, or
# $KCLIENT_VM). In the guest this same file runs with `--guest`: one bounded script that does what
# people do on a mounted share (ln, mkfifo, a Unix socket, mknod, touch -a/-m, chmod/chown and
# `stat -c %Z`, nanosecond times, mkdir, a 4,000-byte path, git, rsync, tar, two 12 MiB copies at
# once read back after a remount, df, a write past the
# quota, `gatehouse peer remove/add` on the host while mounted) and checks what the programs see:
# stat fields, contents, and the errno text where something must fail; at the end, that no
# program met an errno libc cannot name ("Unknown error 524" is NFS3ERR_NOTSUPP). Each check prints `PASS name` or `FAIL name: want/got`; a summary ends the
# run; the exit status is non-zero when any check fails. A FAIL on a stat field also shows the
# value the server gives through a second, uncached mount of the share (noac, lookupcache=none,
# nosharecache), to tell the server's answer from the client's attribute cache.
#
# Needs on the host (the guest sees the host's / read-only and runs its programs): qemu-system-x86,
# busybox-static, socat (the VM script installs them when missing), git, rsync, tar, python3,
# curl; the kernel .deb is fetched with `apt-get download` once and kept in $KCLIENT_VM_CACHE
# (default /var/tmp/gatehouse-kclient-vm; runs sharing it are serialised with flock).
#
# Time (qemu TCG: every exec in the guest is emulated and reads its program over 9p): measured
# 2026-12-05 on the 2-core dev machine at load average 6-11 (other builds running), all 100
# checks passing (main a30e190): boot and mount 15-20 s, guest checks 97-144 s (run of 10:36
# UTC, 97 s: links 14, special files 10, times 14, dirs and long paths 6, git 19, rsync 12,
# tar 5, df 5, identity change 1, errno 8), 118-166 s end to end. With many checks failing
# (more diagnostics) up to 245 s of checks were seen. The same checks on a local ext4 directory
# (no VM) take 36 s. Each section prints its start time and the last line the total. The VM is
# capped at VM_TIMEOUT (default 400 s) and .ci/run caps the step at 600 s.
set -uo pipefail

if [ "${1:-}" = --guest ]; then
  # ---------------------------------------------------------------- in the VM, as root
  set +u # a check that gets an empty value must fail, not end the run
  M=$2 PORT=$3 SHARE2=$4 QUOTA_K=$5
  export LC_ALL=C TZ=UTC
  T="$M/kt"
  ERRLOG=/tmp/kc-stderr.log
  : >"$ERRLOG"
  npass=0 nfail=0 failed=()
  t0=$EPOCHSECONDS
  pass() { echo "PASS $1"; npass=$((npass + 1)); }
  fail() { echo "FAIL $1: $2"; nfail=$((nfail + 1)); failed+=("$1"); }
  not_checked() { local why=$1 n; shift; for n in "$@"; do fail "$n" "not checked: $why"; done; }
  section() { echo "== $1 (at $((EPOCHSECONDS - t0)) s)"; }
  # The same path through the uncached view of the share (FRESH, mounted below). Not
  # drop_caches: that also drops the 9p root's cache, and every later exec then crawls.
  fp() { case "$1" in "$M"/*) echo "$FRESH/${1#"$M"/}" ;; /*) echo "$1" ;; *) echo "$FRESH/kt/$1" ;; esac; }
  # Each exec costs (emulated CPU, programs read over 9p), so bash builtins where they do, and a
  # hard bound (the kernel client's waits are killable) only around what could block or run
  # long (FIFOs, mount, git, rsync, tar, dd); the VM's own timeout bounds the rest.
  b() { timeout -s KILL 60 "$@"; }
  st() { stat -c "$1" "$2" 2>&1; }
  rd() { if [ -r "$1" ]; then printf '%s' "$(<"$1")"; else echo "cannot read $1"; fi; }
  # run NAME CMD...: the command must succeed.
  run() {
    local name=$1 out rc
    shift
    out=$("$@" 2>&1)
    rc=$?
    printf '%s\n' "$out" >>"$ERRLOG"
    if [ $rc = 0 ]; then pass "$name"; else fail "$name" "exit $rc: $(printf '%s' "$out" | tail -2 | tr '\n' ' ')"; fi
    return $rc
  }
  # fails_with NAME ERRNO-TEXT CMD...: the command must fail and say ERRNO-TEXT.
  fails_with() {
    local name=$1 want=$2 out rc
    shift 2
    out=$("$@" 2>&1 >/dev/null)
    rc=$?
    printf '%s\n' "$out" >>"$ERRLOG"
    if [ $rc != 0 ] && [[ "$out" == *"$want"* ]]; then
      pass "$name"
    else
      fail "$name" "want a failure saying '$want', got exit $rc: $(printf '%s' "$out" | tail -2 | tr '\n' ' ')"
    fi
  }
  eq() { if [ "$3" = "$2" ]; then pass "$1"; else fail "$1" "want '$2', got '$3'"; fi; }
  # eqstat NAME WANT FORMAT FILE
  eqstat() {
    local got fresh
    got=$(st "$3" "$4")
    if [ "$got" = "$2" ]; then
      pass "$1"
    else
      fresh=$(st "$3" "$(fp "$4")")
      fail "$1" "want '$2', got '$got' (uncached: '$fresh')"
    fi
  }
  # ctime_moves NAME FILE-BEFORE FILE-AFTER CMD...: CMD changes the inode, so its ctime moves to
  # now. Compared in nanoseconds (stat -c %.9Z) after a 0.2 s pause rather than whole seconds
  # after a 1 s sleep: ten of these would otherwise cost ten seconds.
  ctime_moves() {
    local name=$1 f0=$2 f1=$3 z0 z1 out rc fresh
    shift 3
    z0=$(st %.9Z "$f0")
    sleep 0.2
    out=$("$@" 2>&1)
    rc=$?
    printf '%s\n' "$out" >>"$ERRLOG"
    z1=$(st %.9Z "$f1")
    if [ $rc != 0 ]; then
      fail "$name" "the command failed (exit $rc): $(printf '%s' "$out" | tail -1)"
    elif [[ "$z0" =~ ^[0-9]+\.[0-9]{9}$ && "$z1" =~ ^[0-9]+\.[0-9]{9}$ ]] && ((10#${z1/./} > 10#${z0/./})) &&
      ((${z1%.*} >= EPOCHSECONDS - 60)); then
      pass "$name"
    else
      fresh=$(st %.9Z "$(fp "$f1")")
      fail "$name" "ctime before $z0, after $z1 (uncached: $fresh), now $EPOCHSECONDS"
    fi
  }

  rm -rf "$T" 2>/dev/null
  mkdir -p "$T" && cd "$T" || { echo "FAIL setup: cannot mkdir $T"; exit 1; }
  src= opts=
  while read -r dev mnt _ o _; do [ "$mnt" = "$M" ] && src=$dev && opts=$o; done </proc/mounts
  echo "guest: $(uname -r), mount: $src on $M ($opts)"
  NFSOPTS="vers=3,proto=tcp,port=$PORT,mountport=$PORT,mountproto=tcp,nolock,addr=10.0.2.100,mountaddr=10.0.2.100"
  FRESH=/tmp/fresh
  mkdir -p "$FRESH"
  b mount -i -t nfs -o "$NFSOPTS,nosharecache,noac,lookupcache=none" "$src" "$FRESH" ||
    { echo "FAIL setup: cannot mount $src uncached on $FRESH"; exit 1; }

  section "hard links"
  echo one >a
  if run "ln a b" ln a b; then
    eqstat "ln: stat -c %h a = 2" 2 %h a
    eq "ln: b reads what a holds" one "$(rd b)"
    eq "ln: a and b are one inode" "$(st %i a)" "$(st %i b)"
    run "rm a (one name of a link)" rm a
    eq "rm a keeps b's content" one "$(rd b)"
    eqstat "rm a: stat -c %h b = 1" 1 %h b
  else
    not_checked "ln failed" "ln: stat -c %h a = 2" "ln: b reads what a holds" "ln: a and b are one inode" \
      "rm a (one name of a link)" "rm a keeps b's content" "rm a: stat -c %h b = 1"
  fi
  echo two >c
  echo three >e
  fails_with "ln onto an existing name: File exists" "File exists" ln c e
  mkdir -p d1 d2
  echo x >d1/f
  run "ln across directories" ln d1/f d2/g
  eqstat "ln across directories: stat -c %h = 2" 2 %h d1/f
  echo keep >k1
  echo new >k3
  if ln k1 k2 2>>"$ERRLOG"; then
    run "mv a file onto one name of a link" mv k3 k2
    eq "mv onto a link: the other name keeps its content" keep "$(rd k1)"
    eq "mv onto a link: the new name holds the moved file" new "$(rd k2)"
    eqstat "mv onto a link: the other name's nlink = 1" 1 %h k1
  else
    not_checked "ln k1 k2 failed" "mv a file onto one name of a link" "mv onto a link: the other name keeps its content" \
      "mv onto a link: the new name holds the moved file" "mv onto a link: the other name's nlink = 1"
  fi
  if ln k1 k1b 2>>"$ERRLOG"; then
    run "rename(2) of a name onto another name of the same inode" python3 -c 'import os; os.rename("k1", "k1b")'
    eq "rename onto the same inode leaves both names (POSIX)" "keep keep" "$(rd k1) $(rd k1b)"
  else
    not_checked "ln k1 k1b failed" "rename(2) of a name onto another name of the same inode" \
      "rename onto the same inode leaves both names (POSIX)"
  fi
  mkdir -p /tmp/m2
  if b mount -i -t nfs -o "$NFSOPTS" "10.0.2.100:/$SHARE2" /tmp/m2 2>>"$ERRLOG"; then
    fails_with "ln across shares: Invalid cross-device link" "Invalid cross-device link" ln c /tmp/m2/c
    b umount /tmp/m2
  else
    fail "mount the second share $SHARE2" "mount failed"
  fi

  section "special files"
  run "mkfifo p" mkfifo p
  eqstat "mkfifo: stat -c %F p = fifo" fifo %F p
  eq "a FIFO carries data between two processes" hi "$(b bash -c '[ -p p ] && { cat p & echo hi >p; wait; }' 2>&1)"
  run "bind a Unix socket" python3 -c 'import socket; s=socket.socket(socket.AF_UNIX); s.bind("sock")'
  eqstat "Unix socket: stat -c %F sock = socket" socket %F sock
  run "mknod c (character device 1,3)" mknod cdev c 1 3
  eqstat "mknod c: type and rdev" "character special file 1:3" '%F %t:%T' cdev
  run "mknod b (block device 8,1)" mknod bdev b 8 1
  eqstat "mknod b: type and rdev" "block special file 8:1" '%F %t:%T' bdev
  mkfifo -m 640 p640 2>>"$ERRLOG"
  eqstat "mkfifo -m 640: mode 640" 640 %a p640
  fails_with "mkfifo onto an existing name: File exists" "File exists" mkfifo c
  eq "special files read back uncached from the server" \
    "fifo|socket|character special file 1:3|block special file 8:1" \
    "$(st %F "$(fp p)")|$(st %F "$(fp sock)")|$(st '%F %t:%T' "$(fp cdev)")|$(st '%F %t:%T' "$(fp bdev)")"

  section "times"
  echo data >f
  y0=$(st %.9Y f)
  run "touch -a -d @1000000000.5 f" touch -a -d @1000000000.5 f
  eqstat "touch -a sets atime" 1000000000.500000000 %.9X f
  eqstat "touch -a leaves mtime" "$y0" %.9Y f
  x1=$(st %.9X f)
  run "touch -m -d @1100000000.25 f" touch -m -d @1100000000.25 f
  eqstat "touch -m sets mtime" 1100000000.250000000 %.9Y f
  eqstat "touch -m leaves atime" "$x1" %.9X f
  run "touch -d with nanoseconds" touch -d '2020-01-01 00:00:00.123456789' f
  eqstat "nanoseconds kept: stat -c %y" "2020-01-01 00:00:00.123456789 +0000" %y f
  eqstat "nanoseconds kept: stat -c %x" "2020-01-01 00:00:00.123456789 +0000" %x f
  eqstat "nanoseconds kept on the server (uncached)" "2020-01-01 00:00:00.123456789 +0000" %y "$(fp f)"
  run "touch f (server time)" touch f
  m=$(st %Y f)
  now=$EPOCHSECONDS
  if [[ "$m" =~ ^[0-9]+$ ]] && [ "$m" -ge $((now - 60)) ] && [ "$m" -le $((now + 60)) ]; then
    pass "touch without -d sets mtime to now"
  else
    fail "touch without -d sets mtime to now" "mtime $m, now $now"
  fi
  ctime_moves "chmod 600 moves ctime (stat -c %Z)" f f chmod 600 f
  eqstat "chmod 600: mode" 600 %a f
  ctime_moves "chown moves ctime" f f chown 1234:1234 f
  eqstat "chown: owner" 1234:1234 %u:%g f
  ctime_moves "write moves ctime" f f bash -c 'echo more >>f'
  ctime_moves "truncate moves ctime" f f truncate -s 2 f
  ctime_moves "touch -m -d (client time) moves ctime to now" f f touch -m -d @1200000000 f
  ctime_moves "ln moves ctime" f f ln f f.l
  ctime_moves "rm of another name moves ctime" f f rm f.l
  ctime_moves "mv moves ctime" f f.moved mv f f.moved
  echo r >ra
  touch -a -d @1000000000 ra
  cat "$(fp ra)" >/dev/null # through the uncached view: its page cache is empty, so a READ is sent
  xa=$(st %X "$(fp ra)")
  if [[ "$xa" =~ ^[0-9]+$ ]] && [ "$xa" -gt 1000000000 ]; then
    pass "a read moves an atime older than mtime (relatime)"
  else
    fail "a read moves an atime older than mtime (relatime)" "atime $xa after the read"
  fi

  section "directories and long paths"
  mkdir -p dn/x dn/y
  eqstat "mkdir -p d/x d/y: stat -c %h d = 4" 4 %h dn
  rmdir dn/y
  eqstat "rmdir d/y: stat -c %h d = 3" 3 %h dn
  mv dn/x dx
  eqstat "mv d/x out: stat -c %h d = 2" 2 %h dn
  eqstat "a new directory: stat -c %h = 2" 2 %h dx
  touch dx/file
  fails_with "rmdir of a non-empty directory: Directory not empty" "Directory not empty" rmdir dx
  fails_with "mkdir onto an existing name: File exists" "File exists" mkdir dx
  name200=$(printf 'n%.0s' $(seq 197))
  rel="kt/lp"
  for i in $(seq -w 1 19); do rel="$rel/$i$name200"; done
  leaf=$(printf 'f%.0s' $(seq $((4000 - ${#rel} - 1))))
  rel="$rel/$leaf"
  echo "   (path of ${#rel} bytes from the share root)"
  if run "mkdir -p 19 levels of 200-byte names" mkdir -p "$M/${rel%/*}"; then
    run "create a file at a ${#rel}-byte path" bash -c "echo deep >'$M/$rel'"
    eq "read the ${#rel}-byte path back" deep "$(rd "$M/$rel")"
    eq "find lists the ${#rel}-byte path (uncached)" "$FRESH/$rel" "$(b find "$(fp "$T/lp")" -type f 2>&1)"
  fi
  fails_with "a 256-byte name: File name too long" "File name too long" touch "$(printf 'x%.0s' $(seq 256))"
  run "a 255-byte name" touch "$(printf 'y%.0s' $(seq 255))"

  section "git"
  mkdir -p g
  if run "git init" b git -C g init -q; then
    git -C g config user.email kclient@example.com
    git -C g config user.name kclient
    echo hello >g/README
    mkdir -p g/src
    echo 'int main(void) { return 0; }' >g/src/main.c
    run "git add" b git -C g add -A
    run "git commit" b git -C g commit -q -m one
    echo more >>g/README
    run "git commit -a (second commit)" b git -C g commit -q -a -m two
    eq "git log shows both commits" 2 "$(b git -C g log --oneline 2>&1 | wc -l)"
    eq "git status is clean" "" "$(b git -C g status --porcelain 2>&1)"
    run "git fsck" b git -C g fsck --no-progress
    run "git clone --local (hard-links objects)" b git clone -q --local g g2
    eq "the clone has both commits" 2 "$(b git -C g2 log --oneline 2>&1 | wc -l)"
  fi

  section "rsync"
  S=/tmp/rs-src
  rm -rf "$S" /tmp/rs-back
  mkdir -p "$S/sub/empty"
  echo alpha >"$S/a.txt"
  head -c 200000 /dev/urandom >"$S/sub/blob.bin"
  echo script >"$S/run.sh"
  chmod 750 "$S/run.sh"
  chmod 600 "$S/a.txt"
  ln -s a.txt "$S/link"
  ln "$S/a.txt" "$S/sub/hard"
  touch -m -d '2021-06-01 12:00:00.123456789' "$S/sub/blob.bin"
  # Directory times in another second than now: rsync compares times in whole seconds and
  # leaves a directory it created in the same second with its own time.
  find "$S" -type d -exec touch -m -d '2021-06-02 12:00:00.987654321' {} +
  # What a user compares: every name with its type, mode, size (files) and mtime, link targets.
  listing() {
    (cd "$1" && find . -type d -printf '%P %y %m %T@\n' && find . ! -type d ! -type l -printf '%P %y %m %s %T@\n' &&
      find . -type l -printf '%P -> %l\n') | sort
  }
  run "rsync -aH a tree into the share" b rsync -aH "$S/" "$T/rs/"
  run "rsync -aH it back out" b rsync -aH "$T/rs/" /tmp/rs-back/
  run "diff -r: the round trip is equal" diff -r --no-dereference "$S" /tmp/rs-back
  eq "rsync keeps types, modes, sizes and mtimes (ns)" "$(listing "$S")" "$(listing /tmp/rs-back)"
  eq "rsync -H keeps the hard link in the share" "$(st %i "$T/rs/a.txt")" "$(st %i "$T/rs/sub/hard")"
  eq "a second rsync -a finds nothing to send" "" "$(b rsync -aHi "$S/" "$T/rs/" 2>&1)"

  section "tar"
  X=/tmp/tar-src
  rm -rf "$X"
  mkdir -p "$X/sub"
  echo content >"$X/file"
  chmod 640 "$X/file"
  ln -s file "$X/sym"
  ln "$X/file" "$X/sub/hard"
  mkfifo "$X/fifo"
  touch -m -d '2019-03-04 05:06:07.890123456' "$X/file"
  tar --format=posix -cf /tmp/t.tar -C "$X" .
  mkdir -p tx
  run "tar x of a tarball with a symlink, a hard link and a FIFO" b tar -xf /tmp/t.tar -C tx
  eq "tar x: the symlink" file "$(readlink tx/sym 2>&1)"
  eq "tar x: the hard link is one inode" "$(st %i tx/file)" "$(st %i tx/sub/hard)"
  eqstat "tar x: stat -c %h = 2" 2 %h tx/file
  eq "tar x: the hard link's content" content "$(rd tx/sub/hard)"
  eq "tar x: types, modes, sizes and mtimes (ns) as in the tarball" "$(listing "$X")" "$(listing tx)"

  section "large copies (the write-back's memory windows and scratch file)"
  # Two 12 MiB files copied at once (the client keeps many 1 MiB WRITEs in flight, out of
  # order): more windows than the server holds in memory, so some wait for flushes or go to
  # its scratch file. Read back after a remount (nothing from the client's cache).
  mkdir -p /tmp/m2
  if b mount -i -t nfs -o "$NFSOPTS" "10.0.2.100:/$SHARE2" /tmp/m2 2>>"$ERRLOG"; then
    head -c 12582912 /dev/urandom >/tmp/big1
    head -c 12582912 /dev/urandom >/tmp/big2
    b cp /tmp/big1 /tmp/m2/big1 2>>"$ERRLOG" &
    cp1=$!
    b cp /tmp/big2 /tmp/m2/big2 2>>"$ERRLOG"
    rc2=$?
    wait "$cp1"
    rc1=$?
    eq "two 12 MiB copies at once: both cp succeed" "0 0" "$rc1 $rc2"
    run "umount after the copies (the client's writes flushed)" b umount /tmp/m2
    if b mount -i -t nfs -o "$NFSOPTS" "10.0.2.100:/$SHARE2" /tmp/m2 2>>"$ERRLOG"; then
      eq "two 12 MiB files copied at once read back as written" "same same" \
        "$(cmp -s /tmp/big1 /tmp/m2/big1 && echo same) $(cmp -s /tmp/big2 /tmp/m2/big2 && echo same)"
      rm -f /tmp/m2/big1 /tmp/m2/big2
      b umount /tmp/m2
    else
      fail "mount the second share $SHARE2 again" "mount failed"
    fi
    rm -f /tmp/big1 /tmp/big2
  else
    not_checked "mount of $SHARE2 failed" "two 12 MiB files copied at once read back as written"
  fi

  section "df and the quota (${QUOTA_K} KiB)"
  # (no process substitution: the guest has no /dev/fd)
  read -r size used avail <<<"$(df -k --output=size,used,avail "$M" 2>>"$ERRLOG" | tail -1)"
  echo "   df -k: size $size used $used avail $avail (block size $(stat -f -c %S "$M"))"
  if [[ "$size" =~ ^[0-9]+$ && "$avail" =~ ^[0-9]+$ ]]; then
    if [ "$size" -le "$QUOTA_K" ] && [ "$size" -ge $((QUOTA_K - 1024)) ]; then
      pass "df -k size = the share quota"
    else
      fail "df -k size = the share quota" "size $size KiB, quota $QUOTA_K KiB"
    fi
    # (No check of `used` against the few hundred KiB already here: the Linux client rounds
    # FSSTAT's bytes up to its block size, wtpref = 1 MiB, so that shows as 0. The 4 MiB
    # file below moves it.)
    if [ "$avail" -le $((QUOTA_K - used)) ] && [ "$avail" -gt 0 ]; then
      pass "df -k avail <= quota - used"
    else
      fail "df -k avail <= quota - used" "avail $avail, used $used, quota $QUOTA_K"
    fi
    run "write 4 MiB" b dd if=/dev/zero of=four bs=1M count=4 conv=fsync status=none
    read -r _ used2 avail2 <<<"$(df -k --output=size,used,avail "$M" 2>>"$ERRLOG" | tail -1)"
    if [[ "$avail2" =~ ^[0-9]+$ ]] && [ $((avail - avail2)) -ge 4000 ] && [ $((used2 - used)) -ge 4000 ]; then
      pass "df: a 4 MiB file moves used and avail by 4 MiB"
    else
      fail "df: a 4 MiB file moves used and avail by 4 MiB" "before used $used avail $avail, after used $used2 avail $avail2"
    fi
    # Only within the quota: a server that shows the disk's free space instead must not get
    # the disk filled.
    if [ "$avail2" -gt 2048 ] 2>/dev/null && [ "$avail2" -le "$QUOTA_K" ]; then
      fill=$((avail2 / 1024 - 1))
      run "a write that fits df's avail (${fill} MiB) succeeds" b dd if=/dev/zero of=fill bs=1M count=$fill conv=fsync status=none
      fails_with "a write past the quota: Disk quota exceeded" "Disk quota exceeded" \
        b dd if=/dev/zero of=over bs=1M count=4 conv=fsync status=none
      rm -f fill over four
    else
      not_checked "df's avail is $avail2 KiB, quota $QUOTA_K KiB" "a write that fits df's avail succeeds" \
        "a write past the quota: Disk quota exceeded"
    fi
  else
    fail "df -k on the mount" "got size '$size' avail '$avail'"
  fi

  section "identity change on a live mount (peer remove, peer add)"
  # The host runs `gatehouse peer remove/add 127.0.0.1` when asked through the VM's shared
  # directory (/run here): the mount and the handles it holds stay; the next call runs as
  # whoever the address is now (the guest, who may read but not write, then the admin again).
  host_do() {
    local i
    rm -f /run/kc-done
    echo "$1" >/run/kc-req.tmp && mv /run/kc-req.tmp /run/kc-req # whole, or the host may read it empty
    for ((i = 0; i < 150; i++)); do
      [ -f /run/kc-done ] && return "$(</run/kc-done)"
      sleep 0.2
    done
    return 99
  }
  echo before >idf
  mkdir -p idd
  if host_do peer-remove; then
    eq "after peer remove: the live mount still reads (as the guest)" before "$(cat "$(fp idf)" 2>&1)"
    fails_with "after peer remove: a write is refused: Permission denied" "Permission denied" \
      bash -c "echo x >'$(fp idd)/new'"
    if host_do peer-add; then
      run "after peer add: the same mount writes again, no remount" bash -c "echo y >'$(fp idd)/new2'"
    else
      fail "after peer add: the same mount writes again, no remount" "the host did not run peer add"
    fi
  else
    not_checked "the host did not run peer remove" "after peer remove: the live mount still reads (as the guest)" \
      "after peer remove: a write is refused: Permission denied" "after peer add: the same mount writes again, no remount"
  fi

  section "share snapshots (.snapshots)"
  # The host takes snapshot `k1` of the share (`gatehouse share snapshot create kc k1`) when
  # asked; the share's file changes after it; the snapshot keeps its bytes, is read (and
  # copied back) through the hidden .snapshots directory, and refuses writes.
  echo "before the snapshot" >snapf
  sync
  if host_do snapshot; then
    echo "after the snapshot" >snapf
    sync
    eq "ls of the share root does not list .snapshots" "" "$(ls -a "$M" | grep -x '.snapshots')"
    eq "ls .snapshots lists the snapshot" "k1" "$(ls "$M/.snapshots" 2>&1)"
    eq "a file in the snapshot has its bytes from then" "before the snapshot" \
      "$(cat "$M/.snapshots/k1/kt/snapf" 2>&1)"
    run "cp -a restores the file from the snapshot" cp -a "$M/.snapshots/k1/kt/snapf" "$T/snapf.restored"
    eq "the restored copy has the snapshot's bytes" "before the snapshot" "$(cat "$T/snapf.restored" 2>&1)"
    fails_with "a write into the snapshot is refused: Permission denied" "Permission denied" \
      bash -c "echo x >'$M/.snapshots/k1/kt/snapf'"
  else
    not_checked "the host did not take the snapshot" "ls of the share root does not list .snapshots" \
      "ls .snapshots lists the snapshot" "a file in the snapshot has its bytes from then" \
      "cp -a restores the file from the snapshot" "the restored copy has the snapshot's bytes" \
      "a write into the snapshot is refused: Permission denied"
  fi

  section "errno names"
  # Through the uncached view the client does not know the name exists (an exclusive create
  # skips LOOKUP), so the server's own answer to LINK, MKNOD, MKDIR and SYMLINK is what shows.
  fails_with "server: LINK onto an existing name: File exists" "File exists" ln "$(fp c)" "$(fp e)"
  fails_with "server: MKNOD (mkfifo) onto an existing name: File exists" "File exists" mkfifo "$(fp c)"
  fails_with "server: MKNOD (socket bind) onto an existing name: Address already in use" "Address already in use" \
    python3 -c 'import socket, sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$(fp c)"
  fails_with "server: MKDIR onto an existing name: File exists" "File exists" mkdir "$(fp dx)"
  fails_with "server: SYMLINK onto an existing name: File exists" "File exists" ln -s target "$(fp c)"
  # The kernel's NFS-internal codes (524 ENOTSUPP from NFS3ERR_NOTSUPP, 521 EBADHANDLE from
  # NFS3ERR_BADHANDLE, ...) have no name in libc: a program shows "Unknown error 5xx".
  n5xx=$(grep -c 'Unknown error 5[0-9][0-9]' "$ERRLOG")
  if [ "$n5xx" = 0 ]; then
    pass "no program saw an errno libc cannot name (Unknown error 5xx)"
  else
    fail "no program saw an errno libc cannot name (Unknown error 5xx)" \
      "$n5xx lines, $(grep -o 'Unknown error 5[0-9][0-9]' "$ERRLOG" | sort | uniq -c | tr -s ' \n' ' ')"
  fi

  cd / && rm -rf "$T" 2>/dev/null
  umount "$FRESH"
  echo "SUMMARY: $npass passed, $nfail failed, guest checks took $((EPOCHSECONDS - t0)) s"
  for n in "${failed[@]}"; do echo "  failed: $n"; done
  [ "$nfail" = 0 ]
  exit
fi

# -------------------------------------------------------------------- on the host
started=$(date +%s)
bin=$(realpath "$1")
self=$(realpath "$0")
# The guest sees the host's / read-only, except the host's /tmp, which it sees at /mnt.
case "$self" in /tmp/*) guest_self="/mnt/${self#/tmp/}" ;; *) guest_self=$self ;; esac
VMSH=${KCLIENT_VM:-$(dirname "$self")/../../../shared/tools/nfs-kclient-vm.sh}
[ -f "$VMSH" ] || { echo "FAIL $VMSH not found (set KCLIENT_VM to nfs-kclient-vm.sh)"; exit 1; }
for tool in git rsync tar python3 curl; do
  command -v "$tool" >/dev/null || { echo "FAIL $tool is missing on the host (the guest runs the host's programs)"; exit 1; }
done
cache=${KCLIENT_VM_CACHE:-/var/tmp/gatehouse-kclient-vm}
mkdir -p "$cache"
QUOTA_MI=32
work=$(mktemp -d /tmp/gatehouse-kclient.XXXXXX)
pid= watcher=
cleanup() {
  if [ -n "$watcher" ]; then kill "$watcher" 2>/dev/null; fi
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
die() { echo "FAIL $*"; sed 's/\x1b\[[0-9;]*m//g' "$work/server.log" | tail -30; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
s3=$(free_port) admin=$(free_port) nfs=$(free_port)
"$bin" serve --data-dir "$work/data" --s3-listen "127.0.0.1:$s3" --admin-listen "127.0.0.1:$admin" \
  --nfs-listen "127.0.0.1:$nfs" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 600); do
  grep -q aws_secret_access_key "$work/data/admin.credentials" 2>/dev/null &&
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$admin/")" != 000 ] && break
  sleep 0.1
done
gh() { "$bin" --server "http://127.0.0.1:$admin" --data-dir "$work/data" "$@"; }
gh share create kc --quota "${QUOTA_MI}Mi" >/dev/null || die "share create kc"
gh share create kc2 >/dev/null || die "share create kc2"
# The VM's connections reach the server from 127.0.0.1 (qemu's guestfwd runs socat here).
gh peer add 127.0.0.1 admin >/dev/null || die "peer add 127.0.0.1 admin"
echo "server ready on NFS port $nfs after $(($(date +%s) - started)) s; booting the VM"

# The guest asks for identity changes through the VM's shared directory ($cache/share = /run).
serve_requests() {
  local d=$cache/share r
  while :; do
    if [ -f "$d/kc-req" ]; then
      r=$(cat "$d/kc-req")
      rm -f "$d/kc-req"
      case "$r" in
        peer-remove) gh peer remove 127.0.0.1 ;;
        peer-add) gh peer add 127.0.0.1 admin ;;
        snapshot) gh share snapshot create kc k1 ;;
        *) false ;;
      esac >/dev/null 2>&1
      echo $? >"$d/kc-done.tmp" && mv "$d/kc-done.tmp" "$d/kc-done"
    fi
    sleep 0.2
  done
}
serve_requests &
watcher=$!
rc=0
(
  flock 9
  mkdir -p "$cache/share"
  rm -f "$cache/share/kc-req" "$cache/share/kc-done"
  NFS_PORT=$nfs NFS_EXPORT=/kc VM_DIR=$cache VM_MEM=${VM_MEM:-1536} VM_TIMEOUT=${VM_TIMEOUT:-400} \
    "$VMSH" bash "$guest_self" --guest '$NFS_MNT' "$nfs" kc2 $((QUOTA_MI * 1024))
) 9>"$cache.lock" || rc=$?
if [ "$rc" != 0 ]; then
  echo "--- server log (tail)"
  sed 's/\x1b\[[0-9;]*m//g' "$work/server.log" | grep -v 'key:\|credentials\|Use it with' | tail -15
fi
echo "nfs_kernel.sh: exit $rc after $(($(date +%s) - started)) s"
exit "$rc"
