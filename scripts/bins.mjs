#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// After `tsc -b`: makes each workspace package's bin files executable and links them into
// node_modules/.bin, so `node_modules/.bin/nexd` (the README's form; an image's `nexd` on PATH) runs them
// through their shebang, which carries nexd's V8 flags. npm does both when it installs, but on a fresh clone `npm ci` runs
// before dist/ exists, and npm skips a bin whose file is missing.
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const packages = join(root, 'packages');
const binDir = join(root, 'node_modules', '.bin');

function exists(path) {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

for (const dir of readdirSync(packages)) {
  const manifest = join(packages, dir, 'package.json');
  if (!existsSync(manifest)) continue;
  const { name, bin } = JSON.parse(readFileSync(manifest, 'utf8'));
  const bins = typeof bin === 'string' ? { [name.split('/').pop()]: bin } : (bin ?? {});
  for (const [command, file] of Object.entries(bins)) {
    const path = join(packages, dir, file);
    if (!existsSync(path)) continue;
    chmodSync(path, 0o755);
    // As npm links it: through node_modules/<package name>, relative to .bin.
    const link = join(binDir, command);
    if (exists(link)) continue;
    mkdirSync(binDir, { recursive: true });
    symlinkSync(relative(binDir, join(root, 'node_modules', name, file)), link);
  }
}
