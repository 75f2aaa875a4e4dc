# Shared by scripts/instructions.sh and scripts/lifecycle-instructions.sh (sourced, not
# run): building the bench for callgrind, one counted run of it, and checking counted
# cases against a budget file. Each function takes the calling script's name for its
# messages.

# Check that valgrind is there, build xvs-bench (release), and set `bin` to it and `tmp`
# to a directory removed on exit. Needs VALGRIND set.
cg_prepare() {
  local name=$1 root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  command -v "$VALGRIND" >/dev/null || {
    echo "$name: $VALGRIND not found (scripts/setup.sh installs valgrind)" >&2
    exit 1
  }
  (cd "$root" && cargo build --release -p xvs-bench >&2)
  bin="${CARGO_TARGET_DIR:-$root/target}/release/xvs-bench"
  # A relative CARGO_TARGET_DIR is relative to the repository.
  [[ "$bin" == /* ]] || bin="$root/$bin"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
}

# `cg_run NAME ENTRY OUT ARGS...`: run `xvs-bench engine ARGS... --json` under callgrind,
# counting only inside ENTRY (a --toggle-collect pattern); the report goes to OUT.json.
# Prints the instructions counted. Exits when the run fails or nothing was counted (the
# function inlined or renamed). Call it as `x=$(cg_run ...) || exit 1`: its exit leaves
# only the command substitution (which does not inherit `set -e`), and a process
# substitution would swallow it altogether.
cg_run() {
  local name=$1 entry=$2 out=$3 ir
  shift 3
  if ! "$VALGRIND" --tool=callgrind --collect-atstart=no --toggle-collect="$entry" \
    --callgrind-out-file="$out.callgrind" "$bin" engine "$@" --json >"$out.json" 2>"$out.log"; then
    echo "$name: xvs-bench engine $* failed:" >&2
    tail -n 20 "$out.log" >&2
    exit 1
  fi
  ir=$(awk '$1 == "totals:" { print $2 }' "$out.callgrind")
  if [ -z "$ir" ] || [ "$ir" = 0 ]; then
    echo "$name: no instructions counted in ENTRY='$entry': the pattern matches no" \
      "function of $bin (inlined or renamed? see callgrind_annotate --inclusive=yes)" >&2
    exit 1
  fi
  echo "$ir"
}

# A number from a bench report: `cg_field JSON NAME`.
cg_field() {
  grep -o "\"$2\":[0-9]*" "$1" | cut -d: -f2
}

# `cg_check NAME FILE ROW...`: each ROW is "<key1> <key2> <figure> ..." and FILE has lines
# "<key1> <key2> <max>" ('#' comments). Says how each case stands; returns 1 when a case
# costs more than its budget or has none.
cg_check() {
  local name=$1 file=$2 over=0 row k1 k2 per max
  shift 2
  for row in "$@"; do
    read -r k1 k2 per _ <<<"$row"
    max=$(awk -v a="$k1" -v b="$k2" '$1 == a && $2 == b { print $3 }' "$file")
    if [ -z "$max" ]; then
      echo "$name: $k1 $k2 has no budget in $file" >&2
      over=1
    elif awk -v p="$per" -v m="$max" 'BEGIN { exit !(p > m) }'; then
      echo "$name: $k1 $k2 costs $per instructions, over its budget of $max ($file)" >&2
      over=1
    else
      echo "$name: $k1 $k2 $per <= $max" >&2
    fi
  done
  return "$over"
}
