#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# etcd for the tests' kube-apiserver (Kubernetes 1.31 and later need etcd >= 3.5.11; Debian 12's is older).
# The server module's main package is the etcd binary; go names it after the path ("server"), so it is
# linked as "etcd" too.
source "$(dirname "$0")/../lib.sh"
build_go_peer etcd "$(dirname "$0")" -ldflags=-s\ -w -- go.etcd.io/etcd/server/v3
dir="$(test_cache_root)/etcd-$(tr -d '[:space:]' <"$(dirname "$0")/VERSION")"
[ -e "$dir/etcd" ] || ln -s server "$dir/etcd"
