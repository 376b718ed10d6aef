#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds (once, then cached) the real peers and infrastructure the tests start: every folder here with a
# build.sh, or only those named. Usage: scripts/test-peers/build.sh [name ...]
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v go >/dev/null 2>&1; then
  echo "go is not on PATH: cannot build the test peers (tests that need them fail in CI, skip elsewhere)"
  exit 0
fi
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for d in */; do [ -f "$d/build.sh" ] && names+=("${d%/}"); done
fi
for n in "${names[@]}"; do
  bash "$n/build.sh"
done
