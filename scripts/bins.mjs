#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// After `tsc -b`: makes each workspace package's bin files executable, so `npx nexd` (and an image's
// `nexd` on PATH) runs them through their shebang, which carries nexd's V8 flags. npm marks bins
// executable when it links them, but on a fresh clone `npm ci` runs before dist/ exists.
import { chmodSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packages = join(dirname(fileURLToPath(import.meta.url)), '..', 'packages');
for (const name of readdirSync(packages)) {
  const manifest = join(packages, name, 'package.json');
  if (!existsSync(manifest)) continue;
  const { bin } = JSON.parse(readFileSync(manifest, 'utf8'));
  for (const file of Object.values(typeof bin === 'string' ? { [name]: bin } : (bin ?? {}))) {
    const path = join(packages, name, file);
    if (existsSync(path)) chmodSync(path, 0o755);
  }
}
