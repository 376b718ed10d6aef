#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Kubernetes control plane for the tests (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl),
# one pinned release (VERSION) built from k8s.io/kubernetes. The version stamps are what the release's own
# build sets, so `kubectl version` and the API server's /version say v1.37.2 and no skew warning is printed.
source "$(dirname "$0")/../lib.sh"
v=$(tr -d '[:space:]' <"$(dirname "$0")/VERSION")
minor=$(echo "$v" | cut -d. -f2)
ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld+=" -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  ld+=" -X $p.buildDate=1970-01-01T00:00:00Z"
done
build_go_peer kubernetes "$(dirname "$0")" "-ldflags=$ld" -- \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
