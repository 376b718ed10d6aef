#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what the tests need on a fresh Debian machine: system packages (as root, when missing) and npm packages.
# `--npm-only` installs just the npm packages (what `npm start` needs).
set -euo pipefail
cd "$(dirname "$0")/.."

install_npm() {
  if [ ! -d node_modules ] || [ -n "${CI:-}" ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund
  fi
}
if [ "${1:-}" = --npm-only ]; then
  install_npm
  exit 0
fi

pkgs=(wireguard-go wireguard-tools iproute2 iptables iperf3 nginx-light curl postgresql socat dnsmasq-base util-linux chromium podman netavark runc mmdebstrap)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "not root: cannot install ${missing[*]}; tests that need them will skip"
  fi
fi

install_npm
