// SPDX-License-Identifier: Apache-2.0
// schemathesis (PyPI, pinned in scripts/test-peers/schemathesis/VERSION) against the served OpenAPI
// document, on SQLite and PostgreSQL, through a real listening server (issue 16, standing test): no 5xx,
// and every response matches the schema the document declares for its status. Bounded: few examples per
// operation and a time budget, so CI stays fast. Watch streams are left out (they never end by design).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  createTestApp,
  ENGINES,
  engineSkip,
  newUser,
  stopSharedPostgres,
  wgKey,
} from '../../packages/server/test/helpers/app.js';
import { testPeerBin } from './lib/test-peers.js';

after(stopSharedPostgres);

/** Examples per operation and the whole run's budget (seconds). */
const MAX_EXAMPLES = 8;
const MAX_TIME_S = 25;
const SEED = 16;

function run(bin: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    // schemathesis keeps a `.schemathesis/` example cache in its working directory: not in the repo.
    const cwd = mkdtempSync(join(tmpdir(), 'nexodus-st-'));
    const c = spawn(bin, args, {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    let out = '';
    c.stdout.on('data', (d) => {
      out += d;
    });
    c.stderr.on('data', (d) => {
      out += d;
    });
    // The budget plus start-up; schemathesis stops itself at --max-time, this only guards a hang.
    const guard = setTimeout(() => c.kill('SIGKILL'), (MAX_TIME_S + 60) * 1000);
    c.on('error', reject);
    c.on('exit', (code) => {
      clearTimeout(guard);
      rmSync(cwd, { recursive: true, force: true });
      resolve({ code, out });
    });
  });
}

for (const engine of ENGINES) {
  describe(`schemathesis on ${engine}`, {
    skip: engineSkip(engine),
    timeout: (MAX_TIME_S + 90) * 1000,
  }, () => {
    it('no 5xx, responses conform to the OpenAPI document', async (t) => {
      const st = testPeerBin(t, 'schemathesis', 'bin/st');
      if (!st) return;
      const app = await createTestApp(engine, { apiRateLimit: false });
      try {
        const u = await newUser(app);
        // Something to find: a device with metadata and a reg key, so list and read answers are not empty.
        const d = await app.app.inject({
          method: 'POST',
          url: '/api/devices',
          headers: u.headers,
          payload: { public_key: wgKey(), hostname: 'seed' },
        });
        assert.equal(d.statusCode, 201);
        const base = await app.app.listen({ port: 0, host: '127.0.0.1' });
        const r = await run(st, [
          'run',
          `${base}/openapi.json`,
          '--url',
          base,
          '-H',
          `Authorization: Bearer ${u.token}`,
          '--checks',
          'not_a_server_error,response_schema_conformance',
          '--max-examples',
          String(MAX_EXAMPLES),
          '--max-time',
          String(MAX_TIME_S),
          '--seed',
          String(SEED),
          '--workers',
          '2',
          '--request-timeout',
          '10',
          '--exclude-path-regex',
          '/events$',
          '--no-color',
        ]);
        t.diagnostic(r.out.split('\n').slice(-12).join('\n'));
        assert.equal(r.code, 0, r.out.slice(-20_000));
      } finally {
        await app.close();
      }
    });
  });
}
