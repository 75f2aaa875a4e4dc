#!/usr/bin/env bash
# The test gate of xvs: sets up a fresh machine, then formatting, lints and every test.
# CI (.ci/run) runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace 2>&1 | tee "$log"
# Instructions per packet of the engine (callgrind) against scripts/instructions-budget,
# so the packet path's cost stays won.
scripts/instructions.sh --check
# The same with two poll cores: the poll loop classifies each frame once, to choose its
# core, and the engine handles it from that class.
OWNER_OF=2 scripts/instructions.sh --check scripts/instructions-budget-owner2
# Instructions to open a connection and to expire one, against scripts/lifecycle-budget.
scripts/lifecycle-instructions.sh --check
# Every fuzz target (fuzz/: the pipeline, the config readers, ipvsadm's grammar, the
# control protocol, VRRP and sync parsers), briefly, from its committed seed corpus.
scripts/fuzz.sh 15
# The appliance: build the Debian package, install it here, run the installed service.
scripts/package-check.sh
# One closing line for the whole run (cargo prints one per test binary).
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
