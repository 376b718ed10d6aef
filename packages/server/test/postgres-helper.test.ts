// SPDX-License-Identifier: Apache-2.0
// The PostgreSQL test helper must not leak servers: a test process killed with SIGKILL (no exit handlers run)
// still takes its postgres and temp dir with it (parent-death signal to the guard, see helpers/postgres.ts).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pg from 'pg';
import { POSTGRES_SKIP_REASON, postgresAvailable } from './helpers/postgres.js';

const FIXTURE = join(import.meta.dirname, 'fixtures/hold-postgres.ts');
/** A fast shutdown takes well under a second; generous for a loaded 2-core machine. */
const GONE_WITHIN_MS = 20_000;

async function accepts(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await c.connect();
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => {});
  }
}

describe('postgres test helper', {
  skip: postgresAvailable() ? false : POSTGRES_SKIP_REASON,
}, () => {
  it('kill -9 of the test process stops its postgres and removes the temp dir', {
    timeout: 60_000,
  }, async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const started = await new Promise<{ url: string; dir: string }>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        const nl = out.indexOf('\n');
        if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)) as { url: string; dir: string });
      });
      child.once('exit', (code) => reject(new Error(`fixture exited with ${code} before starting postgres`)));
    });
    assert.equal(await accepts(started.url), true, 'postgres accepts connections while its parent lives');
    assert.ok(existsSync(started.dir));

    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;

    const deadline = Date.now() + GONE_WITHIN_MS;
    while ((existsSync(started.dir) || (await accepts(started.url))) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(await accepts(started.url), false, 'postgres stopped after its test process was killed');
    assert.equal(existsSync(started.dir), false, 'its temp dir was removed');
  });
});
