// SPDX-License-Identifier: Apache-2.0
// helm for the chart tests (helm lint, helm template), built from its published module.
module nexodus-test-peers/helm

go 1.26.0

require helm.sh/helm/v3 v3.22.0 // indirect
