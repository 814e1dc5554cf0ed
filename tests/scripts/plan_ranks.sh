#!/usr/bin/env bash
# ctest scripts_plan_ranks: `hecnn plan --ranks R,… --net B,…` prints one row per rank count
# and network (he::predict_ranks, docs/MPI.md), R = 1 included, and refuses a bandwidth,
# latency or rank count it cannot read before planning anything, naming it.
#   plan_ranks.sh HECNN
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
hecnn=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
model="$root/tests/data/torch_export_opset13.onnx"   # 1x8x8 → 10 outputs
fail() { echo "plan_ranks.sh: $*" >&2; exit 1; }

"$hecnn" plan "$model" --memory 3GiB --ranks 2,4 --net 10Gbit,100Gbit/s --net-latency 2us >"$tmp/out"
grep -q "messages x 2 µs" "$tmp/out" || fail "the latency given is not the one reported: $(grep ranks "$tmp/out")"
for r in 1 2 4; do
  for net in "10 Gbit/s" "100 Gbit/s"; do
    grep -Eq "^ +$r $net +[0-9.]+ [mµ]?s " "$tmp/out" || fail "no row for $r rank(s) at $net: $(cat "$tmp/out")"
  done
done
# R = 1 is the single-process prediction (the report's time line, unless the first layer was recomputed).
if ! grep -q "first layer recomputed" "$tmp/out"; then
  one=$(grep -E "^ +1 10 Gbit/s" "$tmp/out" | awk '{print $4, $5}')
  grep -q "^time        $one = " "$tmp/out" || fail "R = 1 ($one) is not the plan's time: $(grep '^time' "$tmp/out")"
fi

refuse() {  # refuse MESSAGE ARGS…: plan must fail and say MESSAGE
  local msg=$1; shift
  if "$hecnn" plan "$model" "$@" >"$tmp/out" 2>"$tmp/err"; then fail "accepted $*"; fi
  grep -q -- "$msg" "$tmp/err" || fail "refusing $* does not say '$msg': $(cat "$tmp/err")"
}
refuse "unknown unit in network bandwidth '10GB'" --ranks 2 --net 10GB
refuse "not a network bandwidth" --ranks 2 --net fast
refuse "network bandwidth '0Gbit' is zero" --ranks 2 --net 10Gbit,0Gbit
refuse "unknown unit in network latency '20'" --ranks 2 --net-latency 20
refuse "--ranks: Value 0 not in range 1 to 65536" --ranks 0
echo "plan_ranks.sh: a row per rank count and network; bad values refused"
