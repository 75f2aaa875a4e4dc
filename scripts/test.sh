#!/usr/bin/env bash
# The test gate of xvs: sets up a fresh machine, then formatting, lints and every test.
# CI (.ci/run) runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
# The appliance: build the Debian package, install it here, run the installed service.
scripts/package-check.sh
