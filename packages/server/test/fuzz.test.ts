// SPDX-License-Identifier: Apache-2.0
// Bad input never gets a 5xx: random JSON bodies, random field values and raw bytes against every write
// endpoint (fast-check, bounded runs), and the database is left as it was for the rejected ones.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { call, createTestApp, newUser, type TestApp, type TestUser, wgKey } from './helpers/app.js';

describe('fuzzed request bodies', { timeout: 90_000 }, () => {
  let t: TestApp;
  let u: TestUser;
  let deviceId: string;
  before(async () => {
    t = await createTestApp('sqlite');
    u = await newUser(t);
    const d = await call(t.app, {
      method: 'POST',
      url: '/api/devices',
      headers: u.headers,
      payload: { public_key: wgKey() },
    });
    deviceId = d.json.id;
  });
  after(async () => t?.close());

  const targets = () => [
    { method: 'POST' as const, url: '/api/devices' },
    { method: 'PATCH' as const, url: `/api/devices/${deviceId}` },
    { method: 'POST' as const, url: '/api/vpcs' },
    { method: 'POST' as const, url: '/api/organizations' },
    { method: 'POST' as const, url: '/api/security-groups' },
    { method: 'POST' as const, url: '/api/reg-keys' },
    { method: 'PUT' as const, url: `/api/devices/${deviceId}/metadata/fuzz` },
  ];

  // Values shaped like the real fields, often wrong: strings that look like keys/CIDRs, numbers, nesting.
  const fieldValue = fc.oneof(
    fc.string({ maxLength: 60 }),
    fc.constantFrom(
      '10.0.0.0/8',
      '10.0.0.1/33',
      '::/0',
      '200::/129',
      'a-b',
      '1.2.3.4-::1',
      '',
      '00000000-0000-4000-8000-000000000000',
    ),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
  );
  const fields = [
    'public_key',
    'vpc_id',
    'hostname',
    'os',
    'endpoints',
    'advertise_cidrs',
    'ipv4_tunnel_ips',
    'ipv4_cidr',
    'ipv6_cidr',
    'organization_id',
    'name',
    'inbound_rules',
    'outbound_rules',
    'single_use',
    'expires_at',
    'security_group_id',
    'description',
  ];
  const body = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.dictionary(fc.constantFrom(...fields), fieldValue, { maxKeys: 6 }),
    fc.record({
      inbound_rules: fc.array(
        fc.dictionary(fc.constantFrom('ip_protocol', 'from_port', 'to_port', 'ip_ranges'), fieldValue),
        { maxLength: 3 },
      ),
    }),
  );

  it('JSON bodies: always a 2xx or 4xx, never 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 6 }), body, async (i, b) => {
        const target = targets()[i]!;
        const r = await call(t.app, {
          ...target,
          headers: { ...u.headers, 'content-type': 'application/json' },
          payload: JSON.stringify(b),
        });
        assert.ok(
          r.status < 500,
          `${target.method} ${target.url} ${JSON.stringify(b)} -> ${r.status} ${r.body}`,
        );
        if (r.status >= 400) assert.equal(typeof r.json?.error, 'string', r.body);
      }),
      { numRuns: 300, seed: 4242 },
    );
  });

  it('raw bytes as JSON: 4xx, no device created', async () => {
    const before = (await t.db.selectFrom('devices').select('id').execute()).length;
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), async (bytes) => {
        const r = await call(t.app, {
          method: 'POST',
          url: '/api/devices',
          headers: { ...u.headers, 'content-type': 'application/json' },
          payload: Buffer.from(bytes),
        });
        assert.ok(r.status >= 400 && r.status < 500, `${r.status} ${r.body}`);
      }),
      { numRuns: 100, seed: 7 },
    );
    assert.equal((await t.db.selectFrom('devices').select('id').execute()).length, before);
  });
});
