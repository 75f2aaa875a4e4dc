#!/usr/bin/env bash
# Prepare a fresh machine to build and test xvs: system packages and toolchain checks.
# Idempotent; safe to run again. Needs root for apt-get (CI runs as root).
set -euo pipefail

# System packages the build and the tests need. The engine core (replay, benchmarks,
# unit and replay tests) needs none beyond the Rust toolchain; the AF_XDP datapath
# will add clang, libelf-dev, zlib1g-dev, libpcap-dev, pkg-config, m4 and iproute2.
PACKAGES=()

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo not found; install the Rust toolchain (https://rustup.rs) and run this again" >&2
  exit 1
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
