#!/usr/bin/env bash
# How long the test loops take here: `scripts/test --fast` (not slow, pytest-xdist) and, with --all,
# the whole suite as CI runs it. Prints wall time, CPU time (user+sys of pytest and its children: it
# barely depends on the machine's load, wall time does) and the load average before and after.
# Usage: benchmarks/test_loop.sh [--all]
set -uo pipefail
cd "$(dirname "$0")/.."
measure() {
  local label=$1; shift
  local before; before=$(cut -d' ' -f1-3 /proc/loadavg)
  local out; out=$(mktemp)
  /usr/bin/time -f "%e %U %S" -o "$out" "$@" >/dev/null 2>&1
  local rc=$?
  read -r wall user sys < <(tail -n 1 "$out"); rm -f "$out"  # time prefixes a failure line
  printf '%-22s rc=%s  wall %6.0f s  cpu %6.0f s  load before %s, after %s\n' "$label" "$rc" "$wall" \
    "$(awk "BEGIN{print $user + $sys}")" "$before" "$(cut -d' ' -f1-3 /proc/loadavg)"
}
./scripts/test --version >/dev/null 2>&1  # install first, outside the measurement
measure "scripts/test --fast" ./scripts/test --fast -q -p no:cacheprovider
if [ "${1:-}" = "--all" ]; then
  measure "scripts/test (all)" ./scripts/test -q -p no:cacheprovider
fi
