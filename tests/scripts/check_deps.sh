#!/usr/bin/env bash
# ctest scripts_check_deps_*: scripts/check-deps against the build directory BUILD.
#   check_deps.sh BUILD complete      the real scripts/install-deps: must pass
#   check_deps.sh BUILD missing PKG   a copy of it without the line PKG: must fail, and
#                                     name PKG as the package to add
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$1 mode=$2
case "$mode" in
  complete)
    exec "$root/scripts/check-deps" "$build"
    ;;
  missing)
    pkg=$3
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    grep -vx "  $pkg" "$root/scripts/install-deps" >"$tmp/install-deps"
    if cmp -s "$root/scripts/install-deps" "$tmp/install-deps"; then
      echo "check_deps.sh: scripts/install-deps has no line '  $pkg' to remove" >&2
      exit 1
    fi
    rc=0
    "$root/scripts/check-deps" "$build" --install-deps "$tmp/install-deps" >"$tmp/out" 2>"$tmp/err" || rc=$?
    cat "$tmp/out" "$tmp/err"
    [ "$rc" -eq 1 ] || { echo "check_deps.sh: expected exit status 1 without $pkg, got $rc" >&2; exit 1; }
    grep -qxE "check-deps: add to $tmp/install-deps: (.* )?$pkg( .*)?" "$tmp/err" ||
      { echo "check_deps.sh: the failure does not name $pkg as the package to add" >&2; exit 1; }
    echo "check_deps.sh: without $pkg, check-deps fails and names it"
    ;;
  *) echo "usage: check_deps.sh BUILD complete | missing PKG" >&2; exit 2 ;;
esac
