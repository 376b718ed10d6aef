#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sourced by the image scripts: a podman/buildah of our own (Debian's packages, no daemon) whose storage and
# configuration live in a cache directory, so building images never edits the machine's /etc/containers or
# /var/lib/containers. What this sandbox needs (and a plain machine accepts): cgroupfs without systemd, the
# file events logger, host networking for builds, runc, and storage on overlay (vfs when the kernel refuses it).
# Override the place with NEXODUS_CONTAINERS_DIR; NEXODUS_STORAGE_DRIVER=vfs forces the slow driver.
IMAGES_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
NEXODUS_CONTAINERS_DIR="${NEXODUS_CONTAINERS_DIR:-${NEXODUS_TEST_CACHE:-$HOME/.cache/nexodus-test}/containers}"
mkdir -p "$NEXODUS_CONTAINERS_DIR"

# Which storage driver works here is probed once (kernel overlay on the cache's file system) and kept.
if [ -z "${NEXODUS_STORAGE_DRIVER:-}" ]; then
  if [ -f "$NEXODUS_CONTAINERS_DIR/driver" ]; then
    NEXODUS_STORAGE_DRIVER="$(cat "$NEXODUS_CONTAINERS_DIR/driver")"
  else
    probe="$NEXODUS_CONTAINERS_DIR/overlay-probe"
    mkdir -p "$probe"/{l,u,w,m}
    if [ "$(id -u)" = 0 ] && mount -t overlay overlay -o "lowerdir=$probe/l,upperdir=$probe/u,workdir=$probe/w" "$probe/m" 2>/dev/null; then
      umount "$probe/m"
      NEXODUS_STORAGE_DRIVER=overlay
    else
      NEXODUS_STORAGE_DRIVER=vfs
    fi
    rm -rf "$probe"
    echo "$NEXODUS_STORAGE_DRIVER" >"$NEXODUS_CONTAINERS_DIR/driver"
  fi
fi

cat >"$NEXODUS_CONTAINERS_DIR/storage.conf" <<CONF
[storage]
driver = "$NEXODUS_STORAGE_DRIVER"
graphroot = "$NEXODUS_CONTAINERS_DIR/storage"
runroot = "$NEXODUS_CONTAINERS_DIR/run"
CONF
# Podman's rootful defaults raise RLIMIT_NOFILE/NPROC past this sandbox's hard limits (setrlimit
# "Operation not permitted", no CAP_SYS_RESOURCE): containers get the caller's open-file limit and a process
# limit well under it. crun refuses a cgroup v1 host whose unified hierarchy has a controller ("cgroups in
# hybrid mode not supported"), as here; runc does not, so runc is the runtime.
cat >"$NEXODUS_CONTAINERS_DIR/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=4096:4096"]
netns = "host"
cgroupns = "host"
log_driver = "k8s-file"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$NEXODUS_CONTAINERS_DIR/events.log"
runtime = "runc"
tmp_dir = "$NEXODUS_CONTAINERS_DIR/tmp"
[network]
network_backend = "netavark"
network_config_dir = "$NEXODUS_CONTAINERS_DIR/networks"
CONF
export CONTAINERS_CONF="$NEXODUS_CONTAINERS_DIR/containers.conf"
export CONTAINERS_STORAGE_CONF="$NEXODUS_CONTAINERS_DIR/storage.conf"
# Short names resolve nowhere (no registry is searched); images are named in full.
cat >"$NEXODUS_CONTAINERS_DIR/registries.conf" <<CONF
unqualified-search-registries = []
short-name-mode = "permissive"
CONF
export CONTAINERS_REGISTRIES_CONF="$NEXODUS_CONTAINERS_DIR/registries.conf"
export BUILDAH_ISOLATION=chroot

# The version the images are tagged with.
IMAGE_VERSION="$(node -p "require('$IMAGES_REPO/packages/nexd/package.json').version")"
NODE_VERSION="$(node -p 'process.versions.node')"
IMAGE_PREFIX="${IMAGE_PREFIX:-localhost/nexodus-ts}"
# The local bases are named after the Node version and the recipe (base.sh), so a changed recipe makes new ones.
BASE_KEY="$(sha256sum "$IMAGES_REPO/scripts/images/base.sh" | cut -c1-8)"
LOCAL_BASE="$IMAGE_PREFIX/base:node$NODE_VERSION-$BASE_KEY"
LOCAL_BUILD_BASE="$IMAGE_PREFIX/build-base:node$NODE_VERSION-$BASE_KEY"
