// SPDX-License-Identifier: Apache-2.0
// IPAM: pool parsing, candidate choice, and the database guarantee under concurrent registration.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { uniqueViolation } from '../src/db/constraints.js';
import { NexError } from '../src/errors.js';
import { checkRequested, parsePool, pickFree } from '../src/ipam.js';
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

describe('ipam pools', () => {
  it('parsePool: first/last host of IPv4 skip network and broadcast; IPv6 skips the anycast address', () => {
    const p4 = parsePool('10.0.0.0/30', 4, 'f');
    assert.equal(pickFree(p4, []), '10.0.0.1');
    assert.equal(pickFree(p4, ['10.0.0.1']), '10.0.0.2');
    assert.equal(pickFree(p4, ['10.0.0.1', '10.0.0.2']), undefined);
    const p6 = parsePool('200::/64', 6, 'f');
    assert.equal(pickFree(p6, []), '200::1');
    assert.equal(pickFree(p6, ['200::1', '200::3']), '200::2');
  });

  it('parsePool: rejects host bits, wrong family, tiny pools and garbage with the field name', () => {
    for (const [cidr, fam] of [
      ['10.0.0.1/24', 4],
      ['10.0.0.0/31', 4],
      ['fd00::/64', 4],
      ['10.0.0.0/8', 6],
      ['x', 4],
      ['10.0.0.0/-1', 4],
    ] as const) {
      assert.throws(
        () => parsePool(cidr, fam, 'ipv4_cidr'),
        (e: unknown) => e instanceof NexError && e.code === 'NEX_ERR_BAD_CIDR' && e.field === 'ipv4_cidr',
        cidr,
      );
    }
    assert.throws(() => parsePool('10.0.0.1/24', 4, 'f'), /did you mean 10\.0\.0\.0\/24/);
  });

  it('checkRequested: canonicalises, refuses network/broadcast and foreign addresses', () => {
    const p = parsePool('100.100.0.0/16', 4, 'f');
    assert.equal(checkRequested(p, '100.100.0.7', 'f'), '100.100.0.7');
    assert.equal(checkRequested(p, '100.100.0.7/32', 'f'), '100.100.0.7');
    for (const bad of ['100.100.0.0', '100.100.255.255', '10.0.0.1', '200::1', 'nope']) {
      assert.throws(() => checkRequested(p, bad, 'f'), NexError, bad);
    }
  });
});

for (const engine of ENGINES) {
  describe(`ipam on ${engine}`, { skip: engineSkip(engine), timeout: 120_000 }, () => {
    let t: TestApp;
    let u: TestUser;
    before(async () => {
      t = await createTestApp(engine);
      u = await newUser(t);
    });
    after(async () => t?.close());

    it('200 concurrent registrations get 200 distinct IPv4 and IPv6 addresses', async () => {
      const N = 200;
      const results = await Promise.all(
        Array.from({ length: N }, (_, i) =>
          call(t.app, {
            method: 'POST',
            url: '/api/devices',
            headers: u.headers,
            payload: { public_key: wgKey(), hostname: `c${i}` },
          }),
        ),
      );
      const bad = results.filter((r) => r.status !== 201);
      assert.equal(bad.length, 0, bad[0]?.body);
      const v4 = new Set(results.map((r) => r.json.ipv4_tunnel_ips[0].address));
      const v6 = new Set(results.map((r) => r.json.ipv6_tunnel_ips[0].address));
      assert.equal(v4.size, N);
      assert.equal(v6.size, N);
      const rows = await t.db
        .selectFrom('ip_allocations')
        .select('address')
        .where('vpc_id', '=', u.id)
        .execute();
      assert.equal(rows.length, 2 * N);
    });

    it('the database refuses a second device on one address (UNIQUE (vpc_id, address))', async () => {
      const a = await t.db
        .selectFrom('ip_allocations')
        .selectAll()
        .where('vpc_id', '=', u.id)
        .executeTakeFirstOrThrow();
      const other = await t.db
        .selectFrom('devices')
        .select('id')
        .where('id', '!=', a.device_id)
        .where('vpc_id', '=', u.id)
        .executeTakeFirstOrThrow();
      await assert.rejects(
        t.db
          .insertInto('ip_allocations')
          .values({ ...a, device_id: other.id })
          .execute(),
        (e: unknown) => uniqueViolation(e) !== undefined,
      );
    });

    it('a /30 pool gives two addresses, then a clear 400, nothing stored; a delete frees one', async () => {
      const org = await call(t.app, {
        method: 'POST',
        url: '/api/organizations',
        headers: u.headers,
        payload: { name: 'small' },
      });
      const vpc = await call(t.app, {
        method: 'POST',
        url: '/api/vpcs',
        headers: u.headers,
        payload: { organization_id: org.json.id, ipv4_cidr: '10.99.0.0/30' },
      });
      assert.equal(vpc.status, 201, vpc.body);
      const reg = () =>
        call(t.app, {
          method: 'POST',
          url: '/api/devices',
          headers: u.headers,
          payload: { public_key: wgKey(), vpc_id: vpc.json.id },
        });
      const [a, b] = await Promise.all([reg(), reg()]);
      assert.deepEqual([a?.status, b?.status], [201, 201]);
      assert.deepEqual([a?.json.ipv4_tunnel_ips[0].address, b?.json.ipv4_tunnel_ips[0].address].sort(), [
        '10.99.0.1',
        '10.99.0.2',
      ]);
      const full = await reg();
      assert.equal(full.status, 400);
      assert.equal(full.json.code, 'NEX_ERR_POOL_EXHAUSTED');
      assert.match(full.json.error, /10\.99\.0\.0\/30/);
      const n = await t.db.selectFrom('devices').select('id').where('vpc_id', '=', vpc.json.id).execute();
      assert.equal(n.length, 2);
      await call(t.app, { method: 'DELETE', url: `/api/devices/${a?.json.id}`, headers: u.headers });
      const again = await reg();
      assert.equal(again.status, 201);
      assert.equal(again.json.ipv4_tunnel_ips[0].address, a?.json.ipv4_tunnel_ips[0].address);
    });
  });
}
