// SPDX-License-Identifier: Apache-2.0
// Property-based input tests of every write route on SQLite and PostgreSQL (issue 16, standing test):
// bodies built from the real fields with arbitrary Unicode text (NUL, control characters, astral
// characters, lone surrogates), CIDR-like and key-like strings, numbers and nesting. Each answer is a 2xx
// or a 4xx with an error body, never a 5xx; and what a 2xx accepted reads back the same: the stored object
// equals the write's answer, and the fields stored as given equal the request's. Seeded and bounded.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
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

/** Runs per route and engine: enough to hit NUL, control and astral characters; CI stays fast. */
const RUNS = 25;

const text = (maxLength = 24) =>
  fc.oneof(
    fc.string({ unit: 'binary', maxLength }),
    fc.string({ unit: 'grapheme', maxLength }),
    fc.string({ maxLength }),
    fc.constantFrom('', 'a\u0000b', 'line\nbreak', '\ud800', 'x'.repeat(300), 'émoji 🦀', '../..', '%00'),
  );
const cidr4 = fc.oneof(
  fc.constantFrom('10.0.0.0/16', '010.0.0.0/16', '0.0.0.0/0', '127.0.0.0/8', '100.64.0.0/24', '10.1.2.3/8'),
  fc
    .tuple(
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 33 }),
    )
    .map(([a, b, p]) => `${a}.${b}.0.0/${p}`),
);
const cidr6 = fc.constantFrom(
  'fd00:1::/64',
  '::/0',
  'fe80::/64',
  'ff02::/16',
  '200::/64',
  'fd00::1/64',
  'x/64',
);
const endpoints = fc.array(
  fc.record({
    source: fc.constantFrom('local', 'stun'),
    address: fc.oneof(fc.constantFrom('1.2.3.4:51820', '[fd00::1]:1', 'host:99999'), text(20)),
  }),
  { maxLength: 3 },
);
const rule = fc.record(
  {
    ip_protocol: fc.constantFrom('tcp', 'udp', 'icmp', 'ipv4', 'ipv6', '', 'bogus'),
    from_port: fc.integer({ min: -1, max: 70_000 }),
    to_port: fc.integer({ min: -1, max: 70_000 }),
    ip_ranges: fc.array(fc.constantFrom('10.0.0.0/8', '010.0.0.1', '1.2.3.4-1.2.3.9', '::/0', 'nope'), {
      maxLength: 2,
    }),
  },
  { requiredKeys: [] },
);

/** JSON round trip: what the server parses from what we send (i.e. -0 becomes 0). */
const wire = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
/** Fields that change on their own between the write and the read-back. */
const VOLATILE = new Set(['online', 'online_at']);
function stable(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([k]) => !VOLATILE.has(k)));
}

