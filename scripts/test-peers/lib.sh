#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Shared by the peers' build.sh scripts: builds pinned Go programs from their published modules into a cache
# outside the repo, ${NEXODUS_TEST_CACHE:-$HOME/.cache/nexodus-test}/<name>-<version>/, once. Each peer folder
# holds a small go.mod of our own (requires and replaces pinned there), VERSION, and a build.sh that calls
# `build_go_peer`. Nothing of the peers' code enters the repo: `go build` fetches it from the module proxy.
set -euo pipefail

test_cache_root() { echo "${NEXODUS_TEST_CACHE:-$HOME/.cache/nexodus-test}"; }

# build_go_peer NAME FOLDER [go build flags ...] -- PACKAGE [PACKAGE ...]
# Builds every PACKAGE (a path in FOLDER's module graph) into the cache dir of NAME-$(cat FOLDER/VERSION).
# The dir gets a `.complete` stamp only when all binaries are built, so an interrupted build is redone.
build_go_peer() {
  local name=$1 folder=$2
  shift 2
  local flags=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do flags+=("$1"); shift; done
  [ "${1:-}" = -- ] && shift
  local version out tmp start
  version=$(tr -d '[:space:]' <"$folder/VERSION")
  out="$(test_cache_root)/$name-$version"
  if [ -f "$out/.complete" ]; then
    echo "test peer $name $version: cached in $out"
    return 0
  fi
  start=$(date +%s)
  echo "test peer $name $version: building $* (first run only) into $out"
  tmp="$out.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  (cd "$folder" && GOFLAGS=-mod=mod CGO_ENABLED=${CGO_ENABLED:-0} go build -trimpath "${flags[@]}" -o "$tmp/" "$@")
  rm -rf "$out" && mv "$tmp" "$out" && touch "$out/.complete"
  echo "test peer $name $version: built in $(($(date +%s) - start)) s"
}
