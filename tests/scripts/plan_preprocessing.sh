#!/usr/bin/env bash
# ctest scripts_plan_preprocessing: `hecnn plan --scale/--mean/--std/--classes` on a model
# exported by a plain torch.onnx.export (no hecnn metadata) writes exactly those values
# into the plan file that keygen copies and encrypt applies (the library test
# io_UserPath.CommandLinePreprocessingReachesTheEncryptedInputs follows them from there into
# the encrypted inputs), with the --memory budget its prediction assumed, and refuses values
# that do not fit the model (and a budget of 0), naming them.
#   plan_preprocessing.sh HECNN
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
hecnn=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
model="$root/tests/data/torch_export_opset13.onnx"   # 1x8x8 → 10 outputs
fail() { echo "plan_preprocessing.sh: $*" >&2; exit 1; }

"$hecnn" plan "$model" --scale 1/255 --mean 0.3 --std 0.2 --classes a,b,c,d,e,f,g,h,i,j --memory 3GiB --out "$tmp/plan.json" >"$tmp/out"
grep -q "scale 1/255, mean 0.3, std 0.2; 10 class names (command line over the defaults)" "$tmp/out" ||
  fail "plan does not report the given preprocessing: $(grep inputs "$tmp/out")"
compact=$(tr -d ' \n' <"$tmp/plan.json")
for want in '"version":3' '"memory_budget":3221225472' '"mean":[0.3]' '"std":[0.2]' '"scale":0.00392156862745098' '"classes":["a","b","c","d","e","f","g","h","i","j"]'; do
  [[ $compact == *"$want"* ]] || fail "plan.json lacks $want"
done
"$hecnn" keygen --plan "$tmp/plan.json" --out "$tmp/keys" >/dev/null
cmp -s "$tmp/plan.json" "$tmp/keys/plan.json" || fail "keygen's copy of the plan differs"

refuse() {  # refuse MESSAGE ARGS…: plan must fail and say MESSAGE
  local msg=$1; shift
  if "$hecnn" plan "$model" "$@" >"$tmp/out" 2>"$tmp/err"; then fail "accepted $*"; fi
  grep -q -- "$msg" "$tmp/err" || fail "refusing $* does not say '$msg': $(cat "$tmp/err")"
}
refuse "gives 3 values for 1 input channel" --mean 0.1,0.2,0.3
refuse "2 class names for a model of 10 outputs" --classes a,b
refuse "memory budget of 0 bytes" --memory 0
refuse "std must hold finite positive numbers" --std 0
refuse "expected a number" --scale x
echo "plan_preprocessing.sh: the given preprocessing is the plan's; misfits refused"
