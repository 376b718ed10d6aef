#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `npm run image`: builds the nexd and server images with Debian's podman (no daemon) and writes them as OCI
# archives to dist/images/ (nexd-<version>.oci.tar, server-<version>.oci.tar), tagged
# localhost/nexodus-ts/{nexd,server}:<version> (the version of packages/nexd and packages/server).
# By default on the local bases of scripts/images/base.sh (made first when missing), so no container registry
# is needed; `--public-base` builds on the public Node 20 images instead (docker.io/library/node:20-bookworm*).
# The npm registry is reached from the build (host network); layers are cached in the project's container
# storage, so a second run with unchanged sources takes seconds.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$IMAGES_REPO"

base_args=()
if [ "${1:-}" = --public-base ]; then
  shift
else
  bash scripts/images/base.sh
  base_args=(--build-arg "BUILD_IMAGE=$LOCAL_BUILD_BASE" --build-arg "BASE_IMAGE=$LOCAL_BASE")
fi
# This machine's CA bundle, for a registry behind a TLS-inspecting proxy (npm's own cafile when set).
cafile="$(npm config get cafile 2>/dev/null || true)"
[ -n "$cafile" ] && [ "$cafile" != null ] && [ -f "$cafile" ] || cafile=/etc/ssl/certs/ca-certificates.crt
secret_args=()
[ -f "$cafile" ] && secret_args=(--secret "id=cacert,src=$cafile")

mkdir -p dist/images
for name in nexd server; do
  tag="$IMAGE_PREFIX/$name:$IMAGE_VERSION"
  start=$(date +%s)
  echo "image: building $tag"
  podman build --quiet --network=host --layers "${base_args[@]}" "${secret_args[@]}" \
    -f "deploy/images/$name.Containerfile" -t "$tag" . >/dev/null
  rm -f "dist/images/$name-$IMAGE_VERSION.oci.tar"
  podman save --quiet --format oci-archive -o "dist/images/$name-$IMAGE_VERSION.oci.tar" "$tag"
  size=$(podman image inspect --format '{{.Size}}' "$tag")
  echo "image: $tag $((size / 1000000)) MB ($(($(date +%s) - start)) s) -> dist/images/$name-$IMAGE_VERSION.oci.tar"
done
