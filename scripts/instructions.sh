#!/usr/bin/env bash
# Instructions per packet of the engine's packet entry point, counted by callgrind over
# `xvs-bench engine` for NAT, DR and TUN, IPv4 and IPv6, established flows only.
# Repeatable to the instruction (unlike times on shared machines): the bench's --packets
# mode processes a fixed number of packets on a clock that steps per packet, and its
# traffic generator is seeded.
#
# Usage: scripts/instructions.sh [--json] [--check [FILE]]
#   --check  compare each case with its budget in FILE (default
#            scripts/instructions-budget: lines "mode family max") and exit 1 if any case
#            costs more, or has no budget. scripts/test.sh runs this, so a change that
#            makes the packet path dearer fails the gate until it is justified and the
#            budget raised in the same commit.
# Environment (all optional):
#   ENTRY     callgrind --toggle-collect pattern of the entry point (below)
#   N1, N2    the two packet counts (default 64000 and 128000)
#   MODES     default "nat dr tun";  FAMILIES  default "v4 v6"
#   OWNER_OF  poll cores the frames' owner is chosen among before the engine, as
#             `xvs run` does with that many (xvs-bench engine --owner-of; default 1: none)
#   STAGE_FROM  live connections from which the engine runs its prefetch stages
#             (xvs-bench engine --stage-from; default: the engine's, 4096, so the 1000
#             flows here take the one-pass loop; 0 counts the staged loop of large tables)
#   CARGO_TARGET_DIR  where cargo builds (default <repo>/target)
#   VALGRIND  default valgrind
#
# Method: each case runs twice, with N1 and N2 packets, counting only inside ENTRY
# (inclusive of everything it calls); (Ir2 - Ir1) / (P2 - P1) cancels the setup batches
# (SYN, SYN-ACK, ACK of every flow) that go through the same entry point, leaving the
# cost of one established packet. P is the packet count the bench reports (N rounded up
# to whole batches of 64).
#
# Why ENTRY is the bench's wrapper and not the engine's method: `Engine::handle_batch` is
# generic over the frame type, so it is compiled in the bench crate, and in release it is
# inlined into its caller (no symbol of its own; `*Engine::handle_batch*` matches nothing).
# The bench calls the engine only through `engine_bench::engine_entry`, marked
# #[inline(never)], whose inclusive cost is the engine's cost per batch plus one call.
# When the engine's entry point is renamed, only the wrapper's body changes.
set -euo pipefail

ENTRY="${ENTRY:-*engine_bench::engine_entry*}"
N1="${N1:-64000}"
N2="${N2:-128000}"
MODES="${MODES:-nat dr tun}"
FAMILIES="${FAMILIES:-v4 v6}"
VALGRIND="${VALGRIND:-valgrind}"
OWNER_OF="${OWNER_OF:-1}"
BENCH_ARGS=(--flows 1000 --new-ratio 0 --cores 1)
[ "$OWNER_OF" = 1 ] || BENCH_ARGS+=(--owner-of "$OWNER_OF")
[ -z "${STAGE_FROM:-}" ] || BENCH_ARGS+=(--stage-from "$STAGE_FROM")

json=0
check=
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  arg=${args[$i]}
  case "$arg" in
    --json) json=1 ;;
    --check)
      check="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/instructions-budget"
      if [ $((i + 1)) -lt ${#args[@]} ] && [[ ${args[$((i + 1))]} != --* ]]; then
        i=$((i + 1))
        check=${args[$i]}
      fi
      ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "instructions.sh: unknown argument $arg (try --help)" >&2
      exit 2
      ;;
  esac
done
if [ -n "$check" ] && [ ! -r "$check" ]; then
  echo "instructions.sh: no budget file $check" >&2
  exit 2
fi

# shellcheck source=scripts/callgrind-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/callgrind-common.sh"
cg_prepare instructions.sh

# One counted run: prints "<packets> <Ir>".
count() {
  local mode=$1 family=$2 n=$3 out="$tmp/$1-$2-$3" ir not_tx
  ir=$(cg_run instructions.sh "$ENTRY" "$out" "${BENCH_ARGS[@]}" --mode "$mode" --family "$family" --packets "$n") ||
    exit 1
  not_tx=$(cg_field "$out.json" not_transmitted)
  if [ "$not_tx" != 0 ]; then
    echo "instructions.sh: $mode $family: $not_tx packets not transmitted" >&2
    exit 1
  fi
  echo "$(cg_field "$out.json" packets) $ir"
}

rows=()
for mode in $MODES; do
  for family in $FAMILIES; do
    r1=$(count "$mode" "$family" "$N1")
    r2=$(count "$mode" "$family" "$N2")
    read -r p1 ir1 <<<"$r1"
    read -r p2 ir2 <<<"$r2"
    per=$(awk -v a="$ir1" -v b="$ir2" -v p="$p1" -v q="$p2" 'BEGIN { printf "%.2f", (b - a) / (q - p) }')
    rows+=("$mode $family $per $p1 $ir1 $p2 $ir2")
  done
done

if [ "$json" = 1 ]; then
  sep=
  printf '{"entry":"%s","bench_args":"%s","results":[' "$ENTRY" "${BENCH_ARGS[*]}"
  for r in "${rows[@]}"; do
    read -r mode family per p1 ir1 p2 ir2 <<<"$r"
    printf '%s{"mode":"%s","family":"%s","instr_per_packet":%s,"runs":[{"packets":%s,"ir":%s},{"packets":%s,"ir":%s}]}' \
      "$sep" "$mode" "$family" "$per" "$p1" "$ir1" "$p2" "$ir2"
    sep=,
  done
  printf ']}\n'
else
  echo "instructions per packet of $ENTRY (xvs-bench engine ${BENCH_ARGS[*]}; --packets $N1 vs $N2)"
  printf '%-5s %-7s %14s\n' mode family instr/packet
  for r in "${rows[@]}"; do
    read -r mode family per _ <<<"$r"
    printf '%-5s %-7s %14s\n' "$mode" "$family" "$per"
  done
fi

if [ -n "$check" ]; then
  cg_check instructions.sh "$check" "${rows[@]}"
fi
