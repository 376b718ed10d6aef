#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A modern wireguard-go (the module's root package is the daemon) for bench/testbed.bench.ts: the remote peer
# with UDP GSO/GRO and TUN offloads, unlike Debian's old wireguard-go that the interop tests keep using.
# go names the binary after the module path ("wireguard"); it is linked as "wireguard-go" too.
source "$(dirname "$0")/../lib.sh"
build_go_peer wireguard-go "$(dirname "$0")" -ldflags=-s\ -w -- golang.zx2c4.com/wireguard
dir="$(test_cache_root)/wireguard-go-$(tr -d '[:space:]' <"$(dirname "$0")/VERSION")"
[ -e "$dir/wireguard-go" ] || ln -s wireguard "$dir/wireguard-go"
