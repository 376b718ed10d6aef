// SPDX-License-Identifier: Apache-2.0
// Tombstone clean-up: tombstones past the retention are purged by the server itself, a marker keeps the
// highest purged revision, and a watch resuming from before it ends with NEX_ERR_WATCH_EXPIRED (the client
// lists again) while fresh watches and resumes after it work as before.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NexodusClient, type WatchEvent } from '@nexodus/api';
import { purgeTombstones, startTombstoneGc } from '../src/events/tombstone-gc.js';
import {
  call,
  createTestApp,
  ENGINES,
  engineSkip,
  newUser,
  stopSharedPostgres,
  type TestApp,
  type TestUser,
  wgKey,
} from './helpers/app.js';

after(stopSharedPostgres);

async function firstEvents(c: NexodusClient, vpcId: string, gt: number, until: (e: WatchEvent) => boolean) {
  const ac = new AbortController();
  const seen: WatchEvent[] = [];
  try {
    for await (const ev of c.watchEvents(vpcId, [{ kind: 'device', gt_revision: gt }], {
      signal: ac.signal,
    })) {
      seen.push(ev);
      if (until(ev)) break;
    }
  } finally {
    ac.abort();
  }
  return seen;
}

for (const engine of ENGINES) {
  describe(`tombstone clean-up on ${engine}`, { skip: engineSkip(engine), timeout: 60_000 }, () => {
    let t: TestApp;
    let u: TestUser;
    let c: NexodusClient;
    before(async () => {
      t = await createTestApp(engine, { tombstoneGc: false });
      u = await newUser(t);
      await t.app.listen({ port: 0, host: '127.0.0.1' });
      const a = t.app.server.address();
      c = new NexodusClient({
        baseUrl: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`,
        token: u.token,
      });
    });
    after(async () => {
      await c?.close();
      await t?.close();
    });

    const device = async () => {
      const r = await call(t.app, {
        method: 'POST',
        url: '/api/devices',
        headers: { ...u.headers, 'content-type': 'application/json' },
        payload: JSON.stringify({ public_key: wgKey(), vpc_id: u.id }),
      });
      assert.equal(r.status, 201, r.body);
      return r.json as { id: string; revision: number };
    };

    it('purge keeps a marker; a resume from before it expires, from 0 or after it works', async () => {
      const a = await device();
      const del = await call(t.app, { method: 'DELETE', url: `/api/devices/${a.id}`, headers: u.headers });
      assert.equal(del.status, 200);
      const purged = await purgeTombstones(t.db, new Date(Date.now() + 60_000));
      assert.ok(purged >= 1, `purged ${purged}`);
      const rows = await t.db.selectFrom('tombstones').selectAll().where('vpc_id', '=', u.id).execute();
      assert.deepEqual(
        rows.map((r) => r.kind),
        ['compacted'],
      );
      const marker = Number(rows[0]!.revision);
      const expired = await firstEvents(c, u.id, a.revision, (e) => e.type === 'error' || e.type === 'tail');
      assert.equal(expired.at(-1)?.type, 'error');
      assert.equal((expired.at(-1)!.value as { code: string }).code, 'NEX_ERR_WATCH_EXPIRED');
      const fresh = await firstEvents(c, u.id, 0, (e) => e.type === 'tail');
      assert.equal(fresh.at(-1)?.type, 'tail');
      assert.ok(!fresh.some((e) => e.type === 'change' && (e.value as { id: string }).id === a.id));
      const after = await firstEvents(c, u.id, marker, (e) => e.type === 'tail' || e.type === 'error');
      assert.equal(after.at(-1)?.type, 'tail');
      // A second purge with nothing old leaves the marker alone; new tombstones stay until they age.
      const b = await device();
      await call(t.app, { method: 'DELETE', url: `/api/devices/${b.id}`, headers: u.headers });
      assert.equal(await purgeTombstones(t.db, new Date(Date.now() - 60_000)), 0);
      const kinds = (
        await t.db.selectFrom('tombstones').select('kind').where('vpc_id', '=', u.id).execute()
      ).map((r) => r.kind);
      assert.deepEqual(kinds.sort(), ['compacted', 'device']);
    });

    it('runs by itself: the timer purges what passed the retention', async () => {
      const d = await device();
      await call(t.app, { method: 'DELETE', url: `/api/devices/${d.id}`, headers: u.headers });
      const stop = startTombstoneGc(t.db, {
        intervalMs: 20,
        retentionMs: 0,
        onError: (e) => assert.fail(String(e)),
      });
      try {
        const deadline = Date.now() + 10_000;
        for (;;) {
          const left = await t.db
            .selectFrom('tombstones')
            .select('kind')
            .where('vpc_id', '=', u.id)
            .where('kind', '!=', 'compacted')
            .execute();
          if (left.length === 0) break;
          assert.ok(Date.now() < deadline, `tombstones left: ${left.length}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      } finally {
        stop();
      }
    });
  });
}
