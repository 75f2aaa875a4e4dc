#!/usr/bin/env bash
# Prepare a fresh machine to build and test xvs: system packages and toolchain checks.
# Idempotent; safe to run again. Needs root for apt-get (CI runs as root).
set -euo pipefail

# System packages the build and the tests need: clang, llvm and the kernel/libbpf headers
# compile the BPF programs in xdp/ (xvs/build.rs); libelf-dev, zlib1g-dev, pkg-config and
# m4 build libbpf for the AF_XDP sockets; iproute2 and ethtool build the network-namespace
# labs of the end-to-end tests, whose ping checks need iputils-ping; the labs' real servers
# (`xvs demo`, the e2e tests) run python3.
# nftables is the kernel forwarder `xvs-bench veth` and `cps` compare xvs with (and
# HAProxy the proxy `cps` does); valgrind counts
# instructions per packet (scripts/instructions.sh). keepalived is the VRRP peer and tshark
# the decoder of the wire tests; BIRD 2 (the router) and ExaBGP (each director's BGP
# speaker, driving `xvs announce`) are the routing software of the fleet test.
PACKAGES=(g++ clang llvm libelf-dev zlib1g-dev libbpf-dev linux-libc-dev pkg-config m4 iproute2 ethtool iputils-ping python3 nftables valgrind keepalived tshark bird2 exabgp haproxy)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}"
fi

# BPF programs and maps are pinned under /sys/fs/bpf; a fresh machine may not have bpffs
# mounted there.
if [ -d /sys/fs/bpf ] && ! mountpoint -q /sys/fs/bpf; then
  mount -t bpf bpf /sys/fs/bpf || echo "warning: could not mount bpffs at /sys/fs/bpf" >&2
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo not found; install the Rust toolchain (https://rustup.rs) and run this again" >&2
  exit 1
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
