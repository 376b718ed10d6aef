// SPDX-License-Identifier: Apache-2.0
// The error catalogue, its documentation and the codes used in the source agree (like Fastify's errors test).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { badPathParam, ERRORS, NexError, type NexErrorCode, notFound } from '../src/errors.js';

const root = join(import.meta.dirname, '..');
const docs = readFileSync(join(root, 'docs/errors.md'), 'utf8');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return n === 'identity' ? [] : sourceFiles(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

describe('error catalogue', () => {
  it('every catalogue code is documented with its HTTP status', () => {
    for (const [code, { status }] of Object.entries(ERRORS)) {
      const cells = docs
        .split('\n')
        .map((l) => l.split('|').map((c) => c.trim()))
        .find((c) => c[1] === `\`${code}\``);
      assert.ok(cells, `${code} missing from docs/errors.md`);
      assert.equal(cells[2], String(status), `${code} has the wrong status in the docs`);
    }
  });

  it('every documented code exists in the catalogue (and so in the NexErrorCode type)', () => {
    const documented = [...docs.matchAll(/^\| `(NEX_ERR_[A-Z_]+)`/gm)].map((m) => m[1]!);
    assert.ok(documented.length > 0);
    for (const code of documented) assert.ok(code in ERRORS, `${code} documented but not in src/errors.ts`);
  });

  it('every NEX_ERR_ literal in the server source is a catalogue code', () => {
    for (const f of sourceFiles(join(root, 'src'))) {
      for (const m of readFileSync(f, 'utf8').matchAll(/'(NEX_ERR_[A-Z_]+)'/g)) {
        assert.ok(m[1]! in ERRORS, `${m[1]} used in ${f} but not in the catalogue`);
      }
    }
  });

  it('NexError carries the catalogue status; bodies are the original shapes where it has them', () => {
    const code: NexErrorCode = 'NEX_ERR_CONFLICT';
    const e = new NexError(code, 'exists', { id: 'x' });
    assert.equal(e.statusCode, 409);
    assert.equal(JSON.stringify(e.toBody()), '{"id":"x","error":"resource already exists"}');
    assert.deepEqual(notFound('device').toBody(), { error: 'not found', resource: 'device' });
    assert.deepEqual(new NexError('NEX_ERR_FORBIDDEN', 'only the owner').toBody(), {
      error: 'operation not allowed',
      reason: 'only the owner',
    });
    assert.deepEqual(badPathParam('id').toBody(), { error: 'path parameter invalid', field: 'id' });
    assert.deepEqual(badPathParam('id', 'not a UUID').toBody(), {
      error: 'path parameter invalid',
      field: 'id',
      reason: 'not a UUID',
    });
    // Codes the original has no body for keep ours, with the stable code.
    assert.deepEqual(new NexError('NEX_ERR_CONFLICT', 'exists').toBody(), { error: 'exists', code });
    assert.deepEqual(new NexError('NEX_ERR_VALIDATION', 'bad', { field: 'f' }).toBody(), {
      error: 'bad',
      code: 'NEX_ERR_VALIDATION',
      field: 'f',
    });
  });
});
