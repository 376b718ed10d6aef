// SPDX-License-Identifier: Apache-2.0
// Cross-replica notification survives a lost LISTEN connection: the bus reconnects, and streams catch up
// from their cursors (changes made while nobody listened are not lost).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NexodusClient } from '@nexodus/api';
import { sql } from 'kysely';
import {
  createTestApp,
  engineSkip,
  newUser,
  openTestDb,
  sharedPostgres,
  stopSharedPostgres,
  type TestApp,
  type TestUser,
  wgKey,
} from './helpers/app.js';
import { Collector } from './helpers/watch.js';

describe('LISTEN connection loss', { skip: engineSkip('postgres'), timeout: 60_000 }, () => {
  let a: TestApp;
  let b: TestApp;
  let u: TestUser;
  let urlB: string;
  before(async () => {
    const url = await (await sharedPostgres()).createDatabase();
    a = await createTestApp('postgres', {}, await openTestDb('postgres', { url }));
    b = await createTestApp('postgres', {}, await openTestDb('postgres', { url }));
    await b.app.listen({ port: 0, host: '127.0.0.1' });
    const addr = b.app.server.address();
    urlB = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    u = await newUser(a);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await stopSharedPostgres();
  });

  it("a stream on B still gets A's changes after B's LISTEN backend is terminated", async () => {
    const client = new NexodusClient({ baseUrl: urlB, token: u.token });
    const stream = new Collector(client, u.id, [{ kind: 'device', gt_revision: 0 }]);
    try {
      await stream.waitFor((e) => e.some((x) => x.type === 'tail'), 5000, 'tail');
      // Terminate every LISTEN backend (both replicas'); the pools' own connections are left alone.
      const killed = await sql<{
        ok: boolean;
      }>`SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`.execute(
        a.db,
      );
      assert.ok(killed.rows.length >= 1, 'a LISTEN backend existed');
      // A change made while B is not listening, then one after it has reconnected.
      const during = await call(a, { public_key: wgKey(), hostname: 'during' });
      await stream.waitFor(
        (e) => e.some((x) => x.type === 'change' && x.kind === 'device' && x.value.id === during),
        5000,
        'change made while not listening',
      );
      const afterwards = await call(a, { public_key: wgKey(), hostname: 'after' });
      await stream.waitFor(
        (e) => e.some((x) => x.type === 'change' && x.kind === 'device' && x.value.id === afterwards),
        5000,
        'change after reconnect',
      );
    } finally {
      await stream.close();
      await client.close();
    }
  });

  async function call(app: TestApp, body: Record<string, unknown>): Promise<string> {
    const r = await app.app.inject({
      method: 'POST',
      url: '/api/devices',
      headers: u.headers,
      payload: body,
    });
    assert.equal(r.statusCode, 201, r.body);
    return (JSON.parse(r.body) as { id: string }).id;
  }
});
