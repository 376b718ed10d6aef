#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole test command: install what is missing, build, lint, type-check, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/test-peers/build.sh
npx tsc -b && node scripts/bins.mjs && node scripts/build-ui.mjs
# The container images (podman, no daemon; layers cached, so an unchanged tree takes seconds). A failed build
# does not stop the other tests: test/e2e/images.test.ts reports it (and fails in CI).
bash scripts/images/build.sh || echo "images: npm run image failed; test/e2e/images.test.ts reports why"
npx biome check .
npx tsc -p tsconfig.check.json
node scripts/run-tests.mjs "$@"
