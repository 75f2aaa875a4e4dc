#!/usr/bin/env bash
# The soak (not part of the gate): SOAK_MINUTES (default 10) of mixed traffic through
# `xvs run` in a namespace lab, with reloads, a real flapping and bursts of a spoofed SYN
# flood; then checks memory stayed flat, the connection table drained, every frame was
# accounted for and traffic still flows. Prints the figures. Needs root (namespaces, AF_XDP).
#
# Usage: scripts/soak.sh [MINUTES]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export SOAK_MINUTES=${1:-${SOAK_MINUTES:-10}}
exec cargo test --release -p xvs --test soak -- --ignored --nocapture
