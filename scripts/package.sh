#!/usr/bin/env bash
# Build the Debian package (target/debian/xvs_*.deb): the binary, the systemd unit, a
# commented default config and shell completions. Installs cargo-deb if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-deb >/dev/null 2>&1 || cargo install --locked cargo-deb
cargo build --release -p xvs
mkdir -p target/completions
target/release/xvs completions bash > target/completions/xvs.bash
target/release/xvs completions zsh > target/completions/_xvs
target/release/xvs completions fish > target/completions/xvs.fish
cargo deb -p xvs --no-build --no-strip
ls -1 target/debian/*.deb