for (const engine of ENGINES) {
  describe(`write routes, property-based, on ${engine}`, {
    skip: engineSkip(engine),
    timeout: 180_000,
  }, () => {
    let t: TestApp;
    let u: TestUser;
    let deviceId: string;
    let sgId: string;
    before(async () => {
      t = await createTestApp(engine, { apiRateLimit: false });
      u = await newUser(t);
      deviceId = (await send('POST', '/api/devices', { public_key: wgKey() })).json.id;
      sgId = (await send('POST', '/api/security-groups', { vpc_id: u.id, description: 'base' })).json.id;
    });
    after(async () => t?.close());

    function send(method: string, url: string, body?: unknown) {
      return call(t.app, {
        method: method as 'POST',
        url,
        headers: { ...u.headers, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
      });
    }

    /**
     * One write and its read-back. `readUrl` gives the object's URL from the answer; `given` lists the
     * request fields stored as sent.
     */
    async function writeAndReadBack(
      method: string,
      url: string,
      body: Record<string, unknown> | unknown,
      readUrl: (answer: Record<string, unknown>) => string,
      given: string[],
    ): Promise<void> {
      const r = await send(method, url, body);
      const what = `${method} ${url} ${JSON.stringify(body).slice(0, 400)} -> ${r.status} ${r.body.slice(0, 300)}`;
      assert.ok(r.status < 500, what);
      if (r.status >= 400) {
        assert.equal(typeof r.json?.error, 'string', what);
        return;
      }
      const back = await call(t.app, { method: 'GET', url: readUrl(r.json), headers: u.headers });
      assert.equal(back.status, 200, `${what}; read-back ${back.status} ${back.body}`);
      assert.deepEqual(stable(back.json), stable(r.json), `${what}; read-back differs`);
      const sent = wire(body) as Record<string, unknown>;
      for (const f of given) {
        if (sent[f] !== undefined) assert.deepEqual(back.json[f], sent[f], `${what}; field ${f}`);
      }
    }

    const prop = <T>(arb: fc.Arbitrary<T>, run: (v: T) => Promise<void>, seed: number) =>
      fc.assert(fc.asyncProperty(arb, run), { numRuns: RUNS, seed });

    it('POST /api/organizations', () =>
      prop(
        fc.record({ name: text(), description: text() }, { requiredKeys: [] }),
        (b) =>
          writeAndReadBack('POST', '/api/organizations', b, (a) => `/api/organizations/${a.id}`, [
            'name',
            'description',
          ]),
        1,
      ));

    it('POST /api/vpcs', () =>
      prop(
        fc.record({ description: text(), ipv4_cidr: cidr4, ipv6_cidr: cidr6 }, { requiredKeys: [] }),
        (b) =>
          writeAndReadBack('POST', '/api/vpcs', { organization_id: u.id, ...b }, (a) => `/api/vpcs/${a.id}`, [
            'description',
          ]),
        2,
      ));

    it('PATCH /api/vpcs/:id', () =>
      prop(
        fc.record({ description: text() }, { requiredKeys: [] }),
        (b) => writeAndReadBack('PATCH', `/api/vpcs/${u.id}`, b, () => `/api/vpcs/${u.id}`, ['description']),
        3,
      ));

    const deviceFields = {
      hostname: text(),
      os: text(),
      endpoints,
      advertise_cidrs: fc.array(fc.oneof(cidr4, cidr6), { maxLength: 3 }),
      relay: fc.boolean(),
      symmetric_nat: fc.boolean(),
    };
    const deviceGiven = ['hostname', 'os', 'endpoints', 'relay', 'symmetric_nat'];
    // PATCH has no `os` (removeAdditional drops it): not a field it stores.
    const patchGiven = deviceGiven.filter((f) => f !== 'os');

    it('POST /api/devices', () =>
      prop(
        fc.record(
          {
            public_key: fc.oneof(
              fc.constant('').map(() => wgKey()),
              text(44),
            ),
            ...deviceFields,
          },
          { requiredKeys: ['public_key'] },
        ),
        (b) => writeAndReadBack('POST', '/api/devices', b, (a) => `/api/devices/${a.id}`, deviceGiven),
        4,
      ));

    it('PATCH /api/devices/:id', () =>
      prop(
        fc.record(deviceFields, { requiredKeys: [] }),
        (b) =>
          writeAndReadBack(
            'PATCH',
            `/api/devices/${deviceId}`,
            b,
            () => `/api/devices/${deviceId}`,
            patchGiven,
          ),
        5,
      ));

    it('PUT /api/devices/:id/metadata/:key', () =>
      prop(
        fc.tuple(
          // A URL cannot carry a lone surrogate (encodeURIComponent throws): keys are well-formed here.
          text(16).filter((k) => k.length > 0 && !/\p{Cs}/u.test(k)),
          fc.jsonValue({ maxDepth: 4 }),
        ),
        async ([key, value]) => {
          const url = `/api/devices/${deviceId}/metadata/${encodeURIComponent(key)}`;
          const r = await send('PUT', url, value);
          const what = `PUT ${JSON.stringify(key)} ${JSON.stringify(value).slice(0, 300)} -> ${r.status} ${r.body.slice(0, 300)}`;
          assert.ok(r.status < 500, what);
          if (r.status >= 400) return;
          const back = await call(t.app, { method: 'GET', url, headers: u.headers });
          assert.equal(back.status, 200, what);
          assert.deepEqual(back.json, r.json, what);
          assert.equal(back.json.key, key, what);
          assert.deepEqual(back.json.value, wire(value), what);
        },
        6,
      ));

    it('POST /api/reg-keys', () =>
      prop(
        fc.record(
          {
            description: text(),
            single_use: fc.boolean(),
            expires_at: fc.oneof(
              fc.constant('').map(() => new Date(Date.now() + 3600_000).toISOString()),
              fc.constantFrom('2001-01-01T00:00:00Z', 'tomorrow', ''),
              text(30),
            ),
            settings: fc.dictionary(text(8), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
          },
          { requiredKeys: [] },
        ),
        (b) =>
          writeAndReadBack('POST', '/api/reg-keys', { vpc_id: u.id, ...b }, (a) => `/api/reg-keys/${a.id}`, [
            'description',
            'single_use',
            'settings',
          ]),
        7,
      ));

    const sgFields = {
      description: text(),
      inbound_rules: fc.array(rule, { maxLength: 3 }),
      outbound_rules: fc.array(rule, { maxLength: 3 }),
    };

    it('POST /api/security-groups', () =>
      prop(
        fc.record(sgFields, { requiredKeys: [] }),
        (b) =>
          writeAndReadBack(
            'POST',
            '/api/security-groups',
            { vpc_id: u.id, ...b },
            (a) => `/api/security-groups/${a.id}`,
            ['description'],
          ),
        8,
      ));

    it('PATCH /api/security-groups/:id', () =>
      prop(
        fc.record(sgFields, { requiredKeys: [] }),
        (b) =>
          writeAndReadBack('PATCH', `/api/security-groups/${sgId}`, b, () => `/api/security-groups/${sgId}`, [
            'description',
          ]),
        9,
      ));
  });
}
