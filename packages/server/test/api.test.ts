// SPDX-License-Identifier: Apache-2.0
// Every endpoint through app.inject(), against SQLite and PostgreSQL, including authorization between users.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  bearer,
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

for (const engine of ENGINES) {
  describe(`api on ${engine}`, { skip: engineSkip(engine), timeout: 120_000 }, () => {
    let t: TestApp;
    let alice: TestUser;
    let bob: TestUser;
    before(async () => {
      t = await createTestApp(engine);
      alice = await newUser(t);
      bob = await newUser(t);
    });
    after(async () => t?.close());

    const get = (u: TestUser | Record<string, string>, url: string) =>
      call(t.app, { method: 'GET', url, headers: 'headers' in u ? (u as TestUser).headers : u });
    const send = (
      method: 'POST' | 'PATCH' | 'PUT' | 'DELETE',
      u: TestUser | Record<string, string>,
      url: string,
      payload?: unknown,
    ) =>
      call(t.app, {
        method,
        url,
        headers: {
          ...('headers' in u ? (u as TestUser).headers : u),
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
      });
    const register = (u: TestUser | Record<string, string>, body: Record<string, unknown> = {}) =>
      send('POST', u, '/api/devices', { public_key: wgKey(), hostname: 'h', os: 'linux', ...body });
    const deviceCount = async () =>
      (
        await t.db
          .selectFrom('devices')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n;

    it('users/me: 401 without a token, the user with one; default org, VPC and security group exist', async () => {
      assert.equal((await get({}, '/api/users/me')).status, 401);
      assert.equal((await get(bearer('not-a-token'), '/api/users/me')).status, 401);
      const me = await get(alice, '/api/users/me');
      assert.equal(me.status, 200);
      assert.deepEqual(me.json, { id: alice.id, full_name: '', picture: '', username: alice.name });
      const orgs = await get(alice, '/api/organizations');
      assert.deepEqual(
        orgs.json.map((o: { id: string }) => o.id),
        [alice.id],
      );
      const vpc = await get(alice, `/api/vpcs/${alice.id}`);
      assert.equal(vpc.status, 200);
      assert.equal(vpc.json.description, 'default vpc');
      assert.equal(vpc.json.ipv4_cidr, '100.100.0.0/16');
      assert.equal(vpc.json.ipv6_cidr, '200::/64');
      assert.equal(vpc.json.organization_id, alice.id);
      const sgs = await get(alice, `/api/vpcs/${alice.id}/security-groups`);
      assert.equal(sgs.json.length, 1);
      assert.equal(sgs.json[0].vpc_id, alice.id);
    });

    it('default VPC and organization cannot be deleted (400)', async () => {
      const r = await send('DELETE', alice, `/api/vpcs/${alice.id}`);
      assert.equal(r.status, 400);
      assert.equal(r.json.code, 'NEX_ERR_DEFAULT_VPC');
      assert.equal((await send('DELETE', alice, `/api/organizations/${alice.id}`)).status, 400);
      assert.equal((await get(alice, `/api/vpcs/${alice.id}`)).status, 200);
    });

    it('organizations: create, 409 on a duplicate name with its id, listed by name, others get 404', async () => {
      const z = await send('POST', alice, '/api/organizations', { name: 'zzz-org', description: 'z' });
      assert.equal(z.status, 201);
      const a = await send('POST', alice, '/api/organizations', { name: 'aaa-org' });
      assert.equal(a.status, 201);
      const dup = await send('POST', alice, '/api/organizations', { name: 'aaa-org' });
      assert.equal(dup.status, 409);
      assert.equal(dup.json.id, a.json.id);
      const list = await get(alice, '/api/organizations');
      const names = list.json.map((o: { name: string }) => o.name);
      assert.deepEqual(names, [...names].sort());
      assert.ok(names.includes('aaa-org') && names.includes('zzz-org'));
      assert.equal((await get(bob, `/api/organizations/${a.json.id}`)).status, 404);
      assert.equal((await send('DELETE', bob, `/api/organizations/${a.json.id}`)).status, 404);
      assert.equal((await send('DELETE', alice, `/api/organizations/${z.json.id}`)).status, 200);
      assert.equal((await get(alice, `/api/organizations/${z.json.id}`)).status, 404);
    });

    it('VPCs: own CIDRs, bad CIDRs rejected without change, update, delete, isolation', async () => {
      const org = await send('POST', alice, '/api/organizations', { name: 'vpc-org' });
      const before = (await get(alice, '/api/vpcs')).json.length;
      for (const bad of ['10.0.0.0/33', '10.0.0.1/24', 'nope', '200::/64', '10.0.0.0/31']) {
        const r = await send('POST', alice, '/api/vpcs', { organization_id: org.json.id, ipv4_cidr: bad });
        assert.equal(r.status, 400, `${bad}: ${r.body}`);
        assert.equal(r.json.field, 'ipv4_cidr');
      }
      assert.equal(
        (await send('POST', alice, '/api/vpcs', { organization_id: org.json.id, ipv6_cidr: '10.0.0.0/8' }))
          .status,
        400,
      );
      assert.equal((await get(alice, '/api/vpcs')).json.length, before);
      const v = await send('POST', alice, '/api/vpcs', {
        organization_id: org.json.id,
        description: 'mine',
        ipv4_cidr: '10.20.0.0/24',
        ipv6_cidr: 'fd00:1::/64',
      });
      assert.equal(v.status, 201, v.body);
      assert.equal(v.json.ipv4_cidr, '10.20.0.0/24');
      assert.equal((await send('POST', bob, '/api/vpcs', { organization_id: org.json.id })).status, 404);
      assert.equal((await get(bob, `/api/vpcs/${v.json.id}`)).status, 404);
      assert.equal((await send('PATCH', bob, `/api/vpcs/${v.json.id}`, { description: 'x' })).status, 404);
      const p = await send('PATCH', alice, `/api/vpcs/${v.json.id}`, { description: 'renamed' });
      assert.equal(p.json.description, 'renamed');
      const d = await register(alice, { vpc_id: v.json.id });
      assert.equal(d.json.ipv4_tunnel_ips[0].address, '10.20.0.1');
      assert.equal(d.json.ipv6_tunnel_ips[0].address, 'fd00:1::1');
      assert.equal((await send('DELETE', bob, `/api/vpcs/${v.json.id}`)).status, 404);
      assert.equal((await send('DELETE', alice, `/api/vpcs/${v.json.id}`)).status, 200);
      assert.equal((await get(alice, `/api/devices/${d.json.id}`)).status, 404);
    });

    it('devices: register, duplicate key 409 with id, requested address, list by hostname, patch, delete frees', async () => {
      const key = wgKey();
      const d1 = await register(alice, {
        public_key: key,
        hostname: 'zeta',
        endpoints: [{ source: 'local', address: '10.1.1.1:51820' }],
      });
      assert.equal(d1.status, 201, d1.body);
      assert.equal(d1.json.vpc_id, alice.id);
      assert.equal(d1.json.owner_id, alice.id);
      assert.match(d1.json.bearer_token, /^nexdt_/);
      assert.deepEqual(d1.json.endpoints, [{ source: 'local', address: '10.1.1.1:51820' }]);
      const a4 = d1.json.ipv4_tunnel_ips[0].address;
      const a6 = d1.json.ipv6_tunnel_ips[0].address;
      assert.deepEqual(d1.json.allowed_ips, [`${a4}/32`, `${a6}/128`]);
      const dup = await register(alice, { public_key: key });
      assert.equal(dup.status, 409);
      assert.equal(dup.json.id, d1.json.id);
      const want = await register(alice, {
        hostname: 'alpha',
        ipv4_tunnel_ips: [{ address: '100.100.7.7' }],
      });
      assert.equal(want.status, 201, want.body);
      assert.equal(want.json.ipv4_tunnel_ips[0].address, '100.100.7.7');
      const taken = await register(alice, { ipv4_tunnel_ips: [{ address: '100.100.7.7' }] });
      assert.equal(taken.status, 409);
      assert.equal(taken.json.code, 'NEX_ERR_ADDRESS_IN_USE');
      const outside = await register(alice, { ipv4_tunnel_ips: [{ address: '10.9.9.9' }] });
      assert.equal(outside.status, 400);
      const list = await get(alice, `/api/vpcs/${alice.id}/devices`);
      const hosts = list.json.map((d: { hostname: string }) => d.hostname);
      assert.deepEqual(hosts, [...hosts].sort());
      assert.ok(hosts.indexOf('alpha') < hosts.indexOf('zeta'));
      const p = await send('PATCH', alice, `/api/devices/${d1.json.id}`, {
        hostname: 'zeta2',
        endpoints: [{ source: 'stun:1.2.3.4:3478', address: '203.0.113.5:4000' }],
      });
      assert.equal(p.status, 200);
      assert.equal(p.json.hostname, 'zeta2');
      assert.ok(p.json.revision > d1.json.revision);
      const del = await send('DELETE', alice, `/api/devices/${d1.json.id}`);
      assert.equal(del.status, 200);
      assert.equal((await get(alice, `/api/devices/${d1.json.id}`)).status, 404);
      const again = await register(alice, { ipv4_tunnel_ips: [{ address: a4 }] });
      assert.equal(again.status, 201, 'a freed address can be requested again');
    });

    it('devices: other users see 404 and cannot register into a foreign VPC', async () => {
      const d = await register(alice);
      assert.equal((await get(bob, `/api/devices/${d.json.id}`)).status, 404);
      assert.equal((await send('PATCH', bob, `/api/devices/${d.json.id}`, { hostname: 'x' })).status, 404);
      assert.equal((await send('DELETE', bob, `/api/devices/${d.json.id}`)).status, 404);
      assert.equal((await get(bob, `/api/vpcs/${alice.id}/devices`)).status, 404);
      assert.equal((await register(bob, { vpc_id: alice.id })).status, 404);
      const bobs = await get(bob, '/api/devices');
      assert.ok(bobs.json.every((x: { owner_id: string }) => x.owner_id === bob.id));
      // The original's bodies: an id that is not a UUID is a bad path parameter, a foreign one "not found".
      const bad = await get(alice, '/api/devices/not-a-uuid');
      assert.equal(bad.status, 400);
      assert.equal(bad.body, '{"error":"path parameter invalid","field":"id"}');
      const foreign = await get(bob, `/api/devices/${d.json.id}`);
      assert.equal(foreign.body, '{"error":"not found","resource":"device"}');
    });

    it('device token: acts on its own device only, reads its own VPC', async () => {
      const mine = await register(alice, { hostname: 'self' });
      const other = await register(alice, { hostname: 'other' });
      const bobDev = await register(bob);
      const dt = bearer(mine.json.bearer_token);
      const self = await get(dt, `/api/devices/${mine.json.id}`);
      assert.equal(self.status, 200);
      assert.equal(self.json.bearer_token, mine.json.bearer_token);
      const peer = await get(dt, `/api/devices/${other.json.id}`);
      assert.equal(peer.status, 200);
      assert.equal(peer.json.bearer_token, undefined, 'no token of another device leaks');
      const peers = await get(dt, `/api/vpcs/${alice.id}/devices`);
      assert.equal(peers.status, 200);
      assert.ok(
        peers.json.every(
          (x: { id: string; bearer_token?: string }) => x.id === mine.json.id || x.bearer_token === undefined,
        ),
      );
      assert.equal(
        (await send('PATCH', dt, `/api/devices/${mine.json.id}`, { hostname: 'renamed' })).json.hostname,
        'renamed',
      );
      assert.equal((await send('PATCH', dt, `/api/devices/${other.json.id}`, { hostname: 'x' })).status, 403);
      const sg = await send('POST', alice, '/api/security-groups', { vpc_id: alice.id });
      const ownSg = await send('PATCH', dt, `/api/devices/${mine.json.id}`, {
        security_group_id: sg.json.id,
      });
      assert.equal(ownSg.status, 403, 'a device cannot choose its own security group');
      assert.equal(
        (await send('PATCH', alice, `/api/devices/${mine.json.id}`, { security_group_id: sg.json.id })).json
          .security_group_id,
        sg.json.id,
      );
      assert.equal((await send('DELETE', dt, `/api/devices/${other.json.id}`)).status, 403);
      assert.equal((await get(dt, `/api/devices/${bobDev.json.id}`)).status, 404);
      assert.equal((await get(dt, `/api/vpcs/${bob.id}`)).status, 404);
      assert.equal((await register(dt)).status, 403);
      assert.equal((await send('POST', dt, '/api/reg-keys', { vpc_id: alice.id })).status, 403);
      const put = await send('PUT', dt, `/api/devices/${mine.json.id}/metadata/tcp`, { port: 80 });
      assert.equal(put.status, 200);
      assert.equal((await send('PUT', dt, `/api/devices/${other.json.id}/metadata/tcp`, 1)).status, 403);
      await send('DELETE', alice, `/api/devices/${mine.json.id}`);
      assert.equal(
        (await get(dt, `/api/devices/${mine.json.id}`)).status,
        401,
        'a deleted device token is dead',
      );
    });

    it('device metadata: put, get, list by key, vpc listing with key filter, delete, revisions grow', async () => {
      const d = await register(alice);
      const base = `/api/devices/${d.json.id}/metadata`;
      const b = await send('PUT', alice, `${base}/b-key`, { nexlink: { realm: 'r', services: [] } });
      assert.equal(b.status, 200, b.body);
      assert.deepEqual(b.json.value, { nexlink: { realm: 'r', services: [] } });
      const a = await send('PUT', alice, `${base}/a-key`, 'text');
      assert.ok(a.json.revision > b.json.revision);
      const b2 = await send('PUT', alice, `${base}/b-key`, [1, 2]);
      assert.ok(b2.json.revision > a.json.revision);
      assert.deepEqual((await get(alice, `${base}/b-key`)).json.value, [1, 2]);
      assert.deepEqual(
        (await get(alice, base)).json.map((m: { key: string }) => m.key),
        ['a-key', 'b-key'],
      );
      const vpcList = await get(alice, `/api/vpcs/${alice.id}/metadata?key=b-key`);
      assert.ok(vpcList.json.length >= 1);
      assert.ok(vpcList.json.every((m: { key: string }) => m.key === 'b-key'));
      const both = await get(alice, `/api/vpcs/${alice.id}/metadata?key=a-key&key=b-key`);
      assert.deepEqual(
        both.json
          .filter((m: { device_id: string }) => m.device_id === d.json.id)
          .map((m: { key: string }) => m.key),
        ['a-key', 'b-key'],
        'repeated key parameters select several keys, sorted by key',
      );
      const pre = await get(alice, `/api/vpcs/${alice.id}/metadata?prefix=a-`);
      assert.ok(pre.json.some((m: { device_id: string }) => m.device_id === d.json.id));
      assert.equal((await get(bob, `${base}/b-key`)).status, 404);
      assert.equal((await send('PUT', bob, `${base}/b-key`, 1)).status, 404);
      assert.equal((await send('DELETE', alice, `${base}/a-key`)).status, 200);
      assert.equal((await get(alice, `${base}/a-key`)).status, 404);
      assert.equal((await send('DELETE', alice, `${base}/a-key`)).status, 404);
      assert.equal(
        (
          await call(t.app, {
            method: 'PUT',
            url: `${base}/empty`,
            headers: { ...alice.headers, 'content-type': 'application/json' },
          })
        ).status,
        400,
      );
    });

    it('registration keys: register with one, single-use once, reusable many, expiry, VPC binding, delete', async () => {
      const single = await send('POST', alice, '/api/reg-keys', {
        vpc_id: alice.id,
        single_use: true,
        description: 'one',
      });
      assert.equal(single.status, 201, single.body);
      assert.match(single.json.bearer_token, /^nexrk_/);
      const rk = bearer(single.json.bearer_token);
      const d = await register(rk);
      assert.equal(d.status, 201, d.body);
      assert.equal(d.json.owner_id, alice.id);
      assert.equal(d.json.vpc_id, alice.id);
      assert.match(d.json.bearer_token, /^nexdt_/);
      const second = await register(rk);
      assert.equal(second.status, 401);
      assert.equal(second.json.code, 'NEX_ERR_REG_KEY_USED');
      assert.equal((await get(alice, `/api/reg-keys/${single.json.id}`)).json.device_id, d.json.id);
      // Two devices racing for one single-use key: exactly one wins, the other changes nothing.
      const race = await send('POST', alice, '/api/reg-keys', { vpc_id: alice.id, single_use: true });
      const rrk = bearer(race.json.bearer_token);
      const racers = await Promise.all([register(rrk), register(rrk), register(rrk)]);
      assert.deepEqual(racers.map((r) => r.status).sort(), [201, 401, 401]);
      const winner = racers.find((r) => r.status === 201)!;
      assert.equal((await get(alice, `/api/reg-keys/${race.json.id}`)).json.device_id, winner.json.id);
      const multi = await send('POST', alice, '/api/reg-keys', { vpc_id: alice.id });
      const mk = bearer(multi.json.bearer_token);
      assert.equal((await register(mk)).status, 201);
      assert.equal((await register(mk)).status, 201);
      assert.equal((await register(mk, { vpc_id: bob.id })).status, 403);
      assert.equal((await get(mk, `/api/vpcs/${alice.id}`)).status, 200);
      const expired = await send('POST', alice, '/api/reg-keys', {
        vpc_id: alice.id,
        expires_at: '2001-01-01T00:00:00Z',
      });
      assert.equal((await register(bearer(expired.json.bearer_token))).status, 401);
      assert.equal((await send('POST', bob, '/api/reg-keys', { vpc_id: alice.id })).status, 404);
      assert.equal((await get(bob, `/api/reg-keys/${multi.json.id}`)).status, 404);
      const list = await get(alice, '/api/reg-keys');
      assert.ok(list.json.some((k: { id: string }) => k.id === multi.json.id));
      assert.equal((await get(bob, '/api/reg-keys')).json.length, 0);
      assert.equal((await send('DELETE', alice, `/api/reg-keys/${multi.json.id}`)).status, 200);
      assert.equal((await register(mk)).status, 401);
    });

    it('security groups: CRUD, VPC listing, bad ranges 400, default undeletable, isolation', async () => {
      const rule = {
        ip_protocol: 'tcp',
        from_port: 80,
        to_port: 443,
        ip_ranges: ['10.0.0.0/8', '100.100.0.1-100.100.0.9'],
      };
      const c = await send('POST', alice, '/api/security-groups', {
        vpc_id: alice.id,
        description: 'web',
        inbound_rules: [rule],
      });
      assert.equal(c.status, 201, c.body);
      assert.deepEqual(c.json.inbound_rules, [rule]);
      // Empty rule lists are omitted, as the original's omitempty writes them.
      assert.equal('outbound_rules' in c.json, false);
      const bad = await send('POST', alice, '/api/security-groups', {
        vpc_id: alice.id,
        inbound_rules: [{ ip_protocol: 'tcp', ip_ranges: ['10.0.0.0/99'] }],
      });
      assert.equal(bad.status, 400);
      assert.equal(bad.json.field, 'inbound_rules[0].ip_ranges[0]');
      assert.equal(
        (
          await send('POST', alice, '/api/security-groups', {
            vpc_id: alice.id,
            inbound_rules: [{ ip_protocol: 'smtp' }],
          })
        ).status,
        400,
      );
      const u = await send('PATCH', alice, `/api/security-groups/${c.json.id}`, {
        outbound_rules: [{ ip_protocol: 'udp' }],
      });
      assert.equal(u.status, 200);
      assert.ok(u.json.revision > c.json.revision);
      assert.equal((await get(bob, `/api/security-groups/${c.json.id}`)).status, 404);
      assert.equal(
        (await send('PATCH', bob, `/api/security-groups/${c.json.id}`, { description: 'x' })).status,
        404,
      );
      const inVpc = await get(alice, `/api/vpcs/${alice.id}/security-groups`);
      assert.ok(inVpc.json.some((g: { id: string }) => g.id === c.json.id));
      assert.equal((await send('DELETE', alice, `/api/security-groups/${alice.id}`)).status, 400);
      assert.equal((await send('DELETE', alice, `/api/security-groups/${c.json.id}`)).status, 200);
      assert.equal((await get(alice, `/api/security-groups/${c.json.id}`)).status, 404);
    });

    it('bad input: malformed JSON, wrong types, huge bodies, bad keys and CIDRs get 4xx and change nothing', async () => {
      const n = await deviceCount();
      const raw = (payload: string, headers: Record<string, string> = {}) =>
        call(t.app, {
          method: 'POST',
          url: '/api/devices',
          headers: { ...alice.headers, 'content-type': 'application/json', ...headers },
          payload,
        });
      const malformed = await raw('{"public_key": ');
      assert.equal(malformed.status, 400);
      assert.equal(malformed.json.code, 'NEX_ERR_BAD_REQUEST');
      const wrongType = await register(alice, { hostname: 42 });
      assert.equal(wrongType.status, 400);
      assert.equal(wrongType.json.field, 'hostname');
      const wrongType2 = await register(alice, { endpoints: 'x' });
      assert.equal(wrongType2.json.field, 'endpoints');
      const badKey = await register(alice, { public_key: 'abc' });
      assert.equal(badKey.status, 400);
      assert.equal(badKey.json.field, 'public_key');
      const missing = await send('POST', alice, '/api/devices', { hostname: 'x' });
      assert.equal(missing.status, 400);
      assert.equal(missing.json.field, 'public_key');
      const badEndpoint = await register(alice, { endpoints: [{ source: 'local', address: 'no-port' }] });
      assert.equal(badEndpoint.status, 400);
      const badCidr = await register(alice, { advertise_cidrs: ['10.0.0.0/40'] });
      assert.equal(badCidr.status, 400);
      assert.equal(badCidr.json.field, 'advertise_cidrs[0]');
      const huge = await raw(JSON.stringify({ public_key: wgKey(), hostname: 'x'.repeat(2 * 1024 * 1024) }));
      assert.equal(huge.status, 413);
      const xml = await raw('<a/>', { 'content-type': 'application/xml' });
      assert.equal(xml.status, 415);
      assert.equal(xml.json.code, 'NEX_ERR_UNSUPPORTED_MEDIA_TYPE');
      const text = await raw('hello', { 'content-type': 'text/plain' });
      assert.equal(text.status, 400);
      const arr = await raw('[1,2,3]');
      assert.equal(arr.status, 400);
      assert.equal(await deviceCount(), n);
      const badVpc = await register(alice, { vpc_id: 'not-a-uuid' });
      assert.equal(badVpc.status, 400);
    });

    it('deleting a user deletes everything it owns (foreign keys cascade) and kills its tokens', async () => {
      const gone = await newUser(t);
      const d = await register(gone);
      assert.equal(d.status, 201);
      await send('PUT', gone, `/api/devices/${d.json.id}/metadata/k`, 1);
      assert.equal(await t.identity.deleteUser(gone.name), true);
      for (const table of ['organizations', 'vpcs', 'devices', 'security_groups'] as const) {
        const rows = await t.db
          .selectFrom(table)
          .select('owner_id')
          .where('owner_id', '=', gone.id)
          .execute();
        assert.equal(rows.length, 0, table);
      }
      assert.equal(
        (await t.db.selectFrom('ip_allocations').select('address').where('vpc_id', '=', gone.id).execute())
          .length,
        0,
      );
      assert.equal(
        (await t.db.selectFrom('device_metadata').select('key').where('device_id', '=', d.json.id).execute())
          .length,
        0,
      );
      assert.equal((await get(gone, '/api/users/me')).status, 401);
      assert.equal((await get(bearer(d.json.bearer_token), `/api/devices/${d.json.id}`)).status, 401);
    });

    it('serves the OpenAPI document and answers unknown routes with a typed 404', async () => {
      const doc = await get({}, '/openapi.json');
      assert.equal(doc.status, 200);
      assert.equal(doc.json.openapi, '3.0.3');
      assert.ok(doc.json.paths['/api/vpcs/{id}/events'].post);
      assert.ok(doc.json.components.schemas.Device.properties.ipv4_tunnel_ips);
      // A body-less operation accepts POST with Content-Type: application/json and an empty body.
      const empty = await call(t.app, {
        method: 'POST',
        url: '/device/login/start',
        headers: { 'content-type': 'application/json' },
        payload: '',
      });
      assert.equal(empty.status, 200, empty.body);
      assert.equal(empty.json.client_id, 'nexodus-cli');
      const nf = await get(alice, '/api/nope');
      assert.equal(nf.status, 404);
      assert.equal(nf.json.code, 'NEX_ERR_NOT_FOUND');
    });
  });
}
