#!/usr/bin/env bash
# The demo: set up, build, and replay the bundled capture of clients through the director
# (NAT, DR and TUN services, IPv4 and IPv6), printing what the director did.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release -p xvs
out="${1:-${TMPDIR:-/tmp}/xvs-demo-out.pcap}"
target/release/xvs replay -c examples/demo.toml examples/demo.pcap "$out"
