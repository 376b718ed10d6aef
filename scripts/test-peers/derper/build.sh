#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Tailscale's DERP relay (cmd/derper) from the pinned tailscale.com module, plus derpcli, a driver of our own
# that imports the module's DERP client (tailscale.com/derp/derphttp): the relay's interop peers.
source "$(dirname "$0")/../lib.sh"
build_go_peer derper "$(dirname "$0")" -- tailscale.com/cmd/derper ./derpcli
