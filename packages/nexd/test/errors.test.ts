// SPDX-License-Identifier: Apache-2.0
// Every error code is raised somewhere in src and documented in the README, and nothing raises a code
// outside the catalogue.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NEXD_ERROR_CODES } from '../src/errors.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

async function sources(dir: string): Promise<string> {
  let text = '';
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) text += await sources(p);
    else if (e.name.endsWith('.ts') && e.name !== 'errors.ts') text += await readFile(p, 'utf8');
  }
  return text;
}

test('error codes: raised in src, documented in README, none outside the catalogue', async () => {
  const src = await sources(join(ROOT, 'src'));
  const errorsTs = await readFile(join(ROOT, 'src', 'errors.ts'), 'utf8');
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  for (const code of NEXD_ERROR_CODES) {
    assert.ok(
      src.includes(`'${code}'`) || errorsTs.split(`'${code}'`).length > 2,
      `${code} is raised somewhere`,
    );
    assert.ok(readme.includes(`\`${code}\``), `${code} is documented in README.md`);
  }
  const used = new Set(src.match(/NEX_ERR_[A-Z_]+/g));
  for (const code of used) {
    assert.ok((NEXD_ERROR_CODES as readonly string[]).includes(code), `${code} is in NEXD_ERROR_CODES`);
  }
});
