#!/usr/bin/env bash
# Build the fuzz targets in fuzz/ and run each for SECONDS (default 15) from its committed
# seed corpus (fuzz/corpus/TARGET). Fails on the first crash, panic, timeout or memory
# blow-up, leaving the input in fuzz/artifacts/TARGET/ and printing how to replay it.
#
# Built on stable Rust with the coverage instrumentation cargo-fuzz asks of rustc, without
# a sanitizer (the code is safe Rust: what a sanitizer adds, bounds and overflow checks,
# rustc does itself, and debug assertions are on). `cargo fuzz run TARGET` works as well.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#   FUZZ_NEW_CORPUS=DIR  keep the new inputs found under DIR/TARGET (a longer campaign)
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-15}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(pipeline keepalived toml ipvsadm ctl vrrp sync)

export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# An explicit target keeps the flags off build scripts and proc macros (as cargo-fuzz does).
host=$(rustc -vV | sed -n 's/^host: //p')
cargo build --release --locked --bins --target "$host"
bin=target/$host/release

for t in "${targets[@]}"; do
  work=${FUZZ_NEW_CORPUS:+$FUZZ_NEW_CORPUS/$t}
  [ -n "$work" ] || work=$(mktemp -d)
  mkdir -p "$work" "artifacts/$t"
  echo "fuzz $t: ${secs}s"
  # New inputs go to the first directory; the committed seeds are only read.
  if ! "$bin/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="artifacts/$t/" "$work" "corpus/$t" 2>"artifacts/$t/log"; then
    tail -n 40 "artifacts/$t/log" >&2
    echo "fuzz $t: FAILED; replay with: fuzz/$bin/$t fuzz/artifacts/$t/<crash file>" >&2
    exit 1
  fi
  grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "artifacts/$t/log" | tail -n 1
  [ -n "${FUZZ_NEW_CORPUS:-}" ] || rm -rf "$work"
done
