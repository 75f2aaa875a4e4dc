#!/usr/bin/env bash
# The demo: set up, build, and run `xvs demo` (a live director in a lab of network
# namespaces). Arguments go to `xvs demo` (e.g. --mode dr --scheduler rr --seconds 20).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release -p xvs
exec target/release/xvs demo "$@"
