// SPDX-License-Identifier: Apache-2.0
// Property: for random sequences of changes in a VPC, a stream resumed from ANY revision seen by a live
// stream, applied on top of the live stream's state at that revision, ends in the live stream's final state,
// with only newer revisions and none twice (fast-check, seeded, small run count).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NexodusClient, type WatchEvent } from '@nexodus/api';
import fc from 'fast-check';
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
import { applyEvents, Collector, revisionOf } from './helpers/watch.js';

const KINDS = ['device', 'device-metadata', 'security-group'] as const;
const op = fc.oneof(
  // Creation weighs more, so that most sequences have devices to change and delete.
  { arbitrary: fc.record({ t: fc.constant('create' as const) }), weight: 4 },
  fc.record({ t: fc.constant('update' as const), i: fc.nat() }),
  fc.record({ t: fc.constant('delete' as const), i: fc.nat() }),
  fc.record({
    t: fc.constant('put' as const),
    i: fc.nat(),
    key: fc.constantFrom('a', 'b', 'c'),
    v: fc.integer(),
  }),
  fc.record({ t: fc.constant('unput' as const), i: fc.nat(), key: fc.constantFrom('a', 'b', 'c') }),
  fc.record({ t: fc.constant('sg' as const) }),
  fc.record({ t: fc.constant('unsg' as const), i: fc.nat() }),
);
const changes = (evs: WatchEvent[]) => evs.filter((e) => e.type === 'change' || e.type === 'delete');

after(stopSharedPostgres);

for (const engine of ENGINES)
  describe(`watch resume property on ${engine}`, { skip: engineSkip(engine), timeout: 120_000 }, () => {
    let t: TestApp;
    let u: TestUser;
    let client: NexodusClient;
    let run = 0;
    before(async () => {
      t = await createTestApp(engine);
      await t.app.listen({ port: 0, host: '127.0.0.1' });
      const a = t.app.server.address();
      u = await newUser(t);
      client = new NexodusClient({
        baseUrl: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`,
        token: u.token,
      });
    });
    after(async () => {
      await client?.close();
      await t?.close();
    });

    it('resuming from any seen revision misses and repeats nothing', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(op, { minLength: 3, maxLength: 20 }),
          fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
          async (ops, picks) => {
            const org = await client.createOrganization({ name: `prop-${++run}` });
            const vpc = await client.createVpc({ organization_id: org.id });
            const all = KINDS.map((kind) => ({ kind, gt_revision: 0 }));
            const live = new Collector(client, vpc.id, all);
            try {
              await live.waitFor((e) => e.filter((x) => x.type === 'tail').length === 3, 5000, 'tails');
              const devices: string[] = [];
              const meta: Array<[string, string]> = [];
              const groups: string[] = [];
              for (const o of ops) {
                const pick = <T>(xs: T[], i: number) => (xs.length ? xs[i % xs.length] : undefined);
                if (o.t === 'create')
                  devices.push((await client.createDevice({ public_key: wgKey(), vpc_id: vpc.id })).id);
                else if (o.t === 'update') {
                  const d = pick(devices, o.i);
                  if (d) await client.updateDevice(d, { hostname: `h${o.i}` });
                } else if (o.t === 'delete') {
                  const d = pick(devices, o.i);
                  if (d) {
                    await client.deleteDevice(d);
                    devices.splice(devices.indexOf(d), 1);
                    for (let j = meta.length - 1; j >= 0; j--) if (meta[j]![0] === d) meta.splice(j, 1);
                  }
                } else if (o.t === 'put') {
                  const d = pick(devices, o.i);
                  if (d) {
                    await client.setDeviceMetadata(d, o.key, o.v);
                    if (!meta.some(([x, k]) => x === d && k === o.key)) meta.push([d, o.key]);
                  }
                } else if (o.t === 'unput') {
                  const m = pick(meta, o.i);
                  if (m) {
                    await client.deleteDeviceMetadata(m[0], m[1]);
                    meta.splice(meta.indexOf(m), 1);
                  }
                } else if (o.t === 'sg')
                  groups.push((await client.createSecurityGroup({ vpc_id: vpc.id })).id);
                else {
                  const g = pick(groups, o.i);
                  if (g) {
                    await client.deleteSecurityGroup(g);
                    groups.splice(groups.indexOf(g), 1);
                  }
                }
              }
              const final = (
                await t.db
                  .selectFrom('vpc_revisions')
                  .select('revision')
                  .where('vpc_id', '=', vpc.id)
                  .executeTakeFirstOrThrow()
              ).revision;
              await live.waitFor(
                (e) => changes(e).some((x) => revisionOf(x) === final),
                5000,
                `live at ${final}`,
              );
              const finalState = applyEvents(new Map(), changes(live.events));
              const seen = [0, ...changes(live.events).map(revisionOf)];
              for (const p of picks) {
                const r = seen[p % seen.length]!;
                const resumed = new Collector(
                  client,
                  vpc.id,
                  all.map((w) => ({ ...w, gt_revision: r })),
                );
                try {
                  await resumed.waitFor(
                    (e) => e.filter((x) => x.type === 'tail').length === 3,
                    5000,
                    'resumed tails',
                  );
                  const revs = changes(resumed.events).map(revisionOf);
                  assert.ok(
                    revs.every((x) => x > r),
                    `only revisions above ${r}`,
                  );
                  assert.equal(new Set(revs).size, revs.length, 'nothing twice');
                  const state = applyEvents(
                    applyEvents(
                      new Map(),
                      changes(live.events).filter((e) => revisionOf(e) <= r),
                    ),
                    changes(resumed.events),
                  );
                  assert.deepEqual(
                    [...state.entries()].sort(),
                    [...finalState.entries()].sort(),
                    `resume from ${r}`,
                  );
                } finally {
                  await resumed.close();
                }
              }
            } finally {
              await live.close();
            }
          },
        ),
        { numRuns: 20, seed: 20261124 },
      );
    });
  });
