#!/usr/bin/env bash
# Instructions a connection costs at its two ends, counted by callgrind over
# `xvs-bench engine` (IPv4, NAT and DR): the first packet of a new connection, and the
# expiry of one connection. scripts/instructions.sh counts the packets in between.
#
# Usage: scripts/lifecycle-instructions.sh [--check [FILE]]
#   --check  compare each case with its budget in FILE (default
#            scripts/lifecycle-budget: lines "case mode max") and exit 1 if any case
#            costs more, or has no budget. scripts/test.sh runs this.
# Environment (all optional): MODES (default "nat dr"), CARGO_TARGET_DIR, VALGRIND.
#
# Cases:
#   new     every packet opens a connection (`--new-ratio 1.0`, the bench's scheduler and
#           reals: wlc over 16): Ir of the engine's entry point, counted over 20 000 and
#           40 000 packets, difference divided by the difference in packets (the setup
#           cancels, as in instructions.sh). Nothing expires in these runs.
#   expire  100 000 connections expire at once while 1000 flows send (`--mass-expiry`):
#           Ir of `Engine::handle_timeout` (the reaper, with the wheel's and the batch's
#           own share) divided by the connections it expired in 640 000 packets, at
#           8 expiry steps a batch (`--expiry-budget 8`, the engine's default until
#           the default became 4: the batch's share is spread over as many connections
#           as before, so the figure stays comparable with its history).
#           Repeatable to the instruction: the bench's clock steps per packet and its
#           traffic is seeded.
set -euo pipefail

MODES="${MODES:-nat dr}"
VALGRIND="${VALGRIND:-valgrind}"

check=
case "${1:-}" in
  "") ;;
  --check) check=${2:-"$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lifecycle-budget"} ;;
  -h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "lifecycle-instructions.sh: unknown argument $1 (try --help)" >&2
    exit 2
    ;;
esac
if [ -n "$check" ] && [ ! -r "$check" ]; then
  echo "lifecycle-instructions.sh: no budget file $check" >&2
  exit 2
fi

# shellcheck source=scripts/callgrind-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/callgrind-common.sh"
cg_prepare lifecycle-instructions.sh

me=lifecycle-instructions.sh
entry='*engine_bench::engine_entry*'
rows=()
for mode in $MODES; do
  common=(--flows 1000 --cores 1 --mode "$mode" --family v4)
  ir1=$(cg_run $me "$entry" "$tmp/new-$mode-1" "${common[@]}" --new-ratio 1.0 --packets 20000) || exit 1
  ir2=$(cg_run $me "$entry" "$tmp/new-$mode-2" "${common[@]}" --new-ratio 1.0 --packets 40000) || exit 1
  p1=$(cg_field "$tmp/new-$mode-1.json" packets)
  p2=$(cg_field "$tmp/new-$mode-2.json" packets)
  if [ "$(cg_field "$tmp/new-$mode-2.json" conns_expired)" != 0 ]; then
    echo "lifecycle-instructions.sh: new $mode: connections expired during the run" >&2
    exit 1
  fi
  rows+=("new $mode $(awk -v a="$ir1" -v b="$ir2" -v p="$p1" -v q="$p2" 'BEGIN { printf "%.1f", (b - a) / (q - p) }')")
  ir=$(cg_run $me '*Engine::handle_timeout*' "$tmp/expire-$mode" "${common[@]}" --new-ratio 0 \
    --mass-expiry 100000 --packets 640000 --expiry-budget 8) || exit 1
  expired=$(cg_field "$tmp/expire-$mode.json" conns_expired)
  if [ -z "$expired" ] || [ "$expired" -lt 10000 ]; then
    echo "lifecycle-instructions.sh: expire $mode: only ${expired:-no} connections expired" >&2
    exit 1
  fi
  rows+=("expire $mode $(awk -v a="$ir" -v e="$expired" 'BEGIN { printf "%.1f", a / e }')")
done

echo "instructions per connection event (xvs-bench engine --flows 1000 --family v4)"
printf '%-7s %-5s %12s\n' case mode instructions
for r in "${rows[@]}"; do
  read -r kind mode per <<<"$r"
  printf '%-7s %-5s %12s\n' "$kind" "$mode" "$per"
done

if [ -n "$check" ]; then
  cg_check lifecycle-instructions.sh "$check" "${rows[@]}"
fi
