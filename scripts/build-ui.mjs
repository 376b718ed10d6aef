#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// After `tsc -b` (which type-checks packages/ui): bundles the web UI with Vite into packages/ui/dist/web,
// which nexodus-server serves at `/`. Skipped when nothing the bundle is made of is newer than the bundle.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ui = join(root, 'packages', 'ui');
const output = join(ui, 'dist', 'web', 'index.html');
const inputs = [
  join(ui, 'src'),
  join(ui, 'index.html'),
  join(ui, 'vite.config.ts'),
  join(ui, 'package.json'),
  join(root, 'packages', 'api', 'dist'),
  join(root, 'package-lock.json'),
];

function newest(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let m = 0;
  for (const name of readdirSync(path)) m = Math.max(m, newest(join(path, name)));
  return m;
}

const built = existsSync(output) ? statSync(output).mtimeMs : 0;
if (built > 0 && inputs.every((p) => newest(p) <= built)) process.exit(0);
const r = spawnSync(
  process.execPath,
  [join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'warn'],
  {
    cwd: ui,
    stdio: 'inherit',
  },
);
process.exit(r.status ?? 1);
