#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The main job: install what is missing, build, and start the Nexodus service on embedded SQLite,
# HTTPS on :8443 with a self-signed certificate made on first start (its path is printed).
# Extra arguments go to `nexodus-server`, e.g. `npm start -- --http-listen 127.0.0.1:8080`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --npm-only
npx tsc -b && node scripts/bins.mjs && node scripts/build-ui.mjs
exec node packages/server/dist/cli.js --state-dir "${NEXODUS_STATE_DIR:-.state/server}" "$@"
