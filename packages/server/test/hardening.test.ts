// SPDX-License-Identifier: Apache-2.0
// The service faults of issue 16 (an adversarial review), each reproduced through app.inject() on SQLite and
// PostgreSQL: NUL bytes, key squatting, used reg keys, CIDR parsing, metadata depth, 404 vs 403, future iat,
// expired reg keys and the all-zero key. Every case failed before its fix.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { identityView } from '../src/db/open.js';
import { IdentityService } from '../src/identity/index.js';
import {
  bearer,
  call,
  createTestApp,
  ENGINES,
  engineSkip,
  newUser,
  stopSharedPostgres,
  TEST_ISSUER,
  type TestApp,
  type TestUser,
  wgKey,
} from './helpers/app.js';

after(stopSharedPostgres);

type Who = TestUser | Record<string, string>;
const headersOf = (u: Who) => ('headers' in u ? (u as TestUser).headers : (u as Record<string, string>));

for (const engine of ENGINES) {
  describe(`hardening on ${engine}`, { skip: engineSkip(engine), timeout: 120_000 }, () => {
    let t: TestApp;
    let alice: TestUser;
    let bob: TestUser;
    before(async () => {
      t = await createTestApp(engine);
      alice = await newUser(t);
      bob = await newUser(t);
    });
    after(async () => t?.close());

    const get = (u: Who, url: string) => call(t.app, { method: 'GET', url, headers: headersOf(u) });
    const send = (method: 'POST' | 'PATCH' | 'PUT' | 'DELETE', u: Who, url: string, payload?: unknown) =>
      call(t.app, {
        method,
        url,
        headers: {
          ...headersOf(u),
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
      });
    const register = (u: Who, body: Record<string, unknown> = {}) =>
      send('POST', u, '/api/devices', { public_key: wgKey(), hostname: 'h', os: 'linux', ...body });

    describe('1: NUL bytes and control characters', () => {
      it('a NUL in a body field, a nested string, an object key, a metadata key or a query is a 400 naming it', async () => {
        const d = await register(alice);
        assert.equal(d.status, 201);
        const cases: Array<[Promise<Awaited<ReturnType<typeof call>>>, string]> = [
          [register(alice, { hostname: 'a\u0000b' }), 'hostname'],
          [
            register(alice, { endpoints: [{ source: 'local', address: '1.2.3.4:5\u0000' }] }),
            'endpoints[0].address',
          ],
          [send('PATCH', alice, `/api/devices/${d.json.id}`, { os: '\u0000' }), 'os'],
          [send('PUT', alice, `/api/devices/${d.json.id}/metadata/k`, { 'x\u0000y': 1 }), 'x\u0000y'],
          [send('PUT', alice, `/api/devices/${d.json.id}/metadata/k`, ['ok', 'no\u0000']), 'body[1]'],
          [send('PUT', alice, `/api/devices/${d.json.id}/metadata/a%00b`, 1), 'params.key'],
          [get(alice, `/api/vpcs/${alice.id}/metadata?key=a%00b`), 'query.key'],
          [get(alice, `/api/vpcs/${alice.id}/metadata?prefix=%00`), 'query.prefix'],
          [send('POST', alice, '/api/organizations', { name: 'org', description: 'd\u0000' }), 'description'],
        ];
        for (const [p, field] of cases) {
          const r = await p;
          assert.equal(r.status, 400, `${field}: ${r.body}`);
          assert.equal(r.json.code, 'NEX_ERR_CONTROL_CHARACTER', r.body);
          assert.ok(r.json.error.includes('NUL'), r.body);
          if (!field.includes('\u0000')) assert.equal(r.json.field, field.replace(/^x.*/, ''), r.body);
        }
        const meta = await get(alice, `/api/devices/${d.json.id}/metadata`);
        assert.deepEqual(meta.json, [], 'nothing was stored');
      });

      it('control characters in names are refused, in free text (descriptions, metadata values) kept', async () => {
        for (const hostname of ['a\nb', 'tab\there', 'bell\u0007', 'del\u007f']) {
          const r = await register(alice, { hostname });
          assert.equal(r.status, 400, r.body);
          assert.equal(r.json.code, 'NEX_ERR_CONTROL_CHARACTER');
          assert.equal(r.json.field, 'hostname');
        }
        const d = await register(alice);
        const m = await send('PUT', alice, `/api/devices/${d.json.id}/metadata/note`, {
          text: 'line1\nline2',
        });
        assert.equal(m.status, 200, m.body);
        assert.deepEqual(m.json.value, { text: 'line1\nline2' });
        const bad = await send('PUT', alice, `/api/devices/${d.json.id}/metadata/a%0Ab`, 1);
        assert.equal(bad.status, 400);
        assert.equal(bad.json.field, 'params.key');
      });

      it('a lone UTF-16 surrogate (valid JSON, not storable as UTF-8) is a 400, an astral character is kept', async () => {
        const r = await call(t.app, {
          method: 'POST',
          url: '/api/organizations',
          headers: { ...alice.headers, 'content-type': 'application/json' },
          payload: '{"name":"org","description":"\\ud800"}',
        });
        assert.equal(r.status, 400, r.body);
        assert.equal(r.json.code, 'NEX_ERR_CONTROL_CHARACTER');
        assert.equal(r.json.field, 'description');
        const ok = await send('POST', alice, '/api/organizations', { name: 'crab', description: '🦀' });
        assert.equal(ok.status, 201, ok.body);
        assert.equal(ok.json.description, '🦀');
      });

      it("the password grant's username with a NUL is an OAuth2 invalid_request, not a 500", async () => {
        for (const contentType of ['json', 'form'] as const) {
          const payload =
            contentType === 'json'
              ? JSON.stringify({
                  grant_type: 'password',
                  username: 'al\u0000ice',
                  password: 'whatever-password',
                  client_id: 'nexodus-cli',
                })
              : 'grant_type=password&username=al%00ice&password=whatever-password&client_id=nexodus-cli';
          const r = await call(t.app, {
            method: 'POST',
            url: '/oauth2/token',
            headers: {
              'content-type':
                contentType === 'json' ? 'application/json' : 'application/x-www-form-urlencoded',
            },
            payload,
          });
          assert.equal(r.status, 400, r.body);
          assert.equal(r.json.error, 'invalid_request');
          assert.match(r.json.error_description, /NUL/);
        }
      });
    });

    describe('2: public keys registered by another owner', () => {
      it("another owner's key: 409 without an id or owner; the owner's own key: 409 with its id", async () => {
        const key = wgKey();
        const mine = await register(alice, { public_key: key });
        assert.equal(mine.status, 201);
        const squat = await register(bob, { public_key: key });
        assert.equal(squat.status, 409);
        assert.equal(squat.json.code, 'NEX_ERR_CONFLICT');
        assert.equal(squat.json.id, undefined, 'no id of a foreign device');
        assert.ok(!squat.body.includes(mine.json.id));
        assert.ok(!squat.body.includes(alice.id));
        // The same answer as a conflict on a key nobody can see: only the message's wording names the case.
        const again = await register(alice, { public_key: key });
        assert.equal(again.status, 409);
        assert.equal(again.json.id, mine.json.id);
      });
    });

    describe('3: a used single-use registration key is dead', () => {
      it('after registering one device it reads nothing, itself included, and registers nothing', async () => {
        const k = await send('POST', alice, '/api/reg-keys', { vpc_id: alice.id, single_use: true });
        const kh = bearer(k.json.bearer_token);
        assert.equal((await get(kh, '/api/reg-keys/me')).status, 200, 'unused: reads itself');
        const d = await register(kh);
        assert.equal(d.status, 201);
        for (const url of [
          '/api/reg-keys/me',
          `/api/reg-keys/${k.json.id}`,
          `/api/vpcs/${alice.id}/devices`,
          '/api/devices',
          `/api/devices/${d.json.id}`,
          `/api/vpcs/${alice.id}`,
        ]) {
          const r = await get(kh, url);
          assert.equal(r.status, 401, `${url}: ${r.body}`);
          assert.equal(r.json.code, 'NEX_ERR_REG_KEY_USED');
        }
        assert.equal((await register(kh)).status, 401);
        assert.equal((await send('PATCH', kh, `/api/devices/${d.json.id}`, { hostname: 'x' })).status, 401);
        // The device's own token carries on; it may re-register its own key (a restarted nexd: 409 + id).
        const dh = bearer(d.json.bearer_token);
        assert.equal((await get(dh, `/api/vpcs/${alice.id}/devices`)).status, 200);
        const re = await register(dh, { public_key: d.json.public_key });
        assert.equal(re.status, 409);
        assert.equal(re.json.id, d.json.id);
      });
    });

    describe('5: VPC pools', () => {
      it('leading zeros and non-unicast or host-covering pools are refused with NEX_ERR_BAD_CIDR', async () => {
        const bad4 = [
          '010.0.0.0/16',
          '10.00.0.0/16',
          '10.0.0.0/016',
          '0.0.0.0/0',
          '0.0.0.0/8',
          '127.0.0.0/8',
          '127.1.0.0/16',
          '224.0.0.0/4',
          '239.1.0.0/16',
          '169.254.0.0/16',
          '255.255.255.0/24',
          '240.0.0.0/4',
          '8.0.0.0/1',
        ];
        const bad6 = [
          '::/0',
          '::/64',
          '::1/128',
          'ff00::/8',
          'ff02::/16',
          'fe80::/10',
          'fe80::/64',
          '::ffff:0:0/96',
        ];
        for (const c of bad4) {
          const r = await send('POST', alice, '/api/vpcs', { organization_id: alice.id, ipv4_cidr: c });
          assert.equal(r.status, 400, `${c}: ${r.body}`);
          assert.equal(r.json.code, 'NEX_ERR_BAD_CIDR', c);
          assert.equal(r.json.field, 'ipv4_cidr');
        }
        for (const c of bad6) {
          const r = await send('POST', alice, '/api/vpcs', { organization_id: alice.id, ipv6_cidr: c });
          assert.equal(r.status, 400, `${c}: ${r.body}`);
          assert.equal(r.json.code, 'NEX_ERR_BAD_CIDR', c);
        }
        const ok = await send('POST', alice, '/api/vpcs', {
          organization_id: alice.id,
          ipv4_cidr: '10.0.0.0/16',
          ipv6_cidr: 'fd00:1::/64',
        });
        assert.equal(ok.status, 201, ok.body);
        assert.equal(ok.json.ipv4_cidr, '10.0.0.0/16');
        const adv = await register(alice, { advertise_cidrs: ['010.1.2.0/24'] });
        assert.equal(adv.status, 400, 'advertised CIDRs: leading zeros refused too');
        const req = await register(alice, { ipv4_tunnel_ips: [{ address: '100.100.0.010' }] });
        assert.equal(req.status, 400, 'requested addresses: leading zeros refused too');
      });
    });

    describe('6: metadata depth and size', () => {
      it('a value nested 5,000 levels deep is a 400 (not a stack overflow); 32 levels are fine', async () => {
        const d = await register(alice);
        const deep = `${'['.repeat(5000)}1${']'.repeat(5000)}`;
        const r = await call(t.app, {
          method: 'PUT',
          url: `/api/devices/${d.json.id}/metadata/deep`,
          headers: { ...alice.headers, 'content-type': 'application/json' },
          payload: deep,
        });
        assert.equal(r.status, 400, r.body.slice(0, 300));
        assert.equal(r.json.code, 'NEX_ERR_TOO_DEEP');
        const objDeep = `${'{"a":'.repeat(100)}1${'}'.repeat(100)}`;
        const r2 = await call(t.app, {
          method: 'PUT',
          url: `/api/devices/${d.json.id}/metadata/deep`,
          headers: { ...alice.headers, 'content-type': 'application/json' },
          payload: objDeep,
        });
        assert.equal(r2.status, 400);
        const fine = `${'['.repeat(31)}1${']'.repeat(31)}`;
        const ok = await call(t.app, {
          method: 'PUT',
          url: `/api/devices/${d.json.id}/metadata/deep`,
          headers: { ...alice.headers, 'content-type': 'application/json' },
          payload: fine,
        });
        assert.equal(ok.status, 200, ok.body);
        assert.equal(JSON.stringify(ok.json.value), fine);
        const big = await send('PUT', alice, `/api/devices/${d.json.id}/metadata/big`, 'x'.repeat(70_000));
        assert.equal(big.status, 413);
        assert.equal(big.json.code, 'NEX_ERR_BODY_TOO_LARGE');
      });
    });

    describe('9: tokens on objects they may not touch', () => {
      it('a device token gets one fixed 403 for user-only operations, whatever the object; 404 for foreign ones', async () => {
        const mine = await register(alice);
        const other = await register(alice);
        const foreign = await register(bob);
        const dh = bearer(mine.json.bearer_token);
        const bobVpc = bob.id;
        const fixed = async (r: Promise<Awaited<ReturnType<typeof call>>>, what: string) => {
          const x = await r;
          assert.equal(x.status, 403, `${what}: ${x.body}`);
          return x.json.error as string;
        };
        // User-only operations: the same answer for an own, a foreign and a missing object.
        const missing = '00000000-0000-4000-8000-000000000000';
        const answers = new Set<string>();
        for (const vpc of [alice.id, bobVpc, missing]) {
          answers.add(await fixed(send('PATCH', dh, `/api/vpcs/${vpc}`, { description: 'x' }), `vpc ${vpc}`));
          answers.add(await fixed(send('DELETE', dh, `/api/vpcs/${vpc}`), `delete vpc ${vpc}`));
          answers.add(await fixed(send('POST', dh, '/api/reg-keys', { vpc_id: vpc }), `reg key in ${vpc}`));
          answers.add(await fixed(send('POST', dh, '/api/security-groups', { vpc_id: vpc }), `sg in ${vpc}`));
        }
        assert.ok(answers.size <= 4, [...answers].join(' | '));
        // Device writes: a device token may change only itself; every other id is one fixed answer too.
        const w = new Set<string>();
        for (const id of [other.json.id, foreign.json.id, missing]) {
          w.add(await fixed(send('PATCH', dh, `/api/devices/${id}`, { hostname: 'x' }), `patch ${id}`));
          w.add(await fixed(send('DELETE', dh, `/api/devices/${id}`), `delete ${id}`));
          w.add(await fixed(send('PUT', dh, `/api/devices/${id}/metadata/k`, 1), `meta ${id}`));
        }
        assert.equal(w.size, 1, [...w].join(' | '));
        // Reads of foreign objects: 404 as for users.
        assert.equal((await get(dh, `/api/devices/${foreign.json.id}`)).status, 404);
        assert.equal((await get(dh, `/api/vpcs/${bobVpc}/devices`)).status, 404);
      });

      it('a reg key gets 404 on devices it did not register, and a fixed 403 for user-only operations', async () => {
        const k = await send('POST', alice, '/api/reg-keys', { vpc_id: alice.id });
        const kh = bearer(k.json.bearer_token);
        const byOwner = await register(alice);
        const foreign = await register(bob);
        for (const id of [byOwner.json.id, foreign.json.id]) {
          const r = await send('PATCH', kh, `/api/devices/${id}`, { hostname: 'x' });
          assert.equal(r.status, 404, r.body);
          assert.equal((await send('DELETE', kh, `/api/devices/${id}`)).status, 404);
        }
        const wrongVpc = await register(kh, { vpc_id: bob.id });
        const otherVpc = await register(kh, { vpc_id: '00000000-0000-4000-8000-000000000000' });
        assert.equal(wrongVpc.status, otherVpc.status, 'a foreign VPC and a missing one: the same answer');
        assert.equal(wrongVpc.json.error, otherVpc.json.error);
      });
    });

    describe('10: future iat, expired reg keys, the all-zero key', () => {
      it('a JWT issued in the future (beyond the clock tolerance) is refused; within it, accepted', async () => {
        const skewed = (seconds: number) =>
          IdentityService.create({
            db: identityView(t.db),
            issuer: TEST_ISSUER,
            scrypt: { N: 2 ** 10, r: 8, p: 1 },
            now: () => new Date(Date.now() + seconds * 1000),
          });
        const password = 'a-long-enough-password';
        await t.identity.createUser(`skew${engine}`, password);
        const grant = (s: IdentityService) =>
          s.passwordGrant({
            username: `skew${engine}`,
            password,
            clientId: 'nexodus-cli',
            address: '10.9.9.9',
          });
        const bad = await grant(await skewed(3600));
        const r = await get(bearer(bad.access_token), '/api/users/me');
        assert.equal(r.status, 401, 'iat one hour ahead');
        const good = await grant(await skewed(2));
        assert.equal((await get(bearer(good.access_token), '/api/users/me')).status, 200, 'iat 2 s ahead');
      });

      it('a reg key that expires in the past is refused at creation; the all-zero public key too', async () => {
        const past = await send('POST', alice, '/api/reg-keys', {
          vpc_id: alice.id,
          expires_at: '2001-01-01T00:00:00Z',
        });
        assert.equal(past.status, 400, past.body);
        assert.equal(past.json.field, 'expires_at');
        const future = await send('POST', alice, '/api/reg-keys', {
          vpc_id: alice.id,
          expires_at: new Date(Date.now() + 3600_000).toISOString(),
        });
        assert.equal(future.status, 201);
        const zero = await register(alice, { public_key: Buffer.alloc(32).toString('base64') });
        assert.equal(zero.status, 400, zero.body);
        assert.equal(zero.json.field, 'public_key');
      });
    });
  });
}
