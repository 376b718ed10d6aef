// SPDX-License-Identifier: Apache-2.0
// Runs the UI's Vitest component tests (test/*.test.tsx, jsdom) as part of `npm test`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ui = fileURLToPath(new URL('..', import.meta.url));

test('the UI component tests pass under Vitest', () => {
  const vitest = join(ui, '..', '..', 'node_modules', 'vitest', 'vitest.mjs');
  const r = spawnSync(process.execPath, [vitest, 'run', '--reporter=verbose'], {
    cwd: ui,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  process.stdout.write(r.stdout);
  assert.equal(r.status, 0, `vitest failed:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /Tests\s+\d+ passed/);
});
