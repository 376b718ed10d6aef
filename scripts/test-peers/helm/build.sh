#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# helm (helm.sh/helm/v3 cmd/helm, the latest v3 release) for `helm lint` / `helm template` of deploy/helm/.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
build_go_peer helm "$(dirname "$0")" -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$(tr -d '[:space:]' <"$(dirname "$0")/VERSION")" -- helm.sh/helm/v3/cmd/helm
