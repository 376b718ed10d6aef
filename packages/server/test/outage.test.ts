// SPDX-License-Identifier: Apache-2.0
// Issue 16 item 7: a database outage answers 503 + Retry-After (not 500) and /private/ready says not ready.
// PostgreSQL: a real server of the test's own, stopped under the app. SQLite: a writer blocked by another
// connection's lock past the busy timeout.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import { call, createTestApp, newUser, openTestDb, wgKey } from './helpers/app.js';
import { POSTGRES_SKIP_REASON, postgresAvailable, startPostgres } from './helpers/postgres.js';

describe('database outage', { timeout: 60_000 }, () => {
  it('postgres stopped: API 503 + Retry-After, the token endpoint 503, /private/ready 503; live stays 200', {
    skip: postgresAvailable() ? false : POSTGRES_SKIP_REASON,
  }, async () => {
    const pg = await startPostgres();
    const db = await openTestDb('postgres', { url: await pg.createDatabase() });
    const t = await createTestApp('postgres', {}, db);
    try {
      const u = await newUser(t);
      assert.equal((await call(t.app, { method: 'GET', url: '/private/ready' })).json.status, 'UP');
      assert.equal(
        (await call(t.app, { method: 'GET', url: '/api/devices', headers: u.headers })).status,
        200,
      );
      await pg.stop();
      const r = await call(t.app, { method: 'GET', url: '/api/devices', headers: u.headers });
      assert.equal(r.status, 503, r.body);
      assert.equal(r.json.code, 'NEX_ERR_UNAVAILABLE');
      assert.equal(r.headers['retry-after'], '5');
      const w = await call(t.app, {
        method: 'POST',
        url: '/api/devices',
        headers: u.headers,
        payload: { public_key: wgKey() },
      });
      assert.equal(w.status, 503, w.body);
      const tok = await call(t.app, {
        method: 'POST',
        url: '/oauth2/token',
        payload: {
          grant_type: 'password',
          username: u.name,
          password: 'some-password-x',
          client_id: 'nexodus-cli',
        },
      });
      assert.equal(tok.status, 503, tok.body);
      assert.equal(tok.json.error, 'temporarily_unavailable');
      const ready = await call(t.app, { method: 'GET', url: '/private/ready' });
      assert.equal(ready.status, 503);
      assert.equal(ready.json.status, 'DOWN');
      assert.equal(ready.headers['retry-after'], '5');
      assert.equal((await call(t.app, { method: 'GET', url: '/private/live' })).status, 200);
    } finally {
      await t.app.close();
      await db.destroy().catch(() => {});
      await pg.stop();
    }
  });

  it('sqlite locked by another writer past the busy timeout: 503 + Retry-After', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nexsrv-outage-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'db.sqlite');
    const t = await createTestApp('sqlite', {}, await openTestDb('sqlite', { sqlitePath: path }));
    try {
      const u = await newUser(t);
      const other = new SQLite(path);
      other.exec('BEGIN IMMEDIATE');
      try {
        const w = await call(t.app, {
          method: 'POST',
          url: '/api/devices',
          headers: u.headers,
          payload: { public_key: wgKey() },
        });
        assert.equal(w.status, 503, w.body);
        assert.equal(w.json.code, 'NEX_ERR_UNAVAILABLE');
        assert.equal(w.headers['retry-after'], '5');
      } finally {
        other.exec('ROLLBACK');
        other.close();
      }
      const ok = await call(t.app, {
        method: 'POST',
        url: '/api/devices',
        headers: u.headers,
        payload: { public_key: wgKey() },
      });
      assert.equal(ok.status, 201, 'back once the lock is gone');
    } finally {
      await t.close();
    }
  });
});
