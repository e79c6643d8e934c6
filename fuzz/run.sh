#!/usr/bin/env bash
# Builds the fuzz targets with coverage instrumentation (libFuzzer, stable Rust: no sanitizer,
# no nightly) and runs each for a bounded time. Fails on any crash (panic), hang (an input
# taking over 2 s), a single allocation over 64 MiB or a process over 1 GiB.
#
#   fuzz/run.sh [SECONDS] [TARGET...]   each target SECONDS (default 60), all targets if none named
#   fuzz/run.sh seeds                   rewrite the seed corpora fuzz/corpus/<target>/ (see src/bin/seeds.rs)
#   fuzz/run.sh build                   build only
#
# The committed corpus is read, never written: new inputs go to a scratch directory, kept
# only with FUZZ_KEEP_CORPUS=DIR (then DIR/<target>/). Findings are written to
# fuzz/artifacts/<target>/ (crash-*, timeout-*, oom-*); reproduce one with
#   fuzz/run.sh repro TARGET FILE
# Runs under `nice -n 19` (the machine is shared), one target at a time.
set -euo pipefail
cd "$(dirname "$0")"
FUZZ_DIR=$PWD

TARGETS=(sigv4 chunked s3_xml admin_json nfs_rpc nfs_handle bucket_policy cors post_form)
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
# SanitizerCoverage as cargo-fuzz passes it, minus `-Zsanitizer` (nightly only): inline 8-bit
# edge counters + PC table (what libFuzzer's coverage feedback reads) and comparison tracing
# (so the fuzzer learns magic values such as `AWS4-HMAC-SHA256` or an RPC program number).
# `--target` keeps these flags off build scripts and proc macros.
export RUSTFLAGS="-Cpasses=sancov-module \
 -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
 -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares \
 -Cdebug-assertions -Coverflow-checks"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$FUZZ_DIR/target}
BIN=$CARGO_TARGET_DIR/$TRIPLE/release

build() {
  echo "== fuzz: building targets (libFuzzer, sancov, $TRIPLE)"
  nice -n 19 cargo build --release --target "$TRIPLE" --bins
}

# A scratch TMPDIR per process: the targets' store lives there (in memory where /dev/shm is
# writable: the store fsyncs every commit) and libFuzzer exits without dropping it.
SCRATCH_BASE=${TMPDIR:-/tmp}
if [ -z "${FUZZ_ON_DISK:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then SCRATCH_BASE=/dev/shm; fi
scratch() { mktemp -d "$SCRATCH_BASE/gatehouse-fuzz.XXXXXX"; }

case "${1:-}" in
  build)
    build
    exit 0
    ;;
  seeds)
    build
    tmp=$(scratch)
    TMPDIR=$tmp GATEHOUSE_SEEDS_OUT="$FUZZ_DIR/corpus" "$BIN/seeds"
    rm -rf "$tmp"
    exit 0
    ;;
  repro)
    [ $# -eq 3 ] || { echo "usage: fuzz/run.sh repro TARGET FILE" >&2; exit 2; }
    build
    tmp=$(scratch)
    set +e
    TMPDIR=$tmp RUST_BACKTRACE=1 "$BIN/$2" -rss_limit_mb=1024 -malloc_limit_mb=64 "$3"
    rc=$?
    rm -rf "$tmp"
    exit $rc
    ;;
esac

SECONDS_EACH=60
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then
  SECONDS_EACH=$1
  shift
fi
if [ $# -gt 0 ]; then TARGETS=("$@"); fi

build
failed=()
for t in "${TARGETS[@]}"; do
  tmp=$(scratch)
  work=${FUZZ_KEEP_CORPUS:+$FUZZ_KEEP_CORPUS/$t}
  work=${work:-$tmp/corpus}
  mkdir -p "$work" "$FUZZ_DIR/artifacts/$t"
  echo "== fuzz: $t for ${SECONDS_EACH}s"
  set +e
  TMPDIR=$tmp nice -n 19 "$BIN/$t" \
    -max_total_time="$SECONDS_EACH" -timeout=2 -rss_limit_mb=1024 -malloc_limit_mb=64 \
    -print_final_stats=1 -artifact_prefix="$FUZZ_DIR/artifacts/$t/" \
    "$work" "$FUZZ_DIR/corpus/$t" >"$tmp/log" 2>&1
  rc=$?
  set -e
  grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::peak_rss_mb|SUMMARY)|^==[0-9]+== ERROR|panicked at' "$tmp/log" || true
  if [ $rc -ne 0 ]; then
    echo "!! fuzz: $t FAILED (exit $rc); last lines of its log:"
    tail -n 40 "$tmp/log"
    for f in "$FUZZ_DIR/artifacts/$t"/*; do
      [ -f "$f" ] || continue
      echo "-- $f (hex):"
      od -An -tx1 -v "$f" | head -n 40
    done
    failed+=("$t")
  fi
  rm -rf "$tmp"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}"
  exit 1
fi
echo "fuzz: all ${#TARGETS[@]} targets ran ${SECONDS_EACH}s each without a finding"
