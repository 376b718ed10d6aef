// SPDX-License-Identifier: Apache-2.0
// Watch streams over a real socket (streaming is the subject): initial list, tail, live events, resume
// without miss or repeat, online marking, bookmarks, body-less POST.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NexodusClient, type WatchEvent } from '@nexodus/api';
import {
  createTestApp,
  ENGINES,
  engineSkip,
  newUser,
  stopSharedPostgres,
  type TestApp,
  type TestUser,
  wgKey,
} from './helpers/app.js';
import { applyEvents, Collector, itemKey, revisionOf } from './helpers/watch.js';

after(stopSharedPostgres);

const ALL = [
  { kind: 'device' as const, gt_revision: 0 },
  { kind: 'device-metadata' as const, gt_revision: 0 },
  { kind: 'security-group' as const, gt_revision: 0 },
];
const changes = (evs: WatchEvent[]) => evs.filter((e) => e.type === 'change' || e.type === 'delete');

for (const engine of ENGINES) {
  describe(`watch on ${engine}`, { skip: engineSkip(engine), timeout: 120_000 }, () => {
    let t: TestApp;
    let u: TestUser;
    let client: NexodusClient;
    let base: string;
    before(async () => {
      t = await createTestApp(engine, { bookmarkMs: 150 });
      await t.app.listen({ port: 0, host: '127.0.0.1' });
      const addr = t.app.server.address();
      base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
      u = await newUser(t);
      client = new NexodusClient({ baseUrl: base, token: u.token });
    });
    after(async () => {
      await client?.close();
      await t?.close();
    });

    it('initial list as change events, then tail per kind, then live change and delete with rising revisions', async () => {
      const d1 = await client.createDevice({ public_key: wgKey(), hostname: 'one' });
      await client.setDeviceMetadata(d1.id, 'k', { a: 1 });
      const c = new Collector(client, u.id, ALL);
      try {
        await c.waitFor((e) => e.filter((x) => x.type === 'tail').length === 3, 5000, '3 tails');
        const initial = c.events.slice();
        assert.ok(
          initial.some((e) => e.type === 'change' && e.kind === 'device' && e.value.id === d1.id),
          'device listed',
        );
        assert.ok(
          initial.some((e) => e.type === 'change' && e.kind === 'device-metadata' && e.value.key === 'k'),
          'metadata listed',
        );
        assert.ok(
          initial.some((e) => e.type === 'change' && e.kind === 'security-group' && e.value.id === u.id),
          'default SG listed',
        );
        const d2 = await client.createDevice({ public_key: wgKey(), hostname: 'two' });
        await c.waitFor(
          (e) => e.some((x) => x.type === 'change' && x.kind === 'device' && x.value.id === d2.id),
          5000,
          'd2 change',
        );
        await client.deleteDevice(d1.id);
        await c.waitFor(
          (e) => e.some((x) => x.type === 'delete' && x.kind === 'device' && x.value.id === d1.id),
          5000,
          'd1 delete',
        );
        await c.waitFor(
          (e) => e.some((x) => x.type === 'delete' && x.kind === 'device-metadata'),
          5000,
          'metadata delete',
        );
        const live = changes(c.events.slice(initial.length));
        const revs = live.map(revisionOf);
        assert.deepEqual(
          revs,
          [...revs].sort((a, b) => a - b),
          'revisions increase',
        );
        assert.equal(new Set(revs).size, revs.length, 'no revision twice');
        await c.waitFor((e) => e.some((x) => x.type === 'bookmark'), 2000, 'a bookmark');
      } finally {
        await c.close();
      }
    });

    it('a stream resumed from any revision misses and repeats nothing, also while writes continue', async () => {
      const a = new Collector(client, u.id, ALL);
      try {
        await a.waitFor((e) => e.filter((x) => x.type === 'tail').length === 3, 5000, 'tails');
        const devs = [];
        for (let i = 0; i < 6; i++)
          devs.push(await client.createDevice({ public_key: wgKey(), hostname: `r${i}` }));
        await client.setDeviceMetadata(devs[0]!.id, 'x', 1);
        const mid = Math.max(...changes(a.events).map(revisionOf));
        // Writes race with the resumed stream's initial read.
        const writes = (async () => {
          for (let i = 0; i < 4; i++) await client.updateDevice(devs[i]!.id, { hostname: `r${i}-renamed` });
          await client.setDeviceMetadata(devs[1]!.id, 'y', [1]);
          await client.deleteDeviceMetadata(devs[0]!.id, 'x');
          await client.deleteDevice(devs[5]!.id);
          const sg = await client.createSecurityGroup({ vpc_id: u.id, description: 'g' });
          await client.deleteSecurityGroup(sg.id);
          await client.createDevice({ public_key: wgKey(), hostname: 'late' });
        })();
        const b = new Collector(
          client,
          u.id,
          ALL.map((w) => ({ ...w, gt_revision: mid })),
        );
        try {
          await writes;
          const last = Math.max(...(await client.listDevicesInVpc(u.id)).map((d) => d.revision));
          await a.waitFor((e) => e.some((x) => revisionOf(x) >= last), 5000, 'A at the last revision');
          const finalRev = Math.max(...changes(a.events).map(revisionOf));
          await b.waitFor((e) => e.some((x) => revisionOf(x) === finalRev), 5000, 'B at the final revision');
          const bRevs = changes(b.events).map(revisionOf);
          assert.ok(
            bRevs.every((r) => r > mid),
            'nothing at or below the resume point',
          );
          assert.equal(new Set(bRevs).size, bRevs.length, 'no event repeated');
          assert.deepEqual(
            bRevs,
            [...bRevs].sort((x, y) => x - y),
            'in revision order',
          );
          // A's state at `mid` plus B's events equals A's final state: nothing missed.
          const atMid = applyEvents(
            new Map(),
            changes(a.events).filter((e) => revisionOf(e) <= mid),
          );
          const resumed = applyEvents(atMid, changes(b.events));
          const final = applyEvents(new Map(), changes(a.events));
          assert.deepEqual([...resumed.keys()].sort(), [...final.keys()].sort());
          for (const [k, v] of final) assert.equal(resumed.get(k), v, k);
          assert.ok(
            changes(b.events).some((e) => e.type === 'delete' && itemKey(e).startsWith('security-group')),
            'SG delete seen',
          );
        } finally {
          await b.close();
        }
      } finally {
        await a.close();
      }
    });

    it('a device is online while its own stream (?public_key=) is open', async () => {
      const key = wgKey();
      const d = await client.createDevice({ public_key: key, hostname: 'on' });
      assert.equal(d.online, false);
      const dc = new NexodusClient({ baseUrl: base, token: d.bearer_token! });
      const s = new Collector(dc, u.id, [{ kind: 'device', gt_revision: 0 }], { publicKey: key });
      try {
        await s.waitFor((e) => e.some((x) => x.type === 'tail'), 5000, 'tail');
        const on = await client.getDevice(d.id);
        assert.equal(on.online, true);
        assert.ok(on.online_at);
      } finally {
        await s.close();
      }
      const deadline = Date.now() + 5000;
      while ((await client.getDevice(d.id)).online && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      assert.equal((await client.getDevice(d.id)).online, false);
      await dc.close();
    });

    it('at_tail with a current gt_revision: no initial list and no tail, only later changes', async () => {
      const existing = await client.createDevice({ public_key: wgKey(), hostname: 'old' });
      const s = new Collector(client, u.id, [
        { kind: 'device', gt_revision: existing.revision, at_tail: true },
      ]);
      try {
        // No wait for the stream to start: a stream sends in revision order, so a (wrong) initial list or
        // tail would arrive before the change of `fresh`, whether `fresh` is created before or after the
        // stream's first read.
        const fresh = await client.createDevice({ public_key: wgKey(), hostname: 'new' });
        await s.waitFor(
          (e) => e.some((x) => x.type === 'change' && x.kind === 'device' && x.value.id === fresh.id),
          5000,
          'new device',
        );
        assert.ok(!s.events.some((x) => x.type === 'tail'), 'no tail event');
        assert.ok(
          !s.events.some((x) => x.type === 'change' && x.kind === 'device' && x.value.id === existing.id),
          'no old device',
        );
      } finally {
        await s.close();
      }
    });

    it("a device's own stream ends with an error event when the device is deleted", async () => {
      const d = await client.createDevice({ public_key: wgKey(), hostname: 'doomed' });
      const dc = new NexodusClient({ baseUrl: base, token: d.bearer_token! });
      const s = new Collector(dc, u.id, [{ kind: 'device', gt_revision: 0 }]);
      try {
        await s.waitFor((e) => e.some((x) => x.type === 'tail'), 5000, 'tail');
        await client.deleteDevice(d.id);
        await s.waitFor((e) => e.some((x) => x.type === 'error'), 5000, 'error event');
        const last = s.events.at(-1)!;
        assert.equal(last.type, 'error');
        assert.equal((last.value as { code: string }).code, 'NEX_ERR_UNAUTHENTICATED');
        assert.ok(s.events.some((x) => x.type === 'delete' && x.kind === 'device' && x.value.id === d.id));
        await s.done; // the server ended the stream
      } finally {
        await s.close();
        await dc.close();
      }
    });

    it('a stream on a VPC that gets deleted ends with NEX_ERR_NOT_FOUND', async () => {
      const org = await client.createOrganization({ name: `gone-${Date.now()}` });
      const vpc = await client.createVpc({ organization_id: org.id });
      const s = new Collector(client, vpc.id, [{ kind: 'device', gt_revision: 0 }]);
      try {
        await s.waitFor((e) => e.some((x) => x.type === 'tail'), 5000, 'tail');
        await client.deleteVpc(vpc.id);
        await s.waitFor((e) => e.some((x) => x.type === 'error'), 5000, 'error event');
        assert.equal((s.events.at(-1)!.value as { code: string }).code, 'NEX_ERR_NOT_FOUND');
        await s.done;
      } finally {
        await s.close();
      }
    });

    it('POST with an empty JSON body watches every kind; bad watches and foreign VPCs are refused', async () => {
      const r = await fetch(`${base}/api/vpcs/${u.id}/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${u.token}`, 'content-type': 'application/json' },
      });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-type'), 'application/json;stream=watch');
      const reader = r.body!.getReader();
      let text = '';
      while ((text.match(/"type":"tail"/g) ?? []).length < 3) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      await reader.cancel();
      assert.equal((text.match(/"type":"tail"/g) ?? []).length, 3);
      const bad = await fetch(`${base}/api/vpcs/${u.id}/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${u.token}`, 'content-type': 'application/json' },
        body: JSON.stringify([{ kind: 'nope' }]),
      });
      assert.equal(bad.status, 400);
      const other = await newUser(t);
      const foreign = await fetch(`${base}/api/vpc/${u.id}/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${other.token}`, 'content-type': 'application/json' },
        body: JSON.stringify([{ kind: 'device' }]),
      });
      assert.equal(foreign.status, 404);
      await foreign.body?.cancel();
      await bad.body?.cancel();
    });
  });
}
