#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `npm run image:base`: the base images for offline builds, made from Debian's packages, no registry:
#   localhost/nexodus-ts/base:node<V>        Debian 12 "essential" (dash, coreutils) + libstdc++6 +
#                                             this machine's /usr/bin/node (Node has its own root CAs)
#   localhost/nexodus-ts/build-base:node<V>  the same + npm, Node's headers, python3, make, g++ (node-gyp)
# Node is not in Debian 12 at version 20, so it is copied from the machine (the nodejs package of
# NodeSource here: /usr/bin/node, /usr/lib/node_modules/npm, /usr/include/node); the version is in the tag.
# Kept in the project's container storage (scripts/images/env.sh); rebuilt only when missing or with --force.
set -euo pipefail
source "$(dirname "$0")/env.sh"

force=0
[ "${1:-}" = --force ] && force=1
SUITE="${DEBIAN_SUITE:-bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
NODE_BIN="$(command -v node)"
NODE_BIN="$(readlink -f "$NODE_BIN")"
NODE_PREFIX="$(dirname "$(dirname "$NODE_BIN")")"

have() { podman image exists "$1"; }

# Docs, manuals and translations are not wanted in an image.
dpkg_excludes=(
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/lintian/*'
)

make_base() { # name includes extra-hooks...
  local name="$1" includes="$2"
  shift 2
  local tar="$NEXODUS_CONTAINERS_DIR/tmp/base-$$.tar"
  mkdir -p "$(dirname "$tar")"
  echo "image:base: mmdebstrap $SUITE ($includes) -> $name"
  # merged-usr: /usr merged by mmdebstrap's hook (usr-is-merged), else apt picks usrmerge and with it perl.
  mmdebstrap --quiet --variant=essential --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --include="$includes" --format=tar "${dpkg_excludes[@]}" \
    --customize-hook="copy-in $NODE_BIN /usr/bin" \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*' \
    "$@" "$SUITE" "$tar" "$MIRROR"
  podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["node"]' \
    "$tar" "$name" >/dev/null
  rm -f "$tar"
}

if [ $force = 1 ] || ! have "$LOCAL_BASE"; then
  make_base "$LOCAL_BASE" libstdc++6
fi
if [ $force = 1 ] || ! have "$LOCAL_BUILD_BASE"; then
  make_base "$LOCAL_BUILD_BASE" libstdc++6,ca-certificates,python3,make,g++,libc6-dev \
    --customize-hook="mkdir -p \"\$1\"/usr/lib/node_modules/npm \"\$1\"/usr/include/node" \
    --customize-hook="sync-in $NODE_PREFIX/lib/node_modules/npm /usr/lib/node_modules/npm" \
    --customize-hook="sync-in $NODE_PREFIX/include/node /usr/include/node" \
    --customize-hook='ln -s ../lib/node_modules/npm/bin/npm-cli.js "$1"/usr/bin/npm' \
    --customize-hook='ln -s ../lib/node_modules/npm/bin/npx-cli.js "$1"/usr/bin/npx'
fi
podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '/(build-)?base:' || true
