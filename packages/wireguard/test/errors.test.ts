// SPDX-License-Identifier: Apache-2.0
// The error-code catalogue is a contract (Fastify test/internals/errors.test.js in spirit): every code
// in the WireGuardErrorCode union is documented in the README, the README names no code that does not
// exist, and every code is thrown somewhere in the sources.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const codesIn = (text: string) => new Set(text.match(/WG_ERR_[A-Z_]+/g) ?? []);

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

describe('error codes', () => {
  const union = readFileSync(join(root, 'src/errors.ts'), 'utf8').match(
    /export type WireGuardErrorCode =([\s\S]*?);/,
  );
  assert.ok(union, 'src/errors.ts declares the WireGuardErrorCode union');
  const declared = codesIn(union[1]);

  test('the union is not empty', () => {
    assert.ok(declared.size >= 7, [...declared].join(','));
  });

  test('the README documents exactly the declared codes', () => {
    const documented = codesIn(readFileSync(join(root, 'README.md'), 'utf8'));
    assert.deepEqual([...documented].sort(), [...declared].sort());
  });

  test('every declared code is thrown somewhere in src', () => {
    const thrown = new Set<string>();
    for (const file of sources(join(root, 'src'))) {
      if (file.endsWith('errors.ts')) continue;
      for (const c of codesIn(readFileSync(file, 'utf8'))) thrown.add(c);
    }
    assert.deepEqual(
      [...declared].filter((c) => !thrown.has(c)),
      [],
    );
    assert.deepEqual(
      [...thrown].filter((c) => !declared.has(c)),
      [],
      'no code outside the union',
    );
  });
});
