#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# schemathesis (PyPI), pinned, in a virtualenv in the test cache, once: test/e2e/schemathesis.test.ts runs
# its `st` CLI against the served OpenAPI document. Not a Go peer, so no build_go_peer: pip into a venv,
# stamped `.complete` only when the install finished (an interrupted one is redone).
set -euo pipefail
here=$(dirname "$0")
source "$here/../lib.sh"
version=$(tr -d '[:space:]' <"$here/VERSION")
out="$(test_cache_root)/schemathesis-$version"
if [ -f "$out/.complete" ]; then
  echo "test peer schemathesis $version: cached in $out"
  exit 0
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "python3 is not on PATH: cannot install schemathesis (its test fails in CI, skips elsewhere)"
  exit 0
fi
start=$(date +%s)
echo "test peer schemathesis $version: installing into $out (first run only)"
tmp="$out.tmp.$$"
rm -rf "$tmp"
python3 -m venv "$tmp"
"$tmp/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
# A venv's scripts name their interpreter by absolute path: recreate it in place after the move.
rm -rf "$out" && mv "$tmp" "$out"
python3 -m venv --upgrade "$out" >/dev/null
sed -i "1s|^#!.*python.*$|#!$out/bin/python3|" "$out/bin/st" "$out/bin/schemathesis" 2>/dev/null || true
"$out/bin/st" --version
touch "$out/.complete"
echo "test peer schemathesis $version: installed in $(($(date +%s) - start)) s"
